//! The compliance engine: `check` decides one proposed contact or escalation against the
//! borrower's pack, and is the only code that creates a `PermittedContact`.
//!
//! Rules come in two kinds. Standing rules (holds, parties, content, fees...) depend only on
//! the facts: when one fails, waiting cannot help. Timed rules (hours, daily caps, US-7IN7,
//! breathing space, notice waits, deadlines) depend on the instant. Each timed rule, failing
//! at `t`, also says until when it fails for certain: `Next::At(n)` means it fails on all of
//! `[t, n)`; `Next::Never` that no later instant helps. `earliest_allowed` starts at `at`,
//! jumps to the latest such `n` of the failing rules and evaluates every rule again, until
//! nothing fails. Every skipped interval had a failing rule throughout, so the instant found
//! is the first that passes, to the nanosecond, and it is itself checked by the same code.
//!
//! History records dated after `at` are ignored: a decision rests on what had happened by
//! the instant it is made for, and `earliest_allowed` assumes nothing new happens meanwhile.

use crate::content::{Identity, Lexicon, Vetting, vet};
use crate::facts::{
    BorrowerFacts, ContactPerson, ContactRecord, CreditNotice, FeeProposal, PlanFact, PlanState,
    ProposedContact,
};
use crate::local::{SEARCH_HORIZON, days, first_instant, local, start_of_day_on_or_after};
use crate::model::{
    Channel, LocalWindow, NoticeKind, Outcome, Party, PersonSource, Purpose, Target,
};
use crate::pack::{Pack, PackSet};
use crate::rule::RuleId;
use arrears_domain::Jurisdiction;
use arrears_domain::types::{BorrowerId, LoanId};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The engine's answer.
#[derive(Debug)]
pub enum Decision {
    /// The contact may be made at the instant checked, exactly as proposed.
    Allow(PermittedContact),
    /// The contact may not be made. `rule_ids` lists every rule that failed (sorted);
    /// `earliest_allowed` is the first instant at or after the one checked at which the same
    /// contact would pass every rule, or `None` when waiting cannot help.
    Deny {
        rule_ids: Vec<RuleId>,
        earliest_allowed: Option<Timestamp>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The failing rules (empty for `Allow`).
    pub fn rule_ids(&self) -> &[RuleId] {
        match self {
            Decision::Allow(_) => &[],
            Decision::Deny { rule_ids, .. } => rule_ids,
        }
    }

    pub fn earliest_allowed(&self) -> Option<Timestamp> {
        match self {
            Decision::Allow(p) => Some(p.at),
            Decision::Deny {
                earliest_allowed, ..
            } => *earliest_allowed,
        }
    }
}

/// Proof that `check` allowed a contact. It has no public constructor and no `Clone`, so a
/// channel that sends only what it is handed a `PermittedContact` for sends only what the
/// engine allowed, to whom, when and with which text.
#[derive(Debug)]
pub struct PermittedContact {
    borrower_id: BorrowerId,
    loan_id: Option<LoanId>,
    channel: Channel,
    party: Party,
    target: Option<Target>,
    purpose: Purpose,
    agency_id: Option<String>,
    message_text: Option<String>,
    at: Timestamp,
    jurisdiction: Jurisdiction,
    pack_version: String,
    policy: Option<String>,
    rules_checked: Vec<RuleId>,
}

impl PermittedContact {
    pub fn borrower_id(&self) -> &BorrowerId {
        &self.borrower_id
    }

    pub fn loan_id(&self) -> Option<&LoanId> {
        self.loan_id.as_ref()
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn party(&self) -> Party {
        self.party
    }

    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    pub fn agency_id(&self) -> Option<&str> {
        self.agency_id.as_deref()
    }

    /// The exact text that was vetted; the channel must send this and nothing else.
    pub fn message_text(&self) -> Option<&str> {
        self.message_text.as_deref()
    }

    /// The instant the contact was allowed for.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// The pack that allowed it (its jurisdiction code and version, and the lender policy).
    pub fn jurisdiction(&self) -> &Jurisdiction {
        &self.jurisdiction
    }

    pub fn pack_version(&self) -> &str {
        &self.pack_version
    }

    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Every rule of the pack the contact was checked against, for the audit entry.
    pub fn rules_checked(&self) -> &[RuleId] {
        &self.rules_checked
    }
}

/// Decides whether `proposed` may be made at `at`. Pure: no I/O, no clock.
pub fn check(
    proposed: &ProposedContact,
    facts: &BorrowerFacts,
    history: &[ContactRecord],
    at: Timestamp,
    packs: &PackSet,
) -> Decision {
    let Some(pack) = packs.get(&facts.jurisdiction) else {
        return Decision::Deny {
            rule_ids: vec![RuleId::SysNoPack],
            earliest_allowed: None,
        };
    };
    if facts.borrower_id != proposed.borrower_id {
        return Decision::Deny {
            rule_ids: vec![RuleId::SysFactsMismatch],
            earliest_allowed: None,
        };
    }
    let ctx = Context::new(proposed, facts, history, at, pack);
    let standing = ctx.standing_failures();
    let timed = ctx.timed_failures(at);
    if standing.is_empty() && timed.is_empty() {
        return Decision::Allow(PermittedContact {
            borrower_id: proposed.borrower_id.clone(),
            loan_id: proposed.loan_id.clone(),
            channel: proposed.channel,
            party: proposed.party,
            target: proposed.target.clone(),
            purpose: proposed.purpose,
            agency_id: proposed.agency_id.clone(),
            message_text: proposed.message.as_ref().map(|m| m.text.clone()),
            at,
            jurisdiction: pack.jurisdiction().clone(),
            pack_version: pack.version().to_owned(),
            policy: pack.policy().map(str::to_owned),
            rules_checked: pack.rules().map(|r| r.id).collect(),
        });
    }
    let mut rule_ids: Vec<RuleId> = standing
        .iter()
        .copied()
        .chain(timed.iter().map(|f| f.rule))
        .collect();
    rule_ids.sort();
    rule_ids.dedup();
    let earliest_allowed = if standing.is_empty() {
        ctx.earliest(timed)
    } else {
        None
    };
    Decision::Deny {
        rule_ids,
        earliest_allowed,
    }
}

/// Until when a failing timed rule fails for certain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    At(Timestamp),
    Never,
}

impl Next {
    fn later(self, other: Next) -> Next {
        match (self, other) {
            (Next::At(a), Next::At(b)) => Next::At(a.max(b)),
            _ => Next::Never,
        }
    }

    fn from_option(o: Option<Timestamp>) -> Next {
        o.map_or(Next::Never, Next::At)
    }
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    rule: RuleId,
    next: Next,
}

/// Records counted per local day in each zone (sorted local dates, one list per zone).
struct DailyCount {
    rule: RuleId,
    cap: u32,
    dates_per_zone: Vec<Vec<Date>>,
}

/// US-7IN7 state for the proposed call.
struct Cadence {
    max_attempts: u32,
    window: SignedDuration,
    /// Call attempts to this person about this debt, ascending.
    attempts: Vec<Timestamp>,
    /// Calls are blocked before this instant after a conversation.
    quiet_until: Option<Next>,
}

/// Everything `check` derives once from its inputs.
struct Context<'a> {
    proposed: &'a ProposedContact,
    facts: &'a BorrowerFacts,
    pack: &'a Pack,
    at: Timestamp,
    limit: Timestamp,
    zones: Vec<TimeZone>,
    history: Vec<&'a ContactRecord>,
    hours: Option<(RuleId, LocalWindow)>,
    visit_in_hours: bool,
    connected: Option<DailyCount>,
    attempts: Option<DailyCount>,
    cadence: Option<Cadence>,
    breathing_space_until: Option<Date>,
    /// The rule fails while `t < instant`.
    gates: Vec<(RuleId, Timestamp)>,
    /// The rule fails for good once `t >= instant`.
    deadlines: Vec<(RuleId, Timestamp)>,
    /// Standing failures found while deriving the timed state.
    standing_from_setup: Vec<RuleId>,
    /// The rule fails while `start <= t < end` (no end: for good).
    intervals: Vec<(RuleId, Timestamp, Option<Timestamp>)>,
    /// Payment plans protecting the loan: (plan, from, until).
    plan_protection: Vec<(&'a PlanFact, Timestamp, Option<Timestamp>)>,
    /// The borrower's own hours for the channel (ALL-PREFERENCE).
    preference_window: Option<LocalWindow>,
    /// Every own target failed recently (ALL-LOCATE), from the facts or the history.
    unreachable: bool,
    /// The debt is time-barred at `at` (US-TIMEBAR), or its period is unknown.
    time_barred: bool,
}

impl<'a> Context<'a> {
    fn new(
        proposed: &'a ProposedContact,
        facts: &'a BorrowerFacts,
        history: &'a [ContactRecord],
        at: Timestamp,
        pack: &'a Pack,
    ) -> Context<'a> {
        let limit = at.checked_add(SEARCH_HORIZON).unwrap_or(Timestamp::MAX);
        let mut ctx = Context {
            proposed,
            facts,
            pack,
            at,
            limit,
            zones: borrower_zones(facts, pack),
            history: history.iter().filter(|r| r.at <= at).collect(),
            hours: None,
            visit_in_hours: false,
            connected: None,
            attempts: None,
            cadence: None,
            breathing_space_until: None,
            gates: Vec::new(),
            deadlines: Vec::new(),
            standing_from_setup: Vec::new(),
            intervals: Vec::new(),
            plan_protection: Vec::new(),
            preference_window: None,
            unreachable: facts.unreachable,
            time_barred: proposed.time_barred,
        };
        ctx.unreachable = ctx.unreachable || ctx.all_targets_failing();
        ctx.setup_hours();
        ctx.setup_call_limits();
        ctx.setup_notices_and_deadlines();
        ctx.setup_lifecycle();
        if pack.has(RuleId::GbBreathingSpace) {
            ctx.breathing_space_until = facts.breathing_space_until;
        }
        ctx
    }

    fn setup_hours(&mut self) {
        let channel = self.proposed.channel;
        if let Some((rule, p)) = self.pack.hours()
            && p.channels.contains(channel)
        {
            let window = match self.facts.agreed_contact_hours {
                Some(agreed) if p.honor_agreed_hours => agreed,
                _ => p.window,
            };
            self.hours = Some((rule, window));
            // CN-VISIT: a visit must also be inside CN-HOURS; it fails with the hours rule.
            self.visit_in_hours =
                channel == Channel::Visit && self.pack.visit().is_some() && rule == RuleId::CnHours;
        }
    }

    fn setup_call_limits(&mut self) {
        let p = self.proposed;
        if p.channel != Channel::Call {
            return;
        }
        if let Some(cap) = self.pack.daily_cap(RuleId::CnFreqConnected) {
            // Conversations with anyone about this borrower, on any loan, by anyone.
            let records: Vec<Timestamp> = self
                .history
                .iter()
                .filter(|r| r.borrower_id == p.borrower_id && r.is_conversation())
                .map(|r| r.at)
                .collect();
            self.connected =
                Some(self.daily_count(RuleId::CnFreqConnected, cap.max_per_local_day, &records));
        }
        if let Some(cap) = self.pack.daily_cap(RuleId::CnFreqAttempts)
            && let Some(target) = &p.target
        {
            // Unanswered calls to this number, whoever's account they were about.
            let records: Vec<Timestamp> = self
                .history
                .iter()
                .filter(|r| r.is_unanswered_call() && r.target.as_ref() == Some(target))
                .map(|r| r.at)
                .collect();
            self.attempts =
                Some(self.daily_count(RuleId::CnFreqAttempts, cap.max_per_local_day, &records));
        }
        if let Some(c) = self.pack.call_cadence() {
            let same_debt = |r: &ContactRecord| match (&p.loan_id, &r.loan_id) {
                (Some(a), Some(b)) => a == b,
                // A call about no particular debt, or a record of one, counts for every debt.
                _ => true,
            };
            let same_person = |r: &ContactRecord| match p.party {
                Party::Borrower => r.party == Party::Borrower,
                _ => r.party != Party::Borrower && r.target.is_some() && r.target == p.target,
            };
            let calls: Vec<&ContactRecord> = self
                .history
                .iter()
                .copied()
                .filter(|r| {
                    r.is_call() && r.borrower_id == p.borrower_id && same_debt(r) && same_person(r)
                })
                .collect();
            let mut attempts: Vec<Timestamp> = calls.iter().map(|r| r.at).collect();
            attempts.sort();
            let mut quiet_until = None;
            if c.quiet_local_days > 0 {
                for r in calls.iter().filter(|r| r.is_conversation()) {
                    let end = self.quiet_end(r.at, c.quiet_local_days);
                    quiet_until = Some(quiet_until.map_or(end, |q: Next| q.later(end)));
                }
            }
            self.cadence = Some(Cadence {
                max_attempts: c.max_attempts,
                window: days(c.window_days),
                attempts,
                quiet_until,
            });
        }
    }

    /// The end of the quiet period after a conversation at `conversation`: the start of the
    /// local day `quiet_days` after the conversation's day (day 1), in every zone.
    fn quiet_end(&self, conversation: Timestamp, quiet_days: u32) -> Next {
        let mut end = Next::At(conversation);
        if self.zones.is_empty() {
            return Next::Never;
        }
        for tz in &self.zones {
            let day1 = local(tz, conversation).date();
            // The search may need to reach just past the quiet period itself.
            let limit = conversation
                .checked_add(days(quiet_days.saturating_add(2)))
                .unwrap_or(Timestamp::MAX);
            let resume = day1
                .checked_add(jiff::Span::new().days(i64::from(quiet_days)))
                .ok()
                .and_then(|d| start_of_day_on_or_after(tz, conversation, d, limit));
            end = end.later(Next::from_option(resume));
        }
        end
    }

    fn daily_count(&self, rule: RuleId, cap: u32, records: &[Timestamp]) -> DailyCount {
        let dates_per_zone = self
            .zones
            .iter()
            .map(|tz| {
                let mut d: Vec<Date> = records.iter().map(|&at| local(tz, at).date()).collect();
                d.sort();
                d
            })
            .collect();
        DailyCount {
            rule,
            cap,
            dates_per_zone,
        }
    }

    fn setup_notices_and_deadlines(&mut self) {
        let p = self.proposed;
        let f = self.facts;
        match p.channel {
            Channel::AgencyPlacement => {
                if let Some(a) = self.pack.agency()
                    && a.require_prior_notice
                {
                    match earliest(
                        f.agency_notice_at,
                        self.notice_at(NoticeKind::AgencyPlacement),
                    ) {
                        Some(ts) => self.gates.push((RuleId::CnAgency, ts)),
                        None => self.standing_from_setup.push(RuleId::CnAgency),
                    }
                }
            }
            Channel::CreditReport => {
                let notice = self.credit_notice();
                if let Some(c) = self.pack.cn_credit()
                    && c.require_prior_notice
                {
                    match notice {
                        Some(n) => self.gates.push((RuleId::CnCredit, n.sent_at)),
                        None => self.standing_from_setup.push(RuleId::CnCredit),
                    }
                }
                if let Some(c) = self.pack.us_credit() {
                    // A notice on record, and then: the borrower reached (from the notice on),
                    // or the wait after a notice that did not bounce.
                    let reached = self.reached_at();
                    let opens = notice.and_then(|n| {
                        let waited = (!n.bounced)
                            .then(|| n.sent_at.checked_add(days(c.notice_wait_days)).ok())
                            .flatten();
                        let by_reach = reached.map(|r| r.max(n.sent_at));
                        match (by_reach, waited) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        }
                    });
                    match opens {
                        Some(ts) => self.gates.push((RuleId::UsCredit, ts)),
                        None => self.standing_from_setup.push(RuleId::UsCredit),
                    }
                }
            }
            _ => {}
        }
        // US-VALIDATION: without a validation notice, collection stops once the time to send
        // one after the initial communication has run out.
        let validation = earliest(
            f.validation_notice_at,
            self.notice_at(NoticeKind::Validation),
        );
        if let Some(v) = self.pack.validation()
            && let Some(initial) =
                earliest(f.initial_communication_at, self.initial_communication())
            && validation.is_none_or(|sent| sent > self.at)
            && (p.channel.is_escalation() || p.purpose == Purpose::Collection)
        {
            match initial.checked_add(days(v.notice_within_days)) {
                Ok(deadline) => self.deadlines.push((RuleId::UsValidation, deadline)),
                Err(_) => self.standing_from_setup.push(RuleId::UsValidation),
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Facts from the lifecycle
    // -----------------------------------------------------------------------------------

    /// A record about `loan` applies to the proposal: records about every debt always do;
    /// a record about one debt applies to a proposal about that debt.
    fn applies(&self, loan: Option<&LoanId>) -> bool {
        match (loan, &self.proposed.loan_id) {
            (None, _) => true,
            (Some(l), Some(p)) => l == p,
            (Some(_), None) => false,
        }
    }

    /// The earliest notice of `kind` on record for the proposal's debt.
    fn notice_at(&self, kind: NoticeKind) -> Option<Timestamp> {
        self.facts
            .notices
            .iter()
            .filter(|n| n.kind == kind && self.applies(n.loan_id.as_ref()))
            .map(|n| n.sent_at)
            .min()
    }

    /// The credit-reporting notice: the one given in the facts, else the earliest on record.
    fn credit_notice(&self) -> Option<CreditNotice> {
        let recorded = self
            .notice_at(NoticeKind::CreditReporting)
            .map(|sent_at| CreditNotice {
                sent_at,
                bounced: false,
            });
        match (self.facts.credit_notice, recorded) {
            (Some(a), Some(b)) if b.sent_at < a.sent_at => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }

    /// The initial communication: the first outbound contact to the borrower recorded on the
    /// debt (US-VALIDATION).
    fn initial_communication(&self) -> Option<Timestamp> {
        self.history
            .iter()
            .filter(|r| {
                !r.inbound
                    && !r.assumed
                    && r.party == Party::Borrower
                    && r.channel.is_contact()
                    && r.borrower_id == self.proposed.borrower_id
                    && match (&r.loan_id, &self.proposed.loan_id) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    }
            })
            .map(|r| r.at)
            .min()
    }

    /// When the borrower was first reached (US-CREDIT): a conversation, an inbound contact, or
    /// the initial communication given in the facts.
    fn reached_at(&self) -> Option<Timestamp> {
        let recorded = self
            .history
            .iter()
            .filter(|r| {
                r.borrower_id == self.proposed.borrower_id
                    && !r.assumed
                    && r.party == Party::Borrower
                    && (r.inbound || r.is_conversation())
            })
            .map(|r| r.at)
            .min();
        earliest(self.facts.initial_communication_at, recorded)
    }

    /// ALL-LOCATE's "unreachable": every own target of the borrower has at least 3 failed
    /// outbound attempts in the 30 days up to `at` after its last success, and so no success
    /// after them.
    fn all_targets_failing(&self) -> bool {
        const FAILURES: usize = 3;
        let since = self.at.checked_sub(days(30)).unwrap_or(Timestamp::MIN);
        self.facts.own_targets.iter().all(|t| {
            let mut to_target: Vec<&ContactRecord> = self
                .history
                .iter()
                .copied()
                .filter(|r| !r.inbound && !r.assumed && r.target.as_ref() == Some(t))
                .collect();
            to_target.sort_by_key(|r| r.at);
            let after_success = to_target
                .iter()
                .rposition(|r| !r.outcome.is_failed_attempt())
                .map_or(0, |i| i + 1);
            to_target[after_success..]
                .iter()
                .filter(|r| r.at > since)
                .count()
                >= FAILURES
        })
    }

    /// The credit rules an open dispute fails (CN-CREDIT, US-CREDIT, as the pack has them).
    fn credit_rules(&self) -> Vec<RuleId> {
        [RuleId::CnCredit, RuleId::UsCredit]
            .into_iter()
            .filter(|r| self.pack.has(*r))
            .collect()
    }

    /// The start of the local day after `t`'s, in the latest of the borrower's zones.
    fn next_local_day(&self, t: Timestamp) -> Option<Timestamp> {
        let mut out: Option<Timestamp> = None;
        for tz in &self.zones {
            let next = local(tz, t)
                .date()
                .tomorrow()
                .ok()
                .and_then(|d| start_of_day_on_or_after(tz, t, d, Timestamp::MAX))?;
            out = Some(out.map_or(next, |o| o.max(next)));
        }
        out
    }

    fn setup_lifecycle(&mut self) {
        let p = self.proposed;
        let f = self.facts;
        let on_loan = |l: &LoanId| p.loan_id.as_ref() == Some(l);
        // ALL-PREFERENCE: the borrower's own hours narrow the pack's.
        if p.party == Party::Borrower && p.channel.is_contact() {
            self.preference_window = f
                .preferences
                .iter()
                .find(|x| x.channel == p.channel)
                .and_then(|x| x.window);
        }
        // GB-FORBEARANCE: an offer dated later is a wait, not a standing failure.
        if p.channel.is_escalation()
            && self.pack.has(RuleId::GbForbearance)
            && f.hardship
            && !f.forbearance_offered
            && let Some(offer) = self.notice_at(NoticeKind::ForbearanceOffer)
        {
            self.gates.push((RuleId::GbForbearance, offer));
        }
        // ALL-PLAN: an active plan protects from its creation; a broken one until the end of
        // the local day it broke on. Notices go through; dunning and escalations do not.
        let dunning = p.channel.is_escalation()
            || matches!(
                p.purpose,
                Purpose::Collection | Purpose::Locate | Purpose::PlanReminder
            );
        if dunning {
            for plan in f.plans.iter().filter(|x| on_loan(&x.loan_id)) {
                let until = match plan.state {
                    PlanState::Active => None,
                    PlanState::Broken => match plan.state_at {
                        Some(at) => Some(self.next_local_day(at).unwrap_or(at)),
                        None => continue,
                    },
                    _ => continue,
                };
                self.plan_protection.push((plan, plan.created_at, until));
            }
        }
        // ALL-PLACED: the lender does not contact a loan an agency holds.
        if p.agency_id.is_none() && p.channel.is_contact() {
            for x in f.placements.iter().filter(|x| on_loan(&x.loan_id)) {
                if x.recalled_at.is_none_or(|r| r > x.placed_at) {
                    self.intervals
                        .push((RuleId::AllPlaced, x.placed_at, x.recalled_at));
                }
            }
        }
        // ALL-SOLD: nothing after the sale but one assignment notice.
        for x in f.sales.iter().filter(|x| on_loan(&x.loan_id)) {
            let assignment_sent = f.notices.iter().any(|n| {
                n.kind == NoticeKind::Assignment
                    && self.applies(n.loan_id.as_ref())
                    && n.sent_at >= x.sold_at
                    && n.sent_at <= self.at
            });
            // The one notice: written (a letter, e-mail, SMS or push; a call is no notice),
            // naming the buyer, and not sent before.
            let names_buyer = p
                .message
                .as_ref()
                .is_some_and(|m| !x.buyer.trim().is_empty() && m.text.contains(x.buyer.trim()));
            let permitted = p.purpose == Purpose::Notice(NoticeKind::Assignment)
                && p.channel.is_written()
                && names_buyer
                && !assignment_sent;
            if !permitted {
                self.intervals.push((RuleId::AllSold, x.sold_at, None));
            }
        }
        // An open credit dispute freezes negative reports on its loan.
        if p.channel == Channel::CreditReport {
            let rules = self.credit_rules();
            let open: Vec<(Timestamp, Option<Timestamp>)> = f
                .credit_disputes
                .iter()
                .filter(|d| self.applies(d.loan_id.as_ref()))
                .map(|d| (d.opened_at, d.resolved_at))
                .collect();
            for (from, until) in open {
                for &rule in &rules {
                    self.intervals.push((rule, from, until));
                }
            }
        }
        // US-TIMEBAR: the period runs from the last payment, else the first due date.
        if self.pack.has(RuleId::UsTimebar) {
            let start = p.loan_id.as_ref().and_then(|l| f.loan(l)).and_then(|l| {
                match (l.last_payment_at, self.zones.first()) {
                    (Some(at), Some(tz)) => Some(local(tz, at).date()),
                    _ => l.first_due_date,
                }
            });
            let years = self.pack.limitation_years(&f.jurisdiction);
            // The first instant the debt is time-barred: local midnight of the day the
            // period ends, in the earliest of the borrower's zones.
            let barred_from = match (start, years) {
                (Some(start), Some(years)) => start
                    .checked_add(jiff::Span::new().years(i64::from(years)))
                    .ok()
                    .and_then(|d| {
                        self.zones
                            .iter()
                            .filter_map(|tz| {
                                d.to_datetime(jiff::civil::Time::midnight())
                                    .to_zoned(tz.clone())
                                    .ok()
                                    .map(|z| z.timestamp())
                            })
                            .min()
                    }),
                _ => None,
            };
            match barred_from {
                Some(b) => {
                    if self.at >= b {
                        self.time_barred = true;
                    }
                    if p.channel == Channel::LegalReferral {
                        self.deadlines.push((RuleId::UsTimebar, b));
                    }
                }
                // No period, or no date to run it from: nothing shows that the debt is not
                // time-barred, so no legal referral clears (messages are judged on what is
                // known: a debt shown to be time-barred gets no mention of suit).
                None => {
                    if p.channel == Channel::LegalReferral {
                        self.standing_from_setup.push(RuleId::UsTimebar);
                    }
                }
            }
        }
    }

    /// A plan reminder is due at `t`: an instalment falls due within 3 local days, or one
    /// past due is not filled by what was paid since the plan began.
    fn reminder_due(&self, plan: &PlanFact, t: Timestamp) -> bool {
        if self.proposed.purpose != Purpose::PlanReminder || plan.state != PlanState::Active {
            return false;
        }
        let Some(tz) = self.zones.first() else {
            return false;
        };
        let today = local(tz, t).date();
        let soon = today
            .checked_add(jiff::Span::new().days(3))
            .unwrap_or(today);
        let mut filled: i128 = i128::from(plan.paid_minor);
        let mut installments = plan.installments.clone();
        installments.sort_by_key(|i| i.seq);
        for i in &installments {
            let covered = filled >= i128::from(i.amount_minor);
            filled -= i128::from(i.amount_minor);
            if i.due_date >= today && i.due_date <= soon {
                return true;
            }
            if i.due_date < today && !covered {
                return true;
            }
        }
        false
    }

    // -----------------------------------------------------------------------------------
    // Standing rules
    // -----------------------------------------------------------------------------------

    fn standing_failures(&self) -> Vec<RuleId> {
        let mut out = self.standing_from_setup.clone();
        self.holds(&mut out);
        if self.proposed.channel.is_contact() {
            self.parties(&mut out);
            self.opt_out(&mut out);
            self.content(&mut out);
        }
        self.agency(&mut out);
        self.escalations(&mut out);
        self.visit(&mut out);
        self.fees(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn holds(&self, out: &mut Vec<RuleId>) {
        let f = self.facts;
        let p = self.proposed;
        if f.deceased {
            out.push(RuleId::AllHoldDeceased);
        }
        if f.bankrupt {
            out.push(RuleId::AllHoldBankrupt);
        }
        let permitted_notice = |rule: RuleId| match (p.purpose, self.pack.permitted_notices(rule)) {
            (Purpose::Notice(kind), Some(n)) => {
                n.permitted_notices.contains(kind) && n.notice_channels.contains(p.channel)
            }
            _ => false,
        };
        if f.dispute_open
            && (p.channel.is_escalation() || !permitted_notice(RuleId::AllHoldDispute))
        {
            out.push(RuleId::AllHoldDispute);
        }
        if f.cease_contact && p.channel.is_contact() && !permitted_notice(RuleId::AllCease) {
            out.push(RuleId::AllCease);
        }
    }

    /// The contact person meant, by id or else by target.
    fn person(&self) -> Option<&'a ContactPerson> {
        let p = self.proposed;
        let persons = &self.facts.contact_persons;
        match (&p.person_id, &p.target) {
            (Some(id), _) => persons.iter().find(|c| &c.person_id == id),
            (None, Some(t)) => persons.iter().find(|c| c.has_target(t)),
            (None, None) => None,
        }
    }

    /// The target fits the channel and, when given, is one of `allowed`.
    fn target_fits(&self, allowed: impl Fn(&Target) -> bool) -> bool {
        let p = self.proposed;
        match (p.channel.target_kind(), &p.target) {
            (Some(kind), Some(t)) => t.kind() == kind && allowed(t),
            (Some(_), None) => false,
            (None, Some(t)) => allowed(t),
            (None, None) => true,
        }
    }

    fn parties(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        let f = self.facts;
        let represented = !f.attorney_targets.is_empty();
        if represented && p.party != Party::Attorney {
            // The borrower has an attorney: contact goes to the attorney only.
            out.push(RuleId::AllOnlyDebtor);
        }
        match p.party {
            Party::Borrower => {
                if !self.target_fits(|t| f.own_targets.contains(t)) {
                    out.push(RuleId::AllOnlyDebtor);
                }
            }
            Party::CoBorrower => {
                let ok = self.person().is_some_and(|c| {
                    c.source == PersonSource::Contract && self.target_fits(|t| c.has_target(t))
                });
                if !ok {
                    out.push(RuleId::AllOnlyDebtor);
                }
            }
            Party::Attorney => {
                if !represented || !self.target_fits(|t| f.attorney_targets.contains(t)) {
                    out.push(RuleId::AllOnlyDebtor);
                }
            }
            Party::DesignatedContact => self.locate(out),
            Party::ThirdParty | Party::AddressBook => {
                // Neither the borrower's channel nor a person designated in advance.
                out.push(RuleId::AllOnlyDebtor);
                out.push(RuleId::AllLocate);
            }
        }
    }

    fn locate(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        let Some(person) = self.person() else {
            out.push(RuleId::AllLocate);
            return;
        };
        if person.source == PersonSource::AddressBook {
            out.push(RuleId::AllOnlyDebtor);
        }
        let to_person: Vec<&ContactRecord> = self
            .history
            .iter()
            .copied()
            .filter(|r| r.target.as_ref().is_some_and(|t| person.has_target(t)))
            .collect();
        let refused = person.refused || to_person.iter().any(|r| r.outcome == Outcome::Refused);
        let prior = to_person.len();
        let (max, channel_ok) = match self.pack.locate() {
            Some(l) => (l.max_contacts_per_person, l.channels.contains(p.channel)),
            None => (0, false),
        };
        let ok = person.source == PersonSource::Designated
            && !refused
            && p.purpose == Purpose::Locate
            && self.unreachable
            && channel_ok
            && u32::try_from(prior).is_ok_and(|n| n < max)
            && self.target_fits(|t| person.has_target(t));
        if !ok {
            out.push(RuleId::AllLocate);
        }
    }

    fn opt_out(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        if p.party == Party::Borrower
            && self
                .facts
                .preferences
                .iter()
                .any(|x| x.channel == p.channel && x.opted_out)
        {
            out.push(RuleId::AllPreference);
            if let Some(o) = self.pack.opt_out()
                && o.channels.contains(p.channel)
            {
                out.push(RuleId::UsEopt);
            }
        }
        if let Some((rule, channels)) = self.pack.opt_out_rule()
            && channels.contains(self.proposed.channel)
            && self
                .proposed
                .target
                .as_ref()
                .is_some_and(|t| self.facts.opted_out.contains(t))
        {
            out.push(rule);
        }
    }

    fn content(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        let written = p.channel.is_written();
        let Some(m) = &p.message else {
            if written {
                // Nothing to vet means nothing may be sent.
                out.push(RuleId::AllContent);
                out.push(RuleId::AllIdentity);
            }
            return;
        };
        let lexicon = match Lexicon::embedded() {
            Ok(l) => l,
            Err(_) => {
                out.push(RuleId::AllContent);
                return;
            }
        };
        let identity_params = self.pack.identity();
        let identity_needed =
            m.voicemail || identity_params.is_some_and(|i| i.channels.contains(p.channel));
        let identity = identity_needed.then(|| Identity {
            lender_name: &m.lender_name,
            agency_name: m.agency_name.as_deref(),
            verification_code: Some(&m.verification_code),
            opt_out_required: identity_params
                .is_some_and(|i| i.opt_out_channels.contains(p.channel)),
        });
        let ask = Vetting {
            identity,
            limited_content: m.voicemail && self.pack.has(RuleId::UsLcm),
            locate: p.purpose == Purpose::Locate,
            time_barred: self.time_barred && self.pack.has(RuleId::UsTimebar),
            no_pay_in_full_pressure: self.facts.hardship && self.pack.has(RuleId::GbForbearance),
            complaint_hotline: match (p.purpose, self.pack.complaint()) {
                (Purpose::Notice(_), Some(c)) if written => Some(c.hotline.as_str()),
                _ => None,
            },
        };
        // A message about a loan is bound to the loan's real open legal case, if it has one
        // (the binding a caller gives wins): legal words need a matching real record.
        let mut binding = m.binding;
        if binding.legal_case_status.is_none() {
            binding.legal_case_status = p
                .loan_id
                .as_ref()
                .and_then(|l| self.facts.loan(l))
                .and_then(|l| l.legal_case);
        }
        for v in vet(lexicon, &m.text, m.language, binding, &ask) {
            out.push(v.rule_id);
        }
    }

    fn agency(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        let Some(a) = self.pack.agency() else { return };
        if !a.require_approved_agency {
            return;
        }
        let approved = |id: &String| self.pack.approved_agencies().contains(id);
        match (&p.agency_id, p.channel) {
            (None, Channel::AgencyPlacement) => out.push(RuleId::CnAgency),
            (Some(id), _) if !approved(id) => out.push(RuleId::CnAgency),
            _ => {}
        }
    }

    fn escalations(&self, out: &mut Vec<RuleId>) {
        let p = self.proposed;
        let f = self.facts;
        if !p.channel.is_escalation() {
            return;
        }
        if self.pack.has(RuleId::GbForbearance)
            && f.hardship
            && !f.forbearance_offered
            && self.notice_at(NoticeKind::ForbearanceOffer).is_none()
        {
            out.push(RuleId::GbForbearance);
        }
        if p.channel == Channel::LegalReferral
            && self.time_barred
            && self.pack.has(RuleId::UsTimebar)
        {
            out.push(RuleId::UsTimebar);
        }
        if p.channel == Channel::CreditReport && f.credit_dispute_open {
            out.extend(self.credit_rules());
        }
    }

    fn visit(&self, out: &mut Vec<RuleId>) {
        if self.proposed.channel != Channel::Visit {
            return;
        }
        if let Some(v) = self.pack.visit() {
            let ok = self.proposed.visit.is_some_and(|plan| {
                plan.staff_count >= v.min_staff && (plan.recorded || !v.require_recording)
            });
            if !ok {
                out.push(RuleId::CnVisit);
            }
        }
    }

    fn fees(&self, out: &mut Vec<RuleId>) {
        if self.proposed.channel != Channel::Fee {
            return;
        }
        match self.proposed.fee {
            None => out.push(RuleId::AllFeeCap),
            Some(FeeProposal::CollectionFee {
                amount_minor,
                contract_allows,
            }) => {
                let pack_allows = self
                    .pack
                    .fee_cap()
                    .is_some_and(|f| f.collection_fee_allowed);
                if amount_minor <= 0 || !contract_allows || !pack_allows {
                    out.push(RuleId::AllFeeCap);
                }
                if let Some(c) = self.pack.charges()
                    && amount_minor > c.max_charge_minor
                {
                    out.push(RuleId::GbCharges);
                }
            }
            Some(FeeProposal::PenaltyRate {
                annual_rate_bps,
                penalty_rate_bps,
            }) => {
                if let Some((rule, cost)) = self.pack.cost()
                    && let Some(cap) = cost.max_annual_cost_bps
                    && u64::from(annual_rate_bps) + u64::from(penalty_rate_bps) > u64::from(cap)
                {
                    out.push(RuleId::AllFeeCap);
                    out.push(rule);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Timed rules
    // -----------------------------------------------------------------------------------

    fn timed_failures(&self, t: Timestamp) -> Vec<Failure> {
        let mut out = Vec::new();
        if let Some((rule, window)) = self.hours
            && let Some(next) = self.outside_window(window, t)
        {
            out.push(Failure { rule, next });
            if self.visit_in_hours {
                out.push(Failure {
                    rule: RuleId::CnVisit,
                    next,
                });
            }
        }
        for count in [&self.connected, &self.attempts].into_iter().flatten() {
            if let Some(next) = self.over_daily_cap(count, t) {
                out.push(Failure {
                    rule: count.rule,
                    next,
                });
            }
        }
        if let Some(c) = &self.cadence {
            out.extend(cadence_failures(c, t));
        }
        if let Some(until) = self.breathing_space_until
            && let Some(next) = self.in_moratorium(until, t)
        {
            out.push(Failure {
                rule: RuleId::GbBreathingSpace,
                next,
            });
        }
        if let Some(window) = self.preference_window
            && let Some(next) = self.outside_window(window, t)
        {
            out.push(Failure {
                rule: RuleId::AllPreference,
                next,
            });
        }
        for &(rule, from, until) in &self.intervals {
            if t >= from && until.is_none_or(|u| t < u) {
                out.push(Failure {
                    rule,
                    next: Next::from_option(until),
                });
            }
        }
        for &(plan, from, until) in &self.plan_protection {
            if t >= from && until.is_none_or(|u| t < u) && !self.reminder_due(plan, t) {
                out.push(Failure {
                    rule: RuleId::AllPlan,
                    next: Next::from_option(until),
                });
            }
        }
        for &(rule, opens) in &self.gates {
            if t < opens {
                out.push(Failure {
                    rule,
                    next: Next::At(opens),
                });
            }
        }
        for &(rule, closes) in &self.deadlines {
            if t >= closes {
                out.push(Failure {
                    rule,
                    next: Next::Never,
                });
            }
        }
        out
    }

    /// `None` when `t` is inside the window in every zone; else until when it is not.
    fn outside_window(&self, window: LocalWindow, t: Timestamp) -> Option<Next> {
        if self.zones.is_empty() {
            return Some(Next::Never);
        }
        let mut failing: Option<Next> = None;
        for tz in &self.zones {
            if window.contains(local(tz, t).time()) {
                continue;
            }
            let opens = first_instant(tz, t, self.limit, |l| {
                if window.contains(l.time()) {
                    Some(l)
                } else if l.time() < window.start() {
                    Some(l.date().to_datetime(window.start()))
                } else {
                    l.date()
                        .tomorrow()
                        .ok()
                        .map(|d| d.to_datetime(window.start()))
                }
            });
            let next = Next::from_option(opens);
            failing = Some(failing.map_or(next, |f| f.later(next)));
        }
        failing
    }

    /// `None` when today's count is under the cap in every zone; else until the next local day.
    fn over_daily_cap(&self, count: &DailyCount, t: Timestamp) -> Option<Next> {
        if self.zones.is_empty() {
            return Some(Next::Never);
        }
        let mut failing: Option<Next> = None;
        for (tz, dates) in self.zones.iter().zip(&count.dates_per_zone) {
            let today = local(tz, t).date();
            let n = dates.partition_point(|d| *d <= today) - dates.partition_point(|d| *d < today);
            if u64::try_from(n).unwrap_or(u64::MAX) >= u64::from(count.cap) {
                let next = Next::from_option(
                    today
                        .tomorrow()
                        .ok()
                        .and_then(|d| start_of_day_on_or_after(tz, t, d, self.limit)),
                );
                failing = Some(failing.map_or(next, |f| f.later(next)));
            }
        }
        failing
    }

    /// `None` once the moratorium's last day has passed in every zone.
    fn in_moratorium(&self, until: Date, t: Timestamp) -> Option<Next> {
        if self.zones.is_empty() {
            return Some(Next::Never);
        }
        let mut failing: Option<Next> = None;
        for tz in &self.zones {
            if local(tz, t).date() > until {
                continue;
            }
            let next = Next::from_option(
                until
                    .tomorrow()
                    .ok()
                    .and_then(|d| start_of_day_on_or_after(tz, t, d, self.limit)),
            );
            failing = Some(failing.map_or(next, |f| f.later(next)));
        }
        failing
    }

    /// The first instant at or after `at` that passes every timed rule, given that the
    /// standing rules pass and `failures` are the timed failures at `at`.
    fn earliest(&self, mut failures: Vec<Failure>) -> Option<Timestamp> {
        // Each round moves past at least one failing rule's interval; a few rounds suffice
        // in practice (hours, then a daily cap, then hours again on the next day).
        const MAX_ROUNDS: usize = 256;
        let mut t = self.at;
        for _ in 0..MAX_ROUNDS {
            let mut next = t;
            for f in &failures {
                match f.next {
                    Next::Never => return None,
                    // A rule failing at `t` that claims to pass at `t` would loop forever.
                    Next::At(n) if n <= t => return None,
                    Next::At(n) => next = next.max(n),
                }
            }
            if failures.is_empty() {
                return Some(t);
            }
            if next > self.limit {
                return None;
            }
            t = next;
            failures = self.timed_failures(t);
        }
        None
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// US-7IN7 at `t`: too many attempts in the rolling window, or inside a quiet period.
fn cadence_failures(c: &Cadence, t: Timestamp) -> Vec<Failure> {
    let mut out = Vec::new();
    let rule = RuleId::Us7In7;
    if let Ok(window_start) = t.checked_sub(c.window) {
        // Attempts in (t - window, t]: all recorded attempts are at or before `t`.
        let first_in = c.attempts.partition_point(|a| *a <= window_start);
        let in_window = &c.attempts[first_in..];
        let count = in_window.len();
        let max = usize::try_from(c.max_attempts).unwrap_or(usize::MAX);
        if count >= max {
            // This call would exceed the cap until enough of the oldest attempts leave the
            // window: the one at index count - max leaves last, at its instant + window.
            let next = match in_window.get(count - max) {
                Some(leaving) if max > 0 => Next::from_option(leaving.checked_add(c.window).ok()),
                _ => Next::Never,
            };
            out.push(Failure { rule, next });
        }
    }
    if let Some(q) = c.quiet_until {
        match q {
            Next::At(until) if t < until => out.push(Failure { rule, next: q }),
            Next::Never => out.push(Failure {
                rule,
                next: Next::Never,
            }),
            _ => {}
        }
    }
    out
}

/// The zones in which the borrower's local time is judged: the address zone and the phone's
/// zone when known, else the pack's default zones (plus the phone's). A contact must be
/// allowed in all of them.
fn borrower_zones(facts: &BorrowerFacts, pack: &Pack) -> Vec<TimeZone> {
    let mut names: Vec<&arrears_domain::TimeZoneName> = Vec::new();
    match &facts.timezone {
        Some(z) => names.push(z),
        None => names.extend(pack.default_timezones()),
    }
    if let Some(z) = &facts.phone_timezone {
        names.push(z);
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut zones = Vec::new();
    for n in names {
        if !seen.contains(&n.name()) {
            seen.push(n.name());
            zones.push(n.tz().clone());
        }
    }
    zones
}
