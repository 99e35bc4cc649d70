//! The real OpenID provider of the tests: `oidc-provider` from npm (`tests/oidc-provider`),
//! started on 127.0.0.1 by the tests that need it. `npm ci` runs on first use.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The audience of the provider's client-credentials access tokens.
pub const AUDIENCE: &str = "https://api.example.com";
/// The callback URL registered for the provider's `web` and `native` login clients.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc-provider")
}

/// Installs the provider's packages once (CI has done it already; `npm ci` is idempotent).
fn ensure_installed() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if harness_dir().join("node_modules/oidc-provider").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(harness_dir())
            .status()
            .expect("npm runs (Node.js 20 is required for these tests)");
        assert!(status.success(), "npm ci in tests/oidc-provider failed");
    });
}

/// A private JWK made by Node's crypto (`rsa`, `ec` (P-256), `p521` or `ed25519`), with a kid and
/// its algorithm.
pub fn private_jwk(kind: &str, alg: &str, kid: &str) -> Value {
    let script = match kind {
        "rsa" => "crypto.generateKeyPairSync('rsa',{modulusLength:2048})",
        "p521" => "crypto.generateKeyPairSync('ec',{namedCurve:'P-521'})",
        "ed25519" => "crypto.generateKeyPairSync('ed25519')",
        _ => "crypto.generateKeyPairSync('ec',{namedCurve:'P-256'})",
    };
    let out = std::process::Command::new("node")
        .args([
            "-e",
            &format!("process.stdout.write(JSON.stringify({script}.privateKey.export({{format:'jwk'}})))"),
        ])
        .output()
        .expect("node runs");
    let mut jwk: Value = serde_json::from_slice(&out.stdout).unwrap();
    jwk["kid"] = json!(kid);
    jwk["alg"] = json!(alg);
    jwk["use"] = json!("sig");
    jwk
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `oidc-provider`.
pub struct Provider {
    child: Option<tokio::process::Child>,
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub issuer: String,
    keys_file: tempfile::NamedTempFile,
    alg: String,
    client: reqwest::Client,
    redirect_uris: Vec<String>,
}

impl Provider {
    pub async fn start(keys: Vec<Value>, alg: &str) -> Self {
        ensure_installed();
        let keys_file = tempfile::NamedTempFile::new().unwrap();
        let port = free_port();
        let mut provider = Self {
            child: None,
            port,
            issuer: format!("http://127.0.0.1:{port}"),
            keys_file,
            alg: alg.to_owned(),
            client: reqwest::Client::new(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
        };
        provider.restart_with(keys).await;
        provider
    }

    /// Registers more callback URLs for the login clients (the provider restarts).
    pub async fn add_redirect_uris(&mut self, uris: impl IntoIterator<Item = String>) {
        self.redirect_uris.extend(uris);
        let keys: Value =
            serde_json::from_str(&std::fs::read_to_string(self.keys_file.path()).unwrap()).unwrap();
        self.restart_with(keys["keys"].as_array().unwrap().clone()).await;
    }

    /// (Re)starts the provider on its port with these signing keys (the first one of the access
    /// token algorithm signs).
    pub async fn restart_with(&mut self, keys: Vec<Value>) {
        self.stop().await;
        std::fs::write(self.keys_file.path(), json!({"keys": keys}).to_string()).unwrap();
        let mut child = tokio::process::Command::new("node")
            .arg(harness_dir().join("provider.mjs"))
            .env("PORT", self.port.to_string())
            .env("JWKS_FILE", self.keys_file.path())
            .env("ACCESS_TOKEN_ALG", &self.alg)
            .env("AUDIENCE", AUDIENCE)
            .env("REDIRECT_URIS", self.redirect_uris.join(","))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("READY") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "oidc-provider did not start");
        // Keep draining its output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.ok();
        }
    }

    /// A client-credentials access token for `client` (`admin` or `plain`).
    pub async fn token(&self, client: &str) -> String {
        let response = self
            .client
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", &format!("{client}-secret-0123456789")),
                ("scope", "read"),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// How many times the provider's JWKS was requested.
    pub async fn jwks_requests(&self) -> u64 {
        let url = format!("{}/__test/jwks-requests", self.issuer);
        let body: Value = self.client.get(url).send().await.unwrap().json().await.unwrap();
        body["count"].as_u64().unwrap()
    }
}

impl Provider {
    /// Signs `login` in at the provider's development login and consent pages for the
    /// authorization request `url`, and returns where the provider sends the browser back (the
    /// first URL off the provider: the callback with `code` and `state`, or with `error`). `abort` refuses at the login page
    /// instead (`error=access_denied`).
    pub async fn authorize(&self, url: &str, login: &str, abort: bool) -> String {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut next = url.to_owned();
        for _ in 0..10 {
            if !next.starts_with(&self.issuer) {
                return next;
            }
            let response = if let Some(uid) = next.strip_prefix(&format!("{}/interaction/", self.issuer)) {
                let page = browser.get(&next).send().await.unwrap().text().await.unwrap();
                if abort {
                    browser.get(format!("{next}/abort")).send().await.unwrap()
                } else {
                    let prompt = if page.contains("name=\"login\"") { "login" } else { "consent" };
                    let form = [("prompt", prompt), ("login", login), ("password", "unused")];
                    browser
                        .post(format!("{}/interaction/{uid}", self.issuer))
                        .form(&form)
                        .send()
                        .await
                        .unwrap()
                }
            } else {
                browser.get(&next).send().await.unwrap()
            };
            let status = response.status();
            let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
            next = match location {
                Some(location) if location.starts_with('/') => format!("{}{location}", self.issuer),
                Some(location) => location,
                None => panic!(
                    "the provider answered {status} without a redirect: {}",
                    response.text().await.unwrap()
                ),
            };
        }
        panic!("the provider never redirected back to the callback");
    }
}
