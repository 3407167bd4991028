//! Governance through the `crust` binary against a real node: a chain with no sudo key,
//! proposals and votes from the command line, the council's cancellation, the treasury, and a
//! protocol upgrade that stops a node which does not speak the new version until it is
//! updated.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a test failure

mod common;

use common::{CRUST, free_port, rpc_call};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `crust`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CRUST).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `crust` with `--chain URL` and `--output json`, expecting success; parses stdout.
fn json(chain: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--chain", chain, "--output", "json"]);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "crust {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn ok(chain: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--chain", chain]);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "crust {args:?}: {err}");
    out
}

fn head(chain: &str) -> u64 {
    rpc_call(chain, "chain_head", serde_json::json!({}))["height"]
        .as_u64()
        .unwrap()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The dev chain without its sudo key: 6-block votes, 2-block enactment, a one-member
/// council (//Charlie), and the validator's stash funded so it can pay for votes.
fn write_spec(dir: &std::path::Path) -> std::path::PathBuf {
    let mut spec: serde_json::Value =
        serde_json::from_str(include_str!("../../chain/specs/dev.json")).unwrap();
    let o = spec.as_object_mut().unwrap();
    o.remove("sudo");
    o.insert("id".into(), "govtest".into());
    // Starts under version 1 so the test can upgrade it to 2.
    o.insert("protocol_version".into(), 1.into());
    o.insert("voting_period_blocks".into(), 6.into());
    o.insert("enactment_delay_blocks".into(), 2.into());
    o.insert("council".into(), serde_json::json!(["//Charlie"]));
    o.insert("council_threshold".into(), 1.into());
    o["balances"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"account": "//Alice//stash", "amount": "1000 CRU"}));
    let path = dir.join("spec.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    path
}

fn start_node(
    spec: &std::path::Path,
    data: &std::path::Path,
    p2p: u16,
    rpc: u16,
    old: bool,
) -> Child {
    let mut args = vec![
        "node".to_owned(),
        "--chain".into(),
        spec.display().to_string(),
        "--validator".into(),
        "//Alice//session".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{p2p}"),
        "--rpc".into(),
        format!("127.0.0.1:{rpc}"),
        "--memory".into(),
        "192MiB".into(),
    ];
    if old {
        args.extend(["--max-protocol-version".into(), "1".into()]);
    }
    Command::new(CRUST)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn status(chain: &str, id: u32) -> serde_json::Value {
    json(chain, &["gov", "status", &id.to_string()])
}

fn propose(chain: &str, from: &str, call: &[&str]) -> u32 {
    let mut args = vec!["gov", "propose"];
    args.extend(call);
    args.extend(["--from", from]);
    json(chain, &args)["proposal"].as_u64().unwrap() as u32
}

#[test]
fn proposals_votes_council_treasury_and_an_upgrade_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let (code, shown, err) = run(&["chain-spec", "inspect", spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains("sudo         none"), "{shown}");
    let (p2p, rpc) = (free_port(), free_port());
    let chain = format!("http://127.0.0.1:{rpc}");
    let data = dir.path().join("node");
    // This node runs as a release that speaks only protocol version 1.
    let mut node = start_node(&spec, &data, p2p, rpc, true);
    wait_until("the node", Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", rpc)).is_ok() && head(&chain) >= 2
    });

    let list = ok(&chain, &["gov", "list"]);
    assert!(list.contains("sudo      none"), "{list}");
    assert!(list.contains("council   1 of 1"), "{list}");

    // A parameter change: proposed by anyone, passed by the stash's 10 000 CRU bond.
    let seats = propose(&chain, "//Bob", &["validator-count", "3"]);
    assert_eq!(seats, 0);
    ok(
        &chain,
        &["gov", "vote", "0", "aye", "--from", "//Alice//stash"],
    );
    let s = status(&chain, seats);
    assert_eq!(s["aye"], "10000000000000000", "{s}");
    assert_eq!(s["passing"], true, "{s}");
    // Not a staker: refused with the chain's reason.
    let (code, _, err) = run(&[
        "gov", "vote", "0", "nay", "--from", "//Dave", "--chain", &chain,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no active bonded stake"), "{err}");

    // The council stops a treasury spend; a non-member cannot.
    let spend = propose(&chain, "//Bob", &["treasury-spend", "//Dave", "1 CRU"]);
    let (code, _, err) = run(&[
        "gov",
        "cancel",
        &spend.to_string(),
        "--from",
        "//Eve",
        "--chain",
        &chain,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("not on the council"), "{err}");
    ok(
        &chain,
        &["gov", "cancel", &spend.to_string(), "--from", "//Charlie"],
    );
    assert_eq!(status(&chain, spend)["status"], "cancelled by the council");

    wait_until("enactment", Duration::from_secs(30), || {
        status(&chain, seats)["status"]
            .as_str()
            .unwrap()
            .starts_with("enacted")
    });
    let treasury = json(&chain, &["treasury"]);
    let held: u128 = treasury["treasury"]["free"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(held > 0, "fees reach the treasury: {treasury}");

    // An upgrade far enough ahead for the proposal's vote and enactment.
    let at = head(&chain) + 30;
    let upgrade = propose(
        &chain,
        "//Bob",
        &["upgrade", "--version", "2", "--at", &at.to_string()],
    );
    ok(
        &chain,
        &[
            "gov",
            "vote",
            &upgrade.to_string(),
            "aye",
            "--from",
            "//Alice//stash",
        ],
    );
    wait_until(
        "the upgrade to be scheduled",
        Duration::from_secs(30),
        || json(&chain, &["gov", "list"])["scheduled_upgrade"]["at"] == at,
    );
    // The old node stops at the upgrade height with what to do, instead of going on.
    let deadline = Instant::now() + Duration::from_secs(90);
    let exit = loop {
        if let Some(exit) = node.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the old node did not stop at the upgrade"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(node.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert_eq!(exit.code(), Some(3), "{log}");
    assert!(
        log.contains(&format!("block {at} runs protocol version 2"))
            && log.contains("Install a release that speaks version 2"),
        "{log}"
    );
    // Updated, it resumes from its last finalized block and runs version 2's rules.
    let mut node = start_node(&spec, &data, p2p, rpc, false);
    wait_until("blocks past the upgrade", Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", rpc)).is_ok() && head(&chain) > at + 2
    });
    let list = json(&chain, &["gov", "list"]);
    assert_eq!(list["protocol_version"], 2, "{list}");
    assert!(list["scheduled_upgrade"].is_null(), "{list}");
    let (code, version, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(version.contains("protocol versions 1-3"), "{version}");
    let _ = node.kill();
    let _ = node.wait();
}
