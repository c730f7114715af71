//! The lifecycle records of migration 0010 on both backends: every test runs once on a
//! fresh SQLite file and once on a fresh database of the local PostgreSQL server
//! (127.0.0.1:5432, trust auth; `ARREARS_TEST_PG` names another server). Without a
//! reachable server the PostgreSQL half fails under CI and is skipped, with a message,
//! elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_domain::Lifecycle;
use arrears_domain::lifecycle::{
    ContactPersonFact, CreditDisputeRow, LegalCaseFact, NoticeRow, PaymentPlanRow, PlacementRow,
    PlanInstallment, PreferenceRow, SaleRow,
};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_store::{
    ContactPreferences, DbTarget, EventMeta, FactsChange, Ingested, LifecycleError, NewContact,
    ServiceError, Store, Tally,
};
use jiff::Timestamp;
use jiff::civil::{Date, Time, date, time};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty store; a PostgreSQL database is dropped again when this is.
struct TestDb {
    target: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            let _ = psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn psql(url: &str, sql: &str) -> std::io::Result<std::process::Output> {
    Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
}

fn pg_admin_url() -> String {
    std::env::var("ARREARS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn fresh(b: Backend) -> Option<TestDb> {
    match b {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("arrears.db").to_str().unwrap().to_owned();
            Some(TestDb {
                target,
                _dir: Some(dir),
                pg: None,
            })
        }
        Backend::Postgres => {
            let admin = pg_admin_url();
            let name = format!(
                "arrears_store_life_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            match psql(&admin, &format!("CREATE DATABASE {name}")) {
                Ok(o) if o.status.success() => {}
                other => {
                    let why = match other {
                        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                        Err(e) => e.to_string(),
                    };
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "PostgreSQL is required under CI: {why}"
                    );
                    eprintln!("skipping the PostgreSQL half: {why}");
                    return None;
                }
            }
            let (base, _) = admin.rsplit_once('/').unwrap();
            Some(TestDb {
                target: format!("{base}/{name}"),
                _dir: None,
                pg: Some((admin, name)),
            })
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on a fresh store with the portfolio of [`portfolio`] imported, on each backend.
fn on_both(f: impl AsyncFn(&Store, Backend)) {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh(b) else { continue };
        let rt = runtime();
        rt.block_on(async {
            let store = Store::open(&DbTarget::parse(&db.target).unwrap())
                .await
                .unwrap();
            import_portfolio(&store).await;
            f(&store, b).await;
            store.close().await;
        });
    }
}

/// B1 (phone +8613800000001, e-mail a@example.com) has L1 and L2; B2 has L3 and made
/// contacts to B1's phone and address; B3 has nothing in common with them.
async fn import_portfolio(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "borrowers.csv",
            "borrower_id,name,phone,email,timezone,jurisdiction,deceased\n\
             B1,Li,+8613800000001,a@example.com,Asia/Shanghai,CN,false\n\
             B2,Wang,+8613800000002,,Asia/Shanghai,CN,false\n\
             B3,Zhao,+8613800000003,z@example.com,Asia/Shanghai,CN,false\n",
        ),
        (
            "loans.csv",
            "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on\n\
             L1,B1,x,CNY,100000,0,0,2026-01-01\n\
             L2,B1,x,CNY,50000,0,0,2026-01-01\n\
             L3,B2,x,CNY,70000,0,0,2026-01-01\n\
             L4,B3,x,CNY,70000,0,0,2026-01-01\n",
        ),
        (
            "installments.csv",
            "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor\n\
             L1,1,2026-01-31,50000,0,0\n\
             L1,2,2026-02-28,50000,0,0\n\
             L2,1,2026-03-31,50000,0,0\n\
             L3,1,2026-02-15,70000,0,0\n\
             L4,1,2026-02-15,70000,0,0\n",
        ),
        (
            "payments.csv",
            "payment_id,loan_id,received_at,amount_minor,kind,reverses\n\
             P1,L1,2026-02-01T02:00:00Z,100,,\n\
             P2,L1,2026-02-10T02:00:00Z,200,,\n\
             R2,L1,2026-02-11T02:00:00Z,200,reversal,P2\n",
        ),
        (
            "contacts.csv",
            "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n\
             C1,B1,L1,call,outbound,2026-02-05T02:00:00Z,no_answer,+8613800000001,borrower\n\
             C2,B2,L3,call,outbound,2026-02-05T03:00:00Z,no_answer,+8613800000001,borrower\n\
             C3,B2,,email,outbound,2026-02-05T04:00:00Z,delivered,a@example.com,borrower\n\
             C4,B2,L3,call,outbound,2026-02-05T05:00:00Z,no_answer,+8613800000002,borrower\n\
             C5,B3,L4,call,outbound,2026-02-05T06:00:00Z,no_answer,+8613800000003,borrower\n",
        ),
    ];
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let feed = arrears_store::read_feed(store, dir.path(), Arc::new(|_, _| {}))
        .await
        .unwrap();
    let report = store.import(&feed, "test", &|_, _| {}).await.unwrap();
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    assert_eq!(report.inserted(), 20, "{:?}", feed.report.rejects);
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn bid(s: &str) -> BorrowerId {
    BorrowerId::parse("borrower_id", s).unwrap()
}

fn lid(s: &str) -> LoanId {
    LoanId::parse("loan_id", s).unwrap()
}

fn notice(id: &str, b: &str, loan: Option<&str>, kind: &str, sent: &str) -> NoticeRow {
    NoticeRow {
        notice_id: id.into(),
        borrower_id: bid(b),
        loan_id: loan.map(lid),
        kind: kind.into(),
        sent_at: at(sent),
        channel: "letter".into(),
    }
}

fn pref(
    b: &str,
    channel: &str,
    out: bool,
    hours: Option<(Time, Time)>,
    upd: &str,
) -> PreferenceRow {
    PreferenceRow {
        borrower_id: bid(b),
        channel: channel.into(),
        opted_out: out,
        contact_from: hours.map(|h| h.0),
        contact_to: hours.map(|h| h.1),
        updated_at: at(upd),
    }
}

fn plan(id: &str, loan: &str, status: &str, status_at: Option<&str>) -> PaymentPlanRow {
    PaymentPlanRow {
        plan_id: id.into(),
        loan_id: lid(loan),
        status: status.into(),
        created_at: at("2026-02-12T01:00:00Z"),
        status_at: status_at.map(at),
        installments: vec![
            PlanInstallment {
                seq: 1,
                due_date: date(2026, 3, 1),
                amount_minor: 30_000,
            },
            PlanInstallment {
                seq: 2,
                due_date: date(2026, 4, 1),
                amount_minor: 70_000,
            },
        ],
    }
}

fn placement(id: &str, loan: &str, recalled: Option<&str>) -> PlacementRow {
    PlacementRow {
        placement_id: id.into(),
        loan_id: lid(loan),
        agency_id: "AG1".into(),
        placed_at: at("2026-02-20T01:00:00Z"),
        recalled_at: recalled.map(at),
    }
}

fn sale(id: &str, loan: &str) -> SaleRow {
    SaleRow {
        sale_id: id.into(),
        loan_id: lid(loan),
        buyer: "Buyer Co".into(),
        sold_at: at("2026-03-01T00:00:00Z"),
    }
}

fn dispute(id: &str, b: &str, loan: Option<&str>, resolved: Option<&str>) -> CreditDisputeRow {
    CreditDisputeRow {
        dispute_id: id.into(),
        borrower_id: bid(b),
        loan_id: loan.map(lid),
        opened_at: at("2026-02-15T00:00:00Z"),
        resolved_at: resolved.map(at),
    }
}

fn case(id: &str, loan: &str, status: &str, on: Option<Date>) -> LegalCaseFact {
    LegalCaseFact {
        case_id: id.into(),
        loan_id: lid(loan),
        status: status.into(),
        updated_on: on,
    }
}

fn person(id: &str, b: &str, refused: bool) -> ContactPersonFact {
    ContactPersonFact {
        person_id: id.into(),
        borrower_id: bid(b),
        phone: Some("+8613900000009".into()),
        email: None,
        source: "designated".into(),
        refused,
    }
}

/// One record of every kind for B1 (and a plan for B2).
fn sample() -> Lifecycle {
    Lifecycle {
        notices: vec![
            notice("N1", "B1", None, "validation", "2026-02-01T00:00:00Z"),
            notice(
                "N2",
                "B1",
                Some("L1"),
                "agency_placement",
                "2026-02-02T00:00:00Z",
            ),
        ],
        preferences: vec![
            pref("B1", "sms", true, None, "2026-02-01T00:00:00Z"),
            pref(
                "B1",
                "call",
                false,
                Some((time(9, 0, 0, 0), time(18, 0, 0, 0))),
                "2026-02-01T00:00:00Z",
            ),
        ],
        plans: vec![
            plan("PL1", "L1", "proposed", None),
            plan("PL2", "L3", "active", Some("2026-02-13T00:00:00Z")),
        ],
        placements: vec![placement("PC1", "L1", None)],
        sales: vec![sale("S1", "L2")],
        credit_disputes: vec![dispute("D1", "B1", Some("L1"), None)],
        legal_cases: vec![case("K1", "L2", "filed", Some(date(2026, 2, 20)))],
        contact_persons: vec![person("CP1", "B1", false)],
    }
}

/// `l` restricted to what belongs to `borrower` (whose loans are `loans`).
fn of_borrower(l: &Lifecycle, borrower: &str, loans: &[&str]) -> Lifecycle {
    let mine = |x: &LoanId| loans.contains(&x.as_str());
    Lifecycle {
        notices: l
            .notices
            .iter()
            .filter(|n| n.borrower_id.as_str() == borrower)
            .cloned()
            .collect(),
        preferences: l
            .preferences
            .iter()
            .filter(|p| p.borrower_id.as_str() == borrower)
            .cloned()
            .collect(),
        plans: l
            .plans
            .iter()
            .filter(|p| mine(&p.loan_id))
            .cloned()
            .collect(),
        placements: l
            .placements
            .iter()
            .filter(|p| mine(&p.loan_id))
            .cloned()
            .collect(),
        sales: l
            .sales
            .iter()
            .filter(|s| mine(&s.loan_id))
            .cloned()
            .collect(),
        credit_disputes: l
            .credit_disputes
            .iter()
            .filter(|c| c.borrower_id.as_str() == borrower)
            .cloned()
            .collect(),
        legal_cases: l
            .legal_cases
            .iter()
            .filter(|c| mine(&c.loan_id))
            .cloned()
            .collect(),
        contact_persons: l
            .contact_persons
            .iter()
            .filter(|p| p.borrower_id.as_str() == borrower)
            .cloned()
            .collect(),
    }
}

/// The sample as the store reads it back: preferences in channel order (call, sms, …).
fn sample_read_back() -> Lifecycle {
    let mut l = sample();
    l.preferences.reverse();
    l
}

fn tally(inserted: u64, updated: u64, unchanged: u64, conflicts: u64, rejected: u64) -> Tally {
    Tally {
        inserted,
        updated,
        unchanged,
        conflicts,
        rejected,
    }
}

#[test]
fn notices_round_trip_once_and_conflict_on_other_content() {
    on_both(async |store, b| {
        let n = notice(
            "N1",
            "B1",
            Some("L1"),
            "credit_reporting",
            "2026-02-01T08:00:00Z",
        );
        assert!(store.record_notice(&n, "api").await.unwrap(), "{b:?}");
        assert!(!store.record_notice(&n, "outbox").await.unwrap(), "{b:?}");
        let mut other = n.clone();
        other.channel = "email".into();
        match store.record_notice(&other, "api").await {
            Err(LifecycleError::Conflict { what, id, detail }) => {
                assert_eq!(
                    (what, id.as_str(), detail.as_str()),
                    ("notice", "N1", "channel")
                );
            }
            x => panic!("{b:?}: {x:?}"),
        }
        let foreign = notice("N2", "B1", Some("L3"), "validation", "2026-02-01T08:00:00Z");
        assert!(matches!(
            store.record_notice(&foreign, "api").await,
            Err(LifecycleError::LoanOfAnotherBorrower { .. })
        ));
        let unknown = notice("N3", "B9", None, "validation", "2026-02-01T08:00:00Z");
        assert!(matches!(
            store.record_notice(&unknown, "api").await,
            Err(LifecycleError::UnknownBorrower(_))
        ));
        let mut bad = notice("N4", "B1", None, "threat", "2026-02-01T08:00:00Z");
        assert!(matches!(
            store.record_notice(&bad, "api").await,
            Err(LifecycleError::Invalid(_))
        ));
        bad.kind = "validation".into();
        assert!(matches!(
            store.record_notice(&bad, "").await,
            Err(LifecycleError::Invalid(_))
        ));
        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        assert_eq!(l.notices, vec![n.clone()], "{b:?}");
        assert!(store.lifecycle_of(&["B2"]).await.unwrap().is_empty());
        assert!(store.lifecycle_of(&[]).await.unwrap().is_empty());
    });
}

#[test]
fn the_latest_preference_per_channel_holds() {
    on_both(async |store, b| {
        let nine_to_six = Some((time(9, 0, 0, 0), time(18, 0, 0, 0)));
        let first = pref("B1", "sms", true, None, "2026-02-01T00:00:00Z");
        let later = pref("B1", "sms", false, nine_to_six, "2026-02-03T00:00:00Z");
        let earlier = pref("B1", "sms", true, None, "2026-01-01T00:00:00Z");
        for p in [&first, &later, &earlier] {
            assert!(store.set_preference(p, "api").await.unwrap(), "{b:?}");
        }
        // The same row again changes nothing.
        assert!(!store.set_preference(&later, "api").await.unwrap());
        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        assert_eq!(l.preferences, vec![later.clone()], "{b:?}");
        // Two rows of one instant: the one recorded last holds.
        let tie = pref("B1", "sms", true, None, "2026-02-03T00:00:00Z");
        assert!(store.set_preference(&tie, "api").await.unwrap());
        let email = pref("B1", "email", true, None, "2026-02-02T00:00:00Z");
        assert!(store.set_preference(&email, "api").await.unwrap());
        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        assert_eq!(l.preferences, vec![tie.clone(), email.clone()], "{b:?}");
        // The portal's view of the same rows.
        assert_eq!(
            store.contact_preferences("B1").await.unwrap(),
            Some(ContactPreferences {
                channels: vec!["call".into()],
                hours: None,
                updated_at: at("2026-02-03T00:00:00Z"),
            })
        );
        let mut one_end = later.clone();
        one_end.contact_to = None;
        assert!(matches!(
            store.set_preference(&one_end, "api").await,
            Err(LifecycleError::Invalid(_))
        ));
        let backwards = pref(
            "B1",
            "call",
            false,
            Some((time(18, 0, 0, 0), time(9, 0, 0, 0))),
            "2026-02-04T00:00:00Z",
        );
        assert!(matches!(
            store.set_preference(&backwards, "api").await,
            Err(LifecycleError::Invalid(_))
        ));
        assert!(matches!(
            store
                .set_preference(
                    &pref("B1", "fax", true, None, "2026-02-04T00:00:00Z"),
                    "api"
                )
                .await,
            Err(LifecycleError::Invalid(_))
        ));
        assert!(matches!(
            store
                .set_preference(
                    &pref("B9", "sms", true, None, "2026-02-04T00:00:00Z"),
                    "api"
                )
                .await,
            Err(LifecycleError::UnknownBorrower(_))
        ));
    });
}

#[test]
fn portal_preferences_are_rows_per_channel() {
    on_both(async |store, b| {
        let hours = (time(9, 30, 0, 0), time(20, 0, 0, 0));
        let chosen = ContactPreferences {
            channels: vec!["sms".into()],
            hours: Some(hours),
            updated_at: at("2026-02-05T00:00:00Z"),
        };
        assert!(store.set_contact_preferences("B1", &chosen).await.unwrap());
        assert!(!store.set_contact_preferences("B9", &chosen).await.unwrap());
        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        let row = |c: &str, out: bool| pref("B1", c, out, Some(hours), "2026-02-05T00:00:00Z");
        assert_eq!(
            l.preferences,
            vec![row("call", true), row("sms", false), row("email", true)],
            "{b:?}"
        );
        assert_eq!(store.contact_preferences("B1").await.unwrap(), Some(chosen));
        assert_eq!(store.contact_preferences("B2").await.unwrap(), None);
        // A later choice on one channel, from elsewhere, shows in the portal's view.
        let call = pref("B1", "call", false, Some(hours), "2026-02-06T00:00:00Z");
        assert!(store.set_preference(&call, "api").await.unwrap());
        let view = store.contact_preferences("B1").await.unwrap().unwrap();
        assert_eq!(view.channels, vec!["call".to_owned(), "sms".to_owned()]);
        assert_eq!(view.updated_at, at("2026-02-06T00:00:00Z"));
        let facts = store.borrower_contacts("B1").await.unwrap().unwrap();
        assert_eq!(facts.preferences, Some(view));
    });
}

#[test]
fn sales_disputes_and_persons_round_trip() {
    on_both(async |store, b| {
        let s = sale("S1", "L2");
        assert!(store.record_sale(&s, Some(1_500)).await.unwrap(), "{b:?}");
        assert!(!store.record_sale(&s, Some(1_500)).await.unwrap());
        assert!(matches!(
            store.record_sale(&s, Some(2_000)).await,
            Err(LifecycleError::Conflict { .. })
        ));
        assert!(matches!(
            store.record_sale(&sale("S2", "L9"), None).await,
            Err(LifecycleError::UnknownLoan(_))
        ));
        assert!(matches!(
            store.record_sale(&sale("S3", "L2"), Some(10_001)).await,
            Err(LifecycleError::Invalid(_))
        ));

        let d = dispute("D1", "B1", Some("L1"), None);
        assert!(store.open_credit_dispute(&d).await.unwrap());
        assert!(!store.open_credit_dispute(&d).await.unwrap());
        assert!(matches!(
            store
                .resolve_credit_dispute("D1", at("2026-02-14T00:00:00Z"))
                .await,
            Err(LifecycleError::Invalid(_))
        ));
        let resolved = at("2026-02-25T00:00:00Z");
        assert!(store.resolve_credit_dispute("D1", resolved).await.unwrap());
        assert!(!store.resolve_credit_dispute("D1", resolved).await.unwrap());
        assert!(matches!(
            store
                .resolve_credit_dispute("D1", at("2026-02-26T00:00:00Z"))
                .await,
            Err(LifecycleError::Conflict { .. })
        ));
        assert!(matches!(
            store.resolve_credit_dispute("D9", resolved).await,
            Err(LifecycleError::NotFound { .. })
        ));
        // Given again open, a resolved dispute is another content.
        assert!(matches!(
            store.open_credit_dispute(&d).await,
            Err(LifecycleError::Conflict { .. })
        ));
        let whole = dispute("D2", "B1", None, Some("2026-02-16T00:00:00Z"));
        assert!(store.open_credit_dispute(&whole).await.unwrap());

        let p = person("CP1", "B1", false);
        assert!(
            store
                .record_contact_person_named(&p, Some("Li Mother"), Some("parent"))
                .await
                .unwrap()
        );
        assert!(!store.record_contact_person(&p).await.unwrap());
        let refused = person("CP1", "B1", true);
        assert!(store.record_contact_person(&refused).await.unwrap());
        assert!(!store.record_contact_person(&refused).await.unwrap());
        assert!(matches!(
            store.record_contact_person(&p).await,
            Err(LifecycleError::Conflict { .. })
        ));
        let mut harvested = person("CP2", "B1", false);
        harvested.source = "harvested".into();
        assert!(matches!(
            store.record_contact_person(&harvested).await,
            Err(LifecycleError::Invalid(_))
        ));

        let l = store.lifecycle_of(&["B1", "B2"]).await.unwrap();
        assert_eq!(l.sales, vec![s.clone()], "{b:?}");
        let mut d_resolved = d.clone();
        d_resolved.resolved_at = Some(resolved);
        assert_eq!(l.credit_disputes, vec![d_resolved, whole.clone()]);
        assert_eq!(l.contact_persons, vec![refused.clone()]);
    });
}

#[test]
fn an_import_is_idempotent_appends_progress_and_counts_conflicts() {
    on_both(async |store, b| {
        let s = sample();
        let first = store.import_lifecycle(&s).await.unwrap();
        assert_eq!(first.notices, tally(2, 0, 0, 0, 0), "{b:?}");
        assert_eq!(first.preferences, tally(2, 0, 0, 0, 0));
        assert_eq!(first.plans, tally(2, 0, 0, 0, 0));
        assert_eq!(first.placements, tally(1, 0, 0, 0, 0));
        assert_eq!(first.sales, tally(1, 0, 0, 0, 0));
        assert_eq!(first.credit_disputes, tally(1, 0, 0, 0, 0));
        assert_eq!(first.legal_cases, tally(1, 0, 0, 0, 0));
        assert_eq!(first.contact_persons, tally(1, 0, 0, 0, 0));
        assert!(first.issues.is_empty(), "{:?}", first.issues);
        let all = store.all_lifecycle().await.unwrap();
        assert_eq!(all, sample_read_back(), "{b:?}");

        // The same records again change nothing.
        let again = store.import_lifecycle(&s).await.unwrap();
        assert_eq!(again.notices, tally(0, 0, 2, 0, 0));
        assert_eq!(again.preferences, tally(0, 0, 2, 0, 0));
        assert_eq!(again.plans, tally(0, 0, 2, 0, 0));
        assert_eq!(again.legal_cases, tally(0, 0, 1, 0, 0));
        assert!(again.issues.is_empty());
        assert_eq!(store.all_lifecycle().await.unwrap(), all);

        // Records that moved on are appended; contradictions are counted, not applied.
        let mut next = sample();
        next.plans[0].status = "active".into();
        next.plans[0].status_at = Some(at("2026-02-14T00:00:00Z"));
        next.plans[1].installments[1].amount_minor = 1;
        next.placements[0].recalled_at = Some(at("2026-03-01T00:00:00Z"));
        next.placements.push(placement("PC2", "L1", None));
        next.legal_cases[0].status = "judgment".into();
        next.legal_cases[0].updated_on = Some(date(2026, 3, 10));
        next.legal_cases.push(case("K2", "L1", "closed", None));
        next.notices[0].channel = "sms".into();
        next.notices.push(notice(
            "N9",
            "B1",
            Some("L9"),
            "validation",
            "2026-02-01T00:00:00Z",
        ));
        next.credit_disputes[0].resolved_at = Some(at("2026-02-28T00:00:00Z"));
        next.contact_persons[0].refused = true;
        next.sales[0].buyer = "Other Co".into();
        next.preferences
            .push(pref("B1", "sms", false, None, "2026-02-09T00:00:00Z"));
        let c = store.import_lifecycle(&next).await.unwrap();
        assert_eq!(c.notices, tally(0, 0, 1, 1, 1), "{b:?}");
        assert_eq!(c.preferences, tally(1, 0, 2, 0, 0));
        assert_eq!(c.plans, tally(0, 1, 0, 1, 0));
        // PC1 recalled, then PC2 placed: no second live placement.
        assert_eq!(c.placements, tally(1, 1, 0, 0, 0));
        assert_eq!(c.sales, tally(0, 0, 0, 1, 0));
        assert_eq!(c.credit_disputes, tally(0, 1, 0, 0, 0));
        assert_eq!(c.legal_cases, tally(1, 1, 0, 0, 0));
        assert_eq!(c.contact_persons, tally(0, 1, 0, 0, 0));
        let issues: Vec<(&str, &str, bool, &str)> = c
            .issues
            .iter()
            .map(|i| (i.table, i.id.as_str(), i.conflict, i.detail.as_str()))
            .collect();
        assert_eq!(
            issues,
            vec![
                ("notices", "N1", true, "channel"),
                ("notices", "N9", false, "there is no loan \"L9\""),
                ("payment_plans", "PL2", true, "installments"),
                ("sales", "S1", true, "buyer"),
            ]
        );
        // A live placement next to another is a conflict.
        let mut third = Lifecycle::default();
        third.placements.push(placement("PC3", "L1", None));
        let c = store.import_lifecycle(&third).await.unwrap();
        assert_eq!(c.placements, tally(0, 0, 0, 1, 0));

        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        let mut want = of_borrower(&sample_read_back(), "B1", &["L1", "L2"]);
        want.preferences[1] = pref("B1", "sms", false, None, "2026-02-09T00:00:00Z");
        want.plans[0].status = "active".into();
        want.plans[0].status_at = Some(at("2026-02-14T00:00:00Z"));
        want.placements[0].recalled_at = Some(at("2026-03-01T00:00:00Z"));
        want.placements.push(placement("PC2", "L1", None));
        want.credit_disputes[0].resolved_at = Some(at("2026-02-28T00:00:00Z"));
        want.legal_cases = vec![
            case("K1", "L2", "judgment", Some(date(2026, 3, 10))),
            case("K2", "L1", "closed", None),
        ];
        want.contact_persons[0].refused = true;
        assert_eq!(l, want, "{b:?}");

        // The work tables hold them as the API's reads show them.
        let zone = arrears_domain::TimeZoneName::utc();
        let plans = store
            .loan_plans("L1", date(2026, 3, 2), &zone)
            .await
            .unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].created_by, "import");
        let history: Vec<(&str, Timestamp)> = plans[0]
            .history
            .iter()
            .map(|h| (h.status.as_str(), h.at))
            .collect();
        // The proposed status came without its time: it shows the plan's creation.
        assert_eq!(
            history,
            vec![
                ("proposed", at("2026-02-12T01:00:00Z")),
                ("active", at("2026-02-14T00:00:00Z"))
            ]
        );
        assert_eq!(plans[0].installments.len(), 2);
        let cases = store.loan_legal_cases("L2").await.unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].status, "judgment");
        assert_eq!(
            (cases[0].court.as_str(), cases[0].amount_claimed_minor),
            ("", 0)
        );
        assert_eq!(cases[0].history[1].at, at("2026-03-10T00:00:00Z"));
        let placements = store.loan_placements("L1").await.unwrap();
        assert_eq!(placements.len(), 2);
        assert!(placements[0].recall.is_some() && placements[1].recall.is_none());
    });
}

#[test]
fn the_whole_store_reads_as_each_borrower_does() {
    on_both(async |store, b| {
        store.import_lifecycle(&sample()).await.unwrap();
        let all = store.all_lifecycle().await.unwrap();
        let b1 = store.lifecycle_of(&["B1"]).await.unwrap();
        let b2 = store.lifecycle_of(&["B2"]).await.unwrap();
        let both = store.lifecycle_of(&["B2", "B1", "B1"]).await.unwrap();
        assert_eq!(both, all, "{b:?}");
        assert_eq!(b1, of_borrower(&all, "B1", &["L1", "L2"]));
        assert_eq!(b2, of_borrower(&all, "B2", &["L3"]));
        assert_eq!(b2.plans.len(), 1);
        assert_eq!(b2.plans[0].status_at, Some(at("2026-02-13T00:00:00Z")));
    });
}

#[test]
fn a_borrowers_facts_hold_the_lifecycle_loans_and_contacts_to_shared_targets() {
    on_both(async |store, b| {
        store.import_lifecycle(&sample()).await.unwrap();
        let bc = store.borrower_contacts("B1").await.unwrap().unwrap();
        assert_eq!(
            bc.lifecycle,
            store.lifecycle_of(&["B1"]).await.unwrap(),
            "{b:?}"
        );
        let loans: Vec<(&str, Option<Timestamp>, Option<Date>)> = bc
            .loans
            .iter()
            .map(|l| (l.loan_id.as_str(), l.last_payment_at, l.first_due_date))
            .collect();
        // P2 was reversed: L1's last payment is P1, its only payment.
        assert_eq!(
            loans,
            vec![
                (
                    "L1",
                    Some(at("2026-02-01T02:00:00Z")),
                    Some(date(2026, 1, 31))
                ),
                ("L2", None, Some(date(2026, 3, 31))),
            ]
        );
        assert_eq!(
            bc.loans[0].payments,
            vec![(at("2026-02-01T02:00:00Z"), 100)]
        );
        assert!(bc.loans[1].payments.is_empty());
        assert_eq!(
            bc.loan_ids.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
            ["L1", "L2"]
        );
        // B2's call to B1's phone and e-mail to B1's address are here, as B2's; B2's call
        // to its own phone and B3's are not.
        let contacts: Vec<(&str, &str)> = bc
            .contacts
            .iter()
            .map(|c| (&*c.row.id, c.borrower_id.as_str()))
            .collect();
        assert_eq!(contacts, vec![("C1", "B1"), ("C2", "B2"), ("C3", "B2")]);
        assert_eq!(
            bc.own_contacts().map(|c| &*c.row.id).collect::<Vec<_>>(),
            ["C1"]
        );
        assert!(bc.contacts.iter().all(|c| c.violation.is_none()));
        let b2 = store.borrower_contacts("B2").await.unwrap().unwrap();
        let ids: Vec<&str> = b2.contacts.iter().map(|c| &*c.row.id).collect();
        assert_eq!(ids, ["C2", "C3", "C4"]);

        // The cache's preload reads the same.
        let mut every = Vec::new();
        let n = store
            .all_borrower_contacts(|bc| every.push(bc))
            .await
            .unwrap();
        assert_eq!(n, 3);
        for one in &every {
            let single = store
                .borrower_contacts(one.borrower.id.as_str())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(one.lifecycle, single.lifecycle, "{b:?}");
            assert_eq!(one.loans, single.loans);
            assert_eq!(one.loan_ids, single.loan_ids);
            assert_eq!(one.preferences, single.preferences);
            let ids = |bc: &arrears_store::BorrowerContacts| {
                bc.contacts
                    .iter()
                    .map(|c| (c.row.id.to_string(), c.borrower_id.as_str().to_owned()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(one), ids(&single));
        }
    });
}

fn contact(id: &str, b: &str, target: &str, at_: &str) -> NewContact {
    NewContact {
        contact_id: id.into(),
        borrower_id: bid(b),
        loan_id: None,
        channel: "call".into(),
        direction: "outbound".into(),
        at: at(at_),
        outcome: "no_answer".into(),
        target: Some(target.into()),
        party: Some("borrower".into()),
        agency_id: Some("AG1".into()),
    }
}

fn meta<'a>(event_id: &'a str, body_sha256: &'a str) -> EventMeta<'a> {
    EventMeta {
        event_id,
        kind: "contact",
        body: "{}",
        body_sha256,
        received_at: at("2026-02-08T00:00:00Z"),
        actor: "dialer",
    }
}

#[test]
fn violations_are_contacts_that_count_and_are_listed() {
    on_both(async |store, b| {
        let rules = vec!["CN-HOURS".to_owned(), "CN-FREQ-ATTEMPTS".to_owned()];
        let v = contact("V1", "B1", "+8613800000001", "2026-02-06T15:00:00Z");
        assert!(store.record_violation(&v, &rules).await.unwrap(), "{b:?}");
        assert!(!store.record_violation(&v, &rules).await.unwrap());
        assert!(matches!(
            store.record_violation(&v, &rules[..1]).await,
            Err(ServiceError::Duplicate { .. })
        ));
        assert!(matches!(
            store
                .record_violation(&contact("V2", "B1", "+1", "2026-02-06T15:00:00Z"), &[])
                .await,
            Err(ServiceError::Invalid(_))
        ));
        assert!(matches!(
            store
                .record_violation(&contact("V3", "B9", "+1", "2026-02-06T15:00:00Z"), &rules)
                .await,
            Err(ServiceError::UnknownBorrower(_))
        ));
        let other_day = contact("V4", "B2", "+8613800000001", "2026-02-07T01:00:00Z");
        assert!(
            store
                .record_violation(&other_day, &["CN-HOURS".to_owned()])
                .await
                .unwrap()
        );

        // In the facts of B1 (the second through B1's phone), like any contact.
        let bc = store.borrower_contacts("B1").await.unwrap().unwrap();
        let seen: Vec<(&str, Option<Vec<String>>)> = bc
            .contacts
            .iter()
            .filter(|c| c.row.id.starts_with('V'))
            .map(|c| (&*c.row.id, c.violation.clone()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("V1", Some(rules.clone())),
                ("V4", Some(vec!["CN-HOURS".to_owned()]))
            ],
            "{b:?}"
        );
        let from = at("2026-02-01T00:00:00Z");
        let to = at("2026-03-01T00:00:00Z");
        let listed = store.violations(from, to).await.unwrap();
        let listed: Vec<(&str, &str, &[String])> = listed
            .iter()
            .map(|v| {
                (
                    &*v.contact.row.id,
                    v.contact.borrower_id.as_str(),
                    v.rule_ids.as_slice(),
                )
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            listed,
            vec![
                ("V1", "B1", rules.as_slice()),
                ("V4", "B2", &["CN-HOURS".to_owned()][..])
            ]
        );
        assert!(
            store
                .violations(from, at("2026-02-06T15:00:00Z"))
                .await
                .unwrap()
                .is_empty()
        );
        // A reported contact event: decided over the facts under the lock, recorded anyway.
        let (sha_a, sha_b) = ("a".repeat(64), "b".repeat(64));
        let r1 = contact("R1", "B1", "+8613800000001", "2026-02-07T23:30:00Z");
        let (done, recorded) = store
            .ingest_reported_contact(&meta("E1", &sha_a), &r1, |facts| {
                // The judge sees the facts read under the lock: B2's violation to this number.
                assert!(facts.contacts.iter().any(|c| &*c.row.id == "V4"));
                vec!["CN-HOURS".to_owned(), "CN-HOURS".to_owned()]
            })
            .await
            .unwrap();
        assert!(matches!(done, Ingested::Recorded), "{b:?}");
        assert_eq!(recorded, vec!["CN-HOURS".to_owned()]);
        let (again, _) = store
            .ingest_reported_contact(&meta("E1", &sha_a), &r1, |_| Vec::new())
            .await
            .unwrap();
        assert!(matches!(again, Ingested::AlreadyRecorded));
        let (other, _) = store
            .ingest_reported_contact(&meta("E1", &sha_b), &r1, |_| Vec::new())
            .await
            .unwrap();
        assert!(matches!(other, Ingested::Conflict));
        let r2 = contact("R2", "B1", "+8613800000001", "2026-02-08T02:00:00Z");
        let (fine, none) = store
            .ingest_reported_contact(&meta("E2", &sha_a), &r2, |_| Vec::new())
            .await
            .unwrap();
        assert!(matches!(fine, Ingested::Recorded) && none.is_empty());
        let bc = store.borrower_contacts("B1").await.unwrap().unwrap();
        let r: Vec<(&str, Option<Vec<String>>)> = bc
            .contacts
            .iter()
            .filter(|c| c.row.id.starts_with('R'))
            .map(|c| (&*c.row.id, c.violation.clone()))
            .collect();
        assert_eq!(
            r,
            vec![("R1", Some(vec!["CN-HOURS".to_owned()])), ("R2", None)]
        );

        let counts: Vec<(String, Date, u64)> = store
            .violation_counts_by_rule_and_day(from, to)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.rule_id, c.day, c.contacts))
            .collect();
        assert_eq!(
            counts,
            vec![
                ("CN-FREQ-ATTEMPTS".to_owned(), date(2026, 2, 6), 1),
                ("CN-HOURS".to_owned(), date(2026, 2, 6), 1),
                ("CN-HOURS".to_owned(), date(2026, 2, 7), 2),
            ]
        );
    });
}

#[test]
fn the_policy_in_force_is_the_latest_effective_on_the_date() {
    on_both(async |store, b| {
        assert_eq!(store.policy_in_force(date(2026, 1, 1)).await.unwrap(), None);
        let set = at("2026-01-01T00:00:00Z");
        let v1 = store
            .set_policy("max_calls = 3\n", date(2026, 1, 1), "alice", set)
            .await
            .unwrap();
        let v2 = store
            .set_policy("max_calls = 2\n", date(2026, 3, 1), "alice", set)
            .await
            .unwrap();
        let v3 = store
            .set_policy("max_calls = 4\n", date(2026, 2, 1), "bob", set)
            .await
            .unwrap();
        assert_eq!((v1, v2, v3), (1, 2, 3), "{b:?}");
        let on = async |d: Date| store.policy_in_force(d).await.unwrap().map(|p| p.version);
        assert_eq!(on(date(2025, 12, 31)).await, None);
        assert_eq!(on(date(2026, 1, 1)).await, Some(1));
        assert_eq!(on(date(2026, 2, 15)).await, Some(3));
        assert_eq!(on(date(2026, 3, 5)).await, Some(2));
        let v4 = store
            .set_policy("max_calls = 1\n", date(2026, 3, 1), "carol", set)
            .await
            .unwrap();
        assert_eq!(on(date(2026, 3, 5)).await, Some(v4));
        let p = store
            .policy_in_force(date(2026, 1, 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.text, "max_calls = 3\n");
        assert_eq!(p.effective_from, date(2026, 1, 1));
        assert_eq!((p.actor.as_str(), p.set_at), ("alice", set));
        // sha256("max_calls = 3\n")
        assert_eq!(p.sha256.len(), 64);
        let all = store.policies().await.unwrap();
        assert_eq!(
            all.iter().map(|p| p.version).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_ne!(all[0].sha256, all[1].sha256);
        assert!(matches!(
            store.set_policy("x", date(2026, 1, 1), "", set).await,
            Err(LifecycleError::Invalid(_))
        ));
    });
}

#[test]
fn facts_notifications_name_the_borrowers_of_lifecycle_rows_and_shared_targets() {
    let Some(db) = fresh(Backend::Postgres) else {
        return;
    };
    let rt = runtime();
    rt.block_on(async {
        let store = Store::open(&DbTarget::parse(&db.target).unwrap())
            .await
            .unwrap();
        import_portfolio(&store).await;
        let mut watch = store.watch_facts().await.unwrap().unwrap();
        let mut next = async || {
            tokio::time::timeout(std::time::Duration::from_secs(5), watch.next())
                .await
                .expect("a notification")
                .unwrap()
        };
        let b = |s: &str| FactsChange::Borrower(s.to_owned());
        store
            .record_notice(
                &notice("N1", "B1", None, "validation", "2026-02-01T00:00:00Z"),
                "api",
            )
            .await
            .unwrap();
        assert_eq!(next().await, b("B1"));
        store
            .import_lifecycle(&Lifecycle {
                plans: vec![plan("PL1", "L3", "active", None)],
                ..Lifecycle::default()
            })
            .await
            .unwrap();
        assert_eq!(next().await, b("B2"));
        // B2's contact to B1's phone changes both.
        store
            .record_violation(
                &contact("V1", "B2", "+8613800000001", "2026-02-06T15:00:00Z"),
                &["CN-HOURS".to_owned()],
            )
            .await
            .unwrap();
        let mut got = vec![next().await, next().await];
        got.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(got, vec![b("B1"), b("B2")]);
        store
            .resolve_credit_dispute("D9", at("2026-02-06T15:00:00Z"))
            .await
            .unwrap_err();
        store
            .open_credit_dispute(&dispute("D1", "B3", None, None))
            .await
            .unwrap();
        assert_eq!(next().await, b("B3"));
        // The listener holds a connection of the pool: let it go before closing.
        drop(watch);
        store.close().await;
    });
}

/// A store migrated to 0009 with a portal preference, a plan and a legal case, then opened
/// (0010): the preference is three rows, the work rows are kept and still append-only.
#[test]
fn migration_0010_moves_portal_preferences_and_keeps_work_rows() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = fresh(b) else { continue };
        let rt = runtime();
        rt.block_on(async {
            let statements = [
                "INSERT INTO borrowers (borrower_id, name, phone, email, timezone, jurisdiction, \
                 deceased, bankrupt, cease_contact, dispute_open, hardship) VALUES \
                 ('B1', 'Li', '+8613800000001', NULL, 'Asia/Shanghai', 'CN', FALSE, FALSE, FALSE, \
                 FALSE, FALSE)",
                "INSERT INTO loans (loan_id, borrower_id, product, currency, principal_minor, \
                 annual_rate_bps, penalty_rate_bps, disbursed_on, status) VALUES \
                 ('L1', 'B1', 'x', 'CNY', 1000, 0, 0, '2026-01-01', 'active')",
                "INSERT INTO contact_preferences (borrower_id, channels, hours_from, hours_to, \
                 updated_at) VALUES ('B1', 'sms,email', '08:30', '20:00', \
                 '2026-02-01T00:00:00.000000Z')",
                "INSERT INTO payment_plans (plan_id, loan_id, created_at, created_by, recorded_at) \
                 VALUES ('PL1', 'L1', '2026-02-02T00:00:00.000000Z', 'agent', \
                 '2026-02-02T00:00:00.000000Z')",
                "INSERT INTO payment_plan_installments (plan_id, seq, due_date, amount_minor) \
                 VALUES ('PL1', 1, '2026-03-01', 1000)",
                "INSERT INTO payment_plan_statuses (plan_id, status, at, reason, actor) VALUES \
                 ('PL1', 'proposed', '2026-02-02T00:00:00.000000Z', NULL, 'agent'), \
                 ('PL1', 'active', '2026-02-03T00:00:00.000000Z', NULL, 'agent')",
                "INSERT INTO legal_cases (case_id, loan_id, court, case_number, \
                 amount_claimed_minor, actor, recorded_at) VALUES ('K1', 'L1', 'Court', '42', 900, \
                 'agent', '2026-02-04T00:00:00.000000Z')",
                "INSERT INTO legal_case_updates (case_id, status, at, amount_awarded_minor, note, \
                 actor) VALUES ('K1', 'filed', '2026-02-04T00:00:00.000000Z', NULL, NULL, 'agent')",
            ];
            match b {
                Backend::Sqlite => {
                    let opts = sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(&db.target)
                        .create_if_missing(true)
                        .foreign_keys(true);
                    let pool = sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(opts)
                        .await
                        .unwrap();
                    sqlx::migrate!("migrations/sqlite")
                        .run_to(9, &pool)
                        .await
                        .unwrap();
                    for s in statements {
                        let s = s.replace("FALSE", "0");
                        sqlx::raw_sql(sqlx::AssertSqlSafe(s))
                            .execute(&pool)
                            .await
                            .unwrap();
                    }
                    pool.close().await;
                }
                Backend::Postgres => {
                    let pool = sqlx::postgres::PgPoolOptions::new()
                        .max_connections(1)
                        .connect(&db.target)
                        .await
                        .unwrap();
                    sqlx::migrate!("migrations/postgres")
                        .run_to(9, &pool)
                        .await
                        .unwrap();
                    for s in statements {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_owned()))
                            .execute(&pool)
                            .await
                            .unwrap();
                    }
                    pool.close().await;
                }
            }
            let store = Store::open(&DbTarget::parse(&db.target).unwrap())
                .await
                .unwrap();
            // 0010 and every later migration are applied on open.
            assert!(
                store.status().await.unwrap().applied_version >= Some(11),
                "{b:?}"
            );
            let hours = (time(8, 30, 0, 0), time(20, 0, 0, 0));
            assert_eq!(
                store.contact_preferences("B1").await.unwrap(),
                Some(ContactPreferences {
                    channels: vec!["sms".into(), "email".into()],
                    hours: Some(hours),
                    updated_at: at("2026-02-01T00:00:00Z"),
                }),
                "{b:?}"
            );
            let l = store.lifecycle_of(&["B1"]).await.unwrap();
            let row = |c: &str, out: bool| pref("B1", c, out, Some(hours), "2026-02-01T00:00:00Z");
            assert_eq!(
                l.preferences,
                vec![row("call", true), row("sms", false), row("email", false)]
            );
            assert_eq!(l.plans.len(), 1);
            assert_eq!(
                (&*l.plans[0].status, l.plans[0].status_at),
                ("active", Some(at("2026-02-03T00:00:00Z")))
            );
            assert_eq!(
                l.legal_cases,
                vec![case("K1", "L1", "filed", Some(date(2026, 2, 4)))]
            );
            let cases = store.loan_legal_cases("L1").await.unwrap();
            assert_eq!(
                (cases[0].court.as_str(), cases[0].amount_claimed_minor),
                ("Court", 900)
            );
            // The rebuilt tables keep their ids going and refuse changes.
            let c = store
                .import_lifecycle(&Lifecycle {
                    legal_cases: vec![case("K1", "L1", "judgment", None)],
                    plans: vec![plan("PL2", "L1", "proposed", None)],
                    ..Lifecycle::default()
                })
                .await
                .unwrap();
            assert_eq!((c.legal_cases.updated, c.plans.inserted), (1, 1));
            let cases = store.loan_legal_cases("L1").await.unwrap();
            assert_eq!(
                cases[0]
                    .history
                    .iter()
                    .map(|h| h.status.as_str())
                    .collect::<Vec<_>>(),
                ["filed", "judgment"]
            );
            store.close().await;
            let refused = match b {
                Backend::Sqlite => {
                    let pool = sqlx::sqlite::SqlitePoolOptions::new()
                        .connect(&format!("sqlite:{}", db.target))
                        .await
                        .unwrap();
                    let mut refused = 0;
                    for s in [
                        "UPDATE legal_cases SET court = 'x'",
                        "DELETE FROM legal_case_updates",
                        "UPDATE payment_plan_statuses SET status = 'broken'",
                        "DELETE FROM preferences",
                    ] {
                        refused += usize::from(sqlx::raw_sql(s).execute(&pool).await.is_err());
                    }
                    pool.close().await;
                    refused
                }
                Backend::Postgres => {
                    let pool = sqlx::postgres::PgPoolOptions::new()
                        .connect(&db.target)
                        .await
                        .unwrap();
                    let mut refused = 0;
                    for s in [
                        "UPDATE legal_cases SET court = 'x'",
                        "DELETE FROM legal_case_updates",
                        "UPDATE payment_plan_statuses SET status = 'broken'",
                        "DELETE FROM preferences",
                    ] {
                        refused += usize::from(sqlx::raw_sql(s).execute(&pool).await.is_err());
                    }
                    pool.close().await;
                    refused
                }
            };
            assert_eq!(refused, 4, "{b:?}");
        });
    }
}

#[test]
fn a_sent_notice_is_on_record_and_a_sent_reminder_is_not() {
    on_both(async |store, b| {
        let message = |key: &str, purpose: &str| arrears_store::NewOutboxMessage {
            idempotency_key: key.into(),
            borrower_id: "B1".into(),
            loan_id: Some("L1".into()),
            channel: "sms".into(),
            party: "borrower".into(),
            target: Some("+8613800000001".into()),
            purpose: purpose.into(),
            agency_id: None,
            language: "en".into(),
            lender_name: "Acme".into(),
            verification_code: "ABCDE-FGHIJ".into(),
            subject: None,
            body: "text".into(),
            decided_at: at("2026-03-01T08:00:00Z"),
            jurisdiction: "CN".into(),
            pack_version: "1".into(),
            policy: None,
            enqueued_at: at("2026-03-01T08:00:00Z"),
            not_before: at("2026-03-01T08:00:00Z"),
            expires_at: None,
        };
        store
            .enqueue(&message("k-assign", "notice:assignment"))
            .await
            .unwrap();
        store
            .enqueue(&message("k-remind", "collection"))
            .await
            .unwrap();
        let now = at("2026-03-01T09:00:00Z");
        let rows = store
            .claim_outbox("w", &["sms"], now, at("2026-03-01T09:05:00Z"), 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{b:?}");
        for r in &rows {
            let sent = arrears_store::Release::Sent { at: now };
            assert!(store.release_outbox(r.outbox_id, "w", &sent).await.unwrap());
        }
        let l = store.lifecycle_of(&["B1"]).await.unwrap();
        assert_eq!(l.notices.len(), 1, "{b:?}: {:?}", l.notices);
        let n = &l.notices[0];
        assert_eq!(
            (
                &*n.kind,
                &*n.channel,
                n.sent_at,
                n.loan_id.as_ref().map(|l| l.as_str())
            ),
            ("assignment", "sms", now, Some("L1")),
            "{b:?}"
        );
    });
}
