//! An HTTP server and a UDP echo on Spindle's network stack: the library behind the
//! `http-server` kernel (`src/main.rs`), and behind the repository's network test kernels.
//!
//! [`start`] brings the network up, listens on TCP port 80 and UDP port 7, and serves
//! each connection as an async task ([`Mode::Tasks`], on an executor per CPU) or on a
//! kernel thread of its own through the blocking socket calls ([`Mode::Threads`]).
//! What is answered is [`http`]'s table.
#![no_std]

pub mod http;

use core::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use http::{Session, Step};
use spindle::{
    executor::{self, Spawner, Workers},
    net::{self, TcpListener, TcpStream, UdpSocket},
    prelude::*,
};

/// The HTTP port.
pub const HTTP_PORT: u16 = 80;
/// The UDP echo port.
pub const ECHO_PORT: u16 = 7;

/// How long a closing connection waits for the peer to close too, reading and dropping
/// what it still sends, before it gives up: so that a response is not cut short by a
/// reset (a socket closed with unread data is reset).
const LINGER: Duration = Duration::from_secs(2);
/// The most a closing connection reads while it lingers.
const LINGER_BYTES: usize = 64 * 1024;

/// How connections are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Each connection is an async task, dealt out to an executor per CPU.
    Tasks,
    /// Each connection runs on a kernel thread of its own, with blocking calls.
    Threads,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tasks => "a task per connection",
            Self::Threads => "a thread per connection",
        })
    }
}

/// Why the server could not start.
#[derive(Debug)]
pub enum Error {
    Net(net::Error),
    Thread(thread::SpawnError),
}

impl From<net::Error> for Error {
    fn from(error: net::Error) -> Self {
        Self::Net(error)
    }
}

impl From<thread::SpawnError> for Error {
    fn from(error: thread::SpawnError) -> Self {
        Self::Thread(error)
    }
}

/// Connections accepted since [`start`].
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// Datagrams echoed since [`start`], and the sum of their digests ([`Echoed`]).
static ECHOED: AtomicU64 = AtomicU64::new(0);
static ECHOED_DIGEST: AtomicU64 = AtomicU64::new(0);

/// Connections accepted so far.
pub fn accepted() -> u64 {
    ACCEPTED.load(Ordering::Relaxed)
}

/// What the UDP echo answered: how many datagrams, and the wrapping sum of each one's
/// [`digest`] (order does not matter). QEMU's restricted user network drops the
/// guest's UDP datagrams on their way out, answers included, so this is how a client
/// on the host learns what the echo received and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echoed {
    pub datagrams: u64,
    pub digest: u64,
}

/// What the UDP echo answered so far (the count first: see [`count_echo`]).
pub fn echoed() -> Echoed {
    let datagrams = ECHOED.load(Ordering::Acquire);
    Echoed {
        datagrams,
        digest: ECHOED_DIGEST.load(Ordering::Relaxed),
    }
}

/// A datagram's digest: 64-bit FNV-1a.
pub fn digest(datagram: &[u8]) -> u64 {
    datagram.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Counts an answered datagram: its digest, then the count with `Release`, so that a
/// reader whose `Acquire` load sees the count sees the digests of every datagram counted.
fn count_echo(datagram: &[u8]) {
    ECHOED_DIGEST.fetch_add(digest(datagram), Ordering::Relaxed);
    ECHOED.fetch_add(1, Ordering::Release);
}

/// Starts serving HTTP on port 80 and the UDP echo on port 7, in `mode`; returns once
/// both listen. The server runs until the machine stops.
///
/// # Errors
/// No network, a port taken, no thread for the server.
pub fn start(mode: Mode) -> Result<(), Error> {
    match mode {
        Mode::Tasks => {
            let workers = Workers::start("http", 1024)?;
            let spawners: Vec<Spawner> = (0..workers.len() as u32)
                .filter_map(|cpu| workers.on(cpu).cloned())
                .collect();
            // The first task of an executor makes its task table: made now, before the
            // first connection, which then allocates only what it uses.
            for spawner in &spawners {
                let _ = executor::block_on(spawner.spawn(async {}));
            }
            let listener = executor::block_on(TcpListener::bind(HTTP_PORT))?;
            let echo = executor::block_on(UdpSocket::bind(ECHO_PORT))?;
            spawners[0].spawn(echo_async(echo));
            spawners[0].spawn(accept_tasks(listener, spawners.clone()));
            // Once a task spawned after those two has run, the executor has taken both
            // in (and freed what carried them there): the server's memory is all made
            // by the time `start` returns.
            let _ = executor::block_on(spawners[0].spawn(async {}));
            core::mem::forget(workers); // they serve for as long as the machine runs
        }
        Mode::Threads => {
            let listener = TcpListener::bind_blocking(HTTP_PORT, net::TcpConfig::default())?;
            let echo = UdpSocket::bind_blocking(ECHO_PORT)?;
            thread::Builder::new()
                .name("echo")
                .spawn(move || echo_blocking(&echo))?;
            thread::Builder::new()
                .name("accept")
                .spawn(move || accept_threads(&listener))?;
        }
    }
    Ok(())
}

/// Accepts connections and deals them out as tasks, in turn, to the executors.
async fn accept_tasks(listener: TcpListener, spawners: Vec<Spawner>) {
    for next in (0..spawners.len()).cycle() {
        match listener.accept().await {
            Ok(stream) => {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                // A full executor refuses the task, which drops the stream: a reset.
                let _ = spawners[next].try_spawn(serve_async(stream));
            }
            Err(error) => {
                warn!("http: accept: {error}");
                executor::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Accepts connections, each served on a thread of its own.
fn accept_threads(listener: &TcpListener) {
    loop {
        match listener.accept_blocking() {
            Ok(stream) => {
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                // No thread to be had: the stream is dropped, a reset.
                let _ = thread::Builder::new()
                    .name("http")
                    .spawn(move || serve_blocking(stream));
            }
            Err(error) => {
                warn!("http: accept: {error}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one connection as a task.
async fn serve_async(mut stream: TcpStream) -> Result<(), net::Error> {
    let mut session = Box::new(Session::default());
    loop {
        match session.next_step() {
            Step::Read => match stream.read(session.space()).await? {
                0 => return Ok(()),
                read => session.received(read),
            },
            Step::Respond(response) => {
                for chunk in response.chunks() {
                    stream.write_all(chunk).await?;
                }
                if response.close {
                    return linger_async(stream).await;
                }
            }
            Step::Panic => panic!("/panic asked this handler to panic"),
        }
    }
}

/// Serves one connection on the calling thread.
fn serve_blocking(mut stream: TcpStream) -> Result<(), net::Error> {
    let mut session = Box::new(Session::default());
    loop {
        match session.next_step() {
            Step::Read => match stream.read_blocking(session.space())? {
                0 => return Ok(()),
                read => session.received(read),
            },
            Step::Respond(response) => {
                for chunk in response.chunks() {
                    stream.write_all_blocking(chunk)?;
                }
                if response.close {
                    return executor::block_on(linger_async(stream));
                }
            }
            Step::Panic => panic!("/panic asked this handler to panic"),
        }
    }
}

/// Closes `stream` after a response: FIN, then what the peer still sends is read and
/// dropped until it closes too (or [`LINGER`] passes), so the response is not reset away.
async fn linger_async(mut stream: TcpStream) -> Result<(), net::Error> {
    stream.shutdown();
    let drain = async {
        let mut scratch = [0; 512];
        let mut drained = 0;
        while drained < LINGER_BYTES {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(read) => drained += read,
            }
        }
    };
    let _ = executor::timeout(LINGER, drain).await;
    Ok(())
}

/// Echoes every datagram to its sender, as a task.
async fn echo_async(socket: UdpSocket) {
    let mut datagram = [0; 2048];
    loop {
        match socket.recv_from(&mut datagram).await {
            Ok((len, from)) => {
                if socket.send_to(&datagram[..len], from).await.is_ok() {
                    count_echo(&datagram[..len]);
                }
            }
            Err(error) => warn!("echo: {error}"),
        }
    }
}

/// Echoes every datagram to its sender, on the calling thread.
fn echo_blocking(socket: &UdpSocket) {
    let mut datagram = [0; 2048];
    loop {
        match socket.recv_from_blocking(&mut datagram) {
            Ok((len, from)) => {
                if socket.send_to_blocking(&datagram[..len], from).is_ok() {
                    count_echo(&datagram[..len]);
                }
            }
            Err(error) => warn!("echo: {error}"),
        }
    }
}
