//! The OpenAPI operations of email sign-in's routes and their schemas (feature `openapi`), added
//! to the table's served document by [`EmailSignIn::routes`](crate::EmailSignIn::routes).

#![allow(dead_code)]

use auth_flows::http::openapi::{Accepted, ErrorResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// `POST /api/auth/email-sign-in`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSignInRequest {
    /// The account's address.
    email: String,
    /// The flow the frontend will confirm with (`mobile`, `web`, `token`, `session`); added to the
    /// link as `&flow=`.
    flow: Option<String>,
}

/// `POST /api/auth/email-sign-in/confirm`: the link's token, or the address and the code.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailSignInConfirmRequest {
    /// The `token` of the emailed link.
    token: Option<String>,
    /// The address the code was sent to (with `code`).
    email: Option<String>,
    /// The emailed 6-digit code (with `email`).
    code: Option<String>,
    /// The sign-in flow to answer as: `mobile` (default), `web`, `token` or `session`.
    flow: Option<String>,
    /// The opaque token's name (`flow: token`).
    name: Option<String>,
}

/// An email sign-in's answer: what the chosen flow's password sign-in answers, or the MFA step.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EmailSignInResponse {
    /// `flow: mobile`.
    #[cfg(feature = "jwt")]
    Mobile(auth_flows::http::openapi::MobileSignInResponse),
    /// `flow: web`.
    #[cfg(feature = "jwt")]
    Web(auth_flows::http::openapi::WebSignInResponse),
    /// `flow: token`.
    #[cfg(feature = "opaque-tokens")]
    Token(auth_flows::http::openapi::TokenSignInResponse),
    /// `flow: session`.
    #[cfg(feature = "sessions")]
    Session(auth_flows::http::openapi::SessionSignInResponse),
}

#[utoipa::path(post, path = "/api/auth/email-sign-in", tag = "email-sign-in", operation_id = "email_sign_in",
    summary = "Email a sign-in link and code (202 for every address)",
    description = "A known, active account's address gets a link (`{frontend}/sign-in-link?token=…`) and a 6-digit code, both single use for 10 minutes; a new request replaces the pending one. Any other address gets nothing (or, with sign-up by email on, an invitation to a new account). The answer is the same for every address and comes before the work is done.",
    request_body = EmailSignInRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the address is known)", body = Accepted),
        (status = 400, description = "Not an email address, or a flow this server does not offer", body = ErrorResponse),
        (status = 404, description = "Email sign-in needs account emails, which are not configured", body = ErrorResponse),
        (status = 429, description = "Too many requests for this address or from this client", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn request() {}

#[utoipa::path(post, path = "/api/auth/email-sign-in/confirm", tag = "email-sign-in", operation_id = "email_sign_in_confirm",
    summary = "Sign in with the emailed link's token, or the address and code",
    description = "Answers as the chosen flow's sign-in does (amr `[\"email\"]`), or with the MFA step for a user with a second factor. A wrong, used, replaced or expired token or code is one 401; the code dies after 5 wrong tries.",
    request_body = EmailSignInConfirmRequest,
    responses(
        (status = 200, description = "Signed in as the flow answers, or the MFA step", body = EmailSignInResponse,
            headers(("Cache-Control" = String, description = "no-store"),
                ("Set-Cookie" = String, description = "For `web` and `session` flows their cookies; the device cookie"))),
        (status = 400, description = "Neither a token nor an email and code, or a flow this server does not offer", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: the token or code is wrong, used, replaced or expired", body = ErrorResponse,
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "`cross_origin_refused`: a cookie flow requested from another origin", body = ErrorResponse),
        (status = 429, description = "Too many sign-in attempts from this client or for this address", body = ErrorResponse,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
fn confirm() {}

#[derive(OpenApi)]
#[openapi(paths(request, confirm))]
struct EmailSignInDoc;

/// The document fragment of the email sign-in routes.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    EmailSignInDoc::openapi()
}
