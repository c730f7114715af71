//! The one kind of message that is not a collection contact: a way into the borrower portal
//! that the borrower asked for (a six-digit sign-in code) or that staff issued for them (a
//! one-time link). It carries no debt information, only the lender's name, the code or the
//! link, how long it lives and "ignore this if you did not ask". It goes only to a phone
//! number or e-mail address on record as the borrower's own, never to a contact person or an
//! attorney's address, and never for a borrower recorded as deceased (whoever holds their
//! phone now must not get in).
//!
//! Because the borrower asked for it (or staff issued it for the borrower to use at will), it
//! is not judged by the contact rules (hours, frequency caps, holds): a borrower can sign in
//! at night and during a dispute, and their own requests do not use up the lender's contact
//! budget. What makes that safe is this type: an [`AccessMessage`] has no public
//! constructor but [`access_message`], which writes the text itself from a fixed template, so
//! no collection wording can travel under it, and it has no `Clone`.

use crate::facts::BorrowerFacts;
use crate::model::{Channel, Language, Target};
use arrears_domain::types::BorrowerId;

/// What opens the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessSecret {
    /// Six ASCII digits the borrower types on the sign-in page.
    Code(String),
    /// A one-time link: `http(s)://host[:port][/prefix]/portal/enter?code=<64 hex digits>`.
    Link(String),
}

impl AccessSecret {
    /// `access_code` or `access_link`: the outbox purpose of such a message.
    pub fn purpose(&self) -> &'static str {
        match self {
            AccessSecret::Code(_) => ACCESS_CODE,
            AccessSecret::Link(_) => ACCESS_LINK,
        }
    }

    /// The code or the link.
    pub fn as_str(&self) -> &str {
        match self {
            AccessSecret::Code(s) | AccessSecret::Link(s) => s,
        }
    }

    /// The secret of a stored message of `purpose` (`access_code` or `access_link`).
    pub fn of(purpose: &str, secret: &str) -> Option<AccessSecret> {
        match purpose {
            ACCESS_CODE => Some(AccessSecret::Code(secret.to_owned())),
            ACCESS_LINK => Some(AccessSecret::Link(secret.to_owned())),
            _ => None,
        }
    }
}

/// The outbox purpose of a sign-in code.
pub const ACCESS_CODE: &str = "access_code";
/// The outbox purpose of a one-time portal link.
pub const ACCESS_LINK: &str = "access_link";

/// Whether an outbox purpose is one of the access messages.
pub fn is_access_purpose(purpose: &str) -> bool {
    purpose == ACCESS_CODE || purpose == ACCESS_LINK
}

/// Why an access message cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessRefusal {
    #[error("the target is not a phone number or e-mail address on record as the borrower's own")]
    NotOwnTarget,
    #[error("the borrower is recorded as deceased")]
    Deceased,
    #[error("{0} does not carry a sign-in code or link (only sms and email do)")]
    Channel(Channel),
    #[error("an sms goes to a phone number and an email to an e-mail address")]
    ChannelTarget,
    #[error("a sign-in code is six digits")]
    BadCode,
    #[error("a portal link is http(s)://host/…/portal/enter?code= and 64 hex digits")]
    BadLink,
    #[error("the lender's name is empty or longer than 100 characters")]
    BadLender,
}

/// Proof that a sign-in code or portal link may go to this target: the target is the
/// borrower's own, and the text is the fixed template's. No `Clone`, no other constructor.
#[derive(Debug)]
pub struct AccessMessage {
    borrower_id: BorrowerId,
    channel: Channel,
    target: Target,
    text: String,
    subject: String,
}

impl AccessMessage {
    pub fn borrower_id(&self) -> &BorrowerId {
        &self.borrower_id
    }
    pub fn channel(&self) -> Channel {
        self.channel
    }
    /// The borrower's own phone number or e-mail address.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// The whole text, written by [`access_message`].
    pub fn text(&self) -> &str {
        &self.text
    }
    /// An e-mail's subject line.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// How long a sign-in code lives, in minutes (said in the message).
pub const CODE_MINUTES: i64 = 10;

/// The message that takes `secret` to `target` for the borrower of `facts`, in `language`,
/// naming `lender`; refused when the target is not the borrower's own, the borrower is
/// recorded as deceased, the channel cannot carry it, or the secret is not well formed.
pub fn access_message(
    facts: &BorrowerFacts,
    channel: Channel,
    target: &Target,
    secret: &AccessSecret,
    language: Language,
    lender: &str,
) -> Result<AccessMessage, AccessRefusal> {
    match (channel, target) {
        (Channel::Sms, Target::Phone(_)) | (Channel::Email, Target::Email(_)) => {}
        (Channel::Sms | Channel::Email, _) => return Err(AccessRefusal::ChannelTarget),
        (other, _) => return Err(AccessRefusal::Channel(other)),
    }
    if facts.deceased {
        return Err(AccessRefusal::Deceased);
    }
    if !facts.own_targets.contains(target) || facts.attorney_targets.contains(target) {
        return Err(AccessRefusal::NotOwnTarget);
    }
    let lender = lender.trim();
    if lender.is_empty() || lender.chars().count() > 100 || lender.chars().any(char::is_control) {
        return Err(AccessRefusal::BadLender);
    }
    let zh = language == Language::ZhCn;
    let (text, subject) = match secret {
        AccessSecret::Code(code) => {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(AccessRefusal::BadCode);
            }
            if zh {
                (
                    format!(
                        "【{lender}】您的还款门户登录验证码：{code}，{CODE_MINUTES}分钟内有效。\
                         如非本人操作，请忽略本短信。请勿将验证码告诉任何人。"
                    ),
                    format!("{lender}：登录验证码"),
                )
            } else {
                (
                    format!(
                        "{lender}: your sign-in code for the borrower portal is {code}. It \
                         works for {CODE_MINUTES} minutes. If you did not ask for it, ignore \
                         this message. Never tell this code to anyone."
                    ),
                    format!("{lender}: your sign-in code"),
                )
            }
        }
        AccessSecret::Link(link) => {
            if !well_formed_link(link) {
                return Err(AccessRefusal::BadLink);
            }
            if zh {
                (
                    format!(
                        "【{lender}】您的还款门户一次性登录链接：{link} 仅可使用一次。\
                         如非本人申请，请忽略本消息。"
                    ),
                    format!("{lender}：门户登录链接"),
                )
            } else {
                (
                    format!(
                        "{lender}: your one-time link to the borrower portal: {link} It works \
                         once. If you did not expect it, ignore this message."
                    ),
                    format!("{lender}: your link to the borrower portal"),
                )
            }
        }
    };
    Ok(AccessMessage {
        borrower_id: facts.borrower_id.clone(),
        channel,
        target: target.clone(),
        text,
        subject,
    })
}

/// `http(s)://host[:port][/prefix]/portal/enter?code=<64 lower-case hex>`, nothing else.
fn well_formed_link(link: &str) -> bool {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let Some((before, code)) = rest.split_once("/portal/enter?code=") else {
        return false;
    };
    let host_ok = !before.is_empty()
        && before
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:/[]".contains(&b))
        && !before.starts_with('/');
    host_ok
        && code.len() == 64
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_domain::types::Jurisdiction;

    fn facts() -> BorrowerFacts {
        let mut f = BorrowerFacts::new(
            BorrowerId::parse("borrower_id", "B1").unwrap(),
            Jurisdiction::parse("jurisdiction", "CN").unwrap(),
        );
        f.own_targets = vec![
            Target::phone("+8613800138000").unwrap(),
            Target::email("ann@example.com").unwrap(),
        ];
        f
    }

    fn code() -> AccessSecret {
        AccessSecret::Code("042917".into())
    }

    #[test]
    fn a_code_goes_to_the_borrowers_own_phone_with_the_fixed_text() {
        let phone = Target::phone("+8613800138000").unwrap();
        let m = access_message(
            &facts(),
            Channel::Sms,
            &phone,
            &code(),
            Language::ZhCn,
            "好借",
        )
        .unwrap();
        assert_eq!(m.target(), &phone);
        assert!(m.text().contains("042917"), "{}", m.text());
        assert!(m.text().starts_with("【好借】"), "{}", m.text());
        let en = access_message(
            &facts(),
            Channel::Sms,
            &phone,
            &code(),
            Language::En,
            "Lend",
        )
        .unwrap();
        assert!(en.text().contains("is 042917."), "{}", en.text());
        // No debt words: nothing about amounts, overdue, court.
        for word in ["overdue", " owe", "debt", "court", "逾期", "欠款", "法院"] {
            assert!(
                !en.text().contains(word) && !m.text().contains(word),
                "{word}"
            );
        }
    }

    #[test]
    fn only_the_borrowers_own_targets() {
        let f = facts();
        let other = Target::phone("+8613900139000").unwrap();
        assert_eq!(
            access_message(&f, Channel::Sms, &other, &code(), Language::En, "L").unwrap_err(),
            AccessRefusal::NotOwnTarget
        );
        let mut lawyered = facts();
        let own = Target::email("ann@example.com").unwrap();
        lawyered.attorney_targets = vec![own.clone()];
        assert_eq!(
            access_message(&lawyered, Channel::Email, &own, &code(), Language::En, "L")
                .unwrap_err(),
            AccessRefusal::NotOwnTarget
        );
        let mut dead = facts();
        dead.deceased = true;
        assert_eq!(
            access_message(&dead, Channel::Email, &own, &code(), Language::En, "L").unwrap_err(),
            AccessRefusal::Deceased
        );
        assert_eq!(
            access_message(&f, Channel::Sms, &own, &code(), Language::En, "L").unwrap_err(),
            AccessRefusal::ChannelTarget
        );
        assert_eq!(
            access_message(&f, Channel::Call, &own, &code(), Language::En, "L").unwrap_err(),
            AccessRefusal::Channel(Channel::Call)
        );
    }

    #[test]
    fn secrets_must_be_well_formed() {
        let f = facts();
        let own = Target::email("ann@example.com").unwrap();
        let send =
            |s: AccessSecret| access_message(&f, Channel::Email, &own, &s, Language::En, "L");
        for bad in ["04291", "0429170", "04a917", "０４２９１７"] {
            assert_eq!(
                send(AccessSecret::Code(bad.into())).unwrap_err(),
                AccessRefusal::BadCode,
                "{bad}"
            );
        }
        let hex = "ab".repeat(32);
        for good in [
            format!("https://collect.example/portal/enter?code={hex}"),
            format!("http://127.0.0.1:8080/portal/enter?code={hex}"),
            format!("https://lender.example/arrears/portal/enter?code={hex}"),
        ] {
            let m = send(AccessSecret::Link(good.clone())).unwrap();
            assert!(m.text().contains(&good));
        }
        for bad in [
            format!("ftp://x/portal/enter?code={hex}"),
            format!("https://x/portal/enter?code={hex}&pay=now"),
            format!("https:///portal/enter?code={hex}"),
            format!("https://x y/portal/enter?code={hex}"),
            "https://x/portal/enter?code=AB".to_owned(),
            format!("https://x/court/enter?code={hex}"),
        ] {
            assert_eq!(
                send(AccessSecret::Link(bad.clone())).unwrap_err(),
                AccessRefusal::BadLink,
                "{bad}"
            );
        }
        assert_eq!(
            send(AccessSecret::Code("123456".into()))
                .map(|_| ())
                .and_then(
                    |_| access_message(&f, Channel::Email, &own, &code(), Language::En, " ")
                        .map(|_| ())
                )
                .unwrap_err(),
            AccessRefusal::BadLender
        );
    }

    #[test]
    fn purposes_round_trip() {
        for s in [code(), AccessSecret::Link("x".into())] {
            assert_eq!(AccessSecret::of(s.purpose(), s.as_str()), Some(s.clone()));
            assert!(is_access_purpose(s.purpose()));
        }
        assert!(!is_access_purpose("collection"));
        assert_eq!(AccessSecret::of("collection", "1"), None);
    }
}
