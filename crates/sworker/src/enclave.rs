//! The enclave boundary: everything the chain has to trust about a storage node.
//!
//! The rest of the worker only sees the [`Enclave`] trait. It holds the identity key (whose
//! registration the chain checks against an attestation), derives the per-replica sealing
//! keys (D25) and the SRD leaves (D26), and signs work reports. [`SoftwareEnclave`] runs
//! in-process with its secrets encrypted at rest under a key derived from a node secret and
//! attests through the chain's dev authority verifier (D17a); a TEE back-end implements the
//! same trait.

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use crust_primitives::{AccountId, Cid, Keypair, Signature};
use crust_runtime::swork::{self, Attestation, CodeMeasurement, EnclaveKey, WorkReport};
use hkdf::Hkdf;
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// Bytes in one SRD leaf.
pub const SRD_LEAF_BYTES: usize = 1024 * 1024;
/// Leaves in one SRD unit (1 GiB).
pub const SRD_UNIT_LEAVES: u32 = 1024;
/// AEAD tag bytes added to every sealed block.
pub const SEAL_OVERHEAD: usize = 16;

/// Why an enclave operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// A sealed block failed authentication: it was altered, or sealed for another
    /// identity, CID or position.
    #[error("sealed block {index} of {cid} failed authentication")]
    Tampered {
        /// The file.
        cid: Cid,
        /// The block's position.
        index: u64,
    },
    /// The at-rest secrets could not be read or written.
    #[error("enclave state {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The enclave cannot attest (no authority keys configured, for a software enclave).
    #[error("cannot attest: {0}")]
    Attestation(String),
}

/// What a storage node's trusted component does.
pub trait Enclave: Send + Sync {
    /// The identity (enclave) public key the chain registers.
    fn public_key(&self) -> EnclaveKey;
    /// The code measurement the chain's allowlist must contain.
    fn code(&self) -> CodeMeasurement;
    /// The enclave's signature over the registration payload for `applier`, and the
    /// attestation that vouches for the key.
    fn attest(&self, applier: &AccountId) -> Result<(Signature, Attestation), EnclaveError>;
    /// Signs a work report (over `swork::report_payload`).
    fn sign_report(&self, report: &WorkReport) -> Signature;
    /// Seals block `index` of file `cid` for this identity (D25).
    fn seal(&self, cid: &Cid, index: u64, plain: &[u8]) -> Vec<u8>;
    /// Reverses [`Enclave::seal`], failing on any alteration.
    fn unseal(&self, cid: &Cid, index: u64, sealed: &[u8]) -> Result<Vec<u8>, EnclaveError>;
    /// Fills `out` (of [`SRD_LEAF_BYTES`]) with leaf `leaf` of SRD unit `unit` (D26).
    fn srd_leaf(&self, unit: u64, leaf: u32, out: &mut [u8]);
}

/// An in-process enclave for development and tests.
pub struct SoftwareEnclave {
    identity: Keypair,
    seal_secret: [u8; 32],
    srd_secret: [u8; 32],
    code: CodeMeasurement,
    authorities: Vec<Keypair>,
}

/// The code measurement a software enclave reports: SHA-256 of this crate's name and version,
/// so a devnet allowlists exactly the build it runs.
pub fn software_code_measurement() -> CodeMeasurement {
    use sha2::Digest;
    Sha256::digest(concat!(
        "crust-sworker/software-enclave/",
        env!("CARGO_PKG_VERSION")
    ))
    .into()
}

fn derive(secret: &[u8; 32], label: &[u8], info: &[u8]) -> [u8; 32] {
    let hk = Hkdf::<Sha256>::new(Some(label), secret);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte output limit.
    hk.expand(info, &mut out)
        .unwrap_or_else(|_| unreachable!("32-byte HKDF output"));
    out
}

const AT_REST_FILE: &str = "enclave.sealed";
const AT_REST_LABEL: &[u8] = b"crust/enclave/at-rest/v1";

impl SoftwareEnclave {
    /// Opens the enclave state in `dir` (creating a new identity on first use), decrypting it
    /// with a key derived from `node_secret`. `authorities` are the dev attestation keys it
    /// signs registrations with (a devnet's configured authority set).
    pub fn open(
        dir: &Path,
        node_secret: &[u8; 32],
        authorities: Vec<Keypair>,
    ) -> Result<Self, EnclaveError> {
        let path = dir.join(AT_REST_FILE);
        let state_err = |reason: String| EnclaveError::State {
            path: path.clone(),
            reason,
        };
        let cipher = ChaCha20Poly1305::new(&derive(node_secret, AT_REST_LABEL, b"").into());
        let nonce = Nonce::from([0u8; 12]);
        let seed: [u8; 32] = match std::fs::read(&path) {
            Ok(sealed) => cipher
                .decrypt(&nonce, sealed.as_slice())
                .map_err(|_| {
                    state_err("cannot decrypt: wrong node secret or a damaged file".into())
                })?
                .try_into()
                .map_err(|_| state_err("wrong length".into()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| state_err(e.to_string()))?;
                // One file, written once: a fresh identity is encrypted under a key unique to
                // this node secret, so the fixed nonce is never reused with another plaintext.
                let sealed = cipher
                    .encrypt(&nonce, seed.as_slice())
                    .map_err(|_| state_err("encryption failed".into()))?;
                std::fs::create_dir_all(dir).map_err(|e| state_err(e.to_string()))?;
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, sealed).map_err(|e| state_err(e.to_string()))?;
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| state_err(e.to_string()))?;
                std::fs::rename(&tmp, &path).map_err(|e| state_err(e.to_string()))?;
                seed
            }
            Err(e) => return Err(state_err(e.to_string())),
        };
        Ok(Self::from_seed(&seed, authorities))
    }

    /// An enclave with a fixed identity seed (tests and simulations).
    pub fn from_seed(seed: &[u8; 32], authorities: Vec<Keypair>) -> Self {
        Self {
            identity: Keypair::from_seed(&derive(seed, b"crust/enclave/identity/v1", b"")),
            seal_secret: derive(seed, b"crust/enclave/seal/v1", b""),
            srd_secret: derive(seed, b"crust/enclave/srd/v1", b""),
            code: software_code_measurement(),
            authorities,
        }
    }

    fn seal_cipher(&self, cid: &Cid, index: u64) -> ChaCha20Poly1305 {
        let mut info = cid.to_bytes();
        info.extend_from_slice(&index.to_be_bytes());
        ChaCha20Poly1305::new(&derive(&self.seal_secret, b"crust/seal/v1", &info).into())
    }
}

impl Enclave for SoftwareEnclave {
    fn public_key(&self) -> EnclaveKey {
        self.identity.public().0
    }

    fn code(&self) -> CodeMeasurement {
        self.code
    }

    fn attest(&self, applier: &AccountId) -> Result<(Signature, Attestation), EnclaveError> {
        if self.authorities.is_empty() {
            return Err(EnclaveError::Attestation(
                "a software enclave needs the dev attestation authority keys".into(),
            ));
        }
        let payload = swork::registration_payload(&self.code, applier, &self.public_key());
        let signatures = self
            .authorities
            .iter()
            .map(|a| (a.public(), a.sign(&payload)))
            .collect();
        Ok((
            self.identity.sign(&payload),
            Attestation::Authorities { signatures },
        ))
    }

    fn sign_report(&self, report: &WorkReport) -> Signature {
        self.identity.sign(&swork::report_payload(report))
    }

    fn seal(&self, cid: &Cid, index: u64, plain: &[u8]) -> Vec<u8> {
        // The key is unique to (identity, file, position) and the position's content is fixed
        // by the CID, so the zero nonce never encrypts two different plaintexts.
        self.seal_cipher(cid, index)
            .encrypt(&Nonce::from([0u8; 12]), plain)
            .unwrap_or_else(|_| unreachable!("ChaCha20-Poly1305 encrypts any block size"))
    }

    fn unseal(&self, cid: &Cid, index: u64, sealed: &[u8]) -> Result<Vec<u8>, EnclaveError> {
        self.seal_cipher(cid, index)
            .decrypt(&Nonce::from([0u8; 12]), sealed)
            .map_err(|_| EnclaveError::Tampered { cid: *cid, index })
    }

    fn srd_leaf(&self, unit: u64, leaf: u32, out: &mut [u8]) {
        let mut info = unit.to_be_bytes().to_vec();
        info.extend_from_slice(&leaf.to_be_bytes());
        let key = derive(&self.srd_secret, b"crust/srd/v1", &info);
        out.fill(0);
        chacha20::ChaCha20::new(&key.into(), &[0u8; 12].into()).apply_keystream(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid() -> Cid {
        crust_ipfs::Block::raw(b"file".to_vec()).cid
    }

    #[test]
    fn sealing_round_trips_and_differs_per_identity_and_position() {
        let a = SoftwareEnclave::from_seed(&[1; 32], vec![]);
        let b = SoftwareEnclave::from_seed(&[2; 32], vec![]);
        let plain = vec![7u8; 256 * 1024];
        let sealed = a.seal(&cid(), 0, &plain);
        assert_eq!(sealed.len(), plain.len() + SEAL_OVERHEAD);
        assert_eq!(a.unseal(&cid(), 0, &sealed).expect("unseal"), plain);
        // Another identity's replica of the same block is different bytes.
        assert_ne!(b.seal(&cid(), 0, &plain), sealed);
        // Moving a sealed block to another position or identity, or flipping a bit, fails.
        assert!(a.unseal(&cid(), 1, &sealed).is_err());
        assert!(b.unseal(&cid(), 0, &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[1000] ^= 1;
        assert!(matches!(
            a.unseal(&cid(), 0, &flipped),
            Err(EnclaveError::Tampered { index: 0, .. })
        ));
        // Sealing is deterministic, so a lost block re-seals to the same bytes (D28).
        assert_eq!(a.seal(&cid(), 0, &plain), sealed);
    }

    #[test]
    fn srd_leaves_are_rederivable_and_distinct() {
        let e = SoftwareEnclave::from_seed(&[3; 32], vec![]);
        let mut x = vec![0u8; SRD_LEAF_BYTES];
        let mut y = vec![0u8; SRD_LEAF_BYTES];
        e.srd_leaf(5, 9, &mut x);
        e.srd_leaf(5, 9, &mut y);
        assert_eq!(x, y);
        e.srd_leaf(5, 10, &mut y);
        assert_ne!(x, y);
        let other = SoftwareEnclave::from_seed(&[4; 32], vec![]);
        other.srd_leaf(5, 9, &mut y);
        assert_ne!(x, y);
        // Keystream output: no long runs of zeros.
        assert!(x.chunks(32).all(|c| c.iter().any(|b| *b != 0)));
    }

    #[test]
    fn at_rest_state_keeps_the_identity_and_needs_the_node_secret() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = SoftwareEnclave::open(dir.path(), &[9; 32], vec![]).expect("create");
        let again = SoftwareEnclave::open(dir.path(), &[9; 32], vec![]).expect("reopen");
        assert_eq!(first.public_key(), again.public_key());
        let raw = std::fs::read(dir.path().join(AT_REST_FILE)).expect("state file");
        assert_eq!(
            raw.len(),
            32 + SEAL_OVERHEAD,
            "only the encrypted seed is stored"
        );
        assert!(matches!(
            SoftwareEnclave::open(dir.path(), &[8; 32], vec![]),
            Err(EnclaveError::State { .. })
        ));
        assert!(matches!(
            first.attest(&AccountId([1; 32])),
            Err(EnclaveError::Attestation(_))
        ));
    }
}
