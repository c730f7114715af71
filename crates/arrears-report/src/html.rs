//! `report.html`: one self-contained page (inline CSS and SVG; no script, font, style sheet or
//! image is loaded) made from the [`Report`] alone, so the same report gives the same bytes.
//!
//! Every chart sits beside an HTML table printing exactly the cells of its CSV file (the
//! [`Table`] code prints both). The distribution CSV is shown as two tables, its bucket rows
//! and its stage rows, which together are the whole file. Charts sum loan counts across
//! currencies; amounts appear only in the tables, one row per currency. Every string that
//! reaches the page goes through [`escape`]: bucket and stage names come from configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::chart::{self, Bar, Cell};
use crate::{Dimension, LateReport, Pct, Report, Table};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:sans-serif;margin:24px;color:#222;background:#fff}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px;align-items:start}\
svg.chart{width:100%;height:auto;border:1px solid #ddd}\
.table{max-height:520px;overflow:auto}\
table{border-collapse:collapse;font-size:12px}\
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}\
th{background:#f4f4f4;position:sticky;top:0}\
p.note{color:#555;font-size:.9em}";

/// The whole page.
pub fn render_html(report: &Report) -> String {
    render_html_with(report, None)
}

/// The whole page, with the late-stage sections when `late` is given.
pub fn render_html_with(report: &Report, late: Option<&LateReport>) -> String {
    let title = format!("Arrears report {} to {}", report.from, report.to);
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(page, "<title>{}</title>", escape(&title));
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(page, "<h1>{}</h1>", escape(&title));
    let _ = writeln!(
        page,
        "<p class=\"note\">{} business dates. Charts count loans across all currencies; \
         amounts are in minor units and shown per currency in the tables.</p>",
        report.dates.len()
    );

    let distribution = report.distribution_table();
    let (bucket_rows, stage_rows): (Vec<_>, Vec<_>) = distribution
        .rows
        .iter()
        .cloned()
        .partition(|row| row.get(1).map(String::as_str) == Some(Dimension::Bucket.as_str()));

    section(
        &mut page,
        "buckets",
        &format!("Bucket distribution on {}", report.to),
        &bucket_chart(report),
        &[part(&distribution, "bucket", bucket_rows)],
    );
    section(
        &mut page,
        "stages",
        "Stage distribution over time",
        &stage_chart(report),
        &[part(&distribution, "stage", stage_rows)],
    );
    section(
        &mut page,
        "roll-rates",
        &format!("Roll rates from {} to {}", report.from, report.to),
        &roll_chart(report),
        &[(report.roll_rates_table(), None)],
    );
    section(
        &mut page,
        "vintage",
        "30+ days past due by vintage and months on book",
        &vintage_chart(report),
        &[(report.vintage_table(), None)],
    );
    section(
        &mut page,
        "periods",
        "Cure rate per period",
        &cure_chart(report),
        &[(report.periods_table(), None)],
    );
    if let Some(late) = late {
        late_sections(&mut page, late);
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn part(
    whole: &Table,
    name: &'static str,
    rows: Vec<Vec<String>>,
) -> (Table, Option<&'static str>) {
    (
        Table {
            file: whole.file,
            header: whole.header,
            rows,
        },
        Some(name),
    )
}

fn section(
    page: &mut String,
    id: &str,
    heading: &str,
    svg: &str,
    tables: &[(Table, Option<&'static str>)],
) {
    let _ = writeln!(page, "<section id=\"{}\">", escape(id));
    let _ = writeln!(page, "<h2>{}</h2>", escape(heading));
    page.push_str("<div class=\"pair\">\n");
    page.push_str(svg);
    for (table, part) in tables {
        page.push_str("<div class=\"table\">\n");
        html_table(page, table, *part);
        page.push_str("</div>\n");
    }
    page.push_str("</div>\n</section>\n");
}

fn html_table(page: &mut String, table: &Table, part: Option<&str>) {
    let _ = write!(page, "<table data-csv=\"{}\"", escape(table.file));
    if let Some(part) = part {
        let _ = write!(page, " data-part=\"{}\"", escape(part));
    }
    page.push_str(">\n<thead><tr>");
    for name in table.header {
        let _ = write!(page, "<th>{}</th>", escape(name));
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(cell));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
}

/// Loans per configured value on one date, summed across currencies.
fn counts_on(
    report: &Report,
    dimension: Dimension,
    values: &[String],
    as_of: jiff::civil::Date,
) -> Vec<u64> {
    values
        .iter()
        .map(|value| {
            report
                .distribution
                .iter()
                .filter(|d| d.as_of == as_of && d.dimension == dimension && &d.value == value)
                .fold(0u64, |n, d| n.saturating_add(d.loans))
        })
        .collect()
}

fn bucket_chart(report: &Report) -> String {
    let counts = counts_on(report, Dimension::Bucket, &report.buckets, report.to);
    let bars: Vec<Bar> = report
        .buckets
        .iter()
        .zip(counts)
        .map(|(bucket, n)| Bar {
            label: bucket.clone(),
            value: Some(u128::from(n)),
            shown: n.to_string(),
        })
        .collect();
    chart::bars(
        "bucket_distribution",
        &format!("Loans per bucket on {}, all currencies", report.to),
        "loans",
        &bars,
        1,
    )
}

fn stage_chart(report: &Report) -> String {
    let series: Vec<(String, Vec<u64>)> = report
        .stages
        .iter()
        .map(|stage| {
            let counts = report
                .dates
                .iter()
                .map(|d| {
                    counts_on(report, Dimension::Stage, std::slice::from_ref(stage), *d)
                        .first()
                        .copied()
                        .unwrap_or(0)
                })
                .collect();
            (stage.clone(), counts)
        })
        .collect();
    let dates: Vec<String> = report.dates.iter().map(|d| d.to_string()).collect();
    chart::stacked_area(
        "stage_distribution",
        "Loans per stage over time, all currencies",
        &dates,
        &series,
    )
}

fn roll_chart(report: &Report) -> String {
    let from_order = report.roll_from_order();
    let to_order = report.roll_to_order();
    let mut cells: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut row_totals: BTreeMap<&str, u64> = BTreeMap::new();
    let mut column_used: BTreeMap<&str, bool> = BTreeMap::new();
    for r in &report.roll_rates {
        let n = cells.entry((&r.from_bucket, &r.to_bucket)).or_default();
        *n = n.saturating_add(r.loans);
        let t = row_totals.entry(&r.from_bucket).or_default();
        *t = t.saturating_add(r.loans);
        column_used.insert(&r.to_bucket, true);
    }
    // Configured buckets always show; the extra rows and columns only when they hold loans.
    let nb = report.buckets.len();
    let rows: Vec<String> = from_order
        .into_iter()
        .enumerate()
        .filter(|(i, name)| *i < nb || row_totals.contains_key(name.as_str()))
        .map(|(_, name)| name)
        .collect();
    let columns: Vec<String> = to_order
        .into_iter()
        .enumerate()
        .filter(|(i, name)| *i < nb || column_used.contains_key(name.as_str()))
        .map(|(_, name)| name)
        .collect();
    let grid: Vec<Vec<Option<Cell>>> = rows
        .iter()
        .map(|from| {
            let total = row_totals.get(from.as_str()).copied().unwrap_or(0);
            columns
                .iter()
                .map(|to| {
                    let n = cells
                        .get(&(from.as_str(), to.as_str()))
                        .copied()
                        .unwrap_or(0);
                    let pct = Pct::new(n, total);
                    pct.hundredths().map(|hundredths| Cell {
                        hundredths,
                        shown: pct.to_string(),
                    })
                })
                .collect()
        })
        .collect();
    chart::heat_map(
        "roll_rates",
        &format!(
            "Roll rates % from {} (rows) to {} (columns), all currencies",
            report.from, report.to
        ),
        &rows,
        &columns,
        &grid,
    )
}

fn vintage_chart(report: &Report) -> String {
    // (vintage, months on book) → (loans, loans 30+), across currencies.
    let mut sums: BTreeMap<(&str, u32), (u64, u64)> = BTreeMap::new();
    for v in &report.vintage {
        let s = sums.entry((&v.vintage, v.months_on_book)).or_default();
        s.0 = s.0.saturating_add(v.loans);
        s.1 = s.1.saturating_add(v.loans_30_plus);
    }
    let mut series: Vec<(String, Vec<(u32, u128)>)> = Vec::new();
    for ((vintage, mob), (loans, late)) in sums {
        let Some(hundredths) = Pct::new(late, loans).hundredths() else {
            continue;
        };
        match series.last_mut() {
            Some((name, points)) if name == vintage => points.push((mob, hundredths)),
            _ => series.push((vintage.to_string(), vec![(mob, hundredths)])),
        }
    }
    chart::lines(
        "vintage_30_plus",
        "Share of loans 30+ days past due by months on book, one line per vintage, all currencies",
        "months on book",
        &series,
    )
}

fn cure_chart(report: &Report) -> String {
    let mut sums: BTreeMap<(jiff::civil::Date, jiff::civil::Date), (u64, u64)> = BTreeMap::new();
    for p in &report.periods {
        let s = sums.entry((p.from_date, p.to_date)).or_default();
        s.0 = s.0.saturating_add(p.delinquent_start);
        s.1 = s.1.saturating_add(p.cured);
    }
    let bars: Vec<Bar> = sums
        .into_iter()
        .map(|((from, to), (delinquent, cured))| {
            let pct = Pct::new(cured, delinquent);
            Bar {
                label: format!("{from} → {to}"),
                value: pct.hundredths(),
                shown: if delinquent == 0 {
                    "no delinquent loans".to_string()
                } else {
                    format!("{pct}%")
                },
            }
        })
        .collect();
    chart::bars(
        "cure_rate",
        "Cure rate % per period (cured of loans delinquent at its start), all currencies",
        "cure rate %",
        &bars,
        100,
    )
}

/// One bar per status of late-stage rows: its count summed over currencies, in row order
/// (`report.html` and the dashboard draw the same bars).
pub fn status_bars(rows: &[crate::StatusRow]) -> Vec<Bar> {
    let mut by: Vec<(String, u64)> = Vec::new();
    for r in rows {
        match by.iter_mut().find(|(s, _)| *s == r.0) {
            Some(x) => x.1 = x.1.saturating_add(r.2),
            None => by.push((r.0.clone(), r.2)),
        }
    }
    by.into_iter()
        .map(|(label, n)| Bar {
            label,
            value: Some(u128::from(n)),
            shown: n.to_string(),
        })
        .collect()
}

/// The late stage: settlements and the legal pipeline by status (counts, all currencies),
/// recovery by route and the agency league (amounts, one chart per currency).
fn late_sections(page: &mut String, late: &LateReport) {
    let [settlements, legal, routes, league] = late.tables();
    section(
        page,
        "settlements",
        "Settlements by status",
        &chart::bars(
            "settlements",
            "Settlements per status, all currencies",
            "settlements",
            &status_bars(&late.settlements),
            1,
        ),
        &[(settlements, None)],
    );
    section(
        page,
        "legal-pipeline",
        "Legal pipeline",
        &chart::bars(
            "legal_pipeline",
            "Referrals and cases per status, all currencies",
            "cases",
            &status_bars(&late.legal),
            1,
        ),
        &[(legal, None)],
    );
    let currencies: Vec<String> = {
        let mut c: Vec<String> = late
            .routes
            .iter()
            .map(|r| r.1.clone())
            .chain(late.league.iter().map(|r| r.1.clone()))
            .collect();
        c.sort();
        c.dedup();
        c
    };
    let mut route_svg = String::new();
    let mut league_svg = String::new();
    for cur in &currencies {
        let rb: Vec<Bar> = late
            .routes
            .iter()
            .filter(|r| &r.1 == cur)
            .map(|r| Bar {
                label: r.0.clone(),
                value: u128::try_from(r.3).ok(),
                shown: r.3.to_string(),
            })
            .collect();
        route_svg.push_str(&chart::hbars(
            &format!("recovery_{cur}"),
            &format!("Recovered by route, {cur} minor units"),
            "recovered",
            &rb,
            1,
        ));
        let lb: Vec<Bar> = late
            .league
            .iter()
            .filter(|r| &r.1 == cur)
            .map(|r| Bar {
                label: r.0.clone(),
                value: u128::try_from(r.3).ok(),
                shown: r.3.to_string(),
            })
            .collect();
        league_svg.push_str(&chart::hbars(
            &format!("league_{cur}"),
            &format!("Recovered per agency, {cur} minor units"),
            "recovered",
            &lb,
            1,
        ));
    }
    section(
        page,
        "recovery-by-route",
        "Recovery by route",
        &route_svg,
        &[(routes, None)],
    );
    section(
        page,
        "agency-league",
        "Agency league table",
        &league_svg,
        &[(league, None)],
    );
}
