//! The hash-chained audit log.
//!
//! Two hash versions are read; new entries are always written as v2.
//!
//! - v1 (no `v` field): hash = SHA-256 over `arrears-audit-v1\n` and the canonical JSON of
//!   `[seq, at, kind, borrower_id, loan_id, data, prev]`. Its hash covers the personal content
//!   directly, so a v1 entry can never be redacted.
//! - v2 (`"v":2`): hash = SHA-256 over `arrears-audit-v2\n` and the canonical JSON of
//!   `[seq, at, kind, prev, content_digest]`, where content_digest = SHA-256 over
//!   `arrears-audit-content-v2\n` and the canonical JSON of `[salt, borrower_id, loan_id,
//!   data]`. `salt` is a random per-entry value (hex, or null) so that the digest left behind
//!   by a redaction cannot confirm a guessed content.
//!
//! (serde_json orders object keys, so the encoding is canonical.) The first entry's `prev` is
//! 64 zeros.
//!
//! Redaction: when a v2 entry's retention has passed its content (salt, borrower_id, loan_id,
//! data) is erased and replaced by `redacted: {content_digest, by}`. seq, at, kind, prev and
//! hash stay, so the chain links and verifies as before. `by` is the seq of the later
//! `audit.redaction` entry that names the entry together with the instant its retention ended
//! (`kept_until`); `verify` rejects a stub that no such entry names, one whose `kept_until`
//! is after the redaction's `at`, and a named entry that still holds its content.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const TAG: &[u8] = b"arrears-audit-v1\n";
const TAG_V2: &[u8] = b"arrears-audit-v2\n";
const CONTENT_TAG: &[u8] = b"arrears-audit-content-v2\n";
const SALT_TAG: &[u8] = b"arrears-audit-salt\n";
/// The kind of the entry that records a redaction (see `redact`).
pub const REDACTION_KIND: &str = "audit.redaction";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The hash version: absent for v1, `2` for entries whose hash commits to a content
    /// digest (and which can therefore be redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u8>,
    pub seq: u64,
    /// RFC 3339 instant the decision or event took place (passed in, never read from a clock).
    pub at: String,
    /// What happened: `plan.action`, `plan.block`, `contact`, `message`, `status`, `access`…
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrower_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loan_id: Option<String>,
    /// The decision's inputs and outcome (rule ids, message text, …); null once redacted.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    /// v2: the per-entry salt of the content digest (hex); erased with the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// v2: set when the content was erased; what the hash still commits to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<Redacted>,
    pub prev: String,
    pub hash: String,
}

/// What is left of a redacted entry's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redacted {
    pub content_digest: String,
    /// The seq of the `audit.redaction` entry that redacted it.
    pub by: u64,
}

/// An entry before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub at: jiff::Timestamp,
    pub kind: String,
    pub borrower_id: Option<String>,
    pub loan_id: Option<String>,
    pub data: serde_json::Value,
}

/// Hands what serde_json writes straight to the hasher: no `Value` copy, no `String`.
struct HashSink<'a>(&'a mut Sha256);

impl std::io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 (hex) over `tag` and the compact JSON of `body`. A tuple serialises as the JSON
/// array `serde_json::json!([..])` would (same bytes: `chain::tests` compares the two), and a
/// `Value`'s object keys come out sorted, so the encoding is the canonical one.
///
/// The sink never fails and a `Value` always serialises (its map keys are strings), so the
/// error branch is unreachable; if it were ever taken, the empty result never matches a hash.
fn hex_sha256(tag: &[u8], body: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(tag);
    match serde_json::to_writer(HashSink(&mut h), body) {
        Ok(()) => data_encoding::HEXLOWER.encode(&h.finalize()),
        Err(_) => String::new(),
    }
}

fn digest_v1(
    seq: u64,
    at: &str,
    kind: &str,
    b: &Option<String>,
    l: &Option<String>,
    data: &serde_json::Value,
    prev: &str,
) -> String {
    hex_sha256(TAG, &(seq, at, kind, b, l, data, prev))
}

fn content_digest(
    salt: &Option<String>,
    b: &Option<String>,
    l: &Option<String>,
    data: &serde_json::Value,
) -> String {
    hex_sha256(CONTENT_TAG, &(salt, b, l, data))
}

fn digest_v2(seq: u64, at: &str, kind: &str, prev: &str, content_digest: &str) -> String {
    hex_sha256(TAG_V2, &(seq, at, kind, prev, content_digest))
}

impl Entry {
    /// The hash version (1 or 2; anything else never verifies).
    pub fn version(&self) -> u8 {
        self.v.unwrap_or(1)
    }

    pub fn is_redacted(&self) -> bool {
        self.redacted.is_some()
    }

    /// Whether any personal content is present.
    fn has_content(&self) -> bool {
        self.borrower_id.is_some()
            || self.loan_id.is_some()
            || self.salt.is_some()
            || !self.data.is_null()
    }

    /// v2: the digest the hash commits to (the stored one once redacted); None for v1.
    pub fn content_digest(&self) -> Option<String> {
        match (self.version(), &self.redacted) {
            (2, Some(r)) => Some(r.content_digest.clone()),
            (2, None) => Some(content_digest(
                &self.salt,
                &self.borrower_id,
                &self.loan_id,
                &self.data,
            )),
            _ => None,
        }
    }

    /// The hash this entry should carry, recomputed from its content (or, once redacted, from
    /// its content digest). Empty for an unknown version, so it never matches.
    pub fn computed_hash(&self) -> String {
        match self.version() {
            1 if self.redacted.is_none() => digest_v1(
                self.seq,
                &self.at,
                &self.kind,
                &self.borrower_id,
                &self.loan_id,
                &self.data,
                &self.prev,
            ),
            2 => match self.content_digest() {
                Some(c) => digest_v2(self.seq, &self.at, &self.kind, &self.prev, &c),
                None => String::new(),
            },
            _ => String::new(),
        }
    }
}

fn chain(prev: Option<&Entry>, d: Draft, salt: Option<String>) -> Entry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    let mut e = Entry {
        v: Some(2),
        seq,
        at: d.at.to_string(),
        kind: d.kind,
        borrower_id: d.borrower_id,
        loan_id: d.loan_id,
        data: d.data,
        salt,
        redacted: None,
        prev: prev_hash,
        hash: String::new(),
    };
    e.hash = e.computed_hash();
    e
}

/// Chains a draft after `prev` (None for the first entry), as a v2 entry without a salt.
/// Prefer `append_salted` for entries about a person: an unsalted digest left by a redaction
/// can confirm a guessed content.
pub fn append(prev: Option<&Entry>, d: Draft) -> Entry {
    chain(prev, d, None)
}

/// Chains a draft after `prev` as a v2 entry whose content digest is salted (see `salt`).
pub fn append_salted(prev: Option<&Entry>, d: Draft, salt: &[u8; 16]) -> Entry {
    chain(prev, d, Some(data_encoding::HEXLOWER.encode(salt)))
}

/// `drafts` chained after `end` (None: from the start) and written as log lines.
#[derive(Debug)]
pub struct EncodedLines {
    /// The JSON lines, each ending in `\n`, in pieces of consecutive entries.
    pub pieces: Vec<Vec<u8>>,
    /// The new end of the chain (unchanged when there was no draft).
    pub end: Option<Head>,
    pub count: u64,
    /// The hash of the first entry chained here (None when there was no draft).
    pub first_hash: Option<String>,
}

/// One draft's content, encoded once for both its digest and its line.
struct Encoded {
    seq: u64,
    at: String,
    kind: String,
    borrower_id: Option<String>,
    loan_id: Option<String>,
    /// The compact JSON of `data` (empty when `data` is null: the line omits it).
    data: Vec<u8>,
    salt: String,
    content_digest: String,
}

/// Chains `drafts` after `end` as salted v2 entries, exactly as `append_salted` called for
/// each in turn would (entry `seq` salted with `salt_of(seq)`), and writes them as the lines
/// `serde_json` would write for those entries (property-tested byte for byte), with each
/// entry's content encoded once: the content digest hashes the same bytes the line carries.
/// Digests and lines are made on every core; only the short chain hashes are sequential.
pub fn append_all_salted_lines(
    end: Option<&Head>,
    drafts: Vec<Draft>,
    salt_of: impl Fn(u64) -> [u8; 16] + Sync,
) -> Result<EncodedLines, serde_json::Error> {
    use rayon::prelude::*;
    let first = end.map_or(0, |e| e.seq + 1);
    let encoded: Vec<Encoded> = drafts
        .into_par_iter()
        .enumerate()
        .map(|(k, d)| -> Result<Encoded, serde_json::Error> {
            let seq = first + k as u64;
            let salt = data_encoding::HEXLOWER.encode(&salt_of(seq));
            let data = if d.data.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&d.data)?
            };
            let mut h = Sha256::new();
            h.update(CONTENT_TAG);
            h.update(b"[");
            serde_json::to_writer(HashSink(&mut h), &salt)?;
            h.update(b",");
            serde_json::to_writer(HashSink(&mut h), &d.borrower_id)?;
            h.update(b",");
            serde_json::to_writer(HashSink(&mut h), &d.loan_id)?;
            h.update(b",");
            h.update(if data.is_empty() { b"null" } else { &data[..] });
            h.update(b"]");
            Ok(Encoded {
                seq,
                at: d.at.to_string(),
                kind: d.kind,
                borrower_id: d.borrower_id,
                loan_id: d.loan_id,
                data,
                salt,
                content_digest: data_encoding::HEXLOWER.encode(&h.finalize()),
            })
        })
        .collect::<Result<_, _>>()?;
    let mut prev = end.map_or_else(|| GENESIS.to_owned(), |e| e.hash.clone());
    let links: Vec<(String, String)> = encoded
        .iter()
        .map(|e| {
            let hash = digest_v2(e.seq, &e.at, &e.kind, &prev, &e.content_digest);
            (std::mem::replace(&mut prev, hash.clone()), hash)
        })
        .collect();
    let new_end = encoded.last().map(|e| Head {
        seq: e.seq,
        hash: prev.clone(),
    });
    let pieces = encoded
        .par_chunks(1024)
        .zip(links.par_chunks(1024))
        .map(|(part, links)| -> Result<Vec<u8>, serde_json::Error> {
            let mut buf = Vec::with_capacity(part.iter().map(|e| e.data.len() + 400).sum());
            for (e, (prev, hash)) in part.iter().zip(links) {
                write_line(&mut buf, e, prev, hash)?;
            }
            Ok(buf)
        })
        .collect::<Result<_, _>>()?;
    Ok(EncodedLines {
        pieces,
        end: new_end.or_else(|| end.cloned()),
        count: encoded.len() as u64,
        first_hash: links.first().map(|(_, h)| h.clone()),
    })
}

/// One entry as `serde_json::to_writer(&Entry)` writes it: the fields in declaration order,
/// `borrower_id`, `loan_id` and a null `data` left out when absent, `redacted` never present.
fn write_line(
    buf: &mut Vec<u8>,
    e: &Encoded,
    prev: &str,
    hash: &str,
) -> Result<(), serde_json::Error> {
    buf.extend_from_slice(b"{\"v\":2,\"seq\":");
    serde_json::to_writer(&mut *buf, &e.seq)?;
    buf.extend_from_slice(b",\"at\":");
    serde_json::to_writer(&mut *buf, &e.at)?;
    buf.extend_from_slice(b",\"kind\":");
    serde_json::to_writer(&mut *buf, &e.kind)?;
    if let Some(b) = &e.borrower_id {
        buf.extend_from_slice(b",\"borrower_id\":");
        serde_json::to_writer(&mut *buf, b)?;
    }
    if let Some(l) = &e.loan_id {
        buf.extend_from_slice(b",\"loan_id\":");
        serde_json::to_writer(&mut *buf, l)?;
    }
    if !e.data.is_empty() {
        buf.extend_from_slice(b",\"data\":");
        buf.extend_from_slice(&e.data);
    }
    buf.extend_from_slice(b",\"salt\":");
    serde_json::to_writer(&mut *buf, &e.salt)?;
    buf.extend_from_slice(b",\"prev\":");
    serde_json::to_writer(&mut *buf, prev)?;
    buf.extend_from_slice(b",\"hash\":");
    serde_json::to_writer(&mut *buf, hash)?;
    buf.extend_from_slice(b"}\n");
    Ok(())
}

/// The salt of entry `seq` derived from a secret random `seed` (drawn by the caller, never
/// stored): one draw serves a whole batch of appends.
pub fn salt(seed: &[u8; 32], seq: u64) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(SALT_TAG);
    h.update(seed);
    h.update(seq.to_be_bytes());
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A statement of the last entry written: `verify` requires the log to hold this entry, so
/// removing entries from the end (or rebuilding the chain from some entry on) is detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// The head that names `e` (what the next entry links to).
    pub fn of(e: &Entry) -> Head {
        Head {
            seq: e.seq,
            hash: e.hash.clone(),
        }
    }
}

/// One entry named by an `audit.redaction` entry, with the basis of its deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactedItem {
    pub seq: u64,
    /// The jurisdiction whose pack judged it; None: unknown, every pack judged it.
    pub jurisdiction: Option<String>,
    /// The records rule that held it longest (CN-RECORDS, US-RECORDS), None if none did.
    pub rule_id: Option<String>,
    /// The last collection activity on its debt (RFC 3339), as the judgement used it.
    pub last_activity: String,
    /// The instant its retention ended (RFC 3339); never after the redaction's `at`.
    pub kept_until: String,
}

/// The `data` of an `audit.redaction` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionData {
    pub entries: Vec<RedactedItem>,
    /// The `--before` of the request, if any (the borrower of a `--borrower` request is the
    /// redaction entry's `borrower_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The lender's ed25519 signature (hex) over the redaction (see `redaction_signed_bytes`):
    /// a redaction is authorised only by the key holder. None in a redaction written before
    /// redactions were signed (`crate::head::verify_vouched` rejects it unless a later
    /// `audit.sign_head` entry ratifies it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl RedactionData {
    /// The redaction an entry records, if it is a readable `audit.redaction` entry.
    pub fn of(e: &Entry) -> Option<RedactionData> {
        if e.kind != REDACTION_KIND || e.is_redacted() {
            return None;
        }
        serde_json::from_value(e.data.clone()).ok()
    }
}

const REDACTION_SIG_TAG: &[u8] = b"arrears-audit-redaction-sig-v1\n";

/// What a redaction's signature covers: a domain tag and the canonical JSON of
/// `[seq, at, borrower_id, before, [[seq, content_digest, jurisdiction, rule_id,
/// last_activity, kept_until], ...]]`, where `seq`, `at` and `borrower_id` are the
/// `audit.redaction` entry's and each `content_digest` is the digest of the content removed
/// from the named entry (what its stub keeps). Never the signature itself.
pub(crate) fn redaction_signed_bytes(
    seq: u64,
    at: &str,
    borrower_id: Option<&str>,
    data: &RedactionData,
    digests: &[Option<String>],
) -> Vec<u8> {
    let items: Vec<_> = data
        .entries
        .iter()
        .zip(digests)
        .map(|(it, d)| {
            (
                it.seq,
                d,
                &it.jurisdiction,
                &it.rule_id,
                &it.last_activity,
                &it.kept_until,
            )
        })
        .collect();
    let mut out = REDACTION_SIG_TAG.to_vec();
    // A tuple of strings, options and numbers always serialises.
    out.extend(
        serde_json::to_vec(&(seq, at, borrower_id, &data.before, items)).unwrap_or_default(),
    );
    out
}

/// A request to redact entries whose retention has passed (judged by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct RedactionRequest {
    /// The instant of the redaction.
    pub at: jiff::Timestamp,
    /// The borrower of a `--borrower` request (kept in the redaction entry, so their export
    /// can say what was deleted).
    pub borrower_id: Option<String>,
    pub before: Option<String>,
    pub items: Vec<RedactedItem>,
}

/// Why a redaction was refused; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    #[error("no entry to redact")]
    Empty,
    #[error("there is no entry with seq {seq}")]
    NoSuchEntry { seq: u64 },
    #[error("entry {seq} is named twice")]
    Duplicate { seq: u64 },
    #[error(
        "entry {seq} is a v1 entry (written before redaction existed): its hash covers its content directly, so erasing the content would break the chain; it cannot be redacted"
    )]
    V1 { seq: u64 },
    #[error("entry {seq} is already redacted")]
    AlreadyRedacted { seq: u64 },
    #[error("entry {seq} is itself a redaction record; it is kept")]
    RedactionRecord { seq: u64 },
    #[error("entry {seq} must be kept until {kept_until}")]
    Held { seq: u64, kept_until: String },
    #[error("entry {seq}: {what} is not an RFC 3339 instant")]
    BadInstant { seq: u64, what: &'static str },
}

/// Redacts the requested entries of a verified log, all or none: appends one
/// `audit.redaction` entry naming them (with their retention basis) and erases their
/// content. Returns the redaction entry's seq; the caller rewrites the requested entries and
/// the new last one. `salt` as in `append_salted`. The redaction is not signed: use
/// `redact_signed` for a log whose head is signed (every log the CLI writes).
pub fn redact(
    entries: &mut Vec<Entry>,
    req: RedactionRequest,
    salt: Option<&[u8; 16]>,
) -> Result<u64, RedactError> {
    redact_with(entries, req, salt, None)
}

/// `redact`, with the redaction record signed by the lender's key: the signature covers the
/// record's seq and instant, the request's borrower and `before`, and every named entry's
/// seq, content digest (what was removed) and retention basis.
pub fn redact_signed(
    entries: &mut Vec<Entry>,
    req: RedactionRequest,
    salt: Option<&[u8; 16]>,
    key: &crate::signing::LenderKey,
) -> Result<u64, RedactError> {
    redact_with(entries, req, salt, Some(key))
}

fn redact_with(
    entries: &mut Vec<Entry>,
    req: RedactionRequest,
    salt: Option<&[u8; 16]>,
    key: Option<&crate::signing::LenderKey>,
) -> Result<u64, RedactError> {
    if req.items.is_empty() {
        return Err(RedactError::Empty);
    }
    let mut seen = std::collections::BTreeSet::new();
    for it in &req.items {
        let seq = it.seq;
        if !seen.insert(seq) {
            return Err(RedactError::Duplicate { seq });
        }
        let e = usize::try_from(seq)
            .ok()
            .and_then(|i| entries.get(i))
            .filter(|e| e.seq == seq)
            .ok_or(RedactError::NoSuchEntry { seq })?;
        if e.is_redacted() {
            return Err(RedactError::AlreadyRedacted { seq });
        }
        if e.kind == REDACTION_KIND {
            return Err(RedactError::RedactionRecord { seq });
        }
        if e.version() != 2 {
            return Err(RedactError::V1 { seq });
        }
        let until: jiff::Timestamp =
            it.kept_until.parse().map_err(|_| RedactError::BadInstant {
                seq,
                what: "kept_until",
            })?;
        if until > req.at {
            return Err(RedactError::Held {
                seq,
                kept_until: it.kept_until.clone(),
            });
        }
    }
    let mut data = RedactionData {
        entries: req.items,
        before: req.before,
        signature: None,
    };
    if let Some(key) = key {
        let seq = entries.last().map_or(0, |p| p.seq + 1);
        let digests: Vec<Option<String>> = data
            .entries
            .iter()
            .map(|it| {
                usize::try_from(it.seq)
                    .ok()
                    .and_then(|i| entries.get(i))
                    .and_then(Entry::content_digest)
            })
            .collect();
        let bytes = redaction_signed_bytes(
            seq,
            &req.at.to_string(),
            req.borrower_id.as_deref(),
            &data,
            &digests,
        );
        data.signature = Some(key.sign_bytes(&bytes));
    }
    let draft = Draft {
        at: req.at,
        kind: REDACTION_KIND.into(),
        borrower_id: req.borrower_id,
        loan_id: None,
        data: serde_json::to_value(&data).unwrap_or_default(),
    };
    let record = chain(
        entries.last(),
        draft,
        salt.map(|s| data_encoding::HEXLOWER.encode(s)),
    );
    let by = record.seq;
    for it in &data.entries {
        // Checked above: every named seq is an entry of this log.
        if let Some(e) = usize::try_from(it.seq)
            .ok()
            .and_then(|i| entries.get_mut(i))
        {
            let content_digest = e.content_digest().unwrap_or_default();
            e.borrower_id = None;
            e.loan_id = None;
            e.data = serde_json::Value::Null;
            e.salt = None;
            e.redacted = Some(Redacted { content_digest, by });
        }
    }
    entries.push(record);
    Ok(by)
}

/// The first place where the log is not what was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Tamper {
    #[error("entry {index} (seq {seq}) was altered: its content does not match its hash")]
    Altered { index: usize, seq: u64 },
    #[error(
        "entry {index}: expected seq {expected}, found {found}: an entry was removed, inserted or moved here"
    )]
    Sequence {
        index: usize,
        expected: u64,
        found: u64,
    },
    #[error(
        "entry {index} (seq {seq}) does not follow the entry before it: the chain was broken or reordered here"
    )]
    Link { index: usize, seq: u64 },
    #[error(
        "the log ends at seq {found:?} but its head says seq {expected}: entries were removed from the end"
    )]
    Truncated { expected: u64, found: Option<u64> },
    #[error("entry seq {seq} is not the entry the head names: the log was rewritten from there on")]
    HeadMismatch { seq: u64 },
    #[error(
        "entry {index} (seq {seq}) was emptied without a redaction: no later audit.redaction entry names it"
    )]
    Unauthorized { index: usize, seq: u64 },
    #[error(
        "entry {index} (seq {seq}) was redacted by seq {by} at {at}, before its retention ended at {kept_until}"
    )]
    Premature {
        index: usize,
        seq: u64,
        by: u64,
        at: String,
        kept_until: String,
    },
    #[error(
        "entry {index} (seq {seq}) is named by the redaction at seq {by} but still holds its content"
    )]
    NotErased { index: usize, seq: u64, by: u64 },
    #[error("entry {index} (seq {seq}) is an audit.redaction entry that cannot be read")]
    BadRedaction { index: usize, seq: u64 },
    #[error(
        "the log has {entries} entries but no head: the head file is missing, so a log cut short or rewritten cannot be told from a whole one; if this log is genuine, review it and have the key holder run `arrears audit sign-head --keys DIR --reason TEXT`"
    )]
    NoHead { entries: u64 },
    #[error(
        "the head (seq {seq}) is not signed: it was written before heads were signed, or by `arrears plan` without --keys, so anyone who can write the files could have rewritten the log and its head; after reviewing the log, have the key holder run `arrears audit sign-head --keys DIR --reason TEXT`"
    )]
    UnsignedHead { seq: u64 },
    #[error(
        "the head's signature does not verify under the lender's public key: the head was written or changed by someone without the lender's key"
    )]
    HeadForged,
    #[error(
        "the head was signed by another key ({key}), not the lender's ({lender}): it was written by someone without the lender's key"
    )]
    HeadOtherKey { key: String, lender: String },
    #[error(
        "the head belongs to another log: it names {head_first} as the first entry's hash, this log's is {log_first}"
    )]
    OtherLog {
        head_first: String,
        log_first: String,
    },
    #[error(
        "{extra} entries after seq {seq}, the last one the signed head vouches for, are not covered by the lender's signature: they were appended without the key, or a writer stopped between writing the log and its head; review them and have the key holder run `arrears audit sign-head --keys DIR --reason TEXT`"
    )]
    Unvouched { seq: u64, extra: u64 },
    #[error(
        "the audit.redaction entry seq {seq} is not signed by the lender: a redaction must be authorised with the lender's key, so this one may be forged (one written before redactions were signed can be ratified after review by `arrears audit sign-head`)"
    )]
    UnsignedRedaction { seq: u64 },
    #[error(
        "the audit.redaction entry seq {seq} has a signature that does not verify under the lender's public key: the redaction was forged"
    )]
    ForgedRedaction { seq: u64 },
    #[error(
        "the log no longer holds the entry the anchor signed at {written_at} names (seq {seq}): it was rolled back to an older copy, or rewritten, since that head was kept"
    )]
    RolledBack { seq: u64, written_at: String },
}

/// Verifies the whole chain (and, given a head, its tail), then that every redaction is
/// legitimate: each redacted entry is named by a later `audit.redaction` entry whose `at` is
/// not before the entry's `kept_until`, and each entry such a record names is redacted by it.
/// Hash, order and link breaks are reported first (the first one), then the first
/// illegitimate redaction. Whether `kept_until` is right under the rule packs is for the
/// caller to judge (the CLI's `audit verify` does).
pub fn verify(entries: &[Entry], head: Option<&Head>) -> Result<(), Tamper> {
    verify_links(entries)?;
    if let Some(h) = head {
        // The head vouches for the log up to its entry. Entries after it are allowed: an
        // append (or a redaction) writes the log before the head, so a crash in between
        // leaves the head one step behind, and nothing the head names is lost.
        match usize::try_from(h.seq).ok().and_then(|i| entries.get(i)) {
            Some(e) if e.hash == h.hash => {}
            Some(_) => return Err(Tamper::HeadMismatch { seq: h.seq }),
            None => {
                return Err(Tamper::Truncated {
                    expected: h.seq,
                    found: entries.last().map(|e| e.seq),
                });
            }
        }
    }
    verify_redactions(entries)
}

/// Every entry's hash, seq and link to the one before it (no head, no redaction rules).
pub(crate) fn verify_links(entries: &[Entry]) -> Result<(), Tamper> {
    let mut prev_hash = GENESIS;
    for (index, e) in entries.iter().enumerate() {
        let expected = index as u64;
        if e.computed_hash() != e.hash || (e.is_redacted() && e.has_content()) {
            return Err(Tamper::Altered { index, seq: e.seq });
        }
        if e.seq != expected {
            return Err(Tamper::Sequence {
                index,
                expected,
                found: e.seq,
            });
        }
        if e.prev != prev_hash {
            return Err(Tamper::Link { index, seq: e.seq });
        }
        prev_hash = &e.hash;
    }
    Ok(())
}

pub(crate) fn verify_redactions(entries: &[Entry]) -> Result<(), Tamper> {
    // seq -> (redaction seq, its at, the item): every entry a redaction record names.
    let mut named: std::collections::HashMap<u64, (u64, &str, RedactedItem)> = Default::default();
    for (index, e) in entries.iter().enumerate() {
        if e.kind != REDACTION_KIND || e.is_redacted() {
            continue;
        }
        let data = RedactionData::of(e).ok_or(Tamper::BadRedaction { index, seq: e.seq })?;
        for it in data.entries {
            if it.seq >= e.seq || named.contains_key(&it.seq) {
                return Err(Tamper::BadRedaction { index, seq: e.seq });
            }
            named.insert(it.seq, (e.seq, e.at.as_str(), it));
        }
    }
    for (index, e) in entries.iter().enumerate() {
        let seq = e.seq;
        match (&e.redacted, named.get(&seq)) {
            (None, None) => {}
            (None, Some((by, _, _))) => {
                return Err(Tamper::NotErased {
                    index,
                    seq,
                    by: *by,
                });
            }
            (Some(r), Some((by, at, it))) if r.by == *by && e.kind != REDACTION_KIND => {
                let ended = match (
                    it.kept_until.parse::<jiff::Timestamp>(),
                    at.parse::<jiff::Timestamp>(),
                ) {
                    (Ok(k), Ok(a)) => k <= a,
                    _ => false,
                };
                if !ended {
                    return Err(Tamper::Premature {
                        index,
                        seq,
                        by: *by,
                        at: (*at).to_owned(),
                        kept_until: it.kept_until.clone(),
                    });
                }
            }
            (Some(_), _) => return Err(Tamper::Unauthorized { index, seq }),
        }
    }
    Ok(())
}

/// Whether an entry may be deleted at `now` under a retention of `years` (CN-RECORDS: 5,
/// US-RECORDS: 3 after the last activity). Deleting younger records is refused.
pub fn may_delete(entry_at: jiff::Timestamp, now: jiff::Timestamp, years: i16) -> bool {
    let until = entry_at
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(years))
        .map(|z| z.timestamp());
    matches!(until, Ok(u) if now >= u)
}

/// The rules a redaction entry names (or "no records rule").
pub fn redaction_rules(e: &Entry) -> Vec<String> {
    let mut rules: Vec<String> = RedactionData::of(e)
        .map(|d| {
            d.entries
                .iter()
                .map(|i| {
                    i.rule_id
                        .clone()
                        .unwrap_or_else(|| "no records rule".into())
                })
                .collect()
        })
        .unwrap_or_default();
    rules.sort();
    rules.dedup();
    rules
}

/// What an export says about deleted records: the borrower's own deletion requests, and how
/// many entries were erased by requests that named no borrower (`--before`), whose owners
/// the log no longer knows.
pub fn redaction_note(entries: &[Entry], mine: &[&Entry]) -> Option<(serde_json::Value, String)> {
    let requests: Vec<serde_json::Value> = mine
        .iter()
        .filter(|e| e.kind == REDACTION_KIND)
        .map(|e| {
            serde_json::json!({
                "seq": e.seq,
                "at": e.at,
                "entries": RedactionData::of(e).map_or(0, |d| d.entries.len()),
                "rules": redaction_rules(e),
            })
        })
        .collect();
    let by_request: std::collections::HashMap<u64, bool> = entries
        .iter()
        .filter(|e| e.kind == REDACTION_KIND)
        .map(|e| (e.seq, e.borrower_id.is_some()))
        .collect();
    let unattributed = entries
        .iter()
        .filter(|e| {
            e.redacted
                .as_ref()
                .is_some_and(|r| by_request.get(&r.by) != Some(&true))
        })
        .count();
    if requests.is_empty() && unattributed == 0 {
        return None;
    }
    let mut text = Vec::new();
    for r in &requests {
        text.push(format!(
            "{} records of this borrower were deleted on {} after their retention ({}); their content is no longer in the log",
            r["entries"],
            r["at"].as_str().unwrap_or(""),
            r["rules"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ));
    }
    if unattributed > 0 {
        text.push(format!(
            "{unattributed} older entries of this log were deleted after their retention without naming a borrower; some may have been this borrower's"
        ));
    }
    let text = text.join("; ");
    Some((
        serde_json::json!({
            "requests": requests,
            "unattributed_entries": unattributed,
            "note": text,
        }),
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn draft(i: usize) -> Draft {
        Draft {
            at: jiff::Timestamp::from_second(1_700_000_000 + i as i64 * 60).unwrap(),
            kind: if i.is_multiple_of(2) {
                "plan.action".into()
            } else {
                "plan.block".into()
            },
            borrower_id: Some(format!("B{}", i % 3)),
            loan_id: Some(format!("L{i}")),
            data: serde_json::json!({"rule_ids": ["US-HOURS"], "i": i}),
        }
    }

    /// Drafts with and without ids and data, and text that JSON must escape.
    fn varied_draft(i: usize) -> Draft {
        Draft {
            at: jiff::Timestamp::from_second(1_700_000_000 + i as i64 * 61).unwrap(),
            kind: if i.is_multiple_of(3) {
                "message".into()
            } else {
                "plan.block".into()
            },
            borrower_id: (i % 5 != 4).then(|| format!("B{}", i % 3)),
            loan_id: (i % 4 != 3).then(|| format!("L{i}")),
            data: if i % 7 == 6 {
                serde_json::Value::Null
            } else {
                serde_json::json!({
                    "rule_ids": ["US-HOURS"],
                    "i": i,
                    "text": "您好 \"quoted\" \\ line\nnext \u{2028}",
                    "none": null,
                    "amount": -12_407,
                })
            },
        }
    }

    proptest! {
        /// The batch append is the one-by-one append: the same seqs, salts, links and
        /// hashes, written as serde_json writes those entries, after an existing entry or
        /// from the start; the lines parse back into a log that verifies.
        #[test]
        fn appending_a_batch_is_appending_one_by_one(n in 0usize..40, after in any::<bool>(), seed in any::<u8>()) {
            let salt_of = |seq: u64| salt(&[seed; 32], seq);
            let start = after.then(|| append_salted(None, draft(99), &salt_of(0)));
            let drafts: Vec<Draft> = (0..n).map(varied_draft).collect();
            let lines = append_all_salted_lines(start.as_ref().map(Head::of).as_ref(), drafts.clone(), salt_of).unwrap();
            let mut last = start.clone();
            let mut batch = Vec::new();
            for d in drafts {
                let seq = last.as_ref().map_or(0, |p| p.seq + 1);
                let e = append_salted(last.as_ref(), d, &salt_of(seq));
                batch.push(e.clone());
                last = Some(e);
            }
            let mut expected = Vec::new();
            for e in &batch {
                serde_json::to_writer(&mut expected, e).unwrap();
                expected.push(b'\n');
            }
            let written = String::from_utf8(lines.pieces.concat()).unwrap();
            prop_assert_eq!(&written, &String::from_utf8(expected).unwrap());
            prop_assert_eq!(lines.count, batch.len() as u64);
            prop_assert_eq!(lines.end, batch.last().or(start.as_ref()).map(Head::of));
            let parsed: Vec<Entry> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            prop_assert_eq!(&parsed, &batch);
            let whole: Vec<Entry> = start.into_iter().chain(batch).collect();
            prop_assert!(verify(&whole, None).is_ok());
        }
    }

    /// The digests as they were computed before the streaming hasher: through a `Value`
    /// built by `json!` and its `to_string`.
    fn hex_sha256_by_value(tag: &[u8], body: &serde_json::Value) -> String {
        let mut h = Sha256::new();
        h.update(tag);
        h.update(body.to_string().as_bytes());
        data_encoding::HEXLOWER.encode(&h.finalize())
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9 ]{0,12}",
            any::<String>(),
            Just("\"\\\n\t\u{7f}\u{2028}您好".to_owned()),
        ]
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            text().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The streamed digests are byte for byte the digests of the `json!` arrays.
        #[test]
        fn streamed_digests_equal_the_value_digests(
            seq in any::<u64>(),
            at in text(),
            kind in text(),
            b in prop::option::of(text()),
            l in prop::option::of(text()),
            salt in prop::option::of(text()),
            data in json_value(),
            prev in text(),
        ) {
            prop_assert_eq!(
                digest_v1(seq, &at, &kind, &b, &l, &data, &prev),
                hex_sha256_by_value(TAG, &serde_json::json!([seq, at, kind, b, l, data, prev]))
            );
            prop_assert_eq!(
                content_digest(&salt, &b, &l, &data),
                hex_sha256_by_value(CONTENT_TAG, &serde_json::json!([salt, b, l, data]))
            );
            prop_assert_eq!(
                digest_v2(seq, &at, &kind, &prev, &kind),
                hex_sha256_by_value(TAG_V2, &serde_json::json!([seq, at, kind, prev, kind]))
            );
        }
    }

    /// A v1 entry exactly as the code before v2 wrote it.
    fn append_v1(prev: Option<&Entry>, d: Draft) -> Entry {
        let (seq, prev_hash) = match prev {
            Some(p) => (p.seq + 1, p.hash.clone()),
            None => (0, GENESIS.to_owned()),
        };
        let at = d.at.to_string();
        let hash = digest_v1(
            seq,
            &at,
            &d.kind,
            &d.borrower_id,
            &d.loan_id,
            &d.data,
            &prev_hash,
        );
        Entry {
            v: None,
            seq,
            at,
            kind: d.kind,
            borrower_id: d.borrower_id,
            loan_id: d.loan_id,
            data: d.data,
            salt: None,
            redacted: None,
            prev: prev_hash,
            hash,
        }
    }

    /// `v1` entries first, then v2 ones (salted on odd seqs), as a log that was started
    /// before v2 and appended to after.
    fn mixed(v1: usize, n: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let e = if i < v1 {
                append_v1(out.last(), draft(i))
            } else if !i.is_multiple_of(2) {
                append_salted(out.last(), draft(i), &salt(&[7; 32], i as u64))
            } else {
                append(out.last(), draft(i))
            };
            out.push(e);
        }
        out
    }

    fn log(n: usize) -> Vec<Entry> {
        mixed(0, n)
    }

    fn head(l: &[Entry]) -> Head {
        let last = l.last().unwrap();
        Head {
            seq: last.seq,
            hash: last.hash.clone(),
        }
    }

    fn item(seq: u64, kept_until: &str) -> RedactedItem {
        RedactedItem {
            seq,
            jurisdiction: Some("US-NY".into()),
            rule_id: Some("US-RECORDS".into()),
            last_activity: "2023-11-14T22:13:20Z".into(),
            kept_until: kept_until.into(),
        }
    }

    fn request(seqs: &[u64]) -> RedactionRequest {
        RedactionRequest {
            at: "2031-01-01T00:00:00Z".parse().unwrap(),
            borrower_id: None,
            before: Some("2024-01-01T00:00:00Z".into()),
            items: seqs
                .iter()
                .map(|s| item(*s, "2026-11-14T22:13:20Z"))
                .collect(),
        }
    }

    /// A 10-entry v2 log with entries 2 and 5 redacted by entry 10.
    fn redacted_log() -> Vec<Entry> {
        let mut l = log(10);
        assert_eq!(redact(&mut l, request(&[2, 5]), Some(&[1; 16])), Ok(10));
        l
    }

    #[test]
    fn an_untouched_log_verifies() {
        for v1 in [0, 4, 10] {
            let l = mixed(v1, 10);
            assert_eq!(verify(&l, Some(&head(&l))), Ok(()), "{v1} v1 entries");
        }
        assert_eq!(verify(&[], None), Ok(()));
    }

    #[test]
    fn the_head_may_lag_but_what_it_names_must_be_there() {
        let l = log(10);
        // A crash between writing the log and its head: the head names entry 8.
        let stale = head(&l[..9]);
        assert_eq!(verify(&l, Some(&stale)), Ok(()));
        assert_eq!(
            verify(&l[..8], Some(&stale)),
            Err(Tamper::Truncated {
                expected: 8,
                found: Some(7)
            })
        );
        assert_eq!(
            verify(&[], Some(&stale)),
            Err(Tamper::Truncated {
                expected: 8,
                found: None
            })
        );
        // The chain rebuilt from entry 5 on: it links, but the head's entry is not there.
        let mut forged = l[..5].to_vec();
        for i in 5..10 {
            let mut d = draft(i);
            d.data = serde_json::json!({"forged": i});
            let e = append(forged.last(), d);
            forged.push(e);
        }
        assert_eq!(verify(&forged, None), Ok(()));
        assert_eq!(
            verify(&forged, Some(&head(&l))),
            Err(Tamper::HeadMismatch { seq: 9 })
        );
    }

    #[test]
    fn a_v1_entry_hashes_as_before() {
        // Written by the code before v2 (`arrears sign`, 2026-11-28): the v1 hash is frozen.
        let line = r#"{"seq":0,"at":"2026-11-28T02:00:00Z","kind":"contact","borrower_id":"B1","data":{"channel":"sms"},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"33ee6abf23a3ac7bf0c631da09096915805c5bd418adfdf1fecf8a639192c2a3"}"#;
        let e: Entry = serde_json::from_str(line).unwrap();
        assert_eq!(e.version(), 1);
        assert_eq!(verify(std::slice::from_ref(&e), None), Ok(()));
        // Read and written back, a v1 entry keeps its exact form (no `v`, no new fields).
        assert_eq!(serde_json::to_string(&e).unwrap(), line);
    }

    #[test]
    fn new_entries_are_v2_and_their_hash_covers_the_content_through_the_digest() {
        let l = log(2);
        assert!(l.iter().all(|e| e.version() == 2));
        assert_eq!(l[0].salt, None);
        assert_eq!(l[1].salt.as_deref().map(str::len), Some(32));
        let text = serde_json::to_string(&l[1]).unwrap();
        assert!(text.starts_with(r#"{"v":2,"seq":1,"#), "{text}");
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, l[1]);
        // The salt is content: changing it changes the digest and breaks the hash.
        let mut e = l[1].clone();
        e.salt = Some("00".repeat(16));
        assert_ne!(e.computed_hash(), e.hash);
        // Different salts, different digests of the same content.
        assert_ne!(salt(&[7; 32], 1), salt(&[7; 32], 2));
        assert_ne!(salt(&[7; 32], 1), salt(&[8; 32], 1));
    }

    proptest! {
        #[test]
        fn editing_any_entry_is_detected(v1 in 0usize..30, n in 2usize..30, pick in any::<prop::sample::Index>(), field in 0usize..5) {
            let mut l = mixed(v1, n);
            let i = pick.index(n);
            match field {
                0 => l[i].data = serde_json::json!({"rule_ids": []}),
                1 => l[i].kind = "contact".into(),
                2 => l[i].at = "2020-01-01T00:00:00Z".into(),
                3 => l[i].borrower_id = Some("B-forged".into()),
                _ => l[i].loan_id = None,
            }
            prop_assert_eq!(verify(&l, None), Err(Tamper::Altered { index: i, seq: i as u64 }));
        }

        #[test]
        fn deleting_any_entry_is_detected(v1 in 0usize..30, n in 2usize..30, pick in any::<prop::sample::Index>()) {
            let l = mixed(v1, n);
            let i = pick.index(n);
            let mut cut = l.clone();
            cut.remove(i);
            prop_assert!(verify(&cut, Some(&head(&l))).is_err());
        }

        #[test]
        fn swapping_two_entries_is_detected(v1 in 0usize..30, n in 2usize..30, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let mut l = mixed(v1, n);
            let (i, j) = (a.index(n), b.index(n));
            prop_assume!(i != j);
            l.swap(i, j);
            prop_assert!(verify(&l, None).is_err());
        }

        #[test]
        fn rehashing_an_edited_entry_still_breaks_the_next_link(v1 in 0usize..30, n in 3usize..30, pick in any::<prop::sample::Index>()) {
            let mut l = mixed(v1, n);
            let i = pick.index(n - 1);
            l[i].data = serde_json::json!({"forged": true});
            l[i].hash = l[i].computed_hash();
            prop_assert_eq!(verify(&l, None), Err(Tamper::Link { index: i + 1, seq: (i + 1) as u64 }));
        }

        /// After redacting any subset, the log verifies, the content is gone, and editing,
        /// deleting or swapping any single entry (stub, redaction record or other) is still
        /// detected.
        #[test]
        fn a_redacted_log_verifies_and_stays_tamper_evident(
            n in 2usize..20,
            mask in any::<u32>(),
            pick in any::<prop::sample::Index>(),
            other in any::<prop::sample::Index>(),
            how in 0usize..4,
        ) {
            let mut l = log(n);
            let seqs: Vec<u64> = (0..n as u64).filter(|s| mask & (1 << s) != 0).collect();
            prop_assume!(!seqs.is_empty());
            let by = redact(&mut l, request(&seqs), None).unwrap();
            prop_assert_eq!(by, n as u64);
            prop_assert_eq!(verify(&l, Some(&head(&l))), Ok(()));
            for s in &seqs {
                let e = &l[*s as usize];
                prop_assert!(e.borrower_id.is_none() && e.loan_id.is_none() && e.data.is_null());
                prop_assert_eq!(e.redacted.as_ref().map(|r| r.by), Some(by));
            }
            let len = l.len();
            let i = pick.index(len);
            let h = head(&l);
            match how {
                0 => l[i].at = "2020-01-01T00:00:00Z".into(),
                1 => l[i].kind = "contact".into(),
                2 => { l.remove(i); }
                _ => {
                    let j = other.index(len);
                    prop_assume!(i != j);
                    l.swap(i, j);
                }
            }
            prop_assert!(verify(&l, Some(&h)).is_err());
        }
    }

    #[test]
    fn redacting_keeps_the_chain_and_erases_the_content() {
        let before = log(10);
        let l = redacted_log();
        assert_eq!(verify(&l, Some(&head(&l))), Ok(()));
        for (i, (a, b)) in before.iter().zip(&l).enumerate() {
            // No hash moves, so the chain and any earlier head still hold.
            assert_eq!(
                (a.seq, &a.at, &a.kind, &a.prev, &a.hash),
                (b.seq, &b.at, &b.kind, &b.prev, &b.hash)
            );
            if i == 2 || i == 5 {
                assert_eq!(b.redacted.as_ref().map(|r| r.by), Some(10));
                assert_eq!(
                    b.redacted.as_ref().map(|r| r.content_digest.clone()),
                    a.content_digest()
                );
                let text = serde_json::to_string(b).unwrap();
                for gone in [
                    "borrower_id",
                    "loan_id",
                    "data",
                    "salt",
                    "US-HOURS",
                    &format!("L{i}"),
                ] {
                    assert!(!text.contains(gone), "{gone} left in {text}");
                }
            } else {
                assert_eq!(a, b);
            }
        }
        let r = &l[10];
        assert_eq!(r.kind, REDACTION_KIND);
        let data = RedactionData::of(r).unwrap();
        assert_eq!(
            data.entries.iter().map(|i| i.seq).collect::<Vec<_>>(),
            [2, 5]
        );
        assert_eq!(r.at, "2031-01-01T00:00:00Z");
    }

    /// Each forgery of a redaction, as (what, how the redacted log is changed, what verify says).
    #[test]
    fn forged_redactions_are_detected() {
        type Edit = fn(&mut Vec<Entry>);
        let cases: Vec<(&str, Edit, Tamper)> = vec![
            (
                "stub's digest edited",
                |l| {
                    if let Some(r) = &mut l[2].redacted {
                        r.content_digest = "ab".repeat(32)
                    }
                },
                Tamper::Altered { index: 2, seq: 2 },
            ),
            (
                "stub's at edited",
                |l| l[2].at = "2020-01-01T00:00:00Z".into(),
                Tamper::Altered { index: 2, seq: 2 },
            ),
            (
                "stub's kind edited",
                |l| l[5].kind = "contact".into(),
                Tamper::Altered { index: 5, seq: 5 },
            ),
            (
                "stub's seq edited",
                |l| l[5].seq = 6,
                Tamper::Altered { index: 5, seq: 6 },
            ),
            (
                "content put back into a stub",
                |l| l[2].data = serde_json::json!({"i": 2}),
                Tamper::Altered { index: 2, seq: 2 },
            ),
            (
                "stub points at another entry",
                |l| {
                    if let Some(r) = &mut l[2].redacted {
                        r.by = 9
                    }
                },
                Tamper::Unauthorized { index: 2, seq: 2 },
            ),
            (
                "content stripped, no stub marker",
                |l| {
                    l[3].data = serde_json::Value::Null;
                    l[3].borrower_id = None;
                    l[3].loan_id = None;
                },
                Tamper::Altered { index: 3, seq: 3 },
            ),
            (
                "content stripped with a stub no redaction names",
                |l| {
                    let content_digest = l[3].content_digest().unwrap();
                    l[3].data = serde_json::Value::Null;
                    l[3].borrower_id = None;
                    l[3].loan_id = None;
                    l[3].salt = None;
                    l[3].redacted = Some(Redacted {
                        content_digest,
                        by: 10,
                    });
                },
                Tamper::Unauthorized { index: 3, seq: 3 },
            ),
            (
                "redaction record edited",
                |l| {
                    l[10].data["entries"][0]["kept_until"] = "2040-01-01T00:00:00Z".into();
                },
                Tamper::Altered { index: 10, seq: 10 },
            ),
            (
                "redaction record rewritten and rehashed: retention not over",
                |l| {
                    l[10].data["entries"][0]["kept_until"] = "2040-01-01T00:00:00Z".into();
                    let last = l.len() - 1;
                    l[last].hash = l[last].computed_hash();
                },
                Tamper::Premature {
                    index: 2,
                    seq: 2,
                    by: 10,
                    at: "2031-01-01T00:00:00Z".into(),
                    kept_until: "2040-01-01T00:00:00Z".into(),
                },
            ),
            (
                "redaction record rewritten and rehashed: names a later entry",
                |l| {
                    l[10].data["entries"][0]["seq"] = 12.into();
                    let last = l.len() - 1;
                    l[last].hash = l[last].computed_hash();
                },
                Tamper::BadRedaction { index: 10, seq: 10 },
            ),
            (
                "redaction record rewritten and rehashed: unreadable",
                |l| {
                    l[10].data = serde_json::json!({"entries": "all"});
                    let last = l.len() - 1;
                    l[last].hash = l[last].computed_hash();
                },
                Tamper::BadRedaction { index: 10, seq: 10 },
            ),
            (
                "a redaction record names an entry that keeps its content",
                |l| {
                    l[10].data["entries"][1]["seq"] = 7.into();
                    let last = l.len() - 1;
                    l[last].hash = l[last].computed_hash();
                },
                Tamper::Unauthorized { index: 5, seq: 5 },
            ),
            (
                "the redaction record is removed",
                |l| {
                    l.pop();
                },
                Tamper::Unauthorized { index: 2, seq: 2 },
            ),
        ];
        for (what, edit, expected) in cases {
            let mut l = redacted_log();
            edit(&mut l);
            assert_eq!(verify(&l, None), Err(expected), "{what}");
        }
        // Named but not erased: the redaction record without the rewrite of the entries.
        let mut l = log(10);
        let mut r = redacted_log();
        l.push(r.pop().unwrap());
        assert_eq!(
            verify(&l, None),
            Err(Tamper::NotErased {
                index: 2,
                seq: 2,
                by: 10
            })
        );
        // A redaction record is never redacted itself (its stubs would lose their basis).
        let mut l = redacted_log();
        assert_eq!(
            redact(&mut l, request(&[10]), None),
            Err(RedactError::RedactionRecord { seq: 10 })
        );
    }

    #[test]
    fn a_redaction_is_all_or_nothing() {
        let mut held = request(&[4, 5]);
        held.items[1].kept_until = "2031-01-01T00:00:01Z".into();
        let table: Vec<(&str, Vec<Entry>, RedactionRequest, RedactError)> = vec![
            (
                "a v1 entry",
                mixed(3, 6),
                request(&[4, 2]),
                RedactError::V1 { seq: 2 },
            ),
            (
                "younger than its retention",
                log(6),
                held,
                RedactError::Held {
                    seq: 5,
                    kept_until: "2031-01-01T00:00:01Z".into(),
                },
            ),
            (
                "no such entry",
                log(6),
                request(&[1, 6]),
                RedactError::NoSuchEntry { seq: 6 },
            ),
            (
                "twice",
                log(6),
                request(&[1, 1]),
                RedactError::Duplicate { seq: 1 },
            ),
            ("nothing", log(6), request(&[]), RedactError::Empty),
            (
                "already redacted",
                redacted_log(),
                request(&[5]),
                RedactError::AlreadyRedacted { seq: 5 },
            ),
        ];
        for (what, mut l, req, expected) in table {
            let before = l.clone();
            assert_eq!(redact(&mut l, req, None), Err(expected), "{what}");
            assert_eq!(l, before, "{what}: nothing changed");
        }
        assert!(
            RedactError::V1 { seq: 2 }.to_string().contains("v1 entry"),
            "the refusal says why"
        );
    }

    #[test]
    fn retention() {
        let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(!may_delete(at, "2030-12-31T23:59:59Z".parse().unwrap(), 5));
        assert!(may_delete(at, "2031-01-01T00:00:00Z".parse().unwrap(), 5));
    }
}
