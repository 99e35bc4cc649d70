//! The MFA service end to end on the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{AuthError, FieldError, TokenRejection, UserId};
use auth_mfa::{
    FactorUsed, MemoryMfaStore, MfaChallenge, MfaConfig, MfaKey, MfaService, MfaStatus, MfaStore,
    SecondFactor, Totp, TotpFactor, challenge_hash,
};
use chrono::{DateTime, Duration, Utc};

fn start() -> DateTime<Utc> {
    // Mid-step: 1_700_000_010 is 10 s into its 30-second step.
    DateTime::from_timestamp(1_700_000_010, 0).unwrap()
}

fn service() -> (MfaService, Arc<MemoryMfaStore>) {
    let store = Arc::new(MemoryMfaStore::new());
    (MfaService::new(store.clone(), MfaKey::generate(), MfaConfig::default()), store)
}

/// What the user's authenticator app computes: the secret of the stored factor.
async fn app_of(service: &MfaService, user: &UserId) -> Totp {
    let factor = service.store().totp_factor(user).await.unwrap().expect("a factor");
    Totp::new(service.key().open(&factor.sealed_secret, user.as_str().as_bytes()).unwrap())
}

fn totp(code: String) -> SecondFactor {
    SecondFactor::Totp(code)
}

fn conflict(message: &str) -> Vec<FieldError> {
    vec![FieldError::new("mfa", message)]
}

/// Enrols `user` at `now`; returns the app and the recovery codes.
async fn enrol(service: &MfaService, user: &UserId, now: DateTime<Utc>) -> (Totp, Vec<String>) {
    service.begin_totp_setup(user, user.as_str(), now).await.unwrap();
    let app = app_of(service, user).await;
    let codes = service.confirm_totp(user, &app.code_at(now.timestamp()), now).await.unwrap();
    (app, codes)
}

#[tokio::test]
async fn full_lifecycle() {
    let (service, store) = service();
    let alice = UserId::new("alice");
    let bob = UserId::new("bob");
    let t = start();

    // ---- nothing yet.
    let status = service.status(&alice).await.unwrap();
    assert!(!status.enabled && !status.pending);
    assert!(status.methods.is_empty());
    assert_eq!((status.recovery_codes_remaining, status.enabled_at), (0, None));
    assert!(!service.is_enabled(&alice).await.unwrap());
    let err = service.confirm_totp(&alice, "123456", t).await.unwrap_err();
    assert!(matches!(&err, AuthError::Conflict(f) if *f == conflict("no TOTP setup is pending")), "{err:?}");

    // ---- setup: a pending factor, sealed.
    let first = service.begin_totp_setup(&alice, "alice@example.com", t).await.unwrap();
    assert_eq!(first.secret.len(), 32, "160 bits in base32");
    assert!(first.otpauth_uri.starts_with("otpauth://totp/Portcullis:alice%40example.com?secret="));
    assert!(first.otpauth_uri.contains(&first.secret));
    assert!(first.qr_svg.contains("<svg"));
    let debug = format!("{first:?}");
    assert!(!debug.contains(&first.secret) && !debug.contains("otpauth://"), "{debug}");
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["secret"], first.secret);
    let status = service.status(&alice).await.unwrap();
    assert!(status.pending && !status.enabled);
    let stored = store.totp_factor(&alice).await.unwrap().unwrap();
    assert!(!stored.is_active());
    let first_app = app_of(&service, &alice).await;
    assert_eq!(first_app.secret_base32(), first.secret);
    assert!(
        !stored.sealed_secret.windows(first_app.secret().len()).any(|w| w == first_app.secret()),
        "only the sealed secret is stored"
    );

    // ---- a second setup replaces the pending one.
    let second = service.begin_totp_setup(&alice, "alice@example.com", t).await.unwrap();
    assert_ne!(second.secret, first.secret);
    let app = app_of(&service, &alice).await;
    assert_eq!(app.secret_base32(), second.secret);

    // ---- confirm: wrong, stale, then right.
    let wrong = |err: AuthError| matches!(&err, AuthError::InvalidInput(f) if *f == vec![FieldError::new("code", "the code is not valid")]);
    let right_code = app.code_at(t.timestamp());
    let wrong_code = if right_code == "000000" { "000001" } else { "000000" };
    assert!(wrong(service.confirm_totp(&alice, wrong_code, t).await.unwrap_err()));
    assert!(wrong(service.confirm_totp(&alice, "12345", t).await.unwrap_err()), "malformed");
    if first_app.code_at(t.timestamp()) != right_code {
        assert!(
            wrong(service.confirm_totp(&alice, &first_app.code_at(t.timestamp()), t).await.unwrap_err()),
            "stale"
        );
    }
    assert!(!service.is_enabled(&alice).await.unwrap());
    let codes = service.confirm_totp(&alice, &right_code, t).await.unwrap();
    assert_eq!(codes.len(), 10);

    // ---- enabled.
    assert!(service.is_enabled(&alice).await.unwrap());
    let status = service.status(&alice).await.unwrap();
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        serde_json::json!({
            "enabled": true, "pending": false, "methods": ["totp", "recovery_code"],
            "recovery_codes_remaining": 10, "enabled_at": t,
        })
    );
    let back: MfaStatus = serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
    assert_eq!(back, status);
    let err = service.begin_totp_setup(&alice, "alice", t).await.unwrap_err();
    assert!(matches!(&err, AuthError::Conflict(f) if *f == conflict("MFA is already enabled")), "{err:?}");
    let err = service.confirm_totp(&alice, &right_code, t).await.unwrap_err();
    assert!(matches!(&err, AuthError::Conflict(f) if *f == conflict("MFA is already enabled")), "{err:?}");
    assert_eq!(app_of(&service, &alice).await.secret(), app.secret(), "the factor is unchanged");

    // ---- verify TOTP: the confirming code is used, the next step's works once.
    let step = app.step_at(t.timestamp());
    assert_eq!(
        service.verify(&alice, &totp(right_code.clone()), t).await.unwrap(),
        None,
        "the confirming code"
    );
    let later = t + Duration::seconds(30);
    let next = app.code_at(later.timestamp());
    assert_eq!(app.step_at(later.timestamp()), step + 1);
    assert_eq!(service.verify(&alice, &totp(next.clone()), later).await.unwrap(), Some(FactorUsed::Totp));
    assert_eq!(service.verify(&alice, &totp(next.clone()), later).await.unwrap(), None, "a replay");
    assert_eq!(service.verify(&alice, &totp(next), later + Duration::seconds(5)).await.unwrap(), None);
    // A code ahead (clock skew) is accepted, after which the current one is stale.
    let ahead = app.code_at_step(step + 2);
    assert_eq!(service.verify(&alice, &totp(ahead), later).await.unwrap(), Some(FactorUsed::Totp));
    let even_later = later + Duration::seconds(30);
    let current = app.code_at(even_later.timestamp());
    assert_eq!(
        service.verify(&alice, &totp(current), even_later).await.unwrap(),
        None,
        "the step already used"
    );
    let spaced = app.code_at_step(step + 3);
    let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
    assert_eq!(service.verify(&alice, &totp(spaced), even_later).await.unwrap(), Some(FactorUsed::Totp));
    assert_eq!(service.verify(&alice, &totp("abcdef".into()), even_later).await.unwrap(), None);
    assert_eq!(
        service.verify(&bob, &totp(app.code_at_step(step + 4)), even_later).await.unwrap(),
        None,
        "bob has no MFA"
    );

    // ---- recovery codes: single use, any case, hyphens optional, per user.
    let rc = |code: &str| SecondFactor::RecoveryCode(code.to_owned());
    assert_eq!(service.verify(&alice, &rc(&codes[0]), t).await.unwrap(), Some(FactorUsed::RecoveryCode));
    assert_eq!(service.verify(&alice, &rc(&codes[0]), t).await.unwrap(), None, "used");
    let typed = codes[1].to_uppercase().replace('-', "");
    assert_eq!(service.verify(&alice, &rc(&typed), t).await.unwrap(), Some(FactorUsed::RecoveryCode));
    assert_eq!(service.verify(&alice, &rc("0000-0000-0000"), t).await.unwrap(), None, "unknown");
    assert_eq!(service.verify(&alice, &rc("nonsense"), t).await.unwrap(), None, "malformed");
    assert_eq!(service.verify(&alice, &totp(codes[2].clone()), t).await.unwrap(), None, "not a TOTP code");
    assert_eq!(service.status(&alice).await.unwrap().recovery_codes_remaining, 8);
    let (_, bob_codes) = enrol(&service, &bob, t).await;
    assert_eq!(service.verify(&alice, &rc(&bob_codes[0]), t).await.unwrap(), None, "bob's code");
    assert_eq!(service.verify(&bob, &rc(&codes[2]), t).await.unwrap(), None, "alice's code");

    // ---- regenerate: the old codes stop working.
    let fresh = service.regenerate_recovery_codes(&alice, t).await.unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|code| !codes.contains(code)));
    assert_eq!(service.status(&alice).await.unwrap().recovery_codes_remaining, 10);
    assert_eq!(service.verify(&alice, &rc(&codes[2]), t).await.unwrap(), None, "an old unused code");
    assert_eq!(service.verify(&alice, &rc(&fresh[9]), t).await.unwrap(), Some(FactorUsed::RecoveryCode));

    // ---- disable.
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), t).await.unwrap();
    assert!(service.disable(&alice).await.unwrap());
    assert!(!service.is_enabled(&alice).await.unwrap());
    assert_eq!(service.status(&alice).await.unwrap().recovery_codes_remaining, 0);
    assert_eq!(service.verify(&alice, &rc(&fresh[0]), t).await.unwrap(), None);
    assert_eq!(service.verify(&alice, &totp(app.code_at_step(step + 10)), t).await.unwrap(), None);
    let err = service.attempt_challenge(&token, &rc(&fresh[0]), t).await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidToken(TokenRejection::Expired)),
        "challenges die with the factor"
    );
    assert!(!service.disable(&alice).await.unwrap(), "already disabled");
    let err = service.regenerate_recovery_codes(&alice, t).await.unwrap_err();
    assert!(matches!(&err, AuthError::Conflict(f) if *f == conflict("MFA is not enabled")), "{err:?}");
    assert!(service.is_enabled(&bob).await.unwrap(), "bob keeps his");

    // ---- re-enrolment works.
    let (app2, _) = enrol(&service, &alice, t + Duration::minutes(10)).await;
    assert_ne!(app2.secret(), app.secret());
    assert!(service.is_enabled(&alice).await.unwrap());

    // ---- disabling a pending setup reports false.
    let carol = UserId::new("carol");
    service.begin_totp_setup(&carol, "carol", t).await.unwrap();
    assert!(!service.disable(&carol).await.unwrap());
    assert!(!service.status(&carol).await.unwrap().pending);
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_user_is_a_server_error() {
    let (service, store) = service();
    let (alice, mallory) = (UserId::new("alice"), UserId::new("mallory"));
    let t = start();
    let (app, _) = enrol(&service, &alice, t).await;
    let stolen = store.totp_factor(&alice).await.unwrap().unwrap().sealed_secret;
    // Someone with database access copies alice's sealed secret into mallory's row.
    assert!(store.put_pending_totp(TotpFactor::pending(mallory.clone(), stolen.clone(), t)).await.unwrap());
    let err = service.confirm_totp(&mallory, &app.code_at(t.timestamp()), t).await.unwrap_err();
    assert!(matches!(err, AuthError::Backend(_)), "{err:?}");
    assert!(store.activate_totp(&mallory, &stolen, 0, vec![], t).await.unwrap());
    let later = t + Duration::seconds(60);
    let err = service.verify(&mallory, &totp(app.code_at(later.timestamp())), later).await.unwrap_err();
    assert!(matches!(err, AuthError::Backend(_)), "{err:?}");
    // A service with another key cannot open alice's either.
    let other = MfaService::new(store.clone(), MfaKey::generate(), MfaConfig::default());
    let err = other.verify(&alice, &totp(app.code_at(later.timestamp())), later).await.unwrap_err();
    assert!(matches!(err, AuthError::Backend(_)), "{err:?}");
    assert_eq!(err.status().as_u16(), 500, "not the client's fault");
}

#[tokio::test]
async fn challenges() {
    let (service, store) = service();
    let alice = UserId::new("alice");
    let t = start();
    let (app, codes) = enrol(&service, &alice, t).await;
    let context = serde_json::json!({"client": "Firefox", "remember": true});

    // ---- the token: prefixed, 256 bits, stored only by hash.
    let token = service.create_challenge(&alice, "web", context.clone(), t).await.unwrap();
    assert!(token.starts_with("mfa_"), "{token}");
    assert_eq!(token.len(), 4 + 43);
    let hash = challenge_hash(&token);
    assert_ne!(hash, token);
    assert!(!hash.contains(&token[4..]));
    assert_eq!(
        store.start_challenge_attempt(&token, 100, t).await.unwrap(),
        None,
        "not stored under the token"
    );
    let other = service.create_challenge(&alice, "web", context.clone(), t).await.unwrap();
    assert_ne!(other, token);

    // ---- completion with a TOTP code: single use.
    let later = t + Duration::seconds(31);
    let code = totp(app.code_at(later.timestamp()));
    let done = service.attempt_challenge(&token, &code, later).await.unwrap();
    assert_eq!(done.user_id, alice);
    assert_eq!(done.flow, "web");
    assert_eq!(done.context, context);
    assert_eq!(done.created_at, t);
    assert_eq!(done.factor, FactorUsed::Totp);
    assert_eq!(done.factor.amr(), "otp");
    let err = service.attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), later).await;
    assert!(matches!(err, Err(AuthError::InvalidToken(TokenRejection::Expired))), "single use: {err:?}");

    // ---- a replayed code does not complete another challenge.
    let err = service.attempt_challenge(&other, &code, later).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidCredentials), "{err:?}");

    // ---- completion with a recovery code.
    let token = service.create_challenge(&alice, "mobile", serde_json::json!(null), t).await.unwrap();
    let done =
        service.attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), t).await.unwrap();
    assert_eq!(
        (done.factor, done.factor.amr(), done.flow.as_str()),
        (FactorUsed::RecoveryCode, "rc", "mobile")
    );

    // ---- expiry by `now`: alive until created + 5 minutes (exclusive).
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), t).await.unwrap();
    let expired = t + Duration::minutes(5);
    let err = service.attempt_challenge(&token, &totp(app.code_at(expired.timestamp())), expired).await;
    assert!(matches!(err, Err(AuthError::InvalidToken(TokenRejection::Expired))), "{err:?}");
    let almost = expired - Duration::seconds(1);
    let done =
        service.attempt_challenge(&token, &totp(app.code_at(almost.timestamp())), almost).await.unwrap();
    assert_eq!(done.factor, FactorUsed::Totp);

    // ---- five wrong attempts kill it, even for the right code afterwards.
    let at = t + Duration::minutes(10);
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), at).await.unwrap();
    let right = totp(app.code_at(at.timestamp()));
    let wrong_code = if app.code_at(at.timestamp()) == "000000" { "000001" } else { "000000" };
    for attempt in 1..=5 {
        let err = service.attempt_challenge(&token, &totp(wrong_code.to_owned()), at).await.unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials), "attempt {attempt}: {err:?}");
    }
    let err = service.attempt_challenge(&token, &right, at).await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(TokenRejection::Expired)), "exhausted: {err:?}");
    assert!(service.verify(&alice, &right, at).await.unwrap().is_some(), "the right code was not used up");

    // ---- four wrong attempts, then the right one.
    let at = t + Duration::minutes(20);
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), at).await.unwrap();
    for _ in 0..4 {
        let err =
            service.attempt_challenge(&token, &SecondFactor::RecoveryCode("0000-0000-0000".into()), at).await;
        assert!(matches!(err, Err(AuthError::InvalidCredentials)));
    }
    assert!(service.attempt_challenge(&token, &totp(app.code_at(at.timestamp())), at).await.is_ok());

    // ---- unknown tokens.
    for unknown in ["", "mfa_", "mfa_AAAA", "garbage"] {
        let err = service.attempt_challenge(unknown, &totp("123456".into()), t).await;
        assert!(matches!(err, Err(AuthError::InvalidToken(TokenRejection::Expired))), "{unknown:?}");
    }

    // ---- a challenge for a user whose MFA is off accepts nothing.
    let bob = UserId::new("bob");
    let token = service.create_challenge(&bob, "web", serde_json::json!({}), t).await.unwrap();
    let err = service.attempt_challenge(&token, &totp("123456".into()), t).await;
    assert!(matches!(err, Err(AuthError::InvalidCredentials)));
}

#[tokio::test]
async fn a_concurrent_completion_wins() {
    // A store where another request consumes the challenge just before this one does.
    #[derive(Debug)]
    struct Racing(MemoryMfaStore);

    #[async_trait::async_trait]
    impl MfaStore for Racing {
        async fn put_pending_totp(&self, factor: TotpFactor) -> Result<bool, AuthError> {
            self.0.put_pending_totp(factor).await
        }
        async fn totp_factor(&self, user_id: &UserId) -> Result<Option<TotpFactor>, AuthError> {
            self.0.totp_factor(user_id).await
        }
        async fn activate_totp(
            &self,
            user_id: &UserId,
            expected: &[u8],
            step: i64,
            hashes: Vec<String>,
            now: DateTime<Utc>,
        ) -> Result<bool, AuthError> {
            self.0.activate_totp(user_id, expected, step, hashes, now).await
        }
        async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool, AuthError> {
            self.0.use_totp_step(user_id, step).await
        }
        async fn delete_factors(&self, user_id: &UserId) -> Result<bool, AuthError> {
            self.0.delete_factors(user_id).await
        }
        async fn replace_recovery_codes(
            &self,
            user_id: &UserId,
            hashes: Vec<String>,
            now: DateTime<Utc>,
        ) -> Result<(), AuthError> {
            self.0.replace_recovery_codes(user_id, hashes, now).await
        }
        async fn use_recovery_code(
            &self,
            user_id: &UserId,
            hash: &str,
            now: DateTime<Utc>,
        ) -> Result<bool, AuthError> {
            self.0.use_recovery_code(user_id, hash, now).await
        }
        async fn remaining_recovery_codes(&self, user_id: &UserId) -> Result<u32, AuthError> {
            self.0.remaining_recovery_codes(user_id).await
        }
        async fn create_challenge(&self, challenge: MfaChallenge) -> Result<(), AuthError> {
            self.0.create_challenge(challenge).await
        }
        async fn start_challenge_attempt(
            &self,
            hash: &str,
            max_attempts: u32,
            now: DateTime<Utc>,
        ) -> Result<Option<MfaChallenge>, AuthError> {
            self.0.start_challenge_attempt(hash, max_attempts, now).await
        }
        async fn consume_challenge(&self, hash: &str) -> Result<bool, AuthError> {
            assert!(self.0.consume_challenge(hash).await?, "the other request wins");
            self.0.consume_challenge(hash).await
        }
        async fn delete_challenges_for_user(&self, user_id: &UserId) -> Result<u64, AuthError> {
            self.0.delete_challenges_for_user(user_id).await
        }
        async fn flush_expired(&self, now: DateTime<Utc>) -> Result<u64, AuthError> {
            self.0.flush_expired(now).await
        }
    }

    let service =
        MfaService::new(Arc::new(Racing(MemoryMfaStore::new())), MfaKey::generate(), MfaConfig::default());
    let alice = UserId::new("alice");
    let t = start();
    let (_, codes) = enrol(&service, &alice, t).await;
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), t).await.unwrap();
    let err = service.attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), t).await;
    assert!(matches!(err, Err(AuthError::InvalidToken(TokenRejection::Revoked))), "{err:?}");
}

#[tokio::test]
async fn configuration() {
    let config = MfaConfig::default();
    assert_eq!(config.issuer, "Portcullis");
    assert_eq!(config.challenge_ttl, Duration::minutes(5));
    assert_eq!((config.max_attempts, config.recovery_codes, config.skew_steps), (5, 10, 1));

    let config = MfaConfig::default()
        .issuer("Example")
        .challenge_ttl(Duration::minutes(1))
        .max_attempts(2)
        .recovery_codes(3)
        .skew_steps(0);
    let store = Arc::new(MemoryMfaStore::new());
    let key = MfaKey::generate();
    let service = MfaService::new(store, key.clone(), config);
    let debug = format!("{service:?}");
    assert!(!debug.contains(&key.to_base64()), "{debug}");
    assert!(debug.contains("Example"));
    assert_eq!(service.config().max_attempts, 2);

    let alice = UserId::new("alice");
    let t = start();
    let setup = service.begin_totp_setup(&alice, "alice", t).await.unwrap();
    assert!(setup.otpauth_uri.starts_with("otpauth://totp/Example:alice?"));
    assert!(setup.otpauth_uri.contains("&issuer=Example&"));
    let app = app_of(&service, &alice).await;
    // No skew: the previous step's code is refused.
    let previous = app.code_at(t.timestamp() - 30);
    if previous != app.code_at(t.timestamp()) {
        assert!(service.confirm_totp(&alice, &previous, t).await.is_err());
    }
    let codes = service.confirm_totp(&alice, &app.code_at(t.timestamp()), t).await.unwrap();
    assert_eq!(codes.len(), 3);

    // Two attempts per challenge, one minute.
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), t).await.unwrap();
    for _ in 0..2 {
        let err = service.attempt_challenge(&token, &SecondFactor::RecoveryCode("x".into()), t).await;
        assert!(matches!(err, Err(AuthError::InvalidCredentials)));
    }
    let err = service.attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), t).await;
    assert!(matches!(err, Err(AuthError::InvalidToken(_))));
    let token = service.create_challenge(&alice, "web", serde_json::json!({}), t).await.unwrap();
    let err = service
        .attempt_challenge(&token, &SecondFactor::RecoveryCode(codes[0].clone()), t + Duration::minutes(1))
        .await;
    assert!(matches!(err, Err(AuthError::InvalidToken(TokenRejection::Expired))));
}

#[test]
fn second_factor_debug_hides_the_code() {
    let debug =
        format!("{:?} {:?}", totp("314159".into()), SecondFactor::RecoveryCode("abcd-efgh-jkmn".into()));
    assert!(!debug.contains("314159") && !debug.contains("abcd"), "{debug}");
    assert_eq!(FactorUsed::Totp.amr(), "otp");
    assert_eq!(FactorUsed::RecoveryCode.amr(), "rc");
    for amr in [FactorUsed::Totp.amr(), FactorUsed::RecoveryCode.amr()] {
        assert!(auth_core::SECOND_FACTOR_AMR.contains(&amr), "{amr} counts as a second factor");
    }
}
