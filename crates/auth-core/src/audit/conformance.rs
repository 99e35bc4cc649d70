//! The audit-store conformance suite: every [`AuditStore`] implementation (in-memory, SQLite,
//! PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use auth_core::audit::{MemoryAuditStore, conformance};
//!
//! conformance::audit_store_conformance(&MemoryAuditStore::new()).await;
//! # }
//! ```
//!
//! The suite tolerates a store that holds other data, and can run twice against one database:
//! every user it writes for is fresh, and the checks of events without a user look for the
//! suite's own ids. Its times are around 2033 (whole seconds and microseconds, which every store
//! keeps exactly). [`AuditStore::delete_before`] runs only at an instant in 2001, and its count is
//! checked against the events the store lists as older: no other writer may store events before
//! 2001 while the suite runs.

use chrono::{DateTime, Duration, Utc};

use super::{AuditEvent, AuditKind, AuditQuery, AuditStore, DEFAULT_LIMIT, MAX_LIMIT, sort_newest_first};
use crate::UserId;

/// A fresh user: `prefix-` and 128 random bits.
fn user(prefix: &str) -> UserId {
    UserId::new(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()))
}

/// The suite's time origin (2033-05-18), plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default() + Duration::seconds(seconds)
}

/// A random whole second between 2033 and 2036 (an instant no other run of the suite uses, very
/// probably).
fn random_instant() -> DateTime<Utc> {
    let offset = i64::try_from(uuid::Uuid::new_v4().as_u128() % 100_000_000).unwrap_or_default();
    at(1_000_000 + offset)
}

fn newest_first(events: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut events = events.to_vec();
    sort_newest_first(&mut events);
    events
}

#[allow(clippy::panic)]
async fn record(store: &dyn AuditStore, event: &AuditEvent) {
    if let Err(error) = store.record(event).await {
        panic!("record({event:?}) failed: {error:?}");
    }
}

#[allow(clippy::panic)]
async fn list(store: &dyn AuditStore, query: &AuditQuery) -> Vec<AuditEvent> {
    match store.list(query).await {
        Ok(events) => events,
        Err(error) => panic!("list({query:?}) failed: {error:?}"),
    }
}

fn ids(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

/// Runs every check against `store`. Panics with a description of the first failure.
pub async fn audit_store_conformance(store: &dyn AuditStore) {
    round_trip(store).await;
    order_and_filters(store).await;
    limits(store).await;
    every_kind(store).await;
    retention(store).await;
}

/// Every field comes back as recorded: the detail JSON, absent fields, a Unicode user agent,
/// microseconds.
async fn round_trip(store: &dyn AuditStore) {
    let alice = user("audit-alice");
    let full = AuditEvent::new(AuditKind::SignInSucceeded, at(0))
        .user(&alice)
        .client(Some("2001:db8::7"), Some("Mozilla/5.0 (X11; Ünïcødé; 日本語) Gecko 🦀 \"quoted\" \\ 'x'"))
        .detail("flow", "mobile")
        .detail("grant_id", "g-0191a6c3")
        .detail("attempt", 3)
        .detail("ratio", 0.5)
        .detail("mfa", true)
        .detail("nothing", serde_json::Value::Null)
        .detail("nested", serde_json::json!({"list": [1, "ß", null, false], "quote": "a \"b\" \\ c"}));
    record(store, &full).await;
    let found = list(store, &AuditQuery::new().user(&alice)).await;
    assert_eq!(found, vec![full.clone()], "an event with every field round-trips");

    // A user agent at the length limit, multi-byte, and a time with microseconds.
    let long = AuditEvent::new(AuditKind::PasswordChanged, at(1) + Duration::microseconds(123_456))
        .user(&alice)
        .client(Some("203.0.113.7"), Some(&"é".repeat(300)));
    assert_eq!(long.user_agent.as_deref().map(|a| a.chars().count()), Some(super::MAX_USER_AGENT_CHARS));
    record(store, &long).await;
    let found = list(store, &AuditQuery::new().user(&alice)).await;
    assert_eq!(found, vec![long.clone(), full.clone()], "a long user agent and microseconds round-trip");

    // No user, no client, empty or small detail.
    let when = random_instant();
    let bare = AuditEvent::new(AuditKind::LockedOut, when);
    let anonymous = AuditEvent::new(AuditKind::SignInFailed, when)
        .client(Some("198.51.100.1"), None)
        .detail("reason", "unknown_login");
    record(store, &bare).await;
    record(store, &anonymous).await;
    let window = AuditQuery::new()
        .since(when)
        .before(when + Duration::seconds(1))
        .kinds(vec![AuditKind::LockedOut, AuditKind::SignInFailed])
        .limit(MAX_LIMIT);
    let found = list(store, &window).await;
    for event in [&bare, &anonymous] {
        assert_eq!(
            found.iter().find(|e| e.id == event.id),
            Some(event),
            "an event without a user round-trips and is found without a user filter"
        );
    }
    assert!(found.iter().all(|e| e.at == when), "the time window holds: {found:?}");
    let alices = list(store, &AuditQuery::new().user(&alice).limit(MAX_LIMIT)).await;
    assert_eq!(ids(&alices), ids(&[long, full]), "events without a user never match a user filter");
}

/// Newest first, ties on `at` broken by id descending; every filter, alone and combined; other
/// users' events never returned.
async fn order_and_filters(store: &dyn AuditStore) {
    use AuditKind::*;

    let (bob, carol) = (user("audit-bob"), user("audit-carol"));
    let micros = Duration::microseconds;
    let t = at(100);
    let spec = [
        (SignInFailed, t),
        (SignInSucceeded, t + Duration::seconds(1)),
        (MfaFailed, t + Duration::seconds(1)),
        (SignedOut, t + Duration::seconds(1)),
        (PasswordChanged, t + Duration::seconds(1) + micros(1)),
        (SignInFailed, t + micros(1_500_000)),
        (SessionRevoked, t + Duration::seconds(2)),
        (SignInSucceeded, t + Duration::seconds(3)),
    ];
    let events: Vec<AuditEvent> = spec
        .iter()
        .map(|&(kind, when)| {
            AuditEvent::new(kind, when).user(&bob).detail("n", when.timestamp_subsec_micros())
        })
        .collect();
    let carols: Vec<AuditEvent> =
        spec.iter().map(|&(kind, when)| AuditEvent::new(kind, when).user(&carol)).collect();
    // Recorded out of order: the three ties neither in ascending nor in descending id order.
    for i in [2, 0, 6, 3, 7, 1, 5, 4] {
        record(store, &events[i]).await;
        record(store, &carols[i]).await;
    }
    let expected = newest_first(&events);
    let tied: Vec<&str> = expected[4..7].iter().map(|e| e.id.as_str()).collect();
    assert_eq!(tied, [&events[3].id, &events[2].id, &events[1].id], "the suite's own ordering");

    let all = AuditQuery::new().user(&bob).limit(MAX_LIMIT);
    assert_eq!(list(store, &all).await, expected, "newest first, ties on `at` by id descending");
    assert_eq!(list(store, &AuditQuery::new().user(&bob)).await, expected, "limit 0 is the default");
    assert_eq!(
        list(store, &AuditQuery::new().user(&carol)).await,
        newest_first(&carols),
        "each user sees only their own events"
    );
    assert!(list(store, &AuditQuery::new().user(&user("audit-nobody"))).await.is_empty());

    let only = |pred: &dyn Fn(&AuditEvent) -> bool| -> Vec<AuditEvent> {
        expected.iter().filter(|e| pred(e)).cloned().collect()
    };

    // Kinds.
    let failures = all.clone().kinds(vec![SignInFailed, MfaFailed]);
    assert_eq!(
        list(store, &failures).await,
        only(&|e| matches!(e.kind, SignInFailed | MfaFailed)),
        "kind filter"
    );
    assert_eq!(list(store, &all.clone().kinds(vec![SignedOut])).await, [events[3].clone()]);
    assert!(list(store, &all.clone().kinds(vec![ApiKeyCreated])).await.is_empty());
    assert_eq!(list(store, &all.clone().kinds(Vec::new())).await, expected, "no kinds: every kind");

    // Time bounds: since inclusive, before exclusive.
    let one = t + Duration::seconds(1);
    assert_eq!(list(store, &all.clone().since(one)).await, only(&|e| e.at >= one), "since is inclusive");
    assert_eq!(list(store, &all.clone().before(one)).await, [events[0].clone()], "before is exclusive");
    let two = t + Duration::seconds(2);
    assert_eq!(
        list(store, &all.clone().since(one).before(two)).await,
        only(&|e| e.at >= one && e.at < two),
        "since and before"
    );
    assert_eq!(
        list(store, &all.clone().since(one + micros(1)).before(t + micros(1_500_001))).await,
        [events[5].clone(), events[4].clone()],
        "bounds to the microsecond"
    );
    assert!(list(store, &all.clone().since(two).before(two)).await.is_empty(), "an empty window");

    // Limits, alone and with the other filters.
    assert_eq!(list(store, &all.clone().limit(2)).await, expected[..2], "limit keeps the newest");
    assert_eq!(list(store, &all.clone().limit(1)).await, expected[..1]);
    let combined =
        all.clone().kinds(vec![SignInSucceeded, MfaFailed, SignedOut]).since(t).before(two).limit(2);
    assert_eq!(
        list(store, &combined).await,
        [events[3].clone(), events[2].clone()],
        "kinds, since, before and limit together"
    );

    // Without a user filter both users' events match (and perhaps other data's).
    let found =
        list(store, &AuditQuery::new().since(t).before(t + Duration::seconds(4)).limit(MAX_LIMIT)).await;
    for event in events.iter().chain(&carols) {
        assert!(found.contains(event), "no user filter: {event:?} is listed");
    }
    let mut sorted = found.clone();
    sort_newest_first(&mut sorted);
    assert_eq!(ids(&found), ids(&sorted), "newest first without a user filter too");
}

/// Limit 0 means [`DEFAULT_LIMIT`]; a limit above [`MAX_LIMIT`] is capped.
async fn limits(store: &dyn AuditStore) {
    let dave = user("audit-dave");
    let mut events = Vec::new();
    for i in 0..=MAX_LIMIT {
        let i = i64::try_from(i).unwrap_or_default();
        let event = AuditEvent::new(AuditKind::SignInSucceeded, at(10_000 + i)).user(&dave);
        record(store, &event).await;
        events.push(event);
    }
    let expected = newest_first(&events);
    let query = AuditQuery::new().user(&dave);
    let found = list(store, &query).await;
    assert_eq!(found.len(), DEFAULT_LIMIT, "limit 0 returns DEFAULT_LIMIT events");
    assert_eq!(found, expected[..DEFAULT_LIMIT], "the newest DEFAULT_LIMIT");
    let found = list(store, &query.clone().limit(MAX_LIMIT + 1)).await;
    assert_eq!(found.len(), MAX_LIMIT, "a limit above MAX_LIMIT is capped");
    assert_eq!(ids(&found), ids(&expected[..MAX_LIMIT]));
    assert_eq!(list(store, &query.clone().limit(usize::MAX)).await.len(), MAX_LIMIT, "usize::MAX is capped");
    assert_eq!(list(store, &query.clone().limit(MAX_LIMIT)).await.len(), MAX_LIMIT);
    assert_eq!(list(store, &query.clone().limit(7)).await, expected[..7]);
}

/// Every kind is stored and read back as itself, and filters as itself.
async fn every_kind(store: &dyn AuditStore) {
    let erin = user("audit-erin");
    let mut events = Vec::new();
    for (i, kind) in AuditKind::ALL.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or_default();
        let event = AuditEvent::new(*kind, at(20_000 + i)).user(&erin).detail("kind", kind.as_str());
        record(store, &event).await;
        events.push(event);
    }
    let found = list(store, &AuditQuery::new().user(&erin).limit(MAX_LIMIT)).await;
    assert_eq!(found, newest_first(&events), "every kind round-trips");
    for (kind, event) in AuditKind::ALL.iter().zip(&events) {
        let found = list(store, &AuditQuery::new().user(&erin).kinds(vec![*kind])).await;
        assert_eq!(found, std::slice::from_ref(event), "the kind filter finds exactly the {kind} event");
    }
}

/// [`AuditStore::delete_before`] deletes exactly the events older than its instant, and counts them.
async fn retention(store: &dyn AuditStore) {
    let frank = user("audit-frank");
    // 2001-09-09T01:46:40Z: long before anything else the suite writes.
    let cut = DateTime::from_timestamp(1_000_000_000, 0).unwrap_or_default();
    let old: Vec<AuditEvent> = [Duration::days(400), Duration::seconds(1), Duration::microseconds(1)]
        .into_iter()
        .map(|age| AuditEvent::new(AuditKind::SignInSucceeded, cut - age).user(&frank))
        .chain([AuditEvent::new(AuditKind::SignInFailed, cut - Duration::seconds(2))])
        .collect();
    let kept: Vec<AuditEvent> = [Duration::zero(), Duration::microseconds(1), Duration::days(1)]
        .into_iter()
        .map(|age| AuditEvent::new(AuditKind::SignedOut, cut + age).user(&frank))
        .collect();
    for event in old.iter().chain(&kept) {
        record(store, event).await;
    }
    let older = AuditQuery::new().before(cut).limit(MAX_LIMIT);
    let listed = list(store, &older).await.len();
    assert!(listed >= old.len(), "the old events are listed before deletion");
    assert!(listed < MAX_LIMIT, "fewer than MAX_LIMIT events before 2001, so the count below is exact");
    let deleted = store.delete_before(cut).await;
    assert!(
        matches!(deleted, Ok(n) if n == u64::try_from(listed).unwrap_or_default()),
        "delete_before returns how many events it deleted: {deleted:?}, expected {listed}"
    );
    assert!(list(store, &older).await.is_empty(), "nothing older than the cut is left");
    assert_eq!(
        list(store, &AuditQuery::new().user(&frank)).await,
        newest_first(&kept),
        "events at or after the cut stay"
    );
    let again = store.delete_before(cut).await;
    assert!(matches!(again, Ok(0)), "a second delete finds nothing: {again:?}");
}
