//! The network: a TCP/IP stack (smoltcp) over the virtio network device, and sockets
//! that are futures, with blocking forms for threads.
//!
//! ```ignore
//! let listener = net::TcpListener::bind(80).await?;
//! loop {
//!     let mut stream = listener.accept().await?;
//!     spawner.spawn(async move {
//!         let mut request = [0; 512];
//!         let n = stream.read(&mut request).await?;
//!         stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await
//!     });
//! }
//! ```
//!
//! **How a packet reaches a task.** The device writes a received frame into a buffer the
//! driver posted and raises its interrupt; the handler (`drivers::virtio_net`) reads the
//! device's ISR register, which lowers the line, and sets the stack's event
//! (`stack::Stack`'s `work`). The stack's task, on its own thread (`net`), wakes,
//! takes the stack's lock and polls smoltcp: the frame goes up through Ethernet, IP
//! and TCP into the socket's receive buffer, and smoltcp wakes the waker the socket's
//! reader registered. The reader's task takes the lock and copies the bytes out. The
//! stack's task then sleeps until the next interrupt, the next time smoltcp needs it
//! (`poll_delay`: a retransmission, a delayed ACK, the end of a TIME-WAIT) or the next
//! socket call that gave it work (a write, a close): never in a busy loop.
//!
//! **Sockets.** [`TcpListener`] keeps a backlog of listening sockets on its port and
//! puts a fresh one in place of each it hands out, so connections that linger in
//! TIME-WAIT (10 s in smoltcp) never cap the accept rate. [`TcpStream`] reads, writes
//! and shuts down; [`UdpSocket`] sends and receives datagrams. Socket methods are
//! futures (also through `embedded_io_async::{Read, Write}`); the `_blocking` forms park
//! the calling thread until the future is done ([`executor::block_on`]), for code on
//! kernel threads. Errors are values ([`Error`]), never panics.
//!
//! **Addresses.** The guest is 10.0.2.15/24 behind the gateway 10.0.2.2, QEMU's user
//! network defaults (static: no DHCP).
//!
//! [`executor::block_on`]: crate::executor::block_on
//!
//! **Checked by:** host tests in `ingress.rs` (smoltcp over a loopback device); test
//! kernels `net_http`, `net_http_threads`, `net_misuse`, `net_hostile`, `net_backlog`, each
//! with a host client (`tests/src/net_*.rs`).

mod device;
mod ingress;
mod op;
mod stack;
mod tcp;
mod udp;

use core::{fmt, net::Ipv4Addr};

pub use stack::{MAX_SOCKETS, Stats, start, stats};
pub use tcp::{TcpConfig, TcpListener, TcpStream};
pub use udp::{MAX_DATAGRAM, UdpSocket};

/// The guest's address: QEMU's user network gives its guest this one.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The prefix length of the guest's network.
pub const PREFIX_LEN: u8 = 24;
/// The gateway (QEMU's user network: the host side).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

/// What a network call can fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The machine has no network device (or it could not be brought up).
    NoDevice,
    /// Another socket is bound to that port.
    AddrInUse,
    /// Port 0 (or another port no socket can take).
    InvalidPort,
    /// A [`TcpConfig`] no socket can have: a backlog or a buffer of 0, or a receive
    /// buffer over 1 GiB (TCP's largest window).
    InvalidConfig,
    /// The peer reset the connection, or it was aborted.
    ConnectionReset,
    /// This side shut the connection down for writing.
    Shutdown,
    /// The stack holds as many sockets as it may ([`stack::MAX_SOCKETS`]).
    OutOfSockets,
    /// The heap could not provide a socket's buffers.
    OutOfMemory,
    /// A datagram larger than one frame carries (to send), or than the caller's buffer
    /// (received: it is dropped).
    Truncated,
    /// The destination cannot be reached (no route, an unspecified address).
    Unaddressable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoDevice => "no network device",
            Self::AddrInUse => "address in use",
            Self::InvalidPort => "invalid port",
            Self::InvalidConfig => "invalid socket configuration",
            Self::ConnectionReset => "connection reset",
            Self::Shutdown => "the connection is shut down for writing",
            Self::OutOfSockets => "out of sockets",
            Self::OutOfMemory => "out of memory for socket buffers",
            Self::Truncated => "datagram too large",
            Self::Unaddressable => "destination unreachable",
        })
    }
}

impl core::error::Error for Error {}

impl embedded_io_async::Error for Error {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        use embedded_io_async::ErrorKind;
        match self {
            Self::NoDevice | Self::Unaddressable => ErrorKind::NotConnected,
            Self::AddrInUse => ErrorKind::AddrInUse,
            Self::InvalidPort | Self::InvalidConfig => ErrorKind::InvalidInput,
            Self::ConnectionReset => ErrorKind::ConnectionReset,
            Self::Shutdown => ErrorKind::BrokenPipe,
            Self::OutOfSockets | Self::OutOfMemory => ErrorKind::OutOfMemory,
            Self::Truncated => ErrorKind::InvalidData,
        }
    }
}
