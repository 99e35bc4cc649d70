//! Hostile input that is well-formed JSON: a NUL character in any string field of any endpoint is
//! a 400 before anything reaches a store (PostgreSQL's text cannot hold it: it used to be a 500).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_tests::serde_json::{Map, Value, json};
use portcullis_tests::{TestServer, assert_error, http_test};

/// A value of the schema's type: `"x"`, or NUL-bearing when `nul` (strings, arrays of strings).
fn sample(schema: &Value, nul: bool) -> Value {
    let text = if nul { "a\u{0}b" } else { "x" };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["string"],
    };
    if types.contains(&"array") {
        json!([text])
    } else if types.contains(&"integer") {
        json!(60)
    } else if types.contains(&"boolean") {
        json!(true)
    } else {
        json!(text)
    }
}

/// The schema `schema` refers to; for an optional body (`oneOf: [null, {$ref}]`), the object's.
fn resolve<'d>(doc: &'d Value, schema: &'d Value) -> &'d Value {
    if let Some(variants) = schema["oneOf"].as_array()
        && let Some(object) = variants.iter().find(|v| v.get("$ref").is_some())
    {
        return resolve(doc, object);
    }
    match schema["$ref"].as_str() {
        Some(reference) => doc.pointer(reference.trim_start_matches('#')).unwrap(),
        None => schema,
    }
}

http_test!(a_nul_character_in_any_string_field_of_any_endpoint_is_a_400, |srv: TestServer| async move {
    let tokens = srv.user_with_tokens("nils").await;
    let access = tokens["access"].as_str().unwrap().to_owned();
    let doc: Value = srv.client.get(srv.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") else {
                continue;
            };
            let schema = resolve(&doc, schema);
            let properties = schema["properties"].as_object().unwrap();
            let textual: Vec<&String> = properties
                .iter()
                .filter(|(_, p)| {
                    let p = resolve(&doc, p);
                    let t = p["type"].to_string();
                    t.contains("string") || (t.contains("array") && p["items"]["type"] == "string")
                })
                .map(|(name, _)| name)
                .collect();
            for field in textual {
                let body: Map<String, Value> = properties
                    .iter()
                    .map(|(name, p)| (name.clone(), sample(resolve(&doc, p), name == field)))
                    .collect();
                let url = srv.url(&path.replace("{id}", "some-id"));
                let request = match method.as_str() {
                    "patch" => srv.client.patch(url),
                    "delete" => srv.client.delete(url),
                    _ => srv.client.post(url),
                };
                let r = request.bearer_auth(&access).json(&body).send().await.unwrap();
                let error = assert_error(r, 400, "invalid_input").await;
                assert_eq!(
                    error["detail"], "body: must not contain NUL characters (\\u0000)",
                    "{method} {path} {field}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked} fields checked");
    // The sign-ins that used to answer 500 on PostgreSQL.
    for path in ["/api/auth/mobile/sign-in", "/api/auth/token/sign-in", "/api/auth/session/sign-in"] {
        let r = srv.post(path, json!({"username": "a\u{0}b", "password": "x"})).await;
        assert_error(r, 400, "invalid_input").await;
    }
    // Nothing was changed: the user still signs in with the same password.
    srv.sign_in("nils", "correct horse battery").await;
});
