//! JSON-RPC 2.0 over HTTP (`POST /`) and WebSocket (`GET /ws`): submit transactions and read
//! the chain, with proofs. Every method's parameters and answer are the types of
//! [`crust_client::api`] — the contract the CLI, the storage worker and the console decode —
//! so this module only maps each method to the node's state. The method list with examples is
//! in `docs/rpc.md`.
//!
//! Errors use [`crust_client::wire::code`]: -32700 parse, -32601 unknown method, -32602 bad
//! params, -32603 internal, 1 refused transaction, 2 not found.
//!
//! The WebSocket adds subscriptions: `chain_subscribeFinalizedHeads` and
//! `chain_subscribeEvents` answer with a subscription id and then push `chain_finalizedHead` /
//! `chain_events` notifications for every finalized block; `chain_unsubscribe {subscription}`
//! stops one.

use crate::consensus::app::SharedCore;
use crate::consensus::core::Finalized;
use crate::hash::Hash;
use crate::tx::Transaction;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::{Json, Router, extract::State, routing::get, routing::post};
use crust_client::api::{self, Method};
use crust_client::queries;
use crust_client::wire::{self, ErrorObject, code};
use serde_json::{Value, json};

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// How many heights `chain_finality` looks through for a certificate.
pub const FINALITY_SEARCH: u64 = 64;
/// Most transactions in one `author_submitBatch`.
pub const MAX_BATCH: usize = 1000;
/// Records `market_files` scans per call.
const FILES_SCAN: usize = 10_000;
/// Files `market_files` answers per call.
const FILES_PAGE: usize = 1000;
/// Records `swork_peers` answers per call.
const PEERS_PAGE: usize = 1000;

type Answer<M> = Result<<M as Method>::Output, ErrorObject>;

fn not_found(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::NOT_FOUND, message)
}

fn internal(e: impl std::fmt::Display) -> ErrorObject {
    ErrorObject::new(code::INTERNAL, e.to_string())
}

/// The RPC router for a node.
pub fn router<S>(core: SharedCore<S>) -> Router
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    router_with_metrics(core, None)
}

/// [`router`], counting each HTTP request and its handling time by method in `metrics`.
pub fn router_with_metrics<S>(
    core: SharedCore<S>,
    metrics: Option<crate::metrics::ChainMetrics>,
) -> Router
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let http = Router::new()
        .route("/", post(handle::<S>))
        .with_state((core.clone(), metrics));
    Router::new()
        .route("/ws", get(ws::upgrade::<S>))
        .with_state(core)
        .merge(http)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
}

async fn handle<S>(
    State((core, metrics)): State<(SharedCore<S>, Option<crate::metrics::ChainMetrics>)>,
    body: axum::body::Bytes,
) -> Json<Value>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    Json(match wire::parse_request(&body) {
        Ok((id, method, params)) => {
            let started = std::time::Instant::now();
            match answer(&core, &method, params).await {
                Ok(result) => {
                    if let Some(m) = &metrics {
                        m.rpc(&method, started.elapsed().as_secs_f64(), true);
                    }
                    wire::reply(&id, result)
                }
                Err(e) => {
                    if let Some(m) = &metrics {
                        // An unknown method is counted as `unknown`: clients cannot add labels.
                        let label = if e.code == code::UNKNOWN_METHOD {
                            "unknown"
                        } else {
                            method.as_str()
                        };
                        m.rpc(label, started.elapsed().as_secs_f64(), false);
                    }
                    wire::error_reply(&id, &e)
                }
            }
        }
        Err(e) => wire::error_reply(&Value::Null, &e),
    })
}

/// Answers one request as a JSON-RPC reply envelope.
pub(crate) async fn dispatch<S>(
    core: &SharedCore<S>,
    method: &str,
    params: &Value,
    id: &Value,
) -> Value
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    match answer(core, method, params.clone()).await {
        Ok(result) => wire::reply(id, result),
        Err(e) => wire::error_reply(id, &e),
    }
}

/// Decodes `M`'s parameters, runs `handler` and encodes its answer.
async fn run<M: Method, F>(
    params: Value,
    handler: impl FnOnce(M::Params) -> F,
) -> Result<Value, ErrorObject>
where
    F: std::future::Future<Output = Answer<M>>,
{
    let output = handler(wire::params::<M>(params)?).await?;
    serde_json::to_value(output).map_err(internal)
}

/// The answer to one method call.
async fn answer<S>(core: &SharedCore<S>, method: &str, params: Value) -> Result<Value, ErrorObject>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    use api::*;
    match method {
        GenesisHash::NAME => {
            run::<GenesisHash, _>(params, async |_| Ok(core.lock().await.genesis_hash)).await
        }
        ChainHead::NAME => run::<ChainHead, _>(params, async |_| chain_head(core).await).await,
        SystemChain::NAME => {
            run::<SystemChain, _>(params, async |_| {
                let c = core.lock().await;
                let slot_blocks = crust_runtime::system::config(&c.view())
                    .map(|cfg| cfg.report_slot_blocks)
                    .map_err(|e| not_found(e.to_string()))?;
                Ok(ChainInfo {
                    genesis_hash: c.genesis_hash,
                    namespace: String::from_utf8_lossy(&c.namespace).into_owned(),
                    era_blocks: c.limits.era_blocks,
                    slot_blocks,
                })
            })
            .await
        }
        SystemMemory::NAME => {
            run::<SystemMemory, _>(params, async |_| {
                let c = core.lock().await;
                let (blocks, bytes) = c.history().cache_usage();
                let history = c.history().config();
                let n = |v: usize| v as u64;
                Ok(MemoryInfo {
                    mempool_txs: n(c.mempool.len()),
                    mempool_bytes: n(c.mempool.bytes()),
                    mempool_max_bytes: n(c.mempool.config().max_bytes),
                    recent_blocks: n(blocks),
                    recent_block_bytes: n(bytes),
                    recent_block_max_bytes: n(history.cache_bytes),
                    indexed_txs: n(c.history().indexed()),
                    indexed_txs_max: n(history.indexed_txs),
                })
            })
            .await
        }
        ChainFinality::NAME => {
            run::<ChainFinality, _>(params, async |p| finality(core, p).await).await
        }
        ChainBlock::NAME => run::<ChainBlock, _>(params, async |p| block(core, p).await).await,
        AuthorSubmit::NAME => run::<AuthorSubmit, _>(params, async |p| submit(core, p).await).await,
        AuthorSubmitBatch::NAME => {
            run::<AuthorSubmitBatch, _>(params, async |p| submit_batch(core, p).await).await
        }
        AuthorTxStatus::NAME => {
            run::<AuthorTxStatus, _>(params, async |p| tx_status(core, p).await).await
        }
        StateAccount::NAME => {
            run::<StateAccount, _>(params, async |p| account(core, p).await).await
        }
        MarketFile::NAME => {
            run::<MarketFile, _>(params, async |p: FileParams| {
                let cid = p.cid;
                let (file, height, proof) =
                    query(core, p.prove, |s| queries::market_file(s, &cid)).await?;
                Ok(FileAnswer {
                    file,
                    height,
                    proof,
                })
            })
            .await
        }
        MarketPrices::NAME => {
            run::<MarketPrices, _>(params, async |p: Prove| {
                let (prices, height, proof) =
                    query(core, p.prove, |s| queries::market_prices(s)).await?;
                Ok(PricesAnswer {
                    prices,
                    height,
                    proof,
                })
            })
            .await
        }
        SworkWorkReport::NAME => {
            run::<SworkWorkReport, _>(params, async |p: ReportParams| {
                let anchor = p.anchor.0;
                let (report, height, proof) =
                    query(core, p.prove, |s| queries::work_report(s, &anchor)).await?;
                Ok(ReportAnswer {
                    report,
                    height,
                    proof,
                })
            })
            .await
        }
        SworkPeer::NAME => {
            run::<SworkPeer, _>(params, async |p: WhoParams| {
                let who = p.account;
                let (peer, height, proof) =
                    query(core, p.prove, |s| queries::swork_peer(s, &who)).await?;
                Ok(PeerAnswer {
                    peer,
                    height,
                    proof,
                })
            })
            .await
        }
        StateOverview::NAME => {
            run::<StateOverview, _>(params, async |p: AccountParams| {
                let who = p.account;
                let (overview, height, proof) =
                    query(core, p.prove, |s| queries::overview(s, &who)).await?;
                Ok(OverviewAnswer {
                    overview,
                    height,
                    proof,
                })
            })
            .await
        }
        SworkWorker::NAME => {
            run::<SworkWorker, _>(params, async |p: WhoParams| {
                let who = p.account;
                let (worker, height, proof) =
                    query(core, p.prove, |s| queries::swork_worker(s, &who)).await?;
                Ok(WorkerAnswer {
                    worker,
                    height,
                    proof,
                })
            })
            .await
        }
        SystemConfig::NAME => {
            run::<SystemConfig, _>(params, async |p: Prove| {
                let (config, height, proof) =
                    query(core, p.prove, |s| queries::system_config(s)).await?;
                Ok(ConfigAnswer {
                    config,
                    height,
                    proof,
                })
            })
            .await
        }
        NetworkHistory::NAME => {
            run::<NetworkHistory, _>(params, async |p: HistoryParams| {
                let limit = p.limit.unwrap_or(HISTORY_PAGE).min(HISTORY_PAGE);
                let (history, height, proof) = query(core, p.prove, |s| {
                    queries::network_history(s, p.before, limit)
                })
                .await?;
                Ok(HistoryAnswer {
                    history,
                    height,
                    proof,
                })
            })
            .await
        }
        StakingSlashes::NAME => {
            run::<StakingSlashes, _>(params, async |p: SlashesParams| {
                let (pending, height, proof) =
                    query(core, p.prove, |s| queries::pending_slashes(s, p.from)).await?;
                Ok(SlashesAnswer {
                    pending,
                    height,
                    proof,
                })
            })
            .await
        }
        SworkPeers::NAME => run::<SworkPeers, _>(params, async |p| peers(core, p).await).await,
        StakingStakeLimit::NAME => {
            run::<StakingStakeLimit, _>(params, async |p: StashParams| {
                let stash = p.stash;
                let (stake_limit, height, proof) =
                    query(core, p.prove, |s| queries::stake_limit(s, &stash)).await?;
                Ok(StakeLimitAnswer {
                    stake_limit,
                    height,
                    proof,
                })
            })
            .await
        }
        StakingCommittee::NAME => {
            run::<StakingCommittee, _>(params, async |p: EraParams| {
                let (committee, height, proof) =
                    query(core, p.prove, |s| queries::committee(s, p.era)).await?;
                Ok(CommitteeAnswer {
                    committee,
                    height,
                    proof,
                })
            })
            .await
        }
        MarketFiles::NAME => run::<MarketFiles, _>(params, async |p| files(core, p).await).await,
        StakingValidators::NAME => {
            run::<StakingValidators, _>(params, async |_| {
                let c = core.lock().await;
                staking_view(&c.view(), c.last_finalized.0).map_err(|e| not_found(e.to_string()))
            })
            .await
        }
        StakingHandoffs::NAME => {
            run::<StakingHandoffs, _>(params, async |p| handoffs(core, p).await).await
        }
        GovernanceOverview::NAME => {
            run::<GovernanceOverview, _>(params, async |_| {
                let c = core.lock().await;
                governance_view(&c.view(), c.last_finalized.0).map_err(|e| not_found(e.to_string()))
            })
            .await
        }
        StateProofOf::NAME => {
            run::<StateProofOf, _>(params, async |p: KeyParams| {
                let c = core.lock().await;
                let root = c.store.root().unwrap_or_default();
                let proof = c
                    .store
                    .prove(&p.key.0)
                    .await
                    .map_err(|e| not_found(e.to_string()))?;
                Ok(KeyProof {
                    value: proof.value,
                    proof: proof.proof,
                    root,
                    height: c.last_finalized.0,
                })
            })
            .await
        }
        other => Err(ErrorObject::new(
            code::UNKNOWN_METHOD,
            format!("unknown method '{other}'"),
        )),
    }
}

async fn chain_head<S>(core: &SharedCore<S>) -> Answer<api::ChainHead>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let c = core.lock().await;
    let (height, hash) = c.last_finalized;
    Ok(api::HeadInfo {
        height,
        hash,
        state_root: c.store.root().map_err(internal)?,
    })
}

async fn finality<S>(core: &SharedCore<S>, p: api::AtHeight) -> Answer<api::ChainFinality>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let height = p.height;
    let (lookup, head) = {
        let c = core.lock().await;
        (c.finality.clone(), c.last_finalized.0)
    };
    let lookup = lookup.ok_or_else(|| not_found("this node does not run consensus"))?;
    if height > head {
        return Err(not_found(format!(
            "height {height} is not final yet (head {head})"
        )));
    }
    // The first certificate at or above `height`: a block finalized only through a
    // descendant has none of its own, and the descendant's covers it by hash links.
    for h in height..=head.min(height.saturating_add(FINALITY_SEARCH)) {
        if let Some(certificate) = lookup(h).await
            && let Some((era, hash)) = crate::consensus::finality::describe(&certificate)
        {
            return Ok(api::FinalityInfo {
                height: h,
                hash,
                era,
                certificate,
            });
        }
    }
    Err(not_found(format!(
        "no finalization certificate kept from height {height}"
    )))
}

/// A finalized block from memory under the lock, or from disk after it is released (so reading
/// old blocks never holds up block production).
async fn finalized<S>(
    core: &SharedCore<S>,
    height: u64,
) -> Result<Option<std::sync::Arc<Finalized>>, ErrorObject>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let (cached, reader) = {
        let c = core.lock().await;
        if height == 0 {
            return Ok(c.genesis_block.clone());
        }
        (c.history().cached(height).cloned(), c.history().reader())
    };
    match cached {
        Some(f) => Ok(Some(f)),
        None => reader.get(height).await.map_err(internal),
    }
}

/// Committee handoffs from `p.from` on, as far as this node recorded them: each with the
/// headers from its proof's block to the first certified block and that certificate.
async fn handoffs<S>(core: &SharedCore<S>, p: api::HandoffsParams) -> Answer<api::StakingHandoffs>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let limit = p
        .limit
        .unwrap_or(api::MAX_HANDOFFS)
        .clamp(1, api::MAX_HANDOFFS);
    let mut out = Vec::new();
    for era in p.from..p.from.saturating_add(u64::from(limit)) {
        let record = core.lock().await.handoff(era).await.map_err(internal)?;
        let Some(record) = record else { break };
        let height = record.proof.height;
        let header = |h: u64| {
            block(
                core,
                api::BlockParams {
                    height: h,
                    bodies: Some(false),
                    receipts: Some(false),
                },
            )
        };
        let (headers, finality) = if height == 0 {
            (vec![header(0).await?], None)
        } else {
            let f = finality(core, api::AtHeight { height }).await?;
            let mut headers = Vec::new();
            for h in height..=f.height {
                headers.push(header(h).await?);
            }
            (headers, Some(f))
        };
        out.push(api::Handoff {
            era,
            proof: record.proof,
            headers,
            finality,
        });
    }
    Ok(out)
}

async fn block<S>(core: &SharedCore<S>, p: api::BlockParams) -> Answer<api::ChainBlock>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let height = p.height;
    let f = finalized(core, height)
        .await?
        .ok_or_else(|| not_found(format!("block {height} is not finalized yet")))?;
    let block = &f.block;
    let h = &block.header;
    Ok(api::BlockInfo {
        hash: block.hash(),
        parent: h.parent,
        height: h.height,
        timestamp_ms: h.timestamp_ms,
        era: h.era,
        proposer: h.proposer,
        state_root: h.state_root,
        tx_root: h.tx_root,
        receipts_root: h.receipts_root,
        transactions: block.transactions.iter().map(Transaction::hash).collect(),
        evidence_root: h.evidence_root,
        evidence: block.evidence.clone(),
        // The encoded transactions, so followers (storage workers) can see calls.
        bodies: p.bodies.unwrap_or(true).then(|| {
            block
                .transactions
                .iter()
                .map(|t| api::HexBytes(t.encode()))
                .collect()
        }),
        receipts: p
            .receipts
            .unwrap_or(true)
            .then(|| f.outcome.receipts.clone()),
    })
}

/// Queues one decoded transaction against the committed state (and gossips it on).
fn queue<S>(c: &mut crate::consensus::core::ChainCore<S>, bytes: &[u8]) -> Result<Hash, String>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let tx = Transaction::decode(bytes).map_err(|e| e.to_string())?;
    c.admit_local(tx).map_err(|e| e.to_string())
}

async fn submit<S>(core: &SharedCore<S>, p: api::SubmitParams) -> Answer<api::AuthorSubmit>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let mut guard = core.lock().await;
    queue(&mut guard, &p.tx.0).map_err(|e| ErrorObject::new(code::REFUSED, e))
}

async fn submit_batch<S>(
    core: &SharedCore<S>,
    p: api::SubmitBatchParams,
) -> Answer<api::AuthorSubmitBatch>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    if p.txs.len() > MAX_BATCH {
        return Err(ErrorObject::new(
            code::BAD_PARAMS,
            format!("at most {MAX_BATCH} transactions per batch"),
        ));
    }
    let mut guard = core.lock().await;
    Ok(p.txs
        .iter()
        .map(|tx| match queue(&mut guard, &tx.0) {
            Ok(hash) => api::Submitted::Queued { hash },
            Err(error) => api::Submitted::Refused { error },
        })
        .collect())
}

async fn tx_status<S>(core: &SharedCore<S>, p: api::TxHashParams) -> Answer<api::AuthorTxStatus>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let hash = p.hash;
    let (height, pending) = {
        let c = core.lock().await;
        (c.history().height_of(&hash), c.mempool.contains(&hash))
    };
    let block = match height {
        Some(h) => finalized(core, h).await?,
        None => None,
    };
    let found = block.and_then(|b| {
        let receipts = &b.outcome.receipts;
        let index = receipts.iter().position(|r| r.tx_hash == hash)?;
        let proof = p.prove.then(|| {
            let leaves: Vec<Hash> = receipts
                .iter()
                .map(crust_light::block::Receipt::leaf)
                .collect();
            api::ReceiptProof {
                events_hash: receipts[index].events_hash,
                index: index as u64,
                count: receipts.len() as u64,
                path: crust_light::hash::merkle_path(&leaves, index).unwrap_or_default(),
            }
        });
        Some((receipts[index].clone(), proof))
    });
    Ok(match (height, found) {
        (Some(height), Some((r, proof))) => api::TxStatus::Finalized {
            height,
            success: r.success,
            error: r.error,
            paid: r.paid,
            proof,
        },
        _ if pending => api::TxStatus::Pending,
        _ => api::TxStatus::Unknown,
    })
}

async fn account<S>(core: &SharedCore<S>, p: api::AccountParams) -> Answer<api::StateAccount>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let who = p.account;
    let (info, height, proof) = query(core, p.prove, |s| Ok(queries::account(s, &who))).await?;
    // Not proven (the pool is this node's own): the nonce after this account's transactions
    // queued here, over the committed nonce read again under the pool's lock (a block finalized
    // since the answer was read has left the pool).
    let c = core.lock().await;
    let view = crate::layer::Layer::new(c.store.committed(), crate::layer::Diff::new());
    let committed = crust_runtime::balances::account(&view, &who)
        .map_or(info.nonce, |a| a.nonce)
        .max(info.nonce);
    Ok(api::AccountInfo {
        free: info.free,
        reserved: info.reserved,
        nonce: info.nonce,
        next_nonce: c.mempool.next_nonce(&who, committed),
        height,
        proof,
    })
}

async fn peers<S>(core: &SharedCore<S>, p: api::PeersParams) -> Answer<api::SworkPeers>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    // A page of peer records (where storage identities serve their replicas), with the bytes of
    // files each last reported; says where to continue.
    let c = core.lock().await;
    let view = c.view();
    let page =
        crust_runtime::swork::peers(&view, p.after.as_ref(), PEERS_PAGE).map_err(internal)?;
    let next = (page.len() == PEERS_PAGE)
        .then(|| page.last().map(|(who, _)| *who))
        .flatten();
    Ok(api::PeersPage {
        head: c.last_finalized.0,
        peers: page
            .iter()
            .map(|(who, r)| queries::peer_info(who, r, &view))
            .collect(),
        next,
    })
}

async fn files<S>(core: &SharedCore<S>, p: api::FilesParams) -> Answer<api::MarketFiles>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    // A page of files, optionally only one orderer's: scans at most FILES_SCAN records per
    // call and says where to continue.
    let c = core.lock().await;
    let page = crust_runtime::market::files(&c.view(), p.after.as_ref(), FILES_SCAN);
    let next = (page.len() == FILES_SCAN)
        .then(|| page.last().map(|(cid, _)| *cid))
        .flatten();
    let files = page
        .iter()
        .filter(|(_, f)| p.orderer.is_none_or(|o| f.orderer == o))
        .take(FILES_PAGE)
        .map(|(cid, f)| api::FileSummary {
            cid: *cid,
            size_bytes: f.file_size,
            expires_at: f.expired_at,
            replica_count: f.replicas.len(),
            orderer: f.orderer,
            amount: f.amount,
            prepaid: f.prepaid,
        })
        .collect();
    Ok(api::FilesPage {
        head: c.last_finalized.0,
        files,
        next,
    })
}

/// Runs a read-only runtime query on the finalized state: `(answer, height, proof)`, where the
/// proof (when `prove`) proves every state entry the query read.
async fn query<S, T>(
    core: &SharedCore<S>,
    prove: bool,
    q: impl FnOnce(&crate::proof::Recording<'_, crate::layer::Layer<'_>>) -> Result<T, String> + Send,
) -> Result<(T, u64, Option<crust_light::proof::QueryProof>), ErrorObject>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let c = core.lock().await;
    if prove {
        let p = c
            .prove_query(q)
            .await
            .map_err(|e| not_found(e.to_string()))?;
        let proof = p.proof();
        let value = p.value.map_err(not_found)?;
        Ok((value, p.height, Some(proof)))
    } else {
        let view = c.view();
        let value = q(&crate::proof::Recording::new(&view)).map_err(not_found)?;
        Ok((value, c.last_finalized.0, None))
    }
}

/// The staking picture at the finalized head: the active era's committee, the next era's if
/// already elected, and every candidate's bond, stake limit and commission.
fn staking_view(
    state: &impl crust_runtime::State,
    height: u64,
) -> Result<api::StakingView, crust_runtime::staking::StakingError> {
    use crust_runtime::staking;
    let era = staking::active_era(state)?;
    let members =
        |era| -> Result<Option<Vec<api::Member>>, staking::StakingError> {
            Ok(staking::committee(state, era)?
                .map(|list| list.iter().map(api::Member::from).collect()))
        };
    let mut candidates = Vec::new();
    for (stash, prefs) in staking::validators(state)? {
        let bonded = staking::ledger_of_stash(state, &stash)?.map_or(0, |(_, l)| l.active);
        let limit = staking::stake_limit(state, &stash)?;
        candidates.push(api::Candidate {
            stash,
            bonded,
            stake_limit: limit,
            effective_own: bonded.min(limit),
            commission_ppb: prefs.commission.deconstruct(),
            workload: crust_runtime::swork::workload(state, &stash).unwrap_or(0),
        });
    }
    Ok(api::StakingView {
        height,
        era,
        committee: members(era)?,
        next_committee: members(era + 1)?,
        candidates,
    })
}

/// The governance picture at `height` (the newest 50 proposals).
fn governance_view(
    state: &impl crust_runtime::State,
    height: u64,
) -> Result<api::GovernanceView, crust_runtime::governance::GovernanceError> {
    use crust_runtime::{governance, staking, system};
    let params = governance::params(state)?;
    let council = governance::council(state)?;
    let electorate = staking::total_active(state)?;
    let count = governance::proposal_count(state)?;
    let mut proposals = Vec::new();
    for id in (count.saturating_sub(50)..count).rev() {
        let Some(p) = governance::proposal(state, id)? else {
            continue;
        };
        let t = params.threshold(p.kind);
        proposals.push(api::ProposalView {
            id,
            kind: format!("{:?}", p.kind),
            proposer: p.proposer,
            call: format!("{:?}", p.call.0),
            aye: p.aye,
            nay: p.nay,
            voters: p.voters,
            turnout_ppb: t.turnout.deconstruct(),
            approval_ppb: t.approval.deconstruct(),
            passing: governance::passes(t, p.aye, p.nay, electorate),
            submitted_at: p.submitted_at,
            voting_ends: p.voting_ends,
            status: governance::status_text(&p.status),
        });
    }
    Ok(api::GovernanceView {
        height,
        protocol_version: system::protocol_version(state)?,
        scheduled_upgrade: system::scheduled_upgrade(state)?.map(|u| (u.version, u.at)),
        sudo: system::config(state)?.sudo,
        council: council.members,
        council_threshold: council.threshold,
        electorate,
        treasury: governance::treasury_balance(state)?,
        proposal_deposit: params.proposal_deposit,
        voting_period: params.voting_period,
        enactment_delay: params.enactment_delay,
        proposal_count: count,
        proposals,
    })
}

mod ws;

#[cfg(test)]
mod tests;
