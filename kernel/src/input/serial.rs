//! Bytes typed into the serial console (COM1), as a [`Stream`] of `u8`: the reader side
//! of the UART's receive interrupt (`drivers::uart_input`, where the handler and its
//! back-pressure are described).

use core::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_util::Stream;

use crate::drivers::{
    irq_queue::{InputStats, OpenError, Reader},
    uart_input,
};

/// The serial console's received bytes, in order, as an endless stream. There is one
/// reader at a time; see [`SerialInput::open`].
///
/// ```ignore
/// let mut input = SerialInput::open()?;
/// while let Some(byte) = input.next().await { ... }
/// ```
#[derive(Debug)]
pub struct SerialInput {
    reader: Reader,
}

impl SerialInput {
    /// Opens the serial input. The first open ever turns on the UART's receive interrupt
    /// and routes IRQ 4; bytes the UART held already are kept, and so are bytes that
    /// arrive between two readers (up to the queue's 256).
    ///
    /// # Errors
    /// [`OpenError::InUse`] while another `SerialInput` is alive.
    pub fn open() -> Result<Self, OpenError> {
        uart_input::open().map(|reader| Self { reader })
    }
}

impl Stream for SerialInput {
    type Item = u8;

    /// The next byte; never `None`.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u8>> {
        self.reader.poll_pop(cx).map(Some)
    }
}

/// Counters for the serial input since boot.
pub fn stats() -> InputStats {
    uart_input::stats()
}
