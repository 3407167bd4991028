//! The server's side of Bitswap as plain state: what each peer wants from us, in the order it
//! asked, and which wants wait for blocks we do not have yet. No I/O and no clock: the
//! exchange feeds it received wantlists and store lookups and sends what it returns.

use crust_ipfs::bitswap::{Entry, Message, Presence, WantType};
use crust_ipfs::{Block, Cid};
use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};

/// Blocks up to this size answer a want-have directly (Kubo's `DefaultWantHaveReplaceSize`).
pub const INLINE_HAVE_BYTES: usize = 1024;
/// Target size of one outgoing message with blocks.
pub const MESSAGE_TARGET_BYTES: usize = 1024 * 1024;
/// Wants for missing blocks remembered per peer (the spec's wantlist bound).
pub const MAX_REMEMBERED_WANTS: usize = crust_ipfs::bitswap::MAX_ENTRIES;
/// Inbound streams read at once from one peer; more are refused.
pub const MAX_INBOUND_STREAMS_PER_PEER: usize = 64;
/// Wants from one peer waiting to be answered; more are dropped (a flood; honest clients keep
/// at most a few thousand wants open and re-send unanswered ones).
pub const MAX_PENDING_WANTS: usize = 8192;

/// Every peer's wants of us.
#[derive(Default)]
pub struct ServerWants {
    peers: HashMap<PeerId, PeerWants>,
}

#[derive(Default)]
struct PeerWants {
    /// Wants for blocks we lacked when asked, answered when the block arrives.
    remembered: HashMap<Cid, Entry>,
    /// Wants received and not answered yet, in arrival order (a CID may repeat; the latest
    /// entry is in `pending_wants`).
    pending: VecDeque<Cid>,
    pending_wants: HashMap<Cid, Entry>,
    /// Whether a task is answering the pending wants.
    serving: bool,
    inbound_streams: usize,
}

/// What became of a received wantlist.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Nobody is answering this peer's wants yet: start an answering task.
    pub start_serving: bool,
    /// Wants dropped because the peer has too many pending.
    pub dropped: usize,
}

impl ServerWants {
    /// Counts a new inbound stream from `peer`; false when it has too many open already.
    pub fn open_stream(&mut self, peer: PeerId) -> bool {
        let state = self.peers.entry(peer).or_default();
        if state.inbound_streams >= MAX_INBOUND_STREAMS_PER_PEER {
            return false;
        }
        state.inbound_streams += 1;
        true
    }

    /// An inbound stream from `peer` ended.
    pub fn close_stream(&mut self, peer: PeerId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.inbound_streams = state.inbound_streams.saturating_sub(1);
        }
    }

    /// Takes in a wantlist: a full one replaces everything the peer asked before, cancels
    /// withdraw a want (pending or remembered), other wants queue in arrival order.
    pub fn receive(&mut self, peer: PeerId, full: bool, wants: Vec<Entry>) -> Received {
        let state = self.peers.entry(peer).or_default();
        if full {
            state.remembered.clear();
            state.pending.clear();
            state.pending_wants.clear();
        }
        let mut dropped = 0;
        for want in wants {
            if want.cancel {
                state.remembered.remove(&want.cid);
                state.pending_wants.remove(&want.cid);
            } else if state.pending_wants.len() < MAX_PENDING_WANTS
                && state.pending.len() < 2 * MAX_PENDING_WANTS
            {
                state.pending.push_back(want.cid);
                state.pending_wants.insert(want.cid, want);
            } else {
                dropped += 1;
            }
        }
        let start_serving = !state.serving && !state.pending_wants.is_empty();
        state.serving |= start_serving;
        Received {
            start_serving,
            dropped,
        }
    }

    /// The next up to `max` pending wants in arrival order (cancelled ones and earlier copies
    /// of a repeated CID skipped); `None` when there are none, and the answering task ends.
    pub fn next_batch(&mut self, peer: PeerId, max: usize) -> Option<Vec<Entry>> {
        let state = self.peers.get_mut(&peer)?;
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some(cid) = state.pending.pop_front() else {
                break;
            };
            if let Some(want) = state.pending_wants.remove(&cid) {
                batch.push(want);
            }
        }
        if batch.is_empty() {
            state.serving = false;
            return None;
        }
        Some(batch)
    }

    /// Keeps a want for a block we lack, to answer when it arrives (up to the spec's bound).
    pub fn remember(&mut self, peer: PeerId, want: Entry) {
        let remembered = &mut self.peers.entry(peer).or_default().remembered;
        if remembered.len() < MAX_REMEMBERED_WANTS {
            remembered.insert(want.cid, want);
        }
    }

    /// A want of `peer` for `cid` was answered: it is no longer remembered.
    pub fn answered(&mut self, peer: PeerId, cid: &Cid) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.remembered.remove(cid);
        }
    }

    /// The remembered wants that blocks `cids`, just stored, can answer, per peer.
    pub fn due(&self, cids: &[Cid]) -> Vec<(PeerId, Vec<Entry>)> {
        self.peers
            .iter()
            .filter_map(|(peer, state)| {
                let wants: Vec<Entry> = cids
                    .iter()
                    .filter_map(|c| state.remembered.get(c).cloned())
                    .collect();
                (!wants.is_empty()).then_some((*peer, wants))
            })
            .collect()
    }

    /// The wants `peer` left with us for blocks we did not have (Kubo's `wantlist --peer`).
    pub fn wantlist(&self, peer: &PeerId) -> Vec<Cid> {
        let mut out: Vec<Cid> = self
            .peers
            .get(peer)
            .map(|s| s.remembered.keys().copied().collect())
            .unwrap_or_default();
        out.sort_by_key(|c| c.to_bytes());
        out
    }
}

/// What became of one want in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// The block (or, for a want-have, the presence or the small block) is in the reply.
    Yes,
    /// We lack the block: remember the want (a DontHave is in the reply when asked for).
    Remember,
    /// We lack the block and the want is not to be remembered: nothing to send.
    No,
}

/// A reply being put together from store lookups, cut into messages of about
/// [`MESSAGE_TARGET_BYTES`] so a large answer goes out while the rest is read.
#[derive(Default)]
pub struct Reply {
    msg: Message,
    bytes: usize,
}

impl Reply {
    /// Adds the answer to `want`, given what the store holds under its CID. `remember` is
    /// false when answering from [`ServerWants::due`] (the want is remembered already).
    pub fn answer(
        &mut self,
        want: &Entry,
        found: Option<bytes::Bytes>,
        remember: bool,
    ) -> Answered {
        match (found, want.want_type) {
            (Some(data), WantType::Block) => self.block(want.cid, data),
            (Some(data), WantType::Have) if data.len() <= INLINE_HAVE_BYTES => {
                self.block(want.cid, data)
            }
            (Some(_), WantType::Have) => {
                self.msg.presences.push((want.cid, Presence::Have));
                Answered::Yes
            }
            (None, _) if remember => {
                if want.send_dont_have {
                    self.msg.presences.push((want.cid, Presence::DontHave));
                }
                Answered::Remember
            }
            (None, _) => Answered::No,
        }
    }

    fn block(&mut self, cid: Cid, data: bytes::Bytes) -> Answered {
        self.bytes += data.len();
        self.msg.blocks.push(Block { cid, data });
        Answered::Yes
    }

    /// The message so far and its block bytes, once it has reached the target size.
    pub fn take_full(&mut self) -> Option<(Message, usize)> {
        if self.bytes < MESSAGE_TARGET_BYTES {
            return None;
        }
        Some((
            std::mem::take(&mut self.msg),
            std::mem::take(&mut self.bytes),
        ))
    }

    /// What is left to send, if anything.
    pub fn finish(self) -> Option<(Message, usize)> {
        (!self.msg.blocks.is_empty() || !self.msg.presences.is_empty())
            .then_some((self.msg, self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn cid(i: u32) -> Cid {
        Block::raw(i.to_be_bytes().to_vec()).cid
    }

    fn want(i: u32) -> Entry {
        Entry {
            cid: cid(i),
            priority: 1,
            cancel: false,
            want_type: WantType::Block,
            send_dont_have: true,
        }
    }

    fn cancel(i: u32) -> Entry {
        Entry {
            cancel: true,
            ..want(i)
        }
    }

    fn cids(batch: &[Entry]) -> Vec<Cid> {
        batch.iter().map(|w| w.cid).collect()
    }

    #[test]
    fn wants_are_answered_in_arrival_order_by_one_task_at_a_time() {
        let mut s = ServerWants::default();
        let p = PeerId::random();
        let r = s.receive(p, false, (0..5).map(want).collect());
        assert_eq!(
            r,
            Received {
                start_serving: true,
                dropped: 0
            }
        );
        // More wants while the task runs start nothing new.
        assert!(!s.receive(p, false, vec![want(5)]).start_serving);
        assert_eq!(
            cids(&s.next_batch(p, 4).unwrap()),
            (0..4).map(cid).collect::<Vec<_>>()
        );
        assert_eq!(cids(&s.next_batch(p, 4).unwrap()), vec![cid(4), cid(5)]);
        assert_eq!(s.next_batch(p, 4), None);
        // The task ended: the next wants start one again.
        assert!(s.receive(p, false, vec![want(6)]).start_serving);
    }

    #[test]
    fn cancels_and_full_wantlists_replace_what_was_asked() {
        let mut s = ServerWants::default();
        let p = PeerId::random();
        s.receive(p, false, (0..4).map(want).collect());
        s.receive(p, false, vec![cancel(1), want(2)]);
        // 1 cancelled; 2 repeated: answered once, in its first place, as last asked.
        assert_eq!(
            cids(&s.next_batch(p, 10).unwrap()),
            vec![cid(0), cid(2), cid(3)]
        );
        s.remember(p, want(7));
        s.remember(p, want(8));
        s.receive(p, false, vec![cancel(7)]);
        assert_eq!(s.wantlist(&p), vec![cid(8)]);
        s.receive(p, true, vec![want(9)]);
        assert!(
            s.wantlist(&p).is_empty(),
            "a full wantlist forgets remembered wants"
        );
        assert_eq!(cids(&s.next_batch(p, 10).unwrap()), vec![cid(9)]);
    }

    #[test]
    fn a_flood_of_wants_is_cut_at_the_pending_bound() {
        let mut s = ServerWants::default();
        let p = PeerId::random();
        let n = MAX_PENDING_WANTS as u32 + 100;
        let r = s.receive(p, false, (0..n).map(want).collect());
        assert_eq!(r.dropped, 100);
        let mut served = 0;
        while let Some(b) = s.next_batch(p, 64) {
            served += b.len();
        }
        assert_eq!(served, MAX_PENDING_WANTS);
    }

    #[test]
    fn remembered_wants_are_bounded_and_come_due_when_their_block_arrives() {
        let mut s = ServerWants::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        for i in 0..(MAX_REMEMBERED_WANTS as u32 + 10) {
            s.remember(a, want(i));
        }
        assert_eq!(s.wantlist(&a).len(), MAX_REMEMBERED_WANTS);
        s.remember(b, want(3));
        let mut due = s.due(&[cid(3), cid(5000)]);
        due.sort_by_key(|(p, _)| p.to_bytes());
        let mut expect = vec![(a, vec![want(3)]), (b, vec![want(3)])];
        expect.sort_by_key(|(p, _)| p.to_bytes());
        assert_eq!(due, expect);
        s.answered(a, &cid(3));
        assert_eq!(s.due(&[cid(3)]), vec![(b, vec![want(3)])]);
    }

    #[test]
    fn inbound_streams_per_peer_are_capped() {
        let mut s = ServerWants::default();
        let p = PeerId::random();
        for _ in 0..MAX_INBOUND_STREAMS_PER_PEER {
            assert!(s.open_stream(p));
        }
        assert!(!s.open_stream(p));
        s.close_stream(p);
        assert!(s.open_stream(p));
        assert!(
            s.open_stream(PeerId::random()),
            "another peer has its own count"
        );
    }

    #[test]
    fn a_reply_answers_each_kind_of_want_as_kubo_does() {
        let mut r = Reply::default();
        let small = bytes::Bytes::from_static(b"small");
        let large = bytes::Bytes::from(vec![7u8; INLINE_HAVE_BYTES + 1]);
        let have = |i| Entry {
            want_type: WantType::Have,
            ..want(i)
        };
        assert_eq!(r.answer(&want(0), Some(small.clone()), true), Answered::Yes);
        assert_eq!(r.answer(&have(1), Some(small.clone()), true), Answered::Yes);
        assert_eq!(r.answer(&have(2), Some(large), true), Answered::Yes);
        assert_eq!(r.answer(&want(3), None, true), Answered::Remember);
        let quiet = Entry {
            send_dont_have: false,
            ..want(4)
        };
        assert_eq!(r.answer(&quiet, None, true), Answered::Remember);
        assert_eq!(r.answer(&want(5), None, false), Answered::No);
        assert!(r.take_full().is_none());
        let (msg, bytes) = r.finish().unwrap();
        assert_eq!(bytes, 2 * small.len());
        assert_eq!(cids(&msg.wants), Vec::<Cid>::new());
        assert_eq!(
            msg.blocks.iter().map(|b| b.cid).collect::<Vec<_>>(),
            vec![cid(0), cid(1)],
            "a small block answers a want-have itself"
        );
        assert_eq!(
            msg.presences,
            vec![(cid(2), Presence::Have), (cid(3), Presence::DontHave)]
        );
        assert!(Reply::default().finish().is_none());
    }

    #[test]
    fn a_large_reply_is_cut_into_messages_of_about_a_mebibyte() {
        let mut r = Reply::default();
        let block = bytes::Bytes::from(vec![1u8; 256 * 1024]);
        let mut sent = Vec::new();
        for i in 0..10 {
            r.answer(&want(i), Some(block.clone()), true);
            if let Some((msg, bytes)) = r.take_full() {
                sent.push((msg.blocks.len(), bytes));
            }
        }
        if let Some((msg, bytes)) = r.finish() {
            sent.push((msg.blocks.len(), bytes));
        }
        assert_eq!(sent, vec![(4, 1 << 20), (4, 1 << 20), (2, 1 << 19)]);
    }
}
