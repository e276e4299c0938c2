//! Bootable disk images: a kernel ELF wrapped by the `bootloader` crate.

use std::{
    ffi::OsStr,
    fmt, fs, io,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{Context, anyhow};
use bootloader::{BiosBoot, BootConfig, UefiBoot};
use bootloader_boot_config::LevelFilter;

use crate::{
    elf::{read_kernel, strip_debug_info},
    staging::staging_file,
};

/// How images are made, recorded beside each image with its kernel's path:
/// an image made another way is rebuilt. Change it whenever imaging
/// changes in a way that matters at boot.
const RECIPE: &[u8] = b"recipe 2: kernel without debug info";

/// Which firmware the image is made for (and QEMU boots it with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Firmware {
    /// Legacy BIOS: an MBR disk, booted by SeaBIOS (QEMU's default).
    Bios,
    /// UEFI: a GPT disk with an EFI system partition, booted by OVMF.
    Uefi,
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Bios => "bios",
            Self::Uefi => "uefi",
        })
    }
}

/// Where [`build_image`] output for `kernel` belongs inside `dir`:
/// `dir/<kernel file stem>-<firmware>.img`.
pub fn image_path(dir: &Path, kernel: &Path, firmware: Firmware) -> PathBuf {
    let mut name = kernel
        .file_stem()
        .unwrap_or(OsStr::new("kernel"))
        .to_owned();
    name.push(format!("-{firmware}.img"));
    dir.join(name)
}

/// Writes a bootable `firmware` disk image of `kernel` to `out`.
///
/// The kernel is checked with [`crate::check_kernel_elf`] first, and what
/// goes on the image is a copy without debug information (see
/// `strip_debug_info`). Parent directories of `out` are created as needed.
///
/// The image is not rebuilt when `out` is newer than `kernel` and was made
/// from that same kernel path (recorded in `<out>.source`, because
/// [`image_path`] only looks at the file stem and two kernels may share
/// one) by the current recipe (`RECIPE`, bumped when imaging changes).
/// Imaging depends on nothing else but this crate; a bootloader upgrade is
/// rare enough that deleting the images then is an acceptable price for
/// not rewriting megabytes on every boot. The image appears complete or
/// not at all: nothing is written for a kernel that fails its check.
pub fn build_image(kernel: &Path, firmware: Firmware, out: &Path) -> anyhow::Result<()> {
    let elf = read_kernel(kernel)?;
    let source =
        fs::canonicalize(kernel).with_context(|| format!("cannot resolve {}", kernel.display()))?;
    if is_newer(out, kernel)? && fs::read(source_record(out)).ok() == Some(record(&source)) {
        return Ok(());
    }
    let failed = |err: anyhow::Error| {
        anyhow!(
            "cannot build the {firmware} image {}: {err:#}",
            out.display()
        )
    };
    let staging = staging_file(out)?;
    let stripped = stripped_kernel(&elf, out).map_err(failed)?;
    write_image(stripped.path(), firmware, staging.path()).map_err(failed)?;
    staging
        .persist(out)
        .with_context(|| format!("cannot move the finished image to {}", out.display()))?;
    let record_path = source_record(out);
    fs::write(&record_path, record(&source))
        .with_context(|| format!("cannot write {}", record_path.display()))
}

/// The kernel without debug information, in a temporary file beside `out`
/// (deleted when dropped) for the bootloader's image builder to read.
fn stripped_kernel(elf: &[u8], out: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let stripped = strip_debug_info(elf)?;
    let file = staging_file(out)?;
    fs::write(file.path(), stripped).context("cannot write the kernel copy for the image")?;
    Ok(file)
}

/// The file next to an image that names the kernel it was made from.
fn source_record(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".source");
    name.into()
}

/// What the source record of an image of `kernel` holds: its path and the
/// [`RECIPE`], on two lines.
fn record(kernel: &Path) -> Vec<u8> {
    let mut bytes = kernel.as_os_str().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(RECIPE);
    bytes
}

/// True when `out` exists and was modified after `kernel`.
fn is_newer(out: &Path, kernel: &Path) -> anyhow::Result<bool> {
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified());
    let out_time = match modified(out) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        other => other.with_context(|| format!("cannot read the age of {}", out.display()))?,
    };
    let kernel_time: SystemTime =
        modified(kernel).with_context(|| format!("cannot read the age of {}", kernel.display()))?;
    Ok(out_time > kernel_time)
}

/// Runs the bootloader crate's image builder for `firmware`.
fn write_image(kernel: &Path, firmware: Firmware, out: &Path) -> anyhow::Result<()> {
    let config = boot_config();
    match firmware {
        Firmware::Bios => BiosBoot::new(kernel)
            .set_boot_config(&config)
            .create_disk_image(out),
        Firmware::Uefi => UefiBoot::new(kernel)
            .set_boot_config(&config)
            .create_disk_image(out),
    }
}

/// The bootloader's runtime configuration: its own log lines go to the
/// serial port only, and only when something is wrong, so that a test's
/// serial output starts with what the kernel prints. Framebuffer logging
/// is off because nothing looks at the screen (and drawing text is slow
/// under emulation).
fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.log_level = LevelFilter::Warn;
    config.frame_buffer_logging = false;
    config.serial_logging = true;
    config
}

#[cfg(test)]
mod tests {
    use std::{thread, time::Duration};

    use super::*;

    #[test]
    fn firmware_displays_lowercase() {
        assert_eq!(Firmware::Bios.to_string(), "bios");
        assert_eq!(Firmware::Uefi.to_string(), "uefi");
    }

    #[test]
    fn image_path_uses_stem_and_firmware() {
        let path = image_path(
            Path::new("/out"),
            Path::new("/t/release/sched.elf"),
            Firmware::Uefi,
        );
        assert_eq!(path, Path::new("/out/sched-uefi.img"));
    }

    #[test]
    fn refuses_a_bad_kernel_before_imaging() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("img/kernel-bios.img");
        let err = build_image(&dir.path().join("kernel"), Firmware::Bios, &out).unwrap_err();
        assert!(
            err.to_string().starts_with("kernel file not found"),
            "{err}"
        );
        assert!(!out.exists());
    }

    #[test]
    fn freshness_follows_modification_times() {
        let dir = tempfile::tempdir().unwrap();
        let (kernel, out) = (dir.path().join("kernel"), dir.path().join("kernel.img"));
        fs::write(&kernel, b"k").unwrap();
        assert!(!is_newer(&out, &kernel).unwrap());
        thread::sleep(Duration::from_millis(20));
        fs::write(&out, b"i").unwrap();
        assert!(is_newer(&out, &kernel).unwrap());
        thread::sleep(Duration::from_millis(20));
        fs::write(&kernel, b"k2").unwrap();
        assert!(!is_newer(&out, &kernel).unwrap());
    }

    #[test]
    fn builds_once_per_kernel_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        let header = crate::elf::tests::kernel(0);
        let (kernel_a, kernel_b) = (a.join("kernel"), b.join("kernel"));
        fs::write(&kernel_a, &header).unwrap();
        fs::write(&kernel_b, &header).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&kernel_b)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let out = image_path(&dir.path().join("images"), &kernel_a, Firmware::Bios);
        let built_at = |out: &Path| fs::metadata(out).unwrap().modified().unwrap();

        build_image(&kernel_a, Firmware::Bios, &out).unwrap();
        let first = built_at(&out);
        build_image(&kernel_a, Firmware::Bios, &out).unwrap();
        assert_eq!(built_at(&out), first, "an up-to-date image was rebuilt");
        build_image(&kernel_b, Firmware::Bios, &out).unwrap();
        assert_ne!(
            built_at(&out),
            first,
            "an image of another kernel was reused"
        );
    }

    #[test]
    fn builds_a_uefi_image() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel");
        fs::write(&kernel, crate::elf::tests::kernel(0)).unwrap();
        let out = image_path(dir.path(), &kernel, Firmware::Uefi);
        build_image(&kernel, Firmware::Uefi, &out).unwrap();
        assert!(fs::metadata(&out).unwrap().len() > 0);
    }

    /// Every byte on a BIOS image is read through SeaBIOS one sector per
    /// request, so debug information must stay off it.
    #[test]
    fn images_carry_no_debug_info() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel");
        let debug_info = 16 << 20;
        fs::write(&kernel, crate::elf::tests::kernel(debug_info)).unwrap();
        for firmware in [Firmware::Bios, Firmware::Uefi] {
            let out = image_path(dir.path(), &kernel, firmware);
            build_image(&kernel, firmware, &out).unwrap();
            let size = fs::metadata(&out).unwrap().len();
            assert!(size < debug_info as u64, "{firmware} image of {size} bytes");
        }
    }

    #[test]
    fn a_refused_kernel_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel");
        let mut truncated = crate::elf::tests::kernel(0);
        truncated.truncate(100);
        fs::write(&kernel, truncated).unwrap();
        let images = dir.path().join("images");
        let out = image_path(&images, &kernel, Firmware::Bios);
        let err = build_image(&kernel, Firmware::Bios, &out).unwrap_err();
        assert!(err.to_string().contains("is truncated"), "{err}");
        assert!(
            !images.exists(),
            "something was written for a refused kernel"
        );
    }

    #[test]
    fn images_made_by_another_recipe_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let kernel = dir.path().join("kernel");
        fs::write(&kernel, crate::elf::tests::kernel(0)).unwrap();
        let out = image_path(dir.path(), &kernel, Firmware::Bios);
        fs::write(&out, b"an image made before debug info was stripped").unwrap();
        let path = fs::canonicalize(&kernel).unwrap();
        fs::write(source_record(&out), path.as_os_str().as_bytes()).unwrap();
        build_image(&kernel, Firmware::Bios, &out).unwrap();
        assert!(
            fs::metadata(&out).unwrap().len() > 4096,
            "the old image was kept"
        );
    }

    #[test]
    fn boot_config_logs_warnings_to_serial_only() {
        let config = boot_config();
        assert_eq!(config.log_level, LevelFilter::Warn);
        assert!(!config.frame_buffer_logging && config.serial_logging);
    }
}
