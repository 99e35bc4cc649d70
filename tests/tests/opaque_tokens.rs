//! Opaque tokens over real HTTP, both adapters, both databases: sign-in, `Token` and `Bearer`
//! schemes, expiry by the injected clock, sign-out, sign-out-all, the sessions list, revocation by
//! password change, and only hashes in the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::{AuthUser, UserStore};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

async fn token_sign_in(srv: &TestServer, username: &str, name: Option<&str>) -> String {
    let r = srv
        .client
        .post(srv.url("/api/auth/token/sign-in"))
        .header("user-agent", "cli/1.0")
        .json(&json!({"username": username, "password": "correct horse battery", "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert!(body["expires_at"].is_string());
    body["token"].as_str().unwrap().to_owned()
}

async fn me_with(srv: &TestServer, authorization: &str) -> u16 {
    srv.client
        .get(srv.url("/api/auth/me"))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

http_test!(opaque_token_sign_in_and_both_schemes, |srv: TestServer| async move {
    srv.register("otto", "correct horse battery").await;
    let token = token_sign_in(&srv, "otto", Some("laptop")).await;
    assert!(token.starts_with("pct_") && token.len() >= 4 + 43, "{token}");
    assert_eq!(me_with(&srv, &format!("Token {token}")).await, 200);
    assert_eq!(me_with(&srv, &format!("Bearer {token}")).await, 200);
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["username"], "otto");

    // Present but invalid: 401, never a fall-through to another credential kind.
    let forged = format!("pct_{}", "A".repeat(43));
    assert_error(
        srv.client
            .get(srv.url("/api/auth/me"))
            .header("authorization", format!("Token {forged}"))
            .send()
            .await
            .unwrap(),
        401,
        "token_not_valid",
    )
    .await;
    assert_eq!(me_with(&srv, &format!("Bearer {forged}")).await, 401);
    assert_eq!(me_with(&srv, "Token not-a-token").await, 401);
    assert_eq!(me_with(&srv, "Token ").await, 401);
    let r =
        srv.post("/api/auth/token/sign-in", json!({"username": "otto", "password": "wrong password"})).await;
    assert_error(r, 401, "invalid_credentials").await;

    // Only the hash is stored.
    let hash = portcullis::token::TokenHash::of(&token);
    let user = srv.auth().store().find_by_login("otto").await.unwrap().unwrap();
    let sessions = srv
        .auth()
        .grants()
        .expect("grants")
        .active_grants(&user.id(), portcullis::core::Clock::now(&srv.clock), chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user_agent.as_deref(), Some("laptop"));
    assert_ne!(hash.as_hex(), token);
});

http_test!(
    opaque_tokens_expire_by_the_clock,
    |s: &mut auth_server::Settings| {
        s.token_ttl = 3600;
        s.token_idle_ttl = Some(600);
    },
    |srv: TestServer| async move {
        srv.register("pia", "correct horse battery").await;
        let token = token_sign_in(&srv, "pia", None).await;
        let auth = format!("Token {token}");
        srv.clock.advance(chrono::Duration::seconds(500));
        assert_eq!(me_with(&srv, &auth).await, 200, "used within the idle timeout");
        srv.clock.advance(chrono::Duration::seconds(601));
        assert_eq!(me_with(&srv, &auth).await, 401, "idle");
        let token = token_sign_in(&srv, "pia", None).await;
        let auth = format!("Token {token}");
        for _ in 0..6 {
            srv.clock.advance(chrono::Duration::seconds(590));
            assert_eq!(me_with(&srv, &auth).await, 200);
        }
        srv.clock.advance(chrono::Duration::seconds(100));
        assert_eq!(me_with(&srv, &auth).await, 401, "absolute expiry");
    }
);

http_test!(opaque_token_sign_out_and_revocation, |srv: TestServer| async move {
    srv.register("quinn", "correct horse battery").await;
    let a = token_sign_in(&srv, "quinn", Some("a")).await;
    let b = token_sign_in(&srv, "quinn", Some("b")).await;
    let c = token_sign_in(&srv, "quinn", Some("c")).await;

    // Sign-out deletes the presented token only.
    let r = srv
        .client
        .post(srv.url("/api/auth/token/sign-out"))
        .header("authorization", format!("Token {a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_with(&srv, &format!("Token {a}")).await, 401);
    assert_eq!(me_with(&srv, &format!("Token {b}")).await, 200);
    let r = srv.client.post(srv.url("/api/auth/token/sign-out")).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;

    // Listed in the sessions; deleting the session kills the token.
    let r = srv
        .client
        .get(srv.url("/api/auth/sessions"))
        .header("authorization", format!("Token {b}"))
        .send()
        .await
        .unwrap();
    let sessions: Vec<Value> = r.json().await.unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "b");
    let c_id = sessions.iter().find(|s| s["user_agent"] == "c").unwrap()["id"].as_str().unwrap().to_owned();
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/sessions/{c_id}")))
        .header("authorization", format!("Token {b}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_with(&srv, &format!("Token {c}")).await, 401);

    // Sign-out-all (here through a JWT) kills the remaining token.
    let jwt = srv.sign_in("quinn", "correct horse battery").await;
    let r = srv
        .client
        .post(srv.url("/api/auth/sign-out-all"))
        .bearer_auth(jwt["access"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_with(&srv, &format!("Token {b}")).await, 401);
});

http_test!(password_change_and_deactivation_revoke_opaque_tokens, |srv: TestServer| async move {
    srv.register("rae", "correct horse battery").await;
    let token = token_sign_in(&srv, "rae", None).await;
    let user = srv.auth().store().find_by_login("rae").await.unwrap().unwrap();
    srv.auth().set_password(&user.id(), "another long password").await.unwrap();
    assert_eq!(me_with(&srv, &format!("Token {token}")).await, 401);
    let r = srv
        .post("/api/auth/token/sign-in", json!({"username": "rae", "password": "another long password"}))
        .await;
    let token: Value = r.json().await.unwrap();
    srv.auth().set_active(&user.id(), false).await.unwrap();
    assert_eq!(me_with(&srv, &format!("Token {}", token["token"].as_str().unwrap())).await, 401);
});
