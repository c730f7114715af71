//! Integration tests of the strategy crate: data-driven plan cases (`tests/plans/*.toml`),
//! strategy-file validation cases, and the property test that the independent checker finds
//! no violation in plans of generated portfolios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

mod fixture;
mod plan_cases;
mod plan_property;
mod strategy_files;
