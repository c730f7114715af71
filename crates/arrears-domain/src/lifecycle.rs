//! The records of the collections lifecycle that the conduct rules need (compliance spec,
//! "Facts from the lifecycle"): notices sent, the borrower's contact preferences, payment
//! plans and their instalments, agency placements, debt sales and credit-report disputes,
//! plus the legal cases and contact persons of the compliance extensions.
//!
//! The same rows come from a portfolio folder (`arrears-io::extensions`, CSV or Parquet) and
//! from the store (imported, posted through the API, or recorded by Arrears itself when its
//! outbox sends a notice), so a file-mode run and a store run over the same records decide the
//! same. Codes are checked against the vocabularies below when a row is read; a row holding
//! one is valid by construction.

use crate::types::{BorrowerId, LoanId};
use jiff::Timestamp;
use jiff::civil::{Date, Time};

/// `notices.kind`.
pub const NOTICE_KINDS: [&str; 6] = [
    "validation",
    "agency_placement",
    "credit_reporting",
    "forbearance_offer",
    "assignment",
    "legal_action",
];

/// `notices.channel`.
pub const NOTICE_CHANNELS: [&str; 4] = ["letter", "email", "sms", "portal"];

/// `preferences.channel`: the channels a borrower can opt out of or give hours for.
pub const PREFERENCE_CHANNELS: [&str; 6] = ["call", "sms", "email", "letter", "push", "visit"];

/// `payment_plans.status`.
pub const PLAN_STATUSES: [&str; 5] = ["proposed", "active", "completed", "broken", "cancelled"];

/// `legal_cases.status`.
pub const LEGAL_STATUSES: [&str; 4] = ["filed", "judgment", "enforcement", "closed"];

/// `contact_persons.source`.
pub const PERSON_SOURCES: [&str; 3] = ["designated", "address_book", "contract"];

/// A notice sent to the borrower (`notices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub notice_id: Box<str>,
    pub borrower_id: BorrowerId,
    /// `None`: the notice is about every debt of the borrower.
    pub loan_id: Option<LoanId>,
    /// One of [`NOTICE_KINDS`].
    pub kind: Box<str>,
    pub sent_at: Timestamp,
    /// One of [`NOTICE_CHANNELS`].
    pub channel: Box<str>,
}

/// What the borrower chose for one channel (`preferences`); the latest row per (borrower,
/// channel) by `updated_at` holds (file order breaks ties: the later row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceRow {
    pub borrower_id: BorrowerId,
    /// One of [`PREFERENCE_CHANNELS`].
    pub channel: Box<str>,
    pub opted_out: bool,
    /// Local hours the borrower accepts on this channel: from (inclusive) to (exclusive),
    /// both or neither, `from < to`.
    pub contact_from: Option<Time>,
    pub contact_to: Option<Time>,
    pub updated_at: Timestamp,
}

/// A payment plan (`payment_plans`) with its instalments (`plan_installments`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPlanRow {
    pub plan_id: Box<str>,
    pub loan_id: LoanId,
    /// One of [`PLAN_STATUSES`].
    pub status: Box<str>,
    pub created_at: Timestamp,
    /// When the current status was set, where it is known (the store records it; a file
    /// gives only the status).
    pub status_at: Option<Timestamp>,
    /// By `seq`.
    pub installments: Vec<PlanInstallment>,
}

/// One instalment of a payment plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInstallment {
    pub seq: u32,
    pub due_date: Date,
    pub amount_minor: i64,
}

/// A placement with a collection agency (`placements`); live while not recalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRow {
    pub placement_id: Box<str>,
    pub loan_id: LoanId,
    pub agency_id: Box<str>,
    pub placed_at: Timestamp,
    pub recalled_at: Option<Timestamp>,
}

/// A debt sale (`sales`): the loan belongs to the buyer from `sold_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow {
    pub sale_id: Box<str>,
    pub loan_id: LoanId,
    pub buyer: Box<str>,
    pub sold_at: Timestamp,
}

/// A dispute of what was (or would be) reported to a credit bureau (`credit_disputes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditDisputeRow {
    pub dispute_id: Box<str>,
    pub borrower_id: BorrowerId,
    /// `None`: every loan of the borrower.
    pub loan_id: Option<LoanId>,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// A real court case of a loan (`legal_cases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalCaseFact {
    pub case_id: Box<str>,
    pub loan_id: LoanId,
    /// One of [`LEGAL_STATUSES`].
    pub status: Box<str>,
    pub updated_on: Option<Date>,
}

/// A person linked to a borrower (`contact_persons`).
#[derive(Clone, PartialEq, Eq)]
pub struct ContactPersonFact {
    pub person_id: Box<str>,
    pub borrower_id: BorrowerId,
    pub phone: Option<Box<str>>,
    pub email: Option<Box<str>>,
    /// One of [`PERSON_SOURCES`].
    pub source: Box<str>,
    pub refused: bool,
}

impl std::fmt::Debug for ContactPersonFact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactPersonFact")
            .field("person_id", &self.person_id)
            .field("borrower_id", &self.borrower_id)
            .field("phone", &self.phone.as_ref().map(|_| "***"))
            .field("email", &self.email.as_ref().map(|_| "***"))
            .field("source", &self.source)
            .field("refused", &self.refused)
            .finish()
    }
}

/// Every lifecycle record of a portfolio or of some borrowers of a store. Order within each
/// list is the order read (file order, or the store's insertion order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub notices: Vec<NoticeRow>,
    pub preferences: Vec<PreferenceRow>,
    pub plans: Vec<PaymentPlanRow>,
    pub placements: Vec<PlacementRow>,
    pub sales: Vec<SaleRow>,
    pub credit_disputes: Vec<CreditDisputeRow>,
    pub legal_cases: Vec<LegalCaseFact>,
    pub contact_persons: Vec<ContactPersonFact>,
}

impl Lifecycle {
    pub fn is_empty(&self) -> bool {
        self.notices.is_empty()
            && self.preferences.is_empty()
            && self.plans.is_empty()
            && self.placements.is_empty()
            && self.sales.is_empty()
            && self.credit_disputes.is_empty()
            && self.legal_cases.is_empty()
            && self.contact_persons.is_empty()
    }

    /// Appends every record of `other`.
    pub fn extend(&mut self, other: Lifecycle) {
        self.notices.extend(other.notices);
        self.preferences.extend(other.preferences);
        self.plans.extend(other.plans);
        self.placements.extend(other.placements);
        self.sales.extend(other.sales);
        self.credit_disputes.extend(other.credit_disputes);
        self.legal_cases.extend(other.legal_cases);
        self.contact_persons.extend(other.contact_persons);
    }
}
