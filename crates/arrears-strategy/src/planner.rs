//! The planner: today's actions from the daily run's account states and the strategy.
//!
//! For each borrower (independently, in parallel) and each of their loans, most overdue first,
//! the strategy's rules are tried in order; the first whose conditions hold and whose cadence
//! is due decides the loan's action for the day. The action is proposed to
//! `arrears_policy::check` at the plan instant (the strategy's `plan_time` on the business day
//! in the borrower's zone). If the engine allows it, the action holds the `PermittedContact`
//! it issued; if it denies it with an `earliest_allowed` before the borrower's next local
//! midnight, the same contact is checked again at that instant and planned then; otherwise it
//! is blocked with the engine's rule ids. `not_after` is the end of that day's permitted
//! window, checked too. Each planned call is added to the borrower's working history as a
//! conversation and as an unanswered attempt, so later calls in the same plan are counted
//! against every cap whichever way the first one ends. Write-off proposals are internal (they
//! contact no one) and do not take the loan's daily action.

use crate::inputs::{
    BorrowerInput, LoanExtras, PriorAction, PromiseStatus, loans_by_borrower, prior_index,
};
use crate::money::format_amount;
use crate::strategy::{ActionKind, Conditions, LastOutcome, Strategy, StrategyRule};
use crate::template::{MessageVars, opt_out_text};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Bands, Portfolio, TimeZoneName};
use arrears_engine::{AccountState, AccountStatus};
use arrears_policy::{
    Binding, Channel, ContactRecord, Decision, Language, Message, Outcome, Pack, PackSet, Party,
    PermittedContact, ProposedContact, RuleId, Target, charge_off_due, check,
    max_contacts_per_window,
};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// What identifies a message before its text exists (the verification code is derived from
/// it; see `arrears_evidence::MessageDraft::code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest<'a> {
    pub lender: &'a str,
    pub borrower_id: &'a str,
    pub loan_id: &'a str,
    pub channel: &'a str,
    pub issued_at: Timestamp,
    pub sequence: u64,
}

/// Issues verification codes. `None` means no code can be issued (no signing key): the
/// message is then blocked under ALL-IDENTITY rather than sent without one.
pub trait CodeIssuer: Sync {
    fn code(&self, req: &CodeRequest<'_>) -> Option<String>;
}

/// Everything the planner reads. Time enters only as `as_of`.
#[derive(Debug)]
pub struct PlanInput<'a> {
    pub as_of: Date,
    pub portfolio: &'a Portfolio,
    /// The daily run's account states, in the portfolio's loan order.
    pub states: &'a [AccountState],
    pub stages: &'a Bands,
    pub buckets: &'a Bands,
    /// Per borrower, in portfolio order.
    pub borrowers: &'a [BorrowerInput],
    /// Per loan, in portfolio order (may be empty: no legal cases).
    pub extras: &'a [LoanExtras],
    /// Per loan, in portfolio order (may be empty: no promises).
    pub promises: &'a [PromiseStatus],
    pub prior_actions: &'a [PriorAction],
    pub strategy: &'a Strategy,
    pub packs: &'a PackSet,
    /// The first message sequence number (codes use `first_sequence + loan index`).
    pub first_sequence: u64,
}

/// What a rule saw of a loan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanView {
    pub dpd: u32,
    pub stage: String,
    pub bucket: String,
    pub overdue_minor: i64,
    pub product: String,
    pub jurisdiction: String,
    pub promise: PromiseStatus,
    pub last_outcome: Option<Outcome>,
    pub days_since_last_contact: Option<i64>,
    pub days_to_next_due: Option<i64>,
    pub charge_off_due: bool,
    pub hardship: bool,
    pub dispute_open: bool,
    pub cease_contact: bool,
    pub attorney: bool,
    pub breathing_space: bool,
    pub legal_case: bool,
}

/// A planned contact or escalation. Only the planner builds one, around the
/// `PermittedContact` the engine issued for exactly this contact.
#[derive(Debug)]
pub struct PlannedAction {
    pub action_id: String,
    pub loan_id: LoanId,
    pub borrower_id: BorrowerId,
    pub kind: ActionKind,
    pub channel: Channel,
    pub party: Party,
    pub target: Option<Target>,
    pub template: Option<String>,
    pub language: Language,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub rule_id: String,
    pub arm: String,
    pub stage: String,
    pub verification_code: Option<String>,
    /// The rendered, vetted text (sent exactly as is).
    pub message: Option<String>,
    /// The instant the message's code was derived for (the plan instant).
    pub issued_at: Timestamp,
    pub sequence: u64,
    /// The rules that moved it from the plan instant to `not_before`, if any.
    pub deferred_by: Vec<RuleId>,
    /// Boxed, as is `proposed`: a plan holds hundreds of thousands of actions, moved as the
    /// plan is put together; the two contacts would more than double each action's size.
    permit: Box<PermittedContact>,
    /// The contact exactly as the engine was asked about it.
    proposed: Box<ProposedContact>,
}

impl PlannedAction {
    /// The engine's permission for this contact.
    pub fn permit(&self) -> &PermittedContact {
        &self.permit
    }

    /// The contact exactly as the engine was asked about it (to ask again under other packs).
    pub fn permit_proposal(&self) -> &ProposedContact {
        &self.proposed
    }

    /// The action refused after all (say by a policy version taking effect before it starts).
    pub fn into_blocked(
        self,
        rule_ids: Vec<RuleId>,
        earliest_allowed: Option<Timestamp>,
    ) -> Blocked {
        Blocked {
            action_id: self.action_id,
            loan_id: self.loan_id,
            borrower_id: self.borrower_id,
            kind: self.kind,
            channel: self.channel,
            party: self.party,
            target: self.target,
            template: self.template,
            language: self.language,
            proposed_at: self.not_before,
            queue: self.queue,
            priority: self.priority,
            rule_id: self.rule_id,
            arm: self.arm,
            stage: self.stage,
            rule_ids,
            earliest_allowed,
            note: Some("a policy version in force from this instant denies it".into()),
        }
    }
}

/// A contact or escalation the strategy wanted and the engine refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub action_id: String,
    pub loan_id: LoanId,
    pub borrower_id: BorrowerId,
    pub kind: ActionKind,
    pub channel: Channel,
    pub party: Party,
    pub target: Option<Target>,
    pub template: Option<String>,
    pub language: Language,
    /// The instant it was proposed for.
    pub proposed_at: Timestamp,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub rule_id: String,
    pub arm: String,
    pub stage: String,
    pub rule_ids: Vec<RuleId>,
    pub earliest_allowed: Option<Timestamp>,
    /// Why, for rules that are not pack rules (no code, template failure).
    pub note: Option<String>,
}

/// An internal proposal (write-off) to the lender's own staff; it contacts no one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalProposal {
    pub action_id: String,
    pub loan_id: LoanId,
    pub borrower_id: BorrowerId,
    pub rule_id: String,
    pub arm: String,
    pub stage: String,
    pub at: Timestamp,
    /// The pack rule whose threshold the loan reached (US-CHARGEOFF), if any.
    pub pack_rule: Option<RuleId>,
}

/// Today's plan.
#[derive(Debug, Default)]
pub struct Plan {
    pub as_of: Option<Date>,
    pub actions: Vec<PlannedAction>,
    pub blocked: Vec<Blocked>,
    pub proposals: Vec<InternalProposal>,
    /// Calls the strategy's per-borrower daily call limit held back.
    pub held_by_call_limit: u64,
}

impl Plan {
    /// Counts: actions per kind and per stage, blocks per rule id (a block with several rules
    /// counts under each).
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for a in &self.actions {
            *s.actions_by_kind.entry(a.kind.code().into()).or_default() += 1;
            *s.actions_by_stage.entry(a.stage.clone()).or_default() += 1;
            if !a.deferred_by.is_empty() {
                s.rescheduled += 1;
            }
        }
        for p in &self.proposals {
            *s.actions_by_kind
                .entry(ActionKind::WriteOffProposal.code().into())
                .or_default() += 1;
            *s.actions_by_stage.entry(p.stage.clone()).or_default() += 1;
        }
        for b in &self.blocked {
            *s.blocked_by_kind.entry(b.kind.code().into()).or_default() += 1;
            *s.blocked_by_stage.entry(b.stage.clone()).or_default() += 1;
            for r in &b.rule_ids {
                *s.blocked_by_rule.entry(r.as_str().into()).or_default() += 1;
            }
        }
        s.actions = self.actions.len() as u64 + self.proposals.len() as u64;
        s.blocked = self.blocked.len() as u64;
        s.held_by_call_limit = self.held_by_call_limit;
        s
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSummary {
    pub actions: u64,
    pub blocked: u64,
    pub rescheduled: u64,
    pub held_by_call_limit: u64,
    pub actions_by_kind: BTreeMap<String, u64>,
    pub actions_by_stage: BTreeMap<String, u64>,
    pub blocked_by_kind: BTreeMap<String, u64>,
    pub blocked_by_stage: BTreeMap<String, u64>,
    pub blocked_by_rule: BTreeMap<String, u64>,
}

/// The plan instant: `time` on `as_of` in `zone` (a time inside a DST gap moves forward).
pub fn plan_instant(as_of: Date, time: Time, zone: &TimeZone) -> Option<Timestamp> {
    as_of
        .to_datetime(time)
        .to_zoned(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

fn next_midnight(t: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
    let d = t.to_zoned(zone.clone()).date().tomorrow().ok()?;
    d.to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

impl Conditions {
    /// Every condition given holds for the loan.
    pub fn matches(&self, v: &LoanView) -> bool {
        let list =
            |l: &Option<Vec<String>>, x: &str| l.as_ref().is_none_or(|l| l.iter().any(|s| s == x));
        let flag = |f: Option<bool>, x: bool| f.is_none_or(|f| f == x);
        list(&self.stages, &v.stage)
            && list(&self.buckets, &v.bucket)
            && self.dpd.contains(i64::from(v.dpd))
            && self.overdue_minor.contains(v.overdue_minor)
            && list(&self.products, &v.product)
            && self.jurisdictions.as_ref().is_none_or(|js| {
                js.iter().any(|j| {
                    *j == v.jurisdiction
                        || (!j.contains('-') && v.jurisdiction.split('-').next() == Some(j))
                })
            })
            && self.promise.as_ref().is_none_or(|p| p.contains(&v.promise))
            && self.last_outcome.as_ref().is_none_or(|o| {
                o.iter().any(|x| match (x, v.last_outcome) {
                    (LastOutcome::None, None) => true,
                    (LastOutcome::Outcome(a), Some(b)) => *a == b,
                    _ => false,
                })
            })
            // Never contacted counts as contacted infinitely long ago.
            && match v.days_since_last_contact {
                Some(d) => self.days_since_last_contact.contains(d),
                None => self.days_since_last_contact.max.is_none(),
            }
            && match v.days_to_next_due {
                Some(d) => self.days_to_next_due.contains(d),
                None => self.days_to_next_due.min.is_none() && self.days_to_next_due.max.is_none(),
            }
            && self.charge_off_due.is_none_or(|c| c == v.charge_off_due)
            && flag(self.flags.hardship, v.hardship)
            && flag(self.flags.dispute_open, v.dispute_open)
            && flag(self.flags.cease_contact, v.cease_contact)
            && flag(self.flags.attorney, v.attorney)
            && flag(self.flags.breathing_space, v.breathing_space)
            && flag(self.flags.legal_case, v.legal_case)
    }
}

/// The day's plan. Pure: the same inputs give the same plan.
pub fn plan(input: &PlanInput<'_>, codes: &dyn CodeIssuer) -> Plan {
    let by_borrower = loans_by_borrower(input.portfolio);
    let prior = prior_index(input.prior_actions);
    let stage_mins: Vec<u32> = input.stages.ranges().iter().map(|r| r.1).collect();
    // Borrowers in chunks, each chunk planned into one `Plan`: one small plan per borrower
    // would allocate (and the kernel zero) room for several actions for every borrower with
    // one, most of it never used. Chunks keep the borrowers' order.
    const CHUNK: usize = 1024;
    let parts: Vec<Plan> = by_borrower
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut out = Plan::default();
            for (k, loans) in chunk.iter().enumerate() {
                if let Some(b) = input.borrowers.get(ci * CHUNK + k) {
                    plan_borrower(input, codes, b, loans, &prior, &stage_mins, &mut out);
                }
            }
            out
        })
        .collect();
    let mut plan = Plan {
        as_of: Some(input.as_of),
        actions: Vec::with_capacity(parts.iter().map(|p| p.actions.len()).sum()),
        blocked: Vec::with_capacity(parts.iter().map(|p| p.blocked.len()).sum()),
        proposals: Vec::with_capacity(parts.iter().map(|p| p.proposals.len()).sum()),
        ..Plan::default()
    };
    for p in parts {
        plan.actions.extend(p.actions);
        plan.blocked.extend(p.blocked);
        plan.proposals.extend(p.proposals);
        plan.held_by_call_limit += p.held_by_call_limit;
    }
    plan
}

struct Cad {
    days_since: Option<i64>,
    in_stage: u32,
}

#[allow(clippy::too_many_arguments)]
fn plan_borrower(
    input: &PlanInput<'_>,
    codes: &dyn CodeIssuer,
    b: &BorrowerInput,
    loans: &[u32],
    prior: &HashMap<&str, Vec<&PriorAction>>,
    stage_mins: &[u32],
    out: &mut Plan,
) {
    let p = input.portfolio;
    let s = input.strategy;
    let facts = &b.facts;
    let zone = facts.timezone.clone().unwrap_or_else(TimeZoneName::utc);
    let tz = zone.tz();
    let Some(at) = plan_instant(input.as_of, s.plan_time, tz) else {
        return;
    };
    let day_end = next_midnight(at, tz).unwrap_or(at);
    let pack = input.packs.get(&facts.jurisdiction);
    // Most overdue first, then by id, so the per-borrower call limit favours the worst debt.
    let mut order: Vec<u32> = loans
        .iter()
        .copied()
        .filter(|&l| {
            input.states.get(l as usize).is_some_and(|st| {
                matches!(
                    st.status,
                    AccountStatus::Current | AccountStatus::Delinquent
                )
            })
        })
        .collect();
    order.sort_by(|&x, &y| {
        let (sx, sy) = (&input.states[x as usize], &input.states[y as usize]);
        sy.dpd
            .cmp(&sx.dpd)
            .then_with(|| p.loans[x as usize].id.cmp(&p.loans[y as usize].id))
    });
    let mut history: Option<Vec<ContactRecord>> = None;
    let mut calls = 0u32;
    for li in order {
        let loan = &p.loans[li as usize];
        let st = &input.states[li as usize];
        let stage_ix = usize::from(st.stage);
        let stage = input.stages.name(stage_ix).to_owned();
        let extras = input.extras.get(li as usize).copied().unwrap_or_default();
        let hist: &[ContactRecord] = history.as_deref().unwrap_or(&b.history);
        let last = hist
            .iter()
            .filter(|r| r.at <= at && r.loan_id.as_ref().is_none_or(|l| *l == loan.id))
            .max_by_key(|r| r.at);
        let next_due = next_uncovered_due(p, li, st, input.as_of);
        let view = LoanView {
            dpd: st.dpd,
            stage: stage.clone(),
            bucket: input.buckets.name(usize::from(st.bucket)).to_owned(),
            overdue_minor: st.overdue_minor,
            product: loan.product.to_string(),
            jurisdiction: facts.jurisdiction.as_str().to_owned(),
            promise: input
                .promises
                .get(li as usize)
                .copied()
                .unwrap_or(PromiseStatus::None),
            last_outcome: last.map(|r| r.outcome),
            days_since_last_contact: last.map(|r| days_between(zone.date_of(r.at), input.as_of)),
            days_to_next_due: next_due.map(|(d, _)| days_between(input.as_of, d)),
            charge_off_due: pack.is_some_and(|pk| charge_off_due(pk, st.dpd)),
            hardship: facts.hardship,
            dispute_open: facts.dispute_open,
            cease_contact: facts.cease_contact,
            attorney: !facts.attorney_targets.is_empty(),
            breathing_space: facts
                .breathing_space_until
                .is_some_and(|d| d >= input.as_of),
            legal_case: extras
                .legal_case
                .is_some_and(|c| c != arrears_policy::LegalStatus::Closed),
        };
        let stage_start = stage_mins
            .get(stage_ix)
            .and_then(|&m| {
                let back = i64::from(st.dpd.saturating_sub(m));
                input.as_of.checked_sub(jiff::Span::new().days(back)).ok()
            })
            .unwrap_or(input.as_of);
        let cadence_of = |kind: ActionKind| -> Cad {
            let mut days_since: Option<i64> = None;
            let mut contacts_in_stage = 0u32;
            if let Some(ch) = kind.channel() {
                for r in hist.iter().filter(|r| {
                    r.channel == ch
                        && r.at <= at
                        && r.loan_id.as_ref().is_none_or(|l| *l == loan.id)
                }) {
                    let d = zone.date_of(r.at);
                    let since = days_between(d, input.as_of);
                    days_since = Some(days_since.map_or(since, |x: i64| x.min(since)));
                    if d >= stage_start {
                        contacts_in_stage += 1;
                    }
                }
            }
            let mut prior_in_stage = 0u32;
            for a in prior
                .get(loan.id.as_str())
                .into_iter()
                .flatten()
                .filter(|a| a.kind == kind && a.on <= input.as_of)
            {
                let since = days_between(a.on, input.as_of);
                days_since = Some(days_since.map_or(since, |x: i64| x.min(since)));
                if a.on >= stage_start {
                    prior_in_stage += 1;
                }
            }
            Cad {
                days_since,
                in_stage: contacts_in_stage.max(prior_in_stage),
            }
        };
        let due = |r: &StrategyRule| {
            let c = cadence_of(r.action.kind);
            c.days_since
                .is_none_or(|d| d >= i64::from(r.cadence.every_days))
                && r.cadence.max_per_stage.is_none_or(|m| c.in_stage < m)
        };
        // Internal proposals first: they do not take the loan's daily action.
        for r in s
            .rules
            .iter()
            .filter(|r| r.action.kind == ActionKind::WriteOffProposal)
        {
            if r.when.matches(&view) && due(r) {
                let arm = r.arm_for(loan.id.as_str());
                out.proposals.push(InternalProposal {
                    action_id: format!("{}-{}-{}", input.as_of, loan.id, r.id),
                    loan_id: loan.id.clone(),
                    borrower_id: facts.borrower_id.clone(),
                    rule_id: r.id.clone(),
                    arm: arm.name.clone(),
                    stage: stage.clone(),
                    at,
                    pack_rule: view.charge_off_due.then_some(RuleId::UsChargeoff),
                });
            }
        }
        let Some(rule) = s.rules.iter().find(|r| {
            r.action.kind != ActionKind::WriteOffProposal
                && r.when.matches(&view)
                && due(r)
                && !(r.action.kind == ActionKind::CallTask
                    && calls >= s.max_calls_per_borrower_per_day)
        }) else {
            if s.rules
                .iter()
                .any(|r| r.action.kind == ActionKind::CallTask && r.when.matches(&view) && due(r))
                && calls >= s.max_calls_per_borrower_per_day
            {
                out.held_by_call_limit += 1;
            }
            continue;
        };
        let Some(channel) = rule.action.kind.channel() else {
            continue;
        };
        let arm = rule.arm_for(loan.id.as_str());
        let template_id = rule.template_for(arm).map(str::to_owned);
        let language = b.language;
        let (party, target) = party_and_target(facts, channel);
        let mut sequence = input.first_sequence.saturating_add(u64::from(li));
        let mut blocked = Blocked {
            action_id: format!("{}-{}-{}", input.as_of, loan.id, rule.id),
            loan_id: loan.id.clone(),
            borrower_id: facts.borrower_id.clone(),
            kind: rule.action.kind,
            channel,
            party,
            target: target.clone(),
            template: template_id.clone(),
            language,
            proposed_at: at,
            queue: rule.action.queue.clone(),
            priority: rule.action.priority,
            rule_id: rule.id.clone(),
            arm: arm.name.clone(),
            stage: stage.clone(),
            rule_ids: Vec::new(),
            earliest_allowed: None,
            note: None,
        };
        let mut proposed =
            ProposedContact::new(facts.borrower_id.clone(), channel, party, target.clone());
        proposed.loan_id = Some(loan.id.clone());
        proposed.purpose = rule.action.purpose;
        proposed.agency_id = rule.action.agency_id.clone();
        let mut code = None;
        let mut text = None;
        if let Some(tid) = &template_id {
            let Some(tpl) = s.templates.get(tid, language) else {
                blocked.rule_ids = vec![RuleId::AllContent];
                blocked.note = Some(format!("template {tid} has no checked {language} version"));
                out.blocked.push(blocked);
                continue;
            };
            // A code is 10 base-32 characters and may spell a prohibited word ("PAWN1-...",
            // read as `pawn*`): such a code is never used; the next sequence gives another.
            let mut issued = None;
            for attempt in 0..8u64 {
                let seq = sequence.saturating_add(attempt << 40);
                let Some(c) = codes.code(&CodeRequest {
                    lender: &s.lender_name,
                    borrower_id: facts.borrower_id.as_str(),
                    loan_id: loan.id.as_str(),
                    channel: channel.code(),
                    issued_at: at,
                    sequence: seq,
                }) else {
                    break;
                };
                if arrears_policy::check_template(&c, language, Binding::NONE).is_ok() {
                    issued = Some((c, seq));
                    break;
                }
            }
            let Some((c, seq)) = issued else {
                blocked.rule_ids = vec![RuleId::AllIdentity];
                blocked.note = Some("no verification code can be issued (no signing key)".into());
                out.blocked.push(blocked);
                continue;
            };
            sequence = seq;
            let (amount_minor, due_date) = if st.overdue_minor > 0 {
                (st.overdue_minor, st.oldest_unpaid_due_date)
            } else {
                (next_due.map_or(0, |(_, a)| a), next_due.map(|(d, _)| d))
            };
            let vars = MessageVars {
                borrower_name: b.name.clone(),
                amount: format_amount(amount_minor, loan.currency),
                due_date: due_date.map(|d| d.to_string()).unwrap_or_default(),
                dpd: st.dpd.to_string(),
                loan_id: loan.id.to_string(),
                lender_name: s.lender_name.clone(),
                verification_code: c.clone(),
                opt_out: opt_out_text(language).to_owned(),
                complaint_hotline: pack
                    .and_then(|pk| pk.complaint())
                    .map(|c| c.hotline.clone())
                    .unwrap_or_default(),
            };
            match s.templates.render(tpl, &vars) {
                Ok(t) => {
                    let mut m = Message::new(t.clone(), language, s.lender_name.clone(), c.clone());
                    m.binding = Binding {
                        legal_case_status: extras.legal_case,
                        visit_scheduled: false,
                    };
                    proposed.message = Some(m);
                    text = Some(t);
                    code = Some(c);
                }
                Err(e) => {
                    blocked.rule_ids = vec![RuleId::AllContent];
                    blocked.note = Some(e.to_string());
                    out.blocked.push(blocked);
                    continue;
                }
            }
        }
        let hist: &[ContactRecord] = history.as_deref().unwrap_or(&b.history);
        let (permit, not_before, deferred_by) = match check(&proposed, facts, hist, at, input.packs)
        {
            Decision::Allow(permit) => (permit, at, Vec::new()),
            Decision::Deny {
                rule_ids,
                earliest_allowed,
            } => {
                let later = earliest_allowed
                    .filter(|e| *e < day_end)
                    .map(|e| (e, check(&proposed, facts, hist, e, input.packs)));
                match later {
                    Some((e, Decision::Allow(permit))) => (permit, e, rule_ids),
                    _ => {
                        blocked.rule_ids = rule_ids;
                        blocked.earliest_allowed = earliest_allowed;
                        out.blocked.push(blocked);
                        continue;
                    }
                }
            }
        };
        let not_after = window_end(pack, channel, facts, not_before)
            .filter(|na| *na > not_before)
            .filter(|na| check(&proposed, facts, hist, *na, input.packs).is_allowed())
            .unwrap_or(not_before);
        if channel == Channel::Call {
            calls += 1;
            // Whatever the call's outcome, later calls in this plan must fit every cap.
            let h = history.get_or_insert_with(|| b.history.clone());
            for outcome in [Outcome::RightParty, Outcome::NoAnswer] {
                let mut r = ContactRecord::new(
                    facts.borrower_id.clone(),
                    Channel::Call,
                    party,
                    at,
                    outcome,
                );
                r.loan_id = Some(loan.id.clone());
                r.target = target.clone();
                r.assumed = true;
                h.push(r);
            }
        }
        out.actions.push(PlannedAction {
            action_id: format!("{}-{}-{}", input.as_of, loan.id, rule.id),
            loan_id: loan.id.clone(),
            borrower_id: facts.borrower_id.clone(),
            kind: rule.action.kind,
            channel,
            party,
            target,
            template: template_id,
            language,
            not_before,
            not_after,
            queue: rule.action.queue.clone(),
            priority: rule.action.priority,
            rule_id: rule.id.clone(),
            arm: arm.name.clone(),
            stage,
            verification_code: code,
            message: text,
            issued_at: at,
            sequence,
            deferred_by,
            permit: Box::new(permit),
            proposed: Box::new(proposed),
        });
    }
}

/// Whole local days from `a` to `b` (negative when `b` is earlier).
fn days_between(a: Date, b: Date) -> i64 {
    i64::from(arrears_engine::epoch_day(b)) - i64::from(arrears_engine::epoch_day(a))
}

/// The next installment (due on or after `as_of`) that payments do not yet cover, with the
/// amount still to pay on it.
fn next_uncovered_due(
    p: &Portfolio,
    li: u32,
    st: &AccountState,
    as_of: Date,
) -> Option<(Date, i64)> {
    let loan = p.loans.get(li as usize)?;
    let mut cum: i128 = 0;
    let paid = i128::from(st.paid_minor);
    for i in p.installments_of(loan) {
        let before = cum;
        cum += i.total();
        if i.due_date >= as_of && cum > paid {
            let left = cum - before.max(paid);
            return Some((i.due_date, i64::try_from(left).unwrap_or(i64::MAX)));
        }
    }
    None
}

/// The party and target for a contact on `channel`: the attorney's when one is on record,
/// else the borrower's own phone (calls, SMS) or e-mail.
fn party_and_target(
    f: &arrears_policy::BorrowerFacts,
    channel: Channel,
) -> (Party, Option<Target>) {
    let Some(kind) = channel.target_kind() else {
        return (
            if f.attorney_targets.is_empty() {
                Party::Borrower
            } else {
                Party::Attorney
            },
            None,
        );
    };
    let pick = |ts: &[Target]| ts.iter().find(|t| t.kind() == kind).cloned();
    if f.attorney_targets.is_empty() {
        (Party::Borrower, pick(&f.own_targets))
    } else {
        (Party::Attorney, pick(&f.attorney_targets))
    }
}

/// The last second of the permitted window on the local day of `t`: the hours rule's end,
/// or midnight, in each of the borrower's zones, whichever comes first.
fn window_end(
    pack: Option<&Pack>,
    channel: Channel,
    f: &arrears_policy::BorrowerFacts,
    t: Timestamp,
) -> Option<Timestamp> {
    let pack = pack?;
    let pack_hours = max_contacts_per_window(pack, channel).hours.map(|(_, w)| w);
    // The borrower's own hours for the channel narrow the pack's (ALL-PREFERENCE): the
    // window ends at the earlier end.
    let own = f
        .preferences
        .iter()
        .find(|p| p.channel == channel)
        .and_then(|p| p.window);
    let hours = match (pack_hours, own) {
        (Some(a), Some(b)) => Some(if b.end() < a.end() { b } else { a }),
        (a, b) => a.or(b),
    };
    let mut zones: Vec<TimeZone> = Vec::new();
    match &f.timezone {
        Some(z) => zones.push(z.tz().clone()),
        None => zones.extend(pack.default_timezones().iter().map(|z| z.tz().clone())),
    }
    if let Some(z) = &f.phone_timezone {
        zones.push(z.tz().clone());
    }
    let mut end: Option<Timestamp> = None;
    for tz in &zones {
        let local = t.to_zoned(tz.clone());
        let e = match hours {
            Some(w) => local
                .date()
                .to_datetime(w.end())
                .to_zoned(tz.clone())
                .ok()
                .map(|z| z.timestamp()),
            None => next_midnight(t, tz),
        }?;
        end = Some(end.map_or(e, |x| x.min(e)));
    }
    end.and_then(|e| e.checked_sub(SignedDuration::from_secs(1)).ok())
}
