//! The hermetic git environment every other fixture builds on.
//!
//! A [`Sandbox`] owns a temporary directory laid out as:
//!
//! ```text
//! <root>/home/.gitconfig   the only configuration git reads (HOME, GIT_CONFIG_GLOBAL)
//! <root>/remotes/NAME.git  bare remotes made by `bare_remote`
//! <root>/NAME              clones made by `clone`
//! <root>/logs/             stderr of the servers started from the sandbox
//! ```
//!
//! Invariant: a `git` run through the sandbox never reads the user's or the system's
//! configuration, never prompts (it fails at once instead), and speaks the C locale, so error
//! messages can be asserted on. Inherited variables that point git at another repository
//! (`GIT_DIR`, `GIT_WORK_TREE`, ...) are removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The global configuration written into the sandbox's HOME.
///
/// Beyond the identity and branch name, it turns off everything that could make a test depend
/// on the machine: signing, line-ending conversion, automatic gc and background maintenance.
const GITCONFIG: &str = "\
[user]
\tname = Test User
\temail = test@example.com
[init]
\tdefaultBranch = main
[protocol \"file\"]
\tallow = always
[commit]
\tgpgsign = false
[tag]
\tgpgsign = false
[core]
\tautocrlf = false
[gc]
\tauto = 0
[maintenance]
\tauto = false
[advice]
\tdetachedHead = false
";

/// Variables removed from every command, because an inherited value would point git at another
/// repository or another configuration than the sandbox's.
const REMOVED_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_SYSTEM",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_PROXY_COMMAND",
    "XDG_CONFIG_HOME",
];

/// A hermetic git environment in a temporary directory, deleted when dropped.
///
/// Servers started from a sandbox ([`crate::GitDaemon`], [`crate::SmartHttp`]) copy what they
/// need from it, so they may outlive it; drop them first all the same, since their repositories
/// live inside it.
#[derive(Debug)]
pub struct Sandbox {
    dir: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Creates a sandbox with an empty HOME holding the hermetic `.gitconfig`.
    ///
    /// # Panics
    ///
    /// Panics when the temporary directory cannot be created.
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("supersonic-testkit-")
            .tempdir()
            .expect("create the sandbox's temporary directory");
        let sandbox = Sandbox { dir };
        fs::create_dir_all(sandbox.home()).expect("create the sandbox's HOME");
        fs::write(sandbox.gitconfig(), GITCONFIG).expect("write the sandbox's .gitconfig");
        sandbox
    }

    /// Returns the root of the sandbox's temporary directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Returns the hermetic HOME inside the sandbox.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// Returns the variables that make git hermetic, to set on any process that runs git.
    ///
    /// They are `HOME`, `GIT_CONFIG_GLOBAL` (the `.gitconfig` in that HOME, in case the parent
    /// set it elsewhere), `GIT_CONFIG_NOSYSTEM=1`, `GIT_TERMINAL_PROMPT=0`, empty `GIT_ASKPASS`
    /// and `SSH_ASKPASS`, and `LC_ALL=C`. Use [`Sandbox::apply_env`] on a `Command`, which also
    /// removes inherited variables that would escape the sandbox.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.to_str().expect("sandbox path is UTF-8").to_owned();
        [
            ("HOME", path(self.home())),
            ("GIT_CONFIG_GLOBAL", path(self.gitconfig())),
            ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
            ("GIT_TERMINAL_PROMPT", "0".to_owned()),
            ("GIT_ASKPASS", String::new()),
            ("SSH_ASKPASS", String::new()),
            ("LC_ALL", "C".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }

    /// Sets [`Sandbox::env`] on `cmd` and removes inherited variables such as `GIT_DIR`,
    /// `GIT_WORK_TREE`, `GIT_INDEX_FILE` and `XDG_CONFIG_HOME`.
    pub fn apply_env(&self, cmd: &mut Command) {
        apply_vars(cmd, &self.env());
    }

    /// Runs `git args` in `cwd` and returns its trimmed stdout.
    ///
    /// # Panics
    ///
    /// Panics with the arguments, directory, stdout and stderr when git fails.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let output = self.git_output(cwd, args);
        if !output.status.success() {
            panic!(
                "git {args:?} in {} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
                cwd.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Runs `git args` in `cwd` and returns its output, whether it succeeded or not.
    ///
    /// # Panics
    ///
    /// Panics only when git cannot be started at all.
    pub fn git_output(&self, cwd: &Path, args: &[&str]) -> Output {
        self.git_command(cwd, args)
            .output()
            .unwrap_or_else(|err| panic!("start git {args:?} in {}: {err}", cwd.display()))
    }

    /// Returns a `git args` command in `cwd` with the sandbox's environment, not yet started.
    ///
    /// For processes a test manages itself, such as a git that is expected to hang.
    pub fn git_command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(cwd).args(args);
        self.apply_env(&mut cmd);
        cmd
    }

    /// Creates the empty bare repository `<root>/remotes/<name>.git` on branch `main`.
    ///
    /// # Panics
    ///
    /// Panics when git fails, for example because the remote already exists and is not empty.
    pub fn bare_remote(&self, name: &str) -> PathBuf {
        let remotes = self.remotes_dir();
        let remote = remotes.join(format!("{name}.git"));
        let remote_arg = remote.to_str().expect("sandbox path is UTF-8");
        self.git(&remotes, &["init", "--quiet", "--bare", "-b", "main", remote_arg]);
        remote
    }

    /// Clones `url` into `<root>/<name>` and returns the clone's path.
    ///
    /// Cloning an empty remote works too; the clone then has an unborn `main`.
    ///
    /// # Panics
    ///
    /// Panics when git fails.
    pub fn clone(&self, url: &str, name: &str) -> PathBuf {
        let target = self.path().join(name);
        let target_arg = target.to_str().expect("sandbox path is UTF-8");
        self.git(self.path(), &["clone", "--quiet", url, target_arg]);
        target
    }

    /// Checks the repository at `repo` with `git fsck --full`.
    ///
    /// # Panics
    ///
    /// Panics with fsck's output when the repository is not clean.
    pub fn fsck(&self, repo: &Path) {
        let output = self.git_output(repo, &["fsck", "--full", "--no-progress"]);
        if !output.status.success() {
            panic!(
                "git fsck --full in {} found problems ({}):\n{}{}",
                repo.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            );
        }
    }

    /// Returns the number of commits reachable from `rev` in `repo`, or 0 if `rev` does not
    /// exist (an unborn branch, a missing ref).
    ///
    /// # Panics
    ///
    /// Panics when `repo` is not a repository or git fails otherwise.
    pub fn commit_count(&self, repo: &Path, rev: &str) -> usize {
        let commit = format!("{rev}^{{commit}}");
        let exists = self.git_output(repo, &["rev-parse", "--verify", "--quiet", &commit]);
        if !exists.status.success() {
            // `rev-parse` also fails outside a repository; let `rev-list` report that below.
            self.git(repo, &["rev-parse", "--git-dir"]);
            return 0;
        }
        let count = self.git(repo, &["rev-list", "--count", &commit]);
        count.parse().unwrap_or_else(|err| panic!("parse rev-list count {count:?}: {err}"))
    }

    /// Returns the directory where servers write their stderr, creating it if needed.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        let logs = self.path().join("logs");
        fs::create_dir_all(&logs).expect("create the sandbox's logs directory");
        logs
    }

    /// Returns the directory holding the bare remotes made by [`Sandbox::bare_remote`],
    /// creating it if needed; it is the base path to serve them from.
    pub fn remotes_dir(&self) -> PathBuf {
        let remotes = self.path().join("remotes");
        fs::create_dir_all(&remotes).expect("create the sandbox's remotes directory");
        remotes
    }

    /// Returns the path of the git program `name` (such as `git-daemon`) in `git --exec-path`.
    pub(crate) fn git_program(&self, name: &str) -> PathBuf {
        let program = Path::new(&self.git(self.path(), &["--exec-path"])).join(name);
        assert!(program.is_file(), "{} is missing from git's exec path", program.display());
        program
    }

    fn gitconfig(&self) -> PathBuf {
        self.home().join(".gitconfig")
    }
}

/// Removes the inherited variables that would escape a sandbox from `cmd` and sets `vars`, the
/// [`Sandbox::env`] of a sandbox; for servers, which keep the variables instead of the sandbox.
pub(crate) fn apply_vars(cmd: &mut Command, vars: &[(String, String)]) {
    for var in REMOVED_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().map(|(key, value)| (key, value)));
}
