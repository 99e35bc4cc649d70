//! The adapter's extractors and middleware, over real HTTP, with the in-memory user store.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_blacklist::MemoryGrantStore;
use std::sync::atomic::{AtomicUsize, Ordering};

use auth_core::{
    Accounts, AuthError, Authenticator, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig,
    Principal, Registration, User,
};
use auth_flows::{AuthEndpoints, AuthService, ClaimMap};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use auth_poem::{
    ApiError, Auth, AuthContext, CurrentUser, MaybeAuth, MaybeCurrentUser, RequireAuth, RouterConfig, routes,
};
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Route, Server, delete, get, handler};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Counts how often the authenticator chain runs: once per request, however many extractors.
#[derive(Debug)]
struct Counting<A> {
    inner: A,
    calls: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl<A: Authenticator> Authenticator for Counting<A> {
    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Option<Principal>, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.authenticate(parts).await
    }
}

struct Harness {
    calls: Arc<AtomicUsize>,
    base: String,
    client: reqwest::Client,
    clock: ManualClock,
    auth: Arc<AuthService<MemoryUserStore>>,
}

#[handler]
async fn whoami(Auth(principal): Auth) -> String {
    principal.user_id.to_string()
}

#[handler]
async fn maybe(MaybeAuth(principal): MaybeAuth) -> String {
    principal.map_or_else(|| "anonymous".to_owned(), |p| p.user_id.to_string())
}

/// poem's blanket `Option<T>` extractor: kept to show why `MaybeAuth` exists.
#[handler]
async fn swallowed(auth: Option<Auth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |Auth(p)| p.user_id.to_string())
}

#[handler]
async fn profile(CurrentUser(user): CurrentUser<User>) -> String {
    user.username
}

#[handler]
async fn maybe_profile(MaybeCurrentUser(user): MaybeCurrentUser<User>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.username)
}

#[handler]
async fn staff_only(Auth(principal): Auth) -> Result<&'static str, ApiError> {
    if principal.claim("is_staff") == Some(&json!(true)) {
        Ok("deleted")
    } else {
        Err(AuthError::Forbidden.into())
    }
}

#[handler]
fn secret() -> &'static str {
    "secret"
}

#[handler]
async fn many(Auth(a): Auth, MaybeAuth(b): MaybeAuth, CurrentUser(user): CurrentUser<User>) -> String {
    assert_eq!(Some(&a), b.as_ref());
    user.username
}

async fn start() -> Harness {
    let clock = ManualClock::starting_now();
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[42u8; 32]).unwrap();
    let jwt =
        JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), Arc::new(clock.clone())).unwrap();
    let store = Arc::new(MemoryUserStore::with_clock(Arc::new(clock.clone())));
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::clone(&store), hasher))
            .grants(Arc::new(MemoryGrantStore::new()))
            .jwt(jwt)
            .claims(ClaimMap::new().attribute("is_staff", "is_staff"))
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = Counting { inner: auth.bearer_authenticator(), calls: Arc::clone(&calls) };
    let api_key: auth_core::SharedAuthenticator = Arc::new(auth.api_key_authenticator());
    let context =
        AuthContext::new(Arc::new(auth_core::FirstPresented::new(vec![api_key, Arc::new(counting)])));
    let endpoints = AuthEndpoints::new(Arc::clone(&auth));
    let app = Route::new()
        .at("/whoami", get(whoami))
        .at("/maybe", get(maybe))
        .at("/swallowed", get(swallowed))
        .at("/profile", get(profile))
        .at("/maybe-profile", get(maybe_profile))
        .at("/items/:id", delete(staff_only))
        .at("/many", get(many))
        .nest(
            "/private",
            Route::new()
                .at("/data", get(secret))
                .at("/many", get(many))
                .with(RequireAuth::new(context.clone())),
        )
        .nest("/", routes(endpoints, context.clone(), RouterConfig::default().json_fallback(true)))
        .with(CurrentUser::<User>::middleware(store))
        .with(context);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(app).await });
    Harness { calls, base, client: reqwest::Client::new(), clock, auth }
}

impl Harness {
    async fn token(&self, username: &str, staff: bool) -> String {
        let registration = Registration::new(username, None, "hunter2-but-longer").staff(staff);
        self.auth.accounts().register(registration).await.unwrap();
        let r = self
            .client
            .post(format!("{}/api/auth/mobile/sign-in", self.base))
            .json(&json!({"username": username, "password": "hunter2-but-longer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["access"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn required_and_optional_principal() {
    let h = start().await;
    let token = h.token("amy", false).await;
    let r = h.get("/whoami", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"portcullis\"");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_authenticated");
    let r = h.get("/whoami", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().is_empty());

    assert_eq!(h.get("/maybe", None).await.text().await.unwrap(), "anonymous");
    assert_ne!(h.get("/maybe", Some(&token)).await.text().await.unwrap(), "anonymous");
    // Optional, but a presented invalid credential is still a 401: never a silent fall-through.
    let r = h.get("/maybe", Some("not-a-jwt")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "token_not_valid");

    // What `MaybeAuth` protects against: poem's `Option<Auth>` swallows the 401.
    assert_eq!(h.get("/swallowed", Some("not-a-jwt")).await.text().await.unwrap(), "anonymous");
}

#[tokio::test]
async fn current_user_and_deactivation() {
    let h = start().await;
    let token = h.token("bea", false).await;
    assert_eq!(h.get("/profile", Some(&token)).await.text().await.unwrap(), "bea");
    assert_eq!(h.get("/maybe-profile", Some(&token)).await.text().await.unwrap(), "bea");
    assert_eq!(h.get("/maybe-profile", None).await.text().await.unwrap(), "anonymous");
    assert_eq!(h.get("/maybe-profile", Some("not-a-jwt")).await.status(), StatusCode::UNAUTHORIZED);
    let user = auth_core::UserStore::find_by_login(h.auth.store().as_ref(), "bea").await.unwrap().unwrap();
    h.auth.set_active(&user.id, false).await.unwrap();
    let r = h.get("/profile", Some(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "token_not_valid");
    assert_eq!(h.get("/maybe-profile", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.get("/whoami", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn require_auth_protects_a_route() {
    let h = start().await;
    let token = h.token("cat", false).await;
    let r = h.get("/private/data", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_authenticated");
    assert_eq!(h.get("/private/data", Some(&token)).await.text().await.unwrap(), "secret");
    h.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(h.get("/private/data", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_permission_is_403() {
    let h = start().await;
    let user = h.token("dan", false).await;
    let staff = h.token("eve", true).await;
    let del = |token: String| h.client.delete(format!("{}/items/1", h.base)).bearer_auth(token).send();
    let r = del(user).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("www-authenticate").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "permission_denied");
    assert_eq!(del(staff).await.unwrap().status(), 200);
}

#[tokio::test]
async fn app_routes_and_contract_routes_compose() {
    let h = start().await;
    let token = h.token("fay", false).await;
    let r = h.get("/api/auth/me", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "fay");
    // Paths neither the app nor the contract knows get the contract's JSON 404.
    let r = h.get("/no/such/path", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"detail": "Not found", "code": "not_found"}));
}

#[tokio::test]
async fn one_authentication_per_request() {
    let h = start().await;
    let token = h.token("gus", false).await;
    for path in ["/many", "/private/many"] {
        let before = h.calls.load(Ordering::SeqCst);
        let r = h.get(path, Some(&token)).await;
        assert_eq!(r.text().await.unwrap(), "gus", "{path}");
        assert_eq!(h.calls.load(Ordering::SeqCst) - before, 1, "{path}");
    }
}
