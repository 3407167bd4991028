#!/usr/bin/env python3
"""Runs the finality benches' load against the nodes at the given RPC addresses and prints one
JSON object: light-load latency and saturating throughput. Used by shaped_finality.py from
inside a client namespace. Usage: load_driver.py host:port,host:port,... [transfers=5000]"""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import PER_SENDER, fund, measure, wait_started  # noqa: E402

rpcs = sys.argv[1].split(",")
n_tx = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
light_senders = 4  # 1000 transfers at light load
senders = [f"//Alice//load{i}" for i in range(light_senders + (n_tx + PER_SENDER - 1) // PER_SENDER)]
wait_started(rpcs)
genesis = fund(rpcs, senders)
light = measure(rpcs, genesis, senders[:light_senders], parallel=False)
heavy = measure(rpcs, genesis, senders[light_senders:], parallel=True)
print(json.dumps({"light": light, "heavy": heavy}))
