//! The app config parser on arbitrary text: an error naming the file, never a panic; whatever
//! loads saves and loads back to the same configuration.
#![no_main]
use libfuzzer_sys::fuzz_target;
use supersonic_core::config::{load_app_config, save_app_config};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, data).unwrap();
    match load_app_config(&file) {
        Ok(config) => {
            let again = dir.path().join("again.yaml");
            save_app_config(&again, &config).unwrap();
            assert_eq!(load_app_config(&again).unwrap(), config, "a saved config loads back");
        }
        Err(e) => assert!(e.to_string().contains("config.yaml"), "the error names the file: {e}"),
    }
});
