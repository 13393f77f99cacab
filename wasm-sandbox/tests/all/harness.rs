//! Shared helpers: a runtime per test, guest bytes, and one-container sandboxes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use shoal_wasm_sandbox::net::{DenyEgress, Router};
use shoal_wasm_sandbox::{
    Artifact, ContainerSpec, Mount, PodSandbox, Runtime, RuntimeConfig, SandboxSpec, VolumeSource,
    VolumeSpec,
};

/// The IP every test pod has unless it says otherwise.
pub(crate) const POD_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 244, 0, 7));

/// A runtime with a short calibration, caching into `cache` if given.
pub(crate) fn runtime(cache: Option<&std::path::Path>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.map(std::path::Path::to_path_buf),
        calibration_time: Duration::from_millis(100),
        ..RuntimeConfig::default()
    })
    .expect("runtime starts")
}

/// The bytes of a committed guest, e.g. `hello.wasm`.
pub(crate) fn guest(file: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("guests")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest {} missing ({e}); rebuild with guests/build.sh",
            path.display()
        )
    })
}

/// Loads a committed guest.
pub(crate) fn load(runtime: &Runtime, file: &str) -> Arc<Artifact> {
    runtime.load(file, &guest(file)).expect("guest loads")
}

/// A container of `artifact` with `args` (argv[1..]) and `env`.
pub(crate) fn container(
    name: &str,
    artifact: Arc<Artifact>,
    args: &[&str],
    env: &[(&str, &str)],
) -> ContainerSpec {
    let mut argv = vec![name.to_owned()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    ContainerSpec {
        name: name.to_owned(),
        artifact,
        args: argv,
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

/// A sandbox in `dir` with an `emptyDir` volume `data` mounted at `/data` in every container,
/// its egress denied.
pub(crate) fn sandbox(
    runtime: &Runtime,
    dir: &std::path::Path,
    containers: Vec<ContainerSpec>,
) -> PodSandbox {
    pod(
        runtime,
        dir,
        "test-pod",
        POD_IP,
        containers,
        Arc::new(DenyEgress),
    )
}

/// A sandbox named `name` with `ip`, whose outgoing requests go to `router`.
pub(crate) fn pod(
    runtime: &Runtime,
    dir: &std::path::Path,
    name: &str,
    ip: IpAddr,
    mut containers: Vec<ContainerSpec>,
    router: Arc<dyn Router>,
) -> PodSandbox {
    for c in &mut containers {
        c.mounts.push(Mount {
            volume: "data".to_owned(),
            path: "/data".to_owned(),
            read_only: false,
        });
    }
    PodSandbox::new(
        runtime,
        SandboxSpec {
            pod: name.to_owned(),
            pod_ip: ip,
            dir: dir.to_owned(),
            volumes: vec![VolumeSpec {
                name: "data".to_owned(),
                source: VolumeSource::EmptyDir,
            }],
            containers,
        },
        router,
    )
    .expect("sandbox prepares")
}

/// The text of a container's current logs, one line per entry.
pub(crate) fn log_text(sandbox: &PodSandbox, container: &str) -> String {
    let logs = sandbox.logs(container).expect("container exists");
    logs.lines(None, None)
        .iter()
        .map(|l| format!("{}\n", l.text))
        .collect()
}
