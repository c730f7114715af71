//! The manager dashboard (supervisors, compliance and admins): the day's plan, the bucket
//! and stage distribution, roll and cure rates, promises, contacts blocked by rule, what each
//! user recorded, strategy arms, and the compliance view of the contacts recorded as
//! violations by rule over business dates (with the contacts the day plans blocked).
//!
//! Charts come from `arrears-report`'s chart code, each with its title drawn on it and its
//! unit on the axis; long category labels (rules, strategy arms, periods) are horizontal
//! bars, one row each; category codes (stages, buckets, promise states) are shown in words.
//! Every time these pages show goes through [`shown_at`] (the viewer's zone). The whole queue and allocation
//! are `queue.rs`; the pages' own strings are `words.rs`.

mod queue;
mod referrals;
mod words;

pub(super) use queue::{allocation_page, assign_by_rule, bulk_assign, queue_page, rebalance};
pub(super) use referrals::{decide_referral, referrals_page};

use super::shared::{
    Chrome, Ctx, DateQuery, book_payments, business_date, forbidden, format_minor, internal,
    is_manager, redirect, render, time_for,
};
use super::texts::{Lang, label};
use crate::{AppState, now, workbench};
use arrears_domain::TimeZoneName;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use words::{Words, category, words};

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

/// An instant as these pages show it: on the viewer's wall clock (`Ctx::viewer_zone`: a
/// staff user's own zone, else the business zone) with the zone's abbreviation and name, by
/// the pages' one time formatting (`shared::time_for`). Every time on the supervisor's pages
/// goes through here.
pub(super) fn shown_at(t: Timestamp, viewer: &TimeZoneName) -> String {
    time_for(viewer, t)
}

/// "Times in ZONE", said once per page.
pub(super) fn time_zone_note(w: &Words, zone: &TimeZoneName) -> String {
    format!("{} {}", w.times_in, zone.name())
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
    w: &'static Words,
    times: String,
    promise_line: String,
    arms_note: String,
    arms_ready: bool,
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
    promise_chart: String,
    blocked: Vec<(String, u64)>,
    blocked_chart: String,
    agents: Vec<AgentView>,
    agent_chart: String,
    arms: Vec<ArmView>,
    arm_chart: String,
    compliance: ComplianceView,
    /// Settlements, the legal pipeline, recovery by route, the agency league.
    late: super::settle::LateView,
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
    /// (business date, rule id, contacts), by date then rule.
    by_rule_day: Vec<(String, String, u64)>,
    /// The same as a chart, one row per date and rule.
    rule_day_chart: String,
    latest: Vec<ViolationView>,
    /// Contacts the day plans blocked: (business date, rule id, contacts), by date then rule.
    blocks: Vec<(String, String, u64)>,
    blocks_chart: String,
}

/// How many UTC days, to the business date, the compliance view covers.
const VIOLATION_DAYS: i64 = 30;
/// How many of the latest violations the dashboard lists.
const VIOLATIONS_LISTED: usize = 50;

/// The violations recorded on the [`VIOLATION_DAYS`] business dates to `as_of` (dates in
/// the business zone): by rule, by date, by rule and date, and the latest listed; and the
/// contacts the day plans made so far blocked, by date and rule.
async fn compliance_view(
    state: &AppState,
    lang: Lang,
    viewer: &TimeZoneName,
    as_of: jiff::civil::Date,
) -> Result<ComplianceView, String> {
    let w = words(lang);
    let zone = state.config().business_tz.clone();
    let first = as_of
        .checked_sub(jiff::Span::new().days(VIOLATION_DAYS - 1))
        .map_err(|e| e.to_string())?;
    let end = as_of.tomorrow().map_err(|e| e.to_string())?;
    let start_of = |d: jiff::civil::Date| {
        d.to_zoned(zone.tz().clone())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let (from, to) = (start_of(first)?, start_of(end)?);
    let store = state.store();
    let list = store
        .violations(from, to)
        .await
        .map_err(|e| e.to_string())?;
    // By rule, and by business date and rule (a contact that broke two rules counts under
    // each); contacts per date (such a contact counts once).
    let mut by_rule: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut by_rule_day: std::collections::BTreeMap<(jiff::civil::Date, String), u64> =
        std::collections::BTreeMap::new();
    let mut per_day: std::collections::BTreeMap<jiff::civil::Date, u64> =
        std::collections::BTreeMap::new();
    for v in &list {
        let day = zone.date_of(v.contact.row.at);
        *per_day.entry(day).or_default() += 1;
        for r in &v.rule_ids {
            *by_rule.entry(r.clone()).or_default() += 1;
            *by_rule_day.entry((day, r.clone())).or_default() += 1;
        }
    }
    let by_rule: Vec<(String, u64)> = by_rule.into_iter().collect();
    // Blocks by date and rule: the counts `arrears plan --db` recorded in the store for dates
    // in the period, and for a date it has not planned, the plan this server made of it.
    let recorded = store
        .plan_blocks(first, as_of)
        .await
        .map_err(|e| e.to_string())?;
    let recorded_dates: std::collections::BTreeSet<jiff::civil::Date> =
        recorded.iter().map(|(d, _, _)| *d).collect();
    let mut blocks: Vec<(jiff::civil::Date, String, u64)> = recorded;
    for p in state.plans().made() {
        if p.as_of >= first && p.as_of <= as_of && !recorded_dates.contains(&p.as_of) {
            blocks.extend(
                p.blocked_by_rule
                    .iter()
                    .map(|(r, n)| (p.as_of, r.clone(), *n)),
            );
        }
    }
    blocks.sort();
    let blocks: Vec<(String, String, u64)> = blocks
        .into_iter()
        .map(|(d, r, n)| (d.to_string(), r, n))
        .collect();
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
                at: shown_at(c.row.at, viewer),
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
    let period = format!("{first} – {as_of}");
    Ok(ComplianceView {
        total: list.len(),
        rule_chart: arrears_report::hbars(
            "violations",
            &format!("{}, {period}", w.violations_rule_title),
            w.violations_unit,
            &count_bars(&by_rule),
            1,
        ),
        by_rule,
        day_chart: arrears_report::titled_bars(
            "violations-by-day",
            &format!("{}, {period}", w.violations_date_title),
            w.violations_unit,
            &days,
            1,
        ),
        rule_day_chart: arrears_report::hbars(
            "violations-by-day-and-rule",
            w.violations_rule_date_title,
            w.violations_unit,
            &by_rule_day
                .iter()
                .map(|((d, r), n)| arrears_report::Bar {
                    label: format!("{d} · {r}"),
                    value: Some(u128::from(*n)),
                    shown: n.to_string(),
                })
                .collect::<Vec<_>>(),
            1,
        ),
        by_rule_day: by_rule_day
            .into_iter()
            .map(|((d, r), n)| (d.to_string(), r, n))
            .collect(),
        latest,
        blocks_chart: arrears_report::hbars(
            "blocks-by-day",
            w.blocks_date_title,
            w.blocked_unit,
            &blocks
                .iter()
                .map(|(d, r, n)| arrears_report::Bar {
                    label: format!("{d} · {r}"),
                    value: Some(u128::from(*n)),
                    shown: n.to_string(),
                })
                .collect::<Vec<_>>(),
            1,
        ),
        blocks,
        period,
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

/// The staff user's username and role; else the answer: 403 for a borrower, the login page
/// for no session.
pub(super) fn staff_or_login(ctx: &Ctx) -> Result<(&str, &str), Box<Response>> {
    ctx.staff().ok_or_else(|| {
        Box::new(if ctx.borrower().is_some() {
            forbidden(ctx)
        } else {
            redirect("/login")
        })
    })
}

/// The role of a supervisor, compliance or admin user; anyone else's answer (403, or the
/// login page for no session).
pub(super) fn manager(ctx: &Ctx) -> Result<&str, Box<Response>> {
    let (_, role) = staff_or_login(ctx)?;
    if !is_manager(role) {
        return Err(Box::new(forbidden(ctx)));
    }
    Ok(role)
}

pub(super) async fn dashboard(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<DateQuery>,
) -> Response {
    if let Err(r) = manager(&ctx) {
        return *r;
    }
    let t = ctx.t();
    let w = words(ctx.lang);
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
                (category(ctx.lang, n), u64::try_from(c).unwrap_or(u64::MAX))
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
    let cure_chart = arrears_report::hbars(
        "cure-rate",
        w.cure_title,
        w.cure_unit,
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
    let promise_line = format!(
        "{}: {} {} · {} {} · {} {}",
        w.promise_state,
        label(ctx.lang, "kept"),
        pc.kept,
        label(ctx.lang, "broken"),
        pc.broken,
        label(ctx.lang, "pending"),
        pc.pending
    );
    let promise_chart = arrears_report::titled_bars(
        "promises",
        w.promises_title,
        w.promises_unit,
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
    let arm_chart = arrears_report::hbars(
        "arms",
        w.arms_title,
        w.loans_unit,
        &arms
            .iter()
            .map(|a| arrears_report::Bar {
                label: format!("{} / {}", a.rule_id, a.arm),
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
    let viewer = ctx.viewer_zone(&state);
    let compliance = match compliance_view(&state, ctx.lang, &viewer, as_of).await {
        Ok(c) => c,
        Err(e) => return internal(&ctx, e),
    };
    // What the arms' delinquent and cured counts compare, or what they still need.
    let arms_ready = days.len() >= 2;
    let arms_note = match (days.first(), days.last()) {
        (Some((f, _)), Some((l, _))) if arms_ready => {
            format!("{} {f}, {} {l}.", w.arms_compared, w.arms_cured_by)
        }
        _ => format!(
            "{} {} {}",
            w.arms_need_two,
            w.arms_has,
            if dates.is_empty() {
                w.arms_none.to_owned()
            } else {
                dates
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    };
    let snapshot_date = latest.map(|(d, _)| d.to_string()).unwrap_or_default();
    let late = match super::settle::late_view(&state, as_of).await {
        Ok(v) => v,
        Err(e) => return internal(&ctx, e),
    };
    let page = DashboardPage {
        late,
        chrome: ctx.chrome(),
        w,
        times: time_zone_note(w, &viewer),
        promise_line,
        arms_note,
        arms_ready,
        plan_date: as_of.to_string(),
        plan_note: format!(
            "{} {} ({} ms, {} loans, {} actions, {} blocked)",
            t.plan_made,
            shown_at(plan.made_at, &viewer),
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
        bucket_chart: arrears_report::titled_bars(
            "buckets",
            &format!("{} {snapshot_date}", w.buckets_on),
            w.loans_unit,
            &count_bars(&by_bucket),
            1,
        ),
        stage_chart: arrears_report::titled_bars(
            "stages",
            &format!("{} {snapshot_date}", w.stages_on),
            w.loans_unit,
            &count_bars(&by_stage),
            1,
        ),
        rolls,
        cures,
        cure_chart,
        promise_kept: kept_rate.to_string(),
        promise_chart,
        blocked_chart: arrears_report::hbars(
            "blocked",
            &format!("{} {as_of}", w.blocked_title),
            w.blocked_unit,
            &count_bars(&blocked),
            1,
        ),
        blocked,
        agent_chart: arrears_report::hbars(
            "agents",
            &format!("{} {as_of}", w.agents_title),
            w.contacts_unit,
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
