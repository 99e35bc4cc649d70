//! The message type, the [`Mailer`] trait and the message builder every mailer shares.

use std::fmt;

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use crate::MailError;

/// One message to one recipient: a plain-text body always, an HTML alternative optionally.
///
/// The sender is not part of the message: every [`Mailer`] sends from the address it was
/// configured with. `Debug` shows only the recipient and the subject, never the bodies (they
/// carry single-use links).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Email {
    /// The recipient: a bare address (`alice@example.com`) or a mailbox
    /// (`Alice <alice@example.com>`).
    pub to: String,
    /// The subject line (no line breaks).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative, if any.
    pub html: Option<String>,
}

impl Email {
    /// A plain-text message.
    pub fn new(to: impl Into<String>, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self { to: to.into(), subject: subject.into(), text: text.into(), html: None }
    }

    /// Adds (or replaces) the HTML alternative.
    #[must_use]
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email").field("to", &self.to).field("subject", &self.subject).finish_non_exhaustive()
    }
}

/// Delivers messages. Implemented by [`SmtpMailer`](crate::SmtpMailer),
/// [`FileMailer`](crate::FileMailer), [`ConsoleMailer`](crate::ConsoleMailer) and
/// [`MemoryMailer`](crate::MemoryMailer); [`EmailBackend`](crate::EmailBackend) picks one from
/// configuration. Object safe: applications hold an `Arc<dyn Mailer>`.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Delivers one message (from the mailer's configured From address).
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidAddress`] for an invalid recipient (or one with a line break),
    /// [`MailError::InvalidConfig`] for a subject with a line break, [`MailError::Transport`] or
    /// [`MailError::Io`] when delivery fails.
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Parses the configured sender: `Portcullis <no-reply@example.com>` or a bare address.
pub(crate) fn parse_from(from: &str) -> Result<Mailbox, MailError> {
    if from.chars().any(char::is_control) {
        return Err(MailError::InvalidAddress(
            "the From address contains a line break or a control character".to_owned(),
        ));
    }
    from.trim()
        .parse::<Mailbox>()
        .map_err(|error| MailError::InvalidAddress(format!("the From address `{from}`: {error}")))
}

/// Checks the recipient and the subject of `email` the way [`build_message`] does, without
/// building anything.
pub(crate) fn validate(email: &Email) -> Result<Mailbox, MailError> {
    if email.to.chars().any(char::is_control) {
        return Err(MailError::InvalidAddress(format!(
            "the recipient {:?} contains a line break or a control character",
            email.to
        )));
    }
    let to = email
        .to
        .trim()
        .parse::<Mailbox>()
        .map_err(|error| MailError::InvalidAddress(format!("the recipient `{}`: {error}", email.to)))?;
    if email.subject.chars().any(char::is_control) {
        return Err(MailError::InvalidConfig(
            "the subject contains a line break or a control character".to_owned(),
        ));
    }
    Ok(to)
}

/// Builds the RFC 5322 message: From, To, Subject, Date, Message-ID, `Auto-Submitted:
/// auto-generated` (RFC 3834: no auto-replies), and a `text/plain` part or a
/// `multipart/alternative` of text and HTML.
pub(crate) fn build_message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to = validate(email)?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .date_now()
        .message_id(None)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ));
    let message = match &email.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text.clone(), html.clone())),
        None => builder.singlepart(SinglePart::plain(email.text.clone())),
    };
    message.map_err(|error| MailError::InvalidAddress(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        parse_from("Portcullis <no-reply@example.com>").unwrap()
    }

    #[test]
    fn debug_hides_the_bodies() {
        let email = Email::new("alice@example.com", "Reset", "token SECRET-TEXT").html("<p>SECRET-HTML</p>");
        let debug = format!("{email:?}");
        assert!(debug.contains("alice@example.com") && debug.contains("Reset"), "{debug}");
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn from_accepts_mailboxes_and_bare_addresses() {
        assert_eq!(parse_from("no-reply@example.com").unwrap().email.to_string(), "no-reply@example.com");
        let mailbox = parse_from("Portcullis <no-reply@example.com>").unwrap();
        assert_eq!(mailbox.name.as_deref(), Some("Portcullis"));
        for bad in
            ["", "no-reply", "a@", "Portcullis <no-reply@example.com", "x@example.com\r\nBcc: e@vil.com"]
        {
            assert!(matches!(parse_from(bad), Err(MailError::InvalidAddress(_))), "{bad:?}");
        }
    }

    #[test]
    fn invalid_recipients_are_refused() {
        for bad in ["", "alice", "alice@", "@example.com", "alice example.com", "a@b@c"] {
            let error = build_message(&from(), &Email::new(bad, "Hi", "text")).unwrap_err();
            assert!(matches!(error, MailError::InvalidAddress(_)), "{bad:?}: {error:?}");
        }
    }

    #[test]
    fn header_injection_is_refused() {
        for to in
            ["alice@example.com\r\nBcc: eve@evil.com", "alice@example.com\nBcc: eve@evil.com", "a@b.c\r"]
        {
            let error = build_message(&from(), &Email::new(to, "Hi", "text")).unwrap_err();
            assert!(matches!(error, MailError::InvalidAddress(_)), "{to:?}: {error:?}");
        }
        for subject in ["Hi\r\nBcc: eve@evil.com", "Hi\nX: y", "Hi\r"] {
            let error =
                build_message(&from(), &Email::new("alice@example.com", subject, "text")).unwrap_err();
            assert!(matches!(error, MailError::InvalidConfig(_)), "{subject:?}: {error:?}");
        }
    }

    #[test]
    fn message_has_the_headers_and_parts() {
        let plain = build_message(&from(), &Email::new("alice@example.com", "Hello", "Hi there")).unwrap();
        let raw = String::from_utf8(plain.formatted()).unwrap();
        for header in [
            "From: Portcullis <no-reply@example.com>\r\n",
            "To: alice@example.com\r\n",
            "Subject: Hello\r\n",
            "Date: ",
            "Message-ID: <",
            "Auto-Submitted: auto-generated\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
        ] {
            assert!(raw.contains(header), "{header:?} missing in\n{raw}");
        }
        assert!(!raw.contains("multipart"), "{raw}");

        let both = Email::new("alice@example.com", "Hello", "Hi there").html("<p>Hi there</p>");
        let raw = String::from_utf8(build_message(&from(), &both).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        assert!(raw.contains("Content-Type: text/html; charset=utf-8"), "{raw}");
        assert!(raw.contains("<p>Hi there</p>"), "{raw}");
    }
}
