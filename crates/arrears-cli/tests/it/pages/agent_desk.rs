//! The agent's account page as an agent's desk (issue 19, item 1): who the borrower is (their
//! own phone and e-mail, their local time, an attorney), every restriction in words with its
//! rule id and what each channel may do now, a call recorded from the page (a forbidden one
//! kept as a violation), a dispute resolved, a plan proposal answered, a promise or plan above
//! the balance confirmed before it is saved.

use super::{element, get, login, setup};
use crate::portfolio;
use crate::server::{Server, ok};
use crate::store::Backend;

/// B3 (Chicago, represented by an attorney) with L3, assigned to alice.
fn attorney_feed(s: &Server) {
    let dir = portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased,attorney_phone,attorney_email\n\
             B3,Ann Lee,+13125550103,ann@example.com,America/Chicago,US-NY,false,+13125550199,law@example.com\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L3,B3,x,USD,100000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L3,1,2026-10-01,100000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
    ]);
    ok(&[
        "import",
        "--portfolio",
        dir.path().to_str().unwrap(),
        "--db",
        &s.db.target,
        "--rejects",
        dir.path().join("rejects.csv").to_str().unwrap(),
    ]);
    ok(&[
        "assign",
        "--loan",
        "L3",
        "--agent",
        "alice",
        "--db",
        &s.db.target,
    ]);
}

fn on_both(f: impl Fn(&Server)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(s) = setup(b, &[]) {
            f(&s);
        }
    }
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
