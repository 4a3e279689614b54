//! The seed's metrics JSON and the Prometheus text.

use serde_json::Value;

use crate::*;

fn assert_int(v: &Value, what: &str) {
    assert!(v.is_u64(), "{what} is an integer: {v}");
}

fn assert_number(v: &Value, what: &str) {
    assert!(v.is_number(), "{what} is a number: {v}");
}

#[test]
fn metrics_json_has_the_seeds_field_names_and_types() {
    let f = Fixture::start();
    write(&f.dev.dir.join("todo.md"), "- milk\n");
    f.dev.sync();
    let r = f.server.get("/api/sync/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    let m = r.json();

    let s = &m["stats"];
    for key in [
        "total_syncs",
        "successful_syncs",
        "failed_syncs",
        "total_files_changed",
        "rate_limit_hits",
    ] {
        assert_int(&s[key], &format!("stats.{key}"));
    }
    assert_number(&s["success_rate"], "stats.success_rate");
    assert_number(&s["avg_duration_sec"], "stats.avg_duration_sec");
    assert_eq!(s["total_syncs"], 1, "one sync ran: {s}");
    assert_eq!(s["success_rate"].as_f64(), Some(100.0));
    assert!(s["last_success"].is_string(), "stats.last_success is a time: {s}");
    assert!(s["last_failure"].is_null(), "no failure yet: {s}");

    let hourly = m["hourly"].as_array().expect("hourly is a list");
    assert!(hourly.len() >= 24, "24 h of hourly buckets: {}", hourly.len());
    for h in hourly {
        assert!(h["hour"].is_string(), "hourly[].hour is a string: {h}");
        for key in ["total", "successful", "failed"] {
            assert_int(&h[key], &format!("hourly[].{key}"));
        }
    }
    assert_eq!(hourly.last().unwrap()["successful"], 1, "the sync is in the current hour");

    let recent = m["recent"].as_array().expect("recent is a list");
    assert!(recent.iter().any(|e| e["event_type"] == "sync_success"), "{recent:?}");
    for e in recent {
        assert!(e["timestamp"].is_string() && e["event_type"].is_string(), "{e}");
    }

    let throttle = m["throttle"].as_array().expect("throttle is a list, one per folder");
    assert_eq!(throttle.len(), 1);
    let t = &throttle[0];
    assert!(t["allowed"].is_boolean(), "{t}");
    assert!(t["reason"].is_string(), "{t}");
    assert_int(&t["syncs_last_hour"], "throttle.syncs_last_hour");
    assert_int(&t["max_per_hour"], "throttle.max_per_hour");
    assert!(t["backoff"].is_null(), "no backoff after a success: {t}");

    let folders = m["folders"].as_array().expect("folders is a list");
    assert_eq!(folders.len(), 1);
    assert_eq!(folders[0]["path"], f.dev.dir.display().to_string());
    assert_eq!(folders[0]["state"], "idle");
    assert!(m["conflicts"].as_array().expect("conflicts is a list").is_empty());
}

#[test]
fn metrics_take_a_window_and_reject_bad_queries_as_json() {
    let f = Fixture::start();
    let r = f.server.get("/api/sync/metrics?hours=2");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["hourly"].as_array().unwrap().len() <= 3);
    let r = f.server.get("/api/sync/metrics?hours=many");
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["code"], "bad_request");
}

#[test]
fn prometheus_text_parses_and_counts_syncs_per_folder() {
    let f = Fixture::start();
    write(&f.dev.dir.join("todo.md"), "- milk\n");
    f.dev.sync();
    let r = f.server.get("/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let mut samples = BTreeMap::new();
    for line in r.body.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("`{line}`"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of `{line}`"));
        let open = series.find('{').unwrap_or_else(|| panic!("labels in `{line}`"));
        assert!(series.ends_with('}'), "`{line}`");
        let name = &series[..open];
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "metric name `{name}`"
        );
        for label in series[open + 1..series.len() - 1].split(',') {
            let (k, v) = label.split_once('=').unwrap_or_else(|| panic!("label in `{line}`"));
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "`{line}`");
            assert!(v.starts_with('"') && v.ends_with('"'), "quoted value in `{line}`");
        }
        samples.insert(series.to_string(), value);
    }
    let folder = f.dev.dir.display().to_string();
    let get = |s: &str| samples.get(&s.replace("F", &folder)).copied();
    assert_eq!(
        get("supersonic_syncs_total{folder=\"F\",result=\"success\"}"),
        Some(1.0),
        "{}",
        r.body
    );
    assert_eq!(get("supersonic_syncs_total{folder=\"F\",result=\"failure\"}"), Some(0.0));
    assert_eq!(get("supersonic_conflicts_pending{folder=\"F\"}"), Some(0.0));
    assert_eq!(get("supersonic_unpushed_commits{folder=\"F\"}"), Some(0.0), "the sync pushed");
    assert_eq!(get("supersonic_folder_state{folder=\"F\",state=\"idle\"}"), Some(1.0));
    let last = get("supersonic_last_success_timestamp_seconds{folder=\"F\"}").expect("a success");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!((now.as_secs_f64() - last).abs() < 600.0, "the last success was just now: {last}");
}
