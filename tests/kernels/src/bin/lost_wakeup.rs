//! Lost-wakeup stress: 120,000 wake/sleep cycles between threads and tasks, every wake
//! counted. One lost wake-up leaves both sides asleep forever (and the kernel times out).
//@ smp: 1 4
#![no_std]
#![no_main]

use spindle::{
    executor,
    executor::ExecutorThread,
    sync::{Semaphore, channel},
    thread,
};

spindle_test::test_kernel!(
    a_thread_and_a_task_ping_pong_25000_times,
    tasks_on_two_executors_ping_pong_25000_times,
    two_threads_ping_pong_10000_times_through_semaphores,
);

/// The thread blocks in `send`/`recv`, the task awaits: 50,000 wakes in all.
fn a_thread_and_a_task_ping_pong_25000_times() {
    const ROUNDS: u64 = 25_000;
    let host = ExecutorThread::start("pong-task", 4).unwrap();
    let (to_task, from_thread) = channel::bounded::<u64>(1);
    let (to_thread, from_task) = channel::bounded::<u64>(1);
    let task = host.spawner().spawn(async move {
        let mut received = 0u64;
        while let Ok(value) = from_thread.recv_async().await {
            received += 1;
            to_thread.send_async(value + 1).await.unwrap();
        }
        received
    });
    for round in 0..ROUNDS {
        to_task.send(round * 2).unwrap();
        assert_eq!(from_task.recv(), Ok(round * 2 + 1));
    }
    drop(to_task);
    assert_eq!(executor::block_on(task), Ok(ROUNDS));
    host.stop();
}

/// Two executors on two threads; each side's task awaits the other's messages.
fn tasks_on_two_executors_ping_pong_25000_times() {
    const ROUNDS: u64 = 25_000;
    let (ping_host, pong_host) = (
        ExecutorThread::start("ping", 4).unwrap(),
        ExecutorThread::start("pong", 4).unwrap(),
    );
    let (to_pong, from_ping) = channel::bounded::<u64>(1);
    let (to_ping, from_pong) = channel::bounded::<u64>(1);
    let pong = pong_host.spawner().spawn(async move {
        let mut received = 0u64;
        while let Ok(value) = from_ping.recv_async().await {
            received += 1;
            to_ping.send_async(value + 1).await.unwrap();
        }
        received
    });
    let ping = ping_host.spawner().spawn(async move {
        let mut received = 0u64;
        for round in 0..ROUNDS {
            to_pong.send_async(round).await.unwrap();
            assert_eq!(from_pong.recv_async().await, Ok(round + 1));
            received += 1;
        }
        received
    });
    assert_eq!(executor::block_on(ping), Ok(ROUNDS));
    assert_eq!(executor::block_on(pong), Ok(ROUNDS));
    ping_host.stop();
    pong_host.stop();
}

fn two_threads_ping_pong_10000_times_through_semaphores() {
    const ROUNDS: u32 = 10_000;
    static PING: Semaphore = Semaphore::new(0);
    static PONG: Semaphore = Semaphore::new(0);
    let ponger = thread::spawn(|| {
        for _ in 0..ROUNDS {
            PING.acquire();
            PONG.release();
        }
    });
    for _ in 0..ROUNDS {
        PING.release();
        PONG.acquire();
    }
    ponger.join();
    assert_eq!((PING.available(), PONG.available()), (0, 0));
}
