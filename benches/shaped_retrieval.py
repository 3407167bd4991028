#!/usr/bin/env python3
"""A 256 MiB retrieval across a wide-area link: ours -> ours vs Kubo -> Kubo, same link.

Two hosts in network namespaces (benches/netlab.py, a star: they reach each other only through
Toxiproxy on the switch). The link into the provider adds 50 ms each way (100 ms round trip)
and limits each direction to 100 Mbit/s (12 500 KB/s). The provider holds the file; the
fetcher dials it through the link and pulls it over Bitswap.

Ours: `crust ipfs daemon` on the provider, `crust fetch` on the fetcher (blocks verified,
stored, pinned; time to first byte = first block stored, from its log). Kubo 0.43.1 (KUBO_BIN,
or interop/setup.sh's build): `ipfs swarm connect` through the link, then `ipfs cat` (time to
first byte = first byte out). The aim: within 80 % of the link's bandwidth.

Usage: cargo build --release --bin crust && sudo python3 benches/shaped_retrieval.py [size_mib=256]
"""
import json, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import BIN  # noqa: E402
from netlab import Lab, toxiproxy_bin  # noqa: E402
from ipfs import make_file  # noqa: E402

SIZE_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 256
ONE_WAY_MS = 50
RATE_KBPS = 12_500  # Toxiproxy's bandwidth toxic counts KB/s: 100 Mbit/s
PROVIDER, FETCHER = 0, 1


def kubo_bin():
    if os.environ.get("KUBO_BIN"):
        return os.environ["KUBO_BIN"]
    setup = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "setup.sh")
    out = subprocess.run(["bash", setup], capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return env.get("KUBO") or None


def wait_file(path, timeout=30):
    deadline = time.time() + timeout
    while not (os.path.exists(path) and open(path).read().strip()):
        if time.time() > deadline:
            raise SystemExit(f"{path} never appeared")
        time.sleep(0.05)
    return open(path).read()


def ours(lab, tmp, path, link):
    a, b = os.path.join(tmp, "ours-a"), os.path.join(tmp, "ours-b")
    cid = subprocess.run([BIN, "add", "-q", "--repo", a, path], capture_output=True, text=True,
                         check=True).stdout.split()[-1]
    os.sync()
    lab.spawn(PROVIDER, [BIN, "ipfs", "daemon", "--repo", a, "--api-addr", "127.0.0.1:5001",
                         "--gateway-addr", "127.0.0.1:8080", "--swarm-addr", "/ip4/0.0.0.0/tcp/4001"])
    peer = wait_file(os.path.join(a, "swarm")).split()[0].rsplit("/p2p/", 1)[1]
    host, port = link.split(":")
    t = time.perf_counter()
    out = subprocess.run(lab.exec_args(FETCHER, [BIN, "fetch", "--repo", b, cid, "--peer",
                                                 f"/ip4/{host}/tcp/{port}/p2p/{peer}"]),
                         capture_output=True, text=True)
    secs = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"crust fetch failed: {out.stderr[-2000:]}")
    first = float(re.search(r"first block after ([0-9.]+) ms", out.stderr).group(1)) / 1e3
    return secs, first


def kubo(lab, tmp, path, link, bin):
    envs = []
    for name, host in (("kubo-a", PROVIDER), ("kubo-b", FETCHER)):
        env = dict(os.environ, IPFS_PATH=os.path.join(tmp, name))
        subprocess.run([bin, "init", "--profile=test", "-e"], env=env, check=True, capture_output=True)
        for k, v in [("Addresses.API", '"/ip4/127.0.0.1/tcp/5002"'), ("Addresses.Gateway", '"/ip4/127.0.0.1/tcp/8082"'),
                     ("Addresses.Swarm", '["/ip4/0.0.0.0/tcp/4002"]')]:
            subprocess.run([bin, "config", "--json", k, v], env=env, check=True, capture_output=True)
        envs.append(env)
    cid = subprocess.run([bin, "add", "-q", path], env=envs[0], capture_output=True, text=True,
                         check=True).stdout.split()[-1]
    os.sync()
    for env, host in zip(envs, (PROVIDER, FETCHER)):
        lab.procs.append(subprocess.Popen(lab.exec_args(host, ["env", f"IPFS_PATH={env['IPFS_PATH']}", bin, "daemon"]),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    def ipfs(host, env, *args):
        return subprocess.run(lab.exec_args(host, ["env", f"IPFS_PATH={env['IPFS_PATH']}", bin, *args]),
                              capture_output=True, text=True)
    deadline = time.time() + 60
    while ipfs(PROVIDER, envs[0], "id", "-f", "<id>").returncode != 0 or ipfs(FETCHER, envs[1], "id").returncode != 0:
        if time.time() > deadline:
            raise SystemExit("Kubo daemons did not start")
        time.sleep(0.3)
    peer = ipfs(PROVIDER, envs[0], "id", "-f", "<id>").stdout.strip()
    host, port = link.split(":")
    for _ in range(20):  # the provider's swarm port may open after its API
        c = ipfs(FETCHER, envs[1], "swarm", "connect", f"/ip4/{host}/tcp/{port}/p2p/{peer}")
        if c.returncode == 0:
            break
        time.sleep(0.5)
    else:
        raise SystemExit(f"ipfs swarm connect: {c.stderr}")
    t = time.perf_counter()
    cat = subprocess.Popen(lab.exec_args(FETCHER, ["env", f"IPFS_PATH={envs[1]['IPFS_PATH']}", bin, "cat", cid]),
                           stdout=subprocess.PIPE)
    first = cat.stdout.read(1)
    ttfb = time.perf_counter() - t
    n = len(first)
    while True:
        chunk = cat.stdout.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    cat.wait()
    secs = time.perf_counter() - t
    assert n == SIZE_MIB << 20, n
    return secs, ttfb


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    toxiproxy = toxiproxy_bin()
    kubo_path = kubo_bin()
    size = SIZE_MIB << 20
    tmp = tempfile.mkdtemp(prefix="crust-shaped-retrieval-")
    link_mbps = RATE_KBPS * 8 / 1000
    print(f"{SIZE_MIB} MiB across a {2 * ONE_WAY_MS} ms round trip, {link_mbps:.0f} Mbit/s link (Toxiproxy)")
    try:
        path = os.path.join(tmp, "file.bin")
        make_file(path, size)
        results = {}
        for name in ("kubo", "ours"):
            if name == "kubo" and not kubo_path:
                print("Kubo: no binary (KUBO_BIN or interop/setup.sh); baseline skipped")
                continue
            lab = Lab(2, toxiproxy)
            try:
                link = lab.proxy("swarm", PROVIDER, 4001 if name == "ours" else 4002, 4001, ONE_WAY_MS, 0, RATE_KBPS)
                results[name] = ours(lab, tmp, path, link) if name == "ours" else kubo(lab, tmp, path, link, kubo_path)
            finally:
                lab.close()
        for name, label in (("kubo", "Kubo -> Kubo (ipfs cat)"), ("ours", "ours -> ours (crust fetch)")):
            if name in results:
                secs, first = results[name]
                mbit = size * 8 / secs / 1e6
                print(f"{label:<30} {secs:7.2f} s {mbit:6.1f} Mbit/s ({mbit / link_mbps * 100:3.0f}% of the link)  "
                      f"first byte {first * 1000:6.0f} ms")
        if "kubo" in results and "ours" in results:
            print(f"ours / Kubo throughput: {results['kubo'][0] / results['ours'][0]:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
