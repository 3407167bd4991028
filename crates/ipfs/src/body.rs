//! Streamed HTTP bodies produced on blocking threads (block reads, hashing, TAR/CAR writing),
//! handed to the socket through a bounded channel so memory stays flat whatever the size.
//! Shared by the gateway and the Kubo RPC API.

use crate::blockstore::Blockstore;
use crate::exporter::RangeReader;
use axum::body::Body;
use bytes::Bytes;
use crust_primitives::Cid;
use std::io;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Chunks buffered between the producer and the socket.
const DEPTH: usize = 16;
/// Bytes a [`ChunkWriter`] gathers before sending a chunk.
const CHUNK_BYTES: usize = 256 * 1024;

/// The producer's end of a body.
pub type Tx = mpsc::Sender<Result<Bytes, io::Error>>;

/// A body fed by whatever is sent on the channel whose receiver this takes.
pub fn from_receiver(rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// A body whose chunks `produce` sends from a blocking thread.
pub fn from_blocking(produce: impl FnOnce(Tx) + Send + 'static) -> Body {
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::task::spawn_blocking(move || produce(tx));
    from_receiver(rx)
}

/// A body that `produce` writes as an [`io::Write`]; an error ends the body with that error.
pub fn from_writer(
    produce: impl FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static,
) -> Body {
    from_blocking(move |tx| {
        let mut w = ChunkWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        let result = produce(&mut w).and_then(|()| io::Write::flush(&mut w));
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    })
}

/// The bytes `[from, to)` of the file at `cid`, read block by block.
pub fn file_range(store: Arc<dyn Blockstore>, cid: Cid, from: u64, to: u64) -> Body {
    from_blocking(move |tx| {
        for chunk in RangeReader::new(store.as_ref(), cid, from, to) {
            let item = chunk.map_err(|e| io::Error::other(e.to_string()));
            let stop = item.is_err();
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    })
}

/// Buffers writes into chunks for a body.
pub struct ChunkWriter {
    tx: Tx,
    buf: Vec<u8>,
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx
                .blocking_send(Ok(chunk))
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(())
    }
}
