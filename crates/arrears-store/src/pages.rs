//! What the web pages store: sessions (a staff user after a password login, or a borrower
//! after exchanging a portal code), the one-time portal codes, which agent works which loan,
//! and the text a borrower wrote when opening a dispute on the portal.
//!
//! Session ids and portal codes are secrets of 256 random bits made by the caller; only
//! their SHA-256 is stored (a slow hash adds nothing to that much entropy). A portal code is
//! exchanged at most once: the `UPDATE … WHERE used_at IS NULL` that marks it used and the
//! `INSERT` of the borrower's session are one transaction, so two visits at once cannot both
//! win.

use crate::schema::{text, ts};
use crate::service::ServiceError;
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOwner {
    /// A staff user, with their role (agent, supervisor, compliance, admin).
    Staff { username: String, role: String },
    /// A borrower on the portal.
    Borrower { borrower_id: String },
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub owner: SessionOwner,
    /// The CSRF token every state-changing form of this session carries.
    pub csrf_token: String,
    pub expires_at: Timestamp,
    /// A staff user's own time zone (`users.time_zone`, migration 0011), when set.
    pub zone: Option<String>,
}

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub session_sha256: &'a str,
    pub csrf_token: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A loan's schedule, payments and promises as stored, for the account page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoanBook {
    pub currency: String,
    /// By sequence number.
    pub installments: Vec<BookInstallment>,
    /// Oldest first.
    pub payments: Vec<BookPayment>,
    /// Oldest first.
    pub promises: Vec<BookPromise>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookInstallment {
    pub seq: i64,
    pub due_date: jiff::civil::Date,
    pub principal_minor: i64,
    pub interest_minor: i64,
    pub fee_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPayment {
    pub payment_id: String,
    pub received_at: Timestamp,
    pub amount_minor: i64,
    /// `payment` or `reversal`.
    pub kind: String,
    pub reverses: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookPromise {
    pub promise_id: String,
    pub created_at: Timestamp,
    pub amount_minor: i64,
    pub due_date: jiff::civil::Date,
    /// Set when the promise was cancelled (it is then neither kept nor broken).
    pub cancelled: Option<crate::desk::PromiseCancellation>,
}

/// What one staff user recorded through the service since an instant: contacts, of which
/// right-party conversations, and promises to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorActivity {
    /// The recording actor as the event log names it (`user:alice`, a token's name).
    pub actor: String,
    pub contacts: u64,
    pub right_party: u64,
    pub promises: u64,
}

/// Outcomes that mean the borrower was spoken to.
pub const RIGHT_PARTY_OUTCOMES: [&str; 4] = ["right_party", "promise", "refused", "dispute"];

/// A borrower's dispute text as written on the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeNote {
    pub at: Timestamp,
    pub body: String,
}

fn date(
    table: &'static str,
    column: &'static str,
    c: &Cell,
) -> Result<jiff::civil::Date, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse().map_err(|e| StoreError::Corrupt {
        table,
        key: s.to_owned(),
        column,
        detail: format!("{e}"),
    })
}

fn count(c: &Cell) -> u64 {
    u64::try_from(c.int().unwrap_or_default()).unwrap_or_default()
}

fn instant(table: &'static str, column: &'static str, c: &Cell) -> Result<Timestamp, StoreError> {
    let s = c.text().unwrap_or_default();
    s.parse().map_err(|e| StoreError::Corrupt {
        table,
        key: s.to_owned(),
        column,
        detail: format!("{e}"),
    })
}

impl Store {
    /// Stores a staff session for an existing user.
    pub async fn create_staff_session(
        &self,
        s: &NewSession<'_>,
        username: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        tx.exec(
            "creating a session",
            &format!(
                "INSERT INTO sessions (session_sha256, kind, username, csrf_token, created_at, expires_at) \
                 VALUES ($1, 'staff', $2, $3, {}, {})",
                d.param(4, Ty::Ts),
                d.param(5, Ty::Ts)
            ),
            &[
                text(s.session_sha256),
                text(username),
                text(s.csrf_token),
                ts(s.created_at),
                ts(s.expires_at),
            ],
        )
        .await?;
        tx.commit().await
    }

    /// The live (unexpired) session with this hash.
    pub async fn session(
        &self,
        session_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading a session",
                &format!(
                    "SELECT s.kind, s.username, u.role, s.borrower_id, s.csrf_token, {}, u.time_zone \
                     FROM sessions s LEFT JOIN users u ON u.username = s.username \
                     WHERE s.session_sha256 = $1 AND s.expires_at > {} \
                     AND (u.username IS NULL OR u.disabled = {})",
                    d.select("s.expires_at", Ty::Ts),
                    d.param(2, Ty::Ts),
                    match d {
                        crate::sql::Dialect::Sqlite => "0",
                        crate::sql::Dialect::Postgres => "false",
                    }
                ),
                &[text(session_sha256), ts(now)],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Ts,
                    Ty::Text,
                ],
            )
            .await?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let owner = match (r[0].text(), r[1].text(), r[2].text(), r[3].text()) {
            (Some("staff"), Some(u), Some(role), None) => SessionOwner::Staff {
                username: u.to_owned(),
                role: role.to_owned(),
            },
            (Some("borrower"), None, _, Some(b)) => SessionOwner::Borrower {
                borrower_id: b.to_owned(),
            },
            // A staff session whose user row is gone is not a session.
            _ => return Ok(None),
        };
        Ok(Some(Session {
            owner,
            csrf_token: r[4].text().unwrap_or_default().to_owned(),
            expires_at: instant("sessions", "expires_at", &r[5])?,
            zone: r[6].text().map(str::to_owned),
        }))
    }

    /// Ends a session (logout); also forgets every expired session.
    pub async fn delete_session(
        &self,
        session_sha256: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        tx.exec(
            "ending a session",
            &format!(
                "DELETE FROM sessions WHERE session_sha256 = $1 OR expires_at <= {}",
                d.param(2, Ty::Ts)
            ),
            &[text(session_sha256), ts(now)],
        )
        .await?;
        tx.commit().await
    }

    /// Stores a one-time portal code's hash for a borrower.
    pub async fn create_portal_code(
        &self,
        code_sha256: &str,
        borrower_id: &str,
        created_by: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), ServiceError> {
        let d = self.dialect();
        let n = self
            .exec_once(
                "storing a portal code",
                &format!(
                    "INSERT INTO portal_codes (code_sha256, borrower_id, created_by, created_at, expires_at) \
                     SELECT $1, borrower_id, $3, {}, {} FROM borrowers WHERE borrower_id = $2",
                    d.param(4, Ty::Ts),
                    d.param(5, Ty::Ts)
                ),
                &[
                    text(code_sha256),
                    text(borrower_id),
                    text(created_by),
                    ts(created_at),
                    ts(expires_at),
                ],
            )
            .await?;
        if n == 0 {
            return Err(ServiceError::UnknownBorrower(borrower_id.to_owned()));
        }
        Ok(())
    }

    /// Exchanges an unused, unexpired portal code for a borrower session (one transaction);
    /// the borrower's id, or `None` when the code is unknown, used or expired.
    pub async fn redeem_portal_code(
        &self,
        code_sha256: &str,
        s: &NewSession<'_>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        // The write comes first: on SQLite the transaction takes the write lock before it
        // reads, and on PostgreSQL the row lock makes a second exchange wait and then miss.
        let n = tx
            .exec(
                "using a portal code",
                &format!(
                    "UPDATE portal_codes SET used_at = {} \
                     WHERE code_sha256 = $2 AND used_at IS NULL AND expires_at > {}",
                    d.param(1, Ty::Ts),
                    d.param(1, Ty::Ts)
                ),
                &[ts(s.created_at), text(code_sha256)],
            )
            .await?;
        if n != 1 {
            return Ok(None);
        }
        let rows = tx
            .fetch_all(
                "reading a portal code",
                "SELECT borrower_id FROM portal_codes WHERE code_sha256 = $1",
                &[text(code_sha256)],
                &[Ty::Text],
            )
            .await?;
        let Some(borrower) = rows.first().and_then(|r| r[0].text()).map(str::to_owned) else {
            return Ok(None);
        };
        tx.exec(
            "creating a portal session",
            &format!(
                "INSERT INTO sessions (session_sha256, kind, borrower_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, 'borrower', $2, $3, {}, {})",
                d.param(4, Ty::Ts),
                d.param(5, Ty::Ts)
            ),
            &[
                text(s.session_sha256),
                text(&borrower),
                text(s.csrf_token),
                ts(s.created_at),
                ts(s.expires_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(borrower))
    }

    /// Assigns a loan to a user (replacing an earlier assignment).
    pub async fn assign(
        &self,
        loan_id: &str,
        username: &str,
        at: Timestamp,
    ) -> Result<(), ServiceError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let n = tx
            .exec(
                "assigning a loan",
                &format!(
                    "INSERT INTO assignments (loan_id, username, assigned_at) \
                     SELECT l.loan_id, u.username, {} FROM loans l, users u \
                     WHERE l.loan_id = $1 AND u.username = $2 \
                     ON CONFLICT (loan_id) DO UPDATE SET username = excluded.username, \
                     assigned_at = excluded.assigned_at",
                    d.param(3, Ty::Ts)
                ),
                &[text(loan_id), text(username), ts(at)],
            )
            .await?;
        if n == 0 {
            let loans = tx
                .fetch_all(
                    "looking up a loan",
                    "SELECT loan_id FROM loans WHERE loan_id = $1",
                    &[text(loan_id)],
                    &[Ty::Text],
                )
                .await?;
            return Err(if loans.is_empty() {
                ServiceError::UnknownLoan(loan_id.to_owned())
            } else {
                ServiceError::Invalid(format!("there is no user {username:?}"))
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The user a loan is assigned to.
    pub async fn assignee(&self, loan_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading an assignment",
                "SELECT username FROM assignments WHERE loan_id = $1",
                &[text(loan_id)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].text()).map(str::to_owned))
    }

    /// The loans assigned to a user, in loan id order.
    pub async fn assigned_loans(&self, username: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading assignments",
                "SELECT loan_id FROM assignments WHERE username = $1 ORDER BY loan_id",
                &[text(username)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r[0].text().map(str::to_owned))
            .collect())
    }

    /// Keeps what a borrower wrote with a dispute (its event is already ingested).
    pub async fn add_dispute_note(
        &self,
        borrower_id: &str,
        event_id: &str,
        body: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        tx.exec(
            "storing a dispute note",
            &format!(
                "INSERT INTO dispute_notes (borrower_id, event_id, body, at) VALUES ($1, $2, $3, {})",
                d.param(4, Ty::Ts)
            ),
            &[text(borrower_id), text(event_id), text(body), ts(at)],
        )
        .await?;
        tx.commit().await
    }

    /// A borrower's dispute notes, oldest first.
    pub async fn dispute_notes(&self, borrower_id: &str) -> Result<Vec<DisputeNote>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading dispute notes",
                &format!(
                    "SELECT {}, body FROM dispute_notes WHERE borrower_id = $1 ORDER BY note_id",
                    d.select("at", Ty::Ts)
                ),
                &[text(borrower_id)],
                &[Ty::Ts, Ty::Text],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DisputeNote {
                    at: instant("dispute_notes", "at", &r[0])?,
                    body: r[1].text().unwrap_or_default().to_owned(),
                })
            })
            .collect()
    }

    /// A loan's currency, schedule, payments and promises; `None` when there is no such loan.
    pub async fn loan_book(&self, loan_id: &str) -> Result<Option<LoanBook>, StoreError> {
        let d = self.dialect();
        let mut tx = self.begin_read().await?;
        let id = [text(loan_id)];
        let loan = tx
            .fetch_all(
                "reading a loan",
                "SELECT currency FROM loans WHERE loan_id = $1",
                &id,
                &[Ty::Text],
            )
            .await?;
        let Some(currency) = loan.first().and_then(|r| r[0].text()).map(str::to_owned) else {
            return Ok(None);
        };
        let rows = tx
            .fetch_all(
                "reading a loan's installments",
                &format!(
                    "SELECT {}, {}, principal_minor, interest_minor, fee_minor FROM installments \
                     WHERE loan_id = $1 ORDER BY seq",
                    d.select("seq", Ty::Int),
                    d.select("due_date", Ty::Date)
                ),
                &id,
                &[Ty::Int, Ty::Date, Ty::Int, Ty::Int, Ty::Int],
            )
            .await?;
        let installments = rows
            .iter()
            .map(|r| {
                Ok(BookInstallment {
                    seq: r[0].int().unwrap_or_default(),
                    due_date: date("installments", "due_date", &r[1])?,
                    principal_minor: r[2].int().unwrap_or_default(),
                    interest_minor: r[3].int().unwrap_or_default(),
                    fee_minor: r[4].int().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = tx
            .fetch_all(
                "reading a loan's payments",
                &format!(
                    "SELECT payment_id, {}, amount_minor, kind, reverses FROM payments \
                     WHERE loan_id = $1 ORDER BY received_at, payment_id",
                    d.select("received_at", Ty::Ts)
                ),
                &id,
                &[Ty::Text, Ty::Ts, Ty::Int, Ty::Text, Ty::Text],
            )
            .await?;
        let payments = rows
            .iter()
            .map(|r| {
                Ok(BookPayment {
                    payment_id: r[0].text().unwrap_or_default().to_owned(),
                    received_at: instant("payments", "received_at", &r[1])?,
                    amount_minor: r[2].int().unwrap_or_default(),
                    kind: r[3].text().unwrap_or_default().to_owned(),
                    reverses: r[4].text().map(str::to_owned),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let rows = tx
            .fetch_all(
                "reading a loan's promises",
                &format!(
                    "SELECT p.promise_id, {}, p.amount_minor, {}, {}, c.cancelled_by, c.reason \
                     FROM promises p LEFT JOIN promise_cancellations c ON c.promise_id = p.promise_id \
                     WHERE p.loan_id = $1 ORDER BY p.created_at, p.promise_id",
                    d.select("p.created_at", Ty::Ts),
                    d.select("p.due_date", Ty::Date),
                    d.select("c.cancelled_at", Ty::Ts)
                ),
                &id,
                &[
                    Ty::Text,
                    Ty::Ts,
                    Ty::Int,
                    Ty::Date,
                    Ty::Ts,
                    Ty::Text,
                    Ty::Text,
                ],
            )
            .await?;
        let promises = rows
            .iter()
            .map(|r| {
                let promise_id = r[0].text().unwrap_or_default().to_owned();
                let cancelled = match r[4].text() {
                    None => None,
                    Some(_) => Some(crate::desk::PromiseCancellation {
                        at: crate::desk::parse_ts(
                            "promise_cancellations",
                            "cancelled_at",
                            &promise_id,
                            &r[4],
                        )?,
                        by: r[5].text().unwrap_or_default().to_owned(),
                        reason: r[6].text().unwrap_or_default().to_owned(),
                    }),
                };
                Ok(BookPromise {
                    created_at: instant("promises", "created_at", &r[1])?,
                    amount_minor: r[2].int().unwrap_or_default(),
                    due_date: date("promises", "due_date", &r[3])?,
                    promise_id,
                    cancelled,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(LoanBook {
            currency,
            installments,
            payments,
            promises,
        }))
    }

    /// Contacts (and right-party conversations) and promises recorded through the service
    /// since `since`, by the actor that recorded them, in actor order.
    pub async fn activity_since(&self, since: Timestamp) -> Result<Vec<ActorActivity>, StoreError> {
        let d = self.dialect();
        let rp = RIGHT_PARTY_OUTCOMES
            .iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = self
            .fetch_once(
                "reading the service's activity",
                &format!(
                    "SELECT e.actor, \
                     SUM(CASE WHEN e.kind = 'contact' THEN 1 ELSE 0 END), \
                     SUM(CASE WHEN e.kind = 'contact' AND c.outcome IN ({rp}) THEN 1 ELSE 0 END), \
                     SUM(CASE WHEN e.kind = 'promise_to_pay' THEN 1 ELSE 0 END) \
                     FROM ingested_events e LEFT JOIN contacts c ON e.kind = 'contact' AND c.contact_id = e.event_id \
                     WHERE e.received_at >= {} AND e.kind IN ('contact', 'promise_to_pay') \
                     GROUP BY e.actor ORDER BY e.actor",
                    d.param(1, Ty::Ts)
                ),
                &[ts(since)],
                &[Ty::Text, Ty::Int, Ty::Int, Ty::Int],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ActorActivity {
                actor: r[0].text().unwrap_or_default().to_owned(),
                contacts: count(&r[1]),
                right_party: count(&r[2]),
                promises: count(&r[3]),
            })
            .collect())
    }

    /// Every loan with a promise: its currency, promises and payments (no installments).
    pub async fn promise_books(&self) -> Result<Vec<LoanBook>, StoreError> {
        let d = self.dialect();
        let mut tx = self.begin_read().await?;
        let rows = tx
            .fetch_all(
                "reading promises",
                &format!(
                    "SELECT p.loan_id, l.currency, p.promise_id, {}, p.amount_minor, {} \
                     FROM promises p JOIN loans l ON l.loan_id = p.loan_id \
                     WHERE NOT EXISTS (SELECT 1 FROM promise_cancellations c \
                     WHERE c.promise_id = p.promise_id) \
                     ORDER BY p.loan_id, p.created_at, p.promise_id",
                    d.select("p.created_at", Ty::Ts),
                    d.select("p.due_date", Ty::Date)
                ),
                &[],
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Ts, Ty::Int, Ty::Date],
            )
            .await?;
        let mut books: Vec<(String, LoanBook)> = Vec::new();
        for r in &rows {
            let loan = r[0].text().unwrap_or_default();
            if books.last().is_none_or(|(l, _)| l != loan) {
                books.push((
                    loan.to_owned(),
                    LoanBook {
                        currency: r[1].text().unwrap_or_default().to_owned(),
                        installments: Vec::new(),
                        payments: Vec::new(),
                        promises: Vec::new(),
                    },
                ));
            }
            if let Some((_, b)) = books.last_mut() {
                b.promises.push(BookPromise {
                    promise_id: r[2].text().unwrap_or_default().to_owned(),
                    created_at: instant("promises", "created_at", &r[3])?,
                    amount_minor: r[4].int().unwrap_or_default(),
                    due_date: date("promises", "due_date", &r[5])?,
                    cancelled: None,
                });
            }
        }
        let rows = tx
            .fetch_all(
                "reading the payments of loans with promises",
                &format!(
                    "SELECT loan_id, payment_id, {}, amount_minor, kind, reverses FROM payments \
                     WHERE loan_id IN (SELECT loan_id FROM promises) \
                     ORDER BY loan_id, received_at, payment_id",
                    d.select("received_at", Ty::Ts)
                ),
                &[],
                &[Ty::Text, Ty::Text, Ty::Ts, Ty::Int, Ty::Text, Ty::Text],
            )
            .await?;
        let index: std::collections::HashMap<String, usize> = books
            .iter()
            .enumerate()
            .map(|(i, (l, _))| (l.clone(), i))
            .collect();
        for r in &rows {
            let Some(&i) = index.get(r[0].text().unwrap_or_default()) else {
                continue;
            };
            if let Some((_, b)) = books.get_mut(i) {
                b.payments.push(BookPayment {
                    payment_id: r[1].text().unwrap_or_default().to_owned(),
                    received_at: instant("payments", "received_at", &r[2])?,
                    amount_minor: r[3].int().unwrap_or_default(),
                    kind: r[4].text().unwrap_or_default().to_owned(),
                    reverses: r[5].text().map(str::to_owned),
                });
            }
        }
        Ok(books.into_iter().map(|(_, b)| b).collect())
    }
}
