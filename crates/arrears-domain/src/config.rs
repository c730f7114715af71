//! The lender's run configuration: business time zone, tolerance, buckets, stages and the
//! per-jurisdiction cost caps. Built through `Config::new`/`Bands::new`, so a `Config` that
//! exists is consistent (bands contiguous from 0 and open-ended, tolerance >= 0).

use crate::types::{Bps, Jurisdiction, TimeZoneName};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{what}: needs at least one band")]
    NoBands { what: &'static str },
    #[error("{what}: the first band {name:?} must start at 0 days past due, not {min}")]
    FirstNotZero {
        what: &'static str,
        name: String,
        min: u32,
    },
    #[error(
        "{what}: band {name:?} starts at {min} but the band before it ends at {prev_max}; bands must be contiguous"
    )]
    NotContiguous {
        what: &'static str,
        name: String,
        min: u32,
        prev_max: u32,
    },
    #[error("{what}: band {name:?} has max_dpd {max} below its min_dpd {min}")]
    Inverted {
        what: &'static str,
        name: String,
        min: u32,
        max: u32,
    },
    #[error("{what}: only the last band may be open-ended (no max_dpd); {name:?} is not last")]
    OpenNotLast { what: &'static str, name: String },
    #[error("{what}: the last band {name:?} must be open-ended (no max_dpd)")]
    LastClosed { what: &'static str, name: String },
    #[error("{what}: band name {name:?} is used twice")]
    DuplicateName { what: &'static str, name: String },
    #[error("{what}: a band name must be non-empty")]
    EmptyName { what: &'static str },
    #[error("tolerance_minor must be >= 0, got {0}")]
    NegativeTolerance(i64),
    #[error("jurisdiction {0:?}: {1}")]
    BadJurisdiction(String, String),
    #[error("jurisdiction {0}: max_annual_cost_bps {1} is outside 0..=1000000")]
    BadCap(String, i64),
    #[error("business_timezone: {0}")]
    BadTimeZone(String),
}

/// Days-past-due bands (buckets or stages): names with contiguous ranges from 0, the last
/// open-ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bands {
    names: Vec<String>,
    /// `mins[i]` is the first dpd of band i; band i ends where band i+1 starts.
    mins: Vec<u32>,
}

impl Bands {
    /// Bands from `(name, min_dpd, max_dpd)`; `None` max only on the last band.
    pub fn new(
        what: &'static str,
        bands: &[(String, u32, Option<u32>)],
    ) -> Result<Bands, ConfigError> {
        let Some(first) = bands.first() else {
            return Err(ConfigError::NoBands { what });
        };
        if first.1 != 0 {
            return Err(ConfigError::FirstNotZero {
                what,
                name: first.0.clone(),
                min: first.1,
            });
        }
        let mut names: Vec<String> = Vec::with_capacity(bands.len());
        let mut mins = Vec::with_capacity(bands.len());
        for (i, (name, min, max)) in bands.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::EmptyName { what });
            }
            if names.contains(name) {
                return Err(ConfigError::DuplicateName {
                    what,
                    name: name.clone(),
                });
            }
            let last = i + 1 == bands.len();
            match max {
                Some(max) if max < min => {
                    return Err(ConfigError::Inverted {
                        what,
                        name: name.clone(),
                        min: *min,
                        max: *max,
                    });
                }
                Some(_) if last => {
                    return Err(ConfigError::LastClosed {
                        what,
                        name: name.clone(),
                    });
                }
                None if !last => {
                    return Err(ConfigError::OpenNotLast {
                        what,
                        name: name.clone(),
                    });
                }
                _ => {}
            }
            if i > 0 {
                let prev_max = bands[i - 1].2.unwrap_or(u32::MAX);
                if prev_max.checked_add(1) != Some(*min) {
                    return Err(ConfigError::NotContiguous {
                        what,
                        name: name.clone(),
                        min: *min,
                        prev_max,
                    });
                }
            }
            names.push(name.clone());
            mins.push(*min);
        }
        Ok(Bands { names, mins })
    }

    pub fn default_buckets() -> Bands {
        Self::fixed(&[
            ("current", 0),
            ("M1", 1),
            ("M2", 31),
            ("M3", 61),
            ("M4", 91),
            ("M5", 121),
            ("M6", 151),
            ("M6+", 181),
        ])
    }

    pub fn default_stages() -> Bands {
        Self::fixed(&[
            ("current", 0),
            ("early", 1),
            ("mid", 8),
            ("late", 91),
            ("bad_debt", 181),
        ])
    }

    fn fixed(b: &[(&str, u32)]) -> Bands {
        Bands {
            names: b.iter().map(|(n, _)| (*n).to_owned()).collect(),
            mins: b.iter().map(|(_, m)| *m).collect(),
        }
    }

    /// The index of the band holding `dpd`.
    pub fn index_of(&self, dpd: u32) -> usize {
        // mins[0] == 0, so at least one band matches.
        self.mins.partition_point(|&m| m <= dpd).saturating_sub(1)
    }

    pub fn name(&self, index: usize) -> &str {
        self.names.get(index).map(String::as_str).unwrap_or("")
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `(name, min_dpd, max_dpd)` for each band, the last open-ended.
    pub fn ranges(&self) -> Vec<(String, u32, Option<u32>)> {
        (0..self.names.len())
            .map(|i| {
                let max = self.mins.get(i + 1).map(|m| m - 1);
                (self.names[i].clone(), self.mins[i], max)
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Everything the daily run needs besides the portfolio and the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub business_tz: TimeZoneName,
    pub tolerance_minor: i64,
    pub buckets: Bands,
    pub stages: Bands,
    /// Cost caps by jurisdiction code (`CN`, `US-NY`). A subdivision without its own entry
    /// uses its country's.
    cost_caps: BTreeMap<String, Bps>,
}

impl Default for Config {
    fn default() -> Self {
        let mut cost_caps = BTreeMap::new();
        cost_caps.insert("CN".to_owned(), Bps::new_const(2400));
        Config {
            business_tz: TimeZoneName::utc(),
            tolerance_minor: 0,
            buckets: Bands::default_buckets(),
            stages: Bands::default_stages(),
            cost_caps,
        }
    }
}

impl Config {
    pub fn new(
        business_tz: TimeZoneName,
        tolerance_minor: i64,
        buckets: Bands,
        stages: Bands,
        caps: BTreeMap<String, i64>,
    ) -> Result<Config, ConfigError> {
        if tolerance_minor < 0 {
            return Err(ConfigError::NegativeTolerance(tolerance_minor));
        }
        let mut cost_caps = BTreeMap::new();
        for (code, bps) in caps {
            Jurisdiction::parse("jurisdiction", &code)
                .map_err(|e| ConfigError::BadJurisdiction(code.clone(), e.detail))?;
            let b = Bps::parse("max_annual_cost_bps", bps)
                .map_err(|_| ConfigError::BadCap(code.clone(), bps))?;
            cost_caps.insert(code, b);
        }
        Ok(Config {
            business_tz,
            tolerance_minor,
            buckets,
            stages,
            cost_caps,
        })
    }

    /// The cap for a borrower's jurisdiction: its own entry, else its country's, else none.
    pub fn cost_cap(&self, j: &Jurisdiction) -> Option<Bps> {
        self.cost_caps
            .get(j.as_str())
            .or_else(|| self.cost_caps.get(j.country()))
            .copied()
    }

    pub fn cost_caps(&self) -> &BTreeMap<String, Bps> {
        &self.cost_caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: &str, min: u32, max: Option<u32>) -> (String, u32, Option<u32>) {
        (n.to_owned(), min, max)
    }

    #[test]
    fn default_bucket_boundaries() {
        let k = Bands::default_buckets();
        let at = |d| k.name(k.index_of(d)).to_owned();
        assert_eq!(at(0), "current");
        assert_eq!(at(1), "M1");
        assert_eq!(at(30), "M1");
        assert_eq!(at(31), "M2");
        assert_eq!(at(180), "M6");
        assert_eq!(at(181), "M6+");
        assert_eq!(at(u32::MAX), "M6+");
        let s = Bands::default_stages();
        let st = |d| s.name(s.index_of(d)).to_owned();
        assert_eq!(
            (st(7), st(8), st(90), st(91), st(180), st(181)),
            (
                "early".into(),
                "mid".into(),
                "mid".into(),
                "late".into(),
                "late".into(),
                "bad_debt".into()
            )
        );
    }

    #[test]
    fn bands_must_be_contiguous_and_open() {
        assert!(Bands::new("b", &[b("a", 0, Some(5)), b("c", 6, None)]).is_ok());
        assert!(matches!(
            Bands::new("b", &[b("a", 1, None)]),
            Err(ConfigError::FirstNotZero { .. })
        ));
        assert!(matches!(
            Bands::new("b", &[b("a", 0, Some(5)), b("c", 7, None)]),
            Err(ConfigError::NotContiguous { .. })
        ));
        assert!(matches!(
            Bands::new("b", &[b("a", 0, Some(5))]),
            Err(ConfigError::LastClosed { .. })
        ));
        assert!(matches!(
            Bands::new("b", &[b("a", 0, None), b("c", 6, None)]),
            Err(ConfigError::OpenNotLast { .. })
        ));
        assert!(matches!(
            Bands::new("b", &[]),
            Err(ConfigError::NoBands { .. })
        ));
        let r = Bands::default_buckets().ranges();
        assert_eq!(r[1], b("M1", 1, Some(30)));
        assert_eq!(r[7], b("M6+", 181, None));
    }

    #[test]
    fn caps_fall_back_to_country() {
        let mut caps = BTreeMap::new();
        caps.insert("CN".to_owned(), 2400);
        caps.insert("US-NY".to_owned(), 1600);
        let c = Config::new(
            TimeZoneName::utc(),
            0,
            Bands::default_buckets(),
            Bands::default_stages(),
            caps,
        )
        .unwrap();
        let j = |s| Jurisdiction::parse("j", s).unwrap();
        assert_eq!(c.cost_cap(&j("CN-11")).map(Bps::get), Some(2400));
        assert_eq!(c.cost_cap(&j("US-NY")).map(Bps::get), Some(1600));
        assert_eq!(c.cost_cap(&j("US-CA")), None);
        assert_eq!(c.cost_cap(&j("GB")), None);
    }
}
