//! Governance: proposals, thresholds, deposits, votes, the council, the treasury, enactment
//! and upgrades, all through signed transactions and block hooks as a chain runs them.

use super::*;
use crate::executive::{CheckedTransaction, InvalidTransaction, apply_transaction, begin_block};
use crate::genesis::GenesisStaker;
use crate::staking::StakingCall;
use crate::system::SystemError;
use crate::testing::*;
use crate::{BlockContext, Call, Genesis, MemoryState, RuntimeError};
use crust_primitives::Perbill;
use proptest::prelude::*;

const DEPOSIT: Balance = 1_000;
const VOTING: BlockHeight = 20;
const DELAY: BlockHeight = 5;

/// A chain with no sudo key: ALICE validates with 600 bonded, BOB and CHARLIE are bonded
/// stashes (300, 100), DAVE, EVE and FERDIE form a 2-of-3 council; nobody has more than
/// 1 000 000 free besides.
fn genesis() -> Genesis {
    let mut g = Genesis::reference(ROOT)
        .without_sudo()
        .with_config(|c| {
            c.existential_deposit = 1;
            c.report_slot_blocks = 10;
            c.slots_per_era = 2;
            c.bonding_duration_eras = 10;
            c.tx_base_fee = 1;
            c.tx_byte_fee = 0;
        })
        .with_validator(ALICE, 600, ZIKUN)
        .with_council(vec![DAVE, EVE, FERDIE], 2)
        .with_governance(GovParams {
            proposal_deposit: DEPOSIT,
            voting_period: VOTING,
            enactment_delay: DELAY,
            ..GovParams::defaults(20, 10, DEPOSIT)
        });
    for (who, bond) in [(BOB, 300), (CHARLIE, 100)] {
        g = g.with_balance(who, bond);
        g.stakers.push(GenesisStaker {
            stash: who,
            controller: who,
            bond,
            session_key: None,
        });
    }
    for who in [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, MERCHANT] {
        g = g.with_balance(who, 1_000_000);
    }
    g
}

struct Net {
    state: MemoryState,
    height: BlockHeight,
}

impl Net {
    fn new(g: Genesis) -> Self {
        let mut net = Self {
            state: g.build().unwrap(),
            height: 0,
        };
        net.run_to(1);
        net
    }

    /// Runs block hooks up to and including `height`; later transactions land in it.
    fn run_to(&mut self, height: BlockHeight) {
        while self.height < height {
            self.height += 1;
            let block = self.block();
            begin_block(&mut self.state, &block).expect("block hooks");
        }
    }

    fn block(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            era: 0,
            author: ALICE,
            parent_hash: [0; 32],
            timestamp_ms: 0,
        }
    }

    /// Signs and applies `call` as `who`; returns the call's error, if any.
    fn send(&mut self, who: AccountId, call: Call) -> Option<RuntimeError> {
        let nonce = balances::account(&self.state, &who).unwrap().nonce;
        let tx = CheckedTransaction {
            signer: who,
            nonce,
            fee: 1,
            tip: 0,
            call,
            encoded_len: 100,
        };
        let block = self.block();
        apply_transaction(&mut self.state, &block, &tx)
            .expect("valid transaction")
            .error
    }

    fn propose(&mut self, who: AccountId, call: Call) -> u32 {
        let id = proposal_count(&self.state).unwrap();
        let propose = Call::Governance(GovernanceCall::Propose {
            call: ProposedCall::new(call),
        });
        assert_eq!(self.send(who, propose), None);
        id
    }

    fn vote(&mut self, who: AccountId, id: u32, aye: bool) -> Option<RuntimeError> {
        self.send(
            who,
            Call::Governance(GovernanceCall::Vote { proposal: id, aye }),
        )
    }

    fn status(&self, id: u32) -> ProposalStatus {
        proposal(&self.state, id).unwrap().unwrap().status
    }

    fn reserved(&self, who: &AccountId) -> Balance {
        balances::reserved_balance(&self.state, who).unwrap()
    }

    fn events(&mut self) -> Vec<GovernanceEvent> {
        self.state
            .take_events()
            .into_iter()
            .filter_map(|e| match e {
                crate::Event::Governance(g) => Some(g),
                _ => None,
            })
            .collect()
    }
}

fn seats(count: u32) -> Call {
    Call::Staking(StakingCall::SetValidatorCount { count })
}

fn validator_count(state: &MemoryState) -> u32 {
    crate::staking::params(state).unwrap().validator_count
}

use crate::ProposedCall;

#[test]
fn a_passed_parameter_change_runs_after_the_delay_and_returns_the_deposit() {
    let mut net = Net::new(genesis());
    let before = validator_count(&net.state);
    let id = net.propose(BOB, seats(7));
    assert_eq!(net.reserved(&BOB), DEPOSIT);
    assert_eq!(net.vote(ALICE, id, true), None); // 600 of 1 000: turnout 60%, all aye
    let ends = proposal(&net.state, id).unwrap().unwrap().voting_ends;
    assert_eq!(ends, 1 + VOTING);
    net.run_to(ends - 1);
    assert_eq!(net.status(id), ProposalStatus::Voting {});
    net.run_to(ends);
    assert_eq!(
        net.status(id),
        ProposalStatus::Passed {
            enact_at: ends + DELAY
        }
    );
    // Voting closed: a late vote is refused.
    assert_eq!(
        net.vote(BOB, id, false),
        Some(RuntimeError::Governance(GovernanceError::NotVoting { id }))
    );
    net.run_to(ends + DELAY - 1);
    assert_eq!(validator_count(&net.state), before);
    net.events();
    net.run_to(ends + DELAY);
    assert_eq!(validator_count(&net.state), 7);
    assert!(net.events().contains(&GovernanceEvent::Enacted { id }));
    assert_eq!(net.status(id), ProposalStatus::Enacted { at: ends + DELAY });
    assert_eq!(net.reserved(&BOB), 0);
    assert!(active(&net.state).unwrap().is_empty());
}

#[test]
fn thresholds_per_kind_are_turnout_at_least_and_approval_strictly_more() {
    let p = GovParams::defaults(20, 10, 0);
    let e = 1_000;
    // Parameter, treasury, slash: 10% turnout, more than half aye.
    for kind in [
        ProposalKind::Parameter,
        ProposalKind::Treasury,
        ProposalKind::Slash,
    ] {
        let t = p.threshold(kind);
        assert!(passes(t, 100, 0, e), "{kind:?}");
        assert!(!passes(t, 99, 0, e), "{kind:?}: 9.9% turnout");
        assert!(!passes(t, 60, 60, e), "{kind:?}: a tie");
        assert!(passes(t, 61, 60, e), "{kind:?}");
    }
    // Authority: 20% turnout, more than two thirds aye.
    let t = p.threshold(ProposalKind::Authority);
    assert!(passes(t, 150, 50, e));
    assert!(!passes(t, 130, 70, e), "65% aye");
    assert!(!passes(t, 199, 0, e), "19.9% turnout");
    assert!(!passes(t, 200, 100, e), "exactly two thirds is not more");
    // Upgrade: a third of all stake must vote.
    let t = p.threshold(ProposalKind::Upgrade);
    assert!(!passes(t, 333, 0, e));
    assert!(passes(t, 334, 0, e));
    // Nothing passes with no votes, even with no electorate.
    for kind in ProposalKind::ALL {
        assert!(!passes(p.threshold(kind), 0, 0, 0), "{kind:?}");
    }
}

#[test]
fn low_turnout_and_lost_votes_reject_and_return_the_deposit() {
    let mut net = Net::new(genesis());
    // CHARLIE alone: 100 of 1 000 is 10% turnout, enough for a parameter change, but an
    // authority change needs 20%.
    let id = net.propose(
        CHARLIE,
        Call::Root(RootCall::SetCouncil {
            members: vec![CHARLIE],
            threshold: 1,
        }),
    );
    assert_eq!(net.vote(CHARLIE, id, true), None);
    // A majority against: BOB's 300 nay beat ALICE's... ALICE does not vote; 100 aye vs 300 nay.
    let lost = net.propose(CHARLIE, seats(9));
    assert_eq!(net.vote(CHARLIE, lost, true), None);
    assert_eq!(net.vote(BOB, lost, false), None);
    assert_eq!(net.reserved(&CHARLIE), 2 * DEPOSIT);
    net.run_to(1 + VOTING);
    assert_eq!(net.status(id), ProposalStatus::Rejected {});
    assert_eq!(net.status(lost), ProposalStatus::Rejected {});
    assert_eq!(net.reserved(&CHARLIE), 0);
    assert_eq!(
        council(&net.state).unwrap().members,
        vec![DAVE, EVE, FERDIE]
    );
    let events = net.events();
    assert!(events.contains(&GovernanceEvent::Rejected {
        id: lost,
        aye: 100,
        nay: 300,
        electorate: 1_000
    }));
}

#[test]
fn a_second_vote_replaces_the_first() {
    let mut net = Net::new(genesis());
    let id = net.propose(ALICE, seats(5));
    assert_eq!(net.vote(BOB, id, true), None);
    assert_eq!(net.vote(BOB, id, true), None);
    assert_eq!(net.vote(BOB, id, false), None);
    let p = proposal(&net.state, id).unwrap().unwrap();
    assert_eq!((p.aye, p.nay, p.voters), (0, 300, 1));
    assert_eq!(
        vote_of(&net.state, id, &BOB).unwrap(),
        Some(Vote {
            aye: false,
            weight: 300
        })
    );
}

#[test]
fn only_active_bond_votes() {
    let mut net = Net::new(genesis());
    let id = net.propose(ALICE, seats(5));
    // Not a staker at all.
    assert_eq!(
        net.vote(EVE, id, true),
        Some(RuntimeError::Governance(GovernanceError::NoVotingStake {
            who: EVE
        }))
    );
    // All of CHARLIE's bond is unbonding: no vote.
    assert_eq!(
        net.send(CHARLIE, Call::Staking(StakingCall::Unbond { value: 100 })),
        None
    );
    assert_eq!(
        net.vote(CHARLIE, id, true),
        Some(RuntimeError::Governance(GovernanceError::NoVotingStake {
            who: CHARLIE
        }))
    );
    // BOB unbonds a third: the rest votes.
    assert_eq!(
        net.send(BOB, Call::Staking(StakingCall::Unbond { value: 100 })),
        None
    );
    assert_eq!(net.vote(BOB, id, true), None);
    assert_eq!(proposal(&net.state, id).unwrap().unwrap().aye, 200);
    // The electorate shrank with them: 600 + 200.
    assert_eq!(crate::staking::total_active(&net.state).unwrap(), 800);
}

#[test]
fn the_council_cancels_at_its_threshold_and_can_pass_nothing() {
    let mut net = Net::new(genesis());
    let id = net.propose(BOB, seats(3));
    assert_eq!(net.vote(ALICE, id, true), None);
    let cancel = |kill| Call::Governance(GovernanceCall::CouncilCancel { proposal: id, kill });
    assert_eq!(
        net.send(ALICE, cancel(false)),
        Some(RuntimeError::Governance(
            GovernanceError::NotCouncilMember { who: ALICE }
        ))
    );
    assert_eq!(net.send(DAVE, cancel(false)), None);
    assert_eq!(
        net.send(DAVE, cancel(false)),
        Some(RuntimeError::Governance(GovernanceError::AlreadyApproved {
            who: DAVE
        }))
    );
    assert_eq!(net.status(id), ProposalStatus::Voting {});
    assert_eq!(net.send(EVE, cancel(false)), None);
    assert_eq!(net.status(id), ProposalStatus::Cancelled { killed: false });
    assert_eq!(net.reserved(&BOB), 0);
    let bob = net.state.entries().len(); // nothing runs later
    net.run_to(1 + VOTING + DELAY + 1);
    assert_ne!(validator_count(&net.state), 3);
    let _ = bob;

    // Killing forfeits the deposit to the treasury, also after the proposal passed.
    let id = net.propose(CHARLIE, seats(3));
    assert_eq!(net.vote(ALICE, id, true), None);
    net.run_to(net.height + VOTING);
    assert!(matches!(net.status(id), ProposalStatus::Passed { .. }));
    let treasury = treasury_balance(&net.state).unwrap();
    let charlie = net.state.clone();
    let kill = Call::Governance(GovernanceCall::CouncilCancel {
        proposal: id,
        kill: true,
    });
    assert_eq!(net.send(FERDIE, kill.clone()), None);
    assert_eq!(net.send(EVE, kill), None);
    assert_eq!(net.status(id), ProposalStatus::Cancelled { killed: true });
    assert_eq!(net.reserved(&CHARLIE), 0);
    assert_eq!(
        balances::free_balance(&net.state, &CHARLIE).unwrap(),
        balances::free_balance(&charlie, &CHARLIE).unwrap()
    );
    // The two council members' fees (80% of 1 each, rounded) and the deposit.
    assert!(treasury_balance(&net.state).unwrap() >= treasury + DEPOSIT);
    net.run_to(net.height + DELAY + 1);
    assert_ne!(validator_count(&net.state), 3);

    // Council members hold no privilege: their own privileged calls are refused.
    assert_eq!(
        net.send(DAVE, seats(1)),
        Some(RuntimeError::Staking(crate::staking::StakingError::System(
            SystemError::NotGovernance { caller: DAVE }
        )))
    );
}

#[test]
fn a_failing_call_is_recorded_and_the_deposit_returned() {
    let mut net = Net::new(genesis());
    let before = balances::free_balance(&net.state, &MERCHANT).unwrap();
    let spend = Call::Root(RootCall::TreasurySpend {
        to: MERCHANT,
        amount: 1_000_000_000,
    });
    let id = net.propose(BOB, spend);
    assert_eq!(net.vote(ALICE, id, true), None);
    net.run_to(1 + VOTING + DELAY);
    match net.status(id) {
        ProposalStatus::EnactmentFailed { at, error } => {
            assert_eq!(at, 1 + VOTING + DELAY);
            assert!(String::from_utf8(error).unwrap().contains("treasury holds"));
        }
        other => panic!("{other:?}"),
    }
    assert!(net.events().iter().any(|e| matches!(
        e,
        GovernanceEvent::EnactmentFailed { id: i, .. } if *i == id
    )));
    assert_eq!(net.reserved(&BOB), 0);
    assert_eq!(
        balances::free_balance(&net.state, &MERCHANT).unwrap(),
        before
    );
}

#[test]
fn the_treasury_collects_fees_and_pays_only_through_proposals() {
    let mut net = Net::new(genesis());
    for _ in 0..50 {
        assert!(net.send(MERCHANT, seats(2)).is_some()); // fails, pays its fee
    }
    let collected = treasury_balance(&net.state).unwrap();
    assert!(collected >= 40, "{collected}"); // 80% of 50 fees of 1
    let spend = |amount| Call::Root(RootCall::TreasurySpend { to: EVE, amount });
    assert_eq!(
        net.send(ALICE, spend(10)),
        Some(RuntimeError::Governance(GovernanceError::System(
            SystemError::NotGovernance { caller: ALICE }
        )))
    );
    let eve = balances::free_balance(&net.state, &EVE).unwrap();
    let id = net.propose(ALICE, spend(10));
    assert_eq!(net.vote(ALICE, id, true), None);
    net.run_to(1 + VOTING + DELAY);
    assert_eq!(
        net.status(id),
        ProposalStatus::Enacted {
            at: 1 + VOTING + DELAY
        }
    );
    assert_eq!(balances::free_balance(&net.state, &EVE).unwrap(), eve + 10);
    assert!(net.events().contains(&GovernanceEvent::TreasurySpent {
        to: EVE,
        amount: 10
    }));
}

#[test]
fn proposals_must_be_privileged_bounded_and_not_nested() {
    let mut net = Net::new(genesis());
    let transfer = Call::Balances(crate::balances::BalancesCall::Transfer {
        dest: EVE,
        amount: 5,
    });
    let propose = |call| {
        Call::Governance(GovernanceCall::Propose {
            call: ProposedCall::new(call),
        })
    };
    assert_eq!(
        net.send(ALICE, propose(transfer)),
        Some(RuntimeError::Governance(GovernanceError::NotPrivileged))
    );
    for n in 0..MAX_ACTIVE_PROPOSALS as u32 {
        net.propose(ALICE, seats(n + 1));
    }
    assert_eq!(
        net.send(ALICE, propose(seats(2))),
        Some(RuntimeError::Governance(GovernanceError::TooManyActive {
            max: MAX_ACTIVE_PROPOSALS
        }))
    );
    // A proposal to vote (or to propose) cannot even be decoded.
    let vote = Call::Governance(GovernanceCall::Vote {
        proposal: 0,
        aye: true,
    });
    let bytes = crust_primitives::codec::encode(&ProposedCall::new(vote));
    assert!(crust_primitives::codec::decode::<ProposedCall>(&bytes).is_err());
    let mut nested = crust_primitives::codec::encode(&propose(seats(2)));
    for _ in 0..10_000 {
        nested = [vec![5u8, 0u8], nested].concat();
    }
    assert!(crust_primitives::codec::decode::<Call>(&nested).is_err());
}

#[test]
fn governance_parameters_keep_votes_inside_the_bonding_duration() {
    let mut net = Net::new(genesis());
    let mut p = params(&net.state).unwrap();
    p.voting_period = 20 * 10; // the whole bonding duration
    let err = crate::state::atomically(&mut net.state, |s| set_params(s, &p)).unwrap_err();
    assert!(matches!(err, GovernanceError::InvalidParams(_)), "{err}");
    p.voting_period = 10;
    p.upgrade.approval = Perbill::from_percent(40);
    let err = crate::state::atomically(&mut net.state, |s| set_params(s, &p)).unwrap_err();
    assert!(matches!(err, GovernanceError::InvalidParams(_)), "{err}");
    // Through a proposal, valid parameters take effect.
    p.upgrade.approval = Perbill::from_percent(75);
    let id = net.propose(BOB, Call::Root(RootCall::SetParams { params: p.clone() }));
    assert_eq!(net.vote(ALICE, id, true), None);
    net.run_to(1 + VOTING + DELAY);
    assert_eq!(params(&net.state).unwrap(), p);
}

#[test]
fn an_upgrade_switches_rules_exactly_at_its_height() {
    let mut net = Net::new(genesis());
    let at = 1 + VOTING + DELAY + 30;
    let schedule = |version, at| Call::Root(RootCall::ScheduleUpgrade { version, at });
    // Skipping a version is refused when enacted.
    let skip = net.propose(BOB, schedule(3, at));
    let id = net.propose(BOB, schedule(2, at));
    for p in [skip, id] {
        assert_eq!(net.vote(ALICE, p, true), None);
    }
    net.run_to(1 + VOTING + DELAY);
    assert!(matches!(
        net.status(skip),
        ProposalStatus::EnactmentFailed { .. }
    ));
    assert_eq!(
        net.status(id),
        ProposalStatus::Enacted {
            at: 1 + VOTING + DELAY
        }
    );
    assert_eq!(
        crate::system::scheduled_upgrade(&net.state).unwrap(),
        Some(crate::system::ScheduledUpgrade { version: 2, at })
    );
    assert_eq!(crate::system::version_at(&net.state, at - 1).unwrap(), 1);
    assert_eq!(crate::system::version_at(&net.state, at).unwrap(), 2);
    net.run_to(at - 1);
    assert_eq!(crate::system::protocol_version(&net.state).unwrap(), 1);
    assert_eq!(
        crate::system::current_rules(&net.state)
            .unwrap()
            .supersede_after_slots,
        2
    );
    net.state.take_events();
    net.run_to(at);
    assert_eq!(crate::system::protocol_version(&net.state).unwrap(), 2);
    assert_eq!(crate::system::scheduled_upgrade(&net.state).unwrap(), None);
    assert!(net.state.take_events().contains(&crate::Event::System(
        crate::system::SystemEvent::ProtocolUpgraded {
            version: 2,
            height: at
        }
    )));
    let rules = crate::system::current_rules(&net.state).unwrap();
    assert_eq!(
        (rules.max_block_txs, rules.supersede_after_slots),
        (4_000, 1)
    );
}

#[test]
fn upgrades_need_notice_and_the_next_version() {
    let mut s = genesis().build().unwrap();
    let ctx = crate::CallContext {
        caller: crate::system::governance_origin(),
        height: 100,
        era: 0,
    };
    let schedule = |s: &mut MemoryState, version, at| {
        crate::state::atomically(s, |s| crate::system::schedule_upgrade(s, &ctx, version, at))
    };
    assert_eq!(
        schedule(&mut s, 2, 105),
        Err(SystemError::UpgradeTooSoon {
            at: 105,
            earliest: 110
        })
    );
    assert_eq!(
        schedule(&mut s, 1, 200),
        Err(SystemError::UpgradeNotNext {
            version: 1,
            current: 1
        })
    );
    assert_eq!(schedule(&mut s, 2, 200), Ok(()));
    assert_eq!(
        crate::state::atomically(&mut s, |s| crate::system::cancel_upgrade(s, &ctx)),
        Ok(())
    );
    assert_eq!(crate::system::scheduled_upgrade(&s).unwrap(), None);
}

#[test]
fn nobody_signs_as_the_governance_origin() {
    let mut net = Net::new(genesis());
    let origin = crate::system::governance_origin();
    balances::mint(&mut net.state, &origin, 1_000).unwrap();
    let tx = CheckedTransaction {
        signer: origin,
        nonce: 0,
        fee: 1,
        tip: 0,
        call: seats(1),
        encoded_len: 100,
    };
    let block = net.block();
    assert_eq!(
        apply_transaction(&mut net.state, &block, &tx).unwrap_err(),
        InvalidTransaction::ReservedSigner
    );
}

// ---- property: no privileged change without a passed proposal ----------------------------

/// Everything a privileged call can change, as bytes.
fn privileged_state(s: &MemoryState) -> Vec<Vec<u8>> {
    let read = |k: Vec<u8>| s.get(&k).unwrap_or_default();
    vec![
        read(crate::system::config_key()),
        read(crate::system::scheduled_key()),
        read(crate::system::version_key()),
        {
            // The market's hook moves its fees by demand; everything else is governance's.
            let mut m = crate::market::params(s).unwrap();
            (m.base_fee, m.byte_fee, m.keys_fee) = (0, 0, 0);
            format!("{m:?}").into_bytes()
        },
        format!("{:?}", crate::staking::params(s).unwrap()).into_bytes(),
        read(council_key()),
        read(params_key()),
        s.entries()
            .range(crate::state::key("swork", "authority", &[])..)
            .take_while(|(k, _)| k.starts_with(&crate::state::key("swork", "authority", &[])))
            .flat_map(|(k, v)| [k.clone(), v.clone()].concat())
            .collect(),
        read(crate::swork::params_key()),
        treasury_balance(s).unwrap().to_be_bytes().to_vec(),
    ]
}

fn privileged_call(n: u8) -> Call {
    match n % 7 {
        0 => seats(u32::from(n) % 5 + 1),
        1 => Call::Root(RootCall::TreasurySpend {
            to: EVE,
            amount: u128::from(n % 3),
        }),
        2 => Call::Root(RootCall::SetCouncil {
            members: vec![BOB],
            threshold: 1,
        }),
        3 => Call::Root(RootCall::ScheduleUpgrade {
            version: 2,
            at: 10_000,
        }),
        4 => Call::Swork(crate::swork::SworkCall::SetChallenges {
            enabled: n.is_multiple_of(2),
        }),
        5 => Call::Market(crate::market::MarketCall::SetParameter {
            param: crate::market::MarketParameter::SpowerReadyPeriod {
                blocks: u64::from(n),
            },
        }),
        _ => Call::Swork(crate::swork::SworkCall::SetAuthorities {
            authorities: vec![MERCHANT],
            threshold: 1,
        }),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Direct(u8, u8),
    Propose(u8, u8),
    Vote(u8, u8, bool),
    Cancel(u8, u8, bool),
    Advance(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(w, c)| Op::Direct(w, c)),
        (any::<u8>(), any::<u8>()).prop_map(|(w, c)| Op::Propose(w, c)),
        (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(w, p, a)| Op::Vote(w, p, a)),
        (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(w, p, k)| Op::Cancel(w, p, k)),
        (1u8..30).prop_map(Op::Advance),
    ]
}

const WHO: [AccountId; 8] = [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, MERCHANT, ROOT];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Outside dev chains, privileged state changes only in a block where a passed proposal
    /// was enacted — whatever anyone signs, including the old sudo key and the council.
    #[test]
    fn no_privileged_change_without_a_passed_proposal(ops in proptest::collection::vec(op(), 1..60)) {
        let mut net = Net::new(genesis().with_balance(ROOT, 1_000_000));
        net.state.take_events();
        for op in ops {
            let before = privileged_state(&net.state);
            let who = |w: u8| WHO[usize::from(w) % WHO.len()];
            match op {
                Op::Direct(w, c) => {
                    let error = net.send(who(w), privileged_call(c));
                    prop_assert!(error.is_some(), "a direct privileged call succeeded");
                }
                Op::Propose(w, c) => {
                    let call = Call::Governance(GovernanceCall::Propose {
                        call: ProposedCall::new(privileged_call(c)),
                    });
                    net.send(who(w), call);
                }
                Op::Vote(w, p, aye) => {
                    let id = u32::from(p) % (proposal_count(&net.state).unwrap() + 1);
                    net.vote(who(w), id, aye);
                }
                Op::Cancel(w, p, kill) => {
                    let id = u32::from(p) % (proposal_count(&net.state).unwrap() + 1);
                    net.send(who(w), Call::Governance(GovernanceCall::CouncilCancel { proposal: id, kill }));
                }
                Op::Advance(n) => {
                    // Block by block, so each change is matched to its own block's events.
                    for _ in 0..n {
                        let before = privileged_state(&net.state);
                        net.run_to(net.height + 1);
                        let enacted = net.events().iter().any(|e| matches!(e, GovernanceEvent::Enacted { .. }));
                        let after = privileged_state(&net.state);
                        // Fees move the treasury every block; everything else needs enactment.
                        let changed: Vec<usize> = (0..9).filter(|i| before[*i] != after[*i]).collect();
                        prop_assert!(enacted || changed.is_empty(), "changed without enactment: {:?}", changed);
                    }
                    continue;
                }
            }
            let after = privileged_state(&net.state);
            // Transactions only add fees and deposits to the treasury; nothing else moves.
            prop_assert_eq!(&before[..9], &after[..9]);
            net.events();
        }
    }
}
