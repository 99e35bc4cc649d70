//! API keys over real HTTP, both adapters, both databases: created once (shown once), listed
//! without secrets, authenticating `X-API-Key`, expiring by the injected clock, revoked, managed
//! only with the user's own credentials, dead when the user is deactivated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::{AuthUser, UserStore};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

async fn create(srv: &TestServer, access: &str, body: Value) -> portcullis_tests::reqwest::Response {
    srv.client.post(srv.url("/api/auth/api-keys")).bearer_auth(access).json(&body).send().await.unwrap()
}

async fn me_with_key(srv: &TestServer, key: &str) -> u16 {
    srv.client.get(srv.url("/api/auth/me")).header("x-api-key", key).send().await.unwrap().status().as_u16()
}

http_test!(api_keys_lifecycle, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("kai").await;
    let access = tokens["access"].as_str().unwrap();
    let r = create(
        &srv,
        access,
        json!({"name": "ci", "scopes": ["notes:read", "notes:write"], "expires_in": 3600}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pck_"), "{key}");
    assert!(created["prefix"].as_str().unwrap().starts_with("pck_"));
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["scopes"], json!(["notes:read", "notes:write"]));
    assert!(created["expires_at"].is_string());

    assert_eq!(me_with_key(&srv, &key).await, 200);
    assert_eq!(me_with_key(&srv, &format!("pck_{}", "B".repeat(43))).await, 401);
    assert_eq!(me_with_key(&srv, "garbage").await, 401);

    // Listed without secrets.
    let r = srv.client.get(srv.url("/api/auth/api-keys")).bearer_auth(access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&key[4..]), "the key never appears again");
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0]["last_used_at"].is_string(), "last use tracked");

    // Keys cannot manage keys.
    let r = srv.client.get(srv.url("/api/auth/api-keys")).header("x-api-key", &key).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;

    // Someone else's id is 404; the owner's revoke works at once.
    let other = srv.user_with_tokens("lou").await;
    let id = created["id"].as_str().unwrap();
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/api-keys/{id}")))
        .bearer_auth(other["access"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    assert_eq!(me_with_key(&srv, &key).await, 200);
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/api-keys/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_with_key(&srv, &key).await, 401);
});

http_test!(api_keys_expire_and_validate_input, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("mo").await;
    let access = tokens["access"].as_str().unwrap();
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "scopes": ["bad scope"]}),
        json!({"name": "x", "expires_in": 0}),
        json!({}),
    ] {
        assert_error(create(&srv, access, bad).await, 400, "invalid_input").await;
    }
    let r = srv.client.post(srv.url("/api/auth/api-keys")).json(&json!({"name": "x"})).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;
    let created: Value =
        create(&srv, access, json!({"name": "short", "expires_in": 60})).await.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(me_with_key(&srv, &key).await, 200);
    srv.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(me_with_key(&srv, &key).await, 401, "expired");
    let forever: Value = create(&srv, access, json!({"name": "forever"})).await.json().await.unwrap();
    assert!(forever["expires_at"].is_null());
    let key = forever["key"].as_str().unwrap().to_owned();
    let user = srv.auth().store().find_by_login("mo").await.unwrap().unwrap();
    srv.auth().set_active(&user.id(), false).await.unwrap();
    assert_eq!(me_with_key(&srv, &key).await, 401, "a deactivated user's keys stop working");
});

http_test!(mixed_credentials_follow_the_documented_order, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("nia").await;
    let access = tokens["access"].as_str().unwrap();
    let created: Value = create(&srv, access, json!({"name": "k"})).await.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    // X-API-Key is checked first: an invalid key with a valid JWT is a 401, not a fall-through.
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("x-api-key", "pck_invalid")
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A valid key with an invalid JWT: the key decides.
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("x-api-key", key)
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
});

http_test!(
    api_key_header_is_configurable,
    |s: &mut auth_server::Settings| {
        s.api_key_header = "x-machine-key".into();
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("ola").await;
        let created: Value = create(&srv, tokens["access"].as_str().unwrap(), json!({"name": "m"}))
            .await
            .json()
            .await
            .unwrap();
        let key = created["key"].as_str().unwrap();
        let r = srv.client.get(srv.url("/api/auth/me")).header("x-machine-key", key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_error(
            srv.client.get(srv.url("/api/auth/me")).header("x-api-key", key).send().await.unwrap(),
            401,
            "not_authenticated",
        )
        .await;
    }
);

http_test!(every_credential_kind_is_listed_in_sessions, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("max").await;
    let access = tokens["access"].as_str().unwrap();
    let sign_in = json!({"username": "max", "password": "correct horse battery", "name": "laptop"});
    assert_eq!(srv.post("/api/auth/token/sign-in", sign_in.clone()).await.status(), 200);
    assert_eq!(srv.post("/api/auth/session/sign-in", sign_in).await.status(), 200);
    let created: Value =
        create(&srv, access, json!({"name": "deploy bot", "scopes": ["deploy"]})).await.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    let key_id = created["id"].as_str().unwrap();

    let list: Vec<Value> = srv.get_bearer("/api/auth/sessions", access).await.json().await.unwrap();
    let kinds: Vec<&str> = list.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    for kind in ["jwt", "token", "session", "api_key"] {
        assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "one {kind} in {list:?}");
    }
    let listed_key = list.iter().find(|s| s["kind"] == "api_key").unwrap();
    assert_eq!(listed_key["id"], key_id);
    assert_eq!(listed_key["user_agent"], "deploy bot");
    assert_eq!(listed_key["current"], false);
    assert!(!serde_json::to_string(&list).unwrap().contains(&key[4..]), "no secret in the list");
    // A key cannot see or end the user's sessions, nor sign the user out everywhere (which would
    // revoke every key too): those are the user's own (#13.11).
    let r = srv.client.get(srv.url("/api/auth/sessions")).header("x-api-key", key).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/sessions/{key_id}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = srv.client.post(srv.url("/api/auth/sign-out-all")).header("x-api-key", key).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
    assert_eq!(me_with_key(&srv, key).await, 200, "nothing was revoked");

    // Revoked from the sessions list like any session.
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/sessions/{key_id}")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_with_key(&srv, key).await, 401);
    let list: Vec<Value> = srv.get_bearer("/api/auth/sessions", access).await.json().await.unwrap();
    assert!(list.iter().all(|s| s["kind"] != "api_key"), "{list:?}");
});
