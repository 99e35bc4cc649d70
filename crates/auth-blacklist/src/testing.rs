//! The grant-store conformance suites: every [`GrantStore`] implementation (in-memory, SQLite,
//! PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use auth_blacklist::{MemoryGrantStore, testing};
//!
//! let store = MemoryGrantStore::new();
//! testing::grant_store_conformance(&store).await;
//! testing::concurrent_rotation_conformance(Arc::new(store), 16).await;
//! # }
//! ```

use std::sync::Arc;

use auth_core::UserId;
use chrono::{DateTime, Duration, Utc};

use crate::{Grant, GrantStore, NewGrant, RefreshRecord, RevocationEvent, RevocationList, RotateOutcome};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The suite's time origin (2033-05-18), whole seconds so that every store keeps it exactly.
fn origin() -> DateTime<Utc> {
    DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default()
}

fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// A grant of `user` created at `created` and ending at `expires`, with its first token (which
/// ends with the grant). Returns the first token's jti.
#[allow(clippy::expect_used)]
async fn new_grant<S: GrantStore + ?Sized>(
    store: &S,
    grant_id: &str,
    user: &UserId,
    created: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> String {
    let jti = unique("jti");
    store
        .create_grant(
            NewGrant::new(grant_id, user.clone(), created, expires),
            RefreshRecord::new(jti.clone(), grant_id, user.clone(), created, expires),
        )
        .await
        .expect("create_grant");
    jti
}

#[allow(clippy::panic)]
async fn rotated<S: GrantStore + ?Sized>(
    store: &S,
    jti: &str,
    next: RefreshRecord,
    now: DateTime<Utc>,
    idle: Duration,
) -> Grant {
    match store.rotate(jti, next, now, idle).await {
        Ok(RotateOutcome::Rotated { grant }) => grant,
        other => panic!("rotate({jti}) at {now}: expected Rotated, got {other:?}"),
    }
}

#[allow(clippy::expect_used)]
async fn outcome<S: GrantStore + ?Sized>(
    store: &S,
    jti: &str,
    next: RefreshRecord,
    now: DateTime<Utc>,
    idle: Duration,
) -> RotateOutcome {
    store.rotate(jti, next, now, idle).await.expect("rotate")
}

/// Runs every check against `store`. Panics with a description of the first failure.
///
/// The store may hold other data (every id is fresh), but nothing else may write to it while the
/// suite runs: it checks the revocation log and [`GrantStore::flush_expired`] precisely. Times are
/// whole seconds around 2033.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn grant_store_conformance<S: GrantStore>(store: &S) {
    let t = origin();
    let idle = Duration::hours(1);
    let month = Duration::days(30);
    let alice = UserId::new(unique("alice"));
    let bob = UserId::new(unique("bob"));
    let carol = UserId::new(unique("carol"));
    let dave = UserId::new(unique("dave"));
    let rec = |jti: &str, grant: &str, user: &UserId, at: DateTime<Utc>| {
        RefreshRecord::new(jti, grant, user.clone(), at, at + month)
    };

    let cursor0 = store.revocation_cursor().await.unwrap();
    assert!(cursor0 >= 0, "cursors start at 0");
    let (events, cursor) = store.revocations_since(cursor0).await.unwrap();
    assert!(events.is_empty(), "nothing after the current cursor: {events:?}");
    assert_eq!(cursor, cursor0, "no events: the cursor comes back unchanged");

    // ---- create_grant, find_grant, grant_of_token
    let g1 = unique("g1");
    let a = unique("a");
    store
        .create_grant(
            NewGrant::new(g1.clone(), alice.clone(), t, t + month)
                .user_agent("Mozilla/5.0 (conformance)".to_owned())
                .ip("192.0.2.1".to_owned())
                .kind("session"),
            RefreshRecord::new(a.clone(), g1.clone(), alice.clone(), t, t + month),
        )
        .await
        .expect("create_grant");
    let created = store.find_grant(&g1).await.unwrap().expect("the grant exists");
    assert_eq!(created.id, g1);
    assert_eq!(created.user_id, alice);
    assert_eq!(created.created_at, t);
    assert_eq!(created.last_used_at, t, "last_used_at starts at created_at");
    assert_eq!(created.expires_at, t + month);
    assert_eq!(created.user_agent.as_deref(), Some("Mozilla/5.0 (conformance)"));
    assert_eq!(created.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(created.kind, "session");
    assert_eq!(created.revoked_at, None);
    assert!(store.find_grant(&unique("nope")).await.unwrap().is_none());
    assert_eq!(store.grant_of_token(&a).await.unwrap(), Some(created.clone()));
    assert!(store.grant_of_token(&unique("nope")).await.unwrap().is_none());

    // Creation is all or nothing.
    let fresh = unique("fresh");
    let dup = store
        .create_grant(NewGrant::new(g1.clone(), alice.clone(), t, t + month), rec(&fresh, &g1, &alice, t));
    assert!(dup.await.is_err(), "a duplicate grant id is refused");
    assert!(store.grant_of_token(&fresh).await.unwrap().is_none(), "and its token is not recorded");
    assert_eq!(
        store.find_grant(&g1).await.unwrap(),
        Some(created.clone()),
        "the existing grant is untouched"
    );
    let g_dup = unique("gdup");
    let dup = store
        .create_grant(NewGrant::new(g_dup.clone(), alice.clone(), t, t + month), rec(&a, &g_dup, &alice, t));
    assert!(dup.await.is_err(), "a duplicate jti is refused");
    assert!(store.find_grant(&g_dup).await.unwrap().is_none(), "and the grant is not created");
    let g_bad = unique("gbad");
    let bad = store.create_grant(
        NewGrant::new(g_bad.clone(), alice.clone(), t, t + month),
        rec(&unique("x"), &unique("other-grant"), &alice, t),
    );
    assert!(bad.await.is_err(), "a first token of another grant is refused");
    let bad = store.create_grant(
        NewGrant::new(g_bad.clone(), alice.clone(), t, t + month),
        rec(&unique("x"), &g_bad, &bob, t),
    );
    assert!(bad.await.is_err(), "a first token of another user is refused");
    assert!(store.find_grant(&g_bad).await.unwrap().is_none());

    // ---- rotation chain a -> b -> c
    let (b, c, d) = (unique("b"), unique("c"), unique("d"));
    let t1 = t + mins(10);
    let grant = rotated(store, &a, rec(&b, &g1, &alice, t1), t1, idle).await;
    assert_eq!(grant.id, g1);
    assert_eq!(grant.last_used_at, t1, "a rotation is a use");
    assert_eq!(Grant { last_used_at: t, ..grant.clone() }, created, "nothing else changes");
    assert_eq!(store.find_grant(&g1).await.unwrap(), Some(grant.clone()));
    assert_eq!(store.grant_of_token(&b).await.unwrap().map(|g| g.id), Some(g1.clone()));
    let t2 = t + mins(20);
    let after_c = rotated(store, &b, rec(&c, &g1, &alice, t2), t2, idle).await;
    assert_eq!(after_c.last_used_at, t2);

    // Replays change nothing.
    let t3 = t + mins(25);
    let x1 = unique("x1");
    assert_eq!(
        outcome(store, &a, rec(&x1, &g1, &alice, t3), t3, idle).await,
        RotateOutcome::Reused { grant_id: g1.clone(), user_id: alice.clone(), consumed_at: t1 },
        "a consumed token is reported with when it was consumed"
    );
    assert_eq!(
        outcome(store, &b, rec(&x1, &g1, &alice, t3), t3, idle).await,
        RotateOutcome::Reused { grant_id: g1.clone(), user_id: alice.clone(), consumed_at: t2 }
    );
    assert!(store.grant_of_token(&x1).await.unwrap().is_none(), "a replay records no successor");
    assert_eq!(store.find_grant(&g1).await.unwrap(), Some(after_c.clone()), "a replay is not a use");
    assert_eq!(
        store.grant_of_token(&a).await.unwrap().map(|g| g.id),
        Some(g1.clone()),
        "consumed tokens stay known"
    );
    assert_eq!(
        outcome(store, &unique("nope"), rec(&x1, &g1, &alice, t3), t3, idle).await,
        RotateOutcome::Unknown
    );

    // A successor of another grant or user, or with a taken jti, is a caller bug: refused, and the
    // presented token stays unconsumed.
    let y = unique("y");
    assert!(store.rotate(&c, rec(&y, &unique("other-grant"), &alice, t3), t3, idle).await.is_err());
    assert!(store.rotate(&c, rec(&y, &g1, &bob, t3), t3, idle).await.is_err());
    assert!(store.rotate(&c, rec(&a, &g1, &alice, t3), t3, idle).await.is_err(), "a taken jti is refused");
    assert!(store.grant_of_token(&y).await.unwrap().is_none());
    assert_eq!(store.find_grant(&g1).await.unwrap(), Some(after_c.clone()));

    // c -> d; d has its own, short expiry.
    let short = RefreshRecord::new(d.clone(), g1.clone(), alice.clone(), t3, t3 + mins(5));
    rotated(store, &c, short, t3, idle).await;
    let e = unique("e");
    assert_eq!(
        outcome(store, &d, rec(&e, &g1, &alice, t3 + mins(5)), t3 + mins(5), idle).await,
        RotateOutcome::Expired
    );
    assert_eq!(
        outcome(store, &d, rec(&e, &g1, &alice, t3 + mins(5)), t3 + mins(5), idle).await,
        RotateOutcome::Expired,
        "Expired consumes nothing"
    );
    assert!(store.grant_of_token(&e).await.unwrap().is_none());
    assert!(
        matches!(
            outcome(store, &a, rec(&e, &g1, &alice, t + month * 2), t + month * 2, idle).await,
            RotateOutcome::Reused { .. }
        ),
        "Reused is reported before Expired"
    );

    // ---- idle timeout
    let g2 = unique("g2");
    let e = new_grant(store, &g2, &alice, t, t + month).await;
    let f = unique("f");
    let just_in_time = t + idle - Duration::seconds(1);
    rotated(store, &e, rec(&f, &g2, &alice, just_in_time), just_in_time, idle).await;
    let deadline = just_in_time + idle;
    let g = unique("g");
    assert_eq!(
        outcome(store, &f, rec(&g, &g2, &alice, deadline), deadline, idle).await,
        RotateOutcome::Expired,
        "idle at last_used_at + idle_ttl exactly"
    );
    rotated(store, &f, rec(&g, &g2, &alice, deadline), deadline, idle * 2).await;

    // ---- absolute expiry
    let g3 = unique("g3");
    let h = new_grant(store, &g3, &alice, t, t + Duration::hours(2)).await;
    let i = unique("i");
    let day = Duration::days(1);
    rotated(
        store,
        &h,
        RefreshRecord::new(i.clone(), g3.clone(), alice.clone(), t, t + month),
        t + mins(60),
        day,
    )
    .await;
    let end = t + Duration::hours(2);
    assert_eq!(
        outcome(store, &i, rec(&unique("j"), &g3, &alice, end), end, day).await,
        RotateOutcome::Expired,
        "the grant ends at expires_at, however recently used and whatever its token says"
    );

    // ---- revoke_grant
    let g4 = unique("g4");
    let k = new_grant(store, &g4, &alice, t + mins(1), t + month).await;
    let l = unique("l");
    rotated(store, &k, rec(&l, &g4, &alice, t + mins(2)), t + mins(2), idle).await;
    let before = store.revocation_cursor().await.unwrap();
    assert_eq!(before, cursor0, "creating and rotating are no revocations");
    assert!(store.revoke_grant(&g4, t + mins(3)).await.unwrap());
    let after_g4 = store.revocation_cursor().await.unwrap();
    assert!(after_g4 > before, "a revocation advances the cursor");
    assert!(!store.revoke_grant(&g4, t + mins(4)).await.unwrap(), "already revoked");
    assert!(!store.revoke_grant(&unique("nope"), t + mins(4)).await.unwrap(), "unknown");
    assert_eq!(store.revocation_cursor().await.unwrap(), after_g4, "no-op revocations record nothing");
    assert_eq!(
        store.find_grant(&g4).await.unwrap().unwrap().revoked_at,
        Some(t + mins(3)),
        "the first revocation time stays"
    );
    let m = unique("m");
    assert_eq!(
        outcome(store, &l, rec(&m, &g4, &alice, t + mins(5)), t + mins(5), idle).await,
        RotateOutcome::Revoked
    );
    assert_eq!(
        outcome(store, &k, rec(&m, &g4, &alice, t + mins(5)), t + mins(5), idle).await,
        RotateOutcome::Revoked,
        "Revoked is reported before Reused"
    );
    assert_eq!(
        outcome(store, &l, rec(&m, &g4, &alice, t + month * 2), t + month * 2, idle).await,
        RotateOutcome::Revoked,
        "Revoked is reported before Expired"
    );
    let of_l = store.grant_of_token(&l).await.unwrap().expect("tokens of revoked grants stay known");
    assert_eq!((of_l.id.as_str(), of_l.revoked_at), (g4.as_str(), Some(t + mins(3))));
    let (events, cursor) = store.revocations_since(before).await.unwrap();
    assert_eq!(events, vec![RevocationEvent::Grant { grant_id: g4.clone() }]);
    assert_eq!(cursor, after_g4);
    let (events, cursor) = store.revocations_since(after_g4).await.unwrap();
    assert!(events.is_empty());
    assert_eq!(cursor, after_g4);

    // ---- revoke_user_grant
    let g5 = unique("g5");
    new_grant(store, &g5, &alice, t + mins(1), t + month).await;
    assert!(!store.revoke_user_grant(&bob, &g5, t + mins(3)).await.unwrap(), "not bob's grant");
    assert_eq!(store.find_grant(&g5).await.unwrap().unwrap().revoked_at, None, "and it stays alive");
    assert!(!store.revoke_user_grant(&alice, &unique("nope"), t + mins(3)).await.unwrap());
    assert_eq!(store.revocation_cursor().await.unwrap(), after_g4);
    assert!(store.revoke_user_grant(&alice, &g5, t + mins(3)).await.unwrap());
    assert!(!store.revoke_user_grant(&alice, &g5, t + mins(3)).await.unwrap(), "already revoked");
    let after_g5 = store.revocation_cursor().await.unwrap();
    assert!(after_g5 > after_g4);
    assert_eq!(
        store.revocations_since(after_g4).await.unwrap(),
        (vec![RevocationEvent::Grant { grant_id: g5.clone() }], after_g5)
    );

    // ---- active_grants: filtering and ordering
    let now = t + mins(10);
    let c1 = unique("c1");
    new_grant(store, &c1, &carol, t, t + month).await;
    let c2 = unique("c2");
    new_grant(store, &c2, &carol, t + mins(1), t + month).await;
    let c3 = unique("c3");
    new_grant(store, &c3, &carol, t + mins(2), t + month).await;
    assert!(store.revoke_grant(&c3, t + mins(3)).await.unwrap());
    let c4 = unique("c4");
    new_grant(store, &c4, &carol, t + mins(3), t + mins(4)).await;
    let c5 = unique("c5");
    new_grant(store, &c5, &carol, t - Duration::hours(2), t + month).await;
    let c6 = unique("c6");
    let c6_token = new_grant(store, &c6, &carol, t + mins(4), t + month).await;
    rotated(store, &c6_token, rec(&unique("c6b"), &c6, &carol, t + mins(5)), t + mins(5), idle).await;
    let active = store.active_grants(&carol, now, idle).await.unwrap();
    let ids: Vec<&str> = active.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![c6.as_str(), c2.as_str(), c1.as_str()],
        "not revoked, expired or idle; newest first"
    );
    assert_eq!(active[0].last_used_at, t + mins(5));
    assert_eq!(active[2], store.find_grant(&c1).await.unwrap().unwrap());
    assert!(store.active_grants(&bob, now, idle).await.unwrap().is_empty());
    let longer = store.active_grants(&carol, now, Duration::hours(3)).await.unwrap();
    assert_eq!(longer.len(), 4, "with a longer idle timeout c5 counts again");
    assert_eq!(longer.last().map(|g| g.id.as_str()), Some(c5.as_str()));

    // ---- touch_grant, and grants that are not JWT grants do not idle
    let c7 = unique("c7");
    store
        .create_grant(
            NewGrant::new(c7.clone(), carol.clone(), t - Duration::hours(2), t + month).kind("token"),
            RefreshRecord::new(unique("c7t"), c7.clone(), carol.clone(), t - Duration::hours(2), t + month),
        )
        .await
        .unwrap();
    let listed = |grants: Vec<Grant>, id: &str| grants.iter().any(|g| g.id == id);
    assert!(
        listed(store.active_grants(&carol, now, idle).await.unwrap(), &c7),
        "a token grant never idles here"
    );
    store.touch_grant(&c7, t + mins(7)).await.unwrap();
    assert_eq!(store.find_grant(&c7).await.unwrap().unwrap().last_used_at, t + mins(7));
    store.touch_grant(&c7, t + mins(6)).await.unwrap();
    assert_eq!(store.find_grant(&c7).await.unwrap().unwrap().last_used_at, t + mins(7), "never back");
    store.touch_grant(&c5, now).await.unwrap();
    assert!(
        listed(store.active_grants(&carol, now, idle).await.unwrap(), &c5),
        "a touched JWT grant is live"
    );
    store.touch_grant(&unique("nope"), now).await.unwrap();
    store.touch_grant(&c3, now).await.unwrap();
    assert_eq!(store.find_grant(&c3).await.unwrap().unwrap().last_used_at, t + mins(2), "revoked: untouched");

    // ---- revoke_all_for_user
    let d1 = unique("d1");
    let d1_token = new_grant(store, &d1, &dave, t, t + month).await;
    let d2 = unique("d2");
    let d2_first = new_grant(store, &d2, &dave, t + mins(1), t + month).await;
    let d2_token = unique("d2b");
    rotated(store, &d2_first, rec(&d2_token, &d2, &dave, t + mins(2)), t + mins(2), idle).await;
    let d3 = unique("d3");
    new_grant(store, &d3, &dave, t, t + month).await;
    assert!(store.revoke_grant(&d3, t + mins(1)).await.unwrap());
    let x = unique("x");
    new_grant(store, &x, &dave, t, t + mins(8)).await;
    assert!(store.revoke_grant(&x, t + mins(1)).await.unwrap());
    let before = store.revocation_cursor().await.unwrap();
    store.revoke_all_for_user(&dave, t + mins(6)).await.unwrap();
    let after_all = store.revocation_cursor().await.unwrap();
    assert!(after_all > before);
    let all_event = RevocationEvent::User { user_id: dave.clone(), not_before: t + mins(6) };
    assert_eq!(
        store.revocations_since(before).await.unwrap(),
        (vec![all_event.clone()], after_all),
        "one user event, no per-grant events"
    );
    assert_eq!(store.find_grant(&d1).await.unwrap().unwrap().revoked_at, Some(t + mins(6)));
    assert_eq!(store.find_grant(&d2).await.unwrap().unwrap().revoked_at, Some(t + mins(6)));
    assert_eq!(store.find_grant(&d3).await.unwrap().unwrap().revoked_at, Some(t + mins(1)), "kept");
    for token in [&d1_token, &d2_token] {
        assert_eq!(
            outcome(store, token, rec(&unique("z"), &d1, &dave, t + mins(7)), t + mins(7), idle).await,
            RotateOutcome::Revoked
        );
    }
    assert!(store.active_grants(&dave, t + mins(7), idle).await.unwrap().is_empty());
    assert_eq!(store.find_grant(&g1).await.unwrap().unwrap().revoked_at, None, "other users are unaffected");
    assert_eq!(
        store.active_grants(&carol, now, idle).await.unwrap().len(),
        5,
        "c7, c6, c2, c1 and the touched c5"
    );
    // A not-before never moves back.
    store.revoke_all_for_user(&dave, t + mins(5)).await.unwrap();
    let after_all2 = store.revocation_cursor().await.unwrap();
    assert!(after_all2 > after_all, "the cursor is monotonic");
    assert_eq!(store.revocations_since(after_all).await.unwrap(), (vec![all_event.clone()], after_all2));

    // ---- snapshot
    let snapshot = store.revocation_snapshot(now).await.unwrap();
    assert_eq!(snapshot.cursor, after_all2);
    for revoked in [&g4, &g5, &c3, &d1, &d2, &d3] {
        assert!(snapshot.revoked_grants.contains(revoked), "{revoked} is in the snapshot");
    }
    for live in [&g1, &g2, &c1, &c4] {
        assert!(!snapshot.revoked_grants.contains(live), "{live} is not revoked");
    }
    assert!(!snapshot.revoked_grants.contains(&x), "a revoked grant past its end is left out");
    let dave_nbf: Vec<_> = snapshot.user_not_before.iter().filter(|(user, _)| *user == dave).collect();
    assert_eq!(dave_nbf, vec![&(dave.clone(), t + mins(6))]);
    assert!(snapshot.user_not_before.iter().all(|(user, _)| *user != alice));
    let list = RevocationList::new();
    list.load(&snapshot);
    assert_eq!(list.cursor(), after_all2);
    assert!(list.is_revoked(Some(&g4), &alice, now));
    assert!(list.is_revoked(None, &dave, t + mins(6) - Duration::seconds(1)));
    assert!(!list.is_revoked(Some(&g1), &alice, now));

    // ---- flush_expired: expired grants (with their tokens) and old events go, the rest stays.
    let flush_at = t + Duration::hours(3);
    let deleted = store.flush_expired(flush_at, t + mins(6)).await.unwrap();
    // g3 (2 tokens), c4, x (1 token each) = 7 rows; events before t+6m except the newest
    // (g4, g5, c3, d3, x) = 5 rows.
    assert!(deleted >= 12, "deleted {deleted} rows, expected at least 12");
    for gone in [&g3, &c4, &x] {
        assert!(store.find_grant(gone).await.unwrap().is_none(), "{gone} is flushed");
    }
    assert!(store.grant_of_token(&h).await.unwrap().is_none(), "with its tokens");
    assert_eq!(
        outcome(store, &i, rec(&unique("z"), &g3, &alice, flush_at), flush_at, day).await,
        RotateOutcome::Unknown
    );
    for kept in [&g1, &g2, &g4, &c1, &c5, &d1] {
        assert!(store.find_grant(kept).await.unwrap().is_some(), "{kept} is not expired yet");
    }
    assert_eq!(store.grant_of_token(&a).await.unwrap().map(|g| g.id), Some(g1.clone()));
    assert_eq!(
        store.revocation_cursor().await.unwrap(),
        after_all2,
        "the newest event stays: the cursor never goes back"
    );
    assert_eq!(
        store.revocations_since(cursor0).await.unwrap(),
        (vec![all_event.clone(), all_event], after_all2),
        "only the events at or after the cut-off (and the newest) are left"
    );
    assert_eq!(
        store.flush_expired(flush_at, t + mins(6)).await.unwrap(),
        0,
        "flushing again deletes nothing"
    );
}

/// Rotates the same refresh token from `n` concurrent tasks, each with a different successor:
/// exactly one gets [`RotateOutcome::Rotated`], the others [`RotateOutcome::Reused`] (no errors),
/// and afterwards exactly one successor is known and rotates in turn.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn concurrent_rotation_conformance<S: GrantStore>(store: Arc<S>, n: usize) {
    let t = origin();
    let idle = Duration::hours(1);
    let user = UserId::new(unique("racer"));
    let grant_id = unique("race");
    let first = new_grant(store.as_ref(), &grant_id, &user, t, t + Duration::days(30)).await;
    let now = t + Duration::minutes(1);
    let successors: Vec<String> = (0..n).map(|i| unique(&format!("next{i}"))).collect();

    let mut tasks = Vec::new();
    for next in &successors {
        let store = Arc::clone(&store);
        let (first, next, grant_id, user) = (first.clone(), next.clone(), grant_id.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            let record = RefreshRecord::new(next, grant_id, user, now, now + Duration::days(30));
            store.rotate(&first, record, now, idle).await
        }));
    }
    let (mut wins, mut reused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(RotateOutcome::Rotated { grant }) => {
                assert_eq!(grant.last_used_at, now);
                wins += 1;
            }
            Ok(RotateOutcome::Reused { grant_id: reused_grant, consumed_at, .. }) => {
                assert_eq!((reused_grant.as_str(), consumed_at), (grant_id.as_str(), now));
                reused += 1;
            }
            other => panic!("a concurrent rotation got {other:?}"),
        }
    }
    assert_eq!(wins, 1, "exactly one of {n} concurrent rotations wins");
    assert_eq!(reused, n - 1, "the others see the token consumed");

    let mut live = Vec::new();
    for next in &successors {
        if store.grant_of_token(next).await.unwrap().is_some() {
            live.push(next.clone());
        }
    }
    assert_eq!(live.len(), 1, "exactly one successor was recorded: {live:?}");
    let later = now + Duration::minutes(1);
    let record = RefreshRecord::new(
        unique("after"),
        grant_id.clone(),
        user.clone(),
        later,
        later + Duration::days(30),
    );
    let grant = rotated(store.as_ref(), &live[0], record, later, idle).await;
    assert_eq!(grant.id, grant_id);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::MemoryGrantStore;

    #[tokio::test]
    async fn memory_store_conforms() {
        let store = MemoryGrantStore::new();
        super::grant_store_conformance(&store).await;
        super::concurrent_rotation_conformance(Arc::new(store.clone()), 50).await;
        // The suite tolerates a store that already holds data.
        super::grant_store_conformance(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_concurrent_rotation() {
        super::concurrent_rotation_conformance(Arc::new(MemoryGrantStore::new()), 200).await;
    }
}
