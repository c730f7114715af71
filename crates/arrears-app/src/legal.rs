//! The court path, the one door (`docs/legal.md`): the plan's `legal_review` actions become
//! referral proposals; a supervisor approves (after the compliance check of `legal_referral`
//! again, at the approval's instant: US-TIMEBAR and every hold apply) or rejects with a
//! reason; an approved referral is filed as a case; the case moves to judgment, enforcement
//! and closed with an outcome; enforcement measures and costs are recorded; and the two legal
//! letters (letter before action, notice of suit) are rendered bound to the real record,
//! signed and queued through the outbox only when that record's status matches. `arrears
//! legal`, the `/v1` legal routes, the supervisor's referral page and the dispatcher all come
//! here.
//!
//! Which status a letter matches ([`match_letter`]):
//! - a **letter before action** is the lender's last word before it goes to court: it needs
//!   an approved referral of the loan from which no case was filed yet. Its text carries no
//!   word the content rules reserve for a real filed case (court, suit, summons, lawyer's
//!   letter…): the engine vets it with the loan's facts like any message, so a template that
//!   named a court before a case exists would be refused under ALL-CONTENT;
//! - a **notice of suit** needs a case filed and not closed (filed, judgment or enforcement).
//!   It names the court, the case number and the amount claimed (and, after judgment, the
//!   amount awarded), and is bound to the case's status, which the content rules check.
//!
//! Anything else is refused under ALL-CONTENT before anything is queued, and again at send
//! time ([`letter_still_matches`], asked by the dispatcher): a case closed, or a case filed
//! from the referral, after the letter was queued stops it. The crate reads no clock.

use crate::context::from_store;
use crate::sale::{NoticeDraft, NoticeSigner};
use arrears_domain::Currency;
use arrears_domain::types::LoanId;
use arrears_policy::{
    Binding, Decision, Language, LegalStatus, Message, PackSet, ProposedContact, RuleId, Target,
};
use arrears_store::{
    BorrowerContacts, CaseFile, CaseStep, Enqueued, FiledCase, Ingested, NewCost, NewMeasure,
    NewOutboxMessage, ReferralDecision, ReferralProposal, Store, StoreError, StoredCase,
    StoredReferral, WorkError, WorkMeta,
};
use arrears_strategy::{ActionKind, Plan};
use jiff::Timestamp;
use jiff::civil::Date;

/// A request the court path refuses, or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegalError {
    /// A value that is not valid (answered 422).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rules that refused an approval, a filing or a letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule_ids: Vec<&'static str>,
    pub earliest_allowed: Option<Timestamp>,
    /// Why, in a sentence (a letter without a matching record says which it needs).
    pub detail: String,
}

/// Who writes and when: every write names its author (a staff user, a token, `cli`) and is
/// received at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    pub actor: &'a str,
    pub now: Timestamp,
}

/// The idempotency record of a write: key, kind and a canonical body (fields in a fixed
/// order, one per line), hashed.
struct Meta {
    key: String,
    kind: &'static str,
    body: String,
    sha: String,
}

impl Meta {
    fn new(kind: &'static str, id: &str, fields: &[(&str, String)]) -> Meta {
        use sha2::Digest;
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={}\n", v.replace('\n', "\\n")))
            .collect();
        let sha = sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Meta {
            key: format!("{kind}:{id}"),
            kind,
            body,
            sha,
        }
    }

    fn work<'a>(&'a self, by: &Author<'a>) -> WorkMeta<'a> {
        WorkMeta {
            key: &self.key,
            kind: self.kind,
            body: &self.body,
            body_sha256: &self.sha,
            received_at: by.now,
            actor: by.actor,
        }
    }
}

fn refused(d: Decision, what: &str) -> Result<(), Refusal> {
    match d {
        Decision::Allow(_) => Ok(()),
        Decision::Deny {
            rule_ids,
            earliest_allowed,
        } => Err(Refusal {
            detail: format!(
                "the rules refuse the {what}: {}",
                rule_ids
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            rule_ids: rule_ids.iter().map(|r| r.as_str()).collect(),
            earliest_allowed,
        }),
    }
}

/// The compliance check of a legal referral of `loan` at `at` over the borrower's facts: the
/// same question `POST /v1/contacts/check` answers for channel `legal_referral`.
pub fn check_referral(
    bc: &BorrowerContacts,
    loan: &str,
    at: Timestamp,
    packs: &PackSet,
) -> Result<(), Refusal> {
    let mut p = ProposedContact::new(
        bc.borrower.id.clone(),
        arrears_policy::Channel::LegalReferral,
        arrears_policy::Party::Borrower,
        None,
    );
    p.loan_id = LoanId::parse("loan_id", loan).ok();
    refused(
        crate::decide(&p, &from_store(bc), at, packs),
        "legal referral",
    )
}

/// The referral proposals of a plan: its permitted `legal_review` actions.
pub fn proposals(plan: &Plan) -> Vec<ReferralProposal> {
    plan.actions
        .iter()
        .filter(|a| a.kind == ActionKind::LegalReview)
        .map(|a| ReferralProposal {
            loan_id: a.loan_id.as_str().to_owned(),
            action_id: a.action_id.clone(),
            rule_id: a.rule_id.clone(),
        })
        .collect()
}

/// Records the plan's referral proposals of `as_of` (`arrears plan --db`).
pub async fn propose(
    store: &Store,
    plan: &Plan,
    as_of: Date,
    by: Author<'_>,
) -> Result<arrears_store::ProposalsRecorded, LegalError> {
    Ok(store
        .record_referral_proposals(as_of, &proposals(plan), by.actor, by.now)
        .await?)
}

fn words(field: &str, s: &str, max: usize) -> Result<String, LegalError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(LegalError::Invalid(format!(
            "Field {field}: 1 to {max} characters of text on one line"
        )));
    }
    Ok(t.to_owned())
}

fn id(field: &str, s: &str) -> Result<String, LegalError> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(LegalError::Invalid(format!(
            "Field {field}: {s:?} is not an id (1 to 128 of A-Z a-z 0-9 - _ .)"
        )))
    }
}

/// Approves (after the `legal_referral` check at `at`) or rejects a proposed referral; the
/// reason is required both ways and the decision names its author.
pub async fn decide_referral(
    store: &Store,
    packs: &PackSet,
    referral_id: &str,
    approve: bool,
    reason: &str,
    at: Timestamp,
    by: Author<'_>,
) -> Result<Ingested<Refusal>, LegalError> {
    let reason = words("reason", reason, 2000)?;
    let m = Meta::new(
        "referral_decision",
        referral_id,
        &[
            (
                "decision",
                if approve { "approve" } else { "reject" }.into(),
            ),
            ("reason", reason.clone()),
            ("decided_by", by.actor.to_owned()),
        ],
    );
    let dec = ReferralDecision {
        approve,
        reason,
        decided_by: by.actor.to_owned(),
        decided_at: at,
    };
    Ok(store
        .decide_referral(&m.work(&by), referral_id, &dec, |bc, loan| {
            check_referral(bc, loan, at, packs)
        })
        .await?)
}

/// Files the case of an approved referral, after the `legal_referral` check at `filed_at`.
pub async fn file_case(
    store: &Store,
    packs: &PackSet,
    referral_id: &str,
    case: &FiledCase,
    by: Author<'_>,
) -> Result<Ingested<Refusal>, LegalError> {
    let c = FiledCase {
        case_id: id("case_id", &case.case_id)?,
        court: words("court", &case.court, 200)?,
        case_number: words("case_number", &case.case_number, 100)?,
        filed_at: case.filed_at,
        note: case
            .note
            .as_deref()
            .map(|n| words("note", n, 2000))
            .transpose()?,
    };
    // Keyed by the case it creates, as `POST /v1/legal-cases` is (`legal_case:C`): a case id
    // is created once, whichever door; a referral filed already is refused by the store.
    let m = Meta::new(
        "legal_case",
        &c.case_id,
        &[
            ("referral_id", referral_id.to_owned()),
            ("court", c.court.clone()),
            ("case_number", c.case_number.clone()),
            ("filed_at", c.filed_at.to_string()),
            ("note", c.note.clone().unwrap_or_default()),
        ],
    );
    Ok(store
        .file_referral_case(&m.work(&by), referral_id, &c, |bc, loan| {
            check_referral(bc, loan, c.filed_at, packs)
        })
        .await?)
}

/// Moves a case to judgment, enforcement or closed. A closing through this door names its
/// outcome (satisfied, withdrawn, terminated); the older `POST /v1/legal-cases/{id}/status`
/// may still close without one.
pub async fn advance_case(
    store: &Store,
    case_id: &str,
    step: &CaseStep,
    at: Timestamp,
    note: Option<&str>,
    by: Author<'_>,
) -> Result<Ingested<()>, LegalError> {
    let mut fields = vec![("status", step.status().to_owned()), ("at", at.to_string())];
    match step {
        CaseStep::Judgment {
            amount_awarded_minor,
            judgment_on,
        } => {
            if *amount_awarded_minor < 0 {
                return Err(LegalError::Invalid(format!(
                    "Field amount_awarded_minor: {amount_awarded_minor} is negative"
                )));
            }
            fields.push(("amount_awarded_minor", amount_awarded_minor.to_string()));
            fields.push(("judgment_on", judgment_on.to_string()));
        }
        CaseStep::Closed { outcome } => {
            if let Some(o) = outcome
                .as_ref()
                .filter(|o| !arrears_store::CASE_OUTCOMES.contains(&o.as_str()))
            {
                return Err(LegalError::Invalid(format!(
                    "Field outcome: {o:?} is not one of {}",
                    arrears_store::CASE_OUTCOMES.join(", ")
                )));
            }
            fields.push(("outcome", outcome.clone().unwrap_or_default()));
        }
        CaseStep::Enforcement => {}
    }
    let note = note.map(|n| words("note", n, 2000)).transpose()?;
    fields.push(("note", note.clone().unwrap_or_default()));
    // The key of the older route (`legal_status:C:S`): a step is taken once, whichever door.
    let m = Meta::new(
        "legal_status",
        &format!("{case_id}:{}", step.status()),
        &fields,
    );
    Ok(store
        .advance_case(&m.work(&by), case_id, step, at, note.as_deref())
        .await?)
}

/// Records an enforcement measure of a case.
pub async fn record_measure(
    store: &Store,
    m: &NewMeasure,
    by: Author<'_>,
) -> Result<Ingested<()>, LegalError> {
    if !arrears_store::MEASURE_KINDS.contains(&m.kind.as_str()) {
        return Err(LegalError::Invalid(format!(
            "Field kind: {:?} is not one of {}",
            m.kind,
            arrears_store::MEASURE_KINDS.join(", ")
        )));
    }
    if !matches!(m.status.as_str(), "applied" | "in_force") {
        return Err(LegalError::Invalid(format!(
            "Field status: a measure is recorded as applied or in_force, not {:?}",
            m.status
        )));
    }
    let m = NewMeasure {
        measure_id: id("measure_id", &m.measure_id)?,
        authority: words("authority", &m.authority, 200)?,
        ..m.clone()
    };
    let meta = Meta::new(
        "legal_measure",
        &m.measure_id,
        &[
            ("case_id", m.case_id.clone()),
            ("kind", m.kind.clone()),
            ("ordered_on", m.ordered_on.to_string()),
            ("authority", m.authority.clone()),
            ("status", m.status.clone()),
        ],
    );
    Ok(store.record_measure(&meta.work(&by), &m).await?)
}

/// Moves a measure to in_force, refused or lifted.
pub async fn update_measure(
    store: &Store,
    measure_id: &str,
    status: &str,
    on: Date,
    by: Author<'_>,
) -> Result<Ingested<()>, LegalError> {
    if !arrears_store::MEASURE_STATUSES.contains(&status) {
        return Err(LegalError::Invalid(format!(
            "Field status: {status:?} is not one of {}",
            arrears_store::MEASURE_STATUSES.join(", ")
        )));
    }
    let meta = Meta::new(
        "measure_status",
        &format!("{measure_id}:{status}"),
        &[("on", on.to_string())],
    );
    Ok(store
        .update_measure(&meta.work(&by), measure_id, status, on)
        .await?)
}

/// Records a cost of a case (minor units, more than zero).
pub async fn record_cost(
    store: &Store,
    c: &NewCost,
    by: Author<'_>,
) -> Result<Ingested<()>, LegalError> {
    if !arrears_store::COST_KINDS.contains(&c.kind.as_str()) {
        return Err(LegalError::Invalid(format!(
            "Field kind: {:?} is not one of {}",
            c.kind,
            arrears_store::COST_KINDS.join(", ")
        )));
    }
    if c.amount_minor <= 0 {
        return Err(LegalError::Invalid(format!(
            "Field amount_minor: {} is not more than zero",
            c.amount_minor
        )));
    }
    let c = NewCost {
        cost_id: id("cost_id", &c.cost_id)?,
        ..c.clone()
    };
    let meta = Meta::new(
        "legal_cost",
        &c.cost_id,
        &[
            ("case_id", c.case_id.clone()),
            ("kind", c.kind.clone()),
            ("amount_minor", c.amount_minor.to_string()),
            ("incurred_on", c.incurred_on.to_string()),
        ],
    );
    Ok(store.record_case_cost(&meta.work(&by), &c).await?)
}

// ---------------------------------------------------------------------------------------
// Legal letters
// ---------------------------------------------------------------------------------------

/// The two legal letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LetterKind {
    LetterBeforeAction,
    NoticeOfSuit,
}

impl LetterKind {
    pub const ALL: [LetterKind; 2] = [LetterKind::LetterBeforeAction, LetterKind::NoticeOfSuit];

    pub fn code(self) -> &'static str {
        match self {
            LetterKind::LetterBeforeAction => "letter_before_action",
            LetterKind::NoticeOfSuit => "notice_of_suit",
        }
    }

    pub fn parse(s: &str) -> Option<LetterKind> {
        LetterKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// The real record a letter is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// An approved referral with no case filed from it.
    Referral(Box<StoredReferral>),
    /// A case filed and not closed.
    Case(Box<CaseFile>),
}

impl Bound {
    /// The id the letter is queued under (`legal_letter:<kind>:<id>`).
    pub fn subject_id(&self) -> &str {
        match self {
            Bound::Referral(r) => &r.referral_id,
            Bound::Case(c) => &c.case.case_id,
        }
    }
}

/// The record of `kind` among a loan's referrals and case files, or why there is none: a
/// letter before action needs an approved referral with no case filed from it; a notice of
/// suit a case filed and not closed (the most advanced open one). Pure.
pub fn match_letter(
    kind: LetterKind,
    referrals: &[StoredReferral],
    cases: &[CaseFile],
) -> Result<Bound, String> {
    match kind {
        LetterKind::LetterBeforeAction => referrals
            .iter()
            .rev()
            .find(|r| r.status == "approved" && r.case_id.is_none())
            .map(|r| Bound::Referral(Box::new(r.clone())))
            .ok_or_else(|| {
                let filed = referrals.iter().any(|r| r.case_id.is_some());
                if filed {
                    "a letter before action needs an approved referral not yet filed; the loan's referral was filed as a case".to_owned()
                } else {
                    "a letter before action needs an approved referral of the loan; there is none".to_owned()
                }
            }),
        LetterKind::NoticeOfSuit => cases
            .iter()
            .filter(|c| status_of(&c.case).is_some_and(|s| s != LegalStatus::Closed))
            .max_by_key(|c| status_of(&c.case).map(stage))
            .map(|c| Bound::Case(Box::new(c.clone())))
            .ok_or_else(|| {
                if cases.is_empty() {
                    "a notice of suit needs a case filed for the loan; there is none".to_owned()
                } else {
                    "a notice of suit needs a case filed and not closed; the loan's cases are closed".to_owned()
                }
            }),
    }
}

fn status_of(c: &StoredCase) -> Option<LegalStatus> {
    LegalStatus::parse(&c.status).ok()
}

fn stage(s: LegalStatus) -> u8 {
    match s {
        LegalStatus::Closed => 0,
        LegalStatus::Filed => 1,
        LegalStatus::Judgment => 2,
        LegalStatus::Enforcement => 3,
    }
}

fn amount(minor: i64, currency: &str) -> String {
    match Currency::parse("currency", currency) {
        Ok(c) => format!("{} {currency}", arrears_strategy::format_amount(minor, c)),
        Err(_) => minor.to_string(),
    }
}

/// The letter's subject line.
pub fn letter_subject(kind: LetterKind, language: Language) -> &'static str {
    match (kind, language) {
        (LetterKind::LetterBeforeAction, Language::ZhCn) => "最后催告函",
        (LetterKind::LetterBeforeAction, Language::En) => "Final demand before referral",
        (LetterKind::NoticeOfSuit, Language::ZhCn) => "起诉通知",
        (LetterKind::NoticeOfSuit, Language::En) => "Notice of suit",
    }
}

/// The text of a letter bound to its record, in `language`, with the lender's name and the
/// verification code. The templates are fixed text with the record's fields in them (court,
/// case number, amounts, dates), en and zh-CN.
pub fn render_letter(
    bound: &Bound,
    language: Language,
    lender: &str,
    reply_by: Date,
    code: &str,
    complaint_hotline: Option<&str>,
) -> String {
    // A written notice names the regulator's complaint line where the pack asks (CN-COMPLAINT).
    let opt_out = match (complaint_hotline, language) {
        (Some(h), Language::ZhCn) => format!(
            "如需投诉，请拨打{h}。{}",
            arrears_strategy::opt_out_text(language)
        ),
        (Some(h), Language::En) => format!(
            "To complain, call {h}. {}",
            arrears_strategy::opt_out_text(language)
        ),
        (None, _) => arrears_strategy::opt_out_text(language).to_owned(),
    };
    match bound {
        Bound::Referral(r) => {
            let owed = amount(r.amount_claimed_minor, &r.currency);
            let loan = &r.loan_id;
            match language {
                Language::ZhCn => format!(
                    "【{lender}】最后催告函：您的借款{loan}尚欠{owed}。我司已于{}批准将该笔欠款转交进一步追偿。请在{reply_by}前还款或与我们联系协商还款安排。验证码{code}。{opt_out}",
                    r.decided_at
                        .map(|t| t.strftime("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                ),
                Language::En => format!(
                    "{lender}: Final demand before referral. Your loan {loan} has {owed} outstanding. On {} we approved referring this debt for further recovery. Please pay, or contact us to agree a repayment arrangement, by {reply_by}. Code {code}. {opt_out}",
                    r.decided_at
                        .map(|t| t.strftime("%Y-%m-%d").to_string())
                        .unwrap_or_default()
                ),
            }
        }
        Bound::Case(c) => {
            let k = &c.case;
            let claimed = amount(k.amount_claimed_minor, &c.currency);
            let court = &k.court;
            let number = &k.case_number;
            let filed_on = k
                .history
                .first()
                .map(|h| h.at.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            let awarded = k
                .amount_awarded_minor
                .filter(|_| status_of(k).is_some_and(|s| stage(s) >= 2))
                .map(|a| amount(a, &c.currency));
            match language {
                Language::ZhCn => {
                    let judged = awarded
                        .map(|a| format!("法院已判决应付{a}。"))
                        .unwrap_or_default();
                    format!(
                        "【{lender}】起诉通知：我司已于{filed_on}就您的借款{loan}向{court}提起诉讼，案号{number}，诉讼请求金额{claimed}。{judged}如需协商还款，请在{reply_by}前与我们联系。验证码{code}。{opt_out}",
                        loan = k.loan_id
                    )
                }
                Language::En => {
                    let judged = awarded
                        .map(|a| format!(" The court gave judgment for {a}."))
                        .unwrap_or_default();
                    format!(
                        "{lender}: Notice of suit. On {filed_on} we filed a claim about your loan {loan} in {court}, case number {number}, for {claimed}.{judged} To agree a repayment arrangement, contact us by {reply_by}. Code {code}. {opt_out}",
                        loan = k.loan_id
                    )
                }
            }
        }
    }
}

/// The binding the letter's text is vetted with: the case's real status for a notice of
/// suit; none for a letter before action (no case exists yet).
fn binding(bound: &Bound) -> Binding {
    Binding {
        legal_case_status: match bound {
            Bound::Referral(_) => None,
            Bound::Case(c) => status_of(&c.case),
        },
        visit_scheduled: false,
    }
}

/// A loan's referrals and case files, as [`match_letter`] reads them.
pub async fn loan_records(
    store: &Store,
    loan_id: &str,
) -> Result<(Vec<StoredReferral>, Vec<CaseFile>), StoreError> {
    let referrals = store.loan_referrals(loan_id).await?;
    let mut cases = Vec::new();
    for c in store.loan_legal_cases(loan_id).await? {
        if let Some(f) = store.case_file(&c.case_id).await? {
            cases.push(f);
        }
    }
    Ok((referrals, cases))
}

/// What asking for a letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LetterOutcome {
    /// Queued now (outbox id), or queued before under the same key.
    Queued {
        outbox_id: i64,
        subject_id: String,
    },
    AlreadyQueued {
        outbox_id: i64,
        subject_id: String,
    },
    /// Refused: nothing was queued.
    Refused(Refusal),
    /// The borrower has neither e-mail nor phone on record.
    NoTarget,
}

fn content_refusal(detail: String) -> Refusal {
    Refusal {
        rule_ids: vec![RuleId::AllContent.as_str()],
        earliest_allowed: None,
        detail,
    }
}

/// The idempotency key of a letter: one letter of a kind per record.
pub fn letter_key(kind: LetterKind, subject_id: &str) -> String {
    format!("legal_letter:{}:{subject_id}", kind.code())
}

/// Renders, checks, signs and queues a legal letter about `loan_id` to the borrower's own
/// e-mail (else phone) at `now`: the record must match ([`match_letter`]; otherwise refused
/// under ALL-CONTENT, nothing queued), and the compliance engine must allow the message as a
/// `legal_action` notice bound to the record. `reply_by` is the date the letter asks for.
#[allow(clippy::too_many_arguments)]
pub async fn send_letter(
    store: &Store,
    packs: &PackSet,
    lender: &str,
    kind: LetterKind,
    loan_id: &str,
    reply_by: Date,
    now: Timestamp,
    signer: &mut dyn NoticeSigner,
) -> Result<LetterOutcome, LegalError> {
    let loan = LoanId::parse("loan_id", loan_id)
        .map_err(|e| LegalError::Invalid(format!("Field loan_id: {}", e.detail)))?;
    let (referrals, cases) = loan_records(store, loan_id).await?;
    let bound = match match_letter(kind, &referrals, &cases) {
        Ok(b) => b,
        Err(why) => return Ok(LetterOutcome::Refused(content_refusal(why))),
    };
    let borrower = match &bound {
        Bound::Referral(r) => r.borrower_id.clone(),
        Bound::Case(c) => c.borrower_id.clone(),
    };
    let Some(bc) = store.borrower_contacts(&borrower).await? else {
        return Ok(LetterOutcome::NoTarget);
    };
    let b = &bc.borrower;
    let target = b
        .email
        .as_deref()
        .and_then(|e| Target::email(e).ok())
        .or_else(|| b.phone.as_deref().and_then(|p| Target::phone(p).ok()));
    let Some(target) = target else {
        return Ok(LetterOutcome::NoTarget);
    };
    let channel = match target {
        Target::Email(_) => arrears_policy::Channel::Email,
        Target::Phone(_) => arrears_policy::Channel::Sms,
    };
    let language = Language::of_borrower(b.language.as_deref(), &b.jurisdiction);
    let ctx = from_store(&bc);
    let hotline = packs
        .get(&b.jurisdiction)
        .and_then(|p| p.complaint())
        .map(|c| c.hotline.clone());
    // Decided at `now`; a denial that only has to wait (hours) is decided once more at the
    // earliest instant it names, and queued for then.
    let mut at = now;
    let mut last = None;
    for _ in 0..2 {
        let draft = NoticeDraft {
            lender: lender.to_owned(),
            borrower_id: borrower.clone(),
            loan_id: loan_id.to_owned(),
            channel: channel.code().to_owned(),
            issued_at: at,
        };
        let code = signer.code(&draft);
        let text = render_letter(
            &bound,
            language,
            lender,
            reply_by,
            &code,
            hotline.as_deref(),
        );
        let mut message = Message::new(&text, language, lender, &code);
        message.binding = binding(&bound);
        let mut p = ProposedContact::new(
            bc.borrower.id.clone(),
            channel,
            arrears_policy::Party::Borrower,
            Some(target.clone()),
        );
        p.loan_id = Some(loan.clone());
        p.purpose = arrears_policy::Purpose::Notice(arrears_policy::NoticeKind::LegalAction);
        p.message = Some(message.clone());
        match crate::decide(&p, &ctx, at, packs) {
            Decision::Allow(permitted) => {
                last = Some(Ok((permitted, message, draft, text)));
                break;
            }
            Decision::Deny {
                rule_ids,
                earliest_allowed,
            } => {
                let again = earliest_allowed.filter(|t| *t > at && last.is_none());
                last = Some(Err(refused(
                    Decision::Deny {
                        rule_ids,
                        earliest_allowed,
                    },
                    kind.code(),
                )));
                match again {
                    Some(t) => at = t,
                    None => break,
                }
            }
        }
    }
    let (permitted, message, draft, text) = match last {
        Some(Ok(x)) => x,
        Some(Err(Err(r))) => return Ok(LetterOutcome::Refused(r)),
        _ => {
            return Ok(LetterOutcome::Refused(content_refusal(
                "the rules refuse the letter".to_owned(),
            )));
        }
    };
    let subject_id = bound.subject_id().to_owned();
    let m = NewOutboxMessage {
        idempotency_key: letter_key(kind, &subject_id),
        borrower_id: borrower.clone(),
        loan_id: Some(loan_id.to_owned()),
        channel: channel.code().to_owned(),
        party: "borrower".to_owned(),
        target: Some(target.as_str().to_owned()),
        purpose: permitted.purpose().to_string(),
        agency_id: None,
        language: language.tag().to_owned(),
        lender_name: lender.trim().to_owned(),
        verification_code: message.verification_code.clone(),
        subject: Some(letter_subject(kind, language).to_owned()),
        body: permitted.message_text().unwrap_or(&text).to_owned(),
        decided_at: permitted.at(),
        jurisdiction: permitted.jurisdiction().as_str().to_owned(),
        pack_version: permitted.pack_version().to_owned(),
        policy: permitted.policy().map(str::to_owned),
        enqueued_at: now,
        not_before: permitted.at(),
        expires_at: None,
    };
    Ok(match store.enqueue(&m).await? {
        Enqueued::Queued(outbox_id) => {
            signer.signed(&draft, &m.body);
            LetterOutcome::Queued {
                outbox_id,
                subject_id,
            }
        }
        Enqueued::AlreadyQueued(outbox_id) => LetterOutcome::AlreadyQueued {
            outbox_id,
            subject_id,
        },
    })
}

/// At send time: a queued legal letter (its idempotency key `legal_letter:<kind>:<id>`) still
/// matches its record, or the refusal (ALL-CONTENT) that stops it. `None` for a row that is
/// not a legal letter.
pub async fn letter_still_matches(
    store: &Store,
    idempotency_key: &str,
    loan_id: Option<&str>,
) -> Result<Option<Refusal>, StoreError> {
    let Some(rest) = idempotency_key.strip_prefix("legal_letter:") else {
        return Ok(None);
    };
    let Some((kind, subject)) = rest.split_once(':') else {
        return Ok(Some(content_refusal(
            "a legal letter without its record".into(),
        )));
    };
    let (Some(kind), Some(loan)) = (LetterKind::parse(kind), loan_id) else {
        return Ok(Some(content_refusal(
            "a legal letter without its record".into(),
        )));
    };
    let (referrals, cases) = loan_records(store, loan).await?;
    Ok(match match_letter(kind, &referrals, &cases) {
        Ok(b) if b.subject_id() == subject => None,
        Ok(_) => Some(content_refusal(format!(
            "the {} was bound to {subject}, which no longer matches",
            kind.code()
        ))),
        Err(why) => Some(content_refusal(why)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_store::CaseUpdate;

    fn referral(status: &str, case: Option<&str>) -> StoredReferral {
        StoredReferral {
            referral_id: "LR-1".into(),
            loan_id: "L1".into(),
            borrower_id: "B1".into(),
            proposed_on: "2026-12-01".parse().unwrap(),
            amount_claimed_minor: 123_456,
            snapshot_as_of: "2026-12-01".parse().unwrap(),
            action_id: "A1".into(),
            rule_id: "late-legal-review".into(),
            status: status.into(),
            reason: None,
            decided_by: None,
            decided_at: Some("2026-12-02T10:00:00Z".parse().unwrap()),
            case_id: case.map(str::to_owned),
            case_status: None,
            currency: "CNY".into(),
        }
    }

    fn case(status: &str) -> CaseFile {
        CaseFile {
            case: StoredCase {
                case_id: format!("C-{status}"),
                loan_id: "L1".into(),
                court: "Shanghai Pudong People's Court".into(),
                case_number: "(2026)沪0115民初123号".into(),
                amount_claimed_minor: 123_456,
                amount_awarded_minor: Some(100_000),
                status: status.into(),
                history: vec![CaseUpdate {
                    status: "filed".into(),
                    at: "2026-12-03T10:00:00Z".parse().unwrap(),
                    amount_awarded_minor: None,
                    note: None,
                    actor: "cli".into(),
                }],
            },
            borrower_id: "B1".into(),
            currency: "CNY".into(),
            referral_id: None,
            judgment_on: None,
            outcome: None,
            measures: vec![],
            costs: vec![],
        }
    }

    /// Which record each letter matches, as a table: (letter, referrals, cases, matched id or
    /// None for a refusal).
    /// A letter, the loan's referrals and case files, the record it must be bound to.
    type MatchCase = (
        LetterKind,
        Vec<StoredReferral>,
        Vec<CaseFile>,
        Option<&'static str>,
    );

    #[test]
    fn a_letter_matches_only_its_record_in_the_right_status() {
        use LetterKind::*;
        let cases: Vec<MatchCase> = vec![
            (LetterBeforeAction, vec![], vec![], None),
            (
                LetterBeforeAction,
                vec![referral("proposed", None)],
                vec![],
                None,
            ),
            (
                LetterBeforeAction,
                vec![referral("rejected", None)],
                vec![],
                None,
            ),
            (
                LetterBeforeAction,
                vec![referral("approved", None)],
                vec![],
                Some("LR-1"),
            ),
            (
                LetterBeforeAction,
                vec![referral("approved", Some("C-filed"))],
                vec![case("filed")],
                None,
            ),
            (NoticeOfSuit, vec![], vec![], None),
            (NoticeOfSuit, vec![referral("approved", None)], vec![], None),
            (NoticeOfSuit, vec![], vec![case("filed")], Some("C-filed")),
            (
                NoticeOfSuit,
                vec![],
                vec![case("judgment")],
                Some("C-judgment"),
            ),
            (
                NoticeOfSuit,
                vec![],
                vec![case("enforcement")],
                Some("C-enforcement"),
            ),
            (NoticeOfSuit, vec![], vec![case("closed")], None),
            (
                NoticeOfSuit,
                vec![],
                vec![case("closed"), case("judgment")],
                Some("C-judgment"),
            ),
        ];
        for (kind, rs, cs, want) in cases {
            let got = match_letter(kind, &rs, &cs);
            assert_eq!(
                got.as_ref().ok().map(Bound::subject_id),
                want,
                "{kind:?} {:?} {:?}: {got:?}",
                rs.iter().map(|r| &r.status).collect::<Vec<_>>(),
                cs.iter().map(|c| &c.case.status).collect::<Vec<_>>()
            );
        }
    }

    /// The rendered letters pass the content rules bound to their record, and a notice of
    /// suit's words are refused without a case or with a closed one (en and zh-CN).
    #[test]
    fn rendered_letters_pass_the_content_rules_only_bound_to_their_record() {
        for language in [Language::En, Language::ZhCn] {
            let lba = Bound::Referral(Box::new(referral("approved", None)));
            let text = render_letter(
                &lba,
                language,
                "Lender",
                "2026-12-20".parse().unwrap(),
                "K1",
                Some("12378"),
            );
            assert!(text.contains("LR-1") || text.contains("L1"), "{text}");
            assert_eq!(
                arrears_policy::check_template(&text, language, Binding::NONE),
                Ok(()),
                "{text}"
            );
            let nos = Bound::Case(Box::new(case("judgment")));
            let text = render_letter(
                &nos,
                language,
                "Lender",
                "2026-12-20".parse().unwrap(),
                "K1",
                None,
            );
            assert!(text.contains("(2026)沪0115民初123号"), "{text}");
            assert!(
                text.contains("1,000.00") || text.contains("1000.00"),
                "{text}"
            );
            assert_eq!(
                arrears_policy::check_template(&text, language, binding(&nos)),
                Ok(()),
                "{text}"
            );
            for refused in [
                Binding::NONE,
                Binding {
                    legal_case_status: Some(LegalStatus::Closed),
                    visit_scheduled: false,
                },
            ] {
                let v = arrears_policy::check_template(&text, language, refused).unwrap_err();
                assert!(v.iter().all(|v| v.rule_id == RuleId::AllContent), "{v:?}");
            }
        }
    }
}
