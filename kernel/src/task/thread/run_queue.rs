//! The run queue: which ready thread runs next. Portable; host-tested.
//!
//! Strict priority levels, each a FIFO, with *epochs* for fairness, after Linux's O(1)
//! scheduler, shaped so that a switch pays for neither:
//!
//! - every priority level has a FIFO, and a bitmap says which levels are non-empty, so
//!   `pop` is a find-highest-bit plus an unlink;
//! - there are two sets of levels, *active* and *expired*. A thread that yielded, or was
//!   woken or preempted with slice left, goes to *active*. `pop` serves *active*, highest
//!   level first, round-robin within a level; when *active* is empty the two sets swap
//!   and a new epoch begins;
//! - a thread that used up its time slice (it gets a fresh one) goes to *expired* if a
//!   lower level of *active* (or the next slot) holds a thread, or *expired* does already:
//!   those are owed their turn in this epoch first. Otherwise nothing it could overtake
//!   waits, and it goes to the back of its level in *active*, which is the same order
//!   without an epoch change (round-robin among equals, higher levels still first).
//!
//! A slice is refilled only when it is used up, so within an epoch every thread runs for
//! at most one slice however often it yields or blocks: a busy high-priority thread
//! cannot starve a low-priority one, and every ready thread runs once per epoch. The
//! epoch work (choosing the set, swapping them) happens once per slice, at the tick that
//! uses it up, not at every switch: a yield or a wake is one FIFO push and one pop.
//!
//! One more place jumps the line: the *next slot* ([`RunQueue::push_next`]), for a thread
//! woken by the one that runs now, which usually blocks right after (a reply, a hand-off):
//! the woken thread runs next, without the trip through its level's FIFO (Go's `runnext`).
//! It never overtakes a higher level, and a second wake pushes the first to the back of
//! its level, so it changes only the order within a level, for one thread at a time.
//!
//! The FIFOs are intrusive, singly linked lists through a link inside each item (a
//! thread's control block), so queueing never allocates, on this CPU or from another one,
//! and a push or a pop is a few stores (stealing, which takes from the middle, walks). A queued item is
//! owned by the queue: pushing takes an [`Unqueued`] and `pop` gives one back. The token
//! is the proof that the item's links are free, so pushing needs no `unsafe`; the queue
//! is reached only through the lock that guards it (`&mut self`), so nothing else does.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use core::{cell::Cell, ops::Deref, ptr::NonNull};

/// Number of priority levels; level `LEVELS - 1` is the highest.
pub const LEVELS: usize = 8;

/// A reference to an item that is in no run queue: the right to queue it.
///
/// Made where that is known (an item just created, taken out of a queue, or found
/// `Blocked` by the one wake that makes it `Ready`), and consumed by a push. It is not
/// `Clone`, so one proof queues the item once.
pub struct Unqueued<T>(Arc<T>);

impl<T> Unqueued<T> {
    /// The token for `item`.
    ///
    /// # Safety
    /// `item` must be in no run queue, and no other token for it may exist.
    #[inline(always)]
    pub unsafe fn new(item: Arc<T>) -> Self {
        Self(item)
    }

    /// The reference, giving up the right to queue it.
    #[inline(always)]
    pub fn into_arc(self) -> Arc<T> {
        self.0
    }

    /// The item, as a pointer the queue owns (given back by [`Unqueued::from_raw`]).
    #[inline(always)]
    fn into_raw(self) -> NonNull<T> {
        NonNull::new(Arc::into_raw(self.0).cast_mut()).expect("Arc::into_raw is never null")
    }

    /// # Safety
    /// `item` came from [`Unqueued::into_raw`] and was unlinked from every queue; each
    /// such pointer is given back once.
    #[inline(always)]
    unsafe fn from_raw(item: NonNull<T>) -> Self {
        // SAFETY: the caller's contract: a reference from `Arc::into_raw`, handed back once.
        Self(unsafe { Arc::from_raw(item.as_ptr()) })
    }
}

impl<T> Deref for Unqueued<T> {
    type Target = Arc<T>;

    #[inline(always)]
    fn deref(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T> core::fmt::Debug for Unqueued<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Unqueued")
    }
}

/// An item's place in a run-queue FIFO: the item after it.
pub struct RunLink<T> {
    next: Cell<Option<NonNull<T>>>,
}

impl<T> RunLink<T> {
    /// The link of an item in no queue.
    pub const fn new() -> Self {
        Self {
            next: Cell::new(None),
        }
    }
}

impl<T> Default for RunLink<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> core::fmt::Debug for RunLink<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RunLink")
    }
}

// SAFETY: the cell is read and written only by the run queue holding the item, through
// `&mut RunQueue` (its lock); an item in no queue has its link touched by nobody.
unsafe impl<T> Send for RunLink<T> {}
// SAFETY: as above: `&RunLink` gives no unsynchronised access.
unsafe impl<T> Sync for RunLink<T> {}

/// What can sit in a [`RunQueue`]: a type with a [`RunLink`].
///
/// # Safety
/// `run_link` must return the same field of `self` every time.
pub unsafe trait RunLinked: Sized {
    /// The item's link.
    fn run_link(&self) -> &RunLink<Self>;
}

/// A singly linked FIFO of items the queue owns (see [`Unqueued::into_raw`]).
struct Fifo<T> {
    head: Option<NonNull<T>>,
    tail: Option<NonNull<T>>,
}

impl<T: RunLinked> Fifo<T> {
    const fn new() -> Self {
        Self {
            head: None,
            tail: None,
        }
    }

    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Links `item`, in no FIFO, at the back.
    #[inline(always)]
    fn push_back(&mut self, item: NonNull<T>) {
        // SAFETY: `item` is alive (the queue owns a reference to it from now on), and
        // `&mut self` serializes access to the links of the items in this queue.
        unsafe { item.as_ref() }.run_link().next.set(None);
        match self.tail {
            // SAFETY: as above, for the queued tail.
            Some(tail) => unsafe { tail.as_ref() }.run_link().next.set(Some(item)),
            None => self.head = Some(item),
        }
        self.tail = Some(item);
    }

    #[inline(always)]
    fn pop_front(&mut self) -> Option<NonNull<T>> {
        let item = self.head?;
        // SAFETY: as in `push_back`.
        self.head = unsafe { item.as_ref() }.run_link().next.get();
        if self.head.is_none() {
            self.tail = None;
        }
        Some(item)
    }

    /// Unlinks the first item `wanted` accepts.
    fn remove_first(&mut self, wanted: &impl Fn(&T) -> bool) -> Option<NonNull<T>> {
        let mut previous: Option<NonNull<T>> = None;
        let mut cursor = self.head;
        while let Some(item) = cursor {
            // SAFETY: as in `push_back`.
            let item_ref = unsafe { item.as_ref() };
            let next = item_ref.run_link().next.get();
            if wanted(item_ref) {
                match previous {
                    // SAFETY: as in `push_back`.
                    Some(previous) => unsafe { previous.as_ref() }.run_link().next.set(next),
                    None => self.head = next,
                }
                if next.is_none() {
                    self.tail = previous;
                }
                return Some(item);
            }
            previous = cursor;
            cursor = next;
        }
        None
    }
}

/// One set of FIFOs, one per level.
struct Levels<T: RunLinked> {
    queues: [Fifo<T>; LEVELS],
    /// Bit `n` is set iff `queues[n]` is non-empty.
    non_empty: u8,
}

impl<T: RunLinked> Levels<T> {
    const fn new() -> Self {
        Self {
            queues: [const { Fifo::new() }; LEVELS],
            non_empty: 0,
        }
    }

    /// Links `item` (owned by the queue, in no list) at the back of `level`.
    #[inline(always)]
    fn push(&mut self, level: usize, item: NonNull<T>) {
        let level = level & (LEVELS - 1); // below 8 already: no bounds check
        // The item's link is free: an `Unqueued` was given up for it.
        self.queues[level].push_back(item);
        self.non_empty |= 1 << level;
    }

    /// Unlinks the first item, lowest level first, that `wanted` accepts.
    fn take_lowest(&mut self, wanted: &impl Fn(&T) -> bool) -> Option<NonNull<T>> {
        for level in 0..LEVELS {
            let queue = &mut self.queues[level];
            if let Some(item) = queue.remove_first(wanted) {
                if queue.is_empty() {
                    self.non_empty &= !(1 << level);
                }
                return Some(item);
            }
        }
        None
    }

    #[inline(always)]
    fn pop_highest(&mut self) -> Option<NonNull<T>> {
        let level = (u8::BITS - 1).checked_sub(self.non_empty.leading_zeros())? as usize;
        let level = level & (LEVELS - 1); // it is below 8 already: no bounds check
        let item = self.queues[level].pop_front();
        if self.queues[level].is_empty() {
            self.non_empty &= !(1 << level);
        }
        item
    }
}

/// Ready threads (or, in tests, anything with links) by priority level, in two epochs.
pub struct RunQueue<T: RunLinked> {
    active: Levels<T>,
    expired: Levels<T>,
    /// The item to run next, and its level (see the module docs).
    next: Option<(NonNull<T>, usize)>,
    len: usize,
}

impl<T: RunLinked> Default for RunQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: RunLinked> RunQueue<T> {
    /// An empty run queue.
    pub const fn new() -> Self {
        Self {
            active: Levels::new(),
            expired: Levels::new(),
            next: None,
            len: 0,
        }
    }

    /// Queues `item` at `level` to run next: before the rest of its level and the levels
    /// below, but not before a higher level. An item already in the next slot goes to the
    /// back of its level in the current epoch.
    ///
    /// # Panics
    /// If `level >= LEVELS`.
    #[inline(always)]
    pub fn push_next(&mut self, level: usize, item: Unqueued<T>) {
        assert!(level < LEVELS, "run-queue level {level} out of range");
        if let Some((previous, previous_level)) = self.next.replace((item.into_raw(), level)) {
            // The previous item was linked nowhere while in the slot.
            self.active.push(previous_level, previous);
        }
        self.len += 1;
    }

    /// Queues `item` at `level` in the current epoch: it still has time-slice left.
    #[inline(always)]
    pub fn push_active(&mut self, level: usize, item: Unqueued<T>) {
        self.active.push(level, item.into_raw());
        self.len += 1;
    }

    /// Queues `item` at `level`, which used up its time slice: for the next epoch if a
    /// lower level waits in this one or something waits for the next one already, else
    /// at the back of its level (see the module docs).
    pub fn push_expired(&mut self, level: usize, item: Unqueued<T>) {
        let level = level & (LEVELS - 1);
        let below = (1u8 << level) - 1;
        let lower_waits = self.active.non_empty & below != 0
            || self.next.is_some_and(|(_, next_level)| next_level < level);
        match lower_waits || self.expired.non_empty != 0 {
            true => self.expired.push(level, item.into_raw()),
            false => self.active.push(level, item.into_raw()),
        }
        self.len += 1;
    }

    /// Takes the next item to run: highest level of the current epoch first, starting a
    /// new epoch when the current one is used up.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Unqueued<T>> {
        if let Some((item, level)) = self.next
            // No higher active level: the bitmap is below the next level's bit times two.
            && u32::from(self.active.non_empty) < 2 << level
        {
            self.next = None;
            self.len -= 1;
            // SAFETY: the slot holds a reference from `into_raw` (`push_next`), linked
            // nowhere, handed back exactly once.
            return Some(unsafe { Unqueued::from_raw(item) });
        }
        if self.active.non_empty == 0 {
            if self.expired.non_empty == 0 {
                return None;
            }
            self.new_epoch();
        }
        let item = self.active.pop_highest()?;
        self.len -= 1;
        // SAFETY: every linked item was linked by a push, from `into_raw`, and was just
        // unlinked; popping hands that reference back exactly once.
        Some(unsafe { Unqueued::from_raw(item) })
    }

    /// The current epoch is used up and the next one holds items: it begins (once per
    /// slice at most).
    #[cold]
    #[inline(never)]
    fn new_epoch(&mut self) {
        // Lists hold no pointers to themselves (only nodes to nodes): they move freely.
        core::mem::swap(&mut self.active, &mut self.expired);
    }

    /// Takes an item for another CPU: one that `wanted` accepts, preferring what would
    /// run last here (the next epoch's items, then the lowest levels), whose caches have
    /// cooled the most and whose absence delays this queue the least.
    pub fn steal(&mut self, wanted: impl Fn(&T) -> bool) -> Option<Unqueued<T>> {
        let item = self
            .expired
            .take_lowest(&wanted)
            .or_else(|| self.active.take_lowest(&wanted))
            .or_else(|| self.take_next(&wanted))?;
        self.len -= 1;
        // SAFETY: as in `pop`.
        Some(unsafe { Unqueued::from_raw(item) })
    }

    /// The next slot's item, if `wanted` accepts it.
    fn take_next(&mut self, wanted: &impl Fn(&T) -> bool) -> Option<NonNull<T>> {
        let (item, _) = self.next?;
        // SAFETY: the slot's item is alive (the queue owns a reference to it).
        wanted(unsafe { item.as_ref() }).then(|| {
            self.next = None;
            item
        })
    }

    /// Queued items.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: RunLinked> Drop for RunQueue<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<T: RunLinked> core::fmt::Debug for RunQueue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunQueue").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    struct Item {
        name: &'static str,
        level: usize,
        link: RunLink<Item>,
    }

    // SAFETY: always the same field.
    unsafe impl RunLinked for Item {
        fn run_link(&self) -> &RunLink<Self> {
            &self.link
        }
    }

    fn item(name: &'static str, level: usize) -> Arc<Item> {
        Arc::new(Item {
            name,
            level,
            link: RunLink::new(),
        })
    }

    fn unqueued(item: Arc<Item>) -> Unqueued<Item> {
        // SAFETY: every test item is queued at most once at a time.
        unsafe { Unqueued::new(item) }
    }

    fn push_active(queue: &mut RunQueue<Item>, item: Arc<Item>) {
        queue.push_active(item.level, unqueued(item));
    }

    fn push_expired(queue: &mut RunQueue<Item>, item: Arc<Item>) {
        queue.push_expired(item.level, unqueued(item));
    }

    fn drain(queue: &mut RunQueue<Item>) -> Vec<&'static str> {
        core::iter::from_fn(|| queue.pop())
            .map(|item| item.name)
            .collect()
    }

    #[test]
    fn higher_levels_first_fifo_within_a_level() {
        let mut queue = RunQueue::new();
        for (name, level) in [("a3", 3), ("b5", 5), ("c3", 3), ("d0", 0), ("e5", 5)] {
            push_active(&mut queue, item(name, level));
        }
        assert_eq!(queue.len(), 5);
        assert_eq!(drain(&mut queue), ["b5", "e5", "a3", "c3", "d0"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn expired_items_wait_for_the_next_epoch_behind_lower_levels() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("low, active", 0));
        push_expired(&mut queue, item("high, expired", 7));
        push_active(&mut queue, item("mid, active", 3));
        assert_eq!(
            drain(&mut queue),
            ["mid, active", "low, active", "high, expired"]
        );
    }

    /// Behind something expired already, even an item with nothing below it waits.
    #[test]
    fn expired_items_queue_behind_earlier_expired_ones() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("low", 0));
        push_expired(&mut queue, item("first", 5));
        assert_eq!(queue.pop().unwrap().name, "low");
        push_expired(&mut queue, item("second", 2));
        assert_eq!(drain(&mut queue), ["first", "second"]);
    }

    /// With nothing lower waiting, a used-up slice just ends the turn: round-robin among
    /// equals, no epoch change.
    #[test]
    fn expiring_with_nothing_lower_waiting_goes_to_the_back_of_the_level() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("other", 3));
        push_expired(&mut queue, item("used up", 3));
        push_active(&mut queue, item("woken", 3));
        assert_eq!(drain(&mut queue), ["other", "used up", "woken"]);
    }

    /// A high-priority thread that keeps using its whole slice still lets a low-priority
    /// one run once per epoch.
    #[test]
    fn a_busy_high_level_does_not_starve_a_low_one() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("busy", 7));
        push_active(&mut queue, item("meek", 0));
        let mut meek_runs = 0;
        for _ in 0..100 {
            let item = queue.pop().unwrap();
            if item.name == "meek" {
                meek_runs += 1;
            }
            push_expired(&mut queue, item.into_arc());
        }
        assert_eq!(meek_runs, 50);
    }

    #[test]
    fn stealing_takes_what_would_run_last_and_only_what_is_wanted() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("active high", 6));
        push_active(&mut queue, item("active low", 1));
        push_expired(&mut queue, item("expired high", 5));
        push_expired(&mut queue, item("expired pinned", 2));
        let movable = |item: &Item| item.name != "expired pinned";
        let order: Vec<_> = core::iter::from_fn(|| queue.steal(movable))
            .map(|item| item.name)
            .collect();
        assert_eq!(order, ["expired high", "active low", "active high"]);
        assert_eq!(queue.len(), 1);
        assert_eq!(drain(&mut queue), ["expired pinned"]);
    }

    fn push_next(queue: &mut RunQueue<Item>, item: Arc<Item>) {
        queue.push_next(item.level, unqueued(item));
    }

    #[test]
    fn the_next_slot_runs_first_within_its_level_and_below() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("waiting 3", 3));
        push_active(&mut queue, item("waiting 1", 1));
        push_next(&mut queue, item("woken 3", 3));
        assert_eq!(queue.len(), 3);
        assert_eq!(drain(&mut queue), ["woken 3", "waiting 3", "waiting 1"]);
    }

    #[test]
    fn the_next_slot_never_overtakes_a_higher_level() {
        let mut queue = RunQueue::new();
        push_next(&mut queue, item("woken 2", 2));
        push_active(&mut queue, item("urgent 6", 6));
        push_expired(&mut queue, item("expired 7", 7));
        assert_eq!(drain(&mut queue), ["urgent 6", "woken 2", "expired 7"]);
    }

    #[test]
    fn a_second_wake_sends_the_first_to_the_back_of_its_level() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("waiting", 3));
        push_next(&mut queue, item("first", 3));
        push_next(&mut queue, item("second", 3));
        assert_eq!(queue.len(), 3);
        assert_eq!(drain(&mut queue), ["second", "waiting", "first"]);
    }

    #[test]
    fn the_next_slot_can_be_stolen_last_and_is_dropped_with_the_queue() {
        let mut queue = RunQueue::new();
        let woken = item("woken", 3);
        push_next(&mut queue, Arc::clone(&woken));
        push_active(&mut queue, item("other", 3));
        assert_eq!(queue.steal(|_| true).unwrap().name, "other");
        assert_eq!(queue.steal(|_| true).unwrap().name, "woken");
        assert!(queue.is_empty());
        push_next(&mut queue, Arc::clone(&woken));
        drop(queue);
        assert_eq!(
            Arc::strong_count(&woken),
            1,
            "the slot's reference was dropped"
        );
    }

    #[test]
    fn stealing_keeps_the_level_bitmap_right() {
        let mut queue = RunQueue::new();
        push_active(&mut queue, item("a", 3));
        push_active(&mut queue, item("b", 3));
        assert_eq!(queue.steal(|item| item.name == "b").unwrap().name, "b");
        assert!(queue.steal(|item| item.name == "b").is_none());
        push_active(&mut queue, item("c", 4));
        assert_eq!(drain(&mut queue), ["c", "a"]);
        assert!(queue.steal(|_| true).is_none());
    }

    #[test]
    fn the_queue_holds_a_reference_until_popped_or_dropped() {
        let queued = item("queued", 2);
        let mut queue = RunQueue::new();
        push_active(&mut queue, Arc::clone(&queued));
        assert_eq!(Arc::strong_count(&queued), 2);
        let popped = queue.pop().unwrap();
        assert!(Arc::ptr_eq(&popped, &queued));
        drop(popped);
        assert_eq!(Arc::strong_count(&queued), 1);
        push_active(&mut queue, Arc::clone(&queued));
        drop(queue);
        assert_eq!(
            Arc::strong_count(&queued),
            1,
            "dropping the queue drops its references"
        );
    }
}
