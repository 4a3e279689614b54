//! Bulk staging: a burst of new files (an unpacked archive, a copied folder, a build's output
//! before the user ignores it) staged as one pack instead of one loose object each.
//!
//! Staging through libgit2 writes every new file as a loose object: a temporary file, a link, an
//! unlink and an attribute lookup per file, which costs more than the hashing itself once the
//! batch holds thousands of files. Here the files are read, hashed and compressed on a few
//! threads, written as packs of whole objects (no deltas; `git gc` repacks later) through the
//! object database's pack writer, which indexes each pack before it becomes visible, and only
//! then entered in the index with the metadata they were read under.
//!
//! Invariants: nothing enters the index before its object is on disk in a complete pack; a file
//! whose size changed while it was read is not staged here but handed back to the slow path (the
//! next cycle sees it anyway); the fast path is taken only when no attribute or end-of-line
//! setting could make git store something other than the bytes on disk.

use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use git2::{IndexEntry, IndexTime, Oid, Repository};

use crate::{Error, Result};

/// Fewer new files than this go through libgit2 one by one: a pack per small batch would only
/// multiply pack files.
pub const MIN_FILES: usize = 256;
/// Larger files take the slow path (read in pieces, never held in memory together).
pub const MAX_FILE: u64 = 1024 * 1024;
/// Raw bytes per pack: bounds the memory a burst can take.
const PACK_BYTES: usize = 64 * 1024 * 1024;
/// Threads reading, hashing and compressing.
const MAX_THREADS: usize = 4;
/// How often the progress callback hears how many files were read.
pub const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// What happened to one file of the batch.
#[derive(Debug)]
pub enum Outcome {
    /// In a pack and in the index.
    Staged,
    /// Held back by the secret guard, with the reason.
    Held(String),
    /// Changed, vanished or unreadable while read: stage it the ordinary way.
    Retry,
}

/// Whether git could store a file's content differently from its bytes on disk (end-of-line
/// conversion, filters, `ident`): any attributes file or `core.autocrlf`. The fast path is only
/// taken when this is false; it is deliberately coarse.
pub fn filters_may_apply(
    repo: &Repository,
    index: &git2::Index,
    new: &[(PathBuf, Metadata)],
) -> bool {
    let config = match repo.config() {
        Ok(c) => c,
        Err(_) => return true,
    };
    let autocrlf = config.get_string("core.autocrlf").unwrap_or_default();
    if !autocrlf.is_empty() && !autocrlf.eq_ignore_ascii_case("false") {
        return true;
    }
    if config.get_path("core.attributesFile").is_ok() {
        return true;
    }
    let global = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .map(|c| c.join("git").join("attributes"));
    let files = [
        Some(repo.path().join("info").join("attributes")),
        global,
        Some("/etc/gitattributes".into()),
    ];
    if files.iter().flatten().any(|f| f.exists()) {
        return true;
    }
    let is_attributes = |p: &[u8]| p == b".gitattributes" || p.ends_with(b"/.gitattributes");
    index.iter().any(|e| is_attributes(&e.path))
        || new.iter().any(|(p, _)| is_attributes(p.as_os_str().as_bytes()))
}

/// Stages `files` (new regular files, each at most [`MAX_FILE`], relative to `workdir`) into
/// `index` through packs, and returns each file's outcome in order. `guard` is the secret
/// guard's released set when the guard is on; `progress(done, total)` is called as files are
/// read (every [`PROGRESS_EVERY`] at most, from this thread).
pub fn stage(
    repo: &Repository,
    workdir: &Path,
    index: &mut git2::Index,
    files: &[(PathBuf, Metadata)],
    guard: Option<&std::collections::BTreeSet<String>>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<Outcome>> {
    let filemode = repo.config().and_then(|c| c.get_bool("core.filemode")).unwrap_or(true);
    let odb = repo.odb().map_err(Error::git("open object database"))?;
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(files.len());
    let mut start = 0;
    while start < files.len() {
        // One pack's worth of files.
        let mut end = start;
        let mut bytes = 0usize;
        while end < files.len() && (end == start || bytes < PACK_BYTES) {
            bytes += files[end].1.len() as usize;
            end += 1;
        }
        let chunk = &files[start..end];
        let read = read_all(workdir, chunk, guard, &mut |n| {
            progress((start + n) as u64, files.len() as u64)
        });
        let ready: Vec<&Blob> = read
            .iter()
            .filter_map(|r| match r {
                Read_::Blob(b) => Some(b),
                _ => None,
            })
            .collect();
        if !ready.is_empty() {
            let pack = pack_of(ready.into_iter());
            let mut writer = odb.packwriter().map_err(Error::git("write pack"))?;
            writer.write_all(&pack).map_err(|e| Error::io(repo.path().join("objects/pack"), e))?;
            writer.commit().map_err(Error::git("index pack"))?;
            odb.refresh().map_err(Error::git("refresh object database"))?;
        }
        for ((rel, meta), r) in chunk.iter().zip(read) {
            outcomes.push(match r {
                Read_::Blob(b) => {
                    index
                        .add(&entry(rel, meta, b.oid, filemode))
                        .map_err(Error::git(format!("stage {}", rel.display())))?;
                    Outcome::Staged
                }
                Read_::Held(reason) => Outcome::Held(reason),
                Read_::Retry => Outcome::Retry,
            });
        }
        start = end;
    }
    Ok(outcomes)
}

/// One file read, hashed and compressed.
#[derive(Debug)]
struct Blob {
    oid: Oid,
    size: usize,
    deflated: Vec<u8>,
}

#[derive(Debug)]
enum Read_ {
    Blob(Blob),
    Held(String),
    Retry,
}

/// Reads, checks, hashes and compresses `files` on up to [`MAX_THREADS`] threads.
fn read_all(
    workdir: &Path,
    files: &[(PathBuf, Metadata)],
    guard: Option<&std::collections::BTreeSet<String>>,
    progress: &mut dyn FnMut(usize),
) -> Vec<Read_> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(files.len().max(1));
    let per = files.len().div_ceil(threads);
    let done = AtomicUsize::new(0);
    let (finished_tx, finished) = crossbeam_channel::unbounded::<()>();
    std::thread::scope(|s| {
        let done = &done;
        let handles: Vec<_> = files
            .chunks(per.max(1))
            .map(|part| {
                let finished_tx = finished_tx.clone();
                s.spawn(move || {
                    let read = part
                        .iter()
                        .map(|(rel, meta)| {
                            let read = read_one(workdir, rel, meta, guard);
                            done.fetch_add(1, Ordering::Relaxed);
                            read
                        })
                        .collect::<Vec<_>>();
                    let _ = finished_tx.send(());
                    read
                })
            })
            .collect();
        drop(finished_tx);
        // Wake at once when the last thread is done (or one panicked: the channel closes).
        let mut running = handles.len();
        while running > 0 {
            match finished.recv_timeout(PROGRESS_EVERY) {
                Ok(()) => running -= 1,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    progress(done.load(Ordering::Relaxed));
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        progress(files.len());
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

fn read_one(
    workdir: &Path,
    rel: &Path,
    meta: &Metadata,
    guard: Option<&std::collections::BTreeSet<String>>,
) -> Read_ {
    let mut content = Vec::with_capacity(meta.len() as usize);
    let read = std::fs::File::open(workdir.join(rel)).and_then(|mut f| f.read_to_end(&mut content));
    if read.is_err() || content.len() as u64 != meta.len() {
        return Read_::Retry;
    }
    if let Some(released) = guard {
        if !released.contains(rel.to_string_lossy().as_ref()) {
            let head = &content[..content.len().min(crate::guard::SCAN_BYTES as usize)];
            if let Some(reason) = crate::guard::check_content(rel, head) {
                return Read_::Held(reason);
            }
        }
    }
    let mut sha = sha1_smol::Sha1::new();
    sha.update(format!("blob {}\0", content.len()).as_bytes());
    sha.update(&content);
    let Ok(oid) = Oid::from_bytes(&sha.digest().bytes()) else { return Read_::Retry };
    let mut z = ZlibEncoder::new(Vec::with_capacity(content.len() / 2 + 64), Compression::fast());
    if z.write_all(&content).is_err() {
        return Read_::Retry;
    }
    match z.finish() {
        Ok(deflated) => Read_::Blob(Blob { oid, size: content.len(), deflated }),
        Err(_) => Read_::Retry,
    }
}

/// A version 2 pack of whole blobs, with its SHA-1 trailer.
fn pack_of<'a>(blobs: impl ExactSizeIterator<Item = &'a Blob>) -> Vec<u8> {
    const BLOB: u8 = 3;
    let mut pack = Vec::new();
    pack.extend_from_slice(b"PACK");
    pack.extend_from_slice(&2u32.to_be_bytes());
    pack.extend_from_slice(&(blobs.len() as u32).to_be_bytes());
    for blob in blobs {
        // Type and size: 3 type bits and 4 size bits, then 7 size bits a byte, low first.
        let mut size = blob.size;
        let mut byte = (BLOB << 4) | (size & 0x0f) as u8;
        size >>= 4;
        while size > 0 {
            pack.push(byte | 0x80);
            byte = (size & 0x7f) as u8;
            size >>= 7;
        }
        pack.push(byte);
        pack.extend_from_slice(&blob.deflated);
    }
    let digest = sha1_smol::Sha1::from(&pack).digest().bytes();
    pack.extend_from_slice(&digest);
    pack
}

/// The index entry of `rel` as read under `meta`, the way git records a new file.
fn entry(rel: &Path, meta: &Metadata, oid: Oid, filemode: bool) -> IndexEntry {
    let path = rel.as_os_str().as_bytes().to_vec();
    let executable = filemode && meta.mode() & 0o111 != 0;
    IndexEntry {
        ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
        mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: if executable { 0o100755 } else { 0o100644 },
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.len() as u32,
        id: oid,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git_and_packs_index_in_libgit2() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut files = Vec::new();
        // Sizes around the header's 4-bit and 7-bit boundaries, and an empty file.
        for (i, size) in [0usize, 1, 15, 16, 127, 128, 2047, 2048, 70_000].iter().enumerate() {
            let rel = PathBuf::from(format!("d/f{i}"));
            std::fs::create_dir_all(dir.path().join("d")).unwrap();
            let content: Vec<u8> = (0..*size).map(|n| (n * 7 + i) as u8).collect();
            std::fs::write(dir.path().join(&rel), &content).unwrap();
            let meta = std::fs::symlink_metadata(dir.path().join(&rel)).unwrap();
            files.push((rel, meta, content));
        }
        let mut index = repo.index().unwrap();
        let list: Vec<(PathBuf, Metadata)> =
            files.iter().map(|(r, m, _)| (r.clone(), m.clone())).collect();
        let mut reported = Vec::new();
        let outcomes =
            stage(&repo, dir.path(), &mut index, &list, None, &mut |d, t| reported.push((d, t)))
                .unwrap();
        assert_eq!(reported.last(), Some(&(9, 9)), "progress ends at all files: {reported:?}");
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Staged)), "{outcomes:?}");
        for (rel, _, content) in &files {
            let entry = index.get_path(rel, 0).unwrap();
            assert_eq!(entry.id, Oid::hash_object(git2::ObjectType::Blob, content).unwrap());
            let blob = repo.find_blob(entry.id).unwrap();
            assert_eq!(blob.content(), &content[..], "{} reads back from the pack", rel.display());
        }
        let packs = std::fs::read_dir(repo.path().join("objects/pack")).unwrap().count();
        assert_eq!(packs, 2, "one .pack and its .idx");
    }

    #[test]
    fn a_file_that_changed_size_since_its_stat_is_handed_back() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), b"short").unwrap();
        let meta = std::fs::symlink_metadata(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a"), b"longer now").unwrap();
        let mut index = repo.index().unwrap();
        let out = stage(&repo, dir.path(), &mut index, &[("a".into(), meta)], None, &mut |_, _| {})
            .unwrap();
        assert!(matches!(out[0], Outcome::Retry));
        assert!(index.get_path(Path::new("a"), 0).is_none(), "nothing staged for it");
    }

    #[test]
    fn attributes_anywhere_turn_the_fast_path_off() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path().join("r")).unwrap();
        let index = repo.index().unwrap();
        let new = vec![(PathBuf::from("a.txt"), std::fs::metadata(dir.path()).unwrap())];
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        let machine_has_attributes = Path::new("/etc/gitattributes").exists()
            || home.join(".config/git/attributes").exists()
            || std::env::var_os("XDG_CONFIG_HOME")
                .is_some_and(|x| Path::new(&x).join("git/attributes").exists());
        if !machine_has_attributes {
            assert!(!filters_may_apply(&repo, &index, &new));
        }
        let with_attrs = vec![(PathBuf::from("sub/.gitattributes"), new[0].1.clone())];
        assert!(filters_may_apply(&repo, &index, &with_attrs));
        repo.config().unwrap().set_str("core.autocrlf", "input").unwrap();
        assert!(filters_may_apply(&repo, &index, &new));
    }
}
