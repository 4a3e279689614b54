//! The ignore matcher against `git check-ignore`: a small rule set and paths decoded from the
//! input (testkit `IgnoreCase`); the engine must call a path ignored exactly when git does.
//! A rule the engine refuses must be one git never matches (alone, git ignores none of the
//! paths with it). A difference panics with the rules, the path and both verdicts; add it to
//! `former_differences_from_git_stay_fixed` in crates/supersonic-core/tests/core/ignore.rs.
#![no_main]
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use supersonic_core::ignore::{IgnoreRules, BUILTIN_EXCLUDES};
use supersonic_core::Error;
use supersonic_testkit::{CheckIgnore, IgnoreCase};

static ORACLE: OnceLock<CheckIgnore> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let oracle = ORACLE.get_or_init(CheckIgnore::new);
    let case = IgnoreCase::from_bytes(data);
    let verdicts = oracle.judge(BUILTIN_EXCLUDES, &case);
    let rules = match IgnoreRules::load(oracle.root(), &[], Path::new("config.yaml")) {
        Ok(rules) => rules,
        Err(Error::IgnorePattern { pattern, reason, .. }) => {
            let alone = IgnoreCase { rules: vec![pattern.clone()], paths: case.paths.clone() };
            for (v, (path, _)) in oracle.judge(&[], &alone).iter().zip(&case.paths) {
                assert!(
                    !v.ignored,
                    "the engine refused {pattern:?} ({reason}) but git matches {path:?} with it"
                );
            }
            return;
        }
        Err(e) => panic!("the engine failed on rules {:?}: {e}", case.rules),
    };
    for ((path, is_dir), git) in case.paths.iter().zip(verdicts) {
        let ours = rules.is_ignored(Path::new(path), *is_dir);
        assert_eq!(
            ours,
            git.ignored,
            "rules {:?}, {} {path:?}: engine {:?}, git {:?}",
            case.rules,
            if *is_dir { "directory" } else { "file" },
            rules.explain(Path::new(path), *is_dir).map(|m| m.pattern),
            git.rule
        );
    }
});
