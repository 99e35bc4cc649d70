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
    ("get", "/api/auth/revocations"),
    ("get", "/api/auth/admin/users"),
    ("get", "/api/auth/admin/users/{id}"),
    ("patch", "/api/auth/admin/users/{id}"),
    ("post", "/api/auth/admin/users/{id}/sign-out-all"),
    ("get", "/api/auth/admin/roles"),
    ("post", "/api/auth/admin/roles"),
    ("get", "/api/auth/admin/roles/{name}"),
    ("delete", "/api/auth/admin/roles/{name}"),
    ("post", "/api/auth/admin/roles/{name}/permissions"),
    ("delete", "/api/auth/admin/roles/{name}/permissions/{permission}"),
];

/// The routes that take a JSON body.
const WITH_BODY: &[&str] = &[
    "/api/auth/register",
    "/api/auth/admin/roles",
    "/api/auth/admin/roles/{name}/permissions",
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

http_test!(the_docs_ui_is_off_unless_asked_for, |srv: TestServer| async move {
    for path in ["/api/docs", "/api/docs/", "/api/docs/swagger-initializer.js"] {
        let r = srv.client.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // The document itself stays served (clients and generators need it).
    let r = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
});

http_test!(
    docs_ui_is_served_offline_under_a_content_security_policy,
    |s: &mut portcullis_tests::auth_server_settings::Settings| s.docs_ui = true,
    |srv: TestServer| async move {
        let r = srv.client.get(srv.url("/api/docs")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/api/docs/");
        let r = srv.client.get(srv.url("/api/docs/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        for directive in
            ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]
        {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let html = r.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        assert!(!html.contains("cdn") && !html.contains("unpkg"), "no external assets");
        let r = srv.client.get(srv.url("/api/docs/swagger-initializer.js")).send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let init = r.text().await.unwrap();
        assert!(init.contains("/api/openapi.json"));
        // Bearer tokens typed into "Authorize" are not kept in localStorage.
        assert!(init.contains("\"persistAuthorization\": false"), "{init}");
        for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"] {
            let r = srv.client.get(srv.url(&format!("/api/docs/{asset}"))).send().await.unwrap();
            assert_eq!(r.status(), 200, "{asset}");
            assert!(r.headers().contains_key("content-security-policy"), "{asset}");
            assert!(r.bytes().await.unwrap().len() > 1000, "{asset} is the real asset");
        }
        let r = srv.client.get(srv.url("/api/docs/nope.js")).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
);

/// The statuses the served document lists for `method path`.
fn documented_statuses(doc: &Value, method: &str, path: &str) -> BTreeSet<String> {
    doc["paths"][path][method]["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

http_test!(every_status_the_server_sends_is_documented, |srv: TestServer| async move {
    let doc: Value = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let access = srv.user_with_tokens("documented").await["access"].as_str().unwrap().to_owned();
    let oversized = format!("{{\"padding\": \"{}\"}}", "x".repeat(srv.settings.body_limit + 1));
    let mut answered_415 = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let listed = documented_statuses(&doc, method, path);
            let id = op["operationId"].as_str().unwrap();
            // Every answer that carries a Retry-After documents it, and every 401 its challenge.
            for (status, response) in op["responses"].as_object().unwrap() {
                if status == "429" || status == "503" {
                    assert!(response["headers"]["Retry-After"].is_object(), "{id} {status} Retry-After");
                }
                if status == "401" {
                    assert!(response["headers"]["WWW-Authenticate"].is_object(), "{id} 401 challenge");
                }
            }
            assert!(listed.contains("500") || ["healthz", "jwks"].contains(&id), "{id} lists 500");
            if op["requestBody"].is_null() {
                continue;
            }
            for status in ["400", "413", "415"] {
                assert!(listed.contains(status), "{id} documents {status}: {listed:?}");
            }
            let url = srv.url(&path.replace("{id}", "some-id"));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let send = |content_type: &'static str, body: String| {
                srv.client
                    .request(method.clone(), &url)
                    .bearer_auth(&access)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
            };
            let wrong_type = send("text/plain", "{}".to_owned()).await.unwrap();
            let status = wrong_type.status().as_u16();
            assert!(
                listed.contains(&status.to_string()),
                "{id}: text/plain answered {status}, listed {listed:?}"
            );
            if status == 415 {
                answered_415 += 1;
                portcullis_tests::assert_error(wrong_type, 415, "unsupported_media_type").await;
            }
            let too_large = send("application/json", oversized.clone()).await.unwrap();
            let status = too_large.status().as_u16();
            assert!(listed.contains(&status.to_string()), "{id}: an oversized body answered {status}");
            if status != 401 {
                portcullis_tests::assert_error(too_large, 413, "payload_too_large").await;
            }
            let broken = send("application/json", "{".to_owned()).await.unwrap();
            let status = broken.status().as_u16();
            assert!(listed.contains(&status.to_string()), "{id}: broken JSON answered {status}");
        }
    }
    assert!(answered_415 >= 15, "most JSON operations reached the content-type check: {answered_415}");

    // `null` is the documented "no body" of TOTP setup (a recent sign-in needs no password).
    let r = srv
        .client
        .post(srv.url("/api/auth/mfa/totp/setup"))
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
});

http_test!(
    email_operations_answer_404_without_an_email_backend_as_documented,
    |s: &mut portcullis_tests::auth_server_settings::Settings| {
        s.email_backend = None;
        s.email_from = None;
        s.frontend_url = None;
    },
    |srv: TestServer| async move {
        let full = portcullis::flows::http::openapi::document();
        let full = serde_json::to_value(&full).unwrap();
        let served: Value =
            srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
        for path in [
            "/api/auth/password/reset",
            "/api/auth/password/reset/confirm",
            "/api/auth/email/verify",
            "/api/auth/email/resend",
            "/api/auth/email/change/cancel",
        ] {
            let r = srv.post(path, serde_json::json!({"email": "a@example.com", "token": "t"})).await;
            portcullis_tests::assert_error(r, 404, "not_found").await;
            assert!(documented_statuses(&full, "post", path).contains("404"), "{path} documents 404");
            assert!(served["paths"][path].is_null(), "{path} is not in the document of a server without it");
        }
    }
);
