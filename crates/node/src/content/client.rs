//! The Kubo HTTP RPC client: requests to a daemon's `/api/v0`, its error bodies, and the
//! `*_via_api` calls other commands make (add, pin, unpin, connect, DAG size and commitment).

use super::add::{AddArgs, Input, collect_inputs};
use super::{RepoArgs, bytes_bar};
use crust_ipfs::Cid;
use indicatif::ProgressBar;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// Whether an IPFS daemon answers at `api` (one quick `version` call; nothing listening, or
/// something that is not a Kubo RPC API, is "no").
pub(super) fn daemon_answers(api: &str) -> bool {
    let Ok(http) = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_millis(1500))
        .build()
    else {
        return false;
    };
    http.post(format!("{}/api/v0/version", api.trim_end_matches('/')))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.text().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("Version").is_some())
}

/// Adds one file or directory through the Kubo API at `api` with the defaults of `ipfs add`
/// (CIDv0, 256 KiB chunks, pinned), showing a progress bar; returns the root CID.
pub fn add_via_api(api: &str, path: &Path) -> Result<Cid, String> {
    add_via_api_as(api, path, None)
}

/// [`add_via_api`] with `Authorization: Bearer <token>` (a pinning service's upload route).
pub fn add_via_api_as(api: &str, path: &Path, token: Option<&str>) -> Result<Cid, String> {
    let args = AddArgs {
        paths: vec![path.to_owned()],
        cid_version: 0,
        raw_leaves: None,
        chunker: "size-262144".into(),
        trickle: false,
        wrap_with_directory: false,
        only_hash: false,
        pin: true,
        hidden: false,
        quiet: true,
        recursive: true,
        repo: RepoArgs {
            repo: None,
            api: Some(api.to_owned()),
        },
    };
    let inputs = collect_inputs(&args.paths, args.hidden)?;
    let root = inputs
        .first()
        .map(|i| i.name.clone())
        .ok_or("nothing to add")?;
    let bar = bytes_bar(Some(inputs.iter().map(|i| i.size).sum()));
    let added = remote_add(
        api.trim_end_matches('/'),
        &args,
        &inputs,
        &bar,
        &|_, _| {},
        token,
    );
    bar.finish_and_clear();
    added?
        .into_iter()
        .find(|(name, _)| *name == root)
        .map(|(_, cid)| cid)
        .ok_or_else(|| format!("the daemon at {api} did not return a CID for {root}"))
}

/// Streams a multipart upload of `inputs` to `/api/v0/add` (the shape kubo-rpc-client sends).
pub(super) fn remote_add(
    api: &str,
    args: &AddArgs,
    inputs: &[Input],
    bar: &ProgressBar,
    print: &dyn Fn(&str, &Cid),
    token: Option<&str>,
) -> Result<Vec<(String, Cid)>, String> {
    let boundary = format!(
        "crust-{:x}",
        std::process::id() as u64 * 0x9e37_79b9 + inputs.len() as u64
    );
    let mut parts: Vec<Box<dyn Read + Send>> = Vec::new();
    for input in inputs {
        let encoded =
            percent_encoding::utf8_percent_encode(&input.name, percent_encoding::NON_ALPHANUMERIC);
        let kind = if input.is_dir {
            "application/x-directory"
        } else {
            "application/octet-stream"
        };
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{encoded}\"\r\nContent-Type: {kind}\r\n\r\n"
        );
        parts.push(Box::new(io::Cursor::new(head.into_bytes())));
        if !input.is_dir {
            let file = fs::File::open(&input.source)
                .map_err(|e| format!("{}: {e}", input.source.display()))?;
            parts.push(Box::new(bar.wrap_read(file)));
        }
        parts.push(Box::new(io::Cursor::new(b"\r\n".to_vec())));
    }
    parts.push(Box::new(io::Cursor::new(
        format!("--{boundary}--\r\n").into_bytes(),
    )));
    let body = parts
        .into_iter()
        .fold(Box::new(io::empty()) as Box<dyn Read + Send>, |acc, r| {
            Box::new(acc.chain(r))
        });
    let url = format!(
        "{api}/api/v0/add?cid-version={}&chunker={}&trickle={}&wrap-with-directory={}&only-hash={}&pin={}{}",
        args.cid_version,
        args.chunker,
        args.trickle,
        args.wrap_with_directory,
        args.only_hash,
        args.pin,
        args.raw_leaves
            .map(|r| format!("&raw-leaves={r}"))
            .unwrap_or_default()
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, text) = send_in_pieces(&url, &content_type, token, body)
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    if !status.is_success() {
        return Err(format!("daemon at {api}: {}", kubo_message(&text)));
    }
    let mut added = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("daemon reply: {e}"))?;
        if v.get("Type").and_then(|t| t.as_str()) == Some("error") {
            return Err(v["Message"].as_str().unwrap_or("add failed").to_owned());
        }
        if let (Some(name), Some(hash)) = (v["Name"].as_str(), v["Hash"].as_str()) {
            let cid: Cid = hash
                .parse()
                .map_err(|e| format!("daemon reply: CID {hash}: {e}"))?;
            print(name, &cid);
            added.push((name.to_owned(), cid));
        }
    }
    Ok(added)
}

/// Bytes read from the inputs per piece of the request body.
const PIECE: usize = 1 << 20;

/// POSTs `body` to `url` in 1 MiB pieces; returns the answer's status and text. (reqwest's
/// blocking body reads 8 KiB at a time and hands each read to its runtime thread: 131 072
/// hand-offs per GiB, which cost more than the import itself.) A thread reads the inputs into a
/// queue of 8 pieces; the request streams them from a one-thread runtime.
fn send_in_pieces(
    url: &str,
    content_type: &str,
    token: Option<&str>,
    mut body: Box<dyn Read + Send>,
) -> Result<(reqwest::StatusCode, String), String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(8);
    let reader = std::thread::spawn(move || {
        loop {
            let mut piece = Vec::with_capacity(PIECE);
            match (&mut body).take(PIECE as u64).read_to_end(&mut piece) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.blocking_send(Ok(piece)).is_err() {
                        return; // the request ended early (an error answer)
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    let pieces = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (piece, rx))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let answer = runtime.block_on(async {
        let mut request = reqwest::Client::builder()
            .build()?
            .post(url)
            .header("Content-Type", content_type);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request
            .body(reqwest::Body::wrap_stream(pieces))
            .send()
            .await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    });
    let _ = reader.join();
    answer.map_err(|e| e.to_string())
}

fn client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .map_err(|e| e.to_string())
}

fn kubo_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["Message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

pub(super) fn post_stream(
    api: &str,
    cmd: &str,
    query: &str,
) -> Result<reqwest::blocking::Response, String> {
    let url = format!("{api}/api/v0/{cmd}?{query}");
    let r = client()?
        .post(url)
        .send()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    if !r.status().is_success() {
        let text = r.text().unwrap_or_default();
        return Err(kubo_message(&text));
    }
    Ok(r)
}

pub(super) fn arg(path: &str) -> String {
    format!(
        "arg={}",
        percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The content commitment of the DAG under `cid`, from the CAR the daemon at `api` exports
/// (checked to be the canonical CAR of `cid`, every block verified).
pub fn commitment_via_api(
    api: &str,
    cid: &Cid,
) -> Result<crust_primitives::commitment::ContentCommitment, String> {
    let api = api.trim_end_matches('/');
    let r = post_stream(api, "dag/export", &arg(&cid.to_string()))?;
    crust_ipfs::commitment::of_car_stream(r, *cid).map_err(|e| format!("the daemon at {api}: {e}"))
}

/// Asks the daemon at `api` to connect to `addrs` (`swarm/connect`); returns how many it
/// reached (an unreachable one is skipped).
pub fn connect_via_api(api: &str, addrs: &[String]) -> usize {
    let api = api.trim_end_matches('/');
    addrs
        .iter()
        .filter(|a| post_stream(api, "swarm/connect", &arg(a)).is_ok())
        .count()
}

/// Pins the DAG under `cid` in the daemon at `api` (`pin/add`), which fetches what it lacks
/// from the network.
pub fn pin_via_api(api: &str, cid: &Cid) -> Result<(), String> {
    let api = api.trim_end_matches('/');
    post_stream(api, "pin/add", &arg(&cid.to_string()))?
        .text()
        .map(|_| ())
        .map_err(|e| format!("daemon at {api}: {e}"))
}

/// Unpins the DAG under `cid` in the daemon at `api` (`pin/rm`; its blocks go at the next GC).
pub fn unpin_via_api(api: &str, cid: &Cid) -> Result<(), String> {
    let api = api.trim_end_matches('/');
    post_stream(api, "pin/rm", &arg(&cid.to_string()))?
        .text()
        .map(|_| ())
        .map_err(|e| format!("daemon at {api}: {e}"))
}

/// The size of the DAG under `cid` as the daemon at `api` stores it (`dag/stat`).
pub fn dag_size(api: &str, cid: &Cid) -> Result<u64, String> {
    let api = api.trim_end_matches('/');
    let text = post_stream(api, "dag/stat", &arg(&cid.to_string()))?
        .text()
        .map_err(|e| format!("daemon at {api}: {e}"))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["TotalSize"].as_u64())
        .ok_or_else(|| format!("daemon at {api}: no TotalSize in dag/stat"))
}
