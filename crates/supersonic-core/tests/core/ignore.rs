//! The ignore matcher against git itself: on a fixed, seeded corpus of random rule sets and
//! paths, `IgnoreRules` must say "ignored" exactly when `git check-ignore` does (the fuzz
//! target `ignore_diff` explores further). Cases that once differed are kept as regressions.

use std::path::Path;

use supersonic_core::ignore::{IgnoreRules, BUILTIN_EXCLUDES};
use supersonic_core::Error;
use supersonic_testkit::{spread, CheckIgnore, IgnoreCase, Rng};

/// Cases in the seeded corpus; each costs one `git check-ignore` run (a few ms).
const CASES: u64 = 300;

/// What the engine made of a case.
enum Outcome {
    /// The engine and git agree on every path.
    Agree,
    /// The engine refused a rule that git accepts but never matches (checked: alone, git
    /// ignores none of the case's paths with it). A deliberate difference: see
    /// `ignore::git_faithful`.
    RefusedNeverMatching,
    /// Where they differ, described.
    Differ(Vec<String>),
}

fn judge(oracle: &CheckIgnore, case: &IgnoreCase) -> Outcome {
    let verdicts = oracle.judge(BUILTIN_EXCLUDES, case);
    // The oracle wrote the built-ins then the case's rules as the root `.gitignore`, which
    // the engine reads too (after its own built-ins, which changes nothing).
    let rules = match IgnoreRules::load(oracle.root(), &[], Path::new("config.yaml")) {
        Ok(rules) => rules,
        Err(Error::IgnorePattern { line, pattern, reason, .. }) => {
            let rule = line.checked_sub(BUILTIN_EXCLUDES.len() + 1).map(|i| &case.rules[i]);
            assert_eq!(rule, Some(&pattern), "the error names the rule's line");
            let alone = IgnoreCase { rules: vec![pattern.clone()], paths: case.paths.clone() };
            let matched: Vec<String> = oracle
                .judge(&[], &alone)
                .iter()
                .zip(&case.paths)
                .filter(|(v, _)| v.ignored)
                .map(|(v, (p, _))| format!("{p} ({})", v.rule))
                .collect();
            if matched.is_empty() {
                return Outcome::RefusedNeverMatching;
            }
            return Outcome::Differ(vec![format!(
                "the engine refused {pattern:?} ({reason}) but git matches it: {matched:?}"
            )]);
        }
        Err(e) => return Outcome::Differ(vec![format!("the engine failed: {e}")]),
    };
    let mut out = Vec::new();
    for ((path, is_dir), git) in case.paths.iter().zip(verdicts) {
        let ours = rules.is_ignored(Path::new(path), *is_dir);
        if ours != git.ignored {
            let kind = if *is_dir { "directory" } else { "file" };
            out.push(format!(
                "{kind} {path:?}: engine ignored={ours} ({:?}), git ignored={} ({})",
                rules.explain(Path::new(path), *is_dir).map(|m| m.pattern),
                git.ignored,
                git.rule
            ));
        }
    }
    if out.is_empty() {
        Outcome::Agree
    } else {
        Outcome::Differ(out)
    }
}

fn assert_agrees(oracle: &CheckIgnore, rules: &[&str], paths: &[(&str, bool)]) {
    let case = IgnoreCase {
        rules: rules.iter().map(|r| r.to_string()).collect(),
        paths: paths.iter().map(|(p, d)| (p.to_string(), *d)).collect(),
    };
    if let Outcome::Differ(found) = judge(oracle, &case) {
        panic!("rules {:?}:\n{}", case.rules, found.join("\n"));
    }
}

fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::xorshift64(spread(seed));
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

#[test]
fn the_matcher_agrees_with_git_check_ignore_on_a_seeded_corpus() {
    let oracle = CheckIgnore::new();
    let (mut failures, mut refused) = (Vec::new(), 0);
    for seed in 0..CASES {
        let case = IgnoreCase::from_bytes(&seeded_bytes(seed, 64));
        match judge(&oracle, &case) {
            Outcome::Agree => {}
            Outcome::RefusedNeverMatching => refused += 1,
            Outcome::Differ(found) => failures.push(format!(
                "seed {seed}, rules {:?}:\n  {}",
                case.rules,
                found.join("\n  ")
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} cases differ from git:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Most cases must really be compared, not refused.
    assert!(refused < CASES / 2, "{refused} of {CASES} cases refused: the corpus tests little");
}

/// Cases where the engine once differed from git, found by this corpus; each is checked
/// against git again.
#[test]
fn former_differences_from_git_stay_fixed() {
    let oracle = CheckIgnore::new();
    // Braces are literal in git (the matcher read `{a,b}` as "a or b").
    assert_agrees(&oracle, &["{a,b}", "x.{md,txt}"], &[("a", false), ("x.md", false)]);
    assert_agrees(&oracle, &["{a,b}"], &[("{a,b}", false)]);
    // An ignored directory hides everything below it, even a path a later `!` re-includes
    // (the matcher looked at the path itself first).
    assert_agrees(&oracle, &["a/", "!a/b"], &[("a/b", false), ("a/c", false)]);
    assert_agrees(&oracle, &["a/", "!a/b/"], &[("a/b/c", false)]);
    assert_agrees(&oracle, &["/*", "!/keep"], &[("keep/x", false), ("other/x", false)]);
    // A character class never matches `/` (the matcher let `[!a]` and `[ /]` match it).
    assert_agrees(&oracle, &["x[!a]y"], &[("x/y", false), ("xby", false)]);
    assert_agrees(&oracle, &["**[ /[a-c][!a]/*"], &[("a.txt/b/a b", false)]);
    // A negated class in a rule without a slash still matches at any depth.
    assert_agrees(&oracle, &["[^b]?"], &[("b/ab", true), ("ab", false)]);
    assert_agrees(&oracle, &["[!a]/"], &[("b", true), ("a/b", true)]);
    // Runs of stars (fuzz target ignore_diff): a run that is a whole segment is `**`, and
    // `**/**` is `**` (the matcher missed the top-level `a` with `******/**/**`).
    assert_agrees(&oracle, &["******/**/**"], &[("a", true), ("b/c", false)]);
    assert_agrees(&oracle, &["**/**"], &[("a", false), ("b/c", true)]);
    assert_agrees(&oracle, &["a/**/**"], &[("a", true), ("a/b", false)]);
    assert_agrees(&oracle, &["a***b"], &[("ab", false), ("axb", false), ("a/b", false)]);
    assert_agrees(&oracle, &["x/***/y"], &[("x/y", false), ("x/a/b/y", false)]);
    // An empty pattern matches nothing (the matcher read `! ` as "re-include everything").
    assert_agrees(&oracle, &["*/", "! "], &[("b.log/b.log", true), ("c", false)]);
    assert_agrees(&oracle, &["*", "!", "/", "!/"], &[("a", false), ("b/c", false)]);
}

#[test]
fn rules_git_accepts_but_never_matches_are_refused_with_their_line() {
    // seed 234: `\/` matched every path; `foo\/` was read as `foo/`; an unclosed `[` matched
    // literally. Git never matches any of them (checked on the oracle), so the engine names
    // the rule instead of guessing.
    let oracle = CheckIgnore::new();
    for rule in ["\\/", "foo\\/", "foo\\", "a[b", "[/]"] {
        let case = IgnoreCase {
            rules: vec![rule.to_string()],
            paths: vec![("foo".into(), true), ("a[b".into(), false), ("x".into(), false)],
        };
        assert!(
            matches!(judge(&oracle, &case), Outcome::RefusedNeverMatching),
            "{rule:?} is refused, and git matches none of the paths with it"
        );
    }
}
