//! Email sign-in over real HTTP, both adapters, both databases: a link and a 6-digit code from
//! the emails the server sends, single use, replaced by a newer request, worn out by 5 wrong
//! codes, expiring (injected clock), the same answer for unknown addresses, the MFA step (and the
//! setting that lets the mailbox count as the second factor), sign-up by email, the per-address
//! limit, and the OpenAPI document. In CI every email goes through the independent SMTP server
//! (aiosmtpd, `.ci/smtp.sh`) and is read from its Maildir; elsewhere through the file backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis::mail::testing::ReceivedMail;
use portcullis_tests::auth_server_settings::Settings;
use portcullis_tests::reqwest::Response;
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{FRONTEND_URL, TestServer, assert_error, http_test};

const PASSWORD: &str = "correct horse battery";
const SUBJECT: &str = "Your sign-in code: ";

fn on(s: &mut Settings) {
    s.email_sign_in = true;
    if let Some((url, _)) = portcullis_tests::external_smtp() {
        s.email_backend = Some(auth_server::config::Secret::new(url));
    }
}

/// A name no other test or run uses (the SMTP server's Maildir is shared).
fn unique(name: &str) -> String {
    format!("{name}{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn address(username: &str) -> String {
    format!("{username}@example.com")
}

/// The sign-in emails to `to` so far, oldest first.
fn sign_in_mails(srv: &TestServer, to: &str) -> Vec<ReceivedMail> {
    let mails = match portcullis_tests::external_smtp() {
        Some((_, maildir)) => portcullis::mail::testing::read_maildir(&maildir).unwrap_or_default(),
        None => srv.mails(),
    };
    mails
        .into_iter()
        .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(to)))
        .filter(|m| m.subject().is_some_and(|s| s.starts_with(SUBJECT)))
        .collect()
}

/// Waits (10 s at most) for the `n`-th sign-in email to `to`; returns its token and code. The
/// emails are told apart by content, not by delivery order (a Maildir's file names do not keep
/// it): the `n`-th is the one the earlier calls for `to` did not return. Call it for 1, 2, ... in
/// turn, after each request.
async fn nth_mail(srv: &TestServer, to: &str, n: usize) -> (String, String) {
    static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let new = {
            let seen = SEEN.lock().unwrap();
            let earlier = seen.iter().filter(|(t, _)| t == to).count();
            assert_eq!(earlier, n - 1, "nth_mail is called for 1, 2, ... in turn");
            sign_in_mails(srv, to).into_iter().find(|m| !seen.iter().any(|(t, raw)| t == to && *raw == m.raw))
        };
        if let Some(mail) = new {
            SEEN.lock().unwrap().push((to.to_owned(), mail.raw.clone()));
            return token_and_code(&mail);
        }
        assert!(std::time::Instant::now() < deadline, "no sign-in email #{n} to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn token_and_code(mail: &ReceivedMail) -> (String, String) {
    let code = mail.subject().unwrap().strip_prefix(SUBJECT).unwrap().to_owned();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
    assert!(mail.text().contains(&code), "the code is in the body too");
    let prefix = format!("{FRONTEND_URL}/sign-in-link?token=");
    let link = mail.find_link(&prefix).unwrap_or_else(|| panic!("no link in {}", mail.text()));
    let token = link.strip_prefix(&prefix).unwrap().split('&').next().unwrap().to_owned();
    assert_eq!(token.len(), 43, "256 bits: {link}");
    (token, code)
}

async fn request(srv: &TestServer, email: &str) -> String {
    let r = srv.post("/api/auth/email-sign-in", json!({"email": email})).await;
    assert_eq!(r.status(), 202);
    r.text().await.unwrap()
}

async fn confirm(srv: &TestServer, body: Value) -> Response {
    srv.post("/api/auth/email-sign-in/confirm", body).await
}

async fn me(srv: &TestServer, access: &str) -> Value {
    srv.get_bearer("/api/auth/me", access).await.json().await.unwrap()
}

http_test!(a_link_or_a_code_signs_in_once, on, |srv: TestServer| async move {
    let lin = unique("lin");
    srv.register(&lin, PASSWORD).await;
    let to = address(&lin);
    request(&srv, &to).await;
    let (token, code) = nth_mail(&srv, &to, 1).await;

    // The link: a mobile pair; the address now counts as verified.
    let r = confirm(&srv, json!({"token": token})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    let profile = me(&srv, pair["access"].as_str().unwrap()).await;
    assert_eq!(
        (profile["username"].as_str(), profile["email_verified"].as_bool()),
        (Some(lin.as_str()), Some(true))
    );
    // Used: the link and the code of that email are dead.
    assert_error(confirm(&srv, json!({"token": token})).await, 401, "invalid_credentials").await;
    assert_error(confirm(&srv, json!({"email": to, "code": code})).await, 401, "invalid_credentials").await;

    // The code (any letter case in the address), as an opaque token.
    request(&srv, &to).await;
    let (_, code) = nth_mail(&srv, &to, 2).await;
    let r = confirm(&srv, json!({"email": to.to_uppercase(), "code": code, "flow": "token", "name": "cli"}))
        .await;
    assert_eq!(r.status(), 200);
    let issued: Value = r.json().await.unwrap();
    let profile = me(&srv, issued["token"].as_str().unwrap()).await;
    assert_eq!(profile["username"], lin.as_str());
    assert_error(confirm(&srv, json!({"email": to, "code": code})).await, 401, "invalid_credentials").await;

    // A cookie session, from the frontend's origin.
    request(&srv, &to).await;
    let (token, _) = nth_mail(&srv, &to, 3).await;
    let r = srv
        .client
        .post(srv.url("/api/auth/email-sign-in/confirm"))
        .header("origin", srv.url("").trim_end_matches('/'))
        .json(&json!({"token": token, "flow": "session"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().contains("portcullis_session="))
    );

    // Bad input: 400, nothing used.
    for body in [
        json!({}),
        json!({"token": "t", "code": "123456", "email": to}),
        json!({"email": to}),
        json!({"token": "x", "flow": "fax"}),
    ] {
        assert_eq!(confirm(&srv, body.clone()).await.status(), 400, "{body}");
    }
    assert_eq!(srv.post("/api/auth/email-sign-in", json!({"email": "not an address"})).await.status(), 400);
    // The sign-ins are in the user's activity, with amr `email`.
    let r = srv.get_bearer("/api/auth/activity", pair["access"].as_str().unwrap()).await;
    let activity: Value = r.json().await.unwrap();
    let text = activity.to_string();
    assert!(text.contains("email_sign_in_requested") && text.contains("\"amr\":\"email\""), "{text}");
});

http_test!(wrong_codes_newer_requests_and_time_end_a_pending_sign_in, on, |srv: TestServer| async move {
    let wes = unique("wes");
    srv.register(&wes, PASSWORD).await;
    let to = address(&wes);
    request(&srv, &to).await;
    let (token, code) = nth_mail(&srv, &to, 1).await;
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        assert_error(confirm(&srv, json!({"email": to, "code": wrong})).await, 401, "invalid_credentials")
            .await;
    }
    // Five wrong codes: the right one and the link are dead (after the progressive delay the
    // failures set for this address from this network: a minute).
    let r = confirm(&srv, json!({"email": to, "code": code})).await;
    assert_error(r, 429, "rate_limited").await;
    srv.clock.advance(chrono::Duration::minutes(2));
    assert_error(confirm(&srv, json!({"email": to, "code": code})).await, 401, "invalid_credentials").await;
    assert_error(confirm(&srv, json!({"token": token})).await, 401, "invalid_credentials").await;

    // A newer request replaces the older one.
    request(&srv, &to).await;
    let (old_token, _) = nth_mail(&srv, &to, 2).await;
    request(&srv, &to).await;
    let (new_token, _) = nth_mail(&srv, &to, 3).await;
    assert_error(confirm(&srv, json!({"token": old_token})).await, 401, "invalid_credentials").await;

    // Ten minutes, then nothing works.
    srv.clock.advance(chrono::Duration::minutes(10));
    assert_error(confirm(&srv, json!({"token": new_token})).await, 401, "invalid_credentials").await;
});

http_test!(an_unknown_address_is_answered_like_a_known_one, on, |srv: TestServer| async move {
    let kit = unique("kit");
    let nobody = address(&unique("nobody"));
    srv.register(&kit, PASSWORD).await;
    let unknown = request(&srv, &nobody).await;
    let known = request(&srv, &address(&kit)).await;
    assert_eq!(unknown, known, "the same body");
    nth_mail(&srv, &address(&kit), 1).await;
    // The unknown address's request was handled (recorded without a user) and sent nothing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let query = portcullis::core::audit::AuditQuery::new();
        let events = srv.auth().audit_log().list(&query).await.unwrap();
        let requested = events.iter().filter(|e| e.kind.as_str() == "email_sign_in_requested").count();
        if requested == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "both requests are handled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(sign_in_mails(&srv, &nobody).is_empty());
    // A code for it is the same 401 as a wrong one.
    let a = confirm(&srv, json!({"email": nobody, "code": "123456"})).await;
    let b = confirm(&srv, json!({"email": address(&kit), "code": "12345x"})).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (401, 401));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
});

http_test!(requests_are_limited_per_address, on, |srv: TestServer| async move {
    let lim = unique("lim");
    srv.register(&lim, PASSWORD).await;
    for _ in 0..5 {
        request(&srv, &address(&lim)).await;
    }
    let r = srv.post("/api/auth/email-sign-in", json!({"email": address(&lim)})).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_error(r, 429, "rate_limited").await;
});

/// Registers `username`, enrols TOTP (codes from totp-rs) and returns the `otpauth://` URI.
async fn with_totp(srv: &TestServer, username: &str) -> String {
    let tokens = srv.user_with_tokens(username).await;
    let access = tokens["access"].as_str().unwrap();
    let r = srv
        .client
        .post(srv.url("/api/auth/mfa/totp/setup"))
        .bearer_auth(access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let setup: Value = r.json().await.unwrap();
    let uri = setup["otpauth_uri"].as_str().unwrap().to_owned();
    let code = totp_rs::Totp::from_url(&uri).unwrap().generate(u64::try_from(srv.now()).unwrap()).to_string();
    let r = srv
        .client
        .post(srv.url("/api/auth/mfa/totp/confirm"))
        .bearer_auth(access)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    srv.clock.advance(chrono::Duration::seconds(30));
    uri
}

http_test!(a_user_with_mfa_gets_the_mfa_step, on, |srv: TestServer| async move {
    let mae = unique("mae");
    let uri = with_totp(&srv, &mae).await;
    let to = address(&mae);
    request(&srv, &to).await;
    let (token, _) = nth_mail(&srv, &to, 1).await;
    let r = confirm(&srv, json!({"token": token})).await;
    assert_eq!(r.status(), 200);
    let step: Value = r.json().await.unwrap();
    assert_eq!(step["mfa_required"], true, "{step}");
    assert!(step.get("access").is_none());
    let code = totp_rs::Totp::from_url(&uri).unwrap().generate(u64::try_from(srv.now()).unwrap()).to_string();
    let r = srv.post("/api/auth/mfa/verify", json!({"mfa_token": step["mfa_token"], "code": code})).await;
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    assert_eq!(me(&srv, pair["access"].as_str().unwrap()).await["username"], mae.as_str());
});

http_test!(
    the_mailbox_may_count_as_the_second_factor,
    |s: &mut Settings| {
        on(s);
        s.email_sign_in_is_second_factor = true;
    },
    |srv: TestServer| async move {
        let sec = unique("sec");
        with_totp(&srv, &sec).await;
        request(&srv, &address(&sec)).await;
        let (token, _) = nth_mail(&srv, &address(&sec), 1).await;
        let r = confirm(&srv, json!({"token": token})).await;
        let pair: Value = r.json().await.unwrap();
        assert!(pair["access"].is_string(), "no MFA step: {pair}");
    }
);

http_test!(
    sign_up_by_email_when_turned_on,
    |s: &mut Settings| {
        on(s);
        s.email_sign_in_sign_up = true;
    },
    |srv: TestServer| async move {
        let local = unique("New.Person");
        let to = format!("{local}@example.com");
        let to = to.as_str();
        request(&srv, to).await;
        let (_, code) = nth_mail(&srv, to, 1).await;
        let r = confirm(&srv, json!({"email": to, "code": code})).await;
        assert_eq!(r.status(), 200);
        let pair: Value = r.json().await.unwrap();
        let profile = me(&srv, pair["access"].as_str().unwrap()).await;
        assert_eq!(profile["email"], to.to_lowercase());
        assert_eq!(profile["email_verified"], true);
        assert_eq!(profile["username"], local.to_lowercase());
        // The account signs in by email again; it has no password.
        request(&srv, to).await;
        let (token, _) = nth_mail(&srv, to, 2).await;
        let again: Value = confirm(&srv, json!({"token": token})).await.json().await.unwrap();
        assert_eq!(me(&srv, again["access"].as_str().unwrap()).await["id"], profile["id"]);
        let r = srv
            .post("/api/auth/mobile/sign-in", json!({"username": local.to_lowercase(), "password": ""}))
            .await;
        assert!(r.status() == 400 || r.status() == 401);
    }
);

http_test!(the_routes_are_documented, on, |srv: TestServer| async move {
    let doc: Value = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in ["/api/auth/email-sign-in", "/api/auth/email-sign-in/confirm"] {
        let op = &doc["paths"][path]["post"];
        assert_eq!(op["tags"][0], "email-sign-in", "{path}");
        assert!(op["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string(), "{path}");
        assert_eq!(
            op["responses"]["429"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorResponse"
        );
    }
    assert!(doc["components"]["schemas"]["EmailSignInResponse"]["oneOf"].is_array());
});

#[tokio::test]
async fn email_sign_in_is_off_unless_turned_on() {
    let srv = TestServer::start(portcullis_tests::Backend::Sqlite).await.unwrap();
    let r = srv.post("/api/auth/email-sign-in", json!({"email": "a@example.com"})).await;
    assert_eq!(r.status(), 404);
    // Refused at start: it needs account emails; its settings without it; a TTL out of bounds;
    // a key that is not 32 bytes.
    let mut s = Settings::default();
    s.email_sign_in = true;
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_EMAIL_SIGN_IN");
    let mut s = srv.settings.clone();
    s.email_sign_in_sign_up = true;
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_EMAIL_SIGN_IN");
    s.email_sign_in = true;
    s.validate().unwrap();
    s.email_sign_in_ttl = 30;
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_EMAIL_SIGN_IN_TTL");
    s.email_sign_in_ttl = 600;
    s.email_sign_in_key = Some(auth_server::config::Secret::new("c2hvcnQ="));
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_EMAIL_SIGN_IN_KEY");
}
