//! The one deterministic, bounded binary codec for everything consensus-critical.
//!
//! This is Commonware's codec (the chain layer speaks it too), re-exported so the rest of the
//! project depends on one name. Decoders take a configuration that bounds every length, so a
//! hostile input can never make a decoder allocate more than the input justifies, and
//! [`decode`] rejects trailing bytes so each value has exactly one encoding.
//!
//! The two macros implement the codec for plain structs and tagged enums field by field, in
//! declaration order; a field with a length (a `Vec`, a map) names its bound.

pub use bytes::BufMut;
pub use commonware_codec::{
    Buf, Codec, Copying, Decode, DecodeExt, Encode, EncodeSize, Error, FixedSize, RangeCfg, Read,
    ReadExt, ReadRangeExt, Write,
};

/// Decodes a value whose decoder needs no configuration from a borrowed slice; every byte
/// must be consumed.
pub fn decode<T: Decode<Cfg = ()>>(bytes: &[u8]) -> Result<T, Error> {
    T::decode_cfg(Copying(bytes), &())
}

/// Decodes a value with an explicit configuration (length bounds) from a borrowed slice.
pub fn decode_with<T: Decode>(bytes: &[u8], cfg: &T::Cfg) -> Result<T, Error> {
    T::decode_cfg(Copying(bytes), cfg)
}

/// Encodes a value to an owned byte vector.
pub fn encode<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    value.encode().to_vec()
}

/// The decoding bound for a vector of at most `max` items whose elements need no configuration.
pub fn max_items(max: usize) -> (RangeCfg<usize>, ()) {
    (RangeCfg::from(..=max), ())
}

/// Implements the codec for a struct, field by field in the listed order.
///
/// Fields without a bound decode with `()`; `field: cfg` passes `cfg` (e.g. a
/// [`max_items`] bound for a vector).
#[macro_export]
macro_rules! impl_codec_struct {
    ($ty:ty { $($field:ident $(: $cfg:expr)?),* $(,)? }) => {
        impl $crate::codec::Write for $ty {
            fn write(&self, buf: &mut impl $crate::codec::BufMut) {
                $( $crate::codec::Write::write(&self.$field, buf); )*
            }
        }
        impl $crate::codec::EncodeSize for $ty {
            fn encode_size(&self) -> usize {
                0 $( + $crate::codec::EncodeSize::encode_size(&self.$field) )*
            }
        }
        impl $crate::codec::Read for $ty {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl $crate::codec::Buf,
                _: &(),
            ) -> ::core::result::Result<Self, $crate::codec::Error> {
                Ok(Self { $( $field: $crate::__codec_read_field!(buf $(, $cfg)?), )* })
            }
        }
    };
}

/// Implements the codec for an enum with struct-like (or empty `{}`) variants: a one-byte tag,
/// then the variant's fields in order. Tags are explicit so reordering variants never changes
/// the encoding.
#[macro_export]
macro_rules! impl_codec_enum {
    ($ty:ty { $( $tag:literal => $variant:ident { $($field:ident $(: $cfg:expr)?),* $(,)? } ),* $(,)? }) => {
        impl $crate::codec::Write for $ty {
            #[allow(unused_variables)]
            fn write(&self, buf: &mut impl $crate::codec::BufMut) {
                match self {
                    $( Self::$variant { $($field),* } => {
                        $crate::codec::Write::write(&($tag as u8), buf);
                        $( $crate::codec::Write::write($field, buf); )*
                    } )*
                }
            }
        }
        impl $crate::codec::EncodeSize for $ty {
            #[allow(unused_variables)]
            fn encode_size(&self) -> usize {
                match self {
                    $( Self::$variant { $($field),* } => {
                        1 $( + $crate::codec::EncodeSize::encode_size($field) )*
                    } )*
                }
            }
        }
        impl $crate::codec::Read for $ty {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl $crate::codec::Buf,
                _: &(),
            ) -> ::core::result::Result<Self, $crate::codec::Error> {
                let tag = <u8 as $crate::codec::ReadExt>::read(buf)?;
                match tag {
                    $( $tag => Ok(Self::$variant {
                        $( $field: $crate::__codec_read_field!(buf $(, $cfg)?), )*
                    }), )*
                    other => Err($crate::codec::Error::InvalidEnum(other)),
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __codec_read_field {
    ($buf:ident) => {
        $crate::codec::Read::read_cfg($buf, &())?
    };
    ($buf:ident, $cfg:expr) => {
        $crate::codec::Read::read_cfg($buf, &$cfg)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Sample {
        id: u64,
        flag: bool,
        items: Vec<u32>,
    }
    crate::impl_codec_struct!(Sample {
        id,
        flag,
        items: max_items(3)
    });

    #[derive(Debug, PartialEq)]
    enum Choice {
        Empty {},
        Pair { a: u8, b: Vec<u8> },
    }
    crate::impl_codec_enum!(Choice {
        0 => Empty {},
        7 => Pair { a, b: max_items(4) },
    });

    #[test]
    fn struct_round_trips_and_bounds_lengths() {
        let value = Sample {
            id: 9,
            flag: true,
            items: vec![1, 2, 3],
        };
        let bytes = encode(&value);
        assert_eq!(decode::<Sample>(&bytes).ok(), Some(value));
        let too_many = Sample {
            id: 9,
            flag: true,
            items: vec![1, 2, 3, 4],
        };
        assert!(decode::<Sample>(&encode(&too_many)).is_err());
    }

    #[test]
    fn enum_uses_explicit_tags() {
        let pair = Choice::Pair { a: 1, b: vec![5] };
        let bytes = encode(&pair);
        assert_eq!(bytes[0], 7);
        assert_eq!(decode::<Choice>(&bytes).ok(), Some(pair));
        assert_eq!(decode::<Choice>(&[0]).ok(), Some(Choice::Empty {}));
        assert!(matches!(decode::<Choice>(&[3]), Err(Error::InvalidEnum(3))));
    }

    #[test]
    fn trailing_bytes_and_truncation_are_rejected() {
        let mut bytes = encode(&Choice::Empty {});
        bytes.push(0);
        assert!(decode::<Choice>(&bytes).is_err());
        assert!(decode::<Sample>(&[0, 1]).is_err());
    }

    #[test]
    fn huge_declared_length_does_not_allocate() {
        // A length prefix claiming u32::MAX items is refused by the bound before any allocation.
        let mut bytes = encode(&7u8);
        bytes.push(1);
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode::<Choice>(&bytes).is_err());
    }
}
