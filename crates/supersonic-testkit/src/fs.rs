//! Files for tests: writing one with its folders, and reading a whole folder back.
//!
//! [`write`] is how a test plays the user who saves a file; [`tree`] and [`tree_with_links`]
//! read what a folder holds so two folders (or one folder before and after) compare with `==`.
//! They read what is on disk, with no knowledge of the engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `content` to `path`, creating the folders above it first.
///
/// # Panics
///
/// Panics when a folder cannot be created or the file cannot be written.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

/// Returns every file below `dir` with its bytes, by path relative to `dir`, leaving out every
/// `.git` entry (at any depth).
///
/// Made for comparing the folders of devices while their daemons run: a file that cannot be
/// read (it was removed between listing and reading) counts as empty, so the comparison says
/// "not yet" instead of failing the test.
///
/// # Panics
///
/// Panics when a directory below `dir` cannot be listed.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walk(dir, dir)
}

fn walk(root: &Path, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        let ft = entry.file_type().unwrap();
        if ft.is_dir() {
            out.extend(walk(root, &path));
        } else {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

/// Returns what `dir` holds: each file's bytes and each link as `-> target`, by path relative
/// to `dir`, without following any link.
///
/// # Panics
///
/// Panics when a directory, file or link below `dir` cannot be read.
pub fn tree_with_links(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("-> {}", target.display()).into_bytes());
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}
