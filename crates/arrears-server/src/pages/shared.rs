//! What every surface of the pages shares: the secrets (session ids, CSRF tokens, portal
//! codes), amounts written and read in major units, instants, the request context ([`Ctx`])
//! and what the layout shows ([`Chrome`]), the answers every page may give (a page, a
//! redirect, the message page and its refusals), the access log, the business date and the
//! roles, and the borrower's records as both the agent's account page and the borrower portal
//! show them.

use super::SESSION_COOKIE;
use super::texts::{Lang, Texts, label};
use crate::auth::sha256_hex;
use crate::error::ApiError;
use crate::{AppState, now};
use arrears_domain::types::{Currency, LoanId};
use arrears_store::{Access, BorrowerContacts, Session, SessionOwner};
use askama::Template;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

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

pub(super) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

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

/// An instant on the wall clock of `zone`, with the zone's abbreviation and name, so no
/// reader takes it for another zone's: `2026-12-07 09:30 CST (America/Chicago)`. Every
/// time on the agent's and the borrower's pages goes through it (the viewer's zone: a staff
/// user's own, else the lender's business zone; on the portal the borrower's).
pub(crate) fn time_for(zone: &arrears_domain::TimeZoneName, t: Timestamp) -> String {
    format!(
        "{} ({})",
        t.to_zoned(zone.tz().clone()).strftime("%Y-%m-%d %H:%M %Z"),
        zone.name()
    )
}

/// An instant in the viewer's zone and, when the borrower's differs, on the borrower's
/// wall clock beside it: `2026-12-07 09:30 CST (America/Chicago) · their time 2026-12-07
/// 10:30 EST (America/New_York)`.
pub(crate) fn time_beside(
    viewer: &arrears_domain::TimeZoneName,
    theirs: &arrears_domain::TimeZoneName,
    their_words: &str,
    t: Timestamp,
) -> String {
    if viewer.name() == theirs.name() {
        return time_for(viewer, t);
    }
    format!(
        "{} · {their_words} {}",
        time_for(viewer, t),
        time_for(theirs, t)
    )
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

// ---------------------------------------------------------------------------------------
// The request context: language, session, path.

/// What every page needs from a request.
pub(crate) struct Ctx {
    pub(super) lang: Lang,
    /// Set when `?lang=` chose the language: the answer stores it in the `lang` cookie.
    pub(super) set_lang: bool,
    pub(super) path: String,
    pub(super) session: Option<(String, Session)>,
    pub(super) ip: std::net::IpAddr,
    /// The service is reached over TLS (an `https://` base URL): cookies are `Secure`.
    pub(super) secure: bool,
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
            secure: state
                .base_url()
                .is_some_and(crate::base_url::BaseUrl::is_https),
        })
    }
}

impl Ctx {
    pub(super) fn t(&self) -> &'static Texts {
        self.lang.texts()
    }

    pub(super) fn chrome(&self) -> Chrome {
        Chrome {
            t: self.t(),
            lang: self.lang.code(),
            path: self.path.clone(),
            csrf: self.session.as_ref().map(|(_, s)| s.csrf_token.clone()),
        }
    }

    pub(super) fn staff(&self) -> Option<(&str, &str)> {
        match self.session.as_ref().map(|(_, s)| &s.owner) {
            Some(SessionOwner::Staff { username, role }) => Some((username, role)),
            _ => None,
        }
    }

    pub(super) fn borrower(&self) -> Option<&str> {
        match self.session.as_ref().map(|(_, s)| &s.owner) {
            Some(SessionOwner::Borrower { borrower_id }) => Some(borrower_id),
            _ => None,
        }
    }

    /// The zone the viewer reads times in: a staff user's own (`arrears users add
    /// --zone`), else the lender's business zone.
    pub(super) fn viewer_zone(&self, state: &AppState) -> arrears_domain::TimeZoneName {
        self.session
            .as_ref()
            .and_then(|(_, s)| s.zone.as_deref())
            .and_then(|z| arrears_domain::TimeZoneName::parse("time_zone", z).ok())
            .unwrap_or_else(|| state.config().business_tz.clone())
    }

    /// Whether a form's token is this session's CSRF token.
    pub(super) fn csrf_ok(&self, sent: Option<&str>) -> bool {
        match (&self.session, sent) {
            (Some((_, s)), Some(sent)) => same_secret(&s.csrf_token, sent),
            _ => false,
        }
    }
}

/// What the layout shows on every page.
pub(crate) struct Chrome {
    pub(super) t: &'static Texts,
    pub(super) lang: &'static str,
    pub(super) path: String,
    /// The session's CSRF token (with a session): the sign-out form carries it.
    pub(super) csrf: Option<String>,
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

pub(super) fn render(ctx: &Ctx, status: StatusCode, page: &impl Template) -> Response {
    let mut res = match page.render() {
        Ok(html) => (status, axum::response::Html(html)).into_response(),
        Err(e) => {
            let _ = ApiError::internal(e);
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    };
    if ctx.set_lang
        && let Ok(v) = HeaderValue::from_str(&format!(
            "lang={}; Path=/; Max-Age=31536000; SameSite=Lax{}",
            ctx.lang.code(),
            if ctx.secure { "; Secure" } else { "" }
        ))
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    headers(&mut res);
    res
}

pub(super) fn redirect(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    headers(&mut res);
    res
}

/// The session cookie: HttpOnly, SameSite=Lax, and `Secure` when the service is reached
/// over TLS (`secure`, from an `https://` base URL).
pub(super) fn session_cookie(
    id: &str,
    max_age: SignedDuration,
    secure: bool,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct MessagePage {
    pub(super) chrome: Chrome,
    pub(super) title: &'static str,
    pub(super) text: String,
    pub(super) rule_ids: Vec<String>,
    pub(super) link: Option<String>,
    pub(super) back: Option<String>,
}

pub(super) fn message(
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

pub(super) fn forbidden(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        ctx.t().forbidden,
        ctx.t().forbidden_text,
        None,
    )
}

pub(super) fn csrf_refused(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::FORBIDDEN,
        ctx.t().forbidden,
        ctx.t().csrf_text,
        None,
    )
}

pub(super) fn not_found(ctx: &Ctx) -> Response {
    message(
        ctx,
        StatusCode::NOT_FOUND,
        ctx.t().not_found,
        ctx.t().not_found_text,
        None,
    )
}

/// The answer when the server itself fails (the detail is logged by `ApiError::internal`).
pub(super) fn failed(lang: Lang) -> Response {
    let t = lang.texts();
    let ctx = Ctx {
        lang,
        set_lang: false,
        path: "/?".into(),
        session: None,
        ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        secure: false,
    };
    message(
        &ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        t.failed,
        t.failed_text,
        None,
    )
}

pub(super) fn internal(ctx: &Ctx, e: impl std::fmt::Display) -> Response {
    let _ = ApiError::internal(e);
    failed(ctx.lang)
}

/// Parses a urlencoded form body.
pub(super) fn form<T: serde::de::DeserializeOwned>(body: &Bytes) -> Option<T> {
    serde_urlencoded::from_bytes(body).ok()
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    pub(super) csrf: Option<String>,
}

pub(super) async fn log_access(
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
// The business date, the roles and a loan's payments (the queue and the dashboard).

/// Roles that see every account and the dashboard.
pub(super) fn is_manager(role: &str) -> bool {
    matches!(role, "supervisor" | "compliance" | "admin")
}

#[derive(Deserialize)]
pub(super) struct DateQuery {
    date: Option<String>,
}

/// The business date asked for (`?date=YYYY-MM-DD`), else today in the business zone.
pub(super) fn business_date(state: &AppState, q: &DateQuery) -> jiff::civil::Date {
    q.date
        .as_deref()
        .and_then(|d| d.trim().parse::<jiff::civil::Date>().ok())
        .unwrap_or_else(|| state.config().business_tz.date_of(now()))
}

/// A loan's payments as (instant, amount, cancelled at) for
/// [`workbench::promise_state`](crate::workbench::promise_state).
pub(super) fn book_payments(
    book: &arrears_store::LoanBook,
) -> Vec<(Timestamp, i64, Option<Timestamp>)> {
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

// ---------------------------------------------------------------------------------------
// The borrower's records as the pages show them (the account page and the portal).

pub(super) struct DebtView {
    pub(super) as_of: String,
    pub(super) dpd: u32,
    pub(super) bucket: String,
    pub(super) overdue: String,
    pub(super) overdue_fee: String,
    pub(super) overdue_interest: String,
    pub(super) overdue_principal: String,
    pub(super) penalty: String,
    pub(super) penalty_capped: bool,
    pub(super) outstanding_principal: String,
}

pub(super) struct ContactView {
    pub(super) at: String,
    pub(super) channel: String,
    pub(super) direction: String,
    pub(super) outcome: String,
    /// The rule ids of a contact recorded as a violation (staff pages only; empty
    /// otherwise).
    pub(super) violation: String,
    /// The notes written on the call (staff pages only; empty otherwise).
    pub(super) notes: String,
}

/// A notice on record (the `notices` lifecycle table).
pub(super) struct NoticeView {
    pub(super) kind: String,
    pub(super) kind_code: String,
    pub(super) sent: String,
    pub(super) channel: String,
    /// The loan it is about, or "all loans".
    pub(super) loan: String,
}

/// The borrower's latest preference on one channel.
pub(super) struct ChannelPrefView {
    pub(super) channel: String,
    pub(super) channel_code: String,
    pub(super) opted_out: bool,
    /// Local hours accepted on the channel, or "—".
    pub(super) hours: String,
    pub(super) updated: String,
}

/// A payment plan of one of the borrower's loans, as the lifecycle records hold it.
pub(super) struct LcPlanView {
    pub(super) id: String,
    pub(super) loan: String,
    pub(super) status: String,
    pub(super) status_code: String,
    pub(super) since: String,
    pub(super) count: usize,
    pub(super) total: String,
    pub(super) dates: String,
    /// Each instalment: due date and amount.
    pub(super) rows: Vec<(String, String)>,
}

pub(super) struct PlacementView {
    pub(super) id: String,
    pub(super) loan: String,
    pub(super) agency: String,
    pub(super) placed: String,
    /// Empty while the placement is live.
    pub(super) recalled: String,
}

pub(super) struct SaleView {
    pub(super) id: String,
    pub(super) loan: String,
    pub(super) buyer: String,
    pub(super) sold: String,
}

pub(super) struct CreditDisputeView {
    pub(super) id: String,
    pub(super) loan: String,
    pub(super) opened: String,
    /// Empty while open.
    pub(super) resolved: String,
}

pub(super) struct LegalView {
    pub(super) id: String,
    pub(super) loan: String,
    pub(super) status: String,
    pub(super) status_code: String,
    pub(super) updated: String,
}

/// Every lifecycle fact of the borrower and their loans, for the pages.
pub(super) struct LifecycleView {
    pub(super) notices: Vec<NoticeView>,
    pub(super) prefs: Vec<ChannelPrefView>,
    pub(super) calls_declined: bool,
    pub(super) plans: Vec<LcPlanView>,
    pub(super) placements: Vec<PlacementView>,
    pub(super) sales: Vec<SaleView>,
    pub(super) credit_disputes: Vec<CreditDisputeView>,
    pub(super) legal: Vec<LegalView>,
}

impl LifecycleView {
    /// The credit disputes still open (the portal shows only those).
    pub(super) fn open_credit_disputes(&self) -> impl Iterator<Item = &CreditDisputeView> {
        self.credit_disputes
            .iter()
            .filter(|d| d.resolved.is_empty())
    }

    pub(super) fn has_open_credit_dispute(&self) -> bool {
        self.open_credit_disputes().next().is_some()
    }
}

/// The currency of each loan in `loans` (for the amounts of lifecycle records), read from
/// the store; a loan the store no longer has is left out (its amounts show in minor units).
pub(super) async fn loan_currencies(
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
pub(super) fn lifecycle_view(
    lang: Lang,
    bc: &BorrowerContacts,
    currencies: &std::collections::HashMap<String, String>,
    zone: &arrears_domain::TimeZoneName,
) -> LifecycleView {
    let t = lang.texts();
    let when = |at: Timestamp| time_for(zone, at);
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
            recalled: p.recalled_at.map(&when).unwrap_or_default(),
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
            resolved: d.resolved_at.map(&when).unwrap_or_default(),
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

pub(super) fn debt_view(s: &arrears_store::SnapshotRow) -> DebtView {
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

/// The borrower's own contacts, newest first, each in the viewer's zone with the
/// borrower's local time beside it; staff pages (`notes` given) also mark the contacts
/// recorded as violations with their rule ids and show the notes written on each call.
pub(super) fn contact_views(
    lang: Lang,
    bc: &BorrowerContacts,
    t: &Texts,
    viewer: &arrears_domain::TimeZoneName,
    notes: Option<&std::collections::HashMap<String, String>>,
) -> Vec<ContactView> {
    let staff = notes.is_some();
    // Only the borrower's own contacts: another borrower's call to a shared number counts in
    // the caps but is not this borrower's to see.
    let own: Vec<&arrears_store::StoredContact> = bc.own_contacts().collect();
    own.into_iter()
        .rev()
        .map(|c| ContactView {
            at: time_beside(viewer, &bc.borrower.timezone, t.their_time, c.row.at),
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
            notes: notes
                .and_then(|n| n.get(c.row.id.as_ref()))
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

pub(super) fn holds(bc: &BorrowerContacts, t: &'static Texts) -> Vec<&'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_from_minor_units() {
        assert_eq!(format_minor(123_405, "USD"), "1234.05 USD");
        assert_eq!(format_minor(-5, "USD"), "-0.05 USD");
        assert_eq!(format_minor(1500, "JPY"), "1500 JPY");
        assert_eq!(format_minor(1, "KWD"), "0.001 KWD");
        assert_eq!(format_minor(i64::MIN, "USD"), "-92233720368547758.08 USD");
    }

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
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        let a = random_hex().unwrap();
        assert!(is_hex64(&a));
        assert_ne!(a, random_hex().unwrap());
    }
}
