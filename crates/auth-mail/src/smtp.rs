//! SMTP delivery through lettre's pooled asynchronous transport.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::email::{build_message, parse_from};
use crate::{Email, MailError, Mailer};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (the server's certificate is
    /// verified against the Mozilla roots). The default; usually port 587.
    Required,
    /// TLS from the first byte ("SMTPS", RFC 8314 implicit TLS); usually port 465.
    Implicit,
    /// STARTTLS when the server offers it, plaintext otherwise. An attacker on the path can strip
    /// the offer, so credentials are refused with it for a non-loopback host.
    Opportunistic,
    /// Plaintext. For a relay on the same machine (or a test server); credentials are refused
    /// with it for a non-loopback host.
    None,
}

impl SmtpTls {
    /// The usual port: 465 for [`SmtpTls::Implicit`], 587 (submission) otherwise.
    pub const fn default_port(self) -> u16 {
        match self {
            SmtpTls::Implicit => 465,
            SmtpTls::Required | SmtpTls::Opportunistic | SmtpTls::None => 587,
        }
    }

    /// Whether a password could travel in plaintext with this setting.
    const fn may_be_plaintext(self) -> bool {
        matches!(self, SmtpTls::Opportunistic | SmtpTls::None)
    }
}

/// Where and how [`SmtpMailer`] connects. `Debug` redacts the password.
///
/// ```
/// use std::time::Duration;
/// use auth_mail::{SmtpConfig, SmtpTls};
///
/// let config = SmtpConfig::new("smtp.example.com")
///     .credentials("mailer", "s3cret")
///     .timeout(Duration::from_secs(5));
/// assert_eq!((config.port, config.tls), (587, SmtpTls::Required));
/// assert!(!format!("{config:?}").contains("s3cret"));
///
/// let smtps = SmtpConfig::new("smtp.example.com").tls(SmtpTls::Implicit).port(465);
/// assert_eq!(smtps.port, SmtpTls::Implicit.default_port());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpConfig {
    /// The server's host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// Transport security.
    pub tls: SmtpTls,
    /// User name and password for SMTP AUTH (PLAIN or LOGIN), if the server needs them.
    pub credentials: Option<(String, String)>,
    /// Limit for delivering one message: connecting, TLS, authentication and the whole SMTP
    /// dialogue together.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// The default [`timeout`](SmtpConfig::timeout): 10 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A server reached with STARTTLS ([`SmtpTls::Required`]) on port 587, without credentials,
    /// with a 10-second timeout.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: SmtpTls::Required.default_port(),
            tls: SmtpTls::Required,
            credentials: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the transport security. The port is left as it is: pair [`SmtpTls::Implicit`] with
    /// `.port(465)` (or [`SmtpTls::default_port`]).
    #[must_use]
    pub fn tls(mut self, tls: SmtpTls) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the user name and password for SMTP AUTH.
    #[must_use]
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Sets the limit for delivering one message.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Refuses what cannot work or would be unsafe: an empty host, port 0, a zero timeout,
    /// credentials that could travel in plaintext to a host other than the loopback.
    pub(crate) fn validate(&self) -> Result<(), MailError> {
        if self.host.is_empty() {
            return Err(MailError::InvalidConfig("the SMTP host is empty".to_owned()));
        }
        if self.port == 0 {
            return Err(MailError::InvalidConfig("the SMTP port must not be 0".to_owned()));
        }
        if self.timeout.is_zero() {
            return Err(MailError::InvalidConfig("the SMTP timeout must not be zero".to_owned()));
        }
        if self.credentials.is_some() && self.tls.may_be_plaintext() && !is_loopback_host(&self.host) {
            return Err(MailError::InvalidConfig(format!(
                "refusing to send SMTP credentials to `{}` over a connection that may be plaintext \
                 ({:?}): use STARTTLS (tls=starttls) or implicit TLS (smtps://)",
                self.host, self.tls
            )));
        }
        Ok(())
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "<redacted>")))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Whether `host` names the loopback interface: `localhost`, `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Err(_) => false,
    }
}

/// Sends over SMTP with lettre's asynchronous transport (Tokio), keeping up to 10 connections
/// open for reuse (closed after 60 seconds idle). Each message must be delivered within
/// [`SmtpConfig::timeout`], or [`send`](Mailer::send) fails with [`MailError::Transport`]; the
/// pool is then replaced, so a connection abandoned mid-dialogue is never reused.
///
/// TLS is rustls with its `ring` provider chosen by lettre itself, so the application does not
/// have to install a process-wide rustls `CryptoProvider`; when one is installed, it is used.
/// Server certificates are checked against the Mozilla roots (`webpki-roots`).
///
/// [`SmtpMailer::new`] may be called outside a Tokio runtime: the connection pool is created on
/// the first [`send`](Mailer::send), on the runtime that runs it. Keep that runtime alive as long
/// as the mailer (the usual case: one runtime for the whole process).
pub struct SmtpMailer {
    config: SmtpConfig,
    from: Mailbox,
    builder: AsyncSmtpTransportBuilder,
    /// The pooled transport, created on first use; dropped (with its connections) after a
    /// timeout, so that a connection abandoned mid-dialogue is never reused.
    transport: Mutex<Option<(u64, AsyncSmtpTransport<Tokio1Executor>)>>,
    generation: AtomicU64,
}

impl SmtpMailer {
    /// A mailer sending from `from` (`Portcullis <no-reply@example.com>` or a bare address).
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidAddress`] for an invalid `from`; [`MailError::InvalidConfig`] for an
    /// empty host, port 0, a zero timeout, or credentials with [`SmtpTls::None`] or
    /// [`SmtpTls::Opportunistic`] to a host that is not the loopback.
    pub fn new(config: SmtpConfig, from: &str) -> Result<Self, MailError> {
        config.validate()?;
        let from = parse_from(from)?;
        let tls_parameters = || {
            TlsParameters::new(config.host.clone()).map_err(|error| {
                MailError::InvalidConfig(format!("TLS parameters for `{}`: {error}", config.host))
            })
        };
        let tls = match config.tls {
            SmtpTls::Required => Tls::Required(tls_parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
            SmtpTls::Opportunistic => Tls::Opportunistic(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            .pool_config(PoolConfig::new());
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { config, from, builder, transport: Mutex::new(None), generation: AtomicU64::new(0) })
    }

    /// The configuration this mailer was built with.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }
}

impl SmtpMailer {
    /// The current pooled transport, created if there is none (needs the Tokio runtime).
    fn transport(&self) -> (u64, AsyncSmtpTransport<Tokio1Executor>) {
        let mut current = self.transport.lock().unwrap_or_else(PoisonError::into_inner);
        current
            .get_or_insert_with(|| {
                let generation = self.generation.fetch_add(1, Ordering::SeqCst);
                (generation, self.builder.clone().build())
            })
            .clone()
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("config", &self.config)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        let (generation, transport) = self.transport();
        match tokio::time::timeout(self.config.timeout, transport.send(message)).await {
            Ok(result) => result.map(drop).map_err(MailError::transport),
            Err(_elapsed) => {
                // The connection may be stuck mid-dialogue: retire the whole pool (its connections
                // are closed once the last in-flight send on it ends) and start afresh next time.
                let mut current = self.transport.lock().unwrap_or_else(PoisonError::into_inner);
                if current.as_ref().is_some_and(|(g, _)| *g == generation) {
                    *current = None;
                }
                Err(MailError::transport(format!(
                    "no answer from the SMTP server {}:{} within {:?}",
                    self.config.host, self.config.port, self.config.timeout
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "128.0.0.1", "::2", "localhost.example.com", "mailpit", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn debug_redacts_the_password() {
        let config = SmtpConfig::new("smtp.example.com").credentials("mailer", "hunter2-secret");
        let debug = format!("{config:?}");
        assert!(debug.contains("mailer") && debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let mailer = SmtpMailer::new(config, "no-reply@example.com").unwrap();
        let debug = format!("{mailer:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn new_refuses_plaintext_credentials_to_remote_hosts_and_bad_values() {
        for tls in [SmtpTls::None, SmtpTls::Opportunistic] {
            let config = SmtpConfig::new("smtp.example.com").tls(tls).credentials("u", "hunter2-secret");
            let error = SmtpMailer::new(config, "no-reply@example.com").unwrap_err();
            assert!(matches!(error, MailError::InvalidConfig(_)), "{error:?}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
            // The same to the loopback is fine (a local relay).
            let local = SmtpConfig::new("127.0.0.1").tls(tls).credentials("u", "p");
            SmtpMailer::new(local, "no-reply@example.com").unwrap();
        }
        for tls in [SmtpTls::Required, SmtpTls::Implicit] {
            let config = SmtpConfig::new("smtp.example.com").tls(tls).credentials("u", "p");
            SmtpMailer::new(config, "no-reply@example.com").unwrap();
        }
        for config in [
            SmtpConfig::new(""),
            SmtpConfig::new("smtp.example.com").port(0),
            SmtpConfig::new("smtp.example.com").timeout(Duration::ZERO),
        ] {
            let error = SmtpMailer::new(config, "no-reply@example.com").unwrap_err();
            assert!(matches!(error, MailError::InvalidConfig(_)), "{error:?}");
        }
        let error = SmtpMailer::new(SmtpConfig::new("smtp.example.com"), "not an address").unwrap_err();
        assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
    }

    #[test]
    fn new_works_outside_a_runtime() {
        // No Tokio runtime here: building must not spawn anything.
        let mailer =
            SmtpMailer::new(SmtpConfig::new("smtp.example.com"), "Portcullis <no-reply@example.com>");
        assert!(mailer.is_ok());
    }
}
