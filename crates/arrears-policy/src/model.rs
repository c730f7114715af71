//! The small vocabulary the rules speak: channels, parties, targets, outcomes, purposes,
//! notice kinds, legal-case statuses, languages and local time windows. Each is parsed from
//! its lower-case code once, at the edge; past that, an unknown channel or outcome cannot exist.

use jiff::civil::Time;
use std::fmt;

/// A code that is not one of a vocabulary's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}; expected one of: {expected}")]
pub struct VocabularyError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $code:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            pub fn code(self) -> &'static str {
                match self { $( $name::$variant => $code, )* }
            }

            pub fn parse(s: &str) -> Result<$name, VocabularyError> {
                match s {
                    $( $code => Ok($name::$variant), )*
                    _ => Err(VocabularyError {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($( $code, " " ),*).trim_ascii_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

code_enum! {
    /// How a contact reaches the borrower, or which escalation affects them. Voice-bot calls
    /// are `call`s: the spec counts them with calls.
    Channel, "channel" {
        Sms => "sms",
        Call => "call",
        Email => "email",
        Letter => "letter",
        Push => "push",
        Visit => "visit",
        /// Placing the account with a collection agency.
        AgencyPlacement => "agency_placement",
        /// Referring the account to lawyers for legal action.
        LegalReferral => "legal_referral",
        /// A negative report to a credit bureau.
        CreditReport => "credit_report",
        /// Charging a fee or penalty interest.
        Fee => "fee",
    }
}

impl Channel {
    /// Escalations affect the borrower without contacting anyone.
    pub fn is_escalation(self) -> bool {
        matches!(
            self,
            Channel::AgencyPlacement
                | Channel::LegalReferral
                | Channel::CreditReport
                | Channel::Fee
        )
    }

    /// A contact (message, call or visit) rather than an escalation.
    pub fn is_contact(self) -> bool {
        !self.is_escalation()
    }

    /// Channels that deliver a written message whose text the engine can vet.
    pub fn is_written(self) -> bool {
        matches!(
            self,
            Channel::Sms | Channel::Email | Channel::Push | Channel::Letter
        )
    }

    /// The kind of target the channel needs, if it needs one at all (a letter goes to the
    /// postal address on record, a push to the app, a visit to the address).
    pub fn target_kind(self) -> Option<TargetKind> {
        match self {
            Channel::Call | Channel::Sms => Some(TargetKind::Phone),
            Channel::Email => Some(TargetKind::Email),
            _ => None,
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of channels (hours rules, opt-out rules, locate channels).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelSet(u16);

impl ChannelSet {
    pub const EMPTY: ChannelSet = ChannelSet(0);

    pub fn contains(self, c: Channel) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn insert(&mut self, c: Channel) {
        self.0 |= c.bit();
    }

    pub fn is_superset(self, other: ChannelSet) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn iter(self) -> impl Iterator<Item = Channel> {
        Channel::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Channel> for ChannelSet {
    fn from_iter<I: IntoIterator<Item = Channel>>(iter: I) -> Self {
        let mut s = ChannelSet::EMPTY;
        for c in iter {
            s.insert(c);
        }
        s
    }
}

impl fmt::Debug for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for ChannelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Channel::code).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

code_enum! {
    /// Who is contacted. `address_book` is a number harvested from a phone's address book:
    /// never contactable.
    Party, "party" {
        Borrower => "borrower",
        CoBorrower => "co_borrower",
        DesignatedContact => "designated_contact",
        ThirdParty => "third_party",
        Attorney => "attorney",
        AddressBook => "address_book",
    }
}

code_enum! {
    /// What a contact record's call or message ended with.
    Outcome, "outcome" {
        RightParty => "right_party",
        Promise => "promise",
        Refused => "refused",
        Dispute => "dispute",
        NoAnswer => "no_answer",
        WrongParty => "wrong_party",
        Busy => "busy",
        Voicemail => "voicemail",
        Sent => "sent",
        Delivered => "delivered",
        Bounced => "bounced",
        Failed => "failed",
        /// An outcome word outside the vocabulary: never a conversation (a call with it counts
        /// as an unanswered attempt) and never a failed attempt (it cannot make a borrower
        /// look unreachable). Unknown words never make a rule looser.
        Other => "other",
    }
}

impl Outcome {
    /// A conversation (US-7IN7, CN-FREQ-CONNECTED) when the contact was a call.
    pub fn is_conversation(self) -> bool {
        matches!(
            self,
            Outcome::RightParty | Outcome::Promise | Outcome::Refused | Outcome::Dispute
        )
    }

    /// An outbound attempt that did not reach anyone (ALL-LOCATE's "unreachable"): a call
    /// `no_answer`, `busy` or `wrong_party`; a message `bounced` or `failed`.
    pub fn is_failed_attempt(self) -> bool {
        matches!(
            self,
            Outcome::NoAnswer
                | Outcome::Busy
                | Outcome::WrongParty
                | Outcome::Bounced
                | Outcome::Failed
        )
    }
}

code_enum! {
    /// The kinds of notice a pack may permit while a hold or cease is in force.
    NoticeKind, "notice kind" {
        /// Acknowledging a cease-contact request.
        CeaseAcknowledgement => "cease_acknowledgement",
        /// Stating what happens next (e.g. that collection stops, or a specific remedy).
        NextSteps => "next_steps",
        /// The verification that answers a dispute.
        DisputeVerification => "dispute_verification",
        /// A US validation notice (Reg F 1006.34).
        Validation => "validation",
        /// The notice that must precede an agency placement (CN-AGENCY).
        AgencyPlacement => "agency_placement",
        /// The notice that must precede a negative credit report (CN-CREDIT, US-CREDIT).
        CreditReporting => "credit_reporting",
        /// A forbearance offer (payment plan) to a borrower in difficulty (GB-FORBEARANCE).
        ForbearanceOffer => "forbearance_offer",
        /// The notice of a debt sale naming the buyer (the one thing sent after ALL-SOLD).
        Assignment => "assignment",
        /// A notice of legal action bound to a real case.
        LegalAction => "legal_action",
    }
}

impl NoticeKind {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of notice kinds (the notices a hold or cease permits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NoticeSet(u16);

impl NoticeSet {
    pub const EMPTY: NoticeSet = NoticeSet(0);

    pub fn contains(self, n: NoticeKind) -> bool {
        self.0 & n.bit() != 0
    }

    pub fn insert(&mut self, n: NoticeKind) {
        self.0 |= n.bit();
    }

    pub fn is_subset(self, other: NoticeSet) -> bool {
        self.0 & other.0 == self.0
    }

    pub fn iter(self) -> impl Iterator<Item = NoticeKind> {
        NoticeKind::ALL
            .iter()
            .copied()
            .filter(move |n| self.contains(*n))
    }
}

impl FromIterator<NoticeKind> for NoticeSet {
    fn from_iter<I: IntoIterator<Item = NoticeKind>>(iter: I) -> Self {
        let mut s = NoticeSet::EMPTY;
        for n in iter {
            s.insert(n);
        }
        s
    }
}

impl fmt::Debug for NoticeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for NoticeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(NoticeKind::code).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// Why a contact is made; the holds, cease and locate rules depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Purpose {
    /// An ordinary collection contact.
    #[default]
    Collection,
    /// The fixed locate template, carrying no debt information (ALL-LOCATE).
    Locate,
    /// A notice of a given kind (permitted under cease or dispute when the pack says so).
    Notice(NoticeKind),
    /// A reminder of a payment plan's instalment (the only contact ALL-PLAN lets through).
    PlanReminder,
}

impl Purpose {
    /// `collection`, `locate`, or `notice:<kind>`.
    pub fn parse(s: &str) -> Result<Purpose, VocabularyError> {
        match s {
            "collection" => Ok(Purpose::Collection),
            "locate" => Ok(Purpose::Locate),
            "plan_reminder" => Ok(Purpose::PlanReminder),
            _ => match s.strip_prefix("notice:") {
                Some(kind) => NoticeKind::parse(kind).map(Purpose::Notice),
                None => Err(VocabularyError {
                    what: "purpose",
                    value: s.to_owned(),
                    expected: "collection locate plan_reminder notice:<kind>",
                }),
            },
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Purpose::Collection => f.write_str("collection"),
            Purpose::Locate => f.write_str("locate"),
            Purpose::PlanReminder => f.write_str("plan_reminder"),
            Purpose::Notice(k) => write!(f, "notice:{k}"),
        }
    }
}

code_enum! {
    /// The status of a real legal case (the `legal_cases` table).
    LegalStatus, "legal case status" {
        Filed => "filed",
        Judgment => "judgment",
        Enforcement => "enforcement",
        Closed => "closed",
    }
}

impl LegalStatus {
    /// How far an open case has gone: a closed case has gone nowhere, so it binds nothing.
    pub(crate) fn stage(self) -> u8 {
        match self {
            LegalStatus::Closed => 0,
            LegalStatus::Filed => 1,
            LegalStatus::Judgment => 2,
            LegalStatus::Enforcement => 3,
        }
    }
}

code_enum! {
    /// Where a contact person came from. `contract` is a co-borrower or guarantor named in the
    /// loan contract; `designated` was named by the borrower; `address_book` was harvested and
    /// is never contactable.
    PersonSource, "contact person source" {
        Contract => "contract",
        Designated => "designated",
        AddressBook => "address_book",
    }
}

/// A message language with a word list. `zh`, `zh-CN`, `zh-Hans-CN` are Simplified Chinese;
/// `en` and any `en-*` are English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    ZhCn,
    En,
}

impl Language {
    pub const ALL: &'static [Language] = &[Language::ZhCn, Language::En];

    /// The language messages to a borrower are written and vetted in: theirs when it is one
    /// of ours, else Chinese for a CN borrower and English for anyone else. Every door (the
    /// planner, the check, the outbox) asks this one function.
    pub fn of_borrower(
        language: Option<&str>,
        jurisdiction: &arrears_domain::Jurisdiction,
    ) -> Language {
        language.and_then(|l| Language::parse(l).ok()).unwrap_or(
            if jurisdiction.country() == "CN" {
                Language::ZhCn
            } else {
                Language::En
            },
        )
    }

    pub fn parse(tag: &str) -> Result<Language, VocabularyError> {
        let lower = tag.to_ascii_lowercase();
        let primary = lower.split('-').next().unwrap_or("");
        match primary {
            "zh" if !lower.contains("hant")
                && !lower.ends_with("-tw")
                && !lower.ends_with("-hk") =>
            {
                Ok(Language::ZhCn)
            }
            "en" => Ok(Language::En),
            _ => Err(VocabularyError {
                what: "supported message language",
                value: tag.to_owned(),
                expected: "zh-CN en",
            }),
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::En => "en",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// What kind of address a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Phone,
    Email,
}

/// A phone number (E.164) or an e-mail address (compared case-insensitively, so an opt-out
/// of `Ann@Example.com` also covers `ann@example.com`). Printed masked in `Debug`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Phone(Box<str>),
    Email(Box<str>),
}

impl Target {
    pub fn phone(s: &str) -> Result<Target, VocabularyError> {
        arrears_domain::parse::phone("target", s)
            .map(Target::Phone)
            .map_err(|_| VocabularyError {
                what: "phone number",
                value: s.to_owned(),
                expected: "E.164 such as +8613800138000",
            })
    }

    pub fn email(s: &str) -> Result<Target, VocabularyError> {
        arrears_domain::parse::email("target", s)
            .map(|e| Target::Email(e.to_lowercase().into()))
            .map_err(|_| VocabularyError {
                what: "e-mail address",
                value: s.to_owned(),
                expected: "name@domain",
            })
    }

    /// A phone number when `s` starts with `+`, else an e-mail address.
    pub fn parse(s: &str) -> Result<Target, VocabularyError> {
        if s.starts_with('+') {
            Target::phone(s)
        } else {
            Target::email(s)
        }
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Phone(_) => TargetKind::Phone,
            Target::Email(_) => TargetKind::Email,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Target::Phone(s) | Target::Email(s) => s,
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Phone(_) => f.write_str("Phone(***)"),
            Target::Email(_) => f.write_str("Email(***)"),
        }
    }
}

/// A daily window of local wall-clock time, `start <= local < end`, not crossing midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalWindow {
    start: Time,
    end: Time,
}

/// A window whose start is not before its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("window start {start} must be before its end {end} (windows do not cross midnight)")]
pub struct WindowError {
    pub start: Time,
    pub end: Time,
}

impl LocalWindow {
    pub fn new(start: Time, end: Time) -> Result<LocalWindow, WindowError> {
        if start < end {
            Ok(LocalWindow { start, end })
        } else {
            Err(WindowError { start, end })
        }
    }

    pub fn start(&self) -> Time {
        self.start
    }

    pub fn end(&self) -> Time {
        self.end
    }

    pub fn contains(&self, t: Time) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Display for LocalWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", hhmm(self.start), hhmm(self.end))
    }
}

/// `HH:MM` (or `HH:MM:SS` when seconds are set).
pub(crate) fn hhmm(t: Time) -> String {
    if t.second() == 0 && t.subsec_nanosecond() == 0 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}

/// Parses `HH:MM` or `HH:MM:SS` (24-hour clock).
pub(crate) fn parse_hhmm(s: &str) -> Option<Time> {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let num = |i: usize| parts.get(i).and_then(|p| p.parse::<i8>().ok());
    let (h, m) = (num(0)?, num(1)?);
    let sec = if parts.len() == 3 { num(2)? } else { 0 };
    Time::new(h, m, sec, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_and_print() {
        for &c in Channel::ALL {
            assert_eq!(Channel::parse(c.code()).unwrap(), c);
        }
        assert!(
            Channel::parse("fax")
                .unwrap_err()
                .to_string()
                .contains("sms call email")
        );
        assert_eq!(
            Purpose::parse("notice:cease_acknowledgement").unwrap(),
            Purpose::Notice(NoticeKind::CeaseAcknowledgement)
        );
        assert!(Purpose::parse("notice:threat").is_err());
        assert_eq!(Language::parse("zh-Hans-CN").unwrap(), Language::ZhCn);
        assert_eq!(Language::parse("en-GB").unwrap(), Language::En);
        assert!(Language::parse("zh-TW").is_err());
        assert!(Language::parse("fr").is_err());
    }

    #[test]
    fn targets_are_strict_and_masked() {
        assert_eq!(
            Target::parse("Ann@Example.com").unwrap(),
            Target::email("ann@example.com").unwrap()
        );
        assert!(Target::parse("+0123").is_err());
        assert_eq!(
            format!("{:?}", Target::parse("+12125550100").unwrap()),
            "Phone(***)"
        );
    }

    #[test]
    fn windows_and_sets() {
        let w =
            LocalWindow::new(parse_hhmm("08:00").unwrap(), parse_hhmm("21:00").unwrap()).unwrap();
        assert!(w.contains(parse_hhmm("20:59:59").unwrap()));
        assert!(!w.contains(parse_hhmm("21:00").unwrap()));
        assert!(
            LocalWindow::new(parse_hhmm("22:00").unwrap(), parse_hhmm("08:00").unwrap()).is_err()
        );
        assert_eq!(w.to_string(), "08:00-21:00");
        assert!(parse_hhmm("8:00").is_none());
        assert!(parse_hhmm("24:00").is_none());
        let a: ChannelSet = [Channel::Call, Channel::Sms].into_iter().collect();
        let b: ChannelSet = [Channel::Call].into_iter().collect();
        assert!(a.is_superset(b) && !b.is_superset(a));
        assert_eq!(a.to_string(), "[sms, call]");
        let n: NoticeSet = [NoticeKind::NextSteps].into_iter().collect();
        assert!(
            n.is_subset(
                [NoticeKind::NextSteps, NoticeKind::Validation]
                    .into_iter()
                    .collect()
            )
        );
    }
}
