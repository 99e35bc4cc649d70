//! Parity of the two adapters' guards: the same routes, guarded the same way with
//! `RequireAuthLayer` (axum) / `RequireAuth` (poem) and the `Authorized<P>` extractors, over one
//! `AuthService` with a role store, over real HTTP.
//!
//! Every test runs on three backends, each its own test (`<test>::memory`, `<test>::sqlite`,
//! `<test>::postgres`): the in-memory stores, the sea-orm stores on a temporary SQLite file, and
//! the sea-orm stores on a fresh PostgreSQL database on the server named by
//! `PORTCULLIS_TEST_DATABASE_URL` (without it the PostgreSQL variants are skipped loudly, and fail
//! when `CI` is set).
//!
//! For every user and every credential kind (JWT, opaque token, cookie session, API key) each
//! route must answer the status written in the tables below, the same on both adapters (and the
//! same body and challenge), and the same for all four kinds of one user. API keys are limited by
//! their scopes: a key whose scopes cover everything answers like its user's other credentials,
//! a key without scopes is refused wherever a role, permission, flag or scope is needed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use auth_blacklist::{GrantStore, MemoryGrantStore};
use auth_core::{
    Accounts, AuthUser as _, Clock as _, CredentialMethod, Guard, IsStaff, ManualClock, MemoryRoleStore,
    MemoryUserStore, NewUser, PasswordHasher, PasswordHasherConfig, PathParams, Principal, SharedClock,
    SharedRoleStore, UserStore,
};
use auth_flows::{
    ApiKeyConfig, AuthService, ClientInfo, CreateApiKeyRequest, OpaqueTokenConfig, SessionConfig,
    SignInRequest, TokenSignInRequest,
};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use auth_sea_orm::sea_orm::{ConnectionTrait as _, DatabaseConnection};
use auth_sea_orm::{
    ConnectConfig, SeaOrmApiKeyStore, SeaOrmGrantStore, SeaOrmOpaqueTokenStore, SeaOrmRoleStore,
    SeaOrmSessionStore, SeaOrmUserStore,
};
use poem::listener::TcpAcceptor;
use serde_json::json;

const PASSWORD: &str = "hunter2-but-longer";
/// The scopes of the keys that may do everything their user may.
const FULL_SCOPES: [&str; 5] = ["notes:write", "notes:delete", "role:editor", "staff", "superuser"];
/// How long the flows cache a user's state, authority included (`FlowConfig::user_state_ttl`).
const USER_STATE_TTL: chrono::Duration = chrono::Duration::seconds(1);

auth_core::policy! {
    /// Members of the tenant named in the path (the extractor's path parameters).
    TenantMember = Guard::tenant_param("tenant")
}

/// The app-defined predicate: the path's `user_id` is the principal's own, on a `GET` of a
/// `/profile` path (so it sees the real method, URI and path parameters).
fn own_profile() -> Guard {
    Guard::custom(|principal: &Principal, parts: &http::request::Parts| {
        let param = parts.extensions.get::<PathParams>().and_then(|p| p.get("user_id"));
        param == Some(principal.user_id.as_str())
            && parts.method == http::Method::GET
            && parts.uri.path().ends_with("/profile")
    })
}

/// The users, in the column order of the tables.
const USERS: [&str; 5] = ["pat", "eddie", "stan", "sue", "tina"];

/// One row of the tables: a request and what each user gets.
struct Row {
    method: &'static str,
    /// `{me}` becomes the user's id (`nobody` without a credential).
    path: &'static str,
    /// pat (plain), eddie (editor), stan (staff), sue (superuser), tina (tenant `acme`): with
    /// any user credential, or an API key whose scopes cover everything.
    users: [u16; 5],
    /// The same users with an API key without scopes.
    bare_key: [u16; 5],
    /// Without a credential.
    anonymous: u16,
}

const fn row(
    method: &'static str,
    path: &'static str,
    users: [u16; 5],
    bare_key: [u16; 5],
    anonymous: u16,
) -> Row {
    Row { method, path, users, bare_key, anonymous }
}

#[rustfmt::skip]
const TABLE: &[Row] = &[
    //                                              pat  eddie stan  sue  tina      pat  eddie stan  sue  tina   anon
    row("GET",  "/g/authenticated",                [200, 200, 200, 200, 200],     [200, 200, 200, 200, 200],    401),
    row("GET",  "/g/staff",                        [403, 403, 200, 200, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/g/superuser",                    [403, 403, 403, 200, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/g/editor",                       [403, 200, 403, 403, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/g/notes-delete",                 [403, 200, 403, 200, 403],     [403, 403, 403, 403, 403],    401),
    row("POST", "/g/write",                        [200, 200, 200, 200, 200],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/t/acme/x",                       [403, 403, 403, 403, 200],     [403, 403, 403, 403, 200],    401),
    row("GET",  "/t/globex/x",                     [403, 403, 403, 403, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/g/read-only",                    [200, 200, 200, 200, 200],     [200, 200, 200, 200, 200],    200),
    row("POST", "/g/read-only",                    [200, 200, 200, 200, 200],     [200, 200, 200, 200, 200],    401),
    row("GET",  "/u/{me}/profile",                 [200, 200, 200, 200, 200],     [200, 200, 200, 200, 200],    401),
    row("GET",  "/u/someone-else/profile",         [403, 403, 403, 403, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/g/staff-or-editor",              [403, 200, 200, 200, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/x/staff",                        [403, 403, 200, 200, 403],     [403, 403, 403, 403, 403],    401),
    row("GET",  "/x/acme/member",                  [403, 403, 403, 403, 200],     [403, 403, 403, 403, 200],    401),
    row("GET",  "/x/globex/member",                [403, 403, 403, 403, 403],     [403, 403, 403, 403, 403],    401),
];

/// The credential kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jwt,
    Opaque,
    Session,
    /// An API key with [`FULL_SCOPES`].
    Key,
    /// An API key without scopes.
    BareKey,
}

const USER_KINDS: [Kind; 4] = [Kind::Jwt, Kind::Opaque, Kind::Session, Kind::Key];

/// One user's credentials of every kind.
struct Credentials {
    user_id: String,
    jwt: String,
    opaque: String,
    /// The `Cookie` header: session and CSRF cookies.
    cookies: String,
    csrf: String,
    key: String,
    bare_key: String,
}

/// A user store's users, as the tests need them.
trait Users: UserStore<User = auth_core::User> {}
impl<S: UserStore<User = auth_core::User>> Users for S {}

/// The stores the `AuthService` is built over: all in memory, or all sea-orm on one database.
struct Stores<S> {
    users: Arc<S>,
    roles: SharedRoleStore,
    grants: Arc<dyn GrantStore>,
    opaque_tokens: Arc<dyn auth_token::OpaqueTokenStore>,
    api_keys: Arc<dyn auth_token::ApiKeyStore>,
    sessions: Arc<dyn auth_session::SessionStore>,
}

fn memory_stores(clock: SharedClock) -> Stores<MemoryUserStore> {
    Stores {
        users: Arc::new(MemoryUserStore::with_clock(clock)),
        roles: Arc::new(MemoryRoleStore::new()),
        grants: Arc::new(MemoryGrantStore::new()),
        opaque_tokens: Arc::new(auth_token::MemoryOpaqueTokenStore::new()),
        api_keys: Arc::new(auth_token::MemoryApiKeyStore::new()),
        sessions: Arc::new(auth_session::MemorySessionStore::new()),
    }
}

/// Every store on the (migrated) database `db`, as the server builds them.
fn sea_orm_stores(db: &DatabaseConnection, clock: SharedClock) -> Stores<SeaOrmUserStore> {
    Stores {
        users: Arc::new(SeaOrmUserStore::with_clock(db.clone(), clock)),
        roles: Arc::new(SeaOrmRoleStore::new(db.clone())),
        grants: Arc::new(SeaOrmGrantStore::new(db.clone())),
        opaque_tokens: Arc::new(SeaOrmOpaqueTokenStore::new(db.clone())),
        api_keys: Arc::new(SeaOrmApiKeyStore::new(db.clone())),
        sessions: Arc::new(SeaOrmSessionStore::new(db.clone())),
    }
}

/// Short timeouts: an unreachable database fails the test in seconds.
fn connect_config() -> ConnectConfig {
    ConnectConfig::default()
        .connect_timeout(std::time::Duration::from_secs(5))
        .acquire_timeout(std::time::Duration::from_secs(10))
}

/// Connects to `url` and applies the migrations.
async fn connect_and_migrate(url: &str) -> DatabaseConnection {
    let db = auth_sea_orm::connect_with(url, &connect_config()).await.expect("connect");
    auth_sea_orm::migrate(&db).await.expect("migrate");
    db
}

/// Runs `test` on the in-memory stores.
async fn on_memory<F, Fut>(test: F)
where
    F: FnOnce(Env<MemoryUserStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let clock = ManualClock::starting_at_unix(START_UNIX);
    let stores = memory_stores(Arc::new(clock.clone()));
    test(start(clock, stores).await).await;
}

/// Runs `test` on the sea-orm stores over a temporary SQLite file (deleted afterwards).
async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Env<SeaOrmUserStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    let db = connect_and_migrate(&url).await;
    let clock = ManualClock::starting_at_unix(START_UNIX);
    let stores = sea_orm_stores(&db, Arc::new(clock.clone()));
    test(start(clock, stores).await).await;
}

const PG_URL_VAR: &str = "PORTCULLIS_TEST_DATABASE_URL";

/// The PostgreSQL admin URL from [`PG_URL_VAR`], or `None`: then the PostgreSQL variant is skipped,
/// loudly; under CI (`CI` set) it fails.
fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok() {
                panic!("CI is set but {PG_URL_VAR} is not: the PostgreSQL test `{test}` must run in CI");
            }
            // Straight to stderr, past the test harness's capture, so that the skip shows.
            let line = format!(
                "\n********** SKIPPED: {test}: set {PG_URL_VAR} to run it against PostgreSQL \
                 (export {PG_URL_VAR}=$(.ci/postgres.sh)) **********\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            None
        }
    }
}

/// `url` with its database name replaced by `database` (query string kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..path])
}

/// Runs `test` on the sea-orm stores over a fresh PostgreSQL database `pc_guard_<uuid>`, dropped
/// afterwards (also when the test panics; the panic is then resumed).
async fn on_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Env<SeaOrmUserStore>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_url(name) else { return };
    let admin = auth_sea_orm::connect_with(&admin_url, &connect_config().max_connections(1))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {PG_URL_VAR}: {e}"));
    let database = format!("pc_guard_{}", uuid::Uuid::new_v4().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE \"{database}\"")).await.expect("CREATE DATABASE");

    let url = with_database(&admin_url, &database);
    let outcome = tokio::spawn(async move {
        let db = connect_and_migrate(&url).await;
        let clock = ManualClock::starting_at_unix(START_UNIX);
        let stores = sea_orm_stores(&db, Arc::new(clock.clone()));
        test(start(clock, stores).await).await;
        db.close().await.ok();
    })
    .await;

    // FORCE: the servers of the test still hold pooled connections.
    let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
    if let Err(e) = admin.execute_unprepared(&drop).await {
        eprintln!("could not drop the test database {database}: {e}");
    }
    admin.close().await.ok();
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

/// Three tests running the generic test body `$test`: `$test::memory`, `$test::sqlite` and
/// `$test::postgres`.
macro_rules! on_every_backend {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn memory() {
                super::on_memory(super::$test).await;
            }

            #[tokio::test]
            async fn sqlite() {
                super::on_sqlite(super::$test).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::on_postgres(concat!(stringify!($test), "::postgres"), super::$test).await;
            }
        }
    };
}

/// The manual clock's start (in 2027).
const START_UNIX: i64 = 1_800_000_000;

struct Env<S: UserStore> {
    axum: String,
    poem: String,
    client: reqwest::Client,
    clock: ManualClock,
    auth: Arc<AuthService<S>>,
    roles: SharedRoleStore,
}

async fn ok() -> &'static str {
    "ok"
}

async fn axum_staff(staff: auth_axum::Authorized<IsStaff>) -> String {
    format!("staff {}", staff.user_id)
}

async fn axum_member(member: auth_axum::Authorized<TenantMember>) -> String {
    let principal = member.into_inner();
    format!("member {}", principal.user_id)
}

#[poem::handler]
fn poem_staff(staff: auth_poem::Authorized<IsStaff>) -> String {
    format!("staff {}", staff.user_id)
}

#[poem::handler]
fn poem_member(member: auth_poem::Authorized<TenantMember>) -> String {
    let principal = member.into_inner();
    format!("member {}", principal.user_id)
}

/// The guards of the `/g`, `/t` and `/u` routes: (axum path, poem path, methods, guard).
fn guarded_routes() -> Vec<(&'static str, &'static str, &'static [&'static str], Option<Guard>)> {
    vec![
        ("/g/authenticated", "/g/authenticated", &["GET"], None),
        ("/g/staff", "/g/staff", &["GET"], Some(Guard::staff())),
        ("/g/superuser", "/g/superuser", &["GET"], Some(Guard::superuser())),
        ("/g/editor", "/g/editor", &["GET"], Some(Guard::any_role(["editor"]))),
        ("/g/notes-delete", "/g/notes-delete", &["GET"], Some(Guard::all_permissions(["notes:delete"]))),
        ("/g/write", "/g/write", &["POST"], Some(Guard::scope("notes:write"))),
        ("/t/{tenant}/x", "/t/:tenant/x", &["GET"], Some(Guard::tenant_param("tenant"))),
        ("/g/read-only", "/g/read-only", &["GET", "POST"], Some(Guard::authenticated().or_read_only())),
        ("/u/{user_id}/profile", "/u/:user_id/profile", &["GET"], Some(own_profile())),
        (
            "/g/staff-or-editor",
            "/g/staff-or-editor",
            &["GET"],
            Some(Guard::staff().or(Guard::role("editor"))),
        ),
    ]
}

/// Builds the `AuthService` over `stores` (their clock is `clock`) and starts both adapters.
async fn start<S: Users>(clock: ManualClock, stores: Stores<S>) -> Env<S> {
    let shared_clock: SharedClock = Arc::new(clock.clone());
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), shared_clock.clone()).unwrap();
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let Stores { users, roles, grants, opaque_tokens, api_keys, sessions } = stores;
    let auth = Arc::new(
        AuthService::builder(Accounts::new(users, hasher))
            .clock(shared_clock.clone())
            .roles(roles.clone())
            .grants(grants)
            .jwt(jwt)
            .opaque_tokens(opaque_tokens, OpaqueTokenConfig::default())
            .api_keys(api_keys, ApiKeyConfig::default())
            .sessions(sessions, SessionConfig::default())
            .build()
            .unwrap(),
    );
    // The server's order: an API key, an opaque token, a JWT, then the session cookie (with its
    // CSRF check).
    let chain = || -> auth_core::SharedAuthenticator {
        let api_key: auth_core::SharedAuthenticator = Arc::new(auth.api_key_authenticator());
        let opaque: auth_core::SharedAuthenticator = Arc::new(auth.opaque_token_authenticator());
        let bearer: auth_core::SharedAuthenticator = Arc::new(auth.bearer_authenticator());
        let session: auth_core::SharedAuthenticator = Arc::new(auth.session_authenticator());
        Arc::new(auth_core::FirstPresented::new(vec![api_key, opaque, bearer, session]))
    };

    // axum: one router per guard, applied with `route_layer` (the route is matched first, so the
    // guard sees its path parameters).
    let axum_context = auth_axum::AuthContext::new(chain()).with_clock(shared_clock.clone());
    let mut router = axum::Router::new();
    for (path, _, methods, guard) in guarded_routes() {
        let mut methods_router = axum::routing::MethodRouter::new();
        for method in methods {
            methods_router = match *method {
                "GET" => methods_router.get(ok),
                _ => methods_router.post(ok),
            };
        }
        let mut layer = auth_axum::RequireAuthLayer::new(axum_context.clone());
        if let Some(guard) = guard {
            layer = layer.guard(guard);
        }
        router = router.merge(axum::Router::new().route(path, methods_router).route_layer(layer));
    }
    let router = router
        .route("/x/staff", axum::routing::get(axum_staff))
        .route("/x/{tenant}/member", axum::routing::get(axum_member))
        .layer(axum_context.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // poem: the guard around each route's endpoint (after routing, with the path parameters).
    let poem_context = auth_poem::AuthContext::new(chain()).with_clock(shared_clock);
    let mut route = poem::Route::new();
    for (_, path, methods, guard) in guarded_routes() {
        let mut methods_route = poem::RouteMethod::new();
        for method in methods {
            let endpoint = poem::endpoint::make_sync(|_| "ok");
            methods_route = match *method {
                "GET" => methods_route.get(endpoint),
                _ => methods_route.post(endpoint),
            };
        }
        let mut middleware = auth_poem::RequireAuth::new(poem_context.clone());
        if let Some(guard) = guard {
            middleware = middleware.guard(guard);
        }
        route = route.at(path, poem::EndpointExt::with(methods_route, middleware));
    }
    let endpoint = poem::EndpointExt::with(
        route.at("/x/staff", poem::get(poem_staff)).at("/x/:tenant/member", poem::get(poem_member)),
        poem_context,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let poem = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Env { axum, poem, client, clock, auth, roles }
}

/// `name=value` of a `Set-Cookie` value.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().trim()
}

impl<S: Users> Env<S> {
    /// Creates the five users (the editor's role in the role store) and signs each in with every
    /// credential kind.
    async fn seed(&self) -> Vec<Credentials> {
        self.roles.create_role("editor", "edits notes", self.clock.now()).await.unwrap();
        self.roles.grant_permission("editor", "notes:delete").await.unwrap();
        let hash = self.auth.accounts().hasher().hash(PASSWORD).await.unwrap();
        let mut all = Vec::new();
        for username in USERS {
            let new = NewUser::new(username, None, hash.clone());
            let new = match username {
                "stan" => new.staff(true),
                "sue" => new.superuser(true),
                "tina" => new.tenant(Some("acme".into())),
                _ => new,
            };
            let user = self.auth.store().create_user(new).await.unwrap();
            if username == "eddie" {
                assert!(self.roles.assign_role(&user.id(), "editor").await.unwrap());
            }
            all.push(self.credentials(&user).await);
        }
        all
    }

    async fn credentials(&self, user: &auth_core::User) -> Credentials {
        let username = user.username().to_owned();
        let client = ClientInfo::default();
        let jwt = self.auth.tokens_for(user, &client).await.unwrap().access;
        let request =
            TokenSignInRequest { username: username.clone(), password: PASSWORD.into(), name: None };
        let opaque = self.auth.token_sign_in(&request, &client).await.unwrap().complete().unwrap().token;
        let request: SignInRequest =
            serde_json::from_value(json!({"username": username, "password": PASSWORD})).unwrap();
        let session = self.auth.session_sign_in(&request, &client).await.unwrap().complete().unwrap();
        let csrf_pair = cookie_pair(&session.csrf_cookie);
        let csrf = csrf_pair.split_once('=').unwrap().1.to_owned();
        let cookies = format!("{}; {csrf_pair}", cookie_pair(&session.session_cookie));
        let mut owner = Principal::new(user.id(), CredentialMethod::Jwt);
        owner.auth_time = Some(self.clock.now());
        let create = |scopes: &[&str]| {
            let request: CreateApiKeyRequest =
                serde_json::from_value(json!({"name": "key", "scopes": scopes})).unwrap();
            let auth = Arc::clone(&self.auth);
            let owner = owner.clone();
            async move { auth.create_api_key(&owner, request).await.unwrap().key }
        };
        let key = create(&FULL_SCOPES).await;
        let bare_key = create(&[]).await;
        Credentials { user_id: user.id().to_string(), jwt, opaque, cookies, csrf, key, bare_key }
    }

    /// One request to one adapter: (status, `www-authenticate`, body).
    async fn send(
        &self,
        base: &str,
        method: &str,
        path: &str,
        credential: Option<(&Credentials, Kind)>,
    ) -> (u16, Option<String>, String) {
        let me = credential.map_or("nobody", |(c, _)| c.user_id.as_str());
        let url = format!("{base}{}", path.replace("{me}", me));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let unsafe_method = method != reqwest::Method::GET;
        let mut request = self.client.request(method, url);
        if let Some((c, kind)) = credential {
            request = match kind {
                Kind::Jwt => request.bearer_auth(&c.jwt),
                Kind::Opaque => request.header("authorization", format!("Token {}", c.opaque)),
                Kind::Session => {
                    let request = request.header("cookie", &c.cookies);
                    if unsafe_method { request.header("x-csrf-token", &c.csrf) } else { request }
                }
                Kind::Key => request.header("x-api-key", &c.key),
                Kind::BareKey => request.header("x-api-key", &c.bare_key),
            };
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (status, challenge, response.text().await.unwrap())
    }

    /// Sends the request to both adapters; records a difference when either status is not
    /// `expect` or when they answer differently.
    async fn check(
        &self,
        differences: &mut Vec<String>,
        method: &str,
        path: &str,
        credential: Option<(&Credentials, Kind)>,
        who: &str,
        expect: u16,
    ) {
        let a = self.send(&self.axum, method, path, credential).await;
        let p = self.send(&self.poem, method, path, credential).await;
        let name = format!("{method} {path} as {who}");
        if a.0 != expect || p.0 != expect {
            differences.push(format!("{name}: axum {} poem {} (expected {expect})", a.0, p.0));
        }
        if a != p {
            differences.push(format!("{name}: axum {a:?}\n  poem {p:?}"));
        }
    }
}

fn assert_none(differences: Vec<String>) {
    assert!(differences.is_empty(), "{} difference(s):\n{}", differences.len(), differences.join("\n"));
}

on_every_backend!(guards_answer_alike_for_every_user_and_credential_kind);
async fn guards_answer_alike_for_every_user_and_credential_kind<S: Users>(env: Env<S>) {
    let users = env.seed().await;
    let mut differences = Vec::new();
    for row in TABLE {
        for (i, credentials) in users.iter().enumerate() {
            // Every kind of the same user credential answers the same, written, status.
            for kind in USER_KINDS {
                let who = format!("{} ({kind:?})", USERS[i]);
                env.check(
                    &mut differences,
                    row.method,
                    row.path,
                    Some((credentials, kind)),
                    &who,
                    row.users[i],
                )
                .await;
            }
            let who = format!("{} (BareKey)", USERS[i]);
            let credential = Some((credentials, Kind::BareKey));
            env.check(&mut differences, row.method, row.path, credential, &who, row.bare_key[i]).await;
        }
        env.check(&mut differences, row.method, row.path, None, "anonymous", row.anonymous).await;
    }
    assert_none(differences);
}

on_every_backend!(refusals_carry_the_shared_error_bodies);
/// What the refusals say: 401 with a Bearer challenge, 403 `permission_denied`, 403
/// `insufficient_scope` naming the scope; the same on both adapters (checked above).
async fn refusals_carry_the_shared_error_bodies<S: Users>(env: Env<S>) {
    let users = env.seed().await;
    let pat = &users[0];
    for base in [&env.axum, &env.poem] {
        let (status, challenge, _) = env.send(base, "GET", "/g/staff", None).await;
        assert_eq!(status, 401);
        assert!(challenge.unwrap().starts_with("Bearer"));
        let (status, _, body) = env.send(base, "GET", "/g/staff", Some((pat, Kind::Session))).await;
        assert_eq!(status, 403);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "permission_denied");
        let (status, challenge, body) = env.send(base, "POST", "/g/write", Some((pat, Kind::BareKey))).await;
        assert_eq!(status, 403);
        assert!(challenge.unwrap().contains("notes:write"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"], "insufficient_scope");
        // A cookie-authenticated unsafe request without the CSRF header never reaches the guard.
        let mut no_csrf = env.client.post(format!("{base}/g/read-only")).header("cookie", &pat.cookies);
        no_csrf = no_csrf.header("content-length", "0");
        assert_eq!(no_csrf.send().await.unwrap().status(), 403);
        // The handler behind the extractor got the principal.
        let (status, _, body) =
            env.send(base, "GET", "/x/acme/member", Some((&users[4], Kind::Opaque))).await;
        assert_eq!((status, body), (200, format!("member {}", users[4].user_id)));
    }
}

on_every_backend!(a_removed_role_stops_working_within_the_cache_ttl);
/// A role removed in the role store stops working for every credential kind, on both adapters,
/// once the user-state cache's entry is older than its ttl: the revocation bound, shown with the
/// injected clock.
async fn a_removed_role_stops_working_within_the_cache_ttl<S: Users>(env: Env<S>) {
    let users = env.seed().await;
    let eddie = &users[1];
    let mut differences = Vec::new();
    for kind in USER_KINDS {
        let who = format!("eddie ({kind:?})");
        env.check(&mut differences, "GET", "/g/editor", Some((eddie, kind)), &who, 200).await;
        env.check(&mut differences, "GET", "/g/notes-delete", Some((eddie, kind)), &who, 200).await;
    }
    let user = env.auth.store().find_by_login("eddie").await.unwrap().unwrap();
    assert!(env.roles.unassign_role(&user.id(), "editor").await.unwrap());
    env.clock.advance(USER_STATE_TTL + chrono::Duration::milliseconds(1));
    for kind in USER_KINDS {
        let who = format!("eddie after the role's removal ({kind:?})");
        env.check(&mut differences, "GET", "/g/editor", Some((eddie, kind)), &who, 403).await;
        env.check(&mut differences, "GET", "/g/notes-delete", Some((eddie, kind)), &who, 403).await;
        env.check(&mut differences, "GET", "/g/staff-or-editor", Some((eddie, kind)), &who, 403).await;
        env.check(&mut differences, "GET", "/g/authenticated", Some((eddie, kind)), &who, 200).await;
    }
    assert_none(differences);
}
