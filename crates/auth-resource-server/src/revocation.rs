//! Revocations of a Portcullis issuer, polled from its feed.
//!
//! A Portcullis server publishes what it revoked at `GET /api/auth/revocations` (permission
//! `revocations:read`): a snapshot, then the events after a cursor. The resource server polls it
//! every [`RevocationFeed::interval`] (default 1 s, the bound of the server's own processes), so
//! a signed-out grant or a user signed out everywhere stops working here within that bound plus
//! one request. When polls fail for longer than [`RevocationFeed::max_lag`] (default 30 s), the
//! issuer's tokens are refused with 503 `service_unavailable`: fail closed rather than trust a
//! revocation list that may be missing revocations.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use auth_blacklist::{RevocationEvent, RevocationList, RevocationSnapshot};
use auth_core::{SharedClock, UserId};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::http::HttpFetcher;

/// Where and how often a Portcullis issuer's revocations are polled.
#[derive(Clone)]
#[non_exhaustive]
pub struct RevocationFeed {
    /// The feed's URL (`{base_url}/api/auth/revocations`).
    pub url: String,
    /// An API key (sent as `X-API-Key`) of a service account holding `revocations:read`.
    pub api_key: String,
    /// How often it is polled (default 1 s).
    pub interval: Duration,
    /// How long polls may fail before the issuer's tokens are refused (default 30 s).
    pub max_lag: Duration,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("url", &self.url)
            .field("api_key", &"[redacted]")
            .field("interval", &self.interval)
            .field("max_lag", &self.max_lag)
            .finish()
    }
}

impl RevocationFeed {
    /// The feed of the Portcullis server at `base_url`, read with `api_key`.
    pub fn portcullis(base_url: &str, api_key: impl Into<String>) -> Self {
        Self {
            url: format!("{}/api/auth/revocations", base_url.trim_end_matches('/')),
            api_key: api_key.into(),
            interval: Duration::from_secs(1),
            max_lag: Duration::from_secs(30),
        }
    }

    /// Sets the poll interval.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how long polls may fail before tokens are refused.
    pub fn max_lag(mut self, max_lag: Duration) -> Self {
        self.max_lag = max_lag;
        self
    }
}

/// The revocations known from one feed.
#[derive(Debug)]
pub(crate) struct FeedState {
    feed: RevocationFeed,
    clock: SharedClock,
    http: HttpFetcher,
    list: RevocationList,
    /// The cursor of the last events applied; negative before the first snapshot.
    cursor: AtomicI64,
    synced_at: RwLock<Option<DateTime<Utc>>>,
    /// The last poll, successful or not (a failing feed is not asked on every request).
    attempted_at: RwLock<Option<DateTime<Utc>>>,
    polling: tokio::sync::Mutex<()>,
    failing: AtomicBool,
}

impl FeedState {
    pub(crate) fn new(feed: RevocationFeed, clock: SharedClock, http: HttpFetcher) -> Self {
        Self {
            feed,
            clock,
            http,
            list: RevocationList::new(),
            cursor: AtomicI64::new(-1),
            synced_at: RwLock::new(None),
            attempted_at: RwLock::new(None),
            polling: tokio::sync::Mutex::new(()),
            failing: AtomicBool::new(false),
        }
    }

    pub(crate) fn interval(&self) -> Duration {
        self.feed.interval
    }

    fn synced_at(&self) -> Option<DateTime<Utc>> {
        *self.synced_at.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the list is fresh enough to trust: polled successfully within `max_lag`. Until a
    /// first poll succeeded, a request polls itself, at most once per interval (a feed that is
    /// down is not asked on every request).
    pub(crate) async fn ensure_fresh(&self) -> bool {
        if self.synced_at().is_none() {
            let interval = chrono::Duration::from_std(self.feed.interval).unwrap_or(chrono::Duration::MAX);
            let attempted = *self.attempted_at.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if attempted.is_none_or(|at| self.clock.now() >= at + interval) {
                self.poll().await;
            }
        }
        let max_lag = chrono::Duration::from_std(self.feed.max_lag).unwrap_or(chrono::Duration::MAX);
        self.synced_at().is_some_and(|at| self.clock.now() <= at + max_lag)
    }

    pub(crate) fn is_revoked(
        &self,
        grant_id: Option<&str>,
        user_id: &UserId,
        issued_at: DateTime<Utc>,
    ) -> bool {
        self.list.is_revoked(grant_id, user_id, issued_at)
    }

    /// Polls once: a snapshot first, then the events after the cursor. Failures are logged.
    pub(crate) async fn poll(&self) {
        let _one = self.polling.lock().await;
        *self.attempted_at.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(self.clock.now());
        match self.poll_once().await {
            Ok(()) => {
                *self.synced_at.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(self.clock.now());
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(url = %self.feed.url, "revocation feed reachable again");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(url = %self.feed.url, %error, "revocation feed poll failed");
                }
            }
        }
    }

    async fn poll_once(&self) -> Result<(), String> {
        let cursor = self.cursor.load(Ordering::Acquire);
        if cursor < 0 {
            let body =
                self.http.get_json(&self.feed.url, Some(("x-api-key", &self.feed.api_key))).await?.body;
            let snapshot = snapshot_of(&body)?;
            self.list.load(&snapshot);
            self.cursor.store(snapshot.cursor, Ordering::Release);
            return Ok(());
        }
        let url = format!("{}?since={cursor}", self.feed.url);
        let body = match self.http.get_json(&url, Some(("x-api-key", &self.feed.api_key))).await {
            Ok(fetched) => fetched.body,
            Err(error) => {
                // Start again from a snapshot next time (the cursor may have been flushed).
                self.cursor.store(-1, Ordering::Release);
                return Err(error);
            }
        };
        let events: Vec<RevocationEvent> = body
            .get("events")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| format!("revocation events: {e}"))?
            .unwrap_or_default();
        for event in &events {
            self.list.apply(event);
        }
        let next = body.get("cursor").and_then(Value::as_i64).ok_or("the feed answered no cursor")?;
        self.cursor.store(next.max(cursor), Ordering::Release);
        Ok(())
    }
}

fn snapshot_of(body: &Value) -> Result<RevocationSnapshot, String> {
    let cursor = body.get("cursor").and_then(Value::as_i64).ok_or("the snapshot has no cursor")?;
    let revoked_grants = body
        .get("revoked_grants")
        .and_then(Value::as_array)
        .ok_or("the snapshot has no revoked_grants")?
        .iter()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    let mut user_not_before = Vec::new();
    for entry in body.get("user_not_before").and_then(Value::as_array).ok_or("no user_not_before")? {
        let user = entry.get("user_id").and_then(Value::as_str).ok_or("a not-before without user_id")?;
        let at = entry.get("not_before").cloned().ok_or("a not-before without a time")?;
        let at: DateTime<Utc> = serde_json::from_value(at).map_err(|e| format!("not_before: {e}"))?;
        user_not_before.push((UserId::new(user), at));
    }
    Ok(RevocationSnapshot { revoked_grants, user_not_before, cursor })
}

/// Polls every feed at its interval until dropped.
pub(crate) fn spawn_polling(feeds: Vec<Arc<FeedState>>) -> Vec<tokio::task::JoinHandle<()>> {
    feeds
        .into_iter()
        .map(|feed| {
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(feed.interval().max(Duration::from_millis(10)));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    feed.poll().await;
                }
            })
        })
        .collect()
}
