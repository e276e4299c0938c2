//! Interrupt-driven input as [`Stream`](futures_util::Stream)s: bytes from the serial
//! port ([`SerialInput`]) and keys from the PS/2 keyboard ([`Keyboard`]).
//!
//! Each device has one path from its interrupt handler to one reader:
//!
//! ```text
//! IRQ -> handler -> push(byte) -> ArrayQueue (256) -> poll_next -> the stream's reader
//!                         \-> AtomicWaker::wake --------^ (re-polls the reader's task)
//! ```
//!
//! **Why the handler takes no lock and allocates nothing.** A handler may interrupt
//! anything, including a reader in the middle of taking from the queue or a thread in the
//! allocator: the queue is a fixed-size lock-free ring (`crossbeam_queue::ArrayQueue`)
//! allocated when the first stream is opened. What does not fit never makes the handler
//! wait or the queue grow: a keyboard scancode is dropped and counted, and serial bytes
//! are left in the UART, which makes the sender wait (back-pressure; see
//! `drivers::uart_input`).
//! The wake is an `AtomicWaker`, which never blocks either. (The ring's operations
//! briefly wait for each other, so each runs with interrupts off; see `drivers::irq_queue`
//! for why that matters.)
//!
//! **Why no wake is lost.** A reader that finds the queue empty first registers its waker,
//! then looks at the queue *again* before returning `Pending`. A byte pushed before that
//! second look is found by it; a byte pushed after it was pushed after the registration,
//! so the handler's wake (which always follows its push) reaches the new waker.
//!
//! Each device has a single consumer: opening a second stream while one lives is an
//! [`OpenError::InUse`], and dropping the stream frees the slot. Input that arrives with
//! no stream open waits in the queue (up to its capacity) for the next one. The device
//! and its IRQ are set up by the first open, once.
//!
//! **Checked by:** test kernels `serial_input`, `serial_input_pit`, `serial_irq_moves`,
//! `keyboard`, `keyboard_pit`; the IRQ queue's model in `drivers/models.rs`.

pub mod keyboard;
pub mod serial;

pub use self::{keyboard::Keyboard, serial::SerialInput};
pub use crate::drivers::irq_queue::{InputStats, OpenError, QUEUE_CAPACITY};
