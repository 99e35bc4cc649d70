//! What each credential kind costs to authenticate, in process (no sockets, no kernel): one axum
//! router with the server's authenticator chain (API key, opaque token, JWT, cookie session), a
//! route with the `Auth` extractor (`/protected`), `GET /api/auth/me` (the user read from the user
//! cache) and the same handler without authentication (`/public`), the ceiling. The opaque token,
//! the API key and the session are in the credential caches after their first use (issue 18, goal
//! 1: each at most 1.3x the JWT route), so the stores are not read; their read is what the HTTP
//! load test on SQLite measures (`bench/load.sh`).
//!
//! Run: `cargo bench -p auth-axum --bench credentials -- --warm-up-time 1 --measurement-time 5`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use auth_core::{
    Accounts, FirstPresented, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Registration,
    SharedAuthenticator, SystemClock,
};
use auth_flows::{
    ApiKeyConfig, AuthEndpoints, AuthService, ClientInfo, CreateApiKeyRequest, OpaqueTokenConfig,
    RouterConfig, SessionConfig, SignInOutcome, SignInRequest, TokenSignInRequest,
};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

fn credentials(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let clock = SystemClock::shared();
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), clock.clone()).unwrap();
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::new(MemoryUserStore::new()), hasher))
            .grants(Arc::new(auth_blacklist::MemoryGrantStore::new()))
            .jwt(jwt)
            .opaque_tokens(Arc::new(auth_token::MemoryOpaqueTokenStore::new()), OpaqueTokenConfig::default())
            .api_keys(Arc::new(auth_token::MemoryApiKeyStore::new()), ApiKeyConfig::default())
            .sessions(Arc::new(auth_session::MemorySessionStore::new()), SessionConfig::default())
            .build()
            .unwrap(),
    );
    let login = || serde_json::json!({"username": "bench", "password": "bench password"});
    let headers: Vec<(&str, &str, String)> = rt.block_on(async {
        auth.accounts().register(Registration::new("bench", None, "bench password")).await.unwrap();
        let client = ClientInfo::default();
        let request: SignInRequest = serde_json::from_value(login()).unwrap();
        let pair = match auth.sign_in(&request, &client).await.unwrap() {
            SignInOutcome::Complete(pair) => pair,
            SignInOutcome::MfaRequired(_) => unreachable!(),
        };
        let request: TokenSignInRequest = serde_json::from_value(login()).unwrap();
        let token = match auth.token_sign_in(&request, &client).await.unwrap() {
            SignInOutcome::Complete(issued) => issued.token,
            SignInOutcome::MfaRequired(_) => unreachable!(),
        };
        let request: SignInRequest = serde_json::from_value(login()).unwrap();
        let session = match auth.session_sign_in(&request, &client).await.unwrap() {
            SignInOutcome::Complete(started) => started.session_cookie.split(';').next().unwrap().to_owned(),
            SignInOutcome::MfaRequired(_) => unreachable!(),
        };
        let owner = auth.authenticate_opaque(&token).await.unwrap();
        let create: CreateApiKeyRequest =
            serde_json::from_value(serde_json::json!({"name": "bench"})).unwrap();
        let api_key = auth.create_api_key(&owner, create).await.unwrap().key;
        vec![
            ("jwt_hs256", "authorization", format!("Bearer {}", pair.access)),
            ("opaque_token", "authorization", format!("Token {token}")),
            ("api_key", "x-api-key", api_key),
            ("cookie_session", "cookie", session),
        ]
    });
    let chain: SharedAuthenticator = Arc::new(FirstPresented::new(vec![
        Arc::new(auth.api_key_authenticator()) as SharedAuthenticator,
        Arc::new(auth.opaque_token_authenticator()),
        Arc::new(auth.bearer_authenticator()),
        Arc::new(auth.session_authenticator()),
    ]));
    let context = auth_axum::AuthContext::new(Arc::clone(&chain));
    let router = Router::new()
        .route("/public", get(|| async { "ok" }))
        .route("/protected", get(|auth_axum::Auth(_principal): auth_axum::Auth| async { "ok" }))
        .merge(auth_axum::routes(
            AuthEndpoints::new(Arc::clone(&auth)),
            context.clone(),
            RouterConfig::default(),
        ))
        .layer(context.layer());
    let request = |path: &str, header: Option<(&str, &str)>| {
        let mut builder = http::Request::get(path);
        if let Some((name, value)) = header {
            builder = builder.header(name, value);
        }
        builder.body(Body::empty()).unwrap()
    };
    for (kind, name, value) in &headers {
        for path in ["/protected", "/api/auth/me"] {
            let response = rt.block_on(router.clone().oneshot(request(path, Some((name, value))))).unwrap();
            assert_eq!(response.status(), 200, "{kind} on {path}");
        }
    }

    let mut group = c.benchmark_group("credentials");
    group.bench_function("public", |b| {
        b.iter(|| {
            let response = rt.block_on(router.clone().oneshot(black_box(request("/public", None)))).unwrap();
            assert_eq!(response.status(), 200);
        });
    });
    for (kind, name, value) in &headers {
        group.bench_function(format!("protected/{kind}"), |b| {
            b.iter(|| {
                let response = rt
                    .block_on(router.clone().oneshot(black_box(request("/protected", Some((name, value))))));
                assert_eq!(response.unwrap().status(), 200);
            });
        });
    }
    for (kind, name, value) in
        headers.iter().filter(|(kind, ..)| matches!(*kind, "jwt_hs256" | "cookie_session"))
    {
        group.bench_function(format!("me/{kind}"), |b| {
            b.iter(|| {
                let response = rt.block_on(
                    router.clone().oneshot(black_box(request("/api/auth/me", Some((name, value))))),
                );
                assert_eq!(response.unwrap().status(), 200);
            });
        });
    }
    // The authenticator chain alone, per kind: the difference between the kinds without the
    // router's share.
    for (kind, name, value) in &headers {
        let (parts, ()) =
            http::Request::get("/protected").header(*name, value.as_str()).body(()).unwrap().into_parts();
        group.bench_function(format!("chain_only/{kind}"), |b| {
            b.iter(|| rt.block_on(chain.authenticate(black_box(&parts))).unwrap().unwrap());
        });
    }
    group.finish();
    let [opaque, keys, sessions] = auth.credential_cache_stats();
    eprintln!("credential caches: opaque {opaque:?}, API keys {keys:?}, sessions {sessions:?}");
}

criterion_group!(benches, credentials);
criterion_main!(benches);
