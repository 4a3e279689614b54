//! A TCP server that accepts connections and never answers: the hanging remote.
//!
//! Accepted connections are held open without reading or writing, so a client sees its
//! connection established and its request sent, and then waits; only a deadline of its own
//! gets it out. Dropping the server closes the connections (clients then see end of file) and
//! the listening socket.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// A server on 127.0.0.1 that accepts connections and never answers; dropping it stops it.
#[derive(Debug)]
pub struct HangingServer {
    port: u16,
    shutdown: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
}

impl HangingServer {
    /// Starts the server on a free port.
    ///
    /// # Panics
    ///
    /// Panics when no port can be bound.
    pub fn start() -> HangingServer {
        let listener = crate::free_listener();
        let port = listener.local_addr().expect("hanging server address").port();
        let shutdown = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let accept_thread = {
            let shutdown = Arc::clone(&shutdown);
            let accepted = Arc::clone(&accepted);
            thread::Builder::new()
                .name(format!("hanging-{port}"))
                .spawn(move || {
                    // Held, never read or written, until the server stops.
                    let mut held: Vec<TcpStream> = Vec::new();
                    for stream in listener.incoming() {
                        if shutdown.load(Ordering::SeqCst) {
                            return;
                        }
                        if let Ok(stream) = stream {
                            held.push(stream);
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
                .expect("spawn the hanging server thread")
        };
        HangingServer { port, shutdown, accepted, accept_thread: Some(accept_thread) }
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns how many connections the server has accepted (and is holding) so far.
    ///
    /// Lets a test check that a client really reached the server before it started hanging.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Returns a git protocol URL for `repo` on this server.
    pub fn git_url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{}", self.port, repo.trim_start_matches('/'))
    }

    /// Returns an HTTP URL for `repo` on this server.
    pub fn http_url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, repo.trim_start_matches('/'))
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        if let Some(accept_thread) = self.accept_thread.take() {
            self.shutdown.store(true, Ordering::SeqCst);
            // Wakes the blocking accept so that the loop sees the flag.
            let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
            let _ = accept_thread.join();
        }
    }
}
