//! The portal's credit-report section against the real server (SQLite and PostgreSQL): the
//! borrower sees the lines the month's bureau file said about them, disputes one (CSRF,
//! their own loan only), and the next file reports that loan as disputed.

use super::{csrf, element, get, import_feed, on_both, portal_session, post};
use crate::server::ok;
use crate::{portfolio, text};

fn rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The borrower's words for a bureau status (docs/bureau.md; the portal's English).
fn words(status: &str) -> &'static str {
    match status {
        "current" => "Current",
        "late_30" => "30 days late",
        "late_60" => "60 days late",
        "late_90" => "90 days late",
        "late_120" => "120 days late",
        "late_150" => "150 days late",
        "late_180" => "180 days late or more",
        "charged_off" => "Charged off",
        "paid" => "Paid",
        "sold" => "Sold or transferred",
        "disputed" => "Disputed by you",
        other => panic!("unknown status {other}"),
    }
}

fn report(
    s: &crate::server::Server,
    month: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let out = tempfile::tempdir().unwrap();
    ok(&[
        "bureau",
        "report",
        "--month",
        month,
        "--db",
        &s.db.target,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    rows(&out.path().join(format!("bureau_{month}.csv")))
}

#[test]
fn the_borrower_sees_what_was_reported_and_disputes_a_line() {
    on_both(|s| {
        let feed = portfolio(&[
            (
                "payments.csv",
                "payment_id,loan_id,received_at,amount_minor\n",
            ),
            (
                "notices.csv",
                "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
                 NB1,B1,,credit_reporting,2026-09-01T15:00:00Z,letter\n",
            ),
        ]);
        import_feed(s, feed.path());
        let nov = report(s, "2026-11");
        let mine: Vec<_> = nov.iter().filter(|r| r["borrower_id"] == "B1").collect();
        assert!(!mine.is_empty(), "B1 has lines: {nov:?}");

        let cookie = portal_session(s, "B1");
        let page = get(s, "/portal/b/B1", Some(&cookie));
        assert_eq!(page.status, 200);
        let table = element(&page.body, "table", "bureau-lines");
        for r in &mine {
            let row = table
                .split("<tr")
                .find(|t| t.contains(&format!("data-loan=\"{}\"", r["loan_id"])))
                .unwrap_or_else(|| panic!("{} in {table}", r["loan_id"]));
            assert!(row.contains("data-period=\"2026-11\""), "{row}");
            assert!(row.contains(words(&r["status"])), "{row}");
        }
        // Only B1's lines.
        for r in nov.iter().filter(|r| r["borrower_id"] != "B1") {
            assert!(!table.contains(&format!("data-loan=\"{}\"", r["loan_id"])));
        }
        let loan = mine[0]["loan_id"].clone();
        assert!(table.contains("Dispute this line"));

        // Without the session's CSRF token, or for another borrower's loan: refused.
        let p = post(
            s,
            "/portal/b/B1/credit-dispute",
            Some(&cookie),
            &[("loan_id", &loan)],
        );
        assert_eq!(p.status, 403, "{}", p.body);
        // L2 is B2's (the pages' US portfolio).
        let other = "L2".to_owned();
        assert!(mine.iter().all(|r| r["loan_id"] != other));
        let p = post(
            s,
            "/portal/b/B1/credit-dispute",
            Some(&cookie),
            &[("csrf", &csrf(&page)), ("loan_id", &other)],
        );
        assert_eq!(p.status, 403, "{}", p.body);

        let p = post(
            s,
            "/portal/b/B1/credit-dispute",
            Some(&cookie),
            &[("csrf", &csrf(&page)), ("loan_id", &loan)],
        );
        assert_eq!(p.status, 303, "{}", p.body);
        let after = get(s, "/portal/b/B1?done=credit_dispute", Some(&cookie));
        assert!(
            after
                .body
                .contains("Your dispute of the credit report was recorded"),
            "{}",
            after.body
        );
        let table = element(&after.body, "table", "bureau-lines");
        let row = table
            .split("<tr")
            .find(|t| t.contains(&format!("data-loan=\"{loan}\"")))
            .unwrap();
        assert!(
            row.contains("Disputed: under review") && !row.contains("dispute-line"),
            "{row}"
        );
        // In Chinese too.
        let zh = get(s, "/portal/b/B1?lang=zh", Some(&cookie));
        assert!(
            zh.body.contains("我们向征信机构报送的信息"),
            "{}",
            text(zh.body.as_bytes())
        );

        // The next file reports the loan as disputed, never negative.
        let dec = report(s, "2026-12");
        let line = dec.iter().find(|r| r["loan_id"] == loan).unwrap();
        assert_eq!(line["status"], "disputed");
        assert_eq!(line["past_due_minor"], "0");
    });
}
