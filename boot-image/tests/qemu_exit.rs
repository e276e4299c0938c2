//! End-to-end check of the exit-status contract with a real QEMU: tiny
//! BIOS boot sectors end the machine the ways a kernel can, and the
//! decoded [`Outcome`] must match. Needs `qemu-system-x86_64`, like every
//! kernel test.

use std::time::Duration;

use boot_image::{
    EXIT_FAILURE_VALUE, EXIT_SUCCESS_VALUE, Firmware, Outcome, QemuOptions, command, run_captured,
};

/// Boots a one-sector disk whose code is `code`, and returns the outcome.
fn boot_sector(code: &[u8]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("sector.img");
    let mut sector = [0u8; 512];
    sector[..code.len()].copy_from_slice(code);
    sector[510..].copy_from_slice(&[0x55, 0xaa]);
    std::fs::write(&image, sector).unwrap();
    let opts = QemuOptions {
        firmware: Firmware::Bios,
        ..QemuOptions::default()
    };
    let qemu = command(&image, &opts).unwrap();
    run_captured(qemu, Duration::from_secs(30), None)
        .unwrap()
        .outcome
}

/// `mov al, VALUE; out 0xf4, al; cli; hlt`
fn debug_exit(value: u32) -> [u8; 6] {
    [0xb0, u8::try_from(value).unwrap(), 0xe6, 0xf4, 0xfa, 0xf4]
}

#[test]
fn success_value_decodes_as_success() {
    assert_eq!(
        boot_sector(&debug_exit(EXIT_SUCCESS_VALUE)),
        Outcome::Success
    );
}

#[test]
fn failure_value_decodes_as_failure() {
    assert_eq!(
        boot_sector(&debug_exit(EXIT_FAILURE_VALUE)),
        Outcome::Failure
    );
}

#[test]
fn a_reset_is_not_success() {
    // mov al, 0xfe; out 0x64, al: pulse the reset line via the keyboard controller.
    assert_eq!(
        boot_sector(&[0xb0, 0xfe, 0xe6, 0x64, 0xfa, 0xf4]),
        Outcome::Reset
    );
}

#[test]
fn a_triple_fault_is_a_reset() {
    // lidt [zero] with an empty IDT, then int3: no handler, no double-fault handler.
    let code = [0x0f, 0x01, 0x1e, 0x10, 0x7c, 0xcc, 0xfa, 0xf4];
    assert_eq!(boot_sector(&code), Outcome::Reset);
}
