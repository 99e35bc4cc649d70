//! A claim requirement on a mapped claim (`tenant`) over real HTTP on both adapters: refresh tokens
//! carry no mapped claims and are not held to it, so a user who meets it signs in, refreshes and
//! uses the new access token; a user who does not gets access tokens that are refused, and a
//! refresh that would mint such a token is refused too.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{
    Accounts, AuthUser, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig, User,
};
use auth_flows::{AuthEndpoints, AuthService, ClaimMap, RouterConfig};
use auth_jwt::{ClaimRequirement, JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use serde_json::{Value, json};

const PASSWORD: &str = "long enough password";

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Axum,
    Poem,
}

struct App {
    base: String,
    client: reqwest::Client,
}

/// Users whose name starts with `acme` belong to tenant `acme`, the others to `initech`; tokens
/// must carry `tenant: acme`.
async fn start(adapter: Adapter) -> App {
    let clock = ManualClock::starting_at_unix(1_800_000_000);
    let shared: auth_core::SharedClock = Arc::new(clock);
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let config = JwtConfig::default().require(ClaimRequirement::value("tenant", json!("acme")));
    let jwt = JwtService::new(config, KeySet::new(key).unwrap(), shared.clone()).unwrap();
    let store = Arc::new(MemoryUserStore::with_clock(shared.clone()));
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let tenant =
        |user: &User| Some(json!(if user.username().starts_with("acme") { "acme" } else { "initech" }));
    let auth = AuthService::builder(Accounts::new(store, hasher))
        .clock(shared.clone())
        .grants(Arc::new(auth_blacklist::MemoryGrantStore::new()))
        .jwt(jwt)
        .claims(ClaimMap::new().function("tenant", tenant))
        .build()
        .unwrap();
    let auth = Arc::new(auth);
    for name in ["acme-ann", "initech-ian"] {
        let registration = auth_core::Registration::new(name, None, PASSWORD);
        auth.accounts().register(registration).await.unwrap();
    }
    let chain: auth_core::SharedAuthenticator = Arc::new(auth.bearer_authenticator());
    let table = AuthEndpoints::new(Arc::clone(&auth)).route_table(&RouterConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    match adapter {
        Adapter::Axum => {
            let router = auth_axum::mount(table, auth_axum::AuthContext::new(chain).with_clock(shared));
            tokio::spawn(async move { axum::serve(listener, router).await });
        }
        Adapter::Poem => {
            let context = auth_poem::AuthContext::new(chain).with_clock(shared);
            let endpoint = poem::EndpointExt::with(auth_poem::mount(table, context.clone()), context);
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        }
    }
    App { base, client: reqwest::Client::new() }
}

impl App {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap()
    }

    async fn sign_in(&self, username: &str) -> Value {
        let r =
            self.post("/api/auth/mobile/sign-in", json!({"username": username, "password": PASSWORD})).await;
        assert_eq!(r.status(), 200, "{username}");
        r.json().await.unwrap()
    }

    async fn me(&self, access: &Value) -> reqwest::Response {
        let url = format!("{}/api/auth/me", self.base);
        self.client.get(url).bearer_auth(access.as_str().unwrap()).send().await.unwrap()
    }

    async fn refresh(&self, refresh: &Value) -> reqwest::Response {
        self.post("/api/auth/mobile/token-refresh", json!({"refresh": refresh})).await
    }
}

async fn a_tenant_requirement_survives_refresh(adapter: Adapter) {
    let app = start(adapter).await;

    // Tenant acme: the access token works, the refresh token (no tenant claim) refreshes, and
    // the refreshed pair works and refreshes again.
    let pair = app.sign_in("acme-ann").await;
    assert_eq!(app.me(&pair["access"]).await.status(), 200);
    let r = app.refresh(&pair["refresh"]).await;
    assert_eq!(r.status(), 200, "{adapter:?}: {}", r.text().await.unwrap());
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(app.me(&refreshed["access"]).await.status(), 200);
    assert_eq!(app.refresh(&refreshed["refresh"]).await.status(), 200);

    // Tenant initech: the access token is refused, and so is a refresh that would mint another.
    let pair = app.sign_in("initech-ian").await;
    let r = app.me(&pair["access"]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = app.refresh(&pair["refresh"]).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "token_not_valid", "{body}");
}

#[tokio::test]
async fn a_tenant_requirement_survives_refresh_on_axum() {
    a_tenant_requirement_survives_refresh(Adapter::Axum).await;
}

#[tokio::test]
async fn a_tenant_requirement_survives_refresh_on_poem() {
    a_tenant_requirement_survives_refresh(Adapter::Poem).await;
}
