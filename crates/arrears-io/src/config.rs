//! `arrears.toml`: the run configuration as a file. Each top-level key present in the file
//! replaces the default for that key (so an empty `[jurisdictions]` table removes every
//! cost cap). Unknown keys are an error: a misspelt setting must not be ignored silently.

use crate::IoError;
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

    /// This file's keys over the defaults, validated into a `Config`.
    pub fn resolve(&self, path: &Path) -> Result<Config, IoError> {
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
        let caps: BTreeMap<String, i64> = match &self.jurisdictions {
            Some(j) => j
                .iter()
                .filter_map(|(k, v)| v.max_annual_cost_bps.map(|c| (k.clone(), c)))
                .collect(),
            None => d
                .cost_caps()
                .iter()
                .map(|(k, v)| (k.clone(), i64::from(v.get())))
                .collect(),
        };
        Config::new(
            tz,
            self.tolerance_minor.unwrap_or(d.tolerance_minor),
            buckets,
            stages,
            caps,
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
        assert!(c.cost_caps().is_empty());
        let f = ConfigFile::parse(Path::new("x"), "business_timezone = \"Asia/Shanghai\"").unwrap();
        let c = f.resolve(Path::new("x")).unwrap();
        assert_eq!(c.business_tz.name(), "Asia/Shanghai");
        assert_eq!(c.cost_caps().len(), 1);
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
