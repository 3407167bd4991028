//! PITFALL regression: the codec length limits in the config are enforced only when reading.
//! A key longer than MAX_KEY_LEN is accepted by write/merkleize/apply/commit, but afterwards the
//! op (and every op whose `next_key` is that key) can't be decoded: reads fail and the DB can no
//! longer be reopened. The application must validate key/value lengths before `write`.
use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
use commonware_storage::qmdb::floor::Proportional;
use qmdbproto::{MAX_KEY_LEN, open, validate_write};

#[test]
fn oversized_key_is_accepted_on_write_but_bricks_the_db() {
    let (live_ok, cp) = deterministic::Runner::seeded(1).start_and_recover(|ctx| async move {
        let db = open(ctx.child("db"), "big").await;
        let big = vec![7u8; MAX_KEY_LEN + 44];
        assert!(validate_write(&big, None).is_err()); // what the app must check
        // raw batch API, bypassing the check:
        let b = db
            .new_batch()
            .write(big.clone(), Some(b"v".to_vec()))
            .write(b"small".to_vec(), Some(b"v".to_vec()))
            .merkleize(&db, None, &mut Proportional)
            .await
            .unwrap(); // no error here...
        let db = db.apply_batch(b).await.unwrap().commit().await.unwrap(); // ...nor here
        let r1 = db.get(&big).await;
        let r2 = db.get(&b"small".to_vec()).await; // its op stores next_key = big
        println!("get(big) -> {r1:?}; get(small) -> {r2:?}");
        r1.is_ok() || r2.is_ok()
    });
    assert!(!live_ok);
    deterministic::Runner::from(cp).start(|ctx| async move {
        let r = qmdbproto::StateDb::init(ctx.child("db"), qmdbproto::state_config("big"), None).await;
        let e = r.err().expect("reopen must fail").to_string();
        println!("reopen -> {e}");
        assert!(e.contains("Invalid Length"));
    });
}
