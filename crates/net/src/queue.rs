//! The server's shared send queue: one byte budget for all peers together, handed out in
//! credit order when peers compete for it.
//!
//! Each peer also has its own in-flight budget (see [`crate::ledger`]); this queue bounds the
//! sum, so a node serving many peers at once keeps its memory and upload bounded. While there
//! is room, blocks go out at once. When there is not, peers wait in order of standing (replica
//! holders first, then fair peers, then free-riders) and, within a standing, of debt ratio:
//! the peer that has given us most for what it took is served first, as in the reference
//! network's Bitswap credit system.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Bytes in flight to all peers together.
pub const SERVER_BUDGET: usize = 256 * 1024 * 1024;

/// Where a peer stands in the queue: lower is served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Priority {
    /// 0 = replica holder, 1 = fair, 2 = free-rider.
    pub rank: u8,
    /// Bytes sent per byte received, in 1/1024ths (saturating).
    pub debt: u64,
}

/// Waiters are kept in priority order, first come first served within one priority.
type Key = (Priority, u64);

struct State {
    capacity: usize,
    used: usize,
    next: u64,
    waiting: BTreeMap<Key, (usize, oneshot::Sender<()>)>,
}

/// The shared queue; cheap to clone.
#[derive(Clone)]
pub struct ServeQueue {
    state: Arc<Mutex<State>>,
}

/// Room for some bytes in flight, given back when dropped (after the bytes were written).
pub struct Permit {
    queue: ServeQueue,
    bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.queue.release(self.bytes);
    }
}

impl ServeQueue {
    /// A queue handing out `capacity` bytes in flight.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                capacity,
                used: 0,
                next: 0,
                waiting: BTreeMap::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for room for `bytes` (a message larger than the whole budget waits for an idle
    /// server), behind every waiting peer of better priority.
    pub async fn acquire(&self, priority: Priority, bytes: usize) -> Permit {
        let (key, rx) = {
            let mut s = self.lock();
            if s.waiting.is_empty() && fits(&s, bytes) {
                s.used += bytes;
                return Permit {
                    queue: self.clone(),
                    bytes,
                };
            }
            let (tx, rx) = oneshot::channel();
            let key = (priority, s.next);
            s.next += 1;
            s.waiting.insert(key, (bytes, tx));
            (key, rx)
        };
        // If this future is dropped while waiting, the guard takes it out of the queue, or
        // gives the room back if it was granted in the meantime.
        let mut guard = Waiting {
            queue: self,
            key,
            bytes,
            rx: Some(rx),
        };
        if let Some(rx) = guard.rx.as_mut() {
            let _ = rx.await;
        }
        guard.rx = None;
        Permit {
            queue: self.clone(),
            bytes,
        }
    }

    /// Peers waiting for room now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Bytes in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().used
    }

    fn release(&self, bytes: usize) {
        let mut s = self.lock();
        s.used = s.used.saturating_sub(bytes);
        grant(&mut s);
    }
}

fn fits(s: &State, bytes: usize) -> bool {
    s.used == 0 || s.used + bytes <= s.capacity
}

/// Hands room to the best waiters while it lasts (strictly in order: a large message at the
/// front is not overtaken by smaller ones behind it).
fn grant(s: &mut State) {
    while let Some((&key, &(bytes, _))) = s.waiting.first_key_value() {
        if !fits(s, bytes) {
            return;
        }
        let Some((_, tx)) = s.waiting.remove(&key) else {
            return;
        };
        if tx.send(()).is_ok() {
            s.used += bytes;
        }
    }
}

struct Waiting<'a> {
    queue: &'a ServeQueue,
    key: Key,
    bytes: usize,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        let mut s = self.queue.lock();
        if s.waiting.remove(&self.key).is_some() {
            // It may have been the head holding smaller waiters back.
            grant(&mut s);
        } else if rx.try_recv().is_ok() {
            // Granted but never used.
            s.used = s.used.saturating_sub(self.bytes);
            grant(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn p(rank: u8, debt: u64) -> Priority {
        Priority { rank, debt }
    }

    #[tokio::test]
    async fn room_goes_to_the_best_standing_then_the_lowest_debt() {
        let queue = ServeQueue::new(100);
        let first = queue.acquire(p(1, 0), 100).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Arrival order: a free-rider, a fair peer in debt, a fair peer that gave a lot, a
        // replica holder.
        for (name, priority) in [
            ("free-rider", p(2, 0)),
            ("fair, in debt", p(1, 9000)),
            ("fair, generous", p(1, 3)),
            ("replica holder", p(0, 50_000)),
        ] {
            let (queue, order) = (queue.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let permit = queue.acquire(priority, 60).await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(permit);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queue.waiting(), 4);
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [
                "replica holder",
                "fair, generous",
                "fair, in debt",
                "free-rider"
            ]
        );
        assert_eq!(queue.in_flight(), 0);
    }

    #[tokio::test]
    async fn small_messages_share_the_budget_and_oversized_ones_wait_for_an_idle_server() {
        let queue = ServeQueue::new(100);
        let a = queue.acquire(p(1, 0), 40).await;
        let b = queue.acquire(p(1, 0), 40).await;
        assert_eq!(queue.in_flight(), 80);
        let big = tokio::spawn({
            let queue = queue.clone();
            async move { queue.acquire(p(0, 0), 500).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(queue.waiting(), 1);
        drop(a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            queue.waiting(),
            1,
            "500 bytes wait until nothing is in flight"
        );
        drop(b);
        let big = big.await.unwrap();
        assert_eq!(queue.in_flight(), 500);
        drop(big);
        assert_eq!(queue.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_large_waiter_that_gives_up_lets_the_smaller_ones_behind_it_in() {
        let queue = ServeQueue::new(100);
        let _held = queue.acquire(p(1, 0), 60).await;
        let big = tokio::spawn({
            let queue = queue.clone();
            async move { queue.acquire(p(0, 0), 90).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let small = tokio::spawn({
            let queue = queue.clone();
            async move { queue.acquire(p(1, 0), 30).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            queue.waiting(),
            2,
            "30 bytes would fit, but wait behind the head"
        );
        big.abort();
        let _ = big.await;
        let small = tokio::time::timeout(Duration::from_secs(5), small)
            .await
            .expect("the small waiter got room once the head left")
            .unwrap();
        assert_eq!(queue.in_flight(), 90);
        drop(small);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_room_behind() {
        let queue = ServeQueue::new(100);
        let held = queue.acquire(p(1, 0), 100).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(10), queue.acquire(p(1, 0), 50));
        assert!(gave_up.await.is_err());
        assert_eq!(queue.waiting(), 0);
        drop(held);
        assert_eq!(queue.in_flight(), 0);
        let _again = queue.acquire(p(1, 0), 100).await;
        assert_eq!(queue.in_flight(), 100);
    }
}
