//! One `check` call with about 20 history rows: a US call (two zones, US-7IN7 window and
//! quiet-period bookkeeping) that is allowed, a US call that is denied with an
//! `earliest_allowed` search, and a CN SMS whose text is vetted by the content rules.
//!
//! Run: `cargo bench -p arrears-policy --bench check`

// A benchmark's fixed inputs are known good; a bad one should stop it loudly.
#![allow(clippy::expect_used)]

use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Jurisdiction, TimeZoneName};
use arrears_policy::{
    BorrowerFacts, Channel, ContactRecord, Language, Message, Outcome, PackSet, Party,
    ProposedContact, Target, check,
};
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use std::hint::black_box;

struct Input {
    proposed: ProposedContact,
    facts: BorrowerFacts,
    history: Vec<ContactRecord>,
}

fn input(
    country: &str,
    zones: &[&str],
    phone: &str,
    at: Timestamp,
    channel: Channel,
    message: Option<Message>,
) -> Input {
    let borrower = BorrowerId::parse("borrower_id", "B-BENCH").expect("id");
    let target = Target::parse(phone).expect("phone");
    let mut facts = BorrowerFacts::new(
        borrower.clone(),
        Jurisdiction::parse("j", country).expect("jurisdiction"),
    );
    facts.timezone = zones
        .first()
        .map(|z| TimeZoneName::parse("tz", z).expect("zone"));
    facts.phone_timezone = zones
        .get(1)
        .map(|z| TimeZoneName::parse("tz", z).expect("zone"));
    facts.own_targets = vec![target.clone()];
    // 20 rows over the last 11 days: calls on two loans, mostly unanswered, and messages.
    let history = (0..20)
        .map(|i| {
            let when = at - SignedDuration::from_mins(13 * 60 * (i + 1) + 7);
            let (ch, outcome) = match i % 5 {
                0 => (Channel::Sms, Outcome::Delivered),
                3 => (Channel::Call, Outcome::Voicemail),
                _ => (Channel::Call, Outcome::NoAnswer),
            };
            let mut r = ContactRecord::new(borrower.clone(), ch, Party::Borrower, when, outcome);
            r.loan_id =
                Some(LoanId::parse("loan_id", if i % 3 == 0 { "L2" } else { "L1" }).expect("id"));
            r.target = Some(target.clone());
            r
        })
        .collect();
    let mut proposed = ProposedContact::new(borrower, channel, Party::Borrower, Some(target));
    proposed.loan_id = Some(LoanId::parse("loan_id", "L1").expect("id"));
    proposed.message = message;
    Input {
        proposed,
        facts,
        history,
    }
}

fn bench(c: &mut Criterion) {
    let packs = PackSet::embedded().expect("packs");
    let at: Timestamp = "2026-06-10T19:00:00Z".parse().expect("instant");
    let us = input(
        "US-NY",
        &["America/New_York", "America/Los_Angeles"],
        "+12125550100",
        at,
        Channel::Call,
        None,
    );
    let night: Timestamp = "2026-06-11T02:30:00Z".parse().expect("instant");
    let us_night = input(
        "US-NY",
        &["America/New_York", "America/Los_Angeles"],
        "+12125550100",
        night,
        Channel::Call,
        None,
    );
    let text = "【安信金融】尊敬的客户，您本期账单1,200.00元已于11月15日到期，请尽快通过安信App还款，如已还款请忽略。验证码 K7Q2。回复TD退订";
    let cn_at: Timestamp = "2026-11-20T02:00:00Z".parse().expect("instant");
    let cn = input(
        "CN",
        &[],
        "+8613800138000",
        cn_at,
        Channel::Sms,
        Some(Message::new(text, Language::ZhCn, "安信金融", "K7Q2")),
    );

    assert!(check(&us.proposed, &us.facts, &us.history, at, &packs).is_allowed());
    assert!(
        check(
            &us_night.proposed,
            &us_night.facts,
            &us_night.history,
            night,
            &packs
        )
        .earliest_allowed()
        .is_some()
    );
    assert!(check(&cn.proposed, &cn.facts, &cn.history, cn_at, &packs).is_allowed());

    let mut g = c.benchmark_group("check");
    g.bench_function("us_call_allowed_20_rows", |b| {
        b.iter(|| {
            check(
                black_box(&us.proposed),
                black_box(&us.facts),
                black_box(&us.history),
                black_box(at),
                &packs,
            )
        })
    });
    g.bench_function("us_call_denied_with_earliest_20_rows", |b| {
        b.iter(|| {
            check(
                black_box(&us_night.proposed),
                black_box(&us_night.facts),
                black_box(&us_night.history),
                black_box(night),
                &packs,
            )
        })
    });
    g.bench_function("cn_sms_content_20_rows", |b| {
        b.iter(|| {
            check(
                black_box(&cn.proposed),
                black_box(&cn.facts),
                black_box(&cn.history),
                black_box(cn_at),
                &packs,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
