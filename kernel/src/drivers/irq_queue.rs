//! The interrupt-to-queue-to-waker plumbing of an input device: one device's path from its
//! interrupt handler to its single reader (the queue, the waker, the reader slot and the
//! counters), which `input` turns into `Stream`s. Fits any device whose handler produces
//! bytes for one consumer (virtqueue completions will look the same).
//!
//! **Interrupts are off around every queue operation.** `ArrayQueue` takes no lock, but
//! it is not wait-free: a push that finds the slot it needs still being vacated by a pop
//! in flight spins until that pop finishes (and a pop likewise waits for a push in
//! flight). If a handler's push interrupted a pop on the same CPU at that point (a full
//! queue, with the reader between claiming a slot and releasing it), it would spin
//! forever over the very code it waits for. Running each push and pop with interrupts
//! disabled makes every in-flight operation run to completion on its CPU, so such a wait
//! is at most the few instructions another CPU needs to finish.

use core::task::{Context, Poll};

use conquer_once::spin::{Once, OnceCell};
use crossbeam_queue::ArrayQueue;
use futures_util::task::AtomicWaker;

use crate::{
    arch::{self, cpu, cpu_local},
    atomics::{AtomicBool, AtomicU8, AtomicU64, Ordering},
};

/// How many bytes (scancodes) each device's queue holds for its reader.
/// (4 in a model build, so that a few bytes fill it: see `drivers::models`.)
pub const QUEUE_CAPACITY: usize = if cfg!(feature = "model") { 4 } else { 256 };

/// Why a reader could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Another reader of this device is alive; input has a single reader.
    InUse,
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InUse => f.write_str("the device already has a reader"),
        }
    }
}

/// Counters of one input device since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Interrupts taken on the device's IRQ vector.
    pub interrupts: u64,
    /// Bytes (scancodes, for the keyboard) that reached the driver, queued or not.
    pub received: u64,
    /// Of those, the ones dropped because the queue was full (or not yet created). Always
    /// 0 for the serial port, which holds input back instead.
    pub dropped: u64,
    /// Bytes waiting in the queue for the reader right now.
    pub queued: usize,
    /// The CPUs whose interrupt handler delivered input, one bit per CPU index: where
    /// the device's IRQ is routed (`arch::interrupts::set_irq_cpu`).
    pub handler_cpus: u64,
}

/// One device's queue, waker and reader slot (see the module docs).
pub struct IrqQueue {
    /// Created by the first open: handlers never allocate.
    queue: OnceCell<ArrayQueue<u8>>,
    /// The device and its IRQ, set up by the first open after the queue exists.
    device: Once,
    waker: AtomicWaker,
    /// Whether a reader exists.
    open: AtomicBool,
    received: AtomicU64,
    dropped: AtomicU64,
    /// The IRQ vector, for the interrupt count: 0 until the first open routed the IRQ.
    vector: AtomicU8,
    /// [`InputStats::handler_cpus`].
    handler_cpus: AtomicU64,
    /// Set by a handler that [held input back](IrqQueue::hold_back) in the device.
    held_back: AtomicBool,
    /// Lets the device deliver again; run by the reader after it made room.
    resume: fn(),
}

impl IrqQueue {
    /// A source whose `resume` undoes what the handler did before calling
    /// [`hold_back`](Self::hold_back) (a device that never holds back passes a no-op).
    pub const fn new(resume: fn()) -> Self {
        Self {
            queue: OnceCell::uninit(),
            device: Once::uninit(),
            waker: AtomicWaker::new(),
            open: AtomicBool::new(false),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            vector: AtomicU8::new(0),
            handler_cpus: AtomicU64::new(0),
            held_back: AtomicBool::new(false),
            resume,
        }
    }

    /// Whether a [`push`](Self::push) now would be kept. Only the reader takes from the
    /// queue, so for a device whose handler is the only pusher the answer stays true
    /// until that handler pushes.
    pub fn has_room(&self) -> bool {
        self.queue.try_get().is_ok_and(|queue| !queue.is_full())
    }

    /// For a handler that found the queue full and stopped the device from delivering
    /// (rather than drop input the device can keep): the reader's next pop runs `resume`.
    /// Returns `false` if room appeared meanwhile and the reader may have missed the flag:
    /// then the handler resumes the device itself.
    ///
    /// Flag, then look again (and the reader: pop, then look at the flag): as with the
    /// waker, whichever of the two comes second sees the other, so exactly one resumes.
    pub fn hold_back(&self) -> bool {
        self.held_back.store(true, Ordering::SeqCst);
        !(self.has_room() && self.held_back.swap(false, Ordering::SeqCst))
    }

    /// Queues `byte` for the reader and wakes it; drops and counts the byte if the queue
    /// is full (or not yet created). Never blocks, never allocates: callable from the
    /// device's interrupt handler and from any thread.
    pub fn push(&self, byte: u8) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if cpu_local::in_interrupt() {
            self.note_handler_cpu();
        }
        // `try_get` never blocks. The IRQ is routed only once the queue exists, so a
        // handler always finds it; an injecting thread that comes before (or during) the
        // first open finds none, and its byte counts as dropped.
        let queued = self.queue.try_get().is_ok_and(|queue| {
            let interrupts = cpu::save_and_disable_interrupts();
            let pushed = queue.push(byte).is_ok();
            cpu::restore_interrupts(interrupts);
            pushed
        });
        if !queued {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // After the push: a reader that registered before it gets this wake; one that
        // registers later finds the byte when it re-checks the queue.
        self.waker.wake();
    }

    /// Sets this CPU's bit in [`InputStats::handler_cpus`] (written only the first time:
    /// the word is shared by every CPU that takes the IRQ).
    fn note_handler_cpu(&self) {
        let bit = 1 << cpu_local::cpu_index();
        if self.handler_cpus.load(Ordering::Relaxed) & bit == 0 {
            self.handler_cpus.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// Claims the single reader slot; the first open ever also creates the queue and runs
    /// `start_device`, which routes the IRQ and returns its vector, in that order.
    pub fn open(&'static self, start_device: fn() -> u8) -> Result<Reader, OpenError> {
        self.open
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|_| OpenError::InUse)?;
        let queue = self.queue.get_or_init(|| ArrayQueue::new(QUEUE_CAPACITY));
        self.device
            .init_once(|| self.vector.store(start_device(), Ordering::Relaxed));
        Ok(Reader {
            source: self,
            queue,
        })
    }

    pub fn stats(&self) -> InputStats {
        InputStats {
            interrupts: match self.vector.load(Ordering::Relaxed) {
                0 => 0,
                vector => arch::trap_count(vector),
            },
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.queue.try_get().map_or(0, |queue| queue.len()),
            handler_cpus: self.handler_cpus.load(Ordering::Relaxed),
        }
    }
}

/// The claim on an [`IrqQueue`]'s reader slot, released on drop.
#[derive(Debug)]
pub struct Reader {
    source: &'static IrqQueue,
    queue: &'static ArrayQueue<u8>,
}

impl Reader {
    /// The next byte, or `Pending` with the task's waker registered.
    pub fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<u8> {
        if let Some(byte) = self.pop() {
            return Poll::Ready(byte);
        }
        self.source.waker.register(cx.waker());
        // Register, then re-check: a byte pushed between the first look and the
        // registration woke nobody, so it must be found here.
        match self.pop() {
            Some(byte) => {
                // Not waiting after all: a later push need not wake this task.
                drop(self.source.waker.take());
                Poll::Ready(byte)
            }
            None => Poll::Pending,
        }
    }

    fn pop(&self) -> Option<u8> {
        let interrupts = cpu::save_and_disable_interrupts();
        let byte = self.queue.pop();
        cpu::restore_interrupts(interrupts);
        if byte.is_some() && self.source.held_back.swap(false, Ordering::SeqCst) {
            (self.source.resume)();
        }
        byte
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Drop the last registered waker here, in thread context, rather than leave its
        // last reference to a later handler's wake.
        drop(self.source.waker.take());
        self.source.open.store(false, Ordering::Release);
    }
}

impl core::fmt::Debug for IrqQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IrqQueue")
            .field("vector", &self.vector)
            .field("open", &self.open.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
