//! What an executor shares with its spawners, its tasks' wakers and the task listing.

use alloc::{sync::Arc, task::Wake, vec::Vec};

use super::{
    cell::{Slot, Task},
    chunks::{CHUNK, Chunks},
    host::Host,
    ready_queue::ReadyQueue,
    table::SpareBlock,
};
use crate::{
    arch::IrqSpinLock,
    atomics::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    intrusive::Inbox,
};

/// The executor's shared half (the task table is the host thread's alone).
pub(super) struct Shared<H: Host> {
    /// A unique number (the trace names executors by it).
    pub(super) id: u64,
    pub(super) name: Arc<str>,
    pub(super) ready: Arc<ReadyQueue<H>>,
    /// Tasks spawned from anywhere, on their way to the table; closed when the executor
    /// is dropped.
    pub(super) inbox: Inbox<Slot<H>>,
    /// Tasks spawned and not yet removed from the table (reserved at spawn time).
    pub(super) tasks: AtomicUsize,
    /// Slots in the table and in `spare`: raised by spawners, under `spare`'s lock, so
    /// that every task spawned finds a slot (see `table`).
    pub(super) room: AtomicUsize,
    /// Blocks of slots that spawners made and the host has not added to its table yet,
    /// oldest first. The list has room for every block of the capacity: adding one to
    /// it never allocates.
    pub(super) spare: IrqSpinLock<Vec<SpareBlock<H>>>,
    /// The tasks in the table, at the same slots: for listings only (never touched when
    /// polling or waking). Grown together with the table, so filling or clearing a slot
    /// never allocates.
    pub(super) listing: IrqSpinLock<Chunks<Option<Arc<dyn Task<H>>>>>,
    /// Set when `block_on`'s own future is woken (this `Shared` is its waker, so
    /// `block_on` allocates nothing).
    pub(super) main_woken: AtomicBool,
}

impl<H: Host> Shared<H> {
    pub(super) fn new(name: &str, capacity: usize, host: H) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        crate::trace::record_name(crate::trace::Kind::ExecutorName, id, &name);
        Self {
            id,
            name: Arc::from(name),
            ready: Arc::new(ReadyQueue::new(capacity, host)),
            inbox: Inbox::new(),
            tasks: AtomicUsize::new(0),
            room: AtomicUsize::new(0),
            spare: IrqSpinLock::new(Vec::with_capacity(capacity.div_ceil(CHUNK))),
            listing: IrqSpinLock::new(Chunks::with_room_for(capacity)),
            main_woken: AtomicBool::new(false),
        }
    }
}

impl<H: Host> Wake for Shared<H> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Wakes `block_on`'s own future: a flag plus, unless the host thread itself wakes
    /// it (outside interrupt handlers: then it is running, not asleep, and looks at the
    /// flag before it next sleeps), a nudge to the host.
    fn wake_by_ref(self: &Arc<Self>) {
        self.main_woken.store(true, Ordering::Release);
        if !self.ready.woken_on_host() {
            self.ready.notify_host();
        }
    }
}
