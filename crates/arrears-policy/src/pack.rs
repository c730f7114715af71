//! Rule packs: the conduct rules of one jurisdiction as data.
//!
//! A pack file (`packs/CN.toml`, `packs/US.toml`, `packs/GB.toml`, embedded in the crate) has a
//! `[pack]` header and one `[[rule]]` per rule id, each with a summary, the source it cites and
//! its typed parameters. `Pack::parse` turns the text into typed values or fails with an error
//! naming the rule and the field; an incomplete pack (an `ALL-*` or own-country rule missing)
//! is refused too, so the engine never meets a pack it cannot apply in full.

use crate::model::ChannelSet;
use crate::params::{
    AgencyParams, CallCadenceParams, ChargeOffParams, ChargesParams, CnCreditParams,
    ComplaintParams, CostParams, DailyCapParams, FeeCapParams, Fields, HoursParams, IdentityParams,
    LocateParams, OptOutParams, ParamError, PermittedNoticesParams, RecordsParams, UsCreditParams,
    ValidationParams, VisitParams,
};
use crate::rule::{RuleId, Scope};
use arrears_domain::{Currency, Jurisdiction, TimeZoneName};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The embedded packs' text, for display and diffing by a lender.
pub const EMBEDDED_PACKS: &[(&str, &str)] = &[
    ("CN", include_str!("../packs/CN.toml")),
    ("US", include_str!("../packs/US.toml")),
    ("GB", include_str!("../packs/GB.toml")),
];

/// Why a pack text could not become a `Pack`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    #[error("pack {pack}: {message}")]
    Syntax { pack: String, message: String },
    #[error("pack {pack}: [pack] {field}: {message}")]
    Header {
        pack: String,
        field: &'static str,
        message: String,
    },
    #[error("pack {pack}: rule {rule:?} is not a rule id of the compliance spec")]
    UnknownRule { pack: String, rule: String },
    #[error("pack {pack}: rule {rule} belongs to another country's pack")]
    ForeignRule { pack: String, rule: RuleId },
    #[error("pack {pack}: rule {rule} appears more than once")]
    DuplicateRule { pack: String, rule: RuleId },
    #[error("pack {pack}: rule {rule} is missing; every {scope} rule must be in the pack")]
    MissingRule {
        pack: String,
        rule: RuleId,
        scope: String,
    },
    #[error("pack {pack}: rule {rule}: {field}: {message}")]
    Field {
        pack: String,
        rule: RuleId,
        field: String,
        message: String,
    },
    #[error("no rule pack for jurisdiction {jurisdiction}")]
    NoPack { jurisdiction: String },
    #[error("two packs for jurisdiction {jurisdiction}")]
    DuplicatePack { jurisdiction: String },
}

impl PackError {
    fn field(pack: &str, rule: RuleId, e: ParamError) -> PackError {
        let (field, message) = match e {
            ParamError::Missing { field } => (field.to_owned(), "is required".to_owned()),
            ParamError::Invalid { field, message } => (field, message),
            ParamError::Unknown { field } => (field, "is not a parameter of this rule".to_owned()),
            // Pack mode never compares, so these cannot occur; keep the detail if they do.
            ParamError::Looser {
                field,
                pack_value,
                proposed,
            }
            | ParamError::Fixed {
                field,
                pack_value,
                proposed,
            } => (field.to_owned(), format!("{proposed} against {pack_value}")),
        };
        PackError::Field {
            pack: pack.to_owned(),
            rule,
            field,
            message,
        }
    }
}

/// The typed parameters of a rule. Rules without parameters carry `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Params {
    None,
    Hours(HoursParams),
    DailyCap(DailyCapParams),
    CallCadence(CallCadenceParams),
    Visit(VisitParams),
    Agency(AgencyParams),
    CnCredit(CnCreditParams),
    UsCredit(UsCreditParams),
    Cost(CostParams),
    Records(RecordsParams),
    Complaint(ComplaintParams),
    Validation(ValidationParams),
    OptOut(OptOutParams),
    ChargeOff(ChargeOffParams),
    Charges(ChargesParams),
    PermittedNotices(PermittedNoticesParams),
    Locate(LocateParams),
    FeeCap(FeeCapParams),
    Identity(IdentityParams),
}

impl Params {
    /// Reads the parameters of `id` from `table`; `base` is the pack's value when tightening.
    pub(crate) fn read(
        id: RuleId,
        table: &toml::Table,
        base: Option<&Params>,
    ) -> Result<Params, ParamError> {
        let mut f = Fields::new(table, base.is_some());
        // `base` has the same shape as `id` (it was read by this function), so a mismatch
        // cannot happen; `None` then simply means "pack mode".
        macro_rules! shape {
            ($variant:ident, $ty:ty) => {{
                let b = match base {
                    Some(Params::$variant(p)) => Some(p),
                    _ => None,
                };
                Params::$variant(<$ty>::read(&mut f, b)?)
            }};
        }
        let params = match id {
            RuleId::CnHours | RuleId::UsHours | RuleId::GbHours => shape!(Hours, HoursParams),
            RuleId::CnFreqConnected | RuleId::CnFreqAttempts => shape!(DailyCap, DailyCapParams),
            RuleId::Us7In7 => shape!(CallCadence, CallCadenceParams),
            RuleId::CnVisit => shape!(Visit, VisitParams),
            RuleId::CnAgency => shape!(Agency, AgencyParams),
            RuleId::CnCredit => shape!(CnCredit, CnCreditParams),
            RuleId::UsCredit => shape!(UsCredit, UsCreditParams),
            RuleId::CnCost | RuleId::UsCost => shape!(Cost, CostParams),
            RuleId::CnRecords | RuleId::UsRecords => shape!(Records, RecordsParams),
            RuleId::CnComplaint => shape!(Complaint, ComplaintParams),
            RuleId::UsValidation => shape!(Validation, ValidationParams),
            RuleId::UsEopt => shape!(OptOut, OptOutParams),
            RuleId::UsChargeoff => shape!(ChargeOff, ChargeOffParams),
            RuleId::GbCharges => shape!(Charges, ChargesParams),
            RuleId::AllCease | RuleId::AllHoldDispute => {
                shape!(PermittedNotices, PermittedNoticesParams)
            }
            RuleId::AllLocate => shape!(Locate, LocateParams),
            RuleId::AllFeeCap => shape!(FeeCap, FeeCapParams),
            RuleId::AllIdentity => shape!(Identity, IdentityParams),
            _ => Params::None,
        };
        f.finish()?;
        Ok(params)
    }
}

/// One rule of a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    pub summary: String,
    /// The citation: regulation, standard or guideline the rule implements.
    pub source: String,
    pub params: Params,
}

/// The conduct rules of one jurisdiction (a country, or a subdivision with its own pack),
/// possibly tightened by a lender policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    jurisdiction: Jurisdiction,
    name: String,
    version: String,
    currency: Currency,
    default_timezones: Vec<TimeZoneName>,
    rules: BTreeMap<RuleId, Rule>,
    /// Lender data set by `tighten`: the agencies the lender approved (CN-AGENCY).
    pub(crate) approved_agencies: BTreeSet<String>,
    /// The lender policy's name when tightened, for the audit trail.
    pub(crate) policy: Option<String>,
    /// Lender data set by `tighten`: statutes of limitation in years (US-TIMEBAR), by
    /// jurisdiction code of this pack's country.
    pub(crate) limitation_years: BTreeMap<String, u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    pack: RawHeader,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    jurisdiction: String,
    name: String,
    version: String,
    currency: String,
    #[serde(default)]
    default_timezones: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    summary: String,
    source: String,
    #[serde(default)]
    params: toml::Table,
}

impl Pack {
    /// Parses a pack text. Every `ALL-*` rule and every rule of the pack's country must be
    /// present exactly once, with valid parameters and a non-empty summary and source.
    pub fn parse(text: &str) -> Result<Pack, PackError> {
        let raw: RawPack = toml::from_str(text).map_err(|e| PackError::Syntax {
            pack: "<input>".into(),
            message: e.to_string(),
        })?;
        let pack_name = raw.pack.jurisdiction.clone();
        let header = |field: &'static str, message: String| PackError::Header {
            pack: pack_name.clone(),
            field,
            message,
        };

        let jurisdiction = Jurisdiction::parse("jurisdiction", &raw.pack.jurisdiction)
            .map_err(|e| header("jurisdiction", e.detail))?;
        let currency = Currency::parse("currency", &raw.pack.currency)
            .map_err(|e| header("currency", e.detail))?;
        if raw.pack.name.trim().is_empty() {
            return Err(header("name", "is empty".into()));
        }
        if raw.pack.version.trim().is_empty() {
            return Err(header("version", "is empty".into()));
        }
        let default_timezones = raw
            .pack
            .default_timezones
            .iter()
            .map(|z| {
                TimeZoneName::parse("default_timezones", z)
                    .map_err(|e| header("default_timezones", e.detail))
            })
            .collect::<Result<Vec<_>, _>>()?;

        let country = jurisdiction.country().to_owned();
        let mut rules = BTreeMap::new();
        for r in raw.rule {
            let id = RuleId::parse(&r.id).ok_or_else(|| PackError::UnknownRule {
                pack: pack_name.clone(),
                rule: r.id.clone(),
            })?;
            if !id.belongs_to(&country) {
                return Err(PackError::ForeignRule {
                    pack: pack_name.clone(),
                    rule: id,
                });
            }
            let text_field = |field: &str, v: &str| -> Result<String, PackError> {
                if v.trim().is_empty() {
                    Err(PackError::Field {
                        pack: pack_name.clone(),
                        rule: id,
                        field: field.into(),
                        message: "is empty".into(),
                    })
                } else {
                    Ok(v.trim().to_owned())
                }
            };
            let summary = text_field("summary", &r.summary)?;
            let source = text_field("source", &r.source)?;
            let params = Params::read(id, &r.params, None)
                .map_err(|e| PackError::field(&pack_name, id, e))?;
            if rules
                .insert(
                    id,
                    Rule {
                        id,
                        summary,
                        source,
                        params,
                    },
                )
                .is_some()
            {
                return Err(PackError::DuplicateRule {
                    pack: pack_name.clone(),
                    rule: id,
                });
            }
        }
        for &id in RuleId::ALL {
            let required = match id.scope() {
                Scope::All => Some("ALL".to_owned()),
                Scope::Country(c) if c == country => Some(c.to_owned()),
                _ => None,
            };
            if let Some(scope) = required
                && !rules.contains_key(&id)
            {
                return Err(PackError::MissingRule {
                    pack: pack_name.clone(),
                    rule: id,
                    scope,
                });
            }
        }
        Ok(Pack {
            jurisdiction,
            name: raw.pack.name,
            version: raw.pack.version,
            currency,
            default_timezones,
            rules,
            approved_agencies: BTreeSet::new(),
            policy: None,
            limitation_years: BTreeMap::new(),
        })
    }

    /// The embedded pack of a country code (`CN`, `US`, `GB`).
    pub fn embedded(country: &str) -> Result<Pack, PackError> {
        let text = EMBEDDED_PACKS
            .iter()
            .find(|(c, _)| *c == country)
            .map(|(_, t)| *t)
            .ok_or_else(|| PackError::NoPack {
                jurisdiction: country.to_owned(),
            })?;
        Pack::parse(text)
    }

    /// The embedded pack that governs a jurisdiction: `US-NY` is governed by the US pack,
    /// `CN-11` by the CN pack.
    pub fn for_jurisdiction(j: &Jurisdiction) -> Result<Pack, PackError> {
        Pack::embedded(j.country()).map_err(|e| match e {
            PackError::NoPack { .. } => PackError::NoPack {
                jurisdiction: j.as_str().to_owned(),
            },
            other => other,
        })
    }

    pub fn jurisdiction(&self) -> &Jurisdiction {
        &self.jurisdiction
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// The currency of the pack's amounts (`GB-CHARGES`).
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The lender policy this pack was tightened with, if any.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Zones in which the borrower is assumed to be when no zone is known: all of them must
    /// allow a contact (e.g. Asia/Shanghai for CN; every US zone for US).
    pub fn default_timezones(&self) -> &[TimeZoneName] {
        &self.default_timezones
    }

    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.rules.get(&id)
    }

    pub fn has(&self, id: RuleId) -> bool {
        self.rules.contains_key(&id)
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    pub(crate) fn rules_mut(&mut self) -> &mut BTreeMap<RuleId, Rule> {
        &mut self.rules
    }

    /// Agencies the lender approved (set by a policy; empty in an embedded pack).
    pub fn approved_agencies(&self) -> &BTreeSet<String> {
        &self.approved_agencies
    }

    /// The statute of limitations for a borrower's jurisdiction: its own entry, else its
    /// country's; `None` when the lender's policy gives none.
    pub fn limitation_years(&self, j: &Jurisdiction) -> Option<u32> {
        self.limitation_years
            .get(j.as_str())
            .or_else(|| self.limitation_years.get(j.country()))
            .copied()
    }

    fn params(&self, id: RuleId) -> Option<&Params> {
        self.rules.get(&id).map(|r| &r.params)
    }

    /// The pack's hours rule and its parameters.
    pub fn hours(&self) -> Option<(RuleId, &HoursParams)> {
        [RuleId::CnHours, RuleId::UsHours, RuleId::GbHours]
            .into_iter()
            .find_map(|id| match self.params(id) {
                Some(Params::Hours(p)) => Some((id, p)),
                _ => None,
            })
    }

    pub fn daily_cap(&self, id: RuleId) -> Option<&DailyCapParams> {
        match self.params(id) {
            Some(Params::DailyCap(p)) => Some(p),
            _ => None,
        }
    }

    pub fn call_cadence(&self) -> Option<&CallCadenceParams> {
        match self.params(RuleId::Us7In7) {
            Some(Params::CallCadence(p)) => Some(p),
            _ => None,
        }
    }

    pub fn visit(&self) -> Option<&VisitParams> {
        match self.params(RuleId::CnVisit) {
            Some(Params::Visit(p)) => Some(p),
            _ => None,
        }
    }

    pub fn agency(&self) -> Option<&AgencyParams> {
        match self.params(RuleId::CnAgency) {
            Some(Params::Agency(p)) => Some(p),
            _ => None,
        }
    }

    pub fn cn_credit(&self) -> Option<&CnCreditParams> {
        match self.params(RuleId::CnCredit) {
            Some(Params::CnCredit(p)) => Some(p),
            _ => None,
        }
    }

    pub fn us_credit(&self) -> Option<&UsCreditParams> {
        match self.params(RuleId::UsCredit) {
            Some(Params::UsCredit(p)) => Some(p),
            _ => None,
        }
    }

    /// The pack's cost rule and its cap (`None` cap: no cap).
    pub fn cost(&self) -> Option<(RuleId, &CostParams)> {
        [RuleId::CnCost, RuleId::UsCost]
            .into_iter()
            .find_map(|id| match self.params(id) {
                Some(Params::Cost(p)) => Some((id, p)),
                _ => None,
            })
    }

    /// The annual cost cap in basis points, if the pack has one (delinquency spec section 5).
    pub fn max_annual_cost_bps(&self) -> Option<u32> {
        self.cost().and_then(|(_, p)| p.max_annual_cost_bps)
    }

    pub fn records(&self) -> Option<(RuleId, &RecordsParams)> {
        [RuleId::CnRecords, RuleId::UsRecords]
            .into_iter()
            .find_map(|id| match self.params(id) {
                Some(Params::Records(p)) => Some((id, p)),
                _ => None,
            })
    }

    pub fn complaint(&self) -> Option<&ComplaintParams> {
        match self.params(RuleId::CnComplaint) {
            Some(Params::Complaint(p)) => Some(p),
            _ => None,
        }
    }

    pub fn validation(&self) -> Option<&ValidationParams> {
        match self.params(RuleId::UsValidation) {
            Some(Params::Validation(p)) => Some(p),
            _ => None,
        }
    }

    pub fn opt_out(&self) -> Option<&OptOutParams> {
        match self.params(RuleId::UsEopt) {
            Some(Params::OptOut(p)) => Some(p),
            _ => None,
        }
    }

    pub fn charge_off(&self) -> Option<&ChargeOffParams> {
        match self.params(RuleId::UsChargeoff) {
            Some(Params::ChargeOff(p)) => Some(p),
            _ => None,
        }
    }

    pub fn charges(&self) -> Option<&ChargesParams> {
        match self.params(RuleId::GbCharges) {
            Some(Params::Charges(p)) => Some(p),
            _ => None,
        }
    }

    pub fn permitted_notices(&self, id: RuleId) -> Option<&PermittedNoticesParams> {
        match self.params(id) {
            Some(Params::PermittedNotices(p)) => Some(p),
            _ => None,
        }
    }

    pub fn locate(&self) -> Option<&LocateParams> {
        match self.params(RuleId::AllLocate) {
            Some(Params::Locate(p)) => Some(p),
            _ => None,
        }
    }

    pub fn fee_cap(&self) -> Option<&FeeCapParams> {
        match self.params(RuleId::AllFeeCap) {
            Some(Params::FeeCap(p)) => Some(p),
            _ => None,
        }
    }

    pub fn identity(&self) -> Option<&IdentityParams> {
        match self.params(RuleId::AllIdentity) {
            Some(Params::Identity(p)) => Some(p),
            _ => None,
        }
    }

    /// The channels on which a recorded opt-out stops messages, and the rule that says so:
    /// US-EOPT where the pack has it, else ALL-IDENTITY (an opt-out that every electronic
    /// message must offer is only meaningful if it is honoured).
    pub fn opt_out_rule(&self) -> Option<(RuleId, ChannelSet)> {
        match (self.opt_out(), self.identity()) {
            (Some(p), _) => Some((RuleId::UsEopt, p.channels)),
            (None, Some(p)) => Some((RuleId::AllIdentity, p.opt_out_channels)),
            (None, None) => None,
        }
    }
}

/// The packs an engine applies, keyed by jurisdiction code. A subdivision's own pack (say a
/// tightened `US-NY`) wins over its country's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackSet {
    packs: BTreeMap<String, Pack>,
}

impl PackSet {
    /// The embedded CN, US and GB packs.
    pub fn embedded() -> Result<PackSet, PackError> {
        PackSet::from_packs(
            EMBEDDED_PACKS
                .iter()
                .map(|(c, _)| Pack::embedded(c))
                .collect::<Result<Vec<_>, _>>()?,
        )
    }

    pub fn from_packs(packs: Vec<Pack>) -> Result<PackSet, PackError> {
        let mut set = PackSet::default();
        for p in packs {
            let key = p.jurisdiction.as_str().to_owned();
            if set.packs.contains_key(&key) {
                return Err(PackError::DuplicatePack { jurisdiction: key });
            }
            set.packs.insert(key, p);
        }
        Ok(set)
    }

    /// The pack governing `j`: its own, else its country's.
    pub fn get(&self, j: &Jurisdiction) -> Option<&Pack> {
        self.packs
            .get(j.as_str())
            .or_else(|| self.packs.get(j.country()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pack> {
        self.packs.values()
    }

    pub(crate) fn packs_mut(&mut self) -> impl Iterator<Item = &mut Pack> {
        self.packs.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_packs_parse_complete() {
        let set = PackSet::embedded().unwrap();
        for (country, _) in EMBEDDED_PACKS {
            let j = Jurisdiction::parse("j", country).unwrap();
            let pack = set.get(&j).unwrap();
            for &id in RuleId::ALL {
                assert_eq!(pack.has(id), id.belongs_to(country), "{country} {id}");
            }
            for r in pack.rules() {
                assert!(!r.source.is_empty() && !r.summary.is_empty());
            }
        }
    }

    #[test]
    fn subdivisions_use_their_country_pack() {
        let ny = Jurisdiction::parse("j", "US-NY").unwrap();
        assert_eq!(
            Pack::for_jurisdiction(&ny).unwrap().jurisdiction().as_str(),
            "US"
        );
        let bj = Jurisdiction::parse("j", "CN-11").unwrap();
        assert_eq!(
            Pack::for_jurisdiction(&bj).unwrap().jurisdiction().as_str(),
            "CN"
        );
        let fr = Jurisdiction::parse("j", "FR").unwrap();
        assert_eq!(
            Pack::for_jurisdiction(&fr).unwrap_err(),
            PackError::NoPack {
                jurisdiction: "FR".into()
            }
        );
    }

    #[test]
    fn invalid_packs_name_the_rule_and_field() {
        let cn = EMBEDDED_PACKS[0].1;
        let bad = cn.replacen("max_per_local_day = 3", "max_per_local_day = \"three\"", 1);
        match Pack::parse(&bad).unwrap_err() {
            PackError::Field { rule, field, .. } => {
                assert_eq!(rule, RuleId::CnFreqConnected);
                assert_eq!(field, "max_per_local_day");
            }
            e => panic!("{e}"),
        }
        let bad = cn.replacen("id = \"CN-HOURS\"", "id = \"CN-HOURZ\"", 1);
        assert!(matches!(
            Pack::parse(&bad).unwrap_err(),
            PackError::UnknownRule { .. }
        ));
        let bad = cn.replacen("id = \"CN-VISIT\"", "id = \"US-LCM\"", 1);
        assert_eq!(
            Pack::parse(&bad).unwrap_err(),
            PackError::ForeignRule {
                pack: "CN".into(),
                rule: RuleId::UsLcm
            }
        );
        let bad = cn.replacen("id = \"CN-VISIT\"", "id = \"CN-HOURS\"", 1);
        assert!(matches!(
            Pack::parse(&bad).unwrap_err(),
            PackError::DuplicateRule { .. } | PackError::Field { .. }
        ));
        let bad = cn.replacen("start = \"08:00\"", "start = \"8am\"", 1);
        let e = Pack::parse(&bad).unwrap_err();
        assert!(
            e.to_string().contains("CN-HOURS") && e.to_string().contains("start"),
            "{e}"
        );
        let bad = cn.replacen(
            "default_timezones = [\"Asia/Shanghai\"]",
            "default_timezones = [\"Asia/Beijing\"]",
            1,
        );
        assert!(matches!(
            Pack::parse(&bad).unwrap_err(),
            PackError::Header {
                field: "default_timezones",
                ..
            }
        ));
    }
}
