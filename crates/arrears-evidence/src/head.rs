//! The signed head: tamper evidence that does not trust the files.
//!
//! The hash chain alone proves only that the log is consistent: whoever can write the files
//! can rewrite an entry, recompute every later hash and write a matching head. The head
//! therefore carries the lender's ed25519 signature over a domain-separated encoding of
//! `[log_id, seq, hash, count, written_at]` (`log_id`: the hash of the log's first entry,
//! which names the log), and `verify_vouched` checks the log against it with a public key
//! the caller brings from outside the files. It fails when the head is missing or unsigned,
//! when the signature does not verify, when the log is shorter than the head says, when any
//! entry differs from what the head vouches for, when entries follow the signed head, and
//! when a redaction is not signed by the lender (see `chain::redact_signed`).
//!
//! A log written before heads were signed (or without the key) is brought under a signature
//! only by the explicit `audit.sign_head` entry (`sign_head_draft`): the key holder, after
//! reviewing the log, appends it (with a reason, the previous head and signatures for any
//! redaction written before redactions were signed) and signs the new head. The signature
//! proves the lender wrote this state of the log; it cannot prove it is the latest one (an
//! older log with its older signed head still verifies), so compare `written_at` and the
//! count with a head kept elsewhere when that matters.

use crate::chain::{
    Draft, Entry, Head, REDACTION_KIND, RedactionData, Tamper, redaction_signed_bytes,
    verify_links, verify_redactions,
};
use crate::signing::{LenderKey, PublicKey};
use serde::{Deserialize, Serialize};

const HEAD_TAG: &[u8] = b"arrears-audit-head-v1\n";
/// The kind of the entry `arrears audit sign-head` appends.
pub const SIGN_HEAD_KIND: &str = "audit.sign_head";

/// The head file: the last entry's seq and hash (what `chain::Head` reads, so older readers
/// still read it) and, when signed, the rest of what the signature covers. A head written
/// before heads were signed has only `seq` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    pub seq: u64,
    pub hash: String,
    /// How many entries the log holds (seq + 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The hash of the log's first entry: which log this head belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    /// When the head was written (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<String>,
    /// The public key (hex) of the key that signed it: informational only, never trusted
    /// (verification uses the key the caller brings); it lets a failure name a foreign key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The ed25519 signature (hex) over `signed_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl SignedHead {
    /// The head of a log whose last entry is `end`, holding `count` entries, the first of
    /// which has the hash `log_id`, signed with the lender's key.
    pub fn sign(
        key: &LenderKey,
        log_id: Option<&str>,
        end: &Head,
        count: u64,
        written_at: jiff::Timestamp,
    ) -> SignedHead {
        let mut h = SignedHead {
            seq: end.seq,
            hash: end.hash.clone(),
            count: Some(count),
            log_id: log_id.map(str::to_owned),
            written_at: Some(written_at.to_string()),
            key: Some(key.public_hex()),
            signature: None,
        };
        h.signature = Some(key.sign_bytes(&h.signed_bytes()));
        h
    }

    /// An unsigned head (what a writer without the key leaves; never vouched for).
    pub fn unsigned(end: &Head) -> SignedHead {
        SignedHead {
            seq: end.seq,
            hash: end.hash.clone(),
            count: None,
            log_id: None,
            written_at: None,
            key: None,
            signature: None,
        }
    }

    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// The seq and hash alone (what `chain::verify` checks).
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = HEAD_TAG.to_vec();
        // A tuple of strings, options and numbers always serialises.
        out.extend(
            serde_json::to_vec(&(
                &self.log_id,
                self.seq,
                &self.hash,
                self.count,
                &self.written_at,
            ))
            .unwrap_or_default(),
        );
        out
    }

    /// Whether the head is signed by `public`'s key, as written.
    pub fn check(&self, public: &PublicKey) -> Result<(), Tamper> {
        let Some(sig) = &self.signature else {
            return Err(Tamper::UnsignedHead { seq: self.seq });
        };
        match public.check(&self.signed_bytes(), sig) {
            Ok(()) if self.count.is_some() && self.written_at.is_some() => Ok(()),
            Ok(()) => Err(Tamper::HeadForged),
            Err(_) => match &self.key {
                Some(k) if k.to_ascii_lowercase() != public.hex() => Err(Tamper::HeadOtherKey {
                    key: k.clone(),
                    lender: public.hex(),
                }),
                _ => Err(Tamper::HeadForged),
            },
        }
    }
}

/// Checks the log against an anchor: a copy of an earlier signed head kept apart from the log
/// (another host, the day's report). A log replaced by an older copy together with its older
/// signed head verifies on its own (the signature proves the pair is the lender's, not that it
/// is the latest); against a later anchor it does not. The anchor must be signed by `public`'s
/// key, be a head of this log, and name an entry the log still holds, with that hash.
pub fn check_anchor(
    entries: &[Entry],
    anchor: &SignedHead,
    public: &PublicKey,
) -> Result<(), Tamper> {
    anchor.check(public)?;
    if let (Some(id), Some(first)) = (&anchor.log_id, entries.first())
        && *id != first.hash
    {
        return Err(Tamper::OtherLog {
            head_first: id.clone(),
            log_first: first.hash.clone(),
        });
    }
    match entries.iter().find(|e| e.seq == anchor.seq) {
        Some(e) if e.hash == anchor.hash => Ok(()),
        _ => Err(Tamper::RolledBack {
            seq: anchor.seq,
            written_at: anchor.written_at.clone().unwrap_or_default(),
        }),
    }
}

/// What a log that verified under the lender's key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    pub entries: u64,
    /// When the head was signed (None for an empty log without a head).
    pub written_at: Option<String>,
    /// Redaction records, all signed by the lender (in the record or by a later sign-head).
    pub redactions: u64,
}

/// Verifies a log against its signed head under the lender's `public` key, which must come
/// from outside the files being checked. In order: the chain (each entry's hash, seq and
/// link: the first break is named), the head (present for a non-empty log, signed, by this
/// key, for this log, naming an entry the log holds with that hash, and the log ends
/// there), then the redactions (each stub named by a later record whose retention had
/// ended, as `chain::verify`), then that every redaction record is signed by the lender.
/// Whether a redaction's `kept_until` is right under the rule packs is the caller's.
pub fn verify_vouched(
    entries: &[Entry],
    head: Option<&SignedHead>,
    public: &PublicKey,
) -> Result<Vouched, Tamper> {
    verify_links(entries)?;
    let Some(head) = head else {
        if entries.is_empty() {
            return Ok(Vouched {
                entries: 0,
                written_at: None,
                redactions: 0,
            });
        }
        return Err(Tamper::NoHead {
            entries: entries.len() as u64,
        });
    };
    head.check(public)?;
    if let (Some(claimed), Some(first)) = (&head.log_id, entries.first())
        && *claimed != first.hash
    {
        return Err(Tamper::OtherLog {
            head_first: claimed.clone(),
            log_first: first.hash.clone(),
        });
    }
    let count = entries.len() as u64;
    match usize::try_from(head.seq).ok().and_then(|i| entries.get(i)) {
        None => {
            return Err(Tamper::Truncated {
                expected: head.seq,
                found: entries.last().map(|e| e.seq),
            });
        }
        Some(e) if e.hash != head.hash => return Err(Tamper::HeadMismatch { seq: head.seq }),
        Some(_) => {}
    }
    if head.count != Some(head.seq + 1) {
        // Signed, but not a head our writers make: treat it as not the lender's statement.
        return Err(Tamper::HeadForged);
    }
    if count > head.seq + 1 {
        return Err(Tamper::Unvouched {
            seq: head.seq,
            extra: count - head.seq - 1,
        });
    }
    verify_redactions(entries)?;
    let redactions = check_redaction_signatures(entries, public, false)?.len() as u64;
    Ok(Vouched {
        entries: count,
        written_at: head.written_at.clone(),
        redactions,
    })
}

/// The signatures later `audit.sign_head` entries gave redaction records (seq → signature).
fn ratified(entries: &[Entry]) -> std::collections::HashMap<u64, (u64, String)> {
    let mut out = std::collections::HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e.kind == SIGN_HEAD_KIND && !e.is_redacted())
    {
        if let Some(m) = e
            .data
            .get("redaction_signatures")
            .and_then(|v| v.as_object())
        {
            for (k, v) in m {
                if let (Ok(seq), Some(sig)) = (k.parse::<u64>(), v.as_str()) {
                    out.entry(seq).or_insert((e.seq, sig.to_owned()));
                }
            }
        }
    }
    out
}

/// The bytes a redaction record's signature covers, from the log as it stands (each named
/// entry's digest from its stub).
fn redaction_bytes(entries: &[Entry], r: &Entry, data: &RedactionData) -> Vec<u8> {
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
    redaction_signed_bytes(r.seq, &r.at, r.borrower_id.as_deref(), data, &digests)
}

/// Checks every redaction record's signature (its own, or one a later `audit.sign_head`
/// entry gave it). Returns the seqs of the records whose signature verified; with
/// `allow_unsigned`, records with no signature at all are skipped rather than refused.
fn check_redaction_signatures(
    entries: &[Entry],
    public: &PublicKey,
    allow_unsigned: bool,
) -> Result<Vec<u64>, Tamper> {
    let ratified = ratified(entries);
    let mut out = Vec::new();
    for r in entries {
        let Some(data) = RedactionData::of(r) else {
            continue;
        };
        let sig = match (&data.signature, ratified.get(&r.seq)) {
            (Some(s), _) => s.clone(),
            (None, Some((by, s))) if *by > r.seq => s.clone(),
            (None, _) if allow_unsigned => continue,
            (None, _) => return Err(Tamper::UnsignedRedaction { seq: r.seq }),
        };
        public
            .check(&redaction_bytes(entries, r, &data), &sig)
            .map_err(|_| Tamper::ForgedRedaction { seq: r.seq })?;
        out.push(r.seq);
    }
    Ok(out)
}

/// The redaction records that carry no signature of the lender (written before redactions
/// were signed); a record whose signature does not verify is an error, never listed.
pub fn unsigned_redactions(entries: &[Entry], public: &PublicKey) -> Result<Vec<u64>, Tamper> {
    let signed = check_redaction_signatures(entries, public, true)?;
    Ok(entries
        .iter()
        .filter(|e| e.kind == REDACTION_KIND && !e.is_redacted() && !signed.contains(&e.seq))
        .map(|e| e.seq)
        .collect())
}

/// The `audit.sign_head` entry with which the key holder brings a reviewed log under the
/// lender's signature: the reason, the head it replaces (`previous`: None when there was
/// none) and how it stood (`previous_state`, e.g. the verification failure), the key, and a
/// signature for each redaction record in `unsigned` (see `unsigned_redactions`). Append it
/// and sign the new head over it.
pub fn sign_head_draft(
    entries: &[Entry],
    key: &LenderKey,
    at: jiff::Timestamp,
    reason: &str,
    previous: Option<&SignedHead>,
    previous_state: &str,
    unsigned: &[u64],
) -> Draft {
    let mut sigs = serde_json::Map::new();
    for seq in unsigned {
        if let Some(r) = usize::try_from(*seq).ok().and_then(|i| entries.get(i))
            && let Some(data) = RedactionData::of(r)
        {
            sigs.insert(
                seq.to_string(),
                key.sign_bytes(&redaction_bytes(entries, r, &data)).into(),
            );
        }
    }
    Draft {
        at,
        kind: SIGN_HEAD_KIND.into(),
        borrower_id: None,
        loan_id: None,
        data: serde_json::json!({
            "reason": reason,
            "previous_head": previous.map(|h| serde_json::json!({"seq": h.seq, "hash": h.hash, "signed": h.is_signed()})),
            "previous_state": previous_state,
            "key": key.public_hex(),
            "redaction_signatures": sigs,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{RedactedItem, RedactionRequest, append, redact, redact_signed, verify};
    use proptest::prelude::*;

    fn lender() -> LenderKey {
        LenderKey::from_seed([7; 32])
    }

    fn attacker() -> LenderKey {
        LenderKey::from_seed([9; 32])
    }

    fn at(i: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_600_000_000 + i * 3600).unwrap()
    }

    fn draft(i: usize) -> Draft {
        Draft {
            at: at(i as i64),
            kind: "plan.action".into(),
            borrower_id: Some(format!("B{}", i % 3)),
            loan_id: Some(format!("L{i}")),
            data: serde_json::json!({"i": i}),
        }
    }

    fn log(n: usize) -> Vec<Entry> {
        let mut l: Vec<Entry> = Vec::new();
        for i in 0..n {
            let e = append(l.last(), draft(i));
            l.push(e);
        }
        l
    }

    /// The head `key` signs over the log as it stands.
    fn head_by(key: &LenderKey, l: &[Entry]) -> SignedHead {
        let last = l.last().unwrap();
        SignedHead::sign(
            key,
            l.first().map(|e| e.hash.as_str()),
            &Head::of(last),
            last.seq + 1,
            at(10_000),
        )
    }

    fn request(seqs: &[u64]) -> RedactionRequest {
        RedactionRequest {
            at: at(100_000),
            borrower_id: None,
            before: None,
            items: seqs
                .iter()
                .map(|s| RedactedItem {
                    seq: *s,
                    jurisdiction: None,
                    rule_id: Some("CN-RECORDS".into()),
                    last_activity: at(*s as i64).to_string(),
                    kept_until: at(*s as i64 + 10).to_string(),
                })
                .collect(),
        }
    }

    fn pk() -> PublicKey {
        lender().public()
    }

    #[test]
    fn an_anchor_kept_apart_catches_a_rollback_to_an_older_signed_pair() {
        let long = log(8);
        let anchor = head_by(&lender(), &long[..6]);
        // The log grew past the anchor: fine.
        assert_eq!(check_anchor(&long, &anchor, &pk()), Ok(()));
        assert_eq!(check_anchor(&long[..6], &anchor, &pk()), Ok(()));
        // Rolled back to an older copy with its own genuine signed head: that pair verifies
        // alone, but not against the anchor.
        let old = &long[..4];
        assert!(verify_vouched(old, Some(&head_by(&lender(), old)), &pk()).is_ok());
        assert_eq!(
            check_anchor(old, &anchor, &pk()),
            Err(Tamper::RolledBack {
                seq: 5,
                written_at: at(10_000).to_string()
            })
        );
        // Rewritten from before the anchor's entry: its hash is not the anchored one.
        let mut other = long[..3].to_vec();
        for i in 10..15 {
            let e = append(other.last(), draft(i));
            other.push(e);
        }
        assert!(matches!(
            check_anchor(&other, &anchor, &pk()),
            Err(Tamper::RolledBack { seq: 5, .. })
        ));
        // An anchor signed by someone else, or of another log, proves nothing.
        assert!(matches!(
            check_anchor(&long, &head_by(&attacker(), &long[..6]), &pk()),
            Err(Tamper::HeadOtherKey { .. })
        ));
        let foreign: Vec<Entry> = (20..28).fold(Vec::new(), |mut l, i| {
            let e = append(l.last(), draft(i));
            l.push(e);
            l
        });
        assert!(matches!(
            check_anchor(&foreign, &anchor, &pk()),
            Err(Tamper::OtherLog { .. })
        ));
    }

    #[test]
    fn a_genuine_log_with_a_genuine_redaction_verifies() {
        let mut l = log(6);
        assert_eq!(
            redact_signed(&mut l, request(&[1, 3]), None, &lender()),
            Ok(6)
        );
        let h = head_by(&lender(), &l);
        let v = verify_vouched(&l, Some(&h), &pk()).unwrap();
        assert_eq!((v.entries, v.redactions), (7, 1));
        assert_eq!(v.written_at, Some(at(10_000).to_string()));
        // An empty log without a head has nothing to vouch for.
        assert_eq!(verify_vouched(&[], None, &pk()).map(|v| v.entries), Ok(0));
    }

    #[test]
    fn each_failure_is_named() {
        let l = log(5);
        let good = head_by(&lender(), &l);
        // (what, log, head, expected)
        let mut rewritten = l.clone();
        rewritten[2].data = serde_json::json!({"forged": true});
        rewritten[2].hash = rewritten[2].computed_hash();
        for i in 3..5 {
            rewritten[i].prev = rewritten[i - 1].hash.clone();
            rewritten[i].hash = rewritten[i].computed_hash();
        }
        assert_eq!(verify(&rewritten, None), Ok(()), "the chain is consistent");
        let mut unsigned_copy = good.clone();
        unsigned_copy.signature = None;
        let mut edited = good.clone();
        edited.written_at = Some(at(20_000).to_string());
        let bad_count = SignedHead::sign(&lender(), Some(&l[0].hash), &Head::of(&l[4]), 9, at(1));
        let mut other_log: Vec<Entry> = Vec::new();
        for i in 100..105 {
            let e = append(other_log.last(), draft(i));
            other_log.push(e);
        }
        let cases: Vec<(&str, &[Entry], Option<SignedHead>, Tamper)> = vec![
            ("missing head", &l[..], None, Tamper::NoHead { entries: 5 }),
            (
                "unsigned head",
                &l[..],
                Some(SignedHead::unsigned(&Head::of(&l[4]))),
                Tamper::UnsignedHead { seq: 4 },
            ),
            (
                "signature stripped",
                &l[..],
                Some(unsigned_copy),
                Tamper::UnsignedHead { seq: 4 },
            ),
            (
                "head edited after signing",
                &l[..],
                Some(edited),
                Tamper::HeadForged,
            ),
            (
                "a head no writer makes",
                &l[..],
                Some(bad_count),
                Tamper::HeadForged,
            ),
            (
                "head signed by another key",
                &l[..],
                Some(head_by(&attacker(), &l)),
                Tamper::HeadOtherKey {
                    key: attacker().public_hex(),
                    lender: lender().public_hex(),
                },
            ),
            (
                "rewritten, chain and head recomputed without the key",
                &rewritten[..],
                Some(head_by(&attacker(), &rewritten)),
                Tamper::HeadOtherKey {
                    key: attacker().public_hex(),
                    lender: lender().public_hex(),
                },
            ),
            (
                "rewritten, chain recomputed, genuine head kept",
                &rewritten[..],
                Some(good.clone()),
                Tamper::HeadMismatch { seq: 4 },
            ),
            (
                "truncated",
                &l[..3],
                Some(good.clone()),
                Tamper::Truncated {
                    expected: 4,
                    found: Some(2),
                },
            ),
            (
                "the head of another log",
                &other_log[..],
                Some(good.clone()),
                Tamper::OtherLog {
                    head_first: l[0].hash.clone(),
                    log_first: other_log[0].hash.clone(),
                },
            ),
        ];
        for (what, entries, head, expected) in cases {
            let got = verify_vouched(entries, head.as_ref(), &pk());
            assert_eq!(got, Err(expected.clone()), "{what}");
            assert!(!expected.to_string().is_empty());
        }
        // Appended after the signed head (without the key, or a crash before the head).
        let mut longer = l.clone();
        let e = append(longer.last(), draft(5));
        longer.push(e);
        assert_eq!(
            verify_vouched(&longer, Some(&good), &pk()),
            Err(Tamper::Unvouched { seq: 4, extra: 1 })
        );
        assert!(
            Tamper::NoHead { entries: 5 }
                .to_string()
                .contains("sign-head")
        );
    }

    #[test]
    fn a_forged_redaction_is_rejected_even_when_the_chain_and_head_agree() {
        let base = log(6);
        // Redacted without the lender's key, even under a head the lender signed.
        let mut unsigned = base.clone();
        redact(&mut unsigned, request(&[2]), None).unwrap();
        assert_eq!(verify(&unsigned, None), Ok(()), "the chain is consistent");
        assert_eq!(
            verify_vouched(&unsigned, Some(&head_by(&lender(), &unsigned)), &pk()),
            Err(Tamper::UnsignedRedaction { seq: 6 })
        );
        // Signed by another key.
        let mut other = base.clone();
        redact_signed(&mut other, request(&[2]), None, &attacker()).unwrap();
        assert_eq!(
            verify_vouched(&other, Some(&head_by(&lender(), &other)), &pk()),
            Err(Tamper::ForgedRedaction { seq: 6 })
        );
        // A genuine signature moved onto a redaction of other entries: the record names
        // entry 3 instead of 2 (both erased so the chain agrees), rehashed.
        let mut genuine = base.clone();
        redact_signed(&mut genuine, request(&[2]), None, &lender()).unwrap();
        let mut moved = base.clone();
        redact(&mut moved, request(&[3]), None).unwrap();
        let sig = RedactionData::of(&genuine[6]).unwrap().signature;
        moved[6].data["signature"] = serde_json::json!(sig);
        moved[6].hash = moved[6].computed_hash();
        assert_eq!(verify(&moved, None), Ok(()));
        assert_eq!(
            verify_vouched(&moved, Some(&head_by(&lender(), &moved)), &pk()),
            Err(Tamper::ForgedRedaction { seq: 6 })
        );
    }

    #[test]
    fn sign_head_brings_a_reviewed_legacy_log_under_the_signature() {
        let mut l = log(4);
        redact(&mut l, request(&[1]), None).unwrap();
        let legacy = SignedHead::unsigned(&Head::of(&l[4]));
        let state = verify_vouched(&l, Some(&legacy), &pk()).unwrap_err();
        assert_eq!(state, Tamper::UnsignedHead { seq: 4 });
        let unsigned = unsigned_redactions(&l, &pk()).unwrap();
        assert_eq!(unsigned, [4]);
        let d = sign_head_draft(
            &l,
            &lender(),
            at(200_000),
            "reviewed by A. Auditor",
            Some(&legacy),
            &state.to_string(),
            &unsigned,
        );
        let e = append(l.last(), d);
        l.push(e);
        assert_eq!(
            verify_vouched(&l, Some(&head_by(&lender(), &l)), &pk()).map(|v| v.redactions),
            Ok(1)
        );
        assert_eq!(l[5].data["previous_head"]["signed"], false);
        // The attacker's ratification does not count.
        let mut l2 = log(4);
        redact(&mut l2, request(&[1]), None).unwrap();
        let d = sign_head_draft(&l2, &attacker(), at(1), "x", None, "x", &[4]);
        let e = append(l2.last(), d);
        l2.push(e);
        assert_eq!(
            verify_vouched(&l2, Some(&head_by(&lender(), &l2)), &pk()),
            Err(Tamper::ForgedRedaction { seq: 4 })
        );
        assert_eq!(
            unsigned_redactions(&l2, &pk()),
            Err(Tamper::ForgedRedaction { seq: 4 })
        );
    }

    #[test]
    fn the_head_file_reads_old_and_new() {
        let l = log(2);
        let h = head_by(&lender(), &l);
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<SignedHead>(&text).unwrap(), h);
        // Readers of the old head (the server's export) still read the seq and hash.
        assert_eq!(
            serde_json::from_str::<Head>(&text).unwrap(),
            Head::of(&l[1])
        );
        let old = format!(r#"{{"seq":1,"hash":"{}"}}"#, l[1].hash);
        let read: SignedHead = serde_json::from_str(&old).unwrap();
        assert!(!read.is_signed());
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
    }

    proptest! {
        /// Cutting any number of entries off the end is detected under the signed head.
        #[test]
        fn any_truncation_is_detected(n in 2usize..25, cut in 1usize..25) {
            let l = log(n);
            let h = head_by(&lender(), &l);
            let keep = n.saturating_sub(cut);
            let got = verify_vouched(&l[..keep], Some(&h), &pk());
            if keep == 0 {
                let cut_to_nothing = matches!(got, Err(Tamper::Truncated { found: None, .. }));
                prop_assert!(cut_to_nothing);
            } else {
                prop_assert_eq!(got, Err(Tamper::Truncated { expected: n as u64 - 1, found: Some(keep as u64 - 1) }));
            }
        }

        /// An attacker without the key rewrites any entry and recomputes the chain after it,
        /// then keeps the genuine head, writes an unsigned one, or signs one with their key:
        /// each is detected.
        #[test]
        fn any_rewrite_without_the_key_is_detected(n in 1usize..25, pick in any::<prop::sample::Index>(), how in 0usize..3) {
            let l = log(n);
            let good = head_by(&lender(), &l);
            let i = pick.index(n);
            let mut f = l.clone();
            f[i].data = serde_json::json!({"forged": i});
            f[i].hash = f[i].computed_hash();
            for j in i + 1..n {
                f[j].prev = f[j - 1].hash.clone();
                f[j].hash = f[j].computed_hash();
            }
            prop_assert_eq!(verify(&f, None), Ok(()));
            let head = match how {
                0 => good,
                1 => SignedHead::unsigned(&Head::of(&f[n - 1])),
                _ => head_by(&attacker(), &f),
            };
            let got = verify_vouched(&f, Some(&head), &pk());
            prop_assert!(got.is_err());
            prop_assert!(verify_vouched(&l, Some(&head_by(&lender(), &l)), &pk()).is_ok());
        }
    }
}
