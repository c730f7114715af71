//! The Arrears service over HTTP: the only crate that knows HTTP. [`app`] builds the axum
//! router over an [`AppState`] (the store, the embedded rule packs, the metrics and the
//! optional message-verification keys) and [`serve`] runs it until a shutdown signal, letting
//! requests in flight finish. Public routes are `/healthz`, `/readyz` (the store answers),
//! Prometheus `/metrics` and the OpenAPI document `/v1/openapi.json`, generated from the
//! handlers' annotations (utoipa); every other `/v1` route needs a bearer token ([`auth`]).
//! The `/v1` handlers (`api.rs`) parse each field into its domain type, ask the store
//! (`arrears-store`, the only code that knows SQL) and the compliance engine
//! (`arrears_policy::check`), and answer JSON; every error has the shape of [`error`], with
//! 4xx for anything the client sent. Handlers may read the clock (this is the edge); the
//! engine is handed the instant.

pub mod access;
pub mod agency;
pub mod api;
pub mod auth;
pub mod base_url;
pub mod batcher;
pub mod day_plans;
pub mod error;
pub mod facts_cache;
pub mod legal;
pub mod message_index;
pub mod metrics;
pub mod pages;
pub mod sale;
pub mod settle;
pub mod work;
pub mod workbench;

use arrears_policy::PackSet;
use arrears_store::Store;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest request body accepted (an event or a check is well under 1 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The server's bounds (docs/security.md): every one has a default and an `arrears serve`
/// option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connection that has not sent a request's whole header within this is closed (also
    /// an idle keep-alive connection waiting for its next request).
    pub header_read_timeout: std::time::Duration,
    /// A request not answered within this (body read included) is answered 503 `timeout`.
    pub request_timeout: std::time::Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// argon2 password checks running at once; beyond it a login is 503 `busy`.
    pub password_checks: usize,
    /// Keys (username and address; addresses) the login limiter remembers.
    pub login_keys: usize,
    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy in front).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Default header-read timeout: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default request timeout: 60 s (a whole book's plan is made once per date, in seconds).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
/// Default connection limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: std::time::Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            request_timeout: std::time::Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            password_checks: auth::default_password_checks(),
            login_keys: auth::DEFAULT_LOGIN_KEYS,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Where genuine messages are looked up for `/v1/verify/{code}`: the lender's public key and
/// the audit log (JSON lines) that `arrears sign` writes.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub public_key_hex: String,
    pub audit_log: PathBuf,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    /// The lender's policy versions (the store's, by effective date; the legal floors before
    /// the first), reloaded every few seconds so `arrears policy set` reaches a running
    /// server.
    policy: std::sync::RwLock<Arc<PolicyVersions>>,
    metrics: metrics::Metrics,
    evidence: Option<Evidence>,
    logins: auth::LoginLimiter,
    password_checks: auth::PasswordChecks,
    limits: Limits,
    /// Connections being served now (the accept loop's count).
    connections: std::sync::atomic::AtomicUsize,
    /// The day's plans of `/v1/plan` and `/v1/queues`, made once per business date.
    api_plans: day_plans::DayPlans<work::SharedPlan>,
    tokens: auth::TokenCache,
    access_log: access::AccessLog,
    events: batcher::EventBatcher,
    facts: Arc<facts_cache::FactsCache>,
    /// Buckets, stages and the business zone of the pages' plans and dashboard.
    config: arrears_domain::Config,
    plans: workbench::PlanCache,
    /// The service's public address (`--base-url`): portal links and `Secure` cookies.
    base_url: Option<base_url::BaseUrl>,
}

/// The policies of one plan day: the version in force, and the next one with its first
/// instant.
#[derive(Debug, Clone)]
pub struct DayPolicies {
    pub in_force: Arc<arrears_app::EffectivePolicy>,
    pub next: Option<(jiff::Timestamp, Arc<arrears_app::EffectivePolicy>)>,
}

/// The lender's policy versions as the server holds them.
#[derive(Debug)]
struct PolicyVersions {
    floors: Arc<arrears_app::EffectivePolicy>,
    /// (effective from, version, packs), as stored.
    versions: Vec<(jiff::civil::Date, i64, Arc<arrears_app::EffectivePolicy>)>,
}

impl PolicyVersions {
    /// The version in force on `on`: the latest effective on or before it (ties: the higher
    /// version), as `Store::policy_in_force` answers.
    fn on(&self, on: jiff::civil::Date) -> Arc<arrears_app::EffectivePolicy> {
        self.versions
            .iter()
            .filter(|(d, _, _)| *d <= on)
            .max_by_key(|(d, v, _)| (*d, *v))
            .map_or_else(|| self.floors.clone(), |(_, _, p)| p.clone())
    }
}

/// How often a running server reads the lender policy in force again.
pub const POLICY_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// How many borrowers the facts cache holds by default (about 1 KiB each).
pub const DEFAULT_FACTS_CAPACITY: usize = 2_000_000;

/// What every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("could not load the rule packs: {0}")]
    Packs(#[from] arrears_policy::PackError),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the lender policy in force cannot be used: {0}")]
    Policy(String),
}

impl AppState {
    pub fn new(store: Store, evidence: Option<Evidence>) -> Result<AppState, ServerError> {
        AppState::with_token_cache(store, evidence, auth::TokenCache::default())
    }

    /// [`AppState::new`] with another token cache (a zero ttl: revocation is seen at once).
    pub fn with_token_cache(
        store: Store,
        evidence: Option<Evidence>,
        tokens: auth::TokenCache,
    ) -> Result<AppState, ServerError> {
        Ok(AppState {
            inner: Arc::new(Inner {
                access_log: access::AccessLog::new(store.clone()),
                events: batcher::EventBatcher::new(store.clone()),
                store,
                policy: std::sync::RwLock::new(Arc::new(PolicyVersions {
                    floors: Arc::new(arrears_app::EffectivePolicy {
                        packs: PackSet::embedded()?,
                        origin: arrears_app::PolicyOrigin::Floors,
                        name: None,
                        lender: None,
                        settlement: Vec::new(),
                    }),
                    versions: Vec::new(),
                })),
                metrics: metrics::Metrics::default(),
                evidence,
                logins: auth::LoginLimiter::default(),
                password_checks: auth::PasswordChecks::default(),
                limits: Limits::default(),
                connections: std::sync::atomic::AtomicUsize::new(0),
                api_plans: day_plans::DayPlans::default(),
                tokens,
                facts: Arc::new(facts_cache::FactsCache::new(DEFAULT_FACTS_CAPACITY)),
                config: arrears_domain::Config::default(),
                plans: workbench::PlanCache::default(),
                base_url: None,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn versions(&self) -> Arc<PolicyVersions> {
        match self.inner.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The lender's policy in force today (UTC): its packs decide the pages' plans.
    pub fn policy(&self) -> Arc<arrears_app::EffectivePolicy> {
        self.policy_at(now())
    }

    /// The lender's policy in force on the (UTC) date of `at`: a contact is decided by the
    /// version in force when it happens, as `arrears check --db` decides it.
    pub fn policy_at(&self, at: jiff::Timestamp) -> Arc<arrears_app::EffectivePolicy> {
        self.versions()
            .on(at.to_zoned(jiff::tz::TimeZone::UTC).date())
    }

    /// The policies a plan of business date `as_of` is made under: the version in force on
    /// that date, and the next version with the instant it takes effect (midnight UTC).
    pub fn policies_for_day(&self, as_of: jiff::civil::Date) -> DayPolicies {
        let v = self.versions();
        let next = v
            .versions
            .iter()
            .filter(|(d, _, _)| *d > as_of)
            .min_by_key(|(d, ver, _)| (*d, std::cmp::Reverse(*ver)))
            .and_then(|(d, _, p)| {
                d.to_zoned(jiff::tz::TimeZone::UTC)
                    .ok()
                    .map(|z| (z.timestamp(), p.clone()))
            });
        DayPolicies {
            in_force: v.on(as_of),
            next,
        }
    }

    /// Reads every stored policy version (the floors before the first).
    pub async fn reload_policy(&self) -> Result<(), arrears_app::RulesError> {
        let stored = self.inner.store.policies().await?;
        let mut versions = Vec::with_capacity(stored.len());
        for p in &stored {
            versions.push((
                p.effective_from,
                p.version,
                Arc::new(arrears_app::rules::from_stored(p)?),
            ));
        }
        let old = self.versions();
        let changed = old
            .versions
            .iter()
            .map(|(d, v, _)| (*d, *v))
            .collect::<Vec<_>>()
            != versions
                .iter()
                .map(|(d, v, _)| (*d, *v))
                .collect::<Vec<_>>();
        let next = Arc::new(PolicyVersions {
            floors: old.floors.clone(),
            versions,
        });
        match self.inner.policy.write() {
            Ok(mut slot) => *slot = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        if changed {
            // Plans made under the old policy are not the day's plan any more.
            self.inner.plans.clear();
            self.inner.api_plans.clear();
            tracing::info!(policy = %self.policy().origin, "lender policy in force");
        }
        Ok(())
    }

    /// Keeps the policy in force current: reloads it every `POLICY_REFRESH`.
    pub fn start_policy_refresh(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLICY_REFRESH).await;
                if let Err(e) = state.reload_policy().await {
                    tracing::error!(error = %e, "could not reload the lender policy; keeping the one in force");
                }
            }
        });
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    pub fn evidence(&self) -> Option<&Evidence> {
        self.inner.evidence.as_ref()
    }

    pub fn logins(&self) -> &auth::LoginLimiter {
        &self.inner.logins
    }

    pub fn tokens(&self) -> &auth::TokenCache {
        &self.inner.tokens
    }

    /// The limit on concurrent argon2 checks (logins on the API and the pages).
    pub fn password_checks(&self) -> &auth::PasswordChecks {
        &self.inner.password_checks
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.inner
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The day's plans of `/v1/plan` and `/v1/queues`.
    pub fn api_plans(&self) -> &day_plans::DayPlans<work::SharedPlan> {
        &self.inner.api_plans
    }

    /// [`AppState`] with the service's public address (portal links are written under it;
    /// an `https://` one makes cookies `Secure`).
    pub fn with_base_url(self, base_url: base_url::BaseUrl) -> AppState {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.base_url = Some(base_url);
                AppState {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => AppState { inner },
        }
    }

    /// The service's public address, when configured.
    pub fn base_url(&self) -> Option<&base_url::BaseUrl> {
        self.inner.base_url.as_ref()
    }

    /// [`AppState`] with these bounds (the login limiter and the password-check limit are
    /// made anew).
    pub fn with_limits(self, limits: Limits) -> AppState {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.logins = auth::LoginLimiter::with_capacity(limits.login_keys);
                inner.password_checks = auth::PasswordChecks::new(limits.password_checks);
                inner.limits = limits;
                AppState {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => AppState { inner },
        }
    }

    /// The pre-contact check's cache of borrowers' facts (see [`facts_cache`]); disabled
    /// until [`AppState::start_facts_cache`] has a listener up.
    pub fn facts(&self) -> &facts_cache::FactsCache {
        &self.inner.facts
    }

    /// Keeps the facts cache true from the store's change notifications for as long as the
    /// runtime runs (PostgreSQL; on SQLite the cache stays off), optionally filling it with
    /// every borrower first.
    pub fn start_facts_cache(&self, preload: bool) {
        tokio::spawn(facts_cache::maintain(
            self.inner.facts.clone(),
            self.inner.store.clone(),
            preload,
        ));
    }

    /// [`AppState`] with a facts cache for at most `capacity` borrowers (0: none kept).
    pub fn with_facts_capacity(self, capacity: usize) -> AppState {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.facts = Arc::new(facts_cache::FactsCache::new(capacity));
                AppState {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => AppState { inner },
        }
    }

    /// [`AppState`] whose event writer runs `writers` tasks (at least 1; see `batcher`).
    pub fn with_event_writers(self, writers: usize) -> AppState {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.events = batcher::EventBatcher::with_writers(inner.store.clone(), writers);
                AppState {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => AppState { inner },
        }
    }

    /// A borrower's facts for the pre-contact check: from the cache when it holds them,
    /// otherwise read from the store (and kept, unless they changed while being read).
    pub async fn borrower_facts(
        &self,
        borrower_id: &str,
    ) -> Result<Option<Arc<arrears_store::BorrowerContacts>>, arrears_store::StoreError> {
        let cache = self.facts();
        if let Some(bc) = cache.get(borrower_id) {
            return Ok(Some(bc));
        }
        let epoch = cache.epoch(borrower_id);
        let Some(bc) = self.store().borrower_contacts(borrower_id).await? else {
            return Ok(None);
        };
        let bc = Arc::new(bc);
        cache.put(epoch, bc.clone());
        Ok(Some(bc))
    }

    /// Where reads of a borrower's data are logged (batched commits, see [`access`]).
    pub fn access_log(&self) -> &access::AccessLog {
        &self.inner.access_log
    }

    /// The writer that records events needing no decision together.
    pub fn events(&self) -> &batcher::EventBatcher {
        &self.inner.events
    }

    pub fn config(&self) -> &arrears_domain::Config {
        &self.inner.config
    }

    pub(crate) fn plans(&self) -> &workbench::PlanCache {
        &self.inner.plans
    }
}

/// How far the server's clock is set from the system clock (`set_clock_from`); unset: 0.
static CLOCK_OFFSET: std::sync::OnceLock<jiff::SignedDuration> = std::sync::OnceLock::new();

/// Sets this process's server clock to read `at` at this moment and run on from it
/// (`arrears serve --clock-from`, for tests and demonstrations that act "now" at a known time
/// of day). Only the first call takes effect; false for a later one.
#[allow(clippy::disallowed_methods)]
pub fn set_clock_from(at: jiff::Timestamp) -> bool {
    CLOCK_OFFSET
        .set(at.duration_since(jiff::Timestamp::now()))
        .is_ok()
}

/// The instant now. The service's handlers are the edge where the clock may be read (for
/// when an event was received and when data was read); the engine is always handed one.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> jiff::Timestamp {
    let t = jiff::Timestamp::now();
    match CLOCK_OFFSET.get() {
        // An offset that would leave jiff's range (never, from a parsed instant) is ignored.
        Some(d) => t.checked_add(*d).unwrap_or(t),
        None => t,
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Arrears",
        description = "Collections management: the pre-contact compliance check, contacts, events, accounts and message verification. Every /v1 route but this document needs `Authorization: Bearer TOKEN` (arrears tokens create). Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerScheme),
    components(schemas(error::ErrorBody, error::ErrorDetail))
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The service is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// The service can answer: the store responds.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = String),
        (status = 503, description = "The store does not answer", body = error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, error::ApiError> {
    match state.store().ping().await {
        Ok(()) => Ok("ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(error::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The store does not answer.",
            ))
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    let mut text = state.metrics().render();
    text.push_str(&state.facts().render());
    text.push_str(&bounds_text(&state));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The bounded resources' gauges (docs/security.md).
fn bounds_text(state: &AppState) -> String {
    let (keys, clients) = state.logins().sizes();
    let pc = state.password_checks();
    format!(
        "# HELP arrears_open_connections Connections being served.\n# TYPE arrears_open_connections gauge\narrears_open_connections {}\n\
         # HELP arrears_max_connections The connection limit.\n# TYPE arrears_max_connections gauge\narrears_max_connections {}\n\
         # HELP arrears_login_limiter_keys Keys the login limiter holds, by kind.\n# TYPE arrears_login_limiter_keys gauge\n\
         arrears_login_limiter_keys{{kind=\"user_and_address\"}} {keys}\narrears_login_limiter_keys{{kind=\"address\"}} {clients}\n\
         # HELP arrears_password_checks_refused_total Logins answered 503 because every password-check slot was taken.\n\
         # TYPE arrears_password_checks_refused_total counter\narrears_password_checks_refused_total {}\n\
         # HELP arrears_api_plans_made_total Day plans made for /v1/plan and /v1/queues (once per business date).\n\
         # TYPE arrears_api_plans_made_total counter\narrears_api_plans_made_total {}\n",
        state.open_connections(),
        state.limits().max_connections,
        pc.refused(),
        state.api_plans().makings()
    )
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
async fn openapi_json(State(doc): State<Arc<String>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.as_str().to_owned(),
    )
        .into_response()
}

/// Puts the client's address in the request ([`auth::ClientAddr`]: the peer, or what a
/// trusted proxy forwarded) and answers 503 `timeout` when the request takes longer than
/// the request timeout (reading its body included).
async fn bound(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let ip = auth::client_addr(peer, req.headers(), &state.limits().trusted_proxies);
        req.extensions_mut().insert(auth::ClientAddr(ip));
    }
    let limit = state.limits().request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => error::ApiError::busy(
            "timeout",
            format!(
                "The request was not answered within {} s; try again later.",
                limit.as_secs()
            ),
            1,
        )
        .into_response(),
    }
}

/// Counts and logs every request by its route template, status and latency.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = metrics::method_label(req.method().as_str());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let took = start.elapsed();
    let status = res.status().as_u16();
    state.metrics().request(method, &route, status, took);
    tracing::info!(
        %method,
        %route,
        status,
        latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    res
}

/// The OpenAPI document of [`app`], with each protected operation's scope: its security
/// requirement names it (`{"bearer": ["read"]}`), `x-scopes` lists it, and a 403 answer is
/// documented.
pub fn openapi() -> serde_json::Value {
    let mut doc = serde_json::to_value(routers().2).unwrap_or_default();
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                let Some(scope) = auth::route_scope(&method.to_ascii_uppercase(), path) else {
                    continue;
                };
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                op.insert(
                    "security".into(),
                    serde_json::json!([{ "bearer": [scope.code()] }]),
                );
                op.insert("x-scopes".into(), serde_json::json!([scope.code()]));
                if let Some(r) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                    r.entry("403").or_insert_with(|| {
                        serde_json::json!({
                            "description": format!("The token lacks scope `{}` (`missing_scope`)", scope.code()),
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                        })
                    });
                }
            }
        }
    }
    doc
}

fn routers() -> (
    OpenApiRouter<AppState>,
    OpenApiRouter<AppState>,
    utoipa::openapi::OpenApi,
) {
    let protected = OpenApiRouter::new()
        .routes(routes!(api::check_contact))
        .routes(routes!(api::record_contact))
        .routes(routes!(api::ingest_event))
        .routes(routes!(api::get_account))
        .routes(routes!(api::verify_code))
        .routes(routes!(work::loan_promises))
        .routes(routes!(work::create_plan))
        .routes(routes!(work::change_plan_status))
        .routes(routes!(work::loan_plans))
        .routes(routes!(work::create_placement))
        .routes(routes!(work::recall_placement))
        .routes(routes!(work::loan_placements))
        .routes(routes!(work::create_legal_case))
        .routes(routes!(work::update_legal_case))
        .routes(routes!(work::loan_legal_cases))
        .routes(routes!(legal::list_referrals))
        .routes(routes!(legal::decide_referral))
        .routes(routes!(legal::file_case))
        .routes(routes!(legal::case_file))
        .routes(routes!(legal::record_measure))
        .routes(routes!(legal::update_measure))
        .routes(routes!(legal::record_cost))
        .routes(routes!(work::create_write_off))
        .routes(routes!(work::loan_write_offs))
        .routes(routes!(work::get_plan))
        .routes(routes!(work::get_queue))
        .routes(routes!(work::audit_export))
        .routes(routes!(sale::record_sale))
        .routes(routes!(settle::write_off_proposals))
        .routes(routes!(settle::offer_settlement))
        .routes(routes!(settle::accept_settlement))
        .routes(routes!(settle::loan_settlements))
        .routes(routes!(agency::add_agency, agency::list_agencies))
        .routes(routes!(agency::agency_loans))
        .routes(routes!(agency::report_activity));
    let public = OpenApiRouter::new()
        .routes(routes!(api::login))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text));
    let mut doc = ApiDoc::openapi();
    doc.merge(protected.get_openapi().clone());
    doc.merge(public.get_openapi().clone());
    let (_, own) = OpenApiRouter::<Arc<String>>::new()
        .routes(routes!(openapi_json))
        .split_for_parts();
    doc.merge(own);
    (protected, public, doc)
}

/// The service's router.
pub fn app(state: AppState) -> Router {
    let (protected, public, _) = routers();
    let doc = Arc::new(openapi().to_string());
    let protected: Router<AppState> = Router::from(protected).route_layer(
        middleware::from_fn_with_state(state.clone(), auth::require_token),
    );
    let public: Router<AppState> = Router::from(public);
    let doc_route = Router::new()
        .route("/v1/openapi.json", axum::routing::get(openapi_json))
        .with_state(doc);
    protected
        .merge(public)
        .merge(pages::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state.clone())
        .merge(doc_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), bound))
        .layer(middleware::from_fn_with_state(state, observe))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (for at most the request timeout). HTTP/1.1 with the bounds of the state's
/// [`Limits`]: at most `max_connections` connections at once (the accept loop waits for a
/// free slot), each closed when a request's header does not arrive within
/// `header_read_timeout`; requests time out in [`app`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    use std::sync::atomic::Ordering;
    // The lender's policy in force decides from the first request on, and is kept current.
    state
        .reload_policy()
        .await
        .map_err(|e| ServerError::Policy(e.to_string()))?;
    state.start_policy_refresh();
    let limits = state.limits().clone();
    let router = app(state.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(100);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A free slot first: beyond the limit, connections wait in the listen backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, do not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                // The client's address is handed to handlers (login attempts are limited per
                // address).
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut router = router.clone();
                async move {
                    tower_service::Service::call(&mut router, req.map(axum::body::Body::new)).await
                }
            });
        let conn =
            graceful.watch(builder.serve_connection(hyper_util::rt::TokioIo::new(stream), svc));
        let state = state.clone();
        state.inner.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            state.inner.connections.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        });
    }
    tracing::info!("no longer accepting connections");
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the request timeout; closing them");
    }
    Ok(())
}
