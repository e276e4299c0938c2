//! How a QEMU machine is configured, and the checks on that configuration.

use std::path::PathBuf;

use anyhow::bail;

use crate::image::Firmware;

/// The knobs of a QEMU run; [`Default`] is a 1-CPU, 256 MiB UEFI machine
/// under TCG, without a display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuOptions {
    /// Firmware to boot the image with; must match how it was built.
    pub firmware: Firmware,
    /// Number of CPUs (`-smp`), at least 1.
    pub smp: u32,
    /// Guest RAM (`-m`): a number of MiB, optionally suffixed `M` or `G`.
    pub memory: String,
    /// Deterministic instruction counting (`-icount shift=0,sleep=off`), so
    /// timing dependent tests behave the same on fast and slow hosts.
    pub icount: bool,
    /// Wait for a debugger on tcp::1234 before starting the CPU (`-s -S`).
    pub gdb: bool,
    /// Show QEMU's window; when false, `-display none`.
    pub display: bool,
    /// Use KVM (`-enable-kvm -cpu host`) instead of TCG emulation.
    pub kvm: bool,
    /// The file that receives what the guest writes to the debug console
    /// port 0xE9 (`isa-debugcon`): the schedule trace's stream. `None`
    /// attaches no such device, and the guest's writes to the port are
    /// ignored.
    pub debugcon: Option<PathBuf>,
    /// A virtio network card on QEMU's user network, with the host's 127.0.0.1:PORT
    /// forwarded to the guest: TCP to port 80, UDP to port 7 (`--net PORT`).
    pub net: Option<u16>,
    /// Leaves out `restrict=on` from [`net`](Self::net)'s user network: the runner's
    /// `--net-unrestricted`, off by default (the test harness never sets it). Restricted,
    /// the guest reaches nothing beyond QEMU's 10.0.2.x, but libslirp then also drops
    /// every UDP datagram the guest sends (`udp_input` lets only DHCP and TFTP through),
    /// replies to forwarded ones included: a UDP echo's answer never reaches the host.
    pub net_unrestricted: bool,
    /// Arguments appended verbatim after everything else.
    pub extra_args: Vec<String>,
}

impl Default for QemuOptions {
    fn default() -> Self {
        Self {
            firmware: Firmware::Uefi,
            smp: 1,
            memory: "256M".into(),
            icount: false,
            gdb: false,
            display: false,
            kvm: false,
            debugcon: None,
            net: None,
            net_unrestricted: false,
            extra_args: Vec::new(),
        }
    }
}

impl QemuOptions {
    /// Refuses values QEMU would reject with a less helpful message, or
    /// accept and then fail to boot: a bare `0`, or less memory than the
    /// firmware and bootloader need ([`minimum_memory_mib`]). [`command`]
    /// checks too; callers that do slow work before booting (building a
    /// kernel) check first.
    ///
    /// [`command`]: super::command()
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.smp == 0 {
            bail!("invalid CPU count 0: a machine needs at least 1 CPU");
        }
        if self.net == Some(0) {
            bail!("invalid network port 0: the host needs a port to forward");
        }
        if self.net.is_some() && self.icount {
            bail!(
                "the network and --icount do not mix: QEMU's user network runs on host time \
                 while the guest's clock counts instructions"
            );
        }
        let Some(mib) = memory_mib(&self.memory) else {
            bail!(
                "invalid memory size `{}`: expected a positive number of MiB, \
                 optionally suffixed M or G (e.g. 256M, 1G)",
                self.memory
            );
        };
        let least = minimum_memory_mib(self.firmware);
        if mib < least {
            bail!(
                "memory size {} is too small: a {} boot needs at least {least}M",
                self.memory,
                self.firmware
            );
        }
        Ok(())
    }
}

/// The least guest RAM, in MiB, that a `firmware` boot is allowed.
///
/// Measured with the default kernel (debug build, 1 CPU, debug info
/// stripped as on every image): BIOS boots with 21 MiB and not with 20
/// (the bootloader copies the kernel file to 16 MiB and needs frames above
/// it for page tables; with 16 MiB or less nothing is printed at all),
/// UEFI boots with 41 MiB and not with 40 (OVMF keeps a share for itself).
/// Below that the bootloader panics inside QEMU and the run hangs, so a
/// smaller size is refused up front. The minimums leave about half as much
/// again for bigger kernels.
pub fn minimum_memory_mib(firmware: Firmware) -> u64 {
    match firmware {
        Firmware::Bios => 32,
        Firmware::Uefi => 64,
    }
}

/// The size in MiB of digits, not all zero, with an optional `M` or `G`
/// suffix (either case); `None` for anything else.
fn memory_mib(size: &str) -> Option<u64> {
    let (digits, unit) = match size.strip_suffix(['G', 'g']) {
        Some(digits) => (digits, 1024),
        None => (size.strip_suffix(['M', 'm']).unwrap_or(size), 1),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let mib = digits.parse::<u64>().ok()?.checked_mul(unit)?;
    (mib > 0).then_some(mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_memory(memory: &str) -> QemuOptions {
        QemuOptions {
            memory: memory.into(),
            ..QemuOptions::default()
        }
    }

    #[test]
    fn defaults_are_valid() {
        QemuOptions::default().validate().unwrap();
    }

    #[test]
    fn accepts_memory_sizes() {
        for memory in ["256M", "1G", "512", "2g", "64m"] {
            with_memory(memory).validate().unwrap();
        }
        assert_eq!(memory_mib("2G"), Some(2048));
        assert_eq!(memory_mib("0064"), Some(64));
    }

    #[test]
    fn refuses_bad_memory_sizes() {
        for memory in [
            "",
            "M",
            "0M",
            "1.5G",
            "256MB",
            "-1G",
            "-1",
            "1T",
            " 1G",
            "99999999999999999999G",
        ] {
            let err = with_memory(memory).validate().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid memory size `{memory}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_memory_below_the_firmware_minimum() {
        let bios = |memory: &str| QemuOptions {
            firmware: Firmware::Bios,
            ..with_memory(memory)
        };
        let err = bios("8M").validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "memory size 8M is too small: a bios boot needs at least 32M"
        );
        bios("32M").validate().unwrap();
        let err = with_memory("48M").validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "memory size 48M is too small: a uefi boot needs at least 64M"
        );
        with_memory("64M").validate().unwrap();
    }

    #[test]
    fn refuses_a_network_under_icount_and_port_zero() {
        let net = |port, icount| QemuOptions {
            net: Some(port),
            icount,
            ..QemuOptions::default()
        };
        net(8080, false).validate().unwrap();
        let err = net(8080, true).validate().unwrap_err().to_string();
        assert!(
            err.starts_with("the network and --icount do not mix"),
            "{err}"
        );
        let err = net(0, false).validate().unwrap_err().to_string();
        assert!(err.starts_with("invalid network port 0"), "{err}");
    }

    #[test]
    fn refuses_zero_cpus() {
        let err = QemuOptions {
            smp: 0,
            ..QemuOptions::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().starts_with("invalid CPU count 0"));
    }
}
