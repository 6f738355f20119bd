//! The converge example's short schedule, as CI runs it: five servers on
//! loopback, a crash, its restart and a graceful stop, each converging
//! (every running server listing exactly the running ones, as its status
//! subscription reports) within the example's limit.

#[path = "../examples/converge.rs"]
mod converge;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_short_schedule_converges() {
    let times = converge::run(converge::SHORT, false)
        .await
        .expect("converges");
    assert_eq!(times.len(), converge::SHORT.len());
    for (step, took) in times {
        assert!(took < converge::CONVERGE_LIMIT, "{step:?} took {took:?}");
    }
}
