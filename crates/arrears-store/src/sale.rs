//! Debt sales (migration 0018, `docs/sale.md`): a sale and each loan sold with its balances,
//! face value, price and loss, recorded in one transaction with each loan's `sales`
//! lifecycle record (ALL-SOLD) and the loan's status set to `sold`. The figures are the
//! caller's (`arrears_engine::sale`); the database checks that face = the components' sum
//! and loss = face − price on every row, and that a loan is sold once.

use crate::lifecycle::{Applied, LifecycleError, apply_sale};
use crate::schema::{date_text, int, text, ts};
use crate::service::lock_borrower;
use crate::sql::{Tx, Ty};
use crate::{Store, StoreError};
use arrears_domain::lifecycle::SaleRow;
use arrears_domain::types::LoanId;
use jiff::Timestamp;
use jiff::civil::Date;

/// One loan of a sale, priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSaleLoan {
    pub loan_id: String,
    pub borrower_id: String,
    pub currency: String,
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub fee_minor: i64,
    pub penalty_minor: i64,
    pub face_minor: i64,
    pub price_minor: i64,
    pub loss_minor: i64,
}

/// A sale to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDebtSale {
    pub sale_id: String,
    pub buyer: String,
    pub sold_on: Date,
    /// The first instant of `sold_on` in the business time zone: the loans are the buyer's
    /// from then (the `sales` records' `sold_at`).
    pub sold_at: Timestamp,
    pub price_bps: u16,
    pub recorded_by: String,
    pub loans: Vec<NewSaleLoan>,
}

/// What [`Store::record_debt_sale`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleRecorded {
    Recorded,
    /// The same sale (id, buyer, date, price, loans) is stored already: nothing written.
    AlreadyRecorded,
}

/// The `sales` lifecycle record id of a loan in a sale.
pub fn lifecycle_sale_id(sale_id: &str, loan_id: &str) -> String {
    format!("{sale_id}/{loan_id}")
}

impl Store {
    /// Records a sale in one transaction, every borrower of its loans locked (in borrower id
    /// order): the sale, each loan with its figures and its `sales` record, the loans'
    /// status `sold`. A loan with a sale on record already, an unknown loan or a loan of
    /// another borrower than given refuses the whole sale; so does a stored sale of the
    /// same id with other content.
    pub async fn record_debt_sale(&self, s: &NewDebtSale) -> Result<SaleRecorded, LifecycleError> {
        if s.loans.is_empty() {
            return Err(LifecycleError::Invalid(format!(
                "sale {:?} has no loans",
                s.sale_id
            )));
        }
        let mut tx = self.begin().await?;
        if let Some(r) = stored_sale(&mut tx, s).await? {
            return r;
        }
        let mut borrowers: Vec<&str> = s.loans.iter().map(|l| l.borrower_id.as_str()).collect();
        borrowers.sort_unstable();
        borrowers.dedup();
        for b in borrowers {
            if !lock_borrower(&mut tx, b).await? {
                return Err(LifecycleError::UnknownBorrower(b.to_owned()));
            }
        }
        let d = tx.dialect();
        tx.exec(
            "recording a debt sale",
            &format!(
                "INSERT INTO debt_sales (sale_id, buyer, sold_on, sold_at, price_bps, loans, recorded_by) \
                 VALUES ($1, $2, {}, {}, $5, $6, $7)",
                d.param(3, Ty::Date),
                d.param(4, Ty::Ts)
            ),
            &[
                text(&s.sale_id),
                text(s.buyer.trim()),
                text(&date_text(s.sold_on)),
                ts(s.sold_at),
                int(i64::from(s.price_bps)),
                int(i64::try_from(s.loans.len()).unwrap_or(i64::MAX)),
                text(&s.recorded_by),
            ],
        )
        .await?;
        for l in &s.loans {
            let owner = tx
                .fetch_all(
                    "reading a loan's borrower",
                    "SELECT borrower_id FROM loans WHERE loan_id = $1",
                    &[text(&l.loan_id)],
                    &[Ty::Text],
                )
                .await?;
            match owner.first().and_then(|r| r[0].text()) {
                None => return Err(LifecycleError::UnknownLoan(l.loan_id.clone())),
                Some(b) if b != l.borrower_id => {
                    return Err(LifecycleError::LoanOfAnotherBorrower {
                        loan: l.loan_id.clone(),
                        borrower: l.borrower_id.clone(),
                    });
                }
                Some(_) => {}
            }
            let sold = tx
                .fetch_all(
                    "reading a loan's sales",
                    "SELECT sale_id FROM sales WHERE loan_id = $1",
                    &[text(&l.loan_id)],
                    &[Ty::Text],
                )
                .await?;
            if let Some(r) = sold.first() {
                return Err(LifecycleError::Invalid(format!(
                    "loan {:?} was sold before (sale {:?}); a loan is sold once",
                    l.loan_id,
                    r[0].text().unwrap_or("")
                )));
            }
            let loan_id = LoanId::parse("loan_id", &l.loan_id)
                .map_err(|e| LifecycleError::Invalid(e.detail))?;
            let record = SaleRow {
                sale_id: lifecycle_sale_id(&s.sale_id, &l.loan_id).into(),
                loan_id,
                buyer: s.buyer.trim().into(),
                sold_at: s.sold_at,
            };
            match apply_sale(&mut tx, &record, Some(u32::from(s.price_bps)), true).await? {
                Applied::Inserted => {}
                Applied::Rejected(e) => return Err(e),
                Applied::Conflict(detail) => {
                    return Err(LifecycleError::Conflict {
                        what: "sale",
                        id: record.sale_id.to_string(),
                        detail,
                    });
                }
                Applied::Updated | Applied::Unchanged => {
                    return Err(LifecycleError::Invalid(format!(
                        "sale record {:?} exists already",
                        record.sale_id
                    )));
                }
            }
            tx.exec(
                "recording a loan sold",
                "INSERT INTO debt_sale_loans (sale_id, loan_id, borrower_id, currency, \
                 principal_minor, interest_minor, fee_minor, penalty_minor, face_minor, \
                 price_minor, loss_minor, lifecycle_sale_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    text(&s.sale_id),
                    text(&l.loan_id),
                    text(&l.borrower_id),
                    text(&l.currency),
                    int(l.principal_minor),
                    int(l.interest_minor),
                    int(l.fee_minor),
                    int(l.penalty_minor),
                    int(l.face_minor),
                    int(l.price_minor),
                    int(l.loss_minor),
                    text(&record.sale_id),
                ],
            )
            .await?;
            tx.exec(
                "marking a loan sold",
                "UPDATE loans SET status = 'sold' WHERE loan_id = $1",
                &[text(&l.loan_id)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(SaleRecorded::Recorded)
    }

    /// The loans of a stored sale with their figures, in loan id order (empty when there is
    /// no such sale).
    pub async fn debt_sale_loans(&self, sale_id: &str) -> Result<Vec<NewSaleLoan>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                "reading a sale's loans",
                "SELECT loan_id, borrower_id, currency, principal_minor, interest_minor, \
                 fee_minor, penalty_minor, face_minor, price_minor, loss_minor \
                 FROM debt_sale_loans WHERE sale_id = $1 ORDER BY loan_id",
                &[text(sale_id)],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                    Ty::Int,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| NewSaleLoan {
                loan_id: r[0].text().unwrap_or_default().to_owned(),
                borrower_id: r[1].text().unwrap_or_default().to_owned(),
                currency: r[2].text().unwrap_or_default().to_owned(),
                principal_minor: r[3].int().unwrap_or_default(),
                interest_minor: r[4].int().unwrap_or_default(),
                fee_minor: r[5].int().unwrap_or_default(),
                penalty_minor: r[6].int().unwrap_or_default(),
                face_minor: r[7].int().unwrap_or_default(),
                price_minor: r[8].int().unwrap_or_default(),
                loss_minor: r[9].int().unwrap_or_default(),
            })
            .collect())
    }
}

/// The answer when a sale of this id is stored: the same sale is `AlreadyRecorded`, another
/// is a conflict. None when it is not stored.
async fn stored_sale(
    tx: &mut Tx,
    s: &NewDebtSale,
) -> Result<Option<Result<SaleRecorded, LifecycleError>>, StoreError> {
    let d = tx.dialect();
    let rows = tx
        .fetch_all(
            "reading a debt sale",
            &format!(
                "SELECT buyer, {}, CAST(price_bps AS BIGINT), CAST(loans AS BIGINT) FROM debt_sales WHERE sale_id = $1",
                d.select("sold_on", Ty::Date)
            ),
            &[text(&s.sale_id)],
            &[Ty::Text, Ty::Text, Ty::Int, Ty::Int],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let mut differs = Vec::new();
    if r[0].text() != Some(s.buyer.trim()) {
        differs.push("buyer");
    }
    if r[1].text() != Some(date_text(s.sold_on).as_str()) {
        differs.push("date");
    }
    if r[2].int() != Some(i64::from(s.price_bps)) {
        differs.push("price_bps");
    }
    if r[3].int() != i64::try_from(s.loans.len()).ok() {
        differs.push("loans");
    }
    Ok(Some(if differs.is_empty() {
        Ok(SaleRecorded::AlreadyRecorded)
    } else {
        Err(LifecycleError::Conflict {
            what: "debt sale",
            id: s.sale_id.clone(),
            detail: differs.join(", "),
        })
    }))
}

/// A stored sale's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDebtSale {
    pub sale_id: String,
    pub buyer: String,
    pub sold_on: Date,
    pub sold_at: Timestamp,
    pub price_bps: u16,
    pub loans: u64,
}

impl Store {
    /// A stored sale's terms, or None.
    pub async fn debt_sale(&self, sale_id: &str) -> Result<Option<StoredDebtSale>, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let rows = tx
            .fetch_all(
                "reading a debt sale",
                &format!(
                    "SELECT buyer, {}, {}, CAST(price_bps AS BIGINT), CAST(loans AS BIGINT) \
                     FROM debt_sales WHERE sale_id = $1",
                    d.select("sold_on", Ty::Date),
                    d.select("sold_at", Ty::Ts)
                ),
                &[text(sale_id)],
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Int, Ty::Int],
            )
            .await?;
        tx.commit().await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let bad = |column: &'static str| StoreError::Corrupt {
            table: "debt_sales",
            key: sale_id.to_owned(),
            column,
            detail: "does not read back".to_owned(),
        };
        Ok(Some(StoredDebtSale {
            sale_id: sale_id.to_owned(),
            buyer: r[0].text().unwrap_or_default().to_owned(),
            sold_on: r[1]
                .text()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("sold_on"))?,
            sold_at: r[2]
                .text()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("sold_at"))?,
            price_bps: r[3]
                .int()
                .and_then(|v| u16::try_from(v).ok())
                .ok_or_else(|| bad("price_bps"))?,
            loans: r[4]
                .int()
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or_default(),
        }))
    }
}
