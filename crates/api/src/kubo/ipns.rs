//! IPNS records: `routing/put` and `name/resolve` over the local record store.

use super::args::Args;
use super::error::{ApiError, ApiResult};
use super::{Ctx, blocking};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request};
use axum::response::IntoResponse;
use serde_json::json;

fn ipns_name(arg: &str) -> Result<crust_ipfs::ipns::Name, ApiError> {
    let text = arg
        .strip_prefix("/ipns/")
        .unwrap_or(arg)
        .trim_end_matches('/');
    crust_ipfs::ipns::Name::parse(text).map_err(|e| ApiError::bad(e.to_string()))
}

/// `routing/put /ipns/<name>` with the record as the file: verified, then stored.
pub(super) async fn routing_put(ctx: Ctx, args: Args, req: Request) -> ApiResult {
    let key = args.required()?.to_owned();
    if !key.starts_with("/ipns/") {
        return Err(ApiError::bad("only /ipns/<name> keys can be put"));
    }
    let name = ipns_name(&key)?;
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut field = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
        .ok_or_else(|| ApiError::bad("file argument 'value-file' is required"))?;
    let mut record = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
    {
        if record.len() + chunk.len() > crust_ipfs::ipns::MAX_RECORD_BYTES {
            return Err(ApiError::bad("IPNS record is larger than 10 KiB"));
        }
        record.extend_from_slice(&chunk);
    }
    let store = crust_ipfs::ipns::RecordStore::new(ctx.repo.dir());
    blocking(move || {
        store
            .put(&name, &record, crust_ipfs::ipns::now_unix())
            .map_err(|e| ApiError::fail(e.to_string()))
    })
    .await?;
    Ok(Json(json!({"Extra": "", "ID": "", "Responses": null, "Type": 5})).into_response())
}

/// `name/resolve /ipns/<name>` from the local record store.
pub(super) async fn name_resolve(ctx: Ctx, args: Args) -> ApiResult {
    let name = ipns_name(args.required()?)?;
    let store = crust_ipfs::ipns::RecordStore::new(ctx.repo.dir());
    let record = blocking(move || {
        store
            .get(&name, crust_ipfs::ipns::now_unix())
            .map(|(_, r)| r)
            .map_err(|e| ApiError::fail(e.to_string()))
    })
    .await?;
    Ok(Json(json!({"Path": record.value})).into_response())
}
