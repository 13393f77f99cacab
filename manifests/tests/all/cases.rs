//! The data-driven test helper: every `*.yaml` file under `tests/cases/<area>/` is an input,
//! and the `*.out` file beside it holds the expected result. Run with `SHOAL_BLESS=1` to
//! write the actual results as the new expectations (then review the diff).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Runs `run` on every case of `area` and fails listing each case whose output differs from
/// its `.out` file (or lacks one).
pub(crate) fn check_dir(area: &str, run: impl Fn(&str, &str) -> String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(area);
    let bless = std::env::var_os("SHOAL_BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no cases in {}", dir.display());
    let mut failures = String::new();
    for input in &inputs {
        let name = input
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        let text = std::fs::read_to_string(input).expect("readable case");
        let actual = run(name, &text);
        let expected_path = input.with_extension("out");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write expectation");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                let _ = writeln!(
                    failures,
                    "--- {area}/{name}: output differs\n{}",
                    diff(&expected, &actual)
                );
            }
            Err(_) => {
                let _ = writeln!(
                    failures,
                    "--- {area}/{name}: no .out file; actual output:\n{actual}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{failures}\n(run with SHOAL_BLESS=1 to accept the new output)"
    );
}

/// A small line diff: lines only in `expected` start with `-`, only in `actual` with `+`.
fn diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    // Longest common subsequence table; cases are small.
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+{}", actual[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "-{}", expected[i]);
            i += 1;
        }
    }
    out
}

/// Renders a JSON value as YAML for expectations (stable and easy to review).
pub(crate) fn yaml(value: &serde_json::Value) -> String {
    serde_saphyr::to_string(value).expect("JSON values serialize as YAML")
}
