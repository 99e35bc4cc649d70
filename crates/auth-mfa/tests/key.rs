//! The server key: sealing, recovery-code hashes, the key file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::UserId;
use auth_mfa::{MfaError, MfaKey, challenge_hash};

#[test]
fn seal_open_roundtrip() {
    let key = MfaKey::generate();
    for plaintext in [&b""[..], b"x", &[0xa5; 20], &[7; 1000]] {
        let sealed = key.seal(plaintext, b"user-1").unwrap();
        assert_eq!(sealed[0], 1, "format version");
        assert_eq!(sealed.len(), 1 + 12 + plaintext.len() + 16);
        assert_eq!(key.open(&sealed, b"user-1").unwrap(), plaintext);
    }
    let a = key.seal(b"same plaintext", b"u").unwrap();
    let b = key.seal(b"same plaintext", b"u").unwrap();
    assert_ne!(a, b, "a fresh nonce every time");
    assert_ne!(a[1..13], b[1..13]);
}

#[test]
fn sealed_output_never_contains_the_plaintext() {
    let key = MfaKey::generate();
    let secret = b"TOTP-SECRET-1234567890";
    for _ in 0..50 {
        let sealed = key.seal(secret, b"alice").unwrap();
        assert!(
            !sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)),
            "no 8-byte run of the plaintext"
        );
    }
}

#[test]
fn wrong_aad_key_or_tampering_fail_to_open() {
    let key = MfaKey::generate();
    let sealed = key.seal(b"secret", b"alice").unwrap();
    assert!(matches!(key.open(&sealed, b"bob"), Err(MfaError::Decrypt)), "another user");
    assert!(matches!(key.open(&sealed, b""), Err(MfaError::Decrypt)));
    assert!(matches!(MfaKey::generate().open(&sealed, b"alice"), Err(MfaError::Decrypt)), "another key");
    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        assert!(matches!(key.open(&tampered, b"alice"), Err(MfaError::Decrypt)), "byte {i} flipped");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(key.open(&longer, b"alice"), Err(MfaError::Decrypt)));
    assert!(matches!(key.open(&sealed[..sealed.len() - 1], b"alice"), Err(MfaError::Decrypt)));
    assert!(matches!(key.open(&[], b"alice"), Err(MfaError::Decrypt)));
    // A clone is the same key.
    assert_eq!(key.clone().open(&sealed, b"alice").unwrap(), b"secret");
    // Decrypt failures are server errors, not the client's.
    let error: auth_core::AuthError = MfaError::Decrypt.into();
    assert!(matches!(error, auth_core::AuthError::Backend(_)));
}

#[test]
fn base64_roundtrip() {
    let key = MfaKey::generate();
    let text = key.to_base64();
    assert_eq!(text.len(), 44);
    let again = MfaKey::from_base64(&text).unwrap();
    let sealed = key.seal(b"x", b"u").unwrap();
    assert_eq!(again.open(&sealed, b"u").unwrap(), b"x");
    assert!(!format!("{key:?}").contains(&text));
    assert!(!format!("{key:?}").contains(&text[..8]));
}

#[test]
fn recovery_code_hashes() {
    let key = MfaKey::generate();
    let alice = UserId::new("alice");
    let hash = key.recovery_code_hash(&alice, "abcdefghjkmn");
    assert_eq!(hash.len(), 64);
    assert_eq!(
        hash,
        MfaKey::from_base64(&key.to_base64()).unwrap().recovery_code_hash(&alice, "abcdefghjkmn")
    );
    assert_ne!(hash, key.recovery_code_hash(&UserId::new("bob"), "abcdefghjkmn"));
    assert_ne!(hash, MfaKey::generate().recovery_code_hash(&alice, "abcdefghjkmn"));
    // The user/code boundary is unambiguous.
    assert_ne!(
        key.recovery_code_hash(&UserId::new("ab"), "c"),
        key.recovery_code_hash(&UserId::new("a"), "bc")
    );
}

#[test]
fn challenge_hashes() {
    let hash = challenge_hash("mfa_token");
    assert_eq!(hash.len(), 64);
    assert_eq!(hash, challenge_hash("mfa_token"));
    assert_ne!(hash, challenge_hash("mfa_tokem"));
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let mut random = [0u8; 8];
    rand::fill(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("auth-mfa-{name}-{suffix}"))
}

#[test]
fn load_or_generate_creates_a_private_file_and_reloads_it() {
    let dir = temp_dir("key");
    let path = dir.join("nested").join("mfa.key");
    let key = MfaKey::load_or_generate(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim(), key.to_base64());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is private");
        let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode & 0o077, 0, "created directories are private");
    }
    let reloaded = MfaKey::load_or_generate(&path).unwrap();
    assert_eq!(reloaded.to_base64(), key.to_base64(), "the same key on the next start");
    let sealed = key.seal(b"s", b"u").unwrap();
    assert_eq!(reloaded.open(&sealed, b"u").unwrap(), b"s");

    // A file written by hand (URL-safe, no padding, surrounded by whitespace) loads too.
    let manual = dir.join("manual.key");
    let bytes = [0x3fu8; 32];
    use base64::Engine as _;
    std::fs::write(
        &manual,
        format!("\n  {}  \n", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
    )
    .unwrap();
    assert_eq!(
        MfaKey::load_or_generate(&manual).unwrap().to_base64(),
        MfaKey::from_bytes(&bytes).unwrap().to_base64()
    );

    // A corrupt file is an error, never silently replaced.
    let corrupt = dir.join("corrupt.key");
    std::fs::write(&corrupt, "not a key").unwrap();
    assert!(matches!(MfaKey::load_or_generate(&corrupt), Err(MfaError::InvalidKey)));
    assert_eq!(std::fs::read_to_string(&corrupt).unwrap(), "not a key");

    // A file name in the current directory (no parent) works.
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn racing_starts_agree_on_one_key() {
    let dir = temp_dir("race");
    let path = dir.join("mfa.key");
    let keys: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..8).map(|_| scope.spawn(|| MfaKey::load_or_generate(&path).unwrap().to_base64())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(keys.iter().all(|k| *k == keys[0]), "every process ends up with the same key");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), keys[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}
