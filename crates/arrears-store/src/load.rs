//! Rebuilding the domain `Portfolio` from the store for a daily run. Every stored value is
//! parsed back into its domain type, and the rows go through the same `PortfolioBuilder` as
//! a file read, so the portfolio has the same invariants (a stored row it would reject is an
//! error here: the store's contents were checked on import and are checked again on load).

use crate::schema::{self, TableDef};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use arrears_domain::parse;
use arrears_domain::portfolio::{ContactRow, InstallmentRow, LoanRow, PaymentRow, PromiseRow};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_domain::{
    BorrowerRow, Bps, Currency, FieldError, Jurisdiction, LoanStatus, Minor, PaymentKind,
    Portfolio, PortfolioBuilder, RowRef, Severity, Table, TimeZoneName,
};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::HashMap;

/// Reads one stored row's cells as domain values; errors name the table, key and column.
struct Cells<'a> {
    table: &'static str,
    def: &'static TableDef,
    r: &'a [Cell],
}

impl Cells<'_> {
    fn pos(&self, col: &'static str) -> usize {
        self.def
            .cols
            .iter()
            .position(|c| c.name == col)
            .unwrap_or(usize::MAX)
    }
    fn key(&self) -> String {
        self.r
            .first()
            .and_then(Cell::text)
            .unwrap_or("?")
            .to_owned()
    }
    fn bad(&self, column: &'static str, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            key: self.key(),
            column,
            detail: detail.into(),
        }
    }
    fn field(&self, e: FieldError) -> StoreError {
        self.bad(e.column, e.detail)
    }
    fn opt_text(&self, col: &'static str) -> Option<&str> {
        self.r.get(self.pos(col)).and_then(Cell::text)
    }
    fn text(&self, col: &'static str) -> Result<&str, StoreError> {
        self.opt_text(col).ok_or_else(|| self.bad(col, "empty"))
    }
    fn int(&self, col: &'static str) -> Result<i64, StoreError> {
        self.r
            .get(self.pos(col))
            .and_then(Cell::int)
            .ok_or_else(|| self.bad(col, "empty"))
    }
    fn boolean(&self, col: &'static str) -> Result<bool, StoreError> {
        self.r
            .get(self.pos(col))
            .and_then(Cell::boolean)
            .ok_or_else(|| self.bad(col, "empty"))
    }
    fn opt_date(&self, col: &'static str) -> Result<Option<Date>, StoreError> {
        self.opt_text(col)
            .map(|s| parse::date(col, s).map_err(|e| self.field(e)))
            .transpose()
    }
    fn date(&self, col: &'static str) -> Result<Date, StoreError> {
        self.opt_date(col)?.ok_or_else(|| self.bad(col, "empty"))
    }
    fn ts(&self, col: &'static str) -> Result<Timestamp, StoreError> {
        let s = self.text(col)?;
        s.parse::<Timestamp>()
            .map_err(|e| self.bad(col, format!("{s:?}: {e}")))
    }
    fn boxed(&self, col: &'static str) -> Option<Box<str>> {
        self.opt_text(col).map(Into::into)
    }
}

/// Every stored row of `t`, dates and instants read back as text, in storage order: no
/// ORDER BY over the whole table, which spares sorting millions of rows. The builder orders
/// what needs an order itself (installments by loan and seq, payments grouped by loan,
/// reversals by instant), and stored rows hold no duplicate ids whose order would decide
/// which one is kept.
async fn load_table(
    tx: &mut crate::sql::Tx,
    what: &str,
    t: &TableDef,
    f: impl FnMut(&[Cell]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let cols: Vec<(&str, Ty)> = t.cols.iter().map(|c| (c.name, c.ty)).collect();
    let key = t.without_rowid().then_some(t.key);
    tx.fetch_table(what, t.name, &cols, key, f).await
}

impl Store {
    /// The stored portfolio, built and checked by `PortfolioBuilder` as a file read is.
    /// All tables are read in one consistent snapshot of the store.
    pub async fn load_portfolio(&self) -> Result<Portfolio, StoreError> {
        let mut tx = self.begin_read().await?;
        let mut b = PortfolioBuilder::new();
        let mut zones: HashMap<String, TimeZoneName> = HashMap::new();
        let mut zone = |c: &Cells<'_>, col: &'static str, s: &str| {
            if let Some(z) = zones.get(s) {
                return Ok(z.clone());
            }
            let z = TimeZoneName::parse(col, s).map_err(|e| c.field(e))?;
            zones.insert(s.to_owned(), z.clone());
            Ok::<_, StoreError>(z)
        };

        let mut line = 0u64;
        load_table(&mut tx, "loading borrowers", &schema::BORROWERS, |r| {
            line += 1;
            let c = Cells {
                table: "borrowers",
                def: &schema::BORROWERS,
                r,
            };
            let at = RowRef {
                table: Table::Borrowers,
                line,
            };
            let id =
                BorrowerId::parse("borrower_id", c.text("borrower_id")?).map_err(|e| c.field(e))?;
            let phone_timezone = match c.opt_text("phone_timezone") {
                Some(s) => Some(zone(&c, "phone_timezone", s)?),
                None => None,
            };
            let row = BorrowerRow {
                name: c.text("name")?.into(),
                phone: c.boxed("phone"),
                email: c.boxed("email"),
                timezone: zone(&c, "timezone", c.text("timezone")?)?,
                jurisdiction: Jurisdiction::parse("jurisdiction", c.text("jurisdiction")?)
                    .map_err(|e| c.field(e))?,
                language: c.boxed("language"),
                deceased: c.boolean("deceased")?,
                bankrupt: c.boolean("bankrupt")?,
                cease_contact: c.boolean("cease_contact")?,
                phone_timezone,
                dispute_open: c.boolean("dispute_open")?,
                hardship: c.boolean("hardship")?,
                breathing_space_until: c.opt_date("breathing_space_until")?,
                attorney_phone: c.boxed("attorney_phone"),
                attorney_email: c.boxed("attorney_email"),
                id,
            };
            let claim = b
                .claim_borrower(at, row.id.as_str())
                .map_err(|_| c.bad("borrower_id", "stored twice"))?;
            b.add_borrower(claim, row);
            Ok(())
        })
        .await?;

        // A recorded write-off (the work API's `write_offs`) makes an active loan written off:
        // the run and the plan see the status the lender's approval gave it.
        let written_off: std::collections::HashSet<String> = tx
            .fetch_all(
                "reading the written-off loans",
                "SELECT DISTINCT loan_id FROM write_offs",
                &[],
                &[Ty::Text],
            )
            .await?
            .into_iter()
            .filter_map(|r| r.first().and_then(Cell::text).map(str::to_owned))
            .collect();
        let mut line = 0u64;
        load_table(&mut tx, "loading loans", &schema::LOANS, |r| {
            line += 1;
            let c = Cells {
                table: "loans",
                def: &schema::LOANS,
                r,
            };
            let at = RowRef {
                table: Table::Loans,
                line,
            };
            let f = |e| c.field(e);
            let row = LoanRow {
                id: LoanId::parse("loan_id", c.text("loan_id")?).map_err(f)?,
                borrower_id: BorrowerId::parse("borrower_id", c.text("borrower_id")?).map_err(f)?,
                product: c.text("product")?.into(),
                currency: Currency::parse("currency", c.text("currency")?).map_err(f)?,
                principal: Minor::positive("principal_minor", c.int("principal_minor")?)
                    .map_err(f)?,
                annual_rate: Bps::parse("annual_rate_bps", c.int("annual_rate_bps")?).map_err(f)?,
                penalty_rate: Bps::parse("penalty_rate_bps", c.int("penalty_rate_bps")?)
                    .map_err(f)?,
                disbursed_on: c.date("disbursed_on")?,
                status: LoanStatus::parse("status", c.text("status")?).map_err(f)?,
            };
            let mut row = row;
            if row.status == LoanStatus::Active && written_off.contains(row.id.as_str()) {
                row.status = LoanStatus::WrittenOff;
            }
            let claim = b
                .claim_loan(at, row.id.as_str())
                .map_err(|_| c.bad("loan_id", "stored twice"))?;
            b.add_loan(at, claim, row);
            Ok(())
        })
        .await?;

        let mut line = 0u64;
        load_table(
            &mut tx,
            "loading installments",
            &schema::INSTALLMENTS,
            |r| {
                line += 1;
                let c = Cells {
                    table: "installments",
                    def: &schema::INSTALLMENTS,
                    r,
                };
                let f = |e| c.field(e);
                let loan_id = c.text("loan_id")?;
                let seq = u32::try_from(c.int("seq")?).map_err(|_| c.bad("seq", "out of range"))?;
                let row = InstallmentRow {
                    due_date: c.date("due_date")?,
                    principal: Minor::non_negative("principal_minor", c.int("principal_minor")?)
                        .map_err(f)?,
                    interest: Minor::non_negative("interest_minor", c.int("interest_minor")?)
                        .map_err(f)?,
                    fee: Minor::non_negative("fee_minor", c.int("fee_minor")?).map_err(f)?,
                };
                let loan = b.loan_index(loan_id);
                b.add_installment(
                    RowRef {
                        table: Table::Installments,
                        line,
                    },
                    loan_id,
                    loan,
                    seq,
                    Ok(row),
                );
                Ok(())
            },
        )
        .await?;

        let mut line = 0u64;
        load_table(&mut tx, "loading payments", &schema::PAYMENTS, |r| {
            line += 1;
            let c = Cells {
                table: "payments",
                def: &schema::PAYMENTS,
                r,
            };
            let f = |e| c.field(e);
            let at = RowRef {
                table: Table::Payments,
                line,
            };
            let id = c.text("payment_id")?;
            let loan = b
                .loan_index(c.text("loan_id")?)
                .ok_or_else(|| c.bad("loan_id", "no such loan"))?;
            let row = PaymentRow {
                loan,
                received_at: c.ts("received_at")?,
                amount: Minor::positive("amount_minor", c.int("amount_minor")?).map_err(f)?,
                kind: PaymentKind::parse("kind", c.text("kind")?).map_err(f)?,
                reverses: c.boxed("reverses"),
            };
            let claim = b
                .claim_payment(at, id)
                .map_err(|_| c.bad("payment_id", "stored twice"))?;
            b.add_payment(at, claim, row);
            Ok(())
        })
        .await?;

        let mut line = 0u64;
        load_table(&mut tx, "loading contacts", &schema::CONTACTS, |r| {
            line += 1;
            let c = Cells {
                table: "contacts",
                def: &schema::CONTACTS,
                r,
            };
            let at = RowRef {
                table: Table::Contacts,
                line,
            };
            let borrower = b
                .borrower_index(c.text("borrower_id")?)
                .ok_or_else(|| c.bad("borrower_id", "no such borrower"))?;
            let loan = match c.opt_text("loan_id") {
                Some(l) => Some(
                    b.loan_index(l)
                        .ok_or_else(|| c.bad("loan_id", "no such loan"))?,
                ),
                None => None,
            };
            let row = ContactRow {
                id: c.text("contact_id")?.into(),
                borrower,
                loan,
                channel: c.text("channel")?.into(),
                direction: c.text("direction")?.into(),
                at: c.ts("at")?,
                outcome: c.text("outcome")?.into(),
                target: c.boxed("target"),
                party: c.boxed("party"),
                agency_id: c.boxed("agency_id"),
            };
            b.claim_contact(at, &row.id)
                .map_err(|_| c.bad("contact_id", "stored twice"))?;
            b.add_contact(at, row);
            Ok(())
        })
        .await?;

        // A cancelled promise (migration 0011) is neither kept nor broken: the run and the
        // planner do not see it.
        let cancelled: std::collections::HashSet<String> = tx
            .fetch_all(
                "reading cancelled promises",
                "SELECT promise_id FROM promise_cancellations",
                &[],
                &[Ty::Text],
            )
            .await?
            .iter()
            .filter_map(|r| r[0].text().map(str::to_owned))
            .collect();
        let mut line = 0u64;
        load_table(&mut tx, "loading promises", &schema::PROMISES, |r| {
            line += 1;
            let c = Cells {
                table: "promises",
                def: &schema::PROMISES,
                r,
            };
            if !cancelled.is_empty() && cancelled.contains(c.text("promise_id")?) {
                return Ok(());
            }
            let at = RowRef {
                table: Table::Promises,
                line,
            };
            let loan = b
                .loan_index(c.text("loan_id")?)
                .ok_or_else(|| c.bad("loan_id", "no such loan"))?;
            let row = PromiseRow {
                id: c.text("promise_id")?.into(),
                loan,
                created_at: c.ts("created_at")?,
                amount: Minor::positive("amount_minor", c.int("amount_minor")?)
                    .map_err(|e| c.field(e))?,
                due_date: c.date("due_date")?,
            };
            b.claim_promise(at, &row.id)
                .map_err(|_| c.bad("promise_id", "stored twice"))?;
            b.add_promise(at, row);
            Ok(())
        })
        .await?;
        tx.commit().await?;

        let (portfolio, rejects) = b.finish();
        if let Some(r) = rejects.iter().find(|r| r.severity == Severity::Error) {
            return Err(StoreError::Internal(format!(
                "the stored portfolio breaks the portfolio rules ({} rows): first, {r}",
                rejects.len()
            )));
        }
        Ok(portfolio)
    }
}
