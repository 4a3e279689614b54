//! The API token: a 32-byte random secret, hex-encoded, made on first start and kept in the
//! config dir (`api_token`, mode 0600) so the UI link stays valid across restarts.
//!
//! The file is created complete and private in one step (written to a private temp file, then
//! hard-linked into place, which fails if another process made it first), so no reader ever
//! sees a half-written or world-readable token; the loser of such a race reads the winner's.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result, MIN_TOKEN_LEN};

/// Name of the token file inside the config dir.
pub const TOKEN_FILE: &str = "api_token";

/// Random bytes in a generated token (64 hex characters).
const TOKEN_BYTES: usize = 32;

/// Returns the token stored in `config_dir`, creating it (and the dir) on first use.
///
/// A token file readable by others is made private (0600) again. A file that does not hold a
/// token (at least 32 printable characters, no spaces) is an error that says to delete it.
pub fn load_or_create_token(config_dir: &Path) -> Result<String> {
    let path = config_dir.join(TOKEN_FILE);
    if let Some(token) = read(&path)? {
        return Ok(token);
    }
    fs::create_dir_all(config_dir).map_err(file_error(config_dir))?;
    let token = hex::encode(rand::random::<[u8; TOKEN_BYTES]>());
    let tmp = config_dir.join(format!(".{TOKEN_FILE}.{:016x}", rand::random::<u64>()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{token}\n").as_bytes())?;
            f.sync_all()
        })
        .and_then(|_| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path)?
            .ok_or_else(|| Error::TokenInvalid { path, message: "vanished while read".into() }),
        Err(e) => Err(Error::TokenFile { path, source: e }),
    }
}

fn read(path: &Path) -> Result<Option<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::TokenFile { path: path.to_path_buf(), source: e }),
    };
    let token = text.trim();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::TokenInvalid {
            path: path.to_path_buf(),
            message: format!(
                "not an API token (at least {MIN_TOKEN_LEN} printable characters, no spaces); \
                 delete the file to make a new one"
            ),
        });
    }
    let mode = fs::metadata(path).map_err(file_error(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!("{}: readable by others; making it private (0600)", path.display());
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(file_error(path))?;
    }
    Ok(Some(token.to_string()))
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path: PathBuf = path.to_path_buf();
    move |source| Error::TokenFile { path, source }
}

/// Returns whether `presented` equals `expected`, in time that depends on the length only, so
/// response timing does not tell an attacker how many leading characters were right.
pub(crate) fn matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_token() {
        assert!(matches("abcdef", "abcdef"));
        assert!(!matches("abcdeF", "abcdef"));
        assert!(!matches("abcde", "abcdef"), "a prefix is not the token");
        assert!(!matches("", "abcdef"));
    }
}
