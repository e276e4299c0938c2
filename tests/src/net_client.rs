//! The host side of the network tests (`//@ net: CLIENT`): a client with `std::net`
//! against the test kernel's `examples/http-server`, through QEMU's forwarded port.
//!
//! It runs once the kernel printed `net-test: ready`, then types
//! `net-client: done CONNECTIONS PANICS DATAGRAMS` into the guest's serial port (whatever
//! the outcome: the kernel then checks its side), and its outcome becomes the `<net>`
//! case, with one more check once the kernel has stopped: that the UDP echo answered
//! exactly the datagrams sent ([`Report::check_echo`]). The answers themselves never
//! come back: the network is `restrict=on`, under which QEMU drops every UDP datagram
//! the guest sends (libslirp's `udp_input`), so the kernel reports what it answered.
//!
//! Every wait on the guest has a deadline (a read timeout): a server that wedged fails
//! the step that waited, it does not hang the suite.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream, UdpSocket},
    time::Duration,
};

/// The clients a `net` directive may name.
pub const CLIENTS: &[&str] = &["http", "http-short", "hostile", "backlog"];

/// How long one read or write may wait for the guest.
const PATIENCE: Duration = Duration::from_secs(30);

/// Sequential short connections of the `http` client.
const SHORT_CONNECTIONS: u64 = 1000;

/// What the kernel prints, then `N datagrams, digest 0xDIGEST`, about what its echo
/// answered (`tests/kernels/src/net.rs`).
const ECHOED: &str = "net-test: udp echoed ";

/// Datagrams sent to the echo: the sizes. 1472 bytes fill one Ethernet frame (1500
/// minus the IP and UDP headers); the 3000-byte one arrives in IP fragments, which the
/// guest's stack does not reassemble, so it must be dropped, and nothing else with it.
const DATAGRAMS: [usize; 4] = [1, 100, 1472, 3000];
/// The largest datagram that reaches the guest whole.
const LARGEST_UNFRAGMENTED: usize = 1472;

/// What a client did: its verdict, and the counts the kernel checks.
#[derive(Debug)]
pub struct Report {
    pub outcome: Result<(), String>,
    /// Connections opened.
    pub connections: u64,
    /// Requests that asked the handler to panic.
    pub panics: u64,
    /// Datagrams that should reach the echo, and the sum of their digests.
    pub datagrams: u64,
    pub digest: u64,
    /// Connections left open on purpose (a client that stalls, or never closes), held
    /// until the report is dropped, after the boot.
    pub held: Vec<TcpStream>,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            outcome: Ok(()),
            connections: 0,
            panics: 0,
            datagrams: 0,
            digest: 0,
            held: Vec::new(),
        }
    }
}

impl Report {
    /// The line typed into the guest.
    pub fn done_line(&self) -> String {
        format!(
            "net-client: done {} {} {}\n",
            self.connections, self.panics, self.datagrams
        )
    }

    /// Whether the kernel's report (in its serial output) of what the echo answered
    /// matches what was sent.
    pub fn check_echo(&self, serial: &str) -> Result<(), String> {
        let expected = format!("{} datagrams, digest {:#018x}", self.datagrams, self.digest);
        match serial.lines().find_map(|line| line.strip_prefix(ECHOED)) {
            Some(echoed) if echoed.trim_end() == expected => Ok(()),
            Some(echoed) => Err(format!(
                "the UDP echo answered {echoed}, but was sent {expected}"
            )),
            None => Err(format!("the kernel never printed `{ECHOED}...`")),
        }
    }
}

/// A datagram's digest: 64-bit FNV-1a, as `http_server::digest`.
pub(crate) fn digest(datagram: &[u8]) -> u64 {
    datagram.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs client `name` against the guest behind 127.0.0.1:`port`.
pub fn run(name: &str, port: u16) -> Report {
    match name {
        "hostile" => return crate::net_hostile::run(port),
        "backlog" => return crate::net_backlog::run(port),
        _ => {}
    }
    let mut client = Client {
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        connections: 0,
        panics: 0,
        datagrams: 0,
        digest: 0,
    };
    let outcome = client.exercise(name == "http");
    Report {
        outcome,
        connections: client.connections,
        panics: client.panics,
        datagrams: client.datagrams,
        digest: client.digest,
        held: Vec::new(),
    }
}

struct Client {
    address: SocketAddr,
    connections: u64,
    panics: u64,
    datagrams: u64,
    digest: u64,
}

/// A response: status, header block (lowercase names), body.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Client {
    fn exercise(&mut self, many_connections: bool) -> Result<(), String> {
        self.hello_with_keep_alive()
            .map_err(|e| format!("GET / with keep-alive: {e}"))?;
        self.udp_to_the_echo()
            .map_err(|e| format!("UDP to the echo: {e}"))?;
        self.one_mib_intact()
            .map_err(|e| format!("GET /bytes/1048576: {e}"))?;
        self.unknown_path()
            .map_err(|e| format!("GET /nowhere: {e}"))?;
        self.not_http()
            .map_err(|e| format!("a request that is not HTTP: {e}"))?;
        self.oversized_head()
            .map_err(|e| format!("a 9 KiB request head: {e}"))?;
        self.panicking_handler()
            .map_err(|e| format!("GET /panic: {e}"))?;
        self.leaving_mid_response()
            .map_err(|e| format!("a client leaving mid-response: {e}"))?;
        if many_connections {
            self.short_connections()
                .map_err(|e| format!("short connections: {e}"))?;
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<TcpStream, String> {
        let stream = connect(self.address)?;
        self.connections += 1;
        Ok(stream)
    }

    fn hello_with_keep_alive(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        for _ in 0..2 {
            send(&mut stream, b"GET / HTTP/1.1\r\nHost: spindle\r\n\r\n")?;
            let response = read_response(&mut stream)?;
            expect(response.status == 200, || {
                format!("status {}", response.status)
            })?;
            expect(response.body == b"hello from spindle\n", || {
                format!("body {:?}", String::from_utf8_lossy(&response.body))
            })?;
            expect(response.head.contains("connection: keep-alive"), || {
                format!("head {:?}", response.head)
            })?;
        }
        Ok(())
    }

    /// Sends the echo [`DATAGRAMS`], noting those that should reach it: the kernel says
    /// what it answered ([`Report::check_echo`]), the answers do not come back.
    fn udp_to_the_echo(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        for (index, size) in DATAGRAMS.into_iter().enumerate() {
            let datagram: Vec<u8> = (0..size).map(|i| (i * 7 + index) as u8).collect();
            socket
                .send_to(&datagram, self.address)
                .map_err(|e| e.to_string())?;
            if size <= LARGEST_UNFRAGMENTED {
                self.datagrams += 1;
                self.digest = self.digest.wrapping_add(digest(&datagram));
            }
        }
        Ok(())
    }

    fn one_mib_intact(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"GET /bytes/1048576 HTTP/1.1\r\n\r\n")?;
        let response = read_response(&mut stream)?;
        expect(response.status == 200, || {
            format!("status {}", response.status)
        })?;
        expect(response.body.len() == 1 << 20, || {
            format!("{} bytes", response.body.len())
        })?;
        let wrong = (0..response.body.len()).find(|&i| usize::from(response.body[i]) != i % 251);
        expect(wrong.is_none(), || format!("byte {wrong:?} is wrong"))
    }

    fn unknown_path(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"GET /nowhere HTTP/1.1\r\n\r\n")?;
        let status = read_response(&mut stream)?.status;
        expect(status == 404, || format!("status {status}"))
    }

    /// Answered 400, and the connection closed after it.
    fn not_http(&mut self) -> Result<(), String> {
        for request in [
            &b"hello spindle\r\n\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00",
            b"GET /\r\n\r\n",
        ] {
            let mut stream = self.connect()?;
            send(&mut stream, request)?;
            let response = read_response(&mut stream)?;
            expect(response.status == 400, || {
                format!("{request:?}: status {}", response.status)
            })?;
            expect_closed(&mut stream)?;
        }
        Ok(())
    }

    /// A head over the server's 8 KiB: 431, then closed.
    fn oversized_head(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        let mut request = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        request.resize(9 * 1024, b'a');
        send(&mut stream, &request)?;
        let response = read_response(&mut stream)?;
        expect(response.status == 431, || {
            format!("status {}", response.status)
        })?;
        expect_closed(&mut stream)
    }

    /// No response, the connection ends (reset or closed), and the server goes on.
    fn panicking_handler(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        self.panics += 1;
        send(&mut stream, b"GET /panic HTTP/1.1\r\n\r\n")?;
        let mut buffer = [0; 256];
        match stream.read(&mut buffer) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(read) => return Err(format!("got {read} bytes instead of a reset")),
            Err(e) => return Err(format!("read: {e}")),
        }
        self.hello_once()
    }

    /// Asks for 64 MiB, reads 64 KiB and closes: the server must still answer others.
    fn leaving_mid_response(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"GET /bytes/67108864 HTTP/1.1\r\n\r\n")?;
        let mut first = vec![0; 64 * 1024];
        stream
            .read_exact(&mut first)
            .map_err(|e| format!("read: {e}"))?;
        stream.shutdown(Shutdown::Both).map_err(|e| e.to_string())?;
        drop(stream);
        self.hello_once()
    }

    /// One connection per request, the server closing each (`Connection: close`), so
    /// that each of its sockets goes through TIME-WAIT.
    fn short_connections(&mut self) -> Result<(), String> {
        for index in 0..SHORT_CONNECTIONS {
            let mut stream = self.connect()?;
            send(&mut stream, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?;
            let response = read_response(&mut stream).map_err(|e| format!("#{index}: {e}"))?;
            expect(
                response.status == 200 && response.body == b"hello from spindle\n",
                || format!("#{index}: status {}", response.status),
            )?;
            expect_closed(&mut stream).map_err(|e| format!("#{index}: {e}"))?;
        }
        Ok(())
    }

    fn hello_once(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"GET / HTTP/1.1\r\n\r\n")?;
        let status = read_response(&mut stream)?.status;
        expect(status == 200, || {
            format!("the next GET / got status {status}")
        })
    }
}

/// Writes all of `bytes`, or says why not.
pub(crate) fn send(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).map_err(|e| format!("write: {e}"))
}

/// One line, without its newline.
pub(crate) fn read_line(stream: &mut TcpStream) -> Result<String, String> {
    let mut line = Vec::new();
    let mut byte = [0; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(format!("closed after {line:?}")),
            Ok(_) if byte[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into()),
            Ok(_) => line.push(byte[0]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Reads one response with a `Content-Length` body.
fn read_response(stream: &mut TcpStream) -> Result<Response, String> {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut buffer = [0; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => return Err(format!("closed after {} bytes of head", received.len())),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("no content-length in {head:?}"))?;
    let mut body = received[head_end..].to_vec();
    let missing = length
        .checked_sub(body.len())
        .ok_or("more body than announced")?;
    let start = body.len();
    body.resize(length, 0);
    stream
        .read_exact(&mut body[start..start + missing])
        .map_err(|e| format!("read body: {e}"))?;
    Ok(Response { status, head, body })
}

/// The server closed the connection: the next read finds its end.
/// A connection to `address` whose every read and write waits at most [`PATIENCE`].
pub(crate) fn connect(address: SocketAddr) -> Result<TcpStream, String> {
    let stream =
        TcpStream::connect_timeout(&address, PATIENCE).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(PATIENCE))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(PATIENCE))
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

fn expect_closed(stream: &mut TcpStream) -> Result<(), String> {
    let mut buffer = [0; 64];
    match stream.read(&mut buffer) {
        Ok(0) => Ok(()),
        Ok(read) => Err(format!("{read} more bytes instead of the end")),
        Err(e) => Err(format!("expected the end, got: {e}")),
    }
}

pub(crate) fn expect(condition: bool, otherwise: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(otherwise()) }
}
