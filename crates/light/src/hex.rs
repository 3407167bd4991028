//! Bytes as `0x`-prefixed hex in JSON, for `#[serde(with = "crust_light::hex")]` fields; the
//! [`opt`] module does the same for `Option<Vec<u8>>` (`null` for none).

use serde::{Deserialize, Deserializer, Serializer};

/// Longest hex text accepted when decoding (16 MiB of bytes): a bound on hostile input.
pub const MAX_HEX_CHARS: usize = 2 + 2 * 16 * 1024 * 1024;

/// `0x` followed by the bytes in lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    format!("0x{}", crust_primitives::account::to_hex(bytes))
}

/// The bytes of hex text (with or without `0x`), if it is hex and not too long.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len() > MAX_HEX_CHARS {
        return None;
    }
    crust_primitives::account::from_hex(text)
}

/// Serializes bytes as `0x`-prefixed hex.
pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&encode(bytes))
}

/// Deserializes `0x`-prefixed (or bare) hex into bytes.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    decode(&text).ok_or_else(|| serde::de::Error::custom("expected hex bytes"))
}

/// `Option<Vec<u8>>` as hex or `null`.
pub mod opt {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some(bytes)` as hex, `None` as `null`.
    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::serialize(b, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes hex or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => super::decode(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("expected hex bytes")),
        }
    }
}
