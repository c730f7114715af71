//! The borrower portal for the borrower (issue 19, item 4): the lender's name and how to
//! reach them, how to pay and the total owed with the penalty in the loan's currency, plain
//! words instead of bucket and outcome codes (English and Chinese), the answer to an action
//! at the top of the page, a confirmation before stopping contact, the complaint channel as
//! a link, and (in headless Chromium at 375 px) touch targets of at least 24 px.

use super::{
    click, csrf, css_text_until, element, get, import_feed, in_browser, on_both, portal_link,
    portal_session, post, run_day, setup,
};
use crate::portfolio;
use crate::server::{Server, store_of};
use crate::store::Backend;

/// `minor` cents of USD as the portal writes them.
fn usd(minor: i64) -> String {
    format!("{}.{:02} USD", minor / 100, minor % 100)
}

/// B5 in New York with L5: 1,000.00 USD and a 5.00 USD fee due on 2026-10-01, unpaid, with
/// a penalty rate; the daily run of 2026-11-27 gives it a penalty.
fn with_penalty_loan(s: &Server) {
    let feed = portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B5,Eve,+12125550105,,America/New_York,US-NY,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L5,B5,x,USD,100000,0,1000,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L5,1,2026-10-01,100000,0,500\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
    ]);
    import_feed(s, feed.path());
    run_day(s);
}

#[test]
fn the_portal_names_the_lender_and_shows_what_is_owed_in_plain_words() {
    on_both(|s| {
        with_penalty_loan(s);
        let (rt, store) = store_of(s);
        let snap = rt
            .block_on(store.loan_snapshots("L5"))
            .unwrap()
            .pop()
            .expect("a snapshot of L5");
        let penalty = snap.penalty_accrued_minor - snap.penalty_paid_minor;
        assert!(penalty > 0, "L5 has a penalty: {snap:?}");
        assert!(snap.overdue_fee_minor > 0, "{snap:?}");

        let b5 = portal_session(s, "B5");
        let p = get(s, "/portal/b/B5", Some(&b5));
        assert_eq!(p.status, 200, "{}", p.body);
        // The lender and how to reach them.
        assert!(
            element(&p.body, "strong", "lender-name").contains("Arrears Demo Lender"),
            "{}",
            p.body
        );
        // The total owed with the penalty, and what is overdue, in the loan's currency.
        let total = snap.outstanding_principal_minor
            + snap.overdue_interest_minor
            + snap.overdue_fee_minor
            + penalty;
        assert!(
            p.body.contains(&format!(
                "<td class=\"total total-outstanding\">{}</td>",
                usd(total)
            )),
            "total {}: {}",
            usd(total),
            p.body
        );
        assert!(
            p.body.contains(&format!(
                "<td class=\"total overdue-total\">{}</td>",
                usd(snap.overdue_minor + penalty)
            )),
            "overdue {}: {}",
            usd(snap.overdue_minor + penalty),
            p.body
        );
        assert!(
            p.body
                .contains(&format!("<td class=\"penalty\">{}</td>", usd(penalty)))
        );
        // Never a bare number of minor units.
        for minor in [total, snap.overdue_minor + penalty, penalty] {
            assert!(
                !p.body.contains(&format!(">{minor}<")) && !p.body.contains(&format!(">{minor} ")),
                "a bare {minor}: {}",
                p.body
            );
        }
        // How to pay: the loan id as the reference.
        assert!(
            p.body
                .contains("Payment reference: <strong class=\"pay-reference\">L5</strong>"),
            "{}",
            p.body
        );
        // Plain words for how late, never the bucket code.
        assert!(snap.dpd > 30, "{snap:?}");
        assert!(
            p.body.contains(&format!("{} days overdue", snap.dpd)),
            "{}",
            p.body
        );
        assert!(!p.body.contains("Bucket"), "{}", p.body);
        assert!(
            !p.body.contains(&format!(">{}<", snap.bucket)),
            "bucket {}: {}",
            snap.bucket,
            p.body
        );
        // The complaint channel as a link (New York: the CFPB's complaint page).
        assert!(
            p.body.contains(
                "<a href=\"https://www.consumerfinance.gov/complaint/\" id=\"complain-link\""
            ),
            "{}",
            p.body
        );

        // In Chinese too: no bucket code, the lateness in words.
        let zh = get(s, "/portal/b/B5?lang=zh-CN", Some(&b5));
        assert_eq!(zh.status, 200);
        assert!(zh.body.contains("贷款机构："), "{}", zh.body);
        assert!(
            zh.body.contains(&format!("已逾期 {} 天", snap.dpd)),
            "{}",
            zh.body
        );
        assert!(zh.body.contains(&usd(total)), "{}", zh.body);
        assert!(!zh.body.contains(&format!(">{}<", snap.bucket)));

        // B1's call outcome in the borrower's words, not the staff's.
        let b1 = portal_session(s, "B1");
        let p1 = get(s, "/portal/b/B1", Some(&b1));
        let contacts = element(&p1.body, "table", "contacts");
        assert!(contacts.contains("We spoke with you"), "{contacts}");
        assert!(!p1.body.contains("Spoke with the borrower"), "{}", p1.body);
        let z1 = get(s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        assert!(z1.body.contains("我们与您通了电话"), "{}", z1.body);
        assert!(!z1.body.contains("已与借款人通话"), "{}", z1.body);
    });
}

#[test]
fn stopping_contact_takes_a_confirmation_and_the_answer_shows_at_the_top() {
    on_both(|s| {
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        let token = csrf(&portal);
        assert!(!portal.body.contains("id=\"cease-confirm\""));
        let (rt, store) = store_of(s);
        let ceased = || {
            rt.block_on(store.borrower_contacts("B1"))
                .unwrap()
                .unwrap()
                .borrower
                .cease_contact
        };
        // One POST without the confirmation only asks "are you sure?".
        for extra in [None, Some("no"), Some("")] {
            let mut f = vec![("csrf", token.as_str())];
            if let Some(c) = extra {
                f.push(("confirm", c));
            }
            let p = post(s, "/portal/b/B1/cease", Some(&b1), &f);
            assert_eq!(p.status, 200, "{extra:?}: {}", p.body);
            let ask = element(&p.body, "section", "cease-confirm");
            assert!(ask.contains("Are you sure"), "{ask}");
            assert!(ask.contains("name=\"confirm\" value=\"yes\""), "{ask}");
            assert!(ask.contains("id=\"cease-confirm-yes\""), "{ask}");
            // The question comes before what is owed.
            let at = p.body.find("id=\"cease-confirm\"").unwrap();
            assert!(at < p.body.find("id=\"lender\"").unwrap());
            assert!(!ceased(), "contact stopped without the confirmation");
        }
        // The confirmation stops contact, and the answer is the page's first content.
        let p = post(
            s,
            "/portal/b/B1/cease",
            Some(&b1),
            &[("csrf", &token), ("confirm", "yes")],
        );
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/portal/b/B1?done=cease"))
        );
        assert!(ceased());
        let after = get(s, "/portal/b/B1?done=cease", Some(&b1));
        let notice = after.body.find("id=\"notice\"").expect("a notice");
        assert!(notice < after.body.find("id=\"lender\"").unwrap());
        assert!(
            element(&after.body, "p", "notice").contains("collection contacts stop"),
            "{}",
            after.body
        );
    });
}

/// Every link, button and field of the portal is at least 24 px high on a 375 px wide
/// phone screen (measured in headless Chromium).
#[test]
fn browser_the_portals_touch_targets_are_large_enough_on_a_phone() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    let (link, _) = portal_link(&s, "B1");
    in_browser(&s, move |c, _| {
        Box::pin(async move {
            let e = |e: fantoccini::error::CmdError| e.to_string();
            c.set_window_size(375, 812).await.map_err(e)?;
            c.goto(&link).await.map_err(e)?;
            click(c, "#continue").await?;
            css_text_until(c, "#lender-name", |t| t.contains("Arrears Demo Lender")).await?;
            let width = c
                .execute("return document.documentElement.clientWidth;", vec![])
                .await
                .map_err(e)?;
            if width.as_f64().is_none_or(|w| w > 400.0) {
                return Err(format!("the viewport is not a phone's: {width}"));
            }
            let small = c
                .execute(
                    "const out = [];
                     for (const el of document.querySelectorAll(
                         'a, button, input:not([type=hidden]), select, textarea')) {
                       const r = el.getBoundingClientRect();
                       if (r.height < 24) {
                         out.push(el.tagName + '#' + el.id + ' ' + el.textContent.trim()
                                  + ': ' + r.height);
                       }
                     }
                     return [document.querySelectorAll('a, button, select, textarea').length, out];",
                    vec![],
                )
                .await
                .map_err(e)?;
            let count = small[0].as_u64().unwrap_or(0);
            if count < 10 {
                return Err(format!("too few targets measured: {small}"));
            }
            if small[1].as_array().is_none_or(|a| !a.is_empty()) {
                return Err(format!("targets under 24 px: {small}"));
            }
            Ok::<(), String>(())
        })
    });
}

/// The lender's policy, set once in the store (`arrears policy set`), names the lender and says
/// how to reach and pay them on the borrower's portal: a phone number to tap, an e-mail
/// address, opening hours, payment instructions and an https payment link.
#[test]
fn the_lenders_policy_says_on_the_portal_how_to_reach_and_pay_the_lender() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = crate::store::fresh(b) else {
            continue;
        };
        crate::server::ok(&["db", "migrate", "--db", &db.target]);
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(
            &policy,
            "[policy]\nname = \"acme-portal\"\n\
             [lender]\nname = \"Acme Consumer Finance\"\nphone = \"+1 (800) 555-0100\"\n\
             email = \"help@acme.example\"\nhours = \"Monday to Friday, 09:00-18:00\"\n\
             payment = \"Bank transfer to account 000123456 <ABA 021000021>\"\n\
             payment_url = \"https://pay.acme.example/loans\"\n",
        )
        .unwrap();
        crate::server::ok(&[
            "policy",
            "set",
            policy.to_str().unwrap(),
            "--effective-from",
            "2020-01-01",
            "--db",
            &db.target,
        ]);
        let clock = super::office_hours_clock();
        let mut args = Vec::new();
        if let Some(at) = &clock {
            args.extend(["--clock-from", at.as_str()]);
        }
        let s = crate::server::spawn_app(db, &args);
        let b1 = portal_session(&s, "B1");
        let p = get(&s, "/portal/b/B1", Some(&b1));
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            element(&p.body, "strong", "lender-name").contains("Acme Consumer Finance"),
            "{:?}: {}",
            b,
            p.body
        );
        let contact = element(&p.body, "ul", "lender-contact");
        assert!(
            contact.contains(
                "<a href=\"tel:+18005550100\" class=\"lender-phone\">+1 (800) 555-0100</a>"
            ),
            "{contact}"
        );
        assert!(
            contact.contains("href=\"mailto:help@acme.example\""),
            "{contact}"
        );
        assert!(
            contact.contains("Monday to Friday, 09:00-18:00"),
            "{contact}"
        );
        // The payment instructions are text, escaped; the link is the policy's https address.
        assert!(
            p.body.contains(
                "<p class=\"pay-how\">Bank transfer to account 000123456 &#60;ABA 021000021&#62;</p>"
            ) || p.body.contains(
                "<p class=\"pay-how\">Bank transfer to account 000123456 &lt;ABA 021000021&gt;</p>"
            ),
            "{}",
            p.body
        );
        assert!(
            p.body
                .contains("<a href=\"https://pay.acme.example/loans\" class=\"pay-link\""),
            "{}",
            p.body
        );
        // In Chinese the labels change, the lender's own words do not.
        let zh = get(&s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        assert!(zh.body.contains("电话："), "{}", zh.body);
        assert!(zh.body.contains("在线还款"), "{}", zh.body);
    }
}
