//! Command workloads: arguments, environment, files in volumes, exits and traps, exec,
//! filesystem confinement, logs, workload detection and the compile cache.

use std::time::Duration;

use shoal_wasm_sandbox::{Exit, SandboxError, WorkloadKind};

use crate::harness::{container, guest, load, log_text, runtime, sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sees_its_args_and_env_and_writes_into_a_volume() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let hello = load(&rt, "hello.wasm");
    assert_eq!(hello.kind(), WorkloadKind::Command);
    let spec = container(
        "app",
        hello,
        &["one", "two"],
        &[("GREETING", "hi"), ("OUT_FILE", "/data/out.txt")],
    );
    let pod = sandbox(&rt, dir.path(), vec![spec]);
    let (exit, usage) = pod.start("app").unwrap().wait().await;
    assert_eq!(exit, Exit::Completed);
    let logs = log_text(&pod, "app");
    assert!(logs.contains("args: one two\n"), "{logs}");
    assert!(logs.contains("GREETING=hi\n"), "{logs}");
    assert!(logs.contains("HOSTNAME=test-pod\n"), "{logs}");
    assert!(logs.contains("hello stderr\n"), "{logs}");
    let written = std::fs::read_to_string(dir.path().join("volumes/data/out.txt")).unwrap();
    assert_eq!(written, "hello from test-pod\n");
    assert!(usage.fuel > 0 && usage.memory_peak > 0, "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview1_modules_run_too() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let hello = load(&rt, "hello.core.wasm");
    assert_eq!(hello.kind(), WorkloadKind::Preview1);
    let spec = container(
        "app",
        hello,
        &["p1"],
        &[("EXIT_CODE", "4"), ("OUT_FILE", "/data/p1.txt")],
    );
    let pod = sandbox(&rt, dir.path(), vec![spec]);
    let (exit, _) = pod.start("app").unwrap().wait().await;
    assert_eq!(
        exit,
        Exit::Failed { code: 4 },
        "preview-1 keeps exact exit codes"
    );
    assert!(log_text(&pod, "app").contains("args: p1\n"));
    assert!(dir.path().join("volumes/data/p1.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exits_and_traps_are_data() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let crasher = load(&rt, "crasher.wasm");
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![
            container("trap", crasher.clone(), &["trap"], &[]),
            container("exit", crasher.clone(), &["exit"], &[]),
            container("divide", crasher, &["divide"], &[]),
        ],
    );
    let (exit, _) = pod.start("trap").unwrap().wait().await;
    let Exit::Trapped { trap, message } = &exit else {
        panic!("{exit:?}")
    };
    assert!(trap.contains("unreachable"), "{trap}");
    assert!(message.contains("wasm backtrace"), "{message}");
    assert_eq!(exit.reason(), "Error");
    assert!(log_text(&pod, "trap").contains("about to crash\n"));
    let (exit, _) = pod.start("exit").unwrap().wait().await;
    assert!(matches!(exit, Exit::Failed { .. }), "{exit:?}");
    let (exit, _) = pod.start("divide").unwrap().wait().await;
    assert!(
        matches!(&exit, Exit::Trapped { trap, .. } if trap.contains("divide by zero")),
        "{exit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_sandbox_is_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![container("escaper", load(&rt, "escaper.wasm"), &[], &[])],
    );
    let (exit, _) = pod.start("escaper").unwrap().wait().await;
    let logs = log_text(&pod, "escaper");
    assert!(!logs.contains("ESCAPED"), "{logs}");
    assert_eq!(exit, Exit::Completed, "{logs}");
    assert!(
        logs.lines().filter(|l| l.contains(": blocked")).count() >= 4,
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_in_the_same_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![container(
            "app",
            load(&rt, "hello.wasm"),
            &[],
            &[("OUT_FILE", "/data/shared.txt")],
        )],
    );
    let (exit, _) = pod.start("app").unwrap().wait().await;
    assert_eq!(exit, Exit::Completed);
    let argv: Vec<String> = ["hello", "from", "exec"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let output = pod
        .exec("app", &argv, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(output.exit, Exit::Completed);
    assert!(
        output.stdout.contains("args: from exec\n"),
        "{}",
        output.stdout
    );
    assert!(output.stderr.contains("hello stderr"), "{}", output.stderr);
    // The exec wrote the same shared file: same volume.
    assert!(
        output.stdout.contains("wrote /data/shared.txt"),
        "{}",
        output.stdout
    );
    assert!(
        !log_text(&pod, "app").contains("from exec"),
        "exec output stays out of the container's logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_bounded_and_the_previous_run_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(None);
    let pod = sandbox(
        &rt,
        dir.path(),
        vec![container(
            "flood",
            load(&rt, "flooder.wasm"),
            &[],
            &[("LINES", "100000")],
        )],
    );
    let (exit, _) = pod.start("flood").unwrap().wait().await;
    assert_eq!(exit, Exit::Completed);
    let logs = pod.logs("flood").unwrap();
    let kept: usize = logs.lines(None, None).iter().map(|l| l.text.len()).sum();
    assert!(kept <= 2 * 1024 * 1024, "{kept} bytes kept");
    assert!(logs.dropped() > 0);
    let last = logs.lines(Some(1), None);
    assert!(
        last[0].text.starts_with("flood 100000 ") || last[0].text.starts_with("flood 99999 "),
        "{:?}",
        last[0].text
    );
    // A restart keeps the last run as "previous".
    let (exit, _) = pod.start("flood").unwrap().wait().await;
    assert_eq!(exit, Exit::Completed);
    assert_eq!(logs.previous(Some(1), None).unwrap()[0].text, last[0].text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_imports_are_listed() {
    let rt = runtime(None);
    let error = rt
        .load("missing-import.wasm", &guest("missing-import.wasm"))
        .unwrap_err();
    let SandboxError::MissingImports { imports, .. } = &error else {
        panic!("{error}")
    };
    assert!(
        imports.iter().any(|i| i.starts_with("shoal:test/missing")),
        "{imports:?}"
    );
    assert!(error.to_string().contains("shoal:test/missing"), "{error}");
    let not_wasm = rt.load("text", b"hello world").unwrap_err();
    assert!(
        matches!(not_wasm, SandboxError::NotWasm { .. }),
        "{not_wasm}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_artifacts_are_cached_per_digest() {
    let cache = tempfile::tempdir().unwrap();
    let first = runtime(Some(cache.path()))
        .load("hello.wasm", &guest("hello.wasm"))
        .unwrap();
    assert!(!first.from_cache());
    // A new runtime (a restarted agent) loads the precompiled artifact.
    let second = runtime(Some(cache.path()))
        .load("hello.wasm", &guest("hello.wasm"))
        .unwrap();
    assert!(second.from_cache());
    assert_eq!(first.digest(), second.digest());
    let files = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(files, 1);
}
