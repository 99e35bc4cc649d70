//! The account emails Portcullis sends, in plain text and HTML.

use std::fmt::{self, Write as _};

use chrono::Duration;

use crate::Email;

/// The messages Portcullis sends. Every method has a default: the English text of
/// [`DefaultTemplates`], branded with [`product_name`](MailTemplates::product_name). Override any
/// method to change wording or branding; keep the link on its own line in the text part (people
/// copy it from there) and HTML-escape whatever you interpolate into HTML ([`escape_html`]).
///
/// ```
/// use auth_mail::{Email, MailTemplates};
///
/// #[derive(Debug)]
/// struct Acme;
///
/// impl MailTemplates for Acme {
///     fn product_name(&self) -> &str {
///         "Acme"
///     }
///     fn password_changed(&self, to: &str) -> Email {
///         Email::new(to, "Acme: new password", "Your Acme password was changed. Not you? Call us.")
///     }
/// }
///
/// let reset = Acme.password_reset("a@example.com", "https://acme.test/r?t=1", chrono::Duration::hours(1));
/// assert_eq!(reset.subject, "[Acme] Reset your password");
/// assert!(reset.text.contains("within 1 hour"));
/// assert_eq!(Acme.password_changed("a@example.com").subject, "Acme: new password");
/// ```
pub trait MailTemplates: Send + Sync + fmt::Debug + 'static {
    /// The name in the subjects (`[NAME] Reset your password`) and bodies of the default
    /// messages. Defaults to `Portcullis`.
    fn product_name(&self) -> &str {
        "Portcullis"
    }

    /// The message with the password-reset `link`, valid for `valid_for`.
    fn password_reset(&self, to: &str, link: &str, valid_for: Duration) -> Email {
        let product = self.product_name();
        Content {
            subject: "Reset your password",
            intro: format!("Someone (hopefully you) asked to reset the password of your {product} account."),
            action: Some(Action {
                before: format!(
                    "To choose a new password, open this link within {}:",
                    human_duration(valid_for)
                ),
                button: "Choose a new password",
                link,
            }),
            outro: vec![
                "If you did not ask for this, ignore this email: your password stays as it is.".to_owned(),
                "Do not forward this email: the link lets anyone who has it set your password.".to_owned(),
            ],
        }
        .render(product, to)
    }

    /// The message with the email-verification `link`, valid for `valid_for`.
    fn email_verification(&self, to: &str, link: &str, valid_for: Duration) -> Email {
        let product = self.product_name();
        Content {
            subject: "Verify your email address",
            intro: format!("Please confirm that this address ({to}) belongs to your {product} account."),
            action: Some(Action {
                before: format!("Open this link within {} to verify it:", human_duration(valid_for)),
                button: "Verify my email address",
                link,
            }),
            outro: vec![format!(
                "If you did not create a {product} account or add this address, ignore this email."
            )],
        }
        .render(product, to)
    }

    /// Security notice to the account's address after its password changed.
    fn password_changed(&self, to: &str) -> Email {
        let product = self.product_name();
        Content {
            subject: "Your password was changed",
            intro: format!("The password of your {product} account ({to}) was just changed."),
            action: None,
            outro: vec![
                "If you changed it, there is nothing more to do.".to_owned(),
                format!(
                    "If you did not, someone else may have access to your account: reset your password now \
                     (\"Forgot password\" on the {product} sign-in page) and contact support."
                ),
            ],
        }
        .render(product, to)
    }

    /// Notice to the OLD address that a change of address to `new_email` was requested, with the
    /// link that cancels the change (valid for `valid_for`).
    fn email_change_requested(
        &self,
        to_old: &str,
        new_email: &str,
        cancel_link: &str,
        valid_for: Duration,
    ) -> Email {
        let product = self.product_name();
        Content {
            subject: "Your email address is being changed",
            intro: format!(
                "Someone asked to change the email address of your {product} account from {to_old} to \
                 {new_email}. The change takes effect once the new address is verified."
            ),
            action: Some(Action {
                before: format!(
                    "If this was not you, cancel the change with this link (within {}):",
                    human_duration(valid_for)
                ),
                button: "Cancel the change",
                link: cancel_link,
            }),
            outro: vec![format!(
                "Then reset your password (\"Forgot password\" on the {product} sign-in page) and contact \
                 support."
            )],
        }
        .render(product, to_old)
    }

    /// Notice to an address that already has an account, sent instead of an error when someone
    /// registers with it or changes their address to it (so that neither reveals which addresses
    /// have accounts).
    fn account_exists(&self, to: &str) -> Email {
        let product = self.product_name();
        Content {
            subject: "You already have an account",
            intro: format!(
                "Someone (hopefully you) tried to use this address ({to}) for a new {product} account \
                 or for another account's email, but it already belongs to an account. Nothing was \
                 changed."
            ),
            action: None,
            outro: vec![
                format!(
                    "If it was you, sign in with your existing account, or use \"Forgot password\" on the \
                     {product} sign-in page."
                ),
                "If it was not you, you can ignore this email.".to_owned(),
            ],
        }
        .render(product, to)
    }
}

/// The default English messages: plain text plus a simple HTML alternative in which everything
/// interpolated (product name, addresses, the link in `href` and in text) is HTML-escaped.
///
/// Subjects are `[PRODUCT] Reset your password`, `[PRODUCT] Verify your email address`,
/// `[PRODUCT] Your password was changed`, `[PRODUCT] Your email address is being changed` and
/// `[PRODUCT] You already have an account`.
///
/// ```
/// use auth_mail::{DefaultTemplates, MailTemplates};
///
/// let templates = DefaultTemplates::new("Acme");
/// let link = "https://acme.test/verify?token=abc&user=1";
/// let email = templates.email_verification("a@example.com", link, chrono::Duration::hours(24));
/// assert_eq!(email.subject, "[Acme] Verify your email address");
/// assert!(email.text.contains(&format!("\n\n{link}\n\n")));
/// assert!(email.text.contains("within 24 hours"));
/// assert!(email.html.unwrap().contains("href=\"https://acme.test/verify?token=abc&amp;user=1\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DefaultTemplates {
    /// The name in subjects and bodies.
    pub product_name: String,
}

impl DefaultTemplates {
    /// Templates branded with `product_name`.
    pub fn new(product_name: impl Into<String>) -> Self {
        Self { product_name: product_name.into() }
    }
}

impl Default for DefaultTemplates {
    /// Branded `Portcullis`.
    fn default() -> Self {
        Self::new("Portcullis")
    }
}

impl MailTemplates for DefaultTemplates {
    fn product_name(&self) -> &str {
        &self.product_name
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A duration for people: `30 minutes`, `1 hour`, `24 hours`, `7 days`, `1 hour and 30 minutes`.
/// Whole days are used from two days up; seconds only below a minute or when present.
pub fn human_duration(duration: Duration) -> String {
    let total = duration.num_seconds().max(0);
    if total >= 2 * 86_400 && total % 86_400 == 0 {
        return plural(total / 86_400, "day");
    }
    let parts: Vec<String> = [(total / 3600, "hour"), (total % 3600 / 60, "minute"), (total % 60, "second")]
        .into_iter()
        .filter(|&(n, _)| n > 0)
        .map(|(n, unit)| plural(n, unit))
        .collect();
    match parts.as_slice() {
        [] => "0 seconds".to_owned(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// The call to action of a message: a sentence, then the link.
struct Action<'a> {
    before: String,
    button: &'a str,
    link: &'a str,
}

/// A message's content, rendered to text and HTML the same way for every template.
struct Content<'a> {
    subject: &'a str,
    intro: String,
    action: Option<Action<'a>>,
    outro: Vec<String>,
}

impl Content<'_> {
    fn render(&self, product: &str, to: &str) -> Email {
        // A product name with a line break must not break the subject header.
        let subject_product: String = product.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let subject = format!("[{}] {}", subject_product.trim(), self.subject);

        let mut text = format!("Hello,\n\n{}\n\n", self.intro);
        if let Some(action) = &self.action {
            text.push_str(&format!("{}\n\n{}\n\n", action.before, action.link));
        }
        for paragraph in &self.outro {
            text.push_str(paragraph);
            text.push_str("\n\n");
        }
        text.push_str(&format!("-- \n{product}\n"));

        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n</head>\n\
             <body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; \
             line-height: 1.5; color: #222; max-width: 36em; margin: 0 auto; padding: 1em;\">\n\
             <p>Hello,</p>\n<p>{}</p>\n",
            escape_html(&subject),
            escape_html(&self.intro),
        );
        if let Some(action) = &self.action {
            let link = escape_html(action.link);
            let _ = write!(
                html,
                "<p>{}</p>\n<p><a href=\"{link}\" style=\"display: inline-block; padding: 0.6em 1.2em; \
                 background: #2d5be3; color: #fff; text-decoration: none; border-radius: 4px;\">{}</a></p>\n\
                 <p style=\"font-size: 0.9em; color: #555;\">If the button does not work, copy this link \
                 into your browser:<br>\n<a href=\"{link}\" style=\"word-break: break-all;\">{link}</a></p>\n",
                escape_html(&action.before),
                escape_html(action.button),
            );
        }
        for paragraph in &self.outro {
            let _ = writeln!(html, "<p>{}</p>", escape_html(paragraph));
        }
        let _ = write!(html, "<p style=\"color: #555;\">{}</p>\n</body>\n</html>\n", escape_html(product));

        Email::new(to, subject, text).html(html)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://app.example.com/reset?token=Ab3-_x&user=<42>\"'";

    fn all(templates: &dyn MailTemplates, link: &str) -> Vec<(Email, bool)> {
        vec![
            (templates.password_reset("alice@example.com", link, Duration::hours(1)), true),
            (templates.email_verification("alice@example.com", link, Duration::hours(24)), true),
            (templates.password_changed("alice@example.com"), false),
            (
                templates.email_change_requested(
                    "alice@example.com",
                    "new@example.com",
                    link,
                    Duration::hours(24),
                ),
                true,
            ),
            (templates.account_exists("alice@example.com"), false),
        ]
    }

    #[test]
    fn links_appear_once_in_text_and_escaped_in_html() {
        for (email, has_link) in all(&DefaultTemplates::default(), LINK) {
            assert_eq!(email.to, "alice@example.com");
            let html = email.html.as_deref().unwrap();
            if has_link {
                assert_eq!(email.text.matches(LINK).count(), 1, "{}", email.text);
                assert!(email.text.contains(&format!("\n{LINK}\n")), "link on its own line: {}", email.text);
                let escaped = escape_html(LINK);
                assert_eq!(
                    escaped,
                    "https://app.example.com/reset?token=Ab3-_x&amp;user=&lt;42&gt;&quot;&#39;"
                );
                assert!(html.contains(&format!("href=\"{escaped}\"")), "{html}");
                assert!(html.contains(&format!(">{escaped}</a>")), "{html}");
                assert!(!html.contains(LINK), "unescaped link in HTML: {html}");
            } else {
                assert!(!email.text.contains("https://"), "{}", email.text);
            }
        }
    }

    #[test]
    fn subjects_and_wording() {
        let subjects: Vec<String> =
            all(&DefaultTemplates::default(), LINK).into_iter().map(|(e, _)| e.subject).collect();
        assert_eq!(
            subjects,
            [
                "[Portcullis] Reset your password",
                "[Portcullis] Verify your email address",
                "[Portcullis] Your password was changed",
                "[Portcullis] Your email address is being changed",
                "[Portcullis] You already have an account",
            ]
        );
        let templates = DefaultTemplates::new("Acme");
        let reset = templates.password_reset("a@example.com", LINK, Duration::minutes(30));
        assert!(reset.text.contains("within 30 minutes"), "{}", reset.text);
        assert!(reset.text.contains("Acme account"), "{}", reset.text);
        let verify = templates.email_verification("a@example.com", LINK, Duration::hours(24));
        assert!(verify.text.contains("within 24 hours"), "{}", verify.text);
        let changed = templates.password_changed("a@example.com");
        assert!(changed.text.contains("reset your password"), "{}", changed.text);
        let change =
            templates.email_change_requested("old@example.com", "new@example.com", LINK, Duration::hours(24));
        assert_eq!(change.to, "old@example.com");
        assert!(change.text.contains("new@example.com") && change.text.contains("old@example.com"));
        assert!(
            change.text.contains("cancel the change") && change.text.contains("within 24 hours"),
            "{}",
            change.text
        );
        let exists = templates.account_exists("a@example.com");
        assert!(
            exists.text.contains("already belongs to an account") && exists.text.contains("Forgot password")
        );
    }

    #[test]
    fn product_name_and_addresses_are_escaped_in_html() {
        let templates = DefaultTemplates::new("<script>alert(1)</script>");
        let evil = "x\"><script>alert(2)</script>@example.com";
        let mut emails: Vec<Email> = all(&templates, LINK).into_iter().map(|(e, _)| e).collect();
        emails.push(templates.email_change_requested("old@example.com", evil, LINK, Duration::hours(1)));
        for email in emails {
            let html = email.html.unwrap();
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
            assert!(!email.subject.contains('\n'));
        }
        let email = DefaultTemplates::new("Evil\r\nBcc: x@evil.com").password_changed("a@example.com");
        assert!(!email.subject.chars().any(char::is_control), "{:?}", email.subject);
    }

    #[test]
    fn durations_for_people() {
        let cases = [
            (Duration::minutes(30), "30 minutes"),
            (Duration::minutes(1), "1 minute"),
            (Duration::hours(1), "1 hour"),
            (Duration::hours(24), "24 hours"),
            (Duration::hours(48), "2 days"),
            (Duration::days(7), "7 days"),
            (Duration::minutes(90), "1 hour and 30 minutes"),
            (Duration::seconds(3661), "1 hour, 1 minute and 1 second"),
            (Duration::seconds(45), "45 seconds"),
            (Duration::zero(), "0 seconds"),
            (Duration::seconds(-5), "0 seconds"),
        ];
        for (duration, expected) in cases {
            assert_eq!(human_duration(duration), expected);
        }
    }
}
