//! What a cache of borrower facts needs from the store: every borrower's facts in one pass
//! (to fill it), and on PostgreSQL the stream of changes to them (to keep it true).
//!
//! Migrations `0008_facts_notify` and `0009_facts_notify_per_statement` put triggers on the
//! four tables a compliance check reads (`borrowers`, `loans`, `contacts`,
//! `contact_preferences`): every insert, update or delete of a row sends
//! `NOTIFY arrears_facts, '<borrower_id>'` when its transaction commits (inserts and deletes
//! once per borrower per statement), and a `TRUNCATE` sends `'*'`. PostgreSQL delivers a notification to every listening session
//! after the commit, in commit order, whoever wrote (this server, another instance, an
//! `arrears import`). A listener that lost its connection cannot know what it missed, so a
//! lost connection is reported as [`FactsChange::All`].

use crate::service::{
    BorrowerContacts, CONTACT_COLS, borrower_row, borrower_select, borrower_types, stored_contact,
};
use crate::sql::{Tx, Ty};
use crate::{Pool, Store, StoreError};
use std::collections::HashMap;

/// The notification channel of migration `0008_facts_notify`.
pub const FACTS_CHANNEL: &str = "arrears_facts";

/// The per-change triggers of migrations `0008_facts_notify` and
/// `0009_facts_notify_per_statement` (inserts and deletes notify once per statement,
/// updates once per changed row), by table.
const ROW_TRIGGERS: [(&str, &str); 10] = [
    ("borrowers", "borrowers_facts_inserted"),
    ("borrowers", "borrowers_facts_deleted"),
    ("borrowers", "borrowers_facts_update"),
    ("loans", "loans_facts_inserted"),
    ("loans", "loans_facts_deleted"),
    ("loans", "loans_facts_update"),
    ("contacts", "contacts_facts_inserted"),
    ("contacts", "contacts_facts_deleted"),
    ("contacts", "contacts_facts_update"),
    ("contact_preferences", "contact_preferences_facts"),
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

    /// Every borrower's facts, loans and contacts (what [`Store::borrower_contacts`] reads
    /// for one), read in one transaction (one snapshot on PostgreSQL) and handed to `f`
    /// borrower by borrower; the number of borrowers.
    pub async fn all_borrower_contacts(
        &self,
        mut f: impl FnMut(BorrowerContacts),
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_read().await?;
        let d = tx.dialect();
        let mut all: HashMap<String, BorrowerContacts> = HashMap::new();
        tx.fetch(
            "reading every borrower",
            &format!("SELECT {} FROM borrowers", borrower_select(d).join(", ")),
            &[],
            &borrower_types(),
            |r| {
                let b = borrower_row(r)?;
                all.insert(
                    b.id.as_str().to_owned(),
                    BorrowerContacts {
                        borrower: b,
                        loan_ids: Vec::new(),
                        contacts: Vec::new(),
                        preferences: None,
                    },
                );
                Ok(())
            },
        )
        .await?;
        tx.fetch(
            "reading every loan's borrower",
            "SELECT borrower_id, loan_id FROM loans",
            &[],
            &[Ty::Text, Ty::Text],
            |r| {
                let (Some(b), Some(l)) = (r[0].text(), r[1].text()) else {
                    return Ok(());
                };
                if let Some(bc) = all.get_mut(b) {
                    bc.loan_ids
                        .push(
                            arrears_domain::types::LoanId::parse("loan_id", l).map_err(|e| {
                                StoreError::Corrupt {
                                    table: "loans",
                                    key: l.to_owned(),
                                    column: "loan_id",
                                    detail: e.detail,
                                }
                            })?,
                        );
                }
                Ok(())
            },
        )
        .await?;
        let contact_cols: Vec<String> = CONTACT_COLS
            .split(", ")
            .map(|c| {
                if c == "at" {
                    d.select("at", Ty::Ts)
                } else {
                    c.to_owned()
                }
            })
            .collect();
        let mut tys = vec![Ty::Text];
        tys.extend(std::iter::repeat_n(Ty::Text, contact_cols.len()));
        tx.fetch(
            "reading every contact",
            &format!(
                "SELECT borrower_id, {} FROM contacts",
                contact_cols.join(", ")
            ),
            &[],
            &tys,
            |r| {
                let Some(b) = r[0].text() else { return Ok(()) };
                if let Some(bc) = all.get_mut(b) {
                    bc.contacts.push(stored_contact(&r[1..])?);
                }
                Ok(())
            },
        )
        .await?;
        let prefs = crate::preferences::PREFERENCE_SELECT;
        tx.fetch(
            "reading every borrower's contact preferences",
            &format!(
                "SELECT {} FROM contact_preferences",
                prefs
                    .iter()
                    .map(|(c, ty)| d.select(c, *ty))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[],
            &prefs.iter().map(|(_, ty)| *ty).collect::<Vec<_>>(),
            |r| {
                let p = crate::preferences::preferences_from_row(r)?;
                if let Some(bc) = r[0].text().and_then(|b| all.get_mut(b)) {
                    bc.preferences = Some(p);
                }
                Ok(())
            },
        )
        .await?;
        tx.commit().await?;
        let n = all.len() as u64;
        for (_, mut bc) in all {
            bc.put_in_order();
            f(bc);
        }
        Ok(n)
    }
}
