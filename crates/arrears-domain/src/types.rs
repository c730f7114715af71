//! Value types that are valid by construction.

use crate::reject::{FieldError, Reason};
use std::fmt;
use std::marker::PhantomData;

/// The largest amount accepted in one `_minor` field: 10^15 minor units (ten trillion in a
/// currency with two decimals). Sums over a loan are carried in `i128`, so no realistic
/// portfolio can overflow.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// An amount in minor units (fen, cents), `0 ..= MAX_AMOUNT_MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Minor(i64);

impl Minor {
    pub const ZERO: Minor = Minor(0);

    /// A non-negative amount (installment components).
    pub fn non_negative(column: &'static str, v: i64) -> Result<Minor, FieldError> {
        if !(0..=MAX_AMOUNT_MINOR).contains(&v) {
            return Err(FieldError::new(
                column,
                Reason::OutOfRange,
                format!("{v} is outside 0..={MAX_AMOUNT_MINOR}"),
            ));
        }
        Ok(Minor(v))
    }

    /// A strictly positive amount (principal, payment, promise).
    pub fn positive(column: &'static str, v: i64) -> Result<Minor, FieldError> {
        if !(1..=MAX_AMOUNT_MINOR).contains(&v) {
            return Err(FieldError::new(
                column,
                Reason::OutOfRange,
                format!("{v} must be greater than 0 and at most {MAX_AMOUNT_MINOR}"),
            ));
        }
        Ok(Minor(v))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An annual rate in basis points, `0 ..= 1_000_000` (10,000%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Bps(u32);

impl Bps {
    pub const MAX: u32 = 1_000_000;

    pub fn parse(column: &'static str, v: i64) -> Result<Bps, FieldError> {
        if v < 0 {
            return Err(FieldError::new(
                column,
                Reason::OutOfRange,
                format!("{v} is negative"),
            ));
        }
        if v > i64::from(Bps::MAX) {
            return Err(FieldError::new(
                column,
                Reason::OutOfRange,
                format!("{v} exceeds {} basis points", Bps::MAX),
            ));
        }
        // Proven: 0 <= v <= 1_000_000 fits u32.
        Ok(Bps(v as u32))
    }

    pub const fn new_const(v: u32) -> Bps {
        Bps(if v > Bps::MAX { Bps::MAX } else { v })
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Marker types for `Id`.
pub mod kind {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Borrower;
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Loan;
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Payment;
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Contact;
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Promise;
}

/// An identifier: 1 to 128 bytes of UTF-8 without control characters.
#[derive(PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id<K> {
    value: Box<str>,
    _kind: PhantomData<K>,
}

pub type BorrowerId = Id<kind::Borrower>;
pub type LoanId = Id<kind::Loan>;
pub type PaymentId = Id<kind::Payment>;
pub type ContactId = Id<kind::Contact>;
pub type PromiseId = Id<kind::Promise>;

impl<K> Id<K> {
    pub const MAX_LEN: usize = 128;

    pub fn parse(column: &'static str, s: &str) -> Result<Self, FieldError> {
        Self::check(column, s)?;
        Ok(Id {
            value: s.into(),
            _kind: PhantomData,
        })
    }

    /// The rules of `parse` without building the id, for ids a table only needs to claim.
    pub fn check(column: &'static str, s: &str) -> Result<(), FieldError> {
        if s.is_empty() {
            return Err(FieldError::new(column, Reason::MissingValue, "empty id"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                column,
                Reason::InvalidValue,
                format!("id longer than {} bytes", Self::MAX_LEN),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                column,
                Reason::InvalidValue,
                "id contains a control character",
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Id {
            value: self.value.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<K> std::borrow::Borrow<str> for Id<K> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(column: &'static str, s: &str) -> Result<Currency, FieldError> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(FieldError::new(
                column,
                Reason::InvalidValue,
                format!("{s:?} is not an ISO 4217 code (three upper-case letters)"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        // Proven: constructed only from ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Decimal places of the currency's minor unit, for display only.
    pub fn minor_digits(&self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "XAF" | "XOF" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision:
/// `CN`, `US-NY`, `GB-SCT`, `CN-11`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jurisdiction {
    code: Box<str>,
}

impl Jurisdiction {
    pub fn parse(column: &'static str, s: &str) -> Result<Jurisdiction, FieldError> {
        let bad = || {
            FieldError::new(
                column,
                Reason::InvalidValue,
                format!("{s:?} is not a jurisdiction like CN, US-NY or GB"),
            )
        };
        let (country, sub) = match s.split_once('-') {
            Some((c, sub)) => (c, Some(sub)),
            None => (s, None),
        };
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        if let Some(sub) = sub
            && (sub.is_empty()
                || sub.len() > 3
                || !sub
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(Jurisdiction { code: s.into() })
    }

    /// The country part: `US` for `US-NY`.
    pub fn country(&self) -> &str {
        self.code.get(..2).unwrap_or(&self.code)
    }

    pub fn is_subdivision(&self) -> bool {
        self.code.len() > 2
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }
}

impl fmt::Debug for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

impl fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// An IANA time zone that exists in the bundled tz database.
#[derive(Clone)]
pub struct TimeZoneName {
    name: Box<str>,
    tz: jiff::tz::TimeZone,
}

impl TimeZoneName {
    pub fn parse(column: &'static str, s: &str) -> Result<TimeZoneName, FieldError> {
        if s.is_empty() {
            return Err(FieldError::new(
                column,
                Reason::MissingValue,
                "empty time zone",
            ));
        }
        match jiff::tz::db().get(s) {
            Ok(tz) => Ok(TimeZoneName { name: s.into(), tz }),
            Err(_) => Err(FieldError::new(
                column,
                Reason::InvalidValue,
                format!("{s:?} is not an IANA time zone"),
            )),
        }
    }

    pub fn utc() -> TimeZoneName {
        TimeZoneName {
            name: "UTC".into(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// The calendar date of an instant in this zone.
    pub fn date_of(&self, at: jiff::Timestamp) -> jiff::civil::Date {
        self.tz.to_datetime(at).date()
    }
}

impl PartialEq for TimeZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimeZoneName {}

impl fmt::Debug for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jurisdictions() {
        let j = Jurisdiction::parse("j", "US-NY").unwrap();
        assert_eq!(j.country(), "US");
        assert!(j.is_subdivision());
        assert!(Jurisdiction::parse("j", "CN").is_ok());
        assert!(Jurisdiction::parse("j", "CN-11").is_ok());
        for bad in ["cn", "CHN", "C", "US-", "US-NEWY", "US_NY", "", "U1"] {
            assert!(Jurisdiction::parse("j", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_and_rates() {
        assert!(Minor::positive("a", 0).is_err());
        assert!(Minor::positive("a", 1).is_ok());
        assert!(Minor::non_negative("a", 0).is_ok());
        assert_eq!(
            Minor::non_negative("a", -1).unwrap_err().reason,
            Reason::OutOfRange
        );
        assert!(Minor::non_negative("a", MAX_AMOUNT_MINOR + 1).is_err());
        assert_eq!(Bps::parse("r", -1).unwrap_err().reason, Reason::OutOfRange);
        assert_eq!(Bps::parse("r", 2400).unwrap().get(), 2400);
    }

    #[test]
    fn currencies_and_zones() {
        assert_eq!(Currency::parse("c", "CNY").unwrap().as_str(), "CNY");
        assert!(Currency::parse("c", "cny").is_err());
        assert!(Currency::parse("c", "EURO").is_err());
        assert!(TimeZoneName::parse("tz", "Asia/Shanghai").is_ok());
        assert!(TimeZoneName::parse("tz", "Mars/Olympus").is_err());
    }

    #[test]
    fn ids() {
        assert_eq!(
            LoanId::parse("loan_id", "").unwrap_err().reason,
            Reason::MissingValue
        );
        assert!(LoanId::parse("loan_id", "L\n1").is_err());
        assert_eq!(LoanId::parse("loan_id", "L-001").unwrap().as_str(), "L-001");
    }
}
