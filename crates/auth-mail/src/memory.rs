//! A mailer that keeps what it was given, for tests.

use std::sync::{Mutex, PoisonError};

use crate::email::validate;
use crate::{Email, MailError, Mailer};

/// For applications' tests: keeps every message it is asked to send, in order, after the same
/// recipient and subject checks as the real mailers (an invalid address fails here too).
///
/// ```
/// use std::sync::Arc;
/// use auth_mail::{Email, Mailer, MemoryMailer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), auth_mail::MailError> {
/// let memory = Arc::new(MemoryMailer::new());
/// let mailer: Arc<dyn Mailer> = memory.clone();
/// mailer.send(&Email::new("alice@example.com", "Hello", "Hi Alice")).await?;
/// assert_eq!(memory.sent()[0].subject, "Hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Email>>,
}

impl MemoryMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait::async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        validate(email)?;
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(email.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_in_order_and_validates() {
        let mailer = MemoryMailer::new();
        assert!(mailer.sent().is_empty());
        mailer.send(&Email::new("alice@example.com", "One", "1")).await.unwrap();
        mailer.send(&Email::new("bob@example.com", "Two", "2").html("<b>2</b>")).await.unwrap();
        let sent = mailer.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!((sent[0].to.as_str(), sent[0].subject.as_str()), ("alice@example.com", "One"));
        assert_eq!(sent[1].html.as_deref(), Some("<b>2</b>"));
        assert!(mailer.send(&Email::new("bob", "Three", "3")).await.is_err());
        assert!(mailer.send(&Email::new("bob@example.com", "Th\nree", "3")).await.is_err());
        assert_eq!(mailer.sent().len(), 2);
    }
}
