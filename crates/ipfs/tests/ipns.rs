//! IPNS records signed here with a real Ed25519 key: accepted when valid, refused when
//! tampered, expired or inconsistent; served and resolved by the gateway.

use crust_ipfs::ipns::{self, IpnsError, Name, RecordStore};
use crust_ipfs::pb;
use ed25519_dalek::{Signer, SigningKey};

mod common;

fn cbor_text(out: &mut Vec<u8>, major: u8, bytes: &[u8]) {
    out.push((major << 5) | 24);
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn cbor_uint(out: &mut Vec<u8>, v: u64) {
    out.push(27);
    out.extend_from_slice(&v.to_be_bytes());
}

/// A V1+V2 record for `value`, valid until `validity`.
fn record(
    key: &SigningKey,
    value: &str,
    validity: &str,
    sequence: u64,
    v1_value: Option<&str>,
) -> Vec<u8> {
    let mut data = vec![0xa5];
    cbor_text(&mut data, 3, b"TTL");
    cbor_uint(&mut data, 60_000_000_000);
    cbor_text(&mut data, 3, b"Value");
    cbor_text(&mut data, 2, value.as_bytes());
    cbor_text(&mut data, 3, b"Sequence");
    cbor_uint(&mut data, sequence);
    cbor_text(&mut data, 3, b"Validity");
    cbor_text(&mut data, 2, validity.as_bytes());
    cbor_text(&mut data, 3, b"ValidityType");
    cbor_uint(&mut data, 0);
    let mut msg = b"ipns-signature:".to_vec();
    msg.extend_from_slice(&data);
    let sig = key.sign(&msg);
    let mut out = Vec::new();
    pb::put_bytes_field(&mut out, 1, v1_value.unwrap_or(value).as_bytes());
    pb::put_uint_field(&mut out, 3, 0);
    pb::put_bytes_field(&mut out, 4, validity.as_bytes());
    pb::put_uint_field(&mut out, 5, sequence);
    pb::put_bytes_field(&mut out, 8, &sig.to_bytes());
    pb::put_bytes_field(&mut out, 9, &data);
    out
}

fn name_of(key: &SigningKey) -> Name {
    let mut pk = vec![0x08, 0x01, 0x12, 0x20];
    pk.extend_from_slice(key.verifying_key().as_bytes());
    let mut mh = vec![0x00, pk.len() as u8];
    mh.extend_from_slice(&pk);
    Name::parse(&bs58::encode(mh).into_string()).expect("peer id")
}

const FUTURE: &str = "2999-01-01T00:00:00.000000000Z";
const NOW: i64 = 1_800_000_000;

#[test]
fn valid_records_verify_and_bad_ones_are_refused() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let name = name_of(&key);
    let target = "/ipfs/bafkqaaa";
    let good = record(&key, target, FUTURE, 3, None);
    let r = ipns::verify(&name, &good, NOW).expect("valid");
    assert_eq!(
        (r.value.as_str(), r.sequence, r.ttl_seconds),
        (target, 3, 60)
    );
    // Tampered signed data.
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(ipns::verify(&name, &bad, NOW).is_err());
    // Someone else's key.
    let other = name_of(&SigningKey::from_bytes(&[8u8; 32]));
    assert_eq!(
        ipns::verify(&other, &good, NOW),
        Err(IpnsError::BadSignature)
    );
    // Expired.
    let old = record(&key, target, "2001-01-01T00:00:00Z", 1, None);
    assert!(matches!(
        ipns::verify(&name, &old, NOW),
        Err(IpnsError::Expired(_))
    ));
    // V1 value disagreeing with the signed V2 data.
    let split = record(
        &key,
        target,
        FUTURE,
        1,
        Some("/ipfs/QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"),
    );
    assert!(matches!(
        ipns::verify(&name, &split, NOW),
        Err(IpnsError::Malformed(_))
    ));
}

#[test]
fn the_store_keeps_the_highest_sequence() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = RecordStore::new(dir.path());
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let name = name_of(&key);
    store
        .put(&name, &record(&key, "/ipfs/bafkqaaa", FUTURE, 5, None), NOW)
        .expect("put");
    assert!(
        store
            .put(
                &name,
                &record(&key, "/ipfs/bafkqaaa/x", FUTURE, 4, None),
                NOW
            )
            .is_err()
    );
    store
        .put(
            &name,
            &record(&key, "/ipfs/bafkqaaa/y", FUTURE, 6, None),
            NOW,
        )
        .expect("newer");
    assert_eq!(
        store.get(&name, NOW).expect("get").1.value,
        "/ipfs/bafkqaaa/y"
    );
    assert!(matches!(
        store.get(&name_of(&SigningKey::from_bytes(&[1u8; 32])), NOW),
        Err(IpnsError::NotFound(_))
    ));
}

#[test]
fn the_gateway_resolves_redirects_and_serves_records() {
    let gw = common::start();
    let c = common::client();
    let file = gw
        .repo
        .add_file(
            &b"mutable hello"[..],
            &Default::default(),
            true,
            &mut |_| {},
        )
        .expect("add");
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let name = name_of(&key);
    let bytes = record(&key, &format!("/ipfs/{}", file.cid), FUTURE, 1, None);
    RecordStore::new(gw.repo.dir())
        .put(&name, &bytes, ipns::now_unix())
        .expect("put");
    let canonical = name.canonical();
    let r = c
        .get(format!("{}/ipns/{canonical}", gw.url))
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=60");
    assert_eq!(
        r.headers()["x-ipfs-path"],
        format!("/ipns/{canonical}").as_str()
    );
    assert_eq!(r.text().expect("body"), "mutable hello");
    // The peer-ID spelling redirects to the canonical base36 name.
    let mut pk = vec![0x08, 0x01, 0x12, 0x20];
    pk.extend_from_slice(key.verifying_key().as_bytes());
    let mut mh = vec![0x00, pk.len() as u8];
    mh.extend_from_slice(&pk);
    let peer_id = bs58::encode(mh).into_string();
    let r = c
        .get(format!("{}/ipns/{peer_id}/a?x=1", gw.url))
        .send()
        .expect("redirect");
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        format!("/ipns/{canonical}/a?x=1").as_str()
    );
    let r = c
        .get(format!("{}/ipns/{canonical}?format=ipns-record", gw.url))
        .send()
        .expect("record");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.ipfs.ipns-record"
    );
    assert_eq!(r.bytes().expect("body").as_ref(), &bytes[..]);
    // An unknown name cannot be resolved.
    let unknown = name_of(&SigningKey::from_bytes(&[6u8; 32])).canonical();
    assert_eq!(
        c.get(format!("{}/ipns/{unknown}", gw.url))
            .send()
            .expect("get")
            .status(),
        500
    );
}
