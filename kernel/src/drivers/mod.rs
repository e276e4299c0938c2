//! Device drivers: the layer above the tasking subsystem, so a driver may block, wait on
//! queues and wake tasks. `arch` keeps what belongs to the CPU (interrupt controllers,
//! timers, port I/O, vectors); a device's driver lives here.
//!
//! | driver        | device                                                        |
//! |---------------|---------------------------------------------------------------|
//! | [`uart16550`] | COM1: the kernel console (`print!`) and serial input          |
//! | [`uart_input`] | the UART's receive interrupt: handler, queue, back-pressure  |
//! | [`ps2`]       | the 8042 PS/2 controller's keyboard port                      |
//! | [`ps2_input`] | the keyboard's interrupt: handler and scancode queue          |
//! | [`irq_queue`] | an input device's path from its interrupt handler to one reader |
//! | [`pci`]       | PCI configuration space through ports 0xCF8/0xCFC; finding functions |
//! | [`virtio_net`] | the virtio network device (through `virtio-drivers`), its interrupt |
//! | [`virtio_hal`] | what `virtio-drivers` needs: DMA pages, mapped registers, addresses |
//!
//! Port I/O is `unsafe` (any port can be written): each access here says which register
//! it touches and why that is sound.
//!
//! **Checked by:** host tests in `uart16550.rs`, models in `models.rs` (the IRQ queue's
//! hand-off); test kernels `serial_input`, `serial_input_pit`, `serial_irq_moves`,
//! `keyboard`, `keyboard_pit`, `console`, and the `net_*` kernels (PCI, virtio-net).

pub mod irq_queue;
#[cfg(all(test, feature = "model"))]
mod models;
pub mod pci;
pub mod ps2;
pub mod ps2_input;
pub mod uart16550;
pub mod uart_input;
pub mod virtio_hal;
pub mod virtio_net;
