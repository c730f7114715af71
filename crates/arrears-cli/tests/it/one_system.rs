//! One system (issue "One system"): one property test drives the same generated situations
//! (lender policy, borrowers with their flags, loans, payments, contact history, preferences,
//! notices, payment plans, placements, sales, credit disputes, legal cases, contact persons)
//! through every door that decides a contact, and asks that they all agree on the decision,
//! the rule ids and `earliest_allowed`:
//!
//! 1. `arrears check --portfolio DIR --policy FILE` (file mode);
//! 2. `arrears import` into SQLite (and, every third case, PostgreSQL) then `arrears check
//!    --db`, under the store's policy versions (`arrears policy set`: the case's policy from
//!    2020, and in some cases a stricter one from a day after the business date; file mode is
//!    given the version in force on the instant's UTC date, as the store resolves it);
//! 3. `POST /v1/contacts/check` on a live `arrears serve` over that store;
//! 4. `arrears outbox enqueue` (one message): queued exactly when allowed, and refused with the
//!    same rule ids;
//! 5. the dispatcher's send-time check (`arrears outbox send --now`): messages queued while
//!    allowed, then a fact changes (an opt-out, narrower hours, a sale, a placement, a payment
//!    plan, a stricter policy version); each row ends sent, deferred to `earliest_allowed` or
//!    blocked, "refused at send time by RULES", exactly as `arrears check --db` answers at
//!    that instant;
//! 6. `arrears plan` over the folder and over the store: the same actions and blocks (same
//!    codes: one signing key), every action allowed again by `arrears check` (files and store)
//!    at `not_before` and `not_after`, a rescheduled one denied at the plan instant with the
//!    rules that moved it and `earliest_allowed` = `not_before`, every block denied again with
//!    its rule ids and `earliest_allowed`, and `outbox enqueue --plan-dir` refusing none of the
//!    plan's messages.
//!
//! The situations mix CN, US and GB borrowers (zones, a second phone zone, with or without a
//! language on record, holds and flags, attorneys, contact persons), delinquent loans at every
//! stage (payments, reversals, promises), a contact history (calls answered or not, texts and
//! e-mails delivered or failed, inbound calls, agencies' calls, calls to another borrower's
//! number, several unanswered calls today), every lifecycle table, and now and then instants
//! with a fraction of a second. The contacts asked about are random (every channel and
//! escalation, party, target, purpose, agency, text: clean or failing a content rule, instants
//! on hours boundaries and days ahead), ordinary ones, and ones just before or after a
//! record's instant (a notice, a recall, a resolution, a sale).
//!
//! Each case is one seed (proptest); the situation is built from it deterministically, so a
//! failure names the seed, and `ONE_SYSTEM_SEED=<seed> ONE_SYSTEM_CASES=1` replays it (the
//! failing case's folder and policy files are also kept in `$TMPDIR/one_system-<seed>`). A
//! case collects every disagreement before failing, each with the contact and every path's
//! answer, and counts them by kind (which paths departed from which).

use crate::store::{Backend, TestDb, fresh};
use crate::{arrears, text};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const CODE: &str = "K7Q2";
const EN_LENDER: &str = "Acme Finance";
const ZH_LENDER: &str = "安信金融";
/// The built-in strategy's lender name (the plan's messages name it).
const PLAN_LENDER: &str = "Arrears Demo Lender";
const WEBHOOK_SECRET: &str = "one-system-webhook-secret-of-32-bytes-at-least";
/// Clean texts naming the plan's lender, to ask a blocked plan message again.
const PLAN_ZH_TEXT: &str = "【Arrears Demo Lender】您的账单已逾期，请尽快通过官方App还款，\
                            如已还款请忽略。验证码 K7Q2。回复TD退订";
const PLAN_EN_TEXT: &str = "Arrears Demo Lender: your payment is overdue. If you have already \
                            paid, please ignore this message. Questions? Call 800-555-0100. \
                            Ref K7Q2. Reply STOP to opt out.";

/// Rules a message's text can fail (a blocked plan message's text is not on record, so those
/// blocks cannot be asked again exactly).
const CONTENT_RULES: &[&str] = &[
    "ALL-CONTENT",
    "ALL-IDENTITY",
    "ALL-NO-BORROW",
    "CN-COMPLAINT",
    "US-LCM",
    "US-TIMEBAR",
    "GB-FORBEARANCE",
];

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// A decision in words, comparable across paths: `earliest` is `None` when the path does not
/// report it (`outbox enqueue`), `Some(None)` when it reports none.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Decided {
        allow: bool,
        rules: Vec<String>,
        earliest: Option<Option<Timestamp>>,
    },
    Error(String),
}

impl Answer {
    fn from_json(v: &Value) -> Answer {
        let allow = match v["decision"].as_str() {
            Some("allow") => true,
            Some("deny") => false,
            _ => return Answer::Error(format!("not a decision: {v}")),
        };
        let mut rules: Vec<String> = v["rule_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        rules.sort();
        let earliest = match &v["earliest_allowed"] {
            Value::Null => None,
            Value::String(s) => match s.parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(e) => return Answer::Error(format!("earliest_allowed {s:?}: {e}")),
            },
            other => return Answer::Error(format!("earliest_allowed {other}")),
        };
        Answer::Decided {
            allow,
            rules,
            earliest: Some(earliest),
        }
    }

    fn allow(&self) -> Option<bool> {
        match self {
            Answer::Decided { allow, .. } => Some(*allow),
            Answer::Error(_) => None,
        }
    }

    fn rules(&self) -> &[String] {
        match self {
            Answer::Decided { rules, .. } => rules,
            Answer::Error(_) => &[],
        }
    }

    fn earliest(&self) -> Option<Timestamp> {
        match self {
            Answer::Decided {
                earliest: Some(e), ..
            } => *e,
            _ => None,
        }
    }

    /// Agrees with `other` on everything both report.
    fn agrees(&self, other: &Answer) -> bool {
        match (self, other) {
            (
                Answer::Decided {
                    allow: a,
                    rules: ra,
                    earliest: ea,
                },
                Answer::Decided {
                    allow: b,
                    rules: rb,
                    earliest: eb,
                },
            ) => {
                a == b
                    && ra == rb
                    && match (ea, eb) {
                        (Some(x), Some(y)) => x == y,
                        _ => true,
                    }
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Decided {
                allow,
                rules,
                earliest,
            } => {
                write!(f, "{}", if *allow { "allow" } else { "deny" })?;
                if !rules.is_empty() {
                    write!(f, " [{}]", rules.join(" "))?;
                }
                match earliest {
                    None => write!(f, " (earliest not reported)"),
                    Some(None) if !allow => write!(f, " earliest_allowed=null"),
                    Some(None) => Ok(()),
                    Some(Some(t)) => write!(f, " earliest_allowed={t}"),
                }
            }
            Answer::Error(e) => write!(f, "error: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A contact as every path is asked about it
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Contact {
    borrower: String,
    loan: Option<String>,
    channel: String,
    party: String,
    target: Option<String>,
    purpose: Option<String>,
    agency: Option<String>,
    text: Option<String>,
    lender: String,
    code: String,
    at: Timestamp,
    /// `at` as the borrower's local time with its offset (what is sent).
    at_text: String,
}

impl Contact {
    fn written_queueable(&self) -> bool {
        matches!(self.channel.as_str(), "sms" | "email" | "push")
    }

    /// The flags of `arrears check` (without the source).
    fn check_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "check".into(),
            "--borrower".into(),
            self.borrower.clone(),
            "--channel".into(),
            self.channel.clone(),
            "--party".into(),
            self.party.clone(),
            "--at".into(),
            self.at_text.clone(),
            "--lender".into(),
            self.lender.clone(),
            "--code".into(),
            self.code.clone(),
        ];
        let mut opt = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.clone());
            }
        };
        opt("--loan", &self.loan);
        opt("--target", &self.target);
        opt("--purpose", &self.purpose);
        opt("--agency", &self.agency);
        opt("--text", &self.text);
        a
    }

    fn check_body(&self) -> Value {
        json!({
            "borrower_id": self.borrower,
            "loan_id": self.loan,
            "channel": self.channel,
            "party": self.party,
            "target": self.target,
            "at": self.at_text,
            "text": self.text,
            "lender": self.lender,
            "code": self.code,
            "purpose": self.purpose,
            "agency_id": self.agency,
        })
    }

    /// The flags of `arrears outbox enqueue` for one message.
    fn enqueue_args(&self, db: &str, key: &str, language: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "outbox".into(),
            "enqueue".into(),
            "--db".into(),
            db.into(),
            "--borrower".into(),
            self.borrower.clone(),
            "--channel".into(),
            self.channel.clone(),
            "--party".into(),
            self.party.clone(),
            "--text".into(),
            self.text.clone().unwrap_or_default(),
            "--lender".into(),
            self.lender.clone(),
            "--code".into(),
            self.code.clone(),
            "--key".into(),
            key.into(),
            "--at".into(),
            self.at_text.clone(),
        ];
        for (flag, v) in [
            ("--loan", &self.loan),
            ("--target", &self.target),
            ("--purpose", &self.purpose),
        ] {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.clone());
            }
        }
        if let Some(l) = language {
            a.push("--language".into());
            a.push(l.into());
        }
        a
    }
}

impl std::fmt::Display for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "borrower {} loan {} {} to {} {} at {} purpose {} agency {}",
            self.borrower,
            self.loan.as_deref().unwrap_or("-"),
            self.channel,
            self.party,
            self.target.as_deref().unwrap_or("-"),
            self.at_text,
            self.purpose.as_deref().unwrap_or("collection"),
            self.agency.as_deref().unwrap_or("-"),
        )?;
        if let Some(t) = &self.text {
            write!(
                f,
                " text {t:?} lender {:?} code {:?}",
                self.lender, self.code
            )?;
        }
        Ok(())
    }
}

fn run(args: &[String]) -> std::process::Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    arrears(&a)
}

fn ok(args: &[&str]) -> String {
    let o = arrears(args);
    assert!(
        o.status.success(),
        "arrears {}: {}{}",
        args.join(" "),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// `arrears check` with `source` (`--portfolio DIR --policy FILE` or `--db TARGET`).
fn check_cli(c: &Contact, source: &[&str]) -> Answer {
    let mut args = c.check_args();
    args.extend(source.iter().map(|s| (*s).to_owned()));
    let o = run(&args);
    if !o.status.success() {
        return Answer::Error(format!(
            "exit {:?}: {}{}",
            o.status.code(),
            text(&o.stdout),
            text(&o.stderr)
        ));
    }
    match serde_json::from_slice::<Value>(&o.stdout) {
        Ok(v) => Answer::from_json(&v),
        Err(e) => Answer::Error(format!("{e}: {}", text(&o.stdout))),
    }
}

/// `arrears outbox enqueue` of one message: queued is an allow; a refusal names its rules on
/// stderr (`KEY: refused by R1 R2; not queued`); `earliest_allowed` is not reported.
fn enqueue_cli(c: &Contact, db: &str, key: &str, language: Option<&str>) -> Answer {
    let o = run(&c.enqueue_args(db, key, language));
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    if o.status.success() && out.contains(&format!("queued {key} as outbox row")) {
        return Answer::Decided {
            allow: true,
            rules: Vec::new(),
            earliest: None,
        };
    }
    let prefix = format!("{key}: refused by ");
    if let Some(line) = err.lines().find(|l| l.starts_with(&prefix)) {
        let mut rules: Vec<String> = line[prefix.len()..]
            .trim_end_matches("; not queued")
            .split(' ')
            .map(str::to_owned)
            .collect();
        rules.sort();
        return Answer::Decided {
            allow: false,
            rules,
            earliest: None,
        };
    }
    Answer::Error(format!("exit {:?}: {out}{err}", o.status.code()))
}

// ---------------------------------------------------------------------------------------------
// The generated situation
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Person {
    phone: String,
    source: &'static str,
}

#[derive(Debug, Clone)]
struct Borrower {
    id: String,
    country: &'static str,
    tz: &'static str,
    phone: Option<String>,
    email: Option<String>,
    language: Option<&'static str>,
    attorney_phone: Option<String>,
    attorney_email: Option<String>,
    loans: Vec<String>,
    persons: Vec<Person>,
    /// The borrowers.csv row, for reports.
    row: String,
}

/// The lender a text names.
fn lender_for(zh: bool) -> &'static str {
    if zh { ZH_LENDER } else { EN_LENDER }
}

/// Everything a case is made of.
struct Situation {
    as_of: Date,
    borrowers: Vec<Borrower>,
    /// (file name, content) of the portfolio folder.
    files: Vec<(String, String)>,
    /// The lender policy (file mode: `--policy`; store: version 1 from 2020-01-01).
    policy: PolicySpec,
    /// A stricter version in force from a later date, when the case has one.
    policy_v2: Option<(Date, PolicySpec)>,
    contacts: Vec<Contact>,
}

const EN_TEXTS: &[&str] = &[
    "Acme Finance: your payment of $120.00 is overdue. If you have already paid, please ignore this message. Questions? Call 800-555-0100. Ref K7Q2. Reply STOP to opt out.",
    "Acme Finance: a reminder that your payment is due soon. Pay in the Acme app or call 800-555-0100. Code K7Q2. Reply STOP to opt out.",
    "Acme Finance: your payment of $120.00 is overdue. Code K7Q2.",
    "Acme Finance: we may file a lawsuit if this is not resolved. Ref K7Q2. Reply STOP to opt out.",
    "Acme Finance: pay up, you idiot. Ref K7Q2. Reply STOP to opt out.",
    "Acme Finance: your loan has been assigned to Debt Buyer Co; please pay them from now on. Ref K7Q2. Reply STOP to opt out.",
    "Hello, this is Acme Finance. Could you ask Jo to call us on 0800 555 0100? Ref K7Q2. Reply STOP to opt out.",
    "Acme Finance: please borrow from friends and pay today. Ref K7Q2. Reply STOP to opt out.",
];

const ZH_TEXTS: &[&str] = &[
    "【安信金融】尊敬的客户，您本期账单1,200.00元已到期，请尽快通过安信App还款，如已还款请忽略。验证码 K7Q2。回复TD退订",
    "【安信金融】您的账单已逾期，请通过官方App或借款合同所列的官方对公账户还款，切勿向任何个人账户转账。验证码 K7Q2。回复TD退订",
    "【安信金融】你这个老赖，赶紧还钱！验证码 K7Q2。回复TD退订",
    "【安信金融】您本期账单已到期，请尽快还款。",
    "【安信金融】您的逾期账款将于11月30日委托合作机构华信催收服务处理。如有异议可拨打投诉热线12378。验证码 K7Q2。回复TD退订",
    "【安信金融】您在本公司的借款已转让给 Debt Buyer Co，此后请向其还款。验证码 K7Q2。监管投诉热线12378。",
];

/// A lender policy: approved agency AG-EAST, and optionally stricter hours, a stricter
/// CN-FREQ-CONNECTED and a US limitation period.
#[derive(Debug, Clone)]
struct PolicySpec {
    name: String,
    cn_end: Option<&'static str>,
    us_gb_end: Option<&'static str>,
    freq_connected: Option<u32>,
    us_years: Option<u32>,
}

impl PolicySpec {
    fn text(&self) -> String {
        let mut t = format!(
            "[policy]\nname = \"{}\"\napproved_agencies = [\"AG-EAST\"]\n",
            self.name
        );
        if let Some(end) = self.cn_end {
            t.push_str(&format!("\n[rules.\"CN-HOURS\"]\nend = \"{end}\"\n"));
        }
        if let Some(end) = self.us_gb_end {
            for rule in ["US-HOURS", "GB-HOURS"] {
                t.push_str(&format!("\n[rules.\"{rule}\"]\nend = \"{end}\"\n"));
            }
        }
        if let Some(n) = self.freq_connected {
            t.push_str(&format!(
                "\n[rules.\"CN-FREQ-CONNECTED\"]\nmax_per_local_day = {n}\n"
            ));
        }
        if let Some(y) = self.us_years {
            t.push_str(&format!("\n[limitation_years]\nUS = {y}\n"));
        }
        t
    }

    /// The same with every hours rule ending at `end`.
    fn with_hours(&self, name: &str, end: &'static str) -> PolicySpec {
        PolicySpec {
            name: name.to_owned(),
            cn_end: Some(end),
            us_gb_end: Some(end),
            ..self.clone()
        }
    }
}

struct Gen {
    rng: ChaCha8Rng,
    as_of: Date,
    /// Contacts to ask just before or after a record's instant (a notice's, a recall's, a
    /// resolution's, a sale's), where the answer turns.
    edges: Vec<Edge>,
}

/// A contact at the edge of a record: (borrower index, loan, channel, instant, agency).
type Edge = (
    usize,
    Option<String>,
    &'static str,
    Timestamp,
    Option<&'static str>,
);

fn b(flag: bool) -> &'static str {
    if flag { "true" } else { "false" }
}

/// `t` as local time in `tz` with its offset.
fn local_text(t: Timestamp, tz: &str) -> String {
    let z = t.in_tz(tz).unwrap();
    z.timestamp().display_with_offset(z.offset()).to_string()
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..=hi)
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    fn day(&self, offset: i64) -> Date {
        self.as_of.checked_add(offset.days()).unwrap()
    }

    /// A random date from `as_of + lo` to `as_of + hi` days.
    fn day_in(&mut self, lo: i64, hi: i64) -> Date {
        let d = self.range(lo, hi);
        self.day(d)
    }

    /// Local `hh:mm` on `as_of + offset` days in `tz`.
    fn at(&self, offset: i64, hh: i64, mm: i64, tz: &str) -> Timestamp {
        self.day(offset)
            .at(hh as i8, mm as i8, 0, 0)
            .in_tz(tz)
            .unwrap()
            .timestamp()
    }

    /// A random instant around `as_of`, from `lo` to `hi` days, in `tz`; now and then with a
    /// fraction of a second (to the nanosecond, as RFC 3339 allows).
    fn when(&mut self, lo: i64, hi: i64, tz: &str) -> Timestamp {
        let d = self.range(lo, hi);
        let (h, m) = (self.range(0, 23), self.range(0, 59));
        let t = self.at(d, h, m, tz);
        if self.chance(0.15) {
            let ns = self.range(1, 999_999_999);
            t.checked_add(SignedDuration::from_nanos(ns)).unwrap()
        } else {
            t
        }
    }

    fn situation(&mut self, seed: u64) -> Situation {
        let n = 5 + self.below(3);
        let mut borrowers: Vec<Borrower> = Vec::new();
        let mut files: BTreeMap<&'static str, String> = BTreeMap::new();
        let add = |files: &mut BTreeMap<&'static str, String>, name: &'static str, line: String| {
            let f = files.entry(name).or_default();
            f.push_str(&line);
            f.push('\n');
        };
        let headers: &[(&str, &str)] = &[
            (
                "borrowers.csv",
                "borrower_id,name,phone,email,timezone,jurisdiction,language,deceased,bankrupt,cease_contact,phone_timezone,dispute_open,hardship,breathing_space_until,attorney_phone,attorney_email",
            ),
            (
                "loans.csv",
                "loan_id,borrower_id,product,currency,principal_minor,annual_rate_bps,penalty_rate_bps,disbursed_on",
            ),
            (
                "installments.csv",
                "loan_id,seq,due_date,principal_minor,interest_minor,fee_minor",
            ),
            (
                "payments.csv",
                "payment_id,loan_id,received_at,amount_minor,kind,reverses",
            ),
            (
                "contacts.csv",
                "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party,agency_id",
            ),
            (
                "promises.csv",
                "promise_id,loan_id,created_at,amount_minor,due_date",
            ),
            (
                "notices.csv",
                "notice_id,borrower_id,loan_id,kind,sent_at,channel",
            ),
            (
                "preferences.csv",
                "borrower_id,channel,opted_out,contact_from,contact_to,updated_at",
            ),
            ("payment_plans.csv", "plan_id,loan_id,status,created_at"),
            ("plan_installments.csv", "plan_id,seq,due_date,amount_minor"),
            (
                "placements.csv",
                "placement_id,loan_id,agency_id,placed_at,recalled_at",
            ),
            ("sales.csv", "sale_id,loan_id,buyer,sold_at"),
            (
                "credit_disputes.csv",
                "dispute_id,borrower_id,loan_id,opened_at,resolved_at",
            ),
            (
                "legal_cases.csv",
                "case_id,loan_id,court,case_number,status,updated_on",
            ),
            (
                "contact_persons.csv",
                "person_id,borrower_id,name,phone,email,relation,source,refused",
            ),
        ];
        for (name, header) in headers {
            add(&mut files, name, (*header).to_owned());
        }

        // Borrowers.
        for i in 0..n {
            let id = format!("B{:02}", i + 1);
            let country = self.pick(&["CN", "CN", "US", "US", "GB"]);
            let (jurisdiction, tz, currency_phone) = match country {
                "CN" => (
                    "CN",
                    if self.chance(0.15) {
                        "Asia/Urumqi"
                    } else {
                        "Asia/Shanghai"
                    },
                    format!("+86138{:08}", 100 + i),
                ),
                "US" => {
                    let (j, z) = self.pick(&[
                        ("US-NY", "America/New_York"),
                        ("US-CA", "America/Los_Angeles"),
                        ("US-TX", "America/Chicago"),
                    ]);
                    (j, z, format!("+1212555{:04}", 100 + i))
                }
                _ => ("GB", "Europe/London", format!("+447700900{:03}", 100 + i)),
            };
            let phone = self.chance(0.9).then_some(currency_phone);
            let email = self.chance(0.8).then(|| format!("b{}@example.com", i + 1));
            let language = match (country, self.below(3)) {
                ("CN", 0) => None,
                ("CN", _) => Some("zh-CN"),
                (_, 0) => None,
                _ => Some("en"),
            };
            let phone_tz = (country == "US" && self.chance(0.2))
                .then(|| self.pick(&["America/Denver", "America/Anchorage", "America/New_York"]));
            let attorney = self.chance(0.06);
            let attorney_phone = attorney.then(|| match country {
                "CN" => format!("+86139{:08}", 900 + i),
                "US" => format!("+1212555{:04}", 900 + i),
                _ => format!("+447700900{:03}", 900 + i),
            });
            let attorney_email =
                (attorney && self.chance(0.5)).then(|| format!("law{}@example.com", i + 1));
            let breathing =
                (country == "GB" && self.chance(0.25)).then(|| self.day_in(-3, 10).to_string());
            let row = format!(
                "{id},Name {i},{},{},{tz},{jurisdiction},{},{},{},{},{},{},{},{},{},{}",
                phone.as_deref().unwrap_or(""),
                email.as_deref().unwrap_or(""),
                language.unwrap_or(""),
                b(self.chance(0.02)),
                b(self.chance(0.02)),
                b(self.chance(0.05)),
                phone_tz.unwrap_or(""),
                b(self.chance(0.06)),
                b(self.chance(if country == "GB" { 0.35 } else { 0.08 })),
                breathing.as_deref().unwrap_or(""),
                attorney_phone.as_deref().unwrap_or(""),
                attorney_email.as_deref().unwrap_or(""),
            );
            add(&mut files, "borrowers.csv", row.clone());
            borrowers.push(Borrower {
                id,
                country,
                tz,
                phone,
                email,
                language,
                attorney_phone,
                attorney_email,
                loans: Vec::new(),
                persons: Vec::new(),
                row,
            });
        }

        // Loans, schedules, payments, promises.
        let mut pay_n = 0;
        // Now and then a US borrower with two mid-stage loans: the older gets the day's call,
        // the younger (texted lately) a credit report, with a recent credit-reporting notice.
        let mut twins = vec![false; n];
        for bi in 0..n {
            let nl = 1 + usize::from(self.chance(0.45));
            twins[bi] = borrowers[bi].country == "US" && nl == 2 && self.chance(0.5);
            for k in 0..nl {
                let loan = format!("L{:02}{}", bi + 1, k + 1);
                let country = borrowers[bi].country;
                let tz = borrowers[bi].tz;
                let currency = match country {
                    "CN" => "CNY",
                    "US" => "USD",
                    _ => "GBP",
                };
                let dpd: i64 = if twins[bi] {
                    [80, 70][k]
                } else {
                    self.pick(&[0, 2, 5, 12, 40, 65, 75, 100, 130, 200])
                };
                let each: i64 = if !twins[bi] && self.chance(0.3) {
                    600_000
                } else {
                    100_000
                };
                let count = 1 + self.below(3) as i64;
                let paid = if count > 1 {
                    self.below(count as usize) as i64
                } else {
                    0
                };
                // dpd 0: the first unpaid instalment falls due within a few days.
                let first_unpaid = if dpd == 0 {
                    self.day_in(0, 3)
                } else {
                    self.day(-dpd)
                };
                let first_due = first_unpaid.checked_sub((30 * paid).days()).unwrap();
                add(
                    &mut files,
                    "loans.csv",
                    format!(
                        "{loan},{},x,{currency},{},0,0,{}",
                        borrowers[bi].id,
                        each * count,
                        first_due.checked_sub(60.days()).unwrap()
                    ),
                );
                for s in 0..count {
                    let due = first_due.checked_add((30 * s).days()).unwrap();
                    add(
                        &mut files,
                        "installments.csv",
                        format!("{loan},{},{due},{each},0,0", s + 1),
                    );
                    if s < paid {
                        pay_n += 1;
                        let at = due
                            .checked_sub(2.days())
                            .unwrap()
                            .at(10, 0, 0, 0)
                            .in_tz(tz)
                            .unwrap()
                            .timestamp();
                        add(
                            &mut files,
                            "payments.csv",
                            format!("P{pay_n},{loan},{at},{each},payment,"),
                        );
                    }
                }
                if self.chance(0.3) {
                    // A partial payment, sometimes reversed.
                    pay_n += 1;
                    let at = self.when(-20, -1, tz);
                    let amount = 1000 + self.range(0, 50) * 100;
                    add(
                        &mut files,
                        "payments.csv",
                        format!("P{pay_n},{loan},{at},{amount},payment,"),
                    );
                    if self.chance(0.4) {
                        let rev = at.checked_add(SignedDuration::from_hours(30)).unwrap();
                        add(
                            &mut files,
                            "payments.csv",
                            format!("R{pay_n},{loan},{rev},{amount},reversal,P{pay_n}"),
                        );
                    }
                }
                if self.chance(0.2) {
                    let created = self.when(-6, -1, tz);
                    let due = self.day_in(-3, 4);
                    add(
                        &mut files,
                        "promises.csv",
                        format!("PR{loan},{loan},{created},{},{due}", each / 2),
                    );
                }
                borrowers[bi].loans.push(loan);
            }
        }

        // Contact persons.
        for (bi, bo) in borrowers.iter_mut().enumerate() {
            if !self.chance(0.35) {
                continue;
            }
            for k in 0..(1 + self.below(2)) {
                let id = format!("CP{:02}{k}", bi + 1);
                let phone = match bo.country {
                    "CN" => format!("+86137{:06}{k}{}", 100 + bi, 0),
                    "US" => format!("+1312555{:02}{k}{}", 10 + bi, 0),
                    _ => format!("+447700901{:02}{k}", 10 + bi),
                };
                let source = self.pick(&["designated", "designated", "address_book", "contract"]);
                let refused = self.chance(0.2);
                add(
                    &mut files,
                    "contact_persons.csv",
                    format!(
                        "{id},{},Friend {k},{phone},,sister,{source},{}",
                        bo.id,
                        b(refused)
                    ),
                );
                bo.persons.push(Person { phone, source });
            }
        }

        // Contact history: the borrower's own targets, contact persons, agencies, and now and
        // then another borrower's number.
        let mut cn = 0;
        for bi in 0..n {
            let bo = borrowers[bi].clone();
            let count = self.below(8);
            for _ in 0..count {
                cn += 1;
                let loan = if self.chance(0.85) {
                    self.pick(&bo.loans)
                } else {
                    String::new()
                };
                let kind = self.below(10);
                let (channel, outcome, target, party, direction) = match kind {
                    0..=4 => {
                        let outcome = self.pick(&[
                            "right_party",
                            "no_answer",
                            "no_answer",
                            "busy",
                            "promise",
                            "wrong_party",
                            "voicemail",
                            "refused",
                        ]);
                        let (target, party) = if self.chance(0.15) {
                            // Another borrower's number (a wrong or shared number).
                            let other = &borrowers[self.below(n)];
                            (other.phone.clone(), "third_party")
                        } else if !bo.persons.is_empty() && self.chance(0.2) {
                            let p = self.pick(&bo.persons);
                            (Some(p.phone.clone()), "designated_contact")
                        } else {
                            (bo.phone.clone(), "borrower")
                        };
                        ("call", outcome, target, party, "outbound")
                    }
                    5 | 6 => (
                        "sms",
                        self.pick(&["delivered", "failed", "sent", "bounced"]),
                        bo.phone.clone(),
                        "borrower",
                        "outbound",
                    ),
                    7 => (
                        "email",
                        self.pick(&["delivered", "bounced", "sent"]),
                        // Addresses are compared as written: an upper-case copy is another.
                        if self.chance(0.15) {
                            bo.email.as_ref().map(|e| e.to_uppercase())
                        } else {
                            bo.email.clone()
                        },
                        "borrower",
                        "outbound",
                    ),
                    8 => (
                        "call",
                        "right_party",
                        bo.phone.clone(),
                        "borrower",
                        "inbound",
                    ),
                    _ => ("letter", "sent", None, "borrower", "outbound"),
                };
                let at = self.when(-12, 1, bo.tz);
                let agency = if channel == "call" && self.chance(0.12) {
                    self.pick(&["AG-EAST", "AG-WEST"])
                } else {
                    ""
                };
                add(
                    &mut files,
                    "contacts.csv",
                    format!(
                        "C{cn},{},{loan},{channel},{direction},{},{outcome},{},{party},{agency}",
                        bo.id,
                        local_text(at, bo.tz),
                        target.unwrap_or_default()
                    ),
                );
            }
            if twins[bi]
                && let Some(phone) = &bo.phone
            {
                cn += 1;
                add(
                    &mut files,
                    "contacts.csv",
                    format!(
                        "C{cn},{},{},sms,outbound,{},delivered,{phone},borrower,",
                        bo.id,
                        bo.loans[1],
                        self.at(-2, 10, 0, bo.tz)
                    ),
                );
            }
            // Several unanswered calls today to one number: the daily caps.
            if bo.phone.is_some() && self.chance(0.2) {
                for h in 0..(3 + self.below(5) as i64) {
                    cn += 1;
                    let at = self.at(0, 8, 5 + h * 5, bo.tz);
                    add(
                        &mut files,
                        "contacts.csv",
                        format!(
                            "C{cn},{},{},call,outbound,{at},no_answer,{},borrower,",
                            bo.id,
                            bo.loans[0],
                            bo.phone.as_deref().unwrap_or("")
                        ),
                    );
                }
            }
        }

        // The lifecycle tables.
        let (mut nn, mut pn, mut dn) = (0, 0, 0);
        let mut last_pref: HashMap<(String, &str), i64> = HashMap::new();
        for bi in 0..n {
            let bo = borrowers[bi].clone();
            if twins[bi] {
                add(
                    &mut files,
                    "notices.csv",
                    format!(
                        "N{bi}V,{},,validation,{},letter",
                        bo.id,
                        self.at(-3, 10, 0, bo.tz)
                    ),
                );
                add(
                    &mut files,
                    "notices.csv",
                    format!(
                        "N{bi}C,{},{},credit_reporting,{},letter",
                        bo.id,
                        bo.loans[1],
                        self.at(-5, 10, 0, bo.tz)
                    ),
                );
            }
            for _ in 0..self.below(3) {
                nn += 1;
                let kind = self.pick(&[
                    "validation",
                    "agency_placement",
                    "credit_reporting",
                    "credit_reporting",
                    "forbearance_offer",
                    "assignment",
                    "legal_action",
                ]);
                let loan = if self.chance(0.6) {
                    self.pick(&bo.loans)
                } else {
                    String::new()
                };
                let at = self.when(-40, 2, bo.tz);
                let channel = self.pick(&["letter", "email", "sms", "portal"]);
                let on = (!loan.is_empty()).then(|| loan.clone());
                let hour = SignedDuration::from_hours(1);
                match kind {
                    "agency_placement" => self.edges.push((
                        bi,
                        on,
                        "agency_placement",
                        at.checked_sub(hour).unwrap(),
                        Some("AG-EAST"),
                    )),
                    "credit_reporting" => self.edges.push((
                        bi,
                        on,
                        "credit_report",
                        at.checked_add(SignedDuration::from_hours(30)).unwrap(),
                        None,
                    )),
                    _ => {}
                }
                add(
                    &mut files,
                    "notices.csv",
                    format!("N{nn},{},{loan},{kind},{at},{channel}", bo.id),
                );
            }
            for _ in 0..self.below(3) {
                let channel = self.pick(&["sms", "email", "call"]);
                // Distinct update instants per channel: the latest row holds.
                let mut minutes = self.range(-30 * 24 * 60, 24 * 60);
                let key = (bo.id.clone(), channel);
                if let Some(prev) = last_pref.get(&key) {
                    minutes = prev + 60 + self.range(0, 600);
                }
                last_pref.insert(key, minutes);
                let updated = self
                    .at(0, 0, 0, "UTC")
                    .checked_add(SignedDuration::from_mins(minutes))
                    .unwrap();
                let opted_out = self.chance(0.3);
                let (from, to) = if !opted_out && self.chance(0.6) {
                    self.pick(&[
                        ("10:00", "18:00"),
                        ("09:00", "20:00"),
                        ("06:00", "23:30"),
                        ("13:00", "14:00"),
                    ])
                } else {
                    ("", "")
                };
                add(
                    &mut files,
                    "preferences.csv",
                    format!("{},{channel},{},{from},{to},{updated}", bo.id, b(opted_out)),
                );
            }
            if self.chance(0.2) {
                dn += 1;
                let loan = if self.chance(0.7) {
                    self.pick(&bo.loans)
                } else {
                    String::new()
                };
                let opened = self.when(-15, 1, bo.tz);
                let resolved = if self.chance(0.4) {
                    opened
                        .checked_add(SignedDuration::from_hours(self.range(2, 200)))
                        .unwrap()
                        .to_string()
                } else {
                    String::new()
                };
                if let Ok(r) = resolved.parse::<Timestamp>() {
                    self.edges.push((
                        bi,
                        (!loan.is_empty()).then(|| loan.clone()),
                        "credit_report",
                        r.checked_sub(SignedDuration::from_mins(30)).unwrap(),
                        None,
                    ));
                }
                add(
                    &mut files,
                    "credit_disputes.csv",
                    format!("D{dn},{},{loan},{opened},{resolved}", bo.id),
                );
            }
            for loan in &bo.loans {
                if self.chance(0.15) {
                    pn += 1;
                    let status = self.pick(&[
                        "active",
                        "active",
                        "broken",
                        "completed",
                        "proposed",
                        "cancelled",
                    ]);
                    let created = self.when(-30, 1, bo.tz);
                    add(
                        &mut files,
                        "payment_plans.csv",
                        format!("PL{pn},{loan},{status},{created}"),
                    );
                    for s in 0..(1 + self.below(3)) {
                        let due = self
                            .day_in(-6, 2)
                            .checked_add((15 * s as i64).days())
                            .unwrap();
                        add(
                            &mut files,
                            "plan_installments.csv",
                            format!("PL{pn},{},{due},{}", s + 1, 2000 + 1000 * s),
                        );
                    }
                }
                if self.chance(0.08) {
                    let placed = self.when(-20, 2, bo.tz);
                    let recalled = if self.chance(0.4) {
                        placed
                            .checked_add(SignedDuration::from_hours(self.range(1, 300)))
                            .unwrap()
                            .to_string()
                    } else {
                        String::new()
                    };
                    let agency = self.pick(&["AG-EAST", "AG-WEST"]);
                    if let Ok(r) = recalled.parse::<Timestamp>() {
                        self.edges.push((
                            bi,
                            Some(loan.clone()),
                            "call",
                            r.checked_sub(SignedDuration::from_mins(30)).unwrap(),
                            None,
                        ));
                    }
                    add(
                        &mut files,
                        "placements.csv",
                        format!("PC{loan},{loan},{agency},{placed},{recalled}"),
                    );
                }
                if self.chance(0.06) {
                    let sold = self.when(-10, 2, bo.tz);
                    for (minutes, channel) in [(-20, "call"), (20, "sms")] {
                        self.edges.push((
                            bi,
                            Some(loan.clone()),
                            channel,
                            sold.checked_add(SignedDuration::from_mins(minutes))
                                .unwrap(),
                            None,
                        ));
                    }
                    add(
                        &mut files,
                        "sales.csv",
                        format!("S{loan},{loan},Debt Buyer Co,{sold}"),
                    );
                }
                if self.chance(0.1) {
                    let status = self.pick(&["filed", "judgment", "enforcement", "closed"]);
                    add(
                        &mut files,
                        "legal_cases.csv",
                        format!(
                            "K{loan},{loan},District Court,N-{loan},{status},{}",
                            self.day_in(-60, -1)
                        ),
                    );
                }
            }
        }

        // The lender's policy, and sometimes a stricter version from a later date.
        let policy = PolicySpec {
            name: format!("one-system-{seed}"),
            cn_end: self.chance(0.6).then_some("21:00"),
            us_gb_end: None,
            freq_connected: self.chance(0.3).then_some(2),
            us_years: self.chance(0.8).then(|| self.pick(&[3, 6])),
        };
        let policy_v2 = self.chance(0.35).then(|| {
            // Often from the next day: a window planned for today may run into it (in UTC).
            let days = self.pick(&[1, 1, 2, 3]);
            let from = self.day(days);
            let v2 = PolicySpec {
                name: format!("one-system-v2-{seed}"),
                cn_end: Some("20:00"),
                us_gb_end: Some("20:00"),
                ..policy.clone()
            };
            (from, v2)
        });

        let mut s = Situation {
            as_of: self.as_of,
            borrowers,
            files: files.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            policy,
            policy_v2,
            contacts: Vec::new(),
        };
        for bi in 0..s.borrowers.len() {
            for _ in 0..6 {
                let c = self.contact(&s.borrowers, bi);
                s.contacts.push(c);
            }
            for _ in 0..2 {
                let c = self.plain_contact(&s.borrowers[bi]);
                s.contacts.push(c);
            }
        }
        for (bi, loan, channel, at, agency) in std::mem::take(&mut self.edges) {
            let mut c = self.plain_contact(&s.borrowers[bi]);
            c.loan = loan;
            c.channel = channel.into();
            c.agency = agency.map(str::to_owned);
            let bo = &s.borrowers[bi];
            c.target = match channel {
                "call" | "sms" => bo.phone.clone(),
                _ => None,
            };
            let zh = bo.country == "CN";
            c.text =
                (channel == "sms").then(|| if zh { ZH_TEXTS[0] } else { EN_TEXTS[0] }.to_owned());
            c.at = at;
            c.at_text = local_text(at, bo.tz);
            s.contacts.push(c);
        }
        s
    }

    /// A text in the borrower's language most of the time: clean, or failing some rule.
    fn message(&mut self, bo: &Borrower) -> (String, String) {
        let zh = match bo.country {
            "CN" => self.chance(0.85),
            _ => self.chance(0.05),
        };
        let clean = self.chance(0.7);
        let text = match (zh, clean) {
            (true, true) => self.pick(&ZH_TEXTS[..2]),
            (true, false) => self.pick(ZH_TEXTS),
            (false, true) => self.pick(&EN_TEXTS[..2]),
            (false, false) => self.pick(EN_TEXTS),
        };
        let lender = if self.chance(0.05) {
            "Someone Else Ltd".to_owned()
        } else {
            lender_for(zh).to_owned()
        };
        (text.to_owned(), lender)
    }

    /// An ordinary contact most borrowers may get: a call or a clean message to their own
    /// target, in the daytime of the next few days.
    fn plain_contact(&mut self, bo: &Borrower) -> Contact {
        let channel = self.pick(&["call", "call", "sms", "email", "push"]);
        let target = match channel {
            "call" | "sms" => bo.phone.clone(),
            "email" => bo.email.clone(),
            _ => None,
        };
        let zh = bo.country == "CN";
        let text =
            (channel != "call").then(|| if zh { ZH_TEXTS[0] } else { EN_TEXTS[0] }.to_owned());
        let day = self.range(0, 2);
        let (h, m) = (self.range(10, 16), self.range(0, 59));
        let at = self.at(day, h, m, bo.tz);
        Contact {
            borrower: bo.id.clone(),
            loan: Some(self.pick(&bo.loans)),
            channel: channel.into(),
            party: "borrower".into(),
            target,
            purpose: None,
            agency: None,
            text,
            lender: lender_for(zh).into(),
            code: CODE.into(),
            at,
            at_text: local_text(at, bo.tz),
        }
    }

    fn contact(&mut self, all: &[Borrower], bi: usize) -> Contact {
        let bo = &all[bi];
        let channel = self.pick(&[
            "call",
            "call",
            "call",
            "sms",
            "sms",
            "sms",
            "email",
            "email",
            "push",
            "letter",
            "agency_placement",
            "credit_report",
            "legal_referral",
            "visit",
            "fee",
        ]);
        let escalation = matches!(
            channel,
            "agency_placement" | "credit_report" | "legal_referral" | "fee"
        );
        let phone_channel = matches!(channel, "call" | "sms");
        let own = |c: &str| -> Option<String> {
            match c {
                "call" | "sms" => bo.phone.clone(),
                "email" => bo.email.clone(),
                _ => None,
            }
        };
        let mut party = "borrower".to_owned();
        let mut purpose: Option<String> = None;
        let target = if escalation || matches!(channel, "push" | "letter" | "visit") {
            None
        } else {
            match self.below(12) {
                0 if bo.attorney_phone.is_some() || bo.attorney_email.is_some() => {
                    party = "attorney".into();
                    if phone_channel {
                        bo.attorney_phone.clone()
                    } else {
                        bo.attorney_email.clone()
                    }
                }
                1 if !bo.persons.is_empty() && phone_channel => {
                    let p = self.pick(&bo.persons);
                    party = if p.source == "contract" {
                        "co_borrower".into()
                    } else {
                        "designated_contact".into()
                    };
                    purpose = Some("locate".into());
                    Some(p.phone)
                }
                2 if phone_channel => {
                    // Another borrower's number, or a stranger's.
                    let other = &all[self.below(all.len())];
                    party = self.pick(&["borrower", "third_party"]).into();
                    other.phone.clone()
                }
                3 => {
                    // The borrower's target for the other kind of channel.
                    if phone_channel {
                        bo.email.clone()
                    } else {
                        bo.phone.clone()
                    }
                }
                _ => own(channel),
            }
        };
        if purpose.is_none() && self.chance(0.3) {
            purpose = Some(
                self.pick(&[
                    "plan_reminder",
                    "notice:assignment",
                    "notice:validation",
                    "notice:cease_acknowledgement",
                    "notice:dispute_verification",
                    "notice:forbearance_offer",
                    "locate",
                ])
                .to_owned(),
            );
        }
        let agency = match channel {
            "agency_placement" => match self.below(4) {
                0 => None,
                1 => Some("AG-WEST".to_owned()),
                _ => Some("AG-EAST".to_owned()),
            },
            "call" | "sms" if self.chance(0.12) => {
                Some(self.pick(&["AG-EAST", "AG-WEST"]).to_owned())
            }
            _ => None,
        };
        let (text, lender) = if matches!(channel, "sms" | "email" | "push" | "letter")
            || (channel == "call" && self.chance(0.1))
        {
            let (t, l) = self.message(bo);
            (Some(t), l)
        } else {
            (None, EN_LENDER.to_owned())
        };
        let loan = if self.chance(0.9) {
            Some(self.pick(&bo.loans))
        } else {
            None
        };
        // Instants: mostly around the business date, often on an hours boundary.
        let day = self.pick(&[-1, 0, 0, 0, 0, 1, 1, 2, 3, 6, 9, 16]);
        let (h, m) = if self.chance(0.5) {
            self.pick(&[
                (7, 59),
                (8, 0),
                (9, 0),
                (10, 0),
                (12, 0),
                (17, 59),
                (18, 0),
                (19, 59),
                (20, 0),
                (20, 59),
                (21, 0),
                (21, 30),
                (22, 0),
                (23, 0),
            ])
        } else {
            (self.range(0, 23), self.range(0, 59))
        };
        let at = self.at(day, h, m, bo.tz);
        Contact {
            borrower: bo.id.clone(),
            loan,
            channel: channel.into(),
            party,
            target,
            purpose,
            agency,
            text,
            lender,
            code: CODE.into(),
            at,
            at_text: local_text(at, bo.tz),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers and sinks
// ---------------------------------------------------------------------------------------------

/// A running `arrears serve`; killed when dropped (only this child, by its handle).
struct Serve {
    child: Child,
    base: String,
    token: String,
    _logs: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(db: &str, clock_from: Timestamp) -> Serve {
        let token = ok(&[
            "tokens",
            "create",
            "--name",
            "one-system",
            "--scope",
            "contacts",
            "--scope",
            "events",
            "--scope",
            "work",
            "--scope",
            "read",
            "--db",
            db,
        ])
        .trim()
        .to_owned();
        let logs = tempfile::tempdir().unwrap();
        let err = std::fs::File::create(logs.path().join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_arrears"))
            .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
            .args(["--clock-from", &clock_from.to_string()])
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("arrears serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "arrears serve: first line {line:?}; stderr: {}",
                std::fs::read_to_string(logs.path().join("stderr.log")).unwrap_or_default()
            );
        };
        Serve {
            child,
            base,
            token,
            _logs: logs,
        }
    }

    fn check(&self, c: &Contact) -> Answer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let r = agent
            .post(format!("{}/v1/contacts/check", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(c.check_body().to_string());
        let mut r = match r {
            Ok(r) => r,
            Err(e) => return Answer::Error(e.to_string()),
        };
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            return Answer::Error(format!("HTTP {status}: {body}"));
        }
        match serde_json::from_str::<Value>(&body) {
            Ok(v) => Answer::from_json(&v),
            Err(e) => Answer::Error(format!("{e}: {body}")),
        }
    }
}

/// A gateway for SMS and push on a loopback port: answers 200 and keeps each idempotency key.
struct Gateway {
    url: String,
    keys: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    fn start() -> Gateway {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/sms", l.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(Vec::new()));
        let k = keys.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let mut len = 0usize;
                let mut key = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, v)) = line.trim_end().split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if name.eq_ignore_ascii_case("idempotency-key") {
                            key = Some(v.trim().to_owned());
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                if let Some(key) = key {
                    k.lock().unwrap().push(key);
                }
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}",
                );
            }
        });
        Gateway { url, keys }
    }
}

/// An SMTP server on a loopback port that accepts every message and keeps its
/// `Idempotency-Key` header.
struct MailSink {
    addr: String,
    keys: Arc<Mutex<Vec<String>>>,
}

impl MailSink {
    fn start() -> MailSink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let keys = Arc::new(Mutex::new(Vec::new()));
        let k = keys.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let k = k.clone();
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    let mut say = |t: &str| w.write_all(format!("{t}\r\n").as_bytes());
                    let _ = say("220 sink ESMTP");
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let up = line.trim_end().to_ascii_uppercase();
                        if up == "DATA" {
                            let _ = say("354 go on");
                            loop {
                                let mut l = String::new();
                                if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                    break;
                                }
                                if let Some(v) = l.strip_prefix("Idempotency-Key:") {
                                    k.lock().unwrap().push(v.trim().to_owned());
                                }
                            }
                            let _ = say("250 queued");
                        } else if up == "QUIT" {
                            let _ = say("221 bye");
                            return;
                        } else {
                            let _ = say("250 ok");
                        }
                    }
                });
            }
        });
        MailSink { addr, keys }
    }
}

// ---------------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------------

/// Runs `import` strictly and asserts that no row (portfolio or lifecycle) was rejected or
/// conflicted: the generated situation must be valid, or the paths would not see the same
/// records.
fn import(dir: &Path, db: &str) {
    let out = ok(&[
        "import",
        "--portfolio",
        dir.to_str().unwrap(),
        "--db",
        db,
        "--strict",
        "--rejects",
        "/dev/null",
    ]);
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() == 7 && w[1..].iter().all(|x| x.parse::<u64>().is_ok()) {
            assert!(
                w[2] == "0" && w[6] == "0",
                "import into {db} rejected or conflicted rows:\n{out}"
            );
        }
    }
}

fn set_policy(db: &str, file: &Path, from: Date) {
    ok(&[
        "policy",
        "set",
        file.to_str().unwrap(),
        "--effective-from",
        &from.to_string(),
        "--db",
        db,
    ]);
}

/// The lender policy files of a case: version 1 (in force from 2020-01-01), and a stricter
/// version 2 from its date when the case has one.
struct Policies {
    v1: PathBuf,
    v2: Option<(Date, PathBuf)>,
}

impl Policies {
    /// The file in force at `t`: by its UTC date, as `arrears check --db` resolves the store's
    /// versions.
    fn at(&self, t: Timestamp) -> &str {
        let on = t.in_tz("UTC").unwrap().date();
        match &self.v2 {
            Some((from, p)) if on >= *from => p.to_str().unwrap(),
            _ => self.v1.to_str().unwrap(),
        }
    }

    /// Stores every version in `db`.
    fn set(&self, db: &str) {
        set_policy(db, &self.v1, "2020-01-01".parse().unwrap());
        if let Some((from, p)) = &self.v2 {
            set_policy(db, p, *from);
        }
    }
}

/// What a case found, and what it covered.
#[derive(Default)]
struct Report {
    mismatches: Vec<String>,
    asked: usize,
    decisions: BTreeMap<String, usize>,
    rules_seen: BTreeMap<String, usize>,
    /// Where a failing case's folder and policies were kept.
    kept: Option<PathBuf>,
    /// How many disagreements of each kind (which paths departed from the reference).
    kinds: BTreeMap<String, usize>,
    /// The case's borrowers.csv rows.
    borrower_rows: Vec<String>,
    plan_rows: usize,
    plan_rows_skipped: usize,
    dispatched: BTreeMap<String, usize>,
}

impl Report {
    fn note(&mut self, a: &Answer) {
        if let Answer::Decided { allow, rules, .. } = a {
            *self
                .decisions
                .entry(if *allow { "allow" } else { "deny" }.into())
                .or_default() += 1;
            for r in rules {
                *self.rules_seen.entry(r.clone()).or_default() += 1;
            }
        }
    }

    /// Compares every answer with the first (file mode); a disagreement is kept with them all.
    fn compare(&mut self, kind: &str, what: &str, c: &Contact, answers: &[(&str, Answer)]) {
        self.asked += 1;
        let Some((_, reference)) = answers.first() else {
            return;
        };
        self.note(reference);
        let departed: Vec<&str> = answers
            .iter()
            .filter(|(_, a)| !a.agrees(reference))
            .map(|(path, _)| *path)
            .collect();
        if !departed.is_empty() {
            self.signature(format!(
                "{kind}: {} vs {}",
                departed.join(", "),
                answers[0].0
            ));
            let lines: Vec<String> = answers
                .iter()
                .map(|(path, a)| format!("      {path:<28} {a}"))
                .collect();
            self.mismatches
                .push(format!("{what}: {c}\n{}", lines.join("\n")));
        }
    }

    fn mismatch(&mut self, kind: &str, s: String) {
        self.signature(kind.to_owned());
        self.mismatches.push(s);
    }

    fn signature(&mut self, kind: String) {
        *self.kinds.entry(kind).or_default() += 1;
    }
}

/// A store the paths read: its target, and the database it lives in (dropped at the end).
struct Store {
    target: String,
    _db: TestDb,
}

fn new_store(b: Backend, dir: &Path, policies: &Policies) -> Option<Store> {
    let db = fresh(b)?;
    let target = db.target.clone();
    import(dir, &target);
    policies.set(&target);
    Some(Store { target, _db: db })
}

static CASES: AtomicUsize = AtomicUsize::new(0);

fn run_case(seed: u64) -> Report {
    let started = std::time::Instant::now();
    let case_no = CASES.fetch_add(1, Ordering::Relaxed);
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        as_of: "2026-11-20".parse::<Date>().unwrap(),
        edges: Vec::new(),
    };
    g.as_of = g.day_in(0, 14);
    let s = g.situation(seed);
    let mut report = Report {
        borrower_rows: s.borrowers.iter().map(|b| b.row.clone()).collect(),
        ..Report::default()
    };

    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("portfolio");
    std::fs::create_dir(&dir).unwrap();
    for (name, content) in &s.files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    let v1 = work.path().join("policy.toml");
    std::fs::write(&v1, s.policy.text()).unwrap();
    let policies = Policies {
        v1,
        v2: s.policy_v2.as_ref().map(|(from, spec)| {
            let p = work.path().join("policy-v2.toml");
            std::fs::write(&p, spec.text()).unwrap();
            (*from, p)
        }),
    };
    let dir_s = dir.to_str().unwrap();

    // The stores: SQLite always; PostgreSQL for every third case (when reachable).
    let sqlite = new_store(Backend::Sqlite, &dir, &policies).unwrap();
    let pg = if case_no.is_multiple_of(3) {
        new_store(Backend::Postgres, &dir, &policies)
    } else {
        None
    };
    // The server over PostgreSQL when there is one (its facts cache), else over SQLite; its
    // clock reads noon UTC on the business date.
    let clock = g.at(0, 12, 0, "UTC");
    let server = Serve::start(pg.as_ref().map_or(&sqlite.target, |p| &p.target), clock);
    let server_name = if pg.is_some() {
        "POST /v1/contacts/check (pg)"
    } else {
        "POST /v1/contacts/check (sqlite)"
    };

    // 1-4: every generated contact through every path.
    let languages: HashMap<&str, Option<&str>> = s
        .borrowers
        .iter()
        .map(|b| (b.id.as_str(), b.language))
        .collect();
    let mut files_answers: Vec<Answer> = Vec::new();
    for (i, c) in s.contacts.iter().enumerate() {
        let policy = policies.at(c.at);
        let mut answers: Vec<(&str, Answer)> = vec![
            (
                "check --portfolio",
                check_cli(c, &["--portfolio", dir_s, "--policy", policy]),
            ),
            ("check --db sqlite", check_cli(c, &["--db", &sqlite.target])),
        ];
        if let Some(pg) = &pg {
            answers.push(("check --db postgres", check_cli(c, &["--db", &pg.target])));
        }
        answers.push((server_name, server.check(c)));
        if c.written_queueable() && c.agency.is_none() {
            let key = format!("k{i}");
            answers.push((
                "outbox enqueue (sqlite)",
                enqueue_cli(c, &sqlite.target, &key, None),
            ));
        }
        files_answers.push(answers[0].1.clone());
        report.compare(
            "contact",
            &format!("contact ({})", language_note(&languages, c)),
            c,
            &answers,
        );
    }

    // 5: the dispatcher's send-time check.
    dispatch(&mut g, &s, &dir, &policies, &files_answers, &mut report);

    // 6: the plan over the folder and over the store.
    plan_paths(&s, &dir, &policies, &sqlite.target, &mut report);

    if !report.mismatches.is_empty() {
        // Kept for a replay by hand: the folder and the policy files.
        let keep = std::env::temp_dir().join(format!("one_system-{seed}"));
        let _ = std::fs::remove_dir_all(&keep);
        std::fs::create_dir_all(keep.join("portfolio")).unwrap();
        for (name, content) in &s.files {
            std::fs::write(keep.join("portfolio").join(name), content).unwrap();
        }
        std::fs::copy(&policies.v1, keep.join("policy.toml")).unwrap();
        if let Some((from, p)) = &policies.v2 {
            std::fs::copy(p, keep.join(format!("policy-v2-from-{from}.toml"))).unwrap();
        }
        report.kept = Some(keep);
    }

    drop(server);
    eprintln!(
        "one_system: seed {seed} as_of {} ({} borrowers{}{}): {} questions {:?}, \
         {} plan rows re-asked ({} not re-askable), dispatched {:?}, rule ids seen {:?}, \
         {} disagreements, {:.1} s",
        s.as_of,
        s.borrowers.len(),
        if pg.is_some() { ", PostgreSQL" } else { "" },
        if s.policy_v2.is_some() {
            ", policy v2"
        } else {
            ""
        },
        report.asked,
        report.decisions,
        report.plan_rows,
        report.plan_rows_skipped,
        report.dispatched,
        report.rules_seen,
        report.mismatches.len(),
        started.elapsed().as_secs_f64()
    );
    report
}

// ---------------------------------------------------------------------------------------------
// 5: the dispatcher
// ---------------------------------------------------------------------------------------------

/// Messages queued while allowed (one per borrower, each to its own target, borrowers with a
/// language on record so the message's language is theirs), then facts change: a preference
/// (opt-out or narrower hours), a sale, a placement or an active payment plan imported after
/// they were queued, or a stricter policy version from the send date. `outbox send --now T`
/// must end each row as `arrears check --db` answers at T: sent when allowed, deferred to
/// `earliest_allowed` or blocked, with "refused at send time by RULES".
fn dispatch(
    g: &mut Gen,
    s: &Situation,
    dir: &Path,
    policies: &Policies,
    files_answers: &[Answer],
    report: &mut Report,
) {
    let db = fresh(Backend::Sqlite).unwrap();
    import(dir, &db.target);
    policies.set(&db.target);
    let mut seen_borrowers = BTreeSet::new();
    let mut rows: Vec<(String, &Contact)> = Vec::new();
    for (i, c) in s.contacts.iter().enumerate() {
        let bo = s.borrowers.iter().find(|b| b.id == c.borrower).unwrap();
        if files_answers[i].allow() == Some(true)
            && c.written_queueable()
            && c.agency.is_none()
            && c.party == "borrower"
            && bo.language.is_some()
            && !seen_borrowers.contains(&c.borrower)
            && rows.len() < 5
        {
            seen_borrowers.insert(c.borrower.clone());
            let key = format!("d{i}");
            let a = enqueue_cli(c, &db.target, &key, bo.language);
            if a.allow() != Some(true) {
                let language = bo.language.unwrap_or("");
                report.mismatch(
                    "dispatch: outbox enqueue refused a message check allows",
                    format!(
                        "dispatch: {c}\n      check --portfolio allows it; \
                         outbox enqueue (sqlite, --language {language}) answers {a}"
                    ),
                );
                continue;
            }
            rows.push((key, c));
        }
    }
    if rows.is_empty() {
        return;
    }
    let last = rows.iter().map(|(_, c)| c.at).max().unwrap();
    let now = last
        .checked_add(SignedDuration::from_mins(g.pick(&[
            60,
            180,
            13 * 60,
            26 * 60,
            8 * 24 * 60,
        ])))
        .unwrap();
    // The changes, imported after the messages were queued (as a feed: an empty contacts
    // table and the lifecycle rows).
    let feed = tempfile::tempdir().unwrap();
    let mut tables: BTreeMap<&str, String> = BTreeMap::new();
    tables.insert(
        "contacts.csv",
        "contact_id,borrower_id,loan_id,channel,direction,at,outcome,target,party\n".into(),
    );
    let mut changes: Vec<String> = Vec::new();
    for (key, c) in &rows {
        let after = c.at.checked_add(SignedDuration::from_mins(30)).unwrap();
        let loan = c.loan.clone();
        let change = g.below(7);
        let mut push = |t: &'static str, header: &str, line: String| {
            let e = tables.entry(t).or_insert_with(|| format!("{header}\n"));
            e.push_str(&line);
            e.push('\n');
        };
        let what = match (change, &loan) {
            (0, _) => {
                push(
                    "preferences.csv",
                    "borrower_id,channel,opted_out,contact_from,contact_to,updated_at",
                    format!("{},{},true,,,{after}", c.borrower, c.channel),
                );
                "opt-out"
            }
            (1, _) => {
                let (from, to) =
                    g.pick(&[("10:00", "12:00"), ("13:00", "14:00"), ("06:00", "07:00")]);
                push(
                    "preferences.csv",
                    "borrower_id,channel,opted_out,contact_from,contact_to,updated_at",
                    format!("{},{},false,{from},{to},{after}", c.borrower, c.channel),
                );
                "hours"
            }
            (2, Some(l)) => {
                push(
                    "sales.csv",
                    "sale_id,loan_id,buyer,sold_at",
                    format!("SX{key},{l},Debt Buyer Co,{after}"),
                );
                "sale"
            }
            (3, Some(l)) => {
                push(
                    "placements.csv",
                    "placement_id,loan_id,agency_id,placed_at,recalled_at",
                    format!("PX{key},{l},AG-EAST,{after},"),
                );
                "placement"
            }
            (4, Some(l)) => {
                push(
                    "payment_plans.csv",
                    "plan_id,loan_id,status,created_at",
                    format!("PLX{key},{l},active,{after}"),
                );
                push(
                    "plan_installments.csv",
                    "plan_id,seq,due_date,amount_minor",
                    format!(
                        "PLX{key},1,{},5000",
                        s.as_of.checked_add(20.days()).unwrap()
                    ),
                );
                "plan"
            }
            _ => "nothing",
        };
        changes.push(format!("{key}: {what}"));
    }
    for (name, content) in &tables {
        std::fs::write(feed.path().join(name), content).unwrap();
    }
    import(feed.path(), &db.target);
    // Sometimes a stricter policy from the send date on.
    if g.chance(0.3) {
        let stricter = feed.path().join("stricter.toml");
        let base = match &s.policy_v2 {
            Some((from, v2)) if now.in_tz("UTC").unwrap().date() >= *from => v2,
            _ => &s.policy,
        };
        std::fs::write(
            &stricter,
            base.with_hours("one-system-send", "19:00").text(),
        )
        .unwrap();
        set_policy(&db.target, &stricter, now.in_tz("UTC").unwrap().date());
        changes.push("a stricter policy from the send date".into());
    }

    // What `arrears check --db` answers for each row at the send instant, before anything is
    // sent (a sent row becomes a contact).
    let expected: Vec<(String, Contact, Answer)> = rows
        .iter()
        .map(|(key, c)| {
            let mut at_now = (*c).clone();
            at_now.at = now;
            let tz = s.borrowers.iter().find(|b| b.id == c.borrower).unwrap().tz;
            at_now.at_text = local_text(now, tz);
            let a = check_cli(&at_now, &["--db", &db.target]);
            (key.clone(), at_now, a)
        })
        .collect();

    let gw = Gateway::start();
    let mail = MailSink::start();
    let o = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args([
            "outbox",
            "send",
            "--db",
            &db.target,
            "--once",
            "--now",
            &now.to_string(),
            "--webhook",
            &gw.url,
            "--smtp",
            &mail.addr,
            // The sink is plaintext on loopback: the local-relay escape.
            "--smtp-tls",
            "none",
        ])
        .env("ARREARS_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let status = ok(&["outbox", "status", "--db", &db.target, "--rows"]);
    let states: HashMap<String, (String, String, String)> = status
        .lines()
        .skip_while(|l| !l.starts_with("outbox_id\t"))
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (
                c[1].to_owned(),
                (
                    c[3].to_owned(),
                    c[5].to_owned(),
                    c.get(6).unwrap_or(&"").to_string(),
                ),
            )
        })
        .collect();
    let delivered: BTreeSet<String> = gw
        .keys
        .lock()
        .unwrap()
        .iter()
        .chain(mail.keys.lock().unwrap().iter())
        .cloned()
        .collect();
    for (key, c, want) in &expected {
        let Some((state, next, error)) = states.get(key) else {
            report.mismatch(
                "dispatch: row missing",
                format!("dispatch: row {key} is not in the outbox:\n{status}"),
            );
            continue;
        };
        *report.dispatched.entry(state.clone()).or_default() += 1;
        report.asked += 1;
        report.note(want);
        let refused = format!("refused at send time by {}", want.rules().join(" "));
        let good = match want {
            Answer::Decided { allow: true, .. } => state == "sent" && delivered.contains(key),
            Answer::Decided { allow: false, .. } => match want.earliest() {
                Some(e) => {
                    state == "pending"
                        && next.parse::<Timestamp>().ok() == Some(e)
                        && sorted_rules_of(error) == sorted_rules_of(&refused)
                }
                None => state == "blocked" && sorted_rules_of(error) == sorted_rules_of(&refused),
            },
            Answer::Error(_) => false,
        };
        if !good {
            let (changes, delivered) = (changes.join(", "), delivered.contains(key));
            report.mismatch(
                "dispatch: outbox send vs check --db",
                format!(
                    "dispatch at {now}: {c}\n      changes: {changes}\n      \
                     check --db sqlite            {want}\n      \
                     outbox send --now            state {state}, next_attempt_at {next}, \
                     last_error {error:?}, delivered {delivered}"
                ),
            );
        }
    }
}

/// The rule ids of "refused at send time by R1 R2", sorted (empty for anything else).
fn sorted_rules_of(reason: &str) -> Option<Vec<String>> {
    let rest = reason.strip_prefix("refused at send time by ")?;
    let mut v: Vec<String> = rest.split(' ').map(str::to_owned).collect();
    v.sort();
    Some(v)
}

// ---------------------------------------------------------------------------------------------
// 6: the plan
// ---------------------------------------------------------------------------------------------

type Rows = BTreeMap<String, BTreeMap<String, String>>;

/// A plan CSV as rows by action id, each a map column -> value.
fn plan_csv(path: &Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let row: BTreeMap<String, String> = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect();
            (row["action_id"].clone(), row)
        })
        .collect()
}

/// The plan's audit entries by action id: (kind, instant of the entry, data).
fn plan_audit(path: &Path) -> HashMap<String, (String, String, Value)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            let kind = e["kind"].as_str()?.to_owned();
            let id = e["data"]["action_id"].as_str()?.to_owned();
            Some((id, (kind, e["at"].as_str()?.to_owned(), e["data"].clone())))
        })
        .collect()
}

/// `arrears plan` over `source` into `out`; the error output when it fails.
fn plan(source: &[&str], out: &Path, keys: &Path, as_of: Date) -> Result<(), String> {
    let as_of = as_of.to_string();
    let mut args = vec![
        "plan",
        "--as-of",
        &as_of,
        "--out",
        out.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(source);
    let o = arrears(&args);
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", text(&o.stdout), text(&o.stderr)))
    }
}

/// The plan (made with the policy in force on the business date, version 1) over the folder
/// and over the store, compared row by row, and every row asked again.
fn plan_paths(s: &Situation, dir: &Path, policies: &Policies, db: &str, report: &mut Report) {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    let (out_f, out_s) = (work.path().join("files"), work.path().join("store"));
    let v1 = policies.v1.to_str().unwrap();
    let files = plan(
        &["--portfolio", dir.to_str().unwrap(), "--policy", v1],
        &out_f,
        &keys,
        s.as_of,
    );
    let store = plan(&["--db", db], &out_s, &keys, s.as_of);
    if files.is_err() || store.is_err() {
        let written = || "written".to_owned();
        let (files, store) = (
            files.err().unwrap_or_else(written),
            store.err().unwrap_or_else(written),
        );
        report.mismatch(
            "plan refused",
            format!(
                "plan of {}: the plan was refused\n      plan --portfolio: {}\n      \
                 plan --db sqlite: {}",
                s.as_of,
                files.trim(),
                store.trim(),
            ),
        );
        return;
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out_f.join("plan_summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["rejected_rows"], 0,
        "the generated folder has rejects: {summary}"
    );
    assert_eq!(
        summary["extension_rejects"], 0,
        "lifecycle rejects: {summary}"
    );

    // The plan over the folder equals the plan over the store, unless a stored policy version
    // takes effect (midnight UTC of its date) inside the plan's day: a folder has one policy,
    // the store plans the hand-over (every store row is still re-asked below).
    let hand_over = s
        .policy_v2
        .as_ref()
        .is_some_and(|(from, _)| *from <= s.as_of.tomorrow().unwrap());
    for name in ["actions.csv", "blocked.csv"] {
        if hand_over {
            break;
        }
        let (f, st) = (plan_csv(&out_f.join(name)), plan_csv(&out_s.join(name)));
        if f != st {
            let only = |a: &Rows, b: &Rows| -> Vec<String> {
                a.iter()
                    .filter(|(k, v)| b.get(*k) != Some(v))
                    .map(|(_, v)| format!("{v:?}"))
                    .collect()
            };
            report.mismatch(
                "plan: folder vs store",
                format!(
                    "plan {name}: the folder's plan and the store's differ\n      \
                     files only: {:?}\n      store only: {:?}",
                    only(&f, &st),
                    only(&st, &f)
                ),
            );
        }
    }
    let (audit_f, audit_s) = (
        plan_audit(&out_f.join("audit.jsonl")),
        plan_audit(&out_s.join("audit.jsonl")),
    );
    for (id, (kind, _, data)) in &audit_f {
        if kind == "plan.action" {
            let other = audit_s.get(id).map(|x| &x.2["text"]);
            if other != Some(&data["text"]) {
                report.mismatch(
                    "plan: message text folder vs store",
                    format!(
                        "plan {id}: the message text differs: files {} store {:?}",
                        data["text"], other
                    ),
                );
            }
        }
    }

    let strategy = arrears_strategy::Strategy::default_strategy().unwrap();
    let tz_of: HashMap<&str, &str> = s.borrowers.iter().map(|b| (b.id.as_str(), b.tz)).collect();
    let language_of: HashMap<&str, Option<&str>> = s
        .borrowers
        .iter()
        .map(|b| (b.id.as_str(), b.language))
        .collect();
    let contact_for =
        |row: &BTreeMap<String, String>, at: Timestamp, text: Option<String>, code: &str| {
            let rule = strategy
                .rules
                .iter()
                .find(|r| r.id == row["rule_id"])
                .unwrap();
            let purpose = rule.action.purpose.to_string();
            let borrower = row["borrower_id"].clone();
            Contact {
                at_text: local_text(at, tz_of[borrower.as_str()]),
                borrower,
                loan: Some(row["loan_id"].clone()),
                channel: row["channel"].clone(),
                party: row["party"].clone(),
                target: Some(row["target"].clone()).filter(|t| !t.is_empty()),
                purpose: (purpose != "collection").then_some(purpose),
                agency: rule.action.agency_id.clone(),
                text,
                lender: PLAN_LENDER.into(),
                code: code.into(),
                at,
            }
        };
    let dir_s = dir.to_str().unwrap();
    // Asked again with the policy in force at the instant asked (a stricter version from a
    // later date applies to a window that runs into that date).
    let ask = |c: &Contact| -> Vec<(&'static str, Answer)> {
        vec![
            (
                "check --portfolio",
                check_cli(c, &["--portfolio", dir_s, "--policy", policies.at(c.at)]),
            ),
            ("check --db sqlite", check_cli(c, &["--db", db])),
        ]
    };
    let allow = Answer::Decided {
        allow: true,
        rules: Vec::new(),
        earliest: Some(None),
    };

    // Every action is allowed at not_before and not_after; a rescheduled one is denied at the
    // plan instant by the rules that moved it, earliest_allowed = not_before.
    // The plan whose rows are asked again: the store's when it hands over to a later policy
    // version inside the day (a folder has one policy and cannot).
    let (out_asked, audit_asked) = if hand_over {
        (&out_s, &audit_s)
    } else {
        (&out_f, &audit_f)
    };
    let actions = plan_csv(&out_asked.join("actions.csv"));
    for (id, row) in &actions {
        if row["kind"] == "write_off_proposal" {
            continue;
        }
        let Some((_, issued, data)) = audit_asked.get(id) else {
            report.mismatch(
                "plan: audit entry missing",
                format!("plan {id}: no plan.action audit entry"),
            );
            continue;
        };
        let text = data["text"].as_str().map(str::to_owned);
        let code = data["verification_code"].as_str().unwrap_or("");
        let nb: Timestamp = row["not_before"].parse().unwrap();
        let na: Timestamp = row["not_after"].parse().unwrap();
        let issued: Timestamp = issued.parse().unwrap();
        let mut checks = vec![(nb, allow.clone()), (na, allow.clone())];
        let deferred: Vec<String> = data["deferred_by"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !deferred.is_empty() {
            let mut rules = deferred;
            rules.sort();
            checks.push((
                issued,
                Answer::Decided {
                    allow: false,
                    rules,
                    earliest: Some(Some(nb)),
                },
            ));
        }
        for (at, want) in checks {
            let c = contact_for(row, at, text.clone(), code);
            let mut answers = vec![("plan (files and store)", want)];
            answers.extend(ask(&c));
            report.plan_rows += 1;
            report.compare(
                "plan action",
                &format!("plan action {id} ({})", language_note(&language_of, &c)),
                &c,
                &answers,
            );
        }
    }

    // Every block is denied again with its rule ids and earliest_allowed. A blocked message's
    // text is not on record: it is asked with a clean text in the plan's language, and only
    // when neither the plan's rules nor the answer involve the text.
    let blocked = plan_csv(&out_asked.join("blocked.csv"));
    for (id, row) in &blocked {
        let Some((_, _, data)) = audit_asked.get(id) else {
            report.mismatch(
                "plan: audit entry missing",
                format!("plan {id}: no plan.block audit entry"),
            );
            continue;
        };
        if !data["note"].is_null() {
            // Not the engine's decision (no code could be issued, a template failed).
            report.plan_rows_skipped += 1;
            continue;
        }
        let mut rules: Vec<String> = row["rule_ids"].split(';').map(str::to_owned).collect();
        rules.sort();
        let at: Timestamp = row["not_before"].parse().unwrap();
        let earliest = Some(row["earliest_allowed"].as_str())
            .filter(|e| !e.is_empty())
            .map(|e| e.parse::<Timestamp>().unwrap());
        let written = matches!(row["channel"].as_str(), "sms" | "email" | "push" | "letter");
        if written && rules.iter().any(|r| CONTENT_RULES.contains(&r.as_str())) {
            report.plan_rows_skipped += 1;
            continue;
        }
        let text = written.then(|| {
            if row["language"] == "zh-CN" {
                PLAN_ZH_TEXT.to_owned()
            } else {
                PLAN_EN_TEXT.to_owned()
            }
        });
        let c = contact_for(row, at, text, CODE);
        let answers = ask(&c);
        if written
            && answers.iter().any(|(_, a)| {
                a.rules()
                    .iter()
                    .any(|r| CONTENT_RULES.contains(&r.as_str()))
            })
        {
            report.plan_rows_skipped += 1;
            continue;
        }
        let want = Answer::Decided {
            allow: false,
            rules,
            earliest: Some(earliest),
        };
        let mut all = vec![("plan (files and store)", want)];
        all.extend(answers);
        report.plan_rows += 1;
        report.compare("plan block", &format!("plan block {id}"), &c, &all);
    }

    // The plan's messages are queued over the store, none refused.
    let written = plan_csv(&out_s.join("actions.csv"))
        .values()
        .filter(|r| matches!(r["channel"].as_str(), "sms" | "email" | "push"))
        .count();
    let out = ok(&[
        "outbox",
        "enqueue",
        "--plan-dir",
        out_s.to_str().unwrap(),
        "--db",
        db,
    ]);
    if !out.contains(&format!("queued {written}, already queued 0, refused 0")) {
        report.mismatch(
            "plan: outbox enqueue --plan-dir refused",
            format!(
                "outbox enqueue --plan-dir: the plan has {written} messages; \
                 enqueue answered {out:?}"
            ),
        );
    }
}

/// The borrower's language column, for reports.
fn language_note(languages: &HashMap<&str, Option<&str>>, c: &Contact) -> String {
    format!(
        "borrower language column {:?}",
        languages
            .get(c.borrower.as_str())
            .copied()
            .flatten()
            .unwrap_or("")
    )
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("ONE_SYSTEM_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(8),
        max_shrink_iters: 0,
        failure_persistence: None,
        // The same generated cases on every run (CI must not depend on luck);
        // ONE_SYSTEM_RANDOM=1 draws new ones to explore.
        rng_seed: if std::env::var_os("ONE_SYSTEM_RANDOM").is_some() {
            proptest::test_runner::RngSeed::Random
        } else {
            proptest::test_runner::RngSeed::Fixed(20_261_207)
        },
        ..ProptestConfig::default()
    })]

    /// Every path decides every generated contact the same: decision, rule ids and
    /// earliest_allowed.
    #[test]
    fn every_path_decides_the_same(seed in any::<u64>()) {
        let seed = std::env::var("ONE_SYSTEM_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(seed);
        let report = run_case(seed);
        if !report.mismatches.is_empty() {
            let kinds: Vec<String> = report
                .kinds
                .iter()
                .map(|(k, n)| format!("  {n:>3} x {k}"))
                .collect();
            let shown: Vec<&str> = report.mismatches.iter().take(40).map(String::as_str).collect();
            prop_assert!(
                false,
                "seed {seed} (replay with ONE_SYSTEM_SEED={seed}; the folder and policies are \
                 kept in {}): {} disagreement(s), by kind:\n{}\n\n  {}\n\nborrowers:\n{}",
                report.kept.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                report.mismatches.len(),
                kinds.join("\n"),
                shown.join("\n\n  "),
                report.borrower_rows.iter().map(|b| format!("  {b}")).collect::<Vec<_>>().join("\n")
            );
        }
    }
}
