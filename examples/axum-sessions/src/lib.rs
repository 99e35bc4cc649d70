//! Cookie sessions on axum, and nothing else: Portcullis built with
//! `--no-default-features --features sessions,axum,sqlite`. No JWT key to configure, no
//! `jsonwebtoken`, no `lettre` in the build (`cargo tree -p axum-sessions -e normal`).
//!
//! | route | who |
//! |---|---|
//! | `GET /whoami` | a signed-in browser (session cookie) |
//! | `GET /visits`, `POST /visits` | a signed-in browser; `POST` is an unsafe method, so it also needs `X-CSRF-Token` equal to the `csrftoken` cookie |
//!
//! Portcullis's routes are merged in: `POST /api/auth/register`, `POST /api/auth/session/sign-in`
//! (sets the HttpOnly session cookie and the readable CSRF cookie), `POST
//! /api/auth/session/sign-out`, `GET /api/auth/me`, `GET /api/auth/sessions`, ... The visit count
//! is typed session data: it lives in the user's server-side session (in SQLite), not in a table.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portcullis::axum::{ApiError, Auth, AuthContext, RouterConfig, routes};
use portcullis::core::{Accounts, PasswordHasher, PasswordHasherConfig, Principal, SystemClock};
use portcullis::flows::{AuthEndpoints, AuthService, SessionConfig};
use portcullis::sea_orm::{SeaOrmGrantStore, SeaOrmSessionStore, SeaOrmUserStore, connect, migrate};
use serde::Serialize;

/// The Portcullis flows of this app: cookie sessions over the bundled SQLite user store.
pub type AppAuth = AuthService<SeaOrmUserStore>;

/// An error of setting the app up.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The session key of the visit count.
const VISITS: &str = "visits";

/// Who is signed in.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
    /// The user's id.
    pub user_id: String,
    /// How they signed in (`pwd`, ...).
    pub amr: Vec<String>,
}

/// The visit count of the session.
#[derive(Debug, Serialize)]
pub struct Visits {
    /// How often `POST /visits` was called in this session.
    pub visits: u64,
}

fn visits(principal: &Principal) -> Result<u64, ApiError> {
    Ok(principal.session_value::<u64>(VISITS)?.unwrap_or(0))
}

async fn whoami(Auth(principal): Auth) -> Json<WhoAmI> {
    Json(WhoAmI { user_id: principal.user_id.to_string(), amr: principal.amr })
}

async fn get_visits(Auth(principal): Auth) -> Result<Json<Visits>, ApiError> {
    Ok(Json(Visits { visits: visits(&principal)? }))
}

/// Counts a visit in the session (the CSRF check ran before: the authenticator refuses an unsafe
/// request without the right `X-CSRF-Token`).
async fn post_visit(
    State(auth): State<Arc<AppAuth>>,
    Auth(principal): Auth,
) -> Result<Json<Visits>, ApiError> {
    let next = visits(&principal)? + 1;
    auth.set_session_value(&principal, VISITS, &next).await.map_err(ApiError)?;
    Ok(Json(Visits { visits: next }))
}

/// Portcullis for this app: users, grants and sessions in the SQLite database at `database_url`
/// (migrated here, e.g. `sqlite::memory:` or `sqlite://sessions.db?mode=rwc`). `insecure_cookies`
/// drops `Secure` (and the `__Host-` prefix) for plain-HTTP development only.
pub async fn auth(database_url: &str, insecure_cookies: bool) -> Result<Arc<AppAuth>, BoxError> {
    let db = connect(database_url).await?;
    migrate(&db).await?;
    let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
    let accounts = Accounts::new(Arc::new(SeaOrmUserStore::new(db.clone())), hasher);
    let auth = AuthService::builder(accounts)
        .clock(SystemClock::shared())
        .grants(Arc::new(SeaOrmGrantStore::new(db.clone())))
        .sessions(
            Arc::new(SeaOrmSessionStore::new(db)),
            SessionConfig::default().insecure_cookies(insecure_cookies),
        )
        .build()?;
    Ok(Arc::new(auth))
}

/// The app's routes next to Portcullis's, every one authenticated by the session cookie.
pub fn router(auth: Arc<AppAuth>) -> Router {
    let context = AuthContext::new(Arc::new(auth.session_authenticator()));
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/visits", get(get_visits).post(post_visit))
        .with_state(Arc::clone(&auth))
        .layer(context.clone().layer());
    app.merge(routes(AuthEndpoints::new(auth), context, RouterConfig::default()))
}
