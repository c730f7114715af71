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
    let o = arrears(&["audit", "verify", "--log", l]);
    assert!(o.status.success());
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
    let o = arrears(&["audit", "verify", "--log", l]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("entry 0"), "{}", text(&o.stdout));

    // Removing the last entry is caught by the head.
    let first_line = content.lines().next().unwrap();
    std::fs::write(&log, format!("{first_line}\n")).unwrap();
    let o = arrears(&["audit", "verify", "--log", l]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stdout).contains("removed from the end"),
        "{}",
        text(&o.stdout)
    );
}
