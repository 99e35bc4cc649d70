//! JwtService: every algorithm, claim requirements, key rotation, leeway, kinds.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{AuthError, ManualClock, TokenRejection, UserId};
use auth_jwt::{
    ClaimRequirement, JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, TokenContents, TokenKind,
    generate_key,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde_json::{Map, Value, json};

fn service(keys: KeySet, config: JwtConfig) -> (JwtService, ManualClock) {
    let clock = ManualClock::starting_at_unix(1_800_000_000);
    (JwtService::new(config, keys, Arc::new(clock.clone())).unwrap(), clock)
}

fn rejection(result: Result<auth_jwt::Claims, AuthError>) -> TokenRejection {
    match result {
        Err(AuthError::InvalidToken(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A token's header (jsonwebtoken's `decode_header` knows no ES512).
fn header(token: &str) -> Value {
    let encoded = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

fn with_extra(extra: Value) -> TokenContents {
    let mut contents = TokenContents::default();
    contents.extra = extra.as_object().cloned().unwrap_or_else(Map::new);
    contents
}

#[test]
fn every_algorithm_round_trips_and_kinds_never_mix() {
    assert_eq!(JwtAlgorithm::ALL.len(), 13, "every algorithm, PS384, PS512 and ES512 included");
    assert!(JwtAlgorithm::ALL.contains(&JwtAlgorithm::ES512));
    for &alg in JwtAlgorithm::ALL {
        let key = generate_key(alg).unwrap().to_key().unwrap();
        let (jwt, _) = service(KeySet::new(key).unwrap(), JwtConfig::default());
        let access = jwt.issue(TokenKind::Access, &UserId::new("u1"), TokenContents::default()).unwrap();
        let header = header(&access.token);
        assert_eq!(header["alg"], alg.as_str(), "{alg}");
        assert_eq!(header["typ"], "JWT", "{alg}");
        assert_eq!(header["kid"].as_str(), jwt.keys().signing_key().map(JwtKey::kid));
        assert_eq!(header.as_object().unwrap().len(), 3, "{alg}: {header}");
        if let Ok(theirs) = jsonwebtoken::decode_header(&access.token) {
            assert_eq!(format!("{:?}", theirs.alg), alg.as_str(), "jsonwebtoken reads the same header");
        }
        assert_eq!(jwt.verify(&access.token, TokenKind::Access).unwrap().sub, "u1", "{alg}");
        assert_eq!(rejection(jwt.verify(&access.token, TokenKind::Refresh)), TokenRejection::WrongKind);
        let refresh = jwt.issue(TokenKind::Refresh, &UserId::new("u1"), TokenContents::default()).unwrap();
        assert_eq!(rejection(jwt.verify(&refresh.token, TokenKind::Access)), TokenRejection::WrongKind);
    }
}

#[test]
fn leeway_is_configurable_and_small_by_default() {
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[1u8; 32]).unwrap();
    let (jwt, clock) = service(KeySet::new(key.clone()).unwrap(), JwtConfig::default());
    assert!(jwt.config().leeway <= Duration::seconds(10));
    let token = jwt.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    clock.advance(Duration::seconds(300 + 5));
    assert!(jwt.verify(&token, TokenKind::Access).is_ok());
    clock.advance(Duration::seconds(1));
    assert_eq!(rejection(jwt.verify(&token, TokenKind::Access)), TokenRejection::Expired);

    let (strict, clock) = service(KeySet::new(key).unwrap(), JwtConfig::default().leeway(Duration::zero()));
    let token = strict.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    clock.advance(Duration::seconds(301));
    assert_eq!(rejection(strict.verify(&token, TokenKind::Access)), TokenRejection::Expired);
}

#[test]
fn claim_requirements_apply_to_custom_claims() {
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[2u8; 32]).unwrap();
    let config = JwtConfig::default()
        .require(ClaimRequirement::essential("tenant"))
        .require(ClaimRequirement::one_of("tenant", vec![json!("acme"), json!("globex")]))
        .require(ClaimRequirement::value("roles", json!("editor")));
    let (jwt, _) = service(KeySet::new(key).unwrap(), config);
    let issue =
        |extra: Value| jwt.issue(TokenKind::Access, &UserId::new("u"), with_extra(extra)).unwrap().token;
    assert!(
        jwt.verify(&issue(json!({"tenant": "acme", "roles": ["editor", "x"]})), TokenKind::Access).is_ok()
    );
    for bad in [
        json!({"roles": ["editor"]}),
        json!({"tenant": "initech", "roles": ["editor"]}),
        json!({"tenant": "acme", "roles": ["viewer"]}),
        json!({"tenant": null, "roles": ["editor"]}),
    ] {
        assert_eq!(
            rejection(jwt.verify(&issue(bad.clone()), TokenKind::Access)),
            TokenRejection::ClaimRequirement,
            "{bad}"
        );
    }
}

#[test]
fn custom_claims_cannot_overwrite_registered_ones() {
    let key = JwtKey::hmac(JwtAlgorithm::HS256, &[3u8; 32]).unwrap();
    let (jwt, _) = service(KeySet::new(key).unwrap(), JwtConfig::default());
    assert!(jwt.issue(TokenKind::Access, &UserId::new("u"), with_extra(json!({"exp": 1}))).is_err());
    assert!(
        jwt.issue(TokenKind::Access, &UserId::new("u"), with_extra(json!({"token_type": "refresh"})))
            .is_err()
    );
}

#[test]
fn rotation_old_key_verifies_new_key_signs() {
    let old = generate_key(JwtAlgorithm::ES256).unwrap().to_key().unwrap();
    let new = generate_key(JwtAlgorithm::EdDSA).unwrap().to_key().unwrap();
    let (before, _) = service(KeySet::new(old.clone()).unwrap(), JwtConfig::default());
    let old_token =
        before.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;

    let rotated = KeySet::new(new.clone()).unwrap().with_verification_key(old.clone());
    let (after, _) = service(rotated, JwtConfig::default());
    let new_token =
        after.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new.kid()));
    assert!(after.verify(&old_token, TokenKind::Access).is_ok(), "old tokens keep working during rotation");
    assert!(after.verify(&new_token, TokenKind::Access).is_ok());
    let kids: Vec<String> = after.jwks()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(kids.contains(&old.kid().to_owned()) && kids.contains(&new.kid().to_owned()));

    // Once the old key is dropped, its tokens are refused.
    let (dropped, _) = service(KeySet::new(new).unwrap(), JwtConfig::default());
    assert!(dropped.verify(&old_token, TokenKind::Access).is_err());
}

#[test]
fn public_only_key_verifies_tokens_of_its_private_half() {
    let generated = generate_key(JwtAlgorithm::RS256).unwrap();
    let signing = generated.to_key().unwrap();
    let (signer, _) = service(KeySet::new(signing.clone()).unwrap(), JwtConfig::default());
    let token = signer.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    let public =
        JwtKey::from_public_pem(JwtAlgorithm::RS256, generated.public_pem.as_deref().unwrap().as_bytes())
            .unwrap();
    assert_eq!(public.kid(), signing.kid());
    assert!(!public.can_sign());
    let verifier_keys = KeySet::new(JwtKey::hmac(JwtAlgorithm::HS256, &[9u8; 32]).unwrap())
        .unwrap()
        .with_verification_key(public);
    let (verifier, _) = service(verifier_keys, JwtConfig::default());
    assert!(verifier.verify(&token, TokenKind::Access).is_ok());
}

#[test]
fn a_verification_only_key_set_verifies_and_never_issues() {
    let generated = generate_key(JwtAlgorithm::ES256).unwrap();
    let (signer, _) = service(KeySet::new(generated.to_key().unwrap()).unwrap(), JwtConfig::default());
    let token = signer.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    let public =
        JwtKey::from_public_pem(JwtAlgorithm::ES256, generated.public_pem.as_deref().unwrap().as_bytes())
            .unwrap();
    assert!(KeySet::new(public.clone()).is_err(), "a public key cannot be a signing key");
    assert!(KeySet::verification_only(Vec::new()).is_err(), "an empty set verifies nothing");
    let keys = KeySet::verification_only([public]).unwrap();
    assert!(keys.signing_key().is_none());
    let (verifier, _) = service(keys, JwtConfig::default());
    assert_eq!(verifier.algorithm(), None);
    assert_eq!(verifier.verify(&token, TokenKind::Access).unwrap().sub, "u");
    assert!(verifier.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).is_err());
    assert_eq!(verifier.jwks()["keys"].as_array().unwrap().len(), 1, "the public key is published");
}

#[test]
fn es512_tokens_sign_verify_and_refuse_tampering() {
    let generated = generate_key(JwtAlgorithm::ES512).unwrap();
    let key = generated.to_key().unwrap();
    let (jwt, _) = service(KeySet::new(key.clone()).unwrap(), JwtConfig::default().issuer("https://iss"));
    assert_eq!(jwt.algorithm(), Some(JwtAlgorithm::ES512));
    let token = jwt.issue(TokenKind::Access, &UserId::new("u"), TokenContents::default()).unwrap().token;
    let (message, signature) = token.rsplit_once('.').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    assert_eq!(raw.len(), 132, "fixed-length r || s on P-521 (RFC 7518 section 3.4)");
    assert_eq!(jwt.verify(&token, TokenKind::Access).unwrap().sub, "u");

    // A flipped bit anywhere in r or s, a truncated signature, another payload: refused.
    for i in [0, 1, 65, 66, 100, 131] {
        let mut tampered = raw.clone();
        tampered[i] ^= 0x80;
        let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&tampered));
        assert_eq!(rejection(jwt.verify(&forged, TokenKind::Access)), TokenRejection::BadSignature, "{i}");
    }
    let truncated = format!("{message}.{}", URL_SAFE_NO_PAD.encode(&raw[..130]));
    assert_eq!(rejection(jwt.verify(&truncated, TokenKind::Access)), TokenRejection::BadSignature);
    let (header_b64, _) = message.split_once('.').unwrap();
    let other_payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#);
    let swapped = format!("{header_b64}.{other_payload}.{signature}");
    assert_eq!(rejection(jwt.verify(&swapped, TokenKind::Access)), TokenRejection::BadSignature);

    // Another P-521 key does not verify it, nor does an ES256 or ES384 service.
    let other = generate_key(JwtAlgorithm::ES512).unwrap().to_key().unwrap();
    let (stranger, _) = service(KeySet::new(other).unwrap(), JwtConfig::default().issuer("https://iss"));
    assert_eq!(rejection(stranger.verify(&token, TokenKind::Access)), TokenRejection::BadSignature);
    for alg in [JwtAlgorithm::ES256, JwtAlgorithm::ES384] {
        let key = generate_key(alg).unwrap().to_key().unwrap();
        let (wrong, _) = service(KeySet::new(key).unwrap(), JwtConfig::default().issuer("https://iss"));
        assert_eq!(
            rejection(wrong.verify(&token, TokenKind::Access)),
            TokenRejection::WrongAlgorithm,
            "{alg}"
        );
    }

    // The public PEM verifies it too.
    let public =
        JwtKey::from_public_pem(JwtAlgorithm::ES512, generated.public_pem.as_deref().unwrap().as_bytes())
            .unwrap();
    assert_eq!(public.kid(), key.kid());
    let (verifier, _) =
        service(KeySet::verification_only([public]).unwrap(), JwtConfig::default().issuer("https://iss"));
    assert_eq!(verifier.verify(&token, TokenKind::Access).unwrap().sub, "u");
}

#[test]
fn es512_public_jwk_round_trips_and_verifies_tokens() {
    let key = generate_key(JwtAlgorithm::ES512).unwrap().to_key().unwrap();
    let (signer, _) = service(KeySet::new(key.clone()).unwrap(), JwtConfig::default());
    let token = signer.issue(TokenKind::Refresh, &UserId::new("u"), TokenContents::default()).unwrap().token;

    let jwks = signer.jwks();
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-521");
    assert_eq!(jwk["alg"], "ES512");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], key.kid());
    assert!(jwk.get("d").is_none(), "no private member is published");
    for coordinate in ["x", "y"] {
        let bytes = URL_SAFE_NO_PAD.decode(jwk[coordinate].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), 66, "P-521 coordinates have 66 bytes");
    }
    assert_eq!(*jwk, key.public_jwk().unwrap());

    let public = JwtKey::from_jwk(jwk, None).unwrap();
    assert_eq!(public.algorithm(), JwtAlgorithm::ES512);
    assert_eq!(public.kid(), key.kid());
    assert!(!public.can_sign());
    assert_eq!(public.public_jwk().unwrap(), *jwk, "the JWK round-trips unchanged");
    let (verifier, _) = service(KeySet::verification_only([public]).unwrap(), JwtConfig::default());
    assert_eq!(verifier.verify(&token, TokenKind::Refresh).unwrap().sub, "u");
    assert_eq!(verifier.jwks(), jwks);
}

#[test]
fn verified_tokens_are_remembered_until_they_expire() {
    for alg in [JwtAlgorithm::RS256, JwtAlgorithm::ES256, JwtAlgorithm::EdDSA, JwtAlgorithm::HS256] {
        let key = match alg {
            JwtAlgorithm::HS256 => JwtKey::hmac(alg, &[3u8; 32]).unwrap(),
            _ => generate_key(alg).unwrap().to_key().unwrap(),
        };
        let (jwt, clock) = service(KeySet::new(key).unwrap(), JwtConfig::default().verified_token_cache(2));
        let user = UserId::new("u1");
        let access = jwt.issue(TokenKind::Access, &user, TokenContents::default()).unwrap().token;
        assert_eq!(jwt.verify(&access, TokenKind::Access).unwrap().sub, "u1");
        assert_eq!(jwt.cached_tokens(), 1, "{alg}: remembered");
        // From the cache: the same claims, and the kind is still checked.
        assert_eq!(jwt.verify(&access, TokenKind::Access).unwrap().sub, "u1");
        assert_eq!(rejection(jwt.verify(&access, TokenKind::Refresh)), TokenRejection::WrongKind);
        // The cache is keyed by the whole token: another signature is checked, and refused.
        let (head, _) = access.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert_eq!(rejection(jwt.verify(&forged, TokenKind::Access)), TokenRejection::BadSignature);
        assert_eq!(jwt.cached_tokens(), 1, "a refused token is not remembered");
        // A refresh token is presented once: never remembered.
        let refresh = jwt.issue(TokenKind::Refresh, &user, TokenContents::default()).unwrap().token;
        assert_eq!(jwt.verify(&refresh, TokenKind::Refresh).unwrap().sub, "u1");
        assert_eq!(jwt.cached_tokens(), 1, "{alg}: refresh tokens are not cached");
        // Bounded: a full cache of live tokens makes room for the newest, and every token still
        // verifies.
        let tokens: Vec<String> = (0..4)
            .map(|n| {
                let user = UserId::new(format!("u{n}"));
                jwt.issue(TokenKind::Access, &user, TokenContents::default()).unwrap().token
            })
            .collect();
        for token in &tokens {
            jwt.verify(token, TokenKind::Access).unwrap();
        }
        assert_eq!(jwt.cached_tokens(), 2, "{alg}: at most the capacity");
        let newest = tokens.last().unwrap();
        jwt.verify(newest, TokenKind::Access).unwrap();
        assert_eq!(jwt.cached_tokens(), 2);
        // Expiry applies to remembered tokens (5 min plus the 5 s leeway).
        clock.advance(Duration::seconds(300 + 6));
        assert_eq!(rejection(jwt.verify(&access, TokenKind::Access)), TokenRejection::Expired);
        // Once full of expired entries, new tokens replace them.
        let fresh = jwt.issue(TokenKind::Access, &user, TokenContents::default()).unwrap().token;
        jwt.verify(&fresh, TokenKind::Access).unwrap();
        assert_eq!(jwt.cached_tokens(), 1, "{alg}: the expired ones were forgotten");
    }
    // Turned off.
    let key = generate_key(JwtAlgorithm::ES256).unwrap().to_key().unwrap();
    let (jwt, _) = service(KeySet::new(key).unwrap(), JwtConfig::default().verified_token_cache(0));
    let access = jwt.issue(TokenKind::Access, &UserId::new("u1"), TokenContents::default()).unwrap().token;
    jwt.verify(&access, TokenKind::Access).unwrap();
    assert_eq!(jwt.cached_tokens(), 0);
}
