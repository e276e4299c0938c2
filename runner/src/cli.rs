//! The runner's command line and what it means for QEMU.

use std::{path::PathBuf, time::Duration};

use boot_image::{Firmware, QemuOptions};
use clap::Parser;

const LONG_ABOUT: &str = "\
Build the Spindle kernel, put it on a disk image and boot it in QEMU.

The kernel is built with `cargo build -p kernel --target x86_64-unknown-none`
(or taken from --kernel), imaged under target/spindle/images/ and booted with
its serial port on this terminal.

Exit status:
  0    the kernel reported success (wrote 0x10 to the debug-exit port)
  1    the kernel reported failure (wrote 0x11)
  2    set-up error (kernel build, bad kernel file, QEMU or OVMF missing),
       or QEMU ended in any other way
  3    the machine reset, e.g. on a triple fault (QEMU exits 0 under
       -no-reboot, which is not success)
  124  --timeout expired

Environment: SPINDLE_QEMU picks the QEMU binary, SPINDLE_OVMF the UEFI
firmware image, CARGO_TARGET_DIR the build directory.";

/// Build the Spindle kernel and boot it in QEMU.
#[derive(Debug, Parser)]
#[command(name = "spindle", bin_name = "cargo run --", version, long_about = LONG_ABOUT)]
pub(crate) struct Args {
    /// Boot this kernel ELF instead of building the default kernel.
    #[arg(long, value_name = "PATH", conflicts_with = "release")]
    pub(crate) kernel: Option<PathBuf>,
    /// Boot with legacy BIOS (SeaBIOS) instead of UEFI (OVMF).
    #[arg(long)]
    bios: bool,
    /// Build the kernel with the release profile.
    #[arg(long)]
    pub(crate) release: bool,
    /// Number of CPUs.
    #[arg(long, value_name = "N", default_value_t = 1)]
    smp: u32,
    /// Guest memory, in MiB or with an M or G suffix.
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    memory: String,
    /// Count instructions instead of using the host clock, for
    /// reproducible timing (`-icount shift=0`).
    #[arg(long)]
    icount: bool,
    /// Wait for GDB on tcp::1234 before the first instruction.
    #[arg(long)]
    pub(crate) gdb: bool,
    /// Stop QEMU after this many seconds (exit status 124).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Open QEMU's window (headless by default).
    #[arg(long)]
    display: bool,
    /// Use KVM when the host allows it, else say why and use TCG.
    #[arg(long)]
    kvm: bool,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true, value_name = "QEMU_ARGS")]
    qemu_args: Vec<String>,
}

impl Args {
    /// The QEMU machine these arguments ask for.
    pub(crate) fn qemu_options(&self) -> QemuOptions {
        QemuOptions {
            firmware: if self.bios {
                Firmware::Bios
            } else {
                Firmware::Uefi
            },
            smp: self.smp,
            memory: self.memory.clone(),
            icount: self.icount,
            gdb: self.gdb,
            display: self.display,
            kvm: self.kvm,
            extra_args: self.qemu_args.clone(),
        }
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("spindle").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_boot_uefi_like_the_library_default() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.qemu_options(), QemuOptions::default());
        assert_eq!(args.timeout(), None);
    }

    #[test]
    fn flags_map_to_options() {
        let args = parse(&[
            "--bios",
            "--smp",
            "4",
            "--memory",
            "1G",
            "--icount",
            "--gdb",
            "--display",
            "--kvm",
            "--timeout",
            "30",
            "--",
            "-d",
            "int",
        ])
        .unwrap();
        let expected = QemuOptions {
            firmware: Firmware::Bios,
            smp: 4,
            memory: "1G".into(),
            icount: true,
            gdb: true,
            display: true,
            kvm: true,
            extra_args: vec!["-d".into(), "int".into()],
        };
        assert_eq!(args.qemu_options(), expected);
        assert_eq!(args.timeout(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn refuses_meaningless_combinations() {
        assert!(parse(&["--kernel", "k", "--release"]).is_err());
        assert!(parse(&["--timeout", "0"]).is_err());
    }

    #[test]
    fn help_documents_exit_statuses() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("124  --timeout expired"), "{help}");
    }
}
