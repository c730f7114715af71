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
//! - Events that arrive together (`Store::ingest_batch_deciding`, fed by the server's event
//!   writer) share those statements: payments in one, inbound contacts in another, and the
//!   outbound contacts of different borrowers in one transaction that locks all their
//!   borrowers in id order, reads all their facts at once and decides each over its own.
//!
//! The lookups of a locking statement use the snapshot the statement started with: an event
//! with the same id, or a row with the same id, committed while the statement waited for the
//! lock is not seen by them, but by the insert, whose `ON CONFLICT DO NOTHING` (rows) or
//! primary key (events) turns it into "nothing recorded"; the caller then answers from the
//! stored event (a replay or a conflict) or as a duplicate id.

use crate::schema::{int, text, ts};
use crate::service::{
    BorrowerContacts, CONTACT_COLS, EventMeta, Ingested, NewContact, ServiceError, ServiceEvent,
    borrower_contacts_in, contact_cells,
};
use crate::sql::{Cell, Dialect, Ty};
use crate::{Store, StoreError};
use arrears_domain::types::LoanId;
use jiff::Timestamp;

/// The parameters of the contact statements, in order: `$1` borrower, `$2` event id, `$3`
/// contact id, `$4` loan (or NULL), `$5`–`$11` the rest of the contact, `$12`–`$16` the
/// event's bookkeeping.
fn contact_args(meta: &EventMeta<'_>, c: &NewContact) -> Vec<Cell> {
    [text(c.borrower_id.as_str()), text(meta.event_id)]
        .into_iter()
        .chain(contact_cells(c))
        .chain([
            text(meta.kind),
            text(meta.body_sha256),
            text(meta.body),
            ts(meta.received_at),
            text(meta.actor),
        ])
        .collect()
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
        self.replay_or(meta, || ServiceError::Duplicate {
            what: "payment",
            id: payment_id.to_owned(),
        })
        .await
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
        self.replay_or(meta, || duplicate_contact(c)).await
    }

    /// The stored event's answer for `meta` (a replay or a conflict), or `otherwise` when
    /// there is no event with its id.
    async fn replay_or<E>(
        &self,
        meta: &EventMeta<'_>,
        otherwise: impl FnOnce() -> ServiceError,
    ) -> Result<Ingested<E>, ServiceError> {
        match replay(self.event_hash(meta.event_id).await?.as_deref(), meta) {
            Some(done) => Ok(done),
            None => Err(otherwise()),
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

    /// Whether it may share a transaction with other events: a payment or a contact. A
    /// payment and an inbound contact need no decision, so they need no lock (any order of
    /// them and of the decided contacts is a valid history); outbound contacts of different
    /// borrowers are decided together under all their borrowers' locks.
    pub fn batchable(&self) -> bool {
        matches!(
            &self.event,
            ServiceEvent::Payment { .. } | ServiceEvent::Contact(_)
        )
    }
}

/// What one event of a batch came to.
pub type BatchOutcome = Result<Ingested<std::convert::Infallible>, ServiceError>;

/// The decision over the outbound contact at an index of a batch, given its borrower's facts
/// and history read under the lock (see [`Store::ingest_batch_deciding`]).
pub type DecideAt<'a, E> = &'a (dyn Fn(usize, &BorrowerContacts) -> Result<(), E> + Sync);

/// The text of a timestamp parameter (what `ts` binds).
fn ts_param(t: Timestamp) -> Option<String> {
    ts(t).into_text()
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

/// The 16 contact columns of a batch as rows, by ordinal `n` (the parameters are
/// [`contact_columns`]).
const CONTACT_INPUT: &str = "input AS (SELECT * FROM unnest(CAST($1 AS TEXT[]), \
         CAST($2 AS TEXT[]), CAST($3 AS TEXT[]), CAST($4 AS TEXT[]), CAST($5 AS TEXT[]), \
         CAST($6 AS TEXT[]), CAST($7 AS TEXT[]), CAST($8 AS TEXT[]), CAST($9 AS TEXT[]), \
         CAST($10 AS TEXT[]), CAST($11 AS TEXT[]), CAST($12 AS TEXT[]), CAST($13 AS TEXT[]), \
         CAST($14 AS TEXT[]), CAST($15 AS TEXT[]), CAST($16 AS TEXT[])) WITH ORDINALITY \
         AS t(borrower_id, event_id, contact_id, loan_id, channel, direction, at, outcome, \
         target, party, agency_id, kind, body_sha256, body, recorded_at, actor, n))";

/// The inserts of a contact batch from the rows of `src` that pass `guard`: the contacts
/// (`ON CONFLICT DO NOTHING`), and the events of the contacts inserted (CTEs `ct`, `ev`).
fn contact_batch_inserts(src: &str, guard: &str) -> String {
    format!(
        "ct AS (INSERT INTO contacts (contact_id, loan_id, channel, direction, at, outcome, \
             target, party, agency_id, borrower_id) \
         SELECT contact_id, loan_id, channel, direction, CAST(at AS TIMESTAMPTZ), outcome, \
             target, party, agency_id, borrower_id FROM {src} WHERE {guard} ORDER BY n \
         ON CONFLICT (contact_id) DO NOTHING RETURNING contact_id), \
     ev AS (INSERT INTO ingested_events (event_id, kind, body_sha256, body, received_at, actor) \
         SELECT p.event_id, p.kind, p.body_sha256, p.body, CAST(p.recorded_at AS TIMESTAMPTZ), \
             p.actor FROM {src} p JOIN ct ON ct.contact_id = p.contact_id ORDER BY p.n \
         RETURNING event_id)"
    )
}

/// The probe of a contact batch: each row's borrower (locked `FOR NO KEY UPDATE` in id
/// order when `lock`, so that two batches never wait for each other crosswise), replay,
/// contact id and loan lookups (CTE `probe`).
fn contact_probe(lock: bool) -> String {
    let (b, from) = if lock {
        (
            "b AS MATERIALIZED (SELECT borrower_id FROM borrowers \
             WHERE borrower_id IN (SELECT borrower_id FROM input) \
             ORDER BY borrower_id FOR NO KEY UPDATE), ",
            "b",
        )
    } else {
        ("", "borrowers")
    };
    format!(
        "{b}probe AS (SELECT i.*, b.borrower_id IS NOT NULL AS known, e.body_sha256 AS prior, \
             c.contact_id IS NOT NULL AS taken, l.borrower_id AS owner FROM input i \
         LEFT JOIN {from} b ON b.borrower_id = i.borrower_id \
         LEFT JOIN ingested_events e ON e.event_id = i.event_id \
         LEFT JOIN contacts c ON c.contact_id = i.contact_id \
         LEFT JOIN loans l ON l.loan_id = i.loan_id)"
    )
}

/// The probe's flags after `n`, in the single statement's layout.
const PROBE_ANSWER: &str = "p.n, CAST(CASE WHEN p.known THEN 1 ELSE 0 END AS BIGINT), p.prior, \
         CAST(CASE WHEN p.taken THEN 1 ELSE 0 END AS BIGINT), p.owner";

/// Inbound contacts in one statement, like [`PAYMENT_BATCH`]: one row per input,
/// `[n, borrower known, prior hash, contact id taken, loan owner, recorded]`.
fn contact_batch() -> String {
    format!(
        "WITH {CONTACT_INPUT}, {}, {} \
         SELECT {PROBE_ANSWER}, CAST(CASE WHEN ev.event_id IS NULL THEN 0 ELSE 1 END AS BIGINT) \
         FROM probe p LEFT JOIN ev ON ev.event_id = p.event_id ORDER BY p.n",
        contact_probe(false),
        contact_batch_inserts(
            "probe",
            "known AND prior IS NULL AND NOT taken AND (loan_id IS NULL OR owner = borrower_id)"
        ),
    )
}

/// The lock and the lookups of outbound contacts: `[n, known, prior, taken, owner]`. The
/// lock is taken in a CTE of its own (materialized, as a locking CTE always is).
fn outbound_probe() -> String {
    format!(
        "WITH {CONTACT_INPUT}, {} SELECT {PROBE_ANSWER} FROM probe p ORDER BY p.n",
        contact_probe(true)
    )
}

/// The outbound contacts decided allowed, all inserted: `[n, recorded]`.
fn outbound_inserts() -> String {
    format!(
        "WITH {CONTACT_INPUT}, {} \
         SELECT i.n, CAST(CASE WHEN ev.event_id IS NULL THEN 0 ELSE 1 END AS BIGINT) \
         FROM input i LEFT JOIN ev ON ev.event_id = i.event_id ORDER BY i.n",
        contact_batch_inserts("input", "TRUE")
    )
}

/// Which shared statement a batchable event goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Payments,
    /// Inbound contacts: no decision.
    Contacts,
    /// Outbound contacts: decided under the locks of their borrowers, one each.
    Outbound,
}

impl Group {
    fn of(e: &QueuedEvent) -> Option<Group> {
        match &e.event {
            ServiceEvent::Payment { .. } => Some(Group::Payments),
            ServiceEvent::Contact(c) if c.direction == "outbound" => Some(Group::Outbound),
            ServiceEvent::Contact(_) => Some(Group::Contacts),
            _ => None,
        }
    }
}

/// What is not ready until the shared transaction has committed.
enum Pending<E> {
    Done(Result<Ingested<E>, ServiceError>),
    /// Nothing was recorded because the row id was taken after the statement's snapshot:
    /// told apart (a replay or another event's row) by a lookup after the commit.
    LostRace,
}

/// One text array per column, from each event's row of `W` values (`row`).
fn columns<const W: usize>(
    batch: &[&QueuedEvent],
    row: impl Fn(&QueuedEvent) -> Result<[Option<String>; W], StoreError>,
) -> Result<Vec<Vec<Option<String>>>, StoreError> {
    let mut cols: Vec<Vec<Option<String>>> =
        (0..W).map(|_| Vec::with_capacity(batch.len())).collect();
    for e in batch {
        for (c, v) in cols.iter_mut().zip(row(e)?) {
            c.push(v);
        }
    }
    Ok(cols)
}

/// The parameters of a contact batch ([`CONTACT_INPUT`]).
fn contact_columns(batch: &[&QueuedEvent]) -> Result<Vec<Vec<Option<String>>>, StoreError> {
    columns::<16>(batch, |e| {
        let ServiceEvent::Contact(c) = &e.event else {
            return Err(StoreError::Internal(
                "an event of another kind in a contact batch".into(),
            ));
        };
        let row: Vec<Option<String>> = [
            Some(c.borrower_id.as_str().to_owned()),
            Some(e.event_id.clone()),
        ]
        .into_iter()
        .chain(contact_cells(c).map(Cell::into_text))
        .chain([
            Some(e.kind.clone()),
            Some(e.body_sha256.clone()),
            Some(e.body.clone()),
            ts_param(e.received_at),
            Some(e.actor.clone()),
        ])
        .collect();
        row.try_into()
            .map_err(|_| StoreError::Internal("a contact row of the wrong width".into()))
    })
}

/// The parameters of [`PAYMENT_BATCH`].
fn payment_columns(batch: &[&QueuedEvent]) -> Result<Vec<Vec<Option<String>>>, StoreError> {
    columns(batch, |e| {
        let ServiceEvent::Payment {
            payment_id,
            loan_id,
            received_at,
            amount_minor,
        } = &e.event
        else {
            return Err(StoreError::Internal(
                "an event of another kind in a payment batch".into(),
            ));
        };
        Ok([
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
        ])
    })
}

/// Checks that a shared statement answered each of its `n` events once.
fn answered(what: &str, rows: &[Vec<Cell>], n: usize) -> Result<(), StoreError> {
    if rows.len() == n {
        Ok(())
    } else {
        Err(StoreError::Internal(format!(
            "{what}: {} answers for {n} events",
            rows.len()
        )))
    }
}

impl Store {
    /// Whether [`Store::ingest_batch`] shares statements between events (PostgreSQL), so
    /// that gathering events for it pays.
    pub fn batches_events(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    /// [`Store::ingest_batch_deciding`] with every outbound contact allowed.
    pub async fn ingest_batch(&self, events: &[QueuedEvent]) -> Vec<BatchOutcome> {
        self.ingest_batch_deciding(events, &|_, _| Ok::<(), std::convert::Infallible>(()))
            .await
    }

    /// Records many events at once; one outcome per event, in order. The outbound contact
    /// at index `i` is decided by `decide(i, facts)`, over its borrower's facts and history
    /// read under the borrower's lock, as [`Store::ingest`] decides.
    ///
    /// On PostgreSQL the events share transactions, so that a burst pays for a few commits
    /// instead of one each: the payments in one statement, the inbound contacts in another
    /// (neither needs a decision, so neither needs a lock), and the outbound contacts in
    /// one transaction of four statements (lock every borrower in id order with the
    /// lookups; read all their facts; decide each; insert those allowed). An id that
    /// occurs twice in the batch, an outbound contact for a borrower already in the
    /// outbound group, and every other event, is recorded by itself afterwards, in order
    /// (so it sees what the group recorded). Any order of events that arrived together is
    /// a valid history; this one gives every event the answer it would get by itself at
    /// its place in it. If a shared transaction fails (a row taken by another writer at
    /// that moment, a deadlock), its events are recorded one by one, so each still gets its
    /// own answer. Elsewhere every event is recorded by itself.
    pub async fn ingest_batch_deciding<E>(
        &self,
        events: &[QueuedEvent],
        decide: DecideAt<'_, E>,
    ) -> Vec<Result<Ingested<E>, ServiceError>> {
        // `None`: not answered by a shared statement, so recorded by itself below.
        let mut out: Vec<Option<Result<Ingested<E>, ServiceError>>> =
            events.iter().map(|_| None).collect();
        if self.dialect() == Dialect::Postgres {
            for group in [Group::Payments, Group::Contacts, Group::Outbound] {
                let mut seen_events = std::collections::HashSet::new();
                let mut seen_rows = std::collections::HashSet::new();
                let mut seen_borrowers = std::collections::HashSet::new();
                let mut members = Vec::new();
                for (i, e) in events.iter().enumerate() {
                    if Group::of(e) != Some(group) {
                        continue;
                    }
                    let row_id = match &e.event {
                        ServiceEvent::Payment { payment_id, .. } => payment_id.as_str(),
                        ServiceEvent::Contact(c) => c.contact_id.as_str(),
                        _ => continue,
                    };
                    let borrower_free = match &e.event {
                        ServiceEvent::Contact(c) if group == Group::Outbound => {
                            seen_borrowers.insert(c.borrower_id.as_str())
                        }
                        _ => true,
                    };
                    if borrower_free
                        && seen_events.insert(e.event_id.as_str())
                        && seen_rows.insert(row_id)
                    {
                        members.push(i);
                    }
                }
                if members.len() < 2 {
                    continue;
                }
                let batch: Vec<&QueuedEvent> = members.iter().map(|&i| &events[i]).collect();
                // A failed shared transaction leaves its events unanswered: what failed is
                // found again, event by event, below.
                let done = match group {
                    Group::Outbound => {
                        self.run_outbound(&batch, &|k, bc| decide(members[k], bc))
                            .await
                    }
                    _ => self.run_batch(group, &batch).await.map(|v| {
                        v.into_iter()
                            .map(|p| match p {
                                Pending::Done(o) => {
                                    Pending::Done(o.map(|i| i.map_refused(|n| match n {})))
                                }
                                Pending::LostRace => Pending::LostRace,
                            })
                            .collect()
                    }),
                };
                let Ok(done) = done else { continue };
                for (&i, p) in members.iter().zip(done) {
                    out[i] = Some(match p {
                        Pending::Done(o) => o,
                        Pending::LostRace => self.after_lost_race(&events[i]).await,
                    });
                }
            }
        }
        let mut answers = Vec::with_capacity(events.len());
        for (i, (e, o)) in events.iter().zip(out).enumerate() {
            answers.push(match o {
                Some(o) => o,
                None => self.ingest(&e.meta(), &e.event, |bc| decide(i, bc)).await,
            });
        }
        answers
    }

    /// A batched event whose row id was taken after the statement's snapshot: the same
    /// event recorded a moment ago (a replay), or another event's row.
    async fn after_lost_race<E>(&self, e: &QueuedEvent) -> Result<Ingested<E>, ServiceError> {
        self.replay_or(&e.meta(), || match &e.event {
            ServiceEvent::Contact(c) => duplicate_contact(c),
            ServiceEvent::Payment { payment_id, .. } => ServiceError::Duplicate {
                what: "payment",
                id: payment_id.clone(),
            },
            _ => StoreError::Internal("an event of another kind in a batch".into()).into(),
        })
        .await
    }

    /// One shared statement for `batch` (all payments or all inbound contacts, ids unique),
    /// and what each event came to.
    async fn run_batch(
        &self,
        group: Group,
        batch: &[&QueuedEvent],
    ) -> Result<Vec<Pending<std::convert::Infallible>>, StoreError> {
        let n = batch.len();
        let contacts;
        let (what, sql, tys, cols): (&str, &str, &[Ty], _) = match group {
            Group::Payments => (
                "recording payment events",
                PAYMENT_BATCH,
                &[Ty::Int, Ty::Int, Ty::Text, Ty::Int],
                payment_columns(batch)?,
            ),
            _ => {
                contacts = contact_batch();
                (
                    "recording contact events",
                    contacts.as_str(),
                    &[Ty::Int, Ty::Int, Ty::Text, Ty::Int, Ty::Text, Ty::Int],
                    contact_columns(batch)?,
                )
            }
        };
        let rows = crate::sql::fetch_all_pg_arrays(&self.pool, what, sql, &cols, tys).await?;
        answered(what, &rows, n)?;
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
                Some(v) => Pending::Done(v),
                None if recorded => Pending::Done(Ok(Ingested::Recorded)),
                None => Pending::LostRace,
            });
        }
        Ok(out)
    }

    /// Outbound contacts of different borrowers (ids unique) in one transaction: lock every
    /// borrower with the lookups, read their facts, decide each contact over its borrower's
    /// facts, insert those allowed, commit. What each came to.
    async fn run_outbound<E>(
        &self,
        batch: &[&QueuedEvent],
        decide: DecideAt<'_, E>,
    ) -> Result<Vec<Pending<E>>, StoreError> {
        let n = batch.len();
        let cols = contact_columns(batch)?;
        let mut tx = self.begin().await?;
        let what = "locking the borrowers of outbound contacts";
        let probe = tx
            .fetch_all_arrays(
                what,
                &outbound_probe(),
                &cols,
                &[Ty::Int, Ty::Int, Ty::Text, Ty::Int, Ty::Text],
            )
            .await?;
        answered(what, &probe, n)?;
        let mut out: Vec<Option<Pending<E>>> = Vec::with_capacity(n);
        let mut go_on: Vec<&str> = Vec::new();
        for (e, r) in batch.iter().zip(&probe) {
            let ServiceEvent::Contact(c) = &e.event else {
                return Err(StoreError::Internal(
                    "an event of another kind in an outbound batch".into(),
                ));
            };
            match probe_verdict(r.get(1..).unwrap_or_default(), &e.meta(), c) {
                Some(v) => out.push(Some(Pending::Done(v))),
                None => {
                    go_on.push(c.borrower_id.as_str());
                    out.push(None);
                }
            }
        }
        let facts = if go_on.is_empty() {
            Default::default()
        } else {
            crate::service::facts_of_many(&mut tx, &go_on).await?
        };
        // Which contacts are inserted (by index in `batch`).
        let mut insert: Vec<usize> = Vec::new();
        for (k, e) in batch.iter().enumerate() {
            if out[k].is_some() {
                continue;
            }
            let ServiceEvent::Contact(c) = &e.event else {
                continue;
            };
            let Some(bc) = facts.get(c.borrower_id.as_str()) else {
                out[k] = Some(Pending::Done(Err(ServiceError::UnknownBorrower(
                    c.borrower_id.as_str().to_owned(),
                ))));
                continue;
            };
            // Read after the lock: the same contact, recorded by a request that held the
            // lock while the lookups' snapshot was taken, is here (a replay or a duplicate
            // id, not a contact to decide again).
            if bc.contacts.iter().any(|s| *s.row.id == *c.contact_id) {
                out[k] = Some(Pending::LostRace);
                continue;
            }
            match decide(k, bc) {
                Err(refusal) => out[k] = Some(Pending::Done(Ok(Ingested::Refused(refusal)))),
                Ok(()) => insert.push(k),
            }
        }
        if !insert.is_empty() {
            let chosen: Vec<&QueuedEvent> = insert.iter().map(|&k| batch[k]).collect();
            let what = "recording outbound contact events";
            let rows = tx
                .fetch_all_arrays(
                    what,
                    &outbound_inserts(),
                    &contact_columns(&chosen)?,
                    &[Ty::Int, Ty::Int],
                )
                .await?;
            answered(what, &rows, chosen.len())?;
            for (&k, r) in insert.iter().zip(&rows) {
                out[k] = Some(if r.get(1).and_then(Cell::int) == Some(1) {
                    Pending::Done(Ok(Ingested::Recorded))
                } else {
                    Pending::LostRace
                });
            }
        }
        tx.commit().await?;
        out.into_iter()
            .map(|p| {
                p.ok_or_else(|| {
                    StoreError::Internal("an outbound contact of a batch was not answered".into())
                })
            })
            .collect()
    }
}
