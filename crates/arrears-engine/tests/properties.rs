//! Property tests of the engine against the spec's own definitions.
//!
//! `reference` below is a deliberately naive reading of `docs/delinquency.md`: it walks every
//! day, re-allocates payments from scratch for each one and sums the penalty day by day. The
//! engine's sweep must agree with it exactly on random loans.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::portfolio::{Installment, LoanStatus, Payment};
use arrears_domain::{Bps, Config, Minor, TimeZoneName};
use arrears_engine::{AccountState, LoanFacts, epoch_day};
use jiff::Timestamp;
use jiff::civil::{Date, date};
use proptest::prelude::*;

fn base() -> Date {
    date(2026, 1, 1)
}

fn day(n: i32) -> Date {
    arrears_engine::date_from_epoch_day(epoch_day(base()) + n)
}

#[derive(Debug, Clone)]
struct Case {
    installments: Vec<Installment>,
    payments: Vec<Payment>,
    annual: u32,
    penalty: u32,
    cap: Option<u32>,
    tz: &'static str,
    /// A breathing space through this day (relative to `base()`).
    free_through: Option<i32>,
}

fn at(day_n: i32, secs: i64) -> Timestamp {
    Timestamp::from_second(i64::from(epoch_day(base()) + day_n) * 86_400 + secs).unwrap()
}

fn case() -> impl Strategy<Value = Case> {
    let inst = prop::collection::vec((0i32..40, 0i64..500, 0i64..300, 0i64..3_000), 0..6);
    let pays = prop::collection::vec(
        (
            0i32..200,
            0i64..86_400,
            1i64..4_000,
            prop::option::of(0i32..60),
        ),
        0..6,
    );
    (
        inst,
        pays,
        0u32..4000,
        0u32..5000,
        prop::option::of(0u32..5000),
        prop::sample::select(vec!["UTC", "Asia/Shanghai", "America/New_York"]),
        prop::option::of(-10i32..270),
    )
        .prop_map(|(inst, pays, annual, penalty, cap, tz, free_through)| {
            let mut d = 0;
            let installments = inst
                .iter()
                .enumerate()
                .map(|(i, (gap, fee, int, prin))| {
                    d += gap;
                    Installment {
                        seq: i as u32 + 1,
                        due_date: day(d),
                        principal: Minor::non_negative("p", *prin).unwrap(),
                        interest: Minor::non_negative("i", *int).unwrap(),
                        fee: Minor::non_negative("f", *fee).unwrap(),
                    }
                })
                .collect();
            let mut payments: Vec<Payment> = pays
                .iter()
                .map(|(pd, secs, amount, rev)| Payment {
                    received_at: at(*pd, *secs),
                    amount: Minor::positive("a", *amount).unwrap(),
                    cancelled_at: rev.map(|r| at(*pd + r - 5, *secs)),
                })
                .collect();
            payments.sort_by_key(|p| p.received_at);
            Case {
                installments,
                payments,
                annual,
                penalty,
                cap,
                tz,
                free_through,
            }
        })
}

fn config(tz: &str) -> Config {
    let mut c = Config::default();
    c.business_tz = TimeZoneName::parse("tz", tz).unwrap();
    c
}

fn facts(c: &Case) -> LoanFacts<'_> {
    LoanFacts {
        status: LoanStatus::Active,
        annual_rate: Bps::new_const(c.annual),
        penalty_rate: Bps::new_const(c.penalty),
        cost_cap: c.cap.map(Bps::new_const),
        penalty_free_through: c.free_through.map(|n| epoch_day(day(n))),
        installments: &c.installments,
        payments: &c.payments,
    }
}

fn eval(c: &Case, as_of: Date) -> AccountState {
    let cfg = config(c.tz);
    let f = facts(c);
    let clock = arrears_engine_clock(&cfg);
    arrears_engine::evaluate_loan(&f, epoch_day(as_of), &clock, &cfg, &mut Default::default())
        .unwrap()
}

fn arrears_engine_clock(cfg: &Config) -> arrears_engine::BookingClock {
    arrears_engine::BookingClock::new(&cfg.business_tz)
}

/// The spec, read literally.
fn reference(c: &Case, as_of: Date) -> (i128, i128, u32, i128) {
    let tz = TimeZoneName::parse("tz", c.tz).unwrap();
    let booking = |t: Timestamp| tz.date_of(t);
    // Payments counted "as of" a day: booked on or before it, not cancelled on or before it.
    let paid_through = |d: Date| -> i128 {
        c.payments
            .iter()
            .filter(|p| {
                booking(p.received_at) <= d && p.cancelled_at.is_none_or(|x| booking(x) > d)
            })
            .map(|p| i128::from(p.amount.get()))
            .sum()
    };
    // Unpaid principal of installments due before t, allocating p sequentially.
    let overdue_principal = |p: i128, t: Date| -> i128 {
        let mut rem = p;
        let mut unpaid = 0;
        for i in &c.installments {
            for (amount, is_prin) in [
                (i.fee.get(), false),
                (i.interest.get(), false),
                (i.principal.get(), true),
            ] {
                let a = i128::from(amount);
                let take = rem.min(a);
                rem -= take;
                if is_prin && i.due_date < t {
                    unpaid += a - take;
                }
            }
        }
        unpaid
    };
    let p = paid_through(as_of);
    let (rate, _) = arrears_engine_rate(c);
    let mut base_days: i128 = 0;
    if let Some(first) = c.installments.first() {
        let mut t = first.due_date.tomorrow().unwrap();
        while t <= as_of {
            // No penalty on the days of a breathing space (through its end, inclusive).
            let free = c.free_through.is_some_and(|u| t <= day(u));
            if !free {
                let p_t = paid_through(t.yesterday().unwrap());
                base_days += overdue_principal(p_t, t);
            }
            t = t.tomorrow().unwrap();
        }
    }
    let num = base_days * i128::from(rate);
    let den = 3_650_000i128;
    let q = num / den;
    let r = num % den;
    let penalty = if 2 * r > den || (2 * r == den && q % 2 == 1) {
        q + 1
    } else {
        q
    };
    // dpd
    let total: i128 = c.installments.iter().map(|i| i.total()).sum();
    let due: i128 = c
        .installments
        .iter()
        .filter(|i| i.due_date < as_of)
        .map(|i| i.total())
        .sum();
    let overdue = (due - p.min(total)).max(0);
    let mut dpd = 0;
    if overdue > 0 {
        let mut rem = p;
        for i in &c.installments {
            if rem >= i.total() {
                rem -= i.total();
            } else {
                dpd = (epoch_day(as_of) - epoch_day(i.due_date)) as u32;
                break;
            }
        }
    }
    (p, overdue, dpd, penalty)
}

fn arrears_engine_rate(c: &Case) -> (u32, bool) {
    match c.cap {
        None => (c.penalty, false),
        Some(cap) => {
            let e = c.penalty.min(cap.saturating_sub(c.annual));
            (e, e < c.penalty)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn agrees_with_the_literal_spec(c in case(), as_of_n in 0i32..260) {
        let as_of = day(as_of_n);
        let s = eval(&c, as_of);
        let (p, overdue, dpd, penalty) = reference(&c, as_of);
        prop_assert_eq!(i128::from(s.paid_minor), p);
        prop_assert_eq!(i128::from(s.overdue_minor), overdue);
        prop_assert_eq!(s.dpd, dpd);
        prop_assert_eq!(i128::from(s.penalty_accrued_minor), penalty);
    }

    #[test]
    fn a_breathing_space_never_adds_penalty(c in case(), as_of_n in 0i32..260) {
        let as_of = day(as_of_n);
        let with = eval(&c, as_of);
        let without = eval(&Case { free_through: None, ..c.clone() }, as_of);
        prop_assert!(with.penalty_accrued_minor <= without.penalty_accrued_minor);
        // Only the penalty changes.
        prop_assert_eq!(
            (with.dpd, with.overdue_minor, with.paid_minor, with.outstanding_principal_minor),
            (without.dpd, without.overdue_minor, without.paid_minor, without.outstanding_principal_minor)
        );
        // A breathing space through D or later leaves nothing.
        if c.free_through.is_some_and(|u| u >= as_of_n) {
            prop_assert_eq!(with.penalty_accrued_minor, 0);
        }
    }

    #[test]
    fn money_is_conserved(c in case(), as_of_n in 0i32..260) {
        let s = eval(&c, day(as_of_n));
        let total: i64 = c.installments.iter().map(|i| i.total() as i64).sum();
        let allocated = s.paid_minor.min(total);
        prop_assert_eq!(s.paid_minor, allocated + s.penalty_paid_minor + s.credit_minor);
        prop_assert!(s.credit_minor >= 0 && s.penalty_paid_minor >= 0);
        prop_assert!(s.penalty_paid_minor <= s.penalty_accrued_minor);
        prop_assert_eq!(s.overdue_minor, s.overdue_fee_minor + s.overdue_interest_minor + s.overdue_principal_minor);
        prop_assert!(s.overdue_principal_minor <= s.outstanding_principal_minor);
    }

    #[test]
    fn a_later_payment_never_increases_dpd(c in case(), as_of_n in 0i32..260, amount in 1i64..5_000, when in 0i32..260) {
        let as_of = day(as_of_n);
        let before = eval(&c, as_of);
        let mut more = c.clone();
        more.payments.push(Payment { received_at: at(when.min(as_of_n), 43_200), amount: Minor::positive("a", amount).unwrap(), cancelled_at: None });
        more.payments.sort_by_key(|p| p.received_at);
        let after = eval(&more, as_of);
        prop_assert!(after.dpd <= before.dpd, "{} > {}", after.dpd, before.dpd);
        prop_assert!(after.overdue_minor <= before.overdue_minor);
    }

    #[test]
    fn dpd_grows_by_one_a_day_without_payments(c in case(), as_of_n in 0i32..260) {
        let as_of = day(as_of_n);
        let next = as_of.tomorrow().unwrap();
        let tz = TimeZoneName::parse("tz", c.tz).unwrap();
        let event_on_next = c.payments.iter().any(|p| {
            tz.date_of(p.received_at) == next || p.cancelled_at.is_some_and(|x| tz.date_of(x) == next)
        });
        prop_assume!(!event_on_next);
        let a = eval(&c, as_of);
        let b = eval(&c, next);
        if a.dpd > 0 {
            prop_assert_eq!(b.dpd, a.dpd + 1);
        }
        prop_assert!(b.penalty_accrued_minor >= a.penalty_accrued_minor);
    }
}
