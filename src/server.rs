//! `shoal server`: one control-plane node. Today that is the Raft store and its peer endpoints,
//! served until SIGTERM or ctrl-c; the API server, scheduler and controllers will join it here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use shoal_control::store::{ClusterMode, ClusterSecret, NodeId, Store, StoreConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Arguments of `shoal server`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// This node's id (1 or more). It is recorded in the data directory; a node that lost its
    /// directory comes back under a new id.
    #[arg(long)]
    id: NodeId,
    /// Where the node keeps its Raft log and state.
    #[arg(long)]
    data_dir: PathBuf,
    /// The address to serve peers on; also the address peers are told to use.
    #[arg(long, default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// A member of the cluster to form, as `ID=HOST:PORT`; repeat for every member. Without
    /// any (and without `--join`), the node runs a cluster of its own.
    #[arg(long = "peer", value_parser = parse_peer)]
    peers: Vec<(NodeId, String)>,
    /// Join an existing cluster: wait to be added by `shoal member add`, first as a learner and
    /// then as a voter. The id must be one the cluster has never used.
    #[arg(long, conflicts_with = "peers")]
    join: bool,
    /// A file whose first line is the secret control-plane peers share (required with peers or
    /// `--join`).
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
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
    crate::block_on(None, serve(args))?
}

async fn serve(args: &Args) -> anyhow::Result<ExitCode> {
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
        ..StoreConfig::default()
    };
    let store = Store::open(&args.data_dir, config)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(shoal_control::store::serve(
        store.peer_routes(),
        listener,
        async move {
            // A dropped sender stops the server too.
            let _ = stopped.await;
        },
    ));
    if args.join {
        tracing::info!(node = args.id, listen = %args.listen, "serving; waiting to be added to a cluster");
    } else {
        tracing::info!(node = args.id, listen = %args.listen, "serving");
    }

    shutdown_signal().await?;
    tracing::info!(node = args.id, "shutting down");
    store.shutdown().await.context("stopping the store")?;
    // The server may have stopped already; either way it is told to.
    let _ = stop.send(());
    server.await.context("stopping the peer server")?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or ctrl-c.
async fn shutdown_signal() -> anyhow::Result<()> {
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
