//! A hostile client from the host (`tests/src/net_hostile.rs`) against a server on four
//! CPUs: four tasks on four executors accepting from one listener and receiving from
//! one UDP socket at once; then an accept loop that a supervisor aborts and restarts at
//! random while the client connects; clients that stall, send a byte at a time, flood
//! and never read, never close, leave mid-read (a task aborted while blocked in `read`),
//! open more connections at once than the backlog holds, and connect while the heap is
//! full. Every connection ends, nothing wedges, and once the client is done and the
//! tasks still serving it are aborted, every socket and byte comes back.
//@ net: hostile
//@ smp: 4
//@ timeout: 150
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{boxed::Box, sync::Arc, vec::Vec};
use core::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use spindle::{
    executor::{self, Spawner, TaskHandle, Workers, block_on},
    input::serial::SerialInput,
    net::{self, TcpConfig, TcpListener, TcpStream, UdpSocket},
    sync::IrqSpinLock,
    thread, time,
};
use spindle_test::{
    memory::{assert_heap_back_to, heap_in_use},
    net::{ECHOED, READY, read_line, settled_stats},
};

spindle_test::test_kernel!(survives_a_hostile_client);

/// How long a dropped connection may take to close: short, so that those whose peer
/// never closes are reset within the test.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the stack may take to let go of every socket once the client is done.
const DRAIN: Duration = Duration::from_secs(20);
/// Connection tasks tracked at once (made before the memory is measured).
const TRACKED: usize = 512;

/// Datagrams the one-shot receivers took, and the sum of their digests.
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static RECEIVED_DIGEST: AtomicU64 = AtomicU64::new(0);
/// Connections the one-shot acceptors took.
static ACCEPTED_ONCE: AtomicU64 = AtomicU64::new(0);
/// Tells the supervisor to stop restarting the accept loop; it says when it has.
static STOP: AtomicBool = AtomicBool::new(false);
static STOPPED: AtomicBool = AtomicBool::new(false);
/// `shutdown` connections that refused a write after the shutdown and read on.
static SHUT_DOWN_RIGHT: AtomicU64 = AtomicU64::new(0);
/// `reset` connections on which a read, a write and a read after the peer's reset each
/// said so.
static RESETS_SEEN: AtomicU64 = AtomicU64::new(0);
/// What the client sends of each (`tests/src/net_hostile.rs`).
const SHUTDOWNS: u64 = 1;
const RESETS: u64 = 2;

/// The connection tasks, to abort those still serving once the client is done.
type Tracked = Arc<IrqSpinLock<Vec<TaskHandle<()>>>>;

fn survives_a_hostile_client() {
    let mut input = SerialInput::open().expect("the serial input");
    net::start().expect("the network card");
    let workers = Workers::start("hostile", 256).expect("a worker per CPU");
    let spawners: Arc<Vec<Spawner>> = Arc::new(
        (0..workers.len() as u32)
            .filter_map(|cpu| workers.on(cpu).cloned())
            .collect(),
    );
    assert_eq!(spawners.len(), 4, "one executor per CPU");
    for spawner in spawners.iter() {
        // An executor's first task makes its task table: before memory is measured.
        block_on(spawner.spawn(async {})).expect("a task");
    }
    let tracked: Tracked = Arc::new(IrqSpinLock::new(Vec::with_capacity(TRACKED)));
    // The stack's table of listeners is made by the first bind: before memory is measured.
    drop(TcpListener::bind_blocking(80, TcpConfig::default()).expect("port 80"));
    // Measured before the sockets exist, compared once they are gone: a socket may hold
    // on to the waker of the last task that waited on it (smoltcp keeps it until the
    // next event), and with it that task's memory, until the socket goes.
    // The dropped listener's sockets close in the poll task's own time: waited for.
    let before = settled_stats();
    let memory = heap_in_use();
    let config = TcpConfig {
        backlog: 8,
        close_timeout: CLOSE_TIMEOUT,
        ..TcpConfig::default()
    };
    let listener = Arc::new(TcpListener::bind_blocking(80, config).expect("port 80"));
    let udp = Arc::new(UdpSocket::bind_blocking(7).expect("port 7"));

    // Four tasks on four CPUs wait on one listener and one socket at once, each for one.
    let one_shots: Vec<TaskHandle<()>> = spawners
        .iter()
        .flat_map(|spawner| {
            [
                spawner.spawn(receive_one(udp.clone())),
                spawner.spawn(accept_one(listener.clone())),
            ]
        })
        .collect();
    let supervisor = {
        let (listener, spawners, tracked) = (listener.clone(), spawners.clone(), tracked.clone());
        thread::Builder::new()
            .name("supervisor")
            .spawn(move || supervise(&listener, &spawners, &tracked))
            .expect("the supervisor")
    };
    spindle::println!("{READY}");
    let datagrams = datagrams_sent(&block_on(read_line(&mut input)));

    // The client is done: what it left open is aborted mid-operation, then everything
    // must come back.
    STOP.store(true, Ordering::Relaxed);
    supervisor.join();
    let mut serving = core::mem::take(&mut *tracked.lock());
    for task in serving.drain(..).chain(one_shots) {
        task.abort();
        let _ = block_on(task);
    }
    *tracked.lock() = serving; // empty, with its capacity back: for the memory check
    drop((listener, udp)); // the last references: every task that held one is done
    let deadline = time::now() + DRAIN;
    let drained = loop {
        let now = net::stats().expect("the network is up");
        let back = now.sockets == before.sockets
            && heap_in_use() == memory
            && RECEIVED.load(Ordering::Acquire) >= datagrams;
        if back || time::now() > deadline {
            break now;
        }
        thread::sleep(Duration::from_millis(100));
    };
    spindle::println!(
        "{ECHOED}{} datagrams, digest {:#018x}",
        RECEIVED.load(Ordering::Acquire),
        RECEIVED_DIGEST.load(Ordering::Relaxed)
    );
    assert_eq!(
        SHUT_DOWN_RIGHT.load(Ordering::Relaxed),
        SHUTDOWNS,
        "shut down"
    );
    assert_eq!(
        RESETS_SEEN.load(Ordering::Relaxed),
        RESETS,
        "use after a reset"
    );
    assert_eq!(drained.sockets, before.sockets, "sockets left: {drained:?}");
    assert_eq!(drained.orphans, 0, "{drained:?}");
    assert_heap_back_to(memory);
    drop(tracked);
    core::mem::forget(workers);
}

/// Takes one datagram, answers it (QEMU drops the answer) and counts it.
async fn receive_one(udp: Arc<UdpSocket>) {
    let mut datagram = [0; 2048];
    if let Ok((len, from)) = udp.recv_from(&mut datagram).await {
        let _ = udp.send_to(&datagram[..len], from).await;
        RECEIVED_DIGEST.fetch_add(http_server::digest(&datagram[..len]), Ordering::Relaxed);
        RECEIVED.fetch_add(1, Ordering::Release);
    }
}

/// Accepts one connection, says which CPU serves it, and holds it until the peer closes.
async fn accept_one(listener: Arc<TcpListener>) {
    let Ok(mut stream) = listener.accept().await else {
        return;
    };
    ACCEPTED_ONCE.fetch_add(1, Ordering::Relaxed);
    if command(&mut stream).await.is_some() {
        let _ = stream.write_all(&cpu_line(b"cpu ")).await;
        let mut scratch = [0; 64];
        while let Ok(1..) = stream.read(&mut scratch).await {}
    }
}

/// Once the one-shot acceptors are done, runs the accept loop as a task, aborting it
/// after a random few milliseconds and starting it again on the next CPU, until told to
/// stop: tasks blocked in `accept` are cancelled while the client connects.
fn supervise(listener: &Arc<TcpListener>, spawners: &Arc<Vec<Spawner>>, tracked: &Tracked) {
    // The one-shot acceptors take the first connections (the client holds them open).
    while ACCEPTED_ONCE.load(Ordering::Relaxed) < 4 && !STOP.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(10));
    }
    let mut random = time::now().as_nanos() | 1;
    for turn in (0..spawners.len()).cycle() {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let accept = accept_loop(listener.clone(), spawners.clone(), tracked.clone());
        let Ok(task) = spawners[turn].try_spawn(accept) else {
            thread::sleep(Duration::from_millis(10)); // the heap is full: later
            continue;
        };
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        thread::sleep(Duration::from_millis(1 + random % 20));
        task.abort();
        let _ = block_on(task);
    }
    STOPPED.store(true, Ordering::Release);
}

/// Accepts connections and deals them out as tasks to the executors in turn.
async fn accept_loop(listener: Arc<TcpListener>, spawners: Arc<Vec<Spawner>>, tracked: Tracked) {
    for next in (0..spawners.len()).cycle() {
        match listener.accept().await {
            // Spawned and tracked in the same poll as the accept: an abort cannot come
            // between them. A task that cannot be spawned drops the stream: a reset.
            Ok(stream) => {
                let spawner = spawners[next].clone();
                if let Ok(task) = spawners[next].try_spawn(serve(stream, spawner)) {
                    let mut tracked = tracked.lock();
                    if tracked.len() < TRACKED {
                        tracked.push(task);
                    }
                }
            }
            Err(_) => executor::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one connection as its first line says, on the executor `here` runs.
async fn serve(mut stream: TcpStream, here: Spawner) {
    let first = command(&mut stream).await;
    match first.as_ref().map(Command::as_bytes) {
        Some(b"hello") => {
            let _ = stream.write_all(&cpu_line(b"hello cpu ")).await;
        }
        Some(b"echo") => {
            let mut chunk = [0; 512];
            while let Ok(read @ 1..) = stream.read(&mut chunk).await {
                if stream.write_all(&chunk[..read]).await.is_err() {
                    break;
                }
            }
        }
        Some(b"flood") => while stream.write_all(&[b'f'; 4096]).await.is_ok() {},
        Some(b"victim") => {
            // A task blocked in `read`, aborted: its stream closes, nothing wedges.
            let reader = here.spawn(async move {
                let mut scratch = [0; 16];
                let _ = stream.read(&mut scratch).await;
            });
            executor::sleep(Duration::from_millis(5)).await;
            reader.abort();
            let _ = reader.await;
        }
        Some(b"oom") => hoard_until_told(stream).await,
        Some(b"shutdown") => {
            stream.shutdown();
            let refused = stream.write(b"x").await == Err(net::Error::Shutdown);
            if refused && command(&mut stream).await.is_some() {
                SHUT_DOWN_RIGHT.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(b"reset") => use_after_reset(stream).await,
        Some(b"quiet") => {
            // No more accepts: what connects now waits in the backlog until the
            // listener is dropped with it.
            STOP.store(true, Ordering::Relaxed);
            while !STOPPED.load(Ordering::Acquire) {
                executor::sleep(Duration::from_millis(5)).await;
            }
            let _ = stream.write_all(b"quiet\n").await;
        }
        _ => {
            let _ = stream.write_all(b"what\n").await;
        }
    }
}

/// Writes a line the peer will not read, so that its close is a reset: then a read, a
/// write and a read again must each say `ConnectionReset` (not wedge, not panic).
async fn use_after_reset(mut stream: TcpStream) {
    let mut scratch = [0; 16];
    if stream.write_all(b"unread\n").await.is_err() {
        return;
    }
    let reset = loop {
        match stream.read(&mut scratch).await {
            Ok(1..) => {}
            ended => break ended,
        }
    };
    let wrote = stream.write(b"late\n").await;
    let again = stream.read(&mut scratch).await;
    let reset_seen = Err(net::Error::ConnectionReset);
    if reset == reset_seen && wrote == reset_seen && again == reset_seen {
        RESETS_SEEN.fetch_add(1, Ordering::Relaxed);
    }
}

/// Fills the heap, says so, holds it until the peer's next line, frees it and says so.
async fn hoard_until_told(mut stream: TcpStream) {
    let mut hoard: Vec<Box<[u8]>> = Vec::new();
    let mut size = 1 << 20;
    while size >= 64 {
        match fill(size) {
            Some(block) if hoard.try_reserve(1).is_ok() => hoard.push(block),
            _ => size /= 2,
        }
    }
    let _ = stream.write_all(b"full\n").await;
    let _ = command(&mut stream).await;
    drop(hoard);
    let _ = stream.write_all(b"freed\n").await;
}

/// A block of `size` bytes, if the heap has one.
fn fill(size: usize) -> Option<Box<[u8]>> {
    let mut block = Vec::new();
    block.try_reserve_exact(size).ok()?;
    block.resize(size, 0);
    Some(block.into_boxed_slice())
}

/// A line of the client's: a command.
struct Command {
    bytes: [u8; 16],
    len: usize,
}

impl Command {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The connection's next line (without its newline), read a byte at a time however the
/// client cuts it up; `None` if the peer closed or reset first, or sent a line longer
/// than a command.
async fn command(stream: &mut TcpStream) -> Option<Command> {
    let mut line = Command {
        bytes: [0; 16],
        len: 0,
    };
    let mut byte = [0; 1];
    loop {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => return Some(line),
            Ok(1) if line.len < line.bytes.len() => {
                line.bytes[line.len] = byte[0];
                line.len += 1;
            }
            _ => return None,
        }
    }
}

/// `prefix`, the CPU running the caller, and a newline.
fn cpu_line(prefix: &[u8]) -> Vec<u8> {
    let mut line = prefix.to_vec();
    line.extend_from_slice(alloc::format!("{}\n", thread::current_cpu()).as_bytes());
    line
}

/// The datagram count in the client's `net-client: done CONNECTIONS PANICS DATAGRAMS`.
fn datagrams_sent(line: &str) -> u64 {
    line.strip_prefix("net-client: done ")
        .and_then(|counts| counts.split(' ').nth(2))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line from the host: {line:?}"))
}
