//! MFA over real HTTP, both adapters, both databases: TOTP enrolment with codes computed by an
//! independent implementation (totp-rs, fed our `otpauth://` URI), the MFA step in all four
//! sign-in paths, replayed codes refused, recovery codes single-use and regenerated, the
//! `mfa_token`'s expiry (injected clock) and attempt limit, re-authentication to disable, security
//! events, and no usable secret in the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use portcullis::core::{AuthUser, UserStore};
use portcullis_tests::reqwest::Response;
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

const PASSWORD: &str = "correct horse battery";

/// The code an authenticator app shows at unix time `t`, computed by totp-rs from our URI.
fn code_at(otpauth_uri: &str, t: i64) -> String {
    totp_rs::Totp::from_url(otpauth_uri).unwrap().generate(u64::try_from(t).unwrap()).to_string()
}

/// The `amr` claim of a JWT (payload decoded, signature not checked here).
fn amr_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let claims: Value = portcullis_tests::serde_json::from_slice(&bytes).unwrap();
    claims["amr"].clone()
}

fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

fn cookie(cookies: &[String], name: &str) -> String {
    let header =
        cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("{name}"));
    header.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

/// The kinds of the user's audit events.
async fn audit_kinds(srv: &TestServer, id: &portcullis::core::UserId) -> Vec<String> {
    let query = portcullis::core::audit::AuditQuery::new().user(id);
    let events = srv.auth().audit_log().list(&query).await.unwrap();
    events.into_iter().map(|e| e.kind.as_str().to_owned()).collect()
}

struct Enrolled {
    access: String,
    uri: String,
    secret: String,
    recovery_codes: Vec<String>,
}

async fn post_bearer(srv: &TestServer, path: &str, token: &str, body: Value) -> Response {
    srv.client.post(srv.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

/// Registers `username`, signs in (mobile), enrols TOTP and confirms it; the clock then moves to
/// the next 30-second step so the confirming code is spent.
async fn enrolled(srv: &TestServer, username: &str) -> Enrolled {
    let tokens = srv.user_with_tokens(username).await;
    let access = tokens["access"].as_str().unwrap().to_owned();
    let r = post_bearer(srv, "/api/auth/mfa/totp/setup", &access, json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let setup: Value = r.json().await.unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(secret.len() >= 32, "160 bits in base32: {secret}");
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"), "an SVG QR code");
    let r =
        post_bearer(srv, "/api/auth/mfa/totp/confirm", &access, json!({"code": code_at(&uri, srv.now())}))
            .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let recovery_codes: Vec<String> =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    srv.clock.advance(chrono::Duration::seconds(30));
    Enrolled { access, uri, secret, recovery_codes }
}

/// Password step of a sign-in path: asserts the MFA step's shape and that no credential came.
async fn mfa_step(srv: &TestServer, path: &str, username: &str) -> String {
    let r = srv.post(path, json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(set_cookies(&r).is_empty(), "no cookie before the second factor: {path}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body["expires_in"], 300);
    for credential in ["access", "refresh", "token", "user"] {
        assert!(body.get(credential).is_none(), "no {credential} before the second factor: {body}");
    }
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(srv: &TestServer, mfa_token: &str, factor: Value) -> Response {
    let mut body = json!({"mfa_token": mfa_token});
    body.as_object_mut().unwrap().extend(factor.as_object().unwrap().clone());
    srv.post("/api/auth/mfa/verify", body).await
}

http_test!(enrolment_and_the_mobile_flow, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("mia").await;
    let access = tokens["access"].as_str().unwrap();

    // Everything MFA needs authentication; status starts off.
    assert_error(srv.post("/api/auth/mfa/totp/setup", json!({})).await, 401, "not_authenticated").await;
    let status: Value = srv.get_bearer("/api/auth/mfa", access).await.json().await.unwrap();
    assert_eq!((status["enabled"].clone(), status["pending"].clone()), (json!(false), json!(false)));

    let setup: Value =
        post_bearer(&srv, "/api/auth/mfa/totp/setup", access, json!({})).await.json().await.unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    let status: Value = srv.get_bearer("/api/auth/mfa", access).await.json().await.unwrap();
    assert_eq!((status["enabled"].clone(), status["pending"].clone()), (json!(false), json!(true)));
    // A pending factor does not guard sign-in yet.
    srv.sign_in("mia", PASSWORD).await;

    // Confirm: a wrong code is a 400 and changes nothing; the right one returns 10 codes.
    let wrong = if code_at(uri, srv.now()) == "000000" { "111111" } else { "000000" };
    let r = post_bearer(&srv, "/api/auth/mfa/totp/confirm", access, json!({"code": wrong})).await;
    assert_error(r, 400, "invalid_input").await;
    let r = post_bearer(&srv, "/api/auth/mfa/totp/confirm", access, json!({"code": code_at(uri, srv.now())}))
        .await;
    assert_eq!(r.status(), 200);
    let codes: Value = r.json().await.unwrap();
    let codes = codes["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    let status: Value = srv.get_bearer("/api/auth/mfa", access).await.json().await.unwrap();
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_remaining"], 10);
    assert_eq!(status["methods"], json!(["totp", "recovery_code"]));
    let r = post_bearer(&srv, "/api/auth/mfa/totp/setup", access, json!({})).await;
    assert_error(r, 409, "conflict").await;

    // Mobile sign-in now stops at the MFA step. The code that confirmed enrolment is spent.
    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "mia").await;
    let spent = code_at(uri, srv.now());
    assert_error(verify(&srv, &mfa_token, json!({"code": spent})).await, 401, "invalid_credentials").await;
    srv.clock.advance(chrono::Duration::seconds(30));
    let code = code_at(uri, srv.now());
    let r = verify(&srv, &mfa_token, json!({"code": code})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    let access = pair["access"].as_str().unwrap();
    assert!(pair["refresh"].is_string());
    assert_eq!(amr_of(access), json!(["pwd", "otp"]));
    assert_eq!(amr_of(pair["refresh"].as_str().unwrap()), json!(["pwd", "otp"]));
    assert_eq!(srv.get_bearer("/api/auth/me", access).await.status(), 200);
    // The amr survives a refresh.
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": pair["refresh"]})).await;
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(amr_of(refreshed["access"].as_str().unwrap()), json!(["pwd", "otp"]));

    // The mfa_token is single use; the same code is refused on a new sign-in (replay).
    assert_error(verify(&srv, &mfa_token, json!({"code": code})).await, 401, "token_not_valid").await;
    let again = mfa_step(&srv, "/api/auth/mobile/sign-in", "mia").await;
    assert_error(verify(&srv, &again, json!({"code": code})).await, 401, "invalid_credentials").await;
    // Exactly one of code and recovery_code; malformed bodies are 400s.
    let r = verify(&srv, &again, json!({})).await;
    assert_error(r, 400, "invalid_input").await;
    let r = verify(&srv, &again, json!({"code": "123456", "recovery_code": "abcd-efgh-jkmn"})).await;
    assert_error(r, 400, "invalid_input").await;
    assert_error(verify(&srv, "mfa_forged", json!({"code": "123456"})).await, 401, "token_not_valid").await;
    // A wrong password never reaches the MFA step.
    let r =
        srv.post("/api/auth/mobile/sign-in", json!({"username": "mia", "password": "wrong password!"})).await;
    assert_error(r, 401, "invalid_credentials").await;
});

http_test!(the_mfa_step_in_every_sign_in_path, |srv: TestServer| async move {
    let user = enrolled(&srv, "noa").await;

    // Web: the access token in the body, the refresh token in the cookie, as the web sign-in.
    let mfa_token = mfa_step(&srv, "/api/auth/web/sign-in", "noa").await;
    let r = verify(&srv, &mfa_token, json!({"code": code_at(&user.uri, srv.now())})).await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let refresh = cookie(&cookies, "__Secure-portcullis_refresh");
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh").is_none(), "the web flow keeps the refresh token out of the body");
    assert_eq!(amr_of(body["access"].as_str().unwrap()), json!(["pwd", "otp"]));
    let r = srv
        .client
        .post(srv.url("/api/auth/web/token-refresh"))
        .header("cookie", format!("__Secure-portcullis_refresh={refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the cookie works");

    // Opaque token: the token, recorded with its amr.
    srv.clock.advance(chrono::Duration::seconds(30));
    let r = srv
        .post("/api/auth/token/sign-in", json!({"username": "noa", "password": PASSWORD, "name": "cli"}))
        .await;
    let body: Value = r.json().await.unwrap();
    let mfa_token = body["mfa_token"].as_str().unwrap();
    assert!(body.get("token").is_none());
    let r = verify(&srv, mfa_token, json!({"code": code_at(&user.uri, srv.now())})).await;
    assert_eq!(r.status(), 200);
    let issued: Value = r.json().await.unwrap();
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("pct_"));
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("authorization", format!("Token {token}"))
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 200);
    let sessions: Value = srv.get_bearer("/api/auth/sessions", token).await.json().await.unwrap();
    assert!(sessions.as_array().unwrap().iter().any(|s| s["user_agent"] == "cli"), "named: {sessions}");

    // Cookie session: the session and CSRF cookies and the user.
    srv.clock.advance(chrono::Duration::seconds(30));
    let mfa_token = mfa_step(&srv, "/api/auth/session/sign-in", "noa").await;
    let r = verify(&srv, &mfa_token, json!({"code": code_at(&user.uri, srv.now())})).await;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let session = cookie(&cookies, "__Host-portcullis_session");
    let csrf = cookie(&cookies, "__Host-csrftoken");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "noa");
    assert!(body.get("access").is_none(), "a session flow's token yields a session, never tokens");
    let r = srv
        .client
        .get(srv.url("/api/auth/me"))
        .header("cookie", format!("__Host-portcullis_session={session}; __Host-csrftoken={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
});

http_test!(recovery_codes_are_single_use_and_regenerated, |srv: TestServer| async move {
    let user = enrolled(&srv, "ola").await;
    let first = user.recovery_codes[0].clone();

    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "ola").await;
    // Upper case and without hyphens is the same code.
    let typed = first.replace('-', "").to_uppercase();
    let r = verify(&srv, &mfa_token, json!({"recovery_code": typed})).await;
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    assert_eq!(amr_of(pair["access"].as_str().unwrap()), json!(["pwd", "rc"]));
    let status: Value = srv.get_bearer("/api/auth/mfa", &user.access).await.json().await.unwrap();
    assert_eq!(status["recovery_codes_remaining"], 9);

    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "ola").await;
    let r = verify(&srv, &mfa_token, json!({"recovery_code": first})).await;
    assert_error(r, 401, "invalid_credentials").await;

    // Regenerating needs the password and a current code; it invalidates the old set.
    let code = code_at(&user.uri, srv.now());
    let r = post_bearer(&srv, "/api/auth/mfa/recovery-codes", &user.access, json!({"code": code})).await;
    assert_error(r, 400, "invalid_input").await;
    let body = json!({"password": "not the password", "code": code});
    let r = post_bearer(&srv, "/api/auth/mfa/recovery-codes", &user.access, body).await;
    assert_error(r, 400, "invalid_input").await;
    let body = json!({"password": PASSWORD, "code": code});
    let r = post_bearer(&srv, "/api/auth/mfa/recovery-codes", &user.access, body).await;
    assert_eq!(r.status(), 200);
    let fresh: Value = r.json().await.unwrap();
    let fresh = fresh["recovery_codes"].as_array().unwrap();
    assert_eq!(fresh.len(), 10);
    let r = verify(&srv, &mfa_token, json!({"recovery_code": user.recovery_codes[1]})).await;
    assert_error(r, 401, "invalid_credentials").await;
    let r = verify(&srv, &mfa_token, json!({"recovery_code": fresh[0]})).await;
    assert_eq!(r.status(), 200);

    let id = srv.auth().store().find_by_login("ola").await.unwrap().unwrap().id();
    let kinds = audit_kinds(&srv, &id).await;
    for kind in ["mfa_enabled", "recovery_code_used", "recovery_codes_regenerated"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "recovery_code_used").count(), 2);
});

http_test!(the_mfa_token_expires_and_dies_after_five_wrong_codes, |srv: TestServer| async move {
    let user = enrolled(&srv, "pat").await;

    // Expiry by the injected clock: 5 minutes.
    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "pat").await;
    srv.clock.advance(chrono::Duration::seconds(301));
    let r = verify(&srv, &mfa_token, json!({"code": code_at(&user.uri, srv.now())})).await;
    assert_error(r, 401, "token_not_valid").await;

    // Five wrong codes kill the token: the right code afterwards is refused.
    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "pat").await;
    let right = code_at(&user.uri, srv.now());
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_error(verify(&srv, &mfa_token, json!({"code": wrong})).await, 401, "invalid_credentials")
            .await;
    }
    assert_error(verify(&srv, &mfa_token, json!({"code": right})).await, 401, "token_not_valid").await;
    // A fresh sign-in still works with that (unused) code.
    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "pat").await;
    assert_eq!(verify(&srv, &mfa_token, json!({"code": right})).await.status(), 200);
});

http_test!(disabling_needs_reauthentication_and_revokes_other_sessions, |srv: TestServer| async move {
    let user = enrolled(&srv, "quy").await;
    let other = {
        let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "quy").await;
        let r = verify(&srv, &mfa_token, json!({"code": code_at(&user.uri, srv.now())})).await;
        r.json::<Value>().await.unwrap()
    };
    srv.clock.advance(chrono::Duration::seconds(30));
    let code = code_at(&user.uri, srv.now());

    let r =
        post_bearer(&srv, "/api/auth/mfa/totp/disable", &user.access, json!({"password": PASSWORD})).await;
    assert_error(r, 400, "invalid_input").await;
    let body = json!({"password": "wrong password!", "code": code});
    let r = post_bearer(&srv, "/api/auth/mfa/totp/disable", &user.access, body).await;
    assert_error(r, 400, "invalid_input").await;
    let body = json!({"password": PASSWORD, "code": "12345"});
    let r = post_bearer(&srv, "/api/auth/mfa/totp/disable", &user.access, body).await;
    assert_error(r, 400, "invalid_input").await;
    let status: Value = srv.get_bearer("/api/auth/mfa", &user.access).await.json().await.unwrap();
    assert_eq!(status["enabled"], true, "failed attempts change nothing");

    let body = json!({"password": PASSWORD, "code": code});
    let r = post_bearer(&srv, "/api/auth/mfa/totp/disable", &user.access, body).await;
    assert_eq!(r.status(), 204);
    // The session that disabled MFA survives; the others are revoked (default policy).
    assert_eq!(srv.get_bearer("/api/auth/me", &user.access).await.status(), 200);
    let r = srv.get_bearer("/api/auth/me", other["access"].as_str().unwrap()).await;
    assert_error(r, 401, "token_not_valid").await;
    let r = srv.post("/api/auth/mobile/token-refresh", json!({"refresh": other["refresh"]})).await;
    assert_error(r, 401, "token_not_valid").await;
    // The password alone signs in again; recovery codes are gone.
    let pair = srv.sign_in("quy", PASSWORD).await;
    assert_eq!(amr_of(pair["access"].as_str().unwrap()), json!(["pwd"]));
    let status: Value = srv.get_bearer("/api/auth/mfa", &user.access).await.json().await.unwrap();
    assert_eq!(
        (status["enabled"].clone(), status["recovery_codes_remaining"].clone()),
        (json!(false), json!(0))
    );
    let id = srv.auth().store().find_by_login("quy").await.unwrap().unwrap().id();
    let kinds = audit_kinds(&srv, &id).await;
    assert!(kinds.iter().any(|k| k == "mfa_disabled"), "{kinds:?}");
});

http_test!(api_keys_cannot_manage_mfa, |srv: TestServer| async move {
    let user = enrolled(&srv, "rue").await;
    let body = json!({"name": "ci", "scopes": ["read"]});
    let created: Value =
        post_bearer(&srv, "/api/auth/api-keys", &user.access, body).await.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    for (path, body) in [
        ("/api/auth/mfa/totp/setup", json!({})),
        ("/api/auth/mfa/totp/disable", json!({"password": PASSWORD, "code": code_at(&user.uri, srv.now())})),
        ("/api/auth/mfa/recovery-codes", json!({"password": PASSWORD, "code": "000000"})),
    ] {
        let r = srv.client.post(srv.url(path)).header("x-api-key", key).json(&body).send().await.unwrap();
        assert_error(r, 403, "permission_denied").await;
    }
    let r = srv.client.get(srv.url("/api/auth/mfa")).header("x-api-key", key).send().await.unwrap();
    assert_error(r, 403, "permission_denied").await;
});

http_test!(the_database_holds_no_usable_mfa_secret, |srv: TestServer| async move {
    let user = enrolled(&srv, "sue").await;
    let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "sue").await;
    let dump = srv.database_dump().await.to_lowercase();
    assert!(dump.contains("portcullis_mfa_totp_factors:"), "the factor is stored");
    assert!(dump.contains("portcullis_mfa_challenges:"), "the challenge is stored");
    let raw = base32_decode(&user.secret);
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!dump.contains(&user.secret.to_lowercase()), "no base32 secret at rest");
    assert!(!dump.contains(&hex), "no raw secret at rest");
    for code in &user.recovery_codes {
        assert!(!dump.contains(code) && !dump.contains(&code.replace('-', "")), "no recovery code at rest");
    }
    assert!(!dump.contains(&mfa_token.to_lowercase()), "no mfa_token at rest");
});

/// RFC 4648 base32 (no padding), enough to check the secret's raw bytes.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase()).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

http_test!(a_session_gets_a_new_id_when_mfa_changes, |srv: TestServer| async move {
    srv.register("tia", PASSWORD).await;
    let r = srv.post("/api/auth/session/sign-in", json!({"username": "tia", "password": PASSWORD})).await;
    let cookies = set_cookies(&r);
    let (session, csrf) =
        (cookie(&cookies, "__Host-portcullis_session"), cookie(&cookies, "__Host-csrftoken"));
    let browser = |session: &str, csrf: &str, path: &str, body: Value| {
        srv.client
            .post(srv.url(path))
            .header("cookie", format!("__Host-portcullis_session={session}; __Host-csrftoken={csrf}"))
            .header("x-csrf-token", csrf)
            .json(&body)
    };
    let me = |session: &str| {
        srv.client
            .get(srv.url("/api/auth/me"))
            .header("cookie", format!("__Host-portcullis_session={session}"))
            .send()
    };

    let setup: Value = browser(&session, &csrf, "/api/auth/mfa/totp/setup", json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap();
    let code = code_at(uri, srv.now());
    let r =
        browser(&session, &csrf, "/api/auth/mfa/totp/confirm", json!({"code": code})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let (rotated, new_csrf) =
        (cookie(&cookies, "__Host-portcullis_session"), cookie(&cookies, "__Host-csrftoken"));
    assert_ne!(rotated, session, "a new session id on the privilege change");
    assert_ne!(new_csrf, csrf, "and a new CSRF token");
    assert_error(me(&session).await.unwrap(), 401, "token_not_valid").await;
    assert_eq!(me(&rotated).await.unwrap().status(), 200, "the same session goes on under the new id");

    // Disabling rotates it again.
    srv.clock.advance(chrono::Duration::seconds(30));
    let body = json!({"password": PASSWORD, "code": code_at(uri, srv.now())});
    let r = browser(&rotated, &new_csrf, "/api/auth/mfa/totp/disable", body).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let again = cookie(&set_cookies(&r), "__Host-portcullis_session");
    assert_ne!(again, rotated);
    assert_eq!(me(&again).await.unwrap().status(), 200, "the session that disabled MFA survives");
});

http_test!(a_pending_mfa_step_dies_with_sign_out_all_and_password_change, |srv: TestServer| async move {
    let user = enrolled(&srv, "uma").await;
    let code = code_at(&user.uri, srv.now());
    let pending = mfa_step(&srv, "/api/auth/mobile/sign-in", "uma").await;
    let r = post_bearer(&srv, "/api/auth/sign-out-all", &user.access, json!({})).await;
    assert_eq!(r.status(), 204);
    assert_error(verify(&srv, &pending, json!({"code": code})).await, 401, "token_not_valid").await;

    let pending = mfa_step(&srv, "/api/auth/mobile/sign-in", "uma").await;
    let id = srv.auth().store().find_by_login("uma").await.unwrap().unwrap().id();
    srv.auth().set_password(&id, "a brand new password").await.unwrap();
    assert_error(verify(&srv, &pending, json!({"code": code})).await, 401, "token_not_valid").await;
});

http_test!(
    a_recovery_code_can_sign_the_other_sessions_out,
    |s: &mut portcullis_tests::auth_server_settings::Settings| s.mfa_revoke_on_recovery_code = true,
    |srv: TestServer| async move {
        let user = enrolled(&srv, "val").await;
        let mfa_token = mfa_step(&srv, "/api/auth/mobile/sign-in", "val").await;
        let r = verify(&srv, &mfa_token, json!({"recovery_code": user.recovery_codes[0]})).await;
        assert_eq!(r.status(), 200);
        let fresh: Value = r.json().await.unwrap();
        // The device that lost its authenticator signs in; every other session is revoked.
        assert_error(srv.get_bearer("/api/auth/me", &user.access).await, 401, "token_not_valid").await;
        assert_eq!(srv.get_bearer("/api/auth/me", fresh["access"].as_str().unwrap()).await.status(), 200);
    }
);

http_test!(the_server_refuses_an_mfa_key_that_cannot_open_the_factors, |srv: TestServer| async move {
    enrolled(&srv, "wes").await;
    let backend = srv.backend;
    let (settings, dir) = srv.stop().await;
    let mut other = settings.clone();
    other.mfa_key = Some(auth_server::config::Secret::new(portcullis::mfa::MfaKey::generate().to_base64()));
    let clock = std::sync::Arc::new(portcullis::core::ManualClock::starting_now());
    let error = auth_server::app::start(&other, clock).await.unwrap_err();
    assert!(error.to_string().contains("PORTCULLIS_MFA_KEY"), "{error}");
    // The right key (the generated mfa.key of the keys directory) starts fine.
    let srv = TestServer::start_settings(backend, settings, dir).await;
    assert_eq!(srv.client.get(srv.url("/healthz")).send().await.unwrap().status(), 200);
});
