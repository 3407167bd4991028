//! The client's side of Bitswap as plain state: which blocks this node waits for, who waits
//! for each, and which were wanted until a moment ago (a late copy of one is a duplicate, not
//! an unsolicited block). No I/O; the clock is passed in.

use crust_ipfs::bitswap::Presence;
use crust_ipfs::{Block, Cid};
use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a block stays "recently wanted" after its want ended.
pub const LATE_BLOCK_GRACE: Duration = Duration::from_secs(60);
/// Most CIDs remembered as recently wanted (a bound on memory only).
pub const MAX_RECENTLY_WANTED: usize = 65_536;

/// What arrives for a want.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The block, from this peer (already checked against its CID by the codec).
    Block(Block, PeerId),
    /// This peer says it does not have the block.
    DontHave(PeerId),
}

/// Wants this node has out, each with its waiters (`W`: whatever reaches the one waiting).
pub struct ClientWants<W> {
    waiters: HashMap<Cid, Vec<(u64, W)>>,
    recently_wanted: HashMap<Cid, Instant>,
    next_id: u64,
}

impl<W> Default for ClientWants<W> {
    fn default() -> Self {
        Self {
            waiters: HashMap::new(),
            recently_wanted: HashMap::new(),
            next_id: 0,
        }
    }
}

/// What a received message means for the client side.
#[derive(Debug)]
pub struct Incoming<W> {
    /// Replies to hand to waiters.
    pub deliver: Vec<(W, Reply)>,
    /// Sizes of wanted blocks received (credit for the sender).
    pub received: Vec<usize>,
    /// Sizes of blocks nobody wanted, now or recently (charged to the sender).
    pub unsolicited: Vec<usize>,
}

impl<W: Clone> ClientWants<W> {
    /// Registers a waiter for `cid`; the id unregisters it.
    pub fn register(&mut self, cid: Cid, waiter: W) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.waiters.entry(cid).or_default().push((id, waiter));
        id
    }

    /// The want `id` for `cid` ended (delivered, failed or dropped) at `now`; a copy of the
    /// block arriving within [`LATE_BLOCK_GRACE`] is a duplicate, not unsolicited.
    pub fn unregister(&mut self, cid: Cid, id: u64, now: Instant) {
        if let Some(list) = self.waiters.get_mut(&cid) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                self.waiters.remove(&cid);
            }
        }
        if self.recently_wanted.len() >= MAX_RECENTLY_WANTED {
            self.recently_wanted
                .retain(|_, at| now.saturating_duration_since(*at) < LATE_BLOCK_GRACE);
            if self.recently_wanted.len() >= MAX_RECENTLY_WANTED {
                self.recently_wanted.clear();
            }
        }
        self.recently_wanted.insert(cid, now);
    }

    /// Sorts the blocks and presences `peer` sent: each wanted block goes to every waiter for
    /// it (and the want is fulfilled), each DontHave to the waiters for its CID. The first
    /// late copy of a recently wanted block uses its grace up, so repeated copies still count
    /// against their sender.
    pub fn receive(
        &mut self,
        peer: PeerId,
        blocks: &[Block],
        presences: &[(Cid, Presence)],
        now: Instant,
    ) -> Incoming<W> {
        let mut out = Incoming {
            deliver: Vec::new(),
            received: Vec::new(),
            unsolicited: Vec::new(),
        };
        for block in blocks {
            let Some(list) = self.waiters.remove(&block.cid) else {
                let late = self
                    .recently_wanted
                    .remove(&block.cid)
                    .is_some_and(|at| now.saturating_duration_since(at) < LATE_BLOCK_GRACE);
                if !late {
                    out.unsolicited.push(block.data.len());
                }
                continue;
            };
            out.received.push(block.data.len());
            for (_, waiter) in list {
                out.deliver
                    .push((waiter, Reply::Block(block.clone(), peer)));
            }
        }
        for (cid, presence) in presences {
            if *presence == Presence::DontHave {
                for (_, waiter) in self.waiters.get(cid).into_iter().flatten() {
                    out.deliver.push((waiter.clone(), Reply::DontHave(peer)));
                }
            }
        }
        out
    }

    /// The blocks waited for now, in CID byte order (Kubo's `bitswap wantlist`).
    pub fn wantlist(&self) -> Vec<Cid> {
        let mut out: Vec<Cid> = self.waiters.keys().copied().collect();
        out.sort_by_key(|c| c.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(i: u32) -> Block {
        Block::raw(i.to_be_bytes().to_vec())
    }

    #[test]
    fn a_block_reaches_every_waiter_once_and_fulfils_the_want() {
        let mut c = ClientWants::<&str>::default();
        let now = Instant::now();
        let b = block(1);
        c.register(b.cid, "first");
        c.register(b.cid, "second");
        assert_eq!(c.wantlist(), vec![b.cid]);
        let p = PeerId::random();
        let got = c.receive(p, std::slice::from_ref(&b), &[], now);
        assert_eq!(got.received, vec![4]);
        assert!(got.unsolicited.is_empty());
        assert_eq!(
            got.deliver,
            vec![
                ("first", Reply::Block(b.clone(), p)),
                ("second", Reply::Block(b.clone(), p))
            ]
        );
        assert!(c.wantlist().is_empty());
        // A second copy from another peer right away: nobody waits and it was never
        // unregistered, so it is unsolicited.
        let again = c.receive(PeerId::random(), &[b], &[], now);
        assert_eq!(again.unsolicited, vec![4]);
    }

    #[test]
    fn dont_haves_reach_the_waiters_and_leave_the_want_open() {
        let mut c = ClientWants::<u8>::default();
        let b = block(2);
        c.register(b.cid, 7);
        let p = PeerId::random();
        let got = c.receive(
            p,
            &[],
            &[(b.cid, Presence::DontHave), (b.cid, Presence::Have)],
            Instant::now(),
        );
        assert_eq!(got.deliver, vec![(7, Reply::DontHave(p))]);
        assert_eq!(c.wantlist(), vec![b.cid]);
    }

    #[test]
    fn one_late_copy_is_forgiven_within_the_grace_and_no_more() {
        let mut c = ClientWants::<u8>::default();
        let t0 = Instant::now();
        let (b, other) = (block(3), block(4));
        let id = c.register(b.cid, 1);
        c.unregister(b.cid, id, t0);
        assert!(c.wantlist().is_empty());
        let p = PeerId::random();
        let late = c.receive(
            p,
            std::slice::from_ref(&b),
            &[],
            t0 + Duration::from_secs(5),
        );
        assert!(late.unsolicited.is_empty() && late.received.is_empty() && late.deliver.is_empty());
        let again = c.receive(
            p,
            std::slice::from_ref(&b),
            &[],
            t0 + Duration::from_secs(6),
        );
        assert_eq!(
            again.unsolicited,
            vec![4],
            "the grace is used up by the first copy"
        );
        // Past the grace, a late copy is unsolicited.
        let id = c.register(other.cid, 1);
        c.unregister(other.cid, id, t0);
        let stale = c.receive(p, &[other], &[], t0 + LATE_BLOCK_GRACE);
        assert_eq!(stale.unsolicited, vec![4]);
    }

    #[test]
    fn unregistering_one_waiter_keeps_the_others() {
        let mut c = ClientWants::<u8>::default();
        let b = block(5);
        let first = c.register(b.cid, 1);
        c.register(b.cid, 2);
        c.unregister(b.cid, first, Instant::now());
        let got = c.receive(
            PeerId::random(),
            std::slice::from_ref(&b),
            &[],
            Instant::now(),
        );
        assert_eq!(got.deliver.len(), 1);
        assert_eq!(got.deliver[0].0, 2);
    }

    #[test]
    fn the_recently_wanted_memory_is_bounded() {
        let mut c = ClientWants::<u8>::default();
        let t0 = Instant::now();
        for i in 0..(MAX_RECENTLY_WANTED as u32 + 10) {
            let cid = block(i).cid;
            let id = c.register(cid, 0);
            c.unregister(cid, id, t0);
        }
        assert!(c.recently_wanted.len() <= MAX_RECENTLY_WANTED);
        assert!(c.waiters.is_empty());
    }
}
