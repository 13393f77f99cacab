//! The node agent: registers its Node and keeps its Lease, runs the pods bound to it on
//! `shoal-wasm-sandbox` (images, restarts with crash-loop backoff, status, events,
//! termination), and talks to the control plane only over the Kubernetes HTTP API.
//!
//! Architecture invariant: nothing here links the control plane. Pods arrive by watch and
//! leave by watch; what the agent says about them goes back as status and events.

pub mod backoff;
pub mod client;
mod events;
pub mod images;
pub mod ipam;
mod mirror;
pub mod node;
mod pod;
mod pods;
mod proxy;
pub mod server;
pub mod status;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use shoal_wasm_sandbox::net::Router;
use shoal_wasm_sandbox::{PodSandbox, Runtime, RuntimeConfig};
use tokio_util::sync::CancellationToken;

pub use backoff::BackoffConfig;
pub use client::{ApiClient, Credentials};
pub use node::{Capacity, LeaseTiming, NodeInfo};

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The Node's name.
    pub node_name: String,
    /// Where the API is and the agent's credentials.
    pub credentials: Credentials,
    /// Images, compiled artifacts and pod directories live here.
    pub data_dir: PathBuf,
    /// The address the node is reached on.
    pub address: IpAddr,
    /// The port the agent serves on (reported in the Node's daemon endpoints).
    pub port: u16,
    /// The most pods the node runs.
    pub max_pods: u32,
    /// Extra node labels.
    pub labels: Vec<(String, String)>,
    /// Restart backoff.
    pub backoff: BackoffConfig,
    /// Lease renewal.
    pub lease: LeaseTiming,
    /// The sandbox runtime's settings (its compile cache defaults to `<data_dir>/compiled`).
    pub runtime: RuntimeConfig,
}

/// The running pods' sandboxes by `namespace/name`, for logs and the service proxy.
#[derive(Debug, Clone, Default)]
pub struct Sandboxes {
    inner: Arc<Mutex<HashMap<String, PodSandbox>>>,
}

impl Sandboxes {
    fn insert(&self, pod: &events::PodRef, sandbox: PodSandbox) {
        self.lock()
            .insert(format!("{}/{}", pod.namespace, pod.name), sandbox);
    }

    fn remove(&self, pod: &events::PodRef) {
        self.lock()
            .remove(&format!("{}/{}", pod.namespace, pod.name));
    }

    /// The sandbox of the pod with IP `ip`, if it runs here.
    pub fn by_ip(&self, ip: IpAddr) -> Option<PodSandbox> {
        self.lock()
            .values()
            .find(|sandbox| sandbox.spec().pod_ip == ip)
            .cloned()
    }

    /// The sandbox of pod `namespace/name`, if it runs here.
    pub fn get(&self, namespace: &str, name: &str) -> Option<PodSandbox> {
        self.lock().get(&format!("{namespace}/{name}")).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PodSandbox>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the agent until `cancel`: registers the node, waits for its pod range, then keeps
/// the Lease and the pods going. Pods are stopped (without deleting them) when it ends.
///
/// # Errors
/// The runtime or caches cannot be set up, or the node can never be registered.
pub async fn run(config: AgentConfig, cancel: CancellationToken) -> anyhow::Result<()> {
    let api = ApiClient::new(&config.credentials).context("building the API client")?;
    let mut runtime_config = config.runtime.clone();
    if runtime_config.cache_dir.is_none() {
        runtime_config.cache_dir = Some(config.data_dir.join("compiled"));
    }
    let runtime = tokio::task::spawn_blocking(move || Runtime::new(runtime_config))
        .await
        .context("starting the Wasm runtime")??;
    let images = images::ImageStore::new(&config.data_dir.join("images"), runtime.clone())
        .context("opening the image cache")?;
    let pods_dir = config.data_dir.join("pods");
    std::fs::create_dir_all(&pods_dir)
        .with_context(|| format!("creating {}", pods_dir.display()))?;

    let identity = server::ServingIdentity::load_or_create(
        &config.data_dir,
        config.address,
        &config.node_name,
    )
    .context("the agent's serving certificate")?;
    let listen = std::net::SocketAddr::new(config.address, config.port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let sandboxes = Sandboxes::default();
    let node_server = server::NodeServer {
        token: config.credentials.token.clone(),
        sandboxes: sandboxes.clone(),
    };
    let node = NodeInfo {
        name: config.node_name.clone(),
        address: config.address,
        port: listener.local_addr().map_or(config.port, |a| a.port()),
        capacity: Capacity::of_machine(config.max_pods),
        labels: config.labels.clone(),
        serving_cert: identity.fingerprint.clone(),
    };
    tokio::spawn(server::serve(
        listener,
        identity,
        node_server,
        cancel.clone(),
    ));
    let proxy = proxy::ServiceProxy::new(sandboxes.clone(), config.credentials.token.clone())
        .context("the service proxy")?;
    tokio::spawn(Arc::clone(&proxy).run(api.clone(), config.address, cancel.clone()));
    let mut attempt = 0u32;
    loop {
        match node::register(&api, &node).await {
            Ok(_) => break,
            Err(error) => {
                attempt += 1;
                if attempt == 1 || attempt.is_multiple_of(10) {
                    tracing::warn!(node = %node.name, %error, "registering the node; retrying");
                }
                tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                }
            }
        }
    }
    let heartbeat = tokio::spawn(node::heartbeat(
        api.clone(),
        node.clone(),
        config.lease,
        cancel.clone(),
    ));
    let Ok(cidr) = node::pod_cidr(&api, &node, &cancel).await else {
        return Ok(());
    };
    tracing::info!(node = %node.name, pod_cidr = %cidr, "node ready");
    let context = Arc::new(pod::Context {
        events: events::Events::new(api.clone(), &node.name),
        api,
        node: node.name.clone(),
        host_ip: config.address,
        runtime,
        images,
        pods_dir,
        backoff: config.backoff,
        ipam: ipam::Ipam::new(&cidr).context("the node's pod CIDR")?,
        router: Arc::new(proxy::ServiceRouter(proxy)) as Arc<dyn Router>,
        sandboxes,
    });
    pods::run(context, cancel.clone()).await;
    let _ = heartbeat.await;
    Ok(())
}
