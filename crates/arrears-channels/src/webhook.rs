//! SMS and push through the lender's gateway: an HTTP POST of a JSON body, with the
//! `Idempotency-Key` header and `X-Arrears-Signature: sha256=HEX`, the HMAC-SHA256 of the
//! exact body bytes under the shared secret. The body is the same bytes on every attempt.
//! Plain `http://` (hyper's client): for a gateway on loopback or behind a TLS sidecar.

use crate::{Channel, Outgoing, SendError, SendFuture, text_of};
use arrears_policy::PermittedContact;
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
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
    /// `http://host:port/path`.
    pub url: String,
    /// The HMAC key shared with the gateway.
    pub secret: Vec<u8>,
    /// For the whole request, connection included.
    pub timeout: Duration,
}

/// SMS and push through one gateway URL.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    secret: Vec<u8>,
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
    pub fn new(cfg: &WebhookConfig) -> Result<WebhookChannel, SendError> {
        let url: hyper::Uri = cfg
            .url
            .parse()
            .map_err(|e| SendError::Permanent(format!("webhook URL {:?}: {e}", cfg.url)))?;
        if url.scheme_str() != Some("http") {
            return Err(SendError::Permanent(format!(
                "webhook URL {:?}: only http:// is supported (put a TLS proxy in front)",
                cfg.url
            )));
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(cfg.timeout));
        let client = Client::builder(TokioExecutor::new()).build(conn);
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
        let sig = signature(&self.secret, &body);
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
                .map_err(|e| SendError::Retryable(format!("webhook: {e}")))?;
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

    #[test]
    fn only_http_urls_are_accepted() {
        let cfg = |url: &str| WebhookConfig {
            url: url.into(),
            secret: b"k".to_vec(),
            timeout: Duration::from_secs(1),
        };
        assert!(WebhookChannel::new(&cfg("https://gw.example/sms")).is_err());
        assert!(WebhookChannel::new(&cfg("not a url")).is_err());
    }
}
