//! Migration `m0010_confusable_usernames` on a database with users from before it: the normalised
//! columns are recomputed, colliding younger accounts keep their old form and still sign in, and
//! nothing is lost — on SQLite and PostgreSQL.

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use auth_core::{CreateUserError, NewUser, UserStore, normalize_email, normalize_login};
use auth_sea_orm::entity::users;
use auth_sea_orm::sea_orm::{
    ActiveValue::NotSet, ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect,
};
use auth_sea_orm::sea_orm_migration::MigratorTrait;
use auth_sea_orm::{LEGACY_PREFIX, Migrator, SeaOrmUserStore, connect_with, migrate};
use chrono::{DateTime, Utc};

/// The users of a database from before m0010: `(username, email)`, oldest first, with the
/// `to_lowercase()` forms of the time.
const USERS: [(&str, Option<&str>); 7] = [
    ("paypal", Some("pay@example.com")),
    // Cyrillic А: the same skeleton as the older `paypal`; a fullwidth ｐ in the email.
    ("P\u{410}YPAL", Some("\u{ff50}ay@example.com")),
    ("\u{210c}ello", None), // ℌello, older than `hello`
    ("hello", Some("hello@example.com")),
    ("alice", Some("Alice@Example.com")), // unchanged by the migration
    ("admin", None),                      // a new form (`adrnin`), no collision
    ("\u{1d1c}ser", Some("user@example.com")),
];

async fn insert_old_users(db: &DatabaseConnection) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, (username, email)) in USERS.iter().enumerate() {
        let id = uuid::Uuid::new_v4().to_string();
        let date_joined = DateTime::<Utc>::from_timestamp(1_700_000_000 + i as i64 * 60, 0).unwrap();
        let row = users::ActiveModel {
            id: Set(id.clone()),
            username: Set((*username).to_owned()),
            username_normalized: Set(username.to_lowercase()),
            email: Set(email.map(str::to_owned)),
            email_normalized: Set(email.map(str::to_lowercase)),
            email_verified: Set(false),
            password_hash: Set(Some(format!("$argon2id$user{i}"))),
            is_active: Set(true),
            is_staff: Set(false),
            is_superuser: Set(false),
            roles: Set("[]".to_owned()),
            date_joined: Set(date_joined),
            last_login: Set(None),
            // Added by m0011, after this migration.
            tenant: NotSet,
        };
        users::Entity::insert(row).exec_without_returning(db).await.expect("insert an old user");
        ids.push(id);
    }
    ids
}

/// `(username_normalized, email_normalized)` of every row, in the order of [`USERS`].
async fn forms(db: &DatabaseConnection) -> Vec<(String, Option<String>)> {
    // Only these columns: the later migrations' columns come and go with them.
    users::Entity::find()
        .select_only()
        .columns([users::Column::UsernameNormalized, users::Column::EmailNormalized])
        .order_by_asc(users::Column::DateJoined)
        .into_tuple()
        .all(db)
        .await
        .expect("rows")
}

async fn run(url: &str) {
    let db = connect_with(url, &support::test_config()).await.expect("connect");
    Migrator::up(&db, Some(9)).await.expect("migrate to m0009");
    let ids = insert_old_users(&db).await;
    migrate(&db).await.expect("m0010 runs over the old rows");

    let legacy = |text: &str| format!("{LEGACY_PREFIX}{}", text.to_lowercase());
    let expected = vec![
        (normalize_login("paypal"), Some(normalize_email("pay@example.com"))),
        (legacy("P\u{410}YPAL"), Some(legacy("\u{ff50}ay@example.com"))),
        (normalize_login("\u{210c}ello"), None),
        (legacy("hello"), Some(normalize_email("hello@example.com"))),
        ("alice".to_owned(), Some("alice@example.com".to_owned())),
        ("adrnin".to_owned(), None),
        ("user".to_owned(), Some("user@example.com".to_owned())),
    ];
    assert_eq!(forms(&db).await, expected);

    let store = SeaOrmUserStore::new(db.clone());
    let find = |login: &'static str| {
        let store = store.clone();
        async move { store.find_by_login(login).await.unwrap().map(|u| u.id.to_string()) }
    };
    // Every account still signs in with its own name, in any case, and by its own email.
    for (i, (username, email)) in USERS.iter().enumerate() {
        let by_name = store.find_by_login(username).await.unwrap().map(|u| u.id.to_string());
        assert_eq!(by_name.as_ref(), Some(&ids[i]), "{username:?} signs in");
        let upper = store.find_by_login(&username.to_uppercase()).await.unwrap().map(|u| u.id.to_string());
        assert_eq!(upper.as_ref(), Some(&ids[i]), "{username:?} signs in in capitals");
        if let Some(email) = email {
            let by_email = store.find_by_login(email).await.unwrap().map(|u| u.id.to_string());
            assert_eq!(by_email.as_ref(), Some(&ids[i]), "{email:?} signs in");
            let found = store.find_by_email(&email.to_uppercase()).await.unwrap().map(|u| u.id.to_string());
            assert_eq!(found.as_ref(), Some(&ids[i]), "{email:?} is found for a password reset");
        }
    }
    // Other lookalike spellings reach the oldest account of each group.
    assert_eq!(find("p\u{430}yp\u{430}l").await.as_ref(), Some(&ids[0]));
    assert_eq!(find("\u{210c}ELLO").await.as_ref(), Some(&ids[2]));
    assert_eq!(find("h\u{435}llo").await.as_ref(), Some(&ids[2]), "Cyrillic е: not hello's own name");
    assert_eq!(find("\u{430}dmin").await.as_ref(), Some(&ids[5]));
    assert_eq!(find("user").await.as_ref(), Some(&ids[6]));
    // A legacy marker typed at sign-in is just text.
    assert_eq!(find("\u{ff03}legacy:hello").await, None);

    // New registrations of any spelling in a group are refused, new addresses by width and case.
    for name in ["p\u{430}ypal", "HELLO", "hell\u{43e}", "\u{430}dmin"] {
        let dup = store.create_user(NewUser::new(name, None, "h".into())).await;
        assert!(matches!(dup, Err(CreateUserError::UsernameTaken)), "{name:?}: {dup:?}");
    }
    let dup = store.create_user(NewUser::new("newcomer", Some("PAY@example.com".into()), "h".into())).await;
    assert!(matches!(dup, Err(CreateUserError::EmailTaken)), "{dup:?}");

    // Down to m0009 (every later migration, then m0010) restores the old forms; up again gives the
    // same result.
    let after_m0009 = u32::try_from(Migrator::migrations().len() - 9).unwrap();
    Migrator::down(&db, Some(after_m0009)).await.expect("m0010 and later down");
    let old: Vec<_> =
        USERS.iter().map(|(name, email)| (name.to_lowercase(), email.map(str::to_lowercase))).collect();
    assert_eq!(forms(&db).await, old);
    migrate(&db).await.expect("m0010 again");
    assert_eq!(forms(&db).await, expected);
    db.close().await.expect("close");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_recomputes_forms_and_keeps_colliding_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(&format!("sqlite://{}?mode=rwc", dir.path().join("m0010.db").display())).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_recomputes_forms_and_keeps_colliding_accounts() {
    let Some(admin_url) = support::postgres_url_or_skip("postgres_recomputes_forms") else { return };
    support::with_fresh_postgres(&admin_url, |url| async move { run(&url).await }).await;
}
