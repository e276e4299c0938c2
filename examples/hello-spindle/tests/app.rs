//! hello-spindle's test kernel: `cargo test` builds it and the runner boots it; QEMU's
//! exit status is the verdict (a failed `assert!` panics, which exits with failure).
#![no_std]
#![no_main]

use hello_spindle::Summary;
use spindle::prelude::*;

spindle::main!(tests);

fn tests() {
    every_reading_arrives();
    a_timeout_fires_only_when_the_sleep_is_longer();
    println!("hello-spindle tests: all passed");
}

fn every_reading_arrives() {
    let summary = hello_spindle::run(50).expect("a run without errors");
    let expected = Summary {
        readings: 50,
        sum: 50 * 51 / 2,
        ticks: 5,
    };
    assert_eq!(summary, expected);
    println!("ok every_reading_arrives");
}

fn a_timeout_fires_only_when_the_sleep_is_longer() {
    assert!(hello_spindle::times_out(
        Duration::from_millis(2),
        Duration::from_millis(200)
    ));
    assert!(!hello_spindle::times_out(
        Duration::from_millis(200),
        Duration::from_millis(2)
    ));
    println!("ok a_timeout_fires_only_when_the_sleep_is_longer");
}
