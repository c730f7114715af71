//! Rates as a count over a count, printed as a percentage with exactly two decimals.
//!
//! The rounding is half to even on the hundredths of a percent, done with integer arithmetic
//! (`u128`, so no product of two `u64` counts can overflow): 1/3 prints `33.33`, 1/8 `12.50`,
//! 1/16 (6.25 exactly) `6.25`, 1/32 (3.125, a tie) `3.12`, 3/32 (9.375) `9.38`. A rate over zero
//! loans has no value and prints as an empty cell.

use std::fmt;

/// `num` of `den`, e.g. cured loans of the loans delinquent at the start of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pct {
    pub num: u64,
    pub den: u64,
}

impl Pct {
    pub fn new(num: u64, den: u64) -> Self {
        Pct { num, den }
    }

    /// The rate in hundredths of a percent (basis points), rounded half to even; `None` when
    /// `den` is 0.
    pub fn hundredths(self) -> Option<u128> {
        if self.den == 0 {
            return None;
        }
        let scaled = u128::from(self.num) * 10_000;
        let den = u128::from(self.den);
        let quotient = scaled / den;
        let remainder = scaled % den;
        // Compare 2·remainder with den rather than remainder with den/2, so odd denominators
        // are exact: above half rounds up, a tie rounds to the even neighbour.
        let round_up = match (remainder * 2).cmp(&den) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => quotient % 2 == 1,
            std::cmp::Ordering::Less => false,
        };
        Some(quotient + u128::from(round_up))
    }
}

/// `33.33`, `100.00`, or nothing when there is no denominator.
impl fmt::Display for Pct {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hundredths() {
            Some(h) => write!(f, "{}.{:02}", h / 100, h % 100),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pct;

    fn show(num: u64, den: u64) -> String {
        Pct::new(num, den).to_string()
    }

    #[test]
    fn two_decimals() {
        assert_eq!(show(1, 3), "33.33"); // 3333.33… → 3333
        assert_eq!(show(2, 3), "66.67"); // 6666.66… → 6667
        assert_eq!(show(1, 8), "12.50"); // exactly 1250
        assert_eq!(show(0, 5), "0.00");
        assert_eq!(show(5, 5), "100.00");
        assert_eq!(show(7, 1), "700.00");
        assert_eq!(show(1, 7), "14.29"); // 1428.57… → 1429
    }

    #[test]
    fn no_denominator_is_an_empty_cell() {
        assert_eq!(show(0, 0), "");
        assert_eq!(Pct::new(0, 0).hundredths(), None);
    }

    #[test]
    fn ties_round_to_even() {
        // 1/16 = 6.25 % exactly: no tie at two decimals.
        assert_eq!(show(1, 16), "6.25");
        // 1/32 = 3.125 %: 312.5 hundredths, a tie; 312 is even → 3.12 (half-up would say 3.13).
        assert_eq!(show(1, 32), "3.12");
        // 3/32 = 9.375 %: 937.5, a tie; 937 is odd → 938 → 9.38.
        assert_eq!(show(3, 32), "9.38");
        // 1/160 = 0.625 %: 62.5 → 62 (even) → 0.62.
        assert_eq!(show(1, 160), "0.62");
        // 3/160 = 1.875 %: 187.5 → 188 → 1.88.
        assert_eq!(show(3, 160), "1.88");
        // 1/20000 = 0.005 %: 0.5 hundredths → 0 (even) → 0.00.
        assert_eq!(show(1, 20_000), "0.00");
        // 3/20000 = 0.015 %: 1.5 → 2 → 0.02.
        assert_eq!(show(3, 20_000), "0.02");
        // Just above a tie rounds up: 1/19999 = 0.0050002… % → 0.50002… hundredths → 0.01.
        assert_eq!(show(1, 19_999), "0.01");
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        assert_eq!(show(u64::MAX, u64::MAX), "100.00");
        assert_eq!(show(u64::MAX / 3, u64::MAX), "33.33");
    }
}
