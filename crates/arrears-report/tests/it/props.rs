//! Properties over generated histories: every loan lands in exactly one cell, and the
//! per-currency amounts of every report add up to the input's totals.

use std::collections::{BTreeMap, BTreeSet};

use arrears_report::{Day, Dimension, History, LoanDay, NEW_BUCKET, STATUSES, build};
use jiff::ToSpan;
use proptest::prelude::*;

use crate::common::{date, names};

const BUCKETS: [&str; 5] = ["current", "M1", "M2", "M3", "M3+"];
const STAGES: [&str; 3] = ["current", "early", "late"];
const CURRENCIES: [&str; 3] = ["EUR", "JPY", "USD"];

/// A loan's fixed facts: currency and days before the first snapshot it was disbursed.
#[derive(Debug, Clone)]
struct Facts {
    currency: usize,
    disbursed_days_before: i64,
}

/// What a loan looks like on one day, or `None` when it is not in that day's snapshot.
type State = Option<(usize, u32, usize, usize, i64, i64, i64)>;

fn state() -> impl Strategy<Value = State> {
    prop::option::weighted(
        0.8,
        (
            0..STATUSES.len(),
            0u32..200,
            0..BUCKETS.len(),
            0..STAGES.len(),
            0i64..1_000_000,
            0i64..10_000_000,
            0i64..10_000_000,
        ),
    )
}

pub fn history() -> impl Strategy<Value = History> {
    (1usize..6, 0usize..14).prop_flat_map(|(n_days, n_loans)| {
        (
            prop::collection::vec(1i64..45, n_days),
            prop::collection::vec(
                (0..CURRENCIES.len(), 0i64..800).prop_map(|(currency, back)| Facts {
                    currency,
                    disbursed_days_before: back,
                }),
                n_loans,
            ),
            prop::collection::vec(prop::collection::vec(state(), n_loans), n_days),
        )
            .prop_map(|(gaps, facts, states)| make(&gaps, &facts, &states))
    })
}

fn make(gaps: &[i64], facts: &[Facts], states: &[Vec<State>]) -> History {
    let start = date("2025-12-20");
    let mut as_of = start;
    let mut days = Vec::new();
    for (gap, day_states) in gaps.iter().zip(states) {
        as_of = as_of.checked_add(gap.days()).unwrap();
        let loans = facts
            .iter()
            .zip(day_states)
            .enumerate()
            .filter_map(|(i, (f, s))| {
                let (status, dpd, bucket, stage, overdue, principal, paid) = (*s)?;
                Some(LoanDay {
                    loan_id: format!("L{i:03}"),
                    status: STATUSES[status].to_string(),
                    dpd,
                    bucket: BUCKETS[bucket].to_string(),
                    stage: STAGES[stage].to_string(),
                    overdue_minor: overdue,
                    outstanding_principal_minor: principal,
                    paid_minor: paid,
                    currency: CURRENCIES[f.currency].to_string(),
                    disbursed_on: start.checked_sub(f.disbursed_days_before.days()).unwrap(),
                })
            })
            .collect();
        days.push(Day { as_of, loans });
    }
    History {
        days,
        buckets: names(&BUCKETS),
        stages: names(&STAGES),
    }
}

/// Σ of one amount per currency over some loans.
fn by_currency<'a>(
    loans: impl Iterator<Item = &'a LoanDay>,
    amount: impl Fn(&LoanDay) -> i64,
) -> BTreeMap<String, i128> {
    let mut sums = BTreeMap::new();
    for l in loans {
        *sums.entry(l.currency.clone()).or_insert(0) += i128::from(amount(l));
    }
    sums
}

fn nonzero(mut m: BTreeMap<String, i128>) -> BTreeMap<String, i128> {
    m.retain(|_, v| *v != 0);
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn roll_matrix_accounts_for_every_loan(h in history()) {
        let r = build(&h).unwrap();
        let first = &h.days[0];
        let last = h.days.last().unwrap();
        let first_ids: BTreeSet<&str> = first.loans.iter().map(|l| l.loan_id.as_str()).collect();

        // Row counts (from-buckets other than `new`) sum to the loans of the from-date.
        let from_rows: u64 = r.roll_rates.iter().filter(|c| c.from_bucket != NEW_BUCKET).map(|c| c.loans).sum();
        prop_assert_eq!(from_rows, first.loans.len() as u64);
        // The `new` row holds exactly the loans first seen on the last date.
        let new_rows: u64 = r.roll_rates.iter().filter(|c| c.from_bucket == NEW_BUCKET).map(|c| c.loans).sum();
        let new_loans = last.loans.iter().filter(|l| !first_ids.contains(l.loan_id.as_str())).count();
        prop_assert_eq!(new_rows, new_loans as u64);

        // Principal on the from-date, per currency.
        let mut cells: BTreeMap<String, i128> = BTreeMap::new();
        for c in &r.roll_rates {
            *cells.entry(c.currency.clone()).or_insert(0) += i128::from(c.outstanding_principal_minor_from);
        }
        prop_assert_eq!(nonzero(cells), nonzero(by_currency(first.loans.iter(), |l| l.outstanding_principal_minor)));

        // Each rate's denominator is its (from-bucket, currency) row total.
        let mut row_totals: BTreeMap<(String, String), u64> = BTreeMap::new();
        for c in &r.roll_rates {
            *row_totals.entry((c.from_bucket.clone(), c.currency.clone())).or_insert(0) += c.loans;
        }
        for c in &r.roll_rates {
            prop_assert_eq!(c.roll_rate.num, c.loans);
            prop_assert_eq!(c.roll_rate.den, row_totals[&(c.from_bucket.clone(), c.currency.clone())]);
            prop_assert!(c.loans > 0);
        }
    }

    #[test]
    fn distribution_sums_to_each_day(h in history()) {
        let r = build(&h).unwrap();
        let currencies: BTreeSet<&str> = h.days.iter().flat_map(|d| d.loans.iter().map(|l| l.currency.as_str())).collect();
        prop_assert_eq!(r.distribution.len(), h.days.len() * (BUCKETS.len() + STAGES.len()) * currencies.len());
        for d in &h.days {
            for dim in [Dimension::Bucket, Dimension::Stage] {
                let rows: Vec<_> = r.distribution.iter().filter(|x| x.as_of == d.as_of && x.dimension == dim).collect();
                let loans: u64 = rows.iter().map(|x| x.loans).sum();
                prop_assert_eq!(loans, d.loans.len() as u64);
                let mut overdue: BTreeMap<String, i128> = BTreeMap::new();
                let mut principal: BTreeMap<String, i128> = BTreeMap::new();
                for x in &rows {
                    *overdue.entry(x.currency.clone()).or_insert(0) += i128::from(x.overdue_minor);
                    *principal.entry(x.currency.clone()).or_insert(0) += i128::from(x.outstanding_principal_minor);
                }
                prop_assert_eq!(nonzero(overdue), nonzero(by_currency(d.loans.iter(), |l| l.overdue_minor)));
                prop_assert_eq!(nonzero(principal), nonzero(by_currency(d.loans.iter(), |l| l.outstanding_principal_minor)));
            }
        }
    }

    #[test]
    fn vintage_sums_to_each_month_end_snapshot(h in history()) {
        let r = build(&h).unwrap();
        let snapshots: BTreeSet<_> = r.vintage.iter().map(|v| v.as_of).collect();
        for d in &h.days {
            let last_of_month = h.days.iter().filter(|e| e.as_of.year() == d.as_of.year() && e.as_of.month() == d.as_of.month()).map(|e| e.as_of).max().unwrap();
            let rows: Vec<_> = r.vintage.iter().filter(|v| v.as_of == d.as_of).collect();
            if d.as_of != last_of_month {
                prop_assert!(rows.is_empty(), "{} is not the last snapshot of its month", d.as_of);
                continue;
            }
            prop_assert_eq!(snapshots.contains(&d.as_of), !d.loans.is_empty());
            let loans: u64 = rows.iter().map(|v| v.loans).sum();
            prop_assert_eq!(loans, d.loans.len() as u64);
            let late: u64 = rows.iter().map(|v| v.loans_30_plus).sum();
            prop_assert_eq!(late, d.loans.iter().filter(|l| l.dpd >= 30).count() as u64);
            let mut principal: BTreeMap<String, i128> = BTreeMap::new();
            for v in &rows {
                *principal.entry(v.currency.clone()).or_insert(0) += i128::from(v.outstanding_principal_minor);
                prop_assert!(v.outstanding_30_plus_minor <= v.outstanding_principal_minor);
            }
            prop_assert_eq!(nonzero(principal), nonzero(by_currency(d.loans.iter(), |l| l.outstanding_principal_minor)));
        }
    }

    #[test]
    fn periods_count_the_start_date(h in history()) {
        let r = build(&h).unwrap();
        prop_assert_eq!(r.periods.is_empty(), h.days.len() < 2 || r.distribution.is_empty());
        for pair in h.days.windows(2) {
            let (start, end) = (&pair[0], &pair[1]);
            let rows: Vec<_> = r.periods.iter().filter(|p| p.from_date == start.as_of && p.to_date == end.as_of).collect();
            let delinquent: u64 = rows.iter().map(|p| p.delinquent_start).sum();
            prop_assert_eq!(delinquent, start.loans.iter().filter(|l| l.dpd > 0).count() as u64);
            // Recovery per currency: paid at end minus paid at start of loans delinquent at start.
            let end_paid: BTreeMap<&str, i64> = end.loans.iter().map(|l| (l.loan_id.as_str(), l.paid_minor)).collect();
            let expected = by_currency(
                start.loans.iter().filter(|l| l.dpd > 0 && end_paid.contains_key(l.loan_id.as_str())),
                |l| end_paid[l.loan_id.as_str()] - l.paid_minor,
            );
            let mut got: BTreeMap<String, i128> = BTreeMap::new();
            for p in &rows {
                prop_assert!(p.cured <= p.delinquent_start);
                *got.entry(p.currency.clone()).or_insert(0) += i128::from(p.recovery_minor);
            }
            prop_assert_eq!(nonzero(got), nonzero(expected));
        }
    }
}
