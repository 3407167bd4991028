//! JSON-RPC 2.0 over HTTP (`POST /`): submit transactions and read the chain, with proofs.
//!
//! Methods (params are a JSON object):
//! - `chain_head` → `{height, hash, state_root}` of the last finalized block;
//! - `chain_block {height, bodies?, receipts?}` → header and transaction hashes (with the
//!   encoded transactions and their receipts unless asked not to);
//! - `author_submit {tx}` → the transaction hash, or the mempool's reason for refusing it
//!   (`tx` is the hex encoding of a signed transaction);
//! - `author_submitBatch {txs}` → per transaction `{hash}` or `{error}`, in order (at most 1000);
//! - `state_account {account, prove?}` → `{free, reserved, nonce, next_nonce, height, proof?}`
//!   (`next_nonce` counts the account's transactions queued here, unproven);
//! - `market_file {cid}`, `market_prices`, `swork_workReport {anchor}`, `staking_stakeLimit
//!   {stash}`, `staking_committee {era?}` → the record (or `null`); with `prove: true` each
//!   answer carries proofs of every state key the query read (see [`crate::proof`]);
//! - `state_proof {key}` → `{value, proof, root}` (hex): a proof of the value (or of absence)
//!   under the committed root, checkable with `StateProof::verify`;
//! - `genesis_hash` → the hash every transaction must be signed over.
//!
//! Errors use JSON-RPC codes: -32700 parse, -32601 unknown method, -32602 bad params, 1 refused
//! transaction, 2 not found.
//!
//! The same methods are served over a WebSocket at `GET /ws`, which adds subscriptions:
//! `chain_subscribeFinalizedHeads` and `chain_subscribeEvents` answer with a subscription id
//! and then push `chain_finalizedHead` / `chain_events` notifications for every finalized
//! block; `chain_unsubscribe {subscription}` stops one.

use crate::consensus::app::SharedCore;
use crate::hash::Hash;
use crate::tx::Transaction;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::{Json, Router, extract::State, routing::get, routing::post};
use crust_primitives::AccountId;
use crust_primitives::account::to_hex;
use serde_json::{Value, json};

/// Largest request body accepted.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// How many heights `chain_finality` looks through for a certificate.
pub const FINALITY_SEARCH: u64 = 64;
/// Most transactions in one `author_submitBatch`.
pub const MAX_BATCH: usize = 1000;

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() > 2 * MAX_REQUEST_BYTES + 2 {
        return None;
    }
    crust_primitives::account::from_hex(s)
}

/// An optional string parameter parsed as `T`: the error reply when present but malformed.
fn optional<T: std::str::FromStr>(
    params: &Value,
    id: &Value,
    name: &str,
    what: &str,
) -> Result<Option<T>, Value> {
    match params.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| error(id, -32602, format!("params.{name} must be {what}"))),
    }
}

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

fn result(id: &Value, value: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": value })
}

/// The RPC router for a node.
pub fn router<S>(core: SharedCore<S>) -> Router
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    Router::new()
        .route("/", post(handle::<S>))
        .route("/ws", get(upgrade::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(core)
}

async fn handle<S>(State(core): State<SharedCore<S>>, body: axum::body::Bytes) -> Json<Value>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Json(error(&Value::Null, -32700, "request is not JSON"));
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    Json(dispatch(&core, method, &params, &id).await)
}

/// Largest WebSocket message accepted from a client.
const MAX_WS_MESSAGE: usize = 1024 * 1024;

async fn upgrade<S>(State(core): State<SharedCore<S>>, ws: WebSocketUpgrade) -> Response
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    ws.max_message_size(MAX_WS_MESSAGE)
        .on_upgrade(move |socket| serve_socket(core, socket))
}

/// What a connection is subscribed to: the id of each kind, if any.
#[derive(Default)]
struct Subscriptions {
    heads: Option<u64>,
    events: Option<u64>,
    next_id: u64,
}

fn header_json(f: &crate::consensus::core::Finalized) -> Value {
    let h = &f.block.header;
    json!({
        "height": h.height, "hash": f.block.hash().to_hex(), "parent": h.parent.to_hex(),
        "timestamp_ms": h.timestamp_ms, "era": h.era, "proposer": h.proposer.to_ss58(),
        "state_root": h.state_root.to_hex(), "tx_root": h.tx_root.to_hex(),
        "evidence_root": h.evidence_root.to_hex(),
        "transactions": f.block.transactions.len(), "evidence": f.block.evidence.len(),
    })
}

fn events_json(f: &crate::consensus::core::Finalized) -> Value {
    let events: Vec<Value> = f
        .outcome
        .events
        .iter()
        .map(|(tx, e)| json!({ "tx": tx, "event": e }))
        .collect();
    json!({ "height": f.block.header.height, "hash": f.block.hash().to_hex(), "events": events })
}

fn notification(method: &str, subscription: u64, value: Value) -> Message {
    let body = json!({ "jsonrpc": "2.0", "method": method, "params": { "subscription": subscription, "result": value } });
    Message::Text(body.to_string().into())
}

/// One WebSocket connection: JSON-RPC requests in, answers and notifications out.
async fn serve_socket<S>(core: SharedCore<S>, mut socket: WebSocket)
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let mut notices = core.lock().await.subscribe();
    let mut subs = Subscriptions::default();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                let answer = socket_request(&core, &mut subs, &text).await;
                if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                    return;
                }
            }
            notice = notices.recv() => {
                let out = match notice {
                    Ok(f) => {
                        let mut out = Vec::new();
                        if let Some(id) = subs.heads {
                            out.push(notification("chain_finalizedHead", id, header_json(&f)));
                        }
                        if let Some(id) = subs.events {
                            out.push(notification("chain_events", id, events_json(&f)));
                        }
                        out
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        // Too slow a reader: say how many blocks it missed, then go on.
                        [subs.heads, subs.events]
                            .into_iter()
                            .flatten()
                            .map(|id| notification("chain_lagged", id, json!({ "missed": missed })))
                            .collect()
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                for m in out {
                    if socket.send(m).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn socket_request<S>(core: &SharedCore<S>, subs: &mut Subscriptions, text: &str) -> Value
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return error(&Value::Null, -32700, "request is not JSON");
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    let subscribe = |slot: &mut Option<u64>, next: &mut u64| {
        *next += 1;
        *slot = Some(*next);
        result(&id, json!(*next))
    };
    match method {
        "chain_subscribeFinalizedHeads" => subscribe(&mut subs.heads, &mut subs.next_id),
        "chain_subscribeEvents" => subscribe(&mut subs.events, &mut subs.next_id),
        "chain_unsubscribe" => {
            let Some(sub) = params.get("subscription").and_then(Value::as_u64) else {
                return error(&id, -32602, "params.subscription (number) is required");
            };
            let mut found = false;
            for slot in [&mut subs.heads, &mut subs.events] {
                if *slot == Some(sub) {
                    *slot = None;
                    found = true;
                }
            }
            result(&id, json!(found))
        }
        _ => dispatch(core, method, &params, &id).await,
    }
}

async fn dispatch<S>(core: &SharedCore<S>, method: &str, params: &Value, id: &Value) -> Value
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let str_param = |name: &str| params.get(name).and_then(Value::as_str);
    match method {
        "genesis_hash" => result(id, json!(core.lock().await.genesis_hash.to_hex())),
        "chain_head" => {
            let c = core.lock().await;
            let (height, hash) = c.last_finalized;
            let root = c.store.root().map(|r| r.to_hex()).unwrap_or_default();
            result(
                id,
                json!({ "height": height, "hash": hash.to_hex(), "state_root": root }),
            )
        }
        "system_chain" => {
            let c = core.lock().await;
            result(
                id,
                json!({
                    "genesis_hash": c.genesis_hash.to_hex(),
                    "namespace": String::from_utf8_lossy(&c.namespace),
                    "era_blocks": c.limits.era_blocks,
                }),
            )
        }
        "chain_finality" => {
            let Some(height) = params.get("height").and_then(Value::as_u64) else {
                return error(id, -32602, "params.height (number) is required");
            };
            let (lookup, head) = {
                let c = core.lock().await;
                (c.finality.clone(), c.last_finalized.0)
            };
            let Some(lookup) = lookup else {
                return error(id, 2, "this node does not run consensus");
            };
            if height > head {
                return error(
                    id,
                    2,
                    format!("height {height} is not final yet (head {head})"),
                );
            }
            // The first certificate at or above `height`: a block finalized only through a
            // descendant has none of its own, and the descendant's covers it by hash links.
            for h in height..=head.min(height.saturating_add(FINALITY_SEARCH)) {
                if let Some(cert) = lookup(h).await
                    && let Some((era, hash)) = crate::consensus::finality::describe(&cert)
                {
                    return result(
                        id,
                        json!({ "height": h, "hash": hash.to_hex(), "era": era, "certificate": to_hex(&cert) }),
                    );
                }
            }
            error(
                id,
                2,
                format!("no finalization certificate kept from height {height}"),
            )
        }
        "chain_block" => {
            let Some(height) = params.get("height").and_then(Value::as_u64) else {
                return error(id, -32602, "params.height (number) is required");
            };
            let with_bodies = params
                .get("bodies")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let with_receipts = params
                .get("receipts")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            // Copied out under the lock; encoded for the answer after it is released.
            // From memory under the lock, or from disk after it is released (so reading old
            // blocks never holds up block production).
            let (cached, reader) = {
                let c = core.lock().await;
                (c.history().cached(height).cloned(), c.history().reader())
            };
            let block = match cached {
                Some(f) => Some(f),
                None => match reader.get(height).await {
                    Ok(found) => found,
                    Err(e) => return error(id, -32603, e.to_string()),
                },
            };
            let found = block.map(|f| {
                let receipts = with_receipts.then(|| f.outcome.receipts.clone());
                (f.block.clone(), receipts)
            });
            match found {
                Some((block, receipts)) => {
                    let h = &block.header;
                    let txs: Vec<String> = block
                        .transactions
                        .iter()
                        .map(|t| t.hash().to_hex())
                        .collect();
                    let mut answer = json!({
                        "hash": block.hash().to_hex(), "parent": h.parent.to_hex(), "height": h.height,
                        "timestamp_ms": h.timestamp_ms, "era": h.era, "proposer": h.proposer.to_ss58(),
                        "state_root": h.state_root.to_hex(), "tx_root": h.tx_root.to_hex(), "transactions": txs,
                        "evidence_root": h.evidence_root.to_hex(), "evidence": block.evidence,
                    });
                    // The encoded transactions, so followers (storage workers) can see calls.
                    if with_bodies {
                        let bodies: Vec<String> = block
                            .transactions
                            .iter()
                            .map(|t| {
                                format!("0x{}", crust_primitives::account::to_hex(&t.encode()))
                            })
                            .collect();
                        answer["bodies"] = json!(bodies);
                    }
                    if let Some(receipts) = receipts {
                        answer["receipts"] = json!(receipts);
                    }
                    result(id, answer)
                }
                None => error(id, 2, format!("block {height} is not finalized yet")),
            }
        }
        "author_submit" => {
            let Some(bytes) = str_param("tx").and_then(from_hex) else {
                return error(id, -32602, "params.tx (hex) is required");
            };
            let tx = match Transaction::decode(&bytes) {
                Ok(tx) => tx,
                Err(e) => return error(id, 1, e.to_string()),
            };
            let mut guard = core.lock().await;
            let c = &mut *guard;
            let height = c.last_finalized.0;
            let view = crate::layer::Layer::new(c.store.committed(), crate::layer::Diff::new());
            match c.mempool.submit(tx, &view, height) {
                Ok(hash) => result(id, json!(hash.to_hex())),
                Err(e) => error(id, 1, e.to_string()),
            }
        }
        "author_txStatus" => {
            let Some(hash) = str_param("hash")
                .and_then(from_hex)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            else {
                return error(id, -32602, "params.hash (0x + 64 hex) is required");
            };
            let hash = crate::hash::Hash(hash);
            // The index and memory under the lock; an old block from disk after it.
            let (height, cached, pending, reader) = {
                let c = core.lock().await;
                let height = c.history().height_of(&hash);
                let cached = height.and_then(|h| c.history().cached(h).cloned());
                (
                    height,
                    cached,
                    c.mempool.contains(&hash),
                    c.history().reader(),
                )
            };
            let block = match (height, cached) {
                (_, Some(b)) => Some(b),
                (Some(h), None) => match reader.get(h).await {
                    Ok(found) => found,
                    Err(e) => return error(id, -32603, e.to_string()),
                },
                (None, None) => None,
            };
            let receipt = block.and_then(|b| {
                b.outcome
                    .receipts
                    .iter()
                    .find(|r| r.tx_hash == hash)
                    .cloned()
            });
            let status = match (height, receipt) {
                (Some(height), Some(receipt)) => {
                    crate::consensus::core::TxStatus::Finalized { height, receipt }
                }
                _ if pending => crate::consensus::core::TxStatus::Pending,
                _ => crate::consensus::core::TxStatus::Unknown,
            };
            result(
                id,
                match status {
                    crate::consensus::core::TxStatus::Pending => json!({ "status": "pending" }),
                    crate::consensus::core::TxStatus::Finalized { height, receipt } => json!({
                        "status": "finalized", "height": height, "success": receipt.success,
                        "error": receipt.error, "paid": receipt.paid.to_string(),
                    }),
                    crate::consensus::core::TxStatus::Unknown => json!({ "status": "unknown" }),
                },
            )
        }
        "author_submitBatch" => {
            let Some(list) = params.get("txs").and_then(Value::as_array) else {
                return error(id, -32602, "params.txs (array of hex) is required");
            };
            if list.len() > MAX_BATCH {
                return error(
                    id,
                    -32602,
                    format!("at most {MAX_BATCH} transactions per batch"),
                );
            }
            let mut guard = core.lock().await;
            let c = &mut *guard;
            let height = c.last_finalized.0;
            let view = crate::layer::Layer::new(c.store.committed(), crate::layer::Diff::new());
            let results: Vec<Value> = list
                .iter()
                .map(|item| {
                    let decoded = item
                        .as_str()
                        .and_then(from_hex)
                        .ok_or_else(|| "not a hex string".to_string())
                        .and_then(|b| Transaction::decode(&b).map_err(|e| e.to_string()));
                    match decoded.and_then(|tx| {
                        c.mempool
                            .submit(tx, &view, height)
                            .map_err(|e| e.to_string())
                    }) {
                        Ok(hash) => json!({ "hash": hash.to_hex() }),
                        Err(e) => json!({ "error": e }),
                    }
                })
                .collect();
            result(id, json!(results))
        }
        "state_account" => {
            let Some(account) = str_param("account").and_then(|a| a.parse::<AccountId>().ok())
            else {
                return error(id, -32602, "params.account (SS58 or 0x-hex) is required");
            };
            let answer = query(core, params, id, |s| {
                let info = crust_runtime::balances::account(s, &account).unwrap_or_default();
                Ok(json!({ "free": info.free.to_string(), "reserved": info.reserved.to_string(), "nonce": info.nonce }))
            })
            .await;
            // The account's fields at the top level (as before), the proof beside them.
            match answer {
                Ok((Value::Object(mut fields), height, proof)) => {
                    fields.insert("height".into(), json!(height));
                    // Not proven (the pool is this node's own): the nonce after this account's
                    // transactions queued here.
                    if let Some(answered) = fields.get("nonce").and_then(Value::as_u64) {
                        // The committed nonce again, under the same lock as the pool (a block
                        // finalized since the answer was read has left the pool).
                        let c = core.lock().await;
                        let view = crate::layer::Layer::new(
                            c.store.committed(),
                            crate::layer::Diff::new(),
                        );
                        let committed = crust_runtime::balances::account(&view, &account)
                            .map_or(answered, |a| a.nonce)
                            .max(answered);
                        let next = c.mempool.next_nonce(&account, committed);
                        fields.insert("next_nonce".into(), json!(next));
                    }
                    if let Some(p) = proof {
                        fields.insert("proof".into(), p);
                    }
                    result(id, Value::Object(fields))
                }
                Ok((other, ..)) => result(id, other),
                Err(e) => e,
            }
        }
        "market_file" => {
            let Some(cid) = str_param("cid").and_then(|c| c.parse::<crust_primitives::Cid>().ok())
            else {
                return error(id, -32602, "params.cid (a CID) is required");
            };
            named_query(core, params, id, "file", |s| {
                crust_runtime::market::file(s, &cid)
                    .map(|f| json!(f))
                    .map_err(|e| e.to_string())
            })
            .await
        }
        "market_prices" => {
            named_query(core, params, id, "prices", |s| {
                crust_runtime::market::params(s)
                    .map(|p| json!(p))
                    .map_err(|e| e.to_string())
            })
            .await
        }
        "swork_workReport" => {
            let Some(anchor) = str_param("anchor")
                .and_then(from_hex)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            else {
                return error(id, -32602, "params.anchor (0x + 64 hex) is required");
            };
            named_query(core, params, id, "report", |s| {
                crust_runtime::swork::work_report(s, &anchor)
                    .map(|r| json!(r))
                    .map_err(|e| e.to_string())
            })
            .await
        }
        "swork_peer" => {
            let Some(who) = str_param("account").and_then(|a| a.parse::<AccountId>().ok()) else {
                return error(id, -32602, "params.account (SS58 or 0x-hex) is required");
            };
            named_query(core, params, id, "peer", |s| {
                let record = crust_runtime::swork::peer(s, &who).map_err(|e| e.to_string())?;
                Ok(record.map_or(Value::Null, |r| peer_json(&who, &r, s)))
            })
            .await
        }
        "swork_peers" => {
            // A page of peer records (where storage identities serve their replicas), with
            // the bytes of files each last reported; returns where to continue.
            let after = match optional::<AccountId>(params, id, "after", "SS58 or 0x-hex") {
                Ok(a) => a,
                Err(e) => return e,
            };
            const PAGE: usize = 1000;
            let c = core.lock().await;
            let view = c.view();
            let page = match crust_runtime::swork::peers(&view, after.as_ref(), PAGE) {
                Ok(page) => page,
                Err(e) => return error(id, -32603, e.to_string()),
            };
            let next = (page.len() == PAGE)
                .then(|| page.last().map(|(who, _)| who.to_ss58()))
                .flatten();
            let peers: Vec<Value> = page
                .iter()
                .map(|(who, r)| peer_json(who, r, &view))
                .collect();
            result(
                id,
                json!({ "head": c.last_finalized.0, "peers": peers, "next": next }),
            )
        }
        "staking_stakeLimit" => {
            let Some(stash) = str_param("stash").and_then(|a| a.parse::<AccountId>().ok()) else {
                return error(id, -32602, "params.stash (SS58 or 0x-hex) is required");
            };
            named_query(core, params, id, "stake_limit", |s| {
                let limit =
                    crust_runtime::staking::stake_limit(s, &stash).map_err(|e| e.to_string())?;
                let workload =
                    crust_runtime::swork::workload(s, &stash).map_err(|e| e.to_string())?;
                Ok(json!({ "stake_limit": limit.to_string(), "workload": workload.to_string() }))
            })
            .await
        }
        "staking_committee" => {
            let era = params.get("era").and_then(Value::as_u64);
            named_query(core, params, id, "committee", |s| {
                use crust_runtime::staking;
                let era = match era {
                    Some(e) => e,
                    None => staking::active_era(s).map_err(|e| e.to_string())?,
                };
                let members = staking::committee(s, era).map_err(|e| e.to_string())?;
                Ok(json!({ "era": era, "members": members.map(|list| list.iter().map(|m| json!({
                    "stash": m.stash.to_ss58(), "session_key": m.session_key.to_ss58(), "stake": m.stake.to_string(),
                })).collect::<Vec<_>>()) }))
            })
            .await
        }
        "market_files" => {
            // A page of files, optionally only one orderer's: scans at most 10 000 records
            // per call and returns where to continue.
            let orderer = match optional::<AccountId>(params, id, "orderer", "SS58 or 0x-hex") {
                Ok(o) => o,
                Err(e) => return e,
            };
            let after = match optional::<crust_primitives::Cid>(params, id, "after", "a CID") {
                Ok(c) => c,
                Err(e) => return e,
            };
            let c = core.lock().await;
            let head = c.last_finalized.0;
            let page = crust_runtime::market::files(&c.view(), after.as_ref(), 10_000);
            let next = (page.len() == 10_000).then(|| page.last().map(|(cid, _)| cid.to_string()));
            let files: Vec<Value> = page
                .iter()
                .filter(|(_, f)| orderer.is_none_or(|o| f.orderer == o))
                .take(1000)
                .map(|(cid, f)| {
                    json!({
                        "cid": cid.to_string(), "size_bytes": f.file_size, "expires_at": f.expired_at,
                        "replica_count": f.replicas.len(), "orderer": f.orderer.to_ss58(),
                        "amount": f.amount.to_string(), "prepaid": f.prepaid.to_string(),
                    })
                })
                .collect();
            result(
                id,
                json!({ "head": head, "files": files, "next": next.flatten() }),
            )
        }
        "staking_validators" => {
            let c = core.lock().await;
            match staking_view(&c.view(), c.last_finalized.0) {
                Ok(v) => result(id, v),
                Err(e) => error(id, 2, e.to_string()),
            }
        }
        "state_proof" => {
            let Some(key) = str_param("key").and_then(from_hex) else {
                return error(id, -32602, "params.key (hex) is required");
            };
            let c = core.lock().await;
            let root = c.store.root().unwrap_or(Hash::default());
            match c.store.prove(&key).await {
                Ok(p) => result(
                    id,
                    json!({ "value": p.value.map(|v| to_hex(&v)), "proof": to_hex(&p.proof), "root": root.to_hex(), "height": c.last_finalized.0 }),
                ),
                Err(e) => error(id, 2, e.to_string()),
            }
        }
        other => error(id, -32601, format!("unknown method '{other}'")),
    }
}

/// A peer record as JSON, with the bytes of files its identity last reported (0 if none).
fn peer_json(
    who: &AccountId,
    record: &crust_runtime::swork::PeerRecord,
    state: &impl crust_runtime::state::State,
) -> Value {
    use crust_runtime::swork;
    let files = swork::identity(state, who)
        .ok()
        .flatten()
        .and_then(|id| swork::work_report(state, &id.anchor).ok().flatten())
        .map_or(0, |r| r.reported_files_size);
    json!({
        "account": who.to_ss58(), "peer_id": record.peer_id_text(),
        "addrs": record.addr_texts(), "files_size": files,
    })
}

/// Runs a read-only runtime query on the finalized state: `(answer, height, proof)`, where the
/// proof (when `params.prove` is true) proves every state entry the query read.
async fn query<S>(
    core: &SharedCore<S>,
    params: &Value,
    id: &Value,
    q: impl FnOnce(&crate::proof::Recording<'_, crate::layer::Layer<'_>>) -> Result<Value, String>
    + Send,
) -> Result<(Value, u64, Option<Value>), Value>
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let prove = params
        .get("prove")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let c = core.lock().await;
    if prove {
        let p = c
            .prove_query(q)
            .await
            .map_err(|e| error(id, 2, e.to_string()))?;
        let proof = p.proof_json();
        let value = p.value.map_err(|e| error(id, 2, e))?;
        Ok((value, p.height, Some(proof)))
    } else {
        let view = c.view();
        let value = q(&crate::proof::Recording::new(&view)).map_err(|e| error(id, 2, e))?;
        Ok((value, c.last_finalized.0, None))
    }
}

/// [`query`] answered as `{<name>: answer, height, proof?}`.
async fn named_query<S>(
    core: &SharedCore<S>,
    params: &Value,
    id: &Value,
    name: &str,
    q: impl FnOnce(&crate::proof::Recording<'_, crate::layer::Layer<'_>>) -> Result<Value, String>
    + Send,
) -> Value
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    match query(core, params, id, q).await {
        Ok((value, height, proof)) => {
            let mut out = serde_json::Map::new();
            out.insert(name.into(), value);
            out.insert("height".into(), json!(height));
            if let Some(p) = proof {
                out.insert("proof".into(), p);
            }
            result(id, Value::Object(out))
        }
        Err(e) => e,
    }
}

/// The staking picture at the finalized head: the active era's committee, the next era's if
/// already elected, and every candidate's bond, stake limit and commission.
fn staking_view(
    state: &impl crust_runtime::State,
    height: u64,
) -> Result<Value, crust_runtime::staking::StakingError> {
    use crust_runtime::staking;
    let era = staking::active_era(state)?;
    let members = |era| -> Result<Value, staking::StakingError> {
        Ok(match staking::committee(state, era)? {
            None => Value::Null,
            Some(list) => Value::Array(
                list.iter()
                    .map(|m| {
                        json!({
                            "stash": m.stash.to_ss58(),
                            "session_key": m.session_key.to_ss58(),
                            "stake": m.stake.to_string(),
                        })
                    })
                    .collect(),
            ),
        })
    };
    let mut candidates = Vec::new();
    for (stash, prefs) in staking::validators(state)? {
        let bonded = staking::ledger_of_stash(state, &stash)?.map_or(0, |(_, l)| l.active);
        let limit = staking::stake_limit(state, &stash)?;
        candidates.push(json!({
            "stash": stash.to_ss58(),
            "bonded": bonded.to_string(),
            "stake_limit": limit.to_string(),
            "effective_own": bonded.min(limit).to_string(),
            "commission_ppb": prefs.commission.deconstruct(),
            "workload": crust_runtime::swork::workload(state, &stash).unwrap_or(0).to_string(),
        }));
    }
    Ok(json!({
        "height": height,
        "era": era,
        "committee": members(era)?,
        "next_committee": members(era + 1)?,
        "candidates": candidates,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::{ProofError, ProvenState};
    use crate::store::StateProof;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    fn hex(v: &Value) -> Vec<u8> {
        from_hex(v.as_str().unwrap()).unwrap()
    }

    fn entries(proof: &Value) -> Vec<StateProof> {
        proof["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| StateProof {
                key: hex(&e["key"]),
                value: (!e["value"].is_null()).then(|| hex(&e["value"])),
                proof: hex(&e["proof"]),
            })
            .collect()
    }

    /// Every typed query answers with proofs of what it read; a client that knows only the
    /// finalized state root re-runs the query on the proven entries and gets the same answer.
    #[test]
    fn typed_queries_come_with_proofs_a_light_client_can_check() {
        deterministic::Runner::default().start(|ctx| async move {
            let spec = crate::spec::ChainSpec::builtin("local").unwrap();
            let (core, _) = crate::service::open_chain(ctx.child("store"), &spec, "rpc")
                .await
                .unwrap();
            let id = json!(1);
            let call = async |method: &str, params: Value| {
                let out = dispatch(&core, method, &params, &id).await;
                assert!(out.get("error").is_none(), "{method}: {out}");
                out["result"].clone()
            };
            let head = call("chain_head", json!({})).await;
            let root = Hash::from_hex(head["state_root"].as_str().unwrap()).unwrap();
            let stash = {
                let c = core.lock().await;
                crust_runtime::staking::committee(&c.view(), 0)
                    .unwrap()
                    .unwrap()[0]
                    .stash
            };
            let alice = crust_primitives::Keypair::from_suri("//Alice")
                .unwrap()
                .public();
            let cid: crust_primitives::Cid = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
                .parse()
                .unwrap();

            // state_account: the balance and nonce, proven.
            let a = call(
                "state_account",
                json!({"account": alice.to_ss58(), "prove": true}),
            )
            .await;
            let proven = ProvenState::verify(&root, &entries(&a["proof"])).unwrap();
            let info = proven
                .run(|s| crust_runtime::balances::account(s, &alice).unwrap_or_default())
                .unwrap();
            assert_eq!(a["free"], json!(info.free.to_string()));
            assert_eq!(a["proof"]["state_root"], head["state_root"]);

            // A file nobody ordered: proven absent.
            let f = call(
                "market_file",
                json!({"cid": cid.to_string(), "prove": true}),
            )
            .await;
            assert!(f["file"].is_null());
            let proven = ProvenState::verify(&root, &entries(&f["proof"])).unwrap();
            let file = proven
                .run(|s| crust_runtime::market::file(s, &cid).unwrap())
                .unwrap();
            assert!(file.is_none());

            // A stake limit computed from several records: every one of them is proven.
            let l = call(
                "staking_stakeLimit",
                json!({"stash": stash.to_ss58(), "prove": true}),
            )
            .await;
            let e = entries(&l["proof"]);
            assert!(
                e.len() > 1,
                "a computed value reads several keys: {}",
                e.len()
            );
            let proven = ProvenState::verify(&root, &e).unwrap();
            let limit = proven
                .run(|s| crust_runtime::staking::stake_limit(s, &stash).unwrap())
                .unwrap();
            assert_eq!(l["stake_limit"]["stake_limit"], json!(limit.to_string()));
            // Without one of those records the client cannot recompute it.
            let short = ProvenState::verify(&root, &e[1..]).unwrap();
            assert_eq!(
                short
                    .run(|s| crust_runtime::staking::stake_limit(s, &stash).map(|_| ()))
                    .unwrap_err(),
                ProofError::Incomplete
            );

            // The committee and the prices.
            let c = call("staking_committee", json!({"era": 0, "prove": true})).await;
            assert_eq!(c["committee"]["members"].as_array().unwrap().len(), 4);
            let proven = ProvenState::verify(&root, &entries(&c["proof"])).unwrap();
            let members = proven
                .run(|s| crust_runtime::staking::committee(s, 0).unwrap().unwrap())
                .unwrap();
            assert_eq!(members.len(), 4);
            let p = call("market_prices", json!({"prove": true})).await;
            let proven = ProvenState::verify(&root, &entries(&p["proof"])).unwrap();
            let prices = proven
                .run(|s| crust_runtime::market::params(s).unwrap())
                .unwrap();
            assert_eq!(p["prices"], json!(prices));

            // A tampered value, or a proof checked against another root, is refused.
            let mut forged = entries(&a["proof"]);
            if let Some(v) = forged[0].value.as_mut() {
                v[0] ^= 1;
            }
            assert!(matches!(
                ProvenState::verify(&root, &forged),
                Err(ProofError::Invalid(_))
            ));
            assert!(ProvenState::verify(&Hash([7; 32]), &entries(&a["proof"])).is_err());
            // Without `prove`, the same answers and no proof.
            let plain = call("market_prices", json!({})).await;
            assert_eq!(plain["prices"], p["prices"]);
            assert!(plain.get("proof").is_none());
            let bad = dispatch(&core, "swork_workReport", &json!({"anchor": "0x12"}), &id).await;
            assert_eq!(bad["error"]["code"], json!(-32602));
        });
    }

    /// Every finalized block is kept on disk: with a recent-block cache of one block,
    /// `chain_block` still answers for old heights (with receipts), `author_txStatus` finds a
    /// transaction whose block left memory, and both survive a restart.
    #[test]
    fn old_blocks_are_read_from_disk_when_memory_keeps_only_the_newest() {
        use crate::tx::{Mortality, UnsignedTransaction};
        use crust_runtime::Call;
        use crust_runtime::balances::BalancesCall;
        deterministic::Runner::default().start(|ctx| async move {
            let spec = crate::spec::ChainSpec::builtin("local").unwrap();
            let memory = crate::memory::NodeMemory {
                history: crate::history::HistoryConfig {
                    cache_bytes: 1,
                    indexed_txs: 1024,
                },
                ..crate::memory::NodeMemory::default()
            };
            let (core, genesis) =
                crate::service::open_chain_with(ctx.child("a"), &spec, "hist", &memory)
                    .await
                    .unwrap();
            let alice = crust_primitives::Keypair::from_suri("//Alice").unwrap();
            let bob = crust_primitives::Keypair::from_suri("//Bob")
                .unwrap()
                .public();
            let id = json!(1);
            let mut parent = genesis.header.clone();
            let mut tx_hash = None;
            for height in 1..=5u64 {
                let mut c = core.lock().await;
                if height == 1 {
                    let tx = UnsignedTransaction {
                        signer: alice.public(),
                        nonce: 0,
                        fee: crust_primitives::CRU / 1000,
                        tip: 0,
                        mortality: Mortality::from(0, 4096),
                        call: Call::Balances(BalancesCall::Transfer {
                            dest: bob,
                            amount: crust_primitives::CRU,
                        }),
                    }
                    .sign(&alice, &c.genesis_hash);
                    tx_hash = Some(tx.hash());
                    let core = &mut *c;
                    let view =
                        crate::layer::Layer::new(core.store.committed(), crate::layer::Diff::new());
                    core.mempool.submit(tx, &view, 0).unwrap();
                }
                let block = c
                    .propose(&parent, parent.timestamp_ms + 250, alice.public())
                    .await
                    .unwrap();
                c.finalize(&block).await.unwrap();
                parent = block.header.clone();
            }
            let tx_hash = tx_hash.unwrap().to_hex();
            assert!(
                core.lock().await.finalized(1).is_none(),
                "block 1 still in memory"
            );
            let check = async |core: &SharedCore<_>| {
                let b = dispatch(core, "chain_block", &json!({"height": 1}), &id).await;
                let b = &b["result"];
                assert_eq!(b["height"], 1);
                assert_eq!(b["transactions"][0], tx_hash.as_str());
                assert_eq!(b["receipts"][0]["success"], true);
                let s = dispatch(core, "author_txStatus", &json!({"hash": tx_hash}), &id).await;
                assert_eq!(s["result"]["status"], "finalized", "{s}");
                assert_eq!(s["result"]["height"], 1);
                let missing = dispatch(core, "chain_block", &json!({"height": 6}), &id).await;
                assert!(missing.get("error").is_some());
            };
            check(&core).await;
            // After a restart: blocks come from disk; the transaction index starts empty, so
            // the status of an old transaction is unknown (documented).
            drop(core);
            let (core, _) = crate::service::open_chain_with(ctx.child("b"), &spec, "hist", &memory)
                .await
                .unwrap();
            let b = dispatch(&core, "chain_block", &json!({"height": 3}), &id).await;
            assert_eq!(b["result"]["height"], 3, "{b}");
        });
    }
}
