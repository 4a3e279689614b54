//! HTTP/1.1 as the testkit's servers ([`crate::SmartHttp`], [`crate::Receiver`]) speak it: an
//! accept loop with a thread per connection, requests read off a connection, and responses
//! that always carry `Content-Length` and `Connection: close`.
//!
//! One request per connection: the request line, at most [`MAX_HEADERS`] header lines of at
//! most [`MAX_LINE`] bytes, then the body, framed by chunked transfer encoding or by
//! `Content-Length` (none without either). `Expect: 100-continue` is answered before the body
//! is read, as curl and git wait for it. The body is de-chunked but not decompressed. End of
//! file before a line's first byte is `UnexpectedEof`, so a server can tell a client that left
//! (or its own wake-up connection) from a broken request.

use std::io::{self, BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

/// The longest request line or header line accepted, in bytes.
const MAX_LINE: u64 = 16 * 1024;

/// The most header lines accepted in one request.
const MAX_HEADERS: usize = 100;

/// One request as read off the connection.
#[derive(Debug)]
pub(crate) struct Request {
    /// The method (`GET`, `POST`).
    pub(crate) method: String,
    /// The request target as sent: path and query.
    pub(crate) target: String,
    /// Header lines in order, names as sent, names and values trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// Returns the value of header `name` (matched case-insensitively), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Returns the value of header `name` among `headers` (matched case-insensitively), if present.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}

/// Accepts connections on `listener` until `stopping` holds when one arrives, and serves each
/// with `serve` on a thread of its own named `{name}-conn`; failures are logged as `{name}: ...`.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    name: &str,
    stopping: impl Fn() -> bool,
    serve: impl Fn(TcpStream) -> io::Result<()> + Clone + Send + 'static,
) {
    for stream in listener.incoming() {
        if stopping() {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (serve, label) = (serve.clone(), name.to_owned());
        let spawned = thread::Builder::new().name(format!("{name}-conn")).spawn(move || {
            if let Err(err) = serve(stream) {
                eprintln!("{label}: connection failed: {err}");
            }
        });
        if let Err(err) = spawned {
            eprintln!("{name}: cannot spawn a connection thread: {err}");
        }
    }
}

/// Writes a response: `status` (code and reason), `headers`, then `body` framed by
/// `Content-Length`, with `Connection: close`.
pub(crate) fn write_response(
    writer: &mut impl Write,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)
}

/// Reads one request, answering `Expect: 100-continue` on `writer` before reading the body.
/// A body larger than `max_body` bytes, when given, is refused.
pub(crate) fn read_request(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
    max_body: Option<usize>,
) -> io::Result<Request> {
    let request_line = read_line(reader)?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("bad request line {request_line:?}")));
    };
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    };
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        if request.headers.len() == MAX_HEADERS {
            return Err(invalid("too many headers".to_owned()));
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| invalid(format!("bad header {line:?}")))?;
        request.headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    if request.header("Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let chunked = request
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader, max_body)?;
    } else if let Some(length) = request.header("Content-Length") {
        let length: usize =
            length.parse().map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        if max_body.is_some_and(|max| length > max) {
            return Err(invalid(format!("body of {length} bytes is too large")));
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body)?;
    }
    Ok(request)
}

/// Reads a chunked body up to and including its trailer section; a body growing past
/// `max_body` bytes, when given, is refused.
fn read_chunked(reader: &mut impl BufRead, max_body: Option<usize>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        if max_body.is_some_and(|max| body.len() + size > max) {
            return Err(invalid("chunked body is too large".to_owned()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        if !read_line(reader)?.is_empty() {
            return Err(invalid("chunk longer than its size".to_owned()));
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes without its line ending; end of file before
/// any byte is `UnexpectedEof`.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    if line.last() != Some(&b'\n') {
        return Err(invalid("connection closed mid-line or line too long".to_owned()));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("line is not UTF-8".to_owned()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_reassembled_and_trailers_skipped() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        let body = read_chunked(&mut &wire[..], None).expect("valid chunked body");
        assert_eq!(body, b"Wikipedia");
    }

    #[test]
    fn a_body_over_the_limit_is_refused_however_it_is_framed() {
        let sized = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        let err = read_request(&mut &sized[..], &mut Vec::new(), Some(4)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        let chunked =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let err = read_request(&mut &chunked[..], &mut Vec::new(), Some(4)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        let read = read_request(&mut &sized[..], &mut Vec::new(), None).expect("no limit");
        assert_eq!(read.body, b"hello");
    }

    #[test]
    fn a_client_that_leaves_before_a_byte_is_an_unexpected_eof() {
        let err = read_request(&mut &b""[..], &mut Vec::new(), None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    }

    #[test]
    fn expect_100_continue_is_answered_before_the_body() {
        let raw = b"PUT /x?y=1 HTTP/1.1\r\nexpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
        let mut answered = Vec::new();
        let request = read_request(&mut &raw[..], &mut answered, None).expect("valid request");
        assert_eq!(answered, b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!((request.method.as_str(), request.target.as_str()), ("PUT", "/x?y=1"));
        assert_eq!(request.header("EXPECT"), Some("100-continue"), "names match any case");
    }
}
