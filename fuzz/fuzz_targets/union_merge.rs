//! The union merges on arbitrary sides: never a panic; a JSON merge that succeeds is valid
//! JSON; the text union never drops a line that only one side has.
#![no_main]
use libfuzzer_sys::fuzz_target;
use supersonic_core::conflicts::{drop_union_duplicates, merge_json_bytes};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let (base, ours, theirs) =
        (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    if let Some(merged) = merge_json_bytes(Some(base), ours, theirs) {
        serde_json::from_slice::<serde_json::Value>(&merged).expect("a JSON merge is JSON");
    }
    let mut naive = ours.to_vec();
    if !naive.is_empty() && !naive.ends_with(b"\n") {
        naive.push(b'\n');
    }
    naive.extend_from_slice(theirs);
    let merged = drop_union_duplicates(&naive, ours, theirs);
    let lines = |t: &[u8]| -> Vec<Vec<u8>> {
        t.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec()).collect()
    };
    let kept = lines(&merged);
    for line in lines(ours).into_iter().chain(lines(theirs)).filter(|l| !l.is_empty()) {
        assert!(kept.contains(&line), "a line of one side was dropped");
    }
});
