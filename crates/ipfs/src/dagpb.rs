//! dag-pb nodes (codec 0x70): the envelope of every UnixFS file and directory node.
//!
//! Encoding follows the dag-pb spec's canonical form, which is what Go writes: links (field 2)
//! first, each as Hash(1), Name(2), Tsize(3), then Data (field 1). Decoding is strict in the
//! same way (links before data, no unknown fields), so a node has exactly one byte form.

use crate::pb::{self, PbError, Value};
use crust_primitives::Cid;

/// Largest block the content layer accepts (the Bitswap limit).
pub const MAX_BLOCK_BYTES: usize = 2 * 1024 * 1024;

/// One named, sized link to a child block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The child.
    pub cid: Cid,
    /// Entry name; `Some("")` for file chunks, which Go always writes.
    pub name: Option<String>,
    /// Cumulative size of the child's DAG in bytes (blocks, not file content).
    pub tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// Links in order.
    pub links: Vec<PbLink>,
    /// Opaque payload (a UnixFS `Data` message for UnixFS nodes).
    pub data: Option<Vec<u8>>,
}

/// Why a dag-pb block could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DagPbError {
    /// The protobuf framing is broken.
    #[error("dag-pb: {0}")]
    Pb(#[from] PbError),
    /// A link's hash is not a CID.
    #[error("dag-pb: link {index} has an invalid CID")]
    BadLinkCid {
        /// Position of the link.
        index: usize,
    },
    /// A link's name is not UTF-8.
    #[error("dag-pb: link {index} has a non-UTF-8 name")]
    BadLinkName {
        /// Position of the link.
        index: usize,
    },
}

impl PbNode {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        let mut link_buf = Vec::new();
        for link in &self.links {
            link_buf.clear();
            pb::put_bytes_field(&mut link_buf, 1, &link.cid.to_bytes());
            if let Some(name) = &link.name {
                pb::put_bytes_field(&mut link_buf, 2, name.as_bytes());
            }
            if let Some(tsize) = link.tsize {
                pb::put_uint_field(&mut link_buf, 3, tsize);
            }
            pb::put_bytes_field(&mut out, 2, &link_buf);
        }
        if let Some(data) = &self.data {
            pb::put_bytes_field(&mut out, 1, data);
        }
        out
    }

    fn encoded_len_hint(&self) -> usize {
        self.links.len() * 48 + self.data.as_ref().map_or(0, |d| d.len() + 8)
    }

    /// Decodes a block strictly (canonical field order, no unknown fields).
    pub fn decode(bytes: &[u8]) -> Result<Self, DagPbError> {
        let mut node = PbNode::default();
        let mut reader = pb::Reader::new(bytes);
        while let Some((field, value)) = reader.next_field()? {
            match (field, value) {
                (2, Value::Bytes(link)) => {
                    if node.data.is_some() {
                        return Err(PbError::Schema("dag-pb links must precede data").into());
                    }
                    let index = node.links.len();
                    node.links.push(decode_link(link, index)?);
                }
                (1, Value::Bytes(data)) => {
                    if node.data.is_some() {
                        return Err(PbError::Schema("dag-pb data appears twice").into());
                    }
                    node.data = Some(data.to_vec());
                }
                _ => return Err(PbError::Schema("dag-pb node has an unknown field").into()),
            }
        }
        Ok(node)
    }
}

fn decode_link(bytes: &[u8], index: usize) -> Result<PbLink, DagPbError> {
    let mut reader = pb::Reader::new(bytes);
    let mut cid = None;
    let mut name = None;
    let mut tsize = None;
    let mut last = 0u32;
    while let Some((field, value)) = reader.next_field()? {
        if field <= last {
            return Err(PbError::Schema("dag-pb link fields out of order").into());
        }
        last = field;
        match (field, value) {
            (1, Value::Bytes(b)) => {
                cid = Some(Cid::from_bytes(b).map_err(|_| DagPbError::BadLinkCid { index })?);
            }
            (2, Value::Bytes(b)) => {
                name = Some(
                    String::from_utf8(b.to_vec()).map_err(|_| DagPbError::BadLinkName { index })?,
                );
            }
            (3, Value::Varint(v)) => tsize = Some(v),
            _ => return Err(PbError::Schema("dag-pb link has an unknown field").into()),
        }
    }
    let cid = cid.ok_or(PbError::Schema("dag-pb link without a hash"))?;
    Ok(PbLink { cid, name, tsize })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_leaf_round_trips() {
        // `ipfs add` of an empty file: PBNode{Data: UnixFS{Type: File, filesize: 0}}.
        let bytes = [0x0a, 0x04, 0x08, 0x02, 0x18, 0x00];
        let node = PbNode::decode(&bytes).expect("valid");
        assert!(node.links.is_empty());
        assert_eq!(node.data.as_deref(), Some(&[0x08, 0x02, 0x18, 0x00][..]));
        assert_eq!(node.encode(), bytes);
    }

    #[test]
    fn non_minimal_lengths_are_rejected() {
        // Fuzz finding: decoded, but re-encoded to different bytes.
        assert!(PbNode::decode(&[0x0a, 0x83, 0x00, 0x00, 0x0a, 0x00]).is_err());
    }

    #[test]
    fn data_before_links_is_rejected() {
        let cid: Cid = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
            .parse()
            .expect("cid");
        let node = PbNode {
            links: vec![PbLink {
                cid,
                name: Some(String::new()),
                tsize: Some(4),
            }],
            data: Some(vec![8, 1]),
        };
        let good = node.encode();
        assert_eq!(PbNode::decode(&good).expect("canonical"), node);
        // Swap: data field first, then the link.
        let link_len = good.len() - 4;
        let mut bad = good[link_len..].to_vec();
        bad.extend_from_slice(&good[..link_len]);
        assert!(PbNode::decode(&bad).is_err());
    }
}
