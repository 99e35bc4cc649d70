//! Authorization over real HTTP, both adapters, both databases: the admin API (users and roles)
//! with its escalation rules and audit trail, and the same answer of a permission guard for every
//! credential kind (JWT, opaque token, cookie session, API key) before and right after a role is
//! removed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::{AuthUser, UserId, UserStore, UserUpdate};
use portcullis_tests::reqwest::{Method, RequestBuilder};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

const PASSWORD: &str = "correct horse battery";

/// One credential of a user.
enum Credential {
    Jwt(String),
    Opaque(String),
    Session { session: String, csrf: String },
    ApiKey(String),
}

impl Credential {
    fn name(&self) -> &'static str {
        match self {
            Self::Jwt(_) => "jwt",
            Self::Opaque(_) => "opaque token",
            Self::Session { .. } => "cookie session",
            Self::ApiKey(_) => "api key",
        }
    }

    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Jwt(token) => request.bearer_auth(token),
            Self::Opaque(token) => request.header("authorization", format!("Token {token}")),
            Self::Session { session, csrf } => request
                .header("cookie", format!("__Host-portcullis_session={session}; __Host-csrftoken={csrf}"))
                .header("x-csrf-token", csrf),
            Self::ApiKey(key) => request.header("x-api-key", key),
        }
    }
}

async fn send(
    srv: &TestServer,
    who: &Credential,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = who.apply(srv.client.request(method, srv.url(path)));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn user_id(srv: &TestServer, username: &str) -> UserId {
    srv.server.auth.store().find_by_login(username).await.unwrap().unwrap().id()
}

/// Registers `username` and returns a JWT credential.
async fn jwt_user(srv: &TestServer, username: &str) -> Credential {
    let tokens = srv.user_with_tokens(username).await;
    Credential::Jwt(tokens["access"].as_str().unwrap().to_owned())
}

/// A registered user made superuser through the user store (the way `portcullis` admin
/// commands do), signed in afterwards.
async fn superuser(srv: &TestServer, username: &str) -> Credential {
    srv.register(username, PASSWORD).await;
    let id = user_id(srv, username).await;
    srv.server.auth.store().update_user(&id, UserUpdate::new().superuser(true)).await.unwrap().unwrap();
    let tokens = srv.sign_in(username, PASSWORD).await;
    Credential::Jwt(tokens["access"].as_str().unwrap().to_owned())
}

/// Every credential kind of a registered user; the API key is limited to `scopes`.
async fn every_credential(srv: &TestServer, username: &str, scopes: &[&str]) -> Vec<Credential> {
    let jwt = srv.sign_in(username, PASSWORD).await["access"].as_str().unwrap().to_owned();
    let login = json!({"username": username, "password": PASSWORD});
    let opaque: Value = srv.post("/api/auth/token/sign-in", login.clone()).await.json().await.unwrap();
    let r = srv.client.post(srv.url("/api/auth/session/sign-in")).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = |name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().split_once('=').unwrap().1.to_owned())
            .unwrap()
    };
    let (session, csrf) = (cookie("__Host-portcullis_session"), cookie("__Host-csrftoken"));
    let r = srv
        .client
        .post(srv.url("/api/auth/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "ops", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = r.json().await.unwrap();
    vec![
        Credential::Jwt(jwt),
        Credential::Opaque(opaque["token"].as_str().unwrap().to_owned()),
        Credential::Session { session, csrf },
        Credential::ApiKey(key["key"].as_str().unwrap().to_owned()),
    ]
}

http_test!(admin_api_manages_roles_and_users, |srv: TestServer| async move {
    let root = superuser(&srv, "root").await;
    let alice = jwt_user(&srv, "alice").await;
    let alice_id = user_id(&srv, "alice").await;

    // Roles: created with permissions, names and permissions validated, a taken name refused.
    let (status, role) = send(
        &srv,
        &root,
        Method::POST,
        "/api/auth/admin/roles",
        Some(json!({"name": "editor", "description": "edits articles", "permissions": ["articles:edit"]})),
    )
    .await;
    assert_eq!(status, 201, "{role}");
    assert_eq!(role["permissions"], json!(["articles:edit"]));
    let again = json!({"name": "editor"});
    assert_eq!(send(&srv, &root, Method::POST, "/api/auth/admin/roles", Some(again)).await.0, 409);
    for bad in [
        json!({"name": "Editor"}),
        json!({"name": "x", "permissions": ["nocolon"]}),
        json!({"name": "x", "extra": 1}),
    ] {
        assert_eq!(
            send(&srv, &root, Method::POST, "/api/auth/admin/roles", Some(bad.clone())).await.0,
            400,
            "{bad}"
        );
    }
    let grant = json!({"permission": "articles:delete"});
    let (status, role) =
        send(&srv, &root, Method::POST, "/api/auth/admin/roles/editor/permissions", Some(grant)).await;
    assert_eq!((status, role["permissions"].clone()), (200, json!(["articles:delete", "articles:edit"])));
    let path = "/api/auth/admin/roles/editor/permissions/articles%3Adelete";
    assert_eq!(send(&srv, &root, Method::DELETE, path, None).await.0, 204);
    assert_eq!(send(&srv, &root, Method::DELETE, path, None).await.0, 404, "already taken");
    let (status, roles) = send(&srv, &root, Method::GET, "/api/auth/admin/roles", None).await;
    assert_eq!((status, roles[0]["name"].clone()), (200, json!("editor")));

    // Users: a role assigned, seen as effective roles and permissions.
    let path = format!("/api/auth/admin/users/{alice_id}");
    let (status, view) = send(&srv, &root, Method::PATCH, &path, Some(json!({"roles": ["editor"]}))).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["roles"].clone(), view["assigned_roles"].clone()),
        (json!(["editor"]), json!(["editor"]))
    );
    assert_eq!(view["permissions"], json!(["articles:edit"]));
    assert_eq!(view["username"], "alice");
    assert!(view.get("password_hash").is_none());
    let unknown = send(&srv, &root, Method::PATCH, &path, Some(json!({"roles": ["ghost"]}))).await;
    assert_eq!(unknown.0, 400);
    assert_eq!(send(&srv, &root, Method::PATCH, &path, Some(json!({"username": "x"}))).await.0, 400);
    assert_eq!(send(&srv, &root, Method::GET, "/api/auth/admin/users/no-such-user", None).await.0, 404);

    // The change is audited with its actor: alice sees it in her own activity.
    let (_, activity) = send(&srv, &alice, Method::GET, "/api/auth/activity", None).await;
    let assigned =
        activity["events"].as_array().unwrap().iter().find(|e| e["kind"] == "role_assigned").cloned();
    let assigned = assigned.expect("role_assigned in alice's activity");
    assert_eq!(assigned["detail"]["role"], "editor");
    assert_eq!(assigned["detail"]["actor"], json!(user_id(&srv, "root").await.to_string()));

    // Listing: search and cursor paging.
    jwt_user(&srv, "alina").await;
    let (status, page) = send(&srv, &root, Method::GET, "/api/auth/admin/users?q=ALI&limit=1", None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().expect("a next page").to_owned();
    let next = format!("/api/auth/admin/users?q=ali&limit=1&cursor={cursor}");
    let (_, second) = send(&srv, &root, Method::GET, &next, None).await;
    let mut names = vec![page["results"][0]["username"].clone(), second["results"][0]["username"].clone()];
    names.sort_by_key(|n| n.to_string());
    assert_eq!(names, vec![json!("alice"), json!("alina")]);
    assert_eq!(send(&srv, &root, Method::GET, "/api/auth/admin/users?limit=0", None).await.0, 400);

    // Without `users:manage`: 403 permission_denied; without a credential: 401.
    let r = alice.apply(srv.client.get(srv.url("/api/auth/admin/users"))).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = srv.client.get(srv.url("/api/auth/admin/roles")).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;

    // A user manager who is not a superuser: no flags, no roles beyond their own authority, and
    // no locking themselves out.
    let body = json!({"name": "user-manager", "permissions": ["users:manage"]});
    assert_eq!(send(&srv, &root, Method::POST, "/api/auth/admin/roles", Some(body)).await.0, 201);
    let manager = jwt_user(&srv, "mallory").await;
    let manager_id = user_id(&srv, "mallory").await;
    let assign = json!({"roles": ["user-manager"]});
    assert_eq!(
        send(&srv, &root, Method::PATCH, &format!("/api/auth/admin/users/{manager_id}"), Some(assign))
            .await
            .0,
        200
    );
    assert_eq!(send(&srv, &manager, Method::GET, &path, None).await.0, 200);
    let staff = json!({"is_staff": true});
    assert_eq!(send(&srv, &manager, Method::PATCH, &path, Some(staff)).await.0, 403);
    let none = json!({"roles": []});
    assert_eq!(
        send(&srv, &manager, Method::PATCH, &path, Some(none)).await.0,
        403,
        "editor grants what mallory lacks"
    );
    let own = format!("/api/auth/admin/users/{manager_id}");
    let off = json!({"is_active": false});
    assert_eq!(send(&srv, &manager, Method::PATCH, &own, Some(off)).await.0, 400);
    let root_path = format!("/api/auth/admin/users/{}", user_id(&srv, "root").await);
    let off = json!({"is_active": false});
    assert_eq!(
        send(&srv, &manager, Method::PATCH, &root_path, Some(off)).await.0,
        403,
        "a superuser's account"
    );
    let sign_out_root = format!("{root_path}/sign-out-all");
    assert_eq!(send(&srv, &manager, Method::POST, &sign_out_root, None).await.0, 403);
    let role_body = json!({"name": "sneaky", "permissions": ["articles:edit"]});
    assert_eq!(send(&srv, &manager, Method::POST, "/api/auth/admin/roles", Some(role_body)).await.0, 403);

    // Superuser flags, sign-out-all and deactivation reach alice's credentials.
    let (status, view) = send(&srv, &root, Method::PATCH, &path, Some(json!({"is_staff": true}))).await;
    assert_eq!((status, view["is_staff"].clone()), (200, json!(true)));
    let signed_out = format!("/api/auth/admin/users/{alice_id}/sign-out-all");
    assert_eq!(send(&srv, &root, Method::POST, &signed_out, None).await.0, 204);
    let r = alice.apply(srv.client.get(srv.url("/api/auth/me"))).send().await.unwrap();
    assert_eq!(r.status(), 401, "signed out everywhere by the administrator");
    let alice = Credential::Jwt(srv.sign_in("alice", PASSWORD).await["access"].as_str().unwrap().to_owned());
    let (status, view) = send(&srv, &root, Method::PATCH, &path, Some(json!({"is_active": false}))).await;
    assert_eq!((status, view["is_active"].clone()), (200, json!(false)));
    assert_eq!(send(&srv, &alice, Method::GET, "/api/auth/me", None).await.0, 401);

    // Deleting a role takes it from everyone.
    assert_eq!(send(&srv, &root, Method::DELETE, "/api/auth/admin/roles/user-manager", None).await.0, 204);
    assert_eq!(send(&srv, &root, Method::GET, "/api/auth/admin/roles/user-manager", None).await.0, 404);
    assert_eq!(send(&srv, &manager, Method::GET, &path, None).await.0, 403);
});

http_test!(a_removed_role_stops_every_credential_kind_at_once, |srv: TestServer| async move {
    let root = superuser(&srv, "root").await;
    let body = json!({"name": "user-manager", "permissions": ["users:manage"]});
    assert_eq!(send(&srv, &root, Method::POST, "/api/auth/admin/roles", Some(body)).await.0, 201);
    srv.register("opal", PASSWORD).await;
    let opal = user_id(&srv, "opal").await;
    let path = format!("/api/auth/admin/users/{opal}");
    let assign = json!({"roles": ["user-manager"]});
    assert_eq!(send(&srv, &root, Method::PATCH, &path, Some(assign)).await.0, 200);

    let credentials = every_credential(&srv, "opal", &["users:manage"]).await;
    let narrow = every_credential(&srv, "opal", &["articles:read"]).await.pop().unwrap();
    for credential in &credentials {
        let (status, _) = send(&srv, credential, Method::GET, "/api/auth/admin/users", None).await;
        assert_eq!(status, 200, "{} with the role", credential.name());
    }
    let (status, body) = send(&srv, &narrow, Method::GET, "/api/auth/admin/users", None).await;
    assert_eq!((status, body["code"].clone()), (403, json!("permission_denied")), "a key without the scope");

    let remove = json!({"roles": []});
    assert_eq!(send(&srv, &root, Method::PATCH, &path, Some(remove)).await.0, 200);
    for credential in &credentials {
        let (status, body) = send(&srv, credential, Method::GET, "/api/auth/admin/users", None).await;
        assert_eq!(
            (status, body["code"].clone()),
            (403, json!("permission_denied")),
            "{} without it",
            credential.name()
        );
        // Still authenticated: only the authority went.
        assert_eq!(
            send(&srv, credential, Method::GET, "/api/auth/me", None).await.0,
            200,
            "{}",
            credential.name()
        );
    }
});

http_test!(the_revocation_feed_serves_services_with_the_permission, |srv: TestServer| async move {
    let root = superuser(&srv, "root").await;
    let body = json!({"name": "verifier", "permissions": ["revocations:read"]});
    assert_eq!(send(&srv, &root, Method::POST, "/api/auth/admin/roles", Some(body)).await.0, 201);
    srv.register("svc", PASSWORD).await;
    let svc_id = user_id(&srv, "svc").await;
    let assign = json!({"roles": ["verifier"]});
    let path = format!("/api/auth/admin/users/{svc_id}");
    assert_eq!(send(&srv, &root, Method::PATCH, &path, Some(assign)).await.0, 200);
    // The service reads the feed with an API key limited to it.
    let service = every_credential(&srv, "svc", &["revocations:read"]).await.pop().unwrap();

    // A user with two sessions; one is signed out, then every one.
    let first = srv.user_with_tokens("vera").await;
    let second = srv.sign_in("vera", PASSWORD).await;
    let vera = user_id(&srv, "vera").await;
    let (status, snapshot) = send(&srv, &service, Method::GET, "/api/auth/revocations", None).await;
    assert_eq!(status, 200, "{snapshot}");
    let cursor = snapshot["cursor"].as_i64().unwrap();
    assert!(snapshot["revoked_grants"].is_array() && snapshot["user_not_before"].is_array());

    let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": first["refresh"]})).await;
    assert_eq!(r.status(), 204);
    let (status, feed) =
        send(&srv, &service, Method::GET, &format!("/api/auth/revocations?since={cursor}"), None).await;
    assert_eq!(status, 200, "{feed}");
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{feed}");
    assert_eq!(events[0]["kind"], "grant");
    let next = feed["cursor"].as_i64().unwrap();
    assert!(next > cursor);

    let all = Credential::Jwt(second["access"].as_str().unwrap().to_owned());
    assert_eq!(send(&srv, &all, Method::POST, "/api/auth/sign-out-all", None).await.0, 204);
    let (_, feed) =
        send(&srv, &service, Method::GET, &format!("/api/auth/revocations?since={next}"), None).await;
    let kinds: Vec<&str> =
        feed["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"user"), "{feed}");
    let user_event = feed["events"].as_array().unwrap().iter().find(|e| e["kind"] == "user").unwrap();
    assert_eq!(user_event["user_id"], json!(vera.to_string()));
    let (_, snapshot) = send(&srv, &service, Method::GET, "/api/auth/revocations", None).await;
    let users = snapshot["user_not_before"].as_array().unwrap();
    assert!(users.iter().any(|u| u["user_id"] == json!(vera.to_string())), "{snapshot}");

    // Bad cursors, no permission, no credential.
    for bad in ["since=-1", "since=x"] {
        let (status, _) =
            send(&srv, &service, Method::GET, &format!("/api/auth/revocations?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}");
    }
    let plain = jwt_user(&srv, "plain").await;
    let r = plain.apply(srv.client.get(srv.url("/api/auth/revocations"))).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
    let r = srv.client.get(srv.url("/api/auth/revocations")).send().await.unwrap();
    assert_error(r, 401, "not_authenticated").await;
});
