#!/usr/bin/env python3
"""Finality and throughput of real validators on separate hosts behind shaped links.

For each validator count and round-trip time, builds a namespaced network (benches/netlab.py):
one host per validator and one client host; every connection into a validator's chain port
crosses a Toxiproxy link adding half the round trip each way (±10 % jitter). The genesis is
made with `crust chain-spec` and the validators find each other through one bootnode. The
client runs benches/load_driver.py against the validators' RPC (through unshaped proxies):
finality latency at light load (1000 transfers, batch after batch) and finalized transfers/s
at saturation. Needs root and Go (for Toxiproxy); prints a Markdown table.

Usage: cargo build --release --bin crust && sudo python3 benches/shaped_finality.py
       [--validators 4,7] [--rtt 0,50,100,200] [--transfers 5000]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import BIN  # noqa: E402
from netlab import Lab, toxiproxy_bin  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def address(suri):
    out = subprocess.run([BIN, "key", "inspect", suri, "--output", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["address"]


def crust(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=True).stdout


def run(n, rtt_ms, transfers, toxiproxy):
    data = tempfile.mkdtemp(prefix="crust-shaped-")
    lab = Lab(n + 1, toxiproxy)
    client = n
    try:
        one_way = rtt_ms // 2
        p2p = [lab.proxy(f"p2p{i}", i, 30333, 30333 + i, one_way, one_way // 10) for i in range(n)]
        spec = os.path.join(data, "spec.json")
        crust("chain-spec", "new", spec, "--name", "shaped", "--id", "shaped")
        for i in range(n):
            extra = ["--bootnode", p2p[0]] if i == 0 else []
            crust("chain-spec", "add-validator", spec, "--stash", address(f"//V{i}//stash"),
                  "--session", address(f"//V{i}//session"), *extra)
        crust("chain-spec", "add-balance", spec, address("//Alice"), "10000000 CRU")
        crust("chain-spec", "build", spec)
        for i in range(n):
            lab.spawn(i, [BIN, "node", "--chain", spec, "--validator", f"//V{i}//session",
                          "--data-dir", os.path.join(data, f"v{i}"), "--listen", "0.0.0.0:30333",
                          "--public-addr", p2p[i], "--rpc", "0.0.0.0:9933"],
                      os.path.join(data, f"v{i}.log"))
        # The client reaches each RPC through an unshaped proxy (hosts only meet on the switch).
        rpcs = ",".join(lab.proxy(f"rpc{i}", i, 9933, 9933 + i) for i in range(n))
        out = subprocess.run(lab.exec_args(client, [sys.executable, os.path.join(HERE, "load_driver.py"), rpcs,
                                                     str(transfers)]),
                             capture_output=True, text=True, env={**os.environ, "CRUST_BIN": BIN})
        if out.returncode != 0:
            raise SystemExit(f"{n} validators at {rtt_ms} ms: load failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        lab.close()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--validators", default="4,7")
    ap.add_argument("--rtt", default="0,50,100,200")
    ap.add_argument("--transfers", type=int, default=5000)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    toxiproxy = toxiproxy_bin()
    print("| validators | RTT | finality p50 | p99 | p50 − RTT × 1.5 | transfers/s at saturation |")
    print("|---|---|---|---|---|---|")
    for n in [int(x) for x in a.validators.split(",")]:
        for rtt in [int(x) for x in a.rtt.split(",")]:
            r = run(n, rtt, a.transfers, toxiproxy)
            light, heavy = r["light"], r["heavy"]
            print(f"| {n} | {rtt} ms | {light['p50'] * 1000:.0f} ms | {light['p99'] * 1000:.0f} ms | "
                  f"{light['p50'] * 1000 - 1.5 * rtt:.0f} ms | {heavy['tps']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
