//! The serial console: what the default kernel runs. Reads lines from the serial port
//! (an interrupt-driven stream), echoes what is typed, and runs commands ([`commands`]).
//!
//! It is itself an async task: `run` is a future that the boot thread drives with an
//! executor, so demo tasks spawned from it share that executor.

use futures_util::StreamExt;
use spindle::{executor::Spawner, input::SerialInput, print, println};

mod commands;
mod demo;
pub(crate) mod line;
mod listing;

use self::{
    commands::Flow,
    line::{Edit, LineEditor},
};

/// The prompt; also the marker that the console is ready for input.
pub(crate) const PROMPT: &str = "spindle> ";

/// Reads and runs commands until `exit`/`quit` (or forever; `poweroff` ends QEMU).
/// `spawner` spawns onto the executor that runs this future.
pub(crate) async fn run(spawner: Spawner) {
    let mut input = match SerialInput::open() {
        Ok(input) => input,
        Err(error) => return println!("console: cannot open the serial input: {error:?}"),
    };
    let mut editor = LineEditor::new();
    print!("{PROMPT}");
    while let Some(byte) = input.next().await {
        match editor.feed(byte) {
            Edit::Echo(character) => print!("{character}"),
            Edit::Erase => print!("\x08 \x08"),
            Edit::Nothing => {}
            Edit::Line(line) => {
                println!();
                if commands::execute(&line, &spawner).await == Flow::Quit {
                    return;
                }
                print!("{PROMPT}");
            }
        }
    }
}
