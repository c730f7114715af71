//! The index of issued messages that the public verify page (`pages/verify.rs`) answers
//! from: built from the audit log at `arrears serve` start (the lender's `--audit-log`, where
//! `arrears sign` and `arrears plan --keys --log` write every signed `message` entry) and kept
//! in the store (`issued_messages`, migration 0014). No request reads the log.
//!
//! While the server runs, [`watch`] rebuilds the index when the log changes (a plan made
//! during the day), checking the log's length and modification time every few seconds.
//!
//! A hit is a whole signed record; [`verified`] checks it against the lender's public key,
//! so a row edited in the store (or a record edited in the log before it was indexed) is
//! never answered as genuine.

use arrears_evidence::{Entry, SignedMessage};
use arrears_store::{IndexedMessage, Store};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error("could not read the audit log {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("could not store the message index: {0}")]
    Store(#[from] arrears_store::StoreError),
    #[error("the index build was interrupted: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What a rebuild found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexReport {
    /// Messages indexed.
    pub messages: u64,
    /// Message records whose content was erased after retention (not indexable).
    pub redacted: u64,
}

/// The messages of an audit log's text (JSON lines), and how many message records are
/// redacted. Lines that are not entries, and message entries that are not signed records,
/// are skipped (`audit verify` is the judge of a log's integrity, not the index).
pub fn messages_of_log(text: &str) -> (Vec<IndexedMessage>, u64) {
    let mut out = Vec::new();
    let mut redacted = 0;
    for line in text.lines() {
        // Only message entries are parsed (a plan's log is mostly decisions).
        if !line.contains("\"message\"") {
            continue;
        }
        let Ok(e) = serde_json::from_str::<Entry>(line) else {
            continue;
        };
        if e.kind != "message" {
            continue;
        }
        if e.is_redacted() {
            redacted += 1;
            continue;
        }
        let Ok(m) = serde_json::from_value::<SignedMessage>(e.data) else {
            continue;
        };
        out.push(IndexedMessage {
            code: m.code,
            lender: m.lender,
            borrower_id: m.borrower_id,
            loan_id: m.loan_id,
            channel: m.channel,
            issued_at: m.issued_at,
            sequence: m.sequence,
            text: m.text,
            signature: m.signature,
            audit_seq: e.seq,
        });
    }
    (out, redacted)
}

/// Rebuilds the store's index from the audit log at `log` (a missing log is an empty one).
/// A log being appended to is read up to its last whole line; the next change rebuilds again.
pub async fn rebuild(store: &Store, log: &Path) -> Result<IndexReport, IndexError> {
    let path = log.to_path_buf();
    let read = tokio::task::spawn_blocking(move || match std::fs::read_to_string(&path) {
        Ok(t) => Ok(messages_of_log(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        Err(source) => Err(IndexError::Read {
            path: path.display().to_string(),
            source,
        }),
    })
    .await??;
    let (messages, redacted) = read;
    let n = store
        .replace_message_index(
            &messages,
            redacted,
            &log.display().to_string(),
            crate::now(),
        )
        .await?;
    Ok(IndexReport {
        messages: n,
        redacted,
    })
}

/// What tells a log changed: its length and modification time (`None` while it is absent).
pub type LogStamp = Option<(u64, Option<std::time::SystemTime>)>;

/// The log's stamp now.
pub fn stamp(log: &Path) -> LogStamp {
    std::fs::metadata(log)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Keeps the index current while the server runs: every `every`, when the log's length or
/// modification time differs from the last build's (`seen`: the stamp taken before the
/// start's build), it is rebuilt, so messages a plan signs into the log during the day are
/// found without a restart. A log that is gone (moved away, being replaced) leaves the index
/// as it is. No request waits for it.
pub fn watch(store: Store, log: std::path::PathBuf, every: std::time::Duration, seen: LogStamp) {
    tokio::spawn(async move {
        let mut seen = seen;
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&log);
            if now.is_none() || now == seen {
                continue;
            }
            match rebuild(&store, &log).await {
                Ok(r) => {
                    seen = now;
                    tracing::info!(
                        messages = r.messages,
                        redacted = r.redacted,
                        "the audit log changed: its messages were indexed again"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not index the audit log again; keeping the index")
                }
            }
        }
    });
}

/// The signed record of an indexed message.
pub fn signed(m: &IndexedMessage) -> SignedMessage {
    SignedMessage {
        lender: m.lender.clone(),
        borrower_id: m.borrower_id.clone(),
        loan_id: m.loan_id.clone(),
        channel: m.channel.clone(),
        issued_at: m.issued_at.clone(),
        sequence: m.sequence,
        text: m.text.clone(),
        code: m.code.clone(),
        signature: m.signature.clone(),
    }
}

/// Whether an indexed message is the lender's, as signed (the code belongs to the record
/// and the signature holds under `public_key_hex`).
pub fn verified(public_key_hex: &str, m: &IndexedMessage) -> bool {
    arrears_evidence::verify_message(public_key_hex, &signed(m)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_evidence::{Draft, LenderKey, MessageDraft, append};

    #[test]
    fn only_signed_messages_are_indexed_and_edits_fail_the_check() {
        let key = LenderKey::from_seed([3; 32]);
        let mut d = MessageDraft {
            lender: "Acme".into(),
            borrower_id: "B1".into(),
            loan_id: Some("L1".into()),
            channel: "sms".into(),
            issued_at: "2026-11-28T02:00:00Z".parse().unwrap(),
            sequence: 1,
            text: String::new(),
        };
        d.text = format!("Pay by Friday. Code {}", d.code());
        let m = key.sign(d);
        let draft = |kind: &str, data: serde_json::Value| Draft {
            at: "2026-11-28T02:00:00Z".parse().unwrap(),
            kind: kind.into(),
            borrower_id: Some("B1".into()),
            loan_id: None,
            data,
        };
        let a = append(None, draft("plan.block", serde_json::json!({"message": 1})));
        let b = append(
            Some(&a),
            draft("message", serde_json::to_value(&m).unwrap()),
        );
        let log = format!(
            "{}\n{}\nnot json \"message\"\n",
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let (found, redacted) = messages_of_log(&log);
        assert_eq!(redacted, 0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, m.code);
        assert_eq!(found[0].audit_seq, b.seq);
        assert!(verified(&key.public_hex(), &found[0]));
        let mut edited = found[0].clone();
        edited.text = edited.text.replace("Friday", "today to account 123");
        assert!(!verified(&key.public_hex(), &edited));
        let other = LenderKey::from_seed([4; 32]);
        assert!(!verified(&other.public_hex(), &found[0]));
    }
}
