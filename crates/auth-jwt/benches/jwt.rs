//! Issuing and verifying an access token through [`auth_jwt::JwtService`], per algorithm: a
//! token seen for the first time (`jwt_verify_access`, the cache off) and again
//! (`jwt_verify_access_cached`).
//!
//! Run: `cargo bench -p auth-jwt --bench jwt -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth_core::{SystemClock, UserId};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtService, KeySet, TokenContents, TokenKind, generate_key};
use criterion::{Criterion, criterion_group, criterion_main};

const ALGORITHMS: [JwtAlgorithm; 6] = [
    JwtAlgorithm::HS256,
    JwtAlgorithm::RS256,
    JwtAlgorithm::PS256,
    JwtAlgorithm::ES256,
    JwtAlgorithm::ES384,
    JwtAlgorithm::EdDSA,
];

fn service(alg: JwtAlgorithm) -> JwtService {
    service_with(alg, JwtConfig::default().verified_token_cache(0))
}

fn service_with(alg: JwtAlgorithm, config: JwtConfig) -> JwtService {
    let key = generate_key(alg).expect("generate").to_key().expect("key");
    JwtService::new(config, KeySet::new(key).expect("key set"), SystemClock::shared()).expect("service")
}

fn jwt(c: &mut Criterion) {
    let user = UserId::new("42");
    let mut issue = c.benchmark_group("jwt_issue_access");
    for alg in ALGORITHMS {
        let jwt = service(alg);
        issue.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                jwt.issue(TokenKind::Access, black_box(&user), TokenContents::default()).expect("issue")
            });
        });
    }
    issue.finish();

    let mut verify = c.benchmark_group("jwt_verify_access");
    for alg in ALGORITHMS {
        let jwt = service(alg);
        let token = jwt.issue(TokenKind::Access, &user, TokenContents::default()).expect("issue").token;
        verify.bench_function(alg.as_str(), |b| {
            b.iter(|| jwt.verify(black_box(&token), TokenKind::Access).expect("verify"));
        });
    }
    verify.finish();

    // The same token again, with the verified-token cache on (the default): the signature is
    // checked once; then a SHA-256 of the token, a lookup and the time checks.
    let mut cached = c.benchmark_group("jwt_verify_access_cached");
    for alg in ALGORITHMS {
        let jwt = service_with(alg, JwtConfig::default());
        let token = jwt.issue(TokenKind::Access, &user, TokenContents::default()).expect("issue").token;
        cached.bench_function(alg.as_str(), |b| {
            b.iter(|| jwt.verify(black_box(&token), TokenKind::Access).expect("verify"));
        });
    }
    cached.finish();

    // What the server's access tokens carry: grant, fingerprint, amr, auth_time and the claim map
    // (username, is_staff, is_superuser, roles), about 550 bytes.
    let jwt = service(JwtAlgorithm::HS256);
    let mut contents = TokenContents::default();
    contents.sid = Some("4f6c0a2b9d8e4c1fa3b5d7e9f1a2b3c4".into());
    contents.cfp = Some("NCFXSSYmNqLPXHGp".into());
    contents.amr = vec!["pwd".into()];
    contents.auth_time = Some(1_800_000_000);
    contents.extra = serde_json::json!({
        "username": "alice", "is_staff": false, "is_superuser": false, "roles": ["editor", "viewer"]
    })
    .as_object()
    .cloned()
    .expect("object");
    let token = jwt.issue(TokenKind::Access, &user, contents).expect("issue").token;
    c.bench_function("jwt_verify_access_server_claims/HS256", |b| {
        b.iter(|| jwt.verify(black_box(&token), TokenKind::Access).expect("verify"));
    });
}

criterion_group!(benches, jwt);
criterion_main!(benches);
