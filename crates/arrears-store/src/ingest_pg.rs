//! Event ingest on PostgreSQL in as few round trips as the guarantees allow (the general path
//! in `service.rs` takes seven for a contact: BEGIN, the lock, the facts, the id check, two
//! inserts, COMMIT).
//!
//! - A payment, and a contact that needs no decision (inbound), is ONE data-modifying
//!   statement in its own implicit transaction: the borrower's row lock, the replay lookup,
//!   the id and loan checks, and the inserts, each conditional on the checks before it.
//! - An outbound contact is decided over the borrower's facts read *after* the row lock, so
//!   two contacts for one borrower are decided one after the other (a cap cannot be passed
//!   by racing): BEGIN, the lock with every lookup, the facts, both inserts in one
//!   statement, COMMIT.
//!
//! The lookups of a locking statement use the snapshot the statement started with: an event
//! with the same id, or a row with the same id, committed while the statement waited for the
//! lock is not seen by them, but by the insert, whose `ON CONFLICT DO NOTHING` (rows) or
//! primary key (events) turns it into "nothing recorded"; the caller then answers from the
//! stored event (a replay or a conflict) or as a duplicate id.

use crate::schema::{int, opt_text, text, ts};
use crate::service::{
    BorrowerContacts, CONTACT_COLS, EventMeta, Ingested, NewContact, ServiceError, ServiceEvent,
    borrower_contacts_in,
};
use crate::sql::{Cell, Dialect, Ty};
use crate::{Store, StoreError};
use arrears_domain::types::LoanId;
use jiff::Timestamp;

/// The parameters of the contact statements, in order: `$1` borrower, `$2` event id, `$3`
/// contact id, `$4` loan (or NULL), `$5`–`$11` the rest of the contact, `$12`–`$16` the
/// event's bookkeeping.
fn contact_args(meta: &EventMeta<'_>, c: &NewContact) -> Vec<Cell> {
    vec![
        text(c.borrower_id.as_str()),
        text(meta.event_id),
        text(&c.contact_id),
        opt_text(c.loan_id.as_ref().map(LoanId::as_str)),
        text(&c.channel),
        text(&c.direction),
        ts(c.at),
        text(&c.outcome),
        opt_text(c.target.as_deref()),
        opt_text(c.party.as_deref()),
        opt_text(c.agency_id.as_deref()),
        text(meta.kind),
        text(meta.body_sha256),
        text(meta.body),
        ts(meta.received_at),
        text(meta.actor),
    ]
}

/// The lock and the lookups of a contact event (CTEs `b`, `prior`, `taken`, `owner`, `ok`).
const CONTACT_PROBE: &str = "b AS (SELECT borrower_id FROM borrowers WHERE borrower_id = $1 FOR NO KEY UPDATE), \
     prior AS (SELECT body_sha256 FROM ingested_events WHERE event_id = $2), \
     taken AS (SELECT 1 AS x FROM contacts WHERE contact_id = $3), \
     owner AS (SELECT borrower_id FROM loans WHERE loan_id = CAST($4 AS TEXT)), \
     ok AS (SELECT 1 AS x WHERE EXISTS (SELECT 1 FROM b) AND NOT EXISTS (SELECT 1 FROM prior) \
         AND NOT EXISTS (SELECT 1 FROM taken) \
         AND (CAST($4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM owner WHERE borrower_id = $1)))";

/// The probe's answer: `[locked, prior hash, taken, loan owner, recorded]`.
const PROBE_SELECT: &str = "SELECT CAST((SELECT count(*) FROM b) AS BIGINT), \
     (SELECT body_sha256 FROM prior), CAST((SELECT count(*) FROM taken) AS BIGINT), \
     (SELECT borrower_id FROM owner)";
const PROBE_TYPES: [Ty; 5] = [Ty::Int, Ty::Text, Ty::Int, Ty::Text, Ty::Int];

/// The two inserts (CTEs `ct`, `ev`), the contact only `WHERE {guard}`, the event only with
/// the contact.
fn contact_inserts(guard: &str) -> String {
    let d = Dialect::Postgres;
    format!(
        "ct AS (INSERT INTO contacts ({CONTACT_COLS}, borrower_id) \
             SELECT $3, $4, $5, $6, {}, $8, $9, $10, $11, $1 WHERE {guard} \
             ON CONFLICT (contact_id) DO NOTHING RETURNING 1), \
         ev AS (INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
             SELECT $2, $12, $13, $14, {}, $16 WHERE EXISTS (SELECT 1 FROM ct) RETURNING 1)",
        d.param(7, Ty::Ts),
        d.param(15, Ty::Ts),
    )
}

/// What a probe row says, in the general path's order: unknown borrower, replay, loan,
/// contact id. `None` when the event may go ahead.
fn probe_verdict<E>(
    r: &[Cell],
    meta: &EventMeta<'_>,
    c: &NewContact,
) -> Option<Result<Ingested<E>, ServiceError>> {
    if r.first().and_then(Cell::int) == Some(0) {
        return Some(Err(ServiceError::UnknownBorrower(
            c.borrower_id.as_str().to_owned(),
        )));
    }
    if let Some(done) = replay(r.get(1).and_then(Cell::text), meta) {
        return Some(Ok(done));
    }
    if let Some(l) = &c.loan_id {
        match r.get(3).and_then(Cell::text) {
            None => return Some(Err(ServiceError::UnknownLoan(l.as_str().to_owned()))),
            Some(owner) if owner != c.borrower_id.as_str() => {
                return Some(Err(ServiceError::LoanOfAnotherBorrower {
                    loan: l.as_str().to_owned(),
                    borrower: c.borrower_id.as_str().to_owned(),
                }));
            }
            Some(_) => {}
        }
    }
    if r.get(2).and_then(Cell::int).unwrap_or(0) > 0 {
        return Some(Err(duplicate_contact(c)));
    }
    None
}

fn duplicate_contact(c: &NewContact) -> ServiceError {
    ServiceError::Duplicate {
        what: "contact",
        id: c.contact_id.clone(),
    }
}

/// A stored hash for the event id: the same body is a replay, another a conflict.
fn replay<E>(stored: Option<&str>, meta: &EventMeta<'_>) -> Option<Ingested<E>> {
    match stored {
        Some(h) if h == meta.body_sha256 => Some(Ingested::AlreadyRecorded),
        Some(_) => Some(Ingested::Conflict),
        None => None,
    }
}

impl Store {
    /// A payment event in one statement (one round trip, its own transaction): the
    /// borrower's row lock, the replay lookup, the payment (nothing when its id is known)
    /// and the event row (only with the payment), or nothing at all.
    pub(crate) async fn ingest_payment_pg<E>(
        &self,
        meta: &EventMeta<'_>,
        payment_id: &str,
        loan_id: &LoanId,
        received_at: Timestamp,
        amount_minor: i64,
    ) -> Result<Ingested<E>, ServiceError> {
        let d = Dialect::Postgres;
        let sql = format!(
            "WITH b AS (SELECT b.borrower_id FROM borrowers b \
                 JOIN loans l ON l.borrower_id = b.borrower_id WHERE l.loan_id = $1 FOR NO KEY UPDATE OF b), \
             prior AS (SELECT body_sha256 FROM ingested_events WHERE event_id = $2), \
             pay AS (INSERT INTO payments (payment_id, loan_id, received_at, amount_minor, kind, reverses) \
                 SELECT $3, $1, {}, $5, 'payment', NULL \
                 WHERE EXISTS (SELECT 1 FROM b) AND NOT EXISTS (SELECT 1 FROM prior) \
                 ON CONFLICT (payment_id) DO NOTHING RETURNING 1), \
             ev AS (INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
                 SELECT $2, $6, $7, $8, {}, $10 WHERE EXISTS (SELECT 1 FROM pay) RETURNING 1) \
             SELECT CAST((SELECT count(*) FROM b) AS BIGINT), (SELECT body_sha256 FROM prior), \
                 CAST((SELECT count(*) FROM ev) AS BIGINT)",
            d.param(4, Ty::Ts),
            d.param(9, Ty::Ts),
        );
        let rows = self
            .fetch_once(
                "recording a payment event",
                &sql,
                &[
                    text(loan_id.as_str()),
                    text(meta.event_id),
                    text(payment_id),
                    ts(received_at),
                    int(amount_minor),
                    text(meta.kind),
                    text(meta.body_sha256),
                    text(meta.body),
                    ts(meta.received_at),
                    text(meta.actor),
                ],
                &[Ty::Int, Ty::Text, Ty::Int],
            )
            .await?;
        let r = rows.first().ok_or_else(|| {
            StoreError::Internal("a payment event statement returned no row".into())
        })?;
        if r[0].int() == Some(0) {
            return Err(ServiceError::UnknownLoan(loan_id.as_str().to_owned()));
        }
        if let Some(done) = replay(r[1].text(), meta) {
            return Ok(done);
        }
        if r[2].int() == Some(1) {
            return Ok(Ingested::Recorded);
        }
        // The payment id was known: the same event recorded a moment ago by another
        // request (answered as a replay), or another event's payment.
        match replay(self.event_hash(meta.event_id).await?.as_deref(), meta) {
            Some(done) => Ok(done),
            None => Err(ServiceError::Duplicate {
                what: "payment",
                id: payment_id.to_owned(),
            }),
        }
    }

    /// A contact event (see the module docs): inbound in one statement, outbound decided by
    /// `decide` over the facts read under the borrower's row lock.
    pub(crate) async fn ingest_contact_pg<E>(
        &self,
        meta: &EventMeta<'_>,
        c: &NewContact,
        decide: impl FnOnce(&BorrowerContacts) -> Result<(), E>,
    ) -> Result<Ingested<E>, ServiceError> {
        let args = contact_args(meta, c);
        let mut tys = PROBE_TYPES.to_vec();
        if c.direction != "outbound" {
            let sql = format!(
                "WITH {CONTACT_PROBE}, {} {PROBE_SELECT}, CAST((SELECT count(*) FROM ev) AS BIGINT)",
                contact_inserts("EXISTS (SELECT 1 FROM ok)")
            );
            let rows = self
                .fetch_once("recording a contact event", &sql, &args, &tys)
                .await?;
            let r = rows.first().ok_or_else(|| {
                StoreError::Internal("a contact event statement returned no row".into())
            })?;
            if let Some(v) = probe_verdict(r, meta, c) {
                return v;
            }
            if r.get(4).and_then(Cell::int) == Some(1) {
                return Ok(Ingested::Recorded);
            }
            return self.lost_race(meta, c).await;
        }
        let mut tx = self.begin().await?;
        tys.truncate(4);
        let probe = tx
            .fetch_all(
                "locking the contact's borrower",
                &format!("WITH {CONTACT_PROBE} {PROBE_SELECT}"),
                &args[..4],
                &tys,
            )
            .await?;
        let r = probe.first().ok_or_else(|| {
            StoreError::Internal("a contact lock statement returned no row".into())
        })?;
        if let Some(v) = probe_verdict(r, meta, c) {
            return v;
        }
        let facts = borrower_contacts_in(&mut tx, c.borrower_id.as_str())
            .await?
            .ok_or_else(|| ServiceError::UnknownBorrower(c.borrower_id.as_str().to_owned()))?;
        // The facts are read after the lock: the same contact, recorded by a request that
        // held the lock while the lookups' snapshot was taken, is here. That is a replay (or
        // a duplicate id), not a contact to decide again.
        if facts.contacts.iter().any(|s| *s.row.id == *c.contact_id) {
            drop(tx);
            return self.lost_race(meta, c).await;
        }
        if let Err(e) = decide(&facts) {
            return Ok(Ingested::Refused(e));
        }
        let rows = tx
            .fetch_all(
                "recording a contact event",
                &format!(
                    "WITH {} SELECT CAST((SELECT count(*) FROM ev) AS BIGINT)",
                    contact_inserts("TRUE")
                ),
                &args,
                &[Ty::Int],
            )
            .await?;
        if rows.first().and_then(|r| r[0].int()) != Some(1) {
            drop(tx); // rolled back
            return self.lost_race(meta, c).await;
        }
        tx.commit().await?;
        Ok(Ingested::Recorded)
    }

    /// Nothing was recorded because the contact id was taken after the lookups' snapshot:
    /// the same event recorded a moment ago (a replay), or another event's contact.
    async fn lost_race<E>(
        &self,
        meta: &EventMeta<'_>,
        c: &NewContact,
    ) -> Result<Ingested<E>, ServiceError> {
        match replay(self.event_hash(meta.event_id).await?.as_deref(), meta) {
            Some(done) => Ok(done),
            None => Err(duplicate_contact(c)),
        }
    }
}

/// An event waiting to be recorded with others (owned: it waits in a queue).
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub event_id: String,
    /// The event's type as the API names it.
    pub kind: String,
    /// Its canonical JSON and that text's SHA-256 (hex).
    pub body: String,
    pub body_sha256: String,
    pub received_at: Timestamp,
    /// Who sent it (the API token's name).
    pub actor: String,
    pub event: ServiceEvent,
}

impl QueuedEvent {
    pub fn meta(&self) -> EventMeta<'_> {
        EventMeta {
            event_id: &self.event_id,
            kind: &self.kind,
            body: &self.body,
            body_sha256: &self.body_sha256,
            received_at: self.received_at,
            actor: &self.actor,
        }
    }

    /// Whether it may share a statement with other events: a payment, or a contact the
    /// rules do not restrict (inbound). Neither needs a decision, so neither needs the
    /// borrower's lock: any order of them and of the decided contacts is a valid history.
    pub fn batchable(&self) -> bool {
        match &self.event {
            ServiceEvent::Payment { .. } => true,
            ServiceEvent::Contact(c) => c.direction != "outbound",
            _ => false,
        }
    }
}

/// What one event of a batch came to.
pub type BatchOutcome = Result<Ingested<std::convert::Infallible>, ServiceError>;

/// The text of a timestamp parameter (what `ts` binds).
fn ts_param(t: Timestamp) -> Option<String> {
    match ts(t) {
        Cell::Text(s) => s,
        _ => None,
    }
}

/// Payments in one statement: `unnest` of one text array per column, each row's loan and
/// replay lookup (one pass of index lookups), the payments (`ON CONFLICT DO NOTHING`) and the
/// events of the payments inserted; one row per input, by its ordinal `n`:
/// `[n, loan known, prior hash, recorded]`.
const PAYMENT_BATCH: &str = "WITH input AS (SELECT * FROM unnest(CAST($1 AS TEXT[]), \
         CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS TEXT[]), \
         CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS TEXT[]), CAST($9 AS TEXT[]), \
         CAST($10 AS TEXT[])) WITH ORDINALITY AS t(loan_id, event_id, payment_id, received_at, \
         amount_minor, kind, body_sha256, body, recorded_at, actor, n)), \
     probe AS (SELECT i.*, l.loan_id IS NOT NULL AS known, e.body_sha256 AS prior FROM input i \
         LEFT JOIN loans l ON l.loan_id = i.loan_id \
         LEFT JOIN ingested_events e ON e.event_id = i.event_id), \
     pay AS (INSERT INTO payments (payment_id, loan_id, received_at, amount_minor, kind, reverses) \
         SELECT payment_id, loan_id, CAST(received_at AS TIMESTAMPTZ), \
             CAST(amount_minor AS BIGINT), 'payment', NULL FROM probe \
         WHERE known AND prior IS NULL ORDER BY n \
         ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id), \
     ev AS (INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
         SELECT p.event_id, p.kind, p.body_sha256, p.body, CAST(p.recorded_at AS TIMESTAMPTZ), \
             p.actor FROM probe p JOIN pay ON pay.payment_id = p.payment_id ORDER BY p.n \
         RETURNING event_id) \
     SELECT p.n, CAST(CASE WHEN p.known THEN 1 ELSE 0 END AS BIGINT), p.prior, \
         CAST(CASE WHEN ev.event_id IS NULL THEN 0 ELSE 1 END AS BIGINT) \
     FROM probe p LEFT JOIN ev ON ev.event_id = p.event_id ORDER BY p.n";

/// Inbound contacts in one statement, like [`PAYMENT_BATCH`]: one row per input,
/// `[n, borrower known, prior hash, contact id taken, loan owner, recorded]`.
const CONTACT_BATCH: &str = "WITH input AS (SELECT * FROM unnest(CAST($1 AS TEXT[]), \
         CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS TEXT[]), \
         CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS TEXT[]), CAST($9 AS TEXT[]), \
         CAST($10 AS TEXT[]), CAST($11 AS TEXT[]), CAST($12 AS TEXT[]), CAST($13 AS TEXT[]), \
         CAST($14 AS TEXT[]), CAST($15 AS TEXT[]), CAST($16 AS TEXT[])) WITH ORDINALITY \
         AS t(borrower_id, event_id, contact_id, loan_id, channel, direction, at, outcome, \
         target, party, agency_id, kind, body_sha256, body, recorded_at, actor, n)), \
     probe AS (SELECT i.*, b.borrower_id IS NOT NULL AS known, e.body_sha256 AS prior, \
             c.contact_id IS NOT NULL AS taken, l.borrower_id AS owner FROM input i \
         LEFT JOIN borrowers b ON b.borrower_id = i.borrower_id \
         LEFT JOIN ingested_events e ON e.event_id = i.event_id \
         LEFT JOIN contacts c ON c.contact_id = i.contact_id \
         LEFT JOIN loans l ON l.loan_id = i.loan_id), \
     ct AS (INSERT INTO contacts (contact_id, loan_id, channel, direction, at, outcome, target, \
             party, agency_id, borrower_id) \
         SELECT contact_id, loan_id, channel, direction, CAST(at AS TIMESTAMPTZ), outcome, \
             target, party, agency_id, borrower_id FROM probe \
         WHERE known AND prior IS NULL AND NOT taken \
             AND (loan_id IS NULL OR owner = borrower_id) ORDER BY n \
         ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id), \
     ev AS (INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
         SELECT p.event_id, p.kind, p.body_sha256, p.body, CAST(p.recorded_at AS TIMESTAMPTZ), \
             p.actor FROM probe p JOIN ct ON ct.contact_id = p.contact_id ORDER BY p.n \
         RETURNING event_id) \
     SELECT p.n, CAST(CASE WHEN p.known THEN 1 ELSE 0 END AS BIGINT), p.prior, \
         CAST(CASE WHEN p.taken THEN 1 ELSE 0 END AS BIGINT), p.owner, \
         CAST(CASE WHEN ev.event_id IS NULL THEN 0 ELSE 1 END AS BIGINT) \
     FROM probe p LEFT JOIN ev ON ev.event_id = p.event_id ORDER BY p.n";

/// Which statement a batchable event goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Payments,
    Contacts,
}

impl Store {
    /// Whether [`Store::ingest_batch`] shares statements between events (PostgreSQL), so
    /// that gathering events for it pays.
    pub fn batches_events(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    /// Records many events at once; one outcome per event, in order. On PostgreSQL the
    /// payments and the inbound contacts among them (those that need no decision) share one
    /// statement per kind, in one implicit transaction each, so that a burst of events pays
    /// for one commit instead of one each; an id that occurs twice in the batch, and every
    /// other event, is recorded by itself afterwards, in order. If a shared statement fails
    /// (a row taken by another writer at that moment, say), its events are recorded one by
    /// one, so each still gets its own answer. Elsewhere every event is recorded by itself.
    pub async fn ingest_batch(&self, events: &[QueuedEvent]) -> Vec<BatchOutcome> {
        // `None`: not answered by a shared statement, so recorded by itself below.
        let mut out: Vec<Option<BatchOutcome>> = events.iter().map(|_| None).collect();
        if self.dialect() == Dialect::Postgres {
            for group in [Group::Payments, Group::Contacts] {
                let mut seen_events = std::collections::HashSet::new();
                let mut seen_rows = std::collections::HashSet::new();
                let mut members = Vec::new();
                for (i, e) in events.iter().enumerate() {
                    let (row_id, in_group) = match &e.event {
                        ServiceEvent::Payment { payment_id, .. } => {
                            (payment_id.as_str(), group == Group::Payments)
                        }
                        ServiceEvent::Contact(c) => (
                            c.contact_id.as_str(),
                            group == Group::Contacts && e.batchable(),
                        ),
                        _ => continue,
                    };
                    if !in_group {
                        continue;
                    }
                    if seen_events.insert(e.event_id.as_str()) && seen_rows.insert(row_id) {
                        members.push(i);
                    }
                }
                if members.len() < 2 {
                    continue;
                }
                let batch: Vec<&QueuedEvent> = members.iter().map(|&i| &events[i]).collect();
                // A failed shared statement leaves its events unanswered: what failed is
                // found again, event by event, below.
                if let Ok(done) = self.run_batch(group, &batch).await {
                    for (&i, o) in members.iter().zip(done) {
                        out[i] = Some(o);
                    }
                }
            }
        }
        let mut answers = Vec::with_capacity(events.len());
        for (e, o) in events.iter().zip(out) {
            answers.push(match o {
                Some(o) => o,
                None => {
                    self.ingest(&e.meta(), &e.event, |_| {
                        Ok::<(), std::convert::Infallible>(())
                    })
                    .await
                }
            });
        }
        answers
    }

    /// One shared statement for `batch` (all of `group`, ids unique), and what each event
    /// came to.
    async fn run_batch(
        &self,
        group: Group,
        batch: &[&QueuedEvent],
    ) -> Result<Vec<BatchOutcome>, StoreError> {
        let n = batch.len();
        let width = match group {
            Group::Payments => 10,
            Group::Contacts => 16,
        };
        let mut cols: Vec<Vec<Option<String>>> =
            (0..width).map(|_| Vec::with_capacity(n)).collect();
        for e in batch {
            let row: Vec<Option<String>> = match &e.event {
                ServiceEvent::Payment {
                    payment_id,
                    loan_id,
                    received_at,
                    amount_minor,
                } => vec![
                    Some(loan_id.as_str().to_owned()),
                    Some(e.event_id.clone()),
                    Some(payment_id.clone()),
                    ts_param(*received_at),
                    Some(amount_minor.to_string()),
                    Some(e.kind.clone()),
                    Some(e.body_sha256.clone()),
                    Some(e.body.clone()),
                    ts_param(e.received_at),
                    Some(e.actor.clone()),
                ],
                ServiceEvent::Contact(c) => vec![
                    Some(c.borrower_id.as_str().to_owned()),
                    Some(e.event_id.clone()),
                    Some(c.contact_id.clone()),
                    c.loan_id.as_ref().map(|l| l.as_str().to_owned()),
                    Some(c.channel.clone()),
                    Some(c.direction.clone()),
                    ts_param(c.at),
                    Some(c.outcome.clone()),
                    c.target.clone(),
                    c.party.clone(),
                    c.agency_id.clone(),
                    Some(e.kind.clone()),
                    Some(e.body_sha256.clone()),
                    Some(e.body.clone()),
                    ts_param(e.received_at),
                    Some(e.actor.clone()),
                ],
                _ => {
                    return Err(StoreError::Internal(
                        "an event of another kind in a batch".into(),
                    ));
                }
            };
            for (c, v) in cols.iter_mut().zip(row) {
                c.push(v);
            }
        }
        let (what, sql, tys): (&str, &str, &[Ty]) = match group {
            Group::Payments => (
                "recording payment events",
                PAYMENT_BATCH,
                &[Ty::Int, Ty::Int, Ty::Text, Ty::Int],
            ),
            Group::Contacts => (
                "recording contact events",
                CONTACT_BATCH,
                &[Ty::Int, Ty::Int, Ty::Text, Ty::Int, Ty::Text, Ty::Int],
            ),
        };
        let rows = crate::sql::fetch_all_pg_arrays(&self.pool, what, sql, &cols, tys).await?;
        if rows.len() != n {
            return Err(StoreError::Internal(format!(
                "{what}: {} answers for {n} events",
                rows.len()
            )));
        }
        let mut out = Vec::with_capacity(n);
        for (e, r) in batch.iter().zip(&rows) {
            let meta = e.meta();
            let flag = |i: usize| r.get(i).and_then(Cell::int) == Some(1);
            let verdict: Option<BatchOutcome> = match &e.event {
                ServiceEvent::Payment { loan_id, .. } => {
                    if !flag(1) {
                        Some(Err(ServiceError::UnknownLoan(loan_id.as_str().to_owned())))
                    } else {
                        replay(r.get(2).and_then(Cell::text), &meta).map(Ok)
                    }
                }
                // After `n`, the single statement's layout: [known, prior, taken, owner, …].
                ServiceEvent::Contact(c) => probe_verdict(r.get(1..).unwrap_or_default(), &meta, c),
                _ => None,
            };
            let recorded = match &e.event {
                ServiceEvent::Payment { .. } => flag(3),
                _ => flag(5),
            };
            out.push(match verdict {
                Some(v) => v,
                None if recorded => Ok(Ingested::Recorded),
                // The row id was taken after the statement's snapshot.
                None => match replay(self.event_hash(meta.event_id).await?.as_deref(), &meta) {
                    Some(done) => Ok(done),
                    None => Err(match &e.event {
                        ServiceEvent::Contact(c) => duplicate_contact(c),
                        ServiceEvent::Payment { payment_id, .. } => ServiceError::Duplicate {
                            what: "payment",
                            id: payment_id.clone(),
                        },
                        _ => StoreError::Internal("an event of another kind in a batch".into())
                            .into(),
                    }),
                },
            });
        }
        Ok(out)
    }
}
