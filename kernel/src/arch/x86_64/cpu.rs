//! CPU control: the interrupt flag and halting.

use x86_64::instructions::{self, interrupts};

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

/// Halts with interrupts enabled until one arrives, forever: the idle loop of a CPU with
/// nothing to do. `sti; hlt` is one unit (an interrupt cannot slip in between them).
pub fn idle_forever() -> ! {
    loop {
        interrupts::enable_and_hlt();
    }
}

/// Stops this CPU for good: interrupts off, halt (again, should an NMI wake it).
pub fn halt_forever() -> ! {
    loop {
        interrupts::disable();
        instructions::hlt();
    }
}
