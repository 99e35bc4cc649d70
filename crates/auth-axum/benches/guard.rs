//! What a guard costs on top of authentication, in process (no sockets, no kernel): one axum
//! router, one HS256 access token with its revocation and user-state checks, and two routes with
//! the same handler, `/authenticated` behind `RequireAuthLayer` alone and `/guarded` behind the
//! same layer with `Guard::role("bench")` (the role resolved through the role store and the
//! user-state cache like every request's). The user holds the role, so both answer 200. Then the
//! guard checks alone (`check_role_guard_only`, `check_composed_guard_only`): the difference
//! between the two routes, measured without two noisy full requests.
//!
//! Run: `cargo bench -p auth-axum --bench guard -- --warm-up-time 1 --measurement-time 5`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use auth_core::{
    Accounts, Guard, MemoryRoleStore, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Registration,
    RoleStore, SharedAuthenticator, SystemClock,
};
use auth_flows::{AuthEndpoints, AuthService};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

fn guard(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let clock = SystemClock::shared();
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), clock.clone()).unwrap();
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let roles = Arc::new(MemoryRoleStore::new());
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::new(MemoryUserStore::new()), hasher))
            .grants(Arc::new(auth_blacklist::MemoryGrantStore::new()))
            .jwt(jwt)
            .roles(roles.clone())
            .build()
            .unwrap(),
    );
    let access = rt.block_on(async {
        let user =
            auth.accounts().register(Registration::new("bench", None, "bench password")).await.unwrap();
        roles.create_role("bench", "", clock.now()).await.unwrap();
        roles.assign_role(&auth_core::AuthUser::id(&user), "bench").await.unwrap();
        let endpoints = AuthEndpoints::new(Arc::clone(&auth));
        let (parts, ()) = http::Request::post("/api/auth/mobile/sign-in")
            .header("content-type", "application/json")
            .body(())
            .unwrap()
            .into_parts();
        let body = br#"{"username":"bench","password":"bench password"}"#;
        let response = endpoints.mobile_sign_in(&parts, body).await;
        let pair: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        pair["access"].as_str().unwrap().to_owned()
    });
    let chain: SharedAuthenticator = Arc::new(auth.bearer_authenticator());
    let context = auth_axum::AuthContext::new(chain);
    let layer = || auth_axum::RequireAuthLayer::new(context.clone());
    let router = Router::new()
        .route("/authenticated", get(|| async { "ok" }).route_layer(layer()))
        .route("/guarded", get(|| async { "ok" }).route_layer(layer().guard(Guard::role("bench"))));
    let request = |path: &str| {
        http::Request::get(path)
            .header("authorization", format!("Bearer {access}"))
            .body(Body::empty())
            .unwrap()
    };
    for path in ["/authenticated", "/guarded"] {
        let status = rt.block_on(router.clone().oneshot(request(path))).unwrap().status();
        assert_eq!(status, 200, "{path}");
    }

    let mut group = c.benchmark_group("guard_hs256");
    for path in ["/authenticated", "/guarded"] {
        group.bench_function(path.trim_start_matches('/'), |b| {
            b.iter(|| {
                let response = rt.block_on(router.clone().oneshot(black_box(request(path)))).unwrap();
                assert_eq!(response.status(), 200);
            });
        });
    }
    // The guard alone, on the principal the layer produced: what `/guarded` adds to
    // `/authenticated`, without the noise of two full requests.
    let principal = rt.block_on(auth.authenticate_access(&access)).expect("the access token authenticates");
    let (parts, ()) = http::Request::get("/guarded").body(()).unwrap().into_parts();
    let role = Guard::role("bench");
    let composed = Guard::any_role(["editor", "bench"]).or(Guard::staff()).and(Guard::scope("notes:read"));
    let now = clock.now();
    group.bench_function("check_role_guard_only", |b| {
        b.iter(|| role.check(Some(black_box(&principal)), black_box(&parts), now).unwrap());
    });
    group.bench_function("check_composed_guard_only", |b| {
        b.iter(|| composed.check(Some(black_box(&principal)), black_box(&parts), now).unwrap());
    });
    group.finish();
}

criterion_group!(benches, guard);
criterion_main!(benches);
