//! The invariants: quiet on correct traces, and each one caught by a trace that breaks
//! it.

mod common;

use common::{Stream, two_cpu_stream};
use spindle_trace::{Rule, SwitchReason, Violation, WakeSource, check, decode};

fn violations(stream: &Stream) -> Vec<Violation> {
    check(&decode(&stream.bytes()).expect("decodes"))
}

fn rules(stream: &Stream) -> Vec<Rule> {
    violations(stream).iter().map(|v| v.rule).collect()
}

#[test]
fn correct_traces_raise_nothing() {
    assert_eq!(violations(&two_cpu_stream()), []);
    let demo = decode(&common::sim::demo_stream()).expect("decodes");
    assert_eq!(check(&demo), []);
}

// (a) switched out or exiting without having been switched in.

#[test]
fn switching_out_a_thread_that_is_not_running_is_caught() {
    let mut s = Stream::new(1);
    s.thread_name(0, 0, 3, "console")
        .switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 200, 3, 4, SwitchReason::Preempt);
    let found = violations(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    let v = &found[0];
    assert_eq!((v.rule, v.cpu, v.thread), (Rule::NotRunning, 0, Some(3)));
    assert!((v.us - 0.1).abs() < 1e-9);
    assert!(v.message.contains("CPU 0"), "{}", v.message);
    assert!(v.message.contains("0.100 µs"), "{}", v.message);
    assert!(v.message.contains("thread 3 \"console\""), "{}", v.message);
    assert!(
        v.message.contains("thread 2 was switched in"),
        "{}",
        v.message
    );
    assert!(v.to_string().starts_with("not running: CPU 0"));
}

#[test]
fn the_first_switch_on_each_cpu_and_after_a_loss_establishes_what_ran() {
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(1, 150, 7, 8, SwitchReason::Yield)
        .dropped(0, 300, 5)
        .switch(0, 300, 9, 2, SwitchReason::Yield);
    assert_eq!(rules(&s), []);
}

#[test]
fn an_exit_by_a_thread_that_is_not_running_is_caught() {
    let mut s = Stream::new(1);
    s.switch(0, 100, 1, 2, SwitchReason::Yield).exit(0, 200, 5);
    assert_eq!(rules(&s), [Rule::NotRunning]);
}

#[test]
fn a_panic_by_a_thread_that_is_not_running_is_caught() {
    let mut s = Stream::new(1);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .panic(0, 150, 2, Some(7))
        .panic(0, 200, 1, None);
    assert_eq!(rules(&s), [Rule::NotRunning]);
}

#[test]
fn a_panic_after_the_threads_exit_is_caught() {
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .exit(0, 200, 2)
        .switch(0, 300, 2, 1, SwitchReason::Exit)
        .panic(1, 400, 2, None);
    assert_eq!(rules(&s), [Rule::AfterExit]);
}

// (b) running again after blocking with no wake.

#[test]
fn a_blocked_thread_switched_in_without_a_wake_is_caught() {
    for reason in [SwitchReason::Block, SwitchReason::Sleep] {
        let mut s = Stream::new(2);
        s.thread_name(0, 0, 2, "worker")
            .switch(0, 100, 1, 2, SwitchReason::Yield)
            .switch(0, 200, 2, 1, reason)
            .switch(0, 300, 1, 2, SwitchReason::Preempt)
            // The wake comes only after it ran.
            .wake_thread(1, 400, 2, WakeSource::Thread, 9);
        let found = violations(&s);
        assert_eq!(found.len(), 1, "{reason:?}: {found:?}");
        let v = &found[0];
        assert_eq!(
            (v.rule, v.cpu, v.thread),
            (Rule::RanWithoutWake, 0, Some(2))
        );
        assert!(
            v.message.contains("thread 2 \"worker\" is switched in"),
            "{}",
            v.message
        );
        assert!(v.message.contains("blocked at 0.100 µs"), "{}", v.message);
        assert!(
            v.message.contains("next wake is at 0.300 µs on CPU 1"),
            "{}",
            v.message
        );
    }
}

#[test]
fn a_wake_before_the_switch_in_satisfies_it() {
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 200, 2, 1, SwitchReason::Block)
        .wake_thread(1, 250, 2, WakeSource::Interrupt, 48)
        .switch(0, 300, 1, 2, SwitchReason::Preempt)
        // A second block needs a second wake.
        .switch(0, 400, 2, 1, SwitchReason::Sleep)
        .switch(0, 500, 1, 2, SwitchReason::Preempt);
    assert_eq!(rules(&s), [Rule::RanWithoutWake]);
}

#[test]
fn a_wake_racing_the_block_switch_out_counts() {
    // Woken on CPU 1 after it decided to block but before its switch-out was recorded.
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .wake_thread(1, 190, 2, WakeSource::Thread, 9)
        .switch(0, 200, 2, 1, SwitchReason::Block)
        .switch(0, 300, 1, 2, SwitchReason::Preempt);
    assert_eq!(rules(&s), []);
}

#[test]
fn a_wake_lost_with_dropped_records_is_not_held_against_the_thread() {
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 200, 2, 1, SwitchReason::Block)
        .mark(1, 150, "x")
        .dropped(1, 260, 3)
        .mark(1, 260, "y")
        .switch(0, 300, 1, 2, SwitchReason::Preempt);
    assert_eq!(rules(&s), []);
}

// (c) mentioned after its exit.

#[test]
fn a_thread_mentioned_after_its_exit_is_caught() {
    let mut s = Stream::new(2);
    s.thread_name(0, 0, 2, "job")
        .switch(0, 100, 1, 2, SwitchReason::Yield)
        .exit(0, 150, 2)
        .switch(0, 200, 2, 1, SwitchReason::Exit)
        .wake_thread(1, 300, 2, WakeSource::Thread, 5)
        .switch(0, 400, 1, 2, SwitchReason::Preempt);
    let found = violations(&s);
    let after: Vec<&Violation> = found.iter().filter(|v| v.rule == Rule::AfterExit).collect();
    assert_eq!(after.len(), 2, "{found:?}");
    assert_eq!((after[0].cpu, after[0].thread), (1, Some(2)));
    assert!(
        after[0]
            .message
            .contains("CPU 1 at 0.200 µs: thread 2 \"job\" is woken after it exited at 0.050 µs"),
        "{}",
        after[0].message
    );
    assert!(
        after[1].message.contains("is switched in after it exited"),
        "{}",
        after[1].message
    );
}

#[test]
fn the_exit_switch_out_itself_is_allowed_once() {
    let mut s = Stream::new(1);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .exit(0, 150, 2)
        .switch(0, 200, 2, 1, SwitchReason::Exit);
    assert_eq!(rules(&s), []);
}

#[test]
fn an_exit_switch_without_an_exit_record_still_ends_the_thread() {
    let mut s = Stream::new(1);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .switch(0, 200, 2, 1, SwitchReason::Exit)
        .spawn(0, 300, 7, 2);
    let found = violations(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, Rule::AfterExit);
    assert!(
        found[0].message.contains("spawns a thread"),
        "{}",
        found[0].message
    );
}

// (d) time going backwards on a CPU.

#[test]
fn time_going_backwards_on_a_cpu_is_caught() {
    let mut s = Stream::new(2);
    s.switch(0, 100, 1, 2, SwitchReason::Yield)
        .mark(0, 500, "late")
        .mark(0, 400, "early")
        // Another CPU's earlier times are not a decrease.
        .mark(1, 50, "other");
    let found = violations(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    let v = &found[0];
    assert_eq!((v.rule, v.cpu, v.thread), (Rule::TimeBackwards, 0, Some(2)));
    assert!(
        v.message
            .contains("CPU 0 at 0.350 µs: time goes back from 0.450 µs"),
        "{}",
        v.message
    );
    assert!(v.message.contains("thread 2 running"), "{}", v.message);
}

#[test]
fn a_loss_stamped_at_read_out_is_not_a_clock_going_back() {
    let mut s = Stream::new(1);
    s.dropped(0, 10_000, 4)
        .mark(0, 100, "kept")
        .mark(0, 200, "kept too");
    assert_eq!(rules(&s), []);
}
