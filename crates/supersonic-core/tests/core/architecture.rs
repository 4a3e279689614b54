//! The rules of the layout (docs/architecture.md), checked over the source text so they stay
//! true: the core's modules import each other without a loop, only `git/` touches git, no source
//! file grows past one idea, and the desktop app shares the core rather than the HTTP crate.
//!
//! The import graph has one node per module file (`git/staging.rs` is `git::staging`, a
//! `mod.rs` is its folder's module). An edge is a path naming another module (`crate::x::y`,
//! `super::y`, or a child named in its parent's `use`); a path is resolved to the longest module
//! it names, and names the crate root re-exports (`crate::Error`) to the module that defines
//! them. A module using its own ancestors (`super::GitRepo` in `git/staging.rs`) is one room
//! with them and makes no edge; a parent re-exporting a child does, so a loop through a
//! re-export is seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest a source file may be: one idea per file, read in one sitting.
const MAX_LINES: usize = 800;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Returns the module path of a source file (`git/mod.rs` → `git`, `lib.rs` → ``).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// Returns the code of a file without comments and without its unit tests.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            out.push('\n');
            continue;
        }
        // A `//` after code ends the line, unless it sits in a string (`"https://…"`).
        let mut in_str = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            match bytes[i] {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => in_str = !in_str,
                b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Parses a use tree or path starting at `s` (after `crate::`, `super::` or `use `), returning
/// every full path it names (`a::{b, c::d}` → `a::b`, `a::c::d`).
fn paths_at(s: &str) -> Vec<Vec<String>> {
    fn tree(chars: &[char], i: &mut usize) -> Vec<Vec<String>> {
        let mut prefix = Vec::new();
        loop {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
            if *i < chars.len() && chars[*i] == '{' {
                *i += 1;
                let mut all = Vec::new();
                loop {
                    for mut p in tree(chars, i) {
                        let mut full = prefix.clone();
                        full.append(&mut p);
                        all.push(full);
                    }
                    while *i < chars.len() && chars[*i].is_whitespace() {
                        *i += 1;
                    }
                    match chars.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break;
                        }
                        _ => break,
                    }
                    while *i < chars.len() && chars[*i].is_whitespace() {
                        *i += 1;
                    }
                    if chars.get(*i) == Some(&'}') {
                        *i += 1;
                        break;
                    }
                }
                return all;
            }
            let start = *i;
            while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
                *i += 1;
            }
            if start == *i {
                return vec![prefix];
            }
            prefix.push(chars[start..*i].iter().collect());
            if chars.get(*i) == Some(&':') && chars.get(*i + 1) == Some(&':') {
                *i += 2;
            } else {
                return vec![prefix];
            }
        }
    }
    let chars: Vec<char> = s.chars().take(2000).collect();
    let mut i = 0;
    tree(&chars, &mut i)
}

/// One module's outgoing edges: target module → the first line that makes the edge.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn is_ancestor(ancestor: &str, of: &str) -> bool {
    ancestor.is_empty() || of.starts_with(&format!("{ancestor}::"))
}

/// Builds the import graph of the crate at `src` (see the module doc).
fn import_graph(src: &Path) -> Edges {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    // Names the crate root re-exports (`pub use error::{Error, Result}`), to their module.
    let lib = code_of(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut root_names = BTreeMap::new();
    for (at, _) in lib.match_indices("pub use ") {
        for path in paths_at(&lib[at + 8..]) {
            if let (Some(first), Some(last)) = (path.first(), path.last()) {
                root_names.insert(last.clone(), first.clone());
            }
        }
    }
    let resolve = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|m| modules.contains(m))
            .or_else(|| path.first().and_then(|name| root_names.get(name)).cloned())
    };
    let mut graph = Edges::new();
    for file in &files {
        let module = module_of(src, file);
        if module.is_empty() {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let parent = module.rsplit_once("::").map(|(p, _)| p.to_string()).unwrap_or_default();
        let mut targets: Vec<(Vec<String>, usize)> = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            for p in paths_at(&code[at + 7..]) {
                targets.push((p, at));
            }
        }
        for (at, _) in code.match_indices("super::") {
            if code[..at].ends_with("::") {
                continue; // `super::super::` is read from its first `super`.
            }
            let base: Vec<String> =
                parent.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
            for p in paths_at(&code[at + 7..]) {
                let mut full = base.clone();
                full.extend(p);
                targets.push((full, at));
            }
        }
        // A parent naming its children: `pub use staging::X;`, `use self::x`.
        for (at, _) in code.match_indices("use ") {
            let rest = code[at + 4..].trim_start().trim_start_matches("self::");
            for p in paths_at(rest) {
                let Some(first) = p.first() else { continue };
                let child = format!("{module}::{first}");
                if modules.contains(&child) {
                    let mut full: Vec<String> = module.split("::").map(String::from).collect();
                    full.extend(p);
                    targets.push((full, at));
                }
            }
        }
        let edges = graph.entry(module.clone()).or_default();
        for (path, at) in targets {
            let Some(target) = resolve(&path) else { continue };
            if target == module || target.is_empty() || is_ancestor(&target, &module) {
                continue;
            }
            let line_no = code[..at].matches('\n').count() + 1;
            let line = code.lines().nth(line_no - 1).unwrap_or("").trim().to_string();
            let rel = file.strip_prefix(src).unwrap().display();
            edges.entry(target).or_insert_with(|| format!("{rel}:{line_no}: {line}"));
        }
    }
    graph
}

/// Returns the strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Edges) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Edges,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(edges) = s.graph.get(v) {
            for w in edges.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_core_modules_import_each_other_without_a_loop() {
    let graph = import_graph(&crate_dir().join("src"));
    assert!(graph.len() > 20, "the graph covers the core's modules: {:?}", graph.keys());
    let loops = cycles(&graph);
    let explain = |comp: &Vec<String>| {
        let mut out = String::new();
        for m in comp {
            for (target, why) in &graph[m] {
                if comp.contains(target) {
                    out.push_str(&format!("  {m} -> {target}   ({why})\n"));
                }
            }
        }
        out
    };
    let text: Vec<String> =
        loops.iter().map(|c| format!("loop among {c:?}:\n{}", explain(c))).collect();
    assert!(loops.is_empty(), "import loops in supersonic-core:\n{}", text.join("\n"));
}

#[test]
fn the_graph_check_sees_a_loop_through_a_re_export() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub use a::Thing;\n");
    write("a/mod.rs", "mod inner;\npub use inner::Thing;\n");
    write("a/inner.rs", "use super::Other;\nuse crate::b::{self, x::{Y, Z}};\npub struct Thing;\n");
    write("b/mod.rs", "pub mod x;\n");
    write("b/x.rs", "// crate::a is only a comment here\nuse crate::Thing;\n");
    let graph = import_graph(src);
    assert!(graph["a::inner"].contains_key("b::x"), "{graph:?}");
    assert!(!graph["a::inner"].contains_key("a"), "a child using its parent is one room");
    assert!(graph["a"].contains_key("a::inner"), "a parent re-exporting a child is an edge");
    assert!(graph["b::x"].contains_key("a"), "crate::Thing resolves through the root's re-export");
    let loops = cycles(&graph);
    assert_eq!(loops, vec![vec!["a".to_string(), "a::inner".into(), "b::x".into()]]);
}

#[test]
fn only_the_git_module_touches_git() {
    let src = crate_dir().join("src");
    let mut offenders = Vec::new();
    for file in rust_files(&src) {
        let rel = file.strip_prefix(&src).unwrap().to_path_buf();
        if rel.starts_with("git") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (n, line) in code.lines().enumerate() {
            if line.contains("git2::") || line.contains("Command::new(\"git\")") {
                offenders.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "git2 or a git process outside git/:\n{}", offenders.join("\n"));
}

#[test]
fn no_source_file_is_longer_than_one_idea() {
    let crates = crate_dir().parent().unwrap().to_path_buf();
    let root = crates.parent().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.join("src-tauri"));
    let mut long = Vec::new();
    for dir in dirs {
        for file in rust_files(&dir) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!(
                    "{} ({lines} lines)",
                    file.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_desktop_app_depends_on_the_core_not_on_the_http_crate() {
    let root = crate_dir().parent().unwrap().parent().unwrap().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&root).unwrap();
    let deps = manifest
        .split("\n[dependencies]\n")
        .nth(1)
        .map(|rest| rest.split("\n[").next().unwrap_or(rest))
        .expect("the app package has a [dependencies] table");
    assert!(deps.contains("supersonic-core"), "the app uses the core");
    assert!(!deps.contains("supersonic-http"), "the app must not link the HTTP crate:\n{deps}");
}
