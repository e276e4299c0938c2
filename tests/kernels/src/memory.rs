//! Checking that memory comes back: what the heap holds, measured with the kernel's
//! caches emptied, so that a stack kept for reuse does not count as held.

use core::time::Duration;

use spindle::{
    executor::{self, TaskState},
    mm, thread, time,
};

/// How long [`heap_in_use`] waits for executors to free the tasks that finished.
const SETTLE: Duration = Duration::from_secs(5);

/// Heap bytes and allocations in use now, after `mm::reclaim` emptied the stack cache
/// and every executor freed the tasks that finished.
///
/// A task's handle learns of its end before the executor lets go of it (the executor
/// frees its slot after the poll that published the output), so a caller just woken by
/// a join may measure before another CPU's executor freed that task: it waits (bounded)
/// until no listed task is finished. Past the bound it measures anyway, and the
/// comparison that follows reports what is still held.
pub fn heap_in_use() -> (usize, usize) {
    let deadline = time::now() + SETTLE;
    while time::now() < deadline && finished_tasks_held() {
        thread::yield_now();
    }
    mm::reclaim();
    let usage = mm::usage();
    (usage.bytes, usage.allocations)
}

/// Whether an executor still holds a task that finished (the listing is freed before
/// the caller measures).
fn finished_tasks_held() -> bool {
    executor::tasks()
        .iter()
        .any(|task| task.state == TaskState::Done)
}

/// Panics unless the heap holds exactly what it held at `before` ([`heap_in_use`]).
#[track_caller]
pub fn assert_heap_back_to(before: (usize, usize)) {
    assert_eq!(heap_in_use(), before, "memory left behind");
}
