#!/usr/bin/env python3
"""A scripted session of real S3 clients against a crust S3 endpoint: boto3 (buckets,
1 KiB–200 MiB objects, multipart, ranges, listings with delimiters and pages, presigned GETs
in both signature versions, copy, delete), the AWS CLI (cp, ls, sync, s3api) and rclone (a
directory tree synced up and back, bit-exact). Each step prints one line; the first failure
stops the session with exit status 1.

usage: session.py --endpoint URL --access-key AK --secret-key SK --work DIR
                  [--aws PATH] [--rclone PATH] [--big-mib 200]
"""

import argparse
import hashlib
import os
import random
import subprocess
import sys
import time
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError


T0 = time.time()


def step(name):
    print(f"session: [{time.time() - T0:5.1f} s] {name}", flush=True)


def expect_error(code, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            raise AssertionError(f"expected {code}, got {got}: {e}")
        return
    raise AssertionError(f"expected {code}, the call succeeded")


def write_random(path, size, seed):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def boto_session(a, s3, s3v2, work):
    step("buckets")
    s3.create_bucket(Bucket="session")
    s3.create_bucket(Bucket="session-copy")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "session" in names and "session-copy" in names, names
    s3.head_bucket(Bucket="session")
    expect_error("NoSuchBucket", s3.get_object, Bucket="no-such-bucket-here", Key="x")
    expect_error("InvalidBucketName", s3.create_bucket, Bucket="Bad_Name")

    step("objects of 1 KiB to 200 MiB, each read back whole")
    sizes = [1024, 64 * 1024, 1024 * 1024 + 7, 9 * 1024 * 1024, a.big_mib * 1024 * 1024]
    single = TransferConfig(multipart_threshold=1 << 40)
    for i, size in enumerate(sizes):
        path = os.path.join(work, f"obj{i}")
        write_random(path, size, i)
        key = f"sizes/{size}"
        start = time.time()
        s3.upload_file(path, "session", key, Config=single, ExtraArgs={
            "Metadata": {"seed": str(i)}, "ContentType": "application/x-test"})
        head = s3.head_object(Bucket="session", Key=key)
        assert head["ContentLength"] == size, head
        assert head["ETag"].strip('"') == md5_file(path), "ETag is the MD5 of a one-piece object"
        assert head["Metadata"] == {"seed": str(i)}, head["Metadata"]
        assert head["ContentType"] == "application/x-test"
        cid = head["ResponseMetadata"]["HTTPHeaders"].get("x-crust-cid", "")
        assert cid.startswith("Qm"), f"the CID header: {cid!r}"
        back = os.path.join(work, f"back{i}")
        s3.download_file("session", key, back, Config=single)
        assert md5_file(back) == md5_file(path), f"{key} came back different"
        os.remove(back)
        print(f"session:   {size} bytes up and back in {time.time() - start:.1f} s, {cid}")

    step("multipart: 3 parts by hand, and boto3's own transfer manager")
    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket="session", Key="mp/by-hand", ContentType="text/x-mp")
    uid = up["UploadId"]
    etags = []
    for n, data in enumerate(parts_data, 1):
        etags.append(s3.upload_part(Bucket="session", Key="mp/by-hand", UploadId=uid,
                                    PartNumber=n, Body=data)["ETag"])
    listed = s3.list_parts(Bucket="session", Key="mp/by-hand", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3]
    uploads = s3.list_multipart_uploads(Bucket="session")["Uploads"]
    assert any(u["UploadId"] == uid for u in uploads)
    expect_error("InvalidPart", s3.complete_multipart_upload, Bucket="session", Key="mp/by-hand",
                 UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]})
    done = s3.complete_multipart_upload(
        Bucket="session", Key="mp/by-hand", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    want = hashlib.md5(b"".join(hashlib.md5(d).digest() for d in parts_data)).hexdigest() + "-3"
    assert done["ETag"].strip('"') == want, (done["ETag"], want)
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket="session", Key="mp/by-hand")
    assert got["Body"].read() == whole and got["ContentType"] == "text/x-mp"
    part2 = s3.get_object(Bucket="session", Key="mp/by-hand", PartNumber=2)
    assert part2["Body"].read() == parts_data[1]
    aborted = s3.create_multipart_upload(Bucket="session", Key="mp/aborted")["UploadId"]
    s3.upload_part(Bucket="session", Key="mp/aborted", UploadId=aborted, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="session", Key="mp/aborted", UploadId=aborted)
    expect_error("NoSuchUpload", s3.list_parts, Bucket="session", Key="mp/aborted",
                 UploadId=aborted)
    path = os.path.join(work, "obj4")
    managed = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=16 << 20,
                             max_concurrency=4)
    s3.upload_file(path, "session", "mp/managed", Config=managed)
    head = s3.head_object(Bucket="session", Key="mp/managed")
    assert head["ETag"].strip('"').endswith(f"-{-(-os.path.getsize(path) // (16 << 20))}")
    back = os.path.join(work, "managed-back")
    s3.download_file("session", "mp/managed", back, Config=managed)
    assert md5_file(back) == md5_file(path)
    os.remove(back)

    step("ranges and conditional reads")
    r = s3.get_object(Bucket="session", Key="mp/by-hand", Range="bytes=5242870-5242889")
    assert r["Body"].read() == whole[5242870:5242890] and r["ContentRange"].startswith("bytes 5242870-")
    assert s3.get_object(Bucket="session", Key="mp/by-hand", Range="bytes=-10")["Body"].read() == whole[-10:]
    expect_error("InvalidRange", s3.get_object, Bucket="session", Key="sizes/1024", Range="bytes=5000-")
    etag = s3.head_object(Bucket="session", Key="sizes/1024")["ETag"]
    expect_error("PreconditionFailed", s3.get_object, Bucket="session", Key="sizes/1024",
                 IfMatch='"nope"')
    assert s3.get_object(Bucket="session", Key="sizes/1024", IfMatch=etag)["ContentLength"] == 1024

    step("listings: delimiters, prefixes, pages (v1 and v2)")
    for k in ["tree/a/1", "tree/a/2", "tree/b/1", "tree/c", "tree/d/e/f"]:
        s3.put_object(Bucket="session", Key=k, Body=k.encode())
    v2 = s3.list_objects_v2(Bucket="session", Prefix="tree/", Delimiter="/")
    assert [c["Prefix"] for c in v2["CommonPrefixes"]] == ["tree/a/", "tree/b/", "tree/d/"]
    assert [c["Key"] for c in v2["Contents"]] == ["tree/c"]
    keys, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="session", Prefix="tree/", MaxKeys=2, **kw)
        keys += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert keys == ["tree/a/1", "tree/a/2", "tree/b/1", "tree/c", "tree/d/e/f"], keys
    v1 = s3.list_objects(Bucket="session", Prefix="tree/", Marker="tree/b/1")
    assert [c["Key"] for c in v1["Contents"]] == ["tree/c", "tree/d/e/f"]
    paginated = [o["Key"] for p in s3.get_paginator("list_objects").paginate(
        Bucket="session", Prefix="tree/", PaginationConfig={"PageSize": 1}) for o in p["Contents"]]
    assert paginated == keys

    step("presigned GETs (SigV4 and boto3's default SigV2) and expiry")
    for client in (s3, s3v2):
        url = client.generate_presigned_url("get_object", Params={"Bucket": "session",
                                            "Key": "tree/c"}, ExpiresIn=60)
        assert urllib.request.urlopen(url).read() == b"tree/c"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "session", "Key": "tree/c"},
                                    ExpiresIn=1)
    time.sleep(2.5)
    try:
        urllib.request.urlopen(url)
        raise AssertionError("an expired presigned URL worked")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code

    step("copy (same content, no bytes moved) and metadata replacement")
    s3.copy_object(Bucket="session-copy", Key="copied", CopySource={"Bucket": "session",
                   "Key": "mp/by-hand"})
    c = s3.head_object(Bucket="session-copy", Key="copied")
    o = s3.head_object(Bucket="session", Key="mp/by-hand")
    assert c["ResponseMetadata"]["HTTPHeaders"]["x-crust-cid"] == \
        o["ResponseMetadata"]["HTTPHeaders"]["x-crust-cid"]
    s3.copy_object(Bucket="session", Key="tree/c", CopySource={"Bucket": "session", "Key": "tree/c"},
                   Metadata={"new": "yes"}, MetadataDirective="REPLACE")
    assert s3.head_object(Bucket="session", Key="tree/c")["Metadata"] == {"new": "yes"}
    expect_error("InvalidRequest", s3.copy_object, Bucket="session", Key="tree/c",
                 CopySource={"Bucket": "session", "Key": "tree/c"})

    step("deletes: one, many, and buckets")
    s3.delete_object(Bucket="session-copy", Key="copied")
    expect_error("NoSuchKey", s3.get_object, Bucket="session-copy", Key="copied")
    assert s3.get_object(Bucket="session", Key="mp/by-hand")["Body"].read() == whole, \
        "the source of a deleted copy is intact"
    expect_error("BucketNotEmpty", s3.delete_bucket, Bucket="session")
    everything = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket="session")
                  for o in p.get("Contents", [])]
    r = s3.delete_objects(Bucket="session", Delete={"Objects": [{"Key": k} for k in everything]})
    assert len(r["Deleted"]) == len(everything) and "Errors" not in r
    s3.delete_bucket(Bucket="session")
    s3.delete_bucket(Bucket="session-copy")
    assert "session" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def run(cmd, env, **kw):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def tree(root, seed):
    rng = random.Random(seed)
    files = {}
    for i in range(40):
        depth = rng.randint(0, 3)
        rel = "/".join(f"d{rng.randint(0, 3)}" for _ in range(depth)) + f"/f{i}.bin"
        rel = rel.lstrip("/")
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        size = rng.choice([0, 1, 100, 4096, 70_000, 1_500_000])
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))
        files[rel] = md5_file(path)
    return files


def digests(root):
    out = {}
    for base, _, names in os.walk(root):
        for n in names:
            p = os.path.join(base, n)
            out[os.path.relpath(p, root)] = md5_file(p)
    return out


def aws_cli(a, env, work):
    step("the AWS CLI: mb, cp, ls, sync, s3api")
    aws = [a.aws, "--endpoint-url", a.endpoint, "--region", "us-east-1"]
    run(aws + ["s3", "mb", "s3://cli"], env)
    src = os.path.join(work, "cli-src")
    files = tree(src, 7)
    big = os.path.join(work, "obj3")
    run(aws + ["s3", "cp", big, "s3://cli/big.bin"], env)
    listing = run(aws + ["s3", "ls", "s3://cli/"], env)
    assert "big.bin" in listing, listing
    run(aws + ["s3", "sync", src, "s3://cli/tree"], env)
    dst = os.path.join(work, "cli-dst")
    run(aws + ["s3", "sync", "s3://cli/tree", dst], env)
    assert digests(dst) == files, "aws s3 sync round trip differs"
    head = run(aws + ["s3api", "head-object", "--bucket", "cli", "--key", "big.bin"], env)
    assert '"ContentLength": 9437184' in head, head
    run(aws + ["s3", "cp", "s3://cli/big.bin", os.path.join(work, "big-back")], env)
    assert md5_file(os.path.join(work, "big-back")) == md5_file(big)
    run(aws + ["s3", "rb", "--force", "s3://cli"], env)


def rclone(a, env, work):
    step("rclone: a tree synced up and back, bit-exact")
    env = dict(env, RCLONE_CONFIG_CRUST_TYPE="s3", RCLONE_CONFIG_CRUST_PROVIDER="Other",
               RCLONE_CONFIG_CRUST_ACCESS_KEY_ID=a.access_key,
               RCLONE_CONFIG_CRUST_SECRET_ACCESS_KEY=a.secret_key,
               RCLONE_CONFIG_CRUST_ENDPOINT=a.endpoint, RCLONE_CONFIG_CRUST_REGION="us-east-1",
               RCLONE_CONFIG=os.path.join(work, "rclone.conf"))
    # rclone's AWS SDK cannot load a CA bundle into its own transport; the endpoint is plain
    # HTTP anyway.
    env.pop("AWS_CA_BUNDLE", None)
    src = os.path.join(work, "rc-src")
    files = tree(src, 11)
    run([a.rclone, "mkdir", "crust:rclone"], env)
    run([a.rclone, "sync", src, "crust:rclone/tree", "--s3-upload-cutoff", "1M",
         "--s3-chunk-size", "5M"], env)
    run([a.rclone, "check", src, "crust:rclone/tree"], env)
    dst = os.path.join(work, "rc-dst")
    run([a.rclone, "sync", "crust:rclone/tree", dst], env)
    assert digests(dst) == files, "rclone round trip differs"
    # A change on one side syncs as a change.
    changed = sorted(files)[0]
    with open(os.path.join(src, changed), "wb") as f:
        f.write(b"changed")
    run([a.rclone, "sync", src, "crust:rclone/tree"], env)
    run([a.rclone, "sync", "crust:rclone/tree", dst], env)
    assert open(os.path.join(dst, changed), "rb").read() == b"changed"
    run([a.rclone, "purge", "crust:rclone"], env)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--aws")
    p.add_argument("--rclone")
    p.add_argument("--big-mib", type=int, default=200)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    kw = dict(endpoint_url=a.endpoint, aws_access_key_id=a.access_key,
              aws_secret_access_key=a.secret_key, region_name="us-east-1")
    s3 = boto3.client("s3", config=Config(signature_version="s3v4"), **kw)
    s3v2 = boto3.client("s3", **kw)  # boto3's defaults (presigns with SigV2)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=a.access_key, AWS_SECRET_ACCESS_KEY=a.secret_key,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    try:
        boto_session(a, s3, s3v2, a.work)
        if a.aws:
            aws_cli(a, env, a.work)
        if a.rclone:
            rclone(a, env, a.work)
    except Exception as e:  # noqa: BLE001 - any failure ends the session with its reason
        import traceback
        traceback.print_exc()
        print(f"session: FAILED: {e}", flush=True)
        return 1
    print("session: all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
