//! The network end to end, a task per connection: `examples/http-server` on two CPUs,
//! worked over by the harness's `http` client from the host (`tests/src/net_client.rs`):
//! HTTP and keep-alive, 1 MiB intact, a handler's panic resetting only its connection, a
//! client that leaves mid-response, malformed and oversized requests, then 1,000 short
//! connections one after another. Then every socket and byte comes back once TIME-WAIT
//! has passed (`spindle_test::net`).
//@ net: http
//@ smp: 2
//@ timeout: 120
#![no_std]
#![no_main]

spindle_test::test_kernel!(serves_the_host_client_with_tasks);

fn serves_the_host_client_with_tasks() {
    spindle_test::net::serve_the_host_client(http_server::Mode::Tasks);
}
