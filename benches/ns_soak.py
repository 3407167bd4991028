#!/usr/bin/env python3
"""A namespaced network under load and random kill -9: does anything acknowledged get lost?

Builds a star of hosts (benches/netlab.py): 4 validators, 3 storage nodes and a client with
the user's IPFS node, every connection between hosts crossing a Toxiproxy link of LATENCY_MS
each way. Genesis from `crust chain-spec`; validators find each other through one bootnode;
storage nodes announce their proxy address. Then, for MINUTES:

- puts: every PUT_EVERY s a random 1-8 MiB file is put (`crust put --replicas 2`); an order
  counts as acknowledged once `crust put` reports it placed (its transaction finalized);
- reads: every READ_EVERY s a file that reached its replicas is read back through a storage
  node (`crust get --peer`) and compared byte for byte;
- transfers: one `crust transfer` a second from a load account;
- chaos: every KILL_EVERY s a random validator or storage node is killed with SIGKILL and
  restarted 10-30 s later with the same arguments and data.

At the end it checks every acknowledged order on chain and prints: orders placed and
acknowledged, replicas reached, files read back bit-exact (and mismatches), acknowledged orders
lost (must be 0), kills, the longest time without a new finalized block, and each process's
RSS at the start, the middle and the end (restarted processes: their latest incarnation).

Usage: cargo build --release --bin crust && sudo python3 benches/ns_soak.py [minutes=60]
Env: SOAK_LATENCY_MS (25), SOAK_PUT_EVERY (60), SOAK_READ_EVERY (45), SOAK_KILL_EVERY (180).
"""
import hashlib, json, os, random, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import BIN  # noqa: E402
from netlab import Lab, toxiproxy_bin  # noqa: E402

MINUTES = float(sys.argv[1]) if len(sys.argv) > 1 else 60
LATENCY_MS = int(os.environ.get("SOAK_LATENCY_MS", "25"))
PUT_EVERY = float(os.environ.get("SOAK_PUT_EVERY", "60"))
READ_EVERY = float(os.environ.get("SOAK_READ_EVERY", "45"))
KILL_EVERY = float(os.environ.get("SOAK_KILL_EVERY", "180"))
VALIDATORS, STORAGE = 4, 3
CLIENT = VALIDATORS + STORAGE
OWNERS = ["//Eve", "//Ferdie", "//Storage6"]


def address(suri):
    out = subprocess.run([BIN, "key", "inspect", suri, "--output", "json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["address"]


def crust(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=True).stdout


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Net:
    """The hosts, their processes (restartable by name) and where to reach them."""

    def __init__(self, data):
        self.data = data
        self.lab = Lab(CLIENT + 1, toxiproxy_bin())
        self.lock = threading.Lock()
        self.procs = {}  # name -> (host, args, Popen)
        lat = LATENCY_MS
        self.p2p = [self.lab.proxy(f"p2p{i}", i, 30333, 30333 + i, lat, lat // 10) for i in range(VALIDATORS)]
        self.rpc = [self.lab.proxy(f"rpc{i}", i, 9933, 9933 + i, lat, lat // 10) for i in range(VALIDATORS)]
        self.ipfs_swarm = self.lab.proxy("ipfs", CLIENT, 4001, 4001, lat, lat // 10)
        self.storage_swarm = [self.lab.proxy(f"sw{j}", VALIDATORS + j, 4001, 4100 + j, lat, lat // 10)
                              for j in range(STORAGE)]

    def start(self, name, host, args):
        log = open(os.path.join(self.data, f"{name}.log"), "a")
        p = subprocess.Popen(self.lab.exec_args(host, args), stdout=log, stderr=log)
        with self.lock:
            self.procs[name] = (host, args, p)
        return p

    def kill(self, name):
        with self.lock:
            host, args, p = self.procs[name]
        p.kill()
        p.wait()
        return host, args

    def close(self):
        with self.lock:
            for _, _, p in self.procs.values():
                p.kill()
                p.wait()
        self.lab.close()


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build the node first: cargo build --release --bin crust (looked for {BIN})")
    data = tempfile.mkdtemp(prefix="crust-ns-soak-")
    net = Net(data)
    stats = {"placed": 0, "acknowledged": [], "replicated": set(), "read_ok": 0, "read_bad": 0, "kills": 0,
             "transfers": 0, "put_failed": 0}
    files = {}  # cid -> sha256
    stop = threading.Event()
    try:
        spec = os.path.join(data, "spec.json")
        crust("chain-spec", "new", spec, "--name", "soak", "--id", "soak")
        for i in range(VALIDATORS):
            extra = ["--bootnode", net.p2p[0]] if i == 0 else []
            crust("chain-spec", "add-validator", spec, "--stash", address(f"//V{i}//stash"),
                  "--session", address(f"//V{i}//session"), *extra)
        for who in ["//Alice", "//Bob"] + OWNERS:
            crust("chain-spec", "add-balance", spec, address(who), "1000000 CRU")
        crust("chain-spec", "add-authority", spec, address("//Authority"))
        crust("chain-spec", "build", spec)
        for i in range(VALIDATORS):
            net.start(f"validator-{i}", i, [BIN, "node", "--chain", spec, "--validator", f"//V{i}//session",
                                            "--data-dir", os.path.join(data, f"v{i}"), "--listen", "0.0.0.0:30333",
                                            "--public-addr", net.p2p[i], "--rpc", "0.0.0.0:9933"])
        repo = os.path.join(data, "ipfs")
        net.start("ipfs", CLIENT, [BIN, "ipfs", "daemon", "--repo", repo, "--api-addr", "127.0.0.1:5001",
                                   "--gateway-addr", "127.0.0.1:8080", "--swarm-addr", "/ip4/0.0.0.0/tcp/4001"])
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(repo, "swarm")):
            if time.time() > deadline:
                sys.exit("the IPFS node did not start")
            time.sleep(0.2)
        ipfs_id = open(os.path.join(repo, "swarm")).read().split()[0].rsplit("/p2p/", 1)[1]
        h, p = net.ipfs_swarm.split(":")
        ipfs_addr = f"/ip4/{h}/tcp/{p}/p2p/{ipfs_id}"
        storage_addrs = {}
        for j, owner in enumerate(OWNERS):
            h, p = net.storage_swarm[j].split(":")
            d = os.path.join(data, f"s{j}")
            net.start(f"storage-{j}", VALIDATORS + j,
                      [BIN, "sworker", "run", "--account", owner, "--dir", d, "--capacity", "512MiB",
                       "--srd-unit-mib", "8", "--reserve", "0", "--peer", ipfs_addr,
                       "--chain", f"http://{net.rpc[j % VALIDATORS]}", "--swarm-addr", "/ip4/0.0.0.0/tcp/4001",
                       "--announce", f"/ip4/{h}/tcp/{p}", "--trust-node-committee"])
            storage_addrs[j] = (d, h, p)

        def client(*args, timeout=600):
            return subprocess.run(net.lab.exec_args(CLIENT, [BIN, *args]), capture_output=True, text=True,
                                  timeout=timeout)

        def chain():
            return f"http://{random.choice(net.rpc)}"

        # Finality watch: the longest time without a new finalized block (through any validator).
        longest_gap, last = [0.0], [time.time(), 0]

        # The hosts are reachable only from inside the lab: a watcher in the client's namespace
        # prints the finalized height twice a second.
        watcher_code = (
            "import json,random,sys,time,urllib.request\n"
            "addrs=sys.argv[1].split(',')\n"
            "while True:\n"
            "  for a in random.sample(addrs,len(addrs)):\n"
            "    try:\n"
            "      r=urllib.request.urlopen(urllib.request.Request('http://'+a+'/',data=b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chain_head\",\"params\":{}}',headers={'Content-Type':'application/json'}),timeout=2)\n"
            "      print(json.loads(r.read())['result']['height'],flush=True); break\n"
            "    except Exception: pass\n"
            "  time.sleep(0.5)\n")
        watcher = subprocess.Popen(net.lab.exec_args(CLIENT, [sys.executable, "-c", watcher_code, ",".join(net.rpc)]),
                                   stdout=subprocess.PIPE, text=True)
        net.lab.procs.append(watcher)

        def watch():
            for line in watcher.stdout:
                try:
                    h = int(line)
                except ValueError:
                    continue
                now = time.time()
                if h > last[1]:
                    longest_gap[0] = max(longest_gap[0], now - last[0])
                    last[0], last[1] = now, h
        threading.Thread(target=watch, daemon=True).start()

        def puts():
            while not stop.wait(PUT_EVERY):
                size = random.randint(1, 8) << 20
                path = os.path.join(data, f"put-{time.time_ns()}.bin")
                blob = os.urandom(size)
                open(path, "wb").write(blob)
                stats["placed"] += 1
                r = client("put", path, "--yes", "--replicas", "2", "--timeout", "240", "--from", "//Alice",
                           "--api", "http://127.0.0.1:5001", "--chain", chain(), "--output", "json", timeout=400)
                if "order placed" not in r.stderr:
                    stats["put_failed"] += 1
                    continue
                try:
                    out = json.loads(r.stdout)
                except json.JSONDecodeError:
                    stats["put_failed"] += 1
                    continue
                stats["acknowledged"].append(out["cid"])
                files[out["cid"]] = hashlib.sha256(blob).hexdigest()
                if out.get("replica_count", 0) >= 2:
                    stats["replicated"].add(out["cid"])

        def reads():
            while not stop.wait(READ_EVERY):
                ready = sorted(stats["replicated"])
                if not ready:
                    continue
                cid = random.choice(ready)
                j = random.randrange(STORAGE)
                d, h, p = storage_addrs[j]
                # Its peer ID, from the line it logs at start ("Bitswap on …/p2p/<id>").
                log = open(os.path.join(data, f"storage-{j}.log")).read()
                ids = [l.rsplit("/p2p/", 1)[1].strip() for l in log.splitlines() if "Bitswap on " in l]
                if not ids:
                    continue
                peer = ids[-1]
                out = os.path.join(data, f"read-{time.time_ns()}.bin")
                r = client("get", cid, "-o", out, "--peer", f"/ip4/{h}/tcp/{p}/p2p/{peer}", timeout=300)
                if r.returncode != 0:
                    continue  # that node may be down or not hold it; try another time
                if hashlib.sha256(open(out, "rb").read()).hexdigest() == files[cid]:
                    stats["read_ok"] += 1
                else:
                    stats["read_bad"] += 1
                os.remove(out)

        def transfers():
            while not stop.wait(1.0):
                r = client("transfer", "//Ferdie//soak", "0.001 CRU", "--from", "//Bob", "--chain", chain(),
                           timeout=120)
                if r.returncode == 0:
                    stats["transfers"] += 1

        def chaos():
            victims = [f"validator-{i}" for i in range(VALIDATORS)] + [f"storage-{j}" for j in range(STORAGE)]
            while not stop.wait(KILL_EVERY):
                name = random.choice(victims)
                host, args = net.kill(name)
                stats["kills"] += 1
                print(f"[{time.strftime('%H:%M:%S')}] kill -9 {name}", flush=True)
                if stop.wait(random.uniform(10, 30)):
                    net.start(name, host, args)
                    return
                net.start(name, host, args)

        memory = {}

        def sample(label):
            with net.lock:
                memory[label] = {n: rss(p.pid) for n, (_, _, p) in net.procs.items()}

        time.sleep(20)
        sample("start")
        threads = [threading.Thread(target=f, daemon=True) for f in (puts, reads, transfers, chaos)]
        for t in threads:
            t.start()
        end = time.time() + MINUTES * 60
        half = time.time() + MINUTES * 30
        while time.time() < end:
            time.sleep(5)
            if "middle" not in memory and time.time() >= half:
                sample("middle")
            print(f"[{time.strftime('%H:%M:%S')}] finalized #{last[1]} placed {stats['placed']} acknowledged "
                  f"{len(stats['acknowledged'])} replicated {len(stats['replicated'])} read ok {stats['read_ok']} "
                  f"kills {stats['kills']}", flush=True)
        sample("end")
        stop.set()
        for t in threads:
            t.join(timeout=420)
        # Every acknowledged order is on chain.
        lost = []
        for cid in stats["acknowledged"]:
            r = client("status", cid, "--output", "json", "--chain", chain(), timeout=60)
            try:
                state = json.loads(r.stdout).get("state")
            except json.JSONDecodeError:
                state = None
            if state in (None, "none"):
                lost.append(cid)
        print(f"\n{MINUTES:g} minutes, links {LATENCY_MS} ms each way")
        print(f"orders placed {stats['placed']}, acknowledged {len(stats['acknowledged'])}, "
              f"failed to place {stats['put_failed']}, reached 2 replicas {len(stats['replicated'])}")
        print(f"files read back bit-exact {stats['read_ok']}, mismatched {stats['read_bad']}")
        print(f"acknowledged orders lost: {len(lost)} {lost if lost else ''}")
        print(f"transfers {stats['transfers']}, kill -9 {stats['kills']}, "
              f"longest finality gap {longest_gap[0]:.1f} s")
        print("RSS (MB)   " + "  ".join(f"{label:>8}" for label in ("start", "middle", "end")))
        for name in sorted(memory.get("end", {})):
            row = [memory.get(label, {}).get(name) for label in ("start", "middle", "end")]
            print(f"{name:<11}" + "  ".join(f"{(v or 0) / 1e6:8.0f}" for v in row))
        if lost or stats["read_bad"]:
            sys.exit(1)
    finally:
        stop.set()
        net.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
