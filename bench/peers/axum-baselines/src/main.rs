//! The Rust peers of `bench/peers.sh`, one server per run:
//!
//! - `axum-baselines bare PORT`: `GET /protected` answers without authentication (the ceiling);
//! - `axum-baselines hs256 PORT SECRET`: a hand-written bearer extractor with jsonwebtoken 11
//!   (HS256; `exp` checked), the minimum a JWT route does;
//! - `axum-baselines rs256 PORT PUBLIC_PEM`: the same with RS256;
//! - `axum-baselines session PORT`: axum-login 0.18 with tower-sessions' `MemoryStore`:
//!   `POST /login` signs in (no password check: the bench measures the protected route) and sets the
//!   session cookie; `GET /protected` needs the session.
//!
//! - `axum-baselines token hs256 SECRET` / `token rs256 PRIVATE_PEM_FILE`: prints a token for the
//!   JWT peers (`sub`, `exp` in an hour).
//!
//! Every protected route returns the same small JSON body as Portcullis's bench routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum_login::{AuthManagerLayerBuilder, AuthSession, AuthUser, AuthnBackend, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_sessions::{MemoryStore, SessionManagerLayer};

async fn ok() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// The claims the hand-written extractors read.
#[derive(Debug, Deserialize)]
struct Claims {
    #[allow(dead_code)]
    sub: String,
}

/// The verifier the hand-written extractor uses, from the router's state.
#[derive(Clone)]
struct Verifier(Arc<(DecodingKey, Validation)>);

/// A hand-written bearer extractor: header, signature, `exp`.
struct Bearer(#[allow(dead_code)] Claims);

impl FromRequestParts<Verifier> for Bearer {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, verifier: &Verifier) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
        let token = header.and_then(|h| h.strip_prefix("Bearer ")).ok_or(StatusCode::UNAUTHORIZED)?;
        let (key, validation) = &*verifier.0;
        decode::<Claims>(token, key, validation).map(|data| Bearer(data.claims)).map_err(|_| StatusCode::UNAUTHORIZED)
    }
}

async fn protected_jwt(_bearer: Bearer) -> Json<Value> {
    ok().await
}

fn jwt_router(key: DecodingKey, algorithm: Algorithm) -> Router {
    let mut validation = Validation::new(algorithm);
    validation.validate_aud = false;
    validation.required_spec_claims = ["exp".to_owned()].into();
    Router::new().route("/protected", get(protected_jwt)).with_state(Verifier(Arc::new((key, validation))))
}

/// axum-login's user: an id and a fixed session hash.
#[derive(Debug, Clone)]
struct User {
    id: u64,
}

impl AuthUser for User {
    type Id = u64;

    fn id(&self) -> u64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        b"bench-session-hash"
    }
}

/// An in-memory user backend (the peer of Portcullis's user-state cache).
#[derive(Debug, Clone, Default)]
struct Backend {
    users: Arc<HashMap<u64, User>>,
}

/// The backend's error: it never fails.
#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = u64;
    type Error = Never;

    async fn authenticate(&self, id: u64) -> Result<Option<User>, Never> {
        Ok(self.users.get(&id).cloned())
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, Never> {
        Ok(self.users.get(id).cloned())
    }
}

async fn login(mut session: AuthSession<Backend>) -> StatusCode {
    match session.authenticate(1).await {
        Ok(Some(user)) if session.login(&user).await.is_ok() => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn protected_session(session: AuthSession<Backend>) -> Result<Json<Value>, StatusCode> {
    match session.user {
        Some(_) => Ok(ok().await),
        None => Err(StatusCode::UNAUTHORIZED),
    }
}

fn session_router() -> Router {
    let users = HashMap::from([(1, User { id: 1 })]);
    let backend = Backend { users: Arc::new(users) };
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    Router::new().route("/protected", get(protected_session)).route("/login", post(login)).layer(auth)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("token") {
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 3600;
        let claims = json!({"sub": "bench", "exp": exp});
        let token = match (args.get(2).map(String::as_str), args.get(3)) {
            (Some("hs256"), Some(secret)) => {
                encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))?
            }
            (Some("rs256"), Some(path)) => {
                let key = EncodingKey::from_rsa_pem(&std::fs::read(path)?)?;
                encode(&Header::new(Algorithm::RS256), &claims, &key)?
            }
            _ => return Err("usage: axum-baselines token hs256 SECRET | token rs256 PRIVATE_PEM_FILE".into()),
        };
        println!("{token}");
        return Ok(());
    }
    let usage = "usage: axum-baselines bare|hs256|rs256|session PORT [SECRET|PUBLIC_PEM_FILE]";
    let (kind, port) = match (args.get(1), args.get(2)) {
        (Some(kind), Some(port)) => (kind.as_str(), port.parse::<u16>()?),
        _ => return Err(usage.into()),
    };
    let router = match kind {
        "bare" => Router::new().route("/protected", get(ok)),
        "hs256" => jwt_router(DecodingKey::from_secret(args.get(3).ok_or(usage)?.as_bytes()), Algorithm::HS256),
        "rs256" => {
            let pem = std::fs::read(args.get(3).ok_or(usage)?)?;
            jwt_router(DecodingKey::from_rsa_pem(&pem)?, Algorithm::RS256)
        }
        "session" => session_router(),
        _ => return Err(usage.into()),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, router).await?;
    Ok(())
}
