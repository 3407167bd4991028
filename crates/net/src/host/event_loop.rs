//! The host's event loop: one task owns the swarm, answers the handle's commands, and carries
//! provides and provider lookups across both DHTs until each is answered.

use super::addrs::{dht_scope, is_loopback, peer_of};
use super::{Behaviour, BehaviourEvent, Command, LAN_DHT, NetError, dht_key};
use futures::StreamExt as _;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, identify, kad};
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// Moves a provide or provider lookup along as one of its DHT queries progresses.
fn on_query(
    key: (bool, kad::QueryId),
    result: kad::QueryResult,
    last: bool,
    queries: &mut HashMap<(bool, kad::QueryId), u64>,
    providing: &mut HashMap<u64, Providing>,
    finding: &mut HashMap<u64, Finding>,
    me: &PeerId,
) {
    match result {
        kad::QueryResult::StartProviding(outcome) => {
            let Some(request) = queries.remove(&key) else {
                return;
            };
            let Some(p) = providing.get_mut(&request) else {
                return;
            };
            p.left -= 1;
            p.ok |= outcome.is_ok();
            if let Err(e) = outcome {
                p.error = Some(e.to_string());
            }
            if p.left == 0
                && let Some(p) = providing.remove(&request)
            {
                let result = if p.ok {
                    Ok(())
                } else {
                    Err(NetError::Setup(format!(
                        "provide: {}",
                        p.error.unwrap_or_default()
                    )))
                };
                let _ = p.reply.send(result);
            }
        }
        kad::QueryResult::GetProviders(outcome) => {
            let Some(request) = queries.get(&key).copied() else {
                return;
            };
            if let (Ok(kad::GetProvidersOk::FoundProviders { providers, .. }), Some(f)) =
                (outcome, finding.get_mut(&request))
            {
                f.found.extend(providers.into_iter().filter(|p| p != me));
                // Answer with the first providers found: a query keeps asking peers (some long
                // gone) until it times out.
                if !f.found.is_empty()
                    && let Some(f) = finding.remove(&request)
                {
                    let _ = f.reply.send(f.found.into_iter().collect());
                }
            }
            if last {
                queries.remove(&key);
                if let Some(f) = finding.get_mut(&request) {
                    f.left -= 1;
                    if f.left == 0
                        && let Some(f) = finding.remove(&request)
                    {
                        let _ = f.reply.send(f.found.into_iter().collect());
                    }
                }
            }
        }
        _ => {}
    }
}

/// Stops the DHT queries of lookups already answered (the first providers found), so they do
/// not keep asking peers until their timeout.
fn finish_answered(
    swarm: &mut libp2p::Swarm<Behaviour>,
    queries: &mut HashMap<(bool, kad::QueryId), u64>,
    providing: &HashMap<u64, Providing>,
    finding: &HashMap<u64, Finding>,
) {
    queries.retain(|&(lan, id), request| {
        if providing.contains_key(request) || finding.contains_key(request) {
            return true;
        }
        let b = swarm.behaviour_mut();
        let dht = if lan { &mut b.lan } else { &mut b.kad };
        if let Some(mut query) = dht.query_mut(&id) {
            query.finish();
        }
        false
    });
}

/// A provide on both DHTs: done when both are; succeeds if either stored the record.
struct Providing {
    left: usize,
    ok: bool,
    error: Option<String>,
    reply: oneshot::Sender<Result<(), NetError>>,
}

/// A provider lookup on both DHTs: answers with the first providers found, or with none once
/// both queries are over.
struct Finding {
    left: usize,
    found: HashSet<PeerId>,
    reply: oneshot::Sender<Vec<PeerId>>,
}

pub(super) async fn run(
    mut swarm: libp2p::Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    announce_listen_addrs: bool,
    public: bool,
) {
    let mut pending: HashMap<PeerId, Vec<oneshot::Sender<Result<PeerId, NetError>>>> =
        HashMap::new();
    let mut connected: HashMap<PeerId, Multiaddr> = HashMap::new();
    // A provide or a lookup runs on both DHTs; it answers once both queries are done.
    let mut providing: HashMap<u64, Providing> = HashMap::new();
    let mut finding: HashMap<u64, Finding> = HashMap::new();
    // Query ids count per DHT, so they are kept with the DHT they belong to (`true` = LAN).
    let mut queries: HashMap<(bool, kad::QueryId), u64> = HashMap::new();
    let mut next_request = 0u64;
    let me = *swarm.local_peer_id();
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                    connected.insert(peer_id, endpoint.get_remote_address().clone());
                    for reply in pending.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(Ok(peer_id));
                    }
                }
                // Learn DHT addresses from Identify, for peers that speak a DHT.
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    let wan = info.protocols.contains(&kad::PROTOCOL_NAME);
                    let lan = info.protocols.contains(&LAN_DHT);
                    for addr in info.listen_addrs {
                        let scope = dht_scope(public, &addr);
                        if wan && scope.wan {
                            swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                        }
                        if lan && scope.lan {
                            swarm.behaviour_mut().lan.add_address(&peer_id, addr);
                        }
                    }
                }
                SwarmEvent::Behaviour(
                    BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. }),
                ) => {
                    on_query((false, id), result, step.last, &mut queries, &mut providing, &mut finding, &me);
                    finish_answered(&mut swarm, &mut queries, &providing, &finding);
                }
                SwarmEvent::Behaviour(
                    BehaviourEvent::Lan(kad::Event::OutboundQueryProgressed { id, result, step, .. }),
                ) => {
                    on_query((true, id), result, step.last, &mut queries, &mut providing, &mut finding, &me);
                    finish_answered(&mut swarm, &mut queries, &providing, &finding);
                }
                // An interface that came up later (wildcard listeners) is dialable too.
                SwarmEvent::NewListenAddr { address, .. }
                    if announce_listen_addrs && !(public && is_loopback(&address)) =>
                {
                    swarm.add_external_address(address);
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                    connected.remove(&peer_id);
                }
                SwarmEvent::OutgoingConnectionError { peer_id: Some(peer_id), error, .. } => {
                    for reply in pending.remove(&peer_id).unwrap_or_default() {
                        let _ = reply.send(Err(NetError::Dial { addr: peer_id.to_string(), reason: error.to_string() }));
                    }
                }
                _ => {}
            },
            command = commands.recv() => match command {
                Some(Command::Dial(addr, reply)) => {
                    let Some(peer) = peer_of(&addr) else {
                        let _ = reply.send(Err(NetError::Dial { addr: addr.to_string(), reason: "the address needs a /p2p/<peer id> suffix".into() }));
                        continue;
                    };
                    if swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(peer));
                        continue;
                    }
                    match swarm.dial(addr.clone()) {
                        Ok(()) => pending.entry(peer).or_default().push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(NetError::Dial { addr: addr.to_string(), reason: e.to_string() }));
                        }
                    }
                }
                Some(Command::Disconnect(peer)) => {
                    let _ = swarm.disconnect_peer_id(peer);
                }
                Some(Command::Shutdown) => return,
                Some(Command::Connect(peer, reply)) => {
                    if swarm.is_connected(&peer) {
                        let _ = reply.send(Ok(peer));
                        continue;
                    }
                    match swarm.dial(DialOpts::peer_id(peer).build()) {
                        Ok(()) => pending.entry(peer).or_default().push(reply),
                        Err(e) => {
                            let _ = reply.send(Err(NetError::Dial { addr: peer.to_string(), reason: e.to_string() }));
                        }
                    }
                }
                Some(Command::Provide(cid, reply)) => {
                    next_request += 1;
                    let b = swarm.behaviour_mut();
                    let started = [(false, b.kad.start_providing(dht_key(&cid))), (true, b.lan.start_providing(dht_key(&cid)))];
                    let mut p = Providing { left: 0, ok: false, error: None, reply };
                    for (lan, s) in started {
                        match s {
                            Ok(id) => {
                                queries.insert((lan, id), next_request);
                                p.left += 1;
                            }
                            Err(e) => p.error = Some(e.to_string()),
                        }
                    }
                    if p.left == 0 {
                        let _ = p.reply.send(Err(NetError::Setup(format!("provide: {}", p.error.unwrap_or_default()))));
                    } else {
                        providing.insert(next_request, p);
                    }
                }
                Some(Command::FindProviders(cid, reply)) => {
                    next_request += 1;
                    let b = swarm.behaviour_mut();
                    for key in [(false, b.kad.get_providers(dht_key(&cid))), (true, b.lan.get_providers(dht_key(&cid)))] {
                        queries.insert(key, next_request);
                    }
                    finding.insert(next_request, Finding { left: 2, found: HashSet::new(), reply });
                }
                Some(Command::Peers(reply)) => {
                    let _ = reply.send(connected.iter().map(|(p, a)| (*p, a.clone())).collect());
                }
                Some(Command::RoutingTableSize(reply)) => {
                    let b = swarm.behaviour_mut();
                    let count = |k: &mut kad::Behaviour<kad::store::MemoryStore>| -> usize {
                        k.kbuckets().map(|bucket| bucket.num_entries()).sum()
                    };
                    let _ = reply.send(count(&mut b.kad) + count(&mut b.lan));
                }
                None => return,
            },
        }
    }
}
