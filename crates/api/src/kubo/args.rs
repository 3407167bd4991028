//! Argument parsing: the query string's options and `arg`s, and `/ipfs/` paths resolved to CIDs.

use super::error::ApiError;
use crust_ipfs::Cid;
use crust_ipfs::blockstore::Blockstore;
use crust_ipfs::exporter;

/// The query string, with repeated keys kept in order.
pub(super) struct Args(pub(super) Vec<(String, String)>);

impl Args {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub(super) fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(v) => Err(ApiError::bad(format!(
                "option {key:?}: could not parse {v:?} as a boolean"
            ))),
        }
    }
    pub(super) fn uint(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad(format!("option {key:?}: {v:?} is not a number")))
            })
            .transpose()
    }
    /// Every `arg`, at least one.
    pub(super) fn paths(&self) -> Result<Vec<String>, ApiError> {
        let paths: Vec<String> = self.all("arg").into_iter().map(str::to_owned).collect();
        if paths.is_empty() {
            return Err(ApiError::bad("argument \"ipfs-path\" is required"));
        }
        Ok(paths)
    }

    pub(super) fn required(&self) -> Result<&str, ApiError> {
        self.get("arg")
            .ok_or_else(|| ApiError::bad("argument \"ipfs-path\" is required"))
    }
}

/// `/ipfs/<cid>/a/b`, `<cid>/a` or `<cid>` → root CID and path segments.
pub(super) fn parse_path(text: &str) -> Result<(Cid, Vec<String>), ApiError> {
    let trimmed = text.strip_prefix("/ipfs/").unwrap_or(text);
    let mut parts = trimmed.split('/').filter(|s| !s.is_empty());
    let first = parts
        .next()
        .ok_or_else(|| ApiError::bad(format!("invalid path {text:?}")))?;
    let cid: Cid = first
        .parse()
        .map_err(|e| ApiError::bad(format!("invalid path {text:?}: {e}")))?;
    let segs: Vec<String> = parts.map(str::to_owned).collect();
    if segs.iter().any(|s| s == "..") {
        return Err(ApiError::bad("'..' is not allowed in paths"));
    }
    Ok((cid, segs))
}

pub(super) fn resolve(blocks: &dyn Blockstore, text: &str) -> Result<Cid, ApiError> {
    let (root, segs) = parse_path(text)?;
    let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let roots = exporter::resolve(blocks, root, &refs, &mut Vec::new())?;
    Ok(*roots.last().unwrap_or(&root))
}
