//! Content cases (`tests/content/violations.toml`) and ordinary reminders that must pass
//! (`tests/content/reminders.toml`), each reported by name when it fails.

use arrears_policy::{Binding, Identity, Language, LegalStatus, check_identity, check_template};
use serde::Deserialize;
use std::collections::BTreeSet;

fn read(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/content")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Violations {
    case: Vec<ViolationCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViolationCase {
    name: String,
    language: String,
    text: String,
    legal_case_status: Option<String>,
    #[serde(default)]
    visit_scheduled: bool,
    expect: Vec<String>,
}

#[test]
fn content_cases() {
    let file: Violations =
        toml::from_str(&read("violations.toml")).expect("violations.toml parses");
    let mut failures = Vec::new();
    for c in &file.case {
        let language = Language::parse(&c.language).expect("language");
        let binding = Binding {
            legal_case_status: c
                .legal_case_status
                .as_deref()
                .map(|s| LegalStatus::parse(s).expect("status")),
            visit_scheduled: c.visit_scheduled,
        };
        let got: BTreeSet<String> = match check_template(&c.text, language, binding) {
            Ok(()) => BTreeSet::new(),
            Err(v) => v
                .iter()
                .map(|v| format!("{}:{}", v.rule_id, v.category))
                .collect(),
        };
        let want: BTreeSet<String> = c.expect.iter().cloned().collect();
        if got != want {
            failures.push(format!(
                "violations.toml :: {}: expected {want:?}, got {got:?}",
                c.name
            ));
        }
    }
    assert!(
        file.case.len() >= 40,
        "only {} content cases",
        file.case.len()
    );
    assert!(
        failures.is_empty(),
        "{} content cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reminders {
    reminder: Vec<Reminder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reminder {
    language: String,
    lender_name: String,
    verification_code: String,
    text: String,
}

#[test]
fn ordinary_reminders_pass_every_content_rule() {
    let file: Reminders = toml::from_str(&read("reminders.toml")).expect("reminders.toml parses");
    let mut failures = Vec::new();
    for (i, r) in file.reminder.iter().enumerate() {
        let language = Language::parse(&r.language).expect("language");
        if let Err(v) = check_template(&r.text, language, Binding::NONE) {
            failures.push(format!("reminder {} ({}): {v:?}", i + 1, r.language));
        }
        let id = Identity {
            lender_name: &r.lender_name,
            agency_name: None,
            verification_code: Some(&r.verification_code),
            opt_out_required: true,
        };
        if let Err(v) = check_identity(&r.text, &id) {
            failures.push(format!("reminder {} ({}): {v:?}", i + 1, r.language));
        }
    }
    let per_language = |l: &str| file.reminder.iter().filter(|r| r.language == l).count();
    assert!(per_language("zh-CN") >= 10 && per_language("en") >= 10);
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
}
