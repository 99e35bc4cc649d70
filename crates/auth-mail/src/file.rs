//! Delivery into a directory of `.eml` files.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::message::Mailbox;

use crate::email::{build_message, parse_from};
use crate::{Email, MailError, Mailer};

/// Writes every message as one `.eml` file (the full RFC 5322 message, as it would go over SMTP)
/// into a directory: for development, staging and end-to-end tests without a mail server. Mail
/// clients open `.eml` files; `auth_mail::testing::read_eml_dir` (feature `testing`) parses them.
///
/// - The directory is created if missing (mode `0700` on Unix); each file is mode `0600` on
///   Unix: the messages hold single-use links.
/// - Names are `<unix-millis>-<random hex>.eml`, strictly increasing per mailer (two messages in
///   the same millisecond get consecutive millisecond values), so sorting by name sorts by time.
/// - Each file is written under a temporary name (`.<name>.tmp`) and renamed into place, so a
///   reader never sees half a message.
#[derive(Debug)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
    last_millis: AtomicU64,
}

impl FileMailer {
    /// A mailer writing into `dir` (relative or absolute), sending from `from`.
    ///
    /// # Errors
    ///
    /// [`MailError::InvalidAddress`] for an invalid `from`, [`MailError::Io`] when the directory
    /// cannot be created, [`MailError::InvalidConfig`] when `dir` exists and is not a directory.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, MailError> {
        let dir = dir.into();
        let from = parse_from(from)?;
        create_private_dir(&dir)?;
        if !dir.is_dir() {
            return Err(MailError::InvalidConfig(format!("`{}` is not a directory", dir.display())));
        }
        Ok(Self { dir, from, last_millis: AtomicU64::new(0) })
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `email` and returns the path of its file ([`Mailer::send`] without discarding the
    /// path).
    ///
    /// # Errors
    ///
    /// As [`Mailer::send`]: an invalid recipient or subject, or a failed write.
    pub async fn write(&self, email: &Email) -> Result<PathBuf, MailError> {
        let message = build_message(&self.from, email)?;
        let name = format!("{:013}-{:016x}.eml", self.next_millis(), rand::random::<u64>());
        let path = self.dir.join(&name);
        let temp = self.dir.join(format!(".{name}.tmp"));
        let bytes = message.formatted();
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&temp, &target, &bytes))
            .await
            .map_err(io::Error::other)??;
        Ok(path)
    }

    /// The current Unix time in milliseconds, but always greater than the last value returned.
    fn next_millis(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX));
        let previous = self
            .last_millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last.saturating_add(1))))
            .unwrap_or_else(|last| last);
        now.max(previous.saturating_add(1))
    }
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.write(email).await.map(drop)
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_atomically(temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = options.open(temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.flush()
    });
    let result = result.and_then(|()| fs::rename(temp, target));
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_sort_by_time_and_files_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mail/outbox");
        let mailer = FileMailer::new(&dir, "no-reply@example.com").unwrap();
        assert_eq!(mailer.dir(), dir);
        let mut paths = Vec::new();
        for i in 0..5 {
            paths.push(mailer.write(&Email::new("alice@example.com", format!("n{i}"), "x")).await.unwrap());
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "names sort in sending order");
        for path in &paths {
            let name = path.file_name().unwrap().to_str().unwrap();
            let (millis, rest) = name.split_once('-').unwrap();
            assert_eq!(millis.len(), 13, "{name}");
            assert!(millis.bytes().all(|b| b.is_ascii_digit()), "{name}");
            let hex = rest.strip_suffix(".eml").unwrap();
            assert!(hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        }
        let entries: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(entries.len(), 5, "no temporary files left: {entries:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
            for path in &paths {
                assert_eq!(fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{path:?}");
            }
        }
    }

    #[tokio::test]
    async fn invalid_messages_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(tmp.path(), "no-reply@example.com").unwrap();
        let error = mailer.send(&Email::new("not-an-address", "Hi", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
        let error =
            mailer.send(&Email::new("a@example.com", "Hi\r\nBcc: e@evil.com", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::InvalidConfig(_)), "{error:?}");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn new_refuses_a_file_and_a_bad_from() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(FileMailer::new(&file, "no-reply@example.com").is_err());
        let error = FileMailer::new(tmp.path(), "nope").unwrap_err();
        assert!(matches!(error, MailError::InvalidAddress(_)), "{error:?}");
    }
}
