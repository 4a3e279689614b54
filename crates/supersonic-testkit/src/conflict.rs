//! The engine's conflict id, computed without the engine.

/// Returns the id the engine gives a conflict: the first 12 hex digits of the SHA-256 of the
/// parts, each followed by a NUL, computed with coreutils' `sha256sum`, independently of the
/// engine's code.
///
/// # Panics
///
/// Panics when `sha256sum` cannot be run.
pub fn conflict_id(parts: &[&str]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    let mut input = Vec::new();
    for p in parts {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..12].to_string()
}
