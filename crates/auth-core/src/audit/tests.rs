use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tracing::field::{Field, Visit};
use tracing::span;

use super::*;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

#[test]
fn builder_sets_every_field() {
    let alice = UserId::new("alice");
    let event = AuditEvent::new(AuditKind::SignInSucceeded, t0())
        .user(&alice)
        .client(Some(" 203.0.113.7 "), Some("Mozilla/5.0"))
        .detail("flow", "mobile")
        .detail("attempt", 2)
        .detail("flow", "web");
    assert_eq!(event.kind, AuditKind::SignInSucceeded);
    assert_eq!(event.at, t0());
    assert_eq!(event.user_id, Some(alice));
    assert_eq!(event.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(event.user_agent.as_deref(), Some("Mozilla/5.0"));
    assert_eq!(serde_json::Value::Object(event.detail), serde_json::json!({"flow": "web", "attempt": 2}));

    let id = uuid::Uuid::parse_str(&event.id).unwrap();
    assert_eq!(id.get_version_num(), 7, "the id is a UUID v7");
    assert_eq!(event.id, id.hyphenated().to_string(), "as hyphenated lowercase text");
}

#[test]
fn new_events_have_increasing_ids_and_microsecond_times() {
    let a = AuditEvent::new(AuditKind::SignedOut, t0());
    let b = AuditEvent::new(AuditKind::SignedOut, t0());
    assert!(a.id < b.id, "ids of one process increase: {} {}", a.id, b.id);
    let at = t0() + Duration::nanoseconds(123_456_789);
    assert_eq!(AuditEvent::new(AuditKind::SignedOut, at).at, t0() + Duration::microseconds(123_456));
    let bare = AuditEvent::new(AuditKind::LockedOut, t0());
    assert_eq!((bare.user_id, bare.ip, bare.user_agent), (None, None, None));
    assert!(bare.detail.is_empty());
}

#[test]
fn user_agent_is_truncated_on_a_char_boundary() {
    // 255 ASCII characters, then multi-byte ones: byte 256 falls inside a character.
    let agent = format!("{}é🦀日本語", "a".repeat(MAX_USER_AGENT_CHARS - 1));
    let event = AuditEvent::new(AuditKind::SignInSucceeded, t0()).client(None, Some(&agent));
    let kept = event.user_agent.unwrap();
    assert_eq!(kept.chars().count(), MAX_USER_AGENT_CHARS);
    assert_eq!(kept, format!("{}é", "a".repeat(MAX_USER_AGENT_CHARS - 1)));
    assert_eq!(kept.len(), MAX_USER_AGENT_CHARS + 1, "é is two bytes");

    let emoji = "🦀".repeat(300);
    let kept =
        AuditEvent::new(AuditKind::SignInSucceeded, t0()).client(None, Some(&emoji)).user_agent.unwrap();
    assert_eq!(kept, "🦀".repeat(MAX_USER_AGENT_CHARS));

    let exact = "x".repeat(MAX_USER_AGENT_CHARS);
    let kept = AuditEvent::new(AuditKind::SignInSucceeded, t0()).client(None, Some(&exact)).user_agent;
    assert_eq!(kept, Some(exact), "a user agent at the limit is kept whole");
}

#[test]
fn blank_client_values_are_absent() {
    let event = AuditEvent::new(AuditKind::SignInFailed, t0()).client(Some("  "), Some(""));
    assert_eq!((event.ip, event.user_agent), (None, None));
    let event = AuditEvent::new(AuditKind::SignInFailed, t0()).client(Some("198.51.100.1"), None);
    assert_eq!(event.ip.as_deref(), Some("198.51.100.1"));
    let event = event.client(None, Some("curl/8"));
    assert_eq!(event.ip, None, "client() sets both values");
}

#[test]
fn kind_strings_round_trip() {
    assert_eq!(AuditKind::ALL.len(), 41);
    let mut names = HashSet::new();
    for &kind in AuditKind::ALL {
        let name = kind.as_str();
        assert!(names.insert(name), "{name} is unique");
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name} is snake_case");
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::Value::String(name.to_owned()));
        assert_eq!(serde_json::from_value::<AuditKind>(name.into()).unwrap(), kind);
        assert_eq!(name.parse::<AuditKind>(), Ok(kind));
        assert_eq!(kind.to_string(), name);
    }
    assert_eq!(AuditKind::RefreshReuseDetected.as_str(), "refresh_reuse_detected");
    assert_eq!(AuditKind::ApiKeyCreated.as_str(), "api_key_created");

    for unknown in ["", "SignInFailed", "SIGN_IN_FAILED", "sign_in_failed ", "password_exported"] {
        let error = unknown.parse::<AuditKind>().unwrap_err();
        assert_eq!(error.as_str(), unknown);
        assert!(error.to_string().contains("unknown audit event kind"));
    }
}

#[test]
fn failures_are_the_four_refusals() {
    let failures: Vec<AuditKind> = AuditKind::ALL.iter().copied().filter(|k| k.is_failure()).collect();
    assert_eq!(
        failures,
        [
            AuditKind::SignInFailed,
            AuditKind::MfaFailed,
            AuditKind::RefreshReuseDetected,
            AuditKind::LockedOut
        ]
    );
}

#[test]
fn events_serialise_as_json() {
    let event = AuditEvent::new(AuditKind::ApiKeyRevoked, t0())
        .user(&UserId::new("u1"))
        .client(Some("203.0.113.7"), None)
        .detail("key_id", "k1");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["kind"], "api_key_revoked");
    assert_eq!(json["user_id"], "u1");
    assert_eq!(json["user_agent"], serde_json::Value::Null);
    assert_eq!(json["detail"], serde_json::json!({"key_id": "k1"}));
    assert_eq!(serde_json::from_value::<AuditEvent>(json).unwrap(), event);
}

#[test]
fn query_limits_and_filters() {
    assert_eq!(AuditQuery::new().effective_limit(), DEFAULT_LIMIT);
    assert_eq!(AuditQuery::new().limit(0).effective_limit(), DEFAULT_LIMIT);
    assert_eq!(AuditQuery::new().limit(1).effective_limit(), 1);
    assert_eq!(AuditQuery::new().limit(MAX_LIMIT).effective_limit(), MAX_LIMIT);
    assert_eq!(AuditQuery::new().limit(MAX_LIMIT + 1).effective_limit(), MAX_LIMIT);
    assert_eq!(AuditQuery::new().limit(usize::MAX).effective_limit(), MAX_LIMIT);

    let alice = UserId::new("alice");
    let event = AuditEvent::new(AuditKind::MfaFailed, t0()).user(&alice);
    assert!(AuditQuery::new().matches(&event));
    assert!(AuditQuery::new().user(&alice).matches(&event));
    assert!(!AuditQuery::new().user(&UserId::new("bob")).matches(&event));
    assert!(!AuditQuery::new().user(&alice).matches(&AuditEvent::new(AuditKind::MfaFailed, t0())));
    assert!(AuditQuery::new().kinds(vec![AuditKind::MfaFailed, AuditKind::SignedOut]).matches(&event));
    assert!(!AuditQuery::new().kinds(vec![AuditKind::SignedOut]).matches(&event));
    assert!(AuditQuery::new().since(t0()).matches(&event), "since is inclusive");
    assert!(!AuditQuery::new().before(t0()).matches(&event), "before is exclusive");
    assert!(AuditQuery::new().before(t0() + Duration::microseconds(1)).matches(&event));
    assert!(!AuditQuery::new().since(t0() + Duration::microseconds(1)).matches(&event));
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn memory_store_conforms() {
    let store = MemoryAuditStore::new();
    conformance::audit_store_conformance(&store).await;
    conformance::audit_store_conformance(&store).await; // tolerates other data
}

// ---- AuditLog and tracing: a minimal subscriber that keeps the audit target's events.

#[derive(Debug, Clone, PartialEq)]
struct Captured {
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _metadata: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() != TRACING_TARGET {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured { level: *event.metadata().level(), fields });
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn audit_log_emits_a_tracing_event_and_stores() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let log = AuditLog::memory();
    let alice = UserId::new("alice");

    let failed = AuditEvent::new(AuditKind::SignInFailed, t0())
        .user(&alice)
        .client(Some("203.0.113.7"), Some("Mozilla/5.0 (Ünïcødé)"))
        .detail("reason", "bad_password");
    log.record(failed.clone()).await;
    let signed_in =
        AuditEvent::new(AuditKind::SignInSucceeded, t0() + Duration::seconds(1)).detail("flow", "web");
    log.record(signed_in.clone()).await;

    let events = capture.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let (warn, info) = (&events[0], &events[1]);
    assert_eq!(warn.level, tracing::Level::WARN, "failures are warnings");
    assert_eq!(warn.fields["kind"], "sign_in_failed");
    assert_eq!(warn.fields["id"], failed.id);
    assert_eq!(warn.fields["user_id"], "alice");
    assert_eq!(warn.fields["ip"], "203.0.113.7");
    assert_eq!(warn.fields["user_agent"], "Mozilla/5.0 (Ünïcødé)");
    assert_eq!(warn.fields["at"], t0().to_rfc3339());
    assert_eq!(warn.fields["message"], "audit event");
    let detail: serde_json::Value = serde_json::from_str(&warn.fields["detail"]).unwrap();
    assert_eq!(detail, serde_json::json!({"reason": "bad_password"}), "the detail as JSON text");

    assert_eq!(info.level, tracing::Level::INFO, "the rest is information");
    assert_eq!(info.fields["kind"], "sign_in_succeeded");
    assert_eq!(info.fields["detail"], r#"{"flow":"web"}"#);
    for absent in ["user_id", "ip", "user_agent"] {
        assert!(!info.fields.contains_key(absent), "{absent} is left out when not set: {info:?}");
    }

    let stored = log.list(&AuditQuery::new()).await.unwrap();
    assert_eq!(stored, [signed_in, failed], "both stored, newest first");
    assert_eq!(log.store().list(&AuditQuery::new().user(&alice)).await.unwrap().len(), 1);
}

#[derive(Debug)]
struct FailingStore;

#[async_trait]
impl AuditStore for FailingStore {
    async fn record(&self, _event: &AuditEvent) -> Result<(), AuthError> {
        Err(AuthError::backend(std::io::Error::other("disk full")))
    }

    async fn list(&self, _query: &AuditQuery) -> Result<Vec<AuditEvent>, AuthError> {
        Err(AuthError::backend(std::io::Error::other("disk full")))
    }

    async fn delete_before(&self, _before: DateTime<Utc>) -> Result<u64, AuthError> {
        Err(AuthError::backend(std::io::Error::other("disk full")))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_store_is_logged_not_returned() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let log = AuditLog::new(Arc::new(FailingStore));
    let event = AuditEvent::new(AuditKind::PasswordChanged, t0()).user(&UserId::new("alice"));

    log.record(event.clone()).await; // returns (): no error, no panic

    let events = capture.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].level, tracing::Level::INFO);
    assert_eq!(events[0].fields["kind"], "password_changed", "the event itself is emitted first");
    assert_eq!(events[1].level, tracing::Level::ERROR);
    assert_eq!(events[1].fields["message"], "audit event could not be stored");
    assert_eq!(events[1].fields["id"], event.id);
    assert_eq!(events[1].fields["kind"], "password_changed");
    assert!(events[1].fields["error"].contains("disk full"), "{:?}", events[1]);

    assert!(log.list(&AuditQuery::new()).await.is_err(), "list does report the failure");
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_delete_before_counts() {
    let store = MemoryAuditStore::new();
    for seconds in [-2, -1, 0, 1] {
        store
            .record(&AuditEvent::new(AuditKind::SignedOut, t0() + Duration::seconds(seconds)))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_before(t0()).await.unwrap(), 2);
    assert_eq!(store.list(&AuditQuery::new()).await.unwrap().len(), 2);
    assert_eq!(store.delete_before(t0()).await.unwrap(), 0);
}
