//! Hostile tokens: forged, expired, not yet valid, wrong issuer/audience/kind, `alg: none`,
//! algorithm confusion and type confusion; and an RS256 server checked by an independent verifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, jwk::JwkSet};
use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TEST_SECRET, TestServer, assert_error, forge, http_test};

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The claims of a real access token for `username`, to tamper with.
async fn real_claims(srv: &TestServer, username: &str) -> (Value, Header) {
    let tokens = srv.user_with_tokens(username).await;
    let access = tokens["access"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access).unwrap().claims;
    (claims, header)
}

async fn refused(srv: &TestServer, token: &str) -> String {
    let r = srv.get_bearer("/api/auth/me", token).await;
    let challenge =
        r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_error(r, 401, "token_not_valid").await;
    challenge
}

http_test!(
    forged_tokens_with_the_right_key_still_need_valid_claims,
    |s: &mut auth_server::Settings| {
        s.issuer = Some("https://auth.example.com".into());
        s.audience = Some("notes-api".into());
    },
    |srv: TestServer| async move {
        let (claims, header) = real_claims(&srv, "mallory").await;
        // Control: a re-signed copy of the real claims is accepted (so the failures below are the claims).
        assert_eq!(
            srv.get_bearer("/api/auth/me", &forge(&header, &claims, TEST_SECRET.as_bytes())).await.status(),
            200
        );

        let now = srv.now();
        let mut cases: Vec<(&str, Value)> = Vec::new();
        let mut c = claims.clone();
        c["nbf"] = json!(now + 60);
        cases.push(("not valid yet", c));
        let mut c = claims.clone();
        c["iat"] = json!(now + 3600);
        cases.push(("not valid yet", c));
        let mut c = claims.clone();
        c["exp"] = json!(now - 60);
        cases.push(("expired", c));
        let mut c = claims.clone();
        c["iss"] = json!("https://evil.example");
        cases.push(("issuer", c));
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove("iss");
        cases.push(("issuer", c));
        let mut c = claims.clone();
        c["aud"] = json!("other-api");
        cases.push(("audience", c));
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove("aud");
        cases.push(("audience", c));
        let mut c = claims.clone();
        c["token_type"] = json!("refresh");
        cases.push(("wrong token type", c));
        let mut c = claims.clone();
        c["exp"] = json!((now + 600).to_string());
        cases.push(("malformed", c));
        let mut c = claims.clone();
        c["exp"] = json!(null);
        cases.push(("malformed", c));
        let mut c = claims.clone();
        c["sub"] = json!("someone-else");
        cases.push(("revoked", c));
        let mut c = claims.clone();
        c["cfp"] = json!("stale-fingerprint");
        cases.push(("revoked", c));
        for (reason, forged_claims) in cases {
            let token = forge(&header, &forged_claims, TEST_SECRET.as_bytes());
            let challenge = refused(&srv, &token).await;
            assert!(challenge.contains(reason), "{reason}: {challenge}");
        }
        // The array form of aud is accepted when it contains our audience.
        let mut c = claims.clone();
        c["aud"] = json!(["other", "notes-api"]);
        assert_eq!(
            srv.get_bearer("/api/auth/me", &forge(&header, &c, TEST_SECRET.as_bytes())).await.status(),
            200
        );
    }
);

http_test!(wrong_signatures_and_algorithms, |srv: TestServer| async move {
    let (claims, header) = real_claims(&srv, "trudy").await;
    // Another secret.
    let token = forge(&header, &claims, b"some-other-secret-that-is-also-long-enough!!");
    assert!(refused(&srv, &token).await.contains("signature"));
    // alg: none, with and without a signature part.
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    assert!(refused(&srv, &none).await.contains("algorithm"));
    let none = format!("{}.{}", b64(&json!({"alg": "none"})), b64(&claims));
    refused(&srv, &none).await;
    // Another HMAC size than configured.
    let token = forge(&Header::new(Algorithm::HS512), &claims, TEST_SECRET.as_bytes());
    assert!(refused(&srv, &token).await.contains("algorithm"));
    // Garbage.
    for junk in ["abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30."] {
        refused(&srv, junk).await;
    }
});

http_test!(
    rs256_server_publishes_jwks_and_refuses_algorithm_confusion,
    |s: &mut auth_server::Settings| {
        s.jwt_algorithm = "RS256".parse().unwrap();
        s.jwt_secret = None;
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("victor").await;
        let access = tokens["access"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(access).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let kid = header.kid.clone().expect("tokens carry a kid");

        // An independent verifier (jsonwebtoken with the JWKS) accepts the token.
        let jwks: JwkSet =
            srv.client.get(srv.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
        let raw: Value =
            srv.client.get(srv.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert!(raw["keys"][0].get("d").is_none(), "no private parts in the JWKS");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<Value>(access, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
        assert_eq!(data.claims["token_type"], "access");
        assert_eq!(data.claims["username"], "victor");

        // Algorithm confusion: an HS256 token whose HMAC key is the server's public key.
        let public_pem = std::fs::read(srv.settings.keys_dir.join("jwt-signing-rs256.pub")).unwrap();
        let claims = data.claims.clone();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(kid.clone());
        let confused = forge(&hs, &claims, &public_pem);
        assert!(refused(&srv, &confused).await.contains("algorithm"));
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = None;
        refused(&srv, &forge(&hs, &claims, &public_pem)).await;
        // The development key was generated with a private file of mode 0600.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(srv.settings.keys_dir.join("jwt-signing-rs256.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
);

#[tokio::test]
async fn rehash_on_sign_in_when_argon2_parameters_change() {
    let srv = TestServer::start(portcullis_tests::Backend::Sqlite).await.unwrap();
    srv.register("rita", "rita's password").await;
    let before = stored_hash(&srv, "rita").await;
    assert!(before.contains("m=64,t=1,p=1"), "{before}");
    let (mut settings, dir) = srv.stop().await;
    settings.argon2_iterations = 2;
    let srv = TestServer::start_settings(portcullis_tests::Backend::Sqlite, settings, dir).await;
    let tokens = srv.sign_in("rita", "rita's password").await;
    let after = stored_hash(&srv, "rita").await;
    assert!(after.contains("m=64,t=2,p=1"), "rehashed: {after}");
    assert_eq!(srv.get_bearer("/api/auth/me", tokens["access"].as_str().unwrap()).await.status(), 200);
    srv.sign_in("rita", "rita's password").await;
    assert_eq!(stored_hash(&srv, "rita").await, after, "no rehash when parameters match");
    // A wrong password never rehashes.
    let r =
        srv.post("/api/auth/mobile/sign-in", json!({"username": "rita", "password": "wrong password"})).await;
    assert_eq!(r.status(), 401);
}

async fn stored_hash(srv: &TestServer, username: &str) -> String {
    use portcullis::core::{AuthUser, UserStore};
    let user = srv.auth().store().find_by_login(username).await.unwrap().unwrap();
    user.password_hash().unwrap().to_owned()
}

/// A token with exactly this header and payload JSON (duplicates and unusual members kept as
/// written), signed with `key` by `alg`.
fn sign_raw(header: &str, payload: &str, key: &jsonwebtoken::EncodingKey, alg: Algorithm) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let message = format!("{}.{}", engine.encode(header), engine.encode(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

http_test!(header_members_that_change_the_meaning_of_a_token_are_refused, |srv: TestServer| async move {
    let (claims, _) = real_claims(&srv, "mallory").await;
    let payload = serde_json::to_string(&claims).unwrap();
    let key = jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes());
    let hs = |header: &str| sign_raw(header, &payload, &key, Algorithm::HS256);

    // Controls: the header jsonwebtoken writes, `typ` in any case, no `typ`, `b64: true`.
    for header in [
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"jwt"}"#,
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"HS256","b64":true}"#,
    ] {
        assert_eq!(srv.get_bearer("/api/auth/me", &hs(header)).await.status(), 200, "{header}");
    }
    for header in [
        // RFC 7515 §4.1.11: a critical extension this server does not understand; an empty list;
        // a list of registered names.
        r#"{"alg":"HS256","crit":["x-unknown"],"x-unknown":true}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        // RFC 7797: an unencoded payload, with and without its `crit`.
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        r#"{"alg":"HS256","b64":false}"#,
        r#"{"alg":"HS256","b64":null}"#,
        // Another type of token, a nested token.
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"alg":"HS256","typ":"JOSE"}"#,
        r#"{"alg":"HS256","cty":"JWT"}"#,
        // A member twice.
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#,
        r#"{"alg":"HS256","x":1,"x":2}"#,
        // The algorithm's name must be exact.
        r#"{"alg":"hs256"}"#,
        r#"{"alg":" HS256"}"#,
        r#"{"alg":"HS256 "}"#,
    ] {
        refused(&srv, &hs(header)).await;
    }
    // A claim twice in the payload: which one a parser keeps is not defined.
    let mut object = claims.as_object().unwrap().clone();
    let sub = object.remove("sub").unwrap();
    let body = serde_json::to_string(&object).unwrap();
    let duplicated = format!(r#"{{"sub":{sub},{},"sub":"someone-else"}}"#, &body[1..body.len() - 1]);
    refused(&srv, &sign_raw(r#"{"alg":"HS256"}"#, &duplicated, &key, Algorithm::HS256)).await;
    let nested = format!(r#"{{{},"extra":{{"a":1,"a":2}}}}"#, &payload[1..payload.len() - 1]);
    refused(&srv, &sign_raw(r#"{"alg":"HS256"}"#, &nested, &key, Algorithm::HS256)).await;
});

http_test!(
    keys_named_in_the_header_are_never_used,
    |s: &mut auth_server::Settings| {
        // The server's own RS256 key (generated into the keys directory).
        s.jwt_secret = None;
        s.jwt_algorithm = "RS256".parse().unwrap();
    },
    |srv: TestServer| async move {
        let tokens = srv.user_with_tokens("mallory").await;
        let access = tokens["access"].as_str().unwrap();
        let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access).unwrap().claims;
        let server_kid = jsonwebtoken::decode_header(access).unwrap().kid.unwrap();
        let payload = serde_json::to_string(&claims).unwrap();

        // The attacker's own key pair, offered in every way a header can point at a key.
        let attacker = portcullis::jwt::generate_key(portcullis::jwt::JwtAlgorithm::RS256).unwrap();
        let attacker_key = attacker.to_key().unwrap();
        let jwk = attacker_key.public_jwk().unwrap();
        let private = jsonwebtoken::EncodingKey::from_rsa_pem(attacker.private_pem.as_bytes()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let x5c = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
        for header in [
            json!({"alg": "RS256", "jwk": jwk}),
            json!({"alg": "RS256", "kid": server_kid, "jwk": jwk}),
            json!({"alg": "RS256", "jku": url}),
            json!({"alg": "RS256", "kid": server_kid, "jku": url}),
            json!({"alg": "RS256", "x5u": url}),
            json!({"alg": "RS256", "kid": server_kid, "x5c": [x5c]}),
        ] {
            let token = sign_raw(&header.to_string(), &payload, &private, Algorithm::RS256);
            refused(&srv, &token).await;
        }
        // Nothing was fetched from the URLs in the headers.
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the server connected to a URL named in a token header"
        );
    }
);
