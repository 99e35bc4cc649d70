//! Turning request heads into principals.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use http::request::Parts;

use crate::{AuthError, Principal};

/// Reads one kind of credential from a request head.
///
/// Returns `Ok(None)` when the request does not present this kind of credential at all, `Ok(Some)`
/// when it presents a valid one, and `Err` when it presents one that is invalid: an invalid credential
/// is never a fall-through to the next kind.
#[async_trait]
pub trait Authenticator: Debug + Send + Sync + 'static {
    /// Authenticates the request head.
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError>;
}

/// An authenticator shared between routes and adapters.
pub type SharedAuthenticator = Arc<dyn Authenticator>;

/// Tries authenticators in order; the first one whose credential is *present* decides, whether it
/// is valid or not.
///
/// ```
/// use auth_core::{Authenticator, FirstPresented};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let chain = FirstPresented::new(Vec::new());
/// let (parts, _) = http::Request::new(()).into_parts();
/// assert!(chain.authenticate(&parts).await.unwrap().is_none());
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct FirstPresented {
    authenticators: Vec<SharedAuthenticator>,
}

impl FirstPresented {
    /// A chain of authenticators, tried in the given order.
    pub fn new(authenticators: Vec<SharedAuthenticator>) -> Self {
        Self { authenticators }
    }

    /// Appends an authenticator to the chain.
    pub fn with(mut self, authenticator: SharedAuthenticator) -> Self {
        self.authenticators.push(authenticator);
        self
    }
}

#[async_trait]
impl Authenticator for FirstPresented {
    async fn authenticate(&self, parts: &Parts) -> Result<Option<Principal>, AuthError> {
        for authenticator in &self.authenticators {
            if let Some(principal) = authenticator.authenticate(parts).await? {
                return Ok(Some(principal));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CredentialMethod, TokenRejection, UserId};

    #[derive(Debug)]
    struct Fixed(Option<Result<&'static str, ()>>);

    #[async_trait]
    impl Authenticator for Fixed {
        async fn authenticate(&self, _: &Parts) -> Result<Option<Principal>, AuthError> {
            match self.0 {
                None => Ok(None),
                Some(Ok(id)) => Ok(Some(Principal::new(UserId::new(id), CredentialMethod::Jwt))),
                Some(Err(())) => Err(AuthError::InvalidToken(TokenRejection::Malformed)),
            }
        }
    }

    fn parts() -> Parts {
        http::Request::new(()).into_parts().0
    }

    #[tokio::test]
    async fn absent_falls_through_present_decides() {
        let chain = FirstPresented::new(vec![Arc::new(Fixed(None)), Arc::new(Fixed(Some(Ok("u1"))))]);
        let p = chain.authenticate(&parts()).await.unwrap().unwrap();
        assert_eq!(p.user_id.as_str(), "u1");
    }

    #[tokio::test]
    async fn invalid_credential_never_falls_through() {
        let chain =
            FirstPresented::new(vec![Arc::new(Fixed(Some(Err(())))), Arc::new(Fixed(Some(Ok("u1"))))]);
        assert!(matches!(chain.authenticate(&parts()).await, Err(AuthError::InvalidToken(_))));
    }
}
