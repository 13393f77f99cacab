//! `shoal up`: a whole cluster on this machine in one command: a one-node control plane, a
//! local agent joined with the cluster's join token, and an admin kubeconfig, until ctrl-c.
//! State lives in the data directory, so running it again resumes the same cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

/// Arguments of `shoal up`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the cluster keeps its state.
    #[arg(long, default_value = "shoal-data")]
    data_dir: PathBuf,
    /// The address of the Kubernetes API (HTTPS).
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_listen: SocketAddr,
    /// The address control-plane peers would use.
    #[arg(long, default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// Where to write the admin kubeconfig (default: `<data-dir>/admin.kubeconfig`).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The local node's name.
    #[arg(long, default_value = "shoal-node-1")]
    node_name: String,
    /// The port the local agent serves on.
    #[arg(long, default_value_t = 10250)]
    agent_port: u16,
    /// Seconds without a Lease renewal before a node is unreachable (short for one machine).
    #[arg(long, default_value_t = 20)]
    node_grace_seconds: u64,
    /// Seconds before pods of an unreachable node are replaced elsewhere.
    #[arg(long, default_value_t = 30)]
    pod_eviction_seconds: u64,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::block_on(None, up(args))?
}

async fn up(args: &Args) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let kubeconfig = args
        .kubeconfig
        .clone()
        .unwrap_or_else(|| data_dir.join("admin.kubeconfig"));
    let mut server = crate::server::Args::single_node(&data_dir, args.api_listen, args.listen);
    server.kubeconfig = Some(kubeconfig);
    server.node_grace_seconds = args.node_grace_seconds;
    server.pod_eviction_seconds = args.pod_eviction_seconds;
    let running = crate::server::start(&server).await?;
    let agent_args = crate::agent::Args::local(
        &running.api_url,
        &data_dir,
        &args.node_name,
        args.api_listen.ip(),
        args.agent_port,
    );
    let config = crate::agent::config(&agent_args)?;
    let cancel = CancellationToken::new();
    let agent = tokio::spawn(shoal_agent::run(config, cancel.clone()));
    let kubeconfig = running.kubeconfig.display().to_string();
    tracing::info!(
        api = %running.api_url,
        kubeconfig = %kubeconfig,
        node = %args.node_name,
        "cluster up; try: kubectl --kubeconfig {kubeconfig} get nodes (ctrl-c stops it)"
    );
    crate::server::shutdown_signal().await?;
    tracing::info!("stopping the agent and the control plane");
    cancel.cancel();
    match agent.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!("the agent failed: {error:#}"),
        Err(error) => tracing::error!("the agent panicked: {error}"),
    }
    running.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}
