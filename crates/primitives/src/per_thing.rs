//! Fixed-point ratios in `[0, 1]` with the reference network's arithmetic.
//!
//! The reference runtime uses Substrate's `sp-arithmetic` 3.0. Its worked examples depend on two
//! rules that this module reproduces exactly (decision D4):
//!
//! - `ratio * n` rounds to the nearest integer, an exact half rounding **down**
//!   (0.138888888 × 23 220 = 3 224.99… → 3 225, while 5% × 950 = 47.5 → 47);
//! - `from_rational_approximation(p, q)` clamps `q ≥ 1` and `p ≤ q`, divides both by
//!   `⌈q / ACCURACY⌉`, then takes `⌊p′ · ACCURACY / q′⌋` (`docs/reference.md` G4.6).

use crate::codec::{Buf, BufMut, Error, FixedSize, Read, Write};
use serde::{Deserialize, Serialize};

macro_rules! per_thing {
    ($name:ident, $accuracy:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(
            Clone,
            Copy,
            Debug,
            Default,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(u32);

        impl $name {
            /// Parts per one: the value that represents 100%.
            pub const ACCURACY: u32 = $accuracy;

            /// The ratio `parts / ACCURACY`, saturating at one.
            pub const fn from_parts(parts: u32) -> Self {
                if parts > Self::ACCURACY {
                    Self(Self::ACCURACY)
                } else {
                    Self(parts)
                }
            }

            /// `percent`%, saturating at 100%.
            pub const fn from_percent(percent: u32) -> Self {
                let percent = if percent > 100 { 100 } else { percent };
                Self(percent * (Self::ACCURACY / 100))
            }

            /// Zero.
            pub const fn zero() -> Self {
                Self(0)
            }

            /// One (100%).
            pub const fn one() -> Self {
                Self(Self::ACCURACY)
            }

            /// The raw parts per `ACCURACY`.
            pub const fn deconstruct(self) -> u32 {
                self.0
            }

            /// Whether this is exactly zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// `p / q` by the reference's approximation (see the module docs); `q = 0` is
            /// treated as 1 and `p > q` saturates at one.
            pub fn from_rational_approximation(p: u128, q: u128) -> Self {
                let q = q.max(1);
                let p = p.min(q);
                let accuracy = u128::from(Self::ACCURACY);
                let factor = q.div_ceil(accuracy).max(1);
                let p = p / factor;
                let q = (q / factor).max(1);
                // p ≤ q ≤ ACCURACY here, so the product cannot overflow.
                let parts = p * accuracy / q;
                Self::from_parts(u32::try_from(parts).unwrap_or(Self::ACCURACY))
            }

            /// `self × n`, rounded to the nearest integer with an exact half rounded down.
            pub fn mul_nearest(self, n: u128) -> u128 {
                self.mul_rounded(n, Rounding::NearestHalfDown)
            }

            /// `self × n`, rounded down.
            pub fn mul_floor(self, n: u128) -> u128 {
                self.mul_rounded(n, Rounding::Down)
            }

            /// `self × n`, rounded up.
            pub fn mul_ceil(self, n: u128) -> u128 {
                self.mul_rounded(n, Rounding::Up)
            }

            /// `self × n` for 64-bit quantities (sizes, counts), rounded like [`Self::mul_nearest`].
            pub fn mul_u64(self, n: u64) -> u64 {
                // The product never exceeds n, so it fits back into u64.
                u64::try_from(self.mul_nearest(u128::from(n))).unwrap_or(n)
            }

            fn mul_rounded(self, n: u128, rounding: Rounding) -> u128 {
                let accuracy = u128::from(Self::ACCURACY);
                let parts = u128::from(self.0);
                // Split n so that no intermediate product overflows: (q·acc + r)·p / acc.
                let whole = (n / accuracy) * parts;
                let numerator = (n % accuracy) * parts;
                let fraction = numerator / accuracy;
                let remainder = numerator % accuracy;
                let round_up = match rounding {
                    Rounding::Down => false,
                    Rounding::Up => remainder > 0,
                    Rounding::NearestHalfDown => remainder * 2 > accuracy,
                };
                whole + fraction + u128::from(round_up)
            }

            /// `1 - self`.
            pub const fn complement(self) -> Self {
                Self(Self::ACCURACY - self.0)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let scale = Self::ACCURACY / 100;
                let whole = self.0 / scale;
                let frac = self.0 % scale;
                if frac == 0 {
                    write!(f, "{whole}%")
                } else {
                    let digits = scale.ilog10() as usize;
                    let s = format!("{frac:0digits$}");
                    write!(f, "{whole}.{}%", s.trim_end_matches('0'))
                }
            }
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.write(buf);
            }
        }

        impl FixedSize for $name {
            const SIZE: usize = u32::SIZE;
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
                let parts = u32::read_cfg(buf, &())?;
                if parts > Self::ACCURACY {
                    return Err(Error::Invalid(stringify!($name), "parts exceed accuracy"));
                }
                Ok(Self(parts))
            }
        }
    };
}

#[derive(Clone, Copy)]
enum Rounding {
    Down,
    Up,
    NearestHalfDown,
}

per_thing!(
    Perbill,
    1_000_000_000,
    "Parts per billion: a ratio with nine decimal digits of precision (Substrate `Perbill`)."
);
per_thing!(
    Permill,
    1_000_000,
    "Parts per million: a ratio with six decimal digits of precision (Substrate `Permill`)."
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn multiply_rounds_to_nearest_with_half_down() {
        // docs/reference.md M0 rounding: 0.138888888 × 23 220 → 3 225; 5% × 950 = 47.5 → 47.
        assert_eq!(Perbill::from_parts(138_888_888).mul_nearest(23_220), 3_225);
        assert_eq!(Perbill::from_percent(5).mul_nearest(950), 47);
        assert_eq!(Perbill::from_percent(5).mul_nearest(1_300), 65);
        assert_eq!(Perbill::from_percent(1).mul_nearest(40), 0);
        assert_eq!(Perbill::from_percent(72).mul_nearest(2_000), 1_440);
        assert_eq!(Perbill::from_percent(18).mul_nearest(129_000), 23_220);
    }

    #[test]
    fn replica_reward_ratios_pay_two_and_a_half_percent_each() {
        // docs/reference.md M5.2: 23 220 → 3 225 each → 19 995 → 16 770 → 13 545 → 10 320.
        let ratios = [138_888_888, 161_290_320, 192_307_690, 238_095_240];
        let mut amount = 23_220u128;
        let mut left = vec![];
        for parts in ratios {
            let reward = Perbill::from_parts(parts).mul_nearest(amount);
            assert_eq!(reward, 3_225);
            amount -= reward;
            left.push(amount);
        }
        assert_eq!(left, vec![19_995, 16_770, 13_545, 10_320]);
    }

    #[test]
    fn rational_approximation_follows_reference() {
        assert_eq!(
            Perbill::from_rational_approximation(1, 3),
            Perbill::from_parts(333_333_333)
        );
        assert_eq!(Perbill::from_rational_approximation(5, 0), Perbill::one());
        assert_eq!(Perbill::from_rational_approximation(7, 5), Perbill::one());
        assert_eq!(
            Permill::from_rational_approximation(1, 2),
            Permill::from_parts(500_000)
        );
        // Large operands: both sides are divided by ⌈q / ACCURACY⌉ before dividing.
        let q = 3 * u128::from(Perbill::ACCURACY) + 1; // factor 4
        let p = q / 2;
        let expected = (p / 4) * 1_000_000_000 / (q / 4);
        assert_eq!(
            Perbill::from_rational_approximation(p, q).deconstruct() as u128,
            expected
        );
    }

    #[test]
    fn rational_approximation_can_exceed_the_exact_floor_by_a_part() {
        // Found by the property test (seed saved in CI): both terms are scaled down by
        // ⌈q / ACCURACY⌉ and floored, which here rounds the ratio up by one part, as the
        // reference's algorithm does.
        let (p, q) = (150_130_898_618_815_340u128, 224_618_760_327_872_036u128);
        assert_eq!(p * 1_000_000_000 / q, 668_380_941);
        assert_eq!(
            Perbill::from_rational_approximation(p, q).deconstruct(),
            668_380_942
        );
    }

    #[test]
    fn display_is_human() {
        assert_eq!(Perbill::from_percent(72).to_string(), "72%");
        assert_eq!(Perbill::from_parts(3_300_000).to_string(), "0.33%");
        assert_eq!(Permill::from_parts(1).to_string(), "0.0001%");
    }

    #[test]
    fn decoding_rejects_parts_above_one() {
        use crate::codec::{DecodeExt, Encode};
        let too_big = (Perbill::ACCURACY + 1).encode();
        assert!(Perbill::decode(too_big).is_err());
        let ok = Perbill::from_percent(18).encode();
        assert_eq!(Perbill::decode(ok).ok(), Some(Perbill::from_percent(18)));
    }

    proptest! {
        #[test]
        fn mul_matches_exact_rational_rounding(parts in 0u32..=1_000_000_000, n in any::<u128>()) {
            let r = Perbill::from_parts(parts);
            let got = r.mul_nearest(n);
            let floor = r.mul_floor(n);
            let ceil = r.mul_ceil(n);
            prop_assert!(floor <= got && got <= ceil);
            prop_assert!(ceil - floor <= 1);
            prop_assert!(got <= n);
            // Compare against a wide computation when it fits.
            if let Some(prod) = n.checked_mul(u128::from(parts)) {
                let acc = u128::from(Perbill::ACCURACY);
                let (q, rem) = (prod / acc, prod % acc);
                let expect = if rem * 2 > acc { q + 1 } else { q };
                prop_assert_eq!(got, expect);
                prop_assert_eq!(floor, q);
            }
        }

        #[test]
        fn rational_approximation_is_within_one_ppm(p in any::<u64>(), q in 1u64..) {
            // Scaling p and q down first (as the reference does) can land on either side of
            // the exact ratio's floor, by a few parts at most.
            let (p, q) = (u128::from(p.min(q)), u128::from(q));
            let got = u128::from(Perbill::from_rational_approximation(p, q).deconstruct());
            let exact_floor = p * 1_000_000_000 / q;
            prop_assert!(got.abs_diff(exact_floor) <= 1_000);
        }

        #[test]
        fn complement_sums_to_one(parts in 0u32..=1_000_000_000) {
            let r = Perbill::from_parts(parts);
            prop_assert_eq!(r.deconstruct() + r.complement().deconstruct(), Perbill::ACCURACY);
        }
    }
}
