//! The pinning service end to end on loopback: a dev chain node, an IPFS daemon, two storage
//! workers and `crust pin serve`. Alice approves the service on chain with a cap and makes a
//! token; a pin posted with it becomes an order Alice pays for (the service signs it), storage
//! workers replicate it, and the pin reaches `pinned` with the workers as its delegates. An
//! account that approved nothing gets a `failed` pin with the chain's reason and pays nothing.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a test failure

mod common;

use common::{CRUST, Procs, crust, free_port, rpc_call, sworker, wait_for_file};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn api(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::blocking::Client::new();
    let mut r = match method {
        "GET" => http.get(url),
        _ => http.post(url),
    }
    .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        r = r
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let out = r.send().unwrap();
    let code = out.status().as_u16();
    (
        code,
        serde_json::from_str(&out.text().unwrap()).unwrap_or(Value::Null),
    )
}

/// An account's SS58 address.
fn address(suri: &str) -> String {
    let v: Value =
        serde_json::from_str(&crust(&["key", "inspect", suri, "--output", "json"])).unwrap();
    v["address"].as_str().unwrap().to_owned()
}

fn free(chain: &str, who: &str) -> u128 {
    rpc_call(chain, "state_account", json!({ "account": who }))["free"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_pin_is_ordered_for_the_tokens_account_and_reaches_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, rpc) = (free_port(), free_port());
    let chain = format!("http://127.0.0.1:{rpc}");
    let mut procs = Procs(Vec::new());
    procs.0.push(
        Command::new(CRUST)
            .args(["node", "--chain", "dev", "--validator", "//Alice//session"])
            .arg("--data-dir")
            .arg(dir.path().join("chain"))
            .args(["--listen", &format!("127.0.0.1:{p2p}")])
            .args(["--rpc", &format!("127.0.0.1:{rpc}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let repo = dir.path().join("ipfs");
    procs.0.push(
        Command::new(CRUST)
            .args(["ipfs", "daemon", "--repo"])
            .arg(&repo)
            .args(["--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
            .args(["--swarm-addr", "/ip4/127.0.0.1/tcp/0"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ipfs_api = wait_for_file(&repo.join("api")).trim().to_owned();
    let ipfs_addr = wait_for_file(&repo.join("swarm"))
        .lines()
        .next()
        .unwrap()
        .to_owned();
    for (name, account) in [("bob", "//Bob"), ("charlie", "//Charlie")] {
        let (child, _) = sworker(&dir.path().join(name), account, &chain, &ipfs_addr);
        procs.0.push(child);
    }
    let pin_dir = dir.path().join("pinning");
    procs.0.push(
        Command::new(CRUST)
            .args(["pin", "serve", "--key", "//Ferdie", "--addr", "127.0.0.1:0"])
            .args(["--api", &ipfs_api, "--chain", &chain, "--replicas", "2"])
            .arg("--dir")
            .arg(&pin_dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let service = wait_for_file(&pin_dir.join("addr")).trim().to_owned();

    // Alice approves the service for 1 CRU and makes a token for her laptop.
    crust(&[
        "pin",
        "approve",
        "--service",
        &service,
        "--cap",
        "1CRU",
        "--from",
        "//Alice",
        "--chain",
        &chain,
    ]);
    let token = crust(&[
        "pin",
        "token",
        "create",
        "laptop",
        "--service",
        &service,
        "--from",
        "//Alice",
    ])
    .trim()
    .to_owned();
    let listed = crust(&[
        "pin",
        "token",
        "list",
        "--service",
        &service,
        "--from",
        "//Alice",
    ]);
    assert!(listed.starts_with("laptop"), "{listed}");

    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let file = dir.path().join("two.bin");
    std::fs::write(&file, &data).unwrap();
    let cid = crust(&["add", "-q", "--api", &ipfs_api, file.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let alice = address("//Alice");
    let alice = alice.as_str();
    let alice_before = free(&chain, alice);

    let (code, added) = api(
        "POST",
        &format!("{service}/pins"),
        &token,
        Some(json!({"cid": cid, "name": "two"})),
    );
    assert_eq!(code, 202, "{added}");
    let id = added["requestid"].as_str().unwrap().to_owned();
    let posted = Instant::now();

    // It reaches `pinned` once both workers hold proven replicas.
    let deadline = Instant::now() + Duration::from_secs(300);
    let pinned = loop {
        let (code, status) = api("GET", &format!("{service}/pins/{id}"), &token, None);
        assert_eq!(code, 200);
        assert_ne!(status["status"], "failed", "{status}");
        if status["status"] == "pinned" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "not pinned within 300 s: {status}"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!(
        "POST /pins to pinned (2 proven replicas): {:.1} s",
        posted.elapsed().as_secs_f64()
    );
    assert_eq!(pinned["info"]["replicas"], "2", "{pinned}");
    assert_eq!(pinned["delegates"].as_array().unwrap().len(), 2, "{pinned}");
    assert!(pinned["delegates"][0].as_str().unwrap().contains("/p2p/"));
    let (_, page) = api("GET", &format!("{service}/pins"), &token, None);
    assert_eq!(page["count"], 1, "listed as pinned: {page}");

    // Alice paid for the order and is its orderer; the service paid only its fee.
    let file_info = rpc_call(&chain, "market_file", json!({ "cid": cid }));
    assert_eq!(file_info["file"]["orderer"], alice, "{file_info}");
    assert!(free(&chain, alice) < alice_before, "Alice paid");

    // Dave approved nothing: his pin fails with the chain's reason, and he pays nothing.
    let bob = address("//Dave");
    let bob = bob.as_str();
    let bob_token = crust(&[
        "pin",
        "token",
        "create",
        "phone",
        "--service",
        &service,
        "--from",
        "//Dave",
    ])
    .trim()
    .to_owned();
    let bob_before = free(&chain, bob);
    let (code, added) = api(
        "POST",
        &format!("{service}/pins"),
        &bob_token,
        Some(json!({"cid": cid})),
    );
    assert_eq!(code, 202);
    let bob_id = added["requestid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let failed = loop {
        let (_, status) = api("GET", &format!("{service}/pins/{bob_id}"), &bob_token, None);
        if status["status"] == "failed" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "Dave's pin did not fail: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        failed["info"]["reason"]
            .as_str()
            .unwrap()
            .contains("has not approved"),
        "{failed}"
    );
    assert_eq!(free(&chain, bob), bob_before, "Dave paid nothing");
    // Alice's pins are not Dave's.
    assert_eq!(
        api("GET", &format!("{service}/pins/{id}"), &bob_token, None).0,
        404
    );
}
