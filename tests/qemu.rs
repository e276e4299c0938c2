//! Boots every test kernel under `tests/kernels/src/bin` in QEMU and reports each case.
//!
//! `cargo test -p spindle-tests --test qemu -- heap` runs only kernels whose name
//! contains `heap`.

fn main() -> std::process::ExitCode {
    spindle_tests::main()
}
