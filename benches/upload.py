#!/usr/bin/env python3
"""Uploads through the RPC API: `POST /api/v0/add` and `/api/v0/dag/import` to our IPFS daemon
and to Kubo's daemon, side by side in one run, with the same client (curl) for both.

This is the path every `crust put` and every upload through the pinning service takes. Both
daemons run on loopback without peers (Kubo `--offline`; ours has no bootstrap peers) with their default durability (ours fsyncs, Kubo's default
flatfs syncs). Each upload runs RUNS times into a fresh repository; the best time counts.
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


def best(start, work, route, path, check):
    times = []
    for n in range(RUNS):
        d, api = start(work, f"{route.strip('/').split('?')[0].replace('/', '-')}-{n}")
        try:
            secs, answer = curl(api, route, path)
            check(answer)
            times.append(secs)
        finally:
            d.kill()
            d.wait()
    return min(times)


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
            k = best(kubo, work, route, path, has_cid)
            o = best(ours, work, route, path, has_cid)
            results[label] = (k, o)
            print(f"{label:<11} kubo {k:6.2f} s ({mbps(size, k):6.0f} MB/s)   ours {o:6.2f} s ({mbps(size, o):6.0f} MB/s)   "
                  f"ratio kubo/ours x{k / o:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
