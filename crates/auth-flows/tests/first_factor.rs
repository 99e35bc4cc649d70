//! The sign-in pipeline's toy first factor (the PIN factor of the `pipeline` module's doc example,
//! the same file) over real HTTP on both adapters: it completes each of the four flows (mobile
//! pair, web cookie, opaque token, cookie session) and the MFA step, and a wrong PIN is refused
//! like a wrong password.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{
    Accounts, Clock as _, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig, Principal,
    Registration,
};
use auth_flows::{AuthEndpoints, MfaPolicy, OpaqueTokenConfig, RouteRequest, RouterConfig, SessionConfig};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet};
use base64::Engine as _;
use serde_json::{Value, json};

// The doc example of the sign-in pipeline, as it is (it brings its own imports).
include!("../src/pin_factor.rs");

const PIN: &str = "482915";

struct App {
    base: String,
    client: reqwest::Client,
    auth: Arc<AuthService<MemoryUserStore>>,
    clock: ManualClock,
}

#[derive(Clone, Copy, Debug)]
enum Adapter {
    Axum,
    Poem,
}

/// The PIN sign-in as a route of the table: `{username, pin, flow, name?}`, answered as the
/// built-in sign-ins answer.
fn pin_route(
    endpoints: Arc<AuthEndpoints<MemoryUserStore>>,
    pins: Arc<PinFactor>,
) -> impl Fn(RouteRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<Vec<u8>>> + Send>>
+ Send
+ Sync
+ 'static {
    move |request: RouteRequest| {
        let (endpoints, pins) = (Arc::clone(&endpoints), Arc::clone(&pins));
        Box::pin(async move {
            let answer = async {
                let body: Value =
                    auth_core::http_support::parse_json_body(&request.parts.headers, &request.body)?;
                let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
                let flow = match field("flow").as_str() {
                    "mobile" => SignInFlow::Mobile,
                    "web" => SignInFlow::Web,
                    "token" => SignInFlow::Token { name: Some(field("name")) },
                    "session" => SignInFlow::Session,
                    _ => return Err(AuthError::invalid_field("flow", "is not a flow")),
                };
                endpoints.check_sign_in_origin(&request.parts, &flow)?;
                let auth = endpoints.auth();
                let client = auth.client_info(&request.parts);
                let outcome = pins.sign_in(auth, &field("username"), &field("pin"), flow, &client).await?;
                endpoints.sign_in_response(outcome)
            };
            answer.await.unwrap_or_else(|e| auth_core::http_support::error_response(&e))
        })
    }
}

async fn start(adapter: Adapter) -> App {
    let clock = ManualClock::starting_at_unix(1_800_000_000);
    let shared: auth_core::SharedClock = Arc::new(clock.clone());
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[9u8; 32]).unwrap();
    let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key).unwrap(), shared.clone()).unwrap();
    let store = Arc::new(MemoryUserStore::with_clock(shared.clone()));
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let mfa = auth_mfa::MfaService::new(
        Arc::new(auth_mfa::MemoryMfaStore::new()),
        auth_mfa::MfaKey::generate(),
        auth_mfa::MfaConfig::default(),
    );
    let auth = AuthService::builder(Accounts::new(store, hasher))
        .clock(shared.clone())
        .grants(Arc::new(auth_blacklist::MemoryGrantStore::new()))
        .jwt(jwt)
        .opaque_tokens(Arc::new(auth_token::MemoryOpaqueTokenStore::new()), OpaqueTokenConfig::default())
        .sessions(
            Arc::new(auth_session::MemorySessionStore::new()),
            SessionConfig::default().insecure_cookies(true),
        )
        .mfa(mfa, MfaPolicy::default())
        .build()
        .unwrap();
    let auth = Arc::new(auth);
    let pins = Arc::new(PinFactor::default());
    for name in ["alice", "bob"] {
        auth.accounts()
            .register(Registration::new(name, Some(format!("{name}@example.com")), "long enough password"))
            .await
            .unwrap();
        pins.set_pin(&auth, name, PIN).await.unwrap();
    }
    let chain: auth_core::SharedAuthenticator = Arc::new(auth_core::FirstPresented::new(vec![
        Arc::new(auth.opaque_token_authenticator()),
        Arc::new(auth.bearer_authenticator()),
        Arc::new(auth.session_authenticator()),
    ]));
    let endpoints = Arc::new(AuthEndpoints::new(Arc::clone(&auth)));
    let table = endpoints.route_table(&RouterConfig::default()).route(
        http::Method::POST,
        "/api/auth/pin/sign-in",
        false,
        pin_route(Arc::clone(&endpoints), pins),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    match adapter {
        Adapter::Axum => {
            let context = auth_axum::AuthContext::new(chain).with_clock(shared);
            let router = auth_axum::mount(table, context);
            tokio::spawn(async move { axum::serve(listener, router).await });
        }
        Adapter::Poem => {
            let context = auth_poem::AuthContext::new(chain).with_clock(shared);
            let endpoint = poem::EndpointExt::with(auth_poem::mount(table, context.clone()), context);
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
            tokio::spawn(async move { poem::Server::new_with_acceptor(acceptor).run(endpoint).await });
        }
    }
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    App { base, client, auth, clock }
}

impl App {
    async fn pin(&self, username: &str, pin: &str, flow: &str) -> reqwest::Response {
        let body = json!({"username": username, "pin": pin, "flow": flow, "name": "laptop"});
        self.client.post(format!("{}/api/auth/pin/sign-in", self.base)).json(&body).send().await.unwrap()
    }

    async fn me(&self, request: reqwest::RequestBuilder) -> Value {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    fn get_me(&self) -> reqwest::RequestBuilder {
        self.client.get(format!("{}/api/auth/me", self.base))
    }
}

fn amr_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap();
    claims["amr"].clone()
}

fn cookie<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
}

macro_rules! both_adapters {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn run($app: App) $body

            #[tokio::test]
            async fn axum() {
                run(start(Adapter::Axum).await).await;
            }

            #[tokio::test]
            async fn poem() {
                run(start(Adapter::Poem).await).await;
            }
        }
    };
}

both_adapters!(mobile_flow_answers_with_a_pair_carrying_the_factors_amr, |app| {
    let r = app.pin("alice", PIN, "mobile").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let pair: Value = r.json().await.unwrap();
    let access = pair["access"].as_str().unwrap();
    assert_eq!(amr_of(access), json!(["pin"]));
    assert!(pair["refresh"].is_string());
    let me = app.me(app.get_me().bearer_auth(access)).await;
    assert_eq!(me["username"], "alice");
});

both_adapters!(web_flow_sets_the_refresh_cookie_that_refreshes, |app| {
    let r = app.pin("alice", PIN, "web").await;
    assert_eq!(r.status(), 200);
    let refresh = cookie(&r, "__Secure-portcullis_refresh").expect("refresh cookie").to_owned();
    let body: Value = r.json().await.unwrap();
    assert!(body.get("refresh").is_none(), "the web flow keeps the refresh token out of the body");
    assert_eq!(amr_of(body["access"].as_str().unwrap()), json!(["pin"]));
    let r = app
        .client
        .post(format!("{}/api/auth/web/token-refresh", app.base))
        .header("cookie", refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        amr_of(body["access"].as_str().unwrap()),
        json!(["pin"]),
        "the grant keeps how the user signed in"
    );
});

both_adapters!(token_flow_issues_an_opaque_token, |app| {
    let r = app.pin("alice", PIN, "token").await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pct_"));
    let me = app.me(app.get_me().header("authorization", format!("Token {token}"))).await;
    assert_eq!(me["username"], "alice");
    let principal: Principal = app.auth.authenticate_opaque(&token).await.unwrap();
    assert_eq!(principal.amr, vec!["pin".to_owned()]);
});

both_adapters!(session_flow_starts_a_cookie_session, |app| {
    let r = app.pin("alice", PIN, "session").await;
    assert_eq!(r.status(), 200);
    let session = cookie(&r, "portcullis_session").expect("session cookie").to_owned();
    assert!(cookie(&r, "csrftoken").is_some(), "and the CSRF cookie");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "alice");
    let me = app.me(app.get_me().header("cookie", session)).await;
    assert_eq!(me["username"], "alice");
});

both_adapters!(a_wrong_pin_is_a_wrong_password, |app| {
    for (user, pin) in [("alice", "000000"), ("nobody", PIN)] {
        let r = app.pin(user, pin, "mobile").await;
        assert_eq!(r.status(), 401, "{user}");
        assert!(r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "invalid_credentials");
    }
});

both_adapters!(the_mfa_step_applies_to_the_new_factor, |app| {
    let bob = auth_core::UserStore::find_by_login(app.auth.store().as_ref(), "bob").await.unwrap().unwrap();
    let principal = Principal::new(auth_core::AuthUser::id(&bob), auth_core::CredentialMethod::Session);
    let proof = auth_flows::Reauthentication {
        current_password: Some("long enough password".to_owned()),
        ..Default::default()
    };
    let setup = app.auth.begin_totp_setup(&principal, &proof).await.unwrap();
    let totp = totp_rs::Totp::from_url(&setup.otpauth_uri).unwrap();
    let now = app.clock.now().timestamp();
    let code = |t: i64| totp.generate(u64::try_from(t).unwrap()).to_string();
    app.auth.confirm_totp(&principal, &code(now)).await.unwrap();
    app.clock.advance(chrono::Duration::seconds(30));

    let r = app.pin("bob", PIN, "mobile").await;
    assert_eq!(r.status(), 200);
    let step: Value = r.json().await.unwrap();
    assert_eq!(step["mfa_required"], true);
    assert!(step.get("access").is_none(), "no credential before the second factor");
    let verify = json!({"mfa_token": step["mfa_token"], "code": code(app.clock.now().timestamp())});
    let r = app.client.post(format!("{}/api/auth/mfa/verify", app.base)).json(&verify).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let pair: Value = r.json().await.unwrap();
    assert_eq!(amr_of(pair["access"].as_str().unwrap()), json!(["pin", "otp"]));
});
