//! Helpers shared by the kernel's host unit tests (built only for them): wakers that
//! count, the litmus harness ([`litmus`]) and the model checker's runner ([`model`]).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Wake, Waker},
};

/// A waker's target that counts the wake-ups it gets.
#[derive(Debug, Default)]
pub(crate) struct WakeCount(AtomicUsize);

impl WakeCount {
    /// Wake-ups so far.
    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fresh count and a waker that adds to it.
pub(crate) fn counting_waker() -> (Arc<WakeCount>, Waker) {
    let count = Arc::new(WakeCount::default());
    (Arc::clone(&count), Waker::from(count))
}

pub(crate) mod litmus;
#[cfg(feature = "model")]
pub(crate) mod model;
