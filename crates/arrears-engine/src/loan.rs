//! One loan on one business date: the waterfall, dpd, overdue components and penalty.
//!
//! Allocation is strictly sequential (installments in seq order; fee, interest, principal
//! within each), so with prefix sums over the schedule every quantity is a function of the
//! amount paid P alone: the first installment P does not cover is a binary search, the
//! overdue principal of any prefix is a subtraction. The penalty sums `base(t)` over days by
//! sweeping the days where base can change (an installment falls due, a payment is booked,
//! a reversal is booked), so a loan costs O((installments + payments) · log) whatever the
//! number of days.

use crate::days::{BookingClock, date_from_epoch_day, epoch_day};
use arrears_domain::portfolio::{Installment, LoanStatus, Payment};
use arrears_domain::{Bps, Config};
use jiff::civil::Date;

/// What the daily run reports for a loan, per `docs/delinquency.md` section 6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub status: AccountStatus,
    pub dpd: u32,
    /// Indexes into the config's buckets and stages.
    pub bucket: u16,
    pub stage: u16,
    pub due_to_date_minor: i64,
    pub paid_minor: i64,
    pub overdue_minor: i64,
    pub overdue_fee_minor: i64,
    pub overdue_interest_minor: i64,
    pub overdue_principal_minor: i64,
    pub outstanding_principal_minor: i64,
    pub penalty_accrued_minor: i64,
    pub penalty_paid_minor: i64,
    pub penalty_rate_capped: bool,
    pub credit_minor: i64,
    pub oldest_unpaid_due_date: Option<Date>,
    pub last_payment_date: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountStatus {
    Current,
    Delinquent,
    PaidOff,
    WrittenOff,
    Sold,
    Closed,
}

impl AccountStatus {
    pub const ALL: [AccountStatus; 6] = [
        AccountStatus::Current,
        AccountStatus::Delinquent,
        AccountStatus::PaidOff,
        AccountStatus::WrittenOff,
        AccountStatus::Sold,
        AccountStatus::Closed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AccountStatus::Current => "current",
            AccountStatus::Delinquent => "delinquent",
            AccountStatus::PaidOff => "paid_off",
            AccountStatus::WrittenOff => "written_off",
            AccountStatus::Sold => "sold",
            AccountStatus::Closed => "closed",
        }
    }
}

/// Everything the engine needs about one loan. Installments are in seq order with
/// non-decreasing due dates (the portfolio builder guarantees it).
#[derive(Debug, Clone, Copy)]
pub struct LoanFacts<'a> {
    pub status: LoanStatus,
    pub annual_rate: Bps,
    pub penalty_rate: Bps,
    pub cost_cap: Option<Bps>,
    /// The last day (an epoch day, inclusive) on which the penalty base is zero whatever is
    /// overdue: a GB breathing-space moratorium (GB-BREATHING-SPACE: no interest or charges)
    /// that ends on that day. `None`: no such period.
    pub penalty_free_through: Option<i32>,
    pub installments: &'a [Installment],
    pub payments: &'a [Payment],
}

/// Reusable buffers, one per worker thread.
#[derive(Debug, Default)]
pub struct Scratch {
    due_days: Vec<i32>,
    /// Cumulative (fee, interest, principal, total) through installment i (exclusive prefix
    /// at index 0 is zero).
    cum: Vec<[i128; 4]>,
    /// (day from which the change applies, change in P); installment due-day changes are
    /// derived from `due_days`.
    events: Vec<(i32, i128)>,
}

/// The sequential waterfall over a schedule, as prefix sums.
struct Waterfall<'s> {
    inst: &'s [Installment],
    cum: &'s [[i128; 4]],
}

const FEE: usize = 0;
const INT: usize = 1;
const PRIN: usize = 2;
const TOT: usize = 3;

impl Waterfall<'_> {
    fn total(&self) -> i128 {
        self.cum.last().map_or(0, |c| c[TOT])
    }

    /// Number of installments P pays in full (a prefix).
    fn fully_paid(&self, p: i128) -> usize {
        // cum[0] = 0 <= p always; cum[i] is through installment i-1.
        self.cum
            .partition_point(|c| c[TOT] <= p)
            .saturating_sub(1)
            .min(self.inst.len())
    }

    /// Paid (fee, interest, principal) of installment `m`, the first not paid in full.
    fn partial(&self, m: usize, p: i128) -> [i128; 3] {
        let Some(i) = self.inst.get(m) else {
            return [0; 3];
        };
        let mut rem = (p - self.cum[m][TOT]).max(0);
        let mut take = |amount: i128| {
            let t = rem.min(amount);
            rem -= t;
            t
        };
        let fee = take(i128::from(i.fee.get()));
        let int = take(i128::from(i.interest.get()));
        let prin = take(i128::from(i.principal.get()));
        [fee, int, prin]
    }

    /// Unpaid (fee, interest, principal) of the first `k` installments after allocating P.
    fn unpaid_prefix(&self, k: usize, p: i128) -> [i128; 3] {
        let k = k.min(self.inst.len());
        let m = self.fully_paid(p);
        if k <= m {
            return [0; 3];
        }
        let paid = self.partial(m, p);
        let mut out = [0; 3];
        for c in 0..3 {
            out[c] = self.cum[k][c] - self.cum[m][c] - paid[c];
        }
        out
    }
}

/// `num / den` rounded half to even (`den > 0`): the one rounding of the engine, used by the
/// penalty, the sale price, the settlement discount and the agency commission.
pub(crate) fn round_half_even(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// Penalty rate after the cost cap, and whether the cap lowered it.
pub fn effective_penalty_rate(annual: Bps, penalty: Bps, cap: Option<Bps>) -> (u32, bool) {
    match cap {
        None => (penalty.get(), false),
        Some(cap) => {
            let room = cap.get().saturating_sub(annual.get());
            let eff = penalty.get().min(room);
            (eff, eff < penalty.get())
        }
    }
}

/// Evaluates one loan on `as_of_day` (an epoch day). `Err` names a sum that overflowed i64.
pub fn evaluate_loan(
    f: &LoanFacts<'_>,
    as_of_day: i32,
    clock: &BookingClock,
    config: &Config,
    s: &mut Scratch,
) -> Result<AccountState, &'static str> {
    s.due_days.clear();
    s.due_days
        .extend(f.installments.iter().map(|i| epoch_day(i.due_date)));
    s.cum.clear();
    s.cum.push([0; 4]);
    let mut acc = [0i128; 4];
    for i in f.installments {
        acc[FEE] += i128::from(i.fee.get());
        acc[INT] += i128::from(i.interest.get());
        acc[PRIN] += i128::from(i.principal.get());
        acc[TOT] = acc[FEE] + acc[INT] + acc[PRIN];
        s.cum.push(acc);
    }
    let wf = Waterfall {
        inst: f.installments,
        cum: &s.cum,
    };

    // Payments: a payment counts from the day after its booking date (for the penalty's
    // "booked before t") until the day after its reversal's booking date. P as of D is the
    // sum active at D + 1. A reversal booked on or before the payment's own booking day
    // means the payment never counts.
    s.events.clear();
    let mut p_as_of: i128 = 0;
    let mut last_payment_day: Option<i32> = None;
    for pay in f.payments {
        let booked = clock.day_of(pay.received_at);
        let cancelled = pay.cancelled_at.map(|c| clock.day_of(c));
        let amount = i128::from(pay.amount.get());
        let until = cancelled.unwrap_or(i32::MAX);
        if until > booked {
            s.events.push((booked + 1, amount));
            if until != i32::MAX {
                s.events.push((until + 1, -amount));
            }
        }
        if booked <= as_of_day && until > as_of_day {
            p_as_of += amount;
            last_payment_day = Some(last_payment_day.map_or(booked, |d: i32| d.max(booked)));
        }
    }
    s.events.sort_unstable_by_key(|e| e.0);

    let total = wf.total();
    let n = f.installments.len();
    let due_before_d = s.due_days.partition_point(|&d| d < as_of_day);
    let due_to_date = wf.cum[due_before_d][TOT];
    let overdue = (due_to_date - p_as_of.min(total)).max(0);
    let unpaid = wf.unpaid_prefix(due_before_d, p_as_of);
    debug_assert_eq!(unpaid[0] + unpaid[1] + unpaid[2], overdue);

    let m = wf.fully_paid(p_as_of);
    let (dpd, oldest) = if overdue > i128::from(config.tolerance_minor) && m < n {
        let due = s.due_days[m];
        (
            (as_of_day - due).max(0) as u32,
            Some(f.installments[m].due_date),
        )
    } else {
        (0, None)
    };
    let prin_paid = if m >= n {
        wf.cum[n][PRIN]
    } else {
        wf.cum[m][PRIN] + wf.partial(m, p_as_of)[2]
    };
    let outstanding_principal = wf.cum[n][PRIN] - prin_paid;

    // Penalty: sum over days t <= D of base(t), the principal of installments due before t
    // left unpaid by payments active on t. Sweep the days where base can change.
    let (rate, capped) = effective_penalty_rate(f.annual_rate, f.penalty_rate, f.cost_cap);
    let mut base_days: i128 = 0;
    if rate > 0 && n > 0 {
        let end = as_of_day + 1; // exclusive
        // The first day anything can be overdue; during a breathing space (through U) the
        // base is zero, so the sum starts the day after U. The moratorium's start is not on
        // record, so every day up to U gets the benefit of the doubt. Events and due dates
        // before the start are caught up by the loops below.
        let first_overdue = s.due_days[0] + 1;
        let mut t = match f.penalty_free_through {
            Some(u) => first_overdue.max(u.saturating_add(1)),
            None => first_overdue,
        };
        let mut p: i128 = 0;
        let mut ev = 0;
        let mut k = 0; // installments due before t
        while t < end {
            while ev < s.events.len() && s.events[ev].0 <= t {
                p += s.events[ev].1;
                ev += 1;
            }
            while k < n && s.due_days[k] < t {
                k += 1;
            }
            let next_event = s.events.get(ev).map_or(i32::MAX, |e| e.0);
            let next_due = s.due_days.get(k).map_or(i32::MAX, |d| d + 1);
            let next = next_event.min(next_due).min(end);
            let base = wf.unpaid_prefix(k, p)[2];
            base_days += base * i128::from(next - t);
            t = next;
        }
    }
    let penalty_accrued = round_half_even(base_days * i128::from(rate), 10_000 * 365);
    let surplus = (p_as_of - total).max(0);
    let penalty_paid = penalty_accrued.min(surplus);
    let credit = surplus - penalty_paid;

    let status = if p_as_of >= total {
        AccountStatus::PaidOff
    } else {
        match f.status {
            LoanStatus::WrittenOff => AccountStatus::WrittenOff,
            LoanStatus::Sold => AccountStatus::Sold,
            LoanStatus::Closed => AccountStatus::Closed,
            LoanStatus::Active if dpd > 0 => AccountStatus::Delinquent,
            LoanStatus::Active => AccountStatus::Current,
        }
    };
    let to64 = |v: i128, what: &'static str| i64::try_from(v).map_err(|_| what);
    Ok(AccountState {
        status,
        dpd,
        bucket: config.buckets.index_of(dpd) as u16,
        stage: config.stages.index_of(dpd) as u16,
        due_to_date_minor: to64(due_to_date, "due_to_date_minor")?,
        paid_minor: to64(p_as_of, "paid_minor")?,
        overdue_minor: to64(overdue, "overdue_minor")?,
        overdue_fee_minor: to64(unpaid[0], "overdue_fee_minor")?,
        overdue_interest_minor: to64(unpaid[1], "overdue_interest_minor")?,
        overdue_principal_minor: to64(unpaid[2], "overdue_principal_minor")?,
        outstanding_principal_minor: to64(outstanding_principal, "outstanding_principal_minor")?,
        penalty_accrued_minor: to64(penalty_accrued, "penalty_accrued_minor")?,
        penalty_paid_minor: to64(penalty_paid, "penalty_paid_minor")?,
        penalty_rate_capped: capped,
        credit_minor: to64(credit, "credit_minor")?,
        oldest_unpaid_due_date: oldest,
        last_payment_date: last_payment_day.map(date_from_epoch_day),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even() {
        assert_eq!(round_half_even(5, 10), 0);
        assert_eq!(round_half_even(15, 10), 2);
        assert_eq!(round_half_even(25, 10), 2);
        assert_eq!(round_half_even(26, 10), 3);
        assert_eq!(round_half_even(24, 10), 2);
        assert_eq!(round_half_even(0, 10), 0);
    }

    #[test]
    fn cap() {
        let b = Bps::new_const;
        assert_eq!(
            effective_penalty_rate(b(2000), b(1000), Some(b(2400))),
            (400, true)
        );
        assert_eq!(
            effective_penalty_rate(b(3000), b(1000), Some(b(2400))),
            (0, true)
        );
        assert_eq!(
            effective_penalty_rate(b(1000), b(1000), Some(b(2400))),
            (1000, false)
        );
        assert_eq!(
            effective_penalty_rate(b(3000), b(0), Some(b(2400))),
            (0, false)
        );
        assert_eq!(
            effective_penalty_rate(b(3000), b(5000), None),
            (5000, false)
        );
    }
}
