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
