//! The local keystore: named accounts kept as secret URIs in `~/.crust/keys/<name>` (mode 0600),
//! so `--from alice-cold` works wherever a secret URI does. A plain secret URI (`//Alice`, a
//! phrase, `0x<seed>`) is still accepted everywhere.

use crust_primitives::Keypair;
use std::path::PathBuf;

/// The keystore directory: `$CRUST_KEYS`, else `~/.crust/keys`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CRUST_KEYS") {
        return d.into();
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".crust")
        .join("keys")
}

fn valid_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}': key names are 1–64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// The signing key for `--from`: a stored key's name, or a secret URI.
pub fn signer(from: &str) -> Result<Keypair, String> {
    if valid_name(from).is_ok() {
        let path = dir().join(from);
        if let Ok(suri) = std::fs::read_to_string(&path) {
            return Keypair::from_suri(suri.trim())
                .map_err(|e| format!("key '{from}' ({}): {e}", path.display()));
        }
    }
    Keypair::from_suri(from).map_err(|e| {
        format!("'{from}' is neither a stored key (see `crust key list`) nor a secret URI: {e}")
    })
}

/// An account given as SS58, 0x-hex, a secret URI or a stored key's name.
pub fn account(text: &str) -> Result<crust_primitives::AccountId, String> {
    match crust_chain::spec::parse_account(text) {
        Ok(a) => Ok(a),
        Err(e) => signer(text)
            .map(|k| k.public())
            .map_err(|_| format!("{text}: {e}")),
    }
}

/// Stores `suri` under `name`; refuses to overwrite.
pub fn import(name: &str, suri: &str) -> Result<Keypair, String> {
    valid_name(name)?;
    let pair = Keypair::from_suri(suri.trim()).map_err(|e| format!("secret: {e}"))?;
    let dir = dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!("a key named '{name}' already exists"),
        _ => format!("{}: {e}", path.display()),
    })?;
    std::io::Write::write_all(&mut file, format!("{}\n", suri.trim()).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(pair)
}

/// A stored key's name and its key pair (or why it cannot be read).
pub type StoredKey = (String, Result<Keypair, String>);

/// Every stored key's name and account.
pub fn list() -> Result<Vec<StoredKey>, String> {
    let dir = dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if valid_name(&name).is_err() {
            continue;
        }
        keys.push((name.clone(), signer(&name)));
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keys)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_checked() {
        assert!(super::valid_name("alice-cold_1.2").is_ok());
        for bad in ["", "../etc", ".hidden", "a/b", "//Alice"] {
            assert!(super::valid_name(bad).is_err(), "{bad}");
        }
    }
}
