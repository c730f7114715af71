//! Pack rules that are not about one contact: record retention (CN-RECORDS, US-RECORDS), the
//! US validation period (US-VALIDATION), the penalty-interest cap (ALL-FEE-CAP with CN-COST /
//! US-COST), charge-off (US-CHARGEOFF) and the CN credit-dispute deadline (CN-CREDIT). Each is
//! a pure function of the pack and dates or instants passed in.

use crate::pack::Pack;
use crate::params::RetentionAnchor;
use crate::rule::RuleId;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// Deleting a record now would break the pack's retention rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{rule_id}: the record must be kept until {earliest_deletion}")]
pub struct RetentionHold {
    pub rule_id: RuleId,
    pub earliest_deletion: Timestamp,
}

/// Whether a collection record may be deleted at `at`. CN counts the retention from the
/// record's own instant, US from the last collection activity on the debt; a pack without a
/// records rule holds nothing. Years are calendar years in UTC, and a record made on 29
/// February is kept until 1 March so that the full number of years always passes.
pub fn check_deletion(
    pack: &Pack,
    record_at: Timestamp,
    last_activity_at: Timestamp,
    at: Timestamp,
) -> Result<(), RetentionHold> {
    let Some((rule_id, p)) = pack.records() else {
        return Ok(());
    };
    let anchor = match p.counted_from {
        RetentionAnchor::Record => record_at,
        RetentionAnchor::LastActivity => last_activity_at.max(record_at),
    };
    // A date past jiff's range cannot be reached by `at` either: keep the record.
    let earliest_deletion = add_full_years(anchor, p.retention_years).unwrap_or(Timestamp::MAX);
    if at < earliest_deletion {
        Err(RetentionHold {
            rule_id,
            earliest_deletion,
        })
    } else {
        Ok(())
    }
}

fn add_full_years(at: Timestamp, years: u32) -> Option<Timestamp> {
    let start = at.to_zoned(TimeZone::UTC);
    let end = start
        .checked_add(Span::new().years(i64::from(years)))
        .ok()?;
    // Adding years to 29 February lands on 28 February: one day short of full years.
    let end = if end.day() != start.day() {
        end.checked_add(Span::new().days(1)).ok()?
    } else {
        end
    };
    Some(end.timestamp())
}

/// The last day of the US validation period for validation information provided on
/// `provided_on`: receipt is assumed `receipt_business_days` business days later (excluding
/// Saturdays, Sundays and the legal public holidays of 5 U.S.C. 6103(a) on their dates), and
/// the period ends `validation_period_days` days after that. `None` for a pack without
/// US-VALIDATION.
pub fn validation_period_end(pack: &Pack, provided_on: Date) -> Option<Date> {
    let v = pack.validation()?;
    let mut day = provided_on;
    let mut counted = 0;
    while counted < v.receipt_business_days {
        day = day.tomorrow().ok()?;
        if is_us_business_day(day) {
            counted += 1;
        }
    }
    day.checked_add(Span::new().days(i64::from(v.validation_period_days)))
        .ok()
}

/// Not a Saturday, Sunday or legal public holiday (5 U.S.C. 6103(a)).
pub fn is_us_business_day(d: Date) -> bool {
    !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_us_legal_holiday(d)
}

fn is_us_legal_holiday(d: Date) -> bool {
    let (m, day) = (d.month(), d.day());
    let nth = |n: i8, w: Weekday| d.nth_weekday_of_month(n, w).is_ok_and(|h| h == d);
    match m {
        1 => day == 1 || nth(3, Weekday::Monday),
        2 => nth(3, Weekday::Monday),
        5 => nth(-1, Weekday::Monday),
        6 => day == 19,
        7 => day == 4,
        9 => nth(1, Weekday::Monday),
        10 => nth(2, Weekday::Monday),
        11 => day == 11 || nth(4, Weekday::Thursday),
        12 => day == 25,
        _ => false,
    }
}

/// A penalty rate after the pack's annual cost cap (delinquency spec section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CappedPenalty {
    pub rate_bps: u32,
    /// The cap lowered the rate.
    pub capped: bool,
}

/// `min(penalty, max(0, cap - annual))`; a pack without a cap leaves the rate as it is.
pub fn effective_penalty_rate_bps(
    pack: &Pack,
    annual_rate_bps: u32,
    penalty_rate_bps: u32,
) -> CappedPenalty {
    match pack.max_annual_cost_bps() {
        Some(cap) => {
            let room = cap.saturating_sub(annual_rate_bps);
            CappedPenalty {
                rate_bps: penalty_rate_bps.min(room),
                capped: penalty_rate_bps > room,
            }
        }
        None => CappedPenalty {
            rate_bps: penalty_rate_bps,
            capped: false,
        },
    }
}

/// Whether a closed-end loan `dpd` days past due is to be proposed for charge-off
/// (US-CHARGEOFF). Always false for a pack without the rule.
pub fn charge_off_due(pack: &Pack, dpd: u32) -> bool {
    pack.charge_off().is_some_and(|c| dpd >= c.dpd)
}

/// The date by which a credit dispute opened on `opened_on` must be answered (CN-CREDIT).
pub fn credit_dispute_answer_due(pack: &Pack, opened_on: Date) -> Option<Date> {
    let c = pack.cn_credit()?;
    opened_on
        .checked_add(Span::new().days(i64::from(c.dispute_response_days)))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn retention_counts_full_years_from_the_right_anchor() {
        let cn = Pack::embedded("CN").unwrap();
        let rec = ts("2024-02-29T10:00:00Z");
        let hold = check_deletion(&cn, rec, rec, ts("2029-02-28T23:00:00Z")).unwrap_err();
        assert_eq!(hold.rule_id, RuleId::CnRecords);
        assert_eq!(hold.earliest_deletion, ts("2029-03-01T10:00:00Z"));
        assert_eq!(
            check_deletion(&cn, rec, rec, ts("2029-03-01T10:00:00Z")),
            Ok(())
        );

        let us = Pack::embedded("US").unwrap();
        let rec = ts("2020-01-01T00:00:00Z");
        let last = ts("2025-06-01T00:00:00Z");
        let hold = check_deletion(&us, rec, last, ts("2027-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(
            (hold.rule_id, hold.earliest_deletion),
            (RuleId::UsRecords, ts("2028-06-01T00:00:00Z"))
        );
        let gb = Pack::embedded("GB").unwrap();
        assert_eq!(check_deletion(&gb, rec, rec, rec), Ok(()));
    }

    #[test]
    fn validation_period_skips_weekends_and_holidays() {
        let us = Pack::embedded("US").unwrap();
        // Mon 2026-11-09; Wed 11-11 is Veterans Day: receipt assumed Tue 11-17, end 12-17.
        assert_eq!(
            validation_period_end(&us, date(2026, 11, 9)),
            Some(date(2026, 12, 17))
        );
        // Thanksgiving 2026 is Thu 11-26.
        assert!(!is_us_business_day(date(2026, 11, 26)));
        assert!(is_us_business_day(date(2026, 11, 27)));
        assert!(!is_us_business_day(date(2026, 5, 25)));
        assert_eq!(
            validation_period_end(&Pack::embedded("CN").unwrap(), date(2026, 11, 9)),
            None
        );
    }

    #[test]
    fn penalty_cap_and_charge_off() {
        let cn = Pack::embedded("CN").unwrap();
        assert_eq!(
            effective_penalty_rate_bps(&cn, 1800, 1000),
            CappedPenalty {
                rate_bps: 600,
                capped: true
            }
        );
        assert_eq!(
            effective_penalty_rate_bps(&cn, 3000, 1000),
            CappedPenalty {
                rate_bps: 0,
                capped: true
            }
        );
        assert_eq!(
            effective_penalty_rate_bps(&cn, 1000, 500),
            CappedPenalty {
                rate_bps: 500,
                capped: false
            }
        );
        let us = Pack::embedded("US").unwrap();
        assert_eq!(
            effective_penalty_rate_bps(&us, 3000, 1000),
            CappedPenalty {
                rate_bps: 1000,
                capped: false
            }
        );
        assert!(!charge_off_due(&us, 119));
        assert!(charge_off_due(&us, 120));
        assert!(!charge_off_due(&cn, 500));
        assert_eq!(
            credit_dispute_answer_due(&cn, date(2026, 11, 20)),
            Some(date(2026, 12, 10))
        );
    }
}
