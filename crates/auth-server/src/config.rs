//! Server settings: defaults, a TOML file, and `PORTCULLIS_*` environment variables (which win).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use portcullis::jwt::JwtAlgorithm;
use serde::Deserialize;

/// The longest lifetime a setting may give a credential or a grant: 10 years, in seconds. Far
/// below what chrono can add to a date, so no setting can make an expiry overflow.
pub const MAX_LIFETIME: i64 = 315_360_000;

/// A setting that could not be accepted; the server refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {message}")]
pub struct ConfigError {
    /// The setting's name (environment variable or TOML key).
    pub setting: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `setting`.
    pub fn new(setting: &str, message: impl Into<String>) -> Self {
        Self { setting: setting.to_owned(), message: message.into() }
    }
}

/// Which web framework serves the HTTP contract. Both give the same HTTP behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Adapter {
    /// axum (the default).
    #[default]
    Axum,
    /// poem.
    Poem,
}

impl std::str::FromStr for Adapter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "axum" => Ok(Self::Axum),
            "poem" => Ok(Self::Poem),
            other => Err(format!("unknown adapter `{other}` (axum or poem)")),
        }
    }
}

/// A secret string that never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Every setting of `portcullis serve`. See the README's configuration table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// `PORTCULLIS_ADAPTER` / `adapter`: `axum` (default) or `poem`.
    pub adapter: Adapter,
    /// `PORTCULLIS_BIND` / `bind`: listen address (default `127.0.0.1:8000`).
    pub bind: SocketAddr,
    /// `PORTCULLIS_DATABASE_URL` / `database_url`: `sqlite://...` or `postgres://...`
    /// (default `sqlite://portcullis.db?mode=rwc`).
    pub database_url: String,
    /// `PORTCULLIS_JWT_ALGORITHM` / `jwt_algorithm` (default `RS256`).
    pub jwt_algorithm: JwtAlgorithm,
    /// `PORTCULLIS_JWT_SECRET` / `jwt_secret`: the HMAC secret for HS256/384/512 (>= 32/48/64 bytes).
    pub jwt_secret: Option<Secret>,
    /// `PORTCULLIS_JWT_PRIVATE_KEY_FILE` / `jwt_private_key_file`: PEM signing key.
    pub jwt_private_key_file: Option<PathBuf>,
    /// `PORTCULLIS_JWT_PRIVATE_KEY` / `jwt_private_key`: the PEM signing key itself (for secret
    /// managers that inject keys as environment variables).
    pub jwt_private_key: Option<Secret>,
    /// `PORTCULLIS_JWT_PUBLIC_KEY_FILE` / `jwt_public_key_file`: PEM public key; must match the
    /// private key.
    pub jwt_public_key_file: Option<PathBuf>,
    /// `PORTCULLIS_JWT_PREVIOUS_PUBLIC_KEY_FILES` / `jwt_previous_public_key_files`: during a key
    /// rotation, the public keys (PEM files, comma-separated; `ES256:path` for a key of another
    /// algorithm) of earlier signing keys: tokens they signed keep verifying, and the JWKS
    /// publishes them, until they are taken out after the longest token lifetime.
    pub jwt_previous_public_key_files: Vec<String>,
    /// `PORTCULLIS_JWT_PREVIOUS_SECRET` / `jwt_previous_secret`: the previous HMAC secret during
    /// an HS256 secret rotation (verification only).
    pub jwt_previous_secret: Option<Secret>,
    /// `PORTCULLIS_LEGACY_TOKENS_UNTIL` / `legacy_tokens_until`: until when (RFC 3339) tokens of
    /// the legacy Django REST framework format imported by `portcullis import django`
    /// (`Authorization: Token <40 hex>`) are accepted. Unset: never.
    pub legacy_tokens_until: Option<chrono::DateTime<chrono::Utc>>,
    /// `PORTCULLIS_DJANGO_SIGNING_KEY` / `django_signing_key`: the Django project's simplejwt
    /// `SIGNING_KEY` (its `SECRET_KEY` unless set otherwise). Set: `POST
    /// /api/auth/django/token-exchange` exchanges an imported, outstanding simplejwt refresh token
    /// once for a Portcullis pair. Unset: no such endpoint.
    pub django_signing_key: Option<Secret>,
    /// `PORTCULLIS_DJANGO_JWT_ALGORITHM` / `django_jwt_algorithm`: simplejwt's `ALGORITHM`
    /// (`HS256`, the default, `HS384` or `HS512`).
    pub django_jwt_algorithm: String,
    /// `PORTCULLIS_KEYS_DIR` / `keys_dir`: where a development key is generated when no key is
    /// configured (default `keys`).
    pub keys_dir: PathBuf,
    /// `PORTCULLIS_ISSUER` / `issuer`.
    pub issuer: Option<String>,
    /// `PORTCULLIS_AUDIENCE` / `audience`.
    pub audience: Option<String>,
    /// `PORTCULLIS_ACCESS_TTL` / `access_ttl`: seconds (default 300).
    pub access_ttl: i64,
    /// `PORTCULLIS_REFRESH_TTL` / `refresh_ttl`: seconds (default 86400).
    pub refresh_ttl: i64,
    /// `PORTCULLIS_GRANT_IDLE_TTL` / `grant_idle_ttl`: seconds a sign-in session may go without a
    /// refresh before it dies (default: the refresh lifetime).
    pub grant_idle_ttl: Option<i64>,
    /// `PORTCULLIS_GRANT_MAX_AGE` / `grant_max_age`: absolute lifetime of a sign-in session in
    /// seconds, however often it is refreshed (default 2592000, 30 days).
    pub grant_max_age: i64,
    /// `PORTCULLIS_REUSE_GRACE` / `reuse_grace`: seconds within which a replayed refresh token is
    /// refused without revoking its session (default 0: off).
    pub reuse_grace: i64,
    /// `PORTCULLIS_REAUTHENTICATION_WINDOW` / `reauthentication_window`: seconds after a sign-in
    /// during which a new email address, a new second factor or a new API key need no current password
    /// (default 300, 0-3600; 0: always ask).
    pub reauthentication_window: i64,
    /// `PORTCULLIS_REVOCATION_POLL_MS` / `revocation_poll_ms`: how often revocations made by other
    /// server processes are pulled, in milliseconds (default 1000; the enforcement bound).
    pub revocation_poll_ms: u64,
    /// `PORTCULLIS_CREDENTIAL_CACHE_CAPACITY` / `credential_cache_capacity`: how many opaque
    /// tokens, API keys and cookie sessions (each kind) the process remembers after reading them,
    /// for `PORTCULLIS_REVOCATION_POLL_MS` each (default 10000; 0 turns the caches off).
    pub credential_cache_capacity: usize,
    /// `PORTCULLIS_REVOCATION_STALE_AFTER_MS` / `revocation_stale_after_ms`: when the revocation
    /// list has not matched the database for this long (the sync failing: the database away),
    /// access tokens are refused with 503 rather than trusted against a stale list, and `/readyz`
    /// reports `revocation_sync` (default 10000; at least twice the poll interval).
    pub revocation_stale_after_ms: u64,
    /// `PORTCULLIS_SHUTDOWN_GRACE_SECS` / `shutdown_grace_secs`: on SIGTERM or SIGINT the server
    /// stops accepting connections and lets requests in flight finish for at most this long
    /// (default 20).
    pub shutdown_grace_secs: u64,
    /// `PORTCULLIS_METRICS_BIND` / `metrics_bind`: where `GET /metrics` (Prometheus text format)
    /// is served, apart from the API (default: unset, no metrics). A private address: the
    /// figures are for operators.
    pub metrics_bind: Option<SocketAddr>,
    /// `PORTCULLIS_SQLITE_SYNCHRONOUS` / `sqlite_synchronous`: `normal` (default: a commit survives
    /// a crash of the process, no `fsync` per commit) or `full` (it survives a power loss too, at
    /// an `fsync` per commit). SQLite only.
    pub sqlite_synchronous: portcullis::sea_orm::SqliteSynchronous,
    /// `PORTCULLIS_DATABASE_MAX_CONNECTIONS` / `database_max_connections`: the connection pool's
    /// size (default 0: the driver's default, 10 for PostgreSQL and 5 for a SQLite file).
    pub database_max_connections: u32,
    /// `PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS` / `database_acquire_timeout_ms`: how long a
    /// request waits for a pooled connection before it answers 503 (default 5000).
    pub database_acquire_timeout_ms: u64,
    /// `PORTCULLIS_DATABASE_STATEMENT_TIMEOUT_MS` / `database_statement_timeout_ms`: PostgreSQL
    /// cancels a statement running longer than this (default 10000; 0: no limit).
    pub database_statement_timeout_ms: u64,
    /// `PORTCULLIS_FLUSH_INTERVAL` / `flush_interval`: seconds between deletions of expired
    /// sessions and tokens (default 3600).
    pub flush_interval: u64,
    /// `PORTCULLIS_TOKEN_TTL` / `token_ttl`: opaque-token lifetime in seconds (default 2592000).
    pub token_ttl: i64,
    /// `PORTCULLIS_TOKEN_IDLE_TTL` / `token_idle_ttl`: an opaque token unused this long dies
    /// (default: none).
    pub token_idle_ttl: Option<i64>,
    /// `PORTCULLIS_TOKEN_PREFIX` / `token_prefix`: opaque-token prefix, for secret scanners
    /// (default `pct`; 2-16 lowercase letters or digits).
    pub token_prefix: String,
    /// `PORTCULLIS_API_KEY_HEADER` / `api_key_header`: the request header carrying API keys
    /// (default `x-api-key`).
    pub api_key_header: String,
    /// `PORTCULLIS_SESSION_TTL` / `session_ttl`: cookie-session lifetime in seconds (default 1209600).
    pub session_ttl: i64,
    /// `PORTCULLIS_SESSION_IDLE_TTL` / `session_idle_ttl`: a session unused this long ends
    /// (default 86400).
    pub session_idle_ttl: i64,
    /// `PORTCULLIS_JWT_LEEWAY` / `jwt_leeway`: clock-skew tolerance in seconds (default 5, max 60).
    pub jwt_leeway: i64,
    /// `PORTCULLIS_INSECURE_COOKIES` / `insecure_cookies`: drop `Secure` from cookies. Development only.
    pub insecure_cookies: bool,
    /// `PORTCULLIS_ALLOWED_ORIGINS` / `allowed_origins`: comma-separated origins for CORS and the
    /// web flow's cross-origin check.
    pub allowed_origins: Vec<String>,
    /// `PORTCULLIS_PUBLIC_URL` / `public_url`: the URL browsers reach this server at
    /// (`https://auth.example.com`); its scheme is the one the `Origin` of cookie requests must carry
    /// when no trusted proxy sends `X-Forwarded-Proto` (default: `https`, as cookies are `Secure`).
    pub public_url: Option<String>,
    /// `PORTCULLIS_LOG` / `log`: tracing filter (default `info`).
    pub log: String,
    /// `PORTCULLIS_LOG_FORMAT` / `log_format`: `text` (default) or `json` (one object per line).
    pub log_json: bool,
    /// `PORTCULLIS_ARGON2_MEMORY_KIB` / `argon2_memory_kib` (default 19456).
    pub argon2_memory_kib: u32,
    /// `PORTCULLIS_ARGON2_ITERATIONS` / `argon2_iterations` (default 2).
    pub argon2_iterations: u32,
    /// `PORTCULLIS_ARGON2_PARALLELISM` / `argon2_parallelism` (default 1).
    pub argon2_parallelism: u32,
    /// `PORTCULLIS_BODY_LIMIT` / `body_limit`: largest request body in bytes (default 65536).
    pub body_limit: usize,
    /// `PORTCULLIS_DOCS_UI` / `docs_ui`: serve the Swagger UI at `/api/docs/` (default off; the OpenAPI
    /// document at `/api/openapi.json` is served either way). It runs the API from the browser: turn it
    /// on for development, or behind access control.
    pub docs_ui: bool,
    /// `PORTCULLIS_MFA_KEY` / `mfa_key`: the base64 32-byte key that encrypts TOTP secrets and
    /// keys the recovery-code hashes. Default: `mfa.key` in the keys directory, generated on
    /// first start (mode 0600). Keep it out of the database's backups.
    pub mfa_key: Option<Secret>,
    /// `PORTCULLIS_DEVICE_KEY` / `device_key`: the base64 32-byte key that signs device cookies
    /// (a device that signed in as a user is exempt from that user's lockout). Default:
    /// `device.key` in the keys directory, generated on first start (mode 0600); every process
    /// must share it.
    pub device_key: Option<Secret>,
    /// `PORTCULLIS_MFA_ISSUER` / `mfa_issuer`: the name authenticator apps show (default: the JWT
    /// issuer, else `Portcullis`).
    pub mfa_issuer: Option<String>,
    /// `PORTCULLIS_MFA_TOKEN_TTL` / `mfa_token_ttl`: lifetime of a sign-in's `mfa_token` in seconds
    /// (default 300).
    pub mfa_token_ttl: i64,
    /// `PORTCULLIS_MFA_MAX_ATTEMPTS` / `mfa_max_attempts`: wrong codes that kill an `mfa_token`
    /// (default 5).
    pub mfa_max_attempts: u32,
    /// `PORTCULLIS_MFA_REVOKE_ON_ENABLE` / `mfa_revoke_on_enable`: enabling MFA signs the user's
    /// other sessions out (default false).
    pub mfa_revoke_on_enable: bool,
    /// `PORTCULLIS_MFA_REVOKE_ON_DISABLE` / `mfa_revoke_on_disable`: disabling MFA signs the
    /// user's other sessions out (default true).
    pub mfa_revoke_on_disable: bool,
    /// `PORTCULLIS_MFA_REVOKE_ON_RECOVERY_CODE` / `mfa_revoke_on_recovery_code`: a sign-in with a
    /// recovery code signs the user's other sessions out (default false).
    pub mfa_revoke_on_recovery_code: bool,
    /// `PORTCULLIS_EMAIL_BACKEND` / `email_backend`: `smtp://[user:password@]host[:port][?tls=starttls|opportunistic|none]`,
    /// `smtps://...`, `file:DIR` (one `.eml` per message) or `console`. Unset: no account emails
    /// (password reset and email verification answer 404).
    pub email_backend: Option<Secret>,
    /// `PORTCULLIS_EMAIL_FROM` / `email_from`: the From address (required with a backend).
    pub email_from: Option<String>,
    /// `PORTCULLIS_FRONTEND_URL` / `frontend_url`: the base of every link in an email (required
    /// with a backend): `https://app.example.com` (plain http only for localhost).
    pub frontend_url: Option<String>,
    /// `PORTCULLIS_EMAIL_VERIFICATION` / `email_verification`: `off`, `optional` (default) or
    /// `mandatory` (unverified users cannot sign in).
    pub email_verification: String,
    /// `PORTCULLIS_PASSWORD_RESET_TTL` / `password_reset_ttl`: reset-link lifetime in seconds
    /// (default 3600, 300-86400).
    pub password_reset_ttl: i64,
    /// `PORTCULLIS_EMAIL_VERIFICATION_TTL` / `email_verification_ttl`: verification-link lifetime
    /// in seconds (default 86400, 300-604800).
    pub email_verification_ttl: i64,
    /// `PORTCULLIS_PASSWORD_MIN_LENGTH` / `password_min_length`: minimum password length in
    /// characters (default 8; 15 is recommended when MFA is not used; 8-64).
    pub password_min_length: usize,
    /// `PORTCULLIS_PASSWORD_MIN_STRENGTH` / `password_min_strength`: the zxcvbn score (0-4) a new
    /// password must reach; passwords of 15 characters or more need one point less (default 3; 0: off).
    pub password_min_strength: u8,
    /// `PORTCULLIS_BREACHED_PASSWORDS` / `breached_passwords`: `off` (default) or `hibp`: refuse new
    /// passwords known from breaches (Have I Been Pwned range API, k-anonymity).
    pub breached_passwords: String,
    /// `PORTCULLIS_BREACHED_PASSWORDS_URL` / `breached_passwords_url`: the range API (default
    /// `https://api.pwnedpasswords.com`; https, or http to a loopback host).
    pub breached_passwords_url: String,
    /// `PORTCULLIS_BREACHED_PASSWORDS_TIMEOUT_MS` / `breached_passwords_timeout_ms`: how long to wait
    /// for the range API (default 2000, 100-10000).
    pub breached_passwords_timeout_ms: u64,
    /// `PORTCULLIS_BREACHED_PASSWORDS_FAIL` / `breached_passwords_fail`: when the range API cannot
    /// answer, `open` (default: accept the password) or `closed` (503 `service_unavailable`).
    pub breached_passwords_fail: String,
    /// `PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT` / `signin_limit_per_account`: consecutive failed
    /// sign-ins per login (username or email) from unknown devices before that login is locked
    /// for them; only a success resets it (default 50, at most 50: an account has two logins and
    /// NIST SP 800-63B allows at most 100). Devices the user signed in from stay unaffected.
    pub signin_limit_per_account: u32,
    /// `PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP` / `signin_limit_per_account_ip`: failed sign-ins per
    /// login from one client network (or one known device) per window (default 10; below the
    /// per-account limit, so one network cannot lock an account).
    pub signin_limit_per_account_ip: u32,
    /// `PORTCULLIS_SIGNIN_LIMIT_PER_IP` / `signin_limit_per_ip`: failed sign-ins, second factors
    /// and current passwords per client network (an IPv4 address, an IPv6 /64) per window
    /// (default 20).
    pub signin_limit_per_ip: u32,
    /// `PORTCULLIS_SIGNIN_WINDOW` / `signin_window`: the window of the per-network sign-in limits
    /// in seconds (default 900).
    pub signin_window: i64,
    /// `PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW` / `signin_consecutive_window`: how long consecutive
    /// failures (per login, per second factor, per re-authenticating user) are remembered from the
    /// first of a run when no success resets them, in seconds (default 2592000: 30 days).
    pub signin_consecutive_window: i64,
    /// `PORTCULLIS_REGISTER_LIMIT_PER_IP` / `register_limit_per_ip`: registrations per client network
    /// per hour, counted before any password is hashed (default 20).
    pub register_limit_per_ip: u32,
    /// `PORTCULLIS_REGISTER_LIMIT_GLOBAL` / `register_limit_global`: registrations in all per hour
    /// (default 1000).
    pub register_limit_global: u32,
    /// `PORTCULLIS_RATE_LIMIT_STORE` / `rate_limit_store`: where the counters live: `memory`
    /// (default, this process only), `database` (shared by every process on the database) or a
    /// `redis://` URL (shared; needs the `redis` feature).
    pub rate_limit_store: Secret,
    /// `PORTCULLIS_TRUSTED_PROXIES` / `trusted_proxies`: comma-separated addresses or CIDR ranges
    /// of reverse proxies whose `X-Forwarded-For` is believed (default none).
    pub trusted_proxies: String,
    /// `PORTCULLIS_AUDIT_RETENTION_DAYS` / `audit_retention_days`: audit events older than this
    /// are deleted by the periodic flush (default 365; 0 keeps them forever).
    pub audit_retention_days: i64,
    /// Social-login providers: `PORTCULLIS_SOCIAL_PROVIDERS` (comma-separated names) and, per
    /// name `<N>` (upper case, `-` as `_`), `PORTCULLIS_SOCIAL_<N>_KIND` (`oidc`, default, or
    /// `github`), `_ISSUER` (OpenID Connect), `_CLIENT_ID`, `_CLIENT_SECRET` or
    /// `_CLIENT_SECRET_FILE`, `_TRUST_EMAIL` (`true` links verified emails to existing accounts),
    /// `_NATIVE_CLIENT_IDS` (comma-separated client ids of native apps), `_SCOPES`. Callbacks are
    /// `{PORTCULLIS_PUBLIC_URL}/api/auth/social/<name>/callback`. In the TOML file: `[[social]]`
    /// tables with `name`, `kind`, `issuer`, `client_id`, `client_secret` or
    /// `client_secret_file`, `trust_email`, `native_client_ids`, `scopes`; the environment's
    /// `PORTCULLIS_SOCIAL_PROVIDERS` replaces the file's list.
    pub social: Vec<SocialSettings>,
    /// `PORTCULLIS_SOCIAL_STATE_KEY`: 64 hex characters, the key that seals the redirect flow's
    /// state cookie (the same in every process). Without it (or without
    /// `PORTCULLIS_FRONTEND_URL`) only native apps' token exchange is offered.
    pub social_state_key: Option<Secret>,
    /// `PORTCULLIS_SOCIAL_TOKEN_KEY` / `social_token_key`: 64 hex characters; when set, the
    /// provider's tokens of each social sign-in and link are kept in the link, sealed with
    /// AES-256-GCM under this key (for the application to call the provider's API). Unset (the
    /// default): no provider token is stored.
    pub social_token_key: Option<Secret>,
    /// `PORTCULLIS_EMAIL_SIGN_IN` / `email_sign_in`: passwordless sign-in by an emailed link and
    /// 6-digit code (`POST /api/auth/email-sign-in`, `.../confirm`); needs account emails
    /// (`PORTCULLIS_EMAIL_BACKEND` and `PORTCULLIS_FRONTEND_URL`). Default false.
    pub email_sign_in: bool,
    /// `PORTCULLIS_EMAIL_SIGN_IN_KEY` / `email_sign_in_key`: the base64 32-byte key the codes are
    /// hashed under. Default: `email-sign-in.key` in the keys directory, generated on first start
    /// (mode 0600); every process must share it.
    pub email_sign_in_key: Option<Secret>,
    /// `PORTCULLIS_EMAIL_SIGN_IN_TTL` / `email_sign_in_ttl`: how long a link and code work, in
    /// seconds (default 600, 60-3600).
    pub email_sign_in_ttl: i64,
    /// `PORTCULLIS_EMAIL_SIGN_IN_SIGN_UP` / `email_sign_in_sign_up`: an address without an
    /// account gets one by confirming (default false: nothing is sent to it).
    pub email_sign_in_sign_up: bool,
    /// `PORTCULLIS_EMAIL_SIGN_IN_IS_SECOND_FACTOR` / `email_sign_in_is_second_factor`: a used link
    /// or code also counts as the second factor of users with MFA (default false: they get the
    /// MFA step). On, the mailbox alone signs them in.
    pub email_sign_in_is_second_factor: bool,
    /// `PORTCULLIS_WEBAUTHN_RP_ID` / `webauthn_rp_id`: the relying party id of passkeys, the
    /// site's domain (`example.com`); setting it turns passkeys on. The frontend
    /// (`PORTCULLIS_FRONTEND_URL`) must be on it or a subdomain.
    pub webauthn_rp_id: Option<String>,
    /// `PORTCULLIS_WEBAUTHN_RP_NAME` / `webauthn_rp_name`: the name authenticators show (default
    /// the JWT issuer, else `Portcullis`).
    pub webauthn_rp_name: Option<String>,
    /// `PORTCULLIS_WEBAUTHN_ORIGINS` / `webauthn_origins`: the origins passkey ceremonies may come
    /// from (comma-separated; https, http only for localhost; default the frontend URL's origin).
    pub webauthn_origins: Vec<String>,
    /// `PORTCULLIS_WEBAUTHN_USER_VERIFICATION` / `webauthn_user_verification`: `required`,
    /// `preferred` (default) or `discouraged`.
    pub webauthn_user_verification: String,
}

/// One social-login provider of the settings (see [`Settings::social`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocialSettings {
    /// Its name in URLs.
    pub name: String,
    /// `oidc` or `github`.
    pub kind: String,
    /// The OpenID Connect issuer.
    pub issuer: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Option<Secret>,
    /// Whether verified emails link to existing accounts.
    pub trust_email: bool,
    /// Client ids of native apps.
    pub native_client_ids: Vec<String>,
    /// Requested scopes (the provider kind's defaults when empty).
    pub scopes: Vec<String>,
}

impl SocialSettings {
    /// An OpenID Connect provider.
    pub fn oidc(name: &str, issuer: &str, client_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: "oidc".to_owned(),
            issuer: Some(issuer.to_owned()),
            client_id: client_id.to_owned(),
            client_secret: None,
            trust_email: false,
            native_client_ids: Vec::new(),
            scopes: Vec::new(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            adapter: Adapter::Axum,
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            database_url: "sqlite://portcullis.db?mode=rwc".to_owned(),
            jwt_algorithm: JwtAlgorithm::RS256,
            jwt_secret: None,
            jwt_private_key_file: None,
            jwt_private_key: None,
            jwt_public_key_file: None,
            jwt_previous_public_key_files: Vec::new(),
            jwt_previous_secret: None,
            legacy_tokens_until: None,
            django_signing_key: None,
            django_jwt_algorithm: "HS256".to_owned(),
            keys_dir: PathBuf::from("keys"),
            issuer: None,
            audience: None,
            access_ttl: 300,
            refresh_ttl: 86_400,
            jwt_leeway: 5,
            grant_idle_ttl: None,
            token_ttl: 2_592_000,
            api_key_header: "x-api-key".to_owned(),
            session_ttl: 1_209_600,
            session_idle_ttl: 86_400,
            token_idle_ttl: None,
            token_prefix: "pct".to_owned(),
            grant_max_age: 2_592_000,
            reuse_grace: 0,
            reauthentication_window: 300,
            revocation_poll_ms: 1000,
            credential_cache_capacity: 10_000,
            revocation_stale_after_ms: 10_000,
            shutdown_grace_secs: 20,
            metrics_bind: None,
            sqlite_synchronous: portcullis::sea_orm::SqliteSynchronous::Normal,
            database_max_connections: 0,
            database_acquire_timeout_ms: 5000,
            database_statement_timeout_ms: 10_000,
            flush_interval: 3600,
            insecure_cookies: false,
            allowed_origins: Vec::new(),
            public_url: None,
            log: "info".to_owned(),
            log_json: false,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            body_limit: 64 * 1024,
            docs_ui: false,
            mfa_key: None,
            device_key: None,
            mfa_issuer: None,
            mfa_token_ttl: 300,
            mfa_max_attempts: 5,
            mfa_revoke_on_enable: false,
            mfa_revoke_on_disable: true,
            mfa_revoke_on_recovery_code: false,
            email_backend: None,
            email_from: None,
            frontend_url: None,
            email_verification: "optional".to_owned(),
            password_reset_ttl: 3600,
            email_verification_ttl: 86_400,
            password_min_length: 8,
            password_min_strength: 3,
            breached_passwords: "off".to_owned(),
            breached_passwords_url: "https://api.pwnedpasswords.com".to_owned(),
            breached_passwords_timeout_ms: 2000,
            breached_passwords_fail: "open".to_owned(),
            signin_limit_per_account: 50,
            signin_limit_per_account_ip: 10,
            signin_limit_per_ip: 20,
            signin_window: 900,
            signin_consecutive_window: 2_592_000,
            register_limit_per_ip: 20,
            register_limit_global: 1000,
            rate_limit_store: Secret::new("memory"),
            trusted_proxies: String::new(),
            audit_retention_days: 365,
            social: Vec::new(),
            social_state_key: None,
            social_token_key: None,
            email_sign_in: false,
            email_sign_in_key: None,
            email_sign_in_ttl: 600,
            email_sign_in_sign_up: false,
            email_sign_in_is_second_factor: false,
            webauthn_rp_id: None,
            webauthn_rp_name: None,
            webauthn_origins: Vec::new(),
            webauthn_user_verification: "preferred".to_owned(),
        }
    }
}

/// The TOML file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    adapter: Option<String>,
    bind: Option<String>,
    database_url: Option<String>,
    jwt_algorithm: Option<String>,
    jwt_secret: Option<Secret>,
    jwt_private_key_file: Option<PathBuf>,
    jwt_private_key: Option<Secret>,
    jwt_public_key_file: Option<PathBuf>,
    jwt_previous_public_key_files: Option<Vec<String>>,
    jwt_previous_secret: Option<Secret>,
    legacy_tokens_until: Option<String>,
    django_signing_key: Option<Secret>,
    django_jwt_algorithm: Option<String>,
    keys_dir: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    access_ttl: Option<i64>,
    refresh_ttl: Option<i64>,
    jwt_leeway: Option<i64>,
    grant_idle_ttl: Option<i64>,
    token_ttl: Option<i64>,
    api_key_header: Option<String>,
    session_ttl: Option<i64>,
    session_idle_ttl: Option<i64>,
    token_idle_ttl: Option<i64>,
    token_prefix: Option<String>,
    grant_max_age: Option<i64>,
    reuse_grace: Option<i64>,
    reauthentication_window: Option<i64>,
    revocation_poll_ms: Option<u64>,
    credential_cache_capacity: Option<usize>,
    revocation_stale_after_ms: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    metrics_bind: Option<String>,
    sqlite_synchronous: Option<String>,
    database_max_connections: Option<u32>,
    database_acquire_timeout_ms: Option<u64>,
    database_statement_timeout_ms: Option<u64>,
    flush_interval: Option<u64>,
    insecure_cookies: Option<bool>,
    allowed_origins: Option<Vec<String>>,
    public_url: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    body_limit: Option<usize>,
    docs_ui: Option<bool>,
    mfa_key: Option<Secret>,
    device_key: Option<Secret>,
    mfa_issuer: Option<String>,
    mfa_token_ttl: Option<i64>,
    mfa_max_attempts: Option<u32>,
    mfa_revoke_on_enable: Option<bool>,
    mfa_revoke_on_disable: Option<bool>,
    mfa_revoke_on_recovery_code: Option<bool>,
    email_backend: Option<Secret>,
    email_from: Option<String>,
    frontend_url: Option<String>,
    email_verification: Option<String>,
    password_reset_ttl: Option<i64>,
    email_verification_ttl: Option<i64>,
    password_min_length: Option<usize>,
    password_min_strength: Option<u8>,
    breached_passwords: Option<String>,
    breached_passwords_url: Option<String>,
    breached_passwords_timeout_ms: Option<u64>,
    breached_passwords_fail: Option<String>,
    signin_limit_per_account: Option<u32>,
    signin_limit_per_account_ip: Option<u32>,
    signin_limit_per_ip: Option<u32>,
    signin_window: Option<i64>,
    signin_consecutive_window: Option<i64>,
    register_limit_per_ip: Option<u32>,
    register_limit_global: Option<u32>,
    rate_limit_store: Option<Secret>,
    trusted_proxies: Option<TrustedProxiesValue>,
    audit_retention_days: Option<i64>,
    social: Option<Vec<FileSocialProvider>>,
    social_state_key: Option<Secret>,
    social_token_key: Option<Secret>,
    email_sign_in: Option<bool>,
    email_sign_in_key: Option<Secret>,
    email_sign_in_ttl: Option<i64>,
    email_sign_in_sign_up: Option<bool>,
    email_sign_in_is_second_factor: Option<bool>,
    webauthn_rp_id: Option<String>,
    webauthn_rp_name: Option<String>,
    webauthn_origins: Option<Vec<String>>,
    webauthn_user_verification: Option<String>,
}

/// A `[[social]]` table of the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSocialProvider {
    name: String,
    kind: Option<String>,
    issuer: Option<String>,
    client_id: String,
    client_secret: Option<Secret>,
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    trust_email: bool,
    #[serde(default)]
    native_client_ids: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `trusted_proxies` in the file: a list or one comma-separated string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TrustedProxiesValue {
    List(Vec<String>),
    Text(String),
}

/// An RFC 3339 instant (`2027-06-30T00:00:00Z`).
fn parse_instant(setting: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, ConfigError> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| ConfigError::new(setting, "must be an RFC 3339 instant, e.g. 2027-06-30T00:00:00Z"))
}

fn parse<T: std::str::FromStr>(setting: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError::new(setting, format!("`{value}`: {e}")))
}

fn parse_bool(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(ConfigError::new(setting, format!("`{other}` is not a boolean (true/false)"))),
    }
}

impl Settings {
    fn validate_social(&self) -> Result<(), ConfigError> {
        for provider in &self.social {
            let setting = |key: &str| {
                format!("PORTCULLIS_SOCIAL_{}_{key}", provider.name.to_ascii_uppercase().replace('-', "_"))
            };
            let valid_name = !provider.name.is_empty()
                && provider.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid_name {
                return Err(ConfigError::new("PORTCULLIS_SOCIAL_PROVIDERS", "names are a-z, 0-9 and '-'"));
            }
            if provider.client_id.is_empty() {
                return Err(ConfigError::new(&setting("CLIENT_ID"), "is required"));
            }
            match provider.kind.as_str() {
                "oidc" if provider.issuer.is_none() => {
                    return Err(ConfigError::new(
                        &setting("ISSUER"),
                        "is required for an OpenID Connect provider",
                    ));
                }
                "oidc" | "github" => {}
                _ => return Err(ConfigError::new(&setting("KIND"), "is `oidc` or `github`")),
            }
        }
        if !self.social.is_empty() && self.public_url.is_none() {
            return Err(ConfigError::new(
                "PORTCULLIS_PUBLIC_URL",
                "social login needs this server's URL (its callbacks are under it)",
            ));
        }
        for (setting, key) in [
            ("PORTCULLIS_SOCIAL_STATE_KEY", &self.social_state_key),
            ("PORTCULLIS_SOCIAL_TOKEN_KEY", &self.social_token_key),
        ] {
            if key.as_ref().is_some_and(|key| hex_key(key).is_none()) {
                return Err(ConfigError::new(setting, "must be 64 hex characters (32 bytes)"));
            }
        }
        if self.social_token_key.is_some() && self.social.is_empty() {
            return Err(ConfigError::new(
                "PORTCULLIS_SOCIAL_TOKEN_KEY",
                "is set, but no social provider is configured (PORTCULLIS_SOCIAL_PROVIDERS)",
            ));
        }
        Ok(())
    }

    fn validate_email_sign_in(&self) -> Result<(), ConfigError> {
        if !(60..=3_600).contains(&self.email_sign_in_ttl) {
            return Err(ConfigError::new("PORTCULLIS_EMAIL_SIGN_IN_TTL", "must be 60-3600 seconds"));
        }
        let configured = self.email_sign_in_key.is_some()
            || self.email_sign_in_sign_up
            || self.email_sign_in_is_second_factor;
        if configured && !self.email_sign_in {
            return Err(ConfigError::new(
                "PORTCULLIS_EMAIL_SIGN_IN",
                "is off, but email sign-in settings are set: turn it on or remove them",
            ));
        }
        if self.email_sign_in && (self.email_backend.is_none() || self.frontend_url.is_none()) {
            return Err(ConfigError::new(
                "PORTCULLIS_EMAIL_SIGN_IN",
                "needs account emails: set PORTCULLIS_EMAIL_BACKEND and PORTCULLIS_FRONTEND_URL",
            ));
        }
        if let Some(key) = &self.email_sign_in_key
            && auth_core_key(key.expose()).is_none()
        {
            return Err(ConfigError::new("PORTCULLIS_EMAIL_SIGN_IN_KEY", "must be the base64 of 32 bytes"));
        }
        Ok(())
    }

    /// The passkey settings as an `auth-webauthn` configuration (`None` with passkeys off),
    /// refused when inconsistent: origins outside the relying party or insecure, none at all, the
    /// frontend outside the relying party, an unknown user-verification mode.
    pub fn passkey_config(&self) -> Result<Option<portcullis::passkeys::PasskeyConfig>, ConfigError> {
        use portcullis::passkeys::{ConfigError as Invalid, PasskeyConfig, UserVerification};
        let verification = UserVerification::parse(&self.webauthn_user_verification).ok_or_else(|| {
            ConfigError::new(
                "PORTCULLIS_WEBAUTHN_USER_VERIFICATION",
                "is `required`, `preferred` or `discouraged`",
            )
        })?;
        let Some(rp_id) = &self.webauthn_rp_id else { return Ok(None) };
        let name = self
            .webauthn_rp_name
            .clone()
            .or_else(|| self.issuer.clone())
            .unwrap_or_else(|| "Portcullis".to_owned());
        let mut config = PasskeyConfig::new(rp_id.clone(), name).user_verification(verification);
        let origins: Vec<String> = if self.webauthn_origins.is_empty() {
            self.frontend_url
                .iter()
                .filter_map(|url| url::Url::parse(url).ok())
                .map(|u| u.origin().ascii_serialization())
                .collect()
        } else {
            self.webauthn_origins.clone()
        };
        for origin in &origins {
            let url = url::Url::parse(origin)
                .map_err(|e| ConfigError::new("PORTCULLIS_WEBAUTHN_ORIGINS", format!("{origin}: {e}")))?;
            config = config.allowed_origin(url);
        }
        if let Err(error) = config.validate() {
            let setting = match error {
                Invalid::InvalidRpId(_) => "PORTCULLIS_WEBAUTHN_RP_ID",
                Invalid::EmptyRpName => "PORTCULLIS_WEBAUTHN_RP_NAME",
                _ => "PORTCULLIS_WEBAUTHN_ORIGINS",
            };
            return Err(ConfigError::new(setting, error.to_string()));
        }
        // Passkeys registered on the frontend must work there: its host is on the relying party.
        if let Some(frontend) = &self.frontend_url {
            let host = url::Url::parse(frontend)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            if host != *rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(ConfigError::new(
                    "PORTCULLIS_WEBAUTHN_RP_ID",
                    format!("the frontend {frontend} is not on {rp_id} or a subdomain of it"),
                ));
            }
        }
        Ok(Some(config))
    }

    /// The redirect flow's state key, when configured.
    pub fn social_state_key_bytes(&self) -> Option<[u8; 32]> {
        hex_key(self.social_state_key.as_ref()?)
    }

    /// The key sealing stored provider tokens, when configured.
    pub fn social_token_key_bytes(&self) -> Option<[u8; 32]> {
        hex_key(self.social_token_key.as_ref()?)
    }
}

/// 32 bytes from base64 (as the other key settings).
fn auth_core_key(text: &str) -> Option<Vec<u8>> {
    portcullis::core::key_file::decode_key(text, 32)
}

/// 32 bytes from 64 hex characters.
fn hex_key(secret: &Secret) -> Option<[u8; 32]> {
    let hex = secret.expose().trim();
    if hex.len() != 64 {
        return None;
    }
    let mut key = [0_u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

/// A secret from a file (surrounding whitespace trimmed).
fn read_secret_file(setting: &str, path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(setting, format!("{}: {e}", path.display())))?;
    Ok(Secret::new(text.trim()))
}

fn parse_log_format(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(false),
        "json" => Ok(true),
        other => Err(ConfigError::new(setting, format!("`{other}` is not `text` or `json`"))),
    }
}

impl Settings {
    /// Loads settings: defaults, then the TOML file (if any), then the environment as read by `env`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = Settings::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("--config", format!("{}: {e}", path.display())))?;
            let f: FileSettings =
                toml::from_str(&text).map_err(|e| ConfigError::new("--config", e.to_string()))?;
            s.apply_file(f)?;
        }
        s.apply_env(env)?;
        s.validate()?;
        Ok(s)
    }

    /// Loads settings from the process environment.
    pub fn from_process_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |name| std::env::var(name).ok())
    }

    fn apply_file(&mut self, f: FileSettings) -> Result<(), ConfigError> {
        if let Some(v) = f.adapter {
            self.adapter = parse("adapter", &v)?;
        }
        if let Some(v) = f.bind {
            self.bind = parse("bind", &v)?;
        }
        if let Some(v) = f.database_url {
            self.database_url = v;
        }
        if let Some(v) = f.jwt_algorithm {
            self.jwt_algorithm = parse("jwt_algorithm", &v)?;
        }
        if f.jwt_secret.is_some() {
            self.jwt_secret = f.jwt_secret;
        }
        if f.jwt_private_key_file.is_some() {
            self.jwt_private_key_file = f.jwt_private_key_file;
        }
        if f.jwt_private_key.is_some() {
            self.jwt_private_key = f.jwt_private_key;
        }
        if f.jwt_public_key_file.is_some() {
            self.jwt_public_key_file = f.jwt_public_key_file;
        }
        if let Some(v) = f.jwt_previous_public_key_files {
            self.jwt_previous_public_key_files = v;
        }
        if f.jwt_previous_secret.is_some() {
            self.jwt_previous_secret = f.jwt_previous_secret;
        }
        if let Some(v) = f.legacy_tokens_until {
            self.legacy_tokens_until = Some(parse_instant("legacy_tokens_until", &v)?);
        }
        if f.django_signing_key.is_some() {
            self.django_signing_key = f.django_signing_key;
        }
        if let Some(v) = f.django_jwt_algorithm {
            self.django_jwt_algorithm = v;
        }
        if let Some(v) = f.keys_dir {
            self.keys_dir = v;
        }
        if f.issuer.is_some() {
            self.issuer = f.issuer;
        }
        if f.audience.is_some() {
            self.audience = f.audience;
        }
        if let Some(v) = f.access_ttl {
            self.access_ttl = v;
        }
        if let Some(v) = f.refresh_ttl {
            self.refresh_ttl = v;
        }
        if let Some(v) = f.jwt_leeway {
            self.jwt_leeway = v;
        }
        if let Some(v) = f.api_key_header {
            self.api_key_header = v;
        }
        if let Some(v) = f.session_ttl {
            self.session_ttl = v;
        }
        if let Some(v) = f.session_idle_ttl {
            self.session_idle_ttl = v;
        }
        if let Some(v) = f.token_ttl {
            self.token_ttl = v;
        }
        if f.token_idle_ttl.is_some() {
            self.token_idle_ttl = f.token_idle_ttl;
        }
        if let Some(v) = f.token_prefix {
            self.token_prefix = v;
        }
        if f.grant_idle_ttl.is_some() {
            self.grant_idle_ttl = f.grant_idle_ttl;
        }
        if let Some(v) = f.grant_max_age {
            self.grant_max_age = v;
        }
        if let Some(v) = f.reuse_grace {
            self.reuse_grace = v;
        }
        if let Some(v) = f.reauthentication_window {
            self.reauthentication_window = v;
        }
        if let Some(v) = f.revocation_poll_ms {
            self.revocation_poll_ms = v;
        }
        if let Some(v) = f.credential_cache_capacity {
            self.credential_cache_capacity = v;
        }
        if let Some(v) = f.revocation_stale_after_ms {
            self.revocation_stale_after_ms = v;
        }
        if let Some(v) = f.shutdown_grace_secs {
            self.shutdown_grace_secs = v;
        }
        if let Some(v) = f.metrics_bind {
            self.metrics_bind = Some(parse("metrics_bind", &v)?);
        }
        if let Some(v) = f.sqlite_synchronous {
            self.sqlite_synchronous = parse("sqlite_synchronous", &v)?;
        }
        if let Some(v) = f.database_max_connections {
            self.database_max_connections = v;
        }
        if let Some(v) = f.database_acquire_timeout_ms {
            self.database_acquire_timeout_ms = v;
        }
        if let Some(v) = f.database_statement_timeout_ms {
            self.database_statement_timeout_ms = v;
        }
        if let Some(v) = f.flush_interval {
            self.flush_interval = v;
        }
        if let Some(v) = f.insecure_cookies {
            self.insecure_cookies = v;
        }
        if let Some(v) = f.allowed_origins {
            self.allowed_origins = v;
        }
        if let Some(v) = f.public_url {
            self.public_url = Some(v);
        }
        if let Some(v) = f.log {
            self.log = v;
        }
        if let Some(v) = f.log_format {
            self.log_json = parse_log_format("log_format", &v)?;
        }
        if let Some(v) = f.argon2_memory_kib {
            self.argon2_memory_kib = v;
        }
        if let Some(v) = f.argon2_iterations {
            self.argon2_iterations = v;
        }
        if let Some(v) = f.argon2_parallelism {
            self.argon2_parallelism = v;
        }
        if let Some(v) = f.body_limit {
            self.body_limit = v;
        }
        if let Some(v) = f.docs_ui {
            self.docs_ui = v;
        }
        if f.mfa_key.is_some() {
            self.mfa_key = f.mfa_key;
        }
        if f.device_key.is_some() {
            self.device_key = f.device_key;
        }
        if f.mfa_issuer.is_some() {
            self.mfa_issuer = f.mfa_issuer;
        }
        if let Some(v) = f.mfa_token_ttl {
            self.mfa_token_ttl = v;
        }
        if let Some(v) = f.mfa_max_attempts {
            self.mfa_max_attempts = v;
        }
        if let Some(v) = f.mfa_revoke_on_enable {
            self.mfa_revoke_on_enable = v;
        }
        if let Some(v) = f.mfa_revoke_on_disable {
            self.mfa_revoke_on_disable = v;
        }
        if let Some(v) = f.mfa_revoke_on_recovery_code {
            self.mfa_revoke_on_recovery_code = v;
        }
        if f.email_backend.is_some() {
            self.email_backend = f.email_backend;
        }
        if f.email_from.is_some() {
            self.email_from = f.email_from;
        }
        if f.frontend_url.is_some() {
            self.frontend_url = f.frontend_url;
        }
        if let Some(v) = f.email_verification {
            self.email_verification = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = f.password_reset_ttl {
            self.password_reset_ttl = v;
        }
        if let Some(v) = f.email_verification_ttl {
            self.email_verification_ttl = v;
        }
        if let Some(v) = f.password_min_length {
            self.password_min_length = v;
        }
        if let Some(v) = f.password_min_strength {
            self.password_min_strength = v;
        }
        if let Some(v) = f.breached_passwords {
            self.breached_passwords = v;
        }
        if let Some(v) = f.breached_passwords_url {
            self.breached_passwords_url = v;
        }
        if let Some(v) = f.breached_passwords_timeout_ms {
            self.breached_passwords_timeout_ms = v;
        }
        if let Some(v) = f.breached_passwords_fail {
            self.breached_passwords_fail = v;
        }
        if let Some(v) = f.signin_limit_per_account {
            self.signin_limit_per_account = v;
        }
        if let Some(v) = f.signin_limit_per_account_ip {
            self.signin_limit_per_account_ip = v;
        }
        if let Some(v) = f.signin_limit_per_ip {
            self.signin_limit_per_ip = v;
        }
        if let Some(v) = f.signin_window {
            self.signin_window = v;
        }
        if let Some(v) = f.signin_consecutive_window {
            self.signin_consecutive_window = v;
        }
        if let Some(v) = f.register_limit_per_ip {
            self.register_limit_per_ip = v;
        }
        if let Some(v) = f.register_limit_global {
            self.register_limit_global = v;
        }
        if let Some(v) = f.rate_limit_store {
            self.rate_limit_store = v;
        }
        match f.trusted_proxies {
            Some(TrustedProxiesValue::List(list)) => self.trusted_proxies = list.join(","),
            Some(TrustedProxiesValue::Text(text)) => self.trusted_proxies = text,
            None => {}
        }
        if let Some(v) = f.audit_retention_days {
            self.audit_retention_days = v;
        }
        if let Some(providers) = f.social {
            self.social.clear();
            for p in providers {
                let client_secret = match (p.client_secret, p.client_secret_file) {
                    (Some(_), Some(_)) => {
                        return Err(ConfigError::new(
                            &format!("social.{}.client_secret_file", p.name),
                            "set the secret or its file, not both",
                        ));
                    }
                    (Some(secret), None) => Some(secret),
                    (None, Some(path)) => {
                        Some(read_secret_file(&format!("social.{}.client_secret_file", p.name), &path)?)
                    }
                    (None, None) => None,
                };
                self.social.push(SocialSettings {
                    kind: p.kind.unwrap_or_else(|| "oidc".to_owned()).trim().to_ascii_lowercase(),
                    name: p.name,
                    issuer: p.issuer,
                    client_id: p.client_id,
                    client_secret,
                    trust_email: p.trust_email,
                    native_client_ids: p.native_client_ids,
                    scopes: p.scopes,
                });
            }
        }
        if f.social_state_key.is_some() {
            self.social_state_key = f.social_state_key;
        }
        if f.social_token_key.is_some() {
            self.social_token_key = f.social_token_key;
        }
        if let Some(v) = f.email_sign_in {
            self.email_sign_in = v;
        }
        if f.email_sign_in_key.is_some() {
            self.email_sign_in_key = f.email_sign_in_key;
        }
        if let Some(v) = f.email_sign_in_ttl {
            self.email_sign_in_ttl = v;
        }
        if let Some(v) = f.email_sign_in_sign_up {
            self.email_sign_in_sign_up = v;
        }
        if let Some(v) = f.email_sign_in_is_second_factor {
            self.email_sign_in_is_second_factor = v;
        }
        if f.webauthn_rp_id.is_some() {
            self.webauthn_rp_id = f.webauthn_rp_id;
        }
        if f.webauthn_rp_name.is_some() {
            self.webauthn_rp_name = f.webauthn_rp_name;
        }
        if let Some(v) = f.webauthn_origins {
            self.webauthn_origins = v;
        }
        if let Some(v) = f.webauthn_user_verification {
            self.webauthn_user_verification = v;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(list) = get("PORTCULLIS_SOCIAL_PROVIDERS") {
            self.social.clear();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let prefix = format!("PORTCULLIS_SOCIAL_{}_", name.to_ascii_uppercase().replace('-', "_"));
                let var = |key: &str| get(&format!("{prefix}{key}"));
                let client_secret = match (var("CLIENT_SECRET"), var("CLIENT_SECRET_FILE")) {
                    (Some(_), Some(_)) => {
                        let setting = format!("{prefix}CLIENT_SECRET_FILE");
                        return Err(ConfigError::new(&setting, "set the secret or its file, not both"));
                    }
                    (Some(secret), None) => Some(Secret::new(secret)),
                    (None, Some(path)) => Some(read_secret_file(
                        &format!("{prefix}CLIENT_SECRET_FILE"),
                        std::path::Path::new(path.trim()),
                    )?),
                    (None, None) => None,
                };
                let list = |key: &str| -> Vec<String> {
                    var(key)
                        .map(|v| {
                            v.split([',', ' '])
                                .map(str::trim)
                                .filter(|x| !x.is_empty())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let trust_email = match var("TRUST_EMAIL") {
                    Some(v) => parse_bool(&format!("{prefix}TRUST_EMAIL"), &v)?,
                    None => false,
                };
                self.social.push(SocialSettings {
                    name: name.to_owned(),
                    kind: var("KIND").unwrap_or_else(|| "oidc".to_owned()).trim().to_ascii_lowercase(),
                    issuer: var("ISSUER"),
                    client_id: var("CLIENT_ID").unwrap_or_default(),
                    client_secret,
                    trust_email,
                    native_client_ids: list("NATIVE_CLIENT_IDS"),
                    scopes: list("SCOPES"),
                });
            }
        }
        if let Some(v) = get("PORTCULLIS_SOCIAL_STATE_KEY") {
            self.social_state_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_SOCIAL_TOKEN_KEY") {
            self.social_token_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_SIGN_IN") {
            self.email_sign_in = parse_bool("PORTCULLIS_EMAIL_SIGN_IN", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_SIGN_IN_KEY") {
            self.email_sign_in_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_SIGN_IN_TTL") {
            self.email_sign_in_ttl = parse("PORTCULLIS_EMAIL_SIGN_IN_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_SIGN_IN_SIGN_UP") {
            self.email_sign_in_sign_up = parse_bool("PORTCULLIS_EMAIL_SIGN_IN_SIGN_UP", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_WEBAUTHN_RP_ID") {
            self.webauthn_rp_id = Some(v.trim().to_owned());
        }
        if let Some(v) = get("PORTCULLIS_WEBAUTHN_RP_NAME") {
            self.webauthn_rp_name = Some(v.trim().to_owned());
        }
        if let Some(v) = get("PORTCULLIS_WEBAUTHN_ORIGINS") {
            self.webauthn_origins =
                v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = get("PORTCULLIS_WEBAUTHN_USER_VERIFICATION") {
            self.webauthn_user_verification = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_SIGN_IN_IS_SECOND_FACTOR") {
            self.email_sign_in_is_second_factor =
                parse_bool("PORTCULLIS_EMAIL_SIGN_IN_IS_SECOND_FACTOR", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_ADAPTER") {
            self.adapter = parse("PORTCULLIS_ADAPTER", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BIND") {
            self.bind = parse("PORTCULLIS_BIND", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = get("PORTCULLIS_JWT_ALGORITHM") {
            self.jwt_algorithm = parse("PORTCULLIS_JWT_ALGORITHM", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_JWT_SECRET") {
            self.jwt_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_JWT_PRIVATE_KEY_FILE") {
            self.jwt_private_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("PORTCULLIS_JWT_PRIVATE_KEY") {
            self.jwt_private_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_JWT_PUBLIC_KEY_FILE") {
            self.jwt_public_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("PORTCULLIS_JWT_PREVIOUS_PUBLIC_KEY_FILES") {
            self.jwt_previous_public_key_files =
                v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = get("PORTCULLIS_JWT_PREVIOUS_SECRET") {
            self.jwt_previous_secret = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_LEGACY_TOKENS_UNTIL") {
            self.legacy_tokens_until =
                if v.is_empty() { None } else { Some(parse_instant("PORTCULLIS_LEGACY_TOKENS_UNTIL", &v)?) };
        }
        if let Some(v) = get("PORTCULLIS_DJANGO_SIGNING_KEY") {
            self.django_signing_key = if v.is_empty() { None } else { Some(Secret::new(v)) };
        }
        if let Some(v) = get("PORTCULLIS_DJANGO_JWT_ALGORITHM") {
            self.django_jwt_algorithm = v;
        }
        if let Some(v) = get("PORTCULLIS_KEYS_DIR") {
            self.keys_dir = PathBuf::from(v);
        }
        if let Some(v) = get("PORTCULLIS_ISSUER") {
            self.issuer = Some(v);
        }
        if let Some(v) = get("PORTCULLIS_AUDIENCE") {
            self.audience = Some(v);
        }
        if let Some(v) = get("PORTCULLIS_ACCESS_TTL") {
            self.access_ttl = parse("PORTCULLIS_ACCESS_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REFRESH_TTL") {
            self.refresh_ttl = parse("PORTCULLIS_REFRESH_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_JWT_LEEWAY") {
            self.jwt_leeway = parse("PORTCULLIS_JWT_LEEWAY", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_API_KEY_HEADER") {
            self.api_key_header = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = get("PORTCULLIS_SESSION_TTL") {
            self.session_ttl = parse("PORTCULLIS_SESSION_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SESSION_IDLE_TTL") {
            self.session_idle_ttl = parse("PORTCULLIS_SESSION_IDLE_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_TOKEN_TTL") {
            self.token_ttl = parse("PORTCULLIS_TOKEN_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_TOKEN_IDLE_TTL") {
            self.token_idle_ttl = Some(parse("PORTCULLIS_TOKEN_IDLE_TTL", &v)?);
        }
        if let Some(v) = get("PORTCULLIS_TOKEN_PREFIX") {
            self.token_prefix = v.trim().to_owned();
        }
        if let Some(v) = get("PORTCULLIS_GRANT_IDLE_TTL") {
            self.grant_idle_ttl = Some(parse("PORTCULLIS_GRANT_IDLE_TTL", &v)?);
        }
        if let Some(v) = get("PORTCULLIS_GRANT_MAX_AGE") {
            self.grant_max_age = parse("PORTCULLIS_GRANT_MAX_AGE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REUSE_GRACE") {
            self.reuse_grace = parse("PORTCULLIS_REUSE_GRACE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REAUTHENTICATION_WINDOW") {
            self.reauthentication_window = parse("PORTCULLIS_REAUTHENTICATION_WINDOW", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REVOCATION_POLL_MS") {
            self.revocation_poll_ms = parse("PORTCULLIS_REVOCATION_POLL_MS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_CREDENTIAL_CACHE_CAPACITY") {
            self.credential_cache_capacity = parse("PORTCULLIS_CREDENTIAL_CACHE_CAPACITY", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REVOCATION_STALE_AFTER_MS") {
            self.revocation_stale_after_ms = parse("PORTCULLIS_REVOCATION_STALE_AFTER_MS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SHUTDOWN_GRACE_SECS") {
            self.shutdown_grace_secs = parse("PORTCULLIS_SHUTDOWN_GRACE_SECS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_METRICS_BIND") {
            self.metrics_bind = if v.is_empty() { None } else { Some(parse("PORTCULLIS_METRICS_BIND", &v)?) };
        }
        if let Some(v) = get("PORTCULLIS_SQLITE_SYNCHRONOUS") {
            self.sqlite_synchronous = parse("PORTCULLIS_SQLITE_SYNCHRONOUS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections = parse("PORTCULLIS_DATABASE_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS") {
            self.database_acquire_timeout_ms = parse("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_DATABASE_STATEMENT_TIMEOUT_MS") {
            self.database_statement_timeout_ms = parse("PORTCULLIS_DATABASE_STATEMENT_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_FLUSH_INTERVAL") {
            self.flush_interval = parse("PORTCULLIS_FLUSH_INTERVAL", &v)?;
        }
        if let Some(v) = env("PORTCULLIS_INSECURE_COOKIES") {
            self.insecure_cookies = parse_bool("PORTCULLIS_INSECURE_COOKIES", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_ALLOWED_ORIGINS") {
            self.allowed_origins =
                v.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = get("PORTCULLIS_PUBLIC_URL") {
            self.public_url = Some(parse("PORTCULLIS_PUBLIC_URL", &v)?);
        }
        if let Some(v) = get("PORTCULLIS_LOG") {
            self.log = v;
        }
        if let Some(v) = get("PORTCULLIS_LOG_FORMAT") {
            self.log_json = parse_log_format("PORTCULLIS_LOG_FORMAT", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_ARGON2_MEMORY_KIB") {
            self.argon2_memory_kib = parse("PORTCULLIS_ARGON2_MEMORY_KIB", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_ARGON2_ITERATIONS") {
            self.argon2_iterations = parse("PORTCULLIS_ARGON2_ITERATIONS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_ARGON2_PARALLELISM") {
            self.argon2_parallelism = parse("PORTCULLIS_ARGON2_PARALLELISM", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BODY_LIMIT") {
            self.body_limit = parse("PORTCULLIS_BODY_LIMIT", &v)?;
        }
        if let Some(v) = env("PORTCULLIS_DOCS_UI") {
            self.docs_ui = parse_bool("PORTCULLIS_DOCS_UI", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_MFA_KEY") {
            self.mfa_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_DEVICE_KEY") {
            self.device_key = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_MFA_ISSUER") {
            self.mfa_issuer = Some(v);
        }
        if let Some(v) = get("PORTCULLIS_MFA_TOKEN_TTL") {
            self.mfa_token_ttl = parse("PORTCULLIS_MFA_TOKEN_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_MFA_MAX_ATTEMPTS") {
            self.mfa_max_attempts = parse("PORTCULLIS_MFA_MAX_ATTEMPTS", &v)?;
        }
        if let Some(v) = env("PORTCULLIS_MFA_REVOKE_ON_ENABLE") {
            self.mfa_revoke_on_enable = parse_bool("PORTCULLIS_MFA_REVOKE_ON_ENABLE", &v)?;
        }
        if let Some(v) = env("PORTCULLIS_MFA_REVOKE_ON_DISABLE") {
            self.mfa_revoke_on_disable = parse_bool("PORTCULLIS_MFA_REVOKE_ON_DISABLE", &v)?;
        }
        if let Some(v) = env("PORTCULLIS_MFA_REVOKE_ON_RECOVERY_CODE") {
            self.mfa_revoke_on_recovery_code = parse_bool("PORTCULLIS_MFA_REVOKE_ON_RECOVERY_CODE", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_BACKEND") {
            self.email_backend = Some(Secret::new(v));
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_FROM") {
            self.email_from = Some(v);
        }
        if let Some(v) = get("PORTCULLIS_FRONTEND_URL") {
            self.frontend_url = Some(v);
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_VERIFICATION") {
            self.email_verification = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = get("PORTCULLIS_PASSWORD_RESET_TTL") {
            self.password_reset_ttl = parse("PORTCULLIS_PASSWORD_RESET_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_EMAIL_VERIFICATION_TTL") {
            self.email_verification_ttl = parse("PORTCULLIS_EMAIL_VERIFICATION_TTL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_PASSWORD_MIN_LENGTH") {
            self.password_min_length = parse("PORTCULLIS_PASSWORD_MIN_LENGTH", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_PASSWORD_MIN_STRENGTH") {
            self.password_min_strength = parse("PORTCULLIS_PASSWORD_MIN_STRENGTH", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BREACHED_PASSWORDS") {
            self.breached_passwords = parse("PORTCULLIS_BREACHED_PASSWORDS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BREACHED_PASSWORDS_URL") {
            self.breached_passwords_url = parse("PORTCULLIS_BREACHED_PASSWORDS_URL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BREACHED_PASSWORDS_TIMEOUT_MS") {
            self.breached_passwords_timeout_ms = parse("PORTCULLIS_BREACHED_PASSWORDS_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_BREACHED_PASSWORDS_FAIL") {
            self.breached_passwords_fail = parse("PORTCULLIS_BREACHED_PASSWORDS_FAIL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT") {
            self.signin_limit_per_account = parse("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP") {
            self.signin_limit_per_account_ip = parse("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SIGNIN_LIMIT_PER_IP") {
            self.signin_limit_per_ip = parse("PORTCULLIS_SIGNIN_LIMIT_PER_IP", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SIGNIN_WINDOW") {
            self.signin_window = parse("PORTCULLIS_SIGNIN_WINDOW", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW") {
            self.signin_consecutive_window = parse("PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REGISTER_LIMIT_PER_IP") {
            self.register_limit_per_ip = parse("PORTCULLIS_REGISTER_LIMIT_PER_IP", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_REGISTER_LIMIT_GLOBAL") {
            self.register_limit_global = parse("PORTCULLIS_REGISTER_LIMIT_GLOBAL", &v)?;
        }
        if let Some(v) = get("PORTCULLIS_RATE_LIMIT_STORE") {
            self.rate_limit_store = Secret::new(v);
        }
        if let Some(v) = get("PORTCULLIS_TRUSTED_PROXIES") {
            self.trusted_proxies = v;
        }
        if let Some(v) = get("PORTCULLIS_AUDIT_RETENTION_DAYS") {
            self.audit_retention_days = parse("PORTCULLIS_AUDIT_RETENTION_DAYS", &v)?;
        }
        Ok(())
    }

    /// The email verification mode.
    pub fn email_verification_mode(&self) -> Result<portcullis::flows::EmailVerification, ConfigError> {
        parse("PORTCULLIS_EMAIL_VERIFICATION", &self.email_verification)
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> Result<portcullis::core::http_support::TrustedProxies, ConfigError> {
        portcullis::core::http_support::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| ConfigError::new("PORTCULLIS_TRUSTED_PROXIES", e))
    }

    /// The checks of the account-lifecycle and abuse-protection settings.
    fn validate_accounts(&self) -> Result<(), ConfigError> {
        let mode = self.email_verification_mode()?;
        match (&self.email_backend, &self.email_from, &self.frontend_url) {
            (None, _, _) if mode == portcullis::flows::EmailVerification::Mandatory => {
                return Err(ConfigError::new(
                    "PORTCULLIS_EMAIL_VERIFICATION",
                    "mandatory verification needs PORTCULLIS_EMAIL_BACKEND (users could never verify)",
                ));
            }
            (None, _, _) => {}
            (Some(backend), from, frontend) => {
                portcullis::mail::EmailBackend::parse(backend.expose())
                    .map_err(|e| ConfigError::new("PORTCULLIS_EMAIL_BACKEND", e.to_string()))?;
                if from.is_none() {
                    return Err(ConfigError::new(
                        "PORTCULLIS_EMAIL_FROM",
                        "is required with an email backend",
                    ));
                }
                let Some(frontend) = frontend else {
                    return Err(ConfigError::new(
                        "PORTCULLIS_FRONTEND_URL",
                        "is required with an email backend: every link in an email points to the frontend",
                    ));
                };
                portcullis::flows::AccountEmailConfig::new(frontend).map_err(|e| {
                    let detail = e.body().detail;
                    ConfigError::new("PORTCULLIS_FRONTEND_URL", detail.trim_start_matches("frontend_url: "))
                })?;
            }
        }
        if !(300..=86_400).contains(&self.password_reset_ttl) {
            return Err(ConfigError::new("PORTCULLIS_PASSWORD_RESET_TTL", "must be 300 to 86400 seconds"));
        }
        if !(300..=604_800).contains(&self.email_verification_ttl) {
            return Err(ConfigError::new(
                "PORTCULLIS_EMAIL_VERIFICATION_TTL",
                "must be 300 to 604800 seconds",
            ));
        }
        if !(8..=64).contains(&self.password_min_length) {
            return Err(ConfigError::new(
                "PORTCULLIS_PASSWORD_MIN_LENGTH",
                "must be 8 to 64 characters (NIST SP 800-63B: at least 8, 15 without MFA)",
            ));
        }
        if !(1..=50).contains(&self.signin_limit_per_account) {
            return Err(ConfigError::new(
                "PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT",
                "must be 1 to 50 per login (an account has two; NIST SP 800-63B: at most 100 consecutive failures)",
            ));
        }
        if self.signin_limit_per_account_ip == 0
            || self.signin_limit_per_account_ip >= self.signin_limit_per_account
        {
            return Err(ConfigError::new(
                "PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP",
                "must be at least 1 and below PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT (else one network could lock an account)",
            ));
        }
        if self.signin_limit_per_ip == 0 {
            return Err(ConfigError::new("PORTCULLIS_SIGNIN_LIMIT_PER_IP", "must be at least 1"));
        }
        if let Some(key) = &self.device_key
            && portcullis::core::DeviceKey::from_base64(key.expose()).is_none()
        {
            return Err(ConfigError::new("PORTCULLIS_DEVICE_KEY", "must be the base64 of 32 bytes"));
        }
        if !(3600..=31_536_000).contains(&self.signin_consecutive_window) {
            return Err(ConfigError::new(
                "PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW",
                "must be 3600 to 31536000 seconds (an hour to a year)",
            ));
        }
        if self.register_limit_per_ip == 0 || self.register_limit_global < self.register_limit_per_ip {
            return Err(ConfigError::new(
                "PORTCULLIS_REGISTER_LIMIT_PER_IP",
                "must be at least 1 and at most PORTCULLIS_REGISTER_LIMIT_GLOBAL",
            ));
        }
        if !(60..=86_400).contains(&self.signin_window) {
            return Err(ConfigError::new("PORTCULLIS_SIGNIN_WINDOW", "must be 60 to 86400 seconds"));
        }
        let store = self.rate_limit_store.expose();
        if !(store == "memory"
            || store == "database"
            || store.starts_with("redis://")
            || store.starts_with("rediss://"))
        {
            return Err(ConfigError::new(
                "PORTCULLIS_RATE_LIMIT_STORE",
                "must be `memory`, `database` or a redis:// URL",
            ));
        }
        self.trusted_proxies()?;
        if !(0..=36_500).contains(&self.audit_retention_days) {
            return Err(ConfigError::new(
                "PORTCULLIS_AUDIT_RETENTION_DAYS",
                "must be 0 (forever) to 36500 days",
            ));
        }
        Ok(())
    }

    /// Refuses unsafe or inconsistent combinations, naming the setting at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_social()?;
        self.validate_email_sign_in()?;
        self.passkey_config()?;
        if !(0..=3600).contains(&self.reauthentication_window) {
            return Err(ConfigError::new("PORTCULLIS_REAUTHENTICATION_WINDOW", "must be 0 to 3600 seconds"));
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::new("PORTCULLIS_PUBLIC_URL", "must be an absolute http(s) URL"));
        }
        if !matches!(self.breached_passwords_fail.as_str(), "open" | "closed") {
            return Err(ConfigError::new("PORTCULLIS_BREACHED_PASSWORDS_FAIL", "must be open or closed"));
        }
        if !(100..=10_000).contains(&self.breached_passwords_timeout_ms) {
            return Err(ConfigError::new(
                "PORTCULLIS_BREACHED_PASSWORDS_TIMEOUT_MS",
                "must be 100 to 10000 ms",
            ));
        }
        if !matches!(self.breached_passwords.as_str(), "off" | "hibp") {
            return Err(ConfigError::new("PORTCULLIS_BREACHED_PASSWORDS", "must be off or hibp"));
        }
        if self.password_min_strength > 4 {
            return Err(ConfigError::new(
                "PORTCULLIS_PASSWORD_MIN_STRENGTH",
                "must be a zxcvbn score from 0 to 4",
            ));
        }
        let db = self.database_url.as_str();
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(ConfigError::new(
                "PORTCULLIS_DATABASE_URL",
                "must start with sqlite: or postgres:// (or postgresql://)",
            ));
        }
        if !(1..=86_400).contains(&self.access_ttl) {
            return Err(ConfigError::new("PORTCULLIS_ACCESS_TTL", "must be 1 to 86400 seconds (a day)"));
        }
        if self.refresh_ttl <= self.access_ttl || self.refresh_ttl > MAX_LIFETIME {
            return Err(ConfigError::new(
                "PORTCULLIS_REFRESH_TTL",
                format!(
                    "must be longer than PORTCULLIS_ACCESS_TTL and at most {MAX_LIFETIME} seconds (10 years)"
                ),
            ));
        }
        let reserved = ["authorization", "cookie", "host", "content-type", "content-length"];
        if http::HeaderName::from_bytes(self.api_key_header.as_bytes()).is_err()
            || reserved.contains(&self.api_key_header.to_ascii_lowercase().as_str())
        {
            return Err(ConfigError::new(
                "PORTCULLIS_API_KEY_HEADER",
                "must be a valid header name other than Authorization, Cookie, Host or Content-*",
            ));
        }
        if !(30..=3600).contains(&self.mfa_token_ttl) {
            return Err(ConfigError::new("PORTCULLIS_MFA_TOKEN_TTL", "must be 30 to 3600 seconds"));
        }
        if !(1..=10).contains(&self.mfa_max_attempts) {
            return Err(ConfigError::new("PORTCULLIS_MFA_MAX_ATTEMPTS", "must be 1 to 10"));
        }
        let lifetimes = [
            ("PORTCULLIS_SESSION_TTL", Some(self.session_ttl)),
            ("PORTCULLIS_SESSION_IDLE_TTL", Some(self.session_idle_ttl)),
            ("PORTCULLIS_TOKEN_TTL", Some(self.token_ttl)),
            ("PORTCULLIS_TOKEN_IDLE_TTL", self.token_idle_ttl),
            ("PORTCULLIS_GRANT_IDLE_TTL", self.grant_idle_ttl),
            ("PORTCULLIS_GRANT_MAX_AGE", Some(self.grant_max_age)),
        ];
        for (setting, seconds) in lifetimes {
            if seconds.is_some_and(|s| !(1..=MAX_LIFETIME).contains(&s)) {
                return Err(ConfigError::new(
                    setting,
                    format!("must be 1 to {MAX_LIFETIME} seconds (10 years)"),
                ));
            }
        }
        if portcullis::token::TokenFormat::new(self.token_prefix.clone()).is_err() {
            return Err(ConfigError::new(
                "PORTCULLIS_TOKEN_PREFIX",
                "must be 2-16 lowercase letters or digits",
            ));
        }
        if self.grant_max_age < self.access_ttl {
            return Err(ConfigError::new(
                "PORTCULLIS_GRANT_MAX_AGE",
                "must be at least PORTCULLIS_ACCESS_TTL",
            ));
        }
        if !(0..=60).contains(&self.reuse_grace) {
            return Err(ConfigError::new("PORTCULLIS_REUSE_GRACE", "must be between 0 and 60 seconds"));
        }
        if !(100..=120_000).contains(&self.database_acquire_timeout_ms) {
            return Err(ConfigError::new(
                "PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS",
                "must be between 100 and 120000 ms",
            ));
        }
        if self.database_max_connections > 1000 {
            return Err(ConfigError::new("PORTCULLIS_DATABASE_MAX_CONNECTIONS", "must be at most 1000"));
        }
        if self.revocation_stale_after_ms < 2 * self.revocation_poll_ms
            || self.revocation_stale_after_ms > 600_000
        {
            return Err(ConfigError::new(
                "PORTCULLIS_REVOCATION_STALE_AFTER_MS",
                "must be at least twice PORTCULLIS_REVOCATION_POLL_MS and at most 600000 ms",
            ));
        }
        if !["HS256", "HS384", "HS512"].contains(&self.django_jwt_algorithm.as_str()) {
            return Err(ConfigError::new(
                "PORTCULLIS_DJANGO_JWT_ALGORITHM",
                "must be HS256, HS384 or HS512 (simplejwt's HMAC algorithms)",
            ));
        }
        if let Some(key) = &self.django_signing_key
            && key.expose().len() < 16
        {
            return Err(ConfigError::new(
                "PORTCULLIS_DJANGO_SIGNING_KEY",
                "is shorter than 16 characters: that is not a Django SECRET_KEY",
            ));
        }
        if self.shutdown_grace_secs > 3600 {
            return Err(ConfigError::new("PORTCULLIS_SHUTDOWN_GRACE_SECS", "must be at most 3600 seconds"));
        }
        if let Some(metrics) = self.metrics_bind
            && metrics == self.bind
        {
            return Err(ConfigError::new(
                "PORTCULLIS_METRICS_BIND",
                "must differ from PORTCULLIS_BIND: the metrics are served apart from the API",
            ));
        }
        if !(50..=2000).contains(&self.revocation_poll_ms) {
            return Err(ConfigError::new(
                "PORTCULLIS_REVOCATION_POLL_MS",
                "must be between 50 and 2000 ms (revocations must reach every process within 2 s)",
            ));
        }
        if self.credential_cache_capacity > 1_000_000 {
            return Err(ConfigError::new(
                "PORTCULLIS_CREDENTIAL_CACHE_CAPACITY",
                "must be at most 1000000 (0 turns the caches off)",
            ));
        }
        if !(1..=86_400).contains(&self.flush_interval) {
            return Err(ConfigError::new("PORTCULLIS_FLUSH_INTERVAL", "must be 1 to 86400 seconds"));
        }
        if !(0..=60).contains(&self.jwt_leeway) {
            return Err(ConfigError::new("PORTCULLIS_JWT_LEEWAY", "must be between 0 and 60 seconds"));
        }
        let hmac = self.jwt_algorithm.is_hmac();
        if self.jwt_private_key.is_some() && self.jwt_private_key_file.is_some() {
            return Err(ConfigError::new(
                "PORTCULLIS_JWT_PRIVATE_KEY",
                "set either PORTCULLIS_JWT_PRIVATE_KEY or PORTCULLIS_JWT_PRIVATE_KEY_FILE, not both",
            ));
        }
        if hmac && self.jwt_private_key.is_some() {
            return Err(ConfigError::new(
                "PORTCULLIS_JWT_PRIVATE_KEY",
                format!("{} uses PORTCULLIS_JWT_SECRET, not a private key", self.jwt_algorithm),
            ));
        }
        if hmac && (self.jwt_private_key_file.is_some() || self.jwt_public_key_file.is_some()) {
            return Err(ConfigError::new(
                "PORTCULLIS_JWT_PRIVATE_KEY_FILE",
                format!("{} uses PORTCULLIS_JWT_SECRET, not key files", self.jwt_algorithm),
            ));
        }
        if !hmac && self.jwt_secret.is_some() {
            return Err(ConfigError::new(
                "PORTCULLIS_JWT_SECRET",
                format!(
                    "{} is asymmetric: configure PORTCULLIS_JWT_PRIVATE_KEY_FILE instead",
                    self.jwt_algorithm
                ),
            ));
        }
        if self.jwt_public_key_file.is_some()
            && self.jwt_private_key_file.is_none()
            && self.jwt_private_key.is_none()
        {
            return Err(ConfigError::new(
                "PORTCULLIS_JWT_PUBLIC_KEY_FILE",
                "the server signs tokens: PORTCULLIS_JWT_PRIVATE_KEY_FILE is required with a public key",
            ));
        }
        self.validate_accounts()?;
        for origin in &self.allowed_origins {
            let valid = origin != "*"
                && (origin.starts_with("https://") || origin.starts_with("http://"))
                && origin.split_once("://").is_some_and(|(_, rest)| {
                    let rest = rest.trim_end_matches('/');
                    !rest.is_empty() && !rest.contains('/') && !rest.contains('*')
                });
            if !valid {
                return Err(ConfigError::new(
                    "PORTCULLIS_ALLOWED_ORIGINS",
                    format!(
                        "`{origin}` is not an origin like https://app.example.com (no wildcards, no paths)"
                    ),
                ));
            }
            // A plain-http origin is any network attacker's page: only a local development one.
            if let Some(host) = origin.strip_prefix("http://")
                && !portcullis::core::http_support::is_loopback_host(host.trim_end_matches('/'))
            {
                return Err(ConfigError::new(
                    "PORTCULLIS_ALLOWED_ORIGINS",
                    format!(
                        "`{origin}` is plain http: only loopback origins (localhost, 127.0.0.1, [::1]) may be"
                    ),
                ));
            }
        }
        if self.argon2_memory_kib < 19_456 || self.argon2_iterations < 2 {
            tracing::warn!(
                memory_kib = self.argon2_memory_kib,
                iterations = self.argon2_iterations,
                "argon2 parameters are below OWASP's recommendation (m=19456 KiB, t=2, p=1)"
            );
        }
        if self.body_limit < 1024 {
            return Err(ConfigError::new("PORTCULLIS_BODY_LIMIT", "must be at least 1024 bytes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load(None, |k| map.get(k).cloned())
    }

    #[test]
    fn social_providers_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("gh");
        std::fs::write(&secret, "gh-secret\n").unwrap();
        let secret = secret.display().to_string();
        let base = [
            ("PORTCULLIS_SOCIAL_PROVIDERS", "google, github"),
            ("PORTCULLIS_SOCIAL_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_ID", "g-id"),
            ("PORTCULLIS_SOCIAL_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("PORTCULLIS_SOCIAL_GOOGLE_TRUST_EMAIL", "true"),
            ("PORTCULLIS_SOCIAL_GOOGLE_NATIVE_CLIENT_IDS", "ios,android"),
            ("PORTCULLIS_SOCIAL_GITHUB_KIND", "github"),
            ("PORTCULLIS_SOCIAL_GITHUB_CLIENT_ID", "gh-id"),
            ("PORTCULLIS_SOCIAL_GITHUB_CLIENT_SECRET_FILE", secret.as_str()),
            ("PORTCULLIS_PUBLIC_URL", "https://auth.example.com"),
        ];
        let s = load(&base).unwrap();
        assert_eq!(s.social.len(), 2);
        let (google, github) = (&s.social[0], &s.social[1]);
        assert_eq!((google.name.as_str(), google.client_id.as_str()), ("google", "g-id"));
        assert!(google.trust_email && !github.trust_email);
        assert_eq!(google.native_client_ids, ["ios", "android"]);
        assert_eq!(github.client_secret.as_ref().unwrap().expose(), "gh-secret");

        let without = |name: &str| base.iter().copied().filter(|(k, _)| *k != name).collect::<Vec<_>>();
        assert_eq!(load(&without("PORTCULLIS_PUBLIC_URL")).unwrap_err().setting, "PORTCULLIS_PUBLIC_URL");
        let err = load(&without("PORTCULLIS_SOCIAL_GOOGLE_ISSUER")).unwrap_err();
        assert_eq!(err.setting, "PORTCULLIS_SOCIAL_GOOGLE_ISSUER");
        let mut bad = base.to_vec();
        bad.push(("PORTCULLIS_SOCIAL_GOOGLE_TRUST_EMAIL", "maybe"));
        bad.retain(|(k, v)| *k != "PORTCULLIS_SOCIAL_GOOGLE_TRUST_EMAIL" || *v == "maybe");
        assert!(load(&bad).is_err());
        let mut bad = base.to_vec();
        bad.push(("PORTCULLIS_SOCIAL_STATE_KEY", "short"));
        assert_eq!(load(&bad).unwrap_err().setting, "PORTCULLIS_SOCIAL_STATE_KEY");
    }

    #[test]
    fn social_providers_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("gh");
        std::fs::write(&secret, " gh-secret\n").unwrap();
        let file = dir.path().join("c.toml");
        let text = format!(
            r#"
public_url = "https://auth.example.com"
social_state_key = "{state}"
social_token_key = "{token}"

[[social]]
name = "google"
issuer = "https://accounts.google.com"
client_id = "g-id"
client_secret = "g-secret"
trust_email = true
native_client_ids = ["ios", "android"]

[[social]]
name = "github"
kind = "github"
client_id = "gh-id"
client_secret_file = "{secret}"
scopes = ["read:user", "user:email"]
"#,
            state = "ab".repeat(32),
            token = "cd".repeat(32),
            secret = secret.display()
        );
        std::fs::write(&file, &text).unwrap();
        let s = Settings::load(Some(&file), |_| None).unwrap();
        assert_eq!(s.social.len(), 2);
        let (google, github) = (&s.social[0], &s.social[1]);
        assert_eq!(
            (google.kind.as_str(), google.issuer.as_deref()),
            ("oidc", Some("https://accounts.google.com"))
        );
        assert!(google.trust_email && !github.trust_email);
        assert_eq!(google.native_client_ids, ["ios", "android"]);
        assert_eq!(google.client_secret.as_ref().unwrap().expose(), "g-secret");
        assert_eq!(
            (github.kind.as_str(), github.client_secret.as_ref().unwrap().expose()),
            ("github", "gh-secret")
        );
        assert_eq!(github.scopes, ["read:user", "user:email"]);
        assert_eq!(s.social_state_key_bytes(), Some([0xab; 32]));
        assert_eq!(s.social_token_key_bytes(), Some([0xcd; 32]));

        // The environment's list replaces the file's.
        let env = |k: &str| match k {
            "PORTCULLIS_SOCIAL_PROVIDERS" => Some("gitlab".to_owned()),
            "PORTCULLIS_SOCIAL_GITLAB_ISSUER" => Some("https://gitlab.com".to_owned()),
            "PORTCULLIS_SOCIAL_GITLAB_CLIENT_ID" => Some("gl".to_owned()),
            _ => None,
        };
        let s = Settings::load(Some(&file), env).unwrap();
        assert_eq!(s.social.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["gitlab"]);

        // Refused: a secret and its file; an unknown key; a short token key; a token key
        // without providers.
        let both = text
            .replace("client_secret = \"g-secret\"", "client_secret = \"x\"\nclient_secret_file = \"/x\"");
        std::fs::write(&file, both).unwrap();
        assert_eq!(
            Settings::load(Some(&file), |_| None).unwrap_err().setting,
            "social.google.client_secret_file"
        );
        std::fs::write(&file, text.replace("trust_email = true", "trust_mail = true")).unwrap();
        assert_eq!(Settings::load(Some(&file), |_| None).unwrap_err().setting, "--config");
        std::fs::write(&file, text.replace(&"cd".repeat(32), "cdcd")).unwrap();
        assert_eq!(Settings::load(Some(&file), |_| None).unwrap_err().setting, "PORTCULLIS_SOCIAL_TOKEN_KEY");
        let err = load(&[("PORTCULLIS_SOCIAL_TOKEN_KEY", &"cd".repeat(32))]).unwrap_err();
        assert_eq!(err.setting, "PORTCULLIS_SOCIAL_TOKEN_KEY");
    }

    #[test]
    fn defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
        assert!(s.database_url.starts_with("sqlite:"));
        assert!(!s.insecure_cookies);
        assert!(!s.docs_ui, "the Swagger UI is off unless asked for");
        assert!(load(&[("PORTCULLIS_DOCS_UI", "true")]).unwrap().docs_ui);
        assert_eq!(load(&[("PORTCULLIS_DOCS_UI", "maybe")]).unwrap_err().setting, "PORTCULLIS_DOCS_UI");
    }

    #[test]
    fn env_overrides_file() {
        let dir = std::env::temp_dir().join(format!("pc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\naccess_ttl = 60\n").unwrap();
        let s =
            Settings::load(Some(&file), |k| (k == "PORTCULLIS_BIND").then(|| "0.0.0.0:9100".into())).unwrap();
        assert_eq!(s.bind.to_string(), "0.0.0.0:9100");
        assert_eq!(s.access_ttl, 60);
        std::fs::write(&file, "bogus = 1\n").unwrap();
        assert_eq!(Settings::load(Some(&file), |_| None).unwrap_err().setting, "--config");
    }

    #[test]
    fn lifetimes_have_upper_bounds() {
        let setting = |r: Result<Settings, ConfigError>| r.unwrap_err().setting;
        let huge = "9223372036854775807";
        for name in [
            "PORTCULLIS_ACCESS_TTL",
            "PORTCULLIS_REFRESH_TTL",
            "PORTCULLIS_SESSION_TTL",
            "PORTCULLIS_SESSION_IDLE_TTL",
            "PORTCULLIS_TOKEN_TTL",
            "PORTCULLIS_TOKEN_IDLE_TTL",
            "PORTCULLIS_GRANT_IDLE_TTL",
            "PORTCULLIS_GRANT_MAX_AGE",
            "PORTCULLIS_FLUSH_INTERVAL",
            "PORTCULLIS_AUDIT_RETENTION_DAYS",
        ] {
            assert_eq!(setting(load(&[(name, huge)])), name, "{name} = i64::MAX");
        }
        let ten_years = MAX_LIFETIME.to_string();
        let long = load(&[("PORTCULLIS_TOKEN_TTL", &ten_years), ("PORTCULLIS_GRANT_MAX_AGE", &ten_years)]);
        assert!(long.is_ok(), "{long:?}");
        let past = (MAX_LIFETIME + 1).to_string();
        assert_eq!(setting(load(&[("PORTCULLIS_TOKEN_TTL", &past)])), "PORTCULLIS_TOKEN_TTL");
    }

    #[test]
    fn plain_http_origins_only_for_loopback() {
        for origin in ["http://app.example.com", "http://127.evil.example", "http://10.0.0.1"] {
            let refused = load(&[("PORTCULLIS_ALLOWED_ORIGINS", origin)]);
            assert_eq!(refused.unwrap_err().setting, "PORTCULLIS_ALLOWED_ORIGINS", "{origin}");
        }
        for origin in
            ["http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080", "https://app.example.com"]
        {
            assert!(load(&[("PORTCULLIS_ALLOWED_ORIGINS", origin)]).is_ok(), "{origin}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(load(&[("PORTCULLIS_BIND", "nope")]).unwrap_err().setting, "PORTCULLIS_BIND");
        assert_eq!(load(&[("PORTCULLIS_ACCESS_TTL", "-1")]).unwrap_err().setting, "PORTCULLIS_ACCESS_TTL");
        assert_eq!(
            load(&[("PORTCULLIS_JWT_ALGORITHM", "none")]).unwrap_err().setting,
            "PORTCULLIS_JWT_ALGORITHM"
        );
        assert_eq!(
            load(&[("PORTCULLIS_JWT_SECRET", "x".repeat(40).as_str())]).unwrap_err().setting,
            "PORTCULLIS_JWT_SECRET"
        );
        assert_eq!(
            load(&[("PORTCULLIS_ALLOWED_ORIGINS", "*")]).unwrap_err().setting,
            "PORTCULLIS_ALLOWED_ORIGINS"
        );
        assert_eq!(
            load(&[("PORTCULLIS_INSECURE_COOKIES", "maybe")]).unwrap_err().setting,
            "PORTCULLIS_INSECURE_COOKIES"
        );
        assert_eq!(
            load(&[("PORTCULLIS_DATABASE_URL", "mysql://x")]).unwrap_err().setting,
            "PORTCULLIS_DATABASE_URL"
        );
        assert_eq!(
            load(&[("PORTCULLIS_REVOCATION_POLL_MS", "5000")]).unwrap_err().setting,
            "PORTCULLIS_REVOCATION_POLL_MS"
        );
        assert_eq!(
            load(&[("PORTCULLIS_CREDENTIAL_CACHE_CAPACITY", "2000000")]).unwrap_err().setting,
            "PORTCULLIS_CREDENTIAL_CACHE_CAPACITY"
        );
        assert_eq!(
            load(&[("PORTCULLIS_CREDENTIAL_CACHE_CAPACITY", "0")]).unwrap().credential_cache_capacity,
            0
        );
        assert_eq!(load(&[]).unwrap().credential_cache_capacity, 10_000);
        assert_eq!(
            load(&[("PORTCULLIS_SQLITE_SYNCHRONOUS", "off")]).unwrap_err().setting,
            "PORTCULLIS_SQLITE_SYNCHRONOUS"
        );
        assert_eq!(
            load(&[("PORTCULLIS_SQLITE_SYNCHRONOUS", "FULL")]).unwrap().sqlite_synchronous,
            portcullis::sea_orm::SqliteSynchronous::Full
        );
        assert_eq!(load(&[]).unwrap().sqlite_synchronous, portcullis::sea_orm::SqliteSynchronous::Normal);
        for (setting, bad) in [
            ("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS", "0"),
            ("PORTCULLIS_DATABASE_MAX_CONNECTIONS", "100000"),
            ("PORTCULLIS_DATABASE_STATEMENT_TIMEOUT_MS", "soon"),
        ] {
            assert_eq!(load(&[(setting, bad)]).unwrap_err().setting, setting);
        }
        let pool = load(&[
            ("PORTCULLIS_DATABASE_MAX_CONNECTIONS", "3"),
            ("PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT_MS", "250"),
            ("PORTCULLIS_DATABASE_STATEMENT_TIMEOUT_MS", "0"),
        ])
        .unwrap();
        assert_eq!(
            (
                pool.database_max_connections,
                pool.database_acquire_timeout_ms,
                pool.database_statement_timeout_ms
            ),
            (3, 250, 0)
        );
        assert_eq!(
            load(&[("PORTCULLIS_GRANT_MAX_AGE", "10")]).unwrap_err().setting,
            "PORTCULLIS_GRANT_MAX_AGE"
        );
        assert_eq!(
            load(&[("PORTCULLIS_GRANT_IDLE_TTL", "0")]).unwrap_err().setting,
            "PORTCULLIS_GRANT_IDLE_TTL"
        );
        assert_eq!(
            load(&[("PORTCULLIS_TOKEN_PREFIX", "Bad_")]).unwrap_err().setting,
            "PORTCULLIS_TOKEN_PREFIX"
        );
        assert_eq!(load(&[("PORTCULLIS_TOKEN_TTL", "0")]).unwrap_err().setting, "PORTCULLIS_TOKEN_TTL");
        assert_eq!(load(&[("PORTCULLIS_ADAPTER", "rocket")]).unwrap_err().setting, "PORTCULLIS_ADAPTER");
        assert_eq!(load(&[("PORTCULLIS_ADAPTER", "Poem")]).unwrap().adapter, Adapter::Poem);
        assert_eq!(load(&[("PORTCULLIS_LOG_FORMAT", "xml")]).unwrap_err().setting, "PORTCULLIS_LOG_FORMAT");
        assert_eq!(
            load(&[("PORTCULLIS_JWT_PRIVATE_KEY", "pem"), ("PORTCULLIS_JWT_PRIVATE_KEY_FILE", "k.pem")])
                .unwrap_err()
                .setting,
            "PORTCULLIS_JWT_PRIVATE_KEY"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let s = load(&[("PORTCULLIS_JWT_ALGORITHM", "HS256"), ("PORTCULLIS_JWT_SECRET", "supersecretvalue")])
            .unwrap();
        assert!(!format!("{s:?}").contains("supersecretvalue"));
    }

    const MAIL: [(&str, &str); 3] = [
        ("PORTCULLIS_EMAIL_BACKEND", "smtp://mailer:hunter2@mail.example.com:587"),
        ("PORTCULLIS_EMAIL_FROM", "Portcullis <no-reply@example.com>"),
        ("PORTCULLIS_FRONTEND_URL", "https://app.example.com"),
    ];

    fn with_mail(extra: &[(&'static str, &'static str)]) -> Result<Settings, ConfigError> {
        let mut vars = MAIL.to_vec();
        vars.extend_from_slice(extra);
        load(&vars)
    }

    #[test]
    fn account_settings_load_and_default() {
        let s = load(&[]).unwrap();
        assert!(s.email_backend.is_none(), "no account emails unless configured");
        assert_eq!((s.signin_limit_per_account, s.signin_limit_per_ip, s.signin_window), (50, 20, 900));
        assert_eq!((s.signin_limit_per_account_ip, s.signin_consecutive_window), (10, 2_592_000));
        assert_eq!((s.register_limit_per_ip, s.register_limit_global), (20, 1000));
        assert_eq!(s.email_verification_mode().unwrap(), portcullis::flows::EmailVerification::Optional);
        assert_eq!(s.rate_limit_store.expose(), "memory");
        assert!(s.trusted_proxies().unwrap().is_empty());
        let s = with_mail(&[
            ("PORTCULLIS_EMAIL_VERIFICATION", "Mandatory"),
            ("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT", "40"),
            ("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP", "8"),
            ("PORTCULLIS_SIGNIN_LIMIT_PER_IP", "30"),
            ("PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW", "86400"),
            ("PORTCULLIS_REGISTER_LIMIT_PER_IP", "5"),
            ("PORTCULLIS_REGISTER_LIMIT_GLOBAL", "50"),
            ("PORTCULLIS_SIGNIN_WINDOW", "600"),
            ("PORTCULLIS_RATE_LIMIT_STORE", "redis://127.0.0.1:6379"),
            ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("PORTCULLIS_PASSWORD_MIN_LENGTH", "15"),
        ])
        .unwrap();
        assert_eq!(s.email_verification_mode().unwrap(), portcullis::flows::EmailVerification::Mandatory);
        assert_eq!((s.signin_limit_per_account, s.signin_limit_per_ip, s.signin_window), (40, 30, 600));
        assert_eq!((s.signin_limit_per_account_ip, s.signin_consecutive_window), (8, 86_400));
        assert_eq!((s.register_limit_per_ip, s.register_limit_global), (5, 50));
        assert!(s.trusted_proxies().unwrap().contains("10.1.2.3".parse().unwrap()));
        assert_eq!(s.password_min_length, 15);
        assert!(!format!("{s:?}").contains("hunter2"), "the SMTP password is redacted");
    }

    #[test]
    fn unsafe_or_inconsistent_account_settings_are_refused() {
        let setting = |r: Result<Settings, ConfigError>| r.unwrap_err().setting;
        assert_eq!(
            setting(load(&[("PORTCULLIS_EMAIL_VERIFICATION", "mandatory")])),
            "PORTCULLIS_EMAIL_VERIFICATION",
            "mandatory verification without a way to send the links"
        );
        assert_eq!(
            setting(load(&[("PORTCULLIS_EMAIL_VERIFICATION", "sometimes")])),
            "PORTCULLIS_EMAIL_VERIFICATION"
        );
        assert_eq!(setting(load(&MAIL[..2])), "PORTCULLIS_FRONTEND_URL", "links need a frontend");
        assert_eq!(setting(load(&[MAIL[0], MAIL[2]])), "PORTCULLIS_EMAIL_FROM");
        for frontend in [
            "http://app.example.com",
            "app.example.com",
            "https://app.example.com/?x=1",
            "http://127.evil.example",
            "http://localhost.evil.example",
        ] {
            assert_eq!(
                setting(with_mail(&[("PORTCULLIS_FRONTEND_URL", frontend)])),
                "PORTCULLIS_FRONTEND_URL",
                "{frontend}"
            );
        }
        for backend in ["smtp://mail.example.com?tls=none", "ftp://x", "file:"] {
            assert_eq!(
                setting(with_mail(&[("PORTCULLIS_EMAIL_BACKEND", backend)])),
                "PORTCULLIS_EMAIL_BACKEND"
            );
        }
        assert_eq!(
            setting(load(&[("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT", "51")])),
            "PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT",
            "NIST: at most 100 per account, two logins"
        );
        assert_eq!(
            setting(load(&[("PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP", "50")])),
            "PORTCULLIS_SIGNIN_LIMIT_PER_ACCOUNT_IP",
            "one network must not be able to lock an account"
        );
        assert_eq!(
            setting(load(&[("PORTCULLIS_SIGNIN_LIMIT_PER_IP", "0")])),
            "PORTCULLIS_SIGNIN_LIMIT_PER_IP"
        );
        for window in ["60", "31536001"] {
            let refused = load(&[("PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW", window)]);
            assert_eq!(setting(refused), "PORTCULLIS_SIGNIN_CONSECUTIVE_WINDOW", "{window}");
        }
        let refused =
            load(&[("PORTCULLIS_REGISTER_LIMIT_PER_IP", "20"), ("PORTCULLIS_REGISTER_LIMIT_GLOBAL", "10")]);
        assert_eq!(setting(refused), "PORTCULLIS_REGISTER_LIMIT_PER_IP");
        assert_eq!(
            setting(load(&[("PORTCULLIS_DEVICE_KEY", "c2hvcnQ=")])),
            "PORTCULLIS_DEVICE_KEY",
            "32 bytes"
        );
        assert_eq!(setting(load(&[("PORTCULLIS_SIGNIN_WINDOW", "10")])), "PORTCULLIS_SIGNIN_WINDOW");
        assert_eq!(
            setting(load(&[("PORTCULLIS_RATE_LIMIT_STORE", "memcached")])),
            "PORTCULLIS_RATE_LIMIT_STORE"
        );
        for everyone in ["10.0.0.0/99", "0.0.0.0/0", "::/0", "0.0.0.0", "128.0.0.0/1", "2000::/3"] {
            let refused = load(&[("PORTCULLIS_TRUSTED_PROXIES", everyone)]);
            assert_eq!(setting(refused), "PORTCULLIS_TRUSTED_PROXIES", "{everyone}");
        }
        let private = load(&[("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8, fc00::/7, 127.0.0.1")]);
        assert!(private.is_ok(), "{private:?}");
        assert_eq!(
            setting(load(&[("PORTCULLIS_PASSWORD_MIN_LENGTH", "6")])),
            "PORTCULLIS_PASSWORD_MIN_LENGTH"
        );
        assert_eq!(
            setting(load(&[("PORTCULLIS_PASSWORD_RESET_TTL", "60")])),
            "PORTCULLIS_PASSWORD_RESET_TTL"
        );
        assert_eq!(
            setting(load(&[("PORTCULLIS_AUDIT_RETENTION_DAYS", "-1")])),
            "PORTCULLIS_AUDIT_RETENTION_DAYS"
        );
    }

    #[test]
    fn trusted_proxies_from_the_file_as_a_list() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "trusted_proxies = [\"10.0.0.1\", \"192.168.0.0/16\"]\nsignin_window = 120\n")
            .unwrap();
        let s = Settings::load(Some(&file), |_| None).unwrap();
        assert!(s.trusted_proxies().unwrap().contains("192.168.3.4".parse().unwrap()));
        assert_eq!(s.signin_window, 120);
    }
}
