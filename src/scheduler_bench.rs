//! `shoal bench scheduler`: how many decisions per second the scheduler's pure function makes
//! on a cluster-sized snapshot. A view of `--nodes` varied nodes (sizes, zones, disks, taints,
//! a few cordoned or not ready) takes `--pods` pods of many ReplicaSets one after another,
//! each bound into the view before the next is decided, as the driver does in a pass.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::{Value, json};
use shoal_control::scheduler::{ClusterView, Placement, schedule};
use shoal_manifests::k8s_openapi::api::core::v1::{Node, Pod};

use crate::bench::{ms, percentile};

/// Arguments of `shoal bench scheduler`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Nodes in the view.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Pods scheduled, one after another, into the same view.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Pods per ReplicaSet (the spreading score's unit).
    #[arg(long, default_value_t = 20)]
    replicas: usize,
    /// Repetitions; the best (least disturbed) run is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// One round's outcome.
struct Round {
    build: Duration,
    total: Duration,
    latencies: Vec<Duration>,
    bound: usize,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let nodes = (0..args.nodes)
        .map(|i| serde_json::from_value::<Node>(node(i)))
        .collect::<Result<Vec<_>, _>>()
        .context("generated nodes decode")?;
    let pods = (0..args.pods)
        .map(|j| serde_json::from_value::<Pod>(pod(j, args.replicas.max(1))))
        .collect::<Result<Vec<_>, _>>()
        .context("generated pods decode")?;
    let rounds = args.rounds.max(1);
    writeln!(
        out,
        "scheduler: {} nodes, {} pods of {} ReplicaSets, best of {rounds} rounds{}",
        nodes.len(),
        pods.len(),
        pods.len().div_ceil(args.replicas.max(1)),
        if cfg!(debug_assertions) {
            " (debug build: not figures)"
        } else {
            ""
        }
    )?;
    let mut best: Option<Round> = None;
    for _ in 0..rounds {
        let round = round(&nodes, &pods);
        if let Some(previous) = &best {
            ensure!(
                previous.bound == round.bound,
                "rounds disagree: {} and {} pods bound",
                previous.bound,
                round.bound
            );
        }
        if best.as_ref().is_none_or(|b| round.total < b.total) {
            best = Some(round);
        }
    }
    let mut best = best.context("at least one round")?;
    best.latencies.sort();
    let decisions = best.latencies.len();
    writeln!(
        out,
        "  view         {:>10.1} ms to build from {} Nodes",
        ms(best.build),
        nodes.len()
    )?;
    writeln!(
        out,
        "  decisions    {:>10.0} /s  ({:.0} ms for {decisions} pods: {} bound, {} unschedulable)",
        decisions as f64 / best.total.as_secs_f64().max(1e-9),
        ms(best.total),
        best.bound,
        decisions - best.bound
    )?;
    writeln!(
        out,
        "  per decision p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(percentile(&best.latencies, 0.50)),
        ms(percentile(&best.latencies, 0.99)),
        ms(best.latencies.last().copied().unwrap_or_default())
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Builds the view and schedules every pod into it, binding each placed one.
fn round(nodes: &[Node], pods: &[Pod]) -> Round {
    let started = Instant::now();
    let mut view = ClusterView::from_objects(nodes, &[]);
    let build = started.elapsed();
    let mut latencies = Vec::with_capacity(pods.len());
    let mut bound = 0;
    let started = Instant::now();
    for pod in pods {
        let decided = Instant::now();
        if let Placement::Bind(node) = schedule(&view, pod) {
            view.bind(pod, &node);
            bound += 1;
        }
        latencies.push(decided.elapsed());
    }
    Round {
        build,
        total: started.elapsed(),
        latencies,
        bound,
    }
}

/// Node `i`: 4 to 32 cores, 8 to 64 GiB, three zones, SSD or HDD; every tenth tainted for
/// GPUs, a few preferring no pods, cordoned or not ready.
fn node(i: usize) -> Value {
    let cores = [4, 8, 16, 32][i % 4];
    let gib = [8, 16, 32, 64][(i / 4) % 4];
    let name = format!("node-{i:04}");
    let mut taints = Vec::new();
    if i.is_multiple_of(10) {
        taints.push(json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}));
    }
    if i % 50 == 7 {
        taints.push(json!({"key": "spot", "effect": "PreferNoSchedule"}));
    }
    let ready = if i % 100 == 99 { "False" } else { "True" };
    json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
            "disk": if i.is_multiple_of(2) { "ssd" } else { "hdd" },
        }},
        "spec": {"taints": taints, "unschedulable": i % 200 == 3},
        "status": {
            "allocatable": {"cpu": cores.to_string(), "memory": format!("{gib}Gi"), "pods": "110"},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    })
}

/// Pod `j` of ReplicaSet `j / replicas`: varied requests (every tenth none), some selecting
/// SSD nodes or two zones, some tolerating the GPU taint, and now and then one that selects a
/// disk no node has (the unschedulable path, with its message).
fn pod(j: usize, replicas: usize) -> Value {
    let owner = format!("rs-{}", j / replicas);
    let resources = if j % 10 == 9 {
        json!({})
    } else {
        let cpu = ["100m", "250m", "500m", "1"][j % 4];
        let memory = ["128Mi", "256Mi", "512Mi", "1Gi"][(j / 4) % 4];
        json!({"requests": {"cpu": cpu, "memory": memory}})
    };
    let mut spec = json!({
        "containers": [{"name": "app", "image": "registry.example/app:1", "resources": resources}],
    });
    if j.is_multiple_of(97) {
        spec["nodeSelector"] = json!({"disk": "nvme"});
    } else if j.is_multiple_of(7) {
        spec["nodeSelector"] = json!({"disk": "ssd"});
    }
    if j.is_multiple_of(13) {
        spec["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
    }
    if j.is_multiple_of(31) {
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{
                "key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-1", "zone-2"],
            }]}],
        }}});
    }
    json!({
        "metadata": {
            "name": format!("pod-{j:05}"),
            "namespace": "default",
            "uid": format!("uid-{j}"),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                 "uid": owner, "controller": true}],
        },
        "spec": spec,
    })
}
