//! The web console: a single-page app the node serves at `/` of its RPC port.
//!
//! Its assets (HTML, CSS, JavaScript) are embedded in the `crust` binary, so the console
//! needs no CDN, no separate web server and works offline. It reads the chain through the same
//! JSON-RPC and WebSocket the CLI uses (`docs/rpc.md`), on the same origin, and never holds or
//! sends a secret key. Pages: network, market and files, a file by CID, an account, storage
//! workers, governance (`docs/console.md`). Verified mode runs the chain's own light-client
//! checks in the browser (`crates/verifier`, compiled to WebAssembly by `build.rs`).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");
const ICON: &str = include_str!("../assets/icon.svg");
const VERIFY_JS: &str = include_str!("../assets/verify.js");
/// The light client compiled to WebAssembly by `build.rs` (empty when built without it).
const VERIFIER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/verifier.wasm"));
/// The same, gzipped at build time (what nearly every browser is sent).
const VERIFIER_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/verifier.wasm.gz"));

/// Whether this build carries the verifier (verified mode).
pub fn has_verifier() -> bool {
    !VERIFIER.is_empty()
}

/// What the node tells the console about itself (`/console/info.json`).
#[derive(Clone, Debug, Default)]
pub struct ConsoleInfo {
    /// The release (`crust --version`).
    pub version: String,
    /// A gateway to link file downloads to (e.g. the devnet's IPFS node), if any.
    pub gateway: Option<String>,
    /// A pinning service the upload page sends files to (its origin joins the page's
    /// `connect-src`), if any.
    pub pinning: Option<String>,
}

/// Only our own origin (and the configured pinning service, for uploads): no inline script, no
/// third-party anything; the page cannot be framed. WebAssembly may be compiled (the verifier).
fn csp(pinning: Option<&str>) -> String {
    let upload = pinning
        .and_then(origin_of)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'self'; connect-src 'self' ws: wss:{upload}; img-src 'self' data:; \
         style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'; \
         base-uri 'none'"
    )
}

/// `scheme://host[:port]` of a URL (`None` if it is not http(s) or holds a character a policy
/// could be broken with).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    let clean = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    clean.then(|| format!("{scheme}://{host}"))
}

fn asset(csp: &HeaderValue, content_type: &'static str, body: impl IntoResponse) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// The well-known accounts and settings the console shows, as JSON.
pub fn info_json(info: &ConsoleInfo) -> serde_json::Value {
    use crust_runtime::{market, system};
    serde_json::json!({
        "version": info.version,
        "verifier": has_verifier(),
        "gateway": info.gateway,
        "pinning": info.pinning,
        "accounts": {
            "treasury": system::treasury_account().to_ss58(),
            "storage_pot": market::storage_pot().to_ss58(),
            "staking_pot": market::staking_pot().to_ss58(),
            "reserved_pot": market::reserved_pot().to_ss58(),
        },
    })
}

/// The console's routes: `GET /` (the page), `GET /console/{app.js,verify.js,verifier.wasm,
/// style.css,icon.svg,info.json}`.
/// Merge them into a router whose `POST /` is the JSON-RPC endpoint.
pub fn router(info: ConsoleInfo) -> Router {
    // `origin_of` lets through only characters a header may hold.
    let policy = HeaderValue::from_str(&csp(info.pinning.as_deref()))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    let info = info_json(&info).to_string();
    let wasm = if has_verifier() {
        let policy = policy.clone();
        get(move |headers: axum::http::HeaderMap| {
            let gzip = accepts_gzip(&headers);
            let mut r = asset(
                &policy,
                "application/wasm",
                if gzip { VERIFIER_GZ } else { VERIFIER },
            );
            let h = r.headers_mut();
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if gzip {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            std::future::ready(r)
        })
    } else {
        get(|| async {
            (
                StatusCode::NOT_FOUND,
                "this node was built without the console's verifier",
            )
        })
    };
    Router::new()
        .route("/", get(fixed(&policy, "text/html; charset=utf-8", INDEX)))
        .route(
            "/console/app.js",
            get(fixed(&policy, "text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/console/verify.js",
            get(fixed(&policy, "text/javascript; charset=utf-8", VERIFY_JS)),
        )
        .route("/console/verifier.wasm", wasm)
        .route(
            "/console/style.css",
            get(fixed(&policy, "text/css; charset=utf-8", STYLE)),
        )
        .route(
            "/console/icon.svg",
            get(fixed(&policy, "image/svg+xml", ICON)),
        )
        .route(
            "/console/info.json",
            get(fixed(&policy, "application/json", info)),
        )
}

/// Whether a request's `Accept-Encoding` takes gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// A handler answering `body` as `content_type` under `policy`.
fn fixed<B>(
    policy: &HeaderValue,
    content_type: &'static str,
    body: B,
) -> impl Fn() -> std::future::Ready<Response> + Clone + Send + Sync + 'static
where
    B: IntoResponse + Clone + Send + Sync + 'static,
{
    let policy = policy.clone();
    move || std::future::ready(asset(&policy, content_type, body.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test(flavor = "multi_thread")]
    async fn pages_are_served_with_a_strict_policy_and_merge_with_rpc() {
        let rpc = Router::new().route("/", axum::routing::post(|| async { "rpc" }));
        let app = rpc.merge(router(ConsoleInfo::default()));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap_or_default();
        let page = app.clone().oneshot(get("/")).await.unwrap_or_default();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or("");
        assert!(csp.contains("script-src 'self'"));
        let post = Request::post("/").body(Body::empty()).unwrap_or_default();
        let answer = app.clone().oneshot(post).await.unwrap_or_default();
        assert_eq!(answer.status(), StatusCode::OK, "POST / is still the RPC");
        for path in [
            "/console/app.js",
            "/console/verify.js",
            "/console/style.css",
            "/console/info.json",
        ] {
            let r = app.clone().oneshot(get(path)).await.unwrap_or_default();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
        }
        let info = info_json(&ConsoleInfo::default());
        assert!(
            info["accounts"]["treasury"]
                .as_str()
                .is_some_and(|a| a.starts_with('c'))
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_verifier_is_served_as_webassembly_when_built_in() {
        let app = router(ConsoleInfo::default());
        let get = Request::get("/console/verifier.wasm")
            .body(Body::empty())
            .unwrap_or_default();
        let r = app.oneshot(get).await.unwrap_or_default();
        if !has_verifier() {
            // Built without clang or the wasm32 target (CI requires it: CRUST_VERIFIER=require).
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            return;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/wasm");
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert!(body.starts_with(b"\0asm"), "not a WebAssembly module");
        assert!(body.len() < 4 << 20, "{} bytes", body.len());
        // Browsers that take gzip get it compressed (under 1 MiB on the wire).
        let get = Request::get("/console/verifier.wasm")
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
            .body(Body::empty())
            .unwrap_or_default();
        let r = router(ConsoleInfo::default())
            .oneshot(get)
            .await
            .unwrap_or_default();
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        let gz = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert!(gz.starts_with(&[0x1f, 0x8b]), "a gzip stream");
        assert!(
            gz.len() < 1 << 20 && gz.len() < body.len() / 2,
            "{}",
            gz.len()
        );
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_take_it() {
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("")),
            );
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("identity"));
        assert!(!with("gzip;q=0, br"));
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn only_the_pinning_services_origin_joins_the_policy() {
        assert!(csp(None).contains("connect-src 'self' ws: wss:;"));
        let with = csp(Some("http://127.0.0.1:5005/some/path?x"));
        assert!(
            with.contains("connect-src 'self' ws: wss: http://127.0.0.1:5005;"),
            "{with}"
        );
        for bad in [
            "http://a.example;script-src *",
            "javascript:alert(1)",
            "ftp://host",
            "http://",
            "http://a b",
        ] {
            assert!(
                csp(Some(bad)).contains("connect-src 'self' ws: wss:;"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_third_party_source() {
        assert!(!INDEX.contains("<script>"), "inline scripts break the CSP");
        for text in [INDEX, APP_JS, VERIFY_JS, STYLE, ICON] {
            // XML namespace names are identifiers, never fetched.
            let text = text
                .replace("http://www.w3.org/2000/svg", "")
                .replace("xmlns=\"\"", "")
                .replace("http://www.w3.org/1999/xhtml", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
    }
}
