//! Integration tests of the engine on real repositories (no daemon): modules mirror `src/`.

#![allow(clippy::new_without_default)]

mod architecture;
mod conflicts;
mod convergence;
mod folder;
mod git;
mod history;
mod ignore;
mod signing;
mod webhooks;

use std::path::{Path, PathBuf};

use supersonic_core::config::{FolderConfig, FolderSettings, Mode};
use supersonic_core::device::Device;
use supersonic_core::git::{GitRepo, Identity, SnapshotLimits};
use supersonic_core::ignore::IgnoreRules;
pub use supersonic_testkit::{write, Sandbox};

pub fn identity(name: &str) -> Identity {
    Identity {
        device: Device { id: "0123456789abcdef".into(), name: name.into() },
        user: Some(format!("{name} user")),
        email: Some(format!("{name}@example.com")),
        sign: false,
    }
}

pub fn limits() -> SnapshotLimits {
    SnapshotLimits {
        max_file_size: 1024 * 1024,
        mass_delete_ratio: 0.5,
        mass_delete_min_files: 5,
        allow_mass_delete: false,
        secret_guard: true,
    }
}

/// Returns the configuration of a two-way, unpaused folder at `dir` syncing `remote`'s `main`.
pub fn folder_config(dir: &Path, remote: &str, settings: FolderSettings) -> FolderConfig {
    FolderConfig {
        path: dir.to_path_buf(),
        remote: remote.to_string(),
        branch: "main".into(),
        mode: Mode::TwoWay,
        paused: false,
        settings,
    }
}

pub fn rules(dir: &Path) -> IgnoreRules {
    IgnoreRules::load(dir, &[], &dir.join(".supersonic-sync.conf")).unwrap()
}

/// A work tree synced with a bare remote in a sandbox.
pub struct Fixture {
    pub sb: Sandbox,
    pub remote: PathBuf,
    pub dir: PathBuf,
    pub repo: GitRepo,
}

impl Fixture {
    pub fn new() -> Fixture {
        let sb = Sandbox::new();
        let remote = sb.bare_remote("r");
        let dir = sb.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        let repo = GitRepo::init(&dir, "main", remote.to_str().unwrap()).unwrap();
        Fixture { sb, remote, dir, repo }
    }

    pub fn full_snapshot(&mut self) -> supersonic_core::git::Snapshot {
        let rules = rules(&self.dir);
        self.repo
            .snapshot(&supersonic_core::batcher::Batch::Full, &rules, &limits(), &identity("alpha"))
            .unwrap()
    }
}

/// A device in-process: its work tree and open repository, syncing a shared bare remote.
pub struct Dev {
    pub name: String,
    pub dir: PathBuf,
    pub repo: GitRepo,
    pub policy: supersonic_core::conflicts::Policy,
}

impl Dev {
    pub fn new(sb: &Sandbox, remote: &Path, name: &str) -> Dev {
        let dir = sb.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = GitRepo::init(&dir, "main", remote.to_str().unwrap()).unwrap();
        Dev { name: name.into(), dir, repo, policy: Default::default() }
    }

    pub fn with_policy(mut self, yaml: &str) -> Dev {
        let settings: supersonic_core::config::ConflictSettings =
            serde_yaml::from_str(yaml).unwrap();
        self.policy =
            supersonic_core::conflicts::Policy::compile(&settings, &self.dir, Path::new("test"))
                .unwrap();
        self
    }

    /// One full cycle: snapshot everything, fetch, integrate, push (again while rejected).
    pub fn sync(&mut self) -> Vec<supersonic_core::conflicts::Resolution> {
        use supersonic_core::git::{Integration, PushOutcome};
        let t = std::time::Duration::from_secs(30);
        let id = identity(&self.name);
        let rules = rules(&self.dir);
        let mut all = Vec::new();
        for _ in 0..5 {
            let batch = supersonic_core::batcher::Batch::Full;
            let mut lim = limits();
            lim.allow_mass_delete = true;
            self.repo.snapshot(&batch, &rules, &lim, &id).unwrap();
            if self.repo.fetch(t).unwrap() {
                if let Integration::Merged { conflicts, .. } =
                    self.repo.integrate(&id, &self.policy).unwrap()
                {
                    all.extend(conflicts);
                }
            }
            if self.repo.ahead_behind().unwrap().0 == 0 {
                return all;
            }
            if self.repo.push(t).unwrap() == PushOutcome::Pushed {
                return all;
            }
        }
        panic!("{} could not push in 5 rounds", self.name);
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(rel)).ok()
    }

    pub fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = walkdir::WalkDir::new(&self.dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .flatten()
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(&self.dir).unwrap().display().to_string())
            .collect();
        out.sort();
        out
    }
}
