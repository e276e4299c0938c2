//! A stop signal sent to a process running QEMU interactively (the runner)
//! is passed on to QEMU and reported, instead of ending that process and
//! orphaning QEMU. Its own test binary: the signal goes to the whole test
//! process.

use std::{process::Command, time::Duration};

use boot_image::{Outcome, run_interactive};

#[test]
fn sigterm_to_the_runner_stops_qemu_and_is_reported() {
    // Stands in for QEMU: it signals its parent (this process) once started,
    // then exits 0 when the SIGTERM is passed on to it, as QEMU does.
    let mut child = Command::new("sh");
    child.args([
        "-c",
        "trap 'exit 0' TERM; kill -TERM $PPID; while :; do sleep 0.05; done",
    ]);
    let outcome = run_interactive(child, Some(Duration::from_secs(30))).unwrap();
    assert_eq!(outcome, Outcome::Signalled(15));
}
