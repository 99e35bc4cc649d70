//! The credential caches (issue 18, goal 1): a stored credential read again within the cache's
//! TTL costs no store read, what this process changes applies at once, what changes behind its
//! back applies within the TTL, and expiry (absolute and idle) is still decided by the clock on
//! every request, with the last use written once a minute, off the request path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_blacklist::MemoryGrantStore;
use auth_core::{
    Accounts, AuthError, Authenticator, ManualClock, MemoryUserStore, PasswordHasher, PasswordHasherConfig,
    Principal, SharedClock, TokenRejection,
};
use auth_flows::{
    ApiKeyConfig, AuthService, ClientInfo, CreateApiKeyRequest, FlowConfig, OpaqueTokenConfig,
    RegisterRequest, SessionConfig, SignInOutcome, SignInRequest, TokenSignInRequest,
};
use auth_session::{MemorySessionStore, SessionStore};
use auth_token::{ApiKeyStore, MemoryApiKeyStore, MemoryOpaqueTokenStore, OpaqueTokenStore, TokenHash};
use chrono::{DateTime, Duration, Utc};

const PASSWORD: &str = "a fine long passphrase";

struct Rig {
    auth: Arc<AuthService<MemoryUserStore>>,
    clock: ManualClock,
    opaque: Arc<MemoryOpaqueTokenStore>,
    keys: Arc<MemoryApiKeyStore>,
    sessions: Arc<MemorySessionStore>,
}

async fn rig(config: FlowConfig, opaque_config: OpaqueTokenConfig) -> Rig {
    let clock = ManualClock::new(DateTime::from_timestamp(1_900_000_000, 0).unwrap());
    let shared: SharedClock = Arc::new(clock.clone());
    let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
    let opaque = Arc::new(MemoryOpaqueTokenStore::new());
    let keys = Arc::new(MemoryApiKeyStore::new());
    let sessions = Arc::new(MemorySessionStore::new());
    let auth = AuthService::builder(Accounts::new(Arc::new(MemoryUserStore::new()), hasher))
        .clock(shared)
        .config(config)
        .grants(Arc::new(MemoryGrantStore::new()))
        .opaque_tokens(opaque.clone(), opaque_config)
        .api_keys(keys.clone(), ApiKeyConfig::default())
        .sessions(sessions.clone(), SessionConfig::default())
        .build()
        .unwrap();
    let register = serde_json::json!({"username": "cara", "password": PASSWORD});
    auth.register(serde_json::from_value::<RegisterRequest>(register).unwrap()).await.unwrap();
    Rig { auth: Arc::new(auth), clock, opaque, keys, sessions }
}

impl Rig {
    async fn token(&self) -> String {
        let request = serde_json::json!({"username": "cara", "password": PASSWORD});
        let request: TokenSignInRequest = serde_json::from_value(request).unwrap();
        match self.auth.token_sign_in(&request, &ClientInfo::default()).await.unwrap() {
            SignInOutcome::Complete(issued) => issued.token,
            SignInOutcome::MfaRequired(_) => unreachable!("no MFA here"),
        }
    }

    /// A cookie session: the request head carrying its cookie.
    async fn session(&self) -> http::request::Parts {
        let request: SignInRequest =
            serde_json::from_value(serde_json::json!({"username": "cara", "password": PASSWORD})).unwrap();
        let started = match self.auth.session_sign_in(&request, &ClientInfo::default()).await.unwrap() {
            SignInOutcome::Complete(started) => started,
            SignInOutcome::MfaRequired(_) => unreachable!("no MFA here"),
        };
        let cookie = started.session_cookie.split(';').next().unwrap().to_owned();
        http::Request::get("https://app.example/api/auth/me")
            .header("cookie", cookie)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    async fn with_session(&self, parts: &http::request::Parts) -> Result<Principal, AuthError> {
        self.auth.session_authenticator().authenticate(parts).await.map(|p| p.expect("a session cookie"))
    }

    fn now(&self) -> DateTime<Utc> {
        auth_core::Clock::now(&self.clock)
    }
}

fn revoked(result: Result<Principal, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(TokenRejection::Revoked)))
}

#[tokio::test]
async fn a_credential_used_again_is_not_read_again_and_changes_apply_within_the_bound() {
    let rig = rig(FlowConfig::default(), OpaqueTokenConfig::default()).await;

    // Opaque tokens: the second use is a hit.
    let token = rig.token().await;
    let first = rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.auth.authenticate_opaque(&token).await.unwrap();
    let [opaque, _, _] = rig.auth.credential_cache_stats();
    assert_eq!((opaque.hits, opaque.misses, opaque.entries), (1, 1, 1), "{opaque:?}");

    // Deleted behind this process's back (as another process's flush would): still accepted
    // from the cache within the TTL (1 s), refused once it has passed.
    rig.opaque.delete(first.credential_id.as_deref().unwrap()).await.unwrap();
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.clock.advance(Duration::seconds(1));
    assert!(revoked(rig.auth.authenticate_opaque(&token).await), "the TTL bounds a change made elsewhere");

    // Signed out through the flows: refused at once, cached or not.
    let token = rig.token().await;
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.auth.token_sign_out(&token).await.unwrap();
    assert!(revoked(rig.auth.authenticate_opaque(&token).await));

    // API keys: revoked through the flows, at once; revoked in the store, within the TTL.
    let owner = rig.auth.authenticate_opaque(&rig.token().await).await.unwrap();
    let create = |name: &str| {
        serde_json::from_value::<CreateApiKeyRequest>(serde_json::json!({"name": name, "scopes": []}))
            .unwrap()
    };
    let key = rig.auth.create_api_key(&owner, create("one")).await.unwrap();
    rig.auth.authenticate_api_key(&key.key).await.unwrap();
    rig.auth.authenticate_api_key(&key.key).await.unwrap();
    assert_eq!(rig.auth.credential_cache_stats()[1].hits, 1);
    rig.auth.revoke_api_key(&owner, &key.id).await.unwrap();
    assert!(revoked(rig.auth.authenticate_api_key(&key.key).await), "revoked here: at once");
    let other = rig.auth.create_api_key(&owner, create("two")).await.unwrap();
    rig.auth.authenticate_api_key(&other.key).await.unwrap();
    assert!(rig.keys.revoke(&owner.user_id, &other.id, rig.now()).await.unwrap());
    rig.auth.authenticate_api_key(&other.key).await.unwrap();
    rig.clock.advance(Duration::seconds(1));
    assert!(revoked(rig.auth.authenticate_api_key(&other.key).await), "revoked elsewhere: within the TTL");

    // Cookie sessions: data written through the flows shows at once; sign-out at once.
    let parts = rig.session().await;
    let principal = rig.with_session(&parts).await.unwrap();
    rig.auth.set_session_value(&principal, "cart", &3).await.unwrap();
    let again = rig.with_session(&parts).await.unwrap();
    assert_eq!(again.session_data.as_ref().unwrap()["cart"], 3, "the cached record was forgotten");
    assert_eq!(rig.auth.credential_cache_stats()[2].hits, 0, "each use so far read the store");
    rig.with_session(&parts).await.unwrap();
    assert_eq!(rig.auth.credential_cache_stats()[2].hits, 1);
    rig.auth.session_sign_out(&parts).await.unwrap();
    assert!(revoked(rig.with_session(&parts).await));

    // Every credential of a user dies at once with sign-out-all, cached or not.
    let token = rig.token().await;
    let parts = rig.session().await;
    let key = rig.auth.create_api_key(&owner, create("three")).await.unwrap();
    rig.clock.advance(Duration::seconds(2));
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.with_session(&parts).await.unwrap();
    rig.auth.authenticate_api_key(&key.key).await.unwrap();
    rig.auth.sign_out_all(&owner.user_id).await.unwrap();
    assert!(revoked(rig.auth.authenticate_opaque(&token).await));
    assert!(revoked(rig.with_session(&parts).await));
    assert!(revoked(rig.auth.authenticate_api_key(&key.key).await));

    // A user deactivated through the flows loses every cached credential at once too.
    let token = rig.token().await;
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.auth.set_active(&owner.user_id, false).await.unwrap();
    assert!(revoked(rig.auth.authenticate_opaque(&token).await));
}

#[tokio::test]
async fn expiry_is_decided_by_the_clock_and_the_last_use_is_written_once_a_minute() {
    // A cache TTL of an hour, to show that it never extends a credential's life.
    let config = FlowConfig::default().credential_cache_ttl(Duration::hours(1));
    let rig = rig(config, OpaqueTokenConfig::default().idle_ttl(Some(Duration::minutes(10)))).await;
    let token = rig.token().await;
    let hash = TokenHash::of(&token);
    let created = rig.now();
    rig.auth.authenticate_opaque(&token).await.unwrap();

    // Used again after five minutes: the use is recorded, off the request path.
    rig.clock.advance(Duration::minutes(5));
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.auth.flush_last_uses().await;
    let stored = rig.opaque.find_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, created + Duration::minutes(5));

    // Used within the minute: no write.
    rig.clock.advance(Duration::seconds(30));
    rig.auth.authenticate_opaque(&token).await.unwrap();
    rig.auth.flush_last_uses().await;
    let stored = rig.opaque.find_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, created + Duration::minutes(5), "at most one write a minute");

    // Idle for ten minutes since the last use: refused, although the entry is an hour fresh.
    rig.clock.advance(Duration::minutes(10));
    let refused = rig.auth.authenticate_opaque(&token).await;
    assert!(matches!(refused, Err(AuthError::InvalidToken(TokenRejection::Expired))), "{refused:?}");

    // A session past its absolute lifetime (14 days), used every few hours so never idle.
    let parts = rig.session().await;
    for _ in 0..(14 * 4) {
        rig.with_session(&parts).await.unwrap();
        rig.clock.advance(Duration::hours(6));
    }
    let refused = rig.with_session(&parts).await;
    assert!(matches!(refused, Err(AuthError::InvalidToken(TokenRejection::Expired))), "{refused:?}");
    // And its last use reached the store (every six hours: one write each).
    rig.auth.flush_last_uses().await;
    let principal_id = parts.headers["cookie"].to_str().unwrap().split_once('=').unwrap().1.to_owned();
    let stored =
        rig.sessions.find_by_hash(&auth_session::SessionId::parse(&principal_id).unwrap()).await.unwrap();
    let stored = stored.unwrap();
    assert_eq!(stored.last_seen_at, rig.now() - Duration::hours(6));
}
