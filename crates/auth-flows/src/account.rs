//! The account lifecycle that needs no email: registration, password change, profile changes,
//! account deletion, the activity list, and the administrator's password and activation changes.
//! Password reset and email verification are in [`emails`](crate::emails) (feature
//! `account-emails`).

use std::fmt;

use auth_core::AuthUser;
#[cfg(feature = "jwt")]
use auth_core::CredentialMethod;
#[cfg(feature = "audit")]
use auth_core::audit::AuditEvent;
use auth_core::audit::AuditKind;
use auth_core::{Accounts, AuthError, FieldError, Principal, Registration, UserId, UserStore, UserUpdate};
use serde::{Deserialize, Serialize};

use crate::AuthService;
use crate::service::user_credential;

/// Whether email addresses must be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EmailVerification {
    /// No verification emails; `email_verified` stays false.
    Off,
    /// Verification emails on registration and email change; unverified users may sign in.
    #[default]
    Optional,
    /// As `Optional`, and a user whose email is not verified cannot sign in (403
    /// `email_not_verified`, only after the right password).
    Mandatory,
}

impl std::str::FromStr for EmailVerification {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "mandatory" => Ok(Self::Mandatory),
            other => Err(format!("`{other}` is not one of off, optional, mandatory")),
        }
    }
}

/// `POST /register` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// Username.
    pub username: String,
    /// Optional email.
    #[serde(default)]
    pub email: Option<String>,
    /// Password.
    pub password: String,
}
crate::redacted_debug!(RegisterRequest, username, email);

/// `POST /api/auth/password/change` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (the password policy applies).
    pub new_password: String,
}
crate::redacted_debug!(PasswordChangeRequest,);

/// `PATCH /api/auth/me` body: only these fields can be changed by the user; any other field
/// (`is_staff`, `roles`, ...) is refused with a 400 and nothing changes.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdateRequest {
    /// A new username.
    #[serde(default)]
    pub username: Option<String>,
    /// A new email address: with verification on, it replaces the current one only once the
    /// link sent to it is used. Changing it needs a recent sign-in, or the current password (and
    /// a second factor, with MFA) below.
    #[serde(default)]
    pub email: Option<String>,
    /// The current password, when the sign-in is older than the re-authentication window.
    #[serde(default)]
    pub current_password: Option<String>,
    /// With the current password, for an account with MFA: a current TOTP code...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}
crate::redacted_debug!(ProfileUpdateRequest, username, email);

impl ProfileUpdateRequest {
    /// The re-authentication it carries.
    pub fn reauthentication(&self) -> Reauthentication {
        Reauthentication {
            current_password: self.current_password.clone(),
            code: self.code.clone(),
            recovery_code: self.recovery_code.clone(),
        }
    }
}

/// Proof of presence for a change that decides who controls the account (a new email address, a
/// new second factor, a new API key; ASVS 5.0 V7.5.1): needed when the credential's sign-in
/// (`auth_time`) is older than [`FlowConfig::reauthentication_window`](crate::FlowConfig), and then
/// the current password and, for an account with MFA, a current code or a recovery code.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Reauthentication {
    /// The current password.
    #[serde(default)]
    pub current_password: Option<String>,
    /// For an account with MFA: a current TOTP code...
    #[serde(default)]
    pub code: Option<String>,
    /// ... or an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}
crate::redacted_debug!(Reauthentication,);

/// `DELETE /api/auth/me` body.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The current password.
    pub password: String,
}
crate::redacted_debug!(DeleteAccountRequest,);

/// What a password change did to the credential that asked for it.
#[non_exhaustive]
pub enum PasswordChanged {
    /// A cookie session or an opaque token: it keeps working (over HTTP a cookie session goes on
    /// under a new id: `POST /api/auth/password/change` sets new session and CSRF cookies).
    Kept,
    /// A JWT sign-in: its tokens carry the old password's fingerprint and stop working, so the
    /// sign-in continues with this new pair (same `amr` and `auth_time`).
    #[cfg(feature = "jwt")]
    Reissued(crate::TokenPair),
}

impl fmt::Debug for PasswordChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kept => f.write_str("Kept"),
            #[cfg(feature = "jwt")]
            Self::Reissued(pair) => f.debug_tuple("Reissued").field(pair).finish(),
        }
    }
}

/// The password policy names its field `password`; in these requests it is `new_password`.
pub(crate) fn on_new_password(error: AuthError) -> AuthError {
    match error {
        AuthError::InvalidInput(fields) => AuthError::InvalidInput(
            fields
                .into_iter()
                .map(|f| if f.field == "password" { FieldError::new("new_password", f.message) } else { f })
                .collect(),
        ),
        other => other,
    }
}

impl<S: UserStore> AuthService<S> {
    /// Creates a password-less account for a first factor that identifies people without one
    /// (social login, email sign-in): the username derived from `seed` (an email's local part, a
    /// name: ASCII letters, digits, `_ . -`, at most 30), else `fallback`, made unique with a
    /// number; with `verified_email`, that address, marked verified. An address taken meanwhile
    /// is left out (nothing is revealed). The account sets a password through the reset flow.
    pub async fn create_passwordless_user(
        &self,
        seed: &str,
        fallback: &str,
        verified_email: Option<String>,
    ) -> Result<S::User, AuthError> {
        let mut base: String = seed
            .chars()
            .filter_map(|c| {
                let c = c.to_ascii_lowercase();
                (c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')).then_some(c)
            })
            .take(30)
            .collect();
        if base.len() < 3 {
            base = fallback.to_owned();
        }
        let mut email = verified_email;
        for n in 0..50_u32 {
            let username = if n == 0 { base.clone() } else { format!("{base}{}", n + 1) };
            if Accounts::<S>::validate_username(&username).is_err() {
                continue;
            }
            let mut new = auth_core::NewUser::new(username, email.clone(), String::new());
            new.password_hash = None;
            match self.store().create_user(new).await {
                Ok(user) => {
                    if email.is_some() {
                        self.store().update_user(&user.id(), UserUpdate::new().email_verified(true)).await?;
                        return self.store().find_by_id(&user.id()).await?.ok_or(AuthError::NotFound);
                    }
                    return Ok(user);
                }
                Err(auth_core::CreateUserError::UsernameTaken) => {}
                Err(auth_core::CreateUserError::EmailTaken) => email = None,
                Err(other) => return Err(AuthError::backend(other)),
            }
        }
        Err(AuthError::Conflict(vec![FieldError::new("username", "no free username could be derived")]))
    }
}

impl<S: UserStore> AuthService<S> {
    /// The email verification mode (`Off` without account emails).
    pub fn email_verification(&self) -> EmailVerification {
        #[cfg(feature = "account-emails")]
        if let Some(emails) = &self.emails {
            return emails.config.verification;
        }
        EmailVerification::Off
    }

    /// Creates a user from the public registration endpoint (never staff).
    /// With account emails and verification on, a verification email goes to the address; with
    /// verification mandatory, an email is required.
    pub async fn register(&self, request: RegisterRequest) -> Result<S::User, AuthError> {
        let without_email = request.email.as_deref().is_none_or(|e| e.trim().is_empty());
        if without_email && self.email_verification() == EmailVerification::Mandatory {
            // Such an account could never verify, so never sign in.
            return Err(AuthError::invalid_field("email", "is required: email addresses must be verified"));
        }
        let registration = Registration::new(request.username, request.email, request.password);
        // Bad input is refused before it counts; the count comes before any hashing.
        self.accounts.validate_registration(&registration)?;
        self.count_registration().await?;
        let user = self.accounts.register(registration).await?;
        self.audit(AuditKind::Registered, Some(&user.id()), &[]).await;
        #[cfg(feature = "account-emails")]
        if let Some(email) = user.email() {
            self.queue_verification(&user.id(), email);
        }
        Ok(user)
    }

    /// Creates a user as an administrator (`portcullis user create`): staff flags allowed, the
    /// password policy applies, recorded in the audit log; no verification email.
    pub async fn create_user(&self, registration: Registration) -> Result<S::User, AuthError> {
        let user = self.accounts.register(registration).await?;
        self.audit(AuditKind::Registered, Some(&user.id()), &[("by", "administrator")]).await;
        Ok(user)
    }

    /// Whether registration hides which email addresses have accounts: with account emails and
    /// verification on, a registration with a taken address answers like a new one, and the
    /// address's owner gets a notice instead (see [`AuthService::register_without_enumeration`]).
    pub fn prevents_enumeration(&self) -> bool {
        self.email_verification() != EmailVerification::Off
    }

    /// Registration that does not reveal whether an email address has an account (when
    /// [`AuthService::prevents_enumeration`]): `Ok(None)` when the address was taken — no account
    /// is created, the address's owner is told by email, and the caller answers exactly as for a
    /// new account (the password was hashed either way). A taken *username* is still a 409:
    /// usernames are chosen, not proven. Without prevention this is [`AuthService::register`].
    pub async fn register_without_enumeration(
        &self,
        request: RegisterRequest,
    ) -> Result<Option<S::User>, AuthError> {
        let email = request.email.clone();
        match self.register(request).await {
            Ok(user) => Ok(Some(user)),
            Err(AuthError::Conflict(fields))
                if self.prevents_enumeration() && fields.iter().all(|f| f.field == "email") =>
            {
                #[cfg(feature = "account-emails")]
                if let Some(email) = email {
                    let owner = self.store().find_by_email(email.trim()).await?.map(|u| u.id());
                    if let Some(owner) = owner {
                        self.taken_email_attempt(&owner, email.trim(), "registration").await;
                    }
                }
                #[cfg(not(feature = "account-emails"))]
                let _ = email;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Refuses sign-in of an unverified user in mandatory mode (called after the right first
    /// factor).
    pub(crate) fn check_email_verified(&self, user: &S::User) -> Result<(), AuthError> {
        if self.email_verification() == EmailVerification::Mandatory && !user.email_verified() {
            return Err(AuthError::EmailNotVerified);
        }
        Ok(())
    }

    /// The gate of a change that decides who controls the account: with the user's own
    /// credentials only (an API key gets 403); then either the credential's sign-in is at most
    /// [`FlowConfig::reauthentication_window`](crate::FlowConfig) old and `proof` is empty, or
    /// `proof` has the right current password (400 on `current_password` otherwise, counted as a
    /// failed sign-in) and, for an account with MFA, a right second factor. Neither: 403
    /// `reauthentication_required` (RFC 9470's `insufficient_user_authentication`).
    pub async fn require_recent_authentication(
        &self,
        principal: &Principal,
        proof: &Reauthentication,
    ) -> Result<(), AuthError> {
        user_credential(principal)?;
        let Some(password) = proof.current_password.as_deref() else {
            let now = self.clock.now();
            let recent = principal
                .auth_time
                .is_some_and(|at| at <= now && now - at <= self.config.reauthentication_window);
            return if recent { Ok(()) } else { Err(AuthError::ReauthenticationRequired) };
        };
        self.check_current_password(&principal.user_id, password, "current_password").await?;
        #[cfg(feature = "mfa")]
        self.verify_second_factor_if_enabled(
            &principal.user_id,
            proof.code.as_deref(),
            proof.recovery_code.as_deref(),
            "reauthentication",
        )
        .await?;
        Ok(())
    }

    /// Checks the current password of a signed-in user, counting a wrong one against the user's
    /// consecutive re-authentication failures and the client's network (429 past the limits). A
    /// wrong password is a 400 on `field`.
    pub(crate) async fn check_current_password(
        &self,
        user_id: &UserId,
        password: &str,
        field: &str,
    ) -> Result<(), AuthError> {
        let attempt = self.begin_reauthentication(user_id).await?;
        match self.accounts.verify_password(user_id, password).await {
            Ok(true) => {
                self.sign_in_succeeded(attempt).await;
                Ok(())
            }
            Ok(false) => {
                self.sign_in_failed(attempt).await;
                Err(AuthError::invalid_field(field, "the password is not correct"))
            }
            Err(error) => {
                self.sign_in_abandoned(attempt).await;
                Err(error)
            }
        }
    }

    /// Changes the signed-in user's password (the policy applies) after checking the current one.
    /// Every other grant, opaque token, cookie session and API key of the user is revoked, and
    /// pending reset links die; the credential that asked survives (see [`PasswordChanged`]).
    pub async fn change_password(
        &self,
        principal: &Principal,
        request: &PasswordChangeRequest,
    ) -> Result<PasswordChanged, AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        self.check_current_password(&user.id(), &request.current_password, "current_password").await?;
        let result = self.accounts.set_password(&user.id(), &request.new_password).await;
        self.user_state.invalidate(&user.id());
        result.map_err(on_new_password)?;
        let keep = principal.grant_id.as_deref();
        self.revoke_other_sessions(&user.id(), keep).await?;
        #[cfg(feature = "api-keys")]
        if let Some(keys) = &self.api_keys {
            keys.store.revoke_all_for_user(&user.id(), self.clock.now()).await?;
            keys.cache.forget_owner(&user.id());
        }
        #[cfg(feature = "mfa")]
        if let Some(mfa) = &self.mfa {
            mfa.service.store().delete_challenges_for_user(&user.id()).await?;
        }
        // Every pending link dies with the old password: reset links, email changes.
        #[cfg(feature = "account-emails")]
        self.delete_account_tokens(&user.id(), &[]).await?;
        self.audit(AuditKind::PasswordChanged, Some(&user.id()), &[]).await;
        #[cfg(feature = "account-emails")]
        self.notify_password_changed(&user);
        #[cfg(feature = "jwt")]
        if principal.method == CredentialMethod::Jwt {
            // The JWT grant's tokens carry the old fingerprint: end it and continue in a new one.
            if let Some(grant) = keep {
                self.revoke_grant(grant).await?;
            }
            let user = self.current_user(principal).await?;
            let client = crate::ClientInfo::current().unwrap_or_default();
            let auth_time =
                principal.auth_time.map_or_else(|| self.clock.now().timestamp(), |t| t.timestamp());
            let pair = self.issue_tokens_at(&user, &client, principal.amr.clone(), auth_time).await?;
            return Ok(PasswordChanged::Reissued(pair));
        }
        Ok(PasswordChanged::Kept)
    }

    /// Changes the signed-in user's profile: only `username` and `email`. With verification on,
    /// a new email is verified first (a link to it, a notice to the old address) and replaces the
    /// old one only then; an address that belongs to another account is answered alike (its owner
    /// gets a notice, no link is sent). With verification off it replaces it at once, unverified
    /// (409 when taken).
    pub async fn update_profile(
        &self,
        principal: &Principal,
        request: &ProfileUpdateRequest,
    ) -> Result<S::User, AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        let mut update = UserUpdate::new();
        if let Some(username) = &request.username {
            Accounts::<S>::validate_username(username)?;
            if username != user.username() {
                update = update.username(username.clone());
            }
        }
        #[cfg(feature = "account-emails")]
        let mut pending_email = None;
        if let Some(email) = request.email.as_deref().map(str::trim) {
            Accounts::<S>::validate_email(email)?;
            let same = user.email().is_some_and(|current| current.to_lowercase() == email.to_lowercase());
            if !same {
                // A new address decides where reset links go: a recent sign-in or the password.
                self.require_recent_authentication(principal, &request.reauthentication()).await?;
                if self.email_verification() == EmailVerification::Off {
                    update = update.email(Some(email.to_owned())).email_verified(false);
                } else {
                    // Taken by someone else: answered like a free address (not to reveal which
                    // addresses have accounts); the owner gets a notice instead of a link.
                    #[cfg(feature = "account-emails")]
                    {
                        let owner = self.store().find_by_email(email).await?.map(|u| u.id());
                        pending_email = Some((email.to_owned(), owner));
                    }
                }
            }
        }
        let email_changed = update.email.is_some();
        let updated = if update.is_empty() {
            user.clone()
        } else {
            self.store().update_user(&user.id(), update).await?.ok_or(AuthError::NotFound)?
        };
        self.user_state.invalidate(&user.id());
        let mut changed: Vec<&str> = Vec::new();
        if updated.username() != user.username() {
            changed.push("username");
        }
        if email_changed {
            changed.push("email");
            self.audit(AuditKind::EmailChanged, Some(&user.id()), &[]).await;
        }
        #[cfg(feature = "account-emails")]
        if let Some((new_email, owner)) = pending_email {
            changed.push("email_pending");
            self.email_change_requested(&user, &new_email, owner).await?;
        }
        if !changed.is_empty() {
            let fields = changed.join(",");
            self.audit(AuditKind::ProfileUpdated, Some(&user.id()), &[("fields", fields.as_str())]).await;
        }
        Ok(updated)
    }

    /// Deactivates the signed-in user's account after checking the password, and revokes every
    /// credential. (The row stays, inactive, so the username is not reused and the audit log
    /// keeps its subject.)
    pub async fn delete_account(
        &self,
        principal: &Principal,
        request: &DeleteAccountRequest,
    ) -> Result<(), AuthError> {
        user_credential(principal)?;
        let user = self.current_user(principal).await?;
        self.check_current_password(&user.id(), &request.password, "password").await?;
        self.set_active(&user.id(), false).await?;
        #[cfg(feature = "account-emails")]
        if let Some(emails) = &self.emails {
            emails.tokens.delete_for_user(&user.id(), None).await?;
        }
        Ok(())
    }

    /// The signed-in user's own audit events, newest first.
    #[cfg(feature = "audit")]
    pub async fn activity(
        &self,
        principal: &Principal,
        limit: usize,
        before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<AuditEvent>, AuthError> {
        user_credential(principal)?;
        let mut query =
            auth_core::audit::AuditQuery::new().user(&principal.user_id).limit(limit.clamp(1, 100));
        if let Some(before) = before {
            query = query.before(before);
        }
        self.audit_log().list(&query).await
    }

    /// Sets a new password (the account policy applies). Every grant and token of the user is
    /// revoked.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AuthError> {
        let result = self.accounts.set_password(id, password).await;
        self.user_state.invalidate(id);
        result?;
        self.sign_out_all(id).await?;
        #[cfg(feature = "account-emails")]
        self.delete_account_tokens(id, &[]).await?;
        self.audit(AuditKind::PasswordChanged, Some(id), &[("by", "administrator")]).await;
        Ok(())
    }

    /// Activates or deactivates a user; deactivation revokes every grant and token of the user.
    pub async fn set_active(&self, id: &UserId, active: bool) -> Result<(), AuthError> {
        let result = self.accounts.set_active(id, active).await;
        self.user_state.invalidate(id);
        result?;
        if active {
            return Ok(());
        }
        self.sign_out_all(id).await?;
        self.audit(AuditKind::AccountDeactivated, Some(id), &[]).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_modes_parse() {
        assert_eq!("off".parse::<EmailVerification>(), Ok(EmailVerification::Off));
        assert_eq!("optional".parse::<EmailVerification>(), Ok(EmailVerification::Optional));
        assert_eq!("mandatory".parse::<EmailVerification>(), Ok(EmailVerification::Mandatory));
        assert!("sometimes".parse::<EmailVerification>().is_err());
        assert_eq!(EmailVerification::default(), EmailVerification::Optional);
    }

    #[test]
    fn request_bodies_refuse_unknown_fields_and_hide_secrets() {
        let body = r#"{"username": "x", "is_staff": true}"#;
        assert!(serde_json::from_str::<ProfileUpdateRequest>(body).is_err(), "mass assignment refused");
        let update: ProfileUpdateRequest =
            serde_json::from_str(r#"{"email": "a@example.com", "current_password": "pw-secret"}"#).unwrap();
        assert!(!format!("{update:?}").contains("secret"));
        let change: PasswordChangeRequest =
            serde_json::from_str(r#"{"current_password": "old-secret", "new_password": "new-secret"}"#)
                .unwrap();
        assert!(!format!("{change:?}").contains("secret"));
    }
}
