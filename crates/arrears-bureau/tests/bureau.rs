//! Bureau reporting: the gates, disputes, corrections, and the Metro 2 file read back record
//! by record with a reader of its own (positions typed from the public layout in
//! docs/bureau.md, not taken from the writer).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

use arrears_bureau::metro2::{Furnisher, write_file};
use arrears_bureau::{
    BorrowerRecords, BureauStatus, DisputeOutcome, Gate, Line, LineKind, LoanSubject, Month,
    Period, PriorLine, derive_loan,
};
use arrears_domain::lifecycle::{CreditDisputeRow, Lifecycle, NoticeRow, SaleRow};
use arrears_domain::{
    BorrowerRow, Bps, Currency, Id, Jurisdiction, Loan, LoanStatus, Minor, TimeZoneName,
};
use arrears_engine::{AccountState, AccountStatus};
use arrears_policy::{BorrowerFacts, Channel, ContactRecord, LoanFacts, Outcome, PackSet, Party};
use jiff::Timestamp;
use jiff::civil::date;

// ---------------------------------------------------------------------------------------
// An independent reader of the 426-byte character format.
// ---------------------------------------------------------------------------------------

/// (field, first position, length), 1-based, from the public Base Segment layout.
const BASE: &[(&str, usize, usize)] = &[
    ("rdw", 1, 4),
    ("processing_indicator", 5, 1),
    ("time_stamp", 6, 14),
    ("correction_indicator", 20, 1),
    ("identification_number", 21, 20),
    ("cycle_identifier", 41, 2),
    ("consumer_account_number", 43, 30),
    ("portfolio_type", 73, 1),
    ("account_type", 74, 2),
    ("date_opened", 76, 8),
    ("credit_limit", 84, 9),
    ("highest_credit", 93, 9),
    ("terms_duration", 102, 3),
    ("terms_frequency", 105, 1),
    ("scheduled_monthly_payment", 106, 9),
    ("actual_payment", 115, 9),
    ("account_status", 124, 2),
    ("payment_rating", 126, 1),
    ("payment_history_profile", 127, 24),
    ("special_comment", 151, 2),
    ("compliance_condition_code", 153, 2),
    ("current_balance", 155, 9),
    ("amount_past_due", 164, 9),
    ("original_charge_off_amount", 173, 9),
    ("date_of_account_information", 182, 8),
    ("date_of_first_delinquency", 190, 8),
    ("date_closed", 198, 8),
    ("date_of_last_payment", 206, 8),
    ("interest_type_indicator", 214, 1),
    ("reserved", 215, 17),
    ("surname", 232, 25),
    ("first_name", 257, 20),
    ("middle_name", 277, 20),
    ("generation_code", 297, 1),
    ("ssn", 298, 9),
    ("date_of_birth", 307, 8),
    ("telephone", 315, 10),
    ("ecoa_code", 325, 1),
    ("consumer_information_indicator", 326, 2),
    ("country_code", 328, 2),
    ("address_1", 330, 32),
    ("address_2", 362, 32),
    ("city", 394, 20),
    ("state", 414, 2),
    ("postal_code", 416, 9),
    ("address_indicator", 425, 1),
    ("residence_code", 426, 1),
];

const HEADER: &[(&str, usize, usize)] = &[
    ("rdw", 1, 4),
    ("record_identifier", 5, 6),
    ("cycle_identifier", 11, 2),
    ("innovis", 13, 10),
    ("equifax", 23, 10),
    ("experian", 33, 5),
    ("transunion", 38, 10),
    ("activity_date", 48, 8),
    ("date_created", 56, 8),
    ("program_date", 64, 8),
    ("program_revision_date", 72, 8),
    ("reporter_name", 80, 40),
    ("reporter_address", 120, 96),
    ("reporter_telephone", 216, 10),
    ("software_vendor", 226, 40),
    ("software_version", 266, 5),
    ("prbc", 271, 10),
    ("reserved", 281, 146),
];

const TRAILER: &[(&str, usize, usize)] = &[
    ("rdw", 1, 4),
    ("record_identifier", 5, 7),
    ("total_base_records", 12, 9),
    ("reserved_1", 21, 9),
    ("status_df", 30, 9),
    ("j1", 39, 9),
    ("j2", 48, 9),
    ("block_count", 57, 9),
    ("status_da", 66, 9),
    ("status_05", 75, 9),
    ("status_11", 84, 9),
    ("status_13", 93, 9),
    ("status_61", 102, 9),
    ("status_62", 111, 9),
    ("status_63", 120, 9),
    ("status_64", 129, 9),
    ("status_65", 138, 9),
    ("status_71", 147, 9),
    ("status_78", 156, 9),
    ("status_80", 165, 9),
    ("status_82", 174, 9),
    ("status_83", 183, 9),
    ("status_84", 192, 9),
    ("status_88", 201, 9),
    ("status_89", 210, 9),
    ("status_93", 219, 9),
    ("status_94", 228, 9),
    ("status_95", 237, 9),
    ("status_96", 246, 9),
    ("status_97", 255, 9),
    ("ecoa_z", 264, 9),
    ("telephone_all", 399, 9),
    ("reserved_2", 408, 19),
];

struct Rec<'a> {
    text: &'a str,
    layout: &'static [(&'static str, usize, usize)],
}

impl Rec<'_> {
    fn get(&self, name: &str) -> &str {
        let (_, pos, len) = self
            .layout
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("no field {name}"));
        &self.text[pos - 1..pos - 1 + len]
    }
}

/// Every layout covers 1..=426 exactly once where it is contiguous (the base and header
/// layouts are; the trailer's listed fields must not overlap).
fn check_layout(layout: &[(&str, usize, usize)], contiguous: bool) {
    let mut next = 1;
    let mut sorted = layout.to_vec();
    sorted.sort_by_key(|f| f.1);
    for (name, pos, len) in sorted {
        if contiguous {
            assert_eq!(pos, next, "{name} starts at {pos}, expected {next}");
        } else {
            assert!(pos >= next, "{name} overlaps");
        }
        next = pos + len;
    }
    if contiguous {
        assert_eq!(next, 427);
    }
}

fn read(file: &str) -> (Vec<Rec<'_>>, Rec<'_>, Rec<'_>) {
    assert!(file.ends_with('\n'));
    let records: Vec<&str> = file
        .strip_suffix('\n')
        .unwrap_or(file)
        .split('\n')
        .collect();
    assert!(records.len() >= 2, "a header and a trailer at least");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.len(), 426, "record {i} is {} bytes", r.len());
        assert!(r.is_ascii(), "record {i} is not ASCII");
        assert_eq!(&r[0..4], "0426", "record {i}: record descriptor word");
    }
    let header = Rec {
        text: records[0],
        layout: HEADER,
    };
    let trailer = Rec {
        text: records[records.len() - 1],
        layout: TRAILER,
    };
    let bases = records[1..records.len() - 1]
        .iter()
        .map(|t| Rec {
            text: t,
            layout: BASE,
        })
        .collect();
    (bases, header, trailer)
}

// ---------------------------------------------------------------------------------------
// Fixtures.
// ---------------------------------------------------------------------------------------

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn borrower(id: &str, jurisdiction: &str, zone: &str, name: &str) -> BorrowerRow {
    BorrowerRow {
        id: Id::parse("borrower_id", id).unwrap(),
        name: name.into(),
        phone: Some("+12125550123".into()),
        email: None,
        timezone: TimeZoneName::parse("timezone", zone).unwrap(),
        jurisdiction: Jurisdiction::parse("jurisdiction", jurisdiction).unwrap(),
        language: None,
        deceased: false,
        bankrupt: false,
        cease_contact: false,
        phone_timezone: None,
        dispute_open: false,
        hardship: false,
        breathing_space_until: None,
        attorney_phone: None,
        attorney_email: None,
    }
}

fn loan(id: &str, currency: &str) -> Loan {
    Loan {
        id: Id::parse("loan_id", id).unwrap(),
        borrower: 0,
        product: "personal".into(),
        currency: Currency::parse("currency", currency).unwrap(),
        principal: Minor::positive("principal", 1_234_567).unwrap(),
        annual_rate: Bps::parse("annual_rate", 1200).unwrap(),
        penalty_rate: Bps::parse("penalty_rate", 0).unwrap(),
        disbursed_on: date(2026, 1, 15),
        status: LoanStatus::Active,
        installments: 0..0,
        payments: 0..0,
    }
}

fn state(status: AccountStatus, dpd: u32) -> AccountState {
    AccountState {
        status,
        dpd,
        bucket: 0,
        stage: 0,
        due_to_date_minor: 500_000,
        paid_minor: 200_000,
        overdue_minor: if dpd > 0 { 300_099 } else { 0 },
        overdue_fee_minor: 0,
        overdue_interest_minor: 10_000,
        overdue_principal_minor: 290_099,
        outstanding_principal_minor: 900_000,
        penalty_accrued_minor: 0,
        penalty_paid_minor: 0,
        penalty_rate_capped: false,
        credit_minor: 0,
        oldest_unpaid_due_date: (dpd > 0)
            .then(|| date(2026, 11, 30) - jiff::Span::new().days(i64::from(dpd))),
        last_payment_date: Some(date(2026, 6, 15)),
    }
}

/// A borrower's world: their row, loan, lifecycle and contact history.
struct World {
    borrower: BorrowerRow,
    loan: Loan,
    lifecycle: Lifecycle,
    history: Vec<ContactRecord>,
    outcomes: Vec<(String, DisputeOutcome)>,
}

impl World {
    fn us() -> World {
        World {
            borrower: borrower("B1", "US-NY", "America/New_York", "Jane Q Public"),
            loan: loan("L1", "USD"),
            lifecycle: Lifecycle::default(),
            history: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    fn cn() -> World {
        World {
            borrower: borrower("B2", "CN-11", "Asia/Shanghai", "王小明"),
            loan: loan("L2", "CNY"),
            lifecycle: Lifecycle::default(),
            history: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    fn gb() -> World {
        World {
            borrower: borrower("B3", "GB", "Europe/London", "Ann Smith"),
            loan: loan("L3", "GBP"),
            lifecycle: Lifecycle::default(),
            history: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    fn notice(mut self, sent_at: &str) -> World {
        self.lifecycle.notices.push(NoticeRow {
            notice_id: "N1".into(),
            borrower_id: self.borrower.id.clone(),
            loan_id: None,
            kind: "credit_reporting".into(),
            sent_at: ts(sent_at),
            channel: "letter".into(),
        });
        self
    }

    fn dispute(mut self, id: &str, opened: &str, resolved: Option<&str>) -> World {
        self.lifecycle.credit_disputes.push(CreditDisputeRow {
            dispute_id: id.into(),
            borrower_id: self.borrower.id.clone(),
            loan_id: Some(self.loan.id.clone()),
            opened_at: ts(opened),
            resolved_at: resolved.map(ts),
        });
        self
    }

    fn outcome(mut self, id: &str, o: DisputeOutcome) -> World {
        self.outcomes.push((id.to_owned(), o));
        self
    }

    fn reached(mut self, at: &str) -> World {
        let mut r = ContactRecord::new(
            self.borrower.id.clone(),
            Channel::Call,
            Party::Borrower,
            ts(at),
            Outcome::RightParty,
        );
        r.loan_id = Some(self.loan.id.clone());
        self.history.push(r);
        self
    }

    fn sold(mut self, at: &str) -> World {
        self.lifecycle.sales.push(SaleRow {
            sale_id: "S1".into(),
            loan_id: self.loan.id.clone(),
            buyer: "Buyer Co".into(),
            sold_at: ts(at),
        });
        self
    }

    fn lines(&self, month: &str, st: &AccountState, prior: &[PriorLine]) -> Vec<Line> {
        let mut facts = BorrowerFacts::from_borrower(&self.borrower);
        facts.apply_lifecycle(
            &self.lifecycle,
            vec![LoanFacts {
                loan_id: self.loan.id.clone(),
                last_payment_at: None,
                first_due_date: Some(date(2026, 2, 15)),
                legal_case: None,
            }],
            &|_, _| 0,
        );
        let period = Period::parse(month).unwrap();
        let zone = self.borrower.timezone.tz().clone();
        let at = (period.last() + jiff::Span::new().days(1))
            .to_zoned(zone.clone())
            .unwrap()
            .timestamp()
            - jiff::SignedDuration::from_nanos(1);
        let packs = PackSet::embedded().unwrap();
        derive_loan(
            &Month {
                period,
                at,
                zone: &zone,
            },
            &LoanSubject {
                loan: &self.loan,
                installments: &[],
                payments: &[],
                borrower: &self.borrower,
                state: st,
            },
            &BorrowerRecords {
                facts: &facts,
                history: &self.history,
                disputes: &self.lifecycle.credit_disputes,
                outcomes: &self.outcomes,
            },
            prior,
            &packs,
        )
    }
}

fn prior_of(lines: &[Line]) -> Vec<PriorLine> {
    lines
        .iter()
        .map(|l| PriorLine {
            period: l.period.clone(),
            kind: l.kind.clone(),
            status: l.status,
            reported: l.gate.is_reported(),
            negative: l.negative(),
            month_char: l.month_char,
            balance_minor: l.balance_minor,
            dispute_id: l.dispute_id.clone(),
        })
        .collect()
}

fn only(lines: Vec<Line>) -> Line {
    assert_eq!(lines.len(), 1, "{lines:#?}");
    lines.into_iter().next().unwrap()
}

fn withheld_by(l: &Line) -> Vec<String> {
    match &l.gate {
        Gate::Reported => Vec::new(),
        Gate::Withheld { rule_ids } => rule_ids.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// The gates.
// ---------------------------------------------------------------------------------------

#[test]
fn gates_follow_the_compliance_engine() {
    // (case, world, dpd, expected status, withheld by)
    let cases: Vec<(&str, World, u32, BureauStatus, &[&str])> = vec![
        (
            "US late, no notice",
            World::us(),
            65,
            BureauStatus::Late60,
            &["US-CREDIT"],
        ),
        (
            "US late, notice 20 days before",
            World::us().notice("2026-11-10T15:00:00Z"),
            65,
            BureauStatus::Late60,
            &[],
        ),
        (
            "US late, notice 5 days before, not reached",
            World::us().notice("2026-11-25T15:00:00Z"),
            65,
            BureauStatus::Late60,
            &["US-CREDIT"],
        ),
        (
            "US late, notice 5 days before, borrower reached after it",
            World::us()
                .notice("2026-11-25T15:00:00Z")
                .reached("2026-11-26T15:00:00Z"),
            95,
            BureauStatus::Late90,
            &[],
        ),
        (
            "US current, no notice",
            World::us(),
            10,
            BureauStatus::Current,
            &[],
        ),
        (
            "CN late, no notice",
            World::cn(),
            31,
            BureauStatus::Late30,
            &["CN-CREDIT"],
        ),
        (
            "CN late, notice the day before",
            World::cn().notice("2026-11-29T02:00:00Z"),
            185,
            BureauStatus::Late180,
            &[],
        ),
        (
            "GB late, no notice (no pack rule: Arrears' floor)",
            World::gb(),
            40,
            BureauStatus::Late30,
            &["BUREAU-NOTICE"],
        ),
        (
            "GB late, notice on record",
            World::gb().notice("2026-11-29T12:00:00Z"),
            40,
            BureauStatus::Late30,
            &[],
        ),
    ];
    for (name, world, dpd, status, rules) in cases {
        let l = only(world.lines("2026-11", &state(AccountStatus::Delinquent, dpd), &[]));
        assert_eq!(l.status, status, "{name}");
        assert_eq!(withheld_by(&l), rules, "{name}");
    }
}

#[test]
fn a_hold_withholds_negative_lines_but_not_current_ones() {
    let mut w = World::us().notice("2026-10-01T15:00:00Z");
    w.borrower.deceased = true;
    let late = only(w.lines("2026-11", &state(AccountStatus::Delinquent, 40), &[]));
    assert_eq!(withheld_by(&late), ["ALL-HOLD-DECEASED"]);
    let current = only(w.lines("2026-11", &state(AccountStatus::Current, 0), &[]));
    assert!(current.gate.is_reported());
}

#[test]
fn terminal_statuses() {
    let w = World::us().notice("2026-10-01T15:00:00Z");
    let co = only(w.lines("2026-11", &state(AccountStatus::WrittenOff, 200), &[]));
    assert_eq!((co.status, co.month_char), (BureauStatus::ChargedOff, 'L'));
    assert!(co.negative() && co.gate.is_reported());
    assert_eq!(co.charge_off_minor, co.balance_minor);

    let mut paid_state = state(AccountStatus::PaidOff, 0);
    paid_state.last_payment_date = Some(date(2026, 11, 3));
    let paid = only(w.lines("2026-11", &paid_state, &[]));
    assert_eq!((paid.status, paid.balance_minor), (BureauStatus::Paid, 0));
    // Reported once: not again the next month.
    assert!(
        w.lines("2026-12", &paid_state, &prior_of(&[paid]))
            .is_empty()
    );

    let sold_world = World::us()
        .notice("2026-10-01T15:00:00Z")
        .sold("2026-11-20T15:00:00Z");
    let sold = only(sold_world.lines("2026-11", &state(AccountStatus::Current, 0), &[]));
    assert_eq!(
        (sold.status, sold.special_comment, sold.rating),
        (BureauStatus::Sold, Some("AH"), Some('0'))
    );
    // Sold while late is negative: the sale's own rule (ALL-SOLD) holds the report back.
    let sold_late = only(sold_world.lines("2026-11", &state(AccountStatus::Delinquent, 70), &[]));
    assert!(sold_late.negative());
    assert!(withheld_by(&sold_late).contains(&"ALL-SOLD".to_owned()));
}

#[test]
fn a_loan_not_yet_opened_is_not_reported() {
    assert!(
        World::us()
            .lines("2025-12", &state(AccountStatus::Current, 0), &[])
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Disputes and corrections.
// ---------------------------------------------------------------------------------------

#[test]
fn an_open_credit_dispute_is_never_reported_negative() {
    let statuses = [
        (AccountStatus::Current, 0),
        (AccountStatus::Delinquent, 30),
        (AccountStatus::Delinquent, 61),
        (AccountStatus::Delinquent, 95),
        (AccountStatus::Delinquent, 130),
        (AccountStatus::Delinquent, 160),
        (AccountStatus::Delinquent, 400),
        (AccountStatus::WrittenOff, 200),
    ];
    for notice in [None, Some("2026-09-01T15:00:00Z")] {
        for world in [World::us(), World::cn()] {
            let mut w = world.dispute("D1", "2026-11-02T10:00:00Z", None);
            if let Some(n) = notice {
                w = w.notice(n);
            }
            for (s, dpd) in statuses {
                let l = only(w.lines("2026-11", &state(s, dpd), &[]));
                assert_eq!(l.status, BureauStatus::Disputed, "{s:?} {dpd}");
                assert!(!l.negative());
                assert!(l.gate.is_reported());
                assert_eq!(l.compliance, Some("XB"));
                assert_eq!((l.past_due_minor, l.first_delinquency), (0, None));
                assert_eq!(l.month_char, 'D');
                if w.borrower.jurisdiction.country() == "US" {
                    let file = write_file(
                        &[l],
                        &Furnisher::default(),
                        date(2026, 11, 30),
                        ts("2026-12-01T08:00:00Z"),
                        &|_| None,
                    )
                    .unwrap();
                    let (bases, _, _) = read(&file.text);
                    assert_eq!(bases[0].get("account_status"), "11");
                    assert_eq!(bases[0].get("compliance_condition_code"), "XB");
                    assert_eq!(bases[0].get("amount_past_due"), "000000000");
                    assert_eq!(bases[0].get("payment_rating"), " ");
                }
            }
        }
    }
}

#[test]
fn a_dispute_resolved_in_the_borrowers_favour_is_corrected_in_the_next_file() {
    let base = World::us().notice("2026-08-01T15:00:00Z");
    let sep = only(base.lines("2026-09", &state(AccountStatus::Delinquent, 45), &[]));
    assert!(sep.negative() && sep.gate.is_reported());
    let prior = prior_of(&[sep]);
    let late = state(AccountStatus::Delinquent, 75);

    // Opened in October, resolved in November in the borrower's favour.
    let w = base
        .dispute("D1", "2026-10-05T15:00:00Z", Some("2026-11-20T15:00:00Z"))
        .outcome("D1", DisputeOutcome::Borrower);
    let oct = only(w.lines("2026-10", &late, &prior));
    assert_eq!(oct.status, BureauStatus::Disputed);
    let mut prior = prior;
    prior.extend(prior_of(&[oct]));
    let nov = w.lines("2026-11", &late, &prior);
    assert_eq!(nov.len(), 2, "{nov:#?}");
    let (fix, own) = (&nov[0], &nov[1]);
    assert_eq!(
        fix.kind,
        LineKind::Correction {
            of: "2026-09".into()
        }
    );
    assert_eq!(
        (fix.status, fix.compliance),
        (BureauStatus::Current, Some("XH"))
    );
    assert_eq!(fix.as_of, date(2026, 9, 30));
    assert_eq!(fix.dispute_id.as_deref(), Some("D1"));
    assert_eq!(own.compliance, Some("XH"));

    let file = write_file(
        &nov,
        &Furnisher::default(),
        date(2026, 11, 30),
        ts("2026-12-01T08:00:00Z"),
        &|_| None,
    )
    .unwrap();
    let (bases, _, _) = read(&file.text);
    assert_eq!(bases[0].get("correction_indicator"), "1");
    assert_eq!(bases[0].get("account_status"), "11");
    assert_eq!(bases[0].get("date_of_account_information"), "09302026");
    assert_eq!(bases[1].get("correction_indicator"), "0");

    // Once: the December file does not correct September again.
    prior.extend(prior_of(&nov));
    let dec = w.lines("2026-12", &late, &prior);
    assert!(dec.iter().all(|l| l.kind == LineKind::Regular), "{dec:#?}");
    // The history now shows September as corrected (0), not late (1): November (60 days
    // late, 2), October (disputed, no history: D), September.
    assert_eq!(&dec[0].history[..3], "2D0", "{}", dec[0].history);

    // Resolved for the lender, or without an outcome: nothing is corrected.
    for w in [
        World::us()
            .notice("2026-08-01T15:00:00Z")
            .dispute("D1", "2026-10-05T15:00:00Z", Some("2026-11-20T15:00:00Z"))
            .outcome("D1", DisputeOutcome::Lender),
        World::us().notice("2026-08-01T15:00:00Z").dispute(
            "D1",
            "2026-10-05T15:00:00Z",
            Some("2026-11-20T15:00:00Z"),
        ),
    ] {
        let nov = w.lines("2026-11", &late, &prior_of(&prior_lines_sep()));
        assert!(nov.iter().all(|l| l.kind == LineKind::Regular));
    }
}

fn prior_lines_sep() -> Vec<Line> {
    World::us().notice("2026-08-01T15:00:00Z").lines(
        "2026-09",
        &state(AccountStatus::Delinquent, 45),
        &[],
    )
}

// ---------------------------------------------------------------------------------------
// The file, read back.
// ---------------------------------------------------------------------------------------

#[test]
fn layouts_are_contiguous() {
    check_layout(BASE, true);
    check_layout(HEADER, true);
    check_layout(TRAILER, false);
}

#[test]
fn the_metro2_file_reads_back_record_by_record() {
    let w = World::us().notice("2026-10-01T15:00:00Z");
    // (dpd or terminal, expected status code, payment-history first char)
    let cases: Vec<(AccountState, &str, &str)> = vec![
        (state(AccountStatus::Current, 0), "11", "0"),
        (state(AccountStatus::Delinquent, 35), "71", "1"),
        (state(AccountStatus::Delinquent, 65), "78", "2"),
        (state(AccountStatus::Delinquent, 95), "80", "3"),
        (state(AccountStatus::Delinquent, 125), "82", "4"),
        (state(AccountStatus::Delinquent, 155), "83", "5"),
        (state(AccountStatus::Delinquent, 185), "84", "6"),
        (state(AccountStatus::WrittenOff, 200), "97", "L"),
    ];
    let mut lines = Vec::new();
    for (st, _, php) in &cases {
        let l = only(w.lines("2026-11", st, &[]));
        assert_eq!(l.month_char.to_string(), *php);
        lines.push(l);
    }
    // A CN line is left out of the Metro 2 file.
    lines.extend(World::cn().lines("2026-11", &state(AccountStatus::Current, 0), &[]));
    let furnisher = Furnisher {
        id: "FURN0001".into(),
        name: "Acme Lending".into(),
        address: "1 Main St, New York NY 10001".into(),
        phone: "2125550100".into(),
    };
    let file = write_file(
        &lines,
        &furnisher,
        date(2026, 11, 30),
        ts("2026-12-01T08:09:10Z"),
        &|_| Some("+1 (212) 555-0123".into()),
    )
    .unwrap();
    assert_eq!(file.left_out.len(), 1);
    let (bases, header, trailer) = read(&file.text);

    assert_eq!(header.get("record_identifier"), "HEADER");
    assert_eq!(header.get("activity_date"), "11302026");
    assert_eq!(header.get("date_created"), "12012026");
    assert_eq!(header.get("reporter_name").trim_end(), "ACME LENDING");
    assert_eq!(header.get("reporter_telephone"), "2125550100");

    assert_eq!(bases.len(), cases.len());
    for (b, (_, code, _)) in bases.iter().zip(&cases) {
        assert_eq!(b.get("processing_indicator"), "1");
        assert_eq!(b.get("time_stamp"), "12012026080910");
        assert_eq!(b.get("correction_indicator"), "0");
        assert_eq!(b.get("identification_number").trim_end(), "FURN0001");
        assert_eq!(b.get("consumer_account_number").trim_end(), "L1");
        assert_eq!(b.get("portfolio_type"), "I");
        assert_eq!(b.get("date_opened"), "01152026");
        // 12,345.67 USD: whole dollars, cents truncated.
        assert_eq!(b.get("highest_credit"), "000012345");
        assert_eq!(b.get("account_status"), *code);
        assert_eq!(b.get("payment_rating"), " ");
        // The 24 months before November 2026, the latest first: nothing was reported for
        // October back to January (D); December 2025 and before are before the account (B).
        let profile = b.get("payment_history_profile");
        assert_eq!(&profile[..10], "DDDDDDDDDD", "{profile}");
        assert!(profile[10..].chars().all(|c| c == 'B'), "{profile}");
        assert_eq!(b.get("compliance_condition_code"), "  ");
        // 9,000 principal + 100 interest = 9,100.
        assert_eq!(b.get("current_balance"), "000009100");
        assert_eq!(b.get("date_of_account_information"), "11302026");
        assert_eq!(b.get("date_of_last_payment"), "06152026");
        assert_eq!(b.get("surname").trim_end(), "PUBLIC");
        assert_eq!(b.get("first_name").trim_end(), "JANE");
        assert_eq!(b.get("middle_name").trim_end(), "Q");
        assert_eq!(b.get("ssn"), "000000000");
        assert_eq!(b.get("date_of_birth"), "00000000");
        assert_eq!(b.get("telephone"), "2125550123");
        assert_eq!(b.get("ecoa_code"), "1");
        assert_eq!(b.get("country_code"), "US");
        let negative = *code != "11";
        if negative {
            // 3,000.99 past due.
            assert_eq!(b.get("amount_past_due"), "000003000");
            assert_ne!(b.get("date_of_first_delinquency"), "00000000");
        } else {
            assert_eq!(b.get("amount_past_due"), "000000000");
            assert_eq!(b.get("date_of_first_delinquency"), "00000000");
        }
        if *code == "97" {
            assert_eq!(b.get("original_charge_off_amount"), "000009100");
        } else {
            assert_eq!(b.get("original_charge_off_amount"), "000000000");
        }
    }

    assert_eq!(trailer.get("record_identifier"), "TRAILER");
    assert_eq!(trailer.get("total_base_records"), "000000008");
    for code in ["11", "71", "78", "80", "82", "83", "84", "97"] {
        assert_eq!(
            trailer.get(&format!("status_{code}")),
            "000000001",
            "{code}"
        );
    }
    assert_eq!(trailer.get("status_13"), "000000000");
    assert_eq!(trailer.get("telephone_all"), "000000008");
}

#[test]
fn an_account_number_metro2_cannot_carry_is_left_out_with_the_reason() {
    let mut w = World::us();
    w.loan.id = Id::parse("loan_id", &"X".repeat(31)).unwrap();
    let lines = w.lines("2026-11", &state(AccountStatus::Current, 0), &[]);
    let file = write_file(
        &lines,
        &Furnisher::default(),
        date(2026, 11, 30),
        ts("2026-12-01T08:00:00Z"),
        &|_| None,
    )
    .unwrap();
    assert_eq!(file.base_records, 0);
    assert!(
        file.left_out[0].1.contains("1 to 30"),
        "{:?}",
        file.left_out
    );
}

#[test]
fn the_csv_lists_reported_lines_with_its_documented_columns() {
    let w = World::cn().notice("2026-10-01T02:00:00Z");
    let mut lines = w.lines("2026-11", &state(AccountStatus::Delinquent, 40), &[]);
    lines.extend(World::cn().lines("2026-11", &state(AccountStatus::Delinquent, 40), &[]));
    let text = arrears_bureau::cn_csv::write(&lines);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows.len(),
        2,
        "the withheld line is not in the file: {text}"
    );
    let head: Vec<&str> = rows[0].split(',').collect();
    let row: Vec<&str> = rows[1].split(',').collect();
    let cell = |name: &str| row[head.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("status"), "late_30");
    assert_eq!(cell("record_type"), "regular");
    assert_eq!(cell("borrower_name"), "王小明");
    assert_eq!(cell("past_due_minor"), "300099");
    assert_eq!(cell("as_of"), "2026-11-30");
    assert_eq!(cell("history_24").len(), 24);
}

#[test]
fn bad_months_are_refused_with_the_reason() {
    for bad in [
        "2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "abcd-ef",
    ] {
        let e = Period::parse(bad).unwrap_err();
        assert!(e.to_string().contains("YYYY-MM"), "{bad}: {e}");
    }
    let p = Period::parse("2024-02").unwrap();
    assert_eq!(p.last(), date(2024, 2, 29));
}
