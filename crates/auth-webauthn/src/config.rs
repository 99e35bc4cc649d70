//! The relying party's configuration.

use chrono::Duration;
use url::{Host, Url};
use webauthn_rs_core::proto::UserVerificationPolicy;

use crate::ConfigError;

/// Whether the authenticator must verify the user (PIN, fingerprint, face) in addition to
/// proving possession of the key.
///
/// Whatever the setting, a passkey that verified the user at registration must verify the user
/// at every later sign-in too (the WebAuthn engine enforces this), so a stolen unlocked security
/// key cannot skip the PIN its owner set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UserVerification {
    /// Every registration and assertion must carry the UV flag; authenticators that cannot
    /// verify the user cannot be used.
    Required,
    /// Ask for user verification, accept authenticators that cannot do it (the default, the
    /// WebAuthn default).
    #[default]
    Preferred,
    /// Ask the authenticator not to verify the user (fewer prompts on security keys).
    Discouraged,
}

impl UserVerification {
    /// The WebAuthn name (`"required"`, `"preferred"`, `"discouraged"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
            Self::Discouraged => "discouraged",
        }
    }

    /// The setting named `name` (`required`, `preferred`, `discouraged`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "required" => Some(Self::Required),
            "preferred" => Some(Self::Preferred),
            "discouraged" => Some(Self::Discouraged),
            _ => None,
        }
    }

    pub(crate) fn policy(self) -> UserVerificationPolicy {
        match self {
            Self::Required => UserVerificationPolicy::Required,
            Self::Preferred => UserVerificationPolicy::Preferred,
            Self::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        }
    }
}

/// The relying party: who the passkeys are for, which web origins may use them, and how strict
/// the ceremonies are. Build it with [`PasskeyConfig::new`] and the setters;
/// [`Passkeys::new`](crate::Passkeys::new) refuses it unless [`PasskeyConfig::validate`] passes.
///
/// ```
/// use auth_webauthn::{ConfigError, PasskeyConfig, UserVerification};
/// use url::Url;
///
/// let config = PasskeyConfig::new("example.com", "Example")
///     .allowed_origin(Url::parse("https://example.com").unwrap())
///     .allowed_origin(Url::parse("https://login.example.com").unwrap())
///     .user_verification(UserVerification::Required);
/// assert_eq!(config.validate(), Ok(()));
///
/// // An origin of another site is refused, with the reason.
/// let phishy = config.clone().allowed_origin(Url::parse("https://example.com.evil.net").unwrap());
/// assert!(matches!(phishy.validate(), Err(ConfigError::OriginOutsideRpId { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyConfig {
    /// The relying party id: the registrable domain the passkeys are bound to (`"example.com"`).
    /// Passkeys cannot move to another rp id later, so choose the broadest domain you control.
    pub rp_id: String,
    /// The name authenticators show for the site (`"Example"`).
    pub rp_name: String,
    /// The exact web origins (scheme, host, port) allowed to run ceremonies; each host must be
    /// [`rp_id`](Self::rp_id) or a subdomain of it, and use https (http only for localhost).
    pub origins: Vec<Url>,
    /// Whether the user must be verified (default [`UserVerification::Preferred`]).
    pub user_verification: UserVerification,
    /// How long a ceremony's challenge lives (default 5 minutes, between 1 second and 1 hour).
    /// The browser's `timeout` option is set to the same value.
    pub challenge_ttl: Duration,
    /// Ask authenticators to create discoverable credentials (`residentKey: "preferred"`,
    /// default `true`), which passwordless sign-in and autofill need. `false` sends
    /// `"discouraged"`. Never `"required"`: security keys have little storage.
    pub prefer_resident_key: bool,
}

impl PasskeyConfig {
    /// Default challenge lifetime: 5 minutes.
    pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::minutes(5);

    /// A configuration for `rp_id` shown as `rp_name`, with no allowed origin yet (add them with
    /// [`allowed_origin`](Self::allowed_origin)) and the defaults for everything else.
    pub fn new(rp_id: impl Into<String>, rp_name: impl Into<String>) -> Self {
        Self {
            rp_id: rp_id.into(),
            rp_name: rp_name.into(),
            origins: Vec::new(),
            user_verification: UserVerification::default(),
            challenge_ttl: Self::DEFAULT_CHALLENGE_TTL,
            prefer_resident_key: true,
        }
    }

    /// Adds an allowed origin (`https://example.com`, `https://login.example.com:8443`).
    pub fn allowed_origin(mut self, origin: Url) -> Self {
        self.origins.push(origin);
        self
    }

    /// Sets [`PasskeyConfig::user_verification`].
    pub fn user_verification(mut self, user_verification: UserVerification) -> Self {
        self.user_verification = user_verification;
        self
    }

    /// Sets [`PasskeyConfig::challenge_ttl`].
    pub fn challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }

    /// Sets [`PasskeyConfig::prefer_resident_key`].
    pub fn prefer_resident_key(mut self, prefer: bool) -> Self {
        self.prefer_resident_key = prefer;
        self
    }

    /// Checks that the settings are consistent: a domain-name rp id, a non-empty rp name, at
    /// least one origin, every origin a bare https origin (http only on `localhost` or
    /// `127.0.0.1`) whose host is the rp id or a subdomain of it, and a challenge lifetime
    /// between 1 second and 1 hour. Returns the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let rp_id = self.rp_id.as_str();
        let rp_id_is_domain = matches!(Host::parse(rp_id), Ok(Host::Domain(ref domain)) if domain == rp_id);
        if !rp_id_is_domain || rp_id.starts_with('.') || rp_id.ends_with('.') {
            return Err(ConfigError::InvalidRpId(self.rp_id.clone()));
        }
        if self.rp_name.trim().is_empty() {
            return Err(ConfigError::EmptyRpName);
        }
        if self.origins.is_empty() {
            return Err(ConfigError::NoOrigins);
        }
        for origin in &self.origins {
            validate_origin(origin, rp_id)?;
        }
        if self.challenge_ttl < Duration::seconds(1) || self.challenge_ttl > Duration::hours(1) {
            return Err(ConfigError::InvalidChallengeTtl);
        }
        Ok(())
    }
}

fn validate_origin(origin: &Url, rp_id: &str) -> Result<(), ConfigError> {
    let host = origin.host_str().unwrap_or_default();
    match origin.scheme() {
        "https" => {}
        "http" if host == "localhost" || host == "127.0.0.1" => {}
        _ => return Err(ConfigError::InsecureOrigin(origin.clone())),
    }
    let bare = !host.is_empty()
        && origin.path() == "/"
        && origin.query().is_none()
        && origin.fragment().is_none()
        && origin.username().is_empty()
        && origin.password().is_none();
    if !bare {
        return Err(ConfigError::NotAnOrigin(origin.clone()));
    }
    let belongs = host == rp_id || host.strip_suffix(rp_id).is_some_and(|prefix| prefix.ends_with('.'));
    if !belongs {
        return Err(ConfigError::OriginOutsideRpId { origin: origin.clone(), rp_id: rp_id.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn config(rp_id: &str, origins: &[&str]) -> PasskeyConfig {
        origins
            .iter()
            .fold(PasskeyConfig::new(rp_id, "Example"), |config, origin| config.allowed_origin(url(origin)))
    }

    #[test]
    fn defaults() {
        let config = PasskeyConfig::new("example.com", "Example");
        assert_eq!(config.user_verification, UserVerification::Preferred);
        assert_eq!(config.challenge_ttl, Duration::minutes(5));
        assert!(config.prefer_resident_key);
        assert_eq!(config.validate(), Err(ConfigError::NoOrigins));
    }

    #[test]
    fn consistent_settings_pass() {
        for (rp_id, origins) in [
            ("example.com", &["https://example.com"][..]),
            ("example.com", &["https://login.example.com", "https://a.b.example.com:8443"][..]),
            ("localhost", &["http://localhost:8080", "https://localhost"][..]),
        ] {
            assert_eq!(config(rp_id, origins).validate(), Ok(()), "{rp_id} {origins:?}");
        }
    }

    #[test]
    fn bad_rp_ids_are_refused() {
        for rp_id in [
            "",
            "https://example.com",
            "example.com:443",
            "Example.com",
            "127.0.0.1",
            "[::1]",
            ".example.com",
            "example.com.",
            "exa mple.com",
        ] {
            assert_eq!(
                config(rp_id, &["https://example.com"]).validate(),
                Err(ConfigError::InvalidRpId(rp_id.to_owned())),
                "{rp_id:?}"
            );
        }
    }

    #[test]
    fn origins_outside_the_rp_id_are_refused() {
        for origin in [
            "https://myexample.com",
            "https://example.com.evil.net",
            "https://example.org",
            "http://127.0.0.1:8080",
        ] {
            assert!(
                matches!(
                    config("example.com", &[origin]).validate(),
                    Err(ConfigError::OriginOutsideRpId { .. })
                ),
                "{origin}"
            );
        }
        // A subdomain rp id does not cover its parent.
        assert!(matches!(
            config("login.example.com", &["https://example.com"]).validate(),
            Err(ConfigError::OriginOutsideRpId { .. })
        ));
    }

    #[test]
    fn insecure_and_non_origins_are_refused() {
        assert_eq!(
            config("example.com", &["http://example.com"]).validate(),
            Err(ConfigError::InsecureOrigin(url("http://example.com")))
        );
        assert!(matches!(
            config("example.com", &["ftp://example.com"]).validate(),
            Err(ConfigError::InsecureOrigin(_))
        ));
        for origin in [
            "https://example.com/login",
            "https://example.com/?a=1",
            "https://user@example.com",
            "https://example.com/#x",
        ] {
            assert_eq!(
                config("example.com", &[origin]).validate(),
                Err(ConfigError::NotAnOrigin(url(origin))),
                "{origin}"
            );
        }
        let message = config("example.com", &["http://example.com"]).validate().unwrap_err().to_string();
        assert!(message.contains("use https"), "{message}");
    }

    #[test]
    fn other_settings() {
        let base = config("example.com", &["https://example.com"]);
        let mut unnamed = base.clone();
        unnamed.rp_name = "  ".into();
        assert_eq!(unnamed.validate(), Err(ConfigError::EmptyRpName));
        for ttl in [Duration::zero(), Duration::seconds(-5), Duration::hours(2)] {
            assert_eq!(base.clone().challenge_ttl(ttl).validate(), Err(ConfigError::InvalidChallengeTtl));
        }
        assert_eq!(base.challenge_ttl(Duration::seconds(1)).validate(), Ok(()));
    }
}
