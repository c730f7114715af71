//! `arrears run` and `generate`: the daily run from portfolio files.

use crate::{Failure, OutFormat, display};
use anyhow::Context;
use arrears_domain::config::CostFloor;
use arrears_domain::{Config, Severity, Table, TimeZoneName};
use arrears_io::config::ConfigFile;
use arrears_io::{IoError, write};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::civil::Date;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Folder with borrowers, loans, installments, payments (and optionally contacts,
    /// promises) as NAME.csv or NAME.parquet. Without it the run is over the store (`--db`).
    #[arg(long)]
    pub portfolio: Option<PathBuf>,
    /// The store to run over and write the date's snapshot into: an SQLite file path,
    /// sqlite:PATH or postgres://… (default: arrears.db, when it exists). Ignored with
    /// `--portfolio`.
    #[arg(long, env = "ARREARS_DATABASE_URL")]
    pub db: Option<String>,
    /// Business date of the run (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub as_of: Date,
    /// Output folder (created if missing). Required with `--portfolio`; with the store,
    /// writes the same files besides the snapshot.
    #[arg(long, visible_alias = "export")]
    pub out: Option<PathBuf>,
    /// Which accounts files to write.
    #[arg(long, value_enum, default_value = "both")]
    pub format: OutFormat,
    /// Business time zone (IANA), overriding the configuration file.
    #[arg(long)]
    pub business_tz: Option<String>,
    /// Configuration file (arrears.toml); its keys replace the defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop at the first bad row (exit code 2) instead of reporting it and going on.
    #[arg(long)]
    pub strict: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Number of loans.
    #[arg(long, default_value_t = 10_000)]
    pub loans: u64,
    /// Seed: the same seed gives the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: GenFormat,
    /// The business date the portfolio is realistic for.
    #[arg(long, value_parser = parse_date, default_value = "2026-11-28")]
    pub as_of: Date,
    /// The most contact attempts a loan in arrears gets in the last 30 days (uniform in
    /// 1..=N); raise it for a dense contact history (e.g. 32: about 5 per loan overall).
    #[arg(long, default_value_t = 4)]
    pub contacts_max: i32,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum GenFormat {
    Csv,
    Parquet,
}

pub fn parse_date(s: &str) -> Result<Date, String> {
    arrears_domain::parse::date("as_of", s).map_err(|e| e.detail)
}

/// IoErrors about the input are bad input (exit 2); the rest are runtime errors.
fn input_failure(e: IoError) -> Failure {
    match e {
        IoError::Write { .. } => Failure::from(e),
        other => Failure::bad_input(other),
    }
}

pub fn load_config(path: Option<&Path>, business_tz: Option<&str>) -> Result<Config, Failure> {
    let mut file = match path {
        Some(p) => ConfigFile::load(p).map_err(Failure::bad_input)?,
        None => ConfigFile::default(),
    };
    if let Some(tz) = business_tz {
        TimeZoneName::parse("--business-tz", tz)
            .map_err(|e| Failure::bad_input(anyhow::anyhow!("--business-tz: {}", e.detail)))?;
        file.business_timezone = Some(tz.to_owned());
    }
    // The floors are the packs' as the lender's policy (the file's `policy`) tightens them:
    // its CN-COST is then the cap no configuration may loosen.
    let packs = crate::lender_policy::resolve_files(None, path)?.packs;
    file.resolve_with_floors(
        path.unwrap_or(Path::new("arrears.toml")),
        &floors_of(&packs),
    )
    .map_err(Failure::bad_input)
}

/// The legal cost floors, as the embedded conduct rule packs state them (CN-COST:
/// `max_annual_cost_bps`); a configured cap may only be at or below them.
#[cfg(test)]
pub fn cost_floors() -> Result<Vec<CostFloor>, Failure> {
    let packs = arrears_policy::PackSet::embedded()
        .map_err(|e| anyhow::anyhow!("the embedded rule packs do not load: {e}"))?;
    Ok(floors_of(&packs))
}

/// The cost caps of `packs` (CN-COST's `max_annual_cost_bps`, as a pack or policy sets it).
fn floors_of(packs: &arrears_policy::PackSet) -> Vec<CostFloor> {
    packs
        .iter()
        .filter_map(|p| {
            let (rule, cost) = p.cost()?;
            Some(CostFloor {
                jurisdiction: p.jurisdiction().as_str().to_owned(),
                max_annual_cost_bps: cost.max_annual_cost_bps?,
                rule: rule.to_string(),
            })
        })
        .collect()
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The result of a run, for the caller to show.
pub struct RunReport {
    pub summary_json: serde_json::Value,
    pub seconds: f64,
}

pub fn run(a: &RunArgs) -> Result<(), Failure> {
    match (&a.portfolio, &a.db) {
        (Some(portfolio), _) => {
            let Some(out) = &a.out else {
                return Err(Failure::bad_input(anyhow::anyhow!(
                    "--out DIR is required with --portfolio (where accounts.csv and the rest go)"
                )));
            };
            let report = run_daily(a, portfolio, out)?;
            if !a.quiet {
                display::print_summary(&report.summary_json, report.seconds, Some(out));
            }
            Ok(())
        }
        (None, Some(db)) => crate::store_cmds::run_from_store(a, db),
        (None, None) if Path::new("arrears.db").exists() => {
            crate::store_cmds::run_from_store(a, "arrears.db")
        }
        (None, None) => Err(Failure::bad_input(anyhow::anyhow!(
            "give --portfolio DIR (a run over files) or --db TARGET (a run over the store); \
             there is no arrears.db here"
        ))),
    }
}

pub fn run_daily(a: &RunArgs, portfolio: &Path, out: &Path) -> Result<RunReport, Failure> {
    let started = Instant::now();
    let config = load_config(a.config.as_deref(), a.business_tz.as_deref())?;
    // A progress display only for a person watching a large portfolio.
    let large = dir_size(portfolio) > 20 << 20;
    let pb = progress_bar(!a.quiet && std::io::stderr().is_terminal() && large);
    let read = arrears_io::read_portfolio(portfolio, &|t: Table, n: u64| {
        pb.set_message(format!("reading {}: {n} rows", t.name()));
    })
    .map_err(input_failure)?;
    if a.strict
        && let Some(r) = read.rejects.iter().find(|r| r.severity == Severity::Error)
    {
        pb.finish_and_clear();
        return Err(Failure::bad_input(anyhow::anyhow!(
            "strict mode: {}",
            write::describe(&read, r)
        )));
    }
    pb.set_message(format!("computing {} loans", read.portfolio.loans.len()));
    let states =
        arrears_engine::run_day(&read.portfolio, a.as_of, &config).map_err(Failure::from)?;
    pb.set_message("writing results");
    let summary_json = write_outputs(out, a.format, &read, &states, a.as_of, &config)?;
    pb.finish_and_clear();
    // `arrears run` ends after this: the system takes the portfolio back at once, where
    // freeing it piece by piece takes a good part of a second on one core (1M loans).
    std::mem::forget(states);
    std::mem::forget(read);
    Ok(RunReport {
        summary_json,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes what a run writes into `out` (accounts in the chosen formats, rejects.csv,
/// summary.json) and returns the summary; the file mode and the store mode share it.
pub fn write_outputs(
    out: &Path,
    format: OutFormat,
    read: &arrears_io::ReadOutcome,
    states: &[arrears_engine::AccountState],
    as_of: Date,
    config: &Config,
) -> Result<serde_json::Value, Failure> {
    let summary = arrears_engine::summarize(&read.portfolio, states, config);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let order = write::loan_order(&read.portfolio);
    let p = &read.portfolio;
    if matches!(format, OutFormat::Csv | OutFormat::Both) {
        write::write_accounts_csv(&out.join("accounts.csv"), p, states, &order, as_of, config)?;
    }
    if matches!(format, OutFormat::Parquet | OutFormat::Both) {
        write::write_accounts_parquet(
            &out.join("accounts.parquet"),
            p,
            states,
            &order,
            as_of,
            config,
        )?;
    }
    write::write_rejects(&out.join("rejects.csv"), read)?;
    let counts = write::count_rejects(read);
    let summary_json = write::summary_json(as_of, config, &summary, &counts);
    write::write_json(&out.join("summary.json"), &summary_json)?;
    Ok(summary_json)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn generate(a: &GenerateArgs) -> Result<(), Failure> {
    let stats = generate_into(&a.out, a.loans, a.seed, a.format, a.as_of, a.contacts_max)?;
    println!("wrote {} to {}", stats, a.out.display());
    Ok(())
}

pub(crate) fn generate_into(
    out: &Path,
    loans: u64,
    seed: u64,
    format: GenFormat,
    as_of: Date,
    contacts_max: i32,
) -> Result<String, Failure> {
    let show = std::io::stderr().is_terminal() && loans >= 50_000;
    let pb = if show {
        let pb = ProgressBar::new(loans);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} loans {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let stats = match format {
        GenFormat::Csv => {
            crate::generate::generate_csv(out, loans, seed, as_of, contacts_max, &|n| {
                pb.set_position(n)
            })?
        }
        GenFormat::Parquet => {
            // Generated as CSV next to the target, then converted with the spec's types.
            let tmp = tempfile::tempdir_in(out.parent().unwrap_or(Path::new(".")))
                .context("creating a temporary folder")?;
            let stats = crate::generate::generate_csv(
                tmp.path(),
                loans,
                seed,
                as_of,
                contacts_max,
                &|n| pb.set_position(n),
            )?;
            pb.set_message("converting to Parquet");
            arrears_io::convert::csv_to_parquet(tmp.path(), out)?;
            stats
        }
    };
    pb.finish_and_clear();
    Ok(format!("{stats}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floors live in the rule packs; the domain's built-in ones (used where no pack is
    /// loaded) must say the same.
    #[test]
    fn the_packs_floors_are_the_built_in_ones() {
        let mut from_packs = cost_floors().map_err(|f| f.error).unwrap();
        from_packs.sort_by(|a, b| a.jurisdiction.cmp(&b.jurisdiction));
        assert_eq!(from_packs, arrears_domain::config::legal_cost_floors());
    }
}
