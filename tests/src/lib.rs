//! End-to-end tests of Shoal: real `shoal` processes, driven through their command line (and,
//! as the cluster grows, their HTTP API on loopback). The tests live in `tests/e2e/`; this
//! library is their harness.

pub mod cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

/// The `shoal` binary, built once per test process with the same profile as the tests.
///
/// # Panics
/// If the binary cannot be built: every end-to-end test needs it.
pub fn shoal_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(env!("CARGO"))
            // With the workspace's test targets, so features resolve exactly as for the
            // test build that is already done: only Shoal's own crates compile again, not
            // tokio, wasmtime and everything between.
            .args(["build", "--quiet", "--workspace", "--tests", "--bins"])
            .current_dir(root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the shoal binary failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("debug").join("shoal")
    })
}

/// The result of one `shoal` invocation, with its output decoded as text.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `shoal` with `args` in `dir` and waits for it.
///
/// # Panics
/// If the process cannot be started.
pub fn shoal(dir: &Path, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(shoal_binary())
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("shoal starts");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A fixture file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests/fixtures").join(name)
}
