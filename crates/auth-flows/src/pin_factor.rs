use std::collections::HashMap;
use std::sync::Mutex;

use auth_core::{AuthError, AuthUser, UserStore};
use auth_flows::{AuthService, ClientInfo, CompletedSignIn, Failure, FirstFactor, SignInFlow, SignInOutcome};

/// A toy first factor: a user may set a PIN, and sign in with username and PIN (`amr` `pin`).
/// PINs are stored as argon2id hashes made by the service's own hasher.
#[derive(Debug, Default)]
pub struct PinFactor {
    hashes: Mutex<HashMap<String, String>>,
}

impl PinFactor {
    /// Sets the PIN of `username`.
    pub async fn set_pin<S: UserStore>(&self, auth: &AuthService<S>, username: &str, pin: &str) -> Result<(), AuthError> {
        let hash = auth.accounts().hasher().hash(pin).await?;
        self.hashes.lock().unwrap_or_else(|p| p.into_inner()).insert(username.to_owned(), hash);
        Ok(())
    }

    /// The first factor: the limits are checked before the PIN is, a wrong PIN (or an unknown
    /// user, at the same cost) is counted and answered like a wrong password.
    pub async fn verify<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        username: &str,
        pin: &str,
    ) -> Result<FirstFactor<S::User>, AuthError> {
        let user = auth.store().find_by_login(username).await?;
        let account = user.as_ref().map_or_else(|| format!("login:{username}"), |u| u.id().to_string());
        auth.check_sign_in_limits(&account).await?;
        let stored = self.hashes.lock().unwrap_or_else(|p| p.into_inner()).get(username).cloned();
        let check = auth.accounts().hasher().verify(pin, stored.as_deref()).await?;
        match user {
            Some(user) if check.is_valid() => Ok(FirstFactor::new(user, ["pin"], auth.clock().now())),
            user => {
                let id = user.map(|u| u.id());
                auth.sign_in_failed(&account, id.as_ref(), Failure::SignIn).await;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Signs in with a PIN through the pipeline: account checks, limits, the MFA step, and the
    /// credential of `flow`.
    pub async fn sign_in<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        username: &str,
        pin: &str,
        flow: SignInFlow,
        client: &ClientInfo,
    ) -> Result<SignInOutcome<CompletedSignIn<S::User>>, AuthError> {
        let factor = self.verify(auth, username, pin).await?;
        auth.sign_in_with(factor, flow, client).await
    }
}
