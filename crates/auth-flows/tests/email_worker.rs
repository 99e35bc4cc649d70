//! The account-email worker runs the jobs of different recipients side by side: a slow delivery
//! to one address (a known account: a lookup, a token, an SMTP round trip) never delays the email
//! of another, so an attacker timing their own reset email learns nothing about the address they
//! asked about before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_core::account_tokens::MemoryAccountTokenStore;
use auth_core::{Accounts, AuthError, MemoryUserStore, PasswordHasher, PasswordHasherConfig};
use auth_flows::{AccountEmailConfig, AuthService, EmailVerification, PasswordResetRequest, RegisterRequest};
use auth_mail::{Email, MailError, Mailer};

/// Records deliveries; a delivery to `slow` waits until the gate opens.
#[derive(Debug)]
struct GatedMailer {
    slow: String,
    gate: tokio::sync::Semaphore,
    delivered: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Mailer for GatedMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        if email.to == self.slow {
            let _open = self.gate.acquire().await;
        }
        self.delivered.lock().unwrap().push(email.to.clone());
        Ok(())
    }
}

impl GatedMailer {
    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `to` has had `count` deliveries.
    async fn wait_for(&self, to: &str, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.delivered().iter().filter(|d| d.as_str() == to).count() < count {
            assert!(tokio::time::Instant::now() < deadline, "no email to {to}: {:?}", self.delivered());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn request<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delivery_to_one_address_does_not_delay_another() -> Result<(), AuthError> {
    let mailer = Arc::new(GatedMailer {
        slow: "kim@example.com".into(),
        gate: tokio::sync::Semaphore::new(0),
        delivered: Mutex::default(),
    });
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests())?;
    let config = AccountEmailConfig::new("https://app.example.test")?.verification(EmailVerification::Off);
    let auth = AuthService::builder(Accounts::new(Arc::new(MemoryUserStore::new()), hasher))
        .account_emails(Arc::new(MemoryAccountTokenStore::new()), mailer.clone(), config)
        .build()
        .unwrap();
    for name in ["kim", "own"] {
        let body = serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": "a fine long passphrase"});
        auth.register(request::<RegisterRequest>(body)).await?;
    }
    // A reset for the known address whose delivery hangs, then one for the attacker's own.
    auth.request_password_reset(&request::<PasswordResetRequest>(
        serde_json::json!({"email": "kim@example.com"}),
    ))
    .await?;
    auth.request_password_reset(&request::<PasswordResetRequest>(
        serde_json::json!({"email": "own@example.com"}),
    ))
    .await?;
    mailer.wait_for("own@example.com", 1).await;
    assert!(!mailer.delivered().contains(&"kim@example.com".to_owned()), "still hanging");
    // A second job for the hanging address waits its turn behind the first.
    auth.request_password_reset(&request::<PasswordResetRequest>(
        serde_json::json!({"email": "KIM@example.com"}),
    ))
    .await?;
    mailer.gate.add_permits(2);
    mailer.wait_for("kim@example.com", 2).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_waits_for_the_queued_emails() -> Result<(), AuthError> {
    let mailer = Arc::new(GatedMailer {
        slow: "kim@example.com".into(),
        gate: tokio::sync::Semaphore::new(0),
        delivered: Mutex::default(),
    });
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests())?;
    let config = AccountEmailConfig::new("https://app.example.test")?.verification(EmailVerification::Off);
    let auth = Arc::new(
        AuthService::builder(Accounts::new(Arc::new(MemoryUserStore::new()), hasher))
            .account_emails(Arc::new(MemoryAccountTokenStore::new()), mailer.clone(), config)
            .build()
            .unwrap(),
    );
    assert!(auth.flush_account_emails(Duration::ZERO).await, "nothing queued");
    let body = serde_json::json!({"username": "kim", "email": "kim@example.com", "password": "a fine long passphrase"});
    auth.register(request::<RegisterRequest>(body)).await?;
    auth.request_password_reset(&request::<PasswordResetRequest>(
        serde_json::json!({"email": "kim@example.com"}),
    ))
    .await?;
    // The delivery hangs: a flush with a short bound gives up and says so.
    assert!(!auth.flush_account_emails(Duration::from_millis(50)).await, "the email is still queued");
    // A flush that outlasts the delivery returns once it is done, and the email went out.
    let flushing = tokio::spawn({
        let auth = Arc::clone(&auth);
        async move { auth.flush_account_emails(Duration::from_secs(30)).await }
    });
    tokio::task::yield_now().await;
    assert!(!flushing.is_finished(), "waits for the queued email");
    mailer.gate.add_permits(1);
    assert!(flushing.await.unwrap(), "every queued email ended");
    assert_eq!(mailer.delivered(), ["kim@example.com"]);
    Ok(())
}
