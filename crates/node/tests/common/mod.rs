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

// ---- the devnet as a child process (devnet.rs, console.rs) ------------------------------

/// A base port with `n` free ports after it (checked by binding each).
pub fn free_ports(n: u16) -> u16 {
    let seed = u64::from(std::process::id()) * 7919 + 13;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 997) % 35_000) as u16;
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} free consecutive ports");
}

/// Polls `f` every second until it returns `Some`, or fails after `secs`.
pub fn wait<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s: {what}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `crust devnet` as a child process: small storage capacities, ports from `base` (RPC at
/// `base`, p2p at +10, Kubo API at +20, gateway at +21, swarm at +30), its log next to `dir`.
/// Ctrl-C'd when dropped.
pub struct Devnet {
    child: Child,
    dir: PathBuf,
}

impl Devnet {
    /// Starts a devnet in `dir` with `extra` arguments (e.g. `--validators 2`).
    pub fn start(dir: &Path, base: u16, extra: &[&str]) -> Self {
        let p = |offset: u16| (base + offset).to_string();
        let child = Command::new(CRUST)
            .args([
                "devnet",
                "--quiet",
                "--data-dir",
                dir.to_str().unwrap(),
                "--capacity",
                "64MiB",
                "--srd-unit-mib",
                "8",
                "--rpc-port",
                &p(0),
                "--p2p-port",
                &p(10),
                "--api-port",
                &p(20),
                "--gateway-port",
                &p(21),
                "--swarm-port",
                &p(30),
                "--pin-port",
                &p(31),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.with_extension("log")).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    /// Ctrl-C: the devnet stops its processes and exits.
    pub fn interrupt(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "devnet did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs one of the devnet's processes.
    pub fn kill(&self, name: &str) {
        let pid = self.process(name)["pid"].as_i64().unwrap() as i32;
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    }

    /// Starts a killed process again with its arguments, logging to its log.
    pub fn restart(&self, name: &str) -> Restarted {
        let p = self.process(name);
        let args: Vec<String> = p["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(p["log"].as_str().unwrap())
            .unwrap();
        Restarted(
            Command::new(CRUST)
                .args(&args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    pub fn process(&self, name: &str) -> serde_json::Value {
        let list: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.dir.join("processes.json")).unwrap())
                .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap()
    }
}

/// A process restarted by the test, outside the devnet's care: killed when dropped, so a
/// failing test leaves nothing running.
pub struct Restarted(Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.interrupt();
        }
    }
}

/// An account's SS58 address.
pub fn address(suri: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&crust(&["key", "inspect", suri, "--output", "json"])).unwrap();
    v["address"].as_str().unwrap().to_owned()
}

/// A dev chain node and an IPFS daemon: `(procs, chain URL, IPFS API URL, IPFS swarm address)`.
pub fn chain_and_ipfs(dir: &std::path::Path) -> (Procs, String, String, String) {
    let (p2p, rpc) = (free_port(), free_port());
    let chain = format!("http://127.0.0.1:{rpc}");
    let mut procs = Procs(Vec::new());
    procs.0.push(
        Command::new(CRUST)
            .args(["node", "--chain", "dev", "--validator", "//Alice//session"])
            .arg("--data-dir")
            .arg(dir.join("chain"))
            .args(["--listen", &format!("127.0.0.1:{p2p}")])
            .args(["--rpc", &format!("127.0.0.1:{rpc}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let repo = dir.join("ipfs");
    procs.0.push(
        Command::new(CRUST)
            .args(["ipfs", "daemon", "--repo"])
            .arg(&repo)
            .args(["--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
            .args(["--swarm-addr", "/ip4/127.0.0.1/tcp/0"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ipfs_api = wait_for_file(&repo.join("api")).trim().to_owned();
    let ipfs_addr = wait_for_file(&repo.join("swarm"))
        .lines()
        .next()
        .unwrap()
        .to_owned();
    (procs, chain, ipfs_api, ipfs_addr)
}
