//! Checking that memory comes back: what the heap holds, measured with the kernel's
//! caches emptied, so that a stack kept for reuse does not count as held.

use spindle::mm;

/// Heap bytes and allocations in use now, after `mm::reclaim` emptied the stack cache.
pub fn heap_in_use() -> (usize, usize) {
    mm::reclaim();
    let usage = mm::usage();
    (usage.bytes, usage.allocations)
}

/// Panics unless the heap holds exactly what it held at `before` ([`heap_in_use`]).
#[track_caller]
pub fn assert_heap_back_to(before: (usize, usize)) {
    assert_eq!(heap_in_use(), before, "memory left behind");
}
