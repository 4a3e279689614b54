//! Repository growth (size, objects, packs) and garbage collection.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::status::RepoGrowth;
use crate::{Error, Result};

use super::process::{run_git, RunOptions};
use super::GitRepo;

impl GitRepo {
    /// Measures how big the repository is (see [`RepoGrowth`]): the index's record of tracked
    /// sizes, one walk of `.git` (never of the work tree) and one walk of the commits from HEAD.
    /// Costs milliseconds on a small repository and grows with history; the engine calls it off
    /// the hot path, at most every few minutes.
    pub fn growth(&self, now: DateTime<Utc>) -> Result<RepoGrowth> {
        let index = self.repo.index().map_err(Error::git("open index"))?;
        let (tracked_files, worktree_bytes) =
            index.iter().fold((0u64, 0u64), |(n, b), e| (n + 1, b + u64::from(e.file_size)));
        let git_dir = self.repo.path().to_path_buf();
        let mut g = RepoGrowth {
            worktree_bytes,
            tracked_files,
            measured_at: now.to_rfc3339(),
            ..RepoGrowth::default()
        };
        let mut stack = vec![git_dir.clone()];
        let objects = git_dir.join("objects");
        let packs = objects.join("pack");
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue }; // gone meanwhile
                let path = entry.path();
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                g.git_bytes += meta.len();
                if dir == packs {
                    if path.extension().is_some_and(|e| e == "pack") {
                        g.pack_bytes += meta.len();
                    }
                } else if dir.parent() == Some(objects.as_path())
                    && dir.file_name().is_some_and(|n| {
                        n.len() == 2 && n.to_string_lossy().bytes().all(|b| b.is_ascii_hexdigit())
                    })
                {
                    g.loose_objects += 1;
                    g.loose_bytes += meta.len();
                }
            }
        }
        if let Some(head) = self.head()? {
            let mut walk = self.repo.revwalk().map_err(Error::git("walk history"))?;
            walk.push(head).map_err(Error::git("walk history"))?;
            g.commits = walk.count() as u64;
        }
        Ok(g)
    }

    /// Runs `git gc` on the repository (`--auto`: only when git's own thresholds say so),
    /// at low priority (`nice`, when installed), in the foreground (never detached, so it ends
    /// before the next cycle), killed when `timeout` passes. The caller makes sure no cycle of
    /// the folder runs meanwhile.
    pub fn gc(&self, auto: bool, timeout: Duration) -> Result<()> {
        let workdir = self.workdir.display().to_string();
        let mut args = vec!["-c", "gc.autoDetach=false", "gc", "--quiet"];
        if auto {
            args.push("--auto");
        }
        let out = run_git(
            "gc",
            &workdir,
            Some(&self.workdir),
            &args,
            timeout,
            RunOptions { low_priority: true, ..RunOptions::default() },
        )?;
        // libgit2 keeps the old pack list; let it see the new packs at once.
        if let Ok(odb) = self.repo.odb() {
            let _ = odb.refresh();
        }
        if out.success {
            Ok(())
        } else {
            Err(Error::Git {
                context: format!("git gc in {workdir}"),
                source: git2::Error::from_str(out.stderr.trim()),
            })
        }
    }
}
