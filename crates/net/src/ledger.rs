//! The credit ledger: what each peer has given us and taken from us over Bitswap.
//!
//! The reference network's retrieval layer pays attention to who serves and who only takes
//! (its Bitswap "credit" system). Here each peer's bytes sent and received decide how much
//! data the server keeps in flight for it: peers the chain shows as storing replicas get the
//! most, ordinary peers a fair share, and peers that have taken far more than they gave — past
//! a free allowance, so new peers are always served — get a trickle. Protocol violations are
//! counted too; enough of them and the peer is banned for a while.

use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes in flight to an ordinary peer.
pub const FAIR_BUDGET: usize = 16 * 1024 * 1024;
/// Bytes in flight to a peer that stores replicas on our network.
pub const REPLICA_BUDGET: usize = 64 * 1024 * 1024;
/// Bytes in flight to a free-rider.
pub const FREE_RIDER_BUDGET: usize = 1024 * 1024;
/// Bytes any peer may take before its debt ratio counts.
pub const FREE_ALLOWANCE: u64 = 1024 * 1024 * 1024;
/// Sent/received ratio above which a peer past the allowance is a free-rider.
pub const FREE_RIDER_RATIO: u64 = 100;
/// Unsolicited block bytes that count as one violation (an honest peer sends a few when a
/// cancel crosses its reply; a flood is a violation every this many bytes).
pub const UNSOLICITED_PER_VIOLATION: u64 = 8 * 1024 * 1024;
/// Violations that get a peer banned.
pub const BAN_AFTER_VIOLATIONS: u32 = 3;
/// How long a ban lasts.
pub const BAN_FOR: Duration = Duration::from_secs(600);

/// One peer's account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Block bytes we sent it.
    pub bytes_sent: u64,
    /// Block bytes it sent us that we asked for.
    pub bytes_received: u64,
    /// Blocks we sent it.
    pub blocks_sent: u64,
    /// Blocks it sent us that we asked for.
    pub blocks_received: u64,
    /// Block bytes it sent that nobody here wanted.
    pub unsolicited_bytes: u64,
    /// Malformed messages, invalid blocks and floods seen from it.
    pub violations: u32,
}

impl Account {
    /// Bytes sent per byte received (Kubo's `Value` in `bitswap ledger`), as a float for display.
    pub fn debt_ratio(&self) -> f64 {
        self.bytes_sent as f64 / (self.bytes_received as f64 + 1.0)
    }

    fn free_rider(&self) -> bool {
        self.bytes_sent > FREE_ALLOWANCE
            && self.bytes_sent / (self.bytes_received + 1) > FREE_RIDER_RATIO
    }
}

/// How the server treats a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Stores replicas of our network's files: served first and most.
    ReplicaHolder,
    /// Served a fair share.
    Fair,
    /// Took far more than it gave: throttled.
    FreeRider,
    /// Broke the protocol too often: ignored until the ban ends.
    Banned,
}

/// All peers' accounts.
#[derive(Default)]
pub struct Ledger {
    accounts: Mutex<HashMap<PeerId, Account>>,
    replica_holders: Mutex<HashSet<PeerId>>,
    bans: Mutex<HashMap<PeerId, Instant>>,
}

impl Ledger {
    fn with<T>(&self, peer: PeerId, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        f(accounts.entry(peer).or_default())
    }

    /// Records a block sent to `peer`.
    pub fn sent(&self, peer: PeerId, bytes: usize) {
        self.with(peer, |a| {
            a.bytes_sent += bytes as u64;
            a.blocks_sent += 1;
        });
    }

    /// Records a wanted block received from `peer`.
    pub fn received(&self, peer: PeerId, bytes: usize) {
        self.with(peer, |a| {
            a.bytes_received += bytes as u64;
            a.blocks_received += 1;
        });
    }

    /// Records block bytes nobody wanted; returns true when they earn `peer` a ban.
    pub fn unsolicited(&self, peer: PeerId, bytes: usize) -> bool {
        let crossed = self.with(peer, |a| {
            let before = a.unsolicited_bytes / UNSOLICITED_PER_VIOLATION;
            a.unsolicited_bytes += bytes as u64;
            a.unsolicited_bytes / UNSOLICITED_PER_VIOLATION > before
        });
        crossed && self.violation(peer)
    }

    /// Records a protocol violation; returns true when it earns `peer` a ban.
    pub fn violation(&self, peer: PeerId) -> bool {
        let violations = self.with(peer, |a| {
            a.violations += 1;
            a.violations
        });
        if violations >= BAN_AFTER_VIOLATIONS {
            self.bans
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(peer, Instant::now() + BAN_FOR);
            return true;
        }
        false
    }

    /// Replaces the set of peers known (from the chain) to store replicas.
    pub fn set_replica_holders(&self, peers: impl IntoIterator<Item = PeerId>) {
        *self
            .replica_holders
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = peers.into_iter().collect();
    }

    /// The peers known (from the chain) to store replicas.
    pub fn replica_holders(&self) -> Vec<PeerId> {
        let holders = self
            .replica_holders
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<PeerId> = holders.iter().copied().collect();
        out.sort_by_key(|p| p.to_bytes());
        out
    }

    /// How the server treats `peer` now.
    pub fn standing(&self, peer: &PeerId) -> Standing {
        {
            let mut bans = self.bans.lock().unwrap_or_else(|p| p.into_inner());
            match bans.get(peer) {
                Some(until) if *until > Instant::now() => return Standing::Banned,
                Some(_) => {
                    bans.remove(peer);
                    // A served ban wipes the slate, or one more slip would ban again at once.
                    self.with(*peer, |a| a.violations = 0);
                }
                None => {}
            }
        }
        if self
            .replica_holders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(peer)
        {
            return Standing::ReplicaHolder;
        }
        if self.with(*peer, |a| a.free_rider()) {
            Standing::FreeRider
        } else {
            Standing::Fair
        }
    }

    /// Where `peer` waits when the server's shared budget is short
    /// ([`crate::queue::ServeQueue`]): by standing, then by debt ratio.
    pub fn priority(&self, peer: &PeerId) -> crate::queue::Priority {
        let rank = match self.standing(peer) {
            Standing::ReplicaHolder => 0,
            Standing::Fair => 1,
            Standing::FreeRider | Standing::Banned => 2,
        };
        // A peer we have not traded with yet counts as even (1.0), so fresh identities do not
        // go ahead of peers that have given us something.
        let debt = self.with(*peer, |a| match (a.bytes_sent, a.bytes_received) {
            (0, 0) => 1024,
            (sent, received) => sent.saturating_mul(1024) / received.saturating_add(1),
        });
        crate::queue::Priority { rank, debt }
    }

    /// Bytes the server may have in flight to `peer`.
    pub fn budget(&self, peer: &PeerId) -> usize {
        match self.standing(peer) {
            Standing::ReplicaHolder => REPLICA_BUDGET,
            Standing::Fair => FAIR_BUDGET,
            Standing::FreeRider => FREE_RIDER_BUDGET,
            Standing::Banned => 0,
        }
    }

    /// One peer's account.
    pub fn account(&self, peer: &PeerId) -> Account {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(peer)
            .cloned()
            .unwrap_or_default()
    }

    /// Every account, by peer.
    pub fn accounts(&self) -> Vec<(PeerId, Account)> {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = accounts.iter().map(|(p, a)| (*p, a.clone())).collect();
        out.sort_by_key(|(p, _)| p.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_peers_are_served_and_free_riders_throttled() {
        let ledger = Ledger::default();
        let peer = PeerId::random();
        assert_eq!(ledger.budget(&peer), FAIR_BUDGET);
        // Taking 2 GiB and giving nothing makes a free-rider once past the allowance.
        for _ in 0..2048 {
            ledger.sent(peer, 1024 * 1024);
        }
        assert_eq!(ledger.standing(&peer), Standing::FreeRider);
        assert_eq!(ledger.budget(&peer), FREE_RIDER_BUDGET);
        // Giving back restores a fair share.
        for _ in 0..64 {
            ledger.received(peer, 1024 * 1024);
        }
        assert_eq!(ledger.standing(&peer), Standing::Fair);
        // Replica holders rank first whatever their ratio.
        let holder = PeerId::random();
        for _ in 0..4096 {
            ledger.sent(holder, 1024 * 1024);
        }
        ledger.set_replica_holders([holder]);
        assert_eq!(ledger.budget(&holder), REPLICA_BUDGET);
        let account = ledger.account(&holder);
        assert_eq!(account.blocks_sent, 4096);
        assert!(account.debt_ratio() > 1e9);
    }

    #[test]
    fn repeated_violations_ban() {
        let ledger = Ledger::default();
        let peer = PeerId::random();
        assert!(!ledger.violation(peer));
        assert!(!ledger.violation(peer));
        assert!(ledger.violation(peer));
        assert_eq!(ledger.standing(&peer), Standing::Banned);
        assert_eq!(ledger.budget(&peer), 0);
    }

    #[test]
    fn unsolicited_floods_are_violations() {
        let ledger = Ledger::default();
        let peer = PeerId::random();
        // A few stray blocks are tolerated.
        assert!(!ledger.unsolicited(peer, 1024 * 1024));
        assert_eq!(ledger.account(&peer).violations, 0);
        // Every further 8 MiB is a violation; the third bans.
        let mut banned = false;
        for _ in 0..24 {
            banned |= ledger.unsolicited(peer, 1024 * 1024);
        }
        assert_eq!(ledger.account(&peer).violations, 3);
        assert!(banned);
        assert_eq!(ledger.standing(&peer), Standing::Banned);
    }
}
