//! Debt sale, the one door (`docs/sale.md`): the sale tape over a portfolio (a folder or the
//! store's), pricing a tape's loans on the sale date, recording the sale in the store (or as
//! the `sales.csv` lifecycle table of a folder, by the CLI) and queueing the one signed
//! `assignment` notice per borrower that ALL-SOLD lets through. `arrears sale` and the
//! server's `POST /v1/sales` both come here.
//!
//! The pure part is `arrears_engine::sale` (selection, tape rows, price and loss); this
//! module runs the day, checks the tape's loans again on the sale date, and talks to the
//! store it is handed. It reads no clock: `now` is an argument.

use crate::context::from_store;
use arrears_domain::{Config, Lifecycle, Portfolio};
use arrears_engine::sale::{Exclusion, PriceBps, SaleTotals, Tape, TapeFilter, build_tape};
use arrears_policy::{Decision, Language, Message, PackSet, ProposedContact, Target};
use arrears_store::{
    Enqueued, NewDebtSale, NewOutboxMessage, NewSaleLoan, SaleRecorded, Store, StoreError,
};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{BTreeMap, HashMap};

/// A sale the rules or the data refuse, or a store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaleError {
    #[error("the daily run failed: {0}")]
    Run(String),
    #[error("the tape is empty: a sale needs at least one loan")]
    Empty,
    #[error("the buyer's name is empty")]
    NoBuyer,
    #[error("loan {0:?} is not in the portfolio")]
    UnknownLoan(String),
    #[error("loan {loan:?} cannot be sold on {on}: {}", .reasons.iter().map(|r| r.code()).collect::<Vec<_>>().join(", "))]
    NotForSale {
        loan: String,
        on: Date,
        reasons: Vec<Exclusion>,
    },
    #[error("no sale {0:?} is on record")]
    NoSuchSale(String),
    #[error(transparent)]
    Lifecycle(#[from] arrears_store::LifecycleError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tape of `portfolio` as of `as_of`: the daily run of that date, then the selection.
pub fn tape(
    portfolio: &Portfolio,
    lifecycle: &Lifecycle,
    config: &Config,
    as_of: Date,
    filter: &TapeFilter,
) -> Result<Tape, SaleError> {
    let states = arrears_engine::run_day(portfolio, as_of, config)
        .map_err(|e| SaleError::Run(e.to_string()))?;
    Ok(build_tape(
        portfolio, &states, lifecycle, config, as_of, filter,
    ))
}

/// The terms a sale is recorded on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleTerms {
    pub buyer: String,
    pub price_bps: PriceBps,
    pub sold_on: Date,
    /// Who records it (a user name, `cli`).
    pub recorded_by: String,
}

/// The id of a sale: its date and the first 12 hex digits of SHA-256 over the buyer, the
/// date, the price and the sorted loan ids, so the same sale given twice has the same id
/// (and is recorded once).
pub fn sale_id(terms: &SaleTerms, loan_ids: &[String]) -> String {
    use sha2::Digest;
    let mut ids: Vec<&str> = loan_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let mut h = sha2::Sha256::new();
    h.update(terms.buyer.trim().as_bytes());
    h.update(b"\n");
    h.update(terms.sold_on.to_string().as_bytes());
    h.update(b"\n");
    h.update(terms.price_bps.get().to_string().as_bytes());
    for id in ids {
        h.update(b"\n");
        h.update(id.as_bytes());
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("DS-{}-{hex}", terms.sold_on)
}

/// Prices the tape's loans on the sale date: every loan must still be for sale on that date
/// (the same exclusions as the tape; the first refusal names the loan and its reasons), its
/// face value is its outstanding balance that day, and price and loss follow
/// (`arrears_engine::sale::price_loan`). Pure.
pub fn price_sale(
    portfolio: &Portfolio,
    lifecycle: &Lifecycle,
    config: &Config,
    loan_ids: &[String],
    terms: &SaleTerms,
) -> Result<NewDebtSale, SaleError> {
    if terms.buyer.trim().is_empty() {
        return Err(SaleError::NoBuyer);
    }
    if loan_ids.is_empty() {
        return Err(SaleError::Empty);
    }
    let all = tape(
        portfolio,
        lifecycle,
        config,
        terms.sold_on,
        &TapeFilter::default(),
    )?;
    let ix: HashMap<&str, usize> = portfolio
        .loans
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.as_str(), i))
        .collect();
    let rows: HashMap<u32, &arrears_engine::sale::TapeRow> =
        all.rows.iter().map(|r| (r.loan, r)).collect();
    let excluded: HashMap<u32, &Vec<Exclusion>> =
        all.excluded_loans.iter().map(|(i, r)| (*i, r)).collect();
    let mut loans = Vec::with_capacity(loan_ids.len());
    for id in loan_ids {
        let i = *ix
            .get(id.as_str())
            .ok_or_else(|| SaleError::UnknownLoan(id.clone()))?;
        let Some(r) = rows.get(&(i as u32)) else {
            return Err(SaleError::NotForSale {
                loan: id.clone(),
                on: terms.sold_on,
                reasons: excluded
                    .get(&(i as u32))
                    .map(|r| r.to_vec())
                    .unwrap_or_default(),
            });
        };
        let l = &portfolio.loans[i];
        let p = arrears_engine::sale::price_loan(r.outstanding_minor, terms.price_bps);
        loans.push(NewSaleLoan {
            loan_id: id.clone(),
            borrower_id: portfolio
                .borrower_of(l)
                .map(|b| b.id.as_str().to_owned())
                .unwrap_or_default(),
            currency: l.currency.as_str().to_owned(),
            principal_minor: r.principal_minor,
            interest_minor: r.interest_minor,
            fee_minor: r.fee_minor,
            penalty_minor: r.penalty_minor,
            face_minor: p.face_minor,
            price_minor: p.price_minor,
            loss_minor: p.loss_minor,
        });
    }
    loans.sort_by(|a, b| a.loan_id.cmp(&b.loan_id));
    let sold_at = arrears_engine::sale::end_of_day(
        terms.sold_on.yesterday().unwrap_or(terms.sold_on),
        config,
    )
    .ok_or_else(|| SaleError::Run(format!("{} has no first instant", terms.sold_on)))?;
    Ok(NewDebtSale {
        sale_id: sale_id(terms, loan_ids),
        buyer: terms.buyer.trim().to_owned(),
        sold_on: terms.sold_on,
        sold_at,
        price_bps: terms.price_bps.get(),
        recorded_by: terms.recorded_by.clone(),
        loans,
    })
}

/// A sale's totals per currency: sums of the per-loan figures (the price is rounded once per
/// loan; the total price is the sum of those prices).
pub fn totals(sale: &NewDebtSale) -> BTreeMap<String, SaleTotals> {
    let mut out: BTreeMap<String, SaleTotals> = BTreeMap::new();
    for l in &sale.loans {
        let t = out.entry(l.currency.clone()).or_default();
        t.loans += 1;
        t.face_minor += i128::from(l.face_minor);
        t.price_minor += i128::from(l.price_minor);
        t.loss_minor += i128::from(l.loss_minor);
    }
    out
}

/// The `sales` lifecycle rows of a sale (one per loan), as a folder's `sales.csv` holds them.
pub fn lifecycle_rows(
    sale: &NewDebtSale,
) -> Result<Vec<arrears_domain::lifecycle::SaleRow>, SaleError> {
    sale.loans
        .iter()
        .map(|l| {
            Ok(arrears_domain::lifecycle::SaleRow {
                sale_id: arrears_store::lifecycle_sale_id(&sale.sale_id, &l.loan_id).into(),
                loan_id: arrears_domain::types::LoanId::parse("loan_id", &l.loan_id)
                    .map_err(|_| SaleError::UnknownLoan(l.loan_id.clone()))?,
                buyer: sale.buyer.as_str().into(),
                sold_at: sale.sold_at,
            })
        })
        .collect()
}

/// The sale of this id as the store holds it, with its loans and their figures (None when
/// it is not stored): a sale given again is answered from what was recorded, never priced
/// again (its loans are sold by then).
pub async fn stored(store: &Store, sale_id: &str) -> Result<Option<NewDebtSale>, SaleError> {
    let Some(s) = store.debt_sale(sale_id).await? else {
        return Ok(None);
    };
    let loans = store.debt_sale_loans(sale_id).await?;
    Ok(Some(NewDebtSale {
        sale_id: s.sale_id,
        buyer: s.buyer,
        sold_on: s.sold_on,
        sold_at: s.sold_at,
        price_bps: s.price_bps,
        recorded_by: String::new(),
        loans,
    }))
}

/// Whether a folder's lifecycle records hold this sale already (its `sales` rows).
pub fn in_lifecycle(lifecycle: &Lifecycle, sale_id: &str) -> bool {
    let prefix = format!("{sale_id}/");
    lifecycle
        .sales
        .iter()
        .any(|s| s.sale_id.starts_with(prefix.as_str()))
}

/// Records a priced sale in the store (idempotent: the same sale again is `AlreadyRecorded`).
pub async fn record(store: &Store, sale: &NewDebtSale) -> Result<SaleRecorded, SaleError> {
    Ok(store.record_debt_sale(sale).await?)
}

/// What a notice is signed over; the signer returns the verification code to print in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    pub lender: String,
    pub borrower_id: String,
    pub loan_id: String,
    pub channel: String,
    pub issued_at: Timestamp,
}

/// The lender's signature over the assignment notices (the CLI's is `arrears-evidence` with
/// the lender's key, the signed message going to the audit log).
pub trait NoticeSigner {
    /// The verification code of the message about to be written.
    fn code(&mut self, d: &NoticeDraft) -> String;
    /// The message with that code was queued with `text`: sign it (kept for the audit log).
    fn signed(&mut self, d: &NoticeDraft, text: &str);
}

/// What queueing a sale's assignment notices did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeReport {
    /// Borrowers whose notice was queued now, and those queued before (same idempotency key).
    pub queued: Vec<(String, i64)>,
    pub already: Vec<(String, i64)>,
    /// Borrowers whose notice the rules refused, with the rule ids.
    pub refused: Vec<(String, Vec<&'static str>)>,
    /// Borrowers with neither e-mail nor phone on record (a letter is then the lender's).
    pub no_target: Vec<String>,
}

/// The text of an assignment notice, naming the buyer, the date and the loans.
pub fn notice_text(
    language: Language,
    lender: &str,
    buyer: &str,
    sold_on: Date,
    loans: &[&str],
    code: &str,
) -> String {
    let ids = loans.join(", ");
    let opt_out = arrears_strategy::opt_out_text(language);
    match language {
        Language::ZhCn => format!(
            "【{lender}】债权转让通知：自{sold_on}起，您的借款{ids}已转让给{buyer}，您所欠金额不变，今后请与{buyer}联系。{lender}不再就该借款联系您。验证码{code}。{opt_out}"
        ),
        _ => format!(
            "{lender}: Notice of assignment. From {sold_on} your loan {ids} belongs to {buyer}; what you owe is unchanged, and {buyer} will contact you about it. {lender} will not contact you about it again. Code {code}. {opt_out}"
        ),
    }
}

/// Queues the one assignment notice per borrower of a stored sale: to the borrower's own
/// e-mail (else phone), naming the buyer, on the borrower's first loan of the sale, signed
/// by `signer`, decided by the compliance engine at `max(now, sold_at)` (once more at the
/// earliest instant it names when it only has to wait) and queued under the key
/// `assignment:<sale>:<borrower>`, so running it again queues nothing twice.
pub async fn queue_assignment_notices(
    store: &Store,
    sale_id: &str,
    packs: &PackSet,
    lender: &str,
    now: Timestamp,
    signer: &mut dyn NoticeSigner,
) -> Result<NoticeReport, SaleError> {
    let sale = store
        .debt_sale(sale_id)
        .await?
        .ok_or_else(|| SaleError::NoSuchSale(sale_id.to_owned()))?;
    let loans = store.debt_sale_loans(sale_id).await?;
    let mut by_borrower: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in &loans {
        by_borrower
            .entry(l.borrower_id.as_str())
            .or_default()
            .push(l.loan_id.as_str());
    }
    let mut report = NoticeReport::default();
    for (borrower, ids) in by_borrower {
        let Some(bc) = store.borrower_contacts(borrower).await? else {
            report.no_target.push(borrower.to_owned());
            continue;
        };
        let b = &bc.borrower;
        let target = b
            .email
            .as_deref()
            .and_then(|e| Target::email(e).ok())
            .or_else(|| b.phone.as_deref().and_then(|p| Target::phone(p).ok()));
        let Some(target) = target else {
            report.no_target.push(borrower.to_owned());
            continue;
        };
        let channel = match target {
            Target::Email(_) => arrears_policy::Channel::Email,
            Target::Phone(_) => arrears_policy::Channel::Sms,
        };
        let language = Language::of_borrower(b.language.as_deref(), &b.jurisdiction);
        let ctx = from_store(&bc);
        let first_loan = ids.first().copied().unwrap_or_default();
        let mut at = now.max(sale.sold_at);
        let mut decided = None;
        for _ in 0..2 {
            let draft = NoticeDraft {
                lender: lender.to_owned(),
                borrower_id: borrower.to_owned(),
                loan_id: first_loan.to_owned(),
                channel: channel.code().to_owned(),
                issued_at: at,
            };
            let code = signer.code(&draft);
            let text = notice_text(language, lender, &sale.buyer, sale.sold_on, &ids, &code);
            let message = Message::new(&text, language, lender, &code);
            let mut p = ProposedContact::new(
                ctx.facts.borrower_id.clone(),
                channel,
                arrears_policy::Party::Borrower,
                Some(target.clone()),
            );
            p.loan_id = arrears_domain::types::LoanId::parse("loan_id", first_loan).ok();
            p.purpose = arrears_policy::Purpose::Notice(arrears_policy::NoticeKind::Assignment);
            p.message = Some(message.clone());
            match crate::decide(&p, &ctx, at, packs) {
                Decision::Allow(permitted) => {
                    decided = Some(Ok((permitted, message, draft, text)));
                    break;
                }
                Decision::Deny {
                    rule_ids,
                    earliest_allowed,
                } => match earliest_allowed {
                    Some(t) if t > at && decided.is_none() => {
                        at = t;
                        decided = Some(Err(rule_ids));
                    }
                    _ => {
                        decided = Some(Err(rule_ids));
                        break;
                    }
                },
            }
        }
        let (permitted, message, draft, text) = match decided {
            Some(Ok(x)) => x,
            Some(Err(rules)) => {
                report.refused.push((
                    borrower.to_owned(),
                    rules.iter().map(|r| r.as_str()).collect(),
                ));
                continue;
            }
            None => continue,
        };
        let m = NewOutboxMessage {
            idempotency_key: format!("assignment:{sale_id}:{borrower}"),
            borrower_id: borrower.to_owned(),
            loan_id: Some(first_loan.to_owned()),
            channel: channel.code().to_owned(),
            party: "borrower".to_owned(),
            target: Some(target.as_str().to_owned()),
            purpose: permitted.purpose().to_string(),
            agency_id: None,
            language: language.tag().to_owned(),
            lender_name: lender.trim().to_owned(),
            verification_code: message.verification_code.clone(),
            subject: Some(match language {
                Language::ZhCn => "债权转让通知".to_owned(),
                _ => "Notice of assignment".to_owned(),
            }),
            body: permitted.message_text().unwrap_or(&text).to_owned(),
            decided_at: permitted.at(),
            jurisdiction: permitted.jurisdiction().as_str().to_owned(),
            pack_version: permitted.pack_version().to_owned(),
            policy: permitted.policy().map(str::to_owned),
            enqueued_at: now,
            not_before: permitted.at(),
            expires_at: None,
        };
        match store.enqueue(&m).await? {
            Enqueued::Queued(id) => {
                signer.signed(&draft, &m.body);
                report.queued.push((borrower.to_owned(), id));
            }
            Enqueued::AlreadyQueued(id) => report.already.push((borrower.to_owned(), id)),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sale_id_depends_on_the_terms_and_the_set_of_loans_not_their_order() {
        let t = SaleTerms {
            buyer: "Buyer Co".into(),
            price_bps: PriceBps::new(1_500).unwrap(),
            sold_on: "2026-12-01".parse().unwrap(),
            recorded_by: "cli".into(),
        };
        let a = sale_id(&t, &["L2".into(), "L1".into()]);
        assert_eq!(a, sale_id(&t, &["L1".into(), "L2".into()]));
        assert!(a.starts_with("DS-2026-12-01-"), "{a}");
        assert_ne!(a, sale_id(&t, &["L1".into()]));
        let other = SaleTerms {
            price_bps: PriceBps::new(1_501).unwrap(),
            ..t.clone()
        };
        assert_ne!(a, sale_id(&other, &["L1".into(), "L2".into()]));
    }
}
