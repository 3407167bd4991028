//! The block as consensus sees it: [`crate::Block`] with its header hash as digest.

use crate::block::{
    Block, Evidence, Header, MAX_BLOCK_EVIDENCE, MAX_BLOCK_TX_BYTES, MAX_BLOCK_TXS,
    MAX_EVIDENCE_BYTES,
};
use crate::tx::{MAX_TX_BYTES, Transaction};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt as _, Write};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digestible, sha256::Digest};
use crust_primitives::codec::BufMut;

/// Decoding bounds for blocks received from peers or storage.
#[derive(Clone, Copy, Debug)]
pub struct BlockCfg {
    /// Most transactions per block.
    pub max_txs: usize,
}

/// The bounds every node uses: as many transactions as any protocol version this binary
/// knows allows (the version in effect is checked when the block is executed).
pub const BLOCK_CFG: BlockCfg = BlockCfg {
    max_txs: crust_runtime::system::MAX_BLOCK_TXS_ANY_VERSION,
};

/// A block wrapped for consensus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock(pub Block);

pub(crate) use crust_light::finality::{to_digest, to_hash};

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        crust_primitives::codec::Write::write(&self.0, buf);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        crust_primitives::codec::EncodeSize::encode_size(&self.0)
    }
}

impl Read for ConsensusBlock {
    type Cfg = BlockCfg;

    fn read_cfg(buf: &mut impl Buf, cfg: &BlockCfg) -> Result<Self, CodecError> {
        let header = Header::read(buf)?;
        let max = cfg.max_txs.min(MAX_BLOCK_TXS);
        let transactions = Vec::<Transaction>::read_cfg(buf, &(RangeCfg::from(..=max), ()))?;
        let evidence =
            Vec::<Evidence>::read_cfg(buf, &(RangeCfg::from(..=MAX_BLOCK_EVIDENCE), ()))?;
        Ok(Self(Block {
            header,
            transactions,
            evidence,
        }))
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        to_digest(&self.0.hash())
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.0.header.height)
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        to_digest(&self.0.header.parent)
    }
}

impl commonware_consensus::BoundedBlock for ConsensusBlock {
    fn max_encode_size(cfg: &BlockCfg) -> usize {
        // Header (fixed width) + a length prefix + the transactions (each with its length
        // prefix, together at most a block's bytes) + the evidence.
        let txs = cfg.max_txs.min(MAX_BLOCK_TXS);
        256 + 5
            + (txs * MAX_TX_BYTES).min(MAX_BLOCK_TX_BYTES + txs * 8)
            + 5
            + MAX_BLOCK_EVIDENCE * (16 + MAX_EVIDENCE_BYTES)
    }
}
