//! The runner's command line and what it means for QEMU.

use std::{fmt::Display, path::PathBuf, str::FromStr, time::Duration};

use boot_image::{Firmware, QemuOptions};
use clap::Parser;

const LONG_ABOUT: &str = "\
Build the Spindle kernel, put it on a disk image and boot it in QEMU.

The kernel is built with `cargo build -p spindle --target x86_64-unknown-none`
(or taken from --kernel), imaged under target/spindle/images/ and booted with
its serial port on this terminal.

Exit status:
  0      the kernel reported success (wrote 0x10 to the debug-exit port)
  1      the kernel reported failure (wrote 0x11)
  2      set-up error (kernel build, bad kernel file, QEMU or OVMF missing,
         a machine that cannot boot), or QEMU ended in any other way
  3      the machine reset, e.g. on a triple fault (QEMU exits 0 under
         -no-reboot, which is not success)
  124    --timeout expired (wall-clock seconds)
  128+N  QEMU was stopped from outside by signal N: 130 for Ctrl-C
         (SIGINT), 143 for SIGTERM, 129 for SIGHUP, 137 for SIGKILL

--memory must be at least 32M with --bios and 64M with UEFI: with less,
the bootloader cannot boot.

--net PORT adds a virtio network card on QEMU's user network: the host's
127.0.0.1:PORT is forwarded to the guest's TCP port 80 and UDP port 7 (the
guest is 10.0.2.15 and reaches nothing beyond QEMU's 10.0.2.x: restrict=on).
Restricted, QEMU drops every UDP datagram the guest sends (libslirp 4.7's
udp_input lets only DHCP and TFTP through), echo replies included:
--net-unrestricted leaves restrict=on out, so that UDP replies reach the
host, and with it lets the guest reach the host's other ports and the
outside. Not with --icount: the user network runs on host time.

--trace FILE.json builds the kernel with SPINDLE_TRACE=on: it records the
schedule from boot and streams it out when it powers off or panics (or on
the console's `trace dump`; Ctrl-C and --timeout stop QEMU before that).
After QEMU exits, FILE.json (Perfetto JSON, for ui.perfetto.dev), FILE.svg
(a timeline) and FILE.bin (the raw stream) are written, and broken
scheduler invariants are warned about. The exit status stays the kernel's,
except that a successful boot that left no trace exits 2.

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
    /// Number of CPUs: each a host thread (multi-threaded TCG), so they run in parallel,
    /// except under --icount. The default, 2, matches this kind of 2-core build host;
    /// --smp 1 boots one.
    #[arg(long, value_name = "N", default_value_t = 2, allow_negative_numbers = true,
          value_parser = cpu_count)]
    smp: u32,
    /// Guest memory, in MiB or with an M or G suffix (at least 32M for
    /// --bios, 64M for UEFI).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "256M",
        allow_hyphen_values = true
    )]
    memory: String,
    /// Count instructions instead of using the host clock, for
    /// reproducible timing (`-icount shift=0,sleep=off`).
    #[arg(long)]
    icount: bool,
    /// Wait for GDB on tcp::1234 before the first instruction.
    #[arg(long)]
    pub(crate) gdb: bool,
    /// Stop QEMU after this many seconds of wall-clock time (exit status 124).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = seconds)]
    timeout: Option<u64>,
    /// Open QEMU's window (headless by default).
    #[arg(long)]
    display: bool,
    /// Use KVM when the host allows it, else say why and use TCG.
    #[arg(long)]
    kvm: bool,
    /// Add a virtio network card: the host's 127.0.0.1:PORT goes to the guest's TCP
    /// port 80 and UDP port 7.
    #[arg(long, value_name = "PORT", value_parser = port, conflicts_with = "icount")]
    net: Option<u16>,
    /// With --net: leave QEMU's user network unrestricted, so that the guest's UDP
    /// replies reach the host (restricted, QEMU drops them); the guest may then also
    /// reach the host's other ports and the outside.
    #[arg(long, requires = "net")]
    net_unrestricted: bool,
    /// Record the schedule trace and write it to FILE.json, FILE.svg and
    /// FILE.bin after QEMU exits (see below). With --kernel, the kernel
    /// must start tracing itself.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) trace: Option<PathBuf>,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true, value_name = "QEMU_ARGS")]
    qemu_args: Vec<String>,
}

/// The most CPUs the kernel schedules on: the size of its per-CPU tables
/// (`MAX_CPUS` in `kernel/src/arch/x86_64/cpu_local.rs`).
const MAX_CPUS: u32 = 64;

/// Parses `--smp`: a whole number of CPUs, from 1 to [`MAX_CPUS`].
fn cpu_count(value: &str) -> Result<u32, String> {
    let cpus = positive(value, "CPUs")?;
    if cpus > MAX_CPUS {
        return Err(format!("Spindle runs on at most {MAX_CPUS} CPUs"));
    }
    Ok(cpus)
}

/// Parses `--net`: a TCP/UDP port, from 1 to 65535.
fn port(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err("must be a port number from 1 to 65535".into()),
    }
}

/// Parses `--timeout`: a whole number of seconds, at least 1.
fn seconds(value: &str) -> Result<u64, String> {
    positive(value, "seconds")
}

/// A whole number of at least 1, or one line saying it must be, counting
/// `unit`: clap's own messages for `-1` suggest passing it after `--`.
fn positive<T: FromStr + PartialOrd + From<u8>>(value: &str, unit: &str) -> Result<T, String>
where
    T::Err: Display,
{
    match value.parse::<T>() {
        Ok(number) if number >= T::from(1) => Ok(number),
        _ => Err(format!("must be a positive whole number of {unit}")),
    }
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
            debugcon: None,
            net: self.net,
            net_unrestricted: self.net_unrestricted,
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
    fn defaults_boot_uefi_like_the_library_default_on_two_cpus() {
        let args = parse(&[]).unwrap();
        let two_cpus = QemuOptions {
            smp: 2,
            ..QemuOptions::default()
        };
        assert_eq!(args.qemu_options(), two_cpus);
        assert_eq!(args.timeout(), None);
        assert_eq!(parse(&["--smp", "1"]).unwrap().qemu_options().smp, 1);
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
            debugcon: None,
            net: None,
            net_unrestricted: false,
            extra_args: vec!["-d".into(), "int".into()],
        };
        assert_eq!(args.qemu_options(), expected);
        assert_eq!(args.timeout(), Some(Duration::from_secs(30)));
    }

    #[test]
    fn net_takes_a_port_and_refuses_icount() {
        assert_eq!(parse(&[]).unwrap().qemu_options().net, None);
        let args = parse(&["--net", "8080"]).unwrap();
        assert_eq!(args.qemu_options().net, Some(8080));
        assert!(parse(&["--net", "0"]).is_err());
        assert!(parse(&["--net", "65536"]).is_err());
        assert!(parse(&["--net", "8080", "--icount"]).is_err());
        assert!(
            !args.qemu_options().net_unrestricted,
            "restricted by default"
        );
        let open = parse(&["--net", "8080", "--net-unrestricted"]).unwrap();
        assert!(open.qemu_options().net_unrestricted);
        assert!(parse(&["--net-unrestricted"]).is_err(), "only with --net");
    }

    #[test]
    fn trace_takes_the_json_path() {
        assert_eq!(parse(&[]).unwrap().trace, None);
        let args = parse(&["--trace", "out/run.json", "--bios"]).unwrap();
        assert_eq!(args.trace, Some(PathBuf::from("out/run.json")));
        // The debug console is the runner's to attach, at boot time.
        assert_eq!(args.qemu_options().debugcon, None);
        assert!(parse(&["--trace"]).is_err(), "a file is required");
    }

    #[test]
    fn help_says_where_the_trace_goes() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("--trace <FILE.json>"), "{help}");
        assert!(
            help.contains("a successful boot that left no trace exits 2"),
            "{help}"
        );
    }

    #[test]
    fn refuses_meaningless_combinations() {
        assert!(parse(&["--kernel", "k", "--release"]).is_err());
        assert!(parse(&["--timeout", "0"]).is_err());
    }

    /// The first line of the error clap reports for `args`.
    fn error(args: &[&str]) -> String {
        let err = parse(args).unwrap_err().to_string();
        err.lines().next().unwrap_or_default().to_owned()
    }

    #[test]
    fn negative_numbers_are_refused_as_such() {
        assert_eq!(
            error(&["--timeout", "-1"]),
            "error: invalid value '-1' for '--timeout <SECS>': \
             must be a positive whole number of seconds"
        );
        assert_eq!(
            error(&["--smp", "-2"]),
            "error: invalid value '-2' for '--smp <N>': must be a positive whole number of CPUs"
        );
        assert_eq!(
            error(&["--smp", "0"]),
            "error: invalid value '0' for '--smp <N>': must be a positive whole number of CPUs"
        );
        assert_eq!(
            error(&["--smp", "65"]),
            "error: invalid value '65' for '--smp <N>': Spindle runs on at most 64 CPUs"
        );
        assert_eq!(parse(&["--smp", "64"]).unwrap().qemu_options().smp, 64);
        // A size is checked with the firmware it is for, before anything is built.
        let args = parse(&["--memory", "-1G"]).unwrap();
        let err = args.qemu_options().validate().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid memory size `-1G`: expected a positive"),
            "{err}"
        );
    }

    #[test]
    fn too_little_memory_names_the_minimum() {
        let args = parse(&["--bios", "--memory", "8M"]).unwrap();
        let err = args.qemu_options().validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "memory size 8M is too small: a bios boot needs at least 32M"
        );
    }

    #[test]
    fn help_documents_exit_statuses() {
        use clap::CommandFactory;
        let help = Args::command().render_long_help().to_string();
        assert!(help.contains("124    --timeout expired"), "{help}");
        assert!(help.contains("143 for SIGTERM"), "{help}");
        let least = |firmware| boot_image::minimum_memory_mib(firmware);
        let minimums = format!(
            "at least {}M with --bios and {}M with UEFI",
            least(Firmware::Bios),
            least(Firmware::Uefi)
        );
        assert!(help.contains(&minimums), "{help}");
    }

    #[test]
    fn the_cpu_limit_is_the_kernels() {
        let cpu_local = include_str!("../../kernel/src/arch/x86_64/cpu_local.rs");
        let declared = format!("pub const MAX_CPUS: usize = {MAX_CPUS};");
        assert!(
            cpu_local.contains(&declared),
            "kernel/src/arch/x86_64/cpu_local.rs: `{declared}` changed?"
        );
    }
}
