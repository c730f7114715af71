//! The lender's run configuration: business time zone, tolerance, buckets, stages and the
//! per-jurisdiction cost caps. Built through `Config::new`/`Bands::new`, so a `Config` that
//! exists is consistent (bands contiguous from 0 and open-ended, tolerance >= 0, and every
//! cost cap at or below its legal floor).
//!
//! Cost caps can only tighten the law: the legal floors ([`legal_cost_floors`], CN-COST's
//! 2400 bps) always apply, a configured cap above its jurisdiction's floor (or its country's,
//! for a subdivision) is refused, and configuring no caps keeps the floors.

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
    #[error(
        "jurisdiction {jurisdiction}: max_annual_cost_bps {configured} is above the legal floor of {floor} bps for {floor_of} ({rule}); a lender may lower the cap, never raise it"
    )]
    CapAboveFloor {
        jurisdiction: String,
        configured: i64,
        floor: u32,
        /// The jurisdiction whose floor applies (the country of a subdivision).
        floor_of: String,
        rule: String,
    },
}

/// A legal maximum of the annual cost (contract rate + penalty rate) in a jurisdiction, from
/// its conduct rule pack: no configuration may raise the cap above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostFloor {
    /// `CN`; a subdivision inherits its country's floor unless it has its own.
    pub jurisdiction: String,
    pub max_annual_cost_bps: u32,
    /// The rule that sets it (`CN-COST`).
    pub rule: String,
}

/// The built-in floors: CN-COST, `max_annual_cost_bps = 2400` in the CN rule pack
/// (`arrears-policy/packs/CN.toml`). The CLI reads the same values from the packs it embeds
/// and checks that they agree with these.
pub fn legal_cost_floors() -> Vec<CostFloor> {
    vec![CostFloor {
        jurisdiction: "CN".to_owned(),
        max_annual_cost_bps: 2400,
        rule: "CN-COST".to_owned(),
    }]
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
        let cost_caps = legal_cost_floors()
            .into_iter()
            .map(|f| (f.jurisdiction, Bps::new_const(f.max_annual_cost_bps)))
            .collect();
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
    /// A configuration whose cost caps are the built-in [`legal_cost_floors`] tightened by
    /// `caps` (see [`Config::with_floors`]).
    pub fn new(
        business_tz: TimeZoneName,
        tolerance_minor: i64,
        buckets: Bands,
        stages: Bands,
        caps: BTreeMap<String, i64>,
    ) -> Result<Config, ConfigError> {
        Self::with_floors(
            business_tz,
            tolerance_minor,
            buckets,
            stages,
            caps,
            &legal_cost_floors(),
        )
    }

    /// A configuration whose cost caps are `floors` tightened by `caps`: every floor applies
    /// unless `caps` sets a cap for that jurisdiction at or below it; a cap above the floor of
    /// its jurisdiction (a subdivision's own floor, else its country's) is refused
    /// (`CapAboveFloor`). Jurisdictions without a floor take any configured cap.
    pub fn with_floors(
        business_tz: TimeZoneName,
        tolerance_minor: i64,
        buckets: Bands,
        stages: Bands,
        caps: BTreeMap<String, i64>,
        floors: &[CostFloor],
    ) -> Result<Config, ConfigError> {
        if tolerance_minor < 0 {
            return Err(ConfigError::NegativeTolerance(tolerance_minor));
        }
        let mut cost_caps = BTreeMap::new();
        for f in floors {
            let bps = i64::from(f.max_annual_cost_bps);
            Jurisdiction::parse("jurisdiction", &f.jurisdiction)
                .map_err(|e| ConfigError::BadJurisdiction(f.jurisdiction.clone(), e.detail))?;
            let b = Bps::parse("max_annual_cost_bps", bps)
                .map_err(|_| ConfigError::BadCap(f.jurisdiction.clone(), bps))?;
            cost_caps.insert(f.jurisdiction.clone(), b);
        }
        let floor_of = |j: &Jurisdiction| {
            floors
                .iter()
                .find(|f| f.jurisdiction == j.as_str())
                .or_else(|| floors.iter().find(|f| f.jurisdiction == j.country()))
        };
        for (code, bps) in caps {
            let j = Jurisdiction::parse("jurisdiction", &code)
                .map_err(|e| ConfigError::BadJurisdiction(code.clone(), e.detail))?;
            let b = Bps::parse("max_annual_cost_bps", bps)
                .map_err(|_| ConfigError::BadCap(code.clone(), bps))?;
            if let Some(f) = floor_of(&j)
                && b.get() > f.max_annual_cost_bps
            {
                return Err(ConfigError::CapAboveFloor {
                    jurisdiction: code,
                    configured: bps,
                    floor: f.max_annual_cost_bps,
                    floor_of: f.jurisdiction.clone(),
                    rule: f.rule.clone(),
                });
            }
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

    fn config_with(caps: &[(&str, i64)]) -> Result<Config, ConfigError> {
        Config::new(
            TimeZoneName::utc(),
            0,
            Bands::default_buckets(),
            Bands::default_stages(),
            caps.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        )
    }

    #[test]
    fn caps_only_tighten_the_legal_floor() {
        let j = |s| Jurisdiction::parse("j", s).unwrap();
        // (configured caps, jurisdiction asked, the cap it gets, or the refusal's words)
        type Caps = &'static [(&'static str, i64)];
        type Want = Result<Option<u32>, &'static str>;
        let cases: &[(Caps, &str, Want)] = &[
            (&[], "CN", Ok(Some(2400))),
            (&[], "CN-11", Ok(Some(2400))),
            (&[], "US-NY", Ok(None)),
            (&[("CN", 1800)], "CN", Ok(Some(1800))),
            (&[("CN", 1800)], "CN-11", Ok(Some(1800))),
            (&[("CN", 2400)], "CN", Ok(Some(2400))),
            (&[("CN-11", 2000)], "CN-11", Ok(Some(2000))),
            (&[("CN-11", 2000)], "CN-31", Ok(Some(2400))),
            (&[("US", 9000)], "CN", Ok(Some(2400))),
            (&[("US", 9000)], "US-CA", Ok(Some(9000))),
            (
                &[("CN", 3000)],
                "CN",
                Err(
                    "jurisdiction CN: max_annual_cost_bps 3000 is above the legal floor of 2400 bps for CN (CN-COST)",
                ),
            ),
            (
                &[("CN", 2401)],
                "CN",
                Err("max_annual_cost_bps 2401 is above the legal floor of 2400"),
            ),
            (
                &[("CN-11", 3000)],
                "CN-11",
                Err(
                    "jurisdiction CN-11: max_annual_cost_bps 3000 is above the legal floor of 2400 bps for CN (CN-COST)",
                ),
            ),
        ];
        for (caps, ask, want) in cases {
            match (config_with(caps), want) {
                (Ok(c), Ok(cap)) => {
                    assert_eq!(c.cost_cap(&j(ask)).map(Bps::get), *cap, "{caps:?} {ask}");
                }
                (Err(e), Err(words)) => {
                    assert!(
                        matches!(e, ConfigError::CapAboveFloor { .. }),
                        "{caps:?}: {e}"
                    );
                    assert!(e.to_string().contains(words), "{caps:?}: {e}");
                }
                (got, want) => panic!("{caps:?} {ask}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn floors_are_data() {
        let floors = [CostFloor {
            jurisdiction: "US".to_owned(),
            max_annual_cost_bps: 3600,
            rule: "US-COST".to_owned(),
        }];
        let c = |caps: &[(&str, i64)]| {
            Config::with_floors(
                TimeZoneName::utc(),
                0,
                Bands::default_buckets(),
                Bands::default_stages(),
                caps.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                &floors,
            )
        };
        let j = |s| Jurisdiction::parse("j", s).unwrap();
        let none = c(&[]).unwrap();
        assert_eq!(none.cost_cap(&j("US-NY")).map(Bps::get), Some(3600));
        assert_eq!(none.cost_cap(&j("CN")), None);
        assert!(c(&[("US-NY", 3601)]).is_err());
        assert_eq!(
            c(&[("CN", 5000)]).unwrap().cost_cap(&j("CN")).map(Bps::get),
            Some(5000)
        );
        assert_eq!(
            Config::default().cost_caps().len(),
            legal_cost_floors().len()
        );
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
