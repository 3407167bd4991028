//! How much memory the data network may use for blocks in flight, from a role's budget.
//!
//! Two buffers follow the load: the server's shared send queue (blocks read for peers and not
//! yet written, [`crate::queue`]) and the look-ahead fetches of network reads (each holds one
//! block until stored, [`crate::network_store`]). Both are sized here from the bytes a role
//! gives the network, so `crust ipfs daemon --memory` and `crust sworker run --memory` bound
//! them.

use crate::network_store::LOOK_AHEAD_BUDGET;
use crate::queue::SERVER_BUDGET;

const MIB: u64 = 1 << 20;
/// Typical block size the look-ahead budget is counted in (UnixFS chunks are 256 KiB).
const TYPICAL_BLOCK: u64 = 256 * 1024;

/// Limits of the data network's in-flight buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetMemory {
    /// Bytes in flight to all peers together (the serve queue's capacity).
    pub serve_bytes: usize,
    /// Look-ahead fetches under way at once across all readers.
    pub look_ahead: usize,
}

impl Default for NetMemory {
    /// 256 MiB of sends in flight and 256 look-ahead fetches (~64 MiB).
    fn default() -> Self {
        Self {
            serve_bytes: SERVER_BUDGET,
            look_ahead: LOOK_AHEAD_BUDGET,
        }
    }
}

impl NetMemory {
    /// Divides `bytes`: two thirds to the serve queue (8–256 MiB; at least four of the largest
    /// blocks), one third to look-ahead fetches (16–256 fetches of a 256 KiB block).
    pub fn from_bytes(bytes: u64) -> Self {
        let serve = (bytes / 3 * 2).clamp(8 * MIB, SERVER_BUDGET as u64);
        let look_ahead = (bytes / 3 / TYPICAL_BLOCK).clamp(16, LOOK_AHEAD_BUDGET as u64);
        Self {
            serve_bytes: usize::try_from(serve).unwrap_or(SERVER_BUDGET),
            look_ahead: usize::try_from(look_ahead).unwrap_or(LOOK_AHEAD_BUDGET),
        }
    }

    /// The most these buffers hold at once, approximately.
    pub fn bytes(&self) -> u64 {
        self.serve_bytes as u64 + self.look_ahead as u64 * TYPICAL_BLOCK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_budget_within_bounds() {
        let small = NetMemory::from_bytes(0);
        assert_eq!(small.serve_bytes as u64, 8 * MIB);
        assert_eq!(small.look_ahead, 16);
        let mid = NetMemory::from_bytes(96 * MIB);
        assert_eq!(mid.serve_bytes as u64, 64 * MIB);
        assert_eq!(mid.look_ahead, 128);
        assert!(mid.bytes() <= 96 * MIB);
        assert_eq!(NetMemory::from_bytes(u64::MAX), NetMemory::default());
    }
}
