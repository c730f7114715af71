//! The static cadence proof: whatever the accounts and their outcomes, the contacts a strategy
//! proposes never exceed a pack's frequency caps.
//!
//! What the planner guarantees by construction, and what the proof builds on:
//! - at most one action per loan per day (the first due rule), at most
//!   `max_calls_per_borrower_per_day` calls per borrower per day, all on the plan's local day;
//! - a rule is due only when at least `every_days` local days passed since the last contact on
//!   its channel about the loan (from any rule), so contacts on a channel about one loan lie
//!   on local days at least `N` apart, `N` the smallest `every_days` among that channel's rules.
//!
//! For each pack and each channel the strategy uses, `max_contacts_per_window` gives the
//! caps. A per-borrower (or per-number) cap per local day needs
//! `max_calls_per_borrower_per_day <= max`. A per-debt cap over a rolling window of `W` days
//! needs the most contacts that can fall in any such window, `floor((W + 1) / N) + 1`, to be at
//! most `max`: `k` contacts on days `N` apart span at least `(k - 1) N - 1` days (a contact may
//! fall at any time of its day, and a DST day is an hour shorter), which must be under `W`.
//! The quiet period after a conversation depends on outcomes, not on the strategy: `check`
//! enforces it when each contact is proposed.

use crate::strategy::{ActionKind, Strategy};
use arrears_policy::{LimitScope, LimitWindow, Pack, RuleId, max_contacts_per_window};
use std::fmt;

/// A way the strategy could exceed a pack's cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFailure {
    pub pack: String,
    pub pack_rule: RuleId,
    /// The strategy rule (or `strategy.max_calls_per_borrower_per_day`) that allows too many.
    pub strategy_rule: String,
    pub field: String,
    pub could_make: u64,
    pub allowed: u32,
    pub message: String,
}

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {}: {}: could exceed {} pack rule {}: {}",
            self.strategy_rule, self.field, self.pack, self.pack_rule, self.message
        )
    }
}

/// Proves the strategy's cadence within every pack's caps; lists every way it could exceed one.
pub fn prove_cadence<'a>(
    strategy: &Strategy,
    packs: impl IntoIterator<Item = &'a Pack>,
) -> Vec<ProofFailure> {
    let mut out = Vec::new();
    for pack in packs {
        let jur = pack.jurisdiction().as_str().to_owned();
        for kind in ActionKind::ALL {
            let Some(channel) = kind.channel() else {
                continue;
            };
            let rules: Vec<_> = strategy
                .rules
                .iter()
                .filter(|r| r.action.kind == kind && applies_to(r, &jur))
                .collect();
            let Some(tightest) = rules.iter().min_by_key(|r| r.cadence.every_days) else {
                continue;
            };
            let n = u64::from(tightest.cadence.every_days.max(1));
            let per_day: u64 = if kind == ActionKind::CallTask {
                u64::from(strategy.max_calls_per_borrower_per_day)
            } else {
                // Messages are not limited per borrower by the strategy: one per loan per day.
                u64::MAX
            };
            for limit in max_contacts_per_window(pack, channel).limits {
                match (limit.scope, limit.window) {
                    (LimitScope::Borrower | LimitScope::PhoneNumber, LimitWindow::LocalDay) => {
                        if per_day > u64::from(limit.max) {
                            out.push(ProofFailure {
                                pack: jur.clone(),
                                pack_rule: limit.rule_id,
                                strategy_rule: "strategy".into(),
                                field: "max_calls_per_borrower_per_day".into(),
                                could_make: per_day,
                                allowed: limit.max,
                                message: format!(
                                    "{} calls per borrower per local day are possible; {} allows {}",
                                    per_day, limit.rule_id, limit.max
                                ),
                            });
                        }
                    }
                    (_, LimitWindow::RollingDays(w)) => {
                        let k = (u64::from(w) + 1) / n + 1;
                        let k = k.min(u64::from(w) + 1);
                        if k > u64::from(limit.max) {
                            out.push(ProofFailure {
                                pack: jur.clone(),
                                pack_rule: limit.rule_id,
                                strategy_rule: tightest.id.clone(),
                                field: "cadence.every_days".into(),
                                could_make: k,
                                allowed: limit.max,
                                message: format!(
                                    "{kind} every {n} day(s) can make {k} calls about one debt in {w} days; {} allows {} (every_days >= {} would fit)",
                                    limit.rule_id,
                                    limit.max,
                                    min_every(w, limit.max)
                                ),
                            });
                        }
                    }
                    (LimitScope::PersonPerDebt, LimitWindow::LocalDay) => {
                        if limit.max < 1 {
                            out.push(ProofFailure {
                                pack: jur.clone(),
                                pack_rule: limit.rule_id,
                                strategy_rule: tightest.id.clone(),
                                field: "action.kind".into(),
                                could_make: 1,
                                allowed: limit.max,
                                message: "the pack allows no such contact at all".into(),
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// The smallest `every_days` whose worst case fits `max` in `w` days.
fn min_every(w: u32, max: u32) -> u64 {
    (1..=u64::from(w) + 2)
        .find(|&n| (u64::from(w) + 1) / n < u64::from(max))
        .unwrap_or(u64::from(w) + 2)
}

/// A rule without a jurisdiction condition applies everywhere.
fn applies_to(r: &crate::strategy::StrategyRule, jur: &str) -> bool {
    r.when.jurisdictions.as_ref().is_none_or(|js| {
        js.iter().any(|j| {
            j == jur || jur.split('-').next() == Some(j) || j.split('-').next() == Some(jur)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_policy::{PackSet, Policy};

    fn strategy_with(every: u32, calls: u32) -> Strategy {
        let text = crate::strategy::DEFAULT_STRATEGY
            .replace(
                "max_calls_per_borrower_per_day = 1",
                &format!("max_calls_per_borrower_per_day = {calls}"),
            )
            .replace(
                "every_days = 2 # call",
                &format!("every_days = {every} # call"),
            );
        Strategy::parse(&text).unwrap()
    }

    #[test]
    fn the_default_strategy_fits_every_embedded_pack() {
        let s = Strategy::default_strategy().unwrap();
        let packs = PackSet::embedded().unwrap();
        assert_eq!(prove_cadence(&s, packs.iter()), vec![]);
    }

    #[test]
    fn daily_calls_exceed_us_7in7_and_name_the_rule() {
        let s = strategy_with(1, 1);
        let packs = PackSet::embedded().unwrap();
        let f = prove_cadence(&s, packs.iter());
        assert!(!f.is_empty());
        assert!(
            f.iter()
                .all(|x| x.pack == "US" && x.pack_rule == RuleId::Us7In7),
            "{f:?}"
        );
        // One call a day: a rolling 7 days touches 8 local days, so 8 calls.
        assert_eq!(f[0].could_make, 8);
        assert!(f[0].to_string().contains("US-7IN7"));
    }

    #[test]
    fn too_many_calls_a_day_exceed_the_cn_caps() {
        let s = strategy_with(2, 4);
        let packs = PackSet::embedded().unwrap();
        let f = prove_cadence(&s, packs.iter());
        let ids: Vec<RuleId> = f.iter().map(|x| x.pack_rule).collect();
        assert_eq!(ids, vec![RuleId::CnFreqConnected], "{f:?}");
        // A lender policy lowering the attempt cap to 3 makes 4 calls fail that too.
        let policy = Policy::parse(
            "[policy]\nname = \"p\"\n[rules.\"CN-FREQ-ATTEMPTS\"]\nmax_per_local_day = 3\n",
        )
        .unwrap();
        let tight = packs.tighten(&policy).unwrap();
        let ids: Vec<RuleId> = prove_cadence(&s, tight.iter())
            .iter()
            .map(|x| x.pack_rule)
            .collect();
        assert_eq!(ids, vec![RuleId::CnFreqConnected, RuleId::CnFreqAttempts]);
    }

    #[test]
    fn the_bound_matches_a_brute_force_worst_case() {
        // Place calls as densely as the cadence allows (every N days, at the worst times of
        // day) and count the most that fall in any rolling W-day window.
        for n in 1..=8u64 {
            for w in 1..=10u64 {
                let mut worst = 0;
                // Call times in hours: day i*N at 23:59 for the first, 00:00 for the rest.
                for first_late in [false, true] {
                    let times: Vec<f64> = (0..40)
                        .map(|i| {
                            let day = (i * n) as f64;
                            if i == 0 && first_late {
                                day + 0.999
                            } else {
                                day
                            }
                        })
                        .collect();
                    for (i, &t) in times.iter().enumerate() {
                        let _ = i;
                        let c = times
                            .iter()
                            .filter(|&&x| x > t - w as f64 && x <= t)
                            .count();
                        worst = worst.max(c);
                    }
                    // Windows ending anywhere: also at each call's time + epsilon handled by <=.
                }
                let bound = (w + 1) / n + 1;
                assert!(worst as u64 <= bound, "n={n} w={w}: {worst} > {bound}");
            }
        }
    }
}
