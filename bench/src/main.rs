//! `portcullis-bench-server`: the real Portcullis auth server (same settings, same routes) plus two
//! routes that run the same trivial handler, for load tests (`bench/load.sh`):
//!
//! - `GET /bench/public`: no authentication;
//! - `GET /bench/protected`: requires a valid Bearer access token (the [`Auth`] extractor);
//! - `GET /bench/authenticated`: the same through [`RequireAuthLayer`] (authentication only);
//! - `GET /bench/guarded`: [`RequireAuthLayer`] with a role guard (`Guard::role("bench")`): the
//!   cost of authorization over `/bench/authenticated`;
//! - `POST /bench/grant-bench-role`: gives the signed-in user the `bench` role (bench server only).
//!
//! Comparing the two isolates the cost of authenticating a request. Settings come from the
//! environment exactly as for `portcullis serve` (`PORTCULLIS_BIND`, `PORTCULLIS_DATABASE_URL`,
//! `PORTCULLIS_JWT_ALGORITHM`, ...).

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
    let context = AuthContext::new(Arc::new(app.auth.bearer_authenticator()));
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
