//! Resource-server mode against real issuers: the OpenID-certified `oidc-provider` (npm, started
//! here on 127.0.0.1 from `tests/oidc-provider`) and a Portcullis server. Every HTTP check runs on
//! the example's axum app and on the same app built on poem, and both must answer byte-identically.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::core::{AuthUser as _, Clock, ManualClock, SharedClock, UserStore as _};
use portcullis::resource_server::{Issuer, JwksSettings, JwtAlgorithm, ResourceServer, RevocationFeed};
use portcullis_tests::oidc_provider::{AUDIENCE, Provider, free_port, private_jwk};
use portcullis_tests::{Backend, TestServer};
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------------
// The protected API, on both adapters
// ------------------------------------------------------------------------------------------------

/// The example's routes on axum and the same routes on poem, each on its own port.
struct Apis {
    urls: [String; 2],
    client: reqwest::Client,
}

impl Apis {
    async fn start(verifier: ResourceServer) -> Self {
        let axum_app = resource_server::app(verifier.clone(), "admin");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let axum_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, axum_app).await.unwrap() });

        let poem_app = poem_app(verifier);
        let port = free_port();
        let poem_url = format!("http://127.0.0.1:{port}");
        let acceptor = poem::listener::TcpListener::bind(format!("127.0.0.1:{port}"));
        tokio::spawn(async move { poem::Server::new(acceptor).run(poem_app).await.unwrap() });
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{poem_url}/api/whoami")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { urls: [axum_url, poem_url], client }
    }

    /// The status of `GET path` with `token` on each adapter (while a change propagates).
    async fn statuses(&self, path: &str, token: &str) -> [u16; 2] {
        let mut statuses = [0; 2];
        for (status, url) in statuses.iter_mut().zip(&self.urls) {
            let response = self.client.get(format!("{url}{path}")).bearer_auth(token).send().await.unwrap();
            *status = response.status().as_u16();
        }
        statuses
    }

    /// `GET path` on both adapters; both answers must be the same. Returns the status and body.
    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut answers = Vec::new();
        for url in &self.urls {
            let mut request = self.client.get(format!("{url}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let challenge =
                response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            answers.push((status, challenge, body));
        }
        assert_eq!(answers[0], answers[1], "axum and poem answer {path} alike");
        let (status, challenge, body) = answers.remove(0);
        if status == 401 {
            assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "a 401 carries a Bearer challenge");
        }
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

fn poem_app(verifier: ResourceServer) -> impl poem::Endpoint {
    use poem::{EndpointExt, Route, get, handler, web::Json};
    use portcullis::poem::{Auth, AuthContext, Guard, RequireAuth};

    #[handler]
    fn whoami(Auth(principal): Auth) -> Json<Value> {
        Json(json!({
            "sub": principal.user_id,
            "method": principal.method.as_str(),
            "scopes": principal.scopes,
            "roles": principal.authority.roles,
            "tenant": principal.tenant(),
        }))
    }

    #[handler]
    fn admin(Auth(principal): Auth) -> Json<Value> {
        Json(json!({"admin": principal.user_id}))
    }

    let context = AuthContext::new(Arc::new(verifier));
    Route::new()
        .at("/api/whoami", get(whoami))
        .at("/api/admin", get(admin).with(RequireAuth::new(context.clone()).guard(Guard::role("admin"))))
        .with(context)
}

fn verifier(issuer: Issuer, clock: &ManualClock) -> ResourceServer {
    ResourceServer::builder().issuer(issuer).clock(Arc::new(clock.clone())).build().unwrap()
}

fn keycloak_style(provider: &Provider) -> Issuer {
    Issuer::discovery(&provider.issuer)
        .algorithms([JwtAlgorithm::RS256])
        .audience(AUDIENCE)
        .roles_claim("/realm_access/roles")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, payload, it.next().unwrap().to_owned())
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn oidc_provider_tokens_are_verified_and_mapped_on_both_adapters() {
    let provider = Provider::start(vec![private_jwk("rsa", "RS256", "key-a")], "RS256").await;
    let clock = ManualClock::starting_now();
    let apis = Apis::start(verifier(keycloak_style(&provider), &clock)).await;
    let admin = provider.token("admin").await;
    let plain = provider.token("plain").await;
    let (header, _, _) = parts(&admin);
    assert_eq!(header["alg"], "RS256");

    // A valid token; Keycloak-style nested roles.
    let (status, me) = apis.get("/api/whoami", Some(&admin)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["sub"], "admin");
    assert_eq!(me["method"], "external_jwt");
    assert_eq!(me["scopes"], json!(["read"]));
    assert_eq!(me["roles"], json!(["admin", "reader"]));
    assert_eq!(apis.get("/api/admin", Some(&admin)).await, (200, json!({"admin": "admin"})));
    let (status, body) = apis.get("/api/admin", Some(&plain)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("permission_denied")));
    let (status, body) = apis.get("/api/whoami", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_authenticated")));

    // `alg: none`, with and without a signature.
    let (header, payload, signature) = parts(&admin);
    let mut none = header.clone();
    none["alg"] = json!("none");
    for forged in [
        format!("{}.{}.", b64(&none), b64(&payload)),
        format!("{}.{}.{signature}", b64(&none), b64(&payload)),
    ] {
        assert_eq!(apis.get("/api/whoami", Some(&forged)).await.0, 401);
    }
    // HS256 "signed" with the issuer's public key as the secret (the key-confusion attack).
    let jwks: Value = reqwest::get(format!("{}/jwks", provider.issuer)).await.unwrap().json().await.unwrap();
    let public = jwks["keys"][0].to_string();
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    let secret_forged = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            alg: jsonwebtoken::Algorithm::HS256,
            kid: Some("key-a".into()),
            ..Default::default()
        },
        &payload,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    assert_eq!(apis.get("/api/whoami", Some(&secret_forged)).await.0, 401);
    // A changed claim breaks the signature.
    let mut elevated = payload.clone();
    elevated["realm_access"] = json!({"roles": ["admin"]});
    elevated["sub"] = json!("plain");
    let tampered = format!("{}.{}.{signature}", b64(&header), b64(&elevated));
    assert_eq!(apis.get("/api/admin", Some(&tampered)).await.0, 401);

    // Wrong audience: the same token at a service that expects another one.
    let other_api = verifier(
        Issuer::discovery(&provider.issuer)
            .algorithms([JwtAlgorithm::RS256])
            .audience("https://other.example.com"),
        &clock,
    );
    let refused = other_api.verify(&admin).await.unwrap_err();
    assert_eq!(refused.to_string(), "Token is invalid or expired");
    assert!(format!("{refused:?}").contains("WrongAudience"), "{refused:?}");

    // Wrong issuer: a second provider's perfectly signed token.
    let stranger = Provider::start(vec![private_jwk("rsa", "RS256", "key-a")], "RS256").await;
    let foreign = stranger.token("admin").await;
    assert_eq!(apis.get("/api/whoami", Some(&foreign)).await.0, 401);

    // Auth0-style namespaced claims: roles and tenant by JSON pointer.
    let auth0_style = verifier(
        Issuer::discovery(&provider.issuer)
            .algorithms([JwtAlgorithm::RS256])
            .audience(AUDIENCE)
            .roles_claim("/https:~1~1example.com~1roles")
            .tenant_claim("/https:~1~1example.com~1tenant"),
        &clock,
    );
    let principal = auth0_style.verify(&admin).await.unwrap();
    assert!(principal.has_role("admin") && !principal.has_role("reader"));
    assert_eq!(principal.tenant(), Some("acme"));
    assert!(!auth0_style.verify(&plain).await.unwrap().has_role("admin"));

    // Expired: past `exp` plus the leeway, on the injected clock.
    let (_, payload, _) = parts(&admin);
    let ttl = payload["exp"].as_i64().unwrap() - clock.unix_seconds();
    clock.advance(chrono::Duration::seconds(ttl + 31));
    let (status, body) = apis.get("/api/whoami", Some(&admin)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("token_not_valid")), "{body}");
}

#[tokio::test]
async fn rotated_keys_are_fetched_once_and_forged_kids_cause_no_fetch_storm() {
    let key_a = private_jwk("rsa", "RS256", "key-a");
    let mut provider = Provider::start(vec![key_a.clone()], "RS256").await;
    let clock = ManualClock::starting_now();
    let mut settings = JwksSettings::default();
    settings.refetch_interval = Duration::from_secs(60);
    let verifier = ResourceServer::builder()
        .issuer(keycloak_style(&provider))
        .clock(Arc::new(clock.clone()))
        .jwks_settings(settings)
        .build()
        .unwrap();
    let apis = Apis::start(verifier.clone()).await;
    let old = provider.token("admin").await;
    assert_eq!(apis.get("/api/whoami", Some(&old)).await.0, 200);
    assert_eq!(provider.jwks_requests().await, 1, "one JWKS fetch");

    // The issuer rotates a new key in (it signs; the old one still verifies).
    provider.restart_with(vec![private_jwk("rsa", "RS256", "key-b"), key_a]).await;
    let new = provider.token("admin").await;
    assert_eq!(parts(&new).0["kid"], "key-b");
    assert_eq!(apis.get("/api/whoami", Some(&new)).await.0, 200, "accepted after one refetch");
    assert_eq!(provider.jwks_requests().await, 1, "exactly one refetch for the new kid");
    assert_eq!(apis.get("/api/whoami", Some(&old)).await.0, 200);

    // A flood of forged kids: at most one fetch per interval.
    let (header, payload, signature) = parts(&new);
    let forged = |n: usize| {
        let mut h = header.clone();
        h["kid"] = json!(format!("forged-{n}"));
        format!("{}.{}.{signature}", b64(&h), b64(&payload))
    };
    for n in 0..40 {
        assert_eq!(apis.get("/api/whoami", Some(&forged(n))).await.0, 401);
    }
    assert_eq!(provider.jwks_requests().await, 1, "no fetch within the interval after the last one");
    clock.advance(chrono::Duration::seconds(61));
    for n in 40..80 {
        assert_eq!(apis.get("/api/whoami", Some(&forged(n))).await.0, 401);
    }
    assert_eq!(provider.jwks_requests().await, 2, "one fetch for the whole flood in the next interval");
    assert!(verifier.fetch_count(&provider.issuer) <= 4, "discovery once, JWKS three times");
}

#[tokio::test]
async fn keys_are_refreshed_in_the_background_before_they_expire() {
    let provider = Provider::start(vec![private_jwk("rsa", "RS256", "key-a")], "RS256").await;
    let clock = ManualClock::starting_now();
    let verifier = verifier(keycloak_style(&provider), &clock);
    let token = provider.token("admin").await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(provider.jwks_requests().await, 1);
    // No Cache-Control from this provider: the keys live the default 10 minutes and are refreshed
    // 30 s before that, in the background, while the request is served from the current set.
    clock.advance(chrono::Duration::seconds(560));
    let _ = verifier.verify(&token).await;
    assert_eq!(provider.jwks_requests().await, 1, "not due yet");
    clock.advance(chrono::Duration::seconds(15));
    let _ = verifier.verify(&token).await;
    let started = std::time::Instant::now();
    while provider.jwks_requests().await < 2 {
        assert!(started.elapsed() < Duration::from_secs(5), "the background refresh ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(verifier.fetch_count(&provider.issuer), 3, "discovery once, the JWKS twice");
}

#[tokio::test]
async fn issuer_down_serves_the_cached_keys_and_without_them_answers_401() {
    // The provider signs id tokens with RS256 by default, so it holds an RSA key too.
    let keys = vec![private_jwk("ec", "ES256", "ec-1"), private_jwk("rsa", "RS256", "rsa-1")];
    let mut provider = Provider::start(keys, "ES256").await;
    let clock = ManualClock::starting_now();
    let issuer = || {
        Issuer::discovery(&provider.issuer)
            .algorithms([JwtAlgorithm::ES256])
            .audience(AUDIENCE)
            .roles_claim("/realm_access/roles")
    };
    let warm = verifier(issuer(), &clock);
    assert!(warm.warm_up().await.is_empty());
    let cold = verifier(issuer(), &clock);
    let apis = Apis::start(warm).await;
    let cold_apis = Apis::start(cold).await;
    let token = provider.token("admin").await;
    assert_eq!(parts(&token).0["alg"], "ES256");
    provider.stop().await;

    // With the keys cached: still verifies, on both adapters, also past the keys' lifetime
    // (bounded staleness).
    assert_eq!(apis.get("/api/admin", Some(&token)).await.0, 200);
    clock.advance(chrono::Duration::seconds(120));
    assert_eq!(apis.get("/api/admin", Some(&token)).await.0, 200, "stale but within max_stale");
    // Without them: a 401, never a 503.
    let (status, body) = cold_apis.get("/api/whoami", Some(&token)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("token_not_valid")), "{body}");
}

#[tokio::test]
async fn every_signature_family_of_the_provider_verifies_when_pinned() {
    for (kind, alg, pinned) in [
        ("rsa", "PS256", JwtAlgorithm::PS256),
        ("p521", "ES512", JwtAlgorithm::ES512),
        ("ed25519", "EdDSA", JwtAlgorithm::EdDSA),
    ] {
        let keys = vec![private_jwk(kind, alg, "k"), private_jwk("rsa", "RS256", "id-token-key")];
        let provider = Provider::start(keys, alg).await;
        let token = provider.token("admin").await;
        assert_eq!(parts(&token).0["alg"], alg);
        let clock = ManualClock::starting_now();
        let issuer =
            || Issuer::discovery(&provider.issuer).audience(AUDIENCE).roles_claim("/realm_access/roles");
        let apis = Apis::start(verifier(issuer().algorithms([pinned]), &clock)).await;
        assert_eq!(apis.get("/api/admin", Some(&token)).await.0, 200, "{alg}");
        // The same token where only RS256 is accepted: refused, whatever the JWKS holds.
        let rs_only = verifier(issuer().algorithms([JwtAlgorithm::RS256]), &clock);
        assert!(rs_only.verify(&token).await.is_err(), "{alg} is not pinned");
    }
}

#[tokio::test]
async fn configuration_that_would_verify_loosely_is_refused() {
    let rs = || Issuer::discovery("https://issuer.example.com").audience("api");
    let error = |issuer: Issuer| ResourceServer::builder().issuer(issuer).build().unwrap_err().to_string();
    assert!(error(rs()).contains("pin its algorithms"));
    let unpinned_audience = Issuer::discovery("https://issuer.example.com").algorithms([JwtAlgorithm::RS256]);
    assert!(error(unpinned_audience.clone()).contains("audience"));
    assert!(ResourceServer::builder().issuer(unpinned_audience.danger_accept_any_audience()).build().is_ok());
    assert!(
        error(
            Issuer::discovery("http://issuer.example.com").algorithms([JwtAlgorithm::RS256]).audience("api")
        )
        .contains("HTTPS")
    );
    assert!(error(rs().algorithms([JwtAlgorithm::HS256])).contains("static keys"));
    assert!(
        error(rs().algorithms([JwtAlgorithm::RS256]).roles_claim("realm_access.roles"))
            .contains("JSON pointer")
    );
    assert!(ResourceServer::builder().build().is_err());
}

/// A Portcullis server as the issuer: its access tokens verify in another service from its JWKS,
/// and a sign-out reaches that service through the revocation feed within the documented bound.
async fn portcullis_issuer(adapter: portcullis_tests::Adapter) {
    let srv = TestServer::start_on(Backend::Sqlite, adapter, |s| {
        s.jwt_algorithm = "RS256".parse().unwrap();
        s.jwt_secret = None;
        s.issuer = Some("https://auth.example.com".to_owned());
    })
    .await
    .unwrap();
    // A service account that may read the feed, through an API key limited to it.
    srv.register("svc", "correct horse battery").await;
    let svc_id = srv.server.auth.store().find_by_login("svc").await.unwrap().unwrap().id();
    let roles = srv.server.auth.role_store().unwrap();
    roles.create_role("verifier", "reads revocations", srv.clock.now()).await.unwrap();
    roles.grant_permission("verifier", "revocations:read").await.unwrap();
    roles.assign_role(&svc_id, "verifier").await.unwrap();
    srv.server.auth.authority_changed(Some(&svc_id));
    let svc = srv.sign_in("svc", "correct horse battery").await;
    let key: Value = srv
        .client
        .post(srv.url("/api/auth/api-keys"))
        .bearer_auth(svc["access"].as_str().unwrap())
        .json(&json!({"name": "feed", "scopes": ["revocations:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let base = srv.server.url();
    let feed =
        RevocationFeed::portcullis(&base, key["key"].as_str().unwrap()).interval(Duration::from_millis(200));
    let clock: SharedClock = portcullis::core::SystemClock::shared();
    let verifier = ResourceServer::builder()
        .issuer(
            Issuer::portcullis(&base, "https://auth.example.com")
                .algorithms([JwtAlgorithm::RS256])
                .danger_accept_any_audience()
                .revocation_feed(feed),
        )
        .clock(clock)
        .build()
        .unwrap();
    let _background = verifier.spawn_background();
    let apis = Apis::start(verifier).await;

    let ada = srv.user_with_tokens("ada").await;
    let access = ada["access"].as_str().unwrap();
    let (status, me) = apis.get("/api/whoami", Some(access)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["method"], "jwt");
    let ada_id = srv.server.auth.store().find_by_login("ada").await.unwrap().unwrap().id();
    assert_eq!(me["sub"], json!(ada_id.to_string()));
    // A refresh token is not an access token.
    assert_eq!(apis.get("/api/whoami", Some(ada["refresh"].as_str().unwrap())).await.0, 401);

    // Sign-out: the grant's access token dies at the resource server within the bound.
    let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": ada["refresh"]})).await;
    assert_eq!(r.status(), 204);
    let started = std::time::Instant::now();
    while apis.statuses("/api/whoami", access).await != [401, 401] {
        assert!(started.elapsed() < Duration::from_secs(2), "revocation reached the resource server in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = apis.get("/api/whoami", Some(access)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("token_not_valid")));
}

#[tokio::test]
async fn a_portcullis_issuer_behind_axum_reaches_the_resource_server_with_its_revocations() {
    portcullis_issuer(portcullis_tests::Adapter::Axum).await;
}

#[tokio::test]
async fn a_portcullis_issuer_behind_poem_reaches_the_resource_server_with_its_revocations() {
    portcullis_issuer(portcullis_tests::Adapter::Poem).await;
}
