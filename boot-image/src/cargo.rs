//! Building kernels with Cargo, for the tools that boot them.
//!
//! The test and benchmark kernels live in bare-metal workspaces of their own (nested in
//! the host workspace but excluded from it), built with one `cargo build` each. Both the
//! build and the lookup of its ELFs go through here, so they cannot disagree about where
//! the ELFs land: the target directory and the target triple are passed to Cargo
//! explicitly instead of being left to each workspace's `.cargo/config.toml`.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The target every Spindle kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// A Cargo build profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `dev`: what `cargo build` builds; its output directory is `debug`.
    Dev,
    /// `release`: `cargo build --release`.
    Release,
}

impl Profile {
    /// The directory under `<target dir>/<triple>/` that Cargo writes this profile to.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Dev => "debug",
            Self::Release => "release",
        }
    }
}

/// The Cargo target directory of the host workspace at `root`: `CARGO_TARGET_DIR`
/// (relative to `root`, where builds are started) if set, else `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    resolve_target_dir(root, env::var_os("CARGO_TARGET_DIR"))
}

fn resolve_target_dir(root: &Path, from_env: Option<OsString>) -> PathBuf {
    root.join(from_env.unwrap_or_else(|| "target".into()))
}

/// Builds every binary of the kernel workspace in `workspace` with one `cargo build`
/// (progress shown on this terminal) into `target_dir`, and returns the directory
/// holding the kernel ELFs, each named after its binary.
pub fn build_kernels(
    workspace: &Path,
    target_dir: &Path,
    profile: Profile,
) -> anyhow::Result<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = cargo_args(target_dir, profile);
    let status = Command::new(&cargo)
        .args(&args)
        .current_dir(workspace)
        .status()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    if !status.success() {
        bail!(
            "building the kernels in {} failed: `cargo {}` ended with {status}",
            workspace.display(),
            shown(&args)
        );
    }
    Ok(target_dir.join(KERNEL_TARGET).join(profile.dir_name()))
}

fn shown(args: &[OsString]) -> String {
    let args: Vec<_> = args.iter().map(|arg| arg.to_string_lossy()).collect();
    args.join(" ")
}

fn cargo_args(target_dir: &Path, profile: Profile) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["build".into(), "--target".into(), KERNEL_TARGET.into()];
    args.extend(["--target-dir".into(), target_dir.into()]);
    if profile == Profile::Release {
        args.push("--release".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_honours_the_environment() {
        let root = Path::new("/ws");
        let resolve = |env: Option<&str>| resolve_target_dir(root, env.map(OsString::from));
        assert_eq!(resolve(None), Path::new("/ws/target"));
        assert_eq!(resolve(Some("/tmp/t")), Path::new("/tmp/t"));
        assert_eq!(resolve(Some("out")), Path::new("/ws/out"));
    }

    #[test]
    fn profile_and_target_dir_are_passed_to_cargo() {
        let args = cargo_args(Path::new("/ws/target"), Profile::Release);
        let args: Vec<&str> = args.iter().map(|arg| arg.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "build",
                "--target",
                KERNEL_TARGET,
                "--target-dir",
                "/ws/target",
                "--release"
            ]
        );
        assert!(!cargo_args(Path::new("t"), Profile::Dev).contains(&"--release".into()));
    }

    #[test]
    fn profiles_name_their_output_directory() {
        assert_eq!(Profile::Dev.dir_name(), "debug");
        assert_eq!(Profile::Release.dir_name(), "release");
    }
}
