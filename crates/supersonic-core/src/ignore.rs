//! Ignore rules: what is never synced.
//!
//! Layers, in order (a later `!pattern` can re-include what an earlier one excluded): built-in
//! excludes (editor swap/temp files, OS junk, our own temp files), the folder's root
//! `.gitignore`, the config's `exclude_patterns`, then `.syncignore` (gitignore syntax: `*`,
//! `**`, `!`, trailing `/` for directories, leading `/` for anchoring). `.git` is always ignored
//! and cannot be re-included. The same patterns are mirrored into `.git/info/exclude` so the
//! user's own `git status` agrees with the engine and full scans skip ignored trees.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::{Error, Result};

/// Name of the per-folder ignore file.
pub const SYNCIGNORE_FILE: &str = ".syncignore";

/// Returns `path` as a gitignore pattern that matches exactly it: glob characters, a leading
/// `#` or `!` and trailing spaces escaped with a backslash.
pub fn escape_rule(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, c) in path.chars().enumerate() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') || (i == 0 && matches!(c, '#' | '!')) {
            out.push('\\');
        }
        out.push(c);
    }
    let trailing = out.len() - out.trim_end_matches(' ').len();
    if trailing > 0 {
        out.truncate(out.len() - trailing);
        out.push_str(&"\\ ".repeat(trailing));
    }
    out
}

/// Patterns that are never worth syncing: editor swap and backup files, OS metadata, partial
/// downloads, and the temp files of safe writes (ours and common editors').
pub const BUILTIN_EXCLUDES: &[&str] = &[
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    // Emacs auto-save files; escaped, since a line starting with `#` is a comment.
    "\\#*#",
    "4913",
    ".*.kate-swp",
    ".~lock.*#",
    "~$*",
    ".DS_Store",
    "._*",
    ".Spotlight-V100/",
    ".Trashes/",
    ".Trash-*/",
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    ".directory",
    "*.crdownload",
    "*.part",
    ".goutputstream-*",
    ".supersonic-tmp-*",
];

/// Why a path is ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Match {
    /// The source of the rule (`built-in`, `.gitignore`, `.syncignore`, `exclude_patterns`).
    pub source: String,
    /// 1-based line of the rule in its source.
    pub line: usize,
    /// The rule as written.
    pub pattern: String,
}

/// The compiled ignore rules of one folder. Cheap to share (`Arc`) with the watcher thread.
#[derive(Debug)]
pub struct IgnoreRules {
    root: PathBuf,
    matcher: Gitignore,
    sources: Vec<(String, Vec<String>)>,
}

impl IgnoreRules {
    /// Compiles the rules of the folder at `root` with extra `exclude_patterns` from config.
    pub fn load(root: &Path, exclude_patterns: &[String], config_file: &Path) -> Result<Self> {
        let mut sources: Vec<(String, PathBuf, Vec<String>)> = vec![(
            "built-in".into(),
            PathBuf::from("built-in"),
            BUILTIN_EXCLUDES.iter().map(|s| s.to_string()).collect(),
        )];
        let gitignore = root.join(".gitignore");
        if let Some(lines) = read_rules_file(root, &gitignore)? {
            sources.push((".gitignore".into(), gitignore, lines));
        }
        sources.push((
            "exclude_patterns".into(),
            config_file.to_path_buf(),
            exclude_patterns.to_vec(),
        ));
        let syncignore = root.join(SYNCIGNORE_FILE);
        if let Some(lines) = read_rules_file(root, &syncignore)? {
            sources.push((SYNCIGNORE_FILE.into(), syncignore, lines));
        }
        let mut builder = GitignoreBuilder::new(root);
        // An unclosed `[` never matches in git; the ignore crate would match it literally.
        builder.allow_unclosed_class(false);
        for (_, file, lines) in &sources {
            for (i, line) in lines.iter().enumerate() {
                let bad = |reason: String| Error::IgnorePattern {
                    file: file.clone(),
                    line: i + 1,
                    pattern: line.clone(),
                    reason,
                };
                let glob = git_faithful(line).map_err(bad)?;
                builder.add_line(None, &glob).map_err(|e| bad(glob_reason(&e)))?;
            }
        }
        let matcher = builder.build().map_err(|e| Error::IgnorePattern {
            file: root.join(SYNCIGNORE_FILE),
            line: 0,
            pattern: String::new(),
            reason: e.to_string(),
        })?;
        Ok(IgnoreRules {
            root: root.to_path_buf(),
            matcher,
            sources: sources.into_iter().map(|(name, _, lines)| (name, lines)).collect(),
        })
    }

    /// Returns whether the repo-relative `rel` is ignored (`is_dir` for directories). A path is
    /// also ignored when one of its parent directories is.
    pub fn is_ignored(&self, rel: &Path, is_dir: bool) -> bool {
        self.explain(rel, is_dir).is_some()
    }

    /// Returns the rule that ignores `rel`, if any.
    pub fn explain(&self, rel: &Path, is_dir: bool) -> Option<Match> {
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return Some(Match { source: "built-in".into(), line: 0, pattern: ".git/".into() });
        }
        // Git's order: a directory that is ignored hides everything below it, whatever a
        // later `!rule` says about the path itself; so look at the parents first, top down.
        // (`matched_path_or_any_parents` looks at the path first and lets a `!` on it, or on a
        // nearer parent, re-include what an ignored parent hides.)
        let parents: Vec<&Path> = rel.ancestors().skip(1).collect();
        let m = parents
            .iter()
            .rev()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| self.matcher.matched(p, true))
            .find(|m| m.is_ignore())
            .unwrap_or_else(|| self.matcher.matched(rel, is_dir));
        if !m.is_ignore() {
            return None;
        }
        let glob = m.inner()?;
        let pattern = glob.original().to_string();
        // Find which source the glob came from: the last source holding the same line wins,
        // matching gitignore's "last rule decides".
        for (source, lines) in self.sources.iter().rev() {
            if let Some(i) = lines.iter().rposition(|l| l.trim_end() == pattern) {
                return Some(Match { source: source.clone(), line: i + 1, pattern });
            }
        }
        Some(Match { source: "unknown".into(), line: 0, pattern })
    }

    /// Returns the root of the folder the rules belong to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the patterns as one gitignore text (for `.git/info/exclude`).
    pub fn as_exclude_file(&self) -> String {
        let mut out = String::from(
            "# Written by Supersonic Sync: the folder's sync ignore rules, mirrored so that\n\
             # `git status` agrees with the sync engine. Edit .syncignore instead.\n",
        );
        for (source, lines) in &self.sources {
            if source == ".gitignore" {
                continue; // git reads it itself
            }
            out.push_str(&format!("# from {source}\n"));
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// Reads a rules file of the folder at `root`. The file travels with the folder, so another
/// device can make it a symbolic link: one that leads outside the folder is refused without
/// reading it (its lines would be quoted back in `check-ignore -v`, in error messages and in
/// `.git/info/exclude`); one to a file inside the folder is read. Git itself no longer follows
/// a linked `.gitignore` at all.
fn read_rules_file(root: &Path, path: &Path) -> Result<Option<Vec<String>>> {
    if crate::paths::links_outside(root, path) {
        return Err(Error::Invalid(format!(
            "{} is a symbolic link to a file outside the folder; rules files are read only \
             inside it (replace the link with a regular file)",
            path.display()
        )));
    }
    read_lines(path)
}

fn read_lines(path: &Path) -> Result<Option<Vec<String>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(|l| l.trim_end_matches('\r').to_string())
                .collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Returns a gitignore line in the form the `ignore` crate reads the way git does, or why it
/// is refused.
///
/// - Braces are literal in git; the `ignore` crate reads `{a,b}` as alternatives. They are
///   escaped (outside character classes).
/// - A rule ending in a lone backslash (also before a trailing `/`: `foo\/`) never matches in
///   git; the `ignore` crate reads `foo\/` as `foo/` and `\/` as "everything". Such a rule
///   is refused, like the other rules git accepts but can never match (an unclosed `[`, a
///   reversed range `[z-a]`), so the user learns that the rule does nothing instead of
///   the folder silently syncing what they meant to ignore.
fn git_faithful(line: &str) -> std::result::Result<String, String> {
    if line.starts_with('#') {
        return Ok(line.to_string());
    }
    let kept = if line.ends_with("\\ ") { line } else { line.trim_end() };
    let body = kept.strip_suffix('/').unwrap_or(kept);
    let trailing = body.len() - body.trim_end_matches('\\').len();
    if trailing % 2 == 1 {
        return Err("dangling '\\' at the end (git never matches such a rule)".into());
    }
    let mut out = String::with_capacity(line.len() + 4);
    let mut slashes_outside_classes = 0;
    let mut added_slash = false;
    let name = kept.strip_prefix('!').unwrap_or(kept);
    if name.strip_prefix('/').unwrap_or(name).strip_suffix('/').unwrap_or(name).is_empty() {
        // `!`, `/`, `!/`: an empty pattern matches nothing in git; the ignore crate would read
        // `!` as "re-include everything".
        return Ok(String::new());
    }
    let rule_start = usize::from(kept.starts_with('!'));
    let mut chars = kept.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '*' => {
                // Git: a run of stars that is a whole path segment is `**`, any other run is
                // `*`; and `**/**` is `**`. (The ignore crate reads `***` differently, and
                // turns a trailing `/**` into "inside, not itself" even in `**/**`.)
                let mut run = 1;
                while chars.next_if_eq(&'*').is_some() {
                    run += 1;
                }
                let segment_start = out.len() == rule_start || out.ends_with('/');
                let segment_end = matches!(chars.peek(), None | Some('/'));
                if run == 1 || !(segment_start && segment_end) {
                    out.push('*');
                    continue;
                }
                let before = out.len().saturating_sub(3);
                let repeat =
                    out.ends_with("**/") && (before == rule_start || out[..before].ends_with('/'));
                if !repeat {
                    out.push_str("**");
                } else if chars.peek() == Some(&'/') {
                    chars.next(); // `**/**/x` is `**/x`
                } else {
                    out.pop(); // `x/**/**` is `x/**`
                    slashes_outside_classes -= 1;
                }
            }
            '[' => {
                // Collect the class as tokens (an escaped char is one token); a `]` right
                // after `[` or `[!` is a member, not the end.
                let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
                let mut members: Vec<String> = Vec::new();
                let mut closed = false;
                while let Some(m) = chars.next() {
                    match m {
                        ']' if !members.is_empty() => {
                            closed = true;
                            break;
                        }
                        '\\' => members.push(format!("\\{}", chars.next().unwrap_or_default())),
                        _ => members.push(m.to_string()),
                    }
                }
                if !closed {
                    // Left as written: the builder refuses an unclosed class.
                    out.push('[');
                    out.push_str(if negated { "!" } else { "" });
                    members.iter().for_each(|m| out.push_str(m));
                    continue;
                }
                // In git a class never matches `/`; in globset it can.
                let slash = |m: &String| m == "/" || m == "\\/";
                if negated {
                    members.push("/".into());
                    added_slash = true;
                } else {
                    members.retain(|m| !slash(m));
                    if members.is_empty() {
                        return Err("a character class that only holds '/' (git never matches \
                                    such a rule)"
                            .into());
                    }
                }
                out.push('[');
                out.push_str(if negated { "!" } else { "" });
                members.iter().for_each(|m| out.push_str(m));
                out.push(']');
            }
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '/' => {
                slashes_outside_classes += 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if added_slash && slashes_outside_classes == usize::from(kept.ends_with('/')) {
        // The rule had no slash (it matches at any depth), but the `/` added to a class would
        // anchor it to the root: say "at any depth" explicitly.
        let negation = if out.starts_with('!') { "!" } else { "" };
        out = format!("{negation}**/{}", &out[negation.len()..]);
    }
    Ok(out)
}

fn glob_reason(err: &ignore::Error) -> String {
    let text = err.to_string();
    // ignore's message looks like "error parsing glob '...': unclosed character class; ..."
    match text.find("': ") {
        Some(i) => text[i + 3..].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(syncignore: &str, excludes: &[&str]) -> (tempfile::TempDir, IgnoreRules) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE_FILE), syncignore).unwrap();
        let ex: Vec<String> = excludes.iter().map(|s| s.to_string()).collect();
        let r = IgnoreRules::load(dir.path(), &ex, Path::new("conf")).unwrap();
        (dir, r)
    }

    #[test]
    fn seed_example_filters_build_logs_but_keeps_negated_file() {
        let (_d, r) = rules("build/\ndist/\n*.pyc\nlogs/\n*.log\n!important.log\n", &[]);
        assert!(r.is_ignored(Path::new("build/output.pdf"), false), "inside an ignored dir");
        assert!(r.is_ignored(Path::new("logs/app.log"), false));
        assert!(!r.is_ignored(Path::new("main.py"), false));
        assert!(!r.is_ignored(Path::new("important.log"), false), "`!` re-includes");
        assert!(r.is_ignored(Path::new("x/y/z.pyc"), false), "unanchored globs match at any depth");
    }

    #[test]
    fn double_star_and_directory_only_rules() {
        let (_d, r) = rules("a/**/tmp\ncache/\n/rooted.txt\n", &[]);
        assert!(r.is_ignored(Path::new("a/b/c/tmp"), false));
        assert!(r.is_ignored(Path::new("a/tmp"), false));
        assert!(r.is_ignored(Path::new("cache"), true));
        assert!(!r.is_ignored(Path::new("cache"), false), "dir-only rule does not match a file");
        assert!(r.is_ignored(Path::new("rooted.txt"), false));
        assert!(!r.is_ignored(Path::new("sub/rooted.txt"), false), "leading / anchors");
    }

    #[test]
    fn builtins_and_git_dir_are_always_ignored() {
        let (_d, r) = rules("", &[]);
        for p in
            [".notes.md.swp", "doc.txt~", ".DS_Store", "sub/Thumbs.db", ".git/config", "#notes.md#"]
        {
            assert!(r.is_ignored(Path::new(p), false), "{p} should be ignored by built-ins");
        }
        assert!(!r.is_ignored(Path::new("notes.md"), false));
        let m = r.explain(Path::new("a.swp"), false).unwrap();
        assert_eq!(m.source, "built-in");
    }

    #[test]
    fn explain_names_the_source_and_line() {
        let (_d, r) = rules("# comment\n*.bak\n", &["*.tmpx"]);
        let m = r.explain(Path::new("x.bak"), false).unwrap();
        assert_eq!((m.source.as_str(), m.line, m.pattern.as_str()), (".syncignore", 2, "*.bak"));
        let m = r.explain(Path::new("x.tmpx"), false).unwrap();
        assert_eq!(m.source, "exclude_patterns");
    }

    #[test]
    fn a_rules_file_linking_outside_the_folder_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(dir.path().join("secret"), "SECRET-{unclosed\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join(SYNCIGNORE_FILE)).unwrap();
        let err = IgnoreRules::load(&root, &[], Path::new("c")).unwrap_err().to_string();
        assert!(err.contains("outside the folder"), "{err}");
        assert!(!err.contains("SECRET"), "the target is not read: {err}");
        // A link to a file inside the folder is fine; a dangling one is no rules file.
        std::fs::remove_file(root.join(SYNCIGNORE_FILE)).unwrap();
        std::fs::write(root.join("shared/rules"), "*.bak\n").unwrap();
        std::os::unix::fs::symlink("shared/rules", root.join(SYNCIGNORE_FILE)).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join(".gitignore")).unwrap();
        let rules = IgnoreRules::load(&root, &[], Path::new("c")).unwrap();
        assert!(rules.is_ignored(Path::new("x.bak"), false));
    }

    #[test]
    fn bad_glob_is_an_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SYNCIGNORE_FILE), "ok\n*.[md\n").unwrap();
        let err = IgnoreRules::load(dir.path(), &[], Path::new("c")).unwrap_err().to_string();
        assert!(err.contains(".syncignore:2"), "names file and line: {err}");
        assert!(err.contains("*.[md"), "names the pattern: {err}");
        assert!(err.contains("unclosed character class"), "says what is wrong: {err}");
    }
}
