//! The notes API over real HTTP: public reads, authenticated writes, owner-only updates,
//! staff-only deletes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use portcullis::core::Registration;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SECRET: &[u8] = b"axum-app-test-secret-of-at-least-32-bytes";

async fn sign_in(client: &Client, base: &str, username: &str, password: &str) -> String {
    let r = client
        .post(format!("{base}/api/auth/mobile/sign-in"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    tokens["access"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn notes_are_protected_by_portcullis() {
    let auth = axum_app::auth("sqlite::memory:", SECRET).await.unwrap();
    // The public endpoint never creates staff: the app (or the admin CLI) does.
    auth.accounts()
        .register(Registration::new("sam", None, "sam's long password").staff(true))
        .await
        .unwrap();
    let app = axum_app::router(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new();

    for (name, password) in [("ann", "ann's long password"), ("bob", "bob's long password")] {
        let r = client
            .post(format!("{base}/api/auth/register"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let ann = sign_in(&client, &base, "ann", "ann's long password").await;
    let bob = sign_in(&client, &base, "bob", "bob's long password").await;
    let sam = sign_in(&client, &base, "sam", "sam's long password").await;

    // Public read without a token.
    let r = client.get(format!("{base}/notes")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));

    // Writing needs a token: 401 with the Bearer challenge.
    let note = json!({"title": "groceries", "body": "milk"});
    let r = client.post(format!("{base}/notes")).json(&note).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_authenticated");

    // With a token: 201, owned by the signed-in user.
    let r = client.post(format!("{base}/notes")).bearer_auth(&ann).json(&note).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let me: Value = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["owner"], me["id"]);
    let url = format!("{base}/notes/{}", created["id"]);

    // Public read of one note.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["title"], "groceries");

    // An invalid body is a 400 with a field error.
    let r = client.post(format!("{base}/notes")).bearer_auth(&ann).json(&json!({"title": ""})).send();
    let r = r.await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_input");

    // Someone else's note: 403; the owner's update: 200.
    let edit = json!({"title": "groceries", "body": "milk, eggs"});
    let r = client.put(&url).bearer_auth(&bob).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "permission_denied");
    let r = client.put(&url).bearer_auth(&ann).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["body"], "milk, eggs");

    // Deleting is for staff only, even for the owner.
    let r = client.delete(&url).bearer_auth(&ann).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client.delete(&url).bearer_auth(&sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Now it is gone.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    let r = client.put(&url).bearer_auth(&ann).json(&edit).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client.delete(&url).bearer_auth(&sam).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Preferences are typed session data: set through a cookie session (with its CSRF token), read
/// back on later requests, refused to other credentials.
#[tokio::test]
async fn preferences_live_in_the_cookie_session() {
    let auth = axum_app::auth("sqlite::memory:", SECRET).await.unwrap();
    auth.accounts().register(Registration::new("cy", None, "cy's long password")).await.unwrap();
    let app = axum_app::router(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new();

    let r = client
        .post(format!("{base}/api/auth/session/sign-in"))
        .json(&json!({"username": "cy", "password": "cy's long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = |name: &str| {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let (session, csrf) = (cookie("__Host-portcullis_session"), cookie("__Host-csrftoken"));
    let csrf_value = csrf.split_once('=').unwrap().1.to_owned();
    let cookies = format!("{session}; {csrf}");

    let get = || client.get(format!("{base}/preferences")).header("cookie", &cookies).send();
    let prefs: Value = get().await.unwrap().json().await.unwrap();
    assert_eq!(prefs, json!({"theme": "light", "page_size": 20}), "the defaults");

    let put = |body: Value, csrf: &str| {
        client
            .put(format!("{base}/preferences"))
            .header("cookie", &cookies)
            .header("x-csrf-token", csrf)
            .json(&body)
            .send()
    };
    let dark = json!({"theme": "dark", "page_size": 50});
    assert_eq!(put(dark.clone(), "wrong").await.unwrap().status(), StatusCode::FORBIDDEN, "CSRF");
    let r = put(json!({"theme": "neon", "page_size": 50}), &csrf_value).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(put(dark.clone(), &csrf_value).await.unwrap().status(), StatusCode::OK);
    assert_eq!(get().await.unwrap().json::<Value>().await.unwrap(), dark, "read back on a later request");

    // A token has no session to keep preferences in.
    let token = sign_in(&client, &base, "cy", "cy's long password").await;
    let r = client.get(format!("{base}/preferences")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// The staff check answers from the user's authority, not from token claims: a staff user signed
/// in with a cookie session deletes, a non-staff one does not.
#[tokio::test]
async fn staff_delete_with_a_cookie_session_too() {
    let auth = axum_app::auth("sqlite::memory:", SECRET).await.unwrap();
    auth.accounts()
        .register(Registration::new("sam", None, "sam's long password").staff(true))
        .await
        .unwrap();
    auth.accounts().register(Registration::new("ann", None, "ann's long password")).await.unwrap();
    let app = axum_app::router(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new();

    let ann = sign_in(&client, &base, "ann", "ann's long password").await;
    let note = json!({"title": "groceries", "body": "milk"});
    let r = client.post(format!("{base}/notes")).bearer_auth(&ann).json(&note).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let url = format!("{base}/notes/{id}");

    for (user, password, expected) in [
        ("ann", "ann's long password", StatusCode::FORBIDDEN),
        ("sam", "sam's long password", StatusCode::NO_CONTENT),
    ] {
        let r = client
            .post(format!("{base}/api/auth/session/sign-in"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .filter(|c| c.starts_with("__Host-"))
            .collect();
        let csrf = cookies.iter().find_map(|c| c.strip_prefix("__Host-csrftoken=")).unwrap().to_owned();
        let r = client
            .delete(&url)
            .header("cookie", cookies.join("; "))
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{user} with a cookie session");
    }
}
