//! The product end to end: `crust devnet` (4 validators, 6 storage nodes, an IPFS node — 11
//! real processes on loopback) and the user's `crust` commands against it. A file is put,
//! replicated on distinct owners, paid for; the owners' proven storage raises their validators'
//! stake limits, the next committee is weighted by it and era rewards are paid; the file is read
//! back from a storage node that never saw the upload; a storage node holding a replica dies, its
//! replica drops and the repair bounty brings one on another node, and it rejoins; a validator
//! is killed across an era boundary and the chain keeps finalizing; Ctrl-C stops everything and
//! a restart resumes. Storage nodes answer the chain's storage challenges in their reports and
//! serve their replicas over their own HTTP gateways.

#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CRUST: &str = env!("CARGO_BIN_EXE_crust");

mod common;

use common::{Devnet, free_ports, wait};

/// Runs `crust args…`, asserting success; returns stdout.
fn crust(args: &[&str]) -> String {
    let out = Command::new(CRUST).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "crust {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `crust sworker args… --dir <storage-j>`, asserting success (with the worker's log tail
/// if not); returns stdout.
fn sworker(devnet: &Path, j: usize, args: &[&str]) -> String {
    let node = devnet.join(format!("storage-{j}"));
    let mut all = vec!["sworker"];
    all.extend(args);
    all.extend(["--dir", node.to_str().unwrap()]);
    let out = Command::new(CRUST).args(&all).output().unwrap();
    if !out.status.success() {
        let log = std::fs::read_to_string(devnet.join(format!("logs/storage-{j}.log")))
            .unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "crust {all:?} failed: {}\nstorage-{j}'s log ends:\n{}",
            String::from_utf8_lossy(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

fn crust_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    serde_json::from_str(&crust(&all)).unwrap()
}

fn units(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

/// Eight waves of transfers, each submitted only to the validator at `chain` and a block time
/// apart: with gossip, the next leader includes each wave; without it, every one would wait
/// for that validator's own turn to lead.
fn transfers_sent_to_one_validator_are_included_by_others(chain: &str) {
    use common::rpc_call;
    use serde_json::json;
    let genesis = rpc_call(chain, "genesis_hash", json!({}));
    let genesis = genesis.as_str().unwrap();
    let alice = crust_json(&["key", "inspect", "//Alice"]);
    let me = rpc_call(chain, "state_account", json!({"account": alice["address"]}));
    let node = rpc_call(chain, "chain_head", json!({}));
    let mut nonce = me["next_nonce"].as_u64().unwrap();
    let mut hashes = Vec::new();
    for _wave in 0..8 {
        let txs = crust(&[
            "tx",
            "transfer",
            "--from",
            "//Alice",
            "--to",
            "//Eve",
            "--amount",
            "0.001 CRU",
            "--nonce",
            &nonce.to_string(),
            "--genesis",
            genesis,
            "--birth",
            &node["height"].to_string(),
            "--more",
            "4",
        ]);
        let txs: Vec<&str> = txs.split_whitespace().collect();
        assert_eq!(txs.len(), 5);
        nonce += 5;
        let answer = rpc_call(chain, "author_submitBatch", json!({ "txs": txs }));
        for a in answer.as_array().unwrap() {
            hashes.push(
                a["hash"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{a}"))
                    .to_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    let mut proposers = std::collections::BTreeMap::<String, usize>::new();
    for hash in &hashes {
        let at = wait("a transfer to be finalized", 60, || {
            let s = rpc_call(chain, "author_txStatus", json!({ "hash": hash }));
            (s["status"] == "finalized").then(|| s["height"].as_u64().unwrap())
        });
        let block = rpc_call(chain, "chain_block", json!({"height": at, "bodies": false}));
        *proposers
            .entry(block["proposer"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        proposers.len() >= 2,
        "40 transfers sent to one validator were all included by one proposer: {proposers:?}"
    );
}

fn height(chain: &str) -> Option<u64> {
    let out = Command::new(CRUST)
        .args(["era", "--chain", chain, "--output", "json"])
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["height"].as_u64()
}

#[test]
fn put_replicate_pay_elect_and_survive_a_validator_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_ports(32);
    let chain = format!("http://127.0.0.1:{base}");
    let api = format!("http://127.0.0.1:{}", base + 20);
    let mut devnet = Devnet::start(&dir, base, &[]);
    wait("the devnet to start", 240, || {
        dir.join("processes.json").exists().then_some(())
    });
    wait("the chain to finalize", 120, || {
        height(&chain).filter(|h| *h > 2)
    });

    // 0. Transactions sent to one validator are included by the others' blocks too (gossip).
    transfers_sent_to_one_validator_are_included_by_others(&chain);

    // 1. Put a 20 MB file: priced, ordered, followed until 3 replicas.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..20_000_000)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 56) as u8
        })
        .collect();
    let file = tmp.path().join("twenty.bin");
    std::fs::write(&file, &data).unwrap();
    let put_file = |path: &Path, replicas: &str| {
        crust_json(&[
            "put",
            path.to_str().unwrap(),
            "--yes",
            "--replicas",
            replicas,
            "--timeout",
            "240",
            "--api",
            &api,
            "--chain",
            &chain,
        ])
    };
    let put = put_file(&file, "3");
    let cid = put["cid"].as_str().unwrap().to_owned();
    assert!(put["size_bytes"].as_u64().unwrap() > 20_000_000, "{put}");
    assert!(units(&put["fee"]) > 0, "{put}");
    assert_eq!(put["state"], "stored", "{put}");
    assert!(put["replica_count"].as_u64().unwrap() >= 3, "{put}");

    // The order is listed as Alice's; Alice (who runs no storage) creates a group and allows a
    // member.
    let mine = crust_json(&["orders", "--from", "//Alice", "--chain", &chain]);
    let listed = mine["orders"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|o| o["cid"] == cid.as_str() && o["state"] == "stored"),
        "{mine}"
    );
    crust(&["group", "create", "--from", "//Alice", "--chain", &chain]);
    crust(&[
        "group",
        "allow",
        "//Charlie",
        "--from",
        "//Alice",
        "--chain",
        &chain,
    ]);

    // Replicas on distinct owners; the first four owners are paid.
    let status = wait("4 paid replica owners", 180, || {
        let s = crust_json(&["status", &cid, "--chain", &chain]);
        (s["paid_owners"].as_array().unwrap().len() == 4).then_some(s)
    });
    let owners: std::collections::BTreeSet<_> = status["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["owner"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        owners.len(),
        status["replica_count"].as_u64().unwrap() as usize
    );
    assert!(status["expires_at"].as_u64().unwrap() > status["head"].as_u64().unwrap());

    // Work reports are accepted (every storage node's status shows an accepted slot).
    for j in 0..6 {
        wait(&format!("an accepted report from storage-{j}"), 120, || {
            let s: Value =
                serde_json::from_str(&sworker(&dir, j, &["status", "--output", "json"])).unwrap();
            s["last_accepted_slot"].as_u64()
        });
    }

    // The paid owners' rewards are claimable; one claims and its balance rises.
    let dev_owners = [
        "//Alice//stash",
        "//Bob//stash",
        "//Charlie//stash",
        "//Dave//stash",
        "//Eve",
        "//Ferdie",
    ];
    let mut claimable = 0;
    for owner in dev_owners {
        let r = crust_json(&["rewards", "--from", owner, "--chain", &chain]);
        if units(&r["unclaimed"]) > 0 {
            claimable += 1;
        }
    }
    assert!(claimable >= 4, "{claimable} owners have claimable rewards");
    let paid: &str = status["paid_owners"][0].as_str().unwrap();
    let claimer = dev_owners
        .iter()
        .find(|o| crust(&["key", "inspect", o]).contains(paid))
        .unwrap();
    let claim = crust_json(&["rewards", "--from", claimer, "--claim", "--chain", &chain]);
    assert!(claim["claim_tx"].is_string(), "{claim}");
    assert!(units(&claim["claimed"]) > 0, "{claim}");
    let after = crust_json(&["rewards", "--from", claimer, "--chain", &chain]);
    assert_eq!(units(&after["unclaimed"]), 0, "claimed: {after}");

    // 2. The file from a storage node that never received the upload (storage-5 fetched it
    // from the IPFS node; read it back from storage-5 alone).
    let swarm = std::fs::read_to_string(dir.join("storage-5/swarm")).unwrap();
    let out = tmp.path().join("back.bin");
    crust(&[
        "get",
        &cid,
        "-o",
        out.to_str().unwrap(),
        "--peer",
        swarm.lines().next().unwrap(),
    ]);
    assert!(std::fs::read(&out).unwrap() == data, "bytes differ");
    // …and through storage-5's own gateway, which serves its sealed replica.
    let gateway = std::fs::read_to_string(dir.join("storage-5/gateway")).unwrap();
    let body = reqwest::blocking::get(format!("{}/ipfs/{cid}", gateway.trim()))
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(body.as_ref() == data.as_slice(), "gateway bytes differ");

    // 3. A storage node holding a replica dies: it misses its report, loses its workload and
    // the replica; the repair bounty (D12) pays a node that had no room before and now takes
    // the file; the dead node comes back and reports its file again.
    let sworker = |j: usize, args: &[&str]| sworker(&dir, j, args);
    for j in [4, 5] {
        sworker(j, &["capacity", "24MiB"]);
    }
    let second = tmp.path().join("second.bin");
    std::fs::write(&second, &data[..8_000_000]).unwrap();
    let put2 = put_file(&second, "4");
    let cid2 = put2["cid"].as_str().unwrap().to_owned();
    let address = |suri: &str| {
        crust(&["key", "inspect", suri])
            .lines()
            .find_map(|l| l.strip_prefix("Account (SS58):   "))
            .unwrap()
            .to_owned()
    };
    let (dave, eve) = (address("//Dave//stash"), address("//Eve"));
    let owners_of = |s: &Value, key: &str| -> Vec<String> {
        s[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_str()
                    .map_or_else(|| r["owner"].as_str().unwrap().to_owned(), str::to_owned)
            })
            .collect()
    };
    let before = crust_json(&["status", &cid2, "--chain", &chain]);
    assert!(owners_of(&before, "replicas").contains(&dave), "{before}");
    assert!(
        !owners_of(&before, "replicas").contains(&eve),
        "storage-4 had no room: {before}"
    );
    devnet.kill("storage-3");
    wait(
        "storage-3's replica to drop after its missed report",
        180,
        || {
            let s = crust_json(&["status", &cid2, "--chain", &chain]);
            (!owners_of(&s, "replicas").contains(&dave)).then_some(())
        },
    );
    sworker(4, &["capacity", "64MiB"]);
    let repaired = wait(
        "a new replica on storage-4, paid by the bounty",
        240,
        || {
            let s = crust_json(&["status", &cid2, "--chain", &chain]);
            owners_of(&s, "paid_owners").contains(&eve).then_some(s)
        },
    );
    assert!(
        owners_of(&repaired, "replicas").contains(&eve),
        "{repaired}"
    );
    let storage3 = devnet.restart("storage-3");
    wait("storage-3 to rejoin and report its file again", 240, || {
        let s = crust_json(&["status", &cid2, "--chain", &chain]);
        owners_of(&s, "replicas").contains(&dave).then_some(())
    });
    drop(storage3);

    // Proven storage raises the validators' stake limits, and a committee elected after that
    // is weighted by effective (limit-clipped) stakes, not by the 10 000 CRU bonds.
    let view = wait("a committee elected on stake limits", 420, || {
        let v = crust_json(&["validators", "--chain", &chain]);
        // D31: the devnet's software-enclave workers are authority-attested; their SRD counts.
        assert_eq!(
            v["srd_counts_under"],
            serde_json::json!(["authorities", "sgx-dcap"])
        );
        let candidates = v["candidates"].as_array()?.clone();
        let limit_of = |stash: &Value| {
            candidates
                .iter()
                .find(|c| &c["stash"] == stash)
                .map(|c| (units(&c["stake_limit"]), units(&c["bonded"])))
        };
        let members = v["committee"].as_array()?;
        let weighted = members.len() >= 3
            && members.iter().all(|m| {
                let stake = units(&m["stake"]);
                limit_of(&m["stash"])
                    .is_some_and(|(limit, bonded)| stake > 0 && stake <= limit && stake < bonded)
            });
        weighted.then_some(v)
    });
    assert!(view["era"].as_u64().unwrap() >= 1, "{view}");

    // 4. Kill a validator shortly before an era boundary; the other three keep finalizing
    // across it; restarted, it catches up. Then era rewards are paid out.
    let era = crust_json(&["era", "--chain", &chain]);
    let boundary = era["next_era_at"].as_u64().unwrap();
    wait("the last blocks before the era boundary", 240, || {
        height(&chain).filter(|h| *h + 20 >= boundary)
    });
    devnet.kill("validator-3");
    wait(
        "finality past the era boundary without validator-3",
        120,
        || height(&chain).filter(|h| *h > boundary + 20),
    );
    let restarted = devnet.restart("validator-3");
    let own_rpc = format!("http://127.0.0.1:{}", base + 3);
    let target = height(&chain).unwrap() + 10;
    wait("the restarted validator to catch up", 180, || {
        height(&own_rpc).filter(|h| *h >= target)
    });
    let paid_era = crust_json(&["era", "--chain", &chain])["era"]
        .as_u64()
        .unwrap()
        - 1;
    let stash_before =
        units(&crust_json(&["balance", "//Alice//stash", "--chain", &chain])["free"]);
    crust(&[
        "stake",
        "payout",
        "//Alice//stash",
        &paid_era.to_string(),
        "--from",
        "//Ferdie",
        "--chain",
        &chain,
    ]);
    let stash_after = units(&crust_json(&["balance", "//Alice//stash", "--chain", &chain])["free"]);
    assert!(
        stash_after > stash_before,
        "era {paid_era} rewards paid to Alice's stash"
    );
    drop(restarted);

    // D18: storage-5's reports answer storage challenges on its replica, and the chain accepts
    // them (the reports chain by hash, so an accepted later slot means this one was accepted).
    let log = std::fs::read_to_string(dir.join("logs/storage-5.log")).unwrap();
    let challenged_slot = log
        .lines()
        .filter(|l| l.contains("challenges answered") && !l.contains(" 0 challenges answered"))
        .filter_map(|l| {
            l.split("report for slot ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .next_back()
        .expect("a report with challenge answers");
    wait("storage-5's challenged report to be accepted", 180, || {
        let s: Value = serde_json::from_str(&sworker(5, &["status", "--output", "json"])).unwrap();
        s["last_accepted_slot"]
            .as_u64()
            .filter(|a| *a >= challenged_slot)
    });

    // Ctrl-C stops every process; started again, the devnet resumes the same chain.
    let stopped_at = height(&chain).unwrap();
    devnet.interrupt();
    assert!(height(&chain).is_none(), "the RPC is down after Ctrl-C");
    let _devnet = Devnet::start(&dir, base, &[]);
    let deadline = Instant::now() + Duration::from_secs(240);
    while height(&chain).is_none_or(|h| h <= stopped_at) {
        if Instant::now() > deadline {
            // Show what the validators said before failing (the directory goes with the test).
            for i in 0..4 {
                let log = std::fs::read_to_string(dir.join(format!("logs/validator-{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                eprintln!(
                    "--- validator-{i} (last lines, newest first)\n{}",
                    tail.join("\n")
                );
            }
            panic!("the resumed devnet did not finalize past {stopped_at} in 240 s");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let again = crust_json(&["status", &cid, "--chain", &chain]);
    assert_eq!(again["cid"], cid.as_str());
    assert!(again["replica_count"].as_u64().unwrap() >= 3, "{again}");
}
