//! `arrears.toml`: the run configuration as a file. Each top-level key present in the file
//! replaces the default for that key, except `[jurisdictions]`: its cost caps can only
//! tighten the legal floors (CN-COST's 2400 bps for CN and its subdivisions), which always
//! apply, so an empty or missing table keeps them and a cap above a floor is refused, naming
//! the file, the jurisdiction, the value and the floor. Unknown keys are an error: a misspelt
//! setting must not be ignored silently.

use crate::IoError;
use arrears_domain::config::{CostFloor, legal_cost_floors};
use arrears_domain::{Bands, Config, TimeZoneName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BandFile {
    pub name: String,
    pub min_dpd: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dpd: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JurisdictionFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_annual_cost_bps: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<BandFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<BandFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdictions: Option<BTreeMap<String, JurisdictionFile>>,
    /// The lender's policy file (relative to this file's folder): it tightens the conduct
    /// rule packs for every command of file mode (the store keeps its own, `policy set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl ConfigFile {
    /// The defaults, every key spelled out (what `arrears config --default` prints).
    pub fn defaults() -> ConfigFile {
        let c = Config::default();
        let bands = |b: &Bands| {
            b.ranges()
                .into_iter()
                .map(|(name, min_dpd, max_dpd)| BandFile {
                    name,
                    min_dpd,
                    max_dpd,
                })
                .collect()
        };
        ConfigFile {
            business_timezone: Some(c.business_tz.name().to_owned()),
            tolerance_minor: Some(c.tolerance_minor),
            buckets: Some(bands(&c.buckets)),
            stages: Some(bands(&c.stages)),
            jurisdictions: Some(
                c.cost_caps()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            JurisdictionFile {
                                max_annual_cost_bps: Some(i64::from(v.get())),
                            },
                        )
                    })
                    .collect(),
            ),
            policy: None,
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, IoError> {
        toml::from_str(text).map_err(|e| IoError::Config {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<ConfigFile, IoError> {
        let text = std::fs::read_to_string(path).map_err(|e| IoError::io(path, e))?;
        Self::parse(path, &text)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// This file's keys over the defaults, validated into a `Config`, the cost caps under the
    /// built-in legal floors.
    pub fn resolve(&self, path: &Path) -> Result<Config, IoError> {
        self.resolve_with_floors(path, &legal_cost_floors())
    }

    /// As [`ConfigFile::resolve`], with the legal cost floors given (the CLI reads them from
    /// the conduct rule packs).
    pub fn resolve_with_floors(
        &self,
        path: &Path,
        floors: &[CostFloor],
    ) -> Result<Config, IoError> {
        let err = |reason: String| IoError::Config {
            path: path.to_owned(),
            reason,
        };
        let d = Config::default();
        let tz = match &self.business_timezone {
            Some(name) => {
                TimeZoneName::parse("business_timezone", name).map_err(|e| err(e.detail))?
            }
            None => d.business_tz.clone(),
        };
        let bands = |what: &'static str, b: &Option<Vec<BandFile>>, dflt: &Bands| match b {
            Some(list) => {
                let v: Vec<_> = list
                    .iter()
                    .map(|b| (b.name.clone(), b.min_dpd, b.max_dpd))
                    .collect();
                Bands::new(what, &v).map_err(|e| err(e.to_string()))
            }
            None => Ok(dflt.clone()),
        };
        let buckets = bands("buckets", &self.buckets, &d.buckets)?;
        let stages = bands("stages", &self.stages, &d.stages)?;
        // Only the caps the file sets: the floors apply whether or not it has the table.
        let caps: BTreeMap<String, i64> = self
            .jurisdictions
            .iter()
            .flatten()
            .filter_map(|(k, v)| v.max_annual_cost_bps.map(|c| (k.clone(), c)))
            .collect();
        Config::with_floors(
            tz,
            self.tolerance_minor.unwrap_or(d.tolerance_minor),
            buckets,
            stages,
            caps,
            floors,
        )
        .map_err(|e| err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip() {
        let text = ConfigFile::defaults().to_toml();
        let back = ConfigFile::parse(Path::new("x"), &text).unwrap();
        assert_eq!(back.resolve(Path::new("x")).unwrap(), Config::default());
    }

    #[test]
    fn keys_replace_defaults() {
        let f =
            ConfigFile::parse(Path::new("x"), "tolerance_minor = 100\n[jurisdictions]\n").unwrap();
        let c = f.resolve(Path::new("x")).unwrap();
        assert_eq!(c.tolerance_minor, 100);
        // An empty [jurisdictions] keeps the legal floor.
        assert_eq!(
            c.cost_caps().get("CN").map(|b| b.get()),
            Some(2400),
            "{:?}",
            c.cost_caps()
        );
        assert_eq!(c.cost_caps().len(), 1);
        let f = ConfigFile::parse(Path::new("x"), "business_timezone = \"Asia/Shanghai\"").unwrap();
        let c = f.resolve(Path::new("x")).unwrap();
        assert_eq!(c.business_tz.name(), "Asia/Shanghai");
        assert_eq!(c.cost_caps().len(), 1);
    }

    #[test]
    fn caps_can_only_tighten_the_floor() {
        let j = |s: &str| arrears_domain::Jurisdiction::parse("j", s).unwrap();
        let cap = |text: &str, ask: &str| -> Result<Option<u32>, String> {
            let f = ConfigFile::parse(Path::new("conf/arrears.toml"), text).unwrap();
            f.resolve(Path::new("conf/arrears.toml"))
                .map(|c| c.cost_cap(&j(ask)).map(|b| b.get()))
                .map_err(|e| e.to_string())
        };
        // (file, jurisdiction asked, its cap or the words of the refusal)
        type Want = Result<Option<u32>, &'static str>;
        let cases: &[(&str, &str, Want)] = &[
            ("", "CN", Ok(Some(2400))),
            ("[jurisdictions]\n", "CN", Ok(Some(2400))),
            ("[jurisdictions]\n", "CN-11", Ok(Some(2400))),
            ("[jurisdictions.CN]\n", "CN", Ok(Some(2400))),
            (
                "[jurisdictions.CN]\nmax_annual_cost_bps = 1800\n",
                "CN",
                Ok(Some(1800)),
            ),
            (
                "[jurisdictions.CN]\nmax_annual_cost_bps = 1800\n",
                "CN-11",
                Ok(Some(1800)),
            ),
            (
                "[jurisdictions.US]\nmax_annual_cost_bps = 4000\n",
                "CN",
                Ok(Some(2400)),
            ),
            (
                "[jurisdictions.US]\nmax_annual_cost_bps = 4000\n",
                "US-NY",
                Ok(Some(4000)),
            ),
            (
                "[jurisdictions.CN]\nmax_annual_cost_bps = 3000\n",
                "CN",
                Err(
                    "conf/arrears.toml: jurisdiction CN: max_annual_cost_bps 3000 is above the legal floor of 2400 bps for CN (CN-COST)",
                ),
            ),
            (
                "[jurisdictions.CN-11]\nmax_annual_cost_bps = 2500\n",
                "CN-11",
                Err(
                    "conf/arrears.toml: jurisdiction CN-11: max_annual_cost_bps 2500 is above the legal floor of 2400 bps for CN (CN-COST)",
                ),
            ),
        ];
        for (text, ask, want) in cases {
            match (cap(text, ask), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text:?} {ask}"),
                (Err(e), Err(words)) => assert!(e.contains(words), "{text:?}: {e}"),
                (got, want) => panic!("{text:?} {ask}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn bad_files_are_explained() {
        let e = ConfigFile::parse(Path::new("a.toml"), "tolerence_minor = 1").unwrap_err();
        assert!(e.to_string().contains("tolerence_minor"), "{e}");
        let f =
            ConfigFile::parse(Path::new("a.toml"), "business_timezone = \"Nowhere/City\"").unwrap();
        assert!(
            f.resolve(Path::new("a.toml"))
                .unwrap_err()
                .to_string()
                .contains("Nowhere/City")
        );
        let f = ConfigFile::parse(
            Path::new("a.toml"),
            "[[buckets]]\nname = \"a\"\nmin_dpd = 1\n",
        )
        .unwrap();
        assert!(f.resolve(Path::new("a.toml")).is_err());
        let f = ConfigFile::parse(Path::new("a.toml"), "tolerance_minor = -5").unwrap();
        assert!(f.resolve(Path::new("a.toml")).is_err());
    }
}
