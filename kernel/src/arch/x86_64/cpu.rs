//! CPU control: the interrupt flag and halting.
//!
//! On the build machine (host unit tests of portable kernel code) the interrupt flag is
//! not the CPU's to change: there the flag functions do nothing and report interrupts as
//! enabled, so interrupt-disabling locks work as plain spinlocks.

#[cfg(target_os = "none")]
use x86_64::instructions::{self, interrupts};

#[cfg(not(target_os = "none"))]
mod interrupts {
    pub(super) fn are_enabled() -> bool {
        true
    }
    pub(super) fn disable() {}
    pub(super) fn enable() {}
    pub(super) fn enable_and_hlt() {}
}

/// Whether interrupts were enabled before [`save_and_disable_interrupts`]; hand it back to
/// [`restore_interrupts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "restore the saved interrupt state"]
pub struct InterruptState {
    was_enabled: bool,
}

impl InterruptState {
    /// The state "interrupts were enabled" (`true`) or "disabled" (`false`), for code that
    /// stores the flag itself.
    pub fn from_enabled(was_enabled: bool) -> Self {
        Self { was_enabled }
    }

    /// Whether interrupts were enabled.
    pub fn were_enabled(self) -> bool {
        self.was_enabled
    }
}

/// Disables interrupts and returns what the flag was, for nesting critical sections.
pub fn save_and_disable_interrupts() -> InterruptState {
    let was_enabled = interrupts::are_enabled();
    interrupts::disable();
    InterruptState { was_enabled }
}

/// Re-enables interrupts if they were enabled when `state` was saved.
pub fn restore_interrupts(state: InterruptState) {
    if state.was_enabled {
        interrupts::enable();
    }
}

/// Disables interrupts on this CPU.
pub fn disable_interrupts() {
    interrupts::disable();
}

/// Whether interrupts are enabled on this CPU.
pub fn interrupts_enabled() -> bool {
    interrupts::are_enabled()
}

/// Enables interrupts on this CPU.
pub fn enable_interrupts() {
    interrupts::enable();
}

/// Enables interrupts and halts until one arrives, as one unit (`sti; hlt`: an interrupt
/// cannot slip in between), and returns after it was handled.
pub fn enable_and_halt() {
    interrupts::enable_and_hlt();
}

/// Stops this CPU for good: interrupts off, halt (again, should an NMI wake it).
pub fn halt_forever() -> ! {
    loop {
        interrupts::disable();
        #[cfg(target_os = "none")]
        instructions::hlt();
    }
}

/// Proof that interrupts are disabled on this CPU: they stay off while the guard lives,
/// and dropping it restores the flag as it was. Code that needs interrupts off takes
/// `&InterruptsDisabled`.
#[derive(Debug)]
pub struct InterruptsDisabled {
    state: InterruptState,
    /// The guard belongs to this CPU's context: neither Send nor Sync.
    _not_send: core::marker::PhantomData<*const ()>,
}

impl InterruptsDisabled {
    /// Disables interrupts until the guard is dropped.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            state: save_and_disable_interrupts(),
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for InterruptsDisabled {
    fn drop(&mut self) {
        restore_interrupts(self.state);
    }
}
