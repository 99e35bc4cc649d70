//! `portcullis-bench-server`: the real Portcullis auth server (same settings, same routes) plus two
//! routes that run the same trivial handler, for load tests (`bench/load.sh`):
//!
//! - `GET /bench/public`: no authentication;
//! - `GET /bench/protected`: requires a valid Bearer access token (the [`Auth`] extractor);
//! - `GET /bench/authenticated`: the same through [`RequireAuthLayer`] (authentication only);
//! - `GET /bench/guarded`: [`RequireAuthLayer`] with a role guard (`Guard::role("bench")`): the
//!   cost of authorization over `/bench/authenticated`;
//! - `POST /bench/grant-bench-role`: gives the signed-in user the `bench` role (bench server only);
//! - `GET /bench/stats`: the in-process caches' sizes and hit counts, the revocation list's size
//!   and the resident memory (bench/scale.sh reports them).
//!
//! The authenticated routes use the server's chain (API key, opaque token, JWT, session cookie),
//! so every credential kind is measured on the same route.
//!
//! Comparing the two isolates the cost of authenticating a request. Settings come from the
//! environment exactly as for `portcullis serve` (`PORTCULLIS_BIND`, `PORTCULLIS_DATABASE_URL`,
//! `PORTCULLIS_JWT_ALGORITHM`, ...).

/// The allocator of the `portcullis` binary (auth-server's default `mimalloc` feature).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use portcullis::axum::{ApiError, Auth, AuthContext, RequireAuthLayer};
use portcullis::core::{
    AuthError, Authenticator, Clock, CredentialMethod, Guard, Principal, SystemClock, UserId,
};
use portcullis::jwt::{JwtService, TokenKind};
use serde_json::{Value, json};

/// The handler both bench routes run: a small constant JSON body.
async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `GET /bench/protected`: the extractor authenticates; the principal is ignored.
async fn protected(Auth(_principal): Auth) -> Json<Value> {
    ok().await
}

/// `POST /bench/grant-bench-role`: creates the `bench` role if needed and assigns it to the caller.
async fn grant_bench_role(
    State(auth): State<Arc<auth_server::app::ServerAuth>>,
    Auth(principal): Auth,
) -> Result<Json<Value>, ApiError> {
    let roles = auth.role_store().ok_or(AuthError::NotFound)?;
    roles.create_role("bench", "load tests", SystemClock.now()).await?;
    roles.assign_role(&principal.user_id, "bench").await?;
    auth.authority_changed(Some(&principal.user_id));
    Ok(Json(json!({ "role": "bench" })))
}

/// `GET /bench/stats`: the sizes of the in-process caches and the process's resident memory.
async fn stats(State(auth): State<Arc<auth_server::app::ServerAuth>>) -> Json<Value> {
    let [opaque, api_keys, sessions] = auth.credential_cache_stats();
    let cache = |s: portcullis::flows::CacheStats| json!({"entries": s.entries, "capacity": s.capacity, "hits": s.hits, "misses": s.misses});
    let (revoked_grants, users_not_before) = auth.revocations().map(|list| list.counts()).unwrap_or_default();
    let rss_kib = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    Json(json!({
        "rss_kib": rss_kib,
        "users_cached": auth.cached_users(),
        "jwt_tokens_cached": auth.jwt().map(JwtService::cached_tokens).unwrap_or(0),
        "revocation_list": {"grants": revoked_grants, "users": users_not_before},
        "opaque_tokens": cache(opaque),
        "api_keys": cache(api_keys),
        "sessions": cache(sessions),
    }))
}

/// The same bearer check without revocation or user-state checks: signature and claims only. The
/// baseline against which the cost of revocation checking is measured.
#[derive(Debug)]
struct StatelessBearer(JwtService);

#[portcullis::core::async_trait]
impl Authenticator for StatelessBearer {
    async fn authenticate(&self, parts: &http::request::Parts) -> Result<Option<Principal>, AuthError> {
        match portcullis::core::http_support::bearer_token(&parts.headers) {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(token)) => {
                let claims = self.0.verify(token, TokenKind::Access)?;
                Ok(Some(Principal::new(UserId::new(claims.sub), CredentialMethod::Jwt)))
            }
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = auth_server::Settings::from_process_env(None)?;
    auth_server::init_tracing(&settings.log, settings.log_json);
    let app = auth_server::app::build(&settings, SystemClock::shared()).await?;
    // The revocation list loaded from the database and followed, as the server does (the scale
    // run's revoked grants are in it, and /bench/stats counts them).
    let _revocations =
        app.auth.start_revocation_sync(std::time::Duration::from_millis(settings.revocation_poll_ms)).await?;
    // The server's own chain: an API key, an opaque token, a JWT, a session cookie.
    let chain: Vec<portcullis::core::SharedAuthenticator> = vec![
        Arc::new(app.auth.api_key_authenticator()),
        Arc::new(app.auth.opaque_token_authenticator()),
        Arc::new(app.auth.bearer_authenticator()),
        Arc::new(app.auth.session_authenticator()),
    ];
    let context = AuthContext::new(Arc::new(portcullis::core::FirstPresented::new(chain)));
    let bench = Router::new()
        .route("/bench/public", get(ok))
        .route("/bench/protected", get(protected).layer(context.clone().layer()))
        .route("/bench/authenticated", get(ok).route_layer(RequireAuthLayer::new(context.clone())))
        .route(
            "/bench/guarded",
            get(ok).route_layer(RequireAuthLayer::new(context.clone()).guard(Guard::role("bench"))),
        )
        .route(
            "/bench/grant-bench-role",
            post(grant_bench_role).with_state(Arc::clone(&app.auth)).layer(context.clone().layer()),
        )
        .route("/bench/stats", get(stats).with_state(Arc::clone(&app.auth)))
        .route(
            "/bench/protected-stateless",
            get(protected).layer(
                AuthContext::new(Arc::new(StatelessBearer(
                    app.auth.jwt().ok_or("the bench server signs JWTs")?.clone(),
                )))
                .layer(),
            ),
        );
    let router = app.router.merge(bench);
    let listener = tokio::net::TcpListener::bind(settings.bind).await?;
    tracing::info!(addr = %listener.local_addr()?, algorithm = %settings.jwt_algorithm, "portcullis-bench-server listening");
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis-bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}
