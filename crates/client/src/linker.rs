//! Linking blocks read from an untrusted node to a certified one. A follower checks one
//! finality certificate per batch ([`crate::Client::certified`]) and reads the blocks up to it
//! one by one; each must have the height asked for and extend the one before it by its parent
//! hash, and the last must be the certified block, so the node cannot slip in a block that
//! is not on the finalized chain.

use crate::client::CheckedBlock;
use crate::follower::Certified;
use crust_light::Hash;

/// A run of blocks being linked, from the last block the follower accepted.
pub struct Linker {
    parent: Option<Hash>,
    blocks: Vec<(u64, CheckedBlock)>,
}

impl Linker {
    /// Starts after the block with hash `parent` (`None`: nothing followed yet).
    pub fn new(parent: Option<Hash>) -> Self {
        Self {
            parent,
            blocks: Vec::new(),
        }
    }

    /// Takes the block the node sent for `height`.
    pub fn push(&mut self, height: u64, block: CheckedBlock) -> Result<(), String> {
        if block.header.height != height {
            return Err(format!(
                "the node sent block {} for height {height}",
                block.header.height
            ));
        }
        if let Some(p) = self.parent
            && block.header.parent != p
        {
            return Err(format!(
                "block {height} does not extend the followed block {p}: refusing the RPC node's chain"
            ));
        }
        self.parent = Some(block.hash);
        self.blocks.push((height, block));
        Ok(())
    }

    /// The node no longer keeps the block at this height: what came before cannot be linked
    /// to the certified block, so it is dropped unread, and the run starts again after it.
    pub fn gap(&mut self) {
        self.blocks.clear();
        self.parent = None;
    }

    /// The linked blocks, once the last is the certified block (of its era, or the last
    /// block of the era before, re-proposed at the boundary).
    pub fn finish(self, certified: &Certified) -> Result<Vec<(u64, CheckedBlock)>, String> {
        match self.blocks.last() {
            Some((_, last)) if last.hash != certified.hash => Err(format!(
                "block {} is not the block its finality certificate names",
                certified.height
            )),
            Some((_, last))
                if last.header.era != certified.era && last.header.era + 1 != certified.era =>
            {
                Err(format!(
                    "block {} of era {} is certified by era {}",
                    certified.height, last.header.era, certified.era
                ))
            }
            _ => Ok(self.blocks),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crust_light::block::Header;

    fn chain(n: u64, era: u64, fork: u8) -> Vec<CheckedBlock> {
        let mut parent = Hash::default();
        (1..=n)
            .map(|height| {
                let header = Header {
                    parent,
                    height,
                    timestamp_ms: height * 1000,
                    era,
                    proposer: Default::default(),
                    state_root: Hash([fork; 32]),
                    tx_root: Hash::default(),
                    receipts_root: Hash::default(),
                    evidence_root: Hash::default(),
                };
                let hash = header.hash();
                parent = hash;
                CheckedBlock {
                    hash,
                    header,
                    txs: Vec::new(),
                }
            })
            .collect()
    }

    fn certified(b: &CheckedBlock, era: u64) -> Certified {
        Certified {
            height: b.header.height,
            hash: b.hash,
            era,
        }
    }

    #[test]
    fn a_linked_run_ending_at_the_certified_block_is_taken() {
        let blocks = chain(5, 2, 0);
        let mut l = Linker::new(Some(blocks[1].hash));
        for b in &blocks[2..] {
            l.push(b.header.height, b.clone()).unwrap();
        }
        let run = l.finish(&certified(&blocks[4], 2)).unwrap();
        assert_eq!(
            run.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        // The era's last block, certified at the boundary by the next era's committee.
        let mut l = Linker::new(None);
        l.push(5, blocks[4].clone()).unwrap();
        assert!(l.finish(&certified(&blocks[4], 3)).is_ok());
    }

    #[test]
    fn a_node_that_lies_about_any_block_is_refused() {
        let honest = chain(5, 2, 0);
        let fork = chain(5, 2, 9);
        // Wrong height.
        let mut l = Linker::new(None);
        assert!(
            l.push(4, honest[4].clone())
                .unwrap_err()
                .contains("sent block 5 for height 4")
        );
        // A block that does not extend the one followed.
        let mut l = Linker::new(Some(honest[1].hash));
        assert!(
            l.push(3, fork[2].clone())
                .unwrap_err()
                .contains("does not extend")
        );
        // A whole forked run that ends somewhere else than the certified block.
        let mut l = Linker::new(None);
        for b in &fork {
            l.push(b.header.height, b.clone()).unwrap();
        }
        let err = l.finish(&certified(&honest[4], 2)).err().unwrap();
        assert!(
            err.contains("not the block its finality certificate names"),
            "{err}"
        );
        // The right hash but certified by an unrelated era's committee.
        let mut l = Linker::new(None);
        l.push(5, honest[4].clone()).unwrap();
        assert!(
            l.finish(&certified(&honest[4], 7))
                .err()
                .unwrap()
                .contains("certified by era 7")
        );
    }

    #[test]
    fn a_gap_restarts_the_run_after_it() {
        let blocks = chain(6, 1, 0);
        let mut l = Linker::new(Some(Hash([1; 32])));
        // Blocks 1–2 are gone from the node; the run starts again at 3.
        l.gap();
        l.gap();
        for b in &blocks[2..] {
            l.push(b.header.height, b.clone()).unwrap();
        }
        let run = l.finish(&certified(&blocks[5], 1)).unwrap();
        assert_eq!(run.first().map(|(h, _)| *h), Some(3));
    }
}
