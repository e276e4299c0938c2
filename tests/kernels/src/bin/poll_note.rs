//! What a thread is polling, as failure reports name it: published for the length of
//! each task's poll, nested executors included, and gone once the poll returns.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::{String, ToString};

use spindle::{
    executor::Executor,
    thread::{self, Builder},
};

spindle_test::test_kernel!(
    a_task_sees_itself_named,
    nested_executors_restore_the_outer_task
);

/// The task the calling thread is polling, as a report would print it.
fn polled_now() -> Option<String> {
    let thread = thread::current();
    let on_thread = thread.if_current().expect("the current thread is current");
    on_thread.with_poll_note(|note| note.map(ToString::to_string))
}

fn a_task_sees_itself_named() {
    assert_eq!(polled_now(), None, "no poll outside executors");
    let executor = Executor::new("outer", 4);
    let named = executor
        .spawner()
        .spawn_named(Some("reporter".into()), async { polled_now() });
    let seen = executor.block_on(named).expect("the task finishes");
    let seen = seen.expect("a task sees its poll published");
    assert!(seen.ends_with("'reporter' of executor 'outer'"), "{seen}");
    assert!(seen.starts_with("task "), "{seen}");
    let unnamed = executor.spawn(async { polled_now() });
    let seen = executor
        .block_on(unnamed)
        .expect("the task finishes")
        .expect("published");
    assert!(
        seen.contains(" 'task-"),
        "an unnamed task shows as task-<id>: {seen}"
    );
    assert_eq!(polled_now(), None, "the poll's note goes with it");
}

fn nested_executors_restore_the_outer_task() {
    let seen = Builder::new()
        .name("nesting")
        .spawn(|| {
            let outer = Executor::new("outer", 4);
            let task = outer
                .spawner()
                .spawn_named(Some("outer-task".into()), async {
                    let before = polled_now();
                    let inner = Executor::new("inner", 4);
                    let inner_task = inner
                        .spawner()
                        .spawn_named(Some("inner-task".into()), async { polled_now() });
                    let during = inner.block_on(inner_task).expect("the inner task finishes");
                    (before, during, polled_now())
                });
            outer.block_on(task).expect("the outer task finishes")
        })
        .expect("a thread")
        .join();
    let (before, during, after) = seen;
    let outer = before.expect("the outer task is published");
    assert!(
        outer.ends_with("'outer-task' of executor 'outer'"),
        "{outer}"
    );
    let inner = during.expect("the inner task is published");
    assert!(
        inner.ends_with("'inner-task' of executor 'inner'"),
        "{inner}"
    );
    assert_eq!(
        after.as_deref(),
        Some(outer.as_str()),
        "the outer task is back"
    );
}
