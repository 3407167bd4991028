#!/usr/bin/env python3
"""Pinning Service API throughput on loopback: pins accepted per second, one run.

Starts a dev chain node, an IPFS daemon and `crust pin serve`, makes a token for //Alice, then
posts COUNT pins (distinct CIDs) from THREADS client threads. Baseline, same run, same client:
`GET /` on the same service (no token, no database) — the HTTP stack's ceiling, so the ratio
says what authentication and the crash-safe database cost. Also times a listing of 1000 pins.
The target of issue #20 is >= 500 pins/s on this machine.

Usage:
  cargo build --release --bin crust
  python3 benches/pinning.py [count=3000] [threads=8]
"""
import hashlib, json, os, shutil, subprocess, sys, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipfs import BIN, free_port, wait_port  # noqa: E402

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 8


def cid(n):
    # CIDv1, raw codec, sha2-256 of n: distinct, valid, and on no network.
    digest = hashlib.sha256(n.to_bytes(8, "little")).digest()
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + digest
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    bits, value, out = 0, 0, []
    for byte in raw:
        value = (value << 8) | byte
        bits += 8
        while bits >= 5:
            out.append(alphabet[(value >> (bits - 5)) & 31])
            bits -= 5
    if bits:
        out.append(alphabet[(value << (5 - bits)) & 31])
    return "b" + "".join(out)


def request(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read()


def rate(label, n, fn):
    t = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        codes = list(pool.map(fn, range(n)))
    secs = time.perf_counter() - t
    bad = [c for c in codes if c not in (200, 202)]
    if bad:
        raise SystemExit(f"{label}: {len(bad)} requests failed: {bad[:5]}")
    print(f"  {label:<34} {n:>6} requests in {secs:6.2f} s = {n / secs:8.0f}/s")
    return n / secs


def main():
    tmp = tempfile.mkdtemp(prefix="pinning-bench-")
    procs = []
    try:
        rpc, p2p = free_port(), free_port()
        chain = f"http://127.0.0.1:{rpc}"
        procs.append(subprocess.Popen([BIN, "node", "--chain", "dev", "--validator", "//Alice//session",
                                       "--data-dir", os.path.join(tmp, "chain"), "--listen", f"127.0.0.1:{p2p}",
                                       "--rpc", f"127.0.0.1:{rpc}"], stderr=subprocess.DEVNULL))
        repo = os.path.join(tmp, "ipfs")
        procs.append(subprocess.Popen([BIN, "ipfs", "daemon", "--repo", repo, "--api-addr", "127.0.0.1:0",
                                       "--gateway-addr", "127.0.0.1:0", "--swarm-addr", "/ip4/127.0.0.1/tcp/0"],
                                      stderr=subprocess.DEVNULL))
        wait_port(rpc)
        while not os.path.exists(os.path.join(repo, "api")):
            time.sleep(0.05)
        api = open(os.path.join(repo, "api")).read().strip()
        pin_dir = os.path.join(tmp, "pinning")
        procs.append(subprocess.Popen([BIN, "pin", "serve", "--key", "//Ferdie", "--addr", "127.0.0.1:0",
                                       "--api", api, "--chain", chain, "--dir", pin_dir],
                                      stderr=subprocess.DEVNULL))
        while not os.path.exists(os.path.join(pin_dir, "addr")):
            time.sleep(0.05)
        service = open(os.path.join(pin_dir, "addr")).read().strip()
        token = subprocess.run([BIN, "pin", "token", "create", "bench", "--service", service, "--from", "//Alice"],
                               check=True, capture_output=True, text=True).stdout.strip()
        # Requests of an account that cannot pay are refused (409): Alice approves the service.
        subprocess.run([BIN, "pin", "approve", "--service", service, "--cap", "1000CRU", "--from", "//Alice",
                        "--chain", chain], check=True, capture_output=True)

        print(f"Pinning Service API on loopback, {THREADS} client threads ({BIN})")
        base = rate("baseline: GET / (no token, no db)", COUNT, lambda n: request("GET", f"{service}/")[0])
        pins = rate("POST /pins (token, redb write)", COUNT,
                    lambda n: request("POST", f"{service}/pins", token, {"cid": cid(n), "name": f"bench-{n}"})[0])
        t = time.perf_counter()
        status, body = request("GET", f"{service}/pins?status=queued,pinning,pinned,failed&limit=1000", token)
        listed = time.perf_counter() - t
        count = json.loads(body)["count"]
        print(f"  GET /pins limit=1000 of {count}: {listed * 1000:.0f} ms")
        print(f"pins accepted: {pins:.0f}/s = {pins / base:.2f}x the HTTP baseline; target >= 500/s: "
              f"{'met' if pins >= 500 else 'NOT met'}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
