//! Token claims and per-claim requirements.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which kind of token a JWT is. A refresh token is never accepted where an access token is
/// expected, and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Short-lived, presented as `Authorization: Bearer` to APIs.
    Access,
    /// Longer-lived, exchanged for new access tokens.
    Refresh,
}

/// The `aud` claim: one audience or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `aud` names `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// The claims of a Portcullis JWT. Registered time claims are integers: a token whose `exp` is a
/// string (type confusion) does not parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// Access or refresh.
    pub token_type: TokenKind,
    /// Issuer, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Grant (token family / sign-in session) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Credential fingerprint of the user at issue time; a password change invalidates the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfp: Option<String>,
    /// Authentication methods (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user authenticated (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Custom claims (mapped user attributes and the like).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Claim names Portcullis sets itself; custom claims may not use them.
pub const RESERVED_CLAIMS: &[&str] =
    &["sub", "iat", "nbf", "exp", "jti", "token_type", "iss", "aud", "sid", "cfp", "amr", "auth_time"];

/// What a claim must satisfy.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClaimRule {
    /// The claim must be present and not null.
    Essential,
    /// The claim must equal this value (or, for an array claim, contain it).
    Value(Value),
    /// The claim must equal one of these values (or, for an array claim, contain one of them).
    Values(Vec<Value>),
}

/// A requirement on one claim, checked on every verified token (in the style of ninja-aio's
/// `claims` options). Custom claims can be required too.
///
/// ```
/// use auth_jwt::ClaimRequirement;
/// use serde_json::json;
///
/// let tenant = ClaimRequirement::one_of("tenant", vec![json!("acme"), json!("globex")]);
/// assert!(tenant.is_satisfied_by(&json!({"tenant": "acme"}).as_object().unwrap()));
/// assert!(!tenant.is_satisfied_by(&json!({"tenant": "initech"}).as_object().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequirement {
    /// The claim's name.
    pub claim: String,
    /// The rule.
    pub rule: ClaimRule,
}

impl ClaimRequirement {
    /// The claim must be present.
    pub fn essential(claim: impl Into<String>) -> Self {
        Self { claim: claim.into(), rule: ClaimRule::Essential }
    }

    /// The claim must have this value.
    pub fn value(claim: impl Into<String>, value: Value) -> Self {
        Self { claim: claim.into(), rule: ClaimRule::Value(value) }
    }

    /// The claim must have one of these values.
    pub fn one_of(claim: impl Into<String>, values: Vec<Value>) -> Self {
        Self { claim: claim.into(), rule: ClaimRule::Values(values) }
    }

    /// Checks the requirement against a token's full claim set.
    pub fn is_satisfied_by(&self, claims: &Map<String, Value>) -> bool {
        let Some(actual) = claims.get(&self.claim).filter(|v| !v.is_null()) else {
            return false;
        };
        let matches = |wanted: &Value| match actual {
            Value::Array(items) if !wanted.is_array() => items.contains(wanted),
            _ => actual == wanted,
        };
        match &self.rule {
            ClaimRule::Essential => true,
            ClaimRule::Value(wanted) => matches(wanted),
            ClaimRule::Values(options) => options.iter().any(matches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn requirements() {
        let c = map(json!({"role": "admin", "scopes": ["a", "b"], "n": null}));
        assert!(ClaimRequirement::essential("role").is_satisfied_by(&c));
        assert!(!ClaimRequirement::essential("missing").is_satisfied_by(&c));
        assert!(!ClaimRequirement::essential("n").is_satisfied_by(&c));
        assert!(ClaimRequirement::value("role", json!("admin")).is_satisfied_by(&c));
        assert!(!ClaimRequirement::value("role", json!("Admin")).is_satisfied_by(&c));
        assert!(ClaimRequirement::value("scopes", json!("b")).is_satisfied_by(&c));
        assert!(ClaimRequirement::one_of("role", vec![json!("x"), json!("admin")]).is_satisfied_by(&c));
        assert!(!ClaimRequirement::one_of("role", vec![json!("x")]).is_satisfied_by(&c));
    }

    #[test]
    fn claims_round_trip_and_custom_claims_are_kept() {
        let full = json!({
            "sub": "u", "iat": 1, "nbf": 2, "exp": 3, "jti": "j", "token_type": "refresh",
            "iss": "i", "aud": ["a", "b"], "sid": "s", "cfp": "c", "amr": ["pwd", "otp"], "auth_time": 1,
            "username": "ada", "roles": ["x"], "is_staff": false,
        });
        let claims: Claims = serde_json::from_value(full.clone()).unwrap();
        assert_eq!(claims.token_type, TokenKind::Refresh);
        assert_eq!(claims.aud, Some(Audience::Many(vec!["a".into(), "b".into()])));
        assert_eq!(claims.amr, ["pwd", "otp"]);
        assert_eq!(claims.extra.len(), 3);
        assert_eq!(serde_json::to_value(&claims).unwrap(), full, "serialises back to the same object");
        let minimal = json!({"sub":"u","iat":1,"nbf":1,"exp":2,"jti":"j","token_type":"access","aud":"one"});
        let claims: Claims = serde_json::from_value(minimal).unwrap();
        assert_eq!((claims.sid, claims.amr.len(), claims.extra.len()), (None, 0, 0));
        assert_eq!(claims.aud, Some(Audience::One("one".into())));
    }

    #[test]
    fn missing_mistyped_or_repeated_registered_claims_do_not_parse() {
        let base = r#""sub":"u","iat":1,"nbf":1,"exp":2,"jti":"j","token_type":"access""#;
        assert!(serde_json::from_str::<Claims>(&format!("{{{base}}}")).is_ok());
        for bad in [
            r#"{"iat":1,"nbf":1,"exp":2,"jti":"j","token_type":"access"}"#.to_owned(),
            format!(r#"{{{base},"exp":3}}"#),
            format!(r#"{{{base},"amr":"pwd"}}"#),
            r#"{"sub":"u","iat":1,"nbf":1,"exp":2,"jti":"j","token_type":"bearer"}"#.to_owned(),
            r#"["sub"]"#.to_owned(),
        ] {
            assert!(serde_json::from_str::<Claims>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn type_confused_exp_does_not_parse() {
        let bad = json!({"sub":"u","iat":1,"nbf":1,"exp":"99999999999","jti":"j","token_type":"access"});
        assert!(serde_json::from_value::<Claims>(bad).is_err());
        let good = json!({"sub":"u","iat":1,"nbf":1,"exp":2,"jti":"j","token_type":"refresh","x":1});
        let claims: Claims = serde_json::from_value(good).unwrap();
        assert_eq!(claims.token_type, TokenKind::Refresh);
        assert_eq!(claims.extra.get("x"), Some(&json!(1)));
    }
}
