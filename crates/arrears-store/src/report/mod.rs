//! Portfolio reports.
pub mod html;
