//! # auth-flows
//!
//! The sign-in flows of Portcullis over the JWT engine (`auth-jwt`) and the capability crates:
//! register, sign in, refresh, verify over any [`auth_core::UserStore`]; opaque tokens, API keys,
//! cookie sessions, MFA, the account lifecycle, rate limits and audit; and the framework-free HTTP
//! endpoints the adapters mount.
//!
//! - [`JwtAuth`]: the flows; [`BearerAuthenticator`] authenticates `Authorization: Bearer` requests.
//! - Account lifecycle ([`lifecycle`]): password change, reset by email, email verification,
//!   profile changes, account deletion; abuse protection ([`AbuseLimits`]: per-account and per-IP
//!   rate limits with progressive delay) and the audit log of every flow.
//! - [`JwtEndpoints`]: the HTTP contract as `http::Response`s; see [`endpoints::paths`].
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `openapi` | no    | `openapi`: the OpenAPI 3.1 document of the contract and the vendored Swagger UI |

#![forbid(unsafe_code)]

mod abuse;
mod api_keys;
pub mod endpoints;
mod flows;
pub mod lifecycle;
pub mod mfa;
mod opaque;
#[cfg(feature = "openapi")]
pub mod openapi;
mod sessions;

#[allow(unused_imports)]
use auth_jwt::{
    Claims, JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, RESERVED_CLAIMS, TokenContents, TokenKind,
};

pub use abuse::{AbuseLimits, DEFAULT_SIGNIN_WINDOW};
pub use api_keys::{ApiKeyAuthenticator, ApiKeyConfig, CreateApiKeyRequest, CreatedApiKey};
pub use endpoints::{JwtEndpoints, WebFlowConfig};
pub use flows::{
    AccessToken, BearerAuthenticator, ClaimFn, ClaimMap, ClaimSource, ClientInfo, FlowConfig, JwtAuth,
    RefreshRequest, RegisterRequest, SessionInfo, SignInRequest, TokenPair, VerifyRequest,
};
pub use lifecycle::{
    AccountEmailConfig, DeleteAccountRequest, EmailResendRequest, EmailVerification, EmailVerifyRequest,
    PasswordChangeRequest, PasswordChanged, PasswordResetConfirmRequest, PasswordResetRequest,
    ProfileUpdateRequest,
};
pub use mfa::{
    CompletedSignIn, MfaConfirmRequest, MfaPolicy, MfaReauthRequest, MfaRequired, MfaVerifyRequest,
    RecoveryCodes, SignInFlow, SignInOutcome,
};
pub use opaque::{IssuedOpaqueToken, OpaqueTokenAuthenticator, OpaqueTokenConfig, TokenSignInRequest};
pub use sessions::{SessionAuthenticator, SessionConfig, StartedSession};
