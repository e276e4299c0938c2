//! The run queue: which ready thread runs next. Portable; host-tested.
//!
//! An O(1) priority scheduler with *epochs*, after Linux's O(1) scheduler:
//!
//! - every priority level has a FIFO, and a bitmap says which levels are non-empty, so
//!   `pop` is a find-highest-bit plus a `pop_front`;
//! - there are two sets of levels, *active* and *expired*. A thread that used up its time
//!   slice (or yielded) goes to *expired*; a thread that was woken or preempted with slice
//!   left goes to *active*. `pop` serves *active*, highest level first, round-robin within a
//!   level; when *active* is empty the two sets swap and a new epoch begins.
//!
//! Higher priorities therefore run first within an epoch (and the scheduler gives them
//! longer slices), but every ready thread runs once per epoch: a busy high-priority thread
//! cannot starve a low-priority one.
//!
//! `push` never allocates once [`RunQueue::try_reserve`] has made room for every thread
//! that may be queued, so the scheduler never allocates with interrupts disabled.

use alloc::collections::{TryReserveError, VecDeque};

/// Number of priority levels; level `LEVELS - 1` is the highest.
pub const LEVELS: usize = 8;

/// One set of FIFOs, one per level.
#[derive(Debug)]
struct Levels<T> {
    queues: [VecDeque<T>; LEVELS],
    /// Bit `n` is set iff `queues[n]` is non-empty.
    non_empty: u8,
}

impl<T> Levels<T> {
    const fn new() -> Self {
        Self {
            queues: [const { VecDeque::new() }; LEVELS],
            non_empty: 0,
        }
    }

    fn push(&mut self, level: usize, item: T) {
        self.queues[level].push_back(item);
        self.non_empty |= 1 << level;
    }

    fn pop_highest(&mut self) -> Option<T> {
        let level = (u8::BITS - 1).checked_sub(self.non_empty.leading_zeros())? as usize;
        let item = self.queues[level].pop_front();
        if self.queues[level].is_empty() {
            self.non_empty &= !(1 << level);
        }
        item
    }
}

/// Ready threads (or, in tests, anything) by priority level, in two epochs.
#[derive(Debug)]
pub struct RunQueue<T> {
    sets: [Levels<T>; 2],
    active: usize,
    len: usize,
}

impl<T> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RunQueue<T> {
    /// An empty run queue.
    pub const fn new() -> Self {
        Self {
            sets: [Levels::new(), Levels::new()],
            active: 0,
            len: 0,
        }
    }

    /// Makes sure `total` items fit without allocating, whatever their levels.
    ///
    /// # Errors
    /// When the heap cannot provide the room; the queue is unchanged but for capacity.
    pub fn try_reserve(&mut self, total: usize) -> Result<(), TryReserveError> {
        for queue in self.sets.iter_mut().flat_map(|set| set.queues.iter_mut()) {
            queue.try_reserve(total.saturating_sub(queue.len()))?;
        }
        Ok(())
    }

    /// Queues `item` at `level` in the current epoch: it still has time-slice left.
    ///
    /// # Panics
    /// If `level >= LEVELS`.
    pub fn push_active(&mut self, level: usize, item: T) {
        self.sets[self.active].push(level, item);
        self.len += 1;
    }

    /// Queues `item` at `level` for the next epoch: it used up its time slice.
    ///
    /// # Panics
    /// If `level >= LEVELS`.
    pub fn push_expired(&mut self, level: usize, item: T) {
        self.sets[1 - self.active].push(level, item);
        self.len += 1;
    }

    /// Takes the next item to run: highest level of the current epoch first, starting a
    /// new epoch when the current one is used up.
    pub fn pop(&mut self) -> Option<T> {
        if self.sets[self.active].non_empty == 0 {
            self.active = 1 - self.active;
        }
        let item = self.sets[self.active].pop_highest()?;
        self.len -= 1;
        Some(item)
    }

    /// Queued items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The highest level with an item in the current epoch, if any.
    pub fn highest_active_level(&self) -> Option<usize> {
        let non_empty = self.sets[self.active].non_empty;
        (u8::BITS - 1)
            .checked_sub(non_empty.leading_zeros())
            .map(|level| level as usize)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    fn drain(queue: &mut RunQueue<&'static str>) -> Vec<&'static str> {
        core::iter::from_fn(|| queue.pop()).collect()
    }

    #[test]
    fn higher_levels_first_fifo_within_a_level() {
        let mut queue = RunQueue::new();
        queue.push_active(3, "a3");
        queue.push_active(5, "b5");
        queue.push_active(3, "c3");
        queue.push_active(0, "d0");
        queue.push_active(5, "e5");
        assert_eq!(queue.len(), 5);
        assert_eq!(drain(&mut queue), ["b5", "e5", "a3", "c3", "d0"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn expired_items_wait_for_the_next_epoch() {
        let mut queue = RunQueue::new();
        queue.push_expired(7, "high, expired");
        queue.push_active(0, "low, active");
        assert_eq!(queue.pop(), Some("low, active"));
        assert_eq!(queue.pop(), Some("high, expired"));
        assert_eq!(queue.pop(), None);
    }

    /// A high-priority thread that keeps using its whole slice still lets a low-priority
    /// one run once per epoch.
    #[test]
    fn a_busy_high_level_does_not_starve_a_low_one() {
        let mut queue = RunQueue::new();
        queue.push_active(7, "busy");
        queue.push_active(0, "meek");
        let mut meek_runs = 0;
        for _ in 0..100 {
            let item = queue.pop().unwrap();
            if item == "meek" {
                meek_runs += 1;
            }
            let level = if item == "busy" { 7 } else { 0 };
            queue.push_expired(level, item);
        }
        assert_eq!(meek_runs, 50);
    }

    #[test]
    fn reports_the_highest_active_level() {
        let mut queue = RunQueue::new();
        assert_eq!(queue.highest_active_level(), None);
        queue.push_active(2, "x");
        queue.push_expired(6, "y");
        assert_eq!(queue.highest_active_level(), Some(2));
    }

    #[test]
    fn reserved_room_takes_pushes_without_growing() {
        let mut queue = RunQueue::new();
        queue.try_reserve(64).unwrap();
        let capacity: Vec<usize> = queue
            .sets
            .iter()
            .flat_map(|set| set.queues.iter().map(VecDeque::capacity))
            .collect();
        for i in 0..64 {
            queue.push_active(i % LEVELS, "t");
        }
        let after: Vec<usize> = queue
            .sets
            .iter()
            .flat_map(|set| set.queues.iter().map(VecDeque::capacity))
            .collect();
        assert_eq!(capacity, after);
    }
}
