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
import os, shutil, socket, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import Memory  # noqa: E402
from load import BIN, PER_SENDER, fund, measure, wait_started  # noqa: E402

N_TX = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
NAMES = ["Alice", "Bob", "Charlie", "Dave"]
LATENCY_SENDERS = 8  # 2000 transfers for the latency phase
SENDERS = [f"//Alice//load{i}" for i in range(LATENCY_SENDERS + (N_TX + PER_SENDER - 1) // PER_SENDER)]
REFERENCE_FINALITY_S = 12.0  # 6 s blocks, GRANDPA finality ~2 blocks later (lower bound)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
        wait_started(rpcs)
        genesis = fund(rpcs, SENDERS)
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
