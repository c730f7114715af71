//! The independent plan checker: re-verifies a finished plan against the packs, written apart
//! from the planner (it shares no code with `planner.rs`).
//!
//! It re-derives, from each pack's parameters and the borrower's facts and history, for every
//! planned action over its whole interval `[not_before, not_after]`:
//! - holds: deceased, bankrupt, open dispute and cease (only the pack's permitted notices on
//!   its notice channels), a GB breathing space;
//! - parties and targets: the borrower's own number or address of the right kind, or the
//!   attorney's, and only the attorney's once one is on record; nobody else;
//! - opt-outs on the pack's opt-out channels, and the borrower's own preferences (opt-outs,
//!   hours) per channel (ALL-PREFERENCE);
//! - the loan's lifecycle: a payment plan in force (ALL-PLAN), a live placement (ALL-PLACED),
//!   a sale (ALL-SOLD);
//! - hours in every zone of the borrower (address and phone zone, else the pack's default
//!   zones), with both ends on the same local day;
//! - call caps: conversations per borrower per local day and unanswered attempts per number
//!   per local day (history plus every planned call, each counted as both), US-7IN7 attempts
//!   in the rolling window and the quiet period after a conversation;
//! - escalation gates: an approved agency and a prior notice (CN-AGENCY), credit-report notice
//!   and dispute freeze (CN-CREDIT, US-CREDIT), forbearance before escalation (GB-FORBEARANCE);
//! - messages: the lender's name and the verification code in the text;
//! - that the action matches the `PermittedContact` it holds.
//!
//! As a second opinion only, it asks `arrears_policy::check` again at both ends of the
//! interval and `check_template` about each message's wording.

use crate::planner::{Plan, PlanInput, PlannedAction};
use arrears_policy::{
    Binding, Channel, ContactRecord, Decision, Outcome, Pack, Party, Purpose, RuleId, Target,
    check, check_template,
};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fmt;

/// The checker's indexes (a million loans, most of a million borrowers): foldhash, not SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One thing wrong with a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub action_id: String,
    /// A pack rule id, or `PLAN-*` for an inconsistent plan.
    pub rule: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.action_id, self.rule, self.message)
    }
}

fn local_date(t: Timestamp, tz: &TimeZone) -> Date {
    t.to_zoned(tz.clone()).date()
}

fn midnight(d: Date, tz: &TimeZone) -> Option<Timestamp> {
    d.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// Every violation in `plan`, judged on the same inputs the plan was made from.
pub fn check_plan(plan: &Plan, input: &PlanInput<'_>) -> Vec<Violation> {
    let mut out = Vec::new();
    let borrower_ix: FastMap<&str, usize> = input
        .borrowers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.facts.borrower_id.as_str(), i))
        .collect();
    let loan_ix: FastMap<&str, usize> = input
        .portfolio
        .loans
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();
    // Planned calls, by borrower and by number.
    let mut calls_of: FastMap<&str, Vec<&PlannedAction>> = FastMap::default();
    let mut calls_to: FastMap<&Target, Vec<&PlannedAction>> = FastMap::default();
    let mut per_loan: FastMap<&str, u32> = FastMap::default();
    for a in &plan.actions {
        *per_loan.entry(a.loan_id.as_str()).or_default() += 1;
        if a.channel == Channel::Call {
            calls_of.entry(a.borrower_id.as_str()).or_default().push(a);
            if let Some(t) = &a.target {
                calls_to.entry(t).or_default().push(a);
            }
        }
    }
    let mut repeated: Vec<(&str, u32)> = per_loan.into_iter().filter(|(_, n)| *n > 1).collect();
    repeated.sort_unstable();
    for (loan, n) in repeated {
        out.push(Violation {
            action_id: loan.to_owned(),
            rule: "PLAN-ONE-PER-LOAN".into(),
            message: format!("{n} actions for one loan on one day"),
        });
    }
    for b in &plan.blocked {
        if b.rule_ids.is_empty() {
            out.push(Violation {
                action_id: b.action_id.clone(),
                rule: "PLAN-BLOCK-WITHOUT-RULE".into(),
                message: "a blocked action names no rule".into(),
            });
        }
    }
    let per_action: Vec<Vec<Violation>> = plan
        .actions
        .par_iter()
        .map(|a| check_action(a, input, &borrower_ix, &loan_ix, &calls_of, &calls_to))
        .collect();
    out.extend(per_action.into_iter().flatten());
    out
}

/// Every violation of one planned action (`loop` runs once; `break` ends the checks early).
fn check_action(
    a: &PlannedAction,
    input: &PlanInput<'_>,
    borrower_ix: &FastMap<&str, usize>,
    loan_ix: &FastMap<&str, usize>,
    calls_of: &FastMap<&str, Vec<&PlannedAction>>,
    calls_to: &FastMap<&Target, Vec<&PlannedAction>>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    #[allow(clippy::never_loop)]
    loop {
        let mut v = |rule: &str, message: String| {
            out.push(Violation {
                action_id: a.action_id.clone(),
                rule: rule.to_owned(),
                message,
            })
        };
        let Some(&bi) = borrower_ix.get(a.borrower_id.as_str()) else {
            v(
                "PLAN-UNKNOWN-BORROWER",
                "no such borrower in the inputs".into(),
            );
            break;
        };
        let b = &input.borrowers[bi];
        let f = &b.facts;
        let Some(pack) = input.packs.get(&f.jurisdiction) else {
            v("SYS-NO-PACK", format!("no pack for {}", f.jurisdiction));
            break;
        };
        // The action is what the engine permitted.
        let p = a.permit();
        if p.borrower_id() != &a.borrower_id
            || p.loan_id() != Some(&a.loan_id)
            || p.channel() != a.channel
            || p.party() != a.party
            || p.target() != a.target.as_ref()
            || p.message_text() != a.message.as_deref()
            || p.at() != a.not_before
        {
            v(
                "PLAN-PERMIT-MISMATCH",
                "the action differs from the contact the engine permitted".into(),
            );
        }
        if a.not_after < a.not_before {
            v("PLAN-INTERVAL", "not_after is before not_before".into());
        }
        let (nb, na) = (a.not_before, a.not_after);
        let zones = zones_of(f, pack);
        if zones.is_empty() {
            v(
                "PLAN-NO-ZONE",
                "the borrower's local time is unknown".into(),
            );
            break;
        }
        for tz in &zones {
            if local_date(nb, tz) != local_date(na, tz) {
                v(
                    "PLAN-INTERVAL",
                    "not_before and not_after fall on different local days".into(),
                );
            }
        }
        let purpose = p.purpose();
        let ch = a.channel;
        let is_contact = !matches!(
            ch,
            Channel::AgencyPlacement
                | Channel::LegalReferral
                | Channel::CreditReport
                | Channel::Fee
        );

        // Holds.
        if f.deceased {
            v(
                RuleId::AllHoldDeceased.as_str(),
                "the borrower is deceased".into(),
            );
        }
        if f.bankrupt {
            v(
                RuleId::AllHoldBankrupt.as_str(),
                "the borrower is bankrupt".into(),
            );
        }
        let permitted_notice = |id: RuleId| match (purpose, pack.permitted_notices(id)) {
            (Purpose::Notice(k), Some(n)) => {
                n.permitted_notices.contains(k) && n.notice_channels.contains(ch)
            }
            _ => false,
        };
        if f.dispute_open && (!is_contact || !permitted_notice(RuleId::AllHoldDispute)) {
            v(
                RuleId::AllHoldDispute.as_str(),
                format!("{ch} while a dispute is open"),
            );
        }
        if f.cease_contact && is_contact && !permitted_notice(RuleId::AllCease) {
            v(
                RuleId::AllCease.as_str(),
                format!("{ch} after a cease-contact request"),
            );
        }
        if pack.has(RuleId::GbBreathingSpace)
            && let Some(until) = f.breathing_space_until
            && zones.iter().any(|tz| local_date(na, tz) <= until)
        {
            v(
                RuleId::GbBreathingSpace.as_str(),
                format!("{ch} during a breathing space to {until}"),
            );
        }

        // Parties and targets.
        let needs = match ch {
            Channel::Call | Channel::Sms => Some(true),
            Channel::Email => Some(false),
            _ => None,
        };
        let kind_ok = |t: &Target| match needs {
            Some(phone) => matches!(t, Target::Phone(_)) == phone,
            None => true,
        };
        match a.party {
            Party::Borrower => {
                if is_contact && !f.attorney_targets.is_empty() {
                    v(
                        RuleId::AllOnlyDebtor.as_str(),
                        "the borrower has an attorney: contact goes to the attorney only".into(),
                    );
                }
                match (&a.target, needs) {
                    (Some(t), _) if !f.own_targets.contains(t) || !kind_ok(t) => v(
                        RuleId::AllOnlyDebtor.as_str(),
                        "the target is not the borrower's own".into(),
                    ),
                    (None, Some(_)) => v(
                        RuleId::AllOnlyDebtor.as_str(),
                        format!("a {ch} without a target"),
                    ),
                    _ => {}
                }
            }
            Party::Attorney => match &a.target {
                Some(t) if f.attorney_targets.contains(t) && kind_ok(t) => {}
                None if needs.is_none() && !f.attorney_targets.is_empty() => {}
                _ => v(
                    RuleId::AllOnlyDebtor.as_str(),
                    "the target is not the attorney's".into(),
                ),
            },
            other => v(
                RuleId::AllOnlyDebtor.as_str(),
                format!("a plan never contacts a {other}"),
            ),
        }
        if let (Some(t), Some((rule, channels))) = (&a.target, pack.opt_out_rule())
            && channels.contains(ch)
            && f.opted_out.contains(t)
        {
            v(rule.as_str(), "the target opted out".into());
        }

        // The lifecycle: the borrower's own choices, payment plans, placements and sales of
        // the loan, judged over the whole interval from the records themselves.
        if a.party == Party::Borrower && is_contact {
            for pref in f.preferences.iter().filter(|x| x.channel == ch) {
                if pref.opted_out {
                    v(
                        RuleId::AllPreference.as_str(),
                        format!("the borrower opted out of {ch}"),
                    );
                }
                if let Some(w) = pref.window {
                    for tz in &zones {
                        for t in [nb, na] {
                            let local = t.to_zoned(tz.clone()).time();
                            if !(w.start() <= local && local < w.end()) {
                                v(
                                    RuleId::AllPreference.as_str(),
                                    format!("{t} is {local} local, outside the borrower's {w}"),
                                );
                            }
                        }
                    }
                }
            }
        }
        let on_loan = |l: &arrears_domain::types::LoanId| *l == a.loan_id;
        let dunning = !is_contact
            || matches!(
                purpose,
                Purpose::Collection | Purpose::Locate | Purpose::PlanReminder
            );
        for plan in f.plans.iter().filter(|x| on_loan(&x.loan_id)) {
            let protects_until = match plan.state {
                arrears_policy::PlanState::Active => Some(None),
                arrears_policy::PlanState::Broken => plan.state_at.map(|s| {
                    zones
                        .iter()
                        .filter_map(|tz| {
                            local_date(s, tz)
                                .tomorrow()
                                .ok()
                                .and_then(|d| midnight(d, tz))
                        })
                        .max()
                }),
                _ => None,
            };
            if let Some(until) = protects_until
                && dunning
                && purpose != Purpose::PlanReminder
                && na >= plan.created_at
                && until.is_none_or(|u| nb < u)
            {
                v(
                    RuleId::AllPlan.as_str(),
                    format!("{ch} on a loan with a payment plan in force"),
                );
            }
        }
        if is_contact && p.agency_id().is_none() {
            for x in f.placements.iter().filter(|x| on_loan(&x.loan_id)) {
                if na >= x.placed_at && x.recalled_at.is_none_or(|r| nb < r) {
                    v(
                        RuleId::AllPlaced.as_str(),
                        format!("the lender contacts a loan placed with {}", x.agency_id),
                    );
                }
            }
        }
        for x in f.sales.iter().filter(|x| on_loan(&x.loan_id)) {
            if na >= x.sold_at && purpose != Purpose::Notice(arrears_policy::NoticeKind::Assignment)
            {
                v(
                    RuleId::AllSold.as_str(),
                    format!("{ch} on a loan sold to {}", x.buyer),
                );
            }
        }

        // Hours, over the whole interval.
        if let Some((rule, h)) = pack.hours()
            && h.channels.contains(ch)
        {
            let window = match f.agreed_contact_hours {
                Some(w) if h.honor_agreed_hours => w,
                _ => h.window,
            };
            for tz in &zones {
                for t in [nb, na] {
                    let local = t.to_zoned(tz.clone()).time();
                    if !(window.start() <= local && local < window.end()) {
                        v(
                            rule.as_str(),
                            format!(
                                "{t} is {local} local in {}, outside {window}",
                                tz.iana_name().unwrap_or("?")
                            ),
                        );
                    }
                }
            }
        }

        // Call caps.
        if ch == Channel::Call {
            let mine = calls_of
                .get(a.borrower_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Some(cap) = pack.daily_cap(RuleId::CnFreqConnected) {
                for tz in &zones {
                    let day = local_date(nb, tz);
                    let past = b
                        .history
                        .iter()
                        .filter(|r| {
                            r.borrower_id == a.borrower_id
                                && r.channel == Channel::Call
                                && is_conversation(r.outcome)
                                && r.at <= nb
                                && local_date(r.at, tz) == day
                        })
                        .count();
                    let planned = mine
                        .iter()
                        .filter(|x| local_date(x.not_before, tz) == day)
                        .count();
                    if past + planned > cap.max_per_local_day as usize {
                        v(
                            RuleId::CnFreqConnected.as_str(),
                            format!(
                                "{past} conversations on record and {planned} planned calls on {day}; at most {}",
                                cap.max_per_local_day
                            ),
                        );
                    }
                }
            }
            if let (Some(cap), Some(t)) = (pack.daily_cap(RuleId::CnFreqAttempts), &a.target) {
                let to_number = calls_to.get(t).map(Vec::as_slice).unwrap_or(&[]);
                for tz in &zones {
                    let day = local_date(nb, tz);
                    let past = b
                        .history
                        .iter()
                        .filter(|r| {
                            r.channel == Channel::Call
                                && !is_conversation(r.outcome)
                                && r.target.as_ref() == Some(t)
                                && r.at <= nb
                                && local_date(r.at, tz) == day
                        })
                        .count();
                    let planned = to_number
                        .iter()
                        .filter(|x| local_date(x.not_before, tz) == day)
                        .count();
                    if past + planned > cap.max_per_local_day as usize {
                        v(
                            RuleId::CnFreqAttempts.as_str(),
                            format!(
                                "{past} unanswered calls on record and {planned} planned to the number on {day}; at most {}",
                                cap.max_per_local_day
                            ),
                        );
                    }
                }
            }
            if let Some(c) = pack.call_cadence() {
                let same_person = |party: Party, target: Option<&Target>| match a.party {
                    Party::Borrower => party == Party::Borrower,
                    _ => {
                        party != Party::Borrower && target.is_some() && target == a.target.as_ref()
                    }
                };
                let same_debt = |loan: Option<&arrears_domain::types::LoanId>| {
                    loan.is_none_or(|l| *l == a.loan_id)
                };
                let window = SignedDuration::from_secs(i64::from(c.window_days) * 86_400);
                let from = nb.checked_sub(window).unwrap_or(Timestamp::MIN);
                let relevant: Vec<&ContactRecord> = b
                    .history
                    .iter()
                    .filter(|r| {
                        r.channel == Channel::Call
                            && r.borrower_id == a.borrower_id
                            && r.at <= nb
                            && same_debt(r.loan_id.as_ref())
                            && same_person(r.party, r.target.as_ref())
                    })
                    .collect();
                let past = relevant.iter().filter(|r| r.at > from).count();
                let planned: Vec<&&PlannedAction> = mine
                    .iter()
                    .filter(|x| x.loan_id == a.loan_id && same_person(x.party, x.target.as_ref()))
                    .collect();
                if past + planned.len() > c.max_attempts as usize {
                    v(
                        RuleId::Us7In7.as_str(),
                        format!(
                            "{past} calls about the debt in the last {} days and {} planned; at most {}",
                            c.window_days,
                            planned.len(),
                            c.max_attempts
                        ),
                    );
                }
                if c.quiet_local_days > 0 {
                    if planned.len() > 1 {
                        v(RuleId::Us7In7.as_str(), "two calls about one debt on one day: the second would fall in the first's quiet period".into());
                    }
                    for r in relevant.iter().filter(|r| is_conversation(r.outcome)) {
                        for tz in &zones {
                            let resume = local_date(r.at, tz)
                                .checked_add(jiff::Span::new().days(i64::from(c.quiet_local_days)))
                                .ok()
                                .and_then(|d| midnight(d, tz));
                            if resume.is_none_or(|x| nb < x) {
                                v(
                                    RuleId::Us7In7.as_str(),
                                    format!(
                                        "a conversation at {} about this debt: calls resume on day {}",
                                        r.at,
                                        c.quiet_local_days + 1
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }

        // Escalation gates.
        // Notices on record about this debt (or every debt), by kind: the earliest.
        let notice = |kind: arrears_policy::NoticeKind| {
            f.notices
                .iter()
                .filter(|n| n.kind == kind && n.loan_id.as_ref().is_none_or(|l| *l == a.loan_id))
                .map(|n| n.sent_at)
                .min()
        };
        let earlier = |x: Option<Timestamp>, y: Option<Timestamp>| match (x, y) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let agency_notice = earlier(
            f.agency_notice_at,
            notice(arrears_policy::NoticeKind::AgencyPlacement),
        );
        let credit_notice = earlier(
            f.credit_notice.map(|n| n.sent_at),
            notice(arrears_policy::NoticeKind::CreditReporting),
        );
        let credit_bounced = f.credit_notice.is_some_and(|n| n.bounced)
            && notice(arrears_policy::NoticeKind::CreditReporting).is_none();
        let credit_disputed = f.credit_dispute_open
            || f.credit_disputes.iter().any(|d| {
                d.loan_id.as_ref().is_none_or(|l| *l == a.loan_id)
                    && d.opened_at <= na
                    && d.resolved_at.is_none_or(|r| r > nb)
            });
        match ch {
            Channel::AgencyPlacement => {
                if let Some(ag) = pack.agency() {
                    if ag.require_approved_agency
                        && !p
                            .agency_id()
                            .is_some_and(|id| pack.approved_agencies().contains(id))
                    {
                        v(
                            RuleId::CnAgency.as_str(),
                            "the agency is not on the lender's approved list".into(),
                        );
                    }
                    if ag.require_prior_notice && agency_notice.is_none_or(|t| t > nb) {
                        v(
                            RuleId::CnAgency.as_str(),
                            "no prior notice of the placement on record".into(),
                        );
                    }
                }
            }
            Channel::CreditReport => {
                if let Some(c) = pack.cn_credit() {
                    if c.require_prior_notice && credit_notice.is_none_or(|t| t > nb) {
                        v(
                            RuleId::CnCredit.as_str(),
                            "no notice before the negative report".into(),
                        );
                    }
                    if credit_disputed {
                        v(RuleId::CnCredit.as_str(), "a credit dispute is open".into());
                    }
                }
                if let Some(c) = pack.us_credit() {
                    // A notice on record, then the consumer reached since, or the wait after
                    // a notice that did not bounce.
                    let wait = SignedDuration::from_secs(i64::from(c.notice_wait_days) * 86_400);
                    let reached = b
                        .history
                        .iter()
                        .filter(|r| {
                            !r.assumed
                                && r.borrower_id == a.borrower_id
                                && r.party == Party::Borrower
                                && (r.inbound
                                    || (r.channel == Channel::Call && is_conversation(r.outcome)))
                        })
                        .map(|r| r.at)
                        .chain(f.initial_communication_at)
                        .min();
                    let ok = credit_notice.is_some_and(|sent| {
                        let by_reach = reached.is_some_and(|r| r.max(sent) <= nb);
                        let by_wait =
                            !credit_bounced && sent.checked_add(wait).is_ok_and(|t| t <= nb);
                        by_reach || by_wait
                    });
                    if !ok {
                        v(
                            RuleId::UsCredit.as_str(),
                            "no credit-reporting notice, or neither reached nor waited out".into(),
                        );
                    }
                    if credit_disputed {
                        v(RuleId::UsCredit.as_str(), "a credit dispute is open".into());
                    }
                }
            }
            _ => {}
        }
        if !is_contact
            && pack.has(RuleId::GbForbearance)
            && f.hardship
            && !f.forbearance_offered
            && notice(arrears_policy::NoticeKind::ForbearanceOffer).is_none_or(|t| t > nb)
        {
            v(
                RuleId::GbForbearance.as_str(),
                "escalation before a forbearance offer".into(),
            );
        }

        // Messages.
        let written = matches!(
            ch,
            Channel::Sms | Channel::Email | Channel::Push | Channel::Letter
        );
        match (&a.message, written) {
            (None, true) => v(
                RuleId::AllIdentity.as_str(),
                format!("a {ch} without a message"),
            ),
            (Some(text), _) => {
                let lower = text.to_lowercase();
                let code_ok = a
                    .verification_code
                    .as_ref()
                    .is_some_and(|c| !c.is_empty() && lower.contains(&c.to_lowercase()));
                if written && !code_ok {
                    v(
                        RuleId::AllIdentity.as_str(),
                        "the message does not carry its verification code".into(),
                    );
                }
                if written && !lower.contains(&input.strategy.lender_name.to_lowercase()) {
                    v(
                        RuleId::AllIdentity.as_str(),
                        "the message does not name the lender".into(),
                    );
                }
                let li = loan_ix.get(a.loan_id.as_str()).copied();
                let binding = Binding {
                    legal_case_status: li
                        .and_then(|i| input.extras.get(i))
                        .and_then(|e| e.legal_case),
                    visit_scheduled: false,
                };
                if let Err(vs) = check_template(text, a.language, binding) {
                    for x in vs {
                        v(
                            x.rule_id.as_str(),
                            format!("second opinion: {:?} wording {:?}", x.category, x.matched),
                        );
                    }
                }
                // Own derivation of the opt-out (the pack's opt-out channels).
                let opt_out_needed = pack
                    .identity()
                    .is_some_and(|i| i.opt_out_channels.contains(ch))
                    || pack.opt_out_rule().is_some_and(|(_, c)| c.contains(ch));
                if written && opt_out_needed && !OPT_OUT_PHRASES.iter().any(|p| lower.contains(p)) {
                    v(
                        RuleId::AllIdentity.as_str(),
                        "an electronic message without an opt-out".into(),
                    );
                }
            }
            (None, false) => {}
        }

        // Second opinion: the engine again, at both ends, counting the calls planned before
        // this one for the same borrower.
        let mut proposed = arrears_policy::ProposedContact::new(
            a.borrower_id.clone(),
            ch,
            a.party,
            a.target.clone(),
        );
        proposed.loan_id = Some(a.loan_id.clone());
        proposed.purpose = purpose;
        proposed.agency_id = p.agency_id().map(str::to_owned);
        if let Some(text) = &a.message {
            let mut m = arrears_policy::Message::new(
                text.clone(),
                a.language,
                input.strategy.lender_name.clone(),
                a.verification_code.clone().unwrap_or_default(),
            );
            m.binding = Binding {
                legal_case_status: loan_ix
                    .get(a.loan_id.as_str())
                    .and_then(|&i| input.extras.get(i))
                    .and_then(|e| e.legal_case),
                visit_scheduled: false,
            };
            proposed.message = Some(m);
        }
        // Only calls planned before this one for the same borrower are added (as both a
        // conversation and an unanswered attempt); otherwise the history is used as is.
        let mut extended: Vec<ContactRecord> = Vec::new();
        if ch == Channel::Call {
            let mine = calls_of
                .get(a.borrower_id.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for x in mine.iter().take_while(|x| x.action_id != a.action_id) {
                if extended.is_empty() {
                    extended = b.history.clone();
                }
                for o in [Outcome::RightParty, Outcome::NoAnswer] {
                    let mut r = ContactRecord::new(
                        x.borrower_id.clone(),
                        Channel::Call,
                        x.party,
                        x.not_before.min(nb),
                        o,
                    );
                    r.loan_id = Some(x.loan_id.clone());
                    r.target = x.target.clone();
                    extended.push(r);
                }
            }
        }
        let history: &[ContactRecord] = if extended.is_empty() {
            &b.history
        } else {
            &extended
        };
        for t in [nb, na] {
            if let Decision::Deny { rule_ids, .. } = check(&proposed, f, history, t, input.packs) {
                let ids: Vec<&str> = rule_ids.iter().map(|r| r.as_str()).collect();
                v(
                    "PLAN-SECOND-OPINION",
                    format!("the engine denies it at {t}: {}", ids.join(";")),
                );
            }
        }
        break;
    }
    out
}

/// Opt-out instructions the checker recognises (lower case).
const OPT_OUT_PHRASES: &[&str] = &[
    "reply stop",
    "text stop",
    "opt out",
    "opt-out",
    "unsubscribe",
    "退订",
    "回复td",
    "回td",
];

fn is_conversation(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::RightParty | Outcome::Promise | Outcome::Refused | Outcome::Dispute
    )
}

/// The borrower's zones under the pack: address zone (else the pack's defaults) and phone zone.
fn zones_of(f: &arrears_policy::BorrowerFacts, pack: &Pack) -> Vec<TimeZone> {
    let mut names: Vec<&arrears_domain::TimeZoneName> = Vec::new();
    match &f.timezone {
        Some(z) => names.push(z),
        None => names.extend(pack.default_timezones()),
    }
    if let Some(z) = &f.phone_timezone {
        names.push(z);
    }
    let mut out: Vec<TimeZone> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if !seen.contains(&n.name()) {
            seen.push(n.name());
            out.push(n.tz().clone());
        }
    }
    out
}
