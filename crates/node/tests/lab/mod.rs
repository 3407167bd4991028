//! Many hosts on one machine: each node in its own Linux network namespace with its own address
//! on a bridge the test creates, links shaped by Toxiproxy (this machine has no netem).
//!
//! Two layouts. [`Lab::new`]: a "switch" namespace holds the bridge (`10.<net>.0.1/24`, where Toxiproxy listens)
//! and one veth end per host; host `i` has `eth0` at `10.<net>.0.<10 + i>`. Nothing is created in
//! the machine's own namespace, so the test process reaches the hosts only by running commands
//! inside them ([`Lab::command`]). A shaped link is a Toxiproxy proxy on the switch in front of
//! a host's port ([`Lab::proxy`]): whoever dials the proxy's address crosses the link. A link is
//! cut by taking the host's veth down on the switch ([`Lab::cut`]). [`Lab::star`]: hosts reach
//! each other only through the proxies, so every byte between them crosses a shaped link.
//!
//! Needs root (`ip netns`), and the Toxiproxy server that `interop/setup.sh` builds from the Go
//! module proxy.

#![allow(clippy::unwrap_used, clippy::panic, dead_code)] // test harness

use std::net::Ipv4Addr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One namespaced network of hosts, torn down (processes and namespaces) when dropped.
pub struct Lab {
    prefix: String,
    net: u8,
    hosts: usize,
    /// Hosts reach each other only through the switch's proxies (see [`Lab::star`]).
    star: bool,
    procs: Vec<Child>,
    toxiproxy: Option<Child>,
}

/// A host of the lab.
#[derive(Clone, Copy, Debug)]
pub struct Host(pub usize);

fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Labs made by this process so far: tests of one binary run at once, each with its own names.
static LABS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A name prefix no other lab of this process uses (`crustlab<pid>x<n>`).
fn unique_prefix() -> String {
    let n = LABS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("crustlab{}x{n}", std::process::id())
}

/// Whether this machine lets the test make network namespaces (root with iproute2).
pub fn available() -> Result<(), String> {
    let probe = format!("{}probe", unique_prefix());
    let out = Command::new("ip")
        .args(["netns", "add", &probe])
        .output()
        .map_err(|e| format!("iproute2 is not installed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot make a network namespace: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let _ = Command::new("ip").args(["netns", "del", &probe]).output();
    Ok(())
}

/// Removes namespaces an earlier lab left when its process died without cleaning up.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("crustlab") else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

impl Lab {
    /// Makes `hosts` hosts on a new bridge.
    pub fn new(hosts: usize) -> Self {
        let lab = Self::empty(hosts, false);
        let sw = lab.switch_ns();
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        let addr = format!("{}/24", lab.switch_ip());
        ip(&["-n", &sw, "addr", "add", &addr, "dev", "br0"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for i in 0..hosts {
            let port = lab.add_host(i);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &sw, "link", "set", &port, "up"]);
        }
        lab
    }

    /// Makes `hosts` hosts in a star: each has its own point-to-point link to the switch
    /// (host `10.<net>.<i>.2`, switch `.1`) and a default route through it, the switch does not
    /// forward, and the proxies listen on a service address every host routes to
    /// (`10.<net>.255.1`). Hosts never reach each other directly: every byte between them
    /// crosses a shaped link.
    pub fn star(hosts: usize) -> Self {
        let lab = Self::empty(hosts, true);
        let sw = lab.switch_ns();
        let addr = format!("{}/32", lab.switch_ip());
        ip(&["-n", &sw, "addr", "add", &addr, "dev", "lo"]);
        let no_forwarding = "echo 0 > /proc/sys/net/ipv4/ip_forward";
        let forward = Command::new("ip")
            .args(["netns", "exec", &sw, "sh", "-c", no_forwarding])
            .status()
            .unwrap();
        assert!(forward.success());
        for i in 0..hosts {
            let port = lab.add_host(i);
            let gateway = format!("10.{}.{}.1", lab.net, u8::try_from(i).unwrap());
            ip(&[
                "-n",
                &lab.ns(Host(i)),
                "route",
                "add",
                "default",
                "via",
                &gateway,
            ]);
            ip(&[
                "-n",
                &sw,
                "addr",
                "add",
                &format!("{gateway}/24"),
                "dev",
                &port,
            ]);
            ip(&["-n", &sw, "link", "set", &port, "up"]);
        }
        lab
    }

    /// A lab with its switch namespace made and no hosts yet.
    fn empty(hosts: usize, star: bool) -> Self {
        remove_stale();
        let lab = Self {
            prefix: unique_prefix(),
            // Each lab's addresses live in its own namespaces, so labs never clash on them.
            net: u8::try_from(100 + std::process::id() % 150).unwrap(),
            hosts,
            star,
            procs: Vec::new(),
            toxiproxy: None,
        };
        let sw = lab.switch_ns();
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "set", "lo", "up"]);
        lab
    }

    /// Makes host `i`'s namespace with `eth0` at its address, its veth peer in the switch;
    /// returns the peer's name there.
    fn add_host(&self, i: usize) -> String {
        let (ns, sw, port) = (self.ns(Host(i)), self.switch_ns(), format!("p{i}"));
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&[
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &sw,
        ]);
        let addr = format!("{}/24", self.ip(Host(i)));
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        port
    }

    fn switch_ns(&self) -> String {
        format!("{}sw", self.prefix)
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: Host) -> String {
        format!("{}h{}", self.prefix, host.0)
    }

    /// The address of `host`.
    pub fn ip(&self, host: Host) -> Ipv4Addr {
        if self.star {
            Ipv4Addr::new(10, self.net, u8::try_from(host.0).unwrap(), 2)
        } else {
            Ipv4Addr::new(10, self.net, 0, u8::try_from(10 + host.0).unwrap())
        }
    }

    /// The switch's address (where shaped links' proxies listen).
    pub fn switch_ip(&self) -> Ipv4Addr {
        if self.star {
            Ipv4Addr::new(10, self.net, 255, 1)
        } else {
            Ipv4Addr::new(10, self.net, 0, 1)
        }
    }

    /// A command that runs inside `host`'s namespace.
    pub fn command(&self, host: Host, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Starts a long-running process in `host` (killed when the lab is dropped); its output
    /// goes to `log`.
    pub fn spawn(&mut self, host: Host, program: &str, args: &[String], log: &std::path::Path) {
        let file = std::fs::File::create(log).unwrap();
        let child = self
            .command(host, program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        self.procs.push(child);
    }

    /// Starts Toxiproxy on the switch.
    pub fn start_toxiproxy(&mut self, bin: &str, log: &std::path::Path) {
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.switch_ns(), bin])
            .args(["-host", &self.switch_ip().to_string(), "-port", "8474"])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        self.toxiproxy = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.toxiproxy_api("GET", "/version", None).is_err() {
            assert!(Instant::now() < deadline, "toxiproxy did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One call to Toxiproxy's HTTP API, made from inside the switch.
    fn toxiproxy_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<String, String> {
        let url = format!("http://{}:8474{path}", self.switch_ip());
        http_in(&self.switch_ns(), method, &url, body)
    }

    /// An HTTP request made from inside `host` (the machine's own namespace has no route to
    /// the lab); the response body, or the error.
    pub fn http(
        &self,
        host: Host,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<String, String> {
        http_in(&self.ns(host), method, url, body)
    }

    /// A JSON-RPC call from inside `host`; the result.
    pub fn rpc(
        &self,
        host: Host,
        url: &str,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let text = self.http(host, "POST", url, Some(&body.to_string()))?;
        let reply: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        Ok(reply["result"].clone())
    }

    /// A shaped link in front of `host:port`: a proxy listening on the switch at `listen_port`
    /// with `latency_ms` (± `jitter_ms`) added each way. Returns the address to dial.
    pub fn proxy(
        &self,
        name: &str,
        host: Host,
        port: u16,
        listen_port: u16,
        latency_ms: u32,
        jitter_ms: u32,
    ) -> String {
        self.proxy_with_rate(name, host, port, listen_port, latency_ms, jitter_ms, None)
    }

    /// [`Lab::proxy`], with each direction limited to `rate_kbps` KB/s when given.
    #[allow(clippy::too_many_arguments)]
    pub fn proxy_with_rate(
        &self,
        name: &str,
        host: Host,
        port: u16,
        listen_port: u16,
        latency_ms: u32,
        jitter_ms: u32,
        rate_kbps: Option<u32>,
    ) -> String {
        let listen = format!("{}:{listen_port}", self.switch_ip());
        let body = serde_json::json!({
            "name": name,
            "listen": listen,
            "upstream": format!("{}:{port}", self.ip(host)),
            "enabled": true,
        });
        self.toxiproxy_api("POST", "/proxies", Some(&body.to_string()))
            .unwrap_or_else(|e| panic!("proxy {name}: {e}"));
        for stream in ["upstream", "downstream"] {
            let toxic = serde_json::json!({
                "name": format!("latency_{stream}"),
                "type": "latency",
                "stream": stream,
                "attributes": {"latency": latency_ms, "jitter": jitter_ms},
            });
            self.toxiproxy_api(
                "POST",
                &format!("/proxies/{name}/toxics"),
                Some(&toxic.to_string()),
            )
            .unwrap_or_else(|e| panic!("toxic on {name}: {e}"));
            if let Some(rate) = rate_kbps {
                let toxic = serde_json::json!({
                    "name": format!("bandwidth_{stream}"),
                    "type": "bandwidth",
                    "stream": stream,
                    "attributes": {"rate": rate},
                });
                self.toxiproxy_api(
                    "POST",
                    &format!("/proxies/{name}/toxics"),
                    Some(&toxic.to_string()),
                )
                .unwrap_or_else(|e| panic!("bandwidth on {name}: {e}"));
            }
        }
        listen
    }

    /// Cuts `host` off the bridge (its veth goes down on the switch).
    pub fn cut(&self, host: Host) {
        ip(&[
            "-n",
            &self.switch_ns(),
            "link",
            "set",
            &format!("p{}", host.0),
            "down",
        ]);
    }

    /// Puts `host` back on the bridge.
    pub fn restore(&self, host: Host) {
        ip(&[
            "-n",
            &self.switch_ns(),
            "link",
            "set",
            &format!("p{}", host.0),
            "up",
        ]);
    }
}

/// One HTTP request from inside namespace `ns`, with Python's standard library.
fn http_in(ns: &str, method: &str, url: &str, body: Option<&str>) -> Result<String, String> {
    let script = r#"
import sys, urllib.request
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, data=body.encode() if body else None, method=method,
                             headers={"Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=10).read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode(), file=sys.stderr); sys.exit(1)
except Exception as e:
    print(e, file=sys.stderr); sys.exit(1)
"#;
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", script])
        .args([method, url, body.unwrap_or("")])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().chain(self.toxiproxy.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 0..self.hosts {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(Host(i))])
                .output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch_ns()])
            .output();
    }
}
