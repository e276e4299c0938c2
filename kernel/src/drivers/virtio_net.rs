//! The virtio network device (virtio 1.x over PCI), driven through the `virtio-drivers`
//! crate's [`VirtIONetRaw`]: this driver owns the packet buffers and the interrupt.
//!
//! **Buffers.** [`QUEUE_SIZE`] receive buffers of [`BUFFER_LEN`] bytes are always posted
//! to the device; a received packet is lent out ([`RxPacket`]) and posted again when
//! given back ([`VirtioNet::recycle`]). [`QUEUE_SIZE`] transmit buffers are filled and
//! posted without waiting for the device ([`VirtioNet::transmit`]), and taken back when
//! the device says it sent them (at the next transmit or [`VirtioNet::reclaim`]). All
//! are heap blocks made once, at [`VirtioNet::probe`]: the device reads and writes them
//! by physical address ([`virtio_hal`](super::virtio_hal)).
//!
//! **The interrupt.** The device's INTx pin goes to the legacy IRQ line the firmware
//! wrote in its configuration space; that line is level-triggered (the MADT says so for
//! QEMU's PCI lines) and may be shared with other PCI devices, the boot disk among them.
//! The handler reads the device's ISR status register, which acknowledges the interrupt
//! and lowers the device's pin, *before* anything else: a shared level line whose
//! handler does not lower it is taken again at once, forever. A zero status means the
//! interrupt was another device's: the handler returns. Otherwise it sets the event the
//! stack waits on, and returns: the driver itself is used only by the stack's task,
//! never in interrupt context. The other virtio functions on the line, which no driver
//! here serves, have their INTx turned off ([`pci::set_intx_disabled`]) so that none
//! can hold the line up.
//!
//! **Handshake with the handler.** The handler touches two things: the ISR register
//! (device memory, uncached, read with a volatile load) and the event. The ISR's address
//! is published with `Release` before the line is routed, and the handler loads it with
//! `Acquire` (a handler that finds none returns). The device writes the used rings
//! before it raises the interrupt; the event's `set` is `Release` and its waiter's reads
//! are `Acquire` (`sync::Event`), so the stack's task, once released, sees what the
//! device wrote (device writes are coherent with the CPU's cache on x86; the crate reads
//! the rings with its own fences).

use alloc::{boxed::Box, vec::Vec};
use core::{
    fmt, ptr,
    sync::atomic::{AtomicPtr, AtomicU64, Ordering},
};

use virtio_drivers::{
    device::net::VirtIONetRaw,
    transport::{
        DeviceType,
        pci::{PciTransport, bus::Command, virtio_device_type},
    },
};
use x86_64::PhysAddr;

use super::{
    pci::{self, DeviceFunction},
    virtio_hal::KernelHal,
};
use crate::{
    arch::{TrapFrame, interrupts},
    mm::paging,
    sync::Event,
};

/// Descriptors per virtqueue, receive and transmit alike.
pub const QUEUE_SIZE: usize = 128;
/// Bytes per buffer: the virtio-net header (12) and an Ethernet frame of up to 1514.
pub const BUFFER_LEN: usize = 1536;
/// The largest frame the device sends or takes: 1500 bytes of payload and the Ethernet
/// header.
pub const MAX_FRAME: usize = 1514;

/// A virtio-net header's size when `VIRTIO_F_VERSION_1` is negotiated (always, over the
/// modern PCI transport).
const HEADER_LEN: usize = 12;

/// The virtio PCI capability of the ISR status register (`VIRTIO_PCI_CAP_ISR_CFG`).
const ISR_CAPABILITY: u8 = 3;
/// PCI capability ID of vendor-specific capabilities (virtio's own).
const VENDOR_CAPABILITY: u8 = 0x09;

/// The ISR status register of the device in use; null until its line is routed.
static ISR: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
/// What the handler sets (from [`VirtioNet::start_interrupts`]).
static EVENT: AtomicPtr<Event> = AtomicPtr::new(ptr::null_mut());
/// Interrupts whose ISR said the device had something; [`Counters`].
static DEVICE_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
/// Interrupts on the line whose ISR was zero: another device's, or a repeat.
static OTHER_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Why the device could not be brought up.
#[derive(Debug)]
pub enum ProbeError {
    /// The crate refused the device or its transport (the message says why).
    Device(&'static str),
    /// The heap could not provide the buffers.
    OutOfMemory,
    /// The function has no INTx pin, or the firmware routed it to no legacy line.
    NoInterruptLine,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Device(why) => write!(f, "virtio-net: {why}"),
            Self::OutOfMemory => f.write_str("no memory for the network buffers"),
            Self::NoInterruptLine => f.write_str("the network device has no interrupt line"),
        }
    }
}

/// Interrupt counts since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Interrupts the device raised (its ISR said so).
    pub device: u64,
    /// Interrupts on the same line that were not the device's.
    pub other: u64,
}

/// The interrupt counts.
pub fn counters() -> Counters {
    Counters {
        device: DEVICE_INTERRUPTS.load(Ordering::Relaxed),
        other: OTHER_INTERRUPTS.load(Ordering::Relaxed),
    }
}

type Raw = VirtIONetRaw<KernelHal, PciTransport, QUEUE_SIZE>;

/// The network device, for its one user (the stack's task).
pub struct VirtioNet {
    raw: Raw,
    function: DeviceFunction,
    line: u8,
    /// The ISR status register's address (mapped), for the handler.
    isr: usize,
    /// Receive buffers posted to the device, by the token the device gives back.
    posted: Vec<Option<Box<[u8]>>>,
    /// Transmit buffers the device still holds, by token, with the length posted.
    sending: Vec<Option<(Box<[u8]>, usize)>>,
    /// Transmit buffers ready to fill.
    free: Vec<Box<[u8]>>,
    /// Where a frame goes that finds no transmit buffer free: built, then dropped.
    spare: Box<[u8]>,
    /// Frames dropped so.
    dropped: u64,
}

/// A received frame, lent out until [`VirtioNet::recycle`] posts its buffer again.
#[derive(Debug)]
pub struct RxPacket {
    buffer: Box<[u8]>,
    len: usize,
}

impl RxPacket {
    /// The Ethernet frame.
    pub fn frame(&self) -> &[u8] {
        &self.buffer[HEADER_LEN..HEADER_LEN + self.len]
    }
}

impl VirtioNet {
    /// Finds the first virtio network function on the PCI buses and brings it up: its
    /// queues set up and every receive buffer posted, interrupts not yet routed
    /// ([`start_interrupts`](Self::start_interrupts)). `None` if there is no such device.
    pub fn probe() -> Option<Result<Self, ProbeError>> {
        let mut nic = None;
        let mut virtio = Vec::new();
        for (function, info) in pci::functions() {
            match virtio_device_type(&info) {
                Some(DeviceType::Network) if nic.is_none() => nic = Some(function),
                Some(_) => virtio.push(function),
                None => {}
            }
        }
        let function = nic?;
        Some(Self::bring_up(function, &virtio))
    }

    fn bring_up(function: DeviceFunction, others: &[DeviceFunction]) -> Result<Self, ProbeError> {
        let line = pci::interrupt_line(function).ok_or(ProbeError::NoInterruptLine)?;
        // Other virtio functions on the same line: nobody acknowledges their interrupts.
        for &other in others {
            if pci::interrupt_line(other) == Some(line) {
                pci::set_intx_disabled(other, true);
            }
        }
        pci::set_command_bits(function, Command::MEMORY_SPACE | Command::BUS_MASTER, true);
        pci::set_intx_disabled(function, false);
        let isr = isr_register(function).ok_or(ProbeError::Device("no ISR register"))?;
        let mut root = pci::root();
        let transport = PciTransport::new::<KernelHal, _>(&mut root, function)
            .map_err(|_| ProbeError::Device("unusable PCI transport"))?;
        let raw = Raw::new(transport).map_err(|_| ProbeError::Device("queue set-up failed"))?;
        let mut nic = Self {
            raw,
            function,
            line,
            isr: isr as usize,
            posted: (0..QUEUE_SIZE).map(|_| None).collect(),
            sending: (0..QUEUE_SIZE).map(|_| None).collect(),
            free: Vec::new(),
            spare: new_buffer().ok_or(ProbeError::OutOfMemory)?,
            dropped: 0,
        };
        for _ in 0..QUEUE_SIZE {
            nic.post(new_buffer().ok_or(ProbeError::OutOfMemory)?)
                .map_err(|_| ProbeError::Device("receive queue refused a buffer"))?;
            nic.free.push(new_buffer().ok_or(ProbeError::OutOfMemory)?);
        }
        Ok(nic)
    }

    /// Routes the device's interrupt line to the handler, which will set `event` on
    /// every interrupt of the device (see the module docs). Call once.
    /// Returns the vector.
    pub fn start_interrupts(&self, event: &'static Event) -> u8 {
        EVENT.store(ptr::from_ref(event).cast_mut(), Ordering::Release);
        // Published before the line can interrupt (see the module docs).
        ISR.store(self.isr as *mut u8, Ordering::Release);
        interrupts::route_legacy_irq(self.line, on_interrupt)
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// The legacy IRQ line the device interrupts on.
    pub fn line(&self) -> u8 {
        self.line
    }

    /// The next frame the device received, if any.
    pub fn receive(&mut self) -> Option<RxPacket> {
        let token = self.raw.poll_receive()?;
        let mut buffer = self.posted[usize::from(token)]
            .take()
            .expect("the device returned a receive buffer it was given");
        // SAFETY: the buffer is the one posted under this token (kept in `posted`).
        let received = unsafe { self.raw.receive_complete(token, &mut buffer) };
        match received {
            Ok((_, len)) if len <= BUFFER_LEN - HEADER_LEN => Some(RxPacket { buffer, len }),
            // A frame the device says is malformed: post the buffer again, no packet.
            _ => {
                self.post(buffer).expect("a receive slot was just freed");
                None
            }
        }
    }

    /// Posts a received frame's buffer again.
    pub fn recycle(&mut self, packet: RxPacket) {
        self.post(packet.buffer)
            .expect("a receive slot is free for every buffer lent out");
    }

    /// Whether a frame of up to [`MAX_FRAME`] bytes can be sent now.
    pub fn can_transmit(&mut self) -> bool {
        self.reclaim();
        !self.free.is_empty() && self.raw.can_send()
    }

    /// Sends a frame of `len` bytes (at most [`MAX_FRAME`]) that `fill` writes, without
    /// waiting for the device. If no buffer is free (ask [`can_transmit`](Self::can_transmit)
    /// first) or the device refuses the frame, it is dropped and counted: the sender
    /// (TCP) sends it again.
    pub fn transmit<R>(&mut self, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> R {
        let len = len.min(MAX_FRAME);
        self.reclaim();
        let Some(mut buffer) = self.free.pop() else {
            self.dropped += 1;
            return fill(&mut self.spare[HEADER_LEN..HEADER_LEN + len]);
        };
        buffer[..HEADER_LEN].fill(0); // no offloads: a zero header
        let result = fill(&mut buffer[HEADER_LEN..HEADER_LEN + len]);
        let frame = &buffer[..HEADER_LEN + len];
        // SAFETY: the buffer is kept in `sending` under its token, untouched, until the
        // device gives the token back (`reclaim`).
        match unsafe { self.raw.transmit_begin(frame) } {
            Ok(token) => self.sending[usize::from(token)] = Some((buffer, HEADER_LEN + len)),
            Err(_) => {
                self.dropped += 1;
                self.free.push(buffer);
            }
        }
        result
    }

    /// Frames dropped because no transmit buffer was free or the device refused them.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes back the transmit buffers the device is done with.
    pub fn reclaim(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let (buffer, posted_len) = self.sending[usize::from(token)]
                .take()
                .expect("the device returned a transmit buffer it was given");
            // SAFETY: the same slice `transmit_begin` was given under this token.
            let _ = unsafe { self.raw.transmit_complete(token, &buffer[..posted_len]) };
            self.free.push(buffer);
        }
    }

    fn post(&mut self, mut buffer: Box<[u8]>) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the buffer is kept in `posted` under its token, untouched, until the
        // device gives the token back (`receive`).
        let token = unsafe { self.raw.receive_begin(&mut buffer) }?;
        self.posted[usize::from(token)] = Some(buffer);
        Ok(())
    }
}

impl fmt::Debug for VirtioNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioNet")
            .field("function", &self.function)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A zeroed buffer, or `None` if the heap has no room.
fn new_buffer() -> Option<Box<[u8]>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(BUFFER_LEN).ok()?;
    buffer.resize(BUFFER_LEN, 0);
    Some(buffer.into_boxed_slice())
}

/// The ISR status register of virtio function `function`, mapped: found through its
/// virtio capability (which BAR, at which offset).
fn isr_register(function: DeviceFunction) -> Option<*mut u8> {
    let root = pci::root();
    let capability = root.capabilities(function).find(|capability| {
        capability.id == VENDOR_CAPABILITY
            && (capability.private_header >> 8) as u8 == ISR_CAPABILITY
    })?;
    use pci::ConfigurationAccess;
    let config = pci::ConfigPorts;
    let bar = config.read_word(function, capability.offset + 4) as u8;
    let offset = config.read_word(function, capability.offset + 8);
    let mut root = root;
    let (base, _) = root.bar_info(function, bar).ok()??.memory_address_size()?;
    let isr = paging::map_mmio_range(PhysAddr::new(base + u64::from(offset)), 1).ok()?;
    Some(isr.as_mut_ptr())
}

/// The device's interrupt handler (see the module docs): acknowledge, set the event,
/// return. Never allocates or blocks.
fn on_interrupt(_frame: &mut TrapFrame) {
    let isr = ISR.load(Ordering::Acquire);
    if isr.is_null() {
        return;
    }
    // SAFETY: `isr` is the mapped (uncached) ISR status register of the device, published
    // before the line was routed; reading it is the acknowledgement.
    let status = unsafe { ptr::read_volatile(isr) };
    if status == 0 {
        OTHER_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    DEVICE_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the event is `'static` (`start_interrupts` takes it so) and was published
    // before the ISR address, which this handler loaded with `Acquire`.
    if let Some(event) = unsafe { EVENT.load(Ordering::Acquire).as_ref() } {
        event.set();
    }
}
