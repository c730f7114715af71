//! `arrears demo`: a sample portfolio in a store, run, planned and served on this machine with
//! sample users and a borrower's portal link, so that a newcomer can log in and click.
//!
//! Every step goes through the door of its command, with the same code: `generate`
//! (`generate_into`), `import`, `run --db`, `plan --db`, `users add`, `assign`, `portal link`
//! and `serve`. The demo itself only chooses the sample (which loans the agent works, which
//! borrower gets a link), binds the port and prints where to log in.
//!
//! Decisions: the users are `demo-agent` (role agent) and `demo-supervisor` (role
//! supervisor), with random passwords printed once: the server answers on 127.0.0.1 only, but
//! on a shared machine every local user reaches it, and with `--dir` the store outlives the
//! demo, so a fixed, documented password would let anyone in. The server's clock starts at
//! noon UTC of `--as-of` (`serve --clock-from`), so that "today" on the pages is the sample's
//! business date. Port 8080 by default; a taken port falls back to a free one, and `--port 0`
//! asks for any free port.

use crate::daily::{self, GenFormat, RunArgs};
use crate::server_cmds::{self, Role, ServeArgs};
use crate::store_cmds::{self, DbOpt, ImportArgs};
use crate::{Failure, OutFormat, pages_cmds, plan_cmds};
use anyhow::{Context, anyhow};
use clap::Parser;
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// `arrears serve`'s arguments, parsed as that command parses them.
#[derive(clap::Parser, Debug)]
struct ServeCommand {
    #[command(flatten)]
    args: ServeArgs,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the sample portfolio, the store (arrears.db), the run's and the plan's files in
    /// this folder (default: a temporary folder, removed when the demo stops).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Loans in the sample portfolio.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub loans: u64,
    /// The sample's business date: the day that is run, planned and served.
    #[arg(long, value_parser = daily::parse_date, default_value = "2026-11-28")]
    pub as_of: Date,
    /// The port to serve on, on 127.0.0.1 (a free one when it is taken; 0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Do everything but serve: print what would be served, and exit.
    #[arg(long)]
    pub no_serve: bool,
}

const AGENT: &str = "demo-agent";
const SUPERVISOR: &str = "demo-supervisor";
/// How many loans of the day's call tasks the agent is given.
const ASSIGNED: usize = 10;
/// The generator's seed: the same sample every time.
const SEED: u64 = 42;
const STEPS: u32 = 8;
/// The demo lender's policy: the legal floors, and who the lender is to its borrowers (the
/// portal shows how to reach and pay it). The addresses are reserved example domains.
const DEMO_POLICY: &str = r#"[policy]
name = "demo-lender"

[lender]
name = "Arrears Demo Lender"
phone = "+1 800 555 0100"
email = "help@lender.example"
hours = "Monday to Friday, 09:00-18:00 (New York time)"
payment = "Bank transfer to Arrears Demo Lender, account 000123456, routing 021000021; quote your loan number."
payment_url = "https://pay.lender.example"
"#;

fn step(n: u32, what: &str) {
    println!("\n[{n}/{STEPS}] {what}");
}

fn done(started: Instant) {
    println!("  done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Ctrl-C or SIGTERM before the server runs: the step in progress ends, then the demo stops
/// (and its temporary folder is removed); a second one stops it at once. While serving, the
/// server's own graceful shutdown answers them.
struct Interrupts {
    rt: tokio::runtime::Runtime,
    seen: Arc<AtomicBool>,
}

impl Interrupts {
    fn watch() -> Result<Interrupts, Failure> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let seen = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&seen);
        rt.spawn(async move {
            arrears_server::shutdown_signal().await;
            s.store(true, Ordering::SeqCst);
            eprintln!("\nstopping after this step (press Ctrl-C again to stop at once)");
            arrears_server::shutdown_signal().await;
            std::process::exit(130);
        });
        Ok(Interrupts { rt, seen })
    }

    fn check(&self) -> Result<(), Failure> {
        if self.seen.load(Ordering::SeqCst) {
            return Err(Failure {
                code: 130,
                error: anyhow!("interrupted before the server started"),
            });
        }
        Ok(())
    }

    fn stop(self) {
        self.rt.shutdown_background();
    }
}

/// A random password of 16 hex digits in groups of four (64 bits).
fn random_password() -> Result<String, Failure> {
    let hex = arrears_server::pages::random_hex()
        .map_err(|e| anyhow!("reading the OS random source: {e}"))?;
    let digits: Vec<&str> = (0..4).filter_map(|i| hex.get(i * 4..i * 4 + 4)).collect();
    Ok(digits.join("-"))
}

/// The rows of a CSV file the run or the plan wrote, as the named columns.
fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>, Failure> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = r
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .clone();
    let at: Vec<usize> = columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == *c)
                .ok_or_else(|| anyhow!("{} has no column {c}", path.display()))
        })
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.with_context(|| format!("reading {}", path.display()))?;
        rows.push(
            at.iter()
                .map(|&i| rec.get(i).unwrap_or("").to_owned())
                .collect(),
        );
    }
    Ok(rows)
}

/// A loan the agent is given: a call task of the day's plan on an overdue loan.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pick {
    loan_id: String,
    borrower_id: String,
    dpd: u32,
}

/// The loans for the agent, in the order of the server's queue (priority 1 first, then loan
/// id), those whose call window is open at the server's starting clock first; and the loan
/// whose borrower gets the portal link (the first of them, or else any overdue loan).
fn choose_loans(
    accounts: &Path,
    actions: &Path,
    clock: Timestamp,
) -> Result<(Vec<Pick>, Option<Pick>), Failure> {
    let overdue: HashMap<String, (String, u32)> =
        read_columns(accounts, &["loan_id", "borrower_id", "dpd"])?
            .into_iter()
            .filter_map(|r| {
                let dpd = r[2].parse::<u32>().ok().filter(|&d| d > 0)?;
                Some((r[0].clone(), (r[1].clone(), dpd)))
            })
            .collect();
    let call = arrears_strategy::ActionKind::CallTask.code();
    let mut tasks: Vec<(bool, Option<u8>, Pick)> = read_columns(
        actions,
        &["loan_id", "kind", "priority", "not_before", "not_after"],
    )?
    .into_iter()
    .filter(|r| r[1] == call)
    .filter_map(|r| {
        let (borrower_id, dpd) = overdue.get(&r[0])?.clone();
        let open = match (r[3].parse::<Timestamp>(), r[4].parse::<Timestamp>()) {
            (Ok(from), Ok(to)) => from <= clock && clock < to,
            _ => false,
        };
        Some((
            !open,
            r[2].parse::<u8>().ok(),
            Pick {
                loan_id: r[0].clone(),
                borrower_id,
                dpd,
            },
        ))
    })
    .collect();
    tasks.sort_by(|a, b| {
        (a.0, a.1.is_none(), a.1, &a.2.loan_id).cmp(&(b.0, b.1.is_none(), b.1, &b.2.loan_id))
    });
    let mut seen = BTreeSet::new();
    let picks: Vec<Pick> = tasks
        .into_iter()
        .map(|t| t.2)
        .filter(|p| seen.insert(p.loan_id.clone()))
        .take(ASSIGNED)
        .collect();
    let portal = picks.first().cloned().or_else(|| {
        overdue
            .iter()
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|(loan, (borrower, dpd))| Pick {
                loan_id: loan.clone(),
                borrower_id: borrower.clone(),
                dpd: *dpd,
            })
    });
    Ok((picks, portal))
}

/// 127.0.0.1:`port`, or a free port when it is taken; and a note saying so.
fn bind(port: u16) -> Result<(TcpListener, Option<String>), Failure> {
    let at = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
    match TcpListener::bind(at(port)) {
        Ok(l) => Ok((l, None)),
        Err(e) if port != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
            let l = TcpListener::bind(at(0)).context("listening on a free port of 127.0.0.1")?;
            Ok((
                l,
                Some(format!("port {port} is taken; a free port was chosen")),
            ))
        }
        Err(e) => Err(Failure::from(
            anyhow!(e).context(format!("listening on {}", at(port))),
        )),
    }
}

#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Timestamp {
    // The edge: how long the portal link must live is measured from the wall clock, on
    // which `portal link` issues it.
    Timestamp::now()
}

pub fn demo(a: &DemoArgs) -> Result<(), Failure> {
    let interrupts = Interrupts::watch()?;
    let temp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("arrears-demo-")
                .tempdir()
                .context("creating a temporary folder")?;
            temp.path().to_owned()
        }
    };
    let store_path = dir.join("arrears.db");
    if store_path.exists() {
        return Err(Failure::bad_input(anyhow!(
            "{} already holds a demo store ({}): give another --dir, or delete it",
            dir.display(),
            store_path.display()
        )));
    }
    let store_path_text = store_path
        .to_str()
        .ok_or_else(|| anyhow!("{} is not valid UTF-8", store_path.display()))?;
    let db = DbOpt {
        db: format!("sqlite:{store_path_text}"),
    };
    let (portfolio, out, plan_out) = (dir.join("portfolio"), dir.join("out"), dir.join("plan"));
    // Noon UTC (the default business zone) of the sample's date: the pages' "today".
    let clock = a
        .as_of
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .context("the server's starting clock")?
        .timestamp();
    println!(
        "Arrears demo: a sample portfolio of {} loans as of {}, in {}",
        a.loans,
        a.as_of,
        dir.display()
    );

    step(1, "Generating the sample portfolio");
    let started = Instant::now();
    let stats = daily::generate_into(&portfolio, a.loans, SEED, GenFormat::Csv, a.as_of, 4)?;
    println!("  {stats} in {}", portfolio.display());
    done(started);
    interrupts.check()?;

    step(
        2,
        "Importing it into the store (arrears import) with the demo lender's policy (arrears policy set)",
    );
    store_cmds::import(&ImportArgs {
        portfolio: portfolio.clone(),
        db: db.clone(),
        rejects: dir.join("rejects.csv"),
        strict: false,
        quiet: false,
    })?;
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, DEMO_POLICY)
        .with_context(|| format!("writing {}", policy.display()))?;
    crate::lender_policy::policy(&crate::lender_policy::PolicyArgs {
        command: crate::lender_policy::PolicyCommand::Set {
            file: policy,
            effective_from: Some(a.as_of),
            actor: "demo".into(),
            db: db.db.clone(),
        },
    })?;
    interrupts.check()?;

    step(3, "Running the day over the store (arrears run --db)");
    daily::run(&RunArgs {
        portfolio: None,
        db: Some(db.db.clone()),
        as_of: a.as_of,
        out: Some(out.clone()),
        format: OutFormat::Csv,
        business_tz: None,
        config: None,
        strict: false,
        quiet: false,
    })?;
    interrupts.check()?;

    step(4, "Planning the day (arrears plan --db)");
    plan_cmds::plan(&plan_cmds::PlanArgs {
        as_of: a.as_of,
        portfolio: None,
        db: Some(db.db.clone()),
        out: plan_out.clone(),
        strategy: None,
        config: None,
        business_tz: None,
        policy: None,
        log: None,
        keys: None,
        quiet: false,
    })?;
    interrupts.check()?;

    step(5, "Adding the sample users (arrears users add)");
    let started = Instant::now();
    let mut users = Vec::new();
    for (username, role, label) in [
        (AGENT, Role::Agent, "agent"),
        (SUPERVISOR, Role::Supervisor, "supervisor"),
    ] {
        let password = random_password()?;
        server_cmds::add_user(&db, username, role, &password)?;
        println!("  {username} ({label})");
        users.push((label, username, password));
    }
    done(started);
    interrupts.check()?;

    step(
        6,
        "Giving the agent today's first call tasks (arrears assign)",
    );
    let (picks, portal_loan) = choose_loans(
        &out.join("accounts.csv"),
        &plan_out.join("actions.csv"),
        clock,
    )?;
    let loans: Vec<&str> = picks.iter().map(|p| p.loan_id.as_str()).collect();
    pages_cmds::assign_loans(&db, &loans, AGENT)?;
    if loans.is_empty() {
        println!("  the day's plan has no call task: the agent's queue is empty");
    } else {
        println!(
            "  {} loans assigned to {AGENT}: {}",
            loans.len(),
            loans.join(", ")
        );
    }
    interrupts.check()?;

    step(7, "Issuing a borrower's portal link (arrears portal link)");
    let (listener, moved) = bind(a.port)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let base = format!("http://{addr}");
    let portal = match &portal_loan {
        Some(p) => {
            // Issued on the wall clock, redeemed on the server's: valid 72 hours past the
            // later of the two.
            let ahead = clock.duration_since(wall_clock()).as_hours().max(0);
            let (link, _) = pages_cmds::issue_portal_link(&db, &p.borrower_id, &base, 72 + ahead)?;
            println!(
                "  borrower {} (loan {}, {} days past due)",
                p.borrower_id, p.loan_id, p.dpd
            );
            Some((link, p))
        }
        None => {
            println!("  no loan is overdue on {}: no portal link", a.as_of);
            None
        }
    };
    interrupts.check()?;

    let mut banner = String::new();
    if let Some(note) = moved {
        banner.push_str(&format!("({note})\n"));
    }
    banner.push_str(&format!("\nLog in:           {base}/login\n"));
    for (label, username, password) in &users {
        banner.push_str(&format!(
            "  {label:<15} username: {username:<16} password: {password}\n"
        ));
    }
    banner.push_str(&format!(
        "  (the agent sees the queue of their {} loans; the supervisor every account and \
         {base}/dashboard)\n",
        picks.len()
    ));
    if let Some((link, p)) = &portal {
        banner.push_str(&format!(
            "Borrower portal:  {link}\n  (borrower {}, loan {}: {} days past due; the link \
             works once)\n",
            p.borrower_id, p.loan_id, p.dpd
        ));
    }
    banner.push_str(&format!(
        "\nThe passwords are random and shown only now. The server's clock starts at {clock}, \
         the sample's business date.\n"
    ));
    match &a.dir {
        Some(d) => banner.push_str(&format!(
            "The store stays in {} ({}).\n",
            d.display(),
            store_path.display()
        )),
        None => banner.push_str(&format!(
            "The store is in {} and is removed when the demo stops (--dir DIR keeps it).\n",
            dir.display()
        )),
    }
    // `arrears serve --db STORE --listen ADDR --clock-from CLOCK`, every other option at its
    // default.
    let serve = ServeCommand::try_parse_from([
        "arrears serve",
        "--db",
        db.db.as_str(),
        "--listen",
        &addr.to_string(),
        "--clock-from",
        &clock.to_string(),
    ])
    .map_err(|e| anyhow!("the serve command: {e}"))?
    .args;
    if a.no_serve {
        drop(listener);
        step(8, "Not serving (--no-serve); it would serve:");
        println!("would listen on {base}\n{banner}");
        if a.dir.is_some() {
            println!(
                "To serve it: arrears serve --db {} --listen {addr} --clock-from {clock}",
                store_path.display()
            );
        }
        interrupts.stop();
        return Ok(());
    }
    step(8, "Serving (arrears serve)");
    banner.push_str("\nPress Ctrl-C to stop.\n");
    interrupts.stop();
    // The server's request log would drown the instructions: warnings only, unless RUST_LOG
    // says otherwise (`serve` keeps a logger already set up).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    server_cmds::serve_on(&serve, Some(listener), &banner)?;
    println!("Stopped.");
    Ok(())
}
