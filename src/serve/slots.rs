//! The connection slots every listener shares. When all are taken, a new
//! connection takes the slot of the connection whose client has been quiet
//! longest, as nginx reuses idle keep-alive connections when it runs short:
//! otherwise a few clients that send one small request every few seconds on
//! keep-alive connections (or dribble a request head) hold every slot for
//! as long as they like, and the API answers no one else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// How long a connection asked to give its slot back may finish its
/// current answer before it is dropped. Answers take microseconds; only a
/// client that does not read them, or a request head still arriving (which
/// hyper's graceful shutdown leaves alone), needs the cut.
pub const RECLAIM_GRACE: Duration = Duration::from_secs(1);

/// How long a new connection waits for the slot it asked for before it
/// asks the next quietest connection too (the first may have been given
/// to another listener's connection meanwhile).
const RECLAIM_RETRY: Duration = Duration::from_secs(2);

pub struct Slots {
    permits: Arc<Semaphore>,
    held: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

/// What the slots know of one connection.
pub struct Activity {
    /// Microseconds from [`Slots::epoch`] to when the client last sent
    /// bytes (or connected).
    last_heard_us: AtomicU64,
    epoch: Instant,
    asked: AtomicBool,
    /// Notified once, when the connection should give its slot back.
    pub reclaim: Notify,
}

impl Activity {
    /// The client sent something.
    pub fn heard(&self) {
        self.last_heard_us.store(micros_since(self.epoch), Relaxed);
    }
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    id: u64,
    slots: Arc<Slots>,
    pub activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.held().remove(&self.id);
    }
}

impl Slots {
    pub fn new(count: usize) -> Arc<Slots> {
        Arc::new(Slots {
            permits: Arc::new(Semaphore::new(count)),
            held: Mutex::new(HashMap::with_capacity(count.min(1 << 16))),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection just accepted: a free one, or else the
    /// quietest connection's, once it has closed.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        let permit = loop {
            match Arc::clone(&self.permits).try_acquire_owned() {
                Ok(p) => break p,
                // Never closed: the semaphore is private to `Slots`.
                Err(TryAcquireError::Closed) | Err(TryAcquireError::NoPermits) => {}
            }
            self.reclaim_quietest();
            let wait = Arc::clone(&self.permits).acquire_owned();
            if let Ok(Ok(p)) = tokio::time::timeout(RECLAIM_RETRY, wait).await {
                break p;
            }
        };
        let activity = Arc::new(Activity {
            last_heard_us: AtomicU64::new(micros_since(self.epoch)),
            epoch: self.epoch,
            asked: AtomicBool::new(false),
            reclaim: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Relaxed);
        self.held().insert(id, Arc::clone(&activity));
        Slot {
            _permit: permit,
            id,
            slots: Arc::clone(self),
            activity,
        }
    }

    /// Asks the connection heard from least recently, of those not asked
    /// yet, to give its slot back. A scan: it runs only when every slot is
    /// taken, and a slot's worth of work (a connection) dwarfs it.
    fn reclaim_quietest(&self) {
        let held = self.held();
        let quietest = held
            .values()
            .filter(|a| !a.asked.load(Relaxed))
            .min_by_key(|a| a.last_heard_us.load(Relaxed));
        if let Some(a) = quietest {
            a.asked.store(true, Relaxed);
            a.reclaim.notify_one();
        }
    }
}

fn micros_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros().try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every slot taken, the next connection asks the quietest one
    /// (not the one heard from last) and gets its slot once it is dropped.
    #[tokio::test]
    async fn a_full_house_asks_the_quietest_connection() {
        let slots = Slots::new(2);
        let quiet = slots.acquire().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let busy = slots.acquire().await;
        busy.activity.heard();
        let third = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move { slots.acquire().await })
        };
        tokio::time::timeout(Duration::from_secs(5), quiet.activity.reclaim.notified())
            .await
            .expect("the quietest connection was asked");
        assert!(!busy.activity.asked.load(Relaxed));
        assert!(!third.is_finished(), "a slot was handed out twice");
        drop(quiet);
        let third = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the freed slot was taken")
            .expect("task");
        assert_eq!(slots.held().len(), 2);
        drop((busy, third));
        assert!(slots.held().is_empty());
    }
}
