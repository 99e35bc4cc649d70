//! The `portcullis` command line: `serve` (default) and the admin subcommands.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use portcullis::core::audit::{AuditEvent, AuditKind, AuditLog, AuditQuery, AuditStore};
use portcullis::core::{
    AuthError, AuthUser, Registration, Role, RoleStore, SharedClock, SystemClock, UserId, UserStore,
    validate_permission, validate_role_name,
};
use portcullis::jwt::{FileKeyStore, JwtAlgorithm, KeyStore, StoredKey, generate_key};
use portcullis::sea_orm::{SeaOrmAuditStore, SeaOrmRoleStore, SeaOrmUserStore};

use crate::app;
use crate::config::{ConfigError, Settings};

/// The Portcullis auth server and admin tool.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// A TOML configuration file; `PORTCULLIS_*` environment variables override it.
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `portcullis import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A Django project: users and their password hashes (verified as they are, upgraded to
    /// argon2id at the first sign-in), groups and permissions as roles, allauth email addresses
    /// and TOTP factors, DRF tokens, outstanding simplejwt refresh tokens. Idempotent.
    Django {
        /// The Django database: a `postgres://` URL, a SQLite file, or a `manage.py dumpdata`
        /// JSON file.
        #[arg(long)]
        from: String,
        /// Report what would be imported; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Until when (RFC 3339) imported DRF tokens work (default: the server's
        /// `PORTCULLIS_LEGACY_TOKENS_UNTIL`, else 90 days from now).
        #[arg(long)]
        legacy_tokens_until: Option<String>,
    },
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Generate a signing key pair (the `make_rsa` equivalent).
    Keygen {
        /// Algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256,
        /// HS384, HS512.
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Directory to write `jwt-signing-<alg>.pem` (mode 0600) and `.pub` into.
        #[arg(long, default_value = "keys")]
        out: PathBuf,
        /// Overwrite an existing key.
        #[arg(long)]
        force: bool,
    },
    /// Delete expired sessions and tokens now (the server also does it every
    /// `PORTCULLIS_FLUSH_INTERVAL` seconds).
    FlushExpired,
    /// List security events (the audit log), newest first, one per line (`--json`: one JSON
    /// object per line).
    Audit {
        /// Only this user's events (username or email).
        #[arg(long)]
        user: Option<String>,
        /// Only these kinds (comma-separated, e.g. `sign_in_failed,locked_out`).
        #[arg(long, value_delimiter = ',')]
        kind: Vec<String>,
        /// Only events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most this many events (default 50, at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Import accounts from another system (`portcullis import django --from ...`).
    Import {
        /// Where from.
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Manage users.
    User {
        /// The user operation.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage roles and the permissions they grant (assign them with `user grant-role`). Running
    /// servers apply changes within the user-state bound (1 s).
    Role {
        /// The role operation.
        #[command(subcommand)]
        command: RoleCommand,
    },
}

/// Role subcommands. Names are 1 to 64 characters of `a-z`, `0-9`, `_`, `-`, `.`; permissions
/// are `resource:action` of the same characters.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role, with the permissions it grants.
    Create {
        /// The role's name.
        name: String,
        /// A free-text description (at most 256 characters).
        #[arg(long, default_value = "")]
        description: String,
        /// A permission it grants (`resource:action`); repeat for more.
        #[arg(long = "permission")]
        permissions: Vec<String>,
    },
    /// Delete a role with its permissions and assignments.
    Delete {
        /// The role's name.
        name: String,
    },
    /// Grant a permission to a role.
    Grant {
        /// The role's name.
        name: String,
        /// The permission (`resource:action`).
        permission: String,
    },
    /// Take a permission from a role.
    Revoke {
        /// The role's name.
        name: String,
        /// The permission (`resource:action`).
        permission: String,
    },
    /// List the roles by name, one per line with their permissions comma-separated (`--json`:
    /// one JSON object per line).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// User subcommands. Passwords are read from a prompt, or from standard input when it is not a
/// terminal: never from the command line.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// Username.
        #[arg(long)]
        username: String,
        /// Email.
        #[arg(long)]
        email: Option<String>,
        /// Staff flag.
        #[arg(long)]
        staff: bool,
        /// Superuser flag.
        #[arg(long)]
        superuser: bool,
    },
    /// Set a user's password; every session and token of theirs is revoked.
    SetPassword {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
    /// Deactivate a user; they can no longer sign in, every session and token is revoked.
    Deactivate {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
    /// Remove a user's MFA factors and recovery codes (they lost their device) and sign them out
    /// everywhere; they sign in with the password alone and can enrol again.
    MfaReset {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
    /// List a user's passkeys (id, name, created, last used), or remove one with `--remove ID`
    /// (a lost device; the user is told nothing, the audit log records it).
    Passkeys {
        /// Username or email.
        #[arg(long)]
        username: String,
        /// The id of the passkey to remove.
        #[arg(long)]
        remove: Option<String>,
    },
    /// Role assignments.
    #[command(flatten)]
    Roles(UserRoleCommand),
}

/// The role assignments of a user.
#[derive(Debug, Subcommand)]
pub enum UserRoleCommand {
    /// Assign a role to a user.
    GrantRole {
        /// Username or email.
        #[arg(long)]
        username: String,
        /// The role's name.
        #[arg(long)]
        role: String,
    },
    /// Remove a role from a user.
    RevokeRole {
        /// Username or email.
        #[arg(long)]
        username: String,
        /// The role's name.
        #[arg(long)]
        role: String,
    },
    /// List the roles assigned to a user, one per line with their permissions comma-separated.
    Roles {
        /// Username or email.
        #[arg(long)]
        username: String,
    },
}

fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("passwords do not match".to_owned());
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "portcullis: {message}");
    ExitCode::FAILURE
}

fn describe(error: &AuthError) -> String {
    let body = error.body();
    if body.fields.is_empty() {
        body.detail
    } else {
        body.fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::from_process_env(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    crate::init_tracing(&settings.log, settings.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match crate::serve(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Migrate => match app::open_database(&settings).await {
            Ok(_) => {
                println!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Keygen { alg, out, force } => keygen(&alg, out, force).await,
        Command::FlushExpired => flush(&settings).await,
        // Without the flows (no signing key needed).
        Command::User { command: UserCommand::Roles(command) } => user_role(&settings, command).await,
        Command::User { command } => user(&settings, command).await,
        Command::Role { command } => role(&settings, command).await,
        Command::Import { source: ImportSource::Django { from, dry_run, legacy_tokens_until } } => {
            import_django(&settings, &from, dry_run, legacy_tokens_until.as_deref()).await
        }
        Command::Audit { user, kind, since, limit, json } => {
            audit(&settings, AuditArgs { user, kinds: kind, since, limit, json }).await
        }
    }
}

/// `portcullis import django`: reads the Django project, imports, prints the summary table.
/// Exit status 0 when every row was imported, 1 when some were not (each one is named), 2 when
/// nothing could be read.
async fn import_django(settings: &Settings, from: &str, dry_run: bool, until: Option<&str>) -> ExitCode {
    let now = portcullis::core::Clock::now(&SystemClock);
    let legacy_tokens_until = match until {
        Some(text) => match chrono::DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.with_timezone(&chrono::Utc),
            Err(_) => return fail(format!("--legacy-tokens-until `{text}`: not an RFC 3339 instant")),
        },
        None => settings.legacy_tokens_until.unwrap_or(now + chrono::Duration::days(90)),
    };
    let data = match crate::django::read(from).await {
        Ok(data) => data,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let db = match app::open_database(settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let mfa_key = if data.authenticators.is_empty() {
        None
    } else {
        match app::mfa_key(settings).await {
            Ok(key) => Some(key),
            Err(e) => return fail(e),
        }
    };
    let options = crate::django::ImportOptions { dry_run, legacy_tokens_until, mfa_key, now };
    let report = crate::django::import(&db, &data, &options).await;
    print!("{}", report.render());
    if report.has_errors() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

struct AuditArgs {
    user: Option<String>,
    kinds: Vec<String>,
    since: Option<String>,
    limit: usize,
    json: bool,
}

async fn audit(settings: &Settings, args: AuditArgs) -> ExitCode {
    let mut query = AuditQuery::new().limit(args.limit.clamp(1, portcullis::core::audit::MAX_LIMIT));
    let mut kinds = Vec::new();
    for kind in &args.kinds {
        match kind.trim().parse::<AuditKind>() {
            Ok(kind) => kinds.push(kind),
            Err(_) => {
                let known: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                return fail(format!("unknown kind `{kind}`; one of: {}", known.join(", ")));
            }
        }
    }
    query = query.kinds(kinds);
    if let Some(since) = &args.since {
        match chrono::DateTime::parse_from_rfc3339(since) {
            Ok(at) => query = query.since(at.with_timezone(&chrono::Utc)),
            Err(_) => return fail(format!("--since `{since}` is not an RFC 3339 time")),
        }
    }
    let db = match app::open_database(settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    if let Some(login) = &args.user {
        let users = portcullis::sea_orm::SeaOrmUserStore::new(db.clone());
        match users.find_by_login(login).await {
            Ok(Some(user)) => query = query.user(&user.id()),
            Ok(None) => return fail(format!("no user `{login}`")),
            Err(e) => return fail(describe(&e)),
        }
    }
    let store = portcullis::sea_orm::SeaOrmAuditStore::new(db);
    let events = match store.list(&query).await {
        Ok(events) => events,
        Err(e) => return fail(describe(&e)),
    };
    let mut out = std::io::stdout().lock();
    for event in events {
        let line = if args.json {
            serde_json::to_string(&event).unwrap_or_default()
        } else {
            format!(
                "{}  {:<26} user={} ip={} {}",
                event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                event.kind.as_str(),
                event.user_id.as_ref().map_or("-", |u| u.as_str()),
                event.ip.as_deref().unwrap_or("-"),
                serde_json::Value::Object(event.detail.clone()),
            )
        };
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn flush(settings: &Settings) -> ExitCode {
    let db = match app::open_database(settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let auth = match app::build_auth(settings, db, SystemClock::shared()).await {
        Ok(auth) => auth,
        Err(e) => return fail(e),
    };
    match app::flush_expired(&auth, settings).await {
        Ok(rows) => {
            println!("deleted {rows} expired rows");
            ExitCode::SUCCESS
        }
        Err(e) => fail(describe(&e)),
    }
}

async fn keygen(alg: &str, out: PathBuf, force: bool) -> ExitCode {
    let alg: JwtAlgorithm = match alg.parse() {
        Ok(alg) => alg,
        Err(e) => return fail(ConfigError::new("--alg", e.to_string())),
    };
    let store = FileKeyStore::new(&out);
    let name = format!("jwt-signing-{}", alg.as_str().to_ascii_lowercase());
    match store.load(&name).await {
        Ok(Some(_)) if !force => {
            return fail(format!("{}/{name}.pem exists; pass --force to replace it", out.display()));
        }
        Err(e) => return fail(e),
        _ => {}
    }
    let key = match generate_key(alg) {
        Ok(key) => key,
        Err(e) => return fail(e),
    };
    if let Err(e) = store.save(&name, &StoredKey::from(key)).await {
        return fail(e);
    }
    println!("wrote {}/{name}.pem (private, mode 0600)", out.display());
    if !alg.is_hmac() {
        println!("wrote {}/{name}.pub (public)", out.display());
        println!(
            "use it with: PORTCULLIS_JWT_ALGORITHM={alg} PORTCULLIS_JWT_PRIVATE_KEY_FILE={}/{name}.pem",
            out.display()
        );
    }
    ExitCode::SUCCESS
}

async fn user(settings: &Settings, command: UserCommand) -> ExitCode {
    let db = match app::open_database(settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let auth = match app::build_auth(settings, db, SystemClock::shared()).await {
        Ok(auth) => auth,
        Err(e) => return fail(e),
    };
    let find = |login: String| {
        let auth = auth.clone();
        async move {
            match auth.store().find_by_login(&login).await {
                Ok(Some(user)) => Ok(user),
                Ok(None) => Err(format!("no user `{login}`")),
                Err(e) => Err(describe(&e)),
            }
        }
    };
    match command {
        UserCommand::Create { username, email, staff, superuser } => {
            let password = match read_password() {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            let registration = Registration::new(username, email, password).staff(staff).superuser(superuser);
            match auth.create_user(registration).await {
                Ok(user) => {
                    println!("created user {} ({})", user.username(), user.id());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(describe(&e)),
            }
        }
        UserCommand::SetPassword { username } => {
            let user = match find(username).await {
                Ok(u) => u,
                Err(e) => return fail(e),
            };
            let password = match read_password() {
                Ok(p) => p,
                Err(e) => return fail(e),
            };
            match auth.set_password(&user.id(), &password).await {
                Ok(()) => {
                    println!("password of {} changed; existing tokens no longer work", user.username());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(describe(&e)),
            }
        }
        UserCommand::Deactivate { username } => {
            let user = match find(username).await {
                Ok(u) => u,
                Err(e) => return fail(e),
            };
            match auth.set_active(&user.id(), false).await {
                Ok(()) => {
                    println!("deactivated {}; existing tokens no longer work", user.username());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(describe(&e)),
            }
        }
        UserCommand::MfaReset { username } => {
            let user = match find(username).await {
                Ok(u) => u,
                Err(e) => return fail(e),
            };
            match auth.reset_mfa(&user.id()).await {
                Ok(true) => {
                    println!("reset MFA of {}; every session and token was revoked", user.username());
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    println!("{} had no MFA factor; every session and token was revoked", user.username());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(describe(&e)),
            }
        }
        UserCommand::Passkeys { username, remove } => {
            let user = match find(username).await {
                Ok(u) => u,
                Err(e) => return fail(e),
            };
            user_passkeys(&auth, &user, remove.as_deref()).await
        }
        UserCommand::Roles(command) => user_role(settings, command).await,
    }
}

/// `portcullis user passkeys`: lists a user's passkeys, or removes one.
async fn user_passkeys(
    auth: &app::ServerAuth,
    user: &<SeaOrmUserStore as portcullis::core::UserStore>::User,
    remove: Option<&str>,
) -> ExitCode {
    use portcullis::core::audit::AuditKind;
    use portcullis::passkeys::PasskeyStore as _;
    let store = portcullis::sea_orm::SeaOrmPasskeyStore::new(auth.store().connection().clone());
    let passkeys = match store.list_for_user(&user.id()).await {
        Ok(list) => list,
        Err(e) => return fail(describe(&e)),
    };
    let Some(id) = remove else {
        if passkeys.is_empty() {
            println!("{} has no passkey", user.username());
        }
        for passkey in &passkeys {
            let used =
                passkey.last_used_at.map_or_else(|| "never used".to_owned(), |at| format!("last used {at}"));
            println!("{}  {}  created {}  {used}", passkey.id, passkey.name, passkey.created_at);
        }
        return ExitCode::SUCCESS;
    };
    let Some(passkey) = passkeys.iter().find(|p| p.id == id) else {
        return fail(format!("{} has no passkey `{id}`", user.username()));
    };
    match store.delete(&user.id(), id).await {
        Ok(true) => {
            let detail = [("name", passkey.name.as_str()), ("actor", "cli")];
            auth.record_event(AuditKind::PasskeyRemoved, Some(&user.id()), &detail).await;
            println!("removed passkey {} ({}) of {}", passkey.name, passkey.id, user.username());
            ExitCode::SUCCESS
        }
        Ok(false) => fail(format!("{} has no passkey `{id}`", user.username())),
        Err(e) => fail(describe(&e)),
    }
}

/// What the role commands work on: the role, user and audit stores of the database.
struct RoleAdmin {
    roles: SeaOrmRoleStore,
    users: SeaOrmUserStore,
    audit: AuditLog,
    clock: SharedClock,
}

impl RoleAdmin {
    async fn open(settings: &Settings) -> Result<Self, String> {
        let db = app::open_database(settings).await.map_err(|e| e.to_string())?;
        Ok(Self {
            roles: SeaOrmRoleStore::new(db.clone()),
            users: SeaOrmUserStore::new(db.clone()),
            audit: AuditLog::new(Arc::new(SeaOrmAuditStore::new(db))),
            clock: SystemClock::shared(),
        })
    }

    /// Records a change made from the command line (detail `actor`: `cli`).
    async fn record(&self, kind: AuditKind, user: Option<&UserId>, detail: &[(&str, &str)]) {
        let mut event = AuditEvent::new(kind, self.clock.now());
        if let Some(user) = user {
            event = event.user(user);
        }
        for (key, value) in detail {
            event = event.detail(key, *value);
        }
        self.audit.record(event.detail("actor", "cli")).await;
    }

    async fn find_user(&self, login: &str) -> Result<portcullis::core::User, String> {
        match self.users.find_by_login(login).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(format!("no user `{login}`")),
            Err(e) => Err(describe(&e)),
        }
    }

    /// The role, or an error naming it when there is none.
    async fn find_role(&self, name: &str) -> Result<Role, String> {
        match self.roles.find_role(name).await {
            Ok(Some(role)) => Ok(role),
            Ok(None) => Err(no_role(name)),
            Err(e) => Err(describe(&e)),
        }
    }
}

fn no_role(name: &str) -> String {
    format!("no role `{name}` (see `portcullis role list`)")
}

/// Checks a role name, with an error that names it.
fn check_role_name(name: &str) -> Result<(), String> {
    validate_role_name(name).map_err(|e| format!("invalid role name `{name}`: {}", describe(&e)))
}

/// Checks a permission, with an error that names it.
fn check_permission(permission: &str) -> Result<(), String> {
    validate_permission(permission)
        .map_err(|e| format!("invalid permission `{permission}`: {}", describe(&e)))
}

/// `name  p1,p2`: a role and its permissions.
fn role_line(name: &str, permissions: &[String]) -> String {
    format!("{name:<24} {}", permissions.join(",")).trim_end().to_owned()
}

async fn role(settings: &Settings, command: RoleCommand) -> ExitCode {
    match role_command(settings, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn role_command(settings: &Settings, command: RoleCommand) -> Result<(), String> {
    // Everything is checked before the database is opened (and anything changes).
    match &command {
        RoleCommand::Create { name, description, permissions } => {
            check_role_name(name)?;
            permissions.iter().try_for_each(|p| check_permission(p))?;
            if description.chars().count() > 256 {
                return Err("--description: at most 256 characters".to_owned());
            }
        }
        RoleCommand::Delete { name } => check_role_name(name)?,
        RoleCommand::Grant { name, permission } | RoleCommand::Revoke { name, permission } => {
            check_role_name(name)?;
            check_permission(permission)?;
        }
        RoleCommand::List { .. } => {}
    }
    let admin = RoleAdmin::open(settings).await?;
    let now = admin.clock.now();
    match command {
        RoleCommand::Create { name, description, permissions } => {
            if !admin.roles.create_role(&name, &description, now).await.map_err(|e| describe(&e))? {
                return Err(format!("a role named `{name}` exists"));
            }
            admin.record(AuditKind::RoleCreated, None, &[("role", &name)]).await;
            for permission in &permissions {
                if admin.roles.grant_permission(&name, permission).await.map_err(|e| describe(&e))? {
                    admin
                        .record(
                            AuditKind::RolePermissionGranted,
                            None,
                            &[("role", &name), ("permission", permission)],
                        )
                        .await;
                }
            }
            let role = admin.find_role(&name).await?;
            println!("created role {}", role_line(&role.name, &role.permissions));
        }
        RoleCommand::Delete { name } => {
            if !admin.roles.delete_role(&name).await.map_err(|e| describe(&e))? {
                return Err(no_role(&name));
            }
            admin.record(AuditKind::RoleDeleted, None, &[("role", &name)]).await;
            println!("deleted role {name} with its permissions and assignments");
        }
        RoleCommand::Grant { name, permission } => {
            match admin.roles.grant_permission(&name, &permission).await {
                Ok(true) => {
                    admin
                        .record(
                            AuditKind::RolePermissionGranted,
                            None,
                            &[("role", &name), ("permission", &permission)],
                        )
                        .await;
                    println!("granted {permission} to role {name}");
                }
                Ok(false) => println!("role {name} already grants {permission}"),
                Err(AuthError::NotFound) => return Err(no_role(&name)),
                Err(e) => return Err(describe(&e)),
            }
        }
        RoleCommand::Revoke { name, permission } => {
            admin.find_role(&name).await?;
            if admin.roles.revoke_permission(&name, &permission).await.map_err(|e| describe(&e))? {
                admin
                    .record(
                        AuditKind::RolePermissionRevoked,
                        None,
                        &[("role", &name), ("permission", &permission)],
                    )
                    .await;
                println!("revoked {permission} from role {name}");
            } else {
                println!("role {name} does not grant {permission}");
            }
        }
        RoleCommand::List { json } => {
            let roles = admin.roles.list_roles().await.map_err(|e| describe(&e))?;
            let mut out = std::io::stdout().lock();
            for role in roles {
                let line = if json {
                    serde_json::to_string(&role).map_err(|e| e.to_string())?
                } else {
                    role_line(&role.name, &role.permissions)
                };
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// `user grant-role` or `user revoke-role`.
#[derive(Debug, Clone, Copy)]
enum Assignment {
    Grant,
    Revoke,
}

async fn user_role(settings: &Settings, command: UserRoleCommand) -> ExitCode {
    let result = match command {
        UserRoleCommand::GrantRole { username, role } => {
            assignment_command(settings, Assignment::Grant, &username, &role).await
        }
        UserRoleCommand::RevokeRole { username, role } => {
            assignment_command(settings, Assignment::Revoke, &username, &role).await
        }
        UserRoleCommand::Roles { username } => user_roles(settings, &username).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn assignment_command(
    settings: &Settings,
    change: Assignment,
    login: &str,
    role: &str,
) -> Result<(), String> {
    check_role_name(role)?;
    let admin = RoleAdmin::open(settings).await?;
    let user = admin.find_user(login).await?;
    let (id, username) = (user.id(), user.username().to_owned());
    match change {
        Assignment::Grant => match admin.roles.assign_role(&id, role).await {
            Ok(true) => {
                admin.record(AuditKind::RoleAssigned, Some(&id), &[("role", role)]).await;
                println!("assigned role {role} to {username}");
            }
            Ok(false) => println!("{username} already has role {role}"),
            Err(AuthError::NotFound) => return Err(no_role(role)),
            Err(e) => return Err(describe(&e)),
        },
        Assignment::Revoke => {
            admin.find_role(role).await?;
            if admin.roles.unassign_role(&id, role).await.map_err(|e| describe(&e))? {
                admin.record(AuditKind::RoleUnassigned, Some(&id), &[("role", role)]).await;
                println!("removed role {role} from {username}");
            } else {
                println!("{username} does not have role {role}");
            }
        }
    }
    Ok(())
}

async fn user_roles(settings: &Settings, login: &str) -> Result<(), String> {
    let admin = RoleAdmin::open(settings).await?;
    let user = admin.find_user(login).await?;
    let names = admin.roles.roles_of(&user.id()).await.map_err(|e| describe(&e))?;
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let permissions =
            admin.roles.permissions_of(std::slice::from_ref(&name)).await.map_err(|e| describe(&e))?;
        lines.push(role_line(&name, &permissions));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    Ok(())
}
