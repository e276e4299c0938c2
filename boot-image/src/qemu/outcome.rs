//! What a QEMU run's exit status means for the kernel inside it.
//!
//! The kernel ends a run by writing a value `v` to the `isa-debug-exit`
//! device at port 0xf4; QEMU then exits with status `(v << 1) | 1`. The
//! values below are the contract with the kernel, which defines the same
//! numbers on its side: change both together.

use std::{os::unix::process::ExitStatusExt, process::ExitStatus, time::Duration};

use super::{limit::Hang, signals::signal_name};

/// Value the kernel writes to port 0xf4 to report success (QEMU exits 33).
pub const EXIT_SUCCESS_VALUE: u32 = 0x10;
/// Value the kernel writes to port 0xf4 to report failure (QEMU exits 35).
pub const EXIT_FAILURE_VALUE: u32 = 0x11;

const SUCCESS_STATUS: i32 = debug_exit_status(EXIT_SUCCESS_VALUE);
const FAILURE_STATUS: i32 = debug_exit_status(EXIT_FAILURE_VALUE);

/// QEMU's exit status after the guest wrote `value` to the debug-exit port.
const fn debug_exit_status(value: u32) -> i32 {
    ((value << 1) | 1) as i32
}

/// How a QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel wrote [`EXIT_SUCCESS_VALUE`]: QEMU exited 33.
    Success,
    /// The kernel wrote [`EXIT_FAILURE_VALUE`]: QEMU exited 35.
    Failure,
    /// QEMU exited 0. Under `-no-reboot` that is what a triple fault or a
    /// reset request looks like, so it is never success: the kernel's only
    /// way to report success is the debug-exit port.
    Reset,
    /// QEMU was still running when its wall-clock limit
    /// ([`TimeLimit::Wall`](super::TimeLimit::Wall)) expired, and was
    /// stopped.
    Timeout(Duration),
    /// QEMU was stopped for running past a run-time limit
    /// ([`TimeLimit::Run`](super::TimeLimit::Run)): its budget or its
    /// wall-clock ceiling.
    Hung(Hang),
    /// QEMU exited with any other status (its own errors exit 1).
    Exited(i32),
    /// QEMU was stopped from outside by this signal (not by the run's time
    /// limit): killed by it, or shut down on it (SIGINT, SIGTERM and SIGHUP,
    /// on which QEMU exits 0 like after a reset).
    Signalled(i32),
}

impl Outcome {
    /// Decodes the exit status of a QEMU process that ran on its own.
    #[cfg(test)]
    pub(crate) fn from_status(status: ExitStatus) -> Self {
        Self::from_exit(status, None)
    }

    /// Decodes the exit status of a QEMU process that, as far as the run
    /// knows, received `signal` from outside (see `signals`). The kernel's
    /// own reports win: a signal that came after them changed nothing.
    pub(crate) fn from_exit(status: ExitStatus, signal: Option<i32>) -> Self {
        match (status.code(), status.signal(), signal) {
            (Some(SUCCESS_STATUS), _, _) => Self::Success,
            (Some(FAILURE_STATUS), _, _) => Self::Failure,
            (_, _, Some(signal)) | (None, Some(signal), None) => Self::Signalled(signal),
            (Some(0), _, None) => Self::Reset,
            (Some(code), _, None) => Self::Exited(code),
            (None, None, None) => unreachable!("a Unix exit status is an exit code or a signal"),
        }
    }

    /// One line for humans saying what happened.
    pub fn describe(&self) -> String {
        match *self {
            Self::Success => "kernel reported success".into(),
            Self::Failure => "kernel reported failure".into(),
            Self::Reset => "machine reset — triple fault? \
                (QEMU exits 0 under -no-reboot, which is not success)"
                .into(),
            Self::Timeout(limit) => format!("timed out after {} s", limit.as_secs_f64()),
            Self::Hung(hang) => hang.to_string(),
            Self::Exited(1) => "QEMU exited with status 1 (a QEMU error, \
                or the kernel wrote 0 to the debug-exit port)"
                .into(),
            Self::Exited(code) if code % 2 == 1 => format!(
                "kernel wrote unknown value {:#x} to the debug-exit port (QEMU status {code})",
                code >> 1
            ),
            Self::Exited(code) => format!("QEMU exited with unexpected status {code}"),
            Self::Signalled(signal) => {
                format!("QEMU was stopped by {} from outside", signal_name(signal))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32) -> Outcome {
        Outcome::from_status(ExitStatus::from_raw(code << 8))
    }

    #[test]
    fn exit_values_match_statuses() {
        assert_eq!(SUCCESS_STATUS, 33);
        assert_eq!(FAILURE_STATUS, 35);
    }

    #[test]
    fn decodes_kernel_reports() {
        assert_eq!(exited(33), Outcome::Success);
        assert_eq!(exited(35), Outcome::Failure);
    }

    #[test]
    fn zero_is_a_reset_not_success() {
        assert_eq!(exited(0), Outcome::Reset);
        assert!(Outcome::Reset.describe().contains("triple fault"));
    }

    #[test]
    fn carries_other_statuses_through() {
        assert_eq!(exited(1), Outcome::Exited(1));
        assert_eq!(exited(5), Outcome::Exited(5));
        assert_eq!(
            Outcome::from_status(ExitStatus::from_raw(9)),
            Outcome::Signalled(9)
        );
    }

    #[test]
    fn a_shutdown_on_a_signal_is_not_a_reset() {
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(
            Outcome::from_exit(status(0), Some(15)),
            Outcome::Signalled(15)
        );
        assert_eq!(
            Outcome::from_exit(ExitStatus::from_raw(9), Some(2)),
            Outcome::Signalled(2),
            "the signal that started it matters, not the SIGKILL that ended it"
        );
        assert_eq!(Outcome::from_exit(status(33), Some(15)), Outcome::Success);
        assert_eq!(
            Outcome::Signalled(15).describe(),
            "QEMU was stopped by SIGTERM from outside"
        );
        assert_eq!(
            Outcome::Signalled(2).describe(),
            "QEMU was stopped by SIGINT from outside"
        );
    }

    #[test]
    fn describes_in_one_line() {
        let all = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Reset,
            Outcome::Timeout(Duration::from_secs(30)),
            Outcome::Exited(1),
            Outcome::Exited(5),
            Outcome::Exited(2),
            Outcome::Signalled(9),
            Outcome::Hung(Hang {
                budget: Duration::from_secs(60),
                ceiling: Duration::from_secs(600),
                usage: Default::default(),
            }),
        ];
        for outcome in all {
            assert!(!outcome.describe().contains('\n'), "{outcome:?}");
        }
        assert_eq!(Outcome::Failure.describe(), "kernel reported failure");
        assert_eq!(
            Outcome::Timeout(Duration::from_secs(30)).describe(),
            "timed out after 30 s"
        );
        assert!(
            Outcome::Exited(5)
                .describe()
                .starts_with("kernel wrote unknown value 0x2")
        );
    }
}
