//! TCP: [`TcpListener`] (a backlog of listening sockets per port) and [`TcpStream`].
//!
//! **The backlog.** smoltcp has no listen queue: a listening socket becomes the
//! connection. So a listener keeps sockets listening on its port, up to
//! [`TcpConfig::backlog`] of them listening or connected and not yet accepted: an accept
//! hands out one that got connected and puts a fresh listening socket in its place. Only
//! the first [`MADE_AHEAD`] are made ahead (each holds its buffers); when a connection
//! request finds none listening, the stack makes one for it on the spot if the backlog
//! has room ([`make_room`]), and drops the request if not, as Linux does, so that the
//! client sends it again rather than being refused (`ingress`). The handed-out socket,
//! once closed, may sit in TIME-WAIT for 10 s: it is no longer the listener's, so that
//! never holds accepts back. A closed stream's socket is removed by the stack once it
//! is fully closed.
//!
//! **Closing.** Dropping a stream closes it gracefully (FIN after the data written), or
//! resets it (RST) if the peer's data was left unread or the owner is unwinding a panic:
//! a handler that panicked resets its connection only. A dropped stream that has not
//! closed within [`TcpConfig::close_timeout`] (a peer that never closes its side, or
//! never takes the data) is reset then. [`TcpStream::shutdown`] sends FIN and keeps the
//! stream readable.
//!
//! **Many tasks, one listener.** smoltcp keeps one waker per socket and direction: a
//! second task registering on a socket silently replaces the first, which would then
//! never wake. So accepts on one listener take turns ([`TcpListener::accept`] holds the
//! listener's `accepting` lock while it waits): tasks on any number of executors may
//! accept from one listener, each connection goes to one of them, and one that is
//! cancelled passes its turn on. A stream's calls take `&mut self`: one at a time.

use alloc::vec::Vec;
use core::{net::SocketAddrV4, task::Poll, time::Duration};

use smoltcp::{
    iface::{SocketHandle, SocketSet},
    socket::tcp::{self, RecvError, SendError, State},
    wire::IpAddress,
};

use super::{
    Error,
    op::with_stack,
    stack::{self, Listener, Request, Shared, Stack, to_smoltcp},
};
use crate::{executor, sync::Mutex, thread};

/// The most listening sockets a listener makes ahead of connection requests: enough for
/// a burst that comes before the accepting task runs, without the buffers of a whole
/// backlog waiting unused; the rest are made as requests come.
pub(super) const MADE_AHEAD: usize = 16;

/// How a listener's sockets are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Connections that may wait to be accepted (being opened, or open): a request
    /// beyond them is dropped, and the client sends it again. Sockets for up to
    /// `MADE_AHEAD` of them are made ahead, the rest as requests come.
    pub backlog: usize,
    /// Receive buffer per connection, in bytes (the window advertised).
    pub rx_buffer: usize,
    /// Send buffer per connection, in bytes (data in flight or waiting).
    pub tx_buffer: usize,
    /// Nagle's algorithm: hold small segments back while data is unacknowledged.
    pub nagle: bool,
    /// How long an ACK may wait for data to ride on (`None`: ACK at once).
    pub ack_delay: Option<Duration>,
    /// A connection whose peer acknowledges nothing this long is reset (`None`: never).
    pub timeout: Option<Duration>,
    /// How long a dropped stream may take to close (send what was written, exchange
    /// FINs) before it is reset and its memory freed, whatever the peer does: Linux's
    /// `tcp_fin_timeout` for connections nobody owns any more.
    pub close_timeout: Duration,
}

impl TcpConfig {
    /// The largest receive buffer: TCP's largest window (RFC 7323), above which smoltcp
    /// refuses (panics on) a socket.
    pub const MAX_RX_BUFFER: usize = 1 << 30;

    /// Whether sockets can be made so: a backlog and buffers of at least one (with none,
    /// a read or a write would wait forever), a receive buffer of at most
    /// [`MAX_RX_BUFFER`](Self::MAX_RX_BUFFER).
    fn is_valid(&self) -> bool {
        self.backlog > 0
            && self.tx_buffer > 0
            && (1..=Self::MAX_RX_BUFFER).contains(&self.rx_buffer)
    }
}

impl Default for TcpConfig {
    /// For request/response: ACKs and small writes go out at once (no Nagle, no delayed
    /// ACK: each would add a round trip's wait to a response), 16 KiB each way (a
    /// connection in TIME-WAIT still holds its buffers for 10 s), a backlog of 128
    /// (Linux's `SOMAXCONN` until 5.4), 60 s to close (as Linux).
    fn default() -> Self {
        Self {
            backlog: 128,
            rx_buffer: 16 * 1024,
            tx_buffer: 16 * 1024,
            nagle: false,
            ack_delay: None,
            timeout: Some(Duration::from_secs(30)),
            close_timeout: Duration::from_secs(60),
        }
    }
}

/// A TCP port listening for connections.
#[derive(Debug)]
pub struct TcpListener {
    shared: &'static Shared,
    id: usize,
    port: u16,
    close_timeout: Duration,
    /// Held by the accept under way: accepts take turns (see the module docs).
    accepting: Mutex<()>,
}

impl TcpListener {
    /// Listens on `port` with the default [`TcpConfig`].
    ///
    /// # Errors
    /// As [`bind_with`](Self::bind_with).
    pub async fn bind(port: u16) -> Result<Self, Error> {
        Self::bind_with(port, TcpConfig::default()).await
    }

    /// Listens on `port`, making its sockets as `config` says.
    ///
    /// # Errors
    /// [`Error::NoDevice`], [`Error::InvalidPort`] (port 0), [`Error::InvalidConfig`],
    /// [`Error::AddrInUse`], [`Error::OutOfSockets`], [`Error::OutOfMemory`].
    pub async fn bind_with(port: u16, config: TcpConfig) -> Result<Self, Error> {
        let shared = stack::shared()?;
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        if !config.is_valid() {
            return Err(Error::InvalidConfig);
        }
        let id = with_stack(shared, |stack, _| {
            stack.apply_requests(&shared.requests);
            Poll::Ready(listen(stack, port, config))
        })
        .await?;
        Ok(Self {
            shared,
            id,
            port,
            close_timeout: config.close_timeout,
            accepting: Mutex::new(()),
        })
    }

    /// [`bind`](Self::bind) for a thread: parks it until done.
    ///
    /// # Errors
    /// As [`bind_with`](Self::bind_with).
    pub fn bind_blocking(port: u16, config: TcpConfig) -> Result<Self, Error> {
        executor::block_on(Self::bind_with(port, config))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection. Waits for one; a connection that was reset before it was
    /// accepted is still handed out (its first read says so). Tasks accepting from the
    /// same listener take turns (see the module docs); dropping the future gives up the
    /// turn and takes no connection.
    ///
    /// # Errors
    /// [`Error::OutOfSockets`] or [`Error::OutOfMemory`] if no socket could be kept
    /// listening and none is connected.
    pub async fn accept(&self) -> Result<TcpStream, Error> {
        let _turn = self.accepting.lock_async().await;
        let id = self.id;
        let stream = with_stack(self.shared, |stack, cx| {
            let listener = stack.listeners[id].as_mut().expect("a live listener");
            let (port, config) = (listener.port, listener.config);
            let mut backlog = core::mem::take(&mut listener.backlog);
            let connected = backlog.iter().position(|&handle| {
                !matches!(
                    stack.tcp(handle).state(),
                    State::Listen | State::SynReceived
                )
            });
            let accepted = connected.map(|index| backlog.remove(index));
            let refill = refill(stack, &mut backlog, port, config);
            for &handle in &backlog {
                stack.tcp(handle).register_recv_waker(cx.waker());
            }
            let backlog_empty = backlog.is_empty();
            let outcome = match (accepted, refill) {
                (Some(handle), _) => Poll::Ready(Ok(handle)),
                // Nothing listens, so nothing will connect: say why.
                (None, Err(error)) if backlog_empty => Poll::Ready(Err(error)),
                (None, _) => Poll::Pending,
            };
            let listener = stack.listeners[id].as_mut().expect("a live listener");
            listener.backlog = backlog;
            // For sockets the stack makes while this waits (`make_room`); forgotten
            // once done, so that it keeps no task alive.
            listener.waker = outcome.is_pending().then(|| cx.waker().clone());
            outcome
        })
        .await?;
        Ok(TcpStream::new(self.shared, stream, self.close_timeout))
    }

    /// [`accept`](Self::accept) for a thread: parks it until a connection comes.
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub fn accept_blocking(&self) -> Result<TcpStream, Error> {
        executor::block_on(self.accept())
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.shared.request(Request::CloseListener(self.id));
    }
}

/// Registers a listener on `port` with its backlog listening; returns its id.
fn listen(stack: &mut Stack, port: u16, config: TcpConfig) -> Result<usize, Error> {
    if stack.listeners.iter().flatten().any(|l| l.port == port) {
        return Err(Error::AddrInUse);
    }
    // Room for the whole backlog at once (a handle each): sockets made as requests come
    // then allocate nothing else, so the listener's memory does not grow with traffic.
    let mut backlog = Vec::new();
    backlog
        .try_reserve_exact(config.backlog.min(stack::MAX_SOCKETS))
        .map_err(|_| Error::OutOfMemory)?;
    if let Err(error) = refill(stack, &mut backlog, port, config) {
        for handle in backlog {
            stack.sockets.remove(handle);
        }
        return Err(error);
    }
    let listener = Some(Listener {
        port,
        config,
        backlog,
        waker: None,
    });
    let id = match stack.listeners.iter().position(Option::is_none) {
        Some(free) => {
            stack.listeners[free] = listener;
            free
        }
        None => {
            stack.listeners.push(listener);
            stack.listeners.len() - 1
        }
    };
    stack.poke();
    Ok(id)
}

/// Adds listening sockets until `backlog` holds as many as are made ahead
/// ([`MADE_AHEAD`], at most `config.backlog`). An error means it holds fewer (perhaps
/// none). Beyond that many, listening sockets go: one made for a request whose opening
/// was reset listens again, and would otherwise keep its buffers.
fn refill(
    stack: &mut Stack,
    backlog: &mut Vec<SocketHandle>,
    port: u16,
    config: TcpConfig,
) -> Result<(), Error> {
    let ahead = config.backlog.min(MADE_AHEAD);
    while backlog.len() > ahead {
        let Some(at) = backlog
            .iter()
            .rposition(|&handle| stack.tcp(handle).state() == State::Listen)
        else {
            break;
        };
        stack.sockets.remove(backlog.remove(at));
    }
    while backlog.len() < ahead {
        let socket = listening_socket(port, &config)?;
        backlog.try_reserve(1).map_err(|_| Error::OutOfMemory)?;
        backlog.push(stack.add(socket)?);
    }
    Ok(())
}

/// Adds one listening socket to `listener`'s backlog, beyond those made ahead: the
/// stack's answer to a connection request that found none listening (the caller checks
/// that the backlog has room). The waiting accept, if any, is woken when it connects.
pub(super) fn make_room(
    listener: &mut Listener,
    sockets: &mut SocketSet<'static>,
) -> Result<(), Error> {
    let mut socket = listening_socket(listener.port, &listener.config)?;
    if let Some(waker) = &listener.waker {
        socket.register_recv_waker(waker);
    }
    listener
        .backlog
        .try_reserve(1)
        .map_err(|_| Error::OutOfMemory)?;
    listener.backlog.push(stack::add(sockets, socket)?);
    Ok(())
}

/// A socket made as `config` says, listening on `port`.
fn listening_socket(port: u16, config: &TcpConfig) -> Result<tcp::Socket<'static>, Error> {
    let mut socket = new_socket(config).ok_or(Error::OutOfMemory)?;
    socket
        .listen(port)
        .expect("a fresh socket listens on a non-zero port");
    Ok(socket)
}

/// A socket with `config`'s buffers and settings, or `None` without memory for them.
fn new_socket(config: &TcpConfig) -> Option<tcp::Socket<'static>> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(zeroed(config.rx_buffer)?),
        tcp::SocketBuffer::new(zeroed(config.tx_buffer)?),
    );
    socket.set_nagle_enabled(config.nagle);
    socket.set_ack_delay(config.ack_delay.map(to_smoltcp));
    socket.set_timeout(config.timeout.map(to_smoltcp));
    Some(socket)
}

/// A zeroed buffer of `len` bytes, or `None` if the heap has no room.
pub(super) fn zeroed(len: usize) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).ok()?;
    buffer.resize(len, 0);
    Some(buffer)
}

/// A TCP connection.
#[derive(Debug)]
pub struct TcpStream {
    shared: &'static Shared,
    handle: SocketHandle,
    /// Set by [`shutdown`](Self::shutdown).
    shut_down: bool,
    /// [`TcpConfig::close_timeout`], for the drop.
    close_timeout: Duration,
}

impl TcpStream {
    fn new(shared: &'static Shared, handle: SocketHandle, close_timeout: Duration) -> Self {
        Self {
            shared,
            handle,
            shut_down: false,
            close_timeout,
        }
    }

    /// The peer's address and port (`None` once the connection is closed).
    pub async fn peer_addr(&self) -> Option<SocketAddrV4> {
        let handle = self.handle;
        with_stack(self.shared, |stack, _| {
            Poll::Ready(stack.tcp(handle).remote_endpoint().map(|endpoint| {
                let IpAddress::Ipv4(address) = endpoint.addr;
                SocketAddrV4::new(address, endpoint.port)
            }))
        })
        .await
    }

    /// Reads what has arrived into `buf`, waiting for at least one byte; `Ok(0)` once the
    /// peer closed its side (and for an empty `buf`).
    ///
    /// # Errors
    /// [`Error::ConnectionReset`] if the connection was reset.
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let handle = self.handle;
        with_stack(self.shared, |stack, cx| {
            let socket = stack.tcp(handle);
            match socket.recv_slice(buf) {
                Ok(0) => {
                    socket.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                Ok(read) => {
                    stack.poke(); // the window opened: the peer may be told
                    Poll::Ready(Ok(read))
                }
                Err(RecvError::Finished) => Poll::Ready(Ok(0)),
                Err(RecvError::InvalidState) => Poll::Ready(Err(Error::ConnectionReset)),
            }
        })
        .await
    }

    /// Writes as much of `buf` as the send buffer takes, waiting for room for at least
    /// one byte; returns how much.
    ///
    /// # Errors
    /// [`Error::Shutdown`] after [`shutdown`](Self::shutdown); [`Error::ConnectionReset`]
    /// if the connection was reset or closed.
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        if self.shut_down {
            return Err(Error::Shutdown);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let handle = self.handle;
        with_stack(self.shared, |stack, cx| {
            let socket = stack.tcp(handle);
            match socket.send_slice(buf) {
                Ok(0) => {
                    socket.register_send_waker(cx.waker());
                    Poll::Pending
                }
                Ok(written) => {
                    stack.poke();
                    Poll::Ready(Ok(written))
                }
                Err(SendError::InvalidState) => Poll::Ready(Err(Error::ConnectionReset)),
            }
        })
        .await
    }

    /// Writes all of `buf`.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub async fn write_all(&mut self, mut buf: &[u8]) -> Result<(), Error> {
        while !buf.is_empty() {
            let written = self.write(buf).await?;
            buf = &buf[written..];
        }
        Ok(())
    }

    /// Waits until everything written has been acknowledged by the peer.
    ///
    /// # Errors
    /// [`Error::ConnectionReset`] if the connection was reset before.
    pub async fn flush(&mut self) -> Result<(), Error> {
        let handle = self.handle;
        with_stack(self.shared, |stack, cx| {
            let socket = stack.tcp(handle);
            if socket.send_queue() == 0 {
                Poll::Ready(Ok(()))
            } else if !socket.is_active() {
                Poll::Ready(Err(Error::ConnectionReset))
            } else {
                socket.register_send_waker(cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    /// Sends FIN once what was written has gone: the peer reads the end of the stream.
    /// The stream stays readable; further writes fail with [`Error::Shutdown`].
    pub fn shutdown(&mut self) {
        if !core::mem::replace(&mut self.shut_down, true) {
            self.shared.request(Request::Shutdown(self.handle));
        }
    }

    /// [`read`](Self::read) for a thread: parks it until data comes.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    pub fn read_blocking(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        executor::block_on(self.read(buf))
    }

    /// [`write_all`](Self::write_all) for a thread: parks it until all is written.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn write_all_blocking(&mut self, buf: &[u8]) -> Result<(), Error> {
        executor::block_on(self.write_all(buf))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let request = if thread::panicking() {
            Request::AbortTcp(self.handle)
        } else {
            Request::ReleaseTcp(self.handle, self.close_timeout)
        };
        self.shared.request(request);
    }
}

impl embedded_io_async::ErrorType for TcpStream {
    type Error = Error;
}

impl embedded_io_async::Read for TcpStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        TcpStream::read(self, buf).await
    }
}

impl embedded_io_async::Write for TcpStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        TcpStream::write(self, buf).await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        TcpStream::flush(self).await
    }
}
