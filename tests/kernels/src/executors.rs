//! Test support: kernel threads that host executors.

use spindle::{
    executor::{Executor, Spawner},
    sync::oneshot,
    thread::{self, JoinHandle},
};

/// A kernel thread running an executor until stopped.
#[derive(Debug)]
pub struct ExecutorThread {
    /// Spawns onto the thread's executor.
    pub spawner: Spawner,
    thread: JoinHandle<()>,
}

impl ExecutorThread {
    /// Starts a thread named `name` that runs an executor for up to `capacity` tasks.
    pub fn start(name: &'static str, capacity: usize) -> Self {
        let (sender, receiver) = oneshot::channel();
        let thread = thread::Builder::new()
            .name(name)
            .spawn(move || {
                let executor = Executor::new(name, capacity);
                sender
                    .send(executor.spawner())
                    .expect("the starter waits for the spawner");
                executor.run();
            })
            .expect("an executor thread");
        let spawner = receiver
            .recv()
            .expect("the executor thread sends its spawner");
        Self { spawner, thread }
    }

    /// The hosting thread.
    pub fn thread(&self) -> &alloc::sync::Arc<thread::Thread> {
        self.thread.thread()
    }

    /// Asks the thread to stop (its executor's `run` returns) and waits for it.
    pub fn stop(self) {
        self.thread.thread().request_stop();
        self.thread.join();
    }
}
