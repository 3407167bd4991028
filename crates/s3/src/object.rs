//! Object operations: PUT (streamed into the daemon, checked on the way), GET and HEAD
//! (ranges, conditions), DELETE, multi-object delete and copy (the same content, no bytes
//! moved).

use crate::api::{MAX_XML, Query, check_key, small_body, xml_response};
use crate::chunked::{ChunkSigner, Decoder};
use crate::content::Added;
use crate::http::{self, put as put_header};
use crate::intake::{self, Algorithm, Expect, Given, Outcome};
use crate::service::{Caller, Service, empty};
use crate::sigv4::{Payload, hex};
use crate::store::{ObjectRecord, Precondition, Put};
use crate::xml::{self, NS, el, parent};
use crate::{S3Error, S3Result};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use std::sync::{Arc, Mutex};

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Takes an upload's body into the daemon, checked (see [`crate::intake`]): the content as
/// added and what the body turned out to be. The caller holds the pin gate.
pub async fn take_body(
    service: &Service,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    compute: Option<Algorithm>,
) -> S3Result<(Added, Outcome)> {
    // aws-chunked by the signature's payload mode (`Content-Encoding: aws-chunked` on a body
    // whose hash is signed is only a label).
    let chunked = matches!(
        caller.signed.payload,
        Payload::StreamingSigned { .. } | Payload::StreamingUnsignedTrailer
    ) || (caller.signed.payload == Payload::Unsigned
        && header(headers, "content-encoding").is_some_and(|e| e.contains("aws-chunked"))
        && headers.contains_key("x-amz-decoded-content-length"));
    let length = if chunked {
        // Without a decoded length the body is read to its last chunk.
        header(headers, "x-amz-decoded-content-length").and_then(|v| v.parse::<u64>().ok())
    } else {
        header(headers, "content-length").and_then(|v| v.parse::<u64>().ok())
    };
    if length.is_some_and(|l| l > service.settings.max_object) {
        return Err(S3Error::entity_too_large(format!(
            "your proposed upload exceeds the maximum allowed size of {} bytes; use a multipart upload",
            service.settings.max_object
        )));
    }
    let md5 = match header(headers, "content-md5") {
        None => None,
        Some(v) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_digest("the Content-MD5 you specified is not valid")
                })?,
        ),
    };
    let mut checksum = None;
    for a in Algorithm::ALL {
        if let Some(v) = header(headers, a.header()) {
            checksum = Some((a, Given::Header(v.trim().to_owned())));
        }
    }
    if checksum.is_none()
        && let Some(t) = header(headers, "x-amz-trailer")
    {
        let name = t.trim().to_ascii_lowercase();
        checksum = Algorithm::ALL
            .into_iter()
            .find(|a| a.header() == name)
            .map(|a| (a, Given::Trailer));
    }
    // A part of an upload that keeps checksums has one, sent or not.
    if checksum.is_none()
        && let Some(a) = compute
    {
        checksum = Some((a, Given::Compute));
    }
    let decoder = chunked.then(|| {
        let signer =
            matches!(caller.signed.payload, Payload::StreamingSigned { .. }).then(|| ChunkSigner {
                key: caller.signed.signing_key,
                amz_date: caller.signed.amz_date.clone(),
                scope: caller.signed.scope.clone(),
                previous: caller.signed.signature.clone(),
            });
        Decoder::new(signer)
    });
    let sha256 = match caller.signed.payload {
        Payload::Sha256(h) => Some(h),
        _ => None,
    };
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let stream = intake::stream(
        body.into_data_stream(),
        decoder,
        Expect {
            length,
            max: service.settings.max_object,
            md5,
            sha256,
            checksum,
        },
        outcome.clone(),
    );
    let added = service.daemon.add(stream).await;
    let outcome = outcome.lock().map(|o| o.clone()).unwrap_or_default();
    if let Some(e) = outcome.error.clone() {
        return Err(e);
    }
    let (cid, tsize) = added.map_err(S3Error::service_unavailable)?;
    if !outcome.complete {
        return Err(S3Error::internal("the upload ended without being checked"));
    }
    Ok((
        Added {
            cid,
            size: outcome.size,
            tsize,
        },
        outcome,
    ))
}

/// A conditional write's `If-Match` / `If-None-Match`.
pub fn precondition(headers: &HeaderMap) -> Precondition {
    let etag = |name: &str| header(headers, name).map(|v| v.trim().trim_matches('"').to_owned());
    Precondition {
        if_match: etag("if-match"),
        if_none_match: etag("if-none-match"),
    }
}

/// A write's outcome as S3 answers it.
pub fn written(put: Put) -> S3Result<()> {
    match put {
        Put::Kept => Ok(()),
        Put::Gone => Err(S3Error::no_such_bucket(
            "the bucket was deleted during the upload",
        )),
        Put::NoSuchKey => Err(S3Error::no_such_key(
            "the object If-Match names does not exist",
        )),
        Put::PreconditionFailed => Err(S3Error::precondition_failed(
            "at least one of the preconditions you specified did not hold",
        )),
    }
}

/// The MD5 an ETag's hex names (zeros where it is not hex: ETags come from our own store).
pub fn etag_md5(etag: &str) -> [u8; 16] {
    let mut md5 = [0u8; 16];
    for (i, byte) in md5.iter_mut().enumerate() {
        *byte = etag
            .get(2 * i..2 * i + 2)
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .unwrap_or(0);
    }
    md5
}

/// `PUT /bucket/key`.
pub async fn put(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: Body,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    crate::api::check_acl_headers(headers)?;
    let (meta, stored) = http::object_headers(headers)?;
    let content_type = header(headers, "content-type")
        .unwrap_or("binary/octet-stream")
        .to_owned();
    let gate = service.pin_gate.read().await;
    let (added, outcome) = take_body(service, caller, headers, body, None).await?;
    let record = ObjectRecord {
        cid: added.cid,
        size: added.size,
        tsize: added.tsize,
        etag: hex(&outcome.md5),
        modified_ms: http::now_ms(),
        content_type,
        headers: stored,
        meta,
        parts: 0,
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        checksum_type: None,
        checksum: outcome.checksum.map(|(a, v)| (a.name().to_owned(), v)),
    };
    let put = service
        .store
        .put_object(bucket, key, &record, &precondition(headers))?;
    drop(gate);
    service.release.notify_one();
    written(put)?;
    let mut r = empty(StatusCode::OK);
    put_header(r.headers_mut(), "etag", &format!("\"{}\"", record.etag));
    put_header(r.headers_mut(), crate::CID_HEADER, &record.cid.to_string());
    if let Some((a, v)) = &record.checksum
        && let Some(a) = Algorithm::parse(a)
    {
        put_header(r.headers_mut(), a.header(), v);
    }
    Ok(r)
}

/// `GET` or `HEAD /bucket/key`.
pub async fn get(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    query: &Query,
    headers: &HeaderMap,
    head: bool,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let object = service
        .store
        .object(bucket, key)?
        .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
    if let Err(e) = http::conditions(headers, "", &object, true) {
        if e.status != StatusCode::NOT_MODIFIED {
            return Err(e);
        }
        let mut r = empty(StatusCode::NOT_MODIFIED);
        put_header(r.headers_mut(), "etag", &format!("\"{}\"", object.etag));
        put_header(
            r.headers_mut(),
            "last-modified",
            &http::http_date(object.modified_ms),
        );
        return Ok(r);
    }
    let range = match query.get("partNumber") {
        None => http::range(header(headers, "range"), object.size)?,
        Some(n) => Some(part_range(&object, n)?),
    };
    let (from, to) = range.unwrap_or((0, object.size));
    let body = if head || from == to {
        Body::empty()
    } else {
        let stream = service
            .daemon
            .cat(&object.cid, from, to - from)
            .await
            .map_err(S3Error::service_unavailable)?;
        Body::from_stream(stream)
    };
    let mut r = Response::new(body);
    *r.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let order = service.store.order(&object.cid)?;
    let h = r.headers_mut();
    http::describe(h, &object);
    if let Some(o) = order {
        put_header(h, crate::ORDER_HEADER, o.state.as_str());
        put_header(
            h,
            crate::ORDER_REPLICAS_HEADER,
            &format!("{}/{}", o.replicas, o.target),
        );
        if o.expires_at != 0 {
            put_header(h, crate::ORDER_EXPIRES_HEADER, &o.expires_at.to_string());
        }
        if !o.error.is_empty() {
            let printable: String = o
                .error
                .chars()
                .filter(|c| c.is_ascii() && !c.is_ascii_control())
                .take(300)
                .collect();
            put_header(h, crate::ORDER_ERROR_HEADER, &printable);
        }
    }
    put_header(h, "content-length", &(to - from).to_string());
    if range.is_some() {
        put_header(
            h,
            "content-range",
            &format!("bytes {from}-{}/{}", to.saturating_sub(1), object.size),
        );
    }
    let algorithm = object
        .checksum
        .as_ref()
        .and_then(|(a, v)| Algorithm::parse(a).map(|a| (a, v)));
    let kind = object.checksum_type.as_deref().unwrap_or("FULL_OBJECT");
    let part = query
        .get("partNumber")
        .and_then(|n| n.parse::<usize>().ok());
    if let Some((a, v)) = algorithm {
        match part {
            // A part's own checksum, when the upload kept them.
            Some(n) => {
                if let Some(pv) = object.part_checksums.get(n.wrapping_sub(1)) {
                    put_header(h, a.header(), pv);
                    put_header(h, "x-amz-checksum-type", kind);
                }
            }
            None if range.is_none()
                && header(headers, "x-amz-checksum-mode")
                    .is_some_and(|m| m.eq_ignore_ascii_case("enabled")) =>
            {
                put_header(h, a.header(), v);
                put_header(h, "x-amz-checksum-type", kind);
            }
            None => {}
        }
    }
    for (param, name) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = query.get(param) {
            put_header(h, name, v);
        }
    }
    Ok(r)
}

/// Bytes of part `n` of an object (an object put in one piece is its own part 1).
fn part_range(object: &ObjectRecord, n: &str) -> S3Result<(u64, u64)> {
    let n: usize = n
        .parse()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    if object.part_sizes.is_empty() {
        return if n == 1 {
            Ok((0, object.size))
        } else {
            Err(S3Error::invalid_part(
                "the requested part number is not satisfiable",
            ))
        };
    }
    let size = *object
        .part_sizes
        .get(n - 1)
        .ok_or_else(|| S3Error::invalid_part("the requested part number is not satisfiable"))?;
    let start: u64 = object.part_sizes[..n - 1].iter().sum();
    Ok((start, start + size))
}

/// `GET /bucket/key?attributes`: what `x-amz-object-attributes` asks for (ETag, Checksum,
/// ObjectParts with `x-amz-max-parts` / `x-amz-part-number-marker`, StorageClass,
/// ObjectSize), without the content.
pub fn attributes(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let object = service
        .store
        .object(bucket, key)?
        .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
    let wanted: Vec<String> = header(headers, "x-amz-object-attributes")
        .unwrap_or_default()
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(S3Error::invalid_argument(
            "x-amz-object-attributes must name at least one attribute",
        ));
    }
    let number = |name: &str, default: u64| -> S3Result<u64> {
        header(headers, name).map_or(Ok(default), |v| {
            v.trim()
                .parse()
                .map_err(|_| S3Error::invalid_argument(format!("{name} must be a number")))
        })
    };
    let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
    let marker = number("x-amz-part-number-marker", 0)?;
    let mut children = Vec::new();
    for attribute in &wanted {
        match attribute.as_str() {
            "ETag" => children.push(el("ETag", &object.etag)),
            "StorageClass" => children.push(el("StorageClass", "STANDARD")),
            "ObjectSize" => children.push(el("ObjectSize", &object.size.to_string())),
            "Checksum" => {
                if let Some((a, v)) = &object.checksum
                    && let Some(a) = Algorithm::parse(a)
                {
                    let name = format!("Checksum{}", a.name());
                    let kind = object.checksum_type.as_deref().unwrap_or("FULL_OBJECT");
                    children.push(parent(
                        "Checksum",
                        &[el(&name, v), el("ChecksumType", kind)],
                    ));
                }
            }
            "ObjectParts" => {
                if object.part_sizes.is_empty() {
                    continue;
                }
                let total = object.part_sizes.len() as u64;
                let shown: Vec<(u64, u64)> = object
                    .part_sizes
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i as u64 + 1, *s))
                    .filter(|(n, _)| *n > marker)
                    .take(max_parts as usize)
                    .collect();
                let last = shown.last().map_or(marker, |(n, _)| *n);
                let mut parts = vec![
                    el("PartsCount", &total.to_string()),
                    el("PartNumberMarker", &marker.to_string()),
                    el("NextPartNumberMarker", &last.to_string()),
                    el("MaxParts", &max_parts.to_string()),
                    el("IsTruncated", if last < total { "true" } else { "false" }),
                ];
                let part_checksum = object
                    .checksum
                    .as_ref()
                    .and_then(|(a, _)| Algorithm::parse(a))
                    .map(|a| format!("Checksum{}", a.name()));
                for (n, size) in shown {
                    let mut fields = vec![
                        el("PartNumber", &n.to_string()),
                        el("Size", &size.to_string()),
                    ];
                    if let (Some(name), Some(v)) =
                        (&part_checksum, object.part_checksums.get(n as usize - 1))
                    {
                        fields.push(el(name, v));
                    }
                    parts.push(parent("Part", &fields));
                }
                children.push(parent("ObjectParts", &parts));
            }
            other => {
                return Err(S3Error::invalid_argument(format!(
                    "'{other}' is not an object attribute (ETag, Checksum, ObjectParts, StorageClass, ObjectSize)"
                )));
            }
        }
    }
    let mut r = xml_response(
        StatusCode::OK,
        xml::document("GetObjectAttributesResponse", Some(NS), &children),
    );
    put_header(
        r.headers_mut(),
        "last-modified",
        &http::http_date(object.modified_ms),
    );
    Ok(r)
}

/// `DELETE /bucket/key` (204 whether or not it existed, as S3).
pub fn delete(service: &Service, caller: &Caller, bucket: &str, key: &str) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    if service.store.delete_object(bucket, key)?.is_some() {
        service.release.notify_one();
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Most keys one multi-object delete may name.
pub const MAX_DELETE: usize = 1000;

/// `POST /bucket?delete`.
pub async fn delete_objects(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    _headers: &HeaderMap,
    body: Body,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let body = small_body(body, MAX_XML).await?;
    let doc = xml::parse(&body)?;
    if doc.name != "Delete" {
        return Err(S3Error::malformed_xml("the root element must be Delete"));
    }
    let quiet = doc
        .text_of("Quiet")
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let objects: Vec<&xml::Element> = doc.all("Object").collect();
    if objects.is_empty() || objects.len() > MAX_DELETE {
        return Err(S3Error::malformed_xml(format!(
            "a delete names 1–{MAX_DELETE} objects"
        )));
    }
    let mut results = Vec::new();
    let mut any = false;
    for o in objects {
        let key = o.text_of("Key").unwrap_or_default();
        match check_key(key).and_then(|()| Ok(service.store.delete_object(bucket, key)?)) {
            Ok(gone) => {
                any |= gone.is_some();
                if !quiet {
                    results.push(parent("Deleted", &[el("Key", key)]));
                }
            }
            Err(e) => results.push(parent(
                "Error",
                &[
                    el("Key", key),
                    el("Code", e.code),
                    el("Message", &e.message),
                ],
            )),
        }
    }
    if any {
        service.release.notify_one();
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("DeleteResult", Some(NS), &results),
    ))
}

/// `x-amz-copy-source` → (bucket, key).
pub fn copy_source(headers: &HeaderMap) -> S3Result<(String, String)> {
    let raw = header(headers, "x-amz-copy-source")
        .ok_or_else(|| S3Error::invalid_argument("x-amz-copy-source is missing"))?;
    let raw = raw.split_once("?versionId=").map_or(raw, |(s, _)| s);
    let decoded = String::from_utf8(crate::sigv4::percent_decode(raw))
        .map_err(|_| S3Error::invalid_argument("the copy source is not UTF-8"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (b, k) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("the copy source must be bucket/key"))?;
    check_key(k)?;
    Ok((b.to_owned(), k.to_owned()))
}

/// `PUT /bucket/key` with `x-amz-copy-source`: the same content under a new key, its
/// metadata copied or replaced (`x-amz-metadata-directive`).
pub async fn copy(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let (src_bucket, src_key) = copy_source(headers)?;
    service.owned_bucket(&src_bucket, caller)?;
    let replace = match header(headers, "x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "x-amz-metadata-directive must be COPY or REPLACE",
            ));
        }
    };
    if src_bucket == bucket && src_key == key && !replace {
        return Err(S3Error::invalid_request(
            "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata",
        ));
    }
    let source = service
        .store
        .object(&src_bucket, &src_key)?
        .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
    http::conditions(headers, "x-amz-copy-source-", &source, false)?;
    let (meta, stored) = http::object_headers(headers)?;
    let content_type = header(headers, "content-type").map(str::to_owned);
    let now = http::now_ms();
    let expected_etag = source.etag.clone();
    let copied = service
        .store
        .copy_object((&src_bucket, &src_key), (bucket, key), |s| {
            let mut r = s.clone();
            r.modified_ms = now;
            if replace {
                r.meta = meta;
                r.headers = stored;
                r.content_type = content_type.unwrap_or_else(|| "binary/octet-stream".into());
            }
            r
        })?;
    let record = match copied {
        None => {
            return Err(S3Error::no_such_key(
                "the source was deleted during the copy",
            ));
        }
        Some(None) => {
            return Err(S3Error::no_such_bucket(
                "the bucket was deleted during the copy",
            ));
        }
        Some(Some(r)) => r,
    };
    if record.etag != expected_etag {
        tracing::debug!(target: "crust::s3", "copy source changed during the copy");
    }
    let mut r = xml_response(
        StatusCode::OK,
        xml::document(
            "CopyObjectResult",
            Some(NS),
            &[
                el("LastModified", &http::iso8601(record.modified_ms)),
                el("ETag", &format!("\"{}\"", record.etag)),
            ],
        ),
    );
    put_header(r.headers_mut(), crate::CID_HEADER, &record.cid.to_string());
    Ok(r)
}
