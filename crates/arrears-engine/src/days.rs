//! Calendar days as integers, and booking dates of instants in the business time zone.

use arrears_domain::TimeZoneName;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Days since 1970-01-01 (proleptic Gregorian), so that `b - a` is the number of days
/// between two dates. Howard Hinnant's `days_from_civil`.
pub fn epoch_day(d: Date) -> i32 {
    let (y, m, day) = (
        i32::from(d.year()),
        i32::from(d.month()),
        i32::from(d.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `epoch_day`.
pub fn date_from_epoch_day(z: i32) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    // Proven: inputs come from epoch_day of valid jiff dates, so the parts are in range.
    Date::new(y as i16, m as i8, d as i8).unwrap_or(Date::MIN)
}

/// Booking date of an instant: its calendar date in the business time zone. A fixed-offset
/// zone (UTC, most often) is a division; any other zone asks jiff, which knows its DST rules.
#[derive(Debug, Clone)]
pub struct BookingClock {
    fixed_offset_secs: Option<i64>,
    tz: TimeZone,
}

impl BookingClock {
    pub fn new(zone: &TimeZoneName) -> Self {
        let tz = zone.tz().clone();
        let fixed_offset_secs = tz.to_fixed_offset().ok().map(|o| i64::from(o.seconds()));
        BookingClock {
            fixed_offset_secs,
            tz,
        }
    }

    pub fn day_of(&self, at: Timestamp) -> i32 {
        match self.fixed_offset_secs {
            // Proven: jiff timestamps span years -9999..=9999, so the day fits i32.
            Some(off) => (at.as_second() + off).div_euclid(86_400) as i32,
            None => epoch_day(self.tz.to_datetime(at).date()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(epoch_day(jiff::civil::date(1970, 1, 1)), 0);
        assert_eq!(
            epoch_day(jiff::civil::date(2026, 11, 28)) - epoch_day(jiff::civil::date(2026, 11, 27)),
            1
        );
        assert_eq!(
            epoch_day(jiff::civil::date(2028, 3, 1)) - epoch_day(jiff::civil::date(2028, 2, 28)),
            2
        );
    }

    #[test]
    fn booking_in_business_zone() {
        let sh = BookingClock::new(&TimeZoneName::parse("tz", "Asia/Shanghai").unwrap());
        let t: Timestamp = "2026-11-27T17:30:00Z".parse().unwrap();
        assert_eq!(
            date_from_epoch_day(sh.day_of(t)),
            jiff::civil::date(2026, 11, 28)
        );
        let utc = BookingClock::new(&TimeZoneName::utc());
        assert_eq!(
            date_from_epoch_day(utc.day_of(t)),
            jiff::civil::date(2026, 11, 27)
        );
        let before: Timestamp = "1969-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(utc.day_of(before), -1);
        // New York, the night clocks go back: 2026-11-01 01:30 EST is 06:30Z.
        let ny = BookingClock::new(&TimeZoneName::parse("tz", "America/New_York").unwrap());
        let t: Timestamp = "2026-11-01T04:30:00Z".parse().unwrap(); // 00:30 EDT
        assert_eq!(
            date_from_epoch_day(ny.day_of(t)),
            jiff::civil::date(2026, 11, 1)
        );
        let t: Timestamp = "2026-11-01T03:59:59Z".parse().unwrap(); // 23:59:59 EDT on the 31st
        assert_eq!(
            date_from_epoch_day(ny.day_of(t)),
            jiff::civil::date(2026, 10, 31)
        );
    }

    proptest! {
        #[test]
        fn epoch_day_round_trips_and_matches_jiff(n in -700_000i32..700_000) {
            let d = date_from_epoch_day(n);
            prop_assert_eq!(epoch_day(d), n);
            let jiff_days = d.since((jiff::Unit::Day, jiff::civil::date(1970, 1, 1))).unwrap().get_days();
            prop_assert_eq!(jiff_days, n);
        }
    }
}
