//! The stack: smoltcp's interface and sockets over the device, behind one lock, and the
//! task that polls it.
//!
//! **The poll task** runs on a thread of its own (`net`). Each round it clears the
//! `work` event, applies the requests sockets queued without the lock (closes, aborts:
//! a drop cannot wait for a lock), polls the interface, removes the sockets nobody owns
//! any more once they are closed (and resets those that took longer to close than their
//! owner allowed, [`TcpConfig::close_timeout`](super::TcpConfig)), and asks smoltcp
//! when it next needs polling (`poll_delay`, or an orphan's deadline if sooner). Then
//! it waits for the event (the device's interrupt, or a socket call that gave it work)
//! or that deadline, whichever comes first. `work` is cleared *before* the round looks
//! at anything, and the wait is made before the round starts, so a `set` during the
//! round makes the wait end at once: nothing that happens while the round runs is
//! missed (`sync::Event` releases a wait made before a `set`, even if the event was
//! reset in between).

use alloc::{boxed::Box, vec::Vec};
use core::{task::Waker, time::Duration};

use crossbeam_queue::ArrayQueue;
use smoltcp::{
    iface::{Config, Interface, SocketHandle, SocketSet},
    socket::{tcp, udp},
    time::Instant as SmolInstant,
    wire::{EthernetAddress, HardwareAddress, IpCidr},
};
use spin::Once;

use super::{ADDRESS, Error, GATEWAY, PREFIX_LEN, device::Nic, ingress, tcp::make_room};
use crate::{
    drivers::virtio_net::{self, VirtioNet},
    executor,
    sync::{Event, Mutex},
    thread, time,
};

/// The most sockets the stack holds at once (listening, connected, closing).
pub const MAX_SOCKETS: usize = 4096;

/// Requests the queue holds: two per socket, and as many listener closes again.
const REQUESTS: usize = 3 * MAX_SOCKETS;

/// The longest the poll task waits when smoltcp wants polling at once but the round
/// made no progress (the device's transmit ring was full): the device's interrupt for
/// a sent frame ends the wait sooner.
const RETRY: Duration = Duration::from_millis(1);

/// What socket handles ask of the stack without taking its lock.
#[derive(Debug, Clone, Copy)]
pub(super) enum Request {
    /// Send FIN once the data written so far has gone: the owner keeps the socket.
    Shutdown(SocketHandle),
    /// The owner dropped the TCP socket: close it gracefully, then remove it; reset it if
    /// it has not closed within the duration.
    ReleaseTcp(SocketHandle, Duration),
    /// The owner dropped the TCP socket while failing: reset the connection, remove it.
    AbortTcp(SocketHandle),
    /// The owner dropped the UDP socket: remove it.
    ReleaseUdp(SocketHandle),
    /// A listener was dropped: its sockets go.
    CloseListener(usize),
}

/// One listener's port and sockets (`tcp`).
#[derive(Debug)]
pub(super) struct Listener {
    pub(super) port: u16,
    pub(super) config: super::TcpConfig,
    /// Sockets listening or connected-but-not-accepted, in the order they were made.
    pub(super) backlog: Vec<SocketHandle>,
    /// The waker of the accept waiting for a connection, for sockets made while it
    /// waits (smoltcp wakes it when one is connected). Set by the accept and read by
    /// the poll task both under the stack's lock, as smoltcp's own wakers (`op`): a
    /// socket made before the accept looked was registered by it, one made after gets
    /// this waker, so no connection goes unseen.
    pub(super) waker: Option<Waker>,
}

/// The stack, under [`Shared::stack`]'s lock.
pub(crate) struct Stack {
    iface: Interface,
    nic: Nic,
    pub(super) sockets: SocketSet<'static>,
    /// Sockets whose owner is gone, each with the time by which it must have closed:
    /// removed once closed, reset at that time if still open.
    orphans: Vec<(SocketHandle, SmolInstant)>,
    /// Listeners by id (a dropped one leaves `None`, reused by the next).
    pub(super) listeners: Vec<Option<Listener>>,
    /// Set by a call that gave the poll task work: see [`Stack::poke`].
    poke: bool,
    /// Connection requests dropped for a full backlog ([`Stats::held_off`]).
    held_off: u64,
}

/// The stack's answers to connection requests before smoltcp sees them (see `ingress`).
pub(super) struct Gate<'s> {
    pub(super) orphans: &'s mut Vec<(SocketHandle, SmolInstant)>,
    pub(super) listeners: &'s mut [Option<Listener>],
    pub(super) held_off: &'s mut u64,
}

impl ingress::Requests<'static> for Gate<'_> {
    /// A socket in TIME-WAIT that a new connection needs goes if nobody owns it any more
    /// (the common case: the server dropped the stream). One its owner keeps is left: its
    /// handle must stay valid, and aborting it would reset the new connection.
    fn end(&mut self, sockets: &mut SocketSet<'static>, handle: SocketHandle) {
        if let Some(at) = self
            .orphans
            .iter()
            .position(|&(orphan, _)| orphan == handle)
        {
            self.orphans.swap_remove(at);
            sockets.remove(handle);
        }
    }

    /// A request for a listener with room in its backlog gets a socket listening for
    /// it now (an accept makes only a few ahead, [`super::tcp`]). One for a listener
    /// whose backlog is full of connections not yet accepted waits, as on Linux: an
    /// accept will soon make room, and the client sends its request again. A port
    /// nobody listens on, or a listener that could not get a socket (out of memory or
    /// sockets), refuses it (smoltcp's reset).
    fn admit(&mut self, sockets: &mut SocketSet<'static>, port: u16) -> bool {
        let Some(listener) = self.listeners.iter_mut().flatten().find(|l| l.port == port) else {
            return true;
        };
        if listener.backlog.len() >= listener.config.backlog {
            *self.held_off += 1;
            return false;
        }
        // Without a socket, smoltcp refuses the request: nothing better can be done.
        let _ = make_room(listener, sockets);
        true
    }
}

/// The stack and what reaches its task.
pub(crate) struct Shared {
    pub(super) stack: Mutex<Stack>,
    /// Set by the device's interrupt handler and by socket calls that gave the stack work
    /// ([`WORK`]).
    pub(super) work: &'static Event,
    /// Requests from socket drops (lock-free: a drop never waits). Room for
    /// [`REQUESTS`]: every socket has at most two outstanding (a shutdown, then its
    /// release), so it never fills.
    pub(super) requests: ArrayQueue<Request>,
}

static SHARED: Once<Result<&'static Shared, Error>> = Once::new();

/// The poll task's event: static, so the interrupt handler can hold it from before the
/// stack exists.
static WORK: Event = Event::new();

/// Brings the network up, once: finds the virtio network device, sets the stack up on it
/// with the static address ([`ADDRESS`]), and starts the poll task's thread. Later calls
/// return what the first did. Socket calls start it themselves; call it first to know
/// early whether there is a network.
///
/// # Errors
/// [`Error::NoDevice`] if the machine has no usable virtio network device;
/// [`Error::OutOfMemory`] if the heap could not take the stack or its thread.
pub fn start() -> Result<(), Error> {
    shared().map(|_| ())
}

pub(super) fn shared() -> Result<&'static Shared, Error> {
    *SHARED.call_once(bring_up)
}

fn bring_up() -> Result<&'static Shared, Error> {
    let driver = match VirtioNet::probe() {
        None => return Err(Error::NoDevice),
        Some(Err(error)) => {
            log::warn!("net: {error}");
            return Err(Error::NoDevice);
        }
        Some(Ok(driver)) => driver,
    };
    let mac = driver.mac();
    let line = driver.line();
    let vector = driver.start_interrupts(&WORK);
    let shared: &'static Shared = Box::leak(Box::new(Shared {
        stack: Mutex::new(Stack::new(driver)),
        work: &WORK,
        requests: ArrayQueue::new(REQUESTS),
    }));
    thread::Builder::new()
        .name("net")
        .spawn(move || executor::block_on(run(shared)))
        .map_err(|_| Error::OutOfMemory)?;
    log::info!(
        "net: {ADDRESS}/{PREFIX_LEN} via {GATEWAY}, MAC {}, IRQ {line} (vector {vector:#x})",
        EthernetAddress(mac)
    );
    Ok(shared)
}

/// The poll task (see the module docs).
async fn run(shared: &'static Shared) {
    loop {
        shared.work.reset();
        let work = shared.work.wait_async();
        let (delay, progress) = shared.stack.lock_async().await.poll(&shared.requests);
        match delay {
            None => work.await,
            Some(Duration::ZERO) if progress => {}
            Some(delay) => {
                let delay = if delay.is_zero() { RETRY } else { delay };
                let _ = executor::timeout(delay, work).await;
            }
        }
    }
}

impl Stack {
    fn new(driver: VirtioNet) -> Self {
        let mac = EthernetAddress(driver.mac());
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = time::now().as_nanos();
        let mut nic = Nic::new(driver);
        let mut iface = Interface::new(config, &mut nic, now());
        iface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::new(ADDRESS.into(), PREFIX_LEN))
                .expect("room for one address");
        });
        iface
            .routes_mut()
            .add_default_ipv4_route(GATEWAY)
            .expect("room for the default route");
        Self {
            iface,
            nic,
            // Made as large as they may grow, once: the stack's memory does not grow
            // with traffic (and a socket never fails for want of a table slot).
            sockets: SocketSet::new(Vec::with_capacity(MAX_SOCKETS)),
            orphans: Vec::with_capacity(MAX_SOCKETS),
            listeners: Vec::new(),
            poke: false,
            held_off: 0,
        }
    }

    /// One round: requests, the interface, orphans. Returns when smoltcp next wants
    /// polling, and whether the round changed any socket.
    fn poll(&mut self, requests: &ArrayQueue<Request>) -> (Option<Duration>, bool) {
        self.apply_requests(requests);
        let now = now();
        let changed = ingress::poll(
            &mut self.iface,
            now,
            &mut self.nic,
            &mut self.sockets,
            &mut Gate {
                orphans: &mut self.orphans,
                listeners: &mut self.listeners,
                held_off: &mut self.held_off,
            },
        );
        let next_deadline = self.tend_orphans(now);
        self.nic.driver().reclaim();
        let delay = self
            .iface
            .poll_delay(now, &self.sockets)
            .into_iter()
            .chain(next_deadline.map(|deadline| deadline - now))
            .min()
            .map(|delay| Duration::from_micros(delay.total_micros()));
        (
            delay,
            changed == smoltcp::iface::PollResult::SocketStateChanged,
        )
    }

    /// Applies the requests queued so far. The poll task does it every round; a bind
    /// does it first too, so that a port whose socket was just dropped is free again
    /// (the drop queued its release before the binding code ran).
    pub(super) fn apply_requests(&mut self, requests: &ArrayQueue<Request>) {
        while let Some(request) = requests.pop() {
            self.apply(request);
        }
    }

    fn apply(&mut self, request: Request) {
        let now = now();
        match request {
            Request::Shutdown(handle) => self.sockets.get_mut::<tcp::Socket>(handle).close(),
            Request::ReleaseTcp(handle, close_timeout) => {
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                // Unread data means the peer's request was not taken: reset, as Linux does.
                if socket.recv_queue() > 0 {
                    socket.abort();
                } else {
                    socket.close();
                }
                self.orphans.push((handle, now + to_smoltcp(close_timeout)));
            }
            Request::AbortTcp(handle) => {
                self.sockets.get_mut::<tcp::Socket>(handle).abort();
                self.orphans.push((handle, now));
            }
            Request::ReleaseUdp(handle) => drop(self.sockets.remove(handle)),
            Request::CloseListener(id) => {
                let listener = self.listeners[id].take().expect("a live listener");
                for handle in listener.backlog {
                    // Listening: closed at once. Connected but never accepted: reset.
                    self.sockets.get_mut::<tcp::Socket>(handle).abort();
                    self.orphans.push((handle, now));
                }
            }
        }
    }

    /// Removes the orphans that are closed and have nothing left to send (an abort's
    /// reset goes out in the poll after it: until then the socket keeps its endpoint),
    /// and resets those past their deadline: a peer that never closes its side (FIN-WAIT-2
    /// has no timer of its own) or never acknowledges would otherwise keep the socket and
    /// its buffers forever. Returns the earliest deadline still ahead.
    fn tend_orphans(&mut self, now: SmolInstant) -> Option<SmolInstant> {
        let sockets = &mut self.sockets;
        let mut next = None;
        self.orphans.retain(|&(handle, deadline)| {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            if socket.state() == tcp::State::Closed && socket.local_endpoint().is_none() {
                sockets.remove(handle);
                return false;
            }
            if deadline <= now {
                socket.abort();
            } else {
                next = Some(next.map_or(deadline, |next: SmolInstant| next.min(deadline)));
            }
            true
        });
        next
    }

    /// Adds a socket, or says why not.
    pub(super) fn add<S: smoltcp::socket::AnySocket<'static>>(
        &mut self,
        socket: S,
    ) -> Result<SocketHandle, Error> {
        add(&mut self.sockets, socket)
    }

    /// Notes that the call under way gave the poll task work (data to send, a window to
    /// open, a socket to listen on): it is told once the lock is released.
    pub(super) fn poke(&mut self) {
        self.poke = true;
    }

    pub(super) fn take_poke(&mut self) -> bool {
        core::mem::take(&mut self.poke)
    }

    pub(super) fn udp(&mut self, handle: SocketHandle) -> &mut udp::Socket<'static> {
        self.sockets.get_mut(handle)
    }

    pub(super) fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut(handle)
    }
}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Queues `request` for the poll task and wakes it, without the lock: callable from
    /// any thread or task (a drop), never allocates.
    pub(super) fn request(&self, request: Request) {
        if self.requests.push(request).is_err() {
            // Cannot happen (see `requests`); the socket would only be left open.
            log::error!("net: request queue full, {request:?} lost");
        }
        // After the push: the round this wakes (or one already under way that cleared
        // the event before it) pops the request.
        self.work.set();
    }
}

/// Adds a socket to `sockets`, or says why not.
pub(super) fn add<S: smoltcp::socket::AnySocket<'static>>(
    sockets: &mut SocketSet<'static>,
    socket: S,
) -> Result<SocketHandle, Error> {
    if sockets.iter().count() >= MAX_SOCKETS {
        return Err(Error::OutOfSockets);
    }
    Ok(sockets.add(socket))
}

/// `duration` as smoltcp's, at most 2^40 us (12 days: far enough to mean "never", near
/// enough that adding it to an instant cannot overflow).
pub(super) fn to_smoltcp(duration: Duration) -> smoltcp::time::Duration {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    smoltcp::time::Duration::from_micros(micros.min(1 << 40))
}

/// smoltcp's clock: Spindle's monotonic one.
fn now() -> SmolInstant {
    SmolInstant::from_micros((time::now().as_nanos() / 1_000) as i64)
}

/// What the stack holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sockets of every kind and state.
    pub sockets: usize,
    /// Of those, TCP sockets in TIME-WAIT.
    pub time_wait: usize,
    /// Sockets whose owner is gone, waiting to close.
    pub orphans: usize,
    /// Interrupts the device raised.
    pub interrupts: u64,
    /// Interrupts on its line that were another device's (or a repeat).
    pub other_interrupts: u64,
    /// Frames dropped for want of a transmit buffer.
    pub dropped_frames: u64,
    /// Connection requests (SYNs) dropped because their listener's backlog was full of
    /// connections not yet accepted: the client sends them again.
    pub held_off: u64,
}

/// What the stack holds now, every drop so far applied (a dropped socket or listener is
/// counted as an orphan, not as its owner's); `None` before [`start`] (or without a
/// device). Takes the stack's lock: for threads (a task calls it through `spawn_blocking`).
pub fn stats() -> Option<Stats> {
    let shared = SHARED.get()?.ok()?;
    let mut stack = shared.stack.lock();
    stack.apply_requests(&shared.requests);
    let time_wait = stack
        .sockets
        .iter()
        .filter(|(_, socket)| {
            matches!(socket, smoltcp::socket::Socket::Tcp(tcp) if tcp.state() == tcp::State::TimeWait)
        })
        .count();
    let counters = virtio_net::counters();
    Some(Stats {
        sockets: stack.sockets.iter().count(),
        time_wait,
        orphans: stack.orphans.len(),
        interrupts: counters.device,
        other_interrupts: counters.other,
        dropped_frames: stack.nic.driver().dropped(),
        held_off: stack.held_off,
    })
}
