//! What each CPU exception is called, and a page fault's error code in words: shared by
//! the fatal report (`exception`) and the report of a contained fault (`fault`).

use core::fmt::{self, Display};

/// Mnemonic and name of each exception vector (Intel SDM vol. 3, table 6-1).
const EXCEPTIONS: [(&str, &str); 32] = [
    ("#DE", "Divide Error"),
    ("#DB", "Debug"),
    ("NMI", "Non-Maskable Interrupt"),
    ("#BP", "Breakpoint"),
    ("#OF", "Overflow"),
    ("#BR", "Bound Range Exceeded"),
    ("#UD", "Invalid Opcode"),
    ("#NM", "Device Not Available"),
    ("#DF", "Double Fault"),
    ("--", "Coprocessor Segment Overrun"),
    ("#TS", "Invalid TSS"),
    ("#NP", "Segment Not Present"),
    ("#SS", "Stack-Segment Fault"),
    ("#GP", "General Protection"),
    ("#PF", "Page Fault"),
    ("--", "Reserved"),
    ("#MF", "x87 Floating-Point Error"),
    ("#AC", "Alignment Check"),
    ("#MC", "Machine Check"),
    ("#XM", "SIMD Floating-Point"),
    ("#VE", "Virtualization"),
    ("#CP", "Control Protection"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("--", "Reserved"),
    ("#HV", "Hypervisor Injection"),
    ("#VC", "VMM Communication"),
    ("#SX", "Security"),
    ("--", "Reserved"),
];

/// The mnemonic and name of exception `vector` (< 32).
pub(super) fn name(vector: u8) -> (&'static str, &'static str) {
    EXCEPTIONS
        .get(usize::from(vector))
        .copied()
        .unwrap_or(("--", "Reserved"))
}

/// The page-fault error code, decoded.
pub(super) struct PageFaultCause(pub(super) u64);

impl Display for PageFaultCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |n: u32| self.0 & (1 << n) != 0;
        let presence = if bit(0) {
            "protection violation"
        } else {
            "page not present"
        };
        let access = match (bit(4), bit(1)) {
            (true, _) => "instruction fetch",
            (false, true) => "write",
            (false, false) => "read",
        };
        let mode = if bit(2) { "user" } else { "kernel" };
        write!(f, "{access}, {presence}, {mode} mode")?;
        if bit(3) {
            write!(f, ", reserved bit set in a page-table entry")?;
        }
        Ok(())
    }
}
