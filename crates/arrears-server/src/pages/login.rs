//! Staff sign-in and sign-out (signing out also ends a borrower's portal session).

use super::STAFF_SESSION;
use super::shared::{
    Chrome, CsrfOnly, Ctx, csrf_refused, form, internal, message, random_hex, redirect, render,
    session_cookie,
};
use crate::auth::{self, sha256_hex};
use crate::{AppState, now};
use arrears_store::NewSession;
use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use jiff::SignedDuration;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<&'static str>,
    username: String,
}

pub(super) async fn login_page(ctx: Ctx) -> Response {
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

/// Said when every password-check slot is taken (503, `Retry-After: 1`).
fn busy_text(ctx: &Ctx) -> &'static str {
    match ctx.lang {
        super::texts::Lang::En => {
            "Too many sign-ins are being checked at this moment; try again in a second."
        }
        super::texts::Lang::Zh => "此刻正在核对的登录过多，请一秒后再试。",
    }
}

/// The password check of `POST /v1/login` (argon2 under the same concurrency limit, the
/// same limiter keyed by the client's address), then a session.
pub(super) async fn login_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    client: Option<Extension<auth::ClientAddr>>,
    body: Bytes,
) -> Response {
    // The limiter's address: the peer, or what a trusted proxy forwarded.
    let ip = client.map_or(ctx.ip, |c| c.0.0);
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
        .locked_until(&f.username, ip, started)
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
    let ok = match state
        .password_checks()
        .verify(f.password.clone(), phc)
        .await
    {
        Some(Ok(ok)) => ok,
        Some(Err(e)) => return internal(&ctx, e),
        None => {
            let mut res = refuse(StatusCode::SERVICE_UNAVAILABLE, busy_text(&ctx));
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return res;
        }
    };
    let Some(u) = user.filter(|u| ok && !u.disabled) else {
        state
            .logins()
            .failed(&f.username, ip, std::time::Instant::now());
        return refuse(StatusCode::UNAUTHORIZED, ctx.t().wrong_login);
    };
    state.logins().succeeded(&f.username, ip);
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
    if let Some(c) = session_cookie(&id, STAFF_SESSION, ctx.secure) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

pub(super) async fn logout(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> Response {
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
    let secure = ctx.secure;
    let mut res = if was_staff {
        redirect("/login")
    } else {
        let c = Ctx {
            session: None,
            path: ctx.path.clone(),
            ..ctx
        };
        return {
            let mut r = message(&c, StatusCode::OK, c.t().app, c.t().signed_out, None);
            if let Some(v) = session_cookie("", SignedDuration::ZERO, secure) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        };
    };
    if let Some(v) = session_cookie("", SignedDuration::ZERO, secure) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
