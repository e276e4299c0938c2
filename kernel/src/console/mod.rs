//! The serial console: what the default kernel runs. Reads lines from the serial port
//! (an interrupt-driven stream), edits them as a terminal does ([`line`]), and runs
//! commands ([`commands`]).
//!
//! It is itself an async task: `run` is a future that the boot thread drives with an
//! executor, so demo tasks spawned from it share that executor.
//!
//! The editor lives in a static so that the UART driver can erase and redraw the line
//! being typed around other output (log lines, demo threads): the console registers
//! [`erase`] and [`draw`] as the driver's [`InputLine`] hooks. Every use of the editor
//! happens under the port lock (the hooks are called under it, the console's own edits
//! go through [`uart16550::write_input_line`]), so the editor's own lock is never
//! contended; it only makes the static shareable.
//!
//! **Checked by:** host tests in `line.rs` and `line/tests.rs`; test kernel `console`
//! (commands typed over serial).

use core::fmt::Write;

use futures_util::StreamExt;
use spindle::{
    arch::IrqSpinLock,
    drivers::uart16550::{self, InputLine},
    executor::Spawner,
    input::SerialInput,
    println,
};

mod commands;
mod demo;
pub(crate) mod line;
mod listing;

use self::{commands::Flow, line::LineEditor};

/// The prompt; also the marker that the console is ready for input.
pub(crate) const PROMPT: &str = "spindle> ";

static EDITOR: IrqSpinLock<LineEditor> = IrqSpinLock::new(LineEditor::new(PROMPT));

/// Reads and runs commands until `exit`/`quit` (or forever; `poweroff` ends QEMU).
/// `spawner` spawns onto the executor that runs this future.
pub(crate) async fn run(spawner: Spawner) {
    let mut input = match SerialInput::open() {
        Ok(input) => input,
        Err(error) => return println!("console: cannot open the serial input: {error:?}"),
    };
    uart16550::set_input_line(Some(InputLine { erase, draw }));
    edit(|editor, out| editor.start(out));
    while let Some(byte) = input.next().await {
        let Some(line) = edit(|editor, out| editor.feed(byte, out)) else {
            continue;
        };
        if commands::execute(line.as_str(), &spawner).await == Flow::Quit {
            break;
        }
        edit(|editor, out| editor.start(out));
    }
    uart16550::set_input_line(None);
}

/// Changes the editor and the screen together, under the port lock.
fn edit<R>(change: impl FnOnce(&mut LineEditor, &mut dyn Write) -> R) -> R {
    uart16550::write_input_line(|out| change(&mut EDITOR.lock(), out))
}

/// The driver's hook before other output. `try_lock`: the editor is only ever locked
/// under the port lock, which the caller holds, so it is free; if that were ever broken,
/// skipping a redraw beats a deadlock.
fn erase(out: &mut dyn Write) {
    if let Some(editor) = EDITOR.try_lock() {
        editor.erase(out);
    }
}

/// The driver's hook after other output; see [`erase`].
fn draw(out: &mut dyn Write) {
    if let Some(editor) = EDITOR.try_lock() {
        editor.draw(out);
    }
}
