//! The late stage (issues 14 and 15): settlements, the legal pipeline, recovery by route and
//! the agency league table, built from facts the store gathers ([`LateFacts`]) into
//! [`LateReport`] tables: `settlements.csv`, `legal_pipeline.csv`, `recovery_by_route.csv`,
//! `agency_league.csv`. Pure: sums in `i128` checked back into `i64`, one row per currency;
//! the commission is the engine's (`arrears_engine::agency::commission`), given in the facts.

use std::collections::BTreeMap;

use crate::{ReportError, Table};

/// One settlement as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementFact {
    /// `offered`, `accepted`, `paid`, `lapsed` or `withdrawn`.
    pub status: String,
    pub currency: String,
    pub outstanding_minor: i64,
    pub amount_minor: i64,
    pub discount_minor: i64,
    /// What the write-off of a paid settlement forgave (0 otherwise).
    pub forgiven_minor: i64,
}

/// One legal referral or case as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFact {
    /// `referred`, `referral_rejected`, `approved`, `filed`, `judgment`, `enforcement`,
    /// `closed_satisfied`, `closed_withdrawn`, `closed_terminated`, `closed`.
    pub status: String,
    pub currency: String,
    pub claimed_minor: i64,
    pub awarded_minor: i64,
    /// Payments received on the loan from the filing on (not reversed).
    pub recovered_minor: i64,
    pub costs_minor: i64,
}

/// Money recovered in the period by one route: `in_house`, `agency:<id>` or `sale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFact {
    pub route: String,
    pub currency: String,
    pub recovered_minor: i64,
    /// Loans the money came from.
    pub loans: u64,
}

/// One agency's figures in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyFact {
    pub agency_id: String,
    pub currency: String,
    /// Its commission on `recovered_minor` (`arrears_engine::agency::commission`, rounded
    /// half to even once per agency and currency).
    pub commission_minor: i64,
    /// Loans placed with it up to the period's end.
    pub placed: u64,
    /// Payments received on its loans while they were placed with it, in the period.
    pub recovered_minor: i64,
    /// Disputes opened by borrowers while their loan was placed with it.
    pub complaints: u64,
    /// Contacts it reported that a rule forbade (`contacts.violation`).
    pub violations: u64,
}

/// Everything the late-stage tables are made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LateFacts {
    pub settlements: Vec<SettlementFact>,
    pub cases: Vec<CaseFact>,
    pub routes: Vec<RouteFact>,
    pub agencies: Vec<AgencyFact>,
}

/// A status row: (status, currency, count, four sums in minor units).
pub type StatusRow = (String, String, u64, i64, i64, i64, i64);
/// A route row: (route, currency, loans, recovered).
pub type RouteRow = (String, String, u64, i64);
/// A league row: (agency, currency, placed, recovered, commission, complaints, violations).
pub type LeagueRow = (String, String, u64, i64, i64, u64, u64);
/// An agency's running totals: commission, placed, recovered, complaints, violations.
type AgencyAcc = (i128, u64, i128, u64, u64);

/// The late-stage tables, each in a fixed order (so the same facts give the same bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LateReport {
    /// (status, currency) → count, outstanding, amount, discount, forgiven.
    pub settlements: Vec<StatusRow>,
    /// (status, currency) → count, claimed, awarded, recovered, costs.
    pub legal: Vec<StatusRow>,
    /// (route, currency) → loans, recovered.
    pub routes: Vec<RouteRow>,
    /// (agency, currency) → placed, recovered, commission, complaints, violations; by
    /// recovered, most first.
    pub league: Vec<LeagueRow>,
}

/// The order statuses are shown in.
pub const SETTLEMENT_STATUSES: [&str; 5] = ["offered", "accepted", "paid", "lapsed", "withdrawn"];
pub const CASE_STATUSES: [&str; 10] = [
    "referred",
    "referral_rejected",
    "approved",
    "filed",
    "judgment",
    "enforcement",
    "closed_satisfied",
    "closed_withdrawn",
    "closed_terminated",
    "closed",
];

fn rank(order: &[&str], s: &str) -> usize {
    order.iter().position(|x| *x == s).unwrap_or(order.len())
}

fn fit(v: i128, what: &'static str) -> Result<i64, ReportError> {
    i64::try_from(v).map_err(|_| ReportError::Overflow { what })
}

/// Aggregates the facts.
pub fn build_late(f: &LateFacts) -> Result<LateReport, ReportError> {
    let mut s: BTreeMap<(usize, String, String), (u64, [i128; 4])> = BTreeMap::new();
    for x in &f.settlements {
        let e = s
            .entry((
                rank(&SETTLEMENT_STATUSES, &x.status),
                x.status.clone(),
                x.currency.clone(),
            ))
            .or_default();
        e.0 += 1;
        for (k, v) in [
            x.outstanding_minor,
            x.amount_minor,
            x.discount_minor,
            x.forgiven_minor,
        ]
        .into_iter()
        .enumerate()
        {
            e.1[k] += i128::from(v);
        }
    }
    let mut l: BTreeMap<(usize, String, String), (u64, [i128; 4])> = BTreeMap::new();
    for x in &f.cases {
        let e = l
            .entry((
                rank(&CASE_STATUSES, &x.status),
                x.status.clone(),
                x.currency.clone(),
            ))
            .or_default();
        e.0 += 1;
        for (k, v) in [
            x.claimed_minor,
            x.awarded_minor,
            x.recovered_minor,
            x.costs_minor,
        ]
        .into_iter()
        .enumerate()
        {
            e.1[k] += i128::from(v);
        }
    }
    let mut r: BTreeMap<(usize, String, String), (u64, i128)> = BTreeMap::new();
    for x in &f.routes {
        let order = match x.route.as_str() {
            "in_house" => 0,
            "sale" => 2,
            _ => 1,
        };
        let e = r
            .entry((order, x.route.clone(), x.currency.clone()))
            .or_default();
        e.0 += x.loans;
        e.1 += i128::from(x.recovered_minor);
    }
    let mut g: BTreeMap<(String, String), AgencyAcc> = BTreeMap::new();
    for x in &f.agencies {
        let e = g
            .entry((x.agency_id.clone(), x.currency.clone()))
            .or_default();
        e.0 += i128::from(x.commission_minor);
        e.1 += x.placed;
        e.2 += i128::from(x.recovered_minor);
        e.3 += x.complaints;
        e.4 += x.violations;
    }
    let quad = |v: [i128; 4], what: &'static str| -> Result<[i64; 4], ReportError> {
        Ok([
            fit(v[0], what)?,
            fit(v[1], what)?,
            fit(v[2], what)?,
            fit(v[3], what)?,
        ])
    };
    let mut out = LateReport::default();
    for ((_, st, cur), (n, v)) in s {
        let [a, b, c, d] = quad(v, "settlement totals")?;
        out.settlements.push((st, cur, n, a, b, c, d));
    }
    for ((_, st, cur), (n, v)) in l {
        let [a, b, c, d] = quad(v, "legal totals")?;
        out.legal.push((st, cur, n, a, b, c, d));
    }
    for ((_, route, cur), (n, v)) in r {
        out.routes.push((route, cur, n, fit(v, "recovery totals")?));
    }
    for ((agency, cur), (commission, placed, rec, complaints, violations)) in g {
        out.league.push((
            agency,
            cur,
            placed,
            fit(rec, "agency recoveries")?,
            fit(commission, "agency commissions")?,
            complaints,
            violations,
        ));
    }
    out.league
        .sort_by(|a, b| b.3.cmp(&a.3).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    Ok(out)
}

pub const SETTLEMENTS_HEADER: &[&str] = &[
    "status",
    "currency",
    "settlements",
    "outstanding_minor",
    "amount_minor",
    "discount_minor",
    "forgiven_minor",
];
pub const LEGAL_HEADER: &[&str] = &[
    "status",
    "currency",
    "cases",
    "claimed_minor",
    "awarded_minor",
    "recovered_minor",
    "costs_minor",
];
pub const ROUTES_HEADER: &[&str] = &["route", "currency", "loans", "recovered_minor"];
pub const LEAGUE_HEADER: &[&str] = &[
    "agency_id",
    "currency",
    "placed",
    "recovered_minor",
    "commission_minor",
    "complaints",
    "violations",
];

impl LateReport {
    pub fn tables(&self) -> [Table; 4] {
        let seven = |rows: &[StatusRow]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| {
                    vec![
                        r.0.clone(),
                        r.1.clone(),
                        r.2.to_string(),
                        r.3.to_string(),
                        r.4.to_string(),
                        r.5.to_string(),
                        r.6.to_string(),
                    ]
                })
                .collect()
        };
        [
            Table {
                file: "settlements.csv",
                header: SETTLEMENTS_HEADER,
                rows: seven(&self.settlements),
            },
            Table {
                file: "legal_pipeline.csv",
                header: LEGAL_HEADER,
                rows: seven(&self.legal),
            },
            Table {
                file: "recovery_by_route.csv",
                header: ROUTES_HEADER,
                rows: self
                    .routes
                    .iter()
                    .map(|r| vec![r.0.clone(), r.1.clone(), r.2.to_string(), r.3.to_string()])
                    .collect(),
            },
            Table {
                file: "agency_league.csv",
                header: LEAGUE_HEADER,
                rows: self
                    .league
                    .iter()
                    .map(|r| {
                        vec![
                            r.0.clone(),
                            r.1.clone(),
                            r.2.to_string(),
                            r.3.to_string(),
                            r.4.to_string(),
                            r.5.to_string(),
                            r.6.to_string(),
                        ]
                    })
                    .collect(),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: &str, cur: &str, o: i64, a: i64) -> SettlementFact {
        SettlementFact {
            status: status.into(),
            currency: cur.into(),
            outstanding_minor: o,
            amount_minor: a,
            discount_minor: o - a,
            forgiven_minor: if status == "paid" { o - a } else { 0 },
        }
    }

    #[test]
    fn the_late_stage_sums_per_status_and_currency_and_ranks_agencies() {
        let f = LateFacts {
            settlements: vec![
                st("paid", "CNY", 10_600, 8_480),
                st("offered", "CNY", 10_000, 9_000),
                st("paid", "CNY", 5_000, 4_000),
                st("lapsed", "USD", 7_000, 6_000),
            ],
            cases: vec![CaseFact {
                status: "judgment".into(),
                currency: "CNY".into(),
                claimed_minor: 10_600,
                awarded_minor: 10_000,
                recovered_minor: 2_000,
                costs_minor: 500,
            }],
            routes: vec![
                RouteFact {
                    route: "sale".into(),
                    currency: "CNY".into(),
                    recovered_minor: 1_500,
                    loans: 1,
                },
                RouteFact {
                    route: "in_house".into(),
                    currency: "CNY".into(),
                    recovered_minor: 9_000,
                    loans: 3,
                },
                RouteFact {
                    route: "agency:AG-1".into(),
                    currency: "CNY".into(),
                    recovered_minor: 3_000,
                    loans: 2,
                },
            ],
            agencies: vec![
                AgencyFact {
                    agency_id: "AG-1".into(),
                    currency: "CNY".into(),
                    commission_minor: 376,
                    placed: 4,
                    recovered_minor: 3_004,
                    complaints: 1,
                    violations: 2,
                },
                AgencyFact {
                    agency_id: "AG-2".into(),
                    currency: "CNY".into(),
                    commission_minor: 1_500,
                    placed: 3,
                    recovered_minor: 9_999,
                    complaints: 0,
                    violations: 0,
                },
            ],
        };
        let r = build_late(&f).unwrap();
        // Statuses in their lifecycle order, each currency apart.
        assert_eq!(
            r.settlements
                .iter()
                .map(|x| (x.0.as_str(), x.1.as_str(), x.2))
                .collect::<Vec<_>>(),
            vec![
                ("offered", "CNY", 1),
                ("paid", "CNY", 2),
                ("lapsed", "USD", 1)
            ]
        );
        assert_eq!(r.settlements[1].3, 15_600);
        assert_eq!(r.settlements[1].6, 3_120, "forgiven on paid ones");
        // Routes: in-house, agencies, sale.
        assert_eq!(
            r.routes.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            vec!["in_house", "agency:AG-1", "sale"]
        );
        // League by recovered, most first, with each agency's commission as given.
        assert_eq!(r.league[0].0, "AG-2");
        assert_eq!(r.league[0].4, 1_500);
        assert_eq!(r.league[1].4, 376);
        let t = r.tables();
        assert_eq!(
            t[3].rows[1],
            vec!["AG-1", "CNY", "4", "3004", "376", "1", "2"]
        );
        assert_eq!(t[1].rows[0][0], "judgment");
    }
}
