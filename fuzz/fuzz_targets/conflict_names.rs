//! Conflict copy names on arbitrary paths: never a panic; the copy of a plain path is a copy
//! whose original is that path and whose device is the (sanitised) device.
#![no_main]
use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use supersonic_core::conflicts::{
    conflict_copy_name, copy_device, copy_timestamp, is_conflict_copy, original_of,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, device) = text.split_once('\n').unwrap_or((text, "laptop"));
    let _ = (original_of(path), copy_timestamp(path), copy_device(path), is_conflict_copy(path));
    if path.is_empty() || is_conflict_copy(path) || path.ends_with('/') {
        return;
    }
    let time = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 5, 4, 3).unwrap();
    let copy = conflict_copy_name(path, time, device);
    assert!(is_conflict_copy(&copy), "{copy:?} is a conflict copy");
    assert_eq!(copy_timestamp(&copy), "20261122-050403", "{copy:?}");
    if let Some(original) = original_of(&copy) {
        let stem_has_dot = path.rsplit('/').next().is_some_and(|n| n.trim_start_matches('.').contains('.'));
        if !stem_has_dot {
            assert_eq!(original, path, "{copy:?}");
        }
    }
});
