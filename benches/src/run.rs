//! Booting a benchmark kernel in QEMU and collecting its figures.
//!
//! Every kernel boots twice, because neither clock tells the whole story:
//!
//! - **icount** (`-icount shift=0`): the guest's TSC advances one tick per executed
//!   instruction, so a figure is an instruction count. It repeats exactly from run to run
//!   and host to host, which makes it the number to compare and to track over time, but it
//!   prices every instruction the same (a cache miss, an `rdmsr` and an `add` all cost 1).
//! - **tcg** (plain TCG): the TSC follows host time, so a figure is emulated time. It
//!   moves with the host and its load, but shows what emulation makes expensive.
//!
//! SMP kernels (`//@ smp: N`, see `discover`) boot a third way instead, **mttcg**: N CPUs
//! under multi-threaded TCG, each vCPU a host thread. `-icount` would force QEMU back to
//! one thread running the vCPUs in turn, where a cross-CPU latency measures QEMU's
//! round-robin slice rather than the kernel, so these boots have host time only.
//!
//! Boots run one at a time: a second QEMU on the host's cores would disturb the tcg
//! figures. A boot counts only if the kernel exits with its success status after printing
//! `bench-done`; anything else stops the suite with the end of the serial transcript.

use std::{
    fmt,
    io::{self, Write},
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use boot_image::{Captured, Firmware, Outcome, QemuOptions};

use crate::parse::{Figure, parse_transcript};

/// Serial lines shown when a boot fails.
const TAIL_LINES: usize = 30;
/// Benchmark images are BIOS images: SeaBIOS starts faster than OVMF and the kernel
/// measures the same either way.
const FIRMWARE: Firmware = Firmware::Bios;

/// How the guest's clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `-icount shift=0`: one TSC tick per instruction.
    Icount,
    /// Plain TCG: the TSC follows host time.
    Tcg,
    /// Multi-threaded TCG with this many CPUs (SMP kernels only): host time, each vCPU
    /// on a host thread of its own.
    Mttcg(u32),
}

impl Mode {
    /// The modes a kernel without `//@ smp` is booted in, in order.
    pub(crate) const ALL: [Self; 2] = [Self::Icount, Self::Tcg];

    pub(crate) fn options(self) -> QemuOptions {
        let mut options = QemuOptions {
            firmware: FIRMWARE,
            icount: self == Self::Icount,
            ..QemuOptions::default()
        };
        if let Self::Mttcg(cpus) = self {
            options.smp = cpus; // several CPUs without icount: `boot_image` picks MTTCG
        }
        options
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Icount => f.write_str("icount"),
            Self::Tcg => f.write_str("tcg"),
            Self::Mttcg(cpus) => write!(f, "mttcg -smp {cpus}"),
        }
    }
}

/// One successful boot of one kernel.
#[derive(Clone, Debug)]
pub(crate) struct Boot {
    pub(crate) kernel: String,
    pub(crate) mode: Mode,
    /// Wall-clock time from starting QEMU to its exit.
    pub(crate) seconds: f64,
    /// The QEMU command line, shell-quoted.
    pub(crate) qemu_command: String,
    pub(crate) figures: Vec<Figure>,
}

/// Where the built kernels are, where their images go, and how long a boot may take.
#[derive(Debug)]
pub(crate) struct Runner {
    pub(crate) elf_dir: PathBuf,
    pub(crate) image_dir: PathBuf,
    pub(crate) timeout: Duration,
}

impl Runner {
    /// Boots `kernel` in `mode` with a progress line on stderr (`note`, if not empty,
    /// goes into it: which of several boots this is), and returns its figures. A failure
    /// also shows the end of the serial transcript and QEMU's diagnostics.
    pub(crate) fn boot(&self, kernel: &str, mode: Mode, note: &str) -> anyhow::Result<Boot> {
        eprint!("bench {kernel} [{mode}]{note} ... ");
        let _ = io::stderr().flush();
        let started = Instant::now();
        let run = self.run(kernel, mode);
        let seconds = started.elapsed().as_secs_f64();
        let judged = run.map(|(qemu_command, captured)| {
            let figures = judge(&captured);
            (qemu_command, captured, figures)
        });
        match &judged {
            Ok((_, _, Ok(_))) => eprintln!("{seconds:.1} s"),
            Ok((_, captured, Err(_))) => {
                eprintln!("FAILED after {seconds:.1} s");
                print_tail(captured);
            }
            Err(_) => eprintln!("FAILED"),
        }
        let context = || format!("benchmark kernel {kernel} [{mode}]");
        let (qemu_command, _, figures) = judged.with_context(context)?;
        Ok(Boot {
            kernel: kernel.to_owned(),
            mode,
            seconds,
            qemu_command,
            figures: figures.with_context(context)?,
        })
    }

    /// Images and boots `kernel`; returns the QEMU command line and what the boot printed.
    fn run(&self, kernel: &str, mode: Mode) -> anyhow::Result<(String, Captured)> {
        let elf = self.elf_dir.join(kernel);
        let image = boot_image::image_path(&self.image_dir, &elf, FIRMWARE);
        boot_image::build_image(&elf, FIRMWARE, &image)?;
        let command = boot_image::command(&image, &mode.options())?;
        let shown = shell_line(&command);
        Ok((
            shown,
            boot_image::run_captured(command, self.timeout, None)?,
        ))
    }
}

/// The figures of a boot that ended well; an error saying why otherwise.
fn judge(captured: &Captured) -> anyhow::Result<Vec<Figure>> {
    if captured.outcome != Outcome::Success {
        bail!("{}", captured.outcome.describe());
    }
    parse_transcript(&captured.serial)
}

pub(crate) fn print_tail(captured: &Captured) {
    let lines: Vec<&str> = captured.serial.lines().collect();
    let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    match shown.len() {
        0 => eprintln!("    ---- no serial output ----"),
        count => eprintln!("    ---- last {count} serial lines ----"),
    }
    for line in shown {
        eprintln!("    | {line}");
    }
    for line in captured.stderr.lines() {
        eprintln!("    qemu: {line}");
    }
}

/// `command` as one line a shell would run as is.
pub(crate) fn shell_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| shell_quote(&word.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` quoted for a POSIX shell, if it needs quoting.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_differ_only_in_icount() {
        assert!(Mode::Icount.options().icount);
        assert_eq!(
            Mode::Tcg.options(),
            QemuOptions {
                firmware: Firmware::Bios,
                ..QemuOptions::default()
            }
        );
    }

    #[test]
    fn mttcg_boots_several_cpus_without_icount() {
        let options = Mode::Mttcg(2).options();
        assert_eq!(options.smp, 2);
        assert!(!options.icount);
        let args: Vec<_> = boot_image::machine_args(&options)
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect();
        let accel: Vec<_> = args.windows(2).filter(|pair| pair[0] == "-accel").collect();
        assert_eq!(accel, [["-accel", "tcg,thread=multi"]]);
        assert_eq!(Mode::Mttcg(2).to_string(), "mttcg -smp 2");
    }

    #[test]
    fn quotes_only_what_a_shell_would_split() {
        let mut command = Command::new("/usr/bin/qemu-system-x86_64");
        command.args([
            "-icount",
            "shift=0",
            "-drive",
            "file=/a b/k.img",
            "it's",
            "",
        ]);
        assert_eq!(
            shell_line(&command),
            r"/usr/bin/qemu-system-x86_64 -icount shift=0 -drive 'file=/a b/k.img' 'it'\''s' ''"
        );
    }

    fn captured(outcome: Outcome, serial: &str) -> Captured {
        Captured {
            outcome,
            serial: serial.into(),
            stderr: String::new(),
        }
    }

    #[test]
    fn a_boot_counts_only_if_the_kernel_succeeded() {
        let serial = "bench-result name=a unit=cycles samples=1 min=1 median=1 p99=1 max=1 \
                      overhead=0\nbench-done\n";
        assert_eq!(judge(&captured(Outcome::Success, serial)).unwrap().len(), 1);
        let failed = judge(&captured(Outcome::Failure, serial)).unwrap_err();
        assert_eq!(failed.to_string(), "kernel reported failure");
        let timeout = captured(Outcome::Timeout(Duration::from_secs(600)), serial);
        assert_eq!(
            judge(&timeout).unwrap_err().to_string(),
            "timed out after 600 s"
        );
    }
}
