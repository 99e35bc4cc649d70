//! The `portcullis` binary: serving on the embedded default, configuration errors, key generation
//! and the user admin commands.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_server::Settings;
use portcullis::core::{Clock as _, ManualClock};
use serde_json::{Value, json};

const SECRET: &str = "cli-test-secret-cli-test-secret-cli-test-secret-0123";

fn portcullis(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PORTCULLIS_LOG", "warn");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

async fn wait_healthy(client: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn serve_on_the_embedded_default_and_shut_down_gracefully() {
    serve_and_shut_down(None).await;
}

#[tokio::test]
async fn serve_with_the_poem_adapter() {
    serve_and_shut_down(Some("poem")).await;
}

async fn serve_and_shut_down(adapter: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = portcullis(dir.path());
    if let Some(adapter) = adapter {
        command.env("PORTCULLIS_ADAPTER", adapter);
    }
    let child = command
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = ServerProcess(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base, &mut server.0).await;

    // A development RS256 key was generated (private part 0600) and the SQLite file created.
    let pem = dir.path().join("keys/jwt-signing-rs256.pem");
    assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(dir.path().join("portcullis.db").exists());

    let r = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"username": "first", "password": "first user password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .post(format!("{base}/api/auth/mobile/sign-in"))
        .json(&json!({"username": "first", "password": "first user password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let r = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(tokens["access"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value =
        client.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");

    // SIGTERM: graceful shutdown, exit code 0.
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("generated a development key"), "{stderr}");
    assert!(!stderr.contains("first user password"));
}

#[test]
fn invalid_configuration_stops_the_server_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PORTCULLIS_ACCESS_TTL", "soon")], "PORTCULLIS_ACCESS_TTL"),
        (&[("PORTCULLIS_BIND", "localhost")], "PORTCULLIS_BIND"),
        (&[("PORTCULLIS_JWT_ALGORITHM", "none")], "PORTCULLIS_JWT_ALGORITHM"),
        (
            &[("PORTCULLIS_JWT_ALGORITHM", "HS256"), ("PORTCULLIS_JWT_SECRET", "short")],
            "PORTCULLIS_JWT_SECRET",
        ),
        (&[("PORTCULLIS_JWT_PRIVATE_KEY_FILE", "/nonexistent.pem")], "PORTCULLIS_JWT_PRIVATE_KEY_FILE"),
        (&[("PORTCULLIS_ALLOWED_ORIGINS", "*")], "PORTCULLIS_ALLOWED_ORIGINS"),
        (&[("PORTCULLIS_DATABASE_URL", "mysql://db")], "PORTCULLIS_DATABASE_URL"),
    ];
    for (vars, setting) in cases {
        let mut cmd = portcullis(dir.path());
        cmd.arg("serve").env("PORTCULLIS_BIND", "127.0.0.1:0");
        for (k, v) in *vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{setting} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(setting), "{setting}: {stderr}");
    }
}

#[tokio::test]
async fn keygen_then_serve_with_the_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(dir.path()).args(["keygen", "--alg", "ES256", "--out", "mykeys"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let private = dir.path().join("mykeys/jwt-signing-es256.pem");
    let public = dir.path().join("mykeys/jwt-signing-es256.pub");
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&public).unwrap().contains("BEGIN PUBLIC KEY"));
    let again =
        portcullis(dir.path()).args(["keygen", "--alg", "ES256", "--out", "mykeys"]).output().unwrap();
    assert!(!again.status.success(), "refuses to overwrite without --force");

    let mut settings = Settings::default();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    settings.keys_dir = dir.path().join("keys");
    settings.jwt_algorithm = "ES256".parse().unwrap();
    settings.jwt_private_key_file = Some(private.clone());
    settings.jwt_public_key_file = Some(public);
    let server = auth_server::app::start(&settings, Arc::new(ManualClock::starting_now())).await.unwrap();
    let jwks: Value =
        reqwest::get(format!("{}/.well-known/jwks.json", server.url())).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    let kid = jwks["keys"][0]["kid"].clone();
    server.shutdown().await.unwrap();

    // The same key given as a PEM string (PORTCULLIS_JWT_PRIVATE_KEY) is the same key.
    let mut from_env = settings.clone();
    from_env.jwt_private_key_file = None;
    from_env.jwt_private_key =
        Some(auth_server::config::Secret::new(std::fs::read_to_string(&private).unwrap()));
    let server = auth_server::app::start(&from_env, Arc::new(ManualClock::starting_now())).await.unwrap();
    let jwks: Value =
        reqwest::get(format!("{}/.well-known/jwks.json", server.url())).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    server.shutdown().await.unwrap();

    // A public key that does not match the private key is refused.
    let other = portcullis(dir.path()).args(["keygen", "--alg", "ES256", "--out", "other"]).output().unwrap();
    assert!(other.status.success());
    settings.jwt_public_key_file = Some(dir.path().join("other/jwt-signing-es256.pub"));
    let err = auth_server::app::start(&settings, Arc::new(ManualClock::starting_now())).await.unwrap_err();
    assert!(err.to_string().contains("PORTCULLIS_JWT_PUBLIC_KEY_FILE"), "{err}");
}

#[tokio::test]
async fn user_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("admin.db").display());
    let admin = |args: &[&str]| {
        let mut cmd = portcullis(dir.path());
        cmd.args(args)
            .env("PORTCULLIS_DATABASE_URL", &db)
            .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
            .env("PORTCULLIS_JWT_SECRET", SECRET);
        cmd
    };
    let out = run_with_stdin(
        admin(&["user", "create", "--username", "root", "--email", "root@example.com", "--staff"]),
        "root password 1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run_with_stdin(admin(&["user", "create", "--username", "root"]), "root password 2\n");
    assert!(!out.status.success(), "duplicate username refused");
    let out = run_with_stdin(admin(&["user", "create", "--username", "weak"]), "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

    let mut settings = Settings::default();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = db.clone();
    // The commands run in `dir`: they find the same MFA key file (`keys/mfa.key`).
    settings.keys_dir = dir.path().join("keys");
    settings.jwt_algorithm = "HS256".parse().unwrap();
    settings.jwt_secret = Some(auth_server::config::Secret::new(SECRET));
    let clock = ManualClock::starting_now();
    let server = auth_server::app::start(&settings, Arc::new(clock.clone())).await.unwrap();
    let client = reqwest::Client::new();
    let sign_in = |password: &'static str| {
        client
            .post(format!("{}/api/auth/mobile/sign-in", server.url()))
            .json(&json!({"username": "root", "password": password}))
            .send()
    };
    let tokens: Value = sign_in("root password 1").await.unwrap().json().await.unwrap();
    let access = tokens["access"].as_str().unwrap().to_owned();
    let me = || client.get(format!("{}/api/auth/me", server.url())).bearer_auth(&access).send();
    let profile: Value = me().await.unwrap().json().await.unwrap();
    assert_eq!(profile["is_staff"], true);

    // set-password from another process: old tokens stop within the user-state TTL (1 s).
    let out = run_with_stdin(admin(&["user", "set-password", "--username", "ROOT"]), "root password 3\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(me().await.unwrap().status(), 401);
    assert_eq!(sign_in("root password 1").await.unwrap().status(), 401);
    assert_eq!(sign_in("root password 3").await.unwrap().status(), 200);

    // mfa-reset: a user who lost their device signs in with the password alone again.
    let tokens: Value = sign_in("root password 3").await.unwrap().json().await.unwrap();
    let access = tokens["access"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        client.post(format!("{}{path}", server.url())).bearer_auth(&access).json(&body).send()
    };
    let setup: Value = post("/api/auth/mfa/totp/setup", json!({})).await.unwrap().json().await.unwrap();
    let totp = totp_rs::Totp::from_url(setup["otpauth_uri"].as_str().unwrap()).unwrap();
    let code = totp.generate(u64::try_from(clock.unix_seconds()).unwrap()).to_string();
    assert_eq!(post("/api/auth/mfa/totp/confirm", json!({"code": code})).await.unwrap().status(), 200);
    let step: Value = sign_in("root password 3").await.unwrap().json().await.unwrap();
    assert_eq!(step["mfa_required"], true);
    let out = admin(&["user", "mfa-reset", "--username", "root"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("reset MFA of root"));
    let tokens: Value = sign_in("root password 3").await.unwrap().json().await.unwrap();
    assert!(tokens["access"].is_string(), "no MFA step after the reset: {tokens}");
    let out = admin(&["user", "mfa-reset", "--username", "ghost"]).output().unwrap();
    assert!(!out.status.success());

    // passkeys: listed, and one removed (a lost device).
    {
        use portcullis::core::{AuthUser as _, UserStore as _};
        use portcullis::passkeys::{Passkey, PasskeyStore as _};
        let db = portcullis::sea_orm::connect(&settings.database_url).await.unwrap();
        let store = portcullis::sea_orm::SeaOrmPasskeyStore::new(db);
        let root = server.auth.store().find_by_login("root").await.unwrap().unwrap();
        let mut passkey = Passkey::new("pk-1", root.id(), "Y3JlZA", "{}", clock.now());
        passkey.name = "Old phone".to_owned();
        store.add(passkey).await.unwrap();
    }
    let out = admin(&["user", "passkeys", "--username", "root"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pk-1  Old phone"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = admin(&["user", "passkeys", "--username", "root", "--remove", "pk-9"]).output().unwrap();
    assert!(!out.status.success(), "no such passkey");
    let out = admin(&["user", "passkeys", "--username", "root", "--remove", "pk-1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = admin(&["user", "passkeys", "--username", "root"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("root has no passkey"));

    let out = admin(&["user", "deactivate", "--username", "root@example.com"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sign_in("root password 3").await.unwrap().status(), 401);
    let out = admin(&["user", "deactivate", "--username", "ghost"]).output().unwrap();
    assert!(!out.status.success());
    let out = admin(&["flush-expired"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn audit_lists_security_events_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
    let admin = |args: &[&str]| {
        let mut cmd = portcullis(dir.path());
        cmd.args(args)
            .env("PORTCULLIS_DATABASE_URL", &db)
            .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
            .env("PORTCULLIS_JWT_SECRET", SECRET);
        cmd
    };
    let out = run_with_stdin(
        admin(&["user", "create", "--username", "root", "--email", "root@example.com"]),
        "root password 1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // "created user root (<id>)"
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let root_id = stdout.trim().rsplit_once('(').unwrap().1.trim_end_matches(')').to_owned();

    // Events written by a server on the same database, at times of its manual clock.
    let mut settings = Settings::default();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = db.clone();
    settings.keys_dir = dir.path().join("keys");
    settings.jwt_algorithm = "HS256".parse().unwrap();
    settings.jwt_secret = Some(auth_server::config::Secret::new(SECRET));
    let clock = ManualClock::starting_now();
    let server = auth_server::app::start(&settings, Arc::new(clock.clone())).await.unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.url()))
            .header("user-agent", "audit-cli-test/1.0")
            .json(&body)
            .send()
    };
    let r = post("/api/auth/register", json!({"username": "webby", "password": "webby password 1"})).await;
    assert_eq!(r.unwrap().status(), 201);
    clock.advance(chrono::Duration::seconds(60));
    let wrong = json!({"username": "root", "password": "not the password"});
    assert_eq!(post("/api/auth/mobile/sign-in", wrong).await.unwrap().status(), 401);
    clock.advance(chrono::Duration::seconds(30));
    let since = clock.now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    clock.advance(chrono::Duration::seconds(30));
    let ghost = json!({"username": "ghost", "password": "not the password"});
    assert_eq!(post("/api/auth/mobile/sign-in", ghost).await.unwrap().status(), 401);
    clock.advance(chrono::Duration::seconds(60));
    let right = json!({"username": "root", "password": "root password 1"});
    assert_eq!(post("/api/auth/mobile/sign-in", right).await.unwrap().status(), 200);
    server.shutdown().await.unwrap();

    let audit = |args: &[&str]| {
        let mut full = vec!["audit"];
        full.extend_from_slice(args);
        let out = admin(&full).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect::<Vec<String>>()
    };
    let kinds = |lines: &[String]| -> Vec<String> {
        lines.iter().map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_owned()).collect()
    };

    // One line per event, newest first: time, kind, user, IP, detail.
    let full = audit(&[]);
    // The oldest: `user create` recorded root's registration (by an administrator).
    let (all, created) = full.split_at(4.min(full.len()));
    assert_eq!(
        kinds(all),
        ["sign_in_succeeded", "sign_in_failed", "sign_in_failed", "registered"],
        "{full:#?}"
    );
    assert_eq!(created.len(), 1, "{full:#?}");
    assert!(created[0].contains(" registered ") && created[0].contains(&root_id), "{full:#?}");
    assert!(created[0].contains(r#""by":"administrator""#), "{}", created[0]);
    assert!(all[0].contains(&format!("user={root_id}")) && all[0].contains("ip=127.0.0.1"), "{}", all[0]);
    assert!(all[0].contains(r#""flow":"mobile""#), "{}", all[0]);
    assert!(all[1].contains("user=-"), "an unknown login has no user: {}", all[1]);
    assert!(all[2].contains(&format!("user={root_id}")), "{}", all[2]);
    assert!(!all[3].contains(&root_id), "webby's registration: {}", all[3]);
    assert!(!full.iter().any(|l| l.contains("ghost") || l.contains("not the password")), "{full:#?}");

    // Filters: kinds (comma-separated), user (username or email), since, limit.
    let failed = audit(&["--kind", "sign_in_failed"]);
    assert_eq!(failed, all[1..3]);
    let some_kinds = audit(&["--kind", "registered,sign_in_succeeded"]);
    assert_eq!(some_kinds, [&all[..1], &all[3..], created].concat());
    let root = audit(&["--user", "root"]);
    assert_eq!(root, [&all[..1], &all[2..3], created].concat());
    assert_eq!(audit(&["--user", "ROOT@example.com", "--kind", "sign_in_failed"]), all[2..3]);
    assert_eq!(audit(&["--user", "webby"]), all[3..]);
    assert_eq!(audit(&["--since", &since]), all[..2]);
    assert_eq!(audit(&["--limit", "2"]), all[..2]);

    // --json: one JSON object per line, with the whole event.
    let json_lines = audit(&["--json"]);
    assert_eq!(json_lines.len(), full.len());
    let events: Vec<Value> = json_lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let json_kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(json_kinds, kinds(&full));
    assert_eq!(events[0]["user_id"], root_id.as_str());
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert_eq!(events[0]["user_agent"], "audit-cli-test/1.0");
    assert_eq!(events[0]["detail"]["flow"], "mobile");
    assert!(events[1]["user_id"].is_null(), "{}", events[1]);
    assert_eq!(events[2]["detail"]["reason"], "password");
    let ats: Vec<chrono::DateTime<chrono::Utc>> =
        events.iter().map(|e| e["at"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] > w[1]), "newest first: {ats:?}");
    assert!(events.iter().all(|e| e["id"].as_str().is_some_and(|id| !id.is_empty())));
    assert_eq!(audit(&["--json", "--kind", "sign_in_failed", "--limit", "1"]), json_lines[1..2]);

    // Mistakes are errors that say what is wrong.
    let out = admin(&["audit", "--kind", "sign_in_failed,bogus"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bogus"), "{stderr}");
    for known in ["sign_in_succeeded", "sign_in_failed", "refresh_reuse_detected", "locked_out"] {
        assert!(stderr.contains(known), "names the known kinds: {stderr}");
    }
    let out = admin(&["audit", "--user", "ghost"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));
    let out = admin(&["audit", "--since", "yesterday"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
}

#[tokio::test]
async fn role_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("roles.db").display());
    let admin = |args: &[&str]| {
        let mut cmd = portcullis(dir.path());
        cmd.args(args)
            .env("PORTCULLIS_DATABASE_URL", &db)
            .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
            .env("PORTCULLIS_JWT_SECRET", SECRET);
        cmd
    };
    // Succeeds: stdout's lines.
    let ok = |args: &[&str]| {
        let out = admin(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect::<Vec<String>>()
    };
    // Fails: stderr.
    let refused = |args: &[&str]| {
        let out = admin(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    };
    let out = run_with_stdin(
        admin(&["user", "create", "--username", "root", "--email", "root@example.com"]),
        "root password 1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Roles: created with permissions, granted and revoked, listed by name.
    let created = ok(&[
        "role",
        "create",
        "editor",
        "--description",
        "Edits articles",
        "--permission",
        "articles:edit",
        "--permission",
        "articles:read",
    ]);
    assert!(
        created[0].starts_with("created role editor") && created[0].ends_with("articles:edit,articles:read")
    );
    ok(&["role", "create", "viewer"]);
    ok(&["role", "create", "auditor", "--permission", "users:manage"]);
    assert!(refused(&["role", "create", "editor"]).contains("`editor` exists"));
    assert!(refused(&["role", "create", "Editor!"]).contains("invalid role name `Editor!`"));
    assert!(
        refused(&["role", "create", "writer", "--permission", "nocolon"])
            .contains("invalid permission `nocolon`")
    );
    assert!(ok(&["role", "grant", "editor", "articles:delete"])[0].contains("granted articles:delete"));
    assert!(ok(&["role", "grant", "editor", "articles:delete"])[0].contains("already grants"));
    assert!(ok(&["role", "revoke", "editor", "articles:read"])[0].contains("revoked articles:read"));
    assert!(ok(&["role", "revoke", "editor", "articles:read"])[0].contains("does not grant"));
    assert!(refused(&["role", "grant", "ghost", "articles:edit"]).contains("no role `ghost`"));
    assert!(refused(&["role", "revoke", "ghost", "articles:edit"]).contains("no role `ghost`"));
    assert!(refused(&["role", "grant", "editor", "Articles:Edit"]).contains("invalid permission"));
    let listed: Vec<Vec<String>> = ok(&["role", "list"])
        .iter()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        listed,
        [vec!["auditor", "users:manage"], vec!["editor", "articles:delete,articles:edit"], vec!["viewer"]]
    );
    let json_lines = ok(&["role", "list", "--json"]);
    let roles: Vec<Value> = json_lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(roles.len(), 3);
    assert_eq!(roles[1]["name"], "editor");
    assert_eq!(roles[1]["description"], "Edits articles");
    assert_eq!(roles[1]["permissions"], json!(["articles:delete", "articles:edit"]));
    assert!(roles[1]["created_at"].is_string());

    // Assignments: by username or email; unknown roles and users are errors.
    assert!(
        ok(&["user", "grant-role", "--username", "root", "--role", "editor"])[0]
            .contains("assigned role editor to root")
    );
    assert!(
        ok(&["user", "grant-role", "--username", "ROOT@example.com", "--role", "editor"])[0]
            .contains("already has")
    );
    ok(&["user", "grant-role", "--username", "root", "--role", "viewer"]);
    assert!(
        refused(&["user", "grant-role", "--username", "root", "--role", "ghost"]).contains("no role `ghost`")
    );
    assert!(
        refused(&["user", "grant-role", "--username", "ghost", "--role", "editor"])
            .contains("no user `ghost`")
    );
    assert!(
        refused(&["user", "grant-role", "--username", "root", "--role", "Bad Name"])
            .contains("invalid role name")
    );
    assert!(
        refused(&["user", "revoke-role", "--username", "root", "--role", "ghost"])
            .contains("no role `ghost`")
    );
    assert!(refused(&["user", "roles", "--username", "ghost"]).contains("no user `ghost`"));
    let held: Vec<Vec<String>> = ok(&["user", "roles", "--username", "root"])
        .iter()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(held, [vec!["editor", "articles:delete,articles:edit"], vec!["viewer"]]);
    assert!(
        ok(&["user", "revoke-role", "--username", "root", "--role", "viewer"])[0]
            .contains("removed role viewer")
    );
    assert!(
        ok(&["user", "revoke-role", "--username", "root", "--role", "viewer"])[0].contains("does not have")
    );

    // A deleted role leaves no assignment behind.
    assert!(ok(&["role", "delete", "editor"])[0].contains("deleted role editor"));
    assert!(refused(&["role", "delete", "editor"]).contains("no role `editor`"));
    assert!(ok(&["user", "roles", "--username", "root"]).is_empty());

    // A running server picks changes up within the user-state bound (1 s).
    let mut settings = Settings::default();
    settings.bind = "127.0.0.1:0".parse().unwrap();
    settings.database_url = db.clone();
    settings.keys_dir = dir.path().join("keys");
    settings.jwt_algorithm = "HS256".parse().unwrap();
    settings.jwt_secret = Some(auth_server::config::Secret::new(SECRET));
    let clock = ManualClock::starting_now();
    let server = auth_server::app::start(&settings, Arc::new(clock.clone())).await.unwrap();
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(format!("{}/api/auth/mobile/sign-in", server.url()))
        .json(&json!({"username": "root", "password": "root password 1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access"].as_str().unwrap().to_owned();
    let list_users =
        || client.get(format!("{}/api/auth/admin/users", server.url())).bearer_auth(&access).send();
    assert_eq!(list_users().await.unwrap().status(), 403, "no users:manage yet");
    ok(&["user", "grant-role", "--username", "root", "--role", "auditor"]);
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(list_users().await.unwrap().status(), 200, "the role's permission applies");
    ok(&["role", "revoke", "auditor", "users:manage"]);
    clock.advance(chrono::Duration::seconds(2));
    assert_eq!(list_users().await.unwrap().status(), 403, "the revoked permission no longer applies");
    server.shutdown().await.unwrap();

    // Every change is in the audit log, made by `cli`.
    let events: Vec<Value> = ok(&[
        "audit",
        "--json",
        "--kind",
        "role_created,role_deleted,role_permission_granted,role_permission_revoked,role_assigned,role_unassigned",
        "--limit",
        "100",
    ])
    .iter()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let kinds: Vec<&str> = events.iter().rev().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "role_created",
            "role_permission_granted",
            "role_permission_granted",
            "role_created",
            "role_created",
            "role_permission_granted",
            "role_permission_granted",
            "role_permission_revoked",
            "role_assigned",
            "role_assigned",
            "role_unassigned",
            "role_deleted",
            "role_assigned",
            "role_permission_revoked",
        ],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e["detail"]["actor"] == "cli"), "{events:#?}");
    let assigned = events.iter().find(|e| e["kind"] == "role_assigned").unwrap();
    assert!(assigned["user_id"].is_string() && assigned["detail"]["role"] == "auditor", "{assigned}");
    let revoked = &events[0];
    assert_eq!(
        (&revoked["detail"]["role"], &revoked["detail"]["permission"]),
        (&json!("auditor"), &json!("users:manage"))
    );
}
