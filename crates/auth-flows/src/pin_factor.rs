use std::collections::HashMap;
use std::sync::Mutex;

use auth_core::{AuthError, UserStore};
use auth_flows::{AuthService, ClientInfo, CompletedSignIn, FirstFactor, SignInFlow, SignInOutcome};

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

    /// The first factor: the attempt is counted before the PIN is looked at (429 when the limits
    /// refuse), a wrong PIN (or an unknown user, at the same cost) is answered like a wrong
    /// password, a right one resets the account's consecutive failures.
    pub async fn verify<S: UserStore>(
        &self,
        auth: &AuthService<S>,
        username: &str,
        pin: &str,
    ) -> Result<FirstFactor<S::User>, AuthError> {
        let user = auth.store().find_by_login(username).await?;
        let attempt = auth.begin_sign_in(username, user.as_ref()).await?;
        let stored = self.hashes.lock().unwrap_or_else(|p| p.into_inner()).get(username).cloned();
        let check = match auth.accounts().hasher().verify(pin, stored.as_deref()).await {
            Ok(check) => check,
            Err(error) => {
                auth.sign_in_abandoned(attempt).await;
                return Err(error);
            }
        };
        match user {
            Some(user) if check.is_valid() => {
                auth.sign_in_succeeded(attempt).await;
                Ok(FirstFactor::new(user, ["pin"], auth.clock().now()))
            }
            _ => {
                auth.sign_in_failed(attempt).await;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Signs in with a PIN through the pipeline: account checks, the MFA step, and the credential
    /// of `flow`.
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
