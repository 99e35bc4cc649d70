//! Housekeeping: what expired is deleted, so that no store (and no in-process list) grows for
//! ever.

use auth_core::{AuthError, UserStore};
use chrono::Duration;

use crate::AuthService;

/// What [`AuthService::flush_expired`] deleted, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Flushed {
    /// Expired grants, with their refresh-token records and old revocation events.
    pub grants: u64,
    /// Revoked grants dropped from the in-process revocation list (past their absolute end).
    pub revocations: u64,
    /// Expired MFA challenges (`mfa_token`s).
    pub mfa_challenges: u64,
    /// Expired or idle cookie sessions.
    pub sessions: u64,
    /// Expired or idle opaque tokens.
    pub opaque_tokens: u64,
    /// Expired or revoked API keys.
    pub api_keys: u64,
    /// Expired password-reset and email-verification tokens.
    pub account_tokens: u64,
    /// Rate-limit counters past every window (in a database store; in-process and Redis
    /// counters expire by themselves).
    pub rate_limit_counters: u64,
}

impl Flushed {
    /// Everything deleted.
    pub fn total(&self) -> u64 {
        [
            self.grants,
            self.revocations,
            self.mfa_challenges,
            self.sessions,
            self.opaque_tokens,
            self.api_keys,
            self.account_tokens,
            self.rate_limit_counters,
        ]
        .iter()
        .fold(0u64, |total, n| total.saturating_add(*n))
    }
}

impl<S: UserStore> AuthService<S> {
    /// Deletes everything that expired at the clock's now, in every configured store: grants
    /// (and revocation events older than the refresh-token lifetime, at least a day), MFA
    /// challenges, cookie sessions, opaque tokens, API keys, account tokens and rate-limit
    /// counters past their longest window; and reloads the in-process revocation list so that it
    /// keeps only revocations of grants that have not ended. Run it periodically (the server
    /// does, every `PORTCULLIS_FLUSH_INTERVAL`).
    pub async fn flush_expired(&self) -> Result<Flushed, AuthError> {
        let now = self.clock.now();
        let mut flushed = Flushed::default();
        if let Some(grants) = &self.grants {
            let keep_events = self.refresh_lifetime().max(Duration::days(1));
            let events_before = auth_core::saturating_sub(now, keep_events);
            flushed.grants = grants.store.flush_expired(now, events_before).await?;
            let dropped = grants.revocations.reload(grants.store.as_ref(), now).await?;
            flushed.revocations = u64::try_from(dropped).unwrap_or(u64::MAX);
        }
        #[cfg(feature = "mfa")]
        if let Some(mfa) = &self.mfa {
            flushed.mfa_challenges = mfa.service.store().flush_expired(now).await?;
        }
        #[cfg(feature = "sessions")]
        if let Some(sessions) = &self.sessions {
            flushed.sessions = sessions.store.flush_expired(now).await?;
        }
        #[cfg(feature = "opaque-tokens")]
        if let Some(opaque) = &self.opaque {
            flushed.opaque_tokens = opaque.store.flush_expired(now).await?;
        }
        #[cfg(feature = "api-keys")]
        if let Some(keys) = &self.api_keys {
            flushed.api_keys = keys.store.flush_expired(now).await?;
        }
        #[cfg(feature = "account-emails")]
        if let Some(tokens) = self.account_tokens() {
            flushed.account_tokens = tokens.flush_expired(now).await?;
        }
        #[cfg(feature = "rate-limit")]
        {
            flushed.rate_limit_counters = self.flush_rate_limit_counters().await?;
        }
        Ok(flushed)
    }

    /// The refresh-token lifetime (zero without JWTs).
    fn refresh_lifetime(&self) -> Duration {
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt {
            return jwt.service.config().refresh_ttl;
        }
        Duration::zero()
    }
}
