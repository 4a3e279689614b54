//! Git as the oracle for ignore rules: small random gitignore cases, and `git check-ignore`'s
//! verdict on them, for differential tests and fuzzing of the engine's matcher.
//!
//! An [`IgnoreCase`] is a list of rule lines and a list of paths, decoded from arbitrary bytes
//! (a fuzzer's input, or a seeded generator's) over a small alphabet, so that rules and paths
//! collide often: names like `a`, `b.log`, globs like `*`, `**`, `?`, `[a-c]`, `[!a]`,
//! escapes, negation, anchoring and directory-only rules. The paths form a consistent tree (a
//! path used as a parent is a directory).
//!
//! [`CheckIgnore`] keeps one scratch repository. For each case it writes the rules as the root
//! `.gitignore`, creates the paths as real files and directories (git decides "is this a
//! directory" by `lstat`, and directory-only rules depend on it), and asks
//! `git check-ignore --no-index --verbose --non-matching -z --stdin` about every path at once.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::Sandbox;

/// Names paths are made of; rules use them too, so they match often.
const NAMES: &[&str] = &["a", "b", "c", "ab", "a.txt", "b.log", "x.md", "dir", "abc", "a b"];

/// Pieces rule segments are made of.
const PIECES: &[&str] = &[
    "a", "b", "c", "ab", ".txt", ".log", "x", "dir", "*", "*", "?", "**", "[ab]", "[!a]", "[a-c]",
    "[^b]", "\\*", "\\?", ".", " ", "\\ ", "\\", "[", "]", "{a,b}", "#",
];

/// One differential case: rule lines (a `.gitignore`) and paths with whether each is a
/// directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreCase {
    /// The rule lines, in order.
    pub rules: Vec<String>,
    /// Repo-relative paths (`/`-separated) and whether each is a directory.
    pub paths: Vec<(String, bool)>,
}

/// Reads bytes as small numbers; past the end it yields zeros.
struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(b) % n
    }

    fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
        from[self.below(from.len())]
    }
}

impl IgnoreCase {
    /// Decodes a case from arbitrary bytes: 1–6 rules and 1–8 paths; every byte sequence is
    /// a valid case.
    pub fn from_bytes(data: &[u8]) -> IgnoreCase {
        let mut b = Bytes { data, at: 0 };
        let rules = (0..1 + b.below(6)).map(|_| rule(&mut b)).collect();
        let mut paths: Vec<(String, bool)> = Vec::new();
        for _ in 0..1 + b.below(8) {
            let depth = 1 + b.below(4);
            let parts: Vec<&str> = (0..depth).map(|_| b.pick(NAMES)).collect();
            paths.push((parts.join("/"), b.below(3) == 0));
        }
        IgnoreCase { rules, paths: consistent_tree(paths) }
    }

    /// Returns the rules as the text of a `.gitignore`.
    pub fn rules_text(&self) -> String {
        self.rules.iter().map(|r| format!("{r}\n")).collect()
    }
}

fn rule(b: &mut Bytes<'_>) -> String {
    let mut out = String::new();
    match b.below(8) {
        0 => out.push('!'),
        1 => out.push('/'),
        2 => out.push_str("!/"),
        3 => out.push_str("**/"),
        _ => {}
    }
    let segments = 1 + b.below(3);
    for i in 0..segments {
        if i > 0 {
            out.push('/');
        }
        for _ in 0..1 + b.below(3) {
            out.push_str(b.pick(PIECES));
        }
    }
    match b.below(6) {
        0 => out.push('/'),
        1 => out.push_str("/**"),
        2 => out.push_str("/*"),
        _ => {}
    }
    out
}

/// Makes every path that is some other path's parent a directory, and drops duplicates.
fn consistent_tree(paths: Vec<(String, bool)>) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for (path, is_dir) in &paths {
        let is_parent = paths.iter().any(|(p, _)| p.starts_with(&format!("{path}/")));
        let entry = (path.clone(), *is_dir || is_parent);
        if !out.iter().any(|(p, _)| p == path) {
            out.push(entry);
        }
    }
    out
}

/// Git's verdict on one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitVerdict {
    /// Whether git ignores the path.
    pub ignored: bool,
    /// The deciding rule as `check-ignore -v` prints it (`.gitignore:LINE:PATTERN`), empty
    /// when no rule matched.
    pub rule: String,
}

/// A scratch repository in which `git check-ignore` judges [`IgnoreCase`]s.
#[derive(Debug)]
pub struct CheckIgnore {
    sandbox: Sandbox,
    repo: PathBuf,
}

impl Default for CheckIgnore {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckIgnore {
    /// Creates the scratch repository (in a sandbox of its own).
    ///
    /// # Panics
    ///
    /// Panics when `git init` fails.
    pub fn new() -> CheckIgnore {
        let sandbox = Sandbox::new();
        let repo = sandbox.path().join("oracle");
        fs::create_dir_all(&repo).expect("create the oracle repository");
        sandbox.git(&repo, &["init", "-q"]);
        CheckIgnore { sandbox, repo }
    }

    /// Returns the scratch repository's work tree (it holds the last case's files).
    pub fn root(&self) -> &Path {
        &self.repo
    }

    /// Lays out `case` in the work tree, with `.gitignore` holding `before` then the case's
    /// rules, and returns git's verdict on each path of the case, in order.
    ///
    /// # Panics
    ///
    /// Panics when git fails or its answer cannot be read.
    pub fn judge(&self, before: &[&str], case: &IgnoreCase) -> Vec<GitVerdict> {
        for entry in fs::read_dir(&self.repo).expect("list the oracle repository").flatten() {
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&path).expect("clear the oracle repository");
            } else {
                fs::remove_file(&path).expect("clear the oracle repository");
            }
        }
        let mut text: String = before.iter().map(|r| format!("{r}\n")).collect();
        text.push_str(&case.rules_text());
        fs::write(self.repo.join(".gitignore"), text).expect("write .gitignore");
        for (path, is_dir) in &case.paths {
            let full = self.repo.join(path);
            if *is_dir {
                fs::create_dir_all(&full).expect("create a case directory");
            } else {
                fs::create_dir_all(full.parent().expect("a parent")).expect("create parents");
                fs::write(&full, b"x").expect("create a case file");
            }
        }
        let mut cmd = self.sandbox.git_command(
            &self.repo,
            &["check-ignore", "--no-index", "--verbose", "--non-matching", "-z", "--stdin"],
        );
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run git check-ignore");
        {
            let mut stdin = child.stdin.take().expect("stdin");
            for (path, _) in &case.paths {
                stdin.write_all(path.as_bytes()).expect("write a path");
                stdin.write_all(b"\0").expect("write a path");
            }
        }
        let out = child.wait_with_output().expect("wait for git check-ignore");
        // Exit 1 means "nothing ignored", not a failure.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "git check-ignore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fields: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let verdicts: Vec<GitVerdict> = fields
            .chunks(4)
            .filter(|c| c.len() == 4)
            .map(|c| {
                let (source, line, pattern) = (&c[0], &c[1], &c[2]);
                GitVerdict {
                    ignored: !pattern.is_empty() && !pattern.starts_with('!'),
                    rule: if pattern.is_empty() {
                        String::new()
                    } else {
                        format!("{source}:{line}:{pattern}")
                    },
                }
            })
            .collect();
        assert_eq!(verdicts.len(), case.paths.len(), "one answer per path: {fields:?}");
        verdicts
    }
}
