//! Integration tests of the HTTP API: a real server on 127.0.0.1 (port 0), real HTTP requests
//! over TCP, real repositories with bare remotes. Modules mirror `src/`.

mod access;
mod events;
mod metrics;
mod routes;
mod token;
mod traversal;
mod ui;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use supersonic_core::api::{Api, InitRequest};
use supersonic_core::engine::EngineControl;
use supersonic_core::events::EventBus;
use supersonic_http::{ServeOptions, ServerHandle};
pub use supersonic_testkit::{write, Sandbox};

/// Bound for any one answer: a request that takes longer is a hang, not slowness.
pub const ANSWER: Duration = Duration::from_secs(60);

/// One simulated device in this process: its own config and data dirs, one synced folder.
pub struct Dev {
    pub name: String,
    pub api: Api,
    pub dir: PathBuf,
}

impl Dev {
    /// Creates device `name` syncing `<sandbox>/<name>-notes` with `remote`.
    pub fn new(sb: &Sandbox, remote: &Path, name: &str) -> Dev {
        let root = sb.path().join("devices").join(name);
        let mut env: BTreeMap<String, String> = sb.env().into_iter().collect();
        env.insert("SUPERSONIC_CONFIG_DIR".into(), root.join("config").display().to_string());
        env.insert("SUPERSONIC_DATA_DIR".into(), root.join("data").display().to_string());
        env.insert("SUPERSONIC_DEVICE_NAME".into(), name.into());
        for (k, v) in supersonic_testkit::FAST_ENV {
            env.insert((*k).into(), (*v).into());
        }
        let api = Api::from_env(env).unwrap();
        let dir = sb.path().join(format!("{name}-notes"));
        let remote = Some(remote.display().to_string());
        api.init_folder(InitRequest { path: dir.clone(), remote, ..Default::default() }).unwrap();
        Dev { name: name.into(), api, dir }
    }

    /// Runs one full cycle in this process and fails the test if it fails.
    pub fn sync(&self) -> supersonic_core::folder::CycleReport {
        let (_, result) = self.api.sync_once(Some(&self.dir), false).unwrap().pop().unwrap();
        result.unwrap_or_else(|e| panic!("{} could not sync: {e}", self.name))
    }
}

/// A sandbox with one device and the server over it.
pub struct Fixture {
    pub server: Server,
    pub dev: Dev,
    pub sb: Sandbox,
    /// The bus the server streams from: a test emits on it to see what `/api/events` sends.
    pub bus: EventBus,
}

impl Fixture {
    /// A device with a synced folder (no engine), served with the built-in pages.
    pub fn start() -> Fixture {
        let sb = Sandbox::new();
        let remote = sb.bare_remote("notes");
        let dev = Dev::new(&sb, &remote, "alpha");
        let bus = EventBus::default();
        let server = Server::start(&dev.api, None, bus.clone(), None);
        Fixture { server, dev, sb, bus }
    }
}

/// A running server and its token.
pub struct Server {
    pub handle: ServerHandle,
    pub token: String,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy for binary answers; see `bytes`).
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {} {}", self.status, self.body))
    }
}

impl Server {
    /// Starts a server for `api` on 127.0.0.1, port 0, with the token from its config dir.
    pub fn start(
        api: &Api,
        control: Option<EngineControl>,
        bus: EventBus,
        ui_dir: Option<PathBuf>,
    ) -> Server {
        let token = supersonic_http::load_or_create_token(&api.dirs().config_dir).unwrap();
        let opts =
            ServeOptions { addr: "127.0.0.1:0".parse().unwrap(), token: token.clone(), ui_dir };
        let handle = supersonic_http::start(opts, api.clone(), control, bus).unwrap();
        Server { handle, token }
    }

    /// Opens `/api/events` with the token in the query, as the UI's `EventSource` does, and
    /// reads its first event, which must be `ready`: from then on the client is subscribed.
    pub fn events(&self) -> SseStream {
        let mut sse = SseStream::open(self, &format!("/api/events?token={}", self.token));
        assert_eq!(sse.next_event().map(|e| e.0).as_deref(), Some("ready"), "subscribed");
        sse
    }

    pub fn port(&self) -> u16 {
        self.handle.addr().port()
    }

    /// The Host header a browser on this machine sends.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// `GET path` with the token.
    pub fn get(&self, path: &str) -> Response {
        let auth = format!("Bearer {}", self.token);
        self.request("GET", path, &[("Authorization", &auth)], None)
    }

    /// `method path` with the token and a JSON body.
    pub fn send(&self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        let auth = format!("Bearer {}", self.token);
        self.request(method, path, &[("Authorization", &auth)], Some(&body.to_string()))
    }

    /// Sends one HTTP/1.1 request with exactly `headers` (plus `Host`, unless given, and the
    /// body's length) and reads the whole answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        let mut stream = self.connect(method, path, headers, body);
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        parse_response(&raw)
    }

    /// Opens a connection and sends the request; the answer is left to read.
    pub fn connect(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> TcpStream {
        let mut stream = TcpStream::connect(self.handle.addr()).unwrap();
        stream.set_read_timeout(Some(ANSWER)).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req.push_str(&format!("Host: {}\r\n", self.host()));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = body {
            req.push_str("Content-Type: application/json\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or_default());
        stream.write_all(req.as_bytes()).unwrap();
        stream
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete header");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut response = Response { status, headers, body: String::new(), bytes: Vec::new() };
    let body = &raw[split + 4..];
    let body = if response.header("transfer-encoding") == Some("chunked") {
        let mut reader = BufReader::new(body);
        let mut out = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader) {
            out.extend(chunk);
        }
        out
    } else {
        body.to_vec()
    };
    response.body = String::from_utf8_lossy(&body).into_owned();
    response.bytes = body;
    response
}

/// Returns a valid PNG of `width` x `height` pixels of one `rgb` colour (uncompressed deflate,
/// so no codec is needed to write it; any browser decodes it).
pub fn png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut row = vec![0]; // filter: none
    for _ in 0..width {
        row.extend(rgb);
    }
    let raw = row.repeat(height as usize);
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter method, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Reads one chunk of a chunked body; None at the end.
fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).ok()?;
    let size = usize::from_str_radix(size.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

/// A Server-Sent Events stream read as a browser's `EventSource` would.
pub struct SseStream {
    reader: BufReader<TcpStream>,
    buffer: String,
    pub status: u16,
    pub content_type: String,
}

impl SseStream {
    /// Connects to `path` (with `?token=`, like `EventSource`) and reads the answer's head.
    pub fn open(server: &Server, path: &str) -> SseStream {
        let stream = server.connect("GET", path, &[("Accept", "text/event-stream")], None);
        let mut reader = BufReader::new(stream);
        let mut status = 0;
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(s) = line.strip_prefix("HTTP/1.1 ") {
                status = s[..3].parse().unwrap();
            } else if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-type") {
                    content_type = v.trim().to_string();
                }
            }
        }
        SseStream { reader, buffer: String::new(), status, content_type }
    }

    /// Returns the next event as `(event, data)`, skipping keep-alive comments.
    pub fn next_event(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut kind = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.trim_start().to_string());
                    }
                }
                if !data.is_empty() {
                    return Some((kind, data.join("\n")));
                }
                continue;
            }
            let chunk = read_chunk(&mut self.reader)?;
            self.buffer.push_str(&String::from_utf8(chunk).unwrap());
        }
    }
}
