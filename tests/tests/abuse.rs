//! Abuse protection over real HTTP, both adapters, both databases: failed sign-ins counted per
//! account and per client IP (lockout until the window ends, progressive delay), every sign-in
//! path, the MFA step and re-authentication counted alike, unknown logins counted without
//! revealing that they are unknown, `X-Forwarded-For` believed only from trusted proxies, the
//! password-reset request limits, and counters shared between server processes through the
//! database or Redis (and not through the default in-process store). Time is the server's
//! injected clock: no test sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_server::Settings;
use auth_server::config::Secret;
use portcullis_tests::reqwest::Response;
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{Backend, TestServer, assert_error, http_test};

const PASSWORD: &str = "correct horse battery";
const WRONG: &str = "not the password!";

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A documentation address (TEST-NET-3) standing for client `n` behind the trusted proxy.
fn ip(n: u32) -> String {
    assert!((1..=254).contains(&n));
    format!("203.0.113.{n}")
}

/// Trusts the test client (127.0.0.1) as a reverse proxy, so `X-Forwarded-For` names the client.
fn behind_proxy(s: &mut Settings, per_account: u32, per_ip: u32) {
    s.trusted_proxies = "127.0.0.1".into();
    s.signin_limit_per_account = per_account;
    s.signin_limit_per_ip = per_ip;
}

/// POSTs `body` to `path`, from `client_ip` (`X-Forwarded-For`) when given.
async fn post_from(srv: &TestServer, path: &str, client_ip: Option<&str>, body: Value) -> Response {
    let mut request = srv.client.post(srv.url(path)).json(&body);
    if let Some(client_ip) = client_ip {
        request = request.header("x-forwarded-for", client_ip);
    }
    request.send().await.unwrap()
}

/// A mobile sign-in from `client_ip`.
async fn sign_in_from(srv: &TestServer, client_ip: Option<&str>, username: &str, password: &str) -> Response {
    post_from(srv, "/api/auth/mobile/sign-in", client_ip, json!({"username": username, "password": password}))
        .await
}

/// Asserts a 429 `rate_limited` with the JSON error body and a whole-seconds `Retry-After` (at
/// least 1); returns the `Retry-After`.
async fn rate_limited(response: Response) -> u64 {
    assert_eq!(response.status().as_u16(), 429, "rate limited");
    let retry_after = response
        .headers()
        .get("retry-after")
        .expect("a 429 has Retry-After")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1, "Retry-After is at least 1");
    assert_error(response, 429, "rate_limited").await;
    retry_after
}

async fn invalid_credentials(response: Response) -> Value {
    assert_error(response, 401, "invalid_credentials").await
}

http_test!(
    the_per_account_limit_locks_the_account_until_the_window_ends,
    |s: &mut auth_server::Settings| behind_proxy(s, 5, 4),
    |srv: TestServer| async move {
        srv.register("ana", PASSWORD).await;
        srv.register("bea", PASSWORD).await;
        // Five failures, each from another address: only the account's counter reaches its limit.
        invalid_credentials(sign_in_from(&srv, Some(&ip(1)), "ana", WRONG).await).await;
        srv.clock.advance(secs(100));
        for n in 2..=5 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "ana", WRONG).await).await;
        }
        // Locked: even the right password, from a fresh address, is refused before it is checked.
        let retry_after = rate_limited(sign_in_from(&srv, Some(&ip(6)), "ana", PASSWORD).await).await;
        assert_eq!(retry_after, 800, "the rest of the window started by the first failure");
        rate_limited(sign_in_from(&srv, Some(&ip(7)), "ANA@example.com", PASSWORD).await).await;
        // Another account, even from an address that failed before, is not affected.
        assert_eq!(sign_in_from(&srv, Some(&ip(1)), "bea", PASSWORD).await.status(), 200);
        assert_eq!(sign_in_from(&srv, Some(&ip(8)), "bea", PASSWORD).await.status(), 200);

        srv.clock.advance(secs(799));
        assert_eq!(rate_limited(sign_in_from(&srv, Some(&ip(9)), "ana", PASSWORD).await).await, 1);
        srv.clock.advance(secs(1));
        assert_eq!(sign_in_from(&srv, Some(&ip(9)), "ana", PASSWORD).await.status(), 200, "the window ended");
    }
);

http_test!(
    one_address_is_stopped_before_it_can_lock_anyone_out,
    |s: &mut auth_server::Settings| behind_proxy(s, 5, 3),
    |srv: TestServer| async move {
        for user in ["cal", "dee", "eli"] {
            srv.register(user, PASSWORD).await;
        }
        let attacker = ip(66);
        invalid_credentials(sign_in_from(&srv, Some(&attacker), "cal", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&attacker), "cal", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&attacker), "dee", WRONG).await).await;
        // Three failures from one address: it is blocked, whatever account it tries next.
        let retry_after = rate_limited(sign_in_from(&srv, Some(&attacker), "eli", WRONG).await).await;
        assert_eq!(retry_after, 900);
        rate_limited(sign_in_from(&srv, Some(&attacker), "eli", PASSWORD).await).await;
        rate_limited(sign_in_from(&srv, Some(&attacker), "nobody-at-all", WRONG).await).await;
        // The accounts it targeted are not locked: their owners sign in from elsewhere.
        for user in ["cal", "dee", "eli"] {
            assert_eq!(sign_in_from(&srv, Some(&ip(7)), user, PASSWORD).await.status(), 200, "{user}");
        }
        // The request without X-Forwarded-For comes from the proxy itself: another address.
        assert_eq!(sign_in_from(&srv, None, "cal", PASSWORD).await.status(), 200);
    }
);

http_test!(
    failures_past_ten_wait_twice_as_long_each_time,
    |s: &mut auth_server::Settings| {
        s.signin_limit_per_account = 100;
        s.signin_limit_per_ip = 99;
    },
    |srv: TestServer| async move {
        srv.register("fay", PASSWORD).await;
        for _ in 0..10 {
            invalid_credentials(sign_in_from(&srv, None, "fay", WRONG).await).await;
        }
        // Counts 10, 11, ... wait 1, 2, 4, 8, 16, 32, then 60 (the cap) seconds after the last failure.
        for (count, delay) in [(10, 1), (11, 2), (12, 4), (13, 8), (14, 16), (15, 32), (16, 60), (17, 60)] {
            let retry_after = rate_limited(sign_in_from(&srv, None, "fay", WRONG).await).await;
            assert_eq!(retry_after, u64::try_from(delay).unwrap(), "after {count} failures");
            if delay > 1 {
                // Blocked attempts are not counted and do not restart the delay.
                srv.clock.advance(secs(delay - 1));
                let left = rate_limited(sign_in_from(&srv, None, "fay", PASSWORD).await).await;
                assert_eq!(left, 1, "the right password waits too (after {count})");
                srv.clock.advance(secs(1));
            } else {
                srv.clock.advance(secs(1));
            }
            invalid_credentials(sign_in_from(&srv, None, "fay", WRONG).await).await;
        }
        // 18 failures: wait the minute out, then the right password works.
        assert_eq!(rate_limited(sign_in_from(&srv, None, "fay", PASSWORD).await).await, 60);
        srv.clock.advance(secs(60));
        assert_eq!(sign_in_from(&srv, None, "fay", PASSWORD).await.status(), 200);
    }
);

const SIGN_IN_PATHS: [&str; 4] = [
    "/api/auth/mobile/sign-in",
    "/api/auth/web/sign-in",
    "/api/auth/token/sign-in",
    "/api/auth/session/sign-in",
];

http_test!(
    every_sign_in_path_counts_against_the_same_account,
    |s: &mut auth_server::Settings| behind_proxy(s, 4, 3),
    |srv: TestServer| async move {
        srv.register("gus", PASSWORD).await;
        // One failure per path, each from another address: four on the account.
        for (n, path) in (1..).zip(SIGN_IN_PATHS) {
            let body = json!({"username": "gus", "password": WRONG});
            invalid_credentials(post_from(&srv, path, Some(&ip(n)), body).await).await;
        }
        for (n, path) in (10..).zip(SIGN_IN_PATHS) {
            let body = json!({"username": "gus", "password": PASSWORD});
            let retry_after = rate_limited(post_from(&srv, path, Some(&ip(n)), body).await).await;
            assert_eq!(retry_after, 900, "{path}");
        }
        srv.clock.advance(secs(900));
        for (n, path) in (20..).zip(SIGN_IN_PATHS) {
            let body = json!({"username": "gus", "password": PASSWORD});
            assert_eq!(post_from(&srv, path, Some(&ip(n)), body).await.status(), 200, "{path}");
        }
    }
);

async fn bearer_request(
    srv: &TestServer,
    method: portcullis_tests::reqwest::Method,
    path: &str,
    token: &str,
    client_ip: &str,
    body: Value,
) -> Response {
    srv.client
        .request(method, srv.url(path))
        .bearer_auth(token)
        .header("x-forwarded-for", client_ip)
        .json(&body)
        .send()
        .await
        .unwrap()
}

http_test!(
    wrong_current_passwords_count_like_failed_sign_ins,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2),
    |srv: TestServer| async move {
        use portcullis_tests::reqwest::Method;
        let tokens = srv.user_with_tokens("hal").await;
        let access = tokens["access"].as_str().unwrap();
        let change =
            |current: &str| json!({"current_password": current, "new_password": "a whole new password"});
        let r =
            bearer_request(&srv, Method::POST, "/api/auth/password/change", access, &ip(1), change(WRONG))
                .await;
        assert_error(r, 400, "invalid_input").await;
        let r =
            bearer_request(&srv, Method::DELETE, "/api/auth/me", access, &ip(2), json!({"password": WRONG}))
                .await;
        assert_error(r, 400, "invalid_input").await;
        invalid_credentials(sign_in_from(&srv, Some(&ip(3)), "hal", WRONG).await).await;
        // Three failures on the account: sign-in and every re-authentication are refused.
        rate_limited(sign_in_from(&srv, Some(&ip(4)), "hal", PASSWORD).await).await;
        let r =
            bearer_request(&srv, Method::POST, "/api/auth/password/change", access, &ip(5), change(PASSWORD))
                .await;
        rate_limited(r).await;
        let r = bearer_request(
            &srv,
            Method::DELETE,
            "/api/auth/me",
            access,
            &ip(6),
            json!({"password": PASSWORD}),
        )
        .await;
        rate_limited(r).await;
        // Nothing happened: the account is active with its old password once the window ends.
        assert_eq!(srv.get_bearer("/api/auth/me", access).await.status(), 200);
        srv.clock.advance(secs(900));
        assert_eq!(sign_in_from(&srv, Some(&ip(7)), "hal", PASSWORD).await.status(), 200);
    }
);

/// The code an authenticator app shows at unix time `t`, computed by totp-rs from our URI.
fn code_at(otpauth_uri: &str, t: i64) -> String {
    totp_rs::Totp::from_url(otpauth_uri).unwrap().generate(u64::try_from(t).unwrap()).to_string()
}

http_test!(
    wrong_mfa_codes_count_against_the_account,
    |s: &mut auth_server::Settings| {
        behind_proxy(s, 4, 3);
        s.signin_window = 60;
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("ivy").await;
        let access = tokens["access"].as_str().unwrap();
        let setup: Value = bearer_request(
            &srv,
            portcullis_tests::reqwest::Method::POST,
            "/api/auth/mfa/totp/setup",
            access,
            &ip(1),
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
        let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
        let r = bearer_request(
            &srv,
            portcullis_tests::reqwest::Method::POST,
            "/api/auth/mfa/totp/confirm",
            access,
            &ip(1),
            json!({"code": code_at(&uri, srv.now())}),
        )
        .await;
        assert_eq!(r.status(), 200);
        srv.clock.advance(secs(30));

        // Five MFA steps (the password was right each time: nothing is counted).
        let mut mfa_tokens = Vec::new();
        for n in 10..15 {
            let r = sign_in_from(&srv, Some(&ip(n)), "ivy", PASSWORD).await;
            assert_eq!(r.status(), 200);
            let step: Value = r.json().await.unwrap();
            assert_eq!(step["mfa_required"], true, "{step}");
            mfa_tokens.push(step["mfa_token"].as_str().unwrap().to_owned());
        }
        let right = code_at(&uri, srv.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };
        // One wrong code on each of four tokens, from four addresses: the account's fourth failure.
        for (n, mfa_token) in (20..).zip(&mfa_tokens[..4]) {
            let body = json!({"mfa_token": mfa_token, "code": wrong});
            invalid_credentials(post_from(&srv, "/api/auth/mfa/verify", Some(&ip(n)), body).await).await;
        }
        let body = json!({"mfa_token": mfa_tokens[4], "code": right});
        let retry_after =
            rate_limited(post_from(&srv, "/api/auth/mfa/verify", Some(&ip(30)), body).await).await;
        assert_eq!(retry_after, 60);
        rate_limited(sign_in_from(&srv, Some(&ip(31)), "ivy", PASSWORD).await).await;

        // The window ends: the unused MFA step completes with a current code.
        srv.clock.advance(secs(60));
        let body = json!({"mfa_token": mfa_tokens[4], "code": code_at(&uri, srv.now())});
        let r = post_from(&srv, "/api/auth/mfa/verify", Some(&ip(32)), body).await;
        assert_eq!(r.status(), 200);
        let pair: Value = r.json().await.unwrap();
        assert!(pair["access"].is_string(), "{pair}");
    }
);

http_test!(
    unknown_logins_are_counted_and_look_like_wrong_passwords,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2),
    |srv: TestServer| async move {
        srv.register("jon", PASSWORD).await;
        // The same 401 whether the account exists or not.
        let known = sign_in_from(&srv, Some(&ip(1)), "jon", WRONG).await;
        let unknown = sign_in_from(&srv, Some(&ip(2)), "ghost", WRONG).await;
        assert_eq!(known.headers().get("www-authenticate"), unknown.headers().get("www-authenticate"));
        assert_eq!(invalid_credentials(known).await, invalid_credentials(unknown).await);

        // Per login (case-insensitive), from three addresses.
        invalid_credentials(sign_in_from(&srv, Some(&ip(3)), "Ghost", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&ip(4)), "GHOST", WRONG).await).await;
        let retry_after = rate_limited(sign_in_from(&srv, Some(&ip(5)), "ghost", WRONG).await).await;
        assert_eq!(retry_after, 900);
        // Another unknown login from a fresh address is not affected.
        invalid_credentials(sign_in_from(&srv, Some(&ip(6)), "phantom", WRONG).await).await;

        // Per address: two unknown logins from one address block it, for known accounts too.
        invalid_credentials(sign_in_from(&srv, Some(&ip(7)), "nobody-1", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&ip(7)), "nobody-2", WRONG).await).await;
        rate_limited(sign_in_from(&srv, Some(&ip(7)), "jon", PASSWORD).await).await;
        assert_eq!(sign_in_from(&srv, Some(&ip(8)), "jon", PASSWORD).await.status(), 200);
    }
);

http_test!(
    forwarded_for_is_ignored_without_a_trusted_proxy,
    |s: &mut auth_server::Settings| {
        s.signin_limit_per_account = 5;
        s.signin_limit_per_ip = 3;
    },
    |srv: TestServer| async move {
        for user in ["kim", "lee", "max", "ned"] {
            srv.register(user, PASSWORD).await;
        }
        // Each failure claims another client address; the peer (127.0.0.1) is not trusted, so all
        // three count on the peer.
        for (n, user) in (1..).zip(["kim", "lee", "max"]) {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), user, WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some(&ip(4)), "ned", PASSWORD).await).await;
        rate_limited(sign_in_from(&srv, None, "ned", PASSWORD).await).await;
        // The audit log has the peer's address, not the claimed one.
        let query = portcullis::core::audit::AuditQuery::new()
            .kinds(vec![portcullis::core::audit::AuditKind::SignInFailed]);
        let events = srv.auth().audit_log().list(&query).await.unwrap();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")), "{events:?}");
    }
);

http_test!(
    password_reset_requests_are_limited_per_address_and_per_ip,
    |s: &mut auth_server::Settings| s.trusted_proxies = "127.0.0.1".into(),
    |srv: TestServer| async move {
        srv.register("oda", PASSWORD).await;
        let reset = |email: &str, client_ip: Option<String>| {
            let body = json!({"email": email});
            let srv = &srv;
            async move { post_from(srv, "/api/auth/password/reset", client_ip.as_deref(), body).await }
        };
        // Five requests per address per hour, known or not, from any address.
        for n in 1..=5 {
            assert_eq!(reset("oda@example.com", Some(ip(n))).await.status(), 202);
            assert_eq!(reset("nobody@example.com", Some(ip(n))).await.status(), 202);
        }
        srv.clock.advance(secs(600));
        let retry_after = rate_limited(reset("ODA@example.com", Some(ip(6))).await).await;
        assert_eq!(retry_after, 3000, "the rest of the hour");
        let retry_after = rate_limited(reset("nobody@example.com", Some(ip(6))).await).await;
        assert_eq!(retry_after, 3000, "an unknown address is limited the same way");
        assert_eq!(reset("someone-else@example.com", Some(ip(6))).await.status(), 202);

        srv.clock.advance(secs(3000));
        assert_eq!(reset("oda@example.com", Some(ip(7))).await.status(), 202, "a new hour");
        assert_eq!(reset("nobody@example.com", Some(ip(7))).await.status(), 202);

        // Twenty requests per client address per hour, whatever the addresses asked for.
        for n in 0..20 {
            let r = reset(&format!("user{n}@example.com"), Some(ip(99))).await;
            assert_eq!(r.status(), 202, "request {n}");
        }
        let retry_after = rate_limited(reset("user-new@example.com", Some(ip(99))).await).await;
        assert_eq!(retry_after, 3600);
        assert_eq!(reset("user-new@example.com", Some(ip(100))).await.status(), 202, "another client");
    }
);

http_test!(
    a_429_says_the_same_for_known_and_unknown_accounts,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2),
    |srv: TestServer| async move {
        srv.register("pia", PASSWORD).await;
        for n in 1..=3 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "pia", WRONG).await).await;
            invalid_credentials(sign_in_from(&srv, Some(&ip(n + 10)), "no-such-user", WRONG).await).await;
        }
        let known = sign_in_from(&srv, Some(&ip(20)), "pia", PASSWORD).await;
        let unknown = sign_in_from(&srv, Some(&ip(21)), "no-such-user", PASSWORD).await;
        for response in [&known, &unknown] {
            assert_eq!(response.status(), 429);
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.headers()["retry-after"], "900");
        }
        let known_body: Value = known.json().await.unwrap();
        let unknown_body: Value = unknown.json().await.unwrap();
        assert_eq!(known_body, unknown_body, "nothing tells the accounts apart");
        assert_eq!(known_body["code"], "rate_limited");
        let detail = known_body["detail"].as_str().unwrap();
        assert!(!detail.is_empty());
        assert!(!detail.contains("pia") && !detail.contains("no-such-user"), "{detail}");
        let mut fields: Vec<&String> = known_body.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(fields, ["code", "detail"], "only the error body: {known_body}");
    }
);

// Counters shared between processes: two servers on one database, each with its own clock.

/// `count` distinct random addresses (2001:db8::/32, documentation), so that counters in a Redis
/// shared with other runs never collide.
fn random_ips(count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let id = uuid::Uuid::new_v4();
            let b = id.as_bytes();
            format!(
                "2001:db8:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
                u16::from_be_bytes([b[4], b[5]]),
                u16::from_be_bytes([b[6], b[7]]),
                u16::from_be_bytes([b[8], b[9]]),
                u16::from_be_bytes([b[10], b[11]]),
            )
        })
        .collect()
}

/// Two servers on one database with `store` as their rate-limit store; `None` when the backend
/// is unavailable outside CI.
async fn two_servers(backend: Backend, store: &str) -> Option<(TestServer, TestServer)> {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = TestServer::settings(backend, dir.path()).await?;
    settings.rate_limit_store = Secret::new(store);
    behind_proxy(&mut settings, 5, 4);
    settings.validate().expect("valid settings");
    let a = TestServer::start_settings(backend, settings.clone(), dir).await;
    let b = TestServer::start_settings(backend, settings, tempfile::tempdir().unwrap()).await;
    Some((a, b))
}

/// Five failures on server A; whether server B then refuses the account (`shared`) or not.
async fn failures_on_one_server_seen_by_the_other(backend: Backend, store: &str, shared: bool) {
    let Some((a, b)) = two_servers(backend, store).await else {
        assert_eq!(backend, Backend::Postgres, "SQLite always runs");
        return;
    };
    let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    a.register(&username, PASSWORD).await;
    let ips = random_ips(8);
    for client_ip in &ips[..5] {
        invalid_credentials(sign_in_from(&a, Some(client_ip), &username, WRONG).await).await;
    }
    rate_limited(sign_in_from(&a, Some(&ips[5]), &username, PASSWORD).await).await;
    let on_b = sign_in_from(&b, Some(&ips[6]), &username, PASSWORD).await;
    if shared {
        let retry_after = rate_limited(on_b).await;
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        // And the other way round: B's failures count on A (another account, per IP this time).
        let other = format!("{username}x");
        b.register(&other, PASSWORD).await;
        for _ in 0..4 {
            invalid_credentials(sign_in_from(&b, Some(&ips[7]), &other, WRONG).await).await;
        }
        rate_limited(sign_in_from(&a, Some(&ips[7]), &other, PASSWORD).await).await;
    } else {
        assert_eq!(on_b.status(), 200, "B keeps its own counters");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_database_store_is_shared_by_processes_sqlite() {
    failures_on_one_server_seen_by_the_other(Backend::Sqlite, "database", true).await;
}

#[tokio::test]
async fn the_database_store_is_shared_by_processes_postgres() {
    failures_on_one_server_seen_by_the_other(Backend::Postgres, "database", true).await;
}

/// The Redis URL, or `None` (skipped, loudly; under CI=true it fails).
fn redis_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI is set but PORTCULLIS_TEST_REDIS_URL is not: the Redis tests must run in CI"
            );
            eprintln!("SKIPPED: set PORTCULLIS_TEST_REDIS_URL to run the Redis rate-limit store tests");
            None
        }
    }
}

#[tokio::test]
async fn the_redis_store_is_shared_by_processes_sqlite() {
    let Some(url) = redis_url() else { return };
    failures_on_one_server_seen_by_the_other(Backend::Sqlite, &url, true).await;
}

#[tokio::test]
async fn the_redis_store_is_shared_by_processes_postgres() {
    let Some(url) = redis_url() else { return };
    failures_on_one_server_seen_by_the_other(Backend::Postgres, &url, true).await;
}

#[tokio::test]
async fn the_memory_store_is_per_process_sqlite() {
    failures_on_one_server_seen_by_the_other(Backend::Sqlite, "memory", false).await;
}

#[tokio::test]
async fn the_memory_store_is_per_process_postgres() {
    failures_on_one_server_seen_by_the_other(Backend::Postgres, "memory", false).await;
}

/// A Bearer POST from client `n`.
async fn post_bearer_from(srv: &TestServer, path: &str, access: &str, n: u32, body: Value) -> Response {
    bearer_request(srv, portcullis_tests::reqwest::Method::POST, path, access, &ip(n), body).await
}

http_test!(
    wrong_codes_at_reset_and_at_mfa_disable_count_against_the_account,
    |s: &mut auth_server::Settings| {
        behind_proxy(s, 4, 3);
        s.signin_window = 60;
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("uma").await;
        let access = tokens["access"].as_str().unwrap();
        let setup: Value = post_bearer_from(&srv, "/api/auth/mfa/totp/setup", access, 1, json!({}))
            .await
            .json()
            .await
            .unwrap();
        let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
        let r = post_bearer_from(
            &srv,
            "/api/auth/mfa/totp/confirm",
            access,
            1,
            json!({"code": code_at(&uri, srv.now())}),
        )
        .await;
        assert_eq!(r.status(), 200);
        srv.clock.advance(secs(30));
        let right = code_at(&uri, srv.now());
        let wrong = if right == "000000" { "111111" } else { "000000" };

        // A reset link for uma (the default test settings write emails to files).
        let address = "uma@example.com";
        let r = post_from(&srv, "/api/auth/password/reset", Some(&ip(2)), json!({"email": address})).await;
        assert_eq!(r.status(), 202);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let token = loop {
            let link =
                srv.mails().iter().find_map(|m| m.find_link("https://app.example.test/reset-password"));
            if let Some(link) = link {
                break link.split("token=").nth(1).unwrap().to_owned();
            }
            assert!(std::time::Instant::now() < deadline, "no reset email");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };

        // Two wrong codes at the reset, two wrong codes to disable MFA: the account's fourth failure.
        for n in 10..12 {
            let body = json!({"token": token, "new_password": "quiet-meadow-42", "code": wrong});
            let r = post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(n)), body).await;
            assert_error(r, 400, "invalid_input").await;
        }
        for n in 12..14 {
            let r = post_bearer_from(
                &srv,
                "/api/auth/mfa/totp/disable",
                access,
                n,
                json!({"password": PASSWORD, "code": wrong}),
            )
            .await;
            assert_error(r, 400, "invalid_input").await;
        }
        // Locked: even the right code and link get a 429, and so does the password.
        let body = json!({"token": token, "new_password": "quiet-meadow-42", "code": right});
        rate_limited(post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(20)), body.clone()).await)
            .await;
        rate_limited(sign_in_from(&srv, Some(&ip(21)), "uma", PASSWORD).await).await;

        // After the window the link still works (a refused attempt leaves it usable).
        srv.clock.advance(secs(60));
        let body =
            json!({"token": token, "new_password": "quiet-meadow-42", "code": code_at(&uri, srv.now())});
        let r = post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(22)), body).await;
        assert_eq!(r.status(), 204);
    }
);
