//! Wait queues: the one way a thread or a task waits until something happens.
//!
//! Every blocking primitive (mutex, semaphore, condition variable, event, channel, join)
//! is a condition plus a `WaitQueue`. The rule that makes lost wake-ups impossible:
//!
//! - the waiter checks the condition, then, under the queue's lock, marks itself
//!   `Blocking` (a thread) or registers its waker (a task), checks the condition *again*,
//!   and only then sleeps;
//! - the waker changes the condition *before* calling [`WaitQueue::wake_one`] or
//!   [`WaitQueue::wake_all`], which take the same lock.
//!
//! The lock orders the two: either the waiter's second check comes after the waker's
//! change and sees it, or the waiter is queued before the waker looks. (This needs no
//! fence: the waker's change happens before its lock acquisition, and the waiter's check
//! after an acquisition that follows the waker's release, or the other way round.)
//!
//! **Each waiter owns its entry.** A waiting thread links a [`WaitNode`] that lives on its
//! own stack; a future links one that lives inside the future (an [`AsyncWaiter`], pinned).
//! So waiting never allocates, each future is its own entry even when one task waits twice
//! on the same queue (as `join(recv(), timeout(recv()))` does), and cancelling a future
//! unlinks exactly its own entry. A waker takes the entry off the queue and moves the
//! thread or task waker out of it under the lock, then wakes outside the lock: the entry
//! is never touched after the lock is released, so its owner may free it as soon as it
//! sees, under the lock, that it is no longer queued.
//!
//! **A wake is never swallowed.** An entry handed a [`wake_one`](WaitQueue::wake_one) is
//! marked *notified*; if its future is dropped before acting on it, the drop passes the
//! wake on to the next waiter. A queued future checks its condition under the lock, so
//! that no `wake_one` can reach its entry after a check that met the condition (it would
//! be used up with nothing left to act on it: see [`AsyncWaiter::poll_until`]). A [`wake_all`](WaitQueue::wake_all) wakes the waiters that
//! were queued when it began, not the ones that queue again meanwhile, so it ends.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{
    cell::{Cell, UnsafeCell},
    fmt,
    marker::PhantomPinned,
    pin::{Pin, pin},
    ptr::NonNull,
    task::{Context, Poll, Waker},
};

use super::{Thread, per_cpu::this_cpu, scheduler};
use crate::{
    arch::{IrqSpinLock, cpu::InterruptsDisabled},
    intrusive::{Links, List},
};

/// Threads and tasks waiting for a condition.
#[derive(Default)]
pub struct WaitQueue {
    waiters: IrqSpinLock<Waiters>,
}

#[derive(Default)]
struct Waiters {
    list: List<WaitNode>,
    /// Bumped by every `wake_all`; each entry records the value when it was queued.
    generation: u64,
}

/// One waiter's entry in a [`WaitQueue`]: on a blocked thread's stack, or inside a future.
pub(crate) struct WaitNode {
    links: Links,
    /// Guarded by the queue's lock (or owned by the node's owner while not queued).
    slot: UnsafeCell<Slot>,
    _pinned: PhantomPinned,
}
crate::linked!(WaitNode, links);

// SAFETY: `slot` is only accessed under the lock of the queue the node is in, or by its
// owner while it is in none.
unsafe impl Sync for WaitNode {}

struct Slot {
    state: NodeState,
    /// The queue's generation when the node was queued.
    generation: u64,
    /// `Some` exactly while queued.
    waiter: Option<Waiter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    /// In no queue, no wake pending.
    Idle,
    /// Linked in the queue.
    Queued,
    /// Taken off the queue by a wake that the owner has not seen yet; `one` when it was a
    /// `wake_one`, which must be passed on if the owner gives up.
    Notified { one: bool },
}

/// Who to wake.
enum Waiter {
    Thread(Arc<Thread>),
    Task(Waker),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(thread) => _ = scheduler::wake(&thread),
            Waiter::Task(waker) => waker.wake(),
        }
    }
}

impl WaitNode {
    const fn new() -> Self {
        Self {
            links: Links::new(),
            slot: UnsafeCell::new(Slot {
                state: NodeState::Idle,
                generation: 0,
                waiter: None,
            }),
            _pinned: PhantomPinned,
        }
    }

    /// The node's slot.
    ///
    /// # Safety
    /// The caller holds the lock of the queue the node is in (or of the queue it may be
    /// in), and no other reference to the slot is live.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot(&self) -> &mut Slot {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.slot.get() }
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            waiters: IrqSpinLock::new(Waiters {
                list: List::new(),
                generation: 0,
            }),
        }
    }

    /// Blocks the calling thread until `condition` returns `Some`, and returns its value.
    ///
    /// `condition` runs with interrupts disabled and sometimes under this queue's lock: it
    /// must be quick, must not block and must not allocate.
    ///
    /// # Panics
    /// If called from the idle thread, or while the thread holds a spinlock or has
    /// preemption disabled (it could never be woken, or would stall its CPU).
    /// In debug builds, also if called while the thread polls an async task (the task
    /// should wait with an [`AsyncWaiter`] instead).
    #[track_caller]
    pub fn wait_until<T>(&self, condition: impl FnMut() -> Option<T>) -> T {
        self.wait_until_named(
            "WaitQueue::wait_until",
            "an `AsyncWaiter` (`.await`)",
            condition,
        )
    }

    /// [`wait_until`](Self::wait_until) for the blocking operation `call`, which a blocking
    /// call inside an async task is reported as (suggesting `instead`).
    #[track_caller]
    pub(crate) fn wait_until_named<T>(
        &self,
        call: &str,
        instead: &str,
        mut condition: impl FnMut() -> Option<T>,
    ) -> T {
        loop {
            if let Some(value) = condition() {
                return value;
            }
            super::check_may_block(call, instead);
            let irq = InterruptsDisabled::new();
            let me = Arc::clone(this_cpu().current(&irq));
            let node = pin!(WaitNode::new());
            {
                let mut waiters = self.waiters.lock();
                me.run_state.begin_block();
                if let Some(value) = condition() {
                    me.run_state.cancel_block();
                    return value;
                }
                let state = Arc::clone(&me);
                // SAFETY: the node is fresh and pinned on this stack; `withdraw` below
                // unlinks it (if a waker did not) before this scope ends.
                unsafe { waiters.enqueue(node.as_ref(), Waiter::Thread(state)) };
            }
            scheduler::block_current(&irq);
            self.withdraw(node.as_ref());
        }
    }

    /// Wakes the longest-waiting thread or task; returns whether there was one.
    /// Callable from interrupt handlers.
    pub fn wake_one(&self) -> bool {
        let waiter = {
            let mut waiters = self.waiters.lock();
            let Some(node) = waiters.list.pop_front() else {
                return false;
            };
            // SAFETY: a linked node is live, and the lock is held.
            unsafe { take_waiter(node, true) }
        };
        waiter.wake();
        true
    }

    /// Wakes every thread and task that was waiting when the call began; returns how
    /// many. Callable from interrupt handlers.
    pub fn wake_all(&self) -> usize {
        let generation = {
            let mut waiters = self.waiters.lock();
            waiters.generation += 1;
            waiters.generation
        };
        let mut woken = 0;
        loop {
            let waiter = {
                let mut waiters = self.waiters.lock();
                let Some(node) = waiters.list.front() else {
                    break;
                };
                // SAFETY: a linked node is live, and the lock is held.
                if unsafe { node.as_ref().slot() }.generation >= generation {
                    break; // queued after this call began (and so is everything behind it)
                }
                waiters.list.pop_front();
                // SAFETY: as above; it was just unlinked under the lock.
                unsafe { take_waiter(node, false) }
            };
            waiter.wake();
            woken += 1;
        }
        woken
    }

    /// Whether nobody is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().list.is_empty()
    }

    /// Takes `node` off the queue if it is still there, or consumes the wake that took it
    /// off; returns that wake's kind, if there was one. Afterwards the node is idle and
    /// the queue holds no reference to it.
    fn withdraw(&self, node: Pin<&WaitNode>) -> Option<Notified> {
        // SAFETY: the node is ours; it can only be in this queue.
        let (withdrawn, waiter) = unsafe { self.waiters.lock().withdraw(node) };
        drop(waiter); // outside the lock: dropping a waker may run arbitrary code
        withdrawn
    }
}

/// What [`WaitQueue::withdraw`] found: the node had been woken.
#[derive(Debug, Clone, Copy)]
struct Notified {
    one: bool,
}

impl Waiters {
    /// [`WaitQueue::withdraw`] under the lock (held: `&mut self`); also returns the
    /// waiter the node still held, for the caller to drop once the lock is released.
    ///
    /// # Safety
    /// `node` can only be in this queue (or in none).
    unsafe fn withdraw(&mut self, node: Pin<&WaitNode>) -> (Option<Notified>, Option<Waiter>) {
        // SAFETY: the caller's contract; the lock is held.
        let slot = unsafe { node.slot() };
        let withdrawn = match slot.state {
            NodeState::Idle => None,
            NodeState::Queued => {
                // SAFETY: a queued node is linked in this queue.
                unsafe { self.list.remove(NonNull::from(node.get_ref())) };
                None
            }
            NodeState::Notified { one } => Some(Notified { one }),
        };
        slot.state = NodeState::Idle;
        (withdrawn, slot.waiter.take())
    }

    /// Links an idle `node` at the back, to wake `waiter`.
    ///
    /// # Safety
    /// `node` must be idle (in no queue) and stay valid and in place until it is taken
    /// off again, by a wake or by `withdraw`.
    unsafe fn enqueue(&mut self, node: Pin<&WaitNode>, waiter: Waiter) {
        // SAFETY: the node is in no queue, so this lock (held: `&mut self`) serializes
        // access to it from now on.
        let slot = unsafe { node.slot() };
        slot.state = NodeState::Queued;
        slot.generation = self.generation;
        slot.waiter = Some(waiter);
        // SAFETY: the caller's contract.
        unsafe { self.list.push_back(NonNull::from(node.get_ref())) };
    }
}

/// Marks an unlinked `node` notified and moves its waiter out.
///
/// # Safety
/// `node` was just unlinked from a queue whose lock the caller holds.
unsafe fn take_waiter(node: NonNull<WaitNode>, one: bool) -> Waiter {
    // SAFETY: the caller's contract: the node is live and the lock held.
    let slot = unsafe { node.as_ref().slot() };
    slot.state = NodeState::Notified { one };
    slot.waiter.take().expect("a queued node has a waiter")
}

impl fmt::Debug for WaitQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitQueue").finish_non_exhaustive()
    }
}

/// The waiting half of a future that waits on a [`WaitQueue`]: its own entry in the
/// queue. Embed one in the future (as a pinned field) and poll through
/// [`poll_until`](Self::poll_until); dropping it withdraws the entry, and passes on a
/// `wake_one` that reached it too late to be used.
pub struct AsyncWaiter<'q> {
    queue: &'q WaitQueue,
    node: WaitNode,
    /// Whether the node may be in the queue or notified (only the owner reads or writes
    /// this): lets a poll that finds the condition met skip the lock.
    registered: Cell<bool>,
}

impl<'q> AsyncWaiter<'q> {
    /// A waiter on `queue` that is not registered yet.
    pub const fn new(queue: &'q WaitQueue) -> Self {
        Self {
            queue,
            node: WaitNode::new(),
            registered: Cell::new(false),
        }
    }

    /// `Ready` with `condition`'s value once it returns `Some`; otherwise registers the
    /// task's waker in the queue and returns `Pending`.
    ///
    /// **Once the waiter may be queued, the check runs under the queue's lock**, so that
    /// a check that takes what it waits for (a value, a permit) and the withdrawal of
    /// the entry after it are one step for the wakers: a `wake_one` that reached the
    /// entry came before the check, which used it, and none comes after it. (Checked
    /// outside the lock, a `wake_one` for the *next* value could reach the entry between
    /// a successful check and the withdrawal, which swallowed it: a receiver that took
    /// one value left the next one in the channel with another receiver waiting for it.
    /// The model `channel_values_in_order_then_disconnected` found that.) A waiter in no
    /// queue checks without the lock first: no wake can reach it. The check before
    /// registering is under the same lock as the registration, so a wake that the check
    /// missed finds the entry (the rule in the module docs).
    ///
    /// `condition` runs under the queue's lock, with interrupts off: it must be quick, must
    /// not block, allocate or drop values whose drop could do any of that, and must not
    /// touch this queue (it would wait for its own lock).
    pub fn poll_until<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut condition: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        let this = self.into_ref();
        if !this.registered.get()
            && let Some(value) = condition()
        {
            return Poll::Ready(value);
        }
        let mut waiters = this.queue.waiters.lock();
        if let Some(value) = condition() {
            let mut unused = None;
            if this.registered.replace(false) {
                // SAFETY: the node is ours and can only be in this queue; the lock is held.
                (_, unused) = unsafe { waiters.withdraw(this.node()) };
            }
            drop(waiters);
            drop(unused); // outside the lock: dropping a waker may run arbitrary code
            return Poll::Ready(value);
        }
        // SAFETY: the node is ours and can only be in this queue; the lock is held.
        let slot = unsafe { this.node.slot() };
        let mut replaced = None;
        match slot.state {
            NodeState::Queued => {
                if let Some(Waiter::Task(queued)) = &mut slot.waiter
                    && !queued.will_wake(cx.waker())
                {
                    replaced = Some(core::mem::replace(queued, cx.waker().clone()));
                }
            }
            // A wake that found the condition gone again (someone else took it) is used
            // up: queue again, at the back.
            NodeState::Idle | NodeState::Notified { .. } => {
                // SAFETY: the node is idle or notified (in no queue) and pinned inside this
                // waiter, whose drop withdraws it.
                unsafe { waiters.enqueue(this.node(), Waiter::Task(cx.waker().clone())) };
                this.registered.set(true);
            }
        }
        drop(waiters);
        // Outside the lock: the old waker may be the last reference to a task, whose drop
        // may run arbitrary code (even wait on this queue).
        drop(replaced);
        Poll::Pending
    }

    fn node(self: Pin<&Self>) -> Pin<&WaitNode> {
        // SAFETY: structural pinning: the node is never moved out of a pinned waiter.
        unsafe { self.map_unchecked(|this| &this.node) }
    }
}

impl Drop for AsyncWaiter<'_> {
    fn drop(&mut self) {
        if self.registered.replace(false) {
            // SAFETY: `drop` runs in place on a waiter that was pinned (it is only polled
            // pinned), so the node has not moved since it was linked.
            let node = unsafe { Pin::new_unchecked(&self.node) };
            if let Some(Notified { one: true }) = self.queue.withdraw(node) {
                self.queue.wake_one();
            }
        }
    }
}

impl fmt::Debug for AsyncWaiter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncWaiter")
            .field("registered", &self.registered.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::{boxed::Box, vec::Vec};
    use core::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::{litmus::litmus, testing::counting_waker as counter};

    /// Polls `waiter` once with `waker`, waiting for `flag`.
    fn poll(waiter: Pin<&mut AsyncWaiter<'_>>, waker: &Waker, flag: &AtomicBool) -> Poll<()> {
        waiter.poll_until(&mut Context::from_waker(waker), || {
            flag.load(Ordering::Acquire).then_some(())
        })
    }

    /// One task, two waits on the same queue (as `join(recv(), timeout(recv()))` makes):
    /// cancelling one leaves the other queued, and the next wake reaches it.
    #[test]
    fn each_future_is_its_own_entry() {
        let queue = WaitQueue::new();
        let flag = AtomicBool::new(false);
        let (count, waker) = counter();
        let mut first = Box::pin(AsyncWaiter::new(&queue));
        let mut second = Box::pin(AsyncWaiter::new(&queue));
        assert!(poll(first.as_mut(), &waker, &flag).is_pending());
        assert!(poll(second.as_mut(), &waker, &flag).is_pending());
        drop(second); // the timeout fired: the second wait is cancelled
        assert!(!queue.is_empty(), "the first wait is still queued");
        flag.store(true, Ordering::Release);
        assert!(queue.wake_one());
        assert_eq!(count.count(), 1);
        assert_eq!(poll(first.as_mut(), &waker, &flag), Poll::Ready(()));
        assert!(queue.is_empty());
    }

    /// A waiter handed a `wake_one` and dropped before using it passes the wake on.
    #[test]
    fn a_dropped_waiter_passes_its_wake_on() {
        let queue = WaitQueue::new();
        let flag = AtomicBool::new(false);
        let (first_count, first_waker) = counter();
        let (second_count, second_waker) = counter();
        let mut first = Box::pin(AsyncWaiter::new(&queue));
        let mut second = Box::pin(AsyncWaiter::new(&queue));
        assert!(poll(first.as_mut(), &first_waker, &flag).is_pending());
        assert!(poll(second.as_mut(), &second_waker, &flag).is_pending());
        flag.store(true, Ordering::Release);
        assert!(queue.wake_one());
        assert_eq!(first_count.count(), 1);
        drop(first); // cancelled after being chosen
        assert_eq!(second_count.count(), 1, "the wake moved on");
        assert_eq!(poll(second.as_mut(), &second_waker, &flag), Poll::Ready(()));
    }

    /// `wake_all` wakes who was waiting when it began, not who queues again meanwhile,
    /// and always ends.
    #[test]
    fn wake_all_wakes_the_waiters_it_found() {
        let queue = WaitQueue::new();
        let flag = AtomicBool::new(false);
        let waiters: Vec<_> = (0..3)
            .map(|_| (counter(), Box::pin(AsyncWaiter::new(&queue))))
            .collect();
        let mut waiters = waiters;
        for ((_, waker), waiter) in &mut waiters {
            assert!(poll(waiter.as_mut(), waker, &flag).is_pending());
        }
        assert_eq!(queue.wake_all(), 3);
        for ((count, waker), waiter) in &mut waiters {
            assert_eq!(count.count(), 1);
            // The condition is still unmet: each queues again.
            assert!(poll(waiter.as_mut(), waker, &flag).is_pending());
        }
        assert!(!queue.is_empty());
        assert_eq!(queue.wake_all(), 3);
    }

    /// A re-poll with another waker replaces the queued one instead of queueing twice.
    #[test]
    fn a_new_waker_replaces_the_queued_one() {
        let queue = WaitQueue::new();
        let flag = AtomicBool::new(false);
        let (old_count, old_waker) = counter();
        let (new_count, new_waker) = counter();
        let mut waiter = Box::pin(AsyncWaiter::new(&queue));
        assert!(poll(waiter.as_mut(), &old_waker, &flag).is_pending());
        assert!(poll(waiter.as_mut(), &new_waker, &flag).is_pending());
        assert_eq!(queue.wake_all(), 1);
        assert_eq!(old_count.count(), 0);
        assert_eq!(new_count.count(), 1);
    }

    /// A task waiting on a queue against a waker changing the condition and waking one:
    /// never both missing each other.
    #[test]
    fn wait_wake_litmus() {
        struct Instance {
            queue: &'static WaitQueue,
            flag: AtomicBool,
            waiter: Mutex<Option<Pin<Box<AsyncWaiter<'static>>>>>,
        }
        let (_, waker) = counter();
        static WAKER: std::sync::OnceLock<Waker> = std::sync::OnceLock::new();
        WAKER.get_or_init(|| waker);
        let instances = (0..2_000)
            .map(|_| {
                let queue: &'static WaitQueue = Box::leak(Box::new(WaitQueue::new()));
                Instance {
                    queue,
                    flag: AtomicBool::new(false),
                    waiter: Mutex::new(None),
                }
            })
            .collect();
        let missed = litmus(
            instances,
            100,
            |instance| {
                let mut waiter = instance.waiter.lock().unwrap();
                let waiter = waiter.as_mut().expect("reset made a waiter");
                poll(waiter.as_mut(), WAKER.get().unwrap(), &instance.flag).is_pending()
            },
            |instance| {
                instance.flag.store(true, Ordering::Release);
                instance.queue.wake_one()
            },
            |instance| {
                let mut waiter = instance.waiter.lock().unwrap();
                *waiter = None; // withdraws the old entry
                instance.flag.store(false, Ordering::Relaxed);
                *waiter = Some(Box::pin(AsyncWaiter::new(instance.queue)));
            },
        );
        assert_eq!(missed, 0, "lost wake-ups");
    }
}
