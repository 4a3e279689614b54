//! Pages: the built web UI and the built-in dashboard, served without a token.

use supersonic_core::events::EventBus;

use crate::*;

#[test]
fn the_built_ui_is_served_without_a_token() {
    let sb = Sandbox::new();
    let remote = sb.bare_remote("notes");
    let dev = Dev::new(&sb, &remote, "alpha");
    let dist = sb.path().join("dist");
    write(&dist.join("index.html"), "<!doctype html><title>Supersonic UI</title>");
    write(&dist.join("assets/app.js"), "console.log('ui')");
    let server = Server::start(&dev.api, None, EventBus::default(), Some(dist));
    let index = server.request("GET", "/", &[], None);
    assert_eq!(index.status, 200, "{index:?}");
    assert!(index.body.contains("Supersonic UI"), "/ is ui/dist/index.html: {}", index.body);
    let asset = server.request("GET", "/assets/app.js", &[], None);
    assert_eq!(asset.status, 200);
    assert_eq!(asset.body, "console.log('ui')");
    let dashboard = server.request("GET", "/api/sync/dashboard", &[], None);
    assert_eq!(dashboard.status, 200, "the page holds no data, so it needs no token");
    assert!(dashboard.body.contains("Supersonic UI"), "the dashboard is the UI when built");
    let missing = server.request("GET", "/../Cargo.toml", &[], None);
    assert_ne!(missing.status, 200, "nothing outside ui/dist is served");
}

#[test]
fn without_a_built_ui_the_dashboard_is_built_in() {
    let f = Fixture::start();
    for path in ["/", "/api/sync/dashboard"] {
        let page = f.server.request("GET", path, &[], None);
        assert_eq!(page.status, 200, "{path}: {page:?}");
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        assert!(page.body.contains("/api/sync/metrics"), "{path}: the page fetches the metrics");
        assert!(page.body.contains("#token") || page.body.contains("location.hash"));
    }
    let r = f.server.request("GET", "/nothing-here", &[], None);
    assert_eq!(r.status, 404);
}
