//! Conflict copy names, Syncthing's: `<stem>.sync-conflict-YYYYMMDD-HHMMSS-<device>.<ext>`, and
//! reading them back (original path, time, device). Pure functions of their inputs.

use chrono::{DateTime, Utc};

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
    fn unique_name_adds_a_counter_before_the_extension() {
        let taken = ["a/b.txt", "a/b-2.txt"];
        assert_eq!(unique_name("a/b.txt", |n| taken.contains(&n)), "a/b-3.txt");
        assert_eq!(unique_name("c.txt", |n| taken.contains(&n)), "c.txt");
    }
}
