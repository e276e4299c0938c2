//! The guest half of the network tests (`//@ net: CLIENT`): serve `examples/http-server`
//! while the harness's client (`tests/src/net_client.rs`) works it over from the host,
//! then check that every socket and byte of memory came back.
//!
//! The handshake with the host: the kernel prints [`READY`] once it listens; the client
//! runs, then types one line into the serial port,
//! `net-client: done CONNECTIONS PANICS DATAGRAMS`: how many connections it opened, how
//! many of them asked the handler to panic, and how many UDP datagrams it sent the echo.
//! The kernel then waits for the connections it closed to leave TIME-WAIT (smoltcp keeps
//! them 10 s) and checks the stack and the heap against what they held before the
//! client. It prints what the echo answered ([`ECHOED`]), which the host checks against
//! what it sent: QEMU's restricted network drops the answers themselves.

use alloc::{string::String, vec::Vec};
use core::time::Duration;

use futures_util::StreamExt;
use http_server::Mode;
use spindle::{executor::block_on, input::serial::SerialInput, net, thread, time};

use crate::memory::{assert_heap_back_to, heap_in_use};

/// What the kernel prints when the host's client may start (the harness waits for it).
pub const READY: &str = "net-test: ready";

/// What the kernel prints, followed by `N datagrams, digest 0xDIGEST`, once the echo
/// answered what the client sent (`http_server::Echoed`; the harness checks it).
pub const ECHOED: &str = "net-test: udp echoed ";

/// How long the stack may take to let go of every socket once the client is done: the
/// 10 s of TIME-WAIT, and as much again for a busy host.
const DRAIN: Duration = Duration::from_secs(20);

/// Serves in `mode` until the host's client is done, then checks that every connection
/// was accepted and everything it held is back.
pub fn serve_the_host_client(mode: Mode) {
    let mut input = SerialInput::open().expect("the serial input");
    http_server::start(mode).expect("the server starts");
    let before = settled_stats();
    let memory = heap_in_use();
    spindle::println!("{READY}");
    let [connections, panics, datagrams] = client_done(&block_on(read_line(&mut input)));
    crate::expect_contained_panics(panics);
    assert_eq!(
        http_server::accepted(),
        connections,
        "connections accepted; {:?}",
        net::stats()
    );
    // Sockets leave TIME-WAIT, the threads that served end and are reaped, and the echo
    // answers, in their own time: wait (boundedly) for all three, then compare.
    let deadline = time::now() + DRAIN;
    let drained = loop {
        let now = net::stats().expect("the network is up");
        let back = now.sockets == before.sockets
            && heap_in_use() == memory
            && http_server::echoed().datagrams >= datagrams;
        if back || time::now() > deadline {
            break now;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let echoed = http_server::echoed();
    spindle::println!(
        "{ECHOED}{} datagrams, digest {:#018x}",
        echoed.datagrams,
        echoed.digest
    );
    assert_eq!(drained.sockets, before.sockets, "sockets left: {drained:?}");
    assert_eq!(drained.orphans, 0, "{drained:?}");
    // The line is level-triggered: a handler call that found nothing to do is an
    // interrupt delivered again after its handler had lowered the line.
    assert_eq!(
        drained.other_interrupts, 0,
        "interrupts with nothing to do: {drained:?}"
    );
    assert_heap_back_to(memory);
    spindle::println!(
        "net-test: {connections} connections; device interrupts {}, others on the line {}, frames dropped {}",
        drained.interrupts,
        drained.other_interrupts,
        drained.dropped_frames
    );
}

/// What the stack holds once the sockets dropped so far are gone (waited for, bounded
/// by [`DRAIN`]): a baseline that does not count sockets still closing.
pub fn settled_stats() -> net::Stats {
    let deadline = time::now() + DRAIN;
    loop {
        let stats = net::stats().expect("the network is up");
        if stats.orphans == 0 || time::now() > deadline {
            return stats;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The counts in the client's `net-client: done CONNECTIONS PANICS DATAGRAMS` line (the
/// line itself is dropped before memory is compared).
fn client_done(line: &str) -> [u64; 3] {
    let numbers: Vec<u64> = line
        .strip_prefix("net-client: done ")
        .unwrap_or_else(|| panic!("unexpected line from the host: {line:?}"))
        .split(' ')
        .map(|number| number.parse().expect("a count"))
        .collect();
    numbers
        .try_into()
        .unwrap_or_else(|_| panic!("unexpected line from the host: {line:?}"))
}

/// The next line typed into the serial port (without its newline).
pub async fn read_line(input: &mut SerialInput) -> String {
    let mut line = Vec::new();
    loop {
        match input.next().await.expect("serial input never ends") {
            b'\n' => return String::from_utf8_lossy(&line).into_owned(),
            byte => line.push(byte),
        }
    }
}
