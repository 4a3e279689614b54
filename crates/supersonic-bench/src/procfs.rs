//! What a running process costs, read from `/proc` the way `top` and `ps` do: CPU time
//! (`stat`), peak and current resident memory and context switches (`status`), inotify watches
//! (`fdinfo` of its inotify descriptors), and its descendants (for the app's WebKit helpers).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`): 100 on every Linux
/// architecture the app targets, whatever the kernel's internal tick rate.
const USER_HZ: f64 = 100.0;

fn proc_path(pid: u32, rest: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{rest}"))
}

fn read(pid: u32, rest: &str) -> Result<String> {
    let path = proc_path(pid, rest);
    fs::read_to_string(&path)
        .with_context(|| format!("read {} (has the process exited?)", path.display()))
}

/// Returns the CPU time of `pid` in milliseconds: user + system time of all its threads, plus
/// that of children it has waited for (the `git` processes the engine runs).
pub fn cpu_ms(pid: u32) -> Result<f64> {
    let stat = read(pid, "stat")?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime, stime, cutime, cstime are fields 14..=17.
    let tick = |field: usize| -> Result<f64> {
        let value = fields.get(field - 3).context("short /proc/<pid>/stat")?;
        value.parse::<f64>().context("non-numeric /proc/<pid>/stat field")
    };
    Ok((tick(14)? + tick(15)? + tick(16)? + tick(17)?) / USER_HZ * 1000.0)
}

/// Returns a `kB` field of `/proc/<pid>/status` (such as `VmHWM`, `VmRSS`) in bytes.
pub fn memory_bytes(pid: u32, field: &str) -> Result<f64> {
    let status = read(pid, "status")?;
    let value = status_field(&status, field)
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(value * 1024.0)
}

/// Returns the proportional set size of `pid` in bytes (`Pss` in `smaps_rollup`): its resident
/// memory with each shared page divided among the processes sharing it, so the figures of
/// several processes add up without counting shared libraries twice.
pub fn pss_bytes(pid: u32) -> Result<f64> {
    let rollup = read(pid, "smaps_rollup")?;
    let value = status_field(&rollup, "Pss")
        .with_context(|| format!("no Pss in /proc/{pid}/smaps_rollup"))?;
    Ok(value * 1024.0)
}

/// Returns the program name of `pid`: the file name of its `argv[0]` (`comm` is cut at 15
/// characters), else `comm`, else `?` when it is gone.
pub fn name(pid: u32) -> String {
    let argv0 = read(pid, "cmdline").ok().and_then(|cmdline| {
        let first = cmdline.split('\0').next()?;
        let file = first.rsplit('/').next()?;
        (!file.is_empty()).then(|| file.to_string())
    });
    argv0
        .or_else(|| read(pid, "comm").ok().map(|n| n.trim().to_string()))
        .unwrap_or_else(|| "?".to_string())
}

/// Returns the number after `field:` in a `status` file (`VmHWM:  1234 kB` gives 1234).
fn status_field(status: &str, field: &str) -> Option<f64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Returns the voluntary context switches of each thread of `pid` by thread id, with the
/// thread's name: each is a thread going back to sleep, so for an idle process they count its
/// wakeups.
pub fn thread_switches(pid: u32) -> Result<BTreeMap<u32, (String, f64)>> {
    let tasks = proc_path(pid, "task");
    let mut threads = BTreeMap::new();
    for task in fs::read_dir(&tasks).with_context(|| format!("list {}", tasks.display()))? {
        let task = task?;
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else { continue };
        // A thread that exited meanwhile has nothing more to count.
        let Ok(status) = fs::read_to_string(task.path().join("status")) else { continue };
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .map(|n| n.trim().to_string())
            .unwrap_or_default();
        let switches = status_field(&status, "voluntary_ctxt_switches").unwrap_or(0.0);
        threads.insert(tid, (name, switches));
    }
    Ok(threads)
}

/// Returns the most inotify watches one inotify descriptor of `pid` holds: a folder's watcher,
/// apart from other watchers of the process (the daemon also watches its config dir).
pub fn most_inotify_watches(pid: u32) -> Result<usize> {
    let fds = proc_path(pid, "fd");
    let mut most = 0;
    for fd in fs::read_dir(&fds).with_context(|| format!("list {}", fds.display()))? {
        let fd = fd?;
        let is_inotify =
            fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == "anon_inode:inotify");
        if !is_inotify {
            continue;
        }
        let info = proc_path(pid, &format!("fdinfo/{}", fd.file_name().to_string_lossy()));
        let Ok(text) = fs::read_to_string(&info) else { continue };
        most = most.max(text.lines().filter(|l| l.starts_with("inotify wd:")).count());
    }
    Ok(most)
}

/// Returns the pids of every process below `pid` (children, their children, ...).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((child, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Fails unless `pid` is a live process (not exited, not a zombie).
pub fn ensure_alive(pid: u32) -> Result<()> {
    let stat = read(pid, "stat")?;
    let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next());
    if state == Some("Z") {
        bail!("process {pid} has exited");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_by_exact_name() {
        let status = "VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nvoluntary_ctxt_switches:\t7\n\
                      nonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(status_field(status, "VmHWM"), Some(2048.0));
        assert_eq!(status_field(status, "voluntary_ctxt_switches"), Some(7.0));
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_has_cpu_time_memory_and_threads() {
        let me = std::process::id();
        assert!(cpu_ms(me).unwrap() >= 0.0);
        assert!(memory_bytes(me, "VmHWM").unwrap() > 0.0);
        assert!(!thread_switches(me).unwrap().is_empty());
    }
}
