//! The borrower's ways into the portal, one door each, for the server's pages and the CLI:
//!
//! - [`request_sign_in_code`]: the borrower types their phone number or e-mail address at
//!   `/portal`; when it is on record for exactly one borrower, a six-digit code goes to it
//!   through the outbox (at most [`CODES_PER_HOUR`] an hour). The answer the borrower sees
//!   is the same whatever happened, so the page does not tell who is a borrower; the caller
//!   writes the real outcome to the access log.
//! - [`send_portal_link`]: staff issue a one-time link for a borrower; it goes through the
//!   outbox to the borrower's own e-mail (else phone) and is never shown to staff, who see
//!   only where it went, masked.
//!
//! The text of both is written by `arrears_policy::access_message` (fixed, no debt words,
//! the borrower's own target only), and checked again by the dispatcher at send time.
//! Randomness and the clock come from the caller.

use arrears_policy::{
    AccessRefusal, AccessSecret, BorrowerFacts, Channel, Language, Target, access_message,
};
use arrears_store::{NewOutboxMessage, NewSignInCode, SignInIssued, Store, StoreError};
use jiff::{SignedDuration, Timestamp};

/// The most sign-in codes one borrower can ask for in an hour.
pub const CODES_PER_HOUR: u32 = 3;
/// How many tries one sign-in code allows.
pub const CODE_ATTEMPTS: i64 = 5;
/// How long a sign-in code lives.
pub const CODE_VALID: SignedDuration = SignedDuration::from_mins(arrears_policy::CODE_MINUTES);

/// Why a way in could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no borrower {0:?} is stored")]
    UnknownBorrower(String),
    #[error("the borrower has no phone number or e-mail address of their own on record")]
    NoOwnTarget,
    #[error("{0}")]
    Refused(#[from] AccessRefusal),
}

/// What became of a request for a sign-in code (for the access log; the borrower is shown
/// the same answer in every case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInRequest {
    /// A code went to this borrower's target by this channel (outbox row id).
    Queued {
        borrower_id: String,
        channel: Channel,
        outbox_id: i64,
    },
    /// What was typed is neither a phone number nor an e-mail address.
    NotATarget,
    /// No borrower has it on record, or more than one does (the code could reach the wrong
    /// person).
    NotOnRecord,
    /// The borrower already asked for [`CODES_PER_HOUR`] codes in the past hour.
    TooMany { borrower_id: String },
    /// The rules of the way in refused (a deceased borrower, an attorney's address).
    Refused {
        borrower_id: String,
        reason: AccessRefusal,
    },
}

/// Where a portal link went, masked for the staff page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSent {
    pub channel: Channel,
    /// `•••• 8000` or `a•••@example.com`.
    pub masked_target: String,
    pub outbox_id: i64,
}

/// The forms of what a borrower types that could be a target on record: an e-mail address
/// as typed; a phone number with spaces, dashes, dots and brackets removed, `00` read as
/// `+`, and a national number without its country code tried as CN (11 digits from 1), US
/// (10 digits) and GB (0 and 10 digits).
pub fn target_candidates(typed: &str) -> Vec<Target> {
    let typed = typed.trim();
    if typed.contains('@') {
        return Target::email(typed).into_iter().collect();
    }
    let plus = typed.starts_with('+') || typed.starts_with("00");
    let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
    let only_phone_chars = typed
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()+".contains(c));
    if !only_phone_chars || digits.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    if plus {
        let d = if typed.starts_with("00") {
            digits.get(2..).unwrap_or("")
        } else {
            &digits
        };
        out.extend(Target::phone(&format!("+{d}")));
    } else {
        let n = digits.len();
        if n == 11 && digits.starts_with('1') {
            out.extend(Target::phone(&format!("+86{digits}")));
        }
        if n == 10 {
            out.extend(Target::phone(&format!("+1{digits}")));
        }
        if n == 11 && digits.starts_with('0') {
            out.extend(Target::phone(&format!("+44{}", &digits[1..])));
        }
    }
    out
}

/// `•••• 8000` for a phone number, `a•••@example.com` for an e-mail address.
pub fn mask(target: &Target) -> String {
    match target {
        Target::Phone(p) => {
            let tail: String = p
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("•••• {tail}")
        }
        Target::Email(e) => match e.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            None => "•••".to_owned(),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn outbox_message(
    facts: &BorrowerFacts,
    msg: &arrears_policy::AccessMessage,
    secret: &AccessSecret,
    language: Language,
    lender: &str,
    key: String,
    now: Timestamp,
    expires_at: Timestamp,
) -> NewOutboxMessage {
    NewOutboxMessage {
        idempotency_key: key,
        borrower_id: facts.borrower_id.as_str().to_owned(),
        loan_id: None,
        channel: msg.channel().code().to_owned(),
        party: "borrower".to_owned(),
        target: Some(msg.target().as_str().to_owned()),
        purpose: secret.purpose().to_owned(),
        agency_id: None,
        language: language.tag().to_owned(),
        lender_name: lender.trim().to_owned(),
        verification_code: secret.as_str().to_owned(),
        subject: Some(msg.subject().to_owned()),
        body: msg.text().to_owned(),
        decided_at: now,
        jurisdiction: facts.jurisdiction.as_str().to_owned(),
        // No pack judged it: a way in is not a collection contact (module docs).
        pack_version: "access".to_owned(),
        policy: None,
        enqueued_at: now,
        not_before: now,
        expires_at: Some(expires_at),
    }
}

/// The one borrower whose phone number or e-mail address is what they typed (none when no
/// borrower or more than one has it), with the target it matched.
pub async fn borrower_of(
    store: &Store,
    typed: &str,
) -> Result<Option<(String, Target)>, AccessError> {
    for t in target_candidates(typed) {
        let ids = store.borrowers_with_target(t.as_str()).await?;
        match ids.as_slice() {
            [] => continue,
            [one] => return Ok(Some((one.clone(), t))),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// What a sign-in with a code came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The code was right: the session is stored for this borrower.
    SignedIn { borrower_id: String },
    /// The code was wrong (a try used up) or there is no live code for them.
    Refused {
        borrower_id: String,
        tries_left: i64,
    },
    /// What was typed is no one borrower's.
    NotOnRecord,
}

/// A borrower signs in with what they typed and the code they received; on success the
/// borrower `session` is stored (`session.created_at` is now).
pub async fn sign_in(
    store: &Store,
    typed: &str,
    code: &str,
    session: &arrears_store::NewSession<'_>,
) -> Result<SignIn, AccessError> {
    let Some((borrower_id, _)) = borrower_of(store, typed).await? else {
        return Ok(SignIn::NotOnRecord);
    };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(SignIn::Refused {
            borrower_id,
            tries_left: CODE_ATTEMPTS,
        });
    }
    Ok(
        match store
            .redeem_sign_in_code(&borrower_id, code, session, CODE_ATTEMPTS)
            .await?
        {
            arrears_store::SignInRedeemed::SignedIn => SignIn::SignedIn { borrower_id },
            arrears_store::SignInRedeemed::Wrong { tries_left } => SignIn::Refused {
                borrower_id,
                tries_left,
            },
            arrears_store::SignInRedeemed::NoLiveCode => SignIn::Refused {
                borrower_id,
                tries_left: 0,
            },
        },
    )
}

/// A borrower asks for a sign-in code with what they typed; `code` (six digits) and `salt`
/// (64 hex digits) are the caller's fresh randomness, `lender` the name the message gives.
pub async fn request_sign_in_code(
    store: &Store,
    typed: &str,
    code: &str,
    salt: &str,
    lender: &str,
    now: Timestamp,
) -> Result<SignInRequest, AccessError> {
    if target_candidates(typed).is_empty() {
        return Ok(SignInRequest::NotATarget);
    }
    let Some((borrower_id, target)) = borrower_of(store, typed).await? else {
        return Ok(SignInRequest::NotOnRecord);
    };
    let Some(bc) = store.borrower_contacts(&borrower_id).await? else {
        return Ok(SignInRequest::NotOnRecord);
    };
    let facts = crate::from_store(&bc).facts;
    let channel = match target {
        Target::Phone(_) => Channel::Sms,
        Target::Email(_) => Channel::Email,
    };
    let language =
        Language::of_borrower(bc.borrower.language.as_deref(), &bc.borrower.jurisdiction);
    let secret = AccessSecret::Code(code.to_owned());
    let msg = match access_message(&facts, channel, &target, &secret, language, lender) {
        Ok(m) => m,
        Err(reason) => {
            return Ok(SignInRequest::Refused {
                borrower_id,
                reason,
            });
        }
    };
    let expires_at = now.saturating_add(CODE_VALID).unwrap_or(now);
    let key = format!("portal-sign-in:{}", salt.get(..32).unwrap_or(salt));
    let m = outbox_message(
        &facts, &msg, &secret, language, lender, key, now, expires_at,
    );
    let new = NewSignInCode {
        borrower_id: &borrower_id,
        channel: channel.code(),
        salt,
        code,
        created_at: now,
        expires_at,
    };
    Ok(
        match store.issue_sign_in_code(&new, &m, CODES_PER_HOUR).await? {
            SignInIssued::Queued(outbox_id) => SignInRequest::Queued {
                borrower_id,
                channel,
                outbox_id,
            },
            SignInIssued::TooMany => SignInRequest::TooMany { borrower_id },
        },
    )
}

/// Staff (`issued_by`, a user or token as the event log names them) send a one-time portal
/// link for `borrower_id`: the code (64 hex digits) and its SHA-256 are the caller's; the
/// link under `base_url` goes to the borrower's own e-mail, else phone, valid for `valid`.
#[allow(clippy::too_many_arguments)]
pub async fn send_portal_link(
    store: &Store,
    borrower_id: &str,
    base_url: &str,
    code: &str,
    code_sha256: &str,
    issued_by: &str,
    lender: &str,
    valid: SignedDuration,
    now: Timestamp,
) -> Result<LinkSent, AccessError> {
    let Some(bc) = store.borrower_contacts(borrower_id).await? else {
        return Err(AccessError::UnknownBorrower(borrower_id.to_owned()));
    };
    let facts = crate::from_store(&bc).facts;
    let own = |t: &Target| facts.own_targets.contains(t) && !facts.attorney_targets.contains(t);
    let email = bc
        .borrower
        .email
        .as_deref()
        .and_then(|e| Target::email(e).ok())
        .filter(own);
    let phone = bc
        .borrower
        .phone
        .as_deref()
        .and_then(|p| Target::phone(p).ok())
        .filter(own);
    let (channel, target) = match (email, phone) {
        (Some(e), _) => (Channel::Email, e),
        (None, Some(p)) => (Channel::Sms, p),
        (None, None) => return Err(AccessError::NoOwnTarget),
    };
    let language =
        Language::of_borrower(bc.borrower.language.as_deref(), &bc.borrower.jurisdiction);
    let link = format!(
        "{}/portal/enter?code={code}",
        base_url.trim_end_matches('/')
    );
    let secret = AccessSecret::Link(link);
    let msg = access_message(&facts, channel, &target, &secret, language, lender)?;
    let expires_at = now.saturating_add(valid).unwrap_or(now);
    store
        .create_portal_code(code_sha256, borrower_id, issued_by, now, expires_at)
        .await
        .map_err(|e| match e {
            arrears_store::ServiceError::Store(s) => AccessError::Store(s),
            _ => AccessError::UnknownBorrower(borrower_id.to_owned()),
        })?;
    let key = format!(
        "portal-link:{}",
        code_sha256.get(..32).unwrap_or(code_sha256)
    );
    let m = outbox_message(
        &facts, &msg, &secret, language, lender, key, now, expires_at,
    );
    let outbox_id = store.enqueue(&m).await?.outbox_id();
    Ok(LinkSent {
        channel,
        masked_target: mask(&target),
        outbox_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(ts: Vec<Target>) -> Vec<String> {
        ts.iter().map(|t| t.as_str().to_owned()).collect()
    }

    #[test]
    fn what_a_borrower_types_becomes_targets() {
        assert_eq!(strs(target_candidates("138 0013 8000")), ["+8613800138000"]);
        assert_eq!(
            strs(target_candidates("+86 138-0013-8000")),
            ["+8613800138000"]
        );
        assert_eq!(
            strs(target_candidates("0086 13800138000")),
            ["+8613800138000"]
        );
        assert_eq!(strs(target_candidates("(415) 555-0100")), ["+14155550100"]);
        assert_eq!(strs(target_candidates("07700 900123")), ["+447700900123"]);
        assert_eq!(
            strs(target_candidates(" Ann@Example.com ")),
            ["ann@example.com"]
        );
        assert!(target_candidates("").is_empty());
        assert!(target_candidates("12ab").is_empty());
        assert!(target_candidates("123").is_empty());
        assert!(target_candidates("'; DROP TABLE borrowers; --").is_empty());
    }

    #[test]
    fn targets_are_masked() {
        assert_eq!(mask(&Target::phone("+8613800138000").unwrap()), "•••• 8000");
        assert_eq!(
            mask(&Target::email("ann@example.com").unwrap()),
            "a•••@example.com"
        );
    }
}
