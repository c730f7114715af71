//! The event writer: payments and contacts that arrive together are recorded together, a
//! few statements and commits for the lot (`Store::ingest_batch_deciding`) instead of one
//! transaction each. Payments and inbound contacts need no decision; the outbound contacts
//! of different borrowers are decided together, each over its own borrower's facts read
//! under that borrower's lock, by the same decision a single contact gets.
//!
//! A handler hands its event to [`EventBatcher::record`] and waits for that event's own
//! outcome, which is given only after the statement holding it has committed: an answer
//! never says "recorded" for an event a crash could lose. Writers (a few tasks, started on
//! first use) each take every event waiting in the queue, up to [`BATCH_MAX`]: while one
//! commits, the next gathers. With no concurrency a batch is one event, recorded by the
//! single-event path; the batching only shows under load.

use crate::api::Denied;
use arrears_store::{BorrowerContacts, Ingested, QueuedEvent, ServiceError, Store, StoreError};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most events one statement takes.
pub const BATCH_MAX: usize = 256;
/// Events that may wait for a writer before `record` itself waits (backpressure).
const QUEUE: usize = 8 * 1024;
/// Writer tasks by default: two, so that one batch is gathered and sent while the other
/// executes and commits. More writers make smaller batches, and on two cores each statement's
/// fixed cost then outweighs the overlap (docs/performance.md, "Fifth run").
pub const DEFAULT_WRITERS: usize = 2;

/// What one event came to.
pub(crate) type Outcome = Result<Ingested<Denied>, ServiceError>;
/// The decision over an outbound contact, given its borrower's facts and history.
pub(crate) type Decider = Box<dyn Fn(&BorrowerContacts) -> Result<(), Denied> + Send + Sync>;
type Done = oneshot::Sender<Outcome>;
type Item = (QueuedEvent, Option<Decider>, Done);

/// The queue in front of the event writers.
#[derive(Debug)]
pub struct EventBatcher {
    store: Store,
    writers: usize,
    queue: OnceLock<mpsc::Sender<Item>>,
}

fn stopped() -> Outcome {
    Err(StoreError::Internal("the event writer has stopped".into()).into())
}

impl EventBatcher {
    pub fn new(store: Store) -> EventBatcher {
        EventBatcher::with_writers(store, DEFAULT_WRITERS)
    }

    /// With `writers` writer tasks (at least 1).
    pub fn with_writers(store: Store, writers: usize) -> EventBatcher {
        EventBatcher {
            store,
            writers: writers.max(1),
            queue: OnceLock::new(),
        }
    }

    /// Records `event` (with whatever else is waiting), an outbound contact only if
    /// `decide` allows it (no decider: allowed); returns its outcome once committed.
    pub(crate) async fn record(&self, event: QueuedEvent, decide: Option<Decider>) -> Outcome {
        let queue = self.queue.get_or_init(|| self.start());
        let (done, outcome) = oneshot::channel();
        if queue.send((event, decide, done)).await.is_err() {
            return stopped();
        }
        outcome.await.unwrap_or_else(|_| stopped())
    }

    /// Starts the writers (called once, from inside the server's runtime).
    fn start(&self) -> mpsc::Sender<Item> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..self.writers {
            tokio::spawn(write_batches(self.store.clone(), Arc::clone(&rx)));
        }
        tx
    }
}

/// Times a writer that woke for one event lets the runtime run other tasks before it takes
/// what is waiting (see [`gather`]).
const GATHER_YIELDS: usize = 2;

/// Waits for at least one event, then takes every event waiting, up to [`BATCH_MAX`]; 0 once
/// the queue is closed. The first event of a burst wakes the writer before the handlers of
/// the rest, already runnable, have queued theirs: a writer that took just that one would
/// spend a whole transaction on it and leave the rest to the next. So a writer with a short
/// batch yields a few times first (a few microseconds when nothing else is runnable).
async fn gather(rx: &mut mpsc::Receiver<Item>, batch: &mut Vec<Item>) -> usize {
    if rx.recv_many(batch, BATCH_MAX).await == 0 {
        return 0;
    }
    for _ in 0..GATHER_YIELDS {
        if batch.len() >= BATCH_MAX {
            break;
        }
        tokio::task::yield_now().await;
        while batch.len() < BATCH_MAX {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
    }
    batch.len()
}

async fn write_batches(store: Store, rx: Arc<Mutex<mpsc::Receiver<Item>>>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        // Only the gathering is under the lock; the statement runs while another writer
        // gathers the next events.
        let n = gather(&mut *rx.lock().await, &mut batch).await;
        if n == 0 {
            return;
        }
        let mut events = Vec::with_capacity(n);
        let mut deciders = Vec::with_capacity(n);
        let mut waiters = Vec::with_capacity(n);
        for (e, d, w) in batch.drain(..) {
            events.push(e);
            deciders.push(d);
            waiters.push(w);
        }
        let decide = |i: usize, bc: &BorrowerContacts| match deciders.get(i) {
            Some(Some(d)) => d(bc),
            _ => Ok(()),
        };
        let outcomes = store.ingest_batch_deciding(&events, &decide).await;
        for (w, o) in waiters.into_iter().zip(outcomes) {
            // A waiter that has gone (its client hung up) needs no answer.
            let _ = w.send(o);
        }
    }
}
