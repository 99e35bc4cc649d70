//! The authenticated identity.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::UserId;

/// The `amr` values (RFC 8176 and Portcullis's own) that may count as a second factor: `otp`
/// (TOTP), `rc` (a recovery code), `mfa`, and `hwk`/`swk` (a passkey: hardware/software-bound
/// key) — a key only together with another factor, such as `user` (the authenticator verified
/// the user) or `pwd` (see [`Principal::has_second_factor`]).
pub const SECOND_FACTOR_AMR: &[&str] = &["otp", "rc", "hwk", "swk", "mfa"];

/// What a guarded route requires of an authenticated principal beyond a valid credential: scope,
/// MFA, recency. Converts into a [`Guard`](crate::Guard) (`Guard::from(requirements)`), which is
/// what the adapters' layers check; [`Requirements::check`] answers the same.
///
/// ```
/// use auth_core::{AuthError, CredentialMethod, Principal, Requirements, UserId};
/// use chrono::{DateTime, Duration};
///
/// let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
/// let mut principal = Principal::new(UserId::new("42"), CredentialMethod::Jwt);
/// principal.amr = vec!["pwd".into()];
/// principal.auth_time = Some(now - Duration::minutes(10));
///
/// let sensitive = Requirements::new().mfa().max_auth_age(Duration::minutes(5));
/// assert!(matches!(sensitive.check(&principal, now), Err(AuthError::MfaRequired)));
/// principal.amr.push("otp".into());
/// assert!(matches!(sensitive.check(&principal, now), Err(AuthError::ReauthenticationRequired)));
/// principal.auth_time = Some(now - Duration::minutes(1));
/// assert!(sensitive.check(&principal, now).is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Requirements {
    /// A credential limited by scopes must carry this one ([`Principal::require_scope`]).
    pub scope: Option<String>,
    /// The sign-in must have used a second factor ([`Principal::require_mfa`]).
    pub mfa: bool,
    /// The sign-in must be at most this old ([`Principal::require_recent_auth`]).
    pub max_auth_age: Option<Duration>,
}

impl Requirements {
    /// Nothing beyond a valid credential.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires `scope` of every credential limited by scopes ([`Principal::is_scope_limited`]).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Requires a second factor at sign-in.
    pub fn mfa(mut self) -> Self {
        self.mfa = true;
        self
    }

    /// Requires a sign-in at most `max_age` old.
    pub fn max_auth_age(mut self, max_age: Duration) -> Self {
        self.max_auth_age = Some(max_age);
        self
    }

    /// Checks `principal` at `now`: scope first (403 `insufficient_scope`), then MFA (403
    /// `mfa_required`), then age (403 `reauthentication_required`).
    pub fn check(&self, principal: &Principal, now: DateTime<Utc>) -> Result<(), crate::AuthError> {
        if let Some(scope) = &self.scope {
            principal.require_scope(scope)?;
        }
        if self.mfa {
            principal.require_mfa()?;
        }
        if let Some(max_age) = self.max_auth_age {
            principal.require_recent_auth(max_age, now)?;
        }
        Ok(())
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CredentialMethod {
    /// A JWT access token (`Authorization: Bearer`).
    Jwt,
    /// An opaque token.
    OpaqueToken,
    /// An API key.
    ApiKey,
    /// A server-side cookie session.
    Session,
    /// A JWT of another issuer (an OpenID provider such as Auth0, Keycloak or Google), verified
    /// by a resource server from the issuer's keys. Its authority is what its claims say: the
    /// roles, permissions and tenant are mapped from them, and its scopes (`scope`/`scp`) limit
    /// only scope checks, never those roles and permissions. Without a scope claim it has no
    /// scope at all.
    ExternalJwt,
}

impl CredentialMethod {
    /// Its name in audit events: `jwt`, `opaque_token`, `api_key`, `session`, `external_jwt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::OpaqueToken => "opaque_token",
            Self::ApiKey => "api_key",
            Self::Session => "session",
            Self::ExternalJwt => "external_jwt",
        }
    }
}

/// The one authenticated identity every credential kind produces. Handlers receive it through the
/// adapters' extractors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Principal {
    /// The authenticated user.
    pub user_id: UserId,
    /// The kind of credential that authenticated the request.
    pub method: CredentialMethod,
    /// The grant (token family) or session this credential belongs to, if any.
    pub grant_id: Option<String>,
    /// The id of the credential itself (a JWT's `jti`), if any.
    pub credential_id: Option<String>,
    /// Scopes granted to the credential.
    pub scopes: Vec<String>,
    /// Authentication methods used at sign-in (`amr`, RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// When the user authenticated (`auth_time`).
    pub auth_time: Option<DateTime<Utc>>,
    /// When the credential expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Further claims carried by the credential (custom claims, roles, ...).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// For a cookie session: the session's application data as it was when the request was
    /// authenticated (read it typed with [`Principal::session_value`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_data: Option<serde_json::Map<String, serde_json::Value>>,
    /// What the user may do (staff and superuser flags, roles, permissions, tenant), resolved the
    /// same way for every credential kind; read it through [`Principal::has_permission`],
    /// [`Principal::has_role`], [`Principal::is_staff`], ..., which apply the credential's scopes.
    #[serde(skip)]
    pub authority: std::sync::Arc<crate::Authority>,
}

impl Principal {
    /// A principal for `user_id`, authenticated by `method`, with nothing else known.
    pub fn new(user_id: UserId, method: CredentialMethod) -> Self {
        Self {
            user_id,
            method,
            grant_id: None,
            credential_id: None,
            scopes: Vec::new(),
            amr: Vec::new(),
            auth_time: None,
            expires_at: None,
            claims: serde_json::Map::new(),
            session_data: None,
            authority: std::sync::Arc::default(),
        }
    }

    /// Whether the credential carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// A further claim by name.
    pub fn claim(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }

    /// A typed value of the session's data (cookie sessions only): `Ok(None)` when absent or when
    /// the credential is not a session; an error when the stored value has another shape.
    pub fn session_value<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, crate::AuthError> {
        match self.session_data.as_ref().and_then(|data| data.get(key)) {
            None => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| crate::AuthError::invalid_field(key, e.to_string())),
        }
    }

    /// Whether the credential is limited by scopes: every API key (an API key without scopes may
    /// do nothing scoped), every external JWT ([`CredentialMethod::ExternalJwt`]), and any other
    /// credential that carries scopes (a JWT with a `scope` claim, even an empty one). A user
    /// credential without scopes has the user's full authority.
    pub fn is_scope_limited(&self) -> bool {
        matches!(self.method, CredentialMethod::ApiKey | CredentialMethod::ExternalJwt)
            || !self.scopes.is_empty()
            || self.claims.contains_key("scope")
    }

    /// Whether this credential may be used where `scope` is required: a credential limited by
    /// scopes only within them ([`Principal::is_scope_limited`]); any other has the user's full
    /// authority. The one meaning of "scope" everywhere: [`Principal::require_scope`],
    /// [`Requirements::scope`] and the adapters' `require_scope` guards.
    ///
    /// ```
    /// use auth_core::{CredentialMethod, Principal, UserId};
    ///
    /// let mut jwt = Principal::new(UserId::new("1"), CredentialMethod::Jwt);
    /// assert!(jwt.allows_scope("notes:write"), "no scopes: the user's full authority");
    /// jwt.scopes = vec!["notes:read".into()];
    /// assert!(jwt.allows_scope("notes:read") && !jwt.allows_scope("notes:write"));
    /// let key = Principal::new(UserId::new("1"), CredentialMethod::ApiKey);
    /// assert!(!key.allows_scope("notes:read"), "an API key only within its scopes");
    /// ```
    pub fn allows_scope(&self, scope: &str) -> bool {
        !self.is_scope_limited() || self.has_scope(scope)
    }

    /// The scope guard: `Ok` when [`Principal::allows_scope`], else
    /// [`AuthError::InsufficientScope`](crate::AuthError::InsufficientScope) (403 with
    /// `WWW-Authenticate: Bearer error="insufficient_scope"`).
    pub fn require_scope(&self, scope: &str) -> Result<(), crate::AuthError> {
        if self.allows_scope(scope) {
            Ok(())
        } else {
            Err(crate::AuthError::InsufficientScope(scope.to_owned()))
        }
    }

    /// `Ok` when [`Principal::has_role`], else [`AuthError::Forbidden`](crate::AuthError) (403
    /// `permission_denied`).
    pub fn require_role(&self, role: &str) -> Result<(), crate::AuthError> {
        if self.has_role(role) { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// Whether the credential's scopes narrow the user's authority (roles, permissions, flags):
    /// for every scope-limited credential but an external JWT, whose issuer stated its roles and
    /// permissions itself.
    fn scopes_narrow_authority(&self) -> bool {
        self.method != CredentialMethod::ExternalJwt && self.is_scope_limited()
    }

    /// Whether the authority item `scope` survives the credential's scopes.
    fn authority_allows(&self, scope: &str) -> bool {
        !self.scopes_narrow_authority() || self.has_scope(scope)
    }

    /// Whether this credential holds the scope `name` or its scopes do not narrow its authority,
    /// without allocating: the narrowing of [`Principal::has_role`] (`role:<name>` scopes).
    fn allows_prefixed_scope(&self, prefix: &str, name: &str) -> bool {
        !self.scopes_narrow_authority()
            || self.scopes.iter().any(|s| s.strip_prefix(prefix).is_some_and(|rest| rest == name))
    }

    /// Whether the user has `role` (from their user type or the role store) and, for a credential
    /// limited by scopes, it carries the scope `role:<role>`.
    pub fn has_role(&self, role: &str) -> bool {
        self.authority.roles.contains(role) && self.allows_prefixed_scope("role:", role)
    }

    /// Whether the user holds `permission` (one of their roles grants it, or they are a
    /// superuser) and, for a credential limited by scopes, it carries the scope `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.authority.has_permission(permission) && self.authority_allows(permission)
    }

    /// `Ok` when [`Principal::has_permission`], else [`AuthError::Forbidden`](crate::AuthError)
    /// (403 `permission_denied`).
    pub fn require_permission(&self, permission: &str) -> Result<(), crate::AuthError> {
        if self.has_permission(permission) { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// Whether the user is staff or a superuser and, for a credential limited by scopes, it
    /// carries the scope `staff`.
    pub fn is_staff(&self) -> bool {
        (self.authority.is_staff || self.authority.is_superuser) && self.authority_allows("staff")
    }

    /// `Ok` when [`Principal::is_staff`], else [`AuthError::Forbidden`](crate::AuthError).
    pub fn require_staff(&self) -> Result<(), crate::AuthError> {
        if self.is_staff() { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// Whether the user is a superuser and, for a credential limited by scopes, it carries the
    /// scope `superuser`.
    pub fn is_superuser(&self) -> bool {
        self.authority.is_superuser && self.authority_allows("superuser")
    }

    /// `Ok` when [`Principal::is_superuser`], else [`AuthError::Forbidden`](crate::AuthError).
    pub fn require_superuser(&self) -> Result<(), crate::AuthError> {
        if self.is_superuser() { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// The user's tenant, if their user type has one.
    pub fn tenant(&self) -> Option<&str> {
        self.authority.tenant.as_deref()
    }

    /// The object-level check: `Ok` when the user owns the object (`owner` is their id) or holds
    /// `permission` ([`Principal::has_permission`]); else 403 `permission_denied`. A credential
    /// limited by scopes needs the scope `permission` even for its owner's own objects.
    ///
    /// ```
    /// use auth_core::{CredentialMethod, Principal, UserId};
    /// let alice = Principal::new(UserId::new("alice"), CredentialMethod::Session);
    /// assert!(alice.owns_or(&UserId::new("alice"), "notes:delete").is_ok());
    /// assert!(alice.owns_or(&UserId::new("bob"), "notes:delete").is_err());
    /// ```
    ///
    /// For lists, filter the query instead: by `principal.user_id` (the owner's rows) unless
    /// `principal.has_permission("notes:view_any")`, and by `principal.tenant()` where rows
    /// belong to tenants.
    pub fn owns_or(&self, owner: &crate::UserId, permission: &str) -> Result<(), crate::AuthError> {
        let owns = self.user_id == *owner && self.authority_allows(permission);
        if owns || self.has_permission(permission) { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// Whether the claim `name` is the boolean `true` (e.g. `is_staff` when it is mapped into tokens).
    ///
    /// A claim is a snapshot taken when the token was issued, and only JWTs carry claims: for
    /// staff, superuser, roles and permissions use [`Principal::is_staff`],
    /// [`Principal::has_role`], [`Principal::has_permission`], which every credential kind
    /// answers from the user's current authority.
    pub fn claim_is_true(&self, name: &str) -> bool {
        self.claims.get(name).and_then(serde_json::Value::as_bool) == Some(true)
    }

    /// `Ok` when the claim `name` is the boolean `true`, else [`AuthError::Forbidden`](crate::AuthError).
    pub fn require_claim(&self, name: &str) -> Result<(), crate::AuthError> {
        if self.claim_is_true(name) { Ok(()) } else { Err(crate::AuthError::Forbidden) }
    }

    /// Whether the sign-in behind this credential used a second factor: its `amr` (RFC 8176)
    /// holds `otp`, `rc` or `mfa`; or a key (`hwk`, `swk`) and another method besides it (`user`:
    /// the authenticator verified the user; `pwd`: a password then the key). A passkey alone,
    /// without user verification, is one factor.
    pub fn has_second_factor(&self) -> bool {
        let is_key = |m: &String| m == "hwk" || m == "swk";
        let other = self.amr.iter().any(|m| SECOND_FACTOR_AMR.contains(&m.as_str()) && !is_key(m));
        other || (self.amr.iter().any(is_key) && self.amr.iter().any(|m| !is_key(m)))
    }

    /// The MFA guard: `Ok` when [`Principal::has_second_factor`], else
    /// [`AuthError::MfaRequired`](crate::AuthError::MfaRequired) (403).
    pub fn require_mfa(&self) -> Result<(), crate::AuthError> {
        if self.has_second_factor() { Ok(()) } else { Err(crate::AuthError::MfaRequired) }
    }

    /// The recent-authentication guard: `Ok` when the user signed in (`auth_time`) at most
    /// `max_age` before `now`, else
    /// [`AuthError::ReauthenticationRequired`](crate::AuthError::ReauthenticationRequired) (403).
    /// A credential without `auth_time` (an API key) never passes.
    pub fn require_recent_auth(&self, max_age: Duration, now: DateTime<Utc>) -> Result<(), crate::AuthError> {
        match self.auth_time {
            Some(at) if now - at <= max_age => Ok(()),
            _ => Err(crate::AuthError::ReauthenticationRequired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passkey_is_a_second_factor_only_with_another_method() {
        let with = |amr: &[&str]| {
            let mut principal = Principal::new(UserId::new("42"), CredentialMethod::Jwt);
            principal.amr = amr.iter().map(|m| (*m).to_owned()).collect();
            principal.has_second_factor()
        };
        assert!(!with(&["pwd"]));
        assert!(with(&["pwd", "otp"]) && with(&["pwd", "rc"]) && with(&["mfa"]));
        assert!(!with(&["hwk"]) && !with(&["swk"]), "a passkey without user verification is one factor");
        assert!(with(&["hwk", "user"]) && with(&["swk", "user"]), "with user verification: two");
        assert!(with(&["pwd", "hwk"]), "a password, then a passkey");
        assert!(!with(&["hwk", "swk"]), "two keys are still possession only");
        assert!(!with(&["email"]) && !with(&["fed"]));
    }
    use crate::{Authority, UserId};

    #[test]
    fn an_external_jwt_is_strict_on_scopes_and_keeps_its_stated_authority() {
        let mut external = Principal::new(UserId::new("svc"), CredentialMethod::ExternalJwt);
        external.authority =
            std::sync::Arc::new(Authority::new().role("admin").permission("notes:delete").staff(true));
        assert!(!external.allows_scope("read"), "no scope claim: no scope");
        assert!(external.has_role("admin") && external.has_permission("notes:delete") && external.is_staff());
        external.scopes = vec!["read".into()];
        assert!(external.allows_scope("read") && !external.allows_scope("write"));
        assert!(external.has_role("admin"), "scopes do not narrow an issuer's roles");
        assert!(external.owns_or(&UserId::new("svc"), "notes:edit").is_ok());

        let mut portcullis = Principal::new(UserId::new("u"), CredentialMethod::Jwt);
        portcullis.authority = external.authority.clone();
        portcullis.scopes = vec!["read".into()];
        assert!(!portcullis.has_role("admin"), "a scoped Portcullis token narrows the user's roles");
        assert!(portcullis.owns_or(&UserId::new("u"), "notes:edit").is_err());
    }
}
