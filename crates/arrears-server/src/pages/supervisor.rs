//! The manager dashboard (supervisors, compliance and admins): the day's plan, the bucket
//! and stage distribution, roll and cure rates, promises, contacts blocked by rule, what each
//! user recorded, strategy arms, and the compliance view of the contacts recorded as
//! violations.

use super::shared::{
    Chrome, Ctx, DateQuery, book_payments, business_date, forbidden, format_minor, internal,
    is_manager, redirect, render, when,
};
use super::texts::{Lang, label};
use crate::{AppState, now, workbench};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

struct RollView {
    from: String,
    to: String,
    loans: u64,
    rate: String,
    currency: String,
}

struct CureView {
    period: String,
    delinquent: u64,
    cured: u64,
    rate: String,
}

struct AgentView {
    agent: String,
    contacts: u64,
    right_party: u64,
    promises: u64,
}

struct ArmView {
    rule_id: String,
    arm: String,
    loans: usize,
    delinquent: u64,
    cured: u64,
    rate: String,
    collected: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    plan_date: String,
    plan_note: String,
    snapshot: Option<String>,
    period: Option<String>,
    bucket_chart: String,
    stage_chart: String,
    rolls: Vec<RollView>,
    cures: Vec<CureView>,
    cure_chart: String,
    promise_kept: String,
    promise_counts: (u64, u64, u64),
    promise_chart: String,
    blocked: Vec<(String, u64)>,
    blocked_chart: String,
    agents: Vec<AgentView>,
    agent_chart: String,
    arms: Vec<ArmView>,
    arm_chart: String,
    compliance: ComplianceView,
}

/// A contact recorded although a rule forbade it.
struct ViolationView {
    at: String,
    borrower: String,
    loan: String,
    channel: String,
    outcome: String,
    agency: String,
    rules: String,
}

/// The dashboard's compliance view: violations over the last [`VIOLATION_DAYS`] UTC days
/// to the business date.
struct ComplianceView {
    period: String,
    total: usize,
    by_rule: Vec<(String, u64)>,
    rule_chart: String,
    day_chart: String,
    /// (day, rule id, contacts), by day then rule.
    by_rule_day: Vec<(String, String, u64)>,
    latest: Vec<ViolationView>,
}

/// How many UTC days, to the business date, the compliance view covers.
const VIOLATION_DAYS: i64 = 30;
/// How many of the latest violations the dashboard lists.
const VIOLATIONS_LISTED: usize = 50;

/// The violations recorded on the [`VIOLATION_DAYS`] UTC days to `as_of` (the store counts
/// them by UTC day): by rule, by day, by rule and day, and the latest listed.
async fn compliance_view(
    state: &AppState,
    lang: Lang,
    as_of: jiff::civil::Date,
) -> Result<ComplianceView, String> {
    let t = lang.texts();
    let first = as_of
        .checked_sub(jiff::Span::new().days(VIOLATION_DAYS - 1))
        .map_err(|e| e.to_string())?;
    let end = as_of.tomorrow().map_err(|e| e.to_string())?;
    let utc = |d: jiff::civil::Date| {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let (from, to) = (utc(first)?, utc(end)?);
    let store = state.store();
    let counts = store
        .violation_counts_by_rule_and_day(from, to)
        .await
        .map_err(|e| e.to_string())?;
    let list = store
        .violations(from, to)
        .await
        .map_err(|e| e.to_string())?;
    let mut by_rule: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for c in &counts {
        *by_rule.entry(c.rule_id.clone()).or_default() += c.contacts;
    }
    let by_rule: Vec<(String, u64)> = by_rule.into_iter().collect();
    // Contacts per day (a contact that broke two rules counts once here).
    let mut per_day: std::collections::BTreeMap<jiff::civil::Date, u64> =
        std::collections::BTreeMap::new();
    for v in &list {
        *per_day
            .entry(jiff::tz::Offset::UTC.to_datetime(v.contact.row.at).date())
            .or_default() += 1;
    }
    let days: Vec<arrears_report::Bar> = first
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= as_of)
        .map(|d| {
            let n = per_day.get(&d).copied().unwrap_or(0);
            // The day of the month (the period is printed above the chart): 30 dates fit.
            arrears_report::Bar {
                label: d.day().to_string(),
                value: Some(u128::from(n)),
                shown: if n == 0 { String::new() } else { n.to_string() },
            }
        })
        .collect();
    let latest = list
        .iter()
        .rev()
        .take(VIOLATIONS_LISTED)
        .map(|v| {
            let c = &v.contact;
            ViolationView {
                at: when(c.row.at),
                borrower: c.borrower_id.as_str().to_owned(),
                loan: c
                    .loan_id
                    .as_ref()
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default(),
                channel: label(lang, &c.row.channel),
                outcome: label(lang, &c.row.outcome),
                agency: c.row.agency_id.as_deref().unwrap_or_default().to_owned(),
                rules: v.rule_ids.join(", "),
            }
        })
        .collect();
    Ok(ComplianceView {
        period: format!("{first} – {as_of}"),
        total: list.len(),
        rule_chart: arrears_report::bars(
            "violations",
            t.violations_by_rule,
            t.violations_n,
            &count_bars(&by_rule),
            1,
        ),
        by_rule,
        day_chart: arrears_report::bars(
            "violations-by-day",
            t.violations_by_day,
            t.violations_n,
            &days,
            1,
        ),
        by_rule_day: counts
            .into_iter()
            .map(|c| (c.day.to_string(), c.rule_id, c.contacts))
            .collect(),
        latest,
    })
}

/// How many business dates of snapshots the roll, cure and arm figures span at most.
const DASHBOARD_DAYS: i64 = 31;

fn count_bars(items: &[(String, u64)]) -> Vec<arrears_report::Bar> {
    items
        .iter()
        .map(|(l, n)| arrears_report::Bar {
            label: l.clone(),
            value: Some(u128::from(*n)),
            shown: n.to_string(),
        })
        .collect()
}

fn rate_bar(label: String, p: arrears_report::Pct) -> arrears_report::Bar {
    arrears_report::Bar {
        label,
        value: p.hundredths(),
        shown: p.to_string(),
    }
}

/// Amounts per currency, `12.00 USD + 3.00 EUR`.
fn per_currency(sums: &std::collections::BTreeMap<String, i64>) -> String {
    if sums.is_empty() {
        return "0".to_owned();
    }
    sums.iter()
        .map(|(c, v)| format_minor(*v, c))
        .collect::<Vec<_>>()
        .join(" + ")
}

pub(super) async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DateQuery>,
) -> Response {
    let Some((_, role)) = ctx.staff() else {
        return if ctx.borrower().is_some() {
            forbidden(&ctx)
        } else {
            redirect("/login")
        };
    };
    if !is_manager(role) {
        return forbidden(&ctx);
    }
    let t = ctx.t();
    let store = state.store();
    let as_of = business_date(&state, &q);
    let plan = match workbench::day_plan(&state, as_of).await {
        Ok(p) => p,
        Err(e) => return internal(&ctx, e),
    };
    let from = jiff::civil::date(1900, 1, 1);
    let mut dates = match store.snapshot_dates(from, as_of).await {
        Ok(d) => d,
        Err(e) => return internal(&ctx, e),
    };
    let keep = dates
        .len()
        .saturating_sub(usize::try_from(DASHBOARD_DAYS).unwrap_or(31));
    dates.drain(..keep);
    let mut days = Vec::with_capacity(dates.len());
    for d in &dates {
        match store.snapshot_rows(*d).await {
            Ok(rows) => days.push((*d, rows)),
            Err(e) => return internal(&ctx, e),
        }
    }
    let config = state.config();
    let buckets: Vec<String> = config.buckets.names().to_vec();
    let stages: Vec<String> = config.stages.names().to_vec();
    // The distribution on the latest snapshot date.
    let latest = days.last();
    let dist = |names: &[String], pick: fn(&arrears_store::SnapshotRow) -> &str| {
        names
            .iter()
            .map(|n| {
                let c = latest.map_or(0, |(_, rows)| {
                    rows.iter().filter(|r| pick(r) == n.as_str()).count()
                });
                (n.clone(), u64::try_from(c).unwrap_or(u64::MAX))
            })
            .collect::<Vec<_>>()
    };
    let by_bucket = dist(&buckets, |r| r.bucket.as_str());
    let by_stage = dist(&stages, |r| r.stage.as_str());
    // Roll and cure rates over the snapshots, by the report crate.
    let history = arrears_report::History {
        days: days
            .iter()
            .map(|(d, rows)| arrears_report::Day {
                as_of: *d,
                loans: rows
                    .iter()
                    .filter(|r| r.disbursed_on <= *d)
                    .map(|r| arrears_report::LoanDay {
                        loan_id: r.loan_id.clone(),
                        status: r.status.clone(),
                        dpd: r.dpd,
                        bucket: r.bucket.clone(),
                        stage: r.stage.clone(),
                        overdue_minor: r.overdue_minor,
                        outstanding_principal_minor: r.outstanding_principal_minor,
                        paid_minor: r.paid_minor,
                        currency: r.currency.clone(),
                        disbursed_on: r.disbursed_on,
                    })
                    .collect(),
            })
            .collect(),
        buckets: buckets.clone(),
        stages: stages.clone(),
    };
    let (rolls, cures) = if days.len() >= 2 {
        match arrears_report::build(&history) {
            Ok(r) => {
                let rolls = r
                    .roll_rates
                    .iter()
                    .filter(|x| x.loans > 0)
                    .map(|x| RollView {
                        from: x.from_bucket.clone(),
                        to: x.to_bucket.clone(),
                        loans: x.loans,
                        rate: x.roll_rate.to_string(),
                        currency: x.currency.clone(),
                    })
                    .collect();
                let mut per: std::collections::BTreeMap<
                    (jiff::civil::Date, jiff::civil::Date),
                    (u64, u64),
                > = std::collections::BTreeMap::new();
                for p in &r.periods {
                    let e = per.entry((p.from_date, p.to_date)).or_default();
                    e.0 += p.delinquent_start;
                    e.1 += p.cured;
                }
                let cures = per
                    .into_iter()
                    .map(|((f, to), (d, c))| CureView {
                        period: format!("{f} → {to}"),
                        delinquent: d,
                        cured: c,
                        rate: arrears_report::Pct::new(c, d).to_string(),
                    })
                    .collect();
                (rolls, cures)
            }
            Err(e) => return internal(&ctx, e),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let cure_chart = arrears_report::bars(
        "cure-rate",
        t.cure_rate,
        "%",
        &cures
            .iter()
            .map(|c: &CureView| {
                rate_bar(
                    c.period.clone(),
                    arrears_report::Pct::new(c.cured, c.delinquent),
                )
            })
            .collect::<Vec<_>>(),
        100,
    );
    // Every promise made by the date, by its state on it (read live).
    let books = match store.promise_books().await {
        Ok(b) => b,
        Err(e) => return internal(&ctx, e),
    };
    let zone = config.business_tz.clone();
    let mut pc = (0u64, 0u64, 0u64);
    for b in &books {
        let pays = book_payments(b);
        for p in b
            .promises
            .iter()
            .filter(|p| zone.date_of(p.created_at) <= as_of)
        {
            match workbench::promise_state(
                p.created_at,
                p.amount_minor,
                p.due_date,
                &pays,
                as_of,
                &zone,
            ) {
                "kept" => pc.0 += 1,
                "broken" => pc.1 += 1,
                _ => pc.2 += 1,
            }
        }
    }
    struct Pc {
        kept: u64,
        broken: u64,
        pending: u64,
    }
    let pc = Pc {
        kept: pc.0,
        broken: pc.1,
        pending: pc.2,
    };
    let kept_rate = arrears_report::Pct::new(pc.kept, pc.kept + pc.broken);
    let promise_chart = arrears_report::bars(
        "promises",
        t.promises,
        t.promises_n,
        &count_bars(&[
            (label(ctx.lang, "kept"), pc.kept),
            (label(ctx.lang, "broken"), pc.broken),
            (label(ctx.lang, "pending"), pc.pending),
        ]),
        1,
    );
    let blocked: Vec<(String, u64)> = plan
        .blocked_by_rule
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    // What each user recorded on the business date.
    let start = as_of
        .to_zoned(config.business_tz.tz().clone())
        .map_or_else(|_| now(), |z| z.timestamp());
    let activity = match store.activity_since(start).await {
        Ok(a) => a,
        Err(e) => return internal(&ctx, e),
    };
    let agents: Vec<AgentView> = activity
        .into_iter()
        .map(|a| AgentView {
            agent: a.actor.strip_prefix("user:").unwrap_or(&a.actor).to_owned(),
            contacts: a.contacts,
            right_party: a.right_party,
            promises: a.promises,
        })
        .collect();
    // Arms: the plan's loans per strategy rule and arm, and how they did over the snapshots.
    let first: std::collections::HashMap<&str, &arrears_store::SnapshotRow> = days
        .first()
        .map(|(_, rows)| rows.iter().map(|r| (r.loan_id.as_str(), r)).collect())
        .unwrap_or_default();
    let last: std::collections::HashMap<&str, &arrears_store::SnapshotRow> = days
        .last()
        .map(|(_, rows)| rows.iter().map(|r| (r.loan_id.as_str(), r)).collect())
        .unwrap_or_default();
    let mut arms: Vec<ArmView> = Vec::new();
    for group in plan
        .arms
        .chunk_by(|a, b| a.rule_id == b.rule_id && a.arm == b.arm)
    {
        let Some(head) = group.first() else { continue };
        let (mut delinquent, mut cured) = (0u64, 0u64);
        let mut collected: std::collections::BTreeMap<String, i64> =
            std::collections::BTreeMap::new();
        for a in group {
            let (Some(f), Some(l)) = (first.get(a.loan_id.as_str()), last.get(a.loan_id.as_str()))
            else {
                continue;
            };
            if days.len() >= 2 && f.dpd > 0 {
                delinquent += 1;
                if l.dpd == 0 || l.status == "paid_off" {
                    cured += 1;
                }
            }
            *collected.entry(l.currency.clone()).or_default() +=
                l.paid_minor.saturating_sub(f.paid_minor);
        }
        arms.push(ArmView {
            rule_id: head.rule_id.clone(),
            arm: head.arm.clone(),
            loans: group.len(),
            delinquent,
            cured,
            rate: arrears_report::Pct::new(cured, delinquent).to_string(),
            collected: per_currency(&collected),
        });
    }
    let arm_chart = arrears_report::bars(
        "arms",
        t.arms,
        t.loans,
        &arms
            .iter()
            .map(|a| arrears_report::Bar {
                label: format!("{}/{}", a.rule_id, a.arm),
                value: Some(a.loans as u128),
                shown: if a.rate.is_empty() {
                    a.loans.to_string()
                } else {
                    format!("{} · {}%", a.loans, a.rate)
                },
            })
            .collect::<Vec<_>>(),
        1,
    );
    let compliance = match compliance_view(&state, ctx.lang, as_of).await {
        Ok(c) => c,
        Err(e) => return internal(&ctx, e),
    };
    let page = DashboardPage {
        chrome: ctx.chrome(),
        plan_date: as_of.to_string(),
        plan_note: format!(
            "{} {} UTC ({} ms, {} loans, {} actions, {} blocked)",
            t.plan_made,
            when(plan.made_at),
            plan.millis,
            plan.loans,
            plan.actions,
            plan.blocked
        ),
        snapshot: latest.map(|(d, _)| d.to_string()),
        period: (days.len() >= 2).then(|| {
            format!(
                "{} → {}",
                days.first().map(|d| d.0.to_string()).unwrap_or_default(),
                days.last().map(|d| d.0.to_string()).unwrap_or_default()
            )
        }),
        bucket_chart: arrears_report::bars(
            "buckets",
            t.by_bucket,
            t.loans,
            &count_bars(&by_bucket),
            1,
        ),
        stage_chart: arrears_report::bars("stages", t.by_stage, t.loans, &count_bars(&by_stage), 1),
        rolls,
        cures,
        cure_chart,
        promise_kept: kept_rate.to_string(),
        promise_counts: (pc.kept, pc.broken, pc.pending),
        promise_chart,
        blocked_chart: arrears_report::bars(
            "blocked",
            t.blocked_by_rule,
            t.contacts_n,
            &count_bars(&blocked),
            1,
        ),
        blocked,
        agent_chart: arrears_report::bars(
            "agents",
            t.agent_perf,
            t.contacts_n,
            &count_bars(
                &agents
                    .iter()
                    .map(|a| (a.agent.clone(), a.contacts))
                    .collect::<Vec<_>>(),
            ),
            1,
        ),
        agents,
        arms,
        arm_chart,
        compliance,
    };
    render(&ctx, StatusCode::OK, &page)
}
