//! The provider's tokens at rest (feature `flows`): sealed with AES-256-GCM under a
//! [`ProviderTokenKey`], bound to their link (its id, user, provider and subject are the
//! associated data, so a sealed value copied to another row does not open).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{LinkedAccount, OAuthError, ProviderTokens};

/// The format's prefix (versioning).
const PREFIX: &str = "v1.";

/// The key that seals stored provider tokens: 32 random bytes, the same in every process of a
/// deployment, kept out of the database (like the MFA key that seals TOTP secrets).
pub struct ProviderTokenKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for ProviderTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderTokenKey(<redacted>)")
    }
}

impl ProviderTokenKey {
    /// A key from its 32 bytes.
    pub fn new(key: [u8; 32]) -> Result<Self, OAuthError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, &key).map_err(|_| OAuthError::Config("key".to_owned()))?;
        Ok(Self { key: LessSafeKey::new(unbound) })
    }

    /// Seals `tokens` for `link`.
    pub(crate) fn seal(&self, tokens: &ProviderTokens, link: &LinkedAccount) -> Result<String, OAuthError> {
        let mut nonce = [0_u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| OAuthError::Config("random".to_owned()))?;
        let mut data = serde_json::to_vec(tokens).map_err(|e| OAuthError::Config(e.to_string()))?;
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad(link)), &mut data)
            .map_err(|_| OAuthError::Config("seal".to_owned()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// Opens what [`seal`](Self::seal) made for `link`; `None` under another key, for another
    /// link, or changed.
    pub(crate) fn open(&self, sealed: &str, link: &LinkedAccount) -> Option<ProviderTokens> {
        let mut sealed = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let mut data = sealed.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&sealed).ok()?;
        let plain = self.key.open_in_place(nonce, Aad::from(aad(link)), &mut data).ok()?;
        serde_json::from_slice(plain).ok()
    }
}

/// The associated data: what the sealed value belongs to.
fn aad(link: &LinkedAccount) -> Vec<u8> {
    let mut aad = b"portcullis-provider-tokens-v1".to_vec();
    for part in [link.id.as_str(), link.user_id.as_str(), link.provider.as_str(), link.subject.as_str()] {
        aad.push(0);
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::UserId;

    fn tokens() -> ProviderTokens {
        ProviderTokens {
            access_token: "gho_access".into(),
            refresh_token: Some("ghr_refresh".into()),
            expires_at: None,
            scopes: vec!["read:user".into()],
        }
    }

    #[test]
    fn sealed_tokens_open_only_with_their_key_and_for_their_link() {
        let key = ProviderTokenKey::new([3; 32]).unwrap();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let link = LinkedAccount::new(UserId::new("alice"), "github", "42", None, now);
        let sealed = key.seal(&tokens(), &link).unwrap();
        assert!(!sealed.contains("gho_access") && !sealed.contains("ghr_refresh"));
        assert_eq!(key.open(&sealed, &link), Some(tokens()));
        assert_ne!(key.seal(&tokens(), &link).unwrap(), sealed, "a fresh nonce each time");

        let other = LinkedAccount::new(UserId::new("mallory"), "github", "42", None, now);
        assert_eq!(key.open(&sealed, &other), None, "bound to the link");
        assert_eq!(ProviderTokenKey::new([4; 32]).unwrap().open(&sealed, &link), None, "another key");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(key.open(&tampered, &link), None);
        assert_eq!(key.open("plaintext", &link), None);
        assert!(!format!("{:?}", tokens()).contains("gho_access"), "Debug redacts");
    }
}
