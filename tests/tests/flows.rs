//! The HTTP contract of the JWT flows, over real HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

http_test!(
    register_then_conflict_keeps_one_user,
    // Without account emails a taken address is a 409 (with them, see account_lifecycle.rs).
    |s: &mut portcullis_tests::auth_server_settings::Settings| s.email_backend = None,
    |srv: TestServer| async move {
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "alice", "email": "alice@example.com", "password": "first password"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["username"], "alice");
        assert_eq!(body["email"], "alice@example.com");
        assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(body.get("password").is_none() && body.get("password_hash").is_none());

        // Same username, other case: conflict naming the field, and the first account is untouched.
        let r =
            srv.post("/api/auth/register", json!({"username": "ALICE", "password": "second password"})).await;
        let err = assert_error(r, 409, "conflict").await;
        assert_eq!(err["fields"][0]["field"], "username");
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "alice2", "email": "ALICE@example.com", "password": "second password"}),
            )
            .await;
        let err = assert_error(r, 409, "conflict").await;
        assert_eq!(err["fields"][0]["field"], "email");
        srv.sign_in("alice", "first password").await;
        let r = srv
            .post("/api/auth/mobile/sign-in", json!({"username": "alice", "password": "second password"}))
            .await;
        assert_error(r, 401, "invalid_credentials").await;
    }
);

http_test!(
    lookalike_usernames_are_one_username,
    |s: &mut portcullis_tests::auth_server_settings::Settings| s.email_backend = None,
    |srv: TestServer| async move {
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "paypal", "email": "paypal@example.com", "password": "first password"}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let paypal: Value = r.json().await.unwrap();

        // A Cyrillic а, in any case, a fullwidth letter, a zero-width space: the same username.
        for name in ["p\u{430}ypal", "P\u{410}YPAL", "\u{ff50}aypal", "pay\u{200b}pal"] {
            let r = srv
                .post("/api/auth/register", json!({"username": name, "password": "second password"}))
                .await;
            if name.contains('\u{200b}') {
                // Invisible characters are not letters: refused before any comparison.
                assert_error(r, 400, "invalid_input").await;
                continue;
            }
            let err = assert_error(r, 409, "conflict").await;
            assert_eq!(err["fields"][0]["field"], "username", "{name:?}: {err}");
        }
        // A lookalike registered first reserves the plain spelling.
        let r = srv
            .post("/api/auth/register", json!({"username": "\u{210c}ello", "password": "third password"}))
            .await;
        assert_eq!(r.status(), 201);
        let r =
            srv.post("/api/auth/register", json!({"username": "hello", "password": "fourth password"})).await;
        let err = assert_error(r, 409, "conflict").await;
        assert_eq!(err["fields"][0]["field"], "username");

        // Signing in with a lookalike spelling reaches the account, and only with its password.
        for login in ["p\u{430}ypal", "PAYPAL", "\u{ff50}\u{430}ypal"] {
            let tokens = srv.sign_in(login, "first password").await;
            let r = srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await;
            let me: Value = r.json().await.unwrap();
            assert_eq!((&me["id"], &me["username"]), (&paypal["id"], &paypal["username"]), "{login:?}");
        }
        let r = srv
            .post(
                "/api/auth/mobile/sign-in",
                json!({"username": "p\u{430}ypal", "password": "second password"}),
            )
            .await;
        assert_error(r, 401, "invalid_credentials").await;
        let tokens = srv.sign_in("HELLO", "third password").await;
        let me: Value =
            srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(me["username"], "\u{210c}ello", "the name is kept as entered");

        // Emails are compared by case and width only: a lookalike address is another address.
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "paul", "email": "p\u{430}ypal@example.com", "password": "fifth password"}),
            )
            .await;
        assert_eq!(r.status(), 201, "a lookalike email is a different mailbox");
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "pete", "email": "PAYPAL@\u{ff45}xample.com", "password": "fifth password"}),
            )
            .await;
        let err = assert_error(r, 409, "conflict").await;
        assert_eq!(err["fields"][0]["field"], "email");
    }
);

http_test!(concurrent_registrations_create_exactly_one, |srv: TestServer| async move {
    let requests = (0..10).map(|i| {
        let srv = &srv;
        async move {
            srv.post(
                "/api/auth/register",
                json!({"username": "racer", "password": format!("a racing password {i}")}),
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
});

http_test!(register_rejects_bad_input_without_side_effects, |srv: TestServer| async move {
    let cases = [
        json!({"username": "bob"}),
        json!({"username": "bob", "password": 12345678}),
        json!({"username": "", "password": "lantern-otter-9"}),
        json!({"username": "bob smith", "password": "lantern-otter-9"}),
        json!({"username": "bob", "password": "short"}),
        json!({"username": "bob", "email": "nope", "password": "lantern-otter-9"}),
        json!([1, 2, 3]),
    ];
    for body in cases {
        let r = srv.post("/api/auth/register", body.clone()).await;
        assert_error(r, 400, "invalid_input").await;
    }
    let r = srv
        .client
        .post(srv.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_input").await;
    let r = srv
        .client
        .post(srv.url("/api/auth/register"))
        .body(r#"{"username":"bob","password":"lantern-otter-9"}"#)
        .send()
        .await
        .unwrap();
    assert_error(r, 415, "unsupported_media_type").await;
    let huge = json!({"username": "bob", "password": "x".repeat(200_000)});
    let r = srv.post("/api/auth/register", huge).await;
    assert_error(r, 413, "payload_too_large").await;
    let r = srv.post("/api/auth/register", json!({"username": "bob", "password": "p".repeat(1025)})).await;
    assert_error(r, 400, "invalid_input").await;
    // None of that created "bob".
    let r =
        srv.post("/api/auth/mobile/sign-in", json!({"username": "bob", "password": "lantern-otter-9"})).await;
    assert_error(r, 401, "invalid_credentials").await;
    srv.register("bob", "lantern-otter-9").await;
});

http_test!(mobile_sign_in_returns_a_pair, |srv: TestServer| async move {
    srv.register("carol", "carol's password").await;
    let r = srv
        .post("/api/auth/mobile/sign-in", json!({"username": "carol", "password": "carol's password"}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(body["access"].as_str().unwrap().split('.').count() == 3);
    assert!(body["refresh"].as_str().unwrap().split('.').count() == 3);
    // By email, case-insensitively.
    srv.sign_in("CAROL@example.com", "carol's password").await;
});

http_test!(wrong_password_and_unknown_user_look_the_same, |srv: TestServer| async move {
    srv.register("dave", "dave's password").await;
    let wrong =
        srv.post("/api/auth/mobile/sign-in", json!({"username": "dave", "password": "not it at all"})).await;
    let unknown = srv
        .post("/api/auth/mobile/sign-in", json!({"username": "nobody", "password": "dave's password"}))
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.status(), unknown.status());
    assert_eq!(wrong.headers().get("www-authenticate"), unknown.headers().get("www-authenticate"));
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a["code"], "invalid_credentials");
    // Passwords are compared exactly as received.
    let r = srv
        .post("/api/auth/mobile/sign-in", json!({"username": "dave", "password": "dave's password "}))
        .await;
    assert_eq!(r.status(), 401);
});

http_test!(mobile_refresh, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("erin").await;
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": tokens["refresh"]})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh"].is_string(), "refresh tokens rotate");
    assert_ne!(body["refresh"], tokens["refresh"]);
    let me = srv.get_bearer("/api/auth/me", body["access"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    // An access token is not a refresh token.
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": tokens["access"]})).await;
    let body = assert_error(r, 401, "token_not_valid").await;
    assert!(body["detail"].is_string());
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": "garbage"})).await;
    assert_error(r, 401, "token_not_valid").await;
    let r = srv.post("/api/auth/mobile/token-refresh", json!({})).await;
    assert_error(r, 400, "invalid_input").await;
});

http_test!(me_needs_an_access_token, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("frank").await;
    let r = srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["username"], "frank");
    assert_eq!(me["email"], "frank@example.com");
    assert_eq!(me["is_staff"], false);
    assert!(me.get("password_hash").is_none());

    let r = srv.client.get(srv.url("/api/auth/me")).send().await.unwrap();
    let challenge = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    assert_error(r, 401, "not_authenticated").await;
    assert!(!challenge.contains("invalid_token"), "no error code without a credential: {challenge}");

    let r = srv.get_bearer("/api/auth/me", tokens["refresh"].as_str().unwrap()).await;
    let challenge = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
    assert_error(r, 401, "token_not_valid").await;
    let r = srv.client.get(srv.url("/api/auth/me")).header("authorization", "Bearer ").send().await.unwrap();
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(token_verify, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("grace").await;
    for kind in ["access", "refresh"] {
        let r = srv.post("/api/auth/token/verify", json!({"token": tokens[kind]})).await;
        assert_eq!(r.status(), 200, "{kind}");
    }
    let access = tokens["access"].as_str().unwrap();
    let mut tampered = access.to_owned();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    let r = srv.post("/api/auth/token/verify", json!({"token": tampered})).await;
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(expired_tokens_are_refused, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("heidi").await;
    let access = tokens["access"].as_str().unwrap();
    srv.clock.advance(chrono::Duration::seconds(300 + 4));
    assert_eq!(srv.get_bearer("/api/auth/me", access).await.status(), 200, "within the leeway");
    srv.clock.advance(chrono::Duration::seconds(2));
    let r = srv.get_bearer("/api/auth/me", access).await;
    let challenge = r.headers().get("www-authenticate").unwrap().to_str().unwrap().to_owned();
    assert!(challenge.contains("expired"), "{challenge}");
    assert_error(r, 401, "token_not_valid").await;
    // The refresh token still works (and rotates); its successor expires too.
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": tokens["refresh"]})).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    srv.clock.advance(chrono::Duration::days(1) + chrono::Duration::seconds(10));
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": rotated["refresh"]})).await;
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(jwks_and_health, |srv: TestServer| async move {
    let r = srv.client.get(srv.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = srv.client.get(srv.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    assert_eq!(jwks["keys"], json!([]), "HMAC secrets are never published");
    let r = srv.client.get(srv.url("/no/such/route")).send().await.unwrap();
    assert_error(r, 404, "not_found").await;
});

http_test!(deactivation_stops_everything, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("ivan").await;
    let access = tokens["access"].as_str().unwrap();
    assert_eq!(srv.get_bearer("/api/auth/me", access).await.status(), 200);
    let user = srv.auth().store().find_by_login("ivan").await.unwrap().unwrap();
    srv.auth().set_active(&user.id, false).await.unwrap();
    assert_error(srv.get_bearer("/api/auth/me", access).await, 401, "token_not_valid").await;
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": tokens["refresh"]})).await;
    assert_error(r, 401, "token_not_valid").await;
    let r = srv
        .post("/api/auth/mobile/sign-in", json!({"username": "ivan", "password": "correct horse battery"}))
        .await;
    assert_error(r, 401, "invalid_credentials").await;
    let r = srv.post("/api/auth/token/verify", json!({"token": access})).await;
    assert_error(r, 401, "token_not_valid").await;
});

http_test!(password_change_revokes_tokens, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("judy").await;
    let user = srv.auth().store().find_by_login("judy").await.unwrap().unwrap();
    srv.auth().set_password(&user.id, "a brand new password").await.unwrap();
    assert_error(
        srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await,
        401,
        "token_not_valid",
    )
    .await;
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": tokens["refresh"]})).await;
    assert_error(r, 401, "token_not_valid").await;
    srv.sign_in("judy", "a brand new password").await;
});

use portcullis::core::UserStore as _;

http_test!(the_password_policy_names_the_rule_that_failed, |srv: TestServer| async move {
    for (password, rule) in [
        ("short", "password_too_short"),
        ("iloveyou", "password_too_common"),
        ("QWERTYUIOP", "password_too_common"),
        ("ｐａｓｓｗｏｒｄ", "password_too_common"),
        ("gwendolyn-99", "password_too_similar"),
        ("gwen@example.org", "password_too_similar"),
    ] {
        let body = json!({"username": "gwendolyn", "email": "gwen@example.org", "password": password});
        let r = srv.post("/api/auth/register", body).await;
        let error = assert_error(r, 400, "invalid_input").await;
        assert!(
            error["detail"].as_str().unwrap().starts_with(&format!("password: {rule}")),
            "{password}: {error}"
        );
    }
    // Nothing was created; a long passphrase in any script is fine, and 64+ characters too.
    let body = json!({"username": "gwendolyn", "password": "тихий океан и ветер"});
    assert_eq!(srv.post("/api/auth/register", body).await.status(), 201);
    let long = "a very long passphrase that keeps going ".repeat(3);
    let body = json!({"username": "hector", "password": long});
    assert_eq!(srv.post("/api/auth/register", body).await.status(), 201);
    srv.sign_in("hector", &long).await;
});

http_test!(expected_passwords_are_refused_as_too_weak, |srv: TestServer| async move {
    // Not on the shipped list, yet what a guesser tries first: keyboard walks and sequences.
    for password in ["qwertyuiopasdfgh", "zxcvbnmasdfghjkl", "1qaz2wsx3edc4rfv5", "abcdefghijklmnop"] {
        let body = json!({"username": "ivan", "password": password});
        let r = srv.post("/api/auth/register", body).await;
        let error = assert_error(r, 400, "invalid_input").await;
        let detail = error["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("password: password_too_weak: is too easy to guess."),
            "{password}: {detail}"
        );
        assert!(
            detail.len() > "password: password_too_weak: is too easy to guess.".len(),
            "the estimator's advice"
        );
    }
    // A short password needs a score of 3, a long one 2: passphrases stay welcome.
    let body = json!({"username": "ivan", "password": "long enough"});
    let error = assert_error(srv.post("/api/auth/register", body).await, 400, "invalid_input").await;
    assert!(error["detail"].as_str().unwrap().contains("password_too_weak"), "{error}");
    srv.register("ivan", "correct horse battery").await;
    // Changing the password applies the same rule.
    let tokens = srv.sign_in("ivan", "correct horse battery").await;
    let change = json!({"current_password": "correct horse battery", "new_password": "qwertyuiopasdfgh"});
    let r = srv
        .client
        .post(srv.url("/api/auth/password/change"))
        .bearer_auth(tokens["access"].as_str().unwrap())
        .json(&change)
        .send()
        .await
        .unwrap();
    let error = assert_error(r, 400, "invalid_input").await;
    assert!(error["detail"].as_str().unwrap().contains("new_password: password_too_weak"), "{error}");
});

http_test!(
    the_strength_rule_can_be_turned_off,
    |s: &mut auth_server::Settings| s.password_min_strength = 0,
    |srv: TestServer| async move {
        srv.register("judith", "qwertyuiopasdfgh").await;
    }
);
