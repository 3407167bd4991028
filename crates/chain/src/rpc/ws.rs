//! JSON-RPC over WebSocket: the same methods as over HTTP, plus subscriptions to finalized
//! heads and events pushed as notifications.

use super::*;

/// Largest WebSocket message accepted from a client.
const MAX_WS_MESSAGE: usize = 1024 * 1024;

pub(super) async fn upgrade<S>(State(core): State<SharedCore<S>>, ws: WebSocketUpgrade) -> Response
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

fn head_notice(f: &Finalized) -> api::HeadNotice {
    let h = &f.block.header;
    api::HeadNotice {
        height: h.height,
        hash: f.block.hash(),
        parent: h.parent,
        timestamp_ms: h.timestamp_ms,
        era: h.era,
        proposer: h.proposer,
        state_root: h.state_root,
        tx_root: h.tx_root,
        receipts_root: h.receipts_root,
        evidence_root: h.evidence_root,
        transactions: f.block.transactions.len(),
        evidence: f.block.evidence.len(),
    }
}

fn events_notice(f: &Finalized) -> api::EventsNotice {
    api::EventsNotice {
        height: f.block.header.height,
        hash: f.block.hash(),
        events: f
            .outcome
            .events
            .iter()
            .map(|(tx, e)| json!({ "tx": tx, "event": e }))
            .collect(),
    }
}

fn notification(method: &str, subscription: u64, value: impl serde::Serialize) -> Message {
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    Message::Text(
        wire::notification(method, subscription, value)
            .to_string()
            .into(),
    )
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
                let bytes = match incoming {
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                };
                let answer = socket_request(&core, &mut subs, &bytes).await;
                if socket.send(Message::Text(answer.to_string().into())).await.is_err() {
                    return;
                }
            }
            notice = notices.recv() => {
                let out = match notice {
                    Ok(f) => {
                        let mut out = Vec::new();
                        if let Some(id) = subs.heads {
                            out.push(notification(api::HEAD_NOTICE, id, head_notice(&f)));
                        }
                        if let Some(id) = subs.events {
                            out.push(notification(api::EVENTS_NOTICE, id, events_notice(&f)));
                        }
                        out
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        // Too slow a reader: say how many blocks it missed, then go on.
                        [subs.heads, subs.events]
                            .into_iter()
                            .flatten()
                            .map(|id| notification(api::LAGGED_NOTICE, id, json!({ "missed": missed })))
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

async fn socket_request<S>(core: &SharedCore<S>, subs: &mut Subscriptions, body: &[u8]) -> Value
where
    S: commonware_storage::Context + commonware_runtime::Spawner,
{
    let (id, method, params) = match wire::parse_request(body) {
        Ok(parts) => parts,
        Err(e) => return wire::error_reply(&Value::Null, &e),
    };
    let subscribe = |slot: &mut Option<u64>, next: &mut u64| {
        *next += 1;
        *slot = Some(*next);
        wire::reply(&id, json!(*next))
    };
    match method.as_str() {
        api::SUBSCRIBE_HEADS => subscribe(&mut subs.heads, &mut subs.next_id),
        api::SUBSCRIBE_EVENTS => subscribe(&mut subs.events, &mut subs.next_id),
        api::UNSUBSCRIBE => {
            let sub = match serde_json::from_value::<api::UnsubscribeParams>(params) {
                Ok(p) => p.subscription,
                Err(e) => {
                    return wire::error_reply(
                        &id,
                        &ErrorObject::new(code::BAD_PARAMS, format!("params: {e}")),
                    );
                }
            };
            let mut found = false;
            for slot in [&mut subs.heads, &mut subs.events] {
                if *slot == Some(sub) {
                    *slot = None;
                    found = true;
                }
            }
            wire::reply(&id, json!(found))
        }
        _ => dispatch(core, &method, &params, &id).await,
    }
}
