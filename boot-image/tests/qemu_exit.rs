//! End-to-end check of the exit-status contract with a real QEMU: tiny
//! BIOS boot sectors end the machine the ways a kernel can, and the
//! decoded [`Outcome`] must match. Needs `qemu-system-x86_64`, like every
//! kernel test.

use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use boot_image::{
    EXIT_FAILURE_VALUE, EXIT_SUCCESS_VALUE, Firmware, Outcome, QemuOptions, command, run_captured,
};
use rustix::process::{Pid, Signal, kill_process};

/// Boots a one-sector disk whose code is `code`, and returns the outcome.
fn boot_sector(code: &[u8]) -> Outcome {
    boot_sector_with(code, Vec::new())
}

/// Like [`boot_sector`], with extra QEMU arguments.
fn boot_sector_with(code: &[u8], extra_args: Vec<String>) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let image = write_disk(dir.path(), code);
    boot(&image, extra_args, Duration::from_secs(30))
}

/// A disk in `dir` whose boot sector runs `code`.
fn write_disk(dir: &Path, code: &[u8]) -> PathBuf {
    let image = dir.join("sector.img");
    // SeaBIOS does not boot a virtio disk of one sector: pad it to 1 MiB.
    let mut disk = vec![0u8; 1 << 20];
    disk[..code.len()].copy_from_slice(code);
    disk[510..512].copy_from_slice(&[0x55, 0xaa]);
    fs::write(&image, disk).unwrap();
    image
}

/// Boots `image` under BIOS for at most `limit`.
fn boot(image: &Path, extra_args: Vec<String>, limit: Duration) -> Outcome {
    let opts = QemuOptions {
        firmware: Firmware::Bios,
        extra_args,
        ..QemuOptions::default()
    };
    let qemu = command(image, &opts).unwrap();
    run_captured(qemu, limit, None).unwrap().outcome
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

/// Waits until `path` holds something, for at most 30 s.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match fs::read_to_string(path) {
            Ok(text) if !text.is_empty() => return text,
            _ => thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("{} stayed empty", path.display());
}

#[test]
fn sigterm_to_qemu_is_not_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let (pid_file, com2) = (dir.path().join("qemu.pid"), dir.path().join("com2"));
    let args = format!(
        "-pidfile {} -serial file:{}",
        pid_file.display(),
        com2.display()
    );
    // Once the guest runs (so QEMU has set up its signal handlers), SIGTERM it.
    let killer = thread::spawn(move || {
        assert_eq!(wait_for_file(&com2), "R");
        let pid: i32 = wait_for_file(&pid_file).trim().parse().unwrap();
        kill_process(Pid::from_raw(pid).unwrap(), Signal::TERM).unwrap();
    });
    // mov dx, 0x2f8; mov al, 'R'; out dx, al; jmp $: say "running" on COM2, then spin.
    let code = [0xba, 0xf8, 0x02, 0xb0, b'R', 0xee, 0xeb, 0xfe];
    let outcome = boot_sector_with(&code, args.split(' ').map(str::to_owned).collect());
    killer.join().unwrap();
    assert_eq!(outcome, Outcome::Signalled(15));
}

/// Two runs (two test suites sharing a target directory) may boot one image
/// at the same time: QEMU refuses a second writer of a disk.
#[test]
fn one_image_boots_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let image = write_disk(dir.path(), &[0xeb, 0xfe]); // jmp $
    let limit = Duration::from_secs(3);
    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| boot(&image, Vec::new(), limit)))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    assert_eq!(outcomes, [Outcome::Timeout(limit), Outcome::Timeout(limit)]);
}
