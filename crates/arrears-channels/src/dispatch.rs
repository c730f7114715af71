//! Queueing permitted contacts in the store's outbox and draining it through the channels.
//!
//! Order of a send, and why nothing is lost or sent twice by us: the row exists before
//! anything is sent (`enqueue`); a worker claims it under a lease, which counts an attempt;
//! it checks the contact again at send time over the store's current facts (so a
//! cease-contact or a dispute since the plan stops it), sends it with the row's idempotency
//! key (and, for e-mail, the Message-ID derived from the row id), then marks it. A worker
//! that dies between the claim and the mark leaves the row `claimed`; once the lease runs
//! out the next claim takes it over and sends it again with the same key and Message-ID, so
//! the receiver can drop the repeat. That is at-least-once delivery with idempotency keys;
//! exactly-once is impossible across a network (the worker cannot know whether a send whose
//! answer it never got arrived).

use crate::{Channel, Outgoing, SendError};
use arrears_policy::{Decision, Message, PackSet, PermittedContact, ProposedContact};
use arrears_store::{Enqueued, NewOutboxMessage, OutboxRow, Release, Store, StoreError};
use jiff::{SignedDuration, Timestamp};

/// A dispatcher failure: the store failed (a send failure is not an error; it is recorded
/// on its row).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the contact cannot be queued: {0}")]
    NotQueueable(String),
}

/// Exponential backoff: attempt `n` (1-based) that failed is retried after
/// `base * 2^(n-1)`, at most `max`; after `max_attempts` attempts the row is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: SignedDuration,
    pub max: SignedDuration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: SignedDuration::from_secs(30),
            max: SignedDuration::from_hours(1),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// The wait after the `attempt`-th failed attempt.
    pub fn delay(&self, attempt: u32) -> SignedDuration {
        let exp = attempt.saturating_sub(1).min(30);
        let factor = 1i32 << exp;
        self.base
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// What one pass did, by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub claimed: u32,
    pub sent: u32,
    pub retried: u32,
    pub dead: u32,
    pub deferred: u32,
    pub blocked: u32,
    pub expired: u32,
    /// Rows whose lease ran out before they were marked (another worker has them).
    pub lost: u32,
}

/// Drains the outbox through a set of channels.
#[derive(Debug)]
pub struct Dispatcher<'a> {
    pub store: &'a Store,
    pub packs: &'a PackSet,
    pub channels: Vec<Box<dyn Channel>>,
    /// Names this worker's leases (unique per process).
    pub worker: String,
    /// How long a claim holds a row before another worker may take it over; longer than
    /// a send can take (the channels' timeouts).
    pub lease: SignedDuration,
    pub batch: u32,
    pub backoff: Backoff,
}

/// Stores `contact` in the outbox under `idempotency_key`, due at `not_before`. The text is
/// the one the engine vetted (`contact.message_text()`); `message` adds what a channel
/// needs beside it. A second call with the same key stores nothing.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue(
    store: &Store,
    contact: &PermittedContact,
    message: &Message,
    subject: Option<&str>,
    idempotency_key: &str,
    not_before: Timestamp,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Enqueued, DispatchError> {
    let channel = contact.channel();
    if !matches!(
        channel,
        arrears_policy::Channel::Sms
            | arrears_policy::Channel::Email
            | arrears_policy::Channel::Push
    ) {
        return Err(DispatchError::NotQueueable(format!(
            "{channel} is not sent through a channel"
        )));
    }
    let body = contact
        .message_text()
        .ok_or_else(|| DispatchError::NotQueueable("no vetted text".into()))?;
    let m = NewOutboxMessage {
        idempotency_key: idempotency_key.to_owned(),
        borrower_id: contact.borrower_id().as_str().to_owned(),
        loan_id: contact.loan_id().map(|l| l.as_str().to_owned()),
        channel: channel.code().to_owned(),
        party: contact.party().code().to_owned(),
        target: contact.target().map(|t| t.as_str().to_owned()),
        purpose: contact.purpose().to_string(),
        agency_id: contact.agency_id().map(str::to_owned),
        language: message.language.tag().to_owned(),
        lender_name: message.lender_name.clone(),
        verification_code: message.verification_code.clone(),
        subject: subject.map(str::to_owned),
        body: body.to_owned(),
        decided_at: contact.at(),
        jurisdiction: contact.jurisdiction().as_str().to_owned(),
        pack_version: contact.pack_version().to_owned(),
        policy: contact.policy().map(str::to_owned),
        enqueued_at: now,
        not_before,
        expires_at,
    };
    Ok(store.enqueue(&m).await?)
}

/// The contact a row proposes, rebuilt from its stored codes.
fn proposal(row: &OutboxRow) -> Result<ProposedContact, String> {
    let m = &row.message;
    arrears_app::ContactSpec {
        borrower_id: &m.borrower_id,
        loan_id: m.loan_id.as_deref(),
        channel: &m.channel,
        party: Some(&m.party),
        target: m.target.as_deref(),
        purpose: Some(&m.purpose),
        agency_id: m.agency_id.as_deref(),
        text: Some(&m.body),
        lender: Some(&m.lender_name),
        code: Some(&m.verification_code),
        language: Some(&m.language),
    }
    // The stored row carries the language it was enqueued with.
    .proposal(arrears_policy::Language::En)
    .map_err(|e| e.to_string())
}

impl Dispatcher<'_> {
    fn channel_for(&self, kind: arrears_policy::Channel) -> Option<&dyn Channel> {
        self.channels.iter().find(|c| c.carries(kind)).map(|c| &**c)
    }

    fn carried(&self) -> Vec<&'static str> {
        [
            arrears_policy::Channel::Email,
            arrears_policy::Channel::Sms,
            arrears_policy::Channel::Push,
        ]
        .into_iter()
        .filter(|k| self.channel_for(*k).is_some())
        .map(arrears_policy::Channel::code)
        .collect()
    }

    /// Claims one batch due at `now` and works it. `now` is the caller's clock (tests pass
    /// their own); each row is checked, sent and marked at it.
    pub async fn run_once(&self, now: Timestamp) -> Result<DispatchReport, DispatchError> {
        let mut report = DispatchReport::default();
        let carried = self.carried();
        if carried.is_empty() {
            return Ok(report);
        }
        let lease_until = now.saturating_add(self.lease).unwrap_or(now);
        let rows = self
            .store
            .claim_outbox(&self.worker, &carried, now, lease_until, self.batch)
            .await?;
        report.claimed = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        for row in &rows {
            let how = self.work(row, now).await?;
            match &how {
                Release::Sent { .. } => report.sent += 1,
                Release::Retry { .. } => report.retried += 1,
                Release::Dead { .. } => report.dead += 1,
                Release::Defer { .. } => report.deferred += 1,
                Release::Blocked { .. } => report.blocked += 1,
                Release::Expired => report.expired += 1,
            }
            if !self
                .store
                .release_outbox(row.outbox_id, &self.worker, &how)
                .await?
            {
                tracing::warn!(
                    outbox_id = row.outbox_id,
                    "lease lost before the row was marked"
                );
                report.lost += 1;
            }
        }
        Ok(report)
    }

    /// What became of one claimed row.
    async fn work(&self, row: &OutboxRow, now: Timestamp) -> Result<Release, DispatchError> {
        if row.message.expires_at.is_some_and(|e| e < now) {
            return Ok(Release::Expired);
        }
        if arrears_policy::is_access_purpose(&row.message.purpose) {
            return self.work_access(row, now).await;
        }
        let proposed = match proposal(row) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Release::Dead {
                    error: format!("stored row does not read back: {e}"),
                });
            }
        };
        // A legal letter goes only while the real record it is bound to still matches
        // (docs/legal.md): a case closed or filed since it was queued stops it.
        if let Some(r) = arrears_app::legal::letter_still_matches(
            self.store,
            &row.message.idempotency_key,
            row.message.loan_id.as_deref(),
        )
        .await?
        {
            return Ok(Release::Blocked {
                reason: format!(
                    "refused at send time by {}: {}",
                    r.rule_ids.join(" "),
                    r.detail
                ),
            });
        }
        let Some(bc) = self
            .store
            .borrower_contacts(&row.message.borrower_id)
            .await?
        else {
            return Ok(Release::Blocked {
                reason: "the borrower is no longer stored".into(),
            });
        };
        // The same decision context and decision as the pre-contact check and the planner:
        // opt-outs, hours, holds and notices recorded since the message was queued count.
        let ctx = arrears_app::from_store(&bc);
        let permitted = match arrears_app::decide(&proposed, &ctx, now, self.packs) {
            Decision::Allow(p) => p,
            Decision::Deny {
                rule_ids,
                earliest_allowed,
            } => {
                let rules: Vec<&str> = rule_ids.iter().map(|r| r.as_str()).collect();
                let reason = format!("refused at send time by {}", rules.join(" "));
                return Ok(match earliest_allowed {
                    Some(until) if row.message.expires_at.is_none_or(|e| until <= e) => {
                        Release::Defer { until, reason }
                    }
                    Some(_) => Release::Expired,
                    None => Release::Blocked { reason },
                });
            }
        };
        let Some(channel) = self.channel_for(permitted.channel()) else {
            return Ok(Release::Retry {
                retry_at: now
                    .saturating_add(self.backoff.delay(row.attempts))
                    .unwrap_or(now),
                error: "no channel configured".into(),
            });
        };
        let outgoing = Outgoing {
            outbox_id: row.outbox_id,
            subject: row.message.subject.clone(),
            lender_name: row.message.lender_name.clone(),
            verification_code: row.message.verification_code.clone(),
            language: row.message.language.clone(),
        };
        let key = &row.message.idempotency_key;
        let sent = channel.send(&permitted, &outgoing, key).await;
        Ok(self.after_send(sent, row, now))
    }

    /// What a send's result makes of its row: sent, retried with backoff (until the last
    /// attempt), or dead.
    fn after_send(&self, sent: Result<(), SendError>, row: &OutboxRow, now: Timestamp) -> Release {
        match sent {
            Ok(()) => Release::Sent { at: now },
            Err(SendError::Retryable(e)) if row.attempts < self.backoff.max_attempts => {
                Release::Retry {
                    retry_at: now
                        .saturating_add(self.backoff.delay(row.attempts))
                        .unwrap_or(now),
                    error: e,
                }
            }
            Err(SendError::Retryable(e)) => Release::Dead {
                error: format!("gave up after {} attempts: {e}", row.attempts),
            },
            Err(SendError::Permanent(e)) => Release::Dead { error: e },
        }
    }

    /// A way into the portal: not a collection contact, so not judged by the packs, but its
    /// message is written again from the stored secret by `arrears_policy::access_message`
    /// over the borrower's facts now (still their own target, not deceased) before it goes.
    async fn work_access(&self, row: &OutboxRow, now: Timestamp) -> Result<Release, DispatchError> {
        let m = &row.message;
        let refused = |reason: String| Ok(Release::Blocked { reason });
        let Some(secret) = arrears_policy::AccessSecret::of(&m.purpose, &m.verification_code)
        else {
            return refused("not a portal sign-in message".into());
        };
        let (Ok(kind), Some(Ok(target)), Ok(language)) = (
            arrears_policy::Channel::parse(&m.channel),
            m.target.as_deref().map(arrears_policy::Target::parse),
            arrears_policy::Language::parse(&m.language),
        ) else {
            return Ok(Release::Dead {
                error: "stored sign-in message does not read back".into(),
            });
        };
        let Some(bc) = self.store.borrower_contacts(&m.borrower_id).await? else {
            return refused("the borrower is no longer stored".into());
        };
        let facts = arrears_app::from_store(&bc).facts;
        let message = match arrears_policy::access_message(
            &facts,
            kind,
            &target,
            &secret,
            language,
            &m.lender_name,
        ) {
            Ok(msg) => msg,
            Err(e) => return refused(format!("refused at send time: {e}")),
        };
        let Some(channel) = self.channel_for(kind) else {
            return Ok(Release::Retry {
                retry_at: now
                    .saturating_add(self.backoff.delay(row.attempts))
                    .unwrap_or(now),
                error: "no channel configured".into(),
            });
        };
        let outgoing = Outgoing {
            outbox_id: row.outbox_id,
            subject: Some(message.subject().to_owned()),
            lender_name: m.lender_name.clone(),
            verification_code: String::new(),
            language: m.language.clone(),
        };
        let sent = channel
            .send_access(&message, &outgoing, &m.idempotency_key)
            .await;
        Ok(self.after_send(sent, row, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            base: SignedDuration::from_secs(10),
            max: SignedDuration::from_secs(100),
            max_attempts: 5,
        };
        let secs: Vec<i64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 100, 100]);
        assert_eq!(b.delay(u32::MAX).as_secs(), 100);
    }
}
