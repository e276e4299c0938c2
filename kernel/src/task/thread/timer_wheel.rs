//! Deadlines waiting to fire: a hashed timing wheel of intrusive timer nodes. Portable;
//! host-tested.
//!
//! Time is cut into *slots* of one tick period. A node armed for a deadline goes into
//! the slot the deadline falls in, bucket `slot % BUCKETS`; a bucket holds the nodes of
//! every lap, each with its own slot and exact deadline. The tick walks the buckets of
//! the slots up to the current one: in a slot that has passed every node of that lap is
//! due; in the current slot only the nodes whose deadline has come fire, and the slot is
//! walked again at the next tick. So:
//!
//! - arming and disarming are O(1) and never allocate: the node lives with whoever waits
//!   (on a sleeping thread's stack, inside a `Sleep` future);
//! - a node fires at the first tick at or after its deadline, never earlier;
//! - nodes due at the same tick fire in the order they were armed;
//! - a tick that comes late (interrupts were off for a while) catches up, visiting each
//!   bucket at most once; what was due fires then, in slot order within the last lap.
//!
//! - the earliest armed deadline ([`TimerWheel::next_deadline`], what the CPU's one-shot
//!   timer is armed for) is kept as a bound that arming keeps exact; after a node is
//!   disarmed or fired it is found again by walking the occupied buckets only (a bitmap
//!   of them), never on the arming path.
//!
//! Each node holds what firing hands back (`E`: a thread to wake, a waker). Firing or
//! disarming moves it out under the wheel's lock, so the node's owner may free the node
//! as soon as it sees, under that lock, that the node is no longer armed.
#![allow(unsafe_code)]

use core::{cell::UnsafeCell, fmt, marker::PhantomPinned, pin::Pin, ptr::NonNull};

use crate::intrusive::{Links, List};

/// Buckets in a wheel: one lap is this many tick periods.
pub const BUCKETS: usize = 256;
/// Words of the bitmap of occupied buckets.
const OCCUPIED_WORDS: usize = BUCKETS / 64;

/// One waiter's entry in a [`TimerWheel`].
pub struct TimerNode<E> {
    links: Links,
    /// Guarded by the lock of the wheel the node is armed in (or owned by the node's
    /// owner while it is not armed).
    state: UnsafeCell<NodeState<E>>,
    _pinned: PhantomPinned,
}
crate::linked!(impl<E> TimerNode<E>, links);

struct NodeState<E> {
    deadline: u64,
    due_slot: u64,
    /// `Some` exactly while the node is armed.
    expiry: Option<E>,
}

// SAFETY: `state` is only accessed under the lock of the wheel the node is armed in, or
// by its owner while it is not armed (see `TimerWheel::arm`'s contract).
unsafe impl<E: Send> Sync for TimerNode<E> {}

impl<E> TimerNode<E> {
    /// A node that is not armed.
    pub const fn new() -> Self {
        Self {
            links: Links::new(),
            state: UnsafeCell::new(NodeState {
                deadline: 0,
                due_slot: 0,
                expiry: None,
            }),
            _pinned: PhantomPinned,
        }
    }
}

impl<E> Default for TimerNode<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> fmt::Debug for TimerNode<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerNode").finish_non_exhaustive()
    }
}

/// Armed timer nodes by due slot (see the module docs).
pub struct TimerWheel<E> {
    buckets: [List<TimerNode<E>>; BUCKETS],
    /// Nanoseconds per slot: the tick period.
    period: u64,
    /// Every slot before this one has been processed (this one maybe in part).
    next_slot: u64,
    armed: usize,
    /// Bit `b`: bucket `b` holds a node.
    occupied: [u64; OCCUPIED_WORDS],
    /// No armed node's deadline is earlier (`u64::MAX` while none is armed).
    earliest: u64,
    /// Whether an armed node's deadline is `earliest` (else it is only a bound).
    earliest_exact: bool,
}

impl<E> TimerWheel<E> {
    /// An empty wheel whose slots are `period` nanoseconds long (at least 1).
    pub const fn new(period: u64) -> Self {
        Self {
            buckets: [const { List::new() }; BUCKETS],
            period: if period == 0 { 1 } else { period },
            next_slot: 0,
            armed: 0,
            occupied: [0; OCCUPIED_WORDS],
            earliest: u64::MAX,
            earliest_exact: true,
        }
    }

    /// The earliest deadline armed, if any. Exact: arming keeps it so at O(1); after a
    /// node went (fired or disarmed) it is found again by walking the occupied buckets.
    pub fn next_deadline(&mut self) -> Option<u64> {
        if self.armed == 0 {
            return None;
        }
        if !self.earliest_exact {
            self.earliest = self.find_earliest();
            self.earliest_exact = true;
        }
        Some(self.earliest)
    }

    /// The earliest deadline over every armed node.
    fn find_earliest(&self) -> u64 {
        let mut earliest = u64::MAX;
        for (word_index, &word) in self.occupied.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let bucket = word_index * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                for node in self.buckets[bucket].iter() {
                    // SAFETY: linked nodes are live (arm's contract) and `&self` stands
                    // for the wheel's lock.
                    let state = unsafe { &*node.as_ref().state.get() };
                    earliest = earliest.min(state.deadline);
                }
            }
        }
        earliest
    }

    /// Notes that a node due at `deadline` left `bucket`.
    fn left(&mut self, bucket: usize, deadline: u64) {
        self.armed -= 1;
        if self.buckets[bucket].is_empty() {
            self.occupied[bucket / 64] &= !(1 << (bucket % 64));
        }
        if self.armed == 0 {
            (self.earliest, self.earliest_exact) = (u64::MAX, true);
        } else if deadline <= self.earliest {
            self.earliest_exact = false;
        }
    }

    /// Changes the slot length. Only while nothing is armed.
    pub fn set_period(&mut self, period: u64) {
        assert_eq!(
            self.armed, 0,
            "changing the period of a wheel with armed nodes"
        );
        self.period = period.max(1);
        self.next_slot = 0;
    }

    /// Armed nodes.
    pub fn len(&self) -> usize {
        self.armed
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// Arms `node` to fire at or after `deadline` (nanoseconds), handing back `expiry`.
    ///
    /// # Safety
    /// `node` must not be armed (in any wheel), and the caller must hold the lock that
    /// guards this wheel. Until the node is fired or disarmed, its owner must not free it
    /// (it is pinned, so it does not move) and must only touch it through this wheel.
    pub unsafe fn arm(&mut self, node: Pin<&TimerNode<E>>, deadline: u64, expiry: E) {
        let due_slot = (deadline / self.period).max(self.next_slot);
        // SAFETY: the node is not armed, so its owner (our caller) has exclusive access.
        let state = unsafe { &mut *node.state.get() };
        debug_assert!(state.expiry.is_none(), "arming an armed timer node");
        state.deadline = deadline;
        state.due_slot = due_slot;
        state.expiry = Some(expiry);
        let index = (due_slot % BUCKETS as u64) as usize;
        // SAFETY: the node is not in any list, and the caller keeps it alive and in place
        // while it is armed; the caller holds this wheel's lock.
        unsafe { self.buckets[index].push_back(NonNull::from(node.get_ref())) };
        self.occupied[index / 64] |= 1 << (index % 64);
        self.armed += 1;
        if deadline < self.earliest {
            // Earlier than every armed node: the exact earliest now.
            (self.earliest, self.earliest_exact) = (deadline, true);
        }
    }

    /// Disarms `node` if it is still armed, handing back its expiry; `None` if it fired
    /// (or was never armed).
    ///
    /// # Safety
    /// If `node` is armed, it must be armed in this wheel; the caller holds its lock.
    pub unsafe fn disarm(&mut self, node: Pin<&TimerNode<E>>) -> Option<E> {
        // SAFETY: under this wheel's lock (the caller's contract).
        let state = unsafe { &mut *node.state.get() };
        let expiry = state.expiry.take()?;
        let index = (state.due_slot % BUCKETS as u64) as usize;
        // SAFETY: an armed node of this wheel is linked in the bucket of its due slot.
        unsafe { self.buckets[index].remove(NonNull::from(node.get_ref())) };
        self.left(index, state.deadline);
        Some(expiry)
    }

    /// The expiry of `node` if it is armed, to update in place.
    ///
    /// # Safety
    /// As for [`disarm`](Self::disarm).
    pub unsafe fn expiry_mut(&mut self, node: Pin<&TimerNode<E>>) -> Option<&mut E> {
        // SAFETY: under this wheel's lock (the caller's contract), which `&mut self`
        // keeps held for as long as the returned borrow lives.
        unsafe { (*node.state.get()).expiry.as_mut() }
    }

    /// Fires one node that is due at `now` (nanoseconds) and returns its expiry, or `None`
    /// when nothing more is due. Call it until it returns `None`.
    pub fn expire(&mut self, now: u64) -> Option<E> {
        let now_slot = now / self.period;
        if self.earliest_exact && now < self.earliest {
            // Nothing is due (the common last call, and every call with nothing armed).
            // No node is in a slot before `now_slot` either (a node's slot is at least
            // its deadline's), so those need no walk, now or later.
            self.next_slot = self.next_slot.max(now_slot);
            return None;
        }
        if now_slot >= self.next_slot + BUCKETS as u64 {
            // Far behind: the last lap's worth of slots visits every bucket once.
            self.next_slot = now_slot + 1 - BUCKETS as u64;
        }
        while self.next_slot <= now_slot {
            let slot = self.next_slot;
            let index = (slot % BUCKETS as u64) as usize;
            let bucket = &mut self.buckets[index];
            let due = bucket.iter().find(|node| {
                // SAFETY: linked nodes are live (arm's contract) and the `&mut self`
                // borrow stands for the wheel's lock.
                let state = unsafe { &*node.as_ref().state.get() };
                state.due_slot <= slot && (slot < now_slot || state.deadline <= now)
            });
            if let Some(node) = due {
                // SAFETY: `node` is linked in `bucket`; its state is ours under the lock.
                let (expiry, deadline) = unsafe {
                    bucket.remove(node);
                    let state = &mut *node.as_ref().state.get();
                    (state.expiry.take(), state.deadline)
                };
                self.left(index, deadline);
                return expiry;
            }
            if slot == now_slot {
                return None; // the current slot is walked again at the next tick
            }
            self.next_slot += 1;
        }
        None
    }
}

impl<E> fmt::Debug for TimerWheel<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("period", &self.period)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::{boxed::Box, vec::Vec};

    use super::*;

    const MS: u64 = 1_000_000;

    fn node() -> Pin<Box<TimerNode<&'static str>>> {
        Box::pin(TimerNode::new())
    }

    fn arm(
        wheel: &mut TimerWheel<&'static str>,
        node: &Pin<Box<TimerNode<&'static str>>>,
        at: u64,
        name: &'static str,
    ) {
        // SAFETY: each test node is armed once at a time, boxed and pinned, and outlives
        // the wheel's use of it (the tests drop the wheel's nodes only after expiring or
        // disarming them).
        unsafe { wheel.arm(node.as_ref(), at, name) };
    }

    fn expire_all(wheel: &mut TimerWheel<&'static str>, now: u64) -> Vec<&'static str> {
        core::iter::from_fn(|| wheel.expire(now)).collect()
    }

    #[test]
    fn fires_when_due_and_never_before() {
        let mut wheel = TimerWheel::new(MS);
        let (a, b, c) = (node(), node(), node());
        arm(&mut wheel, &c, 30 * MS, "c");
        arm(&mut wheel, &a, 10 * MS + 1, "a");
        arm(&mut wheel, &b, 20 * MS, "b");
        assert_eq!(expire_all(&mut wheel, 10 * MS), [] as [&str; 0]);
        assert_eq!(expire_all(&mut wheel, 10 * MS + 1), ["a"]);
        assert_eq!(expire_all(&mut wheel, 11 * MS), [] as [&str; 0]);
        assert_eq!(expire_all(&mut wheel, 25 * MS), ["b"]);
        assert_eq!(wheel.len(), 1);
        assert_eq!(expire_all(&mut wheel, 30 * MS), ["c"]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn nodes_due_in_one_slot_fire_in_arming_order() {
        let mut wheel = TimerWheel::new(MS);
        let nodes: Vec<_> = (0..3).map(|_| node()).collect();
        for (node, name) in nodes.iter().zip(["first", "second", "third"]) {
            arm(&mut wheel, node, 5 * MS, name);
        }
        assert_eq!(expire_all(&mut wheel, 5 * MS), ["first", "second", "third"]);
    }

    #[test]
    fn disarmed_nodes_never_fire() {
        let mut wheel = TimerWheel::new(MS);
        let (gone, kept) = (node(), node());
        arm(&mut wheel, &gone, MS, "gone");
        arm(&mut wheel, &kept, 2 * MS, "kept");
        // SAFETY: armed in this wheel.
        unsafe {
            assert_eq!(wheel.disarm(gone.as_ref()), Some("gone"));
            assert_eq!(
                wheel.disarm(gone.as_ref()),
                None,
                "disarming twice finds nothing"
            );
        }
        assert_eq!(expire_all(&mut wheel, 100 * MS), ["kept"]);
        // SAFETY: as above; a fired node is no longer armed.
        assert_eq!(unsafe { wheel.disarm(kept.as_ref()) }, None);
    }

    #[test]
    fn later_laps_wait_for_their_own_slot() {
        let mut wheel = TimerWheel::new(MS);
        let (soon, next_lap) = (node(), node());
        // Same bucket, one lap apart.
        arm(&mut wheel, &soon, 3 * MS, "soon");
        arm(&mut wheel, &next_lap, (3 + BUCKETS as u64) * MS, "next lap");
        assert_eq!(expire_all(&mut wheel, 3 * MS), ["soon"]);
        assert_eq!(
            expire_all(&mut wheel, (2 + BUCKETS as u64) * MS),
            [] as [&str; 0]
        );
        assert_eq!(
            expire_all(&mut wheel, (3 + BUCKETS as u64) * MS),
            ["next lap"]
        );
    }

    #[test]
    fn a_late_tick_catches_up_on_everything_due() {
        let mut wheel = TimerWheel::new(MS);
        let nodes: Vec<_> = (0..10).map(|_| node()).collect();
        let names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        for (i, (node, name)) in nodes.iter().zip(names).enumerate() {
            arm(&mut wheel, node, (i as u64 * 100 + 1) * MS, name);
        }
        // Ten laps later, in one go: everything fired (in bucket order: a catch-up
        // beyond one lap does not sort).
        let mut fired = expire_all(&mut wheel, 10 * BUCKETS as u64 * MS);
        fired.sort_unstable();
        assert_eq!(fired, names);
        assert!(wheel.is_empty());
    }

    /// A deadline that has passed already fires at the next expiry.
    #[test]
    fn a_deadline_in_the_past_fires_at_the_next_expiry() {
        let mut wheel = TimerWheel::new(MS);
        let late = node();
        assert_eq!(expire_all(&mut wheel, 50 * MS), [] as [&str; 0]);
        arm(&mut wheel, &late, 10 * MS, "late");
        assert_eq!(expire_all(&mut wheel, 50 * MS), ["late"]);
    }

    #[test]
    fn the_next_deadline_is_the_earliest_armed_one_whatever_leaves() {
        let mut wheel = TimerWheel::new(MS);
        assert_eq!(wheel.next_deadline(), None);
        let (a, b, c, far) = (node(), node(), node(), node());
        arm(&mut wheel, &b, 20 * MS + 5, "b");
        assert_eq!(wheel.next_deadline(), Some(20 * MS + 5));
        arm(&mut wheel, &far, (3 * BUCKETS as u64 + 7) * MS, "far");
        arm(&mut wheel, &a, 10 * MS + 3, "a");
        arm(&mut wheel, &c, 30 * MS, "c");
        assert_eq!(wheel.next_deadline(), Some(10 * MS + 3));
        // SAFETY: armed in this wheel.
        assert_eq!(unsafe { wheel.disarm(a.as_ref()) }, Some("a"));
        assert_eq!(wheel.next_deadline(), Some(20 * MS + 5));
        assert_eq!(expire_all(&mut wheel, 25 * MS), ["b"]);
        assert_eq!(wheel.next_deadline(), Some(30 * MS));
        assert_eq!(expire_all(&mut wheel, 30 * MS), ["c"]);
        // Laps ahead: found all the same.
        assert_eq!(wheel.next_deadline(), Some((3 * BUCKETS as u64 + 7) * MS));
        // SAFETY: armed in this wheel.
        assert_eq!(unsafe { wheel.disarm(far.as_ref()) }, Some("far"));
        assert_eq!(wheel.next_deadline(), None);
    }

    /// Within the current slot, only what is due fires; the rest waits for a later tick.
    #[test]
    fn the_current_slot_fires_only_what_is_due() {
        let mut wheel = TimerWheel::new(MS);
        let (early, late) = (node(), node());
        arm(&mut wheel, &late, 7 * MS + 900_000, "late");
        arm(&mut wheel, &early, 7 * MS + 100_000, "early");
        assert_eq!(expire_all(&mut wheel, 7 * MS + 500_000), ["early"]);
        assert_eq!(expire_all(&mut wheel, 7 * MS + 899_999), [] as [&str; 0]);
        assert_eq!(expire_all(&mut wheel, 8 * MS + 100), ["late"]);
    }

    /// Random arming, disarming and expiring (deadlines up to two laps ahead, time
    /// moving by up to a lap) against a list: what is due fires at the first expiry after
    /// its deadline, nothing fires early, and the next deadline is always the least armed.
    #[test]
    fn random_use_matches_a_plain_list() {
        const NAMES: [&str; 16] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let mut wheel = TimerWheel::new(MS);
        let nodes: Vec<_> = NAMES.iter().map(|_| node()).collect();
        let mut armed: Vec<Option<u64>> = vec![None; NAMES.len()];
        let mut now = 0;
        for _ in 0..20_000 {
            let i = random(NAMES.len() as u64) as usize;
            match (random(3), armed[i]) {
                (0, None) => {
                    let at = now + random(2 * BUCKETS as u64 * MS);
                    arm(&mut wheel, &nodes[i], at, NAMES[i]);
                    armed[i] = Some(at);
                }
                (1, Some(_)) => {
                    // SAFETY: armed in this wheel, which the test owns.
                    assert_eq!(unsafe { wheel.disarm(nodes[i].as_ref()) }, Some(NAMES[i]));
                    armed[i] = None;
                }
                _ => {
                    now += random(BUCKETS as u64 * MS / 4);
                    let mut fired = expire_all(&mut wheel, now);
                    fired.sort_unstable();
                    let mut due: Vec<&str> = (0..NAMES.len())
                        .filter(|&j| armed[j].is_some_and(|at| at <= now))
                        .map(|j| NAMES[j])
                        .collect();
                    due.sort_unstable();
                    assert_eq!(fired, due, "at {now}");
                    for at in &mut armed {
                        *at = at.filter(|&at| at > now);
                    }
                }
            }
            assert_eq!(wheel.next_deadline(), armed.iter().flatten().copied().min());
        }
    }
}
