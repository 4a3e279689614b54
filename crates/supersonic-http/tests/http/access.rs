//! Who may talk to the server: token, Host and CORS rules.

use crate::*;

#[test]
fn api_calls_without_a_token_are_refused_with_401() {
    let f = Fixture::start();
    for path in ["/api/status", "/api/sync/metrics", "/metrics", "/api/events", "/api/nope"] {
        let r = f.server.request("GET", path, &[], None);
        assert_eq!(r.status, 401, "{path} needs the token: {r:?}");
        assert_eq!(r.json()["code"], "token_missing", "{path}: the UI branches on the code");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{path}");
    }
}

#[test]
fn a_wrong_token_is_refused_with_403() {
    let f = Fixture::start();
    let wrong = format!("Bearer {}", "0".repeat(64));
    let r = f.server.request("GET", "/api/status", &[("Authorization", &wrong)], None);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["code"], "token_invalid");
    let truncated = format!("Bearer {}", &f.server.token[..63]);
    let r = f.server.request("GET", "/metrics", &[("Authorization", &truncated)], None);
    assert_eq!(r.status, 403, "a prefix of the token is not the token: {r:?}");
}

#[test]
fn the_query_token_is_accepted_on_the_event_stream_only() {
    let f = Fixture::start();
    let query = format!("?token={}", f.server.token);
    let r = f.server.request("GET", &format!("/api/status{query}"), &[], None);
    assert_eq!(r.status, 401, "a token in a URL leaks into logs; only EventSource needs it");
    let sse = SseStream::open(&f.server, &format!("/api/events{query}"));
    assert_eq!(sse.status, 200, "EventSource cannot set headers, so the stream takes ?token=");
}

#[test]
fn a_foreign_host_is_refused_even_with_the_right_token() {
    let f = Fixture::start();
    let auth = format!("Bearer {}", f.server.token);
    let evil = format!("evil.example:{}", f.server.port());
    for path in ["/api/status", "/", "/api/sync/dashboard"] {
        let r = f.server.request("GET", path, &[("Host", &evil), ("Authorization", &auth)], None);
        assert_eq!(r.status, 403, "{path}: a rebound DNS name must not reach the API: {r:?}");
        assert_eq!(r.json()["code"], "host_not_allowed");
    }
    let other_port = format!("127.0.0.1:{}", f.server.port() + 1);
    let r = f.server.request(
        "GET",
        "/api/status",
        &[("Host", &other_port), ("Authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 403, "the port is part of the origin: {r:?}");
    for host in [format!("localhost:{}", f.server.port()), f.server.host()] {
        let r = f.server.request(
            "GET",
            "/api/status",
            &[("Host", &host), ("Authorization", &auth)],
            None,
        );
        assert_eq!(r.status, 200, "{host} is this server: {r:?}");
    }
}

#[test]
fn answers_carry_no_cors_headers() {
    let f = Fixture::start();
    let auth = format!("Bearer {}", f.server.token);
    let origin = ("Origin", "http://evil.example");
    let r = f.server.request("GET", "/api/status", &[origin, ("Authorization", &auth)], None);
    assert_eq!(r.status, 200);
    let preflight = f.server.request(
        "OPTIONS",
        "/api/status",
        &[origin, ("Access-Control-Request-Method", "GET")],
        None,
    );
    for r in [&r, &preflight] {
        assert!(
            r.headers.iter().all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control-")),
            "no CORS header lets another origin read answers: {r:?}"
        );
    }
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "pages cannot be framed");
    assert_eq!(r.header("cache-control"), Some("no-store"), "API answers are not cached");
}

#[test]
fn a_non_loopback_address_is_refused() {
    let f = Fixture::start();
    let opts = supersonic_http::ServeOptions {
        addr: "0.0.0.0:0".parse().unwrap(),
        token: f.server.token.clone(),
        ui_dir: None,
    };
    let err =
        supersonic_http::start(opts, f.dev.api.clone(), None, Default::default()).unwrap_err();
    assert!(matches!(err, supersonic_http::Error::NotLoopback(_)), "{err}");
}

#[test]
fn a_short_token_is_refused() {
    let f = Fixture::start();
    let opts = supersonic_http::ServeOptions {
        addr: "127.0.0.1:0".parse().unwrap(),
        token: "secret".into(),
        ui_dir: None,
    };
    let err =
        supersonic_http::start(opts, f.dev.api.clone(), None, Default::default()).unwrap_err();
    assert!(matches!(err, supersonic_http::Error::WeakToken), "{err}");
}
