//! The audit log: typed security events (sign-ins, sign-outs, password and MFA changes, API keys,
//! lock-outs), each with its time, the client's IP address and user agent, and a few non-secret
//! facts.
//!
//! - [`AuditEvent`] is one event, built with [`AuditEvent::new`] and its builder methods.
//! - [`AuditStore`] is where events are kept: [`MemoryAuditStore`] here, `SeaOrmAuditStore` in
//!   `auth-sea-orm`, or your own (run [`conformance`] against it, feature `testing`).
//! - [`AuditLog`] is what the flows write to: it emits every event as a `tracing` event (target
//!   [`TRACING_TARGET`]) and stores it.
//!
//! An event never holds a secret: no password, token, code or key, and for a failed sign-in of an
//! unknown account not even the login that was typed (people type passwords into username fields).
//! The detail map is for small facts such as `{"flow": "mobile"}`, `{"grant_id": ...}`,
//! `{"key_id": ...}` or `{"reason": "bad_password"}`.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::UserId;
//! use auth_core::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, MemoryAuditStore};
//! use chrono::DateTime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_core::AuthError> {
//! let log = AuditLog::new(Arc::new(MemoryAuditStore::new()));
//! let (alice, now) = (UserId::new("alice"), DateTime::from_timestamp(1_700_000_000, 0).unwrap());
//!
//! log.record(
//!     AuditEvent::new(AuditKind::SignInSucceeded, now)
//!         .user(&alice)
//!         .client(Some("203.0.113.7"), Some("Mozilla/5.0"))
//!         .detail("flow", "web"),
//! )
//! .await;
//!
//! let events = log.list(&AuditQuery::new().user(&alice)).await?;
//! assert_eq!(events[0].kind, AuditKind::SignInSucceeded);
//! assert_eq!(events[0].detail["flow"], "web");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::{AuthError, UserId};

#[cfg(feature = "testing")]
pub mod conformance;
mod log;
mod memory;

pub use log::{AuditLog, TRACING_TARGET};
pub use memory::MemoryAuditStore;

/// The number of events [`AuditQuery::effective_limit`] returns when the query's limit is 0.
pub const DEFAULT_LIMIT: usize = 50;

/// The most events one [`AuditStore::list`] call returns, whatever the query's limit.
pub const MAX_LIMIT: usize = 1000;

/// The longest user agent an [`AuditEvent`] keeps, in characters; longer ones are truncated.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// Defines [`AuditKind`] together with its string names and [`AuditKind::ALL`], so that none of
/// them can miss a variant.
macro_rules! audit_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// What happened. Stored and serialised by its snake_case name ([`AuditKind::as_str`]),
        /// which never changes once released.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum AuditKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl AuditKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [AuditKind] = &[$(AuditKind::$variant,)*];

            /// The snake_case name, as stored and serialised (`"sign_in_failed"`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditKind::$variant => $name,)*
                }
            }
        }
    };
}

audit_kinds! {
    /// A sign-in completed (password, and the second factor when one is due).
    SignInSucceeded => "sign_in_succeeded",
    /// A sign-in was refused: wrong password, unknown or inactive account. `user_id` is set only
    /// when the account exists; the typed login is never stored.
    SignInFailed => "sign_in_failed",
    /// A wrong second-factor code (TOTP or recovery code).
    MfaFailed => "mfa_failed",
    /// A refresh token was presented again after it was rotated: its grant was revoked.
    RefreshReuseDetected => "refresh_reuse_detected",
    /// One sign-in (grant or session) ended at the user's request.
    SignedOut => "signed_out",
    /// Every sign-in of the user ended.
    SignedOutEverywhere => "signed_out_everywhere",
    /// One session or grant was revoked from the user's session list.
    SessionRevoked => "session_revoked",
    /// The user changed their password.
    PasswordChanged => "password_changed",
    /// A password-reset link was requested.
    PasswordResetRequested => "password_reset_requested",
    /// The password was reset through a reset link.
    PasswordReset => "password_reset",
    /// An email-verification link was sent.
    EmailVerificationSent => "email_verification_sent",
    /// An email address was verified.
    EmailVerified => "email_verified",
    /// The email address changed.
    EmailChanged => "email_changed",
    /// A pending change of address was cancelled from the old address.
    EmailChangeCancelled => "email_change_cancelled",
    /// Profile fields changed.
    ProfileUpdated => "profile_updated",
    /// An account was created.
    Registered => "registered",
    /// Someone tried to register with, or change their address to, the user's email address
    /// (`detail.during`: `registration` or `email_change`). Nothing changed; the request was
    /// answered as usual, so as not to reveal that the address has an account.
    TakenEmailAttempt => "taken_email_attempt",
    /// An account was deactivated.
    AccountDeactivated => "account_deactivated",
    /// A second factor (TOTP) was confirmed and now guards sign-in.
    MfaEnabled => "mfa_enabled",
    /// The user removed their second factor.
    MfaDisabled => "mfa_disabled",
    /// An administrator removed the user's second factor.
    MfaReset => "mfa_reset",
    /// A recovery code was used instead of a TOTP code.
    RecoveryCodeUsed => "recovery_code_used",
    /// A fresh set of recovery codes replaced the old one.
    RecoveryCodesRegenerated => "recovery_codes_regenerated",
    /// An API key was created.
    ApiKeyCreated => "api_key_created",
    /// An API key was revoked.
    ApiKeyRevoked => "api_key_revoked",
    /// Too many failed attempts: further attempts are refused for a while.
    LockedOut => "locked_out",
    /// A role was created (detail `role`; the actor is the event's user when done over HTTP).
    RoleCreated => "role_created",
    /// A role was deleted with its permissions and assignments (detail `role`).
    RoleDeleted => "role_deleted",
    /// A permission was granted to a role (details `role`, `permission`).
    RolePermissionGranted => "role_permission_granted",
    /// A permission was taken from a role (details `role`, `permission`).
    RolePermissionRevoked => "role_permission_revoked",
    /// A role was assigned to the event's user (details `role`, `actor`).
    RoleAssigned => "role_assigned",
    /// A role was removed from the event's user (details `role`, `actor`).
    RoleUnassigned => "role_unassigned",
    /// An administrator changed the event's user's flags (details `actor` and the changed fields).
    AdminUserUpdated => "admin_user_updated",
    /// An administrator signed the event's user out everywhere (detail `actor`).
    AdminSignedOutUser => "admin_signed_out_user",
    /// The event's user signed in through a social-login provider (details `provider`, `flow`;
    /// the sign-in itself is recorded as `sign_in_succeeded` with amr `fed` or the provider's).
    SocialSignIn => "social_sign_in",
    /// A provider identity was linked to the event's user (details `provider`, `how`: `new_account`,
    /// `verified_email` or `signed_in`).
    SocialLinked => "social_linked",
    /// A provider identity was unlinked from the event's user (detail `provider`).
    SocialUnlinked => "social_unlinked",
    /// An email sign-in (link and code) was requested for the address; with a user when it is an
    /// account's (the email was sent), without one when not (nothing was sent, unless sign-up by
    /// email is on). The sign-in itself is recorded as `sign_in_succeeded` with amr `email`.
    EmailSignInRequested => "email_sign_in_requested",
    /// A passkey was registered for the event's user (detail `name`).
    PasskeyRegistered => "passkey_registered",
    /// One of the user's passkeys was renamed (detail `name`: the new one).
    PasskeyRenamed => "passkey_renamed",
    /// One of the user's passkeys was removed (detail `name`).
    PasskeyRemoved => "passkey_removed",
}

impl AuditKind {
    /// Whether the event records a refused or suspicious attempt ([`SignInFailed`](Self::SignInFailed),
    /// [`MfaFailed`](Self::MfaFailed), [`RefreshReuseDetected`](Self::RefreshReuseDetected),
    /// [`LockedOut`](Self::LockedOut)). [`AuditLog`] emits these at `WARN`, the rest at `INFO`.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::SignInFailed | Self::MfaFailed | Self::RefreshReuseDetected | Self::LockedOut)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`AuditKind`] (perhaps one written by a newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit event kind {0:?}")]
pub struct UnknownAuditKind(String);

impl UnknownAuditKind {
    /// The string that was not recognised.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AuditKind {
    type Err = UnknownAuditKind;

    /// Parses the exact snake_case name ([`AuditKind::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownAuditKind(s.to_owned()))
    }
}

/// One security event: what happened, when, to whom, from which client.
///
/// Built with [`AuditEvent::new`] (which assigns the id) and the builder methods. It never holds
/// a secret; see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// A UUID v7 as text, assigned by [`AuditEvent::new`]. Its embedded time is when the value was
    /// created, and ids created by one process increase, so events with equal [`at`](Self::at)
    /// list in creation order.
    pub id: String,
    /// When it happened (from the injected clock), to the microsecond.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: AuditKind,
    /// The user concerned; `None` e.g. for a failed sign-in of an unknown login (the login itself
    /// is not stored).
    pub user_id: Option<UserId>,
    /// The client's IP address, as the adapter determined it.
    pub ip: Option<String>,
    /// The client's `User-Agent`, at most [`MAX_USER_AGENT_CHARS`] characters.
    pub user_agent: Option<String>,
    /// Small, non-secret facts: `{"flow": "mobile"}`, `{"grant_id": ...}`, `{"key_id": ...}`,
    /// `{"reason": "bad_password"}`.
    #[serde(default)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEvent {
    /// An event of `kind` at `at` (truncated to whole microseconds, the precision every store
    /// keeps), with a fresh UUID v7 id, no user, no client information and no detail.
    pub fn new(kind: AuditKind, at: DateTime<Utc>) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at: at.trunc_subsecs(6),
            kind,
            user_id: None,
            ip: None,
            user_agent: None,
            detail: serde_json::Map::new(),
        }
    }

    /// Sets the user concerned.
    pub fn user(mut self, id: &UserId) -> Self {
        self.user_id = Some(id.clone());
        self
    }

    /// Sets the client's IP address and user agent. Blank values count as absent; a user agent
    /// longer than [`MAX_USER_AGENT_CHARS`] characters is cut there (on a character boundary).
    pub fn client(mut self, ip: Option<&str>, user_agent: Option<&str>) -> Self {
        self.ip = ip.map(str::trim).filter(|ip| !ip.is_empty()).map(str::to_owned);
        self.user_agent = user_agent
            .map(str::trim)
            .filter(|agent| !agent.is_empty())
            .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        self
    }

    /// Adds (or replaces) one fact of the detail map. Never pass a secret.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }
}

/// Which events [`AuditStore::list`] returns: every filter that is set must match. Built with
/// [`AuditQuery::new`] and the builder methods.
///
/// ```
/// use auth_core::UserId;
/// use auth_core::audit::{AuditKind, AuditQuery, DEFAULT_LIMIT, MAX_LIMIT};
///
/// let query = AuditQuery::new().user(&UserId::new("alice")).kinds(vec![AuditKind::SignInFailed]);
/// assert_eq!(query.effective_limit(), DEFAULT_LIMIT);
/// assert_eq!(query.limit(5_000).effective_limit(), MAX_LIMIT);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only this user's events (events without a user never match).
    pub user_id: Option<UserId>,
    /// Only these kinds; empty means every kind.
    pub kinds: Vec<AuditKind>,
    /// Only events at or after this instant (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant (exclusive).
    pub before: Option<DateTime<Utc>>,
    /// At most this many events: 0 means [`DEFAULT_LIMIT`], more than [`MAX_LIMIT`] means
    /// [`MAX_LIMIT`] (see [`effective_limit`](Self::effective_limit)).
    pub limit: usize,
}

impl AuditQuery {
    /// Every event, up to [`DEFAULT_LIMIT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Only `id`'s events.
    pub fn user(mut self, id: &UserId) -> Self {
        self.user_id = Some(id.clone());
        self
    }

    /// Only events of these kinds (empty: every kind).
    pub fn kinds(mut self, kinds: Vec<AuditKind>) -> Self {
        self.kinds = kinds;
        self
    }

    /// Only events at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }

    /// Only events before `at`.
    pub fn before(mut self, at: DateTime<Utc>) -> Self {
        self.before = Some(at);
        self
    }

    /// At most `n` events (0: [`DEFAULT_LIMIT`]; capped at [`MAX_LIMIT`]).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n;
        self
    }

    /// The number of events a store returns at most: [`DEFAULT_LIMIT`] for a limit of 0, else the
    /// limit capped at [`MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }

    /// Whether `event` passes every filter of the query (the limit aside). For stores that
    /// filter in memory.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.user_id.as_ref().is_none_or(|user| event.user_id.as_ref() == Some(user))
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && self.since.is_none_or(|since| event.at >= since)
            && self.before.is_none_or(|before| event.at < before)
    }
}

/// Orders events newest first: by `at` descending, then by `id` descending (byte order).
pub(crate) fn sort_newest_first(events: &mut [AuditEvent]) {
    events.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
}

/// Where audit events are kept. Implementations: [`MemoryAuditStore`], `auth_sea_orm::SeaOrmAuditStore`;
/// every implementation should pass [`conformance::audit_store_conformance`] (feature `testing`).
#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores one event, as given.
    async fn record(&self, event: &AuditEvent) -> Result<(), AuthError>;

    /// Newest first (by `at`, then `id` descending), filtered by the query, at most its
    /// [effective limit](AuditQuery::effective_limit).
    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError>;

    /// Retention: deletes events older than `before` (an event exactly at `before` stays);
    /// returns how many.
    async fn delete_before(&self, before: DateTime<Utc>) -> Result<u64, AuthError>;
}

#[cfg(test)]
mod tests;
