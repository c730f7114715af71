//! `arrears serve` (the HTTP service of `arrears-server` over the store), `arrears tokens`
//! (API tokens for systems, shown once, stored hashed) and `arrears users` (people, with
//! argon2 password hashes).

use crate::Failure;
use crate::store_cmds::{DbOpt, parse_target};
use anyhow::{Context, anyhow};
use arrears_server::{AppState, Evidence, auth};
use arrears_store::{ServiceError, Store};
use std::io::{IsTerminal, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbOpt,
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The lender's key folder (lender.pub), for `/verify` and `/v1/verify/{code}`.
    #[arg(long, requires = "audit_log")]
    pub keys: Option<PathBuf>,
    /// The audit log that `arrears sign` and `arrears plan --log` write: its messages are
    /// indexed in the store at start, for `/verify` and `/v1/verify/{code}`.
    #[arg(long, requires = "keys")]
    pub audit_log: Option<PathBuf>,
    /// How often (milliseconds) the audit log is checked for changes; a changed log's
    /// messages are indexed again for `/verify` and `/v1/verify/{code}`.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub reindex_ms: u64,
    /// Log one JSON object per line (for a log collector) instead of text.
    #[arg(long)]
    pub log_json: bool,
    /// Database connections in the pool (PostgreSQL; SQLite uses at most 8). Concurrent
    /// commits share one WAL flush, so event ingest scales with this.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_connections: u32,
    /// Borrowers whose facts the pre-contact check keeps in memory (PostgreSQL only: kept
    /// true by the store's change notifications; 0 turns the cache off).
    #[arg(long, default_value_t = arrears_server::DEFAULT_FACTS_CAPACITY)]
    pub facts_cache: usize,
    /// Fill the facts cache with every borrower at start (in the background; checks are
    /// answered from the store until it is done).
    #[arg(long)]
    pub preload_facts: bool,
    /// Tasks that record events needing no decision (payments, inbound contacts) in shared
    /// statements, one commit per batch (PostgreSQL).
    #[arg(long, default_value_t = arrears_server::batcher::DEFAULT_WRITERS as u32,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub event_writers: u32,
    /// Set the server's clock to this instant (RFC 3339) at start; it runs on from there.
    /// For tests and demonstrations that act "now" at a known time of day; default: the
    /// system clock.
    #[arg(long, value_name = "INSTANT")]
    pub clock_from: Option<String>,
    /// Close a connection whose request header has not arrived within this many
    /// milliseconds (slow clients; also idle keep-alive connections).
    #[arg(long, default_value_t = arrears_server::DEFAULT_HEADER_READ_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub header_timeout_ms: u64,
    /// Answer 503 `timeout` to a request not answered within this many milliseconds.
    #[arg(long, default_value_t = arrears_server::DEFAULT_REQUEST_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub request_timeout_ms: u64,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, default_value_t = arrears_server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// argon2 password checks at once (default: one per core); beyond it a login is 503.
    #[arg(long)]
    pub password_checks: Option<usize>,
    /// Keys the failed-login limiter remembers (per username and address, and per address).
    #[arg(long, default_value_t = arrears_server::auth::DEFAULT_LOGIN_KEYS)]
    pub login_keys: usize,
    /// A reverse proxy in front of the server (repeatable): from these peers the client's
    /// address is read from `X-Forwarded-For`; from any other peer it is the peer's.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The service's public address, e.g. https://collect.example.com: portal links sent to
    /// borrowers are written under it, and an https:// address makes cookies Secure.
    /// Default: http:// and the address listened on.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

impl ServeArgs {
    /// The server's bounds from the options.
    pub fn limits(&self) -> arrears_server::Limits {
        let defaults = arrears_server::Limits::default();
        arrears_server::Limits {
            header_read_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            max_connections: self.max_connections.max(1),
            password_checks: self.password_checks.unwrap_or(defaults.password_checks),
            login_keys: self.login_keys,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokensCommand {
    /// Create an API token for a system and print it once (only its hash is stored).
    Create {
        /// Who the token is for (named in the access log); one live token per name.
        #[arg(long)]
        name: String,
        /// What the token may do (repeatable, at least one): contacts (the pre-contact
        /// check, recording contacts), events, work (plans, placements, legal cases,
        /// write-offs), read (accounts, work records, plan, queues, verification, audit
        /// export), admin.
        #[arg(long = "scope", value_enum, required = true)]
        scopes: Vec<ScopeArg>,
        /// Bind the token to one agency: it then sees and works only the loans with a live
        /// placement with that agency (docs/agency.md).
        #[arg(long)]
        agency: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
    /// List the live tokens: name, scopes and who granted them.
    List {
        #[command(flatten)]
        db: DbOpt,
    },
    /// Revoke the live token of a name.
    Revoke {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        db: DbOpt,
    },
}

/// A token scope on the command line (`arrears_server::auth::Scope`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ScopeArg {
    Contacts,
    Events,
    Work,
    Read,
    Admin,
}

impl ScopeArg {
    fn scope(self) -> auth::Scope {
        match self {
            ScopeArg::Contacts => auth::Scope::Contacts,
            ScopeArg::Events => auth::Scope::Events,
            ScopeArg::Work => auth::Scope::Work,
            ScopeArg::Read => auth::Scope::Read,
            ScopeArg::Admin => auth::Scope::Admin,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Role {
    Agent,
    Supervisor,
    Compliance,
    Admin,
}

impl Role {
    fn code(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Compliance => "compliance",
            Role::Admin => "admin",
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user; the password is read from standard input (argon2id hash stored).
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Read the password from standard input (one line); the only way to give it, so it
        /// never shows in the process list or shell history.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The user's time zone (`Area/City`): the pages show them every time in it
        /// (default: the lender's business zone).
        #[arg(long, value_name = "ZONE")]
        zone: Option<String>,
        /// Bind the user to one agency (role agent only): the pages show them only the loans
        /// with a live placement with that agency (docs/agency.md).
        #[arg(long)]
        agency: Option<String>,
        #[command(flatten)]
        db: DbOpt,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(Failure::from)
}

async fn open(db: &DbOpt) -> Result<Store, Failure> {
    open_with(db, 4).await
}

async fn open_with(db: &DbOpt, connections: u32) -> Result<Store, Failure> {
    let target = parse_target(&db.db)?;
    Store::open_with(&target, connections)
        .await
        .map_err(|e| Failure::from(anyhow!(e)))
}

#[allow(clippy::disallowed_methods)]
fn now() -> jiff::Timestamp {
    // The edge: when a token or user was created is the wall clock's business.
    jiff::Timestamp::now()
}

fn service_failure(e: ServiceError) -> Failure {
    match e {
        ServiceError::Store(e) => Failure::from(anyhow!(e)),
        other => Failure::bad_input(anyhow!(other)),
    }
}

pub fn serve(a: &ServeArgs) -> Result<(), Failure> {
    serve_on(a, None, "")
}

/// `arrears serve` itself: on `listener` when one is given (bound already, as `arrears demo`
/// binds it), else on `--listen`; `banner` is printed after the `listening on` line, once
/// the service is ready to answer. Returns after a graceful shutdown (SIGINT or SIGTERM).
pub fn serve_on(
    a: &ServeArgs,
    listener: Option<std::net::TcpListener>,
    banner: &str,
) -> Result<(), Failure> {
    // Logs go to stderr (RUST_LOG filters; info by default), stdout carries the address.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // A logger set up twice (never, in the binary) is not worth failing the command for.
    let _ = if a.log_json {
        logs.json().try_init()
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    let evidence = match (&a.keys, &a.audit_log) {
        (Some(keys), Some(log)) => {
            let p = keys.join("lender.pub");
            let public_key_hex = std::fs::read_to_string(&p)
                .with_context(|| format!("reading {}", p.display()))
                .map_err(Failure::bad_input)?
                .trim()
                .to_owned();
            Some(Evidence {
                public_key_hex,
                audit_log: log.clone(),
            })
        }
        _ => None,
    };
    if let Some(at) = &a.clock_from {
        let at = arrears_domain::parse::timestamp("--clock-from", at)
            .map_err(|e| Failure::bad_input(anyhow!("--clock-from: {}", e.detail)))?;
        arrears_server::set_clock_from(at);
        tracing::warn!(%at, "the server's clock was set by --clock-from");
    }
    let rt = runtime()?;
    rt.block_on(async {
        let store = open_with(&a.db, a.db_connections).await?;
        let listener = match listener {
            Some(l) => {
                l.set_nonblocking(true)
                    .context("setting up the bound listener")?;
                tokio::net::TcpListener::from_std(l).context("setting up the bound listener")?
            }
            None => tokio::net::TcpListener::bind(a.listen)
                .await
                .with_context(|| format!("listening on {}", a.listen))?,
        };
        let addr = listener.local_addr().context("reading the bound address")?;
        // Portal links are written under the configured public address, never the request's
        // Host header; an https:// one makes the cookies Secure.
        let base = match &a.base_url {
            Some(u) => arrears_server::base_url::BaseUrl::parse(u)
                .map_err(|e| Failure::bad_input(anyhow!("--base-url: {e}")))?,
            None => arrears_server::base_url::BaseUrl::of_listener(addr),
        };
        if !base.is_https() && !addr.ip().is_loopback() {
            tracing::warn!(
                base_url = %base,
                "the service is reachable beyond this machine but its base URL is not https://: \
                 put it behind TLS and pass --base-url https://…, or cookies are not Secure"
            );
        }
        let state = AppState::new(store.clone(), evidence)
            .map_err(|e| anyhow!(e))?
            .with_base_url(base)
            .with_facts_capacity(a.facts_cache)
            .with_event_writers(a.event_writers as usize)
            .with_limits(a.limits());
        if a.facts_cache > 0 {
            state.start_facts_cache(a.preload_facts);
        }
        // The public verify page and `/v1/verify` answer from the store's index of issued
        // messages, never from the log: it is rebuilt from the log now, before serving.
        // Then it is rebuilt whenever the log changes (checked every `--reindex-ms`).
        if let Some(log) = &a.audit_log {
            let seen = arrears_server::message_index::stamp(log);
            let r = arrears_server::message_index::rebuild(&store, log)
                .await
                .map_err(|e| anyhow!(e))?;
            tracing::info!(
                messages = r.messages,
                redacted = r.redacted,
                log = %log.display(),
                "indexed the audit log's messages"
            );
            arrears_server::message_index::watch(
                store.clone(),
                log.clone(),
                std::time::Duration::from_millis(a.reindex_ms),
                seen,
            );
        }
        // The signal handlers are in place before the address is printed (a first poll
        // registers them): a Ctrl-C or SIGTERM right after it is a graceful shutdown too.
        let mut signal = Box::pin(arrears_server::shutdown_signal());
        let signalled =
            std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx).is_ready())).await;
        let shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = if signalled {
            Box::pin(std::future::ready(()))
        } else {
            signal
        };
        let mut out = std::io::stdout();
        writeln!(out, "listening on http://{addr}").context("writing to stdout")?;
        write!(out, "{banner}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        tracing::info!(%addr, store = %store.target(), "serving");
        arrears_server::serve(listener, state, shutdown)
            .await
            .map_err(|e| anyhow!(e))?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    })
}

pub fn tokens(a: &TokensArgs) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        match &a.command {
            TokensCommand::Create {
                name,
                scopes,
                agency,
                db,
            } => {
                arrears_domain::types::ContactId::check("--name", name)
                    .map_err(|e| Failure::bad_input(anyhow!("--name: {}", e.detail)))?;
                let mut codes: Vec<&str> = scopes.iter().map(|s| s.scope().code()).collect();
                codes.sort_unstable();
                codes.dedup();
                let store = open(db).await?;
                let (token, hash) = auth::new_token().map_err(|e| anyhow!("{e}"))?;
                match agency {
                    None => store
                        .create_token(name, &hash, &codes, now())
                        .await
                        .map_err(service_failure)?,
                    Some(agency) => {
                        if store.agency(agency).await.map_err(|e| anyhow!(e))?.is_none() {
                            return Err(Failure::bad_input(anyhow!(
                                "there is no agency {agency:?}; add it with `arrears agency add`"
                            )));
                        }
                        let made = store
                            .create_agency_token(name, &hash, &codes, agency, now())
                            .await
                            .map_err(|e| anyhow!(e))?;
                        if !made {
                            return Err(Failure::bad_input(anyhow!(
                                "a live token is named {name:?}"
                            )));
                        }
                    }
                }
                store.close().await;
                println!("{token}");
                eprintln!(
                    "token {name:?} created with scopes {}; it is shown only now. Send it as `Authorization: Bearer TOKEN`.",
                    codes.join(", ")
                );
            }
            TokensCommand::List { db } => {
                let store = open(db).await?;
                let live = store.live_tokens().await.map_err(|e| anyhow!(e))?;
                let bound = store.agency_tokens().await.map_err(|e| anyhow!(e))?;
                store.close().await;
                for (name, scopes, by) in live {
                    match bound.iter().find(|(n, _)| *n == name) {
                        Some((_, agency)) => {
                            println!("{name}\t{}\t{by}\tagency:{agency}", scopes.join(","));
                        }
                        None => println!("{name}\t{}\t{by}", scopes.join(",")),
                    }
                }
            }
            TokensCommand::Revoke { name, db } => {
                let store = open(db).await?;
                let revoked = store
                    .revoke_token(name, now())
                    .await
                    .map_err(|e| anyhow!(e))?;
                store.close().await;
                if !revoked {
                    return Err(Failure::bad_input(anyhow!("no live token named {name:?}")));
                }
                println!("token {name:?} revoked");
            }
        }
        Ok(())
    })
}

pub fn users(a: &UsersArgs) -> Result<(), Failure> {
    let UsersCommand::Add {
        username,
        role,
        password_stdin: _,
        zone,
        agency,
        db,
    } = &a.command;
    check_username(username)?;
    if let Some(z) = zone {
        arrears_domain::TimeZoneName::parse("--zone", z).map_err(|e| {
            Failure::bad_input(anyhow!("--zone {z:?} is not a time zone (Area/City): {e}"))
        })?;
    }
    let mut input = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .context("reading the password from standard input")?;
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    match agency {
        None => add_user(db, username, *role, password)?,
        Some(agency) => add_agency_user(db, username, *role, agency, password)?,
    }
    if let Some(z) = zone {
        let rt = runtime()?;
        rt.block_on(async {
            let store = open(db).await?;
            store
                .set_user_zone(username, Some(z))
                .await
                .map_err(|e| anyhow!("setting the user's time zone: {e}"))?;
            store.close().await;
            Ok::<(), Failure>(())
        })?;
        println!("user {username:?} added as {} (times in {z})", role.code());
    } else {
        println!("user {username:?} added as {}", role.code());
    }
    Ok(())
}

fn check_username(username: &str) -> Result<(), Failure> {
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
        return Err(Failure::bad_input(anyhow!(
            "--username must be 1 to 64 characters without control characters"
        )));
    }
    Ok(())
}

/// `arrears users add --agency A`: an agent bound to one agency.
fn add_agency_user(
    db: &DbOpt,
    username: &str,
    role: Role,
    agency: &str,
    password: &str,
) -> Result<(), Failure> {
    check_username(username)?;
    if !matches!(role, Role::Agent) {
        return Err(Failure::bad_input(anyhow!(
            "an agency's user has the role agent (they work the agency's placed loans)"
        )));
    }
    if password.chars().count() < 12 {
        return Err(Failure::bad_input(anyhow!(
            "the password must have at least 12 characters"
        )));
    }
    let hash = auth::hash_password(password).map_err(|e| anyhow!("hashing the password: {e}"))?;
    let rt = runtime()?;
    rt.block_on(async {
        let store = open(db).await?;
        if store
            .agency(agency)
            .await
            .map_err(|e| anyhow!(e))?
            .is_none()
        {
            return Err(Failure::bad_input(anyhow!(
                "there is no agency {agency:?}; add it with `arrears agency add`"
            )));
        }
        let added = store
            .add_agency_user(username, &hash, agency, now())
            .await
            .map_err(|e| anyhow!(e))?;
        store.close().await;
        if !added {
            return Err(Failure::bad_input(anyhow!(
                "the username {username:?} is taken"
            )));
        }
        Ok(())
    })
}

/// `arrears users add` after its password is read: the checks, the argon2id hash, the row.
pub fn add_user(db: &DbOpt, username: &str, role: Role, password: &str) -> Result<(), Failure> {
    check_username(username)?;
    if password.chars().count() < 12 {
        return Err(Failure::bad_input(anyhow!(
            "the password must have at least 12 characters"
        )));
    }
    let hash = auth::hash_password(password).map_err(|e| anyhow!("hashing the password: {e}"))?;
    let rt = runtime()?;
    rt.block_on(async {
        let store = open(db).await?;
        store
            .add_user(username, role.code(), &hash, now())
            .await
            .map_err(service_failure)?;
        store.close().await;
        Ok(())
    })
}
