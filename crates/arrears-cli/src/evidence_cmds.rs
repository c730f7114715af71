//! Evidence at the edge: the lender's key pair, issuing signed messages into the audit log,
//! verifying a message by its code, and verifying the audit log's chain.
//!
//! Files: `DIR/lender.key` (the 32-byte secret as hex, mode 0600), `DIR/lender.pub` (the
//! public key as hex, to publish), the audit log as JSON lines (one `Entry` per line) and
//! `LOG.head` with the last entry's seq and hash and the count, signed with the lender's key
//! (`arrears_evidence::head`), rewritten after each append (write-to-temp, fsync, rename).
//!
//! Tamper evidence without trusting the files: `audit verify` checks the log against its
//! signed head with the lender's PUBLIC key from outside the log (`--keys DIR`'s lender.pub
//! or `--public-key FILE`, named in its output), so a log cut short, an entry rewritten with
//! the chain and head recomputed, a head signed by another key, a missing head, and a
//! redaction not signed by the lender each fail. Every writer that has the key (`sign`,
//! `plan --keys`, `audit delete`, `audit sign-head`) first verifies the log under that key
//! and then signs the new head; `plan` without `--keys` appends only to a log whose head is
//! not signed yet, and leaves an unsigned head that `audit verify` reports. `audit
//! sign-head` is the one way to bring such a log (or one written before heads were signed)
//! under the signature: the key holder, after review, appends an `audit.sign_head` entry
//! recording the reason and the previous head, and signs the new head.
//!
//! `audit delete` redacts rather than removes (see `arrears_evidence::chain`): when every
//! selected entry is past its pack's retention it appends one `audit.redaction` entry that
//! names them with their retention basis, erases their content, and replaces the log (and
//! then the head) by write-to-temp, fsync, rename. `audit verify` re-judges each redaction
//! under the embedded packs from what the redaction entry recorded.
//!
//! Every command that changes a log (`sign`, `plan`, `audit delete`) holds an exclusive lock
//! on `LOG.lock` from its read of the log to its last write of the head, so two of them at
//! once cannot chain two entries to the same predecessor, and a deletion's rewrite cannot
//! drop another command's appends; a second one waits (and says so). Readers (`audit
//! verify`, `audit export`, `verify`) hold a shared lock, so they never see an append
//! without its head; where the lock file cannot be created (a read-only copy of a log)
//! they read without it. The lock is advisory: it orders Arrears' own commands.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_evidence::chain::{
    Draft, Entry, Head, REDACTION_KIND, RedactedItem, RedactionData, RedactionRequest, Tamper,
    append_salted, redact_signed, redaction_note, redaction_rules, verify,
};
use arrears_evidence::head::{
    SIGN_HEAD_KIND, SignedHead, sign_head_draft, unsigned_redactions, verify_vouched,
};
use arrears_evidence::signing::{
    LenderKey, MessageDraft, PublicKey, SignedMessage, normalize_code, verify_message,
};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Create the lender's ed25519 key pair (refuses to overwrite an existing key).
    Init {
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct SignArgs {
    #[arg(long, default_value = "keys")]
    pub keys: PathBuf,
    /// The audit log (JSON lines) the message is recorded in.
    #[arg(long, default_value = "audit.jsonl")]
    pub log: PathBuf,
    /// The lender's name, as the message states it.
    #[arg(long)]
    pub lender: String,
    #[arg(long)]
    pub borrower: String,
    #[arg(long)]
    pub loan: Option<String>,
    #[arg(long)]
    pub channel: String,
    /// The message text; `{code}` is replaced by the verification code.
    #[arg(long)]
    pub text: String,
    /// When the message is issued (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The verification code printed on the message.
    pub code: String,
    #[arg(long, default_value = "audit.jsonl")]
    pub log: PathBuf,
    /// Folder with lender.pub (or give --pubkey).
    #[arg(long, default_value = "keys")]
    pub keys: PathBuf,
    #[arg(long)]
    pub pubkey: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the whole log against its head signed by the lender: reports the first entry
    /// altered, removed or reordered, a log cut short, a missing, unsigned or forged head, and
    /// a redaction the lender did not sign. The public key comes from outside the log.
    Verify {
        #[arg(long, default_value = "audit.jsonl")]
        log: PathBuf,
        /// Folder with lender.pub, the lender's public key (unless --public-key is given).
        #[arg(long, default_value = "keys")]
        keys: PathBuf,
        /// A file with the lender's public key (hex), e.g. as published.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A copy of an earlier head of this log kept apart from it (another host, the day's
        /// report; repeatable): the log must still hold the entry it names. Catches a log
        /// rolled back to an older copy with its older signed head.
        #[arg(long = "anchor", value_name = "HEAD_FILE")]
        anchors: Vec<PathBuf>,
    },
    /// Bring a reviewed log under the lender's signature: a log whose head is missing, not
    /// signed (written before heads were signed, or by `plan` without --keys) or behind the
    /// log (a writer stopped between the log and the head). Appends an `audit.sign_head`
    /// entry with the reason, the previous head and a signature for each redaction written
    /// before redactions were signed, then signs the head. Refused for a log that fails any
    /// other check, and for one that already verifies.
    SignHead {
        #[arg(long, default_value = "audit.jsonl")]
        log: PathBuf,
        /// Folder with lender.key.
        #[arg(long, default_value = "keys")]
        keys: PathBuf,
        /// Why the log is being signed (kept in the log), e.g. who reviewed it and how.
        #[arg(long)]
        reason: String,
        /// The instant of the entry (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Write one borrower's complete record (decisions, messages with their text, contacts)
    /// as BORROWER.json and a readable BORROWER.html.
    Export {
        #[arg(long)]
        borrower: String,
        #[arg(long, default_value = "audit.jsonl")]
        log: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Delete records: a borrower's (`--borrower`) or all before an instant (`--before`).
    /// Refused while any of them is younger than its pack's retention (CN-RECORDS,
    /// US-RECORDS; a record of unknown jurisdiction is held by the strictest pack). Otherwise
    /// their content is erased and an `audit.redaction` entry records it; the chain still
    /// verifies.
    Delete {
        #[arg(long, default_value = "audit.jsonl")]
        log: PathBuf,
        #[arg(long, required_unless_present = "before")]
        borrower: Option<String>,
        /// RFC 3339 instant: the records before it.
        #[arg(long)]
        before: Option<String>,
        /// The instant of the deletion (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Folder with lender.key: the redaction and the new head are signed with it.
        #[arg(long, default_value = "keys")]
        keys: PathBuf,
    },
}

/// A lock on an audit log (see the module doc), released when dropped.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct LogLock {
    _file: std::fs::File,
}

impl LogLock {
    /// Waits until no other command reads or changes `log`.
    pub(crate) fn exclusive(log: &Path) -> Result<Self, Failure> {
        let p = lock_path(log);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .with_context(|| format!("opening the lock file {}", p.display()))?;
        Self::take(file, &p, true)
    }

    /// Waits until no other command changes `log`; None where the lock file cannot be
    /// opened or created (a log on read-only media), in which case the caller reads unlocked.
    pub(crate) fn shared(log: &Path) -> Result<Option<Self>, Failure> {
        let p = lock_path(log);
        match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .or_else(|_| std::fs::File::open(&p))
        {
            Ok(file) => Self::take(file, &p, false).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn take(file: std::fs::File, p: &Path, exclusive: bool) -> Result<Self, Failure> {
        let tried = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match tried {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "waiting for {}: another arrears command is using this audit log",
                    p.display()
                );
                if exclusive {
                    file.lock()
                } else {
                    file.lock_shared()
                }
                .with_context(|| format!("locking {}", p.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("locking {}", p.display()))
                    .into());
            }
        }
        Ok(Self { _file: file })
    }
}

pub(crate) fn lock_path(log: &Path) -> PathBuf {
    let mut p = log.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

pub(crate) fn head_path(log: &Path) -> PathBuf {
    let mut p = log.as_os_str().to_owned();
    p.push(".head");
    PathBuf::from(p)
}

pub fn keys(a: &KeysArgs) -> Result<(), Failure> {
    let KeysCommand::Init { dir } = &a.command;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key_path = dir.join("lender.key");
    if key_path.exists() {
        return Err(Failure::bad_input(anyhow!(
            "{} exists; a lender key is never overwritten",
            key_path.display()
        )));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
    let key = LenderKey::from_seed(seed);
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
    }
    .with_context(|| format!("creating {}", key_path.display()))?;
    writeln!(f, "{}", hex(&key.seed()))?;
    std::fs::write(dir.join("lender.pub"), format!("{}\n", key.public_hex()))?;
    println!(
        "lender key created: {} (secret, mode 0600) and {} (public)",
        key_path.display(),
        dir.join("lender.pub").display()
    );
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn load_key(dir: &Path) -> Result<LenderKey, Failure> {
    let path = dir.join("lender.key");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::bad_input(anyhow!(
            "the lender's key {} cannot be read ({e}): give --keys DIR, the folder `arrears keys init` made",
            path.display()
        ))
    })?;
    let t = text.trim();
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let seed: [u8; 32] = bytes
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Failure::bad_input(anyhow!("{} is not a lender key", path.display())))?;
    Ok(LenderKey::from_seed(seed))
}

pub(crate) fn read_log(log: &Path) -> Result<Vec<Entry>, Failure> {
    Ok(read_log_lines(log)?.into_iter().map(|(_, e)| e).collect())
}

/// The log and its head as one consistent pair (under a shared lock).
fn read_log_and_head(log: &Path) -> Result<(Vec<Entry>, Option<Head>), Failure> {
    let _lock = LogLock::shared(log)?;
    Ok((read_log(log)?, read_head(log)?))
}

/// The log's entries with the exact line each was read from (blank lines skipped).
fn read_log_lines(log: &Path) -> Result<Vec<(String, Entry)>, Failure> {
    if !log.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|e| (l.to_owned(), e))
                .map_err(|e| {
                    Failure::bad_input(anyhow!(
                        "{} line {}: not an audit entry: {e}",
                        log.display(),
                        i + 1
                    ))
                })
        })
        .collect()
}

/// A fresh secret seed for the salts of one batch of appends (never stored).
pub(crate) fn salt_seed() -> Result<[u8; 32], Failure> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
    Ok(seed)
}

/// Chains a draft as a salted v2 entry (its salt derived from the batch's seed and its seq).
pub(crate) fn append_entry(prev: Option<&Entry>, d: Draft, seed: &[u8; 32]) -> Entry {
    let seq = prev.map_or(0, |p| p.seq + 1);
    append_salted(prev, d, &arrears_evidence::chain::salt(seed, seq))
}

/// Replaces `path` by `bytes` so that a crash leaves either the old file or the new one,
/// never a mix: the bytes go to a temporary file in the same folder (same file system, the
/// old file's permissions), which is fsynced, renamed over `path`, and the folder fsynced.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, bytes, || Ok(()))
}

/// `write_atomically` with `before_rename` run once the temporary file is durable (a test's
/// stand-in for a crash; an error leaves `path` untouched and removes the temporary file).
fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce() -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    if let Ok(m) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(m.permissions())?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    before_rename()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

pub(crate) fn read_head(log: &Path) -> Result<Option<Head>, Failure> {
    Ok(read_signed_head(log)?.map(|h| h.head()))
}

/// The head file as written: signed, or (written before heads were signed, or by `plan`
/// without --keys) only the seq and hash.
pub(crate) fn read_signed_head(log: &Path) -> Result<Option<SignedHead>, Failure> {
    let p = head_path(log);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Failure::bad_input(anyhow!("{} is not an audit log head: {e}", p.display())))
}

/// Writes the head of a log whose last entry is `end` and whose first entry's hash is
/// `log_id`, signed with the lender's key at the clock's instant (write-to-temp, fsync,
/// rename).
pub(crate) fn write_signed_head(
    log: &Path,
    key: &LenderKey,
    log_id: Option<&str>,
    end: &Head,
) -> Result<(), Failure> {
    // The edge may read the clock; the evidence crate never does.
    #[allow(clippy::disallowed_methods)]
    let now = jiff::Timestamp::now();
    write_head(log, &SignedHead::sign(key, log_id, end, end.seq + 1, now))
}

/// Writes a head as given (write-to-temp, fsync, rename).
pub(crate) fn write_head(log: &Path, head: &SignedHead) -> Result<(), Failure> {
    let hp = head_path(log);
    write_atomically(
        &hp,
        serde_json::to_string(head)
            .context("encoding the head")?
            .as_bytes(),
    )
    .with_context(|| format!("writing {}", hp.display()))?;
    Ok(())
}

/// What a writer checks before it changes `log` (read under its exclusive lock): with the
/// lender's key, that the log verifies under it (signed head included; an empty log
/// without a head is fine); without one (`plan` without --keys), that the head is not
/// signed (appending would leave the new entries outside the lender's signature) and the
/// chain and the unsigned head agree. The error is a sentence to follow "refusing to …: ".
pub(crate) fn check_before_change(
    log: &Path,
    entries: &[Entry],
    key: Option<&LenderKey>,
) -> Result<(), Failure> {
    let head = read_signed_head(log)?;
    match key {
        Some(k) => verify_vouched(entries, head.as_ref(), &k.public())
            .map(|_| ())
            .map_err(|e| Failure::from(anyhow!("{e}"))),
        None => match &head {
            Some(h) if h.is_signed() => Err(Failure::bad_input(anyhow!(
                "the log's head is signed by the lender, and without the lender's key the new entries could not be vouched for: give --keys DIR"
            ))),
            _ => verify(entries, head.as_ref().map(SignedHead::head).as_ref())
                .map_err(|e| Failure::from(anyhow!("{e}"))),
        },
    }
}

/// Prefixes a writer's refusal with the log and what was refused.
pub(crate) fn refusing(log: &Path, what: &str, f: Failure) -> Failure {
    Failure {
        code: f.code,
        error: anyhow!("{}: refusing to {what}: {:#}", log.display(), f.error),
    }
}

pub fn sign(a: &SignArgs) -> Result<(), Failure> {
    let key = load_key(&a.keys)?;
    let at = match &a.at {
        Some(s) => arrears_domain::parse::timestamp("--at", s)
            .map_err(|e| Failure::bad_input(anyhow!("{}", e.detail)))?,
        // The edge may read the clock; the evidence crate never does.
        #[allow(clippy::disallowed_methods)]
        None => jiff::Timestamp::now(),
    };
    let _lock = LogLock::exclusive(&a.log)?;
    let entries = read_log(&a.log)?;
    check_before_change(&a.log, &entries, Some(&key))
        .map_err(|f| refusing(&a.log, "append to this log", f))?;
    let mut draft = MessageDraft {
        lender: a.lender.clone(),
        borrower_id: a.borrower.clone(),
        loan_id: a.loan.clone(),
        channel: a.channel.clone(),
        issued_at: at,
        sequence: entries.len() as u64,
        text: String::new(),
    };
    let code = draft.code();
    draft.text = a.text.replace("{code}", &code);
    let msg = key.sign(draft);
    let entry = append_entry(
        entries.last(),
        Draft {
            at,
            kind: "message".into(),
            borrower_id: Some(a.borrower.clone()),
            loan_id: a.loan.clone(),
            data: serde_json::to_value(&msg).context("encoding the message")?,
        },
        &salt_seed()?,
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(&entry).context("encoding the entry")?
    )?;
    f.sync_all()?;
    let log_id = entries.first().unwrap_or(&entry).hash.clone();
    write_signed_head(&a.log, &key, Some(&log_id), &Head::of(&entry))?;
    println!("{}", msg.code);
    Ok(())
}

pub fn verify_code(a: &VerifyArgs) -> Result<(), Failure> {
    let pub_path = a
        .pubkey
        .clone()
        .unwrap_or_else(|| a.keys.join("lender.pub"));
    let public = std::fs::read_to_string(&pub_path)
        .with_context(|| format!("reading {}", pub_path.display()))?;
    let code = normalize_code(&a.code);
    let entries = {
        let _lock = LogLock::shared(&a.log)?;
        read_log(&a.log)?
    };
    let found = entries
        .iter()
        .filter(|e| e.kind == "message")
        .find_map(|e| {
            let m: SignedMessage = serde_json::from_value(e.data.clone()).ok()?;
            (m.code == code).then_some(m)
        });
    let Some(m) = found else {
        let deleted = entries
            .iter()
            .filter(|e| e.kind == "message" && e.is_redacted())
            .count();
        if deleted > 0 {
            println!(
                "NOT ON RECORD: no message with code {code} is on record. {deleted} older message records were deleted after their retention, so a message that old cannot be checked; a recent message with this code was not issued by this lender."
            );
            return Err(Failure {
                code: 1,
                error: anyhow!("no message with code {code} on record"),
            });
        }
        println!(
            "NOT ISSUED: no message with code {code} was issued by this lender. Do not pay or reply to it; keep it as evidence and report it."
        );
        return Err(Failure {
            code: 1,
            error: anyhow!("no message with code {code}"),
        });
    };
    match verify_message(public.trim(), &m) {
        Ok(()) => {
            println!(
                "GENUINE: issued by {} on {} ({}) to borrower {}:\n{}",
                m.lender, m.issued_at, m.channel, m.borrower_id, m.text
            );
            Ok(())
        }
        Err(e) => {
            println!("NOT GENUINE: the record for code {code} fails its signature check: {e}");
            Err(Failure {
                code: 1,
                error: anyhow!("message {code}: {e}"),
            })
        }
    }
}

pub fn audit(a: &AuditArgs) -> Result<(), Failure> {
    match &a.command {
        AuditCommand::Verify {
            log,
            keys,
            public_key,
            anchors,
        } => audit_verify(log, keys, public_key.as_deref(), anchors),
        AuditCommand::SignHead {
            log,
            keys,
            reason,
            at,
        } => sign_head(log, keys, reason, at.as_deref()),
        AuditCommand::Export { borrower, log, out } => export(borrower, log, out),
        AuditCommand::Delete {
            log,
            borrower,
            before,
            at,
            keys,
        } => delete(
            log,
            borrower.as_deref(),
            before.as_deref(),
            at.as_deref(),
            keys,
        ),
    }
}

/// The lender's public key for `audit verify`, from outside the log: `--public-key FILE`,
/// else `KEYS/lender.pub`; with where it came from, for the output.
fn load_public(keys: &Path, public_key: Option<&Path>) -> Result<(PublicKey, String), Failure> {
    let (path, source) = match public_key {
        Some(p) => (p.to_path_buf(), "--public-key"),
        None => (keys.join("lender.pub"), "the keys directory"),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::bad_input(anyhow!(
            "no public key to check the log's signed head with: {} cannot be read ({e}); give --keys DIR (holding lender.pub) or --public-key FILE. The key must come from outside the log: one read from the log or its head would prove nothing",
            path.display()
        ))
    })?;
    let key = PublicKey::from_hex(&text)
        .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", path.display())))?;
    Ok((key, format!("{} ({source})", path.display())))
}

/// Failures that say the log is not (yet) under the lender's signature rather than that it
/// was changed: an unsigned or lagging head.
fn not_vouched(t: &Tamper) -> bool {
    matches!(t, Tamper::UnsignedHead { .. } | Tamper::Unvouched { .. })
}

fn audit_verify(
    log: &Path,
    keys: &Path,
    public_key: Option<&Path>,
    anchors: &[PathBuf],
) -> Result<(), Failure> {
    let (public, source) = load_public(keys, public_key)?;
    let mut kept = Vec::with_capacity(anchors.len());
    for a in anchors {
        let text = std::fs::read_to_string(a)
            .with_context(|| format!("reading the anchor {}", a.display()))?;
        let h: SignedHead = serde_json::from_str(&text).map_err(|e| {
            Failure::bad_input(anyhow!("{} is not an audit log head: {e}", a.display()))
        })?;
        kept.push(h);
    }
    let (entries, head) = {
        let _lock = LogLock::shared(log)?;
        (read_log(log)?, read_signed_head(log)?)
    };
    let packs = arrears_policy::PackSet::embedded().context("loading the rule packs")?;
    let checked = verify_vouched(&entries, head.as_ref(), &public)
        .and_then(|v| {
            kept.iter()
                .try_for_each(|a| arrears_evidence::check_anchor(&entries, a, &public))
                .map(|()| v)
        })
        .map_err(|e| (not_vouched(&e), e.to_string()))
        .and_then(|v| {
            check_redaction_retention(&entries, &packs)
                .map(|()| v)
                .map_err(|e| (false, e))
        });
    match checked {
        Ok(v) => {
            let redacted = entries.iter().filter(|e| e.is_redacted()).count();
            let mut out = format!("ok: {} entries, chain intact", v.entries);
            if redacted > 0 {
                out.push_str(&format!(
                    "; {redacted} redacted after their retention, by {} redactions signed by the lender",
                    v.redactions
                ));
            }
            match &v.written_at {
                Some(t) => out.push_str(&format!("; head signed by the lender at {t}")),
                None => out.push_str("; the log is empty and has no head: nothing to vouch for"),
            }
            if !kept.is_empty() {
                out.push_str(&format!(
                    "; the log still holds what {} anchor(s) kept apart name",
                    kept.len()
                ));
            }
            println!(
                "{out}
checked with the lender's public key from {source}"
            );
            Ok(())
        }
        Err((unvouched, e)) => {
            let word = if unvouched {
                "NOT VOUCHED FOR"
            } else {
                "TAMPERED"
            };
            println!(
                "{word}: {e}
checked with the lender's public key from {source}"
            );
            Err(Failure {
                code: 1,
                error: anyhow!("{}: {e}", log.display()),
            })
        }
    }
}

/// `audit sign-head` (see `AuditCommand::SignHead`).
fn sign_head(log: &Path, keys: &Path, reason: &str, at: Option<&str>) -> Result<(), Failure> {
    let key = load_key(keys)?;
    let public = key.public();
    let at = match at {
        Some(s) => parse_instant("--at", s)?,
        // The edge may read the clock; the evidence crate never does.
        #[allow(clippy::disallowed_methods)]
        None => jiff::Timestamp::now(),
    };
    if reason.trim().is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "--reason is empty: say who reviewed the log and why it is being signed"
        )));
    }
    let _lock = LogLock::exclusive(log)?;
    let mut entries = read_log(log)?;
    let head = read_signed_head(log)?;
    let refuse = |why: String| {
        Failure::bad_input(anyhow!(
            "{}: refusing to sign the head: {why}; nothing was written",
            log.display()
        ))
    };
    if entries.is_empty() {
        return Err(refuse("the log is empty".into()));
    }
    let state = match verify_vouched(&entries, head.as_ref(), &public) {
        Ok(v) => {
            return Err(refuse(format!(
                "the log already verifies under the lender's key (head signed at {})",
                v.written_at.unwrap_or_default()
            )));
        }
        Err(
            e @ (Tamper::NoHead { .. }
            | Tamper::UnsignedHead { .. }
            | Tamper::Unvouched { .. }
            | Tamper::UnsignedRedaction { .. }),
        ) => e.to_string(),
        Err(e) => {
            return Err(refuse(format!(
                "{e}. sign-head only brings a log whose head is missing, unsigned or behind under the signature; it never vouches for a log that fails any other check"
            )));
        }
    };
    // What the old head still says must hold: the chain, the entry it names (an unsigned one
    // included: it is all that stands against a cut-off tail), every redaction's basis.
    let packs = arrears_policy::PackSet::embedded().context("loading the rule packs")?;
    verify(&entries, head.as_ref().map(SignedHead::head).as_ref())
        .map_err(|e| e.to_string())
        .and_then(|()| check_redaction_retention(&entries, &packs))
        .map_err(refuse)?;
    let unsigned = unsigned_redactions(&entries, &public).map_err(|e| refuse(e.to_string()))?;
    let draft = sign_head_draft(&entries, &key, at, reason, head.as_ref(), &state, &unsigned);
    let entry = append_entry(entries.last(), draft, &salt_seed()?);
    entries.push(entry.clone());
    let log_id = entries.first().map(|e| e.hash.clone());
    #[allow(clippy::disallowed_methods)]
    let now = jiff::Timestamp::now();
    let new_head = SignedHead::sign(
        &key,
        log_id.as_deref(),
        &Head::of(&entry),
        entry.seq + 1,
        now,
    );
    // Nothing is written unless the result verifies under the key.
    verify_vouched(&entries, Some(&new_head), &public)
        .map_err(|e| refuse(format!("the signed log would not verify ({e})")))?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    writeln!(
        f,
        "{}",
        serde_json::to_string(&entry).context("encoding the entry")?
    )?;
    f.sync_all()?;
    write_head(log, &new_head)?;
    println!(
        "signed the head of {} at seq {} with the lender's key {}: the audit.sign_head entry seq {} records the reason, the previous head ({state}){}",
        log.display(),
        entry.seq,
        public.hex(),
        entry.seq,
        if unsigned.is_empty() {
            String::new()
        } else {
            format!(
                " and the lender's signatures of the earlier redactions {}",
                unsigned
                    .iter()
                    .map(|s| format!("seq {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(())
}

fn parse_instant(flag: &'static str, s: &str) -> Result<jiff::Timestamp, Failure> {
    arrears_domain::parse::timestamp(flag, s)
        .map_err(|e| Failure::bad_input(anyhow!("{flag}: {}", e.detail)))
}

/// HTML text with `& < > " '` escaped, so a record's text can never become markup.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line describing an entry for the HTML page.
fn describe(e: &Entry) -> (String, String) {
    let d = &e.data;
    let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let list = |k: &str| {
        d.get(k)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    match e.kind.as_str() {
        "plan.action" => (
            format!(
                "planned {} ({}) by rule {}, arm {}, between {} and {}",
                s("kind"),
                s("channel"),
                s("rule_id"),
                s("arm"),
                s("not_before"),
                s("not_after")
            ),
            s("text"),
        ),
        "plan.block" => (
            format!(
                "blocked {} by rule {}: {}; earliest allowed {}",
                s("kind"),
                s("rule_id"),
                list("rule_ids"),
                d.get("earliest_allowed")
                    .and_then(|v| v.as_str())
                    .unwrap_or("never")
            ),
            s("note"),
        ),
        "plan.proposal" => (
            format!("internal {} by rule {}", s("kind"), s("rule_id")),
            String::new(),
        ),
        REDACTION_KIND => {
            let n = d
                .get("entries")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            (
                format!(
                    "{n} records deleted after their retention ({}); their content is erased",
                    redaction_rules(e).join(", ")
                ),
                String::new(),
            )
        }
        "message" => (
            format!(
                "message issued by {} on {} ({}), code {}",
                s("lender"),
                s("issued_at"),
                s("channel"),
                s("code")
            ),
            s("text"),
        ),
        other => (other.to_owned(), d.to_string()),
    }
}

fn export(borrower: &str, log: &Path, out: &Path) -> Result<(), Failure> {
    let (entries, head) = read_log_and_head(log)?;
    let chain = verify(&entries, head.as_ref());
    let mine: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.borrower_id.as_deref() == Some(borrower))
        .collect();
    let redacted = redaction_note(&entries, &mine);
    if mine.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "{}: no record of borrower {borrower:?}{}",
            log.display(),
            match &redacted {
                Some((_, text)) => format!(" ({text})"),
                None => String::new(),
            }
        )));
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let messages: Vec<&serde_json::Value> = mine
        .iter()
        .filter(|e| e.kind == "message")
        .map(|e| &e.data)
        .collect();
    let mut json = serde_json::json!({
        "borrower_id": borrower,
        "log": log.display().to_string(),
        "chain": match &chain { Ok(()) => "intact".to_owned(), Err(e) => format!("TAMPERED: {e}") },
        "entries": mine,
        "messages": messages,
        "counts": {
            "decisions": mine.iter().filter(|e| e.kind.starts_with("plan.")).count(),
            "messages": messages.len(),
            "contacts": mine.iter().filter(|e| e.kind == "contact").count(),
        },
    });
    // Only when something was deleted (otherwise the record is what the server's export gives).
    if let (Some((v, _)), Some(o)) = (&redacted, json.as_object_mut()) {
        o.insert("redacted".into(), v.clone());
    }
    let safe: String = borrower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let json_path = out.join(format!("{safe}.json"));
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&json).context("encoding the record")?,
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Record of borrower ");
    html.push_str(&escape_html(borrower));
    html.push_str("</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0}</style></head><body>\n");
    html.push_str(&format!(
        "<h1>Record of borrower {}</h1>\n",
        escape_html(borrower)
    ));
    html.push_str(&format!(
        "<p>From {}: {} entries for this borrower; audit chain {}.</p>\n",
        escape_html(&log.display().to_string()),
        mine.len(),
        escape_html(&match &chain {
            Ok(()) => "intact".to_owned(),
            Err(e) => format!("TAMPERED: {e}"),
        })
    ));
    if let Some((_, text)) = &redacted {
        html.push_str(&format!(
            "<p><strong>Deleted records:</strong> {}</p>\n",
            escape_html(text)
        ));
    }
    html.push_str("<table><tr><th>seq</th><th>at</th><th>kind</th><th>loan</th><th>what</th><th>text</th></tr>\n");
    for e in &mine {
        let (what, text) = describe(e);
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>\n",
            e.seq,
            escape_html(&e.at),
            escape_html(&e.kind),
            escape_html(e.loan_id.as_deref().unwrap_or("")),
            escape_html(&what),
            escape_html(&text)
        ));
    }
    html.push_str("</table>\n</body></html>\n");
    let html_path = out.join(format!("{safe}.html"));
    std::fs::write(&html_path, html).with_context(|| format!("writing {}", html_path.display()))?;
    println!(
        "wrote {} and {} ({} entries)",
        json_path.display(),
        html_path.display(),
        mine.len()
    );
    Ok(())
}

/// When a record's retention ends: the latest end over the packs that judge it (its
/// jurisdiction's pack, or every pack when that is unknown), with the rule that sets it;
/// `(None, record_at)` when no judging pack has a records rule.
fn retention_end(
    packs: &arrears_policy::PackSet,
    jurisdiction: Option<&arrears_domain::Jurisdiction>,
    record_at: jiff::Timestamp,
    last_activity: jiff::Timestamp,
) -> (Option<arrears_policy::RuleId>, jiff::Timestamp) {
    let judged: Vec<&arrears_policy::Pack> = match jurisdiction.and_then(|j| packs.get(j)) {
        Some(p) => vec![p],
        None => packs.iter().collect(),
    };
    let mut end = (None, record_at);
    for pack in judged {
        // Asked at the earliest instant, a pack with a records rule always answers with its
        // hold, which names the rule and the end.
        if let Err(hold) =
            arrears_policy::check_deletion(pack, record_at, last_activity, jiff::Timestamp::MIN)
            && (end.0.is_none() || hold.earliest_deletion > end.1)
        {
            end = (Some(hold.rule_id), hold.earliest_deletion);
        }
    }
    end
}

/// `audit verify`'s judgement of every redaction under the embedded packs: from the facts
/// the `audit.redaction` entry recorded (jurisdiction, last activity) and the redacted
/// entry's own instant, which its hash still covers, the retention must have ended by the
/// redaction's `at`. (The chain check already holds each stub to a record naming it with a
/// `kept_until` not after that `at`; this also catches a `kept_until` that understates the
/// rule.) What was erased cannot be re-judged: a forger who rewrites the whole chain can
/// still lie about the jurisdiction or last activity.
fn check_redaction_retention(
    entries: &[Entry],
    packs: &arrears_policy::PackSet,
) -> Result<(), String> {
    let instant = |s: &str| arrears_domain::parse::timestamp("at", s).ok();
    for r in entries {
        let Some(data) = RedactionData::of(r) else {
            continue;
        };
        let bad = |what: &str| format!("the audit.redaction entry seq {}: {what}", r.seq);
        let at = instant(&r.at).ok_or_else(|| bad("its at is not an instant"))?;
        for it in &data.entries {
            let e = usize::try_from(it.seq)
                .ok()
                .and_then(|i| entries.get(i))
                .ok_or_else(|| bad("it names an entry that is not in the log"))?;
            let record_at =
                instant(&e.at).ok_or_else(|| bad("a redacted entry's at is not an instant"))?;
            let last = instant(&it.last_activity)
                .ok_or_else(|| bad("a last_activity is not an instant"))?;
            let jurisdiction = match &it.jurisdiction {
                Some(j) => Some(
                    arrears_domain::Jurisdiction::parse("jurisdiction", j)
                        .map_err(|_| bad("a jurisdiction is not one"))?,
                ),
                None => None,
            };
            let (rule, end) = retention_end(packs, jurisdiction.as_ref(), record_at, last);
            if at < end {
                return Err(format!(
                    "entry {} (seq {}) was redacted by seq {} at {}, before its retention ended: {} kept it until {end}",
                    it.seq,
                    it.seq,
                    r.seq,
                    r.at,
                    rule.map_or("the pack", |r| r.as_str())
                ));
            }
        }
    }
    Ok(())
}

fn delete(
    log: &Path,
    borrower: Option<&str>,
    before: Option<&str>,
    at: Option<&str>,
    keys: &Path,
) -> Result<(), Failure> {
    let key = load_key(keys).map_err(|f| {
        Failure::bad_input(anyhow!(
            "a deletion is signed with the lender's key, and {:#}; no record was deleted",
            f.error
        ))
    })?;
    let at = match at {
        Some(s) => parse_instant("--at", s)?,
        // The edge may read the clock; the policy and evidence crates never do.
        #[allow(clippy::disallowed_methods)]
        None => jiff::Timestamp::now(),
    };
    let before_at = before.map(|s| parse_instant("--before", s)).transpose()?;
    let _lock = LogLock::exclusive(log)?;
    let (lines, mut entries): (Vec<String>, Vec<Entry>) = read_log_lines(log)?.into_iter().unzip();
    check_before_change(log, &entries, Some(&key)).map_err(|f| {
        Failure::bad_input(anyhow!(
            "{}: refusing to change this log: {:#}; no record was deleted",
            log.display(),
            f.error
        ))
    })?;
    let packs = arrears_policy::PackSet::embedded().context("loading the rule packs")?;
    let stamp = |e: &Entry| arrears_domain::parse::timestamp("at", &e.at).ok();
    // Records of collection; redaction and sign-head records and what was already erased
    // are not.
    let records = || {
        entries
            .iter()
            .filter(|e| !e.is_redacted() && e.kind != REDACTION_KIND && e.kind != SIGN_HEAD_KIND)
    };
    let selected: Vec<&Entry> = records()
        .filter(|e| borrower.is_none_or(|b| e.borrower_id.as_deref() == Some(b)))
        .filter(|e| before_at.is_none_or(|t| stamp(e).is_some_and(|x| x < t)))
        .collect();
    if selected.is_empty() {
        println!("nothing to delete");
        return Ok(());
    }
    // The last collection activity on each debt (US-RECORDS counts from it).
    let mut last_activity: std::collections::HashMap<&str, jiff::Timestamp> = Default::default();
    for e in records() {
        if let (Some(k), Some(t)) = (e.loan_id.as_deref().or(e.borrower_id.as_deref()), stamp(e)) {
            let v = last_activity.entry(k).or_insert(t);
            *v = (*v).max(t);
        }
    }
    // A borrower's jurisdiction, from any entry of theirs that records it (a signed message
    // does not; the plan decision next to it does).
    let mut jurisdiction_of: std::collections::HashMap<&str, &str> = Default::default();
    for e in records() {
        if let (Some(b), Some(j)) = (
            e.borrower_id.as_deref(),
            e.data.get("jurisdiction").and_then(|v| v.as_str()),
        ) {
            jurisdiction_of.insert(b, j);
        }
    }
    let mut items = Vec::with_capacity(selected.len());
    for e in &selected {
        let record_at = stamp(e).ok_or_else(|| {
            Failure::bad_input(anyhow!("entry {}: bad instant {:?}", e.seq, e.at))
        })?;
        let last = e
            .loan_id
            .as_deref()
            .or(e.borrower_id.as_deref())
            .and_then(|k| last_activity.get(k))
            .copied()
            .unwrap_or(record_at);
        let jurisdiction = e
            .data
            .get("jurisdiction")
            .and_then(|v| v.as_str())
            .or_else(|| {
                e.borrower_id
                    .as_deref()
                    .and_then(|b| jurisdiction_of.get(b).copied())
            })
            .and_then(|j| arrears_domain::Jurisdiction::parse("jurisdiction", j).ok());
        // Unknown jurisdiction: every pack must allow it.
        let (rule, end) = retention_end(&packs, jurisdiction.as_ref(), record_at, last);
        if at < end {
            return Err(Failure::bad_input(anyhow!(
                "refused: entry {} ({} of {}) must be kept under {} until {end}; no record was deleted",
                e.seq,
                e.kind,
                e.at,
                rule.map_or("its pack", |r| r.as_str()),
            )));
        }
        items.push(RedactedItem {
            seq: e.seq,
            jurisdiction: jurisdiction.map(|j| j.as_str().to_owned()),
            rule_id: rule.map(|r| r.as_str().to_owned()),
            last_activity: last.to_string(),
            kept_until: end.to_string(),
        });
    }
    let seqs: Vec<u64> = items.iter().map(|i| i.seq).collect();
    let request = RedactionRequest {
        at,
        borrower_id: borrower.map(str::to_owned),
        before: before_at.map(|t| t.to_string()),
        items,
    };
    let seed = salt_seed()?;
    let salt = arrears_evidence::chain::salt(&seed, entries.len() as u64);
    let by = redact_signed(&mut entries, request, Some(&salt), &key).map_err(|e| {
        Failure::bad_input(anyhow!("{}: {e}; no record was deleted", log.display()))
    })?;
    let record = entries
        .last()
        .ok_or_else(|| anyhow!("the redacted log is empty"))?;
    let log_id = entries.first().map(|e| e.hash.clone());
    // The edge may read the clock; the evidence crate never does.
    #[allow(clippy::disallowed_methods)]
    let now = jiff::Timestamp::now();
    let head = SignedHead::sign(
        &key,
        log_id.as_deref(),
        &Head::of(record),
        record.seq + 1,
        now,
    );
    // Nothing is written unless the result verifies under the key, the redactions judged too.
    verify_vouched(&entries, Some(&head), &key.public())
        .map_err(|e| e.to_string())
        .and_then(|_| check_redaction_retention(&entries, &packs))
        .map_err(|e| anyhow!("the redacted log would not verify ({e}); no record was deleted"))?;
    let mut out = String::new();
    let changed: std::collections::HashSet<u64> = seqs.iter().copied().chain([by]).collect();
    for (line, e) in lines.iter().map(Some).chain([None]).zip(&entries) {
        match line {
            // Untouched entries keep their exact bytes.
            Some(line) if !changed.contains(&e.seq) => out.push_str(line),
            _ => out.push_str(&serde_json::to_string(e).context("encoding an entry")?),
        }
        out.push('\n');
    }
    write_atomically(log, out.as_bytes())
        .with_context(|| format!("rewriting {}", log.display()))?;
    write_head(log, &head)?;
    println!(
        "redacted {} entries ({}) whose retention had passed: their content is erased, the audit.redaction entry seq {by} records it, signed with the lender's key, and the chain still verifies",
        seqs.len(),
        seqs.iter()
            .map(|s| format!("seq {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // test code: a failure is the report
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("audit.jsonl");
        std::fs::write(&p, "old\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&p, b"new 1\nnew 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new 1\nnew 2\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(names(d.path()), ["audit.jsonl"]);
        // A file that did not exist yet (the head of a new log).
        let h = d.path().join("audit.jsonl.head");
        write_atomically(&h, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&h).unwrap(), "{}");
    }

    /// A crash before the rename: until then the log is the old one, byte for byte, while
    /// the complete new content sits in a temporary file beside it; a failure there leaves
    /// the old log and no temporary file.
    #[test]
    fn a_crash_before_the_rename_leaves_the_old_log() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("audit.jsonl");
        let old = "line 1\nline 2\n";
        std::fs::write(&p, old).unwrap();
        let new = "stub 1\nline 2\nredaction\n";
        let r = write_atomically_with(&p, new.as_bytes(), || {
            assert_eq!(std::fs::read_to_string(&p).unwrap(), old);
            let tmp: Vec<String> = names(d.path())
                .into_iter()
                .filter(|n| n.starts_with(".audit.jsonl.") && n.ends_with(".tmp"))
                .collect();
            assert_eq!(tmp.len(), 1, "one temporary file in the log's folder");
            assert_eq!(
                std::fs::read_to_string(d.path().join(&tmp[0])).unwrap(),
                new,
                "the new content is complete (and fsynced) before the rename"
            );
            Err(std::io::Error::other("killed"))
        });
        assert_eq!(r.unwrap_err().to_string(), "killed");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), old);
        assert_eq!(names(d.path()), ["audit.jsonl"]);
    }

    #[test]
    fn a_write_into_a_missing_folder_fails_and_touches_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/audit.jsonl");
        assert!(write_atomically(&p, b"x").is_err());
        assert!(names(d.path()).is_empty());
    }
}
