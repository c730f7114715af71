//! Planning the day: the daily run's account states, every borrower's decision context (the
//! lifecycle records included: payment plans, placements, sales, notices, preferences, legal
//! cases), the strategy's planner under the lender's packs, and the independent plan checker.
//! `arrears plan` (files or store) and the server's queue and dashboard all call
//! [`plan_day`]; nothing else assembles a plan.

use arrears_domain::{Config, Lifecycle, Portfolio};
use arrears_engine::AccountState;
use arrears_policy::PackSet;
use arrears_strategy::{
    BorrowerInput, CodeIssuer, LoanExtras, Plan, PlanInput, PriorAction, PromiseStatus, Strategy,
    Violation,
};
use jiff::civil::Date;

/// What a plan is made from.
#[derive(Debug)]
pub struct PlanRequest<'a> {
    pub as_of: Date,
    pub portfolio: &'a Portfolio,
    pub lifecycle: &'a Lifecycle,
    pub config: &'a Config,
    pub strategy: &'a Strategy,
    pub packs: &'a PackSet,
    /// Actions earlier plans proposed (from the audit log), for cadences.
    pub prior_actions: &'a [PriorAction],
    /// The first message sequence number.
    pub first_sequence: u64,
    /// A later policy version and the instant it takes effect (midnight UTC of its effective
    /// date), when one does: no action is planned past that instant under the packs of the
    /// version it replaces.
    pub next_policy: Option<(jiff::Timestamp, &'a PackSet)>,
}

/// The day's plan with what it was made from.
#[derive(Debug)]
pub struct DayPlan {
    pub states: Vec<AccountState>,
    pub borrowers: Vec<BorrowerInput>,
    pub extras: Vec<LoanExtras>,
    pub promises: Vec<PromiseStatus>,
    pub plan: Plan,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the daily run failed: {0}")]
    Run(String),
    #[error(
        "the independent plan checker found {} violation(s); nothing was written (this is a bug, please report it):\n  {}",
        .0.len(),
        .0.iter().take(20).map(ToString::to_string).collect::<Vec<_>>().join("\n  ")
    )]
    Checker(Vec<Violation>),
}

/// A policy version takes effect at `from`: an action open past it closes the second before,
/// and one that would start at or after it is decided again under the new packs (blocked
/// when they deny it).
fn hand_over(plan: &mut Plan, borrowers: &[BorrowerInput], from: jiff::Timestamp, next: &PackSet) {
    let Ok(last_old) = from.checked_sub(jiff::SignedDuration::from_secs(1)) else {
        return;
    };
    let actions = std::mem::take(&mut plan.actions);
    for mut a in actions {
        if a.not_before < from {
            a.not_after = a.not_after.min(last_old);
            plan.actions.push(a);
            continue;
        }
        let b = borrowers
            .iter()
            .find(|b| b.facts.borrower_id == a.borrower_id);
        let decision = b.map(|b| {
            arrears_policy::check(
                a.permit_proposal(),
                &b.facts,
                &b.history,
                a.not_before,
                next,
            )
        });
        match decision {
            Some(arrears_policy::Decision::Allow(_)) => plan.actions.push(a),
            Some(arrears_policy::Decision::Deny {
                rule_ids,
                earliest_allowed,
            }) => plan
                .blocked
                .push(a.into_blocked(rule_ids, earliest_allowed)),
            None => plan
                .blocked
                .push(a.into_blocked(vec![arrears_policy::RuleId::SysFactsMismatch], None)),
        }
    }
}

/// Runs the day, builds every decision context and plans it; a plan the independent checker
/// finds a violation in is refused.
pub fn plan_day(req: &PlanRequest<'_>, codes: &dyn CodeIssuer) -> Result<DayPlan, PlanError> {
    let p = req.portfolio;
    let states = arrears_engine::run_day(p, req.as_of, req.config)
        .map_err(|e| PlanError::Run(e.to_string()))?;
    let borrowers = arrears_strategy::borrower_inputs(p, req.lifecycle);
    let extras = arrears_strategy::loan_extras(p, &borrowers);
    let promises = arrears_strategy::promise_status(p, req.as_of, &req.config.business_tz);
    let input = PlanInput {
        as_of: req.as_of,
        portfolio: p,
        states: &states,
        stages: &req.config.stages,
        buckets: &req.config.buckets,
        borrowers: &borrowers,
        extras: &extras,
        promises: &promises,
        prior_actions: req.prior_actions,
        strategy: req.strategy,
        packs: req.packs,
        first_sequence: req.first_sequence,
    };
    let mut plan = arrears_strategy::plan(&input, codes);
    if let Some((from, next)) = req.next_policy {
        hand_over(&mut plan, &borrowers, from, next);
    }
    let violations = arrears_strategy::check_plan(&plan, &input);
    if !violations.is_empty() {
        return Err(PlanError::Checker(violations));
    }
    Ok(DayPlan {
        states,
        borrowers,
        extras,
        promises,
        plan,
    })
}
