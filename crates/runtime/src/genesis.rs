//! The initial state: runtime configuration, market parameters and endowed balances.

use crate::governance::{self, Council, GovParams};
use crate::market::{self, MarketParams};
use crate::state::{MemoryState, State};
use crate::system::{self, RuntimeConfig};
use crate::{RuntimeError, balances};
use crust_primitives::constants::{
    BONDING_DURATION_ERAS, EXISTENTIAL_DEPOSIT, MILLICENTS, REFERENCE_FILE_DURATION_BLOCKS,
    REFERENCE_REPORT_SLOT_BLOCKS, REFERENCE_SLOTS_PER_ERA,
};
use crust_primitives::{AccountId, Balance, BlockHeight, CRU, Perbill};

/// What a chain starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Runtime configuration.
    pub config: RuntimeConfig,
    /// Initial market parameters.
    pub market: MarketParams,
    /// Endowed accounts.
    pub balances: Vec<(AccountId, Balance)>,
    /// Initial stakers; those with a session key validate and form era 0's committee.
    pub stakers: Vec<GenesisStaker>,
    /// Committee seats.
    pub staking_validator_count: u32,
    /// sWork code measurements allowed at genesis, with their expiry blocks.
    pub swork_codes: Vec<(crate::swork::CodeMeasurement, BlockHeight)>,
    /// sWork attestation authorities at genesis and how many must sign (D17a).
    pub swork_authorities: (Vec<AccountId>, u32),
    /// Whether SRD of authority-attested workers counts toward stake limits (D31; dev chains).
    pub srd_counts_authorities: bool,
    /// Governance parameters; `None` takes [`GovParams::defaults`] for the chain's era and
    /// slot lengths with a 100 CRU deposit.
    pub governance: Option<GovParams>,
    /// The council that can cancel proposals (none by default).
    pub council: Council,
    /// The protocol version the chain starts under (1 unless a spec says otherwise; a new
    /// network may start at the newest version its binaries speak).
    pub protocol_version: u32,
}

/// A staker at genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisStaker {
    /// Stash (must be endowed with at least `bond`).
    pub stash: AccountId,
    /// Controller.
    pub controller: AccountId,
    /// Amount bonded.
    pub bond: Balance,
    /// Consensus key, if the staker validates.
    pub session_key: Option<AccountId>,
}

impl Genesis {
    /// The reference network's parameters (6 s blocks, 1 h slots, 6 h eras, 180-day orders),
    /// with the market enabled and `sudo` allowed to make privileged calls directly (drop it
    /// with [`Genesis::without_sudo`] for a chain governed only by proposals).
    pub fn reference(sudo: AccountId) -> Self {
        Self {
            config: RuntimeConfig {
                sudo: Some(sudo),
                existential_deposit: EXISTENTIAL_DEPOSIT,
                block_time_ms: crust_primitives::constants::REFERENCE_BLOCK_TIME_MS,
                report_slot_blocks: REFERENCE_REPORT_SLOT_BLOCKS,
                slots_per_era: REFERENCE_SLOTS_PER_ERA,
                file_duration_blocks: REFERENCE_FILE_DURATION_BLOCKS,
                collateral_ratio: 1,
                maximum_file_size: 8 * 1024 * 1024 * 1024,
                tx_base_fee: 10 * MILLICENTS,
                tx_byte_fee: MILLICENTS / 100,
                benefit_report_work_cost: 3 * CRU,
                benefits_limit_ratio: Perbill::from_parts(2_000_000),
                benefit_market_cost_ratio: Perbill::one(),
                bonding_duration_eras: BONDING_DURATION_ERAS,
            },
            market: MarketParams {
                enable_market: true,
                ..MarketParams::default()
            },
            balances: Vec::new(),
            stakers: Vec::new(),
            staking_validator_count: 4,
            swork_codes: Vec::new(),
            swork_authorities: (Vec::new(), 1),
            srd_counts_authorities: false,
            governance: None,
            council: Council::default(),
            protocol_version: 1,
        }
    }

    /// No sudo key: privileged calls only through passed proposals.
    pub fn without_sudo(mut self) -> Self {
        self.config.sudo = None;
        self
    }

    /// Sets the council (members and the approvals a cancellation needs).
    pub fn with_council(mut self, members: Vec<AccountId>, threshold: u32) -> Self {
        self.council = Council { members, threshold };
        self
    }

    /// Sets the governance parameters.
    pub fn with_governance(mut self, params: GovParams) -> Self {
        self.governance = Some(params);
        self
    }

    /// Allows `code` for sWork registration until `expire_block`.
    pub fn with_swork_code(
        mut self,
        code: crate::swork::CodeMeasurement,
        expire_block: BlockHeight,
    ) -> Self {
        self.swork_codes.push((code, expire_block));
        self
    }

    /// Sets the attestation authorities and how many of them must sign a registration.
    pub fn with_swork_authorities(mut self, authorities: Vec<AccountId>, threshold: u32) -> Self {
        self.swork_authorities = (authorities, threshold);
        self
    }

    /// Counts SRD of authority-attested workers toward stake limits (D31), as dev chains do.
    pub fn with_srd_counting_authorities(mut self, counts: bool) -> Self {
        self.srd_counts_authorities = counts;
        self
    }

    /// Adds `amount` to `who`'s initial free balance.
    pub fn with_balance(mut self, who: AccountId, amount: Balance) -> Self {
        self.balances.push((who, amount));
        self
    }

    /// Adds a genesis validator: endows `stash` with `bond`, bonds it with itself as controller,
    /// and validates with `session_key`.
    pub fn with_validator(
        mut self,
        stash: AccountId,
        bond: Balance,
        session_key: AccountId,
    ) -> Self {
        self.balances.push((stash, bond));
        self.stakers.push(GenesisStaker {
            stash,
            controller: stash,
            bond,
            session_key: Some(session_key),
        });
        self
    }

    /// Adjusts the runtime configuration.
    pub fn with_config(mut self, f: impl FnOnce(&mut RuntimeConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Adjusts the initial market parameters.
    pub fn with_market(mut self, f: impl FnOnce(&mut MarketParams)) -> Self {
        f(&mut self.market);
        self
    }

    /// Writes the genesis state into `state`.
    pub fn apply(&self, state: &mut impl State) -> Result<(), RuntimeError> {
        system::set_config(state, &self.config);
        system::set_genesis_version(state, self.protocol_version)?;
        crate::history::start(state)?;
        balances::make_permanent(state, &system::treasury_account());
        market::init_pots(state);
        market::set_params(state, &self.market);
        for (who, amount) in &self.balances {
            balances::endow(state, who, *amount)?;
        }
        let params = crate::staking::StakingParams {
            validator_count: self
                .staking_validator_count
                .clamp(1, crate::staking::MAX_COMMITTEE as u32),
            ..crate::staking::StakingParams::default()
        };
        crate::staking::set_params(state, &params);
        let mut members = Vec::new();
        for s in &self.stakers {
            crate::staking::genesis_staker(state, &s.stash, &s.controller, s.bond, s.session_key)?;
            if let Some(session_key) = s.session_key {
                members.push((s.stash, session_key, s.bond));
            }
        }
        crate::staking::genesis_committee(state, &members)?;
        let gov = self.governance.clone().unwrap_or_else(|| {
            GovParams::defaults(
                self.config.era_blocks(),
                self.config.report_slot_blocks,
                100 * CRU,
            )
        });
        governance::genesis(state, &gov, &self.council)?;
        // sWork's allowlist and authorities, set as governance would set them.
        let root = crate::CallContext {
            caller: system::governance_origin(),
            height: 0,
            era: 0,
        };
        for (code, expire) in &self.swork_codes {
            crate::swork::set_code(state, &root, code, *expire)?;
        }
        let (authorities, threshold) = &self.swork_authorities;
        if !authorities.is_empty() {
            crate::swork::set_authorities(state, &root, authorities, *threshold)?;
        }
        if self.srd_counts_authorities {
            crate::swork::set_srd_policy(state, &root, true, true)?;
        }
        Ok(())
    }

    /// A fresh in-memory state holding this genesis.
    pub fn build(&self) -> Result<MemoryState, RuntimeError> {
        let mut state = MemoryState::new();
        self.apply(&mut state)?;
        state.take_events();
        Ok(state)
    }
}
