//! The served OpenAPI document is valid OpenAPI 3.1, documents every route of the router with its
//! schemas, and every documented operation exists; the docs UI is served offline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use portcullis_tests::serde_json::Value;
use portcullis_tests::{TestServer, http_test};

/// Every route the server mounts (method, path), from the contract.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/register"),
    ("post", "/api/auth/mobile/sign-in"),
    ("post", "/api/auth/mobile/token-refresh"),
    ("post", "/api/auth/web/sign-in"),
    ("post", "/api/auth/web/token-refresh"),
    ("post", "/api/auth/web/sign-out"),
    ("post", "/api/auth/token/verify"),
    ("get", "/api/auth/me"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/healthz"),
    ("post", "/api/auth/mobile/sign-out"),
    ("post", "/api/auth/sign-out-all"),
    ("get", "/api/auth/sessions"),
    ("delete", "/api/auth/sessions/{id}"),
    ("post", "/api/auth/token/sign-in"),
    ("post", "/api/auth/token/sign-out"),
    ("post", "/api/auth/api-keys"),
    ("get", "/api/auth/api-keys"),
    ("delete", "/api/auth/api-keys/{id}"),
    ("post", "/api/auth/session/sign-in"),
    ("post", "/api/auth/session/sign-out"),
    ("get", "/api/auth/mfa"),
    ("post", "/api/auth/mfa/totp/setup"),
    ("post", "/api/auth/mfa/totp/confirm"),
    ("post", "/api/auth/mfa/totp/disable"),
    ("post", "/api/auth/mfa/recovery-codes"),
    ("post", "/api/auth/mfa/verify"),
    ("patch", "/api/auth/me"),
    ("delete", "/api/auth/me"),
    ("post", "/api/auth/password/change"),
    ("post", "/api/auth/web/password/change"),
    ("post", "/api/auth/password/reset"),
    ("post", "/api/auth/password/reset/confirm"),
    ("post", "/api/auth/email/verify"),
    ("post", "/api/auth/email/resend"),
    ("post", "/api/auth/email/change/cancel"),
    ("get", "/api/auth/activity"),
];

/// The routes that take a JSON body.
const WITH_BODY: &[&str] = &[
    "/api/auth/register",
    "/api/auth/mobile/sign-in",
    "/api/auth/mobile/token-refresh",
    "/api/auth/mobile/sign-out",
    "/api/auth/web/sign-in",
    "/api/auth/token/verify",
    "/api/auth/token/sign-in",
    "/api/auth/api-keys",
    "/api/auth/session/sign-in",
    "/api/auth/mfa/totp/confirm",
    "/api/auth/mfa/totp/disable",
    "/api/auth/mfa/recovery-codes",
    "/api/auth/password/change",
    "/api/auth/web/password/change",
    "/api/auth/password/reset",
    "/api/auth/password/reset/confirm",
    "/api/auth/email/verify",
    "/api/auth/email/resend",
    "/api/auth/email/change/cancel",
    "/api/auth/mfa/verify",
];

/// Resolves every `$ref` in `value` against `doc`, panicking on a dangling one.
fn check_refs(doc: &Value, value: &Value, seen: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let pointer = reference.strip_prefix('#').expect("local reference");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {reference}");
                seen.insert(reference.clone());
            }
            map.values().for_each(|v| check_refs(doc, v, seen));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v, seen)),
        _ => {}
    }
}

http_test!(openapi_document_is_valid_and_complete, |srv: TestServer| async move {
    let r = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();

    // A structurally valid OpenAPI 3.1 document (an independent parser).
    let spec = oas3::from_json(&text).expect("parses as OpenAPI 3.1");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);

    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut refs = BTreeSet::new();
    check_refs(&doc, &doc, &mut refs);

    // Every route is documented, with schemas for its bodies and error responses.
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert!(op["operationId"].is_string(), "{method} {path} has an operationId");
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path} documents responses");
            for (status, response) in responses {
                if status != "204" && status != "303" {
                    let schema = &response["content"]["application/json"]["schema"];
                    assert!(schema.is_object(), "{method} {path} {status} has a JSON schema");
                }
                if status.starts_with('4') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorResponse",
                        "{method} {path} {status} uses the shared error body"
                    );
                }
            }
            if WITH_BODY.contains(&path.as_str()) && method == "post" {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                    "{method} {path} body"
                );
            }
        }
    }
    let expected: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected, "documented operations == mounted routes");

    // Security schemes: Bearer JWT (with "Authorize" in the UI) and the refresh cookie.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    assert_eq!(schemes["refreshCookie"]["in"], "cookie");
    assert_eq!(schemes["token"]["in"], "header");
    assert_eq!(schemes["token"]["name"], "Authorization");
    assert_eq!(schemes["apiKey"]["name"], "X-API-Key");
    assert_eq!(schemes["sessionCookie"]["in"], "cookie");
    assert_eq!(doc["paths"]["/api/auth/me"]["get"]["security"][0]["bearer"], serde_json::json!([]));

    // Every documented operation exists on the router (no 404/405).
    for (method, path) in &documented {
        let path = path.replace("{id}", "some-id");
        let path = path.as_str();
        let request = match method.as_str() {
            "get" => srv.client.get(srv.url(path)),
            "delete" => srv.client.delete(srv.url(path)),
            "patch" => srv.client.patch(srv.url(path)).header("content-type", "application/json").body("{}"),
            _ => srv.client.post(srv.url(path)).header("content-type", "application/json").body("{}"),
        };
        let status = request.send().await.unwrap().status().as_u16();
        assert!(status != 404 && status != 405, "{method} {path} answered {status}");
    }
});

http_test!(docs_ui_is_served_offline, |srv: TestServer| async move {
    let r = srv.client.get(srv.url("/api/docs")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/api/docs/");
    let r = srv.client.get(srv.url("/api/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "no external assets");
    let init = srv
        .client
        .get(srv.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api/openapi.json"));
    assert!(init.contains("\"persistAuthorization\": true"));
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"] {
        let r = srv.client.get(srv.url(&format!("/api/docs/{asset}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 1000, "{asset} is the real asset");
    }
    let r = srv.client.get(srv.url("/api/docs/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
});
