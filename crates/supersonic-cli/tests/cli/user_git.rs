//! The user's own git work in the synced folder, next to a running daemon: a merge in
//! progress, a rebase in progress, a detached HEAD or another branch, and an `index.lock` held
//! by a running git. The engine waits (its folder state says why), touches nothing — no
//! commit, no checkout, no removed lock, no push — and resumes by itself once the user is done.
//!
//! "Touches nothing" is checked after asking the daemon for a cycle (`supersonic sync` goes
//! through its control socket), so each check follows a cycle that really ran and refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// A running daemon on a folder whose `base.md` reached the remote.
struct Running {
    sb: Sandbox,
    dev: Device,
    dir: PathBuf,
    remote: PathBuf,
}

fn running() -> Running {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("alpha-notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    write(&dir.join("base.md"), "base\n");
    dev.start();
    let r = Running { sb, dev, dir, remote };
    r.wait_remote("base.md", "base\n");
    r
}

impl Running {
    /// Returns `path` on the remote's main branch.
    fn remote_file(&self, path: &str) -> Option<String> {
        let out = self.sb.git_output(&self.remote, &["show", &format!("main:{path}")]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_remote(&self, path: &str, content: &str) {
        wait_until(&format!("{path} = {content:?} on the remote"), CONVERGE, || {
            self.remote_file(path).as_deref() == Some(content)
        });
    }

    fn rev(&self, repo: &Path, rev: &str) -> String {
        self.sb.git(repo, &["rev-parse", rev])
    }

    /// Runs the user's `git args`, again while the daemon's own cycle holds the index for a
    /// moment (git then fails at once with "index.lock: File exists").
    fn user_git(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut out = None;
        wait_until(&format!("git {args:?} to get the index"), CONVERGE, || {
            let mut cmd = self.sb.git_command(&self.dir, args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let o = cmd.output().unwrap();
            let locked = String::from_utf8_lossy(&o.stderr).contains(".lock");
            out = Some(o);
            !locked
        });
        out.unwrap()
    }

    /// Asks the daemon for a cycle now and expects it to refuse, naming `why`.
    fn sync_waits_for(&self, why: &str) {
        let out = self.dev.run(&["sync"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a sync must wait while {why}: {stderr}");
        assert!(stderr.contains(why), "the refusal says why ({why}): {stderr}");
        let status: serde_json::Value =
            serde_json::from_str(&self.dev.cli(&["status", "--json"])).unwrap();
        assert_eq!(status[0]["state"], "waiting", "the folder waits: {status}");
        assert!(status[0]["reason"].as_str().unwrap().contains(why), "{status}");
    }

    fn wait_idle(&self) {
        wait_until("the folder to be idle again", CONVERGE, || {
            let s: serde_json::Value =
                serde_json::from_str(&self.dev.cli(&["status", "--json"])).unwrap();
            s[0]["state"] == "idle"
        });
    }
}

#[test]
fn the_users_merge_in_progress_is_left_alone_and_syncing_resumes_after_the_commit() {
    let r = running();
    // Another device pushes a branch that changes the same file differently.
    let peer = r.sb.clone(r.remote.to_str().unwrap(), "peer");
    write(&peer.join("base.md"), "side version\n");
    r.sb.git(&peer, &["commit", "-qam", "side"]);
    r.sb.git(&peer, &["push", "-q", "origin", "HEAD:refs/heads/side"]);
    let side = r.rev(&peer, "HEAD");
    write(&r.dir.join("base.md"), "local version\n");
    r.wait_remote("base.md", "local version\n");
    // The user merges it by hand and gets a conflict.
    r.user_git(&["fetch", "-q", "origin", "side"], &[]);
    let merge = r.user_git(&["merge", "--no-edit", "FETCH_HEAD"], &[]);
    assert!(r.dir.join(".git/MERGE_HEAD").exists(), "a merge in progress: {merge:?}");
    let head = r.rev(&r.dir, "HEAD");
    let remote_main = r.rev(&r.remote, "main");
    let with_markers = read(&r.dir.join("base.md")).unwrap();
    assert!(with_markers.contains("<<<<<<<"), "git wrote conflict markers: {with_markers}");

    write(&r.dir.join("during.md"), "written during the merge\n");
    r.sync_waits_for("merge is in progress");
    assert!(r.dir.join(".git/MERGE_HEAD").exists(), "the merge is still in progress");
    assert_eq!(r.rev(&r.dir, "HEAD"), head, "no commit on top of the user's merge");
    assert_eq!(r.rev(&r.remote, "main"), remote_main, "nothing pushed");
    assert_eq!(read(&r.dir.join("base.md")).unwrap(), with_markers, "the file is untouched");
    let unmerged = r.sb.git(&r.dir, &["diff", "--name-only", "--diff-filter=U"]);
    assert_eq!(unmerged, "base.md", "the conflict is still the user's to resolve");

    // The user resolves and commits; the engine picks up from there.
    write(&r.dir.join("base.md"), "resolved by hand\n");
    r.user_git(&["add", "base.md"], &[]);
    let commit = r.user_git(&["commit", "-q", "--no-edit"], &[]);
    assert!(commit.status.success(), "{commit:?}");
    r.wait_remote("base.md", "resolved by hand\n");
    r.wait_remote("during.md", "written during the merge\n");
    let is_ancestor = r.sb.git_output(&r.remote, &["merge-base", "--is-ancestor", &side, "main"]);
    assert!(is_ancestor.status.success(), "the user's merge (with side) was pushed as made");
    r.wait_idle();
}

#[test]
fn the_users_rebase_in_progress_is_left_alone_and_syncing_resumes_after_continue() {
    let r = running();
    // An interactive rebase that stops at once (`break`): rebase-merge/ and a detached HEAD.
    let editor = "sh -c 'echo break > \"$1\"' sh";
    let out = r.user_git(&["rebase", "-i", "HEAD"], &[("GIT_SEQUENCE_EDITOR", editor)]);
    assert!(r.dir.join(".git/rebase-merge").is_dir(), "a rebase in progress: {out:?}");
    let remote_main = r.rev(&r.remote, "main");
    let main = r.rev(&r.dir, "refs/heads/main");
    // During the rebase the user commits one file and leaves another uncommitted.
    write(&r.dir.join("rebased.md"), "committed during the rebase\n");
    r.user_git(&["add", "rebased.md"], &[]);
    r.user_git(&["commit", "-q", "-m", "made during the rebase"], &[]);
    let detached = r.rev(&r.dir, "HEAD");
    write(&r.dir.join("loose.md"), "left uncommitted during the rebase\n");

    r.sync_waits_for("rebase");
    assert!(r.dir.join(".git/rebase-merge").is_dir(), "the rebase is still in progress");
    assert_eq!(r.rev(&r.dir, "HEAD"), detached, "no commit on the user's detached HEAD");
    assert_eq!(r.rev(&r.dir, "refs/heads/main"), main, "the branch did not move");
    assert_eq!(r.rev(&r.remote, "main"), remote_main, "nothing pushed");
    let untracked = r.sb.git(&r.dir, &["status", "--porcelain"]);
    assert_eq!(untracked, "?? loose.md", "the loose file is left as the user left it");

    let out = r.user_git(&["rebase", "--continue"], &[]);
    assert!(out.status.success(), "{out:?}");
    r.wait_remote("rebased.md", "committed during the rebase\n");
    r.wait_remote("loose.md", "left uncommitted during the rebase\n");
    let log = r.sb.git(&r.remote, &["log", "--format=%s", "main"]);
    assert!(log.contains("made during the rebase"), "the user's own commit was pushed: {log}");
    r.wait_idle();
}

#[test]
fn a_detached_head_or_another_branch_waits_and_never_commits_the_old_checkout() {
    let r = running();
    write(&r.dir.join("base.md"), "version 2\n");
    r.wait_remote("base.md", "version 2\n");
    let main = r.rev(&r.dir, "refs/heads/main");

    // The user looks at the previous version: the work tree holds old content now.
    r.user_git(&["checkout", "-q", "HEAD~1"], &[]);
    assert_eq!(read(&r.dir.join("base.md")).as_deref(), Some("base\n"));
    r.sync_waits_for("detached");
    assert_eq!(r.rev(&r.dir, "refs/heads/main"), main, "the old checkout is not committed");
    assert_eq!(r.remote_file("base.md").as_deref(), Some("version 2\n"), "nothing reverted");
    assert_eq!(read(&r.dir.join("base.md")).as_deref(), Some("base\n"), "no checkout by us");

    // Then works on a branch of their own.
    r.user_git(&["switch", "-q", "-c", "experiment"], &[]);
    write(&r.dir.join("experiment.md"), "not for main\n");
    r.user_git(&["add", "experiment.md"], &[]);
    r.user_git(&["commit", "-q", "-m", "experiment"], &[]);
    r.sync_waits_for("HEAD is on experiment");
    assert_eq!(r.rev(&r.dir, "refs/heads/main"), main, "main did not move");
    assert_eq!(r.remote_file("experiment.md"), None, "the branch's work stays off main");

    // Back on main: syncing resumes with the newest version, nothing reverted.
    r.user_git(&["switch", "-q", "main"], &[]);
    write(&r.dir.join("after.md"), "after switching back\n");
    r.wait_remote("after.md", "after switching back\n");
    assert_eq!(r.remote_file("base.md").as_deref(), Some("version 2\n"));
    assert_eq!(r.remote_file("experiment.md"), None, "experiment.md went away with its branch");
    let changes = r.sb.git(&r.remote, &["log", "--format=%H", "main", "--", "base.md"]);
    assert_eq!(changes.lines().count(), 2, "base.md changed twice, never reverted: {changes}");
    r.wait_idle();
}

/// The process standing in for a running git; killed if the test fails first.
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_index_lock_held_by_a_running_git_is_waited_for_and_never_removed() {
    let r = running();
    let lock = r.dir.join(".git/index.lock");
    // A git that holds the index: it created the lock and keeps it open.
    let mut holder = Holder(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3>\"$1\"; exec sleep 600")
            .arg("sh")
            .arg(&lock)
            .spawn()
            .unwrap(),
    );
    wait_until("the lock to exist", CONVERGE, || lock.exists());
    write(&r.dir.join("while-locked.md"), "written while git holds the index\n");
    // Past the age at which an unheld lock counts as a crash leftover.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
    let remote_main = r.rev(&r.remote, "main");
    r.sync_waits_for("held by process");
    assert!(lock.exists(), "a held lock is never removed");
    assert_eq!(r.rev(&r.remote, "main"), remote_main, "nothing pushed");
    assert_eq!(r.remote_file("while-locked.md"), None);

    // The git finishes: it lets go of the lock and removes it.
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    std::fs::remove_file(&lock).unwrap();
    r.wait_remote("while-locked.md", "written while git holds the index\n");
    r.wait_idle();
}
