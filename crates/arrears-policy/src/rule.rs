//! Rule ids: the named codes that every decision, block and audit entry carries.
//!
//! The ids are exactly those of `docs/compliance.md` (the spec's conduct rule packs) plus two
//! engine codes, `SYS-NO-PACK` and `SYS-FACTS-MISMATCH`, with which `check` fails closed when it
//! cannot apply any pack at all. A decision is never a bare `false`.

use std::fmt;
use std::str::FromStr;

/// Where a rule applies: in every pack, in one country's pack, or to the engine itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An `ALL-*` rule: every pack must carry it.
    All,
    /// A country rule (`CN-*`, `US-*`, `GB-*`): only that country's packs carry it.
    Country(&'static str),
    /// An engine code (`SYS-*`): no pack carries it.
    System,
}

macro_rules! rule_ids {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $scope:expr; )*) => {
        /// A conduct rule id. `as_str` gives the spec's code (`"US-HOURS"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum RuleId {
            $( $(#[$doc])* $variant, )*
        }

        impl RuleId {
            /// Every id, in the order decisions list them.
            pub const ALL: &'static [RuleId] = &[ $( RuleId::$variant, )* ];

            /// The spec's code, e.g. `"CN-FREQ-CONNECTED"`.
            pub fn as_str(self) -> &'static str {
                match self { $( RuleId::$variant => $code, )* }
            }

            /// Which packs carry this rule.
            pub fn scope(self) -> Scope {
                match self { $( RuleId::$variant => $scope, )* }
            }

            /// The id for a spec code; `None` for anything else (codes are case-sensitive).
            pub fn parse(code: &str) -> Option<RuleId> {
                match code { $( $code => Some(RuleId::$variant), )* _ => None }
            }
        }
    };
}

rule_ids! {
    /// Contact only the borrower's own channels, a contractual co-borrower, or the attorney.
    AllOnlyDebtor => "ALL-ONLY-DEBTOR", Scope::All;
    /// A designated non-debtor may be contacted once, to re-establish contact, with a locate template.
    AllLocate => "ALL-LOCATE", Scope::All;
    /// Deceased borrower: no collection contact or escalation.
    AllHoldDeceased => "ALL-HOLD-DECEASED", Scope::All;
    /// Bankrupt borrower: no collection contact or escalation.
    AllHoldBankrupt => "ALL-HOLD-BANKRUPT", Scope::All;
    /// Open dispute: no collection contact, fee, negative report or escalation.
    AllHoldDispute => "ALL-HOLD-DISPUTE", Scope::All;
    /// Cease-contact request: only the pack's permitted notices.
    AllCease => "ALL-CEASE", Scope::All;
    /// No threats, insults, impersonation; legal and visit words only when bound to a real record.
    AllContent => "ALL-CONTENT", Scope::All;
    /// Every message names the lender, carries its verification code and (electronic) an opt-out.
    AllIdentity => "ALL-IDENTITY", Scope::All;
    /// No urging to borrow elsewhere, sell assets or pay into another account.
    AllNoBorrow => "ALL-NO-BORROW", Scope::All;
    /// Penalty interest under the cost cap; no collection fee the contract and pack do not allow.
    AllFeeCap => "ALL-FEE-CAP", Scope::All;
    /// The borrower's own choices: an opted-out channel gets nothing; their hours narrow the pack's.
    AllPreference => "ALL-PREFERENCE", Scope::All;
    /// An active payment plan: no dunning and no escalation, only plan reminders.
    AllPlan => "ALL-PLAN", Scope::All;
    /// A live agency placement: no contact from the lender.
    AllPlaced => "ALL-PLACED", Scope::All;
    /// A sold debt: nothing from the lender but one assignment notice naming the buyer.
    AllSold => "ALL-SOLD", Scope::All;
    CnHours => "CN-HOURS", Scope::Country("CN");
    CnFreqConnected => "CN-FREQ-CONNECTED", Scope::Country("CN");
    CnFreqAttempts => "CN-FREQ-ATTEMPTS", Scope::Country("CN");
    CnVisit => "CN-VISIT", Scope::Country("CN");
    CnAgency => "CN-AGENCY", Scope::Country("CN");
    CnCredit => "CN-CREDIT", Scope::Country("CN");
    CnCost => "CN-COST", Scope::Country("CN");
    CnRecords => "CN-RECORDS", Scope::Country("CN");
    CnComplaint => "CN-COMPLAINT", Scope::Country("CN");
    UsHours => "US-HOURS", Scope::Country("US");
    Us7In7 => "US-7IN7", Scope::Country("US");
    UsLcm => "US-LCM", Scope::Country("US");
    UsValidation => "US-VALIDATION", Scope::Country("US");
    UsEopt => "US-EOPT", Scope::Country("US");
    UsTimebar => "US-TIMEBAR", Scope::Country("US");
    UsChargeoff => "US-CHARGEOFF", Scope::Country("US");
    UsCredit => "US-CREDIT", Scope::Country("US");
    UsRecords => "US-RECORDS", Scope::Country("US");
    UsCost => "US-COST", Scope::Country("US");
    GbHours => "GB-HOURS", Scope::Country("GB");
    GbForbearance => "GB-FORBEARANCE", Scope::Country("GB");
    GbBreathingSpace => "GB-BREATHING-SPACE", Scope::Country("GB");
    GbCharges => "GB-CHARGES", Scope::Country("GB");
    /// Engine code: no pack exists for the borrower's jurisdiction, so nothing may be allowed.
    SysNoPack => "SYS-NO-PACK", Scope::System;
    /// Engine code: the facts given are not the proposed contact's borrower's (a caller bug).
    SysFactsMismatch => "SYS-FACTS-MISMATCH", Scope::System;
}

impl RuleId {
    /// True for the engine's own `SYS-*` codes, which name a caller or configuration fault
    /// rather than a conduct rule.
    pub fn is_system(self) -> bool {
        self.scope() == Scope::System
    }

    /// True when a pack of `country` may carry this rule.
    pub fn belongs_to(self, country: &str) -> bool {
        match self.scope() {
            Scope::All => true,
            Scope::Country(c) => c == country,
            Scope::System => false,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of `RuleId::from_str`: the text is not a spec rule id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rule id of the compliance spec")]
pub struct UnknownRuleId(pub String);

impl FromStr for RuleId {
    type Err = UnknownRuleId;

    fn from_str(s: &str) -> Result<RuleId, UnknownRuleId> {
        RuleId::parse(s).ok_or_else(|| UnknownRuleId(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for &id in RuleId::ALL {
            assert_eq!(RuleId::parse(id.as_str()), Some(id));
            assert!(seen.insert(id.as_str()), "duplicate code {id}");
        }
        assert_eq!(RuleId::ALL.len(), 39);
        assert_eq!("US-7IN7".parse::<RuleId>().unwrap(), RuleId::Us7In7);
        assert!("us-hours".parse::<RuleId>().is_err());
    }

    #[test]
    fn scopes_follow_the_prefix() {
        for &id in RuleId::ALL {
            let code = id.as_str();
            match id.scope() {
                Scope::All => assert!(code.starts_with("ALL-")),
                Scope::Country(c) => assert!(code.starts_with(&format!("{c}-"))),
                Scope::System => assert!(code.starts_with("SYS-")),
            }
        }
        assert!(RuleId::CnHours.belongs_to("CN"));
        assert!(!RuleId::CnHours.belongs_to("US"));
        assert!(RuleId::AllCease.belongs_to("GB"));
        assert!(!RuleId::SysNoPack.belongs_to("GB"));
    }
}
