//! Every executor, for the task listing ([`tasks`]).

use alloc::{
    sync::{Arc, Weak},
    vec::Vec,
};

use super::{host::Host, shared::Shared, task::TaskInfo};
use crate::trace::{self, Kind};

/// Every executor that was created, by a weak reference. (A spinning lock that leaves
/// interrupts on: it is only taken to register an executor or list tasks, never by wakes
/// or interrupt handlers.)
static EXECUTORS: spin::Mutex<Vec<Weak<dyn ListTasks>>> = spin::Mutex::new(Vec::new());

trait ListTasks: Send + Sync {
    fn list(&self, into: &mut Vec<TaskInfo>);
    fn trace_names(&self);
}

impl<H: Host> ListTasks for Shared<H> {
    fn list(&self, into: &mut Vec<TaskInfo>) {
        let tasks: Vec<_> = self.listing.lock().iter().flatten().cloned().collect();
        into.extend(tasks.iter().map(|task| task.header().info(&self.name)));
    }

    fn trace_names(&self) {
        trace::record_name(Kind::ExecutorName, self.id, &&*self.name);
        let tasks: Vec<_> = self.listing.lock().iter().flatten().cloned().collect();
        for task in tasks {
            let header = task.header();
            trace::record_name(Kind::TaskName, header.id.as_u64(), &header.label());
        }
    }
}

/// Adds an executor to the listing.
pub(super) fn register<H: Host>(shared: &Arc<Shared<H>>) {
    let weak: Weak<dyn ListTasks> = Arc::downgrade(shared) as Weak<dyn ListTasks>;
    let mut executors = EXECUTORS.lock();
    executors.retain(|executor| executor.strong_count() > 0);
    executors.push(weak);
}

/// Takes a dropped executor out of the listing. Its weak reference would otherwise keep
/// the `Shared` block allocated (a weak reference holds the block, not its contents)
/// until the next `register` pruned it: an executor stopped and joined would leave its
/// block behind, and `mm::usage` would not be back where it was.
pub(super) fn unregister<H: Host>(shared: &Arc<Shared<H>>) {
    let this = Arc::as_ptr(shared).cast::<()>();
    EXECUTORS.lock().retain(|executor| {
        executor.strong_count() > 0 && Weak::as_ptr(executor).cast::<()>() != this
    });
}

/// Records the name of every executor and of each of its tasks in the trace (when
/// tracing starts, so that what exists already is labelled).
pub fn trace_names() {
    live().iter().for_each(|executor| executor.trace_names());
}

fn live() -> Vec<Arc<dyn ListTasks>> {
    EXECUTORS.lock().iter().filter_map(Weak::upgrade).collect()
}

/// A snapshot of every unfinished task of every executor, by id.
pub fn tasks() -> Vec<TaskInfo> {
    let executors = live();
    let mut list = Vec::new();
    executors
        .iter()
        .for_each(|executor| executor.list(&mut list));
    list.sort_by_key(|info| info.id);
    list
}
