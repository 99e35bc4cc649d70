//! The audit log over real HTTP, both adapters, both databases: every security-relevant action
//! records its event with the IP address and `User-Agent` of the request that caused it (each
//! request here comes from its own client address behind a trusted proxy, with its own user
//! agent), `GET /api/auth/activity` shows users their own events, and no secret reaches the
//! audit table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::audit::{AuditEvent, AuditKind, AuditQuery};
use portcullis::core::{AuthUser, UserId, UserStore};
use portcullis_tests::reqwest::{Method, RequestBuilder, Response};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

const PASSWORD: &str = "correct horse battery";

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// The client address of request `n` (TEST-NET-3, behind the trusted proxy 127.0.0.1).
fn ip(n: u8) -> String {
    format!("203.0.113.{n}")
}

/// The user agent of request `n`.
fn ua(n: u8) -> String {
    format!("AuditTest/{n}.0 (+https://example.test/agent)")
}

fn trust_proxy(s: &mut auth_server::Settings) {
    s.trusted_proxies = "127.0.0.1".into();
}

/// A request sent by client `n`: its own address and user agent.
fn via(srv: &TestServer, n: u8, method: Method, path: &str) -> RequestBuilder {
    srv.client.request(method, srv.url(path)).header("x-forwarded-for", ip(n)).header("user-agent", ua(n))
}

async fn post(srv: &TestServer, n: u8, path: &str, body: Value) -> Response {
    via(srv, n, Method::POST, path).json(&body).send().await.unwrap()
}

async fn post_bearer(srv: &TestServer, n: u8, path: &str, token: &str, body: Value) -> Response {
    via(srv, n, Method::POST, path).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn register(srv: &TestServer, n: u8, username: &str) -> UserId {
    let email = format!("{username}@example.com");
    let body = json!({"username": username, "email": email, "password": PASSWORD});
    let r = post(srv, n, "/api/auth/register", body).await;
    assert_eq!(r.status(), 201);
    // With email verification on the answer carries no id (it must not tell a taken address
    // from a new one): look the user up.
    let user = srv.auth().store().find_by_login(username).await.unwrap().unwrap();
    user.id()
}

async fn sign_in(srv: &TestServer, n: u8, path: &str, username: &str, password: &str) -> Response {
    post(srv, n, path, json!({"username": username, "password": password})).await
}

async fn mobile_sign_in(srv: &TestServer, n: u8, username: &str) -> Value {
    let r = sign_in(srv, n, "/api/auth/mobile/sign-in", username, PASSWORD).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The first link starting with `prefix` in an email to `to`, waiting (up to 10 s) for the
/// background sender; the account emails of a user go out one after the other.
async fn link_in_mail(srv: &TestServer, to: &str, prefix: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mails = srv.mails();
        let mut to_them = mails.iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)));
        if let Some(link) = to_them.find_map(|m| m.find_link(prefix)) {
            return link;
        }
        assert!(std::time::Instant::now() < deadline, "no email to {to} with a link {prefix}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every stored event of `user` (or, for `None`, of every user), newest first.
async fn events(srv: &TestServer, user: Option<&UserId>) -> Vec<AuditEvent> {
    let mut query = AuditQuery::new().limit(1000);
    if let Some(user) = user {
        query = query.user(user);
    }
    srv.auth().audit_log().list(&query).await.unwrap()
}

fn summary(events: &[AuditEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{} ip={:?} user={:?}", e.kind, e.ip, e.user_id)).collect()
}

/// The one event of `kind` that request `n` caused, with that request's address and user agent.
fn caused_by<'a>(events: &'a [AuditEvent], kind: &str, n: u8) -> &'a AuditEvent {
    let matching: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.kind.as_str() == kind && e.ip.as_deref() == Some(ip(n).as_str()))
        .collect();
    assert_eq!(matching.len(), 1, "one {kind} from request {n} in {:#?}", summary(events));
    let event = matching[0];
    assert_eq!(event.user_agent.as_deref(), Some(ua(n).as_str()), "{kind}: the request's user agent");
    event
}

http_test!(
    sign_ins_sign_outs_and_sessions_are_recorded,
    |s: &mut auth_server::Settings| trust_proxy(s),
    |srv: TestServer| async move {
        let id = register(&srv, 1, "ada").await;
        let phone = mobile_sign_in(&srv, 2, "ada").await;
        let r = sign_in(&srv, 3, "/api/auth/web/sign-in", "ada", PASSWORD).await;
        assert_eq!(r.status(), 200);
        let r = sign_in(&srv, 4, "/api/auth/mobile/sign-in", "ada", "a wrong password").await;
        assert_error(r, 401, "invalid_credentials").await;
        let r = sign_in(&srv, 5, "/api/auth/mobile/sign-in", "no-such-user", "a wrong password").await;
        assert_error(r, 401, "invalid_credentials").await;

        // A rotated refresh token presented again.
        let r = post(&srv, 6, "/api/auth/mobile/token-refresh", json!({"refresh": phone["refresh"]})).await;
        assert_eq!(r.status(), 200);
        let r = post(&srv, 7, "/api/auth/mobile/token-refresh", json!({"refresh": phone["refresh"]})).await;
        assert_error(r, 401, "token_not_valid").await;

        // A session revoked from the list, a mobile sign-out, a sign-out everywhere.
        let laptop = mobile_sign_in(&srv, 8, "ada").await;
        let tablet = mobile_sign_in(&srv, 9, "ada").await;
        let laptop_access = laptop["access"].as_str().unwrap();
        let r =
            via(&srv, 8, Method::GET, "/api/auth/sessions").bearer_auth(laptop_access).send().await.unwrap();
        let sessions: Vec<Value> = r.json().await.unwrap();
        let tablet_session = sessions.iter().find(|s| s["user_agent"] == ua(9).as_str()).expect("tablet");
        let tablet_id = tablet_session["id"].as_str().unwrap().to_owned();
        let r = via(&srv, 10, Method::DELETE, &format!("/api/auth/sessions/{tablet_id}"))
            .bearer_auth(laptop_access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(srv.get_bearer("/api/auth/me", tablet["access"].as_str().unwrap()).await.status(), 401);
        let r = post(&srv, 11, "/api/auth/mobile/sign-out", json!({"refresh": laptop["refresh"]})).await;
        assert_eq!(r.status(), 204);
        let last = mobile_sign_in(&srv, 12, "ada").await;
        let r = post_bearer(&srv, 13, "/api/auth/sign-out-all", last["access"].as_str().unwrap(), json!({}))
            .await;
        assert_eq!(r.status(), 204);

        let all = events(&srv, Some(&id)).await;
        assert!(all.iter().all(|e| e.user_id.as_ref() == Some(&id)));
        caused_by(&all, "registered", 1);
        let mobile = caused_by(&all, "sign_in_succeeded", 2);
        assert_eq!(mobile.detail["flow"], "mobile");
        assert_eq!(mobile.detail["amr"], "pwd");
        assert_eq!(caused_by(&all, "sign_in_succeeded", 3).detail["flow"], "web");
        assert_eq!(caused_by(&all, "sign_in_failed", 4).detail["reason"], "password");
        let reuse = caused_by(&all, "refresh_reuse_detected", 7);
        assert!(reuse.detail["grant_id"].as_str().is_some_and(|g| !g.is_empty()), "{reuse:?}");
        let revoked = caused_by(&all, "session_revoked", 10);
        assert_eq!(revoked.detail["grant_id"], tablet_id.as_str());
        let signed_out = caused_by(&all, "signed_out", 11);
        assert!(signed_out.detail["grant_id"].is_string(), "{signed_out:?}");
        assert_ne!(signed_out.detail["grant_id"], tablet_id.as_str());
        caused_by(&all, "signed_out_everywhere", 13);
        // Reading or refreshing is not a security event.
        assert!(all.iter().all(|e| e.ip.as_deref() != Some(ip(6).as_str())), "{:#?}", summary(&all));
        for kind in ["sign_in_succeeded", "sign_in_failed"] {
            let n = all.iter().filter(|e| e.kind.as_str() == kind).count();
            let expected = if kind == "sign_in_succeeded" { 5 } else { 1 };
            assert_eq!(n, expected, "{kind}: {:#?}", summary(&all));
        }

        // The unknown login's failure has no user, and the typed login is not kept.
        let everyone = events(&srv, None).await;
        let unknown = caused_by(&everyone, "sign_in_failed", 5);
        assert_eq!(unknown.user_id, None);
        assert!(!serde_json::to_string(unknown).unwrap().contains("no-such-user"), "{unknown:?}");
    }
);

http_test!(
    password_and_api_key_changes_are_recorded,
    |s: &mut auth_server::Settings| trust_proxy(s),
    |srv: TestServer| async move {
        let id = register(&srv, 1, "bo").await;
        let tokens = mobile_sign_in(&srv, 2, "bo").await;
        let access = tokens["access"].as_str().unwrap();

        let r = post_bearer(&srv, 3, "/api/auth/api-keys", access, json!({"name": "ci", "scopes": ["read"]}))
            .await;
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        let key_id = created["id"].as_str().unwrap().to_owned();
        let r = via(&srv, 4, Method::DELETE, &format!("/api/auth/api-keys/{key_id}"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);

        let body = json!({"current_password": PASSWORD, "new_password": "a changed password"});
        let r = post_bearer(&srv, 5, "/api/auth/password/change", access, body).await;
        assert_eq!(r.status(), 200);

        let r = post(&srv, 6, "/api/auth/password/reset", json!({"email": "bo@example.com"})).await;
        assert_eq!(r.status(), 202);
        let link =
            link_in_mail(&srv, "bo@example.com", "https://app.example.test/reset-password?token=").await;
        let token = link.split_once("token=").unwrap().1.to_owned();
        let body = json!({"token": token, "new_password": "a reset password"});
        let r = post(&srv, 7, "/api/auth/password/reset/confirm", body).await;
        assert_eq!(r.status(), 204);
        let r = sign_in(&srv, 8, "/api/auth/mobile/sign-in", "bo", "a reset password").await;
        assert_eq!(r.status(), 200);

        let all = events(&srv, Some(&id)).await;
        assert_eq!(caused_by(&all, "api_key_created", 3).detail["key_id"], key_id.as_str());
        assert_eq!(caused_by(&all, "api_key_revoked", 4).detail["key_id"], key_id.as_str());
        // The verification email of the registration went out before the reset's (one queue).
        caused_by(&all, "email_verification_sent", 1);
        caused_by(&all, "password_changed", 5);
        caused_by(&all, "password_reset_requested", 6);
        caused_by(&all, "password_reset", 7);
        // The reset ended every sign-in.
        caused_by(&all, "signed_out_everywhere", 7);
        caused_by(&all, "sign_in_succeeded", 8);
    }
);

/// The code an authenticator app shows at unix time `t`, computed by totp-rs from our URI.
fn code_at(otpauth_uri: &str, t: i64) -> String {
    totp_rs::Totp::from_url(otpauth_uri).unwrap().generate(u64::try_from(t).unwrap()).to_string()
}

http_test!(
    mfa_changes_and_failures_are_recorded,
    |s: &mut auth_server::Settings| trust_proxy(s),
    |srv: TestServer| async move {
        let id = register(&srv, 1, "cy").await;
        let tokens = mobile_sign_in(&srv, 2, "cy").await;
        let access = tokens["access"].as_str().unwrap();
        let setup: Value =
            post_bearer(&srv, 3, "/api/auth/mfa/totp/setup", access, json!({})).await.json().await.unwrap();
        let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
        let r = post_bearer(
            &srv,
            4,
            "/api/auth/mfa/totp/confirm",
            access,
            json!({"code": code_at(&uri, srv.now())}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let confirmed: Value = r.json().await.unwrap();
        let recovery_code = confirmed["recovery_codes"][0].as_str().unwrap().to_owned();
        srv.clock.advance(secs(30));

        let r = sign_in(&srv, 5, "/api/auth/mobile/sign-in", "cy", PASSWORD).await;
        let step: Value = r.json().await.unwrap();
        let mfa_token = step["mfa_token"].as_str().unwrap().to_owned();
        let right = code_at(&uri, srv.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };
        let r = post(&srv, 6, "/api/auth/mfa/verify", json!({"mfa_token": mfa_token, "code": wrong})).await;
        assert_error(r, 401, "invalid_credentials").await;
        let r = post(
            &srv,
            7,
            "/api/auth/mfa/verify",
            json!({"mfa_token": mfa_token, "recovery_code": recovery_code}),
        )
        .await;
        assert_eq!(r.status(), 200);

        let body = json!({"password": PASSWORD, "code": right});
        let r = post_bearer(&srv, 8, "/api/auth/mfa/totp/disable", access, body).await;
        assert_eq!(r.status(), 204);

        let all = events(&srv, Some(&id)).await;
        caused_by(&all, "mfa_enabled", 4);
        assert!(
            all.iter().all(|e| e.ip.as_deref() != Some(ip(5).as_str())),
            "the password step alone is no sign-in"
        );
        assert_eq!(caused_by(&all, "mfa_failed", 6).detail["reason"], "second_factor");
        assert_eq!(caused_by(&all, "recovery_code_used", 7).detail["during"], "sign_in");
        let signed_in = caused_by(&all, "sign_in_succeeded", 7);
        assert_eq!(
            (signed_in.detail["flow"].clone(), signed_in.detail["amr"].clone()),
            (json!("mobile"), json!("rc"))
        );
        caused_by(&all, "mfa_disabled", 8);
        // No code or secret in any event.
        let text = serde_json::to_string(&all).unwrap();
        for secret in [recovery_code.as_str(), &recovery_code.replace('-', ""), &mfa_token, wrong] {
            assert!(!text.contains(secret), "{secret} in the audit log");
        }
    }
);

http_test!(
    reaching_a_limit_records_a_lockout,
    |s: &mut auth_server::Settings| {
        trust_proxy(s);
        s.signin_limit_per_account = 3;
        s.signin_limit_per_account_ip = 2;
        s.signin_limit_per_ip = 2;
    },
    |srv: TestServer| async move {
        let id = register(&srv, 1, "dot").await;
        for n in 2..=4 {
            let r = sign_in(&srv, n, "/api/auth/mobile/sign-in", "dot", "a wrong password").await;
            assert_error(r, 401, "invalid_credentials").await;
        }
        let r = sign_in(&srv, 5, "/api/auth/mobile/sign-in", "dot", PASSWORD).await;
        assert_eq!(r.status(), 429);
        let all = events(&srv, Some(&id)).await;
        for n in 2..=4 {
            caused_by(&all, "sign_in_failed", n);
        }
        // The failure that reached the limit records the lockout (once: refused attempts do not).
        let locked = caused_by(&all, "locked_out", 4);
        assert_eq!(locked.detail["scope"], "account");
        assert_eq!(all.iter().filter(|e| e.kind == AuditKind::LockedOut).count(), 1, "{:#?}", summary(&all));
        assert!(all.iter().all(|e| e.ip.as_deref() != Some(ip(5).as_str())), "{:#?}", summary(&all));

        // One address reaching its limit (with unknown logins): a lockout of the address.
        for login in ["x-one", "x-two"] {
            let r = sign_in(&srv, 9, "/api/auth/mobile/sign-in", login, "a wrong password").await;
            assert_error(r, 401, "invalid_credentials").await;
        }
        let query = AuditQuery::new().kinds(vec![AuditKind::LockedOut]);
        let lockouts = srv.auth().audit_log().list(&query).await.unwrap();
        let by_ip = caused_by(&lockouts, "locked_out", 9);
        assert_eq!(by_ip.detail["scope"], "ip");
        assert_eq!(by_ip.user_id, None);
    }
);

async fn activity(srv: &TestServer, token: &str, query: &str) -> Response {
    srv.client.get(srv.url(&format!("/api/auth/activity{query}"))).bearer_auth(token).send().await.unwrap()
}

async fn activity_events(srv: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let r = activity(srv, token, query).await;
    assert_eq!(r.status(), 200, "{query}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    body["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

http_test!(
    activity_shows_the_callers_own_events_newest_first,
    |s: &mut auth_server::Settings| {
        trust_proxy(s);
        // No verification email at registration: its event would be recorded in the background.
        s.email_verification = "off".into();
    },
    |srv: TestServer| async move {
        let ada = register(&srv, 1, "ada").await;
        srv.clock.advance(secs(10));
        mobile_sign_in(&srv, 2, "ada").await;
        srv.clock.advance(secs(10));
        let r = sign_in(&srv, 3, "/api/auth/mobile/sign-in", "ada", "a wrong password").await;
        assert_eq!(r.status(), 401);
        srv.clock.advance(secs(10));
        let tokens = mobile_sign_in(&srv, 4, "ada").await;
        let access = tokens["access"].as_str().unwrap();
        srv.clock.advance(secs(10));
        let r = post_bearer(&srv, 5, "/api/auth/api-keys", access, json!({"name": "ci", "scopes": ["read"]}))
            .await;
        assert_eq!(r.status(), 201);
        let key: Value = r.json().await.unwrap();
        let key = key["key"].as_str().unwrap().to_owned();
        // Another user's events, newer than all of ada's: a leak would head her list.
        srv.clock.advance(secs(10));
        let bob = register(&srv, 20, "bob").await;
        let bob_tokens = mobile_sign_in(&srv, 21, "bob").await;
        let r = sign_in(&srv, 22, "/api/auth/mobile/sign-in", "bob", "a wrong password").await;
        assert_eq!(r.status(), 401);

        let listed = activity_events(&srv, access, "").await;
        assert_eq!(
            kinds(&listed),
            ["api_key_created", "sign_in_succeeded", "sign_in_failed", "sign_in_succeeded", "registered"],
            "{listed:#?}"
        );
        let ats: Vec<chrono::DateTime<chrono::Utc>> =
            listed.iter().map(|e| e["at"].as_str().unwrap().parse().unwrap()).collect();
        assert!(ats.windows(2).all(|w| w[0] > w[1]), "newest first: {ats:?}");
        let first = &listed[0];
        for field in ["id", "at", "kind", "ip", "user_agent", "detail"] {
            assert!(first.get(field).is_some(), "{field} in {first}");
        }
        assert_eq!(
            (first["ip"].as_str(), first["user_agent"].as_str()),
            (Some(ip(5).as_str()), Some(ua(5).as_str()))
        );
        assert_eq!(listed[1]["detail"]["flow"], "mobile");
        assert!(first.get("user_id").is_none(), "the caller knows who they are: {first}");
        // None of bob's events, whose ids the log has.
        let bobs: Vec<String> = srv
            .auth()
            .audit_log()
            .list(&AuditQuery::new().user(&bob))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(bobs.len(), 3);
        assert!(listed.iter().all(|e| !bobs.iter().any(|b| e["id"] == b.as_str())));
        let bob_events = activity_events(&srv, bob_tokens["access"].as_str().unwrap(), "").await;
        assert_eq!(kinds(&bob_events), ["sign_in_failed", "sign_in_succeeded", "registered"]);
        let ada_ids: Vec<String> = events(&srv, Some(&ada)).await.into_iter().map(|e| e.id).collect();
        let listed_ids: Vec<&str> = listed.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(listed_ids, ada_ids, "every one of ada's events, in the log's order");

        // limit and before page through them.
        let page = activity_events(&srv, access, "?limit=2").await;
        assert_eq!(kinds(&page), ["api_key_created", "sign_in_succeeded"]);
        let before = page[1]["at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let before = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let r = srv
            .client
            .get(srv.url("/api/auth/activity"))
            .query(&[("limit", "2"), ("before", before.as_str())])
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let next: Value = r.json().await.unwrap();
        let next = next["events"].as_array().unwrap().clone();
        assert_eq!(kinds(&next), ["sign_in_failed", "sign_in_succeeded"]);
        assert_eq!(next[0]["id"], listed[2]["id"]);
        let rest = activity_events(
            &srv,
            access,
            &format!("?before={}", next[1]["at"].as_str().unwrap().replace('+', "%2B")),
        )
        .await;
        assert_eq!(kinds(&rest), ["registered"]);
        assert_eq!(activity_events(&srv, access, "?limit=100").await.len(), 5);

        for query in ["?limit=0", "?limit=101", "?limit=many", "?before=yesterday"] {
            assert_error(activity(&srv, access, query).await, 400, "invalid_input").await;
        }
        // API keys cannot read the activity; nor can anyone unauthenticated.
        let r = srv.client.get(srv.url("/api/auth/activity")).header("x-api-key", &key).send().await.unwrap();
        assert_error(r, 403, "permission_denied").await;
        let r = srv.client.get(srv.url("/api/auth/activity")).send().await.unwrap();
        assert_error(r, 401, "not_authenticated").await;
    }
);

http_test!(the_audit_table_holds_no_secret, |srv: TestServer| async move {
    srv.register("eve", PASSWORD).await;
    let wrong_password = "Wrong-Password-Zebra-42";
    let typed_login = "Tr0ub4dor-typed-into-the-login-field";
    let r =
        srv.post("/api/auth/mobile/sign-in", json!({"username": "eve", "password": wrong_password})).await;
    assert_eq!(r.status(), 401);
    let r = srv
        .post("/api/auth/mobile/sign-in", json!({"username": typed_login, "password": "another-Secret-99"}))
        .await;
    assert_eq!(r.status(), 401);
    let pair = srv.sign_in("eve", PASSWORD).await;
    let access = pair["access"].as_str().unwrap().to_owned();
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": pair["refresh"]})).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let r = srv
        .post("/api/auth/token/sign-in", json!({"username": "eve", "password": PASSWORD, "name": "cli"}))
        .await;
    assert_eq!(r.status(), 200);
    let opaque: Value = r.json().await.unwrap();
    let r = srv
        .client
        .post(srv.url("/api/auth/api-keys"))
        .bearer_auth(rotated["access"].as_str().unwrap())
        .json(&json!({"name": "ci", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let api_key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(srv.post("/api/auth/password/reset", json!({"email": "eve@example.com"})).await.status(), 202);
    let link = link_in_mail(&srv, "eve@example.com", "https://app.example.test/reset-password?token=").await;
    let reset_token = link.split_once("token=").unwrap().1.to_owned();
    let link = link_in_mail(&srv, "eve@example.com", "https://app.example.test/verify-email?token=").await;
    let verification_token = link.split_once("token=").unwrap().1.to_owned();
    let new_password = "Brand-New-Password-77";
    let r = srv
        .post("/api/auth/password/reset/confirm", json!({"token": reset_token, "new_password": new_password}))
        .await;
    assert_eq!(r.status(), 204);
    srv.sign_in("eve", new_password).await;

    let dump = srv.database_dump().await;
    let rows: Vec<&str> = dump.lines().filter(|l| l.starts_with("portcullis_audit_events:")).collect();
    let audit = rows.join("\n");
    for kind in ["registered", "sign_in_failed", "sign_in_succeeded", "api_key_created", "password_reset"] {
        assert!(audit.contains(kind), "{kind} is stored: {audit}");
    }
    let jwt_signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_owned();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        wrong_password.to_owned(),
        "another-Secret-99".to_owned(),
        typed_login.to_owned(),
        new_password.to_owned(),
        reset_token.clone(),
        verification_token,
        api_key.clone(),
        api_key[4..].to_owned(),
        opaque["token"].as_str().unwrap().to_owned(),
    ];
    for jwt in [
        &access,
        pair["refresh"].as_str().unwrap(),
        rotated["access"].as_str().unwrap(),
        rotated["refresh"].as_str().unwrap(),
    ] {
        secrets.push(jwt.to_string());
        secrets.push(jwt_signature(jwt));
    }
    let token = opaque["token"].as_str().unwrap();
    secrets.push(token.split_once('_').unwrap().1.to_owned());
    let lower = audit.to_lowercase();
    for secret in &secrets {
        assert!(!lower.contains(&secret.to_lowercase()), "{secret} in the audit table:\n{audit}");
    }
});

http_test!(events_of_an_authenticated_request_name_the_credential_that_acted, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("cred").await;
    let access = tokens["access"].as_str().unwrap();
    // An API key created with a JWT, then revoked with an opaque token.
    let r = srv
        .client
        .post(srv.url("/api/auth/api-keys"))
        .bearer_auth(access)
        .json(&json!({"name": "bot", "scopes": []}))
        .send()
        .await
        .unwrap();
    let key: Value = r.json().await.unwrap();
    let token: Value = srv
        .post("/api/auth/token/sign-in", json!({"username": "cred", "password": "correct horse battery"}))
        .await
        .json()
        .await
        .unwrap();
    let opaque = token["token"].as_str().unwrap();
    let r = srv
        .client
        .delete(srv.url(&format!("/api/auth/api-keys/{}", key["id"].as_str().unwrap())))
        .header("authorization", format!("Token {opaque}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let events = activity_events(&srv, access, "").await;
    let created = events.iter().find(|e| e["kind"] == "api_key_created").unwrap();
    assert_eq!(created["detail"]["credential"], "jwt");
    let sid = jsonwebtoken::dangerous::insecure_decode::<Value>(access).unwrap().claims["sid"].clone();
    assert_eq!(created["detail"]["credential_id"], sid, "the grant that acted");
    let revoked = events.iter().find(|e| e["kind"] == "api_key_revoked").unwrap();
    assert_eq!(revoked["detail"]["credential"], "opaque_token");
    // A sign-in is not an authenticated request: no acting credential.
    let sign_in = events.iter().find(|e| e["kind"] == "sign_in_succeeded").unwrap();
    assert!(sign_in["detail"].get("credential").is_none(), "{sign_in}");
});
