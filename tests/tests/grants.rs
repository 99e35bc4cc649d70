//! Grants: refresh rotation with reuse detection, revocation that reaches access tokens,
//! sign-out, sign-out-all, the sessions list, idle and absolute lifetimes. Both adapters, both
//! databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::{AuthUser, Clock, UserStore};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

async fn refresh(srv: &TestServer, token: &Value) -> portcullis_tests::reqwest::Response {
    srv.post("/api/auth/mobile/token-refresh", json!({"refresh": token})).await
}

async fn me_status(srv: &TestServer, tokens: &Value) -> u16 {
    srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await.status().as_u16()
}

async fn sign_in_as(srv: &TestServer, username: &str, agent: &str) -> Value {
    let r = srv
        .client
        .post(srv.url("/api/auth/mobile/sign-in"))
        .header("user-agent", agent)
        .json(&json!({"username": username, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

http_test!(refresh_rotates_and_reuse_revokes_the_grant, |srv: TestServer| async move {
    let first = srv.user_with_tokens("rosa").await;
    let r = refresh(&srv, &first["refresh"]).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    assert_ne!(second["refresh"], first["refresh"]);
    assert_eq!(me_status(&srv, &second).await, 200);

    // Replaying the consumed token: 401, and the whole grant dies with it.
    assert_error(refresh(&srv, &first["refresh"]).await, 401, "token_not_valid").await;
    assert_error(refresh(&srv, &second["refresh"]).await, 401, "token_not_valid").await;
    assert_eq!(me_status(&srv, &second).await, 401, "the grant's access tokens are refused");
    assert_eq!(me_status(&srv, &first).await, 401);

    // A security event was recorded; other sign-ins are unaffected.
    let user = srv.auth().store().find_by_login("rosa").await.unwrap().unwrap();
    let query = portcullis::core::audit::AuditQuery::new()
        .user(&user.id())
        .kinds(vec![portcullis::core::audit::AuditKind::RefreshReuseDetected]);
    let events = srv.auth().audit_log().list(&query).await.unwrap();
    assert_eq!(events.len(), 1, "one reuse recorded in the audit log");
    let fresh = srv.sign_in("rosa", "correct horse battery").await;
    assert_eq!(me_status(&srv, &fresh).await, 200);
});

http_test!(fifty_concurrent_refreshes_give_exactly_one_success, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("sam").await;
    let requests = (0..50).map(|_| {
        let srv = &srv;
        let token = tokens["refresh"].clone();
        async move { refresh(srv, &token).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401), "{statuses:?}");
});

http_test!(mobile_sign_out_revokes_its_grant_only, |srv: TestServer| async move {
    srv.register("tina", "correct horse battery").await;
    let phone = sign_in_as(&srv, "tina", "phone").await;
    let laptop = sign_in_as(&srv, "tina", "laptop").await;
    let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": phone["refresh"]})).await;
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&srv, &phone).await, 401, "at once");
    assert_error(refresh(&srv, &phone["refresh"]).await, 401, "token_not_valid").await;
    assert_eq!(me_status(&srv, &laptop).await, 200);
    assert_eq!(refresh(&srv, &laptop["refresh"]).await.status(), 200);
    let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": "forged"})).await;
    assert_error(r, 401, "token_not_valid").await;
    let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": laptop["access"]})).await;
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(web_sign_out_revokes_the_cookie_grant, |srv: TestServer| async move {
    srv.register("uma", "correct horse battery").await;
    let r = srv
        .post("/api/auth/web/sign-in", json!({"username": "uma", "password": "correct horse battery"}))
        .await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    // Web refresh rotates the cookie.
    let r = srv
        .client
        .post(srv.url("/api/auth/web/token-refresh"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(rotated, cookie);
    let r =
        srv.client.post(srv.url("/api/auth/web/sign-out")).header("cookie", &rotated).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(me_status(&srv, &body).await, 401, "the grant's access token is refused at once");
    let r = srv
        .client
        .post(srv.url("/api/auth/web/token-refresh"))
        .header("cookie", &rotated)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(sign_out_all_kills_every_session, |srv: TestServer| async move {
    srv.register("vera", "correct horse battery").await;
    let a = sign_in_as(&srv, "vera", "a").await;
    let b = sign_in_as(&srv, "vera", "b").await;
    let r = srv.client.post(srv.url("/api/auth/sign-out-all")).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;
    let r = srv
        .client
        .post(srv.url("/api/auth/sign-out-all"))
        .bearer_auth(a["access"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for tokens in [&a, &b] {
        assert_eq!(me_status(&srv, tokens).await, 401);
        assert_error(refresh(&srv, &tokens["refresh"]).await, 401, "token_not_valid").await;
    }
    let again = sign_in_as(&srv, "vera", "c").await;
    assert_eq!(me_status(&srv, &again).await, 200, "signing in again works");
});

http_test!(sessions_list_and_delete, |srv: TestServer| async move {
    srv.register("wes", "correct horse battery").await;
    srv.register("xavi", "correct horse battery").await;
    let phone = sign_in_as(&srv, "wes", "Phone/1.0").await;
    let laptop = sign_in_as(&srv, "wes", "Laptop/2.0").await;
    let other = sign_in_as(&srv, "xavi", "Other/3.0").await;
    let list = |tokens: Value| {
        let srv = &srv;
        async move {
            let r = srv.get_bearer("/api/auth/sessions", tokens["access"].as_str().unwrap()).await;
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["cache-control"], "no-store");
            r.json::<Vec<Value>>().await.unwrap()
        }
    };
    let sessions = list(laptop.clone()).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["user_agent"], "Laptop/2.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    for s in &sessions {
        for field in ["id", "created_at", "last_used_at"] {
            assert!(s[field].is_string(), "{field} in {s}");
        }
    }
    let phone_id =
        sessions.iter().find(|s| s["user_agent"] == "Phone/1.0").unwrap()["id"].as_str().unwrap().to_owned();
    let other_id = list(other.clone()).await[0]["id"].as_str().unwrap().to_owned();

    let delete = |id: String, tokens: &Value| {
        srv.client
            .delete(srv.url(&format!("/api/auth/sessions/{id}")))
            .bearer_auth(tokens["access"].as_str().unwrap())
            .send()
    };
    assert_error(delete(other_id.clone(), &laptop).await.unwrap(), 404, "not_found").await;
    assert_eq!(me_status(&srv, &other).await, 200, "someone else's session is untouched");
    assert_error(delete("no-such-session".into(), &laptop).await.unwrap(), 404, "not_found").await;
    assert_eq!(delete(phone_id.clone(), &laptop).await.unwrap().status(), 204);
    assert_eq!(me_status(&srv, &phone).await, 401, "at once");
    assert_error(refresh(&srv, &phone["refresh"]).await, 401, "token_not_valid").await;
    assert_eq!(list(laptop.clone()).await.len(), 1);
    let r = srv.client.delete(srv.url(&format!("/api/auth/sessions/{phone_id}"))).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;
});

http_test!(
    grant_idle_timeout,
    |s: &mut auth_server::Settings| {
        s.grant_idle_ttl = Some(600);
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("yan").await;
        srv.clock.advance(chrono::Duration::seconds(500));
        let r = refresh(&srv, &tokens["refresh"]).await;
        assert_eq!(r.status(), 200, "used within the idle timeout");
        let rotated: Value = r.json().await.unwrap();
        srv.clock.advance(chrono::Duration::seconds(601));
        assert_error(refresh(&srv, &rotated["refresh"]).await, 401, "token_not_valid").await;
    }
);

http_test!(
    grant_absolute_lifetime,
    |s: &mut auth_server::Settings| {
        s.grant_max_age = 3600;
    },
    |srv: TestServer| async move {
        let mut tokens = srv.user_with_tokens("zoe").await;
        for _ in 0..5 {
            srv.clock.advance(chrono::Duration::seconds(650));
            let r = refresh(&srv, &tokens["refresh"]).await;
            assert_eq!(r.status(), 200);
            tokens = r.json().await.unwrap();
        }
        // 3250 s in: the access token may not outlive the grant.
        let access = jsonwebtoken::dangerous::insecure_decode::<Value>(tokens["access"].as_str().unwrap())
            .unwrap()
            .claims;
        assert!(access["exp"].as_i64().unwrap() <= access["auth_time"].as_i64().unwrap() + 3600);
        srv.clock.advance(chrono::Duration::seconds(400));
        assert_error(refresh(&srv, &tokens["refresh"]).await, 401, "token_not_valid").await;
        srv.sign_in("zoe", "correct horse battery").await;
    }
);

http_test!(
    reuse_grace_window_refuses_without_revoking,
    |s: &mut auth_server::Settings| {
        s.reuse_grace = 10;
    },
    |srv: TestServer| async move {
        let first = srv.user_with_tokens("abe").await;
        let second: Value = refresh(&srv, &first["refresh"]).await.json().await.unwrap();
        assert_error(refresh(&srv, &first["refresh"]).await, 401, "token_not_valid").await;
        assert_eq!(
            refresh(&srv, &second["refresh"]).await.status(),
            200,
            "within the grace window the grant survives"
        );
    }
);

http_test!(deactivation_and_password_change_revoke_sessions, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("bo").await;
    let user = srv.auth().store().find_by_login("bo").await.unwrap().unwrap();
    let now = srv.clock.now();
    let idle = chrono::Duration::days(1);
    assert_eq!(
        srv.auth().grants().expect("grants").active_grants(&user.id(), now, idle).await.unwrap().len(),
        1
    );
    srv.auth().set_password(&user.id(), "another long password").await.unwrap();
    assert!(
        srv.auth().grants().expect("grants").active_grants(&user.id(), now, idle).await.unwrap().is_empty()
    );
    assert_eq!(me_status(&srv, &tokens).await, 401);
    let tokens = srv.sign_in("bo", "another long password").await;
    srv.auth().set_active(&user.id(), false).await.unwrap();
    assert!(
        srv.auth().grants().expect("grants").active_grants(&user.id(), now, idle).await.unwrap().is_empty()
    );
    assert_error(refresh(&srv, &tokens["refresh"]).await, 401, "token_not_valid").await;
});

http_test!(
    opaque_tokens_and_sessions_past_the_grant_idle_time_are_listed_and_die_with_a_password_change,
    |srv: TestServer| async move {
        let password = "correct horse battery";
        srv.register("ida", password).await;
        let login = json!({"username": "ida", "password": password});
        let token: Value = srv.post("/api/auth/token/sign-in", login.clone()).await.json().await.unwrap();
        let token = format!("Token {}", token["token"].as_str().unwrap());
        let r = srv.post("/api/auth/session/sign-in", login.clone()).await;
        let session: String = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let with_token = |path: &str| srv.client.get(srv.url(path)).header("authorization", &token);
        let with_session = |path: &str| srv.client.get(srv.url(path)).header("cookie", &session);

        // Two days: past the grant idle time (the refresh lifetime, one day). The opaque token has
        // no idle timeout; the session is used every twelve hours, within its own.
        for _ in 0..4 {
            srv.clock.advance(chrono::Duration::hours(12));
            assert_eq!(with_session("/api/auth/me").send().await.unwrap().status(), 200);
        }
        assert_eq!(with_token("/api/auth/me").send().await.unwrap().status(), 200);

        // Both are still live, so both are listed.
        let access = srv.sign_in("ida", password).await["access"].as_str().unwrap().to_owned();
        let listed: Vec<Value> = srv.get_bearer("/api/auth/sessions", &access).await.json().await.unwrap();
        let mut kinds: Vec<&str> = listed.iter().map(|s| s["kind"].as_str().unwrap()).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["jwt", "session", "token"], "{listed:?}");
        let session_entry = listed.iter().find(|s| s["kind"] == "session").unwrap();
        let used: chrono::DateTime<chrono::Utc> =
            session_entry["last_used_at"].as_str().unwrap().parse().unwrap();
        assert!(
            srv.clock.now() - used < chrono::Duration::hours(1),
            "last use kept current: {session_entry}"
        );

        // A password change ends every other credential, however long unused.
        let change = json!({"current_password": password, "new_password": "a brand new password"});
        let r = srv
            .client
            .post(srv.url("/api/auth/password/change"))
            .bearer_auth(&access)
            .json(&change)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(with_token("/api/auth/me").send().await.unwrap().status(), 401);
        assert_eq!(with_session("/api/auth/me").send().await.unwrap().status(), 401);
    }
);
