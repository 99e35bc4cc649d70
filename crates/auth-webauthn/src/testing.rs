//! The passkey store conformance suite: every [`PasskeyStore`] implementation (in-memory,
//! SQLite, PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
//! use std::sync::Arc;
//! use auth_webauthn::{MemoryPasskeyStore, testing};
//!
//! testing::passkey_store_conformance(Arc::new(MemoryPasskeyStore::new())).await;
//! # }
//! ```
//!
//! The suite tolerates a store that holds other data (every user, passkey and challenge id is
//! fresh, so it can run twice against one database), and uses whole-second times around 2033
//! (every store keeps them exactly). [`PasskeyStore::flush_expired_challenges`] runs only at an
//! instant in 2001, so that it deletes nobody else's challenges. The race checks spawn tasks:
//! run the suite on a multi-threaded Tokio runtime for real parallelism.

use std::future::Future;
use std::sync::Arc;

use auth_core::{AuthError, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use crate::{ChallengeKind, Passkey, PasskeyChallenge, PasskeyStore, PasskeyUsage};

/// Concurrent calls in each race check.
pub const RACERS: usize = 16;

/// A fresh random name: `prefix-` and 128 random bits in base64url.
fn unique(prefix: &str) -> String {
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    format!("{prefix}-{}", URL_SAFE_NO_PAD.encode(random))
}

fn user(prefix: &str) -> UserId {
    UserId::new(unique(prefix))
}

/// The suite's time origin (2033-05-18), whole seconds so that every store keeps it exactly.
fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default()
}

/// When the suite flushes expired challenges (2001-09-09): no live challenge expires before.
fn flush_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_000_000_000, 0).unwrap_or_default()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// A passkey of `user_id` created at `created_at`, with every field set to something distinct.
fn passkey(user_id: &UserId, created_at: DateTime<Utc>) -> Passkey {
    let mut passkey = Passkey::new(
        unique("pk"),
        user_id.clone(),
        unique("cred"),
        format!(r#"{{"cred":"{}"}}"#, unique("key")),
        created_at,
    );
    passkey.name = unique("name");
    passkey.user_handle = unique("handle");
    passkey.sign_count = 7;
    passkey.backup_eligible = true;
    passkey.backup_state = false;
    passkey.user_verified = true;
    passkey
}

fn challenge(kind: ChallengeKind, user_id: Option<&UserId>, expires_at: DateTime<Utc>) -> PasskeyChallenge {
    PasskeyChallenge::new(
        unique("ch"),
        kind,
        user_id.cloned(),
        format!(r#"{{"s":"{}"}}"#, unique("state")),
        expires_at,
    )
}

fn is_conflict(result: &Result<(), AuthError>) -> bool {
    matches!(result, Err(AuthError::Conflict(_)))
}

/// Runs `n` copies of `call` as concurrent tasks and returns their outputs; panics if one fails
/// or panics.
#[allow(clippy::panic)]
async fn race<F, Fut, T>(store: &Arc<dyn PasskeyStore>, n: usize, call: F) -> Vec<T>
where
    F: Fn(Arc<dyn PasskeyStore>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(call(Arc::clone(store)))).collect();
    let mut outputs = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(output) => outputs.push(output),
            Err(e) => panic!("a racing task panicked: {e}"),
        }
    }
    outputs
}

/// Runs every check against `store`. Panics with a description of the first failure.
///
/// Nothing else may touch the suite's own users, passkeys and challenges meanwhile, but other
/// data may be present and is left alone.
pub async fn passkey_store_conformance(store: Arc<dyn PasskeyStore>) {
    passkeys(store.as_ref()).await;
    renaming_and_deleting(store.as_ref()).await;
    usage(store.as_ref()).await;
    removing_a_user(store.as_ref()).await;
    challenges(store.as_ref()).await;
    races(&store).await;
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn passkeys(store: &dyn PasskeyStore) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");

    // ---- add, find_by_credential_id: every field round-trips.
    let first = passkey(&alice, t + secs(20));
    assert_eq!(store.find_by_credential_id(&first.credential_id).await.unwrap(), None, "unknown credential");
    store.add(first.clone()).await.expect("add a new passkey");
    let found = store.find_by_credential_id(&first.credential_id).await.unwrap().expect("the added passkey");
    assert_eq!(found, first, "every field round-trips");
    assert_eq!(found.last_used_at, None);

    // ---- the credential id is unique across users; a refused add changes nothing.
    let mut again = passkey(&alice, t + secs(30));
    again.credential_id = first.credential_id.clone();
    assert!(is_conflict(&store.add(again.clone()).await), "a duplicate credential id is a Conflict");
    let mut stolen = passkey(&bob, t + secs(30));
    stolen.credential_id = first.credential_id.clone();
    assert!(is_conflict(&store.add(stolen).await), "a credential id of another user is a Conflict");
    assert_eq!(store.find_by_credential_id(&first.credential_id).await.unwrap().as_ref(), Some(&first));
    assert!(store.list_for_user(&bob).await.unwrap().is_empty(), "the refused add stored nothing");

    // ---- list_for_user: only the user's, oldest first (by created_at, then id).
    let oldest = passkey(&alice, t);
    let middle = passkey(&alice, t + secs(10));
    store.add(oldest.clone()).await.unwrap();
    store.add(middle.clone()).await.unwrap();
    let bobs = passkey(&bob, t + secs(5));
    store.add(bobs.clone()).await.unwrap();
    let listed = store.list_for_user(&alice).await.unwrap();
    assert_eq!(
        listed,
        vec![oldest.clone(), middle.clone(), first.clone()],
        "the user's passkeys, oldest first"
    );
    assert_eq!(store.list_for_user(&bob).await.unwrap(), vec![bobs]);
    assert!(store.list_for_user(&user("nobody")).await.unwrap().is_empty());
    let (mut tie_a, mut tie_b) = (passkey(&bob, t + secs(60)), passkey(&bob, t + secs(60)));
    let base = unique("pk");
    tie_a.id = format!("{base}-a");
    tie_b.id = format!("{base}-b");
    store.add(tie_b.clone()).await.unwrap();
    store.add(tie_a.clone()).await.unwrap();
    let ids: Vec<String> =
        store.list_for_user(&bob).await.unwrap().into_iter().map(|p| p.id).skip(1).collect();
    assert_eq!(ids, vec![tie_a.id, tie_b.id], "equal created_at: ordered by id");
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn renaming_and_deleting(store: &dyn PasskeyStore) {
    let t = origin();
    let alice = user("alice");
    let mallory = user("mallory");
    let key = passkey(&alice, t);
    store.add(key.clone()).await.unwrap();

    // ---- rename: only the owner's.
    assert!(!store.rename(&mallory, &key.id, "mine now").await.unwrap(), "rename of another user's passkey");
    assert!(!store.rename(&alice, &unique("pk"), "x").await.unwrap(), "rename of an unknown id");
    assert_eq!(store.find_by_credential_id(&key.credential_id).await.unwrap().unwrap().name, key.name);
    assert!(store.rename(&alice, &key.id, "Laptop").await.unwrap(), "rename by the owner");
    let renamed = store.find_by_credential_id(&key.credential_id).await.unwrap().unwrap();
    assert_eq!(renamed.name, "Laptop");
    assert_eq!(renamed.credential, key.credential, "rename changes only the name");

    // ---- delete: only the owner's; the credential id is free afterwards.
    assert!(!store.delete(&mallory, &key.id).await.unwrap(), "delete of another user's passkey");
    assert!(store.find_by_credential_id(&key.credential_id).await.unwrap().is_some(), "still there");
    assert!(store.delete(&alice, &key.id).await.unwrap(), "delete by the owner");
    assert!(!store.delete(&alice, &key.id).await.unwrap(), "a second delete finds nothing");
    assert_eq!(store.find_by_credential_id(&key.credential_id).await.unwrap(), None, "deleted");
    assert!(store.list_for_user(&alice).await.unwrap().is_empty());
    let mut reused = passkey(&alice, t + secs(1));
    reused.credential_id = key.credential_id.clone();
    store.add(reused).await.expect("a deleted passkey's credential id can be registered again");
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn usage(store: &dyn PasskeyStore) {
    let t = origin();
    let alice = user("alice");
    let key = passkey(&alice, t); // sign_count 7
    store.add(key.clone()).await.unwrap();
    let find =
        || async { store.find_by_credential_id(&key.credential_id).await.unwrap().expect("the passkey") };

    // ---- the counter must move forward.
    for stale in [7, 6, 0] {
        let refused = PasskeyUsage::new(stale, "{}", true, true, t + secs(1));
        assert!(
            !store.update_after_use(&key.id, refused).await.unwrap(),
            "counter {stale} after 7 is refused"
        );
    }
    assert_eq!(find().await, key, "a refused update changes nothing");
    assert!(
        !store.update_after_use(&unique("pk"), PasskeyUsage::new(100, "{}", false, false, t)).await.unwrap(),
        "update of an unknown passkey"
    );

    let used_at = t + secs(60);
    let usage = PasskeyUsage::new(8, r#"{"cred":"updated"}"#, true, true, used_at);
    assert!(store.update_after_use(&key.id, usage).await.unwrap(), "counter 8 after 7");
    let updated = find().await;
    assert_eq!(updated.sign_count, 8);
    assert_eq!(updated.credential, r#"{"cred":"updated"}"#);
    assert!(updated.backup_eligible && updated.backup_state);
    assert_eq!(updated.last_used_at, Some(used_at));
    assert_eq!(
        (updated.name, updated.created_at, updated.user_verified),
        (key.name.clone(), key.created_at, true)
    );

    // ---- an authenticator without a counter: 0 after 0 is fine, every time.
    let mut counterless = passkey(&alice, t);
    counterless.sign_count = 0;
    store.add(counterless.clone()).await.unwrap();
    for n in 1..=2 {
        let usage = PasskeyUsage::new(0, "{}", false, false, t + secs(n));
        assert!(store.update_after_use(&counterless.id, usage).await.unwrap(), "0 after 0 (use {n})");
    }
    let used = store.find_by_credential_id(&counterless.credential_id).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(t + secs(2)));
    assert!(
        store.update_after_use(&counterless.id, PasskeyUsage::new(3, "{}", false, false, t)).await.unwrap()
    );
    assert!(
        !store.update_after_use(&counterless.id, PasskeyUsage::new(0, "{}", false, false, t)).await.unwrap(),
        "0 after a non-zero counter is refused"
    );
}

#[allow(clippy::unwrap_used)]
async fn removing_a_user(store: &dyn PasskeyStore) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");
    for n in 0..3 {
        store.add(passkey(&alice, t + secs(n))).await.unwrap();
    }
    let bobs = passkey(&bob, t);
    store.add(bobs.clone()).await.unwrap();
    let alices_challenge = challenge(ChallengeKind::Registration, Some(&alice), t + secs(300));
    let bobs_challenge = challenge(ChallengeKind::SecondFactor, Some(&bob), t + secs(300));
    let anonymous = challenge(ChallengeKind::Passwordless, None, t + secs(300));
    for c in [&alices_challenge, &bobs_challenge, &anonymous] {
        store.put_challenge(c.clone()).await.unwrap();
    }

    assert_eq!(store.remove_user(&alice).await.unwrap(), 3, "remove_user counts the passkeys");
    assert!(store.list_for_user(&alice).await.unwrap().is_empty());
    assert_eq!(
        store.take_challenge(&alices_challenge.id, t).await.unwrap(),
        None,
        "the user's challenges go"
    );
    assert_eq!(store.list_for_user(&bob).await.unwrap(), vec![bobs], "other users keep theirs");
    assert_eq!(store.take_challenge(&bobs_challenge.id, t).await.unwrap().as_ref(), Some(&bobs_challenge));
    assert_eq!(store.take_challenge(&anonymous.id, t).await.unwrap().as_ref(), Some(&anonymous));
    assert_eq!(store.remove_user(&alice).await.unwrap(), 0, "nothing left");
}

#[allow(clippy::unwrap_used)]
async fn challenges(store: &dyn PasskeyStore) {
    let t = origin();
    let alice = user("alice");

    // ---- put, take: every field round-trips, exactly once.
    let registration = challenge(ChallengeKind::Registration, Some(&alice), t + secs(300));
    store.put_challenge(registration.clone()).await.unwrap();
    assert!(store.put_challenge(registration.clone()).await.is_err(), "a duplicate challenge id is an error");
    assert_eq!(
        store.take_challenge(&registration.id, t + secs(299)).await.unwrap().as_ref(),
        Some(&registration),
        "take returns the live challenge"
    );
    assert_eq!(store.take_challenge(&registration.id, t + secs(299)).await.unwrap(), None, "single use");
    assert_eq!(store.take_challenge(&unique("ch"), t).await.unwrap(), None, "unknown id");

    for kind in [ChallengeKind::Passwordless, ChallengeKind::SecondFactor] {
        let user_id = (kind == ChallengeKind::SecondFactor).then_some(&alice);
        let c = challenge(kind, user_id, t + secs(60));
        store.put_challenge(c.clone()).await.unwrap();
        assert_eq!(store.take_challenge(&c.id, t).await.unwrap(), Some(c), "{} round-trips", kind.as_str());
    }

    // ---- expiry: dead at expires_at, and stays dead.
    let expiring = challenge(ChallengeKind::Passwordless, None, t + secs(300));
    store.put_challenge(expiring.clone()).await.unwrap();
    assert_eq!(
        store.take_challenge(&expiring.id, t + secs(300)).await.unwrap(),
        None,
        "expired at expires_at"
    );
    assert_eq!(store.take_challenge(&expiring.id, t).await.unwrap(), None, "an expired take is not undone");

    // ---- flush_expired_challenges.
    let old = flush_time();
    let dead = challenge(ChallengeKind::Passwordless, None, old - secs(1));
    let at_the_edge = challenge(ChallengeKind::Passwordless, None, old);
    let live = challenge(ChallengeKind::Passwordless, None, old + secs(1));
    for c in [&dead, &at_the_edge, &live] {
        store.put_challenge(c.clone()).await.unwrap();
    }
    assert!(store.flush_expired_challenges(old).await.unwrap() >= 2, "flush counts what it deleted");
    assert_eq!(store.take_challenge(&dead.id, old - secs(10)).await.unwrap(), None, "flushed");
    assert_eq!(store.take_challenge(&at_the_edge.id, old - secs(10)).await.unwrap(), None, "flushed");
    assert_eq!(store.take_challenge(&live.id, old).await.unwrap(), Some(live), "a live challenge stays");
}

#[allow(clippy::unwrap_used)]
async fn races(store: &Arc<dyn PasskeyStore>) {
    let t = origin();
    let racer = user("racer");

    // ---- take_challenge: exactly one of RACERS concurrent takes gets it.
    let contested = challenge(ChallengeKind::SecondFactor, Some(&racer), t + secs(300));
    store.put_challenge(contested.clone()).await.unwrap();
    let taken = race(store, RACERS, |store| {
        let id = contested.id.clone();
        async move { store.take_challenge(&id, t).await.unwrap() }
    })
    .await;
    let winners: Vec<_> = taken.into_iter().flatten().collect();
    assert_eq!(winners, vec![contested], "exactly one of {RACERS} concurrent take_challenge gets it");

    // ---- add: exactly one of RACERS concurrent adds of one credential id succeeds.
    let credential_id = unique("cred");
    let results = race(store, RACERS, |store| {
        let mut candidate = passkey(&racer, t);
        candidate.credential_id = credential_id.clone();
        async move { store.add(candidate).await }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "exactly one of {RACERS} concurrent adds wins"
    );
    assert!(results.iter().filter(|r| r.is_err()).all(is_conflict), "the others get a Conflict");
    let stored = store.find_by_credential_id(&credential_id).await.unwrap();
    assert!(stored.is_some_and(|p| p.user_id == racer), "the winner is stored");
    assert_eq!(store.list_for_user(&racer).await.unwrap().len(), 1, "and only the winner");

    // ---- update_after_use: of RACERS concurrent uses with the same counter, one wins.
    let key = store.find_by_credential_id(&credential_id).await.unwrap().map(|p| p.id).unwrap_or_default();
    let wins =
        race(store, RACERS, |store| {
            let id = key.clone();
            async move {
                store.update_after_use(&id, PasskeyUsage::new(1000, "{}", true, false, t)).await.unwrap()
            }
        })
        .await;
    assert_eq!(
        wins.iter().filter(|won| **won).count(),
        1,
        "exactly one of {RACERS} same-counter updates wins"
    );
}
