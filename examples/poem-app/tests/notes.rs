//! The notes API over real HTTP, and the application's own user store against Portcullis's
//! conformance suite.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use poem::listener::TcpAcceptor;
use poem_app::AccountStore;
use portcullis::core::testing::{concurrent_create_conformance, user_store_conformance};
use portcullis::core::{AuthUser, Registration, UserStore};
use portcullis::sea_orm::connect;
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

const SECRET: &[u8] = b"poem-app-test-secret-of-at-least-32-bytes";

#[tokio::test]
async fn account_store_conforms() {
    let store = AccountStore::new(connect("sqlite::memory:").await.unwrap()).await.unwrap();
    user_store_conformance(&store).await;
    concurrent_create_conformance(Arc::new(store), 8).await;
}

#[tokio::test]
async fn accounts_live_in_the_apps_own_table() {
    let auth = poem_app::auth("sqlite::memory:", SECRET).await.unwrap();
    let account = auth
        .accounts()
        .register(Registration::new("Mia", Some("mia@example.com".into()), "mia's long password"))
        .await
        .unwrap();
    assert_eq!(account.id().as_str(), "1", "ids are the table's integers");
    assert!(!format!("{account:?}").contains("argon2"), "Debug hides the hash");
    let found = auth.store().find_by_login("MIA@EXAMPLE.COM").await.unwrap().unwrap();
    assert_eq!(found.login, "Mia");

    // The row is in `accounts`, under the app's column names; Portcullis's table does not exist.
    let db = auth.store().connection();
    let sql = "SELECT login, secret_hash, enabled, is_moderator FROM accounts WHERE account_id = 1";
    let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
    assert_eq!(row.try_get::<String>("", "login").unwrap(), "Mia");
    assert!(row.try_get::<String>("", "secret_hash").unwrap().starts_with("$argon2id$"));
    assert!(row.try_get::<bool>("", "enabled").unwrap());
    assert!(!row.try_get::<bool>("", "is_moderator").unwrap());
    let sql = "SELECT name FROM sqlite_master WHERE name = 'portcullis_users'";
    assert!(db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().is_none());
}

async fn sign_in(client: &Client, base: &str, username: &str, password: &str) -> String {
    let r = client
        .post(format!("{base}/api/auth/mobile/sign-in"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    tokens["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn notes_are_protected_by_portcullis() {
    let auth = poem_app::auth("sqlite::memory:", SECRET).await.unwrap();
    // The public endpoint never creates moderators: the app does.
    auth.accounts()
        .register(Registration::new("sam", None, "sam's long password").staff(true))
        .await
        .unwrap();
    let app = poem_app::router(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(app).await });
    let client = Client::new();

    for (name, password) in [("ann", "ann's long password"), ("bob", "bob's long password")] {
        let r = client
            .post(format!("{base}/api/auth/register"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let ann = sign_in(&client, &base, "ann", "ann's long password").await;
    let bob = sign_in(&client, &base, "bob", "bob's long password").await;
    let sam = sign_in(&client, &base, "SAM", "sam's long password").await;

    // Public read without a token.
    let r = client.get(format!("{base}/notes")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));

    // Writing needs a token: 401 with the Bearer challenge.
    let note = json!({"title": "groceries", "body": "milk"});
    let r = client.post(format!("{base}/notes")).json(&note).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_authenticated");

    // With a token: 201, owned by the signed-in account.
    let r = client.post(format!("{base}/notes")).bearer_auth(&ann).json(&note).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let me: Value = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["owner"], me["id"]);
    assert_eq!(me["username"], "ann");
    let url = format!("{base}/notes/{}", created["id"]);

    // Public read of one note.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["title"], "groceries");

    // An invalid body is a 400 with a field error.
    let r = client.post(format!("{base}/notes")).bearer_auth(&ann).json(&json!({"title": ""})).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_input");

    // Someone else's note: 403; the owner's update: 200.
    let edit = json!({"title": "groceries", "body": "milk, eggs"});
    let r = client.put(&url).bearer_auth(&bob).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "permission_denied");
    let r = client.put(&url).bearer_auth(&ann).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["body"], "milk, eggs");

    // Deleting is for moderators only, even for the owner.
    let r = client.delete(&url).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client.delete(&url).bearer_auth(&sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Now it is gone.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    let r = client.put(&url).bearer_auth(&ann).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client.delete(&url).bearer_auth(&sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Portcullis's routes answer their JSON 404 for unknown paths.
    let r = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
