//! The conformance suite every [`EmailSignInStore`] runs (memory here; SQLite and PostgreSQL in
//! `auth-sea-orm`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use auth_core::UserId;
use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::{CodeCheck, EmailSignInStore, PendingEmailSignIn};

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default().trunc_subsecs(0)
}

fn pending(email: &str, token: &str, code: &str) -> PendingEmailSignIn {
    PendingEmailSignIn::new(email, Some(UserId::new("conf-user")), token, code, at(0), at(600))
}

/// Checks links (single use, expiry), codes (a right one used once, wrong ones counted and fatal at
/// the limit, expiry), replacement by a newer request, sign-ups without a user, flushing, and
/// that of 16 concurrent uses of one link or code exactly one wins while 16 concurrent wrong
/// codes are all counted.
pub async fn email_sign_in_store_conformance(store: Arc<dyn EmailSignInStore>) {
    let now = at(1);
    // A link: once.
    let first = pending("conf-a@example.com", "t-1", "c-1");
    store.replace(&first).await.unwrap();
    assert_eq!(store.consume_token("t-2", 5, now).await.unwrap(), None);
    let used = store.consume_token("t-1", 5, now).await.unwrap().expect("the link works");
    assert_eq!(used, first);
    assert_eq!(store.consume_token("t-1", 5, now).await.unwrap(), None, "single use");
    assert_eq!(store.check_code("conf-a@example.com", "c-1", 5, now).await.unwrap(), CodeCheck::NoPending);

    // A code: right once; the link dies with it.
    store.replace(&pending("conf-a@example.com", "t-3", "c-3")).await.unwrap();
    assert!(
        matches!(store.check_code("conf-a@example.com", "c-3", 5, now).await.unwrap(), CodeCheck::Matched(p) if p.token_hash == "t-3")
    );
    assert_eq!(store.check_code("conf-a@example.com", "c-3", 5, now).await.unwrap(), CodeCheck::NoPending);
    assert_eq!(store.consume_token("t-3", 5, now).await.unwrap(), None);

    // Wrong codes count; the fifth ends it, and then neither the code nor the link works.
    store.replace(&pending("conf-a@example.com", "t-4", "c-4")).await.unwrap();
    for left in (0..5).rev() {
        let check = store.check_code("conf-a@example.com", "wrong", 5, now).await.unwrap();
        assert_eq!(check, CodeCheck::Wrong { attempts_left: left });
    }
    assert_eq!(store.check_code("conf-a@example.com", "c-4", 5, now).await.unwrap(), CodeCheck::NoPending);
    assert_eq!(store.consume_token("t-4", 5, now).await.unwrap(), None);

    // A newer request replaces the older: its link and code die.
    store.replace(&pending("conf-a@example.com", "t-5", "c-5")).await.unwrap();
    store.replace(&pending("conf-a@example.com", "t-6", "c-6")).await.unwrap();
    assert_eq!(store.consume_token("t-5", 5, now).await.unwrap(), None);
    assert_eq!(
        store.check_code("conf-a@example.com", "c-5", 5, now).await.unwrap(),
        CodeCheck::Wrong { attempts_left: 4 }
    );
    // Other addresses are separate.
    store.replace(&pending("conf-b@example.com", "t-7", "c-7")).await.unwrap();
    assert!(matches!(
        store.check_code("conf-a@example.com", "c-7", 5, now).await.unwrap(),
        CodeCheck::Wrong { .. }
    ));
    assert!(matches!(store.consume_token("t-6", 5, now).await.unwrap(), Some(p) if p.attempts == 2));

    // Expiry: at `expires_at` nothing works.
    let late = at(600);
    assert_eq!(store.consume_token("t-7", 5, late).await.unwrap(), None);
    assert_eq!(store.check_code("conf-b@example.com", "c-7", 5, late).await.unwrap(), CodeCheck::NoPending);
    assert!(store.flush_expired(late).await.unwrap() >= 1);
    assert_eq!(store.consume_token("t-7", 5, now).await.unwrap(), None, "flushed");

    // A sign-up by email: no user yet.
    let mut signup = pending("conf-new@example.com", "t-8", "c-8");
    signup.user_id = None;
    signup.expires_at = now + Duration::minutes(10);
    store.replace(&signup).await.unwrap();
    assert_eq!(store.consume_token("t-8", 5, now).await.unwrap(), Some(signup));

    // Concurrency: one link, 16 uses; one code, 16 uses; 16 wrong codes.
    store.replace(&pending("conf-race@example.com", "t-race", "c-race")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(
            async move { store.consume_token("t-race", 5, at(1)).await.unwrap().is_some() },
        ));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "one link, one sign-in");
    store.replace(&pending("conf-race@example.com", "t-race-2", "c-race")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            matches!(
                store.check_code("conf-race@example.com", "c-race", 5, at(1)).await.unwrap(),
                CodeCheck::Matched(_)
            )
        }));
    }
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1, "one code, one sign-in");
    store.replace(&pending("conf-race@example.com", "t-race-3", "c-race")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.check_code("conf-race@example.com", "wrong", 5, at(1)).await.unwrap()
        }));
    }
    let mut wrong = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), CodeCheck::Wrong { .. }) {
            wrong += 1;
        }
    }
    assert_eq!(wrong, 5, "exactly the allowed wrong codes are counted; then nothing is pending");
    assert_eq!(
        store.check_code("conf-race@example.com", "c-race", 5, at(1)).await.unwrap(),
        CodeCheck::NoPending
    );
}
