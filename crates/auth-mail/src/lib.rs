//! # auth-mail
//!
//! Mail delivery for Portcullis account emails: password reset, email verification and security
//! notices. Depend on it when you wire mail into an application or write a capability that sends
//! mail; applications usually reach it through the `portcullis` facade. Framework-free and
//! asynchronous (Tokio).
//!
//! - [`Email`]: one message (plain text, optional HTML alternative); [`Mailer`]: the object-safe
//!   trait that delivers it.
//! - Mailers: [`SmtpMailer`] (lettre, pooled, STARTTLS/implicit TLS with rustls),
//!   [`FileMailer`] (one `.eml` file per message), [`ConsoleMailer`] (development only: prints
//!   single-use links), [`MemoryMailer`] (for tests).
//! - [`EmailBackend`]: the paved road. One string, usually from `PORTCULLIS_EMAIL_BACKEND`
//!   (`smtp://user:password@host`, `smtps://…`, `file:DIR`, `console`), becomes an
//!   `Arc<dyn Mailer>`.
//! - [`MailTemplates`] and [`DefaultTemplates`]: the English messages Portcullis sends; override
//!   any of them.
//!
//! ## Security properties
//!
//! - **TLS by default**: `smtp://` requires STARTTLS, `smtps://` uses implicit TLS; certificates
//!   are verified against the Mozilla roots. Plaintext needs `tls=none`, accepted only to a
//!   loopback host, or the loudly named `tls=danger_plaintext`; credentials are never sent over a
//!   connection that may be plaintext to a host other than the loopback.
//! - **No secrets in logs**: `Debug` of [`Email`] omits the bodies (they carry single-use
//!   links); `Debug` of [`SmtpConfig`], [`EmailBackend`] and [`SmtpMailer`], and every
//!   [`MailError`], omit the SMTP password.
//! - **No header injection**: a recipient or subject with a line break is refused.
//! - **Private files**: [`FileMailer`] creates its directory `0700` and its files `0600` (Unix).
//! - **HTML**: the default templates HTML-escape everything they interpolate.
//!
//! TLS is rustls with lettre choosing the `ring` provider itself: the application does not have
//! to install a process-wide rustls `CryptoProvider` (one that is installed is used).
//!
//! ## Features
//!
//! | feature   | default | what it adds |
//! |-----------|---------|--------------|
//! | `testing` | no      | module `testing`: `SmtpSink`, a real SMTP server on `127.0.0.1` for tests, and parsers for received mail and `.eml` files |
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use auth_mail::{DefaultTemplates, EmailBackend, MailTemplates, Mailer, MemoryMailer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), auth_mail::MailError> {
//! // Production: the backend comes from configuration.
//! let backend = EmailBackend::parse("smtps://mailer:s3cret@smtp.example.com")?;
//! let _smtp: Arc<dyn Mailer> = backend.into_mailer("Portcullis <no-reply@example.com>")?;
//!
//! // In tests: keep what was sent.
//! let memory = Arc::new(MemoryMailer::new());
//! let mailer: Arc<dyn Mailer> = memory.clone();
//!
//! let templates = DefaultTemplates::new("Acme");
//! let link = "https://acme.example.com/reset-password?token=Zm9vYmFy";
//! let email = templates.password_reset("alice@example.com", link, chrono::Duration::hours(1));
//! mailer.send(&email).await?;
//!
//! let sent = memory.sent();
//! assert_eq!(sent[0].subject, "[Acme] Reset your password");
//! assert!(sent[0].text.contains(&format!("\n{link}\n")));
//! assert!(sent[0].text.contains("within 1 hour"));
//! // Debug never shows the body, so the link stays out of logs.
//! assert!(!format!("{:?}", sent[0]).contains(link));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod backend;
mod console;
mod email;
mod error;
mod file;
mod memory;
mod smtp;
mod templates;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::EmailBackend;
pub use console::ConsoleMailer;
pub use email::{Email, Mailer};
pub use error::MailError;
pub use file::FileMailer;
pub use memory::MemoryMailer;
pub use smtp::{SmtpConfig, SmtpMailer, SmtpTls};
pub use templates::{DefaultTemplates, MailTemplates, escape_html, human_duration};
