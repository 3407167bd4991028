//! HTTP details S3 clients depend on: its two date formats, byte ranges, conditional requests,
//! and which request headers an object keeps.

use crate::S3Error;
use crate::store::ObjectRecord;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::collections::BTreeMap;

/// Milliseconds since the UNIX epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn datetime(ms: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// ISO 8601 with milliseconds, as S3's XML writes times (`2009-10-12T17:50:30.000Z`).
pub fn iso8601(ms: u64) -> String {
    let t = datetime(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An RFC 7231 date (`Wed, 12 Oct 2009 17:50:00 GMT`), as `Last-Modified` is written.
pub fn http_date(ms: u64) -> String {
    let t = datetime(ms);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP date (RFC 7231's preferred form) to whole seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = clock
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = hms.as_slice() else {
        return None;
    };
    Some(crate::sigv4::days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// A single byte range, resolved against the object's size: `start..end` (end exclusive).
/// `Ok(None)`: no range (or one S3 ignores: several ranges, a malformed one).
pub fn range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = || S3Error::invalid_range("the requested range is not satisfiable");
    if a.is_empty() {
        // The last `b` bytes.
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        return Ok(Some((size.saturating_sub(n), size)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size
    } else {
        let Ok(last) = b.parse::<u64>() else {
            return Ok(None);
        };
        if last < start {
            return Ok(None);
        }
        last.saturating_add(1).min(size)
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// What the conditional headers (`If-Match`, `If-None-Match`, `If-Modified-Since`,
/// `If-Unmodified-Since`, or their `x-amz-copy-source-` forms with `prefix`) say about
/// `object`, by S3's precedence: `Err` carries 412 `PreconditionFailed`, or (for reads) a 304.
pub fn conditions(
    headers: &HeaderMap,
    prefix: &str,
    object: &ObjectRecord,
    read: bool,
) -> Result<(), S3Error> {
    let get = |name: &str| {
        headers
            .get(format!("{prefix}{name}"))
            .and_then(|v| v.to_str().ok())
    };
    let modified = (object.modified_ms / 1000) as i64;
    let failed = || {
        S3Error::precondition_failed("at least one of the preconditions you specified did not hold")
    };
    let not_modified = || S3Error {
        status: StatusCode::NOT_MODIFIED,
        code: "NotModified",
        message: "not modified".into(),
    };
    let if_match = get("if-match");
    if let Some(m) = if_match
        && !etag_matches(m, &object.etag)
    {
        return Err(failed());
    }
    // If-Match true makes If-Unmodified-Since moot.
    if if_match.is_none()
        && let Some(t) = get("if-unmodified-since").and_then(parse_http_date)
        && modified > t
    {
        return Err(failed());
    }
    let if_none = get("if-none-match");
    if let Some(m) = if_none
        && etag_matches(m, &object.etag)
    {
        return Err(if read { not_modified() } else { failed() });
    }
    if if_none.is_none()
        && let Some(t) = get("if-modified-since").and_then(parse_http_date)
        && modified <= t
    {
        return Err(if read { not_modified() } else { failed() });
    }
    Ok(())
}

/// Request headers an object keeps and gives back.
pub const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// Largest user metadata (names and values), as S3's limit.
pub const MAX_METADATA: usize = 2048;

/// The `x-amz-meta-*` headers (names lower-case, prefix dropped) and the stored headers.
#[allow(clippy::type_complexity)]
pub fn object_headers(
    headers: &HeaderMap,
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), S3Error> {
    let mut meta = BTreeMap::new();
    let mut total = 0usize;
    for (name, value) in headers {
        if let Some(n) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            total += n.len() + v.len();
            meta.insert(n.to_owned(), v);
        }
    }
    if total > MAX_METADATA {
        return Err(S3Error::metadata_too_large(format!(
            "your metadata headers exceed the maximum allowed metadata size ({MAX_METADATA} bytes)"
        )));
    }
    let mut stored = BTreeMap::new();
    for name in STORED_HEADERS {
        if let Some(v) = headers.get(name) {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            // aws-chunked is how the body came, not what it is.
            if name == "content-encoding" {
                let rest: Vec<&str> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty() && *e != "aws-chunked")
                    .collect();
                if !rest.is_empty() {
                    stored.insert(name.to_owned(), rest.join(", "));
                }
                continue;
            }
            stored.insert(name.to_owned(), v);
        }
    }
    Ok((meta, stored))
}

/// Adds `value` as header `name` when it is a valid header value.
pub fn put(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(n, v);
    }
}

/// The headers describing `object` on GET and HEAD.
pub fn describe(headers: &mut HeaderMap, object: &ObjectRecord) {
    put(headers, "etag", &format!("\"{}\"", object.etag));
    put(headers, "last-modified", &http_date(object.modified_ms));
    put(headers, "content-type", &object.content_type);
    put(headers, "accept-ranges", "bytes");
    put(headers, crate::CID_HEADER, &object.cid.to_string());
    for (k, v) in &object.headers {
        put(headers, k, v);
    }
    for (k, v) in &object.meta {
        put(headers, &format!("x-amz-meta-{k}"), v);
    }
    if object.parts > 0 {
        put(headers, "x-amz-mp-parts-count", &object.parts.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_s3_does() {
        assert_eq!(range(Some("bytes=0-9"), 100).unwrap(), Some((0, 10)));
        assert_eq!(range(Some("bytes=90-"), 100).unwrap(), Some((90, 100)));
        assert_eq!(range(Some("bytes=-10"), 100).unwrap(), Some((90, 100)));
        assert_eq!(range(Some("bytes=-1000"), 100).unwrap(), Some((0, 100)));
        assert_eq!(range(Some("bytes=50-5000"), 100).unwrap(), Some((50, 100)));
        assert_eq!(
            range(Some("bytes=100-"), 100).unwrap_err().code,
            "InvalidRange"
        );
        assert_eq!(range(Some("bytes=0-1,5-6"), 100).unwrap(), None);
        assert_eq!(range(Some("bytes=9-1"), 100).unwrap(), None);
        assert_eq!(range(Some("items=0-1"), 100).unwrap(), None);
        assert_eq!(range(None, 100).unwrap(), None);
    }

    #[test]
    fn dates_round_trip() {
        let ms = 1_255_369_830_000; // 2009-10-12T17:50:30Z
        assert_eq!(iso8601(ms), "2009-10-12T17:50:30.000Z");
        assert_eq!(http_date(ms), "Mon, 12 Oct 2009 17:50:30 GMT");
        assert_eq!(parse_http_date(&http_date(ms)), Some(1_255_369_830));
    }
}
