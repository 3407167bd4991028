//! Streamed bodies: newline-delimited JSON out, writer-fed responses, and uploaded chunks read
//! back as a byte stream.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use std::io::{self, Read};

pub(super) type LineTx = crust_ipfs::body::Tx;

pub(super) fn ndjson_stream(rx: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>) -> Response {
    let mut r = Response::new(crust_ipfs::body::from_receiver(rx));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-chunked-output", HeaderValue::from_static("1"));
    r
}

pub(super) fn send_line(tx: &LineTx, value: &Value) -> bool {
    let mut line = value.to_string().into_bytes();
    line.push(b'\n');
    tx.blocking_send(Ok(line.into())).is_ok()
}

/// Bytes handed to an importer at a time: an upload's frames (8 KiB from some clients) are
/// gathered up to this, so each does not cost a hand-off between threads.
const PIECE: usize = 1 << 20;

/// Pieces queued for an importer (16 MiB): the network is read on one core while the importer
/// hashes on the other.
pub(super) const QUEUED_PIECES: usize = 16;

/// Sends a multipart field's bytes to `tx` in pieces of about [`PIECE`]; `Ok(false)` if the
/// receiver went away.
pub(super) async fn forward(
    field: &mut axum::extract::multipart::Field<'_>,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<bool, axum::extract::multipart::MultipartError> {
    let mut pending = bytes::BytesMut::new();
    while let Some(chunk) = field.chunk().await? {
        let piece = if pending.is_empty() && chunk.len() >= PIECE {
            chunk
        } else {
            pending.extend_from_slice(&chunk);
            if pending.len() < PIECE {
                continue;
            }
            pending.split().freeze()
        };
        if tx.send(Ok(piece)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(pending.is_empty() || tx.send(Ok(pending.freeze())).await.is_ok())
}

/// Reads a channel of chunks as a byte stream.
pub(super) struct ChannelReader {
    pub(super) rx: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    pub(super) current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

pub(super) fn stream_writer(
    content_type: &'static str,
    produce: impl FnOnce(&mut crust_ipfs::body::ChunkWriter) -> io::Result<()> + Send + 'static,
) -> Response {
    let mut r = Response::new(crust_ipfs::body::from_writer(produce));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert("x-stream-output", HeaderValue::from_static("1"));
    r
}
