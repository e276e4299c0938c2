//! Booting Linux with the initramfs under the QEMU of Spindle's benchmark kernels.
//!
//! The machine is the one `boot_image::command` builds for a benchmark kernel in the same
//! [`Mode`] (CPU model, CPUs, memory, `-icount shift=0,sleep=off` or MTTCG, serial on
//! stdio, the debug-exit device, `-no-reboot`); only the way in differs: QEMU loads the
//! kernel and initramfs itself (`-kernel`, `-initrd`, `-append`) instead of SeaBIOS
//! booting a disk image. The guest's `/init` ends the run through the debug-exit port as
//! Spindle's kernels do, or powers off (QEMU exits 0), which counts as well once the
//! transcript ended with `bench-done`.

use std::{
    ffi::OsString,
    io::{self, Write},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use boot_image::{Captured, Outcome, QemuOptions};

use crate::{
    parse::{Figure, parse_transcript},
    run::{Boot, Mode},
};

/// The kernel command line: the console on the first UART; `mitigations=off` because
/// Spindle has none (no page-table isolation, no retpolines, no buffer clearing on
/// entry), so leaving them on would price a defence rather than the design; `quiet` so
/// the boot log stays short; `panic=-1` so a panic resets, which `-no-reboot` turns into
/// QEMU exiting instead of a hang.
pub(crate) const CMDLINE: &str = "console=ttyS0 mitigations=off quiet panic=-1";

/// What the guest prints first: `linux-release <uname -r>`.
const RELEASE_TAG: &str = "linux-release";

/// The kernel and initramfs to boot, and how long a boot may take.
#[derive(Debug)]
pub(crate) struct Guest<'a> {
    pub(crate) vmlinuz: &'a Path,
    pub(crate) initramfs: &'a Path,
    pub(crate) timeout: Duration,
}

/// One boot's figures, and the guest's `uname -r`.
#[derive(Debug)]
pub(crate) struct LinuxBoot {
    pub(crate) boot: Boot,
    pub(crate) release: String,
}

impl Guest<'_> {
    /// Boots in `mode` with a progress line on stderr; a failure shows the end of the
    /// serial transcript.
    pub(crate) fn boot(&self, mode: Mode, note: &str) -> anyhow::Result<LinuxBoot> {
        eprint!("bench linux [{mode}]{note} ... ");
        let _ = io::stderr().flush();
        let command = self.command(mode)?;
        let qemu_command = crate::run::shell_line(&command);
        let started = Instant::now();
        let captured = boot_image::run_captured(command, self.timeout, None)?;
        let seconds = started.elapsed().as_secs_f64();
        match judge(&captured) {
            Ok((release, figures)) => {
                eprintln!("{seconds:.1} s");
                let kernel = "linux".to_owned();
                let boot = Boot {
                    kernel,
                    mode,
                    seconds,
                    qemu_command,
                    figures,
                };
                Ok(LinuxBoot { boot, release })
            }
            Err(error) => {
                eprintln!("FAILED after {seconds:.1} s");
                crate::run::print_tail(&captured);
                Err(error.context(format!("Linux [{mode}]")))
            }
        }
    }

    fn command(&self, mode: Mode) -> anyhow::Result<Command> {
        let mut command = Command::new(boot_image::locate_qemu()?);
        command.args(args(&mode.options(), self.vmlinuz, self.initramfs));
        Ok(command)
    }
}

/// QEMU's arguments for `options`: the machine a Spindle benchmark kernel gets
/// (`boot_image::machine_args`), with the kernel and initramfs loaded directly.
pub(crate) fn args(options: &QemuOptions, vmlinuz: &Path, initramfs: &Path) -> Vec<OsString> {
    let mut args = boot_image::machine_args(options);
    args.extend([
        "-kernel".into(),
        vmlinuz.into(),
        "-initrd".into(),
        initramfs.into(),
    ]);
    args.extend(["-append".into(), CMDLINE.into()]);
    args.extend(options.extra_args.iter().map(OsString::from));
    args
}

/// The release and the figures of a boot that ended well; an error saying why otherwise.
fn judge(captured: &Captured) -> anyhow::Result<(String, Vec<Figure>)> {
    if !matches!(captured.outcome, Outcome::Success | Outcome::Reset) {
        bail!("{}", captured.outcome.describe());
    }
    if let Some(error) = guest_error(&captured.serial) {
        bail!("the guest program failed: {error}");
    }
    let figures = parse_transcript(&captured.serial)?;
    let release = release(&captured.serial)
        .with_context(|| format!("the guest never printed `{RELEASE_TAG}`"))?;
    Ok((release, figures))
}

/// The guest's `uname -r`, from its `linux-release` line.
pub(crate) fn release(serial: &str) -> Option<String> {
    serial
        .lines()
        .filter_map(|line| line.trim().strip_prefix(RELEASE_TAG))
        .map(str::trim)
        .find(|release| !release.is_empty())
        .map(str::to_owned)
}

/// What the guest program reported when it gave up (`bench-error <what>`).
fn guest_error(serial: &str) -> Option<&str> {
    serial
        .lines()
        .find_map(|line| line.trim().strip_prefix("bench-error "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(mode: Mode) -> Vec<String> {
        args(
            &mode.options(),
            Path::new("/k/vmlinuz"),
            Path::new("/k/initramfs.cpio"),
        )
        .into_iter()
        .map(|arg| arg.into_string().unwrap())
        .collect()
    }

    fn contains(args: &[String], wanted: &[&str]) -> bool {
        args.windows(wanted.len()).any(|window| window == wanted)
    }

    #[test]
    fn icount_boots_one_cpu_counting_instructions() {
        let args = args_of(Mode::Icount);
        for wanted in [
            &["-cpu", "max", "-smp", "1", "-m", "256M"][..],
            &["-icount", "shift=0,sleep=off"],
            &["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
            &["-serial", "stdio", "-monitor", "none", "-no-reboot"],
            &["-kernel", "/k/vmlinuz", "-initrd", "/k/initramfs.cpio"],
            &["-append", CMDLINE],
        ] {
            assert!(contains(&args, wanted), "{wanted:?} missing from {args:?}");
        }
        assert!(!args.contains(&"-accel".to_owned()));
        assert!(!args.contains(&"-drive".to_owned()));
    }

    #[test]
    fn mttcg_boots_two_cpus_in_parallel_without_icount() {
        let args = args_of(Mode::Mttcg(2));
        assert!(contains(&args, &["-smp", "2"]));
        assert!(contains(&args, &["-accel", "tcg,thread=multi"]));
        assert!(!args.contains(&"-icount".to_owned()));
    }

    fn captured(outcome: Outcome, serial: &str) -> Captured {
        Captured {
            outcome,
            serial: serial.into(),
            stderr: String::new(),
        }
    }

    const SERIAL: &str = "[    0.0] early log\r\nlinux-release 6.1.0-57-cloud-amd64\r\n\
        bench-result name=thread_yield unit=cycles samples=100000 min=2039 median=2042 \
        p99=2042 max=5690 overhead=3\r\nbench-done\r\n";

    #[test]
    fn reads_release_and_figures() {
        let (release, figures) = judge(&captured(Outcome::Success, SERIAL)).unwrap();
        assert_eq!(release, "6.1.0-57-cloud-amd64");
        assert_eq!(figures[0].name, "thread_yield");
        assert_eq!(figures[0].median, 2042);
        assert!(
            judge(&captured(Outcome::Reset, SERIAL)).is_ok(),
            "a power-off"
        );
    }

    #[test]
    fn failures_say_why() {
        let error = |outcome, serial: &str| judge(&captured(outcome, serial)).unwrap_err();
        let timeout = error(Outcome::Timeout(Duration::from_secs(600)), SERIAL);
        assert_eq!(timeout.to_string(), "timed out after 600 s");
        let guest = error(Outcome::Success, "bench-error pipe failed\n");
        assert_eq!(guest.to_string(), "the guest program failed: pipe failed");
        let unnamed = error(Outcome::Success, &SERIAL.replace("linux-release", "x"));
        assert!(
            unnamed
                .to_string()
                .contains("never printed `linux-release`")
        );
        let cut = error(Outcome::Reset, "linux-release 6.1\n");
        assert!(cut.to_string().contains("never printed `bench-done`"));
    }
}
