//! The verifier with keys given in configuration: chains, the verified-token cache, mapping and
//! time rules, on the injected clock. (Fetched keys are tested against a real OpenID provider in
//! `tests/tests/resource_server.rs`.)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{Authenticator, CredentialMethod, FirstPresented, ManualClock, UserId};
use auth_jwt::{JwtConfig, JwtService, KeySet, TokenContents, TokenKind, generate_key};
use auth_resource_server::{ClaimRequirement, Issuer, JwtAlgorithm, JwtKey, ResourceServer};
use serde_json::json;

const ISSUER: &str = "https://issuer.example.com";

fn issuer_of(alg: JwtAlgorithm, clock: &ManualClock) -> (JwtService, JwtKey) {
    let generated = generate_key(alg).unwrap();
    let signing = generated.to_key().unwrap();
    let public = JwtKey::from_public_pem(alg, generated.public_pem.unwrap().as_bytes()).unwrap();
    let config = JwtConfig::default().issuer(ISSUER).audience("api");
    (JwtService::new(config, KeySet::new(signing).unwrap(), Arc::new(clock.clone())).unwrap(), public)
}

fn request(token: &str) -> http::request::Parts {
    http::Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0
}

#[tokio::test]
async fn public_pem_keys_of_every_family_verify_inside_a_first_presented_chain() {
    let clock = ManualClock::starting_now();
    for alg in [JwtAlgorithm::RS256, JwtAlgorithm::PS384, JwtAlgorithm::ES512, JwtAlgorithm::EdDSA] {
        let (issuer, public) = issuer_of(alg, &clock);
        let mut extra = serde_json::Map::new();
        extra.insert("roles".into(), json!(["editor"]));
        extra.insert("scope".into(), json!("notes:read notes:write"));
        let mut contents = TokenContents::default();
        contents.extra = extra;
        let token = issuer.issue(TokenKind::Access, &UserId::new("u1"), contents).unwrap().token;
        let verifier = ResourceServer::builder()
            .issuer(Issuer::static_keys(ISSUER, [public]).audience("api").roles_claim("/roles"))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let chain = FirstPresented::new(vec![Arc::new(verifier)]);
        let principal = chain.authenticate(&request(&token)).await.unwrap().unwrap();
        assert_eq!(principal.user_id.as_str(), "u1", "{alg}");
        assert_eq!(principal.method, CredentialMethod::ExternalJwt);
        assert!(principal.has_role("editor") && principal.allows_scope("notes:write"));
        assert!(!principal.allows_scope("notes:delete"));
        assert!(principal.claim("exp").is_none() && principal.claim("token_type").is_some());
        let no_token = http::Request::new(()).into_parts().0;
        assert!(chain.authenticate(&no_token).await.unwrap().is_none(), "absent: the next authenticator");
    }
}

#[tokio::test]
async fn time_audience_and_requirements() {
    let clock = ManualClock::starting_now();
    let (issuer, public) = issuer_of(JwtAlgorithm::ES256, &clock);
    let token = issuer.issue(TokenKind::Access, &UserId::new("u1"), TokenContents::default()).unwrap().token;
    let build = |issuer: Issuer| {
        ResourceServer::builder().issuer(issuer).clock(Arc::new(clock.clone())).build().unwrap()
    };
    let base = || Issuer::static_keys(ISSUER, [public.clone()]);
    assert!(build(base().audience("api")).verify(&token).await.is_ok());
    assert!(build(base().audience("other")).verify(&token).await.is_err(), "audience");
    let requiring = base().audience("api").require(ClaimRequirement::value("token_type", json!("refresh")));
    assert!(build(requiring).verify(&token).await.is_err(), "requirement");
    let jti = base().audience("api").require(ClaimRequirement::essential("jti"));
    assert!(build(jti).verify(&token).await.is_ok(), "a requirement on a registered claim");
    let refresh =
        issuer.issue(TokenKind::Refresh, &UserId::new("u1"), TokenContents::default()).unwrap().token;
    let portcullis = Issuer::static_keys(ISSUER, [public.clone()]).audience("api");
    let mut portcullis = portcullis;
    portcullis.portcullis = true;
    portcullis.requirements.push(ClaimRequirement::value("token_type", json!("access")));
    let portcullis = build(portcullis);
    assert_eq!(portcullis.verify(&token).await.unwrap().method, CredentialMethod::Jwt);
    assert!(portcullis.verify(&refresh).await.is_err(), "a refresh token is not an access token");

    let verifier = build(base().audience("api"));
    clock.advance(chrono::Duration::minutes(5) + chrono::Duration::seconds(29));
    assert!(verifier.verify(&token).await.is_ok(), "within the leeway");
    clock.advance(chrono::Duration::seconds(1));
    assert!(verifier.verify(&token).await.is_err(), "expired");
}

#[tokio::test]
async fn the_token_cache_never_outlives_exp_and_tampering_still_fails() {
    let clock = ManualClock::starting_now();
    let (issuer, public) = issuer_of(JwtAlgorithm::RS256, &clock);
    let token = issuer.issue(TokenKind::Access, &UserId::new("u1"), TokenContents::default()).unwrap().token;
    let verifier = ResourceServer::builder()
        .issuer(Issuer::static_keys(ISSUER, [public]).audience("api").leeway(std::time::Duration::ZERO))
        .clock(Arc::new(clock.clone()))
        .token_cache(2)
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(verifier.verify(&token).await.unwrap().user_id.as_str(), "u1");
    }
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert!(verifier.verify(&tampered).await.is_err(), "a different token is not a cache hit");
    clock.advance(chrono::Duration::minutes(5));
    assert!(verifier.verify(&token).await.is_err(), "the cached entry died with the token");
}

#[tokio::test]
async fn a_revocation_feed_that_cannot_be_read_fails_closed_with_503() {
    use auth_core::AuthError;
    use auth_resource_server::RevocationFeed;

    let clock = ManualClock::starting_now();
    let (issuer, public) = issuer_of(JwtAlgorithm::ES256, &clock);
    let token = issuer.issue(TokenKind::Access, &UserId::new("u1"), TokenContents::default()).unwrap().token;
    // Nothing listens on port 1.
    let feed = RevocationFeed::portcullis("http://127.0.0.1:1", "key");
    let verifier = ResourceServer::builder()
        .issuer(Issuer::static_keys(ISSUER, [public]).audience("api").revocation_feed(feed))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    for _ in 0..3 {
        let refused = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(refused, AuthError::Unavailable { .. }), "{refused:?}");
    }
}
