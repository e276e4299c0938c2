//! Host tests of the console's line editor (`src/console/line.rs`, tests in
//! `src/console/line/tests.rs`). The console is part of the kernel binary, whose host build
//! is a stub without tests, so this test crate compiles the editor on its own: it is pure
//! logic with no dependency on the rest of the kernel.

#[path = "../src/console/line.rs"]
mod line;
