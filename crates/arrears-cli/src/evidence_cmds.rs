//! Evidence at the edge: the lender's key pair, issuing signed messages into the audit log,
//! verifying a message by its code, and verifying the audit log's chain.
//!
//! Files: `DIR/lender.key` (the 32-byte secret as hex, mode 0600), `DIR/lender.pub` (the
//! public key as hex, to publish), the audit log as JSON lines (one `Entry` per line) and
//! `LOG.head` with the last entry's seq and hash, rewritten after each append, so removing
//! entries from the end is detected too.

use crate::Failure;
use anyhow::{Context, anyhow};
use arrears_evidence::chain::{Draft, Entry, Head, append, verify};
use arrears_evidence::signing::{
    LenderKey, MessageDraft, SignedMessage, normalize_code, verify_message,
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
    /// Check the whole chain; reports the first entry altered, removed or reordered.
    Verify {
        #[arg(long, default_value = "audit.jsonl")]
        log: PathBuf,
    },
}

fn head_path(log: &Path) -> PathBuf {
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

fn load_key(dir: &Path) -> Result<LenderKey, Failure> {
    let path = dir.join("lender.key");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
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

fn read_log(log: &Path) -> Result<Vec<Entry>, Failure> {
    if !log.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Failure::bad_input(anyhow!(
                    "{} line {}: not an audit entry: {e}",
                    log.display(),
                    i + 1
                ))
            })
        })
        .collect()
}

fn read_head(log: &Path) -> Result<Option<Head>, Failure> {
    let p = head_path(log);
    if !p.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Failure::bad_input(anyhow!("{}: {e}", p.display())))
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
    let entries = read_log(&a.log)?;
    verify(&entries, read_head(&a.log)?.as_ref()).map_err(|e| {
        anyhow!(
            "{}: refusing to append to a broken log: {e}",
            a.log.display()
        )
    })?;
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
    let entry = append(
        entries.last(),
        Draft {
            at,
            kind: "message".into(),
            borrower_id: Some(a.borrower.clone()),
            loan_id: a.loan.clone(),
            data: serde_json::to_value(&msg).context("encoding the message")?,
        },
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
    let head = Head {
        seq: entry.seq,
        hash: entry.hash.clone(),
    };
    std::fs::write(
        head_path(&a.log),
        serde_json::to_string(&head).context("encoding the head")?,
    )?;
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
    let entries = read_log(&a.log)?;
    let found = entries
        .iter()
        .filter(|e| e.kind == "message")
        .find_map(|e| {
            let m: SignedMessage = serde_json::from_value(e.data.clone()).ok()?;
            (m.code == code).then_some(m)
        });
    let Some(m) = found else {
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
    let AuditCommand::Verify { log } = &a.command;
    let entries = read_log(log)?;
    match verify(&entries, read_head(log)?.as_ref()) {
        Ok(()) => {
            println!("ok: {} entries, chain intact", entries.len());
            Ok(())
        }
        Err(e) => {
            println!("TAMPERED: {e}");
            Err(Failure {
                code: 1,
                error: anyhow!("{}: {e}", log.display()),
            })
        }
    }
}
