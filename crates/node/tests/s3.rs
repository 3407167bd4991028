//! The S3-compatible API end to end, with clients nobody here wrote.
//!
//! 1. `crust s3 serve` over a real `crust ipfs daemon`: boto3, the AWS CLI and rclone run a
//!    scripted session (interop/s3/session.py: buckets, 1 KiB–200 MiB objects, multipart,
//!    ranges, listings, presigned GETs, copy, delete, trees synced up and back bit-exact);
//!    Ceph's s3-tests run their core selection and every failure must be a known, documented
//!    one (interop/s3/known-failures.txt); hostile requests (bad signatures, clock skew, the
//!    wrong region, unknown keys, oversized headers, `..` keys, 10 001 parts, a client that
//!    vanishes mid-part) each get S3's error and lose nothing; a 10 000-part upload completes;
//!    afterwards every pin on the daemon is an object's content.
//! 2. With a chain and two storage workers: an object in a bucket with replicas becomes a
//!    storage order paid by the bucket owner through her approval of the service, and reaches
//!    its replicas; an account that approved nothing is told why; deleting the object
//!    releases the service's copy.

#![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is a test failure

mod common;

use common::{
    CRUST, Procs, address, chain_and_ipfs, crust, free_port, harness, interop_dir, rpc_call,
    sworker, wait, wait_for_file,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An IPFS daemon of its own: `(procs, API URL)`.
fn ipfs_daemon(dir: &Path) -> (Procs, String) {
    let repo = dir.join("ipfs");
    let child = Command::new(CRUST)
        .args(["ipfs", "daemon", "--repo"])
        .arg(&repo)
        .args(["--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"])
        .args(["--swarm-addr", "/ip4/127.0.0.1/tcp/0"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let api = wait_for_file(&repo.join("api")).trim().to_owned();
    (Procs(vec![child]), api)
}

/// `crust s3 serve` (service key //Ferdie) on the daemon at `api`; returns its URL.
fn s3_service(procs: &mut Procs, dir: &Path, api: &str, chain: &str, extra: &[&str]) -> String {
    let s3_dir = dir.join("s3");
    procs.0.push(
        Command::new(CRUST)
            .args(["s3", "serve", "--key", "//Ferdie", "--addr", "127.0.0.1:0"])
            .args(["--api", api, "--chain", chain])
            .args(extra)
            .arg("--dir")
            .arg(&s3_dir)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&s3_dir.join("addr")).trim().to_owned()
}

/// An access key for `from`: `(access key id, secret)`.
fn access_key(url: &str, from: &str, label: &str) -> (String, String) {
    let out = crust(&[
        "s3",
        "key",
        "create",
        label,
        "--service",
        url,
        "--from",
        from,
    ]);
    let (id, secret) = out.trim().split_once(' ').unwrap();
    (id.to_owned(), secret.to_owned())
}

/// A SigV4 signer, so each hostile request can get one thing wrong on purpose.
struct Signer {
    url: String,
    access_key: String,
    secret: String,
    region: String,
    /// Seconds added to the clock when signing.
    skew: i64,
}

fn amz_date(skew: i64) -> String {
    let ms = (crust_s3::http::now_ms() as i64 + skew * 1000) as u64;
    let iso = crust_s3::http::iso8601(ms); // 2026-12-07T17:50:30.123Z
    let basic: String = iso[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    basic + "Z"
}

impl Signer {
    fn new(url: &str, (access_key, secret): &(String, String)) -> Self {
        Self {
            url: url.to_owned(),
            access_key: access_key.clone(),
            secret: secret.clone(),
            region: "us-east-1".into(),
            skew: 0,
        }
    }

    /// The signed headers of `method path?query` with `body` (`host` first).
    fn headers(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> HeaderMap {
        let hash = crust_s3::sigv4::sha256_hex(body);
        self.headers_with(method, path, query, &hash, extra)
    }

    /// The signed headers with `hash` as the payload's (`UNSIGNED-PAYLOAD` for streams).
    fn headers_with(
        &self,
        method: &str,
        path: &str,
        query: &str,
        hash: &str,
        extra: &[(&str, &str)],
    ) -> HeaderMap {
        let host = self.url.trim_start_matches("http://").to_owned();
        let date = amz_date(self.skew);
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(&host).unwrap());
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert("x-amz-content-sha256", HeaderValue::from_str(hash).unwrap());
        for (k, v) in extra {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let mut signed: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        signed.sort_unstable();
        let req = crust_s3::sigv4::Request {
            method,
            path,
            query,
            headers: &headers,
        };
        let canonical = crust_s3::sigv4::canonical_request(&req, None, &signed, hash).unwrap();
        let scope = format!("{}/{}/s3/aws4_request", &date[..8], self.region);
        let key = crust_s3::sigv4::signing_key(&self.secret, &date[..8], &self.region, "s3");
        let sts = crust_s3::sigv4::string_to_sign(&date, &scope, &canonical);
        let signature = crust_s3::sigv4::hex(&crust_s3::sigv4::hmac(&key, sts.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.access_key,
            signed.join(";")
        );
        headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        headers
    }

    /// Sends the request over a socket of its own, the path exactly as given (HTTP libraries
    /// normalize `..` away); returns the status and the error code.
    fn send_raw(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let headers = self.headers(method, path, "", body, &[]);
        let host = self.url.trim_start_matches("http://");
        let mut sock = std::net::TcpStream::connect(host).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
        }
        req.push_str("\r\n");
        sock.write_all(req.as_bytes()).unwrap();
        sock.write_all(body).unwrap();
        let mut answer = String::new();
        sock.read_to_string(&mut answer).unwrap();
        let status = answer[9..12].parse().unwrap();
        let code = answer
            .split("<Code>")
            .nth(1)
            .and_then(|t| t.split("</Code>").next())
            .unwrap_or("")
            .to_owned();
        (status, code)
    }

    /// Sends `method path?query` with `body`, signed (payload hash included).
    fn send(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> reqwest::blocking::Response {
        let mut headers = self.headers(method, path, query, &body, extra);
        headers.remove("host");
        let url = if query.is_empty() {
            format!("{}{path}", self.url)
        } else {
            format!("{}{path}?{query}", self.url)
        };
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
            .request(method.parse().unwrap(), url)
            .headers(headers)
            .body(body)
            .send()
            .unwrap()
    }
}

/// The `<Code>` of an S3 error answer.
fn code(r: reqwest::blocking::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|t| t.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

fn python(env: &std::collections::HashMap<String, String>) -> String {
    let py = env.get("S3PY").cloned().unwrap_or_default();
    assert!(
        !py.is_empty(),
        "interop/setup.sh could not install the S3 clients (boto3, the AWS CLI) from PyPI"
    );
    py
}

#[test]
fn real_s3_clients_and_the_ceph_suite_against_the_service() {
    let env = harness();
    let py = python(&env);
    let rclone = env.get("RCLONE").cloned().unwrap_or_default();
    assert!(
        !rclone.is_empty(),
        "interop/setup.sh could not install rclone (Debian)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut procs, api) = ipfs_daemon(dir.path());
    // No chain here: buckets order nothing unless asked (--replicas 0); the order path is the
    // other test's. Parts may be small so that 10 000 of them fit in a test.
    let unused_chain = format!("http://127.0.0.1:{}", free_port());
    let url = s3_service(
        &mut procs,
        dir.path(),
        &api,
        &unused_chain,
        &["--replicas", "0", "--min-part-size", "5MiB"],
    );

    // 1. boto3, the AWS CLI and rclone.
    let dave = access_key(&url, "//Dave", "session");
    let aws = Path::new(&py).with_file_name("aws");
    let out = Command::new(&py)
        .arg(interop_dir().join("s3/session.py"))
        .args([
            "--endpoint",
            &url,
            "--access-key",
            &dave.0,
            "--secret-key",
            &dave.1,
        ])
        .arg("--work")
        .arg(dir.path().join("session"))
        .arg("--aws")
        .arg(&aws)
        .args(["--rclone", &rclone, "--big-mib", "200"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the client session failed");
    assert!(text.contains("session: all steps passed"));

    // 2. Ceph's s3-tests, core selection; every failure must be a known one.
    let suite = interop_dir().join("../../shared/vendor/s3-tests-8f0ae7b");
    assert!(
        suite.join("s3tests/functional/test_s3.py").exists(),
        "the s3-tests suite is not at {}",
        suite.display()
    );
    let users: Vec<String> = [
        ("//Alice", "main"),
        ("//Bob", "alt"),
        ("//Charlie", "tenant"),
    ]
    .iter()
    .map(|(who, label)| {
        let (id, secret) = access_key(&url, who, label);
        format!("{id}:{secret}:{}", address(who))
    })
    .collect();
    let out = Command::new(&py)
        .arg(interop_dir().join("s3/s3tests.py"))
        .arg("--suite")
        .arg(&suite)
        .args(["--endpoint", url.trim_start_matches("http://")])
        .arg("--out")
        .arg(dir.path().join("s3tests"))
        .arg("--known")
        .arg(interop_dir().join("s3/known-failures.txt"))
        .args([
            "--main", &users[0], "--alt", &users[1], "--tenant", &users[2],
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("s3-tests core selection: "),
        "the suite did not run"
    );
    assert!(
        out.status.success(),
        "s3-tests failed beyond the known failures"
    );

    // 3. Hostile requests: each its own S3 error.
    let eve = access_key(&url, "//Eve", "hostile");
    let s3 = Signer::new(&url, &eve);
    assert_eq!(s3.send("PUT", "/hostile", "", vec![], &[]).status(), 200);
    let wrong_secret = Signer {
        secret: "not-the-secret".into(),
        ..Signer::new(&url, &eve)
    };
    assert_eq!(
        code(wrong_secret.send("GET", "/hostile", "", vec![], &[])),
        (403, "SignatureDoesNotMatch".into())
    );
    let skewed = Signer {
        skew: -20 * 60,
        ..Signer::new(&url, &eve)
    };
    assert_eq!(
        code(skewed.send("GET", "/hostile", "", vec![], &[])),
        (403, "RequestTimeTooSkewed".into())
    );
    let elsewhere = Signer {
        region: "eu-west-1".into(),
        ..Signer::new(&url, &eve)
    };
    assert_eq!(
        code(elsewhere.send("GET", "/hostile", "", vec![], &[])),
        (400, "AuthorizationHeaderMalformed".into())
    );
    let stranger = Signer {
        access_key: "CRSTNOSUCHKEY0000000".into(),
        ..Signer::new(&url, &eve)
    };
    assert_eq!(
        code(stranger.send("GET", "/hostile", "", vec![], &[])),
        (403, "InvalidAccessKeyId".into())
    );
    let r = reqwest::blocking::get(format!("{url}/hostile")).unwrap();
    assert_eq!(code(r), (403, "AccessDenied".into()), "anonymous requests");
    let big = "x".repeat(20 * 1024);
    assert_eq!(
        code(s3.send("GET", "/hostile", "", vec![], &[("x-padding", &big)])),
        (400, "RequestHeaderSectionTooLarge".into())
    );
    let meta = "y".repeat(3000);
    assert_eq!(
        code(s3.send(
            "PUT",
            "/hostile/m",
            "",
            b"1".to_vec(),
            &[("x-amz-meta-big", &meta)]
        )),
        (400, "MetadataTooLarge".into())
    );
    for key in [
        "/hostile/../etc/passwd",
        "/hostile/a/./b",
        "/hostile/%2E%2E/x",
        "/hostile/..",
    ] {
        assert_eq!(
            s3.send_raw("PUT", key, b"1"),
            (400, "InvalidArgument".into()),
            "{key}"
        );
    }
    assert_eq!(
        code(s3.send(
            "PUT",
            "/hostile/d",
            "",
            b"abc".to_vec(),
            &[("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")]
        )),
        (400, "BadDigest".into())
    );
    assert_eq!(
        code(s3.send("GET", "/hostile/d", "", vec![], &[])),
        (404, "NoSuchKey".into()),
        "a refused body leaves no object"
    );

    // A bucket exports as one UnixFS directory: the same CID `crust add -r` (and `ipfs add -r`)
    // gives the same tree of files.
    assert_eq!(s3.send("PUT", "/tree", "", vec![], &[]).status(), 200);
    let local = dir.path().join("tree");
    for (key, body) in [
        ("docs/a.txt", "alpha"),
        ("docs/b/c.txt", "gamma"),
        ("top.txt", "top"),
        ("big/blob", &"z".repeat(600_000)),
    ] {
        assert_eq!(
            s3.send(
                "PUT",
                &format!("/tree/{key}"),
                "",
                body.as_bytes().to_vec(),
                &[]
            )
            .status(),
            200
        );
        let path = local.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let r = s3.send("GET", "/tree", "crust-directory", vec![], &[]);
    assert_eq!(r.status(), 200);
    let exported = r.headers()["x-crust-cid"].to_str().unwrap().to_owned();
    let added = crust(&["add", "-r", "-n", "-q", local.to_str().unwrap()]);
    assert_eq!(
        exported,
        added.trim().lines().last().unwrap(),
        "the bucket's directory is `add -r` of the same tree"
    );
    let listing = reqwest::blocking::Client::new()
        .post(format!("{api}/api/v0/ls?arg={exported}/docs"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        listing.contains("\"a.txt\"") && listing.contains("\"b\""),
        "{listing}"
    );

    // A multipart upload: part 10 001 is refused, and clients that vanish mid-part leave no
    // part behind.
    let r = s3.send("POST", "/hostile/many", "uploads", vec![], &[]);
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    let upload = body
        .split("<UploadId>")
        .nth(1)
        .unwrap()
        .split("</UploadId>")
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        code(s3.send(
            "PUT",
            "/hostile/many",
            &format!("partNumber=10001&uploadId={upload}"),
            b"x".to_vec(),
            &[]
        )),
        (400, "InvalidArgument".into())
    );
    // A client that vanishes halfway through a part: no part appears.
    {
        let host = url.trim_start_matches("http://");
        let mut sock = std::net::TcpStream::connect(host).unwrap();
        let date = amz_date(0);
        write!(
            sock,
            "PUT /hostile/many?partNumber=1&uploadId={upload} HTTP/1.1\r\nHost: {host}\r\nx-amz-date: {date}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 10485760\r\nAuthorization: AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000\r\n\r\n",
            eve.0,
            &date[..8]
        )
        .unwrap();
        let _ = sock.write_all(&vec![7u8; 1 << 20]);
        drop(sock);
        // (The signature above is wrong on purpose too: either way nothing may be recorded.)
    }
    let r = s3.send(
        "GET",
        "/hostile/many",
        &format!("uploadId={upload}"),
        vec![],
        &[],
    );
    assert!(
        !r.text().unwrap().contains("<Part>"),
        "no part from a vanished client"
    );
    // Now a signed, well-formed client that vanishes halfway.
    {
        let host = url.trim_start_matches("http://");
        let date = amz_date(0);
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_str(host).unwrap());
        headers.insert("x-amz-date", HeaderValue::from_str(&date).unwrap());
        headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        let path = "/hostile/many";
        let query = format!("partNumber=1&uploadId={upload}");
        let req = crust_s3::sigv4::Request {
            method: "PUT",
            path,
            query: &query,
            headers: &headers,
        };
        let signed = ["host", "x-amz-content-sha256", "x-amz-date"];
        let canonical =
            crust_s3::sigv4::canonical_request(&req, None, &signed, "UNSIGNED-PAYLOAD").unwrap();
        let scope = format!("{}/us-east-1/s3/aws4_request", &date[..8]);
        let key = crust_s3::sigv4::signing_key(&eve.1, &date[..8], "us-east-1", "s3");
        let sts = crust_s3::sigv4::string_to_sign(&date, &scope, &canonical);
        let signature = crust_s3::sigv4::hex(&crust_s3::sigv4::hmac(&key, sts.as_bytes()));
        let mut sock = std::net::TcpStream::connect(host).unwrap();
        write!(
            sock,
            "PUT {path}?{query} HTTP/1.1\r\nHost: {host}\r\nx-amz-date: {date}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 10485760\r\nAuthorization: AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}\r\n\r\n",
            eve.0
        )
        .unwrap();
        sock.write_all(&vec![7u8; 3 << 20]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(sock);
    }
    std::thread::sleep(Duration::from_millis(500));
    let r = s3.send(
        "GET",
        "/hostile/many",
        &format!("uploadId={upload}"),
        vec![],
        &[],
    );
    assert!(
        !r.text().unwrap().contains("<Part>"),
        "no part from a vanished client"
    );

    // 10 000 parts of 5 MiB would be 50 GB: the 10 000-part upload runs on a second service
    // whose minimum part size is 1 byte.
    drop(s3);
    many_parts(dir.path(), &api, &unused_chain);

    // 4. Everything the daemon keeps pinned is some object's content (no leaks from refused,
    // replaced, deleted or vanished uploads), once the release queue is worked off.
    let s3 = Signer::new(&url, &eve);
    assert_eq!(
        s3.send(
            "DELETE",
            "/hostile/many",
            &format!("uploadId={upload}"),
            vec![],
            &[]
        )
        .status(),
        204
    );
    wait("the daemon's pins to be the objects' content", 60, || {
        let pins = daemon_pins(&api);
        let held = every_object_cid(&url, &[&dave, &eve]);
        (pins == held).then_some(())
    });
    drop(procs);
}

/// A service whose minimum part size is 1 byte takes a 10 000-part upload; part 10 001 is
/// refused; the object reads back whole and names its part count.
fn many_parts(dir: &Path, api: &str, chain: &str) {
    let dir = dir.join("many");
    std::fs::create_dir_all(&dir).unwrap();
    let mut procs = Procs(Vec::new());
    let url = s3_service(
        &mut procs,
        &dir,
        api,
        chain,
        &["--replicas", "0", "--min-part-size", "1"],
    );
    let key = access_key(&url, "//Eve", "many");
    let pins_before = daemon_pins(api);
    let s3 = Signer::new(&url, &key);
    assert_eq!(s3.send("PUT", "/many", "", vec![], &[]).status(), 200);
    let r = s3.send("POST", "/many/object", "uploads", vec![], &[]);
    let body = r.text().unwrap();
    let upload = body
        .split("<UploadId>")
        .nth(1)
        .unwrap()
        .split("</UploadId>")
        .next()
        .unwrap()
        .to_owned();
    const PARTS: u32 = 10_000;
    let etags: Vec<std::sync::Mutex<String>> = (0..PARTS)
        .map(|_| std::sync::Mutex::new(String::new()))
        .collect();
    let next = std::sync::atomic::AtomicU32::new(1);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let s3 = Signer::new(&url, &key);
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n > PARTS {
                        break;
                    }
                    let r = s3.send(
                        "PUT",
                        "/many/object",
                        &format!("partNumber={n}&uploadId={upload}"),
                        format!("part {n:05};").into_bytes(),
                        &[],
                    );
                    assert_eq!(r.status(), 200, "part {n}");
                    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
                    *etags[(n - 1) as usize].lock().unwrap() = etag;
                }
            });
        }
    });
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, e) in etags.iter().enumerate() {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            e.lock().unwrap()
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let r = s3.send(
        "POST",
        "/many/object",
        &format!("uploadId={upload}"),
        xml.into_bytes(),
        &[],
    );
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("-10000&quot;</ETag>"));
    let r = s3.send("GET", "/many/object", "", vec![], &[]);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-amz-mp-parts-count"], "10000");
    let mut got = Vec::new();
    let mut r = r;
    r.read_to_end(&mut got).unwrap();
    let want: String = (1..=PARTS).map(|n| format!("part {n:05};")).collect();
    assert_eq!(got, want.as_bytes(), "10 000 parts read back in order");
    let r = s3.send("GET", "/many/object", "partNumber=9999", vec![], &[]);
    assert_eq!(r.text().unwrap(), "part 09999;");
    assert_eq!(
        s3.send("DELETE", "/many/object", "", vec![], &[]).status(),
        204
    );
    assert_eq!(s3.send("DELETE", "/many", "", vec![], &[]).status(), 204);
    // The release queue of this service is worked off before it stops.
    wait("the 10 000-part object's pins to go", 60, || {
        (daemon_pins(api) == pins_before).then_some(())
    });
}

/// The daemon's recursive pins.
fn daemon_pins(api: &str) -> std::collections::BTreeSet<String> {
    let r = reqwest::blocking::Client::new()
        .post(format!("{api}/api/v0/pin/ls?type=recursive"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    v["Keys"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The CIDs of every object in every bucket of these keys' accounts.
fn every_object_cid(url: &str, keys: &[&(String, String)]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for key in keys {
        let s3 = Signer::new(url, key);
        let list = s3.send("GET", "/", "", vec![], &[]).text().unwrap();
        for bucket in list.split("<Name>").skip(1) {
            let bucket = bucket.split("</Name>").next().unwrap();
            let objects = s3
                .send("GET", &format!("/{bucket}"), "list-type=2", vec![], &[])
                .text()
                .unwrap();
            for cid in objects.split("<Cid>").skip(1) {
                out.insert(cid.split("</Cid>").next().unwrap().to_owned());
            }
        }
    }
    out
}

fn free(chain: &str, who: &str) -> u128 {
    rpc_call(chain, "state_account", json!({ "account": who }))["free"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn objects_are_ordered_for_the_bucket_owner_and_reach_their_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let (mut procs, chain, api, ipfs_addr) = chain_and_ipfs(dir.path());
    for (name, account) in [("bob", "//Bob"), ("charlie", "//Charlie")] {
        let (child, _) = sworker(&dir.path().join(name), account, &chain, &ipfs_addr);
        procs.0.push(child);
    }
    let url = s3_service(&mut procs, dir.path(), &api, &chain, &["--replicas", "2"]);

    // Alice approves the service on chain and makes a key; Dave only makes a key.
    crust(&[
        "s3",
        "approve",
        "--service",
        &url,
        "--cap",
        "1CRU",
        "--from",
        "//Alice",
        "--chain",
        &chain,
    ]);
    let alice = Signer::new(&url, &access_key(&url, "//Alice", "laptop"));
    let dave = Signer::new(&url, &access_key(&url, "//Dave", "laptop"));
    let alice_before = free(&chain, &address("//Alice"));

    assert_eq!(
        alice
            .send(
                "PUT",
                "/photos",
                "",
                vec![],
                &[("x-crust-bucket-replicas", "2")]
            )
            .status(),
        200
    );
    let photo: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = alice.send("PUT", "/photos/cat.jpg", "", photo.clone(), &[]);
    assert_eq!(r.status(), 200);
    let cid = r.headers()["x-crust-cid"].to_str().unwrap().to_owned();
    assert_eq!(dave.send("PUT", "/dave", "", vec![], &[]).status(), 200);
    assert_eq!(
        dave.send("PUT", "/dave/note.txt", "", b"unpaid".to_vec(), &[])
            .status(),
        200
    );

    // Alice's object is ordered (she pays, through her approval) and reaches 2 replicas.
    let head = wait(
        "the object's order to be stored with 2 replicas",
        240,
        || {
            let r = alice.send("HEAD", "/photos/cat.jpg", "", vec![], &[]);
            let h = r.headers().clone();
            (h.get("x-crust-order").is_some_and(|v| v == "stored")).then_some(h)
        },
    );
    assert_eq!(head["x-crust-replicas"], "2/2");
    assert!(head.contains_key("x-crust-expires-at"));
    assert!(
        free(&chain, &address("//Alice")) < alice_before,
        "Alice paid for her object"
    );
    // Dave approved nothing: his order is refused with the chain's reason, and he pays nothing.
    let h = wait("Dave's order to be refused", 60, || {
        let r = dave.send("HEAD", "/dave/note.txt", "", vec![], &[]);
        let h = r.headers().clone();
        (h.get("x-crust-order").is_some_and(|v| v == "refused")).then_some(h)
    });
    println!("Dave's order: {:?}", h.get("x-crust-order-error"));
    assert!(h.get("x-crust-order-error").is_some());

    // The object reads back; deleting it releases the service's copy on its daemon.
    let mut got = Vec::new();
    alice
        .send("GET", "/photos/cat.jpg", "", vec![], &[])
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, photo);
    assert_eq!(
        alice
            .send("DELETE", "/photos/cat.jpg", "", vec![], &[])
            .status(),
        204
    );
    wait("the service to unpin the deleted object", 60, || {
        (!daemon_pins(&api).contains(&cid)).then_some(())
    });
    drop(procs);
}

#[test]
fn a_crash_mid_upload_leaves_no_object_and_nothing_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, api) = ipfs_daemon(dir.path());
    let chain = format!("http://127.0.0.1:{}", free_port());
    let mut service = Procs(Vec::new());
    let url = s3_service(&mut service, dir.path(), &api, &chain, &["--replicas", "0"]);
    let key = access_key(&url, "//Alice", "crash");
    let s3 = Signer::new(&url, &key);
    assert_eq!(s3.send("PUT", "/crash", "", vec![], &[]).status(), 200);
    assert_eq!(
        s3.send("PUT", "/crash/kept", "", b"kept".to_vec(), &[])
            .status(),
        200
    );

    // A 64 MiB upload, 24 MiB of it sent, and then the service is killed (SIGKILL).
    let host = url.trim_start_matches("http://").to_owned();
    let headers = s3.headers_with("PUT", "/crash/big", "", "UNSIGNED-PAYLOAD", &[]);
    let mut sock = std::net::TcpStream::connect(&host).unwrap();
    let mut req = "PUT /crash/big HTTP/1.1\r\ncontent-length: 67108864\r\n".to_owned();
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    req.push_str("\r\n");
    sock.write_all(req.as_bytes()).unwrap();
    for _ in 0..24 {
        sock.write_all(&vec![9u8; 1 << 20]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    for child in &mut service.0 {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    drop(sock);

    // Restarted on the same database: no half object, the other one intact.
    let mut service = Procs(Vec::new());
    std::fs::remove_file(dir.path().join("s3/addr")).unwrap();
    let url = s3_service(&mut service, dir.path(), &api, &chain, &["--replicas", "0"]);
    let s3 = Signer::new(&url, &key);
    assert_eq!(code(s3.send("HEAD", "/crash/big", "", vec![], &[])).0, 404);
    let mut kept = String::new();
    s3.send("GET", "/crash/kept", "", vec![], &[])
        .read_to_string(&mut kept)
        .unwrap();
    assert_eq!(kept, "kept");
    // The daemon pins only the surviving object, and collecting garbage removes the partial
    // upload's blocks (a second collection finds nothing left).
    let pins = daemon_pins(&api);
    assert_eq!(pins, every_object_cid(&url, &[&key]));
    let gc = |api: &str| -> u64 {
        let answer: serde_json::Value = serde_json::from_str(
            &reqwest::blocking::Client::new()
                .post(format!("{api}/api/v0/repo/gc"))
                .send()
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        answer["RemovedBlocks"].as_u64().unwrap()
    };
    let removed = gc(&api);
    assert!(removed > 0, "the partial upload's blocks were collected");
    assert_eq!(gc(&api), 0);
    let mut again = String::new();
    s3.send("GET", "/crash/kept", "", vec![], &[])
        .read_to_string(&mut again)
        .unwrap();
    assert_eq!(again, "kept");
    drop(service);
    drop(daemon);
}
