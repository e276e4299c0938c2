//! The `x` front door's answers to commands it does not run: they need no toolchain or
//! QEMU, so they are checked here by running the script itself.

use std::{path::Path, process::Command};

/// Runs `./x ARGS` from the repository root; returns its status code, stdout and stderr.
fn x(args: &[&str]) -> (Option<i32>, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runner lives in the repository");
    let output = Command::new("bash")
        .arg(root.join("x"))
        .args(args)
        .output()
        .expect("bash runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_command_is_named_before_the_usage_and_fails() {
    let (status, stdout, stderr) = x(&["frobnicate"]);
    assert_eq!(status, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with("x: error: unknown command `frobnicate`\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("./x run [OPTIONS]"),
        "the usage follows: {stderr}"
    );
}

#[test]
fn no_command_is_an_error_too() {
    let (status, _, stderr) = x(&[]);
    assert_eq!(status, Some(2));
    assert!(
        stderr.starts_with("x: error: no command given\n"),
        "{stderr}"
    );
}

#[test]
fn help_prints_every_command_and_succeeds() {
    let (status, stdout, stderr) = x(&["help"]);
    assert_eq!(status, Some(0), "{stderr}");
    for command in ["run", "test", "bench", "trace", "lint", "setup", "help"] {
        assert!(
            stdout.contains(&format!("./x {command}")),
            "{command}: {stdout}"
        );
    }
}
