//! http-server: an HTTP server on Spindle. `cargo run -- --net 8080` in this directory
//! boots it with the host's 127.0.0.1:8080 forwarded to its port 80 (and UDP 8080 to its
//! echo on port 7); `curl http://127.0.0.1:8080/` answers `hello from spindle`. It
//! serves until QEMU is stopped (Ctrl-C). Built with `--features threads`, each
//! connection gets a kernel thread instead of a task.
#![no_std]
#![no_main]

use http_server::Mode;
use spindle::prelude::*;

spindle::main!(app);

fn app() -> Result<(), http_server::Error> {
    let mode = if cfg!(feature = "threads") {
        Mode::Threads
    } else {
        Mode::Tasks
    };
    http_server::start(mode)?;
    println!(
        "http-server: HTTP on port {}, UDP echo on port {}, {mode}",
        http_server::HTTP_PORT,
        http_server::ECHO_PORT
    );
    loop {
        thread::park(); // the server's threads serve; this one has nothing left to do
    }
}
