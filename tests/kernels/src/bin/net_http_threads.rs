//! The network end to end, a kernel thread per connection through the blocking socket
//! calls: `examples/http-server` in its thread mode, worked over by the harness's
//! `http-short` client (the `http` client without its 1,000 connections), then every
//! socket and byte back (`spindle_test::net`).
//@ net: http-short
//@ smp: 2
//@ timeout: 90
#![no_std]
#![no_main]

spindle_test::test_kernel!(serves_the_host_client_with_threads);

fn serves_the_host_client_with_threads() {
    spindle_test::net::serve_the_host_client(http_server::Mode::Threads);
}
