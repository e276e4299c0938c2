//! The `hostile` network client (`//@ net: hostile`), against the server of
//! `tests/kernels/src/bin/net_hostile.rs`, which answers a first line: `hello` (which
//! CPU serves it, then closes), `echo`, `flood` (writes until the connection dies),
//! `victim` (its task is aborted while blocked in `read`), `oom` (fills the guest's
//! heap until told), `shutdown`, `reset` (uses the connection after the client reset
//! it), `quiet` (stops accepting). Each step says what it expects; every wait has a
//! deadline, so a wedged server fails the step instead of hanging the suite.
//! Connections the client leaves open on purpose (stalled, never closed) are held until
//! the boot ends ([`Report::held`]).

use std::{
    collections::BTreeSet,
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
};

use crate::net_client::{self, Report, digest, expect, read_line, send};

/// Datagrams sent to the four one-shot receivers: their sizes.
const DATAGRAMS: [usize; 4] = [10, 200, 1000, 1472];
/// Connections opened at once: more than the listener's backlog of 8.
const AT_ONCE: usize = 40;

/// Runs the hostile client against 127.0.0.1:`port`.
pub fn run(port: u16) -> Report {
    let mut client = Hostile {
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        report: Report::default(),
    };
    client.report.outcome = client.exercise();
    client.report
}

struct Hostile {
    address: SocketAddr,
    report: Report,
}

/// How a connection the server may refuse ended.
enum Ending {
    Served(String),
    Refused,
}

impl Hostile {
    fn exercise(&mut self) -> Result<(), String> {
        self.datagrams_to_four_receivers()
            .map_err(|e| format!("UDP to four receivers: {e}"))?;
        self.four_acceptors_on_four_cpus()
            .map_err(|e| format!("four tasks accepting from one listener: {e}"))?;
        self.stall_and_flood()
            .map_err(|e| format!("stalled clients: {e}"))?;
        self.byte_by_byte()
            .map_err(|e| format!("a request a byte at a time: {e}"))?;
        self.hellos_while_accepts_are_aborted()
            .map_err(|e| format!("connections while the accept task is aborted: {e}"))?;
        self.victims()
            .map_err(|e| format!("aborted readers: {e}"))?;
        self.never_closing()
            .map_err(|e| format!("clients that never close: {e}"))?;
        self.more_than_the_backlog()
            .map_err(|e| format!("{AT_ONCE} connections at once: {e}"))?;
        self.with_the_heap_full()
            .map_err(|e| format!("connections while the heap is full: {e}"))?;
        self.shut_down().map_err(|e| format!("a shutdown: {e}"))?;
        self.resetting()
            .map_err(|e| format!("connections reset by the client: {e}"))?;
        self.hello().map_err(|e| format!("the last hello: {e}"))?;
        self.backlog_left_behind()
            .map_err(|e| format!("a listener dropped with its backlog: {e}"))
    }

    fn connect(&mut self) -> Result<TcpStream, String> {
        let stream = net_client::connect(self.address)?;
        self.report.connections += 1;
        Ok(stream)
    }

    /// Four datagrams for four tasks waiting on one socket, one each: the guest counts
    /// them ([`Report::check_echo`]).
    fn datagrams_to_four_receivers(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        for (index, size) in DATAGRAMS.into_iter().enumerate() {
            let datagram: Vec<u8> = (0..size).map(|i| (i * 3 + index) as u8).collect();
            socket
                .send_to(&datagram, self.address)
                .map_err(|e| e.to_string())?;
            self.report.datagrams += 1;
            self.report.digest = self.report.digest.wrapping_add(digest(&datagram));
        }
        Ok(())
    }

    /// Four connections held open at once, each taken by another of the four one-shot
    /// acceptors: four CPUs answer.
    fn four_acceptors_on_four_cpus(&mut self) -> Result<(), String> {
        let mut streams = Vec::new();
        for _ in 0..4 {
            let mut stream = self.connect()?;
            send(&mut stream, b"hi\n")?;
            streams.push(stream);
        }
        let mut cpus = BTreeSet::new();
        for (index, stream) in streams.iter_mut().enumerate() {
            let line = read_line(stream).map_err(|e| format!("connection {index}: {e}"))?;
            let cpu = line
                .strip_prefix("cpu ")
                .ok_or(format!("answer {line:?}"))?;
            cpus.insert(cpu.to_owned());
        }
        expect(cpus.len() == 4, || format!("answered from CPUs {cpus:?}"))
    }

    /// One client that asks for an echo and then sends nothing, one that asks for a
    /// flood and never reads: both held open to the end.
    fn stall_and_flood(&mut self) -> Result<(), String> {
        let mut stalled = self.connect()?;
        send(&mut stalled, b"echo\n")?;
        let mut flooded = self.connect()?;
        send(&mut flooded, b"flood\n")?;
        self.report.held.extend([stalled, flooded]);
        Ok(())
    }

    /// An echo request and a line, each byte its own segment.
    fn byte_by_byte(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        for &byte in b"echo\nabcdefgh\n" {
            send(&mut stream, &[byte])?;
        }
        let line = read_line(&mut stream)?;
        expect(line == "abcdefgh", || format!("echoed {line:?}"))
    }

    /// Thirty connections one after another, while the guest aborts and restarts its
    /// accept task at random: each is served, by executors on more than one CPU.
    fn hellos_while_accepts_are_aborted(&mut self) -> Result<(), String> {
        let mut cpus = BTreeSet::new();
        for index in 0..30 {
            let answer = self.hello().map_err(|e| format!("#{index}: {e}"))?;
            cpus.insert(answer);
        }
        expect(cpus.len() > 1, || format!("all served from {cpus:?}"))
    }

    /// Connections whose serving task is aborted while it waits in `read`: each ends.
    fn victims(&mut self) -> Result<(), String> {
        for index in 0..4 {
            let mut stream = self.connect()?;
            send(&mut stream, b"victim\n")?;
            match read_to_end(&mut stream) {
                Ok(rest) if rest.is_empty() => {}
                Ok(rest) => return Err(format!("#{index}: got {rest:?}")),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                Err(e) => return Err(format!("#{index}: {e}")),
            }
        }
        Ok(())
    }

    /// Served, closed by the server, and never closed here: held open to the end, so the
    /// guest's side waits in FIN-WAIT-2 until its close timeout.
    fn never_closing(&mut self) -> Result<(), String> {
        for _ in 0..3 {
            let mut stream = self.connect()?;
            send(&mut stream, b"hello\n")?;
            let line = read_line(&mut stream)?;
            expect(line.starts_with("hello cpu "), || {
                format!("answer {line:?}")
            })?;
            self.report.held.push(stream);
        }
        Ok(())
    }

    /// More connections at once than the backlog: each is served or refused (reset or
    /// closed unanswered), none hangs, and the server serves again afterwards.
    fn more_than_the_backlog(&mut self) -> Result<(), String> {
        let mut streams = Vec::new();
        for _ in 0..AT_ONCE {
            let mut stream = self.connect()?;
            // A refused connection may already be gone: its write may fail.
            let _ = stream.write_all(b"hello\n");
            streams.push(stream);
        }
        let mut served = 0;
        for (index, stream) in streams.iter_mut().enumerate() {
            match ending(stream).map_err(|e| format!("#{index}: {e}"))? {
                Ending::Served(_) => served += 1,
                Ending::Refused => {}
            }
        }
        expect(served >= 8, || format!("only {served} served"))?;
        self.hello().map(drop)
    }

    /// The guest fills its heap; connections then are served or refused, none hangs;
    /// once freed, the server serves again.
    fn with_the_heap_full(&mut self) -> Result<(), String> {
        let mut hoarder = self.connect()?;
        send(&mut hoarder, b"oom\n")?;
        let full = read_line(&mut hoarder)?;
        expect(full == "full", || format!("answer {full:?}"))?;
        for index in 0..5 {
            let mut stream = self.connect()?;
            let _ = stream.write_all(b"hello\n");
            ending(&mut stream).map_err(|e| format!("#{index}: {e}"))?;
        }
        send(&mut hoarder, b"free\n")?;
        let freed = read_line(&mut hoarder)?;
        expect(freed == "freed", || format!("answer {freed:?}"))?;
        self.hello().map(drop)
    }

    /// The server shuts its side down (the end comes, with nothing before it) and still
    /// reads what comes.
    fn shut_down(&mut self) -> Result<(), String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"shutdown\n")?;
        let rest = read_to_end(&mut stream).map_err(|e| format!("read: {e}"))?;
        expect(rest.is_empty(), || {
            format!("got {rest:?} after the shutdown")
        })?;
        send(&mut stream, b"still\n")
    }

    /// Two connections closed with the server's line unread, which makes the close a
    /// reset: the guest checks that its reads and writes then say so.
    fn resetting(&mut self) -> Result<(), String> {
        for _ in 0..2 {
            let mut stream = self.connect()?;
            send(&mut stream, b"reset\n")?;
            let mut unread = [0; 1];
            // Waits for the line without taking it.
            let arrived = stream.peek(&mut unread).map_err(|e| format!("peek: {e}"))?;
            expect(arrived == 1, || "closed instead of a line".into())?;
        }
        Ok(())
    }

    /// The server stops accepting; three connections then wait in its backlog, held
    /// open, until the guest drops the listener with them (it then checks every socket
    /// came back).
    fn backlog_left_behind(&mut self) -> Result<(), String> {
        let mut quiet = self.connect()?;
        send(&mut quiet, b"quiet\n")?;
        let line = read_line(&mut quiet)?;
        expect(line == "quiet", || format!("answer {line:?}"))?;
        for _ in 0..3 {
            let stream = self.connect()?;
            self.report.held.push(stream);
        }
        Ok(())
    }

    /// One `hello`, served: returns the CPU that served it.
    fn hello(&mut self) -> Result<String, String> {
        let mut stream = self.connect()?;
        send(&mut stream, b"hello\n")?;
        match ending(&mut stream)? {
            Ending::Served(cpu) => Ok(cpu),
            Ending::Refused => Err("refused".into()),
        }
    }
}

/// How a `hello` connection ended: its answer then the end, or nothing but the end.
fn ending(stream: &mut TcpStream) -> Result<Ending, String> {
    match read_to_end(stream) {
        Ok(answer) if answer.is_empty() => Ok(Ending::Refused),
        Ok(answer) => match String::from_utf8_lossy(&answer).strip_prefix("hello cpu ") {
            Some(cpu) => Ok(Ending::Served(cpu.trim_end().to_owned())),
            None => Err(format!("answer {answer:?}")),
        },
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(Ending::Refused),
        Err(e) => Err(format!("read: {e}")),
    }
}

fn read_to_end(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    Ok(all)
}
