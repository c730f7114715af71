//! Data-driven plan cases: each `tests/plans/*.toml` gives a business date, borrowers, loans
//! (with their daily-run state) and contacts, and the exact actions, blocks and proposals the
//! default strategy must produce — derived by hand from the strategy and the packs. Every
//! plan is also re-verified by the independent checker.

use crate::fixture::{BorrowerSpec, ContactSpec, LoanSpec, world};
use arrears_strategy::{DEFAULT_STRATEGY, Strategy, check_plan};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    as_of: Date,
    plan_time: Option<String>,
    #[serde(default = "yes")]
    codes: bool,
    #[serde(default)]
    borrower: Vec<BorrowerSpec>,
    #[serde(default)]
    loan: Vec<LoanSpec>,
    #[serde(default)]
    contact: Vec<ContactSpec>,
    /// Notices on record (the `notices` table).
    #[serde(default)]
    notice: Vec<NoticeSpec>,
    /// The borrower's choices per channel (the `preferences` table).
    #[serde(default)]
    preference: Vec<PreferenceSpec>,
    /// A lender policy tightening the packs.
    policy: Option<String>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferenceSpec {
    borrower: String,
    channel: String,
    #[serde(default)]
    opted_out: bool,
    hours: Option<[String; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeSpec {
    borrower: String,
    loan: Option<String>,
    kind: String,
    sent_at: Timestamp,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    action: Vec<ExpAction>,
    #[serde(default)]
    blocked: Vec<ExpBlocked>,
    #[serde(default)]
    proposal: Vec<ExpProposal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAction {
    loan: String,
    rule: String,
    kind: String,
    party: Option<String>,
    target: Option<String>,
    not_before: Timestamp,
    not_after: Option<Timestamp>,
    arm: Option<String>,
    language: Option<String>,
    /// Substrings the rendered message must contain.
    #[serde(default)]
    text_contains: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpBlocked {
    loan: String,
    rule: String,
    rule_ids: Vec<String>,
    /// An instant, or "none".
    earliest_allowed: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpProposal {
    loan: String,
    rule: String,
}

fn run_case(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut strategy_text = DEFAULT_STRATEGY.to_owned();
    if let Some(t) = &case.plan_time {
        strategy_text =
            strategy_text.replace("plan_time = \"09:00\"", &format!("plan_time = \"{t}\""));
    }
    let strategy = Strategy::parse(&strategy_text).unwrap();
    let w = world(
        case.as_of,
        &case.borrower,
        &case.loan,
        &case.contact,
        strategy,
    );
    let mut lifecycle = arrears_domain::Lifecycle::default();
    for (i, n) in case.notice.iter().enumerate() {
        lifecycle
            .notices
            .push(arrears_domain::lifecycle::NoticeRow {
                notice_id: format!("N{i}").into(),
                borrower_id: arrears_domain::types::BorrowerId::parse("b", &n.borrower).unwrap(),
                loan_id: n
                    .loan
                    .as_deref()
                    .map(|l| arrears_domain::types::LoanId::parse("l", l).unwrap()),
                kind: n.kind.clone().into(),
                sent_at: n.sent_at,
                channel: "letter".into(),
            });
    }
    for p in &case.preference {
        let t = |s: &str| s.parse::<jiff::civil::Time>().unwrap();
        lifecycle
            .preferences
            .push(arrears_domain::lifecycle::PreferenceRow {
                borrower_id: arrears_domain::types::BorrowerId::parse("b", &p.borrower).unwrap(),
                channel: p.channel.clone().into(),
                opted_out: p.opted_out,
                contact_from: p.hours.as_ref().map(|h| t(&h[0])),
                contact_to: p.hours.as_ref().map(|h| t(&h[1])),
                updated_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            });
    }
    let w = w.with_lifecycle(&lifecycle, case.policy.as_deref());
    let plan = w.plan(case.codes);
    let mut errs = Vec::new();
    let name = format!(
        "{} ({})",
        path.file_name().unwrap().to_string_lossy(),
        case.description
    );

    let mut got: Vec<String> = plan
        .actions
        .iter()
        .map(|a| format!("{} {}", a.loan_id, a.rule_id))
        .collect();
    let mut want: Vec<String> = case
        .expect
        .action
        .iter()
        .map(|a| format!("{} {}", a.loan, a.rule))
        .collect();
    got.sort();
    want.sort();
    if got != want {
        errs.push(format!("{name}: actions {got:?}, expected {want:?}"));
    }
    for e in &case.expect.action {
        let Some(a) = plan
            .actions
            .iter()
            .find(|a| a.loan_id.as_str() == e.loan && a.rule_id == e.rule)
        else {
            continue;
        };
        let mut check = |what: &str, got: String, want: Option<String>| {
            if let Some(w) = want
                && got != w
            {
                errs.push(format!(
                    "{name}: {} {}: {what} {got}, expected {w}",
                    e.loan, e.rule
                ));
            }
        };
        check("kind", a.kind.code().into(), Some(e.kind.clone()));
        check("party", a.party.code().into(), e.party.clone());
        check(
            "target",
            a.target
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            e.target.clone(),
        );
        check(
            "not_before",
            a.not_before.to_string(),
            Some(e.not_before.to_string()),
        );
        check(
            "not_after",
            a.not_after.to_string(),
            e.not_after.map(|t| t.to_string()),
        );
        check("arm", a.arm.clone(), e.arm.clone());
        check("language", a.language.tag().into(), e.language.clone());
        for s in &e.text_contains {
            if !a.message.as_deref().unwrap_or("").contains(s.as_str()) {
                errs.push(format!(
                    "{name}: {} {}: message {:?} lacks {s:?}",
                    e.loan, e.rule, a.message
                ));
            }
        }
    }

    let mut got: Vec<String> = plan
        .blocked
        .iter()
        .map(|b| format!("{} {}", b.loan_id, b.rule_id))
        .collect();
    let mut want: Vec<String> = case
        .expect
        .blocked
        .iter()
        .map(|b| format!("{} {}", b.loan, b.rule))
        .collect();
    got.sort();
    want.sort();
    if got != want {
        errs.push(format!("{name}: blocked {got:?}, expected {want:?}"));
    }
    for e in &case.expect.blocked {
        let Some(b) = plan
            .blocked
            .iter()
            .find(|b| b.loan_id.as_str() == e.loan && b.rule_id == e.rule)
        else {
            continue;
        };
        let ids: Vec<&str> = b.rule_ids.iter().map(|r| r.as_str()).collect();
        if ids != e.rule_ids {
            errs.push(format!(
                "{name}: {} {}: rule_ids {ids:?}, expected {:?}",
                e.loan, e.rule, e.rule_ids
            ));
        }
        let earliest = b
            .earliest_allowed
            .map_or("none".to_owned(), |t| t.to_string());
        let want = if e.earliest_allowed == "none" {
            "none".to_owned()
        } else {
            e.earliest_allowed.parse::<Timestamp>().unwrap().to_string()
        };
        if earliest != want {
            errs.push(format!(
                "{name}: {} {}: earliest_allowed {earliest}, expected {want}",
                e.loan, e.rule
            ));
        }
    }

    let mut got: Vec<String> = plan
        .proposals
        .iter()
        .map(|p| format!("{} {}", p.loan_id, p.rule_id))
        .collect();
    let mut want: Vec<String> = case
        .expect
        .proposal
        .iter()
        .map(|p| format!("{} {}", p.loan, p.rule))
        .collect();
    got.sort();
    want.sort();
    if got != want {
        errs.push(format!("{name}: proposals {got:?}, expected {want:?}"));
    }
    for v in check_plan(&plan, &w.input()) {
        errs.push(format!("{name}: checker: {v}"));
    }
    errs
}

#[test]
fn plan_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected the plan cases in {}",
        dir.display()
    );
    let errs: Vec<String> = files.iter().flat_map(|f| run_case(f)).collect();
    assert!(
        errs.is_empty(),
        "{} problems:\n{}",
        errs.len(),
        errs.join("\n")
    );
}
