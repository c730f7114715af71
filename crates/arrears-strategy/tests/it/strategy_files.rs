//! Strategy-file validation: each case in `tests/strategies/invalid.toml` is the default
//! strategy with one edit, and the errors it must produce (each naming rule id and field).

use arrears_strategy::{DEFAULT_STRATEGY, Strategy};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    /// Replace the first occurrence of `replace` by `with` in the default strategy.
    replace: String,
    with: String,
    errors: Vec<String>,
}

#[test]
fn invalid_strategies_are_refused_with_rule_and_field() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/strategies/invalid.toml"
    ))
    .unwrap();
    let file: File = toml::from_str(&text).unwrap();
    assert!(file.case.len() >= 10);
    let mut problems = Vec::new();
    for c in &file.case {
        assert!(
            DEFAULT_STRATEGY.contains(&c.replace),
            "{}: {:?} not in the default strategy",
            c.name,
            c.replace
        );
        let edited = DEFAULT_STRATEGY.replacen(&c.replace, &c.with, 1);
        match Strategy::parse(&edited) {
            Ok(_) => problems.push(format!("{}: accepted", c.name)),
            Err(errs) => {
                let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
                for want in &c.errors {
                    if !shown.iter().any(|s| s.contains(want.as_str())) {
                        problems.push(format!(
                            "{}: no error containing {want:?} in {shown:#?}",
                            c.name
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
