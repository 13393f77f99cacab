//! `shoal agent`: a node agent, pointed at the API with the cluster CA and a join token, until
//! SIGTERM or ctrl-c.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use shoal_agent::{AgentConfig, BackoffConfig, Credentials, LeaseTiming};
use shoal_wasm_sandbox::RuntimeConfig;
use tokio_util::sync::CancellationToken;

/// Arguments of `shoal agent`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The API server, `https://host:port`.
    #[arg(long)]
    pub(crate) server: String,
    /// The cluster CA certificate (PEM), e.g. `<server data dir>/pki/ca.crt`.
    #[arg(long)]
    pub(crate) ca_file: PathBuf,
    /// A file holding the join token (`<server data dir>/pki/join.token`).
    #[arg(long)]
    pub(crate) token_file: PathBuf,
    /// The node's name (default: the host name).
    #[arg(long)]
    pub(crate) node_name: Option<String>,
    /// Where images, compiled code and pod files live.
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// The address the node is reached on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) address: IpAddr,
    /// The port the agent serves on.
    #[arg(long, default_value_t = 10250)]
    pub(crate) port: u16,
    /// The most pods the node runs.
    #[arg(long, default_value_t = 110)]
    pub(crate) max_pods: u32,
    /// A node label `key=value` (repeatable).
    #[arg(long = "label", value_parser = parse_label)]
    pub(crate) labels: Vec<(String, String)>,
    /// The first crash-loop delay, in milliseconds (it doubles from there).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) backoff_initial_ms: u64,
    /// The longest crash-loop delay, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    pub(crate) backoff_max_ms: u64,
    /// Seconds between Lease renewals.
    #[arg(long, default_value_t = 10)]
    pub(crate) lease_renew_seconds: u64,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not key=value"))?;
    Ok((key.to_owned(), value.to_owned()))
}

impl Args {
    /// The agent of a cluster made by [`crate::server::Args::single_node`] in `data_dir`
    /// (its CA and join token from `pki/`, its own state in `agent/`), with the command
    /// line's defaults.
    pub(crate) fn local(
        server: &str,
        data_dir: &Path,
        node: &str,
        address: IpAddr,
        port: u16,
    ) -> Self {
        let pki = data_dir.join("pki");
        Self {
            server: server.to_owned(),
            ca_file: pki.join(shoal_control::api::tls::CA_CERT_FILE),
            token_file: pki.join(shoal_control::api::auth::JOIN_TOKEN_FILE),
            node_name: Some(node.to_owned()),
            data_dir: data_dir.join("agent"),
            address,
            port,
            max_pods: 110,
            labels: Vec::new(),
            backoff_initial_ms: 10_000,
            backoff_max_ms: 300_000,
            lease_renew_seconds: 10,
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = config(args)?;
    crate::block_on(None, async move {
        let cancel = CancellationToken::new();
        let mut agent = tokio::spawn(shoal_agent::run(config, cancel.clone()));
        let ended = tokio::select! {
            signal = crate::server::shutdown_signal() => {
                signal?;
                tracing::info!("stopping the agent");
                cancel.cancel();
                agent.await
            }
            // The agent ended by itself: a setup failure, reported below.
            ended = &mut agent => ended,
        };
        ended.context("the agent panicked")??;
        anyhow::Ok(ExitCode::SUCCESS)
    })?
}

/// The agent's configuration from its arguments.
pub(crate) fn config(args: &Args) -> anyhow::Result<AgentConfig> {
    let ca_pem = std::fs::read_to_string(&args.ca_file)
        .with_context(|| format!("reading the CA {}", args.ca_file.display()))?;
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token {}", args.token_file.display()))?;
    let node_name = match &args.node_name {
        Some(name) => name.clone(),
        None => host_name()?,
    };
    Ok(AgentConfig {
        node_name,
        credentials: Credentials {
            server: args.server.clone(),
            ca_pem,
            token: token.trim().to_owned(),
        },
        data_dir: args.data_dir.clone(),
        address: args.address,
        port: args.port,
        max_pods: args.max_pods,
        labels: args.labels.clone(),
        backoff: BackoffConfig {
            initial: Duration::from_millis(args.backoff_initial_ms),
            max: Duration::from_millis(args.backoff_max_ms.max(args.backoff_initial_ms)),
            ..BackoffConfig::default()
        },
        lease: LeaseTiming {
            renew: Duration::from_secs(args.lease_renew_seconds.max(1)),
            ..LeaseTiming::default()
        },
        runtime: RuntimeConfig::default(),
    })
}

/// The machine's host name, lower-cased as node names must be.
fn host_name() -> anyhow::Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .context("reading the host name (pass --node-name)")?;
    Ok(name.trim().to_lowercase())
}
