//! A small notes API on axum, protected by Portcullis with its bundled SQLite user store.
//!
//! | route | who |
//! |---|---|
//! | `GET /notes`, `GET /notes/{id}` | anyone |
//! | `POST /notes {title, body}` | any signed-in user, who owns the new note |
//! | `PUT /notes/{id} {title, body}` | the note's owner |
//! | `DELETE /notes/{id}` | staff (the `is_staff` claim of the access token) |
//! | `GET /preferences`, `PUT /preferences {theme, page_size}` | a browser signed in with a cookie session |
//!
//! Portcullis's own routes (`/api/auth/register`, `/api/auth/mobile/sign-in`, `/api/auth/me`, ...)
//! are merged in, cookie sessions included (`/api/auth/session/sign-in`). The preferences are typed
//! session data: they live in the user's server-side session, not in a table. Users live in SQLite ([`SeaOrmUserStore`]); notes live in memory. Errors use
//! Portcullis's JSON error body (`{"detail", "code"}`) through [`ApiError`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use portcullis::axum::{ApiError, Auth, AuthContext, RouterConfig, routes};
use portcullis::core::{
    Accounts, AuthError, FirstPresented, PasswordHasher, PasswordHasherConfig, SharedAuthenticator,
    SystemClock,
};
use portcullis::flows::{AuthEndpoints, AuthService, ClaimMap, SessionConfig};
use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use portcullis::sea_orm::{SeaOrmGrantStore, SeaOrmSessionStore, SeaOrmUserStore, connect, migrate};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// The Portcullis flows of this app: JWT over the bundled SQLite user store.
pub type AppAuth = AuthService<SeaOrmUserStore>;

/// Any start-up error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A note, as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    /// Identifier.
    pub id: u64,
    /// The id of the user who created it.
    pub owner: String,
    /// Title (not empty).
    pub title: String,
    /// Text.
    pub body: String,
}

/// The body of `POST /notes` and `PUT /notes/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct NoteInput {
    /// Title (not empty).
    pub title: String,
    /// Text.
    pub body: String,
}

/// The notes, in memory.
#[derive(Debug, Default)]
struct Notes {
    last_id: u64,
    by_id: BTreeMap<u64, Note>,
}

type SharedNotes = Arc<RwLock<Notes>>;

/// The routes' state: the notes, and Portcullis (for the session data).
#[derive(Clone)]
struct AppState {
    notes: SharedNotes,
    auth: Arc<AppAuth>,
}

impl FromRef<AppState> for SharedNotes {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.notes)
    }
}

impl FromRef<AppState> for Arc<AppAuth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.auth)
    }
}

/// Display preferences, kept as typed data in the user's cookie session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// `light` or `dark`.
    pub theme: String,
    /// Notes per page (1 to 100).
    pub page_size: u32,
}

impl Default for Preferences {
    fn default() -> Self {
        Self { theme: "light".to_owned(), page_size: 20 }
    }
}

/// The session key of [`Preferences`].
const PREFERENCES: &str = "preferences";

/// The session's preferences (the defaults until set). Other credentials have no session: 403.
async fn get_preferences(Auth(principal): Auth) -> Result<Json<Preferences>, ApiError> {
    if principal.session_data.is_none() {
        return Err(ApiError(AuthError::Forbidden));
    }
    Ok(Json(principal.session_value::<Preferences>(PREFERENCES)?.unwrap_or_default()))
}

/// Stores the preferences in the session (an unsafe method: the CSRF check applies).
async fn put_preferences(
    State(auth): State<Arc<AppAuth>>,
    Auth(principal): Auth,
    input: Result<Json<Preferences>, JsonRejection>,
) -> Result<Json<Preferences>, ApiError> {
    let Json(preferences) =
        input.map_err(|rejection| AuthError::invalid_field("body", rejection.body_text()))?;
    if !matches!(preferences.theme.as_str(), "light" | "dark") {
        return Err(ApiError(AuthError::invalid_field("theme", "must be `light` or `dark`")));
    }
    if !(1..=100).contains(&preferences.page_size) {
        return Err(ApiError(AuthError::invalid_field("page_size", "must be 1 to 100")));
    }
    auth.set_session_value(&principal, PREFERENCES, &preferences).await?;
    Ok(Json(preferences))
}

async fn list_notes(State(notes): State<SharedNotes>) -> Json<Vec<Note>> {
    Json(notes.read().await.by_id.values().cloned().collect())
}

async fn get_note(State(notes): State<SharedNotes>, Path(id): Path<u64>) -> Result<Json<Note>, ApiError> {
    let note = notes.read().await.by_id.get(&id).cloned();
    note.map(Json).ok_or(ApiError(AuthError::NotFound))
}

/// `Auth` comes before the body, so a request without a token is a 401 whatever its body.
async fn create_note(
    State(notes): State<SharedNotes>,
    Auth(principal): Auth,
    input: Result<Json<NoteInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let input = validate(input)?;
    let mut notes = notes.write().await;
    notes.last_id += 1;
    let note = Note {
        id: notes.last_id,
        owner: principal.user_id.to_string(),
        title: input.title,
        body: input.body,
    };
    notes.by_id.insert(note.id, note.clone());
    Ok((StatusCode::CREATED, Json(note)))
}

async fn update_note(
    State(notes): State<SharedNotes>,
    Auth(principal): Auth,
    Path(id): Path<u64>,
    input: Result<Json<NoteInput>, JsonRejection>,
) -> Result<Json<Note>, ApiError> {
    let input = validate(input)?;
    let mut notes = notes.write().await;
    let note = notes.by_id.get_mut(&id).ok_or(AuthError::NotFound)?;
    if note.owner != principal.user_id.as_str() {
        return Err(ApiError(AuthError::Forbidden));
    }
    note.title = input.title;
    note.body = input.body;
    Ok(Json(note.clone()))
}

/// Staff only, whatever the credential: every principal carries the user's current authority
/// (a JWT, a cookie session, ...), so a user demoted a moment ago is refused within a second.
async fn delete_note(
    State(notes): State<SharedNotes>,
    Auth(principal): Auth,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    principal.require_staff()?;
    notes.write().await.by_id.remove(&id).ok_or(AuthError::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A bad body becomes Portcullis's 400 with a field error, like its own endpoints answer.
fn validate(input: Result<Json<NoteInput>, JsonRejection>) -> Result<NoteInput, ApiError> {
    let Json(input) = input.map_err(|rejection| AuthError::invalid_field("body", rejection.body_text()))?;
    if input.title.trim().is_empty() {
        return Err(ApiError(AuthError::invalid_field("title", "must not be empty")));
    }
    Ok(input)
}

/// Portcullis for this app: users in the SQLite database at `database_url` (migrated here, e.g.
/// `sqlite::memory:` or `sqlite://notes.db?mode=rwc`), HS256 tokens signed with `secret`
/// (at least 32 bytes) that carry the user's `is_staff` flag.
pub async fn auth(database_url: &str, secret: &[u8]) -> Result<Arc<AppAuth>, BoxError> {
    let db = connect(database_url).await?;
    migrate(&db).await?;
    let key = JwtKey::hmac(JwtAlgorithm::HS256, secret)?;
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
    let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
    let grants = Arc::new(SeaOrmGrantStore::new(db.clone()));
    let sessions = Arc::new(SeaOrmSessionStore::new(db.clone()));
    let accounts = Accounts::new(Arc::new(SeaOrmUserStore::new(db)), hasher);
    let claims = ClaimMap::new().attribute("is_staff", "is_staff");
    let auth = AuthService::builder(accounts)
        .grants(grants)
        .jwt(jwt)
        .claims(claims)
        .sessions(sessions, SessionConfig::default())
        .build()?;
    Ok(Arc::new(auth))
}

/// The notes routes next to Portcullis's routes, authenticating with `auth`.
pub fn router(auth: Arc<AppAuth>) -> Router {
    // A Bearer access token, else the session cookie (with its CSRF check on unsafe methods).
    let bearer: SharedAuthenticator = Arc::new(auth.bearer_authenticator());
    let session: SharedAuthenticator = Arc::new(auth.session_authenticator());
    let context = AuthContext::new(Arc::new(FirstPresented::new(vec![bearer, session])));
    let state = AppState { notes: SharedNotes::default(), auth: Arc::clone(&auth) };
    let notes = Router::new()
        .route("/notes", get(list_notes).post(create_note))
        .route("/notes/{id}", get(get_note).put(update_note).delete(delete_note))
        .route("/preferences", get(get_preferences).put(put_preferences))
        .with_state(state)
        .layer(context.clone().layer());
    notes.merge(routes(AuthEndpoints::new(auth), context, RouterConfig::default()))
}

/// The whole application: [`auth`] then [`router`].
pub async fn app(database_url: &str, secret: &[u8]) -> Result<Router, BoxError> {
    Ok(router(auth(database_url, secret).await?))
}

/// The README's Rust examples, compiled as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
