//! Delivery to standard output, for development.

use std::io::Write;

use lettre::message::Mailbox;

use crate::email::{build_message, parse_from};
use crate::{Email, MailError, Mailer};

/// **Development only.** Prints every message to standard output: the full RFC 5322 message,
/// then the plain-text body once more, undecoded, so that long links (which the message itself
/// may carry quoted-printable-encoded, split across lines) can be clicked or copied.
///
/// **The console, and every log collector reading it, then shows single-use password-reset and
/// verification links.** Anyone who can read the output can take over any account that asks for
/// a reset. Never use it in production; use [`SmtpMailer`](crate::SmtpMailer) there.
#[derive(Debug)]
pub struct ConsoleMailer {
    from: Mailbox,
}

impl ConsoleMailer {
    /// A mailer printing messages from `from`.
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidAddress`] for an invalid `from`.
    pub fn new(from: &str) -> Result<Self, MailError> {
        Ok(Self { from: parse_from(from)? })
    }

    /// The text printed for `email`.
    fn render(&self, email: &Email) -> Result<Vec<u8>, MailError> {
        let message = build_message(&self.from, email)?;
        let mut out = Vec::new();
        out.extend_from_slice(
            b"===== auth-mail ConsoleMailer: DEVELOPMENT ONLY, this output holds single-use links =====\n",
        );
        out.extend_from_slice(&message.formatted());
        out.extend_from_slice(b"\n----- text part, decoded -----\n");
        out.extend_from_slice(email.text.as_bytes());
        if !email.text.ends_with('\n') {
            out.push(b'\n');
        }
        out.extend_from_slice(b"===== end of message =====\n");
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Mailer for ConsoleMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let out = self.render(email)?;
        // One write under the lock: concurrent messages do not interleave.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&out)?;
        stdout.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prints_the_message_and_the_readable_link() {
        let mailer = ConsoleMailer::new("Portcullis <no-reply@example.com>").unwrap();
        let link = format!("https://app.example.com/reset-password?token={}", "a1".repeat(40));
        let email = Email::new("alice@example.com", "Reset", format!("Open:\n\n{link}\n"));
        let out = String::from_utf8(mailer.render(&email).unwrap()).unwrap();
        assert!(out.contains("DEVELOPMENT ONLY"), "{out}");
        assert!(out.contains("To: alice@example.com"), "{out}");
        assert!(out.contains(&format!("\n{link}\n")), "the link is on one line: {out}");
        mailer.send(&email).await.unwrap();
        let error = mailer.send(&Email::new("nope", "Reset", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
    }
}
