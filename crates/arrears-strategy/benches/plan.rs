//! Planning speed: the default strategy over a synthetic portfolio of 10,000 loans in CN, US
//! and GB with contact histories (about 5 contact rows per loan), every action checked by the
//! compliance engine. `cargo bench -p arrears-strategy --bench plan`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code

#[path = "../tests/it/fixture.rs"]
#[allow(dead_code)]
mod fixture;

use arrears_strategy::{DEFAULT_STRATEGY, Strategy};
use criterion::{Criterion, criterion_group, criterion_main};
use fixture::{BorrowerSpec, ContactSpec, LoanSpec, world};
use jiff::civil::Date;

fn synthetic(loans: usize) -> fixture::World {
    let as_of: Date = "2026-11-28".parse().unwrap();
    let mut x: u64 = 7;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let (mut bs, mut ls, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    let places = [
        ("CN", "Asia/Shanghai", "+8613", "CNY"),
        ("US-NY", "America/New_York", "+1212", "USD"),
        ("GB", "Europe/London", "+44770", "GBP"),
    ];
    let dpds = [0u32, 0, 0, 2, 5, 12, 20, 40, 70, 100, 130, 200];
    for i in 0..loans {
        let (j, tz, prefix, cur) = places[next(3) as usize];
        let phone = format!("{prefix}{:08}", i);
        let bid = format!("B{i:07}");
        bs.push(BorrowerSpec {
            id: bid.clone(),
            name: "Jane Doe".into(),
            jurisdiction: j.into(),
            timezone: tz.into(),
            phone: Some(phone.clone()),
            email: Some(format!("b{i}@example.com")),
            dispute_open: next(100) == 0,
            ..BorrowerSpec::default()
        });
        let dpd = dpds[next(dpds.len() as u64) as usize];
        let lid = format!("L{i:08}");
        ls.push(LoanSpec {
            id: lid.clone(),
            borrower: bid.clone(),
            currency: cur.into(),
            product: "cash-loan-12m".into(),
            dpd,
            overdue_minor: if dpd == 0 {
                0
            } else {
                10_000 + next(500_000) as i64
            },
            oldest_unpaid_due_date: None,
            upcoming: vec![(
                as_of
                    .checked_add(jiff::Span::new().days(next(30) as i64))
                    .unwrap(),
                20_000,
            )],
            promise: None,
        });
        for _ in 0..next(11) {
            let back = 1 + next(20) as i64;
            let at = as_of
                .checked_sub(jiff::Span::new().days(back))
                .unwrap()
                .to_datetime(jiff::civil::Time::constant(10, 0, 0, 0))
                .to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
                .unwrap()
                .timestamp();
            cs.push(ContactSpec {
                borrower: bid.clone(),
                loan: Some(lid.clone()),
                channel: ["call", "sms", "call"][next(3) as usize].into(),
                at,
                outcome: ["no_answer", "right_party", "delivered"][next(3) as usize].into(),
                target: Some(phone.clone()),
                party: None,
            });
        }
    }
    world(
        as_of,
        &bs,
        &ls,
        &cs,
        Strategy::parse(DEFAULT_STRATEGY).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let w = synthetic(10_000);
    let p = w.plan(true);
    eprintln!(
        "10,000 loans, {} contact rows: {} actions, {} blocked, {} proposals",
        w.portfolio.contacts.len(),
        p.actions.len(),
        p.blocked.len(),
        p.proposals.len()
    );
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("default strategy, 10k loans", |b| b.iter(|| w.plan(true)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
