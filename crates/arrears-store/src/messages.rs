//! The index of issued messages (migration 0014): every signed message of the audit log by
//! its verification code, so that the public verify page answers from one keyed read
//! instead of reading the log. The rows are the whole signed records (the caller checks the
//! signature with the lender's public key on a hit, so an edited row never passes), with the
//! audit entry each came from. The index is derived: [`Store::replace_message_index`]
//! rebuilds it from the log in one transaction; [`Store::index_messages`] adds messages as
//! they are issued.

use crate::schema::{int, opt_text, text, ts};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;

/// One issued message as the index keeps it: the signed record's fields, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedMessage {
    pub code: String,
    pub lender: String,
    pub borrower_id: String,
    pub loan_id: Option<String>,
    pub channel: String,
    /// The instant as the signed record writes it (RFC 3339, as signed).
    pub issued_at: String,
    pub sequence: u64,
    pub text: String,
    pub signature: String,
    /// The audit entry's sequence number.
    pub audit_seq: u64,
}

/// A hit, with what the store knows of the borrower now (`None` when the borrower is not in
/// the store, e.g. a message signed by hand for a borrower never imported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundMessage {
    pub message: IndexedMessage,
    pub borrower_zone: Option<String>,
    pub borrower_jurisdiction: Option<String>,
}

/// When and from what the index was last rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIndexState {
    pub built_at: Timestamp,
    pub source: String,
    pub messages: u64,
    /// Message records of the log whose content was erased after retention: their codes
    /// cannot be found.
    pub redacted_messages: u64,
}

/// Rows per INSERT (10 values each: well under both backends' parameter limits).
const CHUNK: usize = 500;

fn u64_cell(v: u64) -> Cell {
    // Sequences beyond i64 do not occur (an audit log would need 2^63 entries); saturate.
    int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn row_cells(m: &IndexedMessage) -> [Cell; 10] {
    [
        text(&m.code),
        text(&m.lender),
        text(&m.borrower_id),
        opt_text(m.loan_id.as_deref()),
        text(&m.channel),
        text(&m.issued_at),
        u64_cell(m.sequence),
        text(&m.text),
        text(&m.signature),
        u64_cell(m.audit_seq),
    ]
}

fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO issued_messages (code, lender, borrower_id, loan_id, channel, issued_at, \
         sequence, body, signature, audit_seq) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..10 {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * 10 + c + 1));
        }
        sql.push(')');
    }
    // Two messages with one code (50 bits: not expected): the first issued keeps it.
    sql.push_str(" ON CONFLICT (code) DO NOTHING");
    sql
}

impl Store {
    /// Replaces the whole index with `messages` (in one transaction: a reader sees the old
    /// index or the new one) and records where it came from.
    pub async fn replace_message_index(
        &self,
        messages: &[IndexedMessage],
        redacted_messages: u64,
        source: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let d = self.dialect();
        let mut tx = self.begin().await?;
        tx.exec(
            "emptying the message index",
            "DELETE FROM issued_messages",
            &[],
        )
        .await?;
        let mut n = 0;
        for part in messages.chunks(CHUNK) {
            let args: Vec<Cell> = part.iter().flat_map(row_cells).collect();
            n += tx
                .exec("indexing messages", &insert_sql(part.len()), &args)
                .await?;
        }
        tx.exec(
            "recording the message index's source",
            &format!(
                "INSERT INTO message_index_state (id, built_at, source, messages, redacted_messages) \
                 VALUES (1, {}, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
                 built_at = excluded.built_at, source = excluded.source, \
                 messages = excluded.messages, redacted_messages = excluded.redacted_messages",
                d.param(1, Ty::Ts)
            ),
            &[
                ts(at),
                text(source),
                u64_cell(n),
                u64_cell(redacted_messages),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Adds messages as they are issued (a code already indexed keeps its row); how many
    /// were new.
    pub async fn index_messages(&self, messages: &[IndexedMessage]) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut n = 0;
        for part in messages.chunks(CHUNK) {
            let args: Vec<Cell> = part.iter().flat_map(row_cells).collect();
            n += tx
                .exec("indexing messages", &insert_sql(part.len()), &args)
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The message issued with `code` (normalised by the caller), with the borrower's zone
    /// and jurisdiction as the store has them now.
    pub async fn issued_message(&self, code: &str) -> Result<Option<FoundMessage>, StoreError> {
        let rows = self
            .fetch_once(
                "looking up a verification code",
                "SELECT m.code, m.lender, m.borrower_id, m.loan_id, m.channel, m.issued_at, \
                 m.sequence, m.body, m.signature, m.audit_seq, b.timezone, b.jurisdiction \
                 FROM issued_messages m LEFT JOIN borrowers b ON b.borrower_id = m.borrower_id \
                 WHERE m.code = $1",
                &[text(code)],
                &[
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                    Ty::Int,
                    Ty::Text,
                    Ty::Text,
                ],
            )
            .await?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        let s = |i: usize| r[i].text().unwrap_or_default().to_owned();
        let u = |i: usize| u64::try_from(r[i].int().unwrap_or_default()).unwrap_or_default();
        Ok(Some(FoundMessage {
            message: IndexedMessage {
                code: s(0),
                lender: s(1),
                borrower_id: s(2),
                loan_id: r[3].text().map(str::to_owned),
                channel: s(4),
                issued_at: s(5),
                sequence: u(6),
                text: s(7),
                signature: s(8),
                audit_seq: u(9),
            },
            borrower_zone: r[10].text().map(str::to_owned),
            borrower_jurisdiction: r[11].text().map(str::to_owned),
        }))
    }

    /// When the index was last rebuilt, from what; `None` before the first build.
    pub async fn message_index_state(&self) -> Result<Option<MessageIndexState>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the message index's state",
                &format!(
                    "SELECT {}, source, messages, redacted_messages FROM message_index_state \
                     WHERE id = 1",
                    d.select("built_at", Ty::Ts)
                ),
                &[],
                &[Ty::Ts, Ty::Text, Ty::Int, Ty::Int],
            )
            .await?;
        let Some(r) = rows.into_iter().next() else {
            return Ok(None);
        };
        let built_at = crate::desk::parse_ts("message_index_state", "built_at", "1", &r[0])?;
        let u = |i: usize| u64::try_from(r[i].int().unwrap_or_default()).unwrap_or_default();
        Ok(Some(MessageIndexState {
            built_at,
            source: r[1].text().unwrap_or_default().to_owned(),
            messages: u(2),
            redacted_messages: u(3),
        }))
    }
}
