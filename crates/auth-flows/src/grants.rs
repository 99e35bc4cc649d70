//! Ending sign-ins: one grant, every grant of a user, every grant but one; the sessions list.

use auth_blacklist::RevocationEvent;
#[cfg(feature = "api-keys")]
use auth_core::CredentialMethod;
use auth_core::audit::AuditKind;
use auth_core::{AuthError, Principal, UserId, UserStore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AuthService;
use crate::service::user_credential;

/// One of the user's sessions (grants) or API keys, as `GET /api/auth/sessions` lists them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    /// Grant id (the `sid` of its tokens), or the API key's id.
    pub id: String,
    /// What it is: `jwt` (mobile or web sign-in), `token` (an opaque token), `session` (a cookie
    /// session) or `api_key`.
    pub kind: String,
    /// When the user signed in.
    pub created_at: DateTime<Utc>,
    /// When its refresh token was last used.
    pub last_used_at: DateTime<Utc>,
    /// The client's `User-Agent` at sign-in.
    pub user_agent: Option<String>,
    /// The client's IP at sign-in.
    pub ip: Option<String>,
    /// Whether the request listing it belongs to this session.
    pub current: bool,
}

impl<S: UserStore> AuthService<S> {
    /// Revokes a grant in the store and in this process at once (other processes follow within
    /// the revocation poll interval).
    pub(crate) async fn revoke_grant(&self, grant_id: &str) -> Result<(), AuthError> {
        let Some(grants) = &self.grants else { return Ok(()) };
        grants.store.revoke_grant(grant_id, self.clock.now()).await?;
        self.forget_grant(grant_id);
        Ok(())
    }

    /// This process stops accepting the credentials of a grant revoked in the store.
    fn forget_grant(&self, grant_id: &str) {
        if let Some(grants) = &self.grants {
            grants.revocations.apply(&RevocationEvent::Grant { grant_id: grant_id.to_owned() });
        }
    }

    /// Deletes the opaque tokens and cookie sessions of a revoked grant (a JWT grant has none).
    pub(crate) async fn delete_grant_credentials(&self, grant_id: &str) -> Result<(), AuthError> {
        #[cfg(feature = "opaque-tokens")]
        if let Some(opaque) = &self.opaque {
            opaque.store.delete_by_grant(grant_id).await?;
        }
        #[cfg(feature = "sessions")]
        if let Some(sessions) = &self.sessions {
            sessions.store.delete_by_grant(grant_id).await?;
        }
        let _ = grant_id;
        Ok(())
    }

    /// Revokes every grant of the user and every credential issued to them so far: JWTs, opaque
    /// tokens, cookie sessions and API keys, and the sign-ins still waiting for their MFA step.
    ///
    /// Each live grant is revoked by id (so its tokens die in every process, whatever their `iat`),
    /// then the user's "not before" is set to this second (for tokens of grants this process does
    /// not know about). A sign-in after this call is unaffected.
    pub async fn sign_out_all(&self, user_id: &UserId) -> Result<(), AuthError> {
        let now = self.clock.now();
        if let Some(grants) = &self.grants {
            for grant in grants.store.active_grants(user_id, now, self.idle_ttl()).await? {
                self.revoke_grant(&grant.id).await?;
            }
            // Whole seconds, like `iat`: a token issued later in this second must not count as
            // older.
            let not_before = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or_default();
            grants.store.revoke_all_for_user(user_id, not_before).await?;
            grants.revocations.apply(&RevocationEvent::User { user_id: user_id.clone(), not_before });
        }
        #[cfg(feature = "opaque-tokens")]
        if let Some(opaque) = &self.opaque {
            opaque.store.delete_for_user(user_id).await?;
        }
        #[cfg(feature = "sessions")]
        if let Some(sessions) = &self.sessions {
            sessions.store.delete_for_user(user_id).await?;
        }
        #[cfg(feature = "api-keys")]
        if let Some(keys) = &self.api_keys {
            keys.store.revoke_all_for_user(user_id, now).await?;
            keys.cache.forget_owner(user_id);
        }
        #[cfg(feature = "mfa")]
        if let Some(mfa) = &self.mfa {
            // A sign-in waiting for its second factor started before this: it must not complete.
            mfa.service.store().delete_challenges_for_user(user_id).await?;
        }
        // A pending change of address asked for by whoever is being signed out dies too.
        #[cfg(feature = "account-emails")]
        self.delete_account_tokens(
            user_id,
            &[
                auth_core::account_tokens::AccountTokenPurpose::EmailVerification,
                auth_core::account_tokens::AccountTokenPurpose::EmailChangeCancel,
            ],
        )
        .await?;
        self.user_state.invalidate(user_id);
        self.audit(AuditKind::SignedOutEverywhere, Some(user_id), &[]).await;
        Ok(())
    }

    /// Revokes every session (grant) of the user but `keep` — with its opaque tokens and cookie
    /// sessions, in every process. API keys are machine credentials and are left alone. Returns
    /// how many grants were revoked.
    pub async fn revoke_other_sessions(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> Result<u64, AuthError> {
        let Some(grants) = &self.grants else { return Ok(0) };
        let now = self.clock.now();
        let mut revoked = 0;
        for grant in grants.store.active_grants(user_id, now, self.idle_ttl()).await? {
            if Some(grant.id.as_str()) == keep {
                continue;
            }
            self.revoke_grant(&grant.id).await?;
            self.delete_grant_credentials(&grant.id).await?;
            revoked += 1;
        }
        Ok(revoked)
    }

    /// Signs the principal's user out everywhere ([`AuthService::sign_out_all`]): with the user's
    /// own credentials only, an API key gets 403.
    pub async fn sign_out_everywhere(&self, principal: &Principal) -> Result<(), AuthError> {
        user_credential(principal)?;
        self.sign_out_all(&principal.user_id).await
    }

    /// The principal's user's active sessions (grants of every kind), then their usable API keys
    /// (when API keys are enabled; the key's name as `user_agent`), the principal's own marked
    /// `current`. Not with an API key: 403.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<SessionInfo>, AuthError> {
        user_credential(principal)?;
        self.flush_last_uses().await;
        let now = self.clock.now();
        let mut sessions: Vec<SessionInfo> = Vec::new();
        if let Some(grants) = &self.grants {
            let active = grants.store.active_grants(&principal.user_id, now, self.idle_ttl()).await?;
            sessions.extend(active.into_iter().map(|g| SessionInfo {
                current: principal.grant_id.as_deref() == Some(g.id.as_str()),
                kind: g.kind,
                id: g.id,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
                user_agent: g.user_agent,
                ip: g.ip,
            }));
        }
        #[cfg(feature = "api-keys")]
        if let Some(keys) = &self.api_keys {
            for key in keys.store.list_for_user(&principal.user_id).await? {
                if key.check_usable(now).is_err() {
                    continue;
                }
                sessions.push(SessionInfo {
                    current: principal.method == CredentialMethod::ApiKey
                        && principal.credential_id.as_deref() == Some(key.id.as_str()),
                    kind: "api_key".to_owned(),
                    last_used_at: key.last_used_at.unwrap_or(key.created_at),
                    created_at: key.created_at,
                    user_agent: Some(key.name),
                    ip: None,
                    id: key.id,
                });
            }
        }
        Ok(sessions)
    }

    /// Revokes one of the principal's user's sessions, or one of their API keys (not with an API
    /// key: 403); someone else's (or an unknown) id is [`AuthError::NotFound`].
    pub async fn revoke_session(&self, principal: &Principal, id: &str) -> Result<(), AuthError> {
        user_credential(principal)?;
        if let Some(grants) = &self.grants
            && grants.store.revoke_user_grant(&principal.user_id, id, self.clock.now()).await?
        {
            self.delete_grant_credentials(id).await?;
            self.forget_grant(id);
            self.audit(AuditKind::SessionRevoked, Some(&principal.user_id), &[("grant_id", id)]).await;
            return Ok(());
        }
        #[cfg(feature = "api-keys")]
        if self.api_keys.is_some() {
            return self.revoke_api_key(principal, id).await;
        }
        Err(AuthError::NotFound)
    }

    /// Whether a credential of grant `grant_id`, of `user_id`, issued at `issued_at`, was revoked
    /// (in this process's list of revocations).
    #[cfg_attr(not(any(feature = "jwt", feature = "opaque-tokens", feature = "sessions")), allow(dead_code))]
    pub(crate) fn is_revoked(
        &self,
        grant_id: Option<&str>,
        user_id: &UserId,
        issued_at: DateTime<Utc>,
    ) -> bool {
        self.grants.as_ref().is_some_and(|g| g.revocations.is_revoked(grant_id, user_id, issued_at))
    }
}
