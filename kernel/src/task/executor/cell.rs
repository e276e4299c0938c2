//! A task's one heap block, and the executor's `unsafe`: the only place a task is polled.
//!
//! Spawning allocates a single [`TaskCell`]: the task's header (identity, `queued`,
//! statistics and the join state: see `task`), the waker of its [`TaskHandle`], and a
//! *stage* that holds first the future, then its output. Everyone else holds an `Arc`
//! of that block: the executor's table (through the task's one [`Slot`]), the listing
//! (`Arc<dyn Task>`), the task's wakers (`ArcWake`: a poll lends the table's reference
//! with `waker_ref`, so polling touches no reference count) and the handle
//! (`Arc<dyn JoinSlot<T>>`). The trait objects are what keeps the table and the handle
//! free of the future's type; the block itself is monomorphised, so the future is polled
//! by a direct call.
//!
//! **Why the stage needs no lock.** The stage is an `UnsafeCell` read and written by
//! whoever owns it at the time; ownership is handed over through the join state, which
//! only moves forward:
//!
//! - `PENDING`: the stage belongs to the task's [`Slot`]. A cell is created with exactly
//!   one slot ([`new_task`]), which is not `Clone` and reaches the stage only through
//!   `&mut self` (polling) or by being dropped (cancelling): so one thread at a time.
//!   The slot moves between threads only whole (spawner → inbox → host thread), which
//!   synchronises like any move of a `Send` value.
//! - `PENDING → DONE`: the slot writes the output into the stage, then stores `DONE`
//!   (Release). Only the slot ever leaves `PENDING`, so its own relaxed load of the state
//!   is exact, and it never touches the stage once the state is not `PENDING`.
//! - `DONE → TAKEN`: the handle takes the output after winning a compare-exchange
//!   (Acquire, pairing with that Release); only one caller can win it, and after `TAKEN`
//!   nobody touches the stage.
//! - `PENDING → CANCELLED`: the slot drops the future in place, then stores `CANCELLED`;
//!   nobody touches the stage after that.
//! - `PENDING → PANICKED`: the poll panicked and the panic was caught around it (the
//!   task's catch frame); the slot drops the future in place, writes the panic's report
//!   into the stage, then stores `PANICKED` (Release). `PANICKED → TAKEN` is the handle's,
//!   as `DONE → TAKEN`: it takes the report.
//! - `PENDING → ABORTING`: the handle asks for an abort ([`TaskHandle::abort`]) with a
//!   compare-exchange, then wakes the task. `ABORTING` is still unfinished: the stage
//!   stays the slot's, and the slot's next poll cancels the task instead of polling it
//!   (`ABORTING → CANCELLED`). If the slot finishes the task first, its store of `DONE`
//!   simply replaces `ABORTING`: the abort came too late, and the handle gets the output.
//!
//! **An abort is never lost.** The abort writes the join state, then sets `queued` (its
//! wake); a poll clears `queued`, then reads the join state to choose between polling and
//! cancelling. Each side writes one location and reads the other, so each side's second
//! step must see the other's first or the abort is lost (a poll that ran the future as
//! if pending, after a wake that found `queued` still set and queued nothing: issue 18's
//! defect 5, when the poll read the state first). Both touches of `queued` are
//! read-modify-writes (`AcqRel`), totally ordered: if the wake's comes first, the poll's
//! clear reads its `true` and synchronises with it, so the poll's read of the join state
//! (`Acquire`) sees `ABORTING`; if it comes second, it finds `queued` clear and queues
//! the task again, and that poll sees `ABORTING`. The model
//! `executor_abort_racing_the_first_poll_is_never_lost` checks the interleavings.
//! A poll first reads the join state alone, without clearing: a finished task keeps
//! `queued` set for good (only the slot finishes it, so that read is exact).
//! - Dropping the cell has `&mut` access: nobody else is left.
//!
//! So the stage is never reached from two threads at once, only handed over, and the
//! cell is `Sync` when the future and its output are `Send`. The future is pinned because
//! it never moves: it is polled and dropped in place, inside the block, which never moves
//! either.
//!
//! The private trait `Run` is what keeps this sound: only this file can name it, so only
//! a [`Slot`] can poll or cancel a task.

#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{
    cell::UnsafeCell,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::task::{ArcWake, AtomicWaker, waker_ref};

use super::{
    host::Host,
    join::{JoinSlot, TaskError, TaskHandle},
    task::{Polled, TaskHeader},
};
use crate::{
    atomics::{AtomicBool, AtomicU8, AtomicUsize, Ordering},
    thread::{
        OnThread, PanicReport, PollNote,
        unwind::{self, Caught},
    },
};

const PENDING: u8 = 0;
const DONE: u8 = 1;
const CANCELLED: u8 = 2;
const TAKEN: u8 = 3;
const ABORTING: u8 = 4;
const PANICKED: u8 = 5;

/// Whether a task in join state `state` has not finished (its stage holds the future).
const fn unfinished(state: u8) -> bool {
    state == PENDING || state == ABORTING
}

/// Whether a task finished, and so who owns its stage (see the module docs), and whether
/// its handle is gone. Only this file changes it.
pub(super) struct JoinState(AtomicU8, AtomicBool);

impl JoinState {
    /// A task that has not finished, with its handle.
    pub(super) const fn new() -> Self {
        Self(AtomicU8::new(PENDING), AtomicBool::new(false))
    }

    /// Whether the task finished or was cancelled.
    pub(super) fn is_finished(&self) -> bool {
        !unfinished(self.0.load(Ordering::Acquire))
    }
}

/// The future, then its output, or the report of the panic that ended it (one pointer:
/// every task's block stays as small as it was).
enum Stage<F: Future> {
    Running(F),
    Finished(F::Output),
    Panicked(PanicReport),
    Empty,
}

/// A task's one heap block.
pub(super) struct TaskCell<F: Future, H: Host> {
    header: TaskHeader<H>,
    join_waker: AtomicWaker,
    stage: UnsafeCell<Stage<F>>,
}

// SAFETY: the stage is only ever handed over between threads, never shared (module docs:
// the join state says who owns it), so moving `F` and its output between threads is all
// it needs; the other fields are `Sync` themselves.
unsafe impl<F, H> Sync for TaskCell<F, H>
where
    F: Future + Send,
    F::Output: Send,
    H: Host,
{
}

/// What the executor's table and the task listing see of a task.
pub(super) trait Task<H: Host>: Send + Sync {
    fn header(&self) -> &TaskHeader<H>;
}

/// What only a task's [`Slot`] may do. Private: nothing outside this file can call it.
trait Run<H: Host>: Task<H> {
    /// Polls the task once with its own waker and does the executor's bookkeeping around
    /// the poll; puts the reference back in `home`, its slot (it is lent by value only
    /// because the waker is built from an `Arc`).
    fn poll(self: Arc<Self>, home: &mut Option<Arc<dyn Run<H>>>, executor: &Polling<'_>) -> Polled;

    /// Drops the future if it has not finished, and tells the handle.
    fn cancel(&self);
}

impl<F, H> Task<H> for TaskCell<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    fn header(&self) -> &TaskHeader<H> {
        &self.header
    }
}

impl<F, H> Run<H> for TaskCell<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    #[inline]
    fn poll(self: Arc<Self>, home: &mut Option<Arc<dyn Run<H>>>, executor: &Polling<'_>) -> Polled {
        let join = &self.header.join.0;
        // A finished task's `queued` stays set for good: this was a tombstone's index.
        if !unfinished(join.load(Ordering::Relaxed)) {
            *home = Some(self);
            return Polled::Tombstone;
        }
        // Clear `queued`, then read the state: an abort is seen here or queues the task
        // again ("An abort is never lost" in the module docs).
        self.header.queued.clear_for_poll();
        let polled = match join.load(Ordering::Acquire) {
            ABORTING => {
                let state = self.drop_unfinished();
                let polled = self.header.end_aborted();
                self.publish(state, polled, executor);
                polled
            }
            _ => {
                let started = self.header.begin_poll(executor.id);
                let note = PollNote {
                    task_id: self.header.id.as_u64(),
                    task_name: self.header.name(),
                    executor: executor.name,
                };
                // SAFETY: the guard drops right after the poll, before `note`.
                let published = unsafe { OnThread::publish(executor.on_host.as_ref(), &note) };
                // The task's catch frame: a contained panic in its poll ends here.
                let poll = unwind::catch(|| self.poll_future());
                drop(published);
                let (poll, state) = match poll {
                    Ok(poll) => (poll, DONE),
                    Err(caught) => (self.end_by_panic(caught), PANICKED),
                };
                let polled = self.header.end_poll(executor.id, poll, started);
                if poll.is_ready() {
                    self.publish(state, polled, executor);
                }
                polled
            }
        };
        *home = Some(self);
        polled
    }

    fn cancel(&self) {
        if !unfinished(self.header.join.0.load(Ordering::Relaxed)) {
            return;
        }
        let state = self.drop_unfinished();
        self.finish(state);
    }
}

impl<F, H> TaskCell<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    /// Polls the future (the caller checked the state is `PENDING` and is the slot); on
    /// completion, replaces it by its output (which the caller then publishes).
    #[inline]
    fn poll_future(self: &Arc<Self>) -> Poll<()> {
        let waker = waker_ref(self);
        let mut context = Context::from_waker(&waker);
        // SAFETY: `PENDING`, and the caller is the task's slot: the stage is ours alone
        // (module docs).
        let stage = unsafe { &mut *self.stage.get() };
        let Stage::Running(future) = stage else {
            return Poll::Ready(()); // never: the stage is `Running` while `PENDING`
        };
        // SAFETY: the future is never moved: it lives in the `Arc`'s block, is polled in
        // place and is only ever dropped in place (replaced below, or in `cancel`).
        let future = unsafe { Pin::new_unchecked(future) };
        let Poll::Ready(output) = future.poll(&mut context) else {
            return Poll::Pending;
        };
        replace_stage(stage, Stage::Finished(output)); // drops the future in place
        Poll::Ready(())
    }

    /// Drops the future of a task that is cancelled (the caller checked the task is
    /// unfinished and is the slot) and returns the state the caller then publishes:
    /// `CANCELLED`, or `PANICKED` if the future's destructor panicked (contained like a
    /// panic in its poll: the executor, its thread and its other tasks go on, and the
    /// handle gets the report).
    fn drop_unfinished(&self) -> u8 {
        // SAFETY: `PENDING` or `ABORTING`, and we are called by the task's slot (`Run` is
        // private to this file): the stage is ours alone (module docs).
        let stage = unsafe { &mut *self.stage.get() };
        match unwind::catch(|| replace_stage(stage, Stage::Empty)) {
            Ok(()) => CANCELLED,
            Err(caught) => {
                *stage = Stage::Panicked(caught.report().keep());
                PANICKED
            }
        }
    }

    /// The poll panicked and the panic was caught: drops the future (still as part of the
    /// panic: a panic in its destructor is fatal, see `thread::unwind`) and keeps the
    /// report for the handle; the caller then publishes `PANICKED`.
    #[cold]
    #[inline(never)]
    fn end_by_panic(&self, caught: Caught) -> Poll<()> {
        // SAFETY: `PENDING` or `ABORTING` (a poll publishes its end only after this), and
        // the caller is the task's slot: the stage is ours alone (module docs).
        let stage = unsafe { &mut *self.stage.get() };
        replace_stage(stage, Stage::Empty); // drops the future in place
        *stage = Stage::Panicked(caught.report().keep());
        drop(caught);
        Poll::Ready(())
    }

    /// Publishes the end of a poll that finished the task (`polled`: done, or done with a
    /// wake queued meanwhile) as `state`: gives its place in the executor's capacity back
    /// first when the executor frees its slot right after this poll (`Polled::Done`), so
    /// that whoever sees the handle resolve can spawn in its place. (A tombstone keeps its
    /// slot, and its place, until its queued index is popped: `TaskTable::poll`.)
    fn publish(&self, state: u8, polled: Polled, executor: &Polling<'_>) {
        if polled == Polled::Done {
            executor.tasks.fetch_sub(1, Ordering::AcqRel);
        }
        self.finish(state);
    }

    /// Leaves `PENDING` for `state` (publishing the stage) and wakes the handle. The
    /// handle's waker is someone else's code: if its `wake` panics, the panic is contained
    /// here and logged, and the executor goes on. If the handle is gone, nobody will take
    /// the output: it is dropped here, on the executor, rather than by whoever lets go of
    /// the task's block last (a waker, in an interrupt handler perhaps).
    ///
    /// **Who drops an output nobody takes.** The state is published and `detached` read
    /// here, `detached` set and the state read by the handle's drop ([`JoinSlot::detach`]),
    /// all `SeqCst`: of the two stores, the one later in their single order is followed
    /// by a load that sees the other, so at least one side sees the output unclaimed, and
    /// the compare-exchange to `TAKEN` lets exactly one of them take it.
    fn finish(&self, state: u8) {
        self.header.join.0.store(state, Ordering::SeqCst);
        if let Err(caught) = unwind::catch(|| self.join_waker.wake()) {
            log::error!("{} (waking a task handle)", caught.report());
        }
        if state != CANCELLED && self.header.join.1.load(Ordering::SeqCst) {
            self.drop_unclaimed(state);
        }
    }

    /// Takes the output (or panic report) of a task in `state` (`DONE` or `PANICKED`)
    /// whose handle is gone, if nobody took it yet, and drops it. A panic in the output's
    /// destructor is contained and logged.
    #[cold]
    #[inline(never)]
    fn drop_unclaimed(&self, state: u8) {
        let join = &self.header.join.0;
        if join
            .compare_exchange(state, TAKEN, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // SAFETY: we moved the state to `TAKEN`: the stage is ours alone, and for good
        // (module docs).
        let stage = unsafe { &mut *self.stage.get() };
        let unclaimed = core::mem::replace(stage, Stage::Empty);
        if let Err(caught) = unwind::catch(move || drop(unclaimed)) {
            log::error!("{} (dropping a task's output)", caught.report());
        }
    }
}

/// Replaces `stage` by `new`, dropping the future or output it held in place. If that
/// drop panics (and the panic is contained), the stage is left `Empty`: its old value was
/// dropped (the rest of its fields by the unwinding) and must never be dropped again.
#[inline(always)]
fn replace_stage<F: Future>(stage: &mut Stage<F>, new: Stage<F>) {
    struct EmptyOnUnwind<F: Future>(*mut Stage<F>);
    impl<F: Future> Drop for EmptyOnUnwind<F> {
        fn drop(&mut self) {
            // SAFETY: only reached while the old value's drop unwinds: the place is valid
            // and holds a dropped value, overwritten without dropping it again.
            unsafe { core::ptr::write(self.0, Stage::Empty) };
        }
    }
    let place: *mut Stage<F> = stage;
    let unwinding = EmptyOnUnwind(place);
    // SAFETY: `place` comes from a `&mut`, so it is valid and ours; its value is dropped
    // once here and then overwritten (by `new`, or by the guard if the drop unwinds).
    unsafe { core::ptr::drop_in_place(place) };
    core::mem::forget(unwinding);
    // SAFETY: as above; the old value was dropped, so nothing is leaked.
    unsafe { core::ptr::write(place, new) };
}

impl<F, H> ArcWake for TaskCell<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.header.wake();
    }
}

impl<F, H> JoinSlot<F::Output> for TaskCell<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    fn is_finished(&self) -> bool {
        self.header.join.is_finished()
    }

    fn abort(&self) {
        let join = &self.header.join.0;
        if join
            .compare_exchange(PENDING, ABORTING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // After the compare-exchange: the poll this queues sees `ABORTING`.
            self.header.wake();
        }
    }

    fn detach(&self) {
        let join = &self.header.join.0;
        // Taken already (the common case: the handle was awaited): nothing to hand over.
        if join.load(Ordering::Relaxed) == TAKEN {
            return;
        }
        self.header.join.1.store(true, Ordering::SeqCst);
        let state = join.load(Ordering::SeqCst);
        if matches!(state, DONE | PANICKED) {
            self.drop_unclaimed(state);
        }
    }

    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, TaskError>> {
        let join = &self.header.join.0;
        let mut state = join.load(Ordering::Acquire);
        if unfinished(state) {
            self.join_waker.register(cx.waker());
            state = join.load(Ordering::Acquire);
            if unfinished(state) {
                return Poll::Pending;
            }
        }
        if state == CANCELLED {
            return Poll::Ready(Err(TaskError::Cancelled));
        }
        let taken = join.compare_exchange(state, TAKEN, Ordering::Acquire, Ordering::Relaxed);
        assert!(
            taken.is_ok() && matches!(state, DONE | PANICKED),
            "TaskHandle polled after it returned the result"
        );
        // SAFETY: we moved the state from `DONE` or `PANICKED` to `TAKEN`: the stage is
        // ours alone, and for good (module docs).
        let stage = unsafe { &mut *self.stage.get() };
        match core::mem::replace(stage, Stage::Empty) {
            Stage::Finished(output) => Poll::Ready(Ok(output)),
            Stage::Panicked(report) => Poll::Ready(Err(TaskError::Panicked(report))),
            _ => unreachable!("a finished task's stage holds its output or its panic"),
        }
    }
}

/// The executor polling a task: its number (for the trace), its name and, when the
/// caller runs on its host thread, the proof of it that publishing the task it polls
/// takes (failure reports name that task).
pub(super) struct Polling<'a> {
    pub(super) id: u64,
    pub(super) name: &'a str,
    pub(super) on_host: Option<OnThread<'a>>,
    /// The executor's count of tasks (spawned, not yet freed), against its capacity.
    pub(super) tasks: &'a AtomicUsize,
}

/// The executor's owning reference to a task, and the only way to poll or cancel it:
/// empty, or one task. Each task has exactly one (made by [`new_task`]). Dropping a full
/// slot cancels the task if it has not finished (its future is dropped, its handle
/// resolves to [`TaskError::Cancelled`]).
pub(super) struct Slot<H: Host>(Option<Arc<dyn Run<H>>>);

impl<H: Host> Slot<H> {
    /// A slot with no task.
    pub(super) const EMPTY: Self = Self(None);

    /// The task's header, if there is a task.
    pub(super) fn header(&self) -> Option<&TaskHeader<H>> {
        self.0.as_deref().map(Task::header)
    }

    /// Another reference to the task, for the listing: it can read the header, never
    /// poll.
    pub(super) fn share(&self) -> Option<Arc<dyn Task<H>>> {
        self.0.clone().map(|task| task as Arc<dyn Task<H>>)
    }

    /// Polls the task (of `executor`), or frees a tombstone; `None` if empty.
    #[inline]
    pub(super) fn poll(&mut self, executor: &Polling<'_>) -> Option<Polled> {
        // Lent out for the poll and put back: the waker borrows this reference.
        Some(self.0.take()?.poll(&mut self.0, executor))
    }

    /// Moves the task out, leaving this slot empty.
    pub(super) fn take(&mut self) -> Self {
        Self(self.0.take())
    }
}

impl<H: Host> Drop for Slot<H> {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.cancel();
        }
    }
}

/// Allocates a task: one block for `header`, `future` and its result; its slot for the
/// executor and its handle for the spawner.
///
/// # Errors
/// `AllocError` when the heap has no room for the block.
pub(super) fn new_task<F, H>(
    header: TaskHeader<H>,
    future: F,
) -> Result<(Slot<H>, TaskHandle<F::Output>), core::alloc::AllocError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Host,
{
    let cell = Arc::try_new(TaskCell {
        header,
        join_waker: AtomicWaker::new(),
        stage: UnsafeCell::new(Stage::Running(future)),
    })?;
    let handle = TaskHandle::new(Arc::clone(&cell) as Arc<dyn JoinSlot<F::Output>>);
    Ok((Slot(Some(cell)), handle))
}
