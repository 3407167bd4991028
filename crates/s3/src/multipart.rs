//! Multipart uploads: each part is content of its own on the daemon; completing joins the
//! listed parts under one more UnixFS node (no bytes copied), with S3's ETag of the parts'
//! MD5s. An upload's parts stay pinned until it completes or is aborted.

use crate::api::{MAX_XML, Query, small_body, xml_response};
use crate::content::Added;
use crate::http::{self, put as put_header};
use crate::intake::{self, Algorithm, Expect, Given, Outcome};
use crate::object::{copy_source, etag_md5, take_body};
use crate::service::{Caller, Service, empty};
use crate::sigv4::hex;
use crate::store::{ObjectRecord, PartRecord, UploadRecord};
use crate::xml::{self, NS, el, parent};
use crate::{S3Error, S3Result};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use md5::{Digest as _, Md5};
use std::sync::{Arc, Mutex};

/// Most parts an upload may have.
pub const MAX_PARTS: u32 = 10_000;

fn no_such_upload() -> S3Error {
    S3Error::no_such_upload(
        "the specified multipart upload does not exist; it may have been aborted or completed",
    )
}

/// The upload named by `uploadId`, if it is `caller`'s and for `bucket`/`key`.
fn upload_of(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: Option<&str>,
    query: &Query,
) -> S3Result<(String, UploadRecord)> {
    let id = query.get("uploadId").unwrap_or_default();
    let upload = service.store.upload(id)?.ok_or_else(no_such_upload)?;
    if upload.bucket != bucket || key.is_some_and(|k| k != upload.key) {
        return Err(no_such_upload());
    }
    if upload.owner != caller.account {
        return Err(S3Error::access_denied(
            "the upload belongs to another account",
        ));
    }
    Ok((id.to_owned(), upload))
}

/// `POST /bucket/key?uploads`.
pub fn create(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let (meta, stored) = http::object_headers(headers)?;
    let (checksum_algorithm, checksum_type) = checksum_choice(headers)?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| S3Error::internal(e.to_string()))?;
    let id = hex(&id);
    let now = http::now_ms();
    let record = UploadRecord {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        owner: caller.account,
        initiated_ms: now,
        object: ObjectRecord {
            cid: crust_ipfs::block::cid_of(0x55, b"", 1),
            size: 0,
            tsize: 0,
            etag: String::new(),
            modified_ms: now,
            content_type: headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("binary/octet-stream")
                .to_owned(),
            headers: stored,
            meta,
            parts: 0,
            part_sizes: Vec::new(),
            part_checksums: Vec::new(),
            checksum_type: None,
            checksum: None,
        },
        checksum_algorithm: checksum_algorithm.map(|a| a.name().to_owned()),
        checksum_type: checksum_type.clone(),
    };
    service.store.create_upload(&id, &record)?;
    let mut r = xml_response(
        StatusCode::OK,
        xml::document(
            "InitiateMultipartUploadResult",
            Some(NS),
            &[el("Bucket", bucket), el("Key", key), el("UploadId", &id)],
        ),
    );
    if let (Some(a), Some(t)) = (checksum_algorithm, checksum_type) {
        put_header(r.headers_mut(), "x-amz-checksum-algorithm", a.name());
        put_header(r.headers_mut(), "x-amz-checksum-type", &t);
    }
    Ok(r)
}

/// The checksum an upload keeps for its parts (`x-amz-checksum-algorithm`) and how the
/// object's is made of them (`x-amz-checksum-type`: `COMPOSITE`, the default but for
/// CRC64NVME, or `FULL_OBJECT`, CRCs only).
fn checksum_choice(headers: &HeaderMap) -> S3Result<(Option<Algorithm>, Option<String>)> {
    let Some(name) = headers
        .get("x-amz-checksum-algorithm")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok((None, None));
    };
    let algorithm = Algorithm::parse(name).ok_or_else(|| {
        S3Error::invalid_request(format!("the checksum algorithm '{name}' is not supported"))
    })?;
    let kind = match headers
        .get("x-amz-checksum-type")
        .and_then(|v| v.to_str().ok())
    {
        Some(t) => t.to_ascii_uppercase(),
        None if algorithm == Algorithm::Crc64Nvme => "FULL_OBJECT".to_owned(),
        None => "COMPOSITE".to_owned(),
    };
    match kind.as_str() {
        "COMPOSITE" if algorithm != Algorithm::Crc64Nvme => {}
        "FULL_OBJECT" if crate::checksum::combinable(algorithm) => {}
        _ => {
            return Err(S3Error::invalid_request(format!(
                "the checksum type '{kind}' is not available for {}",
                algorithm.name()
            )));
        }
    }
    Ok((Some(algorithm), Some(kind)))
}

fn part_number(query: &Query) -> S3Result<u32> {
    query
        .get("partNumber")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(format!(
                "part number must be an integer between 1 and {MAX_PARTS}, inclusive"
            ))
        })
}

/// `PUT /bucket/key?partNumber=N&uploadId=…` (with `x-amz-copy-source`: a part copied from
/// an object, whole or a range of it).
pub async fn upload_part(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> S3Result<Response> {
    let n = part_number(query)?;
    let (id, upload) = upload_of(service, caller, bucket, Some(key), query)?;
    let algorithm = upload
        .checksum_algorithm
        .as_deref()
        .and_then(Algorithm::parse);
    let copying = headers.contains_key("x-amz-copy-source");
    let gate = service.pin_gate.read().await;
    let (added, md5, checksum) = if copying {
        copy_part(service, caller, headers, algorithm).await?
    } else {
        let (added, outcome) = take_body(service, caller, headers, body, algorithm).await?;
        (added, outcome.md5, outcome.checksum)
    };
    let checksum = match (algorithm, checksum) {
        (None, _) => None,
        (Some(a), Some((b, v))) if a == b => Some(v),
        (Some(a), _) => {
            return Err(S3Error::invalid_request(format!(
                "the upload keeps {} checksums; this part was sent with another",
                a.name()
            )));
        }
    };
    let part = PartRecord {
        cid: added.cid,
        size: added.size,
        tsize: added.tsize,
        etag: hex(&md5),
        modified_ms: http::now_ms(),
        checksum: checksum.clone(),
    };
    let kept = service.store.put_part(&id, n, &part)?;
    drop(gate);
    service.release.notify_one();
    if !kept {
        return Err(no_such_upload());
    }
    if copying {
        return Ok(xml_response(
            StatusCode::OK,
            xml::document(
                "CopyPartResult",
                Some(NS),
                &[
                    el("LastModified", &http::iso8601(part.modified_ms)),
                    el("ETag", &format!("\"{}\"", part.etag)),
                ],
            ),
        ));
    }
    let mut r = empty(StatusCode::OK);
    put_header(r.headers_mut(), "etag", &format!("\"{}\"", part.etag));
    if let (Some(a), Some(v)) = (algorithm, &checksum) {
        put_header(r.headers_mut(), a.header(), v);
    }
    Ok(r)
}

/// A part copied from an object: the object's own content when whole, else the range read
/// out and added as new content.
async fn copy_part(
    service: &Service,
    caller: &Caller,
    headers: &HeaderMap,
    compute: Option<Algorithm>,
) -> S3Result<(Added, [u8; 16], Option<(Algorithm, String)>)> {
    let (src_bucket, src_key) = copy_source(headers)?;
    service.owned_bucket(&src_bucket, caller)?;
    let source = service
        .store
        .object(&src_bucket, &src_key)?
        .ok_or_else(|| S3Error::no_such_key("the specified key does not exist"))?;
    http::conditions(headers, "x-amz-copy-source-", &source, false)?;
    let range = match headers
        .get("x-amz-copy-source-range")
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(r) => Some(copy_range(r, source.size)?),
    };
    let (from, to) = range.unwrap_or((0, source.size));
    if source.size > service.settings.max_object && range.is_none() {
        return Err(S3Error::invalid_request(
            "the source is larger than a part may be; copy it in ranges",
        ));
    }
    if from == 0 && to == source.size && source.parts == 0 && compute.is_none() {
        // The whole object: its own content, pinned again for the part.
        service
            .daemon
            .pin(&source.cid)
            .await
            .map_err(S3Error::service_unavailable)?;
        let md5 = etag_md5(&source.etag);
        return Ok((
            Added {
                cid: source.cid,
                size: source.size,
                tsize: source.tsize,
            },
            md5,
            None,
        ));
    }
    let stream = service
        .daemon
        .cat(&source.cid, from, to - from)
        .await
        .map_err(S3Error::service_unavailable)?;
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let checked = intake::stream(
        Box::pin(stream),
        None,
        Expect {
            length: Some(to - from),
            max: u64::MAX,
            checksum: compute.map(|a| (a, Given::Compute)),
            ..Expect::default()
        },
        outcome.clone(),
    );
    let added = service.daemon.add(checked).await;
    let outcome = outcome.lock().map(|o| o.clone()).unwrap_or_default();
    if let Some(e) = outcome.error {
        return Err(S3Error::internal(format!("reading the copy source: {e}")));
    }
    let (cid, tsize) = added.map_err(S3Error::service_unavailable)?;
    Ok((
        Added {
            cid,
            size: outcome.size,
            tsize,
        },
        outcome.md5,
        outcome.checksum,
    ))
}

/// `x-amz-copy-source-range`: exactly `bytes=first-last`, within the source.
fn copy_range(spec: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        S3Error::invalid_argument(
            "the x-amz-copy-source-range must be bytes=first-last (one range, both numbers)",
        )
    };
    let (a, b) = spec
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let (first, last) = (
        a.parse::<u64>().map_err(|_| bad())?,
        b.parse::<u64>().map_err(|_| bad())?,
    );
    if first > last || last >= size {
        return Err(S3Error::invalid_range(
            "the x-amz-copy-source-range is not within the source object",
        ));
    }
    Ok((first, last + 1))
}

/// `GET /bucket/key?uploadId=…`.
pub fn list_parts(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    query: &Query,
) -> S3Result<Response> {
    let (id, upload) = upload_of(service, caller, bucket, Some(key), query)?;
    let marker: u32 = query
        .get("part-number-marker")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::invalid_argument("part-number-marker must be a number"))
        })
        .transpose()?
        .unwrap_or(0);
    let max: usize = query
        .get("max-parts")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::invalid_argument("max-parts must be a number"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let (parts, more) = service.store.parts(&id, marker, max)?;
    let owner = caller.account.to_ss58();
    let mut children = vec![
        el("Bucket", bucket),
        el("Key", key),
        el("UploadId", &id),
        parent("Initiator", &[el("ID", &owner), el("DisplayName", &owner)]),
        parent("Owner", &[el("ID", &owner), el("DisplayName", &owner)]),
        el("StorageClass", "STANDARD"),
        el("PartNumberMarker", &marker.to_string()),
        el(
            "NextPartNumberMarker",
            &parts.last().map_or(0, |(n, _)| *n).to_string(),
        ),
        el("MaxParts", &max.to_string()),
        el("IsTruncated", if more { "true" } else { "false" }),
    ];
    let _ = upload;
    for (n, p) in &parts {
        children.push(parent(
            "Part",
            &[
                el("PartNumber", &n.to_string()),
                el("LastModified", &http::iso8601(p.modified_ms)),
                el("ETag", &format!("\"{}\"", p.etag)),
                el("Size", &p.size.to_string()),
            ],
        ));
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("ListPartsResult", Some(NS), &children),
    ))
}

/// `DELETE /bucket/key?uploadId=…`.
pub fn abort(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    query: &Query,
) -> S3Result<Response> {
    let (id, _) = upload_of(service, caller, bucket, None, query)?;
    if !service.store.abort_upload(&id)? {
        return Err(no_such_upload());
    }
    service.release.notify_one();
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /bucket/key?uploadId=…`: the listed parts, in order, become the object.
pub async fn complete(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    key: &str,
    query: &Query,
    headers: &HeaderMap,
    body: Body,
) -> S3Result<Response> {
    let id = query.get("uploadId").unwrap_or_default();
    if service.store.upload(id)?.is_none() {
        // Completing again answers as the first time did, while the object is still that one.
        if let Some(done) = service.store.completed(id)?
            && done.bucket == bucket
            && done.key == key
            && let Some(object) = service.store.object(bucket, key)?
            && object.etag == done.etag
        {
            service.owned_bucket(bucket, caller)?;
            return Ok(completed_answer(bucket, key, &object));
        }
    }
    let (id, upload) = upload_of(service, caller, bucket, Some(key), query)?;
    let algorithm = upload
        .checksum_algorithm
        .as_deref()
        .and_then(Algorithm::parse);
    let body = small_body(body, MAX_XML).await?;
    let doc = xml::parse(&body)?;
    if doc.name != "CompleteMultipartUpload" {
        return Err(S3Error::malformed_xml(
            "the root element must be CompleteMultipartUpload",
        ));
    }
    let mut listed = Vec::new();
    for p in doc.all("Part") {
        let n: u32 = p
            .text_of("PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| S3Error::malformed_xml("each Part needs a PartNumber"))?;
        let etag = p
            .text_of("ETag")
            .unwrap_or_default()
            .trim()
            .trim_matches('"')
            .to_owned();
        let checksum = algorithm
            .and_then(|a| p.text_of(&format!("Checksum{}", a.name())))
            .map(|c| c.trim().to_owned());
        listed.push((n, etag, checksum));
    }
    if listed.is_empty() {
        return Err(S3Error::malformed_xml(
            "the XML you provided did not list any parts",
        ));
    }
    if listed.windows(2).any(|w| w[0].0 > w[1].0) {
        return Err(S3Error::invalid_part_order(
            "the list of parts was not in ascending order; parts must be ordered by part number",
        ));
    }
    let (stored, _) = service.store.parts(&id, 0, MAX_PARTS as usize)?;
    let stored: std::collections::BTreeMap<u32, PartRecord> = stored.into_iter().collect();
    let mut chosen = Vec::with_capacity(listed.len());
    let mut md5s = Md5::new();
    // A part listed more than once (uploaded again while the list was made) counts once,
    // as the upload that finished last, if the list names it.
    type Listed<'a> = (&'a str, Option<&'a str>);
    let mut groups: Vec<(u32, Vec<Listed<'_>>)> = Vec::new();
    for (n, etag, checksum) in &listed {
        let entry = (etag.as_str(), checksum.as_deref());
        match groups.last_mut() {
            Some((last, entries)) if last == n => entries.push(entry),
            _ => groups.push((*n, vec![entry])),
        }
    }
    let count = groups.len();
    let mut part_checksums = Vec::new();
    for (i, (n, entries)) in groups.iter().enumerate() {
        let (part, named) = stored
            .get(n)
            .and_then(|p| {
                entries
                    .iter()
                    .find(|(etag, _)| *etag == p.etag)
                    .map(|(_, checksum)| (p, *checksum))
            })
            .ok_or_else(|| {
                S3Error::invalid_part(format!(
                    "part {n} could not be found, or its ETag does not match; upload it again"
                ))
            })?;
        if let Some(a) = algorithm {
            // A listed checksum must be the part's; an unlisted one is the part's kept one.
            match (&part.checksum, named) {
                (Some(kept), None) => part_checksums.push((kept.clone(), part.size)),
                (Some(kept), Some(named)) if kept == named => {
                    part_checksums.push((kept.clone(), part.size));
                }
                _ => {
                    return Err(S3Error::bad_digest(format!(
                        "the {} checksum listed for part {n} does not match the part",
                        a.name()
                    )));
                }
            }
        }
        if i + 1 < count && part.size < service.settings.min_part {
            return Err(S3Error::entity_too_small(format!(
                "your proposed upload is smaller than the minimum allowed size: part {n} is {} bytes, parts but the last must be at least {}",
                part.size, service.settings.min_part
            )));
        }
        md5s.update(etag_md5(&part.etag));
        chosen.push(Added {
            cid: part.cid,
            size: part.size,
            tsize: part.tsize,
        });
    }
    let etag = format!("{}-{}", hex(&md5s.finalize()), count);
    // The object's checksum from its parts', checked against the one the client computed.
    let mut checksum = None;
    if let Some(a) = algorithm {
        let kind = upload
            .checksum_type
            .clone()
            .unwrap_or_else(|| "COMPOSITE".into());
        let values: Vec<String> = part_checksums.iter().map(|(v, _)| v.clone()).collect();
        let whole = if kind == "FULL_OBJECT" {
            crate::checksum::full_object(a, &part_checksums)
        } else {
            crate::checksum::composite(a, &values)
        }
        .ok_or_else(|| S3Error::invalid_request("the parts' checksums do not decode"))?;
        if let Some(claimed) = headers.get(a.header()).and_then(|v| v.to_str().ok())
            && claimed.trim() != whole
        {
            return Err(S3Error::bad_digest(format!(
                "the {} you specified did not match the calculated checksum",
                a.name()
            )));
        }
        checksum = Some((a.name().to_owned(), whole, kind, values));
    }
    let gate = service.pin_gate.read().await;
    let joined = service
        .daemon
        .join(&chosen)
        .await
        .map_err(S3Error::service_unavailable)?;
    let mut record = upload.object.clone();
    record.cid = joined.cid;
    record.size = joined.size;
    record.tsize = joined.tsize;
    record.etag = etag;
    record.modified_ms = http::now_ms();
    record.parts = count as u32;
    record.part_sizes = chosen.iter().map(|p| p.size).collect();
    if let Some((name, whole, kind, values)) = checksum {
        record.checksum = Some((name, whole));
        record.checksum_type = Some(kind);
        record.part_checksums = values;
    }
    let put = service
        .store
        .complete_upload(&id, &record, &crate::object::precondition(headers))?;
    drop(gate);
    service.release.notify_one();
    if put == crate::store::Put::Gone {
        return Err(no_such_upload());
    }
    crate::object::written(put)?;
    Ok(completed_answer(bucket, key, &record))
}

fn completed_answer(bucket: &str, key: &str, object: &ObjectRecord) -> Response {
    let mut children = vec![
        el("Location", &format!("/{bucket}/{key}")),
        el("Bucket", bucket),
        el("Key", key),
        el("ETag", &format!("\"{}\"", object.etag)),
    ];
    let checksum = object
        .checksum
        .as_ref()
        .and_then(|(a, v)| Algorithm::parse(a).map(|a| (a, v)));
    if let Some((a, v)) = checksum {
        children.push(el(&format!("Checksum{}", a.name()), v));
        if let Some(t) = &object.checksum_type {
            children.push(el("ChecksumType", t));
        }
    }
    let mut r = xml_response(
        StatusCode::OK,
        xml::document("CompleteMultipartUploadResult", Some(NS), &children),
    );
    put_header(r.headers_mut(), crate::CID_HEADER, &object.cid.to_string());
    if let Some((a, v)) = checksum {
        put_header(r.headers_mut(), a.header(), v);
    }
    r
}

/// `GET /bucket?uploads`.
pub fn list_uploads(
    service: &Service,
    caller: &Caller,
    bucket: &str,
    query: &Query,
) -> S3Result<Response> {
    service.owned_bucket(bucket, caller)?;
    let prefix = query.get("prefix").unwrap_or_default();
    let key_marker = query.get("key-marker").unwrap_or_default();
    let id_marker = query.get("upload-id-marker").unwrap_or_default();
    let max: usize = query
        .get("max-uploads")
        .map(|m| {
            m.parse()
                .map_err(|_| S3Error::invalid_argument("max-uploads must be a number"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let (uploads, more) = service
        .store
        .uploads(bucket, prefix, key_marker, id_marker, max)?;
    let owner = caller.account.to_ss58();
    let mut children = vec![
        el("Bucket", bucket),
        el("KeyMarker", key_marker),
        el("UploadIdMarker", id_marker),
        el(
            "NextKeyMarker",
            uploads.last().map_or("", |(_, u)| u.key.as_str()),
        ),
        el(
            "NextUploadIdMarker",
            uploads.last().map_or("", |(id, _)| id.as_str()),
        ),
        el("Prefix", prefix),
        el("MaxUploads", &max.to_string()),
        el("IsTruncated", if more { "true" } else { "false" }),
    ];
    for (id, u) in &uploads {
        children.push(parent(
            "Upload",
            &[
                el("Key", &u.key),
                el("UploadId", id),
                parent("Initiator", &[el("ID", &owner), el("DisplayName", &owner)]),
                parent("Owner", &[el("ID", &owner), el("DisplayName", &owner)]),
                el("StorageClass", "STANDARD"),
                el("Initiated", &http::iso8601(u.initiated_ms)),
            ],
        ));
    }
    Ok(xml_response(
        StatusCode::OK,
        xml::document("ListMultipartUploadsResult", Some(NS), &children),
    ))
}
