//! The `/v1` routes: the pre-contact check, recording contacts, event ingest, accounts and
//! message verification. Handlers parse every field into its domain type first (a bad value
//! is a 422 naming the field), then ask the store and the compliance engine.

use crate::auth::{Actor, sha256_hex};
use crate::error::{ApiError, ApiJson, ErrorBody};
use crate::{AppState, now};
use arrears_domain::parse;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_policy::{Decision, Language, Outcome, ProposedContact};
use arrears_store::{
    Access, BorrowerContacts, BorrowerFlag, Ingested, NewContact, ServiceError, ServiceEvent,
};
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/contacts/check`: may this contact happen at `at`?
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CheckRequest {
    pub borrower_id: String,
    /// The debt the contact is about; absent means every debt of the borrower.
    #[serde(default)]
    pub loan_id: Option<String>,
    /// sms, call, email, letter, push, visit, or an escalation (agency_placement,
    /// legal_referral, credit_report, fee).
    pub channel: String,
    /// The phone number (E.164) or e-mail address to be used.
    #[serde(default)]
    pub target: Option<String>,
    /// borrower (default), co_borrower, designated_contact, third_party, attorney.
    #[serde(default)]
    pub party: Option<String>,
    /// The instant of the contact, RFC 3339 with an offset.
    pub at: String,
    /// The message text, for channels that carry one (vetted by the content rules).
    #[serde(default)]
    pub text: Option<String>,
    /// The lender's name as the message states it.
    #[serde(default)]
    pub lender: Option<String>,
    /// The message's verification code.
    #[serde(default)]
    pub code: Option<String>,
    /// collection (default), locate, plan_reminder or notice:<kind> (e.g. notice:assignment).
    #[serde(default)]
    pub purpose: Option<String>,
    /// The agency that would make the contact (or receive a placement).
    #[serde(default)]
    pub agency_id: Option<String>,
}

/// The answer, exactly as `arrears check` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct CheckResponse {
    /// `allow` or `deny`.
    pub decision: String,
    /// Every rule that failed (empty when allowed).
    pub rule_ids: Vec<String>,
    /// For a denial: the first instant the same contact would pass (RFC 3339), or null when
    /// waiting cannot help. Null when allowed.
    pub earliest_allowed: Option<String>,
}

/// `POST /v1/contacts` (and the `contact` event): a contact that happened.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ContactRequest {
    /// Unique across contacts; also the idempotency key of `POST /v1/contacts`.
    pub contact_id: String,
    pub borrower_id: String,
    #[serde(default)]
    pub loan_id: Option<String>,
    /// sms, call, email, letter, push, visit.
    pub channel: String,
    /// outbound (default; checked against the rules) or inbound (the borrower called).
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub party: Option<String>,
    /// When it happened, RFC 3339 with an offset.
    pub at: String,
    /// right_party, promise, refused, dispute, no_answer, wrong_party, busy, voicemail, sent,
    /// delivered, bounced, failed.
    pub outcome: String,
    #[serde(default)]
    pub agency_id: Option<String>,
    /// The text a written contact carried (vetted by the content rules).
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub lender: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// An event for `POST /v1/events`: an id (the idempotency key) and a `type` with its fields.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct EventRequest {
    /// Unique per event: a replay with the same body changes nothing, with another body is a
    /// conflict.
    pub event_id: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// A borrower status change (dispute opened or resolved, cease-contact, hardship,
/// deceased, bankrupt).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct BorrowerChange {
    pub borrower_id: String,
    /// When it took effect, RFC 3339.
    pub at: String,
}

/// A payment received.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PaymentEvent {
    pub payment_id: String,
    pub loan_id: String,
    pub received_at: String,
    /// Integer minor units (cents, fen), more than zero.
    pub amount_minor: i64,
}

/// A payment cancelled (same loan and amount as the payment it reverses).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ReversalEvent {
    pub payment_id: String,
    pub loan_id: String,
    pub reverses: String,
    pub received_at: String,
    pub amount_minor: i64,
}

/// A promise to pay.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PromiseEvent {
    pub promise_id: String,
    pub loan_id: String,
    pub created_at: String,
    pub amount_minor: i64,
    /// YYYY-MM-DD.
    pub due_date: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    Payment(PaymentEvent),
    Reversal(ReversalEvent),
    /// A contact attempt and its outcome (checked like `POST /v1/contacts`).
    Contact(Box<ContactRequest>),
    PromiseToPay(PromiseEvent),
    DisputeOpened(BorrowerChange),
    DisputeResolved(BorrowerChange),
    CeaseContact(BorrowerChange),
    /// The borrower declared financial difficulty.
    Hardship(BorrowerChange),
    HardshipEnded(BorrowerChange),
    Deceased(BorrowerChange),
    Bankrupt(BorrowerChange),
    /// A notice sent to the borrower by another system (the `notices` table): `validation`,
    /// `agency_placement`, `credit_reporting`, `forbearance_offer`, `assignment`,
    /// `legal_action`.
    Notice(NoticeEvent),
    /// What the borrower chose for a channel (the `preferences` table).
    Preference(PreferenceEvent),
    /// A dispute of a credit report opened (CN-CREDIT, US-CREDIT freeze negative reports).
    CreditDisputeOpened(CreditDisputeEvent),
    /// That dispute resolved.
    CreditDisputeResolved(CreditDisputeResolvedEvent),
}

/// A notice sent (`notice` event).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct NoticeEvent {
    pub notice_id: String,
    pub borrower_id: String,
    /// Absent: about every debt of the borrower.
    #[serde(default)]
    pub loan_id: Option<String>,
    pub kind: String,
    /// RFC 3339 with an offset.
    pub sent_at: String,
    /// `letter`, `email`, `sms` or `portal`.
    pub channel: String,
}

/// A borrower's choice for one channel (`preference` event).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PreferenceEvent {
    pub borrower_id: String,
    /// `call`, `sms`, `email`, `letter`, `push` or `visit`.
    pub channel: String,
    pub opted_out: bool,
    /// Local `HH:MM`, both or neither: the hours accepted on the channel.
    #[serde(default)]
    pub contact_from: Option<String>,
    #[serde(default)]
    pub contact_to: Option<String>,
    /// RFC 3339 with an offset.
    pub updated_at: String,
}

/// A credit-report dispute opened (`credit_dispute_opened` event).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreditDisputeEvent {
    pub dispute_id: String,
    pub borrower_id: String,
    /// Absent: every loan of the borrower.
    #[serde(default)]
    pub loan_id: Option<String>,
    pub opened_at: String,
}

/// A credit-report dispute resolved (`credit_dispute_resolved` event).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreditDisputeResolvedEvent {
    pub dispute_id: String,
    pub resolved_at: String,
}

impl EventBody {
    fn kind(&self) -> &'static str {
        match self {
            EventBody::Payment(_) => "payment",
            EventBody::Reversal(_) => "reversal",
            EventBody::Contact(_) => "contact",
            EventBody::PromiseToPay(_) => "promise_to_pay",
            EventBody::DisputeOpened(_) => "dispute_opened",
            EventBody::DisputeResolved(_) => "dispute_resolved",
            EventBody::CeaseContact(_) => "cease_contact",
            EventBody::Hardship(_) => "hardship",
            EventBody::HardshipEnded(_) => "hardship_ended",
            EventBody::Deceased(_) => "deceased",
            EventBody::Bankrupt(_) => "bankrupt",
            EventBody::Notice(_) => "notice",
            EventBody::Preference(_) => "preference",
            EventBody::CreditDisputeOpened(_) => "credit_dispute_opened",
            EventBody::CreditDisputeResolved(_) => "credit_dispute_resolved",
        }
    }
}

/// What became of a recorded contact or event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recorded {
    /// `recorded` (201), `already_recorded` (200, a replay that changed nothing), or
    /// `recorded_violation` (201: a contact that happened although the rules forbid it; it
    /// is kept as evidence with its rule ids, counts in every cap, and shows on the
    /// compliance view).
    pub status: String,
    pub id: String,
    /// For `recorded_violation`: every rule the contact broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_ids: Option<Vec<String>>,
}

impl Recorded {
    /// The answer `{status, id, rule_ids?}` with its HTTP status.
    pub(crate) fn answer(
        code: StatusCode,
        id: &str,
        status: &str,
        rule_ids: Option<Vec<String>>,
    ) -> Response {
        (
            code,
            axum::Json(Recorded {
                status: status.to_owned(),
                id: id.to_owned(),
                rule_ids,
            }),
        )
            .into_response()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotJson {
    /// The business date, YYYY-MM-DD.
    pub as_of: String,
    pub status: String,
    pub dpd: u32,
    pub bucket: String,
    pub stage: String,
    pub currency: String,
    pub due_to_date_minor: i64,
    pub paid_minor: i64,
    pub overdue_minor: i64,
    pub overdue_fee_minor: i64,
    pub overdue_interest_minor: i64,
    pub overdue_principal_minor: i64,
    pub outstanding_principal_minor: i64,
    pub penalty_accrued_minor: i64,
    pub penalty_paid_minor: i64,
    pub penalty_rate_capped: bool,
    pub credit_minor: i64,
    pub oldest_unpaid_due_date: Option<String>,
    pub last_payment_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LifecycleEventJson {
    pub effective_on: String,
    /// status, bucket or stage.
    pub kind: String,
    pub from: Option<String>,
    pub to: String,
}

/// `GET /v1/accounts/{loan_id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub loan_id: String,
    pub borrower_id: String,
    /// The latest daily-run snapshot, or null before the first run.
    pub latest: Option<SnapshotJson>,
    /// Business dates with a snapshot, oldest first: a page of at most `limit` (200 at most).
    pub snapshot_dates: Vec<String>,
    /// Status, bucket and stage transitions, oldest first: a page of at most `limit` (200 at
    /// most), from the same `offset` as `snapshot_dates`.
    pub events: Vec<LifecycleEventJson>,
    /// Snapshot dates and lifecycle events of the loan in all.
    pub total_snapshot_dates: usize,
    pub total_events: usize,
    /// Pass as `offset` for the next page (while either list has more); null on the last.
    pub next_offset: Option<usize>,
}

/// `GET /v1/verify/{code}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Verification {
    /// `genuine`, or `not_genuine` when the record fails its signature check.
    pub status: String,
    pub code: String,
    pub lender: String,
    pub issued_at: String,
    pub channel: String,
    pub text: String,
}

pub(crate) fn field(e: arrears_domain::FieldError) -> ApiError {
    ApiError::invalid(
        "invalid_field",
        format!("Field {}: {}.", e.column, e.detail),
    )
}

fn vocab(column: &str, e: arrears_policy::VocabularyError) -> ApiError {
    ApiError::invalid("invalid_field", format!("Field {column}: {e}."))
}

/// Years the store holds on both backends (PostgreSQL has no year 0) and text order is time
/// order on SQLite (four-digit years).
const YEARS: std::ops::RangeInclusive<i16> = 1900..=9999;

fn out_of_range(column: &str, s: &str) -> ApiError {
    ApiError::invalid(
        "invalid_field",
        format!(
            "Field {column}: {s:?} is outside the years {} to {}.",
            YEARS.start(),
            YEARS.end()
        ),
    )
}

pub(crate) fn instant(column: &'static str, s: &str) -> Result<Timestamp, ApiError> {
    let t = parse::timestamp(column, s).map_err(field)?;
    if !YEARS.contains(&t.to_zoned(jiff::tz::TimeZone::UTC).year()) {
        return Err(out_of_range(column, s));
    }
    Ok(t)
}

pub(crate) fn date(column: &'static str, s: &str) -> Result<jiff::civil::Date, ApiError> {
    let d = parse::date(column, s).map_err(field)?;
    if !YEARS.contains(&d.year()) {
        return Err(out_of_range(column, s));
    }
    Ok(d)
}

pub(crate) fn plain_id(column: &'static str, s: &str) -> Result<String, ApiError> {
    arrears_domain::types::ContactId::check(column, s).map_err(field)?;
    Ok(s.to_owned())
}

pub(crate) fn amount(column: &'static str, v: i64) -> Result<i64, ApiError> {
    arrears_domain::Minor::positive(column, v)
        .map(|m| m.get())
        .map_err(field)
}

/// Maps what the store refused to an answer.
fn service_error(e: ServiceError) -> ApiError {
    match e {
        ServiceError::UnknownBorrower(b) => {
            ApiError::not_found("unknown_borrower", format!("There is no borrower {b:?}."))
        }
        ServiceError::UnknownLoan(l) => {
            ApiError::not_found("unknown_loan", format!("There is no loan {l:?}."))
        }
        ServiceError::UnknownPayment(p) => {
            ApiError::not_found("unknown_payment", format!("There is no payment {p:?}."))
        }
        ServiceError::Duplicate { what, id } => ApiError::conflict(
            "duplicate_id",
            format!("A {what} with id {id:?} is already stored with other data."),
        ),
        ServiceError::LoanOfAnotherBorrower { loan, borrower } => ApiError::invalid(
            "loan_of_another_borrower",
            format!("Loan {loan:?} is not a loan of borrower {borrower:?}."),
        ),
        ServiceError::Invalid(why) => ApiError::invalid("invalid_event", format!("{why}.")),
        e @ (ServiceError::TokenNameTaken(_) | ServiceError::UsernameTaken(_)) => {
            ApiError::conflict("name_taken", e.to_string())
        }
        ServiceError::Store(e) => ApiError::internal(e),
        other => ApiError::internal(other),
    }
}

/// The contact a request proposes, parsed.
struct Proposal {
    proposed: ProposedContact,
    loan_id: Option<LoanId>,
}

/// The contact a request proposes, parsed the one way every surface parses a contact
/// (`arrears_app::ContactSpec`); a message is vetted in `language`, the borrower's.
fn proposal(spec: &arrears_app::ContactSpec<'_>, language: Language) -> Result<Proposal, ApiError> {
    let proposed = spec.proposal(language).map_err(|e| {
        ApiError::invalid("invalid_field", format!("Field {}: {}.", e.field, e.reason))
    })?;
    let loan_id = proposed.loan_id.clone();
    Ok(Proposal { proposed, loan_id })
}

/// The engine's decision over the borrower's one decision context (`arrears_app`: the same
/// conversion as `arrears check`, the planner, the outbox and the dispatcher) under the
/// lender's policy in force.
pub(crate) fn decide(
    state: &AppState,
    proposed: &ProposedContact,
    bc: &BorrowerContacts,
    at: Timestamp,
) -> Decision {
    let ctx = arrears_app::from_store(bc);
    arrears_app::decide(proposed, &ctx, at, &state.policy_at(at).packs)
}

fn answer(d: &Decision) -> CheckResponse {
    match d {
        Decision::Allow(_) => CheckResponse {
            decision: "allow".into(),
            rule_ids: Vec::new(),
            earliest_allowed: None,
        },
        Decision::Deny {
            rule_ids,
            earliest_allowed,
        } => CheckResponse {
            decision: "deny".into(),
            rule_ids: rule_ids.iter().map(|r| r.as_str().to_owned()).collect(),
            earliest_allowed: earliest_allowed.map(|t| t.to_string()),
        },
    }
}

/// Logs a read of a borrower's data; a failure to log fails the request (no unlogged reads).
pub(crate) async fn log_access(
    state: &AppState,
    actor: &Actor,
    action: &str,
    borrower_id: &str,
    loan_id: Option<&str>,
) -> Result<(), ApiError> {
    state
        .access_log()
        .record(Access {
            at: now(),
            actor: actor.0.clone(),
            action: action.to_owned(),
            borrower_id: Some(borrower_id.to_owned()),
            loan_id: loan_id.map(str::to_owned),
        })
        .await
        .map_err(ApiError::internal)
}

/// Checks that a loan named in a request is one of the borrower's.
async fn own_loan(
    state: &AppState,
    bc: &BorrowerContacts,
    loan_id: Option<&LoanId>,
) -> Result<(), ApiError> {
    let Some(l) = loan_id else { return Ok(()) };
    if bc.loan_ids.contains(l) {
        return Ok(());
    }
    match state
        .store()
        .loan_borrower(l.as_str())
        .await
        .map_err(ApiError::internal)?
    {
        None => Err(ApiError::not_found(
            "unknown_loan",
            format!("There is no loan {:?}.", l.as_str()),
        )),
        Some(_) => Err(ApiError::invalid(
            "loan_of_another_borrower",
            format!(
                "Loan {:?} is not a loan of borrower {:?}.",
                l.as_str(),
                bc.borrower.id.as_str()
            ),
        )),
    }
}

/// May this contact happen at `at`? The same engine and JSON as `arrears check`.
#[utoipa::path(
    post,
    path = "/v1/contacts/check",
    tag = "contacts",
    request_body = CheckRequest,
    responses(
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 200, description = "The decision", body = CheckResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown borrower or loan", body = ErrorBody),
        (status = 422, description = "A field with a bad value", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check_contact(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<axum::Json<CheckResponse>, ApiError> {
    let bid = BorrowerId::parse("borrower_id", &req.borrower_id).map_err(field)?;
    let at = instant("at", &req.at)?;
    let bc = state
        .borrower_facts(bid.as_str())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_borrower",
                format!("There is no borrower {:?}.", bid.as_str()),
            )
        })?;
    let p = proposal(
        &arrears_app::ContactSpec {
            borrower_id: bid.as_str(),
            loan_id: req.loan_id.as_deref(),
            channel: &req.channel,
            party: req.party.as_deref(),
            target: req.target.as_deref(),
            purpose: req.purpose.as_deref(),
            agency_id: req.agency_id.as_deref(),
            text: req.text.as_deref(),
            lender: req.lender.as_deref(),
            code: req.code.as_deref(),
            language: None,
        },
        Language::of_borrower(bc.borrower.language.as_deref(), &bc.borrower.jurisdiction),
    )?;
    own_loan(&state, &bc, p.loan_id.as_ref()).await?;
    log_access(
        &state,
        &actor,
        "contacts.check",
        bid.as_str(),
        p.loan_id.as_ref().map(|l| l.as_str()),
    )
    .await?;
    let d = decide(&state, &p.proposed, &bc, at);
    let out = answer(&d);
    let rules: Vec<&str> = out.rule_ids.iter().map(String::as_str).collect();
    state.metrics().decision(d.is_allowed(), &rules);
    Ok(axum::Json(out))
}

/// A contact request parsed into what the store records and what the engine checks.
pub(crate) fn contact_event(
    req: &ContactRequest,
) -> Result<(NewContact, Option<ProposedContact>), ApiError> {
    let bid = BorrowerId::parse("borrower_id", &req.borrower_id).map_err(field)?;
    let at = instant("at", &req.at)?;
    let direction = req.direction.as_deref().unwrap_or("outbound");
    if !matches!(direction, "outbound" | "inbound") {
        return Err(ApiError::invalid(
            "invalid_field",
            format!("Field direction: {direction:?} is not outbound or inbound."),
        ));
    }
    let outcome = Outcome::parse(&req.outcome).map_err(|e| vocab("outcome", e))?;
    let p = proposal(
        &arrears_app::ContactSpec {
            borrower_id: bid.as_str(),
            loan_id: req.loan_id.as_deref(),
            channel: &req.channel,
            party: req.party.as_deref(),
            target: req.target.as_deref(),
            purpose: None,
            agency_id: None,
            text: req.text.as_deref(),
            lender: req.lender.as_deref(),
            code: req.code.as_deref(),
            language: None,
        },
        // Re-vetted in the borrower's language under their lock (`contact_allowed`).
        Language::En,
    )?;
    if p.proposed.channel.is_escalation() {
        return Err(ApiError::invalid(
            "invalid_field",
            format!(
                "Field channel: {} is an escalation, not a contact.",
                p.proposed.channel
            ),
        ));
    }
    let agency_id = req
        .agency_id
        .as_deref()
        .map(|a| plain_id("agency_id", a))
        .transpose()?;
    let mut proposed = p.proposed;
    proposed.agency_id = agency_id.clone();
    let contact = NewContact {
        contact_id: plain_id("contact_id", &req.contact_id)?,
        borrower_id: bid,
        loan_id: p.loan_id,
        channel: proposed.channel.code().to_owned(),
        direction: direction.to_owned(),
        at,
        outcome: outcome.code().to_owned(),
        // The target as the engine reads it (an e-mail address in lower case).
        target: proposed.target.as_ref().map(|t| t.as_str().to_owned()),
        party: Some(proposed.party.code().to_owned()),
        agency_id,
    };
    Ok((contact, (direction == "outbound").then_some(proposed)))
}

/// The store's event for a request body.
fn service_event(body: &EventBody) -> Result<(ServiceEvent, Option<ProposedContact>), ApiError> {
    let flag = |c: &BorrowerChange, flag: BorrowerFlag, value: bool| {
        Ok((
            ServiceEvent::Flag {
                borrower_id: BorrowerId::parse("borrower_id", &c.borrower_id).map_err(field)?,
                flag,
                value,
                at: instant("at", &c.at)?,
            },
            None,
        ))
    };
    let loan = |s: &str| LoanId::parse("loan_id", s).map_err(field);
    match body {
        EventBody::Payment(p) => Ok((
            ServiceEvent::Payment {
                payment_id: plain_id("payment_id", &p.payment_id)?,
                loan_id: loan(&p.loan_id)?,
                received_at: instant("received_at", &p.received_at)?,
                amount_minor: amount("amount_minor", p.amount_minor)?,
            },
            None,
        )),
        EventBody::Reversal(p) => Ok((
            ServiceEvent::Reversal {
                payment_id: plain_id("payment_id", &p.payment_id)?,
                loan_id: loan(&p.loan_id)?,
                reverses: plain_id("reverses", &p.reverses)?,
                received_at: instant("received_at", &p.received_at)?,
                amount_minor: amount("amount_minor", p.amount_minor)?,
            },
            None,
        )),
        EventBody::Contact(c) => {
            let (contact, proposed) = contact_event(c)?;
            Ok((ServiceEvent::Contact(contact), proposed))
        }
        EventBody::PromiseToPay(p) => Ok((
            ServiceEvent::Promise {
                promise_id: plain_id("promise_id", &p.promise_id)?,
                loan_id: loan(&p.loan_id)?,
                created_at: instant("created_at", &p.created_at)?,
                amount_minor: amount("amount_minor", p.amount_minor)?,
                due_date: date("due_date", &p.due_date)?,
            },
            None,
        )),
        EventBody::DisputeOpened(c) => flag(c, BorrowerFlag::DisputeOpen, true),
        EventBody::DisputeResolved(c) => flag(c, BorrowerFlag::DisputeOpen, false),
        EventBody::CeaseContact(c) => flag(c, BorrowerFlag::CeaseContact, true),
        EventBody::Hardship(c) => flag(c, BorrowerFlag::Hardship, true),
        EventBody::HardshipEnded(c) => flag(c, BorrowerFlag::Hardship, false),
        EventBody::Deceased(c) => flag(c, BorrowerFlag::Deceased, true),
        EventBody::Bankrupt(c) => flag(c, BorrowerFlag::Bankrupt, true),
        EventBody::Notice(_)
        | EventBody::Preference(_)
        | EventBody::CreditDisputeOpened(_)
        | EventBody::CreditDisputeResolved(_) => Err(ApiError::internal(
            "a lifecycle event reached the service-event path",
        )),
    }
}

/// A lifecycle record posted as an event: stored through the store's lifecycle writes
/// (idempotent by the record's id; the same record again is `already_recorded`, another
/// record under the same id a conflict), then the borrower's cached facts are dropped.
async fn lifecycle_event(
    state: &AppState,
    event_id: &str,
    body: &EventBody,
) -> Result<Response, ApiError> {
    use arrears_domain::lifecycle::{CreditDisputeRow, NoticeRow, PreferenceRow};
    let loan = |s: &Option<String>| {
        s.as_deref()
            .map(|l| LoanId::parse("loan_id", l))
            .transpose()
            .map_err(field)
    };
    let vocab_of = |field: &str, value: &str, allowed: &[&str]| {
        if allowed.contains(&value) {
            Ok(value.to_owned().into_boxed_str())
        } else {
            Err(ApiError::invalid(
                "invalid_field",
                format!(
                    "Field {field}: {value:?} is not one of {}.",
                    allowed.join(", ")
                ),
            ))
        }
    };
    let hhmm = |column: &'static str, s: &Option<String>| {
        s.as_deref()
            .map(|t| arrears_domain::parse::local_time(column, t))
            .transpose()
            .map_err(field)
    };
    let (borrower, written) = match body {
        EventBody::Notice(n) => {
            let row = NoticeRow {
                notice_id: plain_id("notice_id", &n.notice_id)?.into(),
                borrower_id: BorrowerId::parse("borrower_id", &n.borrower_id).map_err(field)?,
                loan_id: loan(&n.loan_id)?,
                kind: vocab_of("kind", &n.kind, &arrears_domain::lifecycle::NOTICE_KINDS)?,
                sent_at: instant("sent_at", &n.sent_at)?,
                channel: vocab_of(
                    "channel",
                    &n.channel,
                    &arrears_domain::lifecycle::NOTICE_CHANNELS,
                )?,
            };
            (
                row.borrower_id.clone(),
                state.store().record_notice(&row, "api").await,
            )
        }
        EventBody::Preference(p) => {
            let row = PreferenceRow {
                borrower_id: BorrowerId::parse("borrower_id", &p.borrower_id).map_err(field)?,
                channel: vocab_of(
                    "channel",
                    &p.channel,
                    &arrears_domain::lifecycle::PREFERENCE_CHANNELS,
                )?,
                opted_out: p.opted_out,
                contact_from: hhmm("contact_from", &p.contact_from)?,
                contact_to: hhmm("contact_to", &p.contact_to)?,
                updated_at: instant("updated_at", &p.updated_at)?,
            };
            let hours_ok = match (row.contact_from, row.contact_to) {
                (Some(a), Some(b)) => a < b,
                (None, None) => true,
                _ => false,
            };
            if !hours_ok {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "Fields contact_from and contact_to: give both, the first before the second.",
                ));
            }
            (
                row.borrower_id.clone(),
                state.store().set_preference(&row, "api").await,
            )
        }
        EventBody::CreditDisputeOpened(d) => {
            let row = CreditDisputeRow {
                dispute_id: plain_id("dispute_id", &d.dispute_id)?.into(),
                borrower_id: BorrowerId::parse("borrower_id", &d.borrower_id).map_err(field)?,
                loan_id: loan(&d.loan_id)?,
                opened_at: instant("opened_at", &d.opened_at)?,
                resolved_at: None,
            };
            (
                row.borrower_id.clone(),
                state.store().open_credit_dispute(&row).await,
            )
        }
        EventBody::CreditDisputeResolved(d) => {
            let id = plain_id("dispute_id", &d.dispute_id)?;
            let at = instant("resolved_at", &d.resolved_at)?;
            let written = state.store().resolve_credit_dispute(&id, at).await;
            // The borrower's cached facts: every borrower is safe to drop (rare event).
            state.facts().clear();
            return lifecycle_answer(event_id, written);
        }
        _ => return Err(ApiError::internal("not a lifecycle event")),
    };
    state.facts().invalidate(borrower.as_str());
    lifecycle_answer(event_id, written)
}

fn lifecycle_answer(
    event_id: &str,
    written: Result<bool, arrears_store::LifecycleError>,
) -> Result<Response, ApiError> {
    use arrears_store::LifecycleError as E;
    let recorded = |status: StatusCode, s: &str| Recorded::answer(status, event_id, s, None);
    match written {
        Ok(true) => Ok(recorded(StatusCode::CREATED, "recorded")),
        Ok(false) => Ok(recorded(StatusCode::OK, "already_recorded")),
        Err(E::UnknownBorrower(b)) => Err(ApiError::not_found(
            "unknown_borrower",
            format!("There is no borrower {b:?}."),
        )),
        Err(E::UnknownLoan(l)) => Err(ApiError::not_found(
            "unknown_loan",
            format!("There is no loan {l:?}."),
        )),
        Err(E::LoanOfAnotherBorrower { loan, borrower }) => Err(ApiError::invalid(
            "loan_of_another_borrower",
            format!("Loan {loan:?} is not a loan of borrower {borrower:?}."),
        )),
        Err(E::NotFound { what, id }) => Err(ApiError::not_found(
            "not_found",
            format!("There is no {what} {id:?}."),
        )),
        Err(e @ E::Conflict { .. }) => Err(ApiError::conflict(
            "event_conflict",
            format!("{e}; nothing was changed."),
        )),
        Err(E::Store(e)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::invalid("invalid_event", format!("{e}."))),
    }
}

/// JSON with object keys sorted at every level, so that the same event sent with its keys
/// in another order (or other whitespace) has the same hash.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(x) = m.get(k) {
                        write(x, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(v, &mut s);
    s
}

/// Refused with the rule ids (and when the contact would pass, if ever): it breaks the rules
/// and is not recorded.
pub(crate) struct Denied(pub(crate) Vec<String>, pub(crate) Option<String>);

impl Denied {
    /// A decision as the store's `decide` wants it: allowed, or refused with the rule ids.
    pub(crate) fn unless_allowed(d: Decision) -> Result<(), Denied> {
        match d {
            Decision::Allow(_) => Ok(()),
            Decision::Deny {
                rule_ids,
                earliest_allowed,
            } => Err(Denied(
                rule_ids.iter().map(|r| r.as_str().to_owned()).collect(),
                earliest_allowed.map(|t| t.to_string()),
            )),
        }
    }
}

/// Ingests one event (a contact or any other), answering 201, 200 (replay), 409 or 422.
pub(crate) async fn ingest(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
    kind: &str,
    raw: &serde_json::Value,
    event: ServiceEvent,
    proposed: Option<ProposedContact>,
) -> Result<Response, ApiError> {
    ingest_reporting(state, actor, event_id, kind, raw, event, proposed)
        .await
        .map(|(r, _)| r)
}

/// [`ingest`], also saying whether the contact was recorded as a violation (its rule ids).
pub(crate) async fn ingest_reporting(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
    kind: &str,
    raw: &serde_json::Value,
    event: ServiceEvent,
    proposed: Option<ProposedContact>,
) -> Result<(Response, Option<Vec<String>>), ApiError> {
    let body = canonical_json(raw);
    let at = match &event {
        ServiceEvent::Contact(c) => Some(c.at),
        _ => None,
    };
    // A reported contact the rules forbid is kept as a violation, not lost.
    let reported = match &event {
        ServiceEvent::Contact(c) => Some(c.clone()),
        _ => None,
    };
    let queued = arrears_store::QueuedEvent {
        event_id: event_id.to_owned(),
        kind: kind.to_owned(),
        body_sha256: sha256_hex(body.as_bytes()),
        body,
        received_at: now(),
        actor: actor.0.clone(),
        event,
    };
    // The decision over an outbound contact, as `arrears check` would take it.
    let decider = match (proposed, at) {
        (Some(p), Some(at)) => {
            let state = state.clone();
            Some(
                Box::new(move |bc: &BorrowerContacts| contact_allowed(&state, &p, bc, at))
                    as crate::batcher::Decider,
            )
        }
        _ => None,
    };
    let touched = touched_borrower(&queued.event);
    let outcome = if state.store().batches_events() && queued.batchable() {
        // Recorded together with whatever else arrives now.
        state.events().record(queued, decider).await
    } else {
        state
            .store()
            .ingest(&queued.meta(), &queued.event, |bc| match &decider {
                Some(d) => d(bc),
                None => Ok(()),
            })
            .await
    };
    // What the check reads of this borrower may have changed: drop the cached facts now
    // (the store's notification would also do it, a moment later).
    if let Some(b) = touched {
        state.facts().invalidate(b.as_str());
    }
    let outcome = outcome.map_err(service_error)?;
    // A contact whose outcome is a dispute opens the dispute hold (ALL-HOLD-DISPUTE) from its
    // instant, as a `dispute_opened` event would.
    if let Some(c) = &reported
        && &*c.outcome == "dispute"
        && !matches!(outcome, Ingested::Conflict)
    {
        open_dispute_from_contact(state, actor, event_id, c).await?;
    }
    if let (Ingested::Refused(Denied(rules, _)), Some(contact)) = (&outcome, &reported) {
        state
            .store()
            .record_violation(contact, rules)
            .await
            .map_err(service_error)?;
        state.facts().invalidate(contact.borrower_id.as_str());
        let r: Vec<&str> = rules.iter().map(String::as_str).collect();
        state.metrics().refused(&r);
        let response = Recorded::answer(
            StatusCode::CREATED,
            event_id,
            "recorded_violation",
            Some(rules.clone()),
        );
        return Ok((response, Some(rules.clone())));
    }
    answer_ingested(state, event_id, outcome).map(|r| (r, None))
}

/// Records the `dispute_opened` event a contact with the outcome `dispute` implies
/// (idempotent by `EVENT_ID:dispute`).
async fn open_dispute_from_contact(
    state: &AppState,
    actor: &Actor,
    event_id: &str,
    c: &NewContact,
) -> Result<(), ApiError> {
    let raw = serde_json::json!({
        "event_id": format!("{event_id}:dispute"),
        "type": "dispute_opened",
        "borrower_id": c.borrower_id.as_str(),
        "at": c.at.to_string(),
        "from_contact": c.contact_id,
    });
    let body = canonical_json(&raw);
    let queued = arrears_store::QueuedEvent {
        event_id: format!("{event_id}:dispute"),
        kind: "dispute_opened".to_owned(),
        body_sha256: sha256_hex(body.as_bytes()),
        body,
        received_at: now(),
        actor: actor.0.clone(),
        event: ServiceEvent::Flag {
            borrower_id: c.borrower_id.clone(),
            flag: BorrowerFlag::DisputeOpen,
            value: true,
            at: c.at,
        },
    };
    state
        .store()
        .ingest(&queued.meta(), &queued.event, |_| Ok::<(), Denied>(()))
        .await
        .map_err(service_error)?;
    state.facts().invalidate(c.borrower_id.as_str());
    Ok(())
}

/// The borrower whose facts (what the check reads) an event may change.
fn touched_borrower(event: &ServiceEvent) -> Option<BorrowerId> {
    match event {
        ServiceEvent::Contact(arrears_store::NewContact { borrower_id, .. })
        | ServiceEvent::Flag { borrower_id, .. } => Some(borrower_id.clone()),
        _ => None,
    }
}

/// Whether the rules allow the proposed contact over the borrower's facts and history. A
/// message is vetted in the borrower's language, as a check of it would be.
fn contact_allowed(
    state: &AppState,
    proposed: &ProposedContact,
    bc: &BorrowerContacts,
    at: Timestamp,
) -> Result<(), Denied> {
    let mut p = proposed.clone();
    if let Some(m) = p.message.as_mut() {
        m.language =
            Language::of_borrower(bc.borrower.language.as_deref(), &bc.borrower.jurisdiction);
    }
    Denied::unless_allowed(decide(state, &p, bc, at))
}

/// The answer to an ingested event: 201, 200 (replay), 409 or 422 (refused).
fn answer_ingested(
    state: &AppState,
    event_id: &str,
    outcome: Ingested<Denied>,
) -> Result<Response, ApiError> {
    let recorded = |status: StatusCode, s: &str| Recorded::answer(status, event_id, s, None);
    match outcome {
        Ingested::Recorded => Ok(recorded(StatusCode::CREATED, "recorded")),
        Ingested::AlreadyRecorded => Ok(recorded(StatusCode::OK, "already_recorded")),
        Ingested::Conflict => Err(ApiError::conflict(
            "event_conflict",
            format!(
                "Id {event_id:?} was already recorded with a different body; nothing was changed."
            ),
        )),
        Ingested::Refused(Denied(rules, earliest)) => {
            let r: Vec<&str> = rules.iter().map(String::as_str).collect();
            state.metrics().refused(&r);
            let mut e = ApiError::invalid(
                "contact_denied",
                format!(
                    "The conduct rules deny this contact ({}); it was not recorded.",
                    rules.join(", ")
                ),
            );
            e.denial = Some((rules, earliest));
            Err(e)
        }
    }
}

/// Records a contact that happened. An outbound contact the rules deny is recorded as a
/// violation (201, `recorded_violation`, with the rule ids): the evidence of the breach is
/// kept and it counts in every cap. Idempotent by `contact_id`.
#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    request_body = ContactRequest,
    responses(
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded (status `recorded`), or recorded as a violation of the rules it names (status `recorded_violation`)", body = Recorded),
        (status = 200, description = "The same contact was recorded before", body = Recorded),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown borrower or loan", body = ErrorBody),
        (status = 409, description = "The id was recorded with other data", body = ErrorBody),
        (status = 422, description = "A bad value, or a contact the rules deny (with rule_ids)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record_contact(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: ContactRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::invalid("invalid_body", format!("The body is not a contact: {e}."))
    })?;
    let (contact, proposed) = contact_event(&req)?;
    let id = contact.contact_id.clone();
    ingest(
        &state,
        &actor,
        &id,
        "contact",
        &raw,
        ServiceEvent::Contact(contact),
        proposed,
    )
    .await
}

/// Ingests an event, idempotently by `event_id`.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    request_body = EventRequest,
    responses(
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 201, description = "Recorded", body = Recorded),
        (status = 200, description = "Already recorded with the same body; nothing changed", body = Recorded),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown borrower, loan or payment", body = ErrorBody),
        (status = 403, description = "The token lacks scope `events` (or `contacts`, for a contact)", body = ErrorBody),
        (status = 409, description = "The id was recorded with another body, or a row id is taken", body = ErrorBody),
        (status = 422, description = "A bad value, an event that contradicts the store, or a contact the rules deny", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ingest_event(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    grant: Option<Extension<crate::auth::Grant>>,
    ApiJson(raw): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let req: EventRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        ApiError::invalid("invalid_body", format!("The body is not an event: {e}."))
    })?;
    // A contact is recorded whatever door it comes through only with the `contacts` scope.
    if matches!(req.body, EventBody::Contact(_)) {
        grant
            .map(|g| g.0)
            .unwrap_or_default()
            .require(crate::auth::Scope::Contacts)?;
    }
    let event_id = plain_id("event_id", &req.event_id)?;
    if matches!(
        req.body,
        EventBody::Notice(_)
            | EventBody::Preference(_)
            | EventBody::CreditDisputeOpened(_)
            | EventBody::CreditDisputeResolved(_)
    ) {
        return lifecycle_event(&state, &event_id, &req.body).await;
    }
    let (event, proposed) = service_event(&req.body)?;
    ingest(
        &state,
        &actor,
        &event_id,
        req.body.kind(),
        &raw,
        event,
        proposed,
    )
    .await
}

/// A loan's latest daily-run state, and a page of its snapshot dates and lifecycle events.
#[utoipa::path(
    get,
    path = "/v1/accounts/{loan_id}",
    tag = "accounts",
    params(("loan_id" = String, Path, description = "The loan"), crate::work::ListPage),
    responses(
        (status = 200, description = "The account", body = Account),
        (status = 400, description = "A query string that cannot be read", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "Unknown loan", body = ErrorBody),
        (status = 422, description = "A bad loan id, limit or offset", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_account(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(loan_id): Path<String>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<axum::Json<Account>, ApiError> {
    let loan_id = LoanId::parse("loan_id", &loan_id)
        .map_err(field)?
        .as_str()
        .to_owned();
    let window = crate::work::list_window(q.as_deref())?;
    let store = state.store();
    let borrower_id = store
        .loan_borrower(&loan_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::not_found("unknown_loan", format!("There is no loan {loan_id:?}."))
        })?;
    log_access(&state, &actor, "accounts.get", &borrower_id, Some(&loan_id)).await?;
    let snaps = store
        .loan_snapshots(&loan_id)
        .await
        .map_err(ApiError::internal)?;
    let events = store
        .loan_events(&loan_id)
        .await
        .map_err(ApiError::internal)?;
    let latest = snaps.last().map(|s| SnapshotJson {
        as_of: s.as_of.to_string(),
        status: s.status.clone(),
        dpd: s.dpd,
        bucket: s.bucket.clone(),
        stage: s.stage.clone(),
        currency: s.currency.clone(),
        due_to_date_minor: s.due_to_date_minor,
        paid_minor: s.paid_minor,
        overdue_minor: s.overdue_minor,
        overdue_fee_minor: s.overdue_fee_minor,
        overdue_interest_minor: s.overdue_interest_minor,
        overdue_principal_minor: s.overdue_principal_minor,
        outstanding_principal_minor: s.outstanding_principal_minor,
        penalty_accrued_minor: s.penalty_accrued_minor,
        penalty_paid_minor: s.penalty_paid_minor,
        penalty_rate_capped: s.penalty_rate_capped,
        credit_minor: s.credit_minor,
        oldest_unpaid_due_date: s.oldest_unpaid_due_date.map(|d| d.to_string()),
        last_payment_date: s.last_payment_date.map(|d| d.to_string()),
    });
    let (dates, total_snapshot_dates, more_dates) = crate::work::list_page(snaps, window);
    let (events, total_events, more_events) = crate::work::list_page(events, window);
    Ok(axum::Json(Account {
        loan_id,
        borrower_id,
        latest,
        snapshot_dates: dates.iter().map(|s| s.as_of.to_string()).collect(),
        total_snapshot_dates,
        total_events,
        next_offset: more_dates.max(more_events),
        events: events
            .into_iter()
            .map(|e| LifecycleEventJson {
                effective_on: e.effective_on.to_string(),
                kind: e.kind,
                from: e.from,
                to: e.to,
            })
            .collect(),
    }))
}

/// Is a message with this verification code genuine? Needs `--keys` and `--audit-log`.
#[utoipa::path(
    get,
    path = "/v1/verify/{code}",
    tag = "messages",
    params(("code" = String, Path, description = "The verification code printed on the message")),
    responses(
        (status = 200, description = "The message issued with this code, and whether its signature holds", body = Verification),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No message with this code was issued", body = ErrorBody),
        (status = 503, description = "Verification is not configured on this server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn verify_code(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(code): Path<String>,
) -> Result<axum::Json<Verification>, ApiError> {
    use arrears_evidence::{signing::normalize_code, verify_message};
    let Some(ev) = state.evidence() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "verification_unavailable",
            "Message verification is not configured on this server (start it with --keys and --audit-log).",
        ));
    };
    let code = normalize_code(&code);
    // The store's index of issued messages (built from the audit log at start): the log is
    // not read per request.
    let found = state
        .store()
        .issued_message(&code)
        .await
        .map_err(ApiError::internal)?;
    let Some(found) = found else {
        // Messages deleted after their retention cannot be looked up: say so rather than
        // call an old genuine message forged (`arrears verify` says the same).
        let deleted = state
            .store()
            .message_index_state()
            .await
            .map_err(ApiError::internal)?
            .map_or(0, |s| s.redacted_messages);
        if deleted > 0 {
            return Err(ApiError::not_found(
                "not_on_record",
                format!(
                    "No message with code {code} is on record. {deleted} older message records were deleted after their retention, so a message that old cannot be checked; a recent message with this code was not issued by this lender."
                ),
            ));
        }
        return Err(ApiError::not_found(
            "not_issued",
            format!(
                "No message with code {code} was issued by this lender: do not pay or reply to it; keep it as evidence and report it."
            ),
        ));
    };
    let m = crate::message_index::signed(&found.message);
    log_access(
        &state,
        &actor,
        "messages.verify",
        &m.borrower_id,
        m.loan_id.as_deref(),
    )
    .await?;
    let status = match verify_message(&ev.public_key_hex, &m) {
        Ok(()) => "genuine",
        Err(_) => "not_genuine",
    };
    Ok(axum::Json(Verification {
        status: status.into(),
        code: m.code,
        lender: m.lender,
        issued_at: m.issued_at,
        channel: m.channel,
        text: m.text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order_and_whitespace() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, "x"], "x": null}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
        let c: serde_json::Value = serde_json::from_str(r#"{"b": 2, "a": {}}"#).unwrap();
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }

    #[test]
    fn events_parse_by_type() {
        let e: EventRequest = serde_json::from_str(
            r#"{"event_id":"E1","type":"dispute_opened","borrower_id":"B1","at":"2026-11-27T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(e.body.kind(), "dispute_opened");
        let (ev, proposed) = service_event(&e.body).unwrap();
        assert!(proposed.is_none());
        assert!(matches!(
            ev,
            ServiceEvent::Flag {
                flag: BorrowerFlag::DisputeOpen,
                value: true,
                ..
            }
        ));
        let bad: Result<EventRequest, _> =
            serde_json::from_str(r#"{"event_id":"E1","type":"lottery","borrower_id":"B1"}"#);
        assert!(bad.is_err());
        let e: EventRequest = serde_json::from_str(
            r#"{"event_id":"E2","type":"payment","payment_id":"P1","loan_id":"L1","received_at":"2026-11-27T10:00:00Z","amount_minor":0}"#,
        )
        .unwrap();
        assert_eq!(service_event(&e.body).unwrap_err().code, "invalid_field");
    }
}

/// `POST /v1/login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// Who logged in. (Session cookies for the pages are still to come.)
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginResponse {
    pub username: String,
    /// agent, supervisor, compliance or admin.
    pub role: String,
}

/// Checks a user's password. Failed attempts are limited per username and client address:
/// after `LOGIN_FAILURES_ALLOWED` failures in `LOGIN_WINDOW`, 429 until the window ends,
/// without looking at the password.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "access",
    request_body = LoginRequest,
    responses(
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 413, description = "A body larger than the service accepts (`body_too_large`)", body = ErrorBody),
        (status = 415, description = "A body not sent as `Content-Type: application/json` (`unsupported_media_type`)", body = ErrorBody),
        (status = 200, description = "The password is right", body = LoginResponse),
        (status = 401, description = "Unknown user or wrong password", body = ErrorBody),
        (status = 422, description = "A body without the fields and types this route takes (`invalid_body`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
        (status = 503, description = "Every password-check slot is taken; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: Option<Extension<crate::auth::ClientAddr>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, Response> {
    let ip = client.map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
        c.0.0
    });
    let started = std::time::Instant::now();
    if let Some(until) = state.logins().locked_until(&req.username, ip, started) {
        // At most the 15-minute window: fits a u32.
        let secs = u32::try_from(until.saturating_duration_since(started).as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "Too many failed logins for this user from this address; try again in {secs} s."
            ),
        );
        e.retry_after_secs = Some(secs);
        return Err(e.into_response());
    }
    // A name no user can have (the CLI refuses control characters and more than 64
    // characters) is not looked up, and fails like a wrong password.
    let plausible = !req.username.is_empty()
        && req.username.len() <= 64
        && !req.username.chars().any(char::is_control);
    let user = if plausible {
        state
            .store()
            .user(&req.username)
            .await
            .map_err(|e| ApiError::internal(e).into_response())?
    } else {
        None
    };
    let phc = user.as_ref().filter(|u| !u.disabled).map_or_else(
        || crate::auth::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    // argon2 takes tens of milliseconds of CPU and 19 MiB: off the async workers, and only
    // as many at once as the limit allows (503 beyond it).
    let ok = state
        .password_checks()
        .verify(req.password.clone(), phc)
        .await
        .ok_or_else(|| password_checks_busy().into_response())?
        .map_err(|e| ApiError::internal(e).into_response())?;
    match user {
        Some(u) if ok && !u.disabled => {
            state.logins().succeeded(&req.username, ip);
            Ok(axum::Json(LoginResponse {
                username: u.username,
                role: u.role,
            }))
        }
        _ => {
            state
                .logins()
                .failed(&req.username, ip, std::time::Instant::now());
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The username or the password is wrong.",
            )
            .into_response())
        }
    }
}

/// 503 `busy` with `Retry-After: 1`: every password-check slot is taken.
pub(crate) fn password_checks_busy() -> ApiError {
    ApiError::busy(
        "busy",
        "Too many sign-ins are being checked at this moment; try again in a second.",
        1,
    )
}
