//! How a QEMU machine is configured, and the checks on that configuration.

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
    /// Deterministic instruction counting (`-icount shift=0`), so timing
    /// dependent tests behave the same on fast and slow hosts.
    pub icount: bool,
    /// Wait for a debugger on tcp::1234 before starting the CPU (`-s -S`).
    pub gdb: bool,
    /// Show QEMU's window; when false, `-display none`.
    pub display: bool,
    /// Use KVM (`-enable-kvm -cpu host`) instead of TCG emulation.
    pub kvm: bool,
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
            extra_args: Vec::new(),
        }
    }
}

impl QemuOptions {
    /// Refuses values QEMU would reject with a less helpful message (or,
    /// for a bare `0`, accept and then fail to boot).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.smp == 0 {
            bail!("invalid CPU count 0: a machine needs at least 1 CPU");
        }
        if !is_memory_size(&self.memory) {
            bail!(
                "invalid memory size `{}`: expected a number of MiB, \
                 optionally suffixed M or G (e.g. 256M, 1G)",
                self.memory
            );
        }
        Ok(())
    }
}

/// Digits, not all zero, with an optional `M` or `G` suffix (either case).
fn is_memory_size(size: &str) -> bool {
    let digits = size.strip_suffix(['M', 'm', 'G', 'g']).unwrap_or(size);
    !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && digits.bytes().any(|byte| byte != b'0')
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
    }

    #[test]
    fn refuses_bad_memory_sizes() {
        for memory in ["", "M", "0M", "1.5G", "256MB", "-1G", "1T", " 1G"] {
            let err = with_memory(memory).validate().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid memory size `{memory}`")),
                "{err}"
            );
        }
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
