//! The collection strategy of Arrears and today's action plan. A strategy is data: a TOML
//! decision table ([`Strategy`]) a collections manager can read and diff — rules with an id,
//! conditions on the account (stage, bucket, dpd, overdue amount, product, jurisdiction,
//! promise status, last contact outcome, days since the last contact, flags), an action (SMS,
//! e-mail, push, call task, letter, agency placement, legal review, write-off proposal, credit
//! report) with a cadence and a message template per language, and champion/challenger arms
//! chosen by a stable hash of the loan id. Templates are minijinja text vetted against the
//! content and identity rules when loaded: only the loader makes a [`CheckedTemplate`], so a
//! failing template cannot be rendered. [`prove_cadence`] shows statically that a strategy
//! never proposes more calls than any pack's frequency caps allow. [`plan`] turns the daily
//! run's account states into actions, each holding the [`arrears_policy::PermittedContact`]
//! that `arrears_policy::check` issued for it, and blocks with rule ids; [`check_plan`] is an
//! independent checker, written apart from the planner, that re-derives hours, caps, holds
//! and party rules from the packs. The crate is pure: no file, no clock (the plan instant is
//! derived from the business date passed in).

mod arms;
mod checker;
mod inputs;
mod money;
mod planner;
mod proof;
mod strategy;
mod template;

pub use arms::{arm_bucket, fnv1a64};
pub use checker::{Violation, check_plan};
pub use inputs::{
    BorrowerInput, LoanExtras, PriorAction, PromiseStatus, borrower_inputs, loan_extras,
    loan_facts, paid_since, promise_status,
};
pub use money::format_amount;
pub use planner::{
    Blocked, CodeIssuer, CodeRequest, InternalProposal, LoanView, Plan, PlanInput, PlanSummary,
    PlannedAction, plan, plan_instant,
};
pub use proof::{ProofFailure, prove_cadence};
pub use strategy::{
    ActionKind, ActionSpec, Arm, Cadence, Conditions, DEFAULT_STRATEGY, Flags, LastOutcome, Range,
    Strategy, StrategyError, StrategyRule,
};
pub use template::{CheckedTemplate, MessageVars, RenderError, TemplateSet, opt_out_text};
