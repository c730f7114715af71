//! `arrears`: the command line of the Arrears collections system.
//!
//! The binary is the imperative shell: it parses arguments, reads files through `arrears-io`,
//! calls the pure engine, writes results and turns failures into plain sentences and exit
//! codes (0 ok, 1 runtime error, 2 bad input or usage).

/// mimalloc rather than the system allocator: the server's many short-lived strings (decoded
/// rows, JSON bodies) cost glibc malloc a sixth of the server's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod agency_cmds;
mod bureau_cmds;
mod daily;
mod db_cmds;
mod demo_cmds;
mod display;
mod evidence_cmds;
mod generate;
mod legal_cmds;
mod lender_policy;
mod outbox_cmds;
mod pages_cmds;
mod plan_cmds;
mod policy_cmds;
mod sale_cmds;
mod server_cmds;
mod settle_cmds;
mod store_cmds;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "arrears",
    version,
    about = "Collections management: the daily delinquency run and more"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daily delinquency run as of a business date, over a portfolio folder
    /// (`--portfolio`) or over the store (`--db`, writing the date's snapshot).
    Run(daily::RunArgs),
    /// The store's schema: `db migrate` applies pending migrations, `db status` shows them,
    /// `db grant --role R` gives PostgreSQL's service role what the service needs.
    Db(db_cmds::DbArgs),
    /// Load a portfolio or a daily feed into the store (idempotent, one transaction).
    Import(store_cmds::ImportArgs),
    /// Portfolio reports between two dates from the store's history (CSV + report.html).
    Report(store_cmds::ReportArgs),
    /// A loan's history from the store: every snapshot date and its lifecycle events.
    History(store_cmds::HistoryArgs),
    /// Write a realistic synthetic portfolio (deterministic for a seed).
    Generate(daily::GenerateArgs),
    /// A sample portfolio in a store, run, planned and served on 127.0.0.1 with sample users
    /// and a borrower's portal link: prints where to log in.
    Demo(demo_cmds::DemoArgs),
    /// Convert a CSV portfolio folder to Parquet files with the spec's column types.
    Convert(ConvertArgs),
    /// The conduct rule packs (CN, US, GB).
    Rules(policy_cmds::RulesArgs),
    /// The lender's policy in the store: `policy set FILE [--effective-from D]`, `policy show`.
    Policy(lender_policy::PolicyArgs),
    /// May this contact happen now? Answers as JSON: decision, rule_ids, earliest_allowed.
    Check(policy_cmds::CheckArgs),
    /// Today's action plan: actions.csv, blocked.csv, plan_summary.json, audit entries.
    Plan(plan_cmds::PlanArgs),
    /// Collection strategy files: check one, or show the default.
    Strategy(plan_cmds::StrategyArgs),
    /// The court path: `legal referrals|approve|reject` (the plan's referral proposals, a
    /// supervisor's decision), `legal file|judgment|enforcement|close`, `legal
    /// measure|measure-status|cost|show`, `legal letter` (signed, bound to the real case).
    Legal(legal_cmds::LegalArgs),
    /// The lender's signing key pair.
    Keys(evidence_cmds::KeysArgs),
    /// Issue a signed message with a verification code into the audit log.
    Sign(evidence_cmds::SignArgs),
    /// Is a message with this verification code genuine?
    Verify(evidence_cmds::VerifyArgs),
    /// The tamper-evident audit log.
    Audit(evidence_cmds::AuditArgs),
    /// Show the configuration (`--default` prints the built-in defaults as arrears.toml).
    Config(ConfigArgs),
    /// Serve the HTTP API over the store (prints `listening on http://ADDR` first).
    Serve(server_cmds::ServeArgs),
    /// API tokens for systems calling the service (`tokens create --name NAME`).
    Tokens(server_cmds::TokensArgs),
    /// People who use the service (`users add --username U --role R --password-stdin`).
    Users(server_cmds::UsersArgs),
    /// The borrower portal (`portal link --borrower ID` prints a one-time link).
    Portal(pages_cmds::PortalArgs),
    /// Assign a loan to an agent (`assign --loan ID --agent USERNAME`).
    Assign(pages_cmds::AssignArgs),
    /// The outbox of permitted messages: queue a plan's messages, send them (SMTP, webhook), status.
    Outbox(outbox_cmds::OutboxArgs),
    /// Credit-bureau files for a month: `bureau report --month YYYY-MM` (Metro 2 and CSV),
    /// `bureau outcome` (how a resolved credit dispute ended).
    Bureau(bureau_cmds::BureauArgs),
    /// Debt sale: `sale tape` selects loans into a sale tape, `sale record` records a sale of
    /// a tape's loans (and queues the signed assignment notices), `sale notices` queues them.
    Sale(sale_cmds::SaleArgs),
    /// Collection agencies: `agency add|list`, `place`, `notice` (the signed CN-AGENCY notice),
    /// `placement-file`, `recall`, `recall-expired`, `import` (activity), `remittance`.
    Agency(agency_cmds::AgencyArgs),
    /// Write-offs a supervisor approves: `write-off proposals` (the plan's), `write-off
    /// approve|reject ID --reason R --user U --password-stdin`.
    WriteOff(settle_cmds::WriteOffArgs),
    /// Settlements: `settlement offer|accept|withdraw|list|review`, within the lender's
    /// policy limits by stage and dpd.
    Settlement(settle_cmds::SettlementArgs),
}

#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// Folder with the CSV tables.
    #[arg(long)]
    portfolio: PathBuf,
    /// Folder for the Parquet tables.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// Print the built-in defaults.
    #[arg(long)]
    default: bool,
    /// Print this file merged over the defaults.
    #[arg(long, conflicts_with = "default")]
    config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    Csv,
    Parquet,
    Both,
}

/// A failure with its exit code: 2 for bad input or usage, 1 for anything else.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: error.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (the index of that option in the `mi_option_e` enum of
/// the v3 `mimalloc.h` that libmimalloc-sys 0.1.49 builds; its bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A batch command (a run, a plan, an import) keeps the memory it frees for its own next
/// allocations instead of handing it back to the kernel a second later: every page handed
/// back is zeroed again by the kernel when touched anew (a 1M-loan plan: 304,466 page faults
/// and 49.7 s of CPU with mimalloc's default, 3,010 and 41.3 s without purging; see
/// docs/performance.md). The process ends soon after; the long-running commands (the server,
/// the demo, the dispatcher) keep mimalloc's default.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's static option table; it takes no
    // pointer, and it is called once, before any other thread of this process exists. An
    // index that named another option would only change that option's value (every option
    // is a plain integer read when mimalloc next decides), never memory safety.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// A batch command whose output is cut short (`arrears plan … | head`) ends quietly, as Unix
/// tools do, instead of panicking in `println!` on the broken pipe.
#[allow(unsafe_code)]
fn quiet_on_broken_pipe() {
    // SAFETY: puts back the default disposition of SIGPIPE (Rust's runtime ignores it) before
    // any other thread of this process exists; no handler is installed, so no Rust code runs
    // in a signal context.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(
        cli.command,
        Command::Serve(_) | Command::Demo(_) | Command::Outbox(_)
    ) {
        keep_freed_memory();
        quiet_on_broken_pipe();
    }
    let result = match cli.command {
        Command::Run(a) => daily::run(&a),
        Command::Db(a) => db_cmds::db(&a),
        Command::Import(a) => store_cmds::import(&a),
        Command::Report(a) => store_cmds::report(&a),
        Command::History(a) => store_cmds::history(&a),
        Command::Generate(a) => daily::generate(&a),
        Command::Demo(a) => demo_cmds::demo(&a),
        Command::Convert(a) => convert(&a),
        Command::Rules(a) => policy_cmds::rules(&a),
        Command::Plan(a) => plan_cmds::plan(&a),
        Command::Strategy(a) => plan_cmds::strategy(&a),
        Command::Legal(a) => legal_cmds::legal(&a),
        Command::Keys(a) => evidence_cmds::keys(&a),
        Command::Sign(a) => evidence_cmds::sign(&a),
        Command::Verify(a) => evidence_cmds::verify_code(&a),
        Command::Audit(a) => evidence_cmds::audit(&a),
        Command::Check(a) => policy_cmds::check(&a),
        Command::Config(a) => config(&a),
        Command::Serve(a) => server_cmds::serve(&a),
        Command::Tokens(a) => server_cmds::tokens(&a),
        Command::Users(a) => server_cmds::users(&a),
        Command::Portal(a) => pages_cmds::portal(&a),
        Command::Assign(a) => pages_cmds::assign(&a),
        Command::Outbox(a) => outbox_cmds::outbox(&a),
        Command::Policy(a) => lender_policy::policy(&a),
        Command::Bureau(a) => bureau_cmds::bureau(&a),
        Command::Sale(a) => sale_cmds::sale(&a),
        Command::Agency(a) => agency_cmds::agency(&a),
        Command::WriteOff(a) => settle_cmds::write_off(&a),
        Command::Settlement(a) => settle_cmds::settlement(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn convert(a: &ConvertArgs) -> Result<(), Failure> {
    let tables =
        arrears_io::convert::csv_to_parquet(&a.portfolio, &a.out).map_err(|e| match e {
            arrears_io::IoError::Write { .. } => Failure::from(e),
            other => Failure::bad_input(other),
        })?;
    println!(
        "converted {} to Parquet in {}",
        tables.join(", "),
        a.out.display()
    );
    Ok(())
}

fn config(a: &ConfigArgs) -> Result<(), Failure> {
    let file = match &a.config {
        Some(p) => {
            let f = arrears_io::config::ConfigFile::load(p).map_err(Failure::bad_input)?;
            // The same checks as every command: the floors as the file's policy sets them.
            daily::load_config(Some(p), None)?;
            f
        }
        None => arrears_io::config::ConfigFile::defaults(),
    };
    let mut merged = arrears_io::config::ConfigFile::defaults();
    if a.config.is_some() {
        let d = merged.clone();
        merged = arrears_io::config::ConfigFile {
            business_timezone: file.business_timezone.or(d.business_timezone),
            tolerance_minor: file.tolerance_minor.or(d.tolerance_minor),
            buckets: file.buckets.or(d.buckets),
            stages: file.stages.or(d.stages),
            jurisdictions: file.jurisdictions.or(d.jurisdictions),
            policy: file.policy,
        };
    }
    print!("{}", merged.to_toml());
    std::io::Write::flush(&mut std::io::stdout()).context("writing to stdout")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The option index set by `keep_freed_memory` is mimalloc's purge delay: it starts at
    /// mimalloc's default of 1000 ms between the options that start at 1 (the deprecated
    /// eager-commit delay) and 0 (NUMA nodes), and reads back what was set.
    #[test]
    #[allow(unsafe_code)]
    fn the_option_set_for_batch_commands_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads and writes of mimalloc's static option table; no pointers.
        let (before, neighbours, after) = unsafe {
            let before = libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY);
            let neighbours = (
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY - 1),
                libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY + 1),
            );
            super::keep_freed_memory();
            let after = libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY);
            (before, neighbours, after)
        };
        assert_eq!(before, 1000);
        assert_eq!(neighbours, (1, 0));
        assert_eq!(after, -1);
    }
}
