//! The sleeping mutex, the condition variable and the semaphore, under preemption.
//@ smp: 1 4
#![no_std]
#![no_main]

extern crate alloc;

use alloc::{collections::VecDeque, vec::Vec};
use core::{
    hint::black_box,
    sync::atomic::{AtomicUsize, Ordering},
};

use spindle::{
    sync::{Condvar, Event, Mutex, Semaphore},
    thread::{self, JoinHandle, ThreadState},
};

spindle_test::test_kernel!(
    eight_threads_increment_without_losing_updates,
    try_lock_fails_while_another_thread_holds_it,
    try_lock_by_the_owner_fails_instead_of_deadlocking,
    get_mut_and_into_inner_bypass_the_lock,
    condvar_hands_every_item_from_producers_to_consumers,
    notify_all_wakes_every_waiter,
    semaphore_admits_at_most_its_permits,
    try_acquire_takes_only_available_permits,
);

/// Waits until `handle`'s thread is blocked (in whatever it was told to wait for).
fn wait_until_blocked<T>(handle: &JoinHandle<T>) {
    while handle.thread().state() != ThreadState::Blocked {
        thread::yield_now();
    }
}

/// A read, a delay and a write: a thread preempted in the delay would overwrite the other
/// threads' increments with a stale value, were it not for the mutex.
fn eight_threads_increment_without_losing_updates() {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 10_000;
    static COUNTER: Mutex<u64> = Mutex::new(0);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..ROUNDS {
                    let mut counter = COUNTER.lock();
                    let read = *counter;
                    for i in 0..50u32 {
                        black_box(i);
                    }
                    *counter = read + 1;
                }
            })
        })
        .collect();
    workers.into_iter().for_each(JoinHandle::join);
    assert_eq!(*COUNTER.lock(), THREADS * ROUNDS);
}

fn try_lock_fails_while_another_thread_holds_it() {
    static MUTEX: Mutex<u32> = Mutex::new(0);
    static HELD: Event = Event::new();
    static RELEASE: Event = Event::new();
    let holder = thread::spawn(|| {
        let mut value = MUTEX.lock();
        HELD.set();
        RELEASE.wait();
        *value = 1;
    });
    HELD.wait();
    assert!(
        MUTEX.try_lock().is_none(),
        "try_lock succeeded on a held mutex"
    );
    let waiter = thread::spawn(|| *MUTEX.lock() += 10);
    wait_until_blocked(&waiter);
    RELEASE.set();
    holder.join();
    waiter.join();
    assert_eq!(*MUTEX.try_lock().expect("the mutex is free again"), 11);
}

fn try_lock_by_the_owner_fails_instead_of_deadlocking() {
    let mutex = Mutex::new(());
    let guard = mutex.lock();
    assert!(mutex.try_lock().is_none());
    drop(guard);
    assert!(mutex.try_lock().is_some());
}

fn get_mut_and_into_inner_bypass_the_lock() {
    let mut mutex = Mutex::new(alloc::vec![1, 2]);
    mutex.get_mut().push(3);
    assert_eq!(mutex.into_inner(), [1, 2, 3]);
}

/// A bounded buffer built from a mutex and two condition variables: two producers, two
/// consumers. A lost notification leaves a thread asleep for good (a timeout); a race
/// loses or duplicates items (wrong totals).
fn condvar_hands_every_item_from_producers_to_consumers() {
    const ITEMS_PER_PRODUCER: usize = 5_000;
    const CAPACITY: usize = 4;
    static QUEUE: Mutex<VecDeque<usize>> = Mutex::new(VecDeque::new());
    static NOT_EMPTY: Condvar = Condvar::new();
    static NOT_FULL: Condvar = Condvar::new();
    let producer = |first: usize| {
        move || {
            for item in first..first + ITEMS_PER_PRODUCER {
                let mut queue = NOT_FULL.wait_while(QUEUE.lock(), |q| q.len() == CAPACITY);
                queue.push_back(item);
                drop(queue);
                NOT_EMPTY.notify_one();
            }
        }
    };
    let consumer = || {
        let (mut count, mut sum) = (0, 0);
        for _ in 0..ITEMS_PER_PRODUCER {
            let mut queue = NOT_EMPTY.wait_while(QUEUE.lock(), |q| q.is_empty());
            sum += queue.pop_front().unwrap();
            count += 1;
            drop(queue);
            NOT_FULL.notify_one();
        }
        (count, sum)
    };
    let producers = [
        thread::spawn(producer(0)),
        thread::spawn(producer(ITEMS_PER_PRODUCER)),
    ];
    let consumers = [thread::spawn(consumer), thread::spawn(consumer)];
    producers.into_iter().for_each(JoinHandle::join);
    let (count, sum) = consumers
        .into_iter()
        .map(JoinHandle::join)
        .fold((0, 0), |(c, s), (count, sum)| (c + count, s + sum));
    let items = 2 * ITEMS_PER_PRODUCER;
    assert_eq!(count, items);
    assert_eq!(sum, items * (items - 1) / 2);
    assert!(QUEUE.lock().is_empty());
}

/// Every waiter is known to be asleep in the condvar before the one `notify_all` (it
/// counted itself under the mutex, and nothing else can block it after that): if the
/// notify woke fewer, the rest would never return.
fn notify_all_wakes_every_waiter() {
    const WAITERS: usize = 5;
    /// (go, waiters that counted themselves)
    static STATE: Mutex<(bool, usize)> = Mutex::new((false, 0));
    static CHANGED: Condvar = Condvar::new();
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            thread::spawn(|| {
                let mut state = STATE.lock();
                state.1 += 1;
                drop(CHANGED.wait_while(state, |(go, _)| !*go));
            })
        })
        .collect();
    while STATE.lock().1 < WAITERS {
        thread::yield_now();
    }
    waiters.iter().for_each(wait_until_blocked);
    STATE.lock().0 = true;
    CHANGED.notify_all();
    waiters.into_iter().for_each(JoinHandle::join);
}

/// Ten threads share three permits; the ones inside wait at a gate. Once all ten are
/// blocked (three at the gate, seven in `acquire`), exactly three must be inside.
fn semaphore_admits_at_most_its_permits() {
    const PERMITS: usize = 3;
    static SEMAPHORE: Semaphore = Semaphore::new(PERMITS);
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    static MOST_INSIDE: AtomicUsize = AtomicUsize::new(0);
    static GATE: Event = Event::new();
    let workers: Vec<_> = (0..10)
        .map(|_| {
            thread::spawn(|| {
                SEMAPHORE.acquire();
                let inside = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
                MOST_INSIDE.fetch_max(inside, Ordering::SeqCst);
                GATE.wait();
                thread::yield_now();
                INSIDE.fetch_sub(1, Ordering::SeqCst);
                SEMAPHORE.release();
            })
        })
        .collect();
    workers.iter().for_each(wait_until_blocked);
    assert_eq!(INSIDE.load(Ordering::SeqCst), PERMITS);
    assert_eq!(SEMAPHORE.available(), 0);
    GATE.set();
    workers.into_iter().for_each(JoinHandle::join);
    assert_eq!(MOST_INSIDE.load(Ordering::SeqCst), PERMITS);
    assert_eq!(SEMAPHORE.available(), PERMITS);
}

fn try_acquire_takes_only_available_permits() {
    let semaphore = Semaphore::new(1);
    assert!(semaphore.try_acquire());
    assert!(!semaphore.try_acquire());
    assert_eq!(semaphore.available(), 0);
    semaphore.release();
    assert_eq!(semaphore.available(), 1);
    assert!(semaphore.try_acquire());
}
