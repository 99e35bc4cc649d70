//! A committed refresh survives `kill -9` on the embedded default (SQLite, WAL, `synchronous =
//! NORMAL`): the server answers a rotation, is killed with SIGKILL at once, and, restarted on the
//! same file, accepts the new refresh token and treats the old one as replayed.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const SECRET: &str = "durability-secret-durability-secret-0123456789";

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn spawn(dir: &Path, port: u16) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .current_dir(dir)
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("auth.db").display()))
        .env("PORTCULLIS_JWT_ALGORITHM", "HS256")
        .env("PORTCULLIS_JWT_SECRET", SECRET)
        .env("PORTCULLIS_ARGON2_MEMORY_KIB", "64")
        .env("PORTCULLIS_ARGON2_ITERATIONS", "1")
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

async fn refresh(client: &reqwest::Client, server: &Server, token: &str) -> reqwest::Response {
    client
        .post(format!("{}/api/auth/mobile/token-refresh", server.1))
        .json(&json!({"refresh": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_committed_rotation_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = reqwest::Client::new();
    let mut server = spawn(dir.path(), port).await;
    let login = json!({"username": "dora", "password": "durable password here"});
    let r = client.post(format!("{}/api/auth/register", server.1)).json(&login).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let pair: Value = client
        .post(format!("{}/api/auth/mobile/sign-in", server.1))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = pair["refresh"].as_str().unwrap().to_owned();

    let r = refresh(&client, &server, &first).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let second = rotated["refresh"].as_str().unwrap().to_owned();
    // SIGKILL as soon as the answer is in: no shutdown, no flush.
    server.0.kill().unwrap();
    server.0.wait().unwrap();

    let server = spawn(dir.path(), port).await;
    let r = refresh(&client, &server, &second).await;
    assert_eq!(r.status(), 200, "the new refresh token was committed before the answer");
    let r = refresh(&client, &server, &first).await;
    assert_eq!(r.status(), 401, "the consumed one stays consumed: a replay");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "token_not_valid", "{body}");
}
