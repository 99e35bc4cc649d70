//! The account lifecycle of issue #7 over real HTTP, both adapters, both databases:
//!
//! - password change with each credential kind: a JWT sign-in continues in a new pair (also the
//!   web flow, with a new refresh cookie), a cookie session or an opaque token survives, an API
//!   key is refused; every other credential of the user is revoked; the current password and the
//!   password policy are checked;
//! - password reset by email: the same 202 for known and unknown addresses, links to the
//!   configured frontend whatever the `Host`, single use, expiry by the injected clock, dead after
//!   a password change, a second factor for users with MFA, only hashes at rest, every credential
//!   revoked, the address verified;
//! - email verification: the link sent at registration, single use, expiry, the mandatory mode on
//!   every sign-in path (after the right password only), resend (the same 202 for every address,
//!   a link only to unverified accounts, rate limited per address);
//! - profile changes: username, refused privileged fields, conflicts, an email change verified
//!   before it applies (or at once with verification off);
//! - account deletion; the endpoints without an email backend; delivery over real SMTP.
//!
//! Emails are read from the file mail backend of the test settings (or from an [`SmtpSink`]); the
//! sender is one background worker in request order, so "nothing was sent to X" is asserted after
//! a later email has arrived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration as StdDuration;

use auth_server::config::Secret;
use base64::Engine as _;
use chrono::Duration;
use portcullis::mail::testing::{ReceivedMail, SmtpSink};
use portcullis_tests::reqwest::{Method, RequestBuilder, Response};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{FRONTEND_URL, TestServer, assert_error, external_smtp, http_test};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";
const OTHER_PASSWORD: &str = "yet another passphrase";

const RESET: &str = "[Portcullis] Reset your password";
const VERIFY: &str = "[Portcullis] Verify your email address";
const PASSWORD_CHANGED: &str = "[Portcullis] Your password was changed";
const EMAIL_CHANGING: &str = "[Portcullis] Your email address is being changed";

/// How long the helpers wait for the background sender.
const MAIL_WAIT: StdDuration = StdDuration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Emails

/// The address `TestServer::register` gives `username`.
fn address(username: &str) -> String {
    format!("{username}@example.com")
}

fn is_for(mail: &ReceivedMail, to: &str) -> bool {
    mail.to.iter().any(|recipient| recipient.eq_ignore_ascii_case(to))
}

/// The emails to `to` so far, oldest first.
fn mails_to(srv: &TestServer, to: &str) -> Vec<ReceivedMail> {
    srv.mails().into_iter().filter(|m| is_for(m, to)).collect()
}

/// The emails to `to` with `subject` so far, oldest first.
fn mails_with(srv: &TestServer, to: &str, subject: &str) -> Vec<ReceivedMail> {
    mails_to(srv, to).into_iter().filter(|m| m.subject().as_deref() == Some(subject)).collect()
}

/// Waits (up to [`MAIL_WAIT`]) until `n` emails with `subject` went to `to`; returns them all.
async fn wait_mails(srv: &TestServer, to: &str, subject: &str, n: usize) -> Vec<ReceivedMail> {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let found = mails_with(srv, to, subject);
        if found.len() >= n {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} `{subject}` emails to {to}, got {}; all mail: {:?}",
            found.len(),
            srv.mails()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// The token of the link to the frontend page `path` in `mail`, checking the link's shape.
fn link_token(mail: &ReceivedMail, path: &str) -> String {
    let prefix = format!("{FRONTEND_URL}{path}?token=");
    let link = mail.find_link(&prefix).unwrap_or_else(|| panic!("no {prefix} link in {}", mail.text()));
    let token = link.strip_prefix(&prefix).unwrap();
    assert_eq!(token.len(), 43, "256 bits, URL-safe base64: {link}");
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{link}");
    token.to_owned()
}

/// Requests a password reset for `email` and returns the token of the link that arrives.
async fn reset_token(srv: &TestServer, email: &str) -> String {
    let before = mails_with(srv, email, RESET).len();
    let r = srv.post("/api/auth/password/reset", json!({"email": email})).await;
    assert_eq!(r.status(), 202);
    let mails = wait_mails(srv, email, RESET, before + 1).await;
    link_token(mails.last().unwrap(), "/reset-password")
}

/// The token of the `n`th verification email to `email` (1-based).
async fn verification_token(srv: &TestServer, email: &str, n: usize) -> String {
    let mails = wait_mails(srv, email, VERIFY, n).await;
    link_token(&mails[n - 1], "/verify-email")
}

async fn confirm_reset(srv: &TestServer, body: Value) -> Response {
    srv.post("/api/auth/password/reset/confirm", body).await
}

async fn verify_email(srv: &TestServer, token: &str) -> Response {
    srv.post("/api/auth/email/verify", json!({"token": token})).await
}

// ---------------------------------------------------------------------------------------------
// Errors and responses

/// Asserts an error with one field error on `field`; returns its message.
async fn assert_field(response: Response, status: u16, code: &str, field: &str) -> String {
    let body = assert_error(response, status, code).await;
    let fields = body["fields"].as_array().unwrap_or_else(|| panic!("fields in {body}"));
    let error = fields.iter().find(|f| f["field"] == field).unwrap_or_else(|| panic!("{field} in {body}"));
    error["message"].as_str().unwrap().to_owned()
}

/// Asserts a 204 with an empty body.
async fn assert_no_content(response: Response) {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 204, "{text}");
    assert!(text.is_empty(), "{text}");
}

/// Asserts the 202 of the reset and resend endpoints; returns the body as text.
async fn assert_accepted(response: Response) -> String {
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    let body: Value = portcullis_tests::serde_json::from_str(&text).unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only a detail: {body}");
    text
}

/// The claims of a JWT (payload decoded; the server checked the signature).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    portcullis_tests::serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Credentials

/// One credential of a user, as a client presents it.
#[derive(Debug, Clone)]
enum Cred {
    /// `Authorization: Bearer <access token>`.
    Jwt(String),
    /// `Authorization: Token <opaque token>`.
    Opaque(String),
    /// `X-API-Key: <key>`.
    ApiKey(String),
    /// The session and CSRF cookies, and the CSRF header (for unsafe methods).
    Session { session: String, csrf: String },
}

impl Cred {
    fn on(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Jwt(token) => request.bearer_auth(token),
            Self::Opaque(token) => request.header("authorization", format!("Token {token}")),
            Self::ApiKey(key) => request.header("x-api-key", key),
            Self::Session { session, csrf } => request
                .header("cookie", format!("__Host-portcullis_session={session}; __Host-csrftoken={csrf}"))
                .header("x-csrf-token", csrf),
        }
    }
}

async fn call(srv: &TestServer, method: Method, path: &str, cred: &Cred, body: Option<Value>) -> Response {
    let mut request = cred.on(srv.client.request(method, srv.url(path)));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn me(srv: &TestServer, cred: &Cred) -> Response {
    call(srv, Method::GET, "/api/auth/me", cred, None).await
}

/// `GET /api/auth/me`, asserting 200.
async fn profile(srv: &TestServer, cred: &Cred) -> Value {
    let r = me(srv, cred).await;
    assert_eq!(r.status(), 200, "{cred:?}");
    r.json().await.unwrap()
}

async fn change_password(srv: &TestServer, cred: &Cred, current: &str, new: &str) -> Response {
    let body = json!({"current_password": current, "new_password": new});
    call(srv, Method::POST, "/api/auth/password/change", cred, Some(body)).await
}

async fn patch_me(srv: &TestServer, cred: &Cred, body: Value) -> Response {
    call(srv, Method::PATCH, "/api/auth/me", cred, Some(body)).await
}

async fn delete_me(srv: &TestServer, cred: &Cred, password: &str) -> Response {
    call(srv, Method::DELETE, "/api/auth/me", cred, Some(json!({"password": password}))).await
}

async fn sign_in_response(srv: &TestServer, path: &str, login: &str, password: &str) -> Response {
    srv.post(path, json!({"username": login, "password": password})).await
}

/// A mobile sign-in: the access token as a credential, and the refresh token.
async fn jwt(srv: &TestServer, login: &str, password: &str) -> (Cred, String) {
    let pair = srv.sign_in(login, password).await;
    (Cred::Jwt(pair["access"].as_str().unwrap().to_owned()), pair["refresh"].as_str().unwrap().to_owned())
}

async fn opaque_token(srv: &TestServer, login: &str, password: &str) -> Cred {
    let r = sign_in_response(srv, "/api/auth/token/sign-in", login, password).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    Cred::Opaque(body["token"].as_str().unwrap().to_owned())
}

fn cookie_value(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().split_once('=').unwrap().1.to_owned())
}

async fn session(srv: &TestServer, login: &str, password: &str) -> Cred {
    let r = sign_in_response(srv, "/api/auth/session/sign-in", login, password).await;
    assert_eq!(r.status(), 200);
    let session = cookie_value(&r, "__Host-portcullis_session").expect("session cookie");
    let csrf = cookie_value(&r, "__Host-csrftoken").expect("CSRF cookie");
    Cred::Session { session, csrf }
}

async fn api_key(srv: &TestServer, owner: &Cred) -> Cred {
    let body = json!({"name": "ci", "scopes": ["notes:read"]});
    let r = call(srv, Method::POST, "/api/auth/api-keys", owner, Some(body)).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    Cred::ApiKey(created["key"].as_str().unwrap().to_owned())
}

/// `POST /api/auth/mobile/token-refresh`.
async fn refresh(srv: &TestServer, refresh: &str) -> Response {
    srv.post("/api/auth/mobile/token-refresh", json!({"refresh": refresh})).await
}

/// One credential of every kind for a registered user.
struct Everything {
    access: Cred,
    refresh: String,
    opaque: Cred,
    session: Cred,
    key: Cred,
}

async fn everything(srv: &TestServer, login: &str, password: &str) -> Everything {
    let (access, refresh) = jwt(srv, login, password).await;
    let key = api_key(srv, &access).await;
    Everything {
        opaque: opaque_token(srv, login, password).await,
        session: session(srv, login, password).await,
        access,
        refresh,
        key,
    }
}

/// Every credential works (the refresh token checked without using it up).
async fn assert_alive(srv: &TestServer, all: &Everything) {
    for cred in [&all.access, &all.opaque, &all.session, &all.key] {
        assert_eq!(me(srv, cred).await.status(), 200, "{cred:?} works");
    }
    let r = srv.post("/api/auth/token/verify", json!({"token": all.refresh})).await;
    assert_eq!(r.status(), 200, "the refresh token is valid");
}

/// A credential is refused: 401 `token_not_valid` (present but no longer valid), whatever its kind.
async fn assert_refused(srv: &TestServer, cred: &Cred) {
    let r = me(srv, cred).await;
    assert_eq!(r.status(), 401, "{cred:?} is refused");
    assert_error(r, 401, "token_not_valid").await;
}

/// A refresh token is refused.
async fn assert_refresh_refused(srv: &TestServer, token: &str) {
    assert_error(refresh(srv, token).await, 401, "token_not_valid").await;
}

/// Every credential is refused.
async fn assert_all_refused(srv: &TestServer, all: &Everything) {
    for cred in [&all.access, &all.opaque, &all.session, &all.key] {
        assert_refused(srv, cred).await;
    }
    assert_refresh_refused(srv, &all.refresh).await;
}

async fn assert_invalid_credentials(srv: &TestServer, login: &str, password: &str) {
    let r = sign_in_response(srv, "/api/auth/mobile/sign-in", login, password).await;
    assert_error(r, 401, "invalid_credentials").await;
}

// ---------------------------------------------------------------------------------------------
// MFA

/// The code an authenticator app shows at unix time `t` (totp-rs, fed our `otpauth://` URI).
fn code_at(otpauth_uri: &str, t: i64) -> String {
    totp_rs::Totp::from_url(otpauth_uri).unwrap().generate(u64::try_from(t).unwrap()).to_string()
}

/// A code that is wrong now and in the neighbouring steps.
fn wrong_code(otpauth_uri: &str, t: i64) -> String {
    let near: Vec<String> = [t - 30, t, t + 30].iter().map(|&at| code_at(otpauth_uri, at)).collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

/// Enrols TOTP for a signed-in user; returns the `otpauth://` URI and the recovery codes. The
/// clock then moves to the next step so the confirming code is spent.
async fn enrol_mfa(srv: &TestServer, cred: &Cred) -> (String, Vec<String>) {
    let r = call(srv, Method::POST, "/api/auth/mfa/totp/setup", cred, Some(json!({}))).await;
    assert_eq!(r.status(), 200);
    let setup: Value = r.json().await.unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
    let code = code_at(&uri, srv.now());
    let r = call(srv, Method::POST, "/api/auth/mfa/totp/confirm", cred, Some(json!({"code": code}))).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned());
    srv.clock.advance(Duration::seconds(30));
    (uri, codes.collect())
}

// ---------------------------------------------------------------------------------------------
// SMTP

/// The SMTP sinks of running tests, by URL: the configure closure starts one, the test body takes
/// it back through the server's settings.
fn smtp_sinks() -> &'static Mutex<HashMap<String, SmtpSink>> {
    static SINKS: OnceLock<Mutex<HashMap<String, SmtpSink>>> = OnceLock::new();
    SINKS.get_or_init(|| Mutex::new(HashMap::new()))
}

// =============================================================================================
// Password change

http_test!(password_change_with_a_jwt_continues_in_a_new_pair, |srv: TestServer| async move {
    srv.register("jane", PASSWORD).await;
    let (access, old_refresh) = jwt(&srv, "jane", PASSWORD).await;
    let others = everything(&srv, "jane", PASSWORD).await;
    let Cred::Jwt(old_access) = &access else { unreachable!() };

    let r = change_password(&srv, &access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], srv.settings.access_ttl);
    let new_access = pair["access"].as_str().unwrap();
    let new_refresh = pair["refresh"].as_str().unwrap();
    assert_ne!(new_access, old_access);
    // The sign-in continues: same authentication methods and time.
    let (old_claims, new_claims) = (claims_of(old_access), claims_of(new_access));
    assert_eq!(new_claims["amr"], old_claims["amr"]);
    assert_eq!(new_claims["auth_time"], old_claims["auth_time"]);

    // The new pair works; the old one does not.
    let new = Cred::Jwt(new_access.to_owned());
    assert_eq!(profile(&srv, &new).await["username"], "jane");
    assert_refused(&srv, &access).await;
    assert_refresh_refused(&srv, &old_refresh).await;
    // Every other credential of the user is revoked.
    assert_all_refused(&srv, &others).await;
    let r = refresh(&srv, new_refresh).await;
    assert_eq!(r.status(), 200, "the new refresh token works");
    assert_eq!(me(&srv, &new).await.status(), 200);

    assert_invalid_credentials(&srv, "jane", PASSWORD).await;
    srv.sign_in("jane", NEW_PASSWORD).await;
    let notice = &wait_mails(&srv, &address("jane"), PASSWORD_CHANGED, 1).await[0];
    assert!(!notice.text().contains(NEW_PASSWORD));
});

http_test!(password_change_with_a_cookie_session_keeps_it, |srv: TestServer| async move {
    srv.register("sam", PASSWORD).await;
    let browser = session(&srv, "sam", PASSWORD).await;
    let others = everything(&srv, "sam", PASSWORD).await;

    // Without the CSRF header the cookie cannot change anything.
    let Cred::Session { session: id, csrf } = &browser else { unreachable!() };
    let r = srv
        .client
        .post(srv.url("/api/auth/password/change"))
        .header("cookie", format!("__Host-portcullis_session={id}; __Host-csrftoken={csrf}"))
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "permission_denied").await;
    assert_alive(&srv, &others).await;

    let r = change_password(&srv, &browser, PASSWORD, NEW_PASSWORD).await;
    // The session that asked survives, under a new id (set with the answer): the old id is dead.
    let renewed = Cred::Session {
        session: cookie_value(&r, "__Host-portcullis_session").expect("a new session cookie"),
        csrf: cookie_value(&r, "__Host-csrftoken").expect("a new CSRF cookie"),
    };
    assert_no_content(r).await;
    assert_eq!(me(&srv, &browser).await.status(), 401, "the old session id");
    assert_eq!(profile(&srv, &renewed).await["username"], "sam", "the session that asked survives");
    assert_all_refused(&srv, &others).await;
    assert_eq!(me(&srv, &renewed).await.status(), 200);
    assert_invalid_credentials(&srv, "sam", PASSWORD).await;
    srv.sign_in("sam", NEW_PASSWORD).await;
});

http_test!(password_change_with_an_opaque_token_keeps_it, |srv: TestServer| async move {
    srv.register("otis", PASSWORD).await;
    let token = opaque_token(&srv, "otis", PASSWORD).await;
    let others = everything(&srv, "otis", PASSWORD).await;

    assert_no_content(change_password(&srv, &token, PASSWORD, NEW_PASSWORD).await).await;
    assert_eq!(profile(&srv, &token).await["username"], "otis", "the token that asked survives");
    assert_all_refused(&srv, &others).await;
    assert_eq!(me(&srv, &token).await.status(), 200);
    assert_invalid_credentials(&srv, "otis", PASSWORD).await;
    srv.sign_in("otis", NEW_PASSWORD).await;
});

http_test!(password_change_needs_the_current_password, |srv: TestServer| async move {
    srv.register("cora", PASSWORD).await;
    let all = everything(&srv, "cora", PASSWORD).await;

    for cred in [&all.access, &all.opaque, &all.session] {
        let r = change_password(&srv, cred, "not the password", NEW_PASSWORD).await;
        assert_field(r, 400, "invalid_input", "current_password").await;
    }
    // Nothing changed.
    assert_alive(&srv, &all).await;
    assert_invalid_credentials(&srv, "cora", NEW_PASSWORD).await;
    srv.sign_in("cora", PASSWORD).await;
});

http_test!(password_change_applies_the_password_policy, |srv: TestServer| async move {
    srv.register("margaret", PASSWORD).await;
    let all = everything(&srv, "margaret", PASSWORD).await;

    for (new, rule) in [
        ("short", "password_too_short"),
        ("iloveyou", "password_too_common"),
        ("margaret2024!", "password_too_similar"),
    ] {
        let r = change_password(&srv, &all.access, PASSWORD, new).await;
        let message = assert_field(r, 400, "invalid_input", "new_password").await;
        assert!(message.starts_with(rule), "{rule}: {message}");
        assert_invalid_credentials(&srv, "margaret", new).await;
    }
    // Nothing changed: every credential works, the old password too.
    assert_alive(&srv, &all).await;
    srv.sign_in("margaret", PASSWORD).await;
});

http_test!(password_change_with_an_api_key_is_forbidden, |srv: TestServer| async move {
    srv.register("kurt", PASSWORD).await;
    let all = everything(&srv, "kurt", PASSWORD).await;

    let r = change_password(&srv, &all.key, PASSWORD, NEW_PASSWORD).await;
    assert_error(r, 403, "permission_denied").await;
    assert_alive(&srv, &all).await;
    assert_invalid_credentials(&srv, "kurt", NEW_PASSWORD).await;
    srv.sign_in("kurt", PASSWORD).await;
});

http_test!(web_password_change_sets_a_new_refresh_cookie, |srv: TestServer| async move {
    srv.register("wes", PASSWORD).await;
    let r = sign_in_response(&srv, "/api/auth/web/sign-in", "wes", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let old_cookie = cookie_value(&r, "__Secure-portcullis_refresh").expect("refresh cookie");
    let body: Value = r.json().await.unwrap();
    let access = Cred::Jwt(body["access"].as_str().unwrap().to_owned());
    let (mobile, mobile_refresh) = jwt(&srv, "wes", PASSWORD).await;

    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let r = call(&srv, Method::POST, "/api/auth/web/password/change", &access, Some(body)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let new_cookie = cookie_value(&r, "__Secure-portcullis_refresh").expect("a new refresh cookie");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/api/auth/web"] {
        assert!(set_cookie.split("; ").any(|a| a == attribute), "{attribute} in {set_cookie}");
    }
    assert_ne!(new_cookie, old_cookie);
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh").is_none(), "the refresh token stays out of the body: {body}");
    assert_eq!(body["token_type"], "Bearer");
    let new_access = Cred::Jwt(body["access"].as_str().unwrap().to_owned());
    assert_eq!(me(&srv, &new_access).await.status(), 200);
    assert_refused(&srv, &access).await;

    let web_refresh = |cookie: String| {
        srv.client
            .post(srv.url("/api/auth/web/token-refresh"))
            .header("cookie", format!("__Secure-portcullis_refresh={cookie}"))
            .send()
    };
    assert_error(web_refresh(old_cookie).await.unwrap(), 401, "token_not_valid").await;
    let r = web_refresh(new_cookie).await.unwrap();
    assert_eq!(r.status(), 200, "the new cookie works");
    let body: Value = r.json().await.unwrap();
    assert_eq!(me(&srv, &Cred::Jwt(body["access"].as_str().unwrap().to_owned())).await.status(), 200);
    // The other sign-in is over.
    assert_refused(&srv, &mobile).await;
    assert_refresh_refused(&srv, &mobile_refresh).await;
});

// =============================================================================================
// Password reset

http_test!(password_reset_answers_alike_and_links_to_the_frontend, |srv: TestServer| async move {
    srv.register("ray", PASSWORD).await;
    srv.register("stan", PASSWORD).await;
    let reset = |email: &str| {
        srv.client
            .post(srv.url("/api/auth/password/reset"))
            .header("host", "evil.example")
            .json(&json!({"email": email}))
            .send()
    };
    // The unknown address first: the worker handles requests in order.
    let unknown = assert_accepted(reset("nobody@example.com").await.unwrap()).await;
    let known = assert_accepted(reset("RAY@Example.com").await.unwrap()).await;
    assert_eq!(unknown, known, "the same answer for known and unknown addresses");

    let mail = &wait_mails(&srv, &address("ray"), RESET, 1).await[0];
    assert_eq!(mail.to, [address("ray")], "to the account's address");
    link_token(mail, "/reset-password");
    let link = mail.find_link("https://").unwrap();
    assert!(link.starts_with(&format!("{FRONTEND_URL}/reset-password?token=")), "{link}");
    assert!(!mail.raw.contains("evil.example"), "never the request's Host: {}", mail.raw);
    assert!(mails_to(&srv, "nobody@example.com").is_empty(), "nothing for an unknown address");
    assert!(mails_with(&srv, &address("stan"), RESET).is_empty());

    // An invalid address is a 400 naming the field.
    let r = srv.post("/api/auth/password/reset", json!({"email": "not an address"})).await;
    assert_field(r, 400, "invalid_input", "email").await;
    let r = srv.post("/api/auth/password/reset", json!({})).await;
    assert_error(r, 400, "invalid_input").await;
});

http_test!(password_reset_replaces_the_password_and_revokes_everything, |srv: TestServer| async move {
    srv.register("rose", PASSWORD).await;
    let all = everything(&srv, "rose", PASSWORD).await;
    assert_eq!(profile(&srv, &all.access).await["email_verified"], false);
    let token = reset_token(&srv, &address("rose")).await;
    assert_alive(&srv, &all).await;

    // A password the policy refuses leaves the link usable.
    let r = confirm_reset(&srv, json!({"token": token, "new_password": "iloveyou"})).await;
    let message = assert_field(r, 400, "invalid_input", "new_password").await;
    assert!(message.starts_with("password_too_common"), "{message}");
    assert_alive(&srv, &all).await;

    assert_no_content(confirm_reset(&srv, json!({"token": token, "new_password": NEW_PASSWORD})).await).await;
    assert_all_refused(&srv, &all).await;
    assert_invalid_credentials(&srv, "rose", PASSWORD).await;
    let (access, _) = jwt(&srv, "rose", NEW_PASSWORD).await;
    assert_eq!(profile(&srv, &access).await["email_verified"], true, "the link reached the address");

    // Single use.
    let r = confirm_reset(&srv, json!({"token": token, "new_password": OTHER_PASSWORD})).await;
    assert_field(r, 400, "invalid_input", "token").await;
    let r = confirm_reset(&srv, json!({"token": "A".repeat(43), "new_password": OTHER_PASSWORD})).await;
    assert_field(r, 400, "invalid_input", "token").await;
    assert_invalid_credentials(&srv, "rose", OTHER_PASSWORD).await;
    assert_eq!(me(&srv, &access).await.status(), 200);
    wait_mails(&srv, &address("rose"), PASSWORD_CHANGED, 1).await;
});

http_test!(reset_links_expire_after_an_hour, |srv: TestServer| async move {
    srv.register("eli", PASSWORD).await;
    let expired = reset_token(&srv, &address("eli")).await;
    srv.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let r = confirm_reset(&srv, json!({"token": expired, "new_password": NEW_PASSWORD})).await;
    assert_field(r, 400, "invalid_input", "token").await;
    assert_invalid_credentials(&srv, "eli", NEW_PASSWORD).await;

    // A link used within the hour works.
    let fresh = reset_token(&srv, &address("eli")).await;
    srv.clock.advance(Duration::minutes(59));
    assert_no_content(confirm_reset(&srv, json!({"token": fresh, "new_password": NEW_PASSWORD})).await).await;
    srv.sign_in("eli", NEW_PASSWORD).await;
});

http_test!(reset_links_die_with_a_password_change, |srv: TestServer| async move {
    srv.register("pete", PASSWORD).await;
    let token = reset_token(&srv, &address("pete")).await;
    let (access, _) = jwt(&srv, "pete", PASSWORD).await;
    assert_eq!(change_password(&srv, &access, PASSWORD, NEW_PASSWORD).await.status(), 200);

    let r = confirm_reset(&srv, json!({"token": token, "new_password": OTHER_PASSWORD})).await;
    assert_field(r, 400, "invalid_input", "token").await;
    assert_invalid_credentials(&srv, "pete", OTHER_PASSWORD).await;
    srv.sign_in("pete", NEW_PASSWORD).await;
});

http_test!(account_tokens_are_stored_only_hashed, |srv: TestServer| async move {
    srv.register("hugo", PASSWORD).await;
    let verification = verification_token(&srv, &address("hugo"), 1).await;
    let reset = reset_token(&srv, &address("hugo")).await;

    let dump = srv.database_dump().await;
    for token in [&verification, &reset] {
        assert!(!dump.contains(token.as_str()), "a raw token at rest");
        let hash = portcullis::core::account_tokens::hash_account_token(token);
        assert!(dump.contains(&hash), "its hash is stored: {hash}");
    }
});

http_test!(password_reset_with_mfa_needs_a_second_factor, |srv: TestServer| async move {
    srv.register("mira", PASSWORD).await;
    let (access, _) = jwt(&srv, "mira", PASSWORD).await;
    let (uri, recovery_codes) = enrol_mfa(&srv, &access).await;
    let token = reset_token(&srv, &address("mira")).await;

    let r = confirm_reset(&srv, json!({"token": token, "new_password": NEW_PASSWORD})).await;
    assert_field(r, 400, "invalid_input", "code").await;
    let wrong = wrong_code(&uri, srv.now());
    let body = json!({"token": token, "new_password": NEW_PASSWORD, "code": wrong});
    assert_field(confirm_reset(&srv, body).await, 400, "invalid_input", "code").await;
    assert_invalid_credentials(&srv, "mira", NEW_PASSWORD).await;
    assert_eq!(me(&srv, &access).await.status(), 200, "nothing changed yet");

    // The link still works, with a right code.
    let body = json!({"token": token, "new_password": NEW_PASSWORD, "code": code_at(&uri, srv.now())});
    assert_no_content(confirm_reset(&srv, body).await).await;
    assert_refused(&srv, &access).await;
    // MFA stays on: the new password leads to the MFA step.
    let r = sign_in_response(&srv, "/api/auth/mobile/sign-in", "mira", NEW_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let step: Value = r.json().await.unwrap();
    assert_eq!(step["mfa_required"], true, "{step}");

    // A recovery code does as well as a code.
    let token = reset_token(&srv, &address("mira")).await;
    let body = json!({"token": token, "new_password": OTHER_PASSWORD, "recovery_code": recovery_codes[0]});
    assert_no_content(confirm_reset(&srv, body).await).await;
    assert_invalid_credentials(&srv, "mira", NEW_PASSWORD).await;
});

// =============================================================================================
// Email verification

http_test!(registration_sends_a_verification_link, |srv: TestServer| async move {
    srv.register("vic", PASSWORD).await;
    let mail = &wait_mails(&srv, &address("vic"), VERIFY, 1).await[0];
    assert_eq!(mail.to, [address("vic")]);
    let token = link_token(mail, "/verify-email");
    let (access, _) = jwt(&srv, "vic", PASSWORD).await;
    assert_eq!(profile(&srv, &access).await["email_verified"], false);

    assert_field(verify_email(&srv, &"B".repeat(43)).await, 400, "invalid_input", "token").await;
    assert_no_content(verify_email(&srv, &token).await).await;
    let me = profile(&srv, &access).await;
    assert_eq!((me["email"].clone(), me["email_verified"].clone()), (json!(address("vic")), json!(true)));
    // Single use.
    assert_field(verify_email(&srv, &token).await, 400, "invalid_input", "token").await;
});

http_test!(verification_links_expire_after_a_day, |srv: TestServer| async move {
    srv.register("dora", PASSWORD).await;
    let expired = verification_token(&srv, &address("dora"), 1).await;
    srv.clock.advance(Duration::hours(24) + Duration::seconds(1));
    assert_field(verify_email(&srv, &expired).await, 400, "invalid_input", "token").await;
    let (access, _) = jwt(&srv, "dora", PASSWORD).await;
    assert_eq!(profile(&srv, &access).await["email_verified"], false);

    // A new link works within the day.
    assert_accepted(srv.post("/api/auth/email/resend", json!({"email": address("dora")})).await).await;
    let fresh = verification_token(&srv, &address("dora"), 2).await;
    srv.clock.advance(Duration::hours(23));
    assert_no_content(verify_email(&srv, &fresh).await).await;
    let (access, _) = jwt(&srv, "dora", PASSWORD).await;
    assert_eq!(profile(&srv, &access).await["email_verified"], true);
});

http_test!(
    mandatory_verification_blocks_every_sign_in_path,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.email_verification = "mandatory".into();
    },
    |srv: TestServer| async move {
        srv.register("nina", PASSWORD).await;
        let paths = [
            "/api/auth/mobile/sign-in",
            "/api/auth/web/sign-in",
            "/api/auth/token/sign-in",
            "/api/auth/session/sign-in",
        ];
        for path in paths {
            let r = sign_in_response(&srv, path, "nina", PASSWORD).await;
            assert!(r.headers().get("set-cookie").is_none(), "no cookie: {path}");
            assert_error(r, 403, "email_not_verified").await;
        }
        // A wrong password says nothing about the address.
        let r = sign_in_response(&srv, "/api/auth/mobile/sign-in", "nina", "not the password").await;
        assert_error(r, 401, "invalid_credentials").await;
        let r = sign_in_response(&srv, "/api/auth/session/sign-in", "nina", "not the password").await;
        assert_error(r, 401, "invalid_credentials").await;
        assert_invalid_credentials(&srv, "nobody", PASSWORD).await;

        let token = verification_token(&srv, &address("nina"), 1).await;
        assert_no_content(verify_email(&srv, &token).await).await;
        for path in paths {
            let r = sign_in_response(&srv, path, "nina", PASSWORD).await;
            assert_eq!(r.status(), 200, "{path}");
            let body: Value = r.json().await.unwrap();
            assert!(
                body.get("access").or(body.get("token")).or(body.get("user")).is_some(),
                "{path}: {body}"
            );
        }
        let (access, _) = jwt(&srv, "nina", PASSWORD).await;
        assert_eq!(profile(&srv, &access).await["email_verified"], true);

        // An account without an address could never verify: refused at registration.
        let r = srv.post("/api/auth/register", json!({"username": "noaddr", "password": PASSWORD})).await;
        let body = assert_error(r, 400, "invalid_input").await;
        assert_eq!(body["fields"][0]["field"], "email", "{body}");
    }
);

http_test!(resend_answers_alike_and_sends_only_to_unverified_accounts, |srv: TestServer| async move {
    srv.register("una", PASSWORD).await;
    srv.register("vera", PASSWORD).await;
    let token = verification_token(&srv, &address("vera"), 1).await;
    assert_no_content(verify_email(&srv, &token).await).await;
    verification_token(&srv, &address("una"), 1).await;

    let resend = |email: String| srv.post("/api/auth/email/resend", json!({"email": email}));
    // In this order: the worker handles them in order, una's email comes last.
    let unknown = assert_accepted(resend("nobody@example.com".into()).await).await;
    let verified = assert_accepted(resend(address("vera")).await).await;
    let unverified = assert_accepted(resend(address("una")).await).await;
    assert_eq!(unknown, verified);
    assert_eq!(verified, unverified);

    let token = verification_token(&srv, &address("una"), 2).await;
    assert!(mails_to(&srv, "nobody@example.com").is_empty(), "nothing for an unknown address");
    assert_eq!(mails_to(&srv, &address("vera")).len(), 1, "nothing new for a verified address");
    assert_no_content(verify_email(&srv, &token).await).await;
    let (access, _) = jwt(&srv, "una", PASSWORD).await;
    assert_eq!(profile(&srv, &access).await["email_verified"], true);

    let r = srv.post("/api/auth/email/resend", json!({"email": "not an address"})).await;
    assert_field(r, 400, "invalid_input", "email").await;
});

http_test!(resend_is_rate_limited_per_address, |srv: TestServer| async move {
    srv.register("rae", PASSWORD).await;
    let resend = |email: String| srv.post("/api/auth/email/resend", json!({"email": email}));
    for _ in 0..5 {
        assert_accepted(resend(address("rae")).await).await;
    }
    for email in [address("rae"), address("RAE")] {
        let r = resend(email).await;
        let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry_after), "Retry-After: {retry_after}");
        assert_error(r, 429, "rate_limited").await;
    }
    // Per address: another one is still served.
    assert_accepted(resend("someone.else@example.com".into()).await).await;
    // Within the hour only.
    srv.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_accepted(resend(address("rae")).await).await;
});

// =============================================================================================
// Profile

http_test!(profile_update_changes_the_username, |srv: TestServer| async move {
    srv.register("ulla", PASSWORD).await;
    let (access, _) = jwt(&srv, "ulla", PASSWORD).await;
    let r = patch_me(&srv, &access, json!({"username": "ulrike"})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["username"], "ulrike");
    assert_eq!(body["email"], address("ulla"));
    assert_eq!(profile(&srv, &access).await["username"], "ulrike");
    srv.sign_in("ulrike", PASSWORD).await;
    assert_invalid_credentials(&srv, "ulla", PASSWORD).await;

    let r = patch_me(&srv, &access, json!({"username": "not valid!"})).await;
    assert_field(r, 400, "invalid_input", "username").await;
    assert_eq!(profile(&srv, &access).await["username"], "ulrike");
});

http_test!(profile_update_refuses_privileged_fields, |srv: TestServer| async move {
    srv.register("pia", PASSWORD).await;
    let (access, _) = jwt(&srv, "pia", PASSWORD).await;
    let before = profile(&srv, &access).await;
    for body in [
        json!({"is_staff": true}),
        json!({"roles": ["admin"]}),
        json!({"is_superuser": true}),
        json!({"username": "pia2", "is_staff": true}),
        json!({"is_active": false}),
        json!({"email_verified": true}),
    ] {
        let r = patch_me(&srv, &access, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_error(r, 400, "invalid_input").await;
    }
    assert_eq!(profile(&srv, &access).await, before, "nothing changed");
    assert_eq!((before["is_staff"].clone(), before["is_superuser"].clone()), (json!(false), json!(false)));
    assert_eq!(before["roles"], json!([]));

    // A fresh sign-in's claims carry no privilege either.
    let (fresh, _) = jwt(&srv, "pia", PASSWORD).await;
    let Cred::Jwt(token) = &fresh else { unreachable!() };
    let claims = claims_of(token);
    for (claim, privileged) in [("is_staff", json!(true)), ("is_superuser", json!(true))] {
        assert_ne!(claims.get(claim), Some(&privileged), "{claims}");
    }
    assert!(claims.get("roles").is_none_or(|r| r == &json!([])), "{claims}");

    // An API key cannot change the profile.
    let key = api_key(&srv, &access).await;
    assert_error(patch_me(&srv, &key, json!({"username": "pia3"})).await, 403, "permission_denied").await;
    assert_eq!(profile(&srv, &access).await["username"], "pia");
});

http_test!(profile_update_refuses_a_taken_username, |srv: TestServer| async move {
    srv.register("tia", PASSWORD).await;
    srv.register("tomas", PASSWORD).await;
    let (access, _) = jwt(&srv, "tia", PASSWORD).await;
    for taken in ["tomas", "TOMAS"] {
        let r = patch_me(&srv, &access, json!({"username": taken})).await;
        assert_field(r, 409, "conflict", "username").await;
    }
    assert_eq!(profile(&srv, &access).await["username"], "tia");
    srv.sign_in("tomas", PASSWORD).await;
});

http_test!(email_change_is_verified_before_it_applies, |srv: TestServer| async move {
    srv.register("eve", PASSWORD).await;
    verification_token(&srv, &address("eve"), 1).await;
    let (access, _) = jwt(&srv, "eve", PASSWORD).await;
    let new = "eve.new@example.com";

    let r = patch_me(&srv, &access, json!({"email": new})).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["email"], address("eve"), "the old address until the new one is verified");
    assert_eq!(profile(&srv, &access).await["email"], address("eve"));

    let token = verification_token(&srv, new, 1).await;
    let notice = &wait_mails(&srv, &address("eve"), EMAIL_CHANGING, 1).await[0];
    assert!(notice.text().contains(new), "{}", notice.text());
    assert!(!notice.raw.contains(&token), "the old address never gets the link");
    assert_eq!(mails_to(&srv, new).len(), 1, "only the link goes to the new address");

    assert_no_content(verify_email(&srv, &token).await).await;
    let me = profile(&srv, &access).await;
    assert_eq!((me["email"].clone(), me["email_verified"].clone()), (json!(new), json!(true)));
    srv.sign_in(new, PASSWORD).await;
    assert_invalid_credentials(&srv, &address("eve"), PASSWORD).await;
});

http_test!(email_change_to_a_taken_address_is_answered_alike, |srv: TestServer| async move {
    srv.register("fay", PASSWORD).await;
    srv.register("gus", PASSWORD).await;
    let (access, _) = jwt(&srv, "fay", PASSWORD).await;
    let free = patch_me(&srv, &access, json!({"email": "free@example.com"})).await;
    assert_eq!(free.status(), 200);
    let free: Value = free.json().await.unwrap();
    for taken in [address("gus"), address("GUS")] {
        let r = patch_me(&srv, &access, json!({"email": taken})).await;
        assert_eq!(r.status(), 200, "not a 409: that would tell fay gus's address has an account");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, free, "the same answer as for a free address");
    }
    assert_eq!(profile(&srv, &access).await["email"], address("fay"));
    // Gus is told (twice), and no verification link went to his address.
    let notices = wait_mails(&srv, &address("gus"), "[Portcullis] You already have an account", 2).await;
    assert_eq!(notices.len(), 2);
    assert_eq!(mails_with(&srv, &address("gus"), VERIFY).len(), 1, "only his own registration link");
    let (gus, _) = jwt(&srv, "gus", PASSWORD).await;
    let activity: Value =
        call(&srv, Method::GET, "/api/auth/activity", &gus, None).await.json().await.unwrap();
    let attempts = activity["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "taken_email_attempt" && e["detail"]["during"] == "email_change")
        .count();
    assert_eq!(attempts, 2);

    // Taken between the request and the link: the link is refused with 409.
    let shared = "shared@example.com";
    assert_eq!(patch_me(&srv, &access, json!({"email": shared})).await.status(), 200);
    let r = srv
        .post("/api/auth/register", json!({"username": "hal", "email": shared, "password": PASSWORD}))
        .await;
    assert_eq!(r.status(), 201);
    let fays_link = verification_token(&srv, shared, 1).await;
    let r = verify_email(&srv, &fays_link).await;
    assert_eq!(r.status(), 409);
    assert_error(r, 409, "conflict").await;
    let me = profile(&srv, &access).await;
    assert_eq!(me["email"], address("fay"));
    assert_eq!(mails_with(&srv, &address("gus"), VERIFY).len(), 1, "nothing for gus but his own link");
});

http_test!(
    email_change_without_verification_applies_at_once,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.email_verification = "off".into();
    },
    |srv: TestServer| async move {
        srv.register("oli", PASSWORD).await;
        srv.register("pam", PASSWORD).await;
        // A reset verifies the address (the link reached it).
        let token = reset_token(&srv, &address("oli")).await;
        assert_no_content(confirm_reset(&srv, json!({"token": token, "new_password": NEW_PASSWORD})).await)
            .await;
        let (access, _) = jwt(&srv, "oli", NEW_PASSWORD).await;
        assert_eq!(profile(&srv, &access).await["email_verified"], true);

        let new = "oli.new@example.com";
        let r = patch_me(&srv, &access, json!({"email": new})).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!((body["email"].clone(), body["email_verified"].clone()), (json!(new), json!(false)));
        let me = profile(&srv, &access).await;
        assert_eq!((me["email"].clone(), me["email_verified"].clone()), (json!(new), json!(false)));
        let r = patch_me(&srv, &access, json!({"email": address("pam")})).await;
        assert_field(r, 409, "conflict", "email").await;

        // No verification emails in this mode: the first email to the new address is a reset.
        reset_token(&srv, new).await;
        let subjects: Vec<_> = mails_to(&srv, new).iter().map(ReceivedMail::subject).collect();
        assert_eq!(subjects, [Some(RESET.to_owned())]);
        assert!(mails_with(&srv, &address("pam"), VERIFY).is_empty());
    }
);

// =============================================================================================
// Account deletion

http_test!(account_deletion_needs_the_password_and_revokes_everything, |srv: TestServer| async move {
    srv.register("dan", PASSWORD).await;
    srv.register("ida", PASSWORD).await;
    let all = everything(&srv, "dan", PASSWORD).await;

    assert_error(delete_me(&srv, &all.key, PASSWORD).await, 403, "permission_denied").await;
    assert_field(delete_me(&srv, &all.access, "not the password").await, 400, "invalid_input", "password")
        .await;
    assert_alive(&srv, &all).await;

    assert_no_content(delete_me(&srv, &all.access, PASSWORD).await).await;
    assert_all_refused(&srv, &all).await;
    assert_invalid_credentials(&srv, "dan", PASSWORD).await;
    let r = sign_in_response(&srv, "/api/auth/token/sign-in", "dan", PASSWORD).await;
    assert_error(r, 401, "invalid_credentials").await;

    // A reset for the deleted account sends nothing (ida's email comes after it).
    assert_accepted(srv.post("/api/auth/password/reset", json!({"email": address("dan")})).await).await;
    reset_token(&srv, &address("ida")).await;
    assert!(mails_with(&srv, &address("dan"), RESET).is_empty());
});

// =============================================================================================
// Configuration

http_test!(
    without_an_email_backend_reset_and_verification_are_not_found,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.email_backend = None;
    },
    |srv: TestServer| async move {
        srv.register("zed", PASSWORD).await;
        let requests = [
            ("/api/auth/password/reset", json!({"email": address("zed")})),
            (
                "/api/auth/password/reset/confirm",
                json!({"token": "A".repeat(43), "new_password": NEW_PASSWORD}),
            ),
            ("/api/auth/email/verify", json!({"token": "A".repeat(43)})),
            ("/api/auth/email/resend", json!({"email": address("zed")})),
        ];
        for (path, body) in requests {
            assert_error(srv.post(path, body).await, 404, "not_found").await;
        }
        srv.sign_in("zed", PASSWORD).await;
        assert!(srv.mails().is_empty());
    }
);

http_test!(
    reset_email_over_smtp,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        let sink = SmtpSink::start().unwrap();
        s.email_backend = Some(Secret::new(sink.url()));
        smtp_sinks().lock().unwrap().insert(sink.url(), sink);
    },
    |srv: TestServer| async move {
        let url = srv.settings.email_backend.as_ref().unwrap().expose().to_owned();
        let sink = smtp_sinks().lock().unwrap().remove(&url).expect("this test's sink");
        srv.register("sol", PASSWORD).await;
        assert_accepted(srv.post("/api/auth/password/reset", json!({"email": address("sol")})).await).await;

        // Registration's verification email first, then the reset.
        let mails = sink.wait_for_count(&address("sol"), 2, MAIL_WAIT).await;
        assert_eq!(mails.len(), 2, "{mails:?}");
        assert_eq!(mails[0].subject().as_deref(), Some(VERIFY));
        let mail = &mails[1];
        assert_eq!(mail.subject().as_deref(), Some(RESET));
        assert_eq!(mail.to, [address("sol")], "envelope recipient");
        assert_eq!(mail.from, "no-reply@example.test", "envelope sender");
        let token = link_token(mail, "/reset-password");
        assert!(srv.mails().is_empty(), "nothing went to the file backend");

        assert_no_content(confirm_reset(&srv, json!({"token": token, "new_password": NEW_PASSWORD})).await)
            .await;
        srv.sign_in("sol", NEW_PASSWORD).await;
    }
);

http_test!(
    reset_email_through_an_independent_smtp_server,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        if let Some((url, _)) = external_smtp() {
            s.email_backend = Some(Secret::new(url));
        }
    },
    |srv: TestServer| async move {
        let Some((_, maildir)) = external_smtp() else { return };
        // The Maildir is shared by every variant and run: a name of our own.
        let name = format!("ext{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        srv.register(&name, PASSWORD).await;
        assert_accepted(srv.post("/api/auth/password/reset", json!({"email": address(&name)})).await).await;
        let deadline = std::time::Instant::now() + MAIL_WAIT;
        let reset = loop {
            let mails = portcullis::mail::testing::read_maildir(&maildir).unwrap();
            let found = mails.into_iter().find(|m| {
                m.to.iter().any(|to| to.eq_ignore_ascii_case(&address(&name)))
                    && m.subject().as_deref() == Some(RESET)
            });
            if let Some(mail) = found {
                break mail;
            }
            assert!(std::time::Instant::now() < deadline, "no reset email reached aiosmtpd");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(reset.to, [address(&name)], "envelope recipient (X-RcptTo)");
        assert!(srv.mails().is_empty(), "nothing went to the file backend");
        let token = link_token(&reset, "/reset-password");
        assert_no_content(confirm_reset(&srv, json!({"token": token, "new_password": NEW_PASSWORD})).await)
            .await;
        srv.sign_in(&name, NEW_PASSWORD).await;
    }
);

http_test!(registration_does_not_reveal_taken_addresses, |srv: TestServer| async move {
    srv.register("ada", PASSWORD).await;
    let fresh = srv
        .post("/api/auth/register", json!({"username": "bea", "email": address("bea"), "password": PASSWORD}))
        .await;
    assert_eq!(fresh.status(), 201);
    let fresh: Value = fresh.json().await.unwrap();
    // Ada's address, in other case: the same answer as a new account.
    let taken = srv
        .post(
            "/api/auth/register",
            json!({"username": "cid", "email": "ADA@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(taken.status(), 201);
    let taken: Value = taken.json().await.unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&fresh), keys(&taken), "{fresh} vs {taken}");
    assert_eq!(fresh["detail"], taken["detail"]);
    assert!(fresh.get("id").is_none(), "no id that could tell them apart: {fresh}");

    // No account was made: cid cannot sign in, and the name is still free.
    assert_invalid_credentials(&srv, "cid", PASSWORD).await;
    let again = srv
        .post("/api/auth/register", json!({"username": "cid", "email": address("cid"), "password": PASSWORD}))
        .await;
    assert_eq!(again.status(), 201);
    // Ada is told; her account is untouched.
    let notice = wait_mails(&srv, &address("ada"), "[Portcullis] You already have an account", 1).await;
    let notice = &notice[0];
    assert!(notice.text().contains("Nothing was changed"), "{}", notice.text());
    assert!(notice.find_link("https://").is_none(), "the notice carries no link");
    srv.sign_in("ada", PASSWORD).await;
    // Usernames are chosen, not proven: a taken one is still a 409.
    let r = srv
        .post("/api/auth/register", json!({"username": "ADA", "email": address("dee"), "password": PASSWORD}))
        .await;
    let body = assert_error(r, 409, "conflict").await;
    assert_eq!(body["fields"][0]["field"], "username");
    // The owner sees the attempt in her activity.
    let (access, _) = jwt(&srv, "ada", PASSWORD).await;
    let activity: Value =
        call(&srv, Method::GET, "/api/auth/activity", &access, None).await.json().await.unwrap();
    let kinds: Vec<&str> =
        activity["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"taken_email_attempt"), "{kinds:?}");
});

http_test!(
    without_verification_a_taken_address_is_a_conflict,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.email_verification = "off".into();
    },
    |srv: TestServer| async move {
        srv.register("eve", PASSWORD).await;
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "fin", "email": address("eve"), "password": PASSWORD}),
            )
            .await;
        let body = assert_error(r, 409, "conflict").await;
        assert_eq!(body["fields"][0]["field"], "email");
        let r = srv
            .post(
                "/api/auth/register",
                json!({"username": "fin", "email": address("fin"), "password": PASSWORD}),
            )
            .await;
        let created: Value = r.json().await.unwrap();
        assert!(created["id"].as_str().is_some_and(|id| !id.is_empty()), "{created}");
    }
);

http_test!(
    the_periodic_flush_deletes_expired_links_and_counters_and_old_audit_events,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.audit_retention_days = 30;
    },
    |srv: TestServer| async move {
        use portcullis::core::audit::AuditQuery;
        srv.register("kai", PASSWORD).await;
        let _link = verification_token(&srv, &address("kai"), 1).await;
        assert_accepted(srv.post("/api/auth/password/reset", json!({"email": address("kai")})).await).await;
        let reset = reset_token(&srv, &address("kai")).await;
        assert_invalid_credentials(&srv, "kai", "not the password").await;
        let audit = srv.auth().audit_log();
        let before = audit.list(&AuditQuery::new()).await.unwrap().len();
        assert!(before >= 4, "registered, link sent, reset requested, sign-in failed: {before}");

        // A flush now deletes nothing that is still alive. (The email worker may record one more
        // event after the responses: the count can only grow.)
        let deleted = auth_server::app::flush_expired(srv.auth(), &srv.settings).await.unwrap();
        assert_eq!(deleted, 0);
        assert!(audit.list(&AuditQuery::new()).await.unwrap().len() >= before);

        // 31 days on: the links expired, the counters are stale, the events are past retention.
        srv.clock.advance(Duration::days(31));
        let deleted = auth_server::app::flush_expired(srv.auth(), &srv.settings).await.unwrap();
        assert!(deleted >= before as u64 + 2, "links, counters and events: {deleted}");
        assert!(audit.list(&AuditQuery::new()).await.unwrap().is_empty(), "past retention");
        let r = confirm_reset(&srv, json!({"token": reset, "new_password": NEW_PASSWORD})).await;
        assert_field(r, 400, "invalid_input", "token").await;
    }
);

// ---------------------------------------------------------------------------------------------
// Re-authentication for changes that decide who controls the account (#13.10)

/// Each gated change, sent with `credential` and the extra body fields `proof`.
async fn gated_changes(srv: &TestServer, cred: &Cred, proof: Value, n: usize) -> Vec<u16> {
    let with = |body: Value| {
        let mut body = body.as_object().unwrap().clone();
        body.extend(proof.as_object().unwrap().clone());
        Value::Object(body)
    };
    let key =
        call(srv, Method::POST, "/api/auth/api-keys", cred, Some(with(json!({"name": "ci", "scopes": []}))));
    let email = patch_me(srv, cred, with(json!({"email": format!("new{n}@example.com")})));
    let setup = call(srv, Method::POST, "/api/auth/mfa/totp/setup", cred, Some(with(json!({}))));
    let (key, email, setup) = (key.await, email.await, setup.await);
    vec![key.status().as_u16(), email.status().as_u16(), setup.status().as_u16()]
}

http_test!(
    changes_that_decide_who_controls_the_account_need_a_recent_sign_in,
    |srv: TestServer| async move {
        let password = "correct horse battery";
        srv.register("rhea", password).await;
        // Right after signing in, with each credential kind: no password needed.
        let (access, refresh_token) = jwt(&srv, "rhea", password).await;
        assert_eq!(gated_changes(&srv, &access, json!({}), 1).await, [201, 200, 200]);
        let opaque = opaque_token(&srv, "rhea", password).await;
        let browser = session(&srv, "rhea", password).await;

        // Past the window (5 minutes), with a refreshed access token that keeps the old sign-in time.
        srv.clock.advance(Duration::minutes(6));
        let r = refresh(&srv, &refresh_token).await;
        let fresh_token = Cred::Jwt(r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_owned());
        for cred in [&fresh_token, &opaque, &browser] {
            let r = call(
                &srv,
                Method::POST,
                "/api/auth/api-keys",
                cred,
                Some(json!({"name": "ci", "scopes": []})),
            )
            .await;
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(challenge.contains("insufficient_user_authentication"), "{challenge}");
            assert_error(r, 403, "reauthentication_required").await;
            let r = patch_me(&srv, cred, json!({"email": "thief@example.com"})).await;
            assert_error(r, 403, "reauthentication_required").await;
            let r = call(&srv, Method::POST, "/api/auth/mfa/totp/setup", cred, None).await;
            assert_error(r, 403, "reauthentication_required").await;
            // A wrong password is a 400 on current_password (and counts as a failed sign-in).
            let r = patch_me(&srv, cred, json!({"email": "thief@example.com", "current_password": "guess"}))
                .await;
            assert_field(r, 400, "invalid_input", "current_password").await;
        }
        // The username is not gated.
        assert_eq!(patch_me(&srv, &fresh_token, json!({"username": "rhea2"})).await.status(), 200);
        // The password proves presence.
        let proof = json!({"current_password": password});
        assert_eq!(gated_changes(&srv, &fresh_token, proof.clone(), 2).await, [201, 200, 200]);
        assert_eq!(gated_changes(&srv, &browser, proof, 3).await, [201, 200, 200]);
        // Nothing was changed by the refused attempts: no link went to the thief.
        assert!(mails_to(&srv, "thief@example.com").is_empty());
    }
);

http_test!(with_mfa_re_authentication_needs_the_second_factor_too, |srv: TestServer| async move {
    let password = "correct horse battery";
    srv.register("rufus", password).await;
    let (access, _) = jwt(&srv, "rufus", password).await;
    let (uri, _) = enrol_mfa(&srv, &access).await;
    srv.clock.advance(Duration::minutes(6));
    // Signed in again (with the second factor), then past the window.
    let step: Value =
        sign_in_response(&srv, "/api/auth/mobile/sign-in", "rufus", password).await.json().await.unwrap();
    let verify = json!({"mfa_token": step["mfa_token"], "code": code_at(&uri, srv.now())});
    let pair: Value = srv.post("/api/auth/mfa/verify", verify).await.json().await.unwrap();
    srv.clock.advance(Duration::minutes(4));
    let r = refresh(&srv, pair["refresh"].as_str().unwrap()).await;
    let cred = Cred::Jwt(r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_owned());
    srv.clock.advance(Duration::minutes(2));
    let body = |extra: Value| {
        let mut body = json!({"name": "ci", "scopes": []});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let r = call(
        &srv,
        Method::POST,
        "/api/auth/api-keys",
        &cred,
        Some(body(json!({"current_password": password}))),
    )
    .await;
    let message = assert_field(r, 400, "invalid_input", "code").await;
    assert!(message.contains("two-factor"), "{message}");
    let wrong = json!({"current_password": password, "code": wrong_code(&uri, srv.now())});
    let r = call(&srv, Method::POST, "/api/auth/api-keys", &cred, Some(body(wrong))).await;
    assert_field(r, 400, "invalid_input", "code").await;
    let right = json!({"current_password": password, "code": code_at(&uri, srv.now() + 30)});
    srv.clock.advance(Duration::seconds(30));
    let r = call(&srv, Method::POST, "/api/auth/api-keys", &cred, Some(body(right))).await;
    assert_eq!(r.status(), 201);
});

/// Asks for a change of `cred`'s address to `new`; returns the token of the verification link
/// sent to `new` and of the cancel link sent to `old`.
async fn change_address(srv: &TestServer, cred: &Cred, old: &str, new: &str) -> (String, String) {
    let cancels = mails_with(srv, old, EMAIL_CHANGING).len();
    assert_eq!(patch_me(srv, cred, json!({"email": new})).await.status(), 200);
    let verify = verification_token(srv, new, 1).await;
    let notices = wait_mails(srv, old, EMAIL_CHANGING, cancels + 1).await;
    (verify, link_token(notices.last().unwrap(), "/cancel-email-change"))
}

http_test!(
    a_pending_change_of_address_dies_with_the_remediations_and_can_be_cancelled,
    |srv: TestServer| async move {
        let password = "correct horse battery";
        srv.register("nora", password).await;
        let old = address("nora");
        let (cred, _) = jwt(&srv, "nora", password).await;

        // A password change kills the pending link (bound to the old password's fingerprint).
        let (link, _) = change_address(&srv, &cred, &old, "nora.a@example.com").await;
        let r = change_password(&srv, &cred, password, "a brand new password").await;
        let cred = Cred::Jwt(r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_owned());
        assert_field(verify_email(&srv, &link).await, 400, "invalid_input", "token").await;

        // A newer change kills the older one.
        let (first, _) = change_address(&srv, &cred, &old, "nora.b@example.com").await;
        let (second, _) = change_address(&srv, &cred, &old, "nora.c@example.com").await;
        assert_field(verify_email(&srv, &first).await, 400, "invalid_input", "token").await;

        // Signing out everywhere kills it.
        assert_eq!(call(&srv, Method::POST, "/api/auth/sign-out-all", &cred, None).await.status(), 204);
        assert_field(verify_email(&srv, &second).await, 400, "invalid_input", "token").await;

        // The old address cancels a change with the link in its notice.
        let (cred, _) = jwt(&srv, "nora", "a brand new password").await;
        let (link, cancel) = change_address(&srv, &cred, &old, "nora.d@example.com").await;
        assert_eq!(srv.post("/api/auth/email/change/cancel", json!({"token": cancel})).await.status(), 204);
        assert_field(verify_email(&srv, &link).await, 400, "invalid_input", "token").await;
        let r = srv.post("/api/auth/email/change/cancel", json!({"token": cancel})).await;
        assert_field(r, 400, "invalid_input", "token").await;
        assert_eq!(profile(&srv, &cred).await["email"], old, "the address never changed");

        // A reset kills it too.
        let (link, _) = change_address(&srv, &cred, &old, "nora.e@example.com").await;
        let token = reset_token(&srv, &old).await;
        let r = confirm_reset(&srv, json!({"token": token, "new_password": "yet another password"})).await;
        assert_eq!(r.status(), 204);
        assert_field(verify_email(&srv, &link).await, 400, "invalid_input", "token").await;

        // Untouched, a change still goes through.
        let (cred, _) = jwt(&srv, "nora", "yet another password").await;
        let (link, _) = change_address(&srv, &cred, &old, "nora.f@example.com").await;
        assert_eq!(verify_email(&srv, &link).await.status(), 204);
        assert_eq!(profile(&srv, &cred).await["email"], "nora.f@example.com");
        let kinds: Vec<String> = srv
            .auth()
            .audit_log()
            .list(&portcullis::core::audit::AuditQuery::new().limit(100))
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
        assert!(kinds.iter().any(|k| k == "email_change_cancelled"), "{kinds:?}");
    }
);
