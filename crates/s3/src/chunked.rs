//! `aws-chunked` bodies, as the SDKs stream uploads whose length or checksum they do not know
//! in advance: `hex-size[;chunk-signature=sig]\r\n data \r\n` … a zero-size chunk, then
//! optional trailers (`x-amz-checksum-crc32:…`, `x-amz-trailer-signature:…`) and an empty
//! line. A sans-I/O decoder: bytes in as they arrive, data out, each chunk's signature (a chain
//! seeded by the request's signature) checked as the chunk ends, the trailer's at the end.

use crate::S3Error;
use crate::sigv4::{EMPTY_SHA256, constant_time_eq, hex, hmac, sha256_hex};
use bytes::{Buf as _, Bytes, BytesMut};
use sha2::{Digest as _, Sha256};

/// Longest chunk header line or trailer line.
const MAX_LINE: usize = 4096;
/// Largest total of the trailers.
const MAX_TRAILERS: usize = 16 * 1024;
/// Largest single chunk.
const MAX_CHUNK: u64 = 64 * 1024 * 1024;

/// What checks chunk signatures: the signing key, the scope, the time and the chain so far.
#[derive(Clone)]
pub struct ChunkSigner {
    /// The derived signing key.
    pub key: [u8; 32],
    /// The request's `X-Amz-Date`.
    pub amz_date: String,
    /// `date/region/s3/aws4_request`.
    pub scope: String,
    /// The previous signature (the request's, then each chunk's).
    pub previous: String,
}

impl ChunkSigner {
    fn chunk(&self, data_hash: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_hash}",
            self.amz_date, self.scope, self.previous
        );
        hex(&hmac(&self.key, sts.as_bytes()))
    }

    fn trailer(&self, trailers: &str) -> String {
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(trailers.as_bytes())
        );
        hex(&hmac(&self.key, sts.as_bytes()))
    }
}

enum State {
    /// Reading a chunk's header line.
    Header,
    /// Inside a chunk's data: bytes still to come, and the signature it must have.
    Data {
        left: u64,
        signature: Option<String>,
    },
    /// The `\r\n` after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// Everything read.
    Done,
}

/// Decodes an `aws-chunked` body.
pub struct Decoder {
    state: State,
    buf: BytesMut,
    signer: Option<ChunkSigner>,
    hasher: Sha256,
    trailer_text: String,
    trailer_signature: Option<String>,
    /// Trailers received (lower-case name, value).
    pub trailers: Vec<(String, String)>,
}

fn bad(why: impl Into<String>) -> S3Error {
    S3Error::incomplete_body(format!("the aws-chunked body is malformed: {}", why.into()))
}

impl Decoder {
    /// A decoder checking chunk signatures with `signer` (`None`: unsigned chunks).
    pub fn new(signer: Option<ChunkSigner>) -> Self {
        Self {
            state: State::Header,
            buf: BytesMut::new(),
            signer,
            hasher: Sha256::new(),
            trailer_text: String::new(),
            trailer_signature: None,
            trailers: Vec::new(),
        }
    }

    /// Whether the whole body has been read.
    pub fn done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn line(&mut self) -> Result<Option<String>, S3Error> {
        let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            if self.buf.len() > MAX_LINE {
                return Err(bad("a line is too long"));
            }
            return Ok(None);
        };
        if pos > MAX_LINE {
            return Err(bad("a line is too long"));
        }
        let line = self.buf.split_to(pos);
        self.buf.advance(2);
        String::from_utf8(line.to_vec())
            .map(Some)
            .map_err(|_| bad("a line is not UTF-8"))
    }

    /// Feeds `input`; decoded data is pushed to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> Result<(), S3Error> {
        self.buf.extend_from_slice(input);
        loop {
            match &mut self.state {
                State::Header => {
                    let Some(line) = self.line()? else {
                        return Ok(());
                    };
                    let (size, ext) = line.split_once(';').unwrap_or((line.as_str(), ""));
                    let size = u64::from_str_radix(size.trim(), 16)
                        .map_err(|_| bad(format!("chunk size {size:?} is not hex")))?;
                    if size > MAX_CHUNK {
                        return Err(bad("a chunk is larger than 64 MiB"));
                    }
                    let signature = ext
                        .split(';')
                        .find_map(|e| e.trim().strip_prefix("chunk-signature="))
                        .map(str::to_owned);
                    if self.signer.is_some() && signature.is_none() {
                        return Err(S3Error::signature_mismatch("a chunk is not signed"));
                    }
                    if size == 0 {
                        self.check_chunk(signature.as_deref())?;
                        self.state = State::Trailers;
                    } else {
                        self.state = State::Data {
                            left: size,
                            signature,
                        };
                    }
                }
                State::Data { left, signature } => {
                    if self.buf.is_empty() {
                        return Ok(());
                    }
                    let take = (*left).min(self.buf.len() as u64) as usize;
                    let data = self.buf.split_to(take).freeze();
                    *left -= take as u64;
                    if self.signer.is_some() {
                        self.hasher.update(&data);
                    }
                    out.push(data);
                    if *left == 0 {
                        let signature = signature.take();
                        self.check_chunk(signature.as_deref())?;
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(());
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad("a chunk's data is longer than its size"));
                    }
                    self.buf.advance(2);
                    self.state = State::Header;
                }
                State::Trailers => {
                    let Some(line) = self.line()? else {
                        return Ok(());
                    };
                    if line.is_empty() {
                        self.check_trailers()?;
                        self.state = State::Done;
                        continue;
                    }
                    let (name, value) = line
                        .split_once(':')
                        .ok_or_else(|| bad("a trailer is not name:value"))?;
                    let name = name.trim().to_ascii_lowercase();
                    let value = value.trim().to_owned();
                    if self.trailer_text.len() + line.len() > MAX_TRAILERS {
                        return Err(bad("the trailers are too large"));
                    }
                    if name == "x-amz-trailer-signature" {
                        self.trailer_signature = Some(value);
                    } else {
                        self.trailer_text.push_str(&format!("{name}:{value}\n"));
                        self.trailers.push((name, value));
                    }
                }
                State::Done => {
                    if !self.buf.is_empty() && self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
                        return Err(bad("bytes after the last chunk"));
                    }
                    self.buf.clear();
                    return Ok(());
                }
            }
        }
    }

    fn check_chunk(&mut self, signature: Option<&str>) -> Result<(), S3Error> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        let data_hash = hex(&std::mem::take(&mut self.hasher).finalize());
        let expected = signer.chunk(&data_hash);
        let given = signature.unwrap_or_default();
        if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(S3Error::signature_mismatch(
                "a chunk's signature does not match the chunk",
            ));
        }
        signer.previous = expected;
        Ok(())
    }

    fn check_trailers(&mut self) -> Result<(), S3Error> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        match &self.trailer_signature {
            // Signed chunks without trailers end with the zero chunk's signature.
            None if self.trailers.is_empty() => Ok(()),
            None => Err(S3Error::signature_mismatch("the trailers are not signed")),
            Some(given) => {
                let expected = signer.trailer(&self.trailer_text);
                if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                    Ok(())
                } else {
                    Err(S3Error::signature_mismatch(
                        "the trailer signature does not match the trailers",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::signing_key;

    fn decode_all(decoder: &mut Decoder, body: &[u8], step: usize) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            decoder.feed(piece, &mut out)?;
        }
        Ok(out.concat())
    }

    // AWS's published example of a signed chunked upload ("Signature Calculations for the
    // Authorization Header: Transferring Payload in Multiple Chunks"): 66 560 bytes of 'a' in
    // chunks of 65 536 and 1 024.
    #[test]
    fn aws_streaming_example_verifies() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524",
            "us-east-1",
            "s3",
        );
        let signer = ChunkSigner {
            key,
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let sigs = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={}\r\n", sigs[0]).as_bytes());
        body.extend(std::iter::repeat_n(b'a', 65_536));
        body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n\r\n", sigs[2]).as_bytes());
        for step in [1, 7, 4096, body.len()] {
            let mut d = Decoder::new(Some(signer.clone()));
            let data = decode_all(&mut d, &body, step).unwrap();
            assert_eq!(data.len(), 66_560);
            assert!(d.done());
        }
        // One changed byte of data breaks its chunk's signature.
        let mut tampered = body.clone();
        tampered[200] = b'b';
        let mut d = Decoder::new(Some(signer));
        assert_eq!(
            decode_all(&mut d, &tampered, 4096).unwrap_err().code,
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn unsigned_trailers_are_read_and_garbage_refused() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut d = Decoder::new(None);
        assert_eq!(decode_all(&mut d, body, 3).unwrap(), b"hello world");
        assert!(d.done());
        assert_eq!(
            d.trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );

        let mut d = Decoder::new(None);
        assert!(decode_all(&mut d, b"zz\r\n", 10).is_err());
        let mut d = Decoder::new(None);
        assert!(decode_all(&mut d, b"5\r\nhelloXX", 10).is_err());
        let mut d = Decoder::new(None);
        assert!(decode_all(&mut d, &vec![b'1'; 10_000], 100).is_err());
        let mut d = Decoder::new(None);
        assert!(decode_all(&mut d, b"ffffffff\r\n", 100).is_err());
    }
}
