#!/usr/bin/env python3
"""Finality latency and transfer throughput of a 4-validator network on loopback.

Starts four `crust node` processes (local chain spec, 250 ms block interval), funds one load
account per 250 transfers from Alice (an account may queue at most 256 nonces ahead), signs
transfers with `crust tx transfer` from those accounts, submits them over JSON-RPC to every
node, and watches finalized blocks. Two phases: finality latency at a light load (2000
transfers, one batch of 100 after another), then throughput at saturation (N transfers pushed to
all four nodes at once, one submitting thread per node). Prints p50/p99 submit-to-finality latency and finalized transfers per
second next to the reference network's numbers (6 s blocks, GRANDPA finality a few blocks later,
so ~12-18 s to finality and at most a few hundred simple transfers per block), and each
validator's resident memory: idle (funded, before the load), after each phase, and its peak.

With FINALITY_SPREAD=1 each batch goes to one node only (round robin), and transaction gossip
brings it to the others: the way a client uses the network (before gossip existed, every
transaction had to be sent to every node).

Usage: cargo build --release --bin crust && python3 benches/finality.py [transfers=10000]
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import Memory  # noqa: E402

BIN = os.environ.get("CRUST_BIN", os.path.join(os.path.dirname(__file__), "..", "target", "release", "crust"))
N_TX = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
NAMES = ["Alice", "Bob", "Charlie", "Dave"]
PER_SENDER = 250
LATENCY_SENDERS = 8  # 2000 transfers for the latency phase
SENDERS = [f"//Alice//load{i}" for i in range(LATENCY_SENDERS + (N_TX + PER_SENDER - 1) // PER_SENDER)]
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


def measure(rpcs, genesis, senders, parallel):
    """Signs PER_SENDER transfers per sender, submits them in batches of 100 to every node
    (each node in turn, or all at once from one thread per node) while a watcher records when
    each is first seen in a finalized block; returns the counts, rates and latencies."""
    head = rpc(rpcs[0], "chain_head")["result"]["height"]
    txs = []  # (hex, sender index)
    for s, sender in enumerate(senders):
        out = subprocess.run([BIN, "tx", "transfer", "--from", sender, "--to", "//Ferdie//x", "--amount", "0.001 CRU",
                              "--nonce", "0", "--genesis", genesis, "--birth", str(head), "--more", str(PER_SENDER - 1)],
                             capture_output=True, text=True, check=True).stdout.split()
        txs += [(h, s) for h in out]
    # Round-robin across senders, each sender's nonces in order.
    order = sorted(range(len(txs)), key=lambda i: (i % PER_SENDER, txs[i][1]))
    batches = [[txs[i][0] for i in order[b:b + 100]] for b in range(0, len(order), 100)]
    submitted, seen_final = {}, {}
    stop, lock = threading.Event(), threading.Lock()

    def watch():
        checked = head
        while not stop.is_set():
            top = rpc(rpcs[0], "chain_head")["result"]["height"]
            now = time.time()
            for h in range(checked + 1, top + 1):
                block = rpc(rpcs[0], "chain_block", {"height": h, "bodies": False, "receipts": False}).get("result") or {}
                for t in block.get("transactions", []):
                    seen_final.setdefault(t, now)
            checked = top
            time.sleep(0.02)

    spread = os.environ.get("FINALITY_SPREAD") == "1"

    def submit(ports):
        # A transaction counts as submitted when the first node was sent it.
        for i, batch in enumerate(batches):
            targets = ports
            if spread:
                mine = [rpcs.index(p) for p in ports]
                if len(ports) == 1:  # one thread per node: each takes its share of the batches
                    if i % len(rpcs) != mine[0]:
                        continue
                else:
                    targets = [ports[i % len(ports)]]
            for port in targets:
                sent = time.time()
                r = rpc(port, "author_submitBatch", {"txs": batch})
                with lock:
                    for x in r.get("result", []):
                        if x.get("hash"):
                            submitted[x["hash"]] = min(submitted.get(x["hash"], sent), sent)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    if os.environ.get("FINALITY_MARK"):  # for profilers: a load starts now
        open(f"{os.environ['FINALITY_MARK']}.{'heavy' if parallel else 'light'}", "w").close()
    start = time.time()
    groups = [[p] for p in rpcs] if parallel else [rpcs]
    submitters = [threading.Thread(target=submit, args=(g,)) for g in groups]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join()
    submit_secs = time.time() - start
    deadline = time.time() + 180
    while any(t not in seen_final for t in submitted) and time.time() < deadline:
        time.sleep(0.1)
    stop.set()
    watcher.join()
    finalized = {t: seen_final[t] for t in submitted if t in seen_final}
    if not finalized:
        sys.exit("nothing finalized")
    end = max(finalized.values())
    lat = sorted(finalized[t] - submitted[t] for t in finalized)
    return {"n": len(finalized), "secs": end - start, "tps": len(finalized) / (end - start),
            "p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "submit_secs": submit_secs}


def key_ss58(uri):
    out = subprocess.run([BIN, "key", "inspect", uri, "--output", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["address"]


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
        # Fund the load accounts from Alice (one transfer each, consecutive nonces), and wait
        # until the last one is finalized.
        alice_nonce = rpc(rpcs[0], "state_account", {"account": key_ss58("//Alice")})["result"]["nonce"]
        funding = []
        for i, sender in enumerate(SENDERS):
            funding += subprocess.run([BIN, "tx", "transfer", "--from", "//Alice", "--to", sender, "--amount", "100 CRU",
                                       "--nonce", str(alice_nonce + i), "--genesis", genesis, "--birth", str(head)],
                                      capture_output=True, text=True, check=True).stdout.split()
        for b in range(0, len(funding), 100):
            for p in rpcs:
                rpc(p, "author_submitBatch", {"txs": funding[b:b + 100]})
        last = key_ss58(SENDERS[-1])
        deadline = time.time() + 120
        while int(rpc(rpcs[0], "state_account", {"account": last})["result"]["free"]) == 0:
            if time.time() > deadline:
                sys.exit("the load accounts were not funded")
            time.sleep(0.2)
        mem = Memory({f"validator {name}": p.pid for name, p in zip(NAMES, procs)})
        mem.mark("idle")
        # 1. Latency at a load the network keeps up with: LATENCY_TX transfers, one batch of 100
        # after another to every node in turn.
        light = measure(rpcs, genesis, SENDERS[:LATENCY_SENDERS], parallel=False)
        mem.mark("light load")
        # 2. Throughput: N_TX transfers pushed to all four nodes at once (one thread per node).
        heavy = measure(rpcs, genesis, SENDERS[LATENCY_SENDERS:], parallel=True)
        mem.mark("saturation")
        spread = os.environ.get("FINALITY_SPREAD") == "1"
        print("submission: " + ("each batch to one node, gossip brings it to the others" if spread
                                else "every batch to every node"))
        for name, r in (("light load", light), ("saturating load", heavy)):
            print(f"{name}: {r['n']} transfers finalized in {r['secs']:.1f} s, {r['tps']:.0f}/s; "
                  f"latency p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms "
                  f"(submitting took {r['submit_secs']:.1f} s)")
        print(f"finality latency p50 {light['p50'] * 1000:.0f} ms at light load "
              f"(reference ~{REFERENCE_FINALITY_S:.0f} s: {REFERENCE_FINALITY_S / light['p50']:.0f}x faster)")
        print(f"throughput {heavy['tps']:.0f} finalized transfers/s at saturation "
              f"(the submitter alone could not exceed {heavy['n'] / heavy['submit_secs']:.0f}/s)")
        mem.print_table("validator memory (RSS, MB; budget: crust node --memory, default 512 MiB)")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
