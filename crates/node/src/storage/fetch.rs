//! The worker's side of the data network: fetching an ordered DAG over Bitswap within its
//! commitment's bound, sealing it, repairing damaged replicas, and serving what it holds.

use super::*;

/// Reads from the sealed replicas first, then the staging repository; writes go to staging.
/// The exchange serves both, so the worker serves what it holds to anyone on IPFS.
pub(super) struct Served {
    pub(super) sealed: Arc<crust_sworker::SealedStore>,
    pub(super) staging: Arc<Repo>,
}

impl Blockstore for Served {
    fn get(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        match self.sealed.get(cid)? {
            Some(b) => Ok(Some(b)),
            None => self.staging.get(cid),
        }
    }
    fn get_unverified(&self, cid: &Cid) -> Result<Option<bytes::Bytes>, StoreError> {
        match self.sealed.get(cid)? {
            Some(b) => Ok(Some(b)),
            None => self.staging.get_unverified(cid),
        }
    }
    fn has(&self, cid: &Cid) -> bool {
        self.sealed.has(cid) || self.staging.has(cid)
    }
    fn size(&self, cid: &Cid) -> Option<u64> {
        self.sealed.size(cid).or_else(|| self.staging.size(cid))
    }
    fn put(&self, block: &Block) -> Result<(), StoreError> {
        self.staging.put(block)
    }
    fn sync(&self) -> Result<(), StoreError> {
        self.staging.sync()
    }
}

/// Why a fetch failed: the DAG outgrew the bound (it is not the ordered content), or anything
/// else (worth retrying).
pub(super) enum FetchFailure {
    TooLarge(String),
    Failed(String),
}

impl From<FetchFailure> for String {
    fn from(f: FetchFailure) -> Self {
        match f {
            FetchFailure::TooLarge(e) | FetchFailure::Failed(e) => e,
        }
    }
}

/// Why a file was not stored.
pub(super) enum StoreFailure {
    /// Worth trying again (no peer, a network or disk error).
    Retry(String),
    /// Never to be stored: the content is not what was ordered.
    Refuse(String),
}

/// The worker's side of the data network.
pub(super) struct Net {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) host: crust_net::Host,
    pub(super) exchange: Arc<crust_net::Exchange>,
    pub(super) staging: Arc<Repo>,
    pub(super) peers: Vec<String>,
}

impl Net {
    /// Fetches every block of `cid` from the peers into staging (whatever is held elsewhere).
    pub(super) fn fetch(
        &self,
        cid: Cid,
        hints: &[String],
        max_bytes: Option<u64>,
    ) -> Result<(), FetchFailure> {
        self.rt.block_on(async {
            // Dial every hint at once (stale addresses on chain must not hold the fetch up).
            let mut dials = Vec::new();
            for addr in hints.iter().chain(&self.peers) {
                let addr = addr
                    .parse()
                    .map_err(|e| FetchFailure::Failed(format!("peer {addr}: {e}")))?;
                dials.push(tokio::time::timeout(DIAL_TIMEOUT, self.host.dial(addr)));
            }
            let mut connected: Vec<crust_net::PeerId> = Vec::new();
            for peer in futures::future::join_all(dials)
                .await
                .into_iter()
                .flatten()
                .flatten()
            {
                if !connected.contains(&peer) {
                    connected.push(peer);
                }
            }
            // Whoever announces the file on the DHT too (the user's own IPFS node, other
            // storage nodes): the session asks them all and routes around those without it.
            let lookup = self.host.find_providers(cid);
            if let Ok(Ok(providers)) = tokio::time::timeout(Duration::from_secs(10), lookup).await {
                for provider in providers {
                    if provider == self.host.peer_id() || connected.contains(&provider) {
                        continue;
                    }
                    if let Ok(peer) = self.host.connect(provider).await {
                        connected.push(peer);
                    }
                }
            }
            if connected.is_empty() {
                return Err(FetchFailure::Failed(
                    "no peer, provider hint or DHT provider reachable".to_owned(),
                ));
            }
            self.exchange
                .fetch_dag_into(
                    &*self.staging,
                    &connected,
                    cid,
                    &crust_net::FetchOptions {
                        max_bytes,
                        ..crust_net::FetchOptions::default()
                    },
                    &mut |_| {},
                )
                .await
                .map_err(|e| match e {
                    crust_net::exchange::ExchangeError::TooLarge(_) => {
                        FetchFailure::TooLarge(e.to_string())
                    }
                    other => FetchFailure::Failed(other.to_string()),
                })?;
            Ok(())
        })
    }

    /// Fetches `cid`, checks it against the order's content commitment (D29) and seals it;
    /// returns its size. Content whose commitment differs is dropped, never sealed.
    pub(super) fn store(
        &self,
        worker: &mut Worker,
        cid: Cid,
        expected: Option<&ContentCommitment>,
        hints: &[String],
    ) -> Result<u64, StoreFailure> {
        if let Some(done) = worker.sealed().file(&cid) {
            return Ok(done.size);
        }
        let Some(expected) = expected else {
            return Err(StoreFailure::Retry("the chain has no order for it".into()));
        };
        // The blocks of a DAG take less than its canonical CAR (which adds the CIDs and
        // lengths): anything more than the commitment's size is not the ordered content.
        match self.fetch(cid, hints, Some(expected.size)) {
            Ok(()) => {}
            Err(FetchFailure::TooLarge(e)) => {
                let _ = self.staging.gc();
                return Err(StoreFailure::Refuse(e));
            }
            Err(FetchFailure::Failed(e)) => return Err(StoreFailure::Retry(e)),
        }
        // D29: the worker computes the content commitment before sealing and refuses content
        // that is not what the order committed to.
        let sealed = match worker.store_file(&*self.staging, cid, Some(expected)) {
            Ok(sealed) => sealed,
            Err(e) if e.is_commitment_mismatch() => {
                let _ = self.staging.gc();
                return Err(StoreFailure::Refuse(e.to_string()));
            }
            Err(e) => return Err(StoreFailure::Retry(e.to_string())),
        };
        // The plaintext copy is no longer needed: nothing in staging is pinned.
        let _ = self.staging.gc();
        // Anyone on IPFS can now find this replica (best effort: a lone node has no DHT).
        let _ = self.rt.block_on(self.host.provide(cid));
        Ok(sealed.size)
    }

    /// Re-fetches a damaged file and re-seals it (D28), from the other replica holders first.
    pub(super) fn repair(
        &self,
        worker: &mut Worker,
        cid: Cid,
        holders: &[String],
    ) -> Result<(), String> {
        self.fetch(cid, holders, None).map_err(String::from)?;
        worker
            .repair(&*self.staging, cid)
            .map_err(|e| e.to_string())?;
        let _ = self.staging.gc();
        Ok(())
    }
}
