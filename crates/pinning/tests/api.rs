//! The Pinning Service API over a real socket and a real on-disk database: tokens made by
//! signed requests, every route, every filter, paging, isolation between accounts, hostile
//! input, and what survives a restart.

#![allow(clippy::unwrap_used)] // test code: a failure is a test failure

use crust_pinning::auth::sign_request;
use crust_pinning::{Service, Store};
use crust_primitives::Keypair;
use serde_json::{Value, json};
use std::sync::Arc;

struct Server {
    url: String,
    http: reqwest::blocking::Client,
    service: Keypair,
    _rt: tokio::runtime::Runtime,
}

/// The web origin the test servers let call them from a browser.
const CONSOLE: &str = "http://127.0.0.1:9933";

fn start(dir: &std::path::Path) -> Server {
    start_with_cap(dir, crust_pinning::api::DEFAULT_PIN_CAP)
}

fn start_with_cap(dir: &std::path::Path, cap: u64) -> Server {
    start_with(dir, cap, None)
}

fn start_with(
    dir: &std::path::Path,
    cap: u64,
    web3: Option<(Arc<dyn crust_pinning::web3::Approvals>, u64)>,
) -> Server {
    start_full(dir, cap, web3, None)
}

fn start_full(
    dir: &std::path::Path,
    cap: u64,
    web3: Option<(Arc<dyn crust_pinning::web3::Approvals>, u64)>,
    uploads: Option<(&str, u64)>,
) -> Server {
    let service = Keypair::from_suri("//PinningService").unwrap();
    let store = Store::open(&dir.join("pins.redb")).unwrap();
    let mut state = Service::new(
        store,
        service.public(),
        vec![
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
                .into(),
        ],
    )
    .with_pin_cap(cap);
    if let Some((approvals, recheck_ms)) = web3 {
        state = state.with_web3(approvals, recheck_ms);
    }
    if let Some((api, max)) = uploads {
        state = state.with_uploads(api, max);
    }
    let state = Arc::new(state);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        // A console at CONSOLE may call the service from a browser (requests without an
        // Origin, as every other test sends, are unaffected).
        let cors = crust_pinning::api::cors(&[CONSOLE.to_owned()]).unwrap();
        axum::serve(listener, crust_pinning::router(state).layer(cors))
            .await
            .unwrap();
    });
    Server {
        url: format!("http://{addr}"),
        http: reqwest::blocking::Client::new(),
        service,
        _rt: rt,
    }
}

impl Server {
    fn token_request(
        &self,
        who: &Keypair,
        action: &str,
        label: &str,
        days: Option<u32>,
    ) -> (u16, Value) {
        let req = sign_request(
            who,
            &self.service.public(),
            action,
            label,
            days,
            crust_pinning::time::now_ms(),
        );
        self.send(
            "POST",
            "/tokens",
            None,
            Some(serde_json::to_value(&req).unwrap()),
        )
    }

    fn token(&self, who: &Keypair, label: &str) -> String {
        let (code, body) = self.token_request(who, "create", label, None);
        assert_eq!(code, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut r = match method {
            "GET" => self.http.get(&url),
            "POST" => self.http.post(&url),
            "DELETE" => self.http.delete(&url),
            _ => unreachable!(),
        };
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let out = r.send().unwrap();
        let code = out.status().as_u16();
        let text = out.text().unwrap();
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn cid(n: u32) -> String {
    let digest: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(n.to_le_bytes()).into()
    };
    crust_primitives::Cid::v1_sha256(0x55, digest).to_string()
}

#[test]
fn tokens_are_made_by_signed_requests_and_guard_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let alice = Keypair::from_suri("//Alice").unwrap();
    let bob = Keypair::from_suri("//Bob").unwrap();

    // No token, a malformed header, an unknown token: 401 with the spec's error body.
    for token in [None, Some("nonsense"), Some("crustpin_unknown")] {
        let (code, body) = s.send("GET", "/pins", token, None);
        assert_eq!(code, 401, "{body}");
        assert_eq!(body["error"]["reason"], "UNAUTHORIZED");
    }
    let (code, _) = s.send("POST", "/pins", None, Some(json!({"cid": cid(1)})));
    assert_eq!(code, 401);

    // A request signed for another service, or by another key, or too old, is refused.
    let other = Keypair::from_suri("//Other").unwrap();
    let mut req = sign_request(
        &alice,
        &other.public(),
        "create",
        "laptop",
        None,
        crust_pinning::time::now_ms(),
    );
    let (code, _) = s.send(
        "POST",
        "/tokens",
        None,
        Some(serde_json::to_value(&req).unwrap()),
    );
    assert_eq!(code, 401);
    req = sign_request(
        &alice,
        &s.service.public(),
        "create",
        "laptop",
        None,
        crust_pinning::time::now_ms(),
    );
    req.account = bob.public();
    let (code, _) = s.send(
        "POST",
        "/tokens",
        None,
        Some(serde_json::to_value(&req).unwrap()),
    );
    assert_eq!(code, 401);
    let stale = sign_request(
        &alice,
        &s.service.public(),
        "create",
        "laptop",
        None,
        crust_pinning::time::now_ms() - 10 * 60 * 1000,
    );
    let (code, _) = s.send(
        "POST",
        "/tokens",
        None,
        Some(serde_json::to_value(&stale).unwrap()),
    );
    assert_eq!(code, 401);

    // Made, listed (never shown again), unique per label, revoked.
    let token = s.token(&alice, "laptop");
    assert!(token.starts_with("crustpin_"));
    let (code, _) = s.token_request(&alice, "create", "laptop", None);
    assert_eq!(code, 409);
    let (code, _) = s.token_request(&alice, "create", "phone", Some(400));
    assert_eq!(code, 400, "at most 365 days");
    let (code, body) = s.token_request(&alice, "list", "", None);
    assert_eq!(code, 200);
    assert_eq!(body["tokens"][0]["label"], "laptop");
    assert!(
        body.to_string().find(&token).is_none(),
        "the token is not listed"
    );
    let (code, _) = s.send("GET", "/pins", Some(&token), None);
    assert_eq!(code, 200);
    let (code, _) = s.token_request(&alice, "revoke", "laptop", None);
    assert_eq!(code, 204);
    let (code, _) = s.send("GET", "/pins", Some(&token), None);
    assert_eq!(code, 401, "a revoked token stops working");
    let (code, _) = s.token_request(&alice, "revoke", "laptop", None);
    assert_eq!(code, 404);
}

#[test]
fn pins_are_added_read_replaced_listed_and_removed_per_account() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let alice = s.token(&Keypair::from_suri("//Alice").unwrap(), "a");
    let bob = s.token(&Keypair::from_suri("//Bob").unwrap(), "b");

    let (code, added) = s.send(
        "POST",
        "/pins",
        Some(&alice),
        Some(json!({"cid": cid(1), "name": "Holiday Photos", "meta": {"app": "test"},
                    "origins": ["/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"]})),
    );
    assert_eq!(code, 202, "{added}");
    assert_eq!(added["status"], "queued");
    assert_eq!(added["pin"]["name"], "Holiday Photos");
    assert!(!added["delegates"].as_array().unwrap().is_empty());
    assert!(added["created"].as_str().unwrap().ends_with('Z'));
    let id = added["requestid"].as_str().unwrap().to_owned();

    let (code, got) = s.send("GET", &format!("/pins/{id}"), Some(&alice), None);
    assert_eq!(code, 200);
    assert_eq!(got, added);
    // Another account's request does not exist for Bob.
    let (code, body) = s.send("GET", &format!("/pins/{id}"), Some(&bob), None);
    assert_eq!(code, 404);
    assert_eq!(body["error"]["reason"], "NOT_FOUND");
    let (code, _) = s.send("DELETE", &format!("/pins/{id}"), Some(&bob), None);
    assert_eq!(code, 404);

    // Listing: with no filter only `pinned` ones; with any filter every status unless asked.
    let (_, page) = s.send("GET", "/pins", Some(&alice), None);
    assert_eq!(page["count"], 0);
    let (_, page) = s.send("GET", "/pins?name=Holiday%20Photos", Some(&alice), None);
    assert_eq!(page["count"], 1);
    let (_, page) = s.send(
        "GET",
        "/pins?name=Holiday%20Photos&status=pinned",
        Some(&alice),
        None,
    );
    assert_eq!(page["count"], 0);
    let (_, page) = s.send(
        "GET",
        "/pins?status=queued,pinning,pinned,failed",
        Some(&alice),
        None,
    );
    assert_eq!(page["count"], 1);
    let (_, page) = s.send("GET", "/pins?status=queued", Some(&bob), None);
    assert_eq!(page["count"], 0, "Bob sees none of Alice's");

    // Name matching in all four modes, CID and meta filters.
    for (q, n) in [
        ("name=Holiday%20Photos", 1),
        ("name=holiday%20photos", 0),
        ("name=holiday%20photos&match=iexact", 1),
        ("name=Photos&match=partial", 1),
        ("name=photos&match=partial", 0),
        ("name=photos&match=ipartial", 1),
    ] {
        let (code, page) = s.send(
            "GET",
            &format!("/pins?status=queued&{q}"),
            Some(&alice),
            None,
        );
        assert_eq!(code, 200, "{q}");
        assert_eq!(page["count"], n, "{q}");
    }
    let (_, page) = s.send(
        "GET",
        &format!("/pins?status=queued&cid={},{}", cid(1), cid(2)),
        Some(&alice),
        None,
    );
    assert_eq!(page["count"], 1);
    let meta = urlencode(r#"{"app":"test"}"#);
    let (_, page) = s.send(
        "GET",
        &format!("/pins?status=queued&meta={meta}"),
        Some(&alice),
        None,
    );
    assert_eq!(page["count"], 1);
    let meta = urlencode(r#"{"app":"other"}"#);
    let (_, page) = s.send(
        "GET",
        &format!("/pins?status=queued&meta={meta}"),
        Some(&alice),
        None,
    );
    assert_eq!(page["count"], 0);

    // Replace: a new id, the old one gone.
    let (code, replaced) = s.send(
        "POST",
        &format!("/pins/{id}"),
        Some(&alice),
        Some(json!({"cid": cid(2)})),
    );
    assert_eq!(code, 202);
    let new_id = replaced["requestid"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(
        s.send("GET", &format!("/pins/{id}"), Some(&alice), None).0,
        404
    );
    assert_eq!(
        s.send("GET", &format!("/pins/{new_id}"), Some(&alice), None)
            .0,
        200
    );

    // Delete.
    assert_eq!(
        s.send("DELETE", &format!("/pins/{new_id}"), Some(&alice), None)
            .0,
        202
    );
    assert_eq!(
        s.send("GET", &format!("/pins/{new_id}"), Some(&alice), None)
            .0,
        404
    );
    assert_eq!(
        s.send("DELETE", &format!("/pins/{new_id}"), Some(&alice), None)
            .0,
        404
    );
}

#[test]
fn pages_by_creation_time_never_skip_or_repeat_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_suri("//Alice").unwrap();
    let token;
    {
        let s = start(dir.path());
        token = s.token(&alice, "a");
        for n in 0..25 {
            let (code, _) = s.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(n)})));
            assert_eq!(code, 202);
        }
    }
    // Restarted on the same database: the token and every pin are still there.
    let s = start(dir.path());
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut q = "/pins?status=queued&limit=10".to_owned();
        if let Some(b) = &before {
            q.push_str(&format!("&before={}", urlencode(b)));
        }
        let (code, page) = s.send("GET", &q, Some(&token), None);
        assert_eq!(code, 200, "{page}");
        let results = page["results"].as_array().unwrap().clone();
        if results.is_empty() {
            break;
        }
        for r in &results {
            seen.push(r["pin"]["cid"].as_str().unwrap().to_owned());
        }
        before = Some(
            results.last().unwrap()["created"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let expected: Vec<String> = (0..25).rev().map(cid).collect();
    assert_eq!(seen, expected, "newest first, each once");
    let (_, page) = s.send("GET", "/pins?status=queued&limit=1", Some(&token), None);
    assert_eq!(page["count"], 25, "count is every match, not the page");
}

#[test]
fn hostile_input_is_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let token = s.token(&Keypair::from_suri("//Alice").unwrap(), "a");
    let too_many: Vec<String> = (0..1000).map(cid).collect();
    let big_meta: serde_json::Map<String, Value> =
        (0..1001).map(|i| (format!("k{i}"), json!("v"))).collect();
    let origins: Vec<String> = (0..21).map(|i| format!("/ip4/10.0.0.{i}/tcp/1")).collect();
    for (method, path, body) in [
        (
            "POST",
            "/pins".to_owned(),
            Some(json!({"cid": "not-a-cid"})),
        ),
        ("POST", "/pins".to_owned(), Some(json!({"name": "no cid"}))),
        (
            "POST",
            "/pins".to_owned(),
            Some(json!({"cid": cid(1), "meta": big_meta})),
        ),
        (
            "POST",
            "/pins".to_owned(),
            Some(json!({"cid": cid(1), "origins": origins})),
        ),
        (
            "POST",
            "/pins".to_owned(),
            Some(json!({"cid": cid(1), "name": "x".repeat(256)})),
        ),
        ("GET", format!("/pins?cid={}", too_many.join(",")), None),
        ("GET", "/pins?status=lost".to_owned(), None),
        ("GET", "/pins?match=fuzzy&name=a".to_owned(), None),
        ("GET", "/pins?limit=0".to_owned(), None),
        ("GET", "/pins?limit=1001".to_owned(), None),
        ("GET", "/pins?before=yesterday".to_owned(), None),
        ("GET", "/pins?meta=notjson".to_owned(), None),
    ] {
        let (code, body) = s.send(method, &path, Some(&token), body);
        assert_eq!(
            code,
            400,
            "{method} {}: {body}",
            &path[..path.len().min(60)]
        );
        assert_eq!(body["error"]["reason"], "BAD_REQUEST");
        assert!(body["error"]["details"].is_string());
    }
    // Paging past the end is an empty page, not an error.
    let (code, page) = s.send(
        "GET",
        "/pins?status=queued&before=1971-01-01T00:00:00Z",
        Some(&token),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(page["count"], 0);
    assert_eq!(
        s.send(
            "GET",
            &format!("/pins/{}", "f".repeat(500)),
            Some(&token),
            None
        )
        .0,
        404
    );
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An account keeps at most the service's cap of pin requests, even when it sends many at
/// once; replacing one does not count, deleting one makes room, other accounts are not
/// affected, and the count survives a restart.
#[test]
fn each_account_keeps_at_most_the_cap_of_pin_requests() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Keypair::from_suri("//Alice").unwrap();
    let bob = Keypair::from_suri("//Bob").unwrap();
    let (token, other) = {
        let server = start_with_cap(dir.path(), 3);
        let token = server.token(&alice, "laptop");
        let other = server.token(&bob, "phone");
        let server = Arc::new(server);
        let codes: Vec<(u16, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (server, token) = (server.clone(), token.clone());
                    s.spawn(move || {
                        server.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(i)})))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let accepted = codes.iter().filter(|(c, _)| *c == 202).count();
        assert_eq!(accepted, 3, "{codes:?}");
        for (code, body) in codes.iter().filter(|(c, _)| *c != 202) {
            assert_eq!(*code, 403, "{body}");
            assert_eq!(body["error"]["reason"], "PIN_LIMIT_REACHED", "{body}");
        }
        // Bob has his own allowance.
        let (code, _) = server.send("POST", "/pins", Some(&other), Some(json!({"cid": cid(50)})));
        assert_eq!(code, 202);
        // Replacing a request is not a new one.
        let (_, list) = server.send("GET", "/pins?status=queued", Some(&token), None);
        let first = list["results"][0]["requestid"].as_str().unwrap().to_owned();
        let (code, body) = server.send(
            "POST",
            &format!("/pins/{first}"),
            Some(&token),
            Some(json!({"cid": cid(60)})),
        );
        assert_eq!(code, 202, "{body}");
        let replaced = body["requestid"].as_str().unwrap().to_owned();
        // Deleting one makes room for one.
        let (code, _) = server.send("DELETE", &format!("/pins/{replaced}"), Some(&token), None);
        assert_eq!(code, 202);
        let (code, _) = server.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(70)})));
        assert_eq!(code, 202);
        let (code, _) = server.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(71)})));
        assert_eq!(code, 403);
        (token, other)
    };
    // After a restart the count is the same.
    let server = start_with_cap(dir.path(), 3);
    let (code, _) = server.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(72)})));
    assert_eq!(code, 403);
    let (code, _) = server.send("POST", "/pins", Some(&other), Some(json!({"cid": cid(73)})));
    assert_eq!(code, 202);
}

/// The chain's approvals as the web3 gate sees them: who has a live approval, whether the chain
/// answers, and how often it was asked (a stand-in for the node's chain reads, which
/// crates/node/tests/pinning.rs checks against a real chain).
#[derive(Default)]
struct Approvals {
    live: std::sync::Mutex<std::collections::HashSet<crust_primitives::AccountId>>,
    down: std::sync::atomic::AtomicBool,
    asked: std::sync::atomic::AtomicUsize,
}

impl crust_pinning::web3::Approvals for Approvals {
    fn live(&self, payer: &crust_primitives::AccountId) -> Result<bool, String> {
        use std::sync::atomic::Ordering::SeqCst;
        self.asked.fetch_add(1, SeqCst);
        if self.down.load(SeqCst) {
            return Err("connection refused".into());
        }
        Ok(self.live.lock().unwrap().contains(payer))
    }
}

#[test]
fn web3_tokens_work_while_the_accounts_approval_of_the_service_lasts() {
    use base64::Engine as _;
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let approvals = Arc::new(Approvals::default());
    let alice = Keypair::from_suri("//Alice").unwrap();
    let bob = Keypair::from_suri("//Bob").unwrap();
    approvals.live.lock().unwrap().insert(alice.public());
    let s = start_with(
        dir.path(),
        crust_pinning::api::DEFAULT_PIN_CAP,
        Some((approvals.clone(), 400)),
    );
    let web3 = crust_pinning::auth::web3_token(&alice);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&web3)
        .unwrap();
    assert!(
        String::from_utf8(decoded)
            .unwrap()
            .starts_with(&format!("sub-{}:0x", alice.public().to_ss58()))
    );

    // Alice's web3 token pins as Alice: her service-made token sees the same pins.
    let (code, body) = s.send(
        "POST",
        "/pins",
        Some(&web3),
        Some(json!({"cid": cid(1), "name": "by web3"})),
    );
    assert_eq!(code, 202, "{body}");
    let token = s.token(&alice, "laptop");
    let (code, list) = s.send("GET", "/pins?status=queued", Some(&token), None);
    assert_eq!((code, list["count"].as_u64()), (200, Some(1)), "{list}");
    // Within the recheck time the chain is not asked again.
    let asked = approvals.asked.load(SeqCst);
    for _ in 0..5 {
        assert_eq!(s.send("GET", "/pins", Some(&web3), None).0, 200);
    }
    assert_eq!(approvals.asked.load(SeqCst), asked);

    // A wallet's signature over `<Bytes>address</Bytes>` is taken too.
    let address = alice.public().to_ss58();
    let wrapped = alice.sign(format!("<Bytes>{address}</Bytes>").as_bytes());
    let wallet = base64::engine::general_purpose::STANDARD.encode(format!(
        "sub-{address}:0x{}",
        crust_primitives::account::to_hex(&wrapped.0)
    ));
    assert_eq!(s.send("GET", "/pins", Some(&wallet), None).0, 200);

    // Bob approved nothing: refused, saying why.
    let (code, body) = s.send(
        "GET",
        "/pins",
        Some(&crust_pinning::auth::web3_token(&bob)),
        None,
    );
    assert_eq!(code, 401);
    assert!(body.to_string().contains("no live approval"), "{body}");
    // Alice's address with Bob's signature: forged.
    let forged = base64::engine::general_purpose::STANDARD.encode(format!(
        "sub-{address}:0x{}",
        crust_primitives::account::to_hex(&bob.sign(address.as_bytes()).0)
    ));
    let (code, body) = s.send("GET", "/pins", Some(&forged), None);
    assert_eq!(code, 401);
    assert!(body.to_string().contains("not the account's"), "{body}");

    // Alice revokes her approval: once the verdict is rechecked her web3 token stops working,
    // while her service-made token still reads her pins.
    approvals.live.lock().unwrap().clear();
    std::thread::sleep(std::time::Duration::from_millis(450));
    let (code, body) = s.send("GET", "/pins", Some(&web3), None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(s.send("GET", "/pins", Some(&token), None).0, 200);

    // The chain cannot be read: 503, not a refusal and not a pass.
    approvals.down.store(true, SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let carol = Keypair::from_suri("//Carol").unwrap();
    let (code, body) = s.send(
        "GET",
        "/pins",
        Some(&crust_pinning::auth::web3_token(&carol)),
        None,
    );
    assert_eq!(code, 503, "{body}");

    // A service started without a chain to ask refuses web3 tokens.
    let other = tempfile::tempdir().unwrap();
    let plain = start(other.path());
    let (code, body) = plain.send("GET", "/pins", Some(&web3), None);
    assert_eq!(code, 401);
    assert!(
        body.to_string().contains("does not take web3 tokens"),
        "{body}"
    );
}

/// Uploads are refused before anything reaches the daemon when they cannot be taken: no token
/// (401), larger than the limit (413), the account at its cap (403); a daemon that does not
/// answer is a 502, and a service started without uploads has no such route (404). The
/// accepting path, with a real daemon, chain and Kubo's CLI, is in crates/node/tests/pinning.rs.
#[test]
fn uploads_that_cannot_be_taken_are_refused_before_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, so a forwarded upload fails to connect.
    let s = start_full(dir.path(), 1, None, Some(("http://127.0.0.1:9", 1_000)));
    let alice = Keypair::from_suri("//Alice").unwrap();
    let token = s.token(&alice, "laptop");
    let post = |body: Vec<u8>, token: Option<&str>| {
        let mut r = s
            .http
            .post(format!("{}/api/v0/add", s.url))
            .header("content-type", "multipart/form-data; boundary=x")
            .body(body);
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        let out = r.send().unwrap();
        (out.status().as_u16(), out.text().unwrap())
    };
    assert_eq!(post(vec![0; 10], None).0, 401);
    let (code, body) = post(vec![0; 2_000], Some(&token));
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("at most 1000 bytes"), "{body}");
    let (code, body) = post(vec![0; 10], Some(&token));
    assert_eq!(code, 502, "{body}");
    // At the cap (1 request here) nothing is stored.
    let (code, _) = s.send("POST", "/pins", Some(&token), Some(json!({"cid": cid(1)})));
    assert_eq!(code, 202);
    let (code, body) = post(vec![0; 10], Some(&token));
    assert_eq!(code, 403, "{body}");
    // No pin request was made by any refused upload.
    let (_, list) = s.send(
        "GET",
        "/pins?status=queued,pinning,pinned,failed",
        Some(&token),
        None,
    );
    assert_eq!(list["count"], 1, "{list}");

    let other = tempfile::tempdir().unwrap();
    let plain = start(other.path());
    let out = plain
        .http
        .post(format!("{}/api/v0/add", plain.url))
        .header(
            "authorization",
            format!("Bearer {}", plain.token(&alice, "x")),
        )
        .body("x")
        .send()
        .unwrap();
    assert_eq!(out.status().as_u16(), 404);
}

/// A browser page from the console's origin may call the service (preflight answered, the
/// upload's pin-request header readable); a page from any other origin gets no CORS headers,
/// so its browser keeps the answers from it. Bad origins are refused at start.
#[test]
fn only_the_named_console_origin_may_call_from_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let preflight = |origin: &str| {
        server
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v0/add", server.url),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
            .unwrap()
    };
    let ok = preflight(CONSOLE);
    assert_eq!(ok.headers()["access-control-allow-origin"], CONSOLE);
    let allowed = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let other = preflight("http://evil.example");
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // An actual request from the console's page: the answer names the origin and exposes the
    // header that lists an upload's pin requests.
    let alice = Keypair::from_suri("//Alice").unwrap();
    let token = server.token(&alice, "browser");
    let r = server
        .http
        .get(format!("{}/pins", server.url))
        .header("origin", CONSOLE)
        .header("authorization", format!("Bearer {token}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], CONSOLE);
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-crust-pin-requests"), "{exposed}");
    for bad in [
        "127.0.0.1:9933",
        "http://host/path",
        "ftp://host",
        "http://",
    ] {
        assert!(
            crust_pinning::api::cors(&[bad.to_owned()]).is_err(),
            "{bad}"
        );
    }
}
