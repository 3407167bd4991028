//! Helpers shared by the integration tests: the real IPFS peers from `interop/`.

#![allow(clippy::unwrap_used, clippy::panic, dead_code)] // test helpers; each test file uses a subset

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `interop/` directory (peer scripts and their installed packages).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// Installs (once, idempotent) and locates the interop peers.
pub fn harness() -> HashMap<String, String> {
    let out = Command::new("bash")
        .arg(interop_dir().join("setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "interop/setup.sh failed: install the peers from npm/PyPI first"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A TCP port nothing listens on (bound, then released).
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `crust` binary under test.
pub const CRUST: &str = env!("CARGO_BIN_EXE_crust");

/// Child processes killed when the test ends, passing or not.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `crust` and returns its stdout; fails the test if it fails.
pub fn crust(args: &[&str]) -> String {
    let out = Command::new(CRUST).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "crust {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A JSON-RPC call to the chain node; returns the result.
pub fn rpc_call(chain: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    use std::io::{Read as _, Write as _};
    let host = chain.strip_prefix("http://").unwrap();
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    conn.read_to_string(&mut text).unwrap();
    let json = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let reply: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
    reply["result"].clone()
}

/// The text of a file another process writes, once it is there (60 s at most).
pub fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `crust sworker` and returns it with its Bitswap address (from its first line).
pub fn sworker(dir: &Path, account: &str, chain: &str, peer: &str) -> (Child, String) {
    let mut child = Command::new(CRUST)
        .args([
            "sworker",
            "run",
            "--account",
            account,
            "--chain",
            chain,
            "--peer",
            peer,
        ])
        .arg("--dir")
        .arg(dir)
        .args([
            "--capacity",
            "64MiB",
            "--srd-unit-mib",
            "4",
            "--reserve",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split("Bitswap on ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .trim()
        .to_owned();
    // Keep draining its log (into `<dir>/test-stderr.log`) so it never blocks on a full pipe.
    let log = dir.join("test-stderr.log");
    std::thread::spawn(move || {
        let mut out = std::fs::File::create(log).ok();
        for line in lines.map_while(Result::ok) {
            if let Some(f) = out.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
    });
    (child, addr)
}

/// A Kubo 0.43 daemon in DHT-server mode on loopback, stopped when dropped.
pub struct KuboDaemon {
    pub bin: String,
    pub path: std::path::PathBuf,
    pub child: Child,
    /// `/ip4/127.0.0.1/tcp/…/p2p/<id>`.
    pub swarm: String,
    /// `/ip4/127.0.0.1/udp/…/quic-v1/p2p/<id>`.
    pub quic: String,
    pub id: String,
}

impl KuboDaemon {
    /// Initialises a repository at `path` and starts the daemon on free loopback ports.
    pub fn start(bin: &str, path: &Path) -> Self {
        let port = |_: ()| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (swarm_port, api_port) = (port(()), port(()));
        let quic_port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ipfs = |args: &[&str]| {
            let out = Command::new(bin)
                .args(args)
                .env("IPFS_PATH", path)
                .env("IPFS_TELEMETRY", "off")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ipfs {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        ipfs(&["init", "--profile=test"]);
        for (key, value) in [
            (
                "Addresses.Swarm",
                format!(
                    r#"["/ip4/127.0.0.1/tcp/{swarm_port}", "/ip4/127.0.0.1/udp/{quic_port}/quic-v1"]"#
                ),
            ),
            (
                "Addresses.API",
                format!(r#""/ip4/127.0.0.1/tcp/{api_port}""#),
            ),
            ("Addresses.Gateway", "[]".into()),
            ("Bootstrap", "[]".into()),
            ("Discovery.MDNS.Enabled", "false".into()),
            // A DHT server, and loopback addresses count on its LAN DHT (as on a LAN).
            ("Routing.Type", r#""dhtserver""#.into()),
            ("Routing.LoopbackAddressesOnLanDHT", "true".into()),
        ] {
            ipfs(&["config", "--json", key, &value]);
        }
        let id = ipfs(&["id", "-f", "<id>"]).trim().to_owned();
        let child = Command::new(bin)
            .arg("daemon")
            .env("IPFS_PATH", path)
            .env("IPFS_TELEMETRY", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
            assert!(Instant::now() < deadline, "Kubo did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        Self {
            bin: bin.to_owned(),
            path: path.to_owned(),
            child,
            swarm: format!("/ip4/127.0.0.1/tcp/{swarm_port}/p2p/{id}"),
            quic: format!("/ip4/127.0.0.1/udp/{quic_port}/quic-v1/p2p/{id}"),
            id,
        }
    }

    /// Runs `ipfs` against this daemon's repository; returns stdout.
    pub fn ipfs(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(args)
            .env("IPFS_PATH", &self.path)
            .env("IPFS_TELEMETRY", "off")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The Kubo 0.43.1 binary that `interop/setup.sh` builds.
pub fn kubo_043() -> String {
    let bin = harness().get("KUBO").cloned().unwrap_or_default();
    assert!(
        !bin.is_empty(),
        "interop/setup.sh could not build Kubo 0.43.1 (needs Go and the Go module proxy)"
    );
    bin
}

impl Drop for KuboDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `len` bytes of deterministic, incompressible data to `path` and adds it through the
/// IPFS daemon at `api`; returns the bytes and the CID.
pub fn add_file(api: &str, path: &Path, len: u32) -> (Vec<u8>, String) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(path, &data).unwrap();
    let cid = crust(&["add", "-q", "--api", api, path.to_str().unwrap()])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    (data, cid)
}
