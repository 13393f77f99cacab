//! The `shoal` binary: wires Shoal's crates into subcommands and owns the process-wide
//! concerns (argument parsing, the tracing subscriber, exit codes). Logic lives in the crates.

mod agent;
mod api_bench;
mod bench;
mod cluster_bench;
mod member;
mod sandbox_bench;
mod scheduler_bench;
mod server;
mod store_bench;
mod up;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run WebAssembly workloads with Kubernetes semantics.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode, default and validate manifests exactly as the API server will, without a
    /// cluster: prints the objects as stored, or every problem with its file, document, line,
    /// column and field path.
    Validate(validate::Args),
    /// Run a benchmark and print its figures.
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Run a control-plane node: the Raft store and its peer endpoints, until SIGTERM or ctrl-c.
    Server(server::Args),
    /// Run a whole cluster on this machine: a control-plane node and an agent, with an admin
    /// kubeconfig, until ctrl-c.
    Up(up::Args),
    /// Run a node agent: register the node and run the pods bound to it.
    Agent(agent::Args),
    /// List, add or remove the members of a running cluster, through any of its nodes.
    #[command(subcommand)]
    Member(member::Member),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Bench(bench) => bench::run(&bench),
        Command::Server(args) => server::run(&args),
        Command::Member(member) => member::run(&member),
        Command::Up(args) => up::run(&args),
        Command::Agent(args) => agent::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs `future` to completion on a multi-threaded tokio runtime (`workers` threads, or one
/// per core), the way every async subcommand starts.
fn block_on<F: std::future::Future>(
    workers: Option<usize>,
    future: F,
) -> anyhow::Result<F::Output> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting tokio: {e}"))?;
    Ok(runtime.block_on(future))
}
