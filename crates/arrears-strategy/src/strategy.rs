//! The strategy file: a decision table in TOML.
//!
//! ```toml
//! [strategy]
//! name = "default"
//! version = "2026.12"
//! lender_name = "Arrears Demo Lender"
//! plan_time = "09:00"                 # the plan instant: this local time on the business day
//! max_calls_per_borrower_per_day = 1  # across all the borrower's loans
//!
//! [[rule]]
//! id = "early-sms"
//! [rule.when]                         # every condition given must hold; absent = any
//! stages = ["early"]
//! dpd = { min = 1, max = 7 }
//! [rule.action]
//! kind = "sms"
//! template = "reminder_overdue"
//! [rule.cadence]
//! every_days = 3                      # since the last contact on this channel about the loan
//! max_per_stage = 3                   # contacts on this channel since the loan entered its stage
//! [[rule.arm]]                        # champion/challenger split by FNV-1a of the loan id
//! name = "champion"
//! percent = 80
//! [[rule.arm]]
//! name = "challenger"
//! percent = 20
//! template = "reminder_overdue_short"
//!
//! [templates.reminder_overdue]
//! en = "..."
//! "zh-CN" = "..."
//! ```
//!
//! Rules are tried in file order; the first rule whose conditions hold and whose cadence is
//! due decides the loan's action for the day (at most one per loan). Every error names the
//! rule id and the field (`rule early-sms: when.dpd: min 9 is above max 7`).

use crate::template::TemplateSet;
use arrears_domain::Bands;
use arrears_policy::{Channel, Language, Outcome, Purpose};
use jiff::civil::Time;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The strategy shipped with Arrears: the life of an overdue loan.
pub const DEFAULT_STRATEGY: &str = include_str!("../strategies/default.toml");

/// One problem in a strategy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyError {
    /// The rule id, when the problem is inside a rule.
    pub rule: Option<String>,
    /// The field, as a dotted path inside the rule (`when.dpd`) or the file (`strategy.name`).
    pub field: String,
    pub message: String,
}

impl StrategyError {
    pub(crate) fn new(rule: Option<&str>, field: &str, message: impl Into<String>) -> Self {
        StrategyError {
            rule: rule.map(str::to_owned),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for StrategyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "rule {r}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

impl std::error::Error for StrategyError {}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    Sms,
    Email,
    Push,
    /// A call for an agent queue (checked as a `call`).
    CallTask,
    Letter,
    AgencyPlacement,
    /// Referral of the account for legal review (checked as a `legal_referral`).
    LegalReview,
    /// An internal proposal to write the loan off: it contacts no one and affects no
    /// borrower, so it is not a contact for `check`.
    WriteOffProposal,
    CreditReport,
}

impl ActionKind {
    pub const ALL: [ActionKind; 9] = [
        ActionKind::Sms,
        ActionKind::Email,
        ActionKind::Push,
        ActionKind::CallTask,
        ActionKind::Letter,
        ActionKind::AgencyPlacement,
        ActionKind::LegalReview,
        ActionKind::WriteOffProposal,
        ActionKind::CreditReport,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ActionKind::Sms => "sms",
            ActionKind::Email => "email",
            ActionKind::Push => "push",
            ActionKind::CallTask => "call_task",
            ActionKind::Letter => "letter",
            ActionKind::AgencyPlacement => "agency_placement",
            ActionKind::LegalReview => "legal_review",
            ActionKind::WriteOffProposal => "write_off_proposal",
            ActionKind::CreditReport => "credit_report",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.code() == s)
    }

    /// The channel `check` decides it on; `None` for the internal write-off proposal.
    pub fn channel(self) -> Option<Channel> {
        match self {
            ActionKind::Sms => Some(Channel::Sms),
            ActionKind::Email => Some(Channel::Email),
            ActionKind::Push => Some(Channel::Push),
            ActionKind::CallTask => Some(Channel::Call),
            ActionKind::Letter => Some(Channel::Letter),
            ActionKind::AgencyPlacement => Some(Channel::AgencyPlacement),
            ActionKind::LegalReview => Some(Channel::LegalReferral),
            ActionKind::CreditReport => Some(Channel::CreditReport),
            ActionKind::WriteOffProposal => None,
        }
    }

    /// Sends a written message (a template is required).
    pub fn is_written(self) -> bool {
        matches!(
            self,
            ActionKind::Sms | ActionKind::Email | ActionKind::Push | ActionKind::Letter
        )
    }

    /// An electronic message, which must offer an opt-out.
    pub fn is_electronic(self) -> bool {
        matches!(self, ActionKind::Sms | ActionKind::Email | ActionKind::Push)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An inclusive range; an absent bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Range {
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// The last contact's outcome, or that there was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastOutcome {
    None,
    Outcome(Outcome),
}

/// Boolean facts a rule may require (`true`) or exclude (`false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub hardship: Option<bool>,
    pub dispute_open: Option<bool>,
    pub cease_contact: Option<bool>,
    pub attorney: Option<bool>,
    pub breathing_space: Option<bool>,
    pub legal_case: Option<bool>,
}

/// When a rule applies. `None` / empty means "any".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions {
    pub stages: Option<Vec<String>>,
    pub buckets: Option<Vec<String>>,
    pub dpd: Range,
    pub overdue_minor: Range,
    pub products: Option<Vec<String>>,
    /// A country (`US`) matches its subdivisions (`US-NY`); a subdivision only itself.
    pub jurisdictions: Option<Vec<String>>,
    pub promise: Option<Vec<crate::inputs::PromiseStatus>>,
    pub last_outcome: Option<Vec<LastOutcome>>,
    pub days_since_last_contact: Range,
    /// Days from the business date to the next installment not yet covered by payments.
    pub days_to_next_due: Range,
    /// The pack's charge-off threshold is reached (US-CHARGEOFF; never in a pack without it).
    pub charge_off_due: Option<bool>,
    pub flags: Flags,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    pub kind: ActionKind,
    pub template: Option<String>,
    pub queue: Option<String>,
    pub priority: Option<u8>,
    pub purpose: Purpose,
    pub agency_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub every_days: u32,
    pub max_per_stage: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub name: String,
    pub percent: u8,
    /// Replaces the action's template for this arm.
    pub template: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyRule {
    pub id: String,
    pub description: String,
    pub when: Conditions,
    pub action: ActionSpec,
    pub cadence: Cadence,
    /// At least one; percentages add up to 100.
    pub arms: Vec<Arm>,
}

impl StrategyRule {
    /// The arm of a loan: arms take consecutive ranges of `arm_bucket(loan_id)`.
    pub fn arm_for(&self, loan_id: &str) -> &Arm {
        let b = crate::arms::arm_bucket(loan_id);
        let mut start = 0u8;
        for a in &self.arms {
            let end = start.saturating_add(a.percent);
            if b < end {
                return a;
            }
            start = end;
        }
        // Percentages add up to 100 (validated) and b < 100, so the loop returned.
        &self.arms[self.arms.len() - 1]
    }

    /// The template the arm uses.
    pub fn template_for<'a>(&'a self, arm: &'a Arm) -> Option<&'a str> {
        arm.template.as_deref().or(self.action.template.as_deref())
    }
}

/// A validated strategy with its vetted templates.
#[derive(Debug)]
pub struct Strategy {
    pub name: String,
    pub version: String,
    pub lender_name: String,
    pub plan_time: Time,
    pub max_calls_per_borrower_per_day: u32,
    pub rules: Vec<StrategyRule>,
    pub templates: TemplateSet,
}

// ------------------------------------------------------------------------------------------
// Raw file shape
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    version: String,
    lender_name: String,
    #[serde(default)]
    plan_time: Option<String>,
    #[serde(default)]
    max_calls_per_borrower_per_day: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRange {
    min: Option<i64>,
    max: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFlags {
    hardship: Option<bool>,
    dispute_open: Option<bool>,
    cease_contact: Option<bool>,
    attorney: Option<bool>,
    breathing_space: Option<bool>,
    legal_case: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    stages: Option<Vec<String>>,
    buckets: Option<Vec<String>>,
    dpd: Option<RawRange>,
    overdue_minor: Option<RawRange>,
    products: Option<Vec<String>>,
    jurisdictions: Option<Vec<String>>,
    promise: Option<Vec<String>>,
    last_outcome: Option<Vec<String>>,
    days_since_last_contact: Option<RawRange>,
    days_to_next_due: Option<RawRange>,
    charge_off_due: Option<bool>,
    #[serde(default)]
    flags: RawFlags,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    kind: String,
    template: Option<String>,
    queue: Option<String>,
    priority: Option<i64>,
    purpose: Option<String>,
    agency_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCadence {
    every_days: i64,
    max_per_stage: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArm {
    name: String,
    percent: i64,
    template: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    when: RawWhen,
    action: RawAction,
    cadence: RawCadence,
    #[serde(default)]
    arm: Vec<RawArm>,
}

fn de<T: for<'de> Deserialize<'de>>(v: toml::Value) -> Result<T, String> {
    T::deserialize(v).map_err(|e| e.message().to_owned())
}

fn range(rule: &str, field: &str, r: Option<RawRange>, errors: &mut Vec<StrategyError>) -> Range {
    let r = r.unwrap_or_default();
    if let (Some(a), Some(b)) = (r.min, r.max)
        && a > b
    {
        errors.push(StrategyError::new(
            Some(rule),
            field,
            format!("min {a} is above max {b}"),
        ));
    }
    Range {
        min: r.min,
        max: r.max,
    }
}

fn nonempty_list(
    rule: &str,
    field: &str,
    v: Option<Vec<String>>,
    errors: &mut Vec<StrategyError>,
) -> Option<Vec<String>> {
    if let Some(l) = &v
        && l.is_empty()
    {
        errors.push(StrategyError::new(
            Some(rule),
            field,
            "an empty list matches nothing; leave the condition out to match any",
        ));
    }
    v
}

impl Strategy {
    /// Parses and validates a strategy file, templates included. Every problem is reported.
    pub fn parse(text: &str) -> Result<Strategy, Vec<StrategyError>> {
        let mut errors = Vec::new();
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| vec![StrategyError::new(None, "file", e.to_string())])?;
        for k in table.keys() {
            if !matches!(k.as_str(), "strategy" | "rule" | "templates") {
                errors.push(StrategyError::new(
                    None,
                    k,
                    "unknown section; expected [strategy], [[rule]] and [templates.*]",
                ));
            }
        }
        let header: Option<RawHeader> = match table.get("strategy") {
            None => {
                errors.push(StrategyError::new(
                    None,
                    "strategy",
                    "the [strategy] header is missing",
                ));
                None
            }
            Some(v) => match de(v.clone()) {
                Ok(h) => Some(h),
                Err(m) => {
                    errors.push(StrategyError::new(None, "strategy", m));
                    None
                }
            },
        };
        let mut sources: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        if let Some(v) = table.get("templates") {
            match de(v.clone()) {
                Ok(s) => sources = s,
                Err(m) => errors.push(StrategyError::new(None, "templates", m)),
            }
        }
        let raw_rules: Vec<toml::Value> = match table.get("rule") {
            Some(toml::Value::Array(a)) => a.clone(),
            Some(_) => {
                errors.push(StrategyError::new(
                    None,
                    "rule",
                    "write rules as [[rule]] tables",
                ));
                Vec::new()
            }
            None => Vec::new(),
        };
        if raw_rules.is_empty() {
            errors.push(StrategyError::new(
                None,
                "rule",
                "a strategy needs at least one [[rule]]",
            ));
        }

        let lender_name = header
            .as_ref()
            .map(|h| h.lender_name.trim().to_owned())
            .unwrap_or_default();
        let mut plan_time = Time::constant(9, 0, 0, 0);
        let mut max_calls = 1;
        if let Some(h) = &header {
            for (field, v) in [
                ("strategy.name", &h.name),
                ("strategy.version", &h.version),
                ("strategy.lender_name", &h.lender_name),
            ] {
                if v.trim().is_empty() {
                    errors.push(StrategyError::new(None, field, "is empty"));
                }
            }
            if let Some(t) = &h.plan_time {
                match arrears_policy::parse_local_time(t) {
                    Some(t) => plan_time = t,
                    None => errors.push(StrategyError::new(
                        None,
                        "strategy.plan_time",
                        format!("{t:?} is not HH:MM"),
                    )),
                }
            }
            if let Some(m) = h.max_calls_per_borrower_per_day {
                if m == 0 {
                    errors.push(StrategyError::new(
                        None,
                        "strategy.max_calls_per_borrower_per_day",
                        "must be at least 1 (remove call_task rules to plan no calls)",
                    ));
                }
                max_calls = m;
            }
        }
        let templates = match TemplateSet::load(
            &sources,
            if lender_name.is_empty() {
                "?"
            } else {
                &lender_name
            },
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.extend(e);
                None
            }
        };

        let mut rules = Vec::new();
        let mut ids = BTreeSet::new();
        for (i, v) in raw_rules.into_iter().enumerate() {
            let label = v
                .get("id")
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{}", i + 1));
            let raw: RawRule = match de(v) {
                Ok(r) => r,
                Err(m) => {
                    errors.push(StrategyError::new(Some(&label), "rule", m));
                    continue;
                }
            };
            if let Some(r) = rule(raw, &label, &sources, templates.as_ref(), &mut errors) {
                if !ids.insert(r.id.clone()) {
                    errors.push(StrategyError::new(
                        Some(&r.id),
                        "id",
                        "appears more than once",
                    ));
                }
                rules.push(r);
            }
        }
        match (errors.is_empty(), header, templates) {
            (true, Some(h), Some(templates)) => Ok(Strategy {
                name: h.name,
                version: h.version,
                lender_name,
                plan_time,
                max_calls_per_borrower_per_day: max_calls,
                rules,
                templates,
            }),
            _ => Err(errors),
        }
    }

    /// The shipped default strategy.
    pub fn default_strategy() -> Result<Strategy, Vec<StrategyError>> {
        Strategy::parse(DEFAULT_STRATEGY)
    }

    /// Stage and bucket names must be bands of the run configuration.
    pub fn check_bands(&self, stages: &Bands, buckets: &Bands) -> Vec<StrategyError> {
        let mut errors = Vec::new();
        for r in &self.rules {
            for (field, names, bands) in [
                ("when.stages", &r.when.stages, stages),
                ("when.buckets", &r.when.buckets, buckets),
            ] {
                for n in names.iter().flatten() {
                    if !bands.names().contains(n) {
                        errors.push(StrategyError::new(
                            Some(&r.id),
                            field,
                            format!(
                                "{n:?} is not a band of the configuration ({})",
                                bands.names().join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        errors
    }
}

fn rule(
    raw: RawRule,
    label: &str,
    sources: &BTreeMap<String, BTreeMap<String, String>>,
    templates: Option<&TemplateSet>,
    errors: &mut Vec<StrategyError>,
) -> Option<StrategyRule> {
    let before = errors.len();
    let id = raw.id.trim().to_owned();
    let e = |field: &str, m: String| StrategyError::new(Some(label), field, m);
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        errors.push(e(
            "id",
            format!("{id:?} must be lower-case letters, digits, '-' or '_'"),
        ));
    }
    let w = raw.when;
    let mut promise = None;
    if let Some(list) = nonempty_list(label, "when.promise", w.promise, errors) {
        let mut out = Vec::new();
        for p in list {
            match crate::inputs::PromiseStatus::parse(&p) {
                Some(s) => out.push(s),
                None => errors.push(e(
                    "when.promise",
                    format!("{p:?} is not one of none, pending, kept, broken"),
                )),
            }
        }
        promise = Some(out);
    }
    let mut last_outcome = None;
    if let Some(list) = nonempty_list(label, "when.last_outcome", w.last_outcome, errors) {
        let mut out = Vec::new();
        for o in list {
            if o == "none" {
                out.push(LastOutcome::None);
            } else {
                match Outcome::parse(&o) {
                    Ok(x) => out.push(LastOutcome::Outcome(x)),
                    Err(x) => errors.push(e("when.last_outcome", format!("{x} (or none)"))),
                }
            }
        }
        last_outcome = Some(out);
    }
    let when = Conditions {
        stages: nonempty_list(label, "when.stages", w.stages, errors),
        buckets: nonempty_list(label, "when.buckets", w.buckets, errors),
        dpd: range(label, "when.dpd", w.dpd, errors),
        overdue_minor: range(label, "when.overdue_minor", w.overdue_minor, errors),
        products: nonempty_list(label, "when.products", w.products, errors),
        jurisdictions: nonempty_list(label, "when.jurisdictions", w.jurisdictions, errors),
        promise,
        last_outcome,
        days_since_last_contact: range(
            label,
            "when.days_since_last_contact",
            w.days_since_last_contact,
            errors,
        ),
        days_to_next_due: range(label, "when.days_to_next_due", w.days_to_next_due, errors),
        charge_off_due: w.charge_off_due,
        flags: Flags {
            hardship: w.flags.hardship,
            dispute_open: w.flags.dispute_open,
            cease_contact: w.flags.cease_contact,
            attorney: w.flags.attorney,
            breathing_space: w.flags.breathing_space,
            legal_case: w.flags.legal_case,
        },
    };
    for j in when.jurisdictions.iter().flatten() {
        if arrears_domain::Jurisdiction::parse("jurisdictions", j).is_err() {
            errors.push(e(
                "when.jurisdictions",
                format!("{j:?} is not a jurisdiction such as CN, US-NY, GB"),
            ));
        }
    }

    let a = raw.action;
    let kind = ActionKind::parse(&a.kind);
    if kind.is_none() {
        errors.push(e(
            "action.kind",
            format!(
                "{:?} is not one of {}",
                a.kind,
                ActionKind::ALL.map(ActionKind::code).join(", ")
            ),
        ));
    }
    let purpose = match a.purpose.as_deref().map(Purpose::parse).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(x) => {
            errors.push(e("action.purpose", x.to_string()));
            Purpose::Collection
        }
    };
    let priority = match a.priority {
        None => None,
        Some(p) if (1..=9).contains(&p) => u8::try_from(p).ok(),
        Some(p) => {
            errors.push(e("action.priority", format!("{p} is not 1 (highest) to 9")));
            None
        }
    };
    if let Some(k) = kind {
        let is_call = k == ActionKind::CallTask;
        if is_call
            && (a.queue.as_deref().is_none_or(|q| q.trim().is_empty()) || priority.is_none())
            && a.priority.is_none_or(|p| (1..=9).contains(&p))
        {
            errors.push(e(
                "action.queue",
                "a call_task needs a queue and a priority (1-9)".into(),
            ));
        }
        if !is_call && (a.queue.is_some() || a.priority.is_some()) {
            errors.push(e(
                "action.queue",
                format!("only a call_task has a queue and priority, not {k}"),
            ));
        }
        if a.agency_id.is_some() && k != ActionKind::AgencyPlacement {
            errors.push(e(
                "action.agency_id",
                format!("only an agency_placement names an agency, not {k}"),
            ));
        }
        if k.is_written() && a.template.is_none() && raw.arm.iter().any(|x| x.template.is_none()) {
            errors.push(e(
                "action.template",
                format!("a {k} sends a message: name a template"),
            ));
        }
        if !k.is_written()
            && k != ActionKind::CallTask
            && (a.template.is_some() || raw.arm.iter().any(|x| x.template.is_some()))
        {
            errors.push(e(
                "action.template",
                format!("a {k} sends no message; remove the template"),
            ));
        }
    }
    let every_days = match u32::try_from(raw.cadence.every_days) {
        Ok(n) if n >= 1 => n,
        _ => {
            errors.push(e(
                "cadence.every_days",
                format!(
                    "{} must be at least 1 (one action a day at most)",
                    raw.cadence.every_days
                ),
            ));
            1
        }
    };
    let max_per_stage = match raw.cadence.max_per_stage {
        None => None,
        Some(m) => match u32::try_from(m) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                errors.push(e(
                    "cadence.max_per_stage",
                    format!("{m} must be at least 1"),
                ));
                None
            }
        },
    };
    let mut arms = Vec::new();
    if raw.arm.is_empty() {
        arms.push(Arm {
            name: "champion".into(),
            percent: 100,
            template: None,
        });
    } else {
        let mut names = BTreeSet::new();
        let mut total = 0i64;
        for (i, x) in raw.arm.into_iter().enumerate() {
            let field = format!("arm[{}]", i + 1);
            if x.name.trim().is_empty() {
                errors.push(e(&format!("{field}.name"), "is empty".into()));
            }
            if !names.insert(x.name.clone()) {
                errors.push(e(
                    &format!("{field}.name"),
                    format!("arm {:?} appears twice", x.name),
                ));
            }
            if !(1..=100).contains(&x.percent) {
                errors.push(e(
                    &format!("{field}.percent"),
                    format!("{} is not 1 to 100", x.percent),
                ));
            }
            total += x.percent;
            arms.push(Arm {
                name: x.name,
                percent: u8::try_from(x.percent.clamp(0, 100)).unwrap_or(0),
                template: x.template,
            });
        }
        if total != 100 {
            errors.push(e("arm", format!("percentages add up to {total}, not 100")));
        }
    }
    // Templates: each one named must exist in zh-CN and en, and an electronic message's must
    // offer an opt-out.
    let mut named: Vec<(String, &str)> = Vec::new();
    if let Some(t) = &a.template {
        named.push(("action.template".into(), t));
    }
    for (i, x) in arms.iter().enumerate() {
        if let Some(t) = &x.template {
            named.push((format!("arm[{}].template", i + 1), t));
        }
    }
    for (field, t) in named {
        match sources.get(t) {
            None => errors.push(e(&field, format!("no template {t:?} in [templates]"))),
            Some(langs) => {
                for l in Language::ALL {
                    if !langs.contains_key(l.tag()) {
                        errors.push(e(
                            &field,
                            format!("template {t:?} has no {} version", l.tag()),
                        ));
                    }
                }
                if let (Some(set), Some(k)) = (templates, kind)
                    && k.is_electronic()
                {
                    for l in Language::ALL {
                        if set.get(t, *l).is_some_and(|c| !c.has_opt_out()) {
                            errors.push(e(&field, format!("template {t:?} ({}) has no {{{{ opt_out }}}}: every {k} must offer an opt-out (ALL-IDENTITY, US-EOPT)", l.tag())));
                        }
                    }
                }
            }
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(StrategyRule {
        id,
        description: raw.description,
        when,
        action: ActionSpec {
            kind: kind?,
            template: a.template,
            queue: a.queue,
            priority,
            purpose,
            agency_id: a.agency_id,
        },
        cadence: Cadence {
            every_days,
            max_per_stage,
        },
        arms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_strategy_is_valid_and_fits_the_default_bands() {
        let s = Strategy::default_strategy().unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(s.rules.len() >= 10);
        let errs = s.check_bands(&Bands::default_stages(), &Bands::default_buckets());
        assert!(errs.is_empty(), "{errs:?}");
        let kinds: BTreeSet<ActionKind> = s.rules.iter().map(|r| r.action.kind).collect();
        for k in [
            ActionKind::Sms,
            ActionKind::CallTask,
            ActionKind::Letter,
            ActionKind::WriteOffProposal,
            ActionKind::LegalReview,
            ActionKind::AgencyPlacement,
        ] {
            assert!(kinds.contains(&k), "{k} missing");
        }
    }

    #[test]
    fn arms_split_by_the_stable_hash() {
        let s = Strategy::default_strategy().unwrap();
        let r = s.rules.iter().find(|r| r.arms.len() == 2).unwrap();
        let mut n = [0u32; 2];
        for i in 0..10_000 {
            let a = r.arm_for(&format!("L{i:08}"));
            n[usize::from(a.name != r.arms[0].name)] += 1;
        }
        let expect0 = u32::from(r.arms[0].percent) * 100;
        assert!(n[0].abs_diff(expect0) < 300, "{n:?}");
        // Stable: the same id always lands in the same arm.
        assert_eq!(r.arm_for("L00000042").name, r.arm_for("L00000042").name);
    }
}
