#!/usr/bin/env python3
"""Resident memory of a whole `crust devnet` (4 validators, 6 storage nodes, the IPFS node):
idle, after files are stored, and each process's peak, against the 2 GB the devnet must fit in
(so it runs on an 8 GB laptop).

Starts the devnet from the release binary in a fresh temporary directory on its own ports,
waits until every process is up and a slot has passed, records idle RSS, puts FILES random
files of FILE_MIB each (`crust put --yes`, 3 replicas each), records RSS again and prints the
table.

Usage: cargo build --release --bin crust && python3 benches/devnet_memory.py [files=4] [file_mib=16]
"""
import json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import Memory  # noqa: E402

BIN = os.environ.get("CRUST_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "crust"))
FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 4
FILE_MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 16
TARGET_BYTES = 2 * 10**9
# Ports away from the README devnet's, so both can run at once.
PORTS = {"--rpc-port": 19933, "--p2p-port": 31333, "--api-port": 15001, "--gateway-port": 18080,
         "--swarm-port": 14001, "--pin-port": 15005}


def start_devnet(data):
    args = [BIN, "devnet", "--fresh", "--quiet", "--data-dir", data]
    for k, v in PORTS.items():
        args += [k, str(v)]
    log = open(os.path.join(data + ".log"), "w")
    devnet = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    listing = os.path.join(data, "processes.json")
    deadline = time.time() + 180
    while not os.path.exists(listing):
        if devnet.poll() is not None or time.time() > deadline:
            sys.exit(f"the devnet did not start; see {data}.log")
        time.sleep(0.5)
    time.sleep(0.5)
    procs = json.load(open(listing))
    return devnet, {"devnet (launcher)": devnet.pid, **{p["name"]: p["pid"] for p in procs}}


def wait_workers(data, names, timeout=240):
    """Until every storage node answers `crust sworker status` (registered, SRD filled)."""
    deadline = time.time() + timeout
    for n in names:
        while subprocess.run([BIN, "sworker", "status", "--dir", os.path.join(data, n)],
                             capture_output=True).returncode != 0:
            if time.time() > deadline:
                sys.exit(f"{n} did not come up")
            time.sleep(1)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    work = tempfile.mkdtemp(prefix="crust-devnet-mem-")
    data = os.path.join(work, "devnet")
    devnet, pids = start_devnet(data)
    try:
        wait_workers(data, [n for n in pids if n.startswith("storage-")])
        time.sleep(15)  # one slot: every worker has reported once
        mem = Memory(pids)
        mem.mark("idle")
        api = f"http://127.0.0.1:{PORTS['--api-port']}"
        chain = f"http://127.0.0.1:{PORTS['--rpc-port']}"
        for i in range(FILES):
            path = os.path.join(work, f"file{i}.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(FILE_MIB << 20))
            t = time.time()
            subprocess.run([BIN, "put", path, "--yes", "--api", api, "--chain", chain, "--timeout", "300"],
                           check=True, capture_output=True)
            print(f"put {FILE_MIB} MiB file {i + 1}/{FILES}: 3 replicas in {time.time() - t:.1f} s", flush=True)
        mem.mark(f"{FILES} files")
        totals = mem.print_table(f"devnet memory (RSS, MB), {len(pids)} processes")
        loaded = totals[-2]
        print(f"devnet total after the puts: {loaded / 1e6:.0f} MB of the {TARGET_BYTES / 1e9:.0f} GB target "
              f"({'met' if loaded <= TARGET_BYTES else 'NOT met'}); "
              f"before this batch the four validators alone held ~17 700 MB")
    finally:
        stop_devnet(devnet)
        shutil.rmtree(work, ignore_errors=True)


def stop_devnet(devnet):
    """Ctrl-C's equivalent (the devnet stops its processes), then a kill after 30 s."""
    devnet.terminate()
    try:
        devnet.wait(timeout=30)
    except subprocess.TimeoutExpired:
        devnet.kill()


if __name__ == "__main__":
    main()
