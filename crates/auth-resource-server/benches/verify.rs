//! The cost of one verification, without HTTP: `cargo bench -p auth-resource-server --bench verify`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{ManualClock, UserId};
use auth_jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, TokenContents, TokenKind, generate_key};
use auth_resource_server::{Issuer, ResourceServer};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for alg in [JwtAlgorithm::HS256, JwtAlgorithm::RS256, JwtAlgorithm::ES256, JwtAlgorithm::EdDSA] {
        let key = if alg.is_hmac() {
            JwtKey::hmac(alg, &[7u8; 32]).unwrap()
        } else {
            generate_key(alg).unwrap().to_key().unwrap()
        };
        let clock = Arc::new(ManualClock::starting_now());
        let config = JwtConfig::default().issuer("https://issuer.bench").audience("bench-api");
        let jwt = JwtService::new(config, KeySet::new(key.clone()).unwrap(), clock.clone()).unwrap();
        let token =
            jwt.issue(TokenKind::Access, &UserId::new("bench-user"), TokenContents::default()).unwrap().token;
        let verifier = ResourceServer::builder()
            .issuer(Issuer::static_keys("https://issuer.bench", [key]).audience("bench-api"))
            .clock(clock)
            .build()
            .unwrap();
        runtime.block_on(verifier.verify(&token)).unwrap();
        c.bench_function(&format!("resource_server_verify_{alg}"), |b| {
            b.iter(|| runtime.block_on(verifier.verify(&token)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
