//! S3's error shape: an HTTP status and an XML body naming a code clients switch on
//! (`NoSuchKey`, `SignatureDoesNotMatch`, …) with a message for people.

use crate::xml;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One S3 error: the status, the code clients read, and a message for people.
#[derive(Debug, Clone)]
pub struct S3Error {
    /// The HTTP status.
    pub status: StatusCode,
    /// S3's error code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// What handlers return.
pub type S3Result<T> = Result<T, S3Error>;

macro_rules! codes {
    ($($fn:ident => $status:ident, $code:literal;)*) => {
        impl S3Error {
            $(
                #[doc = concat!("`", $code, "`.")]
                pub fn $fn(message: impl Into<String>) -> Self {
                    Self { status: StatusCode::$status, code: $code, message: message.into() }
                }
            )*
        }
    };
}

codes! {
    access_denied => FORBIDDEN, "AccessDenied";
    bad_digest => BAD_REQUEST, "BadDigest";
    bucket_exists => CONFLICT, "BucketAlreadyExists";
    bucket_owned => CONFLICT, "BucketAlreadyOwnedByYou";
    bucket_not_empty => CONFLICT, "BucketNotEmpty";
    entity_too_small => BAD_REQUEST, "EntityTooSmall";
    entity_too_large => BAD_REQUEST, "EntityTooLarge";
    incomplete_body => BAD_REQUEST, "IncompleteBody";
    internal => INTERNAL_SERVER_ERROR, "InternalError";
    invalid_access_key => FORBIDDEN, "InvalidAccessKeyId";
    invalid_argument => BAD_REQUEST, "InvalidArgument";
    invalid_bucket_name => BAD_REQUEST, "InvalidBucketName";
    invalid_digest => BAD_REQUEST, "InvalidDigest";
    invalid_part => BAD_REQUEST, "InvalidPart";
    invalid_part_order => BAD_REQUEST, "InvalidPartOrder";
    invalid_range => RANGE_NOT_SATISFIABLE, "InvalidRange";
    invalid_request => BAD_REQUEST, "InvalidRequest";
    key_too_long => BAD_REQUEST, "KeyTooLongError";
    malformed_auth => BAD_REQUEST, "AuthorizationHeaderMalformed";
    malformed_xml => BAD_REQUEST, "MalformedXML";
    metadata_too_large => BAD_REQUEST, "MetadataTooLarge";
    method_not_allowed => METHOD_NOT_ALLOWED, "MethodNotAllowed";
    missing_content_length => LENGTH_REQUIRED, "MissingContentLength";
    missing_security_header => BAD_REQUEST, "MissingSecurityHeader";
    no_such_bucket => NOT_FOUND, "NoSuchBucket";
    no_such_key => NOT_FOUND, "NoSuchKey";
    no_such_upload => NOT_FOUND, "NoSuchUpload";
    not_implemented => NOT_IMPLEMENTED, "NotImplemented";
    precondition_failed => PRECONDITION_FAILED, "PreconditionFailed";
    request_header_too_large => BAD_REQUEST, "RequestHeaderSectionTooLarge";
    request_timeout => BAD_REQUEST, "RequestTimeout";
    service_unavailable => SERVICE_UNAVAILABLE, "ServiceUnavailable";
    signature_mismatch => FORBIDDEN, "SignatureDoesNotMatch";
    sha256_mismatch => BAD_REQUEST, "XAmzContentSHA256Mismatch";
    slow_down => SERVICE_UNAVAILABLE, "SlowDown";
    time_skewed => FORBIDDEN, "RequestTimeTooSkewed";
    too_many_buckets => BAD_REQUEST, "TooManyBuckets";
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for S3Error {}

impl From<crate::store::StoreError> for S3Error {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(target: "crust::s3", "{e}");
        S3Error::internal(e.to_string())
    }
}

impl S3Error {
    /// The error as S3 answers it, naming the request.
    pub fn response(&self, request_id: &str) -> Response {
        let mut children = vec![
            xml::el("Code", self.code),
            xml::el("Message", &self.message),
        ];
        if !request_id.is_empty() {
            children.push(xml::el("RequestId", request_id));
        }
        let body = xml::document("Error", None, &children);
        let mut r = (self.status, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        self.response("")
    }
}
