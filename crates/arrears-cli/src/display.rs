//! The readable summary a person sees after a run.

use serde_json::Value;
use std::path::Path;

/// An amount in minor units as major units with the currency's decimals (display only;
/// integer arithmetic, no floating point).
pub fn money(minor: i64, currency: &str) -> String {
    let digits = match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(digits);
    let whole = group(abs / scale);
    if digits == 0 {
        format!("{sign}{whole} {currency}")
    } else {
        format!(
            "{sign}{whole}.{:0width$} {currency}",
            abs % scale,
            width = digits as usize
        )
    }
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub fn print_summary(s: &Value, seconds: f64, out: Option<&Path>) {
    println!(
        "Daily run as of {} (business time zone {})",
        s["as_of"].as_str().unwrap_or(""),
        s["business_timezone"].as_str().unwrap_or("")
    );
    println!("  loans computed: {}", num(&s["loans"]));
    let rejected = num(&s["rejected_rows"]);
    if rejected > 0 {
        let reasons: Vec<String> = s["rejected_by_reason"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| num(v) > 0)
                    .map(|(k, v)| format!("{k} {}", num(v)))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "  rows rejected:  {rejected} ({}); see rejects.csv",
            reasons.join(", ")
        );
    } else {
        println!("  rows rejected:  0");
    }
    let currencies: Vec<String> = s["totals"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    println!();
    println!(
        "  {:<10} {:>9}  {}",
        "bucket",
        "loans",
        currencies
            .iter()
            .map(|c| format!("{:>24}", format!("overdue {c}")))
            .collect::<String>()
    );
    for b in s["buckets"].as_array().into_iter().flatten() {
        let cells: String = currencies
            .iter()
            .map(|c| {
                format!(
                    "{:>24}",
                    money(num(&b["by_currency"][c]["overdue_minor"]), c)
                )
            })
            .collect();
        println!(
            "  {:<10} {:>9}  {cells}",
            b["name"].as_str().unwrap_or(""),
            num(&b["loans"])
        );
    }
    println!();
    let stages: Vec<String> = s["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| format!("{} {}", b["name"].as_str().unwrap_or(""), num(&b["loans"])))
        .collect();
    println!("  stages:   {}", stages.join(" · "));
    let statuses: Vec<String> = s["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| num(&b["loans"]) > 0)
        .map(|b| format!("{} {}", b["name"].as_str().unwrap_or(""), num(&b["loans"])))
        .collect();
    println!("  statuses: {}", statuses.join(" · "));
    println!();
    match out {
        Some(out) => println!("  results in {} ({seconds:.2} s)", out.display()),
        None => println!("  computed in {seconds:.2} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(money(123456789, "CNY"), "1,234,567.89 CNY");
        assert_eq!(money(-5, "USD"), "-0.05 USD");
        assert_eq!(money(1000, "JPY"), "1,000 JPY");
        assert_eq!(money(0, "GBP"), "0.00 GBP");
    }
}
