//! Strict parsing of text cells (CSV) into scalars. Nothing is trimmed, clamped or guessed:
//! `2026-2-3`, `12.50`, `TRUE` and a timestamp without an offset are all invalid.

use crate::reject::{FieldError, Reason};
use jiff::Timestamp;
use jiff::civil::{Date, Time};

/// `YYYY-MM-DD`, a real calendar date.
pub fn date(column: &'static str, s: &str) -> Result<Date, FieldError> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    let bad = |why: &str| FieldError::new(column, Reason::InvalidValue, format!("{s:?} {why}"));
    if !shape_ok {
        return Err(bad("is not a date YYYY-MM-DD"));
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0i32, |acc, c| acc * 10 + i32::from(c - b'0'))
    };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Proven: y < 10000, m < 100, d < 100 fit the narrower integer types.
    Date::new(y as i16, m as i8, d as i8).map_err(|_| bad("is not a calendar date"))
}

/// RFC 3339 with an offset: `2026-11-27T21:05:00+08:00`, `2026-11-27T13:05:00Z`.
/// `t` to the microsecond, earlier digits dropped: the precision both stores keep (SQLite as
/// text, PostgreSQL's `timestamptz`), so a file-mode run and a store run see the same instants.
pub fn to_microsecond(t: Timestamp) -> Timestamp {
    let sub = t.subsec_nanosecond().rem_euclid(1_000);
    t.checked_sub(jiff::SignedDuration::from_nanos(i64::from(sub)))
        .unwrap_or(t)
}

/// An RFC 3339 timestamp with an offset, to the microsecond ([`to_microsecond`]).
pub fn timestamp(column: &'static str, s: &str) -> Result<Timestamp, FieldError> {
    let b = s.as_bytes();
    // RFC 3339 needs a full date, a `T` (or space) and an offset; jiff is lenient about a few
    // extensions (bracketed zone annotations), which a portfolio file must not rely on.
    let shape_ok = b.len() >= 20 && b[10].eq_ignore_ascii_case(&b'T') && !s.contains('[');
    if shape_ok && let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(to_microsecond(ts));
    }
    Err(FieldError::new(
        column,
        Reason::InvalidValue,
        format!("{s:?} is not an RFC 3339 timestamp with an offset"),
    ))
}

/// `true` or `false`, lower case.
pub fn boolean(column: &'static str, s: &str) -> Result<bool, FieldError> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not true or false"),
        )),
    }
}

/// A local time of day `HH:MM` (24-hour clock, `00:00` to `23:59`), two digits each.
pub fn local_time(column: &'static str, s: &str) -> Result<Time, FieldError> {
    let b = s.as_bytes();
    let bad = || {
        FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not a local time HH:MM"),
        )
    };
    let shape_ok = b.len() == 5
        && b[2] == b':'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit());
    if !shape_ok {
        return Err(bad());
    }
    // Proven: two ASCII digits are at most 99, which fits i8.
    let h = ((b[0] - b'0') * 10 + (b[1] - b'0')) as i8;
    let m = ((b[3] - b'0') * 10 + (b[4] - b'0')) as i8;
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// A plain decimal integer (optional leading `-`), no spaces, no decimals, no exponent.
pub fn integer(column: &'static str, s: &str) -> Result<i64, FieldError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not an integer"),
        ));
    }
    s.parse::<i64>().map_err(|_| {
        FieldError::new(
            column,
            Reason::OutOfRange,
            format!("{s:?} does not fit in 64 bits"),
        )
    })
}

/// E.164: `+`, then 8 to 15 digits, the first not 0.
pub fn phone(column: &'static str, s: &str) -> Result<Box<str>, FieldError> {
    let ok = s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    });
    if ok {
        Ok(s.into())
    } else {
        Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not an E.164 number"),
        ))
    }
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn email(column: &'static str, s: &str) -> Result<Box<str>, FieldError> {
    let ok = match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && s.len() <= 254
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if ok {
        Ok(s.into())
    } else {
        Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not an e-mail address"),
        ))
    }
}

/// A BCP 47 tag in its common shape: `zh`, `zh-CN`, `en-US`, `zh-Hans-CN`.
pub fn language(column: &'static str, s: &str) -> Result<Box<str>, FieldError> {
    let mut parts = s.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(s.into())
    } else {
        Err(FieldError::new(
            column,
            Reason::InvalidValue,
            format!("{s:?} is not a BCP 47 language tag"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_strict() {
        assert_eq!(date("d", "2028-02-29").unwrap().to_string(), "2028-02-29");
        for bad in [
            "2026-02-29",
            "2026-2-03",
            "2026-02-30",
            "20260203",
            " 2026-02-03",
            "2026-13-01",
        ] {
            assert_eq!(
                date("d", bad).unwrap_err().reason,
                Reason::InvalidValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamps_need_an_offset() {
        let t = timestamp("t", "2026-11-27T21:05:00+08:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-27T13:05:00Z");
        assert!(timestamp("t", "2026-11-27T21:05:00Z").is_ok());
        assert!(timestamp("t", "2026-11-27T21:05:00.123-05:00").is_ok());
        for bad in [
            "2026-11-27T21:05:00",
            "2026-11-27",
            "yesterday",
            "2026-11-27T21:05:00+08:00[Asia/Shanghai]",
        ] {
            assert!(timestamp("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integers_and_bools() {
        assert_eq!(integer("i", "-12").unwrap(), -12);
        for bad in ["12.5", "1e3", " 1", "", "-", "+1", "0x10"] {
            assert!(integer("i", bad).is_err(), "{bad}");
        }
        assert_eq!(
            integer("i", "99999999999999999999").unwrap_err().reason,
            Reason::OutOfRange
        );
        assert!(boolean("b", "true").unwrap());
        assert!(boolean("b", "TRUE").is_err());
    }

    #[test]
    fn local_times_are_strict() {
        assert_eq!(local_time("t", "00:00").unwrap(), Time::midnight());
        assert_eq!(
            local_time("t", "23:59").unwrap(),
            Time::new(23, 59, 0, 0).unwrap()
        );
        assert_eq!(
            local_time("t", "08:30").unwrap(),
            Time::new(8, 30, 0, 0).unwrap()
        );
        for bad in [
            "24:00", "8:30", "08:60", "0830", "08:30:00", " 08:30", "08-30", "", "ab:cd",
        ] {
            assert_eq!(
                local_time("t", bad).unwrap_err().reason,
                Reason::InvalidValue,
                "{bad}"
            );
        }
    }

    #[test]
    fn contact_fields() {
        assert!(phone("p", "+8613800138000").is_ok());
        assert!(phone("p", "13800138000").is_err());
        assert!(phone("p", "+0123456789").is_err());
        assert!(email("e", "a@b.cn").is_ok());
        assert!(email("e", "a@b").is_err());
        assert!(email("e", "a b@c.d").is_err());
        assert!(language("l", "zh-CN").is_ok());
        assert!(language("l", "zh_CN").is_err());
    }
}
