//! Bitswap over libp2p streams: a server that answers wants from the blockstore, and a client
//! whose sessions fetch whole DAGs from several peers with many wants in flight.
//!
//! As in Kubo, each side sends on its own outbound stream (one per peer, reused) and reads
//! whatever the peer sends on inbound streams, many length-prefixed messages per stream.
//! Every received block is checked against its CID by the codec before anyone sees it.
//!
//! Server: wants for blocks we have are answered at once, within a per-peer budget of bytes
//! in flight that the credit ledger sets; wants for blocks we lack are remembered (up to
//! [`MAX_REMEMBERED_WANTS`] per peer, full wantlists replace, cancels remove) and answered as
//! soon as the block arrives, so a node that is still fetching a file already serves it onward.
//!
//! Client: a session spreads want-blocks over the peers that do not deny having the block,
//! preferring the least busy; an unanswered want moves to another peer after [`WANT_RESEND`]
//! unless its peer is still delivering other wanted blocks (a busy peer, or a slow link that
//! queues them: moving on would only add duplicates to the queue), a DontHave moves it at once, and the peers that were asked but did not deliver get a cancel.
//!
//! The protocol's decisions are plain state, tested without sockets: [`server`] (what each
//! peer wants of us and how a reply is put together), [`client`] (who waits for which block,
//! what counts as unsolicited), [`session`] (which peer to ask, when to move on). This module
//! is the edge: it reads streams, looks blocks up, sends, waits and keeps the clock;
//! [`writer`] writes the outbound streams.

pub mod client;
pub mod server;
pub mod session;
pub mod writer;

use crate::host::Host;
use crate::ledger::{Ledger, Standing};
use client::{ClientWants, Reply};
use crust_ipfs::bitswap::{self, Entry, Message, MessageError, WantType};
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::{Block, Cid};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::PeerId;
use server::{Answered, ServerWants};
use session::{Session, Step, WantSearch};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use writer::{Outgoing, PeerWriters};

pub use server::{MAX_INBOUND_STREAMS_PER_PEER, MAX_PENDING_WANTS, MAX_REMEMBERED_WANTS};
pub use writer::WRITE_TIMEOUT;

/// A want not answered within this is sent again, to another peer when there is one.
pub const WANT_RESEND: Duration = Duration::from_secs(1);
/// Wants answered in one go by a peer's answering task.
const SERVE_BATCH: usize = 64;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Every peer of the session said it does not have the block.
    #[error("no peer has {0}")]
    DontHave(Cid),
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(Cid),
    /// The session has no peers.
    #[error("no peers to fetch from")]
    NoPeers,
    /// The store failed.
    #[error("blockstore: {0}")]
    Store(String),
    /// The DAG is larger than the fetch allows.
    #[error("the DAG is larger than the {0} bytes expected")]
    TooLarge(u64),
}

/// How a session fetches.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Wants in flight across all peers.
    pub window: usize,
    /// How long one block may take before the fetch fails.
    pub block_timeout: Duration,
    /// The most block bytes the fetch may bring in (local blocks included): a DAG larger than
    /// expected (an order's content commitment states its size) fails the fetch instead of
    /// filling the disk.
    pub max_bytes: Option<u64>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            window: 64,
            block_timeout: Duration::from_secs(60),
            max_bytes: None,
        }
    }
}

/// How far a fetch has come.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchProgress {
    /// Blocks fetched from peers.
    pub blocks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Blocks that were already in the store.
    pub local_blocks: u64,
}

/// Totals over all peers (Kubo's `bitswap stat`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Wanted blocks received.
    pub blocks_received: u64,
    /// Their bytes.
    pub data_received: u64,
    /// Blocks sent.
    pub blocks_sent: u64,
    /// Their bytes.
    pub data_sent: u64,
    /// Blocks this node is waiting for now.
    pub wantlist: Vec<Cid>,
    /// Peers with an account.
    pub peers: Vec<PeerId>,
}

/// The Bitswap service of one host.
pub struct Exchange {
    host: Host,
    store: Arc<dyn Blockstore>,
    ledger: Ledger,
    client: Mutex<ClientWants<mpsc::Sender<Reply>>>,
    server: Mutex<ServerWants>,
    writers: Mutex<HashMap<PeerId, PeerWriters>>,
    queue: crate::queue::ServeQueue,
    /// When each peer last delivered a block we wanted: a peer still delivering is busy (its
    /// queue, or a slow link, holds our other wants), not gone.
    delivered: Mutex<HashMap<PeerId, std::time::Instant>>,
}

/// A peer's in-flight budget given the server's load: a free-rider's small budget protects the
/// others while they compete for the server's upload, but while the server is lightly loaded
/// (under a quarter of [`crate::queue::SERVER_BUDGET`] in flight) idle capacity is not withheld:
/// a lone downloader across a long link needs more than 1 MiB in flight to fill it (measured:
/// 1 MiB over a 100 ms, 100 Mbit/s link carries ~40 Mbit/s).
fn work_conserving(budget: usize, server_in_flight: usize) -> usize {
    if budget == 0 || server_in_flight >= crate::queue::SERVER_BUDGET / 4 {
        budget
    } else {
        budget.max(crate::ledger::FAIR_BUDGET)
    }
}

/// Peers remembered in [`Exchange`]'s delivery times before old entries are dropped.
const DELIVERED_PEERS: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Exchange {
    /// Starts serving `store` over Bitswap on `host`.
    pub fn start(host: Host, store: Arc<dyn Blockstore>) -> Arc<Self> {
        Self::start_with(host, store, &crate::NetMemory::default())
    }

    /// [`Exchange::start`] with a serve queue of `memory.serve_bytes`.
    pub fn start_with(
        host: Host,
        store: Arc<dyn Blockstore>,
        memory: &crate::NetMemory,
    ) -> Arc<Self> {
        let exchange = Arc::new(Self {
            host,
            store,
            ledger: Ledger::default(),
            client: Mutex::new(ClientWants::default()),
            server: Mutex::new(ServerWants::default()),
            writers: Mutex::new(HashMap::new()),
            queue: crate::queue::ServeQueue::new(memory.serve_bytes),
            delivered: Mutex::new(HashMap::new()),
        });
        // Inbound streams come from the host's buffered queue (`crate::inbound`), never from
        // `libp2p-stream`'s accept, which drops streams that arrive in a burst.
        if let Some(mut incoming) = exchange.host.take_inbound() {
            let ex = exchange.clone();
            tokio::spawn(async move {
                while let Some((peer, stream, _protocol)) = incoming.recv().await {
                    ex.clone().accept(peer, stream).await;
                }
            });
        }
        exchange
    }

    /// Whether `peer` delivered a wanted block within the last [`WANT_RESEND`].
    fn delivering(&self, peer: PeerId) -> bool {
        lock(&self.delivered)
            .get(&peer)
            .is_some_and(|t| t.elapsed() < WANT_RESEND)
    }

    /// The credit ledger (accounts, standings, replica holders).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The server's shared send queue (bytes in flight, peers waiting).
    pub fn serve_queue(&self) -> &crate::queue::ServeQueue {
        &self.queue
    }

    /// Totals over all peers and the current wantlist.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for (peer, account) in self.ledger.accounts() {
            stats.blocks_received += account.blocks_received;
            stats.data_received += account.bytes_received;
            stats.blocks_sent += account.blocks_sent;
            stats.data_sent += account.bytes_sent;
            stats.peers.push(peer);
        }
        stats.wantlist = lock(&self.client).wantlist();
        stats
    }

    /// The wants `peer` left with us for blocks we did not have (Kubo's `wantlist --peer`).
    pub fn peer_wantlist(&self, peer: &PeerId) -> Vec<Cid> {
        lock(&self.server).wantlist(peer)
    }

    async fn accept(self: Arc<Self>, peer: PeerId, stream: libp2p::Stream) {
        if self.ledger.standing(&peer) == Standing::Banned {
            self.host.disconnect(peer).await;
            return;
        }
        if !lock(&self.server).open_stream(peer) {
            trace(|| format!("bitswap: refusing a stream from {peer}: too many open"));
            return;
        }
        tokio::spawn(async move {
            let outcome = self.read_stream(peer, stream).await;
            lock(&self.server).close_stream(peer);
            if let Err(e) = outcome {
                trace(|| format!("bitswap: dropping stream from {peer}: {e}"));
                if self.ledger.violation(peer) {
                    trace(|| format!("bitswap: banning {peer}"));
                    self.host.disconnect(peer).await;
                }
            }
        });
    }

    /// Reads messages from one inbound stream until it ends; a malformed message is an error.
    async fn read_stream(
        self: &Arc<Self>,
        peer: PeerId,
        mut stream: libp2p::Stream,
    ) -> Result<(), MessageError> {
        let mut buf = bytes::BytesMut::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) => {
                    // Close our side too, so the peer sees a clean end rather than a reset.
                    let _ = stream.close().await;
                    return Ok(());
                }
                Err(e) => {
                    trace(|| format!("bitswap: read from {peer} failed: {e}"));
                    return Ok(());
                }
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            for frame in bitswap::take_frames(&mut buf)? {
                self.on_message(peer, Message::decode_frame(&frame)?).await;
                if self.ledger.standing(&peer) == Standing::Banned {
                    return Ok(());
                }
            }
        }
    }

    async fn on_message(self: &Arc<Self>, peer: PeerId, msg: Message) {
        trace(|| {
            format!(
                "bitswap <- {peer}: {} wants, {} blocks, {} presences",
                msg.wants.len(),
                msg.blocks.len(),
                msg.presences.len()
            )
        });
        // Client side: hand blocks and DontHaves to whoever waits for them. Unsolicited
        // blocks are dropped, earn no credit, and in bulk are a violation.
        if !msg.blocks.is_empty() || !msg.presences.is_empty() {
            let incoming = lock(&self.client).receive(
                peer,
                &msg.blocks,
                &msg.presences,
                std::time::Instant::now(),
            );
            if !incoming.received.is_empty() {
                let now = std::time::Instant::now();
                let mut delivered = lock(&self.delivered);
                if delivered.len() >= DELIVERED_PEERS {
                    delivered.retain(|_, t| now.duration_since(*t) < WANT_RESEND * 4);
                }
                delivered.insert(peer, now);
            }
            for len in incoming.received {
                self.ledger.received(peer, len);
            }
            for (waiter, reply) in incoming.deliver {
                let _ = waiter.try_send(reply);
            }
            let mut flooded = false;
            for len in incoming.unsolicited {
                flooded |= self.ledger.unsolicited(peer, len);
            }
            if flooded {
                trace(|| format!("bitswap: banning {peer} for unsolicited blocks"));
                self.host.disconnect(peer).await;
                return;
            }
        }
        // Server side: update the peer's wants and answer them.
        if msg.wants.is_empty() && !msg.full {
            return;
        }
        let received = lock(&self.server).receive(peer, msg.full, msg.wants);
        if received.dropped > 0 {
            trace(|| {
                format!(
                    "bitswap: {peer} has too many wants pending; dropped {}",
                    received.dropped
                )
            });
        }
        // Answering may wait for send budget, so it runs in a task of its own per peer, beside
        // this read loop: a full budget never stops us reading the blocks this peer sends us.
        if received.start_serving {
            let ex = self.clone();
            tokio::spawn(async move { ex.serve_pending(peer).await });
        }
    }

    /// Answers `peer`'s pending wants in arrival order until there are none.
    async fn serve_pending(&self, peer: PeerId) {
        loop {
            let Some(batch) = lock(&self.server).next_batch(peer, SERVE_BATCH) else {
                return;
            };
            self.serve(peer, batch, true).await;
        }
    }

    /// Answers `wants` from the store; wants for missing blocks are remembered when
    /// `remember` (and get a DontHave when asked for one).
    async fn serve(&self, peer: PeerId, wants: Vec<Entry>, remember: bool) {
        let mut reply = server::Reply::default();
        for want in wants {
            // Peers verify every block they receive, so the server does not hash it again.
            let found = self.store.get_unverified(&want.cid).ok().flatten();
            match reply.answer(&want, found, remember) {
                Answered::Yes => lock(&self.server).answered(peer, &want.cid),
                Answered::Remember => lock(&self.server).remember(peer, want),
                Answered::No => {}
            }
            if let Some((msg, bytes)) = reply.take_full() {
                self.send(peer, msg, bytes).await;
            }
        }
        if let Some((msg, bytes)) = reply.finish() {
            self.send(peer, msg, bytes).await;
        }
    }

    /// Serves blocks that just arrived to the peers that asked for them earlier.
    pub async fn notify_new_blocks(&self, cids: &[Cid]) {
        let due = lock(&self.server).due(cids);
        for (peer, wants) in due {
            self.serve(peer, wants, false).await;
        }
    }

    /// Queues `msg` for `peer` once the peer's budget has room for `bytes` more in flight
    /// (a message larger than the budget waits for an empty pipe) and, for block bytes, the
    /// server's shared budget has room too, in credit order.
    async fn send(&self, peer: PeerId, msg: Message, bytes: usize) {
        let budget = work_conserving(self.ledger.budget(&peer), self.queue.in_flight());
        if budget == 0 {
            return;
        }
        let (tx, slot, in_flight) = {
            let mut writers = lock(&self.writers);
            let w = writers.entry(peer).or_default();
            let (tx, slot) = w.queue(bytes, |in_flight| {
                let (tx, rx) = mpsc::channel(256);
                tokio::spawn(writer::write_stream(
                    self.host.control(),
                    peer,
                    rx,
                    in_flight,
                ));
                tx
            });
            (tx, slot, w.in_flight.clone())
        };
        in_flight.reserve(bytes, budget).await;
        let permit = if bytes > 0 {
            let priority = self.ledger.priority(&peer);
            Some(self.queue.acquire(priority, bytes).await)
        } else {
            None
        };
        let sent: Vec<usize> = msg.blocks.iter().map(|b| b.data.len()).collect();
        let outgoing = Outgoing {
            msg,
            accounted: bytes,
            permit,
        };
        if tx.send(outgoing).await.is_err() {
            in_flight.release(bytes);
            if let Some(w) = lock(&self.writers).get_mut(&peer) {
                w.closed(slot);
            }
            return;
        }
        for len in sent {
            self.ledger.sent(peer, len);
        }
    }

    fn register(&self, cid: Cid) -> (WaiterGuard<'_>, mpsc::Receiver<Reply>) {
        let (tx, rx) = mpsc::channel(16);
        let id = lock(&self.client).register(cid, tx);
        (
            WaiterGuard {
                exchange: self,
                cid,
                id,
            },
            rx,
        )
    }

    /// Fetches one block from `peers`, see [`FetchOptions::block_timeout`].
    pub async fn get_block(
        &self,
        peers: &[PeerId],
        cid: Cid,
        timeout: Duration,
    ) -> Result<Block, ExchangeError> {
        let session = Session::new(peers)?;
        self.want(&session, cid, timeout).await
    }

    /// One want within a session: sent to the peer the search picks, moved on DontHave or
    /// silence ([`WantSearch`]), until delivered, denied by all or out of time.
    async fn want(
        &self,
        session: &Session,
        cid: Cid,
        timeout: Duration,
    ) -> Result<Block, ExchangeError> {
        let (_guard, mut replies) = self.register(cid);
        let entry = Entry {
            cid,
            priority: 1,
            cancel: false,
            want_type: WantType::Block,
            send_dont_have: true,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut search = WantSearch::default();
        loop {
            let Some(peer) = search.ask(session) else {
                return Err(ExchangeError::DontHave(cid));
            };
            let want = Message {
                wants: vec![entry.clone()],
                ..Default::default()
            };
            self.send(peer, want, 0).await;
            let mut resend = tokio::time::Instant::now() + WANT_RESEND;
            loop {
                let step = match tokio::time::timeout_at(resend.min(deadline), replies.recv()).await
                {
                    Ok(Some(reply)) => search.reply(session, reply),
                    Err(_) if tokio::time::Instant::now() < deadline && self.delivering(peer) => {
                        // No answer to this want yet, but the peer keeps delivering others: our
                        // want waits in its queue (or behind a slow link). Asking again or
                        // elsewhere would only add duplicates to that queue.
                        resend = tokio::time::Instant::now() + WANT_RESEND;
                        continue;
                    }
                    Ok(None) | Err(_) => search.silence(session),
                };
                match step {
                    Step::Wait => {}
                    Step::MoveOn => break,
                    Step::Delivered { block, cancel } => {
                        for other in cancel {
                            let cancel = Message {
                                wants: vec![Entry {
                                    cancel: true,
                                    ..entry.clone()
                                }],
                                ..Default::default()
                            };
                            self.send(other, cancel, 0).await;
                        }
                        return Ok(block);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ExchangeError::Timeout(cid));
            }
        }
    }

    /// Fetches the whole DAG under `root` from `peers` into the store; blocks already stored
    /// are not fetched again. `progress` sees the running totals after every block.
    pub async fn fetch_dag(
        self: &Arc<Self>,
        peers: &[PeerId],
        root: Cid,
        options: &FetchOptions,
        progress: &mut (dyn FnMut(&FetchProgress) + Send),
    ) -> Result<FetchProgress, ExchangeError> {
        let store = self.store.clone();
        self.fetch_dag_into(&*store, peers, root, options, progress)
            .await
    }

    /// [`Exchange::fetch_dag`] into another store (`target` decides what is already local),
    /// e.g. a scratch store when re-fetching a file whose local copy is damaged.
    pub async fn fetch_dag_into(
        self: &Arc<Self>,
        target: &dyn Blockstore,
        peers: &[PeerId],
        root: Cid,
        options: &FetchOptions,
        progress: &mut (dyn FnMut(&FetchProgress) + Send),
    ) -> Result<FetchProgress, ExchangeError> {
        let session = Session::new(peers)?;
        let mut queue = vec![root];
        let mut seen = HashSet::from([root]);
        let mut in_flight = FuturesUnordered::new();
        let mut done = FetchProgress::default();
        let mut local_bytes = 0u64;
        let store_err = |e: crust_ipfs::blockstore::StoreError| ExchangeError::Store(e.to_string());
        loop {
            while in_flight.len() < options.window.max(1) {
                let Some(cid) = queue.pop() else { break };
                if let Some(data) = target.get(&cid).map_err(store_err)? {
                    done.local_blocks += 1;
                    local_bytes += data.len() as u64;
                    if options
                        .max_bytes
                        .is_some_and(|m| local_bytes + done.bytes > m)
                    {
                        return Err(ExchangeError::TooLarge(options.max_bytes.unwrap_or(0)));
                    }
                    enqueue_links(&cid, &data, &mut seen, &mut queue);
                    continue;
                }
                in_flight.push(self.want(&session, cid, options.block_timeout));
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            let block = result?;
            if let Some(max) = options.max_bytes
                && local_bytes + done.bytes + block.data.len() as u64 > max
            {
                return Err(ExchangeError::TooLarge(max));
            }
            target.put(&block).map_err(store_err)?;
            let (ex, cid) = (self.clone(), block.cid);
            tokio::spawn(async move { ex.notify_new_blocks(&[cid]).await });
            done.blocks += 1;
            done.bytes += block.data.len() as u64;
            enqueue_links(&block.cid, &block.data, &mut seen, &mut queue);
            progress(&done);
        }
        target.sync().map_err(store_err)?;
        Ok(done)
    }
}

fn enqueue_links(cid: &Cid, data: &[u8], seen: &mut HashSet<Cid>, queue: &mut Vec<Cid>) {
    for link in crust_ipfs::links::links(cid, data).unwrap_or_default() {
        if seen.insert(link) {
            queue.push(link);
        }
    }
}

/// Unregisters a want's reply channel when the want ends, however it ends.
struct WaiterGuard<'a> {
    exchange: &'a Exchange,
    cid: Cid,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        lock(&self.exchange.client).unregister(self.cid, self.id, std::time::Instant::now());
    }
}

/// Protocol tracing, at trace level under `crust::bitswap` (`RUST_LOG=crust::bitswap=trace`);
/// the line is only built when that level is on.
fn trace(line: impl FnOnce() -> String) {
    if tracing::enabled!(target: "crust::bitswap", tracing::Level::TRACE) {
        tracing::trace!(target: "crust::bitswap", "{}", line());
    }
}

#[cfg(test)]
mod tests {
    use super::work_conserving;
    use crate::ledger::{FAIR_BUDGET, FREE_RIDER_BUDGET, REPLICA_BUDGET};
    use crate::queue::SERVER_BUDGET;

    #[test]
    fn a_free_rider_is_held_back_only_when_the_server_is_busy() {
        assert_eq!(work_conserving(FREE_RIDER_BUDGET, 0), FAIR_BUDGET);
        assert_eq!(
            work_conserving(FREE_RIDER_BUDGET, SERVER_BUDGET / 4),
            FREE_RIDER_BUDGET
        );
        // Banned stays banned; the better standings keep theirs.
        assert_eq!(work_conserving(0, 0), 0);
        assert_eq!(work_conserving(REPLICA_BUDGET, 0), REPLICA_BUDGET);
        assert_eq!(work_conserving(FAIR_BUDGET, SERVER_BUDGET), FAIR_BUDGET);
    }
}
