//! From a [`History`] to a [`Report`]: checking the input once, then the four reports.
//!
//! Everything here is pure and deterministic: maps are `BTreeMap`s or vectors indexed by the
//! configured order, so the rows come out in the same order for the same history whatever
//! order the loans of a day arrive in. Amounts are summed in `i128` ([`Sum`]) and checked back
//! into `i64` at the end, per currency.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::civil::Date;

use crate::{
    DPD_30_PLUS, Day, Dimension, DistributionRow, History, LoanDay, MISSING_BUCKET, NEW_BUCKET,
    Pct, PeriodRow, Report, ReportError, RollRow, STATUSES, TERMINAL_STATUSES, VintageRow,
};

/// Builds every report of `h`. Pure: no clock, no files.
///
/// Fails when the history is empty or not strictly ascending, when the configured names are
/// empty, repeated or reserved (a bucket may not be called `new`, `missing` or a terminal
/// status, which name roll-rate columns), when a loan is repeated within a day, has an empty
/// id, an unknown status, bucket or stage, a currency that is not three upper-case letters or
/// that changes between days, or a disbursal date after the snapshot, and when a sum does not
/// fit in `i64`.
pub fn build(h: &History) -> Result<Report, ReportError> {
    let checked = Checked::new(h)?;
    let (first, last) = match (h.days.first(), h.days.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => return Err(ReportError::EmptyHistory),
    };
    Ok(Report {
        from: first.as_of,
        to: last.as_of,
        dates: h.days.iter().map(|d| d.as_of).collect(),
        buckets: h.buckets.clone(),
        stages: h.stages.clone(),
        roll_rates: roll_rates(h, &checked, first, last)?,
        periods: periods(h, &checked)?,
        vintage: vintage(h)?,
        distribution: distribution(h, &checked)?,
    })
}

impl Report {
    /// The from-buckets of the roll-rate matrix in display order: the configured buckets, the
    /// terminal statuses (loans already terminal on the from-date), then [`NEW_BUCKET`].
    pub fn roll_from_order(&self) -> Vec<String> {
        let mut order = self.buckets.clone();
        order.extend(TERMINAL_STATUSES.iter().map(|s| s.to_string()));
        order.push(NEW_BUCKET.to_string());
        order
    }

    /// The to-buckets of the roll-rate matrix in display order: the configured buckets, the
    /// terminal statuses, then [`MISSING_BUCKET`].
    pub fn roll_to_order(&self) -> Vec<String> {
        let mut order = self.buckets.clone();
        order.extend(TERMINAL_STATUSES.iter().map(|s| s.to_string()));
        order.push(MISSING_BUCKET.to_string());
        order
    }
}

/// A sum of minor units that cannot overflow while adding (`i128` holds 2^64 `i64`s) and is
/// checked into `i64` once, when the row is made.
#[derive(Debug, Clone, Copy, Default)]
struct Sum(i128);

impl Sum {
    fn add(&mut self, amount_minor: i64) {
        self.0 += i128::from(amount_minor);
    }

    fn add_difference(&mut self, later_minor: i64, earlier_minor: i64) {
        self.0 += i128::from(later_minor) - i128::from(earlier_minor);
    }

    fn finish(self, what: &'static str) -> Result<i64, ReportError> {
        i64::try_from(self.0).map_err(|_| ReportError::Overflow { what })
    }
}

/// What checking the history found out, kept for the reports: every loan of every day by id,
/// and the currencies of the history in code order.
struct Checked<'h> {
    by_id: Vec<HashMap<&'h str, &'h LoanDay>>,
    currencies: Vec<&'h str>,
}

impl<'h> Checked<'h> {
    fn new(h: &'h History) -> Result<Self, ReportError> {
        if h.days.is_empty() {
            return Err(ReportError::EmptyHistory);
        }
        for pair in h.days.windows(2) {
            if let [a, b] = pair
                && a.as_of >= b.as_of
            {
                return Err(ReportError::DatesNotAscending {
                    prev: a.as_of,
                    next: b.as_of,
                });
            }
        }
        check_names("bucket", &h.buckets, true)?;
        check_names("stage", &h.stages, false)?;
        let buckets: BTreeSet<&str> = h.buckets.iter().map(String::as_str).collect();
        let stages: BTreeSet<&str> = h.stages.iter().map(String::as_str).collect();

        let mut currency_of: HashMap<&str, &str> = HashMap::new();
        let mut currencies = BTreeSet::new();
        let mut by_id = Vec::with_capacity(h.days.len());
        for day in &h.days {
            let mut ids = HashMap::with_capacity(day.loans.len());
            for loan in &day.loans {
                check_loan(day.as_of, loan, &buckets, &stages)?;
                if ids.insert(loan.loan_id.as_str(), loan).is_some() {
                    return Err(ReportError::DuplicateLoan {
                        as_of: day.as_of,
                        loan_id: loan.loan_id.clone(),
                    });
                }
                let before = *currency_of
                    .entry(loan.loan_id.as_str())
                    .or_insert(loan.currency.as_str());
                if before != loan.currency {
                    return Err(ReportError::CurrencyChanged {
                        as_of: day.as_of,
                        loan_id: loan.loan_id.clone(),
                        before: before.to_string(),
                        after: loan.currency.clone(),
                    });
                }
                currencies.insert(loan.currency.as_str());
            }
            by_id.push(ids);
        }
        Ok(Checked {
            by_id,
            currencies: currencies.into_iter().collect(),
        })
    }
}

fn check_names(
    dimension: &'static str,
    names: &[String],
    is_bucket: bool,
) -> Result<(), ReportError> {
    if names.is_empty() {
        return Err(ReportError::EmptyConfig { dimension });
    }
    let mut seen = BTreeSet::new();
    for name in names {
        let reserved = is_bucket
            && (name == NEW_BUCKET
                || name == MISSING_BUCKET
                || TERMINAL_STATUSES.contains(&name.as_str()));
        if name.is_empty() || reserved || !seen.insert(name.as_str()) {
            return Err(ReportError::BadConfiguredName {
                dimension,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

fn check_loan(
    as_of: Date,
    loan: &LoanDay,
    buckets: &BTreeSet<&str>,
    stages: &BTreeSet<&str>,
) -> Result<(), ReportError> {
    if loan.loan_id.is_empty() {
        return Err(ReportError::EmptyLoanId { as_of });
    }
    let unknown = |field: &'static str, value: &str| ReportError::UnknownValue {
        as_of,
        loan_id: loan.loan_id.clone(),
        field,
        value: value.to_string(),
    };
    if !STATUSES.contains(&loan.status.as_str()) {
        return Err(unknown("status", &loan.status));
    }
    if !buckets.contains(loan.bucket.as_str()) {
        return Err(unknown("bucket", &loan.bucket));
    }
    if !stages.contains(loan.stage.as_str()) {
        return Err(unknown("stage", &loan.stage));
    }
    let iso = loan.currency.len() == 3 && loan.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !iso {
        return Err(ReportError::BadCurrency {
            as_of,
            loan_id: loan.loan_id.clone(),
            currency: loan.currency.clone(),
        });
    }
    if loan.disbursed_on > as_of {
        return Err(ReportError::DisbursedAfterSnapshot {
            as_of,
            loan_id: loan.loan_id.clone(),
            disbursed_on: loan.disbursed_on,
        });
    }
    Ok(())
}

fn is_terminal(status: &str) -> bool {
    TERMINAL_STATUSES.contains(&status)
}

/// Where a loan stands in the matrix: its terminal status if it has one, else its bucket.
fn matrix_label(loan: &LoanDay) -> &str {
    if is_terminal(&loan.status) {
        &loan.status
    } else {
        &loan.bucket
    }
}

fn roll_rates(
    h: &History,
    checked: &Checked<'_>,
    first: &Day,
    last: &Day,
) -> Result<Vec<RollRow>, ReportError> {
    let nb = h.buckets.len();
    // Positions in `Report::roll_from_order` / `roll_to_order`; the key of a cell is
    // (from position, to position, currency), so the map iterates in display order.
    let position = |label: &str| -> usize {
        h.buckets
            .iter()
            .position(|b| b == label)
            .or_else(|| {
                TERMINAL_STATUSES
                    .iter()
                    .position(|s| *s == label)
                    .map(|i| nb + i)
            })
            .unwrap_or(nb + TERMINAL_STATUSES.len())
    };
    let first_ids = checked.by_id.first();
    let last_ids = checked.by_id.last();
    let (Some(first_ids), Some(last_ids)) = (first_ids, last_ids) else {
        return Err(ReportError::EmptyHistory);
    };

    let mut cells: BTreeMap<(usize, usize, &str), (u64, Sum)> = BTreeMap::new();
    let mut rows_of: BTreeMap<(usize, &str), u64> = BTreeMap::new();
    for loan in &first.loans {
        let from = position(matrix_label(loan));
        let to = match last_ids.get(loan.loan_id.as_str()) {
            Some(later) => position(matrix_label(later)),
            // Not a bucket or status name, so `position` puts it after them all.
            None => position(MISSING_BUCKET),
        };
        let cell = cells.entry((from, to, loan.currency.as_str())).or_default();
        cell.0 += 1;
        cell.1.add(loan.outstanding_principal_minor);
        *rows_of.entry((from, loan.currency.as_str())).or_default() += 1;
    }
    let new_row = nb + TERMINAL_STATUSES.len();
    for loan in &last.loans {
        if first_ids.contains_key(loan.loan_id.as_str()) {
            continue;
        }
        let to = position(matrix_label(loan));
        let cell = cells
            .entry((new_row, to, loan.currency.as_str()))
            .or_default();
        cell.0 += 1;
        *rows_of
            .entry((new_row, loan.currency.as_str()))
            .or_default() += 1;
    }

    let report_from = |i: usize| -> String {
        if i < nb {
            h.buckets[i].clone()
        } else {
            TERMINAL_STATUSES
                .get(i - nb)
                .map_or(NEW_BUCKET, |s| *s)
                .to_string()
        }
    };
    let report_to = |i: usize| -> String {
        if i < nb {
            h.buckets[i].clone()
        } else {
            TERMINAL_STATUSES
                .get(i - nb)
                .map_or(MISSING_BUCKET, |s| *s)
                .to_string()
        }
    };
    let mut rows = Vec::with_capacity(cells.len());
    for ((from, to, currency), (loans, principal)) in cells {
        let of = rows_of.get(&(from, currency)).copied().unwrap_or(0);
        rows.push(RollRow {
            from_date: first.as_of,
            to_date: last.as_of,
            from_bucket: report_from(from),
            to_bucket: report_to(to),
            loans,
            outstanding_principal_minor_from: principal
                .finish("outstanding principal of a roll-rate cell")?,
            currency: currency.to_string(),
            roll_rate: Pct::new(loans, of),
        });
    }
    Ok(rows)
}

#[derive(Default)]
struct PeriodSums {
    delinquent_start: u64,
    cured: u64,
    flow_to_write_off: u64,
    flow_to_write_off_principal: Sum,
    recovery: Sum,
}

fn periods(h: &History, checked: &Checked<'_>) -> Result<Vec<PeriodRow>, ReportError> {
    let mut rows = Vec::new();
    for (i, pair) in h.days.windows(2).enumerate() {
        let [start, end] = pair else { continue };
        let Some(end_ids) = checked.by_id.get(i + 1) else {
            continue;
        };
        // Every currency of the history gets a row in every period, zeros included, so the
        // table has the same shape for every period.
        let mut sums: BTreeMap<&str, PeriodSums> = checked
            .currencies
            .iter()
            .map(|c| (*c, PeriodSums::default()))
            .collect();
        for loan in &start.loans {
            let later = end_ids.get(loan.loan_id.as_str());
            let s = sums.entry(loan.currency.as_str()).or_default();
            if loan.dpd > 0 {
                s.delinquent_start += 1;
                if let Some(later) = later {
                    if later.dpd == 0 || later.status == "paid_off" {
                        s.cured += 1;
                    }
                    s.recovery.add_difference(later.paid_minor, loan.paid_minor);
                }
            }
            if loan.status != "written_off"
                && later.is_some_and(|later| later.status == "written_off")
            {
                s.flow_to_write_off += 1;
                s.flow_to_write_off_principal
                    .add(loan.outstanding_principal_minor);
            }
        }
        for (currency, s) in sums {
            rows.push(PeriodRow {
                from_date: start.as_of,
                to_date: end.as_of,
                delinquent_start: s.delinquent_start,
                cured: s.cured,
                cure_rate: Pct::new(s.cured, s.delinquent_start),
                flow_to_write_off: s.flow_to_write_off,
                flow_to_write_off_principal_minor: s
                    .flow_to_write_off_principal
                    .finish("outstanding principal flowing to write-off")?,
                recovery_minor: s.recovery.finish("recovery of a period")?,
                currency: currency.to_string(),
            });
        }
    }
    Ok(rows)
}

/// Months since year 0 of a date's month, so that month differences are a subtraction.
fn month_number(d: Date) -> i32 {
    i32::from(d.year()) * 12 + i32::from(d.month()) - 1
}

#[derive(Default)]
struct VintageSums {
    loans: u64,
    loans_30_plus: u64,
    principal: Sum,
    principal_30_plus: Sum,
}

fn vintage(h: &History) -> Result<Vec<VintageRow>, ReportError> {
    // The last snapshot of each calendar month: days ascend, so a later day of the same
    // month replaces an earlier one.
    let mut month_end: BTreeMap<i32, &Day> = BTreeMap::new();
    for day in &h.days {
        month_end.insert(month_number(day.as_of), day);
    }
    // Keyed by (disbursal month, months on book, currency); the snapshot date follows from
    // the first two, as there is one snapshot per month.
    let mut cells: BTreeMap<(i32, u32, &str), (Date, VintageSums)> = BTreeMap::new();
    for (snapshot_month, day) in month_end {
        for loan in &day.loans {
            let disbursed = month_number(loan.disbursed_on);
            // `build` checked disbursed_on <= as_of, so this is never negative.
            let mob = u32::try_from(snapshot_month - disbursed).map_err(|_| {
                ReportError::DisbursedAfterSnapshot {
                    as_of: day.as_of,
                    loan_id: loan.loan_id.clone(),
                    disbursed_on: loan.disbursed_on,
                }
            })?;
            let (_, s) = cells
                .entry((disbursed, mob, loan.currency.as_str()))
                .or_insert_with(|| (day.as_of, VintageSums::default()));
            s.loans += 1;
            s.principal.add(loan.outstanding_principal_minor);
            if loan.dpd >= DPD_30_PLUS {
                s.loans_30_plus += 1;
                s.principal_30_plus.add(loan.outstanding_principal_minor);
            }
        }
    }
    let mut rows = Vec::with_capacity(cells.len());
    for ((disbursed, mob, currency), (as_of, s)) in cells {
        rows.push(VintageRow {
            vintage: format!(
                "{:04}-{:02}",
                disbursed.div_euclid(12),
                disbursed.rem_euclid(12) + 1
            ),
            months_on_book: mob,
            as_of,
            loans: s.loans,
            loans_30_plus: s.loans_30_plus,
            rate_30_plus: Pct::new(s.loans_30_plus, s.loans),
            outstanding_principal_minor: s
                .principal
                .finish("outstanding principal of a vintage")?,
            outstanding_30_plus_minor: s
                .principal_30_plus
                .finish("outstanding principal 30+ of a vintage")?,
            currency: currency.to_string(),
        });
    }
    Ok(rows)
}

#[derive(Default, Clone, Copy)]
struct DistributionSums {
    loans: u64,
    overdue: Sum,
    principal: Sum,
}

fn distribution(h: &History, checked: &Checked<'_>) -> Result<Vec<DistributionRow>, ReportError> {
    let nc = checked.currencies.len();
    let mut rows = Vec::new();
    for day in &h.days {
        for (dimension, values) in [
            (Dimension::Bucket, &h.buckets),
            (Dimension::Stage, &h.stages),
        ] {
            // One slot per (configured value, currency), in display order.
            let mut sums = vec![DistributionSums::default(); values.len() * nc];
            for loan in &day.loans {
                let value = match dimension {
                    Dimension::Bucket => &loan.bucket,
                    Dimension::Stage => &loan.stage,
                };
                let v = values.iter().position(|x| x == value);
                let c = checked
                    .currencies
                    .binary_search(&loan.currency.as_str())
                    .ok();
                // `build` checked every bucket, stage and currency, so both are found.
                if let (Some(v), Some(c)) = (v, c)
                    && let Some(s) = sums.get_mut(v * nc + c)
                {
                    s.loans += 1;
                    s.overdue.add(loan.overdue_minor);
                    s.principal.add(loan.outstanding_principal_minor);
                }
            }
            for (slot, s) in sums.into_iter().enumerate() {
                let (Some(value), Some(currency)) =
                    (values.get(slot / nc), checked.currencies.get(slot % nc))
                else {
                    continue;
                };
                rows.push(DistributionRow {
                    as_of: day.as_of,
                    dimension,
                    value: value.clone(),
                    loans: s.loans,
                    overdue_minor: s.overdue.finish("overdue of a distribution row")?,
                    outstanding_principal_minor: s
                        .principal
                        .finish("outstanding principal of a distribution row")?,
                    currency: currency.to_string(),
                });
            }
        }
    }
    Ok(rows)
}
