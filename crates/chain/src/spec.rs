//! Chain specifications: the parameters and genesis a network starts from.
//!
//! A spec is a JSON file (three ship with the node: `dev`, `local`, `mainnet-like`). It fixes
//! the block interval, slot and era lengths, storage term, fees and the genesis accounts and
//! validators; every node of a network must load the same spec, and the genesis hash (which
//! every transaction signs over) is derived from it.

use crust_primitives::account::{AccountError, Keypair};
use crust_primitives::balance::parse_balance;
use crust_primitives::{AccountId, Balance};
use crust_runtime::Genesis;
use serde::{Deserialize, Serialize};

/// A genesis account balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecBalance {
    /// Account: SS58 address, `0x` hex key, or a dev secret URI like `//Alice` (dev specs only).
    pub account: String,
    /// Amount, e.g. `"1000 CRU"`.
    pub amount: String,
}

/// A genesis validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecValidator {
    /// Stash (and controller) account.
    pub stash: String,
    /// Consensus key the validator's node signs with.
    pub session_key: String,
    /// Bonded amount (also endowed), e.g. `"100 CRU"`.
    pub bond: String,
}

/// A chain specification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// Human name.
    pub name: String,
    /// Short identifier, part of the genesis hash.
    pub id: String,
    /// Target block interval in milliseconds (the minimum time between blocks).
    pub block_time_ms: u64,
    /// Blocks per report slot.
    pub report_slot_blocks: u64,
    /// Report slots per era.
    pub slots_per_era: u64,
    /// Blocks of storage one order buys.
    pub file_duration_blocks: u64,
    /// Blocks before a new replica counts multiplied spower.
    pub spower_ready_period_blocks: u64,
    /// Existential deposit, e.g. `"0.0001 CRU"`.
    pub existential_deposit: String,
    /// A key allowed to make privileged calls without a vote — for dev and local chains'
    /// demos only. Public networks leave it out: their privileged calls come only from passed
    /// proposals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<String>,
    /// The council: accounts that together (`council_threshold` of them) can cancel a
    /// proposal before it runs, and do nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub council: Vec<String>,
    /// Council approvals a cancellation needs (1..=council members; 0 without a council).
    #[serde(default)]
    pub council_threshold: u32,
    /// Deposit a proposal reserves, e.g. `"100 CRU"` (default 100 CRU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_deposit: Option<String>,
    /// Blocks a proposal is open for votes (default: one era).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voting_period_blocks: Option<u64>,
    /// Blocks between a proposal passing and its call running (default: one report slot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enactment_delay_blocks: Option<u64>,
    /// The protocol version the chain starts under (default 1); later versions come by
    /// upgrade proposals (`docs/governance.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u32>,
    /// Committee seats.
    pub validator_count: u32,
    /// Genesis balances.
    pub balances: Vec<SpecBalance>,
    /// Genesis validators (era 0's committee).
    pub validators: Vec<SpecValidator>,
    /// Genesis timestamp in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// sWork code measurements allowed at genesis (storage workers running that code may
    /// register), e.g. the software enclave's on dev chains.
    #[serde(default)]
    pub swork_codes: Vec<SpecCode>,
    /// sWork attestation authorities at genesis (accounts; dev secret URIs on dev chains).
    #[serde(default)]
    pub swork_authorities: Vec<String>,
    /// How many authorities must sign a registration (default 1).
    #[serde(default = "one")]
    pub swork_authority_threshold: u32,
    /// Whether SRD of authority-attested workers counts toward stake limits (D31; default
    /// false: only attestation by hardware vouches for SRD). Dev chains, whose workers run the
    /// software enclave, say true.
    #[serde(default)]
    pub srd_counts_authority_attested: bool,
    /// Nodes a new node dials first, as `<session account>@<host:port>` (the host an IP address
    /// or a DNS name); they tell it where the other validators are. Not part of genesis: a
    /// network can publish a spec with more bootnodes later.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootnodes: Vec<String>,
}

fn one() -> u32 {
    1
}

/// An allowed sWork code measurement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecCode {
    /// `0x` + 64 hex digits.
    pub code: String,
    /// The block after which registrations and reports with this code are refused.
    pub expire_block: u64,
}

/// Why a spec cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The JSON does not parse or has unknown fields.
    #[error("chain spec is not valid JSON for a spec: {0}")]
    Json(#[from] serde_json::Error),
    /// An account field is not an address, hex key or (for dev specs) a secret URI.
    #[error("chain spec account '{value}': {source}")]
    Account {
        /// The field's value.
        value: String,
        /// Why.
        source: AccountError,
    },
    /// An amount does not parse.
    #[error("chain spec amount '{value}': {reason}")]
    Amount {
        /// The field's value.
        value: String,
        /// Why.
        reason: String,
    },
    /// A value is out of range.
    #[error("chain spec: {0}")]
    Invalid(String),
    /// No built-in spec has that name.
    #[error(
        "no built-in chain spec '{0}' (try dev, local or mainnet-like, or a path to a JSON file)"
    )]
    UnknownBuiltin(String),
}

const DEV: &str = include_str!("../specs/dev.json");
const LOCAL: &str = include_str!("../specs/local.json");
const MAINNET_LIKE: &str = include_str!("../specs/mainnet-like.json");

/// Parses an account field: SS58, `0x` hex key, or a secret URI (`//Alice`).
pub fn parse_account(value: &str) -> Result<AccountId, SpecError> {
    let account_err = |source| SpecError::Account {
        value: value.to_string(),
        source,
    };
    if value.starts_with("//") {
        return Keypair::from_suri(value)
            .map(|k| k.public())
            .map_err(account_err);
    }
    value.parse().map_err(account_err)
}

fn parse_amount(value: &str) -> Result<Balance, SpecError> {
    parse_balance(value).map_err(|e| SpecError::Amount {
        value: value.to_string(),
        reason: e.to_string(),
    })
}

impl ChainSpec {
    /// A built-in spec by name: `dev`, `local` or `mainnet-like`.
    pub fn builtin(name: &str) -> Result<Self, SpecError> {
        let text = match name {
            "dev" => DEV,
            "local" => LOCAL,
            "mainnet-like" => MAINNET_LIKE,
            other => return Err(SpecError::UnknownBuiltin(other.to_string())),
        };
        Self::from_json(text)
    }

    /// Parses and validates a spec.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let spec: Self = serde_json::from_str(text)?;
        spec.genesis()?;
        spec.bootnodes()?;
        Ok(spec)
    }

    /// The spec's bootnodes, parsed.
    pub fn bootnodes(&self) -> Result<Vec<crate::peers::Bootnode>, SpecError> {
        self.bootnodes
            .iter()
            .map(|b| {
                crate::peers::parse_bootnode(b)
                    .map_err(|e| SpecError::Invalid(format!("bootnode {e}")))
            })
            .collect()
    }

    /// The runtime genesis this spec describes.
    pub fn genesis(&self) -> Result<Genesis, SpecError> {
        if self.block_time_ms == 0 || self.report_slot_blocks == 0 || self.slots_per_era == 0 {
            return Err(SpecError::Invalid(
                "block time, slot length and slots per era must be positive".into(),
            ));
        }
        if self.validators.is_empty() {
            return Err(SpecError::Invalid(
                "at least one genesis validator is required".into(),
            ));
        }
        let ed = parse_amount(&self.existential_deposit)?;
        // `reference` takes a sudo key; it is dropped below unless the spec names one.
        let placeholder = crust_runtime::system::governance_origin();
        let mut genesis = Genesis::reference(placeholder).with_config(|c| {
            c.block_time_ms = self.block_time_ms;
            c.report_slot_blocks = self.report_slot_blocks;
            c.slots_per_era = self.slots_per_era;
            c.file_duration_blocks = self.file_duration_blocks;
            c.existential_deposit = ed;
        });
        genesis.config.sudo = match &self.sudo {
            Some(sudo) => Some(parse_account(sudo)?),
            None => None,
        };
        genesis = genesis.with_market(|m| m.spower_ready_period = self.spower_ready_period_blocks);
        let council = self
            .council
            .iter()
            .map(|a| parse_account(a))
            .collect::<Result<Vec<_>, _>>()?;
        let council_ok = if council.is_empty() {
            self.council_threshold == 0
        } else {
            (1..=council.len()).contains(&(self.council_threshold as usize))
        };
        if !council_ok {
            return Err(SpecError::Invalid(
                "council_threshold must be between 1 and the number of council members (0 without a council)".into(),
            ));
        }
        let era_blocks = self.report_slot_blocks.saturating_mul(self.slots_per_era);
        let mut gov = crust_runtime::governance::GovParams::defaults(
            era_blocks,
            self.report_slot_blocks,
            match &self.proposal_deposit {
                Some(d) => parse_amount(d)?,
                None => 100 * crust_primitives::CRU,
            },
        );
        if let Some(v) = self.voting_period_blocks {
            gov.voting_period = v;
        }
        if let Some(d) = self.enactment_delay_blocks {
            gov.enactment_delay = d;
        }
        gov.check(&genesis.config)
            .map_err(|e| SpecError::Invalid(e.to_string()))?;
        let version = self.protocol_version.unwrap_or(1);
        if crust_runtime::system::rules(version).is_none() {
            return Err(SpecError::Invalid(format!(
                "protocol_version {version}: this binary speaks versions 1 to {}",
                crust_runtime::system::LATEST_PROTOCOL_VERSION
            )));
        }
        genesis.protocol_version = version;
        genesis = genesis
            .with_council(council, self.council_threshold)
            .with_governance(gov);
        for b in &self.balances {
            genesis = genesis.with_balance(parse_account(&b.account)?, parse_amount(&b.amount)?);
        }
        for v in &self.validators {
            genesis = genesis.with_validator(
                parse_account(&v.stash)?,
                parse_amount(&v.bond)?,
                parse_account(&v.session_key)?,
            );
        }
        genesis.staking_validator_count = self.validator_count;
        for c in &self.swork_codes {
            let code = crate::Hash::from_hex(&c.code).ok_or_else(|| {
                SpecError::Invalid(format!("sWork code '{}' is not 0x + 64 hex digits", c.code))
            })?;
            genesis = genesis.with_swork_code(code.0, c.expire_block);
        }
        let authorities = self
            .swork_authorities
            .iter()
            .map(|a| parse_account(a))
            .collect::<Result<Vec<_>, _>>()?;
        if !authorities.is_empty()
            && (self.swork_authority_threshold == 0
                || self.swork_authority_threshold as usize > authorities.len())
        {
            return Err(SpecError::Invalid(
                "swork_authority_threshold must be between 1 and the number of authorities".into(),
            ));
        }
        genesis = genesis
            .with_swork_authorities(authorities, self.swork_authority_threshold)
            .with_srd_counting_authorities(self.srd_counts_authority_attested);
        Ok(genesis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_specs_load_and_differ_in_timing() {
        let dev = ChainSpec::builtin("dev").unwrap();
        let local = ChainSpec::builtin("local").unwrap();
        let mainnet = ChainSpec::builtin("mainnet-like").unwrap();
        assert_eq!(dev.validators.len(), 1);
        assert_eq!(local.validators.len(), 4);
        assert_eq!(
            (
                mainnet.block_time_ms,
                mainnet.report_slot_blocks,
                mainnet.slots_per_era
            ),
            (6000, 600, 6)
        );
        assert_eq!(mainnet.file_duration_blocks, 2_592_000);
        // A full era of the local network passes in about a minute.
        let era_ms = local.block_time_ms * local.report_slot_blocks * local.slots_per_era;
        assert!((30_000..=90_000).contains(&era_ms), "{era_ms}");
        assert!(matches!(
            ChainSpec::builtin("nope"),
            Err(SpecError::UnknownBuiltin(_))
        ));
    }

    #[test]
    fn bad_specs_get_clear_errors() {
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["surprise"] = serde_json::json!(1);
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Json(_))
        ));
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["balances"][0]["amount"] = serde_json::json!("lots");
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Amount { .. })
        ));
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["sudo"] = serde_json::json!("not-an-address");
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Account { .. })
        ));
        // A council threshold it cannot reach, or one without a council.
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["council"] = serde_json::json!(["//Bob", "//Charlie"]);
        v["council_threshold"] = serde_json::json!(3);
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Invalid(_))
        ));
        v["council"] = serde_json::json!([]);
        v["council_threshold"] = serde_json::json!(1);
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Invalid(_))
        ));
        // A vote as long as the bonding duration would let voted stake move.
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["voting_period_blocks"] = serde_json::json!(1_000_000_000u64);
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Invalid(_))
        ));
        // The spec with a public network's parameters has no sudo key.
        assert_eq!(ChainSpec::builtin("mainnet-like").unwrap().sudo, None);
        assert!(
            ChainSpec::builtin("mainnet-like")
                .unwrap()
                .genesis()
                .unwrap()
                .config
                .sudo
                .is_none()
        );
        let mut v: serde_json::Value = serde_json::from_str(DEV).unwrap();
        v["validators"] = serde_json::json!([]);
        assert!(matches!(
            ChainSpec::from_json(&v.to_string()),
            Err(SpecError::Invalid(_))
        ));
    }

    #[test]
    fn dev_genesis_builds_a_state_with_the_committee() {
        let genesis = ChainSpec::builtin("dev").unwrap().genesis().unwrap();
        let state = genesis.build().unwrap();
        let committee = crust_runtime::staking::committee(&state, 0)
            .unwrap()
            .unwrap();
        assert_eq!(committee.len(), 1);
        assert_eq!(
            committee[0].session_key,
            Keypair::from_suri("//Alice//session").unwrap().public()
        );
    }
}
