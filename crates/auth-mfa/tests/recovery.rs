//! Recovery codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use auth_mfa::{RECOVERY_CODE_BITS, generate_recovery_codes, normalize_recovery_code};

#[test]
fn ten_unique_codes() {
    let codes = generate_recovery_codes(10);
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10, "unique");
    for code in &codes {
        assert_eq!(code.len(), 14, "{code}");
        assert_eq!(code.as_bytes()[4], b'-');
        assert_eq!(code.as_bytes()[9], b'-');
        assert!(code.bytes().all(|b| b == b'-' || b.is_ascii_digit() || b.is_ascii_lowercase()), "{code}");
        assert!(!code.contains(['i', 'l', 'o', 'u']), "no confusables: {code}");
    }
    assert_eq!(RECOVERY_CODE_BITS, 60);
    // Codes differ between sets.
    let other = generate_recovery_codes(10);
    assert!(codes.iter().all(|code| !other.contains(code)));
}

#[test]
fn many_codes_stay_unique() {
    let codes = generate_recovery_codes(2_000);
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 2_000);
}

#[test]
fn normalize_accepts_what_people_type() {
    let code = generate_recovery_codes(1).remove(0);
    let normalized = code.replace('-', "");
    assert_eq!(normalized.len(), 12);
    for typed in [
        code.clone(),
        code.to_uppercase(),
        normalized.clone(),
        normalized.to_uppercase(),
        format!("  {}  ", code.replace('-', " ")),
        code.replace('-', "--"),
    ] {
        assert_eq!(normalize_recovery_code(&typed).as_ref(), Some(&normalized), "{typed:?}");
    }
    // Crockford confusables.
    assert_eq!(normalize_recovery_code("OOOO-IIII-LLLL").as_deref(), Some("000011111111"));
}

#[test]
fn normalize_rejects_wrong_lengths_and_symbols() {
    for bad in [
        "",
        "abcd",
        "abcd-efgh-jkm",
        "abcd-efgh-jkmnp",
        "abcd-efgh-jkmn-p",
        "abcd-efgh-jkm_",
        "abcd-efgh-jkmu",
        "ab¢d-efgh-jkmn",
    ] {
        assert_eq!(normalize_recovery_code(bad), None, "{bad:?}");
    }
}
