//! `shoal server`: one control-plane node: the Raft store and its peer endpoints, the
//! Kubernetes API over TLS with bearer-token authentication, and the leader-only controllers,
//! served until SIGTERM or ctrl-c. At first start it creates the cluster CA and the admin
//! token in its PKI directory and writes an admin kubeconfig for kubectl.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use shoal_control::api::auth::{self, Authenticator};
use shoal_control::api::{ApiConfig, ApiServer, kubeconfig, tls};
use shoal_control::controllers::{ControllerConfig, NodeLifecycle};
use shoal_control::store::{
    ClusterMode, ClusterSecret, HistoryWindow, MachineConfig, NodeId, Store, StoreConfig,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Arguments of `shoal server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// This node's id (1 or more). It is recorded in the data directory; a node that lost its
    /// directory comes back under a new id.
    #[arg(long)]
    pub(crate) id: NodeId,
    /// Where the node keeps its Raft log and state.
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// The address to serve peers on; also the address peers are told to use.
    #[arg(long, default_value = "127.0.0.1:7480")]
    pub(crate) listen: SocketAddr,
    /// A member of the cluster to form, as `ID=HOST:PORT`; repeat for every member. Without
    /// any (and without `--join`), the node runs a cluster of its own.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub(crate) peers: Vec<(NodeId, String)>,
    /// Join an existing cluster: wait to be added by `shoal member add`, first as a learner and
    /// then as a voter. The id must be one the cluster has never used.
    #[arg(long, conflicts_with = "peers")]
    pub(crate) join: bool,
    /// A file whose first line is the secret control-plane peers share (required with peers or
    /// `--join`).
    #[arg(long)]
    pub(crate) cluster_secret_file: Option<PathBuf>,
    /// The address to serve the Kubernetes API on (HTTPS). Port 0 picks a free port; the
    /// kubeconfig names the one chosen.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub(crate) api_listen: SocketAddr,
    /// Where the cluster CA, its key and the admin token live (default: `<data-dir>/pki`).
    /// Every control-plane node of a cluster uses the same CA and admin token: copy this
    /// directory to a new node before its first start.
    #[arg(long)]
    pub(crate) pki_dir: Option<PathBuf>,
    /// More names or addresses the API's certificate is valid for (repeatable).
    #[arg(long = "tls-san")]
    pub(crate) tls_sans: Vec<String>,
    /// A static token file (`token,user,uid,"group1,group2"` per line) of further users.
    #[arg(long)]
    pub(crate) token_file: Option<PathBuf>,
    /// Where to write the admin kubeconfig (default: `<data-dir>/admin.kubeconfig`).
    #[arg(long)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// How many changes the watch history keeps; a watch from an older resourceVersion gets
    /// 410 Gone and lists again.
    #[arg(long, default_value_t = HistoryWindow::default().max_events)]
    pub(crate) watch_history_events: u64,
    /// How long the watch history keeps a change, in seconds.
    #[arg(long, default_value_t = HistoryWindow::default().max_age.as_secs())]
    pub(crate) watch_history_seconds: u64,
    /// How often an idle watch that asked for bookmarks gets one, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) watch_bookmark_seconds: u64,
    /// Seconds a node's Lease may go unrenewed before the node is marked unreachable.
    #[arg(long, default_value_t = 40)]
    pub(crate) node_grace_seconds: u64,
    /// Seconds pods stay on an unreachable node before they are evicted and replaced.
    #[arg(long, default_value_t = 300)]
    pub(crate) pod_eviction_seconds: u64,
}

impl Args {
    /// A node running a cluster of its own, everything under `data_dir` (`control/`, `pki/`),
    /// with the defaults of the command line.
    pub(crate) fn single_node(data_dir: &Path, api_listen: SocketAddr, listen: SocketAddr) -> Self {
        Self {
            id: 1,
            data_dir: data_dir.join("control"),
            listen,
            peers: Vec::new(),
            join: false,
            cluster_secret_file: None,
            api_listen,
            pki_dir: Some(data_dir.join("pki")),
            tls_sans: Vec::new(),
            token_file: None,
            kubeconfig: Some(data_dir.join("admin.kubeconfig")),
            watch_history_events: HistoryWindow::default().max_events,
            watch_history_seconds: HistoryWindow::default().max_age.as_secs(),
            watch_bookmark_seconds: 30,
            node_grace_seconds: 40,
            pod_eviction_seconds: 300,
        }
    }
}

fn parse_peer(text: &str) -> Result<(NodeId, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=HOST:PORT"))?;
    let id = id
        .parse::<NodeId>()
        .map_err(|_| format!("{id:?} is not a node id"))?;
    if addr.is_empty() {
        return Err(format!("{text:?} has no address"));
    }
    Ok((id, addr.to_owned()))
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::block_on(None, async {
        let running = start(args).await?;
        shutdown_signal().await?;
        running.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })?
}

/// A control-plane node that is serving: its store, peer endpoints, API and controllers.
pub(crate) struct Running {
    id: NodeId,
    store: Arc<Store>,
    api: Arc<ApiServer>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    stop_peers: oneshot::Sender<()>,
    peer_server: tokio::task::JoinHandle<()>,
    /// Where the API is served (`https://host:port`).
    pub(crate) api_url: String,
    /// The admin kubeconfig written.
    pub(crate) kubeconfig: PathBuf,
}

impl Running {
    /// Stops the API, the controllers and the store, in that order.
    pub(crate) async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!(node = self.id, "shutting down");
        self.cancel.cancel();
        self.api.shutdown().await;
        self.tasks.close();
        self.tasks.wait().await;
        drop(self.api);
        let store = Arc::try_unwrap(self.store)
            .map_err(|_| anyhow::anyhow!("the store is still in use at shutdown"))?;
        store.shutdown().await.context("stopping the store")?;
        // The server may have stopped already; either way it is told to.
        let _ = self.stop_peers.send(());
        self.peer_server.await.context("stopping the peer server")?;
        Ok(())
    }
}

/// Opens the store and starts serving peers, the API and the controllers.
pub(crate) async fn start(args: &Args) -> anyhow::Result<Running> {
    let secret = args
        .cluster_secret_file
        .as_deref()
        .map(ClusterSecret::from_file)
        .transpose()?;
    let advertise = args.listen.to_string();
    let mode = if args.join {
        ClusterMode::Join
    } else if args.peers.is_empty() {
        ClusterMode::Single
    } else {
        let mut members: BTreeMap<NodeId, String> = args.peers.iter().cloned().collect();
        members.insert(args.id, advertise.clone());
        ClusterMode::Form { members }
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let config = StoreConfig {
        node_id: args.id,
        advertise_addr: advertise,
        mode,
        secret,
        machine: MachineConfig {
            history: HistoryWindow {
                max_events: args.watch_history_events,
                max_age: std::time::Duration::from_secs(args.watch_history_seconds),
            },
            ..MachineConfig::default()
        },
        ..StoreConfig::default()
    };
    let store = Store::open(&args.data_dir, config)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let store = Arc::new(store);
    let (stop_peers, stopped) = oneshot::channel::<()>();
    let peer_server = tokio::spawn(shoal_control::store::serve(
        store.peer_routes(),
        listener,
        async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        },
    ));
    if args.join {
        tracing::info!(node = args.id, listen = %args.listen, "serving peers; waiting to be added to a cluster");
    } else {
        tracing::info!(node = args.id, listen = %args.listen, "serving peers");
    }

    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (api, served) = start_api(args, &store, &cancel, &tasks).await?;
    Ok(Running {
        id: args.id,
        store,
        api,
        cancel,
        tasks,
        stop_peers,
        peer_server,
        api_url: served.api_url,
        kubeconfig: served.kubeconfig,
    })
}

/// What the API serves with, for whoever starts agents beside it.
struct Served {
    api_url: String,
    kubeconfig: PathBuf,
}

/// Starts the API server, its RBAC authorizer, the RBAC-policy and system-namespace bootstrap
/// and the leader-only controllers, and writes the admin kubeconfig.
async fn start_api(
    args: &Args,
    store: &Arc<Store>,
    cancel: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<(Arc<ApiServer>, Served)> {
    let pki = args
        .pki_dir
        .clone()
        .unwrap_or_else(|| args.data_dir.join("pki"));
    let ca = tls::ClusterCa::load_or_create(&pki)
        .with_context(|| format!("loading the cluster CA in {}", pki.display()))?;
    let listener = TcpListener::bind(args.api_listen)
        .await
        .with_context(|| format!("listening on {}", args.api_listen))?;
    let bound = listener.local_addr().context("reading the API address")?;
    let mut hosts = vec![bound.ip().to_string()];
    hosts.extend(args.tls_sans.iter().cloned());
    let serving = ca
        .issue_serving(&hosts)
        .context("issuing the API's certificate")?;
    let tls_config = tls::server_config(&serving).context("configuring TLS")?;

    let authenticator = Arc::new(Authenticator::new());
    let admin_token = auth::load_or_create_admin_token(&pki).context("loading the admin token")?;
    authenticator.add_token(&admin_token, auth::admin_user());
    let join_token = auth::load_or_create_join_token(&pki).context("loading the join token")?;
    authenticator.add_token(&join_token.to_string(), auth::join_user(&join_token.id));
    if let Some(file) = &args.token_file {
        let count = authenticator
            .load_token_file(file)
            .with_context(|| format!("loading the token file {}", file.display()))?;
        tracing::info!(users = count, file = %file.display(), "token file loaded");
    }

    let api = ApiServer::new(
        Arc::clone(store),
        authenticator,
        ApiConfig {
            bookmark_interval: std::time::Duration::from_secs(args.watch_bookmark_seconds.max(1)),
            agent_token: Some(join_token.to_string()),
        },
    );
    tasks.spawn(tls::serve(
        listener,
        Some(tls_config),
        api.routes(),
        cancel.clone(),
    ));
    api.start_authorizer(tasks, cancel.clone());
    {
        let api = Arc::clone(&api);
        let cancel = cancel.clone();
        // The policy first, so a node whose system namespaces exist has its RBAC policy too.
        tasks.spawn(async move {
            api.bootstrap_policy(&cancel).await;
            api.bootstrap(&cancel).await;
        });
    }
    let controllers = ControllerConfig {
        node_lifecycle: NodeLifecycle {
            grace: Duration::from_secs(args.node_grace_seconds.max(1)),
            eviction_timeout: Duration::from_secs(args.pod_eviction_seconds),
            ..NodeLifecycle::default()
        },
    };
    tasks.spawn(shoal_control::controllers::run(
        api.resources().clone(),
        store.leadership(),
        controllers,
        cancel.clone(),
    ));

    let server_url = format!("https://{bound}");
    let path = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| args.data_dir.join("admin.kubeconfig"));
    let contents = kubeconfig::render("shoal", &server_url, ca.cert_pem(), "admin", &admin_token);
    kubeconfig::write(&path, &contents)
        .with_context(|| format!("writing the kubeconfig {}", path.display()))?;
    tracing::info!(api = %server_url, kubeconfig = %path.display(), "serving the Kubernetes API");
    let served = Served {
        api_url: server_url,
        kubeconfig: path,
    };
    Ok((api, served))
}

/// Resolves on SIGTERM or ctrl-c.
pub(crate) async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        _ = terminate.recv() => Ok(()),
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for ctrl-c"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_id_equals_address() {
        assert_eq!(
            parse_peer("2=127.0.0.1:7001"),
            Ok((2, "127.0.0.1:7001".to_owned()))
        );
        assert!(parse_peer("127.0.0.1:7001").is_err());
        assert!(parse_peer("x=127.0.0.1:7001").is_err());
        assert!(parse_peer("2=").is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Server {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn join_excludes_peers() {
        use clap::Parser as _;
        let base = ["server", "--id", "4", "--data-dir", "d", "--join"];
        let parsed = Server::try_parse_from(base).expect("--join alone parses");
        assert!(parsed.args.join && parsed.args.peers.is_empty());
        let both = Server::try_parse_from(base.iter().chain(&["--peer", "1=127.0.0.1:7001"]));
        assert!(both.is_err(), "--join and --peer conflict");
    }
}
