//! Spindle's servers: examples/http-server built in release mode, once as it is (a task
//! per connection) and once with its `threads` feature (a kernel thread per connection,
//! through the blocking socket calls), each put on a BIOS disk image.
//!
//! Both builds share the repository's target directory, where the example's own
//! `.cargo/config.toml` puts it too, so Spindle and `core` are compiled once; the feature
//! changes only the example, whose ELF is copied out after each build because the second
//! overwrites the first.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use boot_image::{Firmware, KERNEL_TARGET};

use super::Server;

/// Where the application lives in the repository, and its binary's name.
const EXAMPLE: &str = "examples/http-server";
const BINARY: &str = "http-server";

/// The Spindle servers: name, the example's features, description.
const BUILDS: [(&str, &[&str], &str); 2] = [
    (
        "spindle-tasks",
        &[],
        "Spindle, `examples/http-server`: a task per connection",
    ),
    (
        "spindle-threads",
        &["threads"],
        "Spindle, `examples/http-server --features threads`: a kernel thread per connection",
    ),
];

/// The Spindle servers, as filters and reports name them.
pub(crate) const NAMES: [&str; 2] = [BUILDS[0].0, BUILDS[1].0];

/// Builds the servers whose name `wanted` accepts and images them under
/// `target/bench/net/`.
pub(crate) fn build(root: &Path, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Server>> {
    let example = root.join(EXAMPLE);
    if !example.join("Cargo.toml").is_file() {
        bail!(
            "{EXAMPLE} is not in this checkout: measure Linux alone with `./x bench --net linux`"
        );
    }
    let target_dir = boot_image::target_dir(root);
    let out_dir = target_dir.join("bench/net");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut servers = Vec::new();
    for (name, features, description) in BUILDS {
        if !wanted(name) {
            continue;
        }
        let built = compile(&example, &target_dir, features)?;
        let elf = out_dir.join(name);
        fs::copy(&built, &elf).with_context(|| format!("cannot copy {}", built.display()))?;
        let image = boot_image::image_path(&out_dir, &elf, Firmware::Bios);
        boot_image::build_image(&elf, Firmware::Bios, &image)?;
        servers.push(Server::spindle(name, description, image));
    }
    Ok(servers)
}

/// `cargo build --release` of the example with `features`; returns the ELF's path.
fn compile(example: &Path, target_dir: &Path, features: &[&str]) -> anyhow::Result<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(example)
        .args([
            "build",
            "--release",
            "--bin",
            BINARY,
            "--target",
            KERNEL_TARGET,
        ])
        .args(boot_image::kernel_build_flags())
        .arg("--target-dir")
        .arg(target_dir);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let shown = crate::run::shell_line(&command);
    let status = command
        .status()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !status.success() {
        bail!("building {EXAMPLE} failed: `{shown}` ended with {status}");
    }
    Ok(target_dir.join(KERNEL_TARGET).join("release").join(BINARY))
}
