#!/usr/bin/env python3
"""Time from `POST /pins` to `pinned` on the whole devnet (4 validators, 6 storage nodes, the
IPFS node), through `crust pin serve` — against the report slot, the unit the target is in
(≤ 2 report slots).

Starts `crust devnet` (release binary, fresh directory, its own ports; it runs a pinning service
on its IPFS node signing as //Ferdie, proving min(storage nodes, 3) replicas), has Alice approve
it and make a token, adds FILES random
files of FILE_MIB to the IPFS node, posts a pin for each at once, and follows every request
until `pinned` (REPLICAS proven replicas). Prints each pin's time, the median and the slowest,
and each in report slots.

Usage: cargo build --release --bin crust && python3 benches/pin_latency.py [files=5] [file_mib=4] [replicas=3]
"""
import json, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from devnet_memory import BIN, PORTS, start_devnet, stop_devnet, wait_workers  # noqa: E402

FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 5
FILE_MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 4
REPLICAS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
CHAIN = f"http://127.0.0.1:{PORTS['--rpc-port']}"
IPFS = f"http://127.0.0.1:{PORTS['--api-port']}"


def crust(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=True).stdout.strip()


def http(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def slot_seconds(spec_path):
    spec = json.load(open(spec_path))

    def find(v, key):
        if isinstance(v, dict):
            if key in v:
                return v[key]
            for x in v.values():
                found = find(x, key)
                if found is not None:
                    return found
        return None
    blocks = find(spec, "report_slot_blocks")
    ms = find(spec, "block_time_ms")
    return blocks * ms / 1000 if blocks and ms else None


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    work = tempfile.mkdtemp(prefix="crust-pin-latency-")
    data = os.path.join(work, "devnet")
    devnet, pids = start_devnet(data)
    try:
        wait_workers(data, [n for n in pids if n.startswith("storage-")])
        # The devnet's own pinning service (it proves min(storage nodes, 3) replicas).
        addr_file = os.path.join(data, "pinning", "addr")
        deadline = time.time() + 120
        while not os.path.exists(addr_file):
            if time.time() > deadline:
                sys.exit(f"the devnet's pinning service did not start; see {data}/logs/pinning.log")
            time.sleep(0.5)
        time.sleep(0.2)
        service = open(addr_file).read().strip()
        crust("pin", "approve", "--service", service, "--cap", "100CRU", "--from", "//Alice", "--chain", CHAIN)
        token = crust("pin", "token", "create", "bench", "--service", service, "--from", "//Alice")
        cids = []
        for i in range(FILES):
            path = os.path.join(work, f"f{i}.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(FILE_MIB << 20))
            cids.append(crust("add", "-q", "--api", IPFS, path).split()[-1])
        spec = os.path.join(data, "chain-spec.json")
        slot = slot_seconds(spec) if os.path.exists(spec) else None
        posted = {}
        for cid in cids:
            r = http("POST", f"{service}/pins", token, {"cid": cid, "name": "bench"})
            posted[r["requestid"]] = time.time()
        done = {}
        deadline = time.time() + 900
        while len(done) < len(posted) and time.time() < deadline:
            for rid, t0 in posted.items():
                if rid in done:
                    continue
                r = http("GET", f"{service}/pins/{rid}", token)
                if r["status"] == "pinned":
                    done[rid] = time.time() - t0
                elif r["status"] == "failed":
                    sys.exit(f"pin {rid} failed: {r['info']}")
            time.sleep(0.5)
        if len(done) < len(posted):
            sys.exit(f"only {len(done)} of {len(posted)} pins reached pinned in 900 s")
        times = sorted(done.values())
        unit = f" ({{:.2f}} report slots of {slot:.0f} s)" if slot else ""
        print(f"# {FILES} pins of {FILE_MIB} MiB posted at once, pinned = {REPLICAS} proven replicas, devnet of 6 storage nodes")
        for t in times:
            print(f"  {t:6.1f} s" + (unit.format(t / slot) if slot else ""))
        median = times[len(times) // 2]
        print(f"median {median:.1f} s" + (unit.format(median / slot) if slot else "") +
              f"; slowest {times[-1]:.1f} s" + (unit.format(times[-1] / slot) if slot else ""))
    finally:
        stop_devnet(devnet)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
