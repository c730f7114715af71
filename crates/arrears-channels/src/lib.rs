//! Sending what the compliance engine allowed, and nothing else. A [`Channel`] sends one
//! message for a `&PermittedContact` (which only `arrears_policy::check` can create and no
//! one can clone): the recipient and the text are read from it, never passed beside it, so
//! an unchecked recipient or an unvetted text cannot be sent, by the type. [`SmtpChannel`]
//! sends e-mail through SMTP (lettre, with the `Message-ID` derived from the outbox id) over
//! STARTTLS or implicit TLS with AUTH, and [`WebhookChannel`] posts SMS and push messages
//! as JSON to the lender's gateway over HTTPS (with an `Idempotency-Key` header and an
//! HMAC-SHA256 signature of the body under a secret of at least 32 bytes). Plaintext goes
//! only to a loopback host; a configuration that would send it elsewhere is refused
//! ([`ConfigError`]). Failures are
//! classified as retryable or permanent ([`SendError`]). The [`Dispatcher`] drains the
//! store's outbox: it claims due rows under a lease, checks each again over the store's
//! facts at send time (a dispute or a cease-contact since the plan stops it; a window that is
//! closed defers it), sends it with the same idempotency key on every attempt and marks it
//! sent (recording the contact), retried with exponential backoff, or dead. Delivery is at
//! least once, with the key for the receiver to drop repeats: `docs/channels.md`.

mod dispatch;
mod smtp;
mod transport;
mod webhook;

pub use dispatch::{Backoff, DispatchError, DispatchReport, Dispatcher, enqueue};
pub use smtp::{SmtpAuth, SmtpChannel, SmtpConfig, SmtpTls};
pub use transport::{ConfigError, MIN_SECRET_LEN, Secret, is_loopback_host, pem_certificates};
pub use webhook::{SIGNATURE_HEADER, WebhookChannel, WebhookConfig, signature};

use arrears_policy::PermittedContact;
use std::future::Future;
use std::pin::Pin;

/// What travels with a permitted contact besides its recipient and text (which only the
/// `PermittedContact` carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The outbox row (an e-mail's `Message-ID` is derived from it).
    pub outbox_id: i64,
    pub subject: Option<String>,
    pub lender_name: String,
    pub verification_code: String,
    /// BCP 47 tag of the text's language.
    pub language: String,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: no connection, a timeout, a TLS failure (an untrusted
    /// certificate), a refused SMTP AUTH or a server without STARTTLS, an HTTP 5xx, 408 or
    /// 429, an SMTP 4xx reply.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Will fail again: an HTTP 4xx, an SMTP 5xx reply, a contact this channel cannot carry.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable(_))
    }
}

/// A future returned by [`Channel::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// A way to reach a borrower. `send` delivers `contact.message_text()` to
/// `contact.target()` (or, for push, to the borrower's app), tagged with `idempotency_key`,
/// which is the same on every attempt of one outbox row so that the receiver can drop a
/// repeat. Object-safe, so a dispatcher can hold several.
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// Whether this channel delivers contacts of the engine's channel `kind`.
    fn carries(&self, kind: arrears_policy::Channel) -> bool;

    fn send<'a>(
        &'a self,
        contact: &'a PermittedContact,
        message: &'a Outgoing,
        idempotency_key: &'a str,
    ) -> SendFuture<'a>;

    /// Delivers a way into the portal (a sign-in code or a one-time link) that
    /// `arrears_policy::access_message` wrote for the borrower's own target: `message.text()`
    /// to `message.target()`, with `message.subject()` as an e-mail's subject. A channel that
    /// does not carry them refuses (permanently).
    fn send_access<'a>(
        &'a self,
        message: &'a arrears_policy::AccessMessage,
        outgoing: &'a Outgoing,
        idempotency_key: &'a str,
    ) -> SendFuture<'a> {
        let _ = (message, outgoing, idempotency_key);
        Box::pin(async {
            Err(SendError::Permanent(
                "this channel does not carry portal sign-in messages".into(),
            ))
        })
    }
}

/// The vetted text of a written contact, or a permanent error.
fn text_of(contact: &PermittedContact) -> Result<&str, SendError> {
    contact
        .message_text()
        .ok_or_else(|| SendError::Permanent("the permitted contact carries no text".into()))
}
