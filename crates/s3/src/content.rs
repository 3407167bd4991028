//! The IPFS daemon that holds every object's blocks, spoken to over its Kubo RPC API: uploads
//! streamed into `add` (Kubo's defaults, so an object put in one piece has the CID `ipfs add`
//! gives the same bytes), reads streamed out of `cat` with an offset and length, multipart
//! objects joined by one more dag-pb node, and pins that keep each object while it exists.

use bytes::Bytes;
use crust_ipfs::dagpb::{PbLink, PbNode};
use crust_ipfs::unixfs::{DataType, UnixFsData};
use crust_primitives::Cid;
use futures::Stream;

/// A piece of content the daemon imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Its root.
    pub cid: Cid,
    /// Its file size (bytes of content).
    pub size: u64,
    /// Its DAG's cumulative size (every block), what a parent link's `Tsize` holds.
    pub tsize: u64,
}

/// The daemon's Kubo RPC API.
#[derive(Clone)]
pub struct Daemon {
    api: String,
    http: reqwest::Client,
}

fn fail(what: &str, e: impl std::fmt::Display) -> String {
    format!("the IPFS daemon ({what}): {e}")
}

/// Largest number of links one joining node has (Kubo's balanced layout uses 174).
pub const MAX_LINKS: usize = 174;

impl Daemon {
    /// The daemon at `api` (`http://host:port`).
    pub fn new(api: &str) -> Self {
        Self {
            api: api.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// Its address.
    pub fn api(&self) -> &str {
        &self.api
    }

    async fn post(&self, what: &str, path_query: &str) -> Result<String, String> {
        let r = self
            .http
            .post(format!("{}/api/v0/{path_query}", self.api))
            .send()
            .await
            .map_err(|e| fail(what, e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| fail(what, e))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(fail(what, message));
        }
        Ok(text)
    }

    /// Whether the daemon answers.
    pub async fn ping(&self) -> Result<(), String> {
        self.post("version", "version").await.map(|_| ())
    }

    /// Imports `body` as one file, pinned; fails if the stream fails. Returns its root and
    /// its DAG's cumulative size.
    pub async fn add<S>(&self, body: S) -> Result<(Cid, u64), String>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(body))
            .file_name("object")
            .mime_str("application/octet-stream")
            .map_err(|e| fail("add", e))?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let r = self
            .http
            .post(format!(
                "{}/api/v0/add?pin=true&progress=false&cid-version=0",
                self.api
            ))
            .multipart(form)
            .send()
            .await
            .map_err(|e| fail("add", e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| fail("add", e))?;
        if !status.is_success() {
            return Err(fail("add", text));
        }
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains("\"Hash\""))
            .ok_or_else(|| fail("add", format!("no root in its answer: {text}")))?;
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| fail("add", e))?;
        let cid: Cid = v["Hash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| fail("add", "its answer names no CID"))?;
        let tsize = v["Size"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail("add", "its answer names no size"))?;
        Ok((cid, tsize))
    }

    /// Bytes `offset..offset+length` of the file at `cid`, streamed.
    pub async fn cat(
        &self,
        cid: &Cid,
        offset: u64,
        length: u64,
    ) -> Result<impl Stream<Item = reqwest::Result<Bytes>> + use<>, String> {
        let r = self
            .http
            .post(format!(
                "{}/api/v0/cat?arg={cid}&offset={offset}&length={length}",
                self.api
            ))
            .send()
            .await
            .map_err(|e| fail("cat", e))?;
        if !r.status().is_success() {
            let text = r.text().await.unwrap_or_default();
            return Err(fail("cat", text));
        }
        Ok(r.bytes_stream())
    }

    /// Pins `cid` (and everything under it).
    pub async fn pin(&self, cid: &Cid) -> Result<(), String> {
        self.post("pin/add", &format!("pin/add?arg={cid}&recursive=true"))
            .await
            .map(|_| ())
    }

    /// Unpins `cid`; a CID that is not pinned is not an error.
    pub async fn unpin(&self, cid: &Cid) -> Result<(), String> {
        match self
            .post("pin/rm", &format!("pin/rm?arg={cid}&recursive=true"))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.contains("not pinned") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stores one dag-pb block (CIDv0); returns its CID.
    async fn put_node(&self, node: &PbNode) -> Result<Cid, String> {
        self.put_dag_pb(node.encode()).await
    }

    /// Stores one dag-pb block's bytes as CIDv0; returns its CID.
    pub async fn put_dag_pb(&self, bytes: Vec<u8>) -> Result<Cid, String> {
        let part = reqwest::multipart::Part::bytes(bytes).file_name("node");
        let form = reqwest::multipart::Form::new().part("data", part);
        let r = self
            .http
            .post(format!("{}/api/v0/block/put?format=v0", self.api))
            .multipart(form)
            .send()
            .await
            .map_err(|e| fail("block/put", e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| fail("block/put", e))?;
        if !status.is_success() {
            return Err(fail("block/put", text));
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail("block/put", e))?;
        v["Key"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| fail("block/put", "no CID in its answer"))
    }

    /// One UnixFS file whose content is `parts` in order (each a UnixFS file already on the
    /// daemon), as a tree of nodes of at most [`MAX_LINKS`] links; pinned. One part is itself.
    pub async fn join(&self, parts: &[Added]) -> Result<Added, String> {
        let mut level: Vec<Added> = parts.to_vec();
        if level.is_empty() {
            return Err("nothing to join".into());
        }
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(MAX_LINKS));
            for group in level.chunks(MAX_LINKS) {
                let node = join_node(group);
                let bytes = node.encode().len() as u64;
                let cid = self.put_node(&node).await?;
                next.push(Added {
                    cid,
                    size: group.iter().map(|p| p.size).sum(),
                    tsize: bytes + group.iter().map(|p| p.tsize).sum::<u64>(),
                });
            }
            level = next;
        }
        let root = level.remove(0);
        self.pin(&root.cid).await?;
        Ok(root)
    }
}

/// The dag-pb node of a UnixFS file made of `children` in order.
pub fn join_node(children: &[Added]) -> PbNode {
    let mut data = UnixFsData::new(DataType::File);
    data.filesize = Some(children.iter().map(|c| c.size).sum());
    data.blocksizes = children.iter().map(|c| c.size).collect();
    PbNode {
        links: children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: Some(String::new()),
                tsize: Some(c.tsize),
            })
            .collect(),
        data: Some(data.encode()),
    }
}
