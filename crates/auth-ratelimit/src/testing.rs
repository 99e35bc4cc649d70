//! The limit store conformance suite: every [`LimitStore`] implementation (in-memory, Redis,
//! SQLite, PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use auth_ratelimit::{MemoryLimitStore, testing};
//!
//! let store = Arc::new(MemoryLimitStore::new());
//! testing::limit_store_conformance(store.as_ref()).await;
//! testing::concurrent_hits_conformance(store.clone()).await;
//! testing::flush_expired_conformance(store.as_ref()).await; // not for stores that expire by themselves
//! # }
//! ```
//!
//! The suites tolerate a store that holds other data (every key is fresh, so they can run twice
//! against one database or Redis), and use times in 2033 that are whole milliseconds (every store
//! keeps them exactly). [`flush_expired_conformance`] works in 2001, so that it deletes nobody
//! else's counters. [`concurrent_hits_conformance`] spawns tasks: run it inside a Tokio runtime
//! (a multi-threaded one makes the races real).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test suite: failing loudly is the point

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::{Counter, LimitStore};

/// How many hits [`concurrent_hits_conformance`] races on one key.
pub const CONCURRENT_HITS: u32 = 64;

/// A fresh key: `prefix:` and 128 random bits in hex.
fn unique(prefix: &str) -> String {
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("conformance:{prefix}:{hex}")
}

/// The suites' time origin (2033-05-18), whole seconds.
fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default()
}

/// Where [`flush_expired_conformance`] works (2001-09-09): no other counter is that old.
fn flush_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_000_000_000, 0).unwrap_or_default()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn counter(count: u32, window_start: DateTime<Utc>, last_hit: DateTime<Utc>) -> Counter {
    Counter { count, window_start, last_hit }
}

/// Runs the single-task checks against `store`: first hit, counting, the window end (exactly at
/// `window_start + window`), `get`, `clear`, independent keys, long Unicode keys. Panics with a
/// description of the first failure.
pub async fn limit_store_conformance<S: LimitStore + ?Sized>(store: &S) {
    first_hits_and_counting(store).await;
    window_end(store).await;
    window_per_call(store).await;
    clearing(store).await;
    independent_keys(store).await;
    long_keys(store).await;
    attempts(store).await;
}

/// [`LimitStore::attempt`] decides as [`Limit::refuses`](crate::Limit::refuses) does and counts
/// only what it lets through; [`LimitStore::release`] takes one count back.
async fn attempts<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(600));
    let limit = crate::Limit::new(3, w).progressive_delay(2, secs(30));
    let key = unique("attempt");
    let counted = |outcome: crate::Attempt| match outcome {
        crate::Attempt::Counted(counter) => counter,
        other => panic!("expected Counted, got {other:?}"),
    };
    let refused = |outcome: crate::Attempt| match outcome {
        crate::Attempt::Refused(counter) => counter,
        other => panic!("expected Refused, got {other:?}"),
    };
    assert_eq!(counted(store.attempt(&key, t, &limit).await.unwrap()), counter(1, t, t));
    assert_eq!(counted(store.attempt(&key, t + secs(1), &limit).await.unwrap()), counter(2, t, t + secs(1)));
    // Two counted: the next waits 2^0 = 1 s after the latest, and a refusal counts nothing.
    assert_eq!(refused(store.attempt(&key, t + ms(1500), &limit).await.unwrap()), counter(2, t, t + secs(1)));
    assert_eq!(store.get(&key, t + ms(1500), w).await.unwrap(), Some(counter(2, t, t + secs(1))));
    assert_eq!(counted(store.attempt(&key, t + secs(2), &limit).await.unwrap()), counter(3, t, t + secs(2)));
    // The maximum: refused until the window ends.
    assert_eq!(refused(store.attempt(&key, t + secs(100), &limit).await.unwrap()).count, 3);
    // A release takes one back (not the latest-hit time), which lets one more through.
    store.release(&key, t + secs(100), w).await.unwrap();
    assert_eq!(store.get(&key, t + secs(100), w).await.unwrap(), Some(counter(2, t, t + secs(2))));
    assert_eq!(counted(store.attempt(&key, t + secs(100), &limit).await.unwrap()).count, 3);
    // Down to nothing: the counter goes; releasing more does nothing.
    for _ in 0..4 {
        store.release(&key, t + secs(100), w).await.unwrap();
    }
    assert_eq!(store.get(&key, t + secs(100), w).await.unwrap(), None);
    // A new window starts afresh.
    let key = unique("attempt-window");
    for i in 0..3 {
        counted(store.attempt(&key, t + secs(i * 10), &crate::Limit::new(3, w)).await.unwrap());
    }
    refused(store.attempt(&key, t + w - ms(1), &crate::Limit::new(3, w)).await.unwrap());
    assert_eq!(
        counted(store.attempt(&key, t + w, &crate::Limit::new(3, w)).await.unwrap()),
        counter(1, t + w, t + w)
    );
    // A release after the window ended touches nothing.
    store.release(&key, t + w + w, w).await.unwrap();
    assert_eq!(store.get(&key, t + w, w).await.unwrap(), Some(counter(1, t + w, t + w)));
}

async fn first_hits_and_counting<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(60));
    let key = unique("counting");
    assert_eq!(store.get(&key, t, w).await.unwrap(), None, "no counter for a new key");
    assert_eq!(store.hit(&key, t, w).await.unwrap(), counter(1, t, t), "the first hit starts a window");
    assert_eq!(store.get(&key, t, w).await.unwrap(), Some(counter(1, t, t)), "get after the first hit");
    assert_eq!(store.hit(&key, t + secs(1), w).await.unwrap(), counter(2, t, t + secs(1)), "counts add up");
    assert_eq!(
        store.hit(&key, t + ms(2_500), w).await.unwrap(),
        counter(3, t, t + ms(2_500)),
        "last_hit is the latest hit, to the millisecond"
    );
    assert_eq!(
        store.get(&key, t + ms(59_999), w).await.unwrap(),
        Some(counter(3, t, t + ms(2_500))),
        "the counter lives until the last millisecond of its window"
    );
    assert_eq!(
        store.get(&key, t + secs(10), w).await.unwrap().map(|c| c.count),
        Some(3),
        "get counts nothing"
    );
}

async fn window_end<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(60));
    let key = unique("window");
    store.hit(&key, t, w).await.unwrap();
    store.hit(&key, t + secs(30), w).await.unwrap();
    assert_eq!(
        store.hit(&key, t + ms(59_999), w).await.unwrap(),
        counter(3, t, t + ms(59_999)),
        "a hit 1 ms before the window end counts in the window"
    );
    assert_eq!(store.get(&key, t + w, w).await.unwrap(), None, "window_start + window <= now: ended");
    assert_eq!(store.get(&key, t + w + secs(1), w).await.unwrap(), None, "still ended");
    let t2 = t + w;
    assert_eq!(
        store.hit(&key, t2, w).await.unwrap(),
        counter(1, t2, t2),
        "a hit exactly at the window end starts a new window"
    );
    assert_eq!(store.get(&key, t2, w).await.unwrap(), Some(counter(1, t2, t2)));
    assert_eq!(
        store.hit(&key, t2 + ms(59_999), w).await.unwrap(),
        counter(2, t2, t2 + ms(59_999)),
        "the new window runs from its first hit"
    );
    let t3 = t2 + secs(200);
    assert_eq!(
        store.hit(&key, t3, w).await.unwrap(),
        counter(1, t3, t3),
        "a hit long after the window end starts a new window"
    );

    // A zero window ends at once: every hit starts a new one.
    let key = unique("zero-window");
    assert_eq!(store.hit(&key, t, Duration::zero()).await.unwrap(), counter(1, t, t));
    assert_eq!(store.hit(&key, t, Duration::zero()).await.unwrap(), counter(1, t, t));
    assert_eq!(store.get(&key, t, Duration::zero()).await.unwrap(), None);
}

async fn window_per_call<S: LimitStore + ?Sized>(store: &S) {
    let t = origin();
    let key = unique("window-per-call");
    store.hit(&key, t, secs(60)).await.unwrap();
    assert_eq!(
        store.get(&key, t + secs(15), secs(10)).await.unwrap(),
        None,
        "the window of the call decides (10 s ended)"
    );
    assert_eq!(store.get(&key, t + secs(15), secs(60)).await.unwrap(), Some(counter(1, t, t)));
    assert_eq!(
        store.hit(&key, t + secs(15), secs(10)).await.unwrap(),
        counter(1, t + secs(15), t + secs(15)),
        "a hit with a window that ended starts a new one"
    );
}

async fn clearing<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(600));
    let key = unique("clear");
    for i in 0..3 {
        store.hit(&key, t + secs(i), w).await.unwrap();
    }
    store.clear(&key).await.unwrap();
    assert_eq!(store.get(&key, t + secs(3), w).await.unwrap(), None, "clear forgets the counter");
    assert_eq!(
        store.hit(&key, t + secs(4), w).await.unwrap(),
        counter(1, t + secs(4), t + secs(4)),
        "after clear the next hit starts afresh"
    );
    store.clear(&key).await.unwrap();
    store.clear(&key).await.unwrap();
    store.clear(&unique("never-hit")).await.unwrap();
}

async fn independent_keys<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(600));
    let a = unique("independent");
    // Keys that share a prefix, differ in case or by a trailing space are distinct.
    let others = [format!("{a}:1"), a.to_uppercase(), format!("{a} "), format!("{a}x")];
    for i in 0..3 {
        store.hit(&a, t + secs(i), w).await.unwrap();
    }
    for (i, other) in others.iter().enumerate() {
        assert_eq!(store.get(other, t + secs(5), w).await.unwrap(), None, "{other:?} has no counter");
        let at = t + secs(10 + i64::try_from(i).unwrap());
        assert_eq!(store.hit(other, at, w).await.unwrap(), counter(1, at, at), "{other:?} counts alone");
    }
    assert_eq!(store.get(&a, t + secs(20), w).await.unwrap(), Some(counter(3, t, t + secs(2))));
    store.clear(&a).await.unwrap();
    for other in &others {
        assert_eq!(
            store.get(other, t + secs(20), w).await.unwrap().map(|c| c.count),
            Some(1),
            "clearing {a:?} leaves {other:?}"
        );
    }
}

async fn long_keys<S: LimitStore + ?Sized>(store: &S) {
    let (t, w) = (origin(), secs(600));
    // ~400 characters, some of them multi-byte: an IPv6 address, an email address, Unicode.
    let key = format!(
        "{}:2001:db8:85a3::8a2e:370:7334:{}:{}@exämple.com",
        unique("long"),
        "ü".repeat(150),
        "a".repeat(150)
    );
    assert!(key.chars().count() > 350);
    assert_eq!(store.hit(&key, t, w).await.unwrap(), counter(1, t, t));
    assert_eq!(store.hit(&key, t + secs(1), w).await.unwrap(), counter(2, t, t + secs(1)));
    assert_eq!(store.get(&key, t + secs(1), w).await.unwrap(), Some(counter(2, t, t + secs(1))));
    store.clear(&key).await.unwrap();
    assert_eq!(store.get(&key, t + secs(1), w).await.unwrap(), None);
}

/// Races [`CONCURRENT_HITS`] spawned hits on one key, twice (a new key, then the same key after
/// its window ended), and hits on several keys at once: no count is lost, and every hit gets a
/// distinct count.
pub async fn concurrent_hits_conformance(store: Arc<dyn LimitStore>) {
    let (t, w) = (origin(), secs(3600));
    let key = unique("race");

    let counts = race(&store, &key, t, w).await;
    assert_eq!(counts, (1..=CONCURRENT_HITS).collect::<Vec<_>>(), "every concurrent hit got its own count");
    let after = store.get(&key, t, w).await.unwrap().expect("the raced counter");
    assert_eq!(after, counter(CONCURRENT_HITS, t, t), "no lost update");

    // The window ended: the racers reset it once, and count on from there.
    let t2 = t + w;
    let counts = race(&store, &key, t2, w).await;
    assert_eq!(counts, (1..=CONCURRENT_HITS).collect::<Vec<_>>(), "one racer starts the new window");
    assert_eq!(store.get(&key, t2, w).await.unwrap(), Some(counter(CONCURRENT_HITS, t2, t2)));

    // Several keys at once.
    let keys: Vec<String> = (0..4).map(|i| unique(&format!("race-{i}"))).collect();
    let tasks: Vec<_> = (0..CONCURRENT_HITS)
        .map(|i| {
            let (store, key) = (store.clone(), keys[i as usize % keys.len()].clone());
            tokio::spawn(async move { store.hit(&key, t, w).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("hit task").expect("hit");
    }
    let per_key = CONCURRENT_HITS / 4;
    for key in &keys {
        assert_eq!(store.get(key, t, w).await.unwrap().map(|c| c.count), Some(per_key), "{key}");
    }
}

/// Races [`CONCURRENT_HITS`] spawned attempts on one key under a limit of 5: exactly 5 are
/// counted, the rest refused (a check and its count are one step).
pub async fn concurrent_attempts_conformance(store: Arc<dyn LimitStore>) {
    let (t, w) = (origin(), secs(3600));
    let key = unique("attempt-race");
    let limit = crate::Limit::new(5, w);
    let tasks: Vec<_> = (0..CONCURRENT_HITS)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.attempt(&key, t, &limit).await })
        })
        .collect();
    let mut counted = Vec::new();
    for task in tasks {
        if let crate::Attempt::Counted(counter) = task.await.expect("attempt task").expect("attempt") {
            counted.push(counter.count);
        }
    }
    counted.sort_unstable();
    assert_eq!(counted, [1, 2, 3, 4, 5], "exactly the limit got through, each with its own count");
    assert_eq!(store.get(&key, t, w).await.unwrap().map(|c| c.count), Some(5));
}

/// [`CONCURRENT_HITS`] spawned hits on `key` at `now`; their counts, sorted.
async fn race(store: &Arc<dyn LimitStore>, key: &str, now: DateTime<Utc>, window: Duration) -> Vec<u32> {
    let tasks: Vec<_> = (0..CONCURRENT_HITS)
        .map(|_| {
            let (store, key) = (store.clone(), key.to_owned());
            tokio::spawn(async move { store.hit(&key, now, window).await })
        })
        .collect();
    let mut counts = Vec::with_capacity(tasks.len());
    for task in tasks {
        let counter = task.await.expect("hit task").expect("hit");
        assert_eq!(counter.window_start, now, "every racer is in the window started at {now}");
        counts.push(counter.count);
    }
    counts.sort_unstable();
    counts
}

/// Checks [`LimitStore::flush_expired`]: it deletes exactly the counters whose last hit is before
/// the given instant, and says how many. Not for stores that expire counters by themselves
/// (Redis). Nothing else may touch counters hit in 2001 meanwhile.
pub async fn flush_expired_conformance<S: LimitStore + ?Sized>(store: &S) {
    let (before, w) = (flush_time(), secs(3600));
    let stale = unique("stale");
    let stale_recent = unique("stale-recent");
    let at_cutoff = unique("at-cutoff");
    let long_window = unique("long-window");

    store.hit(&stale, before - secs(100), w).await.unwrap();
    store.hit(&stale_recent, before - secs(50), w).await.unwrap();
    store.hit(&stale_recent, before - ms(1), w).await.unwrap();
    store.hit(&at_cutoff, before, w).await.unwrap();
    // Its window started long before, but its last hit is recent: it stays.
    store.hit(&long_window, before - secs(100), w).await.unwrap();
    store.hit(&long_window, before + secs(5), w).await.unwrap();

    let deleted = store.flush_expired(before).await.unwrap();
    assert!(deleted >= 2, "flush_expired reports what it deleted ({deleted} < 2)");
    let now = before + secs(5);
    assert_eq!(store.get(&stale, now, w).await.unwrap(), None, "a counter last hit before `before` goes");
    assert_eq!(store.get(&stale_recent, now, w).await.unwrap(), None, "also 1 ms before");
    assert_eq!(
        store.get(&at_cutoff, now, w).await.unwrap(),
        Some(counter(1, before, before)),
        "a counter last hit exactly at `before` stays"
    );
    assert_eq!(
        store.get(&long_window, now, w).await.unwrap(),
        Some(counter(2, before - secs(100), before + secs(5))),
        "flush_expired goes by the last hit, not the window start"
    );
    // The deleted counters start afresh.
    assert_eq!(store.hit(&stale, now, w).await.unwrap(), counter(1, now, now));
    assert_eq!(store.flush_expired(before - secs(1_000)).await.unwrap(), 0, "nothing that old is left");
    for key in [&stale, &at_cutoff, &long_window] {
        store.clear(key).await.unwrap();
    }
}
