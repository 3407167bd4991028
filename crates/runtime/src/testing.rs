//! Test harness: the reference network's mock configuration and builders, so tests read like
//! the reference's worked examples (`docs/reference.md`).

use crate::benefits::{self, FundsType};
use crate::market::{self, ReplicaOutcome, ReplicaReport};
use crate::state::MemoryState;
use crate::{CallContext, Genesis, balances};
use crust_primitives::{AccountId, Balance, BlockHeight, Cid, Perbill};

pub const ALICE: AccountId = AccountId([1; 32]);
pub const BOB: AccountId = AccountId([2; 32]);
pub const CHARLIE: AccountId = AccountId([3; 32]);
pub const EVE: AccountId = AccountId([4; 32]);
pub const MERCHANT: AccountId = AccountId([5; 32]);
pub const DAVE: AccountId = AccountId([6; 32]);
pub const FERDIE: AccountId = AccountId([7; 32]);
pub const ZIKUN: AccountId = AccountId([8; 32]);
/// The governance (root) key of test chains.
pub const ROOT: AccountId = AccountId([0xee; 32]);

/// The reference's 129 MiB test file (`docs/reference.md` M3.6): 134 289 408 bytes.
pub const BIG_SIZE: u64 = 134_289_408;

pub fn big_cid() -> Cid {
    "QmdwgqZy1MZBfWPi7GcxVsYgJEtmvHg6rsLzbCej3tf3oF"
        .parse()
        .expect("valid CID")
}

pub fn small_cid() -> Cid {
    Cid::v1_sha256(crust_primitives::cid::RAW, [7; 32])
}

pub fn cid_n(n: u8) -> Cid {
    Cid::v1_sha256(crust_primitives::cid::RAW, [n; 32])
}

pub fn anchor(n: u8) -> market::Anchor {
    [n; 32]
}

/// The reference market mock: existential deposit 1, `FileDuration` 1000, report slot 300
/// (the reference's `test` feature), collateral ratio 10, 128 GiB max size, base fee 1000,
/// byte fee 1000 per MiB, keys fee 0, market enabled. Benefits: report-work cost 50, limit
/// ratio 1%, market cost ratio 95%, bonding duration 2 eras.
pub fn reference_mock() -> Genesis {
    // The reference counts every worker's SRD; D31 makes that a per-attestation choice, and
    // the reference's examples are reproduced with it on for authority-attested workers.
    Genesis::reference(ROOT)
        .with_srd_counting_authorities(true)
        .with_config(|c| {
            c.existential_deposit = 1;
            c.file_duration_blocks = 1000;
            c.report_slot_blocks = 300;
            c.collateral_ratio = 10;
            c.maximum_file_size = 137_438_953_472;
            c.tx_base_fee = 1;
            c.tx_byte_fee = 0;
            c.benefit_report_work_cost = 50;
            c.benefits_limit_ratio = Perbill::from_percent(1);
            c.benefit_market_cost_ratio = Perbill::from_percent(95);
            c.bonding_duration_eras = 2;
        })
        .with_market(|m| {
            m.enable_market = true;
            m.base_fee = 1000;
            m.byte_fee = 1000;
            m.keys_fee = 0;
            m.max_base_fee = 1_000_000_000_000;
            m.max_byte_fee = 1_000_000;
            m.max_keys_fee = 1_000_000;
        })
}

/// A test chain: state plus the current block height.
pub struct Chain {
    pub state: MemoryState,
    pub height: BlockHeight,
}

impl Chain {
    pub fn new(genesis: Genesis) -> Self {
        Self {
            state: genesis.build().expect("genesis applies"),
            height: 0,
        }
    }

    pub fn mock() -> Self {
        Self::new(reference_mock())
    }

    /// Moves to block `height` without running hooks (the reference tests' `run_to_block`,
    /// which does not run the market's hook either).
    pub fn at(&mut self, height: BlockHeight) -> &mut Self {
        self.height = height;
        self
    }

    /// Runs the market hook for every block up to and including `height`.
    pub fn run_hooks_to(&mut self, height: BlockHeight) {
        while self.height < height {
            self.height += 1;
            market::on_initialize(&mut self.state, self.height).expect("hook");
        }
    }

    /// Runs every system block hook (market, sWork, staking) for each block up to `height`.
    pub fn run_blocks_to(&mut self, height: BlockHeight, author: AccountId) {
        while self.height < height {
            self.height += 1;
            let block = crate::BlockContext {
                height: self.height,
                era: 0,
                author,
                parent_hash: [0; 32],
                timestamp_ms: 0,
            };
            crate::executive::begin_block(&mut self.state, &block).expect("block hooks");
        }
    }

    pub fn ctx(&self, who: AccountId) -> CallContext {
        CallContext {
            caller: who,
            height: self.height,
            era: 0,
        }
    }

    pub fn root(&self) -> CallContext {
        self.ctx(ROOT)
    }

    /// Tops `who` up to exactly `amount` free (minting or burning the difference).
    pub fn set_free(&mut self, who: AccountId, amount: Balance) {
        let free = balances::free_balance(&self.state, &who).expect("state");
        if amount > free {
            balances::mint(&mut self.state, &who, amount - free).expect("mint");
        } else {
            balances::burn(&mut self.state, &who, free - amount).expect("burn");
        }
    }

    pub fn free(&self, who: &AccountId) -> Balance {
        balances::free_balance(&self.state, who).expect("state")
    }

    /// Locks `amount` as MARKET benefit funds: the merchant's collateral.
    pub fn add_collateral(&mut self, who: AccountId, amount: Balance) {
        let ctx = self.ctx(who);
        benefits::add_benefit_funds(&mut self.state, &ctx, amount, FundsType::Market)
            .expect("collateral");
    }

    /// The (collateral, unclaimed reward) ledger of a merchant.
    pub fn ledger(&self, who: &AccountId) -> (Balance, Balance) {
        benefits::collateral_and_reward(&self.state, who).expect("state")
    }

    pub fn order(
        &mut self,
        who: AccountId,
        cid: &Cid,
        size: u64,
        tips: Balance,
    ) -> Result<(), market::MarketError> {
        let ctx = self.ctx(who);
        crate::state::atomically(&mut self.state, |s| {
            market::place_storage_order(s, &ctx, cid, size, tips, &commitment_for(cid))
        })
    }

    /// A verified replica report from sWork: `who` (owned by `owner`) holds `cid`.
    pub fn replica(
        &mut self,
        cid: &Cid,
        size: u64,
        who: AccountId,
        owner: AccountId,
        anchor: market::Anchor,
        valid_at: BlockHeight,
    ) -> ReplicaOutcome {
        let report = ReplicaReport {
            cid: *cid,
            who,
            owner,
            anchor,
            valid_at,
            reported_size: size,
        };
        market::add_replica(&mut self.state, self.height, &report).expect("add replica")
    }

    pub fn file(&self, cid: &Cid) -> Option<market::FileInfo> {
        market::file(&self.state, cid).expect("state")
    }

    pub fn pot(&self, pot: AccountId) -> Balance {
        self.free(&pot)
    }
}

/// A stand-in content commitment for `cid` in tests that do not look at content: a root
/// derived from the CID and a 1 MiB size. Tests of the commitment itself build real ones.
pub fn commitment_for(cid: &Cid) -> crust_primitives::commitment::ContentCommitment {
    crust_primitives::commitment::ContentCommitment {
        root: crust_primitives::merkle::leaf(&cid.to_bytes()),
        size: 1 << 20,
    }
}
