//! Native notifications against a real notification server: dunst on a private D-Bus session
//! under Xvfb, every Notify call captured with dbus-monitor.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

fn history_count(dev: &Device, kind: &str) -> usize {
    let rows: serde_json::Value =
        serde_json::from_str(&dev.cli(&["history", "--json", "--limit", "1000"])).unwrap();
    rows.as_array().unwrap().iter().filter(|r| r["event_type"] == kind).count()
}

/// Starts `supersonic run` of `dev` inside Xvfb + a private session bus with dunst, logging
/// every Notify call to `monitor_log`.
fn start_in_session(dev: &Device, monitor_log: &std::path::Path) -> Child {
    let inner = dev.command(&["run"]);
    let script = format!(
        "dunst -config /dev/null >/dev/null 2>&1 & \
         dbus-monitor --session \"interface='org.freedesktop.Notifications',member='Notify'\" > '{}' 2>&1 & \
         sleep 1; exec '{}' run",
        monitor_log.display(),
        inner.get_program().to_string_lossy()
    );
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "dbus-run-session", "--", "sh", "-c", &script]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let log = std::fs::File::create(dev.log_path()).unwrap();
    cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).process_group(0);
    cmd.spawn().expect("xvfb-run, dbus-run-session and dunst are installed by make test")
}

#[test]
fn a_failure_streak_notifies_once_and_the_recovery_once() {
    let mut p = Pair::new(RemoteKind::GitDaemon);
    let monitor = p.sb.path().join("notify-monitor.log");
    let mut session = start_in_session(&p.a, &monitor);
    write(&p.a_dir.join("first.txt"), "1\n");
    wait_until("the daemon to sync through the session", CONVERGE, || p.remote_commits() >= 1);

    p.daemon.as_mut().unwrap().stop();
    write(&p.a_dir.join("offline.txt"), "2\n");
    wait_until("a streak of five failed syncs", CONVERGE, || {
        history_count(&p.a, "sync_failure") >= 5
    });
    p.daemon.as_mut().unwrap().restart();
    wait_until("the push once the remote is back", CONVERGE, || p.remote_commits() >= 2);
    // Let the recovery notification travel over the bus before reading the capture.
    wait_until("two Notify calls captured", Duration::from_secs(10), || {
        std::fs::read_to_string(&monitor).unwrap_or_default().matches("member=Notify").count() >= 2
    });
    std::thread::sleep(Duration::from_secs(1));
    let pgid = nix::unistd::Pid::from_raw(session.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
    let _ = session.wait();

    let captured = std::fs::read_to_string(&monitor).unwrap();
    let calls = captured.matches("member=Notify").count();
    let failures = history_count(&p.a, "sync_failure");
    println!("notifications: {failures} failed syncs in the streak -> {calls} notifications");
    assert_eq!(calls, 2, "one for the streak, one for the recovery:\n{captured}\n{}", p.a.log());
    assert!(captured.contains("sync failing"), "{captured}");
    assert!(captured.contains("syncing again"), "{captured}");
}
