//! E-mail through SMTP with lettre on tokio. Plain SMTP (no TLS): for a local relay or a
//! TLS-terminating sidecar; the build stays light and downloads nothing.

use crate::{Channel, Outgoing, SendError, SendFuture, text_of};
use arrears_policy::{PermittedContact, Target};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, header::Header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// The sender's address; its display name is the lender's name of each message.
    pub from: String,
    /// For each SMTP command.
    pub timeout: Duration,
}

/// E-mail through one SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::Address,
}

#[derive(Debug, Clone)]
struct IdempotencyKeyHeader(String);

impl Header for IdempotencyKeyHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Idempotency-Key")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(IdempotencyKeyHeader(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Debug, Clone)]
struct VerificationCodeHeader(String);

impl Header for VerificationCodeHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Arrears-Verification-Code")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(VerificationCodeHeader(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

impl SmtpChannel {
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpChannel, crate::SendError> {
        let from: lettre::Address = cfg
            .from
            .parse()
            .map_err(|e| SendError::Permanent(format!("sender {:?}: {e}", cfg.from)))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(cfg.timeout))
            .build();
        Ok(SmtpChannel { transport, from })
    }

    /// `<outbox-ID@DOMAIN>` with the sender's domain: the same on every attempt, so a
    /// mail store that dedupes by Message-ID keeps one copy.
    pub fn message_id(&self, outbox_id: i64) -> String {
        format!("<outbox-{outbox_id}@{}>", self.from.domain())
    }

    fn build(
        &self,
        contact: &PermittedContact,
        m: &Outgoing,
        key: &str,
    ) -> Result<Message, SendError> {
        let to = match contact.target() {
            Some(Target::Email(addr)) => addr,
            _ => {
                return Err(SendError::Permanent(
                    "an e-mail needs an e-mail address".into(),
                ));
            }
        };
        let to: lettre::Address = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        let subject = m
            .subject
            .clone()
            .unwrap_or_else(|| format!("A message from {}", m.lender_name));
        Message::builder()
            .message_id(Some(self.message_id(m.outbox_id)))
            .from(Mailbox::new(Some(m.lender_name.clone()), self.from.clone()))
            .to(Mailbox::new(None, to))
            .subject(subject)
            .header(IdempotencyKeyHeader(key.to_owned()))
            .header(VerificationCodeHeader(m.verification_code.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(text_of(contact)?.to_owned())
            .map_err(|e| SendError::Permanent(format!("building the e-mail: {e}")))
    }
}

/// SMTP 5xx and client-side errors are permanent; 4xx, timeouts and connection failures
/// are retryable.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() || e.is_client() {
        SendError::Permanent(format!("SMTP: {e}"))
    } else {
        SendError::Retryable(format!("SMTP: {e}"))
    }
}

impl Channel for SmtpChannel {
    fn carries(&self, kind: arrears_policy::Channel) -> bool {
        kind == arrears_policy::Channel::Email
    }

    fn send<'a>(
        &'a self,
        contact: &'a PermittedContact,
        message: &'a Outgoing,
        idempotency_key: &'a str,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            if !self.carries(contact.channel()) {
                return Err(SendError::Permanent(format!(
                    "SMTP does not carry {}",
                    contact.channel()
                )));
            }
            let email = self.build(contact, message, idempotency_key)?;
            self.transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| classify(&e))
        })
    }
}
