//! Balances: `u128` counts of the smallest unit, 12 decimals per CRU.

use std::fmt;

/// An amount of the smallest unit. 1 CRU = 10^12 units.
pub type Balance = u128;

/// One CRU in units.
pub const CRU: Balance = crate::constants::UNITS_PER_CRU;

const DECIMALS: usize = 12;

/// Formats a balance for people: `Cru(1_500_000_000_000)` prints `1.5 CRU`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cru(pub Balance);

impl fmt::Display for Cru {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / CRU;
        let frac = self.0 % CRU;
        if frac == 0 {
            write!(f, "{whole} CRU")
        } else {
            let digits = format!("{frac:0DECIMALS$}");
            write!(f, "{whole}.{} CRU", digits.trim_end_matches('0'))
        }
    }
}

/// Why a balance string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseBalanceError {
    /// Empty input.
    #[error("empty amount")]
    Empty,
    /// Not a decimal number (optionally followed by `CRU` or `units`).
    #[error("'{0}' is not an amount; write e.g. '1.5 CRU' or '1500000000000 units'")]
    NotANumber(String),
    /// More than 12 decimal places: smaller than one unit.
    #[error("too many decimal places: CRU has 12")]
    TooPrecise,
    /// Larger than the largest representable balance.
    #[error("amount is too large")]
    Overflow,
}

/// Parses `"1.5 CRU"`, `"1.5cru"`, `"1.5"` (CRU implied) or `"1500 units"`.
pub fn parse_balance(input: &str) -> Result<Balance, ParseBalanceError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ParseBalanceError::Empty);
    }
    let lower = s.to_ascii_lowercase();
    if let Some(number) = lower
        .strip_suffix("units")
        .or_else(|| lower.strip_suffix("unit"))
    {
        let number = number.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseBalanceError::NotANumber(s.to_string()));
        }
        return number
            .parse::<Balance>()
            .map_err(|_| ParseBalanceError::Overflow);
    }
    let number = lower.strip_suffix("cru").unwrap_or(&lower).trim();
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits_ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits_ok(whole) || !digits_ok(frac) {
        return Err(ParseBalanceError::NotANumber(s.to_string()));
    }
    if frac.len() > DECIMALS {
        return Err(ParseBalanceError::TooPrecise);
    }
    let whole: Balance = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| ParseBalanceError::Overflow)?
    };
    let frac_units: Balance = if frac.is_empty() {
        0
    } else {
        let padded = format!("{frac:0<DECIMALS$}");
        padded
            .parse()
            .map_err(|_| ParseBalanceError::NotANumber(s.to_string()))?
    };
    whole
        .checked_mul(CRU)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or(ParseBalanceError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_people_write_amounts() {
        assert_eq!(Cru(1_500_000_000_000).to_string(), "1.5 CRU");
        assert_eq!(Cru(0).to_string(), "0 CRU");
        assert_eq!(Cru(1).to_string(), "0.000000000001 CRU");
        assert_eq!(Cru(42 * CRU).to_string(), "42 CRU");
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_balance("1.5 CRU"), Ok(1_500_000_000_000));
        assert_eq!(parse_balance("1.5cru"), Ok(1_500_000_000_000));
        assert_eq!(parse_balance("2"), Ok(2 * CRU));
        assert_eq!(parse_balance(".25"), Ok(CRU / 4));
        assert_eq!(parse_balance("100 units"), Ok(100));
        assert_eq!(parse_balance(""), Err(ParseBalanceError::Empty));
        assert_eq!(
            parse_balance("0.0000000000001"),
            Err(ParseBalanceError::TooPrecise)
        );
        assert!(matches!(
            parse_balance("1,5"),
            Err(ParseBalanceError::NotANumber(_))
        ));
        assert!(matches!(
            parse_balance("-1"),
            Err(ParseBalanceError::NotANumber(_))
        ));
        assert_eq!(
            parse_balance("999999999999999999999999999999 CRU"),
            Err(ParseBalanceError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(amount in any::<u128>()) {
            prop_assert_eq!(parse_balance(&Cru(amount).to_string()), Ok(amount));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,48}") {
            let _ = parse_balance(&s);
        }
    }
}
