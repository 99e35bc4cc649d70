//! RFC 4226 HOTP and RFC 6238 TOTP, the otpauth URI and its QR code.

use std::fmt;

use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit as _, Mac as _};
use subtle::{Choice, ConditionallySelectable as _, ConstantTimeEq as _};

use crate::MfaError;

/// The HMAC hash function of a TOTP factor. SHA-1 is what every authenticator app supports (and
/// HMAC-SHA-1 is not weakened by SHA-1 collisions); the others are for the apps that support them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1 (the default, and the only one all apps implement).
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl TotpAlgorithm {
    /// The name in an otpauth URI: `"SHA1"`, `"SHA256"` or `"SHA512"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    /// HMAC of `message` under `key`.
    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => mac::<sha1::Sha1>(key, message),
            Self::Sha256 => mac::<sha2::Sha256>(key, message),
            Self::Sha512 => mac::<sha2::Sha512>(key, message),
        }
    }
}

impl fmt::Display for TotpAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn mac<D: EagerHash>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<D>::new_from_slice(key) else { unreachable!("HMAC accepts keys of any length") };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// A TOTP generator and checker (RFC 6238 over RFC 4226 HOTP): a secret, a hash function, a
/// number of digits and a time step.
///
/// Its `Debug` hides the secret, and the secret is overwritten with zeros when it is dropped.
///
/// ```
/// use auth_mfa::Totp;
///
/// let totp = Totp::new(Totp::generate_secret());
/// let now = 1_700_000_000;
/// let code = totp.code_at(now);
/// assert_eq!(code.len(), 6);
/// assert_eq!(totp.matching_step(&code, now + 25, 1), Some(totp.step_at(now)), "one step of clock skew is fine");
/// assert_eq!(totp.matching_step(&code, now + 95, 1), None, "three steps later it is not");
/// let uri = totp.otpauth_uri("Portcullis", "alice@example.com");
/// assert!(uri.starts_with("otpauth://totp/Portcullis:alice%40example.com?secret="));
/// ```
#[derive(Clone)]
pub struct Totp {
    secret: Vec<u8>,
    algorithm: TotpAlgorithm,
    digits: u32,
    step_seconds: i64,
}

impl Totp {
    /// The length of generated secrets: 20 bytes (160 bits), as RFC 4226 recommends.
    pub const SECRET_BYTES: usize = 20;
    /// The smallest number of digits accepted.
    pub const MIN_DIGITS: u32 = 6;
    /// The largest number of digits accepted (HOTP truncation gives 31 bits: 10 decimal digits).
    pub const MAX_DIGITS: u32 = 10;

    /// The standard parameters every authenticator app supports: SHA-1, 6 digits, 30-second steps.
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret, algorithm: TotpAlgorithm::Sha1, digits: 6, step_seconds: 30 }
    }

    /// Other parameters: `digits` from 6 to 10, `step_seconds` at least 1, else
    /// [`MfaError::InvalidParameters`]. Many apps ignore anything but the standard parameters
    /// (see [`Totp::new`]), so prefer those for factors people enrol with their phones.
    pub fn with_parameters(
        secret: Vec<u8>,
        algorithm: TotpAlgorithm,
        digits: u32,
        step_seconds: i64,
    ) -> Result<Self, MfaError> {
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&digits) {
            return Err(MfaError::InvalidParameters(format!("digits must be 6 to 10, not {digits}")));
        }
        if step_seconds < 1 {
            return Err(MfaError::InvalidParameters(format!(
                "the step must be at least one second, not {step_seconds}"
            )));
        }
        Ok(Self { secret, algorithm, digits, step_seconds })
    }

    /// A new secret: [`Totp::SECRET_BYTES`] bytes from a CSPRNG.
    pub fn generate_secret() -> Vec<u8> {
        let mut secret = vec![0u8; Self::SECRET_BYTES];
        rand::fill(secret.as_mut_slice());
        secret
    }

    /// The raw secret.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The hash function.
    pub fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }

    /// The number of digits of a code.
    pub fn digits(&self) -> u32 {
        self.digits
    }

    /// The length of a time step, in seconds.
    pub fn step_seconds(&self) -> i64 {
        self.step_seconds
    }

    /// The time step (the HOTP counter) at `unix_seconds`: `floor(unix_seconds / step)`, also
    /// for instants before 1970.
    pub fn step_at(&self, unix_seconds: i64) -> i64 {
        unix_seconds.div_euclid(self.step_seconds)
    }

    /// The code of a time step (the HOTP value for counter `step`, RFC 4226 §5.3), zero-padded
    /// to [`Totp::digits`]. A negative step is the counter of the same 64 bits.
    pub fn code_at_step(&self, step: i64) -> String {
        let hash = self.algorithm.mac(&self.secret, &step.to_be_bytes());
        // Dynamic truncation: the low 4 bits of the last byte pick 4 bytes; keep 31 bits.
        let offset = hash.last().map_or(0, |last| usize::from(last & 0x0f));
        let mut word = [0u8; 4];
        for (to, from) in word.iter_mut().zip(hash.iter().skip(offset)) {
            *to = *from;
        }
        let binary = u64::from(u32::from_be_bytes(word) & 0x7fff_ffff);
        let code = binary % 10u64.pow(self.digits);
        format!("{code:0width$}", width = self.digits as usize)
    }

    /// The code at `unix_seconds`.
    pub fn code_at(&self, unix_seconds: i64) -> String {
        self.code_at_step(self.step_at(unix_seconds))
    }

    /// Checks `code` at `now_unix`, accepting the steps from `skew_steps` before to `skew_steps`
    /// after the current one (a negative skew counts as 0). Returns the matching step — the
    /// largest if several match — to record so that the code is never accepted again.
    ///
    /// Spaces (and other whitespace) in `code` are ignored; otherwise it must be exactly
    /// [`Totp::digits`] ASCII digits. Every candidate step is computed and compared in constant
    /// time, with no early exit.
    pub fn matching_step(&self, code: &str, now_unix: i64, skew_steps: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != self.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = self.step_at(now_unix);
        let skew = skew_steps.max(0);
        let mut found = Choice::from(0);
        let mut matched = 0i64;
        for step in now.saturating_sub(skew)..=now.saturating_add(skew) {
            let equal = self.code_at_step(step).as_bytes().ct_eq(code.as_bytes());
            matched.conditional_assign(&step, equal);
            found |= equal;
        }
        bool::from(found).then_some(matched)
    }

    /// The secret in RFC 4648 base32 (uppercase, no padding): what people type into an app that
    /// cannot scan the QR code.
    pub fn secret_base32(&self) -> String {
        base32(&self.secret)
    }

    /// The `otpauth://totp/` key URI (the Google Authenticator format) authenticator apps
    /// enrol from: `otpauth://totp/{issuer}:{account}?secret=..&issuer=..&algorithm=..&digits=..&period=..`,
    /// with the label parts and parameters percent-encoded (everything but RFC 3986 unreserved
    /// characters). An empty `issuer` is left out. Neither part should contain a colon: some apps
    /// would split the label there.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let secret = self.secret_base32();
        let (algorithm, digits, period) = (self.algorithm.as_str(), self.digits, self.step_seconds);
        let account = percent_encode(account);
        if issuer.is_empty() {
            format!(
                "otpauth://totp/{account}?secret={secret}&algorithm={algorithm}&digits={digits}&period={period}"
            )
        } else {
            let issuer = percent_encode(issuer);
            format!(
                "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={algorithm}&digits={digits}&period={period}"
            )
        }
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("step_seconds", &self.step_seconds)
            .finish()
    }
}

impl Drop for Totp {
    fn drop(&mut self) {
        self.secret.fill(0);
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.secret);
    }
}

/// RFC 4648 base32, uppercase, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 0x1f) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// Percent-encodes every byte but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// An SVG image (a QR code, at least 200×200 pixels, with its quiet zone) of `data`, typically an
/// [`otpauth_uri`](Totp::otpauth_uri), to show on the enrolment page. Data too long for a QR code
/// is [`MfaError::Qr`].
pub fn qr_svg(data: &str) -> Result<String, MfaError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| MfaError::Qr(e.to_string()))?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10, without padding.
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base32(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b:c@d/é&=?#%+"), "a%20b%3Ac%40d%2F%C3%A9%26%3D%3F%23%25%2B");
    }

    #[test]
    fn parameters_are_checked() {
        for digits in [0, 5, 11] {
            assert!(matches!(
                Totp::with_parameters(vec![1], TotpAlgorithm::Sha1, digits, 30),
                Err(MfaError::InvalidParameters(_))
            ));
        }
        for step in [0, -30] {
            assert!(Totp::with_parameters(vec![1], TotpAlgorithm::Sha1, 6, step).is_err());
        }
        let totp = Totp::with_parameters(vec![1], TotpAlgorithm::Sha512, 10, 1).unwrap();
        assert_eq!(totp.code_at(0).len(), 10);
    }

    #[test]
    fn steps_floor_before_the_epoch() {
        let totp = Totp::new(vec![0; 20]);
        assert_eq!(totp.step_at(0), 0);
        assert_eq!(totp.step_at(29), 0);
        assert_eq!(totp.step_at(30), 1);
        assert_eq!(totp.step_at(-1), -1);
        assert_eq!(totp.step_at(-30), -1);
        assert_eq!(totp.step_at(-31), -2);
        assert_eq!(totp.code_at_step(-1).len(), 6);
        let second = Totp::with_parameters(vec![0; 20], TotpAlgorithm::Sha1, 6, 1).unwrap();
        for extreme in [i64::MAX, i64::MIN] {
            let code = second.code_at(extreme);
            assert_eq!(second.matching_step(&code, extreme, 5), Some(extreme), "no overflow at {extreme}");
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let totp = Totp::new(b"very secret bytes!!!".to_vec());
        let debug = format!("{totp:?}");
        assert!(!debug.contains("118") && !debug.contains("very"), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn qr_is_svg() {
        let svg = qr_svg("otpauth://totp/Portcullis:alice?secret=ABC").unwrap();
        assert!(svg.contains("<svg"));
        assert!(matches!(qr_svg(&"x".repeat(10_000)), Err(MfaError::Qr(_))));
    }
}
