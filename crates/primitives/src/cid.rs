//! Content identifiers: the key of every stored file, on chain and in the content layer.
//!
//! A thin newtype over the `cid` crate so the rest of the project has one CID type with one
//! canonical byte form (the binary CID, used in state keys and the codec) and one text form
//! (base58btc `Qm…` for v0, base32 `b…` for v1, as Kubo prints them).

use crate::codec::{Buf, BufMut, EncodeSize, Error as CodecError, RangeCfg, Read, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Longest binary CID accepted (version, codec, multihash code and length, digest). SHA-256 CIDs
/// are 34–36 bytes; the bound leaves room for 512-bit digests.
pub const MAX_CID_BYTES: usize = 96;

/// The dag-pb codec (UnixFS directories and chunked files).
pub const DAG_PB: u64 = 0x70;
/// The raw codec (file leaves).
pub const RAW: u64 = 0x55;
/// The sha2-256 multihash code.
pub const SHA2_256: u64 = 0x12;

/// A content identifier (CIDv0 or CIDv1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cid(cid::Cid);

/// Why a CID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidError {
    /// The text or bytes are not a valid CID.
    #[error("invalid CID: {0}")]
    Invalid(String),
    /// The binary form is longer than [`MAX_CID_BYTES`].
    #[error("CID is {len} bytes; the maximum is {max}")]
    TooLong {
        /// Length in bytes.
        len: usize,
        /// Maximum accepted.
        max: usize,
    },
}

impl Cid {
    /// A CIDv0 (dag-pb, sha2-256) for a 32-byte SHA-256 digest.
    pub fn v0_sha256(digest: [u8; 32]) -> Self {
        let mh = multihash::Multihash::<64>::wrap(SHA2_256, &digest)
            .expect("a 32-byte digest always fits a 64-byte multihash");
        Self(cid::Cid::new_v0(mh).expect("sha2-256 multihash is a valid CIDv0"))
    }

    /// A CIDv1 with `codec` for a 32-byte SHA-256 digest.
    pub fn v1_sha256(codec: u64, digest: [u8; 32]) -> Self {
        let mh = multihash::Multihash::<64>::wrap(SHA2_256, &digest)
            .expect("a 32-byte digest always fits a 64-byte multihash");
        Self(cid::Cid::new_v1(codec, mh))
    }

    /// Parses the binary form, requiring it to be canonical (re-encoding gives the same bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CidError> {
        if bytes.len() > MAX_CID_BYTES {
            return Err(CidError::TooLong {
                len: bytes.len(),
                max: MAX_CID_BYTES,
            });
        }
        let cid = cid::Cid::try_from(bytes).map_err(|e| CidError::Invalid(e.to_string()))?;
        if cid.to_bytes() != bytes {
            return Err(CidError::Invalid("non-canonical binary form".into()));
        }
        Ok(Self(cid))
    }

    /// The canonical binary form, used in state keys.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// The CID version (0 or 1).
    pub fn version(&self) -> u64 {
        self.0.version() as u64
    }

    /// The content codec (0x70 dag-pb, 0x55 raw, …).
    pub fn codec(&self) -> u64 {
        self.0.codec()
    }

    /// The multihash code and digest.
    pub fn hash(&self) -> (u64, &[u8]) {
        (self.0.hash().code(), self.0.hash().digest())
    }

    /// The underlying `cid` crate value, for the content layer.
    pub fn inner(&self) -> &cid::Cid {
        &self.0
    }
}

impl From<cid::Cid> for Cid {
    fn from(cid: cid::Cid) -> Self {
        Self(cid)
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", self.0)
    }
}

impl FromStr for Cid {
    type Err = CidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 2 * MAX_CID_BYTES {
            return Err(CidError::TooLong {
                len: s.len(),
                max: 2 * MAX_CID_BYTES,
            });
        }
        let cid = cid::Cid::try_from(s.trim()).map_err(|e| CidError::Invalid(e.to_string()))?;
        Self::from_bytes(&cid.to_bytes())
    }
}

impl Serialize for Cid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Write for Cid {
    fn write(&self, buf: &mut impl BufMut) {
        self.to_bytes().write(buf);
    }
}

impl EncodeSize for Cid {
    fn encode_size(&self) -> usize {
        self.to_bytes().encode_size()
    }
}

impl Read for Cid {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bytes = Vec::<u8>::read_cfg(buf, &(RangeCfg::from(..=MAX_CID_BYTES), ()))?;
        Self::from_bytes(&bytes).map_err(|_| CodecError::Invalid("Cid", "invalid CID bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    // The empty UnixFS directory, as printed by `ipfs object new unixfs-dir` (v0) and its v1 form.
    const EMPTY_DIR_V0: &str = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn";
    const EMPTY_DIR_V1: &str = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354";

    #[test]
    fn parses_and_prints_v0_and_v1() {
        let v0: Cid = EMPTY_DIR_V0.parse().expect("valid v0");
        assert_eq!(v0.version(), 0);
        assert_eq!(v0.codec(), DAG_PB);
        assert_eq!(v0.to_string(), EMPTY_DIR_V0);
        let v1: Cid = EMPTY_DIR_V1.parse().expect("valid v1");
        assert_eq!(v1.version(), 1);
        assert_eq!(v1.to_string(), EMPTY_DIR_V1);
        // Same digest, different version.
        assert_eq!(v0.hash(), v1.hash());
        assert_ne!(v0, v1);
        assert_eq!(
            Cid::v1_sha256(DAG_PB, v0.hash().1.try_into().expect("32 bytes")),
            v1
        );
    }

    #[test]
    fn codec_round_trips_and_rejects_garbage() {
        let v0: Cid = EMPTY_DIR_V0.parse().expect("valid v0");
        assert_eq!(decode::<Cid>(&encode(&v0)).ok(), Some(v0));
        assert!(decode::<Cid>(&encode(&vec![1u8, 2, 3])).is_err());
        assert!(decode::<Cid>(&encode(&vec![0u8; 200])).is_err());
        assert!(matches!(
            "not-a-cid".parse::<Cid>(),
            Err(CidError::Invalid(_))
        ));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let v0: Cid = EMPTY_DIR_V0.parse().expect("valid v0");
        let json = serde_json_like(&v0);
        assert_eq!(json, format!("\"{EMPTY_DIR_V0}\""));
    }

    fn serde_json_like(cid: &Cid) -> String {
        format!("\"{cid}\"")
    }
}
