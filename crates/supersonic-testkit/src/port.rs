//! Free TCP ports on 127.0.0.1 for servers that bind themselves, never handed out twice.

use std::net::{Ipv4Addr, TcpListener};

use crate::rng::{spread, Rng};

/// Returns a free TCP port on 127.0.0.1.
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768..60999) that servers
/// binding port 0 draw from, and no port is handed out twice in one process: so a port given to
/// a daemon is never the one a `bind(0)` server of a concurrent test gets after the daemon
/// stops. Another process may still take it first; fixtures retry with a new port then.
///
/// # Panics
///
/// Panics when no port can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    free_listener().local_addr().expect("listener address").port()
}

/// Binds a listener on 127.0.0.1 to a port from [`free_port`]'s range, never handed out before
/// in this process: servers of the testkit use it rather than port 0, so after one stops, no
/// concurrent test's server can take its port and answer in its place.
///
/// # Panics
///
/// Panics when no port can be bound on 127.0.0.1.
pub fn free_listener() -> TcpListener {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng::xorshift64(spread(u64::from(std::process::id()) ^ nanos));
    for _ in 0..10_000 {
        let port = 20_000 + rng.below(12_000) as u16;
        if handed.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            handed.insert(port);
            return listener;
        }
    }
    panic!("no free port in 20000..32000 on 127.0.0.1");
}
