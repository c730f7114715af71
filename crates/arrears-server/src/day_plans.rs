//! The day's plan, made once per business date and shared by every caller of `/v1/plan`
//! and `/v1/queues` (issue 16: planning the whole book on every call let one client keep
//! the server busy). The first request for a date makes it; requests that arrive meanwhile
//! wait for that one making, not a making of their own; the plans of the last
//! [`KEPT_DATES`] dates are kept. Like the pages' plan (`workbench.rs`) it is the morning's
//! plan: what happens during the day is not planned again. A change of the lender's policy
//! in force clears it. Each made plan has a tag, so a page cursor from a plan made earlier
//! is recognised and refused instead of skipping or repeating rows.

use jiff::civil::Date;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// How many business dates' plans are kept.
pub const KEPT_DATES: usize = 3;

/// A made plan with its tag (unique in this process).
#[derive(Debug)]
pub struct Made<T> {
    pub tag: u64,
    pub value: T,
}

type Slot<T> = Arc<OnceCell<Arc<Made<T>>>>;

/// Plans by business date.
#[derive(Debug)]
pub struct DayPlans<T> {
    days: Mutex<Vec<(Date, Slot<T>)>>,
    makings: AtomicU64,
}

impl<T> Default for DayPlans<T> {
    fn default() -> DayPlans<T> {
        DayPlans {
            days: Mutex::new(Vec::new()),
            makings: AtomicU64::new(0),
        }
    }
}

impl<T> DayPlans<T> {
    fn slot(&self, as_of: Date) -> Slot<T> {
        let mut days = match self.days.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        if let Some((_, s)) = days.iter().find(|(d, _)| *d == as_of) {
            return s.clone();
        }
        let s: Slot<T> = Arc::new(OnceCell::new());
        days.push((as_of, s.clone()));
        let extra = days.len().saturating_sub(KEPT_DATES);
        days.drain(..extra);
        s
    }

    /// The plan of `as_of`, made by `make` if no plan of that date is kept (once, however
    /// many ask at the same time; a failed making is tried again by the next request).
    pub async fn get_or_make<E, F, Fut>(&self, as_of: Date, make: F) -> Result<Arc<Made<T>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let slot = self.slot(as_of);
        slot.get_or_try_init(|| async {
            let value = make().await?;
            let tag = self.makings.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Arc::new(Made { tag, value }))
        })
        .await
        .cloned()
    }

    /// How many plans were made so far (a test counts the makings).
    pub fn makings(&self) -> u64 {
        self.makings.load(Ordering::SeqCst)
    }

    /// Forgets every plan (the policy in force changed).
    pub fn clear(&self) {
        let mut days = match self.days.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        days.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_date_is_made_once_for_concurrent_callers() {
        let plans: Arc<DayPlans<u32>> = Arc::new(DayPlans::default());
        let d: Date = "2026-11-30".parse().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let plans = plans.clone();
            tasks.push(tokio::spawn(async move {
                plans
                    .get_or_make(d, || async {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        Ok::<u32, ()>(7)
                    })
                    .await
                    .unwrap()
                    .tag
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        assert_eq!(plans.makings(), 1);
        let failed = plans
            .get_or_make("2026-12-01".parse().unwrap(), || async {
                Err::<u32, _>("no")
            })
            .await;
        assert!(failed.is_err());
        for day in ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"] {
            let _ = plans
                .get_or_make(day.parse().unwrap(), || async { Ok::<u32, ()>(1) })
                .await;
        }
        assert_eq!(plans.makings(), 5, "the failed date was made again");
        let again = plans
            .get_or_make(d, || async { Ok::<u32, ()>(8) })
            .await
            .unwrap();
        assert_eq!(
            again.value, 8,
            "{} dates kept: the oldest is made again",
            KEPT_DATES
        );
    }
}
