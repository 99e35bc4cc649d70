//! Password hashes imported from Django (`auth_user.password`).
//!
//! [`PasswordHasher::verify`](crate::PasswordHasher::verify) accepts the hashes Django's own
//! hashers store, checks them on the blocking pool like its argon2id hashes, and reports a match
//! as [`needs_rehash`](crate::PasswordCheck::needs_rehash), so that sign-in replaces the imported
//! hash with the configured argon2id the first time the user signs in. An importer calls
//! [`check_django_hash`] on every row first, to refuse hashes this module cannot check or whose
//! work factors are absurd, and [`is_unusable`] to import `set_unusable_password()` accounts
//! without a password.
//!
//! ## Formats
//!
//! Exactly as Django 5 stores them (`<algorithm>$<fields>`; salts are ASCII strings, used as
//! their bytes; hashes are standard, padded base64 unless said otherwise):
//!
//! | Django hasher                 | stored string                                       | checked as |
//! |-------------------------------|-----------------------------------------------------|------------|
//! | `PBKDF2PasswordHasher`        | `pbkdf2_sha256$<iterations>$<salt>$<hash>`          | PBKDF2-HMAC-SHA256, 32-byte key |
//! | `PBKDF2SHA1PasswordHasher`    | `pbkdf2_sha1$<iterations>$<salt>$<hash>`            | PBKDF2-HMAC-SHA1, 20-byte key |
//! | `Argon2PasswordHasher`        | `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`    | the PHC string after `argon2` (also `argon2i`, and the pre-`v=` form, which is version 0x10) |
//! | `BCryptSHA256PasswordHasher`  | `bcrypt_sha256$$2b$<cost>$<53 characters>`          | bcrypt of the lowercase hex SHA-256 of the password (64 ASCII bytes) |
//! | `BCryptPasswordHasher`        | `bcrypt$$2b$<cost>$<53 characters>`                 | bcrypt of the password, truncated at 72 bytes |
//! | `ScryptPasswordHasher`        | `scrypt$<N>$<salt>$<r>$<p>$<hash>`                  | scrypt, 64-byte key |
//!
//! bcrypt accepts the `$2a$`, `$2b$` and `$2y$` prefixes (not the buggy `$2x$`). A bcrypt
//! password longer than 72 bytes is checked on its first 72 bytes, as bcrypt did when Django
//! hashed it (Python's `bcrypt` 5 refuses such passwords instead; older versions truncated).
//! Numbers must be written as Django writes them (decimal digits, no sign, no leading zero): Django
//! compares the whole re-encoded string, so any other spelling never verifies there either.
//!
//! Django's MD5, SHA-1, unsalted and `crypt` hashers are not supported
//! ([`DjangoHashError::Unsupported`]). A string starting with `!` is an unusable password
//! ([`is_unusable`]): Django writes `!` and 40 random characters for `set_unusable_password()`;
//! it never verifies.
//!
//! ## The password as received
//!
//! Django hashes the UTF-8 bytes of the password exactly as received, without normalisation, so
//! an imported hash is checked against the password as received, and only in that form. The
//! NFKC-normalised form ([`normalize_password`](crate::normalize_password)) is not tried: it
//! would double the work of a possibly expensive legacy hash and accept spellings Django never
//! accepted. After the first sign-in the rehash stores the NFKC form like every Portcullis hash.
//!
//! ## Bounds
//!
//! A stored hash decides how much work checking it costs, so a corrupt or hostile row could tie
//! up a hashing slot for minutes. Hashes outside these bounds are refused by
//! [`check_django_hash`] (at import) and never verify (at sign-in):
//!
//! | hasher           | bounds |
//! |------------------|--------|
//! | PBKDF2           | 1 ≤ iterations ≤ [`PBKDF2_MAX_ITERATIONS`] (Django 5.2: 1,000,000) |
//! | bcrypt           | 4 ≤ cost ≤ [`BCRYPT_MAX_COST`] (Django: 12) |
//! | scrypt           | N a power of two, 2 ≤ N ≤ [`SCRYPT_MAX_N`]; r, p ≥ 1, r·p ≤ [`SCRYPT_MAX_R_TIMES_P`]; 128·r·(N + p) bytes ≤ [`SCRYPT_MAX_MEMORY_BYTES`] (Django: N = 2¹⁴, r = 8, p = 5, 16 MiB) |
//! | argon2           | m ≤ [`ARGON2_MAX_MEMORY_KIB`], t ≤ [`ARGON2_MAX_TIME_COST`], p ≤ [`ARGON2_MAX_PARALLELISM`] (Django: m = 102400, t = 2, p = 8) |

use std::fmt;

use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

/// Most PBKDF2 iterations an imported hash may demand (Django 5.2 uses 1,000,000).
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// Highest bcrypt cost (log₂ of the rounds) an imported hash may demand (Django uses 12).
pub const BCRYPT_MAX_COST: u32 = 16;
/// Lowest bcrypt cost bcrypt itself allows.
pub const BCRYPT_MIN_COST: u32 = 4;
/// Largest scrypt work factor `N` an imported hash may demand (Django uses 2¹⁴).
pub const SCRYPT_MAX_N: u64 = 1 << 20;
/// Largest scrypt `r·p` an imported hash may demand (Django uses 8·5 = 40).
pub const SCRYPT_MAX_R_TIMES_P: u64 = 64;
/// Most memory, in bytes, an imported scrypt hash may demand: `128·r·(N + p)` (Django's
/// parameters need 16 MiB).
pub const SCRYPT_MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Most argon2 memory, in KiB, an imported hash may demand: 1 GiB (Django uses 102400 KiB).
pub const ARGON2_MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Most argon2 passes an imported hash may demand (Django uses 2).
pub const ARGON2_MAX_TIME_COST: u32 = 64;
/// Most argon2 lanes an imported hash may demand (Django uses 8).
pub const ARGON2_MAX_PARALLELISM: u32 = 64;
/// The prefix of Django's unusable passwords (`set_unusable_password()`): `!` and 40 random
/// characters.
pub const UNUSABLE_PASSWORD_PREFIX: &str = "!";

/// The Django hashers whose hashes this module checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DjangoHashKind {
    /// `pbkdf2_sha256$…` (`PBKDF2PasswordHasher`, Django's default).
    Pbkdf2Sha256,
    /// `pbkdf2_sha1$…` (`PBKDF2SHA1PasswordHasher`).
    Pbkdf2Sha1,
    /// `argon2$argon2id$…` or `argon2$argon2i$…` (`Argon2PasswordHasher`).
    Argon2,
    /// `bcrypt_sha256$$2b$…` (`BCryptSHA256PasswordHasher`).
    BcryptSha256,
    /// `bcrypt$$2b$…` (`BCryptPasswordHasher`).
    Bcrypt,
    /// `scrypt$…` (`ScryptPasswordHasher`).
    Scrypt,
}

impl DjangoHashKind {
    /// Django's name of the algorithm: the part of the stored string before the first `$`.
    pub fn algorithm(self) -> &'static str {
        match self {
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha1 => "pbkdf2_sha1",
            Self::Argon2 => "argon2",
            Self::BcryptSha256 => "bcrypt_sha256",
            Self::Bcrypt => "bcrypt",
            Self::Scrypt => "scrypt",
        }
    }
}

impl fmt::Display for DjangoHashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.algorithm())
    }
}

/// Why a stored string is not a Django hash this module checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DjangoHashError {
    /// An unusable password (`!…`, from `set_unusable_password()`): import the account without a
    /// password.
    #[error("an unusable password (Django's set_unusable_password)")]
    Unusable,
    /// Not a Django hash at all (for instance a Portcullis PHC string, which starts with `$`).
    #[error("not a Django password hash")]
    NotDjango,
    /// A hash of one of Django's legacy hashers this module does not check (`md5`, `sha1`,
    /// `unsalted_md5`, `unsalted_sha1`, `crypt`).
    #[error("Django's {0} password hasher is not supported")]
    Unsupported(&'static str),
    /// A known algorithm, but the fields are not as Django writes them.
    #[error("malformed {algorithm} password hash: {reason}")]
    Malformed {
        /// Django's name of the algorithm.
        algorithm: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A work factor outside the accepted bounds (see the constants of this module).
    #[error("{algorithm} password hash: {parameter} = {value} is outside {min}..={max}")]
    OutOfBounds {
        /// Django's name of the algorithm.
        algorithm: &'static str,
        /// The parameter (`iterations`, `cost`, `N`, `r*p`, `memory`, `m`, `t`, `p`).
        parameter: &'static str,
        /// Its value in the hash.
        value: u64,
        /// The lowest accepted value.
        min: u64,
        /// The highest accepted value.
        max: u64,
    },
}

/// Whether `encoded` is a Django unusable password (`!` and random characters, from
/// `set_unusable_password()`), which never verifies: import such an account without a password.
pub fn is_unusable(encoded: &str) -> bool {
    encoded.starts_with(UNUSABLE_PASSWORD_PREFIX)
}

/// Checks that `encoded` is a Django hash this module verifies, well formed and within the bounds
/// (see the module documentation), without hashing anything. An importer calls it on every
/// `auth_user.password` and refuses (or imports without a password) the rows that fail.
pub fn check_django_hash(encoded: &str) -> Result<DjangoHashKind, DjangoHashError> {
    parse(encoded).map(|hash| hash.kind())
}

/// Whether `password` (as received, see the module documentation) matches the Django hash
/// `encoded`, in constant time. Errors as [`check_django_hash`]; nothing is hashed then.
///
/// This does the hash's full work (up to seconds within the bounds): call it on a blocking thread.
/// [`PasswordHasher::verify`](crate::PasswordHasher::verify) does, behind its concurrency cap.
pub fn verify_django_hash(password: &str, encoded: &str) -> Result<bool, DjangoHashError> {
    Ok(parse(encoded)?.verify(password.as_bytes()))
}

/// A parsed hash, within bounds.
enum Parsed<'a> {
    Pbkdf2 { sha1: bool, iterations: u32, salt: &'a str, hash: Vec<u8> },
    Argon2(Box<PasswordHash>),
    Bcrypt { sha256: bool, bcrypt: &'a str },
    Scrypt { params: scrypt::Params, salt: &'a str, hash: Vec<u8> },
}

impl Parsed<'_> {
    fn kind(&self) -> DjangoHashKind {
        match self {
            Self::Pbkdf2 { sha1: false, .. } => DjangoHashKind::Pbkdf2Sha256,
            Self::Pbkdf2 { sha1: true, .. } => DjangoHashKind::Pbkdf2Sha1,
            Self::Argon2(_) => DjangoHashKind::Argon2,
            Self::Bcrypt { sha256: true, .. } => DjangoHashKind::BcryptSha256,
            Self::Bcrypt { sha256: false, .. } => DjangoHashKind::Bcrypt,
            Self::Scrypt { .. } => DjangoHashKind::Scrypt,
        }
    }

    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Self::Pbkdf2 { sha1, iterations, salt, hash } => {
                let mut derived = vec![0u8; hash.len()];
                if *sha1 {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt.as_bytes(), *iterations, &mut derived);
                } else {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt.as_bytes(), *iterations, &mut derived);
                }
                bool::from(derived.ct_eq(hash))
            }
            Self::Argon2(hash) => Argon2::default().verify_password(password, &**hash).is_ok(),
            Self::Bcrypt { sha256: true, bcrypt } => {
                bcrypt::verify(hex_lower(&sha2::Sha256::digest(password)), bcrypt).unwrap_or(false)
            }
            Self::Bcrypt { sha256: false, bcrypt } => bcrypt::verify(password, bcrypt).unwrap_or(false),
            Self::Scrypt { params, salt, hash } => {
                let mut derived = vec![0u8; hash.len()];
                if scrypt::scrypt(password, salt.as_bytes(), params, &mut derived).is_err() {
                    return false;
                }
                bool::from(derived.ct_eq(hash))
            }
        }
    }
}

/// Django's legacy hashers, which this module recognises but does not check.
const UNSUPPORTED: [&str; 5] = ["md5", "sha1", "unsalted_md5", "unsalted_sha1", "crypt"];

fn parse(encoded: &str) -> Result<Parsed<'_>, DjangoHashError> {
    if is_unusable(encoded) {
        return Err(DjangoHashError::Unusable);
    }
    let Some((algorithm, rest)) = encoded.split_once('$') else {
        // Django's oldest unsalted MD5 hashes are stored as bare hex digests.
        if encoded.len() == 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DjangoHashError::Unsupported("unsalted_md5"));
        }
        return Err(DjangoHashError::NotDjango);
    };
    match algorithm {
        "pbkdf2_sha256" => parse_pbkdf2(rest, false),
        "pbkdf2_sha1" => parse_pbkdf2(rest, true),
        "argon2" => parse_argon2(rest),
        "bcrypt_sha256" => parse_bcrypt(rest, true),
        "bcrypt" => parse_bcrypt(rest, false),
        "scrypt" => parse_scrypt(rest),
        other => match UNSUPPORTED.iter().find(|name| **name == other) {
            Some(name) => Err(DjangoHashError::Unsupported(name)),
            None => Err(DjangoHashError::NotDjango),
        },
    }
}

fn malformed(algorithm: &'static str, reason: &'static str) -> DjangoHashError {
    DjangoHashError::Malformed { algorithm, reason }
}

/// `value` in `min..=max`, else [`DjangoHashError::OutOfBounds`].
fn bounded(
    algorithm: &'static str,
    parameter: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<u64, DjangoHashError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(DjangoHashError::OutOfBounds { algorithm, parameter, value, min, max })
    }
}

/// A number as Django's `%d` writes it: decimal digits, no sign, no leading zero. Values too large
/// for a `u64` saturate (and fail the bounds).
fn decimal(algorithm: &'static str, field: &str) -> Result<u64, DjangoHashError> {
    let digits = field.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || (digits.len() > 1 && digits[0] == b'0')
    {
        return Err(malformed(algorithm, "a number is not written in decimal digits"));
    }
    Ok(digits.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// A salt as Django accepts it: not empty (it cannot contain `$`: the fields are split on it).
fn salt<'a>(algorithm: &'static str, salt: &'a str) -> Result<&'a str, DjangoHashError> {
    if salt.is_empty() { Err(malformed(algorithm, "the salt is empty")) } else { Ok(salt) }
}

/// A key in standard, padded base64 of exactly `len` bytes.
fn key(algorithm: &'static str, field: &str, len: usize) -> Result<Vec<u8>, DjangoHashError> {
    match STANDARD.decode(field) {
        Ok(key) if key.len() == len => Ok(key),
        Ok(_) => Err(malformed(algorithm, "the hash has the wrong length")),
        Err(_) => Err(malformed(algorithm, "the hash is not base64")),
    }
}

fn parse_pbkdf2(rest: &str, sha1: bool) -> Result<Parsed<'_>, DjangoHashError> {
    let algorithm = if sha1 { "pbkdf2_sha1" } else { "pbkdf2_sha256" };
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt_field), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(algorithm, "expected <iterations>$<salt>$<hash>"));
    };
    let iterations = bounded(
        algorithm,
        "iterations",
        decimal(algorithm, iterations)?,
        1,
        u64::from(PBKDF2_MAX_ITERATIONS),
    )?;
    let iterations = u32::try_from(iterations).map_err(|_| malformed(algorithm, "too many iterations"))?;
    let salt = salt(algorithm, salt_field)?;
    let hash = key(algorithm, hash, if sha1 { 20 } else { 32 })?;
    Ok(Parsed::Pbkdf2 { sha1, iterations, salt, hash })
}

fn parse_argon2(rest: &str) -> Result<Parsed<'_>, DjangoHashError> {
    const ALGORITHM: &str = "argon2";
    let Ok(mut hash) = PasswordHash::new(&format!("${rest}")) else {
        return Err(malformed(ALGORITHM, "not a PHC string after argon2"));
    };
    if hash.algorithm != argon2::ARGON2ID_IDENT && hash.algorithm != argon2::ARGON2I_IDENT {
        return Err(malformed(ALGORITHM, "neither argon2id nor argon2i"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed(ALGORITHM, "no salt or no hash"));
    }
    // argon2-cffi wrote no `v=` before version 1.3 (0x13) of Argon2 existed: those are 1.0.
    match hash.version {
        None => hash.version = Some(argon2::Version::V0x10.into()),
        Some(v) if v == u32::from(argon2::Version::V0x10) || v == u32::from(argon2::Version::V0x13) => {}
        Some(_) => return Err(malformed(ALGORITHM, "unknown argon2 version")),
    }
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return Err(malformed(ALGORITHM, "invalid argon2 parameters"));
    };
    bounded(ALGORITHM, "m", params.m_cost().into(), 1, ARGON2_MAX_MEMORY_KIB.into())?;
    bounded(ALGORITHM, "t", params.t_cost().into(), 1, ARGON2_MAX_TIME_COST.into())?;
    bounded(ALGORITHM, "p", params.p_cost().into(), 1, ARGON2_MAX_PARALLELISM.into())?;
    Ok(Parsed::Argon2(Box::new(hash)))
}

fn parse_bcrypt(rest: &str, sha256: bool) -> Result<Parsed<'_>, DjangoHashError> {
    let algorithm = if sha256 { "bcrypt_sha256" } else { "bcrypt" };
    // `$2b$12$` + 22 characters of salt + 31 of hash, in bcrypt's base64 alphabet.
    let bytes = rest.as_bytes();
    let well_formed = bytes.len() == 60
        && bytes[0] == b'$'
        && matches!(&bytes[1..3], b"2a" | b"2b" | b"2y")
        && bytes[3] == b'$'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && bytes[6] == b'$'
        && bytes[7..].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'/');
    if !well_formed {
        return Err(malformed(algorithm, "expected $2b$<cost>$<53 characters>"));
    }
    let cost = u64::from(bytes[4] - b'0') * 10 + u64::from(bytes[5] - b'0');
    bounded(algorithm, "cost", cost, BCRYPT_MIN_COST.into(), BCRYPT_MAX_COST.into())?;
    Ok(Parsed::Bcrypt { sha256, bcrypt: rest })
}

fn parse_scrypt(rest: &str) -> Result<Parsed<'_>, DjangoHashError> {
    const ALGORITHM: &str = "scrypt";
    let mut fields = rest.split('$');
    let (Some(n), Some(salt_field), Some(r), Some(p), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(ALGORITHM, "expected <N>$<salt>$<r>$<p>$<hash>"));
    };
    let n = bounded(ALGORITHM, "N", decimal(ALGORITHM, n)?, 2, SCRYPT_MAX_N)?;
    if !n.is_power_of_two() {
        return Err(malformed(ALGORITHM, "N is not a power of two"));
    }
    let r = decimal(ALGORITHM, r)?;
    let p = decimal(ALGORITHM, p)?;
    if r == 0 || p == 0 {
        return Err(malformed(ALGORITHM, "r and p must be at least 1"));
    }
    bounded(ALGORITHM, "r*p", r.saturating_mul(p), 1, SCRYPT_MAX_R_TIMES_P)?;
    let memory = r.saturating_mul(128).saturating_mul(n.saturating_add(p));
    bounded(ALGORITHM, "memory", memory, 0, SCRYPT_MAX_MEMORY_BYTES)?;
    let salt = salt(ALGORITHM, salt_field)?;
    let hash = key(ALGORITHM, hash, 64)?;
    // Within the bounds these conversions cannot fail.
    let (Ok(log_n), Ok(r), Ok(p)) = (u8::try_from(n.trailing_zeros()), u32::try_from(r), u32::try_from(p))
    else {
        return Err(malformed(ALGORITHM, "parameters out of range"));
    };
    let Ok(params) = scrypt::Params::new(log_n, r, p) else {
        return Err(malformed(ALGORITHM, "invalid scrypt parameters"));
    };
    Ok(Parsed::Scrypt { params, salt, hash })
}

/// Lowercase hex, as Python's `binascii.hexlify`.
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const ASCII: &str = "correct horse battery staple";
    const UNICODE: &str = "pässwörd ✓";
    /// 90 bytes: beyond bcrypt's 72.
    const LONG: &str = "üüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüüxxxxxxxxxx";

    /// Made by Django 5.2.19 (`make_password`, with bcrypt 5.0.0 and argon2-cffi 25.1.0), with
    /// cheap work factors (subclassed hashers) so that the tests run fast.
    pub(crate) const VECTORS: &[(DjangoHashKind, &str, &str)] = &[
        (
            DjangoHashKind::Pbkdf2Sha256,
            ASCII,
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
        ),
        (
            DjangoHashKind::Pbkdf2Sha256,
            UNICODE,
            "pbkdf2_sha256$1000$sB44HSGxTixTV3ddgT6kRY$EROSa41uQLo53gvjZoFocv4zUMOLM0FBM5fb2ZYhkb4=",
        ),
        (
            DjangoHashKind::Pbkdf2Sha1,
            ASCII,
            "pbkdf2_sha1$1000$bmlmeVeQqo1ePavnI9Pdfk$ZNQvBFdOR4dFrnWnXUkyUgjCgk8=",
        ),
        (
            DjangoHashKind::Pbkdf2Sha1,
            UNICODE,
            "pbkdf2_sha1$1000$0uRqALUvFegLyQyEef4DS8$WRr2qQkFDZnwhei8FmvINxDdx2Q=",
        ),
        (
            DjangoHashKind::Argon2,
            ASCII,
            "argon2$argon2id$v=19$m=64,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM",
        ),
        (
            DjangoHashKind::Argon2,
            UNICODE,
            "argon2$argon2id$v=19$m=64,t=1,p=2$aVpPNDRZS3JJckdzdjFOR0hIOXhScg$pmThFKiD88NNFNOVH9VVxT9NLPfaIarxeuToEY2QSEI",
        ),
        // Old Django: argon2i, and argon2i 1.0 without `v=` (argon2-cffi before 16).
        (
            DjangoHashKind::Argon2,
            UNICODE,
            "argon2$argon2i$v=19$m=64,t=2,p=2$c29tZXNhbHR2YWx1ZQ$DM+M8iQODQL/KxCkZ1sLSg",
        ),
        (
            DjangoHashKind::Argon2,
            UNICODE,
            "argon2$argon2i$m=64,t=2,p=1$b2xkc2FsdHZhbHVl$T/qHeRpgmwqQoxScB2AsVA",
        ),
        (
            DjangoHashKind::BcryptSha256,
            ASCII,
            "bcrypt_sha256$$2b$04$OgbhGLNqsKPVK0vqOslLku4LZ6fAzWhuzmbfe0nBBDeq6bERVmeAm",
        ),
        (
            DjangoHashKind::BcryptSha256,
            UNICODE,
            "bcrypt_sha256$$2b$04$96ErDJ5M28/KMtmJu6u5Du1WK8Yu7Lt5eZfgipaS6.uU/3M1.TMqy",
        ),
        (
            DjangoHashKind::BcryptSha256,
            LONG,
            "bcrypt_sha256$$2b$04$ftZdrtznIyX2GFdbsAs5DuldURhgPaoDqbC5o3fFzxNbOwk28LDP.",
        ),
        (
            DjangoHashKind::Bcrypt,
            ASCII,
            "bcrypt$$2b$04$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa",
        ),
        (
            DjangoHashKind::Bcrypt,
            UNICODE,
            "bcrypt$$2b$04$G0f6uYf/D9P85.Chi6m/cOj7CRrqaIndykkDV2t8s0DvWjpT5NCiu",
        ),
        (
            DjangoHashKind::Scrypt,
            ASCII,
            "scrypt$16$FkHv9EqVY2p3qHsIZo83F9$8$2$nXx9Pd55RHyVIQ4PQLPd5pNHxcbEnRukcUQxWbWbtkhSfYJHM3itrrboLiEUnUpAfmuKAknnchD3tnUMDL+ovQ==",
        ),
        (
            DjangoHashKind::Scrypt,
            UNICODE,
            "scrypt$16$tje9Z4nttinpd8i7MEpCtQ$8$2$AlA1uvY3AkAWz5JpcthgjC4Y7otfr0e4BwE+ic9Fg1jNZNHhuDZP6+U+DG1c/kDkdec3IU4SaF0uHt06QgxOcw==",
        ),
    ];

    /// Made by Django 5.2.19 at its default parameters.
    const DEFAULTS: &[(DjangoHashKind, &str)] = &[
        (
            DjangoHashKind::Pbkdf2Sha256,
            "pbkdf2_sha256$1000000$zxNxuNYckkdsHNEb78nS0x$Z8z4m2NPKsoLJwbkBOq/5zIhi+5XQtsPG6fGAbYfCpw=",
        ),
        (
            DjangoHashKind::Argon2,
            "argon2$argon2id$v=19$m=102400,t=2,p=8$NldCMHBoSThIeDI2OUM4Z1NIR3hGTg$N6H0z/AJ4P+40s/xTARVNynRLw2axT/3mcCPv4rUcc0",
        ),
        (
            DjangoHashKind::BcryptSha256,
            "bcrypt_sha256$$2b$12$CqS92IDIMnKvQDU1Xrd14OqNWPx9kySNfNdhdB8l4k7xULGZ2DpX6",
        ),
        (
            DjangoHashKind::Scrypt,
            "scrypt$16384$2q7AZE4uaempoJUrNAfVpJ$8$5$xjHx09RjfTgo4cPzA4zMJXQ1gt6Kkd03RJEB9f0RWPuH8I6YcCTNfxzjEc07WjTv9noxlY2NN47PWTxEzYaKqg==",
        ),
    ];

    /// `encoded` with the character at `at` (counted from the end when negative) replaced.
    fn tamper(encoded: &str, at: isize) -> String {
        let mut chars: Vec<char> = encoded.chars().collect();
        let i = if at < 0 { chars.len() - at.unsigned_abs() } else { at.unsigned_abs() };
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    }

    #[test]
    fn django_vectors_verify() {
        for (kind, password, encoded) in VECTORS {
            assert_eq!(check_django_hash(encoded), Ok(*kind), "{encoded}");
            assert_eq!(verify_django_hash(password, encoded), Ok(true), "{encoded}");
            assert_eq!(verify_django_hash(&format!("{password}x"), encoded), Ok(false), "{encoded}");
            assert_eq!(verify_django_hash("", encoded), Ok(false), "{encoded}");
            // A character of the hash (well inside its last field) changed.
            let tampered = tamper(encoded, -10);
            assert_ne!(verify_django_hash(password, &tampered), Ok(true), "{tampered}");
        }
    }

    #[test]
    fn the_password_is_checked_as_received() {
        use unicode_normalization::UnicodeNormalization as _;
        // Django hashed the precomposed (NFC) form; the decomposed form is another password there.
        let encoded = VECTORS[1].2;
        let decomposed: String = UNICODE.nfd().collect();
        assert_ne!(decomposed, UNICODE);
        assert_eq!(verify_django_hash(&decomposed, encoded), Ok(false));
        assert_eq!(verify_django_hash(UNICODE, encoded), Ok(true));
    }

    #[test]
    fn bcrypt_sha256_uses_the_whole_password_and_bcrypt_its_first_72_bytes() {
        let sha = "bcrypt_sha256$$2b$04$ftZdrtznIyX2GFdbsAs5DuldURhgPaoDqbC5o3fFzxNbOwk28LDP.";
        let cut = &LONG[..LONG.len() - 1];
        assert_eq!(verify_django_hash(LONG, sha), Ok(true));
        assert_eq!(verify_django_hash(cut, sha), Ok(false), "bytes beyond 72 count");

        // Plain bcrypt of the first 72 bytes, as Python's bcrypt before 5 hashed a longer password.
        let long = format!("{}-and more", "a".repeat(72));
        let plain = "bcrypt$$2b$04$1EsWYpIiv7dcPOnQXsZioeoJ9RMO0KIVxImDuGxiklQXuJ6FH7B7m";
        assert_eq!(verify_django_hash(&long, plain), Ok(true));
        assert_eq!(verify_django_hash(&long[..72], plain), Ok(true));
        assert_eq!(verify_django_hash(&long[..71], plain), Ok(false));
    }

    #[test]
    fn django_default_parameters_verify() {
        for (kind, encoded) in DEFAULTS {
            assert_eq!(check_django_hash(encoded), Ok(*kind), "{encoded}");
            // Together about 3 s in a debug build (argon2: 100 MiB).
            assert_eq!(verify_django_hash(ASCII, encoded), Ok(true), "{encoded}");
        }
    }

    fn out_of_bounds(encoded: &str, parameter: &str) {
        match check_django_hash(encoded) {
            Err(DjangoHashError::OutOfBounds { parameter: p, .. }) if p == parameter => {}
            other => panic!("{encoded}: expected {parameter} out of bounds, got {other:?}"),
        }
        assert!(matches!(verify_django_hash(ASCII, encoded), Err(DjangoHashError::OutOfBounds { .. })));
    }

    #[test]
    fn work_factors_out_of_bounds_are_refused() {
        let pbkdf2 = "$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=";
        out_of_bounds(&format!("pbkdf2_sha256$10000001{pbkdf2}"), "iterations");
        out_of_bounds(&format!("pbkdf2_sha256$0{pbkdf2}"), "iterations");
        out_of_bounds(&format!("pbkdf2_sha256$99999999999999999999999999{pbkdf2}"), "iterations");
        assert!(check_django_hash(&format!("pbkdf2_sha256$10000000{pbkdf2}")).is_ok(), "the bound itself");

        let bcrypt = "$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa";
        out_of_bounds(&format!("bcrypt$$2b$17{bcrypt}"), "cost");
        out_of_bounds(&format!("bcrypt_sha256$$2b$31{bcrypt}"), "cost");
        out_of_bounds(&format!("bcrypt$$2b$03{bcrypt}"), "cost");
        assert!(check_django_hash(&format!("bcrypt$$2b$16{bcrypt}")).is_ok(), "the bound itself");

        let hash = "nXx9Pd55RHyVIQ4PQLPd5pNHxcbEnRukcUQxWbWbtkhSfYJHM3itrrboLiEUnUpAfmuKAknnchD3tnUMDL+ovQ==";
        out_of_bounds(&format!("scrypt$2097152$salt$1$1${hash}"), "N");
        out_of_bounds(&format!("scrypt$16384$salt$8$9${hash}"), "r*p");
        out_of_bounds(&format!("scrypt$1048576$salt$4$1${hash}"), "memory");
        assert!(check_django_hash(&format!("scrypt$1048576$salt$1$64${hash}")).is_ok(), "128 MiB");

        let argon2 = "$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM";
        out_of_bounds(&format!("argon2$argon2id$v=19$m=1048577,t=1,p=2{argon2}"), "m");
        out_of_bounds(&format!("argon2$argon2id$v=19$m=1024,t=65,p=2{argon2}"), "t");
        out_of_bounds(&format!("argon2$argon2id$v=19$m=1024,t=1,p=65{argon2}"), "p");
        assert!(check_django_hash(&format!("argon2$argon2id$v=19$m=1048576,t=64,p=64{argon2}")).is_ok());
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for encoded in [
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha256$1000$salt$hash$more",
            "pbkdf2_sha256$01000$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "pbkdf2_sha256$+1000$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "pbkdf2_sha256$1000$$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA",
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEA$ZNQvBFdOR4dFrnWnXUkyUgjCgk8=",
            "pbkdf2_sha1$1000$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "argon2$argon2d$v=19$m=64,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM",
            "argon2$argon2id$v=18$m=64,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM",
            "argon2$argon2id$v=19$m=64,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw",
            "argon2$$argon2id$v=19$m=64,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM",
            "argon2$",
            "bcrypt$$2x$04$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa",
            "bcrypt$2b$04$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa",
            "bcrypt$$2b$04$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsN",
            "bcrypt$$2b$04$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3Fs£",
            "bcrypt$$2b$x4$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa",
            "scrypt$16$salt$8$2",
            "scrypt$15$salt$8$2$nXx9Pd55RHyVIQ4PQLPd5pNHxcbEnRukcUQxWbWbtkhSfYJHM3itrrboLiEUnUpAfmuKAknnchD3tnUMDL+ovQ==",
            "scrypt$16$salt$0$2$nXx9Pd55RHyVIQ4PQLPd5pNHxcbEnRukcUQxWbWbtkhSfYJHM3itrrboLiEUnUpAfmuKAknnchD3tnUMDL+ovQ==",
            "scrypt$16$salt$8$2$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
        ] {
            assert!(
                matches!(check_django_hash(encoded), Err(DjangoHashError::Malformed { .. })),
                "{encoded}: {:?}",
                check_django_hash(encoded)
            );
            assert!(verify_django_hash(ASCII, encoded).is_err(), "{encoded}");
        }
    }

    #[test]
    fn unusable_unsupported_and_foreign_strings() {
        let unusable = "!2ouvFWu1DJlaiXp3qNGiQtJukYV05GrcGEpBUqzP";
        assert!(is_unusable(unusable));
        assert!(is_unusable("!"));
        assert_eq!(check_django_hash(unusable), Err(DjangoHashError::Unusable));
        assert_eq!(verify_django_hash(unusable, unusable), Err(DjangoHashError::Unusable));
        for (encoded, name) in [
            ("md5$salt$0123456789abcdef0123456789abcdef", "md5"),
            ("sha1$salt$0123456789abcdef0123456789abcdef01234567", "sha1"),
            ("crypt$$abcdefghijk", "crypt"),
            ("0123456789abcdef0123456789abcdef", "unsalted_md5"),
        ] {
            assert!(!is_unusable(encoded));
            assert_eq!(check_django_hash(encoded), Err(DjangoHashError::Unsupported(name)));
        }
        for encoded in
            ["", "plaintext", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", "nope$1$2"]
        {
            assert!(!is_unusable(encoded));
            assert_eq!(check_django_hash(encoded), Err(DjangoHashError::NotDjango), "{encoded}");
        }
    }

    #[test]
    fn kinds_name_django_algorithms() {
        for (kind, _, encoded) in VECTORS {
            assert!(encoded.starts_with(&format!("{kind}$")), "{encoded}");
        }
        let error = check_django_hash("bcrypt$$2b$17$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa");
        assert_eq!(
            error.map_err(|e| e.to_string()),
            Err("bcrypt password hash: cost = 17 is outside 4..=16".to_owned())
        );
    }
}
