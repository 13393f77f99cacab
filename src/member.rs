//! `shoal member`: list and change the members of a running control-plane cluster through any
//! of its nodes, over the authenticated peer endpoints. Adding a node makes it a learner first,
//! so it receives the log without a vote, and promotes it to voter once it has caught up.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use shoal_control::store::{ClusterSecret, Membership, NodeId, StoreClient, StoreError};

/// How long one request may take. A node gives a membership change its own, shorter deadline
/// (learner catch-up included), so this only bounds a node that does not answer at all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The `shoal member` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Member {
    /// Add a node started with `shoal server --join`: as a learner until it has caught up with
    /// the log, then as a voter.
    Add(AddArgs),
    /// Remove a member (voter or learner). Its id is retired: it can never be used again.
    Remove(RemoveArgs),
    /// List the members: id, address, voter or learner, and which one leads.
    List(Via),
}

/// How to reach the cluster.
#[derive(Debug, clap::Args)]
pub(crate) struct Via {
    /// The peer address (`HOST:PORT`) of any member; changes are forwarded to the leader.
    #[arg(long)]
    via: String,
    /// A file whose first line is the cluster secret.
    #[arg(long)]
    cluster_secret_file: PathBuf,
}

/// Arguments of `shoal member add`.
#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// The new node's id, as given to its `shoal server --id`.
    #[arg(long)]
    id: NodeId,
    /// The new node's peer address, as given to its `shoal server --listen`.
    #[arg(long)]
    addr: String,
    #[command(flatten)]
    via: Via,
}

/// Arguments of `shoal member remove`.
#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// The id of the member to remove.
    #[arg(long)]
    id: NodeId,
    #[command(flatten)]
    via: Via,
}

pub(crate) fn run(member: &Member) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async {
        match member {
            Member::Add(args) => add(args).await,
            Member::Remove(args) => remove(args).await,
            Member::List(via) => list(via).await,
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A client for the cluster behind `via`, once its node has answered and belongs to a cluster.
async fn connect(via: &Via) -> anyhow::Result<StoreClient> {
    let secret = ClusterSecret::from_file(&via.cluster_secret_file)?;
    let client = StoreClient::new(secret, REQUEST_TIMEOUT)?;
    let status = match client.status(&via.via).await {
        Ok(status) => status,
        // The node's id is not known yet: say what went wrong at the address.
        Err(StoreError::Peer { source, .. }) => {
            return Err(anyhow::Error::new(source)
                .context(format!("cannot reach a cluster member at {}", via.via)));
        }
        Err(other) => return Err(other.into()),
    };
    anyhow::ensure!(
        status.initialized,
        "node {} at {} does not belong to a cluster yet; pass a member's address with --via",
        status.node_id,
        via.via
    );
    Ok(client)
}

async fn add(args: &AddArgs) -> anyhow::Result<()> {
    let client = connect(&args.via).await?;
    let via = &args.via.via;
    let (id, addr) = (args.id, args.addr.as_str());
    let before = client
        .membership(via)
        .await
        .with_context(|| format!("reading the membership through {via}"))?;
    let mut out = std::io::stdout().lock();
    let known = before.members.get(&id).filter(|m| m.addr == addr);
    if known.is_some() && before.voters.contains(&id) {
        writeln!(out, "node {id} ({addr}) is already a voter")?;
        return Ok(());
    }
    if known.is_some() {
        writeln!(out, "node {id} ({addr}) is already a learner")?;
    } else {
        client
            .add_learner(via, id, addr)
            .await
            .with_context(|| format!("cannot add node {id} ({addr}) as a learner"))?;
        writeln!(
            out,
            "node {id} ({addr}) added as a learner and caught up with the log"
        )?;
    }
    client
        .promote(via, id)
        .await
        .with_context(|| format!("node {id} is a learner, but promoting it to voter failed"))?;
    let after = client
        .membership(via)
        .await
        .with_context(|| format!("reading the membership through {via}"))?;
    writeln!(
        out,
        "node {id} promoted to voter; voters now: {}",
        ids(&after.voters)
    )?;
    Ok(())
}

async fn remove(args: &RemoveArgs) -> anyhow::Result<()> {
    let client = connect(&args.via).await?;
    let id = args.id;
    client
        .remove(&args.via.via, id)
        .await
        .with_context(|| format!("cannot remove node {id}"))?;
    writeln!(
        std::io::stdout().lock(),
        "node {id} removed; its id is retired and cannot be used again"
    )?;
    Ok(())
}

async fn list(via: &Via) -> anyhow::Result<()> {
    let client = connect(via).await?;
    let membership = client
        .membership(&via.via)
        .await
        .with_context(|| format!("reading the membership through {}", via.via))?;
    let mut out = std::io::stdout().lock();
    out.write_all(table(&membership).as_bytes())?;
    Ok(())
}

/// The membership as a table, one member a line.
fn table(membership: &Membership) -> String {
    let mut text = format!("{:<6}{:<24}{}\n", "NODE", "ADDRESS", "ROLE");
    for (id, member) in &membership.members {
        let role = if membership.voters.contains(id) {
            "voter"
        } else {
            "learner"
        };
        let leads = if membership.leader == Some(*id) {
            " (leader)"
        } else {
            ""
        };
        text.push_str(&format!("{id:<6}{:<24}{role}{leads}\n", member.addr));
    }
    text
}

fn ids(ids: &std::collections::BTreeSet<NodeId>) -> String {
    ids.iter()
        .map(NodeId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_control::store::{Incarnation, Member as Record};

    #[test]
    fn the_table_names_roles_and_the_leader() {
        let record = |port: u16| Record {
            addr: format!("127.0.0.1:{port}"),
            incarnation: Incarnation(1),
        };
        let membership = Membership {
            voters: [1, 2].into(),
            learners: [3].into(),
            members: [(1, record(7001)), (2, record(7002)), (3, record(7003))].into(),
            leader: Some(2),
        };
        assert_eq!(
            table(&membership),
            "NODE  ADDRESS                 ROLE\n\
             1     127.0.0.1:7001          voter\n\
             2     127.0.0.1:7002          voter (leader)\n\
             3     127.0.0.1:7003          learner\n"
        );
        assert_eq!(ids(&membership.voters), "1, 2");
    }
}
