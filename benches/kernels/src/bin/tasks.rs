//! Async figures: task yield ping-pong in one executor, a wake from another thread until
//! the task is polled, and spawning a task and joining it.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use core::{
    sync::atomic::{AtomicBool, Ordering},
    task::Poll,
};

use futures_util::task::AtomicWaker;
use spindle::{
    executor::{self, Executor},
    sync::oneshot,
    thread,
};
use spindle_bench::{Recorder, overhead};

spindle_bench::bench_kernel!(task_yield, cross_thread_wake, task_spawn_join);

/// Two tasks of one executor yield to each other; each switch (one task's
/// `yield_now().await` to the other's return from it) is one sample.
fn task_yield() {
    let recorder = Arc::new(Recorder::new());
    let executor = Executor::new("bench", 4);
    let player = |recorder: Arc<Recorder>| async move {
        while !recorder.is_full() {
            recorder.mark_start();
            executor::yield_now().await;
            recorder.mark_end();
        }
    };
    let a = executor.spawn(player(Arc::clone(&recorder)));
    let b = executor.spawn(player(Arc::clone(&recorder)));
    executor.block_on(async {
        let _ = (a.await, b.await);
    });
    recorder.report("task_yield", overhead(), 1);
}

/// A thread wakes a task waiting on another thread's executor; each sample runs from the
/// `wake()` call to the task's poll (which includes the executor thread being unparked
/// and switched to when the waking thread yields).
fn cross_thread_wake() {
    struct Signal {
        raised: AtomicBool,
        waker: AtomicWaker,
    }
    let recorder = Arc::new(Recorder::new());
    let signal = Arc::new(Signal {
        raised: AtomicBool::new(false),
        waker: AtomicWaker::new(),
    });
    let (started, ready) = oneshot::channel::<()>();
    let host = {
        let (recorder, signal) = (Arc::clone(&recorder), Arc::clone(&signal));
        thread::spawn(move || {
            let executor = Executor::new("woken", 4);
            let waiter = executor.spawn(async move {
                let _ = started.send(());
                while !recorder.is_full() {
                    core::future::poll_fn(|cx| {
                        signal.waker.register(cx.waker());
                        if signal.raised.swap(false, Ordering::AcqRel) {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    recorder.mark_end();
                }
            });
            let _ = executor.block_on(waiter);
        })
    };
    ready.recv().expect("the waiting task started");
    while !recorder.is_full() {
        while host.thread().state() != thread::ThreadState::Blocked {
            thread::yield_now(); // let the executor go idle: its thread parks
        }
        recorder.mark_start();
        signal.raised.store(true, Ordering::Release);
        signal.waker.wake();
        thread::yield_now();
    }
    host.join();
    recorder.report("cross_thread_wake", overhead(), 1);
}

/// A task spawns a task that returns at once onto its own executor and awaits its handle;
/// each sample is the whole round trip: the task's allocations, the inbox, its one poll,
/// its completion waking the handle, and the awaiting task's next poll (the task is freed
/// after the sample ends, when its handle is dropped).
fn task_spawn_join() {
    let recorder = Arc::new(Recorder::new());
    let executor = Executor::new("bench", 4);
    let spawner = executor.spawner();
    let measuring = executor.spawn({
        let recorder = Arc::clone(&recorder);
        async move {
            while !recorder.is_full() {
                recorder.mark_start();
                let handle = spawner.spawn(async { 1u64 });
                let _ = handle.await;
                recorder.mark_end();
            }
        }
    });
    let _ = executor.block_on(measuring);
    recorder.report("task_spawn_join", overhead(), 1);
}
