//! Test-data shapes: TOML tables that become the engine's typed inputs. Kept in the tests so
//! the library's input types need no serde and `PermittedContact` stays unforgeable.

use arrears_domain::lifecycle::PlanInstallment;
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{Jurisdiction, TimeZoneName};
use arrears_policy::{
    Binding, BorrowerFacts, Channel, ContactPerson, ContactRecord, CreditDisputeFact, CreditNotice,
    FeeProposal, Language, LegalStatus, LoanFacts, LocalWindow, Message, NoticeFact, NoticeKind,
    Outcome, Party, PersonSource, PlacementFact, PlanFact, PlanState, PreferenceFact,
    ProposedContact, Purpose, SaleFact, Target, VisitPlan, parse_local_time,
};
use jiff::Timestamp;
use serde::Deserialize;

pub type Res<T> = Result<T, String>;

pub fn ts(s: &str) -> Res<Timestamp> {
    s.parse::<Timestamp>().map_err(|e| format!("{s:?}: {e}"))
}

fn target(s: &str) -> Res<Target> {
    Target::parse(s).map_err(|e| e.to_string())
}

fn targets(v: &[String]) -> Res<Vec<Target>> {
    v.iter().map(|s| target(s)).collect()
}

fn zone(s: &Option<String>) -> Res<Option<TimeZoneName>> {
    s.as_deref()
        .map(|z| TimeZoneName::parse("timezone", z).map_err(|e| e.detail))
        .transpose()
}

pub fn borrower_id(s: &str) -> Res<BorrowerId> {
    BorrowerId::parse("borrower_id", s).map_err(|e| e.detail)
}

fn loan_id(s: &Option<String>) -> Res<Option<LoanId>> {
    s.as_deref()
        .map(|l| LoanId::parse("loan_id", l).map_err(|e| e.detail))
        .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsDto {
    borrower_id: String,
    jurisdiction: String,
    timezone: Option<String>,
    phone_timezone: Option<String>,
    #[serde(default)]
    own_targets: Vec<String>,
    #[serde(default)]
    deceased: bool,
    #[serde(default)]
    bankrupt: bool,
    #[serde(default)]
    dispute_open: bool,
    #[serde(default)]
    cease_contact: bool,
    #[serde(default)]
    hardship: bool,
    #[serde(default)]
    forbearance_offered: bool,
    breathing_space_until: Option<String>,
    #[serde(default)]
    attorney_targets: Vec<String>,
    #[serde(default)]
    opted_out: Vec<String>,
    agreed_contact_hours: Option<[String; 2]>,
    #[serde(default)]
    contact_persons: Vec<PersonDto>,
    #[serde(default)]
    unreachable: bool,
    initial_communication_at: Option<String>,
    validation_notice_at: Option<String>,
    agency_notice_at: Option<String>,
    credit_notice: Option<CreditNoticeDto>,
    #[serde(default)]
    credit_dispute_open: bool,
    #[serde(default)]
    notices: Vec<NoticeDto>,
    #[serde(default)]
    preferences: Vec<PreferenceDto>,
    #[serde(default)]
    plans: Vec<PlanDto>,
    #[serde(default)]
    placements: Vec<PlacementDto>,
    #[serde(default)]
    sales: Vec<SaleDto>,
    #[serde(default)]
    credit_disputes: Vec<CreditDisputeDto>,
    #[serde(default)]
    loans: Vec<LoanDto>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct NoticeDto {
    kind: String,
    loan_id: Option<String>,
    sent_at: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct PreferenceDto {
    channel: String,
    #[serde(default)]
    opted_out: bool,
    hours: Option<[String; 2]>,
    #[serde(default = "epoch")]
    updated_at: String,
}

fn epoch() -> String {
    "2020-01-01T00:00:00Z".into()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct PlanDto {
    loan_id: String,
    state: String,
    created_at: String,
    state_at: Option<String>,
    /// (due date, amount) per instalment.
    #[serde(default)]
    installments: Vec<(String, i64)>,
    #[serde(default)]
    paid_minor: i64,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct PlacementDto {
    loan_id: String,
    agency_id: String,
    placed_at: String,
    recalled_at: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct SaleDto {
    loan_id: String,
    buyer: String,
    sold_at: String,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct CreditDisputeDto {
    loan_id: Option<String>,
    opened_at: String,
    resolved_at: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct LoanDto {
    loan_id: String,
    last_payment_at: Option<String>,
    first_due_date: Option<String>,
    legal_case: Option<String>,
}

fn req_loan(s: &str) -> Res<LoanId> {
    LoanId::parse("loan_id", s).map_err(|e| e.detail)
}

fn date(s: &str) -> Res<jiff::civil::Date> {
    s.parse::<jiff::civil::Date>().map_err(|e| e.to_string())
}

fn window(h: &[String; 2]) -> Res<LocalWindow> {
    let t = |s: &str| parse_local_time(s).ok_or_else(|| format!("{s:?} is not HH:MM"));
    LocalWindow::new(t(&h[0])?, t(&h[1])?).map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonDto {
    person_id: String,
    phone: Option<String>,
    email: Option<String>,
    source: String,
    #[serde(default)]
    refused: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditNoticeDto {
    sent_at: String,
    #[serde(default)]
    bounced: bool,
}

impl FactsDto {
    pub fn build(&self) -> Res<BorrowerFacts> {
        let j = Jurisdiction::parse("jurisdiction", &self.jurisdiction).map_err(|e| e.detail)?;
        let mut f = BorrowerFacts::new(borrower_id(&self.borrower_id)?, j);
        f.timezone = zone(&self.timezone)?;
        f.phone_timezone = zone(&self.phone_timezone)?;
        f.own_targets = targets(&self.own_targets)?;
        f.deceased = self.deceased;
        f.bankrupt = self.bankrupt;
        f.dispute_open = self.dispute_open;
        f.cease_contact = self.cease_contact;
        f.hardship = self.hardship;
        f.forbearance_offered = self.forbearance_offered;
        f.breathing_space_until = self
            .breathing_space_until
            .as_deref()
            .map(|d| d.parse::<jiff::civil::Date>().map_err(|e| e.to_string()))
            .transpose()?;
        f.attorney_targets = targets(&self.attorney_targets)?;
        f.opted_out = targets(&self.opted_out)?;
        f.agreed_contact_hours = match &self.agreed_contact_hours {
            Some([a, b]) => {
                let t = |s: &str| parse_local_time(s).ok_or_else(|| format!("{s:?} is not HH:MM"));
                Some(LocalWindow::new(t(a)?, t(b)?).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        for p in &self.contact_persons {
            let source = PersonSource::parse(&p.source).map_err(|e| e.to_string())?;
            let mut person = ContactPerson::new(p.person_id.clone(), source);
            person.phone = p.phone.as_deref().map(target).transpose()?;
            person.email = p.email.as_deref().map(target).transpose()?;
            person.refused = p.refused;
            f.contact_persons.push(person);
        }
        f.unreachable = self.unreachable;
        f.initial_communication_at = self
            .initial_communication_at
            .as_deref()
            .map(ts)
            .transpose()?;
        f.validation_notice_at = self.validation_notice_at.as_deref().map(ts).transpose()?;
        f.agency_notice_at = self.agency_notice_at.as_deref().map(ts).transpose()?;
        f.credit_notice = match &self.credit_notice {
            Some(n) => Some(CreditNotice {
                sent_at: ts(&n.sent_at)?,
                bounced: n.bounced,
            }),
            None => None,
        };
        f.credit_dispute_open = self.credit_dispute_open;
        for n in &self.notices {
            f.notices.push(NoticeFact {
                kind: NoticeKind::parse(&n.kind).map_err(|e| e.to_string())?,
                loan_id: loan_id(&n.loan_id)?,
                sent_at: ts(&n.sent_at)?,
            });
        }
        for p in &self.preferences {
            f.preferences.push(PreferenceFact {
                channel: Channel::parse(&p.channel).map_err(|e| e.to_string())?,
                opted_out: p.opted_out,
                window: p.hours.as_ref().map(window).transpose()?,
                updated_at: ts(&p.updated_at)?,
            });
        }
        for p in &self.plans {
            f.plans.push(PlanFact {
                loan_id: req_loan(&p.loan_id)?,
                state: PlanState::parse(&p.state).ok_or_else(|| format!("state {:?}", p.state))?,
                created_at: ts(&p.created_at)?,
                state_at: p.state_at.as_deref().map(ts).transpose()?,
                installments: p
                    .installments
                    .iter()
                    .enumerate()
                    .map(|(i, (d, a))| {
                        Ok(PlanInstallment {
                            seq: u32::try_from(i + 1).map_err(|e| e.to_string())?,
                            due_date: date(d)?,
                            amount_minor: *a,
                        })
                    })
                    .collect::<Res<Vec<_>>>()?,
                paid_minor: p.paid_minor,
            });
        }
        for p in &self.placements {
            f.placements.push(PlacementFact {
                loan_id: req_loan(&p.loan_id)?,
                agency_id: p.agency_id.clone(),
                placed_at: ts(&p.placed_at)?,
                recalled_at: p.recalled_at.as_deref().map(ts).transpose()?,
            });
        }
        for x in &self.sales {
            f.sales.push(SaleFact {
                loan_id: req_loan(&x.loan_id)?,
                buyer: x.buyer.clone(),
                sold_at: ts(&x.sold_at)?,
            });
        }
        for d in &self.credit_disputes {
            f.credit_disputes.push(CreditDisputeFact {
                loan_id: loan_id(&d.loan_id)?,
                opened_at: ts(&d.opened_at)?,
                resolved_at: d.resolved_at.as_deref().map(ts).transpose()?,
            });
        }
        for l in &self.loans {
            f.loans.push(LoanFacts {
                loan_id: req_loan(&l.loan_id)?,
                last_payment_at: l.last_payment_at.as_deref().map(ts).transpose()?,
                first_due_date: l.first_due_date.as_deref().map(date).transpose()?,
                legal_case: l
                    .legal_case
                    .as_deref()
                    .map(|s| LegalStatus::parse(s).map_err(|e| e.to_string()))
                    .transpose()?,
            });
        }
        Ok(f)
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RecordDto {
    borrower_id: Option<String>,
    loan_id: Option<String>,
    channel: String,
    target: Option<String>,
    #[serde(default = "borrower_party")]
    party: String,
    agency_id: Option<String>,
    at: String,
    outcome: String,
    #[serde(default)]
    inbound: bool,
}

fn borrower_party() -> String {
    "borrower".into()
}

impl RecordDto {
    pub fn build(&self, default_borrower: &str) -> Res<ContactRecord> {
        let b = borrower_id(self.borrower_id.as_deref().unwrap_or(default_borrower))?;
        let channel = Channel::parse(&self.channel).map_err(|e| e.to_string())?;
        let party = Party::parse(&self.party).map_err(|e| e.to_string())?;
        let outcome = Outcome::parse(&self.outcome).map_err(|e| e.to_string())?;
        let mut r = ContactRecord::new(b, channel, party, ts(&self.at)?, outcome);
        r.loan_id = loan_id(&self.loan_id)?;
        r.target = self.target.as_deref().map(target).transpose()?;
        r.agency_id = self.agency_id.clone();
        r.inbound = self.inbound;
        Ok(r)
    }
}

/// `count` records like `record`, the first at `record.at`, then every `step_minutes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesDto {
    count: u32,
    step_minutes: i64,
    borrower_id: Option<String>,
    loan_id: Option<String>,
    channel: String,
    target: Option<String>,
    #[serde(default = "borrower_party")]
    party: String,
    agency_id: Option<String>,
    start: String,
    outcome: String,
}

impl SeriesDto {
    pub fn build(&self, default_borrower: &str) -> Res<Vec<ContactRecord>> {
        let start = ts(&self.start)?;
        (0..self.count)
            .map(|i| {
                let at = start + jiff::SignedDuration::from_mins(self.step_minutes * i64::from(i));
                RecordDto {
                    borrower_id: self.borrower_id.clone(),
                    loan_id: self.loan_id.clone(),
                    channel: self.channel.clone(),
                    target: self.target.clone(),
                    party: self.party.clone(),
                    agency_id: self.agency_id.clone(),
                    at: at.to_string(),
                    outcome: self.outcome.clone(),
                    inbound: false,
                }
                .build(default_borrower)
            })
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposedDto {
    borrower_id: Option<String>,
    channel: String,
    #[serde(default = "borrower_party")]
    party: String,
    target: Option<String>,
    loan_id: Option<String>,
    person_id: Option<String>,
    purpose: Option<String>,
    agency_id: Option<String>,
    #[serde(default)]
    time_barred: bool,
    visit: Option<VisitDto>,
    fee: Option<FeeDto>,
    message: Option<MessageDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VisitDto {
    staff: u32,
    recorded: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "snake_case")]
enum FeeDto {
    CollectionFee {
        amount_minor: i64,
        contract_allows: bool,
    },
    PenaltyRate {
        annual_rate_bps: u32,
        penalty_rate_bps: u32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageDto {
    pub text: String,
    pub language: String,
    pub lender_name: String,
    pub agency_name: Option<String>,
    pub verification_code: String,
    #[serde(default)]
    pub voicemail: bool,
    pub legal_case_status: Option<String>,
    #[serde(default)]
    pub visit_scheduled: bool,
}

impl ProposedDto {
    pub fn build(&self, default_borrower: &str) -> Res<ProposedContact> {
        let b = borrower_id(self.borrower_id.as_deref().unwrap_or(default_borrower))?;
        let channel = Channel::parse(&self.channel).map_err(|e| e.to_string())?;
        let party = Party::parse(&self.party).map_err(|e| e.to_string())?;
        let mut p = ProposedContact::new(
            b,
            channel,
            party,
            self.target.as_deref().map(target).transpose()?,
        );
        p.loan_id = loan_id(&self.loan_id)?;
        p.person_id = self.person_id.clone();
        if let Some(purpose) = &self.purpose {
            p.purpose = Purpose::parse(purpose).map_err(|e| e.to_string())?;
        }
        p.agency_id = self.agency_id.clone();
        p.time_barred = self.time_barred;
        p.visit = self.visit.as_ref().map(|v| VisitPlan {
            staff_count: v.staff,
            recorded: v.recorded,
        });
        p.fee = self.fee.as_ref().map(|f| match *f {
            FeeDto::CollectionFee {
                amount_minor,
                contract_allows,
            } => FeeProposal::CollectionFee {
                amount_minor,
                contract_allows,
            },
            FeeDto::PenaltyRate {
                annual_rate_bps,
                penalty_rate_bps,
            } => FeeProposal::PenaltyRate {
                annual_rate_bps,
                penalty_rate_bps,
            },
        });
        if let Some(m) = &self.message {
            p.message = Some(m.build()?);
        }
        Ok(p)
    }
}

impl MessageDto {
    pub fn build(&self) -> Res<Message> {
        let language = Language::parse(&self.language).map_err(|e| e.to_string())?;
        let mut m = Message::new(
            self.text.clone(),
            language,
            self.lender_name.clone(),
            self.verification_code.clone(),
        );
        m.agency_name = self.agency_name.clone();
        m.voicemail = self.voicemail;
        m.binding = Binding {
            legal_case_status: self
                .legal_case_status
                .as_deref()
                .map(|s| LegalStatus::parse(s).map_err(|e| e.to_string()))
                .transpose()?,
            visit_scheduled: self.visit_scheduled,
        };
        Ok(m)
    }
}

/// `base` with the keys of `over` replacing its own (one level deep).
pub fn overlay(base: &toml::Table, over: &toml::Table) -> toml::Table {
    let mut t = base.clone();
    for (k, v) in over {
        t.insert(k.clone(), v.clone());
    }
    t
}

pub fn from_table<T: serde::de::DeserializeOwned>(t: toml::Table) -> Res<T> {
    toml::Value::Table(t)
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string())
}
