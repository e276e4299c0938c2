//! `./x bench --linux`: the same thread figures measured on Linux, under the same QEMU,
//! to put beside Spindle's.
//!
//! A figure like "219 instructions per yield" means little alone; next to what a
//! general-purpose kernel spends on the same operation, measured the same way, it says
//! what the design buys. So the runner boots Debian's cloud kernel ([`package`]) with an
//! initramfs holding one static C program ([`init`], [`cpio`]; source in
//! `benches/linux/init.c`) that measures Spindle's definitions of `thread_yield`,
//! `block_wake`, `spawn_join` and the cross-CPU wake with POSIX threads, `sched_yield`
//! and futexes, and prints the same `bench-result` lines ([`boot`]). It boots once under
//! `-icount shift=0` with one CPU (instruction counts, comparable with Spindle's icount
//! medians) and `--boots` times under MTTCG with two CPUs (host time, comparable with
//! Spindle's SMP figures of the same names). [`report`] puts both side by side.
//!
//! Everything it needs lands under `target/bench/linux/`: the `.deb`, the extracted
//! `vmlinuz`, the compiled `init` and the initramfs. `./x bench --net` boots the same
//! kernel with a server as `/init` instead ([`server`]).

mod boot;
mod cpio;
mod init;
mod package;
pub(crate) mod report;
pub(crate) mod server;

use std::{path::Path, time::Duration};

use anyhow::ensure;
pub(crate) use boot::args as boot_args;

use crate::{
    discover::{KernelSpec, Ratio},
    parse::Figure,
    run::{Boot, Mode},
    smp::SmpResults,
};

/// The CPUs of the cross-CPU boots: one for each player, as Spindle's SMP kernels.
const SMP_CPUS: u32 = 2;
/// The SMP figures, named as Spindle's, whose ratio both sides report.
const SAME_CPU: &str = "smp_thread_wake_same_cpu";
const CROSS_CPU: &str = "smp_thread_wake_cross_cpu";

/// What is ready to boot.
#[derive(Debug)]
pub(crate) struct Prepared {
    kernel: package::Kernel,
    initramfs: std::path::PathBuf,
}

/// Fetches the kernel and builds the initramfs in `dir`; done before Spindle's suite
/// runs, so that a missing tool or package fails the run in seconds, not minutes.
pub(crate) fn prepare(dir: &Path) -> anyhow::Result<Prepared> {
    let kernel = package::fetch(dir)?;
    let initramfs = init::build_initramfs(dir)?;
    Ok(Prepared { kernel, initramfs })
}

/// Everything measured on Linux.
#[derive(Debug)]
pub(crate) struct LinuxResults {
    /// The guest's `uname -r`.
    pub(crate) release: String,
    /// The Debian package the kernel came from.
    pub(crate) package: String,
    /// The one-CPU icount boot.
    pub(crate) icount: Boot,
    /// The two-CPU MTTCG boots, summarised as Spindle's SMP kernels are.
    pub(crate) smp: SmpResults,
}

impl LinuxResults {
    /// The icount figure called `name`.
    pub(crate) fn icount_figure(&self, name: &str) -> Option<&Figure> {
        self.icount
            .figures
            .iter()
            .find(|figure| figure.name == name)
    }
}

/// Boots the prepared guest once under icount and `boots` times at two CPUs under MTTCG.
pub(crate) fn measure(
    prepared: &Prepared,
    timeout: Duration,
    boots: u64,
) -> anyhow::Result<LinuxResults> {
    let guest = boot::Guest {
        vmlinuz: &prepared.kernel.vmlinuz,
        initramfs: &prepared.initramfs,
        timeout,
    };
    let icount = guest.boot(Mode::Icount, "")?;
    let mut smp_boots = Vec::new();
    for round in 1..=boots {
        let booted = guest.boot(Mode::Mttcg(SMP_CPUS), &format!(" {round}/{boots}"))?;
        ensure!(
            booted.release == icount.release,
            "the guest reported two releases: {} and {}",
            icount.release,
            booted.release
        );
        smp_boots.push(booted.boot);
    }
    Ok(LinuxResults {
        release: icount.release,
        package: prepared.kernel.package.clone(),
        icount: icount.boot,
        smp: SmpResults::new(&[smp_spec()], smp_boots)?,
    })
}

/// The two-CPU boots described as an SMP kernel, with the ratio Spindle's declares.
fn smp_spec() -> KernelSpec {
    KernelSpec {
        name: "linux".into(),
        smp: Some(SMP_CPUS),
        ratios: vec![Ratio {
            numerator: CROSS_CPU.into(),
            denominator: SAME_CPU.into(),
        }],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::tests::boot;

    /// Linux results with the figures of the hand measurements.
    pub(crate) fn sample() -> LinuxResults {
        let icount = boot(
            "linux",
            Mode::Icount,
            &[
                ("thread_yield", 2042),
                ("block_wake", 4989),
                ("spawn_join", 67320),
                ("pipe_ping_pong", 6476),
            ],
        );
        let smp_boots = [(27_000, 110_000), (30_000, 90_000), (25_000, 100_000)]
            .iter()
            .map(|&(same, cross)| {
                boot(
                    "linux",
                    Mode::Mttcg(2),
                    &[(SAME_CPU, same), (CROSS_CPU, cross)],
                )
            })
            .collect();
        LinuxResults {
            release: "6.1.0-57-cloud-amd64".into(),
            package: "linux-image-6.1.0-57-cloud-amd64".into(),
            icount,
            smp: SmpResults::new(&[smp_spec()], smp_boots).unwrap(),
        }
    }

    #[test]
    fn smp_boots_are_summarised_with_spindles_ratio() {
        let linux = sample();
        assert_eq!(linux.smp.rows.len(), 2);
        assert_eq!(linux.smp.rows[1].spread.median, 100_000.0);
        let ratio = &linux.smp.ratios[0];
        assert_eq!(ratio.ratio.name(), format!("{CROSS_CPU} / {SAME_CPU}"));
        assert_eq!(linux.icount_figure("spawn_join").unwrap().median, 67320);
        assert!(linux.icount_figure("nope").is_none());
    }
}
