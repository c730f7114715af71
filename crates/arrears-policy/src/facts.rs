//! The engine's inputs: the contact or escalation proposed, what is known about the borrower,
//! and the contact history. All are plain data built at the edge from typed values; the
//! structs are `#[non_exhaustive]`, so they are built with `new` and then have their public
//! fields set, and adding a fact later breaks no caller.

use crate::content::Binding;
use crate::model::{
    Channel, Language, LegalStatus, LocalWindow, NoticeKind, Outcome, Party, PersonSource, Purpose,
    Target,
};
use arrears_domain::lifecycle::{Lifecycle, PlanInstallment};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{BorrowerRow, ContactRow, Jurisdiction, TimeZoneName};
use jiff::Timestamp;
use jiff::civil::Date;

/// The rendered text a written contact (or a call's voicemail or script) would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    pub text: String,
    pub language: Language,
    /// The legal case and visit records the message is bound to.
    pub binding: Binding,
    pub lender_name: String,
    /// Set when an agency sends on the lender's behalf.
    pub agency_name: Option<String>,
    pub verification_code: String,
    /// A voicemail left on a call (US-LCM applies where the pack has it).
    pub voicemail: bool,
}

impl Message {
    pub fn new(
        text: impl Into<String>,
        language: Language,
        lender_name: impl Into<String>,
        verification_code: impl Into<String>,
    ) -> Message {
        Message {
            text: text.into(),
            language,
            binding: Binding::NONE,
            lender_name: lender_name.into(),
            agency_name: None,
            verification_code: verification_code.into(),
            voicemail: false,
        }
    }
}

/// The staff and recording planned for a visit (CN-VISIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisitPlan {
    pub staff_count: u32,
    pub recorded: bool,
}

/// A fee or penalty the lender proposes to charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeProposal {
    /// A one-off collection or arrears charge.
    CollectionFee {
        amount_minor: i64,
        contract_allows: bool,
    },
    /// Penalty interest on top of the contractual rate (delinquency spec section 5).
    PenaltyRate {
        annual_rate_bps: u32,
        penalty_rate_bps: u32,
    },
}

/// A contact or escalation that someone (a strategy, an agent, a dialer) wants to make.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProposedContact {
    pub borrower_id: BorrowerId,
    /// The debt the contact is about; `None` means every debt of the borrower, so per-debt
    /// limits count the calls about any of them.
    pub loan_id: Option<LoanId>,
    pub channel: Channel,
    pub party: Party,
    /// The contact person (co-borrower, designated contact...) when the party is not the
    /// borrower; found by target when not given.
    pub person_id: Option<String>,
    /// The phone number (call, SMS) or e-mail address (e-mail) used.
    pub target: Option<Target>,
    pub purpose: Purpose,
    pub message: Option<Message>,
    pub visit: Option<VisitPlan>,
    /// Set when an agency makes the contact, or for a placement: the agency receiving it.
    pub agency_id: Option<String>,
    pub fee: Option<FeeProposal>,
    /// The debt is past its statute of limitations (US-TIMEBAR).
    pub time_barred: bool,
}

impl ProposedContact {
    pub fn new(
        borrower_id: BorrowerId,
        channel: Channel,
        party: Party,
        target: Option<Target>,
    ) -> ProposedContact {
        ProposedContact {
            borrower_id,
            loan_id: None,
            channel,
            party,
            person_id: None,
            target,
            purpose: Purpose::Collection,
            message: None,
            visit: None,
            agency_id: None,
            fee: None,
            time_barred: false,
        }
    }
}

/// A person linked to the borrower (the `contact_persons` table). Targets print masked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactPerson {
    pub person_id: String,
    pub phone: Option<Target>,
    pub email: Option<Target>,
    pub source: PersonSource,
    /// The person asked not to be contacted again.
    pub refused: bool,
}

impl ContactPerson {
    pub fn new(person_id: impl Into<String>, source: PersonSource) -> ContactPerson {
        ContactPerson {
            person_id: person_id.into(),
            phone: None,
            email: None,
            source,
            refused: false,
        }
    }

    pub(crate) fn has_target(&self, t: &Target) -> bool {
        self.phone.as_ref() == Some(t) || self.email.as_ref() == Some(t)
    }
}

/// A notice sent before credit reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditNotice {
    pub sent_at: Timestamp,
    /// The notice came back undeliverable.
    pub bounced: bool,
}

/// A notice sent to the borrower (the `notices` table, or recorded by the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFact {
    pub kind: NoticeKind,
    /// `None`: about every debt of the borrower.
    pub loan_id: Option<LoanId>,
    pub sent_at: Timestamp,
}

/// The borrower's latest choice for one channel (the `preferences` table, the portal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceFact {
    pub channel: Channel,
    pub opted_out: bool,
    /// Local hours accepted on the channel; they narrow the pack's hours (ALL-PREFERENCE).
    pub window: Option<LocalWindow>,
    pub updated_at: Timestamp,
}

/// The state of a payment plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanState {
    Proposed,
    Active,
    Completed,
    Broken,
    Cancelled,
}

impl PlanState {
    pub fn parse(s: &str) -> Option<PlanState> {
        Some(match s {
            "proposed" => PlanState::Proposed,
            "active" => PlanState::Active,
            "completed" => PlanState::Completed,
            "broken" => PlanState::Broken,
            "cancelled" => PlanState::Cancelled,
            _ => return None,
        })
    }
}

/// A payment plan of a loan (ALL-PLAN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFact {
    pub loan_id: LoanId,
    pub state: PlanState,
    pub created_at: Timestamp,
    /// When the state was set, when known (a broken plan protects until the end of that day).
    pub state_at: Option<Timestamp>,
    pub installments: Vec<PlanInstallment>,
    /// Paid on the loan since the plan was created (non-reversed payments), which fills the
    /// instalments in order: an instalment past due and not filled is overdue.
    pub paid_minor: i64,
}

/// A placement with an agency (ALL-PLACED): live from `placed_at` until `recalled_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementFact {
    pub loan_id: LoanId,
    pub agency_id: String,
    pub placed_at: Timestamp,
    pub recalled_at: Option<Timestamp>,
}

/// A debt sale (ALL-SOLD): the loan belongs to `buyer` from `sold_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleFact {
    pub loan_id: LoanId,
    pub buyer: String,
    pub sold_at: Timestamp,
}

/// A credit-report dispute, open from `opened_at` until `resolved_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditDisputeFact {
    /// `None`: every loan of the borrower.
    pub loan_id: Option<LoanId>,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// What a rule needs of one loan of the borrower.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanFacts {
    pub loan_id: LoanId,
    /// The latest non-reversed payment (US-TIMEBAR's period runs from its local date).
    pub last_payment_at: Option<Timestamp>,
    /// The first instalment's due date (the period runs from it when nothing was paid).
    pub first_due_date: Option<Date>,
    /// The most advanced open legal case of the loan (binds legal words in messages).
    pub legal_case: Option<LegalStatus>,
}

/// What is known about the borrower when a contact is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BorrowerFacts {
    pub borrower_id: BorrowerId,
    pub jurisdiction: Jurisdiction,
    /// The zone of the borrower's address; `None` when unknown (the pack's default zones
    /// then apply, e.g. Asia/Shanghai for CN).
    pub timezone: Option<TimeZoneName>,
    /// The zone of the phone number's area when it differs.
    pub phone_timezone: Option<TimeZoneName>,
    /// The borrower's own phone numbers and e-mail addresses.
    pub own_targets: Vec<Target>,
    pub deceased: bool,
    pub bankrupt: bool,
    pub dispute_open: bool,
    pub cease_contact: bool,
    /// The borrower declared financial difficulty (GB-FORBEARANCE).
    pub hardship: bool,
    /// A forbearance offer (payment plan) is on record.
    pub forbearance_offered: bool,
    /// Last day (inclusive) of a GB breathing-space moratorium.
    pub breathing_space_until: Option<Date>,
    /// The attorney's phone and e-mail; when non-empty, contact goes to the attorney only.
    pub attorney_targets: Vec<Target>,
    /// Targets that opted out of electronic messages.
    pub opted_out: Vec<Target>,
    /// Hours the borrower agreed to be contacted (CN-HOURS), in local time.
    pub agreed_contact_hours: Option<LocalWindow>,
    pub contact_persons: Vec<ContactPerson>,
    /// Every known channel of the borrower failed (ALL-LOCATE's "unreachable").
    pub unreachable: bool,
    /// The initial communication (US-VALIDATION, US-CREDIT "contacted").
    pub initial_communication_at: Option<Timestamp>,
    /// When the validation notice was sent (US-VALIDATION).
    pub validation_notice_at: Option<Timestamp>,
    /// When the notice preceding an agency placement was given (CN-AGENCY).
    pub agency_notice_at: Option<Timestamp>,
    /// The notice preceding negative credit reporting (CN-CREDIT, US-CREDIT).
    pub credit_notice: Option<CreditNotice>,
    /// A credit-report dispute is open (CN-CREDIT freezes negative updates).
    pub credit_dispute_open: bool,
    /// Notices on record (validation, agency placement, credit reporting, forbearance offer,
    /// assignment, legal action): each rule reads the kind it needs.
    pub notices: Vec<NoticeFact>,
    /// The latest choice per channel.
    pub preferences: Vec<PreferenceFact>,
    pub plans: Vec<PlanFact>,
    pub placements: Vec<PlacementFact>,
    pub sales: Vec<SaleFact>,
    pub credit_disputes: Vec<CreditDisputeFact>,
    pub loans: Vec<LoanFacts>,
}

impl BorrowerFacts {
    /// Facts with nothing on record but the borrower and jurisdiction.
    pub fn new(borrower_id: BorrowerId, jurisdiction: Jurisdiction) -> BorrowerFacts {
        BorrowerFacts {
            borrower_id,
            jurisdiction,
            timezone: None,
            phone_timezone: None,
            own_targets: Vec::new(),
            deceased: false,
            bankrupt: false,
            dispute_open: false,
            cease_contact: false,
            hardship: false,
            forbearance_offered: false,
            breathing_space_until: None,
            attorney_targets: Vec::new(),
            opted_out: Vec::new(),
            agreed_contact_hours: None,
            contact_persons: Vec::new(),
            unreachable: false,
            initial_communication_at: None,
            validation_notice_at: None,
            agency_notice_at: None,
            credit_notice: None,
            credit_dispute_open: false,
            notices: Vec::new(),
            preferences: Vec::new(),
            plans: Vec::new(),
            placements: Vec::new(),
            sales: Vec::new(),
            credit_disputes: Vec::new(),
            loans: Vec::new(),
        }
    }

    /// The facts of one loan, if given.
    pub fn loan(&self, loan_id: &LoanId) -> Option<&LoanFacts> {
        self.loans.iter().find(|l| &l.loan_id == loan_id)
    }

    /// Sets the borrower's loans and adds the lifecycle records of this borrower and of those
    /// loans from `lc`, which may hold other borrowers' records too (they are skipped).
    /// Preferences keep the latest row per channel (by `updated_at`, a later row winning a
    /// tie); a loan's binding legal case is its most advanced open one. `paid_since(loan,
    /// instant)` answers what was paid on the loan from that instant on (non-reversed), which
    /// fills a plan's instalments. Codes that are not in the vocabulary cannot occur in rows
    /// read by `arrears-io` or the store; such a row is skipped here rather than guessed at.
    /// This is the one conversion from records to facts: file mode, the store, the server and
    /// the dispatcher all go through it.
    pub fn apply_lifecycle(
        &mut self,
        lc: &Lifecycle,
        loans: Vec<LoanFacts>,
        paid_since: &dyn Fn(&LoanId, Timestamp) -> i64,
    ) {
        self.loans = loans;
        let ids: Vec<LoanId> = self.loans.iter().map(|l| l.loan_id.clone()).collect();
        let mine = |l: &LoanId| ids.contains(l);
        let me = self.borrower_id.clone();
        for n in lc.notices.iter().filter(|n| n.borrower_id == me) {
            if let Ok(kind) = NoticeKind::parse(&n.kind) {
                self.notices.push(NoticeFact {
                    kind,
                    loan_id: n.loan_id.clone(),
                    sent_at: n.sent_at,
                });
            }
        }
        for p in lc.preferences.iter().filter(|p| p.borrower_id == me) {
            let Ok(channel) = Channel::parse(&p.channel) else {
                continue;
            };
            let window = match (p.contact_from, p.contact_to) {
                (Some(a), Some(b)) => LocalWindow::new(a, b).ok(),
                _ => None,
            };
            let fact = PreferenceFact {
                channel,
                opted_out: p.opted_out,
                window,
                updated_at: p.updated_at,
            };
            match self.preferences.iter_mut().find(|x| x.channel == channel) {
                Some(x) if x.updated_at <= p.updated_at => *x = fact,
                Some(_) => {}
                None => self.preferences.push(fact),
            }
        }
        for p in lc.plans.iter().filter(|p| mine(&p.loan_id)) {
            if let Some(state) = PlanState::parse(&p.status) {
                self.plans.push(PlanFact {
                    loan_id: p.loan_id.clone(),
                    state,
                    created_at: p.created_at,
                    state_at: p.status_at,
                    installments: p.installments.clone(),
                    paid_minor: paid_since(&p.loan_id, p.created_at),
                });
            }
        }
        for p in lc.placements.iter().filter(|p| mine(&p.loan_id)) {
            self.placements.push(PlacementFact {
                loan_id: p.loan_id.clone(),
                agency_id: p.agency_id.to_string(),
                placed_at: p.placed_at,
                recalled_at: p.recalled_at,
            });
        }
        for s in lc.sales.iter().filter(|s| mine(&s.loan_id)) {
            self.sales.push(SaleFact {
                loan_id: s.loan_id.clone(),
                buyer: s.buyer.to_string(),
                sold_at: s.sold_at,
            });
        }
        for d in lc.credit_disputes.iter().filter(|d| d.borrower_id == me) {
            self.credit_disputes.push(CreditDisputeFact {
                loan_id: d.loan_id.clone(),
                opened_at: d.opened_at,
                resolved_at: d.resolved_at,
            });
        }
        for c in lc.legal_cases.iter().filter(|c| mine(&c.loan_id)) {
            let Ok(status) = LegalStatus::parse(&c.status) else {
                continue;
            };
            if status == LegalStatus::Closed {
                continue;
            }
            let slot = match self.loans.iter_mut().position(|l| l.loan_id == c.loan_id) {
                Some(i) => &mut self.loans[i],
                None => {
                    self.loans.push(LoanFacts {
                        loan_id: c.loan_id.clone(),
                        last_payment_at: None,
                        first_due_date: None,
                        legal_case: None,
                    });
                    let last = self.loans.len() - 1;
                    &mut self.loans[last]
                }
            };
            if slot.legal_case.is_none_or(|s| s.stage() < status.stage()) {
                slot.legal_case = Some(status);
            }
        }
        for p in lc.contact_persons.iter().filter(|p| p.borrower_id == me) {
            let Ok(source) = PersonSource::parse(&p.source) else {
                continue;
            };
            let mut cp = ContactPerson::new(p.person_id.to_string(), source);
            cp.phone = p.phone.as_deref().and_then(|t| Target::parse(t).ok());
            cp.email = p.email.as_deref().and_then(|t| Target::parse(t).ok());
            cp.refused = p.refused;
            self.contact_persons.push(cp);
        }
    }
}

impl BorrowerFacts {
    /// The facts a `borrowers` row gives (the portfolio files and the store hold the same
    /// row): zones, holds, flags, and the borrower's and attorney's own phone numbers and
    /// e-mail addresses (a value that is not a phone number or address is left out). Facts
    /// the row does not carry (opt-outs, notices, contact persons…) stay as `new` sets them.
    pub fn from_borrower(b: &BorrowerRow) -> BorrowerFacts {
        let mut f = BorrowerFacts::new(b.id.clone(), b.jurisdiction.clone());
        f.timezone = Some(b.timezone.clone());
        f.phone_timezone = b.phone_timezone.clone();
        f.deceased = b.deceased;
        f.bankrupt = b.bankrupt;
        f.cease_contact = b.cease_contact;
        f.dispute_open = b.dispute_open;
        f.hardship = b.hardship;
        f.breathing_space_until = b.breathing_space_until;
        f.own_targets = [&b.phone, &b.email]
            .into_iter()
            .flatten()
            .filter_map(|t| Target::parse(t).ok())
            .collect();
        f.attorney_targets = [&b.attorney_phone, &b.attorney_email]
            .into_iter()
            .flatten()
            .filter_map(|t| Target::parse(t).ok())
            .collect();
        f
    }
}

/// One past contact (the `contacts` table). A call whose outcome is a conversation
/// (`right_party`, `promise`, `refused`, `dispute`) counts as one for US-7IN7 and
/// CN-FREQ-CONNECTED; any other call outcome is an unanswered attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContactRecord {
    pub borrower_id: BorrowerId,
    pub loan_id: Option<LoanId>,
    pub channel: Channel,
    pub target: Option<Target>,
    pub party: Party,
    pub agency_id: Option<String>,
    pub at: Timestamp,
    pub outcome: Outcome,
    /// The borrower (or someone for them) reached out; `false` for outbound contacts.
    pub inbound: bool,
    /// Not a fact but an assumption: a contact a planner has planned, counted against the
    /// caps whichever way it ends. It never shows that the borrower was reached or failed to
    /// be, nor that a communication happened.
    pub assumed: bool,
}

impl ContactRecord {
    pub fn new(
        borrower_id: BorrowerId,
        channel: Channel,
        party: Party,
        at: Timestamp,
        outcome: Outcome,
    ) -> ContactRecord {
        ContactRecord {
            borrower_id,
            loan_id: None,
            channel,
            target: None,
            party,
            agency_id: None,
            at,
            outcome,
            inbound: false,
            assumed: false,
        }
    }

    /// A `contacts` row as the engine counts it, about `borrower_id` and the loan the caller
    /// resolved (`row.borrower` and `row.loan` are not read). `None` only when the row's
    /// channel is not in the vocabulary. Unknown words never make a row count less: an
    /// outcome the vocabulary does not know is `Other`: an unanswered attempt (it counts
    /// against attempt caps and never passes for a conversation) that never makes the
    /// borrower look unreachable, and an unknown party is a third
    /// party. A target that is not a phone number or address is left out.
    pub fn from_row(
        borrower_id: &BorrowerId,
        loan_id: Option<&LoanId>,
        row: &ContactRow,
    ) -> Option<ContactRecord> {
        let channel = Channel::parse(&row.channel).ok()?;
        let party = row
            .party
            .as_deref()
            .map_or(Ok(Party::Borrower), Party::parse)
            .unwrap_or(Party::ThirdParty);
        let outcome = Outcome::parse(&row.outcome).unwrap_or(Outcome::Other);
        let mut r = ContactRecord::new(borrower_id.clone(), channel, party, row.at, outcome);
        r.loan_id = loan_id.cloned();
        r.target = row.target.as_deref().and_then(|t| Target::parse(t).ok());
        r.agency_id = row.agency_id.as_deref().map(str::to_owned);
        r.inbound = &*row.direction == "inbound";
        Some(r)
    }

    pub fn is_call(&self) -> bool {
        self.channel == Channel::Call
    }

    pub fn is_conversation(&self) -> bool {
        self.is_call() && self.outcome.is_conversation()
    }

    pub fn is_unanswered_call(&self) -> bool {
        self.is_call() && !self.outcome.is_conversation()
    }
}
