#!/usr/bin/env python3
"""Finality latency and transfer throughput of a 4-validator network on loopback.

Starts four `crust node` processes (local chain spec, 250 ms block interval), signs transfers
with `crust tx transfer` from six dev accounts, submits them over JSON-RPC to every node, and
watches finalized blocks. Prints p50/p99 submit-to-finality latency and finalized transfers per
second next to the reference network's numbers (6 s blocks, GRANDPA finality a few blocks later,
so ~12-18 s to finality and at most a few hundred simple transfers per block).

Usage: cargo build --release --bin crust && python3 benches/finality.py [transfers]
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = os.environ.get("CRUST_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "crust"))
N_TX = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
NAMES = ["Alice", "Bob", "Charlie", "Dave"]
SENDERS = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"]
REFERENCE_FINALITY_S = 12.0  # 6 s blocks, GRANDPA finality ~2 blocks later (lower bound)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rpc(port, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    data = tempfile.mkdtemp(prefix="crust-bench-")
    p2p = [free_port() for _ in NAMES]
    rpcs = [free_port() for _ in NAMES]
    peers = []
    for name, port in zip(NAMES, p2p):
        peers += ["--peer", f"//{name}//session@127.0.0.1:{port}"]
    procs = []
    try:
        for i, name in enumerate(NAMES):
            procs.append(subprocess.Popen(
                [BIN, "node", "--chain", "local", "--validator", f"//{name}//session", "--data-dir", os.path.join(data, name),
                 "--listen", f"127.0.0.1:{p2p[i]}", "--rpc", f"127.0.0.1:{rpcs[i]}"] + peers,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.time() + 120
        while True:
            try:
                if all(rpc(p, "chain_head")["result"]["height"] >= 5 for p in rpcs):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("network did not start")
            time.sleep(0.2)
        genesis = rpc(rpcs[0], "genesis_hash")["result"]
        head = rpc(rpcs[0], "chain_head")["result"]["height"]
        per_sender = N_TX // len(SENDERS)
        txs = []  # (hex, sender index)
        for s, sender in enumerate(SENDERS):
            out = subprocess.run([BIN, "tx", "transfer", "--from", sender, "--to", "//Ferdie//x", "--amount", "0.001 CRU",
                                  "--nonce", "0", "--genesis", genesis, "--birth", str(head), "--more", str(per_sender - 1)],
                                 capture_output=True, text=True, check=True).stdout.split()
            txs += [(h, s) for h in out]
        # Submit in batches of 100 (round-robin across senders, each sender's nonces in order)
        # to every node.
        order = sorted(range(len(txs)), key=lambda i: (i % per_sender, txs[i][1]))
        submitted = {}
        start = time.time()
        for b in range(0, len(order), 100):
            batch = [txs[i][0] for i in order[b:b + 100]]
            hashes = None
            for p in rpcs:
                r = rpc(p, "author_submitBatch", {"txs": batch})
                hashes = hashes or [x.get("hash") for x in r.get("result", [])]
            now = time.time()
            for h in hashes or []:
                if h:
                    submitted[h] = now
        # Watch finalized blocks.
        finalized = {}
        seen = rpc(rpcs[0], "chain_head")["result"]["height"]
        deadline = time.time() + 180
        checked = head
        while len(finalized) < len(submitted) and time.time() < deadline:
            top = rpc(rpcs[0], "chain_head")["result"]["height"]
            now = time.time()
            for h in range(checked + 1, top + 1):
                block = rpc(rpcs[0], "chain_block", {"height": h}).get("result") or {}
                for t in block.get("transactions", []):
                    if t in submitted and t not in finalized:
                        finalized[t] = now
            checked = top
            time.sleep(0.02)
        end = max(finalized.values()) if finalized else time.time()
        lat = sorted(finalized[t] - submitted[t] for t in finalized)
        if not lat:
            sys.exit("nothing finalized")
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        tps = len(finalized) / (end - start)
        print(f"transfers submitted {len(submitted)}, finalized {len(finalized)} in {end - start:.1f} s")
        print(f"finality latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms  "
              f"(reference ~{REFERENCE_FINALITY_S:.0f} s: {REFERENCE_FINALITY_S / p50:.1f}x faster at p50)")
        print(f"throughput {tps:.0f} finalized transfers/s (submitted in batches of 100 to every node)")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
