use commonware_runtime::{
    Runner as _, Supervisor as _,
    deterministic::{self, FaultConfig, PartialWriteMode, WriteConfig},
    tokio,
};
use commonware_storage::{qmdb::floor::Proportional, translator::EightCap};
use commonware_utils::probability;
use qmdbproto::{
    DemoReport, KeyShape, bench, check_reopened, demo, execute, key, open, translator16::SixteenCap,
};

fn det_demo(seed: u64) -> DemoReport {
    let (report, checkpoint) = deterministic::Runner::seeded(seed).start_and_recover(|ctx| async move {
        let (db, report) = demo(ctx.child("db"), "state", false).await;
        drop(db); // "crash" right after the last commit
        report
    });
    let root = report.final_root;
    deterministic::Runner::from(checkpoint).start(|ctx| async move {
        let db = open(ctx.child("db"), "state").await;
        check_reopened(&db, root).await;
    });
    report
}

#[test]
fn deterministic_demo_and_recovery() {
    let a = det_demo(1);
    let b = det_demo(2);
    // The root is a function of the operation history only: not of the seed / scheduling.
    assert_eq!(a, b);
    assert!(a.kv_proof_bytes > 0 && a.exclusion_proof_bytes > 0);
    println!("{a:?}");
}

#[test]
fn tokio_demo_and_reopen_same_dir() {
    let dir = std::env::temp_dir().join(format!("qmdbproto-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = tokio::Config::new().with_worker_threads(2).with_storage_directory(dir.clone());
    let report = tokio::Runner::new(cfg.clone()).start(|ctx| async move {
        let (db, report) = demo(ctx.child("db"), "state", false).await;
        drop(db);
        report
    });
    // brand-new runtime instance (== process restart) on the same directory
    tokio::Runner::new(cfg).start(|ctx| async move {
        let db = open(ctx.child("db"), "state").await;
        check_reopened(&db, report.final_root).await;
    });
    let _ = std::fs::remove_dir_all(&dir);
    // identical to the deterministic runtime's result
    assert_eq!(report, det_demo(7));
}

/// apply_batch without commit, then crash: recovery returns to the last committed state
/// (default fault config drops all unsynced writes).
#[test]
fn crash_after_apply_before_commit_loses_the_block() {
    let (roots, checkpoint) = deterministic::Runner::seeded(3).start_and_recover(|ctx| async move {
        let (db, report) = demo(ctx.child("db"), "state", false).await;
        let b = execute(&db, None, [(key(1), Some(b"uncommitted".to_vec()))], None).await.unwrap();
        let applied = b.root();
        let db = db.apply_batch(b).await.unwrap(); // no commit
        assert_eq!(db.root(), applied);
        drop(db);
        (report.final_root, applied)
    });
    deterministic::Runner::from(checkpoint).start(|ctx| async move {
        let db = open(ctx.child("db"), "state").await;
        assert_eq!(db.root(), roots.0);
        assert_ne!(db.root(), roots.1);
        check_reopened(&db, roots.0).await;
    });
}

/// Torn/partial unsynced writes at crash (50% of bytes retained, subset mode): recovery must land
/// on a committed state (either the last commit or, if the whole tail survived, the applied one).
#[test]
fn torn_writes_recover_to_a_commit_boundary() {
    for seed in 0..5u64 {
        let faults = FaultConfig::default().write(WriteConfig {
            failure_rate: probability!(0.0),
            retention_rate: probability!(0.5),
            mode: PartialWriteMode::Subset,
        });
        let cfg = deterministic::Config::default().with_seed(seed).with_storage_fault_config(faults);
        let (roots, checkpoint) = deterministic::Runner::new(cfg).start_and_recover(|ctx| async move {
            let (db, report) = demo(ctx.child("db"), "state", false).await;
            let b = execute(&db, None, (0..500).map(|i| (key(i), Some(vec![i as u8; 100]))), None)
                .await
                .unwrap();
            let applied = b.root();
            let db = db.apply_batch(b).await.unwrap();
            drop(db);
            (report.final_root, applied)
        });
        deterministic::Runner::from(checkpoint).start(|ctx| async move {
            let db = open(ctx.child("db"), "state").await;
            let r = db.root();
            assert!(r == roots.0 || r == roots.1, "seed {seed}: recovered to a non-commit state");
            if r == roots.0 {
                check_reopened(&db, roots.0).await;
            }
            // and the DB keeps working
            let b = db.new_batch().write(key(1), Some(b"after".to_vec()));
            let b = b.merkleize(&db, None, &mut Proportional).await.unwrap();
            let db = db.apply_batch(b).await.unwrap().commit().await.unwrap();
            assert_eq!(db.get(&key(1)).await.unwrap(), Some(b"after".to_vec()));
        });
    }
}

#[test]
fn small_bench_runs_on_both_translators() {
    deterministic::Runner::seeded(9).start(|ctx| async move {
        let p = bench::<_, EightCap>(ctx.child("a"), "b8", "8", KeyShape::Hashed, 3_000, 1_000, false).await;
        assert!(p.proof_bytes > 0);
        let p = bench::<_, SixteenCap>(ctx.child("b"), "b16", "16", KeyShape::SharedPrefix, 3_000, 1_000, false).await;
        assert!(p.proof_bytes > 0);
    });
}

#[test]
fn exclusion_proof_edges() {
    use commonware_cryptography::Sha256;
    deterministic::Runner::seeded(5).start(|ctx| async move {
        let db = open(ctx.child("db"), "edges").await;
        // empty DB: the Commit variant proves that nothing exists
        let k = b"anything".to_vec();
        let ex = db.exclusion_proof(&k).await.unwrap();
        assert!(matches!(ex, qmdbproto::AbsenceProof::Commit(..)));
        assert!(ex.verify::<Sha256>(&k, &db.root()));

        let b = execute(&db, None, [(b"b".to_vec(), Some(vec![1])), (b"d".to_vec(), Some(vec![]))], None)
            .await
            .unwrap();
        let db = db.apply_batch(b).await.unwrap(); // proofs work after apply, before commit
        let root = db.root();
        for absent in [b"a".to_vec(), b"c".to_vec(), b"e".to_vec(), vec![], vec![0xFF; 200]] {
            let ex = db.exclusion_proof(&absent).await.unwrap();
            assert!(ex.verify::<Sha256>(&absent, &root), "{absent:?}");
        }
        // empty value is a value
        let p = db.key_value_proof(b"d".to_vec()).await.unwrap();
        assert!(p.verify::<Sha256, commonware_storage::qmdb::any::value::VariableEncoding<Vec<u8>>>(b"d".to_vec(), vec![], &root));
        assert!(matches!(db.key_value_proof(b"c".to_vec()).await, Err(commonware_storage::qmdb::Error::KeyNotFound)));
    });
}
