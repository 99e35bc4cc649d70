//! The adapter's extractors and layers, over real HTTP, with the in-memory user store.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_blacklist::MemoryGrantStore;

use auth_axum::{ApiError, Auth, AuthContext, CurrentUser, RequireAuthLayer, RouterConfig, routes};
use auth_core::{
    Accounts, AuthError, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Registration,
    User,
};
use auth_flows::{AuthEndpoints, AuthService, ClaimMap};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use axum::Router;
use axum::routing::{delete, get};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Harness {
    base: String,
    client: reqwest::Client,
    clock: ManualClock,
    auth: Arc<AuthService<MemoryUserStore>>,
}

async fn whoami(Auth(principal): Auth) -> String {
    principal.user_id.to_string()
}

async fn maybe(auth: Option<Auth>) -> String {
    auth.map_or_else(|| "anonymous".to_owned(), |Auth(p)| p.user_id.to_string())
}

async fn profile(CurrentUser(user): CurrentUser<User>) -> String {
    user.username
}

async fn staff_only(Auth(principal): Auth) -> Result<&'static str, ApiError> {
    if principal.claim("is_staff") == Some(&json!(true)) {
        Ok("deleted")
    } else {
        Err(AuthError::Forbidden.into())
    }
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
    let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let endpoints = AuthEndpoints::new(Arc::clone(&auth));
    let app: Router = Router::new()
        .route("/whoami", get(whoami))
        .route("/maybe", get(maybe))
        .route("/profile", get(profile))
        .route("/items/{id}", delete(staff_only))
        .layer(CurrentUser::<User>::layer(store))
        .layer(context.clone().layer())
        .nest(
            "/private",
            Router::new()
                .route("/data", get(|| async { "secret" }))
                .layer(RequireAuthLayer::new(context.clone())),
        )
        .merge(routes(endpoints, context, RouterConfig::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Harness { base, client: reqwest::Client::new(), clock, auth }
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
    assert_eq!(h.get("/whoami", None).await.status(), StatusCode::UNAUTHORIZED);
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
}

#[tokio::test]
async fn current_user_and_deactivation() {
    let h = start().await;
    let token = h.token("bea", false).await;
    assert_eq!(h.get("/profile", Some(&token)).await.text().await.unwrap(), "bea");
    let user = auth_core::UserStore::find_by_login(h.auth.store().as_ref(), "bea").await.unwrap().unwrap();
    h.auth.set_active(&user.id, false).await.unwrap();
    assert_eq!(h.get("/profile", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.get("/whoami", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn require_auth_layer_protects_a_router() {
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
