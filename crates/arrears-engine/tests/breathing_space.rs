//! GB-BREATHING-SPACE in the daily run: for a GB borrower with `breathing_space_until = U`,
//! the penalty base is zero on every day t <= U (the moratorium's start is not on record),
//! and days after U accrue as usual. Expected values are worked by hand below.
//!
//! Every loan here: annual rate 0, penalty 3650 bps, so a day's penalty is base / 1000 and
//! the penalty is (sum of base over the accruing days) / 1000, exactly. Business zone UTC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::portfolio::{Installment, Loan, LoanStatus, Payment};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{
    Borrower, Bps, Config, Currency, Jurisdiction, Minor, Portfolio, TimeZoneName,
};
use jiff::civil::Date;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn borrower(jurisdiction: &str, until: Option<&str>) -> Borrower {
    Borrower {
        id: BorrowerId::parse("borrower_id", "B1").unwrap(),
        name: "Ann".into(),
        phone: None,
        email: None,
        timezone: TimeZoneName::parse("timezone", "Europe/London").unwrap(),
        jurisdiction: Jurisdiction::parse("jurisdiction", jurisdiction).unwrap(),
        language: None,
        deceased: false,
        bankrupt: false,
        cease_contact: false,
        phone_timezone: None,
        dispute_open: false,
        hardship: false,
        breathing_space_until: until.map(d),
        attorney_phone: None,
        attorney_email: None,
    }
}

/// One borrower, one loan with principal-only installments `(due, principal)` and payments
/// `(received_at, amount)`.
fn portfolio(b: Borrower, installments: &[(&str, i64)], payments: &[(&str, i64)]) -> Portfolio {
    let inst: Vec<Installment> = installments
        .iter()
        .enumerate()
        .map(|(i, (due, p))| Installment {
            seq: i as u32 + 1,
            due_date: d(due),
            principal: Minor::non_negative("p", *p).unwrap(),
            interest: Minor::ZERO,
            fee: Minor::ZERO,
        })
        .collect();
    let pays: Vec<Payment> = payments
        .iter()
        .map(|(at, a)| Payment {
            received_at: at.parse().unwrap(),
            amount: Minor::positive("a", *a).unwrap(),
            cancelled_at: None,
        })
        .collect();
    let total: i64 = installments.iter().map(|(_, p)| p).sum();
    Portfolio {
        borrowers: vec![b],
        loans: vec![Loan {
            id: LoanId::parse("loan_id", "L1").unwrap(),
            borrower: 0,
            product: "cash".into(),
            currency: Currency::parse("currency", "GBP").unwrap(),
            principal: Minor::positive("principal_minor", total).unwrap(),
            annual_rate: Bps::new_const(0),
            penalty_rate: Bps::new_const(3650),
            disbursed_on: d("2026-01-01"),
            status: LoanStatus::Active,
            installments: 0..inst.len() as u32,
            payments: 0..pays.len() as u32,
        }],
        installments: inst,
        payments: pays,
        ..Portfolio::default()
    }
}

fn penalty(p: &Portfolio, as_of: &str) -> i64 {
    let s = arrears_engine::run_day(p, d(as_of), &Config::default()).unwrap();
    s[0].penalty_accrued_minor
}

/// One installment of 100000 due 2026-01-31, nothing paid, as of 2026-03-02: the days that
/// can accrue are 02-01 .. 03-02, 30 days of base 100000, 100 a day, 3000 in all.
#[test]
fn one_overdue_installment() {
    let cases: &[(&str, Option<&str>, &str, i64, &str)] = &[
        (
            "GB",
            None,
            "2026-03-02",
            3000,
            "no breathing space: 30 days x 100",
        ),
        (
            "GB",
            Some("2026-02-14"),
            "2026-03-02",
            1600,
            "02-01..02-14 free, 02-15..03-02 = 16 days x 100",
        ),
        (
            "GB",
            Some("2026-03-01"),
            "2026-03-02",
            100,
            "only 03-02 accrues",
        ),
        (
            "GB",
            Some("2026-03-02"),
            "2026-03-02",
            0,
            "through D itself: nothing",
        ),
        (
            "GB",
            Some("2026-06-30"),
            "2026-03-02",
            0,
            "ends after D: nothing yet",
        ),
        (
            "GB",
            Some("2026-06-30"),
            "2026-07-02",
            200,
            "after it ends: 07-01, 07-02 accrue",
        ),
        (
            "GB",
            Some("2026-01-15"),
            "2026-03-02",
            3000,
            "ended before anything was overdue",
        ),
        (
            "GB",
            Some("2026-01-31"),
            "2026-03-02",
            3000,
            "ended on the due date: 02-01 accrues",
        ),
        ("GB", Some("2026-02-01"), "2026-03-02", 2900, "02-01 free"),
        (
            "GB-SCT",
            Some("2026-02-14"),
            "2026-03-02",
            1600,
            "a GB subdivision is GB",
        ),
        (
            "US-NY",
            Some("2026-02-14"),
            "2026-03-02",
            3000,
            "outside GB the field means nothing",
        ),
        (
            "IE",
            Some("2026-02-14"),
            "2026-03-02",
            3000,
            "outside GB the field means nothing",
        ),
    ];
    for (j, until, as_of, want, why) in cases {
        let p = portfolio(borrower(j, *until), &[("2026-01-31", 100_000)], &[]);
        assert_eq!(
            penalty(&p, as_of),
            *want,
            "{j} until {until:?} as of {as_of}: {why}"
        );
    }
}

/// Two installments of 50000 due 2026-01-31 and 2026-02-28; 50000 paid on 2026-02-20 (it
/// counts from 02-21). Without a breathing space, as of 2026-03-10:
///   02-01..02-20: 20 days x 50 = 1000; 02-21..02-28: nothing overdue;
///   03-01..03-10: 10 days x 50 = 500. Total 1500.
#[test]
fn a_payment_and_a_later_episode() {
    let cases: &[(Option<&str>, i64, &str)] = &[
        (None, 1500, "both episodes"),
        (Some("2026-02-10"), 1000, "02-11..02-20 = 10 x 50, then 500"),
        (
            Some("2026-02-25"),
            500,
            "the first episode is inside it; the second accrues",
        ),
        (Some("2026-03-04"), 300, "03-05..03-10 = 6 x 50"),
        (Some("2026-03-10"), 0, "through D"),
    ];
    for (until, want, why) in cases {
        let p = portfolio(
            borrower("GB", *until),
            &[("2026-01-31", 50_000), ("2026-02-28", 50_000)],
            &[("2026-02-20T10:00:00Z", 50_000)],
        );
        let s = arrears_engine::run_day(&p, d("2026-03-10"), &Config::default()).unwrap();
        assert_eq!(s[0].penalty_accrued_minor, *want, "until {until:?}: {why}");
        // The breathing space changes the penalty only.
        assert_eq!(
            (s[0].dpd, s[0].overdue_minor, s[0].paid_minor),
            (10, 50_000, 50_000)
        );
    }
}
