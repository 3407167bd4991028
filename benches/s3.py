#!/usr/bin/env python3
"""The S3 API against the plain content path, side by side in one run.

Starts a `crust ipfs daemon` and `crust s3 serve` (objects kept on the daemon, not ordered),
then measures on the same machine, same file:
  * 1 GiB PUT: boto3's multipart upload (64 MiB parts, 4 at once) and a single streamed PUT
    through S3, against `crust add --api` of the same file into the same daemon (the baseline);
  * 1 GiB GET: boto3's get_object streamed to nowhere, against the daemon's gateway
    (`/ipfs/<cid>`) streamed the same way (the baseline);
  * 4 KiB objects: PUTs and GETs per second from 8 client threads;
  * with --minio PATH (a `minio` server binary, e.g. built with `go install
    github.com/minio/minio@latest`): the same S3 runs against MinIO on a local disk.
Prints each number and its ratio to the baseline (the issue's aim: S3 overhead under 15%).
The clients come from interop/setup.sh (S3PY=…): run it with that Python.

Usage:
  cargo build --release --bin crust
  $(bash interop/setup.sh | sed -n 's/^S3PY=//p') benches/s3.py [size_mib=1024] [--minio PATH]
"""
import os, shutil, subprocess, sys, tempfile, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

ARGV = sys.argv[1:]
sys.argv = sys.argv[:1]  # benches/ipfs.py reads its own arguments when imported
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ipfs import BIN, free_port  # noqa: E402

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

MINIO = ARGV[ARGV.index("--minio") + 1] if "--minio" in ARGV else None
args = [a for a in ARGV if not a.startswith("--") and a != MINIO]
SIZE_MIB = int(args[0]) if args else 1024


def wait_file(path, secs=60):
    deadline = time.time() + secs
    while time.time() < deadline:
        if os.path.exists(path) and open(path).read().strip():
            return open(path).read().strip()
        time.sleep(0.1)
    raise SystemExit(f"{path} did not appear")


def make_file(path, size):
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size >> 20):
            f.write(block[:8] + i.to_bytes(8, "little") + block[16:])


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def drain(stream):
    n = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return n
        n += len(chunk)


def client(endpoint, ak, sk):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name="us-east-1",
                        config=Config(signature_version="s3v4", max_pool_connections=16))


def s3_round(s3, bucket, path, size):
    cfg = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20,
                         max_concurrency=4)
    single = TransferConfig(multipart_threshold=1 << 40)
    s3.create_bucket(Bucket=bucket)
    put, _ = timed(lambda: s3.upload_file(path, bucket, "big", Config=cfg))
    get, n = timed(lambda: drain(s3.get_object(Bucket=bucket, Key="big")["Body"]))
    assert n == size, (n, size)
    # One stream, like `crust add`, of new bytes (so no block is already stored).
    make_file(path, size)
    one, _ = timed(lambda: s3.upload_file(path, bucket, "one", Config=single))
    return put, get, one


def small(s3, bucket, count=2000, threads=8):
    body = os.urandom(4096)
    s3.create_bucket(Bucket=bucket)
    put, _ = timed(lambda: list(ThreadPoolExecutor(threads).map(
        lambda i: s3.put_object(Bucket=bucket, Key=f"o{i}", Body=body), range(count))))
    get, _ = timed(lambda: list(ThreadPoolExecutor(threads).map(
        lambda i: s3.get_object(Bucket=bucket, Key=f"o{i}")["Body"].read(), range(count))))
    return count / put, count / get


def main():
    tmp = tempfile.mkdtemp(prefix="s3bench-")
    procs = []
    try:
        size = SIZE_MIB << 20
        path = os.path.join(tmp, "file")
        make_file(path, size)
        repo = os.path.join(tmp, "repo")
        procs.append(subprocess.Popen(
            [BIN, "ipfs", "daemon", "--repo", repo, "--api-addr", "127.0.0.1:0",
             "--gateway-addr", "127.0.0.1:0", "--swarm-addr", "/ip4/127.0.0.1/tcp/0"],
            stderr=subprocess.DEVNULL))
        api = wait_file(os.path.join(repo, "api"))
        gateway = wait_file(os.path.join(repo, "gateway"))
        s3dir = os.path.join(tmp, "s3")
        procs.append(subprocess.Popen(
            [BIN, "s3", "serve", "--key", "//Ferdie", "--addr", "127.0.0.1:0", "--api", api,
             "--chain", f"http://127.0.0.1:{free_port()}", "--replicas", "0", "--dir", s3dir],
            stderr=subprocess.DEVNULL))
        endpoint = wait_file(os.path.join(s3dir, "addr"))
        out = subprocess.run([BIN, "s3", "key", "create", "bench", "--service", endpoint,
                              "--from", "//Alice"], capture_output=True, text=True, check=True)
        ak, sk = out.stdout.split()
        s3 = client(endpoint, ak, sk)

        # Baseline first (a cold daemon for both: the S3 object has other bytes).
        add, out = timed(lambda: subprocess.run([BIN, "add", "-q", "--api", api, path],
                                                capture_output=True, text=True, check=True))
        cid = out.stdout.split()[-1]
        gw, n = timed(lambda: drain(urllib.request.urlopen(f"{gateway}/ipfs/{cid}")))
        assert n == size
        make_file(path, size)  # new bytes, so the S3 upload stores new blocks
        put, get, one = s3_round(s3, "bench", path, size)
        mb = size / 1e6
        print(f"1 GiB-class file: {SIZE_MIB} MiB")
        print(f"  PUT  crust add --api   {mb / add:8.1f} MB/s (baseline)")
        print(f"  PUT  S3 multipart      {mb / put:8.1f} MB/s  ratio {add / put:.2f} "
              f"(S3 overhead {100 * (put / add - 1):+.0f}%; 4 parts at once)")
        print(f"  PUT  S3 one stream     {mb / one:8.1f} MB/s  ratio {add / one:.2f} "
              f"(S3 overhead {100 * (one / add - 1):+.0f}%)")
        print(f"  GET  gateway /ipfs     {mb / gw:8.1f} MB/s (baseline)")
        print(f"  GET  S3 get_object     {mb / get:8.1f} MB/s  ratio {gw / get:.2f} "
              f"(S3 overhead {100 * (get / gw - 1):+.0f}%)")
        puts, gets = small(s3, "small")
        print(f"  4 KiB objects, 8 threads: {puts:7.0f} PUT/s  {gets:7.0f} GET/s")

        if MINIO:
            data = os.path.join(tmp, "minio")
            port = free_port()
            env = dict(os.environ, MINIO_ROOT_USER="benchbench", MINIO_ROOT_PASSWORD="benchbench1")
            procs.append(subprocess.Popen(
                [MINIO, "server", data, "--address", f"127.0.0.1:{port}", "--console-address",
                 f"127.0.0.1:{free_port()}"], env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
            time.sleep(3)
            m = client(f"http://127.0.0.1:{port}", "benchbench", "benchbench1")
            mput, mget, _ = s3_round(m, "bench", path, size)
            mputs, mgets = small(m, "small")
            print(f"  MinIO PUT {mb / mput:8.1f} MB/s (crust S3 / MinIO {mput / put:.2f}), "
                  f"GET {mb / mget:8.1f} MB/s ({mget / get:.2f}); 4 KiB {mputs:.0f} PUT/s "
                  f"{mgets:.0f} GET/s")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
