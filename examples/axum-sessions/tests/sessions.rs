//! The sessions-only app over real HTTP: register, sign in with a cookie session, use it (reads
//! without a CSRF token, writes only with it), sign out; the JWT routes do not exist in this build.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

/// `name=value` of a `Set-Cookie` of the response.
fn cookie(response: &Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

#[tokio::test]
async fn a_browser_signs_in_with_a_cookie_session_and_csrf_protects_its_writes() {
    let app = axum_sessions::router(axum_sessions::auth("sqlite::memory:", true).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new();
    let url = |path: &str| format!("{base}{path}");

    let user = json!({"username": "ann", "password": "ann's long password"});
    let r = client.post(url("/api/auth/register")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // No JWT in this build: the mobile and web flows, verification and JWKS do not exist.
    for path in ["/api/auth/mobile/sign-in", "/api/auth/web/sign-in", "/api/auth/token/verify"] {
        let r = client.post(url(path)).json(&user).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        client.get(url("/.well-known/jwks.json")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Not signed in: 401.
    assert_eq!(client.get(url("/whoami")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let r = client.post(url("/api/auth/session/sign-in")).json(&user).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let session = cookie(&r, "portcullis_session");
    let csrf = cookie(&r, "csrftoken");
    let csrf_value = csrf.split_once('=').unwrap().1.to_owned();
    let cookies = format!("{session}; {csrf}");
    assert_eq!(r.json::<Value>().await.unwrap()["user"]["username"], "ann");

    let r = client.get(url("/whoami")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["amr"], json!(["pwd"]));
    let r = client.get(url("/api/auth/me")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "ann");

    // A write without the CSRF token is refused (403) and changes nothing.
    let r = client.post(url("/visits")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // With it, the session's data changes.
    for expected in [1, 2] {
        let r = client
            .post(url("/visits"))
            .header("cookie", &cookies)
            .header("x-csrf-token", &csrf_value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"visits": expected}));
    }
    let r = client.get(url("/visits")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"visits": 2}));

    // The session is listed, then ended.
    let r = client.get(url("/api/auth/sessions")).header("cookie", &cookies).send().await.unwrap();
    let sessions: Value = r.json().await.unwrap();
    assert_eq!(sessions[0]["kind"], "session");
    assert_eq!(sessions[0]["current"], true);
    let r = client
        .post(url("/api/auth/session/sign-out"))
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf_value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = client.get(url("/whoami")).header("cookie", &cookies).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
