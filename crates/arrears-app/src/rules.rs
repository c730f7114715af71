//! The lender's policy, set once. In file mode it is a policy file (`--policy FILE`, or the
//! `policy` key of `arrears.toml`); with a store it is the version in force on the business
//! date (`arrears policy set FILE --effective-from D`). Either way it becomes the packs every
//! decision of every surface uses: the embedded legal floors tightened by the policy, which
//! may only make them stricter (a looser value is refused when the policy is set, and again
//! when it is used).

use arrears_policy::{LenderContact, PackError, PackSet, Policy, PolicyError, SettlementLimit};
use arrears_store::{Store, StoreError, StoredPolicy};
use jiff::Timestamp;
use jiff::civil::Date;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("the embedded rule packs do not load: {0}")]
    Packs(#[from] PackError),
    #[error("{origin}: {error}")]
    Policy { origin: String, error: PolicyError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] arrears_store::LifecycleError),
}

/// Where the policy in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOrigin {
    /// No lender policy: the packs' legal floors.
    Floors,
    /// A policy file (file mode).
    File(String),
    /// A stored version.
    Stored { version: i64, effective_from: Date },
}

impl std::fmt::Display for PolicyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyOrigin::Floors => f.write_str("the packs' legal floors (no lender policy)"),
            PolicyOrigin::File(p) => write!(f, "policy file {p}"),
            PolicyOrigin::Stored {
                version,
                effective_from,
            } => write!(
                f,
                "stored policy version {version}, in force from {effective_from}"
            ),
        }
    }
}

/// The packs in force and where they came from.
#[derive(Debug, Clone)]
pub struct EffectivePolicy {
    pub packs: PackSet,
    pub origin: PolicyOrigin,
    /// The policy's own name (`[policy] name`), when there is one.
    pub name: Option<String>,
    /// Who the lender is to its borrowers (the policy's `[lender]`), when it says.
    pub lender: Option<LenderContact>,
    /// The most a settlement may forgive, by stage and dpd (`[[settlement]]`; empty: none).
    pub settlement: Vec<SettlementLimit>,
}

/// The embedded packs tightened by `text` (none: the floors). `origin` names the text in
/// errors.
pub fn packs_from_text(
    text: Option<&str>,
    origin: &str,
) -> Result<(PackSet, Option<Policy>), RulesError> {
    let packs = PackSet::embedded()?;
    let Some(text) = text else {
        return Ok((packs, None));
    };
    let wrap = |error| RulesError::Policy {
        origin: origin.to_owned(),
        error,
    };
    let policy = Policy::parse(text).map_err(wrap)?;
    let tightened = packs.tighten(&policy).map_err(wrap)?;
    Ok((tightened, Some(policy)))
}

fn effective(packs: PackSet, origin: PolicyOrigin, policy: Option<Policy>) -> EffectivePolicy {
    EffectivePolicy {
        packs,
        origin,
        name: policy.as_ref().map(|p| p.name().to_owned()),
        settlement: policy
            .as_ref()
            .map(|p| p.settlement_limits().to_vec())
            .unwrap_or_default(),
        lender: policy.and_then(|p| p.lender().cloned()),
    }
}

/// The policy of file mode: `file` (its text and a name for messages), or the floors.
pub fn from_file(file: Option<(&str, &str)>) -> Result<EffectivePolicy, RulesError> {
    match file {
        None => {
            let (packs, policy) = packs_from_text(None, "")?;
            Ok(effective(packs, PolicyOrigin::Floors, policy))
        }
        Some((origin, text)) => {
            let (packs, policy) = packs_from_text(Some(text), origin)?;
            Ok(effective(
                packs,
                PolicyOrigin::File(origin.to_owned()),
                policy,
            ))
        }
    }
}

/// The policy in force in the store on `on` (the floors when none was set).
pub async fn in_store(store: &Store, on: Date) -> Result<EffectivePolicy, RulesError> {
    match store.policy_in_force(on).await? {
        None => from_file(None),
        Some(p) => from_stored(&p),
    }
}

/// The packs of a stored version.
pub fn from_stored(p: &StoredPolicy) -> Result<EffectivePolicy, RulesError> {
    let origin = PolicyOrigin::Stored {
        version: p.version,
        effective_from: p.effective_from,
    };
    let (packs, policy) = packs_from_text(Some(&p.text), &origin.to_string())?;
    Ok(effective(packs, origin, policy))
}

/// Stores a new policy version after checking that it parses and only tightens every pack.
/// Returns the version number.
pub async fn set_in_store(
    store: &Store,
    text: &str,
    origin: &str,
    effective_from: Date,
    actor: &str,
    at: Timestamp,
) -> Result<i64, RulesError> {
    packs_from_text(Some(text), origin)?;
    Ok(store.set_policy(text, effective_from, actor, at).await?)
}

/// The SHA-256 of a policy text, hex (what `policy show` prints to compare versions).
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lender's name as messages and pages give it: the policy's `[lender]` name, else the
/// default strategy's (`lender_name`). The one answer for the portal, the sign-in messages and
/// `arrears portal link`.
pub fn lender_name(policy: &EffectivePolicy) -> String {
    match &policy.lender {
        Some(l) => l.name.clone(),
        None => default_lender_name(),
    }
}

/// The default strategy's lender name (parsed once).
pub fn default_lender_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        arrears_strategy::Strategy::parse(arrears_strategy::DEFAULT_STRATEGY)
            .map(|s| s.lender_name)
            .unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_only_tightens_and_names_where_it_came_from() {
        let p = from_file(Some((
            "acme.toml",
            "[policy]\nname = \"acme\"\n[rules.\"CN-COST\"]\nmax_annual_cost_bps = 1800\n",
        )))
        .unwrap();
        assert_eq!(p.origin, PolicyOrigin::File("acme.toml".into()));
        assert_eq!(p.name.as_deref(), Some("acme"));
        let cn = arrears_domain::Jurisdiction::parse("j", "CN").unwrap();
        assert_eq!(p.packs.get(&cn).unwrap().max_annual_cost_bps(), Some(1800));
        let floors = from_file(None).unwrap();
        assert_eq!(floors.origin, PolicyOrigin::Floors);
        assert_eq!(
            floors.packs.get(&cn).unwrap().max_annual_cost_bps(),
            Some(2400)
        );
        let err = from_file(Some((
            "loose.toml",
            "[policy]\nname = \"loose\"\n[rules.\"CN-COST\"]\nmax_annual_cost_bps = 3600\n",
        )))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("loose.toml: ") && msg.contains("CN-COST"),
            "{msg}"
        );
        assert!(matches!(err, RulesError::Policy { .. }));
        assert_eq!(digest("x").len(), 64);
    }

    #[test]
    fn the_lender_is_named_by_the_policy_else_by_the_default_strategy() {
        let mut p = EffectivePolicy {
            packs: PackSet::embedded().unwrap(),
            origin: PolicyOrigin::Floors,
            name: None,
            lender: None,
            settlement: Vec::new(),
        };
        let default = arrears_strategy::Strategy::parse(arrears_strategy::DEFAULT_STRATEGY)
            .unwrap()
            .lender_name;
        assert!(!default.is_empty());
        assert_eq!(lender_name(&p), default);
        p.lender = Some(LenderContact {
            name: "好借金融".into(),
            phone: None,
            email: None,
            hours: None,
            payment: None,
            payment_url: None,
        });
        assert_eq!(lender_name(&p), "好借金融");
    }
}
