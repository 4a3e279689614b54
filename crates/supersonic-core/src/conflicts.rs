//! Conflicts: when two devices changed the same file, every edit survives and the user decides
//! with the full picture (DESIGN §3.3).
//!
//! During a merge, each conflicting path is resolved by the first matching rule of the folder's
//! `conflicts:` policy (or its default): `ask` keeps both versions — the newer change keeps the
//! path, the older moves to a conflict copy named like Syncthing's
//! (`<stem>.sync-conflict-YYYYMMDD-HHMMSS-<device>.<ext>`) — while `newest`, `local`, `remote`,
//! `union` and `markers` decide automatically, and `command` hands the three versions to the
//! rule's external merge command, called like a git merge driver (when it fails, times out or
//! cannot start, the conflict falls back to `ask`, with the reason recorded). Every decision is
//! written into the merge commit as a `Sync-Conflict:` trailer (which blobs, which rule), so the
//! losing side stays recoverable, any device can list pending conflicts from the repository
//! alone, and automatic resolutions can be undone. A conflict copy never gets a conflict copy of
//! its own.
//!
//! This module holds the pure parts (naming, policy matching, union and JSON merges), the
//! merge-command runner, and the user-facing operations on pending conflicts (list, show,
//! resolve, undo), which write through the safe-write path: a file is only replaced if it still
//! holds the content the user saw.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde::{Deserialize, Serialize};

use crate::config::{ConflictSettings, Strategy};
use crate::{Error, Result};

/// Prefix of the merge-commit trailer that records one resolution as JSON.
pub const TRAILER: &str = "Sync-Conflict: ";

/// One side's version of a conflicting file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Blob id.
    pub blob: String,
    /// Device that made this version.
    pub device: String,
    /// When it was committed.
    pub time: DateTime<Utc>,
    /// Size in bytes.
    pub size: u64,
}

/// How one conflicting path was resolved; recorded in the merge commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The path both sides changed.
    pub path: String,
    /// `content`, `add/add`, `modify/delete`, `delete/modify`, `rename/rename`,
    /// `file/directory`.
    pub kind: String,
    /// Whether either side is binary.
    pub binary: bool,
    /// The strategy applied (after any fallback).
    pub strategy: Strategy,
    /// Which rule decided (`default` or `rules[N] PATTERN`).
    pub rule: String,
    /// The conflict copy holding the other version (`ask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
    /// This device's version (None: deleted here).
    pub local: Option<Version>,
    /// The other device's version (None: deleted there).
    pub remote: Option<Version>,
    /// The common ancestor's blob, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The blob now at the path (None: deleted).
    pub result: Option<String>,
    /// Why a fallback happened, or what else was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A folder's compiled conflict policy.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Strategy,
    /// Conflict copies kept per file.
    pub max_copies: usize,
    /// Deadline of one merge command.
    pub command_timeout: Duration,
}

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    matcher: Gitignore,
    strategy: Strategy,
    label: String,
    command: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rules: Vec::new(),
            default: Strategy::Ask,
            max_copies: 5,
            command_timeout: Duration::from_secs(crate::config::DEFAULT_COMMAND_TIMEOUT_SEC),
        }
    }
}

impl Policy {
    /// Compiles the `conflicts:` settings; a bad pattern or command is an error naming its key.
    pub fn compile(settings: &ConflictSettings, root: &Path, config_file: &Path) -> Result<Policy> {
        settings.check(config_file, "")?;
        let mut rules = Vec::new();
        for (i, rule) in settings.rules.iter().enumerate() {
            let mut b = GitignoreBuilder::new(root);
            let bad = |reason: String| {
                Error::Config(crate::config::ConfigError {
                    file: config_file.to_path_buf(),
                    line: None,
                    column: None,
                    key: Some(format!("conflicts.rules[{i}].pattern")),
                    message: format!("invalid pattern `{}`: {reason}", rule.pattern),
                })
            };
            b.add_line(None, &rule.pattern).map_err(|e| bad(e.to_string()))?;
            let matcher = b.build().map_err(|e| bad(e.to_string()))?;
            rules.push(Rule {
                matcher,
                strategy: rule.strategy,
                label: format!("rules[{i}] {}", rule.pattern),
                command: rule.command.clone().unwrap_or_default(),
            });
        }
        Ok(Policy {
            rules,
            default: settings.default,
            max_copies: settings.max_copies.max(1),
            command_timeout: Duration::from_secs(settings.command_timeout_sec.max(1)),
        })
    }

    /// Returns the strategy for `path` and the rule that chose it (first match wins).
    pub fn decide(&self, path: &str) -> (Strategy, String) {
        match self.rule_for(path) {
            Some(rule) => (rule.strategy, rule.label.clone()),
            None => (self.default, "default".to_string()),
        }
    }

    /// Returns the merge command (argv with placeholders) of the rule deciding `path`, when
    /// that rule's strategy is `command`.
    pub fn command_for(&self, path: &str) -> Option<&[String]> {
        self.rule_for(path)
            .filter(|r| r.strategy == Strategy::Command && !r.command.is_empty())
            .map(|r| r.command.as_slice())
    }

    fn rule_for(&self, path: &str) -> Option<&Rule> {
        let p = Path::new(path);
        self.rules.iter().find(|r| r.matcher.matched_path_or_any_parents(p, false).is_ignore())
    }
}

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

/// Returns the original path of a conflict copy (`a/b.sync-conflict-…-dev.md` → `a/b.md`).
pub fn original_of(copy: &str) -> Option<String> {
    let (dir, name) = match copy.rfind('/') {
        Some(i) => (&copy[..=i], &copy[i + 1..]),
        None => ("", copy),
    };
    let at = name.find(CONFLICT_MARKER)?;
    let stem = &name[..at];
    let rest = &name[at + CONFLICT_MARKER.len()..];
    // rest = YYYYMMDD-HHMMSS-device[.ext]; the device has no dots (it is sanitised).
    let ext = rest.find('.').map(|i| &rest[i..]).unwrap_or("");
    Some(format!("{dir}{stem}{ext}"))
}

/// Returns the timestamp part of a conflict copy name (`YYYYMMDD-HHMMSS`), for ordering.
pub fn copy_timestamp(copy: &str) -> String {
    let name = copy.rsplit('/').next().unwrap_or(copy);
    name.find(CONFLICT_MARKER)
        .map(|i| name[i + CONFLICT_MARKER.len()..].chars().take(15).collect())
        .unwrap_or_default()
}

/// Returns the device part of a conflict copy name.
pub fn copy_device(copy: &str) -> Option<String> {
    let name = copy.rsplit('/').next().unwrap_or(copy);
    let rest = &name[name.find(CONFLICT_MARKER)? + CONFLICT_MARKER.len()..];
    let after_time = rest.get(16..)?;
    Some(after_time.split('.').next().unwrap_or(after_time).to_string())
}

/// Removes lines that a union merge duplicated: each line may appear at most as often as it
/// appears in the side that has it most, so real repeated lines (blank lines, `}`) survive.
pub fn drop_union_duplicates(merged: &[u8], ours: &[u8], theirs: &[u8]) -> Vec<u8> {
    use std::collections::HashMap;
    fn counts(text: &[u8]) -> HashMap<&[u8], usize> {
        let mut m = HashMap::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            *m.entry(trim_eol(line)).or_insert(0) += 1;
        }
        m
    }
    fn trim_eol(line: &[u8]) -> &[u8] {
        line.strip_suffix(b"\n").map(|l| l.strip_suffix(b"\r").unwrap_or(l)).unwrap_or(line)
    }
    let (o, t) = (counts(ours), counts(theirs));
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    let mut out = Vec::with_capacity(merged.len());
    for line in merged.split_inclusive(|&b| b == b'\n') {
        let key = trim_eol(line);
        let allowed = o.get(key).copied().unwrap_or(0).max(t.get(key).copied().unwrap_or(0)).max(1);
        let n = seen.entry(key).or_insert(0);
        *n += 1;
        if *n <= allowed {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") && !out.is_empty() && merged.ends_with(b"\n") {
                out.push(b'\n');
            }
        }
    }
    out
}

/// Merges two JSON documents structurally (objects key by key, arrays unioned without
/// duplicates, scalars three-way against `base`). Returns None when a side does not parse or a
/// key truly collides (both sides changed it differently).
pub fn merge_json_bytes(base: Option<&[u8]>, ours: &[u8], theirs: &[u8]) -> Option<Vec<u8>> {
    let o: serde_json::Value = serde_json::from_slice(ours).ok()?;
    let t: serde_json::Value = serde_json::from_slice(theirs).ok()?;
    let b: Option<serde_json::Value> = base.and_then(|b| serde_json::from_slice(b).ok());
    let merged = merge_json(b.as_ref(), &o, &t)?;
    let mut text = serde_json::to_vec_pretty(&merged).ok()?;
    if ours.ends_with(b"\n") {
        text.push(b'\n');
    }
    Some(text)
}

/// Merges JSON values; see [`merge_json_bytes`].
pub fn merge_json(
    base: Option<&serde_json::Value>,
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
) -> Option<serde_json::Value> {
    use serde_json::Value;
    if ours == theirs {
        return Some(ours.clone());
    }
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            let b = base.and_then(Value::as_object);
            let mut out = serde_json::Map::new();
            for (k, ov) in o {
                let bv = b.and_then(|b| b.get(k));
                match t.get(k) {
                    Some(tv) => out.insert(k.clone(), merge_json(bv, ov, tv)?),
                    // Removed there: keep it only if we changed it (a deletion of an unchanged
                    // key is honoured; a changed one survives).
                    None if bv.is_some_and(|bv| bv == ov) => None,
                    None => out.insert(k.clone(), ov.clone()),
                };
            }
            for (k, tv) in t {
                if o.contains_key(k) {
                    continue;
                }
                let bv = b.and_then(|b| b.get(k));
                if bv.is_some_and(|bv| bv == tv) {
                    continue; // removed here, unchanged there
                }
                out.insert(k.clone(), tv.clone());
            }
            Some(Value::Object(out))
        }
        (Value::Array(o), Value::Array(t)) => {
            let mut out: Vec<Value> = Vec::with_capacity(o.len() + t.len());
            for v in o.iter().chain(t.iter()) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Some(Value::Array(out))
        }
        _ => match base {
            Some(b) if b == ours => Some(theirs.clone()),
            Some(b) if b == theirs => Some(ours.clone()),
            _ => None, // both changed the same scalar differently: a true collision
        },
    }
}

/// Marker inside conflict copy names.
pub const CONFLICT_MARKER: &str = ".sync-conflict-";

/// Returns whether `path` is a conflict copy.
pub fn is_conflict_copy(path: &str) -> bool {
    file_name(path).contains(CONFLICT_MARKER)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Returns the conflict copy name for `path` (repo-relative, `/`-separated) holding the version
/// made at `time` on `device`.
///
/// The extension is the last one (`a.tar.gz` → `a.tar.sync-conflict-….gz`), so the copy opens
/// in the same program; dotfiles without another dot keep their whole name as the stem.
pub fn conflict_copy_name(path: &str, time: DateTime<Utc>, device: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let (stem, ext) = match name.rfind('.') {
        Some(0) | None => (name, ""),
        Some(i) => (&name[..i], &name[i..]),
    };
    let device: String = device
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(32)
        .collect();
    let device = if device.is_empty() { "unknown".to_string() } else { device };
    format!("{dir}{stem}{CONFLICT_MARKER}{}-{device}{ext}", time.format("%Y%m%d-%H%M%S"))
}

/// Returns `name` made unique with a `-2`, `-3`... suffix before the extension, given a
/// predicate that tells whether a name is taken.
pub fn unique_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_string();
    }
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (base, ext) = match name[slash..].rfind('.') {
        Some(0) | None => (name, ""),
        Some(i) => name.split_at(slash + i),
    };
    (2..)
        .map(|n| format!("{base}-{n}{ext}"))
        .find(|candidate| !taken(candidate))
        .expect("an unbounded range always finds a free name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 1, 45, 30).unwrap()
    }

    #[test]
    fn copy_name_follows_syncthing_naming() {
        assert_eq!(
            conflict_copy_name("notes/todo.md", t(), "laptop"),
            "notes/todo.sync-conflict-20261122-014530-laptop.md"
        );
        assert_eq!(
            conflict_copy_name("a.tar.gz", t(), "pc"),
            "a.tar.sync-conflict-20261122-014530-pc.gz"
        );
        assert_eq!(
            conflict_copy_name(".bashrc", t(), "pc"),
            ".bashrc.sync-conflict-20261122-014530-pc"
        );
        assert_eq!(
            conflict_copy_name("Makefile", t(), "my pc/1"),
            "Makefile.sync-conflict-20261122-014530-my_pc_1"
        );
    }

    #[test]
    fn conflict_copies_are_recognised() {
        let copy = conflict_copy_name("x/y.txt", t(), "d");
        assert!(is_conflict_copy(&copy));
        assert!(!is_conflict_copy("x/y.txt"));
        assert!(!is_conflict_copy("a.sync-conflict-dir/y.txt"), "only the file name counts");
    }

    #[test]
    fn safe_writes_never_go_through_a_link_or_out_of_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("known.txt"), b"known").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        std::os::unix::fs::symlink(outside.join("known.txt"), root.join("link.txt")).unwrap();
        for rel in ["evil/new.txt", "../outside/new.txt", "/tmp/new.txt", ".git/new.txt"] {
            assert!(safe_replace(&root, rel, None, b"x").is_err(), "write to {rel}");
        }
        for rel in ["evil/known.txt", "../outside/known.txt", "link.txt"] {
            assert!(safe_remove(&root, rel, b"known").is_err(), "remove {rel}");
            assert!(safe_replace(&root, rel, Some(b"known"), b"x").is_err(), "replace {rel}");
            assert!(read_opt(&root, rel).is_err(), "read {rel}");
        }
        let left: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "nothing created outside");
        assert_eq!(std::fs::read(outside.join("known.txt")).unwrap(), b"known");
        // Inside the folder, new directories are made as real ones.
        safe_replace(&root, "new/dir/a.txt", None, b"a").unwrap();
        assert_eq!(std::fs::read(root.join("new/dir/a.txt")).unwrap(), b"a");
        assert!(taken(&root, "link.txt") && !taken(&root, "free.txt"), "links count as taken");
    }

    #[test]
    fn unique_name_adds_a_counter_before_the_extension() {
        let taken = ["a/b.txt", "a/b-2.txt"];
        assert_eq!(unique_name("a/b.txt", |n| taken.contains(&n)), "a/b-3.txt");
        assert_eq!(unique_name("c.txt", |n| taken.contains(&n)), "c.txt");
    }
}

/// Lines of git-style conflict markers.
const MARKER_START: &[u8] = b"<<<<<<< ";

/// Commits searched for resolution records.
pub const RECORD_WINDOW: usize = 2000;

/// Text shown for a side is capped at this size (the picker shows metadata beyond it).
pub const MAX_TEXT: usize = 1024 * 1024;

/// One side of a conflict as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideView {
    /// The device that made this version.
    pub device: String,
    /// When it was made.
    pub time: Option<DateTime<Utc>>,
    /// Size in bytes (0 when deleted).
    pub size: u64,
    /// Where this version is on disk now (the path or the copy), if it is.
    pub file: Option<String>,
    /// Whether this side deleted the file.
    pub deleted: bool,
    /// Blob id, when known.
    pub blob: Option<String>,
    /// The content, when it is UTF-8 text below [`MAX_TEXT`].
    pub text: Option<String>,
}

/// A conflict the user can act on: pending (needs a decision) or resolved automatically (can be
/// undone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictView {
    /// Stable id (the same on every device).
    pub id: String,
    /// The path both sides changed.
    pub path: String,
    /// `content`, `add/add`, `modify/delete`, `markers`, ...
    pub kind: String,
    /// `pending` or `auto`.
    pub status: String,
    /// The strategy that handled it.
    pub strategy: Strategy,
    /// The rule that chose the strategy.
    pub rule: String,
    /// Whether either side is binary.
    pub binary: bool,
    /// The conflict copy, for keep-both conflicts.
    pub copy: Option<String>,
    /// This device's version.
    pub local: SideView,
    /// The other device's version.
    pub remote: SideView,
    /// The common ancestor's text, when known.
    pub base: Option<String>,
    /// The merge commit that recorded it.
    pub commit: Option<String>,
    /// Extra information (fallbacks, pruning).
    pub note: Option<String>,
}

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// This device's version wins.
    TakeLocal,
    /// The other device's version wins.
    TakeRemote,
    /// Both stay, the copy under a plain name.
    KeepBoth,
    /// This merged text replaces both.
    Merged(Vec<u8>),
}

fn short_id(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..12].to_string()
}

/// Returns a repo-relative path validated for writing: relative, no `..`, no NUL, not in
/// `.git` ([`crate::paths::check_relative`]).
pub fn checked_rel(rel: &str) -> Result<std::path::PathBuf> {
    crate::paths::check_relative(Path::new(rel)).map(Path::to_path_buf)
}

/// Returns the file at `rel` for a conflict action: checked, and reached without following a
/// symbolic link ([`crate::paths::resolve_inside`]), so no action reads, writes or removes
/// anything outside the folder.
fn full_path(root: &Path, rel: &str) -> Result<std::path::PathBuf> {
    crate::paths::resolve_inside(root, Path::new(rel))
}

/// Returns whether `rel` names something (a file, a directory or a link, even a dangling one).
fn taken(root: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(root.join(rel)).is_ok()
}

/// Reads `rel` for listing; a path the folder refuses (traversal, a link on the way, the file
/// itself a link) is None with a warning, so one crafted entry never hides the others.
fn read_listed(root: &Path, rel: &str) -> Result<Option<Option<Vec<u8>>>> {
    match read_opt(root, rel) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Invalid(why)) => {
            tracing::warn!("{}: not listing a conflict on `{rel}`: {why}", root.display());
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn read_opt(root: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let full = full_path(root, rel)?;
    match std::fs::symlink_metadata(&full) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(Error::Invalid(format!("{rel} is a symbolic link; resolve it by hand")))
        }
        Ok(_) => std::fs::read(&full).map(Some).map_err(|e| Error::io(&full, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&full, e)),
    }
}

fn text_of(bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_TEXT || bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes.to_vec()).ok()
}

fn blob_id(bytes: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, bytes).map(|o| o.to_string()).unwrap_or_default()
}

/// Replaces `rel` with `new` only if it still holds `expected` (None: absent): the safe write.
pub fn safe_replace(root: &Path, rel: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<()> {
    let current = read_opt(root, rel)?;
    if current.as_deref() != expected {
        return Err(Error::WorktreeChanged(format!(
            "{rel} changed since it was read; nothing written, look again"
        )));
    }
    let full = full_path(root, rel)?;
    if let Some(dir) = full.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::paths::write_atomic(&full, new)
}

/// Removes `rel` only if it still holds `expected`.
pub fn safe_remove(root: &Path, rel: &str, expected: &[u8]) -> Result<()> {
    if read_opt(root, rel)?.as_deref() != Some(expected) {
        return Err(Error::WorktreeChanged(format!(
            "{rel} changed since it was read; nothing removed, look again"
        )));
    }
    let full = full_path(root, rel)?;
    std::fs::remove_file(&full).map_err(|e| Error::io(&full, e))
}

fn view_from_version(
    v: &Option<Version>,
    repo: &crate::git::GitRepo,
    file: Option<String>,
) -> SideView {
    match v {
        Some(v) => SideView {
            device: v.device.clone(),
            time: Some(v.time),
            size: v.size,
            file,
            deleted: false,
            blob: Some(v.blob.clone()),
            text: repo.blob_bytes(&v.blob).ok().and_then(|b| text_of(&b)),
        },
        None => SideView {
            device: String::new(),
            time: None,
            size: 0,
            file: None,
            deleted: true,
            blob: None,
            text: None,
        },
    }
}

/// Lists the conflicts of a folder: pending ones (conflict copies present, marker files not
/// yet cleaned) and, with `include_auto`, automatic resolutions that can still be undone.
pub fn list(
    repo: &crate::git::GitRepo,
    device: &str,
    include_auto: bool,
) -> Result<Vec<ConflictView>> {
    let root = repo.workdir().to_path_buf();
    let records = repo.conflict_records(RECORD_WINDOW)?;
    let mut out = Vec::new();
    for copy in repo.conflict_copies()? {
        let Some(Some(copy_bytes)) = read_listed(&root, &copy)? else { continue };
        let Some(original) = original_of(&copy) else { continue };
        let record = records.iter().find(|(_, _, r)| r.copy.as_deref() == Some(copy.as_str()));
        let Some(path_bytes) = read_listed(&root, &original)? else { continue };
        let copy_dev = copy_device(&copy).unwrap_or_default();
        let (copy_version, path_version) = match record {
            Some((_, _, r)) => {
                let copy_is_local =
                    r.local.as_ref().is_some_and(|l| r.result.as_deref() != Some(&l.blob));
                if copy_is_local {
                    (r.local.clone(), r.remote.clone())
                } else {
                    (r.remote.clone(), r.local.clone())
                }
            }
            None => (None, None),
        };
        let copy_side = SideView {
            device: copy_version.as_ref().map(|v| v.device.clone()).unwrap_or(copy_dev.clone()),
            time: copy_version.as_ref().map(|v| v.time),
            size: copy_bytes.len() as u64,
            file: Some(copy.clone()),
            deleted: false,
            blob: Some(blob_id(&copy_bytes)),
            text: text_of(&copy_bytes),
        };
        let path_side = SideView {
            device: path_version.as_ref().map(|v| v.device.clone()).unwrap_or_default(),
            time: path_version.as_ref().map(|v| v.time),
            size: path_bytes.as_ref().map_or(0, |b| b.len() as u64),
            file: path_bytes.as_ref().map(|_| original.clone()),
            deleted: path_bytes.is_none(),
            blob: path_bytes.as_deref().map(blob_id),
            text: path_bytes.as_deref().and_then(text_of),
        };
        let copy_is_local = copy_side.device == device;
        let (local, remote) =
            if copy_is_local { (copy_side, path_side) } else { (path_side, copy_side) };
        let r = record.map(|(_, _, r)| r);
        out.push(ConflictView {
            id: short_id(&["copy", &copy]),
            path: original.clone(),
            kind: r.map_or("content".into(), |r| r.kind.clone()),
            status: "pending".into(),
            strategy: Strategy::Ask,
            rule: r.map_or("default".into(), |r| r.rule.clone()),
            binary: r.is_some_and(|r| r.binary) || local.text.is_none() && !local.deleted,
            copy: Some(copy.clone()),
            local,
            remote,
            base: r
                .and_then(|r| r.base.as_ref())
                .and_then(|b| repo.blob_bytes(b).ok())
                .and_then(|b| text_of(&b)),
            commit: record.map(|(c, _, _)| c.to_string()),
            note: r.and_then(|r| r.note.clone()),
        });
    }
    for (commit, _, r) in &records {
        // Records come from commit messages any device (or anyone with push access) wrote.
        let Some(current) = read_listed(&root, &r.path)? else { continue };
        let current_blob = current.as_deref().map(blob_id);
        if current_blob != r.result {
            continue; // superseded by a later change: nothing left to decide or undo here
        }
        let status = match r.strategy {
            Strategy::Markers => {
                let has_markers = current
                    .as_deref()
                    .is_some_and(|b| b.split(|&c| c == b'\n').any(|l| l.starts_with(MARKER_START)));
                if !has_markers {
                    continue;
                }
                "pending"
            }
            Strategy::Ask => continue, // listed through its copy
            _ if include_auto => "auto",
            _ => continue,
        };
        // Records say local/remote from the merging device's side; turn them to this one's.
        let mut local = view_from_version(&r.local, repo, None);
        let mut remote = view_from_version(&r.remote, repo, None);
        if remote.device == device && local.device != device {
            std::mem::swap(&mut local, &mut remote);
        }
        let id_kind = if status == "pending" { "markers" } else { "auto" };
        let commit_s = commit.to_string();
        out.push(ConflictView {
            id: short_id(&[id_kind, &commit_s, &r.path]),
            path: r.path.clone(),
            kind: if status == "pending" { "markers".into() } else { r.kind.clone() },
            status: status.into(),
            strategy: r.strategy,
            rule: r.rule.clone(),
            binary: r.binary,
            copy: None,
            local,
            remote,
            base: r.base.as_ref().and_then(|b| repo.blob_bytes(b).ok()).and_then(|b| text_of(&b)),
            commit: Some(commit_s),
            note: r.note.clone(),
        });
    }
    Ok(out)
}

/// Returns the plain name a kept copy gets (`notes.sync-conflict-…-beta.md` → `notes-beta.md`).
pub fn plain_name(copy: &str, root: &Path) -> String {
    let original = original_of(copy).unwrap_or_else(|| copy.to_string());
    let device = copy_device(copy).unwrap_or_else(|| "other".into());
    let slash = original.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (stem, ext) = match original[slash..].rfind('.') {
        Some(0) | None => (original.as_str(), ""),
        Some(i) => original.split_at(slash + i),
    };
    unique_name(&format!("{stem}-{device}{ext}"), |n| taken(root, n))
}

/// Applies the user's decision on a pending conflict through safe writes. The running engine
/// (or the next `sync`) commits and pushes the result.
pub fn resolve(
    repo: &crate::git::GitRepo,
    device: &str,
    id: &str,
    action: Action,
) -> Result<ConflictView> {
    let root = repo.workdir().to_path_buf();
    let c = find(repo, device, id)?;
    if c.status != "pending" {
        return Err(Error::Invalid(format!(
            "conflict {id} was resolved automatically ({}); use `conflicts undo {id}`",
            c.strategy
        )));
    }
    let path_now = read_opt(&root, &c.path)?;
    match &c.copy {
        Some(copy) => {
            let copy_bytes = read_opt(&root, copy)?
                .ok_or_else(|| Error::WorktreeChanged(format!("{copy} disappeared; look again")))?;
            let copy_is_local = c.local.file.as_deref() == Some(copy.as_str());
            let take_copy = match &action {
                Action::TakeLocal => Some(copy_is_local),
                Action::TakeRemote => Some(!copy_is_local),
                _ => None,
            };
            match action {
                Action::TakeLocal | Action::TakeRemote => {
                    if take_copy == Some(true) {
                        safe_replace(&root, &c.path, path_now.as_deref(), &copy_bytes)?;
                    }
                    safe_remove(&root, copy, &copy_bytes)?;
                }
                Action::KeepBoth => {
                    let plain = plain_name(copy, &root);
                    safe_replace(&root, &plain, None, &copy_bytes)?;
                    safe_remove(&root, copy, &copy_bytes)?;
                }
                Action::Merged(bytes) => {
                    safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?;
                    safe_remove(&root, copy, &copy_bytes)?;
                }
            }
        }
        None => {
            // A marker file: both versions come from the recorded blobs.
            let blob = |side: &SideView| -> Result<Option<Vec<u8>>> {
                side.blob.as_deref().map(|b| repo.blob_bytes(b)).transpose()
            };
            match action {
                Action::TakeLocal | Action::TakeRemote => {
                    let side = if action == Action::TakeLocal { &c.local } else { &c.remote };
                    match blob(side)? {
                        Some(bytes) => safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?,
                        None => {
                            safe_remove(&root, &c.path, path_now.as_deref().unwrap_or_default())?
                        }
                    }
                }
                Action::KeepBoth => {
                    let (Some(l), Some(r)) = (blob(&c.local)?, blob(&c.remote)?) else {
                        return Err(Error::Invalid("one side was deleted; take a side".into()));
                    };
                    let time = c.remote.time.unwrap_or_else(Utc::now);
                    let copy =
                        unique_name(&conflict_copy_name(&c.path, time, &c.remote.device), |n| {
                            taken(&root, n)
                        });
                    safe_replace(&root, &copy, None, &r)?;
                    safe_replace(&root, &c.path, path_now.as_deref(), &l)?;
                }
                Action::Merged(bytes) => safe_replace(&root, &c.path, path_now.as_deref(), &bytes)?,
            }
        }
    }
    Ok(c)
}

/// Undoes an automatic resolution: the version that lost comes back as a conflict copy (for
/// union, markers and command: this device's version at the path, the other as the copy), so the
/// conflict is pending again and nothing is lost either way.
pub fn undo(repo: &crate::git::GitRepo, device: &str, id: &str) -> Result<ConflictView> {
    let root = repo.workdir().to_path_buf();
    let c = find(repo, device, id)?;
    if c.status != "auto" {
        return Err(Error::Invalid(format!("conflict {id} was not resolved automatically")));
    }
    let current = read_opt(&root, &c.path)?;
    let current_blob = current.as_deref().map(blob_id);
    let blob = |side: &SideView| -> Result<Option<Vec<u8>>> {
        side.blob.as_deref().map(|b| repo.blob_bytes(b)).transpose()
    };
    match c.strategy {
        Strategy::Union | Strategy::Markers | Strategy::Command => {
            let (Some(l), Some(r)) = (blob(&c.local)?, blob(&c.remote)?) else {
                return Err(Error::Invalid("one side was deleted; nothing to split".into()));
            };
            let time = c.remote.time.unwrap_or_else(Utc::now);
            let copy = unique_name(&conflict_copy_name(&c.path, time, &c.remote.device), |n| {
                taken(&root, n)
            });
            safe_replace(&root, &copy, None, &r)?;
            safe_replace(&root, &c.path, current.as_deref(), &l)?;
        }
        _ => {
            let loser = if c.local.blob == current_blob { &c.remote } else { &c.local };
            match blob(loser)? {
                Some(bytes) => {
                    let time = loser.time.unwrap_or_else(Utc::now);
                    let copy =
                        unique_name(&conflict_copy_name(&c.path, time, &loser.device), |n| {
                            taken(&root, n)
                        });
                    safe_replace(&root, &copy, None, &bytes)?;
                }
                // The deletion lost: apply it (the kept version stays in history).
                None => safe_remove(&root, &c.path, current.as_deref().unwrap_or_default())?,
            }
        }
    }
    Ok(c)
}

/// Finds a conflict (pending or automatic) by id.
pub fn find(repo: &crate::git::GitRepo, device: &str, id: &str) -> Result<ConflictView> {
    list(repo, device, true)?
        .into_iter()
        .find(|c| c.id == id || (id.len() >= 4 && c.id.starts_with(id)))
        .ok_or_else(|| {
            Error::Invalid(format!("no conflict with id {id} (see `supersonic conflicts list`)"))
        })
}
