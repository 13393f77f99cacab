//! `shoal bench sandbox`: the pod sandbox's figures: compile time cold and from the cache,
//! container start-to-exit latency, the cost of fuel metering, and how exactly a CPU limit
//! is held (against the fuel calibration and against the process's own CPU time).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::ms;
use anyhow::{Context as _, ensure};
use shoal_wasm_sandbox::{
    Artifact, ContainerSpec, Exit, PodSandbox, Runtime, RuntimeConfig, SandboxSpec,
};

/// Arguments of `shoal bench sandbox`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder of built test guests.
    #[arg(long, default_value = "wasm-sandbox/guests")]
    guests: PathBuf,
    /// Container starts measured for the latency percentiles.
    #[arg(long, default_value_t = 300)]
    starts: usize,
    /// How long the throttled spinner runs.
    #[arg(long, default_value_t = 10)]
    throttle_seconds: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(bench(args))
}

async fn bench(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let work = tempfile_dir()?;
    let metered = Runtime::new(RuntimeConfig::default())?;
    writeln!(
        out,
        "sandbox: fuel per core-second (calibrated) {}",
        metered.fuel_per_core_second()
    )?;

    writeln!(out, "  compile (cold) and load from the cache, per guest:")?;
    let cache = work.join("cache");
    for file in [
        "hello.wasm",
        "spinner.wasm",
        "memory-bomb.wasm",
        "hello.core.wasm",
    ] {
        let bytes = std::fs::read(args.guests.join(file))
            .with_context(|| format!("reading guest {file}"))?;
        let cold = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.clone()),
            fuel_per_core_second: Some(1),
            ..RuntimeConfig::default()
        })?;
        let start = Instant::now();
        let first = cold.load(file, &bytes)?;
        let compile = start.elapsed();
        let warm = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache.clone()),
            fuel_per_core_second: Some(1),
            ..RuntimeConfig::default()
        })?;
        let start = Instant::now();
        let second = warm.load(file, &bytes)?;
        let load = start.elapsed();
        ensure!(
            !first.from_cache() && second.from_cache(),
            "{file}: the cache was not used"
        );
        writeln!(
            out,
            "    {file:<22} {:>6} KiB  compile {:>8.1} ms  cached load {:>6.2} ms",
            bytes.len() / 1024,
            ms(compile),
            ms(load)
        )?;
    }

    let hello = load(&metered, &args.guests, "hello.wasm")?;
    let pod = sandbox(
        &metered,
        &work.join("start"),
        vec![container("app", hello, &[])],
    )?;
    let mut samples = Vec::with_capacity(args.starts);
    for _ in 0..args.starts {
        let start = Instant::now();
        let (exit, _) = pod.start("app")?.wait().await;
        samples.push(start.elapsed());
        ensure!(exit == Exit::Completed, "hello ended {exit:?}");
    }
    samples.sort();
    writeln!(
        out,
        "  start → exit of a cached, pre-instantiated command (hello), {} runs: p50 {:.0} µs, p99 {:.0} µs",
        args.starts,
        micros(percentile(&samples, 0.50)),
        micros(percentile(&samples, 0.99))
    )?;

    let unmetered = Runtime::new(RuntimeConfig {
        metering: false,
        ..RuntimeConfig::default()
    })?;
    for file in ["spinner.wasm", "spinner.core.wasm"] {
        let with = spin_time(&metered, &args.guests, file, &work.join("metered")).await?;
        let without = spin_time(&unmetered, &args.guests, file, &work.join("unmetered")).await?;
        writeln!(
            out,
            "  fuel metering on a CPU-bound guest ({file}, 300M iterations): {:.0} ms metered, {:.0} ms unmetered, {:.2}×",
            ms(with),
            ms(without),
            with.as_secs_f64() / without.as_secs_f64()
        )?;
    }

    let spinner = load(&metered, &args.guests, "spinner.wasm")?;
    let mut spec = container("spin", spinner, &[]);
    spec.cpu_millis = Some(250);
    let pod = sandbox(&metered, &work.join("throttle"), vec![spec])?;
    let cpu_before = process_cpu_seconds();
    let start = Instant::now();
    let handle = pod.start("spin")?;
    tokio::time::sleep(Duration::from_secs(args.throttle_seconds)).await;
    let (_, usage) = handle.stop(Duration::ZERO).await;
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let by_fuel = usage.fuel as f64 / metered.fuel_per_core_second() as f64 / wall;
    write!(
        out,
        "  throttling: a 250m spinner over {wall:.1} s used {:.1}% of a core by fuel",
        by_fuel * 100.0
    )?;
    match cpu {
        Some(cpu) => writeln!(out, ", {:.1}% by process CPU time", cpu / wall * 100.0)?,
        None => writeln!(out)?,
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

async fn spin_time(
    runtime: &Runtime,
    guests: &Path,
    file: &str,
    dir: &Path,
) -> anyhow::Result<Duration> {
    let spinner = load(runtime, guests, file)?;
    let pod = sandbox(
        runtime,
        dir,
        vec![container("spin", spinner, &[("ITERATIONS", "300000000")])],
    )?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let (exit, _) = pod.start("spin")?.wait().await;
        ensure!(exit == Exit::Completed, "{file} ended {exit:?}");
        best = best.min(start.elapsed());
    }
    Ok(best)
}

fn load(runtime: &Runtime, guests: &Path, file: &str) -> anyhow::Result<Arc<Artifact>> {
    let bytes =
        std::fs::read(guests.join(file)).with_context(|| format!("reading guest {file}"))?;
    Ok(runtime.load(file, &bytes)?)
}

fn container(name: &str, artifact: Arc<Artifact>, env: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        name: name.to_owned(),
        artifact,
        args: vec![name.to_owned()],
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        mounts: Vec::new(),
        memory_limit: None,
        cpu_millis: None,
        ports: Vec::new(),
    }
}

fn sandbox(
    runtime: &Runtime,
    dir: &Path,
    containers: Vec<ContainerSpec>,
) -> anyhow::Result<PodSandbox> {
    Ok(PodSandbox::new(
        runtime,
        SandboxSpec {
            pod: "bench".to_owned(),
            pod_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1)),
            dir: dir.to_owned(),
            volumes: Vec::new(),
            containers,
        },
    )?)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("shoal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in clock ticks of 1/100 s on every Linux this runs on.
    Some(ticks / 100.0)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
