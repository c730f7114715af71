//! Lender-signed messages and their verification codes.
//!
//! Every outbound message is a `SignedMessage`: who sent it (the lender, or an agency on its
//! behalf), to whom, on which channel, when, its exact text, a verification code, and an
//! ed25519 signature over all of that. The code is derived from the message's identity
//! (lender, borrower, loan, channel, instant, sequence) before the text is rendered, so the
//! text can carry it; the signature then binds code and text together. A borrower who reads
//! the code to the lender's portal, or who has the public key and the message record, can
//! tell whether the lender really issued it.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The lender's signing key. `Debug` never shows the secret.
pub struct LenderKey {
    key: SigningKey,
}

impl std::fmt::Debug for LenderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LenderKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the public key is not a valid ed25519 key")]
    BadPublicKey,
    #[error("the signature is malformed")]
    BadSignature,
    #[error(
        "the signature does not match the message: it was not issued by this lender as written"
    )]
    Forged,
    #[error("the verification code does not belong to this message")]
    CodeMismatch,
}

impl LenderKey {
    /// A key from 32 secret bytes (the edge draws them from the OS's random source).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        LenderKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    pub fn public_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(self.key.verifying_key().as_bytes())
    }

    /// The public half, to check what this key signed.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: self.key.verifying_key(),
        }
    }

    /// An ed25519 signature (hex) over `bytes`, which the caller has domain-separated.
    pub(crate) fn sign_bytes(&self, bytes: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(&self.key.sign(bytes).to_bytes())
    }

    /// Signs a message whose text was rendered with `code_for(&draft_identity)`.
    pub fn sign(&self, d: MessageDraft) -> SignedMessage {
        let code = d.code();
        let mut m = SignedMessage {
            lender: d.lender,
            borrower_id: d.borrower_id,
            loan_id: d.loan_id,
            channel: d.channel,
            issued_at: d.issued_at.to_string(),
            sequence: d.sequence,
            text: d.text,
            code,
            signature: String::new(),
        };
        let sig = self.key.sign(&m.signed_bytes());
        m.signature = data_encoding::HEXLOWER.encode(&sig.to_bytes());
        m
    }
}

/// The lender's public key, as published in `lender.pub` (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// A key from its hex form (surrounding whitespace is ignored).
    pub fn from_hex(s: &str) -> Result<Self, VerifyError> {
        let bytes: [u8; 32] = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.trim().as_bytes())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(VerifyError::BadPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(|key| PublicKey { key })
            .map_err(|_| VerifyError::BadPublicKey)
    }

    pub fn hex(&self) -> String {
        data_encoding::HEXLOWER.encode(self.key.as_bytes())
    }

    /// Whether `signature` (hex) is this key's signature over `bytes`.
    pub(crate) fn check(&self, bytes: &[u8], signature: &str) -> Result<(), VerifyError> {
        let sig: [u8; 64] = data_encoding::HEXLOWER_PERMISSIVE
            .decode(signature.as_bytes())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(VerifyError::BadSignature)?;
        self.key
            .verify_strict(bytes, &Signature::from_bytes(&sig))
            .map_err(|_| VerifyError::Forged)
    }
}

/// A message before signing. `text` must already contain `code()` (see ALL-IDENTITY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDraft {
    pub lender: String,
    pub borrower_id: String,
    pub loan_id: Option<String>,
    pub channel: String,
    pub issued_at: jiff::Timestamp,
    /// Unique per lender (e.g. the audit sequence), so two messages never share a code.
    pub sequence: u64,
    pub text: String,
}

impl MessageDraft {
    /// The verification code: 10 Crockford-style base32 characters (50 bits) of a hash of
    /// the message's identity, shown as `XXXXX-XXXXX`.
    pub fn code(&self) -> String {
        code_of(
            &self.lender,
            &self.borrower_id,
            self.loan_id.as_deref(),
            &self.channel,
            &self.issued_at.to_string(),
            self.sequence,
        )
    }
}

/// Crockford's base 32 (no I, L, O, U), built once: a plan derives a code for every message.
static CODE_ALPHABET: std::sync::LazyLock<
    Result<data_encoding::Encoding, data_encoding::SpecificationError>,
> = std::sync::LazyLock::new(|| {
    let mut s = data_encoding::Specification::new();
    s.symbols.push_str("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    s.encoding()
});

fn code_of(
    lender: &str,
    borrower: &str,
    loan: Option<&str>,
    channel: &str,
    at: &str,
    seq: u64,
) -> String {
    let body = serde_json::json!(["arrears-code-v1", lender, borrower, loan, channel, at, seq]);
    let h = Sha256::digest(body.to_string().as_bytes());
    let enc = match &*CODE_ALPHABET {
        Ok(e) => e.encode(&h[..7]),
        Err(_) => data_encoding::HEXUPPER.encode(&h[..5]),
    };
    let c: String = enc.chars().take(10).collect();
    format!("{}-{}", &c[..5.min(c.len())], &c[5.min(c.len())..])
}

/// Normalises a code as a person types it: case, spaces, dashes, and the letters people
/// confuse with digits (O→0, I/L→1).
pub fn normalize_code(s: &str) -> String {
    let c: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            u => u,
        })
        .collect();
    if c.len() == 10 {
        format!("{}-{}", &c[..5], &c[5..])
    } else {
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    pub lender: String,
    pub borrower_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loan_id: Option<String>,
    pub channel: String,
    pub issued_at: String,
    pub sequence: u64,
    pub text: String,
    pub code: String,
    pub signature: String,
}

impl SignedMessage {
    fn signed_bytes(&self) -> Vec<u8> {
        serde_json::json!([
            "arrears-message-v1",
            self.lender,
            self.borrower_id,
            self.loan_id,
            self.channel,
            self.issued_at,
            self.sequence,
            self.text,
            self.code
        ])
        .to_string()
        .into_bytes()
    }
}

/// Checks a message record against the lender's public key (hex), offline.
pub fn verify_message(public_hex: &str, m: &SignedMessage) -> Result<(), VerifyError> {
    let pk: [u8; 32] = data_encoding::HEXLOWER
        .decode(public_hex.trim().as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(VerifyError::BadPublicKey)?;
    let pk = VerifyingKey::from_bytes(&pk).map_err(|_| VerifyError::BadPublicKey)?;
    let sig: [u8; 64] = data_encoding::HEXLOWER
        .decode(m.signature.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(VerifyError::BadSignature)?;
    let expected_code = code_of(
        &m.lender,
        &m.borrower_id,
        m.loan_id.as_deref(),
        &m.channel,
        &m.issued_at,
        m.sequence,
    );
    if expected_code != m.code {
        return Err(VerifyError::CodeMismatch);
    }
    pk.verify(&m.signed_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::Forged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> MessageDraft {
        MessageDraft {
            lender: "Acme Consumer Finance".into(),
            borrower_id: "B001".into(),
            loan_id: Some("L001".into()),
            channel: "sms".into(),
            issued_at: "2026-11-28T02:00:00Z".parse().unwrap(),
            sequence: 17,
            text: String::new(),
        }
    }

    #[test]
    fn a_genuine_message_verifies_and_any_edit_does_not() {
        let key = LenderKey::from_seed([7; 32]);
        let mut d = draft();
        d.text = format!(
            "Acme: 您的借款 120.00 元已逾期。验证码 {}。退订回T",
            d.code()
        );
        let m = key.sign(d);
        assert_eq!(verify_message(&key.public_hex(), &m), Ok(()));
        let mut forged = m.clone();
        forged.text = forged.text.replace("120.00", "1200.00");
        assert_eq!(
            verify_message(&key.public_hex(), &forged),
            Err(VerifyError::Forged)
        );
        let mut recoded = m.clone();
        recoded.sequence = 18;
        assert_eq!(
            verify_message(&key.public_hex(), &recoded),
            Err(VerifyError::CodeMismatch)
        );
        let other = LenderKey::from_seed([8; 32]);
        assert_eq!(
            verify_message(&other.public_hex(), &m),
            Err(VerifyError::Forged)
        );
        assert_eq!(verify_message("zz", &m), Err(VerifyError::BadPublicKey));
    }

    #[test]
    fn codes_are_short_distinct_and_forgiving_to_type() {
        let a = draft().code();
        let mut d = draft();
        d.sequence = 18;
        let b = d.code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 11);
        assert_eq!(a.as_bytes()[5], b'-');
        assert_eq!(normalize_code(&a.to_lowercase().replace('-', " ")), a);
        assert_eq!(normalize_code("o1234 i5678"), "01234-15678");
    }
}
