//! UDP: [`UdpSocket`], datagrams to and from one local port.
//!
//! smoltcp keeps one waker per socket and direction, so tasks sharing a socket take
//! turns to receive, and to send (each direction has a lock held while the call
//! waits): a second task would otherwise replace the first one's waker, and the first
//! would never wake (see `tcp`'s module docs).

use alloc::vec::Vec;
use core::{net::SocketAddrV4, task::Poll};

use smoltcp::{
    iface::SocketHandle,
    socket::udp::{self, RecvError, SendError},
    wire::{IpAddress, IpEndpoint},
};

use super::{
    Error,
    op::with_stack,
    stack::{self, Request, Shared, Stack},
    tcp::zeroed,
};
use crate::{drivers::virtio_net, executor, sync::Mutex};

/// Datagrams each way a socket holds.
const DATAGRAMS: usize = 32;
/// The largest datagram one Ethernet frame carries: the device's frame less the
/// Ethernet (14), IPv4 (20) and UDP (8) headers. The stack does not fragment (nor
/// reassemble): a larger one could never be sent.
pub const MAX_DATAGRAM: usize = virtio_net::MAX_FRAME - 14 - 20 - 8;
/// Payload bytes each way a socket holds (room for several full-sized datagrams).
const PAYLOAD_BYTES: usize = 16 * 1024;

/// A UDP socket bound to a local port.
#[derive(Debug)]
pub struct UdpSocket {
    shared: &'static Shared,
    handle: SocketHandle,
    /// Held by the receive, and by the send, under way (see the module docs).
    receiving: Mutex<()>,
    sending: Mutex<()>,
}

impl UdpSocket {
    /// A socket on local port `port`.
    ///
    /// # Errors
    /// [`Error::NoDevice`], [`Error::InvalidPort`] (port 0), [`Error::AddrInUse`],
    /// [`Error::OutOfSockets`], [`Error::OutOfMemory`].
    pub async fn bind(port: u16) -> Result<Self, Error> {
        let shared = stack::shared()?;
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        let handle = with_stack(shared, |stack, _| {
            // A socket just dropped frees its port here, not a poll later.
            stack.apply_requests(&shared.requests);
            Poll::Ready(bind(stack, port))
        })
        .await?;
        Ok(Self {
            shared,
            handle,
            receiving: Mutex::new(()),
            sending: Mutex::new(()),
        })
    }

    /// [`bind`](Self::bind) for a thread: parks it until done.
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    pub fn bind_blocking(port: u16) -> Result<Self, Error> {
        executor::block_on(Self::bind(port))
    }

    /// Sends `datagram` to `to`, waiting for room in the send buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] if it is larger than one frame carries ([`MAX_DATAGRAM`]);
    /// [`Error::Unaddressable`] for an unspecified address or port.
    pub async fn send_to(&self, datagram: &[u8], to: SocketAddrV4) -> Result<(), Error> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Error::Truncated);
        }
        let _turn = self.sending.lock_async().await;
        let handle = self.handle;
        let endpoint = IpEndpoint::new(IpAddress::Ipv4(*to.ip()), to.port());
        with_stack(self.shared, |stack, cx| {
            let socket = stack.udp(handle);
            match socket.send_slice(datagram, endpoint) {
                Ok(()) => {
                    stack.poke();
                    Poll::Ready(Ok(()))
                }
                Err(SendError::BufferFull) => {
                    socket.register_send_waker(cx.waker());
                    Poll::Pending
                }
                Err(SendError::Unaddressable) => Poll::Ready(Err(Error::Unaddressable)),
            }
        })
        .await
    }

    /// Receives the next datagram into `buf`, waiting for one; returns its length and
    /// sender.
    ///
    /// # Errors
    /// [`Error::Truncated`] if it did not fit in `buf` (it is dropped).
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddrV4), Error> {
        let _turn = self.receiving.lock_async().await;
        let handle = self.handle;
        with_stack(self.shared, |stack, cx| {
            let socket = stack.udp(handle);
            match socket.recv_slice(buf) {
                Ok((len, meta)) => {
                    let IpAddress::Ipv4(address) = meta.endpoint.addr;
                    let from = SocketAddrV4::new(address, meta.endpoint.port);
                    Poll::Ready(Ok((len, from)))
                }
                Err(RecvError::Truncated) => Poll::Ready(Err(Error::Truncated)),
                Err(RecvError::Exhausted) => {
                    socket.register_recv_waker(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// [`send_to`](Self::send_to) for a thread.
    ///
    /// # Errors
    /// As [`send_to`](Self::send_to).
    pub fn send_to_blocking(&self, datagram: &[u8], to: SocketAddrV4) -> Result<(), Error> {
        executor::block_on(self.send_to(datagram, to))
    }

    /// [`recv_from`](Self::recv_from) for a thread: parks it until a datagram comes.
    ///
    /// # Errors
    /// As [`recv_from`](Self::recv_from).
    pub fn recv_from_blocking(&self, buf: &mut [u8]) -> Result<(usize, SocketAddrV4), Error> {
        executor::block_on(self.recv_from(buf))
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.shared.request(Request::ReleaseUdp(self.handle));
    }
}

/// Adds a socket bound to `port`.
fn bind(stack: &mut Stack, port: u16) -> Result<SocketHandle, Error> {
    let taken = stack.sockets.iter().any(|(_, socket)| {
        matches!(socket, smoltcp::socket::Socket::Udp(udp) if udp.endpoint().port == port)
    });
    if taken {
        return Err(Error::AddrInUse);
    }
    let mut socket = udp::Socket::new(
        buffer().ok_or(Error::OutOfMemory)?,
        buffer().ok_or(Error::OutOfMemory)?,
    );
    socket.bind(port).map_err(|_| Error::InvalidPort)?;
    stack.add(socket)
}

/// One direction's datagram buffer, or `None` without memory.
fn buffer() -> Option<udp::PacketBuffer<'static>> {
    let mut metadata = Vec::new();
    metadata.try_reserve_exact(DATAGRAMS).ok()?;
    metadata.resize(DATAGRAMS, udp::PacketMetadata::EMPTY);
    Some(udp::PacketBuffer::new(metadata, zeroed(PAYLOAD_BYTES)?))
}
