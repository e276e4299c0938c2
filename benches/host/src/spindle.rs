//! Spindle's switch routine between two stacks of this host process.
//!
//! [`PingPong`] owns a second stack whose context (the *peer*) does nothing but switch
//! straight back: each round trip is exactly two calls of `spindle::arch::context::switch`,
//! main → peer → main, with the kernel's own code. The peer is started with
//! `spindle::arch::context::prepare_switch_frame`, as the kernel's raw-switch benchmark
//! does; its entry takes no argument, so it finds the state it shares with its `PingPong`
//! through a thread-local hand-off at start-up.
//!
//! Where the two contexts call `switch` from ([`CallSites`]) decides what the figure
//! measures. `switch` ends with a `ret` on the *other* context's stack, so it returns to
//! where that context called `switch`, while the CPU's return-stack buffer predicts the
//! return address of the call just made. From the same call site the two are equal and
//! the `ret` is predicted; from different call sites every switch is a mispredicted
//! return, some 20 TSC ticks more per switch on the machine of `BENCHMARKS.md`.
//!
//! The kernel requires interrupts to be disabled around `switch`, to protect its
//! scheduler's bookkeeping; the host has no such bookkeeping, and a signal handler that
//! interrupts either context runs on the current stack and returns to it, as it would in
//! any function.

use std::{cell::Cell, ptr};

use spindle::arch::context::{self, SwitchEntry};
use x86_64::VirtAddr;

/// Bytes of the peer's stack: far more than its few words, so there is no need for a
/// guard page.
const STACK_SIZE: usize = 64 * 1024;

/// A 16-byte, 16-byte-aligned piece of a stack.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct StackChunk([u8; 16]);

/// Where the two contexts of a [`PingPong`] call `switch` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallSites {
    /// Both contexts switch from the one call instruction in `switch_loop`, so every
    /// `ret` goes where the return-stack buffer predicts. The kernel's thread-yield
    /// ping-pong is this case: both threads switch from the same place in the scheduler.
    Same,
    /// The main context switches from `switch_loop`, the peer from its own loop in
    /// `peer_main`, so every `ret` lands on the other call site and is mispredicted. In
    /// the kernel: one thread parks while the other yields, a thread's first run, a
    /// preemption against a voluntary switch.
    Different,
}

/// What the two contexts share: their saved stack pointers and what the peer reports.
///
/// Nothing counts the switches, so that the loops around `switch` do no more than the
/// corosensei workload's around `resume` (a counter in memory would add a load-add-store
/// to every switch). The main context's loop returning proves the round trips: each of
/// its switches returns only when the peer switches back.
#[derive(Debug)]
struct Shared {
    main_rsp: u64,
    peer_rsp: u64,
    /// Where the peer switches from.
    call_sites: CallSites,
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
    /// Allocates the peer's stack and starts it (one switch there and back); the peer
    /// then switches from `call_sites`' place.
    pub fn new(call_sites: CallSites) -> Self {
        Self::with_entry(call_sites, peer_entry)
    }

    /// Like [`PingPong::new`], with an `entry` that must end in [`peer_main`].
    fn with_entry(call_sites: CallSites, entry: SwitchEntry) -> Self {
        let shared = Box::into_raw(Box::new(Shared {
            main_rsp: 0,
            peer_rsp: 0,
            call_sites,
            peer_local: 0,
        }));
        let stack = Box::into_raw(vec![StackChunk([0; 16]); STACK_SIZE / 16].into_boxed_slice());
        let stack_top = VirtAddr::from_ptr(stack.cast::<StackChunk>().wrapping_add(stack.len()));
        // SAFETY: the stack is a fresh allocation owned by this `PingPong`, 16-byte
        // aligned at both ends, and freed only on drop, after which the peer is never
        // resumed (it is resumed only by `round_trips`, through `&mut self`).
        let peer_rsp = unsafe { context::prepare_switch_frame(stack_top, entry) };
        // SAFETY: `shared` comes from `Box::into_raw` and is freed only on drop.
        unsafe { (*shared).peer_rsp = peer_rsp };
        STARTING.set(shared);
        let mut ping_pong = Self { shared, stack };
        // `peer_rsp` is the frame just made, so this first switch runs the entry, which
        // takes `shared` from `STARTING` (this thread) and switches back after recording
        // where its stack is.
        ping_pong.round_trips(1);
        ping_pong
    }

    /// `count` round trips to the peer and back: `2 * count` switches.
    pub fn round_trips(&mut self, count: u64) {
        let shared = self.shared;
        // SAFETY: `shared` lives until drop. `peer_rsp` is a frame made by
        // `prepare_switch_frame` (first call, from `with_entry`) or saved by the peer's
        // last `switch` (in `switch_loop` or `peer_main`); either is resumed only here,
        // once per save. The peer's next switch saves it again and resumes `main_rsp`,
        // saved by this context's switch.
        unsafe {
            switch_loop(
                &raw mut (*shared).main_rsp,
                &raw const (*shared).peer_rsp,
                count,
            );
        }
    }

    /// Address of a local variable of the peer.
    #[cfg(test)]
    fn peer_local(&self) -> u64 {
        // SAFETY: `shared` lives until drop; the peer is suspended while `self` is used.
        unsafe { (*self.shared).peer_local }
    }

    /// The address the peer's suspended `switch` will return to: the call site it
    /// switched from.
    #[cfg(test)]
    fn peer_return_address(&self) -> u64 {
        // SAFETY: as in `peer_local`; `peer_rsp` points at the peer's saved switch frame,
        // whose seventh word is the return address (`SwitchFrame` in the kernel).
        unsafe { ((*self.shared).peer_rsp as *const u64).add(6).read() }
    }

    /// The peer's stack, as addresses.
    #[cfg(test)]
    fn stack_range(&self) -> std::ops::Range<u64> {
        let start = self.stack.cast::<StackChunk>() as u64;
        start..start + (self.stack.len() * size_of::<StackChunk>()) as u64
    }
}

impl Drop for PingPong {
    fn drop(&mut self) {
        // SAFETY: both come from `Box::into_raw` in `with_entry` and are freed once. The
        // peer is suspended in `switch` and never resumed again; its stack holds nothing
        // that needs dropping (`peer_main` keeps only raw pointers and integers).
        unsafe {
            drop(Box::from_raw(self.stack));
            drop(Box::from_raw(self.shared));
        }
    }
}

/// Switches `count` times from this context (saving it in `*save_rsp`) to the one in
/// `*next_rsp`.
///
/// `#[inline(never)]` keeps it one function with one call of `switch`: every context
/// that runs it switches from the same instruction, which makes [`CallSites::Same`].
///
/// # Safety
/// Each time round, `*next_rsp` must hold a context suspended in `switch` that resumes
/// this one through `*save_rsp` before doing anything else with the shared state; the
/// two pointers must stay valid while either context runs.
#[inline(never)]
unsafe fn switch_loop(save_rsp: *mut u64, next_rsp: *const u64, count: u64) {
    for _ in 0..count {
        // SAFETY: forwarded from the caller; the interrupt requirement protects the
        // kernel's scheduler, which does not exist here (see the module docs).
        unsafe { context::switch(save_rsp, next_rsp.read()) };
    }
}

/// The peer's entry, reached by the first switch's `ret`.
extern "sysv64" fn peer_entry() -> ! {
    peer_main()
}

/// The peer: take the shared state, say where its stack is, then switch back to the main
/// context whenever resumed.
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
    // SAFETY: as above.
    match unsafe { (*shared).call_sites } {
        CallSites::Same => loop {
            // SAFETY: the main context waits in `switch`, saved in `main_rsp`, and after
            // each switch back saves itself there again before resuming this context.
            unsafe {
                switch_loop(
                    &raw mut (*shared).peer_rsp,
                    &raw const (*shared).main_rsp,
                    u64::MAX,
                );
            }
        },
        CallSites::Different => loop {
            // SAFETY: as for `CallSites::Same`: this is `switch_loop`'s body, written out
            // here to make a second call site. No interrupt bookkeeping (module docs).
            unsafe { context::switch(&raw mut (*shared).peer_rsp, (*shared).main_rsp) };
        },
    }
}

#[cfg(test)]
mod tests {
    use std::arch::naked_asm;

    use super::*;

    thread_local! {
        /// rsp at the first instruction of `probe_entry`.
        static ENTRY_RSP: Cell<u64> = const { Cell::new(0) };
        /// Where the main context's suspended `switch` returns to, seen by `probe_entry`.
        static MAIN_RETURN_ADDRESS: Cell<u64> = const { Cell::new(0) };
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
            record = sym record_and_run_peer,
        )
    }

    /// Records the entry's rsp and the main context's return address, then runs the peer.
    extern "sysv64" fn record_and_run_peer(rsp: u64) -> ! {
        ENTRY_RSP.set(rsp);
        let shared = STARTING.get();
        // SAFETY: `shared` is the state of the `PingPong` being started, whose main
        // context is suspended in `switch`: `main_rsp` points at its switch frame, whose
        // seventh word is the return address.
        let main_return = unsafe { ((*shared).main_rsp as *const u64).add(6).read() };
        MAIN_RETURN_ADDRESS.set(main_return);
        peer_main()
    }

    /// The peer's saved stack pointer.
    fn peer_rsp(ping_pong: &PingPong) -> u64 {
        // SAFETY: `shared` lives as long as `ping_pong`.
        unsafe { (*ping_pong.shared).peer_rsp }
    }

    #[test]
    fn round_trips_return_and_leave_each_peer_on_its_stack() {
        for call_sites in [CallSites::Same, CallSites::Different] {
            let mut first = PingPong::new(call_sites);
            let mut second = PingPong::new(call_sites);
            for _ in 0..100 {
                first.round_trips(1);
                second.round_trips(3);
            }
            for ping_pong in [&first, &second] {
                assert!(ping_pong.stack_range().contains(&ping_pong.peer_local()));
                assert!(ping_pong.stack_range().contains(&peer_rsp(ping_pong)));
            }
            assert!(!first.stack_range().contains(&((&raw const first) as u64)));
        }
    }

    #[test]
    fn the_peer_switches_from_the_call_site_asked_for() {
        for call_sites in [CallSites::Same, CallSites::Different] {
            let mut ping_pong = PingPong::with_entry(call_sites, probe_entry);
            ping_pong.round_trips(3);
            let same = ping_pong.peer_return_address() == MAIN_RETURN_ADDRESS.get();
            assert_eq!(same, call_sites == CallSites::Same, "{call_sites:?}");
        }
    }

    #[test]
    fn the_entry_starts_abi_aligned_below_the_stack_top() {
        let ping_pong = PingPong::with_entry(CallSites::Different, probe_entry);
        let entry_rsp = ENTRY_RSP.get();
        assert_eq!(entry_rsp % 16, 8, "rsp at the entry: {entry_rsp:#x}");
        // Only the entry's zero return address lies above it.
        assert_eq!(entry_rsp + 8, ping_pong.stack_range().end);
        assert!(ping_pong.stack_range().contains(&ping_pong.peer_local()));
    }
}
