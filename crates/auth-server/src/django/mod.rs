//! Coming from Django: `portcullis import django` (users, password hashes, groups and
//! permissions, allauth email addresses and TOTP factors, DRF tokens, simplejwt refresh tokens)
//! and `POST /api/auth/django/token-exchange`, which honours an imported simplejwt refresh token
//! once. See `docs/migrating-from-django.md`.

pub mod apply;
pub mod source;

use std::sync::Arc;

use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis::core::http_support::{error_response, json_response, parse_json_body};
use portcullis::core::{AuthError, TokenRejection};
use portcullis::flows::{RouteRequest, RouteTable};
use serde::Deserialize;

use crate::app::ServerAuth;
use crate::config::Secret;

pub use apply::{IMPORTED_REFRESH_PREFIX, ImportOptions, Report, import};
pub use source::{DjangoData, read};

/// The path of the simplejwt refresh-token exchange.
pub const TOKEN_EXCHANGE: &str = "/api/auth/django/token-exchange";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    refresh: String,
}

/// The claims of a simplejwt refresh token that the exchange reads.
#[derive(Deserialize)]
struct SimpleJwtClaims {
    token_type: String,
    jti: String,
}

/// Verifies a simplejwt refresh token (signature with the Django signing key, `exp`,
/// `token_type` = `refresh`) and returns its `jti`.
fn verify_simplejwt(token: &str, key: &DecodingKey, validation: &Validation) -> Result<String, AuthError> {
    let data = jsonwebtoken::decode::<SimpleJwtClaims>(token, key, validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        AuthError::InvalidToken(match e.kind() {
            ErrorKind::ExpiredSignature => TokenRejection::Expired,
            ErrorKind::InvalidSignature => TokenRejection::BadSignature,
            _ => TokenRejection::Malformed,
        })
    })?;
    if data.claims.token_type != "refresh" {
        return Err(AuthError::InvalidToken(TokenRejection::WrongKind));
    }
    let jti = data.claims.jti;
    if !apply::is_jti(&jti) {
        return Err(AuthError::InvalidToken(TokenRejection::Malformed));
    }
    Ok(jti)
}

/// Adds `POST /api/auth/django/token-exchange`: `{"refresh": "<simplejwt refresh token>"}` → a
/// Portcullis pair (the mobile sign-in's body), once per imported outstanding token.
pub fn exchange_route(table: RouteTable, auth: Arc<ServerAuth>, key: &Secret, algorithm: &str) -> RouteTable {
    let algorithm = match algorithm {
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => Algorithm::HS256,
    };
    let key = Arc::new(DecodingKey::from_secret(key.expose().as_bytes()));
    let mut validation = Validation::new(algorithm);
    validation.leeway = 0;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let validation = Arc::new(validation);
    table.route(Method::POST, TOKEN_EXCHANGE, false, move |request: RouteRequest| {
        let (auth, key, validation) = (Arc::clone(&auth), Arc::clone(&key), Arc::clone(&validation));
        async move {
            let answer = async {
                let body: ExchangeBody = parse_json_body(&request.parts.headers, &request.body)?;
                let jti = verify_simplejwt(body.refresh.trim(), &key, &validation)?;
                let pair = auth.exchange_imported_refresh(&format!("{IMPORTED_REFRESH_PREFIX}{jti}")).await?;
                Ok::<_, AuthError>(json_response(StatusCode::OK, &pair))
            };
            answer.await.unwrap_or_else(|error| error_response(&error))
        }
    })
}
