//! The one integration-test binary of arrears-policy: data-driven engine cases
//! (`tests/cases/*.toml`), content cases (`tests/content/*.toml`), pack and policy files,
//! and property tests of `earliest_allowed`.

// Test helpers outside `#[test]` functions fail loudly on bad test data, by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cases;
mod content;
mod dto;
mod packs;
mod props;
