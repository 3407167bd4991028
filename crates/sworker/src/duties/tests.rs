use super::*;
use std::collections::BTreeMap;

const SLOT: u64 = 60;

/// A small deterministic generator (xorshift64*), so a failing run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[test]
fn one_report_a_slot_after_the_delay_then_proofs_then_validation() {
    let key = [7u8; 32];
    let delay = report_delay(&key, 60, SLOT);
    let mut d = SlotDuties::new(key, SLOT);
    // Slot 0 has neither report nor validation.
    for head in 0..60 {
        assert_eq!(
            d.due(View {
                head,
                on_chain: None
            }),
            vec![],
            "{head}"
        );
    }
    // In slot 60, validation once its block is final, the report after the delay.
    assert_eq!(
        d.due(View {
            head: 60,
            on_chain: None
        }),
        vec![]
    );
    assert_eq!(
        d.due(View {
            head: 61,
            on_chain: None
        }),
        vec![Duty::Validate { slot: 60 }]
    );
    d.validated(60);
    for head in 62..=60 + delay {
        assert_eq!(
            d.due(View {
                head,
                on_chain: None
            }),
            vec![],
            "{head}"
        );
    }
    let head = 60 + delay + 1;
    assert_eq!(
        d.due(View {
            head,
            on_chain: None
        }),
        vec![Duty::DropClosed, Duty::Report { slot: 60 }]
    );
    d.sent(60, head);
    assert_eq!(
        d.due(View {
            head: head + 1,
            on_chain: None
        }),
        vec![]
    );
    // On chain: proving is due at every pass while this slot's report stands.
    for h in head + 2..head + 5 {
        assert_eq!(
            d.due(View {
                head: h,
                on_chain: Some(60)
            }),
            vec![Duty::Prove]
        );
    }
    // The next slot: no proofs under the last slot's report; validation once block 120 is final.
    assert_eq!(
        d.due(View {
            head: 120,
            on_chain: Some(60)
        }),
        vec![]
    );
    assert_eq!(
        d.due(View {
            head: 121,
            on_chain: Some(60)
        }),
        vec![Duty::Validate { slot: 120 }]
    );
}

#[test]
fn a_report_not_taken_is_sent_again_every_three_blocks_up_to_eight_times() {
    let key = [1u8; 32];
    let mut d = SlotDuties::new(key, SLOT);
    let delay = report_delay(&key, 120, SLOT);
    let mut head = 120 + delay + 1;
    assert!(
        d.due(View {
            head,
            on_chain: None
        })
        .contains(&Duty::Report { slot: 120 })
    );
    d.sent(120, head);
    let mut sends = 1;
    d.validated(120);
    while head < 180 {
        head += 1;
        for duty in d.due(View {
            head,
            on_chain: None,
        }) {
            match duty {
                Duty::Resend { slot, waited } => {
                    assert_eq!(slot, 120);
                    assert_eq!(waited, RESEND_AFTER_BLOCKS);
                    d.sent(slot, head);
                    sends += 1;
                }
                other => panic!("{head}: {other:?}"),
            }
        }
    }
    assert_eq!(sends, REPORT_ATTEMPTS);
}

#[test]
fn a_restart_after_the_report_landed_does_not_report_again() {
    let key = [3u8; 32];
    let mut d = SlotDuties::new(key, SLOT);
    let head = 179;
    assert_eq!(
        d.due(View {
            head,
            on_chain: Some(120)
        }),
        vec![Duty::Prove, Duty::Validate { slot: 120 }]
    );
    assert_eq!(d.last_report_slot(), Some(120));
    // A restart before it landed reports (the chain makes a duplicate a no-op).
    let mut fresh = SlotDuties::new(key, SLOT);
    assert!(
        fresh
            .due(View {
                head,
                on_chain: Some(60)
            })
            .contains(&Duty::Report { slot: 120 })
    );
}

/// Thousands of slots of a worker that passes at uneven heights, a chain that takes a sent
/// report after a few blocks or drops it, and restarts: the schedule's promises hold.
#[test]
fn the_schedule_holds_over_three_thousand_slots_of_drops_jumps_and_restarts() {
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let key = [seed as u8; 32];
        let mut d = SlotDuties::new(key, SLOT);
        // Per slot: sends, validations, reports on chain.
        let mut sends: BTreeMap<u64, u32> = BTreeMap::new();
        let mut validations: BTreeMap<u64, u32> = BTreeMap::new();
        let mut landed: BTreeMap<u64, u64> = BTreeMap::new();
        let mut restarts: BTreeMap<u64, u32> = BTreeMap::new();
        // A sent report in the node's pool: (slot, lands at height) or lost.
        let mut pool: Vec<(u64, u64)> = Vec::new();
        let mut on_chain = None;
        let mut head = 0u64;
        let end = 3_000 * SLOT;
        while head < end {
            head += 1 + rng.next() % 4; // passes see 1–4 new blocks
            for (slot, at) in std::mem::take(&mut pool) {
                if at <= head {
                    if d.slot_of(head) == slot {
                        on_chain = Some(slot);
                        landed.entry(slot).or_insert(at);
                    }
                } else {
                    pool.push((slot, at));
                }
            }
            let slot = d.slot_of(head);
            if rng.chance(1) {
                d = SlotDuties::new(key, SLOT); // a restart forgets everything but the chain
                *restarts.entry(slot).or_default() += 1;
            }
            let due = d.due(View { head, on_chain });
            let reports = due
                .iter()
                .filter(|x| matches!(x, Duty::Report { .. }))
                .count();
            assert_eq!(
                due.first() == Some(&Duty::DropClosed),
                reports == 1,
                "closed files are dropped first, exactly when a report is built: {due:?}"
            );
            for duty in due {
                match duty {
                    Duty::DropClosed => {}
                    Duty::Prove => {
                        assert_eq!(on_chain, Some(slot), "proofs only under this slot's report")
                    }
                    Duty::Report { slot: s } | Duty::Resend { slot: s, .. } => {
                        assert_eq!(s, slot);
                        assert!(
                            head > s + report_delay(&key, s, SLOT),
                            "never before the delay"
                        );
                        assert_ne!(on_chain, Some(s), "never once the chain has it");
                        *sends.entry(s).or_default() += 1;
                        d.sent(s, head);
                        // Most sends land within 1–5 blocks; one in four is lost.
                        if !rng.chance(25) {
                            pool.push((s, head + 1 + rng.next() % 5));
                        }
                    }
                    Duty::Validate { slot: s } => {
                        assert_eq!(s, slot);
                        *validations.entry(s).or_default() += 1;
                        d.validated(s);
                    }
                }
            }
        }
        let slots = end / SLOT - 1;
        // Every slot after the first got validated, once per run of the process.
        assert!(
            validations.len() as u64 >= slots - 1,
            "seed {seed}: {} of {slots}",
            validations.len()
        );
        for (s, n) in &validations {
            let lives = 1 + restarts.get(s).copied().unwrap_or(0);
            assert!(
                *n <= lives,
                "seed {seed}: slot {s} validated {n} times in {lives} runs"
            );
        }
        // Sends per slot stay within the bound (a restart starts a new count).
        for (s, n) in &sends {
            let lives = 1 + restarts.get(s).copied().unwrap_or(0);
            assert!(
                *n <= REPORT_ATTEMPTS * lives,
                "seed {seed}: slot {s}: {n} sends"
            );
        }
        // With one send in four lost and up to eight sends, nearly every slot has its report.
        let missing = slots - landed.len() as u64;
        assert!(
            missing * 100 <= slots,
            "seed {seed}: {missing} of {slots} slots without a report"
        );
    }
}
