//! Server key files: random bytes, base64 on one line, created once with mode 0600.

use std::io::{self, Write as _};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Decodes a key written in any base64 alphabet (standard or URL-safe, padded or not), with
/// surrounding whitespace ignored. `None` when it is not base64 or not exactly `len` bytes long.
pub fn decode_key(text: &str, len: usize) -> Option<Vec<u8>> {
    let text = text.trim();
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .into_iter()
        .find_map(|engine| engine.decode(text).ok())
        .filter(|bytes| bytes.len() == len)
}

/// `len` random bytes from the operating system's CSPRNG.
pub fn random_key(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::fill(bytes.as_mut_slice());
    bytes
}

/// Reads the key file at `path` (standard base64 of `len` bytes), or generates a key and creates
/// the file (and its missing parent directories, mode 0700 on Unix) when there is none.
///
/// The file is created with mode 0600 on Unix and never overwritten: of two processes starting
/// at once, one creates it and both use its key. A file that does not hold `len` bytes of base64
/// is an [`io::ErrorKind::InvalidData`] error.
pub fn load_or_generate(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    match read(path, len) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        read => return read,
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let key = random_key(len);
            let written = file
                .write_all(format!("{}\n", STANDARD.encode(&key)).as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(e) = written {
                drop(file);
                // Leave no half-written key behind for the next start.
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
            Ok(key)
        }
        // Another process created it first.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read(path, len),
        Err(e) => Err(e),
    }
}

/// Reads a key file. An empty file is one another process has just created and not written yet:
/// it is read again for up to a second before it counts as invalid.
fn read(path: &Path, len: usize) -> io::Result<Vec<u8>> {
    for _ in 0..40 {
        let text = std::fs::read_to_string(path)?;
        if !text.trim().is_empty() {
            return decode_key(&text, len).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} does not hold a {len}-byte base64 key", path.display()),
                )
            });
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is empty", path.display())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("k.key");
        let key = load_or_generate(&path, 32).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(load_or_generate(&path, 32).unwrap(), key, "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let err = load_or_generate(&path, 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(decode_key(&URL_SAFE_NO_PAD.encode(&key), 32), Some(key));
        assert_eq!(decode_key("not base64!", 32), None);
    }
}
