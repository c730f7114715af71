//! Builds planner inputs from a small description (borrowers, loans with their daily-run
//! state, contacts), as a case file or a property test writes them.

use arrears_domain::portfolio::{Borrower, ContactRow, Installment, Loan, LoanStatus};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Bands, Bps, Currency, Jurisdiction, Minor, Portfolio, TimeZoneName};
use arrears_engine::{AccountState, AccountStatus};
use arrears_policy::PackSet;
use arrears_strategy::{
    BorrowerInput, CodeIssuer, CodeRequest, LoanExtras, Plan, PlanInput, PromiseStatus, Strategy,
    borrower_inputs,
};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BorrowerSpec {
    pub id: String,
    #[serde(default = "default_name")]
    pub name: String,
    pub jurisdiction: String,
    pub timezone: String,
    pub phone_timezone: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub deceased: bool,
    #[serde(default)]
    pub bankrupt: bool,
    #[serde(default)]
    pub cease_contact: bool,
    #[serde(default)]
    pub dispute_open: bool,
    #[serde(default)]
    pub hardship: bool,
    pub breathing_space_until: Option<Date>,
    pub attorney_phone: Option<String>,
    pub attorney_email: Option<String>,
}

fn default_name() -> String {
    "Jane Doe".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanSpec {
    pub id: String,
    pub borrower: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default = "default_product")]
    pub product: String,
    pub dpd: u32,
    pub overdue_minor: i64,
    pub oldest_unpaid_due_date: Option<Date>,
    /// Installments not yet due: (due date, amount); paid so far is 0.
    #[serde(default)]
    pub upcoming: Vec<(Date, i64)>,
    #[serde(default)]
    pub promise: Option<String>,
}

fn default_currency() -> String {
    "USD".into()
}
fn default_product() -> String {
    "cash-loan-12m".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    pub borrower: String,
    pub loan: Option<String>,
    pub channel: String,
    pub at: Timestamp,
    pub outcome: String,
    pub target: Option<String>,
    pub party: Option<String>,
}

/// A stand-in for the signing key: a code from the request, or none at all.
pub struct Codes(pub bool);

impl CodeIssuer for Codes {
    fn code(&self, r: &CodeRequest<'_>) -> Option<String> {
        self.0.then(|| {
            let h = arrears_strategy::fnv1a64(
                format!(
                    "{}|{}|{}|{}",
                    r.borrower_id, r.loan_id, r.channel, r.sequence
                )
                .as_bytes(),
            );
            let s = format!("{:010X}", h % 0xFF_FFFF_FFFF);
            format!("{}-{}", &s[..5], &s[5..10])
        })
    }
}

pub struct World {
    pub as_of: Date,
    pub portfolio: Portfolio,
    pub states: Vec<AccountState>,
    pub borrowers: Vec<BorrowerInput>,
    pub promises: Vec<PromiseStatus>,
    pub extras: Vec<LoanExtras>,
    pub stages: Bands,
    pub buckets: Bands,
    pub packs: PackSet,
    pub strategy: Strategy,
}

pub fn world(
    as_of: Date,
    borrowers: &[BorrowerSpec],
    loans: &[LoanSpec],
    contacts: &[ContactSpec],
    strategy: Strategy,
) -> World {
    let stages = Bands::default_stages();
    let buckets = Bands::default_buckets();
    let mut p = Portfolio::default();
    for b in borrowers {
        p.borrowers.push(Borrower {
            id: BorrowerId::parse("b", &b.id).unwrap(),
            name: b.name.clone().into(),
            phone: b.phone.clone().map(Into::into),
            email: b.email.clone().map(Into::into),
            timezone: TimeZoneName::parse("tz", &b.timezone).unwrap(),
            jurisdiction: Jurisdiction::parse("j", &b.jurisdiction).unwrap(),
            language: b.language.clone().map(Into::into),
            deceased: b.deceased,
            bankrupt: b.bankrupt,
            cease_contact: b.cease_contact,
            phone_timezone: b
                .phone_timezone
                .as_deref()
                .map(|z| TimeZoneName::parse("tz", z).unwrap()),
            dispute_open: b.dispute_open,
            hardship: b.hardship,
            breathing_space_until: b.breathing_space_until,
            attorney_phone: b.attorney_phone.clone().map(Into::into),
            attorney_email: b.attorney_email.clone().map(Into::into),
        });
    }
    let bix = |id: &str| {
        p.borrowers
            .iter()
            .position(|b| b.id.as_str() == id)
            .unwrap() as u32
    };
    let mut states = Vec::new();
    let mut promises = Vec::new();
    for l in loans {
        let start = p.installments.len() as u32;
        // The oldest unpaid instalment, so the loan's first due date is on record (US-TIMEBAR
        // runs from it); the account state is given, not computed from the schedule.
        let past: Vec<(Date, i64)> = l
            .oldest_unpaid_due_date
            .map(|d| (d, l.overdue_minor.max(1)))
            .into_iter()
            .collect();
        for (i, (due, amount)) in past.iter().chain(l.upcoming.iter()).enumerate() {
            p.installments.push(Installment {
                seq: i as u32 + 1,
                due_date: *due,
                principal: Minor::non_negative("p", *amount).unwrap(),
                interest: Minor::non_negative("i", 0).unwrap(),
                fee: Minor::non_negative("f", 0).unwrap(),
            });
        }
        let end = p.installments.len() as u32;
        let borrower = bix(&l.borrower);
        p.loans.push(Loan {
            id: LoanId::parse("l", &l.id).unwrap(),
            borrower,
            product: l.product.clone().into(),
            currency: Currency::parse("c", &l.currency).unwrap(),
            principal: Minor::positive("p", 100_000).unwrap(),
            annual_rate: Bps::parse("r", 1000).unwrap(),
            penalty_rate: Bps::parse("r", 0).unwrap(),
            disbursed_on: as_of.checked_sub(jiff::Span::new().days(400)).unwrap(),
            status: LoanStatus::Active,
            installments: start..end,
            payments: 0..0,
        });
        states.push(AccountState {
            status: if l.dpd > 0 {
                AccountStatus::Delinquent
            } else {
                AccountStatus::Current
            },
            dpd: l.dpd,
            bucket: buckets.index_of(l.dpd) as u16,
            stage: stages.index_of(l.dpd) as u16,
            due_to_date_minor: l.overdue_minor,
            paid_minor: 0,
            overdue_minor: l.overdue_minor,
            overdue_fee_minor: 0,
            overdue_interest_minor: 0,
            overdue_principal_minor: l.overdue_minor,
            outstanding_principal_minor: l.overdue_minor,
            penalty_accrued_minor: 0,
            penalty_paid_minor: 0,
            penalty_rate_capped: false,
            credit_minor: 0,
            oldest_unpaid_due_date: l.oldest_unpaid_due_date,
            last_payment_date: None,
        });
        promises.push(
            l.promise
                .as_deref()
                .and_then(PromiseStatus::parse)
                .unwrap_or(PromiseStatus::None),
        );
    }
    for (i, c) in contacts.iter().enumerate() {
        p.contacts.push(ContactRow {
            id: format!("C{i}").into(),
            borrower: bix(&c.borrower),
            loan: c
                .loan
                .as_deref()
                .map(|l| p.loans.iter().position(|x| x.id.as_str() == l).unwrap() as u32),
            channel: c.channel.clone().into(),
            direction: "outbound".into(),
            at: c.at,
            outcome: c.outcome.clone().into(),
            target: c.target.clone().map(Into::into),
            party: c.party.clone().map(Into::into),
            agency_id: None,
        });
    }
    let inputs = borrower_inputs(&p, &arrears_domain::Lifecycle::default());
    let extras = arrears_strategy::loan_extras(&p, &inputs);
    World {
        as_of,
        portfolio: p,
        states,
        borrowers: inputs,
        promises,
        extras,
        stages,
        buckets,
        packs: PackSet::embedded().unwrap(),
        strategy,
    }
}

impl World {
    /// The world with lifecycle records (notices, plans, placements…) applied to the
    /// borrowers' facts, and the packs tightened by `policy`.
    pub fn with_lifecycle(
        mut self,
        lifecycle: &arrears_domain::Lifecycle,
        policy: Option<&str>,
    ) -> World {
        self.borrowers = borrower_inputs(&self.portfolio, lifecycle);
        self.extras = arrears_strategy::loan_extras(&self.portfolio, &self.borrowers);
        if let Some(text) = policy {
            let policy = arrears_policy::Policy::parse(text).unwrap();
            self.packs = self.packs.tighten(&policy).unwrap();
        }
        self
    }

    pub fn input(&self) -> PlanInput<'_> {
        PlanInput {
            as_of: self.as_of,
            portfolio: &self.portfolio,
            states: &self.states,
            stages: &self.stages,
            buckets: &self.buckets,
            borrowers: &self.borrowers,
            extras: &self.extras,
            promises: &self.promises,
            prior_actions: &[],
            strategy: &self.strategy,
            packs: &self.packs,
            first_sequence: 0,
        }
    }

    pub fn plan(&self, with_codes: bool) -> Plan {
        arrears_strategy::plan(&self.input(), &Codes(with_codes))
    }
}
