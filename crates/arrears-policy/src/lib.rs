//! The conduct rules of Arrears and the compliance engine that applies them: every contact
//! (SMS, e-mail, push, call, letter, visit) and every escalation (agency placement, legal
//! referral, credit report, fee) is decided by [`check`] against the rule pack of the
//! borrower's jurisdiction before it can happen, and only `check` can create the
//! [`PermittedContact`] a channel needs to send. A refusal names every failing [`RuleId`] and,
//! where waiting helps, the exact first instant at which the same contact would pass. The
//! crate is pure: it reads no files (packs and policies arrive as text; the CN, US and GB
//! packs and the word lists are embedded) and never reads the clock (instants are passed in).
//!
//! # Map
//! - [`Pack`] / [`PackSet`] (`pack.rs`, data in `packs/*.toml`): the rules of a jurisdiction
//!   with citations and typed parameters; [`Policy`] and [`Pack::tighten`] (`policy.rs`) make
//!   them stricter, never looser; `params.rs` defines each parameter once with the direction
//!   in which it is stricter.
//! - [`check`] (`engine.rs`): holds, parties, content, escalations, hours, caps, waits.
//! - [`check_template`], [`check_identity`], [`check_limited_content`] (`content/`, word
//!   lists in `lexicon/*.toml`): ALL-CONTENT, ALL-NO-BORROW, ALL-IDENTITY, US-LCM.
//! - [`max_contacts_per_window`] (`cadence.rs`): the caps as data for a planner.
//! - `lifecycle.rs`: retention, the US validation period, the penalty cap, charge-off.
//!
//! # Design notes
//!
//! **Local time.** Hours, daily caps, the US-7IN7 quiet period and the breathing-space end
//! are judged on the borrower's wall clock with jiff's tz database, DST-correct. The zones are
//! the address zone and the phone's zone when known, else the pack's default zones (CN:
//! Asia/Shanghai; GB: Europe/London; US: every mainland, Alaska and Hawaii zone, since the
//! consumer's location is unknown), and a contact must be allowed in *all* of them (US-HOURS
//! asks this; it is applied to every pack because it is never less safe). "Per local day"
//! caps hold in each zone's day. A window is `start <= local < end` and does not cross
//! midnight. A CN borrower's agreed hours replace the CN window (the pack's
//! `honor_agreed_hours`); US and GB packs do not rely on consent to other times.
//!
//! **Days.** Rules that count from an instant use elapsed days of 86,400 s: the US-7IN7
//! attempt window (a call is refused when 7 attempts lie in `(t - 7 d, t]`; it frees up the
//! instant the oldest leaves), the US-CREDIT 14-day wait, the US-VALIDATION 5-day deadline.
//! Rules that speak of a day number use local calendar days: after a conversation (day 1)
//! calls resume at local midnight starting day 8; a moratorium ending on a date lifts at the
//! next local midnight; a daily cap resets at local midnight.
//!
//! **earliest_allowed.** Each timed rule failing at `t` reports until when it surely fails
//! (found exactly: a window's next opening, the next local midnight, the instant an attempt
//! leaves the window, the end of a quiet period, a notice wait). The search jumps to the
//! latest of these and re-evaluates every rule, until none fails, so the result is the first
//! passing instant, exact to the nanosecond, and is checked by the same code as `at`. Standing
//! failures (holds, parties, content, fees) make it `None`: waiting cannot cure them. So does a
//! deadline that has passed, or no passing instant within 400 days.
//!
//! **Content normalization.** Text is folded (full-width ASCII U+FF01–U+FF5E and the
//! ideographic space to ASCII, lower case, zero-width and other invisible characters deleted).
//! Chinese terms are matched as substrings of the text with every non-letter removed, so
//! `起 诉` and `起*诉` read as `起诉`. English terms are matched whole-word (so `sue` never
//! matches `pursue` or `issue`, nor `court` `courtesy`), on two views: words split at every
//! non-letter, and words glued across punctuation without spaces (`co*urt`); a run of three
//! or more single letters (`c o u r t`, `C.O.U.R.T`) is read as one word searched for any
//! term. All languages' prohibited terms apply to every message, so mixing languages does not
//! evade them; only the exemptions for standard safety sentences ("切勿向任何个人账户转账",
//! "never pay into a personal account") follow the declared language.
//!
//! **Ambiguities resolved.** A record whose outcome is not a conversation is an unanswered
//! attempt for CN-FREQ-ATTEMPTS (the spec names `no_answer` and `wrong_party`; `busy` and
//! `voicemail` are no less unanswered). CN-FREQ-CONNECTED counts every conversation on the
//! borrower's account, with any party. US-7IN7 "per person" is the borrower across their
//! numbers, and any other person by number; a call or record without a loan counts for every
//! debt. Opt-outs are honoured in every pack: under US-EOPT in the US, under ALL-IDENTITY
//! elsewhere (an opt-out that must be offered must be honoured). A US voicemail needs the
//! business name and a callback number but no verification code, which a limited-content
//! message cannot carry. A written contact without a message to vet is refused (ALL-CONTENT,
//! ALL-IDENTITY). Locate contacts are limited per person (once by default), counted over all
//! records to that person's numbers and addresses. Breathing-space dates are the last day of
//! the moratorium, inclusive. History dated after `at` is ignored.

mod access;
mod cadence;
mod content;
mod engine;
mod facts;
mod lifecycle;
mod local;
mod model;
mod pack;
mod params;
mod policy;
mod rule;

pub use access::{
    ACCESS_CODE, ACCESS_LINK, AccessMessage, AccessRefusal, AccessSecret, CODE_MINUTES,
    access_message, is_access_purpose,
};
pub use cadence::{
    ChannelLimits, ContactLimit, Counted, LimitScope, LimitWindow, QuietPeriod,
    max_contacts_per_window,
};
pub use content::{
    Binding, Category, ContentViolation, EMBEDDED_LEXICONS, Identity, Lexicon, LexiconError,
    check_identity, check_limited_content, check_template,
};
pub use engine::{Decision, PermittedContact, check};
pub use facts::{
    BorrowerFacts, ContactPerson, ContactRecord, CreditDisputeFact, CreditNotice, FeeProposal,
    LoanFacts, Message, NoticeFact, PlacementFact, PlanFact, PlanState, PreferenceFact,
    ProposedContact, SaleFact, VisitPlan,
};
pub use lifecycle::{
    CappedPenalty, RetentionHold, charge_off_due, check_deletion, credit_dispute_answer_due,
    effective_penalty_rate_bps, is_us_business_day, validation_period_end,
};
pub use model::{
    Channel, ChannelSet, Language, LegalStatus, LocalWindow, NoticeKind, NoticeSet, Outcome, Party,
    PersonSource, Purpose, Target, TargetKind, VocabularyError, WindowError,
};
pub use pack::{EMBEDDED_PACKS, Pack, PackError, PackSet, Params, Rule};
pub use params::{
    AgencyParams, CallCadenceParams, ChargeOffParams, ChargesParams, CnCreditParams,
    ComplaintParams, CostParams, DailyCapParams, FeeCapParams, HoursParams, IdentityParams,
    LocateParams, OptOutParams, PermittedNoticesParams, RecordsParams, RetentionAnchor,
    UsCreditParams, ValidationParams, VisitParams,
};
pub use policy::{LenderContact, Policy, PolicyError, SettlementLimit, settlement_limit_for};
pub use rule::{RuleId, Scope, UnknownRuleId};

/// Parses `HH:MM` or `HH:MM:SS` into a local time (for agreed contact hours and test data).
pub fn parse_local_time(s: &str) -> Option<jiff::civil::Time> {
    model::parse_hhmm(s)
}
