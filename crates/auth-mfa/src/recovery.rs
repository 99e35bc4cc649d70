//! Recovery codes: single-use fallbacks for a lost authenticator.

use std::collections::HashSet;

/// The alphabet of recovery codes: Crockford's base32, lowercase (no `i`, `l`, `o` or `u`).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters of a code (without its hyphens).
const CODE_CHARS: usize = 12;
/// Characters between two hyphens in the displayed form.
const GROUP_CHARS: usize = 4;

/// The entropy of one recovery code: 12 characters of a 32-symbol alphabet. Stored hashes are
/// keyed ([`MfaKey::recovery_code_hash`](crate::MfaKey::recovery_code_hash)), so this only has to
/// resist online guessing, which the challenge attempt limit bounds.
pub const RECOVERY_CODE_BITS: u32 = 60;

/// `n` fresh recovery codes from a CSPRNG, all different, each shown as `xxxx-xxxx-xxxx` in
/// lowercase Crockford base32 (digits and letters but `i`, `l`, `o`, `u`).
///
/// Show them to the user once; store only their
/// [`recovery_code_hash`](crate::MfaKey::recovery_code_hash) of the
/// [normalized](normalize_recovery_code) form.
///
/// ```
/// use auth_mfa::{generate_recovery_codes, normalize_recovery_code};
///
/// let codes = generate_recovery_codes(10);
/// assert_eq!(codes.len(), 10);
/// assert_eq!(codes[0].len(), 14);
/// let typed = codes[0].to_uppercase().replace('-', " ");
/// assert_eq!(normalize_recovery_code(&typed), Some(codes[0].replace('-', "")));
/// ```
pub fn generate_recovery_codes(n: usize) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut codes = Vec::with_capacity(n);
    while codes.len() < n {
        let code = generate_code();
        if seen.insert(code.clone()) {
            codes.push(code);
        }
    }
    codes
}

fn generate_code() -> String {
    let mut random = [0u8; CODE_CHARS];
    rand::fill(&mut random);
    let mut code = String::with_capacity(CODE_CHARS + CODE_CHARS / GROUP_CHARS);
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % GROUP_CHARS == 0 {
            code.push('-');
        }
        // 32 divides 256: the low five bits are uniform.
        code.push(char::from(ALPHABET[usize::from(byte & 0x1f)]));
    }
    code
}

/// The canonical form of a recovery code as a person typed it — what gets hashed — or `None`
/// when it cannot be one.
///
/// Case, hyphens and whitespace are ignored, and Crockford's confusables are mapped (`i` and `l`
/// to `1`, `o` to `0`); what remains must be 12 characters of the alphabet.
pub fn normalize_recovery_code(input: &str) -> Option<String> {
    let mut normalized = String::with_capacity(CODE_CHARS);
    for c in input.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        normalized.push(c);
        if normalized.len() > CODE_CHARS {
            return None;
        }
    }
    (normalized.len() == CODE_CHARS).then_some(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_is_32_distinct_symbols() {
        let distinct: HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(distinct.len(), 32);
        assert_eq!(2u32.pow(RECOVERY_CODE_BITS / CODE_CHARS as u32), 32);
    }

    #[test]
    fn codes_have_the_display_form() {
        for code in generate_recovery_codes(50) {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(
                groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b))),
                "{code}"
            );
            assert_eq!(normalize_recovery_code(&code), Some(code.replace('-', "")));
        }
        assert!(generate_recovery_codes(0).is_empty());
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_recovery_code("ABCD-EFGH-JKMN").as_deref(), Some("abcdefghjkmn"));
        assert_eq!(normalize_recovery_code(" abcd efgh jkmn\n").as_deref(), Some("abcdefghjkmn"));
        assert_eq!(normalize_recovery_code("ilo0-ILO1-2345").as_deref(), Some("110011012345"));
        assert_eq!(normalize_recovery_code("abcd-efgh-jkm"), None, "too short");
        assert_eq!(normalize_recovery_code("abcd-efgh-jkmnp"), None, "too long");
        assert_eq!(normalize_recovery_code("abcd-efgh-jkmu"), None, "u is not in the alphabet");
        assert_eq!(normalize_recovery_code("abcd-efgh-jkm!"), None);
        assert_eq!(normalize_recovery_code("abcd-efgh-jkmé"), None);
        assert_eq!(normalize_recovery_code(""), None);
    }
}
