//! A short run of the `connector serve` load harness (`examples/load_server.rs`): the real
//! binary, 5 users with their own keys, 2 seconds at 20 actions/s against a loopback API. The
//! full 60-second run for 100 users is recorded in docs/performance.md, not run in CI.

#[allow(dead_code)]
#[path = "../examples/load_server.rs"]
mod load_server;

#[tokio::test(flavor = "multi_thread")]
async fn the_load_harness_runs_without_errors_and_the_server_exits_cleanly() {
    let ok = load_server::run(load_server::Args {
        users: 5,
        seconds: 2,
        rate: 20,
        max_in_flight: 512,
        bin: env!("CARGO_BIN_EXE_connector").into(),
        postgres: None,
    })
    .await;
    assert_eq!(ok, Ok(true));
}
