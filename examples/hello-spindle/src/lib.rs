//! The logic of the hello-spindle kernel, in a library so that its test kernel
//! (`tests/app.rs`) can call it too.
//!
//! A *sensor* thread (blocking code) takes readings and sends them over a channel; a task
//! on an executor thread (async code) receives them, with a timeout on each, while a
//! second task ticks on an async timer. The sensor ends the stream by dropping its
//! sender.
#![no_std]

use spindle::prelude::*;

/// What a [`run`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many readings the task received.
    pub readings: u32,
    /// Their sum.
    pub sum: u64,
    /// How often the ticker task woke from its async sleep.
    pub ticks: u32,
}

/// Why a [`run`] failed.
#[derive(Debug)]
pub enum Error {
    /// No thread could be started.
    Thread(thread::SpawnError),
    /// The executor refused a task.
    Task(executor::TaskSpawnError),
    /// A task was dropped before it finished, or panicked.
    TaskFailed(executor::TaskError),
    /// The sensor stayed silent longer than the receiving task waits.
    Silent(executor::Elapsed),
}

/// How long the receiving task waits for one reading before giving up.
pub const READING_TIMEOUT: Duration = Duration::from_millis(500);

/// Sends `count` readings (1, 2, 3, ...) from a thread, one every millisecond, to a task
/// that adds them up, and returns what the task saw.
///
/// # Errors
/// [`Error`]: a thread or task could not start, or a reading took longer than
/// [`READING_TIMEOUT`].
pub fn run(count: u32) -> Result<Summary, Error> {
    let (readings, from_sensor) = sync::channel::bounded::<u64>(8);
    let tasks = ExecutorThread::start("tasks", 16).map_err(Error::Thread)?;

    // Async side: receive until the sender is dropped, each reading within the timeout.
    let receiver = tasks
        .try_spawn(async move {
            let (mut received, mut sum) = (0, 0);
            loop {
                match executor::timeout(READING_TIMEOUT, from_sensor.recv_async()).await {
                    Ok(Ok(reading)) => (received, sum) = (received + 1, sum + reading),
                    Ok(Err(_closed)) => return Ok((received, sum)),
                    Err(elapsed) => return Err(elapsed),
                }
            }
        })
        .map_err(Error::Task)?;
    let ticker = tasks
        .try_spawn(async {
            let mut ticks = 0;
            for _ in 0..5 {
                executor::sleep(Duration::from_millis(2)).await;
                ticks += 1;
            }
            ticks
        })
        .map_err(Error::Task)?;

    // Blocking side: a thread that sleeps between readings.
    let sensor = thread::Builder::new()
        .name("sensor")
        .spawn(move || {
            for reading in 1..=u64::from(count) {
                thread::sleep(Duration::from_millis(1));
                if readings.send(reading).is_err() {
                    break; // the task gave up
                }
            }
        })
        .map_err(Error::Thread)?;

    // This thread waits for both tasks without an executor of its own.
    let received = executor::block_on(receiver).map_err(Error::TaskFailed)?;
    let ticks = executor::block_on(ticker).map_err(Error::TaskFailed)?;
    sensor.join();
    tasks.stop();
    let (readings, sum) = received.map_err(Error::Silent)?;
    Ok(Summary {
        readings,
        sum,
        ticks,
    })
}

/// Whether a task's timeout fires: waits `wait` for a sleep of `sleep`, on the calling
/// thread.
pub fn times_out(wait: Duration, sleep: Duration) -> bool {
    executor::block_on(executor::timeout(wait, executor::sleep(sleep))).is_err()
}
