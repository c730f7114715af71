//! Runs every engine case in `tests/cases/*.toml` and reports every failing one by file and
//! name.
//!
//! A case file has shared `[facts]`, `[[history]]` / `[[series]]` records and `[proposed]`
//! defaults, an optional `policy` (a lender policy text tightening the embedded packs), and
//! `[[case]]`s, each with an instant, overrides of the facts and proposal, extra history, and
//! the expected decision: `allow`, or `deny` with the exact rule ids and `earliest_allowed`
//! (absent = none). Beyond the expectation, every expected `earliest_allowed` is checked to be
//! allowed and the second before it denied.

use crate::dto::{FactsDto, ProposedDto, RecordDto, Res, SeriesDto, from_table, overlay, ts};
use arrears_policy::{ContactRecord, Decision, PackSet, Policy, RuleId, check};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    description: String,
    policy: Option<String>,
    facts: toml::Table,
    #[serde(default)]
    history: Vec<RecordDto>,
    #[serde(default)]
    series: Vec<SeriesDto>,
    #[serde(default)]
    proposed: toml::Table,
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    at: String,
    #[serde(default)]
    facts: toml::Table,
    #[serde(default)]
    proposed: toml::Table,
    #[serde(default)]
    extra_history: Vec<RecordDto>,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: String,
    #[serde(default)]
    rule_ids: Vec<String>,
    earliest_allowed: Option<String>,
}

/// What one case found: a failure message, or the rule ids it expected.
struct Outcome {
    failure: Option<String>,
    expected_rules: Vec<RuleId>,
}

fn case_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn describe(d: &Decision) -> String {
    match d {
        Decision::Allow(_) => "allow".into(),
        Decision::Deny {
            rule_ids,
            earliest_allowed,
        } => format!(
            "deny {:?} earliest {}",
            rule_ids.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            earliest_allowed.map_or("none".into(), |t| t.to_string())
        ),
    }
}

fn run_case(
    file: &CaseFile,
    case: &Case,
    packs: &PackSet,
    base_history: &[ContactRecord],
) -> Res<Outcome> {
    let facts_dto: FactsDto = from_table(overlay(&file.facts, &case.facts))?;
    let facts = facts_dto.build()?;
    let borrower = facts.borrower_id.as_str().to_owned();
    let proposed_dto: ProposedDto = from_table(overlay(&file.proposed, &case.proposed))?;
    let proposed = proposed_dto.build(&borrower)?;
    let mut history = base_history.to_vec();
    for r in &case.extra_history {
        history.push(r.build(&borrower)?);
    }
    let at = ts(&case.at)?;
    let expected_rules: Vec<RuleId> = case
        .expect
        .rule_ids
        .iter()
        .map(|r| r.parse::<RuleId>().map_err(|e| e.to_string()))
        .collect::<Res<_>>()?;
    let mut sorted_expected = expected_rules.clone();
    sorted_expected.sort();
    let expected_earliest = case
        .expect
        .earliest_allowed
        .as_deref()
        .map(ts)
        .transpose()?;

    let decision = check(&proposed, &facts, &history, at, packs);
    let ok = match (&decision, case.expect.decision.as_str()) {
        (Decision::Allow(p), "allow") => {
            // The permit carries what was proposed and when.
            p.at() == at
                && p.channel() == proposed.channel
                && p.borrower_id() == &proposed.borrower_id
        }
        (
            Decision::Deny {
                rule_ids,
                earliest_allowed,
            },
            "deny",
        ) => rule_ids == &sorted_expected && *earliest_allowed == expected_earliest,
        (_, "allow" | "deny") => false,
        (_, other) => return Err(format!("expect.decision {other:?} is not allow or deny")),
    };
    if !ok {
        let want = if case.expect.decision == "allow" {
            "allow".to_owned()
        } else {
            format!(
                "deny {:?} earliest {}",
                sorted_expected
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>(),
                expected_earliest.map_or("none".into(), |t| t.to_string())
            )
        };
        return Ok(Outcome {
            failure: Some(format!("expected {want}, got {}", describe(&decision))),
            expected_rules,
        });
    }
    // The earliest instant must itself be allowed, and the second before it denied.
    if let Some(e) = expected_earliest {
        let at_e = check(&proposed, &facts, &history, e, packs);
        if !at_e.is_allowed() {
            return Ok(Outcome {
                failure: Some(format!(
                    "earliest_allowed {e} is itself {}",
                    describe(&at_e)
                )),
                expected_rules,
            });
        }
        let before: Timestamp = e - SignedDuration::from_secs(1);
        if before >= at && check(&proposed, &facts, &history, before, packs).is_allowed() {
            return Ok(Outcome {
                failure: Some(format!("{before}, before earliest_allowed, is allowed")),
                expected_rules,
            });
        }
    }
    Ok(Outcome {
        failure: None,
        expected_rules,
    })
}

#[test]
fn engine_cases() {
    let embedded = PackSet::embedded().expect("embedded packs parse");
    let mut failures = Vec::new();
    let mut ran = 0usize;
    let mut covered: BTreeSet<RuleId> = BTreeSet::new();
    for path in case_files() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("readable case file");
        let file: CaseFile = match toml::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        assert!(
            !file.description.trim().is_empty(),
            "{name}: empty description"
        );
        let packs = match &file.policy {
            Some(p) => match Policy::parse(p).and_then(|p| embedded.tighten(&p)) {
                Ok(packs) => packs,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            },
            None => embedded.clone(),
        };
        let borrower = file
            .facts
            .get("borrower_id")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let mut history = Vec::new();
        let built: Res<()> = (|| {
            for r in &file.history {
                history.push(r.build(&borrower)?);
            }
            for s in &file.series {
                history.extend(s.build(&borrower)?);
            }
            Ok(())
        })();
        if let Err(e) = built {
            failures.push(format!("{name}: history: {e}"));
            continue;
        }
        for case in &file.case {
            ran += 1;
            match run_case(&file, case, &packs, &history) {
                Ok(Outcome {
                    failure,
                    expected_rules,
                }) => {
                    covered.extend(expected_rules);
                    if let Some(f) = failure {
                        failures.push(format!("{name} :: {}: {f}", case.name));
                    }
                }
                Err(e) => failures.push(format!("{name} :: {}: bad case: {e}", case.name)),
            }
        }
    }
    println!("{ran} engine cases run");
    assert!(ran >= 60, "only {ran} engine cases");
    // Every rule `check` decides is exercised by some case (retention and charge-off are
    // decided by lifecycle functions and tested there).
    let not_decided_by_check = [RuleId::CnRecords, RuleId::UsRecords, RuleId::UsChargeoff];
    let missing: Vec<&str> = RuleId::ALL
        .iter()
        .filter(|r| !covered.contains(r) && !not_decided_by_check.contains(r))
        .map(|r| r.as_str())
        .collect();
    if !missing.is_empty() {
        failures.push(format!("no case expects these rule ids: {missing:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} engine cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
