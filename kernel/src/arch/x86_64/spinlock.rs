//! A spinlock that disables interrupts while held.
//!
//! Each CPU counts the ones it holds (`arch::cpu_local::spinlocks_held`): the scheduler
//! refuses to block or yield a thread that holds one (it would keep it locked while it
//! waits, and everyone else would spin on it).
//!
//! Implemented as a `lock_api` raw mutex so it plugs into crates that are generic over
//! one (the heap allocator) and gets `lock_api`'s guard types for free.
//!
//! Each lock counts the acquisitions that found it taken and had to spin ([`contention`]):
//! one relaxed increment, on the slow path only, so the global locks can be watched.

use core::{
    marker::PhantomData,
    ops::{Deref, DerefMut},
};

use super::{
    cpu::{self, InterruptsDisabled},
    cpu_local,
};
use crate::atomics::{AtomicBool, AtomicU32, Ordering, spin_loop};

/// The raw lock behind [`IrqSpinLock`].
///
/// Acquiring saves the interrupt flag and disables interrupts *before* spinning, and the
/// flag is restored only after the lock is released. Guards must be dropped in reverse
/// order of acquisition (as scopes do): each restores the flag its acquisition saw.
#[derive(Debug)]
pub struct RawIrqSpinLock {
    locked: AtomicBool,
    /// The interrupt flag at acquisition. Written only by the holder, after acquiring,
    /// and read only by the holder, before releasing.
    interrupts_were_enabled: AtomicBool,
    /// Acquisitions that had to wait (wrapping).
    contended: AtomicU32,
}

/// A value protected by a [`RawIrqSpinLock`].
pub type IrqSpinLock<T> = lock_api::Mutex<RawIrqSpinLock, T>;

/// Access to the value of a held [`IrqSpinLock`]; dropping it releases the lock.
pub type IrqSpinLockGuard<'a, T> = lock_api::MutexGuard<'a, RawIrqSpinLock, T>;

// SAFETY: `lock` returns only once this CPU swapped `locked` from false to true, so at most
// one holder exists; `unlock` is only called by that holder (lock_api's contract).
unsafe impl lock_api::RawMutex for RawIrqSpinLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        locked: AtomicBool::new(false),
        interrupts_were_enabled: AtomicBool::new(false),
        contended: AtomicU32::new(0),
    };

    // The guard restores *this* CPU's interrupt flag, so it must not move to another
    // thread (which may run on another CPU).
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let state = cpu::save_and_disable_interrupts();
        self.acquire();
        self.remember(state);
    }

    fn try_lock(&self) -> bool {
        let state = cpu::save_and_disable_interrupts();
        let acquired = self.try_acquire();
        if acquired {
            self.remember(state);
        } else {
            cpu::restore_interrupts(state);
        }
        acquired
    }

    unsafe fn unlock(&self) {
        let state =
            cpu::InterruptState::from_enabled(self.interrupts_were_enabled.load(Ordering::Relaxed));
        self.release();
        cpu::restore_interrupts(state);
    }

    fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed)
    }
}

/// How many acquisitions of `lock` found it taken and had to spin (wrapping at 2^32).
pub fn contention<T: ?Sized>(lock: &IrqSpinLock<T>) -> u32 {
    // SAFETY: only the counter is read; the lock's state is not touched.
    unsafe { lock.raw() }.contended.load(Ordering::Relaxed)
}

impl RawIrqSpinLock {
    /// Spins until this CPU owns the lock (interrupts already off) and counts it held.
    #[inline]
    fn acquire(&self) {
        let mut waited = false;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            if !waited {
                waited = true;
                self.contended.fetch_add(1, Ordering::Relaxed);
            }
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
        cpu_local::spinlock_acquired();
    }

    /// Takes the lock if it is free (interrupts already off), counting it held.
    #[inline]
    fn try_acquire(&self) -> bool {
        let acquired = self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if acquired {
            cpu_local::spinlock_acquired();
        }
        acquired
    }

    /// Gives the lock up (interrupts still off); the caller holds it.
    #[inline]
    fn release(&self) {
        cpu_local::spinlock_released();
        self.locked.store(false, Ordering::Release);
    }

    fn remember(&self, state: cpu::InterruptState) {
        self.interrupts_were_enabled
            .store(state.were_enabled(), Ordering::Relaxed);
    }
}

/// Locks `lock` on a path that already runs with interrupts off (the scheduler's): the
/// flag is neither saved nor restored, which spares the switch path a `pushf`, a `cli`
/// and the test on release. The `irq` borrow keeps interrupts off while the guard lives.
#[inline]
pub fn lock_irqs_off<'a, T>(
    lock: &'a IrqSpinLock<T>,
    _irq: &'a InterruptsDisabled,
) -> IrqsOffGuard<'a, T> {
    // SAFETY: only the raw lock's own acquisition is used; the guard releases it.
    unsafe { lock.raw() }.acquire();
    IrqsOffGuard {
        lock,
        _irq: PhantomData,
        _not_send: PhantomData,
    }
}

/// [`lock_irqs_off`] if nobody holds `lock`, without waiting.
#[inline]
pub fn try_lock_irqs_off<'a, T>(
    lock: &'a IrqSpinLock<T>,
    _irq: &'a InterruptsDisabled,
) -> Option<IrqsOffGuard<'a, T>> {
    // SAFETY: only the raw lock's own acquisition is used; the guard (made only once the
    // lock is held) releases it.
    unsafe { lock.raw() }.try_acquire().then(|| IrqsOffGuard {
        lock,
        _irq: PhantomData,
        _not_send: PhantomData,
    })
}

/// Access to the value of an [`IrqSpinLock`] locked by [`lock_irqs_off`]; dropping it
/// releases the lock and leaves the interrupt flag alone.
#[derive(Debug)]
pub struct IrqsOffGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    _irq: PhantomData<&'a InterruptsDisabled>,
    /// Held by this CPU: it must not move to another thread.
    _not_send: PhantomData<*const ()>,
}

impl<T> Deref for IrqsOffGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no one else reaches the value.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<T> DerefMut for IrqsOffGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only access through it.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

impl<T> Drop for IrqsOffGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: only the raw lock's own release is used; this guard holds the lock.
        unsafe { self.lock.raw() }.release();
    }
}
