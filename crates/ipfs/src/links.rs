//! Links out of a block, whatever its codec: what DAG walks (pinning, GC, CAR export) follow.

use crate::block::{DAG_CBOR, DAG_JSON};
use crate::dagpb::PbNode;
use crust_primitives::Cid;
use crust_primitives::cid::{DAG_PB, RAW};

/// Why links could not be read from a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinksError {
    /// The block does not decode under its codec.
    #[error("{cid}: {reason}")]
    Decode {
        /// The block.
        cid: Cid,
        /// What was wrong.
        reason: String,
    },
    /// A codec this node cannot traverse.
    #[error("{cid}: codec 0x{codec:x} is not supported for traversal")]
    UnsupportedCodec {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
}

/// The CIDs a block links to, in order.
pub fn links(cid: &Cid, data: &[u8]) -> Result<Vec<Cid>, LinksError> {
    let decode = |reason: String| LinksError::Decode { cid: *cid, reason };
    match cid.codec() {
        RAW => Ok(Vec::new()),
        DAG_PB => Ok(PbNode::decode(data)
            .map_err(|e| decode(e.to_string()))?
            .links
            .into_iter()
            .map(|l| l.cid)
            .collect()),
        DAG_CBOR => {
            let mut out = Vec::new();
            cbor_links(data, &mut out).map_err(|e| decode(e.into()))?;
            Ok(out)
        }
        DAG_JSON => {
            let value: serde_json::Value =
                serde_json::from_slice(data).map_err(|e| decode(e.to_string()))?;
            let mut out = Vec::new();
            json_links(&value, &mut out, 0).map_err(|e| decode(e.into()))?;
            Ok(out)
        }
        codec => Err(LinksError::UnsupportedCodec { cid: *cid, codec }),
    }
}

const MAX_DEPTH: usize = 64;

fn json_links(
    value: &serde_json::Value,
    out: &mut Vec<Cid>,
    depth: usize,
) -> Result<(), &'static str> {
    if depth > MAX_DEPTH {
        return Err("dag-json nesting too deep");
    }
    match value {
        serde_json::Value::Object(map) => {
            if map.len() == 1
                && let Some(serde_json::Value::String(s)) = map.get("/")
            {
                out.push(s.parse().map_err(|_| "dag-json link is not a CID")?);
                return Ok(());
            }
            for v in map.values() {
                json_links(v, out, depth + 1)?;
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                json_links(v, out, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Walks one dag-cbor item, collecting tag-42 links. Bounded: lengths are checked against the
/// input and nesting is capped.
fn cbor_links(data: &[u8], out: &mut Vec<Cid>) -> Result<(), &'static str> {
    let mut pos = 0;
    cbor_item(data, &mut pos, out, 0)?;
    if pos != data.len() {
        return Err("trailing bytes after the dag-cbor item");
    }
    Ok(())
}

/// The next `n` bytes at `*pos`, advancing past them; `None` if the input is shorter (with
/// overflow-safe arithmetic: `n` comes from hostile input).
pub(crate) fn cbor_take<'a>(data: &'a [u8], pos: &mut usize, n: u64) -> Option<&'a [u8]> {
    let end = pos.checked_add(usize::try_from(n).ok()?)?;
    let out = data.get(*pos..end)?;
    *pos = end;
    Some(out)
}

pub(crate) fn cbor_head(data: &[u8], pos: &mut usize) -> Result<(u8, u64), &'static str> {
    let first = *data.get(*pos).ok_or("truncated dag-cbor")?;
    *pos += 1;
    let major = first >> 5;
    let info = first & 0x1f;
    let n = match info {
        0..=23 => u64::from(info),
        24..=27 => {
            let len = 1usize << (info - 24);
            let bytes = data.get(*pos..*pos + len).ok_or("truncated dag-cbor")?;
            *pos += len;
            bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        }
        _ => return Err("indefinite lengths are not dag-cbor"),
    };
    Ok((major, n))
}

fn cbor_item(
    data: &[u8],
    pos: &mut usize,
    out: &mut Vec<Cid>,
    depth: usize,
) -> Result<(), &'static str> {
    if depth > MAX_DEPTH {
        return Err("dag-cbor nesting too deep");
    }
    let (major, n) = cbor_head(data, pos)?;
    let remaining = (data.len() - *pos) as u64;
    match major {
        0 | 1 | 7 => {}
        2 | 3 => {
            if n > remaining {
                return Err("truncated dag-cbor string");
            }
            *pos += n as usize;
        }
        4 | 5 => {
            let items = if major == 5 { n.saturating_mul(2) } else { n };
            if items > remaining {
                return Err("dag-cbor container longer than its input");
            }
            for _ in 0..items {
                cbor_item(data, pos, out, depth + 1)?;
            }
        }
        6 => {
            if n == 42 {
                let (m, len) = cbor_head(data, pos)?;
                if m != 2 || len > remaining || len == 0 {
                    return Err("tag 42 must wrap a byte string");
                }
                let bytes = data
                    .get(*pos..pos.saturating_add(len as usize))
                    .ok_or("truncated link")?;
                *pos += len as usize;
                if bytes[0] != 0 {
                    return Err("tag 42 bytes must start with 0x00");
                }
                out.push(Cid::from_bytes(&bytes[1..]).map_err(|_| "tag 42 holds an invalid CID")?);
            } else {
                cbor_item(data, pos, out, depth + 1)?;
            }
        }
        _ => return Err("unknown dag-cbor major type"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_link_is_found_and_garbage_rejected() {
        let target: Cid = "bafkqaaa".parse().expect("cid");
        let mut data = vec![0xa1, 0x61, b'l', 0xd8, 0x2a];
        let mut link = vec![0u8];
        link.extend_from_slice(&target.to_bytes());
        data.push(0x40 | link.len() as u8);
        data.extend_from_slice(&link);
        let cid = crate::block::cid_of(DAG_CBOR, &data, 1);
        assert_eq!(links(&cid, &data), Ok(vec![target]));
        // A map claiming 2^32 entries in 3 bytes is rejected, not allocated.
        assert!(links(&cid, &[0xba, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(links(&cid, &[0x9f]).is_err());
    }
}

/// One step of an IPLD path inside a dag-cbor or dag-json block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The value is a link: continue in that block.
    Link(Cid),
    /// The value is inline (a map, list or scalar), given re-encoded for the next step.
    Inline(Inline),
    /// No such key or index.
    NotFound,
}

/// An inline dag-cbor item or dag-json value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// A dag-cbor item.
    Cbor(Vec<u8>),
    /// A dag-json value.
    Json(serde_json::Value),
}

/// Looks up `segment` (a map key or a list index) in a dag-cbor or dag-json value.
pub fn step(value: &Inline, segment: &str) -> Result<Step, &'static str> {
    match value {
        Inline::Json(v) => {
            let next = match v {
                serde_json::Value::Object(map) => map.get(segment),
                serde_json::Value::Array(items) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => return Err("path continues past a scalar value"),
            };
            let Some(next) = next else {
                return Ok(Step::NotFound);
            };
            if let serde_json::Value::Object(map) = next
                && map.len() == 1
                && let Some(serde_json::Value::String(s)) = map.get("/")
            {
                return Ok(Step::Link(
                    s.parse().map_err(|_| "dag-json link is not a CID")?,
                ));
            }
            Ok(Step::Inline(Inline::Json(next.clone())))
        }
        Inline::Cbor(data) => {
            let mut pos = 0;
            let (major, n) = cbor_head(data, &mut pos)?;
            let found = match major {
                5 => {
                    let mut found = None;
                    for _ in 0..n {
                        let (m, len) = cbor_head(data, &mut pos)?;
                        let key = cbor_take(data, &mut pos, len)
                            .filter(|_| m == 3)
                            .ok_or("dag-cbor map key is not a string")?;
                        let start = pos;
                        cbor_item(data, &mut pos, &mut Vec::new(), 0)?;
                        if key == segment.as_bytes() {
                            found = Some(&data[start..pos]);
                            break;
                        }
                    }
                    found
                }
                4 => {
                    let Ok(index) = segment.parse::<u64>() else {
                        return Ok(Step::NotFound);
                    };
                    let mut found = None;
                    for i in 0..n {
                        let start = pos;
                        cbor_item(data, &mut pos, &mut Vec::new(), 0)?;
                        if i == index {
                            found = Some(&data[start..pos]);
                            break;
                        }
                    }
                    found
                }
                _ => return Err("path continues past a scalar value"),
            };
            let Some(item) = found else {
                return Ok(Step::NotFound);
            };
            if item.starts_with(&[0xd8, 42]) {
                let mut links = Vec::new();
                cbor_links(item, &mut links)?;
                if let Some(cid) = links.first() {
                    return Ok(Step::Link(*cid));
                }
            }
            Ok(Step::Inline(Inline::Cbor(item.to_vec())))
        }
    }
}

/// The root value of a dag-cbor / dag-json block, for [`step`].
pub fn inline_root(cid: &Cid, data: &[u8]) -> Option<Inline> {
    match cid.codec() {
        DAG_CBOR | 0x51 => Some(Inline::Cbor(data.to_vec())),
        DAG_JSON | 0x0200 => serde_json::from_slice(data).ok().map(Inline::Json),
        _ => None,
    }
}
