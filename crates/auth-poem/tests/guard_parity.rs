//! Parity of the two adapters' guards: the same routes, guarded the same way with
//! `RequireAuthLayer` (axum) / `RequireAuth` (poem) and the `Authorized<P>` extractors, over one
//! `AuthService` with a role store, over real HTTP.
//!
//! For every user and every credential kind (JWT, opaque token, cookie session, API key) each
//! route must answer the status written in the tables below, the same on both adapters (and the
//! same body and challenge), and the same for all four kinds of one user. API keys are limited by
//! their scopes: a key whose scopes cover everything answers like its user's other credentials,
//! a key without scopes is refused wherever a role, permission, flag or scope is needed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_blacklist::MemoryGrantStore;
use auth_core::{
    Accounts, AuthUser as _, Clock as _, CredentialMethod, Guard, IsStaff, ManualClock, MemoryRoleStore,
    MemoryUserStore, NewUser, PasswordHasher, PasswordHasherConfig, PathParams, Principal, RoleStore as _,
    UserStore as _,
};
use auth_flows::{
    ApiKeyConfig, AuthService, ClientInfo, CreateApiKeyRequest, OpaqueTokenConfig, SessionConfig,
    SignInRequest, TokenSignInRequest,
};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
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

struct Env {
    axum: String,
    poem: String,
    client: reqwest::Client,
    clock: ManualClock,
    auth: Arc<AuthService<MemoryUserStore>>,
    roles: Arc<MemoryRoleStore>,
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

async fn start() -> Env {
    let clock = ManualClock::starting_at_unix(1_800_000_000);
    let shared_clock: auth_core::SharedClock = Arc::new(clock.clone());
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), shared_clock.clone()).unwrap();
    let store = Arc::new(MemoryUserStore::with_clock(shared_clock.clone()));
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let roles = Arc::new(MemoryRoleStore::new());
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::clone(&store), hasher))
            .clock(shared_clock.clone())
            .roles(roles.clone())
            .grants(Arc::new(MemoryGrantStore::new()))
            .jwt(jwt)
            .opaque_tokens(Arc::new(auth_token::MemoryOpaqueTokenStore::new()), OpaqueTokenConfig::default())
            .api_keys(Arc::new(auth_token::MemoryApiKeyStore::new()), ApiKeyConfig::default())
            .sessions(Arc::new(auth_session::MemorySessionStore::new()), SessionConfig::default())
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

impl Env {
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

#[tokio::test]
async fn guards_answer_alike_for_every_user_and_credential_kind() {
    let env = start().await;
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

/// What the refusals say: 401 with a Bearer challenge, 403 `permission_denied`, 403
/// `insufficient_scope` naming the scope; the same on both adapters (checked above).
#[tokio::test]
async fn refusals_carry_the_shared_error_bodies() {
    let env = start().await;
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

/// A role removed in the role store stops working for every credential kind, on both adapters,
/// once the user-state cache's entry is older than its ttl: the revocation bound, shown with the
/// injected clock.
#[tokio::test]
async fn a_removed_role_stops_working_within_the_cache_ttl() {
    let env = start().await;
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
