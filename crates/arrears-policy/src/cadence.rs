//! The limits a cadence must respect, as data, so a strategy's planned contacts can be proven
//! within the caps before any of them is proposed (and checked again, one by one, by `check`).

use crate::model::{Channel, LocalWindow};
use crate::pack::Pack;
use crate::rule::RuleId;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Every call attempt, answered or not.
    CallAttempts,
    /// Calls that became conversations.
    Conversations,
    /// Calls that did not.
    UnansweredCalls,
}

/// Whose contacts a limit counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// All of the borrower's loans, all agencies.
    Borrower,
    /// One phone number, whoever the call was about.
    PhoneNumber,
    /// One person about one debt.
    PersonPerDebt,
}

/// The period a limit counts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitWindow {
    /// The borrower's local calendar day, in every zone that applies.
    LocalDay,
    /// Any span of this many 86,400-second days.
    RollingDays(u32),
}

/// At most `max` contacts of a kind per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactLimit {
    pub rule_id: RuleId,
    pub counted: Counted,
    pub scope: LimitScope,
    pub window: LimitWindow,
    pub max: u32,
}

/// No further call for this many local days, the conversation's day being day 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietPeriod {
    pub rule_id: RuleId,
    pub local_days: u32,
}

/// Everything that bounds the cadence of one channel under a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelLimits {
    pub channel: Channel,
    /// The local window the channel is restricted to, and the rule restricting it.
    pub hours: Option<(RuleId, LocalWindow)>,
    pub limits: Vec<ContactLimit>,
    pub quiet_after_conversation: Option<QuietPeriod>,
}

/// The limits `check` enforces on `channel` under `pack`, so a planner can prove a cadence
/// within them (e.g. at most 3 conversations and 6 unanswered calls per number per local
/// day in CN; at most 7 calls per person per debt in any 7 days in the US).
pub fn max_contacts_per_window(pack: &Pack, channel: Channel) -> ChannelLimits {
    let hours = pack
        .hours()
        .filter(|(_, p)| p.channels.contains(channel))
        .map(|(id, p)| (id, p.window));
    let mut limits = Vec::new();
    let mut quiet_after_conversation = None;
    if channel == Channel::Call {
        if let Some(c) = pack.daily_cap(RuleId::CnFreqConnected) {
            limits.push(ContactLimit {
                rule_id: RuleId::CnFreqConnected,
                counted: Counted::Conversations,
                scope: LimitScope::Borrower,
                window: LimitWindow::LocalDay,
                max: c.max_per_local_day,
            });
        }
        if let Some(c) = pack.daily_cap(RuleId::CnFreqAttempts) {
            limits.push(ContactLimit {
                rule_id: RuleId::CnFreqAttempts,
                counted: Counted::UnansweredCalls,
                scope: LimitScope::PhoneNumber,
                window: LimitWindow::LocalDay,
                max: c.max_per_local_day,
            });
        }
        if let Some(c) = pack.call_cadence() {
            limits.push(ContactLimit {
                rule_id: RuleId::Us7In7,
                counted: Counted::CallAttempts,
                scope: LimitScope::PersonPerDebt,
                window: LimitWindow::RollingDays(c.window_days),
                max: c.max_attempts,
            });
            if c.quiet_local_days > 0 {
                quiet_after_conversation = Some(QuietPeriod {
                    rule_id: RuleId::Us7In7,
                    local_days: c.quiet_local_days,
                });
            }
        }
    }
    ChannelLimits {
        channel,
        hours,
        limits,
        quiet_after_conversation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_pack() {
        let cn = Pack::embedded("CN").unwrap();
        let l = max_contacts_per_window(&cn, Channel::Call);
        assert_eq!(
            l.hours.map(|(id, w)| (id, w.to_string())),
            Some((RuleId::CnHours, "08:00-22:00".into()))
        );
        assert_eq!(
            l.limits
                .iter()
                .map(|c| (c.rule_id, c.max))
                .collect::<Vec<_>>(),
            vec![(RuleId::CnFreqConnected, 3), (RuleId::CnFreqAttempts, 6)]
        );
        assert!(max_contacts_per_window(&cn, Channel::Email).hours.is_none());
        let us = Pack::embedded("US").unwrap();
        let l = max_contacts_per_window(&us, Channel::Call);
        assert_eq!(l.limits[0].window, LimitWindow::RollingDays(7));
        assert_eq!(
            l.quiet_after_conversation,
            Some(QuietPeriod {
                rule_id: RuleId::Us7In7,
                local_days: 7
            })
        );
        assert!(max_contacts_per_window(&us, Channel::Sms).limits.is_empty());
    }
}
