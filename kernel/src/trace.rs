//! The schedule trace: what ran where and why, recorded cheaply enough to leave in.
//!
//! Trace points in the scheduler, the wake paths, the interrupt path, the executor and
//! the idle loop call the `record_*` functions here. Each first tests one flag
//! ([`enabled`]): while tracing is off that test is all a trace point costs. While it is
//! on, a point stamps a 32-byte [`Record`] (format: the `spindle-trace` crate) with the
//! TSC and the CPU, and appends it to that CPU's ring: no allocation, no sleeping lock
//! (a spinlock held for the copy, so a point is safe in interrupt handlers), so tracing
//! changes timing but nothing else.
//!
//! A full ring drops its oldest records and counts them; [`dump`] streams what the rings
//! hold to the host through QEMU's debug console port (`arch::debugcon`), as a
//! [`Header`] and records, reporting drops with a `Dropped` record. The host side
//! (`spindle-trace`) turns the stream into a Perfetto file and an SVG timeline.
//!
//! **Checked by:** test kernel `trace` (at 1 and 4 CPUs, `//@ trace: check`: the harness
//! decodes the stream and checks the scheduler's invariants, `tests/src/trace_check.rs`),
//! and the trace crate's host tests.

use alloc::{boxed::Box, vec::Vec};
use core::{
    marker::PhantomData,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use spindle_trace::{Header, RECORD_SIZE, Record, VERSION};
pub use spindle_trace::{Kind, SwitchReason, WakeSource};

use crate::arch::{
    IrqSpinLock,
    cpu::InterruptsDisabled,
    cpu_local::{self, MAX_CPUS},
    debugcon, interrupts, lock_irqs_off, tsc,
};

/// Records each CPU's ring holds: 64 Ki records, 2 MiB.
pub const RING_RECORDS: usize = 64 * 1024;

/// Whether tracing is on. Each CPU follows it in its own per-CPU flag (what trace points
/// test): the CPU that switches tracing at once, the others at their next tick.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// TSC ticks per second, for the stream's header.
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// One CPU's records, oldest first from `read`.
struct Ring {
    records: Box<[Record]>,
    /// Records written since the ring was made (the next goes to `written % len`).
    written: u64,
    /// The oldest record not yet dumped.
    read: u64,
    /// Records overwritten before they were dumped, since the last dump.
    dropped: u64,
}

static RINGS: [IrqSpinLock<Option<Ring>>; MAX_CPUS] = [const { IrqSpinLock::new(None) }; MAX_CPUS];

/// How many CPUs have rings (those online when tracing first started; a CPU started
/// later records nothing).
static RING_CPUS: AtomicU64 = AtomicU64::new(0);

/// Why tracing could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceError {
    /// No memory for the rings.
    OutOfMemory,
}

impl core::fmt::Display for TraceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("no memory for the trace rings")
    }
}

/// Whether trace points record on this CPU: the only cost of a trace point while tracing
/// is off (one `gs`-relative compare and a branch).
#[inline(always)]
pub fn enabled() -> bool {
    cpu_local::tracing()
}

/// Starts recording (making the rings the first time, in thread context, one per online
/// CPU), with the TSC running at `tsc_hz`. Also hooks the interrupt path and, so that
/// what was recorded reaches the host, the end of the session.
///
/// # Errors
/// [`TraceError::OutOfMemory`] if the rings cannot be allocated; tracing stays off.
pub fn enable(tsc_hz: u64) -> Result<(), TraceError> {
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    let cpus = (cpu_local::online_mask().ilog2() + 1) as usize;
    for ring in &RINGS[..cpus] {
        if ring.lock().is_none() {
            let records = new_records().ok_or(TraceError::OutOfMemory)?;
            ring.lock().get_or_insert(Ring {
                records,
                written: 0,
                read: 0,
                dropped: 0,
            });
        }
    }
    RING_CPUS.fetch_max(cpus as u64, Ordering::Relaxed);
    interrupts::set_observer(Some(observe_interrupt));
    crate::arch::qemu::set_shutdown_hook(dump_at_shutdown);
    ENABLED.store(true, Ordering::Release);
    cpu_local::set_tracing(true);
    Ok(())
}

/// Makes this CPU record or not, as tracing was last switched (every CPU calls it at
/// its tick).
#[inline(always)]
pub fn follow_global_switch() {
    let on = ENABLED.load(Ordering::Relaxed);
    if cpu_local::tracing() != on {
        cpu_local::set_tracing(on);
    }
}

fn new_records() -> Option<Box<[Record]>> {
    let mut records = Vec::new();
    records.try_reserve_exact(RING_RECORDS).ok()?;
    records.resize(RING_RECORDS, Record::default());
    Some(records.into_boxed_slice())
}

/// Stops recording (what was recorded stays until dumped).
pub fn disable() {
    ENABLED.store(false, Ordering::Release);
    cpu_local::set_tracing(false);
    interrupts::set_observer(None);
}

/// Appends `record` (stamped now, on this CPU) to this CPU's ring. Out of line and cold:
/// a trace point inlines only its test of [`enabled`].
///
/// Interrupts go off before the CPU is chosen, so the caller stays on that CPU (nothing
/// preempts it) until the record is in the CPU's ring, stamped with the CPU's counter.
/// Choosing the ring first and then locking it, as the lock alone would, let a thread
/// preempted in between and moved put its record in the ring of a CPU it had left, with
/// another CPU's time stamp.
#[cold]
#[inline(never)]
fn record(mut record: Record) {
    let irq = InterruptsDisabled::new();
    let cpu = cpu_local::cpu_index() as usize;
    let Some(ring) = RINGS.get(cpu) else {
        return;
    };
    record.cpu = cpu as u8;
    let mut ring = lock_irqs_off(ring, &irq);
    let Some(ring) = ring.as_mut() else {
        return;
    };
    if record.tsc == 0 {
        record.tsc = tsc::read();
    }
    let len = ring.records.len() as u64;
    ring.records[(ring.written % len) as usize] = record;
    ring.written += 1;
    if ring.written - ring.read > len {
        ring.read += 1;
        ring.dropped += 1;
    }
}

#[inline(always)]
fn event(kind: Kind, id: u64, small: u8, a: u64, b: u64) -> Record {
    Record {
        kind: kind as u8,
        small,
        // Thread and task ids fit in 32 bits for the first four billion of them.
        id: id as u32,
        a,
        b,
        ..Record::default()
    }
}

/// Thread `from` gives its CPU to thread `to`.
#[inline(always)]
pub fn record_switch(from: u64, to: u64, reason: SwitchReason) {
    if enabled() {
        record(event(Kind::Switch, from, reason as u8, to, 0));
    }
}

/// Thread `thread` was made runnable by `source` (`source_id`: a thread, vector or task);
/// `cancelled_block` if it had not blocked yet (the wake cancelled a block in progress).
#[inline(always)]
pub fn record_thread_wake(thread: u64, source: WakeSource, source_id: u64, cancelled_block: bool) {
    if enabled() {
        let b = u64::from(cancelled_block);
        record(event(Kind::WakeThread, thread, source as u8, source_id, b));
    }
}

/// [`record_thread_wake`] stamped `stamp` ([`stamp`]): for a wake recorded only once it
/// is known to have happened, but stamped before it took effect.
#[inline(always)]
pub fn record_thread_wake_at(
    stamp: Stamp,
    thread: u64,
    source: WakeSource,
    source_id: u64,
    cancelled_block: bool,
) {
    let b = u64::from(cancelled_block);
    let mut wake = event(Kind::WakeThread, thread, source as u8, source_id, b);
    wake.tsc = stamp.tsc;
    record(wake);
}

/// Task `task` was queued by `source`, at `stamp`.
#[inline(always)]
pub fn record_task_wake_at(stamp: Stamp, task: u64, source: WakeSource, source_id: u64) {
    let mut wake = event(Kind::WakeTask, task, source as u8, source_id, 0);
    wake.tsc = stamp.tsc;
    record(wake);
}

/// The time stamp of a record made a little later on this CPU, for an event recorded
/// only once it is known to have happened but stamped before it took effect: a wake,
/// whose target may run (and exit) on another CPU as soon as it takes effect, so that a
/// record stamped after it could follow the target's next records. Interrupts stay off
/// from the stamp to the record (the borrow of `irq`), so the record lands in this CPU's
/// ring, after every record this CPU made before the stamp and before any it makes after.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'irq> {
    tsc: u64,
    _irq: PhantomData<&'irq InterruptsDisabled>,
}

/// A [`Stamp`] for now, or `None` while tracing is off.
#[inline(always)]
pub fn stamp(_irq: &InterruptsDisabled) -> Option<Stamp<'_>> {
    enabled().then(|| Stamp {
        tsc: tsc::read(),
        _irq: PhantomData,
    })
}

/// Executor `executor`, run by thread `host`, starts (`begin`) or ends polling task
/// `task`; `finished` at the end of its last poll.
#[inline(always)]
pub fn record_poll(task: u64, executor: u64, host: u64, begin: bool, finished: bool) {
    if enabled() {
        let kind = if begin {
            Kind::PollBegin
        } else {
            Kind::PollEnd
        };
        record(event(kind, task, u8::from(finished), executor, host));
    }
}

/// Thread `thread` was created by thread `parent`.
#[inline(always)]
pub fn record_spawn(thread: u64, parent: u64) {
    if enabled() {
        record(event(Kind::Spawn, thread, 0, parent, 0));
    }
}

/// Thread `thread` ended.
#[inline(always)]
pub fn record_exit(thread: u64) {
    if enabled() {
        record(event(Kind::Exit, thread, 0, 0, 0));
    }
}

/// Thread `thread` panicked, in task `task` if it was polling one, and the panic is
/// contained: the thread starts unwinding to its catch frame.
#[inline(always)]
pub fn record_panic(thread: u64, task: Option<u64>) {
    if enabled() {
        let (small, a) = task.map_or((0, 0), |task| (1, task));
        record(event(Kind::Panic, thread, small, a, 0));
    }
}

/// This CPU's timer was armed to fire at `at` (ns since boot), or stopped (`None`).
#[inline(always)]
pub fn record_timer_armed(at: Option<u64>) {
    if enabled() {
        let (small, a) = at.map_or((0, 0), |at| (1, at));
        record(event(Kind::TimerArmed, 0, small, a, 0));
    }
}

/// The CPU halts (`entering`) or was woken from halting.
#[inline(always)]
pub fn record_idle(entering: bool) {
    if enabled() {
        let kind = if entering {
            Kind::IdleEnter
        } else {
            Kind::IdleExit
        };
        record(event(kind, 0, 0, 0, 0));
    }
}

/// The name of a thread, task or executor (`kind` says which), for the host to label.
pub fn record_name(kind: Kind, id: u64, name: &dyn core::fmt::Display) {
    if enabled() {
        let mut text = NameBuffer::default();
        let _ = core::fmt::write(&mut text, format_args!("{name}"));
        record(event(kind, id, 0, 0, 0).with_text(text.as_str()));
    }
}

/// A point in time worth seeing in the trace, labelled with (up to 16 bytes of) `text`.
pub fn mark(text: &str) {
    if enabled() {
        record(event(Kind::Mark, 0, 0, 0, 0).with_text(text));
    }
}

fn observe_interrupt(vector: u8, starting: bool) {
    let kind = if starting {
        Kind::IrqEnter
    } else {
        Kind::IrqExit
    };
    record(event(kind, u64::from(vector), 0, 0, 0));
}

/// Streams everything the rings hold to the debug console port: a header, then each
/// CPU's records, oldest first (a `Dropped` record first if the ring overflowed since the
/// last dump). Records made meanwhile go to the next dump. Returns how many records were
/// streamed.
pub fn dump() -> usize {
    write_header();
    RINGS
        .iter()
        .enumerate()
        .map(|(cpu, ring)| drain(cpu, || Some(ring.lock())))
        .sum()
}

/// The shutdown hook: dumps, but only takes locks that are free (the session may be
/// ending because code holding one failed).
fn dump_at_shutdown() {
    disable();
    write_header();
    for (cpu, ring) in RINGS.iter().enumerate() {
        drain(cpu, || ring.try_lock());
    }
}

fn write_header() {
    let header = Header {
        version: VERSION,
        cpus: RING_CPUS.load(Ordering::Relaxed).max(1) as u16,
        tsc_hz: TSC_HZ.load(Ordering::Relaxed),
    };
    debugcon::write(&header.encode());
}

/// Copies one ring's records out in chunks (the lock is held for a copy, never for the
/// slow port writes) until it is empty.
fn drain<'a>(
    cpu: usize,
    mut lock: impl FnMut() -> Option<crate::arch::IrqSpinLockGuard<'a, Option<Ring>>>,
) -> usize {
    const CHUNK: usize = 64;
    let mut streamed = 0;
    loop {
        let mut chunk = [[0u8; RECORD_SIZE]; CHUNK];
        let taken = {
            let Some(mut guard) = lock() else {
                return streamed;
            };
            let Some(ring) = guard.as_mut() else {
                return streamed;
            };
            take_chunk(cpu, ring, &mut chunk)
        };
        if taken == 0 {
            return streamed;
        }
        chunk[..taken]
            .iter()
            .for_each(|bytes| debugcon::write(bytes));
        streamed += taken;
    }
}

/// Moves up to `out.len()` of the ring's oldest records into `out`, encoded.
fn take_chunk(cpu: usize, ring: &mut Ring, out: &mut [[u8; RECORD_SIZE]]) -> usize {
    let mut taken = 0;
    let len = ring.records.len() as u64;
    if ring.dropped > 0 {
        // Stamped like the first record kept: that is where the gap is.
        let dropped = Record {
            tsc: ring.records[(ring.read % len) as usize].tsc,
            cpu: cpu as u8,
            ..event(Kind::Dropped, 0, 0, ring.dropped, 0)
        };
        out[0] = dropped.encode();
        ring.dropped = 0;
        taken = 1;
    }
    while taken < out.len() && ring.read < ring.written {
        out[taken] = ring.records[(ring.read % len) as usize].encode();
        ring.read += 1;
        taken += 1;
    }
    taken
}

/// A name formatted without allocating: up to 16 bytes are kept.
#[derive(Default)]
struct NameBuffer {
    bytes: [u8; spindle_trace::NAME_BYTES],
    len: usize,
}

impl NameBuffer {
    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in (see `write_str`).
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl core::fmt::Write for NameBuffer {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for character in text.chars() {
            let mut utf8 = [0; 4];
            let encoded = character.encode_utf8(&mut utf8).as_bytes();
            if self.len + encoded.len() > self.bytes.len() {
                break;
            }
            self.bytes[self.len..self.len + encoded.len()].copy_from_slice(encoded);
            self.len += encoded.len();
        }
        Ok(())
    }
}
