//! What the SMTP and webhook channels share about the way out: TLS with rustls (the ring
//! provider, the webpki-roots trust store and optional extra roots from a PEM file), the
//! loopback rule for plaintext, secrets that do not print, and the refusals of a
//! configuration (`docs/channels.md`, "Transport").

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::net::IpAddr;
use std::sync::Arc;

/// Why a channel's configuration is refused: before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Plaintext to a host that is not this machine.
    #[error(
        "{what}: plaintext to {host:?} is refused: without TLS only a loopback host \
         (127.0.0.0/8, ::1 or localhost, a local relay) may be reached; {fix}"
    )]
    Plaintext {
        what: &'static str,
        host: String,
        fix: &'static str,
    },
    /// A shared secret that is missing or too short to key an HMAC safely.
    #[error(
        "the webhook secret is {len} bytes; at least {MIN_SECRET_LEN} are required \
         (from ARREARS_WEBHOOK_SECRET or --webhook-secret-file; e.g. `openssl rand -hex 32`)"
    )]
    WeakSecret { len: usize },
    /// The extra root certificates do not read.
    #[error("{what}: extra root certificates: {detail}")]
    Roots { what: &'static str, detail: String },
    /// Anything else: a URL, an address, a credential pair.
    #[error("{0}")]
    Invalid(String),
}

/// The shortest webhook secret accepted, in bytes: an HMAC-SHA256 key of 256 bits.
pub const MIN_SECRET_LEN: usize = 32;

/// A password or a shared key: its `Debug` shows its length, never its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Whether `host` is this machine for certain: an IPv4 address in 127.0.0.0/8, `::1`
/// (with or without brackets), or the name `localhost` (RFC 6761 reserves it for the
/// loopback). Any other name is refused, even one that resolves to a loopback address
/// today: what it resolves to can change.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The certificates of a PEM file (one or more `CERTIFICATE` blocks); a file with none is
/// refused, so a wrong path or a key file is not silently an empty addition.
pub fn pem_certificates(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::Roots {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ConfigError::Roots {
            what,
            detail: "no CERTIFICATE block in the PEM file".into(),
        });
    }
    Ok(certs)
}

/// A rustls client configuration: TLS 1.2 and 1.3 with the ring provider, trusting the
/// webpki-roots (Mozilla's) roots and the certificates of `extra_roots_pem`.
pub(crate) fn client_config(
    what: &'static str,
    extra_roots_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_roots_pem {
        for c in pem_certificates(what, pem)? {
            roots.add(c).map_err(|e| ConfigError::Roots {
                what,
                detail: e.to_string(),
            })?;
        }
    }
    // ring, as lettre's `tokio1-rustls-tls` uses: no C toolchain beyond ring's own, the
    // same provider on both channels. rustls 0.23.48 deprecates it for lacking
    // post-quantum key exchange; X25519 and the P-curves remain.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("{what}: TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

/// An error and its causes on one line (hyper and lettre keep the interesting part, such
/// as "invalid peer certificate: UnknownIssuer", in the source chain).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_only_this_machine() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
            "localhost.",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "192.168.1.1",
            "0.0.0.0",
            "::",
            "mail.example.com",
            "localhost.example.com",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn a_secret_does_not_print() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "Secret(15 bytes)");
    }

    #[test]
    fn a_pem_without_certificates_is_refused() {
        assert!(pem_certificates("x", b"").is_err());
        assert!(pem_certificates("x", b"not pem at all").is_err());
        let key = rcgen::KeyPair::generate().unwrap();
        assert!(pem_certificates("x", key.serialize_pem().as_bytes()).is_err());
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let pem = cert.cert.pem();
        assert_eq!(pem_certificates("x", pem.as_bytes()).unwrap().len(), 1);
        assert!(client_config("x", Some(pem.as_bytes())).is_ok());
    }
}
