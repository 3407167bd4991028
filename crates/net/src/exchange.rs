//! Bitswap over libp2p streams: a server that answers wants from the blockstore and a client
//! that fetches whole DAGs with many wants in flight.
//!
//! As in Kubo, each side sends on its own outbound stream (one per peer, reused) and reads
//! whatever the peer sends on inbound streams, many length-prefixed messages per stream.
//! Every received block is checked against its CID by the codec before anyone sees it.

use crate::host::Host;
use crust_ipfs::bitswap::{self, Entry, Message, Presence, WantType};
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::{Block, Cid};
use futures::stream::FuturesUnordered;
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{PeerId, StreamProtocol};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Blocks up to this size answer a want-have directly (Kubo's `DefaultWantHaveReplaceSize`).
const INLINE_HAVE_BYTES: usize = 1024;
/// A want not answered within this is sent again.
const WANT_RESEND: Duration = Duration::from_secs(1);
/// Target size of one outgoing message with blocks.
const MESSAGE_TARGET_BYTES: usize = 1024 * 1024;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The peer said it does not have the block.
    #[error("peer does not have {0}")]
    DontHave(Cid),
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(Cid),
    /// The store failed.
    #[error("blockstore: {0}")]
    Store(String),
    /// The exchange stopped.
    #[error("the exchange has stopped")]
    Stopped,
}

type Waiter = oneshot::Sender<Result<Block, Cid>>;

/// The Bitswap service of one host.
pub struct Exchange {
    host: Host,
    store: Arc<dyn Blockstore>,
    wants: Mutex<HashMap<Cid, Vec<Waiter>>>,
    senders: Mutex<HashMap<PeerId, mpsc::Sender<Message>>>,
}

impl Exchange {
    /// Registers the Bitswap protocols on `host` and starts serving `store`.
    pub fn start(host: Host, store: Arc<dyn Blockstore>) -> Arc<Self> {
        let exchange = Arc::new(Self {
            host,
            store,
            wants: Mutex::new(HashMap::new()),
            senders: Mutex::new(HashMap::new()),
        });
        let mut control = exchange.host.control();
        for id in bitswap::PROTOCOLS {
            let Ok(mut incoming) = control.accept(StreamProtocol::new(id)) else {
                continue;
            };
            let ex = exchange.clone();
            tokio::spawn(async move {
                while let Some((peer, stream)) = incoming.next().await {
                    tokio::spawn(ex.clone().read_stream(peer, stream));
                }
            });
        }
        exchange
    }

    /// Reads messages from one inbound stream until it ends or misbehaves.
    async fn read_stream(self: Arc<Self>, peer: PeerId, mut stream: libp2p::Stream) {
        trace(|| format!("bitswap: inbound stream from {peer}"));
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = match stream.read(&mut chunk).await {
                Ok(0) => {
                    trace(|| {
                        format!(
                            "bitswap: inbound stream from {peer} ended ({} bytes left over)",
                            buf.len()
                        )
                    });
                    // Close our side too, so the peer sees a clean end rather than a reset.
                    let _ = stream.close().await;
                    return;
                }
                Err(e) => {
                    trace(|| format!("bitswap: read from {peer} failed: {e}"));
                    return;
                }
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let frames = match bitswap::take_frames(&mut buf) {
                Ok(f) => f,
                Err(e) => {
                    trace(|| format!("bitswap: dropping stream from {peer}: {e}"));
                    return;
                }
            };
            for frame in frames {
                match Message::decode(&frame) {
                    Ok(msg) => self.on_message(peer, msg).await,
                    Err(e) => {
                        trace(|| format!("bitswap: dropping stream from {peer}: {e}"));
                        return;
                    }
                }
            }
        }
    }

    async fn on_message(&self, peer: PeerId, msg: Message) {
        trace(|| {
            format!(
                "bitswap <- {peer}: {} wants, {} blocks, {} presences",
                msg.wants.len(),
                msg.blocks.len(),
                msg.presences.len()
            )
        });
        // Client side: deliver blocks and DontHaves to whoever waits for them.
        if !msg.blocks.is_empty() || !msg.presences.is_empty() {
            let mut wants = self.wants.lock().unwrap_or_else(|p| p.into_inner());
            for block in &msg.blocks {
                for waiter in wants.remove(&block.cid).unwrap_or_default() {
                    let _ = waiter.send(Ok(block.clone()));
                }
            }
            for (cid, presence) in &msg.presences {
                if *presence == Presence::DontHave {
                    for waiter in wants.remove(cid).unwrap_or_default() {
                        let _ = waiter.send(Err(*cid));
                    }
                }
            }
        }
        // Server side: answer wants from the store.
        let mut reply = Message::default();
        let mut reply_bytes = 0;
        for want in msg.wants.iter().filter(|w| !w.cancel) {
            let found = self.store.get(&want.cid).ok().flatten();
            match (found, want.want_type) {
                (Some(data), WantType::Block) => {
                    reply_bytes += data.len();
                    reply.blocks.push(Block {
                        cid: want.cid,
                        data,
                    });
                }
                (Some(data), WantType::Have) if data.len() <= INLINE_HAVE_BYTES => {
                    reply.blocks.push(Block {
                        cid: want.cid,
                        data,
                    });
                }
                (Some(_), WantType::Have) => reply.presences.push((want.cid, Presence::Have)),
                (None, _) if want.send_dont_have => {
                    reply.presences.push((want.cid, Presence::DontHave))
                }
                (None, _) => {}
            }
            if reply_bytes >= MESSAGE_TARGET_BYTES {
                self.send(peer, std::mem::take(&mut reply)).await;
                reply_bytes = 0;
            }
        }
        if !reply.blocks.is_empty() || !reply.presences.is_empty() {
            self.send(peer, reply).await;
        }
    }

    /// Queues `msg` for `peer` on its outbound stream (opened on first use).
    async fn send(&self, peer: PeerId, msg: Message) {
        let tx = {
            let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
            senders
                .entry(peer)
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(64);
                    tokio::spawn(write_stream(self.host.control(), peer, rx));
                    tx
                })
                .clone()
        };
        if tx.send(msg).await.is_err() {
            self.senders
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        }
    }

    /// Fetches one block from `peer`, re-sending the want every [`WANT_RESEND`] until
    /// `timeout` (a peer may drop or lose a want; Kubo re-broadcasts its wants too).
    pub async fn get_block(
        &self,
        peer: PeerId,
        cid: Cid,
        timeout: Duration,
    ) -> Result<Block, ExchangeError> {
        let (tx, mut rx) = oneshot::channel();
        self.wants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(cid)
            .or_default()
            .push(tx);
        let want = Entry {
            cid,
            priority: 1,
            cancel: false,
            want_type: WantType::Block,
            send_dont_have: true,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.send(
                peer,
                Message {
                    wants: vec![want.clone()],
                    ..Default::default()
                },
            )
            .await;
            let wait =
                WANT_RESEND.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            match tokio::time::timeout(wait, &mut rx).await {
                Ok(Ok(Ok(block))) => return Ok(block),
                Ok(Ok(Err(cid))) => return Err(ExchangeError::DontHave(cid)),
                Ok(Err(_)) => return Err(ExchangeError::Stopped),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(ExchangeError::Timeout(cid));
                }
                Err(_) => {}
            }
        }
    }

    /// Fetches the whole DAG under `root` from `peer` into the store, `window` wants in
    /// flight; blocks already stored are not fetched again. Returns blocks and bytes fetched.
    pub async fn fetch_dag(
        &self,
        peer: PeerId,
        root: Cid,
        window: usize,
        timeout: Duration,
    ) -> Result<(u64, u64), ExchangeError> {
        let mut queue = vec![root];
        let mut seen = HashSet::from([root]);
        let mut in_flight = FuturesUnordered::new();
        let (mut blocks, mut bytes) = (0u64, 0u64);
        loop {
            while in_flight.len() < window.max(1) {
                let Some(cid) = queue.pop() else { break };
                if let Some(data) = self
                    .store
                    .get(&cid)
                    .map_err(|e| ExchangeError::Store(e.to_string()))?
                {
                    for link in crust_ipfs::links::links(&cid, &data).unwrap_or_default() {
                        if seen.insert(link) {
                            queue.push(link);
                        }
                    }
                    continue;
                }
                in_flight.push(self.get_block(peer, cid, timeout));
            }
            let Some(result) = in_flight.next().await else {
                break;
            };
            let block = result?;
            self.store
                .put(&block)
                .map_err(|e| ExchangeError::Store(e.to_string()))?;
            blocks += 1;
            bytes += block.data.len() as u64;
            for link in crust_ipfs::links::links(&block.cid, &block.data).unwrap_or_default() {
                if seen.insert(link) {
                    queue.push(link);
                }
            }
        }
        self.store
            .sync()
            .map_err(|e| ExchangeError::Store(e.to_string()))?;
        Ok((blocks, bytes))
    }
}

/// Protocol tracing on stderr when `CRUST_BITSWAP_TRACE` is set.
fn trace(line: impl FnOnce() -> String) {
    if std::env::var_os("CRUST_BITSWAP_TRACE").is_some() {
        eprintln!("{}", line());
    }
}

/// Writes queued messages to one outbound stream to `peer`, reopening it after an error.
async fn write_stream(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    mut rx: mpsc::Receiver<Message>,
) {
    let mut stream: Option<libp2p::Stream> = None;
    while let Some(mut msg) = rx.recv().await {
        // Coalesce whatever else is already queued into one message (Kubo answers a batch of
        // wants far better than a burst of one-want messages).
        let mut size: usize = msg.blocks.iter().map(|b| b.data.len()).sum();
        while size < MESSAGE_TARGET_BYTES && msg.wants.len() < bitswap::MAX_ENTRIES / 2 {
            let Ok(next) = rx.try_recv() else { break };
            size += next.blocks.iter().map(|b| b.data.len()).sum::<usize>();
            msg.wants.extend(next.wants);
            msg.blocks.extend(next.blocks);
            msg.presences.extend(next.presences);
        }
        let frame = bitswap::frame(&msg.encode());
        for _attempt in 0..2 {
            if stream.is_none() {
                stream = open(&mut control, peer).await;
            }
            let Some(s) = stream.as_mut() else { break };
            match s.write_all(&frame).await.and(s.flush().await) {
                Ok(()) => break,
                Err(e) => trace(|| format!("bitswap: write to {peer} failed: {e}")),
            }
            stream = None;
        }
    }
}

async fn open(control: &mut libp2p_stream::Control, peer: PeerId) -> Option<libp2p::Stream> {
    for id in bitswap::PROTOCOLS {
        if let Ok(s) = control.open_stream(peer, StreamProtocol::new(id)).await {
            return Some(s);
        }
    }
    None
}
