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
}

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub session_sha256: &'a str,
    pub csrf_token: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A borrower's dispute text as written on the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeNote {
    pub at: Timestamp,
    pub body: String,
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
                    "SELECT s.kind, s.username, u.role, s.borrower_id, s.csrf_token, {} \
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
                &[Ty::Text, Ty::Text, Ty::Text, Ty::Text, Ty::Text, Ty::Ts],
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
}
