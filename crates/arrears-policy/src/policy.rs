//! Lender policy: making a pack stricter, never looser.
//!
//! A policy file names itself, lists the agencies the lender approved (CN-AGENCY) and may
//! override the parameters of any rule:
//!
//! ```toml
//! [policy]
//! name = "acme-2026-11"
//! approved_agencies = ["AG-EAST"]
//!
//! [rules."CN-HOURS"]
//! end = "21:00"            # many lenders stop at 21:00
//!
//! [rules."CN-FREQ-CONNECTED"]
//! max_per_local_day = 2
//!
//! [limitation_years]       # US-TIMEBAR: the statute of limitations, per state or country
//! US = 3
//! "US-NY" = 3
//!
//! [lender]                 # what the borrower's portal says: who, how to reach, how to pay
//! name = "Acme Consumer Finance"
//! phone = "+1 800 555 0100"
//! email = "help@acme.example"
//! hours = "Monday to Friday, 09:00-18:00 Eastern"
//! payment = "Bank transfer to Acme Consumer Finance, account 000123456, routing 021000021"
//! payment_url = "https://pay.acme.example"
//!
//! [[settlement]]           # the most a settlement may forgive, by stage and days past due
//! min_dpd = 91
//! max_discount_bps = 2000
//! [[settlement]]
//! stage = "bad_debt"       # optional: only loans in this stage
//! min_dpd = 181
//! max_discount_bps = 5000
//! max_instalments = 6      # a discounted plan of up to 6 monthly payments (default 1)
//! ```
//!
//! Settlement limits are lender data too: without a `[[settlement]]` row that matches a loan
//! no settlement may be offered on it. Of the rows that match (dpd at least `min_dpd`, the
//! stage if named) the largest discount applies.
//!
//! The `[lender]` table is optional and every field but `name` may be left out; it carries no
//! rule parameter, so it neither tightens nor loosens a pack.
//!
//! Limitation periods, like the agency list, are lender data with no stricter direction: no
//! period is invented, and without one US-TIMEBAR can clear no legal referral.
//!
//! `Pack::tighten` accepts only stricter values and refuses a looser one with an error that
//! names the rule, the field, the pack's value and the proposed one. One policy can serve
//! every jurisdiction: overrides of another country's rules are skipped by a pack they do not
//! belong to. The approved-agency list is lender data, not a legal parameter, so it has no
//! stricter direction: without it no agency is approved.

use crate::pack::{Pack, PackSet, Params};
use crate::params::ParamError;
use crate::rule::RuleId;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// Why a policy could not be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("policy: {message}")]
    Syntax { message: String },
    #[error("policy: rule {rule:?} is not a rule id of the compliance spec")]
    UnknownRule { rule: String },
    #[error("policy: rule {rule}: {field}: {message}")]
    Field {
        rule: RuleId,
        field: String,
        message: String,
    },
    #[error(
        "policy: rule {rule}: {field} = {proposed} is looser than the pack's {pack_value}; a policy may only tighten"
    )]
    Looser {
        rule: RuleId,
        field: String,
        pack_value: String,
        proposed: String,
    },
    #[error(
        "policy: rule {rule}: {field} is fixed at {pack_value} by the pack; {proposed} is not allowed"
    )]
    Fixed {
        rule: RuleId,
        field: String,
        pack_value: String,
        proposed: String,
    },
    #[error("policy: rule {rule} is not in pack {pack}")]
    RuleNotInPack { rule: RuleId, pack: String },
}

impl PolicyError {
    fn from_param(rule: RuleId, e: ParamError) -> PolicyError {
        match e {
            ParamError::Missing { field } => PolicyError::Field {
                rule,
                field: field.into(),
                message: "is required".into(),
            },
            ParamError::Invalid { field, message } => PolicyError::Field {
                rule,
                field,
                message,
            },
            ParamError::Unknown { field } => PolicyError::Field {
                rule,
                field,
                message: "is not a parameter of this rule".into(),
            },
            ParamError::Looser {
                field,
                pack_value,
                proposed,
            } => PolicyError::Looser {
                rule,
                field: field.into(),
                pack_value,
                proposed,
            },
            ParamError::Fixed {
                field,
                pack_value,
                proposed,
            } => PolicyError::Fixed {
                rule,
                field: field.into(),
                pack_value,
                proposed,
            },
        }
    }
}

/// How the borrower reaches the lender and pays, as the lender's policy states it (shown on
/// the borrower's portal). Each text is trimmed, non-empty and at most 500 characters;
/// `payment_url` is `https://`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LenderContact {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub hours: Option<String>,
    pub payment: Option<String>,
    pub payment_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLender {
    name: String,
    phone: Option<String>,
    email: Option<String>,
    hours: Option<String>,
    payment: Option<String>,
    payment_url: Option<String>,
}

impl RawLender {
    fn parse(self) -> Result<LenderContact, PolicyError> {
        const MAX: usize = 500;
        let text = |field: &str, v: String| -> Result<String, PolicyError> {
            let v = v.trim().to_owned();
            if v.is_empty() {
                return Err(PolicyError::Syntax {
                    message: format!("[lender] {field} is empty"),
                });
            }
            if v.chars().count() > MAX {
                return Err(PolicyError::Syntax {
                    message: format!("[lender] {field} is longer than {MAX} characters"),
                });
            }
            Ok(v)
        };
        let opt = |field: &str, v: Option<String>| v.map(|v| text(field, v)).transpose();
        let email = opt("email", self.email)?;
        if let Some(e) = &email
            && (!e.contains('@') || e.contains(char::is_whitespace))
        {
            return Err(PolicyError::Syntax {
                message: format!("[lender] email {e:?} is not an e-mail address"),
            });
        }
        let payment_url = opt("payment_url", self.payment_url)?;
        if let Some(u) = &payment_url
            && (!u.starts_with("https://")
                || u.len() <= "https://".len()
                || u.contains(char::is_whitespace))
        {
            return Err(PolicyError::Syntax {
                message: format!("[lender] payment_url {u:?} must be an https:// address"),
            });
        }
        Ok(LenderContact {
            name: text("name", self.name)?,
            phone: opt("phone", self.phone)?,
            email,
            hours: opt("hours", self.hours)?,
            payment: opt("payment", self.payment)?,
            payment_url,
        })
    }
}

/// A parsed lender policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    name: String,
    /// Who the lender is to its borrowers (`[lender]`), when the policy says.
    lender: Option<LenderContact>,
    approved_agencies: BTreeSet<String>,
    overrides: BTreeMap<RuleId, toml::Table>,
    /// Statute of limitations in years, by jurisdiction code (`US`, `US-NY`).
    limitation_years: BTreeMap<String, u32>,
    /// The most a settlement may forgive, by stage and dpd (`[[settlement]]`).
    settlement: Vec<SettlementLimit>,
}

/// One row of the lender's settlement limits: loans at `min_dpd` or more days past due (and,
/// when `stage` is set, in that stage) may be settled at up to `max_discount_bps` off, in up
/// to `max_instalments` monthly payments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLimit {
    pub stage: Option<String>,
    pub min_dpd: u32,
    pub max_discount_bps: u32,
    pub max_instalments: u32,
}

/// The limit that applies to a loan: of the rows that match its stage and dpd, the largest
/// discount (and, of those, the most instalments). `None`: no settlement may be offered.
pub fn settlement_limit_for<'a>(
    limits: &'a [SettlementLimit],
    stage: &str,
    dpd: u32,
) -> Option<&'a SettlementLimit> {
    limits
        .iter()
        .filter(|l| dpd >= l.min_dpd && l.stage.as_deref().is_none_or(|s| s == stage))
        .max_by_key(|l| (l.max_discount_bps, l.max_instalments))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettlementLimit {
    stage: Option<String>,
    min_dpd: i64,
    max_discount_bps: i64,
    max_instalments: Option<i64>,
}

impl RawSettlementLimit {
    fn parse(self, n: usize) -> Result<SettlementLimit, PolicyError> {
        let bad = |message: String| PolicyError::Syntax {
            message: format!("[[settlement]] row {n}: {message}"),
        };
        let min_dpd = u32::try_from(self.min_dpd)
            .ok()
            .filter(|d| *d <= 36_500)
            .ok_or_else(|| bad(format!("min_dpd = {} is not 0 to 36500 days", self.min_dpd)))?;
        let max_discount_bps = u32::try_from(self.max_discount_bps)
            .ok()
            .filter(|b| (1..10_000).contains(b))
            .ok_or_else(|| {
                bad(format!(
                    "max_discount_bps = {} is not 1 to 9999 (a whole discount is a write-off)",
                    self.max_discount_bps
                ))
            })?;
        let n_inst = self.max_instalments.unwrap_or(1);
        let max_instalments = u32::try_from(n_inst)
            .ok()
            .filter(|k| (1..=60).contains(k))
            .ok_or_else(|| bad(format!("max_instalments = {n_inst} is not 1 to 60")))?;
        let stage = match self.stage {
            Some(s) if s.trim().is_empty() => return Err(bad("stage is empty".into())),
            other => other.map(|s| s.trim().to_owned()),
        };
        Ok(SettlementLimit {
            stage,
            min_dpd,
            max_discount_bps,
            max_instalments,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    policy: RawPolicyHeader,
    #[serde(default)]
    rules: BTreeMap<String, toml::Table>,
    #[serde(default)]
    limitation_years: BTreeMap<String, i64>,
    lender: Option<RawLender>,
    #[serde(default)]
    settlement: Vec<RawSettlementLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyHeader {
    name: String,
    #[serde(default)]
    approved_agencies: Vec<String>,
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            message: e.to_string(),
        })?;
        if raw.policy.name.trim().is_empty() {
            return Err(PolicyError::Syntax {
                message: "[policy] name is empty".into(),
            });
        }
        let mut overrides = BTreeMap::new();
        for (code, table) in raw.rules {
            let id = RuleId::parse(&code).ok_or(PolicyError::UnknownRule { rule: code })?;
            overrides.insert(id, table);
        }
        let mut approved_agencies = BTreeSet::new();
        for a in raw.policy.approved_agencies {
            if a.trim().is_empty() {
                return Err(PolicyError::Syntax {
                    message: "[policy] approved_agencies has an empty id".into(),
                });
            }
            approved_agencies.insert(a);
        }
        let mut limitation_years = BTreeMap::new();
        for (code, years) in raw.limitation_years {
            let j =
                arrears_domain::Jurisdiction::parse("limitation_years", &code).map_err(|e| {
                    PolicyError::Syntax {
                        message: format!("[limitation_years] {code:?}: {}", e.detail),
                    }
                })?;
            let y = u32::try_from(years)
                .ok()
                .filter(|y| (1..=100).contains(y))
                .ok_or_else(|| PolicyError::Syntax {
                    message: format!(
                        "[limitation_years] {code} = {years}: a period is 1 to 100 years"
                    ),
                })?;
            limitation_years.insert(j.as_str().to_owned(), y);
        }
        let lender = raw.lender.map(RawLender::parse).transpose()?;
        let settlement = raw
            .settlement
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.parse(i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy {
            name: raw.policy.name,
            lender,
            approved_agencies,
            overrides,
            limitation_years,
            settlement,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn approved_agencies(&self) -> &BTreeSet<String> {
        &self.approved_agencies
    }

    /// The lender's name and contact details for borrowers (`[lender]`), if given.
    pub fn lender(&self) -> Option<&LenderContact> {
        self.lender.as_ref()
    }

    /// The lender's settlement limits (`[[settlement]]`), in file order.
    pub fn settlement_limits(&self) -> &[SettlementLimit] {
        &self.settlement
    }

    /// The rules this policy overrides.
    pub fn overridden(&self) -> impl Iterator<Item = RuleId> + '_ {
        self.overrides.keys().copied()
    }
}

impl Pack {
    /// The pack made stricter by `policy`. Overrides of rules that belong to another country
    /// are skipped; an override of a rule this pack should carry but does not is an error.
    pub fn tighten(&self, policy: &Policy) -> Result<Pack, PolicyError> {
        let mut out = self.clone();
        let country = self.jurisdiction().country().to_owned();
        for (&id, table) in &policy.overrides {
            if !id.belongs_to(&country) {
                continue;
            }
            let pack_name = self.jurisdiction().as_str().to_owned();
            let rule = out
                .rules_mut()
                .get_mut(&id)
                .ok_or(PolicyError::RuleNotInPack {
                    rule: id,
                    pack: pack_name,
                })?;
            let base: &Params = &rule.params;
            rule.params =
                Params::read(id, table, Some(base)).map_err(|e| PolicyError::from_param(id, e))?;
        }
        out.approved_agencies
            .extend(policy.approved_agencies.iter().cloned());
        for (code, years) in &policy.limitation_years {
            if code.split('-').next() == Some(country.as_str()) {
                out.limitation_years.insert(code.clone(), *years);
            }
        }
        out.policy = Some(policy.name.clone());
        Ok(out)
    }
}

impl PackSet {
    /// Every pack of the set tightened by the same policy.
    pub fn tighten(&self, policy: &Policy) -> Result<PackSet, PolicyError> {
        let mut out = self.clone();
        for pack in out.packs_mut() {
            *pack = pack.tighten(policy)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Channel;

    fn cn() -> Pack {
        Pack::embedded("CN").unwrap()
    }

    fn with_lender(table: &str) -> Result<Policy, PolicyError> {
        Policy::parse(&format!("[policy]\nname = \"acme\"\n[lender]\n{table}\n"))
    }

    #[test]
    fn the_lender_table_is_read_trimmed_and_checked() {
        let p = with_lender(
            r#"name = "  Acme Finance "
            phone = "+1 800 555 0100"
            email = "help@acme.example"
            payment = "Account 000123456"
            payment_url = "https://pay.acme.example""#,
        )
        .unwrap();
        let l = p.lender().unwrap();
        assert_eq!(l.name, "Acme Finance");
        assert_eq!(l.phone.as_deref(), Some("+1 800 555 0100"));
        assert_eq!(l.hours, None);
        assert_eq!(l.payment_url.as_deref(), Some("https://pay.acme.example"));
        assert_eq!(
            Policy::parse("[policy]\nname = \"acme\"\n")
                .unwrap()
                .lender(),
            None
        );
        // The lender table changes no rule: the pack tightened by it is the pack.
        assert_eq!(cn().tighten(&p).unwrap().hours(), cn().hours());
        for (table, why) in [
            (r#"name = " ""#, "name is empty"),
            (r#"phone = "1""#, "missing field `name`"),
            (
                r#"name = "A"
                email = "nobody""#,
                "not an e-mail address",
            ),
            (
                r#"name = "A"
                payment_url = "http://pay.example""#,
                "https://",
            ),
            (
                r#"name = "A"
                iban = "X""#,
                "unknown field `iban`",
            ),
        ] {
            let e = with_lender(table).unwrap_err().to_string();
            assert!(e.contains(why), "{table}: {e}");
        }
        let long = format!("name = \"{}\"", "x".repeat(501));
        assert!(
            with_lender(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 500")
        );
    }

    #[test]
    fn stricter_values_are_applied() {
        let p = Policy::parse(
            r#"
            [policy]
            name = "acme"
            approved_agencies = ["AG-1"]
            [rules."CN-HOURS"]
            end = "21:00"
            channels = ["call", "sms", "visit", "push"]
            [rules."CN-FREQ-CONNECTED"]
            max_per_local_day = 2
            [rules."CN-RECORDS"]
            retention_years = 7
            [rules."CN-COST"]
            max_annual_cost_bps = 1800
            [rules."US-HOURS"]
            start = "09:00"
            "#,
        )
        .unwrap();
        let t = cn().tighten(&p).unwrap();
        let (_, hours) = t.hours().unwrap();
        assert_eq!(hours.window.to_string(), "08:00-21:00");
        assert!(hours.channels.contains(Channel::Push));
        assert_eq!(
            t.daily_cap(RuleId::CnFreqConnected)
                .unwrap()
                .max_per_local_day,
            2
        );
        assert_eq!(t.records().unwrap().1.retention_years, 7);
        assert_eq!(t.max_annual_cost_bps(), Some(1800));
        assert!(t.approved_agencies().contains("AG-1"));
        assert_eq!(t.policy(), Some("acme"));
    }

    #[test]
    fn looser_values_are_refused_with_rule_field_and_values() {
        let cases = [
            ("CN-HOURS", "end = \"23:00\"", "end", "22:00", "23:00"),
            ("CN-HOURS", "start = \"07:00\"", "start", "08:00", "07:00"),
            (
                "CN-FREQ-ATTEMPTS",
                "max_per_local_day = 7",
                "max_per_local_day",
                "6",
                "7",
            ),
            (
                "CN-RECORDS",
                "retention_years = 3",
                "retention_years",
                "5",
                "3",
            ),
            (
                "CN-COST",
                "max_annual_cost_bps = 3600",
                "max_annual_cost_bps",
                "2400",
                "3600",
            ),
            ("CN-VISIT", "min_staff = 1", "min_staff", "2", "1"),
            (
                "ALL-LOCATE",
                "max_contacts_per_person = 2",
                "max_contacts_per_person",
                "1",
                "2",
            ),
        ];
        for (rule, body, field, pack_value, proposed) in cases {
            let text = format!("[policy]\nname = \"x\"\n[rules.\"{rule}\"]\n{body}\n");
            let err = cn().tighten(&Policy::parse(&text).unwrap()).unwrap_err();
            assert_eq!(
                err,
                PolicyError::Looser {
                    rule: RuleId::parse(rule).unwrap(),
                    field: field.into(),
                    pack_value: pack_value.into(),
                    proposed: proposed.into()
                },
                "{rule}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains(rule)
                    && msg.contains(field)
                    && msg.contains(pack_value)
                    && msg.contains(proposed)
            );
        }
    }

    #[test]
    fn settlement_limits_are_read_checked_and_the_largest_matching_applies() {
        let p = Policy::parse(
            "[policy]\nname = \"acme\"\n[[settlement]]\nmin_dpd = 91\nmax_discount_bps = 2000\n\
             [[settlement]]\nstage = \"bad_debt\"\nmin_dpd = 181\nmax_discount_bps = 5000\nmax_instalments = 6\n",
        )
        .unwrap();
        let l = p.settlement_limits();
        assert_eq!(l.len(), 2);
        assert_eq!(settlement_limit_for(l, "mid", 60), None);
        assert_eq!(
            settlement_limit_for(l, "late", 120)
                .unwrap()
                .max_discount_bps,
            2000
        );
        assert_eq!(
            settlement_limit_for(l, "late", 120)
                .unwrap()
                .max_instalments,
            1
        );
        let bad = settlement_limit_for(l, "bad_debt", 200).unwrap();
        assert_eq!((bad.max_discount_bps, bad.max_instalments), (5000, 6));
        // A row naming a stage does not apply to another stage.
        assert_eq!(
            settlement_limit_for(l, "late", 200)
                .unwrap()
                .max_discount_bps,
            2000
        );
        assert!(
            Policy::parse("[policy]\nname = \"x\"\n")
                .unwrap()
                .settlement_limits()
                .is_empty()
        );
        for (row, says) in [
            (
                "min_dpd = 1\nmax_discount_bps = 10000",
                "max_discount_bps = 10000",
            ),
            ("min_dpd = 1\nmax_discount_bps = 0", "max_discount_bps = 0"),
            ("min_dpd = -1\nmax_discount_bps = 100", "min_dpd = -1"),
            (
                "min_dpd = 1\nmax_discount_bps = 100\nmax_instalments = 0",
                "max_instalments = 0",
            ),
            (
                "min_dpd = 1\nmax_discount_bps = 100\nstage = \" \"",
                "stage is empty",
            ),
        ] {
            let e = Policy::parse(&format!("[policy]\nname = \"x\"\n[[settlement]]\n{row}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("[[settlement]] row 1") && e.contains(says),
                "{row}: {e}"
            );
        }
    }

    #[test]
    fn limitation_periods_are_lender_data_per_jurisdiction() {
        let p = Policy::parse(
            "[policy]\nname = \"x\"\n[limitation_years]\nUS = 6\n\"US-NY\" = 3\nCN = 3\n",
        )
        .unwrap();
        let us = Pack::embedded("US").unwrap().tighten(&p).unwrap();
        let j = |s: &str| arrears_domain::Jurisdiction::parse("j", s).unwrap();
        assert_eq!(us.limitation_years(&j("US-NY")), Some(3));
        assert_eq!(us.limitation_years(&j("US-TX")), Some(6));
        assert_eq!(
            us.limitation_years(&j("CN")),
            None,
            "another country's entry"
        );
        assert_eq!(
            Pack::embedded("US").unwrap().limitation_years(&j("US")),
            None
        );
        for bad in ["US = 0", "US = 101", "US = -3", "\"U S\" = 3"] {
            let text = format!("[policy]\nname = \"x\"\n[limitation_years]\n{bad}\n");
            assert!(
                matches!(Policy::parse(&text), Err(PolicyError::Syntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_rules_and_fields_are_errors() {
        assert!(matches!(
            Policy::parse("[policy]\nname = \"x\"\n[rules.\"CN-HOURZ\"]\nend = \"21:00\"")
                .unwrap_err(),
            PolicyError::UnknownRule { .. }
        ));
        let p = Policy::parse("[policy]\nname = \"x\"\n[rules.\"CN-HOURS\"]\nfinish = \"21:00\"")
            .unwrap();
        assert!(
            matches!(cn().tighten(&p).unwrap_err(), PolicyError::Field { field, .. } if field == "finish")
        );
        let p =
            Policy::parse("[policy]\nname = \"x\"\n[rules.\"CN-COMPLAINT\"]\nhotline = \"95555\"")
                .unwrap();
        assert!(matches!(
            cn().tighten(&p).unwrap_err(),
            PolicyError::Fixed { .. }
        ));
    }
}
