//! The Linux server of `./x bench --net`: `benches/linux/httpd.c` compiled into a static
//! executable and packed as `/init` into an initramfs, beside the virtio modules it loads
//! (the cloud kernel has virtio-net as modules, see [`super::package`]).
//!
//! The modules sit in the archive's root as `<name>.ko`: the kernel's initramfs unpacker
//! creates no directory a file's path needs, and `/init` opens them by name.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;

use super::{
    cpio,
    init::compile_program,
    package::{self, Kernel},
};

/// The C source of the server's `/init`.
const SOURCE: &str = include_str!("../../linux/httpd.c");

/// The modules virtio-net needs, each after those it depends on (their `depends=`
/// fields), which is the order `/init` loads them in (its `MODULES`).
pub(crate) const MODULES: [&str; 8] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

/// The kernel to boot and the initramfs with the server.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) kernel: Kernel,
    pub(crate) initramfs: PathBuf,
}

/// Fetches the kernel and its modules and builds the server's initramfs, all in `dir`.
pub(crate) fn prepare(dir: &Path) -> anyhow::Result<Prepared> {
    let kernel = package::fetch(dir)?;
    let modules = package::modules(dir, &kernel, &MODULES)?;
    let init = compile_program(dir, "httpd", SOURCE)?;
    let names: Vec<String> = modules
        .iter()
        .map(|(name, _)| format!("{name}.ko"))
        .collect();
    let mut files = vec![cpio::File {
        name: "init",
        permissions: 0o755,
        data: &init,
    }];
    files.extend(
        names
            .iter()
            .zip(&modules)
            .map(|(name, (_, data))| cpio::File {
                name,
                permissions: 0o644,
                data,
            }),
    );
    let initramfs = dir.join("httpd-initramfs.cpio");
    fs::write(&initramfs, cpio::archive(&files))
        .with_context(|| format!("cannot write {}", initramfs.display()))?;
    Ok(Prepared { kernel, initramfs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_loads_the_same_modules_in_the_same_order() {
        let list_start = SOURCE.find("MODULES[] = {").unwrap();
        let list_end = list_start + SOURCE[list_start..].find("};").unwrap();
        let listed: Vec<&str> = SOURCE[list_start..list_end]
            .split('"')
            .skip(1)
            .step_by(2)
            .collect();
        let expected: Vec<String> = MODULES.iter().map(|name| format!("{name}.ko")).collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn the_source_prints_what_the_runner_reads() {
        for needle in [
            "linux-release %s",
            "bench-error %s",
            "hello from spindle\\n",
        ] {
            assert!(SOURCE.contains(needle), "{needle}");
        }
    }
}
