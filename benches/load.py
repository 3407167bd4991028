"""Transfer load and finality measurement shared by the finality benches: JSON-RPC over HTTP,
funding load accounts, signing transfers with `crust tx transfer`, submitting them in batches
and watching finalized blocks. Nodes are named by RPC address (`host:port`, or a bare port on
127.0.0.1)."""
import json, os, statistics, subprocess, sys, threading, time, urllib.request

BIN = os.environ.get("CRUST_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "crust"))
PER_SENDER = 250


def url(node):
    return f"http://{node}/" if isinstance(node, str) else f"http://127.0.0.1:{node}/"


def rpc(node, method, params=None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(url(node), data=body, headers={"Content-Type": "application/json"})
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



def wait_started(rpcs, height=5, timeout=120):
    """Waits until every node has finalized `height`."""
    deadline = time.time() + timeout
    while True:
        try:
            if all(rpc(p, "chain_head")["result"]["height"] >= height for p in rpcs):
                return
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit("network did not start")
        time.sleep(0.2)


def fund(rpcs, senders):
    """Funds each load account from Alice (one transfer each, consecutive nonces) and waits until
    the last one is finalized. Returns the genesis hash."""
    genesis = rpc(rpcs[0], "genesis_hash")["result"]
    head = rpc(rpcs[0], "chain_head")["result"]["height"]
    alice_nonce = rpc(rpcs[0], "state_account", {"account": key_ss58("//Alice")})["result"]["nonce"]
    funding = []
    for i, sender in enumerate(senders):
        funding += subprocess.run([BIN, "tx", "transfer", "--from", "//Alice", "--to", sender, "--amount", "100 CRU",
                                   "--nonce", str(alice_nonce + i), "--genesis", genesis, "--birth", str(head)],
                                  capture_output=True, text=True, check=True).stdout.split()
    for b in range(0, len(funding), 100):
        for p in rpcs:
            rpc(p, "author_submitBatch", {"txs": funding[b:b + 100]})
    last = key_ss58(senders[-1])
    deadline = time.time() + 120
    while int(rpc(rpcs[0], "state_account", {"account": last})["result"]["free"]) == 0:
        if time.time() > deadline:
            sys.exit("the load accounts were not funded")
        time.sleep(0.2)
    return genesis
