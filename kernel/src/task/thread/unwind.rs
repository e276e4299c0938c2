//! A contained panic, from the thread's side: the record a panic is written to, raising
//! it, catching it, and the [`PanicReport`] a join handle or a task handle gives.
//!
//! Whether a panic may unwind at all is the panic handler's decision (`panic.rs`, the
//! rule); this module is the mechanism it and the catch frames share. Nothing here
//! allocates, so a panic caused by running out of memory unwinds like any other:
//!
//! - every thread's control block holds a [`PanicRecord`]: the exception header the
//!   unwinder works with, and the report (message and location formatted into fixed
//!   buffers, truncated if they do not fit), written by the panicking thread itself;
//! - `raise` hands the thread's own header to the unwinder (`unwinding`'s
//!   `begin_panic`), which runs the destructors of every frame up to the nearest
//!   [`catch`]: `thread_entry` around a spawned thread's closure, and the executor around
//!   each poll of a task (`executor::cell`);
//! - [`catch`] returns a [`Caught`], through which the catcher reads the report in the
//!   record (and copies it to the heap for a handle). While it lives, the thread still
//!   counts as unwinding: a panic in what the catcher then drops (a task's future) is
//!   fatal, as a panic in a destructor run by unwinding is.
//!
//! On the build machine (host unit tests) a catch is `std`'s, and the report comes from
//! the panic's payload.
#![allow(unsafe_code)]

#[cfg(target_os = "none")]
use core::sync::atomic::AtomicBool;
use core::{
    cell::UnsafeCell,
    fmt,
    mem::MaybeUninit,
    sync::atomic::{AtomicU8, AtomicU64, Ordering},
};

use super::ThreadId;
pub use crate::arch::backtrace::Backtrace;

/// Bytes of a panic message kept in a report; a longer one is cut at a character
/// boundary and ends with `…`.
pub const MESSAGE_CAPACITY: usize = 256;
const FILE_CAPACITY: usize = 96;
const NAME_CAPACITY: usize = 64;

/// Text in a fixed buffer: what does not fit is cut at a character boundary, marked `…`.
#[derive(Clone, PartialEq, Eq)]
struct Text<const N: usize> {
    len: usize,
    bytes: [u8; N],
    truncated: bool,
}

impl<const N: usize> Text<N> {
    const EMPTY: Self = Self {
        len: 0,
        bytes: [0; N],
        truncated: false,
    };

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in (`write_str`).
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    /// The end of `text` that fits, for file paths: their tail says the most.
    #[cfg(target_os = "none")]
    fn tail_of(text: &str) -> Self {
        let mut start = text.len().saturating_sub(N);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        let mut tail = Self::EMPTY;
        tail.bytes[..text.len() - start].copy_from_slice(&text.as_bytes()[start..]);
        tail.len = text.len() - start;
        tail.truncated = start > 0;
        tail
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    /// Appends what fits. Once something did not fit, nothing more is written, so that
    /// the text is always a prefix of the whole (a short piece after a long one that was
    /// cut must not follow the cut); formatting stops there too.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.truncated {
            return Err(fmt::Error);
        }
        let room = N - self.len;
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        self.truncated = take < text.len();
        Ok(())
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// What a panic that was contained said, where, and on which thread (and task): what a
/// [`JoinHandle`](super::JoinHandle) or an executor's task handle yields instead of a
/// result. One pointer: the report itself is on the heap, copied there from the thread's
/// panic record once the panic was caught (its texts cut to fixed sizes,
/// [`MESSAGE_CAPACITY`] bytes for the message). If the heap had no room even for that, the
/// report is *lost*: it went to the log, and this one says so in its message.
#[derive(Clone, PartialEq, Eq)]
pub struct PanicReport(Option<alloc::boxed::Box<Report>>);

/// The report itself, in a thread's panic record and then in a [`PanicReport`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Report {
    message: Text<MESSAGE_CAPACITY>,
    file: Text<FILE_CAPACITY>,
    line: u32,
    column: u32,
    thread_id: ThreadId,
    thread_name: Text<NAME_CAPACITY>,
    /// The task being polled, as `PollNote` shows it, if the panic came from a task.
    task: Option<(u64, Text<NAME_CAPACITY>)>,
    /// The call chain from the code that panicked outwards.
    backtrace: Backtrace,
}

impl Report {
    const EMPTY: Self = Self {
        message: Text::EMPTY,
        file: Text::EMPTY,
        line: 0,
        column: 0,
        thread_id: ThreadId(0),
        thread_name: Text::EMPTY,
        task: None,
        backtrace: Backtrace::EMPTY,
    };

    /// The report as a [`PanicReport`], copied to the heap; lost (and logged) if the heap
    /// has no room for it.
    pub(crate) fn keep(&self) -> PanicReport {
        let kept = alloc::boxed::Box::try_new(self.clone()).ok();
        if kept.is_none() {
            log::error!(
                "{self} (no memory to keep this report for its handle)\n{}",
                self.backtrace
            );
        }
        PanicReport(kept)
    }

    /// The call chain from the code that panicked outwards.
    pub(crate) fn backtrace(&self) -> &Backtrace {
        &self.backtrace
    }
}

impl PanicReport {
    /// The report, unless it was lost.
    fn report(&self) -> &Report {
        self.0.as_deref().unwrap_or(&Report::EMPTY)
    }

    /// Whether the report was lost for want of memory (it went to the log).
    pub fn is_lost(&self) -> bool {
        self.0.is_none()
    }

    /// The panic's message (cut to [`MESSAGE_CAPACITY`] bytes).
    pub fn message(&self) -> &str {
        match &self.0 {
            Some(report) => report.message.as_str(),
            None => "(the report was lost for want of memory: see the log)",
        }
    }

    /// The source file of the `panic!` (its last bytes if the path is long).
    pub fn file(&self) -> &str {
        self.report().file.as_str()
    }

    /// The line of the `panic!`.
    pub fn line(&self) -> u32 {
        self.report().line
    }

    /// The column of the `panic!`.
    pub fn column(&self) -> u32 {
        self.report().column
    }

    /// The thread that panicked (the host thread, for a task).
    pub fn thread_id(&self) -> ThreadId {
        self.report().thread_id
    }

    /// That thread's name, or `thread-<id>`.
    pub fn thread_name(&self) -> &str {
        self.report().thread_name.as_str()
    }

    /// The id of the async task that panicked, if it was one.
    pub fn task_id(&self) -> Option<u64> {
        self.report().task.as_ref().map(|(id, _)| *id)
    }

    /// The task, as failure reports name it (`task 7 'reader' of executor 'console'`), if
    /// a task panicked.
    pub fn task(&self) -> Option<&str> {
        self.report().task.as_ref().map(|(_, text)| text.as_str())
    }

    /// The call chain from the code that panicked out to the thread's entry, as it was
    /// when it panicked (displayed: a line per frame, with function names).
    pub fn backtrace(&self) -> &Backtrace {
        &self.report().backtrace
    }
}

impl fmt::Display for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(report) => report.fmt(f),
            None => f.write_str(self.message()),
        }
    }
}

impl fmt::Display for Report {
    /// `thread 5 'worker' panicked at src/main.rs:10:5: the message`, or for a task
    /// `task 7 'reader' of executor 'console' on thread 5 'worker' panicked at ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, task)) = &self.task {
            write!(f, "{task} on ")?;
        }
        write!(
            f,
            "thread {} '{}' panicked at {}:{}:{}: {}",
            self.thread_id, self.thread_name, self.file, self.line, self.column, self.message
        )
    }
}

impl fmt::Debug for PanicReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PanicReport({self})")
    }
}

/// How many panics were contained since boot (each reached a catch frame).
pub fn contained_panics() -> u64 {
    CONTAINED.load(Ordering::Relaxed)
}

static CONTAINED: AtomicU64 = AtomicU64::new(0);

/// A thread's panic state, in its control block. Only the thread itself writes the
/// header, the report and `unwinding`, and it writes the report once, before it ends by
/// panic. Others read the report only after seeing `ENDED_BY_PANIC` in `outcome`, set
/// with a read-modify-write (AcqRel) after the report was written: the join handle once
/// the thread exited, or the handle's drop, which may come before the exit (the thread
/// writes nothing more to the report by then).
pub(super) struct PanicRecord {
    /// The exception header the unwinder links through the frames it unwinds.
    /// Uninitialised until a panic: the unwinder writes every field it reads (the class
    /// and cleanup in `begin_panic`, its private words when the search starts) first.
    #[cfg(target_os = "none")]
    exception: UnsafeCell<MaybeUninit<unwinding::abi::UnwindException>>,
    /// Written by `begin` before anything reads it (a catch, or a handle once the thread
    /// ended by panic); uninitialised until then, so that a spawn writes none of its bytes.
    report: UnsafeCell<MaybeUninit<Report>>,
    /// Between a contained panic's start and the end of its catcher's cleanup.
    #[cfg(target_os = "none")]
    unwinding: AtomicBool,
    /// How the thread's closure ended, whether its join handle is still there, and who
    /// takes a thread that ended by panic out of the thread table: who reports a panic
    /// (the handle or, if that is gone, the log) and who drops a result (the handle's
    /// owner or, if that is gone, the thread itself). `ENDED_BY_PANIC`, `RETURNED`,
    /// `HANDLE_GONE`, `REPORT_TAKEN`, `REAPED`; see [`Outcome`].
    outcome: AtomicU8,
}

/// Set by the thread when its closure ended by a contained panic, before it exits.
const ENDED_BY_PANIC: u8 = 1 << 0;
/// Set by the join handle's drop.
const HANDLE_GONE: u8 = 1 << 1;
/// Set by the join handle when it takes the result (after the thread was reaped).
const REPORT_TAKEN: u8 = 1 << 2;
/// Set by the reaper, which leaves a thread that ended by panic in the thread table (for
/// the thread listing) while its handle can still take the report.
const REAPED: u8 = 1 << 3;
/// Set by the thread when its closure returned and its value is in the result slot.
const RETURNED: u8 = 1 << 4;

/// What the outcome word said before a join handle's step (taking the report, or its
/// drop): each step is one read-modify-write of the word, as are the thread's
/// ([`PanicRecord::end_by_panic`]) and the reaper's ([`PanicRecord::stays_listed`]), so
/// of any two, one sees the other.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outcome(u8);

impl Outcome {
    /// The thread ended by a contained panic.
    fn ended_by_panic(self) -> bool {
        self.0 & ENDED_BY_PANIC != 0
    }

    /// The reaper left the thread in the table for its handle, and this is the handle's
    /// first step since: the handle takes it out. True for exactly one step: the reaper
    /// leaves it only if neither step came first, and only the first step sees neither.
    pub(super) fn unlist(self) -> bool {
        self.0 & (ENDED_BY_PANIC | REAPED | HANDLE_GONE | REPORT_TAKEN) == ENDED_BY_PANIC | REAPED
    }
}

// SAFETY: the cells are written only by the thread the record belongs to; others read
// the report only after `outcome` says it is complete and will not change (see the
// type's docs), and never touch the exception header.
unsafe impl Sync for PanicRecord {}

impl PanicRecord {
    pub(super) fn new() -> Self {
        Self {
            #[cfg(target_os = "none")]
            exception: UnsafeCell::new(MaybeUninit::uninit()),
            report: UnsafeCell::new(MaybeUninit::uninit()),
            #[cfg(target_os = "none")]
            unwinding: AtomicBool::new(false),
            outcome: AtomicU8::new(0),
        }
    }

    /// Whether the thread is unwinding a panic (or cleaning up after one).
    #[cfg(target_os = "none")]
    pub(super) fn is_unwinding(&self) -> bool {
        self.unwinding.load(Ordering::Relaxed)
    }

    /// The report of the panic the thread ended by. Only once `outcome` says so (see the
    /// type's docs).
    fn report(&self) -> &Report {
        // SAFETY: the thread ended by a panic (the callers' read-modify-write of `outcome`
        // saw `ENDED_BY_PANIC`, which the thread set after `begin` wrote the report), so
        // the report is written, happens-before this read, and is never written again.
        unsafe { (*self.report.get()).assume_init_ref() }
    }

    /// The thread's closure ended by a contained panic: `true` if its handle was dropped
    /// already, so the report goes to the log. One read-modify-write each with
    /// [`handle_gone`](Self::handle_gone): exactly one of the two sees the other.
    pub(super) fn end_by_panic(&self) -> bool {
        self.outcome.fetch_or(ENDED_BY_PANIC, Ordering::AcqRel) & HANDLE_GONE != 0
    }

    /// The thread's closure returned and its value is in the result slot: `true` if its
    /// handle was dropped already, so that nobody will take the value and the thread
    /// drops it itself. (Otherwise the handle takes it, or drops it when it goes.) One
    /// read-modify-write each with [`handle_gone`](Self::handle_gone).
    pub(super) fn end_by_return(&self) -> bool {
        self.outcome.fetch_or(RETURNED, Ordering::AcqRel) & HANDLE_GONE != 0
    }

    /// The reaper's step: `true` if the thread ended by panic and its handle has neither
    /// taken the report nor gone, so the thread stays in the table (its handle takes it
    /// out: [`Outcome::unlist`]). A thread that did not end by panic is never left, and a
    /// plain load tells: the thread sets `ENDED_BY_PANIC` before it exits, on the CPU
    /// that then reaps it, and no handle step unlists a thread without that bit.
    pub(super) fn stays_listed(&self) -> bool {
        if self.outcome.load(Ordering::Relaxed) & ENDED_BY_PANIC == 0 {
            return false;
        }
        let outcome = self.outcome.fetch_or(REAPED, Ordering::AcqRel);
        outcome & (HANDLE_GONE | REPORT_TAKEN) == 0
    }

    /// Whether the thread's closure ended by a contained panic (for the thread listing).
    pub(super) fn ended_by_panic(&self) -> bool {
        self.outcome.load(Ordering::Relaxed) & ENDED_BY_PANIC != 0
    }

    /// The join handle's drop (`exited`: the thread has exited, as its `exited` flag
    /// said): the report, if the thread ended by a panic that nobody took the report of,
    /// so it goes to the log; and what the outcome was before. After an exit without a
    /// panic there is nobody to tell (the thread is done with the word, and a value it
    /// returned is in the result slot for the handle to drop): a load suffices.
    pub(super) fn handle_gone(&self, exited: bool) -> (Option<&Report>, Outcome) {
        let seen = self.outcome.load(Ordering::Acquire);
        if exited && seen & ENDED_BY_PANIC == 0 {
            return (None, Outcome(seen));
        }
        let outcome = self.outcome.fetch_or(HANDLE_GONE, Ordering::AcqRel);
        let unreported = outcome & (ENDED_BY_PANIC | REPORT_TAKEN) == ENDED_BY_PANIC;
        (unreported.then(|| self.report()), Outcome(outcome))
    }

    /// The join handle takes the report, if the thread (which has exited) ended by panic;
    /// and what the outcome was before. Without a panic there is nothing to take (and the
    /// thread, which has exited, no longer changes the word): a load suffices.
    pub(super) fn take_report(&self) -> (Option<PanicReport>, Outcome) {
        let seen = Outcome(self.outcome.load(Ordering::Acquire));
        if !seen.ended_by_panic() {
            return (None, seen);
        }
        let outcome = Outcome(self.outcome.fetch_or(REPORT_TAKEN, Ordering::AcqRel));
        (Some(self.report().keep()), outcome)
    }
}

/// Writes the calling thread's report of the panic `info`, polled task `task` (if any),
/// with the call chain from the caller of `handler` (the panic handler), and marks it
/// unwinding. The panic handler's first step for a panic it contains.
///
/// # Safety
/// The caller runs on the thread whose record this is, and nothing else on it writes the
/// record meanwhile (the panic handler runs once per panic; a nested panic is fatal).
#[cfg(target_os = "none")]
unsafe fn begin(
    record: &PanicRecord,
    thread: (ThreadId, &dyn fmt::Display),
    task: Option<(u64, &dyn fmt::Display)>,
    info: &core::panic::PanicInfo<'_>,
    handler: usize,
) {
    use fmt::Write;
    // First: a panic while formatting the message below is a nested one, and fatal.
    record.unwinding.store(true, Ordering::Relaxed);
    // SAFETY: only this thread touches its record while it runs (the caller's contract).
    let report = unsafe { &mut *record.report.get() }.write(Report::EMPTY);
    let _ = write!(report.message, "{}", info.message());
    if let Some(location) = info.location() {
        report.file = Text::tail_of(location.file());
        report.line = location.line();
        report.column = location.column();
    }
    report.thread_id = thread.0;
    let _ = write!(report.thread_name, "{}", thread.1);
    report.task = task.map(|(id, note)| {
        let mut text = Text::EMPTY;
        let _ = write!(text, "{note}");
        (id, text)
    });
    report.backtrace = Backtrace::capture(crate::arch::backtrace::Start::After(handler));
}

/// Unwinds the calling thread from the panic [`begin`] recorded, to the nearest
/// [`catch`]. Returns only if there is none (the unwinder's search, which runs no
/// destructor, found no catch frame), with the unwinder's reason code.
#[cfg(target_os = "none")]
fn raise(record: &PanicRecord) -> i32 {
    // The header's pointer is derived from the whole record's, so that `caught` may step
    // back from it to the record (a pointer from `exception.get()` would cover that field
    // only).
    let record: *const PanicRecord = record;
    // SAFETY: `record` comes from a reference, so it points to a live record.
    let header = UnsafeCell::raw_get(unsafe { &raw const (*record).exception }).cast();
    unwinding::panicking::begin_panic(Raised(header)).0
}

/// Spindle's exception: the raising thread's own header, in its control block.
#[cfg(target_os = "none")]
struct Raised(*mut unwinding::abi::UnwindException);

// SAFETY: `wrap` returns the header of the raising thread's record, which lives as long as
// the thread and which nothing else uses while the exception travels; `unwrap` gets the
// same pointer back.
#[cfg(target_os = "none")]
unsafe impl unwinding::panicking::Exception for Raised {
    const CLASS: [u8; 8] = *b"SPNDRUST";

    fn wrap(this: Self) -> *mut unwinding::abi::UnwindException {
        this.0
    }

    unsafe fn unwrap(exception: *mut unwinding::abi::UnwindException) -> Self {
        Self(exception)
    }
}

/// A panic stopped by [`catch`]. While it lives the thread still counts as unwinding (a
/// panic in the catcher's cleanup is fatal); dropping it ends that.
pub(crate) struct Caught {
    /// The catching thread's record, which holds the report.
    #[cfg(target_os = "none")]
    record: *const PanicRecord,
    #[cfg(not(target_os = "none"))]
    report: alloc::boxed::Box<Report>,
}

impl Caught {
    /// The report of the panic.
    pub(crate) fn report(&self) -> &Report {
        // SAFETY: the record belongs to the calling thread (a `Caught` never leaves the
        // thread that caught it: it is not `Send`), which is alive, and nothing writes
        // the report until the next panic, which cannot start while this borrow lasts.
        // The panic's `begin` wrote the report before it was raised.
        #[cfg(target_os = "none")]
        return unsafe { (*(*self.record).report.get()).assume_init_ref() };
        #[cfg(not(target_os = "none"))]
        return &self.report;
    }
}

impl Drop for Caught {
    fn drop(&mut self) {
        // SAFETY: the record belongs to the calling thread (a `Caught` never leaves the
        // thread that caught it: it is not `Send`), which is alive.
        #[cfg(target_os = "none")]
        unsafe { &*self.record }
            .unwinding
            .store(false, Ordering::Relaxed);
    }
}

/// Runs `body`; if it panics and the panic is contained, its frames are unwound (their
/// destructors run) and the panic comes back as [`Caught`].
#[cfg(target_os = "none")]
#[inline(always)]
pub(crate) fn catch<R>(body: impl FnOnce() -> R) -> Result<R, Caught> {
    match unwinding::panicking::catch_unwind::<Raised, R, _>(body) {
        Ok(value) => Ok(value),
        Err(exception) => Err(caught(exception)),
    }
}

#[cfg(target_os = "none")]
#[cold]
fn caught(exception: Option<Raised>) -> Caught {
    let Some(Raised(header)) = exception else {
        // Only Spindle raises exceptions: the unwinder's foreign ones cannot come here.
        unreachable!("a foreign exception reached a catch frame")
    };
    let offset = core::mem::offset_of!(PanicRecord, exception);
    let record = header
        .cast::<u8>()
        .wrapping_sub(offset)
        .cast::<PanicRecord>();
    CONTAINED.fetch_add(1, Ordering::Relaxed);
    // `Raised` only ever carries the header of the raising thread's record, which is this
    // thread's (an exception is caught on the thread that raised it), alive.
    Caught { record }
}

/// Host unit tests: `std`'s unwinding; the report has the payload's message.
#[cfg(all(not(target_os = "none"), test))]
pub(crate) fn catch<R>(body: impl FnOnce() -> R) -> Result<R, Caught> {
    extern crate std;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).map_err(|payload| {
        use fmt::Write;
        CONTAINED.fetch_add(1, Ordering::Relaxed);
        let mut report = alloc::boxed::Box::new(Report::EMPTY);
        let message = payload.downcast_ref::<&str>().copied().or(payload
            .downcast_ref::<std::string::String>()
            .map(|s| s.as_str()));
        let _ = report.message.write_str(message.unwrap_or("Box<dyn Any>"));
        Caught { report }
    })
}

/// Host builds of the library outside tests have no unwinding: `body` just runs.
#[cfg(all(not(target_os = "none"), not(test)))]
pub(crate) fn catch<R>(body: impl FnOnce() -> R) -> Result<R, Caught> {
    Ok(body())
}

/// The calling thread, as the containment rule (`panic.rs`) sees it.
#[cfg(target_os = "none")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanickingThread {
    /// It is unwinding a panic already (or cleaning up after one).
    pub(crate) unwinding: bool,
    /// It disabled preemption ([`disable_preemption`](super::disable_preemption)).
    pub(crate) preemption_disabled: bool,
    /// Its code runs inside a catch frame: a spawned thread, or a task being polled.
    pub(crate) catch_frame: bool,
    /// Bytes of its stack left below the panic handler's frame (`None`: not known).
    pub(crate) stack_left: Option<u64>,
}

/// Whether the calling thread is unwinding a panic: the destructors running are those
/// of the frames a contained panic leaves (as `std::thread::panicking`). A value that
/// ends something gracefully when dropped can tell it is dropped by a failure instead (a
/// network stream then resets its connection rather than closing it).
pub fn panicking() -> bool {
    #[cfg(target_os = "none")]
    return panicking_thread().is_some_and(|thread| thread.unwinding);
    // On the host (unit tests) no kernel thread exists.
    #[cfg(not(target_os = "none"))]
    return false;
}

/// The thread the caller runs on, or `None` before the scheduler runs on this CPU.
#[cfg(target_os = "none")]
pub(crate) fn panicking_thread() -> Option<PanickingThread> {
    let irq = crate::arch::cpu::InterruptsDisabled::new();
    let thread = super::per_cpu::try_this_cpu()?.current(&irq);
    let polling = thread
        .if_current()
        .is_some_and(|on| on.with_poll_note(|note| note.is_some()));
    // Where the stack is now: the address of a local, close enough to the stack pointer.
    let here = core::hint::black_box(0u8);
    let here = core::ptr::from_ref(&here).addr() as u64;
    Some(PanickingThread {
        unwinding: thread.panic.is_unwinding(),
        preemption_disabled: thread.preempt_count.load(Ordering::Relaxed) != 0,
        catch_frame: thread.has_catch_frame() || polling,
        stack_left: thread
            .stack_bottom()
            .map(|bottom| here.saturating_sub(bottom.as_u64())),
    })
}

/// Unwinds the calling thread from the panic `info` (which the containment rule let
/// through; `handler` is where the panic handler starts) to its nearest catch frame. Returns only if the unwinder found none, with
/// its reason code; the thread's state is untouched then (the search runs no destructor).
#[cfg(target_os = "none")]
pub(crate) fn unwind_current(info: &core::panic::PanicInfo<'_>, handler: usize) -> i32 {
    let thread: *const super::Thread = {
        let irq = crate::arch::cpu::InterruptsDisabled::new();
        alloc::sync::Arc::as_ptr(super::per_cpu::this_cpu().current(&irq))
    };
    // SAFETY: the running thread's control block outlives its code: it is freed only
    // after the thread exited and was reaped.
    let thread = unsafe { &*thread };
    let label = thread.label();
    let write = |task: Option<&super::PollNote<'_>>| {
        crate::trace::record_panic(thread.id().0, task.map(|note| note.task_id));
        // SAFETY: we are the thread, inside its panic handler, which runs once per panic.
        unsafe {
            begin(
                &thread.panic,
                (thread.id(), &label),
                task.map(|note| (note.task_id, note as &dyn fmt::Display)),
                info,
                handler,
            );
        }
    };
    match thread.if_current() {
        Some(on_thread) => on_thread.with_poll_note(write),
        None => write(None), // never: the running thread is current
    }
    raise(&thread.panic)
}

#[cfg(test)]
mod tests {
    use core::fmt::Write;

    use super::Text;

    /// A character that does not fit ends the text: a shorter piece after it is not
    /// written, so the text stays a prefix of the whole message.
    #[test]
    fn a_cut_text_is_a_prefix_of_the_whole() {
        let mut text = Text::<8>::EMPTY;
        // Three pieces, as formatting `{a}{b}{c}` writes them.
        for piece in ["abcdef", "€", "T"] {
            let _ = text.write_str(piece);
        }
        assert_eq!(text.as_str(), "abcdef");
        assert!(text.truncated);
        assert_eq!(alloc::format!("{text}"), "abcdef…");
    }

    #[test]
    fn a_text_that_fits_is_whole() {
        let mut text = Text::<8>::EMPTY;
        for piece in ["abc", "€"] {
            let _ = text.write_str(piece);
        }
        assert_eq!((text.as_str(), text.truncated), ("abc€", false));
    }
}
