//! Deadlines waiting to fire: sleeping threads now, async timers later. Portable;
//! host-tested.
//!
//! Ordered by deadline (ties in insertion order) in a B-tree: insert, cancel and
//! pop-the-earliest are O(log n). The timer interrupt pops whatever is due.

use alloc::collections::BTreeMap;

/// Identifies a pending entry, for [`TimerQueue::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    deadline: u64,
    sequence: u64,
}

/// Items waiting for a deadline (nanoseconds on the monotonic clock).
#[derive(Debug)]
pub struct TimerQueue<T> {
    entries: BTreeMap<TimerKey, T>,
    next_sequence: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
            next_sequence: 0,
        }
    }

    /// Adds `item`, due at `deadline`.
    pub fn insert(&mut self, deadline: u64, item: T) -> TimerKey {
        let key = TimerKey {
            deadline,
            sequence: self.next_sequence,
        };
        self.next_sequence += 1;
        self.entries.insert(key, item);
        key
    }

    /// Removes the entry `key` if it has not fired yet.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.entries.remove(&key)
    }

    /// Takes the earliest entry due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<T> {
        let entry = self.entries.first_entry()?;
        (entry.key().deadline <= now).then(|| entry.remove())
    }

    /// The earliest deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.entries.first_key_value().map(|(key, _)| key.deadline)
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut queue = TimerQueue::new();
        queue.insert(30, "c");
        queue.insert(10, "a");
        queue.insert(20, "b");
        assert_eq!(queue.next_deadline(), Some(10));
        assert_eq!(queue.pop_due(9), None);
        let due: Vec<_> = core::iter::from_fn(|| queue.pop_due(25)).collect();
        assert_eq!(due, ["a", "b"]);
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn equal_deadlines_fire_in_insertion_order() {
        let mut queue = TimerQueue::new();
        for name in ["first", "second", "third"] {
            queue.insert(5, name);
        }
        let due: Vec<_> = core::iter::from_fn(|| queue.pop_due(5)).collect();
        assert_eq!(due, ["first", "second", "third"]);
    }

    #[test]
    fn cancelled_entries_never_fire() {
        let mut queue = TimerQueue::new();
        let key = queue.insert(1, "cancelled");
        queue.insert(2, "kept");
        assert_eq!(queue.cancel(key), Some("cancelled"));
        assert_eq!(queue.cancel(key), None, "cancelling twice finds nothing");
        assert_eq!(queue.pop_due(100), Some("kept"));
        assert!(queue.is_empty());
    }
}
