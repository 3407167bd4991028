//! The `crust` binary, run as a user would.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

use std::process::Command;

fn crust(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crust"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `crust … | head -1` and `crust … 2>&1 | head -1`: a closed pipe ends the command quietly
/// (status 0 for stdout, 141 — as SIGPIPE — for stderr), never with a panic (status 101).
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    let status = Command::new(env!("CARGO_BIN_EXE_crust"))
        .args(["key", "inspect", "//Alice"])
        .stdout(closed())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let out = Command::new(env!("CARGO_BIN_EXE_crust"))
        .args(["key", "inspect", "not-a-key"])
        .stdout(std::process::Stdio::piped())
        .stderr(closed())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141));
    // `crust add --raw-leaves` takes the bare flag as Kubo does (and `=false`).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"raw leaves").unwrap();
    let (f, repo) = (
        file.to_str().unwrap(),
        dir.path().join("repo").to_str().unwrap().to_owned(),
    );
    let (code, raw, err) = crust(&["add", "-n", "-q", "--repo", &repo, "--raw-leaves", f]);
    assert_eq!(code, 0, "{err}");
    let (code, plain, err) = crust(&["add", "-n", "-q", "--repo", &repo, "--raw-leaves=false", f]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(raw, plain, "raw leaves change the CID");
    let (code, spaced, err) = crust(&[
        "add",
        "-n",
        "-q",
        "--repo",
        &repo,
        "--raw-leaves",
        "true",
        f,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(spaced, raw, "`--raw-leaves true` still works");
}

#[test]
fn inspect_dev_account() {
    let (code, out, _) = crust(&["key", "inspect", "//Alice"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0x88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"),
        "{out}"
    );
    assert!(
        out.contains("cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL"),
        "{out}"
    );
}

#[test]
fn inspect_address_and_reject_typos() {
    let (code, out, _) = crust(&[
        "key",
        "inspect",
        "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("66 (Crust)"), "{out}");
    let (code, _, err) = crust(&[
        "key",
        "inspect",
        "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYM",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn generate_prints_a_phrase_that_inspects_to_the_same_account() {
    let (code, out, _) = crust(&["key", "generate", "--words", "24"]);
    assert_eq!(code, 0);
    let phrase = out
        .lines()
        .find_map(|l| l.strip_prefix("Secret phrase: "))
        .expect("phrase line");
    assert_eq!(phrase.split(' ').count(), 24);
    let address = out
        .lines()
        .find_map(|l| l.strip_prefix("Account (SS58):   "))
        .expect("address line");
    let (_, again, _) = crust(&["key", "inspect", phrase]);
    assert!(again.contains(address));
}

#[test]
fn price_of_the_reference_129_mib_file() {
    // 129 MiB × 10 000 units + 1 000 000 keys fee = 2 290 000 units; base fee starts at 0.
    let (code, out, _) = crust(&["price", "134289408"]);
    assert_eq!(code, 0);
    assert!(out.contains("total     0.00000229 CRU"), "{out}");
}

#[test]
fn keys_are_stored_listed_and_usable_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_crust"))
            .args(args)
            .env("CRUST_KEYS", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["key", "new", "cold"], "");
    assert_eq!(code, 0);
    let address = out
        .lines()
        .find_map(|l| l.strip_prefix("Account (SS58):   "))
        .unwrap()
        .to_owned();
    // The stored secret is private to the user.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("cold"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let (code, _, _) = run(&["key", "import", "alice"], "//Alice\n");
    assert_eq!(code, 0);
    let (code, _, err) = run(&["key", "import", "alice"], "//Bob\n");
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    let (_, list, _) = run(&["key", "list", "--output", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "alice");
    assert_eq!(
        list[0]["address"],
        "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL"
    );
    assert_eq!(list[1]["name"], "cold");
    assert_eq!(list[1]["address"], address.as_str());
    // A stored name works wherever a secret URI does.
    let (_, shown, _) = run(&["key", "inspect", "cold"], "");
    assert!(shown.contains(&address), "{shown}");
}

/// The long-running roles log through one subscriber: `role: message` lines by default, one
/// JSON object per line with `--log-format json` (here an IPFS daemon's start-up lines, read
/// until it says where its API listens, then stopped).
#[test]
fn daemons_log_text_lines_or_json_objects() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    for format in ["text", "json"] {
        let repo = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_crust"))
            .args(["--log-format", format, "ipfs", "daemon", "--repo"])
            .arg(repo.path())
            .args([
                "--api-addr",
                "127.0.0.1:0",
                "--gateway-addr",
                "127.0.0.1:0",
                "--swarm-addr",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            let done = line.contains("Kubo RPC API on");
            lines.push(line);
            if done {
                break;
            }
        }
        child.kill().unwrap();
        let _ = child.wait();
        let api = lines.last().unwrap();
        if format == "text" {
            assert!(
                api.starts_with("ipfs: Kubo RPC API on http://127.0.0.1:"),
                "{lines:?}"
            );
        } else {
            for line in &lines {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
                assert!(
                    v["timestamp"].is_string() && v["level"].is_string(),
                    "{line}"
                );
            }
            let v: serde_json::Value = serde_json::from_str(api).unwrap();
            assert_eq!(v["target"], "crust::ipfs");
            assert_eq!(v["level"], "INFO");
            assert!(
                v["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Kubo RPC API on http://127.0.0.1:"),
                "{api}"
            );
        }
    }
}

/// The SS58 address of a secret URI, as `crust key inspect` prints it.
fn address_of(suri: &str) -> String {
    let (code, out, err) = crust(&["key", "inspect", suri, "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json["address"].as_str().unwrap().to_owned()
}

#[test]
fn chain_spec_is_made_from_addresses_and_built_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("net.json");
    let spec_s = spec.to_str().unwrap();
    let alice = address_of("//Alice");
    let (stash, session) = (address_of("//Op1//stash"), address_of("//Op1//session"));

    // A secret anywhere is refused: operators send addresses only.
    let (code, _, err) = crust(&[
        "chain-spec",
        "new",
        spec_s,
        "--name",
        "n",
        "--id",
        "net",
        "--council",
        "//Alice",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a secret"), "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "new",
        spec_s,
        "--name",
        "n",
        "--id",
        "bad id!",
        "--council",
        &alice,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--id"), "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "new",
        spec_s,
        "--name",
        "n",
        "--id",
        "net",
        "--council",
        &alice,
    ]);
    assert_eq!(code, 0, "{err}");
    // A new network: no sudo key, the council named, the newest protocol rules.
    let draft: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    assert!(draft.get("sudo").is_none(), "{draft}");
    assert_eq!(draft["council"][0], alice.as_str());
    assert_eq!(draft["council_threshold"], 1);
    assert_eq!(
        draft["protocol_version"],
        crust_runtime::system::LATEST_PROTOCOL_VERSION
    );
    // An existing draft is not overwritten by mistake.
    let (code, _, err) = crust(&[
        "chain-spec",
        "new",
        spec_s,
        "--name",
        "n",
        "--id",
        "net",
        "--council",
        &alice,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--force"), "{err}");
    // Nothing to build yet.
    let (code, _, err) = crust(&["chain-spec", "build", spec_s]);
    assert_eq!(code, 2);
    assert!(err.contains("no genesis validators"), "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "add-validator",
        spec_s,
        "--stash",
        &stash,
        "--session",
        "//Op1//session",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a secret"), "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "add-validator",
        spec_s,
        "--stash",
        &stash,
        "--session",
        &session,
        "--bootnode",
        "boot-1.example.org:30333",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "add-validator",
        spec_s,
        "--stash",
        &stash,
        "--session",
        &session,
    ]);
    assert_eq!(code, 2, "the same validator twice");
    assert!(err.contains("already"), "{err}");
    let (code, _, err) = crust(&[
        "chain-spec",
        "add-bootnode",
        spec_s,
        "//Op1//session@10.0.0.1:1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("address"), "{err}");
    let (code, _, err) = crust(&["chain-spec", "add-balance", spec_s, &alice, "500 CRU"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = crust(&["chain-spec", "add-authority", spec_s, &alice]);
    assert_eq!(code, 0, "{err}");

    // Two coordinators building the same draft at the same genesis time get the same hash.
    let mut hashes = Vec::new();
    for out in ["a.json", "b.json"] {
        let target = dir.path().join(out);
        let (code, text, err) = crust(&[
            "chain-spec",
            "build",
            spec_s,
            "--out",
            target.to_str().unwrap(),
            "--genesis-time-ms",
            "1800000000000",
            "--output",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let built: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(built["validator_count"], 1);
        assert_eq!(
            built["bootnodes"][0],
            format!("{session}@boot-1.example.org:30333")
        );
        hashes.push(built["genesis_hash"].as_str().unwrap().to_owned());
        // The built spec loads as a node would load it.
        let (code, text, err) = crust(&["chain-spec", "inspect", target.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains(&hashes[hashes.len() - 1]), "{text}");
    }
    assert_eq!(hashes[0], hashes[1]);
    // Another genesis time is another network.
    let (code, text, _) = crust(&[
        "chain-spec",
        "build",
        spec_s,
        "--genesis-time-ms",
        "1800000001000",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0);
    let other: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_ne!(other["genesis_hash"].as_str().unwrap(), hashes[0]);
}

/// A free TCP port on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A JSON-RPC call over plain HTTP; `None` while nothing answers.
fn rpc(port: u16, method: &str) -> Option<serde_json::Value> {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{}}}}"#);
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    conn.read_to_string(&mut text).ok()?;
    let json: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()?;
    Some(json["result"].clone())
}

/// Waits until the node on `port` has finalized past `height`; returns its height.
fn finalized_past(port: u16, height: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(h) = rpc(port, "chain_head").and_then(|r| r["height"].as_u64())
            && h > height
        {
            return h;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no height past {height}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_node_runs_from_a_config_file_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, rpc_port) = (free_port(), free_port());
    let config = dir.path().join("crust.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nchain = \"dev\"\nvalidator = \"//Alice//session\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:{p2p}\"\nrpc = \"127.0.0.1:{rpc_port}\"\nmemory = \"256MiB\"\n",
            dir.path().join("chain").display()
        ),
    )
    .unwrap();
    // The environment overrides the file; `config show` says so.
    let (code, shown, err) = crust(&[
        "--config",
        config.to_str().unwrap(),
        "config",
        "show",
        "node",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains(&format!("rpc = \"127.0.0.1:{rpc_port}\"")),
        "{shown}"
    );
    assert!(shown.contains("(config file; CRUST_NODE_RPC)"), "{shown}");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_crust"))
            .args(["--config", config.to_str().unwrap(), "node"])
            .env("CRUST_NODE_MEMORY", "192MiB")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let node = start();
    let first = finalized_past(rpc_port, 3);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = node.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SIGTERM is a clean stop: {:?}\n{log}",
        out.status
    );
    assert!(log.contains("stopping at finalized #"), "{log}");
    assert!(
        log.contains("memory budget 192 MiB"),
        "the environment's budget: {log}"
    );
    // It resumes from where it stopped.
    let mut again = start();
    let resumed = finalized_past(rpc_port, first);
    assert!(resumed > first);
    let _ = again.kill();
    let _ = again.wait();
}
