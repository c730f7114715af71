//! The pack files on disk are the embedded ones, parse, cite a source for every rule, and
//! refuse a looser policy with the rule, field and both values named.

use arrears_domain::Jurisdiction;
use arrears_policy::{EMBEDDED_PACKS, Pack, PackSet, Policy, PolicyError, RuleId};

#[test]
fn pack_files_on_disk_are_the_embedded_ones() {
    for (country, embedded) in EMBEDDED_PACKS {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packs")
            .join(format!("{country}.toml"));
        let on_disk = std::fs::read_to_string(&path).expect("pack file");
        assert_eq!(&on_disk, embedded, "{country}");
        let pack = Pack::parse(&on_disk).expect("pack parses");
        assert_eq!(pack.jurisdiction().as_str(), *country);
        for rule in pack.rules() {
            assert!(
                rule.source.len() > 10,
                "{country} {}: source {:?}",
                rule.id,
                rule.source
            );
        }
    }
}

#[test]
fn a_policy_for_every_country_tightens_each_pack_it_applies_to() {
    let policy = Policy::parse(
        r#"
        [policy]
        name = "acme-group"
        [rules."CN-HOURS"]
        end = "21:00"
        [rules."US-7IN7"]
        max_attempts = 5
        [rules."GB-CHARGES"]
        max_charge_minor = 1000
        [rules."ALL-LOCATE"]
        max_contacts_per_person = 0
        "#,
    )
    .expect("policy parses");
    let set = PackSet::embedded()
        .expect("packs")
        .tighten(&policy)
        .expect("stricter values apply");
    let get = |j: &str| {
        set.get(&Jurisdiction::parse("j", j).expect("jurisdiction"))
            .expect("pack")
    };
    assert_eq!(
        get("CN-31").hours().map(|(_, h)| h.window.to_string()),
        Some("08:00-21:00".into())
    );
    assert_eq!(get("US-CA").call_cadence().map(|c| c.max_attempts), Some(5));
    assert_eq!(get("GB").charges().map(|c| c.max_charge_minor), Some(1000));
    for j in ["CN", "US", "GB"] {
        assert_eq!(
            get(j).locate().map(|l| l.max_contacts_per_person),
            Some(0),
            "{j}"
        );
        assert_eq!(get(j).policy(), Some("acme-group"));
    }
}

#[test]
fn a_looser_policy_is_refused_naming_rule_field_and_values() {
    let policy =
        Policy::parse("[policy]\nname = \"loose\"\n[rules.\"US-7IN7\"]\nmax_attempts = 10\n")
            .expect("policy parses");
    let err = PackSet::embedded()
        .expect("packs")
        .tighten(&policy)
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::Looser {
            rule: RuleId::Us7In7,
            field: "max_attempts".into(),
            pack_value: "7".into(),
            proposed: "10".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "policy: rule US-7IN7: max_attempts = 10 is looser than the pack's 7; a policy may only tighten"
    );
    let policy =
        Policy::parse("[policy]\nname = \"loose\"\n[rules.\"US-HOURS\"]\nend = \"21:30\"\n")
            .expect("policy parses");
    assert!(matches!(
        PackSet::embedded().expect("packs").tighten(&policy),
        Err(PolicyError::Looser {
            rule: RuleId::UsHours,
            ..
        })
    ));
}
