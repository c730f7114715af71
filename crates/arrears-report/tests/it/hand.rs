//! Histories small enough to work out by hand; the expected numbers are derived in comments.

use arrears_report::{History, ReportError, build, write};

use crate::common::{day, loan, names, worked_history};

fn written(h: &History, file: &str) -> String {
    let report = build(h).expect("build");
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = write(&report, dir.path()).expect("write");
    let path = paths
        .iter()
        .find(|p| p.ends_with(file))
        .unwrap_or_else(|| panic!("{file} not written: {paths:?}"));
    std::fs::read_to_string(path).expect("read back")
}

#[test]
fn write_creates_the_four_csvs_and_the_page() {
    let report = build(&worked_history()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = write(&report, &dir.path().join("out")).unwrap();
    let files: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(files, arrears_report::FILES);
    for p in &paths {
        assert!(std::fs::metadata(p).unwrap().len() > 0, "{p:?} is empty");
    }
}

#[test]
fn roll_rate_matrix_of_the_worked_history() {
    // From 2026-01-31 to 2026-02-28, cell by cell (row order: configured buckets, terminal
    // statuses, new; columns the same with `missing` last; then currency):
    // - current EUR holds A only; A is paid_off at the end → current→paid_off 1/1 = 100.00,
    //   principal on the from-date 1000.
    // - current USD holds F only; F is absent on 02-28 → current→missing 1/1, 700.
    // - M1 USD holds D only; D has dpd 0 at the end (bucket current) → M1→current, 500.
    // - M1 EUR holds B, H, I, K (4 loans): B stays M1 (1/4 = 25.00, 2000); I and K end in M2
    //   (2/4 = 50.00, 800 + 600 = 1400); H is paid_off although its bucket says M2, so it goes
    //   to the paid_off column (1/4 = 25.00, 1500).
    // - M2 EUR holds C; C ends in M3 → 100.00, 3000.
    // - M3 USD holds E; E is written_off → M3→written_off 100.00, 4000.
    // - G is first seen on 02-28 → new→current, principal-from 0.
    let expected = "\
from_date,to_date,from_bucket,to_bucket,loans,outstanding_principal_minor_from,currency,roll_rate_pct
2026-01-31,2026-02-28,current,paid_off,1,1000,EUR,100.00
2026-01-31,2026-02-28,current,missing,1,700,USD,100.00
2026-01-31,2026-02-28,M1,current,1,500,USD,100.00
2026-01-31,2026-02-28,M1,M1,1,2000,EUR,25.00
2026-01-31,2026-02-28,M1,M2,2,1400,EUR,50.00
2026-01-31,2026-02-28,M1,paid_off,1,1500,EUR,25.00
2026-01-31,2026-02-28,M2,M3,1,3000,EUR,100.00
2026-01-31,2026-02-28,M3,written_off,1,4000,USD,100.00
2026-01-31,2026-02-28,new,current,1,0,EUR,100.00
";
    assert_eq!(written(&worked_history(), "roll_rates.csv"), expected);
}

#[test]
fn cure_write_off_and_recovery_per_period_and_currency() {
    // Period 01-31 → 02-15.
    //   EUR delinquent at start (dpd > 0): B 15, C 40, H 20, I 5, K 12 = 5 (A has dpd 0).
    //   Cured (dpd 0 or paid_off at end): B (0), I (0); C 55, H 35, K 27 are not → 2/5 = 40.00.
    //   Recovery = Σ paid(end) − paid(start) over those five: B 150−0, C 200−200, H 0−0,
    //   I 40−20, K 0−0 = 170. No EUR write-off.
    //   USD delinquent: D 10, E 70 = 2; D has 25, E 85 → 0 cured → 0.00.
    //   E turns written_off: flow 1 loan, its principal at start 4000. Recovery 0 + 0 = 0.
    // Period 02-15 → 02-28.
    //   EUR delinquent: C 55, H 35, K 27 = 3. H is paid_off (dpd still 35) → cured; C 68 and
    //   K 40 are not → 1/3 = 33.33. Recovery: C 500−200 = 300, H 1500−0 = 1500, K 0 → 1800.
    //   USD delinquent: D 25, E 85 (already written_off) = 2; D dpd 0 → 1/2 = 50.00.
    //   E was written off at the start, so it does not flow again: 0, 0.
    //   Recovery: D 130−0 = 130, E 60−0 = 60 (paid after write-off) → 190.
    //   Amounts of EUR and USD are never added together: one row per currency.
    let expected = "\
from_date,to_date,loans_delinquent_start,loans_cured,cure_rate_pct,loans_flow_to_write_off,flow_to_write_off_principal_minor,recovery_minor,currency
2026-01-31,2026-02-15,5,2,40.00,0,0,170,EUR
2026-01-31,2026-02-15,2,0,0.00,1,4000,0,USD
2026-02-15,2026-02-28,3,1,33.33,0,0,1800,EUR
2026-02-15,2026-02-28,2,1,50.00,0,0,190,USD
";
    assert_eq!(written(&worked_history(), "periods.csv"), expected);
}

#[test]
fn vintage_by_months_on_book() {
    // Snapshot months: 2026-01 → 01-31; 2026-02 has 02-15 and 02-28 and takes the last, 02-28.
    // mob = months from the disbursal month to the snapshot month, across the year end:
    //   2025-11 → 2026-01 is 2, → 2026-02 is 3; 2025-12 → 1 and 2; 2026-01 → 0 and 1.
    // 30+ means dpd ≥ 30.
    // - 2025-11: C (EUR) 40 then 68, E (USD) 70 then 98: all 30+, one row per currency.
    // - 2025-12 EUR: A, B, H. On 01-31 dpd 0, 15, 20 → 0/3, principal 1000+2000+1500 = 4500.
    //   On 02-28 dpd 0, 13, 35 (H paid off, principal 0) → 1/3 = 33.33, principal
    //   0+1900+0 = 1900, 30+ principal 0 (H's).
    // - 2026-01 EUR: I, K. 01-31 dpd 5, 12 → 0/2, 800+600 = 1400; 02-28 dpd 33, 40 → 2/2,
    //   780+600 = 1380 all 30+.
    // - 2026-01 USD: D, F on 01-31 (dpd 10, 0; 500+700 = 1200); on 02-28 only D (F is gone),
    //   dpd 0, 400.
    // - 2026-02 EUR: G, new on 02-28, mob 0.
    let expected = "\
vintage,months_on_book,as_of,loans,loans_30_plus,rate_30_plus_pct,outstanding_principal_minor,outstanding_30_plus_minor,currency
2025-11,2,2026-01-31,1,1,100.00,3000,3000,EUR
2025-11,2,2026-01-31,1,1,100.00,4000,4000,USD
2025-11,3,2026-02-28,1,1,100.00,3000,3000,EUR
2025-11,3,2026-02-28,1,1,100.00,4000,4000,USD
2025-12,1,2026-01-31,3,0,0.00,4500,0,EUR
2025-12,2,2026-02-28,3,1,33.33,1900,0,EUR
2026-01,0,2026-01-31,2,0,0.00,1400,0,EUR
2026-01,0,2026-01-31,2,0,0.00,1200,0,USD
2026-01,1,2026-02-28,2,2,100.00,1380,1380,EUR
2026-01,1,2026-02-28,1,0,0.00,400,0,USD
2026-02,0,2026-02-28,1,0,0.00,5000,0,EUR
";
    assert_eq!(written(&worked_history(), "vintage.csv"), expected);
}

#[test]
fn distribution_lists_every_configured_value_per_currency() {
    // 01-31 buckets. EUR: current A (0 overdue, 1000); M1 B, H, I, K (overdue 50+60+10+30 =
    // 150, principal 2000+1500+800+600 = 4900); M2 C (300, 3000); M3 none → zeros.
    // USD: current F (0, 700); M1 D (20, 500); M2 none; M3 E (400, 4000).
    // Stages follow the same loans: early = M1's loans, late = C and E.
    // 02-28 buckets. EUR: current A (paid off, 0) and G (5000) → 2 loans; M1 B (40, 1900);
    // M2 H (0, 0), I (25, 780), K (50, 600) → 3, 75, 1380; M3 C (450, 3000).
    // USD: current D (0, 400); M3 E (400, 4000).
    let text = written(&worked_history(), "distribution.csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "as_of,dimension,value,loans,overdue_minor,outstanding_principal_minor,currency"
    );
    // 3 dates × (4 buckets + 3 stages) × 2 currencies.
    assert_eq!(lines.len(), 1 + 3 * 7 * 2);
    let first_day = "\
2026-01-31,bucket,current,1,0,1000,EUR
2026-01-31,bucket,current,1,0,700,USD
2026-01-31,bucket,M1,4,150,4900,EUR
2026-01-31,bucket,M1,1,20,500,USD
2026-01-31,bucket,M2,1,300,3000,EUR
2026-01-31,bucket,M2,0,0,0,USD
2026-01-31,bucket,M3,0,0,0,EUR
2026-01-31,bucket,M3,1,400,4000,USD
2026-01-31,stage,current,1,0,1000,EUR
2026-01-31,stage,current,1,0,700,USD
2026-01-31,stage,early,4,150,4900,EUR
2026-01-31,stage,early,1,20,500,USD
2026-01-31,stage,late,1,300,3000,EUR
2026-01-31,stage,late,1,400,4000,USD";
    assert_eq!(lines[1..15].join("\n"), first_day);
    let last_day_buckets = "\
2026-02-28,bucket,current,2,0,5000,EUR
2026-02-28,bucket,current,1,0,400,USD
2026-02-28,bucket,M1,1,40,1900,EUR
2026-02-28,bucket,M1,0,0,0,USD
2026-02-28,bucket,M2,3,75,1380,EUR
2026-02-28,bucket,M2,0,0,0,USD
2026-02-28,bucket,M3,1,450,3000,EUR
2026-02-28,bucket,M3,1,400,4000,USD";
    assert_eq!(lines[29..37].join("\n"), last_day_buckets);
}

/// 32 loans in M1 on day one; on day two 1 is cured, 1 is in M2, 3 are in M3, 27 stay in M1.
fn thirty_two_loans() -> History {
    let mut d1 = Vec::new();
    let mut d2 = Vec::new();
    for i in 0..32 {
        let id = format!("L{i:02}");
        d1.push(loan(
            &id,
            "GBP",
            "2026-01-05",
            "delinquent",
            10,
            "M1",
            "early",
            10,
            100,
            0,
        ));
        let (dpd, bucket) = match i {
            0 => (0, "current"),
            1 => (40, "M2"),
            2..=4 => (70, "M3"),
            _ => (20, "M1"),
        };
        let status = if dpd == 0 { "current" } else { "delinquent" };
        d2.push(loan(
            &id,
            "GBP",
            "2026-01-05",
            status,
            dpd,
            bucket,
            "early",
            10,
            100,
            0,
        ));
    }
    History {
        days: vec![day("2026-03-01", d1), day("2026-03-08", d2)],
        buckets: names(&["current", "M1", "M2", "M3"]),
        stages: names(&["current", "early"]),
    }
}

#[test]
fn rates_round_half_to_even_at_exact_ties() {
    // Shares of 32 are multiples of 3.125 %, so every odd count is an exact tie at the third
    // decimal:
    //   1/32  = 3.125 %  → 312.5 hundredths, tie, 312 even → 3.12 (half-up would give 3.13)
    //   3/32  = 9.375 %  → 937.5, tie, 937 odd → 938 → 9.38
    //   27/32 = 84.375 % → 8437.5, tie, 8437 odd → 8438 → 84.38
    // Cure rate 1/32 → 3.12 as well.
    let roll = written(&thirty_two_loans(), "roll_rates.csv");
    let cells: Vec<(String, String)> = roll
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[3].to_string(), c[7].to_string())
        })
        .collect();
    let expected = [
        ("current", "3.12"),
        ("M1", "84.38"),
        ("M2", "3.12"),
        ("M3", "9.38"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(cells, expected);

    let periods = written(&thirty_two_loans(), "periods.csv");
    assert_eq!(
        periods.lines().nth(1),
        Some("2026-03-01,2026-03-08,32,1,3.12,0,0,0,GBP")
    );
}

#[test]
fn no_delinquent_loans_gives_an_empty_cure_rate() {
    // 0 cured of 0 delinquent: the rate is an empty cell, neither 0.00 nor NaN.
    let h = History {
        days: vec![
            day(
                "2026-03-01",
                vec![loan(
                    "A",
                    "EUR",
                    "2026-01-01",
                    "current",
                    0,
                    "current",
                    "current",
                    0,
                    100,
                    0,
                )],
            ),
            day(
                "2026-03-02",
                vec![loan(
                    "A",
                    "EUR",
                    "2026-01-01",
                    "current",
                    0,
                    "current",
                    "current",
                    0,
                    100,
                    0,
                )],
            ),
        ],
        buckets: names(&["current", "M1"]),
        stages: names(&["current"]),
    };
    let periods = written(&h, "periods.csv");
    assert_eq!(
        periods.lines().nth(1),
        Some("2026-03-01,2026-03-02,0,0,,0,0,0,EUR")
    );
}

#[test]
fn order_of_loans_within_a_day_does_not_change_the_files() {
    let h = worked_history();
    let mut reversed = h.clone();
    for d in &mut reversed.days {
        d.loans.reverse();
    }
    assert_eq!(build(&h).unwrap(), build(&reversed).unwrap());
    assert_eq!(
        arrears_report::render_html(&build(&h).unwrap()),
        arrears_report::render_html(&build(&reversed).unwrap())
    );
}

#[test]
fn bad_histories_are_refused_with_the_reason() {
    let ok = worked_history();

    let empty = History {
        days: vec![],
        ..ok.clone()
    };
    assert!(matches!(build(&empty), Err(ReportError::EmptyHistory)));

    let mut backwards = ok.clone();
    backwards.days.swap(0, 1);
    assert!(matches!(
        build(&backwards),
        Err(ReportError::DatesNotAscending { .. })
    ));

    let mut unknown = ok.clone();
    unknown.days[1].loans[0].bucket = "M9".into();
    assert!(matches!(
        build(&unknown),
        Err(ReportError::UnknownValue {
            field: "bucket",
            ..
        })
    ));

    let mut status = ok.clone();
    status.days[1].loans[0].status = "lost".into();
    assert!(matches!(
        build(&status),
        Err(ReportError::UnknownValue {
            field: "status",
            ..
        })
    ));

    let mut twice = ok.clone();
    let again = twice.days[0].loans[0].clone();
    twice.days[0].loans.push(again);
    assert!(matches!(
        build(&twice),
        Err(ReportError::DuplicateLoan { .. })
    ));

    let mut reserved = ok.clone();
    reserved.buckets.push("written_off".into());
    assert!(matches!(
        build(&reserved),
        Err(ReportError::BadConfiguredName { .. })
    ));

    let mut switched = ok.clone();
    switched.days[2].loans[0].currency = "USD".into();
    assert!(matches!(
        build(&switched),
        Err(ReportError::CurrencyChanged { .. })
    ));

    let mut lower = ok.clone();
    lower.days[0].loans[0].currency = "eur".into();
    assert!(matches!(
        build(&lower),
        Err(ReportError::BadCurrency { .. })
    ));

    let mut early = ok.clone();
    early.days[0].loans[0].disbursed_on = crate::common::date("2026-02-01");
    assert!(matches!(
        build(&early),
        Err(ReportError::DisbursedAfterSnapshot { .. })
    ));

    let mut huge = ok;
    huge.days[0].loans[0].outstanding_principal_minor = i64::MAX;
    huge.days[0].loans[1].outstanding_principal_minor = i64::MAX;
    assert!(matches!(build(&huge), Err(ReportError::Overflow { .. })));
}
