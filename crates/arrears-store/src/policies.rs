//! The versions of the lender's policy (`policies`, migration 0010): each is kept as given
//! (the caller validates it before storing; the store does not parse it), with its SHA-256,
//! the date it takes effect, when it was set and by whom. Append-only: a change is a new
//! version.

use crate::lifecycle::LifecycleError;
use crate::schema::{date_text, text, ts};
use crate::sql::{Cell, Ty};
use crate::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use sha2::{Digest, Sha256};

/// One stored version of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// 1, 2, … in the order set.
    pub version: i64,
    pub effective_from: Date,
    pub text: String,
    /// SHA-256 of `text` (lower-case hex).
    pub sha256: String,
    pub set_at: Timestamp,
    pub actor: String,
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const POLICY_TYS: [Ty; 6] = [Ty::Int, Ty::Date, Ty::Text, Ty::Text, Ty::Ts, Ty::Text];

fn policy_select(d: crate::sql::Dialect) -> String {
    format!(
        "SELECT {}, {}, text, sha256, {}, actor FROM policies",
        d.select("version", Ty::Int),
        d.select("effective_from", Ty::Date),
        d.select("set_at", Ty::Ts)
    )
}

fn policy_row(r: &[Cell]) -> Result<StoredPolicy, StoreError> {
    let version = r.first().and_then(Cell::int).unwrap_or_default();
    let bad = |column: &'static str, detail: String| StoreError::Corrupt {
        table: "policies",
        key: version.to_string(),
        column,
        detail,
    };
    let t = |i: usize| r.get(i).and_then(Cell::text).unwrap_or_default();
    Ok(StoredPolicy {
        version,
        effective_from: t(1)
            .parse()
            .map_err(|e| bad("effective_from", format!("{:?}: {e}", t(1))))?,
        text: t(2).to_owned(),
        sha256: t(3).to_owned(),
        set_at: t(4)
            .parse()
            .map_err(|e| bad("set_at", format!("{:?}: {e}", t(4))))?,
        actor: t(5).to_owned(),
    })
}

impl Store {
    /// Stores a new version of the policy, in force from `effective_from`; its version.
    /// `actor` has 1 to 128 bytes.
    pub async fn set_policy(
        &self,
        policy_text: &str,
        effective_from: Date,
        actor: &str,
        at: Timestamp,
    ) -> Result<i64, LifecycleError> {
        if actor.is_empty() || actor.len() > 128 {
            return Err(LifecycleError::Invalid(format!(
                "actor {actor:?} must have 1 to 128 bytes"
            )));
        }
        let mut tx = self.begin().await?;
        let d = tx.dialect();
        let rows = tx
            .fetch_all(
                "storing a policy",
                &format!(
                    "INSERT INTO policies (effective_from, text, sha256, set_at, actor) \
                     VALUES ({}, $2, $3, {}, $5) RETURNING {}",
                    d.param(1, Ty::Date),
                    d.param(4, Ty::Ts),
                    d.select("version", Ty::Int)
                ),
                &[
                    text(&date_text(effective_from)),
                    text(policy_text),
                    text(&sha256_hex(policy_text)),
                    ts(at),
                    text(actor),
                ],
                &[Ty::Int],
            )
            .await?;
        let version = rows
            .first()
            .and_then(|r| r[0].int())
            .ok_or_else(|| StoreError::Internal("a policy stored without a version".into()))?;
        tx.commit().await?;
        Ok(version)
    }

    /// The policy in force on `on`: of the versions effective on or before it, the one with
    /// the latest `effective_from` (of several from the same date, the highest version).
    pub async fn policy_in_force(&self, on: Date) -> Result<Option<StoredPolicy>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the policy in force",
                &format!(
                    "{} WHERE effective_from <= {} ORDER BY effective_from DESC, version DESC \
                     LIMIT 1",
                    policy_select(d),
                    d.param(1, Ty::Date)
                ),
                &[text(&date_text(on))],
                &POLICY_TYS,
            )
            .await?;
        rows.first().map(|r| policy_row(r)).transpose()
    }

    /// Every version of the policy, oldest first.
    pub async fn policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        let d = self.dialect();
        let rows = self
            .fetch_once(
                "reading the policies",
                &format!("{} ORDER BY version", policy_select(d)),
                &[],
                &POLICY_TYS,
            )
            .await?;
        rows.iter().map(|r| policy_row(r)).collect()
    }
}
