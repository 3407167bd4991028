//! AWS Signature Version 4, as S3 checks it: in the `Authorization` header or in a presigned
//! URL's query. The canonical request is rebuilt from what arrived (the path and query decoded
//! and re-encoded by S3's rules, the signed headers with their values trimmed), the signing key
//! is derived from the access key's secret, date, region and service, and the signatures are
//! compared in constant time. What a request may not be: signed for another region or service,
//! more than 15 minutes from our clock (header signatures), past its expiry (presigned URLs,
//! at most 7 days), or without the `host` header in what was signed.

use crate::S3Error;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

/// The only algorithm S3 accepts with SigV4.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far a header-signed request's time may be from our clock.
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;
/// The longest a presigned URL may live (seconds).
pub const MAX_PRESIGN_SECS: i64 = 7 * 24 * 60 * 60;
/// The SHA-256 of nothing, hex.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// SHA-256, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The key a secret signs with on `date` (YYYYMMDD) in `region` for `service`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// Percent-encodes by S3's rules: unreserved characters stay, `/` stays unless `slash`,
/// everything else is `%XX` in upper case.
pub fn uri_encode(bytes: &[u8], slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes (malformed ones stay as they are).
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A raw query's pairs, decoded (`a&b=c` → `[("a",""),("b","c")]`).
pub fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8_lossy(&percent_decode(k)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v)).into_owned(),
            )
        })
        .collect()
}

/// How the body is signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Not at all (`UNSIGNED-PAYLOAD`, presigned URLs).
    Unsigned,
    /// Its SHA-256 is in the signature; the body must hash to it.
    Sha256([u8; 32]),
    /// `aws-chunked`: each chunk signed in a chain from the seed signature.
    StreamingSigned {
        /// Whether checksum trailers follow, themselves signed.
        trailer: bool,
    },
    /// `aws-chunked` with unsigned chunks and a checksum trailer.
    StreamingUnsignedTrailer,
}

/// A request whose signature checked out.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The access key it was signed with.
    pub access_key: String,
    /// `X-Amz-Date` (YYYYMMDDTHHMMSSZ).
    pub amz_date: String,
    /// `date/region/s3/aws4_request`.
    pub scope: String,
    /// The derived signing key (for chunk signatures).
    pub signing_key: [u8; 32],
    /// The request's signature, the seed of a chunk-signature chain.
    pub signature: String,
    /// How the body is signed.
    pub payload: Payload,
}

/// What a request looks like to the signature check.
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The path as it arrived (percent-encoded).
    pub path: &'a str,
    /// The query as it arrived, without `?`.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
}

/// Parsed `X-Amz-Credential`: `AKID/date/region/service/aws4_request`.
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

fn credential(value: &str) -> Result<Credential<'_>, S3Error> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        [access_key, date, region, service, "aws4_request"] if date.len() == 8 => Ok(Credential {
            access_key,
            date,
            region,
            service,
        }),
        _ => Err(S3Error::malformed_auth(format!(
            "the credential '{value}' is not AKID/YYYYMMDD/region/s3/aws4_request"
        ))),
    }
}

/// Milliseconds since the UNIX epoch of an ISO 8601 basic time (`20130524T000000Z`).
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some((days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The canonical query: every pair but `skip`, encoded, sorted.
fn canonical_query(raw: &str, skip: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let k = uri_encode(&percent_decode(k), true);
            if skip.is_some_and(|s| s == k) {
                return None;
            }
            Some((k, uri_encode(&percent_decode(v), true)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each signed header (values trimmed, inner runs of spaces collapsed,
/// repeated headers joined with commas).
fn canonical_headers(headers: &HeaderMap, signed: &[&str]) -> Result<String, S3Error> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                let v = String::from_utf8_lossy(v.as_bytes());
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(S3Error::signature_mismatch(format!(
                "the signed header '{name}' is not in the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The canonical request of `req` with `signed` headers and `payload_hash`.
pub fn canonical_request(
    req: &Request<'_>,
    skip_query: Option<&str>,
    signed: &[&str],
    payload_hash: &str,
) -> Result<String, S3Error> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(&percent_decode(req.path), false),
        canonical_query(req.query, skip_query),
        canonical_headers(req.headers, signed)?,
        signed.join(";"),
        payload_hash
    ))
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

/// Who signs what: the secret of an access key.
pub trait Secrets {
    /// The secret of `access_key` (`None`: no such key, or revoked).
    fn secret(&self, access_key: &str) -> Result<Option<String>, S3Error>;
}

/// The server's side: the region it answers for.
#[derive(Clone, Debug)]
pub struct Verifier {
    /// The region requests must be signed for.
    pub region: String,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl Verifier {
    /// Checks `req`'s signature. `Ok(None)`: the request carries no signature at all (S3's
    /// anonymous access, which the caller decides on).
    pub fn check(
        &self,
        req: &Request<'_>,
        secrets: &impl Secrets,
        now_ms: i64,
    ) -> Result<Option<Signed>, S3Error> {
        if let Some(auth) = req.headers.get("authorization") {
            let auth = auth
                .to_str()
                .map_err(|_| S3Error::malformed_auth("the Authorization header is not ASCII"))?;
            return self.check_header(req, auth, secrets, now_ms).map(Some);
        }
        let query = query_pairs(req.query);
        if query
            .iter()
            .any(|(k, _)| k == "X-Amz-Algorithm" || k == "X-Amz-Signature")
        {
            return self.check_presigned(req, &query, secrets, now_ms).map(Some);
        }
        if query
            .iter()
            .any(|(k, _)| k == "AWSAccessKeyId" || k == "Signature")
        {
            return self.check_v2_query(req, &query, secrets, now_ms).map(Some);
        }
        Ok(None)
    }

    fn scope_checks(&self, cred: &Credential<'_>) -> Result<(), S3Error> {
        if cred.service != "s3" {
            return Err(S3Error::malformed_auth(format!(
                "the request is signed for the service '{}'; expecting 's3'",
                cred.service
            )));
        }
        if cred.region != self.region {
            return Err(S3Error::malformed_auth(format!(
                "the authorization header is malformed; the region '{}' is wrong; expecting '{}'",
                cred.region, self.region
            )));
        }
        Ok(())
    }

    fn check_header(
        &self,
        req: &Request<'_>,
        auth: &str,
        secrets: &impl Secrets,
        now_ms: i64,
    ) -> Result<Signed, S3Error> {
        let Some(rest) = auth.strip_prefix(ALGORITHM) else {
            if let Some(v2) = auth.strip_prefix("AWS ") {
                return self.check_v2_header(req, v2, secrets, now_ms);
            }
            return Err(S3Error::malformed_auth(
                "the authorization header is malformed; the algorithm must be AWS4-HMAC-SHA256",
            ));
        };
        let (mut cred, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            match part.split_once('=') {
                Some(("Credential", v)) => cred = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(cred), Some(signed_headers), Some(signature)) = (cred, signed_headers, signature)
        else {
            return Err(S3Error::malformed_auth(
                "the authorization header is malformed; it needs Credential, SignedHeaders and Signature",
            ));
        };
        let cred = credential(cred)?;
        let amz_date = match header(req.headers, "x-amz-date") {
            Some(d) => d.to_owned(),
            None => header(req.headers, "date")
                .and_then(http_date_to_amz)
                .ok_or_else(|| {
                    S3Error::access_denied(
                        "AWS authentication requires a valid Date or x-amz-date header",
                    )
                })?,
        };
        let time = parse_amz_date(&amz_date).ok_or_else(|| {
            S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
        })?;
        if !amz_date.starts_with(cred.date) {
            return Err(S3Error::signature_mismatch(
                "the credential's date is not the request's date",
            ));
        }
        let secret = secrets.secret(cred.access_key)?.ok_or_else(|| {
            S3Error::invalid_access_key(
                "the access key Id you provided does not exist in our records",
            )
        })?;
        self.scope_checks(&cred)?;
        if (time - now_ms).abs() > MAX_SKEW_MS {
            return Err(S3Error::time_skewed(
                "the difference between the request time and the current time is too large",
            ));
        }
        let signed: Vec<&str> = signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(S3Error::malformed_auth(
                "the signed headers must include 'host'",
            ));
        }
        let payload_hash = header(req.headers, "x-amz-content-sha256").ok_or_else(|| {
            S3Error::invalid_request(
                "missing required header for this request: x-amz-content-sha256",
            )
        })?;
        let payload = match payload_hash {
            UNSIGNED_PAYLOAD => Payload::Unsigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Payload::StreamingSigned { trailer: false },
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
                Payload::StreamingSigned { trailer: true }
            }
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Payload::StreamingUnsignedTrailer,
            hash => {
                let bytes = sha256_from_hex(hash).ok_or_else(|| {
                    S3Error::invalid_argument(
                        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a SHA-256 in hex",
                    )
                })?;
                Payload::Sha256(bytes)
            }
        };
        let canonical = canonical_request(req, None, &signed, payload_hash)?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            cred.date, cred.region, cred.service
        );
        let key = signing_key(&secret, cred.date, cred.region, cred.service);
        let expected = hex(&hmac(
            &key,
            string_to_sign(&amz_date, &scope, &canonical).as_bytes(),
        ));
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(S3Error::signature_mismatch(
                "the request signature we calculated does not match the signature you provided; check your key and signing method",
            ));
        }
        Ok(Signed {
            access_key: cred.access_key.to_owned(),
            amz_date,
            scope,
            signing_key: key,
            signature: signature.to_owned(),
            payload,
        })
    }

    fn check_presigned(
        &self,
        req: &Request<'_>,
        query: &[(String, String)],
        secrets: &impl Secrets,
        now_ms: i64,
    ) -> Result<Signed, S3Error> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| {
                    S3Error::malformed_auth(format!(
                        "a presigned URL needs the query parameter {name}"
                    ))
                })
        };
        if get("X-Amz-Algorithm")? != ALGORITHM {
            return Err(S3Error::malformed_auth(
                "the algorithm must be AWS4-HMAC-SHA256",
            ));
        }
        let cred = credential(get("X-Amz-Credential")?)?;
        let amz_date = get("X-Amz-Date")?;
        let time = parse_amz_date(amz_date)
            .ok_or_else(|| S3Error::malformed_auth("X-Amz-Date is not YYYYMMDDTHHMMSSZ"))?;
        let expires: i64 = get("X-Amz-Expires")?
            .parse()
            .map_err(|_| S3Error::malformed_auth("X-Amz-Expires must be a number of seconds"))?;
        if !(1..=MAX_PRESIGN_SECS).contains(&expires) {
            return Err(S3Error::malformed_auth(
                "X-Amz-Expires must be between 1 and 604800 seconds",
            ));
        }
        let signed_headers = get("X-Amz-SignedHeaders")?;
        let signature = get("X-Amz-Signature")?;
        let secret = secrets.secret(cred.access_key)?.ok_or_else(|| {
            S3Error::invalid_access_key(
                "the access key Id you provided does not exist in our records",
            )
        })?;
        self.scope_checks(&cred)?;
        if time - now_ms > MAX_SKEW_MS {
            return Err(S3Error::access_denied("the request is not yet valid"));
        }
        if now_ms > time + expires * 1000 {
            return Err(S3Error::access_denied("request has expired"));
        }
        let signed: Vec<&str> = signed_headers.split(';').collect();
        if !signed.contains(&"host") {
            return Err(S3Error::malformed_auth(
                "the signed headers must include 'host'",
            ));
        }
        let payload_hash = header(req.headers, "x-amz-content-sha256").unwrap_or(UNSIGNED_PAYLOAD);
        let canonical = canonical_request(req, Some("X-Amz-Signature"), &signed, payload_hash)?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            cred.date, cred.region, cred.service
        );
        let key = signing_key(&secret, cred.date, cred.region, cred.service);
        let expected = hex(&hmac(
            &key,
            string_to_sign(amz_date, &scope, &canonical).as_bytes(),
        ));
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(S3Error::signature_mismatch(
                "the request signature we calculated does not match the signature you provided; check your key and signing method",
            ));
        }
        Ok(Signed {
            access_key: cred.access_key.to_owned(),
            amz_date: amz_date.to_owned(),
            scope,
            signing_key: key,
            signature: signature.to_owned(),
            payload: Payload::Unsigned,
        })
    }
}

// ---- Signature Version 2: still what boto3 presigns with by default, and what older tools
// (s3cmd's default, many backup programs) sign with. HMAC-SHA1 over the method, Content-MD5,
// Content-Type, the date (or the URL's expiry), the x-amz-* headers and the resource.

/// The sub-resources and overrides that are part of a V2 signature's resource.
const V2_SUBRESOURCES: [&str; 27] = [
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
    "object-lock",
    "encryption",
];

fn v2_string_to_sign(req: &Request<'_>, date_or_expires: &str) -> String {
    let h = |name: &str| {
        header(req.headers, name)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let n = name.as_str();
        if n.starts_with("x-amz-") {
            let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            match amz.iter_mut().find(|(k, _)| k == n) {
                Some((_, existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                None => amz.push((n.to_owned(), v)),
            }
        }
    }
    amz.sort();
    let mut resource = req.path.to_owned();
    let mut subs: Vec<(String, String)> = query_pairs(req.query)
        .into_iter()
        .filter(|(k, _)| V2_SUBRESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(k);
        if !v.is_empty() {
            resource.push('=');
            resource.push_str(v);
        }
    }
    let mut out = format!(
        "{}\n{}\n{}\n{date_or_expires}\n",
        req.method,
        h("content-md5"),
        h("content-type")
    );
    for (k, v) in amz {
        out.push_str(&format!("{k}:{v}\n"));
    }
    out.push_str(&resource);
    out
}

fn v2_signature(secret: &str, string_to_sign: &str) -> String {
    use base64::Engine as _;
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn v2_signed(access_key: &str) -> Signed {
    Signed {
        access_key: access_key.to_owned(),
        amz_date: String::new(),
        scope: String::new(),
        signing_key: [0; 32],
        signature: String::new(),
        payload: Payload::Unsigned,
    }
}

impl Verifier {
    fn check_v2_query(
        &self,
        req: &Request<'_>,
        query: &[(String, String)],
        secrets: &impl Secrets,
        now_ms: i64,
    ) -> Result<Signed, S3Error> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| S3Error::access_denied(format!("a presigned URL needs {name}")))
        };
        let access_key = get("AWSAccessKeyId")?;
        let signature = get("Signature")?;
        let expires: i64 = get("Expires")?
            .parse()
            .map_err(|_| S3Error::access_denied("Expires must be seconds since the epoch"))?;
        let secret = secrets.secret(access_key)?.ok_or_else(|| {
            S3Error::invalid_access_key(
                "the access key Id you provided does not exist in our records",
            )
        })?;
        if now_ms / 1000 > expires {
            return Err(S3Error::access_denied("request has expired"));
        }
        let expected = v2_signature(&secret, &v2_string_to_sign(req, &expires.to_string()));
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(S3Error::signature_mismatch(
                "the request signature we calculated does not match the signature you provided; check your key and signing method",
            ));
        }
        Ok(v2_signed(access_key))
    }

    fn check_v2_header(
        &self,
        req: &Request<'_>,
        credentials: &str,
        secrets: &impl Secrets,
        now_ms: i64,
    ) -> Result<Signed, S3Error> {
        let (access_key, signature) = credentials.trim().split_once(':').ok_or_else(|| {
            S3Error::invalid_argument("the authorization header is not 'AWS AccessKeyId:Signature'")
        })?;
        let secret = secrets.secret(access_key)?.ok_or_else(|| {
            S3Error::invalid_access_key(
                "the access key Id you provided does not exist in our records",
            )
        })?;
        // x-amz-date, when present, stands for Date (and Date is then signed as empty).
        let (date, signed_date) = match header(req.headers, "x-amz-date") {
            Some(d) => (d.to_owned(), String::new()),
            None => {
                let d = header(req.headers, "date").unwrap_or_default().to_owned();
                (d.clone(), d)
            }
        };
        let time = crate::http::parse_http_date(&date).ok_or_else(|| {
            S3Error::access_denied("AWS authentication requires a valid Date or x-amz-date header")
        })?;
        if (time * 1000 - now_ms).abs() > MAX_SKEW_MS {
            return Err(S3Error::time_skewed(
                "the difference between the request time and the current time is too large",
            ));
        }
        let expected = v2_signature(&secret, &v2_string_to_sign(req, &signed_date));
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(S3Error::signature_mismatch(
                "the request signature we calculated does not match the signature you provided; check your key and signing method",
            ));
        }
        Ok(v2_signed(access_key))
    }
}

/// 64 hex digits → 32 bytes.
fn sha256_from_hex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

/// An RFC 7231 date (`Sun, 06 Nov 1994 08:49:37 GMT`) as `19941106T084937Z`.
fn http_date_to_amz(s: &str) -> Option<String> {
    let t = time::PrimitiveDateTime::parse(
        s.trim_end_matches(" GMT"),
        time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second]"
        ),
    )
    .ok()?;
    Some(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    struct One;
    impl Secrets for One {
        fn secret(&self, access_key: &str) -> Result<Option<String>, S3Error> {
            Ok((access_key == "AKIAIOSFODNN7EXAMPLE")
                .then(|| "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned()))
        }
    }

    fn verifier() -> Verifier {
        Verifier {
            region: "us-east-1".into(),
        }
    }

    // AWS's published example "GET Object" (S3 API reference, "Signature Calculations for the
    // Authorization Header: Transferring Payload in a Single Chunk").
    fn get_object_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("examplebucket.s3.amazonaws.com"),
        );
        h.insert("range", HeaderValue::from_static("bytes=0-9"));
        h.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static(EMPTY_SHA256),
        );
        h.insert("x-amz-date", HeaderValue::from_static("20130524T000000Z"));
        h
    }

    const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn aws_get_object_example_verifies() {
        let mut h = get_object_headers();
        h.insert("authorization", HeaderValue::from_str(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={GET_OBJECT_SIG}"
        )).unwrap());
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &h,
        };
        let now = parse_amz_date("20130524T000500Z").unwrap();
        let signed = verifier().check(&req, &One, now).unwrap().unwrap();
        assert_eq!(signed.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            signed.payload,
            Payload::Sha256(sha256_from_hex(EMPTY_SHA256).unwrap())
        );

        // Each way of getting it wrong is its own error.
        let late = parse_amz_date("20130524T003000Z").unwrap();
        assert_eq!(
            verifier().check(&req, &One, late).unwrap_err().code,
            "RequestTimeTooSkewed"
        );
        let other = Verifier {
            region: "eu-west-1".into(),
        };
        assert_eq!(
            other.check(&req, &One, now).unwrap_err().code,
            "AuthorizationHeaderMalformed"
        );
        let req2 = Request {
            method: "GET",
            path: "/test.txt2",
            query: "",
            headers: &h,
        };
        assert_eq!(
            verifier().check(&req2, &One, now).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let mut h3 = h.clone();
        h3.insert("authorization", HeaderValue::from_str(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDNOTKNOWN/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature={GET_OBJECT_SIG}"
        )).unwrap());
        let req3 = Request {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &h3,
        };
        assert_eq!(
            verifier().check(&req3, &One, now).unwrap_err().code,
            "InvalidAccessKeyId"
        );
    }

    // AWS's published presigned URL example ("Authenticating Requests: Using Query Parameters").
    #[test]
    fn aws_presigned_example_verifies_and_expires() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("examplebucket.s3.amazonaws.com"),
        );
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query,
            headers: &h,
        };
        let now = parse_amz_date("20130524T120000Z").unwrap();
        let signed = verifier().check(&req, &One, now).unwrap().unwrap();
        assert_eq!(signed.payload, Payload::Unsigned);
        let later = parse_amz_date("20130525T000001Z").unwrap();
        let e = verifier().check(&req, &One, later).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("AccessDenied", "request has expired")
        );
    }

    #[test]
    fn anonymous_requests_are_told_apart() {
        let h = HeaderMap::new();
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &h,
        };
        assert!(verifier().check(&req, &One, 0).unwrap().is_none());
        let req = Request {
            method: "GET",
            path: "/",
            query: "AWSAccessKeyId=x&Signature=y&Expires=1",
            headers: &h,
        };
        assert_eq!(
            verifier().check(&req, &One, 0).unwrap_err().code,
            "InvalidAccessKeyId"
        );
    }

    // AWS's published Signature Version 2 example (S3 developer guide, "Signing and
    // authenticating REST requests": Object GET).
    #[test]
    fn aws_v2_example_signs() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("johnsmith.s3.amazonaws.com"),
        );
        h.insert(
            "date",
            HeaderValue::from_static("Tue, 27 Mar 2007 19:36:42 +0000"),
        );
        let req = Request {
            method: "GET",
            path: "/johnsmith/photos/puppy.jpg",
            query: "",
            headers: &h,
        };
        let sts = v2_string_to_sign(&req, "Tue, 27 Mar 2007 19:36:42 +0000");
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
        );
        assert_eq!(
            v2_signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts),
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU="
        );
    }

    #[test]
    fn encoding_follows_s3() {
        assert_eq!(uri_encode(b"a b/c~d+e", false), "a%20b/c~d%2Be");
        assert_eq!(uri_encode(b"a/b", true), "a%2Fb");
        assert_eq!(percent_decode("a%2fb%zz%4"), b"a/b%zz%4");
        assert_eq!(canonical_query("b=2&a=1&uploads", None), "a=1&b=2&uploads=");
        assert_eq!(parse_amz_date("19700101T000001Z"), Some(1000));
        assert_eq!(
            http_date_to_amz("Fri, 24 May 2013 00:00:00 GMT").as_deref(),
            Some("20130524T000000Z")
        );
    }
}
