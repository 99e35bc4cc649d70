//! The MFA store conformance suite: every [`MfaStore`] implementation (in-memory, SQLite,
//! PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use auth_mfa::{MemoryMfaStore, testing};
//!
//! testing::mfa_store_conformance(&MemoryMfaStore::new()).await;
//! testing::concurrent_mfa_conformance(Arc::new(MemoryMfaStore::new()), 16).await;
//! # }
//! ```
//!
//! The suites tolerate a store that holds other data (every user and hash is fresh, so they can
//! run twice against one database), and use whole-second times around 2033 (every store keeps
//! them exactly). [`MfaStore::flush_expired`] runs only at an instant in 2001, so that it deletes
//! nobody else's challenges.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use auth_core::{AuthError, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::{MfaChallenge, MfaStore, TotpFactor};

/// Concurrent calls in the main suite's own race checks.
const RACERS: usize = 8;

/// A fresh random name: `prefix-` and 128 random bits in hex.
fn unique(prefix: &str) -> String {
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    format!("{prefix}-{}", crate::key::hex(&random))
}

fn user(prefix: &str) -> UserId {
    UserId::new(unique(prefix))
}

/// A fresh 64-hex-character hash, like the ones the service stores.
fn hash() -> String {
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    crate::key::hex(&random)
}

/// A random sealed-secret stand-in (the store never looks inside).
fn sealed() -> Vec<u8> {
    let mut random = vec![0u8; 49];
    rand::fill(random.as_mut_slice());
    random
}

/// The suites' time origin (2033-05-18), whole seconds so that every store keeps it exactly.
fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default()
}

/// When the suite runs [`MfaStore::flush_expired`] (2001-09-09): no live challenge expires before.
fn flush_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_000_000_000, 0).unwrap_or_default()
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

/// How many of `results` are `Ok(true)`; panics on an error.
#[allow(clippy::panic)]
fn count_true(results: Vec<Result<bool, AuthError>>, context: &str) -> usize {
    results
        .into_iter()
        .filter(|result| match result {
            Ok(wrote) => *wrote,
            Err(e) => panic!("{context}: unexpected error {e:?}"),
        })
        .count()
}

fn challenge(user_id: &UserId, created: DateTime<Utc>, expires: DateTime<Utc>) -> MfaChallenge {
    MfaChallenge::new(hash(), user_id.clone(), "web", serde_json::json!({}), created, expires)
}

/// Gives `user_id` an active factor at `step` with `codes` as recovery codes.
#[allow(clippy::unwrap_used)]
async fn activate<S: MfaStore + ?Sized>(store: &S, user_id: &UserId, step: i64, codes: Vec<String>) {
    let secret = sealed();
    let t = origin();
    assert!(
        store.put_pending_totp(TotpFactor::pending(user_id.clone(), secret.clone(), t)).await.unwrap(),
        "put_pending_totp for a user without a factor returns true"
    );
    assert!(
        store.activate_totp(user_id, &secret, step, codes, t + secs(10)).await.unwrap(),
        "activate_totp of the pending factor returns true"
    );
}

/// Runs every check against `store`. Panics with a description of the first failure.
///
/// Nothing else may touch the suite's own users and challenges meanwhile, but other data may be
/// present and is left alone.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn mfa_store_conformance<S: MfaStore>(store: &S) {
    factor_lifecycle(store).await;
    totp_steps(store).await;
    recovery_codes(store).await;
    deleting_factors(store).await;
    challenges(store).await;
    challenge_cleanup(store).await;
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn factor_lifecycle<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");

    // ---- put_pending_totp, totp_factor: every field round-trips.
    assert_eq!(store.totp_factor(&alice).await.unwrap(), None, "no factor for a new user");
    let first = TotpFactor::pending(alice.clone(), sealed(), t);
    assert!(store.put_pending_totp(first.clone()).await.unwrap(), "a first pending factor is stored");
    let stored = store.totp_factor(&alice).await.unwrap().expect("the pending factor");
    assert_eq!(stored, first, "the pending factor round-trips");
    assert!(!stored.is_active());
    assert_eq!(stored.confirmed_at, None);
    assert_eq!(stored.last_used_step, None);

    // ---- a new pending factor replaces a pending one.
    let second = TotpFactor::pending(alice.clone(), sealed(), t + secs(60));
    assert!(store.put_pending_totp(second.clone()).await.unwrap(), "a pending factor is replaceable");
    assert_eq!(store.totp_factor(&alice).await.unwrap().as_ref(), Some(&second), "replaced");
    assert_eq!(store.totp_factor(&bob).await.unwrap(), None, "other users have no factor");

    // ---- activate_totp refuses a stale secret, an unknown user; changes nothing then.
    let old_code = hash();
    store.replace_recovery_codes(&alice, vec![old_code.clone()], t).await.unwrap();
    let new_codes = vec![hash(), hash(), hash()];
    assert!(
        !store.activate_totp(&alice, &first.sealed_secret, 7, new_codes.clone(), t + secs(90)).await.unwrap(),
        "activate_totp with a replaced (stale) secret returns false"
    );
    assert_eq!(store.totp_factor(&alice).await.unwrap().as_ref(), Some(&second), "still pending, unchanged");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 1, "codes unchanged by a refusal");
    assert!(
        !store.activate_totp(&bob, &second.sealed_secret, 7, vec![hash()], t + secs(90)).await.unwrap(),
        "activate_totp without a pending factor returns false"
    );
    assert_eq!(store.totp_factor(&bob).await.unwrap(), None);
    assert_eq!(store.remaining_recovery_codes(&bob).await.unwrap(), 0);

    // ---- activate_totp: confirmed_at, last_used_step, recovery codes replaced.
    let confirmed = t + secs(100);
    assert!(
        store
            .activate_totp(&alice, &second.sealed_secret, 66_666_670, new_codes.clone(), confirmed)
            .await
            .unwrap(),
        "activate_totp of the pending factor with its secret returns true"
    );
    let active = store.totp_factor(&alice).await.unwrap().expect("the active factor");
    assert!(active.is_active());
    assert_eq!(active.confirmed_at, Some(confirmed));
    assert_eq!(active.last_used_step, Some(66_666_670));
    assert_eq!(active.sealed_secret, second.sealed_secret);
    assert_eq!(active.created_at, second.created_at, "created_at is kept");
    assert_eq!(active.user_id, alice);
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 3, "the new codes");
    assert!(
        !store.use_recovery_code(&alice, &old_code, t + secs(101)).await.unwrap(),
        "codes from before the activation are gone"
    );
    for code in &new_codes {
        assert!(store.use_recovery_code(&alice, code, t + secs(101)).await.unwrap(), "a new code works");
    }

    // ---- an active factor: activation and pending factors are refused.
    assert!(
        !store.activate_totp(&alice, &second.sealed_secret, 66_666_700, vec![], t + secs(200)).await.unwrap(),
        "activate_totp of an active factor returns false"
    );
    let replacement = TotpFactor::pending(alice.clone(), sealed(), t + secs(300));
    assert!(
        !store.put_pending_totp(replacement).await.unwrap(),
        "put_pending_totp over an active factor returns false"
    );
    assert_eq!(
        store.totp_factor(&alice).await.unwrap().as_ref(),
        Some(&active),
        "the active factor is unchanged"
    );

    // ---- concurrent activations of one pending factor: exactly one succeeds.
    let carol = user("carol");
    let pending = TotpFactor::pending(carol.clone(), sealed(), t);
    assert!(store.put_pending_totp(pending.clone()).await.unwrap());
    let results = join_all(
        (0..RACERS)
            .map(|i| {
                store.activate_totp(&carol, &pending.sealed_secret, 100 + i as i64, vec![hash()], t + secs(1))
            })
            .collect(),
    )
    .await;
    assert_eq!(
        count_true(results, "activate_totp"),
        1,
        "exactly one of {RACERS} concurrent activations succeeds"
    );
    assert_eq!(store.remaining_recovery_codes(&carol).await.unwrap(), 1, "one activation's codes");
    store.delete_factors(&carol).await.unwrap();
    store.delete_factors(&alice).await.unwrap();
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn totp_steps<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let pending_user = user("pending");
    let nobody = user("nobody");

    // ---- use_totp_step: only for active factors, only for later steps.
    assert!(!store.use_totp_step(&nobody, 1).await.unwrap(), "no factor: false");
    assert!(store.put_pending_totp(TotpFactor::pending(pending_user.clone(), sealed(), t)).await.unwrap());
    assert!(!store.use_totp_step(&pending_user, 1).await.unwrap(), "a pending factor: false");
    assert_eq!(store.totp_factor(&pending_user).await.unwrap().expect("pending").last_used_step, None);

    activate(store, &alice, 1_000, vec![]).await;
    assert!(!store.use_totp_step(&alice, 1_000).await.unwrap(), "the step of the confirming code: false");
    assert!(!store.use_totp_step(&alice, 999).await.unwrap(), "an earlier step: false");
    assert!(store.use_totp_step(&alice, 1_001).await.unwrap(), "a later step: true");
    assert_eq!(store.totp_factor(&alice).await.unwrap().expect("active").last_used_step, Some(1_001));
    assert!(!store.use_totp_step(&alice, 1_001).await.unwrap(), "the same step again (a replay): false");
    assert!(store.use_totp_step(&alice, 1_005).await.unwrap(), "steps may be skipped");
    assert!(!store.use_totp_step(&alice, 1_003).await.unwrap(), "a step before the last used one: false");
    assert_eq!(store.totp_factor(&alice).await.unwrap().expect("active").last_used_step, Some(1_005));
    assert!(store.use_totp_step(&alice, 66_666_667_000).await.unwrap(), "large steps");
    assert_eq!(
        store.totp_factor(&alice).await.unwrap().expect("active").last_used_step,
        Some(66_666_667_000)
    );

    // ---- concurrent uses of one step: exactly one succeeds.
    let results = join_all((0..RACERS).map(|_| store.use_totp_step(&alice, 66_666_667_001)).collect()).await;
    assert_eq!(count_true(results, "use_totp_step"), 1, "exactly one of {RACERS} concurrent uses of a step");

    store.delete_factors(&alice).await.unwrap();
    store.delete_factors(&pending_user).await.unwrap();
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn recovery_codes<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");
    let nobody = user("nobody");

    assert_eq!(store.remaining_recovery_codes(&nobody).await.unwrap(), 0, "no codes for a new user");
    assert!(!store.use_recovery_code(&nobody, &hash(), t).await.unwrap(), "no codes: false");

    let codes: Vec<String> = (0..10).map(|_| hash()).collect();
    activate(store, &alice, 5, codes.clone()).await;
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 10);

    // ---- use_recovery_code: single use, per user.
    assert!(!store.use_recovery_code(&alice, &hash(), t).await.unwrap(), "an unknown code: false");
    assert!(!store.use_recovery_code(&bob, &codes[0], t).await.unwrap(), "another user's code: false");
    assert!(store.use_recovery_code(&alice, &codes[0], t + secs(1)).await.unwrap(), "a fresh code: true");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 9);
    assert!(!store.use_recovery_code(&alice, &codes[0], t + secs(2)).await.unwrap(), "a used code: false");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 9);
    assert!(store.use_recovery_code(&alice, &codes[9], t + secs(3)).await.unwrap());
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 8);

    // ---- concurrent uses of one code: exactly one succeeds.
    let results =
        join_all((0..RACERS).map(|_| store.use_recovery_code(&alice, &codes[1], t + secs(4))).collect())
            .await;
    assert_eq!(
        count_true(results, "use_recovery_code"),
        1,
        "exactly one of {RACERS} concurrent uses of a code"
    );
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 7);

    // ---- replace_recovery_codes: used and unused codes all go.
    let fresh: Vec<String> = (0..4).map(|_| hash()).collect();
    store.replace_recovery_codes(&alice, fresh.clone(), t + secs(5)).await.unwrap();
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 4, "only the new codes");
    for old in &codes {
        assert!(!store.use_recovery_code(&alice, old, t + secs(6)).await.unwrap(), "old codes are gone");
    }
    assert!(store.use_recovery_code(&alice, &fresh[2], t + secs(6)).await.unwrap(), "new codes work");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 3);

    // ---- the same hash for two users is two codes.
    let shared = hash();
    store.replace_recovery_codes(&bob, vec![shared.clone()], t).await.unwrap();
    store.replace_recovery_codes(&alice, vec![shared.clone(), hash()], t + secs(7)).await.unwrap();
    assert!(store.use_recovery_code(&bob, &shared, t + secs(8)).await.unwrap(), "bob's copy");
    assert!(store.use_recovery_code(&alice, &shared, t + secs(8)).await.unwrap(), "alice's copy");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 1);
    assert_eq!(store.remaining_recovery_codes(&bob).await.unwrap(), 0);

    // ---- replacing with nothing leaves no code.
    store.replace_recovery_codes(&alice, vec![], t + secs(9)).await.unwrap();
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 0);
    assert!(store.totp_factor(&alice).await.unwrap().is_some_and(|f| f.is_active()), "the factor stays");

    store.delete_factors(&alice).await.unwrap();
    store.delete_factors(&bob).await.unwrap();
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn deleting_factors<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");
    let pending_user = user("pending");
    let nobody = user("nobody");

    activate(store, &alice, 5, vec![hash(), hash()]).await;
    let bob_codes = vec![hash(), hash()];
    activate(store, &bob, 5, bob_codes.clone()).await;
    let alice_challenge = challenge(&alice, t, t + Duration::days(1));
    store.create_challenge(alice_challenge.clone()).await.unwrap();

    // ---- delete_factors: reports an active factor, takes the codes too, nothing else.
    assert!(store.delete_factors(&alice).await.unwrap(), "an active factor existed: true");
    assert_eq!(store.totp_factor(&alice).await.unwrap(), None, "the factor is gone");
    assert_eq!(store.remaining_recovery_codes(&alice).await.unwrap(), 0, "the codes are gone");
    assert!(!store.use_totp_step(&alice, 6).await.unwrap());
    assert!(!store.delete_factors(&alice).await.unwrap(), "nothing left: false");
    assert!(!store.delete_factors(&nobody).await.unwrap(), "never had one: false");
    assert!(store.totp_factor(&bob).await.unwrap().is_some_and(|f| f.is_active()), "bob keeps his");
    assert_eq!(store.remaining_recovery_codes(&bob).await.unwrap(), 2, "bob keeps his codes");
    let kept = store.start_challenge_attempt(&alice_challenge.hash, 5, t).await.unwrap();
    assert!(kept.is_some(), "delete_factors leaves challenges alone");
    assert!(store.consume_challenge(&alice_challenge.hash).await.unwrap());

    // ---- a pending factor is deleted, but reported as not active; codes without factor too.
    assert!(store.put_pending_totp(TotpFactor::pending(pending_user.clone(), sealed(), t)).await.unwrap());
    store.replace_recovery_codes(&pending_user, vec![hash()], t).await.unwrap();
    assert!(!store.delete_factors(&pending_user).await.unwrap(), "only a pending factor: false");
    assert_eq!(store.totp_factor(&pending_user).await.unwrap(), None, "the pending factor is gone");
    assert_eq!(store.remaining_recovery_codes(&pending_user).await.unwrap(), 0, "its codes too");

    // ---- after deletion a user can enrol again.
    let again = TotpFactor::pending(alice.clone(), sealed(), t + secs(50));
    assert!(store.put_pending_totp(again.clone()).await.unwrap(), "enrol again after deletion");
    assert!(store.activate_totp(&alice, &again.sealed_secret, 2, vec![hash()], t + secs(60)).await.unwrap());
    let factor = store.totp_factor(&alice).await.unwrap().expect("active again");
    assert_eq!(factor.last_used_step, Some(2), "a new factor starts from its own confirming step");
    assert!(store.use_totp_step(&alice, 3).await.unwrap());

    store.delete_factors(&alice).await.unwrap();
    assert!(store.delete_factors(&bob).await.unwrap());
    assert!(!store.use_recovery_code(&bob, &bob_codes[0], t).await.unwrap(), "deleted codes do not work");
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn challenges<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let expires = t + Duration::minutes(5);

    // ---- create_challenge, start_challenge_attempt: every field round-trips, attempts count.
    let context = serde_json::json!({"client": {"name": "Firefox — Linux", "ip": "203.0.113.7"}, "remember": true, "n": 3});
    let full = MfaChallenge::new(hash(), alice.clone(), "mobile", context, t, expires);
    store.create_challenge(full.clone()).await.expect("create_challenge");
    let first =
        store.start_challenge_attempt(&full.hash, 3, t + secs(1)).await.unwrap().expect("a fresh challenge");
    let mut expected = full.clone();
    expected.attempts = 1;
    assert_eq!(first, expected, "the challenge round-trips, with attempts after the increment");

    // ---- a duplicate hash is a backend error, and changes nothing.
    let duplicate =
        MfaChallenge::new(full.hash.clone(), user("mallory"), "web", serde_json::json!({}), t, expires);
    let result = store.create_challenge(duplicate).await;
    assert!(matches!(result, Err(AuthError::Backend(_))), "a duplicate hash: Backend error, got {result:?}");

    // ---- the attempt limit: counted up to max_attempts, then None and nothing changes.
    let second = store.start_challenge_attempt(&full.hash, 3, t + secs(2)).await.unwrap().expect("attempt 2");
    assert_eq!(second.attempts, 2);
    assert_eq!(second.user_id, alice, "the challenge of the right user");
    let third = store.start_challenge_attempt(&full.hash, 3, t + secs(3)).await.unwrap().expect("attempt 3");
    assert_eq!(third.attempts, 3);
    for _ in 0..3 {
        assert_eq!(
            store.start_challenge_attempt(&full.hash, 3, t + secs(4)).await.unwrap(),
            None,
            "an exhausted challenge: None"
        );
    }
    let fourth = store.start_challenge_attempt(&full.hash, 4, t + secs(5)).await.unwrap();
    assert_eq!(fourth.map(|c| c.attempts), Some(4), "refused attempts were not counted");
    assert_eq!(store.start_challenge_attempt(&full.hash, 0, t).await.unwrap(), None, "max_attempts 0: None");

    // ---- expiry: alive until expires_at (exclusive), and a refused attempt is not counted.
    let short = challenge(&alice, t, t + secs(60));
    store.create_challenge(short.clone()).await.unwrap();
    assert_eq!(
        store.start_challenge_attempt(&short.hash, 5, t + secs(60)).await.unwrap(),
        None,
        "at expires_at: dead"
    );
    assert_eq!(
        store.start_challenge_attempt(&short.hash, 5, t + secs(600)).await.unwrap(),
        None,
        "after: dead"
    );
    let alive = store.start_challenge_attempt(&short.hash, 5, t + secs(59)).await.unwrap();
    assert_eq!(
        alive.map(|c| c.attempts),
        Some(1),
        "a second before expires_at it is alive; expired tries uncounted"
    );

    // ---- unknown hashes.
    assert_eq!(store.start_challenge_attempt(&hash(), 5, t).await.unwrap(), None, "an unknown hash: None");
    assert!(!store.consume_challenge(&hash()).await.unwrap(), "consuming an unknown hash: false");

    // ---- consume_challenge: single use.
    assert!(store.consume_challenge(&full.hash).await.unwrap(), "the first consume: true");
    assert!(!store.consume_challenge(&full.hash).await.unwrap(), "the second: false");
    assert_eq!(
        store.start_challenge_attempt(&full.hash, 100, t).await.unwrap(),
        None,
        "a consumed challenge is gone"
    );
    assert!(
        store.consume_challenge(&short.hash).await.unwrap(),
        "an expired challenge can still be consumed"
    );

    // ---- concurrent consumes: exactly one succeeds.
    let raced = challenge(&alice, t, expires);
    store.create_challenge(raced.clone()).await.unwrap();
    let results = join_all((0..RACERS).map(|_| store.consume_challenge(&raced.hash)).collect()).await;
    assert_eq!(count_true(results, "consume_challenge"), 1, "exactly one of {RACERS} concurrent consumes");

    // ---- concurrent attempts: at most max_attempts succeed.
    let limited = challenge(&alice, t, expires);
    store.create_challenge(limited.clone()).await.unwrap();
    let results =
        join_all((0..RACERS).map(|_| store.start_challenge_attempt(&limited.hash, 3, t)).collect()).await;
    let mut attempts: Vec<u32> =
        results.into_iter().filter_map(|r| r.expect("start_challenge_attempt")).map(|c| c.attempts).collect();
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2, 3], "of {RACERS} concurrent attempts exactly max_attempts (3) count");
    assert!(store.consume_challenge(&limited.hash).await.unwrap());
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
async fn challenge_cleanup<S: MfaStore>(store: &S) {
    let t = origin();
    let alice = user("alice");
    let bob = user("bob");
    let expires = t + Duration::minutes(5);

    // ---- delete_challenges_for_user: the user's only, whatever their state.
    let mut alices = Vec::new();
    for _ in 0..3 {
        let c = challenge(&alice, t, expires);
        store.create_challenge(c.clone()).await.unwrap();
        alices.push(c);
    }
    let exhausted = challenge(&alice, t, expires);
    store.create_challenge(exhausted.clone()).await.unwrap();
    assert!(store.start_challenge_attempt(&exhausted.hash, 1, t).await.unwrap().is_some());
    let expired = challenge(&alice, t - Duration::hours(1), t - Duration::minutes(55));
    store.create_challenge(expired.clone()).await.unwrap();
    let bobs = challenge(&bob, t, expires);
    store.create_challenge(bobs.clone()).await.unwrap();
    assert_eq!(store.delete_challenges_for_user(&alice).await.unwrap(), 5, "alice's five challenges");
    for gone in alices.iter().chain([&exhausted, &expired]) {
        assert!(!store.consume_challenge(&gone.hash).await.unwrap(), "alice's challenges are gone");
    }
    assert_eq!(store.delete_challenges_for_user(&alice).await.unwrap(), 0, "none left");
    assert_eq!(store.delete_challenges_for_user(&user("nobody")).await.unwrap(), 0);
    let kept = store.start_challenge_attempt(&bobs.hash, 5, t).await.unwrap();
    assert_eq!(kept.map(|c| c.user_id), Some(bob.clone()), "bob's challenge stays");

    // ---- flush_expired: expires_at <= now goes, the rest stays. The suite flushes only in 2001,
    // so that it cannot delete the challenges of anyone else (or of a concurrent run).
    let cutoff = flush_time();
    let long_gone = challenge(&alice, cutoff - Duration::hours(1), cutoff - Duration::minutes(30));
    let exactly = challenge(&alice, cutoff - Duration::minutes(5), cutoff);
    let just_alive = challenge(&bob, cutoff - Duration::minutes(5), cutoff + secs(1));
    for c in [&long_gone, &exactly, &just_alive] {
        store.create_challenge(c.clone()).await.unwrap();
    }
    let flushed = store.flush_expired(cutoff).await.unwrap();
    assert!(flushed >= 2, "flushed {flushed}: the two expired challenges at least");
    assert!(!store.consume_challenge(&long_gone.hash).await.unwrap(), "an expired challenge is flushed");
    assert!(!store.consume_challenge(&exactly.hash).await.unwrap(), "expired exactly at expires_at: flushed");
    assert!(store.consume_challenge(&just_alive.hash).await.unwrap(), "a challenge still alive stays");
    assert!(store.consume_challenge(&bobs.hash).await.unwrap(), "later challenges stay");
}

/// Races `n` tasks spawned on the runtime (in parallel on a multi-threaded one) on each atomic
/// check-and-act of the store, and checks how many win:
///
/// - `activate_totp` of one pending factor: exactly one;
/// - `use_totp_step` with the same step: exactly one;
/// - `use_recovery_code` with the same hash: exactly one;
/// - `consume_challenge` of one challenge: exactly one;
/// - `start_challenge_attempt` with `max_attempts` 5 on a fresh challenge: exactly `min(n, 5)`,
///   counting attempts 1, 2, ... without gaps or repeats.
///
/// Panics with a description of the first failure.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn concurrent_mfa_conformance<S: MfaStore + ?Sized>(store: Arc<S>, n: usize) {
    const MAX_ATTEMPTS: u32 = 5;
    let t = origin();
    let racer = user("racer");

    async fn race<S, F, Fut, T>(store: &Arc<S>, n: usize, call: F) -> Vec<T>
    where
        S: MfaStore + ?Sized,
        F: Fn(Arc<S>) -> Fut,
        Fut: Future<Output = Result<T, AuthError>> + Send + 'static,
        T: Send + 'static,
    {
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(call(Arc::clone(store)))).collect();
        let mut outputs = Vec::with_capacity(n);
        for task in tasks {
            match task.await {
                Ok(Ok(output)) => outputs.push(output),
                Ok(Err(e)) => panic!("a racing store call failed: {e:?}"),
                Err(e) => panic!("a racing task panicked: {e}"),
            }
        }
        outputs
    }

    // ---- activate_totp.
    let secret = sealed();
    assert!(store.put_pending_totp(TotpFactor::pending(racer.clone(), secret.clone(), t)).await.unwrap());
    let code = hash();
    let wins = race(&store, n, |store| {
        let (user_id, secret, codes) = (racer.clone(), secret.clone(), vec![code.clone()]);
        async move { store.activate_totp(&user_id, &secret, 100, codes, t + secs(1)).await }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|won| **won).count(),
        1,
        "exactly one of {n} concurrent activate_totp wins"
    );

    // ---- use_totp_step.
    let wins = race(&store, n, |store| {
        let user_id = racer.clone();
        async move { store.use_totp_step(&user_id, 101).await }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|won| **won).count(),
        1,
        "exactly one of {n} concurrent use_totp_step wins"
    );
    let factor = store.totp_factor(&racer).await.unwrap().expect("the racer's factor");
    assert_eq!(factor.last_used_step, Some(101));

    // ---- use_recovery_code.
    let wins = race(&store, n, |store| {
        let (user_id, code) = (racer.clone(), code.clone());
        async move { store.use_recovery_code(&user_id, &code, t + secs(2)).await }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|won| **won).count(),
        1,
        "exactly one of {n} concurrent use_recovery_code wins"
    );
    assert_eq!(store.remaining_recovery_codes(&racer).await.unwrap(), 0);

    // ---- consume_challenge.
    let consumed = challenge(&racer, t, t + Duration::minutes(5));
    store.create_challenge(consumed.clone()).await.unwrap();
    let wins = race(&store, n, |store| {
        let hash = consumed.hash.clone();
        async move { store.consume_challenge(&hash).await }
    })
    .await;
    assert_eq!(
        wins.iter().filter(|won| **won).count(),
        1,
        "exactly one of {n} concurrent consume_challenge wins"
    );

    // ---- start_challenge_attempt.
    let limited = challenge(&racer, t, t + Duration::minutes(5));
    store.create_challenge(limited.clone()).await.unwrap();
    let results = race(&store, n, |store| {
        let hash = limited.hash.clone();
        async move { store.start_challenge_attempt(&hash, MAX_ATTEMPTS, t + secs(3)).await }
    })
    .await;
    let mut attempts: Vec<u32> = results.into_iter().flatten().map(|c| c.attempts).collect();
    attempts.sort_unstable();
    let expected: Vec<u32> = (1..=MAX_ATTEMPTS).take(n).collect();
    assert_eq!(
        attempts, expected,
        "of {n} concurrent start_challenge_attempt with max_attempts {MAX_ATTEMPTS}, exactly min(n, 5) count, once each"
    );

    store.consume_challenge(&limited.hash).await.unwrap();
    store.delete_factors(&racer).await.unwrap();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::MemoryMfaStore;

    #[tokio::test]
    async fn memory_store_conforms() {
        let store = MemoryMfaStore::new();
        super::mfa_store_conformance(&store).await;
        // The suite tolerates a store that already holds data.
        super::mfa_store_conformance(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_concurrent() {
        super::concurrent_mfa_conformance(Arc::new(MemoryMfaStore::new()), 64).await;
        super::concurrent_mfa_conformance(Arc::new(MemoryMfaStore::new()), 3).await;
    }
}
