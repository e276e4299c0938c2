//! More connection requests than a listener's backlog holds, while nobody accepts: the
//! harness's `backlog` client (`tests/src/net_backlog.rs`) holds the server's accepts
//! back on a control connection, opens 40 connections (the listener makes 16 sockets
//! ahead and has a backlog of 24), then lets it accept. The requests beyond the sockets
//! made ahead get sockets as they come, those beyond the backlog are dropped so that the
//! client sends them again, as Linux does: every connection is served, none refused.
//@ net: backlog
//@ smp: 1
//@ timeout: 90
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spindle::{
    executor::block_on,
    input::serial::SerialInput,
    net::{self, TcpConfig, TcpListener, TcpStream},
    thread,
};
use spindle_test::net::{ECHOED, READY, read_line};

spindle_test::test_kernel!(a_burst_beyond_the_backlog_is_served);

/// The listener's backlog: more than the sockets a listener makes ahead (16), fewer than
/// the connections the client opens at once.
const BACKLOG: usize = 24;
/// The connections the client opens while accepts are held back (its `CONNECTIONS`).
const BURST: u64 = 40;

/// Connections answered `served`.
static SERVED: AtomicU64 = AtomicU64::new(0);

fn a_burst_beyond_the_backlog_is_served() {
    let mut input = SerialInput::open().expect("the serial input");
    net::start().expect("the network card");
    let config = TcpConfig {
        backlog: BACKLOG,
        ..TcpConfig::default()
    };
    let listener = TcpListener::bind_blocking(80, config).expect("port 80");
    thread::Builder::new()
        .name("server")
        .spawn(move || serve(&listener))
        .expect("the server's thread");
    spindle::println!("{READY}");
    let connections = connections_opened(&block_on(read_line(&mut input)));
    // The client read every answer to its end before it typed its line, and each
    // connection is counted before its stream is dropped (which ends it): `Acquire`
    // sees every count.
    let served = SERVED.load(Ordering::Acquire);
    let stats = net::stats().expect("the network is up");
    spindle::println!("net-test: {served} of {connections} connections served; {stats:?}");
    // The harness checks what a UDP echo answered: this server has none, and the client
    // sends no datagrams.
    spindle::println!("{ECHOED}0 datagrams, digest {:#018x}", 0);
    assert_eq!(connections, BURST + 1, "connections the client opened");
    assert_eq!(served, BURST, "connections served");
    // The burst went beyond the backlog: the requests that found it full were dropped
    // (then sent again by the client, and served).
    assert!(
        stats.held_off >= BURST - BACKLOG as u64,
        "connection requests held off: {stats:?}"
    );
}

/// Takes the control connection, accepts nothing more until it says `go`, then serves
/// every connection in turn: reads its line, answers `served`, closes it.
fn serve(listener: &TcpListener) {
    let mut control = listener.accept_blocking().expect("the control connection");
    assert_eq!(line(&mut control), b"hold");
    control
        .write_all_blocking(b"holding\n")
        .expect("the control connection");
    assert_eq!(line(&mut control), b"go");
    loop {
        let Ok(mut stream) = listener.accept_blocking() else {
            continue;
        };
        if line(&mut stream) == b"hello" && stream.write_all_blocking(b"served\n").is_ok() {
            SERVED.fetch_add(1, Ordering::Release);
        }
    }
}

/// The peer's next line, without its newline (what came before the end, if it ends).
fn line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0; 1];
    while let Ok(1) = stream.read_blocking(&mut byte) {
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    line
}

/// The connection count in the client's `net-client: done CONNECTIONS PANICS DATAGRAMS`.
fn connections_opened(line: &str) -> u64 {
    line.strip_prefix("net-client: done ")
        .and_then(|counts| counts.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line from the host: {line:?}"))
}
