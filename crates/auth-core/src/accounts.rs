//! Account operations shared by every credential kind and the admin CLI: registration, password
//! checks, password changes and deactivation, with one input policy.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{AuthError, AuthUser, NewUser, PasswordHasher, UserId, UserStore};

/// Input rules for accounts: the password policy (NIST SP 800-63B-4, OWASP ASVS 5.0 V6). No
/// composition rules (no "one digit, one symbol"); any Unicode, NFKC-normalised; every failure
/// names its rule in the field message (`password_too_short: ...`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccountPolicy {
    /// Shortest password accepted, in characters after NFKC normalisation (default 8; 15 is the
    /// recommendation when the account has no second factor).
    pub min_password_chars: usize,
    /// Refuse the passwords of the shipped list of the 19,640 most common ones (case-insensitive;
    /// default on).
    pub reject_common_passwords: bool,
    /// Refuse passwords too similar to the username or email: contained in one of them, or
    /// mostly made of one (case-insensitive; default on).
    pub reject_similar_to_identity: bool,
    /// The strength a password must reach, as the zxcvbn score (0-4) of Dropbox's pattern-aware
    /// estimator, with the username and email as known inputs: keyboard walks (`qwertyuiopasdfgh`),
    /// sequences, repeats, dates and dictionary words with common substitutions score low.
    /// Passwords of [`STRONG_LENGTH`] characters or more need one point less, so long passphrases
    /// stay welcome. Default 3 (2 for long passwords); 0 turns the rule off.
    pub min_strength: u8,
}

/// From this many characters on, a password needs one zxcvbn point less (see
/// [`AccountPolicy::min_strength`]).
pub const STRONG_LENGTH: usize = 15;

/// How much of a password the strength estimator looks at (its cost grows with the length; a
/// weak start makes a weak password).
const STRENGTH_CHARS: usize = 64;

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            min_password_chars: 8,
            reject_common_passwords: true,
            reject_similar_to_identity: true,
            min_strength: 3,
        }
    }
}

impl AccountPolicy {
    /// Sets the minimum length in characters.
    pub fn min_password_chars(mut self, chars: usize) -> Self {
        self.min_password_chars = chars;
        self
    }

    /// Whether to refuse common passwords.
    pub fn reject_common_passwords(mut self, reject: bool) -> Self {
        self.reject_common_passwords = reject;
        self
    }

    /// Whether to refuse passwords similar to the username or email.
    pub fn reject_similar_to_identity(mut self, reject: bool) -> Self {
        self.reject_similar_to_identity = reject;
        self
    }

    /// Sets the minimum zxcvbn score (0-4; values above 4 count as 4).
    pub fn min_strength(mut self, score: u8) -> Self {
        self.min_strength = score.min(4);
        self
    }
}

/// The zxcvbn score (0-4) of `password` and the estimator's advice, with `identity` (username,
/// email) as known inputs.
pub fn password_strength(password: &str, identity: &[&str]) -> (u8, String) {
    let head: String = password.chars().take(STRENGTH_CHARS).collect();
    let mut inputs: Vec<&str> = Vec::new();
    for value in identity {
        inputs.push(value);
        if let Some((local, _)) = value.split_once('@') {
            inputs.push(local);
        }
    }
    let estimate = zxcvbn::zxcvbn(&head, &inputs);
    let advice = estimate.feedback().map(ToString::to_string).unwrap_or_default();
    (estimate.score() as u8, advice)
}

/// The shipped list of common passwords (Django's, from Royce Williams' list of 20,000 leaked
/// passwords; lower case), one per line.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether `password` (already normalised) is on the shipped list, ignoring case.
pub fn is_common_password(password: &str) -> bool {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
        .contains(password.to_lowercase().as_str())
}

/// Whether `password` is too similar to an identity value (username, email or its local part),
/// ignoring case: the password is part of the value, or the value makes up at least half of the
/// password (`margaret2024!` for `margaret`; `ann's long password` for `ann` is fine). Values
/// shorter than 3 characters are ignored.
fn similar_to(password: &str, identity: &str) -> bool {
    let (password, identity) = (password.to_lowercase(), identity.to_lowercase());
    let identity_chars = identity.chars().count();
    identity_chars >= 3
        && (identity.contains(&password)
            || (password.contains(&identity) && identity_chars * 2 >= password.chars().count()))
}

/// A request to create an account.
#[derive(Clone)]
#[non_exhaustive]
pub struct Registration {
    /// Username: 1-150 letters, digits and `. _ - +`.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Password (hashed before it is stored).
    pub password: String,
    /// Staff flag (never settable over the public API).
    pub is_staff: bool,
    /// Superuser flag (never settable over the public API).
    pub is_superuser: bool,
}

impl Registration {
    /// A regular user.
    pub fn new(username: impl Into<String>, email: Option<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            email,
            password: password.into(),
            is_staff: false,
            is_superuser: false,
        }
    }

    /// Sets the staff flag (admin tools only; the public registration endpoint never does).
    pub fn staff(mut self, is_staff: bool) -> Self {
        self.is_staff = is_staff;
        self
    }

    /// Sets the superuser flag (admin tools only).
    pub fn superuser(mut self, is_superuser: bool) -> Self {
        self.is_superuser = is_superuser;
        self
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

/// A source of known-breached passwords, asked about every new password (NIST SP 800-63B-4:
/// refuse values known to be compromised). `auth-breach` implements it over the Have I Been Pwned
/// range API (k-anonymity: only the first five hex digits of the password's SHA-1 leave the
/// process).
#[async_trait::async_trait]
pub trait BreachedPasswords: fmt::Debug + Send + Sync + 'static {
    /// How often `password` appears in known breaches (0: never seen). An error means the source
    /// could not answer; [`BreachPolicy`] decides what happens then.
    async fn times_breached(&self, password: &str) -> Result<u64, AuthError>;
}

/// What to do with a new password when the breach source cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BreachPolicy {
    /// Accept the password (it passed the other rules); the failure is logged. The default:
    /// sign-ups and password changes keep working while the source is down.
    #[default]
    FailOpen,
    /// Refuse with 503 `service_unavailable` and `Retry-After`: no password is accepted unchecked.
    FailClosed,
}

/// Account operations over a [`UserStore`] and a [`PasswordHasher`].
pub struct Accounts<S: UserStore> {
    store: Arc<S>,
    hasher: PasswordHasher,
    policy: AccountPolicy,
    breaches: Option<(Arc<dyn BreachedPasswords>, BreachPolicy)>,
}

impl<S: UserStore> fmt::Debug for Accounts<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("hasher", &self.hasher)
            .field("policy", &self.policy)
            .field("breaches", &self.breaches)
            .finish()
    }
}

impl<S: UserStore> Accounts<S> {
    /// Account operations with the default policy.
    pub fn new(store: Arc<S>, hasher: PasswordHasher) -> Self {
        Self { store, hasher, policy: AccountPolicy::default(), breaches: None }
    }

    /// Also refuses new passwords that `source` knows from breaches (`password_breached`), failing
    /// open or closed as `policy` says when the source cannot answer.
    pub fn with_breached_passwords(
        mut self,
        source: Arc<dyn BreachedPasswords>,
        policy: BreachPolicy,
    ) -> Self {
        self.breaches = Some((source, policy));
        self
    }

    /// Sets the policy.
    pub fn with_policy(mut self, policy: AccountPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Checks a username: 1-150 letters (any script), digits and `. _ - +`, none of them invisible.
    ///
    /// Lookalikes are not refused here but where they matter, in the store: a username compares by
    /// its confusable skeleton ([`normalize_login`](crate::normalize_login)), so `pаypal` (Cyrillic
    /// `а`) is accepted only while no `paypal` exists, and then reserves `paypal` too. Mixing
    /// scripts is allowed (names legitimately mix Latin with digits, Han with kana, ...): the
    /// skeleton already keeps a mixed-script lookalike from coexisting with the name it imitates.
    /// Invisible letters (the default-ignorable Hangul fillers U+115F, U+1160, U+3164, U+FFA0)
    /// are refused: they would make a username that looks empty or looks like another one.
    pub fn validate_username(username: &str) -> Result<(), AuthError> {
        use unicode_security::GeneralSecurityProfile as _;
        use unicode_security::general_security_profile::IdentifierType;

        let visible = |c: char| c.identifier_type() != Some(IdentifierType::Default_Ignorable);
        let ok_chars = username
            .chars()
            .all(|c| (c.is_alphanumeric() && visible(c)) || matches!(c, '.' | '_' | '-' | '+'));
        if username.is_empty() || username.chars().count() > 150 || !ok_chars {
            return Err(AuthError::invalid_field(
                "username",
                "must be 1-150 characters: letters, digits and . _ - + only",
            ));
        }
        Ok(())
    }

    /// Checks an email address (shape only).
    pub fn validate_email(email: &str) -> Result<(), AuthError> {
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(()) } else { Err(AuthError::invalid_field("email", "is not a valid email address")) }
    }

    /// Checks a new password against the policy's length and common-password rules (no identity
    /// to compare with: see [`Accounts::validate_password_for`]).
    pub fn validate_password(&self, password: &str) -> Result<(), AuthError> {
        self.validate_password_for(password, &[])
    }

    /// Checks a new password of an account with the given username and email against the
    /// policy. The error names the rule: `password_too_short`, `password_too_long`,
    /// `password_too_common`, `password_too_similar` or `password_too_weak` (with the estimator's
    /// advice).
    pub fn validate_password_for(&self, password: &str, identity: &[&str]) -> Result<(), AuthError> {
        let password = crate::password::normalize_password(password);
        let fail =
            |rule: &str, why: String| Err(AuthError::invalid_field("password", format!("{rule}: {why}")));
        if password.chars().count() < self.policy.min_password_chars {
            return fail(
                "password_too_short",
                format!("must be at least {} characters long", self.policy.min_password_chars),
            );
        }
        if password.len() > self.hasher.max_password_bytes() {
            return fail(
                "password_too_long",
                format!("must be at most {} bytes long", self.hasher.max_password_bytes()),
            );
        }
        if self.policy.reject_common_passwords && is_common_password(&password) {
            return fail("password_too_common", "is one of the most common passwords".to_owned());
        }
        if self.policy.reject_similar_to_identity {
            for value in identity {
                let local = value.split_once('@').map_or(*value, |(local, _)| local);
                if similar_to(&password, value) || similar_to(&password, local) {
                    return fail(
                        "password_too_similar",
                        "is too similar to the username or email".to_owned(),
                    );
                }
            }
        }
        if self.policy.min_strength > 0 {
            let long = password.chars().count() >= STRONG_LENGTH;
            let needed = if long { self.policy.min_strength - 1 } else { self.policy.min_strength };
            let (score, advice) = password_strength(&password, identity);
            if score < needed {
                let advice = if advice.is_empty() { String::new() } else { format!(" {advice}") };
                return fail("password_too_weak", format!("is too easy to guess.{advice}"));
            }
        }
        Ok(())
    }

    /// Every rule for a new password: [`Accounts::validate_password_for`], then the breach source
    /// when one is configured (`password_breached`; 503 when it cannot answer and the policy fails
    /// closed).
    pub async fn check_new_password(&self, password: &str, identity: &[&str]) -> Result<(), AuthError> {
        self.validate_password_for(password, identity)?;
        self.check_breached(password).await
    }

    /// The breach source's verdict on a new password (nothing to check without one).
    async fn check_breached(&self, password: &str) -> Result<(), AuthError> {
        let Some((source, policy)) = &self.breaches else { return Ok(()) };
        let normalized = crate::password::normalize_password(password);
        match source.times_breached(&normalized).await {
            Ok(0) => Ok(()),
            Ok(times) => Err(AuthError::invalid_field(
                "password",
                format!("password_breached: appears {times} times in known data breaches; choose another"),
            )),
            Err(error) => {
                tracing::warn!(error = %error, policy = ?policy, "the breached-password check failed");
                match policy {
                    BreachPolicy::FailClosed => Err(AuthError::Unavailable { retry_after_seconds: 30 }),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Creates an account. A taken username or email is a conflict naming the field; nothing is
    /// created on any error.
    pub async fn register(&self, registration: Registration) -> Result<S::User, AuthError> {
        self.validate_registration(&registration)?;
        let email = registration.email.filter(|e| !e.is_empty());
        self.check_breached(&registration.password).await?;
        let hash = self.hasher.hash_for_registration(&registration.password).await?;
        let new = NewUser::new(registration.username, email, hash)
            .staff(registration.is_staff)
            .superuser(registration.is_superuser);
        Ok(self.store.create_user(new).await?)
    }

    /// The checks of [`Accounts::register`] that need neither a store nor the network: the
    /// username, the email address and the password policy (without the breached-password
    /// check). Run them before counting a registration against its limits, so that bad input
    /// changes nothing.
    pub fn validate_registration(&self, registration: &Registration) -> Result<(), AuthError> {
        Self::validate_username(&registration.username)?;
        let email = registration.email.as_deref().filter(|e| !e.is_empty());
        if let Some(email) = email {
            Self::validate_email(email)?;
        }
        let mut identity = vec![registration.username.as_str()];
        identity.extend(email);
        self.validate_password_for(&registration.password, &identity)
    }

    /// Checks a username (or email) and password, records the sign-in and rehashes the password
    /// when the hashing parameters changed. Unknown user, wrong password and inactive user are the
    /// same [`AuthError::InvalidCredentials`], after the same hashing work.
    pub async fn authenticate_password(
        &self,
        login: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<S::User, AuthError> {
        let user = self.check_password(login, password).await?;
        self.record_login(&user.id(), now).await?;
        Ok(user)
    }

    /// [`Accounts::authenticate_password`] without recording the sign-in: for flows with a further
    /// step (a second factor) that record it with [`Accounts::record_login`] once complete.
    pub async fn check_password(&self, login: &str, password: &str) -> Result<S::User, AuthError> {
        let user = self.store.find_by_login(login).await?;
        self.check_password_of(user, password).await?.ok_or(AuthError::InvalidCredentials)
    }

    /// Re-authentication of a signed-in user (before a sensitive change): whether `password` is
    /// the active user `id`'s password, after the same hashing work whatever the answer.
    pub async fn verify_password(&self, id: &UserId, password: &str) -> Result<bool, AuthError> {
        let user = self.store.find_by_id(id).await?;
        Ok(self.check_password_of(user, password).await?.is_some())
    }

    /// Checks `password` against an already looked-up user (`None`: unknown login, checked
    /// against the dummy hash so that it takes as long). `Some(user)` when the password is right
    /// and the user active, after a rehash when the parameters changed.
    pub async fn check_password_of(
        &self,
        user: Option<S::User>,
        password: &str,
    ) -> Result<Option<S::User>, AuthError> {
        let stored = user.as_ref().and_then(|u| u.password_hash());
        let check = self.hasher.verify(password, stored).await?;
        let user = match user {
            Some(user) if check.is_valid() && user.is_active() => user,
            _ => return Ok(None),
        };
        if !check.needs_rehash() {
            return Ok(Some(user));
        }
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(&user.id(), &hash).await?;
        tracing::info!(user_id = %user.id(), "rehashed password with the current parameters");
        self.store.find_by_id(&user.id()).await
    }

    /// Records a completed sign-in of `id` at `now` (its last-login time).
    pub async fn record_login(&self, id: &UserId, now: DateTime<Utc>) -> Result<(), AuthError> {
        self.store.record_login(id, now).await
    }

    /// Sets a new password (the policy applies). Returns [`AuthError::NotFound`] for an unknown id.
    pub async fn set_password(&self, id: &UserId, password: &str) -> Result<(), AuthError> {
        let Some(user) = self.store.find_by_id(id).await? else {
            return Err(AuthError::NotFound);
        };
        let mut identity = vec![user.username()];
        identity.extend(user.email());
        self.check_new_password(password, &identity).await?;
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(id, &hash).await
    }

    /// Activates or deactivates an account. Returns [`AuthError::NotFound`] for an unknown id.
    pub async fn set_active(&self, id: &UserId, active: bool) -> Result<(), AuthError> {
        if self.store.set_active(id, active).await? { Ok(()) } else { Err(AuthError::NotFound) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryUserStore, PasswordHasherConfig};

    fn accounts() -> Accounts<MemoryUserStore> {
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        Accounts::new(Arc::new(MemoryUserStore::new()), hasher)
    }

    #[tokio::test]
    async fn register_validates_and_conflicts() {
        let a = accounts();
        a.register(Registration::new("alice", Some("a@example.com".into()), "lantern-otter-9"))
            .await
            .unwrap();
        let e = a.register(Registration::new("ALICE", None, "lantern-otter-9")).await.unwrap_err();
        assert!(matches!(e, AuthError::Conflict(_)));
        let e = a
            .register(Registration::new("bob", Some("A@example.com".into()), "lantern-otter-9"))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Conflict(_)));
        for (name, email, pw) in [
            ("", None, "lantern-otter-9"),
            ("has space", None, "lantern-otter-9"),
            ("x@y", None, "lantern-otter-9"),
            ("carol", Some("not-an-email".to_owned()), "lantern-otter-9"),
            ("carol", None, "short"),
            ("\u{3164}", None, "lantern-otter-9"), // an invisible Hangul filler
            ("dave\u{ffa0}", None, "lantern-otter-9"), // a trailing invisible letter
        ] {
            let e = a.register(Registration::new(name, email, pw)).await.unwrap_err();
            assert!(matches!(e, AuthError::InvalidInput(_)), "{name}");
        }
    }

    #[tokio::test]
    async fn lookalike_usernames_conflict_and_sign_in() {
        let a = accounts();
        let user = a.register(Registration::new("paypal", None, "lantern-otter-9")).await.unwrap();
        // Cyrillic а: valid usernames, but lookalikes of a taken one.
        for name in ["p\u{430}ypal", "P\u{430}YP\u{430}L"] {
            let e = a.register(Registration::new(name, None, "lantern-otter-9")).await.unwrap_err();
            assert!(
                matches!(&e, AuthError::Conflict(fields) if fields[0].field == "username"),
                "{name}: {e:?}"
            );
        }
        let found = a.check_password("p\u{430}ypal", "lantern-otter-9").await.unwrap();
        assert_eq!(found.id, user.id, "a lookalike spelling reaches the account");
        a.register(Registration::new("\u{210c}ello", None, "lantern-otter-9")).await.unwrap();
        let e = a.register(Registration::new("hello", None, "lantern-otter-9")).await.unwrap_err();
        assert!(matches!(e, AuthError::Conflict(_)), "{e:?}");
    }

    #[tokio::test]
    async fn password_checks_are_uniform() {
        let a = accounts();
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let user = a.register(Registration::new("dave", None, "lantern-otter-9")).await.unwrap();
        assert!(a.authenticate_password("Dave", "lantern-otter-9", now).await.is_ok());
        assert_eq!(a.store().find_by_id(&user.id).await.unwrap().unwrap().last_login, Some(now));
        assert!(matches!(
            a.authenticate_password("dave", "wrong-password", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            a.authenticate_password("nobody", "lantern-otter-9", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        a.set_active(&user.id, false).await.unwrap();
        assert!(matches!(
            a.authenticate_password("dave", "lantern-otter-9", now).await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(a.set_active(&UserId::new("nope"), false).await, Err(AuthError::NotFound)));
    }
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use crate::{MemoryUserStore, PasswordHasherConfig};

    fn accounts(policy: AccountPolicy) -> Accounts<MemoryUserStore> {
        let hasher = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap();
        Accounts::new(Arc::new(MemoryUserStore::new()), hasher).with_policy(policy)
    }

    fn rule(result: Result<(), AuthError>) -> String {
        match result {
            Err(AuthError::InvalidInput(fields)) => {
                assert_eq!(fields[0].field, "password");
                fields[0].message.split(':').next().unwrap().to_owned()
            }
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn each_failure_names_its_rule() {
        let a = accounts(AccountPolicy::default());
        assert_eq!(rule(a.validate_password_for("short", &[])), "password_too_short");
        assert_eq!(rule(a.validate_password_for(&"x".repeat(5000), &[])), "password_too_long");
        for common in ["password", "Password1", "qwertyuiop", "iloveyou", "12345678"] {
            assert_eq!(rule(a.validate_password_for(common, &[])), "password_too_common", "{common}");
        }
        let identity = ["margaret", "maggie.t@example.com"];
        for similar in ["margaret2024!", "xx-MAGGIE.T-xx", "maggie.t@example.com"] {
            assert_eq!(
                rule(a.validate_password_for(similar, &identity)),
                "password_too_similar",
                "{similar}"
            );
        }
        // No composition rules: long lowercase phrases and any script are fine.
        for fine in ["correct horse battery staple", "пароль-для-маргарет-7", "日本語のパスワードです"]
        {
            a.validate_password_for(fine, &identity).unwrap();
        }
        // 64 characters and more are accepted.
        a.validate_password_for(&"long passphrase ".repeat(8), &identity).unwrap();
    }

    #[test]
    fn expected_passwords_are_too_weak_and_long_passphrases_stay_welcome() {
        let a = accounts(AccountPolicy::default());
        // Keyboard walks, sequences and repeats are not on the list but are what guessers try
        // first (NIST SP 800-63B-4: "expected" values).
        for weak in [
            "qwertyuiopasdfgh",
            "1qaz2wsx3edc4rfv5",
            "zxcvbnmasdfghjkl",
            "abcdefghijklmnop",
            "aaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(rule(a.validate_password_for(weak, &[])), "password_too_weak", "{weak}");
            let Err(AuthError::InvalidInput(fields)) = a.validate_password_for(weak, &[]) else {
                unreachable!()
            };
            assert!(fields[0].message.len() > "password_too_weak: is too easy to guess.".len(), "advice");
        }
        // The username and email count as known: a password built from them scores lower.
        let identity = ["qezt", "vorpal@example.com"];
        assert!(password_strength("vorpalqezt", &identity).0 < password_strength("vorpalqezt", &[]).0);
        for fine in ["correct horse battery", "lantern-otter-9", "Tr0ub4dor&3", "violet-harbor-12"] {
            a.validate_password_for(fine, &[]).unwrap();
        }
        let (score, _) = password_strength("correct horse battery staple", &[]);
        assert_eq!(score, 4);
        accounts(AccountPolicy::default().min_strength(0))
            .validate_password_for("qwertyuiopasdfgh", &[])
            .unwrap();
        let strict = accounts(AccountPolicy::default().min_strength(4));
        assert_eq!(rule(strict.validate_password_for("long enough", &[])), "password_too_weak");
    }

    #[test]
    fn the_list_has_at_least_ten_thousand_entries_and_rules_can_be_relaxed() {
        assert!(COMMON_PASSWORDS.lines().count() >= 10_000);
        let relaxed = accounts(
            AccountPolicy::default().reject_common_passwords(false).min_password_chars(15).min_strength(0),
        );
        assert_eq!(rule(relaxed.validate_password_for("fourteen chars", &[])), "password_too_short");
        relaxed.validate_password_for("password1234567", &[]).unwrap();
    }

    #[tokio::test]
    async fn passwords_are_nfkc_normalised() {
        let a = accounts(AccountPolicy::default());
        // U+FB01 LATIN SMALL LIGATURE FI normalises to "fi"; the full-width digits to ASCII.
        let user = a.register(Registration::new("zoe", None, "\u{FB01}ne wine ２０２４")).await.unwrap();
        assert_eq!(user.username, "zoe");
        a.check_password("zoe", "fine wine 2024").await.unwrap();
        a.check_password("zoe", "\u{FB01}ne wine ２０２４").await.unwrap();
        // The normalised form counts for the policy too.
        assert_eq!(rule(a.validate_password_for("ｐａｓｓｗｏｒｄ", &[])), "password_too_common");
    }

    #[tokio::test]
    async fn set_password_applies_the_policy_with_the_users_identity() {
        let a = accounts(AccountPolicy::default());
        let user = a
            .register(Registration::new("quentin", Some("q@example.com".into()), "tall ship 42"))
            .await
            .unwrap();
        assert_eq!(rule(a.set_password(&user.id, "quentin rules").await), "password_too_similar");
        assert_eq!(rule(a.set_password(&user.id, "letmein").await), "password_too_short");
        assert_eq!(rule(a.set_password(&user.id, "trustno1").await), "password_too_common");
        a.set_password(&user.id, "a wholly new phrase").await.unwrap();
    }
}
