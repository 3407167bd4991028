//! A validator's memory budget: how `crust node --memory` is divided among the node's caches
//! and pools, and the check that the budget covers what the node needs.
//!
//! What a node holds, and what sizes it:
//! - a fixed base: code, threads, the p2p mailboxes (one quota burst per retained peer, see
//!   [`crate::consensus::node::channel_quota`]: ~1.1 MB a peer; a 4-seat network retains 29,
//!   see [`crate::peers`]), consensus journals' buffers — measured at ~82 MB resident for an
//!   idle validator of a 4-node network, budgeted as [`BASE_BYTES`];
//! - the committed state, mirrored in memory for execution, plus QMDB's in-memory index: this
//!   grows with the chain's state (accounts, files, replicas), not with load, and is checked
//!   when the node starts ([`NodeMemory::check_state`]);
//! - the mempool, the recent-block cache, the transaction index and the state store's page
//!   cache: these follow the load and are sized from the budget here, so a busy node stays
//!   within it.

use crate::history::HistoryConfig;
use crate::mempool::MempoolConfig;

/// One mebibyte.
const MIB: u64 = 1 << 20;

/// Memory a validator needs before any state or load (code, runtime, network, journals).
pub const BASE_BYTES: u64 = 80 * MIB;

/// The smallest budget a node accepts.
pub const MIN_BUDGET: u64 = 128 * MIB;

/// The default budget of `crust node`.
pub const DEFAULT_BUDGET: u64 = 512 * MIB;

/// Approximate memory per state entry beyond its key and value bytes: the in-memory mirror's
/// tree node and QMDB's index entry.
pub const STATE_ENTRY_OVERHEAD: u64 = 160;

/// Memory of the mempool's cache of signers' keys, at most.
const KEY_CACHE_BYTES: u64 = crust_primitives::account::KeyCache::MAX_BYTES as u64;

/// Why a memory budget cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// The budget is below the node's minimum.
    #[error(
        "memory budget {budget} MiB is below the {min} MiB a validator needs (base {base} MiB plus the smallest caches); raise --memory",
        budget = .budget / MIB, min = MIN_BUDGET / MIB, base = BASE_BYTES / MIB
    )]
    TooSmall {
        /// The budget given.
        budget: u64,
    },
    /// The chain's state does not fit in what the budget leaves for it.
    #[error(
        "the chain state needs ~{needs} MiB in memory ({entries} entries, {bytes} MiB of keys and values) but memory budget {budget} MiB leaves {room} MiB for it after the base and caches; raise --memory to at least {suggest} MiB",
        needs = .needs / MIB, bytes = .bytes / MIB, budget = .budget / MIB, room = .room / MIB,
        suggest = (.budget - .room + .needs * 2).div_ceil(MIB)
    )]
    StateTooLarge {
        /// The budget given.
        budget: u64,
        /// State entries.
        entries: u64,
        /// Bytes of keys and values.
        bytes: u64,
        /// Estimated memory the state needs.
        needs: u64,
        /// What the budget leaves for state.
        room: u64,
    },
}

/// How a node's memory budget is divided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMemory {
    /// The whole budget, in bytes.
    pub budget: u64,
    /// Mempool limits (its byte limit follows the budget).
    pub mempool: MempoolConfig,
    /// Recent blocks and transaction index kept in memory.
    pub history: HistoryConfig,
    /// Pages of the state store's page cache (4 KiB each).
    pub state_cache_pages: usize,
}

impl Default for NodeMemory {
    fn default() -> Self {
        Self::plan(DEFAULT_BUDGET).unwrap_or_else(|_| Self::minimal())
    }
}

impl NodeMemory {
    fn minimal() -> Self {
        Self {
            budget: MIN_BUDGET,
            mempool: MempoolConfig::default(),
            history: HistoryConfig::default(),
            state_cache_pages: 256,
        }
    }

    /// Divides `budget` bytes: of what is left after [`BASE_BYTES`], 1/4 goes to the mempool
    /// (at most 64 MiB, its key cache included), 1/8 to recent blocks, 1/16 to the transaction
    /// index, 1/16 to the state page cache (at most 64 MiB), and the rest (at least half) to
    /// the state. Every share is memory, not encoded bytes: the pools count transactions at
    /// their in-memory size ([`crate::sizes`]).
    pub fn plan(budget: u64) -> Result<Self, MemoryError> {
        if budget < MIN_BUDGET {
            return Err(MemoryError::TooSmall { budget });
        }
        let free = budget - BASE_BYTES;
        let mempool_bytes = (free / 4).min(64 * MIB).saturating_sub(KEY_CACHE_BYTES);
        let mempool = MempoolConfig {
            max_bytes: to_usize(mempool_bytes),
            // ~750 bytes of memory per queued transfer: the count limit never binds first.
            max_txs: to_usize(mempool_bytes / 512).max(1024),
            ..MempoolConfig::default()
        };
        let history = HistoryConfig {
            cache_bytes: to_usize(free / 8),
            indexed_txs: HistoryConfig::index_for_bytes(to_usize(free / 16)).max(1024),
        };
        let state_cache_pages = to_usize((free / 16).min(64 * MIB) / 4096).max(256);
        Ok(Self {
            budget,
            mempool,
            history,
            state_cache_pages,
        })
    }

    /// Bytes the load-following caches and pools may take at most.
    pub fn caches(&self) -> u64 {
        self.mempool.max_bytes as u64
            + KEY_CACHE_BYTES
            + self.history.cache_bytes as u64
            + self.history.index_bytes() as u64
            + self.state_cache_pages as u64 * 4096
    }

    /// Bytes the budget leaves for the chain state.
    pub fn state_room(&self) -> u64 {
        self.budget.saturating_sub(BASE_BYTES + self.caches())
    }

    /// Checks that a state of `entries` entries and `bytes` key and value bytes fits.
    pub fn check_state(&self, entries: u64, bytes: u64) -> Result<(), MemoryError> {
        let needs = bytes + entries * STATE_ENTRY_OVERHEAD;
        let room = self.state_room();
        if needs > room {
            return Err(MemoryError::StateTooLarge {
                budget: self.budget,
                entries,
                bytes,
                needs,
                room,
            });
        }
        Ok(())
    }

    /// One line per part, for the node's start-up log.
    pub fn describe(&self) -> String {
        format!(
            "memory budget {} MiB: base {} MiB, mempool {} MiB ({} txs), recent blocks {} MiB, tx index {} txs, state cache {} MiB, state {} MiB",
            self.budget / MIB,
            BASE_BYTES / MIB,
            (self.mempool.max_bytes as u64 + KEY_CACHE_BYTES) / MIB,
            self.mempool.max_txs,
            self.history.cache_bytes as u64 / MIB,
            self.history.indexed_txs,
            self.state_cache_pages as u64 * 4096 / MIB,
            self.state_room() / MIB,
        )
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_budget_adds_up_and_leaves_half_for_state() {
        for mib in [128u64, 192, 256, 512, 1024, 4096, 65_536] {
            let m = NodeMemory::plan(mib * MIB).unwrap();
            assert!(
                BASE_BYTES + m.caches() <= m.budget,
                "{mib} MiB: caches overflow"
            );
            assert!(
                m.state_room() >= (m.budget - BASE_BYTES) / 2 - MIB,
                "{mib} MiB: {}",
                m.describe()
            );
            assert!(m.mempool.max_bytes as u64 <= 64 * MIB);
        }
        // The default budget queues ~80 000 transfers (~750 bytes of memory each), far above
        // what a saturating load leaves waiting.
        let d = NodeMemory::default();
        assert_eq!(d.budget, DEFAULT_BUDGET);
        assert!(d.mempool.max_bytes >= 56 << 20);
    }

    #[test]
    fn too_small_budgets_and_states_are_refused_with_a_way_out() {
        let e = NodeMemory::plan(64 * MIB).unwrap_err();
        assert!(e.to_string().contains("below the 128 MiB"), "{e}");
        let m = NodeMemory::plan(128 * MIB).unwrap();
        assert!(m.check_state(1000, 100_000).is_ok());
        let e = m.check_state(1_000_000, 200 * MIB).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("raise --memory to at least"), "{text}");
        // The suggested budget does fit that state.
        let MemoryError::StateTooLarge { needs, .. } = e else {
            panic!("wrong error")
        };
        let suggest = (m.budget - m.state_room() + needs * 2).div_ceil(MIB) * MIB;
        let bigger = NodeMemory::plan(suggest).unwrap();
        assert!(bigger.check_state(1_000_000, 200 * MIB).is_ok());
    }
}
