//! The agent's account page as an agent's desk (issue 19, item 1): who the borrower is (their
//! own phone and e-mail, their local time, an attorney), every restriction in words with its
//! rule id and what each channel may do now, a call recorded from the page (a forbidden one
//! kept as a violation), a dispute resolved, a plan proposal answered, a promise or plan above
//! the balance confirmed before it is saved.

use super::{assign, attorney_loan, csrf, element, get, login, on_both, portal_session, post};
use crate::server::{Server, store_of};

/// B3 (Chicago, represented by an attorney) with L3, assigned to alice.
fn attorney_feed(s: &Server) {
    attorney_loan(s, 100_000, 0);
    assign(s, "L3", "alice");
}

#[test]
fn the_desk_shows_who_the_borrower_is_the_attorney_and_each_restriction_in_words() {
    on_both(|s| {
        attorney_feed(s);
        let alice = login(s, "alice");
        let p = get(s, "/accounts/L3", Some(&alice));
        assert_eq!(p.status, 200, "{}", p.body);
        let who = element(&p.body, "section", "who");
        assert!(who.contains("Ann Lee"), "{who}");
        assert!(who.contains("+13125550103"), "{who}");
        assert!(who.contains("ann@example.com"), "{who}");
        assert!(who.contains("America/Chicago"), "their zone: {who}");
        assert!(
            who.contains("represented by an attorney: contact the attorney only"),
            "{who}"
        );
        assert!(
            who.contains("+13125550199") && who.contains("law@example.com"),
            "{who}"
        );
        // Every channel to the borrower's own number is held by ALL-ONLY-DEBTOR, in words.
        let r = element(&p.body, "section", "restrictions");
        assert!(r.contains("data-rule=\"ALL-ONLY-DEBTOR\""), "{r}");
        assert!(
            r.contains("Only the borrower's own number or address")
                || r.contains("Only the borrower&#39;s own number or address")
                || r.contains("Only the borrower&#x27;s own number or address"),
            "{r}"
        );
        assert!(!r.contains("id=\"no-restrictions\""), "{r}");
        let allowed = element(&p.body, "table", "allowed");
        for ch in ["call", "sms", "email"] {
            let i = allowed
                .find(&format!("data-channel=\"{ch}\""))
                .unwrap_or_else(|| panic!("{ch}: {allowed}"));
            let row = &allowed[i..i + allowed[i..].find("</tr>").unwrap()];
            assert!(row.contains("class=\"denied\""), "{ch}: {row}");
            assert!(row.contains("ALL-ONLY-DEBTOR"), "{ch}: {row}");
        }
        // The same in Chinese.
        let zh = get(s, "/accounts/L3?lang=zh-CN", Some(&alice));
        assert_eq!(zh.status, 200);
        assert!(
            zh.body.contains("已委托律师代理：只能联系律师"),
            "{}",
            zh.body
        );
        assert!(
            zh.body.contains("只能联系借款人本人的号码或地址"),
            "{}",
            zh.body
        );
        // B1, not represented: no attorney line; calls allowed in office hours say so.
        let p1 = get(s, "/accounts/L1?lang=en", Some(&alice));
        let who1 = element(&p1.body, "section", "who");
        assert!(who1.contains("America/New_York"), "{who1}");
        assert!(!who1.contains("represented by an attorney"), "{who1}");
    });
}

#[test]
fn a_forbidden_call_recorded_from_the_desk_is_kept_as_a_violation() {
    on_both(|s| {
        attorney_feed(s);
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L3", Some(&alice));
        assert!(
            account.body.contains("id=\"direction\""),
            "{}",
            account.body
        );
        // The agent dialled the borrower's own number although only the attorney may be called.
        let p = post(
            s,
            "/accounts/L3/calls",
            Some(&alice),
            &[
                ("csrf", &csrf(&account)),
                ("direction", "outbound"),
                ("outcome", "right_party"),
            ],
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("logged as a violation"), "{}", p.body);
        assert!(p.body.contains("ALL-ONLY-DEBTOR"), "{}", p.body);
        let (rt, store) = store_of(s);
        let bc = rt.block_on(store.borrower_contacts("B3")).unwrap().unwrap();
        let own: Vec<_> = bc.own_contacts().collect();
        assert_eq!(own.len(), 1, "the call is on record");
        assert!(
            own[0]
                .violation
                .as_ref()
                .is_some_and(|v| v.iter().any(|r| r == "ALL-ONLY-DEBTOR")),
            "as a violation of ALL-ONLY-DEBTOR"
        );
    });
}

#[test]
fn a_dispute_is_resolved_from_the_desk_with_a_reason() {
    on_both(|s| {
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        let p = post(
            s,
            "/portal/b/B1/dispute",
            Some(&b1),
            &[("csrf", &csrf(&portal)), ("text", "not my loan")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(account.body.contains("data-rule=\"ALL-HOLD-DISPUTE\""));
        assert!(account.body.contains("id=\"resolve-dispute\""));
        // A reason is required.
        let p = post(
            s,
            "/accounts/L1/dispute-resolved",
            Some(&alice),
            &[("csrf", &csrf(&account)), ("reason", "  ")],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        let (rt, store) = store_of(s);
        let open = |rt: &tokio::runtime::Runtime| {
            rt.block_on(store.borrower_contacts("B1"))
                .unwrap()
                .unwrap()
                .borrower
                .dispute_open
        };
        assert!(open(&rt));
        let p = post(
            s,
            "/accounts/L1/dispute-resolved",
            Some(&alice),
            &[
                ("csrf", &csrf(&account)),
                ("reason", "statement sent, borrower agreed"),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert!(!open(&rt), "the dispute is closed in the store");
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(!account.body.contains("data-rule=\"ALL-HOLD-DISPUTE\""));
        assert!(!account.body.contains("id=\"resolve-dispute\""));
    });
}

#[test]
fn a_promise_above_the_balance_asks_for_confirmation_and_is_saved_only_then() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        let (rt, store) = store_of(s);
        let promises = |rt: &tokio::runtime::Runtime| {
            rt.block_on(store.loan_book("L1"))
                .unwrap()
                .unwrap()
                .promises
                .len()
        };
        let due = jiff::civil::date(2030, 1, 15).to_string();
        let fields = |confirm: bool| {
            let mut f = vec![
                ("csrf", csrf(&account)),
                ("direction", "inbound".to_owned()),
                ("outcome", "promise".to_owned()),
                ("promise_amount", "1500".to_owned()),
                ("promise_due", due.clone()),
            ];
            if confirm {
                f.push(("confirm", "yes".to_owned()));
            }
            f
        };
        let as_refs = |f: &[(&'static str, String)]| -> Vec<(&'static str, String)> { f.to_vec() };
        let send = |f: Vec<(&'static str, String)>| {
            let r: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(s, "/accounts/L1/calls", Some(&alice), &r)
        };
        let p = send(as_refs(&fields(false)));
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(
            p.body.contains("1500.00 USD"),
            "in the currency: {}",
            p.body
        );
        assert!(p.body.contains("1000.00 USD"), "the balance: {}", p.body);
        assert!(!p.body.contains("150000"), "never minor units: {}", p.body);
        assert!(p.body.contains("id=\"confirm\""), "{}", p.body);
        // What the agent typed is kept.
        assert!(p.body.contains("value=\"1500\""), "{}", p.body);
        assert!(p.body.contains(&format!("value=\"{due}\"")), "{}", p.body);
        assert_eq!(promises(&rt), 0, "not saved before confirming");
        let p = send(as_refs(&fields(true)));
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(promises(&rt), 1, "saved once confirmed");
        let book = rt.block_on(store.loan_book("L1")).unwrap().unwrap();
        assert_eq!(book.promises[0].amount_minor, 150_000);
    });
}

#[test]
fn a_payment_plan_is_cancelled_from_the_desk_with_a_reason() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        let p = post(
            s,
            "/accounts/L1/payment-plans",
            Some(&alice),
            &[
                ("csrf", &csrf(&account)),
                ("count", "2"),
                ("amount", "500"),
                ("first_due", "2030-01-15"),
                ("every", "month"),
            ],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let (rt, store) = store_of(s);
        let plans = |rt: &tokio::runtime::Runtime| {
            rt.block_on(store.loan_plans(
                "L1",
                jiff::civil::date(2026, 12, 1),
                &arrears_domain::TimeZoneName::utc(),
            ))
            .unwrap()
        };
        let before = plans(&rt);
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].status, "active");
        let id = before[0].plan_id.clone();
        let account = get(s, "/accounts/L1", Some(&alice));
        assert!(
            account.body.contains(&format!("/plans/{id}/cancel")),
            "{}",
            account.body
        );
        let path = format!("/accounts/L1/plans/{id}/cancel");
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &csrf(&account)), ("reason", "")],
        );
        assert_eq!(p.status, 422, "a reason is needed: {}", p.body);
        assert_eq!(plans(&rt)[0].status, "active");
        let p = post(
            s,
            &path,
            Some(&alice),
            &[("csrf", &csrf(&account)), ("reason", "borrower lost job")],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(plans(&rt)[0].status, "cancelled");
    });
}

#[test]
fn a_plan_above_the_balance_asks_for_confirmation_and_is_saved_only_then() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        let token = csrf(&account);
        let mut fields = vec![
            ("csrf", token.as_str()),
            ("count", "3"),
            ("amount", "400.50"),
            ("first_due", "2030-01-15"),
            ("every", "month"),
        ];
        let (rt, store) = store_of(s);
        let count = |rt: &tokio::runtime::Runtime| {
            rt.block_on(store.loan_plans(
                "L1",
                jiff::civil::date(2026, 12, 1),
                &arrears_domain::TimeZoneName::utc(),
            ))
            .unwrap()
            .len()
        };
        let p = post(s, "/accounts/L1/payment-plans", Some(&alice), &fields);
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(
            p.body.contains("1201.50 USD"),
            "the total in the currency: {}",
            p.body
        );
        assert!(p.body.contains("1000.00 USD"), "the balance: {}", p.body);
        assert!(!p.body.contains("120150"), "never minor units: {}", p.body);
        assert!(
            p.body.contains("value=\"400.50\""),
            "typed amount kept: {}",
            p.body
        );
        assert_eq!(count(&rt), 0, "not saved before confirming");
        fields.push(("confirm", "yes"));
        let p = post(s, "/accounts/L1/payment-plans", Some(&alice), &fields);
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(count(&rt), 1, "saved once confirmed");
    });
}

#[test]
fn a_call_form_error_keeps_what_the_agent_typed() {
    on_both(|s| {
        let alice = login(s, "alice");
        let account = get(s, "/accounts/L1", Some(&alice));
        let p = post(
            s,
            "/accounts/L1/calls",
            Some(&alice),
            &[
                ("csrf", &csrf(&account)),
                ("direction", "inbound"),
                ("outcome", "promise"),
                ("promise_amount", "12,5x"),
                ("promise_due", "2030-02-01"),
            ],
        );
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("value=\"12,5x\""), "{}", p.body);
        assert!(p.body.contains("value=\"2030-02-01\""), "{}", p.body);
        assert!(p.body.contains("value=\"inbound\""), "{}", p.body);
        assert!(
            !p.body.contains("id=\"confirm\""),
            "no confirmation asked: {}",
            p.body
        );
        let (rt, store) = store_of(s);
        let book = rt.block_on(store.loan_book("L1")).unwrap().unwrap();
        assert!(book.promises.is_empty());
    });
}
