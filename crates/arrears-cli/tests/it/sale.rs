//! Debt sale (issue 14 item 3, docs/sale.md) through the binary:
//! - the tape's filter, data-driven over a small hand-written portfolio with lifecycle tables
//!   (each case: the flags and the loans expected on the tape, worked out from the files);
//! - a generated portfolio in an SQLite store: tape, record (money conserved per loan and in
//!   total, to the minor unit), one signed assignment notice per borrower in the outbox,
//!   recording again changes nothing, the next day's plan contacts no sold loan, a collection
//!   contact on a sold loan is refused under ALL-SOLD while the assignment notice is allowed;
//! - the file mode: `sale record --portfolio` appends `sales.csv`, which the plan honours.

use crate::store::{Backend, fresh};
use crate::{arrears, portfolio, text};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        o.status.success(),
        "arrears {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn read_csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            h.iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

// Six loans as of 2026-11-28, each 1 instalment of 10000 principal + 500 interest + 100 fee.
// L1 (B1, CN-11) due 11-01, 27 dpd; L2 (B2, US-NY) due 08-01, 119 dpd; L3 (B3, GB) due
// 06-01, 180 dpd, paid 3000 on 07-01; L4 (B4, CN) due 08-01, placed with an agency (live);
// L5 (B5, CN) due 08-01, an active payment plan; L6 (B6, US-CA) due 08-01, sold already;
// L7 (B7, US-NY) due 08-01, an open credit dispute on every loan of B7; L8 (B8, GB) due 08-01,
// a legal case filed; L9 (B9, CN) due 12-20 (current: its principal is owed, not yet due).
const BORROWERS: &str = "borrower_id,name,phone,email,timezone,jurisdiction
B1,A,+8613800000001,,Asia/Shanghai,CN-11
B2,B,+12125550002,b@example.com,America/New_York,US-NY
B3,C,+447700900003,,Europe/London,GB
B4,D,+8613800000004,,Asia/Shanghai,CN
B5,E,+8613800000005,,Asia/Shanghai,CN
B6,F,+13105550006,,America/Los_Angeles,US-CA
B7,G,+12125550007,,America/New_York,US-NY
B8,H,+447700900008,,Europe/London,GB
B9,I,+8613800000009,,Asia/Shanghai,CN
";
const LOANS: &str = "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on
L1,B1,cash,CNY,10000,0,0,2026-06-01
L2,B2,cash,USD,10000,0,0,2026-06-01
L3,B3,cash,GBP,10000,0,0,2026-05-01
L4,B4,cash,CNY,10000,0,0,2026-06-01
L5,B5,cash,CNY,10000,0,0,2026-06-01
L6,B6,cash,USD,10000,0,0,2026-06-01
L7,B7,cash,USD,10000,0,0,2026-06-01
L8,B8,cash,GBP,10000,0,0,2026-06-01
L9,B9,cash,CNY,10000,0,0,2026-11-01
";
const INSTALLMENTS: &str = "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor
L1,1,2026-11-01,10000,500,100
L2,1,2026-08-01,10000,500,100
L3,1,2026-06-01,10000,500,100
L4,1,2026-08-01,10000,500,100
L5,1,2026-08-01,10000,500,100
L6,1,2026-08-01,10000,500,100
L7,1,2026-08-01,10000,500,100
L8,1,2026-08-01,10000,500,100
L9,1,2026-12-20,10000,500,100
";
const PAYMENTS: &str = "payment_id,loan_id,received_at,amount_minor
P1,L3,2026-07-01T10:00:00Z,3000
";
const CONTACTS: &str = "contact_id,borrower_id,loan_id,channel,direction,at,outcome
C1,B2,L2,call,outbound,2026-09-01T15:00:00Z,no_answer
C2,B2,,sms,outbound,2026-10-01T15:00:00Z,delivered
C3,B2,L2,call,outbound,2026-12-01T15:00:00Z,no_answer
";
const NOTICES: &str = "notice_id,borrower_id,loan_id,kind,sent_at,channel
N1,B2,L2,validation,2026-08-05T15:00:00Z,letter
N2,B2,,credit_reporting,2026-08-06T15:00:00Z,letter
";
const PLACEMENTS: &str = "placement_id,loan_id,agency_id,placed_at,recalled_at
PL1,L4,AG1,2026-10-01T00:00:00Z,
";
const PLANS: &str = "plan_id,loan_id,status,created_at
PP1,L5,active,2026-10-01T00:00:00Z
";
const SALES: &str = "sale_id,loan_id,buyer,sold_at
S0,L6,Earlier Buyer,2026-10-01T00:00:00Z
";
const DISPUTES: &str = "dispute_id,borrower_id,loan_id,opened_at,resolved_at
D1,B7,,2026-10-01T00:00:00Z,
";
const LEGAL: &str = "case_id,loan_id,court,case_number,status,updated_on
LC1,L8,County Court,CC-1,filed,2026-10-01
";

fn small() -> tempfile::TempDir {
    portfolio(&[
        ("borrowers.csv", BORROWERS),
        ("loans.csv", LOANS),
        ("installments.csv", INSTALLMENTS),
        ("payments.csv", PAYMENTS),
        ("contacts.csv", CONTACTS),
        ("notices.csv", NOTICES),
        ("placements.csv", PLACEMENTS),
        ("payment_plans.csv", PLANS),
        ("sales.csv", SALES),
        ("credit_disputes.csv", DISPUTES),
        ("legal_cases.csv", LEGAL),
    ])
}

/// A tape case: the flags, the loans expected on the tape, `excluded_by` counts expected.
type Case = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [(&'static str, u64)],
);

#[test]
fn the_tape_takes_what_the_filter_names_and_keeps_off_what_cannot_be_sold() {
    let dir = small();
    let p = dir.path().to_str().unwrap();
    // (flags, loans on the tape, excluded_by of the loans the filter matched)
    let cases: &[Case] = &[
        (
            &[],
            &["L1", "L2", "L3", "L9"],
            &[
                ("already_sold", 1),
                ("live_placement", 1),
                ("active_plan", 1),
                ("open_dispute", 1),
                ("legal_case", 1),
                ("nothing_owed", 0),
            ],
        ),
        (&["--dpd-min", "90"], &["L2", "L3"], &[]),
        (&["--dpd-min", "28", "--dpd-max", "119"], &["L2"], &[]),
        (
            &["--jurisdiction", "CN"],
            &["L1", "L9"],
            &[("live_placement", 1), ("active_plan", 1)],
        ),
        (&["--jurisdiction", "CN-11"], &["L1"], &[]),
        (
            &["--jurisdiction", "US-NY", "--jurisdiction", "GB"],
            &["L2", "L3"],
            &[],
        ),
        (&["--currency", "GBP"], &["L3"], &[("legal_case", 1)]),
        // L3 owes 10600 - 3000 = 7600; L1 and L2 10600.
        (&["--balance-max", "8000"], &["L3"], &[]),
        (
            &["--balance-min", "10600", "--balance-max", "10600"],
            &["L1", "L2"],
            &[],
        ),
    ];
    for (flags, want, excluded) in cases {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().to_str().unwrap();
        let mut args = vec![
            "sale",
            "tape",
            "--as-of",
            "2026-11-28",
            "--portfolio",
            p,
            "--out",
            o,
        ];
        args.extend_from_slice(flags);
        ok(&args);
        let rows = read_csv(&out.path().join("sale_tape.csv"));
        let got: Vec<&str> = rows.iter().map(|r| r["loan_id"].as_str()).collect();
        assert_eq!(&got, want, "{flags:?}");
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("sale_tape_summary.json")).unwrap(),
        )
        .unwrap();
        for (reason, n) in *excluded {
            assert_eq!(
                summary["excluded_by"][reason].as_u64().unwrap_or(0),
                *n,
                "{flags:?} {reason}: {summary}"
            );
        }
        // The Parquet tape holds the same loans in the same order.
        let f = std::fs::File::open(out.path().join("sale_tape.parquet")).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        let mut pq = Vec::new();
        for b in reader {
            let b = b.unwrap();
            let col = b
                .column_by_name("loan_id")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            pq.extend(col.iter().map(|v| v.unwrap().to_owned()));
        }
        assert_eq!(pq, *want, "parquet {flags:?}");
    }
    // The columns of one row, worked out from the files: L2 owes 10000 principal, 500
    // interest, 100 fee, no penalty (rate 0); 2 contacts before the end of 11-28 (C3 is
    // later); a validation notice on L2 and a credit_reporting notice about every debt of B2.
    let out = tempfile::tempdir().unwrap();
    ok(&[
        "sale",
        "tape",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p,
        "--out",
        out.path().to_str().unwrap(),
        "--dpd-min",
        "100",
        "--jurisdiction",
        "US",
    ]);
    let rows = read_csv(&out.path().join("sale_tape.csv"));
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    for (col, v) in [
        ("loan_id", "L2"),
        ("borrower_id", "B2"),
        ("currency", "USD"),
        ("jurisdiction", "US-NY"),
        ("dpd", "119"),
        ("principal_minor", "10000"),
        ("interest_minor", "500"),
        ("fee_minor", "100"),
        ("penalty_minor", "0"),
        ("outstanding_minor", "10600"),
        ("payments", "0"),
        ("payments_minor", "0"),
        ("contacts", "2"),
        ("last_contact_at", "2026-10-01T15:00:00Z"),
        ("notices_validation", "1"),
        ("notices_credit_reporting", "1"),
        ("notices_assignment", "0"),
    ] {
        assert_eq!(r[col], v, "{col}: {r:?}");
    }
    // A stage the configuration does not have is refused, naming the stages.
    let o = arrears(&[
        "sale",
        "tape",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p,
        "--out",
        out.path().to_str().unwrap(),
        "--stage",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a stage"),
        "{}",
        text(&o.stderr)
    );
}

/// Checks a sale's per-loan file: price + loss == face per loan, face = the components, and
/// price = face x bps / 10000 rounded half-to-even (recomputed here in i128); returns the
/// totals per currency (face, price, loss).
fn check_money(path: &Path, bps: i128) -> BTreeMap<String, (i128, i128, i128)> {
    let mut totals: BTreeMap<String, (i128, i128, i128)> = BTreeMap::new();
    for r in read_csv(path) {
        let n = |c: &str| r[c].parse::<i128>().unwrap();
        let face = n("face_minor");
        assert_eq!(
            face,
            n("principal_minor") + n("interest_minor") + n("fee_minor") + n("penalty_minor"),
            "{r:?}"
        );
        assert_eq!(n("price_minor") + n("loss_minor"), face, "{r:?}");
        let exact = face * bps;
        let (q, rem) = (exact / 10_000, exact % 10_000);
        let want = if rem * 2 > 10_000 || (rem * 2 == 10_000 && q % 2 == 1) {
            q + 1
        } else {
            q
        };
        assert_eq!(n("price_minor"), want, "{r:?}");
        let t = totals.entry(r["currency"].clone()).or_default();
        t.0 += face;
        t.1 += n("price_minor");
        t.2 += n("loss_minor");
    }
    totals
}

#[test]
fn a_sale_in_the_store_end_to_end_sqlite() {
    sale_end_to_end(Backend::Sqlite);
}

#[test]
fn a_sale_in_the_store_end_to_end_postgres() {
    sale_end_to_end(Backend::Postgres);
}

fn sale_end_to_end(b: Backend) {
    let Some(db) = fresh(b) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let w = |s: &str| work.path().join(s).to_str().unwrap().to_owned();
    ok(&[
        "generate",
        "--loans",
        "600",
        "--seed",
        "14",
        "--out",
        &w("gen"),
    ]);
    ok(&[
        "import",
        "--portfolio",
        &w("gen"),
        "--db",
        &db.target,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    ok(&["keys", "init", "--dir", &w("keys")]);
    let out = ok(&[
        "sale",
        "tape",
        "--as-of",
        "2026-11-28",
        "--db",
        &db.target,
        "--out",
        &w("tape"),
        "--dpd-min",
        "60",
    ]);
    assert!(out.contains("loans selected"), "{out}");
    let tape = read_csv(&work.path().join("tape/sale_tape.csv"));
    assert!(
        tape.len() >= 5,
        "a generated portfolio has loans 60+ days late: {out}"
    );
    for r in &tape {
        assert!(r["dpd"].parse::<u32>().unwrap() >= 60, "{r:?}");
        assert_ne!(r["status"], "sold", "{r:?}");
    }
    let tape_loans: BTreeSet<String> = tape.iter().map(|r| r["loan_id"].clone()).collect();
    let borrowers: BTreeSet<String> = tape.iter().map(|r| r["borrower_id"].clone()).collect();
    let record = [
        "sale",
        "record",
        "--db",
        &db.target,
        "--tape",
        &w("tape/sale_tape.csv"),
        "--buyer",
        "Recovery Partners Ltd",
        "--price-bps",
        "1234",
        "--date",
        "2026-11-29",
        "--keys",
        &w("keys"),
        "--audit-log",
        &w("audit.jsonl"),
        "--now",
        "2026-11-29T03:00:00Z",
        "--out",
        &w("sold"),
    ];
    let out = ok(&record);
    assert!(out.contains("recorded in the store"), "{out}");
    let sale_id = out.split_whitespace().nth(1).unwrap().to_owned();
    assert!(sale_id.starts_with("DS-2026-11-29-"), "{out}");
    // Money: per loan and per currency, printed totals equal the file's sums.
    let totals = check_money(&work.path().join(format!("sold/sale_{sale_id}.csv")), 1234);
    for (c, (face, price, loss)) in &totals {
        assert_eq!(price + loss, *face);
        assert!(
            out.contains(&format!("{c}: "))
                && out.contains(&format!("face {face} = price {price} + loss {loss}")),
            "{c}: {out}"
        );
    }
    let sold = read_csv(&work.path().join(format!("sold/sale_{sale_id}.csv")));
    let sold_loans: BTreeSet<String> = sold.iter().map(|r| r["loan_id"].clone()).collect();
    assert_eq!(sold_loans, tape_loans);
    // One assignment notice per borrower in the outbox, none twice.
    let outbox = |db: &str| -> Vec<String> {
        ok(&["outbox", "status", "--db", db, "--rows"])
            .lines()
            .skip_while(|l| !l.starts_with("outbox_id\t"))
            .skip(1)
            .filter_map(|l| l.split('\t').nth(1).map(str::to_owned))
            .filter(|k| k.starts_with("assignment:"))
            .collect()
    };
    let keys = outbox(&db.target);
    let noticed: BTreeSet<String> = keys
        .iter()
        .map(|k| k.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        noticed.len(),
        keys.len(),
        "one notice per borrower: {keys:?}"
    );
    assert!(noticed.is_subset(&borrowers));
    let counts: Vec<usize> = out
        .lines()
        .find(|l| l.starts_with("assignment notices of"))
        .and_then(|l| l.split_once(": "))
        .map(|(_, l)| {
            l.split(", ")
                .map(|p| p.split_whitespace().next().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_else(|| panic!("{out}"));
    // queued, queued before, refused, without a target: every borrower of the sale once.
    assert_eq!(counts[0], noticed.len(), "{out}");
    assert_eq!(
        counts[0] + counts[1] + counts[2] + counts[3],
        borrowers.len(),
        "{out}"
    );
    assert!(!noticed.is_empty(), "{out}");
    // Each notice is signed: its message is in the audit log, which verifies.
    let v = ok(&[
        "audit",
        "verify",
        "--log",
        &w("audit.jsonl"),
        "--keys",
        &w("keys"),
    ]);
    assert!(v.contains("ok:"), "{v}");
    // Recording the same sale again writes nothing and queues nothing.
    let again = ok(&record);
    assert!(again.contains("was recorded before"), "{again}");
    assert!(
        again.contains(&format!("0 queued, {} queued before", noticed.len())),
        "{again}"
    );
    assert_eq!(outbox(&db.target).len(), keys.len());
    // A sold loan cannot be sold again.
    let o = arrears(&[
        "sale",
        "record",
        "--db",
        &db.target,
        "--tape",
        &w("tape/sale_tape.csv"),
        "--buyer",
        "Another Buyer",
        "--price-bps",
        "500",
        "--date",
        "2026-11-30",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("already_sold"),
        "{}",
        text(&o.stderr)
    );
    // The next day's plan contacts no sold loan; they are blocked under ALL-SOLD.
    ok(&[
        "plan",
        "--as-of",
        "2026-11-30",
        "--db",
        &db.target,
        "--out",
        &w("plan"),
        "--keys",
        &w("keys"),
        "--log",
        &w("plan.jsonl"),
    ]);
    let actions = read_csv(&work.path().join("plan/actions.csv"));
    let on_sold: Vec<_> = actions
        .iter()
        .filter(|a| {
            sold_loans.contains(&a["loan_id"]) && !["", "internal"].contains(&a["channel"].as_str())
        })
        .collect();
    assert!(
        on_sold.is_empty(),
        "contacts planned on sold loans: {on_sold:?}"
    );
    // A collection call on a sold loan is refused under ALL-SOLD.
    let one = &sold[0];
    let bid = &one["borrower_id"];
    let check = arrears(&[
        "check",
        "--db",
        &db.target,
        "--borrower",
        bid,
        "--loan",
        &one["loan_id"],
        "--channel",
        "letter",
        "--at",
        "2026-11-30T14:00:00Z",
        "--text",
        "Please pay.",
    ]);
    let answer = text(&check.stdout);
    assert!(
        answer.contains("ALL-SOLD"),
        "{answer}{}",
        text(&check.stderr)
    );
}

#[test]
fn the_file_mode_writes_sales_csv_which_the_plan_honours() {
    let dir = small();
    let p = dir.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = |s: &str| out.path().join(s).to_str().unwrap().to_owned();
    ok(&[
        "sale",
        "tape",
        "--as-of",
        "2026-11-28",
        "--portfolio",
        p,
        "--out",
        &o("tape"),
        "--dpd-min",
        "90",
    ]);
    let r = ok(&[
        "sale",
        "record",
        "--portfolio",
        p,
        "--tape",
        &o("tape/sale_tape.csv"),
        "--buyer",
        "File Buyer",
        "--price-bps",
        "2500",
        "--date",
        "2026-11-29",
    ]);
    assert!(r.contains("2 rows appended"), "{r}");
    let sales = read_csv(&dir.path().join("sales.csv"));
    let new: Vec<_> = sales
        .iter()
        .filter(|s| s["buyer"] == "File Buyer")
        .collect();
    assert_eq!(
        new.iter()
            .map(|s| s["loan_id"].as_str())
            .collect::<Vec<_>>(),
        ["L2", "L3"]
    );
    // L3 (GBP) owes 7600: 25% is 1900, no rounding; L2 (USD) 10600 -> 2650.
    let sale_file = std::fs::read_dir(out.path().join("tape"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("sale_DS-")
        })
        .unwrap();
    let t = check_money(&sale_file, 2500);
    assert_eq!(t["USD"], (10600, 2650, 7950));
    assert_eq!(t["GBP"], (7600, 1900, 5700));
    // The tape of the next day no longer takes them; the plan contacts neither.
    ok(&[
        "sale",
        "tape",
        "--as-of",
        "2026-11-30",
        "--portfolio",
        p,
        "--out",
        &o("tape2"),
        "--dpd-min",
        "90",
    ]);
    assert!(read_csv(&out.path().join("tape2/sale_tape.csv")).is_empty());
    ok(&[
        "plan",
        "--as-of",
        "2026-11-30",
        "--portfolio",
        p,
        "--out",
        &o("plan"),
    ]);
    let actions = read_csv(&out.path().join("plan/actions.csv"));
    assert!(
        actions.iter().all(|a| {
            !["L2", "L3"].contains(&a["loan_id"].as_str())
                || ["", "internal"].contains(&a["channel"].as_str())
        }),
        "{actions:?}"
    );
}
