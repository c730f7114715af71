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
//! - Borrowers reach the portal at `/portal` with their own phone number or e-mail address
//!   and a six-digit code sent to it through the outbox (`sign_in`), or through a one-time
//!   link staff send the same way (never shown to staff): the first visit exchanges the link's
//!   code (once) for a session bound to that borrower, which shows what they owe, the
//!   contacts made to them, what is on record about them (their preferences, payment plans,
//!   the buyer of a sold debt, open credit disputes, notices), message verification, a
//!   dispute form (the `dispute_opened` event of the API) and how to complain.
//!
//! Sessions: a cookie `arrears_session` (HttpOnly, SameSite=Lax) holding 256 random bits;
//! the store keeps their SHA-256 with the owner, an expiry and the session's CSRF token. Every
//! state-changing form carries that token, and a POST without the session's token is 403.
//! Every page view of a borrower's data is written to the access log.
//!
//! The code is split by surface: `shared` (the request context, the layout, the answers
//! every page gives, every time written for people by `time_for`, and the borrower's
//! records as the pages show them), `texts` (the languages and every visible string),
//! `login` (staff sign-in and sign-out), `agent` (the queue and the account page with its
//! forms), `desk` (the account page's answers to plan proposals and promise
//! cancellations), `supervisor` (the manager dashboard with its compliance view),
//! `portal` (the borrower portal), `sign_in` (the borrower's way in: codes and links through
//! the outbox) and `verify` (the public verify page, no login, answered
//! from the store's index of issued messages).

mod agent;
mod desk;
mod login;
mod portal;
mod portal_bureau;
mod portal_legal;
mod settle;
mod shared;
mod sign_in;
mod supervisor;
mod texts;
mod verify;

pub use portal::PLAN_NOTE_MAX;
pub use shared::{format_minor, new_portal_code, parse_major, portal_link, random_hex};
pub use sign_in::{SIGN_IN_TRIES_PER_CLIENT, SignInLimiter};
pub use texts::{Lang, Texts};
pub use verify::{VERIFY_LOOKUPS_ALLOWED, VERIFY_WINDOW, VerifyLimiter};

use crate::AppState;
use agent::{
    account_page, cancel_plan, home, issue_link, log_call, open_account, record_payment_plan,
    resolve_dispute,
};
use axum::Router;
use axum::routing::{get, post};
use desk::{answer_proposal, cancel_promise};
use jiff::SignedDuration;
use login::{login_page, login_submit, logout};
use portal::{
    portal_cease, portal_dispute, portal_enter, portal_exchange, portal_page, portal_plan,
    portal_preferences, portal_verify,
};
use supervisor::{
    allocation_page, assign_by_rule, bulk_assign, dashboard, decide_referral, queue_page,
    rebalance, referrals_page,
};

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
    let sign_in_limiter = std::sync::Arc::new(SignInLimiter::default());
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/queue", get(queue_page))
        .route("/queue/assign", post(bulk_assign))
        .route("/allocation", get(allocation_page))
        .route("/allocation/rule", post(assign_by_rule))
        .route("/allocation/rebalance", post(rebalance))
        .route("/referrals", get(referrals_page))
        .route("/referrals/{referral_id}", post(decide_referral))
        .route("/accounts", get(open_account))
        .route("/accounts/{loan_id}", get(account_page))
        .route("/accounts/{loan_id}/calls", post(log_call))
        .route(
            "/accounts/{loan_id}/payment-plans",
            post(record_payment_plan),
        )
        .route("/accounts/{loan_id}/portal-link", post(issue_link))
        .route(
            "/accounts/{loan_id}/dispute-resolved",
            post(resolve_dispute),
        )
        .route(
            "/accounts/{loan_id}/plans/{plan_id}/cancel",
            post(cancel_plan),
        )
        .route(
            "/accounts/{loan_id}/proposals/{proposal_id}",
            post(answer_proposal),
        )
        .route(
            "/accounts/{loan_id}/promises/{promise_id}/cancel",
            post(cancel_promise),
        )
        .route("/portal", get(sign_in::sign_in_page))
        .route(
            "/portal/code",
            post(sign_in::request_code).layer(axum::Extension(sign_in_limiter.clone())),
        )
        .route(
            "/portal/sign-in",
            post(sign_in::sign_in).layer(axum::Extension(sign_in_limiter)),
        )
        .route("/portal/enter", get(portal_enter).post(portal_exchange))
        .route("/portal/b/{borrower_id}", get(portal_page))
        .route("/portal/b/{borrower_id}/verify", get(portal_verify))
        .route("/portal/b/{borrower_id}/dispute", post(portal_dispute))
        .route(
            "/portal/b/{borrower_id}/credit-dispute",
            post(portal_bureau::portal_credit_dispute),
        )
        .route("/portal/b/{borrower_id}/cease", post(portal_cease))
        .route(
            "/portal/b/{borrower_id}/preferences",
            post(portal_preferences),
        )
        .route("/portal/b/{borrower_id}/plan", post(portal_plan))
        .route("/write-offs", get(settle::write_offs_page))
        .route("/write-offs/{proposal_id}", post(settle::decide_write_off))
        .route(
            "/accounts/{loan_id}/settlement",
            get(settle::settlement_page),
        )
        .route("/accounts/{loan_id}/settlements", post(settle::offer))
        .route("/settlements/{id}/accept", post(settle::staff_accept))
        .route("/settlements/{id}/withdraw", post(settle::staff_withdraw))
        .route(
            "/portal/b/{borrower_id}/settlements/{id}/accept",
            post(settle::portal_accept),
        )
        .route(
            "/verify",
            get(verify::verify_page).layer(axum::Extension(std::sync::Arc::new(
                VerifyLimiter::default(),
            ))),
        )
}
