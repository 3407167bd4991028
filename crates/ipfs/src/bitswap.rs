//! Bitswap 1.2.0 messages (ipfs/specs `bitswap-protocol.md`, boxo `bitswap/message/pb`).
//!
//! The wire format only: typed messages, their protobuf encoding as Kubo and Helia expect it,
//! and a bounded decoder for hostile input. Protocol logic (ledgers, sessions) and the libp2p
//! streams live elsewhere, so this part is testable without a network.
//!
//! Blocks travel as `payload` entries whose `prefix` is always four varints — CID version,
//! codec, multihash code, digest length — even for CIDv0 (`00 70 12 20`); the receiver hashes
//! `data` and rebuilds the CID, so a block can never arrive under a CID it does not match.

use crate::block::{self, Block};
use crate::pb::{self, Value};
use bytes::{Bytes, BytesMut};
use crust_primitives::Cid;

/// Protocol ids, newest first.
pub const PROTOCOLS: [&str; 4] = [
    "/ipfs/bitswap/1.2.0",
    "/ipfs/bitswap/1.1.0",
    "/ipfs/bitswap/1.0.0",
    "/ipfs/bitswap",
];
/// Largest message accepted or sent (go-libp2p and Helia use the same limit).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Most wantlist entries one message may carry.
pub const MAX_ENTRIES: usize = 1024;

/// What a want asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WantType {
    /// The block itself.
    Block,
    /// Whether the peer has it.
    Have,
}

/// One wantlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The wanted block.
    pub cid: Cid,
    /// Higher first.
    pub priority: i32,
    /// Withdraws an earlier want.
    pub cancel: bool,
    /// Block or Have.
    pub want_type: WantType,
    /// Ask for an explicit DontHave when the peer lacks it.
    pub send_dont_have: bool,
}

/// Whether a peer has a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// It does.
    Have,
    /// It does not.
    DontHave,
}

/// A Bitswap message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Wantlist entries.
    pub wants: Vec<Entry>,
    /// The wantlist replaces the peer's previous one.
    pub full: bool,
    /// Blocks.
    pub blocks: Vec<Block>,
    /// Presences.
    pub presences: Vec<(Cid, Presence)>,
    /// Bytes the sender still has queued for the receiver.
    pub pending_bytes: i32,
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("bitswap message of {0} bytes exceeds the 4 MiB limit")]
    TooLarge(usize),
    /// Broken protobuf framing.
    #[error("bitswap message: {0}")]
    Pb(#[from] pb::PbError),
    /// A field that must be a CID is not one.
    #[error("bitswap message: invalid CID")]
    BadCid,
    /// A block prefix is malformed.
    #[error("bitswap message: invalid block prefix")]
    BadPrefix,
    /// A block's data does not match its prefix's hash.
    #[error("bitswap message: block does not match its CID: {0}")]
    BadBlock(String),
    /// More wantlist entries than allowed.
    #[error("bitswap message: more than {MAX_ENTRIES} wantlist entries")]
    TooManyEntries,
}

/// The 4-varint CID prefix of a block (`00 70 12 20` for CIDv0).
pub fn prefix(cid: &Cid) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    pb::put_varint(&mut out, cid.version());
    pb::put_varint(&mut out, cid.codec());
    let (code, digest) = cid.hash();
    pb::put_varint(&mut out, code);
    pb::put_varint(&mut out, digest.len() as u64);
    out
}

/// Rebuilds and checks the CID of `data` from a 4-varint prefix.
pub fn block_from_prefix(prefix: &[u8], data: Bytes) -> Result<Block, MessageError> {
    let mut rest = prefix;
    let mut next = || -> Result<u64, MessageError> {
        let (v, used) = pb::read_varint(rest).map_err(|_| MessageError::BadPrefix)?;
        rest = &rest[used..];
        Ok(v)
    };
    let (version, codec, code, len) = (next()?, next()?, next()?, next()?);
    let cid = match (version, codec, code, len) {
        (0, 0x70, crust_primitives::cid::SHA2_256, 32) => Cid::v0_sha256(block::sha256(&data)),
        (1, codec, crust_primitives::cid::SHA2_256, 32) => {
            Cid::v1_sha256(codec, block::sha256(&data))
        }
        // The other functions Kubo can add with (`--hash`): the digest is computed here.
        (1, codec, code @ (block::SHA2_512 | block::BLAKE2B_256), len) => {
            let digest = block::digest(code, &data).ok_or(MessageError::BadPrefix)?;
            if digest.len() as u64 != len {
                return Err(MessageError::BadPrefix);
            }
            let mut bytes = Vec::with_capacity(8 + digest.len());
            for v in [1, codec, code, len] {
                pb::put_varint(&mut bytes, v);
            }
            bytes.extend_from_slice(&digest);
            Cid::from_bytes(&bytes).map_err(|_| MessageError::BadPrefix)?
        }
        _ => return Err(MessageError::BadPrefix),
    };
    Ok(Block { cid, data })
}

impl Message {
    /// The protobuf encoding (without the length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.wants.is_empty() || self.full {
            let mut wl = Vec::new();
            for e in &self.wants {
                let mut entry = Vec::new();
                pb::put_bytes_field(&mut entry, 1, &e.cid.to_bytes());
                if e.priority != 0 {
                    // proto3 int32: negative values are sign-extended to 64 bits.
                    pb::put_uint_field(&mut entry, 2, i64::from(e.priority) as u64);
                }
                if e.cancel {
                    pb::put_uint_field(&mut entry, 3, 1);
                }
                if e.want_type == WantType::Have {
                    pb::put_uint_field(&mut entry, 4, 1);
                }
                if e.send_dont_have {
                    pb::put_uint_field(&mut entry, 5, 1);
                }
                pb::put_bytes_field(&mut wl, 1, &entry);
            }
            if self.full {
                pb::put_uint_field(&mut wl, 2, 1);
            }
            pb::put_bytes_field(&mut out, 1, &wl);
        }
        for b in &self.blocks {
            let mut payload = Vec::with_capacity(b.data.len() + 16);
            pb::put_bytes_field(&mut payload, 1, &prefix(&b.cid));
            pb::put_bytes_field(&mut payload, 2, &b.data);
            pb::put_bytes_field(&mut out, 3, &payload);
        }
        for (cid, presence) in &self.presences {
            let mut p = Vec::new();
            pb::put_bytes_field(&mut p, 1, &cid.to_bytes());
            if *presence == Presence::DontHave {
                pb::put_uint_field(&mut p, 2, 1);
            }
            pb::put_bytes_field(&mut out, 4, &p);
        }
        if self.pending_bytes != 0 {
            pb::put_uint_field(&mut out, 5, i64::from(self.pending_bytes) as u64);
        }
        out
    }

    /// Decodes a message, verifying every block against its prefix.
    pub fn decode(bytes: &[u8]) -> Result<Self, MessageError> {
        Self::decode_with(bytes, Bytes::copy_from_slice)
    }

    /// [`Message::decode`] of a received frame whose blocks share the frame's buffer instead
    /// of copying it (the receive path of a transfer).
    pub fn decode_frame(frame: &Bytes) -> Result<Self, MessageError> {
        Self::decode_with(frame, |data| frame.slice_ref(data))
    }

    fn decode_with(bytes: &[u8], share: impl Fn(&[u8]) -> Bytes) -> Result<Self, MessageError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let mut msg = Message::default();
        let mut reader = pb::Reader::new(bytes);
        while let Some((field, value)) = reader.next_field()? {
            match (field, value) {
                (1, Value::Bytes(wl)) => decode_wantlist(wl, &mut msg)?,
                (2, Value::Bytes(data)) => {
                    // Bitswap 1.0.0 blocks: always CIDv0.
                    msg.blocks.push(Block::dag_pb(data.to_vec(), 0));
                }
                (3, Value::Bytes(payload)) => {
                    let (mut prefix, mut data) = (None, None);
                    let mut r = pb::Reader::new(payload);
                    while let Some((f, v)) = r.next_field()? {
                        match (f, v) {
                            (1, Value::Bytes(p)) => prefix = Some(p),
                            (2, Value::Bytes(d)) => data = Some(d),
                            _ => {}
                        }
                    }
                    let prefix = prefix.ok_or(MessageError::BadPrefix)?;
                    let data = data.map_or_else(Bytes::new, &share);
                    msg.blocks.push(block_from_prefix(prefix, data)?);
                }
                (4, Value::Bytes(p)) => {
                    let (mut cid, mut presence) = (None, Presence::Have);
                    let mut r = pb::Reader::new(p);
                    while let Some((f, v)) = r.next_field()? {
                        match (f, v) {
                            (1, Value::Bytes(c)) => {
                                cid = Some(Cid::from_bytes(c).map_err(|_| MessageError::BadCid)?)
                            }
                            (2, Value::Varint(1)) => presence = Presence::DontHave,
                            _ => {}
                        }
                    }
                    msg.presences
                        .push((cid.ok_or(MessageError::BadCid)?, presence));
                }
                (5, Value::Varint(v)) => msg.pending_bytes = v as i32,
                _ => {}
            }
        }
        Ok(msg)
    }
}

fn decode_wantlist(bytes: &[u8], msg: &mut Message) -> Result<(), MessageError> {
    let mut reader = pb::Reader::new(bytes);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(entry)) => {
                if msg.wants.len() >= MAX_ENTRIES {
                    return Err(MessageError::TooManyEntries);
                }
                let mut e = Entry {
                    cid: Cid::v0_sha256([0; 32]),
                    priority: 0,
                    cancel: false,
                    want_type: WantType::Block,
                    send_dont_have: false,
                };
                let mut has_cid = false;
                let mut r = pb::Reader::new(entry);
                while let Some((f, v)) = r.next_field()? {
                    match (f, v) {
                        (1, Value::Bytes(c)) => {
                            e.cid = Cid::from_bytes(c).map_err(|_| MessageError::BadCid)?;
                            has_cid = true;
                        }
                        (2, Value::Varint(p)) => e.priority = p as i64 as i32,
                        (3, Value::Varint(c)) => e.cancel = c != 0,
                        (4, Value::Varint(t)) => {
                            e.want_type = if t == 1 {
                                WantType::Have
                            } else {
                                WantType::Block
                            }
                        }
                        (5, Value::Varint(d)) => e.send_dont_have = d != 0,
                        _ => {}
                    }
                }
                if !has_cid {
                    return Err(MessageError::BadCid);
                }
                msg.wants.push(e);
            }
            (2, Value::Varint(full)) => msg.full = full != 0,
            _ => {}
        }
    }
    Ok(())
}

/// Splits length-prefixed messages off the front of a stream buffer: returns each complete
/// message and leaves a partial one in `buf`. A length above the limit is an error before any
/// of that message is buffered.
pub fn take_frames(buf: &mut BytesMut) -> Result<Vec<Bytes>, MessageError> {
    let mut out = Vec::new();
    loop {
        let (len, used) = match pb::read_varint(buf) {
            Ok(v) => v,
            Err(pb::PbError::Truncated) => break,
            Err(e) => return Err(e.into()),
        };
        let len = usize::try_from(len).map_err(|_| MessageError::TooLarge(usize::MAX))?;
        if len > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(len));
        }
        if buf.len() < used + len {
            break;
        }
        let mut frame = buf.split_to(used + len);
        out.push(frame.split_off(used).freeze());
    }
    Ok(out)
}

/// The length prefix of a frame holding `message_len` bytes (written before the message, so
/// a large message is not copied into a frame).
pub fn frame_prefix(message_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    pb::put_varint(&mut out, message_len as u64);
    out
}

/// The length-prefixed frame of an encoded message.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    pb::put_varint(&mut out, message.len() as u64);
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidv0_blocks_carry_the_four_varint_prefix() {
        let b = Block::dag_pb(vec![0x0a, 0x02, 0x08, 0x01], 0);
        assert_eq!(prefix(&b.cid), [0x00, 0x70, 0x12, 0x20]);
        let raw = Block::raw(b"hi".to_vec());
        assert_eq!(prefix(&raw.cid), [0x01, 0x55, 0x12, 0x20]);
    }

    #[test]
    fn blocks_hashed_with_sha2_512_or_blake2b_travel_too() {
        for code in [block::SHA2_512, block::BLAKE2B_256] {
            let data = Bytes::from_static(b"a block hashed another way");
            let digest = block::digest(code, &data).unwrap();
            let mut bytes = Vec::new();
            for v in [1, crust_primitives::cid::RAW, code, digest.len() as u64] {
                pb::put_varint(&mut bytes, v);
            }
            bytes.extend_from_slice(&digest);
            let cid = Cid::from_bytes(&bytes).unwrap();
            let b = Block::verified(cid, data.clone()).unwrap();
            let got = block_from_prefix(&prefix(&b.cid), data).unwrap();
            assert_eq!(got.cid, cid, "0x{code:x}");
            // Other bytes under the same prefix name other content.
            let other = block_from_prefix(&prefix(&cid), Bytes::from_static(b"x")).unwrap();
            assert_ne!(other.cid, cid);
            // A prefix whose length disagrees with the function is refused.
            let mut bad = Vec::new();
            for v in [1, crust_primitives::cid::RAW, code, 20] {
                pb::put_varint(&mut bad, v);
            }
            assert!(block_from_prefix(&bad, Bytes::from_static(b"x")).is_err());
        }
    }

    #[test]
    fn messages_round_trip_and_blocks_are_verified() {
        let b = Block::raw(b"hello".to_vec());
        let msg = Message {
            wants: vec![Entry {
                cid: b.cid,
                priority: -3,
                cancel: false,
                want_type: WantType::Have,
                send_dont_have: true,
            }],
            full: true,
            blocks: vec![b.clone(), Block::dag_pb(vec![0x0a, 0x02, 0x08, 0x01], 0)],
            presences: vec![(b.cid, Presence::DontHave)],
            pending_bytes: 7,
        };
        assert_eq!(Message::decode(&msg.encode()), Ok(msg.clone()));
        // Flip a data byte: the decoded block gets a different CID, never the claimed one.
        let mut wire = Message {
            blocks: vec![b.clone()],
            ..Default::default()
        }
        .encode();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let decoded = Message::decode(&wire).expect("decodes");
        assert_ne!(decoded.blocks[0].cid, b.cid);
    }

    #[test]
    fn frames_split_and_oversized_lengths_fail_early() {
        let a = frame(b"abc");
        let mut buf = BytesMut::from(&[a.clone(), a.clone(), a[..2].to_vec()].concat()[..]);
        assert_eq!(
            take_frames(&mut buf),
            Ok(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"abc")])
        );
        assert_eq!(&buf[..], &a[..2]);
        assert_eq!(frame_prefix(3), a[..1].to_vec());
        let mut raw = Vec::new();
        pb::put_varint(&mut raw, 64 * 1024 * 1024);
        let mut huge = BytesMut::from(&raw[..]);
        assert_eq!(
            take_frames(&mut huge),
            Err(MessageError::TooLarge(64 * 1024 * 1024))
        );
    }
}
