//! Deciding one contact: the pre-contact check, a contact reported after the fact (a
//! forbidden one is kept as a violation with the rule ids of this decision), a message
//! enqueued, and the re-check at send time are the same decision over the same context.

use crate::context::DecisionContext;
use arrears_policy::{Decision, PackSet, ProposedContact};
use jiff::Timestamp;

/// Decides `proposed` at `at` over the borrower's context.
pub fn decide(
    proposed: &ProposedContact,
    ctx: &DecisionContext,
    at: Timestamp,
    packs: &PackSet,
) -> Decision {
    arrears_policy::check(proposed, &ctx.facts, &ctx.history, at, packs)
}

/// A contact as a caller describes it (a CLI's flags, an API body, an outbox row), in words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactSpec<'a> {
    pub borrower_id: &'a str,
    pub loan_id: Option<&'a str>,
    pub channel: &'a str,
    /// `borrower` when absent.
    pub party: Option<&'a str>,
    pub target: Option<&'a str>,
    /// `collection` when absent; `locate`, `plan_reminder` or `notice:<kind>`.
    pub purpose: Option<&'a str>,
    pub agency_id: Option<&'a str>,
    pub text: Option<&'a str>,
    pub lender: Option<&'a str>,
    pub code: Option<&'a str>,
    /// The message's language; when absent, the borrower's (`Language::of_borrower`).
    pub language: Option<&'a str>,
}

/// Which field of a [`ContactSpec`] is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SpecError {
    pub field: &'static str,
    pub reason: String,
}

impl ContactSpec<'_> {
    /// The contact the engine is asked about: every surface parses a contact this one way. A
    /// message without a language of its own is vetted in `borrower_language`, the
    /// borrower's (`Language::of_borrower`).
    pub fn proposal(
        &self,
        borrower_language: arrears_policy::Language,
    ) -> Result<ProposedContact, SpecError> {
        use arrears_domain::types::{BorrowerId, LoanId};
        use arrears_policy::{Channel, Language, Message, Party, Purpose, Target};
        let err = |field: &'static str| move |e: String| SpecError { field, reason: e };
        let borrower_id = BorrowerId::parse("borrower_id", self.borrower_id)
            .map_err(|e| err("borrower_id")(e.detail))?;
        let channel = Channel::parse(self.channel).map_err(|e| err("channel")(e.to_string()))?;
        let party = self
            .party
            .map(Party::parse)
            .transpose()
            .map_err(|e| err("party")(e.to_string()))?
            .unwrap_or(Party::Borrower);
        let target = self
            .target
            .map(Target::parse)
            .transpose()
            .map_err(|e| err("target")(e.to_string()))?;
        let mut p = ProposedContact::new(borrower_id, channel, party, target);
        p.loan_id = self
            .loan_id
            .map(|l| LoanId::parse("loan_id", l))
            .transpose()
            .map_err(|e| err("loan_id")(e.detail))?;
        if let Some(purpose) = self.purpose {
            p.purpose = Purpose::parse(purpose).map_err(|e| err("purpose")(e.to_string()))?;
        }
        p.agency_id = self.agency_id.map(str::to_owned);
        if let Some(text) = self.text {
            let language = match self.language {
                Some(l) => Language::parse(l).map_err(|e| err("language")(e.to_string()))?,
                None => borrower_language,
            };
            p.message = Some(Message::new(
                text,
                language,
                self.lender.unwrap_or_default(),
                self.code.unwrap_or_default(),
            ));
        }
        Ok(p)
    }
}

/// A decision in words: `allow`/`deny`, the rule ids, and `earliest_allowed` (RFC 3339 UTC)
/// for a denial waiting can cure.
pub fn answer(d: &Decision) -> (&'static str, Vec<&'static str>, Option<String>) {
    match d {
        Decision::Allow(_) => ("allow", Vec::new(), None),
        Decision::Deny {
            rule_ids,
            earliest_allowed,
        } => (
            "deny",
            rule_ids.iter().map(|r| r.as_str()).collect(),
            earliest_allowed.map(|t| t.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_policy::{Channel, Language, Party, Purpose};

    #[test]
    fn a_contact_is_parsed_once_and_bad_words_name_their_field() {
        let spec = ContactSpec {
            borrower_id: "B1",
            loan_id: Some("L1"),
            channel: "sms",
            target: Some("+8613800138000"),
            purpose: Some("notice:assignment"),
            text: Some("text"),
            ..ContactSpec::default()
        };
        let p = spec.proposal(Language::ZhCn).unwrap();
        assert_eq!((p.channel, p.party), (Channel::Sms, Party::Borrower));
        assert_eq!(
            p.purpose,
            Purpose::Notice(arrears_policy::NoticeKind::Assignment)
        );
        // No language of its own: the borrower's.
        assert_eq!(p.message.as_ref().map(|m| m.language), Some(Language::ZhCn));
        let en = ContactSpec {
            language: Some("en-US"),
            ..spec.clone()
        };
        assert_eq!(
            en.proposal(Language::ZhCn)
                .unwrap()
                .message
                .map(|m| m.language),
            Some(Language::En)
        );
        for (bad, field) in [
            (
                ContactSpec {
                    channel: "fax",
                    ..spec.clone()
                },
                "channel",
            ),
            (
                ContactSpec {
                    party: Some("neighbour"),
                    ..spec.clone()
                },
                "party",
            ),
            (
                ContactSpec {
                    target: Some("12345"),
                    ..spec.clone()
                },
                "target",
            ),
            (
                ContactSpec {
                    purpose: Some("notice:threat"),
                    ..spec.clone()
                },
                "purpose",
            ),
            (
                ContactSpec {
                    language: Some("fr"),
                    ..spec.clone()
                },
                "language",
            ),
            (
                ContactSpec {
                    borrower_id: "",
                    ..spec.clone()
                },
                "borrower_id",
            ),
        ] {
            assert_eq!(bad.proposal(Language::En).unwrap_err().field, field);
        }
    }
}
