//! The lifecycle facts on the pages (issue "One system", items 3 and 5): the agent's account
//! page shows every record the rules read (notices, preferences per channel, payment plans,
//! placements, a sale, credit disputes, legal cases) and marks contacts recorded as
//! violations; the portal shows the borrower what concerns them; the manager dashboard has a
//! compliance view of the violations. And the acceptance test in headless Chromium: a
//! borrower opts out of SMS in the portal; the next plan gives them no SMS, and an SMS already
//! in the outbox is not sent.

use super::{
    click, contacts_token, css_text_until, element, get, import_feed, in_browser, login,
    portal_link, portal_session, setup, sign_in,
};
use crate::server::{Server, ok, store_of};
use crate::store::Backend;
use crate::{portfolio, text};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// The lifecycle tables for B1 and L1 of the pages' US portfolio (which already holds the
/// validation notices N1 and N2), with a payments table so the folder is a feed. The buyer's
/// name carries HTML, which must show as text.
fn lifecycle_feed() -> tempfile::TempDir {
    portfolio(&[
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
        (
            "notices.csv",
            "notice_id,borrower_id,loan_id,kind,sent_at,channel\n\
             N3,B1,L1,credit_reporting,2026-11-22T15:00:00Z,email\n",
        ),
        (
            "preferences.csv",
            "borrower_id,channel,opted_out,contact_from,contact_to,updated_at\n\
             B1,sms,true,,,2026-11-23T10:00:00Z\n\
             B1,call,false,09:00,17:00,2026-11-23T10:00:00Z\n",
        ),
        (
            "payment_plans.csv",
            "plan_id,loan_id,status,created_at\n\
             PP1,L1,active,2026-11-24T16:00:00Z\n",
        ),
        (
            "plan_installments.csv",
            "plan_id,seq,due_date,amount_minor\n\
             PP1,1,2026-12-15,50000\n\
             PP1,2,2027-01-15,50000\n",
        ),
        (
            "placements.csv",
            "placement_id,loan_id,agency_id,placed_at,recalled_at\n\
             PL1,L1,AG1,2026-11-10T12:00:00Z,2026-11-20T12:00:00Z\n\
             PL2,L1,AG2,2026-11-25T12:00:00Z,\n",
        ),
        (
            "sales.csv",
            "sale_id,loan_id,buyer,sold_at\n\
             S1,L1,Debt <b>Buyers</b> & Co,2026-11-26T12:00:00Z\n",
        ),
        (
            "credit_disputes.csv",
            "dispute_id,borrower_id,loan_id,opened_at,resolved_at\n\
             CD1,B1,L1,2026-11-21T12:00:00Z,\n\
             CD2,B1,,2026-11-01T12:00:00Z,2026-11-05T12:00:00Z\n",
        ),
        (
            "legal_cases.csv",
            "case_id,loan_id,court,case_number,status,updated_on\n\
             LC1,L1,NY Civil Court,2026-CV-1,filed,2026-11-26\n",
        ),
    ])
}

/// The rows (`<tr …>…</tr>`) of a table's HTML whose opening tag or text contains `needle`.
fn rows_with<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    table
        .split("<tr")
        .skip(1)
        .filter(|r| r.contains(needle))
        .collect()
}

#[test]
fn the_account_page_and_the_portal_show_the_lifecycle_facts() {
    super::on_both(|s| {
        let out = import_feed(s, lifecycle_feed().path());
        assert!(out.contains("Lifecycle records"), "{out}");
        let alice = login(s, "alice");
        let p = get(s, "/accounts/L1", Some(&alice));
        assert_eq!(p.status, 200, "{}", p.body);
        let b = &p.body;
        // Notices: the imported validation notice and the credit reporting one, newest first.
        let notices = element(b, "table", "notices");
        let validation = rows_with(notices, "data-kind=\"validation\"");
        assert_eq!(validation.len(), 1, "{notices}");
        assert!(
            validation[0].contains("Validation notice")
                && validation[0].contains("2026-11-21 15:00")
                && validation[0].contains("Letter")
                && validation[0].contains("L1"),
            "{notices}"
        );
        let credit = rows_with(notices, "data-kind=\"credit_reporting\"");
        assert!(
            credit.len() == 1
                && credit[0].contains("Credit reporting notice")
                && credit[0].contains("2026-11-22 15:00")
                && credit[0].contains("E-mail"),
            "{notices}"
        );
        assert!(
            notices.find("credit_reporting") < notices.find("data-kind=\"validation\""),
            "newest first: {notices}"
        );
        // Preferences per channel: SMS opted out, calls accepted within the borrower's hours.
        let prefs = element(b, "table", "preferences");
        let sms = rows_with(prefs, "data-channel=\"sms\"");
        assert!(
            sms.len() == 1 && sms[0].contains("Opted out") && sms[0].contains("2026-11-23 10:00"),
            "{prefs}"
        );
        let call = rows_with(prefs, "data-channel=\"call\"");
        assert!(
            call.len() == 1 && call[0].contains("Accepted") && call[0].contains("09:00 – 17:00"),
            "{prefs}"
        );
        assert!(!b.contains("id=\"calls-declined\""), "calls are accepted");
        // The payment plan: status and instalments, on record and with its progress.
        let plans = element(b, "table", "lc-plans");
        let pp1 = rows_with(plans, "data-plan=\"PP1\"");
        assert!(
            pp1.len() == 1
                && pp1[0].contains("class=\"lc-plan active\"")
                && pp1[0].contains("Active")
                && pp1[0].contains("<td>2</td>")
                && pp1[0].contains("1000.00 USD")
                && pp1[0].contains("2026-12-15 – 2027-01-15"),
            "{plans}"
        );
        let progress = element(b, "div", "plans");
        assert!(
            progress.contains("2027-01-15") && progress.contains("500.00 USD"),
            "{progress}"
        );
        // Placements: the recalled one with its recall, the live one marked live.
        let placements = element(b, "table", "placements");
        let pl1 = rows_with(placements, "data-placement=\"PL1\"");
        assert!(
            pl1.len() == 1
                && pl1[0].contains("AG1")
                && pl1[0].contains("2026-11-10 12:00")
                && pl1[0].contains("2026-11-20 12:00")
                && !pl1[0].contains("live"),
            "{placements}"
        );
        let pl2 = rows_with(placements, "data-placement=\"PL2\"");
        assert!(
            pl2.len() == 1
                && pl2[0].contains("class=\"placement live\"")
                && pl2[0].contains("AG2")
                && pl2[0].contains("2026-11-25 12:00"),
            "{placements}"
        );
        // The sale: the buyer's name escaped, and the date.
        let sales = element(b, "table", "sales");
        assert!(
            sales.contains("2026-11-26 12:00") && sales.contains("L1"),
            "{sales}"
        );
        assert!(
            !b.contains("<b>Buyers</b>"),
            "the buyer's HTML is not markup"
        );
        assert!(
            sales.contains("Debt &#60;b&#62;Buyers&#60;/b&#62; &#38; Co")
                || sales.contains("Debt &lt;b&gt;Buyers&lt;/b&gt; &amp; Co"),
            "{sales}"
        );
        // Credit disputes: one open on L1, one resolved about every loan.
        let disputes = element(b, "table", "credit-disputes");
        let cd1 = rows_with(disputes, "data-dispute=\"CD1\"");
        assert!(
            cd1.len() == 1
                && cd1[0].contains("credit-dispute open")
                && cd1[0].contains("2026-11-21 12:00")
                && cd1[0].contains(">open<"),
            "{disputes}"
        );
        let cd2 = rows_with(disputes, "data-dispute=\"CD2\"");
        assert!(
            cd2.len() == 1
                && cd2[0].contains("credit-dispute resolved")
                && cd2[0].contains("all loans")
                && cd2[0].contains("2026-11-05 12:00"),
            "{disputes}"
        );
        // The legal case.
        let legal = element(b, "table", "legal-cases");
        let lc1 = rows_with(legal, "data-case=\"LC1\"");
        assert!(
            lc1.len() == 1 && lc1[0].contains("Filed") && lc1[0].contains("2026-11-26"),
            "{legal}"
        );
        // The same facts in Chinese.
        let zh = get(s, "/accounts/L1?lang=zh-CN", Some(&alice));
        for words in [
            "在案记录",
            "已发送的通知",
            "债务确认通知",
            "征信报送通知",
            "已拒绝",
            "委外中",
            "债权转让",
            "受让方",
            "征信异议",
            "处理中",
            "已解决",
            "诉讼案件",
            "已立案",
            "生效中",
        ] {
            assert!(zh.body.contains(words), "{words}: {}", zh.body);
        }
        // B2's page shows none of it.
        let sue = login(s, "sue");
        let other = get(s, "/accounts/L2", Some(&sue));
        assert_eq!(other.status, 200);
        for absent in ["Buyers", "AG2", "PP1", "LC1", "CD1", "credit_reporting"] {
            assert!(!other.body.contains(absent), "{absent} on B2's page");
        }
        assert!(other.body.contains("No loan of the borrower was sold."));
        assert!(other.body.contains("No legal case is on record."));

        // The portal: what concerns the borrower.
        let b1 = portal_session(s, "B1");
        let portal = get(s, "/portal/b/B1", Some(&b1));
        assert_eq!(portal.status, 200, "{}", portal.body);
        let pb = &portal.body;
        let sold = element(pb, "table", "sales");
        assert!(
            sold.contains("Debt &#60;b&#62;Buyers&#60;/b&#62; &#38; Co")
                || sold.contains("Debt &lt;b&gt;Buyers&lt;/b&gt; &amp; Co"),
            "{sold}"
        );
        assert!(!pb.contains("<b>Buyers</b>"));
        assert!(pb.contains("Who owns your debt"), "{pb}");
        let open = element(pb, "table", "credit-disputes");
        // On the borrower's own wall clock (New York), with the zone.
        assert!(
            open.contains("2026-11-21 07:00 EST (America/New_York)"),
            "{open}"
        );
        assert!(
            !open.contains("2026-11-01"),
            "only open disputes on the portal: {open}"
        );
        let plans = element(pb, "div", "your-plans");
        assert!(
            plans.contains("Active")
                && plans.contains("2026-12-15")
                && plans.contains("2027-01-15")
                && plans.contains("500.00 USD")
                && plans.contains("1000.00 USD"),
            "{plans}"
        );
        let prefs = element(pb, "table", "your-preferences");
        assert!(
            rows_with(prefs, "data-channel=\"sms\"")
                .first()
                .is_some_and(|r| r.contains("Opted out")),
            "{prefs}"
        );
        assert!(
            rows_with(prefs, "data-channel=\"call\"")
                .first()
                .is_some_and(|r| r.contains("09:00 – 17:00")),
            "{prefs}"
        );
        let notices = element(pb, "table", "your-notices");
        assert!(
            notices.contains("Validation notice") && notices.contains("Credit reporting notice"),
            "{notices}"
        );
        // Agencies stay with the staff; the borrower sees their real court case and its status
        // (docs/legal.md; a case imported from legal_cases.csv is stored without its court and
        // number, so those cells are empty here).
        assert!(!pb.contains("AG2"), "{pb}");
        let cases = element(pb, "table", "legal-cases");
        assert!(
            cases.contains("data-case=\"LC1\"") && cases.contains("Filed with the court"),
            "{cases}"
        );
        let zh = get(s, "/portal/b/B1?lang=zh-CN", Some(&b1));
        for words in [
            "关于您的记录",
            "您的债务归属",
            "您处理中的征信异议",
            "您的还款计划",
            "您的联系偏好记录",
            "发给您的通知",
        ] {
            assert!(zh.body.contains(words), "{words}: {}", zh.body);
        }
        // B2's portal has no sale, no dispute, no plan; only B2's own validation notice.
        let b2 = portal_session(s, "B2");
        let p2 = get(s, "/portal/b/B2", Some(&b2));
        assert!(!p2.body.contains("Buyers") && !p2.body.contains("id=\"sales\""));
        assert!(!p2.body.contains("id=\"credit-disputes\""));
        assert!(
            p2.body
                .contains("id=\"your-plans\">No payment plan is recorded.")
        );
        let n2 = element(&p2.body, "table", "your-notices");
        assert_eq!(rows_with(n2, "data-kind=").len(), 1, "{n2}");
    });
}

/// POSTs JSON with a bearer token.
fn post_json(s: &Server, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}{path}", s.base))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = r.status().as_u16();
    let raw = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&raw).unwrap_or(Value::String(raw)),
    )
}

#[test]
fn a_reported_violation_shows_on_the_compliance_view_and_the_account_page() {
    super::on_both(|s| {
        let token = contacts_token(s, "agency-dialer");
        let sue = login(s, "sue");
        // Nothing yet.
        let d = get(s, "/dashboard?date=2026-11-28", Some(&sue));
        assert_eq!(d.status, 200, "{}", d.body);
        let view = element(&d.body, "section", "compliance");
        assert!(view.contains("id=\"no-violations\""), "{view}");
        assert!(view.contains("2026-10-30 – 2026-11-28"), "{view}");
        // An agency's dialer called B2 at 03:00 in New York and reports it after the fact.
        let (status, r) = post_json(
            s,
            &token,
            "/v1/contacts",
            &json!({"contact_id": "AGC-1", "borrower_id": "B2", "loan_id": "L2",
                    "channel": "call", "direction": "outbound", "target": "+12125550101",
                    "at": "2026-11-28T08:00:00Z", "outcome": "no_answer", "agency_id": "AG9"}),
        );
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["status"], "recorded_violation", "{r}");
        let mut rules: Vec<String> = r["rule_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        rules.sort();
        assert!(rules.iter().any(|r| r == "US-HOURS"), "{r}");
        // The compliance view: by rule, by day, and the latest listed.
        let d = get(s, "/dashboard?date=2026-11-28", Some(&sue));
        let view = element(&d.body, "section", "compliance");
        assert!(
            view.contains("<span id=\"violations-total\">1</span>"),
            "{view}"
        );
        let by_rule = element(view, "table", "violation-rules");
        for rule in &rules {
            let row = rows_with(by_rule, &format!("data-rule=\"{rule}\""));
            assert!(
                row.len() == 1 && row[0].contains("<td class=\"count\">1</td>"),
                "{rule}: {by_rule}"
            );
        }
        assert_eq!(
            rows_with(by_rule, "data-rule=").len(),
            rules.len(),
            "{by_rule}"
        );
        let by_day = element(view, "table", "violation-days");
        let hours = rows_with(by_day, "data-rule=\"US-HOURS\"");
        assert!(
            hours.len() == 1
                && hours[0].contains("data-day=\"2026-11-28\"")
                && hours[0].contains("<td class=\"count\">1</td>"),
            "{by_day}"
        );
        for chart in ["violations", "violations-by-day"] {
            assert!(
                view.contains(&format!("data-chart=\"{chart}\"")),
                "chart {chart}: {view}"
            );
        }
        // The by-day chart prints 1 over the one day with a violation, nothing elsewhere.
        let i = view.find("data-chart=\"violations-by-day\"").unwrap();
        let svg = &view[i..i + view[i..].find("</svg>").unwrap()];
        let shown: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter(|t| t.contains("dy=\"-0.5ex\""))
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(shown, ["1"], "{svg}");
        let latest = element(view, "table", "latest-violations");
        let row = rows_with(latest, "class=\"violation\"");
        assert_eq!(row.len(), 1, "{latest}");
        for cell in [
            "2026-11-28 08:00",
            "<td>B2</td>",
            "href=\"/accounts/L2\"",
            "Call",
            "No answer",
            "AG9",
            &rules.join(", "),
        ] {
            assert!(row[0].contains(cell), "{cell}: {latest}");
        }
        // Next to the plan's blocked-by-rule figures.
        assert!(
            d.body.find("id=\"blocked\"") < d.body.find("id=\"compliance\""),
            "{}",
            d.body
        );
        // The window is the 30 days to the date asked for.
        let before = get(s, "/dashboard?date=2026-11-27", Some(&sue));
        assert!(before.body.contains("id=\"no-violations\""));
        let last = get(s, "/dashboard?date=2026-12-27", Some(&sue));
        assert!(
            element(&last.body, "section", "compliance")
                .contains("<span id=\"violations-total\">1</span>")
        );
        let after = get(s, "/dashboard?date=2026-12-28", Some(&sue));
        assert!(after.body.contains("id=\"no-violations\""));
        let zh = get(s, "/dashboard?date=2026-11-28&lang=zh-CN", Some(&sue));
        assert!(
            zh.body.contains("合规：规则禁止但仍发生的联系")
                && zh.body.contains("按规则的违规")
                && zh.body.contains("最近的违规"),
            "{}",
            zh.body
        );
        // The account page marks the contact with its rules, in both languages.
        let account = get(s, "/accounts/L2", Some(&sue));
        let contacts = element(&account.body, "table", "contacts");
        let marked = rows_with(contacts, "class=\"violation\"");
        assert_eq!(marked.len(), 1, "{contacts}");
        assert!(
            marked[0].contains(&format!("data-rules=\"{}\"", rules.join(", ")))
                && marked[0].contains("Recorded as a violation of")
                && marked[0].contains("US-HOURS")
                && marked[0].contains("2026-11-28 08:00"),
            "{contacts}"
        );
        let zh = get(s, "/accounts/L2?lang=zh-CN", Some(&sue));
        assert!(
            element(&zh.body, "table", "contacts").contains("已记录为违规"),
            "{}",
            zh.body
        );
        // B1's imported contact is not a violation; the borrower's portal does not mark it.
        let l1 = get(s, "/accounts/L1", Some(&sue));
        assert!(!element(&l1.body, "table", "contacts").contains("class=\"violation\""));
        let b2 = portal_session(s, "B2");
        let portal = get(s, "/portal/b/B2", Some(&b2));
        let theirs = element(&portal.body, "table", "contacts");
        // The borrower reads it on their own wall clock (New York), with the zone.
        assert!(
            theirs.contains("2026-11-28 03:00 EST (America/New_York)"),
            "{theirs}"
        );
        assert!(!theirs.contains("violation"), "{theirs}");
        // The dashboard's figures are the store's.
        let (rt, store) = store_of(s);
        let v = rt
            .block_on(store.violations(
                "2026-10-30T00:00:00Z".parse().unwrap(),
                "2026-11-29T00:00:00Z".parse().unwrap(),
            ))
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rule_ids, rules);
    });
}

/// An SMS gateway on a free loopback port: answers 200 to every request and keeps each
/// request's `Idempotency-Key`.
struct Gateway {
    url: String,
    keys: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    fn start() -> Gateway {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sms", l.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(Vec::new()));
        let k = keys.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let Ok(mut w) = s.try_clone() else { continue };
                let mut r = BufReader::new(s);
                let (mut len, mut key) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            len = value.trim().parse().unwrap_or(0);
                        } else if name.eq_ignore_ascii_case("idempotency-key") {
                            key = value.trim().to_owned();
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                k.lock().unwrap().push(key);
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}",
                );
            }
        });
        Gateway { url, keys }
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().unwrap().clone()
    }
}

/// The rows of a plan CSV (`actions.csv` or `blocked.csv`) as maps by column name.
fn plan_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// `arrears plan --as-of 2026-11-28` over the store, with the lender's key (so messages get
/// their codes and are not blocked under ALL-IDENTITY): its actions and blocks.
#[allow(clippy::type_complexity)]
fn plan(
    s: &Server,
    keys: &str,
    out: &std::path::Path,
) -> (
    Vec<std::collections::HashMap<String, String>>,
    Vec<std::collections::HashMap<String, String>>,
) {
    ok(&[
        "plan",
        "--as-of",
        "2026-11-28",
        "--db",
        &s.db.target,
        "--keys",
        keys,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    (
        plan_rows(&out.join("actions.csv")),
        plan_rows(&out.join("blocked.csv")),
    )
}

fn sms_of<'a>(
    rows: &'a [std::collections::HashMap<String, String>],
    borrower: &str,
) -> Vec<&'a std::collections::HashMap<String, String>> {
    rows.iter()
        .filter(|r| r["borrower_id"] == borrower && r["channel"] == "sms")
        .collect()
}

/// Acceptance (issue "One system"): a borrower opts out of SMS in the portal, in headless
/// Chromium; the next plan gives them no SMS (blocked under ALL-PREFERENCE), and the SMS
/// already in the outbox is not sent (blocked at send time, naming ALL-PREFERENCE), while
/// another borrower's SMS from the same plan goes out.
#[test]
fn browser_a_borrower_opts_out_of_sms_and_gets_none() {
    let s = setup(Backend::Sqlite, &[]).unwrap();
    // B3 and B4 in New York, three days past due on 2026-11-28: the default strategy's
    // early-sms rule texts them.
    let feed = portfolio(&[
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B3,Ann,+12125550103,,America/New_York,US-NY,false\n\
             B4,Ben,+12125550104,,America/New_York,US-NY,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L3,B3,x,USD,50000,0,0,2026-01-01\n\
             L4,B4,x,USD,50000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L3,1,2026-11-25,50000,0,0\n\
             L4,1,2026-11-25,50000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor\n",
        ),
    ]);
    import_feed(&s, feed.path());
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    let keys = keys.to_str().unwrap();
    ok(&["keys", "init", "--dir", keys]);
    // The first plan texts B3 (and B4); the texts are queued.
    let (actions, _) = plan(&s, keys, &work.path().join("P1"));
    let b3_sms = sms_of(&actions, "B3");
    assert_eq!(b3_sms.len(), 1, "B3 gets an SMS: {actions:?}");
    assert_eq!(b3_sms[0]["target"], "+12125550103");
    let b3_key = b3_sms[0]["action_id"].clone();
    let b4_sms = sms_of(&actions, "B4");
    assert_eq!(b4_sms.len(), 1, "B4 gets an SMS: {actions:?}");
    let b4_key = b4_sms[0]["action_id"].clone();
    let queued = ok(&[
        "outbox",
        "enqueue",
        "--db",
        &s.db.target,
        "--plan-dir",
        work.path().join("P1").to_str().unwrap(),
    ]);
    assert!(
        queued.contains("queued 2, already queued 0, refused 0"),
        "{queued}"
    );

    // B3 opens the portal in the browser, unticks SMS and saves.
    let (link, _) = portal_link(&s, "B3");
    let ran = in_browser(&s, move |c, s| {
        Box::pin(async move {
            use fantoccini::Locator;
            let e = |e: fantoccini::error::CmdError| e.to_string();
            c.goto(&link).await.map_err(e)?;
            click(c, "#continue").await?;
            css_text_until(c, "#regulator", |t| {
                t.contains("Consumer Financial Protection Bureau")
            })
            .await?;
            let sms = c.find(Locator::Id("ch-sms")).await.map_err(e)?;
            if !sms.is_selected().await.map_err(e)? {
                return Err("SMS is accepted before the borrower chooses".into());
            }
            sms.click().await.map_err(e)?;
            if sms.is_selected().await.map_err(e)? {
                return Err("the SMS box did not untick".into());
            }
            click(c, "#save-preferences").await?;
            css_text_until(c, "#notice", |t| t.contains("Your choices were saved")).await?;
            // The portal now shows the choice on record, and the box stays unticked.
            css_text_until(c, "#your-preferences tr[data-channel=sms]", |t| {
                t.contains("Opted out")
            })
            .await?;
            css_text_until(c, "#your-preferences tr[data-channel=call]", |t| {
                t.contains("Accepted")
            })
            .await?;
            let sms = c.find(Locator::Id("ch-sms")).await.map_err(e)?;
            if sms.is_selected().await.map_err(e)? {
                return Err("the saved choice shows SMS ticked".into());
            }
            // A supervisor sees it on the account page.
            sign_in(c, s, "sue").await?;
            c.goto(&format!("{}/accounts/L3", s.base))
                .await
                .map_err(e)?;
            css_text_until(c, "#preferences tr[data-channel=sms]", |t| {
                t.contains("Opted out")
            })
            .await?;
            css_text_until(c, "#allowed", |t| t.contains("ALL-PREFERENCE")).await?;
            Ok::<(), String>(())
        })
    });
    if !ran {
        return;
    }

    // The next plan over the store gives B3 no SMS: blocked under ALL-PREFERENCE. B4's stays.
    let (actions, blocked) = plan(&s, keys, &work.path().join("P2"));
    assert!(sms_of(&actions, "B3").is_empty(), "{actions:?}");
    let b3_blocked = sms_of(&blocked, "B3");
    assert_eq!(b3_blocked.len(), 1, "{blocked:?}");
    assert!(
        b3_blocked[0]["rule_ids"]
            .split(';')
            .any(|r| r == "ALL-PREFERENCE"),
        "{blocked:?}"
    );
    assert_eq!(sms_of(&actions, "B4").len(), 1, "{actions:?}");

    // The SMS already queued is not sent: blocked at send time, naming ALL-PREFERENCE.
    let gateway = Gateway::start();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args([
            "outbox",
            "send",
            "--db",
            &s.db.target,
            "--once",
            "--now",
            "2026-11-28T15:00:00Z",
            "--webhook",
            &gateway.url,
        ])
        .env(
            "ARREARS_WEBHOOK_SECRET",
            "pages-gateway-secret-of-32-bytes-at-least",
        )
        .output()
        .unwrap();
    let sent = text(&o.stdout);
    assert!(o.status.success(), "{sent}{}", text(&o.stderr));
    assert!(
        sent.contains("sent 1,") && sent.contains("blocked 1,"),
        "{sent}"
    );
    assert_eq!(
        gateway.keys(),
        std::slice::from_ref(&b4_key),
        "only B4's SMS reached the gateway"
    );
    let status = ok(&["outbox", "status", "--db", &s.db.target, "--rows"]);
    let row = |key: &str| -> Vec<String> {
        status
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .find(|c| c.get(1).map(String::as_str) == Some(key))
            .unwrap_or_else(|| panic!("no outbox row {key}: {status}"))
    };
    let b3_row = row(&b3_key);
    assert_eq!(b3_row[3], "blocked", "{status}");
    assert!(b3_row[6].contains("ALL-PREFERENCE"), "{status}");
    assert_eq!(row(&b4_key)[3], "sent", "{status}");
    // Nothing was recorded as a contact to B3; B4's text was.
    let (rt, store) = store_of(&s);
    let b3 = rt.block_on(store.borrower_contacts("B3")).unwrap().unwrap();
    assert_eq!(b3.own_contacts().count(), 0);
    let b4 = rt.block_on(store.borrower_contacts("B4")).unwrap().unwrap();
    assert_eq!(b4.own_contacts().count(), 1);
}
