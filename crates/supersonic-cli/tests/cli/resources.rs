//! The machine runs out of something: disk space, inotify watches, room in the inotify queue.
//! Each test provokes the real kernel condition for its own daemon only (a private tmpfs, a
//! user namespace with a lowered limit, a stopped reader) and never changes the host; where the
//! privilege is missing it prints `SKIP` and says why.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use supersonic_testkit::Tmpfs;

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
