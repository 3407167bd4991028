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
//! preferring the least busy; an unanswered want moves to another peer after [`WANT_RESEND`],
//! a DontHave moves it at once, and the peers that were asked but did not deliver get a cancel.

use crate::host::Host;
use crate::ledger::{Ledger, Standing};
use crust_ipfs::bitswap::{self, Entry, Message, MessageError, Presence, WantType};
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::{Block, Cid};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{PeerId, StreamProtocol};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Blocks up to this size answer a want-have directly (Kubo's `DefaultWantHaveReplaceSize`).
const INLINE_HAVE_BYTES: usize = 1024;
/// A want not answered within this is sent again, to another peer when there is one.
pub const WANT_RESEND: Duration = Duration::from_secs(1);
/// Target size of one outgoing message with blocks.
const MESSAGE_TARGET_BYTES: usize = 1024 * 1024;
/// Wants for missing blocks remembered per peer (the spec's wantlist bound).
pub const MAX_REMEMBERED_WANTS: usize = bitswap::MAX_ENTRIES;
/// Inbound streams read at once from one peer; more are refused.
pub const MAX_INBOUND_STREAMS_PER_PEER: usize = 64;
/// Wants from one peer waiting to be answered; more are dropped (a flood; honest clients keep
/// at most a few thousand wants open and re-send unanswered ones).
pub const MAX_PENDING_WANTS: usize = 8192;
/// Wants answered in one go by a peer's answering task.
const SERVE_BATCH: usize = 64;
/// How long one message may take to write before the stream is dropped with everything queued
/// behind it: a peer that stops reading must not hold the server's shared budget.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

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

/// A want's reply channel, with an id to unregister it by.
type Waiter = (u64, mpsc::Sender<Reply>);

/// What arrives for a want.
enum Reply {
    Block(Block, PeerId),
    DontHave(PeerId),
}

/// Bytes queued or being written to one peer, and a wake-up when they drain.
#[derive(Default)]
struct InFlight {
    bytes: Mutex<usize>,
    drained: Notify,
}

/// A message on its way to a peer, holding `accounted` bytes of the peer's budget and, for
/// blocks, room in the server's shared budget.
struct Outgoing {
    msg: Message,
    accounted: usize,
    permit: Option<crate::queue::Permit>,
}

/// Outbound streams the server writes blocks to one peer on. Each Yamux stream's receive
/// window is at most 1 MiB here (see `host::YAMUX_MAX_STREAMS`), so one stream carries at
/// most 1 MiB between two window updates; several streams keep the pipe full while the
/// receiver is busy verifying and storing. Wants and cancels always take the first stream,
/// so they keep their order.
const WRITE_STREAMS: usize = 4;

#[derive(Default)]
struct PeerState {
    writers: [Option<mpsc::Sender<Outgoing>>; WRITE_STREAMS],
    /// The stream the next block message goes to.
    next_writer: usize,
    in_flight: Arc<InFlight>,
    remembered: HashMap<Cid, Entry>,
    inbound_streams: usize,
    /// Wants received and not answered yet, in arrival order (a CID may repeat; the latest
    /// entry is in `pending_wants`).
    pending: std::collections::VecDeque<Cid>,
    pending_wants: HashMap<Cid, Entry>,
    /// Whether a task is answering its pending wants.
    serving: bool,
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
    waiters: Mutex<HashMap<Cid, Vec<Waiter>>>,
    /// Blocks wanted until a moment ago: a late copy of one (a want moved on to another peer
    /// after a second of silence, or answered just after its cancel) is a duplicate, not an
    /// unsolicited block, and costs the sender nothing.
    recently_wanted: Mutex<HashMap<Cid, std::time::Instant>>,
    next_waiter: AtomicU64,
    peers: Mutex<HashMap<PeerId, PeerState>>,
    queue: crate::queue::ServeQueue,
}

/// How long a block stays "recently wanted" after its want ended.
const LATE_BLOCK_GRACE: Duration = Duration::from_secs(60);
/// Most CIDs remembered as recently wanted (a bound on memory only).
const MAX_RECENTLY_WANTED: usize = 65_536;

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
            waiters: Mutex::new(HashMap::new()),
            recently_wanted: Mutex::new(HashMap::new()),
            next_waiter: AtomicU64::new(0),
            peers: Mutex::new(HashMap::new()),
            queue: crate::queue::ServeQueue::new(memory.serve_bytes),
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
        stats.wantlist = lock(&self.waiters).keys().copied().collect();
        stats.wantlist.sort_by_key(|c| c.to_bytes());
        stats
    }

    /// The wants `peer` left with us for blocks we did not have (Kubo's `wantlist --peer`).
    pub fn peer_wantlist(&self, peer: &PeerId) -> Vec<Cid> {
        let peers = lock(&self.peers);
        let mut out: Vec<Cid> = peers
            .get(peer)
            .map(|s| s.remembered.keys().copied().collect())
            .unwrap_or_default();
        out.sort_by_key(|c| c.to_bytes());
        out
    }

    async fn accept(self: Arc<Self>, peer: PeerId, stream: libp2p::Stream) {
        if self.ledger.standing(&peer) == Standing::Banned {
            self.host.disconnect(peer).await;
            return;
        }
        {
            let mut peers = lock(&self.peers);
            let state = peers.entry(peer).or_default();
            if state.inbound_streams >= MAX_INBOUND_STREAMS_PER_PEER {
                trace(|| format!("bitswap: refusing a stream from {peer}: too many open"));
                return;
            }
            state.inbound_streams += 1;
        }
        tokio::spawn(async move {
            let outcome = self.read_stream(peer, stream).await;
            if let Some(state) = lock(&self.peers).get_mut(&peer) {
                state.inbound_streams -= 1;
            }
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
        // Client side: hand blocks and DontHaves to whoever waits for them.
        let mut flooded = false;
        if !msg.blocks.is_empty() || !msg.presences.is_empty() {
            let mut waiters = lock(&self.waiters);
            for block in &msg.blocks {
                // Unsolicited blocks are dropped, earn no credit, and in bulk are a violation.
                let Some(list) = waiters.remove(&block.cid) else {
                    if !self.was_wanted(&block.cid) {
                        flooded |= self.ledger.unsolicited(peer, block.data.len());
                    }
                    continue;
                };
                self.ledger.received(peer, block.data.len());
                for (_, waiter) in list {
                    let _ = waiter.try_send(Reply::Block(block.clone(), peer));
                }
            }
            for (cid, presence) in &msg.presences {
                if *presence == Presence::DontHave {
                    for (_, waiter) in waiters.get(cid).into_iter().flatten() {
                        let _ = waiter.try_send(Reply::DontHave(peer));
                    }
                }
            }
        }
        if flooded {
            trace(|| format!("bitswap: banning {peer} for unsolicited blocks"));
            self.host.disconnect(peer).await;
            return;
        }
        // Server side: update the remembered wantlist and answer.
        if msg.wants.is_empty() && !msg.full {
            return;
        }
        // Answering may wait for send budget, so it runs in a task of its own per peer, beside
        // this read loop: a full budget never stops us reading the blocks this peer sends us.
        let start = {
            let mut peers = lock(&self.peers);
            let state = peers.entry(peer).or_default();
            if msg.full {
                state.remembered.clear();
                state.pending.clear();
                state.pending_wants.clear();
            }
            let mut dropped = 0;
            for want in msg.wants {
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
            if dropped > 0 {
                trace(|| format!("bitswap: {peer} has too many wants pending; dropped {dropped}"));
            }
            let start = !state.serving && !state.pending_wants.is_empty();
            state.serving |= start;
            start
        };
        if start {
            let ex = self.clone();
            tokio::spawn(async move { ex.serve_pending(peer).await });
        }
    }

    /// Answers `peer`'s pending wants in arrival order until there are none.
    async fn serve_pending(&self, peer: PeerId) {
        loop {
            let batch: Vec<Entry> = {
                let mut peers = lock(&self.peers);
                let Some(state) = peers.get_mut(&peer) else {
                    return;
                };
                let mut batch = Vec::new();
                while batch.len() < SERVE_BATCH {
                    let Some(cid) = state.pending.pop_front() else {
                        break;
                    };
                    // Absent when cancelled, or already answered under a repeat of the CID.
                    if let Some(want) = state.pending_wants.remove(&cid) {
                        batch.push(want);
                    }
                }
                if batch.is_empty() {
                    state.serving = false;
                    return;
                }
                batch
            };
            self.serve(peer, batch, true).await;
        }
    }

    /// Answers `wants` from the store; wants for missing blocks are remembered when
    /// `remember` (and get a DontHave when asked for one).
    async fn serve(&self, peer: PeerId, wants: Vec<Entry>, remember: bool) {
        let mut reply = Message::default();
        let mut reply_bytes = 0;
        for want in wants {
            // Peers verify every block they receive, so the server does not hash it again.
            let found = self.store.get_unverified(&want.cid).ok().flatten();
            match (found, want.want_type) {
                (Some(data), WantType::Block) => {
                    reply_bytes += data.len();
                    reply.blocks.push(Block {
                        cid: want.cid,
                        data,
                    });
                }
                (Some(data), WantType::Have) if data.len() <= INLINE_HAVE_BYTES => {
                    reply_bytes += data.len();
                    reply.blocks.push(Block {
                        cid: want.cid,
                        data,
                    });
                }
                (Some(_), WantType::Have) => reply.presences.push((want.cid, Presence::Have)),
                (None, _) if remember => {
                    if want.send_dont_have {
                        reply.presences.push((want.cid, Presence::DontHave));
                    }
                    let mut peers = lock(&self.peers);
                    let remembered = &mut peers.entry(peer).or_default().remembered;
                    if remembered.len() < MAX_REMEMBERED_WANTS {
                        remembered.insert(want.cid, want);
                    }
                    continue;
                }
                (None, _) => continue,
            }
            if let Some(state) = lock(&self.peers).get_mut(&peer) {
                state.remembered.remove(&want.cid);
            }
            if reply_bytes >= MESSAGE_TARGET_BYTES {
                self.send(peer, std::mem::take(&mut reply), reply_bytes)
                    .await;
                reply_bytes = 0;
            }
        }
        if !reply.blocks.is_empty() || !reply.presences.is_empty() {
            self.send(peer, reply, reply_bytes).await;
        }
    }

    /// Serves blocks that just arrived to the peers that asked for them earlier.
    pub async fn notify_new_blocks(&self, cids: &[Cid]) {
        let due: Vec<(PeerId, Vec<Entry>)> = {
            let peers = lock(&self.peers);
            peers
                .iter()
                .filter_map(|(peer, state)| {
                    let wants: Vec<Entry> = cids
                        .iter()
                        .filter_map(|c| state.remembered.get(c).cloned())
                        .collect();
                    (!wants.is_empty()).then_some((*peer, wants))
                })
                .collect()
        };
        for (peer, wants) in due {
            self.serve(peer, wants, false).await;
        }
    }

    /// Queues `msg` for `peer` once the peer's budget has room for `bytes` more in flight
    /// (a message larger than the budget waits for an empty pipe) and, for block bytes, the
    /// server's shared budget has room too, in credit order.
    async fn send(&self, peer: PeerId, msg: Message, bytes: usize) {
        let budget = self.ledger.budget(&peer);
        if budget == 0 {
            return;
        }
        let (tx, in_flight, slot) = {
            let mut peers = lock(&self.peers);
            let state = peers.entry(peer).or_default();
            let slot = if bytes == 0 {
                0
            } else {
                state.next_writer = (state.next_writer + 1) % WRITE_STREAMS;
                state.next_writer
            };
            let tx = state.writers[slot]
                .get_or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(256);
                    tokio::spawn(write_stream(
                        self.host.control(),
                        peer,
                        rx,
                        state.in_flight.clone(),
                    ));
                    tx
                })
                .clone();
            (tx, state.in_flight.clone(), slot)
        };
        loop {
            let drained = in_flight.drained.notified();
            {
                let mut queued = lock(&in_flight.bytes);
                if *queued == 0 || *queued + bytes <= budget {
                    *queued += bytes;
                    break;
                }
            }
            drained.await;
        }
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
            release(&in_flight, bytes);
            if let Some(state) = lock(&self.peers).get_mut(&peer) {
                state.writers[slot] = None;
            }
            return;
        }
        for len in sent {
            self.ledger.sent(peer, len);
        }
    }

    fn register(&self, cid: Cid) -> (WaiterGuard<'_>, mpsc::Receiver<Reply>) {
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(16);
        lock(&self.waiters).entry(cid).or_default().push((id, tx));
        (
            WaiterGuard {
                exchange: self,
                cid,
                id,
            },
            rx,
        )
    }

    /// Remembers that a want for `cid` just ended (see `recently_wanted`).
    fn wanted_until_now(&self, cid: Cid) {
        let now = std::time::Instant::now();
        let mut recent = lock(&self.recently_wanted);
        if recent.len() >= MAX_RECENTLY_WANTED {
            recent.retain(|_, at| now.duration_since(*at) < LATE_BLOCK_GRACE);
            if recent.len() >= MAX_RECENTLY_WANTED {
                recent.clear();
            }
        }
        recent.insert(cid, now);
    }

    /// Whether a want for `cid` ended within the grace period; the first late copy uses the
    /// grace up, so repeated copies of a wanted block still count against their sender.
    fn was_wanted(&self, cid: &Cid) -> bool {
        lock(&self.recently_wanted)
            .remove(cid)
            .is_some_and(|at| at.elapsed() < LATE_BLOCK_GRACE)
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

    /// One want within a session: sent to the best peer, moved on DontHave or silence.
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
        let mut denied = HashSet::new();
        let mut asked = Vec::new();
        loop {
            let Some(peer) = session.pick(&denied) else {
                return Err(ExchangeError::DontHave(cid));
            };
            if !asked.contains(&peer) {
                asked.push(peer);
            }
            let want = Message {
                wants: vec![entry.clone()],
                ..Default::default()
            };
            self.send(peer, want, 0).await;
            let resend = tokio::time::Instant::now() + WANT_RESEND;
            let delivered = loop {
                match tokio::time::timeout_at(resend.min(deadline), replies.recv()).await {
                    Ok(Some(Reply::Block(block, from))) => break Some((block, from)),
                    Ok(Some(Reply::DontHave(from))) => {
                        denied.insert(from);
                        if from == peer {
                            break None;
                        }
                    }
                    Ok(None) | Err(_) => {
                        session.strike(peer);
                        break None;
                    }
                }
            };
            session.done(peer);
            if let Some((block, from)) = delivered {
                session.delivered(from);
                for other in asked.into_iter().filter(|p| *p != from) {
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
        let mut waiters = lock(&self.exchange.waiters);
        if let Some(list) = waiters.get_mut(&self.cid) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                waiters.remove(&self.cid);
            }
        }
        drop(waiters);
        self.exchange.wanted_until_now(self.cid);
    }
}

/// The peers of one fetch and how they have done.
struct Session {
    peers: Mutex<HashMap<PeerId, SessionPeer>>,
}

#[derive(Default)]
struct SessionPeer {
    in_flight: usize,
    /// Wants it left unanswered since its last delivery.
    strikes: u32,
}

impl Session {
    fn new(peers: &[PeerId]) -> Result<Self, ExchangeError> {
        if peers.is_empty() {
            return Err(ExchangeError::NoPeers);
        }
        Ok(Self {
            peers: Mutex::new(peers.iter().map(|p| (*p, SessionPeer::default())).collect()),
        })
    }

    /// The peer for the next want: not among `denied`, fewest strikes, then least busy.
    fn pick(&self, denied: &HashSet<PeerId>) -> Option<PeerId> {
        let mut peers = lock(&self.peers);
        let (peer, state) = peers
            .iter_mut()
            .filter(|(p, _)| !denied.contains(p))
            .min_by_key(|(p, s)| (s.strikes.min(3), s.in_flight, p.to_bytes()))?;
        state.in_flight += 1;
        Some(*peer)
    }

    fn done(&self, peer: PeerId) {
        if let Some(s) = lock(&self.peers).get_mut(&peer) {
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }

    fn strike(&self, peer: PeerId) {
        if let Some(s) = lock(&self.peers).get_mut(&peer) {
            s.strikes += 1;
        }
    }

    fn delivered(&self, peer: PeerId) {
        if let Some(s) = lock(&self.peers).get_mut(&peer) {
            s.strikes = 0;
        }
    }
}

/// Protocol tracing on stderr when `CRUST_BITSWAP_TRACE` is set.
fn trace(line: impl FnOnce() -> String) {
    if std::env::var_os("CRUST_BITSWAP_TRACE").is_some() {
        eprintln!("{}", line());
    }
}

fn release(in_flight: &InFlight, bytes: usize) {
    let mut queued = lock(&in_flight.bytes);
    *queued = queued.saturating_sub(bytes);
    drop(queued);
    in_flight.drained.notify_waiters();
}

/// Writes queued messages to one outbound stream to `peer`, reopening it after an error.
async fn write_stream(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut rx: mpsc::Receiver<Outgoing>,
    in_flight: Arc<InFlight>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    let mut carried: Option<Outgoing> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match rx.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        // Coalesce whatever else is already queued into one message (Kubo answers a batch of
        // wants far better than a burst of one-want messages), staying under the size limit.
        let mut msg = first.msg;
        let mut accounted = first.accounted;
        let mut permits = vec![first.permit];
        let mut size = message_bytes(&msg);
        while size < MESSAGE_TARGET_BYTES {
            let Ok(next) = rx.try_recv() else { break };
            let next_size = message_bytes(&next.msg);
            if size + next_size > MESSAGE_TARGET_BYTES
                || msg.wants.len() + next.msg.wants.len() > bitswap::MAX_ENTRIES
            {
                carried = Some(next);
                break;
            }
            size += next_size;
            accounted += next.accounted;
            permits.push(next.permit);
            msg.wants.extend(next.msg.wants);
            msg.blocks.extend(next.msg.blocks);
            msg.presences.extend(next.msg.presences);
        }
        let body = msg.encode();
        let prefix = bitswap::frame_prefix(body.len());
        for _attempt in 0..2 {
            if stream.is_none() {
                stream = open(&mut control, peer).await;
            }
            let Some(s) = stream.as_mut() else { break };
            let written = async {
                s.write_all(&prefix).await?;
                s.write_all(&body).await?;
                s.flush().await
            };
            match tokio::time::timeout(WRITE_TIMEOUT, written).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => trace(|| format!("bitswap: write to {peer} failed: {e}")),
                Err(_) => {
                    // The peer stopped reading: drop the stream, and what is queued for it
                    // (its client re-sends the wants it still has).
                    trace(|| format!("bitswap: {peer} stopped reading; dropping its queue"));
                    stream = None;
                    while let Ok(queued) = rx.try_recv() {
                        release(&in_flight, queued.accounted);
                    }
                    break;
                }
            }
            stream = None;
        }
        release(&in_flight, accounted);
        drop(permits);
    }
}

/// Roughly the encoded size of a message: its block bytes plus ~40 bytes per entry.
fn message_bytes(msg: &Message) -> usize {
    msg.blocks.iter().map(|b| b.data.len() + 40).sum::<usize>()
        + 40 * (msg.wants.len() + msg.presences.len())
}

async fn open(control: &mut libp2p_stream::Control, peer: PeerId) -> Option<libp2p::Stream> {
    for id in bitswap::PROTOCOLS {
        if let Ok(s) = control.open_stream(peer, StreamProtocol::new(id)).await {
            return Some(s);
        }
    }
    None
}
