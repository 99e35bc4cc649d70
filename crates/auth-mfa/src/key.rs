//! The server key: seals TOTP secrets at rest and keys the recovery-code hashes.

use std::fmt;
use std::io;
use std::path::Path;

use auth_core::UserId;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::MfaError;

/// The first byte of every sealed secret: the format (AES-256-GCM, 96-bit random nonce).
const SEALED_VERSION: u8 = 1;
/// The AES-GCM tag length.
const TAG_LEN: usize = 16;
/// What the recovery-code subkey is derived with: `HMAC-SHA256(key, RECOVERY_CONTEXT)`.
const RECOVERY_CONTEXT: &[u8] = b"portcullis recovery code v1";

/// The MFA server key: 32 random bytes that seal TOTP secrets (AES-256-GCM) and key the
/// recovery-code hashes (HMAC-SHA256).
///
/// Keep it out of the database: a database leak alone then gives neither the TOTP secrets nor a
/// way to brute-force the recovery codes. Losing it makes every enrolled TOTP factor unusable
/// (users fall back to recovery codes, then to an administrator). Its `Debug` shows nothing of it.
///
/// ```
/// use auth_core::UserId;
/// use auth_mfa::MfaKey;
///
/// let key = MfaKey::generate();
/// let alice = UserId::new("alice");
/// let sealed = key.seal(b"totp secret", alice.as_str().as_bytes()).unwrap();
/// assert_eq!(key.open(&sealed, alice.as_str().as_bytes()).unwrap(), b"totp secret");
/// assert!(key.open(&sealed, b"mallory").is_err(), "bound to its user");
///
/// let again = MfaKey::from_base64(&key.to_base64()).unwrap();
/// assert_eq!(again.recovery_code_hash(&alice, "abcd0123efgh"), key.recovery_code_hash(&alice, "abcd0123efgh"));
/// ```
#[derive(Clone)]
pub struct MfaKey {
    bytes: [u8; MfaKey::LEN],
}

impl MfaKey {
    /// The key length in bytes (256 bits).
    pub const LEN: usize = 32;

    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::LEN];
        rand::fill(&mut bytes);
        Self { bytes }
    }

    /// A key from its raw bytes: exactly 32 of them, else [`MfaError::InvalidKey`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MfaError> {
        let bytes: [u8; Self::LEN] = bytes.try_into().map_err(|_| MfaError::InvalidKey)?;
        Ok(Self { bytes })
    }

    /// A key from base64 (standard or URL-safe alphabet, padded or not; surrounding whitespace is
    /// ignored) of exactly 32 bytes, else [`MfaError::InvalidKey`].
    pub fn from_base64(text: &str) -> Result<Self, MfaError> {
        let decoded = auth_core::key_file::decode_key(text, Self::LEN).ok_or(MfaError::InvalidKey)?;
        Self::from_bytes(&decoded)
    }

    /// The key as standard base64 (padded), the format of [`MfaKey::load_or_generate`]'s file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Reads the key file at `path` (base64, as [`MfaKey::to_base64`] writes it), or generates a
    /// key and creates the file (and its missing parent directories, mode 0700 on Unix) when
    /// there is none.
    ///
    /// The file is created with mode 0600 on Unix and never overwritten: of two processes starting
    /// at once, one creates it and the other reads it (waiting up to a second for its content). A
    /// file that is not a valid key — an empty one left by a crash during creation, say — is
    /// [`MfaError::InvalidKey`], never replaced: losing the key disables every TOTP factor. This
    /// is blocking I/O: call it at start-up (or in `spawn_blocking`).
    pub fn load_or_generate(path: &Path) -> Result<Self, MfaError> {
        match auth_core::key_file::load_or_generate(path, Self::LEN) {
            Ok(bytes) => Self::from_bytes(&bytes),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(MfaError::InvalidKey),
            Err(e) => Err(e.into()),
        }
    }

    fn aead_key(&self) -> Result<LessSafeKey, MfaError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.bytes).map_err(|_| MfaError::InvalidKey)?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Encrypts and authenticates `plaintext` with AES-256-GCM under a fresh random 96-bit nonce,
    /// binding it to `aad` (additional data: pass the user id, so that a sealed secret copied to
    /// another user's row does not open there).
    ///
    /// The output is `version (1 byte, = 1) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, MfaError> {
        let key = self.aead_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut in_out)
            .map_err(|_| MfaError::Encrypt)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEALED_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`MfaKey::seal`] produced with the same key and `aad`. Anything else (another
    /// key or `aad`, a modified or truncated input, an unknown version) is [`MfaError::Decrypt`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, MfaError> {
        let Some((&SEALED_VERSION, rest)) = sealed.split_first() else {
            return Err(MfaError::Decrypt);
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(MfaError::Decrypt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MfaError::Decrypt)?;
        let key = self.aead_key()?;
        let mut in_out = ciphertext.to_vec();
        let plaintext_len =
            key.open_in_place(nonce, Aad::from(aad), &mut in_out).map_err(|_| MfaError::Decrypt)?.len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    /// The stored form of a recovery code: HMAC-SHA256 over `user_id || 0x00 || normalized_code`,
    /// keyed with a subkey derived from this key (`HMAC-SHA256(key, "portcullis recovery code
    /// v1")`), as lowercase hex.
    ///
    /// Keyed, so that a leaked database alone does not allow brute-forcing the 60-bit codes; bound
    /// to the user, so that equal codes of two users hash differently. Pass the output of
    /// [`normalize_recovery_code`](crate::normalize_recovery_code).
    pub fn recovery_code_hash(&self, user_id: &UserId, normalized_code: &str) -> String {
        let subkey = hmac_sha256(&self.bytes, &[RECOVERY_CONTEXT]);
        hex(&hmac_sha256(&subkey, &[user_id.as_str().as_bytes(), &[0], normalized_code.as_bytes()]))
    }
}

impl fmt::Debug for MfaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MfaKey(..)")
    }
}

impl Drop for MfaKey {
    fn drop(&mut self) {
        self.bytes = [0; Self::LEN];
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.bytes);
    }
}

/// HMAC-SHA256 of the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The key a challenge is stored under: SHA-256 of the `mfa_token`, lowercase hex. A plain hash is
/// enough: the token is 256 random bits, so it cannot be guessed from its hash.
pub fn challenge_hash(mfa_token: &str) -> String {
    hex(&Sha256::digest(mfa_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    #[test]
    fn base64_forms_and_lengths() {
        let key = MfaKey::from_bytes(&[0xfb; 32]).unwrap();
        let standard = key.to_base64();
        assert!(standard.contains('+') || standard.contains('/'));
        let url_safe = URL_SAFE_NO_PAD.encode([0xfb; 32]);
        for text in
            [standard.clone(), format!("  {standard}\n"), url_safe, STANDARD_NO_PAD.encode([0xfb; 32])]
        {
            assert_eq!(MfaKey::from_base64(&text).unwrap().bytes, [0xfb; 32], "{text:?}");
        }
        assert!(matches!(MfaKey::from_bytes(&[0; 31]), Err(MfaError::InvalidKey)));
        assert!(matches!(MfaKey::from_bytes(&[0; 33]), Err(MfaError::InvalidKey)));
        assert!(matches!(MfaKey::from_base64(&STANDARD.encode([0; 16])), Err(MfaError::InvalidKey)));
        assert!(matches!(MfaKey::from_base64("not base64!"), Err(MfaError::InvalidKey)));
        assert!(matches!(MfaKey::from_base64(""), Err(MfaError::InvalidKey)));
    }

    #[test]
    fn debug_shows_nothing() {
        let key = MfaKey::from_bytes(&[7; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "MfaKey(..)");
    }

    #[test]
    fn recovery_hash_is_keyed_and_bound_to_the_user() {
        let (a, b) = (MfaKey::generate(), MfaKey::generate());
        let alice = UserId::new("alice");
        let hash = a.recovery_code_hash(&alice, "0123456789ab");
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(hash, a.recovery_code_hash(&alice, "0123456789ab"));
        assert_ne!(hash, b.recovery_code_hash(&alice, "0123456789ab"), "keyed");
        assert_ne!(hash, a.recovery_code_hash(&UserId::new("bob"), "0123456789ab"), "per user");
        assert_ne!(hash, a.recovery_code_hash(&alice, "0123456789ac"));
        assert_ne!(hash, hex(&Sha256::digest(b"alice\x000123456789ab")), "not a plain hash");
    }

    #[test]
    fn challenge_hash_is_sha256_hex() {
        assert_eq!(challenge_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn open_refuses_short_and_unknown_versions() {
        let key = MfaKey::generate();
        let mut sealed = key.seal(b"", b"u").unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_LEN + TAG_LEN);
        assert_eq!(key.open(&sealed, b"u").unwrap(), b"");
        for len in 0..sealed.len() {
            assert!(matches!(key.open(&sealed[..len], b"u"), Err(MfaError::Decrypt)), "{len}");
        }
        sealed[0] = 2;
        assert!(matches!(key.open(&sealed, b"u"), Err(MfaError::Decrypt)));
    }
}
