//! Abuse protection over real HTTP, both adapters, both databases: attempts counted before the
//! credential is checked (a concurrent burst is evaluated at most up to the limit, on every
//! store); consecutive failures per login that only a success resets, with escalating delays and
//! a lockout that spares the user's known devices; per-network counters (IPv6 by /64) and
//! per-(login, network) counters; every sign-in path counted alike; second factors and current
//! passwords counted per user, apart from password failures; unknown logins counted without
//! revealing that they are unknown, and a username's counter apart from its email's;
//! `X-Forwarded-For` believed only from trusted proxies; the password-reset and registration
//! limits; and counters shared between server processes through the database or Redis (and not
//! through the default in-process store). Time is the server's injected clock: no test sleeps.
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

/// The default memory of consecutive failures (30 days) in seconds.
const CONSECUTIVE_WINDOW: u64 = 2_592_000;

/// Trusts the test client (127.0.0.1) as a reverse proxy, so `X-Forwarded-For` names the client,
/// with these sign-in limits.
fn behind_proxy(s: &mut Settings, per_account: u32, per_account_ip: u32, per_ip: u32) {
    s.trusted_proxies = "127.0.0.1".into();
    s.signin_limit_per_account = per_account;
    s.signin_limit_per_account_ip = per_account_ip;
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

/// A mobile sign-in from `client_ip` on a device with this device cookie (`name=value`).
async fn sign_in_on_device(
    srv: &TestServer,
    client_ip: &str,
    device: &str,
    username: &str,
    password: &str,
) -> Response {
    srv.client
        .post(srv.url("/api/auth/mobile/sign-in"))
        .header("x-forwarded-for", client_ip)
        .header("cookie", device)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// The device cookie a completed sign-in set, as `name=value`.
fn device_cookie(response: &Response) -> String {
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-portcullis_device="))
        .expect("a completed sign-in sets the device cookie");
    assert!(cookie.ends_with("; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
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
    consecutive_failures_lock_a_login_for_unknown_devices_until_a_success,
    |s: &mut auth_server::Settings| behind_proxy(s, 5, 2, 4),
    |srv: TestServer| async move {
        srv.register("ana", PASSWORD).await;
        srv.register("bea", PASSWORD).await;
        // Ana's phone signs in once: it is a known device from now on.
        let r = sign_in_from(&srv, Some(&ip(100)), "ana", PASSWORD).await;
        assert_eq!(r.status(), 200);
        let phone = device_cookie(&r);
        // Five failures, each from another address: only the login's consecutive count reaches 5.
        invalid_credentials(sign_in_from(&srv, Some(&ip(1)), "ana", WRONG).await).await;
        srv.clock.advance(secs(100));
        for n in 2..=5 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "ana", WRONG).await).await;
        }
        // Locked for unknown devices: even the right password, from a fresh address, is refused
        // before it is checked, for the rest of the consecutive-failure memory.
        let retry_after = rate_limited(sign_in_from(&srv, Some(&ip(6)), "ana", PASSWORD).await).await;
        assert_eq!(retry_after, CONSECUTIVE_WINDOW - 100);
        srv.clock.advance(secs(3600));
        let retry_after = rate_limited(sign_in_from(&srv, Some(&ip(7)), "ANA", PASSWORD).await).await;
        assert_eq!(retry_after, CONSECUTIVE_WINDOW - 3700, "any spelling of the login: one counter");
        let retry_after =
            rate_limited(sign_in_from(&srv, Some(&ip(19)), "\u{430}n\u{430}", PASSWORD).await).await;
        assert_eq!(retry_after, CONSECUTIVE_WINDOW - 3700, "a lookalike spelling (Cyrillic а) too");
        // A forged cookie, or another user's, is no device of hers.
        let forged = format!("{}x", &phone[..phone.len() - 1]);
        rate_limited(sign_in_on_device(&srv, &ip(8), &forged, "ana", PASSWORD).await).await;
        let r = sign_in_from(&srv, Some(&ip(9)), "bea", PASSWORD).await;
        let beas = device_cookie(&r);
        rate_limited(sign_in_on_device(&srv, &ip(8), &beas, "ana", PASSWORD).await).await;
        // Ana's phone is not locked out, from any address.
        let r = sign_in_on_device(&srv, &ip(8), &phone, "ana", PASSWORD).await;
        assert_eq!(r.status(), 200);
        // That success reset the consecutive count: the lock is lifted for every device.
        assert_eq!(sign_in_from(&srv, Some(&ip(10)), "ana", PASSWORD).await.status(), 200);

        // Locked again; a success with the email (its own counter) lifts the username's lock too.
        for n in 11..=15 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "ana", WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some(&ip(16)), "ana", PASSWORD).await).await;
        assert_eq!(sign_in_from(&srv, Some(&ip(17)), "ana@example.com", PASSWORD).await.status(), 200);
        assert_eq!(sign_in_from(&srv, Some(&ip(18)), "ana", PASSWORD).await.status(), 200);

        // Without a success the lock ends with the memory of the run.
        for n in 21..=25 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "ana", WRONG).await).await;
        }
        let retry_after = rate_limited(sign_in_from(&srv, Some(&ip(26)), "ana", PASSWORD).await).await;
        srv.clock.advance(secs(i64::try_from(retry_after).unwrap()));
        assert_eq!(sign_in_from(&srv, Some(&ip(26)), "ana", PASSWORD).await.status(), 200);
        // Another account was never affected.
        assert_eq!(sign_in_from(&srv, Some(&ip(1)), "bea", PASSWORD).await.status(), 200);
    }
);

http_test!(
    a_username_and_its_email_are_counted_apart,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2, 10),
    |srv: TestServer| async move {
        srv.register("cyd", PASSWORD).await;
        for n in 1..=3 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "cyd@example.com", WRONG).await).await;
        }
        // The email is locked; the username is not, so a lock never tells whose email it is.
        rate_limited(sign_in_from(&srv, Some(&ip(4)), "CYD@example.com", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&ip(5)), "cyd", WRONG).await).await;
        // The same for an address with no account at all.
        for n in 6..=8 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "nobody@example.com", WRONG).await).await;
        }
        let unknown = rate_limited(sign_in_from(&srv, Some(&ip(9)), "nobody@example.com", WRONG).await).await;
        let known = rate_limited(sign_in_from(&srv, Some(&ip(10)), "cyd@example.com", WRONG).await).await;
        assert_eq!(known, unknown);
    }
);

http_test!(
    one_address_is_stopped_before_it_can_lock_anyone_out,
    |s: &mut auth_server::Settings| behind_proxy(s, 5, 2, 3),
    |srv: TestServer| async move {
        for user in ["cal", "dee", "eli"] {
            srv.register(user, PASSWORD).await;
        }
        let attacker = ip(66);
        invalid_credentials(sign_in_from(&srv, Some(&attacker), "cal", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&attacker), "cal", WRONG).await).await;
        // Two failures on one login from one address: that pair is blocked (the address is not yet).
        let retry_after = rate_limited(sign_in_from(&srv, Some(&attacker), "cal", WRONG).await).await;
        assert_eq!(retry_after, 900);
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
    ipv6_clients_count_by_their_64,
    |s: &mut auth_server::Settings| behind_proxy(s, 10, 5, 3),
    |srv: TestServer| async move {
        srv.register("ivo", PASSWORD).await;
        // Three addresses of one /64: one budget.
        for host in ["1", "2:3:4:5", "ffff:ffff:ffff:fffe"] {
            let from = format!("2001:db8:7:8:{host}");
            let from = if host == "1" { "2001:db8:7:8::1".to_owned() } else { from };
            invalid_credentials(sign_in_from(&srv, Some(&from), &format!("guess-{host}"), WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some("2001:db8:7:8:9999::1"), "ivo", PASSWORD).await).await;
        // The neighbouring /64 is another client; an IPv4-mapped address counts as its IPv4 one.
        assert_eq!(sign_in_from(&srv, Some("2001:db8:7:9::1"), "ivo", PASSWORD).await.status(), 200);
        for n in 0..3 {
            let login = format!("v4-guess-{n}");
            invalid_credentials(sign_in_from(&srv, Some(&ip(40)), &login, WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some("::ffff:203.0.113.40"), "ivo", PASSWORD).await).await;
    }
);

http_test!(
    consecutive_failures_wait_twice_as_long_each_time_from_the_tenth,
    |s: &mut auth_server::Settings| behind_proxy(s, 50, 9, 20),
    |srv: TestServer| async move {
        srv.register("fay", PASSWORD).await;
        // Every failure from another address: only the login's consecutive count grows.
        let mut next = 0u32;
        let mut from = || {
            next += 1;
            format!("198.51.100.{next}")
        };
        for _ in 0..10 {
            invalid_credentials(sign_in_from(&srv, Some(&from()), "fay", WRONG).await).await;
        }
        // Counts 10, 11, ... wait 1, 2, 4, ... 512 seconds, then 900 (the cap) after the last failure.
        let delays = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900];
        for (count, delay) in (10..).zip(delays) {
            let retry_after = rate_limited(sign_in_from(&srv, Some(&from()), "fay", WRONG).await).await;
            assert_eq!(retry_after, delay, "after {count} failures");
            if delay > 1 {
                // Refused attempts are not counted and do not restart the delay.
                srv.clock.advance(secs(i64::try_from(delay).unwrap() - 1));
                let left = rate_limited(sign_in_from(&srv, Some(&from()), "fay", PASSWORD).await).await;
                assert_eq!(left, 1, "the right password waits too (after {count})");
                srv.clock.advance(secs(1));
            } else {
                srv.clock.advance(secs(1));
            }
            invalid_credentials(sign_in_from(&srv, Some(&from()), "fay", WRONG).await).await;
        }
        // 22 failures: wait the delay out, then the right password works and resets the count.
        assert_eq!(rate_limited(sign_in_from(&srv, Some(&from()), "fay", PASSWORD).await).await, 900);
        srv.clock.advance(secs(900));
        assert_eq!(sign_in_from(&srv, Some(&from()), "fay", PASSWORD).await.status(), 200);
        invalid_credentials(sign_in_from(&srv, Some(&from()), "fay", WRONG).await).await;
        invalid_credentials(sign_in_from(&srv, Some(&from()), "fay", WRONG).await).await;
    }
);

/// The outcome of 50 concurrent wrong passwords for one account, each from another address,
/// against a limit of 5: `(401s, 429s)`.
async fn burst_of_wrong_passwords(srv: &TestServer, username: &str) -> (usize, usize) {
    let ips = random_ips(50);
    let requests = ips.iter().map(|client_ip| sign_in_from(srv, Some(client_ip), username, WRONG));
    let responses = futures::future::join_all(requests).await;
    let mut outcomes = (0, 0);
    for response in responses {
        match response.status().as_u16() {
            401 => outcomes.0 += 1,
            429 => outcomes.1 += 1,
            other => panic!("unexpected {other}"),
        }
    }
    outcomes
}

http_test!(
    a_burst_of_wrong_passwords_is_evaluated_up_to_the_limit,
    |s: &mut auth_server::Settings| behind_proxy(s, 5, 4, 20),
    |srv: TestServer| async move {
        srv.register("zed", PASSWORD).await;
        // Counted before the password is checked: of 50 at once, exactly 5 are evaluated.
        assert_eq!(burst_of_wrong_passwords(&srv, "zed").await, (5, 45));
        let query = portcullis::core::audit::AuditQuery::new()
            .kinds(vec![portcullis::core::audit::AuditKind::SignInFailed]);
        assert_eq!(srv.auth().audit_log().list(&query).await.unwrap().len(), 5, "five evaluated");
        rate_limited(sign_in_from(&srv, Some(&ip(1)), "zed", PASSWORD).await).await;
    }
);

const SIGN_IN_PATHS: [&str; 4] = [
    "/api/auth/mobile/sign-in",
    "/api/auth/web/sign-in",
    "/api/auth/token/sign-in",
    "/api/auth/session/sign-in",
];

http_test!(
    every_sign_in_path_counts_against_the_same_login,
    |s: &mut auth_server::Settings| behind_proxy(s, 4, 2, 3),
    |srv: TestServer| async move {
        srv.register("gus", PASSWORD).await;
        // One failure per path, each from another address: four on the login.
        for (n, path) in (1..).zip(SIGN_IN_PATHS) {
            let body = json!({"username": "gus", "password": WRONG});
            invalid_credentials(post_from(&srv, path, Some(&ip(n)), body).await).await;
        }
        for (n, path) in (10..).zip(SIGN_IN_PATHS) {
            let body = json!({"username": "gus", "password": PASSWORD});
            let retry_after = rate_limited(post_from(&srv, path, Some(&ip(n)), body).await).await;
            assert_eq!(retry_after, CONSECUTIVE_WINDOW, "{path}");
        }
        srv.clock.advance(secs(i64::try_from(CONSECUTIVE_WINDOW).unwrap()));
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
    wrong_current_passwords_are_limited_per_user_apart_from_sign_in,
    |s: &mut auth_server::Settings| {
        behind_proxy(s, 3, 2, 50);
        // The access token outlives the delays waited below.
        s.access_ttl = 7200;
    },
    |srv: TestServer| async move {
        use portcullis_tests::reqwest::Method;
        let tokens = srv.user_with_tokens("hal").await;
        let access = tokens["access"].as_str().unwrap();
        let change =
            |current: &str| json!({"current_password": current, "new_password": "a whole new password"});
        // Wrong current passwords (change and delete alike): from the 5th on, escalating delays,
        // and refused after 20 for the rest of the memory.
        let mut waited = Vec::new();
        for n in 1..=20u32 {
            let (method, path, body) = if n % 2 == 0 {
                (Method::POST, "/api/auth/password/change", change(WRONG))
            } else {
                (Method::DELETE, "/api/auth/me", json!({"password": WRONG}))
            };
            let r = bearer_request(&srv, method.clone(), path, access, &ip(n), body.clone()).await;
            if r.status() == 429 {
                let retry_after = rate_limited(r).await;
                waited.push(retry_after);
                srv.clock.advance(secs(i64::try_from(retry_after).unwrap()));
                let r = bearer_request(&srv, method, path, access, &ip(n), body).await;
                assert_error(r, 400, "invalid_input").await;
            } else {
                assert_error(r, 400, "invalid_input").await;
            }
        }
        assert_eq!(waited, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900]);
        let r = bearer_request(
            &srv,
            Method::POST,
            "/api/auth/password/change",
            access,
            &ip(30),
            change(PASSWORD),
        )
        .await;
        let retry_after = rate_limited(r).await;
        assert!(retry_after > 2_500_000, "locked for the rest of the memory: {retry_after}");
        // Signing in is another matter: the password still works, and fails count elsewhere.
        assert_eq!(sign_in_from(&srv, Some(&ip(31)), "hal", PASSWORD).await.status(), 200);
        // Nothing changed: the account is active with its old password.
        assert_eq!(srv.get_bearer("/api/auth/me", access).await.status(), 200);
    }
);

/// The code an authenticator app shows at unix time `t`, computed by totp-rs from our URI.
fn code_at(otpauth_uri: &str, t: i64) -> String {
    totp_rs::Totp::from_url(otpauth_uri).unwrap().generate(u64::try_from(t).unwrap()).to_string()
}

/// Enrols TOTP for the signed-in user of `access`; returns the `otpauth://` URI.
async fn enrol_totp(srv: &TestServer, access: &str) -> String {
    use portcullis_tests::reqwest::Method;
    let setup: Value =
        bearer_request(srv, Method::POST, "/api/auth/mfa/totp/setup", access, &ip(1), json!({}))
            .await
            .json()
            .await
            .unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
    let body = json!({"code": code_at(&uri, srv.now())});
    let r = bearer_request(srv, Method::POST, "/api/auth/mfa/totp/confirm", access, &ip(1), body).await;
    assert_eq!(r.status(), 200);
    srv.clock.advance(secs(30));
    uri
}

/// A code other than the right one at the server's current time.
fn wrong_code(uri: &str, now: i64) -> &'static str {
    if code_at(uri, now) == "000000" { "111111" } else { "000000" }
}

http_test!(
    wrong_mfa_codes_count_per_user_and_password_failures_never_block_them,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2, 50),
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("ivy").await;
        let uri = enrol_totp(&srv, tokens["access"].as_str().unwrap()).await;
        // Four MFA steps (the password was right each time).
        let mut mfa_tokens = Vec::new();
        for n in 10..14 {
            let r = sign_in_from(&srv, Some(&ip(n)), "ivy", PASSWORD).await;
            let step: Value = r.json().await.unwrap();
            assert_eq!(step["mfa_required"], true, "{step}");
            mfa_tokens.push(step["mfa_token"].as_str().unwrap().to_owned());
        }
        // The login is then locked by wrong passwords from elsewhere ...
        for n in 20..23 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "ivy", WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some(&ip(23)), "ivy", PASSWORD).await).await;
        // ... which does not block a right second factor.
        let body = json!({"mfa_token": mfa_tokens[0], "code": code_at(&uri, srv.now())});
        assert_eq!(post_from(&srv, "/api/auth/mfa/verify", Some(&ip(24)), body).await.status(), 200);
        srv.clock.advance(secs(30));

        // Ten wrong codes on two steps (five each, their maximum): the 10th delays the next.
        for (n, mfa_token) in (30..).zip(mfa_tokens[1..3].iter().flat_map(|t| std::iter::repeat_n(t, 5))) {
            let body = json!({"mfa_token": mfa_token, "code": wrong_code(&uri, srv.now())});
            invalid_credentials(post_from(&srv, "/api/auth/mfa/verify", Some(&ip(n)), body).await).await;
        }
        let body = json!({"mfa_token": mfa_tokens[3], "code": code_at(&uri, srv.now())});
        let retry_after =
            rate_limited(post_from(&srv, "/api/auth/mfa/verify", Some(&ip(50)), body).await).await;
        assert_eq!(retry_after, 1);
        // The step was left usable: after the delay, a current code completes it.
        srv.clock.advance(secs(1));
        let body = json!({"mfa_token": mfa_tokens[3], "code": code_at(&uri, srv.now())});
        let r = post_from(&srv, "/api/auth/mfa/verify", Some(&ip(51)), body).await;
        assert_eq!(r.status(), 200);
        let pair: Value = r.json().await.unwrap();
        assert!(pair["access"].is_string(), "{pair}");
    }
);

http_test!(
    unknown_logins_are_counted_and_look_like_wrong_passwords,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2, 2),
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
        assert_eq!(retry_after, CONSECUTIVE_WINDOW);
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
        s.signin_limit_per_account_ip = 4;
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
    registrations_are_limited_per_network_and_in_all_before_hashing,
    |s: &mut auth_server::Settings| {
        s.trusted_proxies = "127.0.0.1".into();
        s.register_limit_per_ip = 2;
        s.register_limit_global = 3;
    },
    |srv: TestServer| async move {
        let register = |n: u32, username: &str, password: &str| {
            let body = json!({"username": username, "email": format!("{username}@example.com"), "password": password});
            let srv = &srv;
            async move { post_from(srv, "/api/auth/register", Some(&ip(n)), body).await }
        };
        assert_eq!(register(1, "reg-a", PASSWORD).await.status(), 201);
        // Bad input is refused without counting.
        assert_error(register(1, "reg-weak", "password").await, 400, "invalid_input").await;
        assert_eq!(register(1, "reg-b", PASSWORD).await.status(), 201);
        srv.clock.advance(secs(600));
        assert_eq!(rate_limited(register(1, "reg-c", PASSWORD).await).await, 3000);
        // Another network registers, until the global limit.
        assert_eq!(register(2, "reg-c", PASSWORD).await.status(), 201);
        assert_eq!(rate_limited(register(3, "reg-d", PASSWORD).await).await, 3000);
        // Nothing was created for the refused ones.
        for refused in ["reg-d", "reg-weak"] {
            let found =
                portcullis::core::UserStore::find_by_login(srv.auth().store().as_ref(), refused).await;
            assert!(found.unwrap().is_none(), "{refused}");
        }
        srv.clock.advance(secs(3000));
        assert_eq!(register(3, "reg-d", PASSWORD).await.status(), 201, "a new hour");
    }
);

http_test!(
    a_429_says_the_same_for_known_and_unknown_accounts,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2, 2),
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
            assert_eq!(response.headers()["retry-after"], CONSECUTIVE_WINDOW.to_string().as_str());
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
    behind_proxy(&mut settings, 5, 4, 4);
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
        assert!((1..=CONSECUTIVE_WINDOW).contains(&retry_after), "{retry_after}");
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

/// 50 concurrent wrong passwords against a limit of 5 on one server with `store`: exactly 5 are
/// evaluated.
async fn a_burst_is_evaluated_up_to_the_limit_on(backend: Backend, store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut settings) = TestServer::settings(backend, dir.path()).await else {
        assert_eq!(backend, Backend::Postgres, "SQLite always runs");
        return;
    };
    settings.rate_limit_store = Secret::new(store);
    behind_proxy(&mut settings, 5, 4, 20);
    let srv = TestServer::start_settings(backend, settings, dir).await;
    let username = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    srv.register(&username, PASSWORD).await;
    assert_eq!(burst_of_wrong_passwords(&srv, &username).await, (5, 45));
    srv.stop().await;
}

#[tokio::test]
async fn a_burst_is_evaluated_up_to_the_limit_in_the_database_sqlite() {
    a_burst_is_evaluated_up_to_the_limit_on(Backend::Sqlite, "database").await;
}

#[tokio::test]
async fn a_burst_is_evaluated_up_to_the_limit_in_the_database_postgres() {
    a_burst_is_evaluated_up_to_the_limit_on(Backend::Postgres, "database").await;
}

#[tokio::test]
async fn a_burst_is_evaluated_up_to_the_limit_in_redis() {
    let Some(url) = redis_url() else { return };
    a_burst_is_evaluated_up_to_the_limit_on(Backend::Sqlite, &url).await;
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
    wrong_codes_at_reset_and_at_mfa_disable_count_on_the_second_factor,
    |s: &mut auth_server::Settings| behind_proxy(s, 3, 2, 50),
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("uma").await;
        let access = tokens["access"].as_str().unwrap();
        let uri = enrol_totp(&srv, access).await;

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
        // The login is locked by wrong passwords: a valid link is not.
        for n in 3..6 {
            invalid_credentials(sign_in_from(&srv, Some(&ip(n)), "uma", WRONG).await).await;
        }
        rate_limited(sign_in_from(&srv, Some(&ip(6)), "uma", PASSWORD).await).await;

        // Five wrong codes at the reset, five to disable MFA: the 10th delays the next second
        // factor, whatever it is for.
        let wrong = wrong_code(&uri, srv.now());
        for n in 10..15 {
            let body = json!({"token": token, "new_password": "quiet-meadow-42", "code": wrong});
            let r = post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(n)), body).await;
            assert_error(r, 400, "invalid_input").await;
        }
        for n in 15..20 {
            let body = json!({"password": PASSWORD, "code": wrong});
            let r = post_bearer_from(&srv, "/api/auth/mfa/totp/disable", access, n, body).await;
            assert_error(r, 400, "invalid_input").await;
        }
        let body =
            json!({"token": token, "new_password": "quiet-meadow-42", "code": code_at(&uri, srv.now())});
        let retry_after =
            rate_limited(post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(20)), body).await)
                .await;
        assert_eq!(retry_after, 1);

        // After the delay the link still works (a refused attempt leaves it usable), and the
        // new password signs in: the reset lifted the login's lock.
        srv.clock.advance(secs(1));
        let body =
            json!({"token": token, "new_password": "quiet-meadow-42", "code": code_at(&uri, srv.now())});
        let r = post_from(&srv, "/api/auth/password/reset/confirm", Some(&ip(22)), body).await;
        assert_eq!(r.status(), 204);
        let r = sign_in_from(&srv, Some(&ip(23)), "uma", "quiet-meadow-42").await;
        assert_eq!(r.status(), 200, "the MFA step");
    }
);
