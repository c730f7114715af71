//! Bytes → every JSON request body of the /v1 API, parsed the way its extractor parses it
//! (`axum::Json::from_bytes`, what `ApiJson` wraps; the raw `Value` for contacts and events,
//! then `serde_json::from_value` as those handlers do), followed by the field checks the
//! handlers run before touching the store (ids, instants and their year range, dates,
//! amounts, the contact spec and its message vetting). `canonical_json`, the idempotency
//! key of an ingested body, must give JSON that reads back as the same value.
#![no_main]

use arrears_domain::parse;
use arrears_domain::types::{BorrowerId, ContactId, LoanId};
use arrears_domain::{FieldError, Minor};
use arrears_policy::{Language, Outcome};
use arrears_server::api::{
    self, BorrowerChange, CheckRequest, ContactRequest, EventBody, EventRequest, LoginRequest,
};
use arrears_server::work::{
    LegalCaseRequest, LegalStatusRequest, PlacementRequest, PlanRequest, PlanStatusRequest,
    RecallRequest, WriteOffRequest,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The years the handlers accept (`api::YEARS`).
const YEARS: std::ops::RangeInclusive<i16> = 1900..=9999;

fn message(e: FieldError) {
    assert!(!e.detail.is_empty(), "a field error without detail: {e:?}");
}

fn instant(s: &str) {
    match parse::timestamp("at", s) {
        Ok(t) => {
            let _ = YEARS.contains(&t.to_zoned(jiff::tz::TimeZone::UTC).year());
        }
        Err(e) => message(e),
    }
}

fn date(s: &str) {
    if let Err(e) = parse::date("due_date", s) {
        message(e);
    }
}

fn id(s: &str) {
    if let Err(e) = ContactId::check("id", s) {
        message(e);
    }
}

fn loan(s: &str) {
    if let Err(e) = LoanId::parse("loan_id", s) {
        message(e);
    }
}

fn borrower(s: &str) {
    if let Err(e) = BorrowerId::parse("borrower_id", s) {
        message(e);
    }
}

fn amount(v: i64) {
    match Minor::positive("amount_minor", v) {
        Ok(m) => assert!(m.get() > 0),
        Err(e) => message(e),
    }
}

fn spec(s: &arrears_app::ContactSpec<'_>) {
    for lang in [Language::En, Language::ZhCn] {
        if let Err(e) = s.proposal(lang) {
            assert!(!e.reason.is_empty(), "a spec error without a reason: {e:?}");
        }
    }
}

fn check_request(r: &CheckRequest) {
    borrower(&r.borrower_id);
    instant(&r.at);
    spec(&arrears_app::ContactSpec {
        borrower_id: &r.borrower_id,
        loan_id: r.loan_id.as_deref(),
        channel: &r.channel,
        party: r.party.as_deref(),
        target: r.target.as_deref(),
        purpose: r.purpose.as_deref(),
        agency_id: r.agency_id.as_deref(),
        text: r.text.as_deref(),
        lender: r.lender.as_deref(),
        code: r.code.as_deref(),
        language: None,
    });
}

fn contact_request(r: &ContactRequest) {
    borrower(&r.borrower_id);
    instant(&r.at);
    let _ = Outcome::parse(&r.outcome);
    spec(&arrears_app::ContactSpec {
        borrower_id: &r.borrower_id,
        loan_id: r.loan_id.as_deref(),
        channel: &r.channel,
        party: r.party.as_deref(),
        target: r.target.as_deref(),
        purpose: None,
        agency_id: None,
        text: r.text.as_deref(),
        lender: r.lender.as_deref(),
        code: r.code.as_deref(),
        language: None,
    });
}

fn event_request(r: &EventRequest) {
    id(&r.event_id);
    let change = |c: &BorrowerChange| {
        borrower(&c.borrower_id);
        instant(&c.at);
    };
    match &r.body {
        EventBody::Payment(p) => {
            id(&p.payment_id);
            loan(&p.loan_id);
            instant(&p.received_at);
            amount(p.amount_minor);
        }
        EventBody::Reversal(p) => {
            id(&p.payment_id);
            id(&p.reverses);
            loan(&p.loan_id);
            instant(&p.received_at);
            amount(p.amount_minor);
        }
        EventBody::Contact(c) => contact_request(c),
        EventBody::PromiseToPay(p) => {
            id(&p.promise_id);
            loan(&p.loan_id);
            instant(&p.created_at);
            amount(p.amount_minor);
            date(&p.due_date);
        }
        EventBody::DisputeOpened(c)
        | EventBody::DisputeResolved(c)
        | EventBody::CeaseContact(c)
        | EventBody::Hardship(c)
        | EventBody::HardshipEnded(c)
        | EventBody::Deceased(c)
        | EventBody::Bankrupt(c) => change(c),
        EventBody::Notice(n) => {
            id(&n.notice_id);
            borrower(&n.borrower_id);
            if let Some(l) = &n.loan_id {
                loan(l);
            }
            instant(&n.sent_at);
        }
        EventBody::Preference(p) => {
            borrower(&p.borrower_id);
            instant(&p.updated_at);
            for t in [&p.contact_from, &p.contact_to].into_iter().flatten() {
                let _ = arrears_policy::parse_local_time(t);
            }
        }
        EventBody::CreditDisputeOpened(d) => {
            id(&d.dispute_id);
            borrower(&d.borrower_id);
            if let Some(l) = &d.loan_id {
                loan(l);
            }
            instant(&d.opened_at);
        }
        EventBody::CreditDisputeResolved(d) => {
            id(&d.dispute_id);
            instant(&d.resolved_at);
        }
    }
}

/// The same JSON value; a float may differ in its last bits (serde_json reads floats
/// without exact round trips unless its `float_roundtrip` feature is on).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || ((x - y) / x).abs() < 1e-14,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Parses `data` as `T` the way the extractor does; a parsed body serialises and reads back
/// to the same JSON.
fn body<T: DeserializeOwned + Serialize>(data: &[u8], validate: impl FnOnce(&T)) {
    match axum::Json::<T>::from_bytes(data) {
        Ok(axum::Json(v)) => {
            let json = serde_json::to_value(&v).expect("a parsed body serialises");
            let back: T = serde_json::from_value(json.clone()).expect("its JSON reads back");
            assert_eq!(serde_json::to_value(&back).expect("serialises"), json);
            validate(&v);
        }
        Err(e) => assert!(!e.body_text().is_empty(), "a rejection without a message"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The bodies taken as a raw value first (contacts, events, and the work routes'
    // `parse_body`), then read as their type.
    if let Ok(axum::Json(raw)) = axum::Json::<serde_json::Value>::from_bytes(data) {
        let canonical = api::canonical_json(&raw);
        let again: serde_json::Value =
            serde_json::from_str(&canonical).expect("canonical JSON is JSON");
        assert!(
            same(&again, &raw),
            "canonical JSON reads back as another value: {canonical}"
        );
        // The key of a body is a function of its bytes.
        if let Ok(axum::Json(twice)) = axum::Json::<serde_json::Value>::from_bytes(data) {
            assert_eq!(api::canonical_json(&twice), canonical);
        }
        if let Ok(r) = serde_json::from_value::<ContactRequest>(raw.clone()) {
            contact_request(&r);
        }
        if let Ok(r) = serde_json::from_value::<EventRequest>(raw.clone()) {
            event_request(&r);
        }
        if let Ok(r) = serde_json::from_value::<PlanRequest>(raw.clone()) {
            id(&r.plan_id);
            loan(&r.loan_id);
            instant(&r.created_at);
            for i in &r.installments {
                date(&i.due_date);
                amount(i.amount_minor);
            }
        }
        if let Ok(r) = serde_json::from_value::<PlanStatusRequest>(raw.clone()) {
            instant(&r.at);
        }
        if let Ok(r) = serde_json::from_value::<PlacementRequest>(raw.clone()) {
            id(&r.placement_id);
            loan(&r.loan_id);
            id(&r.agency_id);
            instant(&r.placed_at);
        }
        if let Ok(r) = serde_json::from_value::<RecallRequest>(raw.clone()) {
            instant(&r.recalled_at);
        }
        if let Ok(r) = serde_json::from_value::<LegalCaseRequest>(raw.clone()) {
            id(&r.case_id);
            loan(&r.loan_id);
            amount(r.amount_claimed_minor);
            instant(&r.filed_at);
        }
        if let Ok(r) = serde_json::from_value::<LegalStatusRequest>(raw.clone()) {
            instant(&r.at);
            if let Some(a) = r.amount_awarded_minor {
                amount(a);
            }
        }
        if let Ok(r) = serde_json::from_value::<WriteOffRequest>(raw) {
            id(&r.write_off_id);
            loan(&r.loan_id);
            amount(r.amount_minor);
        }
    }
    // The bodies the extractor reads straight into their type.
    body::<CheckRequest>(data, check_request);
    body::<ContactRequest>(data, contact_request);
    body::<EventRequest>(data, event_request);
    match axum::Json::<LoginRequest>::from_bytes(data) {
        Ok(axum::Json(r)) => {
            let _ = (r.username.len(), r.password.len());
        }
        Err(e) => assert!(!e.body_text().is_empty()),
    }
});
