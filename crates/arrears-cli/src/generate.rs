//! `arrears generate`: a realistic synthetic portfolio, deterministic for a seed.
//!
//! Borrowers in CN (Asia/Shanghai, CNY), US (three zones, USD) and GB (Europe/London, GBP);
//! about 1.2 loans each; 3–24 monthly installments; payment behaviour per borrower (on time,
//! late, partial, defaulting, early payers who pay ahead), about 1% of payments reversed,
//! and contacts and promises for loans in arrears. Disbursal dates spread over 30 months so
//! every bucket is represented. Each loan draws from its own RNG seeded by (seed, loan), so
//! the output depends only on the seed and the number of loans.

use anyhow::Context;
use jiff::civil::Date;
use jiff::{Span, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Default, Clone, Copy)]
pub struct GenStats {
    pub borrowers: u64,
    pub loans: u64,
    pub installments: u64,
    pub payments: u64,
    pub contacts: u64,
    pub promises: u64,
}

impl std::fmt::Display for GenStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} borrowers, {} loans, {} installments, {} payments, {} contacts, {} promises",
            self.borrowers,
            self.loans,
            self.installments,
            self.payments,
            self.contacts,
            self.promises
        )
    }
}

struct Country {
    code: &'static str,
    jurisdictions: &'static [&'static str],
    zones: &'static [&'static str],
    language: &'static str,
    currency: &'static str,
    surnames: &'static [&'static str],
    given: &'static [&'static str],
}

const CN: Country = Country {
    code: "CN",
    jurisdictions: &["CN", "CN-11", "CN-31", "CN-44"],
    zones: &["Asia/Shanghai"],
    language: "zh-CN",
    currency: "CNY",
    surnames: &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"],
    given: &[
        "伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明",
    ],
};
const US: Country = Country {
    code: "US",
    jurisdictions: &["US-NY", "US-CA", "US-TX", "US-IL"],
    zones: &[
        "America/New_York",
        "America/Los_Angeles",
        "America/Chicago",
        "America/Chicago",
    ],
    language: "en-US",
    currency: "USD",
    surnames: &[
        "Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Lopez",
    ],
    given: &[
        "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Maria", "David",
    ],
};
const GB: Country = Country {
    code: "GB",
    jurisdictions: &["GB"],
    zones: &["Europe/London"],
    language: "en-GB",
    currency: "GBP",
    surnames: &[
        "Taylor", "Jones", "Evans", "Wilson", "Thomas", "Roberts", "Walker", "Wright",
    ],
    given: &[
        "Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Emily",
    ],
};

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> &'a T {
    &xs[rng.random_range(0..xs.len())]
}

fn rng_for(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r.set_word_pos(u128::from(index) * 1024);
    r
}

/// A local instant on `day` at `minute` past midnight in `zone`, as RFC 3339 with the offset.
fn local_instant(
    day: Date,
    minute: i64,
    zone: &jiff::tz::TimeZone,
) -> anyhow::Result<(Timestamp, String)> {
    let dt = day
        .to_datetime(jiff::civil::Time::midnight())
        .checked_add(Span::new().minutes(minute))?;
    let z = dt.to_zoned(zone.clone())?;
    let text = z.timestamp().display_with_offset(z.offset()).to_string();
    Ok((z.timestamp(), text))
}

/// Writes the portfolio as CSV into `out` and returns what it wrote.
/// `contacts_max`: the most contact attempts a loan in arrears gets in the last 30 days
/// (drawn uniformly from 1..=contacts_max; 4 by default).
pub fn generate_csv(
    out: &Path,
    loans: u64,
    seed: u64,
    as_of: Date,
    contacts_max: i32,
    progress: &dyn Fn(u64),
) -> anyhow::Result<GenStats> {
    anyhow::ensure!(contacts_max >= 1, "--contacts-max must be at least 1");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let open = |name: &str, header: &str| -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
        let path = out.join(name);
        let f =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "{header}")?;
        Ok(w)
    };
    let mut wb = open(
        "borrowers.csv",
        "borrower_id,name,phone,email,timezone,jurisdiction,language,deceased,bankrupt,cease_contact",
    )?;
    let mut wl = open(
        "loans.csv",
        "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on,status",
    )?;
    let mut wi = open(
        "installments.csv",
        "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor",
    )?;
    let mut wp = open(
        "payments.csv",
        "payment_id,loan_id,received_at,amount_minor,kind,reverses",
    )?;
    let mut wc = open(
        "contacts.csv",
        "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party",
    )?;
    let mut wr = open(
        "promises.csv",
        "promise_id,loan_id,created_at,amount_minor,due_date",
    )?;
    let mut st = GenStats::default();
    let mut tz_cache: std::collections::HashMap<&'static str, jiff::tz::TimeZone> =
        Default::default();
    let mut loan_no = 0u64;
    for b in 0u64.. {
        if loan_no >= loans {
            break;
        }
        let mut rng = rng_for(seed, 1, b);
        let country = match rng.random_range(0..100) {
            0..60 => &CN,
            60..85 => &US,
            _ => &GB,
        };
        let zi = rng.random_range(0..country.zones.len());
        let zone_name = country.zones[zi];
        let zone = match tz_cache.get(zone_name) {
            Some(z) => z.clone(),
            None => {
                let z = jiff::tz::db().get(zone_name)?;
                tz_cache.insert(zone_name, z.clone());
                z
            }
        };
        let juris = country.jurisdictions[zi.min(country.jurisdictions.len() - 1)];
        let name = if country.code == "CN" {
            format!(
                "{}{}",
                pick(&mut rng, country.surnames),
                pick(&mut rng, country.given)
            )
        } else {
            format!(
                "{} {}",
                pick(&mut rng, country.given),
                pick(&mut rng, country.surnames)
            )
        };
        let phone = match country.code {
            "CN" => format!(
                "+861{}{:09}",
                rng.random_range(3..=9),
                rng.random_range(0..1_000_000_000u64)
            ),
            "US" => format!(
                "+1{}{:07}",
                rng.random_range(201..=989),
                rng.random_range(0..10_000_000u64)
            ),
            _ => format!("+447{:09}", rng.random_range(0..1_000_000_000u64)),
        };
        let bid = format!("B{:08}", b + 1);
        let flag = |rng: &mut ChaCha8Rng| {
            if rng.random_range(0..1000) < 3 {
                "true"
            } else {
                "false"
            }
        };
        let (dec, bank, cease) = (flag(&mut rng), flag(&mut rng), flag(&mut rng));
        writeln!(
            wb,
            "{bid},{name},{phone},{}.{}@example.com,{zone_name},{juris},{},{dec},{bank},{cease}",
            bid.to_lowercase(),
            country.code.to_lowercase(),
            country.language
        )?;
        st.borrowers += 1;
        // Behaviour: 0 on time, 1 late, 2 partial, 3 defaulting, 4 pays ahead.
        let profile = match rng.random_range(0..100) {
            0..55 => 0,
            55..78 => 1,
            78..88 => 2,
            88..96 => 3,
            _ => 4,
        };
        let n_loans = if rng.random_range(0..5) == 0 { 2 } else { 1 };
        for _ in 0..n_loans {
            if loan_no >= loans {
                break;
            }
            loan_no += 1;
            let mut rng = rng_for(seed, 2, loan_no);
            let lid = format!("L{loan_no:08}");
            let n = *pick(&mut rng, &[3u32, 6, 6, 9, 12, 12, 12, 18, 24]);
            let product = format!("cash-loan-{n}m");
            let principal: i64 = rng.random_range(500..=50_000) * 100;
            let annual: i64 = rng.random_range(8..=36) * 100;
            let penalty: i64 = *pick(&mut rng, &[0i64, 1000, 1800, 3650]);
            let disbursed = as_of.checked_sub(Span::new().days(rng.random_range(10..900)))?;
            let status = match rng.random_range(0..1000) {
                0..10 => "written_off",
                10..15 => "sold",
                _ => "",
            };
            writeln!(
                wl,
                "{lid},{bid},{product},{},{principal},{annual},{penalty},{disbursed},{status}",
                country.currency
            )?;
            st.loans += 1;
            // Equal principal, interest on the declining balance, a small fee on some loans.
            let fee = if rng.random_range(0..3) == 0 {
                0
            } else {
                rng.random_range(1..=20) * 100
            };
            let mut due_dates = Vec::with_capacity(n as usize);
            let mut amounts = Vec::with_capacity(n as usize);
            let mut left = principal;
            for seq in 1..=n {
                let due = disbursed.checked_add(Span::new().months(seq))?;
                let prin = if seq == n {
                    left
                } else {
                    principal / i64::from(n)
                };
                let int = left * annual / 10_000 / 12;
                left -= prin;
                writeln!(wi, "{lid},{seq},{due},{prin},{int},{fee}")?;
                st.installments += 1;
                due_dates.push(due);
                amounts.push(prin + int + fee);
            }
            // Payments received up to as_of (a few just after, to exercise the cutoff).
            let stop_after = if profile == 3 {
                rng.random_range(0..n)
            } else {
                n
            };
            let mut pays: Vec<(Timestamp, String, i64)> = Vec::new();
            for (k, (due, amount)) in due_dates.iter().zip(&amounts).enumerate() {
                if k as u32 >= stop_after {
                    break;
                }
                let offset_days: i64 = match profile {
                    0 => -rng.random_range(0..4),
                    1 => rng.random_range(5..60),
                    2 => rng.random_range(0..20),
                    4 => -rng.random_range(10..25),
                    _ => rng.random_range(0..10),
                };
                let day = due.checked_add(Span::new().days(offset_days))?;
                if day > as_of.checked_add(Span::new().days(3))? {
                    break;
                }
                let amt = if profile == 2 {
                    amount * rng.random_range(30..=90) / 100
                } else {
                    *amount
                };
                if amt <= 0 {
                    continue;
                }
                let (ts, text) = local_instant(day, rng.random_range(8 * 60..22 * 60), &zone)?;
                pays.push((ts, text, amt));
            }
            for (ts, text, amt) in pays {
                st.payments += 1;
                let pid = format!("P{:09}", st.payments);
                writeln!(wp, "{pid},{lid},{text},{amt},payment,")?;
                if rng.random_range(0..100) == 0 {
                    st.payments += 1;
                    let later = ts.checked_add(Span::new().hours(rng.random_range(24..120)))?;
                    let text = later
                        .to_zoned(zone.clone())
                        .timestamp()
                        .display_with_offset(later.to_zoned(zone.clone()).offset())
                        .to_string();
                    writeln!(wp, "P{:09},{lid},{text},{amt},reversal,{pid}", st.payments)?;
                }
            }
            // Contacts and a promise for loans whose borrower misses payments.
            if profile == 1 || profile == 3 {
                let contacts = rng.random_range(1..=contacts_max);
                for c in 0..contacts {
                    let day = as_of.checked_sub(Span::new().days(rng.random_range(1..30)))?;
                    let (_, at) = local_instant(day, rng.random_range(9 * 60..20 * 60), &zone)?;
                    let channel = *pick(&mut rng, &["sms", "call", "call", "email"]);
                    let outcome = match channel {
                        "call" => *pick(
                            &mut rng,
                            &[
                                "no_answer",
                                "no_answer",
                                "right_party",
                                "promise",
                                "refused",
                            ],
                        ),
                        _ => "delivered",
                    };
                    let target = if channel == "email" {
                        format!(
                            "{}.{}@example.com",
                            bid.to_lowercase(),
                            country.code.to_lowercase()
                        )
                    } else {
                        phone.clone()
                    };
                    st.contacts += 1;
                    writeln!(
                        wc,
                        "C{:09},{bid},{lid},{channel},outbound,{at},{outcome},{target},borrower",
                        st.contacts
                    )?;
                    if outcome == "promise" && c == contacts - 1 {
                        st.promises += 1;
                        let (_, created) = local_instant(day, 12 * 60, &zone)?;
                        let due = day.checked_add(Span::new().days(rng.random_range(3..10)))?;
                        writeln!(
                            wr,
                            "PR{:09},{lid},{created},{},{due}",
                            st.promises, amounts[0]
                        )?;
                    }
                }
            }
            if loan_no.is_multiple_of(10_000) {
                progress(loan_no);
            }
        }
    }
    for w in [&mut wb, &mut wl, &mut wi, &mut wp, &mut wc, &mut wr] {
        w.flush()?;
    }
    progress(loan_no);
    Ok(st)
}
