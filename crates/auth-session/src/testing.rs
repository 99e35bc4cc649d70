//! The session store conformance suite: every [`SessionStore`] implementation (in-memory,
//! SQLite, PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use auth_session::{MemorySessionStore, testing};
//!
//! testing::session_store_conformance(&MemorySessionStore::new()).await;
//! testing::concurrent_rotate_conformance(Arc::new(MemorySessionStore::new()), 16).await;
//! testing::concurrent_set_value_conformance(Arc::new(MemorySessionStore::new()), 16).await;
//! # }
//! ```
//!
//! The suite tolerates a store that holds other data (every id, hash, grant and user is fresh),
//! and uses whole-second times around 2033 (every store keeps them exactly).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::{SessionError, SessionId, SessionRecord, SessionStore, SessionUnusable, TokenHash, check_usable};

/// Concurrent calls in the suite's own race checks.
const RACERS: usize = 16;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The suite's time origin (2033-05-18), whole seconds so that every store keeps it exactly.
fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// Polls every future concurrently on the current task and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[allow(clippy::panic)]
fn assert_duplicate<T: std::fmt::Debug>(result: Result<T, AuthError>, field: &str, context: &str) {
    let Err(AuthError::Backend(source)) = &result else {
        panic!("{context}: expected a Backend error, got {result:?}");
    };
    match source.downcast_ref::<SessionError>() {
        Some(SessionError::Duplicate { field: got }) => assert_eq!(*got, field, "{context}"),
        other => panic!("{context}: expected SessionError::Duplicate, got {other:?} ({source})"),
    }
}

/// A fresh session: `(cookie value, record)`.
fn session(
    user: &UserId,
    grant: &str,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
    idle_ttl: Duration,
) -> (String, SessionRecord) {
    let (value, hash) = SessionId::generate();
    (value, SessionRecord::new(unique("ses"), hash, user.clone(), grant, created, expires, idle_ttl))
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn found<S: SessionStore>(store: &S, hash: &TokenHash) -> SessionRecord {
    store.find_by_hash(hash).await.unwrap().expect("found")
}

/// The ids of `records` the store still finds by hash.
async fn live<S: SessionStore>(store: &S, records: &[&SessionRecord]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for record in records {
        if exists(store, &record.hash).await {
            ids.insert(record.id.clone());
        }
    }
    ids
}

#[allow(clippy::unwrap_used)]
async fn exists<S: SessionStore>(store: &S, hash: &TokenHash) -> bool {
    store.find_by_hash(hash).await.unwrap().is_some()
}

/// Runs every check against `store`. Panics with a description of the first failure.
///
/// Nothing else may touch the suite's records meanwhile (they are its own), but other data may be
/// present and is left alone, except that [`SessionStore::flush_expired`] runs at times around
/// 2033.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn session_store_conformance<S: SessionStore>(store: &S) {
    let t = origin();
    let day = Duration::days(1);
    let hour = Duration::hours(1);
    let alice = UserId::new(unique("alice"));
    let bob = UserId::new(unique("bob"));
    let carol = UserId::new(unique("carol"));

    // ---- insert, find_by_hash: every field round-trips, data included.
    let grant = unique("g");
    let (value, mut full) = session(&alice, &grant, t, t + day * 14, day * 2);
    full.insert("cart", &vec![1, 2, 3]).unwrap();
    full.insert("name", "Zoë \"quoted\" — ✓").unwrap();
    full.insert("nested", &json!({"a": {"b": [true, null, 1.5]}})).unwrap();
    let full = full.amr(vec!["pwd".to_owned(), "otp".to_owned()]);
    store.insert(full.clone()).await.expect("insert");
    let got = found(store, &full.hash).await;
    assert_eq!(got, full, "every field round-trips");
    assert_eq!(got.last_seen_at, t, "last_seen_at starts at created_at");
    assert_eq!(got.get::<Vec<u32>>("cart").unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(got.get::<String>("name").unwrap().as_deref(), Some("Zoë \"quoted\" — ✓"));
    assert!(got.get::<u32>("name").is_err(), "the wrong type is an error");
    assert_eq!(got.get::<u32>("absent").unwrap(), None);
    let presented = SessionId::parse(&value).expect("a generated id parses");
    assert_eq!(found(store, &presented).await.id, full.id);
    let (_, bare) = session(&alice, &grant, t, t + day, hour);
    store.insert(bare.clone()).await.expect("insert");
    assert_eq!(found(store, &bare.hash).await, bare, "a session without data");
    assert_eq!(bare.amr, ["pwd"], "amr defaults to a password sign-in");
    let (_, unknown) = SessionId::generate();
    assert!(!exists(store, &unknown).await, "an unknown hash");

    // ---- ids and hashes are unique.
    let mut same_id = session(&alice, &grant, t, t + day, hour).1;
    same_id.id = full.id.clone();
    assert_duplicate(store.insert(same_id).await, "id", "an id that exists");
    let mut same_hash = session(&alice, &grant, t, t + day, hour).1;
    same_hash.hash = full.hash.clone();
    assert_duplicate(store.insert(same_hash).await, "hash", "a hash that exists");
    assert_eq!(found(store, &full.hash).await, full, "unchanged");

    // ---- touch: at most once a minute, never backwards.
    let (_, r) = session(&alice, &grant, t, t + day, hour);
    store.insert(r.clone()).await.expect("insert");
    assert!(!store.touch(&r.id, t).await.unwrap(), "touch at t: last_seen_at is t");
    assert!(!store.touch(&r.id, t + secs(30)).await.unwrap(), "t+30 s: no write");
    assert!(!store.touch(&r.id, t + secs(60)).await.unwrap(), "t+60 s: not older than 60 s yet");
    assert_eq!(found(store, &r.hash).await.last_seen_at, t);
    assert!(store.touch(&r.id, t + secs(61)).await.unwrap(), "t+61 s: writes");
    assert_eq!(found(store, &r.hash).await.last_seen_at, t + secs(61));
    assert!(!store.touch(&r.id, t + secs(61)).await.unwrap(), "once");
    assert!(!store.touch(&r.id, t + secs(10)).await.unwrap(), "an earlier now never writes");
    assert_eq!(found(store, &r.hash).await.last_seen_at, t + secs(61), "never moves back");
    assert!(!store.touch(&unique("nope"), t + day).await.unwrap(), "an unknown id");
    assert_eq!(found(store, &full.hash).await, full, "others untouched");
    let racing = join_all((0..RACERS).map(|_| store.touch(&r.id, t + secs(300))).collect()).await;
    let wrote = racing.into_iter().map(|w| w.expect("touch")).filter(|w| *w).count();
    assert_eq!(wrote, 1, "exactly one of {RACERS} concurrent touches writes");

    // ---- rotate: same session, new id; the old id is dead.
    let (_, mut rot) = session(&bob, &unique("g"), t, t + day, hour);
    rot.insert("role", "user").unwrap();
    store.insert(rot.clone()).await.expect("insert");
    let (new_value, new_hash) = SessionId::generate();
    let rotated = store.rotate(&rot.hash, &new_hash, t + secs(10)).await.unwrap().expect("rotated");
    assert_eq!(rotated.id, rot.id, "the same row");
    assert_eq!(rotated.hash, new_hash);
    assert_eq!((&rotated.user_id, &rotated.grant_id), (&rot.user_id, &rot.grant_id));
    assert_eq!((rotated.created_at, rotated.expires_at, rotated.idle_ttl), (t, t + day, hour));
    assert_eq!(rotated.data, rot.data, "data survives rotation");
    assert_eq!(rotated.last_seen_at, t + secs(10), "a rotation is a use");
    assert!(!exists(store, &rot.hash).await, "the old id stops working");
    assert_eq!(found(store, &SessionId::parse(&new_value).expect("id")).await, rotated, "the new id works");
    assert!(
        store.rotate(&rot.hash, &SessionId::generate().1, t + secs(20)).await.unwrap().is_none(),
        "old hash"
    );
    let (_, again) = SessionId::generate();
    let back = store.rotate(&new_hash, &again, t).await.unwrap().expect("rotated again");
    assert_eq!(back.last_seen_at, t + secs(10), "last_seen_at never moves back");
    assert_eq!(found(store, &again).await, back);
    assert!(store.rotate(&unknown, &SessionId::generate().1, t).await.unwrap().is_none(), "unknown hash");
    assert_duplicate(store.rotate(&again, &full.hash, t + secs(20)).await, "hash", "a new hash in use");
    assert!(
        exists(store, &again).await && exists(store, &full.hash).await,
        "a refused rotation changes nothing"
    );
    let (_, dead) = session(&bob, &unique("g"), t, t + hour, Duration::minutes(10));
    store.insert(dead.clone()).await.expect("insert");
    assert!(store.rotate(&dead.hash, &SessionId::generate().1, t + hour).await.unwrap().is_none(), "expired");
    assert!(
        store.rotate(&dead.hash, &SessionId::generate().1, t + secs(600)).await.unwrap().is_none(),
        "idle"
    );
    assert!(exists(store, &dead.hash).await, "a refused rotation leaves the session as it was");

    // ---- concurrent rotations of one old hash: exactly one succeeds.
    let (_, raced) = session(&bob, &unique("g"), t, t + day, hour);
    store.insert(raced.clone()).await.expect("insert");
    let new_hashes: Vec<TokenHash> = (0..RACERS).map(|_| SessionId::generate().1).collect();
    let results =
        join_all(new_hashes.iter().map(|new| store.rotate(&raced.hash, new, t + secs(5))).collect()).await;
    let winners: Vec<SessionRecord> = results.into_iter().filter_map(|r| r.expect("rotate")).collect();
    assert_eq!(winners.len(), 1, "exactly one of {RACERS} concurrent rotations succeeds");
    assert!(!exists(store, &raced.hash).await);
    let mut working = Vec::new();
    for hash in &new_hashes {
        if exists(store, hash).await {
            working.push(hash);
        }
    }
    assert_eq!(working, vec![&winners[0].hash], "only the winner's id works");

    // ---- set_data
    let mut data = Map::new();
    data.insert("theme".to_owned(), Value::from("dark"));
    assert!(store.set_data(&r.id, data.clone()).await.unwrap());
    let got = found(store, &r.hash).await;
    assert_eq!(got.data, data);
    assert_eq!(got.get::<String>("theme").unwrap().as_deref(), Some("dark"));
    assert_eq!(got.last_seen_at, t + secs(300), "set_data changes nothing else");
    assert!(store.set_data(&r.id, Map::new()).await.unwrap());
    assert!(found(store, &r.hash).await.data.is_empty());
    assert!(!store.set_data(&unique("nope"), data).await.unwrap(), "an unknown id");

    // ---- set_value: one key at a time, the others kept.
    assert!(store.set_value(&r.id, "a", Some(json!(1))).await.unwrap());
    assert!(store.set_value(&r.id, "b", Some(json!({"x": [true]}))).await.unwrap());
    assert!(store.set_value(&r.id, "a", Some(json!("one"))).await.unwrap());
    let got = found(store, &r.hash).await;
    assert_eq!(Value::Object(got.data.clone()), json!({"a": "one", "b": {"x": [true]}}));
    assert!(store.set_value(&r.id, "a", None).await.unwrap());
    assert!(store.set_value(&r.id, "absent", None).await.unwrap(), "removing an absent key is fine");
    assert_eq!(Value::Object(found(store, &r.hash).await.data), json!({"b": {"x": [true]}}));
    assert!(!store.set_value(&unique("nope"), "a", Some(json!(1))).await.unwrap(), "an unknown id");
    assert!(store.set_data(&r.id, Map::new()).await.unwrap());

    // ---- expiry: absolute and idle.
    let (_, e) = session(&alice, &grant, t, t + hour, Duration::minutes(10));
    store.insert(e.clone()).await.expect("insert");
    let stored = found(store, &e.hash).await;
    assert_eq!(check_usable(&stored, t + secs(599)), Ok(()));
    assert_eq!(check_usable(&stored, t + secs(600)), Err(SessionUnusable::Idle), "idle at the deadline");
    assert!(store.touch(&e.id, t + Duration::minutes(5)).await.unwrap());
    let stored = found(store, &e.hash).await;
    assert_eq!(check_usable(&stored, t + Duration::minutes(10)), Ok(()), "a use defers the idle end");
    assert_eq!(check_usable(&stored, t + Duration::minutes(15)), Err(SessionUnusable::Idle));
    assert!(store.touch(&e.id, t + Duration::minutes(55)).await.unwrap());
    let stored = found(store, &e.hash).await;
    assert_eq!(check_usable(&stored, t + hour), Err(SessionUnusable::Expired), "the absolute end holds");
    assert_eq!(check_usable(&stored, t + hour * 2), Err(SessionUnusable::Expired), "Expired before Idle");

    // ---- delete
    assert!(store.delete(&bare.id).await.unwrap());
    assert!(!store.delete(&bare.id).await.unwrap(), "already deleted");
    assert!(!store.delete(&unique("nope")).await.unwrap(), "unknown");
    assert!(!exists(store, &bare.hash).await);
    let mut reinserted = bare.clone();
    reinserted.id = unique("ses");
    store.insert(reinserted.clone()).await.expect("a deleted session's hash is free again");
    assert!(store.delete(&reinserted.id).await.unwrap());

    // ---- delete_by_grant / delete_for_user: cross-user and cross-grant isolation.
    let (ga, gb) = (unique("ga"), unique("gb"));
    let (_, a1) = session(&carol, &ga, t, t + day, hour);
    let (_, a2) = session(&carol, &ga, t, t + day, hour);
    let (_, b1) = session(&carol, &gb, t, t + day, hour);
    let (_, other) = session(&bob, &gb, t, t + day, hour);
    for record in [&a1, &a2, &b1, &other] {
        store.insert(record.clone()).await.expect("insert");
    }
    assert_eq!(store.delete_by_grant(&ga).await.unwrap(), 2);
    assert_eq!(store.delete_by_grant(&ga).await.unwrap(), 0, "nothing left");
    assert_eq!(store.delete_by_grant(&unique("nope")).await.unwrap(), 0);
    assert!(!exists(store, &a1.hash).await && !exists(store, &a2.hash).await);
    assert_eq!(found(store, &b1.hash).await, b1, "another grant's session stays");
    assert_eq!(store.delete_for_user(&carol).await.unwrap(), 1);
    assert_eq!(store.delete_for_user(&carol).await.unwrap(), 0);
    assert!(!exists(store, &b1.hash).await);
    assert_eq!(found(store, &other.hash).await, other, "another user's session stays");
    assert_eq!(found(store, &full.hash).await, full, "and so do alice's");
    assert_eq!(store.delete_for_user(&UserId::new(unique("nobody"))).await.unwrap(), 0);

    // ---- flush_expired: absolute and idle expiry, each idle timeout on its own.
    let dave = UserId::new(unique("dave"));
    let g = unique("g");
    let (_, expired) = session(&dave, &g, t, t + hour, day);
    let (_, idle_1h) = session(&dave, &g, t, t + day, hour);
    let (_, used_1h) = session(&dave, &g, t, t + day, hour);
    let (_, idle_2h) = session(&dave, &g, t, t + day, hour * 2);
    let (_, long) = session(&dave, &g, t, t + day, day * 2);
    let all = [&expired, &idle_1h, &used_1h, &idle_2h, &long];
    for record in all {
        store.insert((*record).clone()).await.expect("insert");
    }
    assert!(store.touch(&used_1h.id, t + Duration::minutes(50)).await.unwrap());
    let ids = |records: &[&SessionRecord]| records.iter().map(|r| r.id.clone()).collect::<HashSet<_>>();
    let flushed = store.flush_expired(t + Duration::minutes(90)).await.unwrap();
    assert!(flushed >= 2, "flushed {flushed}, expected at least the expired and the idle session");
    assert_eq!(live(store, &all).await, ids(&[&used_1h, &idle_2h, &long]), "the expired and the idle one go");
    assert!(store.flush_expired(t + Duration::minutes(110)).await.unwrap() >= 1);
    assert_eq!(live(store, &all).await, ids(&[&idle_2h, &long]), "idle at 50 min + 1 h");
    store.flush_expired(t + hour * 2).await.unwrap();
    assert_eq!(live(store, &all).await, ids(&[&long]), "idle exactly at its deadline");
    assert_eq!(found(store, &full.hash).await, full, "live sessions stay");
    store.flush_expired(t + day).await.unwrap();
    assert!(live(store, &all).await.is_empty(), "expired exactly at expires_at");
}

/// `racers` concurrent [`SessionStore::set_value`] calls on one session, each writing its own
/// key, on spawned tasks: every write survives (no lost update).
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn concurrent_set_value_conformance<S: SessionStore>(store: Arc<S>, racers: usize) {
    let t = origin();
    let (_, record) =
        session(&UserId::new(unique("writer")), &unique("g"), t, t + Duration::days(1), Duration::hours(1));
    store.insert(record.clone()).await.expect("insert");
    let tasks: Vec<_> = (0..racers)
        .map(|i| {
            let (store, id) = (Arc::clone(&store), record.id.clone());
            tokio::spawn(async move { store.set_value(&id, &format!("key{i}"), Some(Value::from(i))).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("task").expect("set_value"), "the session exists");
    }
    let data = store.find_by_hash(&record.hash).await.unwrap().expect("the session").data;
    assert_eq!(data.len(), racers, "every concurrent write of a different key survives: {data:?}");
    for i in 0..racers {
        assert_eq!(data.get(&format!("key{i}")), Some(&Value::from(i)));
    }
    assert!(store.delete(&record.id).await.unwrap());
}

/// `racers` rotations of one session's id, each to its own new hash, on spawned tasks (so a
/// multi-threaded runtime runs them in parallel, on separate connections of a pooled store):
/// exactly one returns the session, and only its new id works afterwards.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub async fn concurrent_rotate_conformance<S: SessionStore>(store: Arc<S>, racers: usize) {
    let t = origin();
    let user = UserId::new(unique("racer"));
    for round in 0..3 {
        let (_, record) = session(&user, &unique("g"), t, t + Duration::days(1), Duration::hours(1));
        store.insert(record.clone()).await.expect("insert");
        let new_hashes: Vec<TokenHash> = (0..racers).map(|_| SessionId::generate().1).collect();
        let tasks: Vec<_> = new_hashes
            .iter()
            .cloned()
            .map(|new| {
                let (store, old) = (Arc::clone(&store), record.hash.clone());
                tokio::spawn(async move { store.rotate(&old, &new, t + secs(1)).await })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            if let Some(rotated) = task.await.expect("task").expect("rotate") {
                winners.push(rotated);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one of {racers} concurrent rotations succeeds");
        assert_eq!(winners[0].id, record.id);
        assert!(store.find_by_hash(&record.hash).await.unwrap().is_none(), "round {round}: old id dead");
        let mut live = 0;
        for hash in &new_hashes {
            if store.find_by_hash(hash).await.unwrap().is_some() {
                live += 1;
                assert_eq!(hash, &winners[0].hash, "round {round}: only the winner's id works");
            }
        }
        assert_eq!(live, 1, "round {round}");
        assert!(store.delete(&record.id).await.unwrap());
    }
}
