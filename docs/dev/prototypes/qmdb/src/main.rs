//! qmdbproto: `qmdbproto demo` runs the demo on both runtimes; `qmdbproto bench [keys] [batch]`
//! prints rough performance numbers (tokio runtime, temp dir on local disk).

use commonware_runtime::{Runner as _, Supervisor as _, deterministic, tokio};
use commonware_storage::translator::EightCap;
use qmdbproto::{KeyShape, bench, check_reopened, demo, open, translator16::SixteenCap};
use std::time::Instant;

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qmdbproto-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn dir_size(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
        }
    }
    n
}

fn run_demo() {
    // ---------------- deterministic runtime ----------------
    println!("=== deterministic runtime (seed 42) ===");
    let runner = deterministic::Runner::seeded(42);
    let (report, checkpoint) = runner.start_and_recover(|ctx| async move {
        let (db, report) = demo(ctx.child("db"), "state", true).await;
        // DB committed; drop without any shutdown call == crash after commit
        drop(db);
        report
    });
    // restart from the checkpoint (same in-memory storage, clock, RNG)
    let root = report.final_root;
    deterministic::Runner::from(checkpoint).start(|ctx| async move {
        let db = open(ctx.child("db"), "state").await;
        check_reopened(&db, root).await;
        println!("[4] recovered from checkpoint: root {} identical, values readable", root);
    });

    // ---------------- tokio runtime ----------------
    println!("=== tokio runtime ===");
    let dir = tmpdir("demo");
    let cfg = tokio::Config::new().with_worker_threads(2).with_storage_directory(dir.clone());
    let report2 = tokio::Runner::new(cfg.clone()).start(|ctx| async move {
        let (db, report) = demo(ctx.child("db"), "state", true).await;
        drop(db);
        report
    });
    tokio::Runner::new(cfg).start(|ctx| async move {
        let db = open(ctx.child("db"), "state").await;
        check_reopened(&db, report2.final_root).await;
        println!("[4] reopened from {}: root identical, values readable", dir.display());
    });
    assert_eq!(report, report2, "both runtimes produce identical roots");
    println!("deterministic and tokio runs produced identical roots: {report:?}");
    let _ = std::fs::remove_dir_all(tmpdir("demo"));
}

fn run_bench(total: u64, batch: u64) {
    let dir = tmpdir("bench");
    let cfg = tokio::Config::new().with_worker_threads(2).with_storage_directory(dir.clone());
    let dir2 = dir.clone();
    tokio::Runner::new(cfg).start(|ctx| async move {
        let dir = dir2;
        let cases: Vec<(&str, KeyShape, bool)> = vec![
            ("hashed-head keys, EightCap", KeyShape::Hashed, false),
            ("shared 8-byte prefix, EightCap", KeyShape::SharedPrefix, false),
            ("shared 8-byte prefix, SixteenCap", KeyShape::SharedPrefix, true),
        ];
        for (i, (label, shape, wide)) in cases.into_iter().enumerate() {
            // shared-prefix + EightCap degrades badly; cap its size
            let n = if matches!(shape, KeyShape::SharedPrefix) && !wide { total.min(20_000) } else { total };
            let prefix = format!("bench{i}");
            let t = Instant::now();
            let p = if wide {
                bench::<_, SixteenCap>(ctx.child("bench"), &prefix, label, shape, n, batch, true).await
            } else {
                bench::<_, EightCap>(ctx.child("bench"), &prefix, label, shape, n, batch, true).await
            };
            let size = dir_size(&dir);
            println!("{p:#?}\n  (case wall time {:.1}s, storage dir now {:.1} MB)", t.elapsed().as_secs_f64(), size as f64 / 1e6);
        }
    });
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("bench") => {
            let total = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(100_000);
            let batch = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(10_000);
            run_bench(total, batch);
        }
        _ => run_demo(),
    }
}
