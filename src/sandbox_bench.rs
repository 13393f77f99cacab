//! `shoal bench sandbox`: the pod sandbox's figures: address space reserved at startup,
//! compile time cold and from the cache, container start latency, HTTP requests per second
//! through the sandbox's dispatch, memory per idle HTTP pod, the cost of fuel metering, and
//! how exactly a CPU limit is held (against the fuel calibration and the process's CPU time).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::{ms, percentile};
use anyhow::{Context as _, ensure};
use http_body_util::BodyExt as _;
use shoal_wasm_sandbox::net::{DenyEgress, empty_body};
use shoal_wasm_sandbox::{
    Artifact, ContainerSpec, Exit, InstancePool, PodSandbox, Runtime, RuntimeConfig, SandboxSpec,
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
    /// Concurrent clients of the HTTP benchmark.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long the HTTP benchmark runs.
    #[arg(long, default_value_t = 5)]
    http_seconds: u64,
    /// Idle HTTP pods loaded for the memory-per-pod figure.
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Run only these parts (comma-separated): compile, start, http, idle, metering, throttle.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

impl Args {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::block_on(Some(2), bench(args))?
}

async fn bench(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let work = tempfile_dir()?;
    let before = proc_status_kib("VmSize");
    let metered = Runtime::new(RuntimeConfig::default())?;
    let after = proc_status_kib("VmSize");
    writeln!(
        out,
        "sandbox: fuel per core-second (calibrated) {}",
        metered.fuel_per_core_second()
    )?;
    if let Some((before, after)) = before.zip(after) {
        writeln!(
            out,
            "  virtual memory reserved by starting the runtime: {:.1} MiB (process {:.1} → {:.1} MiB; glibc's per-thread 64 MiB malloc arenas count here unless MALLOC_ARENA_MAX=1); each live linear memory reserves 64 MiB + 64 KiB guard",
            (after.saturating_sub(before)) as f64 / 1024.0,
            before as f64 / 1024.0,
            after as f64 / 1024.0
        )?;
    }

    let cache = work.join("cache");
    if args.wants("compile") {
        writeln!(out, "  compile (cold) and load from the cache, per guest:")?;
    }
    for file in [
        "hello.wasm",
        "spinner.wasm",
        "memory-bomb.wasm",
        "hello.core.wasm",
    ]
    .into_iter()
    .filter(|_| args.wants("compile"))
    {
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

    for file in ["noop.wasm", "hello.wasm"]
        .into_iter()
        .filter(|_| args.wants("start"))
    {
        let artifact = load(&metered, &args.guests, file)?;
        let pod = sandbox(
            &metered,
            &work.join("start"),
            vec![container("app", artifact, &[])],
        )?;
        let mut samples = Vec::with_capacity(args.starts);
        for _ in 0..args.starts {
            let start = Instant::now();
            let (exit, _) = pod.start("app")?.wait().await;
            samples.push(start.elapsed());
            ensure!(exit == Exit::Completed, "{file} ended {exit:?}");
        }
        samples.sort();
        writeln!(
            out,
            "  start → exit of a cached, pre-instantiated command ({file}), {} runs: p50 {:.0} µs, p99 {:.0} µs",
            args.starts,
            micros(percentile(&samples, 0.50)),
            micros(percentile(&samples, 0.99))
        )?;
    }

    if args.wants("http") {
        let pool = InstancePool {
            instances: 256,
            max_memory_bytes: 64 << 20,
        };
        let pooled = Runtime::new(RuntimeConfig {
            instance_pool: Some(pool),
            fuel_per_core_second: Some(metered.fuel_per_core_second()),
            ..RuntimeConfig::default()
        })?;
        let pooled_name = format!(
            "pool of {} instances × {} MiB memories, {:.1} GiB reserved",
            pool.instances,
            pool.max_memory_bytes >> 20,
            pool.reserved_bytes() as f64 / f64::from(1 << 30)
        );
        for (runtime, allocator) in [
            (&metered, "memory mapped per instance"),
            (&pooled, pooled_name.as_str()),
        ] {
            let (requests, elapsed) = http_throughput(runtime, args, &work.join("http")).await?;
            writeln!(
                out,
                "  HTTP hello through the sandbox's dispatch, fresh instance per request ({allocator}), {} clients, {:.1} s: {requests} requests, {:.0} req/s",
                args.clients,
                elapsed.as_secs_f64(),
                requests as f64 / elapsed.as_secs_f64()
            )?;
        }
    }
    if !args.wants("idle") {
    } else if let Some(per_pod) = idle_pod_memory(&metered, args, &work.join("idle")).await? {
        writeln!(
            out,
            "  host memory per idle HTTP pod, {} pods loaded and serving (each answered once): {:.1} KB",
            args.pods,
            per_pod / 1000.0
        )?;
    }

    if args.wants("metering") {
        metering(&metered, args, &work, &mut out).await?;
    }
    if args.wants("throttle") {
        throttling(&metered, args, &work.join("throttle"), &mut out).await?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(ExitCode::SUCCESS)
}

/// The same CPU-bound guest with and without fuel metering, and its fuel rate at full speed
/// against the calibration.
async fn metering(
    metered: &Runtime,
    args: &Args,
    work: &Path,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let unmetered = Runtime::new(RuntimeConfig {
        metering: false,
        ..RuntimeConfig::default()
    })?;
    for file in ["spinner.wasm", "spinner.core.wasm"] {
        let (with, fuel) = spin_time(metered, &args.guests, file, &work.join("metered")).await?;
        let (without, _) =
            spin_time(&unmetered, &args.guests, file, &work.join("unmetered")).await?;
        writeln!(
            out,
            "  fuel metering on a CPU-bound guest ({file}, 300M iterations): {:.0} ms metered, {:.0} ms unmetered, {:.2}×; it burns {:.2}× the calibrated fuel rate",
            ms(with),
            ms(without),
            with.as_secs_f64() / without.as_secs_f64(),
            fuel as f64 / with.as_secs_f64() / metered.fuel_per_core_second() as f64
        )?;
    }

    Ok(())
}

/// A 250m spinner for `throttle_seconds`: its share of a core by fuel and by process CPU.
async fn throttling(
    metered: &Runtime,
    args: &Args,
    dir: &Path,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let spinner = load(metered, &args.guests, "spinner.wasm")?;
    let mut spec = container("spin", spinner, &[]);
    spec.cpu_millis = Some(250);
    let pod = sandbox(metered, dir, vec![spec])?;
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
    Ok(())
}

async fn spin_time(
    runtime: &Runtime,
    guests: &Path,
    file: &str,
    dir: &Path,
) -> anyhow::Result<(Duration, u64)> {
    let spinner = load(runtime, guests, file)?;
    let pod = sandbox(
        runtime,
        dir,
        vec![container("spin", spinner, &[("ITERATIONS", "300000000")])],
    )?;
    let mut best = (Duration::MAX, 0);
    for _ in 0..3 {
        let start = Instant::now();
        let (exit, usage) = pod.start("spin")?.wait().await;
        ensure!(exit == Exit::Completed, "{file} ended {exit:?}");
        if start.elapsed() < best.0 {
            best = (start.elapsed(), usage.fuel);
        }
    }
    Ok(best)
}

/// `clients` tasks send GET requests to an http-hello pod for `http_seconds`; returns the
/// requests answered and the time taken.
async fn http_throughput(
    runtime: &Runtime,
    args: &Args,
    dir: &Path,
) -> anyhow::Result<(u64, Duration)> {
    let hello = load(runtime, &args.guests, "http-hello.wasm")?;
    let mut spec = container(
        "web",
        hello,
        &[("POD_NAME", "bench"), ("CONTAINER_NAME", "web")],
    );
    spec.ports = vec![8080];
    let pod = sandbox(runtime, dir, vec![spec])?;
    let _serving = pod.start("web")?;
    let deadline = Instant::now() + Duration::from_secs(args.http_seconds);
    let start = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            let pod = pod.clone();
            tokio::spawn(async move {
                let mut answered = 0u64;
                while Instant::now() < deadline {
                    get(&pod, 8080).await?;
                    answered += 1;
                }
                anyhow::Ok(answered)
            })
        })
        .collect();
    let mut total = 0;
    for client in clients {
        total += client.await??;
    }
    Ok((total, start.elapsed()))
}

/// GET / on `port` of `pod`; fails unless it answers 200 with a body.
async fn get(pod: &PodSandbox, port: u16) -> anyhow::Result<()> {
    let request = http::Request::get(format!("http://10.244.0.1:{port}/"))
        .body(empty_body())
        .context("building a request")?;
    let response = pod.serve_http(port, request).await?;
    ensure!(response.status() == 200, "status {}", response.status());
    let body = response.into_body().collect().await?.to_bytes();
    ensure!(body.starts_with(b"hello from"), "body {body:?}");
    Ok(())
}

/// Resident memory added per idle HTTP pod: `pods` sandboxes of http-hello, each started
/// and asked once, compared with the resident set before.
async fn idle_pod_memory(
    runtime: &Runtime,
    args: &Args,
    dir: &Path,
) -> anyhow::Result<Option<f64>> {
    let hello = load(runtime, &args.guests, "http-hello.wasm")?;
    // One pod first, so that code paths and allocator arenas are warm before measuring.
    let mut pods = Vec::with_capacity(args.pods + 1);
    let mut handles = Vec::with_capacity(args.pods + 1);
    let mut add = |index: usize| -> anyhow::Result<PodSandbox> {
        let mut spec = container("web", Arc::clone(&hello), &[]);
        spec.ports = vec![8080];
        let pod = sandbox(runtime, &dir.join(index.to_string()), vec![spec])?;
        handles.push(pod.start("web")?);
        Ok(pod)
    };
    let warm = add(0)?;
    get(&warm, 8080).await?;
    pods.push(warm);
    let Some(before) = proc_status_kib("VmRSS") else {
        return Ok(None);
    };
    for index in 1..=args.pods {
        let pod = add(index)?;
        get(&pod, 8080).await?;
        pods.push(pod);
    }
    let Some(after) = proc_status_kib("VmRSS") else {
        return Ok(None);
    };
    let per_pod = after.saturating_sub(before) as f64 * 1024.0 / args.pods as f64;
    drop(handles);
    drop(pods);
    Ok(Some(per_pod))
}

pub(crate) fn load(runtime: &Runtime, guests: &Path, file: &str) -> anyhow::Result<Arc<Artifact>> {
    let bytes =
        std::fs::read(guests.join(file)).with_context(|| format!("reading guest {file}"))?;
    Ok(runtime.load(file, &bytes)?)
}

pub(crate) fn container(
    name: &str,
    artifact: Arc<Artifact>,
    env: &[(&str, &str)],
) -> ContainerSpec {
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

pub(crate) fn sandbox(
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
        Arc::new(DenyEgress),
    )?)
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("shoal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A `kB` field of `/proc/self/status` (Linux), e.g. `VmSize` or `VmRSS`.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time of this process, from `/proc/self/stat` (Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel reports in clock ticks of 1/100 s on every Linux this runs on.
    Some(ticks / 100.0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
