//! Totals of a daily run: loans and amounts per bucket, per stage and per status, kept per
//! currency (amounts in different currencies are never added together).

use crate::loan::{AccountState, AccountStatus};
use arrears_domain::{Config, Currency, Portfolio};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub loans: u64,
    pub overdue_minor: i128,
    pub outstanding_principal_minor: i128,
    pub penalty_accrued_minor: i128,
    pub paid_minor: i128,
}

impl CurrencyTotals {
    fn add(&mut self, s: &AccountState) {
        self.loans += 1;
        self.overdue_minor += i128::from(s.overdue_minor);
        self.outstanding_principal_minor += i128::from(s.outstanding_principal_minor);
        self.penalty_accrued_minor += i128::from(s.penalty_accrued_minor);
        self.paid_minor += i128::from(s.paid_minor);
    }
}

/// One band (bucket, stage or status): loans, and amounts by currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BandTotals {
    pub name: String,
    pub loans: u64,
    pub by_currency: BTreeMap<Currency, CurrencyTotals>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub loans: u64,
    pub buckets: Vec<BandTotals>,
    pub stages: Vec<BandTotals>,
    pub statuses: Vec<BandTotals>,
    pub totals: BTreeMap<Currency, CurrencyTotals>,
}

fn bands(names: impl Iterator<Item = String>) -> Vec<BandTotals> {
    names
        .map(|name| BandTotals {
            name,
            ..Default::default()
        })
        .collect()
}

/// Sums the run's results. `states[i]` belongs to `portfolio.loans[i]`.
pub fn summarize(portfolio: &Portfolio, states: &[AccountState], config: &Config) -> Summary {
    let mut s = Summary {
        loans: states.len() as u64,
        buckets: bands(config.buckets.names().iter().cloned()),
        stages: bands(config.stages.names().iter().cloned()),
        statuses: bands(AccountStatus::ALL.iter().map(|s| s.code().to_owned())),
        totals: BTreeMap::new(),
    };
    for (loan, st) in portfolio.loans.iter().zip(states) {
        let cur = loan.currency;
        let status_ix = AccountStatus::ALL
            .iter()
            .position(|x| *x == st.status)
            .unwrap_or(0);
        for band in [
            s.buckets.get_mut(usize::from(st.bucket)),
            s.stages.get_mut(usize::from(st.stage)),
            s.statuses.get_mut(status_ix),
        ]
        .into_iter()
        .flatten()
        {
            band.loans += 1;
            band.by_currency.entry(cur).or_default().add(st);
        }
        s.totals.entry(cur).or_default().add(st);
    }
    s
}
