//! The quick start works as the README says.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

#[tokio::test]
async fn hello_needs_a_token() {
    let app = axum_quickstart::app(b"quick-start-test-secret-of-32-bytes!").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();

    let r = client.get(format!("{base}/hello")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));

    let body = json!({"username": "ann", "password": "ann's long password"});
    let r = client.post(format!("{base}/api/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let tokens: Value = client
        .post(format!("{base}/api/auth/mobile/sign-in"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client
        .get(format!("{base}/hello"))
        .bearer_auth(tokens["access"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("hello, user "));
}
