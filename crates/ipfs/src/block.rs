//! Blocks: bytes together with the CID that names them, and the rules tying the two.

use blake2::Blake2b;
use bytes::Bytes;
use crust_primitives::Cid;
use crust_primitives::cid::{DAG_PB, RAW, SHA2_256};
use sha2::{Digest, Sha256, Sha512};

/// The identity multihash code: the "digest" is the content itself.
pub const IDENTITY: u64 = 0x00;
/// The sha2-512 multihash code.
pub const SHA2_512: u64 = 0x13;
/// The blake2b-256 multihash code.
pub const BLAKE2B_256: u64 = 0xb220;
/// The dag-cbor codec.
pub const DAG_CBOR: u64 = 0x71;
/// The dag-json codec.
pub const DAG_JSON: u64 = 0x0129;
/// Largest identity-hashed payload we accept inline in a CID (Kubo's `--inline-limit` maximum).
pub const MAX_IDENTITY_BYTES: usize = 64;

/// A block and its CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The name.
    pub cid: Cid,
    /// The content.
    pub data: Bytes,
}

/// Why bytes do not match a CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The multihash function is not one we can check.
    #[error("unsupported multihash function 0x{code:x} in {cid}")]
    UnsupportedHash {
        /// The CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// The content hashes to something else.
    #[error("block content does not match {cid}")]
    HashMismatch {
        /// The CID the bytes claimed to be.
        cid: Cid,
    },
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The CID of `data` under `codec`, CIDv0 when asked for and allowed (dag-pb only).
pub fn cid_of(codec: u64, data: &[u8], version: u8) -> Cid {
    let digest = sha256(data);
    if version == 0 && codec == DAG_PB {
        Cid::v0_sha256(digest)
    } else {
        Cid::v1_sha256(codec, digest)
    }
}

impl Block {
    /// A dag-pb block named with the given CID version.
    pub fn dag_pb(data: Vec<u8>, version: u8) -> Self {
        Self {
            cid: cid_of(DAG_PB, &data, version),
            data: data.into(),
        }
    }

    /// A raw block (always CIDv1).
    pub fn raw(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Self {
            cid: cid_of(RAW, &data, 1),
            data,
        }
    }

    /// Pairs `data` with `cid` after checking the hash.
    pub fn verified(cid: Cid, data: Bytes) -> Result<Self, BlockError> {
        verify(&cid, &data)?;
        Ok(Self { cid, data })
    }
}

/// The digest of `data` under multihash function `code`, for the functions blocks may use
/// (not identity, whose "digest" is the data).
pub fn digest(code: u64, data: &[u8]) -> Option<Vec<u8>> {
    Some(match code {
        SHA2_256 => sha256(data).to_vec(),
        SHA2_512 => Sha512::digest(data).to_vec(),
        BLAKE2B_256 => Blake2b::<blake2::digest::consts::U32>::digest(data).to_vec(),
        _ => return None,
    })
}

/// Checks that `data` is the content `cid` names.
pub fn verify(cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
    let (code, digest) = cid.hash();
    let ok = match code {
        SHA2_256 => digest == sha256(data),
        SHA2_512 => digest == Sha512::digest(data).as_slice(),
        BLAKE2B_256 => digest == Blake2b::<blake2::digest::consts::U32>::digest(data).as_slice(),
        IDENTITY => digest == data,
        _ => return Err(BlockError::UnsupportedHash { cid: *cid, code }),
    };
    if ok {
        Ok(())
    } else {
        Err(BlockError::HashMismatch { cid: *cid })
    }
}

/// The content of an identity CID, if it is one.
pub fn identity_data(cid: &Cid) -> Option<&[u8]> {
    let (code, digest) = cid.hash();
    (code == IDENTITY).then_some(digest)
}

/// The multihash bytes of a CID: the blockstore key (v0 and v1 of one content share a block).
pub fn multihash_key(cid: &Cid) -> Vec<u8> {
    cid.inner().hash().to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_raw_block_is_the_published_cid() {
        assert_eq!(
            Block::raw(Vec::new()).cid.to_string(),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
    }

    #[test]
    fn verify_catches_a_flipped_byte() {
        let b = Block::raw(b"hello world".to_vec());
        assert!(verify(&b.cid, b"hello world").is_ok());
        assert_eq!(
            verify(&b.cid, b"hello worle"),
            Err(BlockError::HashMismatch { cid: b.cid })
        );
    }

    #[test]
    fn identity_probe_cid_is_empty() {
        let probe: Cid = "bafkqaaa".parse().expect("identity cid");
        assert_eq!(identity_data(&probe), Some(&[][..]));
        assert!(verify(&probe, b"").is_ok());
    }
}
