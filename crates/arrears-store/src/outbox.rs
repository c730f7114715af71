//! The outbox: messages the compliance engine allowed, stored before anything is sent, and
//! the dispatcher's bookkeeping around each send (`docs/channels.md`).
//!
//! A row is written once by [`Store::enqueue`] (idempotent by its key: the same key twice
//! stores one row), taken by [`Store::claim_outbox`] under a lease (a claim whose lease has
//! run out is taken over by the next claim, so a crashed worker's rows are not stuck; on
//! PostgreSQL concurrent claimers skip each other's rows with `FOR UPDATE SKIP LOCKED`, on
//! SQLite the write lock orders them), and finished by [`Store::release_outbox`]. Only the
//! worker holding the lease can finish a row. A row marked sent records the contact in
//! `contacts` in the same transaction, so frequency caps count it. Which time is "now" and
//! how long to back off are the caller's: this module reads no clock.

use crate::schema::ts_text;
use crate::schema::{opt_text, text, ts};
use crate::sql::{Cell, Dialect, Tx, Ty, json_array};
use crate::{Store, StoreError};
use jiff::Timestamp;

/// The outbox purposes of the borrower's ways into the portal (a sign-in code, a one-time
/// link): not contacts, so a sent one is not recorded in `contacts` and its secret is not kept.
const ACCESS: &str = "'access_code', 'access_link'";

/// What a final access row's body says instead of the credential it carried.
pub const WITHHELD: &str = "[a portal sign-in message; its code is not kept]";

/// A message to store in the outbox: the fields of the permitted contact and of the
/// decision that allowed it, as plain values (the store does not know the engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMessage {
    pub idempotency_key: String,
    pub borrower_id: String,
    pub loan_id: Option<String>,
    /// `sms`, `email` or `push`.
    pub channel: String,
    pub party: String,
    pub target: Option<String>,
    pub purpose: String,
    pub agency_id: Option<String>,
    pub language: String,
    pub lender_name: String,
    pub verification_code: String,
    pub subject: Option<String>,
    /// The exact text the engine vetted.
    pub body: String,
    /// The instant the engine allowed the contact for, and the pack that allowed it.
    pub decided_at: Timestamp,
    pub jurisdiction: String,
    pub pack_version: String,
    pub policy: Option<String>,
    pub enqueued_at: Timestamp,
    /// Not sent before this instant.
    pub not_before: Timestamp,
    /// Not sent after this instant (the row becomes `expired`).
    pub expires_at: Option<Timestamp>,
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new row with this id.
    Queued(i64),
    /// A row with the same idempotency key was stored before (this id); nothing changed.
    AlreadyQueued(i64),
}

impl Enqueued {
    pub fn outbox_id(self) -> i64 {
        match self {
            Enqueued::Queued(id) | Enqueued::AlreadyQueued(id) => id,
        }
    }
}

/// The state of an outbox row (`docs/channels.md` draws the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboxState {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Leased by a worker until `lease_until`.
    Claimed,
    /// An attempt failed with a retryable error; retried at `next_attempt_at`.
    Failed,
    /// Handed to the SMTP server or the gateway (it answered success).
    Sent,
    /// A permanent error, or the last allowed attempt failed.
    Dead,
    /// The rules refuse it at send time and waiting cannot help (a dispute, cease-contact…).
    Blocked,
    /// Its `expires_at` passed before it could be sent.
    Expired,
}

impl OutboxState {
    pub const ALL: [OutboxState; 7] = [
        OutboxState::Pending,
        OutboxState::Claimed,
        OutboxState::Failed,
        OutboxState::Sent,
        OutboxState::Dead,
        OutboxState::Blocked,
        OutboxState::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Claimed => "claimed",
            OutboxState::Failed => "failed",
            OutboxState::Sent => "sent",
            OutboxState::Dead => "dead",
            OutboxState::Blocked => "blocked",
            OutboxState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        OutboxState::ALL.into_iter().find(|st| st.code() == s)
    }

    /// No worker will touch the row again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OutboxState::Sent | OutboxState::Dead | OutboxState::Blocked | OutboxState::Expired
        )
    }
}

/// One stored outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub outbox_id: i64,
    pub message: NewOutboxMessage,
    pub state: OutboxState,
    /// Claims so far (each claim is one attempt, also when its worker died).
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    /// The `contacts` row recorded when it was sent.
    pub contact_id: Option<String>,
}

/// How a worker finishes a claimed row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The channel accepted it: `sent`, and the contact is recorded at this instant.
    Sent { at: Timestamp },
    /// A retryable failure: `failed`, tried again at `retry_at`.
    Retry { retry_at: Timestamp, error: String },
    /// A permanent failure or the last attempt: `dead`.
    Dead { error: String },
    /// The rules refuse it now but allow it at `until`: back to `pending`; the claim does not
    /// count as an attempt.
    Defer { until: Timestamp, reason: String },
    /// The rules refuse it for good: `blocked`.
    Blocked { reason: String },
    /// Past its `expires_at`: `expired`.
    Expired,
}

/// The columns a row is read with, in `row`'s order.
const COLS: [(&str, Ty); 29] = [
    ("outbox_id", Ty::Int),
    ("idempotency_key", Ty::Text),
    ("borrower_id", Ty::Text),
    ("loan_id", Ty::Text),
    ("channel", Ty::Text),
    ("party", Ty::Text),
    ("target", Ty::Text),
    ("purpose", Ty::Text),
    ("agency_id", Ty::Text),
    ("language", Ty::Text),
    ("lender_name", Ty::Text),
    ("verification_code", Ty::Text),
    ("subject", Ty::Text),
    ("body", Ty::Text),
    ("decided_at", Ty::Ts),
    ("jurisdiction", Ty::Text),
    ("pack_version", Ty::Text),
    ("policy", Ty::Text),
    ("enqueued_at", Ty::Ts),
    ("expires_at", Ty::Ts),
    ("not_before", Ty::Ts),
    ("state", Ty::Text),
    ("attempts", Ty::Int),
    ("next_attempt_at", Ty::Ts),
    ("lease_owner", Ty::Text),
    ("lease_until", Ty::Ts),
    ("last_error", Ty::Text),
    ("sent_at", Ty::Ts),
    ("contact_id", Ty::Text),
];

fn select_list(d: Dialect) -> String {
    COLS.iter()
        .map(|(c, t)| d.select(c, *t))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_tys() -> Vec<Ty> {
    COLS.iter().map(|(_, t)| *t).collect()
}

fn opt_ts(t: Option<Timestamp>) -> Cell {
    Cell::Text(t.map(ts_text))
}

fn row(r: &[Cell]) -> Result<OutboxRow, StoreError> {
    let id = r.first().and_then(Cell::int).unwrap_or(-1);
    let bad = |column: &'static str, detail: String| StoreError::Corrupt {
        table: "outbox",
        key: id.to_string(),
        column,
        detail,
    };
    let t = |i: usize| r.get(i).and_then(Cell::text);
    let s = |i: usize| t(i).map(str::to_owned);
    let need = |i: usize| {
        t(i).map(str::to_owned)
            .ok_or_else(|| bad(COLS[i].0, "empty".into()))
    };
    let instant = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        t(i).map(|v| {
            v.parse::<Timestamp>()
                .map_err(|e| bad(COLS[i].0, format!("{v:?}: {e}")))
        })
        .transpose()
    };
    let need_instant = |i: usize| instant(i)?.ok_or_else(|| bad(COLS[i].0, "empty".to_owned()));
    let state_text = need(21)?;
    let state = OutboxState::parse(&state_text).ok_or_else(|| bad("state", state_text.clone()))?;
    let attempts = r.get(22).and_then(Cell::int).unwrap_or(0);
    Ok(OutboxRow {
        outbox_id: id,
        message: NewOutboxMessage {
            idempotency_key: need(1)?,
            borrower_id: need(2)?,
            loan_id: s(3),
            channel: need(4)?,
            party: need(5)?,
            target: s(6),
            purpose: need(7)?,
            agency_id: s(8),
            language: need(9)?,
            lender_name: need(10)?,
            verification_code: need(11)?,
            subject: s(12),
            body: need(13)?,
            decided_at: need_instant(14)?,
            jurisdiction: need(15)?,
            pack_version: need(16)?,
            policy: s(17),
            enqueued_at: need_instant(18)?,
            not_before: need_instant(20)?,
            expires_at: instant(19)?,
        },
        state,
        attempts: u32::try_from(attempts).map_err(|e| bad("attempts", e.to_string()))?,
        next_attempt_at: need_instant(23)?,
        lease_owner: s(24),
        lease_until: instant(25)?,
        last_error: s(26),
        sent_at: instant(27)?,
        contact_id: s(28),
    })
}

async fn rows_where(
    tx: &mut Tx,
    what: &str,
    clause: &str,
    args: &[Cell],
) -> Result<Vec<OutboxRow>, StoreError> {
    let d = tx.dialect();
    let sql = format!(
        "SELECT {} FROM outbox {clause} ORDER BY outbox_id",
        select_list(d)
    );
    let mut out = Vec::new();
    tx.fetch(what, &sql, args, &read_tys(), |r| {
        out.push(row(r)?);
        Ok(())
    })
    .await?;
    Ok(out)
}

async fn id_of_key(tx: &mut Tx, key: &str) -> Result<Option<i64>, StoreError> {
    let rows = tx
        .fetch_all(
            "reading an outbox key",
            "SELECT CAST(outbox_id AS BIGINT) FROM outbox WHERE idempotency_key = $1",
            &[text(key)],
            &[Ty::Int],
        )
        .await?;
    Ok(rows.first().and_then(|r| r[0].int()))
}

impl Store {
    /// Stores a message to send, once per idempotency key: a second call with the same key
    /// changes nothing and answers `AlreadyQueued` (whatever its other fields). The row and
    /// its decision fields are written in one transaction; nothing is sent here.
    pub async fn enqueue(&self, m: &NewOutboxMessage) -> Result<Enqueued, StoreError> {
        let mut tx = self.begin().await?;
        let queued = enqueue_in(&mut tx, m).await?;
        tx.commit().await?;
        Ok(queued)
    }

    /// Takes up to `limit` rows of the given channels due at `now` (pending or failed with
    /// `next_attempt_at <= now`, or claimed with a lease that ran out by `now`) for `worker`
    /// until `lease_until`, and counts an attempt on each. Oldest due first.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        channels: &[&str],
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let lock = match d {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let now_p = d.param(3, Ty::Ts);
        let sql = format!(
            "UPDATE outbox SET state = 'claimed', lease_owner = $1, lease_until = {}, \
             attempts = attempts + 1 \
             WHERE outbox_id IN (SELECT outbox_id FROM outbox \
               WHERE ((state IN ('pending', 'failed') AND next_attempt_at <= {now_p}) \
                  OR (state = 'claimed' AND lease_until <= {now_p})) \
                 AND channel IN {} \
               ORDER BY next_attempt_at, outbox_id LIMIT $4{lock}) \
             RETURNING {}",
            d.param(2, Ty::Ts),
            d.json_set(5),
            select_list(d)
        );
        let mut out = Vec::new();
        tx.fetch(
            "claiming outbox rows",
            &sql,
            &[
                text(worker),
                ts(lease_until),
                ts(now),
                Cell::Int(Some(i64::from(limit))),
                text(&json_array(channels.iter().copied())),
            ],
            &read_tys(),
            |r| {
                out.push(row(r)?);
                Ok(())
            },
        )
        .await?;
        tx.commit().await?;
        out.sort_by_key(|r| (r.next_attempt_at, r.outbox_id));
        Ok(out)
    }

    /// Finishes a row `worker` holds. False (and nothing changed) when the worker no longer
    /// holds it: its lease ran out and another worker took it over. `Sent` also records a
    /// notice (purpose `notice:<kind>` of the lifecycle's kinds) in `notices`, and the
    /// contact (`contacts.contact_id` = `outbox-ID`, outcome `sent`) in the same transaction.
    pub async fn release_outbox(
        &self,
        outbox_id: i64,
        worker: &str,
        how: &Release,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let mine = "WHERE outbox_id = $1 AND state = 'claimed' AND lease_owner = $2";
        let done = ", lease_owner = NULL, lease_until = NULL";
        let id = Cell::Int(Some(outbox_id));
        let w = text(worker);
        let n = match how {
            Release::Sent { at } => {
                tx.exec(
                    "marking a message sent",
                    &format!(
                        "UPDATE outbox SET state = 'sent', sent_at = {}, \
                         contact_id = CASE WHEN purpose IN ({ACCESS}) THEN NULL \
                         ELSE 'outbox-' || CAST(outbox_id AS TEXT) END{done} {mine}",
                        d.param(3, Ty::Ts)
                    ),
                    &[id.clone(), w, ts(*at)],
                )
                .await?
            }
            Release::Retry { retry_at, error } => {
                tx.exec(
                    "scheduling a retry",
                    &format!(
                        "UPDATE outbox SET state = 'failed', next_attempt_at = {}, \
                         last_error = $4{done} {mine}",
                        d.param(3, Ty::Ts)
                    ),
                    &[id.clone(), w, ts(*retry_at), text(error)],
                )
                .await?
            }
            Release::Defer { until, reason } => {
                tx.exec(
                    "deferring a message",
                    &format!(
                        "UPDATE outbox SET state = 'pending', next_attempt_at = {}, \
                         last_error = $4, attempts = attempts - 1{done} {mine}",
                        d.param(3, Ty::Ts)
                    ),
                    &[id.clone(), w, ts(*until), text(reason)],
                )
                .await?
            }
            Release::Dead { error: reason } | Release::Blocked { reason } => {
                let state = if matches!(how, Release::Dead { .. }) {
                    "dead"
                } else {
                    "blocked"
                };
                tx.exec(
                    "finishing a message",
                    &format!("UPDATE outbox SET state = $3, last_error = $4{done} {mine}"),
                    &[id.clone(), w, text(state), text(reason)],
                )
                .await?
            }
            Release::Expired => {
                tx.exec(
                    "expiring a message",
                    &format!("UPDATE outbox SET state = 'expired'{done} {mine}"),
                    &[id.clone(), w],
                )
                .await?
            }
        };
        if n == 0 {
            return Ok(false);
        }
        if !matches!(how, Release::Retry { .. } | Release::Defer { .. }) {
            // A sign-in code or portal link is a credential: once its row is final, the
            // code is not kept (the row still says what was sent, when and to whom).
            tx.exec(
                "withholding a sent credential",
                &format!(
                    "UPDATE outbox SET verification_code = '', body = $2 \
                     WHERE outbox_id = $1 AND purpose IN ({ACCESS})"
                ),
                &[id.clone(), text(WITHHELD)],
            )
            .await?;
        }
        if let Release::Sent { at } = how {
            tx.exec(
                "recording a sent message as a contact",
                &format!(
                    "INSERT INTO contacts (contact_id, borrower_id, loan_id, channel, direction, \
                     at, outcome, target, party, agency_id) \
                     SELECT contact_id, borrower_id, loan_id, channel, 'outbound', {}, 'sent', \
                     target, party, agency_id FROM outbox WHERE outbox_id = $1 \
                     AND contact_id IS NOT NULL \
                     ON CONFLICT (contact_id) DO NOTHING",
                    d.param(2, Ty::Ts)
                ),
                &[id.clone(), ts(*at)],
            )
            .await?;
            // A notice of the lifecycle's kinds is on record from the instant it was sent
            // (CN-AGENCY, CN-CREDIT, US-CREDIT, US-VALIDATION, GB-FORBEARANCE, ALL-SOLD read it).
            let kinds: Vec<String> = arrears_domain::lifecycle::NOTICE_KINDS
                .iter()
                .map(|k| format!("'notice:{k}'"))
                .collect();
            tx.exec(
                "recording a sent notice",
                &format!(
                    "INSERT INTO notices (notice_id, borrower_id, loan_id, kind, sent_at, channel, \
                     source) \
                     SELECT 'outbox-' || CAST(outbox_id AS TEXT), borrower_id, loan_id, \
                     substr(purpose, 8), {}, \
                     CASE channel WHEN 'push' THEN 'portal' ELSE channel END, 'outbox' \
                     FROM outbox WHERE outbox_id = $1 AND purpose IN ({}) \
                     ON CONFLICT (notice_id) DO NOTHING",
                    d.param(2, Ty::Ts),
                    kinds.join(", ")
                ),
                &[id, ts(*at)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One outbox row by id.
    pub async fn outbox_row(&self, outbox_id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let mut tx = self.begin_read().await?;
        let rows = rows_where(
            &mut tx,
            "reading an outbox row",
            "WHERE outbox_id = $1",
            &[Cell::Int(Some(outbox_id))],
        )
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().next())
    }

    /// Every outbox row, oldest first (for `arrears outbox status --rows` and tests).
    pub async fn outbox_rows(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.begin_read().await?;
        let rows = rows_where(&mut tx, "reading the outbox", "", &[]).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Rows per state (every state, zero included, in `OutboxState::ALL` order) and the
    /// earliest `next_attempt_at` of a row waiting to be sent.
    pub async fn outbox_counts(
        &self,
    ) -> Result<(Vec<(OutboxState, i64)>, Option<Timestamp>), StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "counting the outbox",
                "SELECT state, CAST(COUNT(*) AS BIGINT) FROM outbox GROUP BY state",
                &[],
                &[Ty::Text, Ty::Int],
            )
            .await?;
        let next = self
            .fetch_once(
                "reading the next due message",
                &format!(
                    "SELECT {} FROM outbox WHERE state IN ('pending', 'failed')",
                    d.select("MIN(next_attempt_at)", Ty::Ts)
                ),
                &[],
                &[Ty::Ts],
            )
            .await?;
        let counts = OutboxState::ALL
            .into_iter()
            .map(|st| {
                let n = rows
                    .iter()
                    .find(|r| r[0].text() == Some(st.code()))
                    .and_then(|r| r[1].int())
                    .unwrap_or(0);
                (st, n)
            })
            .collect();
        let next = next
            .first()
            .and_then(|r| r[0].text())
            .and_then(|t| t.parse::<Timestamp>().ok());
        Ok((counts, next))
    }
}

/// [`Store::enqueue`] inside the caller's transaction (a sign-in code and its message are
/// stored together).
pub(crate) async fn enqueue_in(tx: &mut Tx, m: &NewOutboxMessage) -> Result<Enqueued, StoreError> {
    let d = tx.dialect();
    let cols = [
        "idempotency_key",
        "borrower_id",
        "loan_id",
        "channel",
        "party",
        "target",
        "purpose",
        "agency_id",
        "language",
        "lender_name",
        "verification_code",
        "subject",
        "body",
        "decided_at",
        "jurisdiction",
        "pack_version",
        "policy",
        "enqueued_at",
        "expires_at",
        "not_before",
        "next_attempt_at",
    ];
    let params: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = if c.ends_with("_at") || *c == "not_before" {
                Ty::Ts
            } else {
                Ty::Text
            };
            d.param(i + 1, ty)
        })
        .collect();
    let n = tx
        .exec(
            "queueing a message",
            &format!(
                "INSERT INTO outbox ({}) VALUES ({}) ON CONFLICT (idempotency_key) DO NOTHING",
                cols.join(", "),
                params.join(", ")
            ),
            &[
                text(&m.idempotency_key),
                text(&m.borrower_id),
                opt_text(m.loan_id.as_deref()),
                text(&m.channel),
                text(&m.party),
                opt_text(m.target.as_deref()),
                text(&m.purpose),
                opt_text(m.agency_id.as_deref()),
                text(&m.language),
                text(&m.lender_name),
                text(&m.verification_code),
                opt_text(m.subject.as_deref()),
                text(&m.body),
                ts(m.decided_at),
                text(&m.jurisdiction),
                text(&m.pack_version),
                opt_text(m.policy.as_deref()),
                ts(m.enqueued_at),
                opt_ts(m.expires_at),
                ts(m.not_before),
                ts(m.not_before),
            ],
        )
        .await?;
    let id = id_of_key(tx, &m.idempotency_key)
        .await?
        .ok_or_else(|| StoreError::Internal("a queued message has no row".into()))?;
    Ok(if n == 1 {
        Enqueued::Queued(id)
    } else {
        Enqueued::AlreadyQueued(id)
    })
}
