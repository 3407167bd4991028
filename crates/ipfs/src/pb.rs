//! The protobuf wire format, as far as dag-pb and UnixFS need it.
//!
//! Hand-written because both messages are tiny and must be encoded byte-for-byte as Go's
//! `gogo/protobuf` does (field order, empty fields present or absent); a generic protobuf
//! library would hide exactly the details that decide a CID. The reader is bounded by its input:
//! it never allocates, and every length is checked against the bytes left.

/// Why a protobuf message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PbError {
    /// The input ended inside a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A varint ran past 10 bytes or overflowed 64 bits.
    #[error("malformed varint")]
    BadVarint,
    /// A wire type this format does not use (groups, or an unknown type).
    #[error("unsupported protobuf wire type {0}")]
    BadWireType(u8),
    /// A field appeared where the message's schema forbids it.
    #[error("{0}")]
    Schema(&'static str),
}

/// Wire type of a varint field.
pub const VARINT: u8 = 0;
/// Wire type of a 64-bit fixed field.
pub const FIXED64: u8 = 1;
/// Wire type of a length-delimited field.
pub const BYTES: u8 = 2;
/// Wire type of a 32-bit fixed field.
pub const FIXED32: u8 = 5;

/// Appends `value` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Number of bytes `value` takes as a varint.
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads an unsigned varint from the front of `input`, returning it and the bytes used.
pub fn read_varint(input: &[u8]) -> Result<(u64, usize), PbError> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err(PbError::BadVarint);
        }
        value |= part << (7 * i);
        if byte & 0x80 == 0 {
            // A trailing zero group means a longer-than-necessary encoding: canonical forms
            // only, so every value has exactly one byte form (the dag-pb spec's rule).
            if i > 0 && byte == 0 {
                return Err(PbError::BadVarint);
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() < 10 {
        Err(PbError::Truncated)
    } else {
        Err(PbError::BadVarint)
    }
}

/// Appends a varint field.
pub fn put_uint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_varint(out, (u64::from(field) << 3) | u64::from(VARINT));
    put_varint(out, value);
}

/// Appends a length-delimited field.
pub fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | u64::from(BYTES));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One decoded field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// A length-delimited payload.
    Bytes(&'a [u8]),
    /// A fixed 64-bit value.
    Fixed64(u64),
    /// A fixed 32-bit value.
    Fixed32(u32),
}

/// Iterates over the fields of one message.
pub struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads the fields of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input }
    }

    /// The next field number and value, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, PbError> {
        if self.input.is_empty() {
            return Ok(None);
        }
        let (key, used) = read_varint(self.input)?;
        self.input = &self.input[used..];
        let field =
            u32::try_from(key >> 3).map_err(|_| PbError::Schema("field number too large"))?;
        if field == 0 {
            return Err(PbError::Schema("field number 0"));
        }
        let value = match (key & 7) as u8 {
            VARINT => {
                let (v, used) = read_varint(self.input)?;
                self.input = &self.input[used..];
                Value::Varint(v)
            }
            BYTES => {
                let (len, used) = read_varint(self.input)?;
                let rest = &self.input[used..];
                let len = usize::try_from(len).map_err(|_| PbError::Truncated)?;
                if len > rest.len() {
                    return Err(PbError::Truncated);
                }
                self.input = &rest[len..];
                Value::Bytes(&rest[..len])
            }
            FIXED64 => {
                let (bytes, rest) = self
                    .input
                    .split_first_chunk::<8>()
                    .ok_or(PbError::Truncated)?;
                self.input = rest;
                Value::Fixed64(u64::from_le_bytes(*bytes))
            }
            FIXED32 => {
                let (bytes, rest) = self
                    .input
                    .split_first_chunk::<4>()
                    .ok_or(PbError::Truncated)?;
                self.input = rest;
                Value::Fixed32(u32::from_le_bytes(*bytes))
            }
            other => return Err(PbError::BadWireType(other)),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0u64, 1, 127, 128, 300, 262_144, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(read_varint(&out), Ok((v, out.len())));
        }
        assert_eq!(read_varint(&[0x80]), Err(PbError::Truncated));
        // Non-minimal encodings (found by the decode_dagpb fuzz target: `0a 83 00 00 0a 00`).
        assert_eq!(read_varint(&[0x83, 0x00]), Err(PbError::BadVarint));
        assert_eq!(read_varint(&[0x80, 0x80, 0x00]), Err(PbError::BadVarint));
        assert_eq!(read_varint(&[0xff; 10]), Err(PbError::BadVarint));
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(PbError::BadVarint)
        );
    }

    #[test]
    fn reader_rejects_lengths_past_the_end() {
        let mut r = Reader::new(&[0x12, 0x05, 1, 2]);
        assert_eq!(r.next_field(), Err(PbError::Truncated));
        let mut r = Reader::new(&[0x0b]);
        assert_eq!(r.next_field(), Err(PbError::BadWireType(3)));
    }
}
