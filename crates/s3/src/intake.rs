//! An upload's body on its way to the content layer: decoded from `aws-chunked` when it is,
//! counted, hashed (MD5 for the ETag, SHA-256 when the signature covers the payload, the
//! checksum the client named) and checked when it ends. The stream fails instead of ending
//! when anything is wrong (a short or long body, a digest that does not match, a client that
//! went quiet or away), so what it feeds (an import on the IPFS daemon) fails with it and no
//! object appears; the reason is left in the [`Outcome`].

use crate::S3Error;
use crate::chunked::Decoder;
use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The checksum algorithms S3 clients send (`x-amz-checksum-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// CRC-32 (IEEE).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME (the AWS SDKs' newer default).
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    /// From S3's name (`CRC32`, `crc32c`, …).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "crc32" => Some(Self::Crc32),
            "crc32c" => Some(Self::Crc32c),
            "crc64nvme" => Some(Self::Crc64Nvme),
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The header carrying it (`x-amz-checksum-crc32`).
    pub fn header(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Its name in messages (`CRC32`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }
}

enum Summer {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl Summer {
    fn new(a: Algorithm) -> Self {
        match a {
            Algorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => Self::Crc32c(0),
            Algorithm::Crc64Nvme => Self::Crc64(crc64fast_nvme::Digest::new()),
            Algorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(h) => h.update(data),
            Self::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Self::Crc64(d) => d.write(data),
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match self {
            Self::Crc32(h) => b64(&h.finalize().to_be_bytes()),
            Self::Crc32c(c) => b64(&c.to_be_bytes()),
            Self::Crc64(d) => b64(&d.sum64().to_be_bytes()),
            Self::Sha1(h) => b64(&h.finalize()),
            Self::Sha256(h) => b64(&h.finalize()),
        }
    }
}

/// What the body must be.
#[derive(Default)]
pub struct Expect {
    /// Its exact length, when the client said (`Content-Length`, or
    /// `x-amz-decoded-content-length` for aws-chunked).
    pub length: Option<u64>,
    /// The most it may be.
    pub max: u64,
    /// `Content-MD5`.
    pub md5: Option<[u8; 16]>,
    /// The SHA-256 the signature covers.
    pub sha256: Option<[u8; 32]>,
    /// A checksum to compute, and where its expected value comes from.
    pub checksum: Option<(Algorithm, Given)>,
}

/// Where a checksum's expected value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Given {
    /// In a header.
    Header(String),
    /// In a trailer of the aws-chunked body.
    Trailer,
    /// Nowhere: computed only (a part of an upload that keeps checksums, sent without one).
    Compute,
}

/// What the body turned out to be.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Bytes of content.
    pub size: u64,
    /// Their MD5.
    pub md5: [u8; 16],
    /// The checksum computed, when one was asked for (algorithm, base64).
    pub checksum: Option<(Algorithm, String)>,
    /// Why the body was refused, when it was.
    pub error: Option<S3Error>,
    /// Whether the body was read to its end and passed every check.
    pub complete: bool,
}

/// How long a client may send nothing before the upload is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

struct Intake<S> {
    body: S,
    decoder: Option<Decoder>,
    queue: VecDeque<Bytes>,
    expect: Expect,
    md5: Md5,
    sha256: Option<Sha256>,
    summer: Option<Summer>,
    size: u64,
    outcome: Arc<Mutex<Outcome>>,
    finished: bool,
}

impl<S> Intake<S> {
    fn fail(&mut self, e: S3Error) -> std::io::Error {
        self.finished = true;
        let message = e.to_string();
        if let Ok(mut o) = self.outcome.lock() {
            o.error = Some(e);
        }
        std::io::Error::other(message)
    }

    fn take(&mut self, data: Bytes) -> Result<(), S3Error> {
        self.size += data.len() as u64;
        if self.size > self.expect.max {
            return Err(S3Error::entity_too_large(format!(
                "your proposed upload exceeds the maximum allowed size of {} bytes",
                self.expect.max
            )));
        }
        if self.expect.length.is_some_and(|l| self.size > l) {
            return Err(S3Error::invalid_request(
                "the body is longer than its declared length",
            ));
        }
        self.md5.update(&data);
        if let Some(h) = &mut self.sha256 {
            h.update(&data);
        }
        if let Some(s) = &mut self.summer {
            s.update(&data);
        }
        self.queue.push_back(data);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), S3Error> {
        if let Some(d) = &self.decoder
            && !d.done()
        {
            return Err(S3Error::incomplete_body(
                "the request body ended before its last chunk",
            ));
        }
        if let Some(l) = self.expect.length
            && self.size != l
        {
            return Err(S3Error::incomplete_body(format!(
                "you did not provide the number of bytes specified by the Content-Length header ({} of {l})",
                self.size
            )));
        }
        let md5: [u8; 16] = std::mem::take(&mut self.md5).finalize().into();
        if let Some(want) = self.expect.md5
            && want != md5
        {
            return Err(S3Error::bad_digest(
                "the Content-MD5 you specified did not match what we received",
            ));
        }
        if let Some(h) = self.sha256.take() {
            let got: [u8; 32] = h.finalize().into();
            if Some(got) != self.expect.sha256 {
                return Err(S3Error::sha256_mismatch(
                    "the provided 'x-amz-content-sha256' header does not match what was computed",
                ));
            }
        }
        let mut checksum = None;
        if let (Some(s), Some((algorithm, given))) = (self.summer.take(), &self.expect.checksum) {
            let got = s.finish();
            let given = match given {
                Given::Header(v) => Some(v.clone()),
                Given::Compute => Some(got.clone()),
                Given::Trailer => self.decoder.as_ref().and_then(|d| {
                    d.trailers
                        .iter()
                        .find(|(n, _)| n == algorithm.header())
                        .map(|(_, v)| v.clone())
                }),
            };
            match given {
                Some(v) if v == got => {}
                Some(_) => {
                    return Err(S3Error::bad_digest(format!(
                        "the {} you specified did not match the calculated checksum",
                        algorithm.name()
                    )));
                }
                None => {
                    return Err(S3Error::invalid_request(format!(
                        "the {} checksum was announced but not sent",
                        algorithm.name()
                    )));
                }
            }
            checksum = Some((*algorithm, got));
        }
        if let Ok(mut o) = self.outcome.lock() {
            o.size = self.size;
            o.md5 = md5;
            o.checksum = checksum;
            o.complete = true;
        }
        Ok(())
    }
}

/// The body as a stream of checked content; see the module's description.
pub fn stream<S, E>(
    body: S,
    decoder: Option<Decoder>,
    expect: Expect,
    outcome: Arc<Mutex<Outcome>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let sha256 = expect.sha256.map(|_| Sha256::new());
    let summer = expect.checksum.as_ref().map(|(a, _)| Summer::new(*a));
    let state = Intake {
        body,
        decoder,
        queue: VecDeque::new(),
        expect,
        md5: Md5::new(),
        sha256,
        summer,
        size: 0,
        outcome,
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(data) = st.queue.pop_front() {
                return Some((Ok(data), st));
            }
            if st.finished {
                return None;
            }
            let next = match tokio::time::timeout(IDLE_TIMEOUT, st.body.next()).await {
                Ok(n) => n,
                Err(_) => {
                    let e = st.fail(S3Error::request_timeout(
                        "your socket connection to the server was not read from or written to within the timeout period",
                    ));
                    return Some((Err(e), st));
                }
            };
            match next {
                Some(Ok(bytes)) => {
                    let result = if let Some(d) = st.decoder.as_mut() {
                        let mut out = Vec::new();
                        match d.feed(&bytes, &mut out) {
                            Ok(()) => out.into_iter().try_for_each(|b| st.take(b)),
                            Err(e) => Err(e),
                        }
                    } else {
                        st.take(bytes)
                    };
                    if let Err(e) = result {
                        let e = st.fail(e);
                        return Some((Err(e), st));
                    }
                }
                Some(Err(e)) => {
                    let e = st.fail(S3Error::incomplete_body(format!(
                        "the connection broke during the upload: {e}"
                    )));
                    return Some((Err(e), st));
                }
                None => {
                    st.finished = true;
                    if let Err(e) = st.finish() {
                        let e = st.fail(e);
                        return Some((Err(e), st));
                    }
                }
            }
        }
    })
}
