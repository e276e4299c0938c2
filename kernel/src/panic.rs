//! The panic runtime: which panics are contained, and the report of those that are not.
//!
//! A panic in a spawned thread's code, or in an async task's `poll`, unwinds to the catch
//! frame around it (`thread_entry`; the executor's poll): the destructors of the frames in
//! between run (guards release their locks), the thread ends or the task is dropped, and
//! its handle yields the [`PanicReport`](crate::thread::PanicReport). Nothing else is
//! disturbed. Whether a panic may unwind is decided here, in `containment`, and only
//! here; the mechanism (the per-thread record, raising, catching) is `thread::unwind`.
//!
//! Every other panic is fatal, with one format for every kernel binary (default, test and
//! benchmark kernels): a line starting `KERNEL PANIC` with the message and location, a
//! line naming the CPU and thread, a line saying why it was not contained, and QEMU
//! exiting with the failure status. The report is written without taking the serial
//! lock, which the panicking code may hold. On several CPUs the first to fail stops the
//! others (`arch::stop`).
//!
//! **Checked by:** test kernels `panic`, `panic_containment`, `panic_escapes`,
//! `panic_in_irq_handler`, `panic_on_a_small_stack`, `panic_through_extern_c`,
//! `panic_while_unwinding`, `panic_with_spinlock_held`, `panic_dropping_a_task`,
//! `fault_containment`, `task_panic`, `task_page_fault`, `smp_panic`.

use core::sync::atomic::{AtomicU8, Ordering};

/// Why a panic (or a CPU exception in a thread's code, which would become one) cannot be
/// contained. Each case names what unwinding would break.
#[cfg(target_os = "none")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fatal {
    /// The kernel was built without unwinding (see [`check_unwinding`]).
    NoUnwinding,
    /// The panic cannot unwind: raised where unwinding is not allowed (a `nounwind`
    /// function, `extern "C"`), or by a destructor run while unwinding (the compiler turns
    /// that into a non-unwinding panic).
    CannotUnwind,
    /// In an interrupt or exception handler: it runs on behalf of no thread, on top of the
    /// interrupted one, which holds whatever it held.
    InterruptHandler,
    /// With an interrupt-disabling spinlock held (the heap's, the scheduler's, a wait
    /// queue's, an executor's ready queue...): the data it protects is half-updated, and
    /// everyone else spins on it. An out-of-memory panic inside the allocator is this case.
    SpinlockHeld(u32),
    /// With interrupts disabled otherwise: a section that must not be interrupted (the
    /// scheduler's) was cut short.
    InterruptsOff,
    /// With preemption disabled: per-CPU state is being worked on and may be half-done.
    PreemptionDisabled,
    /// While unwinding another panic, or dropping what a panicked task left: a destructor
    /// panicked, so the cleanup itself cannot be trusted (std aborts here too).
    AlreadyUnwinding,
    /// No catch frame above the panic: the boot thread (`main!`'s app function, whose
    /// panic ends the run with failure as a process's would), an idle thread, or code that
    /// runs before the scheduler.
    NoCatchFrame,
    /// Before the boot checked whether the kernel can unwind.
    TooEarly,
    /// Too little stack left for the unwinder (this many bytes, fewer than
    /// [`UNWIND_STACK`]): it would overflow into the guard page, a fatal double fault,
    /// halfway through the destructors.
    StackTooSmall(u64),
    /// Between the panic and its catch frame lies a frame the unwinder cannot cross: an
    /// `extern "C"` function, code without unwind tables, or a function that had values to
    /// drop at a faulting instruction (its cleanups cover calls only, the one way Rust code
    /// unwinds). Its search stopped there, before any destructor ran.
    UncrossableFrame,
    /// The unwinder failed with this reason code (its phase 2 error, 2, after running
    /// destructors: what they cleaned up is half done).
    UnwinderFailed(i32),
    /// A page fault in a stack's guard page (or a dead thread's stack slot): a stack
    /// overflow, and the stack it would unwind is the one that overflowed.
    StackGuard,
}

#[cfg(target_os = "none")]
impl Fatal {
    /// Why the unwinder, given a panic the rule let through, came back with reason `code`
    /// instead of landing in a catch frame (its `UnwindReasonCode`).
    fn unwinder_returned(code: i32) -> Self {
        match code {
            5 => Self::NoCatchFrame,     // END_OF_STACK: the search found no catch frame
            3 => Self::UncrossableFrame, // FATAL_PHASE1_ERROR: the search stopped
            code => Self::UnwinderFailed(code),
        }
    }

    /// What the report's `not contained:` line says, without the figures (a CPU
    /// exception's report takes this; a panic's adds them: [`Display`](core::fmt::Display)).
    const fn reason(self) -> &'static str {
        match self {
            Self::NoUnwinding => "the kernel was built without unwinding (see the warning at boot)",
            Self::CannotUnwind => {
                "this panic cannot unwind (a destructor panicked while unwinding, or a \
                 non-unwinding function)"
            }
            Self::InterruptHandler => "in an interrupt or exception handler",
            Self::SpinlockHeld(_) => "with an interrupt-disabling spinlock held",
            Self::InterruptsOff => "with interrupts disabled",
            Self::PreemptionDisabled => "with preemption disabled",
            Self::AlreadyUnwinding => "while unwinding another panic",
            Self::NoCatchFrame => {
                "no catch frame: not in a spawned thread or a task (main!'s app function, \
                 an idle thread, or boot)"
            }
            Self::TooEarly => "before the boot set up unwinding",
            Self::StackTooSmall(_) => {
                "too little stack left for the unwinder (give the thread a larger stack)"
            }
            Self::UncrossableFrame => {
                "a frame between here and the catch frame cannot be unwound (an `extern \"C\"` \
                 function, code without unwind tables, or a function with values to drop at \
                 a faulting instruction: only calls unwind); nothing was unwound"
            }
            Self::UnwinderFailed(_) => "the unwinder failed",
            Self::StackGuard => "a page fault in a stack's guard page: a stack overflow",
        }
    }
}

#[cfg(target_os = "none")]
impl core::fmt::Display for Fatal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())?;
        match self {
            Self::SpinlockHeld(held) => write!(f, " ({held} held)"),
            Self::StackTooSmall(left) => {
                write!(
                    f,
                    " ({left} bytes of stack left, and unwinding needs {UNWIND_STACK})"
                )
            }
            Self::UnwinderFailed(code) => write!(f, " (reason code {code})"),
            _ => Ok(()),
        }
    }
}

/// Whether this kernel can unwind: set once at boot by [`check_unwinding`] to
/// [`CAN_UNWIND`] or [`CANNOT_UNWIND`].
static UNWINDING: AtomicU8 = AtomicU8::new(NOT_CHECKED);
const NOT_CHECKED: u8 = 0;
const CAN_UNWIND: u8 = 1;
const CANNOT_UNWIND: u8 = 2;

/// The containment rule, for a panic that `can_unwind`, raised where the interrupt flag
/// was `interrupts_on` (a CPU exception asks before it becomes a panic): `Ok` if it may
/// unwind to a catch frame, else why not.
#[cfg(target_os = "none")]
fn containment(can_unwind: bool, interrupts_on: bool) -> Result<(), Fatal> {
    use crate::arch::cpu_local;

    match UNWINDING.load(Ordering::Relaxed) {
        CAN_UNWIND => {}
        NOT_CHECKED => return Err(Fatal::TooEarly),
        _ => return Err(Fatal::NoUnwinding),
    }
    if !can_unwind {
        return Err(Fatal::CannotUnwind);
    }
    if cpu_local::in_interrupt() {
        return Err(Fatal::InterruptHandler);
    }
    match cpu_local::spinlocks_held() {
        0 => {}
        held => return Err(Fatal::SpinlockHeld(held)),
    }
    if !interrupts_on {
        return Err(Fatal::InterruptsOff);
    }
    let thread = crate::thread::unwind::panicking_thread().ok_or(Fatal::NoCatchFrame)?;
    if thread.unwinding {
        return Err(Fatal::AlreadyUnwinding);
    }
    if thread.preemption_disabled {
        return Err(Fatal::PreemptionDisabled);
    }
    if !thread.catch_frame {
        return Err(Fatal::NoCatchFrame);
    }
    if let Some(left) = thread.stack_left.filter(|&left| left < UNWIND_STACK) {
        return Err(Fatal::StackTooSmall(left));
    }
    Ok(())
}

/// Stack the unwinder needs below the panic handler: it walks the frames with a few
/// kilobytes of frame state, in frames of up to 4 KiB (measured: a thread panicking at the
/// top of a 16 KiB stack unwinds, with 12 KiB it overflows; dev build).
#[cfg(target_os = "none")]
const UNWIND_STACK: u64 = 16 * 1024;

/// The rule for a CPU exception in the interrupted code (`arch::fault`): contained as a
/// panic of the interrupted thread when a panic there would be, except a page fault in a
/// stack's guard page. The handler runs on the interrupted thread's stack with the same
/// per-CPU counts, so the rule sees what the faulting code held (an exception inside an
/// interrupt handler counts as in one).
#[cfg(target_os = "none")]
fn fault_containment(fault: &crate::arch::fault::Fault) -> Result<(), &'static str> {
    use crate::arch::vectors::PAGE_FAULT;

    let in_stack_area =
        crate::mm::stack::in_stack_area(x86_64::VirtAddr::new_truncate(fault.address));
    if fault.vector == PAGE_FAULT && in_stack_area {
        return Err(Fatal::StackGuard.reason());
    }
    containment(true, fault.interrupts_on).map_err(Fatal::reason)
}

/// What the kernel tells a user whose crate lacks the unwinding flags.
const HOW_TO_UNWIND: &str = "add to the kernel crate's .cargo/config.toml:\n\
    [unstable]\n\
    build-std = [\"core\", \"alloc\"]\n\
    [target.x86_64-unknown-none]\n\
    rustflags = [\"-Cpanic=unwind\", \"-Cforce-unwind-tables=yes\"]";

/// Checks at boot that panics can unwind (the kernel was built with `-Cpanic=unwind`, has
/// unwind tables, and `core` has them too, so it was built from source), and registers
/// the tables with the unwinder. If not, every panic stays fatal and a warning says how
/// to fix the build.
pub(crate) fn check_unwinding() {
    use crate::arch::unwind_tables::KernelTables;

    let tables = KernelTables::find();
    // A function of `core` that is never inlined away (its address is taken here).
    let core_function = core::fmt::write as fn(_, _) -> _ as usize;
    let missing = if !cfg!(panic = "unwind") {
        Some("it was not built with -Cpanic=unwind")
    } else if tables.is_none_or(|tables| tables.function_count() == 0) {
        Some("it has no unwind tables: -Cforce-unwind-tables=yes is missing")
    } else if !tables.is_some_and(|tables| tables.covers(core_function)) {
        Some("`core` has no unwind tables: it must be built from source (-Zbuild-std)")
    } else {
        None
    };
    match (missing, tables) {
        (None, Some(tables)) => {
            #[cfg(target_os = "none")]
            {
                crate::arch::unwind_tables::register(tables);
                crate::arch::fault::set_fault_containment(fault_containment);
            }
            UNWINDING.store(CAN_UNWIND, Ordering::Relaxed);
            log::debug!(
                "unwind tables at {:#x}: {} functions",
                tables.header(),
                tables.function_count()
            );
        }
        (missing, _) => {
            UNWINDING.store(CANNOT_UNWIND, Ordering::Relaxed);
            log::warn!(
                "panics are not contained, every one stops the machine: {}; {HOW_TO_UNWIND}",
                missing.unwrap_or("no unwind tables")
            );
        }
    }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let interrupts_on = crate::arch::cpu::interrupts_enabled();
    let why = match containment(info.can_unwind(), interrupts_on) {
        // The unwinder returns only if it did not land in a catch frame.
        Ok(()) => Fatal::unwinder_returned(crate::thread::unwind::unwind_current(
            info,
            handler_address(),
        )),
        Err(why) => why,
    };
    fatal(info, why)
}

/// Where the panic handler's code starts: a backtrace of a panic begins with its caller
/// (`core::panicking`, then the code that panicked).
#[cfg(target_os = "none")]
fn handler_address() -> usize {
    panic as fn(&core::panic::PanicInfo<'_>) -> ! as usize
}

/// Rust's allocation-failure handler, as an ordinary panic (the default one panics without
/// unwinding): a thread or task whose allocation fails (`Box::new`, a `Vec` that grows)
/// ends alone, like any other panic. The heap's lock is free again by then; a panic while
/// the allocator holds it is fatal ([`Fatal::SpinlockHeld`]).
#[cfg(target_os = "none")]
#[alloc_error_handler]
fn allocation_failed(layout: core::alloc::Layout) -> ! {
    panic!(
        "memory allocation of {} bytes (align {}) failed",
        layout.size(),
        layout.align()
    )
}

/// The report of a panic that is not contained, and the failure exit.
#[cfg(target_os = "none")]
fn fatal(info: &core::panic::PanicInfo<'_>, why: Fatal) -> ! {
    use crate::arch::{
        backtrace::{self, Backtrace},
        cpu, debug_port, qemu,
        stop::{self, Claim},
    };

    cpu::disable_interrupts();
    match stop::claim_report() {
        Claim::Report => {}
        Claim::Nested => qemu::exit(qemu::ExitCode::Failure),
        Claim::Halt => stop::halt(),
    }
    let location = info.location().map_or(("<unknown>", 0, 0), |location| {
        (location.file(), location.line(), location.column())
    });
    debug_port::print(format_args!(
        "\nKERNEL PANIC at {}:{}:{}: {}\n  on {}\n  not contained: {}\n",
        location.0,
        location.1,
        location.2,
        info.message(),
        crate::thread::setup::RunningContext,
        why,
    ));
    // The walk needs about as much stack as unwinding would: on a thread with less left,
    // it would overflow into the guard page, and the double fault's report would be cut
    // off as a nested failure.
    let stack_left = crate::thread::unwind::panicking_thread().and_then(|thread| thread.stack_left);
    match stack_left.filter(|&left| left < UNWIND_STACK) {
        Some(_) => debug_port::print(format_args!(
            "  backtrace: not taken (too little stack left to walk it)\n"
        )),
        None => debug_port::print(format_args!(
            "{}",
            Backtrace::capture(backtrace::Start::After(handler_address()))
        )),
    }
    qemu::exit(qemu::ExitCode::Failure)
}
