//! SRD: spare capacity filled with data only this enclave can produce (D26).
//!
//! The configured data paths are filled, keeping a reserve free, with units of
//! `leaves_per_unit` leaves of 1 MiB (1 GiB units by default). A leaf's bytes come from the
//! enclave's keyed PRG, so the enclave can re-derive and check any leaf without stored hashes;
//! the unit's Merkle root commits to them for the report and for challenges. Units are removed
//! when sealed files need the space and refilled when validation finds one damaged (D28).
//! A manifest per data path lists its units and roots; a unit file without a manifest entry is
//! an interrupted fill and is deleted on open.

use crate::enclave::{Enclave, SRD_LEAF_BYTES, SRD_UNIT_LEAVES};
use crust_primitives::merkle::{self, Hash, Proof};
use crust_runtime::swork;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How SRD is laid out.
#[derive(Clone, Debug)]
pub struct SrdConfig {
    /// Directories to fill (one per data disk).
    pub paths: Vec<PathBuf>,
    /// Bytes to leave free on each path's file system.
    pub reserve_bytes: u64,
    /// Leaves per unit (1024 = 1 GiB units; tests use fewer).
    pub leaves_per_unit: u32,
}

impl SrdConfig {
    /// One data path with a 10 GiB reserve and 1 GiB units.
    pub fn new(path: &Path) -> Self {
        Self {
            paths: vec![path.to_owned()],
            reserve_bytes: 10 << 30,
            leaves_per_unit: SRD_UNIT_LEAVES,
        }
    }

    fn unit_bytes(&self) -> u64 {
        u64::from(self.leaves_per_unit) * SRD_LEAF_BYTES as u64
    }
}

/// Why an SRD operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SrdError {
    /// Disk I/O failed.
    #[error("SRD I/O at {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: io::Error,
    },
    /// A manifest is unreadable.
    #[error("SRD manifest {0} is damaged")]
    Manifest(PathBuf),
    /// No such unit.
    #[error("no SRD unit {0}")]
    NoUnit(u64),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SrdError + '_ {
    move |source| SrdError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One filled unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Unit number (also its PRG index).
    pub id: u64,
    /// Index into the configured paths.
    pub path: usize,
    /// Merkle root over its leaves.
    pub root: Hash,
}

/// The SRD of one identity.
pub struct Srd {
    config: SrdConfig,
    enclave: Arc<dyn Enclave>,
    units: BTreeMap<u64, Unit>,
}

const MANIFEST: &str = "srd.json";

fn unit_file(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.srd"))
}

/// Free bytes on the file system holding `path` (what an unprivileged writer may use).
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl Srd {
    /// Opens the SRD on the configured paths, dropping units an interrupted fill left.
    pub fn open(config: SrdConfig, enclave: Arc<dyn Enclave>) -> Result<Self, SrdError> {
        let mut units = BTreeMap::new();
        for (i, dir) in config.paths.iter().enumerate() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            let manifest = dir.join(MANIFEST);
            let listed: Vec<Unit> = match fs::read(&manifest) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|_| SrdError::Manifest(manifest.clone()))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_err(&manifest)(e)),
            };
            for mut unit in listed {
                unit.path = i;
                units.insert(unit.id, unit);
            }
            for entry in fs::read_dir(dir).map_err(io_err(dir))? {
                let path = entry.map_err(io_err(dir))?.path();
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".srd").or(n.strip_suffix(".srd.tmp")))
                    .and_then(|n| n.parse::<u64>().ok());
                let listed_here = id.is_some_and(|id| units.get(&id).is_some_and(|u| u.path == i));
                let is_tmp = path.extension().is_some_and(|e| e == "tmp");
                if id.is_some() && (is_tmp || !listed_here) {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
        }
        Ok(Self {
            config,
            enclave,
            units,
        })
    }

    /// SRD bytes held.
    pub fn size(&self) -> u64 {
        self.units.len() as u64 * self.config.unit_bytes()
    }

    /// The SRD root reported on chain: a Merkle tree over the units by number, each leaf
    /// binding the unit's number, leaf count and root ([`swork::challenge::srd_leaf`]).
    pub fn root(&self) -> Hash {
        let leaves: Vec<Hash> = self
            .units
            .values()
            .map(|u| swork::challenge::srd_leaf(u.id, self.config.leaves_per_unit, &u.root))
            .collect();
        merkle::root(&leaves)
    }

    /// Leaves per unit.
    pub fn leaves_per_unit(&self) -> u32 {
        self.config.leaves_per_unit
    }

    /// The units, by number.
    pub fn units(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    fn dir(&self, path: usize) -> &Path {
        &self.config.paths[path]
    }

    fn save_manifest(&self, path: usize) -> Result<(), SrdError> {
        let dir = self.dir(path);
        let listed: Vec<&Unit> = self.units.values().filter(|u| u.path == path).collect();
        let json = serde_json::to_vec(&listed).map_err(|e| io_err(dir)(io::Error::other(e)))?;
        let tmp = dir.join("srd.json.tmp");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&json).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, dir.join(MANIFEST)).map_err(io_err(dir))
    }

    /// Writes one unit to `path` and commits it to the manifest.
    fn fill_unit(&mut self, path: usize, id: u64) -> Result<(), SrdError> {
        let file = unit_file(self.dir(path), id);
        let tmp = file.with_extension("srd.tmp");
        let mut out =
            io::BufWriter::with_capacity(4 << 20, File::create(&tmp).map_err(io_err(&tmp))?);
        let mut leaf = vec![0u8; SRD_LEAF_BYTES];
        let mut leaves = Vec::with_capacity(self.config.leaves_per_unit as usize);
        for l in 0..self.config.leaves_per_unit {
            self.enclave.srd_leaf(id, l, &mut leaf);
            out.write_all(&leaf).map_err(io_err(&tmp))?;
            leaves.push(merkle::block_leaf(&leaf));
        }
        out.into_inner()
            .map_err(|e| io_err(&tmp)(e.into_error()))?
            .sync_all()
            .map_err(io_err(&tmp))?;
        fs::rename(&tmp, &file).map_err(io_err(&file))?;
        self.units.insert(
            id,
            Unit {
                id,
                path,
                root: merkle::root(&leaves),
            },
        );
        self.save_manifest(path)
    }

    fn next_id(&self) -> u64 {
        self.units.keys().next_back().map_or(0, |id| id + 1)
    }

    /// Fills free space with new units, up to `max_units` (all that fits when `None`), keeping
    /// the reserve on every path. `progress` sees (units filled, bytes) after each unit.
    /// Returns the units added.
    pub fn fill(
        &mut self,
        max_units: Option<u64>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, SrdError> {
        let unit = self.config.unit_bytes();
        let mut added = 0;
        'paths: for path in 0..self.config.paths.len() {
            loop {
                if max_units.is_some_and(|m| added >= m) {
                    break 'paths;
                }
                let free = free_bytes(self.dir(path)).map_err(io_err(self.dir(path)))?;
                if free < self.config.reserve_bytes.saturating_add(unit) {
                    break;
                }
                let id = self.next_id();
                self.fill_unit(path, id)?;
                added += 1;
                progress(added, added * unit);
            }
        }
        Ok(added)
    }

    /// Removes units until at least `bytes` more are free for files (newest first). Returns
    /// the bytes released.
    pub fn shrink(&mut self, bytes: u64) -> Result<u64, SrdError> {
        let mut released = 0;
        while released < bytes {
            let Some((&id, _)) = self.units.iter().next_back() else {
                break;
            };
            self.remove_unit(id)?;
            released += self.config.unit_bytes();
        }
        Ok(released)
    }

    fn remove_unit(&mut self, id: u64) -> Result<(), SrdError> {
        let unit = self.units.remove(&id).ok_or(SrdError::NoUnit(id))?;
        self.save_manifest(unit.path)?;
        let file = unit_file(self.dir(unit.path), id);
        match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(&file)(e)),
            _ => Ok(()),
        }
    }

    fn read_leaf(&self, unit: &Unit, leaf: u32) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; SRD_LEAF_BYTES];
        File::open(unit_file(self.dir(unit.path), unit.id))?
            .read_exact_at(&mut buf, u64::from(leaf) * SRD_LEAF_BYTES as u64)?;
        Ok(buf)
    }

    /// Whether leaf `leaf` of unit `id` on disk is what the enclave derives.
    pub fn check_leaf(&self, id: u64, leaf: u32) -> Result<bool, SrdError> {
        let unit = self.units.get(&id).ok_or(SrdError::NoUnit(id))?;
        let mut expected = vec![0u8; SRD_LEAF_BYTES];
        self.enclave.srd_leaf(id, leaf, &mut expected);
        Ok(self.read_leaf(unit, leaf).is_ok_and(|got| got == expected))
    }

    /// Checks `samples` leaves chosen from `seed`; damaged units are removed and refilled in
    /// place (D28). Returns the numbers of the units that were repaired.
    pub fn validate(&mut self, seed: &[u8; 32], samples: u32) -> Result<Vec<u64>, SrdError> {
        let ids: Vec<u64> = self.units.keys().copied().collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut damaged = Vec::new();
        for n in 0..samples {
            let pick = crate::sample(seed, u64::from(n));
            let id = ids[(pick % ids.len() as u64) as usize];
            let leaf = ((pick >> 32) % u64::from(self.config.leaves_per_unit)) as u32;
            if !damaged.contains(&id) && !self.check_leaf(id, leaf)? {
                damaged.push(id);
            }
        }
        for &id in &damaged {
            let path = self.units[&id].path;
            self.remove_unit(id)?;
            self.fill_unit(path, id)?;
        }
        Ok(damaged)
    }

    /// A challenge answer for SRD: leaf `leaf` of unit `id` and its proof under the unit root.
    pub fn prove(&self, id: u64, leaf: u32) -> Result<(Vec<u8>, Proof), SrdError> {
        let unit = self.units.get(&id).ok_or(SrdError::NoUnit(id))?;
        let dir = self.dir(unit.path);
        let mut leaves = Vec::with_capacity(self.config.leaves_per_unit as usize);
        for l in 0..self.config.leaves_per_unit {
            leaves.push(merkle::block_leaf(
                &self.read_leaf(unit, l).map_err(io_err(dir))?,
            ));
        }
        let proof = merkle::prove(&leaves, leaf as usize).ok_or(SrdError::NoUnit(id))?;
        Ok((self.read_leaf(unit, leaf).map_err(io_err(dir))?, proof))
    }
}
