//! The access log writer: every read of a borrower's data is written to the store's access
//! log before the answer goes out, and requests that arrive together share one commit.
//!
//! A handler hands its entry to [`AccessLog::record`] and waits until the transaction that
//! holds it has committed, so an answer never leaves without its log entry (a crash loses
//! nothing that was answered). Writers (a few tasks, started on first use) each take every
//! entry waiting in the queue, up to [`BATCH_MAX`], and insert them in one transaction: under
//! load one commit serves hundreds of requests instead of each request paying its own.

use arrears_store::{Access, Store};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most entries one transaction takes.
pub const BATCH_MAX: usize = 1000;
/// Entries that may wait for a writer before `record` itself waits (backpressure).
const QUEUE: usize = 16 * 1024;
/// Writer tasks: while one commits, another gathers the next batch.
const WRITERS: usize = 2;

type Done = oneshot::Sender<Result<(), String>>;

/// The queue in front of the access log writers.
#[derive(Debug)]
pub struct AccessLog {
    store: Store,
    queue: OnceLock<mpsc::Sender<(Access, Done)>>,
}

impl AccessLog {
    pub fn new(store: Store) -> AccessLog {
        AccessLog {
            store,
            queue: OnceLock::new(),
        }
    }

    /// Writes `entry`; returns once it is committed (or the reason it could not be).
    pub async fn record(&self, entry: Access) -> Result<(), String> {
        let queue = self.queue.get_or_init(|| self.start());
        let (done, committed) = oneshot::channel();
        queue
            .send((entry, done))
            .await
            .map_err(|_| "the access log writer has stopped".to_owned())?;
        committed
            .await
            .map_err(|_| "the access log writer has stopped".to_owned())?
    }

    /// Starts the writers (called once, from inside the server's runtime).
    fn start(&self) -> mpsc::Sender<(Access, Done)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(self.store.clone(), Arc::clone(&rx)));
        }
        tx
    }
}

async fn write_batches(store: Store, rx: Arc<Mutex<mpsc::Receiver<(Access, Done)>>>) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        // Only the gathering is under the lock; the commit runs while another writer waits
        // for the next entries.
        let n = rx.lock().await.recv_many(&mut batch, BATCH_MAX).await;
        if n == 0 {
            return;
        }
        let (entries, waiters): (Vec<Access>, Vec<Done>) = batch.drain(..).unzip();
        let result = store
            .log_accesses(&entries)
            .await
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, entries = entries.len(), "could not write the access log");
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}
