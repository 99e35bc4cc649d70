//! Two real server processes on one PostgreSQL database: a revocation made through one is
//! enforced by the other within the documented bound (PORTCULLIS_REVOCATION_POLL_MS, 1 s by
//! default; the test allows 2 s).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

const SECRET: &str = "multi-process-secret-multi-process-secret-0123456789";

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn postgres_url() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok() => {
            panic!("CI is set but PORTCULLIS_TEST_DATABASE_URL is not: the two-process test must run in CI")
        }
        _ => {
            eprintln!("SKIPPED: set PORTCULLIS_TEST_DATABASE_URL to run the two-process revocation test");
            None
        }
    }
}

async fn fresh_database(admin_url: &str) -> String {
    let name = format!("pc_multi_{}", std::process::id());
    let admin = sea_orm::Database::connect(admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn spawn(database_url: &str, dir: &std::path::Path, adapter: &str) -> Server {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .current_dir(dir)
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_DATABASE_URL", database_url)
        .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
        .env("PORTCULLIS_JWT_SECRET", SECRET)
        .env("PORTCULLIS_ARGON2_MEMORY_KIB", "64")
        .env("PORTCULLIS_ARGON2_ITERATIONS", "1")
        .env("PORTCULLIS_ADAPTER", adapter)
        .env("PORTCULLIS_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server(child, format!("http://127.0.0.1:{port}"));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{}/healthz", server.1)).send().await.map(|r| r.status() != 200).unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// Polls `GET /api/auth/me` on `server` until it answers 401; returns how long that took.
async fn time_until_refused(client: &reqwest::Client, server: &Server, access: &str) -> Duration {
    let start = Instant::now();
    loop {
        let status = client
            .get(format!("{}/api/auth/me", server.1))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            return start.elapsed();
        }
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(5), "revocation never reached the other process");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn revocation_reaches_the_other_process_within_the_bound() {
    let Some(admin) = postgres_url() else { return };
    let url = fresh_database(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let a = spawn(&url, dir.path(), "axum").await;
    let b = spawn(&url, dir.path(), "poem").await;
    let client = reqwest::Client::new();

    let creds = json!({"username": "multi", "password": "multi process password"});
    assert_eq!(
        client.post(format!("{}/api/auth/register", a.1)).json(&creds).send().await.unwrap().status(),
        201
    );
    let sign_in = || client.post(format!("{}/api/auth/mobile/sign-in", a.1)).json(&creds).send();
    let first: Value = sign_in().await.unwrap().json().await.unwrap();
    let second: Value = sign_in().await.unwrap().json().await.unwrap();
    let access1 = first["access"].as_str().unwrap();
    let access2 = second["access"].as_str().unwrap();
    for server in [&a, &b] {
        let r = client.get(format!("{}/api/auth/me", server.1)).bearer_auth(access1).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // Sign one session out on A: B refuses its access token within the bound.
    let r = client
        .post(format!("{}/api/auth/mobile/sign-out", a.1))
        .json(&json!({"refresh": first["refresh"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let elapsed = time_until_refused(&client, &b, access1).await;
    assert!(elapsed <= Duration::from_secs(2), "grant revocation took {elapsed:?}");

    // Sign-out-all through B: A refuses the other session within the bound.
    let r = client.post(format!("{}/api/auth/sign-out-all", b.1)).bearer_auth(access2).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let elapsed = time_until_refused(&client, &a, access2).await;
    assert!(elapsed <= Duration::from_secs(2), "user revocation took {elapsed:?}");
}

/// One credential of the user under test, as request headers.
fn credential_headers(kind: &str, value: &Value) -> Vec<(&'static str, String)> {
    match kind {
        "jwt" => vec![("authorization", format!("Bearer {}", value.as_str().unwrap()))],
        "opaque token" => vec![("authorization", format!("Token {}", value.as_str().unwrap()))],
        "api key" => vec![("x-api-key", value.as_str().unwrap().to_owned())],
        _ => vec![("cookie", value.as_str().unwrap().to_owned())],
    }
}

/// `GET /api/auth/admin/users` (permission `users:manage`) with one credential.
async fn admin_status(client: &reqwest::Client, server: &Server, kind: &str, value: &Value) -> u16 {
    let mut request = client.get(format!("{}/api/auth/admin/users", server.1));
    for (name, value) in credential_headers(kind, value) {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_removed_role_reaches_the_other_process_within_the_bound() {
    let Some(admin) = postgres_url() else { return };
    // Its own database: the revocation test may run at the same time.
    let name = format!("pc_multi_roles_{}", std::process::id());
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let admin_conn = sea_orm::Database::connect(&admin).await.unwrap();
    admin_conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin_conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = spawn(&url, dir.path(), "axum").await;
    let b = spawn(&url, dir.path(), "poem").await;
    let client = reqwest::Client::new();

    // A superuser (made by the store, as `portcullis user create --superuser` does) and a user.
    let register = |username: &str| {
        let body = json!({"username": username, "password": "multi process password"});
        client.post(format!("{}/api/auth/register", a.1)).json(&body).send()
    };
    assert_eq!(register("root").await.unwrap().status(), 201);
    assert_eq!(register("opal").await.unwrap().status(), 201);
    let db = sea_orm::Database::connect(&url).await.unwrap();
    db.execute_unprepared("UPDATE portcullis_users SET is_superuser = TRUE WHERE username = 'root'")
        .await
        .unwrap();
    let sign_in = |username: &str| {
        let body = json!({"username": username, "password": "multi process password"});
        client.post(format!("{}/api/auth/mobile/sign-in", a.1)).json(&body).send()
    };
    let root: Value = sign_in("root").await.unwrap().json().await.unwrap();
    let root = root["access"].as_str().unwrap().to_owned();
    let opal_id: Value = client
        .get(format!("{}/api/auth/me", a.1))
        .bearer_auth(
            sign_in("opal").await.unwrap().json::<Value>().await.unwrap()["access"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let opal_path = format!("{}/api/auth/admin/users/{}", a.1, opal_id["id"].as_str().unwrap());

    // The role, given to opal through A.
    let role = json!({"name": "user-manager", "permissions": ["users:manage"]});
    let r = client
        .post(format!("{}/api/auth/admin/roles", a.1))
        .bearer_auth(&root)
        .json(&role)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .patch(&opal_path)
        .bearer_auth(&root)
        .json(&json!({"roles": ["user-manager"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Every credential kind of opal.
    let login = json!({"username": "opal", "password": "multi process password"});
    let jwt: Value = sign_in("opal").await.unwrap().json().await.unwrap();
    let opaque: Value = client
        .post(format!("{}/api/auth/token/sign-in", a.1))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client.post(format!("{}/api/auth/session/sign-in", a.1)).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .filter(|c| c.starts_with("__Host-portcullis_session"))
        .collect();
    let key: Value = client
        .post(format!("{}/api/auth/api-keys", a.1))
        .bearer_auth(jwt["access"].as_str().unwrap())
        .json(&json!({"name": "ops", "scopes": ["users:manage"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credentials = [
        ("jwt", jwt["access"].clone()),
        ("opaque token", opaque["token"].clone()),
        ("cookie session", json!(cookies.join("; "))),
        ("api key", key["key"].clone()),
    ];
    for (kind, value) in &credentials {
        assert_eq!(admin_status(&client, &b, kind, value).await, 200, "{kind} with the role on B");
    }

    // The role removed through A: B refuses every credential kind within the bound.
    let r = client.patch(&opal_path).bearer_auth(&root).json(&json!({"roles": []})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let start = Instant::now();
    for (kind, value) in &credentials {
        loop {
            let status = admin_status(&client, &b, kind, value).await;
            if status == 403 {
                break;
            }
            assert_eq!(status, 200, "{kind}");
            assert!(start.elapsed() < Duration::from_secs(5), "the role removal never reached B ({kind})");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let elapsed = start.elapsed();
    assert!(elapsed <= Duration::from_secs(2), "role removal took {elapsed:?}");
    db.close().await.ok();
    drop((a, b));
    admin_conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok();
}

/// `GET /api/auth/me` on `server` with one credential: the status.
async fn me_status(client: &reqwest::Client, server: &Server, kind: &str, value: &Value) -> u16 {
    let mut request = client.get(format!("{}/api/auth/me", server.1));
    for (name, value) in credential_headers(kind, value) {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn revoking_a_cached_session_token_or_api_key_reaches_the_other_process_within_the_bound() {
    let Some(admin) = postgres_url() else { return };
    let name = format!("pc_multi_cached_{}", std::process::id());
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let admin_conn = sea_orm::Database::connect(&admin).await.unwrap();
    admin_conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    admin_conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = spawn(&url, dir.path(), "axum").await;
    let b = spawn(&url, dir.path(), "poem").await;
    let client = reqwest::Client::new();

    let login = json!({"username": "cato", "password": "multi process password"});
    let r = client.post(format!("{}/api/auth/register", a.1)).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let jwt: Value = client
        .post(format!("{}/api/auth/mobile/sign-in", a.1))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = jwt["access"].as_str().unwrap().to_owned();
    let opaque: Value = client
        .post(format!("{}/api/auth/token/sign-in", a.1))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client.post(format!("{}/api/auth/session/sign-in", a.1)).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-portcullis_session"))
        .unwrap();
    let key: Value = client
        .post(format!("{}/api/auth/api-keys", a.1))
        .bearer_auth(&access)
        .json(&json!({"name": "ops", "scopes": []}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credentials = [
        ("opaque token", opaque["token"].clone()),
        ("cookie session", json!(cookie)),
        ("api key", key["key"].clone()),
    ];
    // B reads each credential, then answers it from its cache.
    for (kind, value) in &credentials {
        for _ in 0..3 {
            assert_eq!(me_status(&client, &b, kind, value).await, 200, "{kind} on B");
        }
    }

    // Each revoked through A: the session through the sessions list (a grant revocation), the
    // token by its own sign-out, the key by its owner.
    let sessions: Vec<Value> = client
        .get(format!("{}/api/auth/sessions", a.1))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_grant =
        sessions.iter().find(|s| s["kind"] == "session").unwrap()["id"].as_str().unwrap().to_owned();
    let r = client.delete(format!("{}/api/auth/sessions/{session_grant}", a.1)).bearer_auth(&access).send();
    assert_eq!(r.await.unwrap().status(), 204);
    let r = client
        .post(format!("{}/api/auth/token/sign-out", a.1))
        .header("authorization", format!("Token {}", opaque["token"].as_str().unwrap()))
        .send();
    assert_eq!(r.await.unwrap().status(), 204);
    let r = client
        .delete(format!("{}/api/auth/api-keys/{}", a.1, key["id"].as_str().unwrap()))
        .bearer_auth(&access)
        .send();
    assert_eq!(r.await.unwrap().status(), 204);

    let start = Instant::now();
    for (kind, value) in &credentials {
        loop {
            let status = me_status(&client, &b, kind, value).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200, "{kind}");
            assert!(start.elapsed() < Duration::from_secs(5), "the revocation never reached B ({kind})");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let elapsed = start.elapsed();
    assert!(elapsed <= Duration::from_secs(2), "revoking cached credentials took {elapsed:?}");
    drop((a, b));
    admin_conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok();
}
