//! Kernel-level faults confined to a test: a small private tmpfs (a disk that fills up) and a
//! lowered inotify watch limit, neither visible to nor changing anything on the host.
//!
//! **A private tmpfs.** [`Tmpfs::mount_private`] gives the *calling thread* a mount namespace of
//! its own (`unshare(CLONE_NEWNS)`; threads may do this alone, unlike `CLONE_NEWUSER`), makes
//! every mount in it private (so nothing propagates back to the host's shared `/`), and mounts
//! a tmpfs of the given size on a directory. Every process the thread starts afterwards
//! (`supersonic init`, the daemon, `git`) inherits the namespace and sees the small disk; the
//! test's own file operations on that thread see it too. When the thread and its children are
//! gone the namespace, and the mount, disappear with them, so a crashed test leaves no mount
//! behind on the host. Why not the alternatives: a mount in the host namespace would be seen by
//! everyone and outlive a crashed test; running the daemon under `unshare -Urm sh -c 'mount
//! ...; exec supersonic run'` ties the mount to one daemon process, so the test could only reach
//! the folder through `/proc/PID/root` and a daemon restart would lose it.
//!
//! It needs `CAP_SYS_ADMIN` (root, as in our CI containers); without it the constructor returns
//! why, and the test prints `SKIP` instead of passing silently.
//!
//! **A lowered inotify watch limit.** [`inotify_limit_wrapper`] is a command prefix that runs a
//! program in a fresh user namespace whose `user.max_inotify_watches` is lowered. That sysctl is
//! per user namespace (ucounts), so the host's limit is untouched. Never write
//! `/proc/sys/fs/inotify/*` from such a namespace instead: those files are the *host's* values,
//! and a process that is root on the host may change them from inside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// A tmpfs mounted in the calling thread's private mount namespace; unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Moves the calling thread into a private mount namespace and mounts a tmpfs of
    /// `size_bytes` on `dir` (which must exist).
    ///
    /// Only this thread, and the processes it starts from now on, see the mount. Returns why
    /// when the privilege is missing (the caller skips the test then).
    pub fn mount_private(dir: &Path, size_bytes: u64) -> Result<Tmpfs, String> {
        unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS) failed ({e}): needs CAP_SYS_ADMIN"))?;
        // Without this, a mount under a shared `/` would propagate to the host's namespace.
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
            .map_err(|e| format!("making / private in the new mount namespace failed: {e}"))?;
        let options = format!("size={size_bytes},mode=0755");
        mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), Some(options.as_str()))
            .map_err(|e| format!("mount -t tmpfs on {} failed: {e}", dir.display()))?;
        Ok(Tmpfs { dir: dir.to_path_buf() })
    }

    /// Returns the mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process still inside (a daemon being reaped) does not keep it mounted.
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
    }
}

/// Returns a command prefix running a program in a new user namespace whose inotify watch
/// limit is `watches`, or why that is not possible here.
///
/// Use it with [`crate::Device::set_daemon_wrapper`]. The program keeps its pid (`unshare` and
/// `sh` exec it), so signals and `/proc/PID` reach the real daemon.
pub fn inotify_limit_wrapper(watches: u32) -> Result<Vec<String>, String> {
    let script = format!(
        "echo {watches} > /proc/sys/user/max_inotify_watches && \
         [ \"$(cat /proc/sys/user/max_inotify_watches)\" = {watches} ] && exec \"$0\" \"$@\""
    );
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &script, "true"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "cannot lower user.max_inotify_watches in a user namespace: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(["unshare", "--user", "--map-root-user", "sh", "-c", &script]
        .iter()
        .map(|s| (*s).to_owned())
        .collect())
}
