//! The conformance suite every [`LinkedAccountStore`] runs (memory here; SQLite and PostgreSQL
//! in `auth-sea-orm`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use auth_core::{AuthError, UserId};
use chrono::{DateTime, SubsecRound, Utc};

use crate::{LinkedAccount, LinkedAccountStore};

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default().trunc_subsecs(0)
}

/// Checks linking, lookup, listing, unlinking (only the owner's), touching, sealed tokens, removal, and that one
/// provider identity links to one user under 16 concurrent attempts.
pub async fn linked_account_store_conformance(store: Arc<dyn LinkedAccountStore>) {
    let (alice, bob) = (UserId::new("conf-alice"), UserId::new("conf-bob"));
    let google = LinkedAccount::new(alice.clone(), "google", "g-1", Some("alice@example.com".into()), at(1));
    store.link(&google).await.unwrap();
    let github = LinkedAccount::new(alice.clone(), "github", "583231", None, at(2));
    store.link(&github).await.unwrap();

    // One identity, one user.
    let again = LinkedAccount::new(bob.clone(), "google", "g-1", None, at(3));
    assert!(matches!(store.link(&again).await, Err(AuthError::Conflict(_))));
    assert_eq!(store.find("google", "g-1").await.unwrap(), Some(google.clone()));
    assert_eq!(store.find("google", "g-2").await.unwrap(), None);
    assert_eq!(store.find("github", "g-1").await.unwrap(), None, "subjects are per provider");
    let listed = store.list_for_user(&alice).await.unwrap();
    assert_eq!(listed, vec![google.clone(), github.clone()], "oldest first");
    assert!(store.list_for_user(&bob).await.unwrap().is_empty());

    store.touch(&google.id, at(10)).await.unwrap();
    let touched = store.find("google", "g-1").await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(at(10)));

    // Sealed provider tokens: stored, replaced, removed; per link.
    assert_eq!(touched.tokens, None);
    store.set_tokens(&google.id, Some("sealed-1")).await.unwrap();
    store.set_tokens(&google.id, Some("sealed-2")).await.unwrap();
    let sealed = store.find("google", "g-1").await.unwrap().unwrap();
    assert_eq!(sealed.tokens.as_deref(), Some("sealed-2"));
    assert_eq!(store.find("github", "583231").await.unwrap().unwrap().tokens, None, "per link");
    assert_eq!(store.list_for_user(&alice).await.unwrap()[0].tokens.as_deref(), Some("sealed-2"));
    store.set_tokens(&github.id, Some("sealed-3")).await.unwrap();
    store.set_tokens(&github.id, None).await.unwrap();
    assert_eq!(store.find("github", "583231").await.unwrap().unwrap().tokens, None);
    store.set_tokens("no-such-link", Some("x")).await.unwrap();

    // Only the owner unlinks.
    assert!(!store.unlink(&bob, &google.id).await.unwrap());
    assert!(store.unlink(&alice, &google.id).await.unwrap());
    assert!(!store.unlink(&alice, &google.id).await.unwrap(), "once");
    assert_eq!(store.find("google", "g-1").await.unwrap(), None);
    // The identity is free again.
    store.link(&LinkedAccount::new(bob.clone(), "google", "g-1", None, at(20))).await.unwrap();

    store.remove_user(&alice).await.unwrap();
    assert!(store.list_for_user(&alice).await.unwrap().is_empty());
    assert_eq!(store.list_for_user(&bob).await.unwrap().len(), 1);

    // Concurrent links of one identity: exactly one wins.
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let account =
                LinkedAccount::new(UserId::new(format!("racer-{n}")), "gitlab", "race", None, at(30));
            store.link(&account).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(AuthError::Conflict(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(won, 1, "one identity links to one user");
    store.remove_user(&bob).await.unwrap();
}
