//! A model of the IRQ queue's handshakes, run under the model checker (`--features model`;
//! see `atomics` and `testing::model`): the real `IrqQueue` and `Reader` (push, pop, the
//! waker, and the hold-back/resume handshake), between an interrupt handler on one CPU
//! and the reader on another. The queue holds 4 bytes in a model build.
//!
//! The device is a model UART: a FIFO of numbered bytes and a receive interrupt that,
//! while enabled, raises an edge whenever bytes wait (the handler then runs once). The
//! handler is `input::serial`'s drain algorithm (read while the queue has room, hold the
//! rest back with the interrupt off), written out here on the model UART: the drain
//! itself, and two handlers draining at once, are the serial driver's (not covered).

use alloc::sync::Arc;
use std::sync::{Mutex, OnceLock};

use shuttle::{future::block_on, thread};

use super::irq_queue::IrqQueue;
use crate::{
    atomics::{AtomicBool, AtomicU8, Ordering},
    testing::model::check_pct,
};

/// Bytes the model UART holds at first: more than the queue, so the handler holds back.
const BYTES: u8 = 7;

/// The model UART.
struct Uart {
    /// Bytes received and not yet read; byte `n` is the number `n`.
    read: AtomicU8,
    receive_interrupt: AtomicBool,
    /// An edge the handler has not run for yet.
    edge: AtomicBool,
    /// The model thread playing the handler's CPU.
    handler: OnceLock<thread::Thread>,
    done: AtomicBool,
}

/// The UART of the model running now (`IrqQueue`'s resume hook is a plain `fn`); models
/// run one at a time.
static UART: Mutex<Option<Arc<Uart>>> = Mutex::new(None);

fn uart() -> Arc<Uart> {
    Arc::clone(
        UART.lock()
            .expect("the model UART")
            .as_ref()
            .expect("a model UART"),
    )
}

impl Uart {
    /// Turns the receive interrupt on: an edge if bytes wait.
    fn enable_receive_interrupt(&self) {
        self.receive_interrupt.store(true, Ordering::SeqCst);
        if self.read.load(Ordering::SeqCst) < BYTES {
            self.raise_edge();
        }
    }

    /// The interrupt line rises: the handler runs.
    fn raise_edge(&self) {
        self.edge.store(true, Ordering::SeqCst);
        if let Some(handler) = self.handler.get() {
            handler.unpark();
        }
    }

    fn try_read_byte(&self) -> Option<u8> {
        let next = self.read.load(Ordering::SeqCst);
        (next < BYTES).then(|| {
            self.read.store(next + 1, Ordering::SeqCst);
            next
        })
    }

    /// The interrupt handler: `input::serial::drain`.
    fn drain(&self, source: &IrqQueue) {
        loop {
            if !source.has_room() {
                self.receive_interrupt.store(false, Ordering::SeqCst);
                if source.hold_back() {
                    return;
                }
                self.enable_receive_interrupt();
            }
            match self.try_read_byte() {
                Some(byte) => source.push(byte),
                None => return,
            }
        }
    }
}

/// The resume hook of the model's queue.
fn resume() {
    uart().enable_receive_interrupt();
}

/// Every byte reaches the reader, in order, though the queue fills and the handler holds
/// input back: a resume lost between the handler's flag and the reader's pop would leave
/// the handler idle and the reader waiting (a deadlock); a byte lost or reordered fails
/// the comparison.
#[test]
fn irq_queue_hold_back_and_resume() {
    check_pct(
        || {
            let source: &'static IrqQueue = Box::leak(Box::new(IrqQueue::new(resume)));
            let uart = Arc::new(Uart {
                read: AtomicU8::new(0),
                receive_interrupt: AtomicBool::new(true),
                edge: AtomicBool::new(true), // bytes wait with the interrupt on
                handler: OnceLock::new(),
                done: AtomicBool::new(false),
            });
            *UART.lock().expect("the model UART") = Some(Arc::clone(&uart));
            // The device is started (its IRQ routed) by the first open, once the queue
            // exists: a handler never finds no queue.
            let reader = source.open(|| 0).expect("the only reader");
            let handler = {
                let uart = Arc::clone(&uart);
                thread::spawn(move || {
                    while !uart.done.load(Ordering::SeqCst) {
                        if uart.edge.swap(false, Ordering::SeqCst)
                            && uart.receive_interrupt.load(Ordering::SeqCst)
                        {
                            uart.drain(source);
                        } else {
                            thread::park();
                        }
                    }
                })
            };
            let _ = uart.handler.set(handler.thread().clone());
            uart.raise_edge();
            for expected in 0..BYTES {
                let byte = block_on(core::future::poll_fn(|cx| reader.poll_pop(cx)));
                assert_eq!(byte, expected, "bytes lost or reordered");
            }
            uart.done.store(true, Ordering::SeqCst);
            uart.raise_edge();
            handler.join().expect("the handler");
        },
        20_000,
        6,
    );
}
