//! Whether a promise to pay was kept, as of a business date: a pure function of the promise,
//! the loan's payments (with the instant each was reversed, if it was) and the date.
//!
//! A payment counts towards a promise when it was received at or after the promise was made
//! and booked (in the business zone) on or before the due date and on or before `as_of`, and
//! it was not reversed by the end of the earlier of the due date and `as_of`. The promise is
//! kept on the first booking day when what counts reaches its amount; it is broken the day
//! after its due date when that never happened; otherwise it is pending. These are the rules
//! `arrears_strategy::promise_status` applies to a loan's latest promise for the planner.

use arrears_domain::TimeZoneName;
use jiff::Timestamp;
use jiff::civil::Date;

/// The terms of a promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromiseTerms {
    pub created_at: Timestamp,
    pub amount_minor: i64,
    pub due_date: Date,
}

/// A payment of the loan and, if a reversal cancelled it, when that reversal was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentMove {
    pub received_at: Timestamp,
    pub amount_minor: i64,
    pub reversed_at: Option<Timestamp>,
}

/// What became of a promise as of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromiseOutcome {
    /// Not yet due and not yet paid.
    Pending,
    /// Paid in full by its due date; `on` is the booking day the amount was reached.
    Kept { on: Date },
    /// Its due date passed without full payment; `on` is the day after the due date.
    Broken { on: Date },
}

impl PromiseOutcome {
    /// `pending`, `kept` or `broken` (the words of `arrears_strategy::PromiseStatus`).
    pub fn code(self) -> &'static str {
        match self {
            PromiseOutcome::Pending => "pending",
            PromiseOutcome::Kept { .. } => "kept",
            PromiseOutcome::Broken { .. } => "broken",
        }
    }
}

/// The promise's outcome as of `as_of` (see the module documentation).
pub fn promise_outcome(
    promise: &PromiseTerms,
    payments: &[PaymentMove],
    as_of: Date,
    zone: &TimeZoneName,
) -> PromiseOutcome {
    let horizon = promise.due_date.min(as_of);
    let mut counted: Vec<(Date, i128)> = payments
        .iter()
        .filter_map(|p| {
            let day = zone.date_of(p.received_at);
            let stands = p.reversed_at.is_none_or(|r| zone.date_of(r) > horizon);
            (p.received_at >= promise.created_at && day <= horizon && stands && p.amount_minor > 0)
                .then_some((day, i128::from(p.amount_minor)))
        })
        .collect();
    counted.sort_unstable();
    let target = i128::from(promise.amount_minor);
    let mut paid: i128 = 0;
    for (day, amount) in counted {
        paid += amount;
        if paid >= target {
            return PromiseOutcome::Kept { on: day };
        }
    }
    if promise.due_date < as_of {
        PromiseOutcome::Broken {
            on: promise.due_date.tomorrow().unwrap_or(promise.due_date),
        }
    } else {
        PromiseOutcome::Pending
    }
}

/// One instalment of a payment plan, as of a date: what the plan's payments put towards it
/// and the booking day it was paid in full, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalmentProgress {
    pub paid_minor: i64,
    pub paid_on: Option<Date>,
}

/// A payment plan's instalments (due date, amount, in order) as of `as_of`: the payments of
/// the loan received from the plan's creation on, booked by `as_of` and not reversed by its
/// end, fill the instalments in order, the earliest first (a payment larger than an
/// instalment runs on into the next).
pub fn instalment_progress(
    created_at: Timestamp,
    instalments: &[(Date, i64)],
    payments: &[PaymentMove],
    as_of: Date,
    zone: &TimeZoneName,
) -> Vec<InstalmentProgress> {
    let mut counted: Vec<(Date, i128)> = payments
        .iter()
        .filter_map(|p| {
            let day = zone.date_of(p.received_at);
            let stands = p.reversed_at.is_none_or(|r| zone.date_of(r) > as_of);
            (p.received_at >= created_at && day <= as_of && stands && p.amount_minor > 0)
                .then_some((day, i128::from(p.amount_minor)))
        })
        .collect();
    counted.sort_unstable();
    let total: i128 = counted.iter().map(|c| c.1).sum();
    let mut out = Vec::with_capacity(instalments.len());
    let mut before: i128 = 0;
    for &(_, amount) in instalments {
        let amount = i128::from(amount.max(0));
        let upto = before + amount;
        let towards = (total - before).clamp(0, amount);
        let paid_on = if amount > 0 && total >= upto {
            let mut run: i128 = 0;
            counted.iter().find_map(|&(d, a)| {
                run += a;
                (run >= upto).then_some(d)
            })
        } else {
            None
        };
        out.push(InstalmentProgress {
            paid_minor: i64::try_from(towards).unwrap_or(i64::MAX),
            paid_on,
        });
        before = upto;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn utc() -> TimeZoneName {
        TimeZoneName::utc()
    }

    fn at(d: Date, h: i8) -> Timestamp {
        d.at(h, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn promise() -> PromiseTerms {
        PromiseTerms {
            created_at: at(date(2026, 11, 10), 12),
            amount_minor: 5000,
            due_date: date(2026, 11, 20),
        }
    }

    fn pay(d: Date, amount: i64) -> PaymentMove {
        PaymentMove {
            received_at: at(d, 15),
            amount_minor: amount,
            reversed_at: None,
        }
    }

    #[test]
    fn pending_until_due_then_broken() {
        let p = promise();
        assert_eq!(
            promise_outcome(&p, &[], date(2026, 11, 20), &utc()),
            PromiseOutcome::Pending
        );
        assert_eq!(
            promise_outcome(&p, &[], date(2026, 11, 21), &utc()),
            PromiseOutcome::Broken {
                on: date(2026, 11, 21)
            }
        );
    }

    #[test]
    fn kept_on_the_day_the_amount_is_reached() {
        let p = promise();
        let pays = [pay(date(2026, 11, 12), 2000), pay(date(2026, 11, 15), 3000)];
        assert_eq!(
            promise_outcome(&p, &pays, date(2026, 11, 30), &utc()),
            PromiseOutcome::Kept {
                on: date(2026, 11, 15)
            }
        );
        // As of the 13th only 2000 has arrived.
        assert_eq!(
            promise_outcome(&p, &pays, date(2026, 11, 13), &utc()),
            PromiseOutcome::Pending
        );
    }

    #[test]
    fn payments_before_the_promise_or_after_its_due_date_do_not_count() {
        let p = promise();
        let pays = [pay(date(2026, 11, 9), 5000), pay(date(2026, 11, 21), 5000)];
        assert_eq!(
            promise_outcome(&p, &pays, date(2026, 11, 30), &utc()).code(),
            "broken"
        );
    }

    #[test]
    fn a_reversal_by_the_due_date_cancels_a_payment() {
        let p = promise();
        let mut pays = [pay(date(2026, 11, 12), 5000)];
        pays[0].reversed_at = Some(at(date(2026, 11, 14), 9));
        assert_eq!(
            promise_outcome(&p, &pays, date(2026, 11, 30), &utc()).code(),
            "broken"
        );
        // A reversal after the due date does not unmake a kept promise.
        pays[0].reversed_at = Some(at(date(2026, 11, 25), 9));
        assert_eq!(
            promise_outcome(&p, &pays, date(2026, 11, 30), &utc()).code(),
            "kept"
        );
    }

    fn arb_payments() -> impl Strategy<Value = Vec<PaymentMove>> {
        proptest::collection::vec((0i32..30, 1i64..4000, proptest::option::of(0i32..30)), 0..8)
            .prop_map(|v| {
                v.into_iter()
                    .map(|(d, a, r)| {
                        let base = date(2026, 11, 1);
                        let day = base.checked_add(jiff::Span::new().days(d)).unwrap_or(base);
                        PaymentMove {
                            received_at: at(day, 10),
                            amount_minor: a,
                            reversed_at: r.map(|r| {
                                at(
                                    day.checked_add(jiff::Span::new().days(r)).unwrap_or(day),
                                    11,
                                )
                            }),
                        }
                    })
                    .collect()
            })
    }

    #[test]
    fn instalments_fill_in_order() {
        let created = at(date(2026, 11, 10), 12);
        let plan = [(date(2026, 11, 20), 3000), (date(2026, 12, 20), 3000)];
        let pays = [pay(date(2026, 11, 9), 9000), pay(date(2026, 11, 15), 4000)];
        let got = instalment_progress(created, &plan, &pays, date(2026, 11, 30), &utc());
        assert_eq!(
            got,
            vec![
                InstalmentProgress {
                    paid_minor: 3000,
                    paid_on: Some(date(2026, 11, 15))
                },
                InstalmentProgress {
                    paid_minor: 1000,
                    paid_on: None
                },
            ]
        );
    }

    proptest! {
        #[test]
        fn more_payments_never_unpay_an_instalment(pays in arb_payments(), extra in 1i64..4000, d in 0i32..30) {
            let created = at(date(2026, 11, 1), 0);
            let plan = [(date(2026, 11, 10), 2000), (date(2026, 11, 20), 2000), (date(2026, 11, 30), 2000)];
            let as_of = date(2026, 12, 31);
            let a = instalment_progress(created, &plan, &pays, as_of, &utc());
            let mut more = pays.clone();
            let base = date(2026, 11, 1);
            more.push(pay(base.checked_add(jiff::Span::new().days(d)).unwrap_or(base), extra));
            let b = instalment_progress(created, &plan, &more, as_of, &utc());
            for (x, y) in a.iter().zip(&b) {
                prop_assert!(y.paid_minor >= x.paid_minor);
                if x.paid_on.is_some() { prop_assert!(y.paid_on.is_some()); }
            }
        }
    }

    proptest! {
        #[test]
        fn adding_a_payment_never_turns_kept_into_broken(
            pays in arb_payments(),
            extra_day in 0i32..30,
            extra in 1i64..4000,
            as_of_day in 0i32..40,
        ) {
            let p = promise();
            let as_of = date(2026, 11, 1).checked_add(jiff::Span::new().days(as_of_day)).unwrap_or(date(2026, 11, 1));
            let before = promise_outcome(&p, &pays, as_of, &utc());
            let mut more = pays.clone();
            let base = date(2026, 11, 1);
            more.push(pay(base.checked_add(jiff::Span::new().days(extra_day)).unwrap_or(base), extra));
            let after = promise_outcome(&p, &more, as_of, &utc());
            if let PromiseOutcome::Kept { on } = before {
                let earlier_or_same = matches!(after, PromiseOutcome::Kept { on: on2 } if on2 <= on);
                prop_assert!(earlier_or_same, "kept on {} became {:?}", on, after);
            }
            if matches!(after, PromiseOutcome::Broken { .. }) {
                let was_broken = matches!(before, PromiseOutcome::Broken { .. });
                prop_assert!(was_broken, "became broken from {:?}", before);
            }
        }

        #[test]
        fn without_reversals_a_settled_promise_stays_settled(
            pays in arb_payments(),
            d1 in 0i32..40,
            d2 in 0i32..40,
        ) {
            let p = promise();
            let pays: Vec<PaymentMove> = pays.into_iter().map(|mut x| { x.reversed_at = None; x }).collect();
            let base = date(2026, 11, 1);
            let (a, b) = (d1.min(d2), d1.max(d2));
            let early = promise_outcome(&p, &pays, base.checked_add(jiff::Span::new().days(a)).unwrap_or(base), &utc());
            let late = promise_outcome(&p, &pays, base.checked_add(jiff::Span::new().days(b)).unwrap_or(base), &utc());
            if early != PromiseOutcome::Pending {
                prop_assert_eq!(early, late);
            }
        }

        #[test]
        fn kept_means_enough_was_paid_in_the_window(pays in arb_payments(), as_of_day in 0i32..40) {
            let p = promise();
            let base = date(2026, 11, 1);
            let as_of = base.checked_add(jiff::Span::new().days(as_of_day)).unwrap_or(base);
            if let PromiseOutcome::Kept { on } = promise_outcome(&p, &pays, as_of, &utc()) {
                prop_assert!(on <= p.due_date && on <= as_of);
                let horizon = p.due_date.min(as_of);
                let sum: i64 = pays.iter().filter(|x| {
                    let d = x.received_at.to_zoned(jiff::tz::TimeZone::UTC).date();
                    x.received_at >= p.created_at && d <= on
                        && x.reversed_at.is_none_or(|r| r.to_zoned(jiff::tz::TimeZone::UTC).date() > horizon)
                }).map(|x| x.amount_minor).sum();
                prop_assert!(sum >= p.amount_minor);
            }
        }
    }
}
