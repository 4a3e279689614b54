//! The token file.

use std::os::unix::fs::PermissionsExt;

use crate::*;

#[test]
fn the_token_is_made_once_and_kept_private() {
    let sb = Sandbox::new();
    let dir = sb.path().join("config");
    let first = supersonic_http::load_or_create_token(&dir).unwrap();
    assert_eq!(first.len(), 64, "32 random bytes, hex");
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    let again = supersonic_http::load_or_create_token(&dir).unwrap();
    assert_eq!(first, again, "the link printed once stays valid across restarts");
    let file = dir.join(supersonic_http::token::TOKEN_FILE);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only the user may read the token");
    let leftovers: Vec<_> =
        std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temp file is left behind: {leftovers:?}");
}

#[test]
fn a_token_file_readable_by_others_is_made_private() {
    let sb = Sandbox::new();
    let dir = sb.path().join("config");
    let token = supersonic_http::load_or_create_token(&dir).unwrap();
    let file = dir.join(supersonic_http::token::TOKEN_FILE);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(supersonic_http::load_or_create_token(&dir).unwrap(), token);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_file_that_is_not_a_token_is_an_error_naming_it() {
    let sb = Sandbox::new();
    let dir = sb.path().join("config");
    write(&dir.join(supersonic_http::token::TOKEN_FILE), "hunter2\n");
    let err = supersonic_http::load_or_create_token(&dir).unwrap_err().to_string();
    assert!(err.contains("api_token") && err.contains("delete the file"), "{err}");
}
