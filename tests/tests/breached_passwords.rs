//! Breached passwords (`PORTCULLIS_BREACHED_PASSWORDS=hibp`): refused at registration and
//! password change, with only a five-digit SHA-1 prefix sent to the range API; failing open or
//! closed when the API cannot answer. The range API is a local stand-in serving the documented
//! format (`SUFFIX:COUNT` lines; the real API cannot be reached from here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, OnceLock};

use portcullis_tests::serde_json::json;
use portcullis_tests::{TestServer, assert_error, http_test};
use sha1::{Digest, Sha1};

/// A password that passes every other rule and that the stand-in knows from 42 breaches.
const BREACHED: &str = "violet-harbor-12";
/// Passes every rule, unknown to the stand-in.
const FRESH: &str = "lantern-otter-9";

/// Every request the stand-in answered: (path, `Add-Padding` header).
static ASKED: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());

fn sha1_hex(password: &str) -> String {
    Sha1::digest(password.as_bytes()).iter().map(|b| format!("{b:02X}")).collect()
}

/// The stand-in range API, on a thread of its own (the tests' servers come and go).
fn range_api() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().route(
                    "/range/{prefix}",
                    axum::routing::get(|request: axum::extract::Request| async move {
                        let padding =
                            request.headers().get("add-padding").map(|v| v.to_str().unwrap().to_owned());
                        let path = request.uri().path().to_owned();
                        ASKED.lock().unwrap().push((path.clone(), padding));
                        let hash = sha1_hex(BREACHED);
                        let mut body = String::from("0018A45C4D1DEF81644B54AB7F969B88D65:3\r\n");
                        if path == format!("/range/{}", &hash[..5]) {
                            body.push_str(&format!("{}:42\r\n", &hash[5..]));
                        }
                        body.push_str("FFFFF00000000000000000000000000000F:0\r\n");
                        body
                    }),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        url
    })
}

/// A URL where nothing answers.
fn dead_api() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

http_test!(
    breached_passwords_are_refused_and_only_a_prefix_leaves_the_server,
    |s: &mut auth_server::Settings| {
        s.breached_passwords = "hibp".into();
        s.breached_passwords_url = range_api().into();
    },
    |srv: TestServer| async move {
        let body = json!({"username": "kim", "password": BREACHED});
        let error = assert_error(srv.post("/api/auth/register", body).await, 400, "invalid_input").await;
        assert_eq!(
            error["detail"],
            "password: password_breached: appears 42 times in known data breaches; choose another"
        );
        srv.register("kim", FRESH).await;
        // A password change applies the same check.
        let tokens = srv.sign_in("kim", FRESH).await;
        let change = json!({"current_password": FRESH, "new_password": BREACHED});
        let r = srv
            .client
            .post(srv.url("/api/auth/password/change"))
            .bearer_auth(tokens["access"].as_str().unwrap())
            .json(&change)
            .send()
            .await
            .unwrap();
        let error = assert_error(r, 400, "invalid_input").await;
        assert!(error["detail"].as_str().unwrap().starts_with("new_password: password_breached"), "{error}");
        // What the API saw: five hex digits of a SHA-1 per request, never more, with padding asked.
        let asked = ASKED.lock().unwrap().clone();
        let breached_prefix = format!("/range/{}", &sha1_hex(BREACHED)[..5]);
        assert!(asked.iter().any(|(path, _)| *path == breached_prefix), "{asked:?}");
        for (path, padding) in &asked {
            let prefix = path.strip_prefix("/range/").unwrap();
            assert!(prefix.len() == 5 && prefix.chars().all(|c| c.is_ascii_hexdigit()), "{path}");
            assert_eq!(padding.as_deref(), Some("true"));
        }
    }
);

http_test!(
    a_dead_api_fails_open_by_default,
    |s: &mut auth_server::Settings| {
        s.breached_passwords = "hibp".into();
        s.breached_passwords_url = dead_api();
    },
    |srv: TestServer| async move {
        srv.register("lee", BREACHED).await;
    }
);

http_test!(
    a_dead_api_fails_closed_when_asked_and_nothing_is_created,
    |s: &mut auth_server::Settings| {
        s.breached_passwords = "hibp".into();
        s.breached_passwords_url = dead_api();
        s.breached_passwords_fail = "closed".into();
    },
    |srv: TestServer| async move {
        let body = json!({"username": "mo", "password": FRESH});
        let r = srv.post("/api/auth/register", body).await;
        assert!(r.headers().contains_key("retry-after"));
        assert_error(r, 503, "service_unavailable").await;
        let r = srv.post("/api/auth/mobile/sign-in", json!({"username": "mo", "password": FRESH})).await;
        assert_error(r, 401, "invalid_credentials").await;
    }
);
