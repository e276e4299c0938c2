//! Synchronisation primitives.
//!
//! [`IrqSpinLock`] is the lock for data that interrupt handlers also touch (the serial
//! port, the heap): it disables interrupts while held, so a handler can never spin on a
//! lock its own CPU holds, and a timer interrupt cannot preempt the holder.

mod event;
mod irq_spin;

pub use event::Event;
pub use irq_spin::{IrqSpinLock, IrqSpinLockGuard, RawIrqSpinLock};
