//! Issue 15's scenario: a generated portfolio in a store driven through 240 days in steps of
//! 30 (a daily run, the plans of the day before and the day, then the people's decisions),
//! through the binary only. Referrals are approved and rejected, approved ones filed, judged,
//! enforced with a measure and closed; write-off proposals approved and rejected; settlements
//! offered, accepted, paid and lapsed.
//!
//! Every transition taken is one the rules allow, each illegal one tried is refused, and the
//! money of every record matches the daily run's figures to the minor unit: a write-off is the
//! loan's balance by component on its snapshot date; a settlement's amount is its balance less
//! the discount rounded half-to-even once; the remainder written off when it is paid is the
//! balance left on the review date; a lapsed settlement forgives nothing; summed over the
//! portfolio, what was written off equals the balances those snapshots held.

use crate::server::{add_user, ok};
use crate::store::{Backend, fresh};
use crate::{arrears, text};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const PASSWORD: &str = "a long enough secret";

/// `arrears ARGS` as a staff user (password on standard input): (success, stdout, stderr).
fn as_user(args: &[&str]) -> (bool, String, String) {
    crate::arrears_with_stdin(args, PASSWORD)
}

fn accounts(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("accounts.csv")).unwrap();
    let h: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            let row: BTreeMap<String, String> = h
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect();
            (row["loan_id"].clone(), row)
        })
        .collect()
}

/// A loan's balance by component on a run's date: principal, interest, fees, penalty.
fn components(row: &BTreeMap<String, String>) -> [i64; 4] {
    let n = |k: &str| row[k].parse::<i64>().unwrap();
    [
        n("outstanding_principal_minor"),
        n("overdue_interest_minor"),
        n("overdue_fee_minor"),
        (n("penalty_accrued_minor") - n("penalty_paid_minor")).max(0),
    ]
}

fn half_even(v: i64, bps: i64) -> i64 {
    let num = i128::from(v) * i128::from(bps);
    let (q, r) = (num / 10_000, num % 10_000);
    let x = match (2 * r).cmp(&10_000) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    i64::try_from(x).unwrap()
}

/// The number after `label ` in `line`.
fn number_after(line: &str, label: &str) -> i64 {
    let i = line
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {line}"));
    line[i + label.len()..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit() && c != '-')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("a number after {label} in {line}"))
}

#[test]
fn a_portfolio_through_240_days_of_the_late_stage_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn a_portfolio_through_240_days_of_the_late_stage_postgres() {
    scenario(Backend::Postgres);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseAt {
    Filed,
    Judgment,
    Enforcement,
    Closed,
}

fn scenario(b: Backend) {
    let Some(db) = fresh(b) else {
        return;
    };
    let t = db.target.clone();
    let work = tempfile::tempdir().unwrap();
    let w = |s: &str| work.path().join(s).to_str().unwrap().to_owned();
    ok(&[
        "generate",
        "--loans",
        "160",
        "--seed",
        "15",
        "--out",
        &w("gen"),
    ]);
    ok(&[
        "import",
        "--portfolio",
        &w("gen"),
        "--db",
        &t,
        "--quiet",
        "--rejects",
        "/dev/null",
    ]);
    std::fs::write(
        w("policy.toml"),
        "[policy]\nname = \"scenario\"\n[limitation_years]\nUS = 6\n\
         [[settlement]]\nmin_dpd = 91\nmax_discount_bps = 3000\n",
    )
    .unwrap();
    ok(&[
        "policy",
        "set",
        &w("policy.toml"),
        "--effective-from",
        "2020-01-01",
        "--db",
        &t,
    ]);
    for (u, role) in [("sue", "supervisor"), ("alice", "agent")] {
        let o = add_user(&t, u, role, PASSWORD);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    ok(&["keys", "init", "--dir", &w("keys")]);

    let start = jiff::civil::date(2026, 12, 15);
    let mut written_off: BTreeSet<String> = BTreeSet::new();
    let mut closed: BTreeSet<String> = BTreeSet::new();
    // Settlements: id → (loan, amount, to be paid, due date).
    let mut settlements: BTreeMap<String, (String, i64, bool, jiff::civil::Date)> = BTreeMap::new();
    let mut settled_paid: BTreeSet<String> = BTreeSet::new();
    let mut settled_lapsed: BTreeSet<String> = BTreeSet::new();
    let mut cases: BTreeMap<String, (String, CaseAt, i64)> = BTreeMap::new();
    let (mut approved_refs, mut rejected_refs, mut approved_wo, mut rejected_wo) = (0, 0, 0, 0);
    let mut wo_total: i128 = 0;
    let mut wo_face_total: i128 = 0;
    let mut pay_feed = 0;

    for step in 0..=8 {
        let d = start
            .checked_add(jiff::Span::new().days(30 * step))
            .unwrap();
        let ds = d.to_string();
        // The daily run (it reviews the live settlements after its snapshot).
        let out = ok(&[
            "run",
            "--as-of",
            &ds,
            "--db",
            &t,
            "--out",
            &w(&format!("run-{ds}")),
        ]);
        let acc = accounts(&work.path().join(format!("run-{ds}")));
        // A loan written off or closed stays so in the run.
        for l in &written_off {
            assert_eq!(acc[l]["status"], "written_off", "{l} on {ds}");
        }
        for l in &closed {
            assert!(
                ["closed", "paid_off"].contains(&acc[l]["status"].as_str()),
                "{l} on {ds}: {}",
                acc[l]["status"]
            );
        }
        for (id, (loan, _, pay, due)) in &settlements {
            if settled_paid.contains(id) || settled_lapsed.contains(id) {
                continue;
            }
            if *pay {
                let line = out
                    .lines()
                    .find(|l| l.contains(&format!("settlement {id} paid on")))
                    .unwrap_or_else(|| panic!("{id} paid by {ds}: {out}"));
                // The remainder written off is what the run of this date says is left.
                let left: i64 = components(&acc[loan]).iter().sum();
                if left > 0 {
                    assert_eq!(number_after(line, "the loan is closed,"), left, "{line}");
                    wo_total += i128::from(left);
                    wo_face_total += i128::from(left);
                }
                settled_paid.insert(id.clone());
                closed.insert(loan.clone());
            } else if *due < d {
                assert!(
                    out.contains(&format!(
                        "settlement {id} lapsed on {}; nothing was forgiven",
                        due.tomorrow().unwrap()
                    )),
                    "{id} lapses the day after {due}: {out}"
                );
                settled_lapsed.insert(id.clone());
            }
        }
        let prev = d.yesterday().unwrap().to_string();
        for on in [prev.as_str(), ds.as_str()] {
            ok(&[
                "plan",
                "--as-of",
                on,
                "--db",
                &t,
                "--keys",
                &w("keys"),
                "--log",
                &w("audit.jsonl"),
                "--out",
                &w(&format!("plan-{on}")),
            ]);
        }

        // Cases move one step each period: judgment, enforcement with a measure, closed.
        for (case, (_, at, claimed)) in cases.iter_mut() {
            let next = match at {
                CaseAt::Filed => {
                    ok(&[
                        "legal",
                        "judgment",
                        "--case",
                        case,
                        "--amount-awarded-minor",
                        &claimed.to_string(),
                        "--on",
                        &ds,
                        "--db",
                        &t,
                    ]);
                    CaseAt::Judgment
                }
                CaseAt::Judgment => {
                    ok(&["legal", "enforcement", "--case", case, "--db", &t]);
                    ok(&[
                        "legal",
                        "measure",
                        "--case",
                        case,
                        "--measure",
                        &format!("M-{case}"),
                        "--kind",
                        "dishonest_debtor_listing",
                        "--on",
                        &ds,
                        "--authority",
                        "Enforcement bureau",
                        "--db",
                        &t,
                    ]);
                    CaseAt::Enforcement
                }
                CaseAt::Enforcement => {
                    // Backwards is refused: a case in enforcement gets no judgment.
                    let o = arrears(&[
                        "legal",
                        "judgment",
                        "--case",
                        case,
                        "--amount-awarded-minor",
                        "1",
                        "--on",
                        &ds,
                        "--db",
                        &t,
                    ]);
                    assert!(!o.status.success(), "judgment after enforcement: {case}");
                    ok(&[
                        "legal",
                        "close",
                        "--case",
                        case,
                        "--outcome",
                        "terminated",
                        "--db",
                        &t,
                    ]);
                    CaseAt::Closed
                }
                CaseAt::Closed => CaseAt::Closed,
            };
            *at = next;
        }

        // Referrals: every other one approved and filed, the rest rejected.
        let refs = ok(&["legal", "referrals", "--db", &t]);
        for (i, line) in refs.lines().skip(1).enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            let (rid, loan, claimed) = (f[0], f[1], f[4].parse::<i64>().unwrap());
            let verb = if i % 2 == 0 { "approve" } else { "reject" };
            let (done, outp, err) = as_user(&[
                "legal",
                verb,
                rid,
                "--reason",
                "scenario",
                "--user",
                "sue",
                "--password-stdin",
                "--db",
                &t,
            ]);
            assert!(done, "{verb} {rid}: {outp}{err}");
            // Deciding twice is refused.
            let (again, _, _) = as_user(&[
                "legal",
                "approve",
                rid,
                "--reason",
                "twice",
                "--user",
                "sue",
                "--password-stdin",
                "--db",
                &t,
            ]);
            assert!(!again, "{rid} decided twice");
            if verb == "approve" {
                approved_refs += 1;
                let case = format!("C-{rid}");
                ok(&[
                    "legal",
                    "file",
                    "--referral",
                    rid,
                    "--case",
                    &case,
                    "--court",
                    "District Court",
                    "--case-number",
                    &format!("N-{rid}"),
                    "--db",
                    &t,
                ]);
                cases.insert(case, (loan.to_owned(), CaseAt::Filed, claimed));
            } else {
                rejected_refs += 1;
            }
        }

        // Write-off proposals: every other one approved (by component), the rest rejected.
        let props = ok(&["write-off", "proposals", "--db", &t]);
        for (i, line) in props.lines().filter(|l| l.contains("  loan ")).enumerate() {
            let pid = line.split_whitespace().next().unwrap();
            let loan = line
                .split("  loan ")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            let verb = if i % 2 == 0 { "approve" } else { "reject" };
            let (done, outp, err) = as_user(&[
                "write-off",
                verb,
                pid,
                "--reason",
                "scenario",
                "--user",
                "sue",
                "--password-stdin",
                "--db",
                &t,
            ]);
            assert!(done, "{verb} {pid}: {outp}{err}");
            if verb == "approve" {
                approved_wo += 1;
                // The write-off is the balance of this date's run, component by component.
                let c = components(&acc[loan]);
                let amount = number_after(&outp, "),");
                assert!(
                    outp.contains(&format!(
                        "principal {}, interest {}, fees {}, penalty {}",
                        c[0], c[1], c[2], c[3]
                    )),
                    "{loan} on {ds}: {outp}"
                );
                assert_eq!(amount, c.iter().sum::<i64>(), "{outp}");
                assert!(outp.contains(&format!("as of {ds}")), "{outp}");
                wo_total += i128::from(amount);
                wo_face_total += i128::from(c.iter().sum::<i64>());
                written_off.insert(loan.to_owned());
            } else {
                rejected_wo += 1;
            }
        }

        // Settlements: two late loans a period, 10% off, one paid and one left to lapse.
        if step < 7 {
            let candidates: Vec<String> = acc
                .values()
                .filter(|r| {
                    r["status"] == "delinquent"
                        && r["dpd"].parse::<u32>().unwrap() >= 91
                        && !written_off.contains(&r["loan_id"])
                        && !closed.contains(&r["loan_id"])
                        && !settlements.values().any(|s| s.0 == r["loan_id"])
                })
                .map(|r| r["loan_id"].clone())
                .take(2)
                .collect();
            for (k, loan) in candidates.iter().enumerate() {
                let id = format!("S-{ds}-{loan}");
                let due = d.checked_add(jiff::Span::new().days(10)).unwrap();
                let (done, outp, err) = as_user(&[
                    "settlement",
                    "offer",
                    "--loan",
                    loan,
                    "--discount-bps",
                    "1000",
                    "--first-due",
                    &due.to_string(),
                    "--accept-by",
                    &d.checked_add(jiff::Span::new().days(5))
                        .unwrap()
                        .to_string(),
                    "--id",
                    &id,
                    "--on",
                    &ds,
                    "--user",
                    "alice",
                    "--password-stdin",
                    "--db",
                    &t,
                ]);
                assert!(done, "offer on {loan}: {outp}{err}");
                let face: i64 = components(&acc[loan]).iter().sum();
                let amount = face - half_even(face, 1000);
                let (done, outp, err) = as_user(&[
                    "settlement",
                    "accept",
                    &id,
                    "--on",
                    &ds,
                    "--user",
                    "alice",
                    "--password-stdin",
                    "--db",
                    &t,
                ]);
                assert!(done, "accept {id}: {outp}{err}");
                let pay = k == 0;
                if pay {
                    pay_feed += 1;
                    let feed = work.path().join(format!("pay-{pay_feed}"));
                    std::fs::create_dir_all(&feed).unwrap();
                    std::fs::write(
                        feed.join("payments.csv"),
                        format!(
                            "payment_id,loan_id,received_at,amount_minor\nSP-{id},{loan},{}T12:00:00Z,{amount}\n",
                            d.checked_add(jiff::Span::new().days(2)).unwrap()
                        ),
                    )
                    .unwrap();
                    ok(&[
                        "import",
                        "--portfolio",
                        feed.to_str().unwrap(),
                        "--db",
                        &t,
                        "--quiet",
                        "--rejects",
                        "/dev/null",
                    ]);
                }
                // The amount the store holds is the balance less the discount, rounded once.
                let listed = ok(&["settlement", "list", "--loan", loan, "--db", &t]);
                assert!(
                    listed.contains(&id) && listed.contains("accepted"),
                    "{listed}"
                );
                settlements.insert(id, (loan.clone(), amount, pay, due));
            }
        }
    }
    let list = ok(&["settlement", "list", "--db", &t]);
    for (id, (_, amount, _, _)) in &settlements {
        let line = list
            .lines()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("{id}: {list}"));
        assert!(
            line.contains(&format!("({amount} minor units)")),
            "{id} pays {amount}: {line}"
        );
    }
    // Everything the scenario meant to happen happened.
    assert!(
        approved_refs >= 1 && rejected_refs >= 1,
        "referrals: {approved_refs} approved, {rejected_refs} rejected"
    );
    assert!(
        cases.values().any(|c| c.1 == CaseAt::Closed)
            && cases.values().any(|c| c.1 != CaseAt::Filed),
        "cases: {cases:?}"
    );
    assert!(
        approved_wo >= 1 && rejected_wo >= 1,
        "write-offs: {approved_wo} approved, {rejected_wo} rejected"
    );
    assert!(
        !settled_paid.is_empty() && !settled_lapsed.is_empty(),
        "settlements paid {settled_paid:?}, lapsed {settled_lapsed:?}"
    );
    // Summed over the portfolio: written off = the balances of the snapshots they were taken on.
    assert_eq!(wo_total, wo_face_total);
    // The report's settlements table agrees with what happened.
    let rep = work.path().join("report");
    ok(&[
        "report",
        "--from",
        &start.to_string(),
        "--to",
        &start
            .checked_add(jiff::Span::new().days(240))
            .unwrap()
            .to_string(),
        "--db",
        &t,
        "--out",
        rep.to_str().unwrap(),
    ]);
    let st = std::fs::read_to_string(rep.join("settlements.csv")).unwrap();
    let count = |status: &str| -> u64 {
        st.lines()
            .filter(|l| l.starts_with(&format!("{status},")))
            .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(count("paid"), settled_paid.len() as u64, "{st}");
    assert_eq!(count("lapsed"), settled_lapsed.len() as u64, "{st}");
}
