//! The web pages: server-rendered HTML (askama templates under `templates/`, which escape
//! every value), usable without JavaScript, in English and Chinese (`?lang=zh-CN` or the
//! `lang` cookie; every visible string is in [`Texts`]).
//!
//! - Staff log in at `/login` with the same argon2 check and failed-login limit as
//!   `POST /v1/login`; the agent account page `/accounts/{loan_id}` shows the debt, the
//!   contacts, the holds and what each channel allows now (the compliance `check` of
//!   `POST /v1/contacts/check`), and logs a call through the same path as `POST /v1/contacts`
//!   (a forbidden call that was dialled is kept as a violation, with its rule ids). It also
//!   shows what is on record of the borrower's lifecycle (`BorrowerContacts::lifecycle`:
//!   notices, preferences per channel, payment plans, placements, a sale, credit disputes,
//!   legal cases) and marks the contacts recorded as violations with their rule ids. An agent
//!   sees only the loans assigned to them; supervisors, compliance and admins see all.
//! - The manager dashboard adds a compliance view: the contacts recorded as violations over
//!   the 30 UTC days to the business date, by rule, by day, and the latest listed.
//! - Borrowers reach the portal through a link with a one-time code: the first visit
//!   exchanges it (once) for a session bound to that borrower, which shows what they owe, the
//!   contacts made to them, what is on record about them (their preferences, payment plans,
//!   the buyer of a sold debt, open credit disputes, notices), message verification, a
//!   dispute form (the `dispute_opened` event of the API) and how to complain.
//!
//! Sessions: a cookie `arrears_session` (HttpOnly, SameSite=Lax) holding 256 random bits;
//! the store keeps their SHA-256 with the owner, an expiry and the session's CSRF token. Every
//! state-changing form carries that token, and a POST without the session's token is 403.
//! Every page view of a borrower's data is written to the access log.

use crate::api::{self, ContactRequest};
use crate::auth::{self, Actor, sha256_hex};
use crate::error::ApiError;
use crate::{AppState, now, workbench};
use arrears_domain::types::{BorrowerId, Currency, LoanId};
use arrears_policy::{Channel, Decision, Party, ProposedContact, Target};
use arrears_store::{
    Access, BorrowerContacts, BorrowerFlag, NewSession, ServiceEvent, Session, SessionOwner,
};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "arrears_session";
/// How long a staff session lasts.
pub const STAFF_SESSION: SignedDuration = SignedDuration::from_hours(8);
/// How long a borrower's portal session lasts after the code is exchanged.
pub const PORTAL_SESSION: SignedDuration = SignedDuration::from_hours(1);
/// How long a portal link is valid before its first use, by default.
pub const PORTAL_CODE_VALID: SignedDuration = SignedDuration::from_hours(72);
/// The longest dispute text accepted (characters).
pub const DISPUTE_TEXT_MAX: usize = 4000;

/// The pages' routes (merged into [`crate::app`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/accounts", get(open_account))
        .route("/accounts/{loan_id}", get(account_page))
        .route("/accounts/{loan_id}/calls", post(log_call))
        .route(
            "/accounts/{loan_id}/payment-plans",
            post(record_payment_plan),
        )
        .route("/accounts/{loan_id}/portal-link", post(issue_link))
        .route("/portal/enter", get(portal_enter).post(portal_exchange))
        .route("/portal/b/{borrower_id}", get(portal_page))
        .route("/portal/b/{borrower_id}/verify", get(portal_verify))
        .route("/portal/b/{borrower_id}/dispute", post(portal_dispute))
        .route("/portal/b/{borrower_id}/cease", post(portal_cease))
        .route(
            "/portal/b/{borrower_id}/preferences",
            post(portal_preferences),
        )
        .route("/portal/b/{borrower_id}/plan", post(portal_plan))
}

// ---------------------------------------------------------------------------------------
// Secrets.

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// 256 bits from the OS's random source, as 64 hex digits.
pub fn random_hex() -> Result<String, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(hex(&secret))
}

/// A new one-time portal code and the hash the store keeps of it.
pub fn new_portal_code() -> Result<(String, String), getrandom::Error> {
    let code = random_hex()?;
    let hash = sha256_hex(code.as_bytes());
    Ok((code, hash))
}

/// The portal link for a code, under the service's base URL (`http://host:port`).
pub fn portal_link(base: &str, code: &str) -> String {
    format!("{}/portal/enter?code={code}", base.trim_end_matches('/'))
}

/// Equal strings, in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------
// Languages.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            "zh" | "zh-cn" | "zh-hans" => Some(Lang::Zh),
            _ => None,
        }
    }
    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }
    fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }
}

/// Every visible string of the pages, in one language.
#[derive(Debug)]
pub struct Texts {
    pub app: &'static str,
    pub sign_out: &'static str,
    pub login_title: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub wrong_login: &'static str,
    pub locked_login: &'static str,
    pub signed_in_as: &'static str,
    pub my_accounts: &'static str,
    pub no_accounts: &'static str,
    pub open_account: &'static str,
    pub loan_id: &'static str,
    pub open: &'static str,
    pub account: &'static str,
    pub borrower: &'static str,
    pub debt: &'static str,
    pub no_snapshot: &'static str,
    pub as_of: &'static str,
    pub dpd: &'static str,
    pub bucket: &'static str,
    pub overdue: &'static str,
    pub overdue_fee: &'static str,
    pub overdue_interest: &'static str,
    pub overdue_principal: &'static str,
    pub penalty: &'static str,
    pub penalty_capped: &'static str,
    pub penalty_not_capped: &'static str,
    pub outstanding_principal: &'static str,
    pub contacts: &'static str,
    pub no_contacts: &'static str,
    pub when: &'static str,
    pub channel: &'static str,
    pub direction: &'static str,
    pub outcome: &'static str,
    pub holds: &'static str,
    pub no_holds: &'static str,
    pub hold_dispute: &'static str,
    pub hold_cease: &'static str,
    pub hold_bankrupt: &'static str,
    pub hold_deceased: &'static str,
    pub hold_hardship: &'static str,
    pub disputes: &'static str,
    pub allowed_now: &'static str,
    pub allowed: &'static str,
    pub denied: &'static str,
    pub until: &'static str,
    pub next_24h: &'static str,
    pub not_before: &'static str,
    pub never_by_waiting: &'static str,
    pub rules: &'static str,
    pub log_call: &'static str,
    pub save: &'static str,
    pub call_logged: &'static str,
    pub call_refused: &'static str,
    pub call_violation: &'static str,
    pub choose_outcome: &'static str,
    pub portal_link: &'static str,
    pub issue_link: &'static str,
    pub link_issued: &'static str,
    pub back: &'static str,
    pub forbidden: &'static str,
    pub forbidden_text: &'static str,
    pub not_found: &'static str,
    pub not_found_text: &'static str,
    pub csrf_text: &'static str,
    pub failed: &'static str,
    pub failed_text: &'static str,
    pub portal_title: &'static str,
    pub portal_enter_text: &'static str,
    pub continue_: &'static str,
    pub link_used: &'static str,
    pub what_you_owe: &'static str,
    pub messages_to_you: &'static str,
    pub verify_title: &'static str,
    pub verify_help: &'static str,
    pub code: &'static str,
    pub verify: &'static str,
    pub genuine: &'static str,
    pub not_genuine: &'static str,
    pub not_issued: &'static str,
    pub verify_unavailable: &'static str,
    pub issued_at: &'static str,
    pub lender: &'static str,
    pub dispute_title: &'static str,
    pub dispute_help: &'static str,
    pub dispute_send: &'static str,
    pub dispute_recorded: &'static str,
    pub dispute_empty: &'static str,
    pub complain_title: &'static str,
    pub complain_lender: &'static str,
    pub complain_cn: &'static str,
    pub complain_us: &'static str,
    pub complain_gb: &'static str,
    pub signed_out: &'static str,
    pub outbound: &'static str,
    pub inbound: &'static str,
    pub queue_title: &'static str,
    pub queue_all: &'static str,
    pub queue_empty: &'static str,
    pub plan_of: &'static str,
    pub plan_made: &'static str,
    pub priority: &'static str,
    pub reason: &'static str,
    pub window: &'static str,
    pub today_status: &'static str,
    pub not_worked: &'static str,
    pub stage: &'static str,
    pub rule: &'static str,
    pub date: &'static str,
    pub show: &'static str,
    pub installments: &'static str,
    pub seq: &'static str,
    pub due_date: &'static str,
    pub fee: &'static str,
    pub interest: &'static str,
    pub principal: &'static str,
    pub total: &'static str,
    pub covered: &'static str,
    pub waterfall_help: &'static str,
    pub payments: &'static str,
    pub no_payments: &'static str,
    pub received: &'static str,
    pub amount: &'static str,
    pub reversal_of: &'static str,
    pub promises: &'static str,
    pub no_promises: &'static str,
    pub made_at: &'static str,
    pub state: &'static str,
    pub promise_amount: &'static str,
    pub promise_due: &'static str,
    pub promise_help: &'static str,
    pub promise_needed: &'static str,
    pub payment_plans: &'static str,
    pub no_plans: &'static str,
    pub record_plan: &'static str,
    pub plan_help: &'static str,
    pub plan_count: &'static str,
    pub plan_amount: &'static str,
    pub plan_first_due: &'static str,
    pub plan_every: &'static str,
    pub every_month: &'static str,
    pub every_two_weeks: &'static str,
    pub every_week: &'static str,
    pub plan_needed: &'static str,
    pub plan_too_small: &'static str,
    pub paid: &'static str,
    pub preferences: &'static str,
    pub channels_chosen: &'static str,
    pub hours_chosen: &'static str,
    pub no_preferences: &'static str,
    pub calls_declined: &'static str,
    pub proposals: &'static str,
    pub from_date: &'static str,
    pub dash_title: &'static str,
    pub by_bucket: &'static str,
    pub by_stage: &'static str,
    pub snapshot_of: &'static str,
    pub no_snapshots: &'static str,
    pub roll_rates: &'static str,
    pub from_bucket: &'static str,
    pub to_bucket: &'static str,
    pub loans: &'static str,
    pub rate: &'static str,
    pub needs_two: &'static str,
    pub cure_rate: &'static str,
    pub period: &'static str,
    pub delinquent_start: &'static str,
    pub cured: &'static str,
    pub promise_kept: &'static str,
    pub blocked_by_rule: &'static str,
    pub no_blocked: &'static str,
    pub agent_perf: &'static str,
    pub agent: &'static str,
    pub contacts_n: &'static str,
    pub right_party: &'static str,
    pub promises_n: &'static str,
    pub no_activity: &'static str,
    pub arms: &'static str,
    pub arm: &'static str,
    pub collected: &'static str,
    pub no_data: &'static str,
    pub cease_title: &'static str,
    pub cease_help: &'static str,
    pub cease_send: &'static str,
    pub cease_recorded: &'static str,
    pub prefs_title: &'static str,
    pub prefs_help: &'static str,
    pub hours_from: &'static str,
    pub hours_to: &'static str,
    pub prefs_save: &'static str,
    pub prefs_saved: &'static str,
    pub prefs_bad: &'static str,
    pub proposal_title: &'static str,
    pub proposal_help: &'static str,
    pub n_installments: &'static str,
    pub installment_amount: &'static str,
    pub first_due: &'static str,
    pub note: &'static str,
    pub proposal_send: &'static str,
    pub proposal_recorded: &'static str,
    pub proposal_bad: &'static str,
    pub on_record: &'static str,
    pub notices: &'static str,
    pub no_notices: &'static str,
    pub kind: &'static str,
    pub sent_at: &'static str,
    pub no_channel_prefs: &'static str,
    pub opted_out: &'static str,
    pub accepted: &'static str,
    pub hours: &'static str,
    pub updated_at: &'static str,
    pub plans_on_record: &'static str,
    pub status_since: &'static str,
    pub placements: &'static str,
    pub no_placements: &'static str,
    pub agency: &'static str,
    pub placed: &'static str,
    pub recalled: &'static str,
    pub live: &'static str,
    pub sale: &'static str,
    pub no_sale: &'static str,
    pub buyer: &'static str,
    pub sold_at: &'static str,
    pub credit_disputes: &'static str,
    pub no_credit_disputes: &'static str,
    pub opened: &'static str,
    pub resolved: &'static str,
    pub open_state: &'static str,
    pub resolved_state: &'static str,
    pub all_loans: &'static str,
    pub legal_cases: &'static str,
    pub no_legal_cases: &'static str,
    pub case: &'static str,
    pub updated_on: &'static str,
    pub violation: &'static str,
    pub compliance_title: &'static str,
    pub compliance_help: &'static str,
    pub last_30_days: &'static str,
    pub violations_by_rule: &'static str,
    pub violations_by_day: &'static str,
    pub violations_by_rule_day: &'static str,
    pub latest_violations: &'static str,
    pub no_violations: &'static str,
    pub violations_n: &'static str,
    pub day: &'static str,
    pub portal_on_record: &'static str,
    pub your_prefs: &'static str,
    pub your_plans: &'static str,
    pub sold_title: &'static str,
    pub sold_help: &'static str,
    pub your_credit_disputes: &'static str,
    pub credit_dispute_help: &'static str,
    pub notices_to_you: &'static str,
}

static EN: Texts = Texts {
    app: "Arrears",
    sign_out: "Sign out",
    login_title: "Staff sign-in",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    wrong_login: "The username or the password is wrong.",
    locked_login: "Too many failed sign-ins for this user from this address; try again later.",
    signed_in_as: "Signed in as",
    my_accounts: "Accounts assigned to you",
    no_accounts: "No accounts are assigned to you.",
    open_account: "Open an account",
    loan_id: "Loan id",
    open: "Open",
    account: "Account",
    borrower: "Borrower",
    debt: "Debt",
    no_snapshot: "No daily run has covered this loan yet.",
    as_of: "As of",
    dpd: "Days past due",
    bucket: "Bucket",
    overdue: "Overdue in total",
    overdue_fee: "Overdue fees",
    overdue_interest: "Overdue interest",
    overdue_principal: "Overdue principal",
    penalty: "Penalty (accrued, unpaid)",
    penalty_capped: "The cost cap lowered the penalty rate.",
    penalty_not_capped: "The cost cap did not change the penalty rate.",
    outstanding_principal: "Outstanding principal",
    contacts: "Contact history",
    no_contacts: "No contacts are recorded.",
    when: "When (UTC)",
    channel: "Channel",
    direction: "Direction",
    outcome: "Outcome",
    holds: "Holds in force",
    no_holds: "No holds.",
    hold_dispute: "Dispute open",
    hold_cease: "Cease contact requested",
    hold_bankrupt: "Bankrupt",
    hold_deceased: "Deceased",
    hold_hardship: "Financial hardship",
    disputes: "What the borrower wrote",
    allowed_now: "What is allowed right now",
    allowed: "allowed",
    denied: "not allowed",
    until: "until about",
    next_24h: "for at least the next 24 hours",
    not_before: "not before",
    never_by_waiting: "waiting does not help",
    rules: "Rules",
    log_call: "Log a call",
    save: "Save",
    call_logged: "The call was logged.",
    call_refused: "The conduct rules deny this call; it was not logged.",
    call_violation: "This call broke the conduct rules below. It was logged as a violation: it counts in the borrower's limits and compliance will see it.",
    choose_outcome: "Choose one of the listed outcomes.",
    portal_link: "Borrower portal link",
    issue_link: "Issue a one-time portal link",
    link_issued: "Send this link to the borrower; it works once and expires in 72 hours.",
    back: "Back",
    forbidden: "Not allowed",
    forbidden_text: "You may not see this page.",
    not_found: "Not found",
    not_found_text: "There is no such page or account.",
    csrf_text: "This form is out of date or was not sent from this site; reload the page and try again.",
    failed: "Something went wrong",
    failed_text: "The server could not answer; please try again.",
    portal_title: "Your account",
    portal_enter_text: "This link opens your account once. Continue to see what you owe and the messages sent to you.",
    continue_: "Continue",
    link_used: "This link was already used or has expired. Ask your lender for a new one.",
    what_you_owe: "What you owe",
    messages_to_you: "Calls and messages to you",
    verify_title: "Is a message genuine?",
    verify_help: "Enter the verification code printed on the message.",
    code: "Verification code",
    verify: "Check",
    genuine: "Genuine: this message was sent by your lender.",
    not_genuine: "Not genuine: a message with this code was issued, but this record fails its signature check. Do not act on it.",
    not_issued: "Not issued: your lender sent no message with this code. Do not pay or reply; keep it and report it.",
    verify_unavailable: "Verification is not available right now.",
    issued_at: "Issued at",
    lender: "Lender",
    dispute_title: "Dispute this debt",
    dispute_help: "Tell us what is wrong. While the dispute is open, collection contacts stop.",
    dispute_send: "Open a dispute",
    dispute_recorded: "Your dispute was recorded. Collection contacts stop while it is reviewed.",
    dispute_empty: "Please write what is wrong (up to 4000 characters).",
    complain_title: "How to complain",
    complain_lender: "You can complain to your lender first; if you are not satisfied, you can go to the regulator.",
    complain_cn: "In China: the financial consumer protection hotline 12378.",
    complain_us: "In the United States: the Consumer Financial Protection Bureau (consumerfinance.gov/complaint).",
    complain_gb: "In the United Kingdom: the Financial Ombudsman Service (financial-ombudsman.org.uk).",
    signed_out: "You are signed out.",
    outbound: "to you",
    inbound: "from you",
    queue_title: "My queue for today",
    queue_all: "Today's call queue (all agents)",
    queue_empty: "No calls are planned for your accounts on this date.",
    plan_of: "Plan of",
    plan_made: "made at",
    priority: "Priority",
    reason: "Reason",
    window: "Call window (UTC)",
    today_status: "Worked today",
    not_worked: "not worked yet",
    stage: "Stage",
    rule: "Strategy rule",
    date: "Date",
    show: "Show",
    installments: "Installments",
    seq: "No.",
    due_date: "Due date",
    fee: "Fee",
    interest: "Interest",
    principal: "Principal",
    total: "Total",
    covered: "Covered by payments",
    waterfall_help: "Payments are applied installment by installment in order, and within each to the fee, then the interest, then the principal; the penalty is shown apart.",
    payments: "Payments",
    no_payments: "No payments are recorded.",
    received: "Received (UTC)",
    amount: "Amount",
    reversal_of: "reversal of",
    promises: "Promises to pay",
    no_promises: "No promises are recorded.",
    made_at: "Made (UTC)",
    state: "State",
    promise_amount: "Promise amount",
    promise_due: "Promise due date",
    promise_help: "With the outcome “Promise to pay”, give the amount and the date.",
    promise_needed: "A promise needs the outcome “Promise to pay”, an amount above zero in this loan's currency and a due date from today on.",
    payment_plans: "Payment plans",
    no_plans: "No payment plan is recorded.",
    record_plan: "Record a payment plan agreed with the borrower",
    plan_help: "Equal instalments from the first due date on; the plan is recorded as active and each instalment is followed from the loan's payments.",
    plan_count: "Instalments",
    plan_amount: "Amount each",
    plan_first_due: "First due date",
    plan_every: "Every",
    every_month: "month",
    every_two_weeks: "two weeks",
    every_week: "week",
    plan_needed: "A payment plan needs 1 to 60 instalments, an amount each above zero in this loan's currency and a first due date from today on.",
    plan_too_small: "The instalments together must cover what is overdue now, with the unpaid penalty:",
    paid: "Paid",
    preferences: "What the borrower asked for",
    channels_chosen: "Channels accepted",
    hours_chosen: "Agreed hours (borrower's local time)",
    no_preferences: "The borrower chose no channels or hours.",
    calls_declined: "The borrower opted out of calls: the compliance check refuses calls to their own number (ALL-PREFERENCE).",
    proposals: "Payment plans the borrower proposed",
    from_date: "from",
    dash_title: "Manager dashboard",
    by_bucket: "Loans by bucket",
    by_stage: "Loans by stage",
    snapshot_of: "Snapshot of",
    no_snapshots: "No daily run has written a snapshot yet.",
    roll_rates: "Roll rates",
    from_bucket: "From",
    to_bucket: "To",
    loans: "Loans",
    rate: "Rate %",
    needs_two: "Roll and cure rates need snapshots of two business dates.",
    cure_rate: "Cure rate %",
    period: "Period",
    delinquent_start: "Delinquent at start",
    cured: "Cured",
    promise_kept: "Promise-kept rate %",
    blocked_by_rule: "Blocked contacts by rule (the day's plan)",
    no_blocked: "The day's plan blocked no contact.",
    agent_perf: "Agent performance today",
    agent: "Agent",
    contacts_n: "Contacts",
    right_party: "Right-party contacts",
    promises_n: "Promises",
    no_activity: "Nothing was recorded today.",
    arms: "Strategy arms compared",
    arm: "Arm",
    collected: "Collected",
    no_data: "No data.",
    cease_title: "Stop collection contact",
    cease_help: "You can ask us to stop contacting you about this debt. After that we send only what the law requires.",
    cease_send: "Ask to stop contact",
    cease_recorded: "Your request was recorded: collection contacts stop.",
    prefs_title: "How and when we may contact you",
    prefs_help: "Tick the ways we may contact you, and the hours that suit you (your local time).",
    hours_from: "From",
    hours_to: "To",
    prefs_save: "Save my choices",
    prefs_saved: "Your choices were saved.",
    prefs_bad: "Give times as HH:MM with the start before the end, or leave both empty.",
    proposal_title: "Propose a payment plan",
    proposal_help: "Tell us what you can pay. Your lender will look at it and answer you.",
    n_installments: "Number of payments",
    installment_amount: "Amount of each payment",
    first_due: "First payment date",
    note: "Anything else (optional)",
    proposal_send: "Send the proposal",
    proposal_recorded: "Your proposal was sent; your lender will answer.",
    proposal_bad: "Choose one of your loans, 1 to 60 payments of an amount above zero, and a first date from today on.",
    on_record: "What is on record",
    notices: "Notices sent",
    no_notices: "No notice is on record.",
    kind: "Kind",
    sent_at: "Sent (UTC)",
    no_channel_prefs: "The borrower set no preference on any channel.",
    opted_out: "Opted out",
    accepted: "Accepted",
    hours: "Hours (local)",
    updated_at: "Updated (UTC)",
    plans_on_record: "Payment plans of the borrower's loans",
    status_since: "Status since (UTC)",
    placements: "Agency placements",
    no_placements: "No loan of the borrower was placed with an agency.",
    agency: "Agency",
    placed: "Placed (UTC)",
    recalled: "Recalled (UTC)",
    live: "live",
    sale: "Debt sale",
    no_sale: "No loan of the borrower was sold.",
    buyer: "Buyer",
    sold_at: "Sold (UTC)",
    credit_disputes: "Credit-report disputes",
    no_credit_disputes: "No credit-report dispute is on record.",
    opened: "Opened (UTC)",
    resolved: "Resolved (UTC)",
    open_state: "open",
    resolved_state: "resolved",
    all_loans: "all loans",
    legal_cases: "Legal cases",
    no_legal_cases: "No legal case is on record.",
    case: "Case",
    updated_on: "Updated on",
    violation: "Recorded as a violation of",
    compliance_title: "Compliance: contacts made although the rules forbade them",
    compliance_help: "Contacts reported after the fact (by a dialer, an agency or an agent) that a rule forbade. Each is kept with its rule ids and counts in the borrower's limits.",
    last_30_days: "Last 30 days (UTC)",
    violations_by_rule: "Violations by rule",
    violations_by_day: "Violations by day",
    violations_by_rule_day: "Violations by rule and day",
    latest_violations: "Latest violations",
    no_violations: "No contact was recorded as a violation in these 30 days.",
    violations_n: "Violations",
    day: "Day (UTC)",
    portal_on_record: "What is on record about you",
    your_prefs: "Your contact choices on record",
    your_plans: "Your payment plans",
    sold_title: "Who owns your debt",
    sold_help: "From the date of sale the debt belongs to the buyer named here.",
    your_credit_disputes: "Your open credit-report disputes",
    credit_dispute_help: "While a dispute is open, nothing negative is reported to a credit bureau about the loan.",
    notices_to_you: "Notices sent to you",
};

static ZH: Texts = Texts {
    app: "催收管理",
    sign_out: "退出",
    login_title: "员工登录",
    username: "用户名",
    password: "密码",
    sign_in: "登录",
    wrong_login: "用户名或密码错误。",
    locked_login: "该用户从此地址登录失败次数过多，请稍后再试。",
    signed_in_as: "当前用户",
    my_accounts: "分配给您的账户",
    no_accounts: "没有分配给您的账户。",
    open_account: "打开账户",
    loan_id: "贷款编号",
    open: "打开",
    account: "账户",
    borrower: "借款人",
    debt: "欠款",
    no_snapshot: "日终批处理尚未覆盖此贷款。",
    as_of: "截至",
    dpd: "逾期天数",
    bucket: "逾期阶段",
    overdue: "逾期合计",
    overdue_fee: "逾期费用",
    overdue_interest: "逾期利息",
    overdue_principal: "逾期本金",
    penalty: "罚息（已计未付）",
    penalty_capped: "综合成本上限降低了罚息利率。",
    penalty_not_capped: "综合成本上限未改变罚息利率。",
    outstanding_principal: "剩余本金",
    contacts: "联系记录",
    no_contacts: "没有联系记录。",
    when: "时间（UTC）",
    channel: "渠道",
    direction: "方向",
    outcome: "结果",
    holds: "生效中的暂停",
    no_holds: "无暂停。",
    hold_dispute: "争议处理中",
    hold_cease: "已要求停止联系",
    hold_bankrupt: "破产",
    hold_deceased: "已故",
    hold_hardship: "经济困难",
    disputes: "借款人提交的内容",
    allowed_now: "当前允许的联系",
    allowed: "允许",
    denied: "不允许",
    until: "大约截至",
    next_24h: "至少未来 24 小时内",
    not_before: "最早于",
    never_by_waiting: "等待也无法允许",
    rules: "规则",
    log_call: "记录通话",
    save: "保存",
    call_logged: "通话已记录。",
    call_refused: "合规规则不允许此通话，未予记录。",
    call_violation: "此通话违反了以下合规规则。已作为违规记录：计入该借款人的联系次数限制，合规部门可见。",
    choose_outcome: "请从列出的结果中选择一项。",
    portal_link: "借款人门户链接",
    issue_link: "生成一次性门户链接",
    link_issued: "请将此链接发送给借款人；仅可使用一次，72 小时后失效。",
    back: "返回",
    forbidden: "无权访问",
    forbidden_text: "您无权查看此页面。",
    not_found: "未找到",
    not_found_text: "没有此页面或账户。",
    csrf_text: "此表单已过期或并非从本站提交；请刷新页面后重试。",
    failed: "出错了",
    failed_text: "服务器无法响应，请重试。",
    portal_title: "您的账户",
    portal_enter_text: "此链接仅可打开您的账户一次。继续查看您的欠款和发给您的消息。",
    continue_: "继续",
    link_used: "此链接已被使用或已过期。请向贷款机构索取新链接。",
    what_you_owe: "您的欠款",
    messages_to_you: "给您的电话和消息",
    verify_title: "消息是否真实？",
    verify_help: "请输入消息上印的验证码。",
    code: "验证码",
    verify: "查验",
    genuine: "真实：此消息由您的贷款机构发出。",
    not_genuine: "不真实：此验证码的消息曾发出，但记录未通过签名校验。请勿据此行事。",
    not_issued: "未发出：您的贷款机构没有发出带此验证码的消息。请勿付款或回复，保留并举报。",
    verify_unavailable: "暂时无法查验。",
    issued_at: "发出时间",
    lender: "贷款机构",
    dispute_title: "对欠款提出异议",
    dispute_help: "请告诉我们哪里有误。异议处理期间，催收联系将暂停。",
    dispute_send: "提出异议",
    dispute_recorded: "您的异议已记录。审核期间催收联系暂停。",
    dispute_empty: "请填写有误之处（不超过 4000 字）。",
    complain_title: "如何投诉",
    complain_lender: "您可以先向贷款机构投诉；如不满意，可向监管机构投诉。",
    complain_cn: "在中国：金融消费者权益保护热线 12378。",
    complain_us: "在美国：消费者金融保护局（consumerfinance.gov/complaint）。",
    complain_gb: "在英国：金融申诉专员服务（financial-ombudsman.org.uk）。",
    signed_out: "您已退出。",
    outbound: "发给您",
    inbound: "来自您",
    queue_title: "今日待办队列",
    queue_all: "今日通话队列（全部坐席）",
    queue_empty: "该日没有为您的账户安排通话。",
    plan_of: "计划日期",
    plan_made: "生成于",
    priority: "优先级",
    reason: "原因",
    window: "通话时段（UTC）",
    today_status: "今日处理",
    not_worked: "尚未处理",
    stage: "催收阶段",
    rule: "策略规则",
    date: "日期",
    show: "显示",
    installments: "还款计划",
    seq: "期数",
    due_date: "到期日",
    fee: "费用",
    interest: "利息",
    principal: "本金",
    total: "合计",
    covered: "已由还款冲抵",
    waterfall_help: "还款按期次顺序冲抵，每期内依次冲抵费用、利息、本金；罚息另列。",
    payments: "还款记录",
    no_payments: "没有还款记录。",
    received: "到账时间（UTC）",
    amount: "金额",
    reversal_of: "冲正：",
    promises: "还款承诺",
    no_promises: "没有还款承诺。",
    made_at: "做出时间（UTC）",
    state: "状态",
    promise_amount: "承诺金额",
    promise_due: "承诺还款日",
    promise_help: "结果为“承诺还款”时，请填写金额和日期。",
    promise_needed: "承诺需选择结果“承诺还款”，金额大于零（以该贷款币种计），还款日不早于今天。",
    payment_plans: "还款计划",
    no_plans: "没有还款计划。",
    record_plan: "登记与借款人约定的还款计划",
    plan_help: "自首期还款日起等额分期；计划登记为生效，每期按该贷款的还款跟踪。",
    plan_count: "期数",
    plan_amount: "每期金额",
    plan_first_due: "首期还款日",
    plan_every: "间隔",
    every_month: "每月",
    every_two_weeks: "每两周",
    every_week: "每周",
    plan_needed: "还款计划需 1 至 60 期，每期金额大于零（以该贷款币种计），首期还款日不早于今天。",
    plan_too_small: "各期合计须不少于当前逾期金额（含未付罚息）：",
    paid: "已还",
    preferences: "借款人的要求",
    channels_chosen: "接受的联系渠道",
    hours_chosen: "约定的联系时段（借款人当地时间）",
    no_preferences: "借款人未选择联系渠道或时段。",
    calls_declined: "借款人已拒绝电话联系：合规检查将拒绝拨打其本人号码（ALL-PREFERENCE）。",
    proposals: "借款人提议的还款计划",
    from_date: "起始于",
    dash_title: "管理看板",
    by_bucket: "按逾期阶段的贷款",
    by_stage: "按催收阶段的贷款",
    snapshot_of: "快照日期",
    no_snapshots: "尚无日终批处理快照。",
    roll_rates: "迁徙率",
    from_bucket: "从",
    to_bucket: "到",
    loans: "贷款数",
    rate: "比率 %",
    needs_two: "迁徙率和治愈率需要两个营业日的快照。",
    cure_rate: "治愈率 %",
    period: "期间",
    delinquent_start: "期初逾期",
    cured: "已治愈",
    promise_kept: "承诺履约率 %",
    blocked_by_rule: "按规则拦截的联系（当日计划）",
    no_blocked: "当日计划未拦截任何联系。",
    agent_perf: "今日坐席表现",
    agent: "坐席",
    contacts_n: "联系次数",
    right_party: "本人接通",
    promises_n: "承诺",
    no_activity: "今日尚无记录。",
    arms: "策略分组对比",
    arm: "分组",
    collected: "回收金额",
    no_data: "暂无数据。",
    cease_title: "停止催收联系",
    cease_help: "您可以要求我们停止就此欠款联系您。此后我们只发送法律要求的通知。",
    cease_send: "要求停止联系",
    cease_recorded: "您的要求已记录：催收联系将停止。",
    prefs_title: "联系方式和时间",
    prefs_help: "请勾选允许的联系方式，以及方便的时段（您的当地时间）。",
    hours_from: "从",
    hours_to: "至",
    prefs_save: "保存我的选择",
    prefs_saved: "您的选择已保存。",
    prefs_bad: "时间请按 HH:MM 填写，开始早于结束，或两项都留空。",
    proposal_title: "提议还款计划",
    proposal_help: "告诉我们您能支付的金额。贷款机构会审阅并答复您。",
    n_installments: "分期数",
    installment_amount: "每期金额",
    first_due: "首次还款日",
    note: "其他说明（可选）",
    proposal_send: "提交提议",
    proposal_recorded: "您的提议已提交，贷款机构会答复您。",
    proposal_bad: "请选择您的一笔贷款，1 至 60 期，每期金额大于零，首次还款日不早于今天。",
    on_record: "在案记录",
    notices: "已发送的通知",
    no_notices: "没有通知记录。",
    kind: "类型",
    sent_at: "发送时间（UTC）",
    no_channel_prefs: "借款人未设置任何渠道的偏好。",
    opted_out: "已拒绝",
    accepted: "接受",
    hours: "时段（当地时间）",
    updated_at: "更新时间（UTC）",
    plans_on_record: "借款人各笔贷款的还款计划",
    status_since: "状态时间（UTC）",
    placements: "委外催收",
    no_placements: "借款人的贷款未曾委外催收。",
    agency: "催收机构",
    placed: "委外时间（UTC）",
    recalled: "收回时间（UTC）",
    live: "委外中",
    sale: "债权转让",
    no_sale: "借款人的贷款未被转让。",
    buyer: "受让方",
    sold_at: "转让时间（UTC）",
    credit_disputes: "征信异议",
    no_credit_disputes: "没有征信异议记录。",
    opened: "提出时间（UTC）",
    resolved: "解决时间（UTC）",
    open_state: "处理中",
    resolved_state: "已解决",
    all_loans: "全部贷款",
    legal_cases: "诉讼案件",
    no_legal_cases: "没有诉讼案件记录。",
    case: "案件",
    updated_on: "更新日期",
    violation: "已记录为违规，违反",
    compliance_title: "合规：规则禁止但仍发生的联系",
    compliance_help: "事后报告的（外呼系统、催收机构或坐席）被规则禁止的联系。每条均连同规则编号保存，并计入借款人的联系次数限制。",
    last_30_days: "最近 30 天（UTC）",
    violations_by_rule: "按规则的违规",
    violations_by_day: "按日的违规",
    violations_by_rule_day: "按规则和日期的违规",
    latest_violations: "最近的违规",
    no_violations: "这 30 天内没有记录为违规的联系。",
    violations_n: "违规次数",
    day: "日期（UTC）",
    portal_on_record: "关于您的记录",
    your_prefs: "您的联系偏好记录",
    your_plans: "您的还款计划",
    sold_title: "您的债务归属",
    sold_help: "自转让之日起，该债务归下列受让方所有。",
    your_credit_disputes: "您处理中的征信异议",
    credit_dispute_help: "异议处理期间，不会就该贷款向征信机构报送负面信息。",
    notices_to_you: "发给您的通知",
};

/// A vocabulary code (channel, outcome) as a person reads it.
fn label(lang: Lang, code: &str) -> String {
    let (en, zh) = match code {
        "call" => ("Call", "电话"),
        "sms" => ("SMS", "短信"),
        "email" => ("E-mail", "电子邮件"),
        "letter" => ("Letter", "信函"),
        "push" => ("Push notification", "推送通知"),
        "visit" => ("Visit", "上门"),
        "right_party" => ("Spoke with the borrower", "已与借款人通话"),
        "promise" => ("Promise to pay", "承诺还款"),
        "refused" => ("Refused to pay", "拒绝还款"),
        "dispute" => ("Disputed", "提出异议"),
        "no_answer" => ("No answer", "无人接听"),
        "wrong_party" => ("Wrong person", "非本人"),
        "busy" => ("Busy", "占线"),
        "voicemail" => ("Voicemail", "语音信箱"),
        "sent" => ("Sent", "已发送"),
        "delivered" => ("Delivered", "已送达"),
        "bounced" => ("Bounced", "被退回"),
        "failed" => ("Failed", "失败"),
        "pending" => ("Pending", "待履行"),
        "kept" => ("Kept", "已履行"),
        "broken" => ("Broken", "已违约"),
        "payment" => ("Payment", "还款"),
        "reversal" => ("Reversal", "冲正"),
        "paid" => ("Paid", "已还清"),
        "due" => ("Due", "待还"),
        "missed" => ("Missed", "逾期未还"),
        "proposed" => ("Proposed", "待确认"),
        "active" => ("Active", "生效中"),
        "completed" => ("Completed", "已完成"),
        "cancelled" => ("Cancelled", "已取消"),
        "validation" => ("Validation notice", "债务确认通知"),
        "agency_placement" => ("Agency placement notice", "委外催收通知"),
        "credit_reporting" => ("Credit reporting notice", "征信报送通知"),
        "forbearance_offer" => ("Forbearance offer", "宽限方案通知"),
        "assignment" => ("Assignment notice (debt sold)", "债权转让通知"),
        "legal_action" => ("Legal action notice", "法律行动通知"),
        "portal" => ("Portal", "门户"),
        "filed" => ("Filed", "已立案"),
        "judgment" => ("Judgment", "已判决"),
        "enforcement" => ("Enforcement", "强制执行"),
        "closed" => ("Closed", "已结案"),
        other => return other.to_owned(),
    };
    match lang {
        Lang::En => en.to_owned(),
        Lang::Zh => zh.to_owned(),
    }
}

/// The outcomes an agent can log for a call.
const CALL_OUTCOMES: [&str; 8] = [
    "right_party",
    "promise",
    "refused",
    "dispute",
    "no_answer",
    "wrong_party",
    "busy",
    "voicemail",
];

// ---------------------------------------------------------------------------------------
// Formatting.

/// An amount in minor units written exactly in major units: `-1234.05 USD`.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let digits = Currency::parse("currency", currency).map_or(2, |c| c.minor_digits());
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let scale = 10u64.pow(digits);
    let width = usize::try_from(digits).unwrap_or(2);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / scale,
        abs % scale,
        width = width
    )
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

// ---------------------------------------------------------------------------------------
// The request context: language, session, path.

/// What every page needs from a request.
pub(crate) struct Ctx {
    lang: Lang,
    /// Set when `?lang=` chose the language: the answer stores it in the `lang` cookie.
    set_lang: bool,
    path: String,
    session: Option<(String, Session)>,
    ip: std::net::IpAddr,
    host: Option<String>,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Where the EN/中文 links lead: the page itself with its query but `lang` (a page answering
/// a form leads to the page the form was on), ending in `?` or `&`.
fn switch_base(parts: &Parts) -> String {
    let path = parts.uri.path();
    if parts.method != axum::http::Method::GET {
        let page = match path.rsplit_once('/') {
            _ if path == "/logout" => "/login",
            Some((head, _)) if head.matches('/').count() >= 2 => head,
            _ => path,
        };
        return format!("{page}?");
    }
    let rest: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
        .collect();
    if rest.is_empty() {
        format!("{path}?")
    } else {
        format!("{path}?{}&", rest.join("&"))
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Ctx, Response> {
        let query_lang = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        });
        let cookie_lang = cookie(&parts.headers, "lang").and_then(Lang::parse);
        let lang = query_lang.or(cookie_lang).unwrap_or(Lang::En);
        let mut session = None;
        if let Some(id) = cookie(&parts.headers, SESSION_COOKIE).filter(|id| is_hex64(id)) {
            let hash = sha256_hex(id.as_bytes());
            match state.store().session(&hash, now()).await {
                Ok(Some(s)) => session = Some((hash, s)),
                Ok(None) => {}
                Err(e) => {
                    let _ = ApiError::internal(e);
                    return Err(failed(lang));
                }
            }
        }
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |c| {
                c.0.ip()
            });
        Ok(Ctx {
            lang,
            set_lang: query_lang.is_some(),
            path: switch_base(parts),
            session,
            ip,
            host: parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
        })
    }
}

impl Ctx {
    fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    fn chrome(&self) -> Chrome {
        Chrome {
            t: self.t(),
            lang: self.lang.code(),
            path: self.path.clone(),
            csrf: self.session.as_ref().map(|(_, s)| s.csrf_token.clone()),
        }
    }

    fn staff(&self) -> Option<(&str, &str)> {
        match self.session.as_ref().map(|(_, s)| &s.owner) {
            Some(SessionOwner::Staff { username, role }) => Some((username, role)),
            _ => None,
        }
    }

    fn borrower(&self) -> Option<&str> {
        match self.session.as_ref().map(|(_, s)| &s.owner) {
            Some(SessionOwner::Borrower { borrower_id }) => Some(borrower_id),
            _ => None,
        }
    }

    /// Whether a form's token is this session's CSRF token.
    fn csrf_ok(&self, sent: Option<&str>) -> bool {
        match (&self.session, sent) {
            (Some((_, s)), Some(sent)) => same_secret(&s.csrf_token, sent),
            _ => false,
        }
    }
}

/// What the layout shows on every page.
pub(crate) struct Chrome {
    t: &'static Texts,
    lang: &'static str,
    path: String,
    /// The session's CSRF token (with a session): the sign-out form carries it.
    csrf: Option<String>,
}

fn headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn render(ctx: &Ctx, status: StatusCode, page: &impl Template) -> Response {
    let mut res = match page.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(e) => {
            let _ = ApiError::internal(e);
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    if ctx.set_lang
        && let Ok(v) = HeaderValue::from_str(&format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax",
            ctx.lang.code()
        ))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    headers(&mut res);
    res
}

fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    headers(&mut res);
    res
}

fn session_cookie(id: &str, max_age: SignedDuration) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        max_age.as_secs()
    ))
    .ok()
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    title: &'static str,
    text: String,
    rule_ids: Vec<String>,
    link: Option<String>,
    back: Option<String>,
}

fn message(
    ctx: &Ctx,
    status: StatusCode,
    title: &'static str,
    text: impl Into<String>,
    back: Option<String>,
) -> Response {
    render(
        ctx,
        status,
        &MessagePage {
            chrome: ctx.chrome(),
            title,
            text: text.into(),
            rule_ids: Vec::new(),
            link: None,
            back,
        },
    )
}

fn forbidden(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        ctx.t().forbidden,
        ctx.t().forbidden_text,
        None,
    )
}

fn csrf_refused(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        ctx.t().forbidden,
        ctx.t().csrf_text,
        None,
    )
}

fn not_found(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::NOT_FOUND,
        ctx.t().not_found,
        ctx.t().not_found_text,
        None,
    )
}

/// The answer when the server itself fails (the detail is logged by `ApiError::internal`).
fn failed(lang: Lang) -> Response {
    let t = lang.texts();
    let ctx = Ctx {
        lang,
        set_lang: false,
        path: "/?".into(),
        session: None,
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        host: None,
    };
    message(
        &ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        t.failed,
        t.failed_text,
        None,
    )
}

fn internal(ctx: &Ctx, e: impl std::fmt::Display) -> Response {
    let _ = ApiError::internal(e);
    failed(ctx.lang)
}

/// Parses a urlencoded form body.
fn form<T: serde::de::DeserializeOwned>(body: &Bytes) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn log_access(
    state: &AppState,
    actor: String,
    action: &str,
    borrower_id: &str,
    loan_id: Option<&str>,
) -> Result<(), arrears_store::StoreError> {
    state
        .store()
        .log_access(&Access {
            at: now(),
            actor,
            action: action.to_owned(),
            borrower_id: Some(borrower_id.to_owned()),
            loan_id: loan_id.map(str::to_owned),
        })
        .await
}

// ---------------------------------------------------------------------------------------
// Staff: login, home, logout.

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<&'static str>,
    username: String,
}

async fn login_page(ctx: Ctx) -> Response {
    if ctx.staff().is_some() {
        return redirect("/");
    }
    render(
        &ctx,
        StatusCode::OK,
        &LoginPage {
            chrome: ctx.chrome(),
            error: None,
            username: String::new(),
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

/// The password check of `POST /v1/login` (argon2, the same limiter), then a session.
async fn login_submit(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Response {
    let Some(f) = form::<LoginForm>(&body) else {
        return render(
            &ctx,
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                chrome: ctx.chrome(),
                error: Some(ctx.t().wrong_login),
                username: String::new(),
            },
        );
    };
    let started = std::time::Instant::now();
    let refuse = |status: StatusCode, error: &'static str| {
        render(
            &ctx,
            status,
            &LoginPage {
                chrome: ctx.chrome(),
                error: Some(error),
                username: f.username.clone(),
            },
        )
    };
    if state
        .logins()
        .locked_until(&f.username, ctx.ip, started)
        .is_some()
    {
        return refuse(StatusCode::TOO_MANY_REQUESTS, ctx.t().locked_login);
    }
    let plausible = !f.username.is_empty()
        && f.username.len() <= 64
        && !f.username.chars().any(char::is_control);
    let user = if plausible {
        match state.store().user(&f.username).await {
            Ok(u) => u,
            Err(e) => return internal(&ctx, e),
        }
    } else {
        None
    };
    let phc = user.as_ref().filter(|u| !u.disabled).map_or_else(
        || auth::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password = f.password.clone();
    let ok = match tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc)).await
    {
        Ok(ok) => ok,
        Err(e) => return internal(&ctx, e),
    };
    let Some(u) = user.filter(|u| ok && !u.disabled) else {
        state
            .logins()
            .failed(&f.username, ctx.ip, std::time::Instant::now());
        return refuse(StatusCode::UNAUTHORIZED, ctx.t().wrong_login);
    };
    state.logins().succeeded(&f.username, ctx.ip);
    let (Ok(id), Ok(csrf)) = (random_hex(), random_hex()) else {
        return internal(&ctx, "no randomness");
    };
    let at = now();
    let new = NewSession {
        session_sha256: &sha256_hex(id.as_bytes()),
        csrf_token: &csrf,
        created_at: at,
        expires_at: at.saturating_add(STAFF_SESSION).unwrap_or(at),
    };
    if let Err(e) = state.store().create_staff_session(&new, &u.username).await {
        return internal(&ctx, e);
    }
    let mut res = redirect("/");
    if let Some(c) = session_cookie(&id, STAFF_SESSION) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

async fn logout(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Response {
    let f = form::<CsrfOnly>(&body);
    if !ctx.csrf_ok(f.as_ref().and_then(|f| f.csrf.as_deref())) {
        return csrf_refused(&ctx);
    }
    if let Some((hash, _)) = &ctx.session
        && let Err(e) = state.store().delete_session(hash, now()).await
    {
        return internal(&ctx, e);
    }
    let was_staff = ctx.staff().is_some();
    let mut res = if was_staff {
        redirect("/login")
    } else {
        let c = Ctx {
            session: None,
            path: ctx.path.clone(),
            host: None,
            ..ctx
        };
        return {
            let mut r = message(&c, StatusCode::OK, c.t().app, c.t().signed_out, None);
            if let Some(v) = session_cookie("", SignedDuration::ZERO) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        };
    };
    if let Some(v) = session_cookie("", SignedDuration::ZERO) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

struct QueueRow {
    loan_id: String,
    borrower_id: String,
    priority: String,
    queue: String,
    rule_id: String,
    stage: String,
    bucket: String,
    dpd: u32,
    window: String,
    /// What was recorded on the loan on the business date: the last outcome, and the latest
    /// promise with its state.
    worked: String,
    promise: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    username: String,
    role: String,
    loans: Vec<String>,
    /// An agent's own queue, or every agent's for other roles.
    own_queue: bool,
    manager: bool,
    plan_date: String,
    plan_note: String,
    queue: Vec<QueueRow>,
}

/// The most rows the queue shows.
const QUEUE_ROWS: usize = 500;

/// Roles that see every account and the dashboard.
fn is_manager(role: &str) -> bool {
    matches!(role, "supervisor" | "compliance" | "admin")
}

#[derive(Deserialize)]
struct DateQuery {
    date: Option<String>,
}

/// The business date asked for (`?date=YYYY-MM-DD`), else today in the business zone.
fn business_date(state: &AppState, q: &DateQuery) -> jiff::civil::Date {
    q.date
        .as_deref()
        .and_then(|d| d.trim().parse::<jiff::civil::Date>().ok())
        .unwrap_or_else(|| state.config().business_tz.date_of(now()))
}

/// The latest promise of a loan with its state on `as_of`, written for the page.
fn latest_promise(
    lang: Lang,
    book: &arrears_store::LoanBook,
    as_of: jiff::civil::Date,
    zone: &arrears_domain::TimeZoneName,
) -> Option<(String, &'static str)> {
    let p = book.promises.iter().max_by_key(|p| p.created_at)?;
    let st = workbench::promise_state(
        p.created_at,
        p.amount_minor,
        p.due_date,
        &book_payments(book),
        as_of,
        zone,
    );
    Some((
        format!(
            "{} {} {} — {}",
            format_minor(p.amount_minor, &book.currency),
            lang.texts().due_date,
            p.due_date,
            label(lang, st)
        ),
        st,
    ))
}

/// A loan's payments as (instant, amount, cancelled at) for [`workbench::promise_state`].
fn book_payments(book: &arrears_store::LoanBook) -> Vec<(Timestamp, i64, Option<Timestamp>)> {
    book.payments
        .iter()
        .filter(|p| p.kind == "payment")
        .map(|p| {
            let cancelled = book
                .payments
                .iter()
                .find(|r| r.reverses.as_deref() == Some(&p.payment_id))
                .map(|r| r.received_at);
            (p.received_at, p.amount_minor, cancelled)
        })
        .collect()
}

async fn home(State(state): State<AppState>, ctx: Ctx, Query(q): Query<DateQuery>) -> Response {
    if let Some(b) = ctx.borrower() {
        return redirect(&format!("/portal/b/{b}"));
    }
    let Some((username, role)) = ctx.staff() else {
        return redirect("/login");
    };
    let store = state.store();
    let loans = match store.assigned_loans(username).await {
        Ok(l) => l,
        Err(e) => return internal(&ctx, e),
    };
    let as_of = business_date(&state, &q);
    let plan = match workbench::day_plan(&state, as_of).await {
        Ok(p) => p,
        Err(e) => return internal(&ctx, e),
    };
    let manager = is_manager(role);
    let mine: std::collections::HashSet<&str> = loans.iter().map(String::as_str).collect();
    let zone = state.config().business_tz.clone();
    let t = ctx.t();
    let mut queue = Vec::new();
    for task in plan
        .calls
        .iter()
        .filter(|c| manager || mine.contains(c.loan_id.as_str()))
        .take(QUEUE_ROWS)
    {
        let (bc, book) = match (
            store.borrower_contacts(&task.borrower_id).await,
            store.loan_book(&task.loan_id).await,
        ) {
            (Ok(bc), Ok(book)) => (bc, book),
            (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
        };
        let worked = bc
            .as_ref()
            .and_then(|bc| {
                let own: Vec<&arrears_store::StoredContact> = bc.own_contacts().collect();
                own.into_iter().rev().find(|c| {
                    c.loan_id.as_ref().map(|l| l.as_str()) == Some(task.loan_id.as_str())
                        && zone.date_of(c.row.at) == as_of
                })
            })
            .map_or_else(
                || t.not_worked.to_owned(),
                |c| {
                    format!(
                        "{} {} UTC: {}",
                        label(ctx.lang, &c.row.channel),
                        when(c.row.at),
                        label(ctx.lang, &c.row.outcome)
                    )
                },
            );
        let promise = book
            .as_ref()
            .and_then(|b| latest_promise(ctx.lang, b, as_of, &zone))
            .map(|p| p.0)
            .unwrap_or_default();
        queue.push(QueueRow {
            loan_id: task.loan_id.clone(),
            borrower_id: task.borrower_id.clone(),
            priority: task.priority.map(|p| p.to_string()).unwrap_or_default(),
            queue: task.queue.clone().unwrap_or_default(),
            rule_id: task.rule_id.clone(),
            stage: task.stage.clone(),
            bucket: task.bucket.clone(),
            dpd: task.dpd,
            window: format!("{} – {}", when(task.not_before), when(task.not_after)),
            worked,
            promise,
        });
    }
    render(
        &ctx,
        StatusCode::OK,
        &HomePage {
            chrome: ctx.chrome(),
            username: username.to_owned(),
            role: role.to_owned(),
            loans,
            own_queue: !manager,
            manager,
            plan_date: as_of.to_string(),
            plan_note: format!(
                "{} {} UTC ({} ms, {} loans)",
                t.plan_made,
                when(plan.made_at),
                plan.millis,
                plan.loans
            ),
            queue,
        },
    )
}

#[derive(Deserialize)]
struct OpenQuery {
    loan_id: Option<String>,
}

async fn open_account(ctx: Ctx, Query(q): Query<OpenQuery>) -> Response {
    match q
        .loan_id
        .as_deref()
        .map(|l| LoanId::parse("loan_id", l.trim()))
    {
        Some(Ok(l)) => redirect(&format!("/accounts/{}", l.as_str())),
        _ => not_found(&ctx),
    }
}

// ---------------------------------------------------------------------------------------
// The agent's account page.

struct DebtView {
    as_of: String,
    dpd: u32,
    bucket: String,
    overdue: String,
    overdue_fee: String,
    overdue_interest: String,
    overdue_principal: String,
    penalty: String,
    penalty_capped: bool,
    outstanding_principal: String,
}

struct ContactView {
    at: String,
    channel: String,
    direction: String,
    outcome: String,
    /// The rule ids of a contact recorded as a violation (staff pages only; empty
    /// otherwise).
    violation: String,
}

struct ChannelView {
    channel: String,
    allowed: bool,
    /// For an allowed channel: when it stops being allowed (or "the next 24 hours").
    until: String,
    /// For a denied one: the earliest instant, or that waiting does not help.
    not_before: String,
    rule_ids: String,
}

struct OutcomeView {
    code: &'static str,
    label: String,
}

struct InstallmentView {
    seq: i64,
    due_date: String,
    fee: String,
    interest: String,
    principal: String,
    total: String,
    covered: String,
}

struct PaymentView {
    id: String,
    received: String,
    amount: String,
    kind: String,
}

struct PromiseView {
    id: String,
    made: String,
    amount: String,
    due: String,
    state: String,
    state_code: &'static str,
}

struct PlanView {
    id: String,
    status: String,
    status_code: String,
    made: String,
    rows: Vec<PlanRowView>,
}

struct PlanRowView {
    due: String,
    amount: String,
    paid: String,
    state: String,
    state_code: &'static str,
}

/// A loan's payment plans with each instalment's progress from the payments.
fn plan_views(
    lang: Lang,
    plans: &[arrears_store::StoredPlan],
    currency: &str,
    today: jiff::civil::Date,
) -> Vec<PlanView> {
    plans
        .iter()
        .map(|p| PlanView {
            id: p.plan_id.clone(),
            status: label(lang, &p.status),
            status_code: p.status.clone(),
            made: when(p.created_at),
            rows: p
                .installments
                .iter()
                .map(|i| {
                    let state = if i.progress.paid_on.is_some() {
                        "paid"
                    } else if i.due_date < today {
                        "missed"
                    } else {
                        "due"
                    };
                    PlanRowView {
                        due: i.due_date.to_string(),
                        amount: format_minor(i.amount_minor, currency),
                        paid: format_minor(i.progress.paid_minor, currency),
                        state: label(lang, state),
                        state_code: state,
                    }
                })
                .collect(),
        })
        .collect()
}

/// A notice on record (the `notices` lifecycle table).
struct NoticeView {
    kind: String,
    kind_code: String,
    sent: String,
    channel: String,
    /// The loan it is about, or "all loans".
    loan: String,
}

/// The borrower's latest preference on one channel.
struct ChannelPrefView {
    channel: String,
    channel_code: String,
    opted_out: bool,
    /// Local hours accepted on the channel, or "—".
    hours: String,
    updated: String,
}

/// A payment plan of one of the borrower's loans, as the lifecycle records hold it.
struct LcPlanView {
    id: String,
    loan: String,
    status: String,
    status_code: String,
    since: String,
    count: usize,
    total: String,
    dates: String,
    /// Each instalment: due date and amount.
    rows: Vec<(String, String)>,
}

struct PlacementView {
    id: String,
    loan: String,
    agency: String,
    placed: String,
    /// Empty while the placement is live.
    recalled: String,
}

struct SaleView {
    id: String,
    loan: String,
    buyer: String,
    sold: String,
}

struct CreditDisputeView {
    id: String,
    loan: String,
    opened: String,
    /// Empty while open.
    resolved: String,
}

struct LegalView {
    id: String,
    loan: String,
    status: String,
    status_code: String,
    updated: String,
}

/// Every lifecycle fact of the borrower and their loans, for the pages.
struct LifecycleView {
    notices: Vec<NoticeView>,
    prefs: Vec<ChannelPrefView>,
    calls_declined: bool,
    plans: Vec<LcPlanView>,
    placements: Vec<PlacementView>,
    sales: Vec<SaleView>,
    credit_disputes: Vec<CreditDisputeView>,
    legal: Vec<LegalView>,
}

impl LifecycleView {
    /// The credit disputes still open (the portal shows only those).
    fn open_credit_disputes(&self) -> impl Iterator<Item = &CreditDisputeView> {
        self.credit_disputes
            .iter()
            .filter(|d| d.resolved.is_empty())
    }

    fn has_open_credit_dispute(&self) -> bool {
        self.open_credit_disputes().next().is_some()
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    loan_id: String,
    borrower_id: String,
    debt: Option<DebtView>,
    contacts: Vec<ContactView>,
    holds: Vec<&'static str>,
    notes: Vec<(String, String)>,
    channels: Vec<ChannelView>,
    outcomes: Vec<OutcomeView>,
    installments: Vec<InstallmentView>,
    payments: Vec<PaymentView>,
    promises: Vec<PromiseView>,
    plans: Vec<PlanView>,
    lifecycle: LifecycleView,
    proposals: Vec<String>,
    today: String,
}

/// The schedule with what the payments cover, by the engine's waterfall: installments in
/// order, within each the fee, then the interest, then the principal.
fn installment_views(book: &arrears_store::LoanBook) -> Vec<InstallmentView> {
    let m = |v: i64| format_minor(v, &book.currency);
    let mut left: i128 = book_payments(book)
        .iter()
        .filter(|p| p.2.is_none())
        .map(|p| i128::from(p.1))
        .sum();
    book.installments
        .iter()
        .map(|i| {
            let total = i128::from(i.fee_minor)
                + i128::from(i.interest_minor)
                + i128::from(i.principal_minor);
            let covered = left.clamp(0, total);
            left -= covered;
            InstallmentView {
                seq: i.seq,
                due_date: i.due_date.to_string(),
                fee: m(i.fee_minor),
                interest: m(i.interest_minor),
                principal: m(i.principal_minor),
                total: m(i64::try_from(total).unwrap_or(i64::MAX)),
                covered: m(i64::try_from(covered).unwrap_or(i64::MAX)),
            }
        })
        .collect()
}

fn payment_views(lang: Lang, book: &arrears_store::LoanBook) -> Vec<PaymentView> {
    book.payments
        .iter()
        .rev()
        .map(|p| PaymentView {
            id: p.payment_id.clone(),
            received: when(p.received_at),
            amount: format_minor(p.amount_minor, &book.currency),
            kind: match &p.reverses {
                Some(r) => format!("{} {r}", lang.texts().reversal_of),
                None => label(lang, &p.kind),
            },
        })
        .collect()
}

fn promise_views(
    lang: Lang,
    book: &arrears_store::LoanBook,
    as_of: jiff::civil::Date,
    zone: &arrears_domain::TimeZoneName,
) -> Vec<PromiseView> {
    let pays = book_payments(book);
    book.promises
        .iter()
        .rev()
        .map(|p| {
            let st = workbench::promise_state(
                p.created_at,
                p.amount_minor,
                p.due_date,
                &pays,
                as_of,
                zone,
            );
            PromiseView {
                id: p.promise_id.clone(),
                made: when(p.created_at),
                amount: format_minor(p.amount_minor, &book.currency),
                due: p.due_date.to_string(),
                state: label(lang, st),
                state_code: st,
            }
        })
        .collect()
}

/// The currency of each loan in `loans` (for the amounts of lifecycle records), read from
/// the store; a loan the store no longer has is left out (its amounts show in minor units).
async fn loan_currencies(
    state: &AppState,
    loans: impl Iterator<Item = &str>,
) -> Result<std::collections::HashMap<String, String>, arrears_store::StoreError> {
    let mut out = std::collections::HashMap::new();
    for l in loans {
        if out.contains_key(l) {
            continue;
        }
        if let Some(book) = state.store().loan_book(l).await? {
            out.insert(l.to_owned(), book.currency);
        }
    }
    Ok(out)
}

/// The borrower's lifecycle records (`BorrowerContacts::lifecycle`: notices, the latest
/// preference per channel, payment plans, placements, sales, credit disputes, legal cases),
/// newest first within each list, written for the pages.
fn lifecycle_view(
    lang: Lang,
    bc: &BorrowerContacts,
    currencies: &std::collections::HashMap<String, String>,
) -> LifecycleView {
    let t = lang.texts();
    let lc = &bc.lifecycle;
    let me = &bc.borrower.id;
    let loan_of =
        |l: Option<&LoanId>| l.map_or_else(|| t.all_loans.to_owned(), |l| l.as_str().to_owned());
    let money = |minor: i64, loan: &LoanId| match currencies.get(loan.as_str()) {
        Some(c) => format_minor(minor, c),
        None => minor.to_string(),
    };
    let hm = |x: jiff::civil::Time| x.strftime("%H:%M").to_string();
    let prefs: Vec<ChannelPrefView> = lc
        .preferences
        .iter()
        .filter(|p| p.borrower_id == *me)
        .map(|p| ChannelPrefView {
            channel: label(lang, &p.channel),
            channel_code: p.channel.to_string(),
            opted_out: p.opted_out,
            hours: match (p.contact_from, p.contact_to) {
                (Some(a), Some(z)) => format!("{} – {}", hm(a), hm(z)),
                _ => "—".to_owned(),
            },
            updated: when(p.updated_at),
        })
        .collect();
    let calls_declined = lc
        .preferences
        .iter()
        .any(|p| p.borrower_id == *me && &*p.channel == "call" && p.opted_out);
    let mut notices: Vec<NoticeView> = lc
        .notices
        .iter()
        .filter(|n| n.borrower_id == *me)
        .map(|n| NoticeView {
            kind: label(lang, &n.kind),
            kind_code: n.kind.to_string(),
            sent: when(n.sent_at),
            channel: label(lang, &n.channel),
            loan: loan_of(n.loan_id.as_ref()),
        })
        .collect();
    notices.reverse();
    let mut plans: Vec<LcPlanView> = lc
        .plans
        .iter()
        .map(|p| {
            let total: i128 = p
                .installments
                .iter()
                .map(|i| i128::from(i.amount_minor))
                .sum();
            let dates = match (p.installments.first(), p.installments.last()) {
                (Some(a), Some(z)) if a.seq != z.seq => format!("{} – {}", a.due_date, z.due_date),
                (Some(a), _) => a.due_date.to_string(),
                _ => String::new(),
            };
            LcPlanView {
                id: p.plan_id.to_string(),
                loan: p.loan_id.as_str().to_owned(),
                status: label(lang, &p.status),
                status_code: p.status.to_string(),
                since: when(p.status_at.unwrap_or(p.created_at)),
                count: p.installments.len(),
                total: money(i64::try_from(total).unwrap_or(i64::MAX), &p.loan_id),
                dates,
                rows: p
                    .installments
                    .iter()
                    .map(|i| (i.due_date.to_string(), money(i.amount_minor, &p.loan_id)))
                    .collect(),
            }
        })
        .collect();
    plans.reverse();
    let mut placements: Vec<PlacementView> = lc
        .placements
        .iter()
        .map(|p| PlacementView {
            id: p.placement_id.to_string(),
            loan: p.loan_id.as_str().to_owned(),
            agency: p.agency_id.to_string(),
            placed: when(p.placed_at),
            recalled: p.recalled_at.map(when).unwrap_or_default(),
        })
        .collect();
    placements.reverse();
    let mut sales: Vec<SaleView> = lc
        .sales
        .iter()
        .map(|x| SaleView {
            id: x.sale_id.to_string(),
            loan: x.loan_id.as_str().to_owned(),
            buyer: x.buyer.to_string(),
            sold: when(x.sold_at),
        })
        .collect();
    sales.reverse();
    let mut credit_disputes: Vec<CreditDisputeView> = lc
        .credit_disputes
        .iter()
        .filter(|d| d.borrower_id == *me)
        .map(|d| CreditDisputeView {
            id: d.dispute_id.to_string(),
            loan: loan_of(d.loan_id.as_ref()),
            opened: when(d.opened_at),
            resolved: d.resolved_at.map(when).unwrap_or_default(),
        })
        .collect();
    credit_disputes.reverse();
    let legal = lc
        .legal_cases
        .iter()
        .map(|c| LegalView {
            id: c.case_id.to_string(),
            loan: c.loan_id.as_str().to_owned(),
            status: label(lang, &c.status),
            status_code: c.status.to_string(),
            updated: c.updated_on.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    LifecycleView {
        notices,
        prefs,
        calls_declined,
        plans,
        placements,
        sales,
        credit_disputes,
        legal,
    }
}

fn debt_view(s: &arrears_store::SnapshotRow) -> DebtView {
    let m = |v: i64| format_minor(v, &s.currency);
    DebtView {
        as_of: s.as_of.to_string(),
        dpd: s.dpd,
        bucket: s.bucket.clone(),
        overdue: m(s.overdue_minor),
        overdue_fee: m(s.overdue_fee_minor),
        overdue_interest: m(s.overdue_interest_minor),
        overdue_principal: m(s.overdue_principal_minor),
        penalty: m(s.penalty_accrued_minor.saturating_sub(s.penalty_paid_minor)),
        penalty_capped: s.penalty_rate_capped,
        outstanding_principal: m(s.outstanding_principal_minor),
    }
}

/// The borrower's own contacts, newest first; `staff` pages also mark the contacts recorded
/// as violations with their rule ids.
fn contact_views(lang: Lang, bc: &BorrowerContacts, t: &Texts, staff: bool) -> Vec<ContactView> {
    // Only the borrower's own contacts: another borrower's call to a shared number counts in
    // the caps but is not this borrower's to see.
    let own: Vec<&arrears_store::StoredContact> = bc.own_contacts().collect();
    own.into_iter()
        .rev()
        .map(|c| ContactView {
            at: when(c.row.at),
            channel: label(lang, &c.row.channel),
            direction: if &*c.row.direction == "inbound" {
                t.inbound.to_owned()
            } else {
                t.outbound.to_owned()
            },
            outcome: label(lang, &c.row.outcome),
            violation: if staff {
                c.violation.as_deref().unwrap_or_default().join(", ")
            } else {
                String::new()
            },
        })
        .collect()
}

fn holds(bc: &BorrowerContacts, t: &'static Texts) -> Vec<&'static str> {
    let b = &bc.borrower;
    [
        (b.dispute_open, t.hold_dispute),
        (b.cease_contact, t.hold_cease),
        (b.bankrupt, t.hold_bankrupt),
        (b.deceased, t.hold_deceased),
        (b.hardship, t.hold_hardship),
    ]
    .into_iter()
    .filter_map(|(on, s)| on.then_some(s))
    .collect()
}

/// A contact on `channel` to the borrower's own number or address about `loan`.
fn proposal(bc: &BorrowerContacts, loan: &LoanId, channel: Channel) -> ProposedContact {
    let b = &bc.borrower;
    let target = match channel {
        Channel::Email => b.email.as_deref().and_then(|e| Target::email(e).ok()),
        _ => b.phone.as_deref().and_then(|p| Target::phone(p).ok()),
    };
    let mut p = ProposedContact::new(b.id.clone(), channel, Party::Borrower, target);
    p.loan_id = Some(loan.clone());
    p
}

/// What each channel allows at `at`, by the same `check` as `POST /v1/contacts/check`; an
/// allowed channel is probed every 15 minutes over the next day for when it stops.
fn channel_views(
    state: &AppState,
    lang: Lang,
    bc: &BorrowerContacts,
    loan: &LoanId,
    at: Timestamp,
) -> Vec<ChannelView> {
    let t = lang.texts();
    // One decision context and policy for every probe (the same as the API's check).
    let ctx = arrears_app::from_store(bc);
    let decide = |p: &ProposedContact, at: Timestamp| {
        arrears_app::decide(p, &ctx, at, &state.policy_at(at).packs)
    };
    [Channel::Call, Channel::Sms, Channel::Email]
        .into_iter()
        .map(|ch| {
            let p = proposal(bc, loan, ch);
            match decide(&p, at) {
                Decision::Allow(_) => {
                    let step = SignedDuration::from_mins(15);
                    let stop = (1..=96).find_map(|i| {
                        let when_ = at.saturating_add(step * i).ok()?;
                        (!decide(&p, when_).is_allowed()).then_some(when_)
                    });
                    ChannelView {
                        channel: label(lang, ch.code()),
                        allowed: true,
                        until: stop.map_or_else(
                            || t.next_24h.to_owned(),
                            |s| format!("{} {} UTC", t.until, when(s)),
                        ),
                        not_before: String::new(),
                        rule_ids: String::new(),
                    }
                }
                Decision::Deny {
                    rule_ids,
                    earliest_allowed,
                } => ChannelView {
                    channel: label(lang, ch.code()),
                    allowed: false,
                    until: String::new(),
                    not_before: earliest_allowed.map_or_else(
                        || t.never_by_waiting.to_owned(),
                        |e| format!("{} {} UTC", t.not_before, when(e)),
                    ),
                    rule_ids: rule_ids
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            }
        })
        .collect()
}

/// The loan and its borrower when the staff user may work it: 404 for no such loan, 403 for
/// an agent's unassigned loan, a redirect to the login page without a staff session.
async fn staff_loan(
    state: &AppState,
    ctx: &Ctx,
    loan_id: &str,
) -> Result<(String, LoanId, String), Response> {
    let Some((username, role)) = ctx.staff() else {
        return Err(if ctx.borrower().is_some() {
            forbidden(ctx)
        } else {
            redirect("/login")
        });
    };
    let Ok(loan) = LoanId::parse("loan_id", loan_id) else {
        return Err(not_found(ctx));
    };
    let borrower = match state.store().loan_borrower(loan.as_str()).await {
        Ok(Some(b)) => b,
        Ok(None) => return Err(not_found(ctx)),
        Err(e) => return Err(internal(ctx, e)),
    };
    if role == "agent" {
        match state.store().assignee(loan.as_str()).await {
            Ok(Some(a)) if a == username => {}
            Ok(_) => return Err(forbidden(ctx)),
            Err(e) => return Err(internal(ctx, e)),
        }
    }
    Ok((username.to_owned(), loan, borrower))
}

async fn account_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
) -> Response {
    let (username, loan, borrower_id) = match staff_loan(&state, &ctx, &loan_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let store = state.store();
    if let Err(e) = log_access(
        &state,
        format!("user:{username}"),
        "pages.account",
        &borrower_id,
        Some(loan.as_str()),
    )
    .await
    {
        return internal(&ctx, e);
    }
    let (bc, snaps, notes) = match (
        store.borrower_contacts(&borrower_id).await,
        store.loan_snapshots(loan.as_str()).await,
        store.dispute_notes(&borrower_id).await,
    ) {
        (Ok(Some(bc)), Ok(s), Ok(n)) => (bc, s, n),
        (Ok(None), _, _) => return not_found(&ctx),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(&ctx, e),
    };
    let zone = state.config().business_tz.clone();
    let today = zone.date_of(now());
    let (book, proposals, plans) = match (
        store.loan_book(loan.as_str()).await,
        store.plan_proposals(loan.as_str()).await,
        store.loan_plans(loan.as_str(), today, &zone).await,
    ) {
        (Ok(Some(b)), Ok(p), Ok(l)) => (b, p, l),
        (Ok(None), _, _) => return not_found(&ctx),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(&ctx, e),
    };
    let currencies = match loan_currencies(
        &state,
        bc.lifecycle
            .plans
            .iter()
            .map(|p| p.loan_id.as_str())
            .filter(|l| *l != loan.as_str()),
    )
    .await
    {
        Ok(mut c) => {
            c.insert(loan.as_str().to_owned(), book.currency.clone());
            c
        }
        Err(e) => return internal(&ctx, e),
    };
    let t = ctx.t();
    let page = AccountPage {
        chrome: ctx.chrome(),
        loan_id: loan.as_str().to_owned(),
        borrower_id: borrower_id.clone(),
        debt: snaps.last().map(debt_view),
        contacts: contact_views(ctx.lang, &bc, t, true),
        holds: holds(&bc, t),
        notes: notes.into_iter().map(|n| (when(n.at), n.body)).collect(),
        channels: channel_views(&state, ctx.lang, &bc, &loan, now()),
        outcomes: CALL_OUTCOMES
            .iter()
            .map(|c| OutcomeView {
                code: c,
                label: label(ctx.lang, c),
            })
            .collect(),
        installments: installment_views(&book),
        payments: payment_views(ctx.lang, &book),
        promises: promise_views(ctx.lang, &book, today, &zone),
        plans: plan_views(ctx.lang, &plans, &book.currency, today),
        lifecycle: lifecycle_view(ctx.lang, &bc, &currencies),
        proposals: proposals
            .iter()
            .map(|p| {
                let mut line = format!(
                    "{} UTC: {} × {} {} {}",
                    when(p.created_at),
                    p.installments,
                    format_minor(p.amount_minor, &book.currency),
                    t.from_date,
                    p.first_due
                );
                if !p.note.is_empty() {
                    line.push_str(" — ");
                    line.push_str(&p.note);
                }
                line
            })
            .collect(),
        today: today.to_string(),
    };
    render(&ctx, StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct CallForm {
    outcome: Option<String>,
    promise_amount: Option<String>,
    promise_due: Option<String>,
}

/// An amount written in major units (`250`, `250.5`, `1,250.00`) as minor units of a
/// currency with `digits` decimals; `None` for anything else, zero or less, or too large.
pub fn parse_major(s: &str, digits: u32) -> Option<i64> {
    let s: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits_only = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if !digits_only(whole) || !digits_only(frac) || frac.len() > digits as usize || whole.len() > 15
    {
        return None;
    }
    let scale = 10i64.checked_pow(digits)?;
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..digits as usize {
        f = f.checked_mul(10)?;
    }
    let v = w.checked_mul(scale)?.checked_add(f)?;
    (v > 0).then_some(v)
}

/// A promise from the call form: `Ok(None)` when its fields are empty, an error when they
/// are given but do not make a promise (outcome, amount, date from `today` on).
fn promise_fields(
    outcome: &str,
    amount: Option<&str>,
    due: Option<&str>,
    currency: &str,
    today: jiff::civil::Date,
) -> Result<Option<(i64, jiff::civil::Date)>, ()> {
    let amount = amount.map(str::trim).filter(|a| !a.is_empty());
    let due = due.map(str::trim).filter(|d| !d.is_empty());
    if amount.is_none() && due.is_none() && outcome != "promise" {
        return Ok(None);
    }
    let digits = Currency::parse("currency", currency).map_or(2, |c| c.minor_digits());
    let (Some(a), Some(d)) = (
        amount.and_then(|a| parse_major(a, digits)),
        due.and_then(|d| d.parse::<jiff::civil::Date>().ok()),
    ) else {
        return Err(());
    };
    if outcome != "promise" || d < today {
        return Err(());
    }
    Ok(Some((a, d)))
}

#[derive(Deserialize)]
struct PaymentPlanForm {
    count: Option<String>,
    amount: Option<String>,
    first_due: Option<String>,
    every: Option<String>,
}

/// The instalments of a plan form: `count` equal amounts from `first_due` on, a month, two
/// weeks or a week apart (a monthly date past the month's end falls on its last day).
/// `None` when a field is missing or out of range.
fn plan_instalments(
    f: &PaymentPlanForm,
    currency: &str,
    today: jiff::civil::Date,
) -> Option<Vec<(jiff::civil::Date, i64)>> {
    let count: i64 = f.count.as_deref()?.trim().parse().ok()?;
    if !(1..=60).contains(&count) {
        return None;
    }
    let digits = Currency::parse("currency", currency).map_or(2, |c| c.minor_digits());
    let amount = parse_major(f.amount.as_deref()?.trim(), digits)?;
    if amount <= 0
        || i128::from(amount) * i128::from(count)
            > i128::from(arrears_domain::types::MAX_AMOUNT_MINOR)
    {
        return None;
    }
    let first: jiff::civil::Date = f.first_due.as_deref()?.trim().parse().ok()?;
    if first < today {
        return None;
    }
    let step = match f.every.as_deref().unwrap_or("month") {
        "month" => jiff::Span::new().months(1),
        "two_weeks" => jiff::Span::new().weeks(2),
        "week" => jiff::Span::new().weeks(1),
        _ => return None,
    };
    (0..count)
        .map(|i| Some((first.checked_add(step.checked_mul(i).ok()?).ok()?, amount)))
        .collect()
}

/// A staff form posted for a loan the user may work: the user, the loan, its borrower and
/// the form, or the page that refuses it (no or a wrong CSRF token, a form that does not
/// parse, a loan that is not theirs).
#[allow(clippy::result_large_err)]
async fn staff_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    ctx: &Ctx,
    loan_id: &str,
    body: &Bytes,
) -> Result<(String, LoanId, String, T), Response> {
    let csrf = form::<CsrfOnly>(body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return Err(csrf_refused(ctx));
    }
    let (username, loan, borrower_id) = staff_loan(state, ctx, loan_id).await?;
    let f = form::<T>(body).ok_or_else(|| csrf_refused(ctx))?;
    Ok((username, loan, borrower_id, f))
}

/// Records a payment plan agreed with the borrower (active at once), through the store call
/// of `POST /v1/payment-plans`; its instalments are then followed from the payments.
async fn record_payment_plan(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, _, f) =
        match staff_form::<PaymentPlanForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let book = match state.store().loan_book(loan.as_str()).await {
        Ok(Some(b)) => b,
        Ok(None) => return not_found(&ctx),
        Err(e) => return internal(&ctx, e),
    };
    let at = now();
    let today = state.config().business_tz.date_of(at);
    let Some(installments) = plan_instalments(&f, &book.currency, today) else {
        return message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t().record_plan,
            ctx.t().plan_needed,
            back,
        );
    };
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let plan_id = format!("page-plan-{}", &rand[..32]);
    let actor = format!("user:{username}");
    let plan = arrears_store::NewPlan {
        plan_id: plan_id.clone(),
        loan_id: loan.as_str().to_owned(),
        created_at: at,
        created_by: actor.clone(),
        installments,
        status: "active".to_owned(),
    };
    let raw = serde_json::json!({
        "plan_id": plan_id,
        "loan_id": loan.as_str(),
        "created_at": at.to_string(),
        "created_by": actor,
        "status": "active",
        "installments": plan
            .installments
            .iter()
            .map(|(d, a)| serde_json::json!({"due_date": d.to_string(), "amount_minor": a}))
            .collect::<Vec<_>>(),
    });
    let b = crate::work::body_of(&raw);
    let key = format!("payment_plan:{plan_id}");
    let actor = Actor(actor);
    let meta = crate::work::meta(&key, "payment_plan", &b, &actor);
    match state.store().record_plan(&meta, &plan).await {
        Ok(_) => redirect(&format!("/accounts/{}", loan.as_str())),
        // A plan that does not cover the arrears, or one the loan's state refuses.
        Err(arrears_store::WorkError::Invalid(why)) => message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t().record_plan,
            format!("{} {why}.", ctx.t().plan_too_small),
            back,
        ),
        Err(arrears_store::WorkError::State { message: why, .. }) => {
            message(&ctx, StatusCode::CONFLICT, ctx.t().record_plan, why, back)
        }
        Err(e) => internal(&ctx, e),
    }
}

/// Logs a call made now, through the path of `POST /v1/contacts`: refused with the rule ids
/// when the engine denies it.
async fn log_call(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let (username, loan, borrower_id, f) =
        match staff_form::<CallForm>(&state, &ctx, &loan_id, &body).await {
            Ok(x) => x,
            Err(refused) => return refused,
        };
    let back = Some(format!("/accounts/{}", loan.as_str()));
    let outcome = f
        .outcome
        .clone()
        .filter(|o| CALL_OUTCOMES.contains(&o.as_str()));
    let Some(outcome) = outcome else {
        return message(
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.t().log_call,
            ctx.t().choose_outcome,
            back,
        );
    };
    let (phone, book) = match (
        state.store().borrower_contacts(&borrower_id).await,
        state.store().loan_book(loan.as_str()).await,
    ) {
        (Ok(Some(bc)), Ok(Some(book))) => (bc.borrower.phone.map(|p| p.to_string()), book),
        (Ok(_), Ok(_)) => return not_found(&ctx),
        (Err(e), _) | (_, Err(e)) => return internal(&ctx, e),
    };
    let today = state.config().business_tz.date_of(now());
    let promise = match promise_fields(
        &outcome,
        f.promise_amount.as_deref(),
        f.promise_due.as_deref(),
        &book.currency,
        today,
    ) {
        Ok(p) => p,
        Err(()) => {
            return message(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                ctx.t().log_call,
                ctx.t().promise_needed,
                back,
            );
        }
    };
    let Ok(id) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let req = ContactRequest {
        contact_id: format!("page-{}", &id[..32]),
        borrower_id,
        loan_id: Some(loan.as_str().to_owned()),
        channel: "call".into(),
        direction: None,
        target: phone,
        party: None,
        at: now().to_string(),
        outcome,
        agency_id: None,
        text: None,
        lender: None,
        code: None,
    };
    let raw = match serde_json::to_value(&req) {
        Ok(v) => v,
        Err(e) => return internal(&ctx, e),
    };
    let result = match api::contact_event(&req) {
        Ok((contact, proposed)) => {
            let id = contact.contact_id.clone();
            match api::ingest_reporting(
                &state,
                &Actor(format!("user:{username}")),
                &id,
                "contact",
                &raw,
                ServiceEvent::Contact(contact),
                proposed,
            )
            .await
            {
                Ok((_, Some(rule_ids))) => {
                    // Dialled, and forbidden: kept as a violation; the agent is told.
                    let t = ctx.t();
                    return render(
                        &ctx,
                        StatusCode::OK,
                        &MessagePage {
                            chrome: ctx.chrome(),
                            title: t.log_call,
                            text: t.call_violation.to_owned(),
                            rule_ids,
                            link: None,
                            back,
                        },
                    );
                }
                Ok((r, None)) => Ok(r),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let result = match (result, promise) {
        (Ok(_), Some((amount_minor, due_date))) => {
            record_promise(&state, &username, &loan, amount_minor, due_date, &id).await
        }
        (r, _) => r,
    };
    match result {
        Ok(_) => redirect(&format!("/accounts/{}", loan.as_str())),
        Err(e) => {
            let t = ctx.t();
            let (text, rule_ids) = match e.denial {
                Some((rules, _)) => (t.call_refused.to_owned(), rules),
                None if e.status.is_server_error() => return failed(ctx.lang),
                None => (e.message, Vec::new()),
            };
            render(
                &ctx,
                e.status,
                &MessagePage {
                    chrome: ctx.chrome(),
                    title: t.log_call,
                    text,
                    rule_ids,
                    link: None,
                    back,
                },
            )
        }
    }
}

/// The promise made on a logged call: the `promise_to_pay` event of `POST /v1/events`, by
/// the same ingest path (idempotent by its id, derived from the call's).
async fn record_promise(
    state: &AppState,
    username: &str,
    loan: &LoanId,
    amount_minor: i64,
    due_date: jiff::civil::Date,
    call_id: &str,
) -> Result<Response, ApiError> {
    let promise_id = format!("page-promise-{}", &call_id[..32]);
    let at = now();
    let raw = serde_json::json!({
        "event_id": promise_id,
        "type": "promise_to_pay",
        "promise_id": promise_id,
        "loan_id": loan.as_str(),
        "created_at": at.to_string(),
        "amount_minor": amount_minor,
        "due_date": due_date.to_string(),
    });
    let event = ServiceEvent::Promise {
        promise_id: promise_id.clone(),
        loan_id: loan.clone(),
        created_at: at,
        amount_minor,
        due_date,
    };
    api::ingest(
        state,
        &Actor(format!("user:{username}")),
        &promise_id,
        "promise_to_pay",
        &raw,
        event,
        None,
    )
    .await
}

/// A staff user issues a one-time portal link for the loan's borrower.
async fn issue_link(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(loan_id): Path<String>,
    body: Bytes,
) -> Response {
    let f = form::<CsrfOnly>(&body);
    if !ctx.csrf_ok(f.as_ref().and_then(|f| f.csrf.as_deref())) {
        return csrf_refused(&ctx);
    }
    let (username, loan, borrower_id) = match staff_loan(&state, &ctx, &loan_id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok((code, hash)) = new_portal_code() else {
        return internal(&ctx, "no randomness");
    };
    let at = now();
    let expires = at.saturating_add(PORTAL_CODE_VALID).unwrap_or(at);
    if let Err(e) = state
        .store()
        .create_portal_code(
            &hash,
            &borrower_id,
            &format!("user:{username}"),
            at,
            expires,
        )
        .await
    {
        return internal(&ctx, e);
    }
    let base = format!("http://{}", ctx.host.as_deref().unwrap_or("localhost"));
    render(
        &ctx,
        StatusCode::OK,
        &MessagePage {
            chrome: ctx.chrome(),
            title: ctx.t().portal_link,
            text: ctx.t().link_issued.to_owned(),
            rule_ids: Vec::new(),
            link: Some(portal_link(&base, &code)),
            back: Some(format!("/accounts/{}", loan.as_str())),
        },
    )
}

// ---------------------------------------------------------------------------------------
// The manager dashboard.

struct RollView {
    from: String,
    to: String,
    loans: u64,
    rate: String,
    currency: String,
}

struct CureView {
    period: String,
    delinquent: u64,
    cured: u64,
    rate: String,
}

struct AgentView {
    agent: String,
    contacts: u64,
    right_party: u64,
    promises: u64,
}

struct ArmView {
    rule_id: String,
    arm: String,
    loans: usize,
    delinquent: u64,
    cured: u64,
    rate: String,
    collected: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    plan_date: String,
    plan_note: String,
    snapshot: Option<String>,
    period: Option<String>,
    bucket_chart: String,
    stage_chart: String,
    rolls: Vec<RollView>,
    cures: Vec<CureView>,
    cure_chart: String,
    promise_kept: String,
    promise_counts: (u64, u64, u64),
    promise_chart: String,
    blocked: Vec<(String, u64)>,
    blocked_chart: String,
    agents: Vec<AgentView>,
    agent_chart: String,
    arms: Vec<ArmView>,
    arm_chart: String,
    compliance: ComplianceView,
}

/// A contact recorded although a rule forbade it.
struct ViolationView {
    at: String,
    borrower: String,
    loan: String,
    channel: String,
    outcome: String,
    agency: String,
    rules: String,
}

/// The dashboard's compliance view: violations over the last [`VIOLATION_DAYS`] UTC days
/// to the business date.
struct ComplianceView {
    period: String,
    total: usize,
    by_rule: Vec<(String, u64)>,
    rule_chart: String,
    day_chart: String,
    /// (day, rule id, contacts), by day then rule.
    by_rule_day: Vec<(String, String, u64)>,
    latest: Vec<ViolationView>,
}

/// How many UTC days, to the business date, the compliance view covers.
const VIOLATION_DAYS: i64 = 30;
/// How many of the latest violations the dashboard lists.
const VIOLATIONS_LISTED: usize = 50;

/// The violations recorded on the [`VIOLATION_DAYS`] UTC days to `as_of` (the store counts
/// them by UTC day): by rule, by day, by rule and day, and the latest listed.
async fn compliance_view(
    state: &AppState,
    lang: Lang,
    as_of: jiff::civil::Date,
) -> Result<ComplianceView, String> {
    let t = lang.texts();
    let first = as_of
        .checked_sub(jiff::Span::new().days(VIOLATION_DAYS - 1))
        .map_err(|e| e.to_string())?;
    let end = as_of.tomorrow().map_err(|e| e.to_string())?;
    let utc = |d: jiff::civil::Date| {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let (from, to) = (utc(first)?, utc(end)?);
    let store = state.store();
    let counts = store
        .violation_counts_by_rule_and_day(from, to)
        .await
        .map_err(|e| e.to_string())?;
    let list = store
        .violations(from, to)
        .await
        .map_err(|e| e.to_string())?;
    let mut by_rule: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for c in &counts {
        *by_rule.entry(c.rule_id.clone()).or_default() += c.contacts;
    }
    let by_rule: Vec<(String, u64)> = by_rule.into_iter().collect();
    // Contacts per day (a contact that broke two rules counts once here).
    let mut per_day: std::collections::BTreeMap<jiff::civil::Date, u64> =
        std::collections::BTreeMap::new();
    for v in &list {
        *per_day
            .entry(jiff::tz::Offset::UTC.to_datetime(v.contact.row.at).date())
            .or_default() += 1;
    }
    let days: Vec<arrears_report::Bar> = first
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= as_of)
        .map(|d| {
            let n = per_day.get(&d).copied().unwrap_or(0);
            // The day of the month (the period is printed above the chart): 30 dates fit.
            arrears_report::Bar {
                label: d.day().to_string(),
                value: Some(u128::from(n)),
                shown: if n == 0 { String::new() } else { n.to_string() },
            }
        })
        .collect();
    let latest = list
        .iter()
        .rev()
        .take(VIOLATIONS_LISTED)
        .map(|v| {
            let c = &v.contact;
            ViolationView {
                at: when(c.row.at),
                borrower: c.borrower_id.as_str().to_owned(),
                loan: c
                    .loan_id
                    .as_ref()
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                channel: label(lang, &c.row.channel),
                outcome: label(lang, &c.row.outcome),
                agency: c.row.agency_id.as_deref().unwrap_or_default().to_owned(),
                rules: v.rule_ids.join(", "),
            }
        })
        .collect();
    Ok(ComplianceView {
        period: format!("{first} – {as_of}"),
        total: list.len(),
        rule_chart: arrears_report::bars(
            "violations",
            t.violations_by_rule,
            t.violations_n,
            &count_bars(&by_rule),
            1,
        ),
        by_rule,
        day_chart: arrears_report::bars(
            "violations-by-day",
            t.violations_by_day,
            t.violations_n,
            &days,
            1,
        ),
        by_rule_day: counts
            .into_iter()
            .map(|c| (c.day.to_string(), c.rule_id, c.contacts))
            .collect(),
        latest,
    })
}

/// How many business dates of snapshots the roll, cure and arm figures span at most.
const DASHBOARD_DAYS: i64 = 31;

fn count_bars(items: &[(String, u64)]) -> Vec<arrears_report::Bar> {
    items
        .iter()
        .map(|(l, n)| arrears_report::Bar {
            label: l.clone(),
            value: Some(u128::from(*n)),
            shown: n.to_string(),
        })
        .collect()
}

fn rate_bar(label: String, p: arrears_report::Pct) -> arrears_report::Bar {
    arrears_report::Bar {
        label,
        value: p.hundredths(),
        shown: p.to_string(),
    }
}

/// Amounts per currency, `12.00 USD + 3.00 EUR`.
fn per_currency(sums: &std::collections::BTreeMap<String, i64>) -> String {
    if sums.is_empty() {
        return "0".to_owned();
    }
    sums.iter()
        .map(|(c, v)| format_minor(*v, c))
        .collect::<Vec<_>>()
        .join(" + ")
}

async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DateQuery>,
) -> Response {
    let Some((_, role)) = ctx.staff() else {
        return if ctx.borrower().is_some() {
            forbidden(&ctx)
        } else {
            redirect("/login")
        };
    };
    if !is_manager(role) {
        return forbidden(&ctx);
    }
    let t = ctx.t();
    let store = state.store();
    let as_of = business_date(&state, &q);
    let plan = match workbench::day_plan(&state, as_of).await {
        Ok(p) => p,
        Err(e) => return internal(&ctx, e),
    };
    let from = jiff::civil::date(1900, 1, 1);
    let mut dates = match store.snapshot_dates(from, as_of).await {
        Ok(d) => d,
        Err(e) => return internal(&ctx, e),
    };
    let keep = dates
        .len()
        .saturating_sub(usize::try_from(DASHBOARD_DAYS).unwrap_or(31));
    dates.drain(..keep);
    let mut days = Vec::with_capacity(dates.len());
    for d in &dates {
        match store.snapshot_rows(*d).await {
            Ok(rows) => days.push((*d, rows)),
            Err(e) => return internal(&ctx, e),
        }
    }
    let config = state.config();
    let buckets: Vec<String> = config.buckets.names().to_vec();
    let stages: Vec<String> = config.stages.names().to_vec();
    // The distribution on the latest snapshot date.
    let latest = days.last();
    let dist = |names: &[String], pick: fn(&arrears_store::SnapshotRow) -> &str| {
        names
            .iter()
            .map(|n| {
                let c = latest.map_or(0, |(_, rows)| {
                    rows.iter().filter(|r| pick(r) == n.as_str()).count()
                });
                (n.clone(), u64::try_from(c).unwrap_or(u64::MAX))
            })
            .collect::<Vec<_>>()
    };
    let by_bucket = dist(&buckets, |r| r.bucket.as_str());
    let by_stage = dist(&stages, |r| r.stage.as_str());
    // Roll and cure rates over the snapshots, by the report crate.
    let history = arrears_report::History {
        days: days
            .iter()
            .map(|(d, rows)| arrears_report::Day {
                as_of: *d,
                loans: rows
                    .iter()
                    .filter(|r| r.disbursed_on <= *d)
                    .map(|r| arrears_report::LoanDay {
                        loan_id: r.loan_id.clone(),
                        status: r.status.clone(),
                        dpd: r.dpd,
                        bucket: r.bucket.clone(),
                        stage: r.stage.clone(),
                        overdue_minor: r.overdue_minor,
                        outstanding_principal_minor: r.outstanding_principal_minor,
                        paid_minor: r.paid_minor,
                        currency: r.currency.clone(),
                        disbursed_on: r.disbursed_on,
                    })
                    .collect(),
            })
            .collect(),
        buckets: buckets.clone(),
        stages: stages.clone(),
    };
    let (rolls, cures) = if days.len() >= 2 {
        match arrears_report::build(&history) {
            Ok(r) => {
                let rolls = r
                    .roll_rates
                    .iter()
                    .filter(|x| x.loans > 0)
                    .map(|x| RollView {
                        from: x.from_bucket.clone(),
                        to: x.to_bucket.clone(),
                        loans: x.loans,
                        rate: x.roll_rate.to_string(),
                        currency: x.currency.clone(),
                    })
                    .collect();
                let mut per: std::collections::BTreeMap<
                    (jiff::civil::Date, jiff::civil::Date),
                    (u64, u64),
                > = std::collections::BTreeMap::new();
                for p in &r.periods {
                    let e = per.entry((p.from_date, p.to_date)).or_default();
                    e.0 += p.delinquent_start;
                    e.1 += p.cured;
                }
                let cures = per
                    .into_iter()
                    .map(|((f, to), (d, c))| CureView {
                        period: format!("{f} → {to}"),
                        delinquent: d,
                        cured: c,
                        rate: arrears_report::Pct::new(c, d).to_string(),
                    })
                    .collect();
                (rolls, cures)
            }
            Err(e) => return internal(&ctx, e),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let cure_chart = arrears_report::bars(
        "cure-rate",
        t.cure_rate,
        "%",
        &cures
            .iter()
            .map(|c: &CureView| {
                rate_bar(
                    c.period.clone(),
                    arrears_report::Pct::new(c.cured, c.delinquent),
                )
            })
            .collect::<Vec<_>>(),
        100,
    );
    // Every promise made by the date, by its state on it (read live).
    let books = match store.promise_books().await {
        Ok(b) => b,
        Err(e) => return internal(&ctx, e),
    };
    let zone = config.business_tz.clone();
    let mut pc = (0u64, 0u64, 0u64);
    for b in &books {
        let pays = book_payments(b);
        for p in b
            .promises
            .iter()
            .filter(|p| zone.date_of(p.created_at) <= as_of)
        {
            match workbench::promise_state(
                p.created_at,
                p.amount_minor,
                p.due_date,
                &pays,
                as_of,
                &zone,
            ) {
                "kept" => pc.0 += 1,
                "broken" => pc.1 += 1,
                _ => pc.2 += 1,
            }
        }
    }
    struct Pc {
        kept: u64,
        broken: u64,
        pending: u64,
    }
    let pc = Pc {
        kept: pc.0,
        broken: pc.1,
        pending: pc.2,
    };
    let kept_rate = arrears_report::Pct::new(pc.kept, pc.kept + pc.broken);
    let promise_chart = arrears_report::bars(
        "promises",
        t.promises,
        t.promises_n,
        &count_bars(&[
            (label(ctx.lang, "kept"), pc.kept),
            (label(ctx.lang, "broken"), pc.broken),
            (label(ctx.lang, "pending"), pc.pending),
        ]),
        1,
    );
    let blocked: Vec<(String, u64)> = plan
        .blocked_by_rule
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    // What each user recorded on the business date.
    let start = as_of
        .to_zoned(config.business_tz.tz().clone())
        .map_or_else(|_| now(), |z| z.timestamp());
    let activity = match store.activity_since(start).await {
        Ok(a) => a,
        Err(e) => return internal(&ctx, e),
    };
    let agents: Vec<AgentView> = activity
        .into_iter()
        .map(|a| AgentView {
            agent: a.actor.strip_prefix("user:").unwrap_or(&a.actor).to_owned(),
            contacts: a.contacts,
            right_party: a.right_party,
            promises: a.promises,
        })
        .collect();
    // Arms: the plan's loans per strategy rule and arm, and how they did over the snapshots.
    let first: std::collections::HashMap<&str, &arrears_store::SnapshotRow> = days
        .first()
        .map(|(_, rows)| rows.iter().map(|r| (r.loan_id.as_str(), r)).collect())
        .unwrap_or_default();
    let last: std::collections::HashMap<&str, &arrears_store::SnapshotRow> = days
        .last()
        .map(|(_, rows)| rows.iter().map(|r| (r.loan_id.as_str(), r)).collect())
        .unwrap_or_default();
    let mut arms: Vec<ArmView> = Vec::new();
    for group in plan
        .arms
        .chunk_by(|a, b| a.rule_id == b.rule_id && a.arm == b.arm)
    {
        let Some(head) = group.first() else { continue };
        let (mut delinquent, mut cured) = (0u64, 0u64);
        let mut collected: std::collections::BTreeMap<String, i64> =
            std::collections::BTreeMap::new();
        for a in group {
            let (Some(f), Some(l)) = (first.get(a.loan_id.as_str()), last.get(a.loan_id.as_str()))
            else {
                continue;
            };
            if days.len() >= 2 && f.dpd > 0 {
                delinquent += 1;
                if l.dpd == 0 || l.status == "paid_off" {
                    cured += 1;
                }
            }
            *collected.entry(l.currency.clone()).or_default() +=
                l.paid_minor.saturating_sub(f.paid_minor);
        }
        arms.push(ArmView {
            rule_id: head.rule_id.clone(),
            arm: head.arm.clone(),
            loans: group.len(),
            delinquent,
            cured,
            rate: arrears_report::Pct::new(cured, delinquent).to_string(),
            collected: per_currency(&collected),
        });
    }
    let arm_chart = arrears_report::bars(
        "arms",
        t.arms,
        t.loans,
        &arms
            .iter()
            .map(|a| arrears_report::Bar {
                label: format!("{}/{}", a.rule_id, a.arm),
                value: Some(a.loans as u128),
                shown: if a.rate.is_empty() {
                    a.loans.to_string()
                } else {
                    format!("{} · {}%", a.loans, a.rate)
                },
            })
            .collect::<Vec<_>>(),
        1,
    );
    let compliance = match compliance_view(&state, ctx.lang, as_of).await {
        Ok(c) => c,
        Err(e) => return internal(&ctx, e),
    };
    let page = DashboardPage {
        chrome: ctx.chrome(),
        plan_date: as_of.to_string(),
        plan_note: format!(
            "{} {} UTC ({} ms, {} loans, {} actions, {} blocked)",
            t.plan_made,
            when(plan.made_at),
            plan.millis,
            plan.loans,
            plan.actions,
            plan.blocked
        ),
        snapshot: latest.map(|(d, _)| d.to_string()),
        period: (days.len() >= 2).then(|| {
            format!(
                "{} → {}",
                days.first().map(|d| d.0.to_string()).unwrap_or_default(),
                days.last().map(|d| d.0.to_string()).unwrap_or_default()
            )
        }),
        bucket_chart: arrears_report::bars(
            "buckets",
            t.by_bucket,
            t.loans,
            &count_bars(&by_bucket),
            1,
        ),
        stage_chart: arrears_report::bars("stages", t.by_stage, t.loans, &count_bars(&by_stage), 1),
        rolls,
        cures,
        cure_chart,
        promise_kept: kept_rate.to_string(),
        promise_counts: (pc.kept, pc.broken, pc.pending),
        promise_chart,
        blocked_chart: arrears_report::bars(
            "blocked",
            t.blocked_by_rule,
            t.contacts_n,
            &count_bars(&blocked),
            1,
        ),
        blocked,
        agent_chart: arrears_report::bars(
            "agents",
            t.agent_perf,
            t.contacts_n,
            &count_bars(
                &agents
                    .iter()
                    .map(|a| (a.agent.clone(), a.contacts))
                    .collect::<Vec<_>>(),
            ),
            1,
        ),
        agents,
        arms,
        arm_chart,
        compliance,
    };
    render(&ctx, StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------
// The borrower portal.

#[derive(Deserialize)]
struct CodeQuery {
    code: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_enter.html")]
struct EnterPage {
    chrome: Chrome,
    code: String,
}

/// The link's page: a button that exchanges the code (a GET never uses it up, so a link
/// preview cannot spend it).
async fn portal_enter(ctx: Ctx, Query(q): Query<CodeQuery>) -> Response {
    match q.code.filter(|c| is_hex64(c)) {
        Some(code) => render(
            &ctx,
            StatusCode::OK,
            &EnterPage {
                chrome: ctx.chrome(),
                code,
            },
        ),
        None => message(
            &ctx,
            StatusCode::FORBIDDEN,
            ctx.t().forbidden,
            ctx.t().link_used,
            None,
        ),
    }
}

/// Exchanges the one-time code for a borrower session (once).
async fn portal_exchange(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Response {
    let code = form::<CodeQuery>(&body)
        .and_then(|f| f.code)
        .filter(|c| is_hex64(c));
    let used = || {
        message(
            &ctx,
            StatusCode::FORBIDDEN,
            ctx.t().forbidden,
            ctx.t().link_used,
            None,
        )
    };
    let Some(code) = code else { return used() };
    let (Ok(id), Ok(csrf)) = (random_hex(), random_hex()) else {
        return internal(&ctx, "no randomness");
    };
    let at = now();
    let new = NewSession {
        session_sha256: &sha256_hex(id.as_bytes()),
        csrf_token: &csrf,
        created_at: at,
        expires_at: at.saturating_add(PORTAL_SESSION).unwrap_or(at),
    };
    match state
        .store()
        .redeem_portal_code(&sha256_hex(code.as_bytes()), &new)
        .await
    {
        Ok(Some(borrower)) => {
            let mut res = redirect(&format!("/portal/b/{borrower}"));
            if let Some(c) = session_cookie(&id, PORTAL_SESSION) {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        Ok(None) => used(),
        Err(e) => internal(&ctx, e),
    }
}

struct VerifyView {
    text: &'static str,
    lender: String,
    issued_at: String,
    channel: String,
    message: String,
}

struct LoanView {
    loan_id: String,
    debt: Option<DebtView>,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    chrome: Chrome,
    borrower_id: String,
    loans: Vec<LoanView>,
    contacts: Vec<ContactView>,
    holds: Vec<&'static str>,
    verify: Option<VerifyView>,
    verify_message: Option<&'static str>,
    code: String,
    notice: Option<&'static str>,
    dispute_text: String,
    complain_regulator: &'static str,
    /// The channels offered, with whether the borrower accepts each.
    pref_channels: Vec<(&'static str, String, bool)>,
    hours_from: String,
    hours_to: String,
    cease_requested: bool,
    today: String,
    /// What is on record about the borrower: preferences, plans, a sale, open credit
    /// disputes, notices.
    lifecycle: LifecycleView,
}

/// The borrower of the session when it is the one in the URL (else the page is 403).
/// A portal form posted for the session's own borrower: that borrower and the form (`None`
/// when it does not parse), or the page that refuses it (no or a wrong CSRF token, or
/// another borrower's path). The refusal is the handler's answer at once, so its size does
/// not matter.
#[allow(clippy::result_large_err)]
fn portal_form<T: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    borrower_id: &str,
    body: &Bytes,
) -> Result<(String, Option<T>), Response> {
    let csrf = form::<CsrfOnly>(body).and_then(|f| f.csrf);
    if !ctx.csrf_ok(csrf.as_deref()) {
        return Err(csrf_refused(ctx));
    }
    let Some(b) = own_borrower(ctx, borrower_id) else {
        return Err(forbidden(ctx));
    };
    Ok((b, form::<T>(body)))
}

fn own_borrower(ctx: &Ctx, borrower_id: &str) -> Option<String> {
    ctx.borrower()
        .filter(|b| *b == borrower_id)
        .map(str::to_owned)
}

#[derive(Default)]
struct PortalExtra {
    verify: Option<VerifyView>,
    verify_message: Option<&'static str>,
    code: String,
    notice: Option<&'static str>,
    dispute_text: String,
}

async fn portal(
    state: &AppState,
    ctx: &Ctx,
    borrower_id: &str,
    action: &str,
    status: StatusCode,
    extra: PortalExtra,
) -> Response {
    let store = state.store();
    if let Err(e) = log_access(
        state,
        format!("portal:{borrower_id}"),
        action,
        borrower_id,
        None,
    )
    .await
    {
        return internal(ctx, e);
    }
    let bc = match store.borrower_contacts(borrower_id).await {
        Ok(Some(bc)) => bc,
        Ok(None) => return not_found(ctx),
        Err(e) => return internal(ctx, e),
    };
    let mut loans = Vec::new();
    for l in &bc.loan_ids {
        match store.loan_snapshots(l.as_str()).await {
            Ok(s) => loans.push(LoanView {
                loan_id: l.as_str().to_owned(),
                debt: s.last().map(debt_view),
            }),
            Err(e) => return internal(ctx, e),
        }
    }
    let currencies =
        match loan_currencies(state, bc.lifecycle.plans.iter().map(|p| p.loan_id.as_str())).await {
            Ok(c) => c,
            Err(e) => return internal(ctx, e),
        };
    let t = ctx.t();
    let complain_regulator = match bc.borrower.jurisdiction.country() {
        "CN" => t.complain_cn,
        "US" => t.complain_us,
        "GB" => t.complain_gb,
        _ => t.complain_lender,
    };
    let prefs = bc.preferences.as_ref();
    let hm = |f: fn(&(jiff::civil::Time, jiff::civil::Time)) -> jiff::civil::Time| {
        prefs
            .and_then(|p| p.hours.as_ref())
            .map(|h| f(h).strftime("%H:%M").to_string())
            .unwrap_or_default()
    };
    let page = PortalPage {
        chrome: ctx.chrome(),
        borrower_id: borrower_id.to_owned(),
        loans,
        contacts: contact_views(ctx.lang, &bc, t, false),
        holds: holds(&bc, t),
        verify: extra.verify,
        verify_message: extra.verify_message,
        code: extra.code,
        notice: extra.notice,
        dispute_text: extra.dispute_text,
        complain_regulator,
        pref_channels: arrears_store::PREFERENCE_CHANNELS
            .iter()
            .map(|c| {
                (
                    *c,
                    label(ctx.lang, c),
                    prefs.is_none_or(|p| p.channels.iter().any(|x| x == c)),
                )
            })
            .collect(),
        hours_from: hm(|h| h.0),
        hours_to: hm(|h| h.1),
        cease_requested: bc.borrower.cease_contact,
        today: state.config().business_tz.date_of(now()).to_string(),
        lifecycle: lifecycle_view(ctx.lang, &bc, &currencies),
    };
    render(ctx, status, &page)
}

#[derive(Deserialize)]
struct PortalQuery {
    done: Option<String>,
}

async fn portal_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    Query(q): Query<PortalQuery>,
) -> Response {
    let Some(b) = own_borrower(&ctx, &borrower_id) else {
        return forbidden(&ctx);
    };
    let t = ctx.t();
    let notice = match q.done.as_deref() {
        Some("dispute") => Some(t.dispute_recorded),
        Some("cease") => Some(t.cease_recorded),
        Some("preferences") => Some(t.prefs_saved),
        Some("plan") => Some(t.proposal_recorded),
        _ => None,
    };
    portal(
        &state,
        &ctx,
        &b,
        "portal.view",
        StatusCode::OK,
        PortalExtra {
            notice,
            ..PortalExtra::default()
        },
    )
    .await
}

/// What verifying a code found: the message and whether its signature holds.
enum Verified {
    Genuine(arrears_evidence::SignedMessage),
    NotGenuine,
    NotIssued,
    Unavailable,
}

/// Looks a code up in the audit log, as `GET /v1/verify/{code}` does.
async fn verify_message(state: &AppState, code: &str) -> Result<Verified, String> {
    use arrears_evidence::{Entry, SignedMessage, signing::normalize_code};
    let Some(ev) = state.evidence() else {
        return Ok(Verified::Unavailable);
    };
    let code = normalize_code(code);
    let log = ev.audit_log.clone();
    let text = tokio::task::spawn_blocking(move || std::fs::read_to_string(&log))
        .await
        .map_err(|e| e.to_string())?;
    let text = match text {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.to_string()),
    };
    let found = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .filter(|e| e.kind == "message")
        .find_map(|e| {
            let m: SignedMessage = serde_json::from_value(e.data).ok()?;
            (m.code == code).then_some(m)
        });
    Ok(match found {
        None => Verified::NotIssued,
        Some(m) => match arrears_evidence::verify_message(&ev.public_key_hex, &m) {
            Ok(()) => Verified::Genuine(m),
            Err(_) => Verified::NotGenuine,
        },
    })
}

async fn portal_verify(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    Query(q): Query<CodeQuery>,
) -> Response {
    let Some(b) = own_borrower(&ctx, &borrower_id) else {
        return forbidden(&ctx);
    };
    let t = ctx.t();
    let code: String = q.code.unwrap_or_default().trim().chars().take(64).collect();
    let mut extra = PortalExtra {
        code: code.clone(),
        ..PortalExtra::default()
    };
    match verify_message(&state, &code).await {
        Ok(Verified::Genuine(m)) if m.borrower_id != b => {
            // Another borrower's message: say only that it is genuine, not what it says.
            extra.verify = Some(VerifyView {
                text: t.genuine,
                lender: m.lender,
                issued_at: String::new(),
                channel: String::new(),
                message: String::new(),
            });
        }
        Ok(Verified::Genuine(m)) => {
            extra.verify = Some(VerifyView {
                text: t.genuine,
                lender: m.lender,
                issued_at: m.issued_at,
                channel: label(ctx.lang, &m.channel),
                message: m.text,
            })
        }
        Ok(Verified::NotGenuine) => extra.verify_message = Some(t.not_genuine),
        Ok(Verified::NotIssued) => extra.verify_message = Some(t.not_issued),
        Ok(Verified::Unavailable) => extra.verify_message = Some(t.verify_unavailable),
        Err(e) => return internal(&ctx, e),
    }
    portal(&state, &ctx, &b, "portal.verify", StatusCode::OK, extra).await
}

#[derive(Deserialize)]
struct DisputeForm {
    text: Option<String>,
}

/// Opens a dispute: the `dispute_opened` event of `POST /v1/events` (so checks deny with
/// ALL-HOLD-DISPUTE), and the borrower's text kept beside it.
async fn portal_dispute(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<DisputeForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let text = f
        .and_then(|f| f.text)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    if text.is_empty() || text.chars().count() > DISPUTE_TEXT_MAX || text.contains('\0') {
        return portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().dispute_empty),
                dispute_text: text.chars().take(DISPUTE_TEXT_MAX).collect(),
                ..PortalExtra::default()
            },
        )
        .await;
    }
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let event_id = format!("portal-dispute-{}", &rand[..32]);
    let at = now();
    let Ok(bid) = BorrowerId::parse("borrower_id", &b) else {
        return not_found(&ctx);
    };
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": "dispute_opened",
        "borrower_id": b,
        "at": at.to_string(),
    });
    let actor = Actor(format!("portal:{b}"));
    let event = ServiceEvent::Flag {
        borrower_id: bid,
        flag: BorrowerFlag::DisputeOpen,
        value: true,
        at,
    };
    if let Err(e) = api::ingest(
        &state,
        &actor,
        &event_id,
        "dispute_opened",
        &raw,
        event,
        None,
    )
    .await
    {
        return internal(&ctx, e.message);
    }
    if let Err(e) = state
        .store()
        .add_dispute_note(&b, &event_id, &text, at)
        .await
    {
        return internal(&ctx, e);
    }
    redirect(&format!("/portal/b/{b}?done=dispute"))
}

/// The borrower asks to stop contact: the `cease_contact` event of `POST /v1/events`, so
/// every check after it denies collection contact.
async fn portal_cease(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, _) = match portal_form::<CsrfOnly>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Ok(bid) = BorrowerId::parse("borrower_id", &b) else {
        return not_found(&ctx);
    };
    let Ok(rand) = random_hex() else {
        return internal(&ctx, "no randomness");
    };
    let event_id = format!("portal-cease-{}", &rand[..32]);
    let at = now();
    let raw = serde_json::json!({
        "event_id": event_id,
        "type": "cease_contact",
        "borrower_id": b,
        "at": at.to_string(),
    });
    let event = ServiceEvent::Flag {
        borrower_id: bid,
        flag: BorrowerFlag::CeaseContact,
        value: true,
        at,
    };
    if let Err(e) = api::ingest(
        &state,
        &Actor(format!("portal:{b}")),
        &event_id,
        "cease_contact",
        &raw,
        event,
        None,
    )
    .await
    {
        return internal(&ctx, e.message);
    }
    redirect(&format!("/portal/b/{b}?done=cease"))
}

#[derive(Deserialize)]
struct PreferencesForm {
    ch_call: Option<String>,
    ch_sms: Option<String>,
    ch_email: Option<String>,
    hours_from: Option<String>,
    hours_to: Option<String>,
}

/// `HH:MM` (or `H:MM`) as a time of day.
fn parse_hhmm(s: &str) -> Option<jiff::civil::Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    jiff::civil::Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// The borrower chooses the channels and local hours they accept.
async fn portal_preferences(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<PreferencesForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Some(f) = f else {
        return csrf_refused(&ctx);
    };
    let channels: Vec<String> = [
        ("call", &f.ch_call),
        ("sms", &f.ch_sms),
        ("email", &f.ch_email),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(c, _)| c.to_owned())
    .collect();
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
    let hours = if blank(&f.hours_from) && blank(&f.hours_to) {
        Ok(None)
    } else {
        match (
            f.hours_from.as_deref().and_then(parse_hhmm),
            f.hours_to.as_deref().and_then(parse_hhmm),
        ) {
            (Some(a), Some(z)) if a < z => Ok(Some((a, z))),
            _ => Err(()),
        }
    };
    let Ok(hours) = hours else {
        return portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().prefs_bad),
                ..PortalExtra::default()
            },
        )
        .await;
    };
    let prefs = arrears_store::ContactPreferences {
        channels,
        hours,
        updated_at: now(),
    };
    let saved = state.store().set_contact_preferences(&b, &prefs).await;
    state.facts().invalidate(&b);
    match saved {
        Ok(true) => redirect(&format!("/portal/b/{b}?done=preferences")),
        Ok(false) => not_found(&ctx),
        Err(e) => internal(&ctx, e),
    }
}

#[derive(Deserialize)]
struct PlanForm {
    loan_id: Option<String>,
    installments: Option<String>,
    amount: Option<String>,
    first_due: Option<String>,
    note: Option<String>,
}

/// The longest note on a proposed plan (characters).
pub const PLAN_NOTE_MAX: usize = 1000;

/// The borrower proposes a payment plan for one of their loans; it is kept for the agent.
async fn portal_plan(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(borrower_id): Path<String>,
    body: Bytes,
) -> Response {
    let (b, f) = match portal_form::<PlanForm>(&ctx, &borrower_id, &body) {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Some(f) = f else {
        return csrf_refused(&ctx);
    };
    let bad = || {
        portal(
            &state,
            &ctx,
            &b,
            "portal.view",
            StatusCode::UNPROCESSABLE_ENTITY,
            PortalExtra {
                notice: Some(ctx.t().proposal_bad),
                ..PortalExtra::default()
            },
        )
    };
    let loan_id = f.loan_id.as_deref().unwrap_or_default().trim().to_owned();
    // Only the borrower's own loan (the store checks it again).
    let owner = match state.store().loan_borrower(&loan_id).await {
        Ok(o) => o,
        Err(e) => return internal(&ctx, e),
    };
    if owner.as_deref() != Some(b.as_str()) {
        return bad().await;
    }
    let book = match state.store().loan_book(&loan_id).await {
        Ok(Some(book)) => book,
        Ok(None) => return bad().await,
        Err(e) => return internal(&ctx, e),
    };
    let digits = Currency::parse("currency", &book.currency).map_or(2, |c| c.minor_digits());
    let today = state.config().business_tz.date_of(now());
    let note: String = f.note.as_deref().unwrap_or_default().trim().to_owned();
    let parsed = (
        f.installments
            .as_deref()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (1..=60).contains(n)),
        f.amount.as_deref().and_then(|a| parse_major(a, digits)),
        f.first_due
            .as_deref()
            .and_then(|d| d.trim().parse::<jiff::civil::Date>().ok())
            .filter(|d| *d >= today),
    );
    let (Some(installments), Some(amount_minor), Some(first_due)) = parsed else {
        return bad().await;
    };
    if note.chars().count() > PLAN_NOTE_MAX || note.contains('\0') {
        return bad().await;
    }
    let new = arrears_store::NewPlanProposal {
        borrower_id: &b,
        loan_id: &loan_id,
        installments,
        amount_minor,
        first_due,
        note: &note,
        created_at: now(),
    };
    match state.store().add_plan_proposal(&new).await {
        Ok(true) => redirect(&format!("/portal/b/{b}?done=plan")),
        Ok(false) => bad().await,
        Err(e) => internal(&ctx, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_amounts_parse_exactly() {
        assert_eq!(parse_major("250", 2), Some(25_000));
        assert_eq!(parse_major("250.5", 2), Some(25_050));
        assert_eq!(parse_major("1,250.05", 2), Some(125_005));
        assert_eq!(parse_major(".5", 2), Some(50));
        assert_eq!(parse_major("1500", 0), Some(1500));
        assert_eq!(parse_major("1.5", 0), None);
        assert_eq!(parse_major("0", 2), None);
        assert_eq!(parse_major("-5", 2), None);
        assert_eq!(parse_major("1.234", 2), None);
        assert_eq!(parse_major("abc", 2), None);
        assert_eq!(parse_major("", 2), None);
        assert_eq!(parse_major("99999999999999999999", 2), None);
    }

    #[test]
    fn hours_parse() {
        assert_eq!(
            parse_hhmm("09:30"),
            jiff::civil::Time::new(9, 30, 0, 0).ok()
        );
        assert_eq!(parse_hhmm("9:05"), jiff::civil::Time::new(9, 5, 0, 0).ok());
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("0930"), None);
    }

    #[test]
    fn amounts_are_exact_from_minor_units() {
        assert_eq!(format_minor(123_405, "USD"), "1234.05 USD");
        assert_eq!(format_minor(-5, "USD"), "-0.05 USD");
        assert_eq!(format_minor(1500, "JPY"), "1500 JPY");
        assert_eq!(format_minor(1, "KWD"), "0.001 KWD");
        assert_eq!(format_minor(i64::MIN, "USD"), "-92233720368547758.08 USD");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        let a = random_hex().unwrap();
        assert!(is_hex64(&a));
        assert_ne!(a, random_hex().unwrap());
    }

    #[test]
    fn languages_parse() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
