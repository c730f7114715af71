//! The independent checker re-verifies whole plans of generated portfolios: zero violations.
//! And it is not blind: plans altered after planning are caught.

use crate::fixture::{BorrowerSpec, ContactSpec, LoanSpec, world};
use arrears_strategy::{DEFAULT_STRATEGY, check_plan};
type Strategy = arrears_strategy::Strategy;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use proptest::prelude::{ProptestConfig, prop_assert};
use proptest::strategy::Strategy as _;

const JURISDICTIONS: &[(&str, &[&str], &str)] = &[
    ("CN", &["Asia/Shanghai", "Asia/Urumqi"], "+86138001380"),
    ("CN-31", &["Asia/Shanghai"], "+86139001390"),
    (
        "US-NY",
        &["America/New_York", "America/Chicago"],
        "+1212555",
    ),
    (
        "US-CA",
        &["America/Los_Angeles", "Pacific/Honolulu"],
        "+1310555",
    ),
    ("GB", &["Europe/London"], "+447700900"),
];
const DATES: &[&str] = &[
    "2026-03-08",
    "2026-11-01",
    "2026-11-28",
    "2026-03-29",
    "2026-10-25",
];
const PLAN_TIMES: &[&str] = &["07:00", "09:00", "13:30", "20:45", "21:30"];
const DPDS: &[u32] = &[
    0, 1, 2, 3, 5, 7, 8, 12, 20, 45, 61, 90, 95, 121, 130, 181, 200,
];
const OUTCOMES: &[&str] = &[
    "no_answer",
    "right_party",
    "promise",
    "refused",
    "busy",
    "voicemail",
    "wrong_party",
    "delivered",
];

#[derive(Debug, Clone)]
struct GenBorrower {
    j: usize,
    zone: usize,
    phone_zone: Option<usize>,
    flags: [bool; 6],
    breathing: Option<i64>,
    loans: Vec<(usize, i64, u8)>,
    contacts: Vec<(u8, i64, i64, usize, Option<usize>)>,
}

fn borrower() -> impl proptest::strategy::Strategy<Value = GenBorrower> {
    (
        0..JURISDICTIONS.len(),
        0..2usize,
        proptest::option::weighted(0.3, 0..2usize),
        proptest::array::uniform6(proptest::bool::weighted(0.08)),
        proptest::option::weighted(0.1, -5i64..10),
        proptest::collection::vec((0..DPDS.len(), 0i64..900_000, 0u8..4), 1..4),
        proptest::collection::vec(
            (
                0u8..3,
                0i64..10,
                0i64..1440,
                0..OUTCOMES.len(),
                proptest::option::of(0..3usize),
            ),
            0..14,
        ),
    )
        .prop_map(
            |(j, zone, phone_zone, flags, breathing, loans, contacts)| GenBorrower {
                j,
                zone,
                phone_zone,
                flags,
                breathing,
                loans,
                contacts,
            },
        )
}

fn build(
    as_of: Date,
    gens: &[GenBorrower],
) -> (Vec<BorrowerSpec>, Vec<LoanSpec>, Vec<ContactSpec>) {
    let (mut bs, mut ls, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, g) in gens.iter().enumerate() {
        let (j, zones, prefix) = JURISDICTIONS[g.j];
        let zone = zones[g.zone % zones.len()];
        let phone = format!("{prefix}{:04}", i % 3);
        let id = format!("B{i}");
        bs.push(BorrowerSpec {
            id: id.clone(),
            name: "Jane Doe".into(),
            jurisdiction: j.into(),
            timezone: zone.into(),
            phone_timezone: g
                .phone_zone
                .map(|z| JURISDICTIONS[(g.j + 2 + z) % JURISDICTIONS.len()].1[0].to_owned()),
            phone: Some(phone.clone()),
            email: Some(format!("b{i}@example.com")),
            language: None,
            deceased: g.flags[0],
            bankrupt: g.flags[1],
            cease_contact: g.flags[2],
            dispute_open: g.flags[3],
            hardship: g.flags[4],
            breathing_space_until: g
                .breathing
                .and_then(|d| as_of.checked_add(jiff::Span::new().days(d)).ok()),
            attorney_phone: g.flags[5].then(|| format!("{prefix}9{:03}", i % 1000)),
            attorney_email: None,
        });
        let currency = match &j[..2] {
            "CN" => "CNY",
            "US" => "USD",
            _ => "GBP",
        };
        for (k, (d, overdue, promise)) in g.loans.iter().enumerate() {
            let dpd = DPDS[*d];
            let next = as_of
                .checked_add(jiff::Span::new().days(i64::from(*promise)))
                .unwrap();
            ls.push(LoanSpec {
                id: format!("L{i}-{k}"),
                borrower: id.clone(),
                currency: currency.into(),
                product: "cash-loan-12m".into(),
                dpd,
                overdue_minor: if dpd == 0 { 0 } else { *overdue + 1 },
                oldest_unpaid_due_date: (dpd > 0).then(|| {
                    as_of
                        .checked_sub(jiff::Span::new().days(i64::from(dpd)))
                        .unwrap()
                }),
                upcoming: vec![(next, 10_000)],
                promise: Some(["none", "pending", "kept", "broken"][usize::from(*promise)].into()),
            });
        }
        let tz = TimeZone::get(zone).unwrap();
        for (ch, days_back, minute, outcome, loan) in &g.contacts {
            let day = as_of
                .checked_sub(jiff::Span::new().days(*days_back))
                .unwrap();
            let at = day
                .to_datetime(jiff::civil::Time::midnight())
                .checked_add(jiff::Span::new().minutes(*minute))
                .unwrap()
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp();
            let channel = ["call", "sms", "email"][usize::from(*ch)];
            cs.push(ContactSpec {
                borrower: id.clone(),
                loan: loan
                    .filter(|l| *l < g.loans.len())
                    .map(|l| format!("L{i}-{l}")),
                channel: channel.into(),
                at,
                outcome: OUTCOMES[*outcome].into(),
                target: Some(if channel == "email" {
                    format!("b{i}@example.com")
                } else {
                    phone.clone()
                }),
                party: Some("borrower".into()),
            });
        }
    }
    (bs, ls, cs)
}

#[test]
fn the_checker_finds_no_violation_in_generated_plans() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (actions, blocked, rescheduled) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let inputs = (
        0..DATES.len(),
        0..PLAN_TIMES.len(),
        1u32..4,
        proptest::collection::vec(borrower(), 1..7),
    );
    let result = runner.run(&inputs, |(date, plan_time, calls, gens)| {
        let as_of: Date = DATES[date].parse().unwrap();
        let text = DEFAULT_STRATEGY
            .replace(
                "plan_time = \"09:00\"",
                &format!("plan_time = \"{}\"", PLAN_TIMES[plan_time]),
            )
            .replace(
                "max_calls_per_borrower_per_day = 1",
                &format!("max_calls_per_borrower_per_day = {calls}"),
            );
        let strategy = Strategy::parse(&text).unwrap();
        let (bs, ls, cs) = build(as_of, &gens);
        let w = world(as_of, &bs, &ls, &cs, strategy);
        let plan = w.plan(true);
        let v = check_plan(&plan, &w.input());
        prop_assert!(
            v.is_empty(),
            "{} violations:\n{}",
            v.len(),
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        for a in &plan.actions {
            prop_assert!(
                !plan.blocked.iter().any(|b| b.loan_id == a.loan_id),
                "a loan both planned and blocked"
            );
        }
        actions.fetch_add(plan.actions.len(), Ordering::Relaxed);
        blocked.fetch_add(plan.blocked.len(), Ordering::Relaxed);
        rescheduled.fetch_add(
            plan.actions
                .iter()
                .filter(|a| !a.deferred_by.is_empty())
                .count(),
            Ordering::Relaxed,
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Not vacuous: the generated portfolios produce many actions, blocks and reschedules.
    let (a, b, r) = (
        actions.into_inner(),
        blocked.into_inner(),
        rescheduled.into_inner(),
    );
    assert!(
        a > 200 && b > 100 && r > 20,
        "actions {a}, blocked {b}, rescheduled {r}"
    );
}

fn one_call_world() -> crate::fixture::World {
    let as_of: Date = "2026-11-28".parse().unwrap();
    let b = BorrowerSpec {
        id: "B1".into(),
        name: "Jane Doe".into(),
        jurisdiction: "US-NY".into(),
        timezone: "America/New_York".into(),
        phone: Some("+12125550100".into()),
        ..BorrowerSpec::default()
    };
    let l = |id: &str, dpd| LoanSpec {
        id: id.into(),
        borrower: "B1".into(),
        currency: "USD".into(),
        product: "p".into(),
        dpd,
        overdue_minor: 5000,
        oldest_unpaid_due_date: None,
        upcoming: vec![],
        promise: None,
    };
    world(
        as_of,
        &[b],
        &[l("L1", 20), l("L2", 2)],
        &[],
        Strategy::parse(DEFAULT_STRATEGY).unwrap(),
    )
}

#[test]
fn the_checker_catches_a_plan_altered_after_planning() {
    let w = one_call_world();
    let mut plan = w.plan(true);
    assert!(check_plan(&plan, &w.input()).is_empty());
    let call = plan
        .actions
        .iter()
        .position(|a| a.kind.code() == "call_task")
        .unwrap();
    // Someone moves the call to 22:30 local.
    plan.actions[call].not_after = "2026-11-28T22:30:00-05:00".parse().unwrap();
    let rules: Vec<String> = check_plan(&plan, &w.input())
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(rules.contains(&"US-HOURS".to_owned()), "{rules:?}");
    assert!(
        rules.contains(&"PLAN-SECOND-OPINION".to_owned()),
        "{rules:?}"
    );

    let mut plan = w.plan(true);
    // Someone redirects the call to a relative's number.
    plan.actions[call].target = Some(arrears_policy::Target::parse("+12125550123").unwrap());
    let rules: Vec<String> = check_plan(&plan, &w.input())
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(rules.contains(&"ALL-ONLY-DEBTOR".to_owned()), "{rules:?}");
    assert!(
        rules.contains(&"PLAN-PERMIT-MISMATCH".to_owned()),
        "{rules:?}"
    );

    let mut plan = w.plan(true);
    // Someone rewrites the text after it was vetted.
    let sms = plan
        .actions
        .iter()
        .position(|a| a.kind.code() == "sms")
        .unwrap();
    plan.actions[sms].message = Some("Pay now or we will send the police.".into());
    let rules: Vec<String> = check_plan(&plan, &w.input())
        .into_iter()
        .map(|v| v.rule)
        .collect();
    for r in ["ALL-CONTENT", "ALL-IDENTITY", "PLAN-PERMIT-MISMATCH"] {
        assert!(rules.contains(&r.to_owned()), "{r} missing: {rules:?}");
    }
}

#[test]
fn the_checker_counts_planned_calls_against_the_daily_cap() {
    // A CN borrower with two conversations this morning and two planned calls (the strategy
    // allowing two calls a day) would reach four: the checker must see it even if the
    // planner did not.
    let w = one_call_world();
    let mut plan = w.plan(true);
    let n = plan.actions.len();
    // Duplicate the loan's action id so there are two actions on one loan.
    let first = plan.actions[0].loan_id.clone();
    plan.actions
        .iter_mut()
        .for_each(|a| a.loan_id = first.clone());
    let rules: Vec<String> = check_plan(&plan, &w.input())
        .into_iter()
        .map(|v| v.rule)
        .collect();
    assert!(
        n >= 2 && rules.contains(&"PLAN-ONE-PER-LOAN".to_owned()),
        "{rules:?}"
    );
}

/// Codes from a key whose first code for every message spells a prohibited word.
struct WordyCodes;

impl arrears_strategy::CodeIssuer for WordyCodes {
    fn code(&self, r: &arrears_strategy::CodeRequest<'_>) -> Option<String> {
        // "PAWN1-9S6C5" is a real code of the 1M measurement; it reads as `pawn*`.
        Some(if r.sequence < (1 << 40) {
            "PAWN1-9S6C5".into()
        } else {
            "7K3QM-2XW8T".into()
        })
    }
}

#[test]
fn a_code_that_spells_a_prohibited_word_is_replaced_not_sent() {
    assert!(
        arrears_policy::check_template(
            "PAWN1-9S6C5",
            arrears_policy::Language::En,
            arrears_policy::Binding::NONE
        )
        .is_err()
    );
    let w = one_call_world();
    let plan = arrears_strategy::plan(&w.input(), &WordyCodes);
    let sms = plan
        .actions
        .iter()
        .find(|a| a.kind.code() == "sms")
        .expect("the text is planned");
    assert_eq!(sms.verification_code.as_deref(), Some("7K3QM-2XW8T"));
    assert!(
        sms.sequence >= 1 << 40,
        "the sequence that gave the code is recorded for signing"
    );
    assert!(check_plan(&plan, &w.input()).is_empty());
}
