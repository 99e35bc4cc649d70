//! The in-process revocation cache and the task that keeps it current.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};

use auth_core::{AuthError, UserId};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::{GrantStore, RevocationEvent, RevocationSnapshot};

/// The shortest interval [`RevocationList::spawn_sync`] polls at.
const MIN_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1);

/// An in-process cache of revocations, consulted on every access-token check.
///
/// [`is_revoked`](Self::is_revoked) takes a read lock and does two hash lookups, without
/// allocating. The cache learns of revocations from [`apply`](Self::apply) (this process's own),
/// [`load`](Self::load) (a [`RevocationSnapshot`] at start-up) and [`sync`](Self::sync) /
/// [`spawn_sync`](Self::spawn_sync) (other processes', through the store's event log).
///
/// ```
/// use auth_blacklist::{RevocationEvent, RevocationList};
/// use auth_core::UserId;
/// use chrono::{DateTime, Duration};
///
/// let list = RevocationList::new();
/// let alice = UserId::new("alice");
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// list.apply(&RevocationEvent::Grant { grant_id: "g1".into() });
/// list.apply(&RevocationEvent::User { user_id: alice.clone(), not_before: now });
///
/// assert!(list.is_revoked(Some("g1"), &UserId::new("bob"), now));
/// assert!(list.is_revoked(Some("g2"), &alice, now - Duration::seconds(1)), "issued before not-before");
/// assert!(!list.is_revoked(Some("g2"), &alice, now));
/// ```
#[derive(Debug, Default)]
pub struct RevocationList {
    state: RwLock<State>,
    /// When the list last matched the store (unix milliseconds; 0: never said).
    synced_at_ms: std::sync::atomic::AtomicI64,
    /// The same moment on the monotonic clock, which staleness is measured on.
    synced_mono: MonotonicMark,
    /// One [`reload`](RevocationList::reload) at a time.
    reloading: std::sync::atomic::AtomicBool,
}

/// A moment on tokio's monotonic clock, stored in an atomic: milliseconds since `origin`, plus
/// one (0: never marked).
#[derive(Debug)]
struct MonotonicMark {
    origin: tokio::time::Instant,
    at_ms_plus_one: std::sync::atomic::AtomicU64,
}

impl Default for MonotonicMark {
    fn default() -> Self {
        Self { origin: tokio::time::Instant::now(), at_ms_plus_one: std::sync::atomic::AtomicU64::new(0) }
    }
}

impl MonotonicMark {
    fn mark(&self, at: tokio::time::Instant) {
        let ms = u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX - 1);
        self.at_ms_plus_one.fetch_max(ms + 1, std::sync::atomic::Ordering::AcqRel);
    }

    fn elapsed(&self) -> Option<std::time::Duration> {
        match self.at_ms_plus_one.load(std::sync::atomic::Ordering::Acquire) {
            0 => None,
            marked => {
                let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
                Some(std::time::Duration::from_millis(now.saturating_sub(marked - 1)))
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    grants: HashSet<String>,
    not_before: HashMap<UserId, DateTime<Utc>>,
    cursor: i64,
    /// While a [`RevocationList::reload`] reads the store: the events applied meanwhile, applied
    /// again to the reloaded state so that none is lost.
    pending: Option<Vec<RevocationEvent>>,
}

impl State {
    fn from_snapshot(snapshot: &RevocationSnapshot) -> Self {
        let grants = snapshot.revoked_grants.iter().cloned().collect();
        let mut not_before: HashMap<UserId, DateTime<Utc>> = HashMap::new();
        for (user_id, at) in &snapshot.user_not_before {
            let entry = not_before.entry(user_id.clone()).or_insert(*at);
            *entry = (*entry).max(*at);
        }
        Self { grants, not_before, cursor: snapshot.cursor, pending: None }
    }
}

impl RevocationList {
    /// An empty list at cursor 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a token is dead: its grant (`sid`) is revoked, or it was issued to `user_id` before
    /// the user's not-before (`issued_at < not_before`).
    pub fn is_revoked(&self, grant_id: Option<&str>, user_id: &UserId, issued_at: DateTime<Utc>) -> bool {
        let state = self.read();
        if let Some(grant_id) = grant_id
            && state.grants.contains(grant_id)
        {
            return true;
        }
        state.not_before.get(user_id).is_some_and(|not_before| issued_at < *not_before)
    }

    /// Applies one revocation (idempotent; a user's not-before only ever moves forward).
    pub fn apply(&self, event: &RevocationEvent) {
        let mut state = self.write();
        apply_to(&mut state, event);
        if let Some(pending) = state.pending.as_mut() {
            pending.push(event.clone());
        }
    }

    /// Records that the list matched the store at `at` (a [`load`](Self::load) of a fresh
    /// snapshot, a [`sync`](Self::sync) that succeeded), and that it did so now on the monotonic
    /// clock, which [`is_stale`](Self::is_stale) measures on. [`spawn_sync`](Self::spawn_sync)'s
    /// task records each successful sync.
    pub fn mark_synced(&self, at: DateTime<Utc>) {
        self.mark_synced_since(at, tokio::time::Instant::now());
    }

    fn mark_synced_since(&self, at: DateTime<Utc>, started: tokio::time::Instant) {
        self.synced_at_ms.fetch_max(at.timestamp_millis(), std::sync::atomic::Ordering::AcqRel);
        self.synced_mono.mark(started);
    }

    /// When the list last matched the store ([`mark_synced`](Self::mark_synced)), on the clock
    /// it was given: for reports. `None` if it was never said to (a list fed only by this
    /// process's own revocations is never stale).
    pub fn synced_at(&self) -> Option<DateTime<Utc>> {
        match self.synced_at_ms.load(std::sync::atomic::Ordering::Acquire) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// How long ago, on the monotonic clock, the list last matched the store; `None` if never.
    pub fn synced_ago(&self) -> Option<std::time::Duration> {
        self.synced_mono.elapsed()
    }

    /// Whether the list has not matched the store for longer than `max_age`: the revocations of
    /// other processes may be missing, so a credential it would let through must not be trusted
    /// (see [`spawn_sync`](Self::spawn_sync)). Never stale when never synced.
    ///
    /// Measured on the monotonic clock the sync task runs on, not on the clock of the tokens: a
    /// wall clock that jumps (or a test clock moved forward) says nothing about whether the sync
    /// has kept up.
    pub fn is_stale(&self, max_age: std::time::Duration) -> bool {
        self.synced_ago().is_some_and(|ago| ago > max_age)
    }

    /// Replaces the contents with `snapshot` and sets the cursor to its cursor. Reloading now and
    /// then also forgets revoked grants that have expired since.
    pub fn load(&self, snapshot: &RevocationSnapshot) {
        let fresh = State::from_snapshot(snapshot);
        *self.write() = fresh;
    }

    /// Rebuilds the list from the store at `now`, so that it holds only what can still matter:
    /// revoked grants that have not reached their absolute end, and the users' not-befores.
    /// Without it the list grows with every revocation for the life of the process. Revocations
    /// applied while the store is read are kept. Returns how many revoked grants were dropped.
    /// A reload already running makes this one do nothing.
    pub async fn reload(&self, store: &dyn GrantStore, now: DateTime<Utc>) -> Result<usize, AuthError> {
        use std::sync::atomic::Ordering;
        if self.reloading.swap(true, Ordering::AcqRel) {
            return Ok(0);
        }
        self.write().pending = Some(Vec::new());
        let read = async {
            let snapshot = store.revocation_snapshot(now).await?;
            let (events, cursor) = store.revocations_since(snapshot.cursor).await?;
            Ok::<_, AuthError>((snapshot, events, cursor))
        }
        .await;
        let mut state = self.write();
        let pending = state.pending.take().unwrap_or_default();
        self.reloading.store(false, Ordering::Release);
        let (snapshot, events, cursor) = read?;
        let mut fresh = State::from_snapshot(&snapshot);
        for event in events.iter().chain(&pending) {
            apply_to(&mut fresh, event);
        }
        fresh.cursor = cursor.max(snapshot.cursor);
        let dropped = state.grants.len().saturating_sub(fresh.grants.len());
        *state = fresh;
        Ok(dropped)
    }

    /// The sequence number of the last store event applied by [`sync`](Self::sync) or
    /// [`load`](Self::load).
    pub fn cursor(&self) -> i64 {
        self.read().cursor
    }

    /// The number of revoked grants and of users with a not-before held.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.read();
        (state.grants.len(), state.not_before.len())
    }

    /// Whether the list holds no revocation at all.
    pub fn is_empty(&self) -> bool {
        let state = self.read();
        state.grants.is_empty() && state.not_before.is_empty()
    }

    /// Pulls once: applies [`GrantStore::revocations_since`] the current cursor and advances the
    /// cursor. Returns the number of events applied. Concurrent calls are harmless.
    pub async fn sync(&self, store: &dyn GrantStore) -> Result<usize, AuthError> {
        let since = self.cursor();
        let (events, cursor) = store.revocations_since(since).await?;
        let mut state = self.write();
        for event in &events {
            apply_to(&mut state, event);
        }
        state.cursor = state.cursor.max(cursor);
        Ok(events.len())
    }

    /// Spawns a tokio task that calls [`sync`](Self::sync) every `interval` (at least 1 ms),
    /// logging failures and carrying on. The task stops when the returned [`SyncTask`] is dropped
    /// (or [aborted](SyncTask::abort)), or when the last other `Arc` of the list is gone.
    ///
    /// Call it inside a tokio runtime. Outside one nothing is spawned: an error is logged and the
    /// returned task reports [`is_finished`](SyncTask::is_finished).
    pub fn spawn_sync(
        self: &Arc<Self>,
        store: Arc<dyn GrantStore>,
        interval: std::time::Duration,
    ) -> SyncTask {
        self.spawn_sync_with_clock(store, interval, Arc::new(auth_core::SystemClock))
    }

    /// [`spawn_sync`](Self::spawn_sync), recording each successful sync with
    /// [`mark_synced`](Self::mark_synced) at `clock`'s time: what [`is_stale`](Self::is_stale)
    /// and a readiness probe read.
    pub fn spawn_sync_with_clock(
        self: &Arc<Self>,
        store: Arc<dyn GrantStore>,
        interval: std::time::Duration,
        clock: auth_core::SharedClock,
    ) -> SyncTask {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "RevocationList::spawn_sync called outside a tokio runtime: not syncing");
                return SyncTask { handle: None };
            }
        };
        let list = Arc::downgrade(self);
        let handle = runtime.spawn(sync_loop(list, store, interval.max(MIN_SYNC_INTERVAL), clock));
        SyncTask { handle: Some(handle) }
    }
}

fn apply_to(state: &mut State, event: &RevocationEvent) {
    match event {
        RevocationEvent::Grant { grant_id } => {
            if !state.grants.contains(grant_id.as_str()) {
                state.grants.insert(grant_id.clone());
            }
        }
        RevocationEvent::User { user_id, not_before } => match state.not_before.get_mut(user_id) {
            Some(current) => *current = (*current).max(*not_before),
            None => {
                state.not_before.insert(user_id.clone(), *not_before);
            }
        },
    }
}

async fn sync_loop(
    list: Weak<RevocationList>,
    store: Arc<dyn GrantStore>,
    interval: std::time::Duration,
    clock: auth_core::SharedClock,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(list) = list.upgrade() else { return };
        let started = clock.now();
        let started_mono = tokio::time::Instant::now();
        let synced = list.sync(store.as_ref()).await;
        if synced.is_ok() {
            // The list matched the store as of the moment the read began.
            list.mark_synced_since(started, started_mono);
        }
        match synced {
            Ok(0) => {}
            Ok(applied) => tracing::debug!(applied, cursor = list.cursor(), "revocations synced"),
            Err(error) => {
                tracing::warn!(%error, source = ?std::error::Error::source(&error), "revocation sync failed; retrying")
            }
        }
    }
}

/// The revocation-sync task of [`RevocationList::spawn_sync`]. Dropping it stops the task.
#[derive(Debug)]
#[must_use = "dropping a SyncTask stops the sync"]
pub struct SyncTask {
    handle: Option<JoinHandle<()>>,
}

impl SyncTask {
    /// Stops the task.
    pub fn abort(&self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }

    /// Whether the task has stopped (or never started).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for SyncTask {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration as StdDuration;

    use super::*;
    use crate::{MemoryGrantStore, NewGrant, RefreshRecord};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap()
    }

    async fn grant(store: &MemoryGrantStore, id: &str, user: &UserId) {
        store
            .create_grant(
                NewGrant::new(id, user.clone(), at(0), at(86_400)),
                RefreshRecord::new(format!("{id}-jti"), id, user.clone(), at(0), at(86_400)),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn reload_forgets_revoked_grants_past_their_end_and_keeps_the_rest() {
        let store = MemoryGrantStore::new();
        let alice = UserId::new("alice");
        grant(&store, "ends-tomorrow", &alice).await;
        store
            .create_grant(
                NewGrant::new("ends-soon", alice.clone(), at(0), at(100)),
                RefreshRecord::new("soon-jti", "ends-soon", alice.clone(), at(0), at(100)),
            )
            .await
            .unwrap();
        let list = RevocationList::new();
        for id in ["ends-soon", "ends-tomorrow"] {
            assert!(store.revoke_grant(id, at(10)).await.unwrap());
            list.apply(&RevocationEvent::Grant { grant_id: id.into() });
        }
        list.sync(&store).await.unwrap();
        assert_eq!(list.counts().0, 2);
        // Past the first grant's end its revocation no longer matters: dropped.
        assert_eq!(list.reload(&store, at(200)).await.unwrap(), 1);
        assert!(list.is_revoked(Some("ends-tomorrow"), &alice, at(200)));
        assert_eq!(list.counts().0, 1);
        // Later revocations still arrive through sync: the cursor went on from the store's.
        grant(&store, "later", &alice).await;
        assert!(store.revoke_grant("later", at(300)).await.unwrap());
        assert_eq!(list.sync(&store).await.unwrap(), 1);
        assert!(list.is_revoked(Some("later"), &alice, at(300)));
    }

    #[test]
    fn is_revoked_semantics() {
        let list = RevocationList::new();
        let alice = UserId::new("alice");
        let bob = UserId::new("bob");
        assert!(list.is_empty());
        assert!(!list.is_revoked(Some("g1"), &alice, at(0)));
        assert!(!list.is_revoked(None, &alice, at(0)));

        list.apply(&RevocationEvent::Grant { grant_id: "g1".into() });
        assert!(list.is_revoked(Some("g1"), &alice, at(100)), "any token of a revoked grant");
        assert!(list.is_revoked(Some("g1"), &bob, at(100)), "whoever presents it");
        assert!(!list.is_revoked(Some("g2"), &alice, at(100)));
        assert!(!list.is_revoked(None, &alice, at(100)), "no grant id: only the not-before counts");

        list.apply(&RevocationEvent::User { user_id: alice.clone(), not_before: at(50) });
        assert!(list.is_revoked(None, &alice, at(49)));
        assert!(list.is_revoked(Some("g2"), &alice, at(49)));
        assert!(!list.is_revoked(Some("g2"), &alice, at(50)), "issued at the not-before lives");
        assert!(!list.is_revoked(Some("g2"), &alice, at(51)));
        assert!(!list.is_revoked(Some("g2"), &bob, at(0)), "other users are unaffected");
        assert_eq!(list.counts(), (1, 1));
    }

    #[test]
    fn apply_is_idempotent_and_not_before_only_moves_forward() {
        let list = RevocationList::new();
        let alice = UserId::new("alice");
        list.apply(&RevocationEvent::User { user_id: alice.clone(), not_before: at(50) });
        list.apply(&RevocationEvent::User { user_id: alice.clone(), not_before: at(10) });
        assert!(list.is_revoked(None, &alice, at(40)), "an older event does not move it back");
        list.apply(&RevocationEvent::User { user_id: alice.clone(), not_before: at(60) });
        assert!(list.is_revoked(None, &alice, at(55)));
        list.apply(&RevocationEvent::Grant { grant_id: "g".into() });
        list.apply(&RevocationEvent::Grant { grant_id: "g".into() });
        assert_eq!(list.counts(), (1, 1));
        assert_eq!(list.cursor(), 0, "apply does not move the cursor");
    }

    #[test]
    fn load_replaces_contents_and_sets_the_cursor() {
        let list = RevocationList::new();
        let alice = UserId::new("alice");
        let bob = UserId::new("bob");
        list.apply(&RevocationEvent::Grant { grant_id: "old".into() });
        list.apply(&RevocationEvent::User { user_id: bob.clone(), not_before: at(100) });
        list.load(&RevocationSnapshot {
            revoked_grants: vec!["g1".into(), "g2".into()],
            user_not_before: vec![(alice.clone(), at(10)), (alice.clone(), at(20))],
            cursor: 42,
        });
        assert_eq!(list.cursor(), 42);
        assert!(!list.is_revoked(Some("old"), &alice, at(30)), "replaced, not merged");
        assert!(!list.is_revoked(None, &bob, at(0)));
        assert!(list.is_revoked(Some("g2"), &bob, at(0)));
        assert!(list.is_revoked(None, &alice, at(19)), "the latest not-before of a user wins");
        assert!(!list.is_revoked(None, &alice, at(20)));
        list.load(&RevocationSnapshot::default());
        assert!(list.is_empty());
        assert_eq!(list.cursor(), 0);
    }

    #[tokio::test]
    async fn sync_follows_the_store() {
        let store = MemoryGrantStore::new();
        let alice = UserId::new("alice");
        let bob = UserId::new("bob");
        grant(&store, "g1", &alice).await;
        grant(&store, "g2", &bob).await;
        store.revoke_grant("g1", at(10)).await.unwrap();

        // A process starting now: snapshot first, then follow.
        let list = RevocationList::new();
        list.load(&store.revocation_snapshot(at(20)).await.unwrap());
        assert_eq!(list.cursor(), 1);
        assert!(list.is_revoked(Some("g1"), &alice, at(5)));
        assert_eq!(list.sync(&store).await.unwrap(), 0, "nothing new");

        store.revoke_all_for_user(&bob, at(30)).await.unwrap();
        assert!(!list.is_revoked(Some("g2"), &bob, at(5)), "not synced yet");
        assert_eq!(list.sync(&store).await.unwrap(), 1);
        assert_eq!(list.cursor(), 2);
        assert!(list.is_revoked(Some("g2"), &bob, at(5)));
        assert!(list.is_revoked(None, &bob, at(29)));
        assert!(!list.is_revoked(None, &bob, at(30)));
        assert_eq!(list.sync(&store).await.unwrap(), 0);
        assert_eq!(list.cursor(), 2);

        // A list that starts from nothing catches up from the log alone.
        let fresh = RevocationList::new();
        assert_eq!(fresh.sync(&store).await.unwrap(), 2);
        assert!(fresh.is_revoked(Some("g1"), &alice, at(50)));
        assert!(fresh.is_revoked(None, &bob, at(29)));
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_sync_polls_and_stops_on_drop() {
        let store = MemoryGrantStore::new();
        let alice = UserId::new("alice");
        grant(&store, "g1", &alice).await;
        grant(&store, "g2", &alice).await;
        let list = Arc::new(RevocationList::new());
        let task = list.spawn_sync(Arc::new(store.clone()), StdDuration::from_secs(5));
        assert!(!task.is_finished());

        store.revoke_grant("g1", at(1)).await.unwrap();
        tokio::time::sleep(StdDuration::from_secs(6)).await;
        assert!(list.is_revoked(Some("g1"), &alice, at(0)), "picked up within an interval");

        drop(task);
        tokio::task::yield_now().await;
        store.revoke_grant("g2", at(2)).await.unwrap();
        tokio::time::sleep(StdDuration::from_secs(30)).await;
        assert!(!list.is_revoked(Some("g2"), &alice, at(0)), "a dropped task no longer syncs");
        assert_eq!(list.cursor(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_sync_ends_with_the_list() {
        let list = Arc::new(RevocationList::new());
        let task = list.spawn_sync(Arc::new(MemoryGrantStore::new()), StdDuration::ZERO);
        drop(list);
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        assert!(task.is_finished(), "the task holds only a weak reference");
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_synced_too_long_ago_is_stale() {
        let clock = Arc::new(auth_core::ManualClock::new(at(0)));
        let list = Arc::new(RevocationList::new());
        let max_age = StdDuration::from_secs(10);
        assert!(list.synced_at().is_none());
        tokio::time::advance(StdDuration::from_secs(1_000)).await;
        assert!(!list.is_stale(max_age), "never synced: never stale");
        let task = list.spawn_sync_with_clock(
            Arc::new(MemoryGrantStore::new()),
            StdDuration::from_secs(3_600),
            clock.clone(),
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        assert_eq!(list.synced_at(), Some(at(0)));
        // The clock of the tokens jumping forward says nothing about the sync.
        clock.set(at(100_000));
        assert!(!list.is_stale(max_age));
        tokio::time::advance(StdDuration::from_secs(9)).await;
        assert!(!list.is_stale(max_age), "9.01 s");
        tokio::time::advance(StdDuration::from_secs(1)).await;
        assert!(list.is_stale(max_age), "no successful sync for 10.01 s");
        assert_eq!(list.synced_ago(), Some(StdDuration::from_millis(10_010)));
        tokio::time::advance(StdDuration::from_secs(3_600)).await;
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        assert_eq!(list.synced_at(), Some(at(100_000)), "each successful sync moves it");
        assert!(!list.is_stale(max_age));
        drop(task);
    }

    #[test]
    fn spawn_sync_outside_a_runtime_does_not_panic() {
        let list = Arc::new(RevocationList::new());
        let task = list.spawn_sync(Arc::new(MemoryGrantStore::new()), StdDuration::from_secs(1));
        assert!(task.is_finished());
    }

    #[test]
    fn is_revoked_with_a_long_not_before_history() {
        let list = RevocationList::new();
        for i in 0..1000 {
            list.apply(&RevocationEvent::User { user_id: UserId::new(format!("u{i}")), not_before: at(i) });
            list.apply(&RevocationEvent::Grant { grant_id: format!("g{i}") });
        }
        assert!(list.is_revoked(Some("g999"), &UserId::new("x"), at(0)));
        assert!(list.is_revoked(None, &UserId::new("u500"), at(499)));
        assert!(!list.is_revoked(Some("g1000"), &UserId::new("u500"), at(500)));
    }
}
