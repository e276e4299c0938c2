//! Intrusive doubly-linked lists: the node carries its own links, so linking never
//! allocates. Portable; host-tested.
//!
//! This is what lets blocking and waking work with a full heap: a thread waiting on a
//! queue links a node that lives on its own stack, a future links one inside itself, a
//! thread sits in its run queue through links inside its control block. A list only
//! holds pointers; who owns each node, and what keeps it alive while it is linked, is the
//! business of the structure built on the list (every such structure says so).
//!
//! The rules, which the `unsafe` methods state as their contracts:
//!
//! 1. a node is in at most one list at a time, and stays valid and in place (it is
//!    pinned) for as long as it is linked;
//! 2. every access to a list, and to the links of the nodes in it, is serialized by the
//!    lock that guards the list (the list is only reachable through that lock).
//!
//! `Links` and `List` are plain data under those rules: no atomics, no lock of their own.
//!
//! **Checked by:** host tests below; through its users, the wait-queue and inbox models
//! (`task/*/models.rs`).
#![allow(unsafe_code)]

use core::{
    cell::Cell,
    fmt,
    marker::{PhantomData, PhantomPinned},
    ptr::NonNull,
};

/// The links of a node that can sit in one [`List`] at a time.
pub struct Links {
    prev: Cell<Option<NonNull<Links>>>,
    next: Cell<Option<NonNull<Links>>>,
    /// Whether the node is in a list: kept by debug builds only, to catch a node linked
    /// twice or removed twice (the rules above make that impossible in correct code).
    #[cfg(debug_assertions)]
    linked: Cell<bool>,
    /// A linked node's address is in its neighbours: it must not move.
    _pinned: PhantomPinned,
}

// SAFETY: the cells are only read or written by `List` methods, whose contract (rule 2 of
// the module docs) serializes every access to the links of a linked node; an unlinked
// node's links are only touched by whoever links it, under the same rule.
unsafe impl Send for Links {}
// SAFETY: as above: shared references to `Links` give no unsynchronised access.
unsafe impl Sync for Links {}

impl Links {
    /// Links that are in no list.
    pub const fn new() -> Self {
        Self {
            prev: Cell::new(None),
            next: Cell::new(None),
            #[cfg(debug_assertions)]
            linked: Cell::new(false),
            _pinned: PhantomPinned,
        }
    }
}

impl Default for Links {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Links").finish_non_exhaustive()
    }
}

/// A type whose values carry [`Links`] and can therefore sit in a [`List`].
///
/// Implement it with [`linked!`](crate::linked), which gets the offset right.
///
/// # Safety
/// `links` must return the same field of `self` every time, and `from_links` must be
/// its exact inverse: given a pointer to that field of a `Self`, it returns a pointer to
/// the `Self`.
pub unsafe trait Linked {
    /// The node's links.
    fn links(&self) -> &Links;

    /// The node whose links are at `links`.
    ///
    /// # Safety
    /// `links` must point to the links field of a live `Self`.
    unsafe fn from_links(links: NonNull<Links>) -> NonNull<Self>;
}

/// Implements [`Linked`] for a struct through one of its [`Links`] fields:
/// `linked!(WaitNode, links);` or, for generic types, `linked!(impl<H: Host> Task<H>, links);`.
#[macro_export]
macro_rules! linked {
    (impl<$($param:ident $(: $bound:path)?),*> $ty:ty, $field:ident) => {
        // SAFETY: `links` returns the one `$field` field, and `from_links` subtracts
        // that field's offset, which is its exact inverse. (The `unsafe` is this macro's,
        // audited here, so it is allowed wherever the macro is used.)
        #[allow(unsafe_code)]
        unsafe impl<$($param $(: $bound)?),*> $crate::intrusive::Linked for $ty {
            fn links(&self) -> &$crate::intrusive::Links {
                &self.$field
            }

            unsafe fn from_links(
                links: core::ptr::NonNull<$crate::intrusive::Links>,
            ) -> core::ptr::NonNull<Self> {
                // SAFETY: the caller guarantees `links` is the `$field` of a live `Self`,
                // so stepping back by the field's offset stays inside that `Self`.
                unsafe { links.byte_sub(core::mem::offset_of!(Self, $field)).cast() }
            }
        }
    };
    ($ty:ty, $field:ident) => {
        $crate::linked!(impl<> $ty, $field);
    };
}

/// A doubly-linked list of nodes of type `T`, first in, first out.
pub struct List<T: Linked> {
    head: Option<NonNull<Links>>,
    tail: Option<NonNull<Links>>,
    len: usize,
    _nodes: PhantomData<*const T>,
}

// SAFETY: a list is a set of pointers to `T`s that other threads may also reach; sending
// the list to another thread lets that thread reach the nodes, as sharing `&T` would.
unsafe impl<T: Linked + Sync> Send for List<T> {}
// SAFETY: `&List` only allows reading the head, the tail and the length.
unsafe impl<T: Linked + Sync> Sync for List<T> {}

impl<T: Linked> List<T> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            head: None,
            tail: None,
            len: 0,
            _nodes: PhantomData,
        }
    }

    /// Whether no node is linked.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Nodes linked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The first node.
    pub fn front(&self) -> Option<NonNull<T>> {
        // SAFETY: linked links belong to live nodes (rule 1).
        self.head.map(|links| unsafe { T::from_links(links) })
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    /// `node` must be valid, in no list, and stay valid and in place until it is removed
    /// (rule 1); the caller holds what serializes access to this list (rule 2).
    pub unsafe fn push_back(&mut self, node: NonNull<T>) {
        // SAFETY: `node` is valid (the caller's contract).
        let links = unsafe { node.as_ref() }.links();
        #[cfg(debug_assertions)]
        {
            assert!(!links.linked.get(), "a node is linked twice");
            links.linked.set(true);
        }
        links.prev.set(self.tail);
        links.next.set(None);
        let links = NonNull::from(links);
        match self.tail {
            // SAFETY: the tail is a linked, therefore live, node.
            Some(tail) => unsafe { tail.as_ref() }.next.set(Some(links)),
            None => self.head = Some(links),
        }
        self.tail = Some(links);
        self.len += 1;
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    /// `node` must be linked in this list; the caller holds what serializes access to it.
    pub unsafe fn remove(&mut self, node: NonNull<T>) {
        // SAFETY: a linked node is live (rule 1).
        let links = unsafe { node.as_ref() }.links();
        #[cfg(debug_assertions)]
        {
            assert!(links.linked.get(), "removing a node that is not linked");
            links.linked.set(false);
        }
        let (prev, next) = (links.prev.get(), links.next.get());
        match prev {
            // SAFETY: neighbours of a linked node are linked, therefore live.
            Some(prev) => unsafe { prev.as_ref() }.next.set(next),
            None => self.head = next,
        }
        match next {
            // SAFETY: as above.
            Some(next) => unsafe { next.as_ref() }.prev.set(prev),
            None => self.tail = prev,
        }
        links.prev.set(None);
        links.next.set(None);
        self.len -= 1;
    }

    /// Unlinks and returns the first node.
    pub fn pop_front(&mut self) -> Option<NonNull<T>> {
        let node = self.front()?;
        // SAFETY: `node` is this list's head, so it is linked here.
        unsafe { self.remove(node) };
        Some(node)
    }

    /// The node after `node`, if any.
    ///
    /// # Safety
    /// `node` must be linked in this list; the caller holds what serializes access to it.
    pub unsafe fn next(&self, node: NonNull<T>) -> Option<NonNull<T>> {
        // SAFETY: `node` is linked (the caller's contract), so it and its successor live.
        unsafe { node.as_ref() }
            .links()
            .next
            .get()
            .map(|links| unsafe { T::from_links(links) })
    }

    /// Every node, front to back. Unlinking the node just returned does not disturb the
    /// walk (the successor is read before the node is handed out).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            list: self,
            next: self.front(),
        }
    }

    /// Moves every node of `other` to the back of this list, keeping their order.
    pub fn append(&mut self, other: &mut List<T>) {
        let Some(other_head) = other.head else {
            return;
        };
        match self.tail {
            // SAFETY: both ends are linked, therefore live, nodes.
            Some(tail) => unsafe {
                tail.as_ref().next.set(Some(other_head));
                other_head.as_ref().prev.set(Some(tail));
            },
            None => self.head = Some(other_head),
        }
        self.tail = other.tail;
        self.len += other.len;
        *other = List::new();
    }
}

impl<T: Linked> Default for List<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Linked> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("List").field("len", &self.len).finish()
    }
}

/// The iterator of [`List::iter`].
#[derive(Debug)]
pub struct Iter<'a, T: Linked> {
    list: &'a List<T>,
    next: Option<NonNull<T>>,
}

impl<T: Linked> Iterator for Iter<'_, T> {
    type Item = NonNull<T>;

    fn next(&mut self) -> Option<NonNull<T>> {
        let node = self.next?;
        // SAFETY: `node` was linked in the list when it was read, and the `&List` borrow
        // keeps the list (and so its links) from changing meanwhile.
        self.next = unsafe { self.list.next(node) };
        Some(node)
    }
}

/// A lock-free inbox that many threads push boxed values into and one owner drains, in
/// push order, until it closes it; a push after the close is refused.
///
/// A Treiber stack: pushes compare-and-swap the head (Release, publishing the node), the
/// owner takes the whole stack with one swap (Acquire) and reverses it. There is no
/// single-node pop, so the ABA problem does not arise. Closing swaps in a sentinel that
/// every later push sees; the push that raced with the close either landed before it (and
/// is in what `close` returns) or sees the sentinel and gets its value back: nothing is
/// lost and nothing is accepted after the close.
pub struct Inbox<T> {
    head: crate::atomics::AtomicPtr<InboxNode<T>>,
}

/// A value on its way through an [`Inbox`]: allocate it (fallibly) before pushing.
pub struct InboxNode<T> {
    next: *mut InboxNode<T>,
    value: T,
}

impl<T> fmt::Debug for InboxNode<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxNode").finish_non_exhaustive()
    }
}

impl<T> InboxNode<T> {
    /// A node holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            next: core::ptr::null_mut(),
            value,
        }
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// The head of a closed inbox: an address no node can have (nodes are aligned).
fn closed<T>() -> *mut InboxNode<T> {
    core::ptr::without_provenance_mut(1)
}

// SAFETY: an inbox moves `T`s between threads (pushers to the owner), like a channel.
unsafe impl<T: Send> Send for Inbox<T> {}
// SAFETY: shared access is the atomic head only; values move, never shared.
unsafe impl<T: Send> Sync for Inbox<T> {}

impl<T> Inbox<T> {
    /// An open, empty inbox.
    pub const fn new() -> Self {
        Self {
            head: crate::atomics::AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Adds `node`; gives it back if the inbox is closed.
    ///
    /// # Errors
    /// The node, when the inbox was closed.
    pub fn push(
        &self,
        node: alloc::boxed::Box<InboxNode<T>>,
    ) -> Result<(), alloc::boxed::Box<InboxNode<T>>> {
        use crate::atomics::Ordering;
        let node = alloc::boxed::Box::into_raw(node);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head == closed() {
                // SAFETY: `node` came from `Box::into_raw` above and was never shared.
                return Err(unsafe { alloc::boxed::Box::from_raw(node) });
            }
            // SAFETY: the node is still ours until the exchange below succeeds.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => head = current,
            }
        }
    }

    /// Takes every value pushed so far, oldest first.
    #[inline]
    pub fn take_all(&self) -> Drain<T> {
        use crate::atomics::Ordering;
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            if head.is_null() || head == closed() {
                return Drain::empty();
            }
            match self.head.compare_exchange_weak(
                head,
                core::ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(taken) => return Drain::reversed(taken),
                Err(current) => head = current,
            }
        }
    }

    /// Closes the inbox and takes what was in it, oldest first.
    pub fn close(&self) -> Drain<T> {
        let taken = self.head.swap(closed(), crate::atomics::Ordering::AcqRel);
        match taken.is_null() || taken == closed() {
            true => Drain::empty(),
            false => Drain::reversed(taken),
        }
    }

    /// Whether nothing is waiting (a closed inbox is empty).
    #[inline]
    pub fn is_empty(&self) -> bool {
        let head = self.head.load(crate::atomics::Ordering::Relaxed);
        head.is_null() || head == closed()
    }

    /// Whether the inbox was closed.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.head.load(crate::atomics::Ordering::Relaxed) == closed()
    }
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        drop(self.close());
    }
}

impl<T> fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Values taken out of an [`Inbox`], oldest first; owns them (dropping it drops them).
pub struct Drain<T> {
    next: *mut InboxNode<T>,
}

impl<T> Drain<T> {
    fn empty() -> Self {
        Self {
            next: core::ptr::null_mut(),
        }
    }

    /// Reverses the newest-first chain starting at `head` (taken out of the inbox, so
    /// owned here).
    fn reversed(mut head: *mut InboxNode<T>) -> Self {
        let mut reversed = core::ptr::null_mut();
        while !head.is_null() {
            // SAFETY: every node in a taken chain came from `Box::into_raw` in `push` and
            // is owned by whoever took the chain.
            let next = unsafe { (*head).next };
            // SAFETY: as above.
            unsafe { (*head).next = reversed };
            reversed = head;
            head = next;
        }
        Self { next: reversed }
    }
}

impl<T> Iterator for Drain<T> {
    type Item = alloc::boxed::Box<InboxNode<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: the chain's nodes are owned by this drain (see `reversed`); each is
        // handed out once.
        let node = unsafe { alloc::boxed::Box::from_raw(self.next) };
        self.next = node.next;
        Some(node)
    }
}

impl<T> Drop for Drain<T> {
    fn drop(&mut self) {
        for node in self.by_ref() {
            drop(node);
        }
    }
}

impl<T> fmt::Debug for Drain<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use alloc::{boxed::Box, vec::Vec};

    use super::*;

    struct Node {
        value: u32,
        links: Links,
    }
    crate::linked!(Node, links);

    fn nodes(values: &[u32]) -> Vec<NonNull<Node>> {
        values
            .iter()
            .map(|&value| {
                NonNull::from(Box::leak(Box::new(Node {
                    value,
                    links: Links::new(),
                })))
            })
            .collect()
    }

    fn values(list: &List<Node>) -> Vec<u32> {
        // SAFETY: the test's nodes are leaked boxes, alive for the whole test.
        list.iter()
            .map(|node| unsafe { node.as_ref() }.value)
            .collect()
    }

    #[test]
    fn pushes_pops_and_removes_in_any_position() {
        let all = nodes(&[1, 2, 3, 4, 5]);
        let mut list = List::new();
        for &node in &all {
            // SAFETY: fresh, leaked nodes.
            unsafe { list.push_back(node) };
        }
        assert_eq!(values(&list), [1, 2, 3, 4, 5]);
        // SAFETY: nodes 3, 1 and 5 are linked here.
        unsafe {
            list.remove(all[2]);
            list.remove(all[0]);
            list.remove(all[4]);
        }
        assert_eq!(values(&list), [2, 4]);
        assert_eq!(list.len(), 2);
        assert_eq!(list.pop_front(), Some(all[1]));
        assert_eq!(list.pop_front(), Some(all[3]));
        assert_eq!(list.pop_front(), None);
        assert!(list.is_empty());
        // A removed node can be linked again.
        // SAFETY: node 3 is in no list now.
        unsafe { list.push_back(all[2]) };
        assert_eq!(values(&list), [3]);
    }

    #[test]
    fn append_moves_every_node_in_order() {
        let (first, second) = (nodes(&[1, 2]), nodes(&[3, 4, 5]));
        let (mut a, mut b) = (List::new(), List::new());
        // SAFETY: fresh, leaked nodes, each linked once.
        unsafe {
            first.iter().for_each(|&node| a.push_back(node));
            second.iter().for_each(|&node| b.push_back(node));
        }
        a.append(&mut b);
        assert_eq!(values(&a), [1, 2, 3, 4, 5]);
        assert!(b.is_empty());
        assert_eq!(a.len(), 5);
        // SAFETY: node 3 came over from `b` and is linked in `a`.
        unsafe { a.remove(second[0]) };
        assert_eq!(values(&a), [1, 2, 4, 5]);
    }

    #[test]
    fn removing_during_iteration_keeps_the_walk_going() {
        let all = nodes(&[1, 2, 3, 4]);
        let mut list = List::new();
        // SAFETY: fresh, leaked nodes.
        unsafe { all.iter().for_each(|&node| list.push_back(node)) };
        let mut seen = Vec::new();
        let mut cursor = list.front();
        while let Some(node) = cursor {
            // SAFETY: `node` is linked in `list` until removed just below.
            cursor = unsafe { list.next(node) };
            // SAFETY: leaked node.
            let value = unsafe { node.as_ref() }.value;
            seen.push(value);
            if value % 2 == 0 {
                // SAFETY: `node` is linked in `list`.
                unsafe { list.remove(node) };
            }
        }
        assert_eq!(seen, [1, 2, 3, 4]);
        assert_eq!(values(&list), [1, 3]);
    }

    #[test]
    fn an_inbox_drains_in_push_order_and_refuses_after_close() {
        let inbox = Inbox::new();
        for value in 1..=3 {
            inbox.push(Box::new(InboxNode::new(value))).unwrap();
        }
        let drained: Vec<u32> = inbox.take_all().map(|node| node.into_inner()).collect();
        assert_eq!(drained, [1, 2, 3]);
        assert!(inbox.is_empty());
        inbox.push(Box::new(InboxNode::new(4))).unwrap();
        let left: Vec<u32> = inbox.close().map(|node| node.into_inner()).collect();
        assert_eq!(left, [4]);
        let refused = inbox.push(Box::new(InboxNode::new(5))).unwrap_err();
        assert_eq!(refused.into_inner(), 5);
        assert!(inbox.is_closed());
        assert_eq!(inbox.take_all().count(), 0);
    }

    /// Pushers racing with a close: every value is either drained or handed back, once.
    #[test]
    fn no_value_is_lost_or_accepted_after_a_racing_close() {
        use std::{sync::Arc, thread};
        for _ in 0..50 {
            let inbox = Arc::new(Inbox::new());
            let pushers: Vec<_> = (0..4u32)
                .map(|t| {
                    let inbox = Arc::clone(&inbox);
                    thread::spawn(move || {
                        let mut refused = 0;
                        for i in 0..500 {
                            if inbox.push(Box::new(InboxNode::new(t * 1000 + i))).is_err() {
                                refused += 1;
                            }
                        }
                        refused
                    })
                })
                .collect();
            let mut taken = inbox.take_all().count();
            taken += inbox.close().count();
            let refused: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
            assert_eq!(taken + refused, 4 * 500);
        }
    }
}
