//! What the rest of the crate needs of libgit2 without a repository: its error type as
//! [`Error`](crate::Error) carries it, and branch-name validity; so that only `git/`
//! names git2. A leaf: it imports nothing from the crate, so `error` can use it without a loop.

/// An error from libgit2.
pub type GitError = git2::Error;

/// Returns whether libgit2 failed because another process holds a lock (a transient state).
pub fn is_lock_contention(error: &GitError) -> bool {
    error.code() == git2::ErrorCode::Locked
}

/// Returns whether `name` is a valid branch name for git (`refs/heads/<name>`).
pub fn is_valid_branch_name(name: &str) -> bool {
    git2::Branch::name_is_valid(name) == Ok(true)
}
