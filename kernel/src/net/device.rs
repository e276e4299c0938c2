//! The network device as smoltcp sees it ([`Device`]): frames in and out of the virtio
//! driver, with tokens that borrow it.
//!
//! smoltcp consumes a transmit token *inside* the closure of a receive token (it answers
//! a packet while it reads it), so both tokens share the driver through a `RefCell`: the
//! receive token owns its frame and borrows the driver only after the closure, to post
//! the buffer again; the transmit token borrows it only to send. The next frame can be
//! looked at before smoltcp takes it ([`Peek`]): it is held back until then.

use core::cell::RefCell;

use smoltcp::{
    phy::{self, Device, DeviceCapabilities, Medium},
    time::Instant,
};

use super::ingress::Peek;
use crate::drivers::virtio_net::{self, RxPacket, VirtioNet};

/// The virtio driver, as a smoltcp device.
#[derive(Debug)]
pub(super) struct Nic {
    driver: RefCell<VirtioNet>,
    /// A frame taken from the driver to be looked at, not yet given to smoltcp.
    ahead: Option<RxPacket>,
}

impl Nic {
    pub(super) fn new(driver: VirtioNet) -> Self {
        Self {
            driver: RefCell::new(driver),
            ahead: None,
        }
    }

    pub(super) fn driver(&mut self) -> &mut VirtioNet {
        self.driver.get_mut()
    }
}

impl Peek for Nic {
    fn peek(&mut self) -> Option<&[u8]> {
        if self.ahead.is_none() {
            self.ahead = self.driver.get_mut().receive();
        }
        self.ahead.as_ref().map(RxPacket::frame)
    }

    fn discard(&mut self) {
        if let Some(packet) = self
            .ahead
            .take()
            .or_else(|| self.driver.get_mut().receive())
        {
            self.driver.get_mut().recycle(packet);
        }
    }
}

impl Device for Nic {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let packet = match self.ahead.take() {
            Some(packet) => packet,
            None => self.driver.get_mut().receive()?,
        };
        Some((
            Rx {
                driver: &self.driver,
                packet,
            },
            Tx {
                driver: &self.driver,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        self.driver.get_mut().can_transmit().then_some(Tx {
            driver: &self.driver,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = virtio_net::MAX_FRAME;
        // No more segments in one go than the transmit ring holds (smoltcp #949).
        capabilities.max_burst_size = Some(virtio_net::QUEUE_SIZE);
        capabilities
    }
}

/// A received frame; its buffer goes back to the device once read.
pub(super) struct Rx<'a> {
    driver: &'a RefCell<VirtioNet>,
    packet: RxPacket,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(self.packet.frame());
        self.driver.borrow_mut().recycle(self.packet);
        result
    }
}

/// Leave to send one frame.
pub(super) struct Tx<'a> {
    driver: &'a RefCell<VirtioNet>,
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.driver.borrow_mut().transmit(len, f)
    }
}
