//! A slot for a function pointer that the layers above install at run time and interrupt
//! paths call: one atomic word, no lock. It is how `arch` calls upward (interrupt
//! handlers, the preemption hook, the fault reporter) without depending on those layers.

use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};

/// The function pointer types a slot may hold: each is declared so beside its own
/// definition (`interrupts::Handler`, `exception::FaultReporter`, ...), so that this file
/// depends on none of its users.
///
/// # Safety
/// Implementors are function pointer types: one word, the function's address (never
/// null).
pub(crate) unsafe trait FnPointer: Copy {}

// SAFETY: a function pointer type.
unsafe impl FnPointer for fn() {}

/// An optional function pointer of type `F`.
#[derive(Debug)]
pub(crate) struct FnSlot<F: FnPointer> {
    address: AtomicPtr<()>,
    _type: PhantomData<F>,
}

impl<F: FnPointer> FnSlot<F> {
    /// An empty slot.
    pub(crate) const fn empty() -> Self {
        Self {
            address: AtomicPtr::new(ptr::null_mut()),
            _type: PhantomData,
        }
    }

    /// Installs `function` (Release: whatever it relies on is set up first).
    pub(crate) fn set(&self, function: F) {
        const { assert!(size_of::<F>() == size_of::<*mut ()>()) };
        // SAFETY: `F` is a function pointer type (`FnPointer`'s contract), one word
        // holding the function's address (the sizes are checked above).
        let address = unsafe { core::mem::transmute_copy::<F, *mut ()>(&function) };
        self.address.store(address, Ordering::Release);
    }

    /// Removes the function.
    pub(crate) fn clear(&self) {
        self.address.store(ptr::null_mut(), Ordering::Release);
    }

    /// The installed function, if any.
    pub(crate) fn get(&self) -> Option<F> {
        let address = self.address.load(Ordering::Acquire);
        // SAFETY: the only non-null values ever stored are `F`s turned into addresses by
        // `set`, so this turns one back into the `F` it was.
        (!address.is_null()).then(|| unsafe { core::mem::transmute_copy::<*mut (), F>(&address) })
    }
}
