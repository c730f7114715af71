//! Evidence that a borrower, a regulator or a court can check.
//!
//! `chain` is the audit log: every decision, contact and status change is an `Entry` that
//! holds the hash of the entry before it, so editing, deleting or reordering any single entry
//! breaks the chain at exactly that place (`verify` names it), and a signed `Head` over the
//! last entry catches a truncated tail. Entries past their retention are redacted, not
//! removed (`redact`): a v2 entry's hash commits to a digest of its content, so the content
//! can go while the chain still verifies, and a later `audit.redaction` entry must vouch for
//! every redacted entry, signed by the lender. `head` makes that hold without trusting the
//! files: the head carries the lender's signature, and `verify_vouched` checks the log
//! against it with a public key from elsewhere. `signing` gives every outbound message a lender
//! ed25519 signature and a short verification code that names the signed record, so a
//! borrower can tell a genuine notice from a forged one. The crate is pure: entries, keys and
//! instants are passed in; files and the clock live at the edge.

pub mod chain;
pub mod head;
pub mod signing;

pub use chain::{
    Draft, Entry, Head, RedactError, RedactedItem, RedactionData, RedactionRequest, Tamper, append,
    append_salted, redact, redact_signed, verify,
};
pub use head::{SignedHead, Vouched, check_anchor, verify_vouched};
pub use signing::{LenderKey, MessageDraft, PublicKey, SignedMessage, VerifyError, verify_message};
