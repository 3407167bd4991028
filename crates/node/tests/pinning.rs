//! The pinning service end to end on loopback: a dev chain node, an IPFS daemon, two storage
//! workers and `crust pin serve`. Alice approves the service on chain with a cap and makes a
//! token; a pin posted with it becomes an order Alice pays for (the service signs it), storage
//! workers replicate it, and the pin reaches `pinned` with the workers as its delegates. An
//! account that approved nothing gets a `failed` pin with the chain's reason and pays nothing.
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
    crust(&[
        "pin",
        "approve",
        "--service",
        &service,
        "--cap",
        "0",
        "--from",
        "//Alice",
        "--chain",
        &chain,
    ]);
    std::thread::sleep(Duration::from_millis(1_500));
    let (code, body) = api("GET", &format!("{service}/pins"), &web3, None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(api("GET", &format!("{service}/pins"), &token, None).0, 200);
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
