//! report.html's tables hold exactly the CSV files' cells, and every string is escaped.

use std::collections::BTreeMap;

use arrears_report::{History, build, write};
use proptest::prelude::*;

use crate::common::{read_csv, worked_history};

/// One `<table data-csv=…>` of the page: its file, its part (if split), header and rows.
#[derive(Debug)]
struct HtmlTable {
    file: String,
    part: Option<String>,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The texts between every `<open>` and `</close>` in `s`, in order.
fn between<'a>(s: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        let j = after.find(close).expect("closing tag");
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let i = tag.find(&key)?;
    let rest = &tag[i + key.len()..];
    Some(unescape(&rest[..rest.find('"')?]))
}

fn tables(html: &str) -> Vec<HtmlTable> {
    between(html, "<table ", "</table>")
        .into_iter()
        .map(|t| {
            let tag = &t[..t.find('>').unwrap()];
            let header = between(t, "<th>", "</th>")
                .into_iter()
                .map(unescape)
                .collect();
            let body = between(t, "<tbody>", "</tbody>")[0];
            let rows = between(body, "<tr>", "</tr>")
                .into_iter()
                .map(|r| {
                    between(r, "<td>", "</td>")
                        .into_iter()
                        .map(unescape)
                        .collect()
                })
                .collect();
            HtmlTable {
                file: attribute(tag, "data-csv").expect("data-csv"),
                part: attribute(tag, "data-part"),
                header,
                rows,
            }
        })
        .collect()
}

/// Writes the report and compares every HTML table with its CSV file, cell by cell.
fn check_tables_equal_csv(h: &History) {
    let report = build(h).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(&report, dir.path()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        !html.contains("could not be drawn"),
        "a chart failed to draw"
    );
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 5);
    let found = tables(&html);

    let mut by_file: BTreeMap<&str, Vec<&HtmlTable>> = BTreeMap::new();
    for t in &found {
        by_file.entry(t.file.as_str()).or_default().push(t);
    }
    let files = [
        "roll_rates.csv",
        "periods.csv",
        "vintage.csv",
        "distribution.csv",
    ];
    assert_eq!(by_file.keys().copied().collect::<Vec<_>>(), {
        let mut f = files.to_vec();
        f.sort();
        f
    });
    for file in files {
        let (header, rows) = read_csv(&dir.path().join(file));
        let parts = &by_file[file];
        for t in parts {
            assert_eq!(t.header, header, "{file}: header");
        }
        if file == "distribution.csv" {
            // Split by dimension; each part is the CSV's rows of that dimension, in order.
            assert_eq!(parts.len(), 2);
            for t in parts {
                let dim = t.part.clone().expect("a part name");
                let expected: Vec<Vec<String>> =
                    rows.iter().filter(|r| r[1] == dim).cloned().collect();
                assert!(!expected.is_empty());
                assert_eq!(t.rows, expected, "{file} part {dim}");
            }
            let shown: usize = parts.iter().map(|t| t.rows.len()).sum();
            assert_eq!(shown, rows.len(), "{file}: every row shown once");
        } else {
            assert_eq!(parts.len(), 1, "{file}: one table");
            assert_eq!(parts[0].rows, rows, "{file}: cells");
        }
    }
}

#[test]
fn html_tables_equal_the_csv_files_of_the_worked_history() {
    check_tables_equal_csv(&worked_history());
}

#[test]
fn user_strings_are_escaped_in_the_page() {
    // Bucket and stage names come from configuration: markup in them must stay text.
    let mut h = worked_history();
    let rename = |s: &str| match s {
        "M1" => "<b>M1</b>".to_string(),
        "M2" => "M2 & \"up\"".to_string(),
        "late" => "l'ate,<script>alert(1)</script>".to_string(),
        other => other.to_string(),
    };
    for name in h.buckets.iter_mut().chain(h.stages.iter_mut()) {
        *name = rename(name);
    }
    for d in &mut h.days {
        for l in &mut d.loans {
            l.bucket = rename(&l.bucket);
            l.stage = rename(&l.stage);
        }
    }
    let html = arrears_report::render_html(&build(&h).unwrap());
    assert!(!html.contains("<b>M1"), "raw markup from a bucket name");
    assert!(!html.contains("<script"), "raw script from a stage name");
    assert!(html.contains("&lt;b&gt;M1&lt;/b&gt;"));
    assert!(html.contains("M2 &amp; &quot;up&quot;"));
    // The page carries no external resource and no script.
    for needle in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(needle), "page contains {needle}");
    }
    // The renamed names still match the CSV cells (CSV quotes the comma).
    check_tables_equal_csv(&h);
}

#[test]
fn the_page_is_deterministic_and_titled_with_the_date_range() {
    let r = build(&worked_history()).unwrap();
    let html = arrears_report::render_html(&r);
    assert_eq!(html, arrears_report::render_html(&r));
    assert!(html.contains("<title>Arrears report 2026-01-31 to 2026-02-28</title>"));
    for name in [
        "bucket_distribution",
        "stage_distribution",
        "roll_rates",
        "vintage_30_plus",
        "cure_rate",
    ] {
        let tag = format!("<svg class=\"chart\" data-chart=\"{name}\"");
        assert_eq!(html.matches(&tag).count(), 1, "one {name} chart");
        let start = html.find(&tag).unwrap();
        let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
        assert!(svg.contains("<title>"), "{name} has a title");
        assert!(!svg.contains("could not be drawn"), "{name} failed: {svg}");
    }
    // The heat map counts loans across currencies: row M1 holds B, H, I, K (EUR) and D (USD),
    // 2 of those 5 went to M2 → 40.00, a number no single-currency row of the table has.
    assert!(html.contains(">\n40.00\n</text>"), "heat map cell label");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn html_tables_equal_the_csv_files_of_generated_histories(h in crate::props::history()) {
        prop_assume!(h.days.iter().any(|d| !d.loans.is_empty()));
        check_tables_equal_csv(&h);
    }
}

#[test]
fn degenerate_histories_still_draw_every_chart() {
    // One date (no period, roll matrix from the date to itself), and dates without loans.
    let mut one_day = worked_history();
    one_day.days.truncate(1);
    let mut no_loans = worked_history();
    for d in &mut no_loans.days {
        d.loans.clear();
    }
    for h in [one_day, no_loans] {
        let html = arrears_report::render_html(&build(&h).unwrap());
        assert!(!html.contains("could not be drawn"), "{html}");
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 5);
        assert_eq!(html.matches("<title>").count(), 1 + 5);
    }
}
