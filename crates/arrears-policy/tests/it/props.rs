//! Property: `earliest_allowed`, when given, is itself allowed by `check`, and no sampled
//! instant in `[at, earliest_allowed)` is (nor the second before it); when none is given, no
//! sampled instant within the search horizon is allowed either. Scenarios mix the three packs,
//! one or two zones or none, DST-season instants, dense call histories (daily caps, US-7IN7
//! windows and quiet periods), breathing space and agreed hours.

use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Jurisdiction, TimeZoneName};
use arrears_policy::{
    BorrowerFacts, Channel, ContactRecord, Decision, Language, LocalWindow, Message, Outcome,
    PackSet, Party, ProposedContact, Target, check, parse_local_time,
};
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use std::sync::LazyLock;

static PACKS: LazyLock<PackSet> = LazyLock::new(|| PackSet::embedded().expect("embedded packs"));

#[derive(Debug, Clone)]
struct Call {
    secs_before: i64,
    conversation: bool,
    other_loan: bool,
    other_number: bool,
}

#[derive(Debug, Clone)]
struct Scenario {
    country: usize,
    zones: usize,
    at_secs: i64,
    calls: Vec<Call>,
    sms: bool,
    breathing_days: Option<i64>,
    agreed_hours: Option<(i8, i8)>,
    /// Seconds before `at` of an initial communication without a validation notice (the US
    /// pack then stops collection 5 days after it: a deadline that waiting cannot cure).
    initial_communication: Option<i64>,
    samples: Vec<u32>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let call = (
        0i64..4 * 86_400,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(secs_before, conversation, other_loan, other_number)| Call {
                secs_before,
                conversation,
                other_loan,
                other_number,
            },
        );
    (
        0usize..3,
        0usize..3,
        // Any second of 2026, DST changes included.
        1_767_225_600i64..1_798_761_600,
        prop::collection::vec(call, 0..20),
        prop::bool::weighted(0.25),
        prop::option::weighted(0.2, -3i64..10),
        prop::option::weighted(0.2, (5i8..10, 18i8..24)),
        prop::option::weighted(0.3, 0i64..8 * 86_400),
        prop::collection::vec(any::<u32>(), 24),
    )
        .prop_map(
            |(
                country,
                zones,
                at_secs,
                calls,
                sms,
                breathing_days,
                agreed_hours,
                initial,
                samples,
            )| {
                Scenario {
                    country,
                    zones,
                    at_secs,
                    calls,
                    sms,
                    breathing_days,
                    agreed_hours,
                    initial_communication: initial,
                    samples,
                }
            },
        )
}

struct Built {
    proposed: ProposedContact,
    facts: BorrowerFacts,
    history: Vec<ContactRecord>,
    at: Timestamp,
}

fn build(s: &Scenario) -> Built {
    let (country, zone_sets, own, other, language, lender, text): (
        &str,
        [&[&str]; 3],
        &str,
        &str,
        Language,
        &str,
        &str,
    ) = match s.country {
        0 => (
            "US-NY",
            [
                &[],
                &["America/New_York"],
                &["America/New_York", "America/Los_Angeles"],
            ],
            "+12125550100",
            "+12125550199",
            Language::En,
            "Acme Finance",
            "Acme Finance: your payment of $120.00 is due on Nov 25. Ref 7F3K. Reply STOP to opt out.",
        ),
        1 => (
            "CN",
            [&[], &["Asia/Shanghai"], &["Asia/Shanghai", "Asia/Urumqi"]],
            "+8613800138000",
            "+8613900139000",
            Language::ZhCn,
            "安信金融",
            "【安信金融】您本期账单1,200.00元已到期，请通过安信App还款。验证码 7F3K。回复TD退订",
        ),
        _ => (
            "GB",
            [
                &[],
                &["Europe/London"],
                &["Europe/London", "America/New_York"],
            ],
            "+447700900001",
            "+447700900099",
            Language::En,
            "Acme Finance",
            "Acme Finance: your payment of £85.00 is due on 25 November. Ref 7F3K. Reply STOP to opt out.",
        ),
    };
    let borrower = BorrowerId::parse("borrower_id", "B-PROP").expect("id");
    let l1 = LoanId::parse("loan_id", "L1").expect("id");
    let l2 = LoanId::parse("loan_id", "L2").expect("id");
    let at = Timestamp::from_second(s.at_secs).expect("instant");
    let own_t = Target::parse(own).expect("target");
    let other_t = Target::parse(other).expect("target");

    let mut facts = BorrowerFacts::new(
        borrower.clone(),
        Jurisdiction::parse("j", country).expect("jurisdiction"),
    );
    let zones = zone_sets[s.zones];
    facts.timezone = zones
        .first()
        .map(|z| TimeZoneName::parse("tz", z).expect("zone"));
    facts.phone_timezone = zones
        .get(1)
        .map(|z| TimeZoneName::parse("tz", z).expect("zone"));
    facts.own_targets = vec![own_t.clone(), other_t.clone()];
    if let Some(d) = s.breathing_days {
        let today = jiff::tz::TimeZone::UTC.to_datetime(at).date();
        facts.breathing_space_until = today.checked_add(jiff::Span::new().days(d)).ok();
    }
    facts.initial_communication_at = s
        .initial_communication
        .map(|secs| at - SignedDuration::from_secs(secs));
    if let Some((start, end)) = s.agreed_hours {
        let t = |h: i8| parse_local_time(&format!("{h:02}:00")).expect("time");
        facts.agreed_contact_hours = LocalWindow::new(t(start), t(end)).ok();
    }

    let history = s
        .calls
        .iter()
        .map(|c| {
            let outcome = if c.conversation {
                Outcome::RightParty
            } else {
                Outcome::NoAnswer
            };
            let mut r = ContactRecord::new(
                borrower.clone(),
                Channel::Call,
                Party::Borrower,
                at - SignedDuration::from_secs(c.secs_before),
                outcome,
            );
            r.loan_id = Some(if c.other_loan { l2.clone() } else { l1.clone() });
            r.target = Some(if c.other_number {
                other_t.clone()
            } else {
                own_t.clone()
            });
            r
        })
        .collect();

    let channel = if s.sms { Channel::Sms } else { Channel::Call };
    let mut proposed = ProposedContact::new(borrower, channel, Party::Borrower, Some(own_t));
    proposed.loan_id = Some(l1);
    if s.sms {
        proposed.message = Some(Message::new(text, language, lender, "7F3K"));
    }
    Built {
        proposed,
        facts,
        history,
        at,
    }
}

fn allowed(b: &Built, t: Timestamp) -> bool {
    check(&b.proposed, &b.facts, &b.history, t, &PACKS).is_allowed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn earliest_allowed_is_the_first_allowed_instant(s in scenario()) {
        let b = build(&s);
        match check(&b.proposed, &b.facts, &b.history, b.at, &PACKS) {
            Decision::Allow(p) => prop_assert_eq!(p.at(), b.at),
            Decision::Deny { rule_ids, earliest_allowed: Some(e) } => {
                prop_assert!(!rule_ids.is_empty());
                prop_assert!(e > b.at, "earliest {} not after {}", e, b.at);
                prop_assert!(allowed(&b, e), "earliest {} is not allowed ({:?})", e, rule_ids);
                let span = e.duration_since(b.at).as_secs();
                let before = e - SignedDuration::from_secs(1);
                if before >= b.at {
                    prop_assert!(!allowed(&b, before), "{} (a second before {}) is allowed", before, e);
                }
                for x in &s.samples {
                    let t = b.at + SignedDuration::from_secs(i64::from(*x) % span.max(1));
                    prop_assert!(!allowed(&b, t), "{} in [{}, {}) is allowed", t, b.at, e);
                }
            }
            Decision::Deny { rule_ids, earliest_allowed: None } => {
                prop_assert!(!rule_ids.is_empty());
                // Within the horizon, waiting does not help.
                for x in &s.samples {
                    let t = b.at + SignedDuration::from_secs(i64::from(*x) % (400 * 86_400));
                    prop_assert!(!allowed(&b, t), "{} is allowed though none was promised ({:?})", t, rule_ids);
                }
            }
        }
    }
}
