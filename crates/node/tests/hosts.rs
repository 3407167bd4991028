//! A network of many hosts on one machine: 4 validators, 3 storage nodes and the user's IPFS
//! node, each in its own network namespace on a bridge, every connection into a validator or
//! the IPFS node crossing a Toxiproxy link with 50 ms (± 5 ms) each way. The genesis is made
//! the way separate operators make it (`crust chain-spec`, public addresses only) and the
//! validators find each other through one bootnode. A file is put, replicated to 3 storage
//! nodes, proven, and read back bit-exact from a storage node; then the bootnode's link is cut
//! for an era and restored: the other three, which found each other through it, keep
//! finalizing, and it catches up.

#![allow(clippy::unwrap_used, clippy::panic)] // test: a failure is a test failure

mod common;
mod lab;

use common::{CRUST, harness};
use lab::{Host, Lab};
use std::path::Path;
use std::time::{Duration, Instant};

const VALIDATORS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
const OWNERS: [&str; 3] = ["//Eve", "//Ferdie", "//Storage6"];
const IPFS: Host = Host(7);
/// One-way latency of every shaped link, and its jitter.
const LATENCY_MS: u32 = 50;
const JITTER_MS: u32 = 5;

/// Runs `crust` in `host` and returns its stdout (fails the test if it fails).
fn crust_in(lab: &Lab, host: Host, args: &[&str]) -> String {
    let out = lab.command(host, CRUST).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "crust {args:?} in {host:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `crust` on this machine (no network): spec and key tools.
fn crust_here(args: &[&str]) -> String {
    let out = std::process::Command::new(CRUST)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crust {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The SS58 address of a dev secret URI (what an operator would send from `crust key new`).
fn address(suri: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&crust_here(&["key", "inspect", suri, "--output", "json"])).unwrap();
    json["address"].as_str().unwrap().to_owned()
}

/// The finalized height a validator's RPC reports, asked from inside `from`.
fn finalized(lab: &Lab, from: Host, rpc: &str) -> Option<u64> {
    let out = lab
        .command(from, CRUST)
        .args(["era", "--output", "json", "--chain", rpc])
        .output()
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["height"].as_u64()
}

/// The Toxiproxy server, after checking that this machine lets the test make namespaces;
/// fails the test (never skips it) when either is missing.
fn toxiproxy() -> String {
    if let Err(why) = lab::available() {
        panic!("this test puts nodes in network namespaces and needs root with iproute2: {why}");
    }
    harness()
        .get("TOXIPROXY")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("interop/setup.sh did not build Toxiproxy (needs Go)"))
        .clone()
}

/// Starts `crust ipfs daemon` on `repo` in `host`, swarm on port 4001 of every address; returns
/// its peer ID once it has written its addresses.
fn start_ipfs(lab: &mut Lab, host: Host, repo: &Path, log: &Path) -> String {
    let args: Vec<String> = [
        "ipfs",
        "daemon",
        "--repo",
        repo.to_str().unwrap(),
        "--api-addr",
        "127.0.0.1:5001",
        "--gateway-addr",
        "127.0.0.1:8080",
        "--swarm-addr",
        "/ip4/0.0.0.0/tcp/4001",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    lab.spawn(host, CRUST, &args, log);
    common::wait_for_file(&repo.join("swarm"))
        .lines()
        .next()
        .unwrap()
        .rsplit_once("/p2p/")
        .unwrap()
        .1
        .to_owned()
}

/// Waits for `cond`, polling every half second, failing with `what` after `secs`.
fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A line of `log` containing `needle`, once the process has written it.
fn log_line(log: &Path, needle: &str) -> String {
    let mut line = String::new();
    wait_until(60, &format!("'{needle}' in {}", log.display()), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        match text.lines().find(|l| l.contains(needle)) {
            Some(l) => {
                line = l.to_owned();
                true
            }
            None => false,
        }
    });
    line
}

#[test]
fn namespaced_network_behind_50ms_links_stores_proves_and_survives_a_cut_bootnode() {
    let toxiproxy = toxiproxy();
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::new(8);
    lab.start_toxiproxy(&toxiproxy, &dir.path().join("toxiproxy.log"));

    // Shaped links: each validator's chain network and RPC, and the IPFS node's swarm port.
    let mut p2p = Vec::new();
    let mut rpc = Vec::new();
    for (i, name) in VALIDATORS.iter().enumerate() {
        let h = Host(i);
        let port = u16::try_from(i).unwrap();
        p2p.push(lab.proxy(
            &format!("p2p-{name}"),
            h,
            30333,
            30333 + port,
            LATENCY_MS,
            JITTER_MS,
        ));
        let addr = lab.proxy(
            &format!("rpc-{name}"),
            h,
            9933,
            9933 + port,
            LATENCY_MS,
            JITTER_MS,
        );
        rpc.push(format!("http://{addr}"));
    }
    let ipfs_swarm = lab.proxy("ipfs-swarm", IPFS, 4001, 4001, LATENCY_MS, JITTER_MS);

    // The genesis, made as separate operators make it: each sends public addresses only.
    let spec = dir.path().join("testnet.json");
    let spec_s = spec.to_str().unwrap();
    crust_here(&[
        "chain-spec",
        "new",
        spec_s,
        "--name",
        "namespaced testnet",
        "--id",
        "nstest",
    ]);
    for (i, name) in VALIDATORS.iter().enumerate() {
        let mut args = vec![
            "chain-spec".to_owned(),
            "add-validator".into(),
            spec_s.into(),
            "--stash".into(),
            address(&format!("//{name}//stash")),
            "--session".into(),
            address(&format!("//{name}//session")),
        ];
        if i == 0 {
            args.extend(["--bootnode".into(), p2p[0].clone()]);
        }
        crust_here(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for who in ["//Alice"].iter().chain(OWNERS.iter()) {
        crust_here(&[
            "chain-spec",
            "add-balance",
            spec_s,
            &address(who),
            "1000000 CRU",
        ]);
    }
    crust_here(&[
        "chain-spec",
        "add-authority",
        spec_s,
        &address("//Authority"),
    ]);
    let built = crust_here(&["chain-spec", "build", spec_s, "--output", "json"]);
    let built: serde_json::Value = serde_json::from_str(&built).unwrap();
    assert_eq!(built["bootnodes"].as_array().unwrap().len(), 1, "{built}");
    assert!(built["genesis_hash"].as_str().unwrap().starts_with("0x"));

    // Validators: each knows only the spec (with validator 0 as its bootnode).
    for (i, name) in VALIDATORS.iter().enumerate() {
        let h = Host(i);
        let args: Vec<String> = [
            "node",
            "--chain",
            spec_s,
            "--validator",
            &format!("//{name}//session"),
            "--data-dir",
            dir.path().join(format!("v{i}")).to_str().unwrap(),
            "--listen",
            "0.0.0.0:30333",
            "--public-addr",
            &p2p[i],
            "--rpc",
            "0.0.0.0:9933",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        lab.spawn(h, CRUST, &args, &dir.path().join(format!("v{i}.log")));
    }
    wait_until(90, "every validator finalizes through its links", || {
        rpc.iter()
            .all(|r| finalized(&lab, IPFS, r).is_some_and(|h| h >= 5))
    });
    // Every node runs the genesis `build` printed.
    for r in &rpc {
        let genesis = lab
            .rpc(IPFS, r, "genesis_hash", serde_json::json!({}))
            .unwrap();
        assert_eq!(genesis, built["genesis_hash"], "{r}");
    }

    // The user's IPFS node, and three storage nodes that fetch from it across its link.
    let repo = dir.path().join("ipfs");
    let ipfs_id = start_ipfs(&mut lab, IPFS, &repo, &dir.path().join("ipfs.log"));
    let (sw_ip, sw_port) = ipfs_swarm.split_once(':').unwrap();
    let ipfs_via_link = format!("/ip4/{sw_ip}/tcp/{sw_port}/p2p/{ipfs_id}");
    let mut storage_addrs = Vec::new();
    for (j, owner) in OWNERS.iter().enumerate() {
        let h = Host(4 + j);
        let node_dir = dir.path().join(format!("s{j}"));
        let args: Vec<String> = [
            "sworker",
            "run",
            "--account",
            owner,
            "--dir",
            node_dir.to_str().unwrap(),
            "--capacity",
            "64MiB",
            "--srd-unit-mib",
            "4",
            "--reserve",
            "0",
            "--peer",
            &ipfs_via_link,
            "--chain",
            &rpc[j % rpc.len()],
            "--swarm-addr",
            "/ip4/0.0.0.0/tcp/4001",
            "--announce",
            &format!("/ip4/{}/tcp/4001", lab.ip(h)),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let log = dir.path().join(format!("s{j}.log"));
        lab.spawn(h, CRUST, &args, &log);
        let line = log_line(&log, "Bitswap on ");
        let id = line.rsplit_once("/p2p/").unwrap().1.trim().to_owned();
        storage_addrs.push(format!("/ip4/{}/tcp/4001/p2p/{id}", lab.ip(h)));
    }

    // A file is put (through the IPFS node, ordered at validator 1), reaches 3 proven replicas.
    let file = dir.path().join("photo.bin");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();
    let ordered = Instant::now();
    let put = crust_in(
        &lab,
        IPFS,
        &[
            "put",
            file.to_str().unwrap(),
            "--yes",
            "--replicas",
            "3",
            "--timeout",
            "400",
            "--api",
            "http://127.0.0.1:5001",
            "--chain",
            &rpc[1],
            "--output",
            "json",
        ],
    );
    let put: serde_json::Value =
        serde_json::from_str(&put).unwrap_or_else(|e| panic!("{e}: {put}"));
    let cid = put["cid"]
        .as_str()
        .unwrap_or_else(|| panic!("{put}"))
        .to_owned();
    let status = |lab: &Lab| -> serde_json::Value {
        let out = crust_in(
            lab,
            IPFS,
            &["status", &cid, "--output", "json", "--chain", &rpc[2]],
        );
        serde_json::from_str(&out).unwrap()
    };
    wait_until(400, "3 proven replicas", || {
        let s = status(&lab);
        s["replica_count"].as_u64().is_some_and(|n| n >= 3)
    });

    eprintln!(
        "3 proven replicas {:.1} s after `crust put` started",
        ordered.elapsed().as_secs_f64()
    );
    // Read back bit-exact from a storage node (a fresh repository: nothing local).
    let out = dir.path().join("copy.bin");
    crust_in(
        &lab,
        IPFS,
        &[
            "get",
            &cid,
            "-o",
            out.to_str().unwrap(),
            "--peer",
            &storage_addrs[2],
        ],
    );
    assert!(std::fs::read(&out).unwrap() == data, "read back differs");

    // The bootnode's link is cut for an era (60 blocks × 4 slots × 250 ms = 60 s): the other
    // three found each other through it and keep finalizing without it.
    let cut = Host(0);
    let before = finalized(&lab, IPFS, &rpc[1]).unwrap();
    lab.cut(cut);
    std::thread::sleep(Duration::from_secs(65));
    let during = finalized(&lab, IPFS, &rpc[1]).unwrap();
    eprintln!("finalized while the bootnode was cut for 65 s: {before} → {during}");
    assert!(
        during >= before + 100,
        "the other three did not keep finalizing while the bootnode was cut: {before} → {during}"
    );
    lab.restore(cut);
    let restored = Instant::now();
    wait_until(
        120,
        "the bootnode catches up after its link is restored",
        || finalized(&lab, IPFS, &rpc[0]).is_some_and(|h| h >= during),
    );
    eprintln!(
        "caught up {:.1} s after the restore",
        restored.elapsed().as_secs_f64()
    );
    // And the network as a whole still finalizes with it.
    let now = finalized(&lab, IPFS, &rpc[1]).unwrap();
    wait_until(60, "finality goes on after the restore", || {
        finalized(&lab, IPFS, &rpc[0]).is_some_and(|h| h >= now + 20)
    });
}

/// A large DAG across a long, narrow link (50 ms each way, 100 Mbit/s): the fetch keeps many
/// wants in flight, and a want that waits in the provider's queue behind others is not asked
/// again (which once flooded the link with duplicates until the fetch timed out).
#[test]
fn a_large_fetch_across_a_long_narrow_link_completes() {
    let toxiproxy = toxiproxy();
    let dir = tempfile::tempdir().unwrap();
    // A star: the fetcher reaches the provider only through the shaped link.
    let mut lab = Lab::star(2);
    lab.start_toxiproxy(&toxiproxy, &dir.path().join("toxiproxy.log"));
    let (provider, fetcher) = (Host(0), Host(1));
    let link = lab.proxy_with_rate("swarm", provider, 4001, 4001, 50, 0, Some(12_500));
    let file = dir.path().join("big.bin");
    // Incompressible and without repeats (xorshift), so every 256 KiB block is its own.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..48usize << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect();
    std::fs::write(&file, &data).unwrap();
    let repo = dir.path().join("a");
    let cid = crust_here(&[
        "add",
        "-q",
        "--repo",
        repo.to_str().unwrap(),
        file.to_str().unwrap(),
    ])
    .lines()
    .last()
    .unwrap()
    .to_owned();
    let id = start_ipfs(&mut lab, provider, &repo, &dir.path().join("provider.log"));
    let (ip, port) = link.split_once(':').unwrap();
    let fetched = dir.path().join("b");
    let out = lab
        .command(fetcher, CRUST)
        .args(["fetch", &cid, "--repo", fetched.to_str().unwrap(), "--peer"])
        .arg(format!("/ip4/{ip}/tcp/{port}/p2p/{id}"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "crust fetch: {log}");
    eprintln!("{log}");
    let copy = dir.path().join("copy.bin");
    crust_here(&[
        "get",
        &cid,
        "-o",
        copy.to_str().unwrap(),
        "--repo",
        fetched.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read(&copy).unwrap() == data,
        "fetched copy differs"
    );
}
