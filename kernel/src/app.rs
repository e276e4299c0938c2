//! Your own kernel on Spindle: the [`main!`](crate::main) entry macro, what an
//! application's main function may return ([`Termination`]), and ending the run with a
//! status ([`exit`]).
//!
//! An application is a `no_std`, `no_main` binary crate that depends on `spindle` and
//! names its main function; the macro does the rest (the bootloader's entry point with
//! [`BOOTLOADER_CONFIG`](crate::BOOTLOADER_CONFIG), [`init`](crate::init), the exit):
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! spindle::main!(app);
//!
//! fn app() {
//!     spindle::println!("hello from thread {:?}", spindle::thread::current_id());
//! }
//! ```
//!
//! The README's "Your own kernel" section has the whole recipe (`Cargo.toml`,
//! `.cargo/config.toml`, running and testing), and `examples/hello-spindle` follows it.
//!
//! **Checked by:** every test kernel (each is an application on `main!`); `boot`, `panic`
//! for the exit status.

use core::fmt::Debug;

pub use crate::arch::qemu::{ExitCode, exit};
use crate::println;

/// Declares the kernel's entry point: boots Spindle and runs `app` as thread `main`,
/// then ends the run with `app`'s [`Termination`] status.
///
/// `app` is a `fn()` returning `()`, a [`Result<(), E>`] (`E: Debug`) or an
/// [`ExitCode`]. When it returns, QEMU exits: with success for `()`, `Ok` and
/// [`ExitCode::Success`]; with failure, after printing `Error: {e:?}`, for `Err(e)`. A
/// panic in `app` itself exits with failure too, after the panic report, as does one that
/// cannot be contained; a panic in a spawned thread or task ends only that thread or task
/// (its handle says why: see the README, "Panics: what is contained"). Other threads and tasks still running when `app` returns end with the run,
/// as a process's threads do when `main` returns; to end the run from elsewhere, call
/// [`exit`].
///
/// The bootloader maps all of memory, the heap takes it, every CPU starts, and `app`
/// runs on the boot CPU with interrupts and preemption on: spawn threads, run executors,
/// sleep, block.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
///
/// use spindle::prelude::*;
///
/// spindle::main!(app);
///
/// fn app() -> Result<(), executor::Elapsed> {
///     let worker = thread::spawn(|| 6 * 7);
///     let answer = worker.join();
///     executor::block_on(executor::timeout(Duration::from_millis(100), async {
///         executor::sleep(Duration::from_millis(10)).await;
///     }))?;
///     println!("the answer is {answer}");
///     Ok(())
/// }
/// ```
///
/// Settings other than the defaults ([`Config`](crate::Config)) go after the function:
///
/// ```ignore
/// spindle::main!(app, config = spindle::Config { max_cpus: Some(1), ..Default::default() });
/// ```
///
/// The crate using the macro needs no dependency on `bootloader_api`: the macro reaches
/// it through `spindle`.
#[macro_export]
macro_rules! main {
    ($app:path $(,)?) => {
        $crate::main!($app, config = $crate::boot::Config::default());
    };
    ($app:path, config = $config:expr $(,)?) => {
        $crate::app::__private::bootloader_api::entry_point!(
            __spindle_entry,
            config = &$crate::boot::BOOTLOADER_CONFIG
        );

        fn __spindle_entry(
            boot_info: &'static mut $crate::app::__private::bootloader_api::BootInfo,
        ) -> ! {
            $crate::app::__private::start(boot_info, $config, $app)
        }
    };
}

/// What an application's main function may return: how it turns into the run's
/// [`ExitCode`], as `std::process::Termination` does for a process.
pub trait Termination {
    /// The status to end the run with.
    fn report(self) -> ExitCode;
}

impl Termination for () {
    fn report(self) -> ExitCode {
        ExitCode::Success
    }
}

impl Termination for ExitCode {
    fn report(self) -> ExitCode {
        self
    }
}

impl<T: Termination, E: Debug> Termination for Result<T, E> {
    /// `Ok(value)` reports `value`; `Err(error)` prints `Error: {error:?}` and reports
    /// failure.
    fn report(self) -> ExitCode {
        match self {
            Ok(value) => value.report(),
            Err(error) => {
                println!("Error: {error:?}");
                ExitCode::Failure
            }
        }
    }
}

/// What [`main!`](crate::main) expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use bootloader_api;

    use super::{Termination, exit};
    use crate::boot::{self, Config};

    /// Brings the machine up with `config`, runs `app` on the calling thread (`main`)
    /// and exits with its status.
    pub fn start<T: Termination>(
        boot_info: &'static mut bootloader_api::BootInfo,
        config: Config,
        app: fn() -> T,
    ) -> ! {
        boot::init_with(boot_info, config);
        exit(app().report())
    }
}
