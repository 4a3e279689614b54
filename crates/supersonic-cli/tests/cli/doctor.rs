//! `supersonic doctor` on the faults it must name: a broken SSH key, a host (on its own port)
//! missing from `known_hosts`, and an inotify limit lowered in a user namespace. SSH cases use
//! an `ssh://` remote on a closed loopback port: the doctor's SSH checks read local files only,
//! so no server is needed (the remote check fails, as it should).
//!
//! ssh reads `~/.ssh` of the passwd entry, not `$HOME`, so each test names its files to ssh
//! through `GIT_SSH_COMMAND` (`-F /dev/null`, `-o IdentityFile=...`, `-o UserKnownHostsFile=...`),
//! as a user with a deploy key would; nothing outside the sandbox is read. (`-o IdentityFile`, not
//! `-i`: ssh drops an `-i` file that does not exist yet and falls back to the passwd home's keys.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Returns a loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Makes an ed25519 key pair at `path` (and `path.pub`) protected by `passphrase`.
fn keygen(path: &Path, passphrase: &str) {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "doctor-test", "-N", passphrase, "-f"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
}

/// A folder synced with `ssh://git@127.0.0.1:PORT/r.git`, and the device, whose ssh uses
/// `key` and the sandbox's `known_hosts` only, with no agent.
struct SshFolder {
    sb: Sandbox,
    dev: Device,
    dir: PathBuf,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl SshFolder {
    fn new() -> SshFolder {
        let sb = Sandbox::new();
        let remote = sb.bare_remote("r");
        let mut dev = Device::new(&sb, &bin(), "alpha");
        let dir = sb.path().join("notes");
        dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
        // Point the folder at an SSH remote; only the doctor reads it here.
        let port = closed_port();
        let cfg = dev.config_dir().join("config.yaml");
        let yaml = std::fs::read_to_string(&cfg).unwrap();
        let url = format!("ssh://git@127.0.0.1:{port}/r.git");
        assert!(yaml.contains(remote.to_str().unwrap()), "{yaml}");
        std::fs::write(&cfg, yaml.replace(remote.to_str().unwrap(), &url)).unwrap();

        let ssh_dir = sb.home().join(".ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        let key = ssh_dir.join("id_ed25519");
        let known_hosts = ssh_dir.join("known_hosts");
        std::fs::write(&known_hosts, "").unwrap();
        let command = format!(
            "ssh -F /dev/null -o GlobalKnownHostsFile=/dev/null -o UserKnownHostsFile={} \
             -o IdentityFile={}",
            known_hosts.display(),
            key.display()
        );
        dev.set_env("GIT_SSH_COMMAND", &command);
        dev.set_env("SSH_AUTH_SOCK", "");
        SshFolder { sb, dev, dir, port, key, known_hosts }
    }

    /// Runs `supersonic doctor DIR --json`; returns the findings of `check` and the raw output.
    fn findings(&self, check: &str) -> (Vec<serde_json::Value>, String) {
        let out = self.dev.run(&["doctor", self.dir.to_str().unwrap(), "--json"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let reports: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{text}\n{}", stderr(&out)));
        let findings = reports[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == check)
            .cloned()
            .collect();
        (findings, text)
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn doctor_names_an_unreadable_or_unprotected_ssh_key_and_the_fix() {
    let mut f = SshFolder::new();
    let key = f.key.display().to_string();

    // No key at all and no agent: ssh has nothing to offer.
    let (found, text) = f.findings("ssh_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "warning", "{text}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains("no SSH key") && message.contains(&key), "{text}");

    // A good key: usable.
    keygen(&f.key, "");
    let (found, text) = f.findings("ssh_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "ok", "a fresh key is usable: {text}");
    let private = std::fs::read_to_string(&f.key).unwrap();

    // Readable by others: ssh ignores it, so the doctor fails it and says `chmod 600`.
    chmod(&f.key, 0o644);
    let (found, text) = f.findings("ssh_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "error", "ssh refuses an unprotected key: {text}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains(&key) && message.contains("UNPROTECTED PRIVATE KEY FILE"), "{text}");
    assert_eq!(found[0]["fix"], format!("Restrict it to yourself: `chmod 600 {key}`."), "{text}");

    // Damaged (cut short): ssh cannot parse it; the fix is to restore or replace it.
    chmod(&f.key, 0o600);
    std::fs::write(&f.key, &private[..private.len() / 2]).unwrap();
    let out = f.dev.run(&["doctor", f.dir.to_str().unwrap()]);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a key ssh cannot read fails the doctor: {human}");
    assert!(
        human.contains(&format!("FAIL ssh_key    ssh cannot read the private key {key}")),
        "{human}"
    );
    assert!(human.contains(&format!("ssh-keygen -t ed25519 -f {key}")), "the fix: {human}");
    let (found, text) = f.findings("ssh_key");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains("invalid format") || message.contains("error in libcrypto"),
        "ssh-keygen's reason: {text}"
    );
    let body: Vec<&str> = private.lines().filter(|l| !l.starts_with("-----")).collect();
    for line in body {
        assert!(!text.contains(line) && !human.contains(line), "never print the key: {text}");
    }

    // A passphrase-protected key is not broken; without an agent it only warns.
    std::fs::remove_file(&f.key).unwrap();
    std::fs::remove_file(f.key.with_extension("pub")).unwrap();
    keygen(&f.key, "correct horse");
    let (found, text) = f.findings("ssh_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "warning", "it needs the agent, which is missing: {text}");
    assert!(found[0]["message"].as_str().unwrap().contains("needs a passphrase"), "{text}");

    // Once an agent holds it, it is usable.
    let agent = SshAgent::start(&f.sb, &f.key, Some("correct horse"));
    f.dev.set_env("SSH_AUTH_SOCK", agent.socket().to_str().unwrap());
    let (found, text) = f.findings("ssh_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "ok", "the agent holds the key: {text}");
    assert!(found[0]["message"].as_str().unwrap().contains("via the agent"), "{text}");
}

#[test]
fn doctor_looks_up_a_host_on_its_own_port_in_known_hosts() {
    let f = SshFolder::new();
    let name = format!("[127.0.0.1]:{}", f.port);

    let (found, text) = f.findings("host_key");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["level"], "error", "an empty known_hosts knows no host: {text}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{name} is not in known_hosts")), "{text}");
    assert!(message.contains(&f.known_hosts.display().to_string()), "names the file: {text}");
    assert!(found[0]["fix"].as_str().unwrap().contains(&format!("-p {}", f.port)), "{text}");

    // A key for the host on port 22 does not vouch for another port (ssh stores `[host]:port`).
    let host_key = f.sb.path().join("host_key");
    keygen(&host_key, "");
    let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let public: Vec<&str> = public.split_whitespace().take(2).collect();
    let public = public.join(" ");
    std::fs::write(&f.known_hosts, format!("127.0.0.1 {public}\n")).unwrap();
    let (found, text) = f.findings("host_key");
    assert_eq!(found[0]["level"], "error", "port 22's entry is not this host's: {text}");

    std::fs::write(&f.known_hosts, format!("127.0.0.1 {public}\n{name} {public}\n")).unwrap();
    let (found, text) = f.findings("host_key");
    assert_eq!(found[0]["level"], "ok", "{name} is known now: {text}");
    assert!(found[0]["message"].as_str().unwrap().contains(&name), "{text}");
}

#[test]
fn doctor_warns_about_an_inotify_limit_lowered_in_its_user_namespace() {
    const LIMIT: u32 = 20;
    let wrapper = match supersonic_testkit::inotify_limit_wrapper(LIMIT) {
        Ok(w) => w,
        Err(why) => {
            println!("SKIP: {why}");
            return;
        }
    };
    let sb = Sandbox::new();
    let remote = sb.bare_remote("r");
    let dev = Device::new(&sb, &bin(), "alpha");
    let dir = sb.path().join("notes");
    dev.cli(&["init", dir.to_str().unwrap(), "--remote", remote.to_str().unwrap()]);
    for i in 0..30 {
        std::fs::create_dir_all(dir.join(format!("d{i}"))).unwrap();
    }
    let inotify = |out: std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let reports: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{text}\n{}", stderr(&out)));
        let finding = reports[0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "inotify")
            .cloned()
            .unwrap_or_else(|| panic!("an inotify finding: {text}"));
        (finding, text)
    };

    let (finding, text) = inotify(dev.run(&["doctor", dir.to_str().unwrap(), "--json"]));
    assert_eq!(finding["level"], "ok", "the host's limit is ample for 31 directories: {text}");

    let (finding, text) =
        inotify(dev.run_via(&wrapper, &["doctor", dir.to_str().unwrap(), "--json"]));
    assert_eq!(
        finding["level"], "warning",
        "31 directories need more than {LIMIT} watches: {text}"
    );
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the inotify limit (user.max_inotify_watches) is {LIMIT}")),
        "names the namespace's limit, not the host's: {text}"
    );
    assert!(message.contains("31 directories"), "{text}");
    let fix = finding["fix"].as_str().unwrap();
    assert!(fix.contains("sysctl user.max_inotify_watches="), "the fix for the namespace: {text}");
}
