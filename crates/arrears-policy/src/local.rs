//! Local wall-clock time, DST-correct.
//!
//! Rules that speak of local time ("08:00 <= local < 21:00", "per local day", "day 1 of the
//! quiet period", "until the moratorium's last day") are predicates on the wall clock of a
//! zone. `first_instant` finds the first instant at or after a given one whose wall clock
//! satisfies such a predicate, exactly, whatever the zone's transitions: between two
//! transitions the offset is constant and the wall clock runs linearly, so the predicate's
//! next acceptable local time maps straight back to an instant; when that instant lies past
//! the next transition, the search restarts at the transition with the new offset. A local
//! 08:00 skipped by a spring-forward gap is thus found at the gap's end, and an hour repeated
//! by a fall-back fold is judged by the wall clock each time it shows.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How far ahead the engine searches for an allowed instant. Beyond a year, waiting is not
/// a plan: the answer is "not by waiting".
pub(crate) const SEARCH_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 400);

/// Transitions crossed in one search before giving up (a zone changes offset a few times a
/// year; this covers the horizon many times over).
const MAX_SEGMENTS: usize = 64;

/// The first instant `>= from` and `<= limit` whose wall clock in `tz` is acceptable.
///
/// `advance(local)` returns the earliest acceptable local date-time `>= local`, reasoning as
/// if the clock ran on without jumps, or `None` when no local time will ever be acceptable.
pub(crate) fn first_instant(
    tz: &TimeZone,
    from: Timestamp,
    limit: Timestamp,
    advance: impl Fn(DateTime) -> Option<DateTime>,
) -> Option<Timestamp> {
    let mut cur = from;
    for _ in 0..MAX_SEGMENTS {
        if cur > limit {
            return None;
        }
        let offset = tz.to_offset(cur);
        let local = offset.to_datetime(cur);
        let target = advance(local)?;
        if target <= local {
            return Some(cur);
        }
        let candidate = offset.to_timestamp(target).ok()?;
        match tz.following(cur).next() {
            Some(transition) if candidate >= transition.timestamp() => cur = transition.timestamp(),
            _ => return (candidate <= limit).then_some(candidate),
        }
    }
    None
}

/// The local wall-clock date-time of an instant.
pub(crate) fn local(tz: &TimeZone, at: Timestamp) -> DateTime {
    tz.to_offset(at).to_datetime(at)
}

/// The first instant at or after `from` whose local date is `day` or later.
pub(crate) fn start_of_day_on_or_after(
    tz: &TimeZone,
    from: Timestamp,
    day: Date,
    limit: Timestamp,
) -> Option<Timestamp> {
    first_instant(tz, from, limit, |l| {
        if l.date() >= day {
            Some(l)
        } else {
            Some(day.to_datetime(Time::midnight()))
        }
    })
}

/// `days` whole days of 86,400 seconds.
pub(crate) fn days(days: u32) -> SignedDuration {
    SignedDuration::from_hours(24 * i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LocalWindow, parse_hhmm};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next_open(tz: &TimeZone, from: Timestamp, w: LocalWindow) -> Option<Timestamp> {
        first_instant(tz, from, from + SEARCH_HORIZON, |l| {
            if w.contains(l.time()) {
                Some(l)
            } else if l.time() < w.start() {
                Some(l.date().to_datetime(w.start()))
            } else {
                l.date().tomorrow().ok().map(|d| d.to_datetime(w.start()))
            }
        })
    }

    #[test]
    fn window_starts_across_dst() {
        let ny = jiff::tz::db().get("America/New_York").unwrap();
        let w =
            LocalWindow::new(parse_hhmm("08:00").unwrap(), parse_hhmm("21:00").unwrap()).unwrap();
        // Night of the 2026 spring-forward (02:00 -> 03:00 on 2026-03-08): 08:00 EDT.
        assert_eq!(
            next_open(&ny, ts("2026-03-08T05:00:00Z"), w),
            Some(ts("2026-03-08T12:00:00Z"))
        );
        // Night of the fall-back (2026-11-01): 08:00 EST.
        assert_eq!(
            next_open(&ny, ts("2026-11-01T05:00:00Z"), w),
            Some(ts("2026-11-01T13:00:00Z"))
        );
        // A window opening inside the gap opens when the clock jumps past it.
        let gap =
            LocalWindow::new(parse_hhmm("02:30").unwrap(), parse_hhmm("21:00").unwrap()).unwrap();
        assert_eq!(
            next_open(&ny, ts("2026-03-08T05:00:00Z"), gap),
            Some(ts("2026-03-08T07:00:00Z"))
        );
    }

    #[test]
    fn local_midnights_across_dst() {
        let ny = jiff::tz::db().get("America/New_York").unwrap();
        let from = ts("2026-03-07T20:00:00Z");
        let day = jiff::civil::date(2026, 3, 9);
        assert_eq!(
            start_of_day_on_or_after(&ny, from, day, from + SEARCH_HORIZON),
            Some(ts("2026-03-09T04:00:00Z"))
        );
        // A zone whose midnight is skipped (America/Santiago springs forward at 24:00).
        let scl = jiff::tz::db().get("America/Santiago").unwrap();
        let from = ts("2026-09-05T12:00:00Z");
        let day = jiff::civil::date(2026, 9, 6);
        let start = start_of_day_on_or_after(&scl, from, day, from + SEARCH_HORIZON).unwrap();
        assert_eq!(local(&scl, start).date(), day);
        assert_eq!(
            local(&scl, start - SignedDuration::from_secs(1)).date(),
            jiff::civil::date(2026, 9, 5)
        );
    }
}
