//! Amounts in a borrower's message: integer minor units shown in the currency's own decimals,
//! with integer arithmetic only (12345 CNY minor is `¥123.45`, 12345 JPY is `¥12345`).

use arrears_domain::Currency;

fn symbol(c: Currency) -> Option<&'static str> {
    match c.as_str() {
        "CNY" | "JPY" => Some("¥"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        "EUR" => Some("€"),
        "HKD" => Some("HK$"),
        _ => None,
    }
}

/// `minor` minor units of `currency`, e.g. `¥123.45`, `-$0.05`, `£1200.00`, `CHF 3.10`.
/// No thousands separators: the digits are exactly the amount's.
pub fn format_amount(minor: i64, currency: Currency) -> String {
    let digits = currency.minor_digits();
    let negative = minor < 0;
    let abs = i128::from(minor).unsigned_abs();
    let scale = 10u128.pow(digits);
    let whole = abs / scale;
    let frac = abs % scale;
    let number = if digits == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{frac:0width$}", width = digits as usize)
    };
    let sign = if negative { "-" } else { "" };
    match symbol(currency) {
        Some(s) => format!("{sign}{s}{number}"),
        None => format!("{sign}{} {number}", currency.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Currency {
        Currency::parse("c", s).unwrap()
    }

    #[test]
    fn minor_units_are_shown_exactly() {
        assert_eq!(format_amount(12345, c("CNY")), "¥123.45");
        assert_eq!(format_amount(5, c("USD")), "$0.05");
        assert_eq!(format_amount(-5, c("USD")), "-$0.05");
        assert_eq!(format_amount(120000, c("GBP")), "£1200.00");
        assert_eq!(format_amount(12345, c("JPY")), "¥12345");
        assert_eq!(format_amount(1234, c("KWD")), "KWD 1.234");
        assert_eq!(format_amount(0, c("EUR")), "€0.00");
        assert_eq!(format_amount(i64::MIN, c("USD")), "-$92233720368547758.08");
    }
}
