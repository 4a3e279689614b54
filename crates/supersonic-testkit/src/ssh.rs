//! A real OpenSSH server on 127.0.0.1 for SSH remotes: key authentication, a host key that can
//! be changed under a client's feet.
//!
//! The `sshd` binary is Debian's, extracted (never installed: no system service, no port 22) by
//! `scripts/setup.sh` into `target/sshd`; `SUPERSONIC_SSHD` names another one. sshd insists on
//! its privilege-separation user and `/run/sshd`, which a machine without the package lacks, so
//! it runs in a private mount namespace (`unshare --mount`, needs root) where `/etc/passwd` is a
//! copy with that user and `/run` a fresh tmpfs: nothing of the host changes. Without the binary
//! or the privilege, [`SshServer::start`] returns `None` and the test says SKIP.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Sandbox;

/// How long sshd may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running sshd serving the sandbox's repositories over `ssh://USER@127.0.0.1:PORT/PATH`.
#[derive(Debug)]
pub struct SshServer {
    dir: PathBuf,
    sshd: PathBuf,
    port: u16,
    user: String,
    child: Option<Child>,
}

impl SshServer {
    /// Starts sshd with a fresh host key, accepting the key [`SshServer::ssh_command`] uses.
    /// Returns `None` (and says why on stderr) when sshd or the privilege to run it is missing.
    pub fn start(sandbox: &Sandbox) -> Option<SshServer> {
        let sshd = sshd_binary()?;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIP: sshd needs root here (a private mount namespace for its user)");
            return None;
        }
        let dir = sandbox.path().join("sshd");
        std::fs::create_dir_all(&dir).expect("create the sshd directory");
        keygen(&dir.join("userkey"));
        std::fs::copy(dir.join("userkey.pub"), dir.join("authorized_keys"))
            .expect("authorize the user key");
        let mut passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
        passwd
            .push_str("sshd:x:64999:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin\n");
        std::fs::write(dir.join("passwd"), passwd).expect("write the namespace's passwd");
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map_or_else(|| "root".to_string(), |u| u.name);
        let mut server = SshServer { dir, sshd, port: crate::free_port(), user, child: None };
        server.new_host_key();
        server.spawn()?;
        Some(server)
    }

    /// Returns the port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the `ssh://` URL of the repository at `path` (absolute).
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, path.display())
    }

    /// Returns the ssh command for `GIT_SSH_COMMAND`: this server's user key, the sandbox's
    /// known_hosts, never a prompt, nothing from the user's own `~/.ssh`.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -o IdentitiesOnly=yes -o IdentityFile={} -o UserKnownHostsFile={} \
             -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.dir.join("userkey").display(),
            self.known_hosts().display()
        )
    }

    /// The known_hosts file [`SshServer::ssh_command`] reads.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// Writes the server's current host key into the known_hosts file (the user accepted it).
    pub fn trust(&self) {
        let key = std::fs::read_to_string(self.dir.join("hostkey.pub")).expect("read host key");
        let line = format!("[127.0.0.1]:{} {}", self.port, key.trim());
        std::fs::write(self.known_hosts(), format!("{line}\n")).expect("write known_hosts");
    }

    /// Restarts sshd with a new host key: to a client that trusted the old one, the server
    /// now looks like an impostor.
    pub fn change_host_key(&mut self) {
        self.stop();
        self.new_host_key();
        self.spawn().expect("restart sshd");
    }

    fn new_host_key(&self) {
        let key = self.dir.join("hostkey");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(&key);
    }

    fn spawn(&mut self) -> Option<()> {
        let config = self.dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/hostkey\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nPidFile none\nLogLevel VERBOSE\n",
                port = self.port,
                dir = self.dir.display()
            ),
        )
        .expect("write sshd_config");
        let libs = self.sshd.parent()?.parent()?.join("lib/x86_64-linux-gnu");
        let script = format!(
            "mount --make-rprivate / && mount --bind '{passwd}' /etc/passwd && \
             mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && \
             LD_LIBRARY_PATH='{libs}' exec '{sshd}' -D -e -f '{config}'",
            passwd = self.dir.join("passwd").display(),
            libs = libs.display(),
            sshd = self.sshd.display(),
            config = config.display(),
        );
        let log = std::fs::File::create(self.dir.join("sshd.log")).expect("create sshd.log");
        let child = Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .ok()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                eprintln!("SKIP: sshd did not start:\n{}", self.log());
                self.child = None;
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(())
    }

    /// Returns sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The listening socket goes with the process; wait until the port is free again.
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sshd to run: `SUPERSONIC_SSHD`, else the one `scripts/setup.sh` extracted.
fn sshd_binary() -> Option<PathBuf> {
    let path = std::env::var_os("SUPERSONIC_SSHD").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sshd/usr/sbin/sshd")
    });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIP: no sshd at {} (scripts/setup.sh extracts one)", path.display());
        None
    }
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "supersonic-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
}

/// An `ssh-agent` of the test's own, holding one key; killed when dropped.
#[derive(Debug)]
pub struct SshAgent {
    child: Child,
    socket: PathBuf,
}

impl SshAgent {
    /// Starts an agent with its socket in the sandbox and adds `key` to it; `passphrase`
    /// unlocks a protected key (ssh-add reads it from an askpass program, never a terminal).
    pub fn start(sandbox: &Sandbox, key: &Path, passphrase: Option<&str>) -> SshAgent {
        let socket = sandbox.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = SshAgent { child, socket };
        crate::wait_until("ssh-agent to listen", START_TIMEOUT, || agent.socket.exists());
        let mut add = Command::new("ssh-add");
        add.arg("-q").arg(key).env("SSH_AUTH_SOCK", &agent.socket).stdin(Stdio::null());
        if let Some(passphrase) = passphrase {
            use std::os::unix::fs::PermissionsExt;
            let askpass = sandbox.path().join("askpass.sh");
            std::fs::write(&askpass, format!("#!/bin/sh\necho '{passphrase}'\n"))
                .expect("write askpass");
            std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))
                .expect("make askpass executable");
            add.env("SSH_ASKPASS", &askpass).env("SSH_ASKPASS_REQUIRE", "force");
        }
        let out = add.output().expect("run ssh-add");
        assert!(out.status.success(), "ssh-add: {}", String::from_utf8_lossy(&out.stderr));
        agent
    }

    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
