//! Borrowers' facts kept in memory for the pre-contact check (`POST /v1/contacts/check`),
//! the one route a dialer or gateway calls before every call and message.
//!
//! The cache holds what [`arrears_store::Store::borrower_contacts`] reads for a borrower
//! (their row, loan ids, contacts and portal preferences) and is kept true by the store's
//! change notifications (PostgreSQL `LISTEN arrears_facts`, migration `0008_facts_notify`):
//! whoever changes a borrower's rows — this server, another instance, an import — the
//! borrower's entry is dropped when the change commits, and read again on the next check.
//! Writes this server makes drop the entry themselves as soon as the store returns, so a
//! check after a recorded contact sees it without waiting for the notification.
//!
//! Invariants:
//! - An entry is only ever put from a read that began after the last change to that
//!   borrower the cache heard of: each shard has an epoch, bumped by every invalidation in
//!   it; a read notes the epoch before it starts and its result is dropped if the epoch
//!   moved (so a read that raced a change never lands after the change's invalidation).
//! - The cache answers nothing unless a listener is established; a lost listener disables
//!   it and clears it, and it is enabled again only after a new listener is in place.
//! - `POST /v1/contacts` never uses it: recording a contact re-reads the facts under the
//!   borrower's lock and decides again, so a stale check can never record a denied contact.
//!
//! On SQLite there are no notifications, and the cache stays disabled (every check reads the
//! embedded store, which is local anyway).

use arrears_store::{BorrowerContacts, FactsChange, Store};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 64;

#[derive(Debug, Default)]
struct ShardState {
    map: HashMap<Box<str>, Arc<BorrowerContacts>>,
    epoch: u64,
}

/// What the cache did, for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheCounts {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub invalidations: AtomicU64,
    pub clears: AtomicU64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct FactsCache {
    shards: Box<[Mutex<ShardState>]>,
    hasher: RandomState,
    /// At most this many borrowers per shard (beyond it, reads are not kept).
    per_shard: usize,
    enabled: AtomicBool,
    /// Borrowers changed while a preload runs (their preloaded facts are not kept); `None`
    /// when no preload runs. A clear during a preload ends it (`aborted`).
    preload: Mutex<Option<HashSet<String>>>,
    preload_aborted: AtomicBool,
    pub counts: CacheCounts,
}

impl FactsCache {
    /// A disabled cache for at most `capacity` borrowers (0: never keeps anything).
    pub fn new(capacity: usize) -> FactsCache {
        FactsCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(ShardState::default()))
                .collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS),
            enabled: AtomicBool::new(false),
            preload: Mutex::new(None),
            preload_aborted: AtomicBool::new(false),
            counts: CacheCounts::default(),
        }
    }

    fn shard(&self, borrower_id: &str) -> &Mutex<ShardState> {
        let h = self.hasher.hash_one(borrower_id);
        // The modulus is below SHARDS, so the index is in range.
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// Whether the cache answers.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// The number of borrowers held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.map.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The borrower's facts if held (and the cache is enabled).
    pub fn get(&self, borrower_id: &str) -> Option<Arc<BorrowerContacts>> {
        if !self.enabled() {
            return None;
        }
        let hit = self
            .shard(borrower_id)
            .lock()
            .ok()
            .and_then(|s| s.map.get(borrower_id).cloned());
        let c = if hit.is_some() {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The epoch of the borrower's shard, to note before a read of the store.
    pub fn epoch(&self, borrower_id: &str) -> u64 {
        self.shard(borrower_id).lock().map_or(u64::MAX, |s| s.epoch)
    }

    /// Keeps `bc`, read after `epoch` was noted, unless something changed in its shard since
    /// (or the cache is disabled or full).
    pub fn put(&self, epoch: u64, bc: Arc<BorrowerContacts>) {
        if !self.enabled() {
            return;
        }
        let id = bc.borrower.id.as_str();
        if let Ok(mut s) = self.shard(id).lock()
            && s.epoch == epoch
            && (s.map.len() < self.per_shard || s.map.contains_key(id))
        {
            s.map.insert(id.into(), bc);
        }
    }

    /// Drops what is held of a borrower whose rows changed.
    pub fn invalidate(&self, borrower_id: &str) {
        if let Ok(mut s) = self.shard(borrower_id).lock() {
            s.map.remove(borrower_id);
            s.epoch = s.epoch.wrapping_add(1);
        }
        if let Ok(mut p) = self.preload.lock()
            && let Some(changed) = p.as_mut()
        {
            changed.insert(borrower_id.to_owned());
        }
        self.counts.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops everything (anything may have changed).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            if let Ok(mut s) = shard.lock() {
                s.map = HashMap::new();
                s.epoch = s.epoch.wrapping_add(1);
            }
        }
        self.preload_aborted.store(true, Ordering::Release);
        self.counts.clears.fetch_add(1, Ordering::Relaxed);
    }

    /// The cache's lines of `/metrics` (Prometheus text format).
    pub fn render(&self) -> String {
        let c = &self.counts;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP arrears_facts_cache_enabled Whether the check's facts cache answers (1) or is off (0).\n\
             # TYPE arrears_facts_cache_enabled gauge\n\
             arrears_facts_cache_enabled {}\n\
             # HELP arrears_facts_cache_borrowers Borrowers whose facts are held.\n\
             # TYPE arrears_facts_cache_borrowers gauge\n\
             arrears_facts_cache_borrowers {}\n\
             # HELP arrears_facts_cache_lookups_total Checks that looked in the cache, by result.\n\
             # TYPE arrears_facts_cache_lookups_total counter\n\
             arrears_facts_cache_lookups_total{{result=\"hit\"}} {}\n\
             arrears_facts_cache_lookups_total{{result=\"miss\"}} {}\n\
             # HELP arrears_facts_cache_invalidations_total Borrowers dropped because their rows changed.\n\
             # TYPE arrears_facts_cache_invalidations_total counter\n\
             arrears_facts_cache_invalidations_total {}\n\
             # HELP arrears_facts_cache_clears_total Times everything was dropped.\n\
             # TYPE arrears_facts_cache_clears_total counter\n\
             arrears_facts_cache_clears_total {}\n",
            u8::from(self.enabled()),
            self.len(),
            n(&c.hits),
            n(&c.misses),
            n(&c.invalidations),
            n(&c.clears),
        )
    }

    fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
    }

    fn begin_preload(&self) {
        self.preload_aborted.store(false, Ordering::Release);
        if let Ok(mut p) = self.preload.lock() {
            *p = Some(HashSet::new());
        }
    }

    /// Keeps a preloaded borrower unless it changed since the preload began.
    fn preloaded(&self, bc: BorrowerContacts) {
        if self.preload_aborted.load(Ordering::Acquire) || !self.enabled() {
            return;
        }
        let changed = self.preload.lock().is_ok_and(|p| {
            p.as_ref()
                .is_some_and(|c| c.contains(bc.borrower.id.as_str()))
        });
        if changed {
            return;
        }
        let id = bc.borrower.id.as_str().to_owned();
        if let Ok(mut s) = self.shard(&id).lock()
            && (s.map.len() < self.per_shard)
        {
            s.map.entry(id.into()).or_insert_with(|| Arc::new(bc));
        }
    }

    fn end_preload(&self) {
        if let Ok(mut p) = self.preload.lock() {
            *p = None;
        }
    }
}

/// Listens for changes and keeps `cache` true for as long as the server runs (see the module
/// documentation); with `preload`, fills it with every borrower once the listener is up. On
/// SQLite it returns at once and the cache stays disabled.
pub async fn maintain(cache: Arc<FactsCache>, store: Store, preload: bool) {
    let mut first = true;
    loop {
        let mut watch = match store.watch_facts().await {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the facts cache cannot listen for changes; retrying in 1 s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        // Whatever was read before this listener was up may be stale.
        cache.clear();
        cache.set_enabled(true);
        tracing::info!("facts cache listening for changes");
        if preload && first {
            first = false;
            let (cache, store) = (cache.clone(), store.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                cache.begin_preload();
                let r = store.all_borrower_contacts(|bc| cache.preloaded(bc)).await;
                cache.end_preload();
                match r {
                    Ok(n) => tracing::info!(
                        borrowers = n,
                        held = cache.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "facts cache preloaded"
                    ),
                    Err(e) => tracing::warn!(error = %e, "facts cache preload failed"),
                }
            });
        }
        loop {
            match watch.next().await {
                Ok(FactsChange::Borrower(b)) => cache.invalidate(&b),
                Ok(FactsChange::All) => {
                    // A truncate, or the connection dropped: start over with a new listener.
                    cache.set_enabled(false);
                    cache.clear();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the facts cache lost its listener");
                    cache.set_enabled(false);
                    cache.clear();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrears_domain::types::BorrowerId;
    use arrears_domain::{BorrowerRow, Jurisdiction, TimeZoneName};

    fn facts(id: &str, name: &str) -> Arc<BorrowerContacts> {
        Arc::new(BorrowerContacts {
            borrower: BorrowerRow {
                id: BorrowerId::parse("borrower_id", id).unwrap(),
                name: name.into(),
                phone: None,
                email: None,
                timezone: TimeZoneName::utc(),
                jurisdiction: Jurisdiction::parse("jurisdiction", "US").unwrap(),
                language: None,
                deceased: false,
                bankrupt: false,
                cease_contact: false,
                phone_timezone: None,
                dispute_open: false,
                hardship: false,
                breathing_space_until: None,
                attorney_phone: None,
                attorney_email: None,
            },
            loan_ids: Vec::new(),
            contacts: Vec::new(),
            preferences: None,
            loans: Vec::new(),
            lifecycle: arrears_domain::Lifecycle::default(),
        })
    }

    #[test]
    fn a_disabled_cache_answers_nothing_and_keeps_nothing() {
        let c = FactsCache::new(100);
        let e = c.epoch("B1");
        c.put(e, facts("B1", "a"));
        assert!(c.get("B1").is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let c = FactsCache::new(100);
        c.set_enabled(true);
        let e = c.epoch("B1");
        // The change lands (and is heard of) while the read is under way.
        c.invalidate("B1");
        c.put(e, facts("B1", "stale"));
        assert!(c.get("B1").is_none());
        // A read begun after it is kept.
        let e = c.epoch("B1");
        c.put(e, facts("B1", "fresh"));
        assert_eq!(&*c.get("B1").unwrap().borrower.name, "fresh");
        // And dropped by the next change.
        c.invalidate("B1");
        assert!(c.get("B1").is_none());
    }

    #[test]
    fn a_clear_drops_everything_and_outdates_reads_under_way() {
        let c = FactsCache::new(100);
        c.set_enabled(true);
        let e1 = c.epoch("B1");
        c.put(e1, facts("B1", "a"));
        let e2 = c.epoch("B2");
        c.clear();
        c.put(e2, facts("B2", "b"));
        assert!(c.get("B1").is_none() && c.get("B2").is_none());
    }

    #[test]
    fn a_preload_skips_borrowers_changed_while_it_ran() {
        let c = FactsCache::new(100);
        c.set_enabled(true);
        c.begin_preload();
        c.invalidate("B2");
        c.preloaded((*facts("B1", "a")).clone());
        c.preloaded((*facts("B2", "old")).clone());
        c.end_preload();
        assert!(c.get("B1").is_some());
        assert!(c.get("B2").is_none());
        // A clear during a preload ends what it keeps.
        c.begin_preload();
        c.clear();
        c.preloaded((*facts("B3", "c")).clone());
        c.end_preload();
        assert!(c.get("B3").is_none());
    }

    #[test]
    fn the_capacity_bounds_what_is_kept() {
        let c = FactsCache::new(SHARDS);
        c.set_enabled(true);
        for i in 0..1000 {
            let id = format!("B{i}");
            let e = c.epoch(&id);
            c.put(e, facts(&id, "x"));
        }
        // One per shard at most.
        assert!(c.len() <= SHARDS, "{}", c.len());
        assert!(!c.is_empty());
    }
}
