//! The borrower's own way into the portal (issue 16, item 2), against the real server on both
//! backends: a code asked for with the borrower's phone or e-mail goes through the outbox to
//! that target only, the page answers the same for a stranger, a code works once, five
//! wrong tries spend it, three codes an hour at most; a staff-issued link goes through the
//! outbox too and is never on the staff page; the dispatcher sends a code without counting it
//! as a contact and keeps no copy of it; cookies are Secure behind an https:// base URL.

use super::{csrf, get, login, on_both, post, session_cookie, setup};
use crate::server::{Server, store_of};
use crate::store::Backend;

/// The outbox rows of `purpose` for `borrower`, oldest first.
fn access_rows(s: &Server, borrower: &str, purpose: &str) -> Vec<arrears_store::OutboxRow> {
    let (rt, store) = store_of(s);
    rt.block_on(store.outbox_rows())
        .unwrap()
        .into_iter()
        .filter(|r| r.message.borrower_id == borrower && r.message.purpose == purpose)
        .collect()
}

/// The code in the latest sign-in message to `borrower` (as the borrower's phone shows it).
fn latest_code(s: &Server, borrower: &str) -> String {
    let rows = access_rows(s, borrower, "access_code");
    let row = rows.last().expect("a sign-in message in the outbox");
    let code = row.message.verification_code.clone();
    assert_eq!(code.len(), 6, "{code}");
    assert!(row.message.body.contains(&code), "{}", row.message.body);
    code
}

#[test]
fn a_borrower_signs_in_with_a_code_sent_to_their_own_phone() {
    on_both(|s| {
        let p = get(s, "/portal", None);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("name=\"who\""), "{}", p.body);

        // B1's phone as a person types it (+1 212 555 0100 on record).
        let p = post(s, "/portal/code", None, &[("who", "(212) 555-0100")]);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("id=\"sign-in-notice\""), "{}", p.body);
        let rows = access_rows(s, "B1", "access_code");
        assert_eq!(rows.len(), 1);
        let m = &rows[0].message;
        assert_eq!(
            (m.channel.as_str(), m.target.as_deref(), m.party.as_str()),
            ("sms", Some("+12125550100"), "borrower")
        );
        assert!(!m.body.to_lowercase().contains(" owe"), "{}", m.body);
        let code = latest_code(s, "B1");

        // A stranger's number gets the same page and nothing is queued.
        let stranger = post(s, "/portal/code", None, &[("who", "+1 212 555 0199")]);
        assert_eq!(stranger.status, 200);
        assert_eq!(
            stranger.body.replace("+1 212 555 0199", "X"),
            p.body.replace("(212) 555-0100", "X"),
            "the page does not tell who is a borrower"
        );
        let (rt, store) = store_of(s);
        let all = rt.block_on(store.outbox_rows()).unwrap();
        assert!(
            all.iter()
                .all(|r| r.message.target.as_deref() != Some("+12125550199")),
            "nothing to a number not on record"
        );

        // A wrong code is refused; the right one signs in, once.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let p = post(
            s,
            "/portal/sign-in",
            None,
            &[("who", "+12125550100"), ("code", wrong)],
        );
        assert_eq!(p.status, 401, "{}", p.body);
        assert!(session_cookie(&p).is_none());
        let p = post(
            s,
            "/portal/sign-in",
            None,
            &[("who", "(212) 555-0100"), ("code", &code)],
        );
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/portal/b/B1")),
            "{}",
            p.body
        );
        let cookie = session_cookie(&p).expect("a borrower session");
        assert!(
            p.set_cookies.iter().all(|c| !c.contains("Secure")),
            "no Secure cookie over plain http"
        );
        let page = get(s, "/portal/b/B1", Some(&cookie));
        assert_eq!(page.status, 200);
        assert_eq!(get(s, "/portal/b/B2", Some(&cookie)).status, 403);
        let again = post(
            s,
            "/portal/sign-in",
            None,
            &[("who", "+12125550100"), ("code", &code)],
        );
        assert_eq!(again.status, 401, "a code works once");

        // The access log has the code sent, the refused try and the sign-in.
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        let actions: Vec<&str> = log.iter().map(|a| a.action.as_str()).collect();
        for want in [
            "portal.code_sent",
            "portal.sign_in_refused",
            "portal.signed_in",
        ] {
            assert!(actions.contains(&want), "{want} in {actions:?}");
        }
    });
}

#[test]
fn guessing_is_bounded_by_tries_and_codes_per_hour() {
    on_both(|s| {
        // By e-mail this time (m@example.com on record, typed in capitals).
        let p = post(s, "/portal/code", None, &[("who", "M@Example.com")]);
        assert_eq!(p.status, 200);
        let rows = access_rows(s, "B1", "access_code");
        assert_eq!(rows[0].message.channel, "email");
        assert_eq!(rows[0].message.target.as_deref(), Some("m@example.com"));
        let code = latest_code(s, "B1");
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            let p = post(
                s,
                "/portal/sign-in",
                None,
                &[("who", "m@example.com"), ("code", wrong)],
            );
            assert_eq!(p.status, 401);
        }
        // Five wrong tries spent the code: the right one no longer works.
        let p = post(
            s,
            "/portal/sign-in",
            None,
            &[("who", "m@example.com"), ("code", &code)],
        );
        assert_eq!(p.status, 401, "a spent code does not sign in");
        // Two more codes this hour, then no more (the page still says the same).
        for _ in 0..3 {
            let p = post(s, "/portal/code", None, &[("who", "m@example.com")]);
            assert_eq!(p.status, 200);
        }
        assert_eq!(access_rows(s, "B1", "access_code").len(), 3);
        // The latest of them works.
        let code = latest_code(s, "B1");
        let p = post(
            s,
            "/portal/sign-in",
            None,
            &[("who", "m@example.com"), ("code", &code)],
        );
        assert_eq!(p.status, 303, "{}", p.body);
    });
}

#[test]
fn a_staff_link_goes_to_the_borrower_and_is_never_shown_to_staff() {
    on_both(|s| {
        let alice = login(s, "alice");
        let own = get(s, "/accounts/L1", Some(&alice));
        let p = post(
            s,
            "/accounts/L1/portal-link",
            Some(&alice),
            &[("csrf", &csrf(&own))],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            !p.body.contains("/portal/enter?code="),
            "no link on the staff page: {}",
            p.body
        );
        assert!(p.body.contains("m•••@example.com"), "{}", p.body);
        let rows = access_rows(s, "B1", "access_link");
        assert_eq!(rows.len(), 1);
        let m = &rows[0].message;
        assert_eq!(
            (m.channel.as_str(), m.target.as_deref()),
            ("email", Some("m@example.com"))
        );
        let link = &m.verification_code;
        assert!(
            link.starts_with(&format!("{}/portal/enter?code=", s.base)),
            "{link}"
        );
        assert!(m.body.contains(link.as_str()));
        let code = link.rsplit_once("code=").unwrap().1;
        let p = post(s, "/portal/enter", None, &[("code", code)]);
        assert_eq!(p.location.as_deref(), Some("/portal/b/B1"));
        let (rt, store) = store_of(s);
        let log = rt.block_on(store.access_log("B1")).unwrap();
        assert!(
            log.iter()
                .any(|a| a.action == "portal.link_sent" && a.actor == "user:alice"),
            "{log:?}"
        );
    });
}

#[test]
fn cookies_are_secure_behind_an_https_base_url() {
    let Some(s) = setup(
        Backend::Sqlite,
        &["--base-url", "https://collect.example.com/"],
    ) else {
        return;
    };
    let p = post(
        &s,
        "/login",
        None,
        &[("username", "alice"), ("password", super::PASSWORD)],
    );
    assert_eq!(p.status, 303, "{}", p.body);
    let c = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("arrears_session="))
        .expect("a session cookie");
    assert!(c.contains("; Secure"), "{c}");
    assert!(c.contains("HttpOnly"), "{c}");
    // Links are written under the base URL, not the request's Host.
    let alice = session_cookie(&p).unwrap();
    let own = get(&s, "/accounts/L1", Some(&alice));
    let p = post(
        &s,
        "/accounts/L1/portal-link",
        Some(&alice),
        &[("csrf", &csrf(&own))],
    );
    assert_eq!(p.status, 200, "{}", p.body);
    let rows = access_rows(&s, "B1", "access_link");
    assert!(
        rows[0]
            .message
            .verification_code
            .starts_with("https://collect.example.com/portal/enter?code="),
        "{:?}",
        rows[0].message.verification_code
    );
}
