//! Settlement, the pure part (`docs/settlement.md`): the amount a discounted settlement asks
//! for (the lender's limits by stage and dpd are policy: `arrears_policy::SettlementLimit`), the instalments of a discounted plan,
//! and whether an accepted settlement was paid or lapsed as of a date. No I/O and no clock.
//!
//! - Amount: `discount = round_half_even(outstanding × bps / 10000)`, rounded once, and
//!   `amount = outstanding − discount`, so `amount + discount == outstanding` exactly.
//! - Instalments: the amount in `n` parts a month apart from the first due date; each part is
//!   `amount / n`, the first `amount mod n` parts one minor unit more (the parts sum to the
//!   amount exactly and differ by at most one unit).
//! - Progress: the loan's payments received from the acceptance on, booked by the date and
//!   not reversed by its end, fill the instalments in order (`instalment_progress`, the same
//!   rule as a payment plan). The settlement is paid on the booking day the cumulative amount
//!   reaches the whole; it lapses the day after the first due date by which the cumulative
//!   amount due was not paid (no grace: a lender that wants one sets later due dates). Nothing
//!   is forgiven before it is paid.

use crate::promise::{PaymentMove, instalment_progress};
use arrears_domain::TimeZoneName;
use jiff::Timestamp;
use jiff::civil::Date;

/// A loan's balances by component (minor units, each at least 0): what a write-off forgives
/// and a settlement discounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Components {
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub fee_minor: i64,
    pub penalty_minor: i64,
}

impl Components {
    /// Their sum; `None` when it does not fit 64 bits (never wrapped).
    pub fn total(&self) -> Option<i64> {
        let t = i128::from(self.principal_minor)
            + i128::from(self.interest_minor)
            + i128::from(self.fee_minor)
            + i128::from(self.penalty_minor);
        i64::try_from(t).ok()
    }
}

/// `round_half_even(v × bps / 10000)` for `v >= 0`, `0 <= bps <= 10000`.
pub fn bps_of(v: i64, bps: u32) -> i64 {
    let rounded =
        crate::loan::round_half_even(i128::from(v.max(0)) * i128::from(bps.min(10_000)), 10_000);
    // Proven: 0 <= rounded <= v because bps <= 10000.
    i64::try_from(rounded).unwrap_or(v)
}

/// The discount and the amount of a settlement of `outstanding` at `discount_bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discounted {
    pub outstanding_minor: i64,
    pub discount_minor: i64,
    pub amount_minor: i64,
}

/// Discounts `outstanding` (see the module documentation).
pub fn discount(outstanding_minor: i64, discount_bps: u32) -> Discounted {
    let outstanding_minor = outstanding_minor.max(0);
    let discount_minor = bps_of(outstanding_minor, discount_bps);
    Discounted {
        outstanding_minor,
        discount_minor,
        amount_minor: outstanding_minor - discount_minor,
    }
}

/// The instalments of a settlement of `amount` in `n` monthly parts from `first_due` (see the
/// module documentation). `None` when `n` is 0 or a date falls off the calendar.
pub fn instalments(amount_minor: i64, n: u32, first_due: Date) -> Option<Vec<(Date, i64)>> {
    if n == 0 || amount_minor <= 0 {
        return None;
    }
    let n64 = i64::from(n);
    let (base, extra) = (amount_minor / n64, amount_minor % n64);
    (0..n)
        .map(|k| {
            let due = first_due
                .checked_add(jiff::Span::new().months(i64::from(k)))
                .ok()?;
            Some((due, base + i64::from(i64::from(k) < extra)))
        })
        .collect()
}

/// What became of an accepted settlement as of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementProgress {
    /// Neither paid nor lapsed yet; `paid_minor` counts towards it so far.
    Open { paid_minor: i64 },
    /// Paid in full; `on` is the booking day the whole amount was reached.
    Paid { on: Date },
    /// A due date passed with less paid than due by then; `on` is the day after it.
    Lapsed { on: Date, missed_seq: usize },
}

/// The progress of a settlement accepted at `accepted_at` with `schedule` (due date, amount,
/// in order) over the loan's payments, as of `as_of` (see the module documentation).
pub fn progress(
    accepted_at: Timestamp,
    schedule: &[(Date, i64)],
    payments: &[PaymentMove],
    as_of: Date,
    zone: &TimeZoneName,
) -> SettlementProgress {
    let filled = instalment_progress(accepted_at, schedule, payments, as_of, zone);
    // A part paid late lapses the settlement the day after its due date, which comes before
    // the day the whole is reached (parts fill in order), so lapsing is decided first.
    for (seq, ((due, _), f)) in schedule.iter().zip(&filled).enumerate() {
        let late = f.paid_on.is_none_or(|d| d > *due);
        if late && *due < as_of {
            return SettlementProgress::Lapsed {
                on: due.tomorrow().unwrap_or(*due),
                missed_seq: seq + 1,
            };
        }
    }
    if !filled.is_empty()
        && let Some(Some(on)) = filled.iter().map(|f| f.paid_on).max()
        && filled.iter().all(|f| f.paid_on.is_some())
    {
        return SettlementProgress::Paid { on };
    }
    SettlementProgress::Open {
        paid_minor: filled.iter().map(|f| f.paid_minor).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn utc() -> TimeZoneName {
        TimeZoneName::parse("tz", "UTC").unwrap()
    }

    fn pay(day: Date, amount: i64) -> PaymentMove {
        PaymentMove {
            received_at: day.at(12, 0, 0, 0).in_tz("UTC").unwrap().timestamp(),
            amount_minor: amount,
            reversed_at: None,
        }
    }

    #[test]
    fn the_discount_is_rounded_once_half_to_even() {
        // 12345 × 2500 / 10000 = 3086.25 → 3086; 10 × 5 / 10000 rounds to 0.
        assert_eq!(discount(12_345, 2_500).discount_minor, 3_086);
        assert_eq!(discount(12_345, 2_500).amount_minor, 9_259);
        // 2 × 2500 / 10000 = 0.5 → 0 (even); 6 × 2500 / 10000 = 1.5 → 2 (even).
        assert_eq!(discount(2, 2_500).discount_minor, 0);
        assert_eq!(discount(6, 2_500).discount_minor, 2);
        assert_eq!(discount(10, 5).discount_minor, 0);
    }

    #[test]
    fn a_settlement_is_paid_lapsed_or_open() {
        let accepted = date(2026, 3, 1)
            .at(9, 0, 0, 0)
            .in_tz("UTC")
            .unwrap()
            .timestamp();
        let sched = instalments(300, 3, date(2026, 3, 10)).unwrap();
        assert_eq!(
            sched,
            vec![
                (date(2026, 3, 10), 100),
                (date(2026, 4, 10), 100),
                (date(2026, 5, 10), 100)
            ]
        );
        let z = utc();
        // On time, in full: paid on the day the third part arrives.
        let p = [
            pay(date(2026, 3, 9), 100),
            pay(date(2026, 4, 10), 100),
            pay(date(2026, 5, 2), 100),
        ];
        assert_eq!(
            progress(accepted, &sched, &p, date(2026, 6, 1), &z),
            SettlementProgress::Paid {
                on: date(2026, 5, 2)
            }
        );
        assert_eq!(
            progress(accepted, &sched, &p, date(2026, 4, 20), &z),
            SettlementProgress::Open { paid_minor: 200 }
        );
        // The second part is short: it lapses the day after its due date.
        let short = [pay(date(2026, 3, 9), 100), pay(date(2026, 4, 10), 99)];
        assert_eq!(
            progress(accepted, &sched, &short, date(2026, 4, 11), &z),
            SettlementProgress::Lapsed {
                on: date(2026, 4, 11),
                missed_seq: 2
            }
        );
        // Not yet known on the due date itself.
        assert_eq!(
            progress(accepted, &sched, &short, date(2026, 4, 10), &z),
            SettlementProgress::Open { paid_minor: 199 }
        );
        // Paid in full but the second part a day late: lapsed all the same.
        let late = [pay(date(2026, 3, 9), 100), pay(date(2026, 4, 11), 200)];
        assert_eq!(
            progress(accepted, &sched, &late, date(2026, 6, 1), &z),
            SettlementProgress::Lapsed {
                on: date(2026, 4, 11),
                missed_seq: 2
            }
        );
        // A payment from before the acceptance does not count.
        let early = [pay(date(2026, 2, 28), 300)];
        assert!(matches!(
            progress(accepted, &sched, &early, date(2026, 3, 11), &z),
            SettlementProgress::Lapsed { missed_seq: 1, .. }
        ));
        // A reversed payment does not count.
        let mut rev = pay(date(2026, 3, 9), 300);
        rev.reversed_at = Some(
            date(2026, 3, 9)
                .at(18, 0, 0, 0)
                .in_tz("UTC")
                .unwrap()
                .timestamp(),
        );
        assert!(matches!(
            progress(accepted, &sched, &[rev], date(2026, 3, 11), &z),
            SettlementProgress::Lapsed { .. }
        ));
    }

    proptest! {
        #[test]
        fn amount_and_discount_make_the_outstanding(o in 0i64..1_000_000_000_000, bps in 0u32..=10_000) {
            let d = discount(o, bps);
            prop_assert_eq!(d.amount_minor + d.discount_minor, o);
            prop_assert!(d.discount_minor >= 0 && d.amount_minor >= 0);
            // Within half a unit of the exact discount.
            let exact2 = 2 * i128::from(o) * i128::from(bps);
            let got2 = 2 * 10_000 * i128::from(d.discount_minor);
            prop_assert!((exact2 - got2).abs() <= 10_000);
        }

        #[test]
        fn instalments_sum_to_the_amount_and_differ_by_at_most_one(a in 1i64..1_000_000_000, n in 1u32..36) {
            let s = instalments(a, n, date(2026, 1, 31)).unwrap();
            prop_assert_eq!(s.len(), n as usize);
            prop_assert_eq!(s.iter().map(|x| x.1).sum::<i64>(), a);
            let (lo, hi) = (s.iter().map(|x| x.1).min().unwrap(), s.iter().map(|x| x.1).max().unwrap());
            prop_assert!(hi - lo <= 1);
            prop_assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
