//! The node's content-network identity: an ed25519 key persisted in the repository, and the
//! libp2p peer ID derived from it (`12D3Koo…`), as Kubo prints in `ipfs id`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The persisted node key.
pub struct NodeKey {
    signing: ed25519_dalek::SigningKey,
}

impl NodeKey {
    /// Loads `identity.key` from the repository, creating it (mode 0600) on first use.
    pub fn load_or_create(dir: &Path) -> io::Result<Self> {
        let path = dir.join("identity.key");
        match fs::read(&path) {
            Ok(bytes) => {
                let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "identity.key must hold 32 bytes",
                    )
                })?;
                Ok(Self {
                    signing: ed25519_dalek::SigningKey::from_bytes(&seed),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
                let tmp = dir.join("identity.key.tmp");
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(&seed)?;
                f.sync_all()?;
                fs::rename(&tmp, &path)?;
                Ok(Self {
                    signing: ed25519_dalek::SigningKey::from_bytes(&seed),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The 32-byte seed (for the libp2p host).
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The libp2p `PublicKey` protobuf: `{Type: Ed25519, Data: key}`.
    pub fn public_key_protobuf(&self) -> Vec<u8> {
        let mut out = vec![0x08, 0x01, 0x12, 0x20];
        out.extend_from_slice(self.signing.verifying_key().as_bytes());
        out
    }

    /// The peer ID: the identity multihash of the public key protobuf, base58btc.
    pub fn peer_id(&self) -> String {
        let key = self.public_key_protobuf();
        let mut mh = vec![0x00, key.len() as u8];
        mh.extend_from_slice(&key);
        bs58::encode(mh).into_string()
    }

    /// The public key protobuf, base64 (Kubo's `PublicKey` field).
    pub fn public_key_base64(&self) -> String {
        data_encoding::BASE64.encode(&self.public_key_protobuf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_has_the_ed25519_prefix_and_persists() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = NodeKey::load_or_create(dir.path()).expect("create");
        assert!(a.peer_id().starts_with("12D3KooW"), "{}", a.peer_id());
        let b = NodeKey::load_or_create(dir.path()).expect("load");
        assert_eq!(a.peer_id(), b.peer_id());
    }
}
