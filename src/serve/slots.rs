//! The connection slots every listener shares. When all are taken, a new
//! connection takes the slot of a connection that has been quiet (no byte
//! read or written) for at least [`MIN_QUIET`], the quietest first, as
//! nginx reuses idle keep-alive connections when it runs short: otherwise
//! a few clients that send one small request every few seconds on
//! keep-alive connections hold every slot for as long as they like, and
//! the API answers no one else. Busy connections are never cut: when every
//! one is busy, new ones wait for a slot, as under any overload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// How long a connection must have moved no byte either way before its
/// slot may be taken: longer than a busy client's pause between requests
/// or a response's pause between writes, shorter than the head timeout an
/// idle keep-alive client would otherwise hold its slot for.
pub const MIN_QUIET: Duration = Duration::from_secs(1);

/// How long a connection asked to give its slot back may finish its
/// current answer before it is dropped. Answers take microseconds; only a
/// client that does not read them, or a request head still arriving (which
/// hyper's graceful shutdown leaves alone), needs the cut.
pub const RECLAIM_GRACE: Duration = Duration::from_secs(1);

/// How often a new connection waiting for a slot looks again for a quiet
/// connection to take it from.
const RECLAIM_RETRY: Duration = Duration::from_millis(250);

pub struct Slots {
    permits: Arc<Semaphore>,
    held: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

/// What the slots know of one connection.
pub struct Activity {
    /// Microseconds from [`Slots::epoch`] to when bytes last moved either
    /// way (or the connection was accepted).
    last_active_us: AtomicU64,
    epoch: Instant,
    asked: AtomicBool,
    /// The last bytes that moved were written (an answer), none read since.
    answered: AtomicBool,
    /// Notified once, when the connection should give its slot back.
    pub reclaim: Notify,
}

impl Activity {
    /// Bytes moved: read from the client or written to it.
    pub fn touch(&self) {
        self.last_active_us.store(micros_since(self.epoch), Relaxed);
    }

    /// Bytes moved, written (`true`) or read.
    pub fn moved(&self, written: bool) {
        self.touch();
        self.answered.store(written, Relaxed);
    }

    /// Answered, and no byte of another request read since: a keep-alive
    /// connection waiting for its next request.
    pub fn between_requests(&self) -> bool {
        self.answered.load(Relaxed)
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

    /// A slot for a connection just accepted: a free one, or else a quiet
    /// connection's, once it has closed. `None` only if the slots were
    /// closed, which nothing does.
    pub async fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return None,
            // The scan runs only when every slot is held.
            Err(TryAcquireError::NoPermits) => loop {
                self.reclaim_quietest(self.now_us());
                let wait = Arc::clone(&self.permits).acquire_owned();
                if let Ok(p) = tokio::time::timeout(RECLAIM_RETRY, wait).await {
                    break p.ok()?;
                }
            },
        };
        let activity = Arc::new(Activity {
            last_active_us: AtomicU64::new(self.now_us()),
            epoch: self.epoch,
            asked: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            reclaim: Notify::new(),
        });
        let id = self.next_id.fetch_add(1, Relaxed);
        self.held().insert(id, Arc::clone(&activity));
        Some(Slot {
            _permit: permit,
            id,
            slots: Arc::clone(self),
            activity,
        })
    }

    fn now_us(&self) -> u64 {
        micros_since(self.epoch)
    }

    /// Asks the connection quiet longest, if quiet for [`MIN_QUIET`] and not
    /// asked yet, to give its slot back. A scan: it runs only when every
    /// slot is taken, and a connection's own work dwarfs its share of it.
    fn reclaim_quietest(&self, now_us: u64) {
        let quiet_since = now_us.saturating_sub(MIN_QUIET.as_micros() as u64);
        let held = self.held();
        let quietest = held
            .values()
            .filter(|a| !a.asked.load(Relaxed))
            .map(|a| (a.last_active_us.load(Relaxed), a))
            .filter(|&(t, _)| t <= quiet_since)
            .min_by_key(|&(t, _)| t);
        if let Some((_, a)) = quietest {
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

    /// With every slot taken, the next connection asks a connection that
    /// has been quiet for `MIN_QUIET` (not one active since), and gets its
    /// slot once it is dropped; while every connection is active, it asks
    /// none and waits.
    #[tokio::test]
    async fn a_full_house_asks_a_quiet_connection_only() {
        let slots = Slots::new(2);
        let quiet = slots.acquire().await.expect("slot");
        let busy = slots.acquire().await.expect("slot");
        let third = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move { slots.acquire().await })
        };
        // Both active: nobody is asked, the third waits.
        for _ in 0..8 {
            quiet.activity.touch();
            busy.activity.touch();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!quiet.activity.asked.load(Relaxed));
        assert!(!busy.activity.asked.load(Relaxed));
        assert!(!third.is_finished(), "a slot was handed out twice");
        // One goes quiet: it is asked, the other is not.
        for _ in 0..8 {
            busy.activity.touch();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), quiet.activity.reclaim.notified())
            .await
            .expect("the quiet connection was asked");
        assert!(!busy.activity.asked.load(Relaxed));
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
