//! Application block: header fields + opaque txs, codec + sha256 digest.

use bytes::BufMut;
// NB: `Read` takes commonware_codec::Buf (its own trait), `Write` takes bytes::BufMut.
use commonware_codec::{Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digest as _, Digestible, Hasher, Sha256, sha256::Digest};

/// Codec bounds for decoding blocks received from the network / storage.
#[derive(Clone, Copy, Debug)]
pub struct BlockCfg {
    pub max_txs: usize,
    pub max_tx_bytes: usize,
}

pub const BLOCK_CFG: BlockCfg = BlockCfg {
    max_txs: 64,
    max_tx_bytes: 1024,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub parent: Digest,
    pub height: Height,
    /// Milliseconds since UNIX epoch (simulated clock under the deterministic runtime).
    pub timestamp: u64,
    pub txs: Vec<Vec<u8>>,
    pub state_root: Digest,
}

impl Block {
    pub fn genesis() -> Self {
        Self {
            parent: Digest::EMPTY,
            height: Height::zero(),
            timestamp: 0,
            txs: Vec::new(),
            state_root: Sha256::hash(&[b"cwproto-genesis-state".as_slice()]),
        }
    }
}

/// Deterministic "state transition": chain the parent root with height and every tx.
pub fn compute_state_root(parent_root: &Digest, height: Height, txs: &[Vec<u8>]) -> Digest {
    let mut root = Sha256::hash(&[parent_root.as_ref(), &height.get().to_be_bytes()]);
    for tx in txs {
        root = Sha256::hash(&[root.as_ref(), &(tx.len() as u64).to_be_bytes(), tx]);
    }
    root
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp.write(buf);
        self.txs.write(buf);
        self.state_root.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.parent.encode_size()
            + self.height.encode_size()
            + self.timestamp.encode_size()
            + self.txs.encode_size()
            + self.state_root.encode_size()
    }
}

impl Read for Block {
    type Cfg = BlockCfg;

    fn read_cfg(buf: &mut impl Buf, cfg: &Self::Cfg) -> Result<Self, CodecError> {
        let parent = Digest::read(buf)?;
        let height = Height::read(buf)?;
        let timestamp = u64::read(buf)?;
        let txs = Vec::<Vec<u8>>::read_cfg(
            buf,
            &(
                RangeCfg::from(..=cfg.max_txs),
                (RangeCfg::from(..=cfg.max_tx_bytes), ()),
            ),
        )?;
        let state_root = Digest::read(buf)?;
        Ok(Self {
            parent,
            height,
            timestamp,
            txs,
            state_root,
        })
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        // The encoding is canonical (fixed-width fields + varint lengths), so hashing it
        // commits to every field.
        use commonware_codec::Encode;
        Sha256::hash(&[self.encode().as_ref()])
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        self.height
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(cfg: &BlockCfg) -> usize {
        use commonware_codec::{FixedSize, MaxEncodeSize, varint::UInt};
        // varint length prefixes are at most 5 bytes for usize lengths < 2^32
        Digest::SIZE
            + Height::MAX_ENCODE_SIZE
            + u64::SIZE
            + UInt::<u32>::MAX_ENCODE_SIZE
            + cfg.max_txs * (UInt::<u32>::MAX_ENCODE_SIZE + cfg.max_tx_bytes)
            + Digest::SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode;

    #[test]
    fn roundtrip() {
        let b = Block {
            parent: Sha256::hash(&[b"p".as_slice()]),
            height: Height::new(7),
            timestamp: 1234,
            txs: vec![b"a".to_vec(), vec![0u8; 300]],
            state_root: Sha256::hash(&[b"r".as_slice()]),
        };
        let bytes = b.encode();
        assert_eq!(bytes.len(), b.encode_size());
        let d = <Block as commonware_codec::Decode>::decode_cfg(bytes.clone(), &BLOCK_CFG).unwrap();
        assert_eq!(b, d);
        assert!(bytes.len() <= <Block as commonware_consensus::BoundedBlock>::max_encode_size(&BLOCK_CFG));
    }
}
