//! Passkeys over real HTTP: a walk-through in headless Chromium with a virtual authenticator
//! (register, passwordless sign-in, list, rename, delete, the deleted passkey refused) on both
//! adapters, and the settings the server refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{Adapter, Backend, TestServer};

const PASSWORD: &str = "correct horse battery";

/// The frontend: one page on the relying party's origin whose script runs the walk against the
/// API on another origin (CORS), with the browser's own WebAuthn API; and `POST /enrol-totp`, the
/// test's hand in the walk: it enrols TOTP for the bearer of the access token in the body (codes
/// from totp-rs at the server's clock), like an authenticator app would.
async fn frontend(listener: tokio::net::TcpListener, api: String, clock: portcullis::core::ManualClock) {
    use axum::response::Html;
    use axum::routing::{get, post};
    use portcullis::core::Clock as _;
    let enrol_api = api.clone();
    let enrol = move |access: String| {
        let (api, clock) = (enrol_api.clone(), clock.clone());
        async move {
            let client = reqwest::Client::new();
            let setup: Value = client
                .post(format!("{api}/api/auth/mfa/totp/setup"))
                .bearer_auth(&access)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let totp = totp_rs::Totp::from_url(setup["otpauth_uri"].as_str().unwrap()).unwrap();
            let code = totp.generate(u64::try_from(clock.now().timestamp()).unwrap()).to_string();
            let r = client
                .post(format!("{api}/api/auth/mfa/totp/confirm"))
                .bearer_auth(&access)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap();
            axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap()
        }
    };
    let page = format!(
        r#"<!doctype html><meta charset=utf-8><title>passkeys</title><script>
const API = {api:?};
async function api(method, path, body, bearer) {{
  const headers = {{}};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (bearer) headers.authorization = 'Bearer ' + bearer;
  const r = await fetch(API + path, {{method, headers, body: body === undefined ? undefined : JSON.stringify(body)}});
  let json = null;
  try {{ json = await r.json(); }} catch (e) {{}}
  return {{status: r.status, body: json}};
}}
async function create(options) {{
  const credential = await navigator.credentials.create({{publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)}});
  return credential.toJSON();
}}
async function get(options) {{
  const credential = await navigator.credentials.get({{publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)}});
  return credential.toJSON();
}}
window.walk = async (username, password) => {{
  const out = {{}};
  const signIn = await api('POST', '/api/auth/mobile/sign-in', {{username, password}});
  out.password_sign_in = signIn.status;
  const begin = await api('POST', '/api/auth/passkeys/register/begin', undefined, signIn.body.access);
  out.register_begin = {{status: begin.status, rp: begin.body.options.publicKey.rp, selection: begin.body.options.publicKey.authenticatorSelection}};
  const created = await create(begin.body.options);
  out.register_finish = await api('POST', '/api/auth/passkeys/register/finish',
    {{challenge_id: begin.body.challenge_id, name: 'Laptop', credential: created}}, signIn.body.access);
  // Signed out: the tokens are dropped. Passwordless sign-in with the discoverable passkey.
  const start = await api('POST', '/api/auth/passkeys/sign-in/begin');
  const assertion = await get(start.body.options);
  const passkey = await api('POST', '/api/auth/passkeys/sign-in/finish', {{challenge_id: start.body.challenge_id, credential: assertion}});
  out.passkey_sign_in = passkey;
  out.replayed = (await api('POST', '/api/auth/passkeys/sign-in/finish', {{challenge_id: start.body.challenge_id, credential: assertion}})).status;
  out.me = await api('GET', '/api/auth/me', undefined, passkey.body.access);
  // MFA: TOTP enrolled, a password sign-in gets the MFA step, with the passkey offered.
  out.enrol = (await fetch('/enrol-totp', {{method: 'POST', body: passkey.body.access}})).status;
  const step = await api('POST', '/api/auth/mobile/sign-in', {{username, password}});
  out.mfa_step = {{status: step.status, methods: step.body.methods, challenges: Object.keys(step.body.challenges || {{}})}};
  const second = await get(step.body.challenges.webauthn.options);
  const verified = await api('POST', '/api/auth/mfa/verify', {{mfa_token: step.body.mfa_token,
    webauthn: {{challenge_id: step.body.challenges.webauthn.challenge_id, credential: second}}}});
  out.mfa_verify = verified;
  // The same assertion for another MFA step: its challenge is used (401); a malformed proof: 400.
  const step2 = await api('POST', '/api/auth/mobile/sign-in', {{username, password}});
  out.mfa_replay = (await api('POST', '/api/auth/mfa/verify', {{mfa_token: step2.body.mfa_token,
    webauthn: {{challenge_id: step.body.challenges.webauthn.challenge_id, credential: second}}}})).status;
  out.mfa_malformed = (await api('POST', '/api/auth/mfa/verify', {{mfa_token: step2.body.mfa_token, webauthn: {{}}}})).status;
  // A passkey that verifies the user needs no MFA step, also for a user with TOTP.
  const again2 = await api('POST', '/api/auth/passkeys/sign-in/begin');
  const assertion2 = await get(again2.body.options);
  out.passkey_sign_in_with_mfa = await api('POST', '/api/auth/passkeys/sign-in/finish', {{challenge_id: again2.body.challenge_id, credential: assertion2}});
  const access = verified.body.access;
  const id = out.register_finish.body.id;
  out.rename = (await api('PATCH', '/api/auth/passkeys/' + id, {{name: 'Work laptop'}}, access)).status;
  out.list = await api('GET', '/api/auth/passkeys', undefined, access);
  out.delete = (await api('DELETE', '/api/auth/passkeys/' + id, undefined, access)).status;
  out.list_after = await api('GET', '/api/auth/passkeys', undefined, access);
  const again = await api('POST', '/api/auth/passkeys/sign-in/begin');
  const stale = await get(again.body.options);
  out.deleted_sign_in = await api('POST', '/api/auth/passkeys/sign-in/finish', {{challenge_id: again.body.challenge_id, credential: stale}});
  return out;
}};
</script>"#
    );
    let router = axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route("/enrol-totp", post(enrol));
    axum::serve(listener, router).await.unwrap();
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    portcullis_tests::serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_browser_registers_a_passkey_and_signs_in_with_it_on_both_adapters() {
    for adapter in [Adapter::Axum, Adapter::Poem] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let port = portcullis_tests::oidc_provider::free_port();
        let api = format!("http://localhost:{port}");
        let origin = front.clone();
        let api_url = api.clone();
        let srv = TestServer::start_on(Backend::Sqlite, adapter, move |s| {
            s.bind = format!("127.0.0.1:{port}").parse().unwrap();
            s.public_url = Some(api);
            s.frontend_url = Some(origin.clone());
            s.allowed_origins = vec![origin.clone()];
            s.webauthn_rp_id = Some("localhost".to_owned());
            s.webauthn_origins = vec![origin];
        })
        .await
        .unwrap();
        tokio::spawn(frontend(listener, api_url, srv.clock.clone()));
        srv.register("pia", PASSWORD).await;
        let out = portcullis_tests::browser::run(
            "passkey-walkthrough.mjs",
            &[("FRONTEND", &front), ("USERNAME", "pia"), ("PASSWORD", PASSWORD)],
        )
        .await;
        assert_eq!(out["password_sign_in"], 200, "{out}");
        assert_eq!(out["register_begin"]["status"], 200, "{out}");
        assert_eq!(out["register_begin"]["rp"]["id"], "localhost");
        assert_eq!(out["register_begin"]["selection"]["residentKey"], "preferred");
        assert_eq!(out["register_finish"]["status"], 201, "{out}");
        assert_eq!(out["register_finish"]["body"]["name"], "Laptop");
        assert!(out["register_finish"]["body"].get("credential").is_none(), "no key material");
        // Passwordless: a mobile pair with amr hwk + user (the authenticator verified the user).
        assert_eq!(out["passkey_sign_in"]["status"], 200, "{out}");
        let access = out["passkey_sign_in"]["body"]["access"].as_str().unwrap();
        assert_eq!(claims(access)["amr"], json!(["hwk", "user"]));
        assert_eq!(out["replayed"], 401, "the challenge is single use");
        assert_eq!(out["me"]["body"]["username"], "pia");
        // The MFA step offers the passkey next to TOTP and recovery codes; it completes the step.
        assert_eq!(out["enrol"], 200, "{out}");
        assert_eq!(out["mfa_step"]["status"], 200);
        assert_eq!(out["mfa_step"]["methods"], json!(["totp", "recovery_code", "webauthn"]), "{out}");
        assert_eq!(out["mfa_step"]["challenges"], json!(["webauthn"]));
        assert_eq!(out["mfa_verify"]["status"], 200, "{out}");
        let access = out["mfa_verify"]["body"]["access"].as_str().unwrap();
        assert_eq!(claims(access)["amr"], json!(["pwd", "hwk"]));
        assert_eq!(
            (out["mfa_replay"].as_u64(), out["mfa_malformed"].as_u64()),
            (Some(401), Some(400)),
            "{out}"
        );
        let passwordless = &out["passkey_sign_in_with_mfa"];
        assert!(passwordless["body"]["access"].is_string(), "no MFA step after a verifying passkey: {out}");
        assert_eq!(out["rename"], 204);
        let listed = &out["list"]["body"]["passkeys"];
        assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
        assert_eq!(listed[0]["name"], "Work laptop");
        assert!(listed[0]["last_used_at"].is_string(), "{listed}");
        assert_eq!(out["delete"], 204, "{out}");
        assert_eq!(out["list_after"]["body"]["passkeys"], json!([]));
        assert_eq!(out["deleted_sign_in"]["status"], 401, "a deleted passkey signs nobody in: {out}");
        assert_eq!(out["deleted_sign_in"]["body"]["code"], "invalid_credentials");
        // The virtual authenticator kept a discoverable credential for the relying party.
        assert_eq!(out["authenticator"][0]["rpId"], "localhost");
        assert_eq!(out["authenticator"][0]["isResidentCredential"], true);
        // The audit trail.
        let kinds: Vec<String> = srv
            .auth()
            .audit_log()
            .list(&portcullis::core::audit::AuditQuery::new())
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
        for kind in ["passkey_registered", "passkey_renamed", "passkey_removed"] {
            assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
        }
        // The routes are in the OpenAPI document.
        let doc: Value =
            srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
        for (path, method) in [
            ("/api/auth/passkeys/register/begin", "post"),
            ("/api/auth/passkeys/register/finish", "post"),
            ("/api/auth/passkeys/sign-in/begin", "post"),
            ("/api/auth/passkeys/sign-in/finish", "post"),
            ("/api/auth/passkeys", "get"),
            ("/api/auth/passkeys/{id}", "patch"),
            ("/api/auth/passkeys/{id}", "delete"),
        ] {
            assert_eq!(doc["paths"][path][method]["tags"][0], "passkeys", "{method} {path}");
        }
        // Without a recent sign-in (an hour later) registering needs the password again.
        // (pia has MFA now: another user.)
        srv.register("ria", PASSWORD).await;
        let r = srv.post("/api/auth/token/sign-in", json!({"username": "ria", "password": PASSWORD})).await;
        let issued: Value = r.json().await.unwrap();
        let access = issued["token"].as_str().unwrap();
        srv.clock.advance(chrono::Duration::minutes(6));
        let r = srv
            .client
            .post(srv.url("/api/auth/passkeys/register/begin"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        portcullis_tests::assert_error(r, 403, "reauthentication_required").await;
        let r = srv
            .client
            .post(srv.url("/api/auth/passkeys/register/begin"))
            .bearer_auth(access)
            .json(&json!({"current_password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // Unauthenticated management is a 401; someone else's passkey id a 404.
        let r = srv.client.get(srv.url("/api/auth/passkeys")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = srv
            .client
            .patch(srv.url("/api/auth/passkeys/no-such-id"))
            .bearer_auth(access)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}

#[tokio::test]
async fn inconsistent_passkey_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestServer::settings(Backend::Sqlite, dir.path()).await.unwrap();
    s.webauthn_rp_id = Some("example.com".to_owned());
    s.webauthn_origins = vec!["https://app.example.com".to_owned()];
    s.frontend_url = Some("https://app.example.com".to_owned());
    s.validate().unwrap();
    // The frontend outside the relying party.
    s.frontend_url = Some("https://app.example.org".to_owned());
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_WEBAUTHN_RP_ID");
    s.frontend_url = Some("https://app.example.com".to_owned());
    // An origin outside it; plain http off loopback; none at all.
    s.webauthn_origins = vec!["https://evil.example.net".to_owned()];
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_WEBAUTHN_ORIGINS");
    s.webauthn_origins = vec!["http://app.example.com".to_owned()];
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_WEBAUTHN_ORIGINS");
    s.webauthn_origins = vec![];
    s.frontend_url = None;
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_WEBAUTHN_ORIGINS");
    s.webauthn_rp_id = None;
    s.webauthn_user_verification = "always".to_owned();
    assert_eq!(s.validate().unwrap_err().setting, "PORTCULLIS_WEBAUTHN_USER_VERIFICATION");
}

/// A software authenticator (webauthn-authenticator-rs) answering the server's creation options
/// as a browser on the frontend's origin would.
fn soft_registration(options: &Value) -> Value {
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let mut authenticator = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let options = portcullis_tests::serde_json::from_value(options.clone()).unwrap();
    let origin = url::Url::parse(portcullis_tests::FRONTEND_URL).unwrap();
    portcullis_tests::serde_json::to_value(authenticator.do_registration(origin, options).unwrap()).unwrap()
}

portcullis_tests::http_test!(
    the_last_way_to_sign_in_is_never_removed,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.webauthn_rp_id = Some("app.example.test".to_owned());
        s.email_sign_in = true;
        s.email_sign_in_sign_up = true;
    },
    |srv: TestServer| async move {
        // A password-less account, signed up by email.
        let to = "keyholder@example.com";
        assert_eq!(srv.post("/api/auth/email-sign-in", json!({"email": to})).await.status(), 202);
        let mail = srv.mail_to(to).await;
        let code = mail.subject().unwrap().rsplit(' ').next().unwrap().to_owned();
        let r = srv.post("/api/auth/email-sign-in/confirm", json!({"email": to, "code": code})).await;
        let pair: Value = r.json().await.unwrap();
        let access = pair["access"].as_str().unwrap().to_owned();
        let register = || async {
            let r = srv
                .client
                .post(srv.url("/api/auth/passkeys/register/begin"))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let begin: Value = r.json().await.unwrap();
            let credential = soft_registration(&begin["options"]);
            let r = srv
                .client
                .post(srv.url("/api/auth/passkeys/register/finish"))
                .bearer_auth(&access)
                .json(
                    &json!({"challenge_id": begin["challenge_id"], "name": "Key", "credential": credential}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let passkey: Value = r.json().await.unwrap();
            passkey["id"].as_str().unwrap().to_owned()
        };
        let delete = |id: String| {
            srv.client.delete(srv.url(&format!("/api/auth/passkeys/{id}"))).bearer_auth(&access).send()
        };
        let first = register().await;
        // Its only passkey, no password: refused.
        portcullis_tests::assert_error(delete(first.clone()).await.unwrap(), 409, "conflict").await;
        // With a second one, the first goes.
        let second = register().await;
        assert_eq!(delete(first).await.unwrap().status(), 204);
        portcullis_tests::assert_error(delete(second).await.unwrap(), 409, "conflict").await;
    }
);
