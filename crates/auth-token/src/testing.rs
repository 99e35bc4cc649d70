//! The opaque-token and API-key store conformance suites: every [`OpaqueTokenStore`] and
//! [`ApiKeyStore`] implementation (in-memory, SQLite, PostgreSQL, or your own) runs the same
//! behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use auth_token::{MemoryApiKeyStore, MemoryOpaqueTokenStore, testing};
//!
//! testing::opaque_token_store_conformance(&MemoryOpaqueTokenStore::new()).await;
//! testing::api_key_store_conformance(&MemoryApiKeyStore::new()).await;
//! testing::concurrent_touch_conformance(Arc::new(MemoryOpaqueTokenStore::new()), 16).await;
//! testing::concurrent_api_key_touch_conformance(Arc::new(MemoryApiKeyStore::new()), 16).await;
//! # }
//! ```
//!
//! The suites tolerate a store that holds other data (every id, hash and user is fresh), and use
//! whole-second times around 2033 (every store keeps them exactly).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::{
    ApiKeyRecord, ApiKeyStore, OpaqueTokenRecord, OpaqueTokenStore, TokenError, TokenFormat, TokenHash,
    TokenUnusable, check_usable,
};

/// Concurrent touches in the suites' own race checks.
const RACERS: usize = 16;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The suites' time origin (2033-05-18), whole seconds so that every store keeps it exactly.
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
fn assert_duplicate(result: Result<(), AuthError>, field: &str, context: &str) {
    let Err(AuthError::Backend(source)) = &result else {
        panic!("{context}: expected a Backend error, got {result:?}");
    };
    match source.downcast_ref::<TokenError>() {
        Some(TokenError::Duplicate { field: got, .. }) => assert_eq!(*got, field, "{context}"),
        other => panic!("{context}: expected TokenError::Duplicate, got {other:?} ({source})"),
    }
}

/// `n` touches of `id` at the same `now`, all in flight at once; returns how many wrote.
#[allow(clippy::expect_used)]
async fn racing_touches<Fut>(n: usize, touch: impl Fn() -> Fut) -> usize
where
    Fut: Future<Output = Result<bool, AuthError>>,
{
    let results = join_all((0..n).map(|_| touch()).collect()).await;
    results.into_iter().map(|wrote| wrote.expect("touch")).filter(|wrote| *wrote).count()
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn token_last_used<S: OpaqueTokenStore>(store: &S, hash: &TokenHash) -> DateTime<Utc> {
    store.find_by_hash(hash).await.unwrap().expect("found").last_used_at
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn key_last_used<S: ApiKeyStore>(store: &S, hash: &TokenHash) -> Option<DateTime<Utc>> {
    store.find_by_hash(hash).await.unwrap().expect("found").last_used_at
}

#[allow(clippy::unwrap_used)]
async fn key_revoked_at<S: ApiKeyStore>(store: &S, hash: &TokenHash) -> Option<DateTime<Utc>> {
    store.find_by_hash(hash).await.unwrap().and_then(|key| key.revoked_at)
}

fn opaque(
    format: &TokenFormat,
    user: &UserId,
    grant: &str,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> (String, OpaqueTokenRecord) {
    let secret = format.generate();
    let record =
        OpaqueTokenRecord::from_secret(unique("tok"), &secret, user.clone(), grant, created, expires);
    (secret.into_token(), record)
}

/// Runs every opaque-token check against `store`. Panics with a description of the first failure.
///
/// Nothing else may touch the suite's records meanwhile (they are its own), but other data may
/// be present and is left alone, except that [`OpaqueTokenStore::flush_expired`] runs at times
/// around 2033.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn opaque_token_store_conformance<S: OpaqueTokenStore>(store: &S) {
    let t = origin();
    let day = Duration::days(1);
    let format = TokenFormat::opaque_token();
    let alice = UserId::new(unique("alice"));
    let bob = UserId::new(unique("bob"));
    let carol = UserId::new(unique("carol"));
    let dave = UserId::new(unique("dave"));

    // ---- insert, find_by_hash: every field round-trips.
    let secret = format.generate();
    let grant = unique("g");
    let full = OpaqueTokenRecord::from_secret(unique("tok"), &secret, alice.clone(), &grant, t, t + day * 30)
        .name("Work laptop — Firefox".to_owned())
        .idle_ttl(day * 7)
        .amr(vec!["pwd".to_owned(), "otp".to_owned()]);
    store.insert(full.clone()).await.expect("insert");
    assert_eq!(store.find_by_hash(secret.hash()).await.unwrap().as_ref(), Some(&full));
    assert_eq!(full.last_used_at, t, "last_used_at starts at created_at");
    let presented = format.parse(secret.token()).expect("a generated token parses");
    assert_eq!(store.find_by_hash(&presented).await.unwrap().map(|r| r.id), Some(full.id.clone()));
    let (_, bare) = opaque(&format, &alice, &grant, t, t + day);
    store.insert(bare.clone()).await.expect("insert");
    let found = store.find_by_hash(&bare.hash).await.unwrap().expect("found");
    assert_eq!(found, bare);
    assert_eq!((found.name, found.idle_ttl), (None, None));
    assert_eq!(found.amr, ["pwd"], "amr defaults to a password sign-in");
    let unknown = format.generate();
    assert!(store.find_by_hash(unknown.hash()).await.unwrap().is_none(), "an unknown hash");

    // ---- ids and hashes are unique.
    let mut same_id = opaque(&format, &alice, &grant, t, t + day).1;
    same_id.id = full.id.clone();
    assert_duplicate(store.insert(same_id).await, "id", "an id that exists");
    let mut same_hash = opaque(&format, &alice, &grant, t, t + day).1;
    same_hash.hash = full.hash.clone();
    assert_duplicate(store.insert(same_hash.clone()).await, "hash", "a hash that exists");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full), "unchanged");
    let mut tokens = HashSet::new();
    let mut hashes = HashSet::new();
    for _ in 0..200 {
        let secret = format.generate();
        assert!(hashes.insert(secret.hash().as_hex().to_owned()), "generated hashes are unique");
        assert!(tokens.insert(secret.into_token()), "generated tokens are unique");
    }

    // ---- touch: at most once a minute, never backwards.
    let (_, r) = opaque(&format, &alice, &grant, t, t + day);
    store.insert(r.clone()).await.expect("insert");
    let last_used = token_last_used;
    assert!(!store.touch(&r.id, t).await.unwrap(), "touch at t: last_used_at is t");
    assert!(!store.touch(&r.id, t + secs(30)).await.unwrap(), "t+30 s: no write");
    assert!(!store.touch(&r.id, t + secs(60)).await.unwrap(), "t+60 s: not older than 60 s yet");
    assert_eq!(last_used(store, &r.hash).await, t);
    assert!(store.touch(&r.id, t + secs(61)).await.unwrap(), "t+61 s: writes");
    assert_eq!(last_used(store, &r.hash).await, t + secs(61));
    assert!(!store.touch(&r.id, t + secs(61)).await.unwrap(), "once");
    assert!(!store.touch(&r.id, t + secs(90)).await.unwrap());
    assert!(!store.touch(&r.id, t + secs(10)).await.unwrap(), "an earlier now never writes");
    assert_eq!(last_used(store, &r.hash).await, t + secs(61), "last_used_at never moves back");
    assert!(store.touch(&r.id, t + secs(122)).await.unwrap());
    assert_eq!(last_used(store, &r.hash).await, t + secs(122));
    assert!(!store.touch(&unique("nope"), t + day).await.unwrap(), "an unknown id");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full), "others untouched");

    // ---- concurrent touches at the same now: exactly one writes.
    let (_, raced) = opaque(&format, &alice, &grant, t, t + day);
    store.insert(raced.clone()).await.expect("insert");
    for (round, now) in [t + secs(120), t + secs(300)].into_iter().enumerate() {
        let wrote = racing_touches(RACERS, || store.touch(&raced.id, now)).await;
        assert_eq!(wrote, 1, "round {round}: exactly one of {RACERS} concurrent touches writes");
        assert_eq!(last_used(store, &raced.hash).await, now);
    }

    // ---- expiry: absolute and idle, as the store keeps them.
    let (_, e) = opaque(&format, &alice, &grant, t, t + Duration::hours(1));
    let e = e.idle_ttl(Duration::minutes(10));
    store.insert(e.clone()).await.expect("insert");
    let stored = store.find_by_hash(&e.hash).await.unwrap().expect("found");
    assert_eq!(stored.idle_ttl, Some(Duration::minutes(10)));
    assert_eq!(check_usable(&stored, t + secs(599)), Ok(()));
    assert_eq!(check_usable(&stored, t + secs(600)), Err(TokenUnusable::Idle), "idle at the deadline");
    assert!(store.touch(&e.id, t + Duration::minutes(5)).await.unwrap());
    let stored = store.find_by_hash(&e.hash).await.unwrap().expect("found");
    assert_eq!(stored.idle_deadline(), Some(t + Duration::minutes(15)));
    assert_eq!(check_usable(&stored, t + Duration::minutes(10)), Ok(()), "a use defers the idle end");
    assert_eq!(check_usable(&stored, t + Duration::minutes(15)), Err(TokenUnusable::Idle));
    assert!(store.touch(&e.id, t + Duration::minutes(55)).await.unwrap());
    let stored = store.find_by_hash(&e.hash).await.unwrap().expect("found");
    assert_eq!(
        check_usable(&stored, t + Duration::hours(1)),
        Err(TokenUnusable::Expired),
        "the absolute end holds however recently used"
    );
    assert_eq!(
        check_usable(&stored, t + Duration::hours(2)),
        Err(TokenUnusable::Expired),
        "Expired is reported before Idle"
    );
    assert_eq!(check_usable(&bare, t + day - secs(1)), Ok(()));
    assert_eq!(check_usable(&bare, t + Duration::days(365)), Err(TokenUnusable::Expired));

    // ---- list_for_user: newest first, only the user's.
    let mut listed_ids = Vec::new();
    for minutes in [2, 0, 1] {
        let at = t + Duration::minutes(minutes);
        let (_, record) = opaque(&format, &bob, &unique("g"), at, at + day);
        store.insert(record.clone()).await.expect("insert");
        listed_ids.push((at, record.id));
    }
    listed_ids.sort_by(|a, b| b.cmp(a));
    let listed: Vec<String> = store.list_for_user(&bob).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(listed, listed_ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>(), "newest first");
    let alices = store.list_for_user(&alice).await.unwrap();
    assert_eq!(alices.len(), 5, "alice's five tokens (expired ones included)");
    assert!(alices.iter().all(|r| r.user_id == alice));
    assert!(alices.contains(&full));
    assert!(store.list_for_user(&UserId::new(unique("nobody"))).await.unwrap().is_empty());

    // ---- delete
    assert!(store.delete(&bare.id).await.unwrap());
    assert!(!store.delete(&bare.id).await.unwrap(), "already deleted");
    assert!(!store.delete(&unique("nope")).await.unwrap(), "unknown");
    assert!(store.find_by_hash(&bare.hash).await.unwrap().is_none());
    assert_eq!(store.list_for_user(&alice).await.unwrap().len(), 4);
    let mut reinserted = bare.clone();
    reinserted.id = unique("tok");
    store.insert(reinserted.clone()).await.expect("a deleted token's hash is free again");
    assert!(store.delete(&reinserted.id).await.unwrap());

    // ---- delete_by_grant: only that grant's tokens.
    let (ga, gb) = (unique("ga"), unique("gb"));
    let (_, a1) = opaque(&format, &carol, &ga, t, t + day);
    let (_, a2) = opaque(&format, &carol, &ga, t, t + day);
    let (_, b1) = opaque(&format, &carol, &gb, t, t + day);
    for record in [&a1, &a2, &b1] {
        store.insert(record.clone()).await.expect("insert");
    }
    assert_eq!(store.delete_by_grant(&ga).await.unwrap(), 2);
    assert_eq!(store.delete_by_grant(&ga).await.unwrap(), 0, "nothing left");
    assert_eq!(store.delete_by_grant(&unique("nope")).await.unwrap(), 0);
    assert!(store.find_by_hash(&a1.hash).await.unwrap().is_none());
    assert!(store.find_by_hash(&a2.hash).await.unwrap().is_none());
    assert_eq!(store.find_by_hash(&b1.hash).await.unwrap(), Some(b1.clone()), "another grant's token stays");

    // ---- delete_for_user: only that user's tokens.
    let (_, c2) = opaque(&format, &carol, &gb, t, t + day);
    store.insert(c2).await.expect("insert");
    assert_eq!(store.delete_for_user(&carol).await.unwrap(), 2);
    assert!(store.list_for_user(&carol).await.unwrap().is_empty());
    assert_eq!(store.delete_for_user(&carol).await.unwrap(), 0);
    assert_eq!(store.list_for_user(&bob).await.unwrap().len(), 3, "other users' tokens stay");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full));

    // ---- flush_expired: absolute and idle expiry, each idle timeout on its own.
    let g = unique("g");
    let (_, expired) = opaque(&format, &dave, &g, t, t + Duration::hours(1));
    let idle_1h = opaque(&format, &dave, &g, t, t + day).1.idle_ttl(Duration::hours(1));
    let used_1h = opaque(&format, &dave, &g, t, t + day).1.idle_ttl(Duration::hours(1));
    let idle_2h = opaque(&format, &dave, &g, t, t + day).1.idle_ttl(Duration::hours(2));
    let (_, no_idle) = opaque(&format, &dave, &g, t, t + day);
    for record in [&expired, &idle_1h, &used_1h, &idle_2h, &no_idle] {
        store.insert(record.clone()).await.expect("insert");
    }
    assert!(store.touch(&used_1h.id, t + Duration::minutes(50)).await.unwrap());
    let ids = |records: Vec<OpaqueTokenRecord>| records.into_iter().map(|r| r.id).collect::<HashSet<_>>();
    let flushed = store.flush_expired(t + Duration::minutes(90)).await.unwrap();
    assert!(flushed >= 2, "flushed {flushed}, expected at least the expired and the idle token");
    let left = ids(store.list_for_user(&dave).await.unwrap());
    let expected: HashSet<String> = [&used_1h.id, &idle_2h.id, &no_idle.id].into_iter().cloned().collect();
    assert_eq!(left, expected, "the expired token and the idle one are flushed");
    assert!(store.flush_expired(t + Duration::minutes(110)).await.unwrap() >= 1);
    let expected: HashSet<String> = [&idle_2h.id, &no_idle.id].into_iter().cloned().collect();
    assert_eq!(ids(store.list_for_user(&dave).await.unwrap()), expected, "idle at 50 min + 1 h");
    store.flush_expired(t + Duration::hours(2)).await.unwrap();
    let expected: HashSet<String> = [&no_idle.id].into_iter().cloned().collect();
    assert_eq!(ids(store.list_for_user(&dave).await.unwrap()), expected, "idle exactly at its deadline");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full), "live tokens stay");
    store.flush_expired(t + day).await.unwrap();
    assert!(store.list_for_user(&dave).await.unwrap().is_empty(), "expired exactly at expires_at");
}

/// Runs every API-key check against `store`. Panics with a description of the first failure.
///
/// Nothing else may touch the suite's records meanwhile, but other data may be present and is
/// left alone, except that [`ApiKeyStore::flush_expired`] runs at times around 2033.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn api_key_store_conformance<S: ApiKeyStore>(store: &S) {
    let t = origin();
    let day = Duration::days(1);
    let format = TokenFormat::api_key();
    let alice = UserId::new(unique("alice"));
    let bob = UserId::new(unique("bob"));
    let carol = UserId::new(unique("carol"));
    let key = |user: &UserId, created: DateTime<Utc>| {
        let secret = format.generate();
        ApiKeyRecord::from_secret(unique("key"), &secret, user.clone(), "deploy bot", vec![], created)
    };

    // ---- insert, find_by_hash: every field round-trips.
    let secret = format.generate();
    let scopes = vec!["notes:write".to_owned(), "notes:read".to_owned(), "notes:read".to_owned()];
    let full = ApiKeyRecord::from_secret(unique("key"), &secret, alice.clone(), "CI — \"main\"", scopes, t)
        .expires_at(t + day * 90);
    assert_eq!(full.scopes, vec!["notes:read".to_owned(), "notes:write".to_owned()], "sorted, deduplicated");
    store.insert(full.clone()).await.expect("insert");
    assert_eq!(store.find_by_hash(secret.hash()).await.unwrap().as_ref(), Some(&full));
    let presented = format.parse(secret.token()).expect("a generated key parses");
    assert_eq!(store.find_by_hash(&presented).await.unwrap().map(|k| k.id), Some(full.id.clone()));
    let bare = key(&alice, t + secs(1));
    store.insert(bare.clone()).await.expect("insert");
    let found = store.find_by_hash(&bare.hash).await.unwrap().expect("found");
    assert_eq!(found, bare);
    assert!(found.scopes.is_empty() && found.expires_at.is_none() && found.last_used_at.is_none());
    assert!(store.find_by_hash(format.generate().hash()).await.unwrap().is_none(), "an unknown hash");

    // ---- ids and hashes are unique.
    let mut same_id = key(&alice, t);
    same_id.id = full.id.clone();
    assert_duplicate(store.insert(same_id).await, "id", "an id that exists");
    let mut same_hash = key(&alice, t);
    same_hash.hash = full.hash.clone();
    assert_duplicate(store.insert(same_hash).await, "hash", "a hash that exists");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full), "unchanged");

    // ---- touch: the first use writes, then at most once a minute, never backwards.
    let k = key(&alice, t);
    store.insert(k.clone()).await.expect("insert");
    let last_used = key_last_used;
    assert!(store.touch(&k.id, t).await.unwrap(), "the first use writes");
    assert_eq!(last_used(store, &k.hash).await, Some(t));
    assert!(!store.touch(&k.id, t).await.unwrap());
    assert!(!store.touch(&k.id, t + secs(30)).await.unwrap(), "t+30 s: no write");
    assert!(!store.touch(&k.id, t + secs(60)).await.unwrap(), "t+60 s: not older than 60 s yet");
    assert!(store.touch(&k.id, t + secs(61)).await.unwrap(), "t+61 s: writes");
    assert!(!store.touch(&k.id, t + secs(5)).await.unwrap(), "an earlier now never writes");
    assert_eq!(last_used(store, &k.hash).await, Some(t + secs(61)), "never moves back");
    assert!(!store.touch(&unique("nope"), t).await.unwrap(), "an unknown id");
    assert_eq!(store.find_by_hash(&full.hash).await.unwrap().as_ref(), Some(&full), "others untouched");

    // ---- concurrent touches at the same now: exactly one writes (first use, then a later one).
    let raced = key(&alice, t);
    store.insert(raced.clone()).await.expect("insert");
    for (round, now) in [t + secs(1), t + secs(300)].into_iter().enumerate() {
        let wrote = racing_touches(RACERS, || store.touch(&raced.id, now)).await;
        assert_eq!(wrote, 1, "round {round}: exactly one of {RACERS} concurrent touches writes");
        assert_eq!(last_used(store, &raced.hash).await, Some(now));
    }

    // ---- expiry
    assert_eq!(full.check_usable(t + day * 90 - secs(1)), Ok(()));
    assert_eq!(full.check_usable(t + day * 90), Err(TokenUnusable::Expired), "expired at expires_at");
    assert_eq!(bare.check_usable(t + day * 3650), Ok(()), "no expiry: never expires");

    // ---- revoke: only the owner, only once.
    assert!(!store.revoke(&bob, &k.id, t + secs(100)).await.unwrap(), "not bob's key");
    assert_eq!(store.find_by_hash(&k.hash).await.unwrap().and_then(|k| k.revoked_at), None, "still live");
    assert!(!store.revoke(&alice, &unique("nope"), t).await.unwrap(), "unknown");
    assert!(store.revoke(&alice, &k.id, t + secs(100)).await.unwrap());
    assert!(!store.revoke(&alice, &k.id, t + secs(200)).await.unwrap(), "already revoked");
    let revoked = store.find_by_hash(&k.hash).await.unwrap().expect("revoked keys stay findable");
    assert_eq!(revoked.revoked_at, Some(t + secs(100)), "the first revocation time stays");
    assert_eq!(revoked.check_usable(t + secs(100)), Err(TokenUnusable::Revoked));
    let mut expired_and_revoked = revoked.clone();
    expired_and_revoked.expires_at = Some(t);
    assert_eq!(
        expired_and_revoked.check_usable(t + day),
        Err(TokenUnusable::Revoked),
        "Revoked is reported before Expired"
    );
    assert!(!store.touch(&k.id, t + day).await.unwrap(), "a revoked key is not touched");
    assert!(!revoked.needs_touch(t + day));

    // ---- list_for_user: not revoked, newest first, only the user's; public views only.
    let listed: Vec<String> = store.list_for_user(&alice).await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed.len(), 3, "full, bare and raced; not the revoked key: {listed:?}");
    assert_eq!(listed.first(), Some(&bare.id), "newest first");
    assert!(!listed.contains(&k.id));
    let mut same_time: Vec<String> = vec![full.id.clone(), raced.id.clone()];
    same_time.sort_by(|a, b| b.cmp(a));
    assert_eq!(&listed[1..], &same_time[..], "then by id, descending");
    assert!(store.list_for_user(&bob).await.unwrap().is_empty());
    let view = full.public_view();
    let json = serde_json::to_value(&view).unwrap();
    let mut fields: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["created_at", "expires_at", "id", "last_used_at", "lookup", "name", "scopes"],
        "the public view has no hash"
    );
    assert!(!json.to_string().contains(full.hash.as_hex()));
    assert!(!json.to_string().contains(secret.token()));

    // ---- revoke_all_for_user: only the user's live keys.
    let c1 = key(&carol, t);
    let c2 = key(&carol, t);
    let c3 = key(&carol, t);
    let b1 = key(&bob, t);
    for record in [&c1, &c2, &c3, &b1] {
        store.insert(record.clone()).await.expect("insert");
    }
    assert!(store.revoke(&carol, &c3.id, t + secs(1)).await.unwrap());
    assert_eq!(store.revoke_all_for_user(&carol, t + secs(2)).await.unwrap(), 2);
    assert_eq!(store.revoke_all_for_user(&carol, t + secs(3)).await.unwrap(), 0, "nothing left");
    assert!(store.list_for_user(&carol).await.unwrap().is_empty());
    assert_eq!(key_revoked_at(store, &c1.hash).await, Some(t + secs(2)));
    assert_eq!(key_revoked_at(store, &c3.hash).await, Some(t + secs(1)), "an earlier revocation stays");
    assert_eq!(key_revoked_at(store, &b1.hash).await, None, "other users' keys stay live");
    assert_eq!(store.list_for_user(&alice).await.unwrap().len(), 3);

    // ---- flush_expired: expired and revoked keys go, the rest stays.
    let soon = key(&bob, t).expires_at(t + Duration::hours(1));
    let later = key(&bob, t).expires_at(t + Duration::hours(3));
    store.insert(soon.clone()).await.expect("insert");
    store.insert(later.clone()).await.expect("insert");
    let flushed = store.flush_expired(t + Duration::hours(2)).await.unwrap();
    assert!(flushed >= 5, "flushed {flushed}: the expired key and 4 revoked ones, at least");
    for gone in [&soon, &k, &c1, &c2, &c3] {
        assert!(store.find_by_hash(&gone.hash).await.unwrap().is_none(), "{} is flushed", gone.id);
    }
    for kept in [&later, &b1, &full, &bare, &raced] {
        assert!(store.find_by_hash(&kept.hash).await.unwrap().is_some(), "{} stays", kept.id);
    }
    store.flush_expired(t + Duration::hours(3)).await.unwrap();
    assert!(store.find_by_hash(&later.hash).await.unwrap().is_none(), "expired exactly at expires_at");
    assert!(store.find_by_hash(&bare.hash).await.unwrap().is_some(), "keys without expiry stay");
}

/// Touches one opaque token from `n` tasks at the same `now`, spawned on the runtime (in
/// parallel on a multi-threaded one): exactly one writes.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn concurrent_touch_conformance<S: OpaqueTokenStore>(store: Arc<S>, n: usize) {
    let t = origin();
    let secret = TokenFormat::opaque_token().generate();
    let record = OpaqueTokenRecord::from_secret(
        unique("tok"),
        &secret,
        UserId::new(unique("racer")),
        unique("g"),
        t,
        t + Duration::days(1),
    );
    store.insert(record.clone()).await.expect("insert");
    let now = t + Duration::minutes(5);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), record.id.clone());
            tokio::spawn(async move { store.touch(&id, now).await })
        })
        .collect();
    let mut wrote = 0;
    for task in tasks {
        if task.await.expect("task").expect("touch") {
            wrote += 1;
        }
    }
    assert_eq!(wrote, 1, "exactly one of {n} concurrent touches writes");
    let stored = store.find_by_hash(&record.hash).await.unwrap().expect("found");
    assert_eq!(stored.last_used_at, now);
}

/// Touches one API key from `n` tasks at the same `now`, spawned on the runtime: exactly one
/// writes.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn concurrent_api_key_touch_conformance<S: ApiKeyStore>(store: Arc<S>, n: usize) {
    let t = origin();
    let secret = TokenFormat::api_key().generate();
    let record =
        ApiKeyRecord::from_secret(unique("key"), &secret, UserId::new(unique("racer")), "racer", vec![], t);
    store.insert(record.clone()).await.expect("insert");
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, id) = (Arc::clone(&store), record.id.clone());
            tokio::spawn(async move { store.touch(&id, t).await })
        })
        .collect();
    let mut wrote = 0;
    for task in tasks {
        if task.await.expect("task").expect("touch") {
            wrote += 1;
        }
    }
    assert_eq!(wrote, 1, "exactly one of {n} concurrent first-use touches writes");
    let stored = store.find_by_hash(&record.hash).await.unwrap().expect("found");
    assert_eq!(stored.last_used_at, Some(t));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{MemoryApiKeyStore, MemoryOpaqueTokenStore};

    #[tokio::test]
    async fn memory_stores_conform() {
        let tokens = MemoryOpaqueTokenStore::new();
        super::opaque_token_store_conformance(&tokens).await;
        // The suite tolerates a store that already holds data.
        super::opaque_token_store_conformance(&tokens).await;
        let keys = MemoryApiKeyStore::new();
        super::api_key_store_conformance(&keys).await;
        super::api_key_store_conformance(&keys).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_stores_concurrent_touch() {
        super::concurrent_touch_conformance(Arc::new(MemoryOpaqueTokenStore::new()), 100).await;
        super::concurrent_api_key_touch_conformance(Arc::new(MemoryApiKeyStore::new()), 100).await;
    }
}
