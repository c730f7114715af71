//! The late-stage report's facts, gathered once for `arrears report` and the dashboard
//! (`arrears_report::LateFacts`): settlements as they stand, referrals and legal cases with
//! their money, the period's recoveries by route (in-house, each agency, sale) and each
//! agency's placements, recoveries, complaints and violations. A period is the UTC days
//! `from..=to`.

use arrears_engine::agency::{CommissionBps, commission};
use arrears_report::{AgencyFact, CaseFact, LateFacts, RouteFact, SettlementFact};
use arrears_store::{SettlementsOf, Store, StoreError};
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};

/// The facts of the period.
pub async fn late_facts(store: &Store, from: Date, to: Date) -> Result<LateFacts, StoreError> {
    let settlements = store
        .settlements(SettlementsOf::All)
        .await?
        .into_iter()
        .filter(|s| store_date(s.offered_at) <= to)
        .map(|s| {
            let status = s.status().to_owned();
            SettlementFact {
                forgiven_minor: if status == "paid" {
                    s.outstanding_minor - s.amount_minor
                } else {
                    0
                },
                status,
                currency: s.currency,
                outstanding_minor: s.outstanding_minor,
                amount_minor: s.amount_minor,
                discount_minor: s.discount_minor,
            }
        })
        .collect();
    let cases = store
        .legal_money()
        .await?
        .into_iter()
        .map(|c| CaseFact {
            status: c.status,
            currency: c.currency,
            claimed_minor: c.claimed_minor,
            awarded_minor: c.awarded_minor,
            recovered_minor: c.recovered_minor,
            costs_minor: c.costs_minor,
        })
        .collect();
    // Recoveries by route: (route, currency) → (loans, amount); per agency and currency too.
    let mut routes: BTreeMap<(String, String), (BTreeSet<String>, i64)> = BTreeMap::new();
    let mut by_agency: BTreeMap<(String, String), i64> = BTreeMap::new();
    for p in store.routed_payments(from, to).await? {
        let route = match &p.agency_id {
            Some(a) => format!("agency:{a}"),
            None => "in_house".to_owned(),
        };
        let e = routes.entry((route, p.currency.clone())).or_default();
        e.0.insert(p.loan_id.clone());
        e.1 = e.1.saturating_add(p.amount_minor);
        if let Some(a) = p.agency_id {
            let x = by_agency.entry((a, p.currency)).or_default();
            *x = x.saturating_add(p.amount_minor);
        }
    }
    for s in store.sold_in(from, to).await? {
        let e = routes.entry(("sale".to_owned(), s.currency)).or_default();
        e.0.insert(s.loan_id);
        e.1 = e.1.saturating_add(s.price_minor);
    }
    let routes = routes
        .into_iter()
        .map(|((route, currency), (loans, amount))| RouteFact {
            route,
            currency,
            recovered_minor: amount,
            loans: u64::try_from(loans.len()).unwrap_or(u64::MAX),
        })
        .collect();
    // The league: one row per agency and currency it has loans or money in; its complaints
    // and violations (counts, not money) on its first row.
    let mut agencies = Vec::new();
    for a in store.agency_counts(from, to).await? {
        let mut currencies: BTreeSet<String> = a.placed.iter().map(|(c, _)| c.clone()).collect();
        for (ag, cur) in by_agency.keys() {
            if *ag == a.agency_id {
                currencies.insert(cur.clone());
            }
        }
        if currencies.is_empty() {
            currencies.insert(String::new());
        }
        // The store holds 0..=10000 (a CHECK); anything else would earn no commission.
        let bps = CommissionBps::new(i64::from(a.commission_bps)).ok();
        for (i, cur) in currencies.into_iter().enumerate() {
            let recovered = by_agency
                .get(&(a.agency_id.clone(), cur.clone()))
                .copied()
                .unwrap_or(0);
            agencies.push(AgencyFact {
                placed: a
                    .placed
                    .iter()
                    .filter(|(c, _)| *c == cur)
                    .map(|(_, n)| *n)
                    .sum(),
                recovered_minor: recovered,
                // Rounded once per agency and currency (the remittance rounds per placement).
                commission_minor: bps.map_or(0, |b| commission(recovered, b)),
                complaints: if i == 0 { a.complaints } else { 0 },
                violations: if i == 0 { a.violations } else { 0 },
                agency_id: a.agency_id.clone(),
                currency: cur,
            });
        }
    }
    Ok(LateFacts {
        settlements,
        cases,
        routes,
        agencies,
    })
}

fn store_date(t: jiff::Timestamp) -> Date {
    t.to_zoned(jiff::tz::TimeZone::UTC).date()
}
