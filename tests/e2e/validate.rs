//! `shoal validate` on real files: good apps pass and print what would be stored, bad ones
//! fail with every problem located by file, document, line, column and field path.

use shoal_tests::{fixture, shoal, workspace_root};

#[test]
fn a_good_app_validates_and_prints_defaults() {
    let file = fixture("app.yaml");
    let run = shoal(
        workspace_root(),
        &["validate", "-f", file.to_str().unwrap(), "-o", "yaml"],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert!(run.stderr.contains("3 object(s) valid"), "{}", run.stderr);
    // Defaults appear in the output as the API server would store them.
    assert!(
        run.stdout.contains("restartPolicy: Always"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("sessionAffinity: None"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stdout.matches("\nkind: ").count() + usize::from(run.stdout.starts_with("kind: ")),
        3
    );
}

#[test]
fn a_bad_app_reports_every_problem_with_its_place() {
    let file = fixture("broken-app.yaml");
    let run = shoal(
        workspace_root(),
        &["validate", "-f", file.to_str().unwrap()],
    );
    assert_eq!(
        run.code,
        Some(1),
        "stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    let name = file.display().to_string();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines.contains(&format!(
            "error: {name}: document 2, line 21, column 26: spec.template.spec.containers[0].ports[0].containerPort: invalid type: string \"http\", expected i32"
        ).as_str()),
        "{}",
        run.stderr
    );
    assert!(
        lines.contains(
            &format!(
                "error: {name}: document 3, line 29, column 3: unknown field \"spec.selectr\""
            )
            .as_str()
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&format!("error: {name}: document 4, line 36, column 9: ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""))),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with("3 problem(s) in 1 file(s)\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_fields_can_be_warned_or_ignored() {
    let file = fixture("broken-app.yaml");
    let path = file.to_str().unwrap();
    let warn = shoal(
        workspace_root(),
        &["validate", "-f", path, "--field-validation", "warn"],
    );
    assert!(warn.stderr.contains("warning: "), "{}", warn.stderr);
    assert!(
        warn.stderr.contains("unknown field \"spec.selectr\""),
        "{}",
        warn.stderr
    );
    assert!(
        warn.stderr.ends_with("2 problem(s) in 1 file(s)\n"),
        "{}",
        warn.stderr
    );
    let ignore = shoal(
        workspace_root(),
        &["validate", "-f", path, "--field-validation", "ignore"],
    );
    assert!(!ignore.stderr.contains("spec.selectr"), "{}", ignore.stderr);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let run = shoal(workspace_root(), &["validate", "-f", "no/such/file.yaml"]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr.contains("reading no/such/file.yaml"),
        "{}",
        run.stderr
    );
}
