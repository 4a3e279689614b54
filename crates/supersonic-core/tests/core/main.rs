//! Integration tests of the engine on real repositories (no daemon): modules mirror `src/`.

#![allow(clippy::new_without_default)]

mod folder;
mod git;

use std::path::{Path, PathBuf};

use supersonic_core::device::Device;
use supersonic_core::git::{GitRepo, Identity, SnapshotLimits};
use supersonic_core::ignore::IgnoreRules;
use supersonic_testkit::Sandbox;

pub fn identity(name: &str) -> Identity {
    Identity {
        device: Device { id: "0123456789abcdef".into(), name: name.into() },
        user: Some(format!("{name} user")),
        email: Some(format!("{name}@example.com")),
    }
}

pub fn limits() -> SnapshotLimits {
    SnapshotLimits {
        max_file_size: 1024 * 1024,
        mass_delete_ratio: 0.5,
        mass_delete_min_files: 5,
        allow_mass_delete: false,
    }
}

pub fn rules(dir: &Path) -> IgnoreRules {
    IgnoreRules::load(dir, &[], &dir.join(".supersonic-sync.conf")).unwrap()
}

pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
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
