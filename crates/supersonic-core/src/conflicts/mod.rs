//! Conflicts: when two devices changed the same file, every edit survives and the user decides
//! with the full picture.
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
//!
//! The pure parts ([`policy`], [`naming`], [`merge`]) know no repository, so the git module can
//! use them while [`inbox`] (the user's operations) uses the git module.

pub mod command;
pub mod inbox;
pub mod merge;
pub mod naming;
pub mod policy;

pub use command::{run_merge_command, MergeInput};
pub use inbox::*;
pub use merge::{drop_union_duplicates, merge_json, merge_json_bytes};
pub use naming::{
    conflict_copy_name, copy_device, copy_timestamp, is_conflict_copy, original_of, unique_name,
    CONFLICT_MARKER,
};
pub use policy::{Policy, Resolution, Version, TRAILER};
