//! `PORTCULLIS_EMAIL_BACKEND`: which mailer to use, as one string.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use crate::smtp::is_loopback_host;
use crate::{ConsoleMailer, FileMailer, MailError, Mailer, SmtpConfig, SmtpMailer, SmtpTls};

/// What `PORTCULLIS_EMAIL_BACKEND` says: which mailer to build.
///
/// | value | mailer |
/// |-------|--------|
/// | `smtp://[user:password@]host[:port][?tls=starttls]` | [`SmtpMailer`], STARTTLS required, port 587 |
/// | `smtp://…?tls=opportunistic` | STARTTLS if offered (no credentials to a remote host) |
/// | `smtp://host?tls=none` | plaintext, **only to a loopback host** (`localhost`, `127.0.0.0/8`, `::1`) |
/// | `smtp://host?tls=danger_plaintext` | plaintext to any host, **never with credentials** |
/// | `smtps://[user:password@]host[:port]` | [`SmtpMailer`], implicit TLS, port 465 |
/// | `file:DIR` | [`FileMailer`] into `DIR` (relative or absolute; `file:///abs` works too) |
/// | `console` | [`ConsoleMailer`] (**development only**: prints single-use links) |
///
/// User name and password are percent-decoded (`p%40ss` is `p@ss`); everything after the last
/// `@` is the host part, so an unencoded `@`, `?` or `/` in the password still works. An IPv6
/// host is written in brackets (`smtp://[::1]:2525?tls=none`). `Debug` and every error message
/// leave the password out.
///
/// ```
/// use auth_mail::{EmailBackend, SmtpTls};
///
/// let backend: EmailBackend = "smtps://mailer:s%40cret@smtp.example.com".parse()?;
/// let EmailBackend::Smtp(config) = &backend else { unreachable!() };
/// assert_eq!((config.host.as_str(), config.port, config.tls), ("smtp.example.com", 465, SmtpTls::Implicit));
/// assert_eq!(config.credentials, Some(("mailer".to_owned(), "s@cret".to_owned())));
/// assert!(!format!("{backend:?}").contains("s@cret"));
///
/// // Secure by default: plaintext to another machine needs the loud spelling, and no password.
/// assert!(EmailBackend::parse("smtp://mail.internal?tls=none").is_err());
/// assert!(EmailBackend::parse("smtp://mail.internal?tls=danger_plaintext").is_ok());
/// assert!(EmailBackend::parse("smtp://u:p@mail.internal?tls=danger_plaintext").is_err());
/// # Ok::<(), auth_mail::MailError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailBackend {
    /// Send over SMTP.
    Smtp(SmtpConfig),
    /// Write `.eml` files into this directory.
    File(PathBuf),
    /// Print to standard output (development only).
    Console,
}

impl EmailBackend {
    /// The environment variable Portcullis reads the backend from.
    pub const ENV_VAR: &'static str = "PORTCULLIS_EMAIL_BACKEND";

    /// Parses a backend string (see the table on [`EmailBackend`]). Surrounding whitespace is
    /// ignored; scheme names are case-insensitive.
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidConfig`] naming the problem (never the password): an unknown scheme,
    /// a bad host or port, an unknown or repeated parameter, `tls=none` to a host that is not the
    /// loopback, credentials over a connection that may be plaintext to such a host, an empty
    /// `file:` directory.
    pub fn parse(value: &str) -> Result<Self, MailError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid("the value is empty (expected smtp://, smtps://, file:DIR or console)"));
        }
        if value.eq_ignore_ascii_case("console") {
            return Ok(EmailBackend::Console);
        }
        let Some((scheme, rest)) = value.split_once(':') else {
            return Err(invalid(
                "unknown backend (expected smtp://HOST, smtps://HOST, file:DIR or console)".to_owned(),
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => parse_file(rest),
            "smtp" | "smtps" => {
                let implicit = scheme.eq_ignore_ascii_case("smtps");
                let Some(rest) = rest.strip_prefix("//") else {
                    return Err(invalid(format!("`{scheme}:` must be followed by `//HOST`")));
                };
                parse_smtp(rest, implicit).map(EmailBackend::Smtp)
            }
            other if other.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => Err(invalid(
                format!("unknown scheme `{other}` (expected smtp://, smtps://, file:DIR or console)"),
            )),
            _ => Err(invalid("unknown backend (expected smtp://HOST, smtps://HOST, file:DIR or console)")),
        }
    }

    /// Builds the mailer, sending from `from` (`Portcullis <no-reply@example.com>` or a bare
    /// address).
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidAddress`] for an invalid `from`; the errors of [`SmtpMailer::new`] and
    /// [`FileMailer::new`].
    pub fn into_mailer(self, from: &str) -> Result<Arc<dyn Mailer>, MailError> {
        Ok(match self {
            EmailBackend::Smtp(config) => Arc::new(SmtpMailer::new(config, from)?),
            EmailBackend::File(dir) => Arc::new(FileMailer::new(dir, from)?),
            EmailBackend::Console => Arc::new(ConsoleMailer::new(from)?),
        })
    }
}

impl FromStr for EmailBackend {
    type Err = MailError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

fn invalid(message: impl Into<String>) -> MailError {
    MailError::InvalidConfig(format!("{}: {}", EmailBackend::ENV_VAR, message.into()))
}

fn parse_file(rest: &str) -> Result<EmailBackend, MailError> {
    // `file:///abs/dir` (URL style) is `/abs/dir`; `file:dir` and `file:/abs/dir` are taken as is.
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(invalid("`file:` needs a directory (file:DIR)"));
    }
    Ok(EmailBackend::File(PathBuf::from(path)))
}

/// Parses what follows `smtp://` or `smtps://`.
fn parse_smtp(rest: &str, implicit: bool) -> Result<SmtpConfig, MailError> {
    // The password may contain unencoded `@`, `?`, `/`: the host part starts after the last `@`.
    let (userinfo, host_part) = match rest.rsplit_once('@') {
        Some((userinfo, host_part)) => (Some(userinfo), host_part),
        None => (None, rest),
    };
    let (authority, query) = match host_part.split_once('?') {
        Some((authority, query)) => (authority, Some(query)),
        None => (host_part, None),
    };
    if authority.contains('#') || query.is_some_and(|q| q.contains('#')) {
        return Err(invalid("a fragment (`#...`) is not allowed"));
    }
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    if authority.contains('/') {
        return Err(invalid("a path is not allowed after the host (smtp://HOST[:PORT])"));
    }
    let (host, port) = parse_host_port(authority)?;

    let mut tls = if implicit { SmtpTls::Implicit } else { SmtpTls::Required };
    let mut plaintext_danger = false;
    let mut seen_tls = false;
    for param in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if key != "tls" {
            return Err(invalid(format!("unknown parameter `{key}` (only `tls` is known)")));
        }
        if implicit {
            return Err(invalid("smtps:// always uses implicit TLS: remove the `tls` parameter"));
        }
        if std::mem::replace(&mut seen_tls, true) {
            return Err(invalid("the `tls` parameter is given twice"));
        }
        (tls, plaintext_danger) = match value {
            "starttls" | "required" => (SmtpTls::Required, false),
            "opportunistic" => (SmtpTls::Opportunistic, false),
            "none" => (SmtpTls::None, false),
            "danger_plaintext" => (SmtpTls::None, true),
            other => {
                return Err(invalid(format!(
                    "unknown value `tls={other}` (expected starttls, opportunistic, none or danger_plaintext)"
                )));
            }
        };
    }
    if tls == SmtpTls::None && !plaintext_danger && !is_loopback_host(&host) {
        return Err(invalid(format!(
            "`tls=none` is only allowed to a loopback host (localhost, 127.0.0.0/8, ::1), not `{host}`; \
             plaintext to another machine must be spelled `tls=danger_plaintext`"
        )));
    }

    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').ok_or_else(|| {
                invalid("the user name must be followed by `:password` (smtp://USER:PASSWORD@HOST)")
            })?;
            let user = decode(user, "the user name")?;
            let password = decode(password, "the password")?;
            if user.is_empty() {
                return Err(invalid("the user name is empty"));
            }
            Some((user, password))
        }
    };

    let mut config = SmtpConfig::new(host).tls(tls).port(port.unwrap_or(tls.default_port()));
    if let Some((user, password)) = credentials {
        config = config.credentials(user, password);
    }
    config.validate().map_err(|error| match error {
        MailError::InvalidConfig(message) => invalid(message),
        other => other,
    })?;
    Ok(config)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn parse_host_port(authority: &str) -> Result<(String, Option<u16>), MailError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (ip, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("an IPv6 host must be closed with `]` (smtp://[::1]:25)"))?;
        let ip: Ipv6Addr = ip.parse().map_err(|_| invalid(format!("`[{ip}]` is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| invalid("expected `:PORT` after `]`"))?),
        };
        (ip.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (authority.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the host is missing (smtp://HOST)"));
    }
    if !host.contains(':') && !host.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Err(invalid(format!("`{host}` is not a valid host name")));
    }
    let port = match port {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => return Err(invalid(format!("`{text}` is not a valid port (1-65535)"))),
        },
    };
    Ok((host.to_ascii_lowercase(), port))
}

fn decode(encoded: &str, what: &str) -> Result<String, MailError> {
    percent_decode_str(encoded)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| invalid(format!("{what} is not valid UTF-8 after percent-decoding")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    fn smtp(value: &str) -> SmtpConfig {
        match EmailBackend::parse(value) {
            Ok(EmailBackend::Smtp(config)) => config,
            other => panic!("{value}: {other:?}"),
        }
    }

    fn refused(value: &str) -> String {
        match EmailBackend::parse(value) {
            Err(MailError::InvalidConfig(message)) => message,
            other => panic!("{value} should be refused: {other:?}"),
        }
    }

    #[test]
    fn smtp_defaults() {
        let config = smtp("smtp://smtp.example.com");
        assert_eq!(config.host, "smtp.example.com");
        assert_eq!(config.port, 587);
        assert_eq!(config.tls, SmtpTls::Required);
        assert_eq!(config.credentials, None);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(smtp("SMTP://Smtp.Example.COM/"), config, "case-insensitive, trailing slash");
        assert_eq!(smtp("  smtp://smtp.example.com?tls=starttls \n"), config, "trimmed, explicit default");
        assert_eq!(smtp("smtp://smtp.example.com:2525").port, 2525);
    }

    #[test]
    fn smtps_defaults() {
        let config = smtp("smtps://smtp.example.com");
        assert_eq!((config.port, config.tls), (465, SmtpTls::Implicit));
        assert_eq!(smtp("smtps://smtp.example.com:2465").port, 2465);
        assert!(refused("smtps://smtp.example.com?tls=none").contains("implicit TLS"));
    }

    #[test]
    fn tls_values() {
        assert_eq!(smtp("smtp://smtp.example.com?tls=opportunistic").tls, SmtpTls::Opportunistic);
        for host in ["localhost", "127.0.0.1", "127.0.0.53", "[::1]"] {
            let config = smtp(&format!("smtp://{host}:2525?tls=none"));
            assert_eq!((config.tls, config.port), (SmtpTls::None, 2525), "{host}");
        }
        assert_eq!(smtp("smtp://[::1]:2525?tls=none").host, "::1");
        let danger = smtp("smtp://mailpit:1025?tls=danger_plaintext");
        assert_eq!((danger.host.as_str(), danger.port, danger.tls), ("mailpit", 1025, SmtpTls::None));
    }

    #[test]
    fn plaintext_to_remote_hosts_is_refused() {
        for host in ["mailpit", "smtp.example.com", "10.0.0.1", "[2001:db8::1]", "localhost.example.com"] {
            let message = refused(&format!("smtp://{host}?tls=none"));
            assert!(message.contains("danger_plaintext"), "{message}");
        }
        let message = refused("smtp://mailer:hunter2-secret@mailpit?tls=danger_plaintext");
        assert!(message.contains("credentials"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        refused("smtp://mailer:hunter2-secret@smtp.example.com?tls=opportunistic");
        // Credentials in plaintext to the loopback (a local relay) are fine.
        assert!(smtp("smtp://u:p@localhost:25?tls=none").credentials.is_some());
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let config = smtp("smtp://us%65r%40example.com:p%40ss%3Aw%2Frd%25@smtp.example.com:587");
        assert_eq!(config.credentials, Some(("user@example.com".to_owned(), "p@ss:w/rd%".to_owned())));
        // Unencoded `@`, `?`, `/` and `:` in the password: the host part starts after the last `@`.
        let config = smtp("smtp://user:p@ss?w/o:rd@smtp.example.com?tls=starttls");
        assert_eq!(config.credentials, Some(("user".to_owned(), "p@ss?w/o:rd".to_owned())));
        assert_eq!(config.host, "smtp.example.com");
        let config = smtp("smtps://user:@smtp.example.com");
        assert_eq!(config.credentials, Some(("user".to_owned(), String::new())));
        assert!(smtp("smtp://u:%C3%A9@smtp.example.com").credentials.unwrap().1 == "é");
    }

    #[test]
    fn file_and_console() {
        assert_eq!(
            EmailBackend::parse("file:mail/outbox").unwrap(),
            EmailBackend::File("mail/outbox".into())
        );
        assert_eq!(
            EmailBackend::parse("file:/var/mail/x").unwrap(),
            EmailBackend::File("/var/mail/x".into())
        );
        assert_eq!(
            EmailBackend::parse("file:///var/mail/x").unwrap(),
            EmailBackend::File("/var/mail/x".into())
        );
        assert_eq!(EmailBackend::parse("FILE:./out").unwrap(), EmailBackend::File("./out".into()));
        assert_eq!(EmailBackend::parse("console").unwrap(), EmailBackend::Console);
        assert_eq!(" Console ".parse::<EmailBackend>().unwrap(), EmailBackend::Console);
        refused("file:");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases = [
            ("", "empty"),
            ("smtp.example.com", "unknown backend"),
            ("http://smtp.example.com", "unknown scheme `http`"),
            ("sendmail:/usr/sbin/sendmail", "unknown scheme `sendmail`"),
            ("consoles", "unknown backend"),
            ("smtp:smtp.example.com", "//HOST"),
            ("smtp://", "host is missing"),
            ("smtp://:25", "host is missing"),
            ("smtp://smtp.example.com:0", "not a valid port"),
            ("smtp://smtp.example.com:65536", "not a valid port"),
            ("smtp://smtp.example.com:abc", "not a valid port"),
            ("smtp://smtp.example.com:+25", "not a valid port"),
            ("smtp://smtp.example.com:", "not a valid port"),
            ("smtp://smtp.example.com?port=25", "unknown parameter `port`"),
            ("smtp://smtp.example.com?tls=yes", "tls=yes"),
            ("smtp://smtp.example.com?tls=starttls&tls=none", "twice"),
            ("smtp://smtp.example.com/path", "path"),
            ("smtp://smtp.example.com#x", "fragment"),
            ("smtp://smtp ex.com", "not a valid host"),
            ("smtp://[::1", "closed"),
            ("smtp://[nope]:25", "IPv6"),
            ("smtp://[::1]x", "PORT"),
            ("smtp://user@smtp.example.com", ":password"),
            ("smtp://:pw@smtp.example.com", "user name is empty"),
            ("smtp://u:%FF@smtp.example.com", "UTF-8"),
        ];
        for (value, expected) in cases {
            let message = refused(value);
            assert!(message.contains(expected), "{value:?}: {message:?} should contain {expected:?}");
            assert!(message.starts_with("PORTCULLIS_EMAIL_BACKEND: "), "{message}");
        }
    }

    #[test]
    fn passwords_never_appear_in_errors_or_debug() {
        let secret = "hunter2-secret";
        for value in [
            format!("smtp://mailer:{secret}@mailpit?tls=danger_plaintext"),
            format!("smtp://mailer:{secret}@mailpit?tls=none"),
            format!("smtp://mailer:{secret}@smtp.example.com?tls=opportunistic"),
            format!("smtp://mailer:{secret}@smtp.example.com:99999"),
            format!("smtp://mailer:{secret}@smtp.example.com?bogus=1"),
            format!("smtp://mailer:{secret}@smtp.example.com/x"),
            format!("smtp://mailer:{secret}?tls=none@smtp.example.com:x"),
            format!("smtps://mailer:{secret}@smtp.example.com?tls=none"),
            format!("ftp://mailer:{secret}@smtp.example.com"),
            format!("smtp:mailer:{secret}@smtp.example.com"),
            format!("mailer:{secret}@smtp.example.com"),
        ] {
            let error = EmailBackend::parse(&value).unwrap_err();
            assert!(!error.to_string().contains(secret), "{value}: {error}");
            assert!(!format!("{error:?}").contains(secret), "{value}: {error:?}");
        }
        let backend = EmailBackend::parse(&format!("smtps://mailer:{secret}@smtp.example.com")).unwrap();
        assert!(!format!("{backend:?}").contains(secret), "{backend:?}");
        let mailer = backend.into_mailer("no-reply@example.com").unwrap();
        assert!(!format!("{mailer:?}").contains(secret), "{mailer:?}");
    }

    #[tokio::test]
    async fn into_mailer_builds_each_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        let mailer =
            EmailBackend::File(dir.clone()).into_mailer("Portcullis <no-reply@example.com>").unwrap();
        assert!(format!("{mailer:?}").starts_with("FileMailer"), "{mailer:?}");
        assert!(Path::new(&dir).is_dir());
        let mailer = EmailBackend::Console.into_mailer("no-reply@example.com").unwrap();
        assert!(format!("{mailer:?}").starts_with("ConsoleMailer"), "{mailer:?}");
        let mailer = EmailBackend::parse("smtp://localhost?tls=none").unwrap().into_mailer("a@b.c").unwrap();
        assert!(format!("{mailer:?}").starts_with("SmtpMailer"), "{mailer:?}");
        let error = EmailBackend::Console.into_mailer("no reply").unwrap_err();
        assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
    }
}
