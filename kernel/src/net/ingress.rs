//! How received frames reach smoltcp: one at a time, each connection request first
//! allowed to end a TIME-WAIT that holds its addresses.
//!
//! smoltcp gives a segment to the first socket whose addresses match it, and a socket in
//! TIME-WAIT matches a new connection request (a SYN) from the same client port: it
//! answers with an ACK of the old connection and restarts its 10-second timer, and so on
//! for every SYN the client sends again, so the client waits until it gives up. That
//! happens whenever a client reuses its port at once: QEMU's user network opens each
//! forwarded connection towards the guest from the host client's own port, and Linux
//! hands a port out again as soon as the connection closed on its side (measured before
//! this: a connection from a just-used port waited 1 s or 18 s). Linux accepts such a
//! SYN in TIME-WAIT (RFC 6191); so does this: before the segment is processed, the
//! TIME-WAIT socket is handed to the caller's `end` ([`poll`]), which removes it
//! silently, so that a listening socket takes the segment. The same goes for a socket
//! still closing (FIN sent, the client's not yet seen): a client that opens a new
//! connection from the same port has let go of the old one. (Aborting it instead sends a
//! reset of the old connection after the new one's SYN-ACK: QEMU's user network took it
//! for the new connection's, and connections were reset or stalled for 40 s.)

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
}

/// smoltcp's `Interface::poll`, one received frame at a time (see the module docs):
/// before a connection request is processed, `end` gets the socket in TIME-WAIT (or
/// still closing) that holds its addresses, if any, to take it out of `sockets`.
pub(super) fn poll<'a, D: Device + Peek>(
    iface: &mut Interface,
    now: Instant,
    device: &mut D,
    sockets: &mut SocketSet<'a>,
    mut end: impl FnMut(&mut SocketSet<'a>, SocketHandle),
) -> PollResult {
    let mut changed = PollResult::None;
    iface.poll_maintenance(now);
    loop {
        let request = device.peek().and_then(connection_request);
        if let Some(handle) = request.and_then(|(remote, port)| closing(sockets, remote, port)) {
            end(sockets, handle);
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

#[cfg(test)]
mod tests {
    use alloc::{collections::VecDeque, vec, vec::Vec};

    use smoltcp::{
        iface::Config,
        phy::{self, DeviceCapabilities, Medium},
        wire::{EthernetAddress, IpCidr},
    };

    use super::*;

    /// A loopback Ethernet device: what it sends, it receives.
    #[derive(Default)]
    struct Loop(VecDeque<Vec<u8>>);

    impl Peek for Loop {
        fn peek(&mut self) -> Option<&[u8]> {
            self.0.front().map(Vec::as_slice)
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

    struct Net {
        iface: Interface,
        device: Loop,
        sockets: SocketSet<'static>,
    }

    fn remove(sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        sockets.remove(handle);
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

        /// Polls until nothing more happens, at one instant: no timer runs.
        fn settle(&mut self) {
            for _ in 0..20 {
                poll(
                    &mut self.iface,
                    Instant::ZERO,
                    &mut self.device,
                    &mut self.sockets,
                    remove,
                );
            }
        }

        /// A listening socket and a client connected to it from `CLIENT`.
        fn connect(&mut self) -> (SocketHandle, SocketHandle) {
            let server = self.socket();
            self.tcp(server).listen(SERVER).unwrap();
            let client = self.socket();
            let cx = self.iface.context();
            self.sockets
                .get_mut::<tcp::Socket>(client)
                .connect(cx, (IpAddress::v4(127, 0, 0, 1), SERVER), CLIENT)
                .unwrap();
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
        let server = net.socket();
        net.tcp(server).listen(SERVER).unwrap();
        let client = net.socket();
        let cx = net.iface.context();
        net.sockets
            .get_mut::<tcp::Socket>(client)
            .connect(cx, (IpAddress::v4(127, 0, 0, 1), SERVER), CLIENT)
            .unwrap();
        let mut requests = Vec::new();
        let mut frames = 0;
        for _ in 0..20 {
            frames += net.device.0.len();
            requests.extend(net.device.0.iter().filter_map(|f| connection_request(f)));
            for frame in &net.device.0 {
                assert_eq!(connection_request(&frame[..frame.len().min(40)]), None);
            }
            poll(
                &mut net.iface,
                Instant::ZERO,
                &mut net.device,
                &mut net.sockets,
                remove,
            );
        }
        assert_eq!(net.tcp(server).state(), tcp::State::Established);
        assert!(frames >= 3, "{frames} frames");
        let remote = IpEndpoint::new(IpAddress::v4(127, 0, 0, 1), CLIENT);
        assert_eq!(requests, [(remote, SERVER)]);
        assert_eq!(connection_request(&[]), None);
    }
}
