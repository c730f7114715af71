//! Contacts that a rule forbade but that happened (reported after the fact by a dialer or an
//! agency): kept in `contacts` like every other contact, so they count in every cap, with
//! the rule ids in `contacts.violation` (migration 0010), and listed for compliance.

use crate::schema::{text, ts};
use crate::service::{
    BorrowerContacts, CONTACT_COLS, EventMeta, Ingested, NewContact, ServiceError, StoredContact,
    borrower_contacts_in, contact_cells, contact_read, loan_owner, lock_borrower, stored_contact,
    stored_hash,
};
use crate::sql::{Cell, Tx, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::convert::Infallible;

/// A stored contact that a rule forbade, with the rule ids.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Its `borrower_id` is the borrower it was recorded for.
    pub contact: StoredContact,
    pub rule_ids: Vec<String>,
}

/// How many contacts broke a rule on a day (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationCount {
    pub rule_id: String,
    pub day: Date,
    pub contacts: u64,
}

/// Whether the stored contact `s` is `c` with the violation `rules`.
fn same_contact(s: &StoredContact, c: &NewContact, rules: &[String]) -> bool {
    s.borrower_id == c.borrower_id
        && s.loan_id == c.loan_id
        && *s.row.channel == *c.channel
        && *s.row.direction == *c.direction
        && crate::schema::ts_text(s.row.at) == crate::schema::ts_text(c.at)
        && *s.row.outcome == *c.outcome
        && s.row.target.as_deref() == c.target.as_deref()
        && s.row.party.as_deref() == c.party.as_deref()
        && s.row.agency_id.as_deref() == c.agency_id.as_deref()
        && s.violation.as_deref() == Some(rules)
}

/// Inserts a contact with its violation (none when `rules` is empty).
async fn insert_contact(tx: &mut Tx, c: &NewContact, rules: &[String]) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.exec(
        "recording a contact",
        &format!(
            "INSERT INTO contacts ({CONTACT_COLS}, borrower_id, violation) \
             VALUES ($1, $2, $3, $4, {}, $6, $7, $8, $9, $10, $11)",
            d.param(5, Ty::Ts)
        ),
        &contact_cells(c)
            .into_iter()
            .chain([
                text(c.borrower_id.as_str()),
                Cell::Text((!rules.is_empty()).then(|| rules.join(";"))),
            ])
            .collect::<Vec<_>>(),
    )
    .await
    .map(|_| ())
}

impl Store {
    /// Records a contact that happened although the rules `rule_ids` forbade it (at least
    /// one id, none empty or holding `;`). True when recorded; false when the same contact
    /// with the same rule ids is stored already; another contact with its id is a
    /// `Duplicate`. The borrower's row is locked first, as for every contact.
    pub async fn record_violation(
        &self,
        c: &NewContact,
        rule_ids: &[String],
    ) -> Result<bool, ServiceError> {
        if rule_ids.is_empty() || rule_ids.iter().any(|r| r.is_empty() || r.contains(';')) {
            return Err(ServiceError::Invalid(
                "a violation names at least one rule id, none empty or holding ';'".into(),
            ));
        }
        let mut tx = self.begin().await?;
        if !lock_borrower(&mut tx, c.borrower_id.as_str()).await? {
            return Err(ServiceError::UnknownBorrower(
                c.borrower_id.as_str().to_owned(),
            ));
        }
        if let Some(l) = &c.loan_id {
            match loan_owner(&mut tx, l.as_str()).await? {
                None => return Err(ServiceError::UnknownLoan(l.as_str().to_owned())),
                Some(o) if o != c.borrower_id.as_str() => {
                    return Err(ServiceError::LoanOfAnotherBorrower {
                        loan: l.as_str().to_owned(),
                        borrower: c.borrower_id.as_str().to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        let d = tx.dialect();
        let stored = tx
            .fetch_all(
                "reading a contact",
                &format!(
                    "SELECT {} FROM contacts c WHERE c.contact_id = $1",
                    contact_read(d, "c").join(", ")
                ),
                &[text(&c.contact_id)],
                &[Ty::Text; 11],
            )
            .await?;
        if let Some(r) = stored.first() {
            let s = stored_contact(r)?;
            return if same_contact(&s, c, rule_ids) {
                Ok(false)
            } else {
                Err(ServiceError::Duplicate {
                    what: "contact",
                    id: c.contact_id.clone(),
                })
            };
        }
        insert_contact(&mut tx, c, rule_ids).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A contact event reported after the fact (by a dialer, an agency): it happened, so it
    /// is recorded whatever the rules say, with the rule ids `judge` finds broken over the
    /// borrower's facts and history read under the borrower's lock (none: an ordinary
    /// contact; some: a violation, as [`Store::record_violation`]), together with the
    /// event's `ingested_events` row, idempotent by event id like `Store::ingest` (the same
    /// id and body is `AlreadyRecorded`, another body a `Conflict`). Returns what became of
    /// the event and the rule ids recorded (sorted, without repeats).
    pub async fn ingest_reported_contact(
        &self,
        meta: &EventMeta<'_>,
        c: &NewContact,
        judge: impl FnOnce(&BorrowerContacts) -> Vec<String>,
    ) -> Result<(Ingested<Infallible>, Vec<String>), ServiceError> {
        match self.ingest_reported_once(meta, c, judge).await {
            Err(ServiceError::Store(StoreError::Db { what, source })) => {
                // The same event recorded at the same moment by another request.
                match self.event_hash(meta.event_id).await? {
                    Some(h) if h == meta.body_sha256 => Ok((Ingested::AlreadyRecorded, Vec::new())),
                    Some(_) => Ok((Ingested::Conflict, Vec::new())),
                    None => Err(StoreError::Db { what, source }.into()),
                }
            }
            other => other,
        }
    }

    async fn ingest_reported_once(
        &self,
        meta: &EventMeta<'_>,
        c: &NewContact,
        judge: impl FnOnce(&BorrowerContacts) -> Vec<String>,
    ) -> Result<(Ingested<Infallible>, Vec<String>), ServiceError> {
        let mut tx = self.begin().await?;
        if !lock_borrower(&mut tx, c.borrower_id.as_str()).await? {
            return Err(ServiceError::UnknownBorrower(
                c.borrower_id.as_str().to_owned(),
            ));
        }
        match stored_hash(&mut tx, meta.event_id).await? {
            Some(h) if h == meta.body_sha256 => {
                return Ok((Ingested::AlreadyRecorded, Vec::new()));
            }
            Some(_) => return Ok((Ingested::Conflict, Vec::new())),
            None => {}
        }
        let facts = borrower_contacts_in(&mut tx, c.borrower_id.as_str())
            .await?
            .ok_or_else(|| ServiceError::UnknownBorrower(c.borrower_id.as_str().to_owned()))?;
        if let Some(l) = &c.loan_id
            && !facts.loan_ids.contains(l)
        {
            return Err(match loan_owner(&mut tx, l.as_str()).await? {
                None => ServiceError::UnknownLoan(l.as_str().to_owned()),
                Some(_) => ServiceError::LoanOfAnotherBorrower {
                    loan: l.as_str().to_owned(),
                    borrower: c.borrower_id.as_str().to_owned(),
                },
            });
        }
        if facts.contacts.iter().any(|s| *s.row.id == *c.contact_id) {
            return Err(ServiceError::Duplicate {
                what: "contact",
                id: c.contact_id.clone(),
            });
        }
        let mut rules = judge(&facts);
        rules.sort();
        rules.dedup();
        if rules.iter().any(|r| r.is_empty() || r.contains(';')) {
            return Err(ServiceError::Invalid(
                "a rule id is empty or holds ';'".into(),
            ));
        }
        let d = tx.dialect();
        tx.exec(
            "recording the event",
            &format!(
                "INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
                 VALUES ($1, $2, $3, $4, {}, $6)",
                d.param(5, Ty::Ts)
            ),
            &[
                text(meta.event_id),
                text(meta.kind),
                text(meta.body_sha256),
                text(meta.body),
                ts(meta.received_at),
                text(meta.actor),
            ],
        )
        .await?;
        insert_contact(&mut tx, c, &rules).await?;
        tx.commit().await?;
        Ok((Ingested::Recorded, rules))
    }

    /// The contacts recorded as violations with `at` in [`from`, `to`), oldest first (ties
    /// by contact id).
    pub async fn violations(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Violation>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading violations",
                &format!(
                    "SELECT {} FROM contacts c WHERE c.violation IS NOT NULL \
                     AND c.at >= {} AND c.at < {} ORDER BY c.at, c.contact_id",
                    contact_read(d, "c").join(", "),
                    d.param(1, Ty::Ts),
                    d.param(2, Ty::Ts)
                ),
                &[ts(from), ts(to)],
                &[Ty::Text; 11],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let contact = stored_contact(r)?;
                let rule_ids = contact.violation.clone().unwrap_or_default();
                Ok(Violation { contact, rule_ids })
            })
            .collect()
    }

    /// How many contacts of [`Store::violations`] broke each rule, per UTC day, by day then
    /// rule id (a contact that broke two rules counts once for each).
    pub async fn violation_counts_by_rule_and_day(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ViolationCount>, StoreError> {
        let mut counts: BTreeMap<(Date, String), u64> = BTreeMap::new();
        for v in self.violations(from, to).await? {
            let day = jiff::tz::Offset::UTC.to_datetime(v.contact.row.at).date();
            let mut rules = v.rule_ids;
            rules.sort();
            rules.dedup();
            for r in rules {
                *counts.entry((day, r)).or_default() += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|((day, rule_id), contacts)| ViolationCount {
                rule_id,
                day,
                contacts,
            })
            .collect())
    }
}
