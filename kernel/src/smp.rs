//! Starting the other CPUs: which exist (ACPI's MADT), where they start (the trampoline
//! page), and handing each to the scheduler.
//!
//! The boot CPU starts them one at a time, after its own scheduler, heap and tick run.
//! For each it allocates the stack the CPU will run on (which becomes that CPU's idle
//! thread's), passes it through `HANDOFF`, starts the CPU (`arch::smp::start_ap`),
//! compares the two TSCs (`skew`) and waits until the CPU is online: from then on
//! placement may send it threads.
//!
//! A CPU that does not run the start-up code in time is reported, put back into reset
//! (so it cannot run the trampoline later with the next CPU's data) and skipped; one that
//! runs it but does not come online is reported and skipped. Neither stops the others.
//!
//! **Checked by:** test kernels `smp_boot`, `smp_stress`, `smp_soak`, `smp_scale`,
//! `smp_panic`.

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

/// What bring-up achieved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Started {
    /// CPUs online, the boot CPU included.
    pub cpus: u32,
    /// The largest TSC offset from the boot CPU's measured, in nanoseconds, and the
    /// measurement's uncertainty (offsets within it are taken as zero).
    pub tsc_skew: skew::Skew,
}

/// Starts up to `max_cpus - 1` other CPUs and says how many CPUs run now, the boot CPU
/// included. `platform` is what the ACPI tables list (or why they could not be read),
/// `usable` the firmware's usable memory.
///
/// # Errors
/// [`SmpError`] when no other CPU can be started at all; the boot CPU runs on alone.
pub fn start_cpus(
    platform: Result<&acpi::Platform, acpi::AcpiError>,
    usable: impl Iterator<Item = Range<u64>> + Clone,
    calibration: &Calibration,
    max_cpus: u32,
) -> Result<Started, SmpError> {
    if !apic::is_available() || !calibration.has_apic_timer() {
        return Err(SmpError::NoApic);
    }
    let platform = platform.map_err(SmpError::Acpi)?;
    let wanted = platform.application_processors.iter().take(
        max_cpus
            .saturating_sub(1)
            .min(cpu_local::MAX_CPUS as u32 - 1) as usize,
    );
    let mut started = Started {
        cpus: 1,
        ..Started::default()
    };
    if wanted.len() == 0 {
        return Ok(started);
    }
    log::debug!(
        "starting {} of the {} other CPUs the MADT lists",
        wanted.len(),
        platform.application_processors.len()
    );
    let pages = prepare_low_pages(usable)?;
    log::debug!("trampoline at {TRAMPOLINE_PAGE:#x}, level-4 table copied to {LOW_PML4_PAGE:#x}");
    smp::set_ap_main(ap_main);
    let mut index = 1;
    for &apic_id in wanted {
        log::debug!("CPU {index}: INIT and start-up IPI to APIC ID {apic_id}");
        let began = tsc::read();
        match start_one(pages, apic_id, index, calibration.tsc_hz) {
            Ok(skew) => {
                log::debug!(
                    "CPU {index} online after {} us, TSC offset {} ns (measured to +-{} ns)",
                    (tsc::read() - began) / (calibration.tsc_hz / 1_000_000).max(1),
                    skew.offset_ns,
                    skew.uncertainty_ns
                );
                started.tsc_skew = started.tsc_skew.max(skew);
                index += 1;
            }
            Err(error) => log::warn!("CPU with APIC ID {apic_id} skipped: {error}"),
        }
    }
    started.cpus = cpu_local::online_count();
    Ok(started)
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

/// Starts the CPU `apic_id` as CPU `index`, measures its TSC offset and waits until it
/// is online; returns the offset.
fn start_one(
    pages: LowPages,
    apic_id: u32,
    index: u32,
    tsc_hz: u64,
) -> Result<skew::Skew, StartError> {
    let stack = KernelStack::new(AP_STACK_SIZE).map_err(|_| StartError::Stack)?;
    let top = stack.top().as_u64();
    *HANDOFF.lock() = Some((index, stack));
    skew::reset();
    // SAFETY: the trampoline was installed in `pages`, which stay mapped and unused
    // otherwise; `apic_id` comes from the MADT and was not started before; the stack
    // is mapped and is never freed (the CPU's idle thread owns it from `ap_main` on;
    // should the CPU not start, the stack is leaked below); CPUs start one at a time.
    let started = unsafe { smp::start_ap(pages, apic_id, index, top, tsc_hz) };
    if started.is_err() {
        smp::park_ap(apic_id);
        // It may have started on the stack after all, before the INIT: never reuse it.
        core::mem::forget(HANDOFF.lock().take());
        return Err(StartError::NoAnswer);
    }
    let skew = skew::measure(index, tsc_hz).ok_or(StartError::NotOnline)?;
    let deadline = tsc::read() + tsc_hz / 1000 * ONLINE_TIMEOUT_MS;
    while cpu_local::online_mask() & (1 << index) == 0 {
        if tsc::read() > deadline {
            return Err(StartError::NotOnline);
        }
        core::hint::spin_loop();
    }
    Ok(skew)
}

/// What each started CPU runs once its `arch` state is set up.
fn ap_main(index: u32) -> ! {
    let (handed_index, stack) = HANDOFF
        .lock()
        .take()
        .expect("a CPU started without a stack handed over");
    assert_eq!(handed_index, index, "a CPU took another's stack");
    skew::answer();
    thread::setup::run_ap(index, stack)
}

/// Comparing a starting CPU's TSC with the boot CPU's.
///
/// The boot CPU reads its TSC (`t0`), asks the other CPU for its reading, and reads its
/// TSC again when the answer arrives (`t1`): the other CPU read its TSC somewhere in
/// between, so its offset is its reading minus the midpoint, give or take half the round
/// trip. The round with the shortest trip wins. Each round is one request and one answer
/// through two counters (`SeqCst` request, `Release` answer after the reading, `Acquire`
/// on the boot CPU), with interrupts off on the boot CPU so the trip stays short.
pub mod skew {
    use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    use crate::{
        arch::{cpu::InterruptsDisabled, tsc},
        time,
    };

    const ROUNDS: u32 = 16;

    /// How long the boot CPU waits for one answer before giving up on the CPU.
    const ANSWER_TIMEOUT_MS: u64 = 1_000;

    static REQUEST: AtomicU32 = AtomicU32::new(0);
    static ANSWER: AtomicU32 = AtomicU32::new(0);
    static READING: AtomicU64 = AtomicU64::new(0);

    /// A measured offset.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Skew {
        /// How far the CPU's TSC is from the boot CPU's, in nanoseconds (0 when within the
        /// uncertainty).
        pub offset_ns: u64,
        /// Half the shortest round trip, in nanoseconds.
        pub uncertainty_ns: u64,
    }

    impl Skew {
        /// The larger offset and the larger uncertainty of the two.
        pub fn max(self, other: Skew) -> Skew {
            Skew {
                offset_ns: self.offset_ns.max(other.offset_ns),
                uncertainty_ns: self.uncertainty_ns.max(other.uncertainty_ns),
            }
        }
    }

    /// Clears the counters before a CPU is started.
    pub(super) fn reset() {
        REQUEST.store(0, Ordering::SeqCst);
        ANSWER.store(0, Ordering::SeqCst);
    }

    /// The boot CPU's side for CPU `cpu`: measures, records the offset for the clock if
    /// it exceeds the uncertainty, then lets the CPU go on. `None` if it stops answering.
    pub(super) fn measure(cpu: u32, tsc_hz: u64) -> Option<Skew> {
        let mut best: Option<(u64, i64)> = None; // (round trip, offset) in ticks
        for round in 1..=ROUNDS {
            let _irq = InterruptsDisabled::new();
            let t0 = tsc::read();
            REQUEST.store(round, Ordering::SeqCst);
            wait_for(&ANSWER, round, tsc_hz)?;
            let t1 = tsc::read();
            let reading = READING.load(Ordering::Relaxed);
            let trip = t1.wrapping_sub(t0);
            let offset = reading.wrapping_sub(t0 + trip / 2) as i64;
            if best.is_none_or(|(shortest, _)| trip < shortest) {
                best = Some((trip, offset));
            }
        }
        let (trip, offset) = best?;
        let offset = match offset.unsigned_abs() > trip / 2 {
            true => offset,
            false => 0,
        };
        time::set_cpu_offset(cpu, offset);
        REQUEST.store(ROUNDS + 1, Ordering::SeqCst); // go on: the clock is set
        let nanos = |ticks: u64| time::tsc_ticks_to_duration(ticks).as_nanos() as u64;
        Some(Skew {
            offset_ns: nanos(offset.unsigned_abs()),
            uncertainty_ns: nanos(trip / 2),
        })
    }

    /// The starting CPU's side: answers every round, then waits until its clock offset
    /// is recorded.
    pub(super) fn answer() {
        for round in 1..=ROUNDS + 1 {
            while REQUEST.load(Ordering::Acquire) != round {
                core::hint::spin_loop();
            }
            if round <= ROUNDS {
                READING.store(tsc::read(), Ordering::Relaxed);
                ANSWER.store(round, Ordering::Release);
            }
        }
    }

    /// Spins until `counter` reads `value`; `None` after the time-out.
    fn wait_for(counter: &AtomicU32, value: u32, tsc_hz: u64) -> Option<()> {
        let deadline = tsc::read() + tsc_hz / 1000 * ANSWER_TIMEOUT_MS;
        while counter.load(Ordering::Acquire) != value {
            if tsc::read() > deadline {
                return None;
            }
            core::hint::spin_loop();
        }
        Some(())
    }
}
