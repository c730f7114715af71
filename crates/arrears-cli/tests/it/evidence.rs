//! Keys, signed messages, verification codes and the audit chain through the real binary.

use crate::{arrears, text};

#[test]
fn a_borrower_can_tell_a_genuine_message_from_a_forged_one() {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys");
    let log = d.path().join("audit.jsonl");
    let (k, l) = (keys.to_str().unwrap(), log.to_str().unwrap());
    let o = arrears(&["keys", "init", "--dir", k]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("lender.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the private key is readable by its owner only"
        );
    }
    assert_eq!(
        arrears(&["keys", "init", "--dir", k]).status.code(),
        Some(2),
        "never overwrites a key"
    );

    let sign = |borrower: &str, body: &str| {
        let o = arrears(&[
            "sign",
            "--keys",
            k,
            "--log",
            l,
            "--lender",
            "Acme Finance",
            "--borrower",
            borrower,
            "--channel",
            "sms",
            "--text",
            body,
            "--at",
            "2026-11-28T10:00:00+08:00",
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_owned()
    };
    let c1 = sign(
        "B1",
        "Acme Finance: 120.00 CNY is overdue. Code {code}. Reply T to opt out.",
    );
    let c2 = sign(
        "B2",
        "Acme Finance: payment received, thank you. Code {code}.",
    );
    assert_ne!(c1, c2);

    let verify = |code: &str| arrears(&["verify", code, "--keys", k, "--log", l]);
    let o = verify(&c1.to_lowercase());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("GENUINE") && out.contains("120.00 CNY") && out.contains(&c1),
        "{out}"
    );
    let o = verify("ZZZZZ-ZZZZZ");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).starts_with("NOT ISSUED"));
    let o = arrears(&["audit", "verify", "--log", l, "--keys", k]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("2 entries"));

    // Someone edits the amount in the stored record: the signature and the chain both break.
    let content = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, content.replacen("120.00 CNY", "1200.00 CNY", 1)).unwrap();
    let o = verify(&c1);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).starts_with("NOT GENUINE"),
        "{}",
        text(&o.stdout)
    );
    let o = arrears(&["audit", "verify", "--log", l, "--keys", k]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("entry 0"), "{}", text(&o.stdout));

    // Removing the last entry is caught by the head.
    let first_line = content.lines().next().unwrap();
    std::fs::write(&log, format!("{first_line}\n")).unwrap();
    let o = arrears(&["audit", "verify", "--log", l, "--keys", k]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("removed from the end"),
        "{}",
        text(&o.stdout)
    );
}

/// A log written before v2 existed (two v1 entries of a US borrower) and its head.
const V1_LOG: &str = r#"{"seq":0,"at":"2020-01-02T15:00:00Z","kind":"plan.block","borrower_id":"B1","loan_id":"L1","data":{"jurisdiction":"US-NY","kind":"call","rule_id":"US-7IN7"},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"0ad75f3e4d63b080706f8ed5d6ec27b8e97bfcaf130225ff8555e6e5d44d4eca"}
{"seq":1,"at":"2020-01-03T15:00:00Z","kind":"contact","borrower_id":"B1","loan_id":"L1","data":{"channel":"sms","outcome":"no_answer"},"prev":"0ad75f3e4d63b080706f8ed5d6ec27b8e97bfcaf130225ff8555e6e5d44d4eca","hash":"0fee54a9617175b5d2cf46ff87094c8bf97b416ac3afb06d988262a4d7bc2bb3"}
"#;
const V1_HEAD: &str =
    r#"{"seq":1,"hash":"0fee54a9617175b5d2cf46ff87094c8bf97b416ac3afb06d988262a4d7bc2bb3"}"#;

struct Signed {
    _dir: tempfile::TempDir,
    keys: String,
    log: std::path::PathBuf,
    codes: Vec<String>,
}

/// A log of three signed messages: B1's two of 2020 (past every pack's retention by
/// 2026-12-01) and B2's of 2026-11-28 (held by CN-RECORDS, the strictest, until 2031-11-28).
fn signed_log() -> Signed {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys").to_str().unwrap().to_owned();
    let log = d.path().join("audit.jsonl");
    assert!(arrears(&["keys", "init", "--dir", &keys]).status.success());
    let mut codes = Vec::new();
    for (borrower, at, body) in [
        (
            "B1",
            "2020-01-01T10:00:00+08:00",
            "Acme: 120.00 CNY overdue. Code {code}.",
        ),
        (
            "B1",
            "2020-06-01T10:00:00+08:00",
            "Acme: 80.00 CNY overdue. Code {code}.",
        ),
        (
            "B2",
            "2026-11-28T10:00:00+08:00",
            "Acme: 50.00 CNY overdue. Code {code}.",
        ),
    ] {
        let o = arrears(&sign_args(&keys, &log, borrower, body, at));
        assert!(o.status.success(), "{}", text(&o.stderr));
        codes.push(text(&o.stdout).trim().to_owned());
    }
    Signed {
        _dir: d,
        keys,
        log,
        codes,
    }
}

fn delete(log: &std::path::Path, keys: &str, sel: &[&str], at: &str) -> std::process::Output {
    let mut args = vec![
        "audit",
        "delete",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        keys,
        "--at",
        at,
    ];
    args.extend_from_slice(sel);
    arrears(&args)
}

/// `audit verify` with the public key from the keys directory `keys`.
fn audit_verify(log: &std::path::Path, keys: &str) -> (Option<i32>, String) {
    let o = arrears(&[
        "audit",
        "verify",
        "--log",
        log.to_str().unwrap(),
        "--keys",
        keys,
    ]);
    (o.status.code(), text(&o.stdout))
}

fn head_of(log: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.head", log.display()))
}

#[test]
fn audit_delete_refuses_young_records_and_changes_nothing() {
    let s = signed_log();
    let (log_before, head_before) = (
        std::fs::read(&s.log).unwrap(),
        std::fs::read(head_of(&s.log)).unwrap(),
    );
    // (selection, at, what the refusal names): all or nothing, B1's old entries included.
    for (sel, at, names) in [
        (&["--borrower", "B2"][..], "2026-12-01T00:00:00Z", "entry 2"),
        (
            &["--before", "2027-01-01T00:00:00Z"][..],
            "2026-12-01T00:00:00Z",
            "entry 2",
        ),
        (
            &["--borrower", "B2"][..],
            "2031-11-28T01:59:59Z",
            "until 2031-11-28T02:00:00Z",
        ),
        (
            &["--borrower", "B1"][..],
            "2024-12-31T00:00:00Z",
            "until 2025-01-01T02:00:00Z",
        ),
    ] {
        let o = delete(&s.log, &s.keys, sel, at);
        assert_eq!(o.status.code(), Some(2), "{sel:?} at {at}");
        let err = text(&o.stderr);
        assert!(
            err.contains("refused") && err.contains("CN-RECORDS") && err.contains(names),
            "{sel:?}: {err}"
        );
        assert_eq!(std::fs::read(&s.log).unwrap(), log_before, "{sel:?}");
        assert_eq!(std::fs::read(head_of(&s.log)).unwrap(), head_before);
    }
    let o = delete(
        &s.log,
        &s.keys,
        &["--borrower", "B9"],
        "2040-01-01T00:00:00Z",
    );
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("nothing to delete"));
    assert_eq!(std::fs::read(&s.log).unwrap(), log_before);
}

#[test]
fn audit_delete_redacts_old_records_and_the_chain_still_verifies() {
    let s = signed_log();
    let lines_before: Vec<String> = std::fs::read_to_string(&s.log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let o = delete(
        &s.log,
        &s.keys,
        &["--borrower", "B1"],
        "2026-12-01T00:00:00Z",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("redacted 2 entries (seq 0, seq 1)"),
        "{}",
        text(&o.stdout)
    );
    let after = std::fs::read_to_string(&s.log).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines.len(), 4, "{after}");
    // B1's messages are gone from the file: text, code, loan and borrower (the redaction
    // entry, which names B1 as the requester, aside).
    for gone in [
        "120.00 CNY",
        "80.00 CNY",
        s.codes[0].as_str(),
        s.codes[1].as_str(),
    ] {
        assert!(!after.contains(gone), "{gone} is still in the log");
    }
    for stub in &lines[..2] {
        assert!(
            stub.contains("\"redacted\"") && !stub.contains("B1"),
            "{stub}"
        );
    }
    // B2's entry keeps its exact bytes; the head names the redaction entry.
    assert_eq!(lines[2], lines_before[2]);
    let record: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(record["kind"], "audit.redaction");
    assert_eq!(record["borrower_id"], "B1");
    assert_eq!(record["data"]["entries"][0]["rule_id"], "CN-RECORDS");
    assert_eq!(record["data"]["entries"][1]["seq"], 1);
    let head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(head_of(&s.log)).unwrap()).unwrap();
    assert_eq!(
        (head["seq"].clone(), head["hash"].clone()),
        (record["seq"].clone(), record["hash"].clone())
    );
    // No temporary file is left next to the log.
    let names: Vec<String> = std::fs::read_dir(s.log.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("4 entries, chain intact; 2 redacted"), "{out}");
    // Nothing left to delete for B1; a second request changes nothing.
    let o = delete(
        &s.log,
        &s.keys,
        &["--borrower", "B1"],
        "2026-12-02T00:00:00Z",
    );
    assert!(text(&o.stdout).contains("nothing to delete"));
    assert_eq!(std::fs::read_to_string(&s.log).unwrap(), after);

    // A deleted message can no longer be checked, and the answer says why; B2's still can.
    let verify = |code: &str| {
        arrears(&[
            "verify",
            code,
            "--keys",
            &s.keys,
            "--log",
            s.log.to_str().unwrap(),
        ])
    };
    let o = verify(&s.codes[0]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).starts_with("NOT ON RECORD"),
        "{}",
        text(&o.stdout)
    );
    assert!(text(&verify(&s.codes[2]).stdout).starts_with("GENUINE"));

    // The borrower's export says their records were deleted.
    let ex = s.log.parent().unwrap().join("export");
    let o = arrears(&[
        "audit",
        "export",
        "--borrower",
        "B1",
        "--log",
        s.log.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("B1.json")).unwrap()).unwrap();
    assert_eq!(json["chain"], "intact");
    assert_eq!(json["counts"]["messages"], 0);
    assert_eq!(json["redacted"]["requests"][0]["entries"], 2);
    assert_eq!(
        json["redacted"]["requests"][0]["at"],
        "2026-12-01T00:00:00Z"
    );
    let note = json["redacted"]["note"].as_str().unwrap();
    assert!(
        note.contains("2 records of this borrower were deleted on 2026-12-01"),
        "{note}"
    );
    let html = std::fs::read_to_string(ex.join("B1.html")).unwrap();
    assert!(
        html.contains("Deleted records:") && html.contains("CN-RECORDS"),
        "{html}"
    );
    // B2's export is unaffected by B1's deletion.
    let o = arrears(&[
        "audit",
        "export",
        "--borrower",
        "B2",
        "--log",
        s.log.to_str().unwrap(),
        "--out",
        ex.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("B2.json")).unwrap()).unwrap();
    assert!(json.get("redacted").is_none(), "{json}");
    assert_eq!(json["counts"]["messages"], 1);
}

/// Every edit of a redacted log, as (what, the edit of its lines, what `audit verify` says).
#[test]
fn audit_verify_detects_tampering_with_a_redacted_log() {
    use arrears_evidence::chain::{Entry, redact, redact_signed};
    let s = signed_log();
    let young: Vec<Entry> = std::fs::read_to_string(&s.log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        delete(
            &s.log,
            &s.keys,
            &["--borrower", "B1"],
            "2026-12-01T00:00:00Z"
        )
        .status
        .success()
    );
    let good = std::fs::read_to_string(&s.log).unwrap();
    let good_head = std::fs::read_to_string(head_of(&s.log)).unwrap();
    let entries: Vec<Entry> = good
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let write = |es: &[Entry]| {
        es.iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect::<String>()
    };
    type Edit = Box<dyn Fn(&mut Vec<Entry>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "a stub's digest",
            Box::new(|l| {
                l[0].redacted.as_mut().unwrap().content_digest = "ab".repeat(32);
            }),
            "entry 0 (seq 0) was altered",
        ),
        (
            "a stub's at",
            Box::new(|l| l[1].at = "2019-01-01T00:00:00Z".into()),
            "entry 1 (seq 1) was altered",
        ),
        (
            "a stub's kind",
            Box::new(|l| l[1].kind = "contact".into()),
            "entry 1 (seq 1) was altered",
        ),
        (
            "a stub's redaction pointer",
            Box::new(|l| l[1].redacted.as_mut().unwrap().by = 2),
            "entry 1 (seq 1) was emptied without a redaction",
        ),
        (
            "content stripped from B2's entry",
            Box::new(|l| {
                l[2].data = serde_json::Value::Null;
                l[2].borrower_id = None;
                l[2].salt = None;
            }),
            "entry 2 (seq 2) was altered",
        ),
        (
            "B2's entry made a stub without a redaction record",
            Box::new(|l| {
                let content_digest = l[2].content_digest().unwrap();
                l[2].data = serde_json::Value::Null;
                l[2].borrower_id = None;
                l[2].salt = None;
                l[2].redacted = Some(arrears_evidence::chain::Redacted {
                    content_digest,
                    by: 3,
                });
            }),
            "entry 2 (seq 2) was emptied without a redaction",
        ),
        (
            "the redaction record's list",
            Box::new(|l| {
                l[3].data["entries"][1]["seq"] = 2.into();
            }),
            "entry 3 (seq 3) was altered",
        ),
        (
            "the redaction record removed",
            Box::new(|l| {
                l.pop();
            }),
            "removed from the end",
        ),
        ("two stubs swapped", Box::new(|l| l.swap(0, 1)), "entry 0"),
    ];
    for (what, edit, says) in cases {
        let mut l = entries.clone();
        edit(&mut l);
        std::fs::write(&s.log, write(&l)).unwrap();
        std::fs::write(head_of(&s.log), &good_head).unwrap();
        let (code, out) = audit_verify(&s.log, &s.keys);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(
            out.starts_with("TAMPERED") && out.contains(says),
            "{what}: {out}"
        );
    }
    // A forger who rebuilds the record and head to redact B2's young entry, claiming its
    // retention ended: the chain links, but the head is not the lender's. Even with the
    // lender's key (a careless key holder) the packs still hold it (CN-RECORDS until 2031).
    let mut forged = young.clone();
    let item = arrears_evidence::chain::RedactedItem {
        seq: 2,
        jurisdiction: None,
        rule_id: Some("CN-RECORDS".into()),
        last_activity: "2026-11-28T02:00:00Z".into(),
        kept_until: "2026-11-28T02:00:00Z".into(),
    };
    let req = arrears_evidence::chain::RedactionRequest {
        at: "2026-12-01T00:00:00Z".parse().unwrap(),
        borrower_id: Some("B2".into()),
        before: None,
        items: vec![item],
    };
    let mut keyed = forged.clone();
    assert_eq!(redact(&mut forged, req.clone(), None), Ok(3));
    std::fs::write(&s.log, write(&forged)).unwrap();
    std::fs::write(
        head_of(&s.log),
        format!(r#"{{"seq":3,"hash":"{}"}}"#, forged[3].hash),
    )
    .unwrap();
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("NOT VOUCHED FOR: the head (seq 3) is not signed"),
        "{out}"
    );
    let key = lender_key(&s.keys);
    assert_eq!(redact_signed(&mut keyed, req, None, &key), Ok(3));
    std::fs::write(&s.log, write(&keyed)).unwrap();
    std::fs::write(head_of(&s.log), signed_head(&key, &keyed)).unwrap();
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("entry 2 (seq 2) was redacted by seq 3")
            && out.contains("CN-RECORDS kept it until 2031-11-28T02:00:00Z"),
        "{out}"
    );
    // The untouched redacted log verifies.
    std::fs::write(&s.log, &good).unwrap();
    std::fs::write(head_of(&s.log), &good_head).unwrap();
    assert_eq!(audit_verify(&s.log, &s.keys).0, Some(0));
}

/// A log written before heads were signed (here a v1 log with its unsigned head) is not
/// vouched for until the key holder signs it with `audit sign-head`, which the log records.
#[test]
fn a_v1_log_is_signed_by_sign_head_and_its_entries_cannot_be_redacted() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("audit.jsonl");
    std::fs::write(&log, V1_LOG).unwrap();
    std::fs::write(head_of(&log), V1_HEAD).unwrap();
    let keys = d.path().join("keys");
    let k = keys.to_str().unwrap();
    assert!(arrears(&["keys", "init", "--dir", k]).status.success());
    let (code, out) = audit_verify(&log, k);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("NOT VOUCHED FOR: the head (seq 1) is not signed")
            && out.contains("arrears audit sign-head"),
        "{out}"
    );
    // Nothing is appended to, or deleted from, a log the lender has not signed.
    let o = arrears(&sign_args(
        k,
        &log,
        "B1",
        "Code {code}.",
        "2026-11-28T10:00:00Z",
    ));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("refusing to append") && text(&o.stderr).contains("not signed"),
        "{}",
        text(&o.stderr)
    );
    let o = delete(&log, k, &["--borrower", "B1"], "2026-12-01T00:00:00Z");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("not signed"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), V1_LOG);
    assert_eq!(std::fs::read_to_string(head_of(&log)).unwrap(), V1_HEAD);

    // The key holder signs it after review; the log records it.
    let sign_head = |reason: &str| {
        arrears(&[
            "audit",
            "sign-head",
            "--log",
            log.to_str().unwrap(),
            "--keys",
            k,
            "--reason",
            reason,
            "--at",
            "2026-12-01T09:00:00Z",
        ])
    };
    let o = sign_head("reviewed against the 2020 backup by A. Auditor");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("audit.sign_head entry seq 2"),
        "{}",
        text(&o.stdout)
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["kind"], "audit.sign_head");
    assert_eq!(
        lines[2]["data"]["reason"],
        "reviewed against the 2020 backup by A. Auditor"
    );
    assert_eq!(lines[2]["data"]["previous_head"]["seq"], 1);
    assert_eq!(lines[2]["data"]["previous_head"]["signed"], false);
    let (code, out) = audit_verify(&log, k);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("ok: 3 entries, chain intact; head signed by the lender at"),
        "{out}"
    );
    // Once is enough: a log that verifies is not signed again.
    let o = sign_head("again");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("already verifies"),
        "{}",
        text(&o.stderr)
    );

    // Past US-RECORDS (3 years after 2020-01-03), but v1 hashes cover the content itself.
    let signed = std::fs::read_to_string(&log).unwrap();
    let o = delete(&log, k, &["--borrower", "B1"], "2026-12-01T00:00:00Z");
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("entry 0 is a v1 entry") && err.contains("no record was deleted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), signed);
    // Still refused for retention first when that applies.
    let o = delete(&log, k, &["--borrower", "B1"], "2022-01-01T00:00:00Z");
    assert!(
        text(&o.stderr).contains("US-RECORDS until 2023-01-03T15:00:00Z"),
        "{}",
        text(&o.stderr)
    );
    // Appending continues it with v2 entries; the mixed log verifies.
    let o = arrears(&sign_args(
        k,
        &log,
        "B1",
        "Code {code}.",
        "2026-11-28T10:00:00Z",
    ));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let text_now = std::fs::read_to_string(&log).unwrap();
    assert!(text_now.starts_with(V1_LOG));
    assert!(
        text_now
            .lines()
            .nth(3)
            .unwrap()
            .starts_with(r#"{"v":2,"seq":3,"#)
    );
    let (code, out) = audit_verify(&log, k);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("ok: 4 entries, chain intact"), "{out}");
}

/// `sign` arguments for one message of `borrower` to `log`, signed with the keys in `keys`.
fn sign_args<'a>(
    keys: &'a str,
    log: &'a std::path::Path,
    borrower: &'a str,
    body: &'a str,
    at: &'a str,
) -> Vec<&'a str> {
    vec![
        "sign",
        "--keys",
        keys,
        "--log",
        log.to_str().unwrap(),
        "--lender",
        "Acme",
        "--borrower",
        borrower,
        "--channel",
        "sms",
        "--text",
        body,
        "--at",
        at,
    ]
}

/// The instant of the messages the lock tests add to the signed log.
const LATER: &str = "2026-11-30T10:00:00+08:00";

fn spawn(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn verify_code(s: &Signed, code: &str) -> String {
    let o = arrears(&[
        "verify",
        code,
        "--keys",
        &s.keys,
        "--log",
        s.log.to_str().unwrap(),
    ]);
    text(&o.stdout)
}

/// Commands that change a log wait while another holds its lock, and then each sees what the
/// other wrote: the deletion's rewrite keeps the message signed while it waited, or the
/// message is chained after the redaction.
#[test]
fn commands_that_change_a_log_wait_for_its_lock() {
    let s = signed_log();
    let before = std::fs::read(&s.log).unwrap();
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{}.lock", s.log.display()))
        .unwrap();
    held.lock().unwrap();
    let sign = spawn(&sign_args(
        &s.keys,
        &s.log,
        "B3",
        "Acme: 30.00 CNY overdue. Code {code}.",
        LATER,
    ));
    let delete = spawn(&[
        "audit",
        "delete",
        "--log",
        s.log.to_str().unwrap(),
        "--keys",
        &s.keys,
        "--borrower",
        "B1",
        "--at",
        "2026-12-01T00:00:00Z",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(
        std::fs::read(&s.log).unwrap(),
        before,
        "nothing is written while the lock is held"
    );
    held.unlock().unwrap();
    let (sign, delete) = (
        sign.wait_with_output().unwrap(),
        delete.wait_with_output().unwrap(),
    );
    for o in [&sign, &delete] {
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("waiting for") && text(&o.stderr).contains(".lock"),
            "says why it waits: {}",
            text(&o.stderr)
        );
    }
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok: 5 entries") && out.contains("2 redacted"),
        "three messages, one more, one redaction: {out}"
    );
    let new_code = text(&sign.stdout).trim().to_owned();
    assert!(verify_code(&s, &new_code).starts_with("GENUINE"));
    assert!(verify_code(&s, &s.codes[2]).starts_with("GENUINE"));
}

/// Messages signed at the same moment by separate processes are all chained, one after the
/// other, and each can be verified.
#[test]
fn messages_signed_at_once_are_all_chained() {
    let s = signed_log();
    let bodies: Vec<String> = (0..8)
        .map(|i| format!("Acme: {i}0.00 CNY overdue. Code {{code}}."))
        .collect();
    let children: Vec<_> = bodies
        .iter()
        .map(|b| spawn(&sign_args(&s.keys, &s.log, "B4", b, LATER)))
        .collect();
    let codes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "{}", text(&o.stderr));
            text(&o.stdout).trim().to_owned()
        })
        .collect();
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok: 11 entries"), "{out}");
    for c in &codes {
        assert!(verify_code(&s, c).starts_with("GENUINE"), "{c}");
    }
}

/// The lender's key as `keys init` wrote it (what a key holder, or a test, signs with).
fn lender_key(keys: &str) -> arrears_evidence::LenderKey {
    let hex = std::fs::read_to_string(std::path::Path::new(keys).join("lender.key")).unwrap();
    let seed: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
        .collect();
    arrears_evidence::LenderKey::from_seed(seed.try_into().unwrap())
}

/// The head file `key` would sign over `entries`.
fn signed_head(key: &arrears_evidence::LenderKey, entries: &[arrears_evidence::Entry]) -> String {
    let last = entries.last().unwrap();
    serde_json::to_string(&arrears_evidence::SignedHead::sign(
        key,
        Some(&entries[0].hash),
        &arrears_evidence::Head::of(last),
        last.seq + 1,
        "2026-12-01T00:00:00Z".parse().unwrap(),
    ))
    .unwrap()
}

fn entries_of(log: &std::path::Path) -> Vec<arrears_evidence::Entry> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn lines_of(es: &[arrears_evidence::Entry]) -> String {
    es.iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

/// `audit verify` takes the lender's public key from outside the log, and says where from.
#[test]
fn audit_verify_needs_the_public_key_from_outside_the_log() {
    let s = signed_log();
    let l = s.log.to_str().unwrap();
    let o = arrears(&["audit", "verify", "--log", l, "--keys", "/no/such/keys"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("no public key") && err.contains("--public-key FILE"),
        "{err}"
    );
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("ok: 3 entries, chain intact; head signed by the lender at")
            && out.contains(&format!(
                "public key from {}/lender.pub (the keys directory)",
                s.keys
            )),
        "{out}"
    );
    let published = s.log.parent().unwrap().join("published.pub");
    std::fs::copy(std::path::Path::new(&s.keys).join("lender.pub"), &published).unwrap();
    let o = arrears(&[
        "audit",
        "verify",
        "--log",
        l,
        "--public-key",
        published.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("published.pub (--public-key)"),
        "{}",
        text(&o.stdout)
    );
    // Another lender's public key: the head is not theirs.
    let other = s.log.parent().unwrap().join("other");
    assert!(
        arrears(&["keys", "init", "--dir", other.to_str().unwrap()])
            .status
            .success()
    );
    let (code, out) = audit_verify(&s.log, other.to_str().unwrap());
    assert_eq!(code, Some(1));
    assert!(out.contains("signed by another key"), "{out}");
}

/// Whoever can write the files but has not the lender's key cannot truncate the log,
/// rewrite an entry (recomputing the chain and the head), forge a redaction or drop the head
/// unnoticed; each failure says what it is, and writers refuse such a log.
#[test]
fn tamper_evidence_holds_without_trusting_the_files() {
    use arrears_evidence::chain::{RedactedItem, RedactionRequest, redact};
    let s = signed_log();
    let good = std::fs::read_to_string(&s.log).unwrap();
    let good_head = std::fs::read_to_string(head_of(&s.log)).unwrap();
    let entries = entries_of(&s.log);
    let attacker = arrears_evidence::LenderKey::from_seed([3; 32]);

    // The message text of entry 1 rewritten, its hash and every later one recomputed.
    let mut rewritten = entries.clone();
    let mut data = rewritten[1].data.clone();
    data["text"] = "Acme: 8000.00 CNY overdue.".into();
    rewritten[1].data = data;
    rewritten[1].hash = rewritten[1].computed_hash();
    rewritten[2].prev = rewritten[1].hash.clone();
    rewritten[2].hash = rewritten[2].computed_hash();
    assert_eq!(arrears_evidence::verify(&rewritten, None), Ok(()));
    let unsigned_head = format!(r#"{{"seq":2,"hash":"{}"}}"#, rewritten[2].hash);
    // B1's 2020 messages (past retention) redacted without the lender's key.
    let mut redacted = entries.clone();
    let req = RedactionRequest {
        at: "2026-12-01T00:00:00Z".parse().unwrap(),
        borrower_id: Some("B1".into()),
        before: None,
        items: (0..2)
            .map(|seq| RedactedItem {
                seq,
                jurisdiction: None,
                rule_id: Some("CN-RECORDS".into()),
                last_activity: "2020-06-01T02:00:00Z".into(),
                kept_until: "2025-06-01T02:00:00Z".into(),
            })
            .collect(),
    };
    redact(&mut redacted, req, None).unwrap();
    let key = lender_key(&s.keys);

    // (what, log, head (None: removed), first word, what the output names)
    let cases: Vec<(&str, String, Option<String>, &str, &str)> = vec![
        (
            "truncated",
            good.lines().take(2).map(|l| format!("{l}\n")).collect(),
            Some(good_head.clone()),
            "TAMPERED",
            "the log ends at seq Some(1) but its head says seq 2: entries were removed from the end",
        ),
        (
            "rewritten, genuine head kept",
            lines_of(&rewritten),
            Some(good_head.clone()),
            "TAMPERED",
            "entry seq 2 is not the entry the head names",
        ),
        (
            "rewritten, head recomputed without a signature",
            lines_of(&rewritten),
            Some(unsigned_head),
            "NOT VOUCHED FOR",
            "the head (seq 2) is not signed",
        ),
        (
            "rewritten, head signed by another key",
            lines_of(&rewritten),
            Some(signed_head(&attacker, &rewritten)),
            "TAMPERED",
            "the head was signed by another key",
        ),
        (
            "head edited after signing",
            good.clone(),
            Some(good_head.replace("\"count\":3", "\"count\":4")),
            "TAMPERED",
            "the head's signature does not verify under the lender's public key",
        ),
        (
            "head removed",
            good.clone(),
            None,
            "TAMPERED",
            "the log has 3 entries but no head",
        ),
        (
            "redaction forged, head signed by another key",
            lines_of(&redacted),
            Some(signed_head(&attacker, &redacted)),
            "TAMPERED",
            "the head was signed by another key",
        ),
        (
            // As if the key holder had signed a head over it: the redaction itself is not the
            // lender's, so the consistent chain and head do not save it.
            "redaction forged, chain and head agree",
            lines_of(&redacted),
            Some(signed_head(&key, &redacted)),
            "TAMPERED",
            "the audit.redaction entry seq 3 is not signed by the lender",
        ),
    ];
    for (what, log, head, word, says) in cases {
        std::fs::write(&s.log, &log).unwrap();
        match &head {
            Some(h) => std::fs::write(head_of(&s.log), h).unwrap(),
            None => std::fs::remove_file(head_of(&s.log)).unwrap(),
        }
        let (code, out) = audit_verify(&s.log, &s.keys);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(
            out.starts_with(&format!("{word}: ")) && out.contains(says),
            "{what}: {out}"
        );
        // No writer builds on it.
        let o = arrears(&sign_args(&s.keys, &s.log, "B3", "Code {code}.", LATER));
        assert_eq!(o.status.code(), Some(1), "{what}");
        assert!(
            text(&o.stderr).contains("refusing to append"),
            "{what}: {}",
            text(&o.stderr)
        );
        assert_eq!(std::fs::read_to_string(&s.log).unwrap(), log, "{what}");
    }
    // The genuine log, and a genuine redaction of it, verify.
    std::fs::write(&s.log, &good).unwrap();
    std::fs::write(head_of(&s.log), &good_head).unwrap();
    assert_eq!(audit_verify(&s.log, &s.keys).0, Some(0));
    let o = delete(
        &s.log,
        &s.keys,
        &["--borrower", "B1"],
        "2026-12-01T00:00:00Z",
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let record = &entries_of(&s.log)[3];
    assert_eq!(record.kind, "audit.redaction");
    assert_eq!(record.data["signature"].as_str().map(str::len), Some(128));
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("2 redacted after their retention, by 1 redactions signed by the lender"),
        "{out}"
    );
    // A deletion needs the lender's key.
    let o = delete(
        &s.log,
        "/no/such/keys",
        &["--borrower", "B2"],
        "2040-01-01T00:00:00Z",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("signed with the lender's key")
            && text(&o.stderr).contains("no record was deleted"),
        "{}",
        text(&o.stderr)
    );
}

/// A head left behind by a writer that stopped between the log and the head (or entries
/// appended without the key) is reported; the key holder's sign-head, after review, covers
/// them, and a redaction written before redactions were signed is ratified there.
#[test]
fn sign_head_covers_a_lagging_head_and_ratifies_an_old_redaction() {
    use arrears_evidence::chain::{RedactedItem, RedactionRequest, redact};
    let s = signed_log();
    let old_head = std::fs::read_to_string(head_of(&s.log)).unwrap();
    let o = arrears(&sign_args(&s.keys, &s.log, "B3", "Code {code}.", LATER));
    assert!(o.status.success());
    std::fs::write(head_of(&s.log), &old_head).unwrap();
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with(
            "NOT VOUCHED FOR: 1 entries after seq 2, the last one the signed head vouches for"
        ),
        "{out}"
    );
    // A redaction as the code before signed redactions wrote it, with its unsigned head.
    let mut es = entries_of(&s.log);
    let req = RedactionRequest {
        at: "2026-12-01T00:00:00Z".parse().unwrap(),
        borrower_id: Some("B1".into()),
        before: None,
        items: vec![RedactedItem {
            seq: 0,
            jurisdiction: None,
            rule_id: Some("CN-RECORDS".into()),
            last_activity: "2020-06-01T02:00:00Z".into(),
            kept_until: "2025-06-01T02:00:00Z".into(),
        }],
    };
    assert_eq!(redact(&mut es, req, None), Ok(4));
    std::fs::write(&s.log, lines_of(&es)).unwrap();
    std::fs::write(
        head_of(&s.log),
        format!(r#"{{"seq":4,"hash":"{}"}}"#, es[4].hash),
    )
    .unwrap();
    let o = arrears(&[
        "audit",
        "sign-head",
        "--log",
        s.log.to_str().unwrap(),
        "--keys",
        &s.keys,
        "--reason",
        "head lagged after a crash; entry 3 checked against the outbox",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("signatures of the earlier redactions seq 4"),
        "{}",
        text(&o.stdout)
    );
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("by 1 redactions signed by the lender"),
        "{out}"
    );
    // A rewritten log is never signed: sign-head refuses what fails any other check.
    let good = std::fs::read_to_string(&s.log).unwrap();
    std::fs::write(&s.log, good.replacen("B2", "B7", 1)).unwrap();
    let o = arrears(&[
        "audit",
        "sign-head",
        "--log",
        s.log.to_str().unwrap(),
        "--keys",
        &s.keys,
        "--reason",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("was altered") && text(&o.stderr).contains("nothing was written"),
        "{}",
        text(&o.stderr)
    );
}

/// `plan` signs the head with `--keys`; without them it leaves an unsigned head (said in its
/// summary), which `audit verify` does not vouch for and a keyed plan refuses to build on;
/// once the key holder has signed it, a plan without the key refuses the signed log.
#[test]
fn plan_signs_the_head_with_its_key_and_never_appends_unsigned_to_a_signed_log() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("p");
    let o = arrears(&[
        "generate",
        "--loans",
        "60",
        "--seed",
        "5",
        "--out",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let keys = d.path().join("keys");
    let k = keys.to_str().unwrap();
    assert!(arrears(&["keys", "init", "--dir", k]).status.success());
    let plan = |log: &std::path::Path, as_of: &str, keys: Option<&str>| {
        let out = d.path().join(format!("out-{as_of}"));
        let mut args = vec![
            "plan",
            "--as-of",
            as_of,
            "--portfolio",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
        ];
        if let Some(k) = keys {
            args.extend(["--keys", k]);
        }
        arrears(&args)
    };
    // With the key: a signed head that verifies.
    let signed = d.path().join("signed.jsonl");
    let o = plan(&signed, "2026-11-28", Some(k));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (code, out) = audit_verify(&signed, k);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("head signed by the lender"), "{out}");
    let head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(head_of(&signed)).unwrap()).unwrap();
    assert_eq!(head["count"], entries_of(&signed).len());
    // Without the key the signed log is refused, and left as it was.
    let before = std::fs::read_to_string(&signed).unwrap();
    let o = plan(&signed, "2026-11-29", None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("head is signed by the lender")
            && text(&o.stderr).contains("give --keys DIR"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&signed).unwrap(), before);

    // Without the key on a new log: an unsigned head, said in the summary.
    let unsigned = d.path().join("unsigned.jsonl");
    let o = plan(&unsigned, "2026-11-28", None);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("head is not signed either"),
        "{}",
        text(&o.stdout)
    );
    let (code, out) = audit_verify(&unsigned, k);
    assert_eq!(code, Some(1));
    assert!(out.starts_with("NOT VOUCHED FOR: the head"), "{out}");
    let o = plan(&unsigned, "2026-11-29", Some(k));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not signed"),
        "{}",
        text(&o.stderr)
    );
    let o = arrears(&[
        "audit",
        "sign-head",
        "--log",
        unsigned.to_str().unwrap(),
        "--keys",
        k,
        "--reason",
        "plan of 2026-11-28 run without --keys; checked against its actions.csv",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = plan(&unsigned, "2026-11-29", Some(k));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(audit_verify(&unsigned, k).0, Some(0));
}

/// A log rolled back to an older copy together with its older signed head verifies on its
/// own (both are the lender's); against a head kept apart since (`--anchor`), it does not.
#[test]
fn an_anchor_kept_apart_catches_a_log_rolled_back_with_its_old_head() {
    let s = signed_log();
    // The state after three messages, as an attacker might keep it.
    let old_log = std::fs::read(&s.log).unwrap();
    let old_head = std::fs::read(head_of(&s.log)).unwrap();
    let o = arrears(&sign_args(
        &s.keys,
        &s.log,
        "B2",
        "Acme: 20.00 CNY overdue. Code {code}.",
        "2026-11-29T10:00:00+08:00",
    ));
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The day's head, copied apart from the log.
    let apart = tempfile::tempdir().unwrap();
    let anchor = apart.path().join("head-2026-11-29.json");
    std::fs::copy(head_of(&s.log), &anchor).unwrap();
    let with_anchor = |log: &std::path::Path| {
        let o = arrears(&[
            "audit",
            "verify",
            "--log",
            log.to_str().unwrap(),
            "--keys",
            &s.keys,
            "--anchor",
            anchor.to_str().unwrap(),
        ]);
        (o.status.code(), text(&o.stdout))
    };
    let (code, out) = with_anchor(&s.log);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 anchor(s)"), "{out}");

    // Rolled back: the older pair is genuine on its own, but not against the anchor.
    std::fs::write(&s.log, &old_log).unwrap();
    std::fs::write(head_of(&s.log), &old_head).unwrap();
    let (code, out) = audit_verify(&s.log, &s.keys);
    assert_eq!(code, Some(0), "the older pair alone verifies: {out}");
    let (code, out) = with_anchor(&s.log);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("TAMPERED:") && out.contains("rolled back") && out.contains("seq 3"),
        "{out}"
    );

    // An anchor forged by someone without the key is refused, not trusted.
    let forged = std::fs::read_to_string(&anchor)
        .unwrap()
        .replace("\"seq\":3", "\"seq\":2");
    std::fs::write(&anchor, forged).unwrap();
    let (code, out) = with_anchor(&s.log);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("TAMPERED:"), "{out}");
}
