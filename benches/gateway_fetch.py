#!/usr/bin/env python3
"""A file read through a gateway whose node does not hold it: ours vs Kubo, one run.

Node A holds the file; node B is connected to A and holds nothing. curl reads
`/ipfs/<cid>` from B's gateway, so B fetches every block over Bitswap as the read goes
(ours: the daemon's NetworkStore, which fetches each node's children ahead of the reader;
Kubo: its gateway's Bitswap session). Time to first byte and total time are curl's own.

Ours: `crust add` into A, two `crust ipfs daemon`s (B started with `--bootstrap` A, on an
emptied repository each round). Baseline: two real Kubo daemons (a Kubo binary at $KUBO_BIN
or $INTEROP_CACHE/bin/ipfs), `ipfs swarm connect`, `ipfs repo gc` on B between rounds.
Each side runs ROUNDS times (default 2); the best run counts.

Usage:
  cargo build --release --bin crust
  python3 benches/gateway_fetch.py [size_mib=256]
"""
import json, os, shutil, subprocess, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipfs import BIN, KUBO, free_port, kubo_pair, print_comparison, run, side_by_side, wait_port  # noqa: E402
from memory import print_peaks, record_peak  # noqa: E402

SIZE_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 256
ROUNDS = int(os.environ.get("ROUNDS", "2"))


def curl(port, cid, size):
    """(total seconds, seconds to first byte) of a full read of /ipfs/<cid>."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                          "%{http_code} %{size_download} %{time_starttransfer} %{time_total}",
                          f"http://127.0.0.1:{port}/ipfs/{cid}"],
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "200" and int(out[1]) == size, out
    return float(out[3]), float(out[2])


def connected(api_port):
    req = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v0/swarm/peers", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return bool(json.load(r).get("Peers"))
    except OSError:
        return False


def daemon(repo, swarm, gateway, api, extra=()):
    return subprocess.Popen([BIN, "ipfs", "daemon", "--repo", repo,
                             "--api-addr", f"127.0.0.1:{api}",
                             "--gateway-addr", f"127.0.0.1:{gateway}",
                             "--swarm-addr", f"/ip4/127.0.0.1/tcp/{swarm}", *extra],
                            stderr=subprocess.DEVNULL)


def ours(tmp, path, size):
    a, b = os.path.join(tmp, "ours-a"), os.path.join(tmp, "ours-b")
    cid = run([BIN, "add", "-q", "--repo", a, path]).split()[-1]
    os.sync()
    swarm_a = free_port()
    server = daemon(a, swarm_a, free_port(), free_port())
    try:
        wait_port(swarm_a)
        while not os.path.exists(os.path.join(a, "swarm")):
            time.sleep(0.05)
        addr = open(os.path.join(a, "swarm")).read().split()[0]
        best = None
        for _ in range(ROUNDS):
            shutil.rmtree(b, ignore_errors=True)
            os.sync()
            gateway, api = free_port(), free_port()
            reader = daemon(b, free_port(), gateway, api, ["--bootstrap", addr])
            try:
                wait_port(gateway)
                while not connected(api):
                    time.sleep(0.05)
                best = min(best or (1e9, 0), curl(gateway, cid, size))
            finally:
                record_peak("ours B (gateway, fetches the file)", reader.pid)
                reader.kill()
                reader.wait()
    finally:
        record_peak("ours A (holds the file)", server.pid)
        server.kill()
        server.wait()
    return best


def kubo(tmp, path, size):
    if not os.path.exists(KUBO):
        return None
    with kubo_pair(tmp) as ((env_a, _, _), (env_b, _, gateway_b)):
        cid = run([KUBO, "add", "-q", path], env=env_a).split()[-1]
        os.sync()
        best = None
        for _ in range(ROUNDS):
            run([KUBO, "repo", "gc", "-q"], env=env_b)
            os.sync()
            best = min(best or (1e9, 0), curl(gateway_b, cid, size))
        return best


def main():
    size = SIZE_MIB << 20
    base, mine = side_by_side("crust-gateway-bench-", size, kubo, ours)
    print_comparison(f"{SIZE_MIB} MiB read through a gateway that fetches it over Bitswap, loopback",
                     size, base, mine, "Kubo gateway <- Kubo", "ours gateway <- ours")
    print_peaks("peak memory during the reads (RSS, MB)")


if __name__ == "__main__":
    main()
