//! The borrower's own way into the portal (`/portal`): they type their phone number or
//! e-mail address, a six-digit code goes to it through the outbox
//! (`arrears_app::access::request_sign_in_code`: only a target on record as theirs, at most
//! three codes an hour), and they type the code (`arrears_app::access::sign_in`: five tries a
//! code, ten minutes). The page answers the same whether or not what was typed is on record,
//! so it does not tell who borrows; each client address has a bounded number of tries in a
//! window (the verify page's limiter). Staff send a one-time link the same way
//! ([`send_link`]): it goes to the borrower's own e-mail or phone and is never shown to staff.
//! Every outcome about a borrower is written to the access log.

use super::shared::{Chrome, Ctx, form, internal, random_hex, redirect, render, session_cookie};
use super::texts::Lang;
use super::{PORTAL_CODE_VALID, PORTAL_SESSION, VerifyLimiter};
use crate::auth::{ClientAddr, sha256_hex};
use crate::{AppState, now};
use arrears_app::access::{self as door, SignIn, SignInRequest};
use arrears_store::NewSession;
use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

/// Sign-in requests and tries one client address may make in the limiter's window (ten
/// minutes), both forms together.
pub const SIGN_IN_TRIES_PER_CLIENT: u32 = 20;

/// The sign-in forms' own limiter (a [`VerifyLimiter`] with [`SIGN_IN_TRIES_PER_CLIENT`]).
#[derive(Debug)]
pub struct SignInLimiter(pub VerifyLimiter);

impl Default for SignInLimiter {
    fn default() -> SignInLimiter {
        SignInLimiter(VerifyLimiter::new(
            super::verify::VERIFY_CLIENTS,
            SIGN_IN_TRIES_PER_CLIENT,
        ))
    }
}

pub(super) struct Words {
    title: &'static str,
    intro: &'static str,
    who: &'static str,
    send: &'static str,
    code: &'static str,
    sign_in: &'static str,
    safety: &'static str,
    verify: &'static str,
    sent: &'static str,
    not_a_target: &'static str,
    wrong: &'static str,
    too_many: &'static str,
}

const EN: Words = Words {
    title: "Sign in to see your debt",
    intro: "Type the mobile number or e-mail address your lender has for you. We send a \
            six-digit code to it; nobody else receives it.",
    who: "Mobile number or e-mail address",
    send: "Send me a code",
    code: "Six-digit code",
    sign_in: "Sign in",
    safety: "We never ask for this code by phone. To check a message you received, use",
    verify: "the message check",
    sent: "If this number or address is on record as yours, a code is on its way to it. It \
           works for 10 minutes. Type it below.",
    not_a_target: "Type a mobile number (for example +86 138 0013 8000) or an e-mail address.",
    wrong: "That code is not right, or it no longer works. Check it, or ask for a new code.",
    too_many: "Too many tries from here. Wait ten minutes and try again.",
};

const ZH: Words = Words {
    title: "登录查看您的欠款",
    intro: "请输入贷款机构登记的您的手机号码或电子邮箱。我们会向其发送六位验证码，其他人不会收到。",
    who: "手机号码或电子邮箱",
    send: "发送验证码",
    code: "六位验证码",
    sign_in: "登录",
    safety: "我们绝不会通过电话索取验证码。要核实您收到的消息，请使用",
    verify: "消息核验",
    sent: "如果该号码或邮箱是登记在您名下的，验证码已发送，10分钟内有效。请在下方输入。",
    not_a_target: "请输入手机号码（例如 138 0013 8000）或电子邮箱地址。",
    wrong: "验证码不正确或已失效。请核对，或重新获取验证码。",
    too_many: "此处尝试次数过多，请十分钟后再试。",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

#[derive(Template)]
#[template(path = "portal_sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    w: &'static Words,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    who: String,
    code_form: bool,
}

fn page(
    ctx: &Ctx,
    status: StatusCode,
    who: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    code_form: bool,
) -> Response {
    render(
        ctx,
        status,
        &SignInPage {
            chrome: ctx.chrome(),
            w: words(ctx.lang),
            notice,
            error,
            who,
            code_form,
        },
    )
}

/// `GET /portal`: the sign-in form (a borrower already signed in goes to their page).
pub(super) async fn sign_in_page(ctx: Ctx) -> Response {
    if let Some(b) = ctx.borrower() {
        return redirect(&format!("/portal/b/{b}"));
    }
    page(&ctx, StatusCode::OK, String::new(), None, None, false)
}

#[derive(Deserialize)]
struct WhoForm {
    who: Option<String>,
    code: Option<String>,
}

/// The limiter's answer for this client: `Err` is the 429 page.
#[allow(clippy::result_large_err)]
fn limited(
    ctx: &Ctx,
    limiter: &SignInLimiter,
    client: Option<Extension<ClientAddr>>,
    who: &str,
) -> Result<(), Response> {
    let ip = client.map_or(ctx.ip, |c| c.0.0);
    limiter.0.check(ip, Instant::now()).map_err(|wait| {
        let mut res = page(
            ctx,
            StatusCode::TOO_MANY_REQUESTS,
            who.to_owned(),
            None,
            Some(words(ctx.lang).too_many),
            false,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    })
}

/// The lender's name as messages give it (`arrears_app::rules::lender_name`).
pub(super) fn lender_name(state: &AppState) -> String {
    arrears_app::rules::lender_name(&state.policy())
}

/// Six decimal digits, uniform (rejection sampling: no modulo bias).
fn six_digits() -> Result<String, getrandom::Error> {
    // 4_294_000_000 is the largest multiple of 10^6 not above 2^32.
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b)?;
        let n = u32::from_le_bytes(b);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// `POST /portal/code`: sends a code to what was typed when it is one borrower's own.
pub(super) async fn request_code(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<SignInLimiter>>,
    ctx: Ctx,
    client: Option<Extension<ClientAddr>>,
    body: Bytes,
) -> Response {
    let who: String = form::<WhoForm>(&body)
        .and_then(|f| f.who)
        .unwrap_or_default()
        .trim()
        .chars()
        .take(254)
        .collect();
    if let Err(res) = limited(&ctx, &limiter, client, &who) {
        return res;
    }
    let w = words(ctx.lang);
    if door::target_candidates(&who).is_empty() {
        return page(&ctx, StatusCode::OK, who, None, Some(w.not_a_target), false);
    }
    let (Ok(code), Ok(salt)) = (six_digits(), random_hex()) else {
        return internal(&ctx, "no randomness");
    };
    let lender = lender_name(&state);
    let outcome =
        match door::request_sign_in_code(state.store(), &who, &code, &salt, &lender, now()).await {
            Ok(o) => o,
            Err(e) => return internal(&ctx, e),
        };
    let logged = match &outcome {
        SignInRequest::Queued { borrower_id, .. } => Some((borrower_id, "portal.code_sent")),
        SignInRequest::TooMany { borrower_id } => {
            Some((borrower_id, "portal.code_refused_too_many"))
        }
        SignInRequest::Refused { borrower_id, .. } => Some((borrower_id, "portal.code_refused")),
        SignInRequest::NotATarget | SignInRequest::NotOnRecord => None,
    };
    if let Some((b, action)) = logged
        && let Err(e) = super::shared::log_access(
            &state,
            format!("portal-sign-in:{}", ctx.ip),
            action,
            b,
            None,
        )
        .await
    {
        return internal(&ctx, e);
    }
    tracing::info!(outcome = ?outcome_kind(&outcome), "portal sign-in code requested");
    page(&ctx, StatusCode::OK, who, Some(w.sent), None, true)
}

fn outcome_kind(o: &SignInRequest) -> &'static str {
    match o {
        SignInRequest::Queued { .. } => "queued",
        SignInRequest::NotATarget => "not_a_target",
        SignInRequest::NotOnRecord => "not_on_record",
        SignInRequest::TooMany { .. } => "too_many",
        SignInRequest::Refused { .. } => "refused",
    }
}

/// `POST /portal/sign-in`: what was typed and the code; a borrower session on success.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<SignInLimiter>>,
    ctx: Ctx,
    client: Option<Extension<ClientAddr>>,
    body: Bytes,
) -> Response {
    let f = form::<WhoForm>(&body);
    let who: String = f
        .as_ref()
        .and_then(|f| f.who.as_deref())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(254)
        .collect();
    let code: String = f
        .as_ref()
        .and_then(|f| f.code.as_deref())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(12)
        .collect();
    if let Err(res) = limited(&ctx, &limiter, client, &who) {
        return res;
    }
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
    let outcome = match door::sign_in(state.store(), &who, &code, &new).await {
        Ok(o) => o,
        Err(e) => return internal(&ctx, e),
    };
    let actor = format!("portal-sign-in:{}", ctx.ip);
    match outcome {
        SignIn::SignedIn { borrower_id } => {
            if let Err(e) =
                super::shared::log_access(&state, actor, "portal.signed_in", &borrower_id, None)
                    .await
            {
                return internal(&ctx, e);
            }
            let mut res = redirect(&format!("/portal/b/{borrower_id}"));
            if let Some(c) = session_cookie(&id, PORTAL_SESSION, ctx.secure) {
                res.headers_mut().append(header::SET_COOKIE, c);
            }
            res
        }
        SignIn::Refused { borrower_id, .. } => {
            if let Err(e) = super::shared::log_access(
                &state,
                actor,
                "portal.sign_in_refused",
                &borrower_id,
                None,
            )
            .await
            {
                return internal(&ctx, e);
            }
            page(
                &ctx,
                StatusCode::UNAUTHORIZED,
                who,
                None,
                Some(words(ctx.lang).wrong),
                true,
            )
        }
        SignIn::NotOnRecord => page(
            &ctx,
            StatusCode::UNAUTHORIZED,
            who,
            None,
            Some(words(ctx.lang).wrong),
            true,
        ),
    }
}

/// What the staff page says after sending a link.
pub(super) struct LinkWords {
    pub(super) sent: &'static str,
    pub(super) no_target: &'static str,
    pub(super) no_base: &'static str,
}

pub(super) fn link_words(lang: Lang) -> LinkWords {
    match lang {
        Lang::En => LinkWords {
            sent: "A one-time link to the portal was sent to the borrower's own",
            no_target: "The borrower has no phone number or e-mail address of their own on record (or a representative's address only): no link can be sent.",
            no_base: "The service has no public address (arrears serve --base-url): no link can be sent.",
        },
        Lang::Zh => LinkWords {
            sent: "一次性门户链接已发送至借款人本人的",
            no_target: "借款人名下没有本人的手机号码或电子邮箱（或仅有代理人地址），无法发送链接。",
            no_base: "服务未配置对外地址（arrears serve --base-url），无法发送链接。",
        },
    }
}

/// Staff send the borrower a one-time portal link through the outbox; the answer says where
/// it went (masked), never the link. `Ok` is the sentence for the page.
pub(super) async fn send_link(
    state: &AppState,
    ctx: &Ctx,
    borrower_id: &str,
    issued_by: &str,
) -> Result<String, Response> {
    let lw = link_words(ctx.lang);
    let Some(base) = state.base_url() else {
        return Err(super::shared::message(
            ctx,
            StatusCode::CONFLICT,
            ctx.t().portal_link,
            lw.no_base,
            None,
        ));
    };
    let Ok((code, hash)) = super::shared::new_portal_code() else {
        return Err(internal(ctx, "no randomness"));
    };
    match door::send_portal_link(
        state.store(),
        borrower_id,
        base.as_str(),
        &code,
        &hash,
        issued_by,
        &lender_name(state),
        PORTAL_CODE_VALID,
        now(),
    )
    .await
    {
        Ok(sent) => {
            if let Err(e) = super::shared::log_access(
                state,
                issued_by.to_owned(),
                "portal.link_sent",
                borrower_id,
                None,
            )
            .await
            {
                return Err(internal(ctx, e));
            }
            let how = match (ctx.lang, sent.channel) {
                (Lang::En, arrears_policy::Channel::Email) => "e-mail address",
                (Lang::En, _) => "mobile number",
                (Lang::Zh, arrears_policy::Channel::Email) => "电子邮箱",
                (Lang::Zh, _) => "手机号码",
            };
            Ok(format!("{} {how} {}.", lw.sent, sent.masked_target))
        }
        Err(door::AccessError::NoOwnTarget | door::AccessError::Refused(_)) => {
            Err(super::shared::message(
                ctx,
                StatusCode::CONFLICT,
                ctx.t().portal_link,
                lw.no_target,
                None,
            ))
        }
        Err(e) => Err(internal(ctx, e)),
    }
}
