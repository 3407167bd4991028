//! Whole-runtime property tests: random sequences of calls, replica reports and blocks keep
//! the books balanced, and a failing call never changes state.
//!
//! Invariants checked after every step:
//! 1. total issuance = Σ (free + reserved) over all accounts (mint and burn included);
//! 2. the storage pot holds exactly Σ (amount + prepaid) over files + Σ unclaimed rewards;
//! 3. each worker's spower = Σ of its replicas' contributions;
//! 4. a call that returns an error leaves the state byte-for-byte unchanged.

use crate::benefits::{self, BenefitsCall, FundsType};
use crate::market::{self, MarketCall, MarketParameter, ReplicaReport};
use crate::staking::{StakingCall, ValidatorPrefs};
use crate::state::{State, StateExt, atomically};
use crate::testing::*;
use crate::{Call, CallContext, balances, dispatch};
use crust_primitives::codec::{decode, encode};
use crust_primitives::{AccountId, Balance, Cid, Perbill};
use proptest::prelude::*;
use std::collections::BTreeMap;

const ACCOUNTS: [AccountId; 6] = [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE];
const SIZES: [u64; 3] = [100, 5_000_000, BIG_SIZE];

fn cid(i: usize) -> Cid {
    cid_n(i as u8 + 1)
}

#[derive(Clone, Debug)]
enum Step {
    Call {
        who: usize,
        call: Box<Call>,
    },
    Replica {
        file: usize,
        who: usize,
        owner: usize,
        anchor: u8,
        size_ok: bool,
        valid_back: u64,
    },
    RemoveReplica {
        file: usize,
        who: usize,
        owner: usize,
    },
    Blocks(u64),
    NewEra {
        payout: Balance,
    },
    WithdrawStakingPot,
}

fn call_strategy() -> impl Strategy<Value = Call> {
    let who = 0..ACCOUNTS.len();
    let file = 0..4usize;
    let amount = prop_oneof![0..2_000u128, 0..2_000_000u128, Just(u128::MAX)];
    let funds = prop_oneof![Just(FundsType::Swork), Just(FundsType::Market)];
    prop_oneof![
        2 => (who.clone(), amount.clone()).prop_map(|(to, amount)| Call::Balances(balances::BalancesCall::Transfer { dest: ACCOUNTS[to], amount })),
        6 => (file.clone(), 0..SIZES.len(), 0..300u128).prop_map(|(f, s, tips)| Call::Market(MarketCall::PlaceStorageOrder { cid: cid(f), file_size: SIZES[s], tips, memo: vec![], commitment: crate::testing::commitment_for(&cid(f)) })),
        2 => (file.clone(), amount.clone()).prop_map(|(f, amount)| Call::Market(MarketCall::AddPrepaid { cid: cid(f), amount })),
        2 => (who.clone(), amount.clone(), 0..2_000u64).prop_map(|(d, cap, expires_at)| Call::Market(MarketCall::ApproveOrderer { delegate: ACCOUNTS[d], cap, expires_at })),
        3 => (who.clone(), file.clone(), 0..SIZES.len(), 0..300u128).prop_map(|(p, f, s, tips)| Call::Market(MarketCall::PlaceStorageOrderFor { payer: ACCOUNTS[p], cid: cid(f), file_size: SIZES[s], tips, memo: vec![], commitment: crate::testing::commitment_for(&cid(f)) })),
        3 => file.clone().prop_map(|f| Call::Market(MarketCall::CalculateReward { cid: cid(f) })),
        1 => Just(Call::Market(MarketCall::RewardMerchant {})),
        1 => (0..3_000u128).prop_map(|fee| Call::Market(MarketCall::SetParameter { param: MarketParameter::BaseFee { fee } })),
        1 => (who.clone(), 0..20_000u128).prop_map(|(to, amount)| Call::Market(MarketCall::SpendReserved { to: ACCOUNTS[to], amount })),
        3 => (amount.clone(), funds.clone()).prop_map(|(value, funds_type)| Call::Benefits(BenefitsCall::AddBenefitFunds { value, funds_type })),
        1 => (amount.clone(), funds.clone()).prop_map(|(value, funds_type)| Call::Benefits(BenefitsCall::CutBenefitFunds { value, funds_type })),
        1 => Just(Call::Benefits(BenefitsCall::WithdrawBenefitFunds {})),
        1 => (amount.clone(), funds).prop_map(|(value, funds_type)| Call::Benefits(BenefitsCall::RebondBenefitFunds { value, funds_type })),
        2 => (who.clone(), amount.clone()).prop_map(|(c, value)| Call::Staking(StakingCall::Bond { controller: ACCOUNTS[c], value })),
        1 => amount.clone().prop_map(|max_additional| Call::Staking(StakingCall::BondExtra { max_additional })),
        1 => amount.clone().prop_map(|value| Call::Staking(StakingCall::Unbond { value })),
        1 => amount.clone().prop_map(|value| Call::Staking(StakingCall::Rebond { value })),
        1 => Just(Call::Staking(StakingCall::WithdrawUnbonded {})),
        2 => who.clone().prop_map(|k| Call::Staking(StakingCall::Validate { prefs: ValidatorPrefs { commission: Perbill::from_percent(10), session_key: ACCOUNTS[k] } })),
        2 => (who.clone(), amount.clone()).prop_map(|(t, value)| Call::Staking(StakingCall::Guarantee { target: ACCOUNTS[t], value })),
        1 => (who.clone(), amount).prop_map(|(t, value)| Call::Staking(StakingCall::CutGuarantee { target: ACCOUNTS[t], value })),
        1 => Just(Call::Staking(StakingCall::Chill {})),
        1 => (who, 0..4u64).prop_map(|(v, era)| Call::Staking(StakingCall::RewardStakers { validator: ACCOUNTS[v], era })),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let who = 0..ACCOUNTS.len();
    prop_oneof![
        6 => (who.clone(), call_strategy()).prop_map(|(who, call)| Step::Call { who, call: Box::new(call) }),
        // The governance account calls too, so setters and spends succeed sometimes.
        1 => call_strategy().prop_map(|call| Step::Call { who: usize::MAX, call: Box::new(call) }),
        4 => (0..4usize, who.clone(), who.clone(), 0..3u8, prop::bool::weighted(0.85), 0..500u64)
            .prop_map(|(file, who, owner, anchor, size_ok, valid_back)| Step::Replica { file, who, owner, anchor, size_ok, valid_back }),
        2 => (0..4usize, who.clone(), who).prop_map(|(file, who, owner)| Step::RemoveReplica { file, who, owner }),
        2 => (1..700u64).prop_map(Step::Blocks),
        1 => (0..100_000u128).prop_map(|payout| Step::NewEra { payout }),
        1 => Just(Step::WithdrawStakingPot),
    ]
}

fn check_invariants(chain: &Chain) -> Result<(), TestCaseError> {
    let state = &chain.state;
    // 1. issuance
    let mut sum: Balance = 0;
    let mut cursor = None;
    loop {
        let page = state.scan(&balances::accounts_prefix(), cursor.as_deref(), 64);
        if page.is_empty() {
            break;
        }
        for (_, v) in &page {
            let info: balances::AccountInfo = decode(v).expect("account decodes");
            sum += info.free + info.reserved;
        }
        cursor = page.last().map(|(k, _)| k.clone());
    }
    prop_assert_eq!(sum, balances::total_issuance(state).unwrap(), "issuance");

    // 2. storage pot and 3. spower per anchor
    let mut owed: Balance = 0;
    let mut spower: BTreeMap<market::Anchor, u64> = BTreeMap::new();
    let mut replicas = 0usize;
    for (_, v) in state.scan(&market::files_prefix(), None, usize::MAX) {
        let f: market::FileInfo = decode(&v).expect("file decodes");
        owed += f.amount + f.prepaid;
        for r in &f.replicas {
            *spower.entry(r.anchor).or_default() += f.contribution(r);
        }
        replicas += f.replicas.len();
    }
    // 5. every replica is indexed under its worker as proven, at a position of the worker's
    // dense list that points back at it; nothing else is.
    let mut proven = 0usize;
    for (k, v) in state.scan(
        &crate::state::key("market", "anchor_file", &[]),
        None,
        usize::MAX,
    ) {
        if let market::index::AnchorEntry::Proven { position } = decode(&v).expect("entry") {
            proven += 1;
            let prefix = crate::state::key("market", "anchor_file", &[]);
            let a: market::Anchor = k[prefix.len()..prefix.len() + 32].try_into().unwrap();
            let count = market::index::proven_count(state, &a).unwrap();
            prop_assert!(position < count, "position inside the list");
            let at = market::index::proven_at(state, &a, position)
                .unwrap()
                .expect("dense");
            prop_assert_eq!(
                market::index::entry_key(&a, &at.cid, &at.owner),
                k,
                "points back"
            );
        }
    }
    prop_assert_eq!(proven, replicas, "worker index");
    for who in ACCOUNTS {
        owed += benefits::collateral_and_reward(state, &who).unwrap().1;
    }
    prop_assert_eq!(
        balances::free_balance(state, &market::storage_pot()).unwrap(),
        owed,
        "storage pot"
    );
    for a in 0..3u8 {
        let expected = spower.get(&anchor(a)).copied().unwrap_or(0);
        prop_assert_eq!(
            market::anchor_spower(state, &anchor(a)).unwrap(),
            expected,
            "spower of anchor {}",
            a
        );
    }
    Ok(())
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut genesis = reference_mock()
        .with_market(|m| m.spower_ready_period = 400)
        .with_config(|c| c.slots_per_era = 2)
        .with_validator(AccountId([0x70; 32]), 1_000_000, ACCOUNTS[0]);
    for who in ACCOUNTS {
        genesis = genesis.with_balance(who, 3_000_000);
    }
    let mut chain = Chain::new(genesis);
    check_invariants(&chain)?;
    for step in steps {
        match step {
            Step::Call { who, call } => {
                let caller = ACCOUNTS.get(who).copied().unwrap_or(ROOT);
                let ctx = CallContext {
                    caller,
                    height: chain.height,
                    era: 0,
                };
                let before = chain.state.clone();
                if atomically(&mut chain.state, |s| dispatch(s, &ctx, &call)).is_err() {
                    prop_assert_eq!(
                        &chain.state,
                        &before,
                        "failed call changed state: {:?}",
                        call
                    );
                }
            }
            Step::Replica {
                file,
                who,
                owner,
                anchor: a,
                size_ok,
                valid_back,
            } => {
                let size = market::file(&chain.state, &cid(file))
                    .unwrap()
                    .map_or(100, |f| f.file_size);
                let report = ReplicaReport {
                    cid: cid(file),
                    who: ACCOUNTS[who],
                    owner: ACCOUNTS[owner],
                    anchor: anchor(a),
                    valid_at: chain.height.saturating_sub(valid_back),
                    reported_size: if size_ok { size } else { size + 1 },
                };
                market::add_replica(&mut chain.state, chain.height, &report).unwrap();
            }
            Step::RemoveReplica { file, who, owner } => {
                market::remove_replica(
                    &mut chain.state,
                    chain.height,
                    &cid(file),
                    &ACCOUNTS[who],
                    &ACCOUNTS[owner],
                )
                .unwrap();
            }
            Step::Blocks(n) => {
                let target = chain.height + n;
                chain.run_blocks_to(target, ACCOUNTS[(target % 6) as usize]);
            }
            Step::NewEra { payout } => {
                let era = benefits::era_benefits(&chain.state).unwrap().active_era + 1;
                benefits::update_era_benefit(&mut chain.state, era, payout).unwrap();
            }
            Step::WithdrawStakingPot => {
                market::withdraw_staking_pot(&mut chain.state).unwrap();
            }
        }
        check_invariants(&chain)?;
    }
    // Every stored file still decodes and re-encodes identically.
    for (k, v) in chain.state.scan(&market::files_prefix(), None, usize::MAX) {
        let f: market::FileInfo = chain.state.read(&k).unwrap().unwrap();
        prop_assert_eq!(encode(&f), v);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn books_balance_after_any_sequence(steps in prop::collection::vec(step_strategy(), 1..80)) {
        run(steps)?;
    }

    #[test]
    fn calls_round_trip_through_the_codec(call in call_strategy()) {
        prop_assert_eq!(decode::<Call>(&encode(&call)).ok(), Some(call));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(call) = decode::<Call>(&bytes) {
            // Whatever decodes has exactly one encoding.
            prop_assert_eq!(&encode(&call), &bytes);
        }
        let _ = decode::<market::FileInfo>(&bytes);
        let _ = decode::<balances::AccountInfo>(&bytes);
    }
}
