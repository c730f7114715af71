//! Allocation: which agent works which loan, changed many loans at a time (the supervisor's
//! bulk assignment, assignment by rule, and the rebalancing of an absent agent's accounts).
//!
//! Each allocation is one transaction: the `assignments` rows (one agent per loan, as
//! `arrears assign` keeps them) and one `access_log` entry per loan (actor, the action
//! `assign.bulk`, `assign.rule` or `assign.rebalance`, the loan and its borrower), so an
//! allocation is either wholly recorded or not at all, and who moved a loan when stays on
//! record. Only active users with the role `agent` receive loans.

use crate::schema::{text, ts};
use crate::service::ServiceError;
use crate::sql::{Tx, Ty, json_array};
use crate::{Store, StoreError};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// One change of assignment: `loan_id` is worked by `agent` from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub loan_id: String,
    pub agent: String,
}

/// An agent and how many loans they are assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad {
    pub username: String,
    pub loans: u64,
}

/// The most loans one allocation moves (a page or a rule over the day's plan stays far
/// below it; a bigger request is refused rather than held in one huge transaction).
pub const MAX_MOVES: usize = 200_000;

/// Spreads `loans` over `agents` evenly: each loan, in the order given, goes to the agent
/// with the fewest loans so far (their current load included; ties by username), so the
/// agents' totals end up as equal as the loads allow.
pub fn spread(loans: &[String], agents: &[AgentLoad]) -> Vec<Move> {
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, &str)>> = agents
        .iter()
        .map(|a| std::cmp::Reverse((a.loans, a.username.as_str())))
        .collect();
    let mut out = Vec::with_capacity(loans.len());
    for loan in loans {
        let Some(std::cmp::Reverse((n, who))) = heap.pop() else {
            break;
        };
        out.push(Move {
            loan_id: loan.clone(),
            agent: who.to_owned(),
        });
        heap.push(std::cmp::Reverse((n.saturating_add(1), who)));
    }
    out
}

impl Store {
    /// The active users with the role `agent`, with how many loans each is assigned, by
    /// username.
    pub async fn agent_loads(&self) -> Result<Vec<AgentLoad>, StoreError> {
        let rows = self
            .fetch_once(
                "reading the agents",
                "SELECT u.username, (SELECT COUNT(*) FROM assignments a WHERE a.username = u.username) \
                 FROM users u WHERE u.role = 'agent' AND NOT u.disabled ORDER BY u.username",
                &[],
                &[Ty::Text, Ty::Int],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AgentLoad {
                username: r[0].text().unwrap_or_default().to_owned(),
                loans: u64::try_from(r[1].int().unwrap_or(0)).unwrap_or(0),
            })
            .collect())
    }

    /// The agents of the given loans, as (loan, username), for the loans that have one.
    pub async fn assignments_of(
        &self,
        loans: &[String],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let d = self.dialect();
        let mut out = BTreeMap::new();
        for chunk in loans.chunks(10_000) {
            let rows = self
                .fetch_once(
                    "reading assignments",
                    &format!(
                        "SELECT loan_id, username FROM assignments WHERE loan_id IN {}",
                        d.json_set(1)
                    ),
                    &[text(&json_array(chunk.iter().map(String::as_str)))],
                    &[Ty::Text, Ty::Text],
                )
                .await?;
            for r in rows {
                if let (Some(l), Some(u)) = (r[0].text(), r[1].text()) {
                    out.insert(l.to_owned(), u.to_owned());
                }
            }
        }
        Ok(out)
    }

    /// Every loan that has an agent (for the queue's "unassigned" filter).
    pub async fn assigned_loan_ids(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = self
            .fetch_once(
                "reading assignments",
                "SELECT loan_id FROM assignments",
                &[],
                &[Ty::Text],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r[0].text().map(str::to_owned))
            .collect())
    }

    /// Applies `moves` in one transaction with one access-log entry per loan (`action`,
    /// `actor`). Every loan must exist and every agent be an active user with the role
    /// `agent`; otherwise nothing changes. A loan named twice keeps its last move. Returns
    /// how many loans were assigned.
    pub async fn allocate(
        &self,
        moves: &[Move],
        actor: &str,
        action: &str,
        at: Timestamp,
    ) -> Result<u64, ServiceError> {
        let mut tx = self.begin().await?;
        let n = apply(&mut tx, moves, actor, action, at).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Spreads the loans assigned to `from` (an absent agent) evenly over the other active
    /// agents ([`spread`]), in one transaction with one access-log entry per loan (action
    /// `assign.rebalance`). Returns the moves made (none when `from` has no loans).
    pub async fn rebalance(
        &self,
        from: &str,
        actor: &str,
        at: Timestamp,
    ) -> Result<Vec<Move>, ServiceError> {
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        // On PostgreSQL the absent agent's rows are locked, so a concurrent change waits.
        let lock = if d == crate::sql::Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let loans: Vec<String> = tx
            .fetch_all(
                "reading an agent's loans",
                &format!(
                    "SELECT loan_id FROM assignments WHERE username = $1 ORDER BY loan_id{lock}"
                ),
                &[text(from)],
                &[Ty::Text],
            )
            .await?
            .iter()
            .filter_map(|r| r[0].text().map(str::to_owned))
            .collect();
        if loans.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let agents: Vec<AgentLoad> = tx
            .fetch_all(
                "reading the agents",
                "SELECT u.username, (SELECT COUNT(*) FROM assignments a WHERE a.username = u.username) \
                 FROM users u WHERE u.role = 'agent' AND NOT u.disabled AND u.username <> $1 \
                 ORDER BY u.username",
                &[text(from)],
                &[Ty::Text, Ty::Int],
            )
            .await?
            .iter()
            .map(|r| AgentLoad {
                username: r[0].text().unwrap_or_default().to_owned(),
                loans: u64::try_from(r[1].int().unwrap_or(0)).unwrap_or(0),
            })
            .collect();
        if agents.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "there is no active agent besides {from:?} to take their loans"
            )));
        }
        let moves = spread(&loans, &agents);
        apply(&mut tx, &moves, actor, "assign.rebalance", at).await?;
        tx.commit().await?;
        Ok(moves)
    }
}

/// The writes of one allocation, inside the caller's transaction.
async fn apply(
    tx: &mut Tx,
    moves: &[Move],
    actor: &str,
    action: &str,
    at: Timestamp,
) -> Result<u64, ServiceError> {
    if moves.len() > MAX_MOVES {
        return Err(ServiceError::Invalid(format!(
            "{} loans in one allocation; at most {MAX_MOVES}",
            moves.len()
        )));
    }
    // The last move of each loan, grouped by agent.
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for m in moves {
        last.insert(m.loan_id.as_str(), m.agent.as_str());
    }
    let mut by_agent: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (loan, agent) in &last {
        by_agent.entry(agent).or_default().push(loan);
    }
    let d = tx.dialect();
    let mut total = 0u64;
    for (agent, loans) in &by_agent {
        let ok = tx
            .fetch_all(
                "looking up an agent",
                "SELECT username FROM users WHERE username = $1 AND role = 'agent' AND NOT disabled",
                &[text(agent)],
                &[Ty::Text],
            )
            .await?;
        if ok.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "there is no active agent {agent:?}"
            )));
        }
        let set = text(&json_array(loans.iter().copied()));
        let n = tx
            .exec(
                "assigning loans",
                &format!(
                    "INSERT INTO assignments (loan_id, username, assigned_at) \
                     SELECT l.loan_id, $2, {} FROM loans l WHERE l.loan_id IN {} \
                     ON CONFLICT (loan_id) DO UPDATE SET username = excluded.username, \
                     assigned_at = excluded.assigned_at",
                    d.param(3, Ty::Ts),
                    d.json_set(1)
                ),
                &[set.clone(), text(agent), ts(at)],
            )
            .await?;
        if n != u64::try_from(loans.len()).unwrap_or(u64::MAX) {
            // Some loan is not stored: name the first, and change nothing.
            let known = tx
                .fetch_all(
                    "looking up loans",
                    &format!(
                        "SELECT loan_id FROM loans WHERE loan_id IN {}",
                        d.json_set(1)
                    ),
                    &[set],
                    &[Ty::Text],
                )
                .await?;
            let known: std::collections::HashSet<&str> =
                known.iter().filter_map(|r| r[0].text()).collect();
            let missing = loans
                .iter()
                .find(|l| !known.contains(**l))
                .map_or_else(String::new, |l| (*l).to_owned());
            return Err(ServiceError::UnknownLoan(missing));
        }
        tx.exec(
            "logging an allocation",
            &format!(
                "INSERT INTO access_log (at, actor, action, borrower_id, loan_id) \
                 SELECT {}, $2, $3, l.borrower_id, l.loan_id FROM loans l WHERE l.loan_id IN {}",
                d.param(4, Ty::Ts),
                d.json_set(1)
            ),
            &[set, text(actor), text(action), ts(at)],
        )
        .await?;
        total = total.saturating_add(n);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_fills_the_lightest_agent_first() {
        let loans: Vec<String> = (1..=5).map(|i| format!("L{i}")).collect();
        let agents = [
            AgentLoad {
                username: "a".into(),
                loans: 3,
            },
            AgentLoad {
                username: "b".into(),
                loans: 0,
            },
            AgentLoad {
                username: "c".into(),
                loans: 1,
            },
        ];
        let m = spread(&loans, &agents);
        let to: Vec<&str> = m.iter().map(|m| m.agent.as_str()).collect();
        // b: 0→1, b/c tie at 1 → b (name), c 1→2, b 2→... ends a 3, b 3, c 3.
        assert_eq!(to, ["b", "b", "c", "b", "c"]);
        assert!(spread(&loans, &[]).is_empty());
    }
}
