//! Memory budgets of the three long-running roles (`crust node`, `crust sworker run`,
//! `crust ipfs daemon`): their `--memory` flags, the start-up check, and a watchdog that warns
//! when the process grows past its budget.
//!
//! A validator's budget is divided by [`crust_chain::memory::NodeMemory`]. An IPFS daemon's and
//! a storage worker's budgets are divided here: a fixed base, the repository's block index
//! (it stays in memory, ~200 bytes a block, and grows with what is stored), and the data
//! network's in-flight buffers ([`crust_net::NetMemory`]), which get half of what is left.

use std::time::Duration;

const MIB: u64 = 1 << 20;

/// Smallest budget of a content role (daemon or storage worker).
pub const CONTENT_MIN: u64 = 64 * MIB;
/// Memory of a content role before any blocks or load: code, runtime, libp2p, HTTP servers
/// (measured 19 MB for an idle daemon and 29 MB for an idle storage worker).
pub const CONTENT_BASE: u64 = 40 * MIB;
/// Memory per block of the repository's in-memory index (key, location, CID, map overhead).
pub const INDEX_BYTES_PER_BLOCK: u64 = 200;

/// How a content role's budget is divided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentMemory {
    /// The whole budget.
    pub budget: u64,
    /// The data network's in-flight buffers.
    pub net: crust_net::NetMemory,
}

impl ContentMemory {
    /// Divides `budget` for a role whose repositories hold `blocks` blocks; refuses a budget
    /// below [`CONTENT_MIN`] or one that cannot hold the block index, saying what would.
    pub fn plan(role: &str, budget: u64, blocks: u64) -> Result<Self, String> {
        if budget < CONTENT_MIN {
            return Err(format!(
                "{role}: memory budget {} MiB is below the {} MiB this role needs; raise --memory",
                budget / MIB,
                CONTENT_MIN / MIB
            ));
        }
        let index = blocks.saturating_mul(INDEX_BYTES_PER_BLOCK);
        let free = budget - CONTENT_BASE;
        if index > free / 2 {
            let suggest = (CONTENT_BASE + index.saturating_mul(2)).div_ceil(MIB);
            return Err(format!(
                "{role}: the repository's {blocks} blocks need ~{} MiB of index in memory, more than half of what memory budget {} MiB leaves after the {} MiB base; raise --memory to at least {suggest} MiB",
                index.div_ceil(MIB),
                budget / MIB,
                CONTENT_BASE / MIB
            ));
        }
        Ok(Self {
            budget,
            net: crust_net::NetMemory::from_bytes((free - index) / 2),
        })
    }

    /// One line for the start-up log.
    pub fn describe(&self, blocks: u64) -> String {
        format!(
            "memory budget {} MiB: base {} MiB, block index {} MiB ({blocks} blocks), sends in flight {} MiB, look-ahead {} fetches",
            self.budget / MIB,
            CONTENT_BASE / MIB,
            (blocks * INDEX_BYTES_PER_BLOCK).div_ceil(MIB),
            self.net.serve_bytes as u64 / MIB,
            self.net.look_ahead
        )
    }
}

/// This process's resident memory, in bytes (Linux: `/proc/self/statm`; elsewhere `None`).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Starts a thread that checks resident memory every 10 s and warns on stderr when it is above
/// `budget`: once when it crosses, again every 10 minutes while it stays above, and once when
/// it is back under. The budget sizes caches; this tells the operator when what the role needs
/// (its state or index) has outgrown it.
pub fn watch(role: &'static str, budget: u64) {
    let _ = std::thread::Builder::new()
        .name("memory-watch".into())
        .spawn(move || {
            let mut over_since: Option<std::time::Instant> = None;
            let mut last_warning = std::time::Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(10));
                let Some(rss) = resident_bytes() else { return };
                match (rss > budget, over_since) {
                    (true, None) => {
                        tracing::warn!(
                            target: "crust::memory",
                            "{role} uses {} MiB, above its memory budget of {} MiB (--memory); its state or index has outgrown the budget",
                            rss / MIB,
                            budget / MIB
                        );
                        over_since = Some(std::time::Instant::now());
                        last_warning = std::time::Instant::now();
                    }
                    (true, Some(_)) if last_warning.elapsed() >= Duration::from_secs(600) => {
                        tracing::warn!(
                            target: "crust::memory",
                            "{role} still uses {} MiB, above its memory budget of {} MiB",
                            rss / MIB,
                            budget / MIB
                        );
                        last_warning = std::time::Instant::now();
                    }
                    (false, Some(_)) => {
                        tracing::info!(
                            target: "crust::memory",
                            "{role} memory back under budget: {} MiB of {} MiB",
                            rss / MIB,
                            budget / MIB
                        );
                        over_since = None;
                    }
                    _ => {}
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_budgets_follow_the_index_and_refuse_with_a_way_out() {
        let m = ContentMemory::plan("ipfs daemon", 512 * MIB, 0).unwrap();
        assert!(CONTENT_BASE + m.net.bytes() <= m.budget);
        let e = ContentMemory::plan("ipfs daemon", 32 * MIB, 0).unwrap_err();
        assert!(e.contains("below the 64 MiB"), "{e}");
        // 4 million blocks (1 TiB of 256 KiB chunks) need ~763 MiB of index.
        let e = ContentMemory::plan("ipfs daemon", 512 * MIB, 4_000_000).unwrap_err();
        assert!(e.contains("raise --memory to at least 1566 MiB"), "{e}");
        let ok = ContentMemory::plan("ipfs daemon", 1566 * MIB, 4_000_000).unwrap();
        assert!(CONTENT_BASE + 4_000_000 * INDEX_BYTES_PER_BLOCK + ok.net.bytes() <= ok.budget);
    }

    #[test]
    fn resident_memory_is_read() {
        let rss = resident_bytes().expect("Linux /proc");
        assert!(rss > MIB && rss < 64 * 1024 * MIB, "{rss}");
    }
}
