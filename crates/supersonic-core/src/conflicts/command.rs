//! The external merge command of a `command` rule, called like a git merge driver with the
//! three versions in temporary files (`%O`, `%A`, `%B`, `%P`) and a deadline.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The three versions of a conflicting file handed to a merge command.
#[derive(Debug, Clone, Copy)]
pub struct MergeInput<'a> {
    /// The common ancestor (empty when both sides added the file).
    pub base: &'a [u8],
    /// This device's version.
    pub local: &'a [u8],
    /// The other device's version.
    pub remote: &'a [u8],
    /// The path in the folder.
    pub path: &'a str,
}

/// Runs a merge `command` the way git runs a merge driver and returns the merged content.
///
/// The three versions are written to temporary files (private to this user, removed
/// afterwards, named with the path's extension so a driver may pick a format from it); `%O`,
/// `%A`, `%B` in any argument become their paths, `%P` the path in the folder, `%%` a `%`. The
/// argv runs directly (never through a shell) in the folder's root, with `timeout` as deadline.
/// Exit status 0 means the `%A` file holds the result; anything else (a non-zero exit, the
/// deadline, a program that cannot start) is an `Err` with the reason, for the `ask` fallback.
pub fn run_merge_command(
    command: &[String],
    input: MergeInput<'_>,
    root: &Path,
    timeout: Duration,
) -> std::result::Result<Vec<u8>, String> {
    let program = command.first().ok_or("no command configured")?;
    let dir = tempfile::Builder::new()
        .prefix("supersonic-merge-")
        .tempdir()
        .map_err(|e| format!("cannot create temporary files: {e}"))?;
    let ext = Path::new(input.path)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let file = |name: &str, content: &[u8]| -> std::result::Result<PathBuf, String> {
        let path = dir.path().join(format!("{name}{ext}"));
        std::fs::write(&path, content).map_err(|e| format!("cannot write {name}: {e}"))?;
        Ok(path)
    };
    let (base, local, remote) =
        (file("base", input.base)?, file("local", input.local)?, file("remote", input.remote)?);
    let argv: Vec<std::ffi::OsString> = command
        .iter()
        .map(|arg| expand_placeholders(arg, &base, &local, &remote, input.path))
        .collect();
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).current_dir(root);
    let done = crate::program::run(cmd, None, timeout).map_err(|f| match f {
        crate::program::Failure::Spawn(e) => format!("cannot run `{program}`: {e}"),
        crate::program::Failure::TimedOut => {
            format!("`{program}` did not finish within {} s and was killed", timeout.as_secs())
        }
    })?;
    if !done.status.success() {
        return Err(format!("`{program}` failed ({})", done.reason()));
    }
    std::fs::read(&local).map_err(|e| format!("`{program}` left no result in %A: {e}"))
}

/// Replaces `%O`, `%A`, `%B`, `%P` and `%%` in one argument; other `%` sequences stay as they
/// are (as in git's merge drivers).
fn expand_placeholders(
    arg: &str,
    base: &Path,
    local: &Path,
    remote: &Path,
    path: &str,
) -> std::ffi::OsString {
    let mut out = std::ffi::OsString::new();
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c.to_string());
            continue;
        }
        match chars.peek().copied() {
            Some('O') => out.push(base),
            Some('A') => out.push(local),
            Some('B') => out.push(remote),
            Some('P') => out.push(path),
            Some('%') => out.push("%"),
            _ => {
                out.push("%");
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_command_placeholders_expand_inside_arguments() {
        let (o, a, b) = (Path::new("/t/base.md"), Path::new("/t/local.md"), Path::new("/t/r.md"));
        let expand = |arg| expand_placeholders(arg, o, a, b, "dir/n.md").into_string().unwrap();
        assert_eq!(expand("--base=%O"), "--base=/t/base.md");
        assert_eq!(expand("%A"), "/t/local.md");
        assert_eq!(expand("%B:%P"), "/t/r.md:dir/n.md");
        assert_eq!(expand("100%%P"), "100%P", "%% is a literal percent");
        assert_eq!(expand("50%x%"), "50%x%", "unknown sequences stay as written");
    }
}
