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
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
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
pub(crate) fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("no password is this one").unwrap_or_default())
}

/// Failed logins allowed per (username, client address) in a window; beyond that a login is
/// refused without looking at the password until the window ends.
pub const LOGIN_FAILURES_ALLOWED: u32 = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The limiter forgets expired entries when it holds more than this many.
const LOGIN_KEYS_MAX: usize = 100_000;

/// Failed logins by (username, address), in fixed windows from the first failure.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<(String, IpAddr), (Instant, u32)>>,
}

impl LoginLimiter {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, IpAddr), (Instant, u32)>) -> T) -> T {
        let mut g = match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// When the key may try again, if it is locked out now.
    pub fn locked_until(&self, user: &str, ip: IpAddr, now: Instant) -> Option<Instant> {
        self.with(|m| {
            let (start, n) = *m.get(&(user.to_owned(), ip))?;
            let end = start + LOGIN_WINDOW;
            (n >= LOGIN_FAILURES_ALLOWED && now < end).then_some(end)
        })
    }

    pub fn failed(&self, user: &str, ip: IpAddr, now: Instant) {
        self.with(|m| {
            if m.len() >= LOGIN_KEYS_MAX {
                m.retain(|_, (start, _)| now < *start + LOGIN_WINDOW);
            }
            let e = m.entry((user.to_owned(), ip)).or_insert((now, 0));
            if now >= e.0 + LOGIN_WINDOW {
                *e = (now, 0);
            }
            e.1 += 1;
        });
    }

    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        self.with(|m| {
            m.remove(&(user.to_owned(), ip));
        });
    }
}

/// How long a token found in the store is taken as live without asking the store again. A
/// token revoked by `arrears tokens revoke` (another process) stops working within this.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// The cache forgets everything when it holds more than this many tokens.
const TOKEN_CACHE_MAX: usize = 10_000;

/// Live tokens recently found in the store, by hash: the name and when it was looked up.
/// Unknown tokens are never cached (each costs a lookup, and never a false yes).
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    live: Mutex<HashMap<String, (String, Instant)>>,
}

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

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> T) -> T {
        let mut g = match self.live.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// The token's name if it was found live less than the cache's ttl before `now`.
    pub fn get(&self, hash: &str, now: Instant) -> Option<String> {
        self.with(|m| {
            m.get(hash)
                .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
                .map(|(name, _)| name.clone())
        })
    }

    pub fn put(&self, hash: &str, name: &str, now: Instant) {
        self.with(|m| {
            if m.len() >= TOKEN_CACHE_MAX {
                m.clear();
            }
            m.insert(hash.to_owned(), (name.to_owned(), now));
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

/// Middleware for the protected routes: 401 without a live token.
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
    let name = match state.tokens().get(&hash, Instant::now()) {
        Some(name) => name,
        None => {
            let name = state
                .store()
                .token_name(&hash)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(ApiError::unauthorized)?;
            state.tokens().put(&hash, &name, Instant::now());
            name
        }
    };
    req.extensions_mut().insert(Actor(name));
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
        assert_eq!(c.get("h", t0), None);
        c.put("h", "dialer", t0);
        assert_eq!(c.get("h", t0).as_deref(), Some("dialer"));
        assert_eq!(
            c.get("h", t0 + TOKEN_CACHE_TTL - Duration::from_millis(1))
                .as_deref(),
            Some("dialer")
        );
        assert_eq!(
            c.get("h", t0 + TOKEN_CACHE_TTL),
            None,
            "asks the store again"
        );
        assert_eq!(c.get("other", t0), None);
        let none = TokenCache::with_ttl(Duration::ZERO);
        none.put("h", "dialer", t0);
        assert_eq!(none.get("h", t0), None, "a zero ttl caches nothing");
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
