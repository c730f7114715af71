//! Collection agencies, the one door (`docs/agency.md`): agencies as parties (approved by the
//! lender's policy), placing a loan (an approved, registered agency working the borrower's
//! jurisdiction, and CN-AGENCY's notice on record, decided by the compliance engine), the
//! CN-AGENCY notice itself sent as a signed message through the outbox, who may see a loan (an
//! agency credential: only a loan with a live placement with its agency, at the instant of the
//! request), the agency's daily placement file, recalls by hand and at the end of the term,
//! the agency's reported activity (over the API or as a file: contacts decided and counted like
//! the lender's, promises, payments collected) and the remittance statement with the
//! commission (`arrears_engine::agency`, integer, half-to-even).
//!
//! `arrears agency …` and the server both come here. No clock is read: `now` is an argument.

use crate::context::from_store;
use crate::rules::EffectivePolicy;
use crate::sale::{NoticeDraft, NoticeSigner};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Config, Jurisdiction, Portfolio};
use arrears_engine::agency::{CommissionBps, LoanMoney, Window, commission, recovered};
pub use arrears_io::placement_file::{
    ActivityReject, ActivityRow, PlacementLine, RecallLine, RemittanceLine,
};
use arrears_policy::{
    Channel, Decision, Language, Message, PackSet, Party, ProposedContact, Target,
};
use arrears_store::{
    ActivityRecorded, AgencyAdded, AgencyPlacement, BorrowerContacts, Enqueued, EventMeta,
    Ingested, NewActivity, NewAgency, NewContact, NewOutboxMessage, NewPlacement, Recall,
    ServiceEvent, Store, StoreError, StoredAgency, WorkError, WorkMeta,
};
use jiff::Timestamp;
use jiff::civil::Date;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why an agency use case refused, or a store failure. `code` names each for the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgencyError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The lender's policy does not approve the agency (CN-AGENCY's approved list).
    #[error(
        "agency {agency:?} is not on the lender's approved-agency list for {jurisdiction} (CN-AGENCY); add it to the policy's approved_agencies first"
    )]
    NotApproved {
        agency: String,
        jurisdiction: String,
    },
    #[error("agency {0:?} is on record with other terms ({1}); agencies are never changed")]
    Conflict(String, String),
    #[error("there is no agency {0:?}; add it with `arrears agency add`")]
    UnknownAgency(String),
    #[error("there is no loan {0:?}")]
    UnknownLoan(String),
    #[error("agency {agency:?} does not work {jurisdiction} (it works {works})")]
    Jurisdiction {
        agency: String,
        jurisdiction: String,
        works: String,
    },
    #[error("the placement was refused: {}", .0.join(", "))]
    Denied(Vec<String>),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Service(String),
    #[error("the daily run failed: {0}")]
    Run(String),
}

impl AgencyError {
    /// The stable code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            AgencyError::Invalid { .. } => "invalid_field",
            AgencyError::NotApproved { .. } => "agency_not_approved",
            AgencyError::Conflict(..) => "agency_conflict",
            AgencyError::UnknownAgency(_) => "unknown_agency",
            AgencyError::UnknownLoan(_) => "unknown_loan",
            AgencyError::Jurisdiction { .. } => "agency_jurisdiction",
            AgencyError::Denied(_) => "placement_denied",
            AgencyError::Work(_) | AgencyError::Store(_) | AgencyError::Service(_) => "internal",
            AgencyError::Run(_) => "internal",
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AgencyError {
    AgencyError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// An id as the store keeps it: 1–64 characters of letters, digits, `-`, `_`, `.`.
fn plain(field: &'static str, s: &str) -> Result<String, AgencyError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(invalid(
            field,
            format!("{s:?} is not 1-64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// An agency as a caller gives it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencySpec<'a> {
    pub agency_id: &'a str,
    pub name: &'a str,
    pub jurisdictions: &'a [String],
    pub commission_bps: i64,
    pub term_days: i64,
    pub by: &'a str,
}

/// Whether `j` (a borrower's jurisdiction) is one the agency works: the code itself or a
/// subdivision of a country it works (`CN` takes `CN-11`; `CN-11` only itself).
pub fn works_in(agency: &StoredAgency, j: &str) -> bool {
    agency
        .jurisdictions
        .iter()
        .any(|a| a == j || (!a.contains('-') && j.split('-').next() == Some(a.as_str())))
}

/// Adds an agency. It must be on the approved-agency list of the lender's policy in force
/// for each jurisdiction it is to work (the packs tightened by the policy carry that list).
pub async fn add(
    store: &Store,
    policy: &EffectivePolicy,
    spec: &AgencySpec<'_>,
    at: Timestamp,
) -> Result<AgencyAdded, AgencyError> {
    let agency_id = plain("agency_id", spec.agency_id)?;
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name", "must be 1-200 characters"));
    }
    if spec.jurisdictions.is_empty() {
        return Err(invalid("jurisdiction", "give at least one"));
    }
    let mut jurisdictions = Vec::new();
    for j in spec.jurisdictions {
        let parsed = Jurisdiction::parse("jurisdiction", j)
            .map_err(|e| invalid("jurisdiction", e.detail))?;
        let approved = policy
            .packs
            .get(&parsed)
            .is_some_and(|p| p.approved_agencies().contains(&agency_id));
        if !approved {
            return Err(AgencyError::NotApproved {
                agency: agency_id,
                jurisdiction: parsed.as_str().to_owned(),
            });
        }
        jurisdictions.push(parsed.as_str().to_owned());
    }
    jurisdictions.sort();
    jurisdictions.dedup();
    CommissionBps::new(spec.commission_bps).map_err(|e| invalid("commission_bps", e))?;
    if !(1..=3650).contains(&spec.term_days) {
        return Err(invalid("term_days", "must be 1-3650 days"));
    }
    let a = NewAgency {
        agency_id,
        name: name.to_owned(),
        jurisdictions,
        commission_bps: spec.commission_bps,
        term_days: spec.term_days,
        created_by: spec.by.to_owned(),
        created_at: at,
    };
    match store.add_agency(&a).await? {
        AgencyAdded::Conflict(old) => Err(AgencyError::Conflict(
            old.agency_id.clone(),
            format!(
                "{}, {}, {} bps, {} days",
                old.name,
                old.jurisdictions.join(" "),
                old.commission_bps,
                old.term_days
            ),
        )),
        done => Ok(done),
    }
}

/// The placement decision: the agency is registered and works the borrower's jurisdiction,
/// and the compliance engine allows the `agency_placement` escalation at `placed_at` (CN-AGENCY:
/// its notice on record and the agency approved; holds, disputes, …). `Ok(Err(rules))` is a
/// denial with its rule ids.
pub async fn check_party(
    store: &Store,
    agency_id: &str,
    loan_id: &str,
) -> Result<StoredAgency, AgencyError> {
    let agency = store
        .agency(agency_id)
        .await?
        .ok_or_else(|| AgencyError::UnknownAgency(agency_id.to_owned()))?;
    let borrower = store
        .loan_borrower(loan_id)
        .await?
        .ok_or_else(|| AgencyError::UnknownLoan(loan_id.to_owned()))?;
    let bc = store
        .borrower_contacts(&borrower)
        .await?
        .ok_or_else(|| AgencyError::UnknownLoan(loan_id.to_owned()))?;
    let j = bc.borrower.jurisdiction.as_str();
    if !works_in(&agency, j) {
        return Err(AgencyError::Jurisdiction {
            agency: agency.agency_id.clone(),
            jurisdiction: j.to_owned(),
            works: agency.jurisdictions.join(" "),
        });
    }
    Ok(agency)
}

/// The engine's answer about placing `loan_id` with `agency_id` at `at` over `bc`.
pub fn decide_placement(
    packs: &PackSet,
    bc: &BorrowerContacts,
    loan_id: &str,
    agency_id: &str,
    at: Timestamp,
) -> Result<(), Vec<String>> {
    let mut p = ProposedContact::new(
        bc.borrower.id.clone(),
        Channel::AgencyPlacement,
        Party::Borrower,
        None,
    );
    p.loan_id = LoanId::parse("loan_id", loan_id).ok();
    p.agency_id = Some(agency_id.to_owned());
    match crate::decide(&p, &from_store(bc), at, packs) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny { rule_ids, .. } => {
            Err(rule_ids.iter().map(|r| r.as_str().to_owned()).collect())
        }
    }
}

/// A placement to record (the commission defaults to the agency's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceRequest<'a> {
    pub placement_id: &'a str,
    pub loan_id: &'a str,
    pub agency_id: &'a str,
    pub placed_at: Timestamp,
    pub commission_bps: Option<i64>,
}

/// Places a loan with an agency: [`check_party`], then the store's placement (no second live
/// placement) with [`decide_placement`] over the borrower's facts read under their lock.
pub async fn place(
    store: &Store,
    packs: &PackSet,
    meta: &WorkMeta<'_>,
    r: &PlaceRequest<'_>,
) -> Result<Ingested<Vec<String>>, AgencyError> {
    let agency = check_party(store, r.agency_id, r.loan_id).await?;
    let commission_bps = r.commission_bps.unwrap_or(agency.commission_bps);
    CommissionBps::new(commission_bps).map_err(|e| invalid("commission_bps", e))?;
    let p = NewPlacement {
        placement_id: plain("placement_id", r.placement_id)?,
        loan_id: r.loan_id.to_owned(),
        agency_id: agency.agency_id.clone(),
        placed_at: r.placed_at,
        commission_bps: Some(commission_bps),
    };
    Ok(store
        .record_placement(meta, &p, |bc| {
            decide_placement(packs, bc, &p.loan_id, &p.agency_id, p.placed_at)
        })
        .await?)
}

/// The bookkeeping of a write made by a command (`cli`): its key, a canonical body and its
/// SHA-256.
pub fn cli_meta_body(parts: &[(&str, String)]) -> (String, String) {
    let body = parts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let sha = hex(&Sha256::digest(body.as_bytes()));
    (body, sha)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether an agency credential may see or work `loan_id` at `at`: a live placement of the
/// loan with the agency (placed at or before `at`, not recalled at or before it).
pub async fn may_work(
    store: &Store,
    agency_id: &str,
    loan_id: &str,
    at: Timestamp,
) -> Result<bool, AgencyError> {
    Ok(store.placed_with(agency_id, loan_id, at).await?)
}

/// The loans an agency may see at `at`.
pub async fn live_loans(
    store: &Store,
    agency_id: &str,
    at: Timestamp,
) -> Result<Vec<String>, AgencyError> {
    Ok(store
        .agency_placements(agency_id)
        .await?
        .into_iter()
        .filter(|p| p.live_at(at))
        .map(|p| p.loan_id)
        .collect())
}

/// The text of the CN-AGENCY notice: who will collect, from when, the loan, the code.
pub fn placement_notice_text(
    language: Language,
    lender: &str,
    agency: &str,
    loan: &str,
    code: &str,
) -> String {
    let opt_out = arrears_strategy::opt_out_text(language);
    match language {
        Language::ZhCn => format!(
            "【{lender}】委外催收告知：您的借款{loan}将委托{agency}代为催收，您所欠金额不变，也可随时直接联系{lender}。验证码{code}。{opt_out}"
        ),
        _ => format!(
            "{lender}: Notice. Your loan {loan} will be placed with the collection agency {agency}, which will contact you on our behalf; what you owe is unchanged and you may still contact {lender} directly. Code {code}. {opt_out}"
        ),
    }
}

/// What queueing a CN-AGENCY notice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeQueued {
    Queued(i64),
    AlreadyQueued(i64),
    Refused(Vec<String>),
    NoTarget,
}

/// Queues the signed notice that must precede a placement (kind `agency_placement`) to the
/// borrower's own e-mail, else phone (SMS), naming the agency, decided by the engine at
/// `now`, under the key `agency_notice:<agency>:<loan>`. When the dispatcher sends it, the
/// outbox records it as a `notices` row, and CN-AGENCY's notice is then on record.
pub async fn queue_placement_notice(
    store: &Store,
    packs: &PackSet,
    lender: &str,
    agency_id: &str,
    loan_id: &str,
    now: Timestamp,
    signer: &mut dyn NoticeSigner,
) -> Result<NoticeQueued, AgencyError> {
    let agency = check_party(store, agency_id, loan_id).await?;
    let borrower = store
        .loan_borrower(loan_id)
        .await?
        .ok_or_else(|| AgencyError::UnknownLoan(loan_id.to_owned()))?;
    let Some(bc) = store.borrower_contacts(&borrower).await? else {
        return Err(AgencyError::UnknownLoan(loan_id.to_owned()));
    };
    let b = &bc.borrower;
    let target = b
        .email
        .as_deref()
        .and_then(|e| Target::email(e).ok())
        .or_else(|| b.phone.as_deref().and_then(|p| Target::phone(p).ok()));
    let Some(target) = target else {
        return Ok(NoticeQueued::NoTarget);
    };
    let channel = match target {
        Target::Email(_) => Channel::Email,
        Target::Phone(_) => Channel::Sms,
    };
    let language = Language::of_borrower(b.language.as_deref(), &b.jurisdiction);
    let draft = NoticeDraft {
        lender: lender.to_owned(),
        borrower_id: borrower.clone(),
        loan_id: loan_id.to_owned(),
        channel: channel.code().to_owned(),
        issued_at: now,
    };
    let code = signer.code(&draft);
    let text = placement_notice_text(language, lender, &agency.name, loan_id, &code);
    let message = Message::new(&text, language, lender, &code);
    let mut p = ProposedContact::new(b.id.clone(), channel, Party::Borrower, Some(target.clone()));
    p.loan_id = LoanId::parse("loan_id", loan_id).ok();
    p.purpose = arrears_policy::Purpose::Notice(arrears_policy::NoticeKind::AgencyPlacement);
    p.message = Some(message.clone());
    let permitted = match crate::decide(&p, &from_store(&bc), now, packs) {
        Decision::Allow(permitted) => permitted,
        Decision::Deny { rule_ids, .. } => {
            return Ok(NoticeQueued::Refused(
                rule_ids.iter().map(|r| r.as_str().to_owned()).collect(),
            ));
        }
    };
    let m = NewOutboxMessage {
        idempotency_key: format!("agency_notice:{agency_id}:{loan_id}"),
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
        subject: Some(match language {
            Language::ZhCn => "委外催收告知".to_owned(),
            _ => "Notice of placement with a collection agency".to_owned(),
        }),
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
        Enqueued::Queued(id) => {
            signer.signed(&draft, &m.body);
            NoticeQueued::Queued(id)
        }
        Enqueued::AlreadyQueued(id) => NoticeQueued::AlreadyQueued(id),
    })
}

/// The end of business date `d` (the first instant of the next day) in the configuration's
/// zone.
pub fn end_of(d: Date, config: &Config) -> Result<Timestamp, AgencyError> {
    arrears_engine::sale::end_of_day(d, config)
        .ok_or_else(|| invalid("date", format!("{d} has no end in the business zone")))
}

/// The agency's daily placement file for `date`: every loan placed with it and live at the
/// end of the date, with its balances by component from the daily run of that date, dpd, and
/// the borrower's own name, phone, e-mail, zone, jurisdiction and language (never a contact
/// person's).
pub async fn placement_file(
    store: &Store,
    portfolio: &Portfolio,
    config: &Config,
    agency_id: &str,
    date: Date,
) -> Result<Vec<PlacementLine>, AgencyError> {
    if store.agency(agency_id).await?.is_none() {
        return Err(AgencyError::UnknownAgency(agency_id.to_owned()));
    }
    let end = end_of(date, config)?;
    let placements = store.agency_placements(agency_id).await?;
    let live: BTreeMap<&str, &AgencyPlacement> = placements
        .iter()
        .filter(|p| {
            p.live_at(
                end.checked_sub(jiff::SignedDuration::from_micros(1))
                    .unwrap_or(end),
            )
        })
        .map(|p| (p.loan_id.as_str(), p))
        .collect();
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let states = arrears_engine::run_day(portfolio, date, config)
        .map_err(|e| AgencyError::Run(e.to_string()))?;
    let mut out = Vec::with_capacity(live.len());
    for (i, l) in portfolio.loans.iter().enumerate() {
        let Some(p) = live.get(l.id.as_str()) else {
            continue;
        };
        let Some(s) = states.get(i) else { continue };
        let b = portfolio.borrower_of(l);
        let penalty = s
            .penalty_accrued_minor
            .saturating_sub(s.penalty_paid_minor)
            .max(0);
        out.push(PlacementLine {
            placement_id: p.placement_id.clone(),
            loan_id: l.id.as_str().to_owned(),
            borrower_id: p.borrower_id.clone(),
            placed_at: p.placed_at,
            currency: l.currency.as_str().to_owned(),
            dpd: i64::from(s.dpd),
            principal_minor: s.outstanding_principal_minor,
            interest_minor: s.overdue_interest_minor,
            fee_minor: s.overdue_fee_minor,
            penalty_minor: penalty,
            outstanding_minor: arrears_engine::sale::face_of(s),
            borrower_name: b.map(|b| b.name.to_string()).unwrap_or_default(),
            borrower_phone: b.and_then(|b| b.phone.as_deref().map(str::to_owned)),
            borrower_email: b.and_then(|b| b.email.as_deref().map(str::to_owned)),
            borrower_timezone: b.map(|b| b.timezone.name().to_owned()).unwrap_or_default(),
            jurisdiction: b
                .map(|b| b.jurisdiction.as_str().to_owned())
                .unwrap_or_default(),
            language: b.and_then(|b| b.language.as_deref().map(str::to_owned)),
        });
    }
    out.sort_by(|a, b| a.loan_id.cmp(&b.loan_id));
    Ok(out)
}

/// Recalls one placement at `at` (by hand), recorded as a `recall:P` work request; returns
/// the recall file's line.
pub async fn recall(
    store: &Store,
    placement_id: &str,
    at: Timestamp,
    reason: &str,
    actor: &str,
    now: Timestamp,
) -> Result<Option<RecallLine>, AgencyError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(invalid("reason", "must be 1-1000 characters"));
    }
    let (body, sha) = cli_meta_body(&[
        ("placement_id", placement_id.to_owned()),
        ("recalled_at", at.to_string()),
        ("reason", reason.to_owned()),
    ]);
    let key = format!("recall:{placement_id}");
    let meta = WorkMeta {
        key: &key,
        kind: "recall",
        body: &body,
        body_sha256: &sha,
        received_at: now,
        actor,
    };
    let r = Recall {
        recalled_at: at,
        reason: reason.to_owned(),
        actor: actor.to_owned(),
    };
    match store.recall_placement(&meta, placement_id, &r).await? {
        Ingested::Recorded => {}
        Ingested::AlreadyRecorded => {}
        Ingested::Conflict => {
            return Err(invalid(
                "placement_id",
                format!("placement {placement_id:?} was recalled before with other terms"),
            ));
        }
        Ingested::Refused(()) => return Ok(None),
    }
    // The placement as stored now, for the file.
    let Some(loan) = store.placement_loan(placement_id).await? else {
        return Ok(None);
    };
    let Some(p) = store
        .loan_placements(&loan)
        .await?
        .into_iter()
        .find(|p| p.placement_id == placement_id)
    else {
        return Ok(None);
    };
    let borrower = store.loan_borrower(&loan).await?.unwrap_or_default();
    Ok(p.recall.map(|rc| RecallLine {
        placement_id: p.placement_id.clone(),
        loan_id: loan.clone(),
        borrower_id: borrower,
        placed_at: p.placed_at,
        recalled_at: rc.recalled_at,
        reason: rc.reason,
    }))
}

/// Recalls every live placement whose term (the agency's `term_days` from `placed_at`) has
/// ended by the end of `as_of`, each at the instant its term ended; the lines of each
/// agency's recall file, by agency. Running it again recalls nothing twice.
pub async fn recall_expired(
    store: &Store,
    config: &Config,
    as_of: Date,
    actor: &str,
    now: Timestamp,
) -> Result<BTreeMap<String, Vec<RecallLine>>, AgencyError> {
    let end = end_of(as_of, config)?;
    let mut out: BTreeMap<String, Vec<RecallLine>> = BTreeMap::new();
    for a in store.agencies().await? {
        let term = jiff::SignedDuration::from_hours(24 * a.term_days);
        for p in store.agency_placements(&a.agency_id).await? {
            if p.recalled_at.is_some() {
                continue;
            }
            let Ok(ends) = p.placed_at.checked_add(term) else {
                continue;
            };
            if ends >= end {
                continue;
            }
            if let Some(line) = recall(
                store,
                &p.placement_id,
                ends,
                &format!("term of {} days ended", a.term_days),
                actor,
                now,
            )
            .await?
            {
                out.entry(a.agency_id.clone()).or_default().push(line);
            }
        }
    }
    Ok(out)
}

/// What importing an agency's activity did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityReport {
    pub recorded: u64,
    pub already: u64,
    /// Contacts recorded as violations, with their rule ids (they count in the caps).
    pub violations: Vec<(String, Vec<String>)>,
    /// Rows refused with file, line, field and reason (the file's and the store's).
    pub rejected: Vec<ActivityReject>,
}

/// Records an agency's activity rows (from a file, or one from the API with `file` = `api`):
/// each row's loan must be placed with the agency at the row's instant; a contact is
/// recorded as the agency's (`contacts.agency_id`) through the same decision as the lender's
/// contacts, so it counts in the borrower's one budget (a forbidden one is kept as a
/// violation); a promise is recorded as a promise to pay; a payment collected is kept as the
/// agency reported it (the lender's books record the money itself). Every row is also kept
/// in `agency_activity`, idempotently by its id.
pub async fn record_activity(
    store: &Store,
    packs: &PackSet,
    agency_id: &str,
    file: &str,
    rows: &[ActivityRow],
    actor: &str,
    now: Timestamp,
) -> Result<ActivityReport, AgencyError> {
    let mut report = ActivityReport::default();
    for row in rows {
        let reject = |field: &str, reason: String| ActivityReject {
            file: file.to_owned(),
            line: row.line,
            field: field.to_owned(),
            reason,
        };
        match record_row(store, packs, agency_id, file, row, actor, now).await? {
            Ok(RowOutcome::Recorded) => report.recorded += 1,
            Ok(RowOutcome::Already) => report.already += 1,
            Ok(RowOutcome::Violation(rules)) => {
                report.recorded += 1;
                report.violations.push((row.activity_id.clone(), rules));
            }
            Err((field, reason)) => report.rejected.push(reject(field, reason)),
        }
    }
    Ok(report)
}

enum RowOutcome {
    Recorded,
    Already,
    Violation(Vec<String>),
}

fn canonical_row(row: &ActivityRow) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        row.activity_id,
        row.loan_id,
        row.kind,
        row.at,
        row.channel.as_deref().unwrap_or(""),
        row.target.as_deref().unwrap_or(""),
        row.outcome.as_deref().unwrap_or(""),
        row.amount_minor.map(|a| a.to_string()).unwrap_or_default(),
        row.due_date.map(|d| d.to_string()).unwrap_or_default(),
        row.direction.as_deref().unwrap_or(""),
    )
}

type RowResult = Result<RowOutcome, (&'static str, String)>;

async fn record_row(
    store: &Store,
    packs: &PackSet,
    agency_id: &str,
    file: &str,
    row: &ActivityRow,
    actor: &str,
    now: Timestamp,
) -> Result<RowResult, AgencyError> {
    let Ok(loan) = LoanId::parse("loan_id", &row.loan_id) else {
        return Ok(Err((
            "loan_id",
            format!("{:?} is not a loan id", row.loan_id),
        )));
    };
    if !store.placed_with(agency_id, loan.as_str(), row.at).await? {
        return Ok(Err((
            "loan_id",
            format!(
                "loan {:?} is not placed with agency {agency_id:?} at {}",
                row.loan_id, row.at
            ),
        )));
    }
    let Some(borrower) = store.loan_borrower(loan.as_str()).await? else {
        return Ok(Err((
            "loan_id",
            format!("there is no loan {:?}", row.loan_id),
        )));
    };
    let canonical = canonical_row(row);
    let sha = hex(&Sha256::digest(canonical.as_bytes()));
    let event_id = format!("agency:{agency_id}:{}", row.activity_id);
    let meta = EventMeta {
        event_id: &event_id,
        // The event's type as the API names it.
        kind: if row.kind == "promise" {
            "promise_to_pay"
        } else {
            row.kind.as_str()
        },
        body: &canonical,
        body_sha256: &sha,
        received_at: now,
        actor,
    };
    let mut violation = None;
    match row.kind.as_str() {
        "contact" => {
            let direction = row.direction.as_deref().unwrap_or("outbound");
            if !matches!(direction, "outbound" | "inbound") {
                return Ok(Err((
                    "direction",
                    format!("{direction:?} is not outbound or inbound"),
                )));
            }
            let spec = crate::ContactSpec {
                borrower_id: &borrower,
                loan_id: Some(loan.as_str()),
                channel: row.channel.as_deref().unwrap_or_default(),
                party: None,
                target: row.target.as_deref(),
                purpose: None,
                agency_id: Some(agency_id),
                text: None,
                lender: None,
                code: None,
                language: None,
            };
            let proposed = match spec.proposal(Language::En) {
                Ok(p) => p,
                Err(e) => return Ok(Err((e.field, e.reason))),
            };
            if proposed.channel.is_escalation() {
                return Ok(Err((
                    "channel",
                    format!("{} is not a contact", proposed.channel),
                )));
            }
            let outcome = row.outcome.as_deref().unwrap_or_default();
            if arrears_policy::Outcome::parse(outcome).is_err() {
                return Ok(Err((
                    "outcome",
                    format!("{outcome:?} is not a contact outcome"),
                )));
            }
            let contact = NewContact {
                contact_id: event_id.clone(),
                borrower_id: BorrowerId::parse("borrower_id", &borrower)
                    .map_err(|e| AgencyError::Service(e.detail))?,
                loan_id: Some(loan.clone()),
                channel: proposed.channel.code().to_owned(),
                direction: direction.to_owned(),
                at: row.at,
                outcome: outcome.to_owned(),
                target: proposed.target.as_ref().map(|t| t.as_str().to_owned()),
                party: Some(proposed.party.code().to_owned()),
                agency_id: Some(agency_id.to_owned()),
            };
            let outbound = direction == "outbound";
            let at = row.at;
            let got = store
                .ingest(&meta, &ServiceEvent::Contact(contact.clone()), |bc| {
                    if !outbound {
                        return Ok(());
                    }
                    match crate::decide(&proposed, &from_store(bc), at, packs) {
                        Decision::Allow(_) => Ok(()),
                        Decision::Deny { rule_ids, .. } => Err(rule_ids
                            .iter()
                            .map(|r| r.as_str().to_owned())
                            .collect::<Vec<_>>()),
                    }
                })
                .await
                .map_err(|e| AgencyError::Service(e.to_string()))?;
            match got {
                Ingested::Recorded | Ingested::AlreadyRecorded => {}
                Ingested::Conflict => {
                    return Ok(Err((
                        "activity_id",
                        format!(
                            "{:?} was recorded before with other values",
                            row.activity_id
                        ),
                    )));
                }
                Ingested::Refused(rules) => {
                    store
                        .record_violation(&contact, &rules)
                        .await
                        .map_err(|e| AgencyError::Service(e.to_string()))?;
                    violation = Some(rules);
                }
            }
        }
        "promise" => {
            let (Some(amount), Some(due)) = (row.amount_minor, row.due_date) else {
                return Ok(Err((
                    "amount_minor",
                    "a promise needs its amount and due date".into(),
                )));
            };
            let got = store
                .ingest(
                    &meta,
                    &ServiceEvent::Promise {
                        promise_id: event_id.clone(),
                        loan_id: loan.clone(),
                        created_at: row.at,
                        amount_minor: amount,
                        due_date: due,
                    },
                    |_| Ok::<(), ()>(()),
                )
                .await
                .map_err(|e| AgencyError::Service(e.to_string()))?;
            if got == Ingested::Conflict {
                return Ok(Err((
                    "activity_id",
                    format!(
                        "{:?} was recorded before with other values",
                        row.activity_id
                    ),
                )));
            }
        }
        _ => {}
    }
    let a = NewActivity {
        activity_id: row.activity_id.clone(),
        agency_id: agency_id.to_owned(),
        loan_id: loan.as_str().to_owned(),
        kind: row.kind.clone(),
        at: row.at,
        amount_minor: row.amount_minor,
        body_sha256: sha,
        source: if file == "api" {
            "api".to_owned()
        } else {
            format!("file:{file}:{}", row.line)
        },
        actor: actor.to_owned(),
    };
    Ok(match store.record_agency_activity(&a, now).await? {
        ActivityRecorded::Recorded => match violation {
            Some(v) => Ok(RowOutcome::Violation(v)),
            None => Ok(RowOutcome::Recorded),
        },
        ActivityRecorded::AlreadyRecorded => Ok(RowOutcome::Already),
        ActivityRecorded::Conflict => Err((
            "activity_id",
            format!(
                "{:?} was recorded before with other values",
                row.activity_id
            ),
        )),
    })
}

/// A remittance statement: its lines (one per placement live in the period) and the totals
/// per currency (recovered, commission, reported collected), the sums of the lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remittance {
    pub lines: Vec<RemittanceLine>,
    pub totals: Vec<(String, i128, i128, i128)>,
}

/// The remittance statement of an agency for the business dates `from ..= to`: what each
/// placement recovered in the period (the loan's payments received while placed, less their
/// reversals; `arrears_engine::agency::recovered`) and the commission at the placement's rate,
/// rounded half-to-even once per line.
pub async fn remittance(
    store: &Store,
    config: &Config,
    agency_id: &str,
    from: Date,
    to: Date,
) -> Result<Remittance, AgencyError> {
    if to < from {
        return Err(invalid("to", format!("{to} is before {from}")));
    }
    let agency = store
        .agency(agency_id)
        .await?
        .ok_or_else(|| AgencyError::UnknownAgency(agency_id.to_owned()))?;
    let start = end_of(
        from.yesterday()
            .map_err(|e| invalid("from", e.to_string()))?,
        config,
    )?;
    let end = end_of(to, config)?;
    let placements = store.agency_placements(agency_id).await?;
    let money = store.agency_loan_money(agency_id).await?;
    let activity = store.agency_activity(agency_id).await?;
    let mut by_loan: BTreeMap<&str, Vec<LoanMoney>> = BTreeMap::new();
    for m in &money {
        by_loan
            .entry(m.loan_id.as_str())
            .or_default()
            .push(LoanMoney {
                payment_id: m.payment_id.clone(),
                received_at: m.received_at,
                amount_minor: m.amount_minor,
                reverses: m.reverses.clone(),
            });
    }
    let mut out = Remittance::default();
    let mut totals: BTreeMap<String, (i128, i128, i128)> = BTreeMap::new();
    for p in &placements {
        // Live at some instant of the period.
        let overlaps = p.placed_at < end && p.recalled_at.is_none_or(|r| r > start);
        if !overlaps {
            continue;
        }
        let w = Window {
            placed_at: p.placed_at,
            recalled_at: p.recalled_at,
        };
        let r = recovered(
            by_loan
                .get(p.loan_id.as_str())
                .map_or(&[][..], Vec::as_slice),
            w,
            start,
            end,
        );
        let bps = p.commission_bps.unwrap_or(agency.commission_bps);
        let rate = CommissionBps::new(bps).map_err(|e| invalid("commission_bps", e))?;
        let c = commission(r.recovered_minor, rate);
        let reported: i64 = activity
            .iter()
            .filter(|(l, k, at, _)| {
                l == &p.loan_id && k == "payment" && w.live_at(*at) && start <= *at && *at < end
            })
            .filter_map(|(_, _, _, a)| *a)
            .sum();
        let t = totals.entry(p.currency.clone()).or_default();
        t.0 += i128::from(r.recovered_minor);
        t.1 += i128::from(c);
        t.2 += i128::from(reported);
        out.lines.push(RemittanceLine {
            placement_id: p.placement_id.clone(),
            loan_id: p.loan_id.clone(),
            currency: p.currency.clone(),
            payments: r.payments,
            reversals: r.reversals,
            recovered_minor: r.recovered_minor,
            commission_bps: bps,
            commission_minor: c,
            reported_minor: reported,
        });
    }
    out.totals = totals
        .into_iter()
        .map(|(cur, (a, b, c))| (cur, a, b, c))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(j: &[&str]) -> StoredAgency {
        NewAgency {
            agency_id: "AG".into(),
            name: "AG".into(),
            jurisdictions: j.iter().map(|s| (*s).to_owned()).collect(),
            commission_bps: 1_000,
            term_days: 90,
            created_by: "t".into(),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_agency_works_its_jurisdictions_and_their_subdivisions() {
        // (agency's jurisdictions, borrower's, works)
        let cases: [(&[&str], &str, bool); 6] = [
            (&["CN"], "CN", true),
            (&["CN"], "CN-11", true),
            (&["CN-11"], "CN-11", true),
            (&["CN-11"], "CN-31", false),
            (&["CN-11"], "CN", false),
            (&["US", "GB"], "CN", false),
        ];
        for (a, j, works) in cases {
            assert_eq!(works_in(&agency(a), j), works, "{a:?} {j}");
        }
    }
}
