//! The day's plan for the pages: the agent queue and the dashboard's plan figures.
//!
//! The plan is made as `arrears plan --db` makes it, by `arrears_app::plan_day`: the store's
//! portfolio and lifecycle records, the daily run for the business date, the default strategy
//! and the lender's policy in force, the pure planner of `arrears-strategy` and its
//! independent checker. Loading a whole portfolio and planning it
//! takes seconds for a large book, so the plan of a business date is made once, on the first
//! request that needs it, and kept in the server's state (the last few dates); it is the
//! morning's plan, as a batch plan is. What happened since (calls logged, promises) is read
//! live from the store and shown next to it, not planned again. The server has no signing key
//! and no audit log of earlier plans: messages are blocked under ALL-IDENTITY (only call tasks
//! matter to the queue) and cadences are judged without earlier plans' actions.

use crate::AppState;
use arrears_domain::{Config, Portfolio, TimeZoneName};
use arrears_strategy::{ActionKind, CodeIssuer, CodeRequest, Strategy};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How many business dates' plans are kept.
const KEPT_PLANS: usize = 3;

/// One call task of the day's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTask {
    pub loan_id: String,
    pub borrower_id: String,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    /// The strategy rule that chose the call.
    pub rule_id: String,
    pub arm: String,
    pub stage: String,
    pub bucket: String,
    pub dpd: u32,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// The borrower's jurisdiction (`US-NY`) and language (empty when none is on record),
    /// for the supervisor's queue filters and allocation rules.
    pub jurisdiction: String,
    pub language: String,
}

/// A loan the strategy acted on (planned or blocked), with the rule and arm that chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmLoan {
    pub rule_id: String,
    pub arm: String,
    pub loan_id: String,
}

/// The plan of one business date, as the pages use it.
#[derive(Debug)]
pub struct DayPlan {
    pub as_of: Date,
    /// When it was made, and how long that took.
    pub made_at: Timestamp,
    pub millis: u128,
    pub loans: usize,
    /// Call tasks, by priority (1 first; none last), then loan id.
    pub calls: Vec<QueueTask>,
    /// Blocked contacts per rule id (a block with several rules counts under each).
    pub blocked_by_rule: BTreeMap<String, u64>,
    pub blocked: u64,
    pub actions: u64,
    /// Every loan the strategy acted on, with its rule and arm.
    pub arms: Vec<ArmLoan>,
}

/// The plans made so far, newest last.
#[derive(Debug, Default)]
pub struct PlanCache {
    days: Mutex<Vec<Arc<DayPlan>>>,
}

struct NoCodes;

impl CodeIssuer for NoCodes {
    fn code(&self, _: &CodeRequest<'_>) -> Option<String> {
        None
    }
}

/// The state of a promise on `as_of` (`pending`, `kept` or `broken`): the rule of
/// [`arrears_engine::promise_outcome`], over payments given as (instant, amount,
/// reversed at).
pub fn promise_state(
    created_at: Timestamp,
    amount_minor: i64,
    due_date: Date,
    payments: &[(Timestamp, i64, Option<Timestamp>)],
    as_of: Date,
    zone: &TimeZoneName,
) -> &'static str {
    use arrears_engine::{PaymentMove, PromiseTerms, promise_outcome};
    let moves: Vec<PaymentMove> = payments
        .iter()
        .map(|&(received_at, amount_minor, reversed_at)| PaymentMove {
            received_at,
            amount_minor,
            reversed_at,
        })
        .collect();
    let terms = PromiseTerms {
        created_at,
        amount_minor,
        due_date,
    };
    promise_outcome(&terms, &moves, as_of, zone).code()
}

/// The default strategy, parsed once.
pub(crate) fn default_strategy() -> Result<&'static Strategy, String> {
    static S: std::sync::OnceLock<Result<Strategy, String>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        Strategy::parse(arrears_strategy::DEFAULT_STRATEGY).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The day's plan over `p` and its lifecycle records, as `arrears plan --db` makes it
/// (without codes, files or the audit log): `arrears_app::plan_day`, the one planning path,
/// for `/v1/plan`, the queues and the pages.
pub(crate) fn plan_portfolio(
    p: &Portfolio,
    lifecycle: &arrears_domain::Lifecycle,
    as_of: Date,
    config: &Config,
    strategy: &Strategy,
    policies: &crate::DayPolicies,
) -> Result<(arrears_strategy::Plan, Vec<arrears_engine::AccountState>), String> {
    let req = arrears_app::PlanRequest {
        as_of,
        portfolio: p,
        lifecycle,
        config,
        strategy,
        packs: &policies.in_force.packs,
        prior_actions: &[],
        first_sequence: 0,
        next_policy: policies.next.as_ref().map(|(t, p)| (*t, &p.packs)),
    };
    let day = arrears_app::plan_day(&req, &NoCodes).map_err(|e| e.to_string())?;
    Ok((day.plan, day.states))
}

/// The plan of `as_of` over `p` (pure but for the time it takes).
pub fn make_plan(
    p: &Portfolio,
    lifecycle: &arrears_domain::Lifecycle,
    as_of: Date,
    config: &Config,
    policies: &crate::DayPolicies,
) -> Result<DayPlan, String> {
    let started = std::time::Instant::now();
    let (planned, states) =
        plan_portfolio(p, lifecycle, as_of, config, default_strategy()?, policies)?;
    let index: BTreeMap<&str, usize> = p
        .loans
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();
    let band = |names: &[String], i: u16| names.get(usize::from(i)).cloned().unwrap_or_default();
    let mut calls: Vec<QueueTask> = planned
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::CallTask)
        .map(|a| {
            let st = index.get(a.loan_id.as_str()).and_then(|&i| states.get(i));
            let borrower = index
                .get(a.loan_id.as_str())
                .and_then(|&i| p.loans.get(i))
                .and_then(|l| p.borrowers.get(usize::try_from(l.borrower).ok()?));
            QueueTask {
                loan_id: a.loan_id.as_str().to_owned(),
                borrower_id: a.borrower_id.as_str().to_owned(),
                queue: a.queue.clone(),
                priority: a.priority,
                rule_id: a.rule_id.clone(),
                arm: a.arm.clone(),
                stage: a.stage.clone(),
                bucket: st.map_or_else(String::new, |s| band(config.buckets.names(), s.bucket)),
                dpd: st.map_or(0, |s| s.dpd),
                not_before: a.not_before,
                not_after: a.not_after,
                jurisdiction: borrower.map_or_else(String::new, |b| b.jurisdiction.to_string()),
                language: borrower
                    .and_then(|b| b.language.as_deref())
                    .unwrap_or_default()
                    .to_owned(),
            }
        })
        .collect();
    // Priority 1 is the front of the queue; a task without one comes last.
    calls.sort_by(|a, b| {
        (a.priority.is_none(), a.priority, &a.loan_id).cmp(&(
            b.priority.is_none(),
            b.priority,
            &b.loan_id,
        ))
    });
    let mut arms: Vec<ArmLoan> = planned
        .actions
        .iter()
        .map(|a| ArmLoan {
            rule_id: a.rule_id.clone(),
            arm: a.arm.clone(),
            loan_id: a.loan_id.as_str().to_owned(),
        })
        .chain(planned.blocked.iter().map(|b| ArmLoan {
            rule_id: b.rule_id.clone(),
            arm: b.arm.clone(),
            loan_id: b.loan_id.as_str().to_owned(),
        }))
        .collect();
    arms.sort_by(|a, b| (&a.rule_id, &a.arm, &a.loan_id).cmp(&(&b.rule_id, &b.arm, &b.loan_id)));
    arms.dedup();
    let s = planned.summary();
    Ok(DayPlan {
        as_of,
        made_at: crate::now(),
        millis: started.elapsed().as_millis(),
        loans: p.loans.len(),
        calls,
        blocked_by_rule: s.blocked_by_rule,
        blocked: s.blocked,
        actions: s.actions,
        arms,
    })
}

impl PlanCache {
    /// Forgets every plan (the policy in force changed).
    pub fn clear(&self) {
        if let Ok(mut days) = self.days.lock() {
            days.clear();
        }
    }

    /// The plans made so far (at most [`KEPT_PLANS`]), by business date.
    pub fn made(&self) -> Vec<Arc<DayPlan>> {
        let mut all = self.days.lock().map(|d| d.clone()).unwrap_or_default();
        all.sort_by_key(|d| d.as_of);
        all
    }

    fn get(&self, as_of: Date) -> Option<Arc<DayPlan>> {
        self.days
            .lock()
            .ok()?
            .iter()
            .find(|d| d.as_of == as_of)
            .cloned()
    }

    fn put(&self, plan: Arc<DayPlan>) {
        if let Ok(mut days) = self.days.lock() {
            days.retain(|d| d.as_of != plan.as_of);
            days.push(plan);
            let extra = days.len().saturating_sub(KEPT_PLANS);
            days.drain(..extra);
        }
    }
}

/// The plan of `as_of`, made on first use and kept.
pub async fn day_plan(state: &AppState, as_of: Date) -> Result<Arc<DayPlan>, String> {
    if let Some(p) = state.plans().get(as_of) {
        return Ok(p);
    }
    let portfolio = state
        .store()
        .load_portfolio()
        .await
        .map_err(|e| e.to_string())?;
    let lifecycle = state
        .store()
        .all_lifecycle()
        .await
        .map_err(|e| e.to_string())?;
    let policies = state.policies_for_day(as_of);
    let config = state.config().clone();
    let plan = tokio::task::spawn_blocking(move || {
        make_plan(&portfolio, &lifecycle, as_of, &config, &policies)
    })
    .await
    .map_err(|e| e.to_string())??;
    let plan = Arc::new(plan);
    state.plans().put(plan.clone());
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promises_are_kept_pending_or_broken() {
        let utc = TimeZoneName::utc();
        let at: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
        let due: Date = "2026-11-10".parse().unwrap();
        let pay = |s: &str, a: i64| (s.parse::<Timestamp>().unwrap(), a, None);
        let on = |d: &str| d.parse::<Date>().unwrap();
        assert_eq!(
            promise_state(at, 100, due, &[], on("2026-11-05"), &utc),
            "pending"
        );
        assert_eq!(
            promise_state(at, 100, due, &[], on("2026-11-11"), &utc),
            "broken"
        );
        let paid = [
            pay("2026-11-09T12:00:00Z", 60),
            pay("2026-11-10T23:00:00Z", 40),
        ];
        assert_eq!(
            promise_state(at, 100, due, &paid, on("2026-11-11"), &utc),
            "kept"
        );
        let late = [pay("2026-11-11T00:00:01Z", 100)];
        assert_eq!(
            promise_state(at, 100, due, &late, on("2026-11-12"), &utc),
            "broken"
        );
        let before = [pay("2026-10-31T00:00:00Z", 100)];
        assert_eq!(
            promise_state(at, 100, due, &before, on("2026-11-12"), &utc),
            "broken"
        );
    }
}
