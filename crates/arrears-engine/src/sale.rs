//! Debt sale, the pure part (`docs/sale.md`): which loans a filter puts on a sale tape, what
//! the tape says about each (balances by component from the daily run, payment and contact
//! summaries, the notices on record), and the price of a sale in basis points of face value
//! with the loss per loan. No I/O and no clock: the as-of date, the portfolio, the daily
//! run's states and the lifecycle records are arguments.
//!
//! The selection is one pass over each table (contacts, notices, lifecycle records) into
//! per-loan and per-borrower summaries, then one parallel pass over the loans; nothing is
//! looked up per loan in a whole table.

use crate::AccountState;
use crate::loan::AccountStatus;
use arrears_domain::lifecycle::NOTICE_KINDS;
use arrears_domain::portfolio::LoanStatus;
use arrears_domain::{Config, Currency, Lifecycle, Portfolio};
use jiff::Timestamp;
use jiff::civil::Date;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// A price in basis points of face value, `0 ..= 10_000` (a debt is never sold above face).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PriceBps(u16);

impl PriceBps {
    pub const MAX: u16 = 10_000;

    pub fn new(v: i64) -> Result<PriceBps, String> {
        match u16::try_from(v) {
            Ok(b) if b <= PriceBps::MAX => Ok(PriceBps(b)),
            _ => Err(format!(
                "{v} is not a price between 0 and {} basis points of face value",
                PriceBps::MAX
            )),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// The price and the loss of one loan: `price = round_half_even(face × bps / 10000)`,
/// rounded once per loan, and `loss = face − price`, so `price + loss == face` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    pub face_minor: i64,
    pub price_minor: i64,
    pub loss_minor: i64,
}

/// Prices one loan. A face of zero or less is priced at zero with no loss (such a loan is
/// never selected; the arithmetic is total anyway).
pub fn price_loan(face_minor: i64, bps: PriceBps) -> Priced {
    if face_minor <= 0 {
        return Priced {
            face_minor,
            price_minor: 0,
            loss_minor: face_minor,
        };
    }
    let price =
        crate::loan::round_half_even(i128::from(face_minor) * i128::from(bps.get()), 10_000);
    // Proven: 0 <= price <= face because bps <= 10000 and face > 0.
    let price_minor = i64::try_from(price).unwrap_or(face_minor);
    Priced {
        face_minor,
        price_minor,
        loss_minor: face_minor - price_minor,
    }
}

/// Totals of a sale per currency: the sums of the per-loan figures (the total price is the
/// sum of the rounded per-loan prices, never rounded again). i128, so no sum wraps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaleTotals {
    pub loans: u64,
    pub face_minor: i128,
    pub price_minor: i128,
    pub loss_minor: i128,
}

/// Sums priced loans per currency.
pub fn totals<'a>(
    priced: impl IntoIterator<Item = (&'a Currency, Priced)>,
) -> BTreeMap<Currency, SaleTotals> {
    let mut out: BTreeMap<Currency, SaleTotals> = BTreeMap::new();
    for (c, p) in priced {
        let t = out.entry(*c).or_default();
        t.loans += 1;
        t.face_minor += i128::from(p.face_minor);
        t.price_minor += i128::from(p.price_minor);
        t.loss_minor += i128::from(p.loss_minor);
    }
    out
}

/// Which loans a tape takes. Every part left empty or `None` matches every loan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapeFilter {
    /// Stage names of the configuration (`config.stages`).
    pub stages: Vec<String>,
    pub dpd_min: Option<u32>,
    pub dpd_max: Option<u32>,
    /// A code matches itself and its subdivisions: `CN` takes `CN-11`; `CN-11` only itself.
    pub jurisdictions: Vec<String>,
    pub currency: Option<String>,
    /// Outstanding (face) balance bounds in minor units, inclusive.
    pub balance_min: Option<i64>,
    pub balance_max: Option<i64>,
}

/// Why a loan the filter matched is kept off the tape. A loan can have several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    /// A sale is on record for it (whatever its date) or its status is `sold`.
    AlreadySold,
    /// Closed or paid off: nothing is owed.
    NothingOwed,
    /// Placed with an agency and not recalled at the end of the as-of date.
    LivePlacement,
    /// A payment plan in status `active`.
    ActivePlan,
    /// An open credit dispute on the loan or on every loan of the borrower, or the
    /// borrower's `dispute_open` flag.
    OpenDispute,
    /// A legal case of the loan not `closed`.
    LegalCase,
    /// The borrower is bankrupt (a sale would collect against a stay).
    Bankrupt,
    /// The borrower is deceased (the estate's matter, not a buyer's).
    Deceased,
}

impl Exclusion {
    pub const ALL: [Exclusion; 8] = [
        Exclusion::AlreadySold,
        Exclusion::NothingOwed,
        Exclusion::LivePlacement,
        Exclusion::ActivePlan,
        Exclusion::OpenDispute,
        Exclusion::LegalCase,
        Exclusion::Bankrupt,
        Exclusion::Deceased,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Exclusion::AlreadySold => "already_sold",
            Exclusion::NothingOwed => "nothing_owed",
            Exclusion::LivePlacement => "live_placement",
            Exclusion::ActivePlan => "active_plan",
            Exclusion::OpenDispute => "open_dispute",
            Exclusion::LegalCase => "legal_case",
            Exclusion::Bankrupt => "bankrupt",
            Exclusion::Deceased => "deceased",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn of_bits(bits: u16) -> Vec<Exclusion> {
        Exclusion::ALL
            .into_iter()
            .filter(|e| bits & e.bit() != 0)
            .collect()
    }
}

/// One loan on the tape. Strings (ids, names) are resolved from the portfolio and the
/// configuration when written; the row holds the loan's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeRow {
    /// Index into `portfolio.loans`.
    pub loan: u32,
    pub status: AccountStatus,
    pub dpd: u32,
    pub stage: u16,
    pub bucket: u16,
    /// Principal not yet repaid (due or not).
    pub principal_minor: i64,
    /// Interest due and unpaid.
    pub interest_minor: i64,
    /// Fees due and unpaid.
    pub fee_minor: i64,
    /// Penalty accrued and unpaid.
    pub penalty_minor: i64,
    /// principal + interest + fee + penalty: the face value on the as-of date.
    pub outstanding_minor: i64,
    /// Payments received by the end of the as-of date and not reversed by then.
    pub payments: u32,
    pub payments_minor: i64,
    pub last_payment_date: Option<Date>,
    /// Contacts on the loan, and those with its borrower about no loan in particular.
    pub contacts: u32,
    pub last_contact_at: Option<Timestamp>,
    /// Notices on record by kind, in [`NOTICE_KINDS`] order (a notice about every debt of
    /// the borrower counts on each of their loans).
    pub notices: [u32; NOTICE_KINDS.len()],
}

/// A tape: the rows in `loan_id` order, and what the filter matched and excluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tape {
    pub rows: Vec<TapeRow>,
    /// Loans the filter matched (on the tape or excluded).
    pub matched: u64,
    /// Loans the filter matched that were kept off, by every reason that applied.
    pub excluded: u64,
    pub excluded_by: BTreeMap<&'static str, u64>,
    /// The loans the filter matched that were kept off (index into `portfolio.loans`), with
    /// every reason that applied.
    pub excluded_loans: Vec<(u32, Vec<Exclusion>)>,
}

/// The face value of an account state: principal not repaid + interest and fees due and
/// unpaid + penalty accrued and unpaid. Future interest and fees are not owed and not sold;
/// a credit balance is not netted (a loan with one owes nothing and is not selected).
pub fn face_of(s: &AccountState) -> i64 {
    let penalty = s
        .penalty_accrued_minor
        .saturating_sub(s.penalty_paid_minor)
        .max(0);
    s.outstanding_principal_minor
        .saturating_add(s.overdue_interest_minor)
        .saturating_add(s.overdue_fee_minor)
        .saturating_add(penalty)
}

/// The first instant after business date `d` (its end), in the configuration's zone.
pub fn end_of_day(d: Date, config: &Config) -> Option<Timestamp> {
    let next = d.tomorrow().ok()?;
    next.to_zoned(config.business_tz.tz().clone())
        .ok()
        .map(|z| z.timestamp())
}

fn jurisdiction_matches(filter: &[String], code: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| {
            code == f
                || (code.len() > f.len() && code.starts_with(f.as_str()) && {
                    code.as_bytes().get(f.len()) == Some(&b'-')
                })
        })
}

#[derive(Debug, Default, Clone, Copy)]
struct Touch {
    count: u32,
    last: Option<Timestamp>,
}

impl Touch {
    fn add(&mut self, at: Timestamp) {
        self.count = self.count.saturating_add(1);
        self.last = self.last.max(Some(at));
    }
}

/// Builds the tape of `portfolio` as of `as_of` under `filter`. `states` are the daily run's
/// of `as_of`, in the portfolio's loan order. Records dated after the end of `as_of` do not
/// count (but any sale on record does: a loan is not sold twice).
pub fn build_tape(
    portfolio: &Portfolio,
    states: &[AccountState],
    lifecycle: &Lifecycle,
    config: &Config,
    as_of: Date,
    filter: &TapeFilter,
) -> Tape {
    let cutoff = end_of_day(as_of, config).unwrap_or(Timestamp::MAX);
    let before = |t: Timestamp| t < cutoff;
    let loan_ix: HashMap<&str, u32> = portfolio
        .loans
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i as u32))
        .collect();
    let borrower_ix: HashMap<&str, u32> = portfolio
        .borrowers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id.as_str(), i as u32))
        .collect();
    let nl = portfolio.loans.len();
    let nb = portfolio.borrowers.len();
    // Exclusion bits from the lifecycle records, per loan and per borrower.
    let mut loan_bits = vec![0u16; nl];
    let mut borrower_bits = vec![0u16; nb];
    let mut on_loan = |id: &str, e: Exclusion| {
        if let Some(&i) = loan_ix.get(id) {
            loan_bits[i as usize] |= e.bit();
        }
    };
    for s in &lifecycle.sales {
        on_loan(s.loan_id.as_str(), Exclusion::AlreadySold);
    }
    for p in &lifecycle.placements {
        if before(p.placed_at) && p.recalled_at.is_none_or(|r| !before(r)) {
            on_loan(p.loan_id.as_str(), Exclusion::LivePlacement);
        }
    }
    for p in &lifecycle.plans {
        if &*p.status == "active" && before(p.created_at) {
            on_loan(p.loan_id.as_str(), Exclusion::ActivePlan);
        }
    }
    for c in &lifecycle.legal_cases {
        if &*c.status != "closed" {
            on_loan(c.loan_id.as_str(), Exclusion::LegalCase);
        }
    }
    for d in &lifecycle.credit_disputes {
        if !(before(d.opened_at) && d.resolved_at.is_none_or(|r| !before(r))) {
            continue;
        }
        match &d.loan_id {
            Some(l) => on_loan(l.as_str(), Exclusion::OpenDispute),
            None => {
                if let Some(&b) = borrower_ix.get(d.borrower_id.as_str()) {
                    borrower_bits[b as usize] |= Exclusion::OpenDispute.bit();
                }
            }
        }
    }
    for (i, b) in portfolio.borrowers.iter().enumerate() {
        if b.dispute_open {
            borrower_bits[i] |= Exclusion::OpenDispute.bit();
        }
        if b.bankrupt {
            borrower_bits[i] |= Exclusion::Bankrupt.bit();
        }
        if b.deceased {
            borrower_bits[i] |= Exclusion::Deceased.bit();
        }
    }
    // Contacts: one pass, per loan and per borrower (no loan named).
    let mut loan_touch = vec![Touch::default(); nl];
    let mut borrower_touch = vec![Touch::default(); nb];
    for c in &portfolio.contacts {
        if !before(c.at) {
            continue;
        }
        match c.loan {
            Some(l) => {
                if let Some(t) = loan_touch.get_mut(l as usize) {
                    t.add(c.at);
                }
            }
            None => {
                if let Some(t) = borrower_touch.get_mut(c.borrower as usize) {
                    t.add(c.at);
                }
            }
        }
    }
    // Notices by kind: one pass, per loan and per borrower (about every debt).
    let mut loan_notices: HashMap<u32, [u32; NOTICE_KINDS.len()]> = HashMap::new();
    let mut borrower_notices: HashMap<u32, [u32; NOTICE_KINDS.len()]> = HashMap::new();
    for n in &lifecycle.notices {
        if !before(n.sent_at) {
            continue;
        }
        let Some(k) = NOTICE_KINDS.iter().position(|k| *k == &*n.kind) else {
            continue;
        };
        let slot = match &n.loan_id {
            Some(l) => loan_ix.get(l.as_str()).map(|&i| loan_notices.entry(i)),
            None => borrower_ix
                .get(n.borrower_id.as_str())
                .map(|&i| borrower_notices.entry(i)),
        };
        if let Some(e) = slot {
            let counts = e.or_insert([0; NOTICE_KINDS.len()]);
            counts[k] = counts[k].saturating_add(1);
        }
    }
    let stage_ix: Vec<usize> = filter
        .stages
        .iter()
        .filter_map(|s| config.stages.names().iter().position(|n| n == s))
        .collect();
    let unknown_stage_only = !filter.stages.is_empty() && stage_ix.is_empty();
    let judged: Vec<Result<TapeRow, (u32, u16)>> = portfolio
        .loans
        .par_iter()
        .zip(states.par_iter())
        .enumerate()
        .filter_map(|(i, (l, s))| {
            let b = portfolio.borrower_of(l)?;
            let face = face_of(s);
            let matched = !unknown_stage_only
                && (stage_ix.is_empty() || stage_ix.contains(&usize::from(s.stage)))
                && filter.dpd_min.is_none_or(|m| s.dpd >= m)
                && filter.dpd_max.is_none_or(|m| s.dpd <= m)
                && jurisdiction_matches(&filter.jurisdictions, b.jurisdiction.as_str())
                && filter
                    .currency
                    .as_deref()
                    .is_none_or(|c| l.currency.as_str() == c)
                && filter.balance_min.is_none_or(|m| face >= m)
                && filter.balance_max.is_none_or(|m| face <= m);
            if !matched {
                return None;
            }
            let mut bits = loan_bits[i] | borrower_bits[l.borrower as usize];
            if l.status == LoanStatus::Sold || s.status == AccountStatus::Sold {
                bits |= Exclusion::AlreadySold.bit();
            }
            if matches!(s.status, AccountStatus::Closed | AccountStatus::PaidOff) || face <= 0 {
                bits |= Exclusion::NothingOwed.bit();
            }
            if bits != 0 {
                return Some(Err((i as u32, bits)));
            }
            let (mut payments, mut paid) = (0u32, 0i128);
            for p in portfolio.payments_of(l) {
                if before(p.received_at) && p.cancelled_at.is_none_or(|c| !before(c)) {
                    payments = payments.saturating_add(1);
                    paid += i128::from(p.amount.get());
                }
            }
            let (lt, bt) = (loan_touch[i], borrower_touch[l.borrower as usize]);
            let mut notices = loan_notices.get(&(i as u32)).copied().unwrap_or_default();
            if let Some(bn) = borrower_notices.get(&l.borrower) {
                for (a, b) in notices.iter_mut().zip(bn) {
                    *a = a.saturating_add(*b);
                }
            }
            Some(Ok(TapeRow {
                loan: i as u32,
                status: s.status,
                dpd: s.dpd,
                stage: s.stage,
                bucket: s.bucket,
                principal_minor: s.outstanding_principal_minor,
                interest_minor: s.overdue_interest_minor,
                fee_minor: s.overdue_fee_minor,
                penalty_minor: s
                    .penalty_accrued_minor
                    .saturating_sub(s.penalty_paid_minor)
                    .max(0),
                outstanding_minor: face,
                payments,
                payments_minor: i64::try_from(paid).unwrap_or(i64::MAX),
                last_payment_date: s.last_payment_date,
                contacts: lt.count.saturating_add(bt.count),
                last_contact_at: lt.last.max(bt.last),
                notices,
            }))
        })
        .collect();
    let mut tape = Tape::default();
    for j in judged {
        tape.matched += 1;
        match j {
            Ok(row) => tape.rows.push(row),
            Err((i, bits)) => {
                tape.excluded += 1;
                let reasons = Exclusion::of_bits(bits);
                for e in &reasons {
                    *tape.excluded_by.entry(e.code()).or_default() += 1;
                }
                tape.excluded_loans.push((i, reasons));
            }
        }
    }
    let loans = &portfolio.loans;
    tape.rows.par_sort_unstable_by(|a, b| {
        loans[a.loan as usize]
            .id
            .as_str()
            .cmp(loans[b.loan as usize].id.as_str())
    });
    tape
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn price_rounds_half_to_even_once_per_loan() {
        // (face, bps, price): the exact product is written out by hand.
        for (face, bps, price) in [
            (10_000, 2_500, 2_500),
            (1, 5_000, 0),          // 0.5 -> 0 (even)
            (3, 5_000, 2),          // 1.5 -> 2 (even)
            (5, 5_000, 2),          // 2.5 -> 2 (even)
            (7, 5_000, 4),          // 3.5 -> 4
            (12_345, 1_234, 1_523), // 1523.373 -> 1523
            (99, 10_000, 99),
            (99, 0, 0),
        ] {
            let p = price_loan(face, PriceBps::new(bps).unwrap());
            assert_eq!(p.price_minor, price, "{face} at {bps}");
            assert_eq!(p.loss_minor, face - price);
        }
        assert!(PriceBps::new(10_001).is_err());
        assert!(PriceBps::new(-1).is_err());
    }

    proptest! {
        #[test]
        fn money_is_conserved_per_loan_and_in_total(
            faces in proptest::collection::vec(1i64..1_000_000_000_000, 1..50),
            bps in 0i64..=10_000,
        ) {
            let bps = PriceBps::new(bps).unwrap();
            let cny = Currency::parse("currency", "CNY").unwrap();
            let priced: Vec<Priced> = faces.iter().map(|&f| price_loan(f, bps)).collect();
            for p in &priced {
                prop_assert_eq!(p.price_minor + p.loss_minor, p.face_minor);
                prop_assert!(p.price_minor >= 0 && p.price_minor <= p.face_minor);
                // Within half a minor unit of the exact price.
                let exact2 = 2 * i128::from(p.face_minor) * i128::from(bps.get());
                let diff = (2 * 10_000 * i128::from(p.price_minor) - exact2).abs();
                prop_assert!(diff <= 10_000);
            }
            let t = totals(priced.iter().map(|p| (&cny, *p)));
            let t = t.get(&cny).copied().unwrap_or_default();
            let face: i128 = faces.iter().map(|&f| i128::from(f)).sum();
            prop_assert_eq!(t.face_minor, face);
            prop_assert_eq!(t.price_minor + t.loss_minor, face);
            prop_assert_eq!(t.loans, faces.len() as u64);
        }
    }

    #[test]
    fn jurisdiction_codes_take_their_subdivisions() {
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (filter, code, want) in [
            (f(&[]), "CN-11", true),
            (f(&["CN"]), "CN-11", true),
            (f(&["CN"]), "CN", true),
            (f(&["CN-11"]), "CN", false),
            (f(&["US"]), "USX", false),
            (f(&["GB", "US-NY"]), "US-NY", true),
            (f(&["GB", "US-NY"]), "US-CA", false),
        ] {
            assert_eq!(
                jurisdiction_matches(&filter, code),
                want,
                "{filter:?} {code}"
            );
        }
    }
}
