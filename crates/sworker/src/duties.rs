//! When a storage worker does its once-a-slot duties, as a state machine: report the slot
//! (after this identity's delay within it), send the report again if the chain did not take
//! it, prove new replicas once the slot's report is on chain, validate what it holds. The
//! process (`crust sworker run`) asks [`SlotDuties::due`] on every pass with what the chain
//! shows, performs what is due, and tells the machine what it did; nothing here does I/O or
//! reads a clock (heights are the clock), so the schedule is tested over thousands of slots.
//!
//! The rules:
//! - a slot's report is due once block `slot + delay` is final ([`report_delay`]: a fixed
//!   per-identity offset in the first third, so reports spread over blocks), at most once per
//!   slot, and not when the chain already holds this slot's report (after a restart);
//!   files whose order ended are dropped just before it, so the report lists them deleted;
//! - a report not on chain [`RESEND_AFTER_BLOCKS`] after it was sent is sent again with fresh
//!   answers, up to [`REPORT_ATTEMPTS`] sends in its slot (the same report again is a no-op once
//!   one copy landed);
//! - new replicas are proven only while this slot's report is on chain (a replica proven
//!   between reading the chain's challenge picks and the report's inclusion would move them);
//! - validation runs once per slot once the slot's block is final (its hash seeds it).

use crate::orders::report_delay;

/// Blocks a sent report has to land before it is sent again.
pub const RESEND_AFTER_BLOCKS: u64 = 3;
/// Sends of one slot's report at most.
pub const REPORT_ATTEMPTS: u32 = 8;

/// What the chain shows at a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// The finalized height the worker has followed to.
    pub head: u64,
    /// The slot of this identity's last report on chain, if any.
    pub on_chain: Option<u64>,
}

/// A duty due at this pass, in the order to perform them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    /// Drop the files whose order ended or disappeared (just before the slot's report).
    DropClosed,
    /// Prove the replicas the chain holds as pending.
    Prove,
    /// Build and send the slot's report.
    Report {
        /// The slot (a multiple of the slot length).
        slot: u64,
    },
    /// Send the slot's report again with fresh answers.
    Resend {
        /// The slot.
        slot: u64,
        /// Blocks since it was last sent.
        waited: u64,
    },
    /// Validate sealed files and SRD, seeded by the slot block's hash.
    Validate {
        /// The slot.
        slot: u64,
    },
}

/// The slot schedule of one identity.
#[derive(Clone, Debug)]
pub struct SlotDuties {
    key: [u8; 32],
    slot_blocks: u64,
    last_report_slot: Option<u64>,
    last_validated_slot: Option<u64>,
    sent: Option<Sent>,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    slot: u64,
    at: u64,
    attempts: u32,
}

impl SlotDuties {
    /// The schedule of the identity with enclave key `key`, on a chain of `slot_blocks`-block
    /// report slots.
    pub fn new(key: [u8; 32], slot_blocks: u64) -> Self {
        Self {
            key,
            slot_blocks: slot_blocks.max(1),
            last_report_slot: None,
            last_validated_slot: None,
            sent: None,
        }
    }

    /// The slot that block `height` falls in.
    pub fn slot_of(&self, height: u64) -> u64 {
        height / self.slot_blocks * self.slot_blocks
    }

    /// The slot whose report was last sent or found on chain.
    pub fn last_report_slot(&self) -> Option<u64> {
        self.last_report_slot
    }

    /// What is due now. The chain holding this slot's report counts as reported (a restart
    /// must not report twice).
    pub fn due(&mut self, view: View) -> Vec<Duty> {
        let slot = self.slot_of(view.head);
        let on_chain_now = view.on_chain == Some(slot);
        if on_chain_now {
            self.last_report_slot = Some(slot);
        }
        let mut due = Vec::new();
        let delay = report_delay(&self.key, slot, self.slot_blocks);
        let report_due =
            slot > 0 && view.head > slot + delay && self.last_report_slot != Some(slot);
        if report_due {
            due.push(Duty::DropClosed);
        }
        if on_chain_now {
            due.push(Duty::Prove);
        }
        if report_due {
            due.push(Duty::Report { slot });
        } else if let Some(sent) = self.sent
            && sent.slot == slot
            && !on_chain_now
            && view.head >= sent.at + RESEND_AFTER_BLOCKS
            && sent.attempts < REPORT_ATTEMPTS
        {
            due.push(Duty::Resend {
                slot,
                waited: view.head - sent.at,
            });
        }
        if slot > 0 && view.head > slot && self.last_validated_slot != Some(slot) {
            due.push(Duty::Validate { slot });
        }
        due
    }

    /// The report (or its resend) for `slot` was sent at height `at` (whether or not the
    /// node took it: the resend rule covers a send that failed).
    pub fn sent(&mut self, slot: u64, at: u64) {
        match &mut self.sent {
            Some(s) if s.slot == slot => {
                s.at = at;
                s.attempts = s.attempts.saturating_add(1);
            }
            _ => {
                self.sent = Some(Sent {
                    slot,
                    at,
                    attempts: 1,
                })
            }
        }
        self.last_report_slot = Some(slot);
    }

    /// The slot's validation ran (whatever it found).
    pub fn validated(&mut self, slot: u64) {
        self.last_validated_slot = Some(slot);
    }
}

#[cfg(test)]
mod tests;
