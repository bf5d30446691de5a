//! The connection slots every listener shares. When all are taken, a new
//! connection takes the slot of a connection that has been quiet (no byte
//! read or written) for at least [`MIN_QUIET`], or whose request head has
//! been arriving for that long, the longest first, as nginx reuses idle
//! keep-alive connections when it runs short: otherwise a few clients that
//! send one small request every few seconds on keep-alive connections, or
//! a byte of a request that never ends every half second (slowloris), hold
//! every slot for as long as they like, and the API answers no one else.
//! A request head fits in one packet and arrives at once. Busy connections
//! are never cut: when every one is busy, new ones wait for a slot, as
//! under any overload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// How long a connection must have moved no byte either way, or have been
/// sending its request head, before its slot may be taken: longer than a
/// busy client's pause between requests or a response's pause between
/// writes, and than a head takes to arrive, shorter than the head timeout
/// an idle or slow client would otherwise hold its slot for.
pub const MIN_QUIET: Duration = Duration::from_secs(1);

/// How long a connection asked to give its slot back may finish its
/// current answer before it is dropped. Answers take microseconds; only a
/// client that does not read them, or a request head still arriving (which
/// hyper's graceful shutdown leaves alone), needs the cut.
pub const RECLAIM_GRACE: Duration = Duration::from_secs(1);

/// [`Activity::head_started_us`] before a connection's first byte.
const NO_HEAD: u64 = u64::MAX;

/// How often a new connection waiting for a slot looks again for a quiet
/// connection to take it from.
const RECLAIM_RETRY: Duration = Duration::from_millis(250);

pub struct Slots {
    permits: Arc<Semaphore>,
    held: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    epoch: Instant,
    /// New connections waiting for a slot: as many held ones are asked to
    /// give theirs up at a time, no more (one asked may take up to
    /// [`RECLAIM_GRACE`] to go, and each waiter looks again sooner).
    waiting: AtomicUsize,
}

/// One new connection counted in [`Slots::waiting`] while it waits.
struct Waiter<'a>(&'a AtomicUsize);

impl<'a> Waiter<'a> {
    fn new(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Relaxed);
        Waiter(waiting)
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// What the slots know of one connection.
pub struct Activity {
    /// Microseconds from [`Slots::epoch`] to when bytes last moved either
    /// way (or the connection was accepted).
    last_active_us: AtomicU64,
    /// Microseconds from [`Slots::epoch`] to the first byte of the request
    /// head being read now; meaningful while nothing has answered it, and
    /// [`NO_HEAD`] before the first byte (a pooled or preconnected client
    /// may send its first request long after connecting).
    head_started_us: AtomicU64,
    epoch: Instant,
    asked: AtomicBool,
    /// The last bytes that moved were written (an answer), none read since.
    answered: AtomicBool,
    /// Notified once, when the connection should give its slot back.
    pub reclaim: Notify,
}

impl Activity {
    /// Bytes moved, written (`true`) or read.
    pub fn moved(&self, written: bool) {
        let now = micros_since(self.epoch);
        self.last_active_us.store(now, Relaxed);
        let new_head = self.answered.load(Relaxed) || self.head_started_us.load(Relaxed) == NO_HEAD;
        if !written && new_head {
            self.head_started_us.store(now, Relaxed);
        }
        self.answered.store(written, Relaxed);
    }

    /// Since when the connection may give its slot up, if it may: quiet
    /// since `cutoff_us` or before, or sending a head since then (a head
    /// starts no later than its connection's last byte).
    fn reclaimable_since(&self, cutoff_us: u64) -> Option<u64> {
        let head = self.head_started_us.load(Relaxed);
        let since = if !self.answered.load(Relaxed) && head != NO_HEAD {
            head
        } else {
            self.last_active_us.load(Relaxed)
        };
        (since <= cutoff_us).then_some(since)
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
            waiting: AtomicUsize::new(0),
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
            Err(TryAcquireError::NoPermits) => {
                let _waiter = Waiter::new(&self.waiting);
                loop {
                    self.reclaim_quietest(self.now_us());
                    let wait = Arc::clone(&self.permits).acquire_owned();
                    if let Ok(p) = tokio::time::timeout(RECLAIM_RETRY, wait).await {
                        break p.ok()?;
                    }
                }
            }
        };
        let activity = Arc::new(Activity {
            last_active_us: AtomicU64::new(self.now_us()),
            head_started_us: AtomicU64::new(NO_HEAD),
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

    /// Asks the connection quiet (or sending its head) longest, if for
    /// [`MIN_QUIET`] and not asked yet, to give its slot back, unless the
    /// ones asked already, still going, are as many as the waiters. A
    /// scan: it runs only when every slot is taken, and a connection's own
    /// work dwarfs its share of it.
    fn reclaim_quietest(&self, now_us: u64) {
        // In the first second nothing can have been quiet that long.
        let Some(cutoff) = now_us.checked_sub(MIN_QUIET.as_micros() as u64) else {
            return;
        };
        let held = self.held();
        let asked = held.values().filter(|a| a.asked.load(Relaxed)).count();
        if asked >= self.waiting.load(Relaxed) {
            return;
        }
        let quietest = held
            .values()
            .filter(|a| !a.asked.load(Relaxed))
            .filter_map(|a| Some((a.reclaimable_since(cutoff)?, a)))
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

    type Waiting = tokio::task::JoinHandle<Option<Slot>>;

    /// Two slots, both held, and a third connection waiting for one.
    async fn full_house() -> (Arc<Slots>, Slot, Slot, Waiting) {
        let slots = Slots::new(2);
        let first = slots.acquire().await.expect("slot");
        let second = slots.acquire().await.expect("slot");
        let waiting = Arc::clone(&slots);
        let third = tokio::spawn(async move { waiting.acquire().await });
        (slots, first, second, third)
    }

    /// The waiting connection's slot, once it has one.
    async fn taken(third: Waiting) -> Slot {
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .expect("the freed slot was taken")
            .expect("task")
            .expect("slots open")
    }

    /// A request read and answered.
    fn served(slot: &Slot) {
        slot.activity.moved(false);
        slot.activity.moved(true);
    }

    /// A client that sends a byte of its request head every 200 ms never
    /// goes quiet, but its head has been arriving for over a second: its
    /// slot is taken, not a busy client's.
    #[tokio::test]
    async fn a_head_that_never_ends_gives_its_slot_up() {
        let started = Instant::now();
        let (_slots, slow, busy, third) = full_house().await;
        // Both keep at it while the third waits: the slow one is asked
        // without ever having been quiet.
        while !slow.activity.asked.load(Relaxed) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the slow sender was not asked"
            );
            slow.activity.moved(false);
            served(&busy);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            started.elapsed() >= MIN_QUIET,
            "asked after {:?}",
            started.elapsed()
        );
        assert!(!busy.activity.asked.load(Relaxed));
        drop(slow);
        taken(third).await;
    }

    /// A head is timed from its own first byte: not from the connection's
    /// accepting (a preconnected client's first request), nor from an
    /// earlier request's head (a keep-alive client's next one). Heads that
    /// then take a second count.
    #[tokio::test]
    async fn heads_are_timed_from_their_first_byte() {
        let slots = Slots::new(2);
        let preconnected = slots.acquire().await.expect("slot");
        let kept_alive = slots.acquire().await.expect("slot");
        served(&kept_alive);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        preconnected.activity.moved(false);
        kept_alive.activity.moved(false);
        slots.waiting.store(1, Relaxed);
        slots.reclaim_quietest(slots.now_us());
        let asked = |s: &Slot| s.activity.asked.load(Relaxed);
        assert!(!asked(&preconnected) && !asked(&kept_alive));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        slots.reclaim_quietest(slots.now_us());
        assert!(asked(&preconnected) || asked(&kept_alive));
    }

    /// One waiting connection asks one held connection at a time, however
    /// long that one takes to go; none in the slots' first second, when
    /// nothing can have been quiet for one (a connection accepted at
    /// their start has time 0).
    #[tokio::test]
    async fn one_waiter_asks_one_connection_at_a_time() {
        let slots = Slots::new(2);
        let first = slots.acquire().await.expect("slot");
        first.activity.last_active_us.store(0, Relaxed);
        slots.waiting.store(1, Relaxed);
        slots.reclaim_quietest(MIN_QUIET.as_micros() as u64 / 2);
        assert!(
            !first.activity.asked.load(Relaxed),
            "asked in the first second"
        );
        slots.waiting.store(0, Relaxed);
        let second = slots.acquire().await.expect("slot");
        let waiting = Arc::clone(&slots);
        let third = tokio::spawn(async move { waiting.acquire().await });
        // Both quiet; neither goes when asked.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let asked = [&first, &second].map(|s| s.activity.asked.load(Relaxed));
        assert_eq!(asked.iter().filter(|a| **a).count(), 1, "{asked:?}");
        drop(if asked[0] { first } else { second });
        taken(third).await;
    }

    /// With every slot taken, the next connection asks a connection that
    /// has been quiet for `MIN_QUIET` (not one active since), and gets its
    /// slot once it is dropped; while every connection is active, it asks
    /// none and waits.
    #[tokio::test]
    async fn a_full_house_asks_a_quiet_connection_only() {
        let (slots, quiet, busy, third) = full_house().await;
        // Both active: nobody is asked, the third waits.
        for _ in 0..8 {
            served(&quiet);
            served(&busy);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(!quiet.activity.asked.load(Relaxed));
        assert!(!busy.activity.asked.load(Relaxed));
        assert!(!third.is_finished(), "a slot was handed out twice");
        // One goes quiet: it is asked, the other is not.
        for _ in 0..8 {
            served(&busy);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), quiet.activity.reclaim.notified())
            .await
            .expect("the quiet connection was asked");
        assert!(!busy.activity.asked.load(Relaxed));
        drop(quiet);
        let third = taken(third).await;
        assert_eq!(slots.held().len(), 2);
        drop((busy, third));
        assert!(slots.held().is_empty());
    }
}
