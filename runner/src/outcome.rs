//! The runner's exit status for each way a boot can end.

use boot_image::Outcome;

/// Exit status for set-up errors and for QEMU ending in an unexpected way.
pub(crate) const SETUP_ERROR: i32 = 2;

/// Maps a boot's outcome to the runner's exit status (table in `--help`).
/// A signal from outside gives 128 + its number, as shells report a
/// command killed by it: 130 for Ctrl-C, 143 for SIGTERM.
pub(crate) fn exit_status(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Success => 0,
        Outcome::Failure => 1,
        Outcome::Reset => 3,
        Outcome::Timeout(_) | Outcome::Hung(_) => 124,
        Outcome::Signalled(signal) => 128 + signal,
        Outcome::Exited(_) => SETUP_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn only_a_kernel_success_exits_zero() {
        assert_eq!(exit_status(&Outcome::Success), 0);
        assert_eq!(exit_status(&Outcome::Failure), 1);
        assert_eq!(exit_status(&Outcome::Reset), 3);
        assert_eq!(exit_status(&Outcome::Timeout(Duration::from_secs(5))), 124);
        assert_eq!(exit_status(&Outcome::Exited(1)), 2);
    }

    #[test]
    fn a_signal_from_outside_exits_as_shells_report_it() {
        assert_eq!(exit_status(&Outcome::Signalled(2)), 130);
        assert_eq!(exit_status(&Outcome::Signalled(15)), 143);
        assert_eq!(exit_status(&Outcome::Signalled(9)), 137);
    }
}
