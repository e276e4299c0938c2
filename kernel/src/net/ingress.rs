//! How received frames reach smoltcp: one at a time, each connection request (a SYN)
//! first looked at by the stack.
//!
//! **A SYN from a port in TIME-WAIT.** smoltcp gives a segment to the first socket whose
//! addresses match it, and a socket in TIME-WAIT matches a new connection request from
//! the same client port: it answers with an ACK of the old connection and restarts its
//! 10-second timer, and so on for every SYN the client sends again, so the client waits
//! until it gives up. That happens whenever a client reuses its port at once: QEMU's user
//! network opens each forwarded connection towards the guest from the host client's own
//! port, and Linux hands a port out again as soon as the connection closed on its side
//! (measured before this: a connection from a just-used port waited 1 s or 18 s). Linux
//! accepts such a SYN in TIME-WAIT (RFC 6191); so does this: before the segment is
//! processed, the TIME-WAIT socket is handed to the stack ([`Requests::end`]), which
//! removes it silently, so that a listening socket takes the segment. The same goes for a
//! socket still closing (FIN sent, the client's not yet seen): a client that opens a new
//! connection from the same port has let go of the old one. (Aborting it instead sends a
//! reset of the old connection after the new one's SYN-ACK: QEMU's user network took it
//! for the new connection's, and connections were reset or stalled for 40 s.)
//!
//! **A SYN that no socket takes.** smoltcp answers a segment no socket accepts with a
//! reset. For a port nobody listens on, that is right. For a listener, it refused
//! clients that a moment later could have been served (measured before this: `ab -c
//! 64`, a connection per request, had 23,749 requests reset; a guest-side count found
//! one SYN without a listening socket for each reset, its 16 sockets all connected and
//! not yet accepted: the accepting task had not run since the burst began). So the
//! stack sees such a request first ([`Requests::admit`]): a listener with room in its
//! backlog gets a socket listening for it on the spot, and one whose backlog is full
//! has the request dropped, as Linux does, so that the client sends it again.

use smoltcp::{
    iface::{Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet},
    phy::Device,
    socket::{Socket, tcp},
    time::Instant,
    wire::{
        EthernetFrame, EthernetProtocol, IpAddress, IpEndpoint, IpProtocol, Ipv4Packet, TcpPacket,
    },
};

/// A device that can show its next received frame before smoltcp takes it.
pub(super) trait Peek {
    /// The next received frame, left in place for the next `receive`.
    fn peek(&mut self) -> Option<&[u8]>;

    /// Drops the next received frame unseen (its buffer goes back to the device).
    fn discard(&mut self);
}

/// What the stack decides about a connection request before smoltcp sees it.
pub(super) trait Requests<'a> {
    /// `handle`, in TIME-WAIT or still closing, holds the addresses a new connection
    /// request comes from: take it out of `sockets` if it may go.
    fn end(&mut self, sockets: &mut SocketSet<'a>, handle: SocketHandle);

    /// No socket listens on `port` or holds the request's addresses: whether smoltcp
    /// sees the request (a socket may have been made to listen for it; without one,
    /// smoltcp refuses it with a reset) or it is dropped, so that the client sends it
    /// again.
    fn admit(&mut self, sockets: &mut SocketSet<'a>, port: u16) -> bool;
}

/// smoltcp's `Interface::poll`, one received frame at a time, each connection request
/// first shown to `requests` (see the module docs).
pub(super) fn poll<'a, D: Device + Peek>(
    iface: &mut Interface,
    now: Instant,
    device: &mut D,
    sockets: &mut SocketSet<'a>,
    requests: &mut impl Requests<'a>,
) -> PollResult {
    let mut changed = PollResult::None;
    iface.poll_maintenance(now);
    loop {
        if let Some((remote, port)) = device.peek().and_then(connection_request) {
            if let Some(handle) = closing(sockets, remote, port) {
                requests.end(sockets, handle);
            }
            if !taken(sockets, remote, port) && !requests.admit(sockets, port) {
                device.discard();
                continue;
            }
        }
        match iface.poll_ingress_single(now, device, sockets) {
            PollIngressSingleResult::None => break,
            PollIngressSingleResult::PacketProcessed => {}
            PollIngressSingleResult::SocketStateChanged => {
                changed = PollResult::SocketStateChanged;
            }
        }
    }
    while iface.poll_egress(now, device, sockets) == PollResult::SocketStateChanged {
        changed = PollResult::SocketStateChanged;
    }
    changed
}

/// The remote endpoint and local port of `frame` if it is an IPv4 TCP segment with SYN
/// and without ACK (a connection request); `None` for anything else, malformed frames
/// included (smoltcp then judges them as usual).
fn connection_request(frame: &[u8]) -> Option<(IpEndpoint, u16)> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| {
        let remote = IpEndpoint::new(IpAddress::Ipv4(ip.src_addr()), tcp.src_port());
        (remote, tcp.dst_port())
    })
}

/// The socket with `remote` on local `port` that has sent its FIN (TIME-WAIT, or still
/// closing), if there is one: a client that asks for a new connection from the same port
/// has let go of the old one.
fn closing(sockets: &SocketSet<'_>, remote: IpEndpoint, port: u16) -> Option<SocketHandle> {
    use tcp::State::{Closing, FinWait1, FinWait2, LastAck, TimeWait};

    sockets.iter().find_map(|(handle, socket)| match socket {
        Socket::Tcp(socket)
            if matches!(
                socket.state(),
                FinWait1 | FinWait2 | Closing | LastAck | TimeWait
            ) && socket.remote_endpoint() == Some(remote)
                && socket
                    .local_endpoint()
                    .is_some_and(|local| local.port == port) =>
        {
            Some(handle)
        }
        _ => None,
    })
}

/// Whether a socket will take a connection request from `remote` to local `port`: one
/// listening on that port (Spindle's listen on every address), or one that holds those
/// addresses (a retransmitted SYN).
fn taken(sockets: &SocketSet<'_>, remote: IpEndpoint, port: u16) -> bool {
    sockets.iter().any(|(_, socket)| match socket {
        Socket::Tcp(socket) => match socket.state() {
            tcp::State::Closed => false,
            tcp::State::Listen => socket.listen_endpoint().port == port,
            _ => {
                socket.remote_endpoint() == Some(remote)
                    && socket
                        .local_endpoint()
                        .is_some_and(|local| local.port == port)
            }
        },
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use alloc::{collections::VecDeque, vec, vec::Vec};

    use smoltcp::{
        iface::Config,
        phy::{self, DeviceCapabilities, Medium},
        wire::{EthernetAddress, IpCidr},
    };

    use super::*;
    use crate::net::{
        TcpConfig,
        stack::{Gate, Listener},
    };

    /// A loopback Ethernet device: what it sends, it receives.
    #[derive(Default)]
    struct Loop(VecDeque<Vec<u8>>);

    impl Peek for Loop {
        fn peek(&mut self) -> Option<&[u8]> {
            self.0.front().map(Vec::as_slice)
        }

        fn discard(&mut self) {
            self.0.pop_front();
        }
    }

    struct Rx(Vec<u8>);
    struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

    impl phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl phy::TxToken for Tx<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = vec![0; len];
            let result = f(&mut frame);
            self.0.push_back(frame);
            result
        }
    }

    impl Device for Loop {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx<'a>;

        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
            let frame = self.0.pop_front()?;
            Some((Rx(frame), Tx(&mut self.0)))
        }

        fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
            Some(Tx(&mut self.0))
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut capabilities = DeviceCapabilities::default();
            capabilities.medium = Medium::Ethernet;
            capabilities.max_transmission_unit = 1514;
            capabilities
        }
    }

    /// The stack's state that its [`Gate`] reads, around smoltcp over the loopback.
    struct Net {
        iface: Interface,
        device: Loop,
        sockets: SocketSet<'static>,
        orphans: Vec<(SocketHandle, Instant)>,
        listeners: Vec<Option<Listener>>,
        held_off: u64,
    }

    const SERVER: u16 = 80;
    const CLIENT: u16 = 40_000;

    impl Net {
        fn new() -> Self {
            let mut device = Loop::default();
            let config = Config::new(EthernetAddress([2, 0, 0, 0, 0, 1]).into());
            let mut iface = Interface::new(config, &mut device, Instant::ZERO);
            iface.update_ip_addrs(|addresses| {
                addresses
                    .push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8))
                    .unwrap();
            });
            Self {
                iface,
                device,
                sockets: SocketSet::new(vec![]),
                orphans: Vec::new(),
                listeners: Vec::new(),
                held_off: 0,
            }
        }

        fn socket(&mut self) -> SocketHandle {
            let buffer = || tcp::SocketBuffer::new(vec![0; 1024]);
            let mut socket = tcp::Socket::new(buffer(), buffer());
            socket.set_ack_delay(None);
            self.sockets.add(socket)
        }

        fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
            self.sockets.get_mut(handle)
        }

        /// A socket listening on `SERVER`, in the listener's backlog: the listener (of
        /// `size`) is made with the first.
        fn listen(&mut self, size: usize) -> SocketHandle {
            let handle = self.socket();
            self.tcp(handle).listen(SERVER).unwrap();
            if self.listeners.is_empty() {
                let config = TcpConfig {
                    backlog: size,
                    ..TcpConfig::default()
                };
                self.listeners.push(Some(Listener {
                    port: SERVER,
                    config,
                    backlog: Vec::new(),
                    waker: None,
                }));
            }
            self.listener().backlog.push(handle);
            handle
        }

        fn listener(&mut self) -> &mut Listener {
            self.listeners[0].as_mut().unwrap()
        }

        /// What an accept does to the backlog: the connection leaves it.
        fn accept(&mut self, handle: SocketHandle) {
            self.listener().backlog.retain(|&h| h != handle);
        }

        /// What a dropped stream's release does: the stack owns the socket now.
        fn drop_stream(&mut self, handle: SocketHandle) {
            self.orphans.push((handle, Instant::ZERO));
        }

        /// One poll at `now`, the stack's [`Gate`] answering connection requests.
        fn poll_at(&mut self, now: Instant) {
            let mut gate = Gate {
                orphans: &mut self.orphans,
                listeners: &mut self.listeners,
                held_off: &mut self.held_off,
            };
            poll(
                &mut self.iface,
                now,
                &mut self.device,
                &mut self.sockets,
                &mut gate,
            );
        }

        /// Polls until nothing more happens, at `now`: no timer runs in between.
        fn settle_at(&mut self, now: Instant) {
            for _ in 0..20 {
                self.poll_at(now);
            }
        }

        fn settle(&mut self) {
            self.settle_at(Instant::ZERO);
        }

        /// A client connecting to `port` from `from`.
        fn client(&mut self, from: u16, port: u16) -> SocketHandle {
            let client = self.socket();
            let cx = self.iface.context();
            self.sockets
                .get_mut::<tcp::Socket>(client)
                .connect(cx, (IpAddress::v4(127, 0, 0, 1), port), from)
                .unwrap();
            client
        }

        /// A listening socket (a listener of one, or one more in it) and a client
        /// connected to it from `CLIENT`.
        fn connect(&mut self) -> (SocketHandle, SocketHandle) {
            let server = self.listen(1);
            let client = self.client(CLIENT, SERVER);
            self.settle();
            (server, client)
        }
    }

    /// The server closes first (it ends in TIME-WAIT), then a new client comes from the
    /// same port: its first SYN is taken by a new listening socket, with no time passing
    /// (smoltcp's TIME-WAIT socket would take it otherwise, and only a retransmission after
    /// the TIME-WAIT, seconds later, would get through).
    #[test]
    fn a_connection_request_from_a_port_in_time_wait_is_accepted_at_once() {
        let mut net = Net::new();
        let (server, client) = net.connect();
        assert_eq!(net.tcp(server).state(), tcp::State::Established);
        net.accept(server);
        net.drop_stream(server);
        net.tcp(server).close();
        net.settle();
        net.tcp(client).close();
        net.settle();
        assert_eq!(net.tcp(server).state(), tcp::State::TimeWait);
        assert_eq!(net.tcp(client).state(), tcp::State::Closed);
        net.sockets.remove(client);

        let old = server;
        let (server, client) = net.connect();
        assert!(net.sockets.iter().all(|(handle, _)| handle != old));
        assert_eq!(net.tcp(server).state(), tcp::State::Established);
        assert_eq!(net.tcp(client).state(), tcp::State::Established);
    }

    /// The server closed, the client vanished without closing (its socket is gone, the
    /// server's waits in FIN-WAIT-2), and a new client comes from the same port: taken
    /// at once too.
    #[test]
    fn a_connection_request_from_a_port_still_closing_is_accepted_at_once() {
        let mut net = Net::new();
        let (old, client) = net.connect();
        net.accept(old);
        net.drop_stream(old);
        net.tcp(old).close();
        net.settle();
        assert_eq!(net.tcp(old).state(), tcp::State::FinWait2);
        net.sockets.remove(client);

        let (server, client) = net.connect();
        assert!(net.sockets.iter().all(|(handle, _)| handle != old));
        assert_eq!(net.tcp(server).state(), tcp::State::Established);
        assert_eq!(net.tcp(client).state(), tcp::State::Established);
    }

    /// Of the frames of a connection's opening (ARP, SYN, SYN-ACK, ACK), one is a
    /// connection request, and it names the client; cut short, it is none.
    #[test]
    fn only_a_syn_without_ack_is_a_connection_request() {
        let mut net = Net::new();
        let server = net.listen(1);
        net.client(CLIENT, SERVER);
        let mut requests = Vec::new();
        let mut frames = 0;
        for _ in 0..20 {
            frames += net.device.0.len();
            requests.extend(net.device.0.iter().filter_map(|f| connection_request(f)));
            for frame in &net.device.0 {
                assert_eq!(connection_request(&frame[..frame.len().min(40)]), None);
            }
            net.poll_at(Instant::ZERO);
        }
        assert_eq!(net.tcp(server).state(), tcp::State::Established);
        assert!(frames >= 3, "{frames} frames");
        let remote = IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), CLIENT);
        assert_eq!(requests, [(remote, SERVER)]);
        assert_eq!(connection_request(&[]), None);
    }

    /// A listener of one whose connection is not accepted yet: a second client's request
    /// is dropped unanswered (not reset), and counted; once the first is accepted and a
    /// socket listens again, the client's retransmitted request connects. A port nobody
    /// listens on still refuses with a reset.
    #[test]
    fn a_connection_request_to_a_full_backlog_waits_for_room() {
        let mut net = Net::new();
        let (first, _) = net.connect();
        assert_eq!(net.tcp(first).state(), tcp::State::Established);

        let waiting = net.client(CLIENT + 1, SERVER);
        net.settle();
        assert_eq!(net.tcp(waiting).state(), tcp::State::SynSent);
        assert_eq!(net.held_off, 1);

        net.accept(first);
        let second = net.listen(1);
        // Past the client's retransmission timeout: it sends its SYN again.
        net.settle_at(Instant::from_secs(5));
        assert_eq!(net.tcp(waiting).state(), tcp::State::Established);
        assert_eq!(net.tcp(second).state(), tcp::State::Established);
        assert_eq!(net.held_off, 1);

        let refused = net.client(CLIENT + 2, SERVER + 1);
        net.settle_at(Instant::from_secs(5));
        assert_eq!(net.tcp(refused).state(), tcp::State::Closed);
        assert_eq!(net.held_off, 1);
    }

    /// A listener whose backlog has room but no socket listening (only so many are made
    /// ahead): a socket is made for a request at once, and the request connects.
    #[test]
    fn a_connection_request_beyond_the_sockets_made_ahead_gets_one() {
        let mut net = Net::new();
        let first = net.listen(2);
        net.client(CLIENT, SERVER);
        net.settle();
        assert_eq!(net.tcp(first).state(), tcp::State::Established);

        let second = net.client(CLIENT + 1, SERVER);
        net.settle();
        assert_eq!(net.tcp(second).state(), tcp::State::Established);
        assert_eq!(net.listener().backlog.len(), 2);
        assert_eq!(net.held_off, 0);
    }
}
