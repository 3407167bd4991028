//! Write amplification of the ordered variant: inserting/deleting a key also rewrites the
//! predecessor's op (its next_key changes). Uses the `Hold` floor policy to isolate it.
use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
use commonware_storage::qmdb::floor::Hold;
use qmdbproto::open;

#[test]
fn insert_and_delete_rewrite_the_predecessor() {
    deterministic::Runner::seeded(1).start(|ctx| async move {
        let db = open(ctx.child("db"), "ops").await;
        let b = db.new_batch().write(b"a".to_vec(), Some(vec![1])).write(b"c".to_vec(), Some(vec![3]));
        let b = b.merkleize(&db, None, &mut Hold).await.unwrap();
        let db = db.apply_batch(b).await.unwrap();
        let size = |db: &qmdbproto::StateDb<_>| *db.bounds().end;
        let s0 = size(&db);
        // insert b between a and c: expect Update(b) + Update(a, next=b) + CommitFloor = 3
        let b = db.new_batch().write(b"b".to_vec(), Some(vec![2])).merkleize(&db, None, &mut Hold).await.unwrap();
        let (_, ops) = b.operations();
        println!("insert ops: {:?}", ops.iter().map(|o| format!("{o:?}").chars().take(60).collect::<String>()).collect::<Vec<_>>());
        let db = db.apply_batch(b).await.unwrap();
        assert_eq!(size(&db) - s0, 3);
        // overwrite existing key: Update(b) + CommitFloor = 2 (no predecessor rewrite)
        let s1 = size(&db);
        let b = db.new_batch().write(b"b".to_vec(), Some(vec![9])).merkleize(&db, None, &mut Hold).await.unwrap();
        let db = db.apply_batch(b).await.unwrap();
        assert_eq!(size(&db) - s1, 2);
        // delete b: Delete(b) + Update(a, next=c) + CommitFloor = 3
        let s2 = size(&db);
        let b = db.new_batch().write(b"b".to_vec(), None).merkleize(&db, None, &mut Hold).await.unwrap();
        let db = db.apply_batch(b).await.unwrap();
        assert_eq!(size(&db) - s2, 3);
    });
}
