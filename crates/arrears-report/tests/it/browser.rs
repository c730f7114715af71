//! The page in a real browser: headless Chromium loads report.html from disk, the dumped DOM
//! holds every chart with drawn shapes, and a screenshot is far from blank.
//!
//! Without `/usr/bin/chromium` the test fails when `CI` is set (CI must have the browser) and
//! is skipped with a message otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrears_report::{build, write};

use crate::common::worked_history;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHARTS: [&str; 5] = [
    "bucket_distribution",
    "stage_distribution",
    "roll_rates",
    "vintage_30_plus",
    "cure_rate",
];

/// Runs headless Chromium with `args` + `url`, killing it after two minutes; returns stdout.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let out_path = profile.with_extension("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?} exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&out_path).unwrap()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Shapes drawn inside the `<svg … data-chart="name" …>` element of a DOM dump.
fn shapes_in(dom: &str, name: &str) -> usize {
    let marker = format!("data-chart=\"{name}\"");
    let Some(at) = dom.find(&marker) else {
        return 0;
    };
    let start = dom[..at].rfind("<svg").unwrap();
    let end = start + dom[start..].find("</svg>").unwrap();
    let svg = &dom[start..end];
    [
        "<rect",
        "<path",
        "<polyline",
        "<polygon",
        "<line",
        "<circle",
    ]
    .iter()
    .map(|tag| svg.matches(tag).count())
    .sum()
}

fn screenshot(tmp: &Path, name: &str, url: &str) -> PathBuf {
    let png = tmp.join(format!("{name}.png"));
    let shot = format!("--screenshot={}", png.display());
    chromium(
        &tmp.join(format!("profile-{name}")),
        &[&shot, "--window-size=1200,2400", "--hide-scrollbars"],
        url,
    );
    png
}

#[test]
fn report_renders_in_headless_chromium() {
    if !Path::new(CHROMIUM).exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{CHROMIUM} is missing: CI must install Debian's chromium package for the browser test"
            );
        }
        eprintln!(
            "skipped: {CHROMIUM} is not installed (apt-get install chromium); set CI to make this a failure"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let report = build(&worked_history()).unwrap();
    write(&report, &tmp.path().join("out")).unwrap();
    let page = file_url(&tmp.path().join("out/report.html"));

    let dom = chromium(&tmp.path().join("profile-dom"), &["--dump-dom"], &page);
    assert!(
        dom.contains("Arrears report 2026-01-31 to 2026-02-28"),
        "page did not load: {dom:.300}"
    );
    for name in CHARTS {
        let shapes = shapes_in(&dom, name);
        assert!(
            shapes >= 10,
            "chart {name} has only {shapes} drawn elements in the browser's DOM"
        );
    }
    // The parsed DOM keeps the tables, one row per CSV row (9 roll-rate cells).
    let roll = dom
        .find("data-csv=\"roll_rates.csv\"")
        .expect("roll-rate table in the DOM");
    let roll_table = &dom[roll..roll + dom[roll..].find("</table>").unwrap()];
    assert_eq!(roll_table.matches("<tr>").count(), 1 + 9);

    // A screenshot of the report against one of an empty page of the same size.
    let blank_html = tmp.path().join("blank.html");
    std::fs::write(&blank_html, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank = screenshot(tmp.path(), "blank", &file_url(&blank_html));
    let shot = screenshot(tmp.path(), "report", &page);
    assert!(shot.exists(), "no screenshot written");
    let blank_size = std::fs::metadata(&blank).unwrap().len();
    let shot_size = std::fs::metadata(&shot).unwrap().len();
    assert!(
        shot_size > 4 * blank_size && shot_size > 50_000,
        "screenshot is {shot_size} bytes, a blank page {blank_size}: the page looks empty"
    );
    assert_eq!(&std::fs::read(&shot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    // For a person to look at: ARREARS_REPORT_KEEP=DIR keeps the page and the screenshot.
    if let Some(keep) = std::env::var_os("ARREARS_REPORT_KEEP") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).unwrap();
        std::fs::copy(&shot, keep.join("report.png")).unwrap();
        std::fs::copy(tmp.path().join("out/report.html"), keep.join("report.html")).unwrap();
    }
}
