//! Access: API tokens for systems and password hashes for people.
//!
//! A token is 256 bits from the OS's random source, shown once as `arr_` + 64 hex digits;
//! the store keeps only its SHA-256 (a slow password hash adds nothing to a secret with that
//! much entropy, and a fast one keeps every request's lookup cheap). A request to a protected
//! route sends `Authorization: Bearer TOKEN`; the token's name is the actor written to the
//! access log. Passwords are hashed with argon2id (PHC strings with their own salt and
//! parameters).

use crate::AppState;
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Who made a request (the token's name), put in the request's extensions by
/// [`require_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

const TOKEN_PREFIX: &str = "arr_";

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// The SHA-256 of `data`, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// A new random token (`arr_` + 64 hex digits) and the hash the store keeps of it.
pub fn new_token() -> Result<(String, String), getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&secret));
    let hash = sha256_hex(token.as_bytes());
    Ok((token, hash))
}

/// An argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches a stored PHC string (false for a malformed one).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A PHC string no password matches, verified when a login names an unknown user so that the
/// answer takes as long as for a known one.
pub fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("no password is this one").unwrap_or_default())
}

/// Failed logins allowed per (username, client address) in a window; beyond that a login is
/// refused without looking at the password until the window ends.
pub const LOGIN_FAILURES_ALLOWED: u32 = 5;
/// Failed logins allowed per client address in a window, whatever the usernames: one client
/// spraying names is stopped after this many (and cannot flush the limiter's memory).
pub const CLIENT_FAILURES_ALLOWED: u32 = 100;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How many (username, address) keys, and how many addresses, the limiter remembers by
/// default (`arrears serve --login-keys`).
pub const DEFAULT_LOGIN_KEYS: usize = 100_000;

/// The username key of a login attempt: a name no user can have (empty, over 64 bytes, with
/// control characters) is one key, so a long name costs no memory.
fn user_key(user: &str) -> Box<str> {
    if user.is_empty() || user.len() > 64 || user.chars().any(char::is_control) {
        "\u{0}implausible".into()
    } else {
        user.into()
    }
}

/// (window start, failures) per key.
type Windows<K> = HashMap<K, (Instant, u32)>;

/// Makes room in a full map of windows: expired windows go first; when every window is
/// live, the oldest tenth is forgotten (so a flood costs amortized constant work per key).
fn make_room<K: std::hash::Hash + Eq + Clone>(m: &mut Windows<K>, capacity: usize, now: Instant) {
    if m.len() < capacity {
        return;
    }
    m.retain(|_, (start, _)| now < *start + LOGIN_WINDOW);
    if m.len() < capacity {
        return;
    }
    let mut starts: Vec<Instant> = m.values().map(|(s, _)| *s).collect();
    let cut = (capacity / 10).max(1).min(starts.len() - 1);
    let (_, nth, _) = starts.select_nth_unstable(cut);
    let nth = *nth;
    m.retain(|_, (start, _)| *start > nth);
    // Equal instants could keep the map full: then drop arbitrary keys down to the mark.
    if m.len() >= capacity {
        let drop: Vec<K> = m.keys().take(m.len() + 1 - capacity).cloned().collect();
        for k in drop {
            m.remove(&k);
        }
    }
}

#[derive(Debug, Default)]
struct Failures {
    by_key: Windows<(Box<str>, IpAddr)>,
    by_client: Windows<IpAddr>,
}

/// Failed logins by (username, client address) and by client address, in fixed windows from
/// the first failure, each map holding at most `capacity` keys.
#[derive(Debug)]
pub struct LoginLimiter {
    capacity: usize,
    failures: Mutex<Failures>,
}

impl Default for LoginLimiter {
    fn default() -> LoginLimiter {
        LoginLimiter::with_capacity(DEFAULT_LOGIN_KEYS)
    }
}

impl LoginLimiter {
    /// A limiter remembering at most `capacity` keys per map (at least 10).
    pub fn with_capacity(capacity: usize) -> LoginLimiter {
        LoginLimiter {
            capacity: capacity.max(10),
            failures: Mutex::new(Failures::default()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Failures) -> T) -> T {
        let mut g = match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// When the key may try again, if it (or its client address) is locked out now.
    pub fn locked_until(&self, user: &str, ip: IpAddr, now: Instant) -> Option<Instant> {
        let locked = |w: Option<&(Instant, u32)>, allowed: u32| {
            let (start, n) = *w?;
            let end = start + LOGIN_WINDOW;
            (n >= allowed && now < end).then_some(end)
        };
        self.with(|m| {
            let key = locked(m.by_key.get(&(user_key(user), ip)), LOGIN_FAILURES_ALLOWED);
            let client = locked(m.by_client.get(&ip), CLIENT_FAILURES_ALLOWED);
            key.max(client)
        })
    }

    pub fn failed(&self, user: &str, ip: IpAddr, now: Instant) {
        let capacity = self.capacity;
        let bump = |w: &mut (Instant, u32)| {
            if now >= w.0 + LOGIN_WINDOW {
                *w = (now, 0);
            }
            w.1 = w.1.saturating_add(1);
        };
        self.with(|m| {
            let key = (user_key(user), ip);
            if !m.by_key.contains_key(&key) {
                make_room(&mut m.by_key, capacity, now);
            }
            bump(m.by_key.entry(key).or_insert((now, 0)));
            if !m.by_client.contains_key(&ip) {
                make_room(&mut m.by_client, capacity, now);
            }
            bump(m.by_client.entry(ip).or_insert((now, 0)));
        });
    }

    /// A correct password ends the key's lockout window (not the address's count).
    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        self.with(|m| {
            m.by_key.remove(&(user_key(user), ip));
        });
    }

    /// How many (username, address) keys and addresses it holds now: never above its
    /// capacity each.
    pub fn sizes(&self) -> (usize, usize) {
        self.with(|m| (m.by_key.len(), m.by_client.len()))
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// The client's address as the limiter and the logs see it (put in the request's
/// extensions by the server): the peer's address, or, when the peer is a configured trusted
/// proxy, the address it forwarded (`X-Forwarded-For`, read from the right, skipping other
/// trusted proxies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client address of a request from `peer` with these headers.
pub fn client_addr(peer: IpAddr, headers: &header::HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return peer };
        hops.extend(v.split(',').map(str::trim));
    }
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A hop that is not an address: nothing left of it can be trusted.
            Err(_) => return peer,
        }
    }
    peer
}

/// How many argon2 password checks may run at once by default: one per core (each takes
/// about 19 MiB and tens of milliseconds of a core).
pub fn default_password_checks() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The limit on concurrent password checks: a check that finds every slot taken is not
/// queued but answered 503 with `Retry-After` ([`PasswordChecks::verify`] → `None`).
#[derive(Debug)]
pub struct PasswordChecks {
    slots: Arc<tokio::sync::Semaphore>,
    limit: usize,
    peak: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    refused: AtomicU64,
}

impl Default for PasswordChecks {
    fn default() -> PasswordChecks {
        PasswordChecks::new(default_password_checks())
    }
}

impl PasswordChecks {
    /// At most `limit` (at least 1) checks at once.
    pub fn new(limit: usize) -> PasswordChecks {
        let limit = limit.max(1);
        PasswordChecks {
            slots: Arc::new(tokio::sync::Semaphore::new(limit)),
            limit,
            peak: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            refused: AtomicU64::new(0),
        }
    }

    /// Whether `password` matches `phc`, checked on a blocking thread; `None` when `limit`
    /// checks are running already.
    pub async fn verify(&self, password: String, phc: String) -> Option<Result<bool, String>> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let running = self.running.clone();
        let peak = self.peak.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let ok = verify_password(&password, &phc);
            running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            ok
        })
        .await
        .map_err(|e| e.to_string());
        Some(ok)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The most checks that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Checks refused because every slot was taken.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes every slot until the guard is dropped (tests: a saturated server).
    pub async fn occupy_all(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let n = u32::try_from(self.limit).ok()?;
        self.slots.clone().acquire_many_owned(n).await.ok()
    }
}

/// What a token may do. A token is issued with explicit scopes (`arrears tokens create
/// --scope …`); each `/v1` route needs exactly one ([`ROUTE_SCOPES`]); a route outside the
/// token's scopes is 403 `missing_scope`. No scope implies another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The pre-contact check and recording contacts (a dialer, an SMS gateway).
    Contacts,
    /// The event feed: payments, reversals, promises, borrower flags (dispute, cease,
    /// hardship, …), notices, preferences, credit disputes.
    Events,
    /// Work records: payment plans, placements and recalls, legal cases, write-offs.
    Work,
    /// Reading: accounts, a loan's work records, the day's plan and queues, message
    /// verification, a borrower's audit export.
    Read,
    /// Administration: recording a debt sale (`POST /v1/sales`), adding an agency
    /// (`POST /v1/agencies`). Kept apart so that
    /// administrative routes are not open to every working token.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Contacts,
        Scope::Events,
        Scope::Work,
        Scope::Read,
        Scope::Admin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Scope::Contacts => "contacts",
            Scope::Events => "events",
            Scope::Work => "work",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.code() == s)
    }
}

/// The scopes of the request's token, put in the request's extensions by [`require_token`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant(pub Vec<Scope>);

impl Grant {
    /// The scopes of stored names (an unknown name grants nothing).
    pub fn from_names(names: &[String]) -> Grant {
        let mut v: Vec<Scope> = names.iter().filter_map(|n| Scope::parse(n)).collect();
        v.sort_unstable();
        v.dedup();
        Grant(v)
    }

    pub fn has(&self, s: Scope) -> bool {
        self.0.contains(&s)
    }

    /// Ok, or 403 `missing_scope` naming `s`.
    pub fn require(&self, s: Scope) -> Result<(), ApiError> {
        if self.has(s) {
            Ok(())
        } else {
            Err(ApiError::missing_scope(s.code()))
        }
    }
}

/// The scope each protected route needs, by method and route template. A protected route
/// that is not here is refused to every token (and a test fails). A `contact` posted to
/// `/v1/events` also needs `contacts` (checked by the handler).
pub const ROUTE_SCOPES: &[(&str, &str, Scope)] = &[
    ("POST", "/v1/contacts/check", Scope::Contacts),
    ("POST", "/v1/contacts", Scope::Contacts),
    ("POST", "/v1/events", Scope::Events),
    ("GET", "/v1/accounts/{loan_id}", Scope::Read),
    ("GET", "/v1/verify/{code}", Scope::Read),
    ("GET", "/v1/loans/{loan_id}/promises", Scope::Read),
    ("POST", "/v1/payment-plans", Scope::Work),
    ("POST", "/v1/payment-plans/{plan_id}/status", Scope::Work),
    ("GET", "/v1/loans/{loan_id}/payment-plans", Scope::Read),
    ("POST", "/v1/placements", Scope::Work),
    ("POST", "/v1/placements/{placement_id}/recall", Scope::Work),
    ("GET", "/v1/loans/{loan_id}/placements", Scope::Read),
    ("POST", "/v1/legal-cases", Scope::Work),
    ("POST", "/v1/legal-cases/{case_id}/status", Scope::Work),
    ("GET", "/v1/loans/{loan_id}/legal-cases", Scope::Read),
    ("GET", "/v1/legal-referrals", Scope::Read),
    (
        "POST",
        "/v1/legal-referrals/{referral_id}/decision",
        Scope::Work,
    ),
    (
        "POST",
        "/v1/legal-referrals/{referral_id}/case",
        Scope::Work,
    ),
    ("GET", "/v1/legal-cases/{case_id}", Scope::Read),
    ("POST", "/v1/legal-cases/{case_id}/measures", Scope::Work),
    (
        "POST",
        "/v1/legal-measures/{measure_id}/status",
        Scope::Work,
    ),
    ("POST", "/v1/legal-cases/{case_id}/costs", Scope::Work),
    ("POST", "/v1/write-offs", Scope::Work),
    ("GET", "/v1/loans/{loan_id}/write-offs", Scope::Read),
    ("GET", "/v1/plan", Scope::Read),
    ("GET", "/v1/queues/{queue}", Scope::Read),
    (
        "GET",
        "/v1/borrowers/{borrower_id}/audit-export",
        Scope::Read,
    ),
    ("POST", "/v1/sales", Scope::Admin),
    ("GET", "/v1/write-off-proposals", Scope::Read),
    ("POST", "/v1/settlements", Scope::Work),
    (
        "POST",
        "/v1/settlements/{settlement_id}/accept",
        Scope::Work,
    ),
    ("GET", "/v1/loans/{loan_id}/settlements", Scope::Read),
    ("POST", "/v1/agencies", Scope::Admin),
    ("GET", "/v1/agencies", Scope::Read),
    ("GET", "/v1/agency/loans", Scope::Read),
    ("POST", "/v1/agency/activity", Scope::Events),
];

/// The scope a route needs (HEAD as GET).
pub fn route_scope(method: &str, route: &str) -> Option<Scope> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTE_SCOPES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, s)| *s)
}

/// How long a token found in the store is taken as live without asking the store again. A
/// token revoked by `arrears tokens revoke` (another process) stops working within this.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// The cache forgets everything when it holds more than this many tokens.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Live tokens recently found in the store, by hash: the name, the scopes, the agency the
/// token is bound to (none: the lender's own) and when it was looked up. Unknown tokens are
/// never cached (each costs a lookup, and never a false yes).
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    live: Mutex<HashMap<String, CachedToken>>,
}

/// What the cache keeps of a live token: name, scopes, agency, when it was looked up.
type CachedToken = (String, Grant, Option<String>, Instant);

impl Default for TokenCache {
    fn default() -> TokenCache {
        TokenCache::with_ttl(TOKEN_CACHE_TTL)
    }
}

impl TokenCache {
    /// A cache that trusts a lookup for `ttl` (zero: ask the store on every request).
    pub fn with_ttl(ttl: Duration) -> TokenCache {
        TokenCache {
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, CachedToken>) -> T) -> T {
        let mut g = match self.live.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// The token's name and scopes if it was found live less than the cache's ttl before
    /// `now`.
    pub fn get(&self, hash: &str, now: Instant) -> Option<(String, Grant)> {
        self.get_bound(hash, now).map(|(n, g, _)| (n, g))
    }

    /// The token's name, scopes and agency if it was found live less than the ttl before
    /// `now`.
    pub fn get_bound(&self, hash: &str, now: Instant) -> Option<(String, Grant, Option<String>)> {
        self.with(|m| {
            m.get(hash)
                .filter(|(_, _, _, at)| now.saturating_duration_since(*at) < self.ttl)
                .map(|(name, grant, agency, _)| (name.clone(), grant.clone(), agency.clone()))
        })
    }

    pub fn put(&self, hash: &str, name: &str, grant: &Grant, now: Instant) {
        self.put_bound(hash, name, grant, None, now);
    }

    pub fn put_bound(
        &self,
        hash: &str,
        name: &str,
        grant: &Grant,
        agency: Option<&str>,
        now: Instant,
    ) {
        self.with(|m| {
            if m.len() >= TOKEN_CACHE_MAX {
                m.clear();
            }
            m.insert(
                hash.to_owned(),
                (
                    name.to_owned(),
                    grant.clone(),
                    agency.map(str::to_owned),
                    now,
                ),
            );
        });
    }
}

/// The bearer token of a request, if it sent one.
fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Middleware for the protected routes: 401 without a live token, 403 `missing_scope` when
/// the token lacks the route's scope ([`ROUTE_SCOPES`]).
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(token) = bearer(&req) else {
        return Err(ApiError::unauthorized());
    };
    // Tokens are ASCII of fixed shape; anything else cannot be one, and is not looked up.
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
        return Err(ApiError::unauthorized());
    }
    let hash = sha256_hex(token.as_bytes());
    let (name, grant, agency) = match state.tokens().get_bound(&hash, Instant::now()) {
        Some(found) => found,
        None => {
            let (name, scopes, agency) = state
                .store()
                .token_grant(&hash)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(ApiError::unauthorized)?;
            let grant = Grant::from_names(&scopes);
            state
                .tokens()
                .put_bound(&hash, &name, &grant, agency.as_deref(), Instant::now());
            (name, grant, agency)
        }
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let needed = route
        .as_deref()
        .and_then(|r| route_scope(req.method().as_str(), r));
    let Some(needed) = needed else {
        tracing::error!(route = ?route, "a protected route has no scope; refused");
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "route_without_scope",
            "This route names no scope, so no token may call it.",
        ));
    };
    grant.require(needed)?;
    req.extensions_mut().insert(Actor(name));
    req.extensions_mut().insert(grant);
    // A token bound to an agency works only the loans placed with it (`agency.rs`).
    if let Some(agency) = agency {
        req = crate::agency::gate(&state, &agency, req).await?;
        req.extensions_mut()
            .insert(crate::agency::AgencyBound(agency));
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, hb) = new_token().unwrap();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert!(a.starts_with("arr_") && a.len() == 68, "{a}");
        assert_eq!(ha, sha256_hex(a.as_bytes()));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn logins_lock_per_user_and_address_for_a_window() {
        let l = LoginLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..LOGIN_FAILURES_ALLOWED {
            assert_eq!(l.locked_until("ann", ip, t0), None);
            l.failed("ann", ip, t0);
        }
        assert_eq!(l.locked_until("ann", ip, t0), Some(t0 + LOGIN_WINDOW));
        assert_eq!(l.locked_until("ann", other, t0), None);
        assert_eq!(l.locked_until("bob", ip, t0), None);
        assert_eq!(l.locked_until("ann", ip, t0 + LOGIN_WINDOW), None);
        l.failed("ann", ip, t0 + LOGIN_WINDOW);
        assert_eq!(
            l.locked_until("ann", ip, t0 + LOGIN_WINDOW),
            None,
            "a new window"
        );
        l.succeeded("ann", ip);
        assert_eq!(l.locked_until("ann", ip, t0), None);
    }

    #[test]
    fn cached_tokens_expire_and_unknown_ones_are_not_cached() {
        let c = TokenCache::default();
        let t0 = Instant::now();
        let g = Grant(vec![Scope::Contacts]);
        assert_eq!(c.get("h", t0), None);
        c.put("h", "dialer", &g, t0);
        assert_eq!(c.get("h", t0), Some(("dialer".to_owned(), g.clone())));
        assert_eq!(
            c.get("h", t0 + TOKEN_CACHE_TTL - Duration::from_millis(1))
                .map(|x| x.0),
            Some("dialer".to_owned())
        );
        assert_eq!(
            c.get("h", t0 + TOKEN_CACHE_TTL),
            None,
            "asks the store again"
        );
        assert_eq!(c.get("other", t0), None);
        let none = TokenCache::with_ttl(Duration::ZERO);
        none.put("h", "dialer", &g, t0);
        assert_eq!(none.get("h", t0), None, "a zero ttl caches nothing");
    }

    #[test]
    fn scopes_parse_and_every_route_names_one() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.code()), Some(s));
        }
        assert_eq!(Scope::parse("all"), None);
        let g = Grant::from_names(&["read".into(), "bogus".into(), "read".into()]);
        assert_eq!(g, Grant(vec![Scope::Read]));
        assert_eq!(g.require(Scope::Work).unwrap_err().code, "missing_scope");
        assert!(g.require(Scope::Read).is_ok());
        assert_eq!(
            route_scope("HEAD", "/v1/accounts/{loan_id}"),
            Some(Scope::Read)
        );
        assert_eq!(route_scope("POST", "/v1/write-offs"), Some(Scope::Work));
        assert_eq!(route_scope("GET", "/v1/write-offs"), None);
    }

    #[test]
    fn the_limiter_stays_within_its_capacity_and_stops_a_sprayer() {
        let l = LoginLimiter::with_capacity(1_000);
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            l.failed(&format!("user{i}"), ip, t0);
            let (keys, clients) = l.sizes();
            assert!(keys <= 1_000 && clients <= 1_000, "{keys} {clients} at {i}");
        }
        // The newest keys are remembered, the oldest forgotten.
        let last = IpAddr::from(99_999u32.to_be_bytes());
        for _ in 1..LOGIN_FAILURES_ALLOWED {
            l.failed("user99999", last, t0);
        }
        assert!(l.locked_until("user99999", last, t0).is_some());
        // One address trying many names is locked for every name.
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..CLIENT_FAILURES_ALLOWED {
            assert_eq!(l.locked_until(&format!("n{i}"), ip, t0), None);
            l.failed(&format!("n{i}"), ip, t0);
        }
        assert!(l.locked_until("someone-else", ip, t0).is_some());
        // A name longer than any user's costs one key, not its length.
        let l = LoginLimiter::with_capacity(10);
        l.failed(&"x".repeat(60_000), ip, t0);
        l.failed(&"y".repeat(60_000), ip, t0);
        assert_eq!(l.sizes(), (1, 1));
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let mut h = header::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_addr(proxy, &h, &[]), proxy, "untrusted peer");
        assert_eq!(client_addr(proxy, &h, &[proxy]), inner);
        assert_eq!(client_addr(proxy, &h, &[proxy, inner]), client);
        h.insert("x-forwarded-for", "junk, 10.0.0.2".parse().unwrap());
        assert_eq!(client_addr(proxy, &h, &[proxy, inner]), proxy);
        assert_eq!(
            client_addr(proxy, &header::HeaderMap::new(), &[proxy]),
            proxy
        );
    }

    #[tokio::test]
    async fn password_checks_over_the_limit_are_refused() {
        let h = hash_password("correct horse").unwrap();
        let p = PasswordChecks::new(1);
        let held = p.occupy_all().await.unwrap();
        assert!(p.verify("correct horse".into(), h.clone()).await.is_none());
        assert_eq!(p.refused(), 1);
        drop(held);
        assert_eq!(p.verify("correct horse".into(), h).await, Some(Ok(true)));
        assert_eq!(p.peak(), 1);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct hors", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}
