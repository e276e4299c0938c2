//! Other CPUs' TLBs after an unmap, kept honest without interrupting them.
//!
//! Unmapping flushes the translations of the CPU that unmaps, but other CPUs may still
//! cache translations of the range (a thread that ran there touched its stack). A stale
//! translation is harmless as long as nothing uses its addresses, and nothing does until
//! the range is mapped again: that is when a CPU with a stale entry would write through it
//! into memory that now belongs to someone else (the bug Asterinas fixed in PR #1952). So
//! a range that was unmapped is not handed out again until every online CPU has flushed
//! its whole TLB since the unmap, and nobody waits for that to happen:
//!
//! - the unmapper starts a new *epoch* ([`advance`]) after its unmaps and notes it;
//! - every CPU, at every timer interrupt, flushes its TLB if it has not seen the latest
//!   epoch, and records the epoch it saw ([`catch_up`]);
//! - a CPU in its idle loop counts as caught up ([`enter_idle`]): it uses no translation
//!   of a stack slot (only its own stack and memory that is never unmapped) until it
//!   leaves the loop, and then it catches up before anything else ([`leave_idle`]); an
//!   idle CPU may take no timer interrupt for a long time;
//! - the range is free again once every online CPU has seen the noted epoch
//!   ([`all_caught_up`]), a timer interrupt or two later.
//!
//! Orderings: the page-table write that unmaps comes before the `SeqCst` increment of the
//! epoch; a CPU that reads the new epoch (`Acquire`) flushes after that read, so its page
//! walker can no longer find the old entry; it then publishes the epoch it saw
//! (`Release`), which the reuser reads (`Acquire`) before handing the range out. A CPU
//! coming online flushes and records the epoch before it is marked online.
//!
//! Leaving the idle loop is the store-buffering shape: the CPU clears its idle mark and
//! then reads the epoch; the unmapper advances the epoch and the reuser then reads the
//! mark. Both first writes are locked read-modify-writes (`SeqCst`, full fences on x86),
//! so if the reuser still saw the mark, the leaving CPU's read comes after the advance,
//! sees the new epoch and flushes before it runs anything.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::tlb;

use crate::arch::cpu_local::{self, MAX_CPUS};

/// The latest epoch started.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The epoch each CPU flushed at last, with `IDLE` while it is in its idle loop.
static SEEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The mark in `SEEN` of a CPU in its idle loop.
const IDLE: u64 = 1 << 63;

/// Starts a new epoch, after unmaps whose ranges must not be reused before every CPU
/// flushed; returns it, for [`all_caught_up`].
pub fn advance() -> u64 {
    EPOCH.fetch_add(1, Ordering::SeqCst) + 1
}

/// Flushes this CPU's TLB if an epoch started since it last did. Every CPU calls this at
/// its tick, and once before it goes online.
pub fn catch_up() {
    let epoch = EPOCH.load(Ordering::Acquire);
    let seen = &SEEN[cpu_local::cpu_index() as usize];
    let was = seen.load(Ordering::Relaxed);
    if was & !IDLE < epoch {
        tlb::flush_all();
        seen.store(epoch | (was & IDLE), Ordering::Release);
    }
}

/// This CPU enters its idle loop: it catches up, and counts as caught up until
/// [`leave_idle`].
pub fn enter_idle() {
    catch_up();
    SEEN[cpu_local::cpu_index() as usize].fetch_or(IDLE, Ordering::SeqCst);
}

/// This CPU leaves its idle loop: it stops counting as caught up and catches up (see
/// the module docs for the orderings).
pub fn leave_idle() {
    let seen = &SEEN[cpu_local::cpu_index() as usize];
    if seen.load(Ordering::Relaxed) & IDLE != 0 {
        seen.fetch_and(!IDLE, Ordering::SeqCst);
        catch_up();
    }
}

/// Whether every online CPU has flushed since `epoch` started.
pub fn all_caught_up(epoch: u64) -> bool {
    let mut online = cpu_local::online_mask();
    while online != 0 {
        let cpu = online.trailing_zeros() as usize;
        online &= online - 1;
        let seen = SEEN[cpu].load(Ordering::Acquire);
        if seen & IDLE == 0 && seen < epoch {
            return false;
        }
    }
    true
}

/// Whether other CPUs may hold translations this CPU's flushes do not reach.
pub fn others_online() -> bool {
    cpu_local::online_count() > 1
}
