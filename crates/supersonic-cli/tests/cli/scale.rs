//! Content at scale (`make scale`, not part of `make test`: minutes, gigabytes): a 1 GB file
//! over the size limit, and a folder of 100,000 files. Each prints its figures (time, the
//! daemon's peak memory from `/proc/PID/status` `VmHWM`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// Returns the peak resident memory (`VmHWM`) of process `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

fn remote_files(sb: &Sandbox, remote: &Path) -> Vec<String> {
    let out = sb.git_output(remote, &["ls-tree", "-r", "--name-only", "main"]);
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
#[ignore = "slow: run with `make scale`"]
fn a_1_gb_file_over_the_size_limit_is_held_back_without_reading_it_into_memory() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    dev.start();
    // 1 GiB, sparse: its size is what the limit (default 100 MB) is about; nothing may read it.
    let big = std::fs::File::create(dir.join("video.raw")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    write(&dir.join("small.txt"), "synced beside it\n");
    wait_until("the small file on the remote", CONVERGE, || {
        remote_files(&sb, &remote).contains(&"small.txt".to_string())
    });
    wait_until("the skip to be reported", CONVERGE, || {
        let log = dev.log();
        log.contains("not syncing video.raw") && log.contains("size limit")
    });
    // A full rescan looks at it again: still held back.
    dev.cli(&["sync"]);
    let files = remote_files(&sb, &remote);
    assert!(!files.contains(&"video.raw".to_string()), "not committed: {files:?}");
    let objects = sb.git(&dir, &["count-objects", "-v"]);
    let size_kib = objects.lines().find_map(|l| l.strip_prefix("size: ")).unwrap_or("?").to_owned();
    let peak = peak_rss_mib(dev.pid().unwrap());
    println!(
        "1 GB file over the limit: daemon peak RSS (VmHWM) {peak} MiB; loose objects in the \
         repository: {size_kib} KiB (nothing of the file was stored)"
    );
    assert!(size_kib.parse::<u64>().unwrap() < 1024, "no blob of the big file: {objects}");
    assert!(peak < 512, "the 1 GB file was not read into memory: peak RSS {peak} MiB");
    assert!(dev.stop(), "{}", dev.log());
}

#[test]
#[ignore = "slow: run with `make scale`"]
fn a_folder_of_100k_files_reaches_the_remote_completely() {
    const FILES: usize = 100_000;
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    let started = Instant::now();
    for i in 0..FILES {
        write(&dir.join(format!("d{:03}/f{i:06}.txt", i % 1000)), format!("file {i}\n"));
    }
    println!("100k files: written in {:.1?}", started.elapsed());
    let started = Instant::now();
    dev.start();
    wait_until("all 100k files on the remote", Duration::from_secs(1800), || {
        remote_files(&sb, &remote).len() == FILES
    });
    let first_sync = started.elapsed();
    // Then one edit among the 100k travels like any other.
    let started = Instant::now();
    write(&dir.join("d500/f000500.txt"), "edited\n");
    wait_until("the edit on the remote", Duration::from_secs(600), || {
        let out = sb.git_output(&remote, &["cat-file", "blob", "main:d500/f000500.txt"]);
        out.stdout == b"edited\n"
    });
    let edit = started.elapsed();
    let files = remote_files(&sb, &remote);
    assert_eq!(files.len(), FILES, "every file on the remote, no more");
    for i in [0, 1, 49_999, FILES - 1] {
        let name = format!("d{:03}/f{i:06}.txt", i % 1000);
        assert!(files.binary_search(&name).is_ok(), "{name} on the remote");
    }
    let peak = peak_rss_mib(dev.pid().unwrap());
    println!(
        "100k files: first sync (commit + push) {first_sync:.1?}, one edit after it {edit:.1?}, \
         daemon peak RSS (VmHWM) {peak} MiB"
    );
    assert!(dev.stop(), "{}", dev.log());
    sb.fsck(&remote);
}

#[test]
#[ignore = "slow: run with `make scale`"]
fn a_1_gb_file_under_a_raised_limit_is_committed_whole() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dir = sb.path().join("notes");
    let mut dev = Device::new(&sb, &bin(), "alpha");
    dev.set_env("SUPERSONIC_MAX_FILE_SIZE_MB", "2048");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    // Written aside and renamed in, so the engine never sees it half-written.
    let aside = sb.path().join("video.raw");
    let big = std::fs::File::create(&aside).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    std::fs::rename(&aside, dir.join("video.raw")).unwrap();
    let started = Instant::now();
    dev.start();
    wait_until("the 1 GB file on the remote", Duration::from_secs(1800), || {
        let out = sb.git_output(&remote, &["cat-file", "-s", "main:video.raw"]);
        String::from_utf8_lossy(&out.stdout).trim() == (1u64 << 30).to_string()
    });
    let peak = peak_rss_mib(dev.pid().unwrap());
    println!(
        "1 GB file under a raised limit: on the remote after {:.1?}, daemon peak RSS (VmHWM) \
         {peak} MiB",
        started.elapsed()
    );
    assert!(dev.stop(), "{}", dev.log());
}
