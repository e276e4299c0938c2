//! Debian's cloud kernel: which package it is, downloading it, and its `vmlinuz`.
//!
//! `linux-image-cloud-amd64` is a metapackage that depends on the current
//! `linux-image-<abi>-cloud-amd64`; that one holds `/boot/vmlinuz-<abi>-cloud-amd64`. The
//! cloud flavour has the 8250 UART and initramfs support built in, so it boots in QEMU
//! with nothing but an initramfs holding `/init`. Its virtio drivers are modules
//! (`CONFIG_VIRTIO_PCI=m`, `CONFIG_VIRTIO_NET=m`): what needs a virtio device takes them
//! from the same package ([`modules`]) and loads them itself.
//!
//! apt does the downloading (`apt-get download`: no root, no install, the archive and
//! version the machine is configured for). The `.deb` and the kernel extracted from it
//! stay under `target/bench/linux/`, so later runs reuse them, and a run without network
//! falls back to the newest kernel already there.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::SystemTime,
};

use anyhow::{Context, bail};

/// The metapackage that names the current cloud kernel.
const METAPACKAGE: &str = "linux-image-cloud-amd64";
/// What the kernel files in the cache are called, before the release.
const VMLINUZ_PREFIX: &str = "vmlinuz-";

/// The kernel to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kernel {
    /// The package it came from (`linux-image-6.1.0-57-cloud-amd64`).
    pub(crate) package: String,
    /// The `vmlinuz` file.
    pub(crate) vmlinuz: PathBuf,
}

/// The cloud kernel in `cache` (a directory), downloading and extracting it if it is
/// not there yet.
pub(crate) fn fetch(cache: &Path) -> anyhow::Result<Kernel> {
    fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let package = match current_package() {
        Ok(package) => package,
        Err(error) => return cached(cache, &error),
    };
    let release = release_of(&package)?;
    let vmlinuz = cache.join(format!("{VMLINUZ_PREFIX}{release}"));
    if !vmlinuz.is_file() {
        let deb = download(&package, cache)?;
        extract(&deb, &release, &vmlinuz)?;
    }
    Ok(Kernel { package, vmlinuz })
}

/// The package `linux-image-cloud-amd64` depends on, as apt's lists know it.
fn current_package() -> anyhow::Result<String> {
    let output = tool("apt-cache", &["depends", METAPACKAGE], Path::new("."))?;
    if !output.status.success() {
        bail!(
            "apt-cache does not know {METAPACKAGE} (run `apt-get update`; the package is in \
             Debian's main archive): {}",
            last_line(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    kernel_dependency(&text)
        .with_context(|| format!("`apt-cache depends {METAPACKAGE}` names no kernel:\n{text}"))
}

/// The `linux-image-*` dependency in `apt-cache depends` output.
fn kernel_dependency(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|name| name.starts_with("linux-image-") && *name != METAPACKAGE)
        .map(str::to_owned)
}

/// `6.1.0-57-cloud-amd64` from `linux-image-6.1.0-57-cloud-amd64`.
fn release_of(package: &str) -> anyhow::Result<String> {
    package
        .strip_prefix("linux-image-")
        .filter(|release| release.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .with_context(|| format!("`{package}` is not a linux-image-<release> package"))
}

/// Downloads `package`'s `.deb` into `dir` and returns its path.
fn download(package: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("linux: downloading {package} from Debian's archive ...");
    // Bounded network waits: a machine without network fails in seconds, not minutes.
    let args = [
        "-q",
        "-o",
        "Acquire::http::Timeout=30",
        "-o",
        "Acquire::Retries=1",
        "download",
        package,
    ];
    let output = tool("apt-get", &args, dir)?;
    if !output.status.success() {
        bail!(
            "could not download {package} from Debian's archive (is deb.debian.org \
             reachable? `apt-get update` first?): {}",
            last_line(&output.stderr)
        );
    }
    newest_deb(dir, package)
}

/// The `.deb` of `package` in `dir` (`<package>_<version>_amd64.deb`).
fn newest_deb(dir: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let prefix = format!("{package}_");
    let mut debs: Vec<PathBuf> = entries(dir)?
        .into_iter()
        .filter(|path| {
            let name = file_name(path);
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .collect();
    debs.sort();
    debs.pop()
        .with_context(|| format!("apt-get left no {package} .deb in {}", dir.display()))
}

/// Writes the `vmlinuz` of `release` from `deb` to `out`.
fn extract(deb: &Path, release: &str, out: &Path) -> anyhow::Result<()> {
    let unpacked = unpack(deb, &out.with_extension("unpacked"))?;
    let inside = unpacked.join(format!("boot/{VMLINUZ_PREFIX}{release}"));
    fs::copy(&inside, out)
        .with_context(|| format!("{} has no {}", deb.display(), inside.display()))?;
    fs::remove_dir_all(&unpacked).with_context(|| format!("cannot remove {}", unpacked.display()))
}

/// The kernel modules called `names` (`virtio_net`) from `kernel`'s package, each as its
/// name and contents. They are extracted once into `cache/modules-<release>/`, where
/// later runs find them.
pub(crate) fn modules(
    cache: &Path,
    kernel: &Kernel,
    names: &[&str],
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let release = release_of(&kernel.package)?;
    let dir = cache.join(format!("modules-{release}"));
    let path = |name: &str| dir.join(format!("{name}.ko"));
    if !names.iter().all(|name| path(name).is_file()) {
        let deb = newest_deb(cache, &kernel.package)?;
        let unpacked = unpack(&deb, &dir.with_extension("unpacked"))?;
        let tree = unpacked.join(format!("lib/modules/{release}/kernel"));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for name in names {
            let found = find_file(&tree, &format!("{name}.ko"))?
                .with_context(|| format!("{} has no module {name}", deb.display()))?;
            fs::copy(&found, path(name))
                .with_context(|| format!("cannot copy {}", found.display()))?;
        }
        fs::remove_dir_all(&unpacked)
            .with_context(|| format!("cannot remove {}", unpacked.display()))?;
    }
    names
        .iter()
        .map(|name| {
            let path = path(name);
            let data =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(((*name).to_owned(), data))
        })
        .collect()
}

/// The file called `name` somewhere under `dir`.
fn find_file(dir: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
    for path in entries(dir)? {
        if path.is_dir() {
            if let Some(found) = find_file(&path, name)? {
                return Ok(Some(found));
            }
        } else if file_name(&path) == name {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Unpacks `deb` into the directory `into` (emptied first) and returns it.
fn unpack(deb: &Path, into: &Path) -> anyhow::Result<PathBuf> {
    let _ = fs::remove_dir_all(into);
    let deb_arg = deb.to_string_lossy();
    let into_arg = into.to_string_lossy();
    let output = tool("dpkg-deb", &["-x", &deb_arg, &into_arg], Path::new("."))?;
    if !output.status.success() {
        bail!(
            "dpkg-deb could not unpack {}: {}",
            deb.display(),
            last_line(&output.stderr)
        );
    }
    Ok(into.to_path_buf())
}

/// The newest kernel already in `cache`, for a run whose apt cannot resolve the package
/// (`why`): an offline machine can still rerun the comparison.
fn cached(cache: &Path, why: &anyhow::Error) -> anyhow::Result<Kernel> {
    let mut kernels: Vec<(SystemTime, PathBuf)> = entries(cache)?
        .into_iter()
        .filter(|path| file_name(path).starts_with(VMLINUZ_PREFIX) && path.is_file())
        .map(|path| (modified(&path), path))
        .collect();
    kernels.sort();
    let (_, vmlinuz) = kernels
        .pop()
        .with_context(|| format!("{why:#}; and no kernel is cached in {}", cache.display()))?;
    let release = &file_name(&vmlinuz)[VMLINUZ_PREFIX.len()..];
    eprintln!("linux: {why:#}; using the cached {release}");
    Ok(Kernel {
        package: format!("linux-image-{release}"),
        vmlinuz,
    })
}

/// Runs a packaging tool in `dir`; a missing tool is an error naming its package.
fn tool(program: &str, args: &[&str], dir: &Path) -> anyhow::Result<Output> {
    let output = Command::new(program).args(args).current_dir(dir).output();
    match output {
        Ok(output) => Ok(output),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "{program} not found: `./x bench --linux` fetches Debian's kernel with apt and \
             dpkg (packages apt and dpkg, on any Debian or Ubuntu)"
        ),
        Err(error) => Err(error).with_context(|| format!("cannot run {program}")),
    }
}

fn entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let read = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(read
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect())
}

/// When `path` was last written (a kernel's release numbers do not sort as text).
fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The last non-empty line of a tool's stderr: usually the one that says why.
pub(super) fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("(no message)")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_kernel_the_metapackage_depends_on() {
        let text = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n";
        assert_eq!(
            kernel_dependency(text).as_deref(),
            Some("linux-image-6.1.0-57-cloud-amd64")
        );
        assert_eq!(kernel_dependency("linux-image-cloud-amd64\n"), None);
    }

    #[test]
    fn the_release_is_the_package_name_after_linux_image() {
        assert_eq!(
            release_of("linux-image-6.1.0-57-cloud-amd64").unwrap(),
            "6.1.0-57-cloud-amd64"
        );
        assert!(release_of("linux-image-cloud-amd64").is_err());
        assert!(release_of("bash").is_err());
    }

    #[test]
    fn picks_the_package_deb_and_the_newest_cached_kernel() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "linux-image-6.1.0-57-cloud-amd64_6.1.192-3_amd64.deb",
            "linux-image-cloud-amd64_6.1.192-3_amd64.deb",
            "vmlinuz-6.1.0-57-cloud-amd64",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let deb = newest_deb(dir.path(), "linux-image-6.1.0-57-cloud-amd64").unwrap();
        assert!(file_name(&deb).starts_with("linux-image-6.1.0-57-cloud-amd64_6.1.192-3"));
        let offline = anyhow::anyhow!("offline");
        let kernel = cached(dir.path(), &offline).unwrap();
        assert_eq!(kernel.package, "linux-image-6.1.0-57-cloud-amd64");
        let empty = tempfile::tempdir().unwrap();
        let error = cached(empty.path(), &offline).unwrap_err().to_string();
        assert!(
            error.starts_with("offline; and no kernel is cached in"),
            "{error}"
        );
    }

    #[test]
    fn modules_come_from_the_cache_once_extracted() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("modules-6.1.0-57-cloud-amd64");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("virtio.ko"), b"one").unwrap();
        fs::write(dir.join("virtio_net.ko"), b"two").unwrap();
        let kernel = Kernel {
            package: "linux-image-6.1.0-57-cloud-amd64".into(),
            vmlinuz: cache.path().join("vmlinuz-6.1.0-57-cloud-amd64"),
        };
        let found = modules(cache.path(), &kernel, &["virtio_net", "virtio"]).unwrap();
        assert_eq!(
            found,
            [
                ("virtio_net".to_owned(), b"two".to_vec()),
                ("virtio".to_owned(), b"one".to_vec())
            ]
        );
        let error = modules(cache.path(), &kernel, &["failover"]).unwrap_err();
        assert!(
            error.to_string().contains("no linux-image-6.1.0-57"),
            "{error}"
        );
    }

    #[test]
    fn finds_a_file_anywhere_in_a_tree() {
        let tree = tempfile::tempdir().unwrap();
        let deep = tree.path().join("drivers/net");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("virtio_net.ko"), b"").unwrap();
        fs::write(tree.path().join("virtio.ko"), b"").unwrap();
        let found = find_file(tree.path(), "virtio_net.ko").unwrap().unwrap();
        assert_eq!(found, deep.join("virtio_net.ko"));
        assert_eq!(find_file(tree.path(), "failover.ko").unwrap(), None);
    }

    #[test]
    fn a_missing_tool_names_what_to_install() {
        let error = tool("no-such-tool-spindle", &[], Path::new(".")).unwrap_err();
        assert!(error.to_string().contains("no-such-tool-spindle not found"));
    }

    #[test]
    fn the_last_line_says_why() {
        assert_eq!(
            last_line(b"W: warm\nE: Unable to locate package x\n\n"),
            "E: Unable to locate package x"
        );
        assert_eq!(last_line(b""), "(no message)");
    }
}
