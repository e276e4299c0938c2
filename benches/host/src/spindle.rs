//! Spindle's switch routine between two stacks of this host process.
//!
//! [`PingPong`] owns a second stack whose context (the *peer*) does nothing but switch
//! straight back: each [`PingPong::round_trip`] is exactly two calls of
//! `kernel::arch::context::switch`, main → peer → main, with the kernel's own code. The
//! peer is started with `kernel::arch::context::prepare_switch_frame`, as the kernel's
//! raw-switch benchmark does; its entry takes no argument, so it finds the state it shares
//! with its `PingPong` through a thread-local hand-off at start-up.
//!
//! The kernel requires interrupts to be disabled around `switch`, to protect its
//! scheduler's bookkeeping; the host has no such bookkeeping, and a signal handler that
//! interrupts either context runs on the current stack and returns to it, as it would in
//! any function.

use std::{cell::Cell, ptr};

use kernel::arch::context::{self, SwitchEntry};
use x86_64::VirtAddr;

/// Bytes of the peer's stack: far more than its few words, so there is no need for a
/// guard page.
const STACK_SIZE: usize = 64 * 1024;

/// A 16-byte, 16-byte-aligned piece of a stack.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct StackChunk([u8; 16]);

/// What the two contexts share: their saved stack pointers and what the peer reports.
#[derive(Debug, Default)]
struct Shared {
    main_rsp: u64,
    peer_rsp: u64,
    /// Times the peer was resumed after its start.
    round_trips: u64,
    /// Address of a local of the peer, once started: proof it runs on its own stack.
    peer_local: u64,
}

thread_local! {
    /// The `Shared` of the peer being started on this thread, taken by the peer's first
    /// instructions (`PingPong::with_entry` sets it just before switching to the peer).
    static STARTING: Cell<*mut Shared> = const { Cell::new(ptr::null_mut()) };
}

/// A second context on its own stack, which switches straight back whenever resumed.
///
/// Everything is reached through raw pointers from `Box::into_raw`: both contexts write
/// the shared state, and neither holds a reference to it across a switch. Not `Send`
/// (raw pointers): the peer lives on this thread's stack switches.
#[derive(Debug)]
pub struct PingPong {
    shared: *mut Shared,
    stack: *mut [StackChunk],
}

impl PingPong {
    /// Allocates the peer's stack and starts it (one switch there and back).
    pub fn new() -> Self {
        Self::with_entry(peer_entry)
    }

    /// Like [`PingPong::new`], with an `entry` that must end in [`peer_main`].
    fn with_entry(entry: SwitchEntry) -> Self {
        let shared = Box::into_raw(Box::<Shared>::default());
        let stack = Box::into_raw(vec![StackChunk([0; 16]); STACK_SIZE / 16].into_boxed_slice());
        let stack_top = VirtAddr::from_ptr(stack.cast::<StackChunk>().wrapping_add(stack.len()));
        // SAFETY: the stack is a fresh allocation owned by this `PingPong`, 16-byte
        // aligned at both ends, and freed only on drop, after which the peer is never
        // resumed (it is resumed only by `round_trip`, through `&mut self`).
        let peer_rsp = unsafe { context::prepare_switch_frame(stack_top, entry) };
        // SAFETY: `shared` comes from `Box::into_raw` and is freed only on drop.
        unsafe { (*shared).peer_rsp = peer_rsp };
        STARTING.set(shared);
        // SAFETY: as in `round_trip`; `peer_rsp` is the frame just made, so this first
        // switch runs the entry, which takes `shared` from `STARTING` (this thread) and
        // switches back after recording where its stack is.
        unsafe { context::switch(&raw mut (*shared).main_rsp, peer_rsp) };
        Self { shared, stack }
    }

    /// Switches to the peer and back: two switches. Returns how many round trips the peer
    /// has seen, this one included.
    #[inline]
    pub fn round_trip(&mut self) -> u64 {
        let shared = self.shared;
        // SAFETY: `shared` lives until drop. `peer_rsp` was saved by the peer's last
        // `switch` (in `peer_main`), which is suspended there and resumed only here, once
        // per save; `main_rsp` is valid for the write and read back by the peer's next
        // switch before this call returns. The interrupt requirement protects the
        // kernel's scheduler, which does not exist here (see the module docs).
        unsafe {
            context::switch(&raw mut (*shared).main_rsp, (*shared).peer_rsp);
            (*shared).round_trips
        }
    }

    /// Address of a local variable of the peer.
    #[cfg(test)]
    fn peer_local(&self) -> u64 {
        // SAFETY: `shared` lives until drop; the peer is suspended while `self` is used.
        unsafe { (*self.shared).peer_local }
    }

    /// The peer's stack, as addresses.
    #[cfg(test)]
    fn stack_range(&self) -> std::ops::Range<u64> {
        let start = self.stack.cast::<StackChunk>() as u64;
        start..start + (self.stack.len() * size_of::<StackChunk>()) as u64
    }
}

impl Default for PingPong {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        // SAFETY: both come from `Box::into_raw` in `with_entry` and are freed once. The
        // peer is suspended in `switch` and never resumed again; its stack holds nothing
        // that needs dropping (`peer_main` keeps only a raw pointer and an integer).
        unsafe {
            drop(Box::from_raw(self.stack));
            drop(Box::from_raw(self.shared));
        }
    }
}

/// The peer's entry, reached by the first switch's `ret`.
extern "sysv64" fn peer_entry() -> ! {
    peer_main()
}

/// The peer: take the shared state, say where its stack is, then switch back whenever
/// resumed, counting.
fn peer_main() -> ! {
    let shared = STARTING.replace(ptr::null_mut());
    assert!(
        !shared.is_null(),
        "a PingPong peer started without its state"
    );
    let local = 0u8;
    // SAFETY: `shared` is the live state of the `PingPong` that just switched here; that
    // `PingPong` waits in `switch` while this context runs.
    unsafe { (*shared).peer_local = (&raw const local) as u64 };
    loop {
        // SAFETY: `main_rsp` was just saved by the `switch` that resumed this context, and
        // that context waits to be resumed once; `peer_rsp` is valid for the write and is
        // read only by the next `round_trip`. No interrupt bookkeeping here (module docs).
        unsafe {
            context::switch(&raw mut (*shared).peer_rsp, (*shared).main_rsp);
            (*shared).round_trips += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::arch::naked_asm;

    use super::*;

    thread_local! {
        /// rsp at the first instruction of `probe_entry`.
        static ENTRY_RSP: Cell<u64> = const { Cell::new(0) };
    }

    /// An entry that records the exact rsp it starts with, then realigns the stack itself
    /// (so a wrong alignment is reported, not crashed on) and runs the peer.
    #[unsafe(naked)]
    extern "sysv64" fn probe_entry() -> ! {
        naked_asm!(
            "mov rdi, rsp",
            "and rsp, -16",
            "call {record}",
            "ud2",
            record = sym record_entry_rsp,
        )
    }

    extern "sysv64" fn record_entry_rsp(rsp: u64) -> ! {
        ENTRY_RSP.set(rsp);
        peer_main()
    }

    #[test]
    fn round_trips_alternate_and_return() {
        let mut first = PingPong::new();
        let mut second = PingPong::new();
        for expected in 1..=1000 {
            assert_eq!(first.round_trip(), expected);
            assert_eq!(second.round_trip(), expected * 2 - 1);
            assert_eq!(second.round_trip(), expected * 2);
        }
        assert!(first.stack_range().contains(&first.peer_local()));
        assert!(second.stack_range().contains(&second.peer_local()));
        assert!(!first.stack_range().contains(&((&raw const first) as u64)));
    }

    #[test]
    fn the_entry_starts_abi_aligned_below_the_stack_top() {
        let mut ping_pong = PingPong::with_entry(probe_entry);
        let entry_rsp = ENTRY_RSP.get();
        assert_eq!(entry_rsp % 16, 8, "rsp at the entry: {entry_rsp:#x}");
        // Only the entry's zero return address lies above it.
        assert_eq!(entry_rsp + 8, ping_pong.stack_range().end);
        assert_eq!(ping_pong.round_trip(), 1);
    }
}
