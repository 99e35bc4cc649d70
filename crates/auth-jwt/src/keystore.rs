//! Where signing keys live between restarts: the [`KeyStore`] trait, a directory of PEM files
//! ([`FileKeyStore`]), an in-memory store ([`MemoryKeyStore`]) and [`load_or_generate`], the paved
//! road that creates a key on first start and reuses it afterwards.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::keys::{GeneratedKey, JwtAlgorithm, JwtKey, KeyError, generate_key, key_from_private_text};

/// A key as stored: the text forms of [`GeneratedKey`].
///
/// `Debug` redacts `private_pem`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredKey {
    /// The algorithm the key is for.
    pub algorithm: JwtAlgorithm,
    /// The private key (PEM, or the `PORTCULLIS HMAC SECRET` block for HMAC).
    pub private_pem: String,
    /// The public key (SPKI PEM); `None` for HMAC.
    pub public_pem: Option<String>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("algorithm", &self.algorithm)
            .field("private_pem", &"[redacted]")
            .field("public_pem", &self.public_pem)
            .finish()
    }
}

impl From<GeneratedKey> for StoredKey {
    fn from(key: GeneratedKey) -> Self {
        Self { algorithm: key.algorithm, private_pem: key.private_pem, public_pem: key.public_pem }
    }
}

impl StoredKey {
    /// Parses the stored private key (see [`key_from_private_text`]).
    pub fn to_key(&self) -> Result<JwtKey, KeyError> {
        key_from_private_text(self.algorithm, self.private_pem.as_bytes())
    }
}

/// Persistent storage for named signing keys.
///
/// Names are plain file names: ASCII letters, digits, `-`, `_` and `.`, not starting with `.`
/// (both stores here refuse anything else with [`KeyError::InvalidName`]).
#[async_trait::async_trait]
pub trait KeyStore: fmt::Debug + Send + Sync + 'static {
    /// The key stored under `name`, or `None` when there is none.
    async fn load(&self, name: &str) -> Result<Option<StoredKey>, KeyError>;

    /// Stores `key` under `name`, replacing any previous key of that name.
    async fn save(&self, name: &str, key: &StoredKey) -> Result<(), KeyError>;
}

/// Checks that `name` is a plain file name (no path separators, no `..`, no hidden files).
fn check_name(name: &str) -> Result<(), KeyError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && !name.contains("..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid { Ok(()) } else { Err(KeyError::InvalidName(name.chars().take(64).collect())) }
}

/// Runs blocking file I/O off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, KeyError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| KeyError::Io(io::Error::other(e)))?
}

/// Keys as files in one directory: `<name>.pem` (the private key, mode 0600), `<name>.pub` (the
/// public key, mode 0644, absent for HMAC) and `<name>.alg` (the algorithm name).
///
/// The directory is created with mode 0700 when missing. Each file is written to a temporary file
/// created with its final mode and then renamed into place, so the private key is never readable by
/// others, not even briefly, and a crash never leaves a half-written key. `<name>.pem` is written
/// last: a key exists once its `.pem` file does.
#[derive(Debug, Clone)]
pub struct FileKeyStore {
    dir: PathBuf,
}

impl FileKeyStore {
    /// A store in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory holding the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait::async_trait]
impl KeyStore for FileKeyStore {
    async fn load(&self, name: &str) -> Result<Option<StoredKey>, KeyError> {
        check_name(name)?;
        let dir = self.dir.clone();
        let name = name.to_owned();
        blocking(move || files::load(&dir, &name)).await
    }

    async fn save(&self, name: &str, key: &StoredKey) -> Result<(), KeyError> {
        check_name(name)?;
        let dir = self.dir.clone();
        let name = name.to_owned();
        let key = key.clone();
        blocking(move || files::save(&dir, &name, &key)).await
    }
}

/// The blocking file operations of [`FileKeyStore`].
mod files {
    use std::fs;
    use std::io::{self, Write as _};
    use std::path::Path;

    use super::StoredKey;
    use crate::keys::{JwtAlgorithm, KeyError};

    const PRIVATE_MODE: u32 = 0o600;
    const PUBLIC_MODE: u32 = 0o644;
    const DIR_MODE: u32 = 0o700;

    fn read_optional(path: &Path) -> io::Result<Option<String>> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) fn load(dir: &Path, name: &str) -> Result<Option<StoredKey>, KeyError> {
        let pem_path = dir.join(format!("{name}.pem"));
        let Some(private_pem) = read_optional(&pem_path)? else {
            return Ok(None);
        };
        warn_if_exposed(&pem_path);
        let algorithm_text = read_optional(&dir.join(format!("{name}.alg")))?
            .ok_or_else(|| KeyError::InvalidKey(format!("{name}.pem exists but {name}.alg is missing")))?;
        let algorithm: JwtAlgorithm = algorithm_text.trim().parse()?;
        let public_pem = read_optional(&dir.join(format!("{name}.pub")))?;
        Ok(Some(StoredKey { algorithm, private_pem, public_pem }))
    }

    pub(super) fn save(dir: &Path, name: &str, key: &StoredKey) -> Result<(), KeyError> {
        create_dir(dir)?;
        write_replace(dir, &format!("{name}.alg"), format!("{}\n", key.algorithm).as_bytes(), PUBLIC_MODE)?;
        let pub_name = format!("{name}.pub");
        match &key.public_pem {
            Some(public_pem) => write_replace(dir, &pub_name, public_pem.as_bytes(), PUBLIC_MODE)?,
            None => match fs::remove_file(dir.join(&pub_name)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            },
        }
        write_replace(dir, &format!("{name}.pem"), key.private_pem.as_bytes(), PRIVATE_MODE)?;
        Ok(())
    }

    fn create_dir(dir: &Path) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
        #[cfg(not(unix))]
        let _ = DIR_MODE;
        builder.create(dir)
    }

    /// Writes `contents` to a fresh temporary file created with `mode`, then renames it to
    /// `dir/file_name`.
    fn write_replace(dir: &Path, file_name: &str, contents: &[u8], mode: u32) -> io::Result<()> {
        let temporary = dir.join(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let result = (|| {
            let mut file = options.open(&temporary)?;
            file.write_all(contents)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&temporary, dir.join(file_name))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        result
    }

    /// Logs a warning when a private key file is readable by group or others.
    fn warn_if_exposed(path: &Path) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if let Ok(metadata) = fs::metadata(path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), "private key file is accessible by other users; chmod 600 it");
            }
        }
        #[cfg(not(unix))]
        let _ = path;
    }
}

/// Keys in memory, for tests and single-process setups that may lose their keys on restart.
/// Clones share the same keys.
#[derive(Clone, Default)]
pub struct MemoryKeyStore {
    keys: Arc<Mutex<HashMap<String, StoredKey>>>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredKey>> {
        // The map is never left half-updated, so a poisoned lock is still consistent.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.keys().keys().cloned().collect();
        names.sort();
        f.debug_struct("MemoryKeyStore").field("names", &names).finish()
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryKeyStore {
    async fn load(&self, name: &str) -> Result<Option<StoredKey>, KeyError> {
        check_name(name)?;
        Ok(self.keys().get(name).cloned())
    }

    async fn save(&self, name: &str, key: &StoredKey) -> Result<(), KeyError> {
        check_name(name)?;
        self.keys().insert(name.to_owned(), key.clone());
        Ok(())
    }
}

/// Loads the key stored under `name`, or generates one for `alg` and saves it when there is none.
/// Returns the key and whether it was generated now.
///
/// A stored key for another algorithm than `alg` is [`KeyError::AlgorithmMismatch`]: change keys
/// deliberately (a new name, or rotation), never silently. Two processes starting at the same time
/// against an empty store may both generate; the last save wins, so start one first or provision
/// the key ahead of time.
pub async fn load_or_generate(
    store: &dyn KeyStore,
    name: &str,
    alg: JwtAlgorithm,
) -> Result<(JwtKey, bool), KeyError> {
    if let Some(stored) = store.load(name).await? {
        if stored.algorithm != alg {
            return Err(KeyError::AlgorithmMismatch { expected: alg, found: stored.algorithm.to_string() });
        }
        return Ok((stored.to_key()?, false));
    }
    // RSA key generation takes a while: keep it off the async workers.
    let generated = blocking(move || generate_key(alg)).await?;
    let key = generated.to_key()?;
    store.save(name, &StoredKey::from(generated)).await?;
    tracing::info!(name, kid = key.kid(), alg = %alg, "generated a new signing key");
    Ok((key, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn file_store_round_trips_with_private_permissions() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("keys");
        let store = FileKeyStore::new(&dir);
        assert!(store.load("signing").await.unwrap().is_none());

        let stored = StoredKey::from(generate_key(JwtAlgorithm::ES256).unwrap());
        store.save("signing", &stored).await.unwrap();
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("signing.pem")), 0o600);
            assert_eq!(mode(&dir.join("signing.pub")) & 0o600, 0o600);
        }
        assert_eq!(std::fs::read_to_string(dir.join("signing.alg")).unwrap().trim(), "ES256");
        let loaded = store.load("signing").await.unwrap().unwrap();
        assert_eq!(loaded.algorithm, JwtAlgorithm::ES256);
        assert_eq!(loaded.private_pem, stored.private_pem);
        assert_eq!(loaded.public_pem, stored.public_pem);
        assert_eq!(loaded.to_key().unwrap().kid(), stored.to_key().unwrap().kid());
        // No temporary files are left behind.
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["signing.alg", "signing.pem", "signing.pub"]);

        // Replacing with an HMAC key removes the stale public key, and keeps 0600 even when the old
        // file had looser permissions.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.join("signing.pem"), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        let hmac = StoredKey::from(generate_key(JwtAlgorithm::HS512).unwrap());
        store.save("signing", &hmac).await.unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&dir.join("signing.pem")), 0o600);
        assert!(!dir.join("signing.pub").exists());
        let loaded = store.load("signing").await.unwrap().unwrap();
        assert_eq!(loaded.algorithm, JwtAlgorithm::HS512);
        assert!(loaded.public_pem.is_none());
        assert_eq!(loaded.to_key().unwrap().kid(), hmac.to_key().unwrap().kid());
    }

    #[tokio::test]
    async fn file_store_refuses_path_like_names() {
        let temp = tempfile::tempdir().unwrap();
        let store = FileKeyStore::new(temp.path());
        let key = StoredKey::from(generate_key(JwtAlgorithm::HS256).unwrap());
        for name in ["", "../escape", "a/b", "a\\b", "..", ".hidden", "a..b", "/etc/passwd", "nul\0"] {
            assert!(matches!(store.save(name, &key).await, Err(KeyError::InvalidName(_))), "{name:?}");
            assert!(matches!(store.load(name).await, Err(KeyError::InvalidName(_))), "{name:?}");
        }
        assert!(store.save("jwt-signing_key.v2", &key).await.is_ok());
        assert!(!temp.path().parent().unwrap().join("escape.pem").exists());
    }

    #[tokio::test]
    async fn file_store_without_algorithm_file_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        let store = FileKeyStore::new(temp.path());
        let key = StoredKey::from(generate_key(JwtAlgorithm::HS256).unwrap());
        store.save("k", &key).await.unwrap();
        std::fs::remove_file(temp.path().join("k.alg")).unwrap();
        assert!(matches!(store.load("k").await, Err(KeyError::InvalidKey(_))));
    }

    #[tokio::test]
    async fn load_or_generate_generates_once() {
        let temp = tempfile::tempdir().unwrap();
        let file_store = FileKeyStore::new(temp.path());
        let memory_store = MemoryKeyStore::new();
        for store in [&file_store as &dyn KeyStore, &memory_store] {
            let (first, generated) = load_or_generate(store, "jwt", JwtAlgorithm::EdDSA).await.unwrap();
            assert!(generated);
            assert!(first.can_sign());
            let (second, generated) = load_or_generate(store, "jwt", JwtAlgorithm::EdDSA).await.unwrap();
            assert!(!generated);
            assert_eq!(second.kid(), first.kid());
            let err = load_or_generate(store, "jwt", JwtAlgorithm::ES256).await.unwrap_err();
            assert!(
                matches!(&err, KeyError::AlgorithmMismatch { expected: JwtAlgorithm::ES256, found } if found == "EdDSA"),
                "{err}"
            );
        }
        // A clone of the memory store shares its keys.
        let clone = memory_store.clone();
        let (key, generated) = load_or_generate(&clone, "jwt", JwtAlgorithm::EdDSA).await.unwrap();
        assert!(!generated);
        assert!(key.can_sign());
        assert!(format!("{memory_store:?}").contains("jwt"));
    }

    #[tokio::test]
    async fn stored_key_debug_and_serde() {
        let stored = StoredKey::from(generate_key(JwtAlgorithm::HS256).unwrap());
        let secret_line = stored.private_pem.lines().nth(1).unwrap().to_owned();
        assert!(!format!("{stored:?}").contains(&secret_line));
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(json["algorithm"], "HS256");
        let back: StoredKey = serde_json::from_value(json).unwrap();
        assert_eq!(back.to_key().unwrap().kid(), stored.to_key().unwrap().kid());
    }
}
