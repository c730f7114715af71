//! SMS and push through the lender's gateway: an HTTPS POST of a JSON body, with the
//! `Idempotency-Key` header and `X-Arrears-Signature: sha256=HEX`, the HMAC-SHA256 of the
//! exact body bytes under the shared secret (at least [`MIN_SECRET_LEN`] bytes). The body is
//! the same bytes on every attempt. `https://` with rustls (webpki roots and configured
//! extra roots); plain `http://` only to a loopback host (a local relay or a test).

use crate::transport::{
    ConfigError, MIN_SECRET_LEN, Secret, client_config, error_chain, is_loopback_host,
};
use crate::{Channel, Outgoing, SendError, SendFuture, text_of};
use arrears_policy::PermittedContact;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;
use std::time::Duration;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Arrears-Signature";

/// The gateway.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `https://host[:port]/path`, or `http://` to a loopback host.
    pub url: String,
    /// The HMAC key shared with the gateway: at least [`MIN_SECRET_LEN`] bytes.
    pub secret: Secret,
    /// PEM certificates trusted besides the webpki roots (a lender's internal CA).
    pub extra_roots_pem: Option<Vec<u8>>,
    /// For the whole request, connection and TLS included.
    pub timeout: Duration,
}

/// SMS and push through one gateway URL.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: hyper::Uri,
    secret: Secret,
    timeout: Duration,
}

/// `sha256=` and the lower-case hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
    )
}

impl WebhookChannel {
    /// Checks the configuration: an `https://` URL or an `http://` one to a loopback host,
    /// a secret of at least [`MIN_SECRET_LEN`] bytes, readable extra roots. Connects to
    /// nothing.
    pub fn new(cfg: &WebhookConfig) -> Result<WebhookChannel, ConfigError> {
        let url: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("webhook URL {:?}: {e}", cfg.url)))?;
        let host = url.host().unwrap_or_default();
        if host.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "webhook URL {:?}: no host",
                cfg.url
            )));
        }
        let https = match url.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback_host(host) => {
                if cfg.extra_roots_pem.is_some() {
                    return Err(ConfigError::Invalid(
                        "webhook: extra root certificates are given but the URL is http://".into(),
                    ));
                }
                false
            }
            Some("http") => {
                return Err(ConfigError::Plaintext {
                    what: "webhook",
                    host: host.to_owned(),
                    fix: "use an https:// URL",
                });
            }
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "webhook URL {:?}: https:// (or http:// to a loopback host) is required",
                    cfg.url
                )));
            }
        };
        if cfg.secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::WeakSecret {
                len: cfg.secret.len(),
            });
        }
        let tls = client_config("webhook", cfg.extra_roots_pem.as_deref())?;
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(cfg.timeout));
        // The TLS layer above takes `https://`; this one only makes the TCP connection.
        conn.enforce_http(false);
        let b = HttpsConnectorBuilder::new().with_tls_config(tls);
        // An https:// channel never speaks plaintext, whatever URL reaches the connector.
        let b = if https {
            b.https_only()
        } else {
            b.https_or_http()
        };
        let connector = b.enable_http1().wrap_connector(conn);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(WebhookChannel {
            client,
            url,
            secret: cfg.secret.clone(),
            timeout: cfg.timeout,
        })
    }

    /// The JSON body for a contact: the same bytes for every attempt.
    pub fn body(contact: &PermittedContact, m: &Outgoing, key: &str) -> Result<Vec<u8>, SendError> {
        let v = serde_json::json!({
            "idempotency_key": key,
            "outbox_id": m.outbox_id,
            "channel": contact.channel().code(),
            "borrower_id": contact.borrower_id().as_str(),
            "loan_id": contact.loan_id().map(|l| l.as_str()),
            "to": contact.target().map(|t| t.as_str()),
            "text": text_of(contact)?,
            "language": m.language,
            "lender": m.lender_name,
            "verification_code": m.verification_code,
        });
        serde_json::to_vec(&v).map_err(|e| SendError::Permanent(format!("encoding: {e}")))
    }

    async fn post(&self, body: Vec<u8>, key: &str) -> Result<(), SendError> {
        let sig = signature(self.secret.expose(), &body);
        let req = hyper::Request::post(self.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .header(SIGNATURE_HEADER, sig)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Permanent(format!("building the request: {e}")))?;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| SendError::Retryable(format!("webhook: {}", error_chain(&e))))?;
            let status = resp.status();
            let answer = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let said = String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned();
            classify(status.as_u16(), &said)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                SendError::Retryable(format!("webhook: no answer in {:?}", self.timeout))
            })?
    }
}

/// 2xx is success; 5xx, 408 and 429 are retryable; any other status is permanent.
fn classify(status: u16, said: &str) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError::Retryable(format!(
            "webhook answered {status}: {said}"
        ))),
        _ => Err(SendError::Permanent(format!(
            "webhook answered {status}: {said}"
        ))),
    }
}

impl Channel for WebhookChannel {
    fn carries(&self, kind: arrears_policy::Channel) -> bool {
        matches!(
            kind,
            arrears_policy::Channel::Sms | arrears_policy::Channel::Push
        )
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
                    "the webhook does not carry {}",
                    contact.channel()
                )));
            }
            let body = WebhookChannel::body(contact, message, idempotency_key)?;
            self.post(body, idempotency_key).await
        })
    }

    fn send_access<'a>(
        &'a self,
        access: &'a arrears_policy::AccessMessage,
        message: &'a Outgoing,
        idempotency_key: &'a str,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            if access.channel() != arrears_policy::Channel::Sms {
                return Err(SendError::Permanent(format!(
                    "the webhook does not carry a sign-in message by {}",
                    access.channel()
                )));
            }
            let v = serde_json::json!({
                "idempotency_key": idempotency_key,
                "outbox_id": message.outbox_id,
                "channel": access.channel().code(),
                "kind": "portal_sign_in",
                "borrower_id": access.borrower_id().as_str(),
                "loan_id": null,
                "to": access.target().as_str(),
                "text": access.text(),
                "language": message.language,
                "lender": message.lender_name,
                "verification_code": "",
            });
            let body = serde_json::to_vec(&v)
                .map_err(|e| SendError::Permanent(format!("encoding: {e}")))?;
            self.post(body, idempotency_key).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert!(classify(200, "").is_ok());
        assert!(classify(204, "").is_ok());
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(classify(s, "").unwrap_err().is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 301] {
            assert!(!classify(s, "").unwrap_err().is_retryable(), "{s}");
        }
    }

    #[test]
    fn signature_is_rfc4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn cfg(url: &str, secret: &[u8]) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            secret: Secret::new(secret),
            extra_roots_pem: None,
            timeout: Duration::from_secs(1),
        }
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        for ok in [
            "https://gw.example/sms",
            "https://10.1.2.3:8443/sms",
            "http://127.0.0.1:8080/sms",
            "http://[::1]:8080/sms",
            "http://localhost/sms",
        ] {
            assert!(WebhookChannel::new(&cfg(ok, KEY)).is_ok(), "{ok}");
        }
        for plain in [
            "http://gw.example/sms",
            "http://10.0.0.1/sms",
            "http://localhost.example/sms",
        ] {
            let e = WebhookChannel::new(&cfg(plain, KEY)).unwrap_err();
            assert!(matches!(e, ConfigError::Plaintext { .. }), "{plain}: {e}");
            assert!(e.to_string().contains("https://"), "{e}");
        }
        for bad in ["not a url", "ftp://gw.example/x", "/sms"] {
            assert!(WebhookChannel::new(&cfg(bad, KEY)).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_or_short_secret_is_refused() {
        for s in [&b""[..], &b"k"[..], &KEY[..MIN_SECRET_LEN - 1]] {
            let e = WebhookChannel::new(&cfg("https://gw.example/sms", s)).unwrap_err();
            assert_eq!(e, ConfigError::WeakSecret { len: s.len() });
            assert!(e.to_string().contains("at least 32"), "{e}");
        }
        assert!(WebhookChannel::new(&cfg("https://gw.example/sms", KEY)).is_ok());
    }

    #[test]
    fn the_secret_is_not_in_the_debug_output() {
        let ch = WebhookChannel::new(&cfg("https://gw.example/sms", KEY)).unwrap();
        let shown = format!("{ch:?} {:?}", cfg("https://gw.example/sms", KEY));
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }
}
