//! TAR archives of UnixFS DAGs: what `ipfs get` returns over the RPC API.
//!
//! POSIX ustar with a PAX `path` record for names longer than ustar allows. Files stream from
//! the blockstore chunk by chunk.

use crate::blockstore::Blockstore;
use crate::exporter::{self, ExportError, Kind, RangeReader};
use crust_primitives::Cid;
use std::io::{self, Write};

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// Reading the DAG failed.
    #[error(transparent)]
    Export(Box<ExportError>),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// An entry name would place a file outside the archive's root directory.
    #[error("entry {0:?} escapes the archive root")]
    Escape(String),
}

impl From<ExportError> for TarError {
    fn from(e: ExportError) -> Self {
        Self::Export(Box::new(e))
    }
}

fn header(out: &mut impl Write, name: &str, size: u64, kind: u8, mode: u32) -> io::Result<()> {
    let mut h = [0u8; 512];
    let short = name.len() <= 100;
    if !short {
        // PAX extended header carrying the full path.
        let record = pax_record("path", name);
        header(out, "././@PaxHeader", record.len() as u64, b'x', 0o644)?;
        out.write_all(&record)?;
        out.write_all(&vec![0u8; padding(record.len() as u64)])?;
    }
    let stored = if short {
        name
    } else {
        &name[name.len() - name.len().min(100)..]
    };
    h[..stored.len()].copy_from_slice(stored.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    out.write_all(&h)
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}", width = field.len() - 1);
    let digits = &digits.as_bytes()[digits.len() - (field.len() - 1)..];
    field[..digits.len()].copy_from_slice(digits);
    field[field.len() - 1] = 0;
}

fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// Writes the DAG at `cid` as a tar archive whose top entry is `name`.
pub fn write_archive(
    store: &dyn Blockstore,
    cid: Cid,
    name: &str,
    out: &mut impl Write,
) -> Result<(), TarError> {
    write_entry(store, cid, name, name, out)?;
    out.write_all(&[0u8; 1024])?;
    Ok(())
}

/// Joins `name` under `parent`, resolving `.` and `..`; fails if the result leaves `root`.
fn join_inside(root: &str, parent: &str, name: &str) -> Result<String, TarError> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in parent.split('/').chain(name.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if joined.len() <= root.len()
        || !joined.starts_with(root)
        || !joined[root.len()..].starts_with('/')
    {
        return Err(TarError::Escape(format!("{parent}/{name}")));
    }
    Ok(joined)
}

fn write_entry(
    store: &dyn Blockstore,
    cid: Cid,
    root: &str,
    name: &str,
    out: &mut impl Write,
) -> Result<(), TarError> {
    match exporter::kind(store, &cid)? {
        Kind::File { size } => {
            header(out, name, size, b'0', 0o644)?;
            for chunk in RangeReader::new(store, cid, 0, size) {
                out.write_all(&chunk?)?;
            }
            out.write_all(&vec![0u8; padding(size)])?;
        }
        Kind::Directory { .. } => {
            header(out, name, 0, b'5', 0o755)?;
            for entry in exporter::list(store, &cid, &mut Vec::new())? {
                // A hostile DAG must never place files outside the archive root.
                let path = join_inside(root, name, &entry.name)?;
                write_entry(store, entry.cid, root, &path, out)?;
            }
        }
        Kind::Symlink { target } => {
            let mut h = Vec::new();
            header(&mut h, name, 0, b'2', 0o777)?;
            let t = target.as_bytes();
            let n = t.len().min(100);
            h[157..157 + n].copy_from_slice(&t[..n]);
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h[..512].iter().map(|b| u32::from(*b)).sum();
            octal(&mut h[148..155], u64::from(sum));
            out.write_all(&h)?;
        }
        Kind::Other { .. } => {
            let data = store
                .get(&cid)
                .map_err(ExportError::from)?
                .ok_or(ExportError::Missing(cid))?;
            header(out, name, data.len() as u64, b'0', 0o644)?;
            out.write_all(&data)?;
            out.write_all(&vec![0u8; padding(data.len() as u64)])?;
        }
    }
    Ok(())
}

/// Checks, without reading file contents, that every entry of the tree stays inside the
/// archive root, so a gateway can refuse before it starts streaming.
pub fn check_paths(store: &dyn Blockstore, cid: Cid, name: &str) -> Result<(), TarError> {
    check_dir(store, cid, name, name)
}

fn check_dir(store: &dyn Blockstore, cid: Cid, root: &str, name: &str) -> Result<(), TarError> {
    if let Kind::Directory { .. } = exporter::kind(store, &cid)? {
        for entry in exporter::list(store, &cid, &mut Vec::new())? {
            let path = join_inside(root, name, &entry.name)?;
            check_dir(store, entry.cid, root, &path)?;
        }
    }
    Ok(())
}
