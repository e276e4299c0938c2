//! The kernel's models: its cross-CPU handshakes run under the `shuttle` model checker
//! (see `kernel/src/atomics.rs`). They need the kernel built with its `model` feature,
//! which swaps the atomics of the whole crate, so they cannot share a build with the
//! ordinary host tests (cargo unifies features across a workspace): this test runs
//! `cargo test -p spindle --lib --features model models` as a cargo of its own, with its
//! own target directory, `target/models`.
//!
//! `cargo test -p spindle-tests --test models` runs only this; the command above runs the
//! models directly (add a model's name to run one).

use std::{path::Path, process::Command};

/// The command, after `cargo`.
const MODELS: &str = "test -p spindle --lib --features model models";

#[test]
fn the_kernel_models_pass() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(MODELS.split(' '))
        .env("CARGO_TARGET_DIR", workspace.join("target/models"))
        .current_dir(&workspace)
        .output()
        .unwrap_or_else(|err| panic!("cannot run cargo in {}: {err}", workspace.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let ran = stdout
        .lines()
        .filter(|line| line.starts_with("test ") && line.contains("::models::"))
        .count();
    assert!(
        output.status.success() && ran > 0,
        "the models failed ({}, {ran} run)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    print!("{stdout}");
}
