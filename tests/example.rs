//! The README's "Your own kernel" recipe, checked: `cargo run` and `cargo test` in
//! `examples/hello-spindle`, an application crate outside this workspace, build it, boot
//! it in QEMU through the runner and end with success.
//!
//! `cargo test -p spindle-tests --test example` runs only this.

use std::{
    path::Path,
    process::{Command, Output},
};

/// Wall-clock seconds the runner gives each boot (`--timeout`): a hang fails, not stalls.
const BOOT_TIMEOUT_SECS: &str = "300";

/// `cargo <args> -- --timeout ...` in the example's directory, as a user types it.
fn cargo_in_example(args: &[&str]) -> Output {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-spindle");
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .args(["--", "--timeout", BOOT_TIMEOUT_SECS])
        .current_dir(&example)
        .output()
        .unwrap_or_else(|err| panic!("cannot run cargo in {}: {err}", example.display()))
}

/// Panics with the command's status and the end of its output unless it succeeded and
/// printed `expected`.
fn expect_success(what: &str, output: &Output, expected: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    assert!(
        output.status.success() && stdout.contains(expected),
        "`{what}` in examples/hello-spindle: {}, expected `{expected}` in its output\n\
         --- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
        output.status,
        tail(&stdout),
        tail(&stderr)
    );
}

#[test]
fn the_example_kernel_boots_and_passes_its_own_test() {
    let run = cargo_in_example(&["run"]);
    expect_success("cargo run", &run, "hello-spindle: done");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("a thread sent 20 readings to a task, which added them up to 210"),
        "{stdout}"
    );

    let test = cargo_in_example(&["test"]);
    expect_success("cargo test", &test, "hello-spindle tests: all passed");
}

/// The example builds with the flags every kernel build in the repository takes
/// (`boot_image::KERNEL_BUILD_STD`, `KERNEL_RUSTFLAGS`): a user's crate copies them from
/// it, and identical flags let it share the repository's build of `core` and `alloc`.
#[test]
fn the_example_builds_with_the_kernel_flags() {
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-spindle/.cargo/config.toml");
    let config = std::fs::read_to_string(&config).unwrap();
    let quoted = |items: &[&str]| {
        let items: Vec<String> = items.iter().map(|item| format!("\"{item}\"")).collect();
        format!("[{}]", items.join(", "))
    };
    for line in [
        format!("build-std = {}", quoted(&boot_image::KERNEL_BUILD_STD)),
        format!("rustflags = {}", quoted(&boot_image::KERNEL_RUSTFLAGS)),
    ] {
        assert!(
            config.lines().any(|l| l == line),
            "`{line}` missing in\n{config}"
        );
    }
}
