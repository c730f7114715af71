//! One integration-test binary for arrears-report: hand-worked histories, properties over
//! generated histories, the HTML tables against the CSV files, and the page in a real browser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

mod browser;
mod common;
mod hand;
mod html_tables;
mod props;
