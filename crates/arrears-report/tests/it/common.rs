//! Small builders for histories and readers for the written files.

use std::path::Path;

use arrears_report::{Day, History, LoanDay};
use jiff::civil::Date;

pub fn date(s: &str) -> Date {
    s.parse().expect("a test date")
}

/// A loan on one day: id, currency, disbursal date, status, dpd, bucket, stage,
/// overdue, outstanding principal, cumulative paid.
#[allow(clippy::too_many_arguments)]
pub fn loan(
    id: &str,
    currency: &str,
    disbursed_on: &str,
    status: &str,
    dpd: u32,
    bucket: &str,
    stage: &str,
    overdue_minor: i64,
    outstanding_principal_minor: i64,
    paid_minor: i64,
) -> LoanDay {
    LoanDay {
        loan_id: id.to_string(),
        status: status.to_string(),
        dpd,
        bucket: bucket.to_string(),
        stage: stage.to_string(),
        overdue_minor,
        outstanding_principal_minor,
        paid_minor,
        currency: currency.to_string(),
        disbursed_on: date(disbursed_on),
    }
}

pub fn day(as_of: &str, loans: Vec<LoanDay>) -> Day {
    Day {
        as_of: date(as_of),
        loans,
    }
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The worked example of `hand.rs`: three dates, two currencies, nine loans plus one new.
/// Buckets current, M1, M2, M3; stages current, early, late.
pub fn worked_history() -> History {
    // Columns: id, currency, disbursed, status, dpd, bucket, stage, overdue, principal, paid.
    let d1 = day(
        "2026-01-31",
        vec![
            loan(
                "A",
                "EUR",
                "2025-12-10",
                "current",
                0,
                "current",
                "current",
                0,
                1000,
                100,
            ),
            loan(
                "B",
                "EUR",
                "2025-12-20",
                "delinquent",
                15,
                "M1",
                "early",
                50,
                2000,
                0,
            ),
            loan(
                "C",
                "EUR",
                "2025-11-05",
                "delinquent",
                40,
                "M2",
                "late",
                300,
                3000,
                200,
            ),
            loan(
                "D",
                "USD",
                "2026-01-02",
                "delinquent",
                10,
                "M1",
                "early",
                20,
                500,
                0,
            ),
            loan(
                "E",
                "USD",
                "2025-11-15",
                "delinquent",
                70,
                "M3",
                "late",
                400,
                4000,
                0,
            ),
            loan(
                "F",
                "USD",
                "2026-01-10",
                "current",
                0,
                "current",
                "current",
                0,
                700,
                50,
            ),
            loan(
                "H",
                "EUR",
                "2025-12-01",
                "delinquent",
                20,
                "M1",
                "early",
                60,
                1500,
                0,
            ),
            loan(
                "I",
                "EUR",
                "2026-01-15",
                "delinquent",
                5,
                "M1",
                "early",
                10,
                800,
                20,
            ),
            loan(
                "K",
                "EUR",
                "2026-01-20",
                "delinquent",
                12,
                "M1",
                "early",
                30,
                600,
                0,
            ),
        ],
    );
    let d2 = day(
        "2026-02-15",
        vec![
            loan(
                "A",
                "EUR",
                "2025-12-10",
                "current",
                0,
                "current",
                "current",
                0,
                950,
                150,
            ),
            loan(
                "B",
                "EUR",
                "2025-12-20",
                "current",
                0,
                "current",
                "current",
                0,
                1900,
                150,
            ),
            loan(
                "C",
                "EUR",
                "2025-11-05",
                "delinquent",
                55,
                "M2",
                "late",
                300,
                3000,
                200,
            ),
            loan(
                "D",
                "USD",
                "2026-01-02",
                "delinquent",
                25,
                "M1",
                "early",
                40,
                500,
                0,
            ),
            loan(
                "E",
                "USD",
                "2025-11-15",
                "written_off",
                85,
                "M3",
                "late",
                400,
                4000,
                0,
            ),
            loan(
                "F",
                "USD",
                "2026-01-10",
                "current",
                0,
                "current",
                "current",
                0,
                650,
                100,
            ),
            loan(
                "H",
                "EUR",
                "2025-12-01",
                "delinquent",
                35,
                "M2",
                "late",
                90,
                1500,
                0,
            ),
            loan(
                "I",
                "EUR",
                "2026-01-15",
                "current",
                0,
                "current",
                "current",
                0,
                780,
                40,
            ),
            loan(
                "K",
                "EUR",
                "2026-01-20",
                "delinquent",
                27,
                "M1",
                "early",
                45,
                600,
                0,
            ),
        ],
    );
    // F is gone; G is new; H is paid off while still showing its last dpd.
    let d3 = day(
        "2026-02-28",
        vec![
            loan(
                "A",
                "EUR",
                "2025-12-10",
                "paid_off",
                0,
                "current",
                "current",
                0,
                0,
                1100,
            ),
            loan(
                "B",
                "EUR",
                "2025-12-20",
                "delinquent",
                13,
                "M1",
                "early",
                40,
                1900,
                150,
            ),
            loan(
                "C",
                "EUR",
                "2025-11-05",
                "delinquent",
                68,
                "M3",
                "late",
                450,
                3000,
                500,
            ),
            loan(
                "D",
                "USD",
                "2026-01-02",
                "current",
                0,
                "current",
                "current",
                0,
                400,
                130,
            ),
            loan(
                "E",
                "USD",
                "2025-11-15",
                "written_off",
                98,
                "M3",
                "late",
                400,
                4000,
                60,
            ),
            loan(
                "G",
                "EUR",
                "2026-02-20",
                "current",
                0,
                "current",
                "current",
                0,
                5000,
                0,
            ),
            loan(
                "H",
                "EUR",
                "2025-12-01",
                "paid_off",
                35,
                "M2",
                "late",
                0,
                0,
                1500,
            ),
            loan(
                "I",
                "EUR",
                "2026-01-15",
                "delinquent",
                33,
                "M2",
                "late",
                25,
                780,
                40,
            ),
            loan(
                "K",
                "EUR",
                "2026-01-20",
                "delinquent",
                40,
                "M2",
                "late",
                50,
                600,
                0,
            ),
        ],
    );
    History {
        days: vec![d1, d2, d3],
        buckets: names(&["current", "M1", "M2", "M3"]),
        stages: names(&["current", "early", "late"]),
    }
}

/// A CSV file as header + rows of cells.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).expect("open csv");
    let header = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .records()
        .map(|rec| rec.expect("record").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}
