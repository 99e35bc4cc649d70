//! The compact JWS form of a JWT, split and checked before any key is touched.
//!
//! [`CompactJws::parse`] does what every verifier must do first, whoever issued the token: split
//! the three parts, decode the header, refuse what would change how the token is to be understood
//! (critical extensions, an unencoded payload, a nested token, a member named twice) and name the
//! algorithm exactly. The caller then picks the key by its own configuration (never by the header
//! alone), checks the signature with [`CompactJws::verify_with`], and only then reads the payload
//! with [`CompactJws::claims`]. [`JwtService`](crate::JwtService) verifies Portcullis tokens this
//! way; resource servers verify other issuers' tokens the same way.

use std::borrow::Cow;
use std::fmt;

use auth_core::TokenRejection;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::{JwtAlgorithm, JwtKey};

/// A token split into its parts, with its header checked. Nothing in it is trusted until
/// [`CompactJws::verify_with`] said so.
///
/// ```
/// use auth_jwt::{CompactJws, JwtAlgorithm, JwtConfig, JwtKey, JwtService, KeySet, TokenContents, TokenKind};
/// use auth_core::{ManualClock, UserId};
/// use std::sync::Arc;
///
/// let key = JwtKey::hmac(JwtAlgorithm::HS256, &[7u8; 32]).unwrap();
/// let clock = Arc::new(ManualClock::starting_at_unix(1_700_000_000));
/// let jwt = JwtService::new(JwtConfig::default(), KeySet::new(key.clone()).unwrap(), clock).unwrap();
/// let token = jwt.issue(TokenKind::Access, &UserId::new("42"), TokenContents::default()).unwrap().token;
///
/// let jws = CompactJws::parse(&token).unwrap();
/// assert_eq!(jws.algorithm(), JwtAlgorithm::HS256);
/// assert_eq!(jws.kid(), Some(key.kid()));
/// assert!(jws.verify_with(&key));
/// assert_eq!(jws.claims().unwrap()["sub"], "42");
/// ```
pub struct CompactJws<'t> {
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
    alg: JwtAlgorithm,
    kid: Option<String>,
    typ: Option<String>,
}

impl fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactJws")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

impl<'t> CompactJws<'t> {
    /// Splits `token` and checks its header:
    ///
    /// - three base64url parts, a JSON object header, no member named twice ([`Malformed`],
    ///   [`UnsupportedHeader`]);
    /// - `alg` exactly one of [`JwtAlgorithm`]'s names (`none` is none of them:
    ///   [`WrongAlgorithm`]);
    /// - no `crit` (none is understood here, RFC 7515 §4.1.11), no `b64` other than `true`
    ///   (RFC 7797), no `cty` (a nested token): [`UnsupportedHeader`].
    ///
    /// The members an attacker could use to point at another key (`jku`, `jwk`, `x5u`, `x5c`,
    /// `x5t`) are never read. `typ` is returned for the caller to judge ([`CompactJws::typ`]).
    ///
    /// [`Malformed`]: TokenRejection::Malformed
    /// [`UnsupportedHeader`]: TokenRejection::UnsupportedHeader
    /// [`WrongAlgorithm`]: TokenRejection::WrongAlgorithm
    pub fn parse(token: &'t str) -> Result<Self, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let header_bytes = decode_part(header_b64)?;
        let header = Header::parse(&header_bytes)?;
        let alg = header
            .alg
            .as_deref()
            .and_then(JwtAlgorithm::from_header)
            .ok_or(TokenRejection::WrongAlgorithm)?;
        let signing_input = token.get(..header_b64.len() + 1 + payload.len()).unwrap_or_default();
        Ok(Self {
            signing_input,
            payload,
            signature,
            alg,
            kid: header.kid.map(Cow::into_owned),
            typ: header.typ.map(Cow::into_owned),
        })
    }

    /// The algorithm the header names. Accept it only if the key it is checked with is pinned to
    /// it ([`JwtKey::algorithm`]); [`CompactJws::verify_with`] does so.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `typ`, if any (`JWT`, `at+jwt`, ...).
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Whether `typ` is absent or, ignoring ASCII case and an `application/` prefix (RFC 7515
    /// §4.1.9), one of `accepted`.
    pub fn typ_is_one_of<A: AsRef<str>>(&self, accepted: &[A]) -> bool {
        self.typ.as_deref().is_none_or(|typ| {
            let typ = match typ.get(..12) {
                Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
                _ => typ,
            };
            accepted.iter().any(|a| a.as_ref().eq_ignore_ascii_case(typ))
        })
    }

    /// Whether `key` signed this token: the key's algorithm must be exactly the header's (so an
    /// HMAC token is never checked against a public key), and the signature must verify.
    pub fn verify_with(&self, key: &JwtKey) -> bool {
        key.algorithm() == self.alg && key.verify_signature(self.signing_input.as_bytes(), self.signature)
    }

    /// The payload's bytes (JSON). Read them only after [`CompactJws::verify_with`].
    pub fn payload_bytes(&self) -> Result<Vec<u8>, TokenRejection> {
        let payload = decode_part(self.payload)?;
        if !no_duplicate_members(&payload) {
            // `{"sub": "alice", "sub": "bob"}`: which one a parser keeps is not defined.
            return Err(TokenRejection::Malformed);
        }
        Ok(payload)
    }

    /// The payload's bytes (JSON) as they are, for a caller that parses them with [`UniqueJson`]
    /// (or otherwise refuses duplicate members). Read them only after
    /// [`CompactJws::verify_with`].
    pub fn payload_json(&self) -> Result<Vec<u8>, TokenRejection> {
        decode_part(self.payload)
    }

    /// The payload as a JSON object: [`TokenRejection::Malformed`] when it is not one or names a
    /// member twice (at any depth). Read it only after [`CompactJws::verify_with`].
    pub fn claims(&self) -> Result<Map<String, Value>, TokenRejection> {
        match unique_members(&decode_part(self.payload)?) {
            Some(Value::Object(claims)) => Ok(claims),
            _ => Err(TokenRejection::Malformed),
        }
    }
}

/// The header members verification reads, read in one pass that also refuses a member named
/// twice.
#[derive(Default)]
struct Header<'a> {
    alg: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    typ: Option<Cow<'a, str>>,
    /// `crit` or `cty` is present.
    refused_member: bool,
    b64: Option<Value>,
    duplicate: bool,
}

impl<'a> Header<'a> {
    fn parse(json: &'a [u8]) -> Result<Self, TokenRejection> {
        use serde::de::DeserializeSeed as _;
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let header = HeaderSeed.deserialize(&mut deserializer).map_err(|_| TokenRejection::Malformed)?;
        deserializer.end().map_err(|_| TokenRejection::Malformed)?;
        let b64_ok = header.b64.as_ref().is_none_or(|b64| *b64 == Value::Bool(true));
        if header.duplicate || header.refused_member || !b64_ok {
            return Err(TokenRejection::UnsupportedHeader);
        }
        Ok(header)
    }
}

struct HeaderSeed;

impl<'de> serde::de::DeserializeSeed<'de> for HeaderSeed {
    type Value = Header<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Header<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeaderSeed {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
        let mut header = Header::default();
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "alg" => Some(&mut header.alg),
                "kid" => Some(&mut header.kid),
                "typ" => Some(&mut header.typ),
                _ => None,
            };
            if let Some(slot) = slot {
                let value = map.next_value::<Cow<'de, str>>()?;
                header.duplicate |= slot.replace(value).is_some();
                continue;
            }
            // Read (and check for nested duplicates) whatever else is there.
            let value = map.next_value_seed(UniqueJson)?;
            header.duplicate |= others.contains(&key);
            match key.as_ref() {
                "crit" | "cty" => header.refused_member = true,
                "b64" => header.b64 = Some(value),
                _ => {}
            }
            others.push(key);
        }
        Ok(header)
    }
}

/// Whether no JSON object in `json` names a member twice (RFC 7515 §4 and RFC 7519 §4: a
/// duplicate must be rejected, since parsers disagree on which one counts). Invalid JSON is
/// `false`.
fn no_duplicate_members(json: &[u8]) -> bool {
    use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};

    struct Unique;

    impl<'de> serde::de::DeserializeSeed<'de> for Unique {
        type Value = ();

        fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON without duplicate members")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<Cow<'de, str>> = Vec::new();
            while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                if seen.contains(&key) {
                    return Err(serde::de::Error::custom("duplicate member"));
                }
                seen.push(key);
                map.next_value_seed(Unique)?;
            }
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Unique)?.is_some() {}
            Ok(())
        }

        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }

    let mut deserializer = serde_json::Deserializer::from_slice(json);
    deserializer.deserialize_any(Unique).is_ok()
}

/// Parses JSON in one pass, refusing any object that names a member twice (`None`).
fn unique_members(json: &[u8]) -> Option<Value> {
    use serde::de::DeserializeSeed as _;
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = UniqueJson.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(value)
}

/// A [`DeserializeSeed`](serde::de::DeserializeSeed) reading any JSON value while refusing an
/// object that names a member twice, at any depth (RFC 7515 §4, RFC 7519 §4), in the same pass:
/// for verifiers that read a token's payload their own way.
#[derive(Debug, Clone, Copy, Default)]
pub struct UniqueJson;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueJson {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueJson {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without duplicate members")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom("duplicate member"));
            }
            let value = map.next_value_seed(UniqueJson)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(UniqueJson)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>, TokenRejection> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenRejection::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn header_rules() {
        let ok = token(r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#, "{}");
        let jws = CompactJws::parse(&ok).unwrap();
        assert_eq!(
            (jws.algorithm(), jws.kid(), jws.typ()),
            (JwtAlgorithm::RS256, Some("k1"), Some("at+jwt"))
        );
        assert!(jws.typ_is_one_of(&["JWT", "at+jwt"]));
        assert!(!jws.typ_is_one_of(&["JWT"]));
        let app = token(r#"{"alg":"RS256","typ":"application/AT+JWT"}"#, "{}");
        assert!(CompactJws::parse(&app).unwrap().typ_is_one_of(&["at+jwt"]));

        for (header, reason) in [
            (r#"{"alg":"none"}"#, TokenRejection::WrongAlgorithm),
            (r#"{"alg":"rs256"}"#, TokenRejection::WrongAlgorithm),
            (r#"{"alg":"RS256","crit":["exp"]}"#, TokenRejection::UnsupportedHeader),
            (r#"{"alg":"RS256","b64":false}"#, TokenRejection::UnsupportedHeader),
            (r#"{"alg":"RS256","cty":"JWT"}"#, TokenRejection::UnsupportedHeader),
            (r#"{"alg":"RS256","alg":"HS256"}"#, TokenRejection::UnsupportedHeader),
            (r#"{"alg":"RS256","x":1,"x":2}"#, TokenRejection::UnsupportedHeader),
            (r#"["alg"]"#, TokenRejection::Malformed),
        ] {
            assert_eq!(CompactJws::parse(&token(header, "{}")).unwrap_err(), reason, "{header}");
        }
        assert_eq!(CompactJws::parse("a.b").unwrap_err(), TokenRejection::Malformed);
        assert_eq!(CompactJws::parse("a.b.c.d").unwrap_err(), TokenRejection::Malformed);
    }

    #[test]
    fn payload_rules() {
        let dup = token(r#"{"alg":"RS256"}"#, r#"{"sub":"a","sub":"b"}"#);
        assert_eq!(CompactJws::parse(&dup).unwrap().claims().unwrap_err(), TokenRejection::Malformed);
        let nested = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":1,"b":2}}"#);
        assert_eq!(CompactJws::parse(&nested).unwrap().claims().unwrap_err(), TokenRejection::Malformed);
        let fine = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":[1,2.5,"x",null,true]},"c":-1}"#);
        let claims = CompactJws::parse(&fine).unwrap().claims().unwrap();
        assert_eq!(Value::Object(claims), serde_json::json!({"a":{"b":[1,2.5,"x",null,true]},"c":-1}));
        let trailing = token(r#"{"alg":"RS256"}"#, r#"{"a":1} x"#);
        assert_eq!(CompactJws::parse(&trailing).unwrap().claims().unwrap_err(), TokenRejection::Malformed);
        let list = token(r#"{"alg":"RS256"}"#, "[1]");
        assert_eq!(CompactJws::parse(&list).unwrap().claims().unwrap_err(), TokenRejection::Malformed);
    }
}
