//! Parity of the two adapters: the axum router and the poem endpoint, over the same `AuthService`, get
//! the same requests over real HTTP and must give the same statuses, headers and bodies.
//!
//! Only what differs by construction is normalised before comparing: the random parts of issued
//! tokens and user ids (the `access`, `refresh` and `id` JSON fields and the refresh cookie's
//! value), the per-side username of the one successful registration, and `date`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_blacklist::MemoryGrantStore;

use auth_core::{
    Accounts, Clock as _, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Registration,
};
use auth_flows::{AuthEndpoints, AuthService, SignInRequest, TokenPair, WebFlowConfig};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use poem::listener::TcpAcceptor;
use serde_json::{Value, json};

const ALLOWED: &str = "https://app.example.com";
const FOREIGN: &str = "https://evil.example";
const LIMIT: usize = 1024;
/// The recent-sign-in requirement of `/guarded/recent`.
const RECENT: chrono::Duration = chrono::Duration::minutes(2);

struct Pair {
    axum: String,
    poem: String,
    client: reqwest::Client,
    clock: ManualClock,
    auth: Arc<AuthService<MemoryUserStore>>,
}

async fn start(allowed_origins: Vec<String>) -> Pair {
    let clock = ManualClock::starting_at_unix(1_800_000_000);
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
    let jwt =
        JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), Arc::new(clock.clone())).unwrap();
    let store = Arc::new(MemoryUserStore::with_clock(Arc::new(clock.clone())));
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::clone(&store), hasher))
            .grants(Arc::new(MemoryGrantStore::new()))
            .jwt(jwt)
            // Users named `reader…` get access tokens limited to `notes:read` (the scope guard's cases).
            .claims(auth_flows::ClaimMap::new().function("scope", |user: &auth_core::User| {
                auth_core::AuthUser::username(user).starts_with("reader").then(|| json!("notes:read"))
            }))
            .api_keys(Arc::new(auth_token::MemoryApiKeyStore::new()), auth_flows::ApiKeyConfig::default())
            .mfa(
                auth_mfa::MfaService::new(
                    Arc::new(auth_mfa::MemoryMfaStore::new()),
                    auth_mfa::MfaKey::generate(),
                    auth_mfa::MfaConfig::default(),
                ),
                auth_flows::MfaPolicy::default(),
            )
            .account_emails(
                Arc::new(auth_core::account_tokens::MemoryAccountTokenStore::new()),
                Arc::new(auth_mail::MemoryMailer::new()),
                auth_flows::AccountEmailConfig::new("https://app.example.test").unwrap(),
            )
            .build()
            .unwrap(),
    );
    // API keys first, then JWTs: the scope guard below limits keys to their scopes.
    let chain = || -> auth_core::SharedAuthenticator {
        let api_key: auth_core::SharedAuthenticator = Arc::new(auth.api_key_authenticator());
        let bearer: auth_core::SharedAuthenticator = Arc::new(auth.bearer_authenticator());
        Arc::new(auth_core::FirstPresented::new(vec![api_key, bearer]))
    };
    let web = WebFlowConfig::new(86_400).allowed_origins(allowed_origins);
    let endpoints = AuthEndpoints::new(Arc::clone(&auth)).with_web_flow(web);

    let shared_clock: auth_core::SharedClock = Arc::new(clock.clone());
    let axum_context = auth_axum::AuthContext::new(chain()).with_clock(shared_clock.clone());
    let guard = || auth_axum::RequireAuthLayer::new(axum_context.clone());
    let scoped = axum::Router::new()
        .route("/scoped/write", axum::routing::get(|| async { "written" }))
        .layer(guard().require_scope("notes:write"))
        .merge(
            axum::Router::new()
                .route("/guarded/mfa", axum::routing::get(|| async { "second factor" }))
                .layer(guard().require_mfa()),
        )
        .merge(
            axum::Router::new()
                .route("/guarded/recent", axum::routing::get(|| async { "recent" }))
                .layer(guard().require_mfa().require_recent_auth(RECENT)),
        );
    let router = auth_axum::routes(
        endpoints.clone(),
        axum_context,
        auth_axum::RouterConfig::default().body_limit(LIMIT).json_fallback(true),
    )
    .merge(scoped);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let poem_context = auth_poem::AuthContext::new(chain()).with_clock(shared_clock);
    let text = |body: &'static str| poem::get(poem::endpoint::make_sync(move |_| body));
    let endpoint = poem::EndpointExt::boxed(
        poem::Route::new()
            .at(
                "/guarded/mfa",
                poem::EndpointExt::with(
                    text("second factor"),
                    auth_poem::RequireAuth::new(poem_context.clone()).require_mfa(),
                ),
            )
            .at(
                "/guarded/recent",
                poem::EndpointExt::with(
                    text("recent"),
                    auth_poem::RequireAuth::new(poem_context.clone())
                        .require_mfa()
                        .require_recent_auth(RECENT),
                ),
            )
            .at(
                "/scoped/write",
                poem::EndpointExt::with(
                    poem::get(poem::endpoint::make_sync(|_| "written")),
                    auth_poem::RequireAuth::new(poem_context.clone()).require_scope("notes:write"),
                ),
            )
            .nest(
                "/",
                auth_poem::routes(
                    endpoints,
                    poem_context,
                    auth_poem::RouterConfig::default().body_limit(LIMIT).json_fallback(true),
                ),
            ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let poem = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    Pair { axum, poem, client, clock, auth }
}

impl Pair {
    /// Two new grants of `username` (one per side): (axum pair, poem pair).
    async fn fresh(&self, username: &str) -> (TokenPair, TokenPair) {
        let user =
            auth_core::UserStore::find_by_login(self.auth.store().as_ref(), username).await.unwrap().unwrap();
        let client = auth_flows::ClientInfo::default();
        (
            self.auth.tokens_for(&user, &client).await.unwrap(),
            self.auth.tokens_for(&user, &client).await.unwrap(),
        )
    }

    /// Fresh refresh tokens, one per side.
    async fn fresh_refresh(&self, username: &str) -> (String, String) {
        let (a, p) = self.fresh(username).await;
        (a.refresh, p.refresh)
    }

    async fn user(&self, username: &str) -> TokenPair {
        self.auth.accounts().register(Registration::new(username, None, "hunter2-but-longer")).await.unwrap();
        let request: SignInRequest =
            serde_json::from_value(json!({"username": username, "password": "hunter2-but-longer"})).unwrap();
        self.auth.sign_in(&request, &auth_flows::ClientInfo::default()).await.unwrap().complete().unwrap()
    }
}

/// One request. In the path, header values and body, `{side}` becomes `axum`/`poem` and `{self}`
/// the server's own origin (`http://127.0.0.1:PORT`).
#[derive(Clone)]
struct Case {
    name: String,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    expect: u16,
    /// Per-side values of `{token}`: state-changing requests (a refresh consumes its token, a
    /// sign-out revokes its grant) get a token of their own on each side.
    side_tokens: Option<(String, String)>,
}

fn case(name: &str, method: &'static str, path: &str, expect: u16) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
        expect,
        side_tokens: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn json(self, body: Value) -> Self {
        self.header("content-type", "application/json").raw(serde_json::to_vec(&body).unwrap())
    }

    fn tokens(mut self, tokens: (String, String)) -> Self {
        self.side_tokens = Some(tokens);
        self
    }

    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
}

struct Answer {
    status: u16,
    /// All response headers but `date`, sorted.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    /// The headers and body with what differs by construction replaced. `content-length` is kept
    /// unless the body had parts replaced.
    fn normalised(&self, side: &str) -> (Vec<(String, String)>, String) {
        let body = normalise_body(&self.body, side);
        let replaced = body.as_bytes() != self.body.as_slice();
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| match name.as_str() {
                "content-length" if replaced => (name.clone(), "<normalised>".to_owned()),
                _ => (name.clone(), normalise_header(name, value)),
            })
            .collect();
        (headers, body)
    }
}

fn fill(text: &str, side: &str, base: &str) -> String {
    text.replace("{side}", side).replace("{self}", base)
}

async fn send(client: &reqwest::Client, base: &str, side: &str, case: &Case) -> Answer {
    let token = match (&case.side_tokens, side) {
        (Some((axum, _)), "axum") => axum.clone(),
        (Some((_, poem)), _) => poem.clone(),
        (None, _) => String::new(),
    };
    let fill = |text: &str, side: &str, base: &str| fill(text, side, base).replace("{token}", &token);
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("{base}{}", fill(&case.path, side, base)));
    for (name, value) in &case.headers {
        request = request.header(*name, fill(value, side, base));
    }
    if let Some(body) = &case.body {
        request = request.body(fill(&String::from_utf8_lossy(body), side, base).into_bytes());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{}: {side}: {e}", case.name));
    let status = response.status().as_u16();
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    let body = response.bytes().await.unwrap().to_vec();
    Answer { status, headers, body }
}

fn normalise_header(name: &str, value: &str) -> String {
    if name != "set-cookie" {
        return value.to_owned();
    }
    // __Secure-portcullis_refresh=<token>; attributes...: the token differs by construction.
    let (pair, attributes) = value.split_once(';').unwrap_or((value, ""));
    let (cookie, token) = pair.split_once('=').unwrap_or((pair, ""));
    let token = if token.is_empty() { "" } else { "<token>" };
    format!("{cookie}={token};{attributes}")
}

fn normalise_json(value: &mut Value, side: &str) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if matches!(key.as_str(), "access" | "refresh" | "id" | "mfa_token") && value.is_string() {
                    *value = json!("<normalised>");
                } else {
                    normalise_json(value, side);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalise_json(v, side)),
        Value::String(text) => *text = text.replace(side, "{side}"),
        _ => {}
    }
}

fn normalise_body(bytes: &[u8], side: &str) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut value) if value.is_object() => {
            let original = value.clone();
            normalise_json(&mut value, side);
            if value == original {
                String::from_utf8_lossy(bytes).into_owned()
            } else {
                serde_json::to_string(&value).unwrap()
            }
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Sends every case to both servers; returns the differences (empty when in parity).
async fn compare(pair: &Pair, cases: &[Case]) -> Vec<String> {
    let mut differences = Vec::new();
    for case in cases {
        let a = send(&pair.client, &pair.axum, "axum", case).await;
        let p = send(&pair.client, &pair.poem, "poem", case).await;
        let name = &case.name;
        if std::env::var_os("PARITY_VERBOSE").is_some() {
            let body = String::from_utf8_lossy(&a.body).chars().take(200).collect::<String>();
            eprintln!("{name}: {} {:?}\n  {body}", a.status, a.headers);
        }
        if a.status != case.expect {
            differences.push(format!("{name}: axum answered {} (expected {})", a.status, case.expect));
        }
        if a.status != p.status {
            differences.push(format!("{name}: status axum {} poem {}", a.status, p.status));
        }
        if a.headers == p.headers && a.body == p.body {
            continue; // byte for byte, nothing to normalise
        }
        let (a_headers, a_body) = a.normalised("axum");
        let (p_headers, p_body) = p.normalised("poem");
        if a_headers != p_headers {
            differences.push(format!("{name}: headers\n  axum {a_headers:?}\n  poem {p_headers:?}"));
        }
        if a_body != p_body {
            differences.push(format!("{name}: body\n  axum {a_body}\n  poem {p_body}"));
        }
    }
    differences
}

fn assert_parity(differences: Vec<String>) {
    assert!(differences.is_empty(), "{} difference(s):\n{}", differences.len(), differences.join("\n"));
}

/// Every path of the contract, success and failure. `allowed` says whether [`ALLOWED`] is configured.
/// Per-side tokens for the cases that change state.
struct Fresh {
    refresh: Vec<(String, String)>,
    sign_out_all: (String, String),
}

async fn fresh(pair: &Pair) -> Fresh {
    let mut refresh = Vec::new();
    for _ in 0..6 {
        refresh.push(pair.fresh_refresh("alice").await);
    }
    // Sign-out-all revokes every grant of the user: one user per side.
    let (axum, _) = pair.fresh("carol").await;
    let (_, poem) = pair.fresh("dave").await;
    Fresh { refresh, sign_out_all: (axum.access, poem.access) }
}

fn contract_cases(tokens: &TokenPair, inactive: &TokenPair, fresh: &Fresh, allowed: bool) -> Vec<Case> {
    let rt = |i: usize| fresh.refresh[i].clone();
    let allowed_status = if allowed { 200 } else { 403 };
    let access = tokens.access.as_str();
    let refresh = tokens.refresh.as_str();
    let sign_in = json!({"username": "alice", "password": "hunter2-but-longer"});
    let too_large = format!(r#"{{"username":"{}","password":"hunter2-but-longer"}}"#, "a".repeat(LIMIT));
    let cookie = format!("__Secure-portcullis_refresh={refresh}");
    vec![
        // Operations, documents, fallbacks.
        case("health", "GET", "/healthz", 200),
        case("health HEAD", "HEAD", "/healthz", 200),
        case("health with query", "GET", "/healthz?x=1", 200),
        case("health wrong method", "POST", "/healthz", 405),
        case("health trailing slash", "GET", "/healthz/", 404),
        case("jwks", "GET", "/.well-known/jwks.json", 200),
        case("jwks wrong method", "DELETE", "/.well-known/jwks.json", 405),
        case("openapi", "GET", "/api/openapi.json", 200),
        case("openapi HEAD", "HEAD", "/api/openapi.json", 200),
        case("openapi wrong method", "POST", "/api/openapi.json", 405),
        case("docs redirect", "GET", "/api/docs", 303),
        case("docs index", "GET", "/api/docs/", 200),
        case("docs asset", "GET", "/api/docs/swagger-ui.css", 200),
        case("docs nested unknown", "GET", "/api/docs/a/b.js", 404),
        case("docs unknown", "GET", "/api/docs/nope.js", 404),
        case("docs wrong method", "POST", "/api/docs/", 405),
        case("root", "GET", "/", 404),
        case("unknown path", "GET", "/no/such/path", 404),
        case("unknown path DELETE", "DELETE", "/nope", 404),
        case("unknown path HEAD", "HEAD", "/nope", 404),
        case("percent-encoded path", "GET", "/heal%74hz", 404),
        // Registration.
        case("register", "POST", "/api/auth/register", 201).json(
            json!({"username": "new_{side}", "email": "new_{side}@example.com", "password": "hunter2-but-longer"}),
        ),
        case("register taken", "POST", "/api/auth/register", 409)
            .json(json!({"username": "alice", "password": "hunter2-but-longer"})),
        case("register short password", "POST", "/api/auth/register", 400)
            .json(json!({"username": "short_{side}", "password": "short"})),
        case("register bad username", "POST", "/api/auth/register", 400)
            .json(json!({"username": "no spaces", "password": "hunter2-but-longer"})),
        case("register bad email", "POST", "/api/auth/register", 400)
            .json(json!({"username": "mail_{side}", "email": "not-an-email", "password": "hunter2-but-longer"})),
        case("register missing field", "POST", "/api/auth/register", 400).json(json!({"username": "x"})),
        case("register wrong type", "POST", "/api/auth/register", 400)
            .json(json!({"username": 5, "password": "hunter2-but-longer"})),
        case("register bad JSON", "POST", "/api/auth/register", 400)
            .header("content-type", "application/json")
            .raw(r#"{"username":"#),
        case("register text/plain", "POST", "/api/auth/register", 415)
            .header("content-type", "text/plain")
            .raw(serde_json::to_vec(&sign_in).unwrap()),
        case("register no content type", "POST", "/api/auth/register", 415).raw(r#"{"username":"x"}"#),
        case("register json charset", "POST", "/api/auth/register", 409)
            .header("content-type", "application/json; charset=utf-8")
            .raw(serde_json::to_vec(&json!({"username": "alice", "password": "hunter2-but-longer"})).unwrap()),
        case("register too large", "POST", "/api/auth/register", 413)
            .header("content-type", "application/json")
            .raw(too_large.clone()),
        case("register GET", "GET", "/api/auth/register", 405),
        case("register HEAD", "HEAD", "/api/auth/register", 405),
        case("register PUT", "PUT", "/api/auth/register", 405),
        // Mobile flow.
        case("mobile sign-in", "POST", "/api/auth/mobile/sign-in", 200).json(sign_in.clone()),
        case("mobile sign-in unknown email", "POST", "/api/auth/mobile/sign-in", 401)
            .json(json!({"username": "nobody@example.com", "password": "hunter2-but-longer"})),
        case("mobile wrong password", "POST", "/api/auth/mobile/sign-in", 401)
            .json(json!({"username": "alice", "password": "wrong-password"})),
        case("mobile unknown user", "POST", "/api/auth/mobile/sign-in", 401)
            .json(json!({"username": "nobody", "password": "hunter2-but-longer"})),
        case("mobile inactive user", "POST", "/api/auth/mobile/sign-in", 401)
            .json(json!({"username": "inactive", "password": "hunter2-but-longer"})),
        case("mobile missing field", "POST", "/api/auth/mobile/sign-in", 400)
            .json(json!({"username": "alice"})),
        case("mobile bad JSON", "POST", "/api/auth/mobile/sign-in", 400)
            .header("content-type", "application/json")
            .raw("{"),
        case("mobile empty body", "POST", "/api/auth/mobile/sign-in", 400)
            .header("content-type", "application/json"),
        case("mobile wrong content type", "POST", "/api/auth/mobile/sign-in", 415)
            .header("content-type", "application/x-www-form-urlencoded")
            .raw("username=alice&password=hunter2-but-longer"),
        case("mobile too large", "POST", "/api/auth/mobile/sign-in", 413)
            .header("content-type", "application/json")
            .raw(too_large.clone()),
        case("mobile sign-in GET", "GET", "/api/auth/mobile/sign-in", 405),
        case("mobile refresh", "POST", "/api/auth/mobile/token-refresh", 200)
            .json(json!({"refresh": "{token}"}))
            .tokens(rt(0)),
        case("mobile refresh with access token", "POST", "/api/auth/mobile/token-refresh", 401)
            .json(json!({"refresh": access})),
        case("mobile refresh garbage", "POST", "/api/auth/mobile/token-refresh", 401)
            .json(json!({"refresh": "garbage"})),
        case("mobile refresh inactive", "POST", "/api/auth/mobile/token-refresh", 401)
            .json(json!({"refresh": inactive.refresh})),
        case("mobile refresh missing field", "POST", "/api/auth/mobile/token-refresh", 400).json(json!({})),
        case("mobile refresh too large", "POST", "/api/auth/mobile/token-refresh", 413)
            .header("content-type", "application/json")
            .raw(too_large.clone()),
        // Web flow.
        case("web sign-in", "POST", "/api/auth/web/sign-in", 200).json(sign_in.clone()),
        case("web sign-in allowed origin", "POST", "/api/auth/web/sign-in", allowed_status)
            .header("origin", ALLOWED)
            .json(sign_in.clone()),
        case("web sign-in same origin", "POST", "/api/auth/web/sign-in", 200)
            .header("origin", "{self}")
            .json(sign_in.clone()),
        case("web sign-in foreign origin", "POST", "/api/auth/web/sign-in", 403)
            .header("origin", FOREIGN)
            .json(sign_in.clone()),
        case("web sign-in null origin", "POST", "/api/auth/web/sign-in", 403)
            .header("origin", "null")
            .json(sign_in.clone()),
        case("web sign-in wrong password", "POST", "/api/auth/web/sign-in", 401)
            .json(json!({"username": "alice", "password": "wrong-password"})),
        case("web sign-in bad JSON", "POST", "/api/auth/web/sign-in", 400)
            .header("content-type", "application/json")
            .raw("[1,"),
        case("web sign-in too large", "POST", "/api/auth/web/sign-in", 413)
            .header("content-type", "application/json")
            .raw(too_large.clone()),
        case("web refresh", "POST", "/api/auth/web/token-refresh", 200)
            .header("cookie", "__Secure-portcullis_refresh={token}")
            .tokens(rt(1)),
        case("web refresh among cookies", "POST", "/api/auth/web/token-refresh", 200)
            .header("cookie", "a=1; __Secure-portcullis_refresh={token}; b=2")
            .tokens(rt(2)),
        case("web refresh allowed origin", "POST", "/api/auth/web/token-refresh", allowed_status)
            .header("origin", ALLOWED)
            .header("cookie", "__Secure-portcullis_refresh={token}")
            .tokens(rt(3)),
        case("web refresh foreign origin", "POST", "/api/auth/web/token-refresh", 403)
            .header("origin", FOREIGN)
            .header("cookie", cookie.clone()),
        case("web refresh no cookie", "POST", "/api/auth/web/token-refresh", 401),
        case("web refresh bad cookie", "POST", "/api/auth/web/token-refresh", 401)
            .header("cookie", "__Secure-portcullis_refresh=garbage"),
        case("web refresh access token cookie", "POST", "/api/auth/web/token-refresh", 401)
            .header("cookie", format!("__Secure-portcullis_refresh={access}")),
        case("web refresh inactive", "POST", "/api/auth/web/token-refresh", 401)
            .header("cookie", format!("__Secure-portcullis_refresh={}", inactive.refresh)),
        case("web refresh GET", "GET", "/api/auth/web/token-refresh", 405),
        case("web sign-out", "POST", "/api/auth/web/sign-out", 204),
        case("web sign-out with cookie", "POST", "/api/auth/web/sign-out", 204)
            .header("cookie", "__Secure-portcullis_refresh={token}")
            .tokens(rt(4)),
        case("web sign-out forged cookie", "POST", "/api/auth/web/sign-out", 204)
            .header("cookie", "__Secure-portcullis_refresh=forged"),
        // Sessions and revocation.
        case("mobile sign-out", "POST", "/api/auth/mobile/sign-out", 204)
            .json(json!({"refresh": "{token}"}))
            .tokens(rt(5)),
        case("mobile sign-out garbage", "POST", "/api/auth/mobile/sign-out", 401)
            .json(json!({"refresh": "x"})),
        case("mobile sign-out access token", "POST", "/api/auth/mobile/sign-out", 401)
            .json(json!({"refresh": access})),
        case("mobile sign-out missing field", "POST", "/api/auth/mobile/sign-out", 400).json(json!({})),
        case("mobile sign-out GET", "GET", "/api/auth/mobile/sign-out", 405),
        case("sign-out-all", "POST", "/api/auth/sign-out-all", 204)
            .header("authorization", "Bearer {token}")
            .tokens(fresh.sign_out_all.clone()),
        case("sign-out-all anonymous", "POST", "/api/auth/sign-out-all", 401),
        case("token sign-in without opaque tokens", "POST", "/api/auth/token/sign-in", 404)
            .json(sign_in.clone()),
        case("token sign-out without opaque tokens", "POST", "/api/auth/token/sign-out", 404),
        // A capability that is not configured is not mounted: 404 whatever the method.
        case("token sign-in GET without opaque tokens", "GET", "/api/auth/token/sign-in", 404),
        case("api keys anonymous", "GET", "/api/auth/api-keys", 401),
        case("session sign-in without sessions", "POST", "/api/auth/session/sign-in", 404)
            .json(sign_in.clone()),
        case("session sign-out without sessions", "POST", "/api/auth/session/sign-out", 404),
        case("session sign-in GET without sessions", "GET", "/api/auth/session/sign-in", 404),
        case("create api key anonymous", "POST", "/api/auth/api-keys", 401).json(json!({"name": "k"})),
        case("api keys list", "GET", "/api/auth/api-keys", 200).bearer(access),
        case("api keys PUT", "PUT", "/api/auth/api-keys", 405),
        case("api key GET", "GET", "/api/auth/api-keys/nope", 405),
        case("api key delete anonymous", "DELETE", "/api/auth/api-keys/nope", 401),
        case("sign-out-all GET", "GET", "/api/auth/sign-out-all", 405),
        case("sessions", "GET", "/api/auth/sessions", 200).bearer(access),
        case("sessions anonymous", "GET", "/api/auth/sessions", 401),
        case("sessions POST", "POST", "/api/auth/sessions", 405),
        case("delete unknown session", "DELETE", "/api/auth/sessions/nope", 404).bearer(access),
        case("delete session anonymous", "DELETE", "/api/auth/sessions/nope", 401),
        case("delete session GET", "GET", "/api/auth/sessions/nope", 405).bearer(access),
        case("web sign-out foreign origin", "POST", "/api/auth/web/sign-out", 403).header("origin", FOREIGN),
        case("web sign-out GET", "GET", "/api/auth/web/sign-out", 405),
        // Tokens.
        case("verify access", "POST", "/api/auth/token/verify", 200).json(json!({"token": access})),
        case("verify refresh", "POST", "/api/auth/token/verify", 200).json(json!({"token": refresh})),
        case("verify garbage", "POST", "/api/auth/token/verify", 401).json(json!({"token": "garbage"})),
        case("verify inactive", "POST", "/api/auth/token/verify", 401)
            .json(json!({"token": inactive.access})),
        case("verify missing field", "POST", "/api/auth/token/verify", 400).json(json!({"tok": access})),
        case("verify wrong content type", "POST", "/api/auth/token/verify", 415).raw(access.to_owned()),
        case("verify GET", "GET", "/api/auth/token/verify", 405),
        // The current user.
        case("me", "GET", "/api/auth/me", 200).bearer(access),
        case("me HEAD", "HEAD", "/api/auth/me", 200).bearer(access),
        case("me lowercase scheme", "GET", "/api/auth/me", 200)
            .header("authorization", format!("bearer {access}")),
        case("me no token", "GET", "/api/auth/me", 401),
        case("me garbage token", "GET", "/api/auth/me", 401).bearer("garbage"),
        case("me refresh token", "GET", "/api/auth/me", 401).bearer(refresh),
        case("me empty bearer", "GET", "/api/auth/me", 401).header("authorization", "Bearer "),
        case("me basic scheme", "GET", "/api/auth/me", 401).header("authorization", "Basic YTpi"),
        case("me inactive user", "GET", "/api/auth/me", 401).bearer(&inactive.access),
        case("me refresh cookie only", "GET", "/api/auth/me", 401).header("cookie", cookie.clone()),
        case("me POST", "POST", "/api/auth/me", 405).bearer(access),
    ]
}

fn cors_cases(access: &str) -> Vec<Case> {
    let preflight = |name: &str, path: &str, origin: Option<&str>| {
        let mut c = case(name, "OPTIONS", path, 200)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization");
        if let Some(origin) = origin {
            c = c.header("origin", origin);
        }
        c
    };
    vec![
        preflight("preflight allowed origin", "/api/auth/web/sign-in", Some(ALLOWED)),
        preflight(
            "preflight allowed origin, trailing slash",
            "/api/auth/web/sign-in",
            Some("https://app.example.com/"),
        ),
        preflight("preflight foreign origin", "/api/auth/web/sign-in", Some(FOREIGN)),
        preflight("preflight unknown path", "/no/such/path", Some(ALLOWED)),
        preflight("preflight GET route", "/api/auth/me", Some(ALLOWED)),
        preflight("preflight docs", "/api/docs/", Some(ALLOWED)),
        preflight("OPTIONS without origin", "/api/auth/register", None),
        case("simple request allowed origin", "GET", "/healthz", 200).header("origin", ALLOWED),
        case("simple request foreign origin", "GET", "/healthz", 200).header("origin", FOREIGN),
        case("me allowed origin", "GET", "/api/auth/me", 200).header("origin", ALLOWED).bearer(access),
        case("me allowed origin no token", "GET", "/api/auth/me", 401).header("origin", ALLOWED),
        case("404 allowed origin", "GET", "/nope", 404).header("origin", ALLOWED),
        case("405 allowed origin", "GET", "/api/auth/register", 405).header("origin", ALLOWED),
        case("docs redirect allowed origin", "GET", "/api/docs", 303).header("origin", ALLOWED),
    ]
}

async fn seeded(pair: &Pair) -> (TokenPair, TokenPair) {
    let tokens = pair.user("alice").await;
    pair.user("carol").await;
    pair.user("dave").await;
    let inactive = pair.user("inactive").await;
    let user =
        auth_core::UserStore::find_by_login(pair.auth.store().as_ref(), "inactive").await.unwrap().unwrap();
    pair.auth.set_active(&user.id, false).await.unwrap();
    (tokens, inactive)
}

#[tokio::test]
async fn same_answers_with_an_allowed_origin() {
    let pair = start(vec![ALLOWED.to_owned()]).await;
    let (tokens, inactive) = seeded(&pair).await;
    let fresh = fresh(&pair).await;
    let mut cases = contract_cases(&tokens, &inactive, &fresh, true);
    cases.extend(cors_cases(&tokens.access));
    let mut differences = compare(&pair, &cases).await;

    // Expired tokens: the clock moves for both servers at once.
    let late_refresh = pair.fresh_refresh("alice").await;
    pair.clock.advance(chrono::Duration::minutes(10));
    let expired = vec![
        case("me expired", "GET", "/api/auth/me", 401).bearer(&tokens.access),
        case("verify expired", "POST", "/api/auth/token/verify", 401).json(json!({"token": tokens.access})),
        case("mobile refresh after access expiry", "POST", "/api/auth/mobile/token-refresh", 200)
            .json(json!({"refresh": "{token}"}))
            .tokens(late_refresh),
    ];
    differences.extend(compare(&pair, &expired).await);
    pair.clock.advance(chrono::Duration::days(2));
    let refresh_expired = vec![
        case("web refresh expired", "POST", "/api/auth/web/token-refresh", 401)
            .header("cookie", format!("__Secure-portcullis_refresh={}", tokens.refresh)),
    ];
    differences.extend(compare(&pair, &refresh_expired).await);
    assert_parity(differences);
}

#[tokio::test]
async fn same_answers_without_cors() {
    let pair = start(Vec::new()).await;
    let (tokens, inactive) = seeded(&pair).await;
    let fresh = fresh(&pair).await;
    let mut cases = contract_cases(&tokens, &inactive, &fresh, false);
    cases.extend([
        case("OPTIONS known path", "OPTIONS", "/api/auth/web/sign-in", 405).header("origin", ALLOWED),
        case("OPTIONS GET path", "OPTIONS", "/healthz", 405).header("origin", ALLOWED),
        case("OPTIONS unknown path", "OPTIONS", "/nope", 404).header("origin", ALLOWED),
        case("simple request with origin", "GET", "/healthz", 200).header("origin", ALLOWED),
        case("web sign-in listed nowhere", "POST", "/api/auth/web/sign-in", 403)
            .header("origin", ALLOWED)
            .json(json!({"username": "alice", "password": "hunter2-but-longer"})),
    ]);
    assert_parity(compare(&pair, &cases).await);
}

/// The scope guard (`RequireAuthLayer::require_scope` / `RequireAuth::require_scope`) answers the
/// same on both adapters, with one meaning for every credential kind: a credential that carries
/// scopes (an API key, a JWT with a `scope` claim) only within them, a user's token without scopes
/// always.
#[tokio::test]
async fn scope_guard_limits_every_scoped_credential() {
    let pair = start(Vec::new()).await;
    let tokens = pair.user("fay").await;
    let reader = pair.user("reader-rita").await;
    let user = auth_core::UserStore::find_by_login(pair.auth.store().as_ref(), "fay").await.unwrap().unwrap();
    let mut owner = auth_core::Principal::new(user.id.clone(), auth_core::CredentialMethod::Jwt);
    owner.auth_time = Some(pair.clock.now());
    let mut keys = Vec::new();
    for scope in ["notes:read", "notes:write"] {
        let request: auth_flows::CreateApiKeyRequest =
            serde_json::from_value(json!({"name": "k", "scopes": [scope]})).unwrap();
        keys.push(pair.auth.create_api_key(&owner, request).await.unwrap().key);
    }
    let cases = vec![
        case("scoped: key without the scope", "GET", "/scoped/write", 403)
            .header("x-api-key", keys[0].clone()),
        case("scoped: key with the scope", "GET", "/scoped/write", 200).header("x-api-key", keys[1].clone()),
        case("scoped: the user's own token", "GET", "/scoped/write", 200).bearer(&tokens.access),
        case("scoped: a JWT scoped to notes:read", "GET", "/scoped/write", 403).bearer(&reader.access),
        case("scoped: invalid key", "GET", "/scoped/write", 401).header("x-api-key", "pck_nope"),
        case("scoped: no credential", "GET", "/scoped/write", 401),
    ];
    assert_parity(compare(&pair, &cases).await);

    // What both answered to the key and the JWT without the scope.
    let without_scope =
        [("x-api-key", keys[0].clone()), ("authorization", format!("Bearer {}", reader.access))];
    for (base, (header, value)) in
        [&pair.axum, &pair.poem].into_iter().flat_map(|b| without_scope.iter().map(move |h| (b, h)))
    {
        let r = pair.client.get(format!("{base}/scoped/write")).header(*header, value).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("notes:write"),
            "{challenge}"
        );
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "insufficient_scope");
    }
}

/// A mobile sign-in of `username` completed with a TOTP code: a token pair with `amr`
/// `["pwd", "otp"]`. Enrols the user first when needed; returns the pair and the TOTP.
async fn otp_tokens(pair: &Pair, username: &str) -> TokenPair {
    let user =
        auth_core::UserStore::find_by_login(pair.auth.store().as_ref(), username).await.unwrap().unwrap();
    let mut owner = auth_core::Principal::new(user.id.clone(), auth_core::CredentialMethod::Jwt);
    owner.auth_time = Some(pair.clock.now());
    let setup = pair.auth.begin_totp_setup(&owner, &auth_flows::Reauthentication::default()).await.unwrap();
    let uri = setup.otpauth_uri.clone();
    let code =
        |t: i64| totp_rs::Totp::from_url(&uri).unwrap().generate(u64::try_from(t).unwrap()).to_string();
    pair.auth.confirm_totp(&owner, &code(pair.clock.unix_seconds())).await.unwrap();
    pair.clock.advance(chrono::Duration::seconds(30));
    let request: SignInRequest =
        serde_json::from_value(json!({"username": username, "password": "hunter2-but-longer"})).unwrap();
    let auth_flows::SignInOutcome::MfaRequired(step) =
        pair.auth.sign_in(&request, &auth_flows::ClientInfo::default()).await.unwrap()
    else {
        panic!("a user with MFA gets the MFA step");
    };
    let verify: auth_flows::MfaVerifyRequest =
        serde_json::from_value(json!({"mfa_token": step.mfa_token, "code": code(pair.clock.unix_seconds())}))
            .unwrap();
    match pair.auth.complete_mfa(&verify).await.unwrap().credential {
        auth_flows::Credential::Mobile(tokens) => tokens,
        other => panic!("a mobile MFA step completes as mobile: {other:?}"),
    }
}

/// The MFA guard (`require_mfa`, `require_recent_auth`) and the MFA endpoints answer the same on
/// both adapters: 403 `mfa_required` / `reauthentication_required` with an RFC 9470 challenge.
#[tokio::test]
async fn mfa_guard_and_endpoints_answer_alike() {
    let pair = start(Vec::new()).await;
    let password_only = pair.user("gus").await;
    pair.user("hal").await;
    let with_otp = otp_tokens(&pair, "hal").await;
    let cases = vec![
        case("mfa guard: password only", "GET", "/guarded/mfa", 403).bearer(&password_only.access),
        case("mfa guard: with otp", "GET", "/guarded/mfa", 200).bearer(&with_otp.access),
        case("mfa guard: no credential", "GET", "/guarded/mfa", 401),
        case("recent guard: fresh otp sign-in", "GET", "/guarded/recent", 200).bearer(&with_otp.access),
        case("recent guard: password only", "GET", "/guarded/recent", 403).bearer(&password_only.access),
        case("mfa status off", "GET", "/api/auth/mfa", 200).bearer(&password_only.access),
        case("mfa status on", "GET", "/api/auth/mfa", 200).bearer(&with_otp.access),
        case("mfa status anonymous", "GET", "/api/auth/mfa", 401),
        case("mfa setup anonymous", "POST", "/api/auth/mfa/totp/setup", 401),
        case("mfa setup when on", "POST", "/api/auth/mfa/totp/setup", 409).bearer(&with_otp.access),
        case("mfa confirm nothing pending", "POST", "/api/auth/mfa/totp/confirm", 409)
            .bearer(&with_otp.access)
            .json(json!({"code": "123456"})),
        case("mfa confirm no body", "POST", "/api/auth/mfa/totp/confirm", 415).bearer(&with_otp.access),
        case("mfa disable wrong password", "POST", "/api/auth/mfa/totp/disable", 400)
            .bearer(&with_otp.access)
            .json(json!({"password": "nope", "code": "123456"})),
        case("mfa recovery codes no factor", "POST", "/api/auth/mfa/recovery-codes", 400)
            .bearer(&with_otp.access)
            .json(json!({"password": "hunter2-but-longer"})),
        case("mfa verify unknown token", "POST", "/api/auth/mfa/verify", 401)
            .json(json!({"mfa_token": "mfa_nope", "code": "123456"})),
        case("mfa verify malformed", "POST", "/api/auth/mfa/verify", 400).json(json!({"code": "123456"})),
        case("mfa verify wrong method", "GET", "/api/auth/mfa/verify", 405),
        case("mfa sign-in step", "POST", "/api/auth/mobile/sign-in", 200)
            .json(json!({"username": "hal", "password": "hunter2-but-longer"})),
    ];
    assert_parity(compare(&pair, &cases).await);

    // Both answered the same; here is what they answered.
    for base in [&pair.axum, &pair.poem] {
        let r = pair.client.get(format!("{base}/guarded/mfa")).bearer_auth(&password_only.access).send();
        let r = r.await.unwrap();
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains(r#"error="insufficient_user_authentication""#), "{challenge}");
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "mfa_required");
    }
    pair.clock.advance(RECENT + chrono::Duration::seconds(1));
    for base in [&pair.axum, &pair.poem] {
        let r = pair.client.get(format!("{base}/guarded/recent")).bearer_auth(&with_otp.access).send();
        let r = r.await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "reauthentication_required");
        let r = pair.client.get(format!("{base}/guarded/mfa")).bearer_auth(&with_otp.access).send();
        assert_eq!(r.await.unwrap().status(), 200, "MFA without an age limit still passes");
    }
}

#[tokio::test]
async fn account_endpoints_answer_alike() {
    let pair = start(Vec::new()).await;
    let ivy = pair.user("ivy").await;
    let cases = vec![
        case("me patch anonymous", "PATCH", "/api/auth/me", 401).json(json!({"username": "x"})),
        case("me patch is_staff refused", "PATCH", "/api/auth/me", 400)
            .bearer(&ivy.access)
            .json(json!({"is_staff": true})),
        case("me patch bad username", "PATCH", "/api/auth/me", 400)
            .bearer(&ivy.access)
            .json(json!({"username": "has space"})),
        case("me patch nothing", "PATCH", "/api/auth/me", 200).bearer(&ivy.access).json(json!({})),
        case("me delete wrong password", "DELETE", "/api/auth/me", 400)
            .bearer(&ivy.access)
            .json(json!({"password": "nope"})),
        case("me wrong method", "PUT", "/api/auth/me", 405).bearer(&ivy.access),
        case("password change wrong current", "POST", "/api/auth/password/change", 400)
            .bearer(&ivy.access)
            .json(json!({"current_password": "nope", "new_password": "violet-harbor-12"})),
        case("password change anonymous", "POST", "/api/auth/password/change", 401)
            .json(json!({"current_password": "nope", "new_password": "violet-harbor-12"})),
        case("web password change no body", "POST", "/api/auth/web/password/change", 415).bearer(&ivy.access),
        case("reset unknown address", "POST", "/api/auth/password/reset", 202)
            .json(json!({"email": "nobody@example.test"})),
        case("reset not an address", "POST", "/api/auth/password/reset", 400).json(json!({"email": "nope"})),
        case("reset confirm bad token", "POST", "/api/auth/password/reset/confirm", 400)
            .json(json!({"token": "nope", "new_password": "violet-harbor-12"})),
        case("reset confirm unknown field", "POST", "/api/auth/password/reset/confirm", 400)
            .json(json!({"token": "nope", "new_password": "violet-harbor-12", "is_staff": true})),
        case("verify bad token", "POST", "/api/auth/email/verify", 400).json(json!({"token": "nope"})),
        case("resend unknown address", "POST", "/api/auth/email/resend", 202)
            .json(json!({"email": "nobody@example.test"})),
        case("activity", "GET", "/api/auth/activity?limit=5", 200).bearer(&ivy.access),
        case("activity bad limit", "GET", "/api/auth/activity?limit=0", 400).bearer(&ivy.access),
        case("activity anonymous", "GET", "/api/auth/activity", 401),
    ];
    assert_parity(compare(&pair, &cases).await);
}
