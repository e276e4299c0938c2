//! Finding what QEMU needs on the host: its binary, UEFI firmware and KVM.

use std::{
    env,
    ffi::OsStr,
    fmt, fs, io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

const QEMU: &str = "qemu-system-x86_64";
const QEMU_ENV: &str = "SPINDLE_QEMU";
const OVMF_ENV: &str = "SPINDLE_OVMF";

/// Single-file OVMF builds, usable with `-bios`, where distributions put them.
const OVMF_SINGLE: [&str; 3] = [
    "/usr/share/ovmf/OVMF.fd",
    "/usr/share/OVMF/OVMF.fd",
    "/usr/share/qemu/OVMF.fd",
];
/// Debian's split OVMF: read-only code plus a template of the variable store.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// Finds `qemu-system-x86_64`: `$SPINDLE_QEMU` if set (a path, or a name
/// looked up in `PATH`), else the first one in `PATH`.
pub fn locate_qemu() -> anyhow::Result<PathBuf> {
    let path_var = env::var_os("PATH").unwrap_or_default();
    match env::var_os(QEMU_ENV) {
        Some(chosen) => resolve_override(&chosen, &path_var),
        None => find_in_path(OsStr::new(QEMU), &path_var).with_context(|| {
            format!(
                "{QEMU} not found: install the `qemu-system-x86` package \
                 (sudo apt-get install qemu-system-x86)"
            )
        }),
    }
}

/// Resolves `$SPINDLE_QEMU`: a value with a slash is a path, else a name.
fn resolve_override(chosen: &OsStr, path_var: &OsStr) -> anyhow::Result<PathBuf> {
    let found = if chosen.as_encoded_bytes().contains(&b'/') {
        Some(PathBuf::from(chosen)).filter(|path| is_executable(path))
    } else {
        find_in_path(chosen, path_var)
    };
    found.with_context(|| {
        format!(
            "{QEMU_ENV}={} is not an executable file",
            Path::new(chosen).display()
        )
    })
}

/// The first executable file called `name` in the directories of `path_var`.
fn find_in_path(name: &OsStr, path_var: &OsStr) -> Option<PathBuf> {
    env::split_paths(path_var)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A UEFI firmware for QEMU, in one of the two shapes distributions ship.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ovmf {
    /// One image holding code and variables, loaded with `-bios`.
    Single(PathBuf),
    /// Code and a template of the variable store, mapped as two pflash
    /// drives; the store must be a writable copy, since OVMF writes to it.
    Split { code: PathBuf, vars: PathBuf },
}

/// Finds OVMF: `$SPINDLE_OVMF` if set, else the usual install locations.
pub(crate) fn locate_ovmf() -> anyhow::Result<Ovmf> {
    ovmf_from(env::var_os(OVMF_ENV).map(PathBuf::from))
}

fn ovmf_from(chosen: Option<PathBuf>) -> anyhow::Result<Ovmf> {
    if let Some(path) = chosen {
        if !path.is_file() {
            bail!("{OVMF_ENV}={} is not a file", path.display());
        }
        return Ok(Ovmf::Single(path));
    }
    if let Some(single) = OVMF_SINGLE
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
    {
        return Ok(Ovmf::Single(single));
    }
    let (code, vars) = (PathBuf::from(OVMF_CODE), PathBuf::from(OVMF_VARS));
    if code.is_file() && vars.is_file() {
        return Ok(Ovmf::Split { code, vars });
    }
    bail!(
        "UEFI firmware (OVMF) not found: install the `ovmf` package \
         (sudo apt-get install ovmf), or boot with --bios"
    )
}

/// KVM was asked for but cannot be used; callers may fall back to TCG by
/// looking for this type with [`anyhow::Error::downcast_ref`].
#[derive(Debug)]
pub struct KvmUnavailable(io::Error);

impl fmt::Display for KvmUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KVM unavailable: cannot open /dev/kvm read-write: {}",
            self.0
        )
    }
}

impl std::error::Error for KvmUnavailable {}

/// Succeeds when this user can open `/dev/kvm` read-write, which is all
/// QEMU's `-enable-kvm` needs from the host.
pub(crate) fn check_kvm() -> Result<(), KvmUnavailable> {
    fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(KvmUnavailable)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A temporary PATH directory holding `qemu` (executable) and `data`.
    fn bin_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in [("qemu", 0o755), ("data", 0o644)] {
            let path = dir.path().join(name);
            fs::write(&path, b"").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        dir
    }

    #[test]
    fn searches_path_for_executables_only() {
        let dir = bin_dir();
        let path_var = env::join_paths(["/nonexistent".as_ref(), dir.path()]).unwrap();
        let found = find_in_path(OsStr::new("qemu"), &path_var);
        assert_eq!(found, Some(dir.path().join("qemu")));
        assert_eq!(find_in_path(OsStr::new("data"), &path_var), None);
    }

    #[test]
    fn override_is_a_path_or_a_name() {
        let dir = bin_dir();
        let qemu = dir.path().join("qemu");
        assert_eq!(
            resolve_override(qemu.as_os_str(), OsStr::new("")).unwrap(),
            qemu
        );
        let by_name = resolve_override(OsStr::new("qemu"), dir.path().as_os_str()).unwrap();
        assert_eq!(by_name, qemu);
        let err = resolve_override(OsStr::new("/nonexistent"), OsStr::new("")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SPINDLE_QEMU=/nonexistent is not an executable file"
        );
    }

    #[test]
    fn ovmf_override_must_exist() {
        let dir = bin_dir();
        let file = dir.path().join("data");
        assert_eq!(ovmf_from(Some(file.clone())).unwrap(), Ovmf::Single(file));
        let err = ovmf_from(Some(dir.path().join("missing")))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("SPINDLE_OVMF=") && err.ends_with("is not a file"),
            "{err}"
        );
    }
}
