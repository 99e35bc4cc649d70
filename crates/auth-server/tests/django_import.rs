//! `portcullis import django` against a real Django project (Django, DRF, simplejwt and allauth
//! from PyPI, in a virtual environment made by `tests/django/setup.sh`): its SQLite file, its
//! PostgreSQL database and its `dumpdata` JSON; then, over HTTP, sign-in with the original
//! passwords (the hashes upgraded to argon2id afterwards), the DRF token, the simplejwt refresh
//! tokens (outstanding: exchanged once; blacklisted or expired: never), and a second import that
//! changes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use auth_server::config::Secret;
use auth_server::{Adapter, Settings};
use portcullis::core::{RoleStore, SystemClock, UserId};
use portcullis::sea_orm::SeaOrmRoleStore;
use portcullis::sea_orm::entity::users;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const JWT_SECRET: &str = "a test secret of at least thirty-two bytes!!";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The virtual environment's python (made, or found made, by `tests/django/setup.sh`; once per
/// test binary, so that two tests never install into it at the same time).
fn django_python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let out = Command::new("bash").arg(repo_root().join("tests/django/setup.sh")).output().unwrap();
            assert!(
                out.status.success(),
                "tests/django/setup.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned()
        })
        .clone()
}

/// Builds the Django project's database at `database` (a SQLite path or a PostgreSQL URL);
/// returns its manifest.
fn make_project(python: &str, database: &str, dir: &Path, dumpdata: Option<(&Path, &Path)>) -> Value {
    let manifest = dir.join(format!("manifest-{}.json", std::process::id()));
    let mut command = Command::new(python);
    command
        .arg(repo_root().join("tests/django/make_project.py"))
        .args(["--database", database, "--out"])
        .arg(&manifest);
    if let Some((plain, natural)) = dumpdata {
        command.arg("--dumpdata").arg(plain).arg("--dumpdata-natural").arg(natural);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "make_project.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap()
}

fn settings(dir: &Path, database_url: String, manifest: &Value) -> Settings {
    let mut settings = Settings::default();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = database_url;
    settings.keys_dir = dir.join("keys");
    settings.jwt_algorithm = "HS256".parse().unwrap();
    settings.jwt_secret = Some(Secret::new(JWT_SECRET.to_owned()));
    settings.argon2_memory_kib = 64;
    settings.argon2_iterations = 1;
    settings.adapter = Adapter::Axum;
    settings.legacy_tokens_until =
        Some(portcullis::core::Clock::now(&SystemClock) + chrono::Duration::days(30));
    settings.django_signing_key = Some(Secret::new(manifest["secret_key"].as_str().unwrap().to_owned()));
    settings
}

/// Runs the real `portcullis import django` with the server's settings in the environment.
fn import(settings: &Settings, from: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["import", "django", "--from", from])
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORTCULLIS_DATABASE_URL", &settings.database_url)
        .env("PORTCULLIS_KEYS_DIR", &settings.keys_dir)
        .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
        .env("PORTCULLIS_JWT_SECRET", JWT_SECRET)
        .env("PORTCULLIS_LEGACY_TOKENS_UNTIL", settings.legacy_tokens_until.unwrap().to_rfc3339())
        .env("PORTCULLIS_LOG", "warn")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The row of `kind` in the summary table: created, updated, unchanged, skipped, failed.
fn row(report: &str, kind: &str) -> [u64; 5] {
    let line =
        report.lines().find(|l| l.starts_with(kind)).unwrap_or_else(|| panic!("no `{kind}` in\n{report}"));
    let numbers: Vec<u64> = line[kind.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect();
    numbers.try_into().unwrap()
}

fn user_of<'a>(manifest: &'a Value, username: &str) -> &'a Value {
    manifest["users"].as_array().unwrap().iter().find(|u| u["username"] == username).unwrap()
}

async fn stored_hash(db: &sea_orm::DatabaseConnection, username: &str) -> Option<String> {
    users::Entity::find()
        .filter(users::Column::Username.eq(username))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

async fn sign_in(client: &reqwest::Client, base: &str, username: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{base}/api/auth/mobile/sign-in"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

fn totp_now(secret_base32: &str) -> String {
    let uri = format!("otpauth://totp/Django:user?secret={secret_base32}&issuer=Django");
    let now = u64::try_from(portcullis::core::Clock::now(&SystemClock).timestamp()).unwrap();
    totp_rs::Totp::from_url(uri).unwrap().generate(now).to_string()
}

/// Everything a migrated deployment relies on, checked over HTTP against a server on the
/// imported database.
async fn check_imported(settings: &Settings, manifest: &Value) {
    let server = auth_server::app::start(settings, SystemClock::shared()).await.unwrap();
    let base = server.url();
    let client = reqwest::Client::new();
    let db = sea_orm::Database::connect(&settings.database_url).await.unwrap();

    // Every usable password signs in as it did in Django, whatever its hasher; the hash is then
    // argon2id.
    for user in manifest["users"].as_array().unwrap() {
        let username = user["username"].as_str().unwrap();
        let Some(password) = user["password"].as_str() else { continue };
        let before = stored_hash(&db, username).await.unwrap();
        assert!(!before.starts_with("$argon2id$"), "{username}: imported as Django stored it: {before}");
        if ["pbkdf2_user", "argon2_user", "bcryptsha256_user", "scrypt_user"].contains(&username) {
            let wrong = sign_in(&client, &base, username, "not the password at all").await;
            assert_eq!(wrong.status(), 401, "{username}: a wrong password");
        }
        let r = sign_in(&client, &base, username, password).await;
        if user["is_active"] == false {
            assert_eq!(r.status(), 401, "{username} is inactive");
            continue;
        }
        assert_eq!(r.status(), 200, "{username} ({}) signs in with the Django password", user["hasher"]);
        let body: Value = r.json().await.unwrap();
        if let Some(totp) = manifest["totp"].as_object().filter(|t| t["username"] == username) {
            // The allauth TOTP factor came along: the second step is required, and its code works.
            assert!(body["mfa_token"].is_string(), "{username} has TOTP: {body}");
            let done = client
                .post(format!("{base}/api/auth/mfa/verify"))
                .json(&json!({"mfa_token": body["mfa_token"], "code": totp_now(totp["secret"].as_str().unwrap())}))
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 200, "{username}: the TOTP code of the Django secret");
        } else {
            assert!(body["access"].is_string(), "{username}: {body}");
        }
        let after = stored_hash(&db, username).await.unwrap();
        assert!(after.starts_with("$argon2id$"), "{username}: upgraded at sign-in: {after}");
        assert_eq!(sign_in(&client, &base, username, password).await.status(), 200, "{username} again");
    }
    // An unusable Django password is a password-less account.
    let unusable = manifest["users"].as_array().unwrap().iter().find(|u| u["password"].is_null()).unwrap();
    let name = unusable["username"].as_str().unwrap();
    assert_eq!(stored_hash(&db, name).await, None);

    // Groups are roles with the groups' permissions; flags and verified emails came along.
    let roles = SeaOrmRoleStore::new(db.clone());
    for user in manifest["users"].as_array().unwrap() {
        let username = user["username"].as_str().unwrap();
        let row = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.is_staff, user["is_staff"] == true, "{username}");
        assert_eq!(row.is_superuser, user["is_superuser"] == true, "{username}");
        assert_eq!(row.is_active, user["is_active"] == true, "{username}");
        assert_eq!(row.email_verified, user["email_verified"] == true, "{username}");
        let id = UserId::new(row.id);
        let mut have = roles.roles_of(&id).await.unwrap();
        have.retain(|r| !r.starts_with("django-user-"));
        have.sort();
        let mut want: Vec<String> =
            user["groups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_lowercase()).collect();
        want.sort();
        assert_eq!(have, want, "{username}: groups are roles");
        let all = roles.roles_of(&id).await.unwrap();
        let mut permissions = roles.permissions_of(&all).await.unwrap();
        permissions.sort();
        let mut expected: Vec<String> = user["effective_permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().replacen('.', ":", 1))
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(permissions, expected, "{username}: Django permissions");
    }

    // The DRF token keeps working as `Authorization: Token <key>`, is listed with the sessions,
    // and is revocable.
    let (owner, key) = manifest["drf_tokens"].as_object().unwrap().iter().next().unwrap();
    let key = key.as_str().unwrap();
    let me = client
        .get(format!("{base}/api/auth/me"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the DRF token authenticates");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], owner.as_str());
    let sessions: Value = client
        .get(format!("{base}/api/auth/sessions"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(sessions.to_string().contains("Django REST framework token"), "listed: {sessions}");
    let tampered = format!("{}{}", &key[..39], if key.ends_with('0') { '1' } else { '0' });
    let r = client
        .get(format!("{base}/api/auth/me"))
        .header("authorization", format!("Token {tampered}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "another 40-hex token is nobody's");
    let out = client
        .post(format!("{base}/api/auth/token/sign-out"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "sign-out with the DRF token: {}", out.status());
    let r = client
        .get(format!("{base}/api/auth/me"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "revoked");

    // simplejwt refresh tokens: an outstanding one is exchanged once for a Portcullis pair; a
    // blacklisted or expired one never.
    let exchange = |token: String| {
        let client = client.clone();
        let url = format!("{base}/api/auth/django/token-exchange");
        async move { client.post(url).json(&json!({"refresh": token})).send().await.unwrap() }
    };
    for token in manifest["refresh_tokens"].as_array().unwrap() {
        let text = token["token"].as_str().unwrap().to_owned();
        let r = exchange(text.clone()).await;
        if token["blacklisted"] == true || token["expired"] == true {
            assert_eq!(r.status(), 401, "blacklisted/expired: {token}");
            continue;
        }
        assert_eq!(r.status(), 200, "outstanding: {token}");
        let pair: Value = r.json().await.unwrap();
        let me = client
            .get(format!("{base}/api/auth/me"))
            .bearer_auth(pair["access"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["username"], token["username"]);
        let refreshed = client
            .post(format!("{base}/api/auth/mobile/token-refresh"))
            .json(&json!({"refresh": pair["refresh"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(refreshed.status(), 200, "the Portcullis refresh token rotates as any");
        assert_eq!(exchange(text).await.status(), 401, "honoured once");
    }
    let forged = {
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        let first = manifest["refresh_tokens"][0]["token"].as_str().unwrap();
        let parts: Vec<&str> = first.split('.').collect();
        format!("{header}.{}.{}", parts[1], "AAAA")
    };
    assert_eq!(exchange(forged).await.status(), 401, "a bad signature");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_project_moves_without_password_resets() {
    let python = django_python();
    let dir = tempfile::tempdir().unwrap();
    let django_db = dir.path().join("django.sqlite3");
    let dump = dir.path().join("dump.json");
    let natural = dir.path().join("dump-natural.json");
    let manifest = make_project(&python, django_db.to_str().unwrap(), dir.path(), Some((&dump, &natural)));
    let portcullis_url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    let settings = settings(dir.path(), portcullis_url.clone(), &manifest);
    let from = django_db.to_str().unwrap();

    // A dry run reports and writes nothing.
    let (code, report) = import(&settings, from, &["--dry-run"]);
    assert_eq!(code, 0, "{report}");
    let users = manifest["users"].as_array().unwrap().len() as u64;
    assert_eq!(row(&report, "users")[0], users, "{report}");
    let db = sea_orm::Database::connect(&portcullis_url).await.unwrap();
    assert_eq!(users::Entity::find().all(&db).await.unwrap().len(), 0, "a dry run writes nothing");

    let (code, report) = import(&settings, from, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(row(&report, "users"), [users, 0, 0, 0, 0], "{report}");
    assert_eq!(
        row(&report, "drf tokens")[0],
        manifest["drf_tokens"].as_object().unwrap().len() as u64,
        "{report}"
    );
    let outstanding = manifest["refresh_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["blacklisted"] == false && t["expired"] == false)
        .count() as u64;
    assert_eq!(row(&report, "refresh tokens")[0], outstanding, "{report}");
    assert_eq!(row(&report, "totp factors")[0], 1, "{report}");
    // Stored hashed: no table holds the DRF key.
    for (_, key) in manifest["drf_tokens"].as_object().unwrap() {
        let hits = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT id FROM portcullis_opaque_tokens WHERE token_hash = '{}' OR lookup = '{}'",
                    key.as_str().unwrap(),
                    key.as_str().unwrap()
                ),
            ))
            .await
            .unwrap();
        assert!(hits.is_empty(), "the key itself is not stored");
    }

    // A second import changes nothing.
    let (code, again) = import(&settings, from, &[]);
    assert_eq!(code, 0, "{again}");
    for kind in [
        "users",
        "roles (groups)",
        "role permissions",
        "role assignments",
        "drf tokens",
        "refresh tokens",
        "totp factors",
    ] {
        let [created, updated, _, _, failed] = row(&again, kind);
        assert_eq!((created, updated, failed), (0, 0, 0), "second import, {kind}:\n{again}");
    }

    check_imported(&settings, &manifest).await;

    // After the sign-ins (hashes upgraded, tokens used): a third import still changes nothing and
    // does not put the Django hashes back.
    let (code, third) = import(&settings, from, &[]);
    assert_eq!(code, 0, "{third}");
    assert_eq!(row(&third, "users")[..2], [0, 0], "{third}");
    let db = sea_orm::Database::connect(&portcullis_url).await.unwrap();
    let name = manifest["users"][0]["username"].as_str().unwrap();
    assert!(stored_hash(&db, name).await.unwrap().starts_with("$argon2id$"));

    // The dumpdata file imports the same accounts.
    let dump_url = format!("sqlite://{}?mode=rwc", dir.path().join("from-dump.db").display());
    let dump_settings = self::settings(dir.path(), dump_url.clone(), &manifest);
    let (code, report) = import(&dump_settings, dump.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(row(&report, "users")[0], users, "{report}");
    let server = auth_server::app::start(&dump_settings, SystemClock::shared()).await.unwrap();
    let client = reqwest::Client::new();
    let user = user_of(&manifest, "pbkdf2_user");
    let r = sign_in(&client, &server.url(), "pbkdf2_user", user["password"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let key = manifest["drf_tokens"]["bcrypt_user"].as_str().unwrap();
    let me = |base: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{base}/api/auth/me"))
                .header("authorization", format!("Token {key}"))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(me(server.url()).await.status(), 200);
    server.shutdown().await.unwrap();
    // Past PORTCULLIS_LEGACY_TOKENS_UNTIL, the legacy format is refused.
    let mut after = dump_settings.clone();
    after.legacy_tokens_until =
        Some(portcullis::core::Clock::now(&SystemClock) - chrono::Duration::seconds(1));
    let server = auth_server::app::start(&after, SystemClock::shared()).await.unwrap();
    assert_eq!(me(server.url()).await.status(), 401, "no longer accepted");
    server.shutdown().await.unwrap();

    // A dumpdata file with natural keys (`--natural-foreign --natural-primary`: users without
    // ids, foreign keys by username, group name, permission codename) imports the same.
    let natural_url = format!("sqlite://{}?mode=rwc", dir.path().join("from-natural.db").display());
    let natural_settings = self::settings(dir.path(), natural_url.clone(), &manifest);
    let (code, report) = import(&natural_settings, natural.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(row(&report, "users")[0], users, "{report}");
    assert_eq!(
        row(&report, "drf tokens")[0],
        manifest["drf_tokens"].as_object().unwrap().len() as u64,
        "{report}"
    );
    assert_eq!(row(&report, "refresh tokens")[0], outstanding, "{report}");
    let (code, again) = import(&natural_settings, natural.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(row(&again, "users"), [0, 0, users, 0, 0], "{again}");
    assert_eq!(row(&again, "role assignments")[..2], [0, 0], "{again}");
    let natural_db = sea_orm::Database::connect(&natural_url).await.unwrap();
    let roles = SeaOrmRoleStore::new(natural_db.clone());
    for user in manifest["users"].as_array().unwrap() {
        let username = user["username"].as_str().unwrap();
        let row = users::Entity::find()
            .filter(users::Column::Username.eq(username))
            .one(&natural_db)
            .await
            .unwrap()
            .unwrap();
        let id = UserId::new(row.id);
        let mut permissions = roles.permissions_of(&roles.roles_of(&id).await.unwrap()).await.unwrap();
        permissions.sort();
        let mut expected: Vec<String> = user["effective_permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().replacen('.', ":", 1))
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(permissions, expected, "{username}: permissions from natural keys");
    }

    // A hash demanding absurd work is refused at import, by name, and the rest goes on.
    let broken = dir.path().join("broken.json");
    let mut objects: Vec<Value> = serde_json::from_slice(&std::fs::read(&dump).unwrap()).unwrap();
    let mut absurd = objects.iter().find(|o| o["model"] == "auth.user").unwrap().clone();
    absurd["pk"] = json!(99_999);
    absurd["fields"]["username"] = json!("absurd_user");
    absurd["fields"]["email"] = json!("absurd@example.com");
    absurd["fields"]["password"] = json!("pbkdf2_sha256$2000000000$c2FsdA$AAAA");
    objects.push(absurd);
    std::fs::write(&broken, serde_json::to_vec(&objects).unwrap()).unwrap();
    let (code, report) = import(&dump_settings, broken.to_str().unwrap(), &[]);
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("absurd_user"), "{report}");
    assert_eq!(row(&report, "users"), [0, 0, users, 0, 1], "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_project_on_postgres_imports_too() {
    let Ok(admin_url) = std::env::var("PORTCULLIS_TEST_DATABASE_URL") else {
        assert!(std::env::var("CI").is_err(), "CI runs the PostgreSQL import test");
        eprintln!("SKIPPED: set PORTCULLIS_TEST_DATABASE_URL");
        return;
    };
    let python = django_python();
    let name = format!("django_src_{}", std::process::id());
    let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base_url, _) = admin_url.rsplit_once('/').unwrap();
    let django_url = format!("{base_url}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let manifest = make_project(&python, &django_url, dir.path(), None);
    let portcullis_url = format!("sqlite://{}?mode=rwc", dir.path().join("portcullis.db").display());
    let mut settings = settings(dir.path(), portcullis_url, &manifest);
    // The other adapter: the exchange route and legacy tokens are the same on both.
    settings.adapter = Adapter::Poem;
    let (code, report) = import(&settings, &django_url, &[]);
    assert_eq!(code, 0, "{report}");
    let users = manifest["users"].as_array().unwrap().len() as u64;
    assert_eq!(row(&report, "users"), [users, 0, 0, 0, 0], "{report}");
    let (code, again) = import(&settings, &django_url, &[]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(row(&again, "users"), [0, 0, users, 0, 0], "{again}");
    check_imported(&settings, &manifest).await;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
}
