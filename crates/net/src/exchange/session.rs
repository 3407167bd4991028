//! Which peer to ask for each block of one fetch, as plain state: a session spreads wants over
//! its peers (fewest recent failures, then least busy), and a want's search moves to another
//! peer on a DontHave or on silence, and cancels the peers that did not deliver. The exchange
//! does the sending and the waiting.

use super::ExchangeError;
use super::client::Reply;
use crust_ipfs::Block;
use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The peers of one fetch and how they have done. Shared by the fetch's wants in flight.
pub struct Session {
    peers: Mutex<HashMap<PeerId, SessionPeer>>,
}

#[derive(Default)]
struct SessionPeer {
    in_flight: usize,
    /// Wants it left unanswered since its last delivery.
    strikes: u32,
}

impl Session {
    /// A session over `peers`; at least one is needed.
    pub fn new(peers: &[PeerId]) -> Result<Self, ExchangeError> {
        if peers.is_empty() {
            return Err(ExchangeError::NoPeers);
        }
        Ok(Self {
            peers: Mutex::new(peers.iter().map(|p| (*p, SessionPeer::default())).collect()),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<PeerId, SessionPeer>) -> R) -> R {
        f(&mut self.peers.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The peer for the next want: not among `denied`, fewest strikes (three or more count
    /// alike, so a slow peer is tried again), then least busy, then lowest id.
    fn pick(&self, denied: &HashSet<PeerId>) -> Option<PeerId> {
        self.with(|peers| {
            let (peer, state) = peers
                .iter_mut()
                .filter(|(p, _)| !denied.contains(p))
                .min_by_key(|(p, s)| (s.strikes.min(3), s.in_flight, p.to_bytes()))?;
            state.in_flight += 1;
            Some(*peer)
        })
    }

    fn done(&self, peer: PeerId) {
        self.with(|peers| {
            if let Some(s) = peers.get_mut(&peer) {
                s.in_flight = s.in_flight.saturating_sub(1);
            }
        })
    }

    fn strike(&self, peer: PeerId) {
        self.with(|peers| {
            if let Some(s) = peers.get_mut(&peer) {
                s.strikes = s.strikes.saturating_add(1);
            }
        })
    }

    fn delivered(&self, peer: PeerId) {
        self.with(|peers| {
            if let Some(s) = peers.get_mut(&peer) {
                s.strikes = 0;
            }
        })
    }
}

/// One want's search for a peer that delivers.
#[derive(Default)]
pub struct WantSearch {
    denied: HashSet<PeerId>,
    asked: Vec<PeerId>,
    current: Option<PeerId>,
}

/// What the exchange does next for a want.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Keep waiting for the peer asked.
    Wait,
    /// Ask the next peer ([`WantSearch::ask`]).
    MoveOn,
    /// Delivered: the want is done; send the other peers asked a cancel.
    Delivered {
        /// The block.
        block: Block,
        /// The peers asked that did not deliver.
        cancel: Vec<PeerId>,
    },
}

impl WantSearch {
    /// The peer the want is with now, if any.
    pub fn current(&self) -> Option<PeerId> {
        self.current
    }

    /// The peer to ask now (the exchange sends it the want); `None` when every peer of the
    /// session has said it does not have the block.
    pub fn ask(&mut self, session: &Session) -> Option<PeerId> {
        let peer = session.pick(&self.denied)?;
        if !self.asked.contains(&peer) {
            self.asked.push(peer);
        }
        self.current = Some(peer);
        Some(peer)
    }

    /// Takes in a reply for the want. A DontHave from the peer asked moves on at once; one
    /// from a peer asked earlier only keeps that peer from being asked again.
    pub fn reply(&mut self, session: &Session, reply: Reply) -> Step {
        match reply {
            Reply::Block(block, from) => {
                self.finish(session);
                session.delivered(from);
                Step::Delivered {
                    block,
                    cancel: self.asked.iter().copied().filter(|p| *p != from).collect(),
                }
            }
            Reply::DontHave(from) => {
                self.denied.insert(from);
                if self.current == Some(from) {
                    self.finish(session);
                    Step::MoveOn
                } else {
                    Step::Wait
                }
            }
        }
    }

    /// The peer asked said nothing in time: it gets a strike and the want moves on.
    pub fn silence(&mut self, session: &Session) -> Step {
        if let Some(peer) = self.current {
            session.strike(peer);
        }
        self.finish(session);
        Step::MoveOn
    }

    fn finish(&mut self, session: &Session) {
        if let Some(peer) = self.current.take() {
            session.done(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        v.sort_by_key(|p| p.to_bytes());
        v
    }

    #[test]
    fn wants_spread_over_the_least_busy_peers() {
        let p = peers(3);
        let s = Session::new(&p).unwrap();
        let mut searches: Vec<WantSearch> = (0..6).map(|_| WantSearch::default()).collect();
        let asked: Vec<PeerId> = searches.iter_mut().map(|w| w.ask(&s).unwrap()).collect();
        for peer in &p {
            assert_eq!(asked.iter().filter(|a| *a == peer).count(), 2);
        }
        assert!(matches!(Session::new(&[]), Err(ExchangeError::NoPeers)));
    }

    #[test]
    fn a_dont_have_moves_the_want_on_until_every_peer_has_denied() {
        let p = peers(3);
        let s = Session::new(&p).unwrap();
        let mut w = WantSearch::default();
        let mut tried = Vec::new();
        while let Some(peer) = w.ask(&s) {
            tried.push(peer);
            assert_eq!(w.reply(&s, Reply::DontHave(peer)), Step::MoveOn);
        }
        assert_eq!(
            tried, p,
            "each peer asked once, lowest id first when all are idle"
        );
    }

    #[test]
    fn a_dont_have_from_an_earlier_peer_does_not_abandon_the_current_one() {
        let p = peers(2);
        let s = Session::new(&p).unwrap();
        let mut w = WantSearch::default();
        let first = w.ask(&s).unwrap();
        assert_eq!(w.silence(&s), Step::MoveOn);
        let second = w.ask(&s).unwrap();
        assert_ne!(
            first, second,
            "a silent peer has a strike; the other is asked"
        );
        assert_eq!(w.reply(&s, Reply::DontHave(first)), Step::Wait);
        // Only the second is left to ask after it denies too.
        assert_eq!(w.reply(&s, Reply::DontHave(second)), Step::MoveOn);
        assert_eq!(w.ask(&s), None);
    }

    #[test]
    fn silent_peers_are_asked_last_and_forgiven_after_a_delivery() {
        let p = peers(2);
        let s = Session::new(&p).unwrap();
        let mut w = WantSearch::default();
        assert_eq!(w.ask(&s), Some(p[0]));
        w.silence(&s);
        // p[0] has a strike: every new want goes to p[1] while it is idle or busy.
        for _ in 0..3 {
            let mut other = WantSearch::default();
            assert_eq!(other.ask(&s), Some(p[1]));
        }
        assert_eq!(w.ask(&s), Some(p[1]));
        let block = Block::raw(b"x".to_vec());
        // p[0] delivers late after all: the want ends, p[1] gets a cancel, p[0]'s strike goes.
        assert_eq!(
            w.reply(&s, Reply::Block(block.clone(), p[0])),
            Step::Delivered {
                block,
                cancel: vec![p[1]]
            }
        );
        let mut fresh = WantSearch::default();
        // p[1] has three wants in flight above (never finished); p[0] is idle and forgiven.
        assert_eq!(fresh.ask(&s), Some(p[0]));
    }

    #[test]
    fn strikes_count_alike_past_three_so_a_slow_peer_is_tried_again() {
        let p = peers(2);
        let s = Session::new(&p).unwrap();
        for _ in 0..5 {
            s.strike(p[0]);
        }
        for _ in 0..2 {
            s.strike(p[1]);
        }
        let mut w = WantSearch::default();
        assert_eq!(w.ask(&s), Some(p[1]), "two strikes are better than five");
        w.silence(&s);
        // Three and five count alike: the lowest id, p[0], is tried again.
        let mut w = WantSearch::default();
        assert_eq!(w.ask(&s), Some(p[0]));
    }
}
