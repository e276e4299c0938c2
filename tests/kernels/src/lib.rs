//! The in-kernel half of Spindle's test harness.
//!
//! A test kernel is one file in `src/bin/`: a list of case functions handed to
//! [`test_kernel!`]. The kernel boots, announces its plan, runs the cases in order and
//! reports each one on its own serial line:
//!
//! ```text
//! spindle-test: plan box_and_vec btree_churn
//! spindle-test: ok box_and_vec
//! spindle-test: ok btree_churn
//! spindle-test: done
//! ```
//!
//! then leaves QEMU with the success status. A failing case panics (`assert!`), and the
//! kernel's panic handler reports it and exits with the failure status (the cases run on
//! the boot thread, where no panic is contained); the host harness (`tests/src`) blames
//! the first planned case without an `ok` line. A panic in a thread or task the case
//! spawned is contained; the case fails if one was that it did not announce with
//! [`expect_contained_panics`].
//!
//! Optional `//@` directives at the top of a test kernel's file tell the host harness how
//! to boot it and what to expect; see the README ("Adding a test kernel").
#![no_std]

pub mod input;
extern crate alloc;

pub mod memory;
pub mod net;
pub mod preemption;

use core::sync::atomic::{AtomicU64, Ordering};

pub use bootloader_api;
pub use spindle;
use spindle::{
    arch::qemu::{self, ExitCode},
    println, thread,
};

/// One test case: a name for the report and the function that runs it.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The function's name, as written in `test_kernel!`.
    pub name: &'static str,
    /// Runs the case; returning means it passed.
    pub run: fn(),
}

/// Declares the test kernel's entry point and its cases, in the order they run.
///
/// ```ignore
/// spindle_test::test_kernel!(box_and_vec, btree_churn);
/// fn box_and_vec() { ... }
/// ```
#[macro_export]
macro_rules! test_kernel {
    ($($case:ident),+ $(,)?) => {
        $crate::bootloader_api::entry_point!(test_kernel_main, config = &$crate::spindle::BOOTLOADER_CONFIG);

        fn test_kernel_main(boot_info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            $crate::spindle::init(boot_info);
            $crate::run(&[$($crate::Case { name: stringify!($case), run: $case }),+])
        }
    };
}

/// Panics a case expects to be contained (in threads or tasks it spawns), counted by
/// [`expect_contained_panics`].
static EXPECTED_PANICS: AtomicU64 = AtomicU64::new(0);

/// Tells the harness that the running case makes `count` more panics that are contained
/// (a thread or task of its own panics on purpose). Any other contained panic fails the
/// case: a failed `assert!` in a thread that nobody joins must not go unnoticed.
pub fn expect_contained_panics(count: u64) {
    EXPECTED_PANICS.fetch_add(count, Ordering::Relaxed);
}

/// Runs `cases` in order, reporting each, and exits QEMU with success if all returned
/// and no panic was contained that a case did not expect.
pub fn run(cases: &[Case]) -> ! {
    println!("spindle-test: plan{}", PlanNames(cases));
    for case in cases {
        let contained = thread::contained_panics();
        let expected = EXPECTED_PANICS.load(Ordering::Relaxed);
        (case.run)();
        let contained = thread::contained_panics() - contained;
        let expected = EXPECTED_PANICS.load(Ordering::Relaxed) - expected;
        assert_eq!(
            contained, expected,
            "{}: {contained} panics were contained (threads or tasks that panicked: the log \
             names the detached ones), {expected} expected",
            case.name
        );
        println!("spindle-test: ok {}", case.name);
    }
    println!("spindle-test: done");
    qemu::exit(ExitCode::Success)
}

struct PlanNames<'a>(&'a [Case]);

impl core::fmt::Display for PlanNames<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0
            .iter()
            .try_for_each(|case| write!(f, " {}", case.name))
    }
}
