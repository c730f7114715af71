//! E-mail through SMTP with lettre on tokio, over TLS (rustls): STARTTLS that the server
//! must offer (never a silent fall back to plaintext), or implicit TLS (SMTPS) from the
//! first byte, with AUTH PLAIN/LOGIN when a user is configured. Plaintext only to a
//! loopback host (a local relay on this machine). The certificate is checked against the
//! webpki roots and the configured extra roots, for the configured host name.

use crate::transport::{ConfigError, Secret, error_chain, is_loopback_host, pem_certificates};
use crate::{Channel, Outgoing, SendError, SendFuture, text_of};
use arrears_policy::{PermittedContact, Target};
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, header::Header};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plaintext, then `STARTTLS` before anything else (the submission port, 587). A
    /// server that does not offer STARTTLS is not sent to.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS: only to a loopback host, a relay on this machine.
    None,
}

/// SMTP AUTH: the user and the password (from the environment or a file, never a flag).
#[derive(Debug, Clone)]
pub struct SmtpAuth {
    pub user: String,
    pub password: Secret,
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The server's name: connected to, and the name its certificate must carry.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub auth: Option<SmtpAuth>,
    /// PEM certificates trusted besides the webpki roots (a lender's internal CA).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// The sender's address; its display name is the lender's name of each message.
    pub from: String,
    /// For one whole send: connection, TLS, AUTH and the mail transaction.
    pub timeout: Duration,
}

/// E-mail through one SMTP server, one connection per message.
#[derive(Clone)]
pub struct SmtpChannel {
    host: String,
    port: u16,
    /// For implicit TLS (`Some` when `wrapper`) or STARTTLS.
    tls: Option<TlsParameters>,
    wrapper: bool,
    credentials: Option<Credentials>,
    timeout: Duration,
    from: lettre::Address,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "tls",
                &match (&self.tls, self.wrapper) {
                    (None, _) => "none",
                    (Some(_), true) => "implicit",
                    (Some(_), false) => "starttls",
                },
            )
            .field("auth", &self.credentials.is_some())
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
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
    /// Checks the configuration: plaintext only to a loopback host, a user with a non-empty
    /// password, readable extra roots, a sender address. Connects to nothing.
    pub fn new(cfg: &SmtpConfig) -> Result<SmtpChannel, ConfigError> {
        let from: lettre::Address = cfg
            .from
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("sender {:?}: {e}", cfg.from)))?;
        if cfg.host.is_empty() {
            return Err(ConfigError::Invalid("the SMTP host is empty".into()));
        }
        // lettre connects to (host, port): an IPv6 literal goes without its brackets.
        let host = cfg
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&cfg.host)
            .to_owned();
        let tls = match cfg.tls {
            SmtpTls::None => {
                if !is_loopback_host(&host) {
                    return Err(ConfigError::Plaintext {
                        what: "SMTP",
                        host: cfg.host.clone(),
                        fix: "use STARTTLS (port 587) or implicit TLS (port 465)",
                    });
                }
                if cfg.extra_roots_pem.is_some() {
                    return Err(ConfigError::Invalid(
                        "SMTP: extra root certificates are given but TLS is off".into(),
                    ));
                }
                None
            }
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let mut b = TlsParameters::builder(host.clone());
                if let Some(pem) = &cfg.extra_roots_pem {
                    for der in pem_certificates("SMTP", pem)? {
                        let c = Certificate::from_der(der.to_vec()).map_err(|e| {
                            ConfigError::Roots {
                                what: "SMTP",
                                detail: e.to_string(),
                            }
                        })?;
                        b = b.add_root_certificate(c);
                    }
                }
                Some(
                    b.build_rustls()
                        .map_err(|e| ConfigError::Invalid(format!("SMTP TLS: {e}")))?,
                )
            }
        };
        let credentials = match &cfg.auth {
            None => None,
            Some(a) => {
                if a.user.is_empty() {
                    return Err(ConfigError::Invalid("SMTP AUTH: the user is empty".into()));
                }
                if a.password.is_empty() {
                    return Err(ConfigError::Invalid(
                        "SMTP AUTH: the password is empty".into(),
                    ));
                }
                let password = String::from_utf8(a.password.expose().to_vec()).map_err(|_| {
                    ConfigError::Invalid("SMTP AUTH: the password is not UTF-8".into())
                })?;
                Some(Credentials::new(a.user.clone(), password))
            }
        };
        Ok(SmtpChannel {
            host,
            port: cfg.port,
            tls,
            wrapper: cfg.tls == SmtpTls::Implicit,
            credentials,
            timeout: cfg.timeout,
            from,
        })
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
        self.build_to(contact.target(), text_of(contact)?, m, key)
    }

    /// The e-mail of `text` to `target` (which must be an e-mail address).
    fn build_to(
        &self,
        target: Option<&Target>,
        text: &str,
        m: &Outgoing,
        key: &str,
    ) -> Result<Message, SendError> {
        let to = match target {
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
        let mut b = Message::builder()
            .message_id(Some(self.message_id(m.outbox_id)))
            .from(Mailbox::new(Some(m.lender_name.clone()), self.from.clone()))
            .to(Mailbox::new(None, to))
            .subject(subject)
            .header(IdempotencyKeyHeader(key.to_owned()));
        // A portal sign-in message is not a signed collection message: it has no code.
        if !m.verification_code.is_empty() {
            b = b.header(VerificationCodeHeader(m.verification_code.clone()));
        }
        b.header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .map_err(|e| SendError::Permanent(format!("building the e-mail: {e}")))
    }
}

/// A failure before the mail transaction (connection, TLS, STARTTLS, AUTH) is the
/// server's or the configuration's, never the message's: retryable, so a fixed
/// configuration sends the row. `phase` names the step.
fn setup_failed(phase: &str, e: &lettre::transport::smtp::Error) -> SendError {
    SendError::Retryable(format!("SMTP {phase}: {}", error_chain(e)))
}

/// In the mail transaction: a 5xx reply or a message the server cannot carry is permanent;
/// 4xx replies, timeouts and connection failures are retryable.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() || e.is_client() {
        SendError::Permanent(format!("SMTP: {}", error_chain(e)))
    } else {
        SendError::Retryable(format!("SMTP: {}", error_chain(e)))
    }
}

impl SmtpChannel {
    /// One connection: connect (TLS first when implicit), STARTTLS, AUTH, the message, QUIT.
    async fn deliver(&self, email: &Message) -> Result<(), SendError> {
        let hello = ClientId::default();
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &hello,
            if self.wrapper { self.tls.clone() } else { None },
            None,
        )
        .await
        .map_err(|e| {
            setup_failed(
                if self.wrapper {
                    "connection (implicit TLS)"
                } else {
                    "connection"
                },
                &e,
            )
        })?;
        if !self.wrapper
            && let Some(tls) = &self.tls
            && let Err(e) = conn.starttls(tls.clone(), &hello).await
        {
            conn.abort().await;
            return Err(setup_failed("STARTTLS", &e));
        }
        if let Some(c) = &self.credentials
            && let Err(e) = conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await
        {
            conn.abort().await;
            return Err(setup_failed("AUTH", &e));
        }
        let sent = conn
            .send(email.envelope(), &email.formatted())
            .await
            .map(|_| ())
            .map_err(|e| classify(&e));
        match &sent {
            // The message is accepted; a failed QUIT changes nothing.
            Ok(()) => {
                let _ = conn.quit().await;
            }
            Err(_) => conn.abort().await,
        }
        sent
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
            tokio::time::timeout(self.timeout, self.deliver(&email))
                .await
                .map_err(|_| {
                    SendError::Retryable(format!("SMTP: no answer in {:?}", self.timeout))
                })?
        })
    }

    fn send_access<'a>(
        &'a self,
        access: &'a arrears_policy::AccessMessage,
        message: &'a Outgoing,
        idempotency_key: &'a str,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            if !self.carries(access.channel()) {
                return Err(SendError::Permanent(format!(
                    "SMTP does not carry {}",
                    access.channel()
                )));
            }
            let email = self.build_to(
                Some(access.target()),
                access.text(),
                message,
                idempotency_key,
            )?;
            tokio::time::timeout(self.timeout, self.deliver(&email))
                .await
                .map_err(|_| {
                    SendError::Retryable(format!("SMTP: no answer in {:?}", self.timeout))
                })?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(host: &str, tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 25,
            tls,
            auth: None,
            extra_roots_pem: None,
            from: "collections@lender.example".into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn plaintext_only_to_a_loopback_host() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            assert!(SmtpChannel::new(&cfg(h, SmtpTls::None)).is_ok(), "{h}");
        }
        for h in ["mail.example.com", "10.0.0.1", "192.168.0.10", "0.0.0.0"] {
            let e = SmtpChannel::new(&cfg(h, SmtpTls::None)).unwrap_err();
            assert!(matches!(e, ConfigError::Plaintext { .. }), "{h}: {e}");
            assert!(e.to_string().contains("STARTTLS"), "{e}");
            // With TLS any host is fine (nothing connects here).
            assert!(SmtpChannel::new(&cfg(h, SmtpTls::StartTls)).is_ok(), "{h}");
            assert!(SmtpChannel::new(&cfg(h, SmtpTls::Implicit)).is_ok(), "{h}");
        }
    }

    #[test]
    fn auth_needs_a_user_and_a_password_and_does_not_print_it() {
        let mut c = cfg("mail.example.com", SmtpTls::StartTls);
        c.auth = Some(SmtpAuth {
            user: "mailer".into(),
            password: Secret::new(""),
        });
        assert!(SmtpChannel::new(&c).is_err());
        c.auth = Some(SmtpAuth {
            user: String::new(),
            password: Secret::new("pw-pw-pw"),
        });
        assert!(SmtpChannel::new(&c).is_err());
        c.auth = Some(SmtpAuth {
            user: "mailer".into(),
            password: Secret::new("pw-pw-pw"),
        });
        assert!(SmtpChannel::new(&c).is_ok());
        assert!(!format!("{c:?}").contains("pw-pw-pw"), "{c:?}");
    }

    #[test]
    fn extra_roots_must_read_and_need_tls() {
        let mut c = cfg("mail.example.com", SmtpTls::Implicit);
        c.extra_roots_pem = Some(b"not a certificate".to_vec());
        assert!(matches!(
            SmtpChannel::new(&c),
            Err(ConfigError::Roots { .. })
        ));
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        c.extra_roots_pem = Some(cert.cert.pem().into_bytes());
        assert!(SmtpChannel::new(&c).is_ok());
        let mut plain = cfg("127.0.0.1", SmtpTls::None);
        plain.extra_roots_pem = c.extra_roots_pem.clone();
        assert!(SmtpChannel::new(&plain).is_err());
    }
}
