//! A small notes API on poem, protected by Portcullis, over the application's **own** user type
//! and table.
//!
//! | route | who |
//! |---|---|
//! | `GET /notes`, `GET /notes/:id` | anyone |
//! | `POST /notes {title, body}` | any signed-in user, who owns the new note |
//! | `PUT /notes/:id {title, body}` | the note's owner |
//! | `DELETE /notes/:id` | moderators (the [`Account`] loaded with `CurrentUser`) |
//!
//! Portcullis's own routes (`/api/auth/register`, `/api/auth/mobile/sign-in`, `/api/auth/me`, ...)
//! are nested in. Users live in this application's `accounts` table ([`store`]): Portcullis
//! reaches it only through the [`AuthUser`](portcullis::core::AuthUser) and
//! [`UserStore`](portcullis::core::UserStore) implementations there. Notes live in memory.

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis::blacklist::MemoryGrantStore;

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{Endpoint, EndpointExt, Route, get, handler};
use portcullis::core::{Accounts, AuthError, PasswordHasher, PasswordHasherConfig, SystemClock};
use portcullis::flows::{AuthEndpoints, AuthService};
use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use portcullis::poem::{ApiError, Auth, AuthContext, CurrentUser, RouterConfig, routes};
use portcullis::sea_orm::connect;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

pub mod store;

pub use store::{Account, AccountStore};

/// The Portcullis flows of this app: JWT over [`AccountStore`].
pub type AppAuth = AuthService<AccountStore>;

/// Any start-up error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A note, as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    /// Identifier.
    pub id: u64,
    /// The id of the account that created it.
    pub owner: String,
    /// Title (not empty).
    pub title: String,
    /// Text.
    pub body: String,
}

/// The body of `POST /notes` and `PUT /notes/:id`.
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

#[handler]
async fn list_notes(notes: Data<&SharedNotes>) -> Json<Vec<Note>> {
    Json(notes.read().await.by_id.values().cloned().collect())
}

#[handler]
async fn get_note(notes: Data<&SharedNotes>, Path(id): Path<u64>) -> Result<Json<Note>, ApiError> {
    let note = notes.read().await.by_id.get(&id).cloned();
    note.map(Json).ok_or(ApiError(AuthError::NotFound))
}

/// `Auth` comes before the body, so a request without a token is a 401 whatever its body.
#[handler]
async fn create_note(
    notes: Data<&SharedNotes>,
    Auth(principal): Auth,
    input: poem::Result<Json<NoteInput>>,
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

#[handler]
async fn update_note(
    notes: Data<&SharedNotes>,
    Auth(principal): Auth,
    Path(id): Path<u64>,
    input: poem::Result<Json<NoteInput>>,
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

/// Moderators only: the flag is read from the account itself, so a change applies at once.
#[handler]
async fn delete_note(
    notes: Data<&SharedNotes>,
    CurrentUser(account): CurrentUser<Account>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    if !account.is_moderator {
        return Err(ApiError(AuthError::Forbidden));
    }
    notes.write().await.by_id.remove(&id).ok_or(AuthError::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A bad body becomes Portcullis's 400 with a field error, like its own endpoints answer.
fn validate(input: poem::Result<Json<NoteInput>>) -> Result<NoteInput, ApiError> {
    let Json(input) = input.map_err(|error| AuthError::invalid_field("body", error.to_string()))?;
    if input.title.trim().is_empty() {
        return Err(ApiError(AuthError::invalid_field("title", "must not be empty")));
    }
    Ok(input)
}

/// Portcullis for this app: accounts in the SQLite database at `database_url` (e.g.
/// `sqlite::memory:` or `sqlite://notes.db?mode=rwc`; the `accounts` table is created if
/// missing), HS256 tokens signed with `secret` (at least 32 bytes).
pub async fn auth(database_url: &str, secret: &[u8]) -> Result<Arc<AppAuth>, BoxError> {
    let store = AccountStore::new(connect(database_url).await?).await?;
    let key = JwtKey::hmac(JwtAlgorithm::HS256, secret)?;
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, SystemClock::shared())?;
    let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
    let accounts = Accounts::new(Arc::new(store), hasher);
    Ok(Arc::new(AuthService::builder(accounts).grants(Arc::new(MemoryGrantStore::new())).jwt(jwt).build()?))
}

/// The notes routes with Portcullis's routes nested at `/`, authenticating with `auth`.
pub fn router(auth: Arc<AppAuth>) -> impl Endpoint + 'static {
    let context = AuthContext::new(Arc::new(auth.bearer_authenticator()));
    let loader = CurrentUser::<Account>::middleware(auth.user_loader());
    let portcullis = routes(AuthEndpoints::new(auth), context.clone(), RouterConfig::default());
    Route::new()
        .at("/notes", get(list_notes).post(create_note))
        .at("/notes/:id", get(get_note).put(update_note).delete(delete_note))
        .nest("/", portcullis)
        .data(SharedNotes::default())
        .with(loader)
        .with(context)
}

/// The whole application: [`auth`] then [`router`].
pub async fn app(database_url: &str, secret: &[u8]) -> Result<impl Endpoint + 'static, BoxError> {
    Ok(router(auth(database_url, secret).await?))
}

/// The README's Rust examples, compiled as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
