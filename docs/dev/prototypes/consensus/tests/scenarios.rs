use cwproto::sim;

/// 4 validators -> h>=50, agree; isolate v3, others +20; heal, v3 catches up. Seeds 0..5.
#[test]
fn partition_and_heal_seeds_0_to_5() {
    for seed in 0..5 {
        let r = sim::run_partition_scenario(seed);
        r.print();
        assert!(r.phase1_height >= 50);
        assert!(r.phase2_to >= r.phase2_from + 20);
        assert!(r.isolated_tip_during_partition <= r.phase2_from);
        assert!(r.final_tips[3] >= r.catchup_target);
    }
}

/// Same seed => identical execution (auditor hash over all runtime events).
#[test]
fn same_seed_same_run() {
    let a = sim::run_partition_scenario(7);
    let b = sim::run_partition_scenario(7);
    assert_eq!(a.auditor, b.auditor);
    assert_eq!(a.final_tips, b.final_tips);
}

/// Full-network crash via start_and_recover + restart from checkpoint; then crash/restart of a
/// single validator inside the run.
#[test]
fn restart_from_persisted_storage() {
    for seed in 0..3 {
        let r = sim::run_restart_scenario(seed);
        println!("{r:?}");
        assert!(r.resumed_from.iter().all(|h| h.is_some()), "executors resumed from persisted state");
        assert!(r.final_tips.iter().all(|h| *h >= r.tips_before_crash[0] + 20));
    }
}

/// One simplex engine per epoch (20 blocks/epoch), orchestrated from finalized boundary blocks;
/// an isolated validator catches up across epoch boundaries after healing.
#[test]
fn multi_epoch_with_partition() {
    for seed in 0..3 {
        let r = sim::run_epoch_scenario(seed);
        println!("{r:?}");
        assert!(r.epoch_starts_v0.starts_with(&[(1, 20), (2, 40), (3, 60), (4, 80), (5, 100)]));
        assert!(r.epoch_starts_v3.starts_with(&[(1, 20), (2, 40), (3, 60), (4, 80), (5, 100)]));
        assert_eq!(r.isolated_tip, 70);
    }
}

/// 5 validators, committee of 4 rotating every epoch.
#[test]
fn rotating_committee() {
    let r = sim::run_rotation_scenario(0);
    println!("{r:?}");
    assert!(r.final_tips.iter().all(|h| *h > 120));
}
