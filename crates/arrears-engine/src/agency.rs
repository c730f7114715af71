//! Agency commission, the pure part (`docs/agency.md`): what an agency recovered on a
//! placement in a period, and its commission on that, in integer minor units. No I/O and no
//! clock: the payments, the placement's window and the period are arguments.
//!
//! - Recovered: the loan's payments received while the placement was live (from `placed_at`,
//!   before `recalled_at`) and inside the period `[from, to)`, less the reversals received
//!   inside the same window and period of payments that themselves counted. A reversal in a
//!   later period claws the amount back there, so a period's recovered amount may be negative.
//! - Commission: `round_half_even(recovered × bps / 10000)`, rounded once per placement and
//!   period; a negative recovered amount gives the same commission negated (a clawback). A
//!   statement's total is the sum of the rounded lines, never rounded again.

use jiff::Timestamp;

/// A commission rate in basis points of the recovered amount, `0 ..= 10_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommissionBps(u16);

impl CommissionBps {
    pub const MAX: u16 = 10_000;

    pub fn new(v: i64) -> Result<CommissionBps, String> {
        match u16::try_from(v) {
            Ok(b) if b <= CommissionBps::MAX => Ok(CommissionBps(b)),
            _ => Err(format!(
                "{v} is not a commission between 0 and {} basis points",
                CommissionBps::MAX
            )),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// The commission on `recovered_minor` at `bps`: `recovered × bps / 10000` rounded half to
/// even, in i128 so no product wraps. Odd in `recovered`: `commission(−r) == −commission(r)`.
pub fn commission(recovered_minor: i64, bps: CommissionBps) -> i64 {
    let negative = recovered_minor < 0;
    let rounded = crate::loan::round_half_even(
        i128::from(recovered_minor).abs() * i128::from(bps.get()),
        10_000,
    );
    // |rounded| <= |recovered| because bps <= 10000, so it fits in i64.
    let c = i64::try_from(rounded).unwrap_or(i64::MAX);
    if negative { -c } else { c }
}

/// A payment of the placed loan as the lender's books hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanMoney {
    pub payment_id: String,
    pub received_at: Timestamp,
    pub amount_minor: i64,
    /// For a reversal: the payment it cancels.
    pub reverses: Option<String>,
}

/// The live window of a placement: from `placed_at`, before `recalled_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub placed_at: Timestamp,
    pub recalled_at: Option<Timestamp>,
}

impl Window {
    /// Whether the placement is live at `at` (a recall ends it at its own instant).
    pub fn live_at(&self, at: Timestamp) -> bool {
        self.placed_at <= at && self.recalled_at.is_none_or(|r| at < r)
    }
}

/// What a placement recovered in `[from, to)`: counted payments less their reversals (see
/// the module docs), and how many payments and reversals counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    pub recovered_minor: i64,
    pub payments: u32,
    pub reversals: u32,
}

/// The amount a placement recovered in the period `[from, to)`.
pub fn recovered(money: &[LoanMoney], w: Window, from: Timestamp, to: Timestamp) -> Recovered {
    let inside = |t: Timestamp| w.live_at(t) && from <= t && t < to;
    // A payment counts towards the agency only when received while the placement was live.
    let credited = |id: &str| {
        money
            .iter()
            .any(|m| m.reverses.is_none() && m.payment_id == id && w.live_at(m.received_at))
    };
    let mut out = Recovered::default();
    for m in money {
        if !inside(m.received_at) {
            continue;
        }
        match &m.reverses {
            None => {
                out.recovered_minor = out.recovered_minor.saturating_add(m.amount_minor);
                out.payments += 1;
            }
            Some(original) if credited(original) => {
                out.recovered_minor = out.recovered_minor.saturating_sub(m.amount_minor);
                out.reversals += 1;
            }
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bps(v: i64) -> CommissionBps {
        CommissionBps::new(v).unwrap()
    }

    #[test]
    fn commission_rounds_half_to_even_once() {
        // (recovered, bps, commission)
        let cases = [
            (10_000, 1_500, 1_500),
            (1, 5_000, 0),    // 0.5 -> 0 (even)
            (3, 5_000, 2),    // 1.5 -> 2 (even)
            (5, 5_000, 2),    // 2.5 -> 2 (even)
            (7, 5_000, 4),    // 3.5 -> 4
            (1, 5_001, 1),    // 0.5001 -> 1
            (333, 1_000, 33), // 33.3
            (335, 1_000, 34), // 33.5 -> 34 (even)
            (345, 1_000, 34), // 34.5 -> 34 (even)
            (0, 2_000, 0),
            (-5, 5_000, -2),
            (i64::MAX, 10_000, i64::MAX),
            (i64::MIN + 1, 10_000, i64::MIN + 1),
        ];
        for (r, b, c) in cases {
            assert_eq!(commission(r, bps(b)), c, "{r} at {b}");
        }
        assert!(CommissionBps::new(10_001).is_err());
        assert!(CommissionBps::new(-1).is_err());
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn pay(id: &str, at: &str, amount: i64, reverses: Option<&str>) -> LoanMoney {
        LoanMoney {
            payment_id: id.into(),
            received_at: ts(at),
            amount_minor: amount,
            reverses: reverses.map(str::to_owned),
        }
    }

    #[test]
    fn recovered_counts_payments_while_live_and_in_the_period() {
        let w = Window {
            placed_at: ts("2026-11-01T00:00:00Z"),
            recalled_at: Some(ts("2026-11-20T00:00:00Z")),
        };
        let money = [
            pay("before", "2026-10-31T23:59:59Z", 100, None),
            pay("p1", "2026-11-01T00:00:00Z", 1_000, None),
            pay("p2", "2026-11-10T00:00:00Z", 500, None),
            pay("r2", "2026-11-12T00:00:00Z", 500, Some("p2")),
            pay("rb", "2026-11-12T00:00:00Z", 100, Some("before")),
            pay("at-recall", "2026-11-20T00:00:00Z", 700, None),
        ];
        let all = recovered(
            &money,
            w,
            ts("2026-01-01T00:00:00Z"),
            ts("2027-01-01T00:00:00Z"),
        );
        assert_eq!(
            all,
            Recovered {
                recovered_minor: 1_000,
                payments: 2,
                reversals: 1
            }
        );
        // The period [Nov 5, Nov 11): p2 only; its reversal is in the next period.
        let first = recovered(
            &money,
            w,
            ts("2026-11-05T00:00:00Z"),
            ts("2026-11-11T00:00:00Z"),
        );
        assert_eq!(first.recovered_minor, 500);
        let next = recovered(
            &money,
            w,
            ts("2026-11-11T00:00:00Z"),
            ts("2026-12-01T00:00:00Z"),
        );
        assert_eq!(next.recovered_minor, -500, "a clawback");
        assert!(!w.live_at(ts("2026-11-20T00:00:00Z")));
        assert!(w.live_at(ts("2026-11-19T23:59:59.999999Z")));
    }

    proptest! {
        #[test]
        fn commission_is_within_half_a_unit_of_the_exact_share(r in -10_i64.pow(15)..10_i64.pow(15), b in 0_i64..=10_000) {
            let c = commission(r, bps(b));
            // |c·10000 − r·b| <= 5000, i.e. within half a minor unit.
            let err = i128::from(c) * 10_000 - i128::from(r) * i128::from(b);
            prop_assert!(err.abs() <= 5_000);
            prop_assert_eq!(commission(-r, bps(b)), -c);
            if r >= 0 {
                prop_assert!(0 <= c && c <= r);
            }
        }

        #[test]
        fn commission_is_monotone_in_the_amount_and_the_rate(r in 0_i64..10_i64.pow(12), d in 0_i64..10_000, b in 0_i64..10_000) {
            prop_assert!(commission(r, bps(b)) <= commission(r + d, bps(b)));
            prop_assert!(commission(r, bps(b)) <= commission(r, bps(b + 1)));
            prop_assert_eq!(commission(r, bps(10_000)), r);
            prop_assert_eq!(commission(r, bps(0)), 0);
        }

        #[test]
        fn periods_add_up_to_the_whole(cuts in proptest::collection::vec(0_i64..40, 1..5), amounts in proptest::collection::vec(1_i64..10_000, 1..12)) {
            let base = ts("2026-11-01T00:00:00Z");
            let day = |n: i64| base.checked_add(jiff::SignedDuration::from_hours(24 * n)).unwrap();
            let money: Vec<LoanMoney> = amounts.iter().enumerate().map(|(i, a)| {
                let n = i64::try_from(i).unwrap();
                pay(&format!("p{i}"), &day(n * 3).to_string(), *a, None)
            }).collect();
            let w = Window { placed_at: day(2), recalled_at: Some(day(30)) };
            let mut edges: Vec<i64> = cuts.clone();
            edges.push(0);
            edges.push(40);
            edges.sort_unstable();
            edges.dedup();
            let whole = recovered(&money, w, day(0), day(40)).recovered_minor;
            let parts: i64 = edges.windows(2).map(|e| recovered(&money, w, day(e[0]), day(e[1])).recovered_minor).sum();
            prop_assert_eq!(whole, parts);
        }
    }
}
