//! The socket API misused, on a network card with nobody on the other side (QEMU's
//! restricted user network, no forwarded port): every misuse is an error value, a port
//! freed by a drop can be bound again at once, and every socket and byte comes back.
//@ qemu-args: -netdev user,id=net0,restrict=on -device virtio-net-pci,netdev=net0,disable-legacy=on
#![no_std]
#![no_main]

extern crate alloc;

use core::{
    net::{Ipv4Addr, SocketAddrV4},
    time::Duration,
};

use spindle::{
    net::{self, Error, MAX_DATAGRAM, TcpConfig, TcpListener, UdpSocket},
    thread, time,
};
use spindle_test::memory::{assert_heap_back_to, heap_in_use};

spindle_test::test_kernel!(
    a_port_taken_twice_is_addr_in_use,
    a_dropped_socket_frees_its_port_at_once,
    a_datagram_larger_than_a_frame_is_refused,
    sockets_and_memory_come_back
);

/// QEMU's discard port on the gateway: a datagram there goes out and is dropped.
const DISCARD: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 9);

fn a_port_taken_twice_is_addr_in_use() {
    net::start().expect("the network card");
    let listener = TcpListener::bind_blocking(80, TcpConfig::default()).expect("port 80");
    let again = TcpListener::bind_blocking(80, TcpConfig::default());
    assert_eq!(again.err(), Some(Error::AddrInUse));
    let udp = UdpSocket::bind_blocking(7).expect("port 7");
    assert_eq!(UdpSocket::bind_blocking(7).err(), Some(Error::AddrInUse));
    // TCP and UDP ports are apart: UDP 80 and TCP 7 are free.
    drop(UdpSocket::bind_blocking(80).expect("UDP 80"));
    drop(TcpListener::bind_blocking(7, TcpConfig::default()).expect("TCP 7"));
    assert_eq!(
        TcpListener::bind_blocking(0, TcpConfig::default()).err(),
        Some(Error::InvalidPort)
    );
    let default = TcpConfig::default();
    for config in [
        TcpConfig {
            backlog: 0,
            ..default
        },
        TcpConfig {
            rx_buffer: 0,
            ..default
        },
        TcpConfig {
            tx_buffer: 0,
            ..default
        },
        TcpConfig {
            rx_buffer: TcpConfig::MAX_RX_BUFFER + 1,
            ..default
        },
    ] {
        let listener = TcpListener::bind_blocking(81, config);
        assert_eq!(listener.err(), Some(Error::InvalidConfig), "{config:?}");
    }
    assert_eq!(UdpSocket::bind_blocking(0).err(), Some(Error::InvalidPort));
    drop((listener, udp));
}

/// A drop hands its socket to the stack's task; a bind right after it, before that task
/// ran, must still find the port free.
fn a_dropped_socket_frees_its_port_at_once() {
    for _ in 0..3 {
        let listener = TcpListener::bind_blocking(80, TcpConfig::default());
        assert!(listener.is_ok(), "TCP 80 after a drop: {listener:?}");
        drop(listener);
        let udp = UdpSocket::bind_blocking(7);
        assert!(udp.is_ok(), "UDP 7 after a drop: {udp:?}");
    }
}

/// The stack neither fragments nor reassembles: what one frame cannot carry is an error,
/// not a datagram that silently never leaves.
fn a_datagram_larger_than_a_frame_is_refused() {
    let socket = UdpSocket::bind_blocking(7).expect("port 7");
    let largest = [0x5a; MAX_DATAGRAM];
    assert_eq!(socket.send_to_blocking(&largest, DISCARD), Ok(()));
    let datagram = [0x5a; MAX_DATAGRAM + 1];
    assert_eq!(
        socket.send_to_blocking(&datagram, DISCARD),
        Err(Error::Truncated)
    );
    let huge = alloc::vec![0; 64 * 1024];
    assert_eq!(
        socket.send_to_blocking(&huge, DISCARD),
        Err(Error::Truncated)
    );
    let unaddressed = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9);
    assert_eq!(
        socket.send_to_blocking(b"x", unaddressed),
        Err(Error::Unaddressable)
    );
}

/// Sockets opened and dropped in a loop leave nothing behind.
fn sockets_and_memory_come_back() {
    // Nothing is open any more: the earlier cases dropped all they made.
    assert_eq!(sockets_once_settled(), 0);
    let memory = heap_in_use();
    for port in 1000..1100 {
        let listener = TcpListener::bind_blocking(port, TcpConfig::default()).expect("a port");
        let udp = UdpSocket::bind_blocking(port).expect("a port");
        drop((listener, udp));
    }
    assert_eq!(sockets_once_settled(), 0);
    assert_heap_back_to(memory);
}

/// The stack's socket count once its task has removed what was dropped (it does so in
/// its own time: waited for, boundedly).
fn sockets_once_settled() -> usize {
    let deadline = time::now() + Duration::from_secs(5);
    loop {
        let sockets = net::stats().expect("the network is up").sockets;
        if sockets == 0 || time::now() > deadline {
            return sockets;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
