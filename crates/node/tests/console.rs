//! The web console in a real browser: `crust devnet` (2 validators, 2 storage nodes, an IPFS
//! node) with a file put and replicated, and Debian's Chromium driven headless by
//! playwright-core (`interop/console_check.mjs`) through every page. Each page must show real
//! data (the file's replicas, the committee, the live height), meet accessibility basics
//! (labels, contrast, keyboard), fit a phone, and no request may carry a secret. Verified mode
//! (the WebAssembly light client) must mark every checked fact verified against the honest
//! node, and flag the replica, balance and stake limit a proxy in front of it alters. A folder
//! uploaded from the upload page (with //Alice's token, through the devnet's pinning service)
//! must reach proven replicas, the token never sent to the node. The storage and market pages
//! must chart the chain's own per-slot history (reports, orders, fees) and show each worker's
//! challenge results; the network page its (proven) pending slashes. A storage owner claims its
//! replica rewards from its account page in verified mode, the fee checked under a certified
//! root before signing; the verifier goes over the wire gzipped, under 1 MiB.
//! Screenshots land in `target/tmp/console-shots/` (the README's come from there).

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{CRUST, Devnet, free_ports, harness, interop_dir, wait};
use std::path::Path;
use std::process::Command;

fn height(chain: &str) -> Option<u64> {
    let out = Command::new(CRUST)
        .args(["era", "--chain", chain, "--output", "json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["height"].as_u64()
}

#[test]
fn every_console_page_renders_real_data_in_chromium() {
    let env = harness();
    let chromium = env.get("CHROMIUM").cloned().unwrap_or_default();
    assert!(
        !chromium.is_empty(),
        "Chromium is missing: interop/setup.sh installs Debian's chromium with apt"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_ports(40);
    let chain = format!("http://127.0.0.1:{base}");
    let api = format!("http://127.0.0.1:{}", base + 20);
    let _devnet = Devnet::start(&dir, base, &["--validators", "2", "--storage-nodes", "2"]);
    wait("the devnet to start", 240, || {
        dir.join("processes.json").exists().then_some(())
    });
    wait("the chain to finalize", 120, || {
        height(&chain).filter(|h| *h > 2)
    });
    // A file with two replicas, ordered by Alice.
    let file = tmp.path().join("page.bin");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();
    let out = Command::new(CRUST)
        .args([
            "put",
            file.to_str().unwrap(),
            "--yes",
            "--replicas",
            "2",
            "--timeout",
            "240",
            "--api",
            &api,
            "--chain",
            &chain,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let put: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cid = put["cid"].as_str().unwrap().to_owned();
    let alice = {
        let out = Command::new(CRUST)
            .args(["key", "inspect", "//Alice", "--output", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["address"].as_str().unwrap().to_owned()
    };

    // The devnet's pinning service takes //Alice's uploads (she approved it at start).
    let token_file = dir.join("alice-upload-token");
    wait("the upload token", 60, || token_file.exists().then_some(()));
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-shots");
    let out = Command::new(&env["NODE"])
        .arg(interop_dir().join("console_check.mjs"))
        .args([
            &chain,
            shots.to_str().unwrap(),
            &chromium,
            &cid,
            &alice,
            "2",
            &token,
        ])
        .current_dir(interop_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    eprintln!("console: {summary}");
    assert!(
        out.status.success() && summary["failures"].as_array().is_some_and(Vec::is_empty),
        "{summary}\n{stderr}"
    );
    for page in [
        "network",
        "storage",
        "market",
        "files",
        "file",
        "account",
        "governance",
        "upload",
    ] {
        assert!(shots.join(format!("{page}.png")).exists(), "{page}.png");
    }
    assert!(
        summary["replicas_shown"].as_u64().unwrap() >= 2,
        "{summary}"
    );
    assert!(summary["requests"].as_u64().unwrap() > 10, "{summary}");
    // Verified mode: every fact checked in the browser against the honest node, each altered
    // one flagged through the lying proxy; the verifier's size and speed.
    let v = &summary["verified"];
    for page in ["file", "account", "network"] {
        assert!(v["marks"][page]["verified"].as_u64().unwrap() >= 2, "{v}");
        assert_eq!(v["marks"][page]["lie"], 0, "{v}");
        let t = &summary["tampered"][format!("{page}-tampered")];
        assert!(t["marks"]["lie"].as_u64().unwrap() >= 1, "{t}");
    }
    assert!(v["wasm_gzip_bytes"].as_u64().unwrap() < 1 << 20, "{v}");
    // Measured, not asserted (tests never assert on wall time): printed in the summary.
    assert!(v["file_check_ms"].as_f64().is_some(), "{v}");
    assert_eq!(v["wasm_wire"]["encoding"], "gzip", "{v}");
    // A prepayment signed in the browser landed in the file's renewal pool; a storage owner's
    // claim took its rewards to zero.
    assert_eq!(summary["prepay"]["after"], "2 CRU", "{summary}");
    assert_eq!(summary["claim"]["after"], "0 CRU", "{summary}");
    // The history charts had data from the chain's record.
    assert!(
        summary["history_order_bars"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    // An upload from the page reached proven replicas.
    assert!(
        summary["upload"]["replicas"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    eprintln!("screenshots in {}", shots.display());
}
