//! Writing what [`DjangoData`] holds into the Portcullis database: idempotently (a second run
//! changes nothing; a run after changes in Django updates), row by row (a row that cannot be
//! imported is reported and the rest goes on), or only reported (`--dry-run`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use portcullis::blacklist::{GrantStore, NewGrant, RefreshRecord};
use portcullis::core::{
    Accounts, RoleStore, UserId, normalize_email, normalize_login, validate_permission, validate_role_name,
};
use portcullis::mfa::{MfaKey, MfaStore, TotpFactor};
use portcullis::sea_orm::entity::users;
use portcullis::sea_orm::{SeaOrmGrantStore, SeaOrmMfaStore, SeaOrmOpaqueTokenStore, SeaOrmRoleStore};
use portcullis::token::{OpaqueTokenRecord, OpaqueTokenStore, TokenHash};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::source::{DjangoData, DjangoUser};

/// The grant kind of an imported DRF token (an opaque token: listed with the sessions).
const TOKEN_GRANT_KIND: &str = "token";
/// The name of an imported DRF token, shown in the sessions list.
const DRF_TOKEN_NAME: &str = "Django REST framework token";
/// The grant kind of an imported simplejwt refresh token.
const JWT_GRANT_KIND: &str = "jwt";
/// The prefix of an imported refresh token's record id (`django-<jti>`), which the exchange
/// endpoint consumes.
pub const IMPORTED_REFRESH_PREFIX: &str = "django-";

/// How to import.
#[derive(Debug)]
pub struct ImportOptions {
    /// Report only: nothing is written.
    pub dry_run: bool,
    /// Until when imported DRF tokens work (their records expire then).
    pub legacy_tokens_until: DateTime<Utc>,
    /// The key TOTP secrets are sealed with (the server's MFA key); `None`: TOTP not imported.
    pub mfa_key: Option<MfaKey>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Counts of one kind of row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Rows created.
    pub created: u64,
    /// Rows changed.
    pub updated: u64,
    /// Rows already as in Django.
    pub unchanged: u64,
    /// Rows deliberately not imported (expired, blacklisted, no key).
    pub skipped: u64,
    /// Rows that could not be imported (named in the errors).
    pub failed: u64,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Default)]
pub struct Report {
    /// Counts per kind, in the order of the table.
    pub counts: BTreeMap<&'static str, Counts>,
    /// One line per row that could not be imported.
    pub errors: Vec<String>,
    /// Remarks (renamed groups, skipped tables, kept passwords).
    pub notes: Vec<String>,
    /// Whether nothing was written.
    pub dry_run: bool,
}

impl Report {
    fn count(&mut self, kind: &'static str) -> &mut Counts {
        self.counts.entry(kind).or_default()
    }

    fn fail(&mut self, kind: &'static str, message: String) {
        self.count(kind).failed += 1;
        self.errors.push(format!("{kind}: {message}"));
    }

    /// Whether any row failed.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The summary table, then the errors and notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            let _ = writeln!(out, "dry run: nothing was written; this is what an import would do");
        }
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>8} {:>10} {:>8} {:>7}",
            "kind", "created", "updated", "unchanged", "skipped", "failed"
        );
        for kind in KINDS {
            let c = self.counts.get(kind).copied().unwrap_or_default();
            let _ = writeln!(
                out,
                "{kind:<22} {:>8} {:>8} {:>10} {:>8} {:>7}",
                c.created, c.updated, c.unchanged, c.skipped, c.failed
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "error: {error}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

const USERS: &str = "users";
const ROLES: &str = "roles (groups)";
const PERMISSIONS: &str = "role permissions";
const ASSIGNMENTS: &str = "role assignments";
const TOKENS: &str = "drf tokens";
const REFRESH: &str = "refresh tokens";
const TOTP: &str = "totp factors";
const KINDS: [&str; 7] = [USERS, ROLES, PERMISSIONS, ASSIGNMENTS, TOKENS, REFRESH, TOTP];

/// Whether `jti` can be a simplejwt token id (uuid4 hex by default): 1 to 64 ASCII letters,
/// digits, `-` and `_`. The import and the exchange endpoint both hold to it.
pub fn is_jti(jti: &str) -> bool {
    !jti.is_empty()
        && jti.len() <= 64
        && jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Django's permission `app_label.codename` as a Portcullis permission `app_label:codename`.
pub fn permission_name(django: &str) -> String {
    match django.split_once('.') {
        Some((app, codename)) => format!("{}:{}", app.to_lowercase(), codename.to_lowercase()),
        None => django.to_lowercase(),
    }
}

/// A Django group name as a role name: lowercase, every character other than `a-z 0-9 _ - .`
/// (spaces included) replaced by `-`.
pub fn role_name(group: &str) -> String {
    let mut name: String = group
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c) { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.trim_matches('-').to_owned()
}

/// The role holding the permissions given to one Django user directly: `django-user-<id>`, or,
/// for a dumpdata file with natural primary keys (users without ids), `django-user-<username>`
/// as a role name ([`role_name`]).
fn personal_role(user: &DjangoUser) -> String {
    if user.pk > 0 {
        format!("django-user-{}", user.pk)
    } else {
        format!("django-user-{}", role_name(&user.username))
    }
}

/// What the user's email and its verified flag become: allauth's primary address, else a
/// verified one, else `auth_user.email` (unverified).
fn email_of(user: &DjangoUser, data: &DjangoData) -> Option<(String, bool)> {
    let mine: Vec<_> = data.emails.iter().filter(|e| e.user == user.pk).collect();
    let chosen = mine.iter().find(|e| e.primary).or_else(|| mine.iter().find(|e| e.verified));
    if let Some(e) = chosen {
        return Some((e.email.clone(), e.verified));
    }
    let email = user.email.trim();
    if email.is_empty() {
        return None;
    }
    let verified = mine.iter().any(|e| normalize_email(&e.email) == normalize_email(email) && e.verified);
    Some((email.to_owned(), verified))
}

/// Whether a stored hash is Portcullis's own (argon2id PHC): a password set or upgraded in
/// Portcullis after an earlier import, which a re-import must not put back.
fn is_portcullis_hash(hash: &str) -> bool {
    hash.starts_with('$')
}

/// Imports `data` into the Portcullis database `db`.
pub async fn import(db: &DatabaseConnection, data: &DjangoData, options: &ImportOptions) -> Report {
    let mut report = Report { dry_run: options.dry_run, ..Report::default() };
    for table in &data.missing_tables {
        report.notes.push(format!(
            "the Django project has no {table} table (app not installed): nothing of it imported"
        ));
    }
    let users = import_users(db, data, options, &mut report).await;
    import_roles(db, data, &users, options, &mut report).await;
    import_tokens(db, data, &users, options, &mut report).await;
    import_refresh_tokens(db, data, &users, options, &mut report).await;
    import_totp(db, data, &users, options, &mut report).await;
    report
}

/// Imports the users; returns Django pk → Portcullis user id (for the users now in Portcullis;
/// in a dry run, ids of existing users and placeholders for new ones).
async fn import_users(
    db: &DatabaseConnection,
    data: &DjangoData,
    options: &ImportOptions,
    report: &mut Report,
) -> HashMap<i64, UserId> {
    let mut ids = HashMap::new();
    for user in &data.users {
        match import_user(db, user, data, options, report).await {
            Ok(id) => {
                ids.insert(user.pk, id);
            }
            Err(message) => report.fail(USERS, format!("`{}` (id {}): {message}", user.username, user.pk)),
        }
    }
    ids
}

async fn import_user(
    db: &DatabaseConnection,
    user: &DjangoUser,
    data: &DjangoData,
    options: &ImportOptions,
    report: &mut Report,
) -> Result<UserId, String> {
    // Django's usernames also allow `@` (projects that use the email address as the username);
    // Portcullis's registration does not, but an imported one keeps it: it is how the user signs in.
    Accounts::<portcullis::sea_orm::SeaOrmUserStore>::validate_username(&user.username.replace('@', "."))
        .map_err(|e| format!("username refused: {}", e.body().detail))?;
    let password = if user.password.is_empty() || portcullis::core::django_hash::is_unusable(&user.password) {
        // An unusable password: an account that signs in another way (or after a reset).
        None
    } else {
        portcullis::core::django_hash::check_django_hash(&user.password)
            .map_err(|e| format!("password hash refused: {e}"))?;
        Some(user.password.clone())
    };
    let email = email_of(user, data);
    if let Some((address, _)) = &email {
        Accounts::<portcullis::sea_orm::SeaOrmUserStore>::validate_email(address)
            .map_err(|_| format!("email `{address}` is not a valid address"))?;
    }
    let normalized = normalize_login(&user.username);
    let existing = users::Entity::find()
        .filter(users::Column::UsernameNormalized.eq(normalized.clone()))
        .one(db)
        .await
        .map_err(|e| e.to_string())?;
    let email_normalized = email.as_ref().map(|(a, _)| normalize_email(a));
    if let Some(wanted) = &email_normalized {
        let holder = users::Entity::find()
            .filter(users::Column::EmailNormalized.eq(wanted.clone()))
            .one(db)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(holder) = holder
            && existing.as_ref().is_none_or(|e| e.id != holder.id)
        {
            return Err(format!("email `{wanted}` already belongs to Portcullis user `{}`", holder.username));
        }
    }
    let date_joined = user.date_joined.unwrap_or(options.now);
    let (email, email_verified) = match email {
        Some((address, verified)) => (Some(address), verified),
        None => (None, false),
    };
    match existing {
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            report.count(USERS).created += 1;
            if !options.dry_run {
                let row = users::ActiveModel {
                    id: Set(id.clone()),
                    username: Set(user.username.clone()),
                    username_normalized: Set(normalized),
                    email: Set(email),
                    email_normalized: Set(email_normalized),
                    email_verified: Set(email_verified),
                    password_hash: Set(password),
                    is_active: Set(user.is_active),
                    is_staff: Set(user.is_staff),
                    is_superuser: Set(user.is_superuser),
                    roles: Set("[]".to_owned()),
                    date_joined: Set(date_joined),
                    tenant: Set(None),
                    last_login: Set(user.last_login),
                };
                row.insert(db).await.map_err(|e| e.to_string())?;
            }
            Ok(UserId::new(id))
        }
        Some(current) => {
            let id = UserId::new(current.id.clone());
            // A password set (or upgraded at sign-in) in Portcullis since is kept.
            let password = match (&current.password_hash, password) {
                (Some(ours), Some(theirs)) if is_portcullis_hash(ours) => {
                    if !options.dry_run && current.password_hash.as_deref() != Some(theirs.as_str()) {
                        report.notes.push(format!(
                            "`{}`: password kept (set or upgraded in Portcullis since the last import)",
                            user.username
                        ));
                    }
                    current.password_hash.clone()
                }
                (_, theirs) => theirs,
            };
            let last_login = match (current.last_login, user.last_login) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let same = current.username == user.username
                && current.email == email
                && current.email_verified
                    == (email_verified || (current.email_verified && current.email == email))
                && current.password_hash == password
                && current.is_active == user.is_active
                && current.is_staff == user.is_staff
                && current.is_superuser == user.is_superuser
                && current.last_login == last_login;
            if same {
                report.count(USERS).unchanged += 1;
                return Ok(id);
            }
            report.count(USERS).updated += 1;
            if !options.dry_run {
                // A verification made in Portcullis since is kept while the address is the same.
                let verified = email_verified || (current.email_verified && current.email == email);
                let mut row: users::ActiveModel = current.into();
                row.username = Set(user.username.clone());
                row.email = Set(email);
                row.email_normalized = Set(email_normalized);
                row.email_verified = Set(verified);
                row.password_hash = Set(password);
                row.is_active = Set(user.is_active);
                row.is_staff = Set(user.is_staff);
                row.is_superuser = Set(user.is_superuser);
                row.last_login = Set(last_login);
                row.update(db).await.map_err(|e| e.to_string())?;
            }
            Ok(id)
        }
    }
}

/// Groups → roles with their permissions, users' groups → role assignments, permissions given
/// to a user directly → a role of the user's own (`django-user-<id>`).
async fn import_roles(
    db: &DatabaseConnection,
    data: &DjangoData,
    users: &HashMap<i64, UserId>,
    options: &ImportOptions,
    report: &mut Report,
) {
    let roles = SeaOrmRoleStore::new(db.clone());
    let mut role_of_group: HashMap<i64, String> = HashMap::new();
    let mut wanted: Vec<(String, String, Vec<i64>)> = Vec::new();
    for (pk, group) in &data.groups {
        let name = role_name(group);
        if let Err(e) = validate_role_name(&name) {
            report.fail(ROLES, format!("group `{group}`: no valid role name ({})", e.body().detail));
            continue;
        }
        if name != *group {
            report.notes.push(format!("group `{group}` is role `{name}`"));
        }
        role_of_group.insert(*pk, name.clone());
        let permissions = data.group_permissions.get(pk).cloned().unwrap_or_default();
        wanted.push((name, format!("Django group \"{group}\""), permissions));
    }
    for user in &data.users {
        if !user.permissions.is_empty() && users.contains_key(&user.pk) {
            wanted.push((
                personal_role(user),
                format!("Permissions of Django user \"{}\"", user.username),
                user.permissions.clone(),
            ));
        }
    }
    for (name, description, permissions) in &wanted {
        match roles.find_role(name).await {
            Ok(Some(_)) => report.count(ROLES).unchanged += 1,
            Ok(None) => {
                report.count(ROLES).created += 1;
                if !options.dry_run
                    && let Err(e) = roles.create_role(name, description, options.now).await
                {
                    report.fail(ROLES, format!("`{name}`: {e}"));
                    continue;
                }
            }
            Err(e) => {
                report.fail(ROLES, format!("`{name}`: {e}"));
                continue;
            }
        }
        let current = roles.permissions_of(std::slice::from_ref(name)).await.unwrap_or_default();
        for pk in permissions {
            let Some(django) = data.permissions.get(pk) else {
                report.fail(PERMISSIONS, format!("role `{name}`: unknown permission id {pk}"));
                continue;
            };
            let permission = permission_name(django);
            if validate_permission(&permission).is_err() {
                report.fail(PERMISSIONS, format!("role `{name}`: permission `{django}` has no valid name"));
                continue;
            }
            if current.contains(&permission) {
                report.count(PERMISSIONS).unchanged += 1;
                continue;
            }
            report.count(PERMISSIONS).created += 1;
            if !options.dry_run
                && let Err(e) = roles.grant_permission(name, &permission).await
            {
                report.fail(PERMISSIONS, format!("role `{name}`, `{permission}`: {e}"));
            }
        }
    }
    for user in &data.users {
        let Some(id) = users.get(&user.pk) else { continue };
        let mut names: Vec<String> =
            user.groups.iter().filter_map(|g| role_of_group.get(g).cloned()).collect();
        if !user.permissions.is_empty() {
            names.push(personal_role(user));
        }
        let current = roles.roles_of(id).await.unwrap_or_default();
        for name in names {
            if current.contains(&name) {
                report.count(ASSIGNMENTS).unchanged += 1;
                continue;
            }
            report.count(ASSIGNMENTS).created += 1;
            if !options.dry_run
                && let Err(e) = roles.assign_role(id, &name).await
            {
                report.fail(ASSIGNMENTS, format!("`{}` → `{name}`: {e}", user.username));
            }
        }
    }
}

/// A deterministic grant id for an imported credential: the same row imports into the same
/// grant, so a second run finds it (also once revoked, and then leaves it revoked).
fn grant_id_for(kind: &str, secret_hash: &TokenHash) -> String {
    format!("django-{kind}-{}", &secret_hash.as_hex()[..32])
}

/// DRF tokens → opaque tokens of the legacy format, hashed at rest, each in a grant of its own
/// (listed in sessions, revocable).
async fn import_tokens(
    db: &DatabaseConnection,
    data: &DjangoData,
    users: &HashMap<i64, UserId>,
    options: &ImportOptions,
    report: &mut Report,
) {
    let grants = SeaOrmGrantStore::new(db.clone());
    let tokens = SeaOrmOpaqueTokenStore::new(db.clone());
    for token in &data.tokens {
        let shown = token.key.get(..8).unwrap_or_default();
        if !portcullis::flows::is_legacy_token(&token.key) {
            report.fail(TOKENS, format!("token {shown}…: not 40 hexadecimal digits"));
            continue;
        }
        let Some(user) = users.get(&token.user) else {
            report.fail(TOKENS, format!("token {shown}…: its user (id {}) was not imported", token.user));
            continue;
        };
        if options.legacy_tokens_until <= options.now {
            report.count(TOKENS).skipped += 1;
            continue;
        }
        let hash = TokenHash::of(&token.key);
        let grant_id = grant_id_for("drf", &hash);
        match grants.find_grant(&grant_id).await {
            Ok(Some(_)) => {
                report.count(TOKENS).unchanged += 1;
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                report.fail(TOKENS, format!("token {shown}…: {e}"));
                continue;
            }
        }
        report.count(TOKENS).created += 1;
        if options.dry_run {
            continue;
        }
        let created = token.created.unwrap_or(options.now).min(options.now);
        let expires = options.legacy_tokens_until;
        let record_id = format!("{grant_id}-t");
        let mut grant =
            NewGrant::new(grant_id.clone(), user.clone(), created, expires).kind(TOKEN_GRANT_KIND);
        // What the sessions list shows for the token (an issued token's name goes there too).
        grant.user_agent = Some(DRF_TOKEN_NAME.to_owned());
        let first = RefreshRecord::new(record_id.clone(), grant_id.clone(), user.clone(), created, expires);
        let record = OpaqueTokenRecord::new(record_id, hash, shown, user.clone(), grant_id, created, expires)
            .name(Some(DRF_TOKEN_NAME.to_owned()))
            .amr(vec!["pwd".to_owned()]);
        let written = async {
            grants.create_grant(grant, first).await?;
            tokens.insert(record).await
        };
        if let Err(e) = written.await {
            report.fail(TOKENS, format!("token {shown}…: {e}"));
        }
    }
}

/// Outstanding simplejwt refresh tokens that are neither blacklisted nor expired → a grant each,
/// whose first record (`django-<jti>`) the exchange endpoint consumes once. A token blacklisted
/// since an earlier import has its grant revoked.
async fn import_refresh_tokens(
    db: &DatabaseConnection,
    data: &DjangoData,
    users: &HashMap<i64, UserId>,
    options: &ImportOptions,
    report: &mut Report,
) {
    let grants = SeaOrmGrantStore::new(db.clone());
    for token in &data.outstanding {
        let jti = token.jti.trim();
        if !is_jti(jti) {
            report.fail(REFRESH, format!("jti `{jti}`: not an identifier"));
            continue;
        }
        let grant_id = format!("{IMPORTED_REFRESH_PREFIX}jwt-{jti}");
        let existing = match grants.find_grant(&grant_id).await {
            Ok(existing) => existing,
            Err(e) => {
                report.fail(REFRESH, format!("jti {jti}: {e}"));
                continue;
            }
        };
        let expired = token.expires.is_none_or(|e| e <= options.now);
        if token.blacklisted || expired {
            match existing {
                Some(grant) if grant.revoked_at.is_none() && token.blacklisted => {
                    report.count(REFRESH).updated += 1;
                    if !options.dry_run
                        && let Err(e) = grants.revoke_grant(&grant_id, options.now).await
                    {
                        report.fail(REFRESH, format!("jti {jti}: {e}"));
                    }
                }
                _ => report.count(REFRESH).skipped += 1,
            }
            continue;
        }
        if existing.is_some() {
            report.count(REFRESH).unchanged += 1;
            continue;
        }
        let Some(user) = token.user.and_then(|u| users.get(&u)) else {
            report.fail(REFRESH, format!("jti {jti}: its user was not imported"));
            continue;
        };
        report.count(REFRESH).created += 1;
        if options.dry_run {
            continue;
        }
        let created = token.created.unwrap_or(options.now).min(options.now);
        let expires = token.expires.unwrap_or(options.now);
        let grant = NewGrant::new(grant_id.clone(), user.clone(), created, expires).kind(JWT_GRANT_KIND);
        let first = RefreshRecord::new(
            format!("{IMPORTED_REFRESH_PREFIX}{jti}"),
            grant_id,
            user.clone(),
            created,
            expires,
        );
        if let Err(e) = grants.create_grant(grant, first).await {
            report.fail(REFRESH, format!("jti {jti}: {e}"));
        }
    }
}

/// allauth TOTP authenticators → active TOTP factors, the secret sealed with the MFA key.
/// allauth keeps the secret as its adapter's `encrypt()` made it: the default adapter stores it
/// as is (base32); a secret that is not base32 was encrypted by a custom adapter and is
/// reported.
async fn import_totp(
    db: &DatabaseConnection,
    data: &DjangoData,
    users: &HashMap<i64, UserId>,
    options: &ImportOptions,
    report: &mut Report,
) {
    let store = SeaOrmMfaStore::new(db.clone());
    for authenticator in data.authenticators.iter().filter(|a| a.kind == "totp") {
        let Some(user) = users.get(&authenticator.user) else {
            report.fail(TOTP, format!("user id {}: not imported", authenticator.user));
            continue;
        };
        let Some(key) = &options.mfa_key else {
            report.count(TOTP).skipped += 1;
            report.notes.push("TOTP factors not imported: no MFA key configured".to_owned());
            continue;
        };
        let Some(secret) = authenticator.data["secret"].as_str().and_then(base32_decode) else {
            report.fail(
                TOTP,
                format!(
                    "user id {}: the secret is not base32 (encrypted by a custom allauth adapter?)",
                    authenticator.user
                ),
            );
            continue;
        };
        match store.totp_factor(user).await {
            Ok(Some(factor)) if factor.is_active() => {
                report.count(TOTP).unchanged += 1;
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                report.fail(TOTP, format!("user id {}: {e}", authenticator.user));
                continue;
            }
        }
        report.count(TOTP).created += 1;
        if options.dry_run {
            continue;
        }
        let written = async {
            let sealed = key.seal(&secret, user.as_str().as_bytes()).map_err(|e| e.to_string())?;
            store
                .put_pending_totp(TotpFactor::pending(user.clone(), sealed.clone(), options.now))
                .await
                .map_err(|e| e.to_string())?;
            store.activate_totp(user, &sealed, 0, Vec::new(), options.now).await.map_err(|e| e.to_string())
        };
        match written.await {
            Ok(true) => {}
            Ok(false) => report.fail(TOTP, format!("user id {}: could not be activated", authenticator.user)),
            Err(e) => report.fail(TOTP, format!("user id {}: {e}", authenticator.user)),
        }
    }
}

/// RFC 4648 base32 (upper or lower case, padding optional).
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut count = 0u32;
    let mut out = Vec::new();
    for c in text.trim().trim_end_matches('=').chars() {
        let value = match c.to_ascii_uppercase() {
            c @ 'A'..='Z' => c as u64 - 'A' as u64,
            c @ '2'..='7' => c as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_portcullis_rules() {
        assert_eq!(permission_name("auth.change_user"), "auth:change_user");
        assert_eq!(role_name("Content Editors"), "content-editors");
        assert_eq!(role_name("  Ops / On-call "), "ops-on-call");
        assert!(validate_role_name(&role_name("Content Editors")).is_ok());
        assert!(validate_permission(&permission_name("auth.change_user")).is_ok());
    }

    #[test]
    fn base32_of_rfc4648() {
        assert_eq!(base32_decode("MZXW6YTBOI======").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_decode("mzxw6ytboi").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_decode("not base32!"), None);
    }
}
