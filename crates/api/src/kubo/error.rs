//! Kubo's error shape: `{"Message", "Code", "Type": "error"}` with its HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crust_ipfs::blockstore::StoreError;
use crust_ipfs::exporter::ExportError;
use crust_ipfs::repo::RepoError;
use serde_json::json;

/// A Kubo-shaped error.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: u8,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: 1,
            message: message.into(),
        }
    }
    pub(super) fn fail(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 0,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"Message": self.message, "Code": self.code, "Type": "error"})),
        )
            .into_response()
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        Self::fail(e.to_string())
    }
}
impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        Self::fail(e.to_string())
    }
}
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::fail(e.to_string())
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;
