//! `add`: a multipart upload imported as UnixFS on a blocking thread, reported as NDJSON.

use super::Ctx;
use super::args::Args;
use super::error::{ApiError, ApiResult};
use super::stream::{ChannelReader, QUEUED_PIECES, forward, ndjson_stream, send_line};
use axum::extract::{FromRequest, Multipart, Request};
use bytes::Bytes;
use crust_ipfs::importer::{self, DirBuilder, ImportOptions, Layout};
use serde_json::{Value, json};
use std::io;

/// Upload events handed from the async multipart reader to the blocking importer.
enum Upload {
    Dir(String),
    File(
        String,
        tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    ),
}

fn add_options(args: &Args) -> Result<ImportOptions, ApiError> {
    let cid_version = match args.uint("cid-version")? {
        Some(v @ 0..=1) => v as u8,
        Some(v) => return Err(ApiError::bad(format!("unknown CID version {v}"))),
        None => 0,
    };
    if let Some(hash) = args.get("hash")
        && hash != "sha2-256"
    {
        return Err(ApiError::bad(format!(
            "hash {hash:?} is not supported; use sha2-256"
        )));
    }
    let opts = ImportOptions {
        cid_version,
        raw_leaves: args
            .get("raw-leaves")
            .filter(|v| !v.is_empty())
            .map(|_| args.flag("raw-leaves", false))
            .transpose()?,
        chunk_size: ImportOptions::parse_chunker(args.get("chunker").unwrap_or_default())
            .map_err(|e| ApiError::bad(e.to_string()))?,
        layout: if args.flag("trickle", false)? {
            Layout::Trickle
        } else {
            Layout::Balanced
        },
        ..ImportOptions::default()
    };
    opts.validate().map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(opts)
}

fn part_path(field: &axum::extract::multipart::Field<'_>) -> String {
    let raw = field.file_name().or(field.name()).unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .trim_start_matches('/')
        .to_owned()
}

pub(super) async fn add(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let opts = add_options(&args)?;
    let wrap = args.flag("wrap-with-directory", false)?;
    let pin = args.flag("pin", true)?;
    let progress = args.flag("progress", false)?;
    let only_hash = args.flag("only-hash", false)?;
    let quiet = args.flag("quiet", false)? || args.flag("quieter", false)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(format!("add needs a multipart/form-data body: {e}")))?;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<Upload>(4);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel(64);
    // The answer is sent once the first part's headers were read: reading the body first makes
    // the server send `100 Continue` to a client that asked for it (curl does for large
    // uploads), which would otherwise wait a second before sending.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    // Feed the upload into the importer as it arrives.
    tokio::spawn(async move {
        let mut started = Some(started_tx);
        loop {
            let next = multipart.next_field().await;
            if let Some(s) = started.take() {
                let _ = s.send(());
            }
            let mut field = match next {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let (tx, rx) = tokio::sync::mpsc::channel(1);
                    let _ = tx
                        .send(Err(io::Error::other(format!("reading the upload: {e}"))))
                        .await;
                    let _ = events_tx.send(Upload::File(String::new(), rx)).await;
                    break;
                }
            };
            let path = part_path(&field);
            if field.content_type() == Some("application/x-directory") {
                if events_tx.send(Upload::Dir(path)).await.is_err() {
                    break;
                }
                continue;
            }
            let (tx, rx) = tokio::sync::mpsc::channel(QUEUED_PIECES);
            if events_tx.send(Upload::File(path, rx)).await.is_err() {
                break;
            }
            match forward(&mut field, &tx).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let _ = tx
                        .send(Err(io::Error::other(format!("reading the upload: {e}"))))
                        .await;
                    return;
                }
            }
        }
    });
    let repo = ctx.repo.clone();
    tokio::task::spawn_blocking(move || {
        let result = repo.import_built(
            pin && !only_hash,
            |sink| {
                let mut null = importer::NullSink;
                let sink: &mut dyn importer::BlockSink = if only_hash { &mut null } else { sink };
                let mut tree = DirBuilder::new();
                let mut top: Vec<(String, crust_ipfs::Imported)> = Vec::new();
                let mut dirs_seen = false;
                while let Some(event) = events_rx.blocking_recv() {
                    match event {
                        Upload::Dir(path) => {
                            tree.add_dir(&path)?;
                            dirs_seen = true;
                        }
                        Upload::File(path, rx) => {
                            let name = if path.is_empty() {
                                "file".to_owned()
                            } else {
                                path
                            };
                            let mut sent = 0u64;
                            let mut last_report = 0u64;
                            let tx = out_tx.clone();
                            let file_name = name.clone();
                            let mut report = |n: u64| {
                                sent += n;
                                if progress && sent - last_report >= 256 * 1024 {
                                    last_report = sent;
                                    send_line(&tx, &json!({"Name": file_name, "Bytes": sent}));
                                }
                            };
                            let reader = ChannelReader {
                                rx,
                                current: Bytes::new(),
                            };
                            let imported = importer::import_file(reader, &opts, sink, &mut report)?;
                            if progress {
                                send_line(
                                    &out_tx,
                                    &json!({"Name": name, "Bytes": imported.file_size}),
                                );
                            }
                            if !quiet {
                                send_line(&out_tx, &added_line(&name, &imported));
                            }
                            if name.contains('/') {
                                dirs_seen = true;
                            } else {
                                top.push((name.clone(), imported));
                            }
                            tree.add_file(&name, imported)?;
                        }
                    }
                }
                let mut roots = Vec::new();
                if wrap || dirs_seen {
                    let (root, dirs) = tree.build(opts.cid_version, sink)?;
                    for entry in dirs {
                        if entry.path.is_empty() && !wrap {
                            continue;
                        }
                        if !entry.path.is_empty() && !entry.path.contains('/') {
                            roots.push(entry.imported.cid);
                        }
                        send_line(&out_tx, &added_line(&entry.path, &entry.imported));
                    }
                    if wrap {
                        roots = vec![root.cid];
                    } else {
                        roots.extend(top.iter().map(|(_, i)| i.cid));
                    }
                } else {
                    roots.extend(top.iter().map(|(_, i)| i.cid));
                    if quiet && let Some((name, last)) = top.last() {
                        send_line(&out_tx, &added_line(name, last));
                    }
                }
                Ok(roots)
            },
            |roots| roots.clone(),
        );
        if let Err(e) = result {
            send_line(
                &out_tx,
                &json!({"Message": e.to_string(), "Code": 0, "Type": "error"}),
            );
        }
    });
    let _ = started_rx.await;
    Ok(ndjson_stream(out_rx))
}

fn added_line(name: &str, imported: &crust_ipfs::Imported) -> Value {
    json!({"Name": name, "Hash": imported.cid.to_string(), "Size": imported.tsize.to_string()})
}
