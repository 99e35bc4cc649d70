//! A token's payload, read in one pass: the registered claims the verifier maps into the
//! principal's own fields set apart, every other claim in a map, and no member named twice.

use std::borrow::Cow;
use std::fmt;

use auth_jwt::{ClaimRequirement, UniqueJson};
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The claims set apart, in this order.
pub(crate) const REGISTERED: [&str; 7] = ["sub", "exp", "nbf", "iat", "jti", "sid", "auth_time"];

/// A token's claims.
#[derive(Debug, Default)]
pub(crate) struct TokenClaims {
    /// The values of [`REGISTERED`], by position.
    pub(crate) registered: [Option<Value>; 7],
    /// Every other claim.
    pub(crate) rest: Map<String, Value>,
}

impl TokenClaims {
    /// Parses a payload; `None` when it is not a JSON object or names a member twice.
    pub(crate) fn parse(json: &[u8]) -> Option<Self> {
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let claims = Seed.deserialize(&mut deserializer).ok()?;
        deserializer.end().ok()?;
        Some(claims)
    }

    /// A registered claim.
    pub(crate) fn registered(&self, name: &str) -> Option<&Value> {
        let index = REGISTERED.iter().position(|n| *n == name)?;
        self.registered.get(index)?.as_ref()
    }

    /// Takes a registered claim out.
    pub(crate) fn take(&mut self, name: &str) -> Option<Value> {
        let index = REGISTERED.iter().position(|n| *n == name)?;
        self.registered.get_mut(index)?.take()
    }

    /// Any claim, registered or not.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.registered(name).or_else(|| self.rest.get(name))
    }

    /// Whether a requirement holds.
    pub(crate) fn satisfies(&self, requirement: &ClaimRequirement) -> bool {
        match self.registered(&requirement.claim) {
            Some(value) => {
                let mut one = Map::new();
                one.insert(requirement.claim.clone(), value.clone());
                requirement.is_satisfied_by(&one)
            }
            None => requirement.is_satisfied_by(&self.rest),
        }
    }
}

struct Seed;

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = TokenClaims;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<TokenClaims, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = TokenClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object without duplicate members")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TokenClaims, A::Error> {
        let duplicate = || serde::de::Error::custom("duplicate member");
        let mut claims = TokenClaims::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value_seed(UniqueJson)?;
            match REGISTERED.iter().position(|n| *n == key) {
                Some(index) => {
                    let slot = claims.registered.get_mut(index).ok_or_else(duplicate)?;
                    if slot.replace(value).is_some() {
                        return Err(duplicate());
                    }
                }
                None => {
                    if claims.rest.contains_key(key.as_ref()) {
                        return Err(duplicate());
                    }
                    claims.rest.insert(key.into_owned(), value);
                }
            }
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_with_duplicates_refused() {
        let claims = TokenClaims::parse(br#"{"sub":"a","exp":5,"iss":"i","x":{"y":[1]}}"#).unwrap();
        assert_eq!(claims.get("sub"), Some(&Value::from("a")));
        assert_eq!(claims.get("iss"), Some(&Value::from("i")));
        assert!(claims.rest.get("sub").is_none(), "set apart");
        for bad in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"iss":"a","iss":"b"}"#,
            br#"{"x":{"y":1,"y":2}}"#,
            br#"{"su\u0062":"a","sub":"b"}"#,
            br#"[1]"#,
            br#"{"a":1} 2"#,
        ] {
            assert!(TokenClaims::parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        let requirement = ClaimRequirement::value("sub", Value::from("a"));
        assert!(claims.satisfies(&requirement));
        assert!(claims.satisfies(&ClaimRequirement::essential("iss")));
        assert!(!claims.satisfies(&ClaimRequirement::essential("azp")));
    }
}
