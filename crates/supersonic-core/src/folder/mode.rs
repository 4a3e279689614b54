//! What each folder mode means for a sync: the decisions the cycle asks of [`Mode`] instead of
//! comparing modes where it acts. Two-way commits, pushes and pulls; push-only (a backup, a
//! seed) commits and pushes but never applies remote changes; pull-only (a mirror) applies
//! remote changes and never commits nor writes to the remote.

use crate::config::Mode;

impl Mode {
    /// Returns whether local edits are committed (a mirror never commits them).
    pub fn commits_local_changes(self) -> bool {
        self != Mode::PullOnly
    }

    /// Returns whether this device writes to the remote: pushes its commits and records its
    /// last sync there.
    pub fn pushes(self) -> bool {
        self != Mode::PullOnly
    }

    /// Returns whether remote changes are applied to the folder.
    pub fn pulls(self) -> bool {
        self != Mode::PushOnly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_commits_pushes_and_pulls_as_its_name_says() {
        let table = [
            (Mode::TwoWay, true, true, true),
            (Mode::PushOnly, true, true, false),
            (Mode::PullOnly, false, false, true),
        ];
        for (mode, commits, pushes, pulls) in table {
            assert_eq!(mode.commits_local_changes(), commits, "{mode} commits");
            assert_eq!(mode.pushes(), pushes, "{mode} pushes");
            assert_eq!(mode.pulls(), pulls, "{mode} pulls");
        }
    }
}
