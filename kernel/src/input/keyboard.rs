//! Keys from the PS/2 keyboard, as a [`Stream`] of [`DecodedKey`].
//!
//! The IRQ 1 handler (`drivers::ps2_input`) only moves the raw scancode into the queue
//! (through [`inject_scancode`]); decoding (scancode set 1, US layout, modifier state) happens in
//! the reader's `poll_next`, so the decoder's state belongs to the stream and needs no
//! lock.

use core::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::Stream;
/// What the stream yields, re-exported so readers need no `pc-keyboard` of their own.
pub use pc_keyboard::{DecodedKey, KeyCode};
use pc_keyboard::{HandleControl, PS2Keyboard, ScancodeSet1, layouts::Us104Key};

pub use crate::drivers::ps2_input::inject_scancode;
use crate::drivers::{
    irq_queue::{InputStats, OpenError, Reader},
    ps2_input,
};

/// Decoded key presses, in order, as an endless stream: `DecodedKey::Unicode` for keys
/// that type a character (shift and caps lock applied, Ctrl+letter as the control
/// character, e.g. Ctrl+C is `'\u{3}'`), `DecodedKey::RawKey` for the others. Releases
/// and modifier keys only update the state. There is one reader at a time; see
/// [`Keyboard::open`].
pub struct Keyboard {
    reader: Reader,
    decoder: PS2Keyboard<Us104Key, ScancodeSet1>,
}

impl Keyboard {
    /// Opens the keyboard. The first open ever sets the PS/2 controller up (keyboard
    /// interrupt on, set-1 translation; see `drivers::ps2::enable_keyboard_interrupt`) and
    /// routes IRQ 1. Each `Keyboard` starts with no modifier held.
    ///
    /// # Errors
    /// [`OpenError::InUse`] while another `Keyboard` is alive.
    pub fn open() -> Result<Self, OpenError> {
        ps2_input::open().map(|reader| Self {
            reader,
            decoder: PS2Keyboard::new(
                ScancodeSet1::new(),
                Us104Key,
                HandleControl::MapLettersToUnicode,
            ),
        })
    }
}

impl Stream for Keyboard {
    type Item = DecodedKey;

    /// The next key press; never `None`. Scancodes that decode to nothing (releases,
    /// modifiers, prefixes, unknown codes) are consumed on the way.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DecodedKey>> {
        let this = self.get_mut();
        loop {
            let scancode = core::task::ready!(this.reader.poll_pop(cx));
            if let Ok(Some(event)) = this.decoder.add_byte(scancode)
                && let Some(key) = this.decoder.process_keyevent(event)
            {
                return Poll::Ready(Some(key));
            }
        }
    }
}

impl core::fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keyboard")
            .field("reader", &self.reader)
            .field("modifiers", self.decoder.get_modifiers())
            .finish()
    }
}

/// Counters for the keyboard since boot (`received` includes injected scancodes).
pub fn stats() -> InputStats {
    ps2_input::stats()
}
