#!/usr/bin/env python3
"""Runs Ceph's s3-tests (the conformance suite S3-compatible servers report against) on a
crust S3 endpoint: writes the suite's config for three accounts' access keys, runs
`s3tests/functional/test_s3.py` with the core selection below, and prints
"N passed, N failed" and the failing tests. The suite stays unmodified where it is (no
bytecode or cache is written into it).

The selection is everything but the groups this service does not offer; docs/s3.md says why
for each. Exit status: 0 when every failure is in --known (each line `test_name  reason`),
1 otherwise, 2 when the suite did not run.

usage: s3tests.py --suite DIR --endpoint HOST:PORT --out DIR --known FILE
                  --main AK:SK:ACCOUNT --alt AK:SK:ACCOUNT --tenant AK:SK:ACCOUNT [--region R]
"""

import argparse
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

# Markers of groups this service does not implement (see docs/s3.md, "s3-tests").
EXCLUDED_MARKERS = [
    # Buckets are unversioned: an object is its content's CID, deleting it stops its renewal.
    "versioning", "delete_marker",
    # No lifecycle rules or storage classes: how long content is stored is the storage
    # order's business (renewed while the object exists).
    "lifecycle", "lifecycle_expiration", "lifecycle_transition", "storage_class",
    "cloud_transition", "cloud_restore",
    # No object lock (WORM retention, legal holds).
    "object_lock",
    # No IAM, STS, policies or web identities: an access key belongs to one account.
    "bucket_policy", "user_policy", "group_policy", "role_policy", "session_policy",
    "iam_account", "iam_cross_account", "iam_role", "iam_tenant", "iam_user", "abac_test",
    "test_of_sts", "webidentity_test", "token_claims_trust_policy_test",
    "token_principal_tag_role_policy_test", "token_request_tag_trust_policy_test",
    "token_resource_tags_test", "token_role_tags_test", "token_tag_keys_test", "group",
    "object_ownership",
    # No tagging yet.
    "tagging",
    # No server-side encryption: clients that need secrecy encrypt before uploading (the
    # content is addressed by CID and held by storage nodes).
    "encryption", "sse_s3", "bucket_encryption",
    # No access logs, website hosting, S3 Select, notifications or appends.
    "bucket_logging", "bucket_logging_cleanup", "fails_without_logging_rollover",
    "target_by_bucket", "s3website", "s3website_routing_rules", "s3website_redirect_location",
    "s3select", "sns", "appendobject",
    # Tests the suite itself marks as failing against AWS.
    "fails_on_aws",
]

# Test-name fragments of groups not implemented, for tests the suite does not mark.
EXCLUDED_NAMES = [
    # Public and shared access (ACL grants to others, anonymous requests, POST forms from
    # browsers, public access blocks): buckets and objects are private to their account.
    "anonymous", "unauthenticated", "access_bucket", "public", "anon_", "grant", "_acl_",
    "acl_canned", "post_object", "expected_bucket_owner", "100_continue", "raw_get",
    "raw_put", "raw_authenticated", "x_amz_expires", "object_raw", "canned_acl",
    "recreate_new_acl", "recreate_overwrite_acl", "not_owned", "upload_owner", "bucket_gone",
    # Conditional writes on versioned buckets.
    "put_current_object", "put_object_current",
    # CORS, policies, logging, website, torrent, restore, notifications, versions.
    "cors", "policy", "logging", "website", "torrent", "restore", "notification",
    "versioned", "versioning", "lifecycle", "tagging", "encryption", "sse", "object_lock",
]


def parse_user(text):
    parts = text.split(":")
    if len(parts) != 3:
        sys.exit("a user is ACCESS_KEY:SECRET:ACCOUNT")
    return parts


def write_config(path, host, port, region, users):
    (mk, ms, mid), (ak, asec, aid), (tk, ts, tid) = users
    with open(path, "w") as f:
        f.write(f"""[DEFAULT]
host = {host}
port = {port}
is_secure = False
ssl_verify = False

[fixtures]
bucket prefix = s3t-{{random}}-
iam name prefix = s3-tests-
iam path prefix = /s3-tests/

[s3 main]
display_name = {mid}
user_id = {mid}
email = main@example.com
api_name = {region}
access_key = {mk}
secret_key = {ms}

[s3 alt]
display_name = {aid}
user_id = {aid}
email = alt@example.com
access_key = {ak}
secret_key = {asec}

[s3 tenant]
display_name = {tid}
user_id = {tid}
email = tenant@example.com
tenant = tenant
access_key = {tk}
secret_key = {ts}

[iam]
email = iam@example.com
user_id = {mid}
display_name = {mid}
access_key = {mk}
secret_key = {ms}

[iam root]
access_key = {mk}
secret_key = {ms}
user_id = {mid}
email = main@example.com

[iam alt root]
access_key = {ak}
secret_key = {asec}
user_id = {aid}
email = alt@example.com
""")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--suite", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--known", required=True)
    p.add_argument("--main", required=True)
    p.add_argument("--alt", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--timeout", type=int, default=1800)
    a = p.parse_args()

    host, port = a.endpoint.rsplit(":", 1)
    os.makedirs(a.out, exist_ok=True)
    conf = os.path.join(a.out, "s3tests.conf")
    write_config(conf, host, port, a.region,
                 [parse_user(a.main), parse_user(a.alt), parse_user(a.tenant)])
    junit = os.path.join(a.out, "junit.xml")
    markers = "not (" + " or ".join(EXCLUDED_MARKERS) + ")"
    names = "not (" + " or ".join(EXCLUDED_NAMES) + ")"
    env = dict(os.environ, S3TEST_CONF=conf, PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=line",
           "-m", markers, "-k", names, "--junitxml", junit,
           "s3tests/functional/test_s3.py"]
    with open(os.path.join(a.out, "pytest.log"), "w") as log:
        try:
            subprocess.run(cmd, cwd=a.suite, env=env, stdout=log, stderr=subprocess.STDOUT,
                           timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print(f"s3-tests: did not finish in {a.timeout} s", file=sys.stderr)
            return 2
    if not os.path.exists(junit):
        print("s3-tests: no results (see pytest.log)", file=sys.stderr)
        return 2
    passed, failed, skipped = [], [], []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed.append(name)
    known = {}
    with open(a.known) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test, _, reason = line.partition(" ")
                known[test] = reason.strip()
    unexpected = [t for t in failed if t.split("[")[0] not in known]
    now_passing = [t for t in known if t in {p.split("[")[0] for p in passed}]
    print(f"s3-tests core selection: {len(passed)} passed, {len(failed)} failed, "
          f"{len(skipped)} skipped")
    for t in sorted(failed):
        base = t.split("[")[0]
        print(f"  failed: {t}  ({known.get(base, 'NOT EXPECTED')})")
    for t in now_passing:
        print(f"  passes now (drop it from {os.path.basename(a.known)}): {t}")
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped\n")
        for t in sorted(failed):
            f.write(f"failed {t}\n")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
