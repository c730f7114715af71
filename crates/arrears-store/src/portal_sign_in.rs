//! The borrower's own way into the portal (migration 0016): a six-digit code asked for with
//! the borrower's phone or e-mail, stored as a salted SHA-256 together with the outbox
//! message that carries it (one transaction), and redeemed for a borrower session. Only the
//! borrower's latest live code counts; each try uses one of its attempts, so guessing is
//! bounded by attempts × codes per hour. This module reads no clock: the caller says when.

use crate::outbox::{Enqueued, NewOutboxMessage, enqueue_in};
use crate::pages::NewSession;
use crate::schema::{int, text, ts};
use crate::sql::{Dialect, Ty};
use crate::{Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

/// A code to store: the borrower, the channel it goes by, its salt and the code itself (the
/// store keeps only the digest), and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignInCode<'a> {
    pub borrower_id: &'a str,
    /// `sms` or `email`.
    pub channel: &'a str,
    /// 64 hex digits of fresh randomness.
    pub salt: &'a str,
    pub code: &'a str,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What [`Store::issue_sign_in_code`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInIssued {
    /// Stored, and its message queued in the outbox under this id.
    Queued(i64),
    /// The borrower already asked for the most codes allowed in the past hour; nothing stored.
    TooMany,
}

/// What [`Store::redeem_sign_in_code`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRedeemed {
    /// The code was right: it is used up and the session is stored.
    SignedIn,
    /// The code was wrong; this many tries are left on the live code.
    Wrong { tries_left: i64 },
    /// No live code (none asked for, expired, used, or out of tries).
    NoLiveCode,
}

/// The digest kept for a code: SHA-256 of `salt:borrower:code`, in hex.
pub fn sign_in_digest(salt: &str, borrower_id: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(borrower_id.as_bytes());
    h.update(b":");
    h.update(code.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Equal without an early exit (the time taken does not say how much of a digest matched).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Store {
    /// Stores a sign-in code and queues `message` (which carries it) in one transaction,
    /// unless the borrower already asked for `max_per_hour` codes in the hour before
    /// `code.created_at`. The borrower's row is locked first, so two requests at once count
    /// each other.
    pub async fn issue_sign_in_code(
        &self,
        code: &NewSignInCode<'_>,
        message: &NewOutboxMessage,
        max_per_hour: u32,
    ) -> Result<SignInIssued, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        if d == Dialect::Postgres {
            // Two requests at once for one borrower are ordered by the borrower's row lock.
            tx.exec(
                "locking the borrower",
                "SELECT borrower_id FROM borrowers WHERE borrower_id = $1 FOR UPDATE",
                &[text(code.borrower_id)],
            )
            .await?;
        }
        // The write comes first: on SQLite it takes the database's write lock before the
        // count reads, so the count includes every other request.
        let stored = tx
            .fetch_all(
                "storing a sign-in code",
                &format!(
                    "INSERT INTO portal_sign_in_codes (borrower_id, channel, salt, code_sha256, \
                     created_at, expires_at) VALUES ($1, $2, $3, $4, {}, {}) \
                     RETURNING CAST(sign_in_id AS BIGINT)",
                    d.param(5, Ty::Ts),
                    d.param(6, Ty::Ts)
                ),
                &[
                    text(code.borrower_id),
                    text(code.channel),
                    text(code.salt),
                    text(&sign_in_digest(code.salt, code.borrower_id, code.code)),
                    ts(code.created_at),
                    ts(code.expires_at),
                ],
                &[Ty::Int],
            )
            .await?;
        let Some(sign_in_id) = stored.first().and_then(|r| r[0].int()) else {
            return Err(StoreError::Internal(
                "a stored sign-in code has no id".into(),
            ));
        };
        let since = code
            .created_at
            .saturating_sub(SignedDuration::from_hours(1))
            .unwrap_or(code.created_at);
        let recent = tx
            .fetch_all(
                "counting recent sign-in codes",
                &format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM portal_sign_in_codes \
                     WHERE borrower_id = $1 AND created_at > {}",
                    d.param(2, Ty::Ts)
                ),
                &[text(code.borrower_id), ts(since)],
                &[Ty::Int],
            )
            .await?;
        // The count includes the code just stored; dropping the transaction rolls it back.
        let n = recent.first().and_then(|r| r[0].int()).unwrap_or(i64::MAX);
        if n > i64::from(max_per_hour) {
            return Ok(SignInIssued::TooMany);
        }
        let outbox_id = match enqueue_in(&mut tx, message).await? {
            Enqueued::Queued(id) | Enqueued::AlreadyQueued(id) => id,
        };
        tx.exec(
            "linking a sign-in code to its message",
            "UPDATE portal_sign_in_codes SET outbox_id = $2 WHERE sign_in_id = $1",
            &[int(sign_in_id), int(outbox_id)],
        )
        .await?;
        tx.commit().await?;
        Ok(SignInIssued::Queued(outbox_id))
    }

    /// Tries `code` against the borrower's latest live code at `session.created_at` (unused,
    /// unexpired, fewer than `max_attempts` tries). The try is counted whatever its result;
    /// a right code is used up and the borrower session stored, in the same transaction.
    pub async fn redeem_sign_in_code(
        &self,
        borrower_id: &str,
        code: &str,
        session: &NewSession<'_>,
        max_attempts: i64,
    ) -> Result<SignInRedeemed, StoreError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        // The write comes first (the try is counted before the code is compared), so two tries
        // at once are ordered by the row's lock and each uses up an attempt.
        let rows = tx
            .fetch_all(
                "trying a sign-in code",
                &format!(
                    "UPDATE portal_sign_in_codes SET attempts = attempts + 1 \
                     WHERE sign_in_id = (SELECT sign_in_id FROM portal_sign_in_codes \
                       WHERE borrower_id = $1 AND used_at IS NULL AND expires_at > {at} \
                       ORDER BY sign_in_id DESC LIMIT 1) \
                     AND attempts < $3 \
                     RETURNING CAST(sign_in_id AS BIGINT), salt, code_sha256, CAST(attempts AS BIGINT)",
                    at = d.param(2, Ty::Ts)
                ),
                &[text(borrower_id), ts(session.created_at), int(max_attempts)],
                &[Ty::Int, Ty::Text, Ty::Text, Ty::Int],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(SignInRedeemed::NoLiveCode);
        };
        let (Some(id), Some(salt), Some(digest), Some(attempts)) =
            (row[0].int(), row[1].text(), row[2].text(), row[3].int())
        else {
            return Err(StoreError::Internal(
                "a sign-in code row reads back empty".into(),
            ));
        };
        if !same(&sign_in_digest(salt, borrower_id, code), digest) {
            tx.commit().await?;
            return Ok(SignInRedeemed::Wrong {
                tries_left: (max_attempts - attempts).max(0),
            });
        }
        tx.exec(
            "using a sign-in code",
            &format!(
                "UPDATE portal_sign_in_codes SET used_at = {} WHERE sign_in_id = $2",
                d.param(1, Ty::Ts)
            ),
            &[ts(session.created_at), int(id)],
        )
        .await?;
        tx.exec(
            "creating a portal session",
            &format!(
                "INSERT INTO sessions (session_sha256, kind, borrower_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, 'borrower', $2, $3, {}, {})",
                d.param(4, Ty::Ts),
                d.param(5, Ty::Ts)
            ),
            &[
                text(session.session_sha256),
                text(borrower_id),
                text(session.csrf_token),
                ts(session.created_at),
                ts(session.expires_at),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(SignInRedeemed::SignedIn)
    }

    /// The borrowers whose phone (exactly, E.164) or e-mail (case-insensitively) is `target`.
    pub async fn borrowers_with_target(&self, target: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_once(
                "finding a borrower by phone or e-mail",
                "SELECT borrower_id FROM borrowers WHERE phone = $1 OR lower(email) = lower($1) \
                 ORDER BY borrower_id LIMIT 2",
                &[text(target)],
                &[Ty::Text],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().and_then(|c| c.into_text()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_bind_salt_borrower_and_code() {
        let a = sign_in_digest("s", "B1", "123456");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sign_in_digest("t", "B1", "123456"));
        assert_ne!(a, sign_in_digest("s", "B2", "123456"));
        assert_ne!(a, sign_in_digest("s", "B1", "123457"));
        assert!(same(&a, &sign_in_digest("s", "B1", "123456")));
        assert!(!same(&a, &a[..63]));
    }
}
