//! Shared parts of the storage-worker tests: an in-memory chain running the real runtime, and
//! deterministic test data.

#![allow(dead_code)] // each test binary uses a different subset

use crust_ipfs::blockstore::{Blockstore, StoreSink};
use crust_ipfs::importer::{ImportOptions, import_file};
use crust_primitives::{AccountId, Cid, Keypair};
use crust_runtime::swork;
use crust_runtime::{BlockContext, CallContext, Genesis, MemoryState};

/// Report slot length of the test chains, in blocks.
pub const SLOT_BLOCKS: u64 = 10;

/// Incompressible-looking deterministic bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Imports `data` with Kubo's defaults into `store`.
pub fn import(store: &dyn Blockstore, data: &[u8]) -> Cid {
    import_file(
        data,
        &ImportOptions::default(),
        &mut StoreSink(store),
        &mut |_| {},
    )
    .expect("import")
    .cid
}

/// The chains' one dev attestation authority.
pub fn authority() -> Keypair {
    Keypair::from_suri("//Authority").expect("dev uri")
}

/// The hash the test chains give block `height`.
pub fn block_hash(height: u64) -> [u8; 32] {
    let mut h = [0x42; 32];
    h[..8].copy_from_slice(&height.to_be_bytes());
    h
}

/// A chain in memory: the runtime's state and block hooks, report slots of [`SLOT_BLOCKS`],
/// the market enabled, `code` allowlisted and [`authority`] the attestation authority.
pub struct Chain {
    pub state: MemoryState,
    pub height: u64,
    pub governance: AccountId,
}

impl Chain {
    pub fn new(code: [u8; 32]) -> Self {
        let governance = AccountId([0xee; 32]);
        let state = Genesis::reference(governance)
            .with_config(|c| c.report_slot_blocks = SLOT_BLOCKS)
            .with_market(|m| m.enable_market = true)
            // Software enclaves attested by the dev authority, whose SRD a dev chain counts
            // (D31), as the `dev` spec does.
            .with_srd_counting_authorities(true)
            .build()
            .expect("genesis");
        let mut chain = Self {
            state,
            height: 0,
            governance,
        };
        let root = chain.ctx(governance);
        swork::set_code(&mut chain.state, &root, &code, 1_000_000).expect("code");
        swork::set_authorities(&mut chain.state, &root, &[authority().public()], 1)
            .expect("authorities");
        chain.advance_to(1);
        chain
    }

    pub fn ctx(&self, who: AccountId) -> CallContext {
        CallContext {
            caller: who,
            height: self.height,
            era: 0,
        }
    }

    /// Runs every block's hooks up to `height`.
    pub fn advance_to(&mut self, height: u64) {
        while self.height < height {
            self.height += 1;
            let block = BlockContext {
                height: self.height,
                era: 0,
                author: self.governance,
                parent_hash: block_hash(self.height - 1),
                timestamp_ms: 0,
            };
            crust_runtime::executive::begin_block(&mut self.state, &block).expect("block");
        }
    }
}
