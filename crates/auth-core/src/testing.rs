//! The user-store conformance suite: every [`UserStore`] implementation (in-memory, SQLite,
//! PostgreSQL, or your own) runs the same behavioural checks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! auth_core::testing::user_store_conformance(&auth_core::MemoryUserStore::new()).await;
//! # }
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{AuthUser, CreateUserError, NewUser, UserId, UserStore, UserUpdate};

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Runs every check against `store`. Panics with a description of the first failure. The store may
/// hold other data: every check uses fresh, unique usernames.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn user_store_conformance<S: UserStore>(store: &S) {
    let name = unique("Alice");
    let email = format!("{}@Example.com", name);
    let created = store
        .create_user(
            NewUser::new(name.clone(), Some(email.clone()), "$argon2id$fake".into())
                .roles(vec!["editor".into()]),
        )
        .await
        .expect("create_user");
    assert_eq!(created.username(), name);
    assert_eq!(created.email(), Some(email.as_str()));
    assert!(created.is_active(), "new users are active");
    assert!(!created.is_staff());
    assert_eq!(created.roles(), vec!["editor".to_owned()]);
    assert_eq!(created.password_hash(), Some("$argon2id$fake"));

    // Lookups: by id, by username and by email, case-insensitively.
    let id = created.id();
    assert_eq!(store.find_by_id(&id).await.unwrap().unwrap().username(), name);
    assert!(store.find_by_id(&UserId::new("no-such-id")).await.unwrap().is_none());
    assert_eq!(store.find_by_login(&name.to_uppercase()).await.unwrap().unwrap().id(), id);
    assert_eq!(store.find_by_login(&email.to_lowercase()).await.unwrap().unwrap().id(), id);
    assert!(store.find_by_login(&unique("nobody")).await.unwrap().is_none());

    // Uniqueness, case-insensitive.
    let dup = store.create_user(NewUser::new(name.to_lowercase(), None, "h".into())).await;
    assert!(matches!(dup, Err(CreateUserError::UsernameTaken)), "duplicate username: {dup:?}");
    let dup = store.create_user(NewUser::new(unique("bob"), Some(email.to_uppercase()), "h".into())).await;
    assert!(matches!(dup, Err(CreateUserError::EmailTaken)), "duplicate email: {dup:?}");

    lookalike_checks(store).await;

    // Users without email do not collide with each other.
    store.create_user(NewUser::new(unique("noemail"), None, "h".into())).await.unwrap();
    store.create_user(NewUser::new(unique("noemail"), None, "h".into())).await.unwrap();

    // Password changes change the credential fingerprint.
    let before = created.credential_fingerprint();
    store.set_password_hash(&id, "$argon2id$other").await.unwrap();
    let after = store.find_by_id(&id).await.unwrap().unwrap();
    assert_eq!(after.password_hash(), Some("$argon2id$other"));
    assert_ne!(after.credential_fingerprint(), before);

    // Last login.
    let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
    store.record_login(&id, at).await.unwrap();
    assert_eq!(store.find_by_id(&id).await.unwrap().unwrap().last_login(), Some(at));

    // Deactivation.
    assert!(store.set_active(&id, false).await.unwrap());
    assert!(!store.find_by_id(&id).await.unwrap().unwrap().is_active());
    assert!(store.set_active(&id, true).await.unwrap());
    assert!(store.find_by_id(&id).await.unwrap().unwrap().is_active());
    assert!(!store.set_active(&UserId::new("no-such-id"), false).await.unwrap());

    // Staff flags survive the round trip.
    let staff = store
        .create_user(NewUser::new(unique("staff"), None, "h".into()).staff(true).superuser(true))
        .await
        .unwrap();
    let staff = store.find_by_id(&staff.id()).await.unwrap().unwrap();
    assert!(staff.is_staff() && staff.is_superuser());

    // Lookup by email only: a username is not an email.
    assert_eq!(store.find_by_email(&email.to_uppercase()).await.unwrap().unwrap().id(), id);
    assert!(store.find_by_email(&name).await.unwrap().is_none(), "a username is not an email");
    assert!(!created.email_verified(), "new users are unverified");

    // Updates: username, email, verified flag; uniqueness holds; nothing changes on a conflict.
    let other = store
        .create_user(NewUser::new(unique("other"), Some(format!("{}@example.com", unique("o"))), "h".into()))
        .await
        .unwrap();
    let new_name = unique("Renamed");
    let new_email = format!("{}@Example.org", unique("new"));
    let updated = store
        .update_user(
            &id,
            UserUpdate::new().username(&new_name).email(Some(new_email.clone())).email_verified(true),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.username(), updated.email()), (new_name.as_str(), Some(new_email.as_str())));
    assert!(updated.email_verified());
    let reread = store.find_by_id(&id).await.unwrap().unwrap();
    assert!(reread.email_verified() && reread.username() == new_name);
    assert_eq!(store.find_by_login(&new_email.to_lowercase()).await.unwrap().unwrap().id(), id);
    assert!(store.find_by_login(&name).await.unwrap().is_none(), "the old username is free");
    let taken = store.update_user(&id, UserUpdate::new().username(other.username().to_uppercase())).await;
    assert!(matches!(taken, Err(CreateUserError::UsernameTaken)), "{taken:?}");
    let taken = store
        .update_user(&id, UserUpdate::new().email(other.email().map(str::to_uppercase)).email_verified(false))
        .await;
    assert!(matches!(taken, Err(CreateUserError::EmailTaken)), "{taken:?}");
    let unchanged = store.find_by_id(&id).await.unwrap().unwrap();
    assert_eq!(unchanged.email(), Some(new_email.as_str()));
    assert!(unchanged.email_verified(), "a refused update changes nothing");
    let same = store.update_user(&id, UserUpdate::new().username(new_name.to_lowercase())).await.unwrap();
    assert_eq!(same.unwrap().username(), new_name.to_lowercase(), "changing one's own case is fine");
    let cleared = store.update_user(&id, UserUpdate::new().email(None)).await.unwrap().unwrap();
    assert_eq!(cleared.email(), None);
    assert!(store.update_user(&UserId::new("no-such-id"), UserUpdate::new()).await.unwrap().is_none());

    flag_checks(store).await;
    list_checks(store).await;
}

/// Staff and superuser flags change through `update_user`, alone and together.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
async fn flag_checks<S: UserStore>(store: &S) {
    let email = format!("{}@example.com", unique("flags"));
    let user = store
        .create_user(NewUser::new(unique("flags"), Some(email.clone()), "h".into()))
        .await
        .expect("create");
    let id = user.id();
    let staff = store.update_user(&id, UserUpdate::new().staff(true)).await.unwrap().unwrap();
    assert!(staff.is_staff() && !staff.is_superuser(), "only the staff flag changed");
    assert_eq!(staff.email(), Some(email.as_str()), "other fields stay");
    let reread = store.find_by_id(&id).await.unwrap().unwrap();
    assert!(reread.is_staff() && !reread.is_superuser());
    let swapped =
        store.update_user(&id, UserUpdate::new().staff(false).superuser(true)).await.unwrap().unwrap();
    assert!(!swapped.is_staff() && swapped.is_superuser());
    let reread = store.find_by_id(&id).await.unwrap().unwrap();
    assert!(!reread.is_staff() && reread.is_superuser());
    assert_eq!(reread.username(), user.username());
    assert!(reread.is_active() && reread.email_verified() == user.email_verified());
    let cleared = store.update_user(&id, UserUpdate::new().superuser(false)).await.unwrap().unwrap();
    assert!(!cleared.is_staff() && !cleared.is_superuser());
}

/// The tenant conformance check, for stores whose user type keeps a tenant
/// ([`AuthUser::tenant`](crate::AuthUser::tenant)): stored as given at creation, absent by default.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn tenant_conformance<S: UserStore>(store: &S) {
    let tenant = unique("acme");
    let member = store
        .create_user(NewUser::new(unique("tenant"), None, "h".into()).tenant(Some(tenant.clone())))
        .await
        .expect("create with a tenant");
    assert_eq!(member.tenant(), Some(tenant.clone()));
    assert_eq!(store.find_by_id(&member.id()).await.unwrap().unwrap().tenant(), Some(tenant.clone()));
    assert_eq!(store.find_by_login(member.username()).await.unwrap().unwrap().tenant(), Some(tenant));
    let other = store.create_user(NewUser::new(unique("notenant"), None, "h".into())).await.unwrap();
    assert_eq!(store.find_by_id(&other.id()).await.unwrap().unwrap().tenant(), None);
}

/// `list_users`: search (case-insensitive, username or email, wildcards literal), id order,
/// cursor paging and limit. A store that does not list users (the default
/// [`UserStore::list_users`] answers [`AuthError::NotFound`](crate::AuthError::NotFound)) skips
/// these checks.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
async fn list_checks<S: UserStore>(store: &S) {
    use crate::{AuthError, UserQuery};
    let ids = |users: Vec<S::User>| users.into_iter().map(|u| u.id()).collect::<Vec<_>>();
    match store.list_users(&UserQuery::new(1)).await {
        Err(AuthError::NotFound) => return,
        other => assert!(other.is_ok(), "list_users: {other:?}"),
    }

    // Six users share `tag` in their username or email; other users exist too.
    let tag = unique("lst");
    let mut created = Vec::new();
    for (username, email) in [
        (format!("{tag}_one"), None),
        (format!("{tag}Xtwo"), Some(format!("{}@example.com", unique("x")))),
        (format!("Big{}", tag.to_uppercase()), None),
        (unique("mail"), Some(format!("Someone.{}@Example.com", tag.to_uppercase()))),
        (format!("{tag}-\u{3a9}mega"), None), // Ω
        (format!("{tag}%pct"), None),
    ] {
        created
            .push(store.create_user(NewUser::new(username, email, "h".into())).await.expect("create").id());
    }
    store.create_user(NewUser::new(unique("unrelated"), None, "h".into())).await.expect("create");
    let mut all = created.clone();
    all.sort();

    // Case-insensitive, on username or email, ordered by id.
    let found = ids(store.list_users(&UserQuery::new(100).search(Some(tag.to_uppercase()))).await.unwrap());
    assert_eq!(found, all, "search by tag in any case, ordered by id");
    let found = ids(store.list_users(&UserQuery::new(100).search(Some(tag.clone()))).await.unwrap());
    assert_eq!(found, all);

    // Wildcards are literal.
    let underscore = format!("{tag}_");
    let found = ids(store.list_users(&UserQuery::new(100).search(Some(underscore))).await.unwrap());
    assert_eq!(found, vec![created[0].clone()], "`_` is not a wildcard");
    let percent = format!("{tag}%");
    let found = ids(store.list_users(&UserQuery::new(100).search(Some(percent))).await.unwrap());
    assert_eq!(found, vec![created[5].clone()], "`%` is not a wildcard");

    // Non-ASCII case folding, as `to_lowercase`.
    let omega = format!("{}-\u{3c9}MEGA", tag.to_uppercase()); // ω
    let found = ids(store.list_users(&UserQuery::new(100).search(Some(omega))).await.unwrap());
    assert_eq!(found, vec![created[4].clone()], "non-ASCII search");

    // Email only.
    let found =
        ids(store.list_users(&UserQuery::new(100).search(Some(format!("someone.{tag}")))).await.unwrap());
    assert_eq!(found, vec![created[3].clone()], "email search");
    let none = store.list_users(&UserQuery::new(100).search(Some(unique("nobody")))).await.unwrap();
    assert!(none.is_empty());

    // Pages of two, each after the previous page's last id, give every match once, in order.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery::new(2).search(Some(tag.clone())).after(after.clone());
        let page = ids(store.list_users(&query).await.unwrap());
        assert!(page.len() <= 2, "limit");
        if page.is_empty() {
            break;
        }
        after = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, all, "cursor paging");

    // Without a search: every user, by id, after the cursor, at most the limit.
    let first = ids(store.list_users(&UserQuery::new(3)).await.unwrap());
    assert_eq!(first.len(), 3, "limit without a search");
    assert!(first.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    let next = ids(store.list_users(&UserQuery::new(3).after(first.last().cloned())).await.unwrap());
    assert!(next.iter().all(|id| Some(id) > first.last()), "after the cursor");
    let after_middle = UserQuery::new(100).search(Some(tag.clone())).after(Some(all[2].clone()));
    assert_eq!(ids(store.list_users(&after_middle).await.unwrap()), all[3..].to_vec());
    assert!(store.list_users(&UserQuery::new(0)).await.unwrap().is_empty(), "limit 0");
}

/// Usernames compare by confusable skeleton (`normalize_login`), emails only by case and NFKC
/// (`normalize_email`).
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
async fn lookalike_checks<S: UserStore>(store: &S) {
    let create =
        |name: String, email: Option<String>| store.create_user(NewUser::new(name, email, "h".into()));

    // `pаypal…` with a Cyrillic а is `paypal…`, in any case: taken, and it signs in.
    let paypal = unique("paypal");
    let cyrillic = paypal.replacen('a', "\u{430}", 1);
    let owner = create(paypal.clone(), None).await.expect("create paypal");
    let dup = create(cyrillic.clone(), None).await;
    assert!(matches!(dup, Err(CreateUserError::UsernameTaken)), "Cyrillic lookalike: {dup:?}");
    let dup = create(cyrillic.to_uppercase(), None).await;
    assert!(matches!(dup, Err(CreateUserError::UsernameTaken)), "uppercase lookalike: {dup:?}");
    for login in [cyrillic.clone(), cyrillic.to_uppercase(), paypal.to_uppercase()] {
        let found = store.find_by_login(&login).await.unwrap();
        assert_eq!(found.map(|u| u.id()), Some(owner.id()), "{login:?} reaches {paypal:?}");
    }

    // A lookalike registered first reserves the plain spelling; the name is kept as entered.
    for (fancy, plain) in [
        ("\u{210c}ello", "hello"), // ℌ, black-letter capital H
        ("\u{1d1c}ser", "user"),   // ᴜ, small capital U
        ("g00gle", "google"),
        ("\u{ff4d}ax", "max"), // fullwidth m
    ] {
        let suffix = unique("");
        let (fancy, plain) = (format!("{fancy}{suffix}"), format!("{plain}{suffix}"));
        let created = create(fancy.clone(), None).await.expect("create the lookalike");
        let dup = create(plain.clone(), None).await;
        assert!(matches!(dup, Err(CreateUserError::UsernameTaken)), "{plain:?} after {fancy:?}: {dup:?}");
        let found = store.find_by_login(&plain.to_uppercase()).await.unwrap().expect("found");
        assert_eq!((found.id(), found.username()), (created.id(), fancy.as_str()));
    }

    // Renaming onto a lookalike of another user's name is refused as well.
    let other = create(unique("renamer"), None).await.expect("create");
    let taken = store.update_user(&other.id(), UserUpdate::new().username(&cyrillic)).await;
    assert!(matches!(taken, Err(CreateUserError::UsernameTaken)), "rename to a lookalike: {taken:?}");

    // Emails: case and width fold, lookalikes stay distinct addresses.
    let local = unique("bob");
    let plain = format!("{local}@example.com");
    let lookalike = format!("{}@example.com", local.replacen('o', "\u{43e}", 1)); // Cyrillic о
    let fullwidth = format!("\u{ff42}{}@EXAMPLE.com", &local[1..]); // fullwidth b
    let bob = create(unique("mail"), Some(plain.clone())).await.expect("create bob");
    let dup = create(unique("mail"), Some(fullwidth.clone())).await;
    assert!(matches!(dup, Err(CreateUserError::EmailTaken)), "fullwidth spelling: {dup:?}");
    let twin = create(unique("mail"), Some(lookalike.clone())).await.expect("a lookalike address is another");
    for (login, id) in [(&plain, bob.id()), (&fullwidth, bob.id()), (&lookalike, twin.id())] {
        assert_eq!(store.find_by_login(login).await.unwrap().map(|u| u.id()), Some(id.clone()), "{login:?}");
        assert_eq!(store.find_by_email(login).await.unwrap().map(|u| u.id()), Some(id), "{login:?}");
    }
}

/// Creates the same username (in lookalike spellings) from `n` concurrent tasks: exactly one succeeds, the rest are
/// [`CreateUserError::UsernameTaken`].
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn concurrent_create_conformance<S: UserStore>(store: Arc<S>, n: usize) {
    let name = unique("race");
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = Arc::clone(&store);
        // Three spellings of one username: as is, uppercase, and with a Cyrillic lookalike.
        let name = match i % 3 {
            0 => name.clone(),
            1 => name.to_uppercase(),
            _ => name.replacen('a', "\u{430}", 1),
        };
        tasks
            .push(tokio::spawn(async move { store.create_user(NewUser::new(name, None, "h".into())).await }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(CreateUserError::UsernameTaken) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one concurrent create succeeds");
}

/// The role-store conformance suite: every [`RoleStore`](crate::RoleStore) implementation
/// (in-memory, SQLite, PostgreSQL, or your own) runs it. The store may hold other data: every
/// check uses fresh, unique names.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// auth_core::testing::role_store_conformance(std::sync::Arc::new(auth_core::MemoryRoleStore::new())).await;
/// # }
/// ```
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub async fn role_store_conformance(store: Arc<dyn crate::RoleStore>) {
    use crate::AuthError;
    let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let editor = unique("editor");
    let viewer = unique("viewer");
    let (alice, bob) = (UserId::new(unique("alice")), UserId::new(unique("bob")));

    // Roles: created once, found, listed by name.
    assert!(store.create_role(&editor, "edits articles", now).await.unwrap());
    assert!(!store.create_role(&editor, "again", now).await.unwrap(), "a second create changes nothing");
    assert!(store.create_role(&viewer, "", now).await.unwrap());
    let found = store.find_role(&editor).await.unwrap().expect("find_role");
    assert_eq!((found.name.as_str(), found.description.as_str()), (editor.as_str(), "edits articles"));
    assert_eq!(found.created_at, now);
    assert!(found.permissions.is_empty());
    assert!(store.find_role(&unique("nobody")).await.unwrap().is_none());
    let listed: Vec<String> = store.list_roles().await.unwrap().into_iter().map(|r| r.name).collect();
    let (i, j) = (listed.iter().position(|n| *n == editor), listed.iter().position(|n| *n == viewer));
    assert!(i.is_some() && j.is_some(), "both listed");
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "listed by name");

    // Permissions: granted once, sorted, revoked; unknown roles refused.
    assert!(store.grant_permission(&editor, "articles:edit").await.unwrap());
    assert!(store.grant_permission(&editor, "articles:delete").await.unwrap());
    assert!(!store.grant_permission(&editor, "articles:edit").await.unwrap());
    assert!(store.grant_permission(&viewer, "articles:read").await.unwrap());
    assert!(matches!(store.grant_permission(&unique("ghost"), "a:b").await, Err(AuthError::NotFound)));
    let found = store.find_role(&editor).await.unwrap().unwrap();
    assert_eq!(found.permissions, vec!["articles:delete".to_owned(), "articles:edit".to_owned()]);
    assert!(store.revoke_permission(&editor, "articles:delete").await.unwrap());
    assert!(!store.revoke_permission(&editor, "articles:delete").await.unwrap());
    assert!(!store.revoke_permission(&unique("ghost"), "a:b").await.unwrap());

    // Assignments: once each, unknown roles refused, listed both ways.
    assert!(store.assign_role(&alice, &editor).await.unwrap());
    assert!(!store.assign_role(&alice, &editor).await.unwrap());
    assert!(store.assign_role(&alice, &viewer).await.unwrap());
    assert!(store.assign_role(&bob, &viewer).await.unwrap());
    assert!(matches!(store.assign_role(&alice, &unique("ghost")).await, Err(AuthError::NotFound)));
    let mut expected = vec![editor.clone(), viewer.clone()];
    expected.sort();
    assert_eq!(store.roles_of(&alice).await.unwrap(), expected);
    assert!(store.roles_of(&UserId::new(unique("nobody"))).await.unwrap().is_empty());
    let mut holders = store.users_with_role(&viewer).await.unwrap();
    holders.sort();
    let mut both = vec![alice.clone(), bob.clone()];
    both.sort();
    assert_eq!(holders, both);

    // Effective authority: the union of the roles' permissions, own roles included.
    let union = store.permissions_of(&[editor.clone(), viewer.clone(), unique("ghost")]).await.unwrap();
    assert_eq!(union, vec!["articles:edit".to_owned(), "articles:read".to_owned()]);
    let (roles, permissions) = store.authority_of(&bob, std::slice::from_ref(&editor)).await.unwrap();
    assert!(roles.contains(&editor) && roles.contains(&viewer) && roles.len() == 2);
    assert_eq!(permissions.into_iter().collect::<Vec<_>>(), union);
    let (roles, permissions) = store.authority_of(&UserId::new(unique("nobody")), &[]).await.unwrap();
    assert!(roles.is_empty() && permissions.is_empty());

    // Unassigning and deleting: a deleted role leaves no assignment or permission behind.
    assert!(store.unassign_role(&alice, &viewer).await.unwrap());
    assert!(!store.unassign_role(&alice, &viewer).await.unwrap());
    assert_eq!(store.roles_of(&alice).await.unwrap(), vec![editor.clone()]);
    assert!(store.delete_role(&editor).await.unwrap());
    assert!(!store.delete_role(&editor).await.unwrap());
    assert!(store.roles_of(&alice).await.unwrap().is_empty());
    assert!(store.permissions_of(std::slice::from_ref(&editor)).await.unwrap().is_empty());
    assert!(store.create_role(&editor, "recreated", now).await.unwrap());
    assert!(store.find_role(&editor).await.unwrap().unwrap().permissions.is_empty(), "nothing survives");
    assert!(store.users_with_role(&editor).await.unwrap().is_empty());

    // Removing a user removes their assignments only.
    store.remove_user(&bob).await.unwrap();
    assert!(store.roles_of(&bob).await.unwrap().is_empty());
    assert_eq!(
        store.find_role(&viewer).await.unwrap().unwrap().permissions,
        vec!["articles:read".to_owned()]
    );

    // Concurrent assignment and deletion: afterwards no assignment of the deleted role remains.
    let racer = unique("racer");
    assert!(store.create_role(&racer, "", now).await.unwrap());
    let users: Vec<UserId> = (0..8).map(|_| UserId::new(unique("u"))).collect();
    let mut tasks = Vec::new();
    for user in users.clone() {
        let (store, racer) = (Arc::clone(&store), racer.clone());
        tasks.push(tokio::spawn(async move {
            match store.assign_role(&user, &racer).await {
                Ok(_) | Err(AuthError::NotFound) => {}
                Err(other) => panic!("assign during delete: {other:?}"),
            }
        }));
    }
    let deleter = {
        let (store, racer) = (Arc::clone(&store), racer.clone());
        tokio::spawn(async move { store.delete_role(&racer).await.unwrap() })
    };
    for task in tasks {
        task.await.unwrap();
    }
    assert!(deleter.await.unwrap());
    assert!(store.users_with_role(&racer).await.unwrap().is_empty(), "no assignment outlives its role");
    for user in &users {
        assert!(!store.roles_of(user).await.unwrap().contains(&racer));
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_conforms() {
        let store = crate::MemoryUserStore::new();
        super::user_store_conformance(&store).await;
        super::tenant_conformance(&store).await;
        super::concurrent_create_conformance(std::sync::Arc::new(store), 16).await;
    }

    #[tokio::test]
    async fn memory_role_store_conforms() {
        super::role_store_conformance(std::sync::Arc::new(crate::MemoryRoleStore::new())).await;
    }
}
