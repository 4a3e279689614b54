//! The machine runs out of something: disk space, inotify watches, room in the inotify queue.
//! Each test provokes the real kernel condition for its own daemon only (a private tmpfs, a
//! user namespace with a lowered limit, a stopped reader) and never changes the host; where the
//! privilege is missing it prints `SKIP` and says why.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use supersonic_testkit::{inotify_limit_wrapper, Tmpfs};

use crate::common::*;

/// Returns `len` bytes that do not compress (so git needs as much disk for them as they take).
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Appends to `path` until the disk is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0;
    for chunk in [64 * 1024, 4096, 512] {
        let block = vec![0u8; chunk];
        loop {
            match file.write_all(&block) {
                Ok(()) => written += chunk as u64,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    written
}

/// [`wait_until`] that shows the daemon's status and log when the wait times out.
fn wait_daemon(dev: &Device, what: &str, condition: impl FnMut() -> bool) {
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(what, CONVERGE, condition);
    }));
    if waited.is_err() {
        let status = dev.run(&["status", "--json"]);
        panic!(
            "timed out waiting for {what}\n--- status\n{}\n--- log\n{}",
            String::from_utf8_lossy(&status.stdout),
            dev.log()
        );
    }
}

fn status(dev: &Device) -> serde_json::Value {
    let st: serde_json::Value = serde_json::from_str(&dev.cli(&["status", "--json"])).unwrap();
    st[0].clone()
}

/// Returns how many `sync_failure` rows of the history name a full disk.
fn disk_full_failures(dev: &Device) -> usize {
    let history: serde_json::Value =
        serde_json::from_str(&dev.cli(&["history", "--json", "--limit", "500"])).unwrap();
    history
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| {
            row["event_type"] == "sync_failure"
                && row.to_string().to_lowercase().contains("disk full")
        })
        .count()
}

fn remote_file(sb: &Sandbox, remote: &Path, rev_path: &str) -> Option<Vec<u8>> {
    let out = sb.git_output(remote, &["cat-file", "blob", rev_path]);
    out.status.success().then_some(out.stdout)
}

#[test]
fn a_full_disk_stops_the_folder_commits_nothing_partial_and_resumes_when_space_returns() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    std::fs::create_dir(&dir).unwrap();
    // The folder, its `.git` included, lives on an 8 MiB tmpfs that only this test thread and
    // the processes it starts can see (see the testkit's `namespace` module for why).
    let tmpfs = match Tmpfs::mount_private(&dir, 8 * 1024 * 1024) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIP a_full_disk_stops_the_folder...: {why}");
            return;
        }
    };
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // The engine's own guard (stop below 64 MB free) would stop the folder on this small disk
    // before git ever hits ENOSPC; this test is about the write that fails anyway.
    let config = dev.config_dir().join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("defaults: null", "defaults:\n  sync:\n    min_free_disk_mb: 0");
    std::fs::write(&config, text).unwrap();
    write(&dir.join("before.txt"), "synced while there is room\n");
    dev.start();
    wait_daemon(&dev, "the first file on the remote", || {
        remote_file(&sb, &remote, "main:before.txt").is_some()
    });

    // Fill the disk, keeping 1 MiB in reserve; the filler lives in .git, which is never synced.
    let git_dir = dir.join(".git");
    std::fs::write(git_dir.join("reserve"), vec![0u8; 1024 * 1024]).unwrap();
    let filled = fill(&git_dir.join("filler"));
    std::fs::remove_file(git_dir.join("reserve")).unwrap();
    // The user's edit takes most of the reserve (written aside, then renamed in, so the engine
    // never sees it half-written): the file fits, git's copy of it (another ~900 KiB object)
    // does not.
    let big = noise(900 * 1024, 0x5eed_d15c_f011);
    std::fs::write(git_dir.join("incoming"), &big).unwrap();
    std::fs::rename(git_dir.join("incoming"), dir.join("big.bin")).unwrap();
    write(&dir.join("note.txt"), "a small edit in the same batch\n");

    wait_daemon(&dev, "the folder to stop on the full disk", || {
        let st = status(&dev);
        st["state"] == "error"
            && st["message"].as_str().is_some_and(|m| m.to_lowercase().contains("disk full"))
    });
    let st = status(&dev);
    let message = st["message"].as_str().unwrap().to_owned();
    assert!(message.contains("free some space"), "the reason says what to do: {message}");
    assert!(
        remote_file(&sb, &remote, "main:big.bin").is_none()
            && remote_file(&sb, &remote, "main:note.txt").is_none(),
        "nothing of the batch reached the remote while the disk was full: {message}"
    );
    // Stopped means stopped: over several polls (one a second here) the folder does not retry
    // against the full disk, which would add a failure row, an event and a log line each time.
    std::thread::sleep(Duration::from_secs(4));
    let failures = disk_full_failures(&dev);
    assert_eq!(failures, 1, "one failure row for the full disk, no retry loop\n{}", dev.log());
    assert!(dev.is_running(), "the daemon survives a full disk\n{}", dev.log());

    // Space returns: the folder resumes by itself and the edits travel, complete.
    std::fs::remove_file(git_dir.join("filler")).unwrap();
    wait_daemon(&dev, "the edits to reach the remote once space is back", || {
        remote_file(&sb, &remote, "main:big.bin").as_deref() == Some(&big[..])
            && remote_file(&sb, &remote, "main:note.txt").as_deref()
                == Some(&b"a small edit in the same batch\n"[..])
    });
    wait_daemon(&dev, "the folder to be idle again", || status(&dev)["state"] == "idle");
    // Every version of big.bin the remote ever held is the whole file.
    let revs = sb.git(&remote, &["rev-list", "main", "--", "big.bin"]);
    for rev in revs.lines() {
        if let Some(content) = remote_file(&sb, &remote, &format!("{rev}:big.bin")) {
            assert!(
                content == big,
                "commit {rev} holds a partial big.bin ({} bytes)",
                content.len()
            );
        }
    }
    assert!(dev.stop(), "the daemon stops cleanly\n{}", dev.log());
    sb.fsck(&dir);
    sb.fsck(&remote);
    assert_eq!(sb.git(&dir, &["status", "--porcelain"]), "", "nothing left uncommitted");
    eprintln!("disk full: filled {filled} bytes of the 8 MiB tmpfs; stopped with: {message}");
    drop(dev);
    drop(tmpfs);
}

/// Returns the remote's file count on main.
fn remote_count(sb: &Sandbox, remote: &Path) -> usize {
    let out = sb.git_output(remote, &["ls-tree", "-r", "--name-only", "main"]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn at_the_inotify_watch_limit_the_fix_is_shown_and_rescans_still_sync_every_directory() {
    // The daemon runs in a user namespace whose watch limit is 20 (the host's is untouched);
    // the folder has 60 directories, so at least 40 are not watched.
    const LIMIT: u32 = 20;
    const DIRS: usize = 60;
    let wrapper = match inotify_limit_wrapper(LIMIT) {
        Ok(w) => w,
        Err(why) => {
            eprintln!("SKIP at_the_inotify_watch_limit...: {why}");
            return;
        }
    };
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    for d in 0..DIRS {
        write(&dir.join(format!("d{d:02}/seed.txt")), format!("seed {d}\n"));
    }
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    dev.set_env("SUPERSONIC_RESCAN_INTERVAL_SEC", "2");
    dev.set_daemon_wrapper(wrapper);
    dev.start();
    wait_daemon(&dev, "the seed files on the remote", || remote_count(&sb, &remote) == DIRS);
    wait_daemon(&dev, "the watch-limit warning with its fix in the log", || {
        let log = dev.log();
        log.contains("inotify watch limit reached")
            && log.contains("sysctl fs.inotify.max_user_watches=")
    });
    let history = dev.cli(&["history", "--json", "--limit", "100"]);
    assert!(
        history.contains("inotify watch limit reached") && history.contains("max_user_watches"),
        "the warning and its fix are in the history (what the app and the API show): {history}"
    );
    // An edit in every directory, most of them unwatched: rescans find them all.
    for d in 0..DIRS {
        write(&dir.join(format!("d{d:02}/edit.txt")), format!("edit {d}\n"));
    }
    wait_daemon(&dev, "an edit in every directory, watched or not, on the remote", || {
        remote_count(&sb, &remote) == 2 * DIRS
    });
    for d in [0, DIRS / 2, DIRS - 1] {
        let got = remote_file(&sb, &remote, &format!("main:d{d:02}/edit.txt"));
        assert_eq!(got, Some(format!("edit {d}\n").into_bytes()), "d{d:02}/edit.txt");
    }
    assert!(dev.stop(), "the daemon stops cleanly\n{}", dev.log());
}

#[test]
fn an_inotify_queue_overflow_triggers_a_rescan_that_commits_everything() {
    // The kernel queues at most max_queued_events per watcher, then drops events and queues
    // an overflow marker. Stopping the daemon (SIGSTOP) while files are written fills the
    // queue for real, without lowering any limit of the host.
    let queue: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    if queue > 100_000 {
        eprintln!("SKIP an_inotify_queue_overflow...: max_queued_events is {queue}, too many");
        return;
    }
    // Each new file makes at least create, modify and close-write events; one more append
    // adds two more. Twice the queue's room is a sure overflow.
    let files = 2 * queue / 5 + 100;
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // The burst goes into a directory that is watched already (the daemon cannot add a watch
    // for a new one while it is stopped).
    write(&dir.join("burst/first.txt"), "before the burst\n");
    dev.start();
    wait_daemon(&dev, "the first file on the remote", || remote_count(&sb, &remote) == 1);
    let pid = nix::unistd::Pid::from_raw(dev.pid().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    for i in 0..files {
        write(&dir.join(format!("burst/f{i:05}.txt")), format!("file {i}\n"));
    }
    for i in 0..files {
        let mut f =
            std::fs::OpenOptions::new().append(true).open(dir.join(format!("burst/f{i:05}.txt")));
        f.as_mut().unwrap().write_all(b"appended\n").unwrap();
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    wait_daemon(&dev, "every file of the burst on the remote", || {
        remote_count(&sb, &remote) == files + 1
    });
    let log = dev.log();
    assert!(log.contains("inotify queue overflow"), "the overflow was seen and rescanned\n{log}");
    let last = remote_file(&sb, &remote, &format!("main:burst/f{:05}.txt", files - 1));
    assert_eq!(
        last,
        Some(format!("file {}\nappended\n", files - 1).into_bytes()),
        "the last file, written after the queue was full, is complete"
    );
    assert!(dev.stop(), "the daemon stops cleanly\n{}", dev.log());
}
