//! Call chains for panic and exception reports: walked with the unwinder over the
//! kernel's unwind tables, kept in a fixed buffer (no allocation: a report may be
//! written because memory ran out), named from the kernel's symbol table when shown.
//!
//! The walk crosses what has unwind information and stops where nothing does:
//!
//! - a trap frame has some (`trap_entry`: it says where the interrupted registers lie),
//!   so a walk started in an exception or interrupt handler goes on into the code that
//!   was interrupted, whose instruction is exact there (not a return address);
//! - a thread's first frame is called from the naked `bootstrap_stage1`, which has none:
//!   the walk ends there (it shows as the last frame);
//! - the boot thread ends at the bootloader's call of the entry point.
//!
//! Every address kept is *inside* the instruction it stands for: a return address less
//! one (the last byte of the call), or the trapped instruction itself. That is what both
//! the symbol lookup and `addr2line` need to name the call's function and line, even for
//! a call that never returns (a `panic!` at the end of a function).

#[cfg(target_os = "none")]
use core::ffi::c_void;
use core::fmt;

use super::{image, symbols};

/// Frames a [`Backtrace`] keeps; the walk goes on (counting) up to `MAX_WALK`.
pub const CAPACITY: usize = 32;
/// Frames a walk visits at most: a corrupted chain could otherwise loop.
#[cfg(any(target_os = "none", test))]
const MAX_WALK: usize = 256;

/// Where the interesting part of the chain starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    /// After the frame of the function that begins at this address (the panic handler,
    /// called by `core::panicking`: its callers are what panicked).
    After(usize),
    /// At the instruction the first trap frame on the way interrupted (exception reports).
    AtTrap,
}

/// A call chain, innermost frame first.
#[derive(Clone, PartialEq, Eq)]
pub struct Backtrace {
    addresses: [usize; CAPACITY],
    len: u8,
    /// Bit `i`: frame `i` is a trapped instruction (it was interrupted there).
    trapped: u32,
    /// Frames seen past the ones kept.
    more: u16,
    /// Whether the walk gave up (after `MAX_WALK` frames) before the chain's end.
    cut: bool,
}

const _: () = assert!(CAPACITY <= u32::BITS as usize);

/// The walk's state, handed to the unwinder's callback.
#[cfg(any(target_os = "none", test))]
struct Walk {
    start: Start,
    started: bool,
    visited: usize,
    trace: Backtrace,
}

impl Backtrace {
    /// No frames.
    pub const EMPTY: Self = Self {
        addresses: [0; CAPACITY],
        len: 0,
        trapped: 0,
        more: 0,
        cut: false,
    };

    /// The calling code's chain from `start` on (on the build machine, for host unit
    /// tests: none).
    #[inline(never)]
    pub fn capture(start: Start) -> Self {
        #[cfg(target_os = "none")]
        {
            let mut walk = Walk::new(start);
            unwinding::abi::_Unwind_Backtrace(each_frame, (&raw mut walk).cast::<c_void>());
            walk.trace
        }
        #[cfg(not(target_os = "none"))]
        {
            let _ = start;
            Self::EMPTY
        }
    }

    /// The frames kept, innermost first: the address and whether it is a trapped
    /// instruction.
    pub fn frames(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        (0..usize::from(self.len)).map(|i| (self.addresses[i], self.trapped & (1 << i) != 0))
    }

    #[cfg(any(target_os = "none", test))]
    fn push(&mut self, address: usize, trapped: bool) {
        match usize::from(self.len) {
            CAPACITY => self.more = self.more.saturating_add(1),
            len => {
                self.addresses[len] = address;
                self.trapped |= u32::from(trapped) << len;
                self.len += 1;
            }
        }
    }
}

#[cfg(any(target_os = "none", test))]
impl Walk {
    fn new(start: Start) -> Self {
        Self {
            start,
            started: false,
            visited: 0,
            trace: Backtrace::EMPTY,
        }
    }

    /// Takes frame `address` (already inside its instruction); `false` ends the walk.
    fn frame(&mut self, address: usize, function: usize, trapped: bool) -> bool {
        self.visited += 1;
        if self.started {
            self.trace.push(address, trapped);
        } else {
            match self.start {
                Start::After(marker) => self.started = function == marker,
                Start::AtTrap if trapped => {
                    self.started = true;
                    self.trace.push(address, trapped);
                }
                Start::AtTrap => {}
            }
        }
        self.trace.cut = self.visited == MAX_WALK;
        !self.trace.cut
    }
}

/// The unwinder's callback, once per frame from the innermost (`_Unwind_Backtrace`
/// itself) outwards, the last one with the address that has no unwind information.
#[cfg(target_os = "none")]
extern "C" fn each_frame(
    context: &unwinding::abi::UnwindContext<'_>,
    walk: *mut c_void,
) -> unwinding::abi::UnwindReasonCode {
    use unwinding::abi::{_Unwind_GetIPInfo, _Unwind_GetRegionStart, UnwindReasonCode};
    // SAFETY: `capture` passes its own `Walk`, alive and not otherwise used while
    // `_Unwind_Backtrace` (which calls this) runs.
    let walk = unsafe { &mut *walk.cast::<Walk>() };
    let mut exact = 0;
    let address = _Unwind_GetIPInfo(context, &mut exact);
    if address == 0 {
        return UnwindReasonCode::END_OF_STACK;
    }
    let trapped = exact != 0;
    let address = if trapped { address } else { address - 1 };
    match walk.frame(address, _Unwind_GetRegionStart(context), trapped) {
        true => UnwindReasonCode::NO_REASON,
        false => UnwindReasonCode::NORMAL_STOP,
    }
}

impl fmt::Display for Backtrace {
    /// One line per frame, `#3 0x0000010000012345 crate::module::function+0x2f` (a run of
    /// the same frame, deep recursion, on one line), then the `addr2line` command that gives
    /// their source lines from the kernel's ELF file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            return writeln!(
                f,
                "  backtrace: none (no unwind information where it started)"
            );
        }
        writeln!(f, "  backtrace:")?;
        let frames: [(usize, bool); CAPACITY] =
            core::array::from_fn(|i| (self.addresses[i], self.trapped & (1 << i) != 0));
        let frames = &frames[..usize::from(self.len)];
        let mut first = 0;
        while let Some(&(address, trapped)) = frames.get(first) {
            let run = frames[first..]
                .iter()
                .take_while(|&&frame| frame == frames[first])
                .count();
            match run {
                1 => write!(f, "    #{first:<2} {address:#018x} ")?,
                _ => write!(f, "    #{first}-{} {address:#018x} ", first + run - 1)?,
            }
            match symbols::lookup(address) {
                Some(symbol) => write!(f, "{symbol}")?,
                None => f.write_str("?")?,
            }
            if trapped {
                f.write_str(" (trapped here)")?;
            }
            if run > 1 {
                write!(f, " ({run} times)")?;
            }
            writeln!(f)?;
            first += run;
        }
        match (self.more, self.cut) {
            (0, _) => {}
            (more, false) => writeln!(f, "    ... {more} more frames")?,
            (more, true) => writeln!(f, "    ... {more} more frames, where the walk gave up")?,
        }
        let bias = image::load_bias().unwrap_or(0);
        write!(f, "  source lines: addr2line -e KERNEL -f -C -i")?;
        for (i, (address, _)) in self.frames().enumerate() {
            if !self.addresses[..i].contains(&address) {
                write!(f, " {:#x}", address.wrapping_sub(bias))?;
            }
        }
        writeln!(
            f,
            "\n    (KERNEL: the kernel's ELF file; each address above less the load offset {bias:#x})"
        )
    }
}

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.frames().map(|(address, _)| address as *const ()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{Backtrace, CAPACITY, MAX_WALK, Start, Walk};

    /// Walks frames `(address, function, trapped)` as the unwinder would hand them over.
    fn walk(start: Start, frames: impl IntoIterator<Item = (usize, usize, bool)>) -> Backtrace {
        let mut walk = Walk::new(start);
        for (address, function, trapped) in frames {
            if !walk.frame(address, function, trapped) {
                break;
            }
        }
        walk.trace
    }

    #[test]
    fn a_panic_backtrace_starts_after_the_panic_handler() {
        let trace = walk(
            Start::After(0x100),
            [
                (0x10, 0x0, false),
                (0x110, 0x100, false),
                (0x210, 0x200, false),
                (0x310, 0x300, false),
            ],
        );
        let frames: std::vec::Vec<_> = trace.frames().collect();
        assert_eq!(frames, [(0x210, false), (0x310, false)]);
    }

    #[test]
    fn an_exception_backtrace_starts_at_the_trapped_instruction() {
        let trace = walk(
            Start::AtTrap,
            [
                (0x10, 0x0, false),
                (0x20, 0x0, false),
                (0x500, 0x4f0, true),
                (0x610, 0x600, false),
            ],
        );
        let frames: std::vec::Vec<_> = trace.frames().collect();
        assert_eq!(frames, [(0x500, true), (0x610, false)]);
    }

    #[test]
    fn a_deep_chain_keeps_its_innermost_frames_and_counts_the_rest() {
        let trace = walk(Start::After(0), (0..100).map(|i| (0x1000 + i, 0, false)));
        assert_eq!(trace.frames().count(), CAPACITY);
        assert_eq!(trace.more as usize, 100 - 1 - CAPACITY);
        assert!(!trace.cut);
        let shown = std::format!("{trace}");
        assert!(
            shown.contains(&std::format!("... {} more frames\n", 100 - 1 - CAPACITY)),
            "{shown}"
        );
    }

    #[test]
    fn a_looping_chain_is_given_up_on() {
        let trace = walk(
            Start::After(0),
            core::iter::repeat_n((0x1000, 0, false), 10 * MAX_WALK),
        );
        assert!(trace.cut);
        let shown = std::format!("{trace}");
        assert!(
            shown.contains(&std::format!("#0-{} ", CAPACITY - 1)),
            "{shown}"
        );
        assert!(shown.contains("where the walk gave up"), "{shown}");
    }

    #[test]
    fn frames_are_shown_one_a_line_with_the_addr2line_command() {
        let trace = walk(
            Start::AtTrap,
            [
                (0x500, 0x4f0, true),
                (0x610, 0x600, false),
                (0x610, 0x600, false),
                (0x720, 0x700, false),
            ],
        );
        assert_eq!(
            std::format!("{trace}"),
            "  backtrace:\n\
             \x20   #0  0x0000000000000500 ? (trapped here)\n\
             \x20   #1-2 0x0000000000000610 ? (2 times)\n\
             \x20   #3  0x0000000000000720 ?\n\
             \x20 source lines: addr2line -e KERNEL -f -C -i 0x500 0x610 0x720\n\
             \x20   (KERNEL: the kernel's ELF file; each address above less the load offset 0x0)\n"
        );
        assert_eq!(
            std::format!("{}", Backtrace::EMPTY),
            "  backtrace: none (no unwind information where it started)\n"
        );
    }
}
