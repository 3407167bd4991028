"""Hosts in Linux network namespaces on a bridge, links shaped by Toxiproxy: the benches' side
of the many-hosts harness (the tests' is crates/node/tests/lab/). Needs root and the Toxiproxy
server interop/setup.sh builds (TOXIPROXY=...).

Layout: a star. Host i has its own point-to-point link to a switch namespace (host 10.<net>.<i>.2,
switch 10.<net>.<i>.1) and a default route through it; the switch does not forward, so hosts
never reach each other directly. Toxiproxy on the switch listens on a service address every
host routes to (10.<net>.255.1): a proxy in front of a host's port is the only way to it, and
every byte between hosts crosses a shaped link. Nothing is added to the machine's own
namespace: commands reach the hosts through `ip netns exec`."""
import json, os, subprocess, sys, time


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def remove_stale():
    """Deletes namespaces an earlier bench left when it died without cleaning up."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name.startswith("crustbench"):
            rest = name[len("crustbench"):]
            pid = rest[:len(rest) - len(rest.lstrip("0123456789"))]
            if pid and not os.path.exists(f"/proc/{pid}"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Lab:
    def __init__(self, hosts, toxiproxy):
        remove_stale()
        # A bench stopped with SIGTERM still removes its namespaces (close() runs in `finally`).
        import signal
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self.prefix = f"crustbench{os.getpid()}"
        self.net = 100 + os.getpid() % 150
        self.hosts = hosts
        self.procs = []
        self.sw = f"{self.prefix}sw"
        ip("netns", "add", self.sw)
        ip("-n", self.sw, "link", "set", "lo", "up")
        ip("-n", self.sw, "addr", "add", f"{self.switch_ip()}/32", "dev", "lo")
        # The switch must not route between hosts (a new namespace does not; make sure).
        subprocess.run(["ip", "netns", "exec", self.sw, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"], check=True)
        for i in range(hosts):
            ns = self.ns(i)
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", "netns", self.sw)
            ip("-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "route", "add", "default", "via", f"10.{self.net}.{i}.1")
            ip("-n", self.sw, "addr", "add", f"10.{self.net}.{i}.1/24", "dev", f"p{i}")
            ip("-n", self.sw, "link", "set", f"p{i}", "up")
        self.toxi = subprocess.Popen(["ip", "netns", "exec", self.sw, toxiproxy, "-host", self.switch_ip(), "-port", "8474"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while self.api("GET", "/version") is None:
            if time.time() > deadline:
                raise RuntimeError("toxiproxy did not start")
            time.sleep(0.1)

    def ns(self, i):
        return f"{self.prefix}h{i}"

    def ip(self, i):
        return f"10.{self.net}.{i}.2"

    def switch_ip(self):
        """The service address where the proxies listen (every host routes to it)."""
        return f"10.{self.net}.255.1"

    def exec_args(self, i, args):
        return ["ip", "netns", "exec", self.ns(i), *args]

    def spawn(self, i, args, log=None):
        out = open(log, "w") if log else subprocess.DEVNULL
        p = subprocess.Popen(self.exec_args(i, args), stdout=out, stderr=out)
        self.procs.append(p)
        return p

    def api(self, method, path, body=None):
        """One call to Toxiproxy's HTTP API, from inside the switch; None when it fails."""
        script = ("import sys,urllib.request\n"
                  "r=urllib.request.Request(sys.argv[2],data=sys.argv[3].encode() or None,method=sys.argv[1],"
                  "headers={'Content-Type':'application/json'})\n"
                  "print(urllib.request.urlopen(r,timeout=5).read().decode())")
        out = subprocess.run(["ip", "netns", "exec", self.sw, "python3", "-c", script, method,
                              f"http://{self.switch_ip()}:8474{path}", json.dumps(body) if body else ""],
                             capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else None

    def proxy(self, name, host, port, listen_port, latency_ms=0, jitter_ms=0, rate_kbps=None):
        """A shaped link in front of host:port, listening on the switch; returns its address."""
        listen = f"{self.switch_ip()}:{listen_port}"
        if self.api("POST", "/proxies", {"name": name, "listen": listen, "upstream": f"{self.ip(host)}:{port}",
                                         "enabled": True}) is None:
            raise RuntimeError(f"proxy {name}")
        for stream in ("upstream", "downstream"):
            if latency_ms:
                self.api("POST", f"/proxies/{name}/toxics", {"name": f"lat_{stream}", "type": "latency", "stream": stream,
                                                             "attributes": {"latency": latency_ms, "jitter": jitter_ms}})
            if rate_kbps:
                self.api("POST", f"/proxies/{name}/toxics", {"name": f"bw_{stream}", "type": "bandwidth", "stream": stream,
                                                             "attributes": {"rate": rate_kbps}})
        return listen

    def close(self):
        for p in self.procs + [self.toxi]:
            p.kill()
            p.wait()
        for i in range(self.hosts):
            subprocess.run(["ip", "netns", "del", self.ns(i)], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.sw], capture_output=True)


def toxiproxy_bin():
    """The Toxiproxy server from interop/setup.sh (built from the Go module proxy)."""
    setup = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "setup.sh")
    out = subprocess.run(["bash", setup], capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not env.get("TOXIPROXY"):
        raise SystemExit("interop/setup.sh could not build Toxiproxy (needs Go)")
    return env["TOXIPROXY"]
