//! The public verify page, `GET /verify`: no login. A borrower types the verification code
//! printed on a message and learns whether the lender issued it:
//!
//! - **GENUINE**: the code is in the index of issued messages and its signed record passes
//!   the lender's public key; the page shows the text they should have received, the
//!   channel, when it was sent (on the borrower's own clock, the zone named) and the lender.
//! - **NOT ISSUED**: the code is well-formed but no message with it was issued (or its
//!   record fails the signature check, so an edited index row cannot claim GENUINE): do not
//!   pay, keep the message, how to complain (China: 12378).
//! - **NOT ON RECORD**: not a code of ours at all; what a code looks like.
//!
//! The answer comes from the store's index (`issued_messages`, built from the audit log at
//! `arrears serve` start by [`crate::message_index`]); no request reads the audit log. The
//! page is in English and Chinese: `?lang=`, else the `lang` cookie, else `Accept-Language`.
//! Lookups are limited per client address (the peer, or what a configured trusted proxy
//! forwarded: [`crate::auth::ClientAddr`]) in a bounded map, like the login limiter.

use super::shared::{Chrome, Ctx, log_access, render, time_for};
use super::texts::{Lang, label};
use crate::auth::ClientAddr;
use crate::{AppState, message_index};
use arrears_evidence::signing::normalize_code;
use askama::Template;
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Code lookups allowed per client address in a window.
pub const VERIFY_LOOKUPS_ALLOWED: u32 = 30;
/// The window of [`VERIFY_LOOKUPS_ALLOWED`], from a client's first lookup.
pub const VERIFY_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Client addresses the limiter remembers.
pub const VERIFY_CLIENTS: usize = 100_000;

/// Code lookups per client address in fixed windows, holding at most `capacity` addresses:
/// when full, expired windows go first, then the oldest tenth (as the login limiter).
#[derive(Debug)]
pub struct VerifyLimiter {
    capacity: usize,
    allowed: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Default for VerifyLimiter {
    fn default() -> VerifyLimiter {
        VerifyLimiter::new(VERIFY_CLIENTS, VERIFY_LOOKUPS_ALLOWED)
    }
}

impl VerifyLimiter {
    /// A limiter of at most `capacity` addresses (at least 10), `allowed` lookups each.
    pub fn new(capacity: usize, allowed: u32) -> VerifyLimiter {
        VerifyLimiter {
            capacity: capacity.max(10),
            allowed,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a lookup by `ip`: `Err(seconds to wait)` when it is over the limit.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut m = match self.windows.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !m.contains_key(&ip) && m.len() >= self.capacity {
            m.retain(|_, (start, _)| now < *start + VERIFY_WINDOW);
            if m.len() >= self.capacity {
                let mut starts: Vec<Instant> = m.values().map(|(s, _)| *s).collect();
                let cut = (self.capacity / 10).max(1).min(starts.len() - 1);
                let (_, nth, _) = starts.select_nth_unstable(cut);
                let nth = *nth;
                m.retain(|_, (start, _)| *start > nth);
                if m.len() >= self.capacity {
                    let drop: Vec<IpAddr> = m
                        .keys()
                        .take(m.len() + 1 - self.capacity)
                        .copied()
                        .collect();
                    for k in drop {
                        m.remove(&k);
                    }
                }
            }
        }
        let w = m.entry(ip).or_insert((now, 0));
        if now >= w.0 + VERIFY_WINDOW {
            *w = (now, 0);
        }
        if w.1 >= self.allowed {
            let end = w.0 + VERIFY_WINDOW;
            return Err(end.saturating_duration_since(now).as_secs().max(1));
        }
        w.1 += 1;
        Ok(())
    }

    /// Addresses held now (never above the capacity).
    pub fn len(&self) -> usize {
        match self.windows.lock() {
            Ok(g) => g.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The page's own words.
struct Words {
    title: &'static str,
    intro: &'static str,
    code_label: &'static str,
    check: &'static str,
    code_format: &'static str,
    genuine: &'static str,
    genuine_intro: &'static str,
    lender: &'static str,
    channel: &'static str,
    sent: &'static str,
    text_heading: &'static str,
    genuine_differs: &'static str,
    not_issued: &'static str,
    do_not_pay: &'static str,
    keep_evidence: &'static str,
    old_records: &'static str,
    complain_heading: &'static str,
    complain_cn: &'static str,
    not_on_record: &'static str,
    not_a_code: &'static str,
    unavailable: &'static str,
    too_many: &'static str,
}

static EN: Words = Words {
    title: "Check a message",
    intro: "Did you get a message about a debt? Type the verification code printed on it to see whether the lender really sent it. You do not need to sign in.",
    code_label: "Verification code",
    check: "Check",
    code_format: "A verification code is 10 letters and digits, written as two groups of five with a dash, for example 7K3QX-9M2PD. Capitals, spaces and dashes do not matter.",
    genuine: "GENUINE",
    genuine_intro: "The lender issued a message with this code. It is the message below: compare it with the one you received.",
    lender: "Lender",
    channel: "Sent by",
    sent: "Sent on (your time)",
    text_heading: "The text you should have received:",
    genuine_differs: "If the message you received says anything else (another amount, account number, telephone number or link), it was altered: do not act on it, and complain as for a message not issued.",
    not_issued: "NOT ISSUED",
    do_not_pay: "The lender did not issue a message with this code. Do not pay, do not call numbers or open links in it, and do not give any personal or bank details.",
    keep_evidence: "Keep the message as evidence and report it. If you think you owe a debt, contact the lender through the details you already have, not those in the message.",
    old_records: "Records of messages older than their retention period were deleted; a message that old cannot be checked here.",
    complain_heading: "How to complain",
    complain_cn: "In China: the financial consumer protection hotline (banking and insurance consumers), telephone",
    not_on_record: "NOT ON RECORD",
    not_a_code: "What you typed is not a verification code of this lender. Check it and type it again; a genuine message from the lender always carries one.",
    unavailable: "Checking messages is not available right now. Please try again later.",
    too_many: "Too many checks from your connection. Please wait a few minutes and try again.",
};

static ZH: Words = Words {
    title: "核验消息",
    intro: "收到与欠款有关的消息？请输入消息上印的验证码，查看是否确为出借机构发出。无需登录。",
    code_label: "验证码",
    check: "核验",
    code_format: "验证码由 10 位字母和数字组成，分为两组、每组五位，中间以短横线相连，例如 7K3QX-9M2PD。大小写、空格和短横线不影响核验。",
    genuine: "真实",
    genuine_intro: "出借机构发出过带有此验证码的消息，内容如下，请与您收到的消息核对。",
    lender: "出借机构",
    channel: "发送方式",
    sent: "发送时间（您当地时间）",
    text_heading: "您应收到的内容：",
    genuine_differs: "如您收到的消息内容与此不同（金额、账号、电话号码或链接不同），说明消息已被篡改：请勿照做，并按未签发消息的方式投诉。",
    not_issued: "未签发",
    do_not_pay: "出借机构没有发出带有此验证码的消息。请勿付款，勿拨打其中的电话或打开其中的链接，勿提供任何个人或银行信息。",
    keep_evidence: "请保留该消息作为证据并举报。如您认为确有欠款，请通过您已有的联系方式联系出借机构，而非消息中的联系方式。",
    old_records: "超过保存期限的消息记录已被删除，无法在此核验那么久以前的消息。",
    complain_heading: "如何投诉",
    complain_cn: "在中国：银行保险消费者投诉热线（金融消费者权益保护热线），电话",
    not_on_record: "无记录",
    not_a_code: "您输入的不是本机构的验证码。请核对后重新输入；出借机构发出的真实消息都带有验证码。",
    unavailable: "暂时无法核验消息，请稍后再试。",
    too_many: "您的网络连接核验次数过多，请几分钟后再试。",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// A genuine message as the page shows it.
struct GenuineView {
    lender: String,
    channel: String,
    sent: String,
    code: String,
    text: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    chrome: Chrome,
    w: &'static Words,
    code: String,
    /// `genuine`, `not_issued`, `not_on_record`, `unavailable`, `too_many`, or empty (the form).
    verdict: &'static str,
    genuine: Option<GenuineView>,
    /// Message records were deleted after retention (NOT ISSUED says an old one cannot be
    /// checked).
    redacted: bool,
}

#[derive(Deserialize)]
pub(super) struct VerifyQuery {
    code: Option<String>,
    lang: Option<String>,
}

/// Whether a normalised code has the shape the lender's codes have: `XXXXX-XXXXX` in the
/// code alphabet (digits and capitals but I, L, O, U).
pub fn well_formed(code: &str) -> bool {
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let b = code.as_bytes();
    b.len() == 11
        && b[5] == b'-'
        && code
            .chars()
            .enumerate()
            .all(|(i, c)| i == 5 || ALPHABET.contains(c))
}

/// The language: `?lang=`, else the `lang` cookie, else the first of `Accept-Language` (by
/// its weights) that the pages have, else English.
fn choose_lang(q: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(l) = q.and_then(Lang::parse) {
        return l;
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "lang")
        .and_then(|(_, v)| Lang::parse(v));
    if let Some(l) = cookie {
        return l;
    }
    accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    )
    .unwrap_or(Lang::En)
}

/// The language of an `Accept-Language` header: the highest-weighted `zh…` or `en…` tag.
fn accept_language(h: &str) -> Option<Lang> {
    let mut best: Option<(u32, Lang)> = None;
    for part in h.split(',').take(32) {
        let mut it = part.split(';');
        let tag = it.next().unwrap_or_default().trim().to_ascii_lowercase();
        // Weights in thousandths; a missing or unreadable one is 1.
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1000, |q| {
                q.trim()
                    .parse::<f32>()
                    .map_or(0, |v| (v.clamp(0.0, 1.0) * 1000.0) as u32) // 0..=1000: fits
            });
        let lang = match tag.split('-').next() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

pub(super) async fn verify_page(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<VerifyLimiter>>,
    mut ctx: Ctx,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    ctx.lang = choose_lang(q.lang.as_deref(), &headers);
    let w = words(ctx.lang);
    let typed: String = q.code.unwrap_or_default().trim().chars().take(64).collect();
    let page = |ctx: &Ctx, verdict: &'static str, genuine, redacted| VerifyPage {
        chrome: ctx.chrome(),
        w,
        code: typed.clone(),
        verdict,
        genuine,
        redacted,
    };
    if typed.is_empty() {
        return render(&ctx, StatusCode::OK, &page(&ctx, "", None, false));
    }
    let ip = client.map_or(ctx.ip, |c| c.0.0);
    if let Err(wait) = limiter.check(ip, Instant::now()) {
        let mut res = render(
            &ctx,
            StatusCode::TOO_MANY_REQUESTS,
            &page(&ctx, "too_many", None, false),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let Some(ev) = state.evidence() else {
        return render(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            &page(&ctx, "unavailable", None, false),
        );
    };
    let code = normalize_code(&typed);
    if !well_formed(&code) {
        return render(
            &ctx,
            StatusCode::OK,
            &page(&ctx, "not_on_record", None, false),
        );
    }
    let found = match state.store().issued_message(&code).await {
        Ok(f) => f,
        Err(e) => return super::shared::internal(&ctx, e),
    };
    match found {
        Some(f) if message_index::verified(&ev.public_key_hex, &f.message) => {
            let m = f.message;
            let zone = f
                .borrower_zone
                .as_deref()
                .and_then(|z| arrears_domain::TimeZoneName::parse("timezone", z).ok())
                .unwrap_or_else(arrears_domain::TimeZoneName::utc);
            let sent = m
                .issued_at
                .parse::<jiff::Timestamp>()
                .map_or_else(|_| m.issued_at.clone(), |t| time_for(&zone, t));
            if let Err(e) = log_access(
                &state,
                "public".to_owned(),
                "verify.public",
                &m.borrower_id,
                m.loan_id.as_deref(),
            )
            .await
            {
                return super::shared::internal(&ctx, e);
            }
            let view = GenuineView {
                lender: m.lender,
                channel: label(ctx.lang, &m.channel),
                sent,
                code: m.code,
                text: m.text,
            };
            render(
                &ctx,
                StatusCode::OK,
                &page(&ctx, "genuine", Some(view), false),
            )
        }
        other => {
            if other.is_some() {
                tracing::warn!(
                    "an indexed message fails the lender's signature check: answered as not issued"
                );
            }
            let redacted = match state.store().message_index_state().await {
                Ok(s) => s.is_some_and(|s| s.redacted_messages > 0),
                Err(e) => return super::shared::internal(&ctx, e),
            };
            render(
                &ctx,
                StatusCode::OK,
                &page(&ctx, "not_issued", None, redacted),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_well_formed_only_in_the_code_alphabet() {
        assert!(well_formed("7K3QX-9M2PD"));
        assert!(well_formed(&normalize_code("7k3qx 9m2pd")));
        assert!(!well_formed("7K3QX9M2PD"));
        assert!(!well_formed("7K3QU-9M2PD"), "U is not in the alphabet");
        assert!(!well_formed("7K3QX-9M2P"));
        assert!(!well_formed("中文中文中-中文中文中"));
        assert!(!well_formed(""));
    }

    #[test]
    fn accept_language_picks_the_heaviest_known_tag() {
        assert_eq!(accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(accept_language("fr, en-GB;q=0.7, zh;q=0.5"), Some(Lang::En));
        assert_eq!(accept_language("en;q=0.2, zh-TW;q=0.6"), Some(Lang::Zh));
        assert_eq!(accept_language("fr, de"), None);
        assert_eq!(accept_language(""), None);
        assert_eq!(accept_language("zh;q=0"), None);
    }

    #[test]
    fn the_limiter_counts_per_address_and_stays_bounded() {
        let l = VerifyLimiter::new(50, 3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a, t0).is_ok());
        }
        assert!(l.check(a, t0).is_err(), "the fourth lookup is refused");
        assert!(l.check(b, t0).is_ok(), "another address has its own count");
        assert!(l.check(a, t0 + VERIFY_WINDOW).is_ok(), "a new window");
        for i in 0..10_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(
                l.check(ip, t0 + Duration::from_millis(u64::from(i)))
                    .is_ok()
            );
            assert!(l.len() <= 50);
        }
        // The newest address is still counted.
        let last = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 9_999));
        let at = t0 + Duration::from_millis(10_000);
        assert!(l.check(last, at).is_ok());
        assert!(l.check(last, at).is_ok());
        assert!(l.check(last, at).is_err());
    }
}
