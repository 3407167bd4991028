#!/usr/bin/env python3
"""Uploads through the RPC API: `POST /api/v0/add` and `/api/v0/dag/import` to our IPFS daemon
and to Kubo's daemon, side by side in one run, with the same client (curl) for both; then each
project's own CLI against its own daemon (`crust add --api` and Kubo's `ipfs --api … add`), the
path `crust put` takes.

This is the path every `crust put` and every upload through the pinning service takes. Both
daemons run on loopback without peers (Kubo `--offline`; ours has no bootstrap peers) with their default durability (ours fsyncs, Kubo's default
flatfs syncs). Each upload runs RUNS times into a fresh repository, the two daemons taking turns
(who goes first alternates: this machine's disk slows as gigabytes are written); the best counts.
Kubo comes from $KUBO_BIN or $INTEROP_CACHE/bin/ipfs (interop/setup.sh builds 0.43.1 into
$INTEROP_CACHE/kubo-0.43.1/ipfs).

Usage:
  cargo build --release --bin crust && interop/setup.sh >/dev/null
  python3 benches/upload.py [size_mib=1024] [runs=2]
Prints each upload's time and MB/s, and the ratio Kubo time / our time (> 1: we are faster).
"""
import os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipfs import BIN, KUBO, free_port, kubo_init, make_file, mbps, run, wait_port  # noqa: E402

SIZE_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 2


def curl(port, route, path, field="file"):
    """Posts `path` as one multipart part to `route`; returns (seconds, answer)."""
    t = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "-X", "POST", "-F", f"{field}=@{path}",
                          f"http://127.0.0.1:{port}{route}"], capture_output=True, text=True)
    secs = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"{route} on port {port}: {out.stderr} {out.stdout[:300]}")
    return secs, out.stdout


def ours(work, n):
    repo = os.path.join(work, f"ours-{n}")
    run([BIN, "add", "-q", "-n", "--repo", repo, os.devnull])  # creates the repository
    api, gw = free_port(), free_port()
    d = subprocess.Popen([BIN, "ipfs", "daemon", "--repo", repo, "--api-addr", f"127.0.0.1:{api}",
                          "--gateway-addr", f"127.0.0.1:{gw}", "--swarm-addr", "/ip4/127.0.0.1/tcp/0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(api)
    return d, api


def kubo(work, n):
    api, gw = free_port(), free_port()
    env = kubo_init(os.path.join(work, f"kubo-{n}"), api, gw, profile=None)
    d = subprocess.Popen([KUBO, "daemon", "--offline"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(api)
    return d, api


def cli(argv):
    """Runs a CLI upload; returns (seconds, its output)."""
    t = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"{argv}: {out.stderr[:300]}")
    return secs, out.stdout


def one(start, work, route, path, check, client, n):
    d, api = start(work, f"{route.strip('/').split('?')[0].replace('/', '-')}-{n}")
    # Whatever the previous upload left for the disk to write is written now.
    os.sync()
    try:
        secs, answer = client(api, path) if client else curl(api, route, path)
        check(answer)
    finally:
        d.kill()
        d.wait()
    print(f"  {start.__name__} {route.split('?')[0]} run {n + 1}: {secs:.2f} s", flush=True)
    return secs


def pair(work, route, path, check, kubo_client=None, our_client=None):
    """Best times (kubo, ours) over RUNS rounds that alternate who goes first: this machine's
    disk slows down as gigabytes are written, so neither side always meets the slower disk."""
    k, o = [], []
    for n in range(RUNS):
        if n % 2 == 0:
            k.append(one(kubo, work, route, path, check, kubo_client, n))
            o.append(one(ours, work, route, path, check, our_client, n))
        else:
            o.append(one(ours, work, route, path, check, our_client, n))
            k.append(one(kubo, work, route, path, check, kubo_client, n))
    return min(k), min(o)


def main():
    if not os.path.exists(KUBO):
        sys.exit(f"no Kubo binary at {KUBO}: run interop/setup.sh (or set KUBO_BIN)")
    work = tempfile.mkdtemp(prefix="crust-upload-")
    try:
        size = SIZE_MIB << 20
        big = os.path.join(work, "big.bin")
        make_file(big, size)
        with open(big, "rb") as f:  # page-cache the input for both alike
            while f.read(1 << 24):
                pass
        # The CAR of the same file, exported once by our daemon.
        d, api = ours(work, "car")
        try:
            _, answer = curl(api, "/api/v0/add?quiet=true&pin=true", big)
            cid = answer.strip().splitlines()[-1].split('"Hash":"')[1].split('"')[0]
            car = os.path.join(work, "big.car")
            run(["curl", "-sS", "-X", "POST", "-o", car, f"http://127.0.0.1:{api}/api/v0/dag/export?arg={cid}"])
        finally:
            d.kill()
            d.wait()
        print(f"# {SIZE_MIB} MiB random file ({cid}), its CAR {os.path.getsize(car) >> 20} MiB; best of {RUNS}", flush=True)

        def has_cid(answer):
            assert cid in answer, answer[:300]

        results = {}
        for label, route, path in [("add", "/api/v0/add?quiet=true", big), ("dag/import", "/api/v0/dag/import", car)]:
            k, o = pair(work, route, path, has_cid)
            results[label] = (k, o)
            print(f"{label:<11} kubo {k:6.2f} s ({mbps(size, k):6.0f} MB/s)   ours {o:6.2f} s ({mbps(size, o):6.0f} MB/s)   "
                  f"ratio kubo/ours x{k / o:.2f}", flush=True)
        # Each project's own client against its own daemon.
        k, o = pair(work, "cli", big, has_cid,
                    lambda api, path: cli([KUBO, "--api", f"/ip4/127.0.0.1/tcp/{api}", "add", "-q", path]),
                    lambda api, path: cli([BIN, "add", "-q", "--api", f"http://127.0.0.1:{api}", path]))
        print(f"{'CLI add':<11} kubo {k:6.2f} s ({mbps(size, k):6.0f} MB/s)   ours {o:6.2f} s ({mbps(size, o):6.0f} MB/s)   "
              f"ratio kubo/ours x{k / o:.2f}  (ipfs --api … add vs crust add --api)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
