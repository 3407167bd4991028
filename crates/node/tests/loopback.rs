//! Four real `crust node` processes on 127.0.0.1: they connect over authenticated encrypted
//! TCP, finalize the same blocks, and accept a transaction over JSON-RPC.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

use crust_chain::Hash;
use crust_chain::tx::{Mortality, UnsignedTransaction};
use crust_primitives::{CRU, Keypair};
use crust_runtime::Call;
use crust_runtime::balances::BalancesCall;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn ws_next(ws: &mut Ws) -> Value {
    let message = ws.read().unwrap();
    serde_json::from_str(message.to_text().unwrap()).unwrap()
}

/// Sends a request over the WebSocket and returns its answer; notifications that arrive first
/// go to `pushed`.
fn ws_call(ws: &mut Ws, id: u64, method: &str, params: Value, pushed: &mut Vec<Value>) -> Value {
    let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    ws.send(tungstenite::Message::text(request.to_string()))
        .unwrap();
    loop {
        let v = ws_next(ws);
        if v["id"] == id {
            return v;
        }
        pushed.push(v);
    }
}

fn rpc(port: u16, method: &str, params: Value) -> Option<Value> {
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let json = response.split("\r\n\r\n").nth(1)?;
    serde_json::from_str(json).ok()
}

fn head(port: u16) -> u64 {
    rpc(port, "chain_head", json!({}))
        .and_then(|v| v["result"]["height"].as_u64())
        .unwrap_or(0)
}

#[test]
fn four_processes_finalize_and_serve_rpc() {
    let names = ["Alice", "Bob", "Charlie", "Dave"];
    let p2p: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let rpcs: Vec<u16> = names.iter().map(|_| free_port()).collect();
    let dir = std::env::temp_dir().join(format!("crust-loopback-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let peers: Vec<String> = names
        .iter()
        .zip(&p2p)
        .map(|(n, p)| format!("//{n}//session@127.0.0.1:{p}"))
        .collect();
    let mut nodes = Nodes(Vec::new());
    for (i, name) in names.iter().enumerate() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crust"));
        cmd.args([
            "node",
            "--chain",
            "local",
            "--validator",
            &format!("//{name}//session"),
        ])
        .arg("--data-dir")
        .arg(dir.join(name))
        .args([
            "--listen",
            &format!("127.0.0.1:{}", p2p[i]),
            "--rpc",
            &format!("127.0.0.1:{}", rpcs[i]),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for p in &peers {
            cmd.args(["--peer", p]);
        }
        nodes.0.push(cmd.spawn().expect("crust node starts"));
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    while rpcs.iter().any(|p| head(*p) < 10) {
        assert!(
            Instant::now() < deadline,
            "nodes did not reach height 10: {:?}",
            rpcs.iter().map(|p| head(*p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let hashes: Vec<Value> = rpcs
        .iter()
        .map(|p| rpc(*p, "chain_block", json!({ "height": 5 })).unwrap()["result"]["hash"].clone())
        .collect();
    assert!(
        hashes.iter().all(|h| h.is_string() && *h == hashes[0]),
        "{hashes:?}"
    );

    // Finality for followers: every node serves a certificate for a height that checks out
    // against the committee it proves under the head (era 0: the local spec's validators).
    let chain = rpc(rpcs[0], "system_chain", json!({})).unwrap()["result"].clone();
    let namespace = chain["namespace"].as_str().unwrap().to_owned();
    let committee: Vec<crust_primitives::AccountId> = rpc(
        rpcs[1],
        "staking_committee",
        json!({ "era": 0 }),
    )
    .unwrap()["result"]["committee"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["session_key"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(committee.len(), 4);
    for p in &rpcs {
        let f = rpc(*p, "chain_finality", json!({ "height": 5 })).unwrap()["result"].clone();
        let at = f["height"].as_u64().unwrap();
        assert!(at >= 5, "{f}");
        let block = Hash::from_hex(f["hash"].as_str().unwrap()).unwrap();
        let same =
            rpc(*p, "chain_block", json!({ "height": at })).unwrap()["result"]["hash"].clone();
        assert_eq!(same, json!(block.to_hex()));
        let cert = crust_primitives::account::from_hex(f["certificate"].as_str().unwrap()).unwrap();
        let era = f["era"].as_u64().unwrap();
        crust_chain::consensus::finality::verify(
            namespace.as_bytes(),
            &committee,
            era,
            &block,
            &cert,
        )
        .unwrap();
        assert!(
            crust_chain::consensus::finality::verify(
                namespace.as_bytes(),
                &committee[..2],
                era,
                &block,
                &cert
            )
            .is_err(),
            "half the committee is no quorum"
        );
    }

    // A transfer signed for this chain, submitted to one node over RPC, lands on all of them
    // (each node holds its own mempool, so submit it to every node).
    let genesis = rpc(rpcs[0], "genesis_hash", json!({})).unwrap()["result"]
        .as_str()
        .map(String::from)
        .unwrap();
    let genesis = Hash::from_hex(&genesis).unwrap();
    let alice = Keypair::from_suri("//Alice").unwrap();
    let ferdie = Keypair::from_suri("//Ferdie").unwrap().public();
    let tx = UnsignedTransaction {
        signer: alice.public(),
        nonce: 0,
        fee: CRU / 1000,
        tip: 0,
        mortality: Mortality::from(0, 4096),
        call: Call::Balances(BalancesCall::Transfer {
            dest: ferdie,
            amount: 7 * CRU,
        }),
    }
    .sign(&alice, &genesis);
    let hex = format!("0x{}", crust_primitives::account::to_hex(&tx.encode()));
    for p in &rpcs {
        let r = rpc(*p, "author_submit", json!({ "tx": hex })).unwrap();
        assert!(
            r.get("result").is_some()
                || r["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("already"),
            "{r}"
        );
    }
    let bad = rpc(rpcs[0], "author_submit", json!({ "tx": "0x00" })).unwrap();
    assert_eq!(bad["error"]["code"], 1, "{bad}");
    let batch = rpc(
        rpcs[0],
        "author_submitBatch",
        json!({ "txs": ["0x00", hex] }),
    )
    .unwrap();
    let items = batch["result"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{batch}");
    assert!(
        items.iter().all(|i| i.get("error").is_some()),
        "garbage and a duplicate are both refused: {batch}"
    );
    let expected = (1_000_000 + 7) as u128 * CRU;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let balances: Vec<u128> = rpcs
            .iter()
            .map(|p| {
                rpc(*p, "state_account", json!({ "account": ferdie.to_ss58() }))
                    .and_then(|v| v["result"]["free"].as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(0)
            })
            .collect();
        if balances.iter().all(|b| *b == expected) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "transfer not finalized everywhere: {balances:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Every node reports the transfer finalized with its receipt; an unknown hash is unknown
    // and a malformed one is refused.
    let hash = format!("0x{}", crust_primitives::account::to_hex(&tx.hash().0));
    for p in &rpcs {
        let s = rpc(*p, "author_txStatus", json!({ "hash": hash })).unwrap();
        assert_eq!(s["result"]["status"], "finalized", "{s}");
        assert_eq!(s["result"]["success"], true, "{s}");
        assert!(s["result"]["height"].as_u64().unwrap() > 0, "{s}");
    }
    let none = rpc(
        rpcs[0],
        "author_txStatus",
        json!({ "hash": format!("0x{}", "ab".repeat(32)) }),
    )
    .unwrap();
    assert_eq!(none["result"]["status"], "unknown", "{none}");
    let bad = rpc(rpcs[0], "author_txStatus", json!({ "hash": "0x12" })).unwrap();
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    // The WebSocket: the same methods, plus finalized-head and event subscriptions.
    let (mut ws, _) = tungstenite::connect(format!("ws://127.0.0.1:{}/ws", rpcs[0])).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_mut() {
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    let head = ws_call(&mut ws, 1, "chain_head", json!({}), &mut Vec::new());
    assert!(head["result"]["height"].as_u64().unwrap() > 0, "{head}");
    let mut pushed = Vec::new();
    let heads = ws_call(
        &mut ws,
        2,
        "chain_subscribeFinalizedHeads",
        json!({}),
        &mut pushed,
    );
    let events = ws_call(&mut ws, 3, "chain_subscribeEvents", json!({}), &mut pushed);
    let (heads, events) = (heads["result"].clone(), events["result"].clone());
    assert_ne!(heads, events);
    while pushed
        .iter()
        .filter(|n| n["method"] == "chain_finalizedHead")
        .count()
        < 3
    {
        pushed.push(ws_next(&mut ws));
    }
    let heights: Vec<u64> = pushed
        .iter()
        .filter(|n| n["method"] == "chain_finalizedHead")
        .map(|n| {
            assert_eq!(n["params"]["subscription"], heads, "{n}");
            n["params"]["result"]["height"].as_u64().unwrap()
        })
        .collect();
    assert!(heights.windows(2).all(|w| w[1] == w[0] + 1), "{heights:?}");
    let event_heights: Vec<u64> = pushed
        .iter()
        .filter(|n| n["method"] == "chain_events")
        .map(|n| {
            assert_eq!(n["params"]["subscription"], events, "{n}");
            assert!(n["params"]["result"]["events"].is_array(), "{n}");
            n["params"]["result"]["height"].as_u64().unwrap()
        })
        .collect();
    assert!(
        heights.iter().any(|h| event_heights.contains(h)),
        "{event_heights:?}"
    );
    let off = ws_call(
        &mut ws,
        4,
        "chain_unsubscribe",
        json!({ "subscription": heads }),
        &mut pushed,
    );
    assert_eq!(off["result"], true, "{off}");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}
