//! The `backlog` network client (`//@ net: backlog`), against the server of
//! `tests/kernels/src/bin/net_backlog.rs`: while the server accepts nothing, more
//! connections come than its listener's backlog holds; then it accepts, and every one of
//! them must be served. Each connection sends `hello` and must read `served`, then the
//! end: a connection the guest refused (a reset, or the end with nothing before it) fails
//! the step. The connections are opened one after the other from one thread: QEMU's user
//! network takes forwarded connections from a listen queue of one, and connections
//! opened at once from many threads overflow it, which the host's TCP answers by dropping
//! a client's handshake ACK, leaving that client waiting up to a minute whatever the
//! guest does.

use std::{
    io::Read,
    net::{SocketAddr, TcpStream},
};

use crate::net_client::{self, Report, expect, read_line, send};

/// Connections opened while the server accepts nothing: more than its backlog
/// (`BACKLOG` in the kernel, 24), itself more than the sockets a listener makes ahead
/// (16).
const CONNECTIONS: usize = 40;

/// Runs the client against 127.0.0.1:`port`.
pub fn run(port: u16) -> Report {
    let mut report = Report::default();
    report.outcome = burst(SocketAddr::from(([127, 0, 0, 1], port)), &mut report);
    report
}

/// The control connection holds the server's accepts back; [`CONNECTIONS`] come; the
/// control connection lets it accept; every connection is served.
fn burst(address: SocketAddr, report: &mut Report) -> Result<(), String> {
    let mut control = net_client::connect(address)?;
    report.connections += 1;
    send(&mut control, b"hold\n")?;
    let held = read_line(&mut control)?;
    expect(held == "holding", || format!("control: answer {held:?}"))?;
    let mut streams = Vec::new();
    for index in 0..CONNECTIONS {
        let mut stream = net_client::connect(address).map_err(|e| format!("#{index}: {e}"))?;
        report.connections += 1;
        send(&mut stream, b"hello\n").map_err(|e| format!("#{index}: {e}"))?;
        streams.push(stream);
    }
    send(&mut control, b"go\n")?;
    let failed: Vec<String> = streams
        .iter_mut()
        .enumerate()
        .filter_map(|(index, stream)| served(stream).err().map(|e| format!("#{index}: {e}")))
        .collect();
    expect(failed.is_empty(), || {
        format!(
            "{} of {CONNECTIONS} not served: {}",
            failed.len(),
            failed.join("; ")
        )
    })
}

/// The connection's answer was `served`, then the end.
fn served(stream: &mut TcpStream) -> Result<(), String> {
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    expect(answer == b"served\n", || {
        format!("answer {:?}", String::from_utf8_lossy(&answer))
    })
}
