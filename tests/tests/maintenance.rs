//! The periodic flush over real HTTP, both adapters, both databases: everything that expired is
//! deleted — grants, MFA challenges, cookie sessions, opaque tokens, API keys — and the
//! in-process revocation list forgets revoked grants that have ended. Time is the server's
//! injected clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_tests::serde_json::{Value, json};
use portcullis_tests::{TestServer, http_test};

const PASSWORD: &str = "correct horse battery";

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

http_test!(
    the_flush_deletes_every_expired_credential_and_forgets_ended_revocations,
    |s: &mut auth_server::Settings| {
        s.token_ttl = 86_400;
        s.session_ttl = 86_400;
        s.session_idle_ttl = 3600;
        s.refresh_ttl = 86_400;
        s.grant_max_age = 86_400;
    },
    |srv: TestServer| async move {
        // A user with TOTP whose password sign-in stops at the MFA step: one challenge.
        let tokens = srv.user_with_tokens("mia").await;
        let access = tokens["access"].as_str().unwrap();
        let setup: Value = srv
            .client
            .post(srv.url("/api/auth/mfa/totp/setup"))
            .bearer_auth(access)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let uri = setup["otpauth_uri"].as_str().unwrap();
        let code =
            totp_rs::Totp::from_url(uri).unwrap().generate(u64::try_from(srv.now()).unwrap()).to_string();
        let r = srv
            .client
            .post(srv.url("/api/auth/mfa/totp/confirm"))
            .bearer_auth(access)
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let step: Value = srv
            .post("/api/auth/mobile/sign-in", json!({"username": "mia", "password": PASSWORD}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(step["mfa_required"], true);

        // Another user with a session, an opaque token, an expiring API key, and a revoked grant.
        let tokens = srv.user_with_tokens("max").await;
        let access = tokens["access"].as_str().unwrap();
        for path in ["/api/auth/session/sign-in", "/api/auth/token/sign-in"] {
            let r = srv.post(path, json!({"username": "max", "password": PASSWORD})).await;
            assert_eq!(r.status(), 200, "{path}");
        }
        let r = srv
            .client
            .post(srv.url("/api/auth/api-keys"))
            .bearer_auth(access)
            .json(&json!({"name": "ci", "scopes": [], "expires_in": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let r = srv.post("/api/auth/mobile/sign-out", json!({"refresh": tokens["refresh"]})).await;
        assert!(r.status().is_success());
        let revocations = srv.auth().revocations().unwrap();
        assert!(revocations.counts().0 >= 1, "the signed-out grant is held as revoked");

        // Nothing has expired yet: nothing goes.
        let flushed = srv.auth().flush_expired().await.unwrap();
        assert_eq!(flushed.total(), 0, "{flushed:?}");

        // Two days on, past every lifetime: everything goes, in every store.
        srv.clock.advance(days(2));
        let flushed = srv.auth().flush_expired().await.unwrap();
        assert!(flushed.mfa_challenges >= 1, "{flushed:?}");
        assert!(flushed.sessions >= 1, "{flushed:?}");
        assert!(flushed.opaque_tokens >= 1, "{flushed:?}");
        assert!(flushed.api_keys >= 1, "{flushed:?}");
        assert!(flushed.grants >= 4, "{flushed:?}");
        assert!(flushed.revocations >= 1, "{flushed:?}");
        assert_eq!(revocations.counts().0, 0, "the list forgot grants that ended");
        let again = srv.auth().flush_expired().await.unwrap();
        assert_eq!(again.total(), 0, "{again:?}");
    }
);
