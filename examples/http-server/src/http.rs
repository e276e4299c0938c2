//! HTTP/1.1 without I/O: a [`Session`] takes the bytes a connection received and says
//! what to do next ([`Step`]): read more, send a [`Response`], or fail on purpose. The
//! task and the thread drivers (`serve`) only move bytes.
//!
//! | request                      | response                                            |
//! |------------------------------|-----------------------------------------------------|
//! | `GET /`                      | 200, `hello from spindle\n`                         |
//! | `GET /bytes/N`               | 200, N bytes, byte i is `i % 251`                    |
//! | `GET /panic`                 | none: the handler panics, its connection is reset   |
//! | `GET` anything else          | 404                                                 |
//! | another method               | 405                                                 |
//! | not HTTP                     | 400, then the connection is closed                  |
//! | a head over 8 KiB            | 431, then the connection is closed                  |
//! | a body (`Content-Length`, `Transfer-Encoding`) | 400, closed (GET takes none)      |
//!
//! HTTP/1.1 keeps the connection open unless the request says `Connection: close`;
//! HTTP/1.0 closes it unless the request says `Connection: keep-alive`. Pipelined
//! requests are answered in order.

use core::fmt::Write;

/// The most bytes a request's head may take (request line and header fields).
pub const MAX_HEAD: usize = 8 * 1024;

/// `GET /`'s body.
pub const HELLO: &[u8] = b"hello from spindle\n";

/// `/bytes/N`'s byte `i` is `i % PATTERN_MODULUS`.
pub const PATTERN_MODULUS: u64 = 251;

/// A whole number of pattern periods: any chunk that starts at a multiple of its length
/// starts the pattern afresh, so every chunk of a body is a prefix of this.
static PATTERN: [u8; 251 * 16] = {
    let mut pattern = [0; 251 * 16];
    let mut i = 0;
    while i < pattern.len() {
        pattern[i] = (i % 251) as u8;
        i += 1;
    }
    pattern
};

/// One connection's received bytes.
#[derive(Debug)]
pub struct Session {
    buffer: [u8; MAX_HEAD],
    filled: usize,
}

/// What a connection does next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one at a time, on the stack: boxing buys nothing
pub enum Step {
    /// Read more into [`Session::space`], then call [`Session::received`]. If the peer
    /// closed, the connection ends.
    Read,
    /// Send this; then close the connection if [`Response::close`] says so.
    Respond(Response),
    /// `/panic`: the handler panics (containment resets only this connection).
    Panic,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            buffer: [0; MAX_HEAD],
            filled: 0,
        }
    }
}

impl Session {
    /// Where the next read goes (never empty while [`next_step`](Self::next_step) says `Read`).
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buffer[self.filled..]
    }

    /// Notes that `len` bytes were read into [`space`](Self::space).
    pub fn received(&mut self, len: usize) {
        self.filled = (self.filled + len).min(MAX_HEAD);
    }

    /// The next step, consuming the request it answers.
    pub fn next_step(&mut self) -> Step {
        let received = &self.buffer[..self.filled];
        if let Some(reason) = not_http(received) {
            return Step::Respond(Response::error(400, reason));
        }
        let Some(head_len) = find(received, b"\r\n\r\n").map(|at| at + 4) else {
            if self.filled == MAX_HEAD {
                return Step::Respond(Response::error(431, "request head over 8 KiB\n"));
            }
            return Step::Read;
        };
        let step = match parse_head(&received[..head_len]) {
            Ok(request) => request.answer(),
            Err(reason) => Step::Respond(Response::error(400, reason)),
        };
        self.buffer.copy_within(head_len..self.filled, 0);
        self.filled -= head_len;
        step
    }
}

/// Why `received` cannot be the start of an HTTP request, as soon as that shows: a
/// method that is not a token of capital letters, or a first line that is complete but
/// not `METHOD TARGET HTTP/1.x`.
fn not_http(received: &[u8]) -> Option<&'static str> {
    let method_len = received
        .iter()
        .position(|&byte| byte == b' ')
        .unwrap_or(received.len());
    if !received[..method_len].iter().all(u8::is_ascii_uppercase) {
        return Some("not an HTTP request\n");
    }
    let line_end = find(received, b"\r\n")?;
    request_line(&received[..line_end])
        .is_none()
        .then_some("not an HTTP request line\n")
}

/// A request's method, target and version, from its first line.
fn request_line(line: &[u8]) -> Option<(&str, &str, Version)> {
    let line = core::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        _ => return None,
    };
    let valid = words.next().is_none()
        && !method.is_empty()
        && target.starts_with('/')
        && method.bytes().all(|byte| byte.is_ascii_uppercase());
    valid.then_some((method, target, version))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Http10,
    Http11,
}

/// A request's head, parsed.
#[derive(Debug)]
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    keep_alive: bool,
}

/// Parses a whole head (up to and including the blank line).
fn parse_head(head: &[u8]) -> Result<Request<'_>, &'static str> {
    let head = core::str::from_utf8(head).map_err(|_| "the head is not UTF-8\n")?;
    let mut lines = head.split("\r\n");
    let (method, target, version) = lines
        .next()
        .and_then(|line| request_line(line.as_bytes()))
        .ok_or("not an HTTP request line\n")?;
    let mut keep_alive = version == Version::Http11;
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or("a header field without a colon\n")?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            return Err("a request with a body\n");
        }
    }
    Ok(Request {
        method,
        target,
        keep_alive,
    })
}

impl Request<'_> {
    fn answer(&self) -> Step {
        if self.method != "GET" {
            return Step::Respond(Response::new(
                405,
                Body::Static(b"only GET\n"),
                !self.keep_alive,
            ));
        }
        let body = match self.target {
            "/" => Body::Static(HELLO),
            "/panic" => return Step::Panic,
            target => match target.strip_prefix("/bytes/").map(str::parse::<u64>) {
                Some(Ok(len)) => Body::Pattern(len),
                _ => Body::Static(b"not found\n"),
            },
        };
        let status = if matches!(body, Body::Static(b"not found\n")) {
            404
        } else {
            200
        };
        Step::Respond(Response::new(status, body, !self.keep_alive))
    }
}

/// What a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Static(&'static [u8]),
    /// `len` bytes of the `i % 251` pattern.
    Pattern(u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Self::Static(bytes) => bytes.len() as u64,
            Self::Pattern(len) => *len,
        }
    }
}

/// A response: a head, a body, and whether the connection closes after it.
#[derive(Debug)]
pub struct Response {
    head: heapless_head::Head,
    body: Body,
    /// Close the connection once it is sent.
    pub close: bool,
}

impl Response {
    fn new(status: u16, body: Body, close: bool) -> Self {
        let mut head = heapless_head::Head::default();
        let _ = write!(
            head,
            "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            reason(status),
            match body {
                Body::Static(_) => "text/plain",
                Body::Pattern(_) => "application/octet-stream",
            },
            body.len(),
            if close { "close" } else { "keep-alive" },
        );
        Self { head, body, close }
    }

    fn error(status: u16, message: &'static str) -> Self {
        Self::new(status, Body::Static(message.as_bytes()), true)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.as_bytes()[9..12]
            .iter()
            .fold(0, |code, &digit| code * 10 + u16::from(digit - b'0'))
    }

    /// The bytes to send, in order: the head, then the body in chunks of at most 4 KiB.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        let (body, len): (&[u8], u64) = match self.body {
            Body::Static(bytes) => (bytes, bytes.len() as u64),
            Body::Pattern(len) => (&PATTERN, len),
        };
        let chunk = body.len().max(1) as u64;
        let body_chunks = (0..len.div_ceil(chunk)).map(move |index| {
            let left = len - index * chunk;
            &body[..left.min(chunk) as usize]
        });
        core::iter::once(self.head.as_bytes()).chain(body_chunks)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A response head in a fixed buffer: formatting a response allocates nothing.
mod heapless_head {
    /// Up to 256 bytes of text.
    #[derive(Debug)]
    pub struct Head {
        bytes: [u8; 256],
        len: usize,
    }

    impl Default for Head {
        fn default() -> Self {
            Self {
                bytes: [0; 256],
                len: 0,
            }
        }
    }

    impl Head {
        pub fn as_bytes(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
    }

    impl core::fmt::Write for Head {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            let end = self.len + text.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(core::fmt::Error)?
                .copy_from_slice(text.as_bytes());
            self.len = end;
            Ok(())
        }
    }
}
