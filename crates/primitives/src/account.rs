//! Accounts: ed25519 keys, signatures, SS58 addresses and mnemonic-based key derivation.
//!
//! An account is an ed25519 public key. Addresses are SS58 with Crust's network prefix 66, so
//! they look like the reference network's (`c…`). Mnemonics follow Substrate's scheme (BIP39
//! entropy stretched by PBKDF2 into a seed, hard derivation junctions like `//Alice`), so a
//! phrase produces the same ed25519 account here as in the reference network's tools.

use crate::codec::{Buf, BufMut, Error as CodecError, FixedSize, Read, Write};
use blake2::digest::{Digest, consts::U32};
use blake2::{Blake2b, Blake2b512};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Crust's SS58 network prefix (`ss58-registry`: "crust", 66).
pub const SS58_PREFIX: u16 = 66;

/// Substrate's well-known development phrase; `//Alice` etc. derive from it.
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// Why a key, address or phrase was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The address is not valid base58.
    #[error("address is not valid base58")]
    BadBase58,
    /// The decoded address has the wrong number of bytes for a 32-byte account.
    #[error(
        "address decodes to {len} bytes; an account address has a 1- or 2-byte prefix, 32 key bytes and 2 checksum bytes"
    )]
    BadLength {
        /// Decoded length in bytes.
        len: usize,
    },
    /// The address's checksum does not match: a typo or a truncated copy.
    #[error("address checksum does not match; check the address for typos")]
    BadChecksum,
    /// The address belongs to another network.
    #[error("address has network prefix {found}, expected {expected} (Crust)")]
    WrongPrefix {
        /// Prefix found in the address.
        found: u16,
        /// Prefix this network uses.
        expected: u16,
    },
    /// The first byte is not a valid SS58 prefix marker.
    #[error("address uses a reserved SS58 prefix encoding")]
    ReservedPrefix,
    /// The hex form is not 32 bytes of hex.
    #[error("hex account must be 0x followed by 64 hex digits")]
    BadHex,
    /// The mnemonic phrase is not a valid BIP39 English phrase.
    #[error("invalid mnemonic phrase: {0}")]
    BadMnemonic(String),
    /// Soft derivation (`/x`) is not defined for ed25519 keys; use hard junctions (`//x`).
    #[error("soft derivation '/{0}' is not supported for ed25519 keys; use '//{0}'")]
    SoftDerivation(String),
    /// A secret seed given as hex is not exactly 32 bytes.
    #[error("secret seed must be 0x followed by 64 hex digits")]
    BadSeed,
    /// The system random source failed.
    #[error("system random source failed")]
    Entropy,
}

/// An account: an ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The raw 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address with Crust's prefix.
    pub fn to_ss58(&self) -> String {
        ss58_encode(SS58_PREFIX, &self.0)
    }

    /// Parses an SS58 address, requiring Crust's prefix.
    pub fn from_ss58(address: &str) -> Result<Self, AccountError> {
        let (prefix, key) = ss58_decode(address)?;
        if prefix != SS58_PREFIX {
            return Err(AccountError::WrongPrefix {
                found: prefix,
                expected: SS58_PREFIX,
            });
        }
        Ok(Self(key))
    }

    /// Whether `signature` is a valid (strict, non-malleable) signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        verify_strict(&key, message, signature)
    }

    /// The ed25519 key inside a libp2p peer ID given as base58 text (`12D3Koo…`: the identity
    /// multihash of the key's protobuf); `None` for other key types or malformed text.
    pub fn from_peer_id(text: &[u8]) -> Option<Self> {
        if text.len() > 64 {
            return None;
        }
        let bytes = bs58::decode(text).into_vec().ok()?;
        match bytes.as_slice() {
            [0x00, 0x24, 0x08, 0x01, 0x12, 0x20, key @ ..] => Some(Self(key.try_into().ok()?)),
            _ => None,
        }
    }

    /// The account of a module (no private key exists for it): `"modl" ‖ module_id`,
    /// zero-padded to 32 bytes, like the reference's `PalletId::into_account`.
    pub fn module_account(module_id: &[u8; 8]) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(b"modl");
        bytes[4..12].copy_from_slice(module_id);
        Self(bytes)
    }

    /// A module's sub-account (a pot): `"modl" ‖ module_id ‖ SCALE(sub_id)`, zero-padded,
    /// byte-identical to the reference's `PalletId::into_sub_account(sub_id)` for a 4-byte name.
    pub fn module_sub_account(module_id: &[u8; 8], sub_id: &[u8; 4]) -> Self {
        let mut account = Self::module_account(module_id);
        account.0[12] = 4 << 2; // SCALE compact length of a 4-byte string
        account.0[13..17].copy_from_slice(sub_id);
        account
    }

    /// Whether this is a module account (a pot or the treasury), which no key controls.
    pub fn is_module_account(&self) -> bool {
        self.0.starts_with(b"modl")
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.to_ss58();
        write!(f, "{}…", &s[..8.min(s.len())])
    }
}

impl FromStr for AccountId {
    type Err = AccountError;

    /// Accepts an SS58 address with Crust's prefix, or `0x` followed by 64 hex digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("0x") {
            return parse_hex32(hex).map(Self).ok_or(AccountError::BadHex);
        }
        Self::from_ss58(s)
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ss58())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Write for AccountId {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for AccountId {
    const SIZE: usize = 32;
}

impl Read for AccountId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 32]>::read_cfg(buf, &())?))
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{}…)", to_hex(&self.0[..8]))
    }
}

impl Write for Signature {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Signature {
    const SIZE: usize = 64;
}

impl Read for Signature {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 64]>::read_cfg(buf, &())?))
    }
}

/// An ed25519 key pair. The secret never appears in `Debug` output.
#[derive(Clone)]
pub struct Keypair {
    secret: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

impl Keypair {
    /// The key pair for a 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            secret: SigningKey::from_bytes(seed),
        }
    }

    /// A fresh key pair from the system's random source.
    pub fn generate() -> Result<Self, AccountError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| AccountError::Entropy)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key pair for a BIP39 phrase and optional password, as Substrate derives it: the
    /// phrase's entropy is stretched with PBKDF2-HMAC-SHA512 (salt `"mnemonic" ‖ password`,
    /// 2048 rounds) and the first 32 bytes become the ed25519 seed.
    pub fn from_phrase(phrase: &str, password: Option<&str>) -> Result<Self, AccountError> {
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase)
            .map_err(|e| AccountError::BadMnemonic(e.to_string()))?;
        let entropy = mnemonic.to_entropy();
        let salt = format!("mnemonic{}", password.unwrap_or(""));
        let mut seed = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(&entropy, salt.as_bytes(), 2048, &mut seed);
        let mut mini = [0u8; 32];
        mini.copy_from_slice(&seed[..32]);
        Ok(Self::from_seed(&mini))
    }

    /// The key pair for a secret URI: `[phrase | 0xSEED][//hard…][///password]`. An empty
    /// phrase means [`DEV_PHRASE`], so `//Alice` is the well-known development account.
    pub fn from_suri(suri: &str) -> Result<Self, AccountError> {
        let (body, password) = match suri.find("///") {
            Some(i) => (&suri[..i], Some(&suri[i + 3..])),
            None => (suri, None),
        };
        let (phrase, path) = match body.find('/') {
            Some(i) => (body[..i].trim(), &body[i..]),
            None => (body.trim(), ""),
        };
        let mut pair = if let Some(hex) = phrase.strip_prefix("0x") {
            Self::from_seed(&parse_hex32(hex).ok_or(AccountError::BadSeed)?)
        } else if phrase.is_empty() {
            Self::from_phrase(DEV_PHRASE, password)?
        } else {
            Self::from_phrase(phrase, password)?
        };
        let mut rest = path;
        while !rest.is_empty() {
            let hard = rest.starts_with("//");
            let after = if hard { &rest[2..] } else { &rest[1..] };
            let end = after.find('/').unwrap_or(after.len());
            let junction = &after[..end];
            if !hard {
                return Err(AccountError::SoftDerivation(junction.to_string()));
            }
            pair = pair.derive_hard(junction);
            rest = &after[end..];
        }
        Ok(pair)
    }

    /// Substrate's ed25519 hard derivation: `blake2_256(SCALE("Ed25519HDKD", seed, chain_code))`.
    fn derive_hard(&self, junction: &str) -> Self {
        let chain_code = junction_chain_code(junction);
        let mut hasher = Blake2b::<U32>::new();
        hasher.update([11u8 << 2]); // SCALE compact length of "Ed25519HDKD"
        hasher.update(b"Ed25519HDKD");
        hasher.update(self.secret.to_bytes());
        hasher.update(chain_code);
        let seed: [u8; 32] = hasher.finalize().into();
        Self::from_seed(&seed)
    }

    /// The account (public key) of this pair.
    pub fn public(&self) -> AccountId {
        AccountId(self.secret.verifying_key().to_bytes())
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.secret.sign(message).to_bytes())
    }

    /// The 32-byte secret seed, for writing to a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }
}

/// A new random BIP39 English phrase of `words` words (12, 15, 18, 21 or 24).
pub fn generate_phrase(words: usize) -> Result<String, AccountError> {
    let bytes = match words {
        12 => 16,
        15 => 20,
        18 => 24,
        21 => 28,
        24 => 32,
        _ => {
            return Err(AccountError::BadMnemonic(format!(
                "{words} words is not a BIP39 length"
            )));
        }
    };
    let mut entropy = [0u8; 32];
    getrandom::fill(&mut entropy[..bytes]).map_err(|_| AccountError::Entropy)?;
    let mnemonic = bip39::Mnemonic::from_entropy(&entropy[..bytes])
        .map_err(|e| AccountError::BadMnemonic(e.to_string()))?;
    Ok(mnemonic.to_string())
}

/// A junction's 32-byte chain code: a number is SCALE-encoded as u64, anything else as a SCALE
/// string; longer than 32 bytes is hashed with blake2-256, shorter is zero-padded.
fn junction_chain_code(junction: &str) -> [u8; 32] {
    let encoded: Vec<u8> = match junction.parse::<u64>() {
        Ok(n) => n.to_le_bytes().to_vec(),
        Err(_) => {
            let mut v = scale_compact_len(junction.len());
            v.extend_from_slice(junction.as_bytes());
            v
        }
    };
    let mut code = [0u8; 32];
    if encoded.len() > 32 {
        code = Blake2b::<U32>::digest(&encoded).into();
    } else {
        code[..encoded.len()].copy_from_slice(&encoded);
    }
    code
}

/// SCALE compact encoding of a length.
fn scale_compact_len(len: usize) -> Vec<u8> {
    let n = len as u64;
    if n < 1 << 6 {
        vec![(n as u8) << 2]
    } else if n < 1 << 14 {
        (((n as u16) << 2) | 1).to_le_bytes().to_vec()
    } else if n < 1 << 30 {
        (((n as u32) << 2) | 2).to_le_bytes().to_vec()
    } else {
        let bytes = n.to_le_bytes();
        let used = 8 - (n.leading_zeros() as usize / 8);
        let mut v = vec![(((used - 4) as u8) << 2) | 3];
        v.extend_from_slice(&bytes[..used]);
        v
    }
}

/// Encodes a 32-byte key as SS58 with `prefix`.
pub fn ss58_encode(prefix: u16, key: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(36);
    let prefix = prefix & 0b0011_1111_1111_1111;
    if prefix < 64 {
        data.push(prefix as u8);
    } else {
        data.push((((prefix & 0b0000_0000_1111_1100) >> 2) as u8) | 0b0100_0000);
        data.push(((prefix >> 8) as u8) | (((prefix & 0b11) as u8) << 6));
    }
    data.extend_from_slice(key);
    let checksum = ss58_checksum(&data);
    data.extend_from_slice(&checksum[..2]);
    bs58::encode(data).into_string()
}

/// Decodes an SS58 address into its network prefix and 32-byte key, checking the checksum.
pub fn ss58_decode(address: &str) -> Result<(u16, [u8; 32]), AccountError> {
    if address.len() > 64 {
        return Err(AccountError::BadLength { len: address.len() });
    }
    let data = bs58::decode(address)
        .into_vec()
        .map_err(|_| AccountError::BadBase58)?;
    let (prefix, prefix_len) = match data.first() {
        Some(&b) if b < 64 => (u16::from(b), 1),
        Some(&b) if b < 128 => {
            let second = *data
                .get(1)
                .ok_or(AccountError::BadLength { len: data.len() })?;
            let lower = (b << 2) | (second >> 6);
            let upper = second & 0b0011_1111;
            (u16::from(lower) | (u16::from(upper) << 8), 2)
        }
        Some(_) => return Err(AccountError::ReservedPrefix),
        None => return Err(AccountError::BadLength { len: 0 }),
    };
    if data.len() != prefix_len + 32 + 2 {
        return Err(AccountError::BadLength { len: data.len() });
    }
    let body = &data[..prefix_len + 32];
    let checksum = ss58_checksum(body);
    if data[prefix_len + 32..] != checksum[..2] {
        return Err(AccountError::BadChecksum);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[prefix_len..]);
    Ok((prefix, key))
}

fn ss58_checksum(data: &[u8]) -> [u8; 64] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(data);
    hasher.finalize().into()
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string, with or without `0x`; `None` for odd lengths or non-hex digits.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(message, &sig).is_ok()
}

/// Decompressed public keys of recent signers. Decompressing a key is about a quarter of a
/// signature check, and the same accounts sign again and again (a node admitting thousands of
/// transactions a second checks every one). Checks give the same answers as
/// [`AccountId::verify`]; the cache only remembers keys, never verdicts.
#[derive(Default)]
pub struct KeyCache {
    keys: std::collections::HashMap<AccountId, VerifyingKey>,
}

impl KeyCache {
    /// Most keys kept; the cache starts over when full (a bound on memory only).
    pub const MAX_KEYS: usize = 16_384;

    /// Most memory the cache takes: its hash table at [`Self::MAX_KEYS`] (kept when it starts
    /// over), as the standard library rounds it (a power of two of slots, one control byte each).
    pub const MAX_BYTES: usize = (Self::MAX_KEYS * 8 / 7).next_power_of_two()
        * (std::mem::size_of::<(AccountId, VerifyingKey)>() + 1);

    /// Memory the cache takes now (its table's allocated slots).
    pub fn bytes(&self) -> usize {
        let cap = self.keys.capacity();
        if cap == 0 {
            return 0;
        }
        // The table keeps 1/8 of its slots free: `capacity` is 7/8 of a power of two of slots
        // from 8 on, one less than the slots below.
        let slots = if cap < 8 {
            (cap + 1).next_power_of_two()
        } else {
            (cap * 8 / 7).next_power_of_two()
        };
        slots * (std::mem::size_of::<(AccountId, VerifyingKey)>() + 1)
    }

    /// [`AccountId::verify`], with `who`'s decompressed key remembered.
    pub fn verify(&mut self, who: &AccountId, message: &[u8], signature: &Signature) -> bool {
        if let Some(key) = self.keys.get(who) {
            return verify_strict(key, message, signature);
        }
        let Ok(key) = VerifyingKey::from_bytes(&who.0) else {
            return false;
        };
        let valid = verify_strict(&key, message, signature);
        // Only keys that signed something valid are kept, so junk cannot churn the cache.
        if valid {
            if self.keys.len() >= Self::MAX_KEYS {
                self.keys.clear();
            }
            self.keys.insert(*who, key);
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex32(s: &str) -> [u8; 32] {
        parse_hex32(s).expect("test vector is valid hex")
    }

    #[test]
    fn the_key_cache_answers_as_a_plain_check() {
        let alice = Keypair::from_suri("//Alice").expect("dev uri");
        let bob = Keypair::from_suri("//Bob").expect("dev uri");
        let signature = alice.sign(b"message");
        let mut cache = KeyCache::default();
        for _ in 0..2 {
            // Once decompressing, once from memory: the same verdicts as `AccountId::verify`.
            assert!(cache.verify(&alice.public(), b"message", &signature));
            assert!(!cache.verify(&alice.public(), b"other message", &signature));
            assert!(!cache.verify(&bob.public(), b"message", &signature));
        }
        // Bytes that are no curve point are refused, and not remembered.
        let mut not_a_point = AccountId([0u8; 32]);
        not_a_point.0[31] = 0x80;
        not_a_point.0[0] = 2;
        assert_eq!(
            cache.verify(&not_a_point, b"message", &signature),
            not_a_point.verify(b"message", &signature)
        );
    }

    #[test]
    fn dev_alice_matches_substrate_ed25519() {
        // `subkey inspect --scheme ed25519 //Alice`: public key and generic (42) address.
        let alice = Keypair::from_suri("//Alice").expect("dev uri");
        assert_eq!(
            alice.public().0,
            hex32("88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee")
        );
        assert_eq!(
            ss58_encode(42, &alice.public().0),
            "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"
        );
    }

    #[test]
    fn generic_ss58_vector_decodes() {
        // The well-known sr25519 //Alice address on the generic prefix 42.
        let (prefix, key) =
            ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").expect("valid");
        assert_eq!(prefix, 42);
        assert_eq!(
            key,
            hex32("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
        );
    }

    #[test]
    fn crust_addresses_use_two_byte_prefix_66() {
        let alice = Keypair::from_suri("//Alice").expect("dev uri").public();
        let address = alice.to_ss58();
        // Cross-checked with the `scalecodec` Python package's `ss58_encode(key, 66)`.
        assert_eq!(address, "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL");
        assert_eq!(
            AccountId([0; 32]).to_ss58(),
            "cTGLdr4shCimXefxtJtGUhde5tVxn3q7LJbamicTntUogmWBp"
        );
        assert_eq!(AccountId::from_ss58(&address), Ok(alice));
        assert_eq!(address.parse::<AccountId>(), Ok(alice));
    }

    #[test]
    fn bad_addresses_get_typed_errors() {
        let alice = Keypair::from_suri("//Alice").expect("dev uri").public();
        let good = alice.to_ss58();
        // Flip one character → checksum mismatch (or base58 error).
        let mut chars: Vec<char> = good.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(AccountId::from_ss58(&typo), Err(AccountError::BadChecksum));
        assert_eq!(AccountId::from_ss58("0OIl"), Err(AccountError::BadBase58));
        assert!(matches!(
            AccountId::from_ss58(&good[..20]),
            Err(AccountError::BadLength { .. })
        ));
        assert_eq!(
            AccountId::from_ss58("5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu"),
            Err(AccountError::WrongPrefix {
                found: 42,
                expected: 66
            })
        );
        assert_eq!("0x12".parse::<AccountId>(), Err(AccountError::BadHex));
    }

    #[test]
    fn signatures_verify_only_for_the_signer_and_message() {
        let alice = Keypair::from_suri("//Alice").expect("dev uri");
        let bob = Keypair::from_suri("//Bob").expect("dev uri");
        let sig = alice.sign(b"order");
        assert!(alice.public().verify(b"order", &sig));
        assert!(!alice.public().verify(b"other", &sig));
        assert!(!bob.public().verify(b"order", &sig));
        // Not a curve point at all.
        assert!(!AccountId([0xff; 32]).verify(b"order", &sig));
    }

    #[test]
    fn phrases_and_uris() {
        let phrase = generate_phrase(12).expect("entropy");
        assert_eq!(phrase.split(' ').count(), 12);
        let a = Keypair::from_phrase(&phrase, None).expect("valid");
        let b = Keypair::from_suri(&phrase).expect("valid");
        assert_eq!(a.public(), b.public());
        let with_password = Keypair::from_suri(&format!("{phrase}///secret")).expect("valid");
        assert_ne!(with_password.public(), a.public());
        assert!(matches!(
            Keypair::from_phrase("not a real phrase", None),
            Err(AccountError::BadMnemonic(_))
        ));
        assert!(matches!(
            Keypair::from_suri("//Alice/soft"),
            Err(AccountError::SoftDerivation(_))
        ));
        let seed = Keypair::from_suri(&format!("0x{}", to_hex(&[7u8; 32]))).expect("seed");
        assert_eq!(seed.seed(), [7u8; 32]);
        assert!(matches!(
            generate_phrase(13),
            Err(AccountError::BadMnemonic(_))
        ));
    }

    #[test]
    fn long_junctions_are_hashed() {
        let long = "x".repeat(40);
        let a = Keypair::from_suri(&format!("//{long}")).expect("valid");
        let b = Keypair::from_suri(&format!("//{long}y")).expect("valid");
        assert_ne!(a.public(), b.public());
        let n = Keypair::from_suri("//1").expect("numeric junction");
        assert_ne!(
            n.public(),
            Keypair::from_suri("//01x").expect("valid").public()
        );
    }

    proptest! {
        #[test]
        fn ss58_round_trips_for_any_prefix(key in any::<[u8; 32]>(), prefix in 0u16..16_384) {
            // 46 and 47 are reserved in the registry but the encoding is still defined.
            let address = ss58_encode(prefix, &key);
            prop_assert_eq!(ss58_decode(&address), Ok((prefix, key)));
        }

        #[test]
        fn ss58_decode_never_panics(s in "\\PC{0,80}") {
            let _ = ss58_decode(&s);
            let _ = s.parse::<AccountId>();
        }
    }
}
