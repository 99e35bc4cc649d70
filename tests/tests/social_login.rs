//! Social login (`portcullis::oauth`) against a real OpenID provider (`oidc-provider` from npm,
//! its development login and consent pages driven by the test) and a small server shaped like
//! GitHub's OAuth2 API: the protocol, the HTTP endpoints on both adapters, the `portcullis` server's
//! settings, and a walk-through of the redirect flow in headless Chromium.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::core::{ManualClock, TokenRejection};
use portcullis::oauth::{OAuthError, ProviderConfig, SocialProvider};
use portcullis_tests::oidc_provider::{Provider, REDIRECT_URI, private_jwk};
use serde_json::{Value, json};
use sha2::Digest as _;

fn query(url: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

async fn oidc_provider() -> Provider {
    Provider::start(vec![private_jwk("rsa", "RS256", "key-a")], "RS256").await
}

fn web_client(provider: &Provider, clock: &ManualClock) -> SocialProvider {
    let config = ProviderConfig::openid_connect("local", &provider.issuer, "web")
        .client_secret("web-secret-0123456789")
        .redirect_uri(REDIRECT_URI);
    SocialProvider::new(config, Arc::new(clock.clone())).unwrap()
}

#[tokio::test]
async fn the_authorization_code_flow_with_pkce_state_and_nonce() {
    let provider = oidc_provider().await;
    let clock = ManualClock::starting_now();
    let social = web_client(&provider, &clock);

    let request = social.authorization_request().await.unwrap();
    let sent = query(&request.url);
    assert_eq!(sent["code_challenge_method"], "S256", "PKCE always");
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(request.pending.pkce_verifier.as_bytes()));
    assert_eq!(sent["code_challenge"], challenge);
    assert_eq!(sent["state"], request.pending.state);
    assert_eq!(Some(&sent["nonce"]), request.pending.nonce.as_ref());
    assert_eq!(sent["scope"], "openid email profile");

    let callback = query(&provider.authorize(&request.url, "alice", false).await);
    assert_eq!(callback["state"], request.pending.state);
    let identity = social.complete(&request.pending, &callback["state"], &callback["code"]).await.unwrap();
    assert_eq!((identity.subject.as_str(), identity.email.as_deref()), ("alice", Some("alice@example.com")));
    assert!(identity.email_verified);
    assert_eq!(identity.amr, ["fed"]);
    // The code is single use.
    let replayed = social.complete(&request.pending, &callback["state"], &callback["code"]).await;
    assert!(
        matches!(replayed, Err(OAuthError::Provider { ref error, .. }) if error == "invalid_grant"),
        "{replayed:?}"
    );

    // An unverified address is reported as such.
    let request = social.authorization_request().await.unwrap();
    let callback = query(&provider.authorize(&request.url, "unverified-bob", false).await);
    let bob = social.complete(&request.pending, &callback["state"], &callback["code"]).await.unwrap();
    assert!(!bob.email_verified);
}

#[tokio::test]
async fn state_pkce_and_nonce_are_enforced() {
    let provider = oidc_provider().await;
    let clock = ManualClock::starting_now();
    let social = web_client(&provider, &clock);

    // A state from another authorization request (another browser).
    let mine = social.authorization_request().await.unwrap();
    let theirs = social.authorization_request().await.unwrap();
    let callback = query(&provider.authorize(&theirs.url, "alice", false).await);
    let err = social.complete(&mine.pending, &callback["state"], &callback["code"]).await.unwrap_err();
    assert!(matches!(err, OAuthError::StateMismatch), "{err:?}");

    // The right state but another PKCE verifier: the provider refuses the code.
    let mut wrong_verifier = theirs.pending.clone();
    wrong_verifier.pkce_verifier = mine.pending.pkce_verifier.clone();
    let err = social.complete(&wrong_verifier, &callback["state"], &callback["code"]).await.unwrap_err();
    assert!(matches!(err, OAuthError::Provider { ref error, .. } if error == "invalid_grant"), "{err:?}");

    // A nonce other than the one sent.
    let request = social.authorization_request().await.unwrap();
    let callback = query(&provider.authorize(&request.url, "alice", false).await);
    let mut wrong_nonce = request.pending.clone();
    wrong_nonce.nonce = Some("another-nonce".into());
    let err = social.complete(&wrong_nonce, &callback["state"], &callback["code"]).await.unwrap_err();
    assert!(matches!(err, OAuthError::NonceMismatch), "{err:?}");

    // The user refuses at the provider: the callback carries the error, no code.
    let request = social.authorization_request().await.unwrap();
    let callback = query(&provider.authorize(&request.url, "alice", true).await);
    assert_eq!(callback["error"], "access_denied");
    assert!(!callback.contains_key("code"));
}

/// An id_token of the provider's `native` app client, as a mobile app gets it from the SDK.
async fn native_id_token(provider: &Provider, nonce: &str) -> String {
    native_id_token_as(provider, nonce, "carol").await
}

async fn native_id_token_as(provider: &Provider, nonce: &str, login: &str) -> String {
    let verifier = "native-app-pkce-verifier-0123456789-0123456789";
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let url = format!(
        "{}/auth?client_id=native&response_type=code&scope=openid%20email&redirect_uri={REDIRECT_URI}\
         &state=s&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        provider.issuer
    );
    let callback = query(&provider.authorize(&url, login, false).await);
    let body: Value = reqwest::Client::new()
        .post(format!("{}/token", provider.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &callback["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "native"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn native_id_tokens_are_verified_for_the_configured_clients_only() {
    let provider = oidc_provider().await;
    let clock = ManualClock::starting_now();
    let id_token = native_id_token(&provider, "n-1").await;

    // Issued to another client than this server's: refused.
    let web_only = web_client(&provider, &clock);
    let err = web_only.verify_id_token(&id_token, None).await.unwrap_err();
    assert!(matches!(err, OAuthError::InvalidIdToken(TokenRejection::WrongAudience)), "{err:?}");

    let config = ProviderConfig::openid_connect("local", &provider.issuer, "web")
        .client_secret("web-secret-0123456789")
        .redirect_uri(REDIRECT_URI)
        .native_client_id("native");
    let social = SocialProvider::new(config, Arc::new(clock.clone())).unwrap();
    let carol = social.verify_id_token(&id_token, Some("n-1")).await.unwrap();
    assert_eq!(carol.subject, "carol");
    let err = social.verify_id_token(&id_token, Some("n-2")).await.unwrap_err();
    assert!(matches!(err, OAuthError::NonceMismatch), "{err:?}");

    // Forged: alg none, a changed subject.
    let mut parts = id_token.split('.');
    let (header, payload) = (parts.next().unwrap(), parts.next().unwrap());
    let none = URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string());
    let err = social.verify_id_token(&format!("{none}.{payload}."), None).await.unwrap_err();
    assert!(matches!(err, OAuthError::InvalidIdToken(TokenRejection::WrongAlgorithm)), "{err:?}");
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"] = json!("admin");
    let forged = format!("{header}.{}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()), parts.next().unwrap());
    let err = social.verify_id_token(&forged, None).await.unwrap_err();
    assert!(matches!(err, OAuthError::InvalidIdToken(TokenRejection::BadSignature)), "{err:?}");

    // Expired.
    clock.advance(chrono::Duration::hours(2));
    let err = social.verify_id_token(&id_token, Some("n-1")).await.unwrap_err();
    assert!(matches!(err, OAuthError::InvalidIdToken(TokenRejection::Expired)), "{err:?}");
}

// ------------------------------------------------------------------------------------------------
// A provider shaped like GitHub's OAuth2 API
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct GitHubState {
    /// code -> (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
}

async fn github_like() -> String {
    use axum::extract::{Form, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};

    type Shared = Arc<Mutex<GitHubState>>;
    async fn authorize(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Redirect {
        assert_eq!(q["code_challenge_method"], "S256");
        let code = format!("code-{}", q["state"]);
        state
            .lock()
            .unwrap()
            .codes
            .insert(code.clone(), (q["code_challenge"].clone(), q["redirect_uri"].clone()));
        Redirect::to(&format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]))
    }
    async fn token(
        State(state): State<Shared>,
        headers: HeaderMap,
        Form(f): Form<HashMap<String, String>>,
    ) -> impl IntoResponse {
        let basic =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("gh-client:gh-secret"));
        let authenticated = headers.get("authorization").is_some_and(|v| v.to_str().unwrap() == basic);
        let entry = state.lock().unwrap().codes.remove(f.get("code").map(String::as_str).unwrap_or_default());
        let verifier = f.get("code_verifier").cloned().unwrap_or_default();
        match entry {
            Some((challenge, _))
                if authenticated
                    && URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes())) == challenge =>
            {
                (
                    StatusCode::OK,
                    axum::Json(
                        json!({"access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email"}),
                    ),
                )
            }
            _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "bad_verification_code"}))),
        }
    }
    fn authorized(headers: &HeaderMap) -> bool {
        headers.get("authorization").is_some_and(|v| v.to_str().unwrap() == "Bearer gho_test")
    }
    async fn user(headers: HeaderMap) -> impl IntoResponse {
        if !authorized(&headers) {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials"})));
        }
        (
            StatusCode::OK,
            axum::Json(json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": null})),
        )
    }
    async fn emails(headers: HeaderMap) -> impl IntoResponse {
        if !authorized(&headers) {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": "Bad credentials"})));
        }
        (
            StatusCode::OK,
            axum::Json(json!([
                {"email": "octo@old.example", "primary": false, "verified": false},
                {"email": "octocat@github.example", "primary": true, "verified": true},
            ])),
        )
    }
    let app = axum::Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(token))
        .route("/user", get(user))
        .route("/user/emails", get(emails))
        .with_state(Shared::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_github_shaped_oauth2_provider_gives_the_primary_verified_email() {
    let base = github_like().await;
    let config = ProviderConfig::oauth2(
        "github",
        &format!("{base}/login/oauth/authorize"),
        &format!("{base}/login/oauth/access_token"),
        &format!("{base}/user"),
        "gh-client",
    )
    .emails_url(format!("{base}/user/emails"))
    .client_secret("gh-secret")
    .redirect_uri(REDIRECT_URI);
    let social = SocialProvider::new(config, Arc::new(ManualClock::starting_now())).unwrap();
    let request = social.authorization_request().await.unwrap();
    assert!(request.pending.nonce.is_none(), "no nonce without OpenID Connect");
    let callback = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&request.url)
        .send()
        .await
        .unwrap()
        .headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let callback = query(&callback);
    let octocat = social.complete(&request.pending, &callback["state"], &callback["code"]).await.unwrap();
    assert_eq!(octocat.subject, "583231");
    assert_eq!(octocat.email.as_deref(), Some("octocat@github.example"));
    assert!(octocat.email_verified);
    assert_eq!(octocat.name.as_deref(), Some("The Octocat"));
    // The code is single use, and a wrong verifier is refused.
    let err = social.complete(&request.pending, &callback["state"], &callback["code"]).await.unwrap_err();
    assert!(
        matches!(err, OAuthError::Provider { ref error, .. } if error == "bad_verification_code"),
        "{err:?}"
    );
    // A native app's access token.
    assert_eq!(social.identity_from_access_token("gho_test").await.unwrap().subject, "583231");
    assert!(social.identity_from_access_token("gho_forged").await.is_err());
}

// ------------------------------------------------------------------------------------------------
// Social login as a first factor, over HTTP on both adapters
// ------------------------------------------------------------------------------------------------

mod over_http {
    use super::*;
    use portcullis::core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Registration};
    use portcullis::flows::{
        AuthEndpoints, AuthService, MfaPolicy, OpaqueTokenConfig, RouterConfig, SessionConfig,
    };
    use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
    use portcullis::oauth::{MemoryLinkedAccountStore, SocialLogin};

    const PASSWORD: &str = "a long enough password";

    pub(super) struct App {
        pub urls: [String; 2],
        pub client: reqwest::Client,
        pub clock: ManualClock,
        pub auth: Arc<AuthService<MemoryUserStore>>,
    }

    /// An app with the contract's routes and social login with two providers on the same
    /// OpenID provider: `trusted` (its verified emails link to existing accounts) and `local`.
    pub(super) async fn start(provider: &Provider) -> App {
        let clock = ManualClock::starting_now();
        let shared: portcullis::core::SharedClock = Arc::new(clock.clone());
        let key = JwtKey::hmac(JwtAlgorithm::HS256, &[9u8; 32]).unwrap();
        let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), shared.clone()).unwrap();
        let store = Arc::new(MemoryUserStore::with_clock(shared.clone()));
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        let mfa = portcullis::mfa::MfaService::new(
            Arc::new(portcullis::mfa::MemoryMfaStore::new()),
            portcullis::mfa::MfaKey::generate(),
            portcullis::mfa::MfaConfig::default(),
        );
        let auth = AuthService::builder(Accounts::new(store, hasher))
            .clock(shared.clone())
            .grants(Arc::new(portcullis::blacklist::MemoryGrantStore::new()))
            .jwt(jwt)
            .opaque_tokens(
                Arc::new(portcullis::token::MemoryOpaqueTokenStore::new()),
                OpaqueTokenConfig::default(),
            )
            .sessions(
                Arc::new(portcullis::session::MemorySessionStore::new()),
                SessionConfig::default().insecure_cookies(true),
            )
            .mfa(mfa, MfaPolicy::default())
            .audit(portcullis::core::audit::AuditLog::new(Arc::new(
                portcullis::core::audit::MemoryAuditStore::new(),
            )))
            .build()
            .unwrap();
        let auth = Arc::new(auth);
        auth.accounts()
            .register(Registration::new("dave", Some("dave@example.com".into()), PASSWORD))
            .await
            .unwrap();
        auth.accounts()
            .register(Registration::new("erin", Some("unverified-erin@example.com".into()), PASSWORD))
            .await
            .unwrap();
        let config = |name: &str| {
            ProviderConfig::openid_connect(name, &provider.issuer, "web")
                .client_secret("web-secret-0123456789")
                .redirect_uri(REDIRECT_URI)
                .native_client_id("native")
        };
        let social = SocialLogin::new(Arc::new(MemoryLinkedAccountStore::new()))
            .provider(SocialProvider::new(config("trusted").trust_email(true), shared.clone()).unwrap())
            .provider(SocialProvider::new(config("local"), shared.clone()).unwrap());
        let social = Arc::new(social);
        let chain: portcullis::core::SharedAuthenticator =
            Arc::new(portcullis::core::FirstPresented::new(vec![
                Arc::new(auth.opaque_token_authenticator()),
                Arc::new(auth.bearer_authenticator()),
                Arc::new(auth.session_authenticator()),
            ]));
        let endpoints = Arc::new(AuthEndpoints::new(Arc::clone(&auth)));
        let table = social.routes(endpoints.route_table(&RouterConfig::default()), Arc::clone(&endpoints));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let axum_url = format!("http://{}", listener.local_addr().unwrap());
        let context = portcullis::axum::AuthContext::new(chain.clone()).with_clock(shared.clone());
        let router = portcullis::axum::mount(table.clone(), context);
        tokio::spawn(async move { axum::serve(listener, router).await });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let poem_url = format!("http://{}", listener.local_addr().unwrap());
        let context = portcullis::poem::AuthContext::new(chain).with_clock(shared);
        let endpoint = poem::EndpointExt::with(portcullis::poem::mount(table, context.clone()), context);
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        App { urls: [axum_url, poem_url], client, clock, auth }
    }

    impl App {
        pub async fn exchange(&self, url: &str, provider: &str, body: Value) -> (u16, Value) {
            let response = self
                .client
                .post(format!("{url}/api/auth/social/{provider}/token"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }

        pub async fn get(&self, url: &str, path: &str, access: &str) -> (u16, Value) {
            let response = self.client.get(format!("{url}{path}")).bearer_auth(access).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }

        pub async fn send(
            &self,
            method: reqwest::Method,
            url: &str,
            path: &str,
            access: &str,
            body: Value,
        ) -> (u16, Value) {
            let response = self
                .client
                .request(method, format!("{url}{path}"))
                .bearer_auth(access)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
    }
}

#[tokio::test]
async fn native_apps_sign_in_through_the_pipeline_and_the_linking_rules_hold_on_both_adapters() {
    let provider = oidc_provider().await;
    let app = over_http::start(&provider).await;
    for url in &app.urls {
        let carol = native_id_token(&provider, "n-carol").await;
        // A new identity: a new, password-less account; a mobile pair.
        let (status, pair) = app
            .exchange(url, "local", json!({"id_token": carol, "nonce": "n-carol", "flow": "mobile"}))
            .await;
        assert_eq!(status, 200, "{pair}");
        let (status, me) = app.get(url, "/api/auth/me", pair["access"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{me}");
        let carol_id = me["id"].clone();
        let user = portcullis::core::UserId::new(carol_id.as_str().unwrap());
        let query = portcullis::core::audit::AuditQuery::new().user(&user);
        let kinds: Vec<String> = app
            .auth
            .audit_log()
            .list(&query)
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
        assert!(
            kinds.contains(&"social_linked".to_owned()) && kinds.contains(&"social_sign_in".to_owned()),
            "{kinds:?}"
        );
        // Signing in again reaches the same account, also as an opaque token.
        let (status, token) =
            app.exchange(url, "local", json!({"id_token": carol, "flow": "token", "name": "cli"})).await;
        assert_eq!(status, 200, "{token}");
        let (_, again) = app.get(url, "/api/auth/me", token["token"].as_str().unwrap()).await;
        assert_eq!(again["id"], carol_id);
        // Her only way to sign in cannot be unlinked.
        let access = pair["access"].as_str().unwrap();
        let (_, accounts) = app.get(url, "/api/auth/social/accounts", access).await;
        let link = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(accounts["accounts"][0]["provider"], "local");
        let (status, body) = app
            .send(
                reqwest::Method::DELETE,
                url,
                &format!("/api/auth/social/accounts/{link}"),
                access,
                json!({}),
            )
            .await;
        assert_eq!((status, body["code"].as_str()), (409, Some("conflict")), "{body}");

        // Forged, wrong nonce, unknown provider, both credentials.
        let (status, body) = app.exchange(url, "local", json!({"id_token": format!("{carol}x")})).await;
        assert_eq!((status, body["code"].as_str()), (401, Some("token_not_valid")), "{body}");
        let (status, _) = app.exchange(url, "local", json!({"id_token": carol, "nonce": "other"})).await;
        assert_eq!(status, 401);
        let (status, _) = app.exchange(url, "nowhere", json!({"id_token": carol})).await;
        assert_eq!(status, 404);
        let (status, _) = app.exchange(url, "local", json!({"id_token": carol, "access_token": "x"})).await;
        assert_eq!(status, 400);
    }
}

#[tokio::test]
async fn existing_accounts_are_linked_only_by_a_trusted_verified_email() {
    let provider = oidc_provider().await;
    let app = over_http::start(&provider).await;
    let url = &app.urls[0];
    let me = |tokens: &Value| tokens["access"].as_str().unwrap().to_owned();

    // `dave@example.com` exists. Through the untrusted provider: a separate account without the
    // address (nothing revealed, nothing linked).
    let dave_token = native_id_token_for(&provider, "dave").await;
    let (status, tokens) = app.exchange(url, "local", json!({"id_token": dave_token})).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, other) = app.get(url, "/api/auth/me", &me(&tokens)).await;
    assert_ne!(other["username"], "dave");
    assert_eq!(other["email"], Value::Null);
    // Through the trusted provider: dave's own account, linked now.
    let (status, tokens) = app.exchange(url, "trusted", json!({"id_token": dave_token})).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, dave) = app.get(url, "/api/auth/me", &me(&tokens)).await;
    assert_eq!(dave["username"], "dave");
    // He has a password, so he may unlink it.
    let (_, accounts) = app.get(url, "/api/auth/social/accounts", &me(&tokens)).await;
    let link = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            reqwest::Method::DELETE,
            url,
            &format!("/api/auth/social/accounts/{link}"),
            &me(&tokens),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, accounts) = app.get(url, "/api/auth/social/accounts", &me(&tokens)).await;
    assert_eq!(accounts["accounts"], json!([]));

    // An unverified address never links, even at a trusted provider.
    let erin_token = native_id_token_for(&provider, "unverified-erin").await;
    let (status, tokens) = app.exchange(url, "trusted", json!({"id_token": erin_token})).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, someone) = app.get(url, "/api/auth/me", &me(&tokens)).await;
    assert_ne!(someone["username"], "erin");
}

#[tokio::test]
async fn a_user_with_mfa_gets_the_mfa_step_after_a_social_sign_in() {
    let provider = oidc_provider().await;
    let app = over_http::start(&provider).await;
    let url = &app.urls[1];
    // dave enrols TOTP after a password sign-in.
    let r = app
        .client
        .post(format!("{url}/api/auth/mobile/sign-in"))
        .json(&json!({"username": "dave", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access"].as_str().unwrap();
    let (status, setup) =
        app.send(reqwest::Method::POST, url, "/api/auth/mfa/totp/setup", access, json!({})).await;
    assert_eq!(status, 200, "{setup}");
    let uri = setup["otpauth_uri"].as_str().unwrap();
    let now = portcullis::core::Clock::unix_seconds(&app.clock);
    let code = totp_rs::Totp::from_url(uri).unwrap().generate(u64::try_from(now).unwrap()).to_string();
    let (status, _) = app
        .send(reqwest::Method::POST, url, "/api/auth/mfa/totp/confirm", access, json!({"code": code}))
        .await;
    assert_eq!(status, 200);

    let dave_token = native_id_token_for(&provider, "dave").await;
    let (status, step) =
        app.exchange(url, "trusted", json!({"id_token": dave_token, "flow": "mobile"})).await;
    assert_eq!(status, 200, "{step}");
    assert_eq!(step["mfa_required"], true, "the MFA step, not a pair: {step}");
    assert!(step.get("access").is_none());
}

/// An id_token of the provider's `native` client for `login`.
async fn native_id_token_for(provider: &Provider, login: &str) -> String {
    native_id_token_as(provider, "n", login).await
}

// ------------------------------------------------------------------------------------------------
// The browser's redirect flow, on both adapters
// ------------------------------------------------------------------------------------------------

const FRONTEND: &str = "http://127.0.0.1:3999";

/// An app per adapter with the redirect flow, each registered at the provider with its callback.
async fn web_apps(provider: &mut Provider) -> Vec<String> {
    use portcullis::core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig};
    use portcullis::flows::{AuthEndpoints, AuthService, RouterConfig, SessionConfig};
    use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
    use portcullis::oauth::{MemoryLinkedAccountStore, SocialLogin, WebFlow};

    let listeners = [
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let urls: Vec<String> = listeners.iter().map(|l| format!("http://{}", l.local_addr().unwrap())).collect();
    provider.add_redirect_uris(urls.iter().map(|u| format!("{u}/api/auth/social/local/callback"))).await;
    for (n, listener) in listeners.into_iter().enumerate() {
        let clock: portcullis::core::SharedClock = Arc::new(ManualClock::starting_now());
        let key = JwtKey::hmac(JwtAlgorithm::HS256, &[9u8; 32]).unwrap();
        let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), clock.clone()).unwrap();
        let store = Arc::new(MemoryUserStore::with_clock(clock.clone()));
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        let auth = AuthService::builder(Accounts::new(store, hasher))
            .clock(clock.clone())
            .grants(Arc::new(portcullis::blacklist::MemoryGrantStore::new()))
            .jwt(jwt)
            .sessions(
                Arc::new(portcullis::session::MemorySessionStore::new()),
                SessionConfig::default().insecure_cookies(true),
            )
            .build()
            .unwrap();
        let auth = Arc::new(auth);
        let config = ProviderConfig::openid_connect("local", &provider.issuer, "web")
            .client_secret("web-secret-0123456789")
            .redirect_uri(format!("{}/api/auth/social/local/callback", urls[n]));
        let web = WebFlow::new(FRONTEND, [n as u8 + 1; 32]).unwrap().insecure_cookies(true);
        let social = SocialLogin::new(Arc::new(MemoryLinkedAccountStore::new()))
            .provider(SocialProvider::new(config, clock.clone()).unwrap())
            .web_flow(web);
        let social = Arc::new(social);
        let chain: portcullis::core::SharedAuthenticator = Arc::new(auth.session_authenticator());
        let endpoints = Arc::new(AuthEndpoints::new(Arc::clone(&auth)));
        let table = social.routes(endpoints.route_table(&RouterConfig::default()), Arc::clone(&endpoints));
        if n == 0 {
            let context = portcullis::axum::AuthContext::new(chain).with_clock(clock);
            let router = portcullis::axum::mount(table, context);
            tokio::spawn(async move { axum::serve(listener, router).await });
        } else {
            let context = portcullis::poem::AuthContext::new(chain).with_clock(clock);
            let endpoint = poem::EndpointExt::with(portcullis::poem::mount(table, context.clone()), context);
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        }
    }
    urls
}

fn new_browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn location(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_redirect_flow_signs_in_with_pkce_and_a_browser_bound_single_use_state() {
    let mut provider = oidc_provider().await;
    let apps = web_apps(&mut provider).await;
    for app in &apps {
        // Start: a redirect to the provider with PKCE, and the sealed state cookie.
        let browser = new_browser();
        let start = browser
            .get(format!("{app}/api/auth/social/local/authorize?flow=session&next=/after"))
            .send()
            .await
            .unwrap();
        let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("portcullis_social=") && cookie.contains("HttpOnly"), "{cookie}");
        let to_provider = location(start).await;
        assert!(to_provider.starts_with(&provider.issuer));
        assert_eq!(query(&to_provider)["code_challenge_method"], "S256");

        // The provider signs the user in and sends the browser back; the session cookies are set.
        let callback = provider.authorize(&to_provider, "walker", false).await;
        assert!(callback.starts_with(app), "{callback}");
        let replay = callback.clone();
        let landed = location(browser.get(&callback).send().await.unwrap()).await;
        assert_eq!(landed, format!("{FRONTEND}/after?social=signed_in"));
        let me = browser.get(format!("{app}/api/auth/me")).send().await.unwrap();
        assert_eq!(me.status(), 200);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["username"], "walker");

        // The same callback again (the browser's cookie is gone): refused.
        let again = location(browser.get(&replay).send().await.unwrap()).await;
        assert_eq!(again, format!("{FRONTEND}?error=invalid_state"));

        // A state started in another browser: refused.
        let other = new_browser();
        let start =
            browser.get(format!("{app}/api/auth/social/local/authorize?flow=session")).send().await.unwrap();
        let to_provider = location(start).await;
        let callback = provider.authorize(&to_provider, "walker", false).await;
        let refused = location(other.get(&callback).send().await.unwrap()).await;
        assert_eq!(refused, format!("{FRONTEND}?error=invalid_state"));

        // The user refuses at the provider: the frontend gets the provider's code, never a 500.
        let start =
            browser.get(format!("{app}/api/auth/social/local/authorize?flow=session")).send().await.unwrap();
        let to_provider = location(start).await;
        let callback = provider.authorize(&to_provider, "walker", true).await;
        let denied = location(browser.get(&callback).send().await.unwrap()).await;
        assert_eq!(denied, format!("{FRONTEND}?error=access_denied"));

        // `next` never leaves the frontend's origin.
        for evil in ["https://evil.example/", "//evil.example/x", "https://127.0.0.1:3999.evil.example/"] {
            let start = new_browser()
                .get(format!("{app}/api/auth/social/local/authorize"))
                .query(&[("next", evil), ("flow", "web")])
                .send()
                .await
                .unwrap();
            let to_provider = location(start).await;
            assert!(to_provider.starts_with(&provider.issuer), "{evil}");
        }
        // ... also where the browser lands after signing in.
        let start = browser
            .get(format!("{app}/api/auth/social/local/authorize"))
            .query(&[("next", "https://evil.example/steal"), ("flow", "session")])
            .send()
            .await
            .unwrap();
        let callback = provider.authorize(&location(start).await, "walker", false).await;
        let landed = location(browser.get(&callback).send().await.unwrap()).await;
        assert_eq!(landed, format!("{FRONTEND}?social=signed_in"));
        let bad_flow = new_browser()
            .get(format!("{app}/api/auth/social/local/authorize?flow=mobile"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad_flow.status(), 400);
        let unknown =
            new_browser().get(format!("{app}/api/auth/social/nowhere/authorize")).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
    }
}

#[tokio::test]
async fn a_signed_in_user_links_a_provider_after_a_recent_sign_in() {
    let provider = oidc_provider().await;
    let app = over_http::start(&provider).await;
    for url in &app.urls {
        let r = app
            .client
            .post(format!("{url}/api/auth/mobile/sign-in"))
            .json(&json!({"username": "erin", "password": "a long enough password"}))
            .send()
            .await
            .unwrap();
        let tokens: Value = r.json().await.unwrap();
        let access = tokens["access"].as_str().unwrap().to_owned();
        let login = format!("frank-{}", &url[url.len() - 5..]);
        let frank = native_id_token_for(&provider, &login).await;
        let (status, link) = app
            .send(
                reqwest::Method::POST,
                url,
                "/api/auth/social/local/link",
                &access,
                json!({"id_token": frank}),
            )
            .await;
        assert_eq!(status, 201, "{link}");
        assert_eq!(link["provider"], "local");
        // The identity now signs in to erin's account, even through the untrusted provider.
        let (status, pair) = app.exchange(url, "local", json!({"id_token": frank})).await;
        assert_eq!(status, 200, "{pair}");
        let (_, me) = app.get(url, "/api/auth/me", pair["access"].as_str().unwrap()).await;
        assert_eq!(me["username"], "erin");
        // Linked once only.
        let (status, body) = app
            .send(
                reqwest::Method::POST,
                url,
                "/api/auth/social/local/link",
                &access,
                json!({"id_token": frank}),
            )
            .await;
        assert_eq!((status, body["code"].as_str()), (409, Some("conflict")), "{body}");
    }
    // An old sign-in needs the password again (an opaque token outlives the window).
    let url = &app.urls[0];
    let r = app
        .client
        .post(format!("{url}/api/auth/token/sign-in"))
        .json(&json!({"username": "erin", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    let issued: Value = r.json().await.unwrap();
    let token = format!("Token {}", issued["token"].as_str().unwrap());
    app.clock.advance(chrono::Duration::minutes(6));
    let grace = native_id_token_for(&provider, "grace").await;
    let link = |body: Value| {
        app.client
            .post(format!("{url}/api/auth/social/local/link"))
            .header("authorization", token.clone())
            .json(&body)
            .send()
    };
    let r = link(json!({"id_token": grace})).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "reauthentication_required");
    let r = link(json!({"id_token": grace, "current_password": "a long enough password"})).await.unwrap();
    assert_eq!(r.status(), 201);
}

/// The served OpenAPI document has the social routes (the redirect flow's too, as it is on), each
/// with its schemas and the shared error body, and every reference resolves.
async fn social_routes_are_documented(srv: &portcullis_tests::TestServer) {
    let text = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().text().await.unwrap();
    let spec = oas3::from_json(&text).expect("parses as OpenAPI 3.1");
    assert!(spec.openapi.starts_with("3.1"));
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/auth/social/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            documented.insert(format!("{method} {path}"));
            assert_eq!(op["tags"][0], "social", "{method} {path}");
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorResponse",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    let expected: std::collections::BTreeSet<String> = [
        "get /api/auth/social/{provider}/authorize",
        "get /api/auth/social/{provider}/callback",
        "post /api/auth/social/{provider}/token",
        "post /api/auth/social/{provider}/link",
        "get /api/auth/social/accounts",
        "delete /api/auth/social/accounts/{id}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    let token = &doc["paths"]["/api/auth/social/{provider}/token"]["post"];
    for status in ["200", "400", "401", "404", "429", "503"] {
        assert!(token["responses"][status].is_object(), "token documents {status}");
    }
    let body = &token["requestBody"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(body, "#/components/schemas/SocialTokenRequest");
    assert!(doc["components"]["schemas"]["SocialSignInResponse"]["oneOf"].is_array());
    let link = &doc["paths"]["/api/auth/social/{provider}/link"]["post"];
    assert!(link["security"].as_array().unwrap().iter().any(|r| r.get("bearer").is_some()));
    let callback = &doc["paths"]["/api/auth/social/{provider}/callback"]["get"];
    assert!(callback["responses"]["302"]["headers"]["Location"].is_object());
    // Every `$ref` resolves.
    fn refs(doc: &Value, value: &Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "dangling {r}");
                }
                map.values().for_each(|v| refs(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(doc, v)),
            _ => {}
        }
    }
    refs(&doc, &doc);
}

#[tokio::test]
async fn the_server_offers_social_login_from_its_settings() {
    use portcullis_tests::{Adapter, Backend, TestServer};
    let provider = oidc_provider().await;
    for adapter in [Adapter::Axum, Adapter::Poem] {
        let issuer = provider.issuer.clone();
        let srv = TestServer::start_on(Backend::Sqlite, adapter, move |s| {
            let mut local = auth_server::config::SocialSettings::oidc("local", &issuer, "web");
            local.client_secret = Some(auth_server::config::Secret::new("web-secret-0123456789"));
            local.native_client_ids = vec!["native".into()];
            s.social = vec![local];
            s.public_url = Some("http://127.0.0.1:8000".into());
            s.social_state_key = Some(auth_server::config::Secret::new("ab".repeat(32)));
        })
        .await
        .unwrap();
        let id_token = native_id_token_for(&provider, "sam").await;
        let r = srv.post("/api/auth/social/local/token", json!({"id_token": id_token})).await;
        assert_eq!(r.status(), 200);
        let pair: Value = r.json().await.unwrap();
        let me: Value =
            srv.get_bearer("/api/auth/me", pair["access"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(me["username"], "sam");
        let accounts = srv.get_bearer("/api/auth/social/accounts", pair["access"].as_str().unwrap()).await;
        let accounts: Value = accounts.json().await.unwrap();
        assert_eq!(accounts["accounts"][0]["provider"], "local", "{accounts}");
        // An API key reads the links but cannot unlink (like every change to how one signs in).
        let r = srv
            .client
            .post(srv.url("/api/auth/api-keys"))
            .bearer_auth(pair["access"].as_str().unwrap())
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let key: Value = r.json().await.unwrap();
        let key = key["key"].as_str().unwrap();
        let r = srv
            .client
            .get(srv.url("/api/auth/social/accounts"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let link = accounts["accounts"][0]["id"].as_str().unwrap();
        let r = srv
            .client
            .delete(srv.url(&format!("/api/auth/social/accounts/{link}")))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        portcullis_tests::assert_error(r, 403, "permission_denied").await;
        social_routes_are_documented(&srv).await;
        // The redirect flow is on: the frontend URL and the state key are set.
        let r = srv.client.get(srv.url("/api/auth/social/local/authorize")).send().await.unwrap();
        assert_eq!(r.status(), 302);
        let to = r.headers()["location"].to_str().unwrap();
        assert!(
            to.starts_with(&provider.issuer)
                && to.contains(
                    "redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fapi%2Fauth%2Fsocial%2Flocal%2Fcallback"
                ),
            "{to}"
        );
    }
}

/// The frontend of the browser walk-through, on its own origin: `/` links to the auth server's
/// redirect flow (and shows an error it was sent back with), `/done` finishes the web flow
/// (refresh cookie → access token → `/me`), `/done-session` reads `/me` with the session cookie.
async fn frontend(listener: tokio::net::TcpListener, api: String) {
    use axum::response::Html;
    use axum::routing::get;
    let script = |body: &str| {
        format!(
            "<!doctype html><meta charset=utf-8><title>frontend</title>{body}<pre id=result></pre><script>\
             const api = {api:?};\
             function done(out) {{ const r = document.getElementById('result'); \
               r.textContent = JSON.stringify(out); r.dataset.done = '1'; }}"
        )
    };
    let index = script(&format!(
        "<a id=web href=\"{api}/api/auth/social/local/authorize?flow=web&next=/done\">web</a>\
         <a id=session href=\"{api}/api/auth/social/local/authorize?flow=session&next=/done-session\">session</a>"
    )) + "if (location.search) done({query: location.search});</script>";
    let done = script("")
        + "(async () => { const out = {query: location.search, visible_cookies: document.cookie};\
             const refresh = await fetch(api + '/api/auth/web/token-refresh', {method: 'POST', credentials: 'include'});\
             out.refresh_status = refresh.status; const tokens = await refresh.json();\
             const me = await fetch(api + '/api/auth/me', {headers: {authorization: 'Bearer ' + tokens.access}});\
             out.me_status = me.status; out.me = await me.json();\
             const again = await fetch(api + '/api/auth/web/token-refresh', {method: 'POST', credentials: 'include'});\
             out.second_refresh_status = again.status; done(out); })()\
             .catch(e => done({error: String(e)}));</script>";
    let done_session = script("")
        + "(async () => { const out = {query: location.search};\
             const me = await fetch(api + '/api/auth/me', {credentials: 'include'});\
             out.me_status = me.status; out.me = await me.json(); done(out); })()\
             .catch(e => done({error: String(e)}));</script>";
    let router = axum::Router::new()
        .route("/", get(move || async move { Html(index) }))
        .route("/done", get(move || async move { Html(done) }))
        .route("/done-session", get(move || async move { Html(done_session) }));
    axum::serve(listener, router).await.unwrap();
}

/// The redirect flow in a real browser (headless Chromium): a frontend on one origin, the
/// `portcullis` server on another of the same site (`localhost`, other ports) and the provider on
/// another site (`127.0.0.1`), as a deployment has them. The server runs with its production
/// cookies (`__Host-`/`__Secure-`, `Secure`: Chromium treats `http://localhost` as secure).
#[tokio::test]
async fn a_browser_walks_through_the_redirect_flow_on_both_adapters() {
    use portcullis_tests::oidc_provider::free_port;
    use portcullis_tests::{Adapter, Backend, TestServer};
    let mut provider = oidc_provider().await;
    for adapter in [Adapter::Axum, Adapter::Poem] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let port = free_port();
        let api = format!("http://localhost:{port}");
        provider.add_redirect_uris([format!("{api}/api/auth/social/local/callback")]).await;
        tokio::spawn(frontend(listener, api.clone()));
        let (issuer, origin) = (provider.issuer.clone(), front.clone());
        let srv = TestServer::start_on(Backend::Sqlite, adapter, move |s| {
            let mut local = auth_server::config::SocialSettings::oidc("local", &issuer, "web");
            local.client_secret = Some(auth_server::config::Secret::new("web-secret-0123456789"));
            s.social = vec![local];
            s.bind = format!("127.0.0.1:{port}").parse().unwrap();
            s.public_url = Some(api);
            s.frontend_url = Some(origin.clone());
            s.allowed_origins = vec![origin];
            s.social_state_key = Some(auth_server::config::Secret::new("cd".repeat(32)));
        })
        .await
        .unwrap();

        let out = portcullis_tests::browser::run(
            "social-walkthrough.mjs",
            &[("FRONTEND", &front), ("LOGIN", "chromium-user")],
        )
        .await;
        let web = &out["web"];
        // Frontend → server → provider (login, consent) → server's callback → frontend.
        let visited: Vec<&str> =
            web["visited"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(visited[1].starts_with(&format!("{}/interaction/", provider.issuer)), "{visited:?}");
        assert_eq!(web["landed"], format!("{front}/done?social=signed_in"), "{web}");
        assert_eq!(web["result"]["refresh_status"], 200, "{web}");
        assert_eq!(web["result"]["me_status"], 200, "{web}");
        assert_eq!(web["result"]["me"]["username"], "chromium-user", "{web}");
        assert_eq!(web["result"]["second_refresh_status"], 200, "rotation works in the browser: {web}");
        // The refresh cookie is HttpOnly, Secure, SameSite=Strict; the state cookie is gone.
        let cookies = web["cookies"].as_array().unwrap();
        let refresh =
            cookies.iter().find(|c| c["name"] == "__Secure-portcullis_refresh").expect("refresh cookie");
        assert_eq!(
            (&refresh["httpOnly"], &refresh["secure"], &refresh["sameSite"]),
            (&json!(true), &json!(true), &json!("Strict"))
        );
        assert!(!web["result"]["visible_cookies"].as_str().unwrap().contains("refresh"), "{web}");
        assert!(cookies.iter().all(|c| !c["name"].as_str().unwrap().contains("social")), "{cookies:?}");

        let session = &out["session"];
        assert_eq!(session["landed"], format!("{front}/done-session?social=signed_in"), "{session}");
        assert_eq!(session["result"]["me_status"], 200, "{session}");
        assert_eq!(session["result"]["me"]["username"], "chromium-user", "{session}");
        assert_eq!(session["result"]["me"]["id"], web["result"]["me"]["id"], "the same linked account");

        // Cancelling at the provider ends on the frontend with the provider's error code.
        let denied = &out["denied"];
        assert_eq!(denied["landed"], format!("{front}/done?error=access_denied"), "{denied}");
        assert_eq!(denied["result"]["refresh_status"], 401, "no refresh cookie: {denied}");
        drop(srv);
    }
}

/// Token exchanges and callbacks count against the sign-in limits of the client's network: past
/// the limit a token exchange is a 429 with `Retry-After` before the credential is looked at, and
/// the redirect flow ends on the frontend with `?error=rate_limited`.
#[tokio::test]
async fn social_sign_ins_are_under_the_per_network_sign_in_limit() {
    use portcullis_tests::{Adapter, Backend, TestServer};
    let mut provider = oidc_provider().await;
    for adapter in [Adapter::Axum, Adapter::Poem] {
        let port = portcullis_tests::oidc_provider::free_port();
        let public = format!("http://127.0.0.1:{port}");
        provider.add_redirect_uris([format!("{public}/api/auth/social/local/callback")]).await;
        let issuer = provider.issuer.clone();
        let srv = TestServer::start_on(Backend::Sqlite, adapter, move |s| {
            let mut local = auth_server::config::SocialSettings::oidc("local", &issuer, "web");
            local.client_secret = Some(auth_server::config::Secret::new("web-secret-0123456789"));
            local.native_client_ids = vec!["native".into()];
            s.social = vec![local];
            s.bind = format!("127.0.0.1:{port}").parse().unwrap();
            s.public_url = Some(public);
            s.social_state_key = Some(auth_server::config::Secret::new("ef".repeat(32)));
            s.signin_limit_per_ip = 3;
        })
        .await
        .unwrap();
        let id_token = native_id_token_for(&provider, "limited").await;
        let forged = format!("{id_token}x");
        for _ in 0..3 {
            let r = srv.post("/api/auth/social/local/token", json!({"id_token": forged})).await;
            assert_eq!(r.status(), 401);
        }
        // The limit refuses before the credential is looked at: a valid one too.
        let r = srv.post("/api/auth/social/local/token", json!({"id_token": id_token})).await;
        assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
        portcullis_tests::assert_error(r, 429, "rate_limited").await;
        // The callback of the redirect flow: back on the frontend with the code.
        let browser = new_browser();
        let start = browser.get(srv.url("/api/auth/social/local/authorize?next=/x")).send().await.unwrap();
        let callback = provider.authorize(&location(start).await, "limited", false).await;
        let landed = location(browser.get(&callback).send().await.unwrap()).await;
        assert!(landed.ends_with("/x?error=rate_limited"), "{landed}");
        // The window passes (the server's clock): signed in.
        srv.clock.advance(chrono::Duration::hours(1));
        let r = srv.post("/api/auth/social/local/token", json!({"id_token": id_token})).await;
        assert_eq!(r.status(), 200);
    }
}

/// With `PORTCULLIS_SOCIAL_TOKEN_KEY` the provider's tokens of a redirect-flow sign-in are kept,
/// sealed, in the link: nothing readable in the database, and the application opens them with
/// `SocialLogin::provider_tokens` and calls the provider's API with them. Without the key nothing
/// is stored.
#[tokio::test]
async fn provider_tokens_are_stored_sealed_only_when_configured() {
    use portcullis::oauth::{ProviderTokenKey, SocialLogin};
    use portcullis_tests::{Adapter, Backend, TestServer};
    let mut provider = oidc_provider().await;
    for (adapter, keep) in [(Adapter::Axum, true), (Adapter::Poem, false)] {
        let port = portcullis_tests::oidc_provider::free_port();
        let public = format!("http://127.0.0.1:{port}");
        provider.add_redirect_uris([format!("{public}/api/auth/social/local/callback")]).await;
        let issuer = provider.issuer.clone();
        let srv = TestServer::start_on(Backend::Sqlite, adapter, move |s| {
            let mut local = auth_server::config::SocialSettings::oidc("local", &issuer, "web");
            local.client_secret = Some(auth_server::config::Secret::new("web-secret-0123456789"));
            s.social = vec![local];
            s.bind = format!("127.0.0.1:{port}").parse().unwrap();
            s.public_url = Some(public);
            s.social_state_key = Some(auth_server::config::Secret::new("ef".repeat(32)));
            s.insecure_cookies = true;
            if keep {
                s.social_token_key = Some(auth_server::config::Secret::new("12".repeat(32)));
            }
        })
        .await
        .unwrap();
        let browser = new_browser();
        let start =
            browser.get(srv.url("/api/auth/social/local/authorize?flow=session")).send().await.unwrap();
        let callback = provider.authorize(&location(start).await, "keeper", false).await;
        let landed = location(browser.get(&callback).send().await.unwrap()).await;
        assert!(landed.ends_with("?social=signed_in"), "{landed}");
        let me: Value = browser.get(srv.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
        let user = portcullis::core::UserId::new(me["id"].as_str().unwrap());

        let db = portcullis::sea_orm::connect(&srv.settings.database_url).await.unwrap();
        let links = Arc::new(portcullis::sea_orm::SeaOrmLinkedAccountStore::new(db));
        let stored =
            portcullis::oauth::LinkedAccountStore::list_for_user(links.as_ref(), &user).await.unwrap();
        let dump = srv.database_dump().await;
        let social =
            SocialLogin::new(links).store_provider_tokens(ProviderTokenKey::new([0x12; 32]).unwrap());
        let tokens = social.provider_tokens(&user, "local").await.unwrap();
        if !keep {
            assert_eq!(stored[0].tokens, None, "nothing stored without the key");
            assert_eq!(tokens, None);
            continue;
        }
        let tokens = tokens.expect("the tokens open with the server's key");
        assert!(stored[0].tokens.as_deref().unwrap().starts_with("v1."));
        assert!(!dump.contains(&tokens.access_token), "sealed at rest");
        assert!(tokens.expires_at.is_some());
        // They are the provider's: its userinfo answers for the user.
        let userinfo: Value = reqwest::Client::new()
            .get(format!("{}/me", provider.issuer))
            .bearer_auth(&tokens.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(userinfo["sub"], "keeper", "{userinfo}");
        // Another key opens nothing.
        let other = SocialLogin::new(Arc::new(portcullis::sea_orm::SeaOrmLinkedAccountStore::new(
            portcullis::sea_orm::connect(&srv.settings.database_url).await.unwrap(),
        )))
        .store_provider_tokens(ProviderTokenKey::new([0x13; 32]).unwrap());
        assert_eq!(other.provider_tokens(&user, "local").await.unwrap(), None);
    }
}
