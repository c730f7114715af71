//! The hash-chained audit log.
//!
//! hash(entry) = SHA-256 over a domain tag and the canonical JSON of
//! `[seq, at, kind, borrower_id, loan_id, data, prev]` (serde_json orders object keys, so the
//! encoding is canonical). The first entry's `prev` is 64 zeros.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const TAG: &[u8] = b"arrears-audit-v1\n";

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339 instant the decision or event took place (passed in, never read from a clock).
    pub at: String,
    /// What happened: `plan.action`, `plan.block`, `contact`, `message`, `status`, `access`…
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrower_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loan_id: Option<String>,
    /// The decision's inputs and outcome (rule ids, message text, …).
    pub data: serde_json::Value,
    pub prev: String,
    pub hash: String,
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

fn digest(
    seq: u64,
    at: &str,
    kind: &str,
    b: &Option<String>,
    l: &Option<String>,
    data: &serde_json::Value,
    prev: &str,
) -> String {
    let body = serde_json::json!([seq, at, kind, b, l, data, prev]);
    let mut h = Sha256::new();
    h.update(TAG);
    h.update(body.to_string().as_bytes());
    data_encoding::HEXLOWER.encode(&h.finalize())
}

impl Entry {
    /// The hash this entry should carry, recomputed from its content.
    pub fn computed_hash(&self) -> String {
        digest(
            self.seq,
            &self.at,
            &self.kind,
            &self.borrower_id,
            &self.loan_id,
            &self.data,
            &self.prev,
        )
    }
}

/// Chains a draft after `prev` (None for the first entry).
pub fn append(prev: Option<&Entry>, d: Draft) -> Entry {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (0, GENESIS.to_owned()),
    };
    let at = d.at.to_string();
    let hash = digest(
        seq,
        &at,
        &d.kind,
        &d.borrower_id,
        &d.loan_id,
        &d.data,
        &prev_hash,
    );
    Entry {
        seq,
        at,
        kind: d.kind,
        borrower_id: d.borrower_id,
        loan_id: d.loan_id,
        data: d.data,
        prev: prev_hash,
        hash,
    }
}

/// A signed statement of the last entry: what `verify` compares the tail with, so removing
/// entries from the end is detected too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
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
        "the log ends at seq {found:?} but its head says seq {expected}: entries were removed from the end or the head is stale"
    )]
    Truncated { expected: u64, found: Option<u64> },
}

/// Verifies the whole chain (and, given a head, its tail).
pub fn verify(entries: &[Entry], head: Option<&Head>) -> Result<(), Tamper> {
    let mut prev_hash = GENESIS;
    for (index, e) in entries.iter().enumerate() {
        let expected = index as u64;
        if e.computed_hash() != e.hash {
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
    if let Some(h) = head {
        match entries.last() {
            Some(last) if last.seq == h.seq && last.hash == h.hash => {}
            last => {
                return Err(Tamper::Truncated {
                    expected: h.seq,
                    found: last.map(|e| e.seq),
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn log(n: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let d = Draft {
                at: jiff::Timestamp::from_second(1_700_000_000 + i as i64 * 60).unwrap(),
                kind: if i % 2 == 0 {
                    "plan.action".into()
                } else {
                    "plan.block".into()
                },
                borrower_id: Some(format!("B{}", i % 3)),
                loan_id: Some(format!("L{i}")),
                data: serde_json::json!({"rule_ids": ["US-HOURS"], "i": i}),
            };
            let e = append(out.last(), d);
            out.push(e);
        }
        out
    }

    #[test]
    fn an_untouched_log_verifies() {
        let l = log(10);
        let head = Head {
            seq: 9,
            hash: l[9].hash.clone(),
        };
        assert_eq!(verify(&l, Some(&head)), Ok(()));
        assert_eq!(verify(&[], None), Ok(()));
    }

    proptest! {
        #[test]
        fn editing_any_entry_is_detected(n in 2usize..30, pick in any::<prop::sample::Index>(), field in 0usize..5) {
            let mut l = log(n);
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
        fn deleting_any_entry_is_detected(n in 2usize..30, pick in any::<prop::sample::Index>()) {
            let l = log(n);
            let head = Head { seq: (n - 1) as u64, hash: l[n - 1].hash.clone() };
            let i = pick.index(n);
            let mut cut = l.clone();
            cut.remove(i);
            prop_assert!(verify(&cut, Some(&head)).is_err());
        }

        #[test]
        fn swapping_two_entries_is_detected(n in 2usize..30, a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
            let mut l = log(n);
            let (i, j) = (a.index(n), b.index(n));
            prop_assume!(i != j);
            l.swap(i, j);
            prop_assert!(verify(&l, None).is_err());
        }

        #[test]
        fn rehashing_an_edited_entry_still_breaks_the_next_link(n in 3usize..30, pick in any::<prop::sample::Index>()) {
            let mut l = log(n);
            let i = pick.index(n - 1);
            l[i].data = serde_json::json!({"forged": true});
            l[i].hash = l[i].computed_hash();
            prop_assert_eq!(verify(&l, None), Err(Tamper::Link { index: i + 1, seq: (i + 1) as u64 }));
        }
    }

    #[test]
    fn retention() {
        let at: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(!may_delete(at, "2030-12-31T23:59:59Z".parse().unwrap(), 5));
        assert!(may_delete(at, "2031-01-01T00:00:00Z".parse().unwrap(), 5));
    }
}
