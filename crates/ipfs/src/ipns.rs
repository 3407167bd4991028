//! IPNS: mutable names whose records point at `/ipfs/…` paths (ipfs/specs `ipns/ipns-record.md`).
//!
//! A name is the multihash of a libp2p public key, written as a peer ID (`12D3Koo…`, `Qm…`) or
//! canonically as a CIDv1 with the `libp2p-key` codec in base36 (`k51…`). A record is accepted
//! only with a valid V2 signature over its dag-cbor `data` by that key, V1 fields (if any)
//! agreeing with `data`, and an unexpired validity. Records are stored one file per name under
//! `<repo>/ipns/`; this node has no DHT yet, so records arrive through `routing put`.
//! Ed25519 keys are supported; RSA/secp256k1/ECDSA-keyed names are refused with a clear error.

use crate::links::cbor_head;
use crate::pb::{self, Value};
use crust_primitives::Cid;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The `libp2p-key` multicodec.
pub const LIBP2P_KEY: u64 = 0x72;
/// Largest record accepted (the spec's limit).
pub const MAX_RECORD_BYTES: usize = 10 * 1024;

/// Why a name or record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpnsError {
    /// Not a peer ID or libp2p-key CID.
    #[error("{0:?} is not an IPNS name (peer ID or libp2p-key CID)")]
    BadName(String),
    /// The record is malformed.
    #[error("invalid IPNS record: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("IPNS record signature does not verify for this name")]
    BadSignature,
    /// The key type is not supported here.
    #[error("IPNS names with {0} keys are not supported yet (only Ed25519)")]
    UnsupportedKey(&'static str),
    /// The record has expired.
    #[error("IPNS record expired at {0}")]
    Expired(String),
    /// No record is known for the name.
    #[error("no IPNS record for {0}")]
    NotFound(String),
    /// Reading or writing the record store failed.
    #[error("IPNS record store: {0}")]
    Io(String),
}

/// A parsed IPNS name: the key multihash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    multihash: Vec<u8>,
}

impl Name {
    /// Parses a peer ID or a libp2p-key CID.
    pub fn parse(text: &str) -> Result<Self, IpnsError> {
        let bad = || IpnsError::BadName(text.to_owned());
        if let Ok(cid) = text.parse::<Cid>() {
            // `Qm…` peer IDs (sha2-256 of an RSA key) read as CIDv0 too.
            if cid.codec() != LIBP2P_KEY && cid.version() != 0 {
                return Err(bad());
            }
            return Ok(Self {
                multihash: cid.inner().hash().to_bytes(),
            });
        }
        let bytes = bs58::decode(text).into_vec().map_err(|_| bad())?;
        // A peer ID is a bare multihash (identity or sha2-256).
        let (code, used) = pb::read_varint(&bytes).map_err(|_| bad())?;
        let (len, used2) = pb::read_varint(&bytes[used..]).map_err(|_| bad())?;
        if (code != 0x00 && code != 0x12) || bytes.len() != used + used2 + len as usize {
            return Err(bad());
        }
        Ok(Self { multihash: bytes })
    }

    /// The canonical text form: CIDv1 libp2p-key in base36.
    pub fn canonical(&self) -> String {
        let mh = cid::multihash::Multihash::<64>::from_bytes(&self.multihash);
        match mh {
            Ok(mh) => cid::Cid::new_v1(LIBP2P_KEY, mh)
                .to_string_of_base(cid::multibase::Base::Base36Lower)
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The public key protobuf, when the name inlines it (identity multihash).
    fn inline_key(&self) -> Option<&[u8]> {
        (self.multihash.first() == Some(&0x00)).then(|| {
            let (len, used) = pb::read_varint(&self.multihash[1..]).ok()?;
            self.multihash.get(1 + used..1 + used + len as usize)
        })?
    }
}

/// The fields of a verified record that matter to resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The target path (`/ipfs/<cid>[/…]`).
    pub value: String,
    /// Sequence number (higher wins).
    pub sequence: u64,
    /// Cache TTL in seconds.
    pub ttl_seconds: u64,
    /// Expiry (RFC 3339).
    pub validity: String,
}

struct Fields<'a> {
    value_v1: Option<&'a [u8]>,
    validity_v1: Option<&'a [u8]>,
    sequence_v1: Option<u64>,
    pub_key: Option<&'a [u8]>,
    signature_v2: Option<&'a [u8]>,
    data: Option<&'a [u8]>,
}

fn fields(bytes: &[u8]) -> Result<Fields<'_>, IpnsError> {
    let mut f = Fields {
        value_v1: None,
        validity_v1: None,
        sequence_v1: None,
        pub_key: None,
        signature_v2: None,
        data: None,
    };
    let mut reader = pb::Reader::new(bytes);
    while let Some((field, value)) = reader
        .next_field()
        .map_err(|e| IpnsError::Malformed(e.to_string()))?
    {
        match (field, value) {
            (1, Value::Bytes(b)) => f.value_v1 = Some(b),
            (4, Value::Bytes(b)) => f.validity_v1 = Some(b),
            (5, Value::Varint(v)) => f.sequence_v1 = Some(v),
            (7, Value::Bytes(b)) => f.pub_key = Some(b),
            (8, Value::Bytes(b)) => f.signature_v2 = Some(b),
            (9, Value::Bytes(b)) => f.data = Some(b),
            _ => {}
        }
    }
    Ok(f)
}

/// The dag-cbor `data` map: Value, Validity (bytes), ValidityType, Sequence, TTL (ints).
/// The signed fields of a record.
struct SignedData {
    value: Vec<u8>,
    validity: Vec<u8>,
    sequence: u64,
    ttl_ns: u64,
}

fn data_map(data: &[u8]) -> Result<SignedData, IpnsError> {
    let bad = |m: &str| IpnsError::Malformed(format!("data: {m}"));
    let mut pos = 0;
    let (major, entries) = cbor_head(data, &mut pos).map_err(bad)?;
    if major != 5 || entries > 16 {
        return Err(bad("not a small map"));
    }
    let (mut value, mut validity, mut validity_type, mut sequence, mut ttl) =
        (None, None, None, 0, 0);
    for _ in 0..entries {
        let (m, n) = cbor_head(data, &mut pos).map_err(bad)?;
        let key = crate::links::cbor_take(data, &mut pos, n)
            .filter(|_| m == 3)
            .ok_or_else(|| bad("key"))?
            .to_vec();
        let (m, n) = cbor_head(data, &mut pos).map_err(bad)?;
        match m {
            0 => match key.as_slice() {
                b"ValidityType" => validity_type = Some(n),
                b"Sequence" => sequence = n,
                b"TTL" => ttl = n,
                _ => {}
            },
            2 | 3 => {
                let bytes = crate::links::cbor_take(data, &mut pos, n)
                    .ok_or_else(|| bad("truncated"))?
                    .to_vec();
                match key.as_slice() {
                    b"Value" => value = Some(bytes),
                    b"Validity" => validity = Some(bytes),
                    _ => {}
                }
            }
            _ => return Err(bad("unexpected value type")),
        }
    }
    if validity_type != Some(0) {
        return Err(bad("ValidityType must be 0 (EOL)"));
    }
    Ok(SignedData {
        value: value.ok_or_else(|| bad("no Value"))?,
        validity: validity.ok_or_else(|| bad("no Validity"))?,
        sequence,
        ttl_ns: ttl,
    })
}

/// Verifies `bytes` as the record of `name` at `now_unix` seconds.
pub fn verify(name: &Name, bytes: &[u8], now_unix: i64) -> Result<Record, IpnsError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(IpnsError::Malformed(format!(
            "{} bytes; the limit is {MAX_RECORD_BYTES}",
            bytes.len()
        )));
    }
    let f = fields(bytes)?;
    let (Some(sig), Some(data)) = (f.signature_v2, f.data) else {
        return Err(IpnsError::Malformed(
            "no V2 signature and data (V1-only records are not accepted)".into(),
        ));
    };
    let key = match (name.inline_key(), f.pub_key) {
        (Some(k), _) => k.to_vec(),
        (None, Some(k)) => {
            let digest = crate::block::sha256(k);
            if name.multihash.get(2..) != Some(&digest[..]) {
                return Err(IpnsError::BadSignature);
            }
            k.to_vec()
        }
        (None, None) => {
            return Err(IpnsError::Malformed(
                "the name's key is not in the record".into(),
            ));
        }
    };
    // libp2p PublicKey protobuf: Type (1), Data (2).
    let mut key_type = None;
    let mut key_data = None;
    let mut reader = pb::Reader::new(&key);
    while let Some((field, value)) = reader
        .next_field()
        .map_err(|e| IpnsError::Malformed(e.to_string()))?
    {
        match (field, value) {
            (1, Value::Varint(t)) => key_type = Some(t),
            (2, Value::Bytes(d)) => key_data = Some(d),
            _ => {}
        }
    }
    match key_type {
        Some(1) => {
            let key: [u8; 32] = key_data
                .and_then(|d| d.try_into().ok())
                .ok_or(IpnsError::BadSignature)?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
                .map_err(|_| IpnsError::BadSignature)?;
            let sig: [u8; 64] = sig.try_into().map_err(|_| IpnsError::BadSignature)?;
            let mut msg = b"ipns-signature:".to_vec();
            msg.extend_from_slice(data);
            key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .map_err(|_| IpnsError::BadSignature)?;
        }
        Some(0) => return Err(IpnsError::UnsupportedKey("RSA")),
        Some(2) => return Err(IpnsError::UnsupportedKey("secp256k1")),
        Some(3) => return Err(IpnsError::UnsupportedKey("ECDSA")),
        _ => return Err(IpnsError::Malformed("unknown key type".into())),
    }
    let SignedData {
        value,
        validity,
        sequence,
        ttl_ns,
    } = data_map(data)?;
    // V1 fields, when present, must say the same as the signed data.
    if f.value_v1.is_some_and(|v| v != value.as_slice())
        || f.validity_v1.is_some_and(|v| v != validity.as_slice())
        || f.sequence_v1.is_some_and(|s| s != sequence)
    {
        return Err(IpnsError::Malformed(
            "V1 fields disagree with the signed V2 data".into(),
        ));
    }
    let validity = String::from_utf8(validity)
        .map_err(|_| IpnsError::Malformed("Validity is not text".into()))?;
    let eol = rfc3339_unix(&validity)
        .ok_or_else(|| IpnsError::Malformed(format!("bad Validity {validity:?}")))?;
    if eol < now_unix {
        return Err(IpnsError::Expired(validity));
    }
    let value =
        String::from_utf8(value).map_err(|_| IpnsError::Malformed("Value is not text".into()))?;
    Ok(Record {
        value,
        sequence,
        ttl_seconds: ttl_ns / 1_000_000_000,
        validity,
    })
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp (`YYYY-MM-DDTHH:MM:SS[.frac]Z`).
pub fn rfc3339_unix(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(b.get(r)?).ok()?.parse().ok()
    };
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Records stored on disk, one file per canonical name.
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    /// The store under `<repo>/ipns`.
    pub fn new(repo_dir: &Path) -> Self {
        Self {
            dir: repo_dir.join("ipns"),
        }
    }

    /// Verifies and stores `bytes` for `name`, unless a record with a higher sequence is kept.
    pub fn put(&self, name: &Name, bytes: &[u8], now_unix: i64) -> Result<Record, IpnsError> {
        let record = verify(name, bytes, now_unix)?;
        if let Ok((_, old)) = self.get(name, now_unix)
            && old.sequence > record.sequence
        {
            return Err(IpnsError::Malformed(format!(
                "a newer record (sequence {}) is already stored",
                old.sequence
            )));
        }
        let io = |e: io::Error| IpnsError::Io(e.to_string());
        fs::create_dir_all(&self.dir).map_err(io)?;
        let path = self.dir.join(name.canonical());
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes).map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        Ok(record)
    }

    /// The stored record bytes for `name`, re-verified.
    pub fn get(&self, name: &Name, now_unix: i64) -> Result<(Vec<u8>, Record), IpnsError> {
        let bytes = fs::read(self.dir.join(name.canonical()))
            .map_err(|_| IpnsError::NotFound(name.canonical()))?;
        let record = verify(name, &bytes, now_unix)?;
        Ok((bytes, record))
    }
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_unix("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_unix("2000-03-01T00:00:00.123456789Z"),
            Some(951_868_800)
        );
        assert_eq!(rfc3339_unix("garbage"), None);
    }

    #[test]
    fn peer_ids_and_key_cids_name_the_same_key() {
        let a =
            Name::parse("12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d").expect("peer id");
        let b = Name::parse(&a.canonical()).expect("canonical");
        assert_eq!(a, b);
        assert!(a.canonical().starts_with("k51"));
        assert!(Name::parse("bafkqaaa").is_err());
        let rsa =
            Name::parse("QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3").expect("RSA peer id");
        assert!(rsa.canonical().starts_with("k2k4"), "{}", rsa.canonical());
    }
}
