//! A multipart object's checksum from its parts' checksums, as S3 computes it: `COMPOSITE`
//! (the algorithm over the concatenated binary part checksums, then `-N`) or, for the CRCs,
//! `FULL_OBJECT` (the CRC of the whole object, combined from the parts' CRCs and lengths
//! without reading the object again).

use crate::intake::Algorithm;
use base64::Engine as _;
use sha2::Digest as _;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Whether `algorithm` can give a `FULL_OBJECT` checksum of a multipart object.
pub fn combinable(algorithm: Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Crc32 | Algorithm::Crc32c | Algorithm::Crc64Nvme
    )
}

/// `COMPOSITE`: the algorithm over the parts' binary checksums, then `-N`.
pub fn composite(algorithm: Algorithm, parts: &[String]) -> Option<String> {
    let mut raw = Vec::new();
    for p in parts {
        raw.extend_from_slice(&unb64(p)?);
    }
    let digest = match algorithm {
        Algorithm::Crc32 => crc32fast::hash(&raw).to_be_bytes().to_vec(),
        Algorithm::Crc32c => crc32c::crc32c(&raw).to_be_bytes().to_vec(),
        Algorithm::Crc64Nvme => {
            let mut d = crc64fast_nvme::Digest::new();
            d.write(&raw);
            d.sum64().to_be_bytes().to_vec()
        }
        Algorithm::Sha1 => sha1::Sha1::digest(&raw).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(&raw).to_vec(),
    };
    Some(format!("{}-{}", b64(&digest), parts.len()))
}

/// `FULL_OBJECT`: the whole object's CRC from its parts' (checksum, length), in order.
pub fn full_object(algorithm: Algorithm, parts: &[(String, u64)]) -> Option<String> {
    match algorithm {
        Algorithm::Crc32 => {
            let mut whole: Option<crc32fast::Hasher> = None;
            for (value, len) in parts {
                let crc = u32::from_be_bytes(unb64(value)?.try_into().ok()?);
                let part = crc32fast::Hasher::new_with_initial_len(crc, *len);
                match &mut whole {
                    None => whole = Some(part),
                    Some(w) => w.combine(&part),
                }
            }
            Some(b64(&whole?.finalize().to_be_bytes()))
        }
        Algorithm::Crc32c => {
            let mut whole: Option<u32> = None;
            for (value, len) in parts {
                let crc = u32::from_be_bytes(unb64(value)?.try_into().ok()?);
                whole = Some(match whole {
                    None => crc,
                    Some(w) => crc32c::crc32c_combine(w, crc, usize::try_from(*len).ok()?),
                });
            }
            Some(b64(&whole?.to_be_bytes()))
        }
        Algorithm::Crc64Nvme => {
            let mut whole: Option<u64> = None;
            for (value, len) in parts {
                let crc = u64::from_be_bytes(unb64(value)?.try_into().ok()?);
                whole = Some(match whole {
                    None => crc,
                    Some(w) => crc64_combine(w, crc, *len),
                });
            }
            Some(b64(&whole?.to_be_bytes()))
        }
        Algorithm::Sha1 | Algorithm::Sha256 => None,
    }
}

/// CRC-64/NVME's polynomial, reflected.
const CRC64_NVME_POLY: u64 = 0x9A6C_9329_AC4B_C9B5;

fn gf2_times(matrix: &[u64; 64], mut vector: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vector != 0 {
        if vector & 1 != 0 {
            sum ^= matrix[i];
        }
        vector >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64; 64], matrix: &[u64; 64]) {
    for (n, row) in square.iter_mut().enumerate() {
        *row = gf2_times(matrix, matrix[n]);
    }
}

/// The CRC-64/NVME of A‖B from the CRCs of A and B and B's length (zlib's `crc32_combine`
/// method: the CRC register advanced over `len2` zero bytes by repeated squaring of the
/// one-bit shift operator, in GF(2)).
pub fn crc64_combine(mut crc1: u64, crc2: u64, mut len2: u64) -> u64 {
    if len2 == 0 {
        return crc1;
    }
    let mut even = [0u64; 64];
    let mut odd = [0u64; 64];
    odd[0] = CRC64_NVME_POLY;
    let mut row = 1u64;
    for entry in odd.iter_mut().skip(1) {
        *entry = row;
        row <<= 1;
    }
    gf2_square(&mut even, &odd); // two zero bits
    gf2_square(&mut odd, &even); // four zero bits
    loop {
        gf2_square(&mut even, &odd); // one zero byte, then 4, 16, …
        if len2 & 1 != 0 {
            crc1 = gf2_times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc64(data: &[u8]) -> u64 {
        let mut d = crc64fast_nvme::Digest::new();
        d.write(data);
        d.sum64()
    }

    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        let a: Vec<u8> = (0..100_003u32).map(|i| (i * 31 % 256) as u8).collect();
        let b: Vec<u8> = (0..77_777u32).map(|i| (i * 17 % 253) as u8).collect();
        let c = b"tail".to_vec();
        let whole = [a.clone(), b.clone(), c.clone()].concat();
        assert_eq!(
            crc64_combine(
                crc64_combine(crc64(&a), crc64(&b), b.len() as u64),
                crc64(&c),
                4
            ),
            crc64(&whole)
        );
        for algorithm in [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme] {
            let one = |d: &[u8]| match algorithm {
                Algorithm::Crc32 => b64(&crc32fast::hash(d).to_be_bytes()),
                Algorithm::Crc32c => b64(&crc32c::crc32c(d).to_be_bytes()),
                _ => b64(&crc64(d).to_be_bytes()),
            };
            let parts: Vec<(String, u64)> = [&a, &b, &c]
                .iter()
                .map(|p| (one(p), p.len() as u64))
                .collect();
            assert_eq!(
                full_object(algorithm, &parts),
                Some(one(&whole)),
                "{algorithm:?}"
            );
        }
    }

    // s3-tests' vectors (test_multipart_use_cksum_helper_*: 5 MiB of 'A', 'B', 'C').
    #[test]
    fn the_suites_vectors() {
        let parts: Vec<Vec<u8>> = [b'A', b'B', b'C']
            .iter()
            .map(|c| vec![*c; 5 << 20])
            .collect();
        let sha: Vec<String> = parts
            .iter()
            .map(|p| b64(&sha2::Sha256::digest(p)))
            .collect();
        assert_eq!(sha[0], "275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI=");
        assert_eq!(
            composite(Algorithm::Sha256, &sha).as_deref(),
            Some("uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3")
        );
        let crc: Vec<(String, u64)> = parts
            .iter()
            .map(|p| (b64(&crc64(p).to_be_bytes()), p.len() as u64))
            .collect();
        assert_eq!(crc[0].0, "L/E4WYn8v98=");
        assert_eq!(
            full_object(Algorithm::Crc64Nvme, &crc).as_deref(),
            Some("i+6LR0y3eFo=")
        );
    }
}
