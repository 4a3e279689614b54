//! Small repository operations the façade ([`crate::api`]) needs outside a synced folder's open
//! [`GitRepo`](crate::git::GitRepo): what an existing repository in a folder is set to, creating
//! an embedded bare remote, reading and hashing blobs, checking a branch name, and moving HEAD
//! to another branch without touching a file.
//!
//! Each is a free function over a path, opening the repository for the one call, so that no
//! other module of the core needs `git2`. Error contexts are the ones the façade reports.

use std::path::Path;

use git2::{ObjectType, Oid, Reference, Repository, RepositoryInitOptions};

use crate::{Error, Result};

/// What an existing repository in a folder is set to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingRepo {
    /// The URL of its `origin` remote, when it has one.
    pub origin: Option<String>,
    /// The branch HEAD names, when HEAD is a symbolic reference.
    pub head_branch: Option<String>,
}

/// Returns what the repository at `path` is set to, or `None` when there is no repository.
pub fn existing_repo(path: &Path) -> Option<ExistingRepo> {
    let repo = Repository::open(path).ok()?;
    let origin = repo.find_remote(super::REMOTE).ok().and_then(|o| o.url().map(str::to_string));
    let head_branch = repo.find_reference("HEAD").ok().and_then(|head| {
        head.symbolic_target().map(|t| t.trim_start_matches("refs/heads/").to_string())
    });
    Some(ExistingRepo { origin, head_branch })
}

/// Creates an empty bare repository at `path` whose HEAD names `branch` (a folder's embedded
/// remote).
pub fn init_bare_remote(path: &Path, branch: &str) -> Result<()> {
    let mut opts = RepositoryInitOptions::new();
    opts.bare(true).initial_head(branch);
    Repository::init_opts(path, &opts)
        .map_err(Error::git(format!("create embedded remote {}", path.display())))?;
    Ok(())
}

/// A blob read with a size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobRead {
    /// The blob's content.
    Content(Vec<u8>),
    /// The blob is larger than the limit (its size in bytes); nothing was read.
    TooLarge(u64),
}

/// Reads the blob `id` (hex) of the repository at `repo_path`, unless it is over `limit` bytes
/// (its size is read from the object header first, so a large blob is never loaded).
pub fn read_blob(repo_path: &Path, id: &str, limit: u64) -> Result<BlobRead> {
    let repo = Repository::open(repo_path)
        .map_err(Error::git(format!("cannot open repository {}", repo_path.display())))?;
    let oid = Oid::from_str(id).map_err(Error::git("parse blob id"))?;
    let (size, _) = repo
        .odb()
        .and_then(|odb| odb.read_header(oid))
        .map_err(Error::git(format!("read blob {id}")))?;
    if size as u64 > limit {
        return Ok(BlobRead::TooLarge(size as u64));
    }
    let found = repo.find_blob(oid).map_err(Error::git(format!("read blob {id}")))?;
    Ok(BlobRead::Content(found.content().to_vec()))
}

/// Returns the id (hex) git gives `bytes` as a blob.
pub fn blob_id(bytes: &[u8]) -> Result<String> {
    let oid = Oid::hash_object(ObjectType::Blob, bytes).map_err(Error::git("hash content"))?;
    Ok(oid.to_string())
}

/// Returns whether `refs/heads/<name>` is a valid reference name.
pub fn is_valid_branch_ref(name: &str) -> bool {
    Reference::is_valid_name(&format!("refs/heads/{name}"))
}

/// What [`switch_branch_in_place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchSwitch {
    /// HEAD names the branch now (created at the current commit when it was missing).
    Switched,
    /// The branch exists at another commit: checking it out would rewrite files, so HEAD was
    /// left as it was.
    ExistsElsewhere,
}

/// Moves HEAD of the repository at `path` to `branch` without touching a file: a missing branch
/// is created at the current commit (when there is one), a branch already at the current commit
/// is taken as it is, and a branch at another commit is refused
/// ([`BranchSwitch::ExistsElsewhere`], HEAD unmoved).
pub fn switch_branch_in_place(path: &Path, branch: &str) -> Result<BranchSwitch> {
    let repo = Repository::open(path)
        .map_err(Error::git(format!("cannot open repository {}", path.display())))?;
    let target = format!("refs/heads/{branch}");
    let current = repo.head().ok().and_then(|h| h.target());
    match repo.refname_to_id(&target) {
        Ok(existing) if Some(existing) != current => return Ok(BranchSwitch::ExistsElsewhere),
        Ok(_) => {}
        Err(_) => {
            if let Some(commit) = current {
                repo.reference(&target, commit, false, "supersonic: sync another branch")
                    .map_err(Error::git(format!("create branch {branch}")))?;
            }
        }
    }
    repo.set_head(&target).map_err(Error::git(format!("switch to {branch}")))?;
    Ok(BranchSwitch::Switched)
}
