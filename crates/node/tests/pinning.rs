//! The pinning service end to end on loopback: a dev chain node, an IPFS daemon, two storage
//! workers and `crust pin serve`. Alice approves the service on chain with a cap and makes a
//! token; a pin posted with it becomes an order Alice pays for (the service signs it), storage
//! workers replicate it, and the pin reaches `pinned` with the workers as its delegates. An
//! account that approved nothing is refused at once (409 INSUFFICIENT_FUNDS) and pays nothing;
//! one whose approval runs out mid-way pays once per order and loses nothing.
//! A real Kubo 0.43.1 adds the service with `ipfs pin remote service add` and pins a file only
//! it holds with `ipfs pin remote add --background`: the service fetches it from Kubo (the
//! pin's origins), orders it, and Kubo's `ipfs pin remote ls` shows it pinned. Then the official compliance suite (`@ipfs-shipyard/pinning-service-compliance`) runs against
//! the service: 9 of 9 checks.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a test failure

mod common;

use common::{
    CRUST, KuboDaemon, Procs, add_file, address, chain_and_ipfs, crust, harness, kubo_043,
    rpc_call, sworker, wait_for_file,
};
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

fn free(chain: &str, who: &str) -> u128 {
    rpc_call(chain, "state_account", json!({ "account": who }))["free"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `from` approves the service to order for it up to `cap` (`0` revokes).
fn approve(service: &str, chain: &str, from: &str, cap: &str) {
    crust(&[
        "pin",
        "approve",
        "--service",
        service,
        "--cap",
        cap,
        "--from",
        from,
        "--chain",
        chain,
    ]);
}

/// `crust pin serve` (signing as //Ferdie) on the daemon at `ipfs_api`; returns its URL.
fn pin_service(
    procs: &mut Procs,
    dir: &std::path::Path,
    chain: &str,
    ipfs_api: &str,
    replicas: &str,
) -> String {
    let pin_dir = dir.join("pinning");
    procs.0.push(
        Command::new(CRUST)
            .args(["pin", "serve", "--key", "//Ferdie", "--addr", "127.0.0.1:0"])
            .args(["--api", ipfs_api, "--chain", chain, "--replicas", replicas])
            .args(["--web3-recheck", "1"])
            .arg("--dir")
            .arg(&pin_dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&pin_dir.join("addr")).trim().to_owned()
}

#[test]
fn a_pin_is_ordered_for_the_tokens_account_and_reaches_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (mut procs, chain, ipfs_api, ipfs_addr) = chain_and_ipfs(dir.path());
    for (name, account) in [("bob", "//Bob"), ("charlie", "//Charlie")] {
        let (child, _) = sworker(&dir.path().join(name), account, &chain, &ipfs_addr);
        procs.0.push(child);
    }
    let service = pin_service(&mut procs, dir.path(), &chain, &ipfs_api, "2");

    // Alice approves the service for 1 CRU and makes a token for her laptop.
    approve(&service, &chain, "//Alice", "1CRU");
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

    let (data, cid) = add_file(&ipfs_api, &dir.path().join("two.bin"), 2_000_000);
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

    // Dave approved nothing: his pin is refused at once (409 INSUFFICIENT_FUNDS) with the
    // reason, and he pays nothing.
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
    let (code, refused) = api(
        "POST",
        &format!("{service}/pins"),
        &bob_token,
        Some(json!({"cid": cid})),
    );
    assert_eq!(code, 409, "{refused}");
    assert_eq!(
        refused["error"]["reason"], "INSUFFICIENT_FUNDS",
        "{refused}"
    );
    assert!(
        refused["error"]["details"]
            .as_str()
            .unwrap()
            .contains("has not approved"),
        "{refused}"
    );
    let (_, listed) = api(
        "GET",
        &format!("{service}/pins?status=queued,pinning,pinned,failed"),
        &bob_token,
        None,
    );
    assert_eq!(listed["count"], 0, "nothing kept for Dave: {listed}");
    assert_eq!(free(&chain, bob), bob_before, "Dave paid nothing");
    // Alice's pins are not Dave's.
    assert_eq!(
        api("GET", &format!("{service}/pins/{id}"), &bob_token, None).0,
        404
    );

    // Authenticated upload, for a user whose own IPFS node no storage node can reach: `crust
    // put --to` sends the file to the service's /api/v0/add with Alice's token; the service
    // orders it for Alice and keeps it until both workers hold proven replicas; put returns
    // once the pin is `pinned`.
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, data.iter().map(|b| b ^ 0x33).collect::<Vec<u8>>()).unwrap();
    let started = Instant::now();
    let out = Command::new(CRUST)
        .args(["put", "--to", &service, "--token", &token])
        .args(["--replicas", "2", "--timeout", "240"])
        .arg(&upload)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crust put --to: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ucid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    eprintln!(
        "crust put --to: upload to pinned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let file_info = rpc_call(&chain, "market_file", json!({ "cid": ucid }));
    assert_eq!(file_info["file"]["orderer"], alice, "{file_info}");
    let (_, listed) = api("GET", &format!("{service}/pins?cid={ucid}"), &token, None);
    assert_eq!(
        listed["results"][0]["pin"]["meta"]["uploaded"], "true",
        "{listed}"
    );
    // No token, no upload.
    let http = reqwest::blocking::Client::new();
    let refused = http
        .post(format!("{service}/api/v0/add"))
        .multipart(reqwest::blocking::multipart::Form::new().part(
            "file",
            reqwest::blocking::multipart::Part::bytes(b"hello".to_vec()).file_name("x"),
        ))
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // A CAR to /api/v0/dag/import: its root becomes a pin request of Alice's (named in the
    // x-crust-pin-requests header), and Kubo's answer comes back as Kubo's.
    let car = http
        .post(format!("{ipfs_api}/api/v0/dag/export?arg={cid}"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let imported = http
        .post(format!("{service}/api/v0/dag/import"))
        .header("authorization", format!("Bearer {token}"))
        .multipart(reqwest::blocking::multipart::Form::new().part(
            "file",
            reqwest::blocking::multipart::Part::bytes(car.to_vec()).file_name("two.car"),
        ))
        .send()
        .unwrap();
    assert_eq!(imported.status().as_u16(), 200);
    let ids = imported.headers()["x-crust-pin-requests"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer = imported.text().unwrap();
    assert!(answer.contains(&cid), "{answer}");
    let (code, request) = api("GET", &format!("{service}/pins/{ids}"), &token, None);
    assert_eq!(code, 200, "{request}");
    assert_eq!(request["pin"]["cid"], cid.as_str(), "{request}");

    // Kubo, as its users do it: the file is only on Kubo; its remote pin names Kubo's own
    // addresses as origins, the service fetches from there, orders, and the workers replicate.
    let kubo = KuboDaemon::start(&kubo_043(), &dir.path().join("kubo"));
    // Kubo's own CLI uploads through the service too, with Kubo's RPC authorization
    // (`--api-auth bearer:<token>`): the service answers as Kubo would, and the upload's root
    // becomes a pin request of Alice's.
    let port = service.rsplit(':').next().unwrap().to_owned();
    let kubo_upload = dir.path().join("kubo-upload.bin");
    std::fs::write(
        &kubo_upload,
        data.iter().map(|b| b ^ 0x77).collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = Command::new(&kubo.bin)
        .args(["--api", &format!("/ip4/127.0.0.1/tcp/{port}")])
        .args(["--api-auth", &format!("bearer:{token}"), "add", "-q"])
        .arg(&kubo_upload)
        .env("IPFS_PATH", &kubo.path)
        .output()
        .unwrap();
    let uploaded = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && !uploaded.is_empty(),
        "Kubo's ipfs add through the service: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, listed) = api(
        "GET",
        &format!("{service}/pins?cid={uploaded}&status=queued,pinning,pinned"),
        &token,
        None,
    );
    assert_eq!(listed["count"], 1, "{listed}");
    kubo.ipfs(&[
        "pin",
        "remote",
        "service",
        "add",
        "crust",
        &format!("{service}/"),
        &token,
    ]);
    let kfile = dir.path().join("kubo.bin");
    std::fs::write(&kfile, data.iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>()).unwrap();
    let kcid = kubo
        .ipfs(&["add", "-q", kfile.to_str().unwrap()])
        .trim()
        .to_owned();
    assert!(!kcid.is_empty(), "Kubo added the file");
    let posted = Instant::now();
    let added = kubo.ipfs(&[
        "pin",
        "remote",
        "add",
        "--service=crust",
        "--background",
        "--name=from-kubo",
        &kcid,
    ]);
    assert!(added.contains(&kcid) || added.contains("queued"), "{added}");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let listed = kubo.ipfs(&["pin", "remote", "ls", "--service=crust", "--status=pinned"]);
        if listed.contains(&kcid) {
            assert!(listed.contains("from-kubo"), "{listed}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kubo's remote pin did not reach pinned: {}",
            kubo.ipfs(&[
                "pin",
                "remote",
                "ls",
                "--service=crust",
                "--status=queued,pinning,pinned,failed"
            ])
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    eprintln!(
        "Kubo's remote pin to pinned: {:.1} s",
        posted.elapsed().as_secs_f64()
    );
    let file_info = rpc_call(&chain, "market_file", json!({ "cid": kcid }));
    assert_eq!(
        file_info["file"]["orderer"], alice,
        "Alice's token pays: {file_info}"
    );

    // The reference network's web3 token (a signature over the address, made offline): Alice's
    // works while her approval of the service lasts on chain and sees her pins; Dave approved
    // nothing, so his is refused; once Alice revokes her approval hers stops (within the
    // service's recheck time, 1 s here) while her service-made token still reads her pins.
    let web3 = crust(&["pin", "token", "web3", "--from", "//Alice"])
        .trim()
        .to_owned();
    let (code, page) = api("GET", &format!("{service}/pins"), &web3, None);
    assert_eq!(code, 200, "{page}");
    assert!(page["count"].as_u64().unwrap_or(0) >= 2, "{page}");
    let dave = crust(&["pin", "token", "web3", "--from", "//Dave"])
        .trim()
        .to_owned();
    let (code, body) = api("GET", &format!("{service}/pins"), &dave, None);
    assert_eq!(code, 401, "{body}");
    assert!(body.to_string().contains("no live approval"), "{body}");
    approve(&service, &chain, "//Alice", "0");
    std::thread::sleep(Duration::from_millis(1_500));
    let (code, body) = api("GET", &format!("{service}/pins"), &web3, None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(api("GET", &format!("{service}/pins"), &token, None).0, 200);
}

/// What is left of `payer`'s approval of the service (//Ferdie), read from the chain.
fn remaining(chain: &str, payer: &str) -> u128 {
    let payer: crust_primitives::AccountId = serde_json::from_value(json!(payer)).unwrap();
    let service: crust_primitives::AccountId =
        serde_json::from_value(json!(address("//Ferdie"))).unwrap();
    let key = crust_runtime::market::allowance_key(&payer, &service);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let proof = rpc_call(chain, "state_proof", json!({ "key": format!("0x{hex}") }));
    let Some(value) = proof["value"].as_str() else {
        return 0;
    };
    let bytes: Vec<u8> = (2..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&value[i..i + 2], 16).unwrap())
        .collect();
    crust_primitives::codec::decode::<crust_runtime::market::Allowance>(&bytes)
        .unwrap()
        .remaining
}

/// A token whose account runs out of funds mid-way: Eve approves the service for about two
/// orders and asks for five pins at once. The requests her approval covers are ordered and
/// paid once each; the others end `failed` with the chain's reason and cost her nothing; with
/// the approval spent, a new request is refused at once (409 INSUFFICIENT_FUNDS). Raising the
/// cap and asking again for a failed CID orders it: nothing was lost.
#[test]
fn a_token_that_runs_out_of_funds_midway_pays_once_per_order_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut procs, chain, ipfs_api, _) = chain_and_ipfs(dir.path());
    let service = pin_service(&mut procs, dir.path(), &chain, &ipfs_api, "1");
    let cids: Vec<String> = (0..5u32)
        .map(|n| {
            add_file(
                &ipfs_api,
                &dir.path().join(format!("f{n}.bin")),
                1_000_000 + n,
            )
            .1
        })
        .collect();
    // An order of one of these files costs at most `one` at today's prices.
    let prices = rpc_call(&chain, "market_prices", json!({}))["prices"].clone();
    let params: crust_runtime::market::MarketParams = serde_json::from_value(prices).unwrap();
    let (base, value) = crust_runtime::market::file_fee(&params, 1_100_000);
    let one = base + value;
    let cap = one * 5 / 2;
    approve(&service, &chain, "//Eve", &format!("{cap} units"));
    let token = crust(&[
        "pin",
        "token",
        "create",
        "eve",
        "--service",
        &service,
        "--from",
        "//Eve",
    ])
    .trim()
    .to_owned();
    let eve = address("//Eve");
    let before = free(&chain, &eve);
    let pins = format!("{service}/pins");
    let ids: Vec<String> = cids
        .iter()
        .map(|cid| {
            let (code, r) = api("POST", &pins, &token, Some(json!({ "cid": cid })));
            assert_eq!(code, 202, "{r}");
            r["requestid"].as_str().unwrap().to_owned()
        })
        .collect();
    // Each request is ordered (then `pinning`: no storage workers here) or fails.
    let deadline = Instant::now() + Duration::from_secs(180);
    let statuses: Vec<Value> = loop {
        let all: Vec<Value> = ids
            .iter()
            .map(|id| api("GET", &format!("{pins}/{id}"), &token, None).1)
            .collect();
        if all
            .iter()
            .all(|s| s["status"] == "pinning" || s["status"] == "pinned" || s["status"] == "failed")
        {
            break all;
        }
        assert!(Instant::now() < deadline, "still queued: {all:?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let (ordered, failed): (Vec<&Value>, Vec<&Value>) =
        statuses.iter().partition(|s| s["status"] != "failed");
    eprintln!(
        "approval for {cap} units (one order ≤ {one}): {} ordered, {} failed",
        ordered.len(),
        failed.len()
    );
    assert!(!ordered.is_empty() && !failed.is_empty(), "{statuses:?}");
    for s in &ordered {
        let file = rpc_call(&chain, "market_file", json!({ "cid": s["pin"]["cid"] }));
        assert_eq!(file["file"]["orderer"], eve.as_str(), "{file}");
    }
    for s in &failed {
        let reason = s["info"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("approval has"), "the chain's reason: {s}");
        let file = rpc_call(&chain, "market_file", json!({ "cid": s["pin"]["cid"] }));
        assert!(file["file"].is_null(), "no order for a failed pin: {file}");
    }
    // Eve paid exactly what her approval lost (the service pays the transaction fees), and that
    // is one order's price per ordered pin: more than n − 1 orders, at most n (each costs at
    // most `one`, a second charge for any would pass n·one).
    let left = remaining(&chain, &eve);
    let spent = before - free(&chain, &eve);
    assert_eq!(spent, cap - left, "what the approval lost");
    let n = ordered.len() as u128;
    assert!(
        spent > (n - 1) * one && spent <= n * one,
        "{spent} for {n} orders of at most {one} each"
    );
    assert!(left < one, "the approval cannot pay another order: {left}");
    // Spent: a new request is refused at once (after the service's last "can pay" answer, 1 s,
    // has run out).
    std::thread::sleep(Duration::from_millis(1_200));
    let (code, refused) = api("POST", &pins, &token, Some(json!({ "cid": cids[0] })));
    assert_eq!(code, 409, "{refused}");
    assert_eq!(
        refused["error"]["reason"], "INSUFFICIENT_FUNDS",
        "{refused}"
    );
    // Topped up, a failed CID is asked for again and ordered: nothing was lost.
    approve(&service, &chain, "//Eve", "1CRU");
    let before = free(&chain, &eve);
    let again = failed[0]["pin"]["cid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (code, r) = api("POST", &pins, &token, Some(json!({ "cid": again })));
        if code == 202 {
            break r["requestid"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "still refused: {r}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, s) = api("GET", &format!("{pins}/{id}"), &token, None);
        assert_ne!(s["status"], "failed", "{s}");
        if s["status"] == "pinning" || s["status"] == "pinned" {
            break;
        }
        assert!(Instant::now() < deadline, "not ordered: {s}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let file = rpc_call(&chain, "market_file", json!({ "cid": again }));
    assert_eq!(file["file"]["orderer"], eve.as_str(), "{file}");
    let cap2 = crust_primitives::balance::parse_balance("1CRU").unwrap();
    let spent = before - free(&chain, &eve);
    assert_eq!(spent, cap2 - remaining(&chain, &eve));
    assert!(
        spent > 0 && spent <= one,
        "the new order charged once: {spent}"
    );
}

/// The official compliance suite, unchanged, against the service: 9 of 9 checks. Two things
/// are provided around it (`interop/pinning_compliance.cjs`): the OpenAPI file it downloads from
/// GitHub at start comes from the Go module proxy instead (spec 0.1.1, the newest any registry
/// here serves), and Node's removed `util.is*` checks its schema converter calls are put back.
#[test]
fn the_official_compliance_suite_passes_nine_of_nine() {
    let env = harness();
    let spec = env.get("PINNING_SPEC").cloned().unwrap_or_default();
    assert!(
        !spec.is_empty(),
        "interop/setup.sh could not fetch the Pinning Service API's OpenAPI file (needs Go and the module proxy)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut procs, chain, ipfs_api, _) = chain_and_ipfs(dir.path());
    let service = pin_service(&mut procs, dir.path(), &chain, &ipfs_api, "3");
    // Requests of an account that cannot pay are refused with 409: Alice approves the service.
    approve(&service, &chain, "//Alice", "1CRU");
    let token = crust(&[
        "pin",
        "token",
        "create",
        "compliance",
        "--service",
        &service,
        "--from",
        "//Alice",
    ])
    .trim()
    .to_owned();
    let interop = std::path::PathBuf::from(&env["INTEROP_DIR"]);
    let suite = interop.join("node_modules/@ipfs-shipyard/pinning-service-compliance");
    let reports = suite.join("dist/docs");
    let _ = std::fs::remove_dir_all(&reports);
    let out = Command::new(&env["NODE24"])
        .current_dir(&interop)
        .env("PINNING_SPEC", &spec)
        .arg("--require")
        .arg(interop.join("pinning_compliance.cjs"))
        .arg(suite.join("dist/src/index.js"))
        .args(["-s", &service, &token])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let summary = std::fs::read_to_string(reports.join("127.0.0.1.json"))
        .unwrap_or_else(|e| panic!("no results ({e}):\n{log}"));
    let report = std::fs::read_to_string(reports.join("127.0.0.1.md")).unwrap_or_default();
    let v: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(
        (v["passed"].as_u64(), v["total"].as_u64()),
        (Some(9), Some(9)),
        "{summary}\n{report}"
    );
    assert!(report.contains("## Summary (9/9 successful)"), "{report}");
}
