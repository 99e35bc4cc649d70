//! Assembling the server: database, keys, flows and routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::{CountingAuditStore, ServerMetrics};

use portcullis::axum::{AuthContext, RouterConfig};
use portcullis::core::audit::AuditLog;
use portcullis::core::{
    AccountPolicy, Accounts, FirstPresented, PasswordHasher, PasswordHasherConfig, SharedAuthenticator,
    SharedClock, User,
};
use portcullis::flows::{
    AbuseLimits, AccountEmailConfig, ApiKeyConfig, AuthEndpoints, AuthService, ClaimMap, FlowConfig,
    MfaPolicy, OpaqueTokenConfig, SessionConfig, WebFlowConfig,
};
use portcullis::jwt::{FileKeyStore, JwtConfig, JwtKey, JwtService, KeyError, KeySet, load_or_generate};
use portcullis::mail::EmailBackend;
use portcullis::mfa::{MfaConfig, MfaKey, MfaService};
use portcullis::ratelimit::RateLimiter;
use portcullis::sea_orm::{
    SeaOrmAccountTokenStore, SeaOrmApiKeyStore, SeaOrmAuditStore, SeaOrmGrantStore, SeaOrmLimitStore,
    SeaOrmMfaStore, SeaOrmOpaqueTokenStore, SeaOrmRoleStore, SeaOrmSessionStore, SeaOrmUserStore, migrate,
};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Adapter, ConfigError, Settings};

/// The flows as the server runs them.
pub type ServerAuth = AuthService<SeaOrmUserStore>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(String),
    /// Binding or serving failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// A built server, not yet listening.
#[derive(Debug)]
pub struct App {
    /// The HTTP routes.
    pub router: axum::Router,
    /// The flows (also used by the admin CLI).
    pub auth: Arc<ServerAuth>,
    /// The database connection.
    pub db: DatabaseConnection,
    /// The metrics, when `PORTCULLIS_METRICS_BIND` is set.
    pub metrics: Option<Arc<ServerMetrics>>,
}

/// Connects to the configured database and applies migrations.
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartError> {
    let mut config = portcullis::sea_orm::ConnectConfig::default()
        .sqlite_synchronous(settings.sqlite_synchronous)
        .acquire_timeout(Duration::from_millis(settings.database_acquire_timeout_ms))
        .statement_timeout(Duration::from_millis(settings.database_statement_timeout_ms));
    if settings.database_max_connections > 0 {
        config = config.max_connections(settings.database_max_connections);
    }
    let db = portcullis::sea_orm::connect_with(&settings.database_url, &config)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    migrate(&db).await.map_err(|e| StartError::Database(e.to_string()))?;
    Ok(db)
}

fn key_error(setting: &str, error: KeyError) -> StartError {
    StartError::Config(ConfigError::new(setting, error.to_string()))
}

/// Loads the signing key the settings name, or generates a development key into the keys directory.
pub async fn load_keys(settings: &Settings) -> Result<KeySet, StartError> {
    let alg = settings.jwt_algorithm;
    let key = if let Some(secret) = &settings.jwt_secret {
        JwtKey::hmac(alg, secret.expose().as_bytes()).map_err(|e| key_error("PORTCULLIS_JWT_SECRET", e))?
    } else if settings.jwt_private_key.is_some() || settings.jwt_private_key_file.is_some() {
        let (pem, setting) = match (&settings.jwt_private_key, &settings.jwt_private_key_file) {
            (Some(pem), _) => (pem.expose().as_bytes().to_vec(), "PORTCULLIS_JWT_PRIVATE_KEY"),
            (None, Some(path)) => {
                let pem = tokio::fs::read(path).await.map_err(|e| {
                    StartError::Config(ConfigError::new(
                        "PORTCULLIS_JWT_PRIVATE_KEY_FILE",
                        format!("{}: {e}", path.display()),
                    ))
                })?;
                (pem, "PORTCULLIS_JWT_PRIVATE_KEY_FILE")
            }
            (None, None) => {
                return Err(key_error("PORTCULLIS_JWT_PRIVATE_KEY_FILE", KeyError::NotASigningKey));
            }
        };
        let key = JwtKey::from_private_pem(alg, &pem).map_err(|e| key_error(setting, e))?;
        if let Some(public_path) = &settings.jwt_public_key_file {
            let public_pem = tokio::fs::read(public_path).await.map_err(|e| {
                StartError::Config(ConfigError::new(
                    "PORTCULLIS_JWT_PUBLIC_KEY_FILE",
                    format!("{}: {e}", public_path.display()),
                ))
            })?;
            let public = JwtKey::from_public_pem(alg, &public_pem)
                .map_err(|e| key_error("PORTCULLIS_JWT_PUBLIC_KEY_FILE", e))?;
            if public.kid() != key.kid() {
                return Err(StartError::Config(ConfigError::new(
                    "PORTCULLIS_JWT_PUBLIC_KEY_FILE",
                    "does not match the configured private key",
                )));
            }
        }
        key
    } else {
        let store = FileKeyStore::new(&settings.keys_dir);
        let name = format!("jwt-signing-{}", alg.as_str().to_ascii_lowercase());
        let (key, generated) =
            load_or_generate(&store, &name, alg).await.map_err(|e| key_error("PORTCULLIS_KEYS_DIR", e))?;
        if generated {
            tracing::warn!(
                keys_dir = %settings.keys_dir.display(),
                algorithm = %alg,
                kid = key.kid(),
                "no signing key configured: generated a development key; configure \
                 PORTCULLIS_JWT_PRIVATE_KEY_FILE or PORTCULLIS_JWT_SECRET for production"
            );
        } else {
            tracing::info!(keys_dir = %settings.keys_dir.display(), kid = key.kid(), "loaded signing key");
        }
        key
    };
    let mut keys = KeySet::new(key).map_err(|e| key_error("PORTCULLIS_JWT_PRIVATE_KEY_FILE", e))?;
    // A rotation: the earlier keys verify (and are published) alongside the new signing key.
    const PREVIOUS: &str = "PORTCULLIS_JWT_PREVIOUS_PUBLIC_KEY_FILES";
    for entry in &settings.jwt_previous_public_key_files {
        let (key_alg, path) = match entry.split_once(':') {
            Some((name, path)) if name.parse::<portcullis::jwt::JwtAlgorithm>().is_ok() => {
                (name.parse::<portcullis::jwt::JwtAlgorithm>().map_err(|e| key_error(PREVIOUS, e))?, path)
            }
            _ => (alg, entry.as_str()),
        };
        let pem = tokio::fs::read(path)
            .await
            .map_err(|e| StartError::Config(ConfigError::new(PREVIOUS, format!("{path}: {e}"))))?;
        let previous = JwtKey::from_public_pem(key_alg, &pem).map_err(|e| key_error(PREVIOUS, e))?;
        tracing::info!(kid = previous.kid(), algorithm = %key_alg, "previous key: verification only");
        keys = keys.with_verification_key(previous);
    }
    if let Some(secret) = &settings.jwt_previous_secret {
        let previous = JwtKey::hmac(alg, secret.expose().as_bytes())
            .map_err(|e| key_error("PORTCULLIS_JWT_PREVIOUS_SECRET", e))?;
        keys = keys.with_verification_key(previous);
    }
    Ok(keys)
}

/// The password hasher the settings describe.
pub fn password_hasher(settings: &Settings) -> Result<PasswordHasher, StartError> {
    let config = PasswordHasherConfig::default()
        .memory_kib(settings.argon2_memory_kib)
        .iterations(settings.argon2_iterations)
        .parallelism(settings.argon2_parallelism);
    PasswordHasher::new(config)
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_ARGON2_MEMORY_KIB", e.to_string())))
}

/// A breached-password source and what to do when it cannot answer.
type BreachCheck = (Arc<dyn portcullis::core::BreachedPasswords>, portcullis::core::BreachPolicy);

/// The breached-password source the settings name, if any.
fn breached_passwords(settings: &Settings) -> Result<Option<BreachCheck>, StartError> {
    if settings.breached_passwords != "hibp" {
        return Ok(None);
    }
    let timeout = std::time::Duration::from_millis(settings.breached_passwords_timeout_ms);
    let source =
        portcullis::breach::HibpRange::new(&settings.breached_passwords_url, timeout).map_err(|e| {
            StartError::Config(ConfigError::new("PORTCULLIS_BREACHED_PASSWORDS_URL", e.to_string()))
        })?;
    let policy = if settings.breached_passwords_fail == "closed" {
        portcullis::core::BreachPolicy::FailClosed
    } else {
        portcullis::core::BreachPolicy::FailOpen
    };
    Ok(Some((Arc::new(source), policy)))
}

/// The claims the server maps from users into access tokens.
pub fn default_claims() -> ClaimMap<User> {
    ClaimMap::new()
        .attribute("username", "username")
        .attribute("is_staff", "is_staff")
        .attribute("is_superuser", "is_superuser")
        .attribute("roles", "roles")
}

fn api_key_config(settings: &Settings) -> Result<ApiKeyConfig, StartError> {
    let header = http::HeaderName::from_bytes(settings.api_key_header.to_ascii_lowercase().as_bytes())
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_API_KEY_HEADER", e.to_string())))?;
    Ok(ApiKeyConfig::default().header(header))
}

/// The MFA key: `PORTCULLIS_MFA_KEY`, else the keys directory's `mfa.key` (generated on first
/// use).
pub(crate) async fn mfa_key(settings: &Settings) -> Result<MfaKey, StartError> {
    Ok(match &settings.mfa_key {
        Some(secret) => MfaKey::from_base64(secret.expose())
            .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_MFA_KEY", e.to_string())))?,
        None => {
            let path = settings.keys_dir.join("mfa.key");
            let key = tokio::task::spawn_blocking(move || MfaKey::load_or_generate(&path))
                .await
                .map_err(|e| StartError::Io(std::io::Error::other(e)))?
                .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_KEYS_DIR", e.to_string())))?;
            tracing::info!(keys_dir = %settings.keys_dir.display(), "MFA key from mfa.key");
            key
        }
    })
}

/// The MFA service: factors in the database, secrets sealed with `PORTCULLIS_MFA_KEY` (or the
/// generated `mfa.key` of the keys directory: never in the database).
async fn mfa_service(settings: &Settings, db: DatabaseConnection) -> Result<MfaService, StartError> {
    let key = mfa_key(settings).await?;
    let issuer = settings
        .mfa_issuer
        .clone()
        .or_else(|| settings.issuer.clone())
        .unwrap_or_else(|| "Portcullis".to_owned());
    let config = MfaConfig::default()
        .issuer(issuer)
        .challenge_ttl(chrono::Duration::seconds(settings.mfa_token_ttl))
        .max_attempts(settings.mfa_max_attempts);
    let service = MfaService::new(Arc::new(SeaOrmMfaStore::new(db.clone())), key, config);
    // Refuse to start with a key that cannot open the stored factors (another node's key, a lost
    // key file): every enrolled user would otherwise get a 500 at sign-in.
    use sea_orm::EntityTrait as _;
    let stored = portcullis::sea_orm::entity::mfa_totp_factors::Entity::find()
        .one(&db)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    if let Some(row) = stored {
        let factor = portcullis::mfa::TotpFactor::pending(
            portcullis::core::UserId::new(row.user_id),
            row.sealed_secret,
            row.created_at,
        );
        if !service.can_open(&factor) {
            return Err(StartError::Config(ConfigError::new(
                "PORTCULLIS_MFA_KEY",
                "does not open the stored MFA factors: every server process must use the key they were sealed with",
            )));
        }
    }
    Ok(service)
}

/// Builds the flows over an open database.
pub async fn build_auth(
    settings: &Settings,
    db: DatabaseConnection,
    clock: SharedClock,
) -> Result<Arc<ServerAuth>, StartError> {
    let passkeys = build_passkeys(settings, &db, &clock)?;
    build_auth_with(settings, db, clock, passkeys, None).await
}

/// [`build_auth`] with the passkeys of the settings already built (offered in the MFA step).
async fn build_auth_with(
    settings: &Settings,
    db: DatabaseConnection,
    clock: SharedClock,
    passkeys: Option<Arc<portcullis::passkeys::PasskeySignIn>>,
    metrics: Option<&Arc<ServerMetrics>>,
) -> Result<Arc<ServerAuth>, StartError> {
    let keys = load_keys(settings).await?;
    let mut config = JwtConfig::default()
        .access_ttl(chrono::Duration::seconds(settings.access_ttl))
        .refresh_ttl(chrono::Duration::seconds(settings.refresh_ttl))
        .leeway(chrono::Duration::seconds(settings.jwt_leeway));
    if let Some(issuer) = &settings.issuer {
        config = config.issuer(issuer.clone());
    }
    if let Some(audience) = &settings.audience {
        config = config.audience(audience.clone());
    }
    let jwt =
        JwtService::new(config, keys, clock.clone()).map_err(|e| key_error("PORTCULLIS_JWT_ALGORITHM", e))?;
    let clock = jwt.clock().clone();
    let grants = Arc::new(SeaOrmGrantStore::new(db.clone()));
    if let Some(metrics) = metrics {
        metrics.watch_grants((*grants).clone());
    }
    let opaque_db = db.clone();
    let db_for_mfa = db.clone();
    let store = Arc::new(SeaOrmUserStore::with_clock(db, clock.clone()));
    let policy = AccountPolicy::default()
        .min_password_chars(settings.password_min_length)
        .min_strength(settings.password_min_strength);
    let mut accounts = Accounts::new(store, password_hasher(settings)?).with_policy(policy);
    if let Some((source, policy)) = breached_passwords(settings)? {
        accounts = accounts.with_breached_passwords(source, policy);
    }
    let mut flow = FlowConfig::default()
        .grant_max_age(chrono::Duration::seconds(settings.grant_max_age))
        .reuse_grace(chrono::Duration::seconds(settings.reuse_grace))
        .reauthentication_window(chrono::Duration::seconds(settings.reauthentication_window))
        // A stored credential read again within the revocation bound costs no statement; what
        // another process changes reaches this one within the same bound as revocations.
        .credential_cache_ttl(chrono::Duration::milliseconds(
            i64::try_from(settings.revocation_poll_ms).unwrap_or(1000),
        ))
        .credential_cache_capacity(settings.credential_cache_capacity)
        .revocation_max_staleness(chrono::Duration::milliseconds(
            i64::try_from(settings.revocation_stale_after_ms).unwrap_or(10_000),
        ));
    if let Some(idle) = settings.grant_idle_ttl {
        flow = flow.grant_idle_ttl(chrono::Duration::seconds(idle));
    }
    let format = portcullis::token::TokenFormat::new(settings.token_prefix.clone())
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_TOKEN_PREFIX", e.to_string())))?;
    let opaque = OpaqueTokenConfig::default()
        .format(format)
        .ttl(chrono::Duration::seconds(settings.token_ttl))
        .idle_ttl(settings.token_idle_ttl.map(chrono::Duration::seconds))
        .legacy_tokens_until(settings.legacy_tokens_until);
    let mfa = mfa_service(settings, db_for_mfa).await?;
    let policy = MfaPolicy::default()
        .revoke_on_enable(settings.mfa_revoke_on_enable)
        .revoke_on_disable(settings.mfa_revoke_on_disable)
        .revoke_on_recovery_code(settings.mfa_revoke_on_recovery_code);
    let limiter = rate_limiter(settings, &opaque_db, clock.clone()).await?;
    // Request counters (emails, registrations) apart from failure counters in an in-process
    // store, so that a flood of requests cannot crowd a lockout out; a shared store holds both.
    let request_limiter = if settings.rate_limit_store.expose() == "memory" {
        RateLimiter::memory(clock.clone())
    } else {
        limiter.clone()
    };
    let limits = AbuseLimits::signin(
        settings.signin_limit_per_account,
        settings.signin_limit_per_account_ip,
        settings.signin_limit_per_ip,
        chrono::Duration::seconds(settings.signin_window),
    )
    .consecutive_window(chrono::Duration::seconds(settings.signin_consecutive_window))
    .registrations(
        settings.register_limit_per_ip,
        settings.register_limit_global,
        chrono::Duration::hours(1),
    );
    let device_key = device_key(settings).await?;
    let audit_store: Arc<dyn portcullis::core::audit::AuditStore> =
        Arc::new(SeaOrmAuditStore::new(opaque_db.clone()));
    let audit = AuditLog::new(match metrics {
        Some(metrics) => Arc::new(CountingAuditStore::new(audit_store, Arc::clone(metrics))),
        None => audit_store,
    });
    let mut builder = AuthService::builder(accounts)
        .clock(clock)
        .config(flow)
        .grants(grants)
        .jwt(jwt)
        .claims(default_claims())
        .rate_limits(limiter, limits)
        .request_limiter(request_limiter)
        .device_key(device_key)
        .audit(audit)
        // Roles, permissions and assignments, managed by the admin API and `portcullis role`; every
        // credential's principal carries the user's permissions (re-read within the user-state
        // bound, so changes made by another process apply within 1 s).
        .roles(Arc::new(SeaOrmRoleStore::new(opaque_db.clone())))
        .trusted_proxies(settings.trusted_proxies()?)
        .mfa(mfa, policy)
        .opaque_tokens(Arc::new(SeaOrmOpaqueTokenStore::new(opaque_db.clone())), opaque)
        .api_keys(Arc::new(SeaOrmApiKeyStore::new(opaque_db.clone())), api_key_config(settings)?)
        .sessions(
            Arc::new(SeaOrmSessionStore::new(opaque_db.clone())),
            SessionConfig::default()
                .ttl(chrono::Duration::seconds(settings.session_ttl))
                .idle_ttl(chrono::Duration::seconds(settings.session_idle_ttl))
                .insecure_cookies(settings.insecure_cookies)
                .allowed_origins(settings.allowed_origins.clone()),
        );
    if let Some(url) = &settings.public_url {
        builder = builder.public_url(url.clone());
    }
    // Passkeys are offered in the MFA step too.
    if let Some(passkeys) = passkeys {
        builder = builder.second_factor_method(passkeys);
    }
    if let Some(emails) = account_emails(settings)? {
        let (mailer, config) = emails;
        builder = builder.account_emails(Arc::new(SeaOrmAccountTokenStore::new(opaque_db)), mailer, config);
    }
    let auth =
        builder.build().map_err(|e| StartError::Config(ConfigError::new("capabilities", e.to_string())))?;
    Ok(Arc::new(auth))
}

/// The key of the device cookies: `PORTCULLIS_DEVICE_KEY`, else the (generated) `device.key` of
/// the keys directory.
async fn device_key(settings: &Settings) -> Result<portcullis::core::DeviceKey, StartError> {
    use portcullis::core::DeviceKey;
    if let Some(secret) = &settings.device_key {
        return DeviceKey::from_base64(secret.expose()).ok_or_else(|| {
            StartError::Config(ConfigError::new("PORTCULLIS_DEVICE_KEY", "must be the base64 of 32 bytes"))
        });
    }
    let path = settings.keys_dir.join("device.key");
    tokio::task::spawn_blocking(move || DeviceKey::load_or_generate(&path))
        .await
        .map_err(|e| StartError::Io(std::io::Error::other(e)))?
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_KEYS_DIR", e.to_string())))
}

/// The counters of the rate limits: in this process, in the database, or in Redis.
async fn rate_limiter(
    settings: &Settings,
    db: &DatabaseConnection,
    clock: SharedClock,
) -> Result<RateLimiter, StartError> {
    let store = settings.rate_limit_store.expose();
    if store == "memory" {
        return Ok(RateLimiter::memory(clock));
    }
    if store == "database" {
        return Ok(RateLimiter::new(Arc::new(SeaOrmLimitStore::new(db.clone())), clock));
    }
    redis_limiter(store, clock).await
}

#[cfg(feature = "redis")]
async fn redis_limiter(url: &str, clock: SharedClock) -> Result<RateLimiter, StartError> {
    let store = portcullis::ratelimit::RedisLimitStore::connect(url, "portcullis:rl:")
        .await
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_RATE_LIMIT_STORE", e.to_string())))?;
    Ok(RateLimiter::new(Arc::new(store), clock))
}

#[cfg(not(feature = "redis"))]
async fn redis_limiter(_url: &str, _clock: SharedClock) -> Result<RateLimiter, StartError> {
    Err(StartError::Config(ConfigError::new(
        "PORTCULLIS_RATE_LIMIT_STORE",
        "this build has no Redis support: build auth-server with `--features redis`",
    )))
}

/// The mailer of the account emails and the settings of their links.
type AccountEmails = (Arc<dyn portcullis::mail::Mailer>, AccountEmailConfig);

/// The mailer and link settings of the account emails, when a backend is configured.
fn account_emails(settings: &Settings) -> Result<Option<AccountEmails>, StartError> {
    let config_error =
        |setting: &str, message: String| StartError::Config(ConfigError::new(setting, message));
    let Some(backend) = &settings.email_backend else {
        return Ok(None);
    };
    let backend = EmailBackend::parse(backend.expose())
        .map_err(|e| config_error("PORTCULLIS_EMAIL_BACKEND", e.to_string()))?;
    if matches!(backend, EmailBackend::Console) {
        tracing::warn!(
            "PORTCULLIS_EMAIL_BACKEND=console: emails (with their single-use links) go to stdout; development only"
        );
    }
    let from = settings.email_from.as_deref().unwrap_or_default();
    let mailer =
        backend.into_mailer(from).map_err(|e| config_error("PORTCULLIS_EMAIL_FROM", e.to_string()))?;
    let frontend = settings.frontend_url.as_deref().unwrap_or_default();
    let config = AccountEmailConfig::new(frontend)
        .map_err(|e| config_error("PORTCULLIS_FRONTEND_URL", e.body().detail))?
        .verification(settings.email_verification_mode()?)
        .reset_ttl(chrono::Duration::seconds(settings.password_reset_ttl))
        .verification_ttl(chrono::Duration::seconds(settings.email_verification_ttl));
    Ok(Some((mailer, config)))
}

/// Everything both adapters mount: the flows, the endpoints and the authenticator chain.
struct Parts {
    auth: Arc<ServerAuth>,
    db: DatabaseConnection,
    endpoints: AuthEndpoints<SeaOrmUserStore>,
    authenticator: SharedAuthenticator,
    clock: SharedClock,
    social: Option<Arc<portcullis::oauth::SocialLogin>>,
    email_sign_in: Option<Arc<portcullis::email_sign_in::EmailSignIn>>,
    passkeys: Option<Arc<portcullis::passkeys::PasskeySignIn>>,
    metrics: Option<Arc<ServerMetrics>>,
    stale_after: chrono::Duration,
}

impl Parts {
    /// Every route: the flows' own, then social login's and email sign-in's when configured.
    fn route_table(self, settings: &Settings) -> portcullis::flows::RouteTable {
        let endpoints = Arc::new(self.endpoints);
        let mut table = endpoints.route_table(&router_config(settings));
        let (auth, db, stale_after) = (Arc::clone(&self.auth), self.db.clone(), self.stale_after);
        table = table.route(http::Method::GET, READYZ, false, move |_request| {
            let (auth, db) = (Arc::clone(&auth), db.clone());
            async move { readiness(&auth, &db, stale_after).await }
        });
        if let Some(key) = &settings.django_signing_key {
            table = crate::django::exchange_route(
                table,
                Arc::clone(&self.auth),
                key,
                &settings.django_jwt_algorithm,
            );
        }
        if let Some(social) = &self.social {
            table = social.routes(table, Arc::clone(&endpoints));
        }
        if let Some(email) = &self.email_sign_in {
            table = email.routes(table, Arc::clone(&endpoints));
        }
        if let Some(passkeys) = &self.passkeys {
            table = passkeys.routes(table, endpoints);
        }
        table
    }
}

/// Passkeys of the settings, when `PORTCULLIS_WEBAUTHN_RP_ID` is set: passkeys and their
/// ceremonies in the database.
fn build_passkeys(
    settings: &Settings,
    db: &DatabaseConnection,
    clock: &SharedClock,
) -> Result<Option<Arc<portcullis::passkeys::PasskeySignIn>>, StartError> {
    use portcullis::passkeys::{PasskeySignIn, Passkeys};
    let Some(config) = settings.passkey_config().map_err(StartError::Config)? else { return Ok(None) };
    let store = Arc::new(portcullis::sea_orm::SeaOrmPasskeyStore::new(db.clone()));
    let passkeys = Passkeys::new(config, store, clock.clone())
        .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_WEBAUTHN_RP_ID", e.to_string())))?;
    Ok(Some(Arc::new(PasskeySignIn::new(Arc::new(passkeys)))))
}

/// Email sign-in of the settings, when it is on: pending sign-ins in the database, codes hashed
/// under `PORTCULLIS_EMAIL_SIGN_IN_KEY` (or the generated `email-sign-in.key` of the keys
/// directory).
async fn build_email_sign_in(
    settings: &Settings,
    db: &DatabaseConnection,
) -> Result<Option<Arc<portcullis::email_sign_in::EmailSignIn>>, StartError> {
    use portcullis::email_sign_in::{CodeKey, EmailSignIn, EmailSignInConfig};
    if !settings.email_sign_in {
        return Ok(None);
    }
    let bytes = match &settings.email_sign_in_key {
        Some(secret) => portcullis::core::key_file::decode_key(secret.expose(), 32).ok_or_else(|| {
            StartError::Config(ConfigError::new(
                "PORTCULLIS_EMAIL_SIGN_IN_KEY",
                "must be the base64 of 32 bytes",
            ))
        })?,
        None => {
            let path = settings.keys_dir.join("email-sign-in.key");
            tokio::task::spawn_blocking(move || portcullis::core::key_file::load_or_generate(&path, 32))
                .await
                .map_err(|e| StartError::Io(std::io::Error::other(e)))?
                .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_KEYS_DIR", e.to_string())))?
        }
    };
    let key: [u8; 32] = bytes.try_into().map_err(|_| {
        StartError::Config(ConfigError::new("PORTCULLIS_EMAIL_SIGN_IN_KEY", "must be the base64 of 32 bytes"))
    })?;
    let mut config = EmailSignInConfig::default();
    config.ttl = chrono::Duration::seconds(settings.email_sign_in_ttl);
    config.sign_up = settings.email_sign_in_sign_up;
    config.email_is_second_factor = settings.email_sign_in_is_second_factor;
    let store = Arc::new(portcullis::sea_orm::SeaOrmEmailSignInStore::new(db.clone()));
    Ok(Some(Arc::new(EmailSignIn::new(store, CodeKey::new(key)).config(config))))
}

fn social_error(provider: &str, error: impl std::fmt::Display) -> StartError {
    let setting = format!("PORTCULLIS_SOCIAL_{}_CLIENT_ID", provider.to_ascii_uppercase().replace('-', "_"));
    StartError::Config(ConfigError::new(&setting, error.to_string()))
}

/// Social login of the settings, if any provider is configured.
fn build_social(
    settings: &Settings,
    db: &DatabaseConnection,
    clock: &SharedClock,
) -> Result<Option<Arc<portcullis::oauth::SocialLogin>>, StartError> {
    use portcullis::oauth::{ProviderConfig, SocialLogin, SocialProvider, WebFlow};
    if settings.social.is_empty() {
        return Ok(None);
    }
    let public = settings.public_url.as_deref().unwrap_or_default().trim_end_matches('/');
    let store = Arc::new(portcullis::sea_orm::SeaOrmLinkedAccountStore::new(db.clone()));
    let mut social = SocialLogin::new(store);
    for provider in &settings.social {
        let mut config = match (provider.kind.as_str(), &provider.issuer) {
            ("github", _) => ProviderConfig::github(&provider.client_id),
            (_, Some(issuer)) => ProviderConfig::openid_connect(&provider.name, issuer, &provider.client_id),
            (_, None) => return Err(social_error(&provider.name, "no issuer")),
        };
        config.name = provider.name.clone();
        config = config
            .redirect_uri(format!("{public}/api/auth/social/{}/callback", provider.name))
            .trust_email(provider.trust_email);
        if let Some(secret) = &provider.client_secret {
            config = config.client_secret(secret.expose());
        }
        if !provider.scopes.is_empty() {
            config = config.scopes(provider.scopes.clone());
        }
        for native in &provider.native_client_ids {
            config = config.native_client_id(native.clone());
        }
        let built =
            SocialProvider::new(config, clock.clone()).map_err(|e| social_error(&provider.name, e))?;
        social = social.provider(built);
    }
    if let (Some(frontend), Some(key)) = (&settings.frontend_url, settings.social_state_key_bytes()) {
        let mut web = WebFlow::new(frontend.clone(), key)
            .map_err(|e| StartError::Config(ConfigError::new("PORTCULLIS_FRONTEND_URL", e.to_string())))?
            .insecure_cookies(settings.insecure_cookies);
        for origin in &settings.allowed_origins {
            web = web.allow_origin(origin.clone());
        }
        social = social.web_flow(web);
    }
    if let Some(key) = settings.social_token_key_bytes() {
        let key = portcullis::oauth::ProviderTokenKey::new(key).map_err(|e| {
            StartError::Config(ConfigError::new("PORTCULLIS_SOCIAL_TOKEN_KEY", e.to_string()))
        })?;
        social = social.store_provider_tokens(key);
    }
    Ok(Some(Arc::new(social)))
}

async fn build_parts(settings: &Settings, clock: SharedClock) -> Result<Parts, StartError> {
    let db = open_database(settings).await?;
    let passkeys = build_passkeys(settings, &db, &clock)?;
    let metrics = settings.metrics_bind.map(|_| Arc::new(ServerMetrics::new()));
    let auth =
        build_auth_with(settings, db.clone(), clock.clone(), passkeys.clone(), metrics.as_ref()).await?;
    // The order of checks: an API key (`X-API-Key`), an opaque token (`Token`, or `Bearer` with
    // the token prefix), a JWT (`Bearer`), then the session cookie (with its CSRF check). The first credential present decides; an invalid
    // one is a 401, never a fall-through to the next kind.
    let api_key: SharedAuthenticator = Arc::new(auth.api_key_authenticator());
    let opaque: SharedAuthenticator = Arc::new(auth.opaque_token_authenticator());
    let bearer: SharedAuthenticator = Arc::new(auth.bearer_authenticator());
    let session: SharedAuthenticator = Arc::new(auth.session_authenticator());
    let authenticator: SharedAuthenticator =
        Arc::new(FirstPresented::new(vec![api_key, opaque, bearer, session]));
    let web = WebFlowConfig::new(settings.refresh_ttl)
        .insecure_cookies(settings.insecure_cookies)
        .allowed_origins(settings.allowed_origins.clone());
    if settings.insecure_cookies {
        tracing::warn!("PORTCULLIS_INSECURE_COOKIES is on: cookies lack `Secure`; development only");
    }
    let endpoints = AuthEndpoints::new(Arc::clone(&auth)).with_web_flow(web);
    let social = build_social(settings, &db, &clock)?;
    let email_sign_in = build_email_sign_in(settings, &db).await?;
    let stale_after =
        chrono::Duration::milliseconds(i64::try_from(settings.revocation_stale_after_ms).unwrap_or(10_000));
    Ok(Parts {
        auth,
        db,
        endpoints,
        authenticator,
        clock,
        social,
        email_sign_in,
        passkeys,
        metrics,
        stale_after,
    })
}

/// The server's routes: every route set, the body limit of the settings, the Swagger UI only when
/// the settings ask for it, and the JSON 404 for every unknown path.
fn router_config(settings: &Settings) -> RouterConfig {
    RouterConfig::default().body_limit(settings.body_limit).docs_ui(settings.docs_ui).json_fallback(true)
}

/// Builds the whole application on axum.
pub async fn build(settings: &Settings, clock: SharedClock) -> Result<App, StartError> {
    let parts = build_parts(settings, clock).await?;
    let context = AuthContext::new(parts.authenticator.clone()).with_clock(parts.clock.clone());
    let (auth, db, metrics) = (Arc::clone(&parts.auth), parts.db.clone(), parts.metrics.clone());
    let mut router = portcullis::axum::mount(parts.route_table(settings), context)
        .layer(tower_http::trace::TraceLayer::new_for_http());
    if let Some(metrics) = &metrics {
        let metrics = Arc::clone(metrics);
        router = router.layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let metrics = Arc::clone(&metrics);
                async move {
                    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
                    let started = std::time::Instant::now();
                    let response = next.run(request).await;
                    metrics.observe_request(
                        method.as_str(),
                        &path,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    response
                }
            },
        ));
    }
    Ok(App { router, auth, db, metrics })
}

/// Builds the whole application on poem (same HTTP behaviour as [`build`]).
pub async fn build_poem(
    settings: &Settings,
    clock: SharedClock,
) -> Result<(poem::endpoint::BoxEndpoint<'static>, Arc<ServerAuth>), StartError> {
    let (endpoint, auth, _) = build_poem_app(settings, clock).await?;
    Ok((endpoint, auth))
}

/// [`build_poem`] and the metrics, when `PORTCULLIS_METRICS_BIND` is set.
async fn build_poem_app(
    settings: &Settings,
    clock: SharedClock,
) -> Result<(poem::endpoint::BoxEndpoint<'static>, Arc<ServerAuth>, Option<Arc<ServerMetrics>>), StartError> {
    use poem::{Endpoint as _, EndpointExt as _};
    let parts = build_parts(settings, clock).await?;
    let context =
        portcullis::poem::AuthContext::new(parts.authenticator.clone()).with_clock(parts.clock.clone());
    let auth = Arc::clone(&parts.auth);
    let metrics = parts.metrics.clone();
    let watched = metrics.clone();
    let mounted = portcullis::poem::mount(parts.route_table(settings), context.clone());
    let endpoint =
        poem::Route::new().nest("/", mounted).with(context).with(poem::middleware::Tracing).boxed();
    let endpoint = match metrics {
        Some(metrics) => endpoint
            .around(move |endpoint, request| {
                let metrics = Arc::clone(&metrics);
                async move {
                    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
                    let started = std::time::Instant::now();
                    let response = endpoint.get_response(request).await;
                    metrics.observe_request(
                        method.as_str(),
                        &path,
                        response.status().as_u16(),
                        started.elapsed(),
                    );
                    Ok(response)
                }
            })
            .boxed(),
        None => endpoint,
    };
    Ok((endpoint, auth, watched))
}

/// A server listening in the background (tests, examples, and `serve`).
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The flows, for test set-up.
    pub auth: Arc<ServerAuth>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    grace: std::time::Duration,
    metrics_addr: Option<SocketAddr>,
    metrics_task: Option<JoinHandle<std::io::Result<()>>>,
    _background: Background,
}

/// `GET /metrics` on its own listener (every other path: 404).
async fn serve_metrics(
    bind: SocketAddr,
    metrics: Arc<ServerMetrics>,
    auth: Arc<ServerAuth>,
) -> Result<(SocketAddr, JoinHandle<std::io::Result<()>>), StartError> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let db = auth.store().connection().clone();
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, auth, db) = (Arc::clone(&metrics), Arc::clone(&auth), db.clone());
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(&auth, &db),
                )
            }
        }),
    );
    tracing::info!(%addr, "metrics listening");
    Ok((addr, tokio::spawn(async move { axum::serve(listener, router).await })))
}

/// The path of the readiness probe.
pub const READYZ: &str = "/readyz";

/// `GET /readyz`: 200 when the process can serve traffic — the database answers, its schema is
/// this version's (no migration pending), and the revocation list has matched the database within
/// `stale_after` — else 503 `not_ready` naming the checks that failed. (`GET /healthz` only says
/// the process is alive.)
pub async fn readiness(
    auth: &ServerAuth,
    db: &DatabaseConnection,
    stale_after: chrono::Duration,
) -> http::Response<Vec<u8>> {
    use serde_json::{Map, Value, json};
    let timeout = std::time::Duration::from_secs(2);
    let mut checks = Map::new();
    let database = match tokio::time::timeout(timeout, db.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the database does not answer");
            "unreachable".to_owned()
        }
        Err(_) => "timed out".to_owned(),
    };
    let migrations = if database == "ok" {
        match tokio::time::timeout(timeout, portcullis::sea_orm::pending_migrations(db)).await {
            Ok(Ok(0)) => "ok".to_owned(),
            Ok(Ok(n)) => format!("{n} pending"),
            Ok(Err(_)) | Err(_) => "unknown".to_owned(),
        }
    } else {
        "unknown".to_owned()
    };
    let stale_after = stale_after.to_std().unwrap_or_default();
    let sync = match auth.revocations_synced_ago() {
        Some(ago) if ago > stale_after => format!("stale ({} ms behind)", ago.as_millis()),
        Some(_) => "ok".to_owned(),
        None => "not started".to_owned(),
    };
    checks.insert("database".to_owned(), Value::from(database));
    checks.insert("migrations".to_owned(), Value::from(migrations));
    checks.insert("revocation_sync".to_owned(), Value::from(sync));
    let failing: Vec<&str> =
        checks.iter().filter(|(_, v)| v.as_str() != Some("ok")).map(|(k, _)| k.as_str()).collect();
    let (status, body) = if failing.is_empty() {
        (http::StatusCode::OK, json!({ "status": "ready", "checks": checks }))
    } else {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "detail": format!("Not ready: {}", failing.join(", ")),
                "code": "not_ready",
                "checks": checks,
            }),
        )
    };
    let mut response = http::Response::new(serde_json::to_vec(&body).unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    if status != http::StatusCode::OK {
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
    response
}

/// The server's background work: following revocations made by other processes, and deleting
/// expired sessions. Stops when dropped.
#[derive(Debug)]
struct Background {
    _revocations: portcullis::blacklist::SyncTask,
    flush: JoinHandle<()>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.flush.abort();
    }
}

async fn start_background(settings: &Settings, auth: &Arc<ServerAuth>) -> Result<Background, StartError> {
    let poll = std::time::Duration::from_millis(settings.revocation_poll_ms);
    let revocations =
        auth.start_revocation_sync(poll).await.map_err(|e| StartError::Database(e.to_string()))?;
    let auth = Arc::clone(auth);
    let every = std::time::Duration::from_secs(settings.flush_interval);
    let settings = settings.clone();
    let flush = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            match flush_expired(&auth, &settings).await {
                Ok(rows) if rows > 0 => tracing::info!(rows, "deleted expired sessions and tokens"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "flushing expired sessions failed"),
            }
        }
    });
    Ok(Background { _revocations: revocations, flush })
}

/// Deletes what expired ([`AuthService::flush_expired`]: grants and old revocation events, MFA
/// challenges, cookie sessions, opaque tokens, API keys, account tokens, rate-limit counters past
/// every window, and revocations of ended grants in the in-process list), expired email
/// sign-ins and passkey ceremonies, and audit events past their retention. Returns how many it deleted.
pub async fn flush_expired(
    auth: &ServerAuth,
    settings: &Settings,
) -> Result<u64, portcullis::core::AuthError> {
    let mut rows = auth.flush_expired().await?.total();
    if settings.email_sign_in {
        use portcullis::email_sign_in::EmailSignInStore as _;
        let pending = portcullis::sea_orm::SeaOrmEmailSignInStore::new(auth.store().connection().clone());
        rows = rows.saturating_add(pending.flush_expired(auth.clock().now()).await?);
    }
    if settings.webauthn_rp_id.is_some() {
        use portcullis::passkeys::PasskeyStore as _;
        let passkeys = portcullis::sea_orm::SeaOrmPasskeyStore::new(auth.store().connection().clone());
        rows = rows.saturating_add(passkeys.flush_expired_challenges(auth.clock().now()).await?);
    }
    if settings.audit_retention_days > 0 {
        let retention = chrono::Duration::days(settings.audit_retention_days);
        let cutoff = portcullis::core::saturating_sub(auth.clock().now(), retention);
        rows = rows.saturating_add(auth.audit_log().store().delete_before(cutoff).await?);
    }
    Ok(rows)
}

impl RunningServer {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The metrics listener's address, when `PORTCULLIS_METRICS_BIND` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops accepting connections, lets in-flight requests finish for at most the grace
    /// (`PORTCULLIS_SHUTDOWN_GRACE_SECS`; requests still running then are cut off), writes the
    /// credentials' last uses still on their way (they are written off the request path), sends
    /// the account emails still queued (reset and verification links asked for just before; for
    /// what is left of the grace, at least a second), and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = match tokio::time::timeout(self.grace, &mut self.task).await {
            Ok(joined) => joined.map_err(std::io::Error::other)?,
            Err(_) => {
                tracing::warn!(grace = ?self.grace, "requests still running after the shutdown grace: cut off");
                self.task.abort();
                Ok(())
            }
        };
        if let Some(metrics) = self.metrics_task.take() {
            metrics.abort();
        }
        self.auth.flush_last_uses().await;
        let left = self.grace.saturating_sub(started.elapsed()).max(std::time::Duration::from_secs(1));
        if !self.auth.flush_account_emails(left).await {
            tracing::warn!("account emails still queued at shutdown: not sent");
        }
        served
    }
}

/// Builds the app with the configured adapter, binds `settings.bind` and serves in a background task.
pub async fn start(settings: &Settings, clock: SharedClock) -> Result<RunningServer, StartError> {
    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = rx.await;
    };
    let grace = std::time::Duration::from_secs(settings.shutdown_grace_secs);
    let (addr, auth, task, metrics) = match settings.adapter {
        Adapter::Axum => {
            let app = build(settings, clock).await?;
            let listener = TcpListener::bind(settings.bind).await?;
            let addr = listener.local_addr()?;
            let service = app.router.into_make_service_with_connect_info::<SocketAddr>();
            let task =
                tokio::spawn(
                    async move { axum::serve(listener, service).with_graceful_shutdown(shutdown).await },
                );
            (addr, app.auth, task, app.metrics)
        }
        Adapter::Poem => {
            let (endpoint, auth, metrics) = build_poem_app(settings, clock).await?;
            let listener = TcpListener::bind(settings.bind).await?;
            let addr = listener.local_addr()?;
            let acceptor = poem::listener::TcpAcceptor::from_tokio(listener)?;
            let task = tokio::spawn(async move {
                poem::Server::new_with_acceptor(acceptor)
                    .run_with_graceful_shutdown(endpoint, shutdown, Some(grace))
                    .await
            });
            (addr, auth, task, metrics)
        }
    };
    tracing::debug!(adapter = ?settings.adapter, %addr, "serving");
    let (metrics_addr, metrics_task) = match (settings.metrics_bind, metrics) {
        (Some(bind), Some(metrics)) => {
            let (addr, task) = serve_metrics(bind, metrics, Arc::clone(&auth)).await?;
            (Some(addr), Some(task))
        }
        _ => (None, None),
    };
    let background = start_background(settings, &auth).await?;
    Ok(RunningServer {
        addr,
        auth,
        shutdown: Some(tx),
        task,
        grace,
        metrics_addr,
        metrics_task,
        _background: background,
    })
}
