//! Bytes → the lender policy file (`Policy::parse`, then tightening the embedded packs, as
//! `arrears_app::rules::packs_from_text` does for `--policy` and the stored versions), and
//! the same bytes as a pack file (`Pack::parse`).
#![no_main]

use arrears_policy::{Pack, PackSet, Policy};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static EMBEDDED: OnceLock<PackSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let packs = EMBEDDED.get_or_init(|| PackSet::embedded().expect("embedded packs"));
    match Policy::parse(text) {
        Ok(policy) => {
            let _ = policy.name();
            let _ = policy.lender();
            match packs.tighten(&policy) {
                Ok(tightened) => {
                    // Tightening keeps every jurisdiction's pack.
                    assert_eq!(tightened.iter().count(), packs.iter().count());
                    // The path the CLI and server take gives the same answer.
                    assert!(arrears_app::rules::packs_from_text(Some(text), "fuzz").is_ok());
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty(), "an error without a message");
                    assert!(arrears_app::rules::packs_from_text(Some(text), "fuzz").is_err());
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
    match Pack::parse(text) {
        Ok(pack) => {
            let _ = (pack.name(), pack.version(), pack.rules().count());
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
});
