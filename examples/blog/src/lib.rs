//! The blog of the DRF authentication tutorial (step 3: articles, their authors, an admin-only
//! view), on axum with Portcullis.
//!
//! | route | who | DRF |
//! |---|---|---|
//! | `GET /api/articles` | anyone: published articles; a signed-in user also their own drafts; `articles:view_drafts` every draft | `IsAuthenticatedOrReadOnly` + `get_queryset` |
//! | `GET /api/articles/{id}` | published: anyone; a draft: its author or `articles:view_drafts` (404 for others) | `IsAuthenticatedOrReadOnly` |
//! | `POST /api/articles {title, body, published}` | any signed-in user, who becomes the author | `IsAuthenticated` + `perform_create` |
//! | `PATCH /api/articles/{id}`, `DELETE /api/articles/{id}` | the author, or `articles:edit` / `articles:delete` (the `editor` role) | `IsOwnerOrReadOnly` |
//! | `GET /api/stats` | staff (or superusers) | `IsAdminUser` |
//! | `/api/auth/...` | Portcullis: register, sign-in (JWT, opaque token, cookie session), me, refresh, API keys, the admin API (the tutorial's `UserViewSet`) | |
//! | `/api/openapi.json`, `/api/docs/` | the OpenAPI document of both (one "Authorize") and the Swagger UI | |
//!
//! Users, roles and credentials live in SQLite (Portcullis's bundled sea-orm stores); articles
//! live in memory. Every credential kind (`Authorization: Bearer <jwt>`, `Authorization: Token
//! <token>`, the session cookie with its CSRF header, `X-API-Key`) reaches the same handlers with
//! the same [`Principal`], whose authority (staff, roles, permissions) is the user's current one.
//! Errors use Portcullis's JSON body (`{"detail", "code"}`) through [`ApiError`]: 401
//! `not_authenticated` without a credential, 403 `permission_denied` (or `insufficient_scope`
//! for an API key without the scope) when the user may not.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use portcullis::axum::{
    ApiError, Auth, AuthContext, Authorized, Guard, IsStaff, Principal, RequireAuthLayer, RouterConfig,
    routes,
};
use portcullis::core::{
    Accounts, AuthError, FirstPresented, PasswordHasher, PasswordHasherConfig, RoleStore,
    SharedAuthenticator, SharedRoleStore, SystemClock, UserId,
};
use portcullis::flows::http::openapi::ErrorResponse;
use portcullis::flows::{ApiKeyConfig, AuthEndpoints, AuthService, OpaqueTokenConfig, SessionConfig};
use portcullis::jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use portcullis::sea_orm::{
    SeaOrmApiKeyStore, SeaOrmGrantStore, SeaOrmOpaqueTokenStore, SeaOrmRoleStore, SeaOrmSessionStore,
    SeaOrmUserStore, connect, migrate,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use utoipa::{OpenApi, ToSchema};

/// The Portcullis flows of this app over the bundled SQLite user store.
pub type AppAuth = AuthService<SeaOrmUserStore>;

/// Any start-up error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The role the app creates at start-up: it may edit, delete and read the drafts of every article.
pub const EDITOR_ROLE: &str = "editor";
/// Edit any article (not only one's own).
pub const ARTICLES_EDIT: &str = "articles:edit";
/// Delete any article (not only one's own).
pub const ARTICLES_DELETE: &str = "articles:delete";
/// See every draft (not only one's own).
pub const ARTICLES_VIEW_DRAFTS: &str = "articles:view_drafts";
/// The scope an API key (or another scope-limited credential) needs to create articles; user
/// credentials without scopes do not need it.
pub const ARTICLES_CREATE_SCOPE: &str = "articles:create";
/// The permissions of [`EDITOR_ROLE`].
pub const EDITOR_PERMISSIONS: [&str; 3] = [ARTICLES_EDIT, ARTICLES_DELETE, ARTICLES_VIEW_DRAFTS];

/// An article, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Article {
    /// Identifier.
    pub id: u64,
    /// The id of the user who wrote it (set from the credential, never from the request body).
    pub author: String,
    /// Title (not empty).
    pub title: String,
    /// Text.
    pub body: String,
    /// Published (visible to everyone) or a draft.
    pub published: bool,
}

/// The body of `POST /api/articles`; unknown fields (`author`, `id`, ...) are a 400.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    /// Title (not empty).
    pub title: String,
    /// Text.
    #[serde(default)]
    pub body: String,
    /// Publish at once (default: a draft).
    #[serde(default)]
    pub published: bool,
}

/// The body of `PATCH /api/articles/{id}`: the fields to change; unknown fields are a 400.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleUpdate {
    /// New title (not empty).
    #[serde(default)]
    pub title: Option<String>,
    /// New text.
    #[serde(default)]
    pub body: Option<String>,
    /// Publish or unpublish.
    #[serde(default)]
    pub published: Option<bool>,
}

/// The answer of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Every article.
    pub articles: usize,
    /// The published ones.
    pub published: usize,
    /// The drafts.
    pub drafts: usize,
    /// Users who wrote at least one article.
    pub authors: usize,
}

/// The articles, in memory.
#[derive(Debug, Default)]
struct Articles {
    last_id: u64,
    by_id: BTreeMap<u64, Article>,
}

type SharedArticles = Arc<RwLock<Articles>>;

/// Whether `principal` (`None`: an anonymous request) may see `article`, the one visibility rule
/// of the list and of every single-article route.
///
/// A published article is public. A draft is visible to its author and to holders of
/// [`ARTICLES_VIEW_DRAFTS`] (the editor role, superusers): exactly [`Principal::owns_or`].
/// For a scope-limited credential (an API key) `owns_or` also asks for the scope, so a key sees
/// drafts, even its owner's, only with the `articles:view_drafts` scope.
fn visible_to(principal: Option<&Principal>, article: &Article) -> bool {
    article.published
        || principal
            .is_some_and(|p| p.owns_or(&UserId::new(article.author.as_str()), ARTICLES_VIEW_DRAFTS).is_ok())
}

/// A draft the principal may not see is answered like a missing article (404, not 403), so that
/// nobody learns which drafts exist.
fn find_visible(articles: &Articles, id: u64, principal: Option<&Principal>) -> Result<Article, ApiError> {
    articles
        .by_id
        .get(&id)
        .filter(|article| visible_to(principal, article))
        .cloned()
        .ok_or(ApiError(AuthError::NotFound))
}

/// The articles the caller may see: the published ones, their own drafts, and every draft with
/// the permission `articles:view_drafts`.
#[utoipa::path(get, path = "/api/articles", tag = "articles", operation_id = "list_articles",
    summary = "Articles: the published ones, your drafts, and every draft with `articles:view_drafts`",
    security((), ("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The articles the caller may see, by id", body = Vec<Article>),
        (status = 401, description = "An invalid credential (none is fine)", body = ErrorResponse),
    ))]
async fn list_articles(
    State(articles): State<SharedArticles>,
    principal: Option<Auth>,
) -> Json<Vec<Article>> {
    // The filtering pattern (DRF's `get_queryset`): the guard on the router only decides whether
    // the request reaches the handler (reads are public); which rows it sees is decided here from
    // the principal's authority, never by refusing the whole list:
    // - anonymous: `published` only;
    // - a signed-in user: `published OR author = principal.user_id` (a scope-limited credential,
    //   an API key, only with the `articles:view_drafts` scope: `owns_or` in `visible_to`);
    // - `principal.has_permission("articles:view_drafts")` (the editor role; a superuser has every
    //   permission): everything.
    // With a database this is the `WHERE` clause (`published OR author = ?`, none for
    // `view_drafts`), so that rows the caller may not see never leave it. Here it is the rule of
    // the single-article routes (`visible_to`) applied to every article.
    let principal = principal.map(|Auth(p)| p);
    let articles = articles.read().await;
    let all = principal.as_ref().is_some_and(|p| p.has_permission(ARTICLES_VIEW_DRAFTS));
    Json(
        articles
            .by_id
            .values()
            .filter(|article| all || visible_to(principal.as_ref(), article))
            .cloned()
            .collect(),
    )
}

/// One article: published ones for everyone, a draft for its author or `articles:view_drafts`.
#[utoipa::path(get, path = "/api/articles/{id}", tag = "articles", operation_id = "get_article",
    summary = "One article",
    params(("id" = u64, Path, description = "Article id")),
    security((), ("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The article", body = Article),
        (status = 401, description = "An invalid credential (none is fine)", body = ErrorResponse),
        (status = 404, description = "No such article, or a draft the caller may not see", body = ErrorResponse),
    ))]
async fn get_article(
    State(articles): State<SharedArticles>,
    principal: Option<Auth>,
    Path(id): Path<u64>,
) -> Result<Json<Article>, ApiError> {
    let principal = principal.map(|Auth(p)| p);
    find_visible(&*articles.read().await, id, principal.as_ref()).map(Json)
}

/// Creates an article whose author is the signed-in user (DRF's `perform_create`).
#[utoipa::path(post, path = "/api/articles", tag = "articles", operation_id = "create_article",
    summary = "Write an article (signed in; an API key needs the `articles:create` scope)",
    request_body = NewArticle,
    security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 201, description = "Created; the author is the caller", body = Article),
        (status = 400, description = "An invalid body or an unknown field (such as `author`)", body = ErrorResponse),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "An API key without the `articles:create` scope", body = ErrorResponse),
    ))]
async fn create_article(
    State(articles): State<SharedArticles>,
    Auth(principal): Auth,
    input: Result<Json<NewArticle>, JsonRejection>,
) -> Result<(StatusCode, Json<Article>), ApiError> {
    principal.require_scope(ARTICLES_CREATE_SCOPE)?;
    let Json(input) = body(input)?;
    check_title(&input.title)?;
    let mut articles = articles.write().await;
    articles.last_id += 1;
    let article = Article {
        id: articles.last_id,
        author: principal.user_id.to_string(),
        title: input.title,
        body: input.body,
        published: input.published,
    };
    articles.by_id.insert(article.id, article.clone());
    Ok((StatusCode::CREATED, Json(article)))
}

/// Changes an article: its author, or anyone with `articles:edit` (DRF's `IsOwnerOrReadOnly`,
/// widened by a permission).
#[utoipa::path(patch, path = "/api/articles/{id}", tag = "articles", operation_id = "update_article",
    summary = "Change an article (its author, or permission `articles:edit`)",
    params(("id" = u64, Path, description = "Article id")),
    request_body = ArticleUpdate,
    security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The changed article", body = Article),
        (status = 400, description = "An invalid body or an unknown field", body = ErrorResponse),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "Neither the author nor `articles:edit`", body = ErrorResponse),
        (status = 404, description = "No such article, or a draft the caller may not see", body = ErrorResponse),
    ))]
async fn update_article(
    State(articles): State<SharedArticles>,
    Auth(principal): Auth,
    Path(id): Path<u64>,
    input: Result<Json<ArticleUpdate>, JsonRejection>,
) -> Result<Json<Article>, ApiError> {
    let Json(input) = body(input)?;
    if let Some(title) = &input.title {
        check_title(title)?;
    }
    let mut articles = articles.write().await;
    let current = find_visible(&articles, id, Some(&principal))?;
    // The object-level check: the author, or the editor role's permission.
    principal.owns_or(&UserId::new(current.author.as_str()), ARTICLES_EDIT)?;
    let article = articles.by_id.get_mut(&id).ok_or(AuthError::NotFound)?;
    if let Some(title) = input.title {
        article.title = title;
    }
    if let Some(body) = input.body {
        article.body = body;
    }
    if let Some(published) = input.published {
        article.published = published;
    }
    Ok(Json(article.clone()))
}

/// Deletes an article: its author, or anyone with `articles:delete`.
#[utoipa::path(delete, path = "/api/articles/{id}", tag = "articles", operation_id = "delete_article",
    summary = "Delete an article (its author, or permission `articles:delete`)",
    params(("id" = u64, Path, description = "Article id")),
    security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "Neither the author nor `articles:delete`", body = ErrorResponse),
        (status = 404, description = "No such article, or a draft the caller may not see", body = ErrorResponse),
    ))]
async fn delete_article(
    State(articles): State<SharedArticles>,
    Auth(principal): Auth,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    let mut articles = articles.write().await;
    let current = find_visible(&articles, id, Some(&principal))?;
    principal.owns_or(&UserId::new(current.author.as_str()), ARTICLES_DELETE)?;
    articles.by_id.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Counts of the articles, for staff (DRF's `IsAdminUser`): the [`Authorized`] extractor checks
/// the [`IsStaff`] policy (401 without a credential, 403 for a non-staff user; an API key needs
/// the `staff` scope).
#[utoipa::path(get, path = "/api/stats", tag = "admin", operation_id = "article_stats",
    summary = "Article counts (staff only)",
    security(("bearer" = []), ("token" = []), ("sessionCookie" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "The counts", body = Stats),
        (status = 401, description = "Not authenticated", body = ErrorResponse),
        (status = 403, description = "Not staff", body = ErrorResponse),
    ))]
async fn stats(_staff: Authorized<IsStaff>, State(articles): State<SharedArticles>) -> Json<Stats> {
    let articles = articles.read().await;
    let published = articles.by_id.values().filter(|a| a.published).count();
    let authors: BTreeSet<&str> = articles.by_id.values().map(|a| a.author.as_str()).collect();
    Json(Stats {
        articles: articles.by_id.len(),
        published,
        drafts: articles.by_id.len() - published,
        authors: authors.len(),
    })
}

/// A bad body becomes Portcullis's 400 with a field error, like its own endpoints answer.
fn body<T>(input: Result<Json<T>, JsonRejection>) -> Result<Json<T>, ApiError> {
    input.map_err(|rejection| ApiError(AuthError::invalid_field("body", rejection.body_text())))
}

fn check_title(title: &str) -> Result<(), ApiError> {
    if title.trim().is_empty() {
        return Err(ApiError(AuthError::invalid_field("title", "must not be empty")));
    }
    Ok(())
}

/// The OpenAPI document of the app's own routes, merged into Portcullis's
/// ([`RouterConfig::openapi_merge`]): its operations name Portcullis's security schemes
/// (`bearer`, `token`, `sessionCookie`, `apiKey`), so one "Authorize" in the Swagger UI serves
/// both.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(list_articles, get_article, create_article, update_article, delete_article, stats),
    components(schemas(Article, NewArticle, ArticleUpdate, Stats, ErrorResponse)),
    tags((name = "articles", description = "The blog's articles (the tutorial's ArticleViewSet)"))
)]
pub struct BlogApi;

/// Creates [`EDITOR_ROLE`] with [`EDITOR_PERMISSIONS`] in `roles` at `now`, where missing (an
/// existing role keeps its permissions and gets any of these it lacks).
pub async fn ensure_editor_role(roles: &dyn RoleStore, now: DateTime<Utc>) -> Result<(), AuthError> {
    roles.create_role(EDITOR_ROLE, "Edits, deletes and reads the drafts of every article", now).await?;
    for permission in EDITOR_PERMISSIONS {
        roles.grant_permission(EDITOR_ROLE, permission).await?;
    }
    Ok(())
}

/// Portcullis for this app: users, roles, grants, opaque tokens, API keys and sessions in the
/// SQLite database at `database_url` (migrated here, e.g. `sqlite::memory:` or
/// `sqlite://blog.db?mode=rwc`); HS256 JWTs signed with `secret` (at least 32 bytes). Creates the
/// `editor` role if missing.
pub async fn auth(database_url: &str, secret: &[u8]) -> Result<Arc<AppAuth>, BoxError> {
    let db = connect(database_url).await?;
    migrate(&db).await?;
    let key = JwtKey::hmac(JwtAlgorithm::HS256, secret)?;
    let clock = SystemClock::shared();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key)?, clock.clone())?;
    let hasher = PasswordHasher::new(PasswordHasherConfig::default())?;
    let roles: SharedRoleStore = Arc::new(SeaOrmRoleStore::new(db.clone()));
    ensure_editor_role(roles.as_ref(), clock.now()).await?;
    let accounts = Accounts::new(Arc::new(SeaOrmUserStore::new(db.clone())), hasher);
    let auth = AuthService::builder(accounts)
        .clock(clock)
        .grants(Arc::new(SeaOrmGrantStore::new(db.clone())))
        .roles(roles)
        .jwt(jwt)
        .opaque_tokens(Arc::new(SeaOrmOpaqueTokenStore::new(db.clone())), OpaqueTokenConfig::default())
        .api_keys(Arc::new(SeaOrmApiKeyStore::new(db.clone())), ApiKeyConfig::default())
        .sessions(Arc::new(SeaOrmSessionStore::new(db)), SessionConfig::default())
        .build()?;
    Ok(Arc::new(auth))
}

/// The blog's routes next to Portcullis's, authenticating with `auth`.
pub fn router(auth: Arc<AppAuth>) -> Router {
    // The first credential presented decides (an invalid one is a 401, never a fall-through): an
    // API key (`X-API-Key`), an opaque token (`Token ...`), a JWT (`Bearer ...`), then the session
    // cookie (with its CSRF check on unsafe methods).
    let api_key: SharedAuthenticator = Arc::new(auth.api_key_authenticator());
    let opaque: SharedAuthenticator = Arc::new(auth.opaque_token_authenticator());
    let bearer: SharedAuthenticator = Arc::new(auth.bearer_authenticator());
    let session: SharedAuthenticator = Arc::new(auth.session_authenticator());
    let context = AuthContext::new(Arc::new(FirstPresented::new(vec![api_key, opaque, bearer, session])))
        .with_clock(auth.clock().clone());
    let articles = SharedArticles::default();

    // DRF's `IsAuthenticatedOrReadOnly` on the whole article router: GET is public, POST, PATCH
    // and DELETE need a credential (401 before the handler runs). `route_layer`: only matched
    // routes are guarded, so an unknown path stays a 404. Finer checks (drafts, ownership) are the
    // handlers', with the principal's authority.
    let read_only_for_anonymous =
        RequireAuthLayer::new(context.clone()).guard(Guard::authenticated().or_read_only());
    let blog = Router::new()
        .route("/api/articles", get(list_articles).post(create_article))
        .route("/api/articles/{id}", get(get_article).patch(update_article).delete(delete_article))
        .route_layer(read_only_for_anonymous)
        // Added after the route layer, so not under it: `Authorized<IsStaff>` guards it.
        .route("/api/stats", get(stats))
        .with_state(articles)
        .layer(context.clone().layer());
    let config = RouterConfig::default().docs_ui(true).openapi_merge(BlogApi::openapi());
    blog.merge(routes(AuthEndpoints::new(auth), context, config))
}

/// The whole application: [`auth`] then [`router`].
pub async fn app(database_url: &str, secret: &[u8]) -> Result<Router, BoxError> {
    Ok(router(auth(database_url, secret).await?))
}

/// The README's Rust examples, compiled as doctests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
