//! `shoal bench`: benchmarks that print their figures, so a run can be compared with the last
//! one recorded in BENCHMARKS.md. Numbers are never asserted in tests.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use shoal_manifests::decode::{FieldValidation, decode_file};
use shoal_manifests::patch::{PatchType, apply_patch};
use shoal_manifests::{default, registry, validate};

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Bench {
    /// Decode, default and validate a multi-document file, and apply strategic merge patches.
    Manifests {
        /// Objects in the generated multi-document file.
        #[arg(long, default_value_t = 1000)]
        objects: usize,
        /// Strategic merge patches to apply.
        #[arg(long, default_value_t = 10_000)]
        patches: usize,
        /// Repetitions; the best (least disturbed) run is reported.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Compile and cache times, container start latency, fuel-metering overhead and CPU
    /// throttling accuracy of the pod sandbox (run from the repository root).
    Sandbox(crate::sandbox_bench::Args),
    /// The Raft store against etcd: throughput and latency on 1 and 3 nodes with 1 and 64
    /// clients, and leader failover (needs Debian's `etcd-server` unless `--no-etcd`).
    Store(crate::store_bench::Args),
    /// Scheduling decisions per second of the pure function: 1,000 nodes, 10,000 pods.
    Scheduler(crate::scheduler_bench::Args),
    /// The Kubernetes API over HTTPS: creates per second with 64 clients, and watch fan-out
    /// from a write's acknowledgement to 1,000 watchers, on 1 and 3 nodes.
    Api(crate::api_bench::Args),
    /// A working cluster in this process: pod start latency, scheduling through the API onto
    /// simulated nodes, NodePort against direct HTTP, and a lost node's pods moving (run from
    /// the repository root).
    Cluster(crate::cluster_bench::Args),
}

pub(crate) fn run(bench: &Bench) -> anyhow::Result<ExitCode> {
    match bench {
        Bench::Manifests {
            objects,
            patches,
            rounds,
        } => manifests(*objects, *patches, (*rounds).max(1)),
        Bench::Sandbox(args) => crate::sandbox_bench::run(args),
        Bench::Store(args) => crate::store_bench::run(args),
        Bench::Scheduler(args) => crate::scheduler_bench::run(args),
        Bench::Api(args) => crate::api_bench::run(args),
        Bench::Cluster(args) => crate::cluster_bench::run(args),
    }
}

fn manifests(objects: usize, patches: usize, rounds: usize) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let text = generate_file(objects);
    writeln!(
        out,
        "manifests: {objects} objects, {} KiB of YAML, best of {rounds} rounds",
        text.len() / 1024
    )?;

    let (mut decode, mut defaults, mut checks) = (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        let start = Instant::now();
        let decoded = decode_file("bench.yaml", &text, FieldValidation::Strict);
        let decoded_at = Instant::now();
        ensure!(
            decoded.errors.is_empty(),
            "generated file does not decode: {}",
            decoded.errors[0]
        );
        ensure!(
            decoded.manifests.len() == objects,
            "decoded {} objects",
            decoded.manifests.len()
        );
        let mut typed: Vec<_> = decoded.manifests.into_iter().map(|m| m.object).collect();
        for object in &mut typed {
            default::apply_defaults(object);
        }
        let defaulted_at = Instant::now();
        let mut problems = 0;
        for object in &typed {
            problems += validate::validate(object).len();
        }
        let validated_at = Instant::now();
        ensure!(
            problems == 0,
            "generated objects have {problems} validation errors"
        );
        decode = decode.min(decoded_at - start);
        defaults = defaults.min(defaulted_at - decoded_at);
        checks = checks.min(validated_at - defaulted_at);
    }
    let mut lenient = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        let decoded = decode_file("bench.yaml", &text, FieldValidation::Ignore);
        lenient = lenient.min(start.elapsed());
        ensure!(
            decoded.manifests.len() == objects,
            "decoded {} objects",
            decoded.manifests.len()
        );
    }
    let total = decode + defaults + checks;
    writeln!(
        out,
        "  decode           {:>10.0} objects/s  ({:.1} ms)",
        rate(objects, decode),
        ms(decode)
    )?;
    writeln!(
        out,
        "  decode, Ignore   {:>10.0} objects/s  ({:.1} ms; no unknown-field check)",
        rate(objects, lenient),
        ms(lenient)
    )?;
    writeln!(
        out,
        "  default          {:>10.0} objects/s  ({:.1} ms)",
        rate(objects, defaults),
        ms(defaults)
    )?;
    writeln!(
        out,
        "  validate         {:>10.0} objects/s  ({:.1} ms)",
        rate(objects, checks),
        ms(checks)
    )?;
    writeln!(
        out,
        "  all three        {:>10.0} objects/s  ({:.1} ms)",
        rate(objects, total),
        ms(total)
    )?;

    let deployment = registry::resolve("deployments").context("deployments are registered")?;
    let original = deployment_value(0);
    let bodies: Vec<Vec<u8>> = (0..patches)
        .map(|i| patch_body(i).to_string().into_bytes())
        .collect();
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for body in &bodies {
            let patched = apply_patch(&original, PatchType::Strategic, body, deployment.schema)?;
            std::hint::black_box(patched);
        }
        best = best.min(start.elapsed());
    }
    writeln!(
        out,
        "  strategic merge  {:>10.0} patches/s  ({patches} kubectl-style patches on a Deployment in {:.1} ms)",
        rate(patches, best),
        ms(best)
    )?;
    Ok(ExitCode::SUCCESS)
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

pub(crate) fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// The `q` quantile (0..=1) of sorted samples; zero when there are none.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted
        .get(index.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// A realistic file: apps of a ConfigMap, a Deployment and a Service, with a Job or a Pod
/// now and then, until `objects` objects.
fn generate_file(objects: usize) -> String {
    let mut text = String::new();
    let mut i = 0;
    while i < objects {
        let kind = i % 10;
        let app = i / 3;
        let document = match kind {
            0 | 3 | 6 => configmap(app),
            1 | 4 | 7 => deployment_yaml(app),
            2 | 5 | 8 => service(app),
            _ if i % 20 == 9 => job(app),
            _ => pod(app),
        };
        let _ = writeln!(text, "---\n{document}");
        i += 1;
    }
    text
}

fn configmap(app: usize) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{app}-config
  namespace: team-{team}
  labels: {{app: app-{app}, tier: backend}}
data:
  GREETING: hello from {app}
  LOG_LEVEL: info
  config.toml: |
    [server]
    port = 8080
    workers = 4
",
        team = app % 7
    )
}

fn deployment_yaml(app: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{app}
  namespace: team-{team}
  labels: {{app: app-{app}, tier: backend}}
  annotations:
    description: the app-{app} service
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app-{app}}}
  template:
    metadata:
      labels: {{app: app-{app}, tier: backend}}
    spec:
      containers:
      - name: app
        image: registry.example/team-{team}/app-{app}:1.{app}
        args: [\"--port\", \"8080\"]
        ports:
        - {{name: http, containerPort: 8080}}
        env:
        - {{name: GREETING, valueFrom: {{configMapKeyRef: {{name: app-{app}-config, key: GREETING}}}}}}
        - {{name: MODE, value: production}}
        resources:
          requests: {{cpu: 100m, memory: 32Mi}}
          limits: {{cpu: 500m, memory: 64Mi}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
          periodSeconds: 5
        volumeMounts:
        - {{name: config, mountPath: /etc/app}}
      volumes:
      - name: config
        configMap: {{name: app-{app}-config}}
",
        team = app % 7,
        replicas = 1 + app % 3
    )
}

fn service(app: usize) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: app-{app}
  namespace: team-{team}
  labels: {{app: app-{app}}}
spec:
  selector: {{app: app-{app}}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
",
        team = app % 7
    )
}

fn job(app: usize) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: migrate-{app}
  namespace: team-{team}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: file:///srv/wasm/migrate.wasm
        args: [\"--to\", \"v{app}\"]
",
        team = app % 7
    )
}

fn pod(app: usize) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: debug-{app}
  namespace: team-{team}
spec:
  containers:
  - name: shell
    image: https://wasm.example/tools/shell.wasm@sha256:{digest}
    command: [shell, --interactive]
",
        team = app % 7,
        digest = "ab".repeat(32)
    )
}

fn deployment_value(app: usize) -> Value {
    let decoded = decode_file(
        "deployment.yaml",
        &deployment_yaml(app),
        FieldValidation::Strict,
    );
    decoded
        .manifests
        .first()
        .map_or(Value::Null, |m| m.object.to_value())
}

/// The patches kubectl sends: client-side apply of a new image, `set image`, `rollout
/// restart`, a changed env var and replica count.
fn patch_body(i: usize) -> Value {
    match i % 4 {
        0 => json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "app", "image": format!("registry.example/app:{i}")}]
            }}}
        }),
        1 => json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": format!("registry.example/app:{i}")}
        ]}}}}),
        2 => json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": format!("2026-11-22T10:00:{:02}Z", i % 60)
        }}}}}),
        _ => json!({"spec": {"replicas": i % 5, "template": {"spec": {"containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "GREETING"}, {"name": "MODE"}],
            "env": [{"name": "MODE", "value": format!("canary-{i}")}]
        }]}}}}),
    }
}
