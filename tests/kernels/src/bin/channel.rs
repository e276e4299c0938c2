//! The bounded MPMC channel: throughput under preemption, back-pressure, disconnection.
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{string::String, vec::Vec};

use spindle::{
    sync::channel::{self, RecvError, SendError, TryRecvError, TrySendError},
    thread::{self, JoinHandle, ThreadState},
};

spindle_test::test_kernel!(
    four_producers_four_consumers_deliver_every_value_once,
    try_send_reports_full_and_try_recv_empty,
    a_full_channel_blocks_the_sender_until_a_recv,
    recv_drains_then_fails_once_every_sender_is_gone,
    dropping_the_last_sender_wakes_a_blocked_receiver,
    send_returns_the_value_once_every_receiver_is_gone,
    dropping_the_last_receiver_wakes_a_blocked_sender,
);

/// Waits until `handle`'s thread is blocked (in whatever it was told to wait for).
fn wait_until_blocked<T>(handle: &JoinHandle<T>) {
    while handle.thread().state() != ThreadState::Blocked {
        thread::yield_now();
    }
}

/// 40,000 values through 16 slots. Count and sum show nothing was lost or duplicated;
/// each consumer sees every producer's values in the order they were sent (FIFO).
fn four_producers_four_consumers_deliver_every_value_once() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 10_000;
    let (tx, rx) = channel::bounded::<u64>(16);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                    tx.send(i).expect("the receivers are alive");
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let (mut count, mut sum) = (0u64, 0u64);
                let mut last_from = [None; PRODUCERS as usize];
                while let Ok(value) = rx.recv() {
                    let last = &mut last_from[(value / PER_PRODUCER) as usize];
                    assert!(*last < Some(value), "{value} arrived after {last:?}");
                    *last = Some(value);
                    count += 1;
                    sum += value;
                }
                (count, sum)
            })
        })
        .collect();
    drop((tx, rx));
    producers.into_iter().for_each(JoinHandle::join);
    let (count, sum) = consumers
        .into_iter()
        .map(JoinHandle::join)
        .fold((0, 0), |(c, s), (count, sum)| (c + count, s + sum));
    let total = PRODUCERS * PER_PRODUCER;
    assert_eq!(count, total);
    assert_eq!(sum, total * (total - 1) / 2);
}

fn try_send_reports_full_and_try_recv_empty() {
    let (tx, rx) = channel::bounded(2);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(tx.try_send(2), Ok(()));
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.try_send(3), Ok(()));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

fn a_full_channel_blocks_the_sender_until_a_recv() {
    let (tx, rx) = channel::bounded(1);
    tx.send(1).unwrap();
    let sender = thread::spawn(move || tx.send(2));
    wait_until_blocked(&sender);
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(sender.join(), Ok(()));
    assert_eq!(rx.recv(), Ok(2));
}

fn recv_drains_then_fails_once_every_sender_is_gone() {
    let (tx, rx) = channel::bounded(4);
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx2);
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

fn dropping_the_last_sender_wakes_a_blocked_receiver() {
    let (tx, rx) = channel::bounded::<u32>(4);
    let receiver = thread::spawn(move || rx.recv());
    wait_until_blocked(&receiver);
    drop(tx);
    assert_eq!(receiver.join(), Err(RecvError));
}

fn send_returns_the_value_once_every_receiver_is_gone() {
    let (tx, rx) = channel::bounded(4);
    drop(rx.clone());
    tx.send(String::from("kept")).unwrap();
    drop(rx);
    let error = tx.send(String::from("returned")).unwrap_err();
    assert_eq!(error, SendError(String::from("returned")));
    assert_eq!(
        tx.try_send(String::from("again")),
        Err(TrySendError::Disconnected(String::from("again")))
    );
}

fn dropping_the_last_receiver_wakes_a_blocked_sender() {
    let (tx, rx) = channel::bounded(1);
    tx.send(1u32).unwrap();
    let sender = thread::spawn(move || tx.send(2));
    wait_until_blocked(&sender);
    drop(rx);
    assert_eq!(sender.join(), Err(SendError(2)));
}
