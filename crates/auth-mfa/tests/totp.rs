//! TOTP against the RFC test vectors and an independent implementation (totp-rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_mfa::{MfaError, Totp, TotpAlgorithm, qr_svg};
use totp_rs::{Algorithm, Builder, Secret};

const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

#[test]
fn rfc6238_appendix_b() {
    // (time, SHA1, SHA256, SHA512), 8 digits, 30-second steps.
    let vectors: [(i64, &str, &str, &str); 6] = [
        (59, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    let sha1 = Totp::with_parameters(SEED_SHA1.to_vec(), TotpAlgorithm::Sha1, 8, 30).unwrap();
    let sha256 = Totp::with_parameters(SEED_SHA256.to_vec(), TotpAlgorithm::Sha256, 8, 30).unwrap();
    let sha512 = Totp::with_parameters(SEED_SHA512.to_vec(), TotpAlgorithm::Sha512, 8, 30).unwrap();
    for (time, expected_sha1, expected_sha256, expected_sha512) in vectors {
        assert_eq!(sha1.code_at(time), expected_sha1, "SHA1 at {time}");
        assert_eq!(sha256.code_at(time), expected_sha256, "SHA256 at {time}");
        assert_eq!(sha512.code_at(time), expected_sha512, "SHA512 at {time}");
        for totp in [&sha1, &sha256, &sha512] {
            let code = totp.code_at(time);
            assert_eq!(totp.matching_step(&code, time, 0), Some(time / 30), "{totp:?} accepts its code");
        }
    }
}

#[test]
fn rfc4226_appendix_d() {
    let hotp = Totp::new(SEED_SHA1.to_vec());
    let expected =
        ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(hotp.code_at_step(counter as i64), *code, "counter {counter}");
    }
}

#[test]
fn defaults() {
    let secret = Totp::generate_secret();
    assert_eq!(secret.len(), Totp::SECRET_BYTES);
    assert_eq!(Totp::SECRET_BYTES * 8, 160);
    assert_ne!(secret, Totp::generate_secret(), "random");
    let totp = Totp::new(secret.clone());
    assert_eq!(totp.secret(), secret.as_slice());
    assert_eq!((totp.algorithm(), totp.digits(), totp.step_seconds()), (TotpAlgorithm::Sha1, 6, 30));
    assert_eq!(TotpAlgorithm::Sha1.as_str(), "SHA1");
    assert_eq!(TotpAlgorithm::Sha256.as_str(), "SHA256");
    assert_eq!(TotpAlgorithm::Sha512.as_str(), "SHA512");
}

fn totp_rs(secret: &[u8], algorithm: Algorithm, digits: u8, step: u64) -> totp_rs::Totp {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_step_duration(step)
        .build()
        .unwrap()
}

#[test]
fn agrees_with_totp_rs() {
    let algorithms = [
        (TotpAlgorithm::Sha1, Algorithm::SHA1),
        (TotpAlgorithm::Sha256, Algorithm::SHA256),
        (TotpAlgorithm::Sha512, Algorithm::SHA512),
    ];
    for _ in 0..5 {
        let secret = Totp::generate_secret();
        for (ours, theirs) in algorithms {
            for (digits, step) in [(6u32, 30i64), (8, 60)] {
                let mine = Totp::with_parameters(secret.clone(), ours, digits, step).unwrap();
                let reference = totp_rs(&secret, theirs, u8::try_from(digits).unwrap(), step.unsigned_abs());
                let mut time: i64 = 0;
                while time < 4_000_000_000 {
                    let expected = reference.generate(time.unsigned_abs()).to_string();
                    assert_eq!(mine.code_at(time), expected, "{ours:?}/{digits}/{step} at {time}");
                    assert!(reference.check(&mine.code_at(time), time.unsigned_abs()).is_some());
                    time += 7_777_777 + i64::from(rand::random::<u16>());
                }
            }
        }
    }
}

#[test]
fn otpauth_uri_parses_in_totp_rs() {
    for (algorithm, theirs, digits, step) in [
        (TotpAlgorithm::Sha1, Algorithm::SHA1, 6u32, 30i64),
        (TotpAlgorithm::Sha256, Algorithm::SHA256, 8, 60),
        (TotpAlgorithm::Sha512, Algorithm::SHA512, 7, 15),
    ] {
        let secret = Totp::generate_secret();
        let totp = Totp::with_parameters(secret.clone(), algorithm, digits, step).unwrap();
        let uri = totp.otpauth_uri("Example Corp & Co", "alice+mfa@example.com");
        let parsed = totp_rs::Totp::from_url(&uri).unwrap_or_else(|e| panic!("{uri}: {e:?}"));
        assert_eq!(parsed.secret().as_bytes(), secret.as_slice(), "{uri}");
        assert_eq!(parsed.algorithm(), theirs);
        assert_eq!(u32::from(parsed.digits()), digits);
        assert_eq!(parsed.step(), step.unsigned_abs());
        assert_eq!(parsed.issuer(), Some("Example Corp & Co"));
        assert_eq!(parsed.account_name(), "alice+mfa@example.com");
        assert_eq!(parsed.secret().to_base32(), totp.secret_base32(), "the same base32");
        assert_eq!(Secret::try_from_base32(totp.secret_base32()).unwrap().as_bytes(), secret.as_slice());
        assert_eq!(parsed.generate(1_700_000_000).to_string(), totp.code_at(1_700_000_000));
    }
}

#[test]
fn otpauth_uri_format() {
    let totp = Totp::new(SEED_SHA1.to_vec());
    assert_eq!(
        totp.otpauth_uri("Portcullis", "alice@example.com"),
        "otpauth://totp/Portcullis:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Portcullis&algorithm=SHA1&digits=6&period=30"
    );
    assert_eq!(
        totp.otpauth_uri("", "bob"),
        "otpauth://totp/bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=6&period=30"
    );
    let odd = totp.otpauth_uri("A B/C?", "x&y=z#é");
    assert!(odd.starts_with("otpauth://totp/A%20B%2FC%3F:x%26y%3Dz%23%C3%A9?secret="), "{odd}");
    assert!(odd.contains("&issuer=A%20B%2FC%3F&"), "{odd}");
}

#[test]
fn skew_window() {
    let totp = Totp::new(Totp::generate_secret());
    let now = 1_700_000_015; // mid-step
    let step = totp.step_at(now);
    for offset in [-1, 0, 1] {
        let code = totp.code_at_step(step + offset);
        assert_eq!(totp.matching_step(&code, now, 1), Some(step + offset), "step {offset:+} is accepted");
    }
    for offset in [-3, -2, 2, 3] {
        let code = totp.code_at_step(step + offset);
        // A code of another step may collide with one in the window by chance (1 in 10^6 per step).
        let collides = (-1..=1).any(|o| totp.code_at_step(step + o) == code);
        if !collides {
            assert_eq!(totp.matching_step(&code, now, 1), None, "step {offset:+} is refused");
        }
    }
    assert_eq!(totp.matching_step(&totp.code_at_step(step + 1), now, 0), None, "no skew: only now");
    assert_eq!(totp.matching_step(&totp.code_at_step(step - 2), now, 2), Some(step - 2), "a wider skew");
    assert_eq!(totp.matching_step(&totp.code_at_step(step), now, -5), Some(step), "negative skew is 0");
    // The boundaries of a step.
    let start = step * 30;
    assert_eq!(totp.matching_step(&totp.code_at_step(step + 1), start - 1, 1), None, "two steps ahead");
    assert_eq!(totp.matching_step(&totp.code_at_step(step), start + 29, 0), Some(step));
}

#[test]
fn several_matches_give_the_largest_step() {
    // Find two steps with the same code (a birthday search over 6 digits).
    let totp = Totp::new(b"collision search secret".to_vec());
    let mut seen = std::collections::HashMap::new();
    let (first, second) = (0i64..)
        .find_map(|step| seen.insert(totp.code_at_step(step), step).map(|earlier| (earlier, step)))
        .unwrap();
    if second - first <= 2 {
        let now = (first + 1) * 30;
        assert_eq!(totp.matching_step(&totp.code_at_step(first), now, 1), Some(second));
    } else {
        let middle = first + (second - first) / 2;
        let skew = (second - first) / 2 + 1;
        assert_eq!(totp.matching_step(&totp.code_at_step(first), middle * 30, skew), Some(second));
    }
}

#[test]
fn malformed_codes_are_refused() {
    let totp = Totp::new(SEED_SHA1.to_vec());
    let code = totp.code_at(59);
    assert_eq!(code, "287082");
    assert_eq!(totp.matching_step(" 287 082 ", 59, 0), Some(1), "spaces are ignored");
    assert_eq!(totp.matching_step("287082\n", 59, 0), Some(1), "a trailing newline too");
    for bad in [
        "",
        "28708",
        "2870821",
        "28708a",
        "+87082",
        "-87082",
        "２８７０８２",
        "287082x",
        "0287082",
        "28 70 8",
    ] {
        assert_eq!(totp.matching_step(bad, 59, 1), None, "{bad:?}");
    }
    let eight = Totp::with_parameters(SEED_SHA1.to_vec(), TotpAlgorithm::Sha1, 8, 30).unwrap();
    assert_eq!(eight.matching_step("287082", 59, 1), None, "6 digits where 8 are due");
    assert_eq!(eight.matching_step("94287082", 59, 1), Some(1));
}

#[test]
fn qr_code() {
    let totp = Totp::new(Totp::generate_secret());
    let svg = qr_svg(&totp.otpauth_uri("Portcullis", "alice@example.com")).unwrap();
    assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"), "{}", &svg[..40]);
    assert!(svg.contains("</svg>"));
    let width: u32 =
        svg.split("width=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().parse().unwrap();
    assert!(width >= 200, "at least 200 pixels wide: {width}");
    assert!(matches!(qr_svg(&"a".repeat(5_000)), Err(MfaError::Qr(_))));
}
