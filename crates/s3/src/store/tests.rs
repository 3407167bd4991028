use super::*;

fn cid(n: u8) -> Cid {
    crust_ipfs::block::cid_of(0x55, &[n], 1)
}

fn object(n: u8) -> ObjectRecord {
    ObjectRecord {
        cid: cid(n),
        size: 1,
        tsize: 1,
        etag: "e".into(),
        modified_ms: 0,
        content_type: "binary/octet-stream".into(),
        headers: BTreeMap::new(),
        meta: BTreeMap::new(),
        parts: 0,
        part_sizes: Vec::new(),
        part_checksums: Vec::new(),
        checksum_type: None,
        checksum: None,
    }
}

fn none() -> Precondition {
    Precondition::default()
}

#[test]
fn conditional_writes_hold_or_change_nothing() {
    let (_d, s) = store();
    let if_none = Precondition {
        if_none_match: Some("*".into()),
        ..none()
    };
    assert_eq!(
        s.put_object("b", "k", &object(1), &if_none).unwrap(),
        Put::Kept
    );
    assert_eq!(
        s.put_object("b", "k", &object(2), &if_none).unwrap(),
        Put::PreconditionFailed
    );
    assert!(s.unreferenced(10).unwrap().contains(&cid(2)));
    let if_match = |e: &str| Precondition {
        if_match: Some(e.into()),
        ..none()
    };
    assert_eq!(
        s.put_object("b", "k", &object(3), &if_match("bad"))
            .unwrap(),
        Put::PreconditionFailed
    );
    assert_eq!(
        s.put_object("b", "k", &object(3), &if_match("e")).unwrap(),
        Put::Kept
    );
    assert_eq!(
        s.put_object("b", "gone", &object(3), &if_match("*"))
            .unwrap(),
        Put::NoSuchKey
    );
    assert_eq!(s.object("b", "k").unwrap().unwrap().cid, cid(3));
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s3.redb")).unwrap();
    let b = BucketRecord {
        owner: AccountId::default(),
        created_ms: 0,
        replicas: 0,
        location: String::new(),
    };
    assert_eq!(
        s.create_bucket("b", &b, 100).unwrap(),
        Ok(CreateBucket::Created)
    );
    (dir, s)
}

#[test]
fn shared_content_is_released_when_the_last_holder_goes() {
    let (_d, s) = store();
    assert_eq!(
        s.put_object("b", "x", &object(1), &none()).unwrap(),
        Put::Kept
    );
    assert_eq!(
        s.put_object("b", "y", &object(1), &none()).unwrap(),
        Put::Kept
    );
    assert_eq!(s.refs(&cid(1)).unwrap(), 2);
    // Overwriting x releases nothing (y still holds 1); deleting y then releases it.
    assert_eq!(
        s.put_object("b", "x", &object(2), &none()).unwrap(),
        Put::Kept
    );
    assert!(s.unreferenced(10).unwrap().is_empty());
    s.delete_object("b", "y").unwrap();
    assert_eq!(s.unreferenced(10).unwrap(), vec![cid(1)]);
    // Content put into a bucket that is gone is queued for release at once.
    assert_eq!(
        s.put_object("nope", "z", &object(3), &none()).unwrap(),
        Put::Gone
    );
    assert!(s.unreferenced(10).unwrap().contains(&cid(3)));
    // Holding it again takes it off the queue.
    assert_eq!(
        s.put_object("b", "z", &object(3), &none()).unwrap(),
        Put::Kept
    );
    assert!(!s.unreferenced(10).unwrap().contains(&cid(3)));
}

#[test]
fn listings_roll_up_prefixes_and_resume() {
    let (_d, s) = store();
    for k in ["a", "b/1", "b/2", "b/3/x", "c", "d/1"] {
        s.put_object("b", k, &object(1), &none()).unwrap();
    }
    let p = s.list("b", "", Some("/"), "", 1000).unwrap();
    let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "c"]);
    assert_eq!(p.prefixes, ["b/", "d/"]);
    let p = s.list("b", "", Some("/"), "", 2).unwrap();
    assert!(p.truncated);
    assert_eq!(p.last.as_deref(), Some("b/"));
    let p = s.list("b", "", Some("/"), "b/", 2).unwrap();
    assert_eq!(p.objects.len() + p.prefixes.len(), 2);
    assert_eq!(p.objects[0].0, "c");
    assert_eq!(p.prefixes, ["d/"]);
    let p = s.list("b", "b/", Some("/"), "", 1000).unwrap();
    let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b/1", "b/2"]);
    assert_eq!(p.prefixes, ["b/3/"]);
    let p = s.list("b", "", None, "b/2", 1000).unwrap();
    let keys: Vec<_> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b/3/x", "c", "d/1"]);
    assert!(!s.delete_bucket("b").unwrap());
}

#[test]
fn uploads_complete_and_abort_atomically() {
    let (_d, s) = store();
    let u = UploadRecord {
        bucket: "b".into(),
        key: "k".into(),
        owner: AccountId::default(),
        initiated_ms: 1,
        object: object(0),
        checksum_algorithm: None,
        checksum_type: None,
    };
    s.create_upload("u1", &u).unwrap();
    s.create_upload("u2", &u).unwrap();
    let part = |n: u8| PartRecord {
        cid: cid(n),
        size: 1,
        tsize: 1,
        etag: "p".into(),
        modified_ms: 0,
        checksum: None,
    };
    assert!(s.put_part("u1", 1, &part(10)).unwrap());
    assert!(s.put_part("u1", 2, &part(11)).unwrap());
    assert!(s.put_part("u1", 2, &part(12)).unwrap()); // replaces 11
    assert!(s.unreferenced(10).unwrap().contains(&cid(11)));
    let (parts, more) = s.parts("u1", 0, 1).unwrap();
    assert_eq!((parts.len(), more), (1, true));
    let (ups, _) = s.uploads("b", "", "", "", 10).unwrap();
    assert_eq!(ups.len(), 2);
    assert_eq!(
        s.complete_upload("u1", &object(20), &none()).unwrap(),
        Put::Kept
    );
    assert_eq!(s.completed("u1").unwrap().unwrap().cid, cid(20));
    assert!(s.upload("u1").unwrap().is_none());
    let q = s.unreferenced(10).unwrap();
    assert!(q.contains(&cid(10)) && q.contains(&cid(12)));
    assert_eq!(s.refs(&cid(20)).unwrap(), 1);
    assert!(!s.put_part("u1", 3, &part(13)).unwrap());
    assert!(s.abort_upload("u2").unwrap());
    assert!(!s.abort_upload("u2").unwrap());
    s.delete_object("b", "k").unwrap();
    assert!(s.delete_bucket("b").unwrap());
}
