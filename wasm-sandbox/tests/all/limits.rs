//! Limits acting as cgroups: memory over the limit ends the container as out-of-memory (for
//! components and preview-1 modules), CPU over the limit is throttled, an unlimited spinner
//! cannot starve other guests, and stopping interrupts a spinning or sleeping guest.

use std::time::{Duration, Instant};

use shoal_wasm_sandbox::Exit;

use crate::harness::{container, load, log_text, runtime, sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_over_the_limit_is_oom_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    for file in ["memory-bomb.wasm", "memory-bomb.core.wasm"] {
        let mut spec = container("bomb", load(&rt, file), &[], &[]);
        spec.memory_limit = Some(16 << 20);
        let pod = sandbox(&rt, dir.path(), vec![spec]);
        let (exit, usage) = pod.start("bomb").unwrap().wait().await;
        assert_eq!(
            exit,
            Exit::OutOfMemory,
            "{file}: {}",
            log_text(&pod, "bomb")
        );
        assert_eq!(exit.reason(), "OOMKilled");
        assert!(usage.memory_peak <= 16 << 20, "{file}: {usage:?}");
        assert!(usage.memory_peak > 8 << 20, "{file}: {usage:?}");
        assert!(log_text(&pod, "bomb").contains("allocated 4 MiB"), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_over_the_limit_is_throttled_not_killed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    // About three billion fuel of work: a fraction of a second on a whole core, seconds at
    // a tenth of one.
    let mut spec = container(
        "spin",
        load(&rt, "spinner.wasm"),
        &[],
        &[("ITERATIONS", "300000000")],
    );
    spec.cpu_millis = Some(100);
    let pod = sandbox(&rt, dir.path(), vec![spec]);
    let started = Instant::now();
    let (exit, usage) =
        tokio::time::timeout(Duration::from_secs(120), pod.start("spin").unwrap().wait())
            .await
            .expect("the throttled spinner still finishes");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(exit, Exit::Completed, "throttled, never killed");
    assert!(log_text(&pod, "spin").contains("done "));
    // 100m is a tenth of a core; allow a wide margin for a busy machine, but far below one core.
    let cores = usage.fuel as f64 / rt.fuel_per_core_second() as f64 / elapsed;
    assert!(cores < 0.4, "used {cores:.2} cores with a 100m limit");
    assert!(usage.throttled > Duration::from_secs(1), "{usage:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_unlimited_spinner_cannot_starve_other_guests() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![
            container("spin", load(&rt, "spinner.wasm"), &[], &[]),
            container(
                "tick",
                load(&rt, "ticker.wasm"),
                &[],
                &[("TICK_MS", "10"), ("TICKS", "5")],
            ),
        ],
    );
    // One executor thread: the ticker can only finish if the spinner yields.
    let spinner = pod.start("spin").unwrap();
    let (exit, _) =
        tokio::time::timeout(Duration::from_secs(20), pod.start("tick").unwrap().wait())
            .await
            .expect("the ticker finished while the spinner spun");
    assert_eq!(exit, Exit::Completed);
    assert!(log_text(&pod, "tick").contains("tick 5\n"));
    let (exit, _) = spinner.stop(Duration::from_millis(50)).await;
    assert_eq!(exit, Exit::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_a_sleeping_guest_after_its_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![container(
            "tick",
            load(&rt, "ticker.wasm"),
            &[],
            &[("TICK_MS", "60000")],
        )],
    );
    let handle = pod.start("tick").unwrap();
    let started = Instant::now();
    let (exit, _) = handle.stop(Duration::from_millis(200)).await;
    assert_eq!(exit, Exit::Killed);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancellation did not wait for the guest's sleep"
    );
}
