//! The US Metro 2 format, 426-byte character ("unpacked") records: a header record, one Base
//! Segment per reported line of a US borrower, and a trailer record with the counts. Each
//! record is followed by a line feed. Positions, lengths and codes are those of the public
//! descriptions cited in `docs/bureau.md` (the table there lists every field and where its
//! value comes from); the conventions applied are theirs: alphanumeric fields upper case,
//! left-justified and blank-filled; numeric and monetary fields right-justified and
//! zero-filled; amounts in whole units with the minor units truncated; dates MMDDYYYY, zeros
//! when there is none. No optional segment (J1, J2, K1-K4, L1, N1) is written.

use crate::derive::{BureauStatus, Line, LineKind};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The length of every record.
pub const RECORD_LEN: usize = 426;

/// Who furnishes the data (the header's reporter, the base segment's identification
/// number). The defaults are placeholders a lender replaces with what the bureaus assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Furnisher {
    /// The identification number the bureaus assigned (base segment positions 21-40).
    pub id: String,
    pub name: String,
    pub address: String,
    /// Ten digits, or empty.
    pub phone: String,
}

impl Default for Furnisher {
    fn default() -> Furnisher {
        Furnisher {
            id: "ARREARS".to_owned(),
            name: "ARREARS LENDER".to_owned(),
            address: String::new(),
            phone: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Metro2Error {
    #[error(
        "loan {loan}: the account number must be 1 to 30 printable ASCII characters for Metro 2"
    )]
    AccountNumber { loan: String },
    #[error("the furnisher's identification number must be 1 to 20 printable ASCII characters")]
    FurnisherId,
}

/// A written file: its text and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metro2File {
    pub text: String,
    /// Base segments written.
    pub base_records: usize,
    /// Reported lines left out with the reason (not a US borrower, or an account number
    /// Metro 2 cannot carry).
    pub left_out: Vec<(String, String)>,
}

/// Metro 2's account status code of a line.
pub fn account_status(line: &Line) -> &'static str {
    if matches!(line.kind, LineKind::Correction { .. }) {
        return "11";
    }
    match line.status {
        BureauStatus::Current => "11",
        BureauStatus::Late30 => "71",
        BureauStatus::Late60 => "78",
        BureauStatus::Late90 => "80",
        BureauStatus::Late120 => "82",
        BureauStatus::Late150 => "83",
        BureauStatus::Late180 => "84",
        BureauStatus::ChargedOff => "97",
        BureauStatus::Paid | BureauStatus::Sold => "13",
        // Never negative: open, current, or paid / sold (with rating 0).
        BureauStatus::Disputed => match line.actual {
            BureauStatus::Paid | BureauStatus::Sold => "13",
            _ => "11",
        },
    }
}

/// A record being filled: 1-based positions as the format describes them.
struct Record([u8; RECORD_LEN]);

impl Record {
    fn new() -> Record {
        Record([b' '; RECORD_LEN])
    }

    /// Left-justified, blank-filled, upper case; characters outside printable ASCII become
    /// blanks; cut at `len`.
    fn alpha(&mut self, pos: usize, len: usize, s: &str) {
        let bytes = s.chars().map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_graphic() || c == ' ' {
                c as u8 // Proven: an ASCII char.
            } else {
                b' '
            }
        });
        for (slot, b) in self.0[pos - 1..pos - 1 + len].iter_mut().zip(bytes) {
            *slot = b;
        }
    }

    /// Right-justified, zero-filled digits.
    fn num(&mut self, pos: usize, len: usize, v: u64) {
        let s = format!("{v:0len$}");
        let s = if s.len() > len { "9".repeat(len) } else { s };
        self.0[pos - 1..pos - 1 + len].copy_from_slice(s.as_bytes());
    }

    fn date(&mut self, pos: usize, d: Option<Date>) {
        match d {
            Some(d) => self.alpha(pos, 8, &mmddyyyy(d)),
            None => self.num(pos, 8, 0),
        }
    }

    fn text(&self) -> String {
        self.0.iter().map(|&b| char::from(b)).collect()
    }
}

fn mmddyyyy(d: Date) -> String {
    format!("{:02}{:02}{:04}", d.month(), d.day(), d.year())
}

/// Minor units to whole units, the minor units truncated; negative as zero; more than nine
/// digits as 999999999 (the field's largest value).
pub fn whole_units(minor: i64, minor_digits: u32) -> u64 {
    let unit = 10i64.pow(minor_digits);
    u64::try_from(minor.max(0) / unit).unwrap_or(0)
}

/// Decimal places of the currency's minor unit (as `arrears_domain::Currency` has them).
fn digits(currency: &str) -> u32 {
    arrears_domain::Currency::parse("currency", currency).map_or(2, |c| c.minor_digits())
}

fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// Surname, first name, middle name from "First [Middle…] Last"; a one-word name is the
/// surname.
fn split_name(name: &str) -> (String, String, String) {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => (String::new(), String::new(), String::new()),
        [one] => ((*one).to_owned(), String::new(), String::new()),
        [first, middle @ .., last] => ((*last).to_owned(), (*first).to_owned(), middle.join(" ")),
    }
}

/// The Base Segment of a line, stamped `created` (UTC).
pub fn base_segment(
    line: &Line,
    furnisher: &Furnisher,
    created: Timestamp,
    phone: Option<&str>,
) -> Result<String, Metro2Error> {
    if !printable(&line.loan_id, 30) {
        return Err(Metro2Error::AccountNumber {
            loan: line.loan_id.clone(),
        });
    }
    if !printable(&furnisher.id, 20) {
        return Err(Metro2Error::FurnisherId);
    }
    let d = digits(&line.currency);
    let money = |m: i64| whole_units(m, d);
    let mut r = Record::new();
    r.num(1, 4, RECORD_LEN as u64); // Record descriptor word.
    r.alpha(5, 1, "1"); // Processing indicator.
    let utc = created.to_zoned(TimeZone::UTC);
    r.alpha(
        6,
        14,
        &format!(
            "{}{:02}{:02}{:02}",
            mmddyyyy(utc.date()),
            utc.hour(),
            utc.minute(),
            utc.second()
        ),
    );
    r.num(
        20,
        1,
        u64::from(matches!(line.kind, LineKind::Correction { .. })),
    ); // Correction indicator.
    r.alpha(21, 20, &furnisher.id);
    // 41-42 cycle identifier: blank (a monthly reporter).
    r.alpha(43, 30, &line.loan_id);
    r.alpha(73, 1, "I"); // Portfolio type: installment.
    r.alpha(74, 2, "01"); // Account type: unsecured.
    r.date(76, Some(line.opened));
    r.num(84, 9, 0); // Credit limit: none for an installment loan.
    r.num(93, 9, money(line.principal_minor)); // Highest credit / original loan amount.
    r.num(102, 3, u64::from(line.terms)); // Terms duration (number of instalments).
    r.alpha(105, 1, "M"); // Terms frequency: monthly.
    r.num(106, 9, money(line.scheduled_minor));
    r.num(115, 9, money(line.paid_in_month_minor));
    r.alpha(124, 2, account_status(line));
    if let Some(rating) = line.rating {
        r.alpha(126, 1, &rating.to_string());
    }
    // The 24 months before the date of account information, the latest first.
    r.alpha(127, 24, &line.history);
    r.alpha(151, 2, line.special_comment.unwrap_or(""));
    r.alpha(153, 2, line.compliance.unwrap_or(""));
    r.num(155, 9, money(line.balance_minor));
    r.num(164, 9, money(line.past_due_minor));
    r.num(173, 9, money(line.charge_off_minor));
    r.date(182, Some(line.as_of));
    r.date(190, line.first_delinquency);
    r.date(198, line.closed);
    r.date(206, line.last_payment);
    r.alpha(214, 1, "F"); // Interest type: fixed.
    // 215-231 reserved: blank.
    let (surname, first, middle) = split_name(&line.borrower_name);
    r.alpha(232, 25, &surname);
    r.alpha(257, 20, &first);
    r.alpha(277, 20, &middle);
    // 297 generation code: blank.
    r.num(298, 9, 0); // Social security number: not on record, zeros.
    r.num(307, 8, 0); // Date of birth: not on record, zeros.
    let phone_digits: String = phone
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let phone10 = phone_digits
        .get(phone_digits.len().saturating_sub(10)..)
        .unwrap_or("");
    match phone10.parse::<u64>() {
        Ok(n) if phone10.len() == 10 => r.num(315, 10, n),
        _ => r.num(315, 10, 0),
    }
    r.alpha(325, 1, "1"); // ECOA: individual.
    // 326-327 consumer information indicator: blank.
    r.alpha(328, 2, "US");
    // 330-426 address, city, state, postal code, address indicator, residence code: not on
    // record, blank.
    Ok(r.text())
}

/// The header record.
pub fn header(furnisher: &Furnisher, activity: Date, created: Date) -> String {
    let mut r = Record::new();
    r.num(1, 4, RECORD_LEN as u64);
    r.alpha(5, 6, "HEADER");
    // 11-12 cycle identifier, 13-47 the bureaus' program identifiers: blank.
    r.date(48, Some(activity));
    r.date(56, Some(created));
    r.date(64, None); // Program date.
    r.date(72, None); // Program revision date.
    r.alpha(80, 40, &furnisher.name);
    r.alpha(120, 96, &furnisher.address);
    let phone: u64 = furnisher.phone.parse().unwrap_or(0);
    r.num(
        216,
        10,
        if furnisher.phone.len() == 10 {
            phone
        } else {
            0
        },
    );
    r.alpha(226, 40, "ARREARS");
    r.alpha(266, 5, env!("CARGO_PKG_VERSION"));
    // 271-280 PRBC program identifier, 281-426 reserved: blank.
    r.text()
}

/// The trailer's status codes and their positions.
pub const TRAILER_STATUS_POSITIONS: [(&str, usize); 22] = [
    ("DA", 66),
    ("05", 75),
    ("11", 84),
    ("13", 93),
    ("61", 102),
    ("62", 111),
    ("63", 120),
    ("64", 129),
    ("65", 138),
    ("71", 147),
    ("78", 156),
    ("80", 165),
    ("82", 174),
    ("83", 183),
    ("84", 192),
    ("88", 201),
    ("89", 210),
    ("93", 219),
    ("94", 228),
    ("95", 237),
    ("96", 246),
    ("97", 255),
];

/// The trailer record for `codes` (each base segment's account status) and the number of
/// base segments with a telephone number.
pub fn trailer(codes: &[&str], phones: usize) -> String {
    let mut r = Record::new();
    r.num(1, 4, RECORD_LEN as u64);
    r.alpha(5, 7, "TRAILER");
    r.num(12, 9, codes.len() as u64); // Total base records.
    // 21-29 reserved: blank.
    r.num(30, 9, 0); // Status DF.
    r.num(39, 9, 0); // J1 segments.
    r.num(48, 9, 0); // J2 segments.
    r.num(57, 9, codes.len() as u64 + 2); // Block count: every record is its own block.
    for (code, pos) in TRAILER_STATUS_POSITIONS {
        r.num(pos, 9, codes.iter().filter(|c| **c == code).count() as u64);
    }
    for pos in (264..=390).step_by(9) {
        r.num(pos, 9, 0); // ECOA Z, segment counts, SSNs and dates of birth: none.
    }
    r.num(399, 9, phones as u64); // Telephone numbers, all segments.
    r.num(408, 19, 0); // Reserved.
    r.text()
}

/// The file: header, a base segment per reported line of a US borrower (jurisdiction `US`
/// or `US-…`), trailer. `phones` gives a borrower's phone number by borrower id.
pub fn write_file(
    lines: &[Line],
    furnisher: &Furnisher,
    activity: Date,
    created: Timestamp,
    phones: &dyn Fn(&str) -> Option<String>,
) -> Result<Metro2File, Metro2Error> {
    if !printable(&furnisher.id, 20) {
        return Err(Metro2Error::FurnisherId);
    }
    let mut text = header(furnisher, activity, created.to_zoned(TimeZone::UTC).date());
    text.push('\n');
    let mut codes: Vec<&'static str> = Vec::new();
    let mut with_phone = 0;
    let mut left_out = Vec::new();
    for line in lines.iter().filter(|l| l.gate.is_reported()) {
        let us = line.jurisdiction == "US" || line.jurisdiction.starts_with("US-");
        if !us {
            left_out.push((
                line.loan_id.clone(),
                format!("jurisdiction {} is not US", line.jurisdiction),
            ));
            continue;
        }
        let phone = phones(&line.borrower_id);
        match base_segment(line, furnisher, created, phone.as_deref()) {
            Ok(rec) => {
                if rec.get(314..324).is_some_and(|p| p != "0000000000") {
                    with_phone += 1;
                }
                text.push_str(&rec);
                text.push('\n');
                codes.push(account_status(line));
            }
            Err(e) => left_out.push((line.loan_id.clone(), e.to_string())),
        }
    }
    text.push_str(&trailer(&codes, with_phone));
    text.push('\n');
    Ok(Metro2File {
        text,
        base_records: codes.len(),
        left_out,
    })
}
