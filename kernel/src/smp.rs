//! Starting the other CPUs: which exist (ACPI's MADT), where they start (the trampoline
//! page), and handing each to the scheduler.
//!
//! The boot CPU starts them one at a time, after its own scheduler, heap and tick run.
//! For each it allocates the stack the CPU will run on (which becomes that CPU's idle
//! thread's), passes it through [`HANDOFF`], starts the CPU (`arch::smp::start_ap`) and
//! waits until the CPU is online: from then on placement may send it threads. A CPU that
//! does not answer stops the bring-up (it may still wake up later, reading the shared
//! trampoline data, so no other CPU may be started through it); the CPUs started so far
//! keep running.

use core::ops::Range;

use spin::Mutex;
use x86_64::PhysAddr;

use crate::{
    acpi,
    arch::{
        apic, cpu_local,
        smp::{self, LOW_PML4_PAGE, LowPages, TRAMPOLINE_PAGE},
        timer::Calibration,
        tsc,
    },
    mm::{self, PAGE_SIZE, stack::KernelStack},
    thread,
};

/// Stack size of each other CPU's first context (then its idle thread).
const AP_STACK_SIZE: usize = 16 * 1024;

/// How long a started CPU may take from running the kernel's code to being online.
const ONLINE_TIMEOUT_MS: u64 = 2_000;

/// The stack for the CPU being started, with its index: the boot CPU puts it here before
/// the start-up IPIs, the CPU takes it in [`ap_main`].
static HANDOFF: Mutex<Option<(u32, KernelStack)>> = Mutex::new(None);

/// Why no other CPU was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpError {
    /// There is no local APIC (or the tick runs from the PIT): other CPUs cannot be
    /// started or given a tick.
    NoApic,
    /// The ACPI tables could not be read.
    Acpi(acpi::AcpiError),
    /// The pages the trampoline needs below 1 MiB are not usable memory.
    LowMemoryTaken,
    /// No memory for the trampoline's mapping.
    OutOfMemory,
}

impl core::fmt::Display for SmpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoApic => f.write_str("no local APIC timer"),
            Self::Acpi(error) => error.fmt(f),
            Self::LowMemoryTaken => write!(
                f,
                "physical pages {TRAMPOLINE_PAGE:#x} and {LOW_PML4_PAGE:#x} are not usable memory"
            ),
            Self::OutOfMemory => f.write_str("no memory to map the start-up page"),
        }
    }
}

/// Starts up to `max_cpus - 1` other CPUs and returns how many CPUs run now, the boot
/// CPU included. `usable` is the firmware's usable memory, `rsdp` the ACPI root pointer.
///
/// # Errors
/// [`SmpError`] when no other CPU can be started at all; the boot CPU runs on alone.
pub fn start_cpus(
    rsdp: Option<u64>,
    usable: impl Iterator<Item = Range<u64>> + Clone,
    calibration: &Calibration,
    max_cpus: u32,
) -> Result<u32, SmpError> {
    if !apic::is_available() || !calibration.has_apic_timer() {
        return Err(SmpError::NoApic);
    }
    let platform = acpi::read_platform(rsdp).map_err(SmpError::Acpi)?;
    let wanted = platform.application_processors.iter().take(
        max_cpus
            .saturating_sub(1)
            .min(cpu_local::MAX_CPUS as u32 - 1) as usize,
    );
    if wanted.len() == 0 {
        return Ok(1);
    }
    let pages = prepare_low_pages(usable)?;
    smp::set_ap_main(ap_main);
    for (index, &apic_id) in (1..).zip(wanted) {
        if let Err(error) = start_one(pages, apic_id, index, calibration.tsc_hz) {
            log::warn!("CPU {index} (APIC {apic_id}) did not start: {error}; no more are started");
            break;
        }
    }
    Ok(cpu_local::online_count())
}

/// Checks, maps and fills the two low pages the trampoline uses.
fn prepare_low_pages(
    usable: impl Iterator<Item = Range<u64>> + Clone,
) -> Result<LowPages, SmpError> {
    for page in [TRAMPOLINE_PAGE, LOW_PML4_PAGE] {
        let inside = |range: &Range<u64>| range.start <= page && page + PAGE_SIZE <= range.end;
        if !usable.clone().any(|range| inside(&range)) {
            return Err(SmpError::LowMemoryTaken);
        }
    }
    mm::paging::map_identity_low(PhysAddr::new(TRAMPOLINE_PAGE)).map_err(|error| match error {
        mm::paging::MapError::OutOfMemory => SmpError::OutOfMemory,
        mm::paging::MapError::AlreadyMapped => SmpError::LowMemoryTaken,
    })?;
    let window = |phys: u64| mm::phys_to_virt(PhysAddr::new(phys)).as_mut_ptr::<u8>();
    let (level_4, _) = x86_64::registers::control::Cr3::read();
    let pages = LowPages {
        trampoline: window(TRAMPOLINE_PAGE),
        low_pml4: window(LOW_PML4_PAGE),
        active_pml4: window(level_4.start_address().as_u64()),
    };
    // SAFETY: both low pages are usable memory below 1 MiB, which the heap never uses
    // (`mm::init` skips it) and nothing else claims; the trampoline page was just
    // identity-mapped executable; the window maps the active level-4 table.
    unsafe { smp::install_trampoline(pages) };
    Ok(pages)
}

/// Why one CPU did not come up.
#[derive(Debug, Clone, Copy)]
enum StartError {
    Stack,
    NoAnswer,
    NotOnline,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Stack => "no memory for its stack",
            Self::NoAnswer => "it did not run the start-up code",
            Self::NotOnline => "it ran the start-up code but did not come online",
        })
    }
}

/// Starts the CPU `apic_id` as CPU `index` and waits until it is online.
fn start_one(pages: LowPages, apic_id: u32, index: u32, tsc_hz: u64) -> Result<(), StartError> {
    let stack = KernelStack::new(AP_STACK_SIZE).map_err(|_| StartError::Stack)?;
    let top = stack.top().as_u64();
    *HANDOFF.lock() = Some((index, stack));
    // SAFETY: the trampoline was installed in `pages`, which stay mapped and unused
    // otherwise; `apic_id` comes from the MADT and was not started before; the stack
    // is mapped and is never freed (the CPU's idle thread owns it from `ap_main` on, or,
    // should it not start, it stays in the hand-off for good); CPUs start one at a time.
    let started = unsafe { smp::start_ap(pages, apic_id, index, top, tsc_hz) };
    if started.is_err() {
        return Err(StartError::NoAnswer);
    }
    let deadline = tsc::read() + tsc_hz / 1000 * ONLINE_TIMEOUT_MS;
    while cpu_local::online_mask() & (1 << index) == 0 {
        if tsc::read() > deadline {
            return Err(StartError::NotOnline);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// What each started CPU runs once its `arch` state is set up.
fn ap_main(index: u32) -> ! {
    let (handed_index, stack) = HANDOFF
        .lock()
        .take()
        .expect("a CPU started without a stack handed over");
    assert_eq!(handed_index, index, "a CPU took another's stack");
    thread::setup::run_ap(index, stack)
}
