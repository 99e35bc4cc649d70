//! Expiry decisions and the once-a-minute `last_used_at` rule shared by both credential kinds.

use auth_core::TokenRejection;
use chrono::{DateTime, Duration, Utc};

/// `last_used_at` is written at most once per this interval: a store's `touch` writes only when
/// the stored value is older than `now - TOUCH_INTERVAL` (so never on every request).
pub const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// The longest name a record keeps, in characters; longer ones are cut (validate input first and
/// refuse over-long names with a 400: the cut is a safety net, not a policy).
pub const MAX_NAME_CHARS: usize = 128;

/// Why a stored opaque token or API key no longer authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenUnusable {
    /// Past its absolute expiry (`expires_at <= now`).
    #[error("the token has expired")]
    Expired,
    /// Unused for longer than its idle timeout (`last_used_at + idle_ttl <= now`).
    #[error("the token has been idle for too long")]
    Idle,
    /// Revoked (API keys).
    #[error("the token has been revoked")]
    Revoked,
}

impl From<TokenUnusable> for TokenRejection {
    /// `Expired` and `Idle` become [`TokenRejection::Expired`], `Revoked` [`TokenRejection::Revoked`].
    fn from(reason: TokenUnusable) -> Self {
        match reason {
            TokenUnusable::Expired | TokenUnusable::Idle => TokenRejection::Expired,
            TokenUnusable::Revoked => TokenRejection::Revoked,
        }
    }
}

/// Whether a `touch` at `now` writes, given the stored `last_used_at`: when there is none, or it
/// is older than `now - ` [`TOUCH_INTERVAL`]. Stores apply exactly this rule, in one conditional
/// write; callers may use it to skip the store call when the record they just read is recent.
pub fn touch_due(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| at < touch_cutoff(now))
}

/// `now - TOUCH_INTERVAL`: a touch writes when the stored `last_used_at` is before it.
pub fn touch_cutoff(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_signed(TOUCH_INTERVAL).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `last_used + idle_ttl`, or `None` when that is beyond the representable range (never idle).
pub(crate) fn idle_deadline(last_used: DateTime<Utc>, idle_ttl: Duration) -> Option<DateTime<Utc>> {
    last_used.checked_add_signed(idle_ttl)
}

/// A duration cut to whole seconds (stores keep idle timeouts in seconds).
pub(crate) fn whole_seconds(duration: Duration) -> Duration {
    Duration::seconds(duration.num_seconds())
}

pub(crate) fn truncate_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    #[test]
    fn touch_is_due_once_a_minute() {
        assert!(touch_due(None, at(0)));
        assert!(!touch_due(Some(at(100)), at(100)));
        assert!(!touch_due(Some(at(100)), at(130)));
        assert!(!touch_due(Some(at(100)), at(160)), "exactly 60 s is not older than 60 s");
        assert!(touch_due(Some(at(100)), at(161)));
        assert!(!touch_due(Some(at(100)), at(50)), "never moves back");
        assert!(!touch_due(Some(DateTime::<Utc>::MIN_UTC), DateTime::<Utc>::MIN_UTC));
    }

    #[test]
    fn names_are_cut_by_characters() {
        assert_eq!(truncate_chars("é".repeat(5), 3), "ééé");
        assert_eq!(truncate_chars("ab".to_owned(), 3), "ab");
        assert_eq!(whole_seconds(Duration::milliseconds(1_999)), Duration::seconds(1));
    }

    #[test]
    fn reasons_map_to_rejections() {
        assert_eq!(TokenRejection::from(TokenUnusable::Idle), TokenRejection::Expired);
        assert_eq!(TokenRejection::from(TokenUnusable::Revoked), TokenRejection::Revoked);
    }
}
