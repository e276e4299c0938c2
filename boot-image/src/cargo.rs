//! Building kernels with Cargo, for the tools that boot them.
//!
//! The test and benchmark kernels live in bare-metal workspaces of their own (nested in
//! the host workspace but excluded from it), built with one `cargo build` each. Both the
//! build and the lookup of its ELFs go through here, so they cannot disagree about where
//! the ELFs land: the target directory and the target triple are passed to Cargo
//! explicitly instead of being left to each workspace's `.cargo/config.toml`.
//!
//! Every kernel is built so that a panic can unwind ([`KERNEL_BUILD_STD`],
//! [`KERNEL_RUSTFLAGS`]): the one place these flags are set for the runner and the test and
//! benchmark harnesses ([`kernel_build_flags`]). A crate outside the repository (the
//! example, a user's own kernel) repeats them in its `.cargo/config.toml`; a host test holds
//! the example's to these.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The target every Spindle kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The standard crates every kernel build compiles from source (`-Zbuild-std`): the
/// prebuilt `core` for the target carries no unwind tables, so a panic could not unwind
/// through `core::panicking`.
pub const KERNEL_BUILD_STD: [&str; 2] = ["core", "alloc"];

/// The rustc flags of every kernel build: panics unwind (the target's default is to
/// abort), and every function gets unwind tables (the target emits none by default).
/// Spindle checks at boot that they were given and says how to fix a crate that lacks them.
pub const KERNEL_RUSTFLAGS: [&str; 2] = ["-Cpanic=unwind", "-Cforce-unwind-tables=yes"];

/// Cargo's arguments for building kernels with [`KERNEL_BUILD_STD`] and
/// [`KERNEL_RUSTFLAGS`], beside `--target`: the same for every workspace, so that the ones
/// sharing a target directory (and a profile) share one build of `core` and `alloc`. Also
/// no future-incompatibility note: `core` built for this soft-float target trips one in
/// its own SSE code (not Spindle's), and cargo would print it after every build.
pub fn kernel_build_flags() -> Vec<OsString> {
    let quoted: Vec<String> = KERNEL_RUSTFLAGS
        .iter()
        .map(|flag| format!("\"{flag}\""))
        .collect();
    vec![
        format!("-Zbuild-std={}", KERNEL_BUILD_STD.join(",")).into(),
        "--config".into(),
        format!("target.{KERNEL_TARGET}.rustflags=[{}]", quoted.join(",")).into(),
        "--config".into(),
        "future-incompat-report.frequency=\"never\"".into(),
    ]
}

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
    args.extend(kernel_build_flags());
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
                "-Zbuild-std=core,alloc",
                "--config",
                "target.x86_64-unknown-none.rustflags=[\"-Cpanic=unwind\",\"-Cforce-unwind-tables=yes\"]",
                "--config",
                "future-incompat-report.frequency=\"never\"",
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
