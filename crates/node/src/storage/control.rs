//! The worker's control API (D27) and its gateway: status for anyone on localhost, changes
//! with the token; `crust sworker status|capacity` as its client.

use super::*;

/// A change asked for over the control API, applied by the worker loop.
pub(super) enum Control {
    Capacity(u64, std::sync::mpsc::Sender<Result<(), String>>),
}

/// Serves the control API on `--control-addr`: `GET /status`, `GET /metrics` (Prometheus), and
/// `POST /capacity?bytes=N`
/// with `Authorization: Bearer <token>` (the token is in `<dir>/control.token`, the address
/// in `<dir>/control`).
pub(super) fn start_control(
    net: &Net,
    args: &SworkerArgs,
    status: Arc<std::sync::Mutex<serde_json::Value>>,
    commands: std::sync::mpsc::Sender<Control>,
) -> Result<std::net::SocketAddr, String> {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    let token_path = args.dir.join("control.token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) if t.trim().len() >= 32 => t.trim().to_owned(),
        _ => {
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw).map_err(|e| e.to_string())?;
            let t = crust_primitives::account::to_hex(&raw);
            write_private(&token_path, &t)?;
            t
        }
    };
    let rt = &net.rt;
    #[derive(Clone)]
    struct Ctx {
        status: Arc<std::sync::Mutex<serde_json::Value>>,
        commands: std::sync::mpsc::Sender<Control>,
        token: Arc<String>,
        host: crust_net::Host,
        exchange: Arc<crust_net::Exchange>,
    }
    async fn status_handler(State(ctx): State<Ctx>) -> axum::Json<serde_json::Value> {
        axum::Json(ctx.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    async fn metrics_handler(
        State(ctx): State<Ctx>,
    ) -> (StatusCode, [(&'static str, &'static str); 1], String) {
        let status = ctx.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match super::metrics::render(&status, &ctx.host, &ctx.exchange).await {
            Some(text) => (
                StatusCode::OK,
                [(
                    "content-type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                text,
            ),
            None => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "text/plain")],
                "cannot encode the metrics\n".into(),
            ),
        }
    }
    async fn capacity_handler(
        State(ctx): State<Ctx>,
        headers: HeaderMap,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> (StatusCode, String) {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(ctx.token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                "a valid bearer token is required\n".into(),
            );
        }
        let Some(bytes) = q.get("bytes").and_then(|b| crate::parse_bytes(b).ok()) else {
            return (
                StatusCode::BAD_REQUEST,
                "bytes=N (e.g. 2GiB) is required\n".into(),
            );
        };
        let (reply, answer) = std::sync::mpsc::channel();
        if ctx.commands.send(Control::Capacity(bytes, reply)).is_err() {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the worker loop stopped\n".into(),
            );
        }
        match tokio::task::spawn_blocking(move || answer.recv_timeout(Duration::from_secs(60)))
            .await
        {
            Ok(Ok(Ok(()))) => (StatusCode::OK, format!("capacity set to {bytes} bytes\n")),
            Ok(Ok(Err(e))) => (StatusCode::CONFLICT, format!("{e}\n")),
            _ => (
                StatusCode::GATEWAY_TIMEOUT,
                "the worker loop did not answer\n".into(),
            ),
        }
    }
    let ctx = Ctx {
        status,
        commands,
        token: Arc::new(token),
        host: net.host.clone(),
        exchange: net.exchange.clone(),
    };
    let app = axum::Router::new()
        .route("/status", get(status_handler))
        .route("/metrics", get(metrics_handler))
        .route("/capacity", post(capacity_handler))
        .with_state(ctx);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.control_addr))
        .map_err(|e| format!("--control-addr {}: {e}", args.control_addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(args.dir.join("control"), format!("http://{addr}\n"))
        .map_err(|e| e.to_string())?;
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Serves the HTTP gateway over this node's replicas on `addr`; writes the bound address to
/// `<dir>/gateway`.
pub(super) fn serve_gateway(
    rt: &tokio::runtime::Runtime,
    addr: &str,
    source: crust_ipfs::gateway::Source,
    dir: &Path,
) -> Result<std::net::SocketAddr, String> {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| format!("--gateway-addr {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(dir.join("gateway"), format!("http://{bound}\n")).map_err(|e| e.to_string())?;
    let app = crust_ipfs::gateway::router_for(source);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}

/// Writes a secret readable only by its owner.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// `crust sworker status|capacity`: talks to a running worker's control API. The status is a
/// summary in text, or the worker's whole status object with `--output json`.
pub fn control(dir: &Path, capacity: Option<u64>, output: crate::Output) -> Result<(), String> {
    let base = std::fs::read_to_string(dir.join("control")).map_err(|_| {
        format!(
            "no running worker found in {} (no control file)",
            dir.display()
        )
    })?;
    let base = base.trim();
    let http = reqwest::blocking::Client::new();
    match capacity {
        None => {
            let text = http
                .get(format!("{base}/status"))
                .send()
                .and_then(|r| r.text())
                .map_err(|e| format!("worker at {base}: {e}"))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("worker at {base}: {e}"))?;
            match output {
                crate::Output::Json => crate::print_json(&v),
                crate::Output::Text => print!("{}", status_text(&v)),
            }
        }
        Some(bytes) => {
            let token = std::fs::read_to_string(dir.join("control.token"))
                .map_err(|e| format!("control.token: {e}"))?;
            let r = http
                .post(format!("{base}/capacity?bytes={bytes}"))
                .header("authorization", format!("Bearer {}", token.trim()))
                .send()
                .map_err(|e| format!("worker at {base}: {e}"))?;
            let ok = r.status().is_success();
            let text = r.text().unwrap_or_default();
            if !ok {
                return Err(text.trim().to_owned());
            }
            print!("{text}");
        }
    }
    Ok(())
}

/// A worker's status object as a few lines for a person (`--output json` prints all of it).
pub(super) fn status_text(v: &serde_json::Value) -> String {
    let bytes = |key: &str| {
        v[key]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |b| indicatif::BinaryBytes(b).to_string())
    };
    let num = |key: &str| {
        v[key]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |n| n.to_string())
    };
    let list = |key: &str| v[key].as_array().map_or(0, Vec::len);
    let srd_counts = if v["srd_counts"].as_bool() == Some(true) {
        "counts toward stake limits"
    } else {
        "does not count toward stake limits"
    };
    let mut out = format!(
        "account      {}\n\
         enclave      {}\n\
         attestation  {} (SRD {srd_counts})\n\
         chain        at #{}; last report for slot {}, last accepted slot {}\n\
         files        {} valid ({}), {} lost, {} dropping, {} pending, {} watching, {} refused\n\
         space        capacity {}, SRD {}, disk free {}\n\
         repaired     {} files, {} SRD units\n\
         peer         {}\n",
        v["account"].as_str().unwrap_or("-"),
        v["enclave"].as_str().unwrap_or("-"),
        v["attestation"].as_str().unwrap_or("not registered yet"),
        num("chain_height"),
        num("last_report_slot"),
        num("last_accepted_slot"),
        num("files_valid"),
        bytes("files_bytes"),
        list("files_lost"),
        list("files_dropping"),
        list("files_pending"),
        num("files_watching"),
        list("files_refused"),
        bytes("capacity_bytes"),
        bytes("srd_bytes"),
        bytes("disk_free_bytes"),
        num("files_repaired"),
        num("srd_units_repaired"),
        v["peer_id"].as_str().unwrap_or("-"),
    );
    for r in v["files_refused"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "refused      {}: {}\n",
            r["cid"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("?")
        ));
    }
    out
}
