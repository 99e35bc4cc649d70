//! The password-hashing paved road: argon2id off the async executor.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::AuthError;
#[cfg(feature = "django-hashes")]
use crate::django_hash;

/// Parameters of the [`PasswordHasher`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordHasherConfig {
    /// Memory cost in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// Iterations (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
    /// How many hashes may run at once; further requests wait. Default: the CPU count.
    pub max_concurrency: usize,
    /// How many requests may wait for a hashing slot; beyond that they are shed at once with
    /// [`AuthError::Unavailable`] (a 503 with `Retry-After: 1`) instead of piling up. Default: 16
    /// per slot.
    pub max_queue: usize,
    /// How many of the slots registrations may hold at once (the work of requests that prove
    /// nothing): default half of `max_concurrency`, at least 1, so that a flood of registrations
    /// leaves slots to sign-ins.
    pub max_registration_concurrency: usize,
    /// Longest password accepted, in bytes (default 1024): longer ones are refused without hashing.
    pub max_password_bytes: usize,
}

impl Default for PasswordHasherConfig {
    /// argon2id with OWASP's parameters: m=19456 KiB, t=2, p=1.
    fn default() -> Self {
        let max_concurrency = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrency,
            max_queue: max_concurrency * 16,
            max_registration_concurrency: (max_concurrency / 2).max(1),
            max_password_bytes: 1024,
        }
    }
}

impl PasswordHasherConfig {
    /// Cheap parameters (m=64 KiB, t=1) for tests only: never use them for real passwords.
    pub fn insecure_fast_for_tests() -> Self {
        Self { memory_kib: 64, iterations: 1, ..Self::default() }
    }

    /// Sets the memory cost in KiB.
    pub fn memory_kib(mut self, kib: u32) -> Self {
        self.memory_kib = kib;
        self
    }

    /// Sets the number of iterations.
    pub fn iterations(mut self, iterations: u32) -> Self {
        self.iterations = iterations;
        self
    }

    /// Sets the parallelism.
    pub fn parallelism(mut self, lanes: u32) -> Self {
        self.parallelism = lanes;
        self
    }

    /// Sets the concurrency cap, with a queue of 16 per slot and half the slots (at least one)
    /// for registrations.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self.max_queue = self.max_concurrency * 16;
        self.max_registration_concurrency = (self.max_concurrency / 2).max(1);
        self
    }

    /// Sets how many requests may wait for a slot before further ones are shed.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = n;
        self
    }
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    valid: bool,
    needs_rehash: bool,
}

impl PasswordCheck {
    /// Whether the password matched.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// Whether the password matched and the stored hash uses other parameters than the configured
    /// ones: store a fresh hash.
    pub fn needs_rehash(&self) -> bool {
        self.valid && self.needs_rehash
    }

    const INVALID: Self = Self { valid: false, needs_rehash: false };
}

/// A [`PasswordHasher`]'s load ([`PasswordHasher::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HasherStats {
    /// Hashes and verifications running now.
    pub running: usize,
    /// Requests waiting for a slot now (the queue depth).
    pub waiting: usize,
    /// The most that run at once.
    pub max_running: usize,
    /// The most that wait; beyond it a request is shed with 503.
    pub max_waiting: usize,
    /// Requests that waited for a slot since start.
    pub waits: u64,
    /// Their waits, in total.
    pub waited: std::time::Duration,
}

/// Hashes and verifies passwords with argon2id on tokio's blocking pool, at most
/// `max_concurrency` at a time, so a sign-in flood never stalls other requests.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    max_password_bytes: usize,
    permits: Arc<Semaphore>,
    /// The slots registrations may hold (each also takes one of `permits`).
    registration_permits: Arc<Semaphore>,
    /// Requests waiting for a permit, and how many may.
    waiting: AtomicUsize,
    max_queue: usize,
    max_running: usize,
    /// Requests that had to wait for a slot, and their waits in total (microseconds).
    waits: std::sync::atomic::AtomicU64,
    waited_micros: std::sync::atomic::AtomicU64,
    dummy_hash: OnceCell<String>,
}

/// Takes a request off the waiting count when it stops waiting (also when it is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the given parameters; invalid argon2 parameters are an input error.
    pub fn new(config: PasswordHasherConfig) -> Result<Self, AuthError> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| AuthError::invalid_field("password_hasher", e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                max_password_bytes: config.max_password_bytes,
                permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
                registration_permits: Arc::new(Semaphore::new(config.max_registration_concurrency.max(1))),
                waiting: AtomicUsize::new(0),
                max_queue: config.max_queue,
                max_running: config.max_concurrency.max(1),
                waits: std::sync::atomic::AtomicU64::new(0),
                waited_micros: std::sync::atomic::AtomicU64::new(0),
                dummy_hash: OnceCell::new(),
            }),
        })
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// The longest password accepted, in bytes.
    pub fn max_password_bytes(&self) -> usize {
        self.inner.max_password_bytes
    }

    /// A permit of `pool`: at once when one is free, else after waiting in the bounded queue;
    /// [`AuthError::Unavailable`] when the queue is full.
    async fn permit(&self, pool: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, AuthError> {
        if let Ok(permit) = Arc::clone(pool).try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.inner.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.inner.waiting);
        if ahead >= self.inner.max_queue {
            tracing::warn!(waiting = ahead, "the password hasher is overloaded: shedding a request");
            return Err(AuthError::Unavailable { retry_after_seconds: 1 });
        }
        let started = std::time::Instant::now();
        let permit = Arc::clone(pool).acquire_owned().await.map_err(AuthError::backend)?;
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.inner.waits.fetch_add(1, Ordering::Relaxed);
        self.inner.waited_micros.fetch_add(waited, Ordering::Relaxed);
        Ok(permit)
    }

    /// What the hasher is doing now, and how long requests waited for it (for metrics).
    pub fn stats(&self) -> HasherStats {
        let free = self.inner.permits.available_permits();
        HasherStats {
            running: self.inner.max_running.saturating_sub(free),
            waiting: self.inner.waiting.load(Ordering::Acquire),
            max_running: self.inner.max_running,
            max_waiting: self.inner.max_queue,
            waits: self.inner.waits.load(Ordering::Relaxed),
            waited: std::time::Duration::from_micros(self.inner.waited_micros.load(Ordering::Relaxed)),
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = self.permit(&self.inner.permits).await?;
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop(permit);
            result
        })
        .await
        .map_err(AuthError::backend)
    }

    /// [`PasswordHasher::hash`] for a registration: it also takes one of the registration slots
    /// (see [`PasswordHasherConfig::max_registration_concurrency`]), so that registrations never
    /// hold every slot.
    pub async fn hash_for_registration(&self, password: &str) -> Result<String, AuthError> {
        let _slot = self.permit(&self.inner.registration_permits).await?;
        self.hash(password).await
    }

    /// Hashes a password into a PHC string. Passwords longer than the maximum are refused; with
    /// every slot busy and the queue full the request is shed ([`AuthError::Unavailable`]).
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        if password.len() > self.inner.max_password_bytes {
            return Err(AuthError::invalid_field(
                "password",
                format!("must be at most {} bytes long", self.inner.max_password_bytes),
            ));
        }
        let password = normalize_password(password);
        let params = self.inner.params.clone();
        self.run_blocking(move || {
            Self::argon2(params)
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| AuthError::backend(std::io::Error::other(e.to_string())))
        })
        .await?
    }

    async fn dummy_hash(&self) -> Result<String, AuthError> {
        let hash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                rand::fill(&mut random);
                self.hash(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, random)).await
            })
            .await?;
        Ok(hash.clone())
    }

    /// Verifies a password against a stored hash. With `None` (unknown user, or no password set),
    /// verifies against a dummy hash so that the answer takes the same time, and is always invalid.
    ///
    /// The password is checked NFKC-normalised ([`normalize_password`]). A password that NFKC
    /// changes and that does not match in that form is also checked exactly as received: hashes
    /// stored before normalisation was introduced keep working, and are reported as
    /// [`PasswordCheck::needs_rehash`] so that they are replaced by the normalised form at sign-in.
    /// The second check depends only on the password typed, never on whether the user exists.
    ///
    /// With feature `django-hashes`, a hash imported from Django (`django_hash`: PBKDF2, argon2, bcrypt,
    /// scrypt) is checked against the password exactly as received, as Django does, on the same
    /// blocking pool; a match is reported as [`PasswordCheck::needs_rehash`], so that sign-in
    /// replaces it with argon2id. A Django hash that is malformed or whose work factors are out of
    /// bounds never verifies. A Django unusable password (`!…`) is checked like no password at all
    /// (against the dummy hash), and is always invalid.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<PasswordCheck, AuthError> {
        if password.len() > self.inner.max_password_bytes {
            return Ok(PasswordCheck::INVALID);
        }
        // Django's unusable password (`!…`): no password at all.
        let stored = stored.filter(|hash| !hash.starts_with('!'));
        // PHC strings start with `$`; Django's hashes with their algorithm's name.
        #[cfg(feature = "django-hashes")]
        if let Some(hash) = stored
            && !hash.starts_with('$')
        {
            match django_hash::check_django_hash(hash) {
                Ok(_) => return self.verify_django(password, hash).await,
                // Neither: refused below as not a PHC string, as before.
                Err(django_hash::DjangoHashError::NotDjango) => {}
                Err(error) => {
                    tracing::warn!(%error, "stored Django password hash refused");
                    return Ok(PasswordCheck::INVALID);
                }
            }
        }
        let (stored, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let normalized = normalize_password(password);
        let legacy = (normalized != password).then(|| password.to_owned());
        let params = self.inner.params.clone();
        let check = self
            .run_blocking(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    tracing::warn!("stored password hash is not a PHC string; refusing");
                    return PasswordCheck::INVALID;
                };
                let argon2 = Self::argon2(params.clone());
                if argon2.verify_password(normalized.as_bytes(), &parsed).is_ok() {
                    return PasswordCheck {
                        valid: true,
                        needs_rehash: !Self::matches_params(&parsed, &params),
                    };
                }
                match legacy {
                    // Hashed before normalisation: valid, and rehashed in the normalised form.
                    Some(raw) if argon2.verify_password(raw.as_bytes(), &parsed).is_ok() => {
                        PasswordCheck { valid: true, needs_rehash: true }
                    }
                    _ => PasswordCheck::INVALID,
                }
            })
            .await?;
        Ok(if real { check } else { PasswordCheck::INVALID })
    }

    #[cfg(feature = "django-hashes")]
    /// Checks a password against a Django hash (already checked by
    /// [`django_hash::check_django_hash`]) on the blocking pool: valid and to be rehashed on a match.
    async fn verify_django(&self, password: &str, stored: &str) -> Result<PasswordCheck, AuthError> {
        let (password, stored) = (password.to_owned(), stored.to_owned());
        self.run_blocking(move || match django_hash::verify_django_hash(&password, &stored) {
            Ok(true) => PasswordCheck { valid: true, needs_rehash: true },
            Ok(false) => PasswordCheck::INVALID,
            Err(error) => {
                tracing::warn!(%error, "stored Django password hash refused");
                PasswordCheck::INVALID
            }
        })
        .await
    }

    fn matches_params(hash: &PasswordHash, params: &Params) -> bool {
        if hash.algorithm != argon2::ARGON2ID_IDENT {
            return false;
        }
        if hash.version != Some(Version::V0x13.into()) {
            return false;
        }
        match Params::try_from(hash) {
            Ok(stored) => {
                stored.m_cost() == params.m_cost()
                    && stored.t_cost() == params.t_cost()
                    && stored.p_cost() == params.p_cost()
            }
            Err(_) => false,
        }
    }
}

/// A password as it is hashed and checked: NFKC-normalised (NIST SP 800-63B), so the same
/// characters typed on different keyboards or platforms are the same password.
pub fn normalize_password(password: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    password.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests()).unwrap()
    }

    /// A hasher slow enough (tens of milliseconds per hash) that every request of a `join!` is
    /// polled before the first hash ends.
    fn slow(max_concurrency: usize, max_queue: usize) -> PasswordHasher {
        let config = PasswordHasherConfig::default()
            .memory_kib(32 * 1024)
            .iterations(3)
            .max_concurrency(max_concurrency)
            .max_queue(max_queue);
        PasswordHasher::new(config).unwrap()
    }

    fn shed(result: &Result<String, AuthError>) -> bool {
        matches!(result, Err(AuthError::Unavailable { retry_after_seconds: 1 }))
    }

    #[tokio::test]
    async fn a_full_queue_sheds_requests_with_retry_after() {
        let hasher = slow(1, 2);
        let (a, b, c, d, e) = tokio::join!(
            hasher.hash("one password"),
            hasher.hash("two password"),
            hasher.hash("three password"),
            hasher.hash("four password"),
            hasher.verify("five password", None),
        );
        // One runs, two wait, the rest are shed at once.
        assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
        assert!(shed(&d), "{d:?}");
        assert!(matches!(e, Err(AuthError::Unavailable { .. })), "{e:?}");
        // Nothing is left waiting: the next request runs.
        assert!(hasher.hash("six password").await.is_ok());
        assert_eq!(AuthError::Unavailable { retry_after_seconds: 1 }.status().as_u16(), 503);
    }

    #[tokio::test]
    async fn registrations_never_hold_every_slot() {
        // Two slots, one of them for registrations; no queue.
        let hasher = slow(2, 0);
        let (first, second, sign_in) = tokio::join!(
            hasher.hash_for_registration("first password"),
            hasher.hash_for_registration("second password"),
            hasher.hash("a sign-in's password"),
        );
        assert!(first.is_ok(), "{first:?}");
        assert!(shed(&second), "the registration slot is taken: {second:?}");
        assert!(sign_in.is_ok(), "the other slot stayed free: {sign_in:?}");
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hasher = fast();
        let hash = hasher.hash("s3cret pass").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify("s3cret pass", Some(&hash)).await.unwrap().is_valid());
        assert!(!hasher.verify("s3cret pass ", Some(&hash)).await.unwrap().is_valid());
        assert!(!hasher.verify("S3cret pass", Some(&hash)).await.unwrap().is_valid());
        assert!(!hasher.verify("s3cret pass", Some(&hash)).await.unwrap().needs_rehash());
    }

    #[tokio::test]
    async fn unicode_forms_are_one_password_and_old_raw_hashes_still_work() {
        let hasher = fast();
        // "é" precomposed (NFC) and decomposed (e + combining acute): one password after NFKC.
        let (composed, decomposed) = ("caf\u{e9} au lait", "cafe\u{301} au lait");
        let hash = hasher.hash(decomposed).await.unwrap();
        let check = hasher.verify(composed, Some(&hash)).await.unwrap();
        assert!(check.is_valid() && !check.needs_rehash());

        // A hash of the raw, unnormalised bytes (written before normalisation existed).
        let params = hasher.inner.params.clone();
        let legacy = PasswordHasher::argon2(params).hash_password(decomposed.as_bytes()).unwrap().to_string();
        let check = hasher.verify(decomposed, Some(&legacy)).await.unwrap();
        assert!(check.is_valid(), "the old hash of the raw password still verifies");
        assert!(check.needs_rehash(), "and is replaced by the normalised form at sign-in");
        assert!(!hasher.verify("cafe au lait", Some(&legacy)).await.unwrap().is_valid());
        assert!(!hasher.verify(decomposed, None).await.unwrap().is_valid(), "unknown user");
    }

    #[tokio::test]
    async fn default_is_owasp_argon2id() {
        let hasher = PasswordHasher::new(PasswordHasherConfig::default()).unwrap();
        let hash = hasher.hash("x").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }

    #[tokio::test]
    async fn rehash_when_parameters_change() {
        let old = fast();
        let hash = old.hash("pw").await.unwrap();
        let new = PasswordHasher::new(PasswordHasherConfig::insecure_fast_for_tests().iterations(2)).unwrap();
        let check = new.verify("pw", Some(&hash)).await.unwrap();
        assert!(check.is_valid());
        assert!(check.needs_rehash());
        let wrong = new.verify("nope", Some(&hash)).await.unwrap();
        assert!(!wrong.needs_rehash(), "never rehash on a failed check");
    }

    #[tokio::test]
    async fn unknown_user_is_invalid_even_with_dummy() {
        let hasher = fast();
        assert!(!hasher.verify("anything", None).await.unwrap().is_valid());
    }

    #[tokio::test]
    async fn too_long_passwords_are_refused() {
        let hasher = fast();
        let long = "x".repeat(1025);
        assert!(matches!(hasher.hash(&long).await, Err(AuthError::InvalidInput(_))));
        let hash = hasher.hash("short").await.unwrap();
        assert!(!hasher.verify(&long, Some(&hash)).await.unwrap().is_valid());
    }

    #[cfg(feature = "django-hashes")]
    #[tokio::test]
    async fn django_hashes_verify_and_are_rehashed() {
        let hasher = fast();
        for (_, password, encoded) in crate::django_hash::tests::VECTORS {
            let check = hasher.verify(password, Some(encoded)).await.unwrap();
            assert!(check.is_valid() && check.needs_rehash(), "{encoded}");
            let wrong = hasher.verify(&format!("{password} "), Some(encoded)).await.unwrap();
            assert!(!wrong.is_valid() && !wrong.needs_rehash(), "{encoded}");
        }
        // The rehash is an argon2id PHC string with the configured parameters, of the NFKC form.
        let (_, password, encoded) = crate::django_hash::tests::VECTORS[1];
        assert!(hasher.verify(password, Some(encoded)).await.unwrap().needs_rehash());
        let rehashed = hasher.hash(password).await.unwrap();
        assert!(rehashed.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{rehashed}");
        let check = hasher.verify(password, Some(&rehashed)).await.unwrap();
        assert!(check.is_valid() && !check.needs_rehash());
    }

    #[cfg(feature = "django-hashes")]
    #[tokio::test]
    async fn bad_django_hashes_and_unusable_passwords_never_verify() {
        let hasher = fast();
        let pw = "correct horse battery staple";
        for encoded in [
            // Tampered hash.
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEA$lTaN97Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            // Tampered salt and iterations.
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEB$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "pbkdf2_sha256$1001$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            // Out of bounds: refused without hashing.
            "pbkdf2_sha256$10000001$DRg24ExnPIHJCBAOhdcyEA$lTaN96Ng7A1hu0qUrO3UPh6B+gjZwCj1AYVFVxl1+CA=",
            "bcrypt$$2b$31$Ye.wmkUYqcNxwT0XqpeubuWDE/H8AWZuJdoq5iAzaWf/nWma3FsNa",
            "scrypt$4194304$FkHv9EqVY2p3qHsIZo83F9$8$2$nXx9Pd55RHyVIQ4PQLPd5pNHxcbEnRukcUQxWbWbtkhSfYJHM3itrrboLiEUnUpAfmuKAknnchD3tnUMDL+ovQ==",
            "argon2$argon2id$v=19$m=4194304,t=1,p=2$cDBSTlNXV2R6M2c0UW13a2Y3TGtUbw$02tsM9ZwdetY9nPPvWt+yfIxg0q4knmyGSU1qiveuZM",
            // Malformed, unsupported, unusable.
            "pbkdf2_sha256$1000$DRg24ExnPIHJCBAOhdcyEA",
            "md5$salt$0123456789abcdef0123456789abcdef",
            "!2ouvFWu1DJlaiXp3qNGiQtJukYV05GrcGEpBUqzP",
            "!",
        ] {
            let check = hasher.verify(pw, Some(encoded)).await.unwrap();
            assert!(!check.is_valid() && !check.needs_rehash(), "{encoded}");
        }
        let unusable = "!2ouvFWu1DJlaiXp3qNGiQtJukYV05GrcGEpBUqzP";
        assert!(!hasher.verify(unusable, Some(unusable)).await.unwrap().is_valid());
        assert!(hasher.inner.dummy_hash.initialized(), "an unusable password costs the dummy hash");
    }

    #[cfg(feature = "django-hashes")]
    #[tokio::test]
    async fn a_django_hash_is_replaced_at_sign_in() {
        use crate::{Accounts, MemoryUserStore, NewUser, UserStore as _};
        let store = Arc::new(MemoryUserStore::new());
        let accounts = Accounts::new(Arc::clone(&store), fast());
        let (_, password, encoded) = crate::django_hash::tests::VECTORS[0];
        store.create_user(NewUser::new("alice", None, encoded.to_owned())).await.unwrap();
        assert!(accounts.check_password("alice", "wrong password").await.is_err());
        let user = store.find_by_login("alice").await.unwrap().unwrap();
        assert_eq!(user.password_hash.as_deref(), Some(encoded), "a failed check keeps the hash");

        let user = accounts.check_password("alice", password).await.unwrap();
        let stored = user.password_hash.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        let check = accounts.check_password("alice", password).await.unwrap();
        assert_eq!(check.password_hash.as_deref(), Some(stored.as_str()), "rehashed once");
    }

    #[tokio::test]
    async fn garbage_hash_is_invalid_not_error() {
        let hasher = fast();
        assert!(!hasher.verify("pw", Some("plaintext")).await.unwrap().is_valid());
    }
}
