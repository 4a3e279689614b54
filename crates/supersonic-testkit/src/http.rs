//! A smart HTTP git server: a small HTTP/1.1 server in front of the `git http-backend` CGI.
//!
//! Each connection gets a thread that reads one request (body framed by `Content-Length` or
//! chunked transfer encoding, which git uses for bodies larger than `http.postBuffer`), runs
//! `git-http-backend` from git's exec path with the CGI environment, and answers with the
//! program's status and headers, a `Content-Length` body and `Connection: close`. The body is
//! buffered both ways: requests and packs in tests are small enough, and it keeps the framing
//! simple.
//!
//! What passes through to the backend unchanged: a gzip `Content-Encoding` of the request body
//! (as `HTTP_CONTENT_ENCODING`; the backend inflates it) and the `Git-Protocol` header (as
//! `GIT_PROTOCOL`, which selects protocol v2).
//!
//! Pushing: `git http-backend` enables receive-pack only for authenticated requests
//! (`REMOTE_USER` set) unless `http.receivepack` is true. Without authentication the server
//! turns that setting on through `GIT_CONFIG_COUNT`, so anonymous pushes work like they do over
//! [`crate::GitDaemon`]. With authentication every request needs valid Basic credentials,
//! reads included; the rest get `401` with `WWW-Authenticate: Basic realm="git"`.

use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::sandbox::apply_vars;
use crate::wire::{self, Request};
use crate::Sandbox;

/// How long a connection may stay silent before its thread gives up on it.
///
/// Long enough for a slow client on a loaded machine, short enough that an abandoned connection
/// does not keep a thread alive for the rest of the test run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running smart HTTP git server on 127.0.0.1; dropping it stops it.
#[derive(Debug)]
pub struct SmartHttp {
    port: u16,
    shutdown: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl SmartHttp {
    /// Starts a server for the repositories under `project_root`, requiring the Basic
    /// credentials `auth` (user, password) on every request when given.
    ///
    /// # Panics
    ///
    /// Panics when no port can be bound or `git-http-backend` is missing.
    pub fn start(sandbox: &Sandbox, project_root: &Path, auth: Option<(&str, &str)>) -> SmartHttp {
        let backend = Arc::new(Backend {
            program: sandbox.git_program("git-http-backend"),
            project_root: project_root.to_owned(),
            env: sandbox.env(),
            auth: auth.map(|(user, pass)| Credentials {
                user: user.to_owned(),
                token: base64(format!("{user}:{pass}").as_bytes()),
            }),
        });
        let listener = crate::free_listener();
        let port = listener.local_addr().expect("smart HTTP server address").port();
        let shutdown = Arc::new(AtomicBool::new(false));
        let accept_thread = {
            let shutdown = Arc::clone(&shutdown);
            thread::Builder::new()
                .name(format!("smart-http-{port}"))
                .spawn(move || {
                    let stopping = || shutdown.load(Ordering::SeqCst);
                    wire::accept_loop(&listener, "smart-http", stopping, move |stream| {
                        serve(&backend, stream)
                    });
                })
                .expect("spawn the smart HTTP accept thread")
        };
        SmartHttp { port, shutdown, accept_thread: Some(accept_thread) }
    }

    /// Returns the port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the URL of `repo_name`, a path relative to the project root such as
    /// `notes.git`.
    pub fn url(&self, repo_name: &str) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, repo_name.trim_start_matches('/'))
    }

    /// Returns the URL of `repo_name` with `user` and `pass` embedded, percent-encoded.
    pub fn url_with_credentials(&self, repo_name: &str, user: &str, pass: &str) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}/{}",
            percent_encode(user),
            percent_encode(pass),
            self.port,
            repo_name.trim_start_matches('/')
        )
    }

    /// Stops accepting connections and closes the listening socket; requests already being
    /// served run to completion. Does nothing when the server is already stopped.
    pub fn stop(&mut self) {
        let Some(accept_thread) = self.accept_thread.take() else {
            return;
        };
        self.shutdown.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the loop sees the flag; the listener then drops.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        let _ = accept_thread.join();
    }
}

impl Drop for SmartHttp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Everything a connection thread needs to run the CGI program.
#[derive(Debug)]
struct Backend {
    program: PathBuf,
    project_root: PathBuf,
    env: Vec<(String, String)>,
    auth: Option<Credentials>,
}

/// The credentials a server requires, the password kept as the Basic token it arrives as.
#[derive(Debug)]
struct Credentials {
    user: String,
    token: String,
}

/// An HTTP response about to be written.
#[derive(Debug)]
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn plain(status: &str, body: &str) -> Response {
        Response {
            status: status.to_owned(),
            headers: vec![("Content-Type".to_owned(), "text/plain".to_owned())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Serves one request on `stream` and closes it.
fn serve(backend: &Backend, stream: TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let peer = stream.peer_addr()?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let request = wire::read_request(&mut reader, &mut writer, None)?;
    let response = respond(backend, &request, peer);
    wire::write_response(&mut writer, &response.status, &response.headers, &response.body)?;
    writer.flush()?;
    writer.shutdown(std::net::Shutdown::Both)
}

/// Decides the response to `request`: an authentication or method error, or the backend's.
fn respond(backend: &Backend, request: &Request, peer: SocketAddr) -> Response {
    let remote_user = match &backend.auth {
        None => None,
        Some(credentials) if authorized(request, credentials) => Some(credentials.user.as_str()),
        Some(_) => {
            let mut response = Response::plain("401 Unauthorized", "authentication required\n");
            response
                .headers
                .push(("WWW-Authenticate".to_owned(), "Basic realm=\"git\"".to_owned()));
            return response;
        }
    };
    if request.method != "GET" && request.method != "POST" {
        return Response::plain("405 Method Not Allowed", "only GET and POST\n");
    }
    match run_backend(backend, request, peer, remote_user) {
        Ok(response) => response,
        Err(err) => Response::plain("502 Bad Gateway", &format!("git http-backend: {err}\n")),
    }
}

fn authorized(request: &Request, credentials: &Credentials) -> bool {
    let Some((scheme, token)) = request.header("Authorization").and_then(|v| v.split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("basic") && token.trim() == credentials.token
}

/// Runs the CGI program for `request` and turns its output into a response.
fn run_backend(
    backend: &Backend,
    request: &Request,
    peer: SocketAddr,
    remote_user: Option<&str>,
) -> io::Result<Response> {
    let (path, query) = request.target.split_once('?').unwrap_or((&request.target, ""));
    let mut cmd = Command::new(&backend.program);
    apply_vars(&mut cmd, &backend.env);
    for var in ["CONTENT_TYPE", "REMOTE_USER", "HTTP_CONTENT_ENCODING", "GIT_PROTOCOL"] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_PROJECT_ROOT", &backend.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", percent_decode(path))
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_ADDR", peer.ip().to_string());
    if let Some(content_type) = request.header("Content-Type") {
        cmd.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = request.header("Content-Encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = request.header("Git-Protocol") {
        cmd.env("GIT_PROTOCOL", protocol);
    }
    match remote_user {
        Some(user) => {
            cmd.env("REMOTE_USER", user);
        }
        None => {
            // Without it the backend refuses anonymous pushes with 403.
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.receivepack")
                .env("GIT_CONFIG_VALUE_0", "true");
        }
    }
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = request.body.clone();
    // Written from another thread so that a backend answering before it read everything cannot
    // deadlock against us; a backend that stops reading early makes this fail, harmlessly.
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = writer.join();
    if !output.stderr.is_empty() {
        eprintln!(
            "smart-http: git http-backend {} {}: {}",
            request.method,
            request.target,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    parse_cgi_output(&output.stdout).ok_or_else(|| {
        io::Error::other(format!(
            "no CGI headers in the output ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// Splits CGI output into headers and body; the `Status:` header, if any, gives the status.
fn parse_cgi_output(output: &[u8]) -> Option<Response> {
    let (head_len, separator_len) = find_header_end(output)?;
    let head = std::str::from_utf8(&output[..head_len]).ok()?;
    let mut status = "200 OK".to_owned();
    let mut headers = Vec::new();
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("Status") {
            status = value.to_owned();
        } else if !["Content-Length", "Connection", "Transfer-Encoding"]
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing))
        {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let body = output[head_len + separator_len..].to_vec();
    Some(Response { status, headers, body })
}

/// Returns where the CGI header block ends and how long the blank line after it is.
fn find_header_end(output: &[u8]) -> Option<(usize, usize)> {
    (0..output.len()).find_map(|i| {
        if output[i..].starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else if output[i..].starts_with(b"\n\n") {
            Some((i, 2))
        } else {
            None
        }
    })
}

/// Encodes `input` as standard base64 with padding, as Basic authentication sends it.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let triple = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (triple >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for URL user info.
fn percent_encode(input: &str) -> String {
    input
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Decodes `%XX` escapes in a URL path; malformed escapes are kept as they are.
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| input.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in vectors {
            assert_eq!(base64(input.as_bytes()), expected, "base64 of {input:?}");
        }
    }

    #[test]
    fn cgi_output_status_header_sets_the_status() {
        let output = b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno";
        let response = parse_cgi_output(output).expect("valid CGI output");
        assert_eq!(response.status, "403 Forbidden");
        assert_eq!(response.headers, [("Content-Type".to_owned(), "text/plain".to_owned())]);
        assert_eq!(response.body, b"no");
    }

    #[test]
    fn cgi_output_without_status_is_ok_and_accepts_bare_newlines() {
        let response = parse_cgi_output(b"Content-Type: a/b\n\nbody").expect("valid CGI output");
        assert_eq!(response.status, "200 OK");
        assert_eq!(response.body, b"body");
    }

    #[test]
    fn percent_encoding_round_trips_reserved_characters() {
        let raw = "p@ss:w/rd %";
        assert_eq!(percent_encode(raw), "p%40ss%3Aw%2Frd%20%25");
        assert_eq!(percent_decode(&percent_encode(raw)), raw);
        assert_eq!(percent_decode("/a%2"), "/a%2");
    }
}
