//! The ceremonies end to end, with a software authenticator as the browser.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auth_core::{AuthError, TokenRejection, UserId};
use auth_webauthn::{
    ConfigError, MemoryPasskeyStore, PasskeyConfig, PasskeyError, PasskeyStore, PasskeyUsage, Passkeys,
    UserVerification, WebauthnError,
};
use chrono::Duration;
use common::{Browser, ORIGIN, RP_ID, b64, rig, set};
use serde_json::json;
use std::sync::Arc;
use url::Url;
use webauthn_rs_core::proto::UserVerificationPolicy;

fn alice() -> UserId {
    UserId::new("alice-id")
}

fn bob() -> UserId {
    UserId::new("bob-id")
}

#[tokio::test]
async fn register_then_sign_in_passwordless() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);

    // ---- registration options.
    let start = rig.passkeys.begin_registration(&alice(), "alice@example.com", "Alice").await.unwrap();
    let options = &start.options["publicKey"];
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(options["rp"]["name"], "Example");
    assert_eq!(options["user"]["name"], "alice@example.com");
    assert_eq!(options["user"]["displayName"], "Alice");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(options["authenticatorSelection"]["requireResidentKey"], false);
    assert_eq!(options["authenticatorSelection"]["userVerification"], "preferred");
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["timeout"], 300_000);
    assert!(options.get("excludeCredentials").is_none_or(|list| list.as_array().is_some_and(Vec::is_empty)));
    let user_handle = options["user"]["id"].as_str().unwrap().to_owned();
    assert!(!user_handle.contains("alice"), "the user handle carries no personal data");

    // ---- registration.
    let created = browser.create(&start.options);
    let passkey =
        rig.passkeys.finish_registration(&start.challenge_id, &alice(), " Laptop ", created).await.unwrap();
    assert_eq!(passkey.user_id, alice());
    assert_eq!(passkey.name, "Laptop");
    assert_eq!(passkey.credential_id, b64(browser.credential_id.as_ref().unwrap()));
    assert_eq!(passkey.user_handle, user_handle);
    assert_eq!(passkey.created_at, rig.clock_now());
    assert_eq!((passkey.sign_count, passkey.backup_eligible, passkey.backup_state), (0, false, false));
    assert!(!passkey.user_verified, "this authenticator cannot verify the user for \"preferred\"");
    assert_eq!(rig.stored(&passkey).await, passkey);
    let debug = format!("{passkey:?}");
    assert!(
        !debug.contains(&passkey.credential) && !debug.contains("EC_EC2"),
        "Debug hides the key: {debug}"
    );

    // ---- passwordless sign-in: no allowCredentials, the authenticator discovers its passkey.
    rig.clock.advance(Duration::minutes(10));
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let options = &start.options["publicKey"];
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["userVerification"], "preferred");
    let asserted = browser.get(&start.options);
    let signed_in = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await.unwrap();
    assert_eq!(signed_in.user_id, alice());
    assert_eq!(signed_in.passkey_id, passkey.id);
    assert!(!signed_in.user_verified);
    assert_eq!(signed_in.amr, ["hwk"]);
    let used = rig.stored(&passkey).await;
    assert_eq!(used.sign_count, 1, "the counter is recorded");
    assert_eq!(used.last_used_at, Some(rig.clock_now()));

    // ---- again: the counter moves on.
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let asserted = browser.get(&start.options);
    rig.passkeys.finish_authentication(&start.challenge_id, asserted).await.unwrap();
    assert_eq!(rig.stored(&passkey).await.sign_count, 2);
}

#[tokio::test]
async fn user_verification_gives_the_user_amr() {
    let rig = rig(UserVerification::Required);
    let mut browser = Browser::new(true);
    let start = rig.passkeys.begin_registration(&alice(), "alice", "").await.unwrap();
    assert_eq!(start.options["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(start.options["publicKey"]["user"]["displayName"], "alice", "falls back to the username");
    let created = browser.create(&start.options);
    let passkey =
        rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Phone", created).await.unwrap();
    assert!(passkey.user_verified);

    let start = rig.passkeys.begin_authentication().await.unwrap();
    assert_eq!(start.options["publicKey"]["userVerification"], "required");
    let signed_in =
        rig.passkeys.finish_authentication(&start.challenge_id, browser.get(&start.options)).await.unwrap();
    assert!(signed_in.user_verified);
    assert_eq!(signed_in.amr, ["hwk", "user"]);
}

#[tokio::test]
async fn second_registration_excludes_the_first_and_passkeys_are_managed() {
    let rig = rig(UserVerification::Preferred);
    let first = rig.register(&alice(), &mut Browser::new(false)).await;
    rig.clock.advance(Duration::seconds(1));

    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let excluded = &start.options["publicKey"]["excludeCredentials"];
    assert_eq!(excluded, &json!([{ "type": "public-key", "id": first.credential_id }]));
    assert_eq!(start.options["publicKey"]["user"]["id"], first.user_handle, "one user handle per user");
    let mut other = Browser::new(false);
    let created = other.create(&start.options);
    let second =
        rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Phone", created).await.unwrap();
    assert_eq!(second.user_handle, first.user_handle);

    // Bob's options exclude nothing of Alice's.
    let start = rig.passkeys.begin_registration(&bob(), "bob", "Bob").await.unwrap();
    assert!(start.options["publicKey"].get("excludeCredentials").is_none_or(|list| list == &json!([])));
    assert_ne!(start.options["publicKey"]["user"]["id"], first.user_handle);

    // List (oldest first), rename, delete: only the owner's.
    let ids: Vec<String> = rig.passkeys.list(&alice()).await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, [first.id.clone(), second.id.clone()]);
    assert!(!rig.passkeys.rename(&bob(), &first.id, "Mine").await.unwrap());
    assert!(rig.passkeys.rename(&alice(), &first.id, "Old laptop").await.unwrap());
    assert!(matches!(
        rig.passkeys.rename(&alice(), &first.id, " ").await,
        Err(PasskeyError::InvalidInput { field: "name", .. })
    ));
    assert_eq!(rig.stored(&first).await.name, "Old laptop");
    assert!(!rig.passkeys.delete(&bob(), &first.id).await.unwrap());
    assert!(rig.passkeys.delete(&alice(), &first.id).await.unwrap());
    assert_eq!(rig.passkeys.list(&alice()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn wrong_origin_is_refused() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);

    // Registration from a look-alike subdomain the rp id covers but the config does not allow.
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser.create_with("https://evil.example.com", &start.options, |_| {}).unwrap();
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(
        matches!(refused, Err(PasskeyError::VerificationFailed(WebauthnError::InvalidRPOrigin))),
        "{refused:?}"
    );
    assert!(rig.passkeys.list(&alice()).await.unwrap().is_empty(), "nothing registered");

    // Sign-in from the wrong origin.
    let passkey = rig.register(&alice(), &mut browser).await;
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let asserted = browser.get_with("https://evil.example.com", &start.options, |_| {}).unwrap();
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await.unwrap_err();
    assert!(
        matches!(refused, PasskeyError::VerificationFailed(WebauthnError::InvalidRPOrigin)),
        "{refused:?}"
    );
    assert!(matches!(AuthError::from(refused), AuthError::InvalidCredentials));
    assert_eq!(rig.stored(&passkey).await, passkey, "a refused sign-in changes nothing");

    // The challenge was used by the refused attempt: the right origin cannot reuse it.
    let asserted = browser.get(&start.options);
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));
}

#[tokio::test]
async fn wrong_rp_id_is_refused() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);

    // The client lets the page pick "login.example.com" (a suffix of the origin), so the
    // authenticator signs for another relying party id than the configured "example.com".
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser
        .create_with(ORIGIN, &start.options, |options| options.public_key.rp.id = "login.example.com".into())
        .unwrap();
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(
        matches!(refused, Err(PasskeyError::VerificationFailed(WebauthnError::InvalidRPIDHash))),
        "{refused:?}"
    );

    let passkey = rig.register(&alice(), &mut browser).await;
    for second_factor in [false, true] {
        let start = if second_factor {
            rig.passkeys.begin_second_factor(&alice()).await.unwrap()
        } else {
            rig.passkeys.begin_authentication().await.unwrap()
        };
        let asserted = browser
            .get_with(ORIGIN, &start.options, |options| options.public_key.rp_id = "login.example.com".into())
            .unwrap();
        let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
        assert!(
            matches!(refused, Err(PasskeyError::VerificationFailed(WebauthnError::InvalidRPIDHash))),
            "{refused:?}"
        );
    }
    assert_eq!(rig.stored(&passkey).await, passkey);
}

#[tokio::test]
async fn a_challenge_is_single_use() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);

    // Registration replayed with the same challenge id and response.
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser.create(&start.options);
    rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created.clone()).await.unwrap();
    let replay = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(matches!(replay, Err(PasskeyError::UnknownChallenge)), "{replay:?}");
    let error = AuthError::from(replay.unwrap_err());
    assert!(matches!(error, AuthError::InvalidToken(TokenRejection::Expired)));
    assert_eq!(error.status().as_u16(), 401);

    // Sign-in replayed.
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let asserted = browser.get(&start.options);
    rig.passkeys.finish_authentication(&start.challenge_id, asserted.clone()).await.unwrap();
    let replay = rig.passkeys.finish_authentication(&start.challenge_id, asserted.clone()).await;
    assert!(matches!(replay, Err(PasskeyError::UnknownChallenge)), "{replay:?}");

    // The old response against a fresh challenge: the signed challenge does not match.
    let fresh = rig.passkeys.begin_authentication().await.unwrap();
    let replay = rig.passkeys.finish_authentication(&fresh.challenge_id, asserted).await;
    assert!(
        matches!(replay, Err(PasskeyError::VerificationFailed(WebauthnError::MismatchedChallenge))),
        "{replay:?}"
    );
}

#[tokio::test]
async fn challenges_are_bound_to_their_ceremony_and_user() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);

    // Alice's registration challenge cannot register a passkey for Bob.
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser.create(&start.options);
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &bob(), "Key", created).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));

    // A sign-in challenge cannot finish a registration, and the reverse.
    let passkey = rig.register(&alice(), &mut browser).await;
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let created = Browser::new(false)
        .create(&rig.passkeys.begin_registration(&alice(), "a", "A").await.unwrap().options);
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let asserted = browser.get(&rig.passkeys.begin_authentication().await.unwrap().options);
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));

    // A passwordless challenge cannot finish a second factor.
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let asserted = browser.get(&start.options);
    let refused = rig.passkeys.finish_second_factor(&start.challenge_id, &alice(), asserted).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));
    assert_eq!(rig.stored(&passkey).await.last_used_at, None, "no sign-in succeeded");
}

#[tokio::test]
async fn malformed_input_is_a_400_and_keeps_the_challenge() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let refused =
        rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", json!({"id": 1})).await;
    let error = AuthError::from(refused.unwrap_err());
    assert_eq!(error.status().as_u16(), 400);
    assert_eq!(error.body().fields[0].field, "credential");
    let created = browser.create(&start.options);
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "", created.clone()).await;
    assert!(matches!(refused, Err(PasskeyError::InvalidInput { field: "name", .. })));
    rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await.unwrap();

    let refused = rig.passkeys.begin_registration(&alice(), " ", "Alice").await;
    assert!(matches!(refused, Err(PasskeyError::InvalidInput { field: "username", .. })));
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, json!("nonsense")).await;
    assert!(matches!(refused, Err(PasskeyError::InvalidInput { field: "credential", .. })));
    rig.passkeys.finish_authentication(&start.challenge_id, browser.get(&start.options)).await.unwrap();
}

#[tokio::test]
async fn a_counter_going_backwards_is_refused() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);
    let passkey = rig.register(&alice(), &mut browser).await;

    // Two sign-ins prepared in parallel, as by an authenticator and its clone: the one with
    // the higher counter (2) lands first, the one with the lower counter (1) is refused.
    let (first, second) = (
        rig.passkeys.begin_authentication().await.unwrap(),
        rig.passkeys.begin_authentication().await.unwrap(),
    );
    let lower = browser.get(&first.options);
    let higher = browser.get(&second.options);
    rig.passkeys.finish_authentication(&second.challenge_id, higher).await.unwrap();
    assert_eq!(rig.stored(&passkey).await.sign_count, 2);
    let refused = rig.passkeys.finish_authentication(&first.challenge_id, lower).await.unwrap_err();
    assert!(matches!(refused, PasskeyError::CounterRegression), "{refused:?}");
    assert!(matches!(AuthError::from(refused), AuthError::InvalidCredentials));
    let after = rig.stored(&passkey).await;
    assert_eq!(after.sign_count, 2, "the refused sign-in changes nothing");

    // The stored counter raised behind the authenticator's back (a clone was used 100 times):
    // the original authenticator's next counter (3) is refused, as a second factor too.
    let mut credential: serde_json::Value = serde_json::from_str(&after.credential).unwrap();
    set(&mut credential, "/counter", json!(100));
    let usage = PasskeyUsage::new(100, credential.to_string(), false, false, rig.clock_now());
    assert!(rig.store.update_after_use(&after.id, usage).await.unwrap());
    let tampered = rig.stored(&passkey).await;
    for second_factor in [false, true] {
        let start = if second_factor {
            rig.passkeys.begin_second_factor(&alice()).await.unwrap()
        } else {
            rig.passkeys.begin_authentication().await.unwrap()
        };
        let asserted = browser.get(&start.options);
        let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
        assert!(matches!(refused, Err(PasskeyError::CounterRegression)), "{refused:?}");
    }
    assert_eq!(rig.stored(&passkey).await, tampered);
}

#[tokio::test]
async fn user_verification_required_but_not_performed_is_refused() {
    let rig = rig(UserVerification::Required);
    let mut browser = Browser::new(true);
    let skip_uv =
        |policy: &mut UserVerificationPolicy| *policy = UserVerificationPolicy::Discouraged_DO_NOT_USE;

    // Registration: the client tells the authenticator not to verify the user.
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser
        .create_with(ORIGIN, &start.options, |options| {
            skip_uv(&mut options.public_key.authenticator_selection.as_mut().unwrap().user_verification)
        })
        .unwrap();
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(matches!(refused, Err(PasskeyError::UserVerificationRequired)), "{refused:?}");
    assert!(rig.passkeys.list(&alice()).await.unwrap().is_empty());

    // Sign-in, passwordless and second factor.
    let passkey = rig.register(&alice(), &mut browser).await;
    assert!(passkey.user_verified);
    for second_factor in [false, true] {
        let start = if second_factor {
            rig.passkeys.begin_second_factor(&alice()).await.unwrap()
        } else {
            rig.passkeys.begin_authentication().await.unwrap()
        };
        let asserted = browser
            .get_with(ORIGIN, &start.options, |options| skip_uv(&mut options.public_key.user_verification));
        let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted.unwrap()).await;
        assert!(matches!(refused, Err(PasskeyError::UserVerificationRequired)), "{refused:?}");
    }
    assert_eq!(rig.stored(&passkey).await, passkey);
}

#[tokio::test]
async fn a_passkey_that_verified_the_user_must_keep_doing_so() {
    // "preferred": the authenticator verified the user at registration (the client asked it
    // to), so a later assertion without verification is refused.
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(true);
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser
        .create_with(ORIGIN, &start.options, |options| {
            options.public_key.authenticator_selection.as_mut().unwrap().user_verification =
                UserVerificationPolicy::Required;
        })
        .unwrap();
    let passkey =
        rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await.unwrap();
    assert!(passkey.user_verified);

    let start = rig.passkeys.begin_authentication().await.unwrap();
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, browser.get(&start.options)).await;
    assert!(matches!(refused, Err(PasskeyError::UserVerificationRequired)), "{refused:?}");
}

#[tokio::test]
async fn a_second_factor_must_be_the_users_passkey() {
    let rig = rig(UserVerification::Preferred);
    let (mut alices_browser, mut bobs_browser) = (Browser::new(false), Browser::new(false));
    let alices = rig.register(&alice(), &mut alices_browser).await;
    let bobs = rig.register(&bob(), &mut bobs_browser).await;

    let start = rig.passkeys.begin_second_factor(&alice()).await.unwrap();
    let allowed = &start.options["publicKey"]["allowCredentials"];
    assert_eq!(allowed.as_array().unwrap().len(), 1);
    assert_eq!(allowed[0]["id"], alices.credential_id);

    // Bob answers Alice's second-factor challenge with his own passkey.
    for finish_as_second_factor in [true, false] {
        let start = rig.passkeys.begin_second_factor(&alice()).await.unwrap();
        let bob_id = bobs_browser.credential_id.clone().unwrap();
        let asserted = bobs_browser
            .get_with(ORIGIN, &start.options, |options| options.public_key.allow_credentials[0].id = bob_id)
            .unwrap();
        let refused = if finish_as_second_factor {
            rig.passkeys.finish_second_factor(&start.challenge_id, &alice(), asserted).await
        } else {
            rig.passkeys.finish_authentication(&start.challenge_id, asserted).await
        };
        assert!(matches!(refused, Err(PasskeyError::WrongUser)), "{refused:?}");
    }
    assert_eq!(rig.stored(&bobs).await, bobs, "Bob's passkey was not used");

    // Alice's challenge finished as Bob's second factor: refused before anything is checked.
    let asserted = alices_browser.get(&start.options);
    let refused = rig.passkeys.finish_second_factor(&start.challenge_id, &bob(), asserted).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)));

    // Alice's own passkey works.
    let start = rig.passkeys.begin_second_factor(&alice()).await.unwrap();
    let asserted = alices_browser.get(&start.options);
    let signed_in = rig.passkeys.finish_second_factor(&start.challenge_id, &alice(), asserted).await.unwrap();
    assert_eq!((signed_in.user_id, signed_in.passkey_id), (alice(), alices.id));

    // A user without passkeys gets no challenge.
    let refused = rig.passkeys.begin_second_factor(&UserId::new("carol")).await;
    assert!(matches!(refused, Err(PasskeyError::NoPasskeys)));
}

#[tokio::test]
async fn a_passwordless_response_must_carry_the_owners_user_handle() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);
    rig.register(&alice(), &mut browser).await;
    rig.register(&bob(), &mut Browser::new(false)).await;

    let start = rig.passkeys.begin_authentication().await.unwrap();
    let mut asserted = browser.get(&start.options);
    set(&mut asserted, "/response/userHandle", serde_json::Value::Null);
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
    assert!(matches!(refused, Err(PasskeyError::VerificationFailed(WebauthnError::InvalidUserUniqueId))));

    let bobs_handle = rig.passkeys.list(&bob()).await.unwrap()[0].user_handle.clone();
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let mut asserted = browser.get(&start.options);
    set(&mut asserted, "/response/userHandle", json!(bobs_handle));
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
    assert!(matches!(refused, Err(PasskeyError::VerificationFailed(WebauthnError::InvalidUserUniqueId))));
}

#[tokio::test]
async fn an_unknown_credential_is_refused() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);
    let passkey = rig.register(&alice(), &mut browser).await;
    assert!(rig.passkeys.delete(&alice(), &passkey.id).await.unwrap());
    let start = rig.passkeys.begin_authentication().await.unwrap();
    let refused = rig.passkeys.finish_authentication(&start.challenge_id, browser.get(&start.options)).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownCredential)), "{refused:?}");
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let rig = rig(UserVerification::Preferred);
    let mut browser = Browser::new(false);
    let ttl = PasskeyConfig::DEFAULT_CHALLENGE_TTL;

    // Registration: fine just before the end, refused after it.
    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser.create(&start.options);
    rig.clock.advance(ttl);
    let refused = rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await;
    assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)), "{refused:?}");

    let start = rig.passkeys.begin_registration(&alice(), "alice", "Alice").await.unwrap();
    let created = browser.create(&start.options);
    rig.clock.advance(ttl - Duration::seconds(1));
    rig.passkeys.finish_registration(&start.challenge_id, &alice(), "Key", created).await.unwrap();

    // Sign-in, passwordless and second factor.
    for second_factor in [false, true] {
        let start = if second_factor {
            rig.passkeys.begin_second_factor(&alice()).await.unwrap()
        } else {
            rig.passkeys.begin_authentication().await.unwrap()
        };
        let asserted = browser.get(&start.options);
        rig.clock.advance(ttl + Duration::seconds(1));
        let refused = rig.passkeys.finish_authentication(&start.challenge_id, asserted).await;
        assert!(matches!(refused, Err(PasskeyError::UnknownChallenge)), "{refused:?}");
    }

    // Expired challenges are flushed.
    rig.passkeys.begin_authentication().await.unwrap();
    rig.clock.advance(ttl);
    assert_eq!(rig.passkeys.flush_expired_challenges().await.unwrap(), 1);
}

#[tokio::test]
async fn an_inconsistent_configuration_is_refused() {
    let store = Arc::new(MemoryPasskeyStore::new());
    let clock = Arc::new(auth_core::ManualClock::starting_now());
    let config = PasskeyConfig::new("example.com", "Example")
        .allowed_origin(Url::parse("https://example.org").unwrap());
    let refused = Passkeys::new(config, store.clone(), clock.clone()).unwrap_err();
    assert!(matches!(refused, PasskeyError::Config(ConfigError::OriginOutsideRpId { .. })), "{refused:?}");
    let refused = Passkeys::new(PasskeyConfig::new("example.com", "Example"), store, clock).unwrap_err();
    assert!(matches!(refused, PasskeyError::Config(ConfigError::NoOrigins)));
    assert_eq!(AuthError::from(refused).status().as_u16(), 500);
}
