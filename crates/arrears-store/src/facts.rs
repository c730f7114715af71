//! What a cache of borrower facts needs from the store: every borrower's facts in one pass
//! (to fill it), and on PostgreSQL the stream of changes to them (to keep it true).
//!
//! Migrations `0008_facts_notify`, `0009_facts_notify_per_statement` and `0010_lifecycle`
//! put triggers on every table a compliance check reads (`borrowers`, `loans`, `contacts`,
//! `payments`, `installments`, and the lifecycle tables: `notices`, `preferences`,
//! `payment_plans` and their instalments and statuses, `placements` and recalls, `sales`,
//! `credit_disputes` and resolutions, `legal_cases` and updates, `contact_persons` and
//! refusals): every insert, update or delete of a row sends `NOTIFY arrears_facts,
//! '<borrower_id>'` when its transaction commits (inserts and deletes once per borrower per
//! statement; a row that reaches its borrower through a loan, plan, placement, case, dispute
//! or person is joined to it; a contact also notifies every borrower whose phone or e-mail
//! is its target, whose per-number counts it changed), and a `TRUNCATE` sends `'*'`.
//! PostgreSQL delivers a notification to every listening session after the commit, in
//! commit order, whoever wrote (this server, another instance, an `arrears import`). A
//! listener that lost its connection cannot know what it missed, so a lost connection is
//! reported as [`FactsChange::All`].

use crate::lifecycle::{LifecycleParts, Scope, lifecycle_statement};
use crate::service::{
    BorrowerContacts, CONTACT_READ, attach_payments, borrower_row, borrower_select, borrower_types,
    contact_read, loan_facts, loan_payment, payment_cols, payments_of, stored_contact,
};
use crate::sql::{Tx, Ty};
use crate::{Pool, Store, StoreError};
use std::collections::HashMap;

/// The notification channel of migration `0008_facts_notify`.
pub const FACTS_CHANNEL: &str = "arrears_facts";

/// The per-change triggers on the tables a bulk load writes (migrations
/// `0008_facts_notify`, `0009_facts_notify_per_statement`, `0010_lifecycle`: inserts and
/// deletes notify once per statement, updates once per changed row), by table.
const ROW_TRIGGERS: [(&str, &str); 13] = [
    ("borrowers", "borrowers_facts_inserted"),
    ("borrowers", "borrowers_facts_deleted"),
    ("borrowers", "borrowers_facts_update"),
    ("loans", "loans_facts_inserted"),
    ("loans", "loans_facts_deleted"),
    ("loans", "loans_facts_update"),
    ("contacts", "contacts_facts_inserted"),
    ("contacts", "contacts_facts_deleted"),
    ("contacts", "contacts_facts_update"),
    ("payments", "payments_facts_inserted"),
    ("payments", "payments_facts_deleted"),
    ("installments", "installments_facts_inserted"),
    ("installments", "installments_facts_deleted"),
];

/// Inside a bulk load's transaction on PostgreSQL: turns the per-row notifications off
/// (transactional DDL: a failed or killed load leaves them on).
pub(crate) async fn hush_row_notifications(tx: &mut Tx) -> Result<(), StoreError> {
    for (table, trigger) in ROW_TRIGGERS {
        tx.exec(
            "pausing change notifications for the load",
            &format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"),
            &[],
        )
        .await?;
    }
    Ok(())
}

/// Turns them on again and tells every listener that anything may have changed (delivered
/// when the load commits, so no listener keeps what the load replaced).
pub(crate) async fn restore_row_notifications(tx: &mut Tx) -> Result<(), StoreError> {
    for (table, trigger) in ROW_TRIGGERS {
        tx.exec(
            "resuming change notifications",
            &format!("ALTER TABLE {table} ENABLE TRIGGER {trigger}"),
            &[],
        )
        .await?;
    }
    tx.fetch_all(
        "notifying the facts caches",
        &format!("SELECT CAST(1 AS BIGINT) FROM (SELECT pg_notify('{FACTS_CHANNEL}', '*')) n"),
        &[],
        &[Ty::Int],
    )
    .await?;
    Ok(())
}

/// A change to the facts of borrowers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactsChange {
    /// Something of this borrower's changed.
    Borrower(String),
    /// Anything may have changed (a truncate, or notifications were lost).
    All,
}

/// A listening session on PostgreSQL.
pub struct FactsWatch {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for FactsWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactsWatch").finish_non_exhaustive()
    }
}

impl FactsWatch {
    /// The next change. After a lost connection the listener reconnects (and listens again)
    /// on the following call; what happened in between is unknown, hence `All`.
    pub async fn next(&mut self) -> Result<FactsChange, StoreError> {
        match self.listener.try_recv().await {
            Ok(Some(n)) => Ok(match n.payload() {
                "*" => FactsChange::All,
                b => FactsChange::Borrower(b.to_owned()),
            }),
            Ok(None) => Ok(FactsChange::All),
            Err(source) => Err(StoreError::Db {
                what: "waiting for changes to borrowers' facts".into(),
                source,
            }),
        }
    }
}

impl Store {
    /// Starts listening for changes to borrowers' facts: `None` on SQLite, which has no
    /// notifications (an embedded store has one writer, the process that opened it).
    pub async fn watch_facts(&self) -> Result<Option<FactsWatch>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let err = |source| StoreError::Db {
            what: "listening for changes to borrowers' facts".into(),
            source,
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool)
            .await
            .map_err(err)?;
        listener.listen(FACTS_CHANNEL).await.map_err(err)?;
        Ok(Some(FactsWatch { listener }))
    }

    /// Every borrower's facts, loans, contacts and lifecycle records (what
    /// [`Store::borrower_contacts`] reads for one, other borrowers' contacts to a shared
    /// number or address included), read in one transaction (one snapshot on PostgreSQL)
    /// and handed to `f` borrower by borrower; the number of borrowers.
    pub async fn all_borrower_contacts(
        &self,
        mut f: impl FnMut(BorrowerContacts),
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let mut all: HashMap<String, (BorrowerContacts, LifecycleParts)> = HashMap::new();
        tx.fetch(
            "reading every borrower",
            &format!("SELECT {} FROM borrowers", borrower_select(d).join(", ")),
            &[],
            &borrower_types(),
            |r| {
                let b = borrower_row(r)?;
                all.insert(
                    b.id.as_str().to_owned(),
                    (BorrowerContacts::new(b), LifecycleParts::default()),
                );
                Ok(())
            },
        )
        .await?;
        // The loans with their first due date, aggregated once for all.
        tx.fetch(
            "reading every loan's borrower",
            &format!(
                "SELECT l.borrower_id, l.loan_id, {} FROM loans l \
                 LEFT JOIN (SELECT loan_id, MIN(due_date) AS m FROM installments \
                     GROUP BY loan_id) fd ON fd.loan_id = l.loan_id",
                d.select("fd.m", Ty::Date)
            ),
            &[],
            &[Ty::Text, Ty::Text, Ty::Text],
            |r| {
                let (Some(b), Some(l)) = (r[0].text(), r[1].text()) else {
                    return Ok(());
                };
                if let Some((bc, _)) = all.get_mut(b) {
                    let id = arrears_domain::types::LoanId::parse("loan_id", l).map_err(|e| {
                        StoreError::Corrupt {
                            table: "loans",
                            key: l.to_owned(),
                            column: "loan_id",
                            detail: e.detail,
                        }
                    })?;
                    bc.loans.push(loan_facts(id, &r[2..])?);
                }
                Ok(())
            },
        )
        .await?;
        let mut payments: HashMap<String, Vec<(jiff::Timestamp, i64)>> = HashMap::new();
        tx.fetch(
            "reading every payment",
            &format!(
                "SELECT p.loan_id, {} FROM {}",
                payment_cols(d),
                payments_of("1 = 1")
            ),
            &[],
            &[Ty::Text, Ty::Text, Ty::Text],
            |r| {
                let loan = r[0].text().unwrap_or_default();
                payments
                    .entry(loan.to_owned())
                    .or_default()
                    .push(loan_payment(loan, &r[1..])?);
                Ok(())
            },
        )
        .await?;
        let contact_cols = contact_read(d, "c").join(", ");
        let tys = vec![Ty::Text; CONTACT_READ.len() + 1];
        tx.fetch(
            "reading every contact",
            &format!("SELECT c.borrower_id, {contact_cols} FROM contacts c"),
            &[],
            &tys,
            |r| {
                let Some(b) = r[0].text() else { return Ok(()) };
                if let Some((bc, _)) = all.get_mut(b) {
                    bc.contacts.push(stored_contact(&r[1..])?);
                }
                Ok(())
            },
        )
        .await?;
        // Other borrowers' contacts to a borrower's phone or e-mail (as `c.target = phone OR
        // c.target = email` in the single read, as two disjoint equi-joins).
        let shared = [
            "c.target = b.phone",
            "c.target = b.email AND (b.phone IS NULL OR b.phone <> b.email)",
        ]
        .iter()
        .map(|on| {
            format!(
                "SELECT b.borrower_id, {contact_cols} FROM borrowers b JOIN contacts c ON {on} \
                 WHERE c.borrower_id <> b.borrower_id"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
        tx.fetch(
            "reading contacts to shared numbers and addresses",
            &shared,
            &[],
            &tys,
            |r| {
                let Some(b) = r[0].text() else { return Ok(()) };
                if let Some((bc, _)) = all.get_mut(b) {
                    bc.contacts.push(stored_contact(&r[1..])?);
                }
                Ok(())
            },
        )
        .await?;
        let (sql, tys) = lifecycle_statement(d, &Scope::All);
        tx.fetch("reading every lifecycle record", &sql, &[], &tys, |r| {
            let Some(b) = r.get(1).and_then(|c| c.text()) else {
                return Ok(());
            };
            if let Some((_, parts)) = all.get_mut(b) {
                parts.take(
                    r.first().and_then(|c| c.int()).unwrap_or_default(),
                    r.get(2..).unwrap_or_default(),
                )?;
            }
            Ok(())
        })
        .await?;
        tx.commit().await?;
        let n = all.len() as u64;
        for (_, (mut bc, parts)) in all {
            let mine = bc
                .loans
                .iter()
                .filter_map(|l| payments.remove_entry(l.loan_id.as_str()))
                .collect();
            attach_payments(&mut bc.loans, mine);
            bc.lifecycle = parts.finish()?;
            bc.preferences = crate::preferences::portal_view(&bc.lifecycle.preferences);
            bc.loan_ids = bc.loans.iter().map(|l| l.loan_id.clone()).collect();
            bc.put_in_order();
            f(bc);
        }
        Ok(n)
    }
}
