//! A webhook receiver: a real HTTP/1.1 server on 127.0.0.1 that records every request and
//! answers from a script.
//!
//! Each connection gets a thread that reads one request (body framed by `Content-Length`, or
//! chunked), records it, and then answers with the next [`Reply`] of the script: a status, headers
//! and a body, optionally after a delay, or never ([`Reply::hang`]: the connection is held open
//! without a byte written until the receiver stops). Once the script is used up, every further
//! request gets the receiver's fallback reply: `200 OK` for [`Receiver::start`], the given reply
//! for [`Receiver::always`]. Every answer carries `Content-Length` and `Connection: close`, so a
//! client never reuses a connection and each request is one connection.
//!
//! A request is recorded as soon as it is read, before the answer, so a test can see that a
//! client reached a receiver that never answers. Dropping the receiver stops it: the listening
//! socket closes and held connections are released.

use std::collections::VecDeque;
use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::wire;

/// How long a connection may stay silent while its request is read.
///
/// Long enough for a slow client on a loaded machine, short enough that an abandoned connection
/// does not keep a thread alive for the rest of the test run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest request body accepted, in bytes: webhook payloads are a few kilobytes.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One scripted answer of a [`Receiver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    hang: bool,
}

impl Reply {
    /// Returns a reply with `status`, no extra headers and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), delay: Duration::ZERO, hang: false }
    }

    /// Returns a `200 OK` reply with the body `ok`.
    pub fn ok() -> Reply {
        Reply::status(200).body("ok")
    }

    /// Returns a reply that never comes: the connection is held open, silent, until the
    /// receiver stops.
    pub fn hang() -> Reply {
        Reply { hang: true, ..Reply::status(0) }
    }

    /// Returns the reply with the header `name: value` added.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Returns the reply with `body` as its body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Returns the reply sent only after `delay` has passed since the request was read.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// One request as the receiver read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`POST`).
    pub method: String,
    /// The request target as sent: path and query (`/hook?x=1`).
    pub path: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// When the request had been read completely.
    pub received_at: Instant,
}

impl Request {
    /// Returns the value of header `name` (matched case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        wire::header(&self.headers, name)
    }

    /// Returns the body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the connection threads share with the [`Receiver`].
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a request is recorded and when the receiver stops.
    changed: Condvar,
    shutdown: AtomicBool,
}

#[derive(Debug)]
struct State {
    script: VecDeque<Reply>,
    fallback: Reply,
    requests: Vec<Request>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running webhook receiver on 127.0.0.1; dropping it stops it.
#[derive(Debug)]
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver that answers requests with `script` in order, then with `200 OK`.
    ///
    /// # Panics
    ///
    /// Panics when no port can be bound.
    pub fn start(script: Vec<Reply>) -> Receiver {
        Receiver::with_script(script, Reply::ok())
    }

    /// Starts a receiver that answers every request with `reply` (for instance
    /// `Receiver::always(Reply::hang())`, an endpoint that never answers).
    ///
    /// # Panics
    ///
    /// Panics when no port can be bound.
    pub fn always(reply: Reply) -> Receiver {
        Receiver::with_script(Vec::new(), reply)
    }

    fn with_script(script: Vec<Reply>, fallback: Reply) -> Receiver {
        let listener = crate::free_listener();
        let port = listener.local_addr().expect("receiver address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { script: script.into(), fallback, requests: Vec::new() }),
            changed: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let accept_thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("receiver-{port}"))
                .spawn(move || {
                    let stopping = || shared.shutdown.load(Ordering::SeqCst);
                    let conn = Arc::clone(&shared);
                    wire::accept_loop(&listener, "receiver", stopping, move |stream| {
                        serve(&conn, stream)
                    });
                })
                .expect("spawn the receiver accept thread")
        };
        Receiver { port, shared, accept_thread: Some(accept_thread) }
    }

    /// Returns the port the receiver listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the URL of `path` on this receiver (`http://127.0.0.1:PORT/path`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, path.trim_start_matches('/'))
    }

    /// Returns every request recorded so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    /// Waits until at least `n` requests have been recorded and returns them all.
    ///
    /// # Panics
    ///
    /// Panics, saying how many arrived, when fewer than `n` have after `timeout`.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while state.requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out after {timeout:?} waiting for {n} request(s) at the receiver on \
                     port {}; {} arrived",
                    self.port,
                    state.requests.len()
                );
            }
            state =
                self.shared.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.requests.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else { return };
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Releases held connections, then wakes the blocking accept so that it sees the flag.
        {
            let _state = self.shared.lock();
            self.shared.changed.notify_all();
        }
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        let _ = accept_thread.join();
    }
}

/// Reads one request on `stream`, records it, answers it as scripted and closes the connection.
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let request = match wire::read_request(&mut reader, &mut writer, Some(MAX_BODY)) {
        Ok(r) => Request {
            method: r.method,
            path: r.target,
            headers: r.headers,
            body: r.body,
            received_at: Instant::now(),
        },
        // The wake-up connection of Drop, or a client that gave up before sending anything.
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
        Err(err) => return Err(err),
    };
    let reply = {
        let mut state = shared.lock();
        state.requests.push(request);
        shared.changed.notify_all();
        let fallback = state.fallback.clone();
        state.script.pop_front().unwrap_or(fallback)
    };
    if reply.hang || !reply.delay.is_zero() {
        // Waits for the delay (forever for a hang), cut short when the receiver stops.
        let until = (!reply.hang).then(|| Instant::now() + reply.delay);
        let mut state = shared.lock();
        loop {
            if shared.shutdown.load(Ordering::SeqCst) {
                return Ok(());
            }
            let left = match until {
                Some(until) => until.saturating_duration_since(Instant::now()),
                None => IDLE_TIMEOUT,
            };
            if until.is_some() && left.is_zero() {
                break;
            }
            state = shared.changed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
    let status = format!("{} {}", reply.status, reason(reply.status));
    wire::write_response(&mut writer, &status, &reply.headers, &reply.body)?;
    writer.flush()?;
    writer.shutdown(std::net::Shutdown::Both)
}

/// Returns the reason phrase of the statuses tests use (clients ignore it anyway).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Sends `raw` to the receiver and returns everything it answered.
    fn exchange(receiver: &Receiver, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, receiver.port())).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(raw).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn replies_follow_the_script_then_fall_back_to_ok() {
        let receiver = Receiver::start(vec![
            Reply::status(500),
            Reply::status(429).header("Retry-After", "1"),
        ]);
        let post = b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
        assert!(exchange(&receiver, post).starts_with("HTTP/1.1 500 "), "first scripted reply");
        let second = exchange(&receiver, post);
        assert!(second.starts_with("HTTP/1.1 429 "), "second scripted reply: {second}");
        assert!(second.contains("Retry-After: 1\r\n"), "scripted headers are sent: {second}");
        let third = exchange(&receiver, post);
        assert!(third.starts_with("HTTP/1.1 200 ") && third.ends_with("ok"), "{third}");
        let requests = receiver.wait_for(3, Duration::from_secs(5));
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/hook");
        assert_eq!(requests[0].header("content-length"), Some("2"), "headers match any case");
        assert_eq!(requests[2].body, b"hi");
    }

    #[test]
    fn a_chunked_body_is_recorded_whole() {
        let receiver = Receiver::start(vec![]);
        let post =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1\r\n!\r\n0\r\n\r\n";
        exchange(&receiver, post);
        assert_eq!(receiver.requests()[0].text(), "hi!");
    }

    #[test]
    fn a_hanging_reply_records_the_request_and_is_released_on_drop() {
        let receiver = Receiver::always(Reply::hang());
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, receiver.port())).unwrap();
        stream.write_all(b"GET /x HTTP/1.1\r\n\r\n").unwrap();
        receiver.wait_for(1, Duration::from_secs(5));
        stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut buf = [0u8; 16];
        let err = stream.read(&mut buf).expect_err("a hanging reply sends nothing");
        assert!(
            matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
            "the read times out rather than seeing an answer: {err}"
        );
        drop(receiver);
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(stream.read(&mut buf).unwrap_or(0), 0, "stopping closes held connections");
    }

    #[test]
    fn a_delayed_reply_waits_at_least_the_delay() {
        let receiver = Receiver::start(vec![Reply::ok().delay(Duration::from_millis(200))]);
        let started = Instant::now();
        let answer = exchange(&receiver, b"GET / HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(200), "the reply waited for its delay");
    }
}
