//! Composing Portcullis into an application, over real HTTP: the routes merge into an axum app
//! that has its own fallback and nest into a poem app, under another prefix; a choice of route sets
//! mounts only those; a capability that is not configured is absent (no route, no OpenAPI path, no
//! security scheme); the builder refuses a capability whose prerequisite is missing, naming it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis::blacklist::MemoryGrantStore;
use portcullis::core::{Accounts, MemoryUserStore, PasswordHasher, PasswordHasherConfig, SystemClock};
use portcullis::flows::{
    AuthEndpoints, AuthService, BuildError, Capability, RouteSet, RouterConfig, SessionConfig,
};
use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use serde_json::{Value, json};

type Auth = Arc<AuthService<MemoryUserStore>>;

fn accounts() -> Accounts<MemoryUserStore> {
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    Accounts::new(Arc::new(MemoryUserStore::new()), hasher)
}

fn jwt() -> JwtService {
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[3u8; 32]).unwrap();
    JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), SystemClock::shared()).unwrap()
}

/// JWTs and grants in memory.
fn jwt_auth() -> Auth {
    Arc::new(
        AuthService::builder(accounts())
            .grants(Arc::new(MemoryGrantStore::new()))
            .jwt(jwt())
            .build()
            .unwrap(),
    )
}

/// Cookie sessions only: no JWT key anywhere.
fn sessions_auth() -> Auth {
    let sessions = Arc::new(portcullis::session::MemorySessionStore::new());
    let auth = AuthService::builder(accounts())
        .grants(Arc::new(MemoryGrantStore::new()))
        .sessions(sessions, SessionConfig::default().insecure_cookies(true))
        .build()
        .unwrap();
    Arc::new(auth)
}

async fn serve_axum(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

async fn serve_poem(endpoint: impl poem::Endpoint + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
    base
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Registers alice and signs her in on the mobile flow under `prefix`: the access token.
async fn mobile_sign_in(base: &str, prefix: &str) -> String {
    let client = client();
    let user = json!({"username": "alice", "password": "correct horse battery"});
    let r = client.post(format!("{base}{prefix}/register")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = client.post(format!("{base}{prefix}/mobile/sign-in")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn axum_routes_merge_into_an_app_with_its_own_fallback_under_another_prefix() {
    let auth = jwt_auth();
    let context = portcullis::axum::AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let config = RouterConfig::default().prefix("/auth");
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hello" }))
        .fallback(|| async { (http::StatusCode::NOT_FOUND, "the app's own 404") })
        .merge(portcullis::axum::routes(AuthEndpoints::new(auth), context, config));
    let base = serve_axum(app).await;
    let client = client();

    let access = mobile_sign_in(&base, "/auth").await;
    let r = client.get(format!("{base}/auth/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "alice");
    for path in ["/api/auth/me", "/nowhere"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), r.text().await.unwrap().as_str()),
            (404, "the app's own 404"),
            "{path}"
        );
    }
    assert_eq!(client.get(format!("{base}/hello")).send().await.unwrap().text().await.unwrap(), "hello");

    // The web flow's cookie follows the prefix.
    let user = json!({"username": "alice", "password": "correct horse battery"});
    let r = client.post(format!("{base}/auth/web/sign-in")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("Path=/auth/web;"), "{cookie}");

    // The OpenAPI document names the routes where they are.
    let doc: Value =
        client.get(format!("{base}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/auth/mobile/sign-in"));
    assert!(paths.contains_key("/.well-known/jwks.json"), "JWKS keeps its well-known path");
    assert!(paths.keys().all(|p| !p.starts_with("/api/auth")), "{:?}", paths.keys());
}

#[tokio::test]
async fn poem_routes_nest_into_an_app_under_another_prefix() {
    let auth = jwt_auth();
    let context = portcullis::poem::AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let config = RouterConfig::default().prefix("/auth");
    let app = poem::Route::new()
        .at("/hello", poem::get(poem::endpoint::make_sync(|_| "hello")))
        .nest("/", portcullis::poem::routes(AuthEndpoints::new(auth), context.clone(), config));
    let base = serve_poem(poem::EndpointExt::with(app, context)).await;
    let client = client();

    let access = mobile_sign_in(&base, "/auth").await;
    let r = client.get(format!("{base}/auth/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(client.get(format!("{base}/api/auth/me")).send().await.unwrap().status(), 404);
    assert_eq!(client.get(format!("{base}/hello")).send().await.unwrap().text().await.unwrap(), "hello");
}

#[tokio::test]
async fn a_choice_of_route_sets_mounts_only_those_on_both_adapters() {
    let auth = jwt_auth();
    // django-ninja-simple-jwt's web router alone: registration and the web flow.
    let config = RouterConfig::default().only([RouteSet::Register, RouteSet::WebFlow, RouteSet::Docs]);
    let axum_context = portcullis::axum::AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let poem_context = portcullis::poem::AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let endpoints = AuthEndpoints::new(Arc::clone(&auth));
    let bases = [
        serve_axum(portcullis::axum::routes(endpoints.clone(), axum_context, config.clone())).await,
        serve_poem(portcullis::poem::routes(endpoints, poem_context, config)).await,
    ];
    let client = client();
    for (i, base) in bases.iter().enumerate() {
        let user = json!({"username": format!("user{i}"), "password": "correct horse battery"});
        let r = client.post(format!("{base}/api/auth/register")).json(&user).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let r = client.post(format!("{base}/api/auth/web/sign-in")).json(&user).send().await.unwrap();
        assert_eq!(r.status(), 200, "{base}");
        for path in ["/api/auth/mobile/sign-in", "/api/auth/token/verify", "/healthz"] {
            let r = client.post(format!("{base}{path}")).json(&user).send().await.unwrap();
            assert_eq!(r.status(), 404, "{base}{path} is not mounted");
        }
        let doc: Value =
            client.get(format!("{base}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
        let mut paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/api/auth/register",
                "/api/auth/web/password/change",
                "/api/auth/web/sign-in",
                "/api/auth/web/sign-out",
                "/api/auth/web/token-refresh",
            ]
        );
    }
}

#[tokio::test]
async fn a_capability_not_configured_is_absent_from_routes_and_document() {
    let auth = sessions_auth();
    assert_eq!(auth.capabilities(), vec![Capability::Grants, Capability::Sessions]);
    let context = portcullis::axum::AuthContext::new(Arc::new(auth.session_authenticator()));
    let base =
        serve_axum(portcullis::axum::routes(AuthEndpoints::new(auth), context, RouterConfig::default()))
            .await;
    let client = client();
    let user = json!({"username": "alice", "password": "correct horse battery"});
    let r = client.post(format!("{base}/api/auth/register")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = client.post(format!("{base}/api/auth/session/sign-in")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for path in [
        "/api/auth/mobile/sign-in",
        "/api/auth/web/sign-in",
        "/api/auth/token/sign-in",
        "/api/auth/mfa/verify",
    ] {
        let r = client.post(format!("{base}{path}")).json(&user).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(client.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap().status(), 404);

    let doc: Value =
        client.get(format!("{base}/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/auth/session/sign-in"));
    for absent in
        ["/api/auth/mobile/sign-in", "/api/auth/web/sign-in", "/api/auth/token/sign-in", "/api/auth/mfa"]
    {
        assert!(!paths.contains_key(absent), "{absent}");
    }
    let schemes: Vec<&String> = doc["components"]["securitySchemes"].as_object().unwrap().keys().collect();
    assert_eq!(schemes, ["sessionCookie"]);
    assert_eq!(doc["paths"]["/api/auth/me"]["get"]["security"], json!([{"sessionCookie": []}]));
    assert!(
        doc["paths"]["/api/auth/password/change"]["post"]["responses"].get("200").is_none(),
        "without JWTs a password change never answers with a new pair"
    );
}

#[test]
fn the_builder_names_the_missing_piece() {
    let error = AuthService::builder(accounts()).jwt(jwt()).build().unwrap_err();
    assert!(matches!(
        error,
        BuildError::Missing { capability: Capability::Jwt, missing: Capability::Grants }
    ));
    assert_eq!(error.to_string(), "JWTs need grants: call `.grants(..)` on the builder");
    let sessions = Arc::new(portcullis::session::MemorySessionStore::new());
    let error =
        AuthService::builder(accounts()).sessions(sessions, SessionConfig::default()).build().unwrap_err();
    assert_eq!(error.to_string(), "cookie sessions need grants: call `.grants(..)` on the builder");
    let claims = portcullis::flows::ClaimMap::new().attribute("username", "username");
    let error = AuthService::builder(accounts()).claims(claims).build().unwrap_err();
    assert_eq!(error.to_string(), "`.claims(..)` needs JWTs: call `.jwt(..)` on the builder");
    let claims = portcullis::flows::ClaimMap::new().attribute("sub", "username");
    let error = AuthService::builder(accounts())
        .grants(Arc::new(MemoryGrantStore::new()))
        .jwt(jwt())
        .claims(claims)
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "`sub` is a registered claim and cannot be mapped");
}

/// Lifetimes of any size, even `Duration::MAX`, never panic: expiries saturate at "never" and
/// the flush still runs (the server refuses such settings; a library user may still pass them).
#[tokio::test]
async fn lifetimes_of_any_size_do_not_panic() {
    use chrono::Duration;
    use portcullis::flows::{ClientInfo, FlowConfig, OpaqueTokenConfig, SignInFlow, SignInRequest};
    let jwt_config = JwtConfig::default().access_ttl(Duration::MAX).refresh_ttl(Duration::MAX);
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[3u8; 32]).unwrap();
    let jwt = JwtService::new(jwt_config, KeySet::new(key).unwrap(), SystemClock::shared()).unwrap();
    let auth = AuthService::builder(accounts())
        .config(FlowConfig::default().grant_max_age(Duration::MAX).grant_idle_ttl(Duration::MAX))
        .grants(Arc::new(MemoryGrantStore::new()))
        .jwt(jwt)
        .opaque_tokens(
            Arc::new(portcullis::token::MemoryOpaqueTokenStore::new()),
            OpaqueTokenConfig::default().ttl(Duration::MAX).idle_ttl(Some(Duration::MAX)),
        )
        .sessions(
            Arc::new(portcullis::session::MemorySessionStore::new()),
            SessionConfig::default().ttl(Duration::MAX).idle_ttl(Duration::MAX),
        )
        .build()
        .unwrap();
    let user: portcullis::flows::RegisterRequest =
        serde_json::from_value(json!({"username": "zoe", "password": "correct horse battery"})).unwrap();
    auth.register(user).await.unwrap();
    let request: SignInRequest =
        serde_json::from_value(json!({"username": "zoe", "password": "correct horse battery"})).unwrap();
    for flow in [SignInFlow::Mobile, SignInFlow::Web, SignInFlow::Token { name: None }, SignInFlow::Session] {
        let outcome = auth.password_sign_in(&request, flow.clone(), &ClientInfo::default()).await;
        assert!(outcome.unwrap().complete().is_some(), "{flow:?}");
    }
    auth.flush_expired().await.unwrap();
}
