//! cargo run --release -- partition 0 1 2 3 4   |   cargo run --release -- restart 0
use cwproto::sim;
use std::time::Instant;

fn main() {
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("partition");
    let seeds: Vec<u64> = if args.len() > 1 {
        args[1..].iter().map(|s| s.parse().expect("seed")).collect()
    } else {
        (0..5).collect()
    };
    for seed in seeds {
        let wall = Instant::now();
        match mode {
            "partition" => sim::run_partition_scenario(seed).print(),
            "restart" => println!("{:?}", sim::run_restart_scenario(seed)),
            "epochs" => println!("{:?}", sim::run_epoch_scenario(seed)),
            "rotation" => println!("{:?}", sim::run_rotation_scenario(seed)),
            other => panic!("unknown mode {other}"),
        }
        println!("  (wall clock {:.2}s)", wall.elapsed().as_secs_f64());
    }
}
