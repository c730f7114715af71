//! `arrears outbox`: queue permitted messages in the store's outbox, send them through SMTP
//! and the lender's webhook, and show the outbox (`docs/channels.md`).
//!
//! `enqueue` checks each message with the compliance engine over the store (at the instant it
//! is planned for) and stores only what is allowed, keyed by its idempotency key (the plan's
//! action id): running it twice on one plan queues nothing new. `send` drains what is due.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_channels::{
    Backoff, Dispatcher, Secret, SmtpAuth, SmtpChannel, SmtpConfig, SmtpTls, WebhookChannel,
    WebhookConfig, enqueue,
};
use arrears_domain::types::{BorrowerId, LoanId};
use arrears_policy::{Channel, Decision, Language, Message, Party, ProposedContact, Target};
use arrears_store::{Enqueued, Store};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OutboxCommand {
    /// Queue the SMS, e-mail and push actions of a plan folder (`--plan-dir`), or one message
    /// (`--borrower … --channel … --text …`), after checking each over the store.
    Enqueue(Box<EnqueueArgs>),
    /// Send what is due: e-mail through `--smtp`, SMS and push through `--webhook`.
    Send(Box<SendArgs>),
    /// Rows per state, the next due instant, and with `--rows` every row.
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
struct EnqueueArgs {
    /// The store: an SQLite file path, sqlite:PATH or postgres://…
    #[arg(long, default_value = "arrears.db")]
    db: String,
    /// A folder written by `arrears plan` (actions.csv and its audit.jsonl).
    #[arg(long, conflicts_with_all = ["borrower", "key"])]
    plan_dir: Option<PathBuf>,
    /// The audit log holding the plan's texts (default PLAN_DIR/audit.jsonl).
    #[arg(long, requires = "plan_dir")]
    log: Option<PathBuf>,
    /// The lender's name in the messages (default: the built-in strategy's).
    #[arg(long)]
    lender: Option<String>,
    /// One message: the borrower.
    #[arg(long, requires_all = ["key", "channel", "text"])]
    borrower: Option<String>,
    #[arg(long)]
    loan: Option<String>,
    /// sms, email or push.
    #[arg(long)]
    channel: Option<String>,
    #[arg(long, default_value = "borrower")]
    party: String,
    /// Phone number (E.164) or e-mail address.
    #[arg(long)]
    target: Option<String>,
    #[arg(long)]
    text: Option<String>,
    /// The message's verification code.
    #[arg(long, default_value = "")]
    code: String,
    #[arg(long)]
    subject: Option<String>,
    /// The idempotency key (one row per key).
    #[arg(long)]
    key: Option<String>,
    /// When the message may go out first (RFC 3339; default now). It is checked at this
    /// instant.
    #[arg(long)]
    at: Option<String>,
    /// Not sent after this instant (RFC 3339).
    #[arg(long)]
    expires: Option<String>,
    /// Why the message goes out: collection (default), plan_reminder, or notice:<kind>
    /// (a notice of the spec's kinds is recorded as a notice when it is sent).
    #[arg(long)]
    purpose: Option<String>,
    /// The message's language (default: the borrower's, else en).
    #[arg(long)]
    language: Option<String>,
    /// A lender policy file instead of the store's policy in force.
    #[arg(long)]
    policy: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct SendArgs {
    #[arg(long, default_value = "arrears.db")]
    db: String,
    /// A lender policy file instead of the store's policy in force.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// SMTP server HOST:PORT for e-mail.
    #[arg(long)]
    smtp: Option<String>,
    /// How the SMTP connection is secured: starttls (required, never a fall back to
    /// plaintext; port 587), tls (implicit TLS, SMTPS; port 465), or none (plaintext, only
    /// to a loopback host: a local relay).
    #[arg(long, value_enum, default_value_t = SmtpTlsArg::Starttls)]
    smtp_tls: SmtpTlsArg,
    /// SMTP AUTH user; the password comes from ARREARS_SMTP_PASSWORD or
    /// --smtp-password-file, never from an argument.
    #[arg(long, env = "ARREARS_SMTP_USER")]
    smtp_user: Option<String>,
    /// A file holding the SMTP password (its trailing line break is dropped); instead of
    /// the ARREARS_SMTP_PASSWORD environment variable.
    #[arg(long, requires = "smtp")]
    smtp_password_file: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for the SMTP server besides the built-in
    /// (Mozilla) roots: a lender's internal CA.
    #[arg(long, requires = "smtp")]
    smtp_ca_file: Option<PathBuf>,
    /// The sender address of e-mails.
    #[arg(long, default_value = "collections@localhost")]
    from: String,
    /// The lender's gateway URL for SMS and push: https://…, or http:// to a loopback host
    /// (a local relay). The HMAC secret (at least 32 bytes) comes from
    /// ARREARS_WEBHOOK_SECRET or --webhook-secret-file, never from an argument.
    #[arg(long)]
    webhook: Option<String>,
    /// A file holding the webhook's HMAC secret (its trailing line break is dropped);
    /// instead of the ARREARS_WEBHOOK_SECRET environment variable.
    #[arg(long, requires = "webhook")]
    webhook_secret_file: Option<PathBuf>,
    /// A PEM file of CA certificates trusted for the gateway besides the built-in
    /// (Mozilla) roots.
    #[arg(long, requires = "webhook")]
    webhook_ca_file: Option<PathBuf>,
    /// Send what is due now and stop, instead of polling.
    #[arg(long)]
    once: bool,
    /// Seconds between polls when not `--once`.
    #[arg(long, default_value_t = 5)]
    poll_secs: u64,
    /// Timeout of one send, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// How long a claim holds a row, in seconds (longer than a send can take).
    #[arg(long, default_value_t = 120)]
    lease_secs: i64,
    #[arg(long, default_value_t = 50)]
    batch: u32,
    #[arg(long, default_value_t = 8)]
    max_attempts: u32,
    /// The first retry's wait, in seconds; it doubles with each attempt, up to an hour.
    #[arg(long, default_value_t = 30)]
    backoff_secs: i64,
    /// The clock (RFC 3339), for tests and replays; default the system clock.
    #[arg(long, hide = true)]
    now: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SmtpTlsArg {
    Starttls,
    Tls,
    None,
}

impl From<SmtpTlsArg> for SmtpTls {
    fn from(a: SmtpTlsArg) -> SmtpTls {
        match a {
            SmtpTlsArg::Starttls => SmtpTls::StartTls,
            SmtpTlsArg::Tls => SmtpTls::Implicit,
            SmtpTlsArg::None => SmtpTls::None,
        }
    }
}

/// The environment variables that carry secrets (an argument would show in `ps`).
const SMTP_PASSWORD_ENV: &str = "ARREARS_SMTP_PASSWORD";
const WEBHOOK_SECRET_ENV: &str = "ARREARS_WEBHOOK_SECRET";

#[derive(clap::Args, Debug)]
struct StatusArgs {
    #[arg(long, default_value = "arrears.db")]
    db: String,
    /// Every row, oldest first.
    #[arg(long)]
    rows: bool,
}

fn bad(e: impl std::fmt::Display) -> Failure {
    Failure::bad_input(anyhow!("{e}"))
}

fn instant(what: &'static str, s: &str) -> Result<Timestamp, Failure> {
    arrears_domain::parse::timestamp(what, s).map_err(|e| bad(format!("{what}: {}", e.detail)))
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?)
}

pub fn outbox(a: &OutboxArgs) -> Result<(), Failure> {
    match &a.command {
        OutboxCommand::Enqueue(e) => enqueue_cmd(e),
        OutboxCommand::Send(s) => send_cmd(s),
        OutboxCommand::Status(s) => status_cmd(s),
    }
}

/// One message to check and queue.
struct Candidate {
    key: String,
    proposed: ProposedContact,
    message: Message,
    subject: Option<String>,
    at: Timestamp,
    expires: Option<Timestamp>,
    /// No language was given: the message is vetted in the borrower's.
    language_from_borrower: bool,
}

fn lender_name(a: &EnqueueArgs) -> Result<String, Failure> {
    match &a.lender {
        Some(l) => Ok(l.clone()),
        None => arrears_strategy::Strategy::default_strategy()
            .map(|s| s.lender_name)
            .map_err(|_| anyhow!("the built-in strategy does not parse").into()),
    }
}

fn one_message(a: &EnqueueArgs, now: Timestamp) -> Result<Candidate, Failure> {
    let (Some(borrower), Some(key), Some(channel), Some(text)) =
        (&a.borrower, &a.key, &a.channel, &a.text)
    else {
        return Err(bad(
            "give --plan-dir DIR, or --borrower, --key, --channel and --text",
        ));
    };
    let lender = lender_name(a)?;
    let spec = arrears_app::ContactSpec {
        borrower_id: borrower,
        loan_id: a.loan.as_deref(),
        channel,
        party: Some(&a.party),
        target: a.target.as_deref(),
        purpose: a.purpose.as_deref(),
        agency_id: None,
        text: Some(text),
        lender: Some(&lender),
        code: Some(&a.code),
        language: a.language.as_deref(),
    };
    // Without --language the message is vetted in the borrower's language, set once the
    // borrower is read (`enqueue_cmd`).
    let mut proposed = spec.proposal(Language::En).map_err(bad)?;
    let message = proposed
        .message
        .take()
        .ok_or_else(|| bad("--text is required"))?;
    Ok(Candidate {
        key: key.clone(),
        proposed,
        message,
        subject: a.subject.clone(),
        at: a
            .at
            .as_deref()
            .map(|t| instant("--at", t))
            .transpose()?
            .unwrap_or(now),
        expires: a
            .expires
            .as_deref()
            .map(|t| instant("--expires", t))
            .transpose()?,
        language_from_borrower: a.language.is_none(),
    })
}

/// The written actions of a plan folder: the ids in actions.csv, the texts from the plan's
/// `plan.action` audit entries.
fn plan_messages(a: &EnqueueArgs, dir: &Path) -> Result<Vec<Candidate>, Failure> {
    let actions = dir.join("actions.csv");
    let mut r = csv::Reader::from_path(&actions)
        .with_context(|| format!("reading {}", actions.display()))
        .map_err(Failure::bad_input)?;
    let mut ids = HashSet::new();
    for rec in r.records() {
        let rec = rec
            .with_context(|| format!("reading {}", actions.display()))
            .map_err(Failure::bad_input)?;
        if let Some(id) = rec.get(0) {
            ids.insert(id.to_owned());
        }
    }
    let log = a.log.clone().unwrap_or_else(|| dir.join("audit.jsonl"));
    let text = std::fs::read_to_string(&log)
        .with_context(|| format!("reading {}", log.display()))
        .map_err(Failure::bad_input)?;
    let lender = lender_name(a)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: arrears_evidence::chain::Entry = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", log.display(), n + 1))
            .map_err(Failure::bad_input)?;
        if e.kind != "plan.action" {
            continue;
        }
        let d = &e.data;
        let s = |k: &str| d.get(k).and_then(serde_json::Value::as_str);
        let (Some(id), Some(body)) = (s("action_id"), s("text")) else {
            continue;
        };
        if !ids.contains(id) {
            continue;
        }
        let channel = Channel::parse(s("channel").unwrap_or("")).map_err(bad)?;
        if !matches!(channel, Channel::Sms | Channel::Email | Channel::Push) {
            continue;
        }
        let bid = BorrowerId::parse("borrower_id", e.borrower_id.as_deref().unwrap_or(""))
            .map_err(|e| bad(e.detail))?;
        let party = Party::parse(s("party").unwrap_or("borrower")).map_err(bad)?;
        let target = s("target").map(Target::parse).transpose().map_err(bad)?;
        let mut proposed = ProposedContact::new(bid, channel, party, target);
        proposed.loan_id = e
            .loan_id
            .as_deref()
            .map(|l| LoanId::parse("loan_id", l))
            .transpose()
            .map_err(|e| bad(e.detail))?;
        let language = Language::parse(s("language").unwrap_or("en")).map_err(bad)?;
        let message = Message::new(
            body,
            language,
            lender.clone(),
            s("verification_code").unwrap_or(""),
        );
        let at = instant("not_before", s("not_before").unwrap_or(""))?;
        let expires = s("not_after")
            .map(|t| instant("not_after", t))
            .transpose()?;
        out.push(Candidate {
            key: id.to_owned(),
            proposed,
            message,
            subject: None,
            at,
            expires,
            language_from_borrower: false,
        });
    }
    Ok(out)
}

fn enqueue_cmd(a: &EnqueueArgs) -> Result<(), Failure> {
    let target = crate::store_cmds::parse_target(&a.db)?;
    let now = wall_clock();
    let candidates = match &a.plan_dir {
        Some(dir) => plan_messages(a, dir)?,
        None => vec![one_message(a, now)?],
    };
    let rt = runtime()?;
    let (mut queued, mut again, mut refused) = (0u64, 0u64, 0u64);
    rt.block_on(async {
        let store = Store::open(&target).await?;
        for mut c in candidates {
            let bid = c.proposed.borrower_id.as_str().to_owned();
            let Some(bc) = store.borrower_contacts(&bid).await? else {
                eprintln!("{}: no borrower {bid:?} in the store; not queued", c.key);
                refused += 1;
                continue;
            };
            // The one decision context and the policy in force on the contact's day.
            let ctx = arrears_app::from_store(&bc);
            if c.language_from_borrower {
                c.message.language = Language::of_borrower(
                    bc.borrower.language.as_deref(),
                    &bc.borrower.jurisdiction,
                );
            }
            let on = c.at.to_zoned(jiff::tz::TimeZone::UTC).date();
            let policy = crate::lender_policy::resolve(a.policy.as_deref(), Some(&store), on, None)
                .await
                .map_err(|f| f.error)?;
            c.proposed.message = Some(c.message.clone());
            match arrears_app::decide(&c.proposed, &ctx, c.at, &policy.packs) {
                Decision::Allow(permitted) => {
                    let r = enqueue(
                        &store,
                        &permitted,
                        &c.message,
                        c.subject.as_deref(),
                        &c.key,
                        c.at,
                        c.expires,
                        now,
                    )
                    .await
                    .map_err(|e| anyhow!("{}: {e}", c.key))?;
                    match r {
                        Enqueued::Queued(id) => {
                            queued += 1;
                            if a.plan_dir.is_none() {
                                println!("queued {} as outbox row {id}", c.key);
                            }
                        }
                        Enqueued::AlreadyQueued(id) => {
                            again += 1;
                            if a.plan_dir.is_none() {
                                println!("{} was queued before as outbox row {id}", c.key);
                            }
                        }
                    }
                }
                Decision::Deny { rule_ids, .. } => {
                    let ids: Vec<&str> = rule_ids.iter().map(|r| r.as_str()).collect();
                    eprintln!("{}: refused by {}; not queued", c.key, ids.join(" "));
                    refused += 1;
                }
            }
        }
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    if a.plan_dir.is_some() || refused > 0 {
        println!("queued {queued}, already queued {again}, refused {refused}");
    }
    if a.plan_dir.is_none() && refused > 0 {
        return Err(Failure {
            code: 1,
            error: anyhow!("the message was refused"),
        });
    }
    Ok(())
}

fn send_cmd(a: &SendArgs) -> Result<(), Failure> {
    let target = crate::store_cmds::parse_target(&a.db)?;
    let fixed_now = a.now.as_deref().map(|t| instant("--now", t)).transpose()?;
    let timeout = Duration::from_secs(a.timeout_secs.max(1));
    let channels = channels_of(
        a,
        timeout,
        std::env::var_os(SMTP_PASSWORD_ENV),
        std::env::var_os(WEBHOOK_SECRET_ENV),
    )?;
    let rt = runtime()?;
    rt.block_on(async {
        let store = Store::open(&target).await?;
        // The policy in force today in the store (or --policy) decides at send time.
        let today = fixed_now
            .unwrap_or_else(wall_clock)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let policy =
            crate::lender_policy::resolve(a.policy.as_deref(), Some(&store), today, None)
                .await
                .map_err(|f| f.error)?;
        let d = Dispatcher {
            store: &store,
            packs: &policy.packs,
            channels,
            worker: format!("{}-{}", std::process::id(), wall_clock().as_nanosecond()),
            lease: SignedDuration::from_secs(a.lease_secs.max(1)),
            batch: a.batch.max(1),
            backoff: Backoff {
                base: SignedDuration::from_secs(a.backoff_secs.max(1)),
                max: SignedDuration::from_hours(1),
                max_attempts: a.max_attempts.max(1),
            },
        };
        let mut total = arrears_channels::DispatchReport::default();
        loop {
            let now = fixed_now.unwrap_or_else(wall_clock);
            let r = d.run_once(now).await?;
            total.claimed += r.claimed;
            total.sent += r.sent;
            total.retried += r.retried;
            total.dead += r.dead;
            total.deferred += r.deferred;
            total.blocked += r.blocked;
            total.expired += r.expired;
            total.lost += r.lost;
            if r.claimed > 0 {
                continue;
            }
            if a.once {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(a.poll_secs.max(1))) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        println!(
            "sent {}, retry later {}, dead {}, deferred by the rules {}, blocked {}, expired {}, lease lost {}",
            total.sent,
            total.retried,
            total.dead,
            total.deferred,
            total.blocked,
            total.expired,
            total.lost
        );
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// A secret from a file (`--…-file`) or the environment variable `env` (its value given
/// as `env_value`), never both; `None` when neither is given. A file's trailing line break
/// (`\n` or `\r\n`) is dropped; an empty environment variable counts as unset.
fn secret_from(
    env: &str,
    env_value: Option<std::ffi::OsString>,
    file_flag: &str,
    file: Option<&Path>,
) -> Result<Option<Secret>, Failure> {
    let env_value = env_value.filter(|v| !v.is_empty());
    match (env_value, file) {
        (Some(_), Some(_)) => Err(bad(format!(
            "both {env} and {file_flag} are given; keep one"
        ))),
        (Some(v), None) => {
            let v = v
                .into_string()
                .map_err(|_| bad(format!("{env} is not UTF-8")))?;
            Ok(Some(Secret::new(v)))
        }
        (None, Some(path)) => {
            let mut bytes = std::fs::read(path)
                .with_context(|| format!("{file_flag} {}", path.display()))
                .map_err(Failure::bad_input)?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            Ok(Some(Secret::new(bytes)))
        }
        (None, None) => Ok(None),
    }
}

fn read_pem(flag: &str, path: Option<&Path>) -> Result<Option<Vec<u8>>, Failure> {
    path.map(|p| {
        std::fs::read(p)
            .with_context(|| format!("{flag} {}", p.display()))
            .map_err(Failure::bad_input)
    })
    .transpose()
}

/// The channels `send` was given: e-mail through `--smtp`, SMS and push through `--webhook`,
/// each checked before anything is claimed (plaintext only to loopback, a long enough
/// webhook secret, readable CA files). The secrets' environment values are passed in.
fn channels_of(
    a: &SendArgs,
    timeout: Duration,
    smtp_password_env: Option<std::ffi::OsString>,
    webhook_secret_env: Option<std::ffi::OsString>,
) -> Result<Vec<Box<dyn arrears_channels::Channel>>, Failure> {
    let mut channels: Vec<Box<dyn arrears_channels::Channel>> = Vec::new();
    if let Some(hp) = &a.smtp {
        let (host, port) = hp
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| bad(format!("--smtp {hp:?}: expected HOST:PORT")))?;
        let password = secret_from(
            SMTP_PASSWORD_ENV,
            smtp_password_env,
            "--smtp-password-file",
            a.smtp_password_file.as_deref(),
        )?;
        let auth = match (&a.smtp_user, password) {
            (Some(user), Some(password)) => Some(SmtpAuth {
                user: user.clone(),
                password,
            }),
            (Some(_), None) => {
                return Err(bad(format!(
                    "--smtp-user needs a password: set {SMTP_PASSWORD_ENV} or give --smtp-password-file"
                )));
            }
            (None, Some(_)) => {
                return Err(bad(format!(
                    "{SMTP_PASSWORD_ENV} is set but --smtp-user is not"
                )));
            }
            (None, None) => None,
        };
        let ch = SmtpChannel::new(&SmtpConfig {
            host,
            port,
            tls: a.smtp_tls.into(),
            auth,
            extra_roots_pem: read_pem("--smtp-ca-file", a.smtp_ca_file.as_deref())?,
            from: a.from.clone(),
            timeout,
        })
        .map_err(|e| bad(format!("--smtp: {e}")))?;
        channels.push(Box::new(ch));
    }
    if let Some(url) = &a.webhook {
        let secret = secret_from(
            WEBHOOK_SECRET_ENV,
            webhook_secret_env,
            "--webhook-secret-file",
            a.webhook_secret_file.as_deref(),
        )?
        .ok_or_else(|| {
            bad(format!(
                "--webhook needs its HMAC secret (at least {} bytes): set {WEBHOOK_SECRET_ENV} or give --webhook-secret-file",
                arrears_channels::MIN_SECRET_LEN
            ))
        })?;
        let ch = WebhookChannel::new(&WebhookConfig {
            url: url.clone(),
            secret,
            extra_roots_pem: read_pem("--webhook-ca-file", a.webhook_ca_file.as_deref())?,
            timeout,
        })
        .map_err(|e| bad(format!("--webhook: {e}")))?;
        channels.push(Box::new(ch));
    }
    if channels.is_empty() {
        return Err(bad("give --smtp HOST:PORT and/or --webhook URL"));
    }
    Ok(channels)
}

fn status_cmd(a: &StatusArgs) -> Result<(), Failure> {
    let target = crate::store_cmds::parse_target(&a.db)?;
    let rt = runtime()?;
    rt.block_on(async {
        let store = Store::open(&target).await?;
        let (counts, next) = store.outbox_counts().await?;
        println!("outbox of {target}:");
        for (st, n) in counts {
            println!("  {:<8} {n}", st.code());
        }
        match next {
            Some(t) => println!("next due: {t}"),
            None => println!("next due: none"),
        }
        if a.rows {
            println!("outbox_id\tkey\tchannel\tstate\tattempts\tnext_attempt_at\tlast_error");
            for r in store.outbox_rows().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.outbox_id,
                    r.message.idempotency_key,
                    r.message.channel,
                    r.state.code(),
                    r.attempts,
                    r.next_attempt_at,
                    r.last_error.as_deref().unwrap_or("")
                );
            }
        }
        store.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// The edge: when a message is queued and when the outbox is drained is the wall clock's
/// business (`send --now` fixes it for tests).
#[allow(clippy::disallowed_methods)]
pub fn wall_clock() -> Timestamp {
    Timestamp::now()
}
