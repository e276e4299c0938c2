//! Where the workspace keeps things, and building its default kernel.

use std::{
    env,
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use boot_image::KERNEL_TARGET;

/// Compile-time location of the workspace: the runner lives one level down.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The workspace root and its Cargo target directory.
#[derive(Debug)]
pub(crate) struct Workspace {
    root: PathBuf,
    target_dir: PathBuf,
}

impl Workspace {
    pub(crate) fn locate() -> anyhow::Result<Self> {
        let root = Path::new(ROOT)
            .canonicalize()
            .with_context(|| format!("cannot find the workspace at {ROOT}"))?;
        let target_dir = boot_image::target_dir(&root);
        Ok(Self { root, target_dir })
    }

    /// Where disk images are written.
    pub(crate) fn images_dir(&self) -> PathBuf {
        self.target_dir.join("spindle").join("images")
    }

    /// Builds the default kernel with Cargo (progress shown on this
    /// terminal) and returns the path of its ELF. With `trace`, the kernel
    /// records its schedule trace from boot (see [`build_command`]).
    pub(crate) fn build_kernel(&self, release: bool, trace: bool) -> anyhow::Result<PathBuf> {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let args: Vec<String> = cargo_args(release)
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        let status = build_command(&cargo, release, trace)
            .current_dir(&self.root)
            .status()
            .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
        if !status.success() {
            bail!(
                "kernel build failed: `cargo {}` ended with {status}",
                args.join(" ")
            );
        }
        let profile = if release { "release" } else { "debug" };
        Ok(self
            .target_dir
            .join(KERNEL_TARGET)
            .join(profile)
            .join("kernel"))
    }
}

/// The kernel's `cargo build`. `trace` sets `SPINDLE_TRACE=on`, which the
/// kernel reads with `option_env!` when it is compiled; Cargo records that
/// dependency and rebuilds the kernel whenever the value differs from the
/// last build's (a few seconds: only the kernel crate). Without `trace`, a
/// `SPINDLE_TRACE` in the caller's environment is passed on as it is.
fn build_command(cargo: &OsStr, release: bool, trace: bool) -> Command {
    let mut command = Command::new(cargo);
    command.args(cargo_args(release));
    if trace {
        command.env("SPINDLE_TRACE", "on");
    }
    command
}

/// `cargo build` of the default kernel, with the flags every kernel build takes
/// (`boot_image::kernel_build_flags`: unwinding panics).
fn cargo_args(release: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["build", "-p", "spindle", "--bin", "kernel", "--target"]
        .map(OsString::from)
        .into();
    args.push(KERNEL_TARGET.into());
    args.extend(boot_image::kernel_build_flags());
    if release {
        args.push("--release".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_is_passed_to_cargo() {
        assert!(!cargo_args(false).contains(&"--release".into()));
        assert_eq!(cargo_args(true).last(), Some(&"--release".into()));
        assert!(cargo_args(false).ends_with(&boot_image::kernel_build_flags()));
    }

    #[test]
    fn trace_builds_the_kernel_with_spindle_trace_on() {
        let env_of = |trace| {
            build_command(OsStr::new("cargo"), false, trace)
                .get_envs()
                .map(|(key, value)| (key.to_owned(), value.map(OsStr::to_owned)))
                .collect::<Vec<_>>()
        };
        assert_eq!(env_of(true), [("SPINDLE_TRACE".into(), Some("on".into()))]);
        assert!(env_of(false).is_empty());
    }

    #[test]
    fn root_is_the_workspace() {
        let workspace = Workspace::locate().unwrap();
        assert!(workspace.root.join("runner").join("Cargo.toml").is_file());
    }
}
