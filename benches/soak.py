#!/usr/bin/env python3
"""A long run under steady load: does every process's memory stay flat once its caches are warm?

Starts a `crust devnet` (release binary, fresh temporary directory, its own ports), funds
SENDERS load accounts, then for DURATION minutes keeps up RATE transfers a second (signed a
minute ahead with `crust tx transfer --more`, submitted in batches to every validator) and puts
a FILE_MIB random file every PUT_EVERY minutes. Every minute it records each process's RSS.

At the end it prints RSS per process at the 1/4 mark (caches warm), at 1/2 and at the end, the
growth from the 1/4 mark to the end, and each process's peak. Memory that follows the work
stays within a few MB of the warm figure; the storage nodes and the IPFS node grow only by the
block index of the files put (~200 bytes a block).

It also prints the growth over the last third of the run (the plateau test: a cache that is
still filling grows there, a leak grows there as fast as before), and with SOAK_SERIES=path
writes the per-minute RSS of every process to that CSV file.

Each minute it also reads validator-0's `system_memory` (how full its recent-block cache,
transaction index and mempool are against their limits), so growth in a validator's resident
memory can be told from caches filling toward their budget.

SOAK_PUT_EVERY_MIN changes how often a file is put (default 5 minutes; 0: no puts). A rate of
0 sends no transfers, so `SOAK_PUT_EVERY_MIN=0 python3 benches/soak.py 30 0` measures an idle
devnet. At the end it prints each node's data directory size (disk that follows the work too).

Usage: cargo build --release --bin crust && python3 benches/soak.py [minutes=60] [rate=50]
"""
import json, os, shutil, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import Memory  # noqa: E402
from devnet_memory import BIN, PORTS, start_devnet, stop_devnet, wait_workers  # noqa: E402

DURATION_MIN = float(sys.argv[1]) if len(sys.argv) > 1 else 60
RATE = int(sys.argv[2]) if len(sys.argv) > 2 else 50
SENDERS = 20
PUT_EVERY_MIN = float(os.environ.get("SOAK_PUT_EVERY_MIN", "5"))
FILE_MIB = 8
RPCS = [PORTS["--rpc-port"] + i for i in range(4)]


def rpc(port, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def sign(sender, to, nonce, genesis, head, count):
    return subprocess.run([BIN, "tx", "transfer", "--from", sender, "--to", to, "--amount", "0.001 CRU",
                           "--nonce", str(nonce), "--genesis", genesis, "--birth", str(head),
                           "--more", str(count - 1)], capture_output=True, text=True, check=True).stdout.split()


def rss_of(pid):
    """Resident bytes of process `pid` now (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, TypeError, ValueError):
        return None
    return None


def key_ss58(uri):
    out = subprocess.run([BIN, "key", "inspect", uri, "--output", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["address"]


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    work = tempfile.mkdtemp(prefix="crust-soak-")
    data = os.path.join(work, "devnet")
    devnet, pids = start_devnet(data)
    stop = threading.Event()
    counts = {"submitted": 0, "refused": 0, "puts": 0, "put_failures": 0}
    try:
        wait_workers(data, [n for n in pids if n.startswith("storage-")])
        genesis = rpc(RPCS[0], "genesis_hash")["result"]
        senders = [f"//Alice//soak{i}" for i in range(SENDERS)]
        head = rpc(RPCS[0], "chain_head")["result"]["height"]
        alice = rpc(RPCS[0], "state_account", {"account": key_ss58("//Alice")})["result"]["next_nonce"]
        funding = []
        for i, s in enumerate(senders):
            funding += subprocess.run([BIN, "tx", "transfer", "--from", "//Alice", "--to", s, "--amount", "1000 CRU",
                                       "--nonce", str(alice + i), "--genesis", genesis, "--birth", str(head)],
                                      capture_output=True, text=True, check=True).stdout.split()
        rpc(RPCS[0], "author_submitBatch", {"txs": funding})
        last = key_ss58(senders[-1])
        while int(rpc(RPCS[0], "state_account", {"account": last})["result"]["free"]) == 0:
            time.sleep(0.5)
        mem = Memory(pids)
        mem.mark("start")
        mem.sample_every(60)
        nonces = [0] * SENDERS
        per_sender_min = max(1, RATE * 60 // SENDERS)

        def load():
            while not stop.is_set():
                minute = time.time()
                head = rpc(RPCS[0], "chain_head")["result"]["height"]
                txs = []
                for i, s in enumerate(senders):
                    txs.append(sign(s, "//Ferdie//soak", nonces[i], genesis, head, per_sender_min))
                    nonces[i] += per_sender_min
                # Ten batches a minute, each taking a tenth of every sender's transactions in
                # nonce order (an account may queue 256 ahead), round-robin over validators.
                step = max(1, per_sender_min // 10)
                for b in range(0, per_sender_min, step):
                    batch = [t for per in txs for t in per[b:b + step]]
                    port = RPCS[(b // step) % len(RPCS)]
                    for part in range(0, len(batch), 1000):  # the RPC takes at most 1000 a call
                        chunk = batch[part:part + 1000]
                        try:
                            answer = rpc(port, "author_submitBatch", {"txs": chunk})
                        except OSError:
                            answer = {}
                        if "result" not in answer:
                            counts["refused"] += len(chunk)
                            continue
                        r = answer["result"]
                        counts["submitted"] += sum(1 for x in r if x.get("hash"))
                        counts["refused"] += sum(1 for x in r if not x.get("hash"))
                    if stop.wait(max(0.0, minute + 6 * (b // step + 1) - time.time())):
                        return

        def puts():
            api = f"http://127.0.0.1:{PORTS['--api-port']}"
            chain = f"http://127.0.0.1:{RPCS[0]}"
            i = 0
            while not stop.wait(PUT_EVERY_MIN * 60):
                path = os.path.join(work, f"put{i}.bin")
                with open(path, "wb") as f:
                    f.write(os.urandom(FILE_MIB << 20))
                r = subprocess.run([BIN, "put", path, "--yes", "--api", api, "--chain", chain, "--from", "//Bob"],
                                   capture_output=True, text=True)
                counts["puts" if r.returncode == 0 else "put_failures"] += 1
                os.remove(path)
                i += 1

        threads = []
        if RATE > 0:
            threads.append(threading.Thread(target=load, daemon=True))
        if PUT_EVERY_MIN > 0:
            threads.append(threading.Thread(target=puts, daemon=True))
        for t in threads:
            t.start()
        start = time.time()
        end = start + DURATION_MIN * 60
        caches = []  # (minute, system_memory of validator-0)
        while time.time() < end:
            time.sleep(min(60, max(0, end - time.time())))
            height = rpc(RPCS[0], "chain_head")["result"]["height"]
            m = rpc(RPCS[0], "system_memory").get("result")
            if m:
                caches.append(((time.time() - start) / 60, m, rss_of(pids.get("validator-0"))))
            print(f"{(time.time() - start) / 60:5.1f} min  head #{height}  {counts}", flush=True)
            if devnet.poll() is not None:
                sys.exit("the devnet stopped")
        stop.set()
        for t in threads:
            t.join(timeout=120)
        mem.mark("end")
        mem.stop()
        # RSS at the quarter, half and end marks of the run, from the per-minute series.
        series = mem.series
        if len(series) < 4:
            sys.exit("run too short for a series (at least 4 minutes)")
        quarter, half = series[len(series) // 4][1], series[len(series) // 2][1]
        mem.marks = {"1/4 (warm)": quarter, "1/2": half, "end": mem.marks["end"]}
        totals = mem.print_table(f"memory over {DURATION_MIN:.0f} min at {RATE} transfers/s and a {FILE_MIB} MiB put every {PUT_EVERY_MIN:g} min (RSS, MB)")
        print("growth from the 1/4 mark to the end (MB):")
        for n in pids:
            print(f"  {n:<24}{(mem.marks['end'][n] - quarter[n]) / 1e6:+10.1f}")
        print(f"  {'sum':<24}{(totals[2] - totals[0]) / 1e6:+10.1f}")
        third = series[(2 * len(series)) // 3][1]
        print(f"growth over the last third, from minute {(2 * len(series)) // 3} (MB):")
        for n in pids:
            print(f"  {n:<24}{(mem.marks['end'][n] - third[n]) / 1e6:+10.1f}")
        out = os.environ.get("SOAK_SERIES")
        if out:
            with open(out, "w") as f:
                f.write("seconds," + ",".join(pids) + "\n")
                for t, row in series:
                    f.write(f"{t:.0f}," + ",".join(str(row[n]) for n in pids) + "\n")
            print(f"per-minute RSS written to {out}")
        print(f"load: {counts}")
        if caches:
            print("validator-0's caches (system_memory): minute, recent blocks (count, MB of MB), tx index (entries of max), mempool MB")
            print("  (and its RSS less the recent blocks and mempool it counts: what grows outside the caches)")
            for minute, m, rss in caches[:: max(1, len(caches) // 8)] + [caches[-1]]:
                outside = (rss - m["recent_block_bytes"] - m["mempool_bytes"]) / 1e6 if rss else float("nan")
                print(f"  {minute:5.1f}  {m['recent_blocks']:7d} {m['recent_block_bytes'] / 1e6:6.1f} of {m['recent_block_max_bytes'] / 1e6:5.1f}"
                      f"   {m['indexed_txs']:8d} of {m['indexed_txs_max']:8d}   {m['mempool_bytes'] / 1e6:5.1f}   outside {outside:6.1f}")
            third = [c for c in caches if c[0] >= caches[-1][0] * 2 / 3 and c[2]]
            if len(third) >= 2:
                (m0, c0, r0), (m1, c1, r1) = third[0], third[-1]
                grew = ((r1 - c1["recent_block_bytes"] - c1["mempool_bytes"]) - (r0 - c0["recent_block_bytes"] - c0["mempool_bytes"])) / 1e6
                print(f"  validator-0 outside its caches over the last third (minutes {m0:.0f}-{m1:.0f}): {grew:+.1f} MB"
                      f" ({grew / max(m1 - m0, 1e-9) * 60:+.1f} MB/h); RSS {(r1 - r0) / 1e6:+.1f} MB")
        print("data directory size (MB):")
        for n in sorted(os.listdir(data)):
            d = os.path.join(data, n)
            if os.path.isdir(d):
                size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
                print(f"  {n:<24}{size / 1e6:10.1f}")
    finally:
        stop.set()
        stop_devnet(devnet)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
