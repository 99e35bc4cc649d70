//! Password verification cost at OWASP's argon2id parameters (m=19456 KiB, t=2, p=1).
//!
//! `verify_known_user` checks a password against a real stored hash; `verify_unknown_user` takes the
//! dummy-hash path (`verify(pw, None)`) that sign-in uses for unknown usernames, and should cost the
//! same, so that response time does not reveal whether a user exists.
//!
//! Run: `cargo bench -p auth-core --bench password -- --warm-up-time 1 --measurement-time 5 --sample-size 10`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth_core::{PasswordHasher, PasswordHasherConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn password(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let hasher = PasswordHasher::new(PasswordHasherConfig::default()).expect("hasher");
    let stored = rt.block_on(hasher.hash("correct horse battery staple")).expect("hash");
    // Warm the lazily computed dummy hash so that its one-off creation is not measured.
    let _ = rt.block_on(hasher.verify("warm-up", None)).expect("dummy");

    let mut group = c.benchmark_group("password_verify_owasp");
    group.bench_function("known_user_correct", |b| {
        b.iter(|| {
            let check = rt
                .block_on(hasher.verify(black_box("correct horse battery staple"), Some(&stored)))
                .expect("verify");
            assert!(check.is_valid());
        });
    });
    group.bench_function("known_user_wrong", |b| {
        b.iter(|| {
            let check =
                rt.block_on(hasher.verify(black_box("wrong password"), Some(&stored))).expect("verify");
            assert!(!check.is_valid());
        });
    });
    group.bench_function("unknown_user_dummy_hash", |b| {
        b.iter(|| {
            let check =
                rt.block_on(hasher.verify(black_box("correct horse battery staple"), None)).expect("verify");
            assert!(!check.is_valid());
        });
    });
    group.finish();
}

criterion_group!(benches, password);
criterion_main!(benches);
