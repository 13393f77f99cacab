//! A real control plane for end-to-end tests: one `shoal server` process on free loopback
//! ports with its own data directory, and the real kubectl pointed at it through the admin
//! kubeconfig the server writes.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::Run;

/// How long a control plane may take to come up.
const STARTUP: Duration = Duration::from_secs(60);

/// A kubectl release, as the binaries beside the one on PATH name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kubectl {
    /// `kubectl` on PATH.
    Default,
    /// `kubectl.1.<minor>`.
    Minor(u32),
}

impl Kubectl {
    /// The binary.
    ///
    /// # Panics
    /// If kubectl is not installed: the end-to-end suite needs it.
    pub fn binary(self) -> PathBuf {
        let on_path = which("kubectl").expect("kubectl is on PATH");
        match self {
            Kubectl::Default => on_path,
            Kubectl::Minor(minor) => {
                let real = std::fs::canonicalize(&on_path).expect("kubectl resolves");
                let dir = real.parent().expect("kubectl has a folder");
                let binary = dir.join(format!("kubectl.1.{minor}"));
                assert!(binary.exists(), "{} is not installed", binary.display());
                binary
            }
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Agents take 127.0.0.2, 127.0.0.3, ... in the order they start.
static NEXT_AGENT_ADDRESS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// A free loopback address.
///
/// # Panics
/// If no port can be bound.
pub fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("bound address").to_string()
}

/// One control-plane node with the Kubernetes API.
#[derive(Debug)]
pub struct ControlPlane {
    dir: DirHandle,
    child: Option<Child>,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub api_url: String,
    /// The server's log.
    pub log: PathBuf,
    /// The command line it was started with (empty for a node of a [`ControlCluster`]).
    args: Vec<String>,
}

/// Starts `shoal server` with `args`, its log appended to `log`.
fn spawn_server(args: &[String], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(crate::shoal_binary())
        .args(args)
        .env("RUST_LOG", "info,openraft=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("shoal server starts")
}

impl ControlPlane {
    /// Starts a single-node control plane and waits until kubectl can use it.
    ///
    /// # Panics
    /// If it does not come up in time; the panic message carries the server's log.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a single-node control plane with extra `shoal server` arguments.
    ///
    /// # Panics
    /// As [`ControlPlane::start`].
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let kubeconfig = dir.path().join("admin.kubeconfig");
        let log = dir.path().join("server.log");
        let api = free_addr();
        let mut args: Vec<String> = [
            "server",
            "--id",
            "1",
            "--listen",
            &free_addr(),
            "--api-listen",
            &api,
        ]
        .map(str::to_owned)
        .into();
        args.push("--data-dir".to_owned());
        args.push(data.display().to_string());
        args.push("--kubeconfig".to_owned());
        args.push(kubeconfig.display().to_string());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let child = spawn_server(&args, &log);
        let plane = ControlPlane {
            dir: DirHandle::Owned(dir),
            child: Some(child),
            kubeconfig,
            api_url: format!("https://{api}"),
            log,
            args,
        };
        plane.wait_ready();
        plane
    }

    /// A scratch directory that lives as long as the control plane.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until kubectl can use this node's API.
    fn wait_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if self.kubeconfig.exists() {
                let run = self.kubectl(
                    Kubectl::Default,
                    &["get", "namespace", "kube-node-lease", "-o", "name"],
                );
                if run.code == Some(0) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the control plane did not come up:\n{}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed single-node control plane again, on the same data and addresses, and
    /// waits until kubectl can use it.
    ///
    /// # Panics
    /// If it was not started by [`ControlPlane::start_with`], or does not come up.
    pub fn restart(&mut self) {
        assert!(!self.args.is_empty(), "only a single-node plane restarts");
        self.kill();
        self.child = Some(spawn_server(&self.args, &self.log));
        self.wait_ready();
    }

    /// The server's log so far.
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The kubectl command with this cluster's kubeconfig and a private cache directory.
    pub fn kubectl_command(&self, kubectl: Kubectl, args: &[&str]) -> Command {
        let mut command = Command::new(kubectl.binary());
        let cache = self.dir.path().join(format!("kube-cache-{kubectl:?}"));
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(cache)
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl and waits for it.
    pub fn kubectl(&self, kubectl: Kubectl, args: &[&str]) -> Run {
        let output = self
            .kubectl_command(kubectl, args)
            .output()
            .expect("kubectl starts");
        Run::from(output)
    }

    /// Runs kubectl with `input` on its standard input.
    pub fn kubectl_stdin(&self, kubectl: Kubectl, args: &[&str], input: &str) -> Run {
        let mut child = self
            .kubectl_command(kubectl, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("kubectl reads its input");
        Run::from(child.wait_with_output().expect("kubectl finishes"))
    }

    /// Waits until `check` passes, polling; panics with `what` and the server log at the
    /// deadline.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n--- server log:\n{}",
                self.server_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The admin token, read from the kubeconfig.
    pub fn admin_token(&self) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token:"))
            .map(|t| t.trim().trim_matches('"').to_owned())
            .expect("the kubeconfig has a token")
    }

    /// The PKI directory of a node started by [`ControlPlane::start`].
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("pki")
    }

    /// Starts an agent for node `name` against this control plane (crash-loop backoff from
    /// 500 ms, Lease renewed every second).
    ///
    /// # Panics
    /// If the agent cannot be started.
    pub fn start_agent(&self, name: &str) -> Agent {
        let dir = self.dir.path().join(format!("agent-{name}"));
        std::fs::create_dir_all(&dir).expect("agent dir");
        let log = dir.join("agent.log");
        let n = NEXT_AGENT_ADDRESS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let address = std::net::Ipv4Addr::new(127, 0, 0, 2 + n % 250);
        let port = free_addr()
            .rsplit_once(':')
            .map(|(_, p)| p.to_owned())
            .expect("a port");
        let child = Command::new(crate::shoal_binary())
            .args(["agent", "--server", &self.api_url, "--node-name", name])
            .arg("--ca-file")
            .arg(self.pki_dir().join("ca.crt"))
            .arg("--token-file")
            .arg(self.pki_dir().join("join.token"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--port", &port])
            .args(["--address", &address.to_string()])
            .args(["--backoff-initial-ms", "500", "--backoff-max-ms", "8000"])
            .args(["--lease-renew-seconds", "1"])
            .env("RUST_LOG", "info,shoal_agent=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("shoal agent starts");
        Agent {
            name: name.to_owned(),
            address,
            child: Some(child),
            log,
        }
    }

    /// The cluster CA in PEM, from the kubeconfig.
    pub fn ca_pem(&self) -> Vec<u8> {
        use base64::Engine as _;
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let data = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("certificate-authority-data:"))
            .map(|t| t.trim().trim_matches('"').to_owned())
            .expect("the kubeconfig has the CA");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("the CA is base64")
    }
}

/// A directory a node owns, or one it shares with the other nodes of its cluster.
#[derive(Debug)]
enum DirHandle {
    Owned(TempDir),
    /// A folder of a directory the cluster's nodes share; the handle keeps it alive.
    Shared {
        _root: std::sync::Arc<TempDir>,
        path: PathBuf,
    },
}

impl DirHandle {
    fn path(&self) -> &Path {
        match self {
            DirHandle::Owned(dir) => dir.path(),
            DirHandle::Shared { path, .. } => path,
        }
    }
}

/// Several control-plane nodes forming one cluster on loopback, sharing one PKI directory
/// (one CA and admin token), each serving the Kubernetes API.
#[derive(Debug)]
pub struct ControlCluster {
    /// The nodes, by id − 1.
    pub nodes: Vec<ControlPlane>,
}

impl ControlCluster {
    /// Starts `size` nodes that form a cluster, and waits until each serves the API.
    ///
    /// # Panics
    /// If the cluster does not come up in time.
    pub fn start(size: usize) -> Self {
        let root = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let pki = root.path().join("pki");
        let secret = root.path().join("cluster.secret");
        std::fs::write(&secret, "e2e-control-cluster\n").expect("secret file");
        let peers: Vec<String> = (0..size).map(|_| free_addr()).collect();
        let mut nodes = Vec::new();
        for (index, peer) in peers.iter().enumerate() {
            let id = index + 1;
            let dir = root.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("node dir");
            let api = free_addr();
            let kubeconfig = dir.join("admin.kubeconfig");
            let log = dir.join("server.log");
            let mut command = Command::new(crate::shoal_binary());
            command
                .args([
                    "server",
                    "--id",
                    &id.to_string(),
                    "--listen",
                    peer,
                    "--api-listen",
                    &api,
                ])
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--pki-dir")
                .arg(&pki)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .arg("--cluster-secret-file")
                .arg(&secret)
                .env("RUST_LOG", "info,openraft=warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"));
            for (other, addr) in peers.iter().enumerate() {
                command.arg("--peer").arg(format!("{}={addr}", other + 1));
            }
            let child = command.spawn().expect("shoal server starts");
            if index == 0 {
                // The first node creates the CA and the admin token; the others load them.
                let deadline = Instant::now() + STARTUP;
                while !(pki.join("admin.token").exists() && pki.join("join.token").exists()) {
                    assert!(Instant::now() < deadline, "the first node made no PKI");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            nodes.push(ControlPlane {
                dir: DirHandle::Shared {
                    _root: std::sync::Arc::clone(&root),
                    path: dir,
                },
                child: Some(child),
                kubeconfig,
                api_url: format!("https://{api}"),
                log,
                args: Vec::new(),
            });
        }
        for node in &nodes {
            node.wait_ready();
        }
        ControlCluster { nodes }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `shoal agent` process; killed with SIGKILL when dropped.
#[derive(Debug)]
pub struct Agent {
    /// Its node's name.
    pub name: String,
    /// Its node's address (a loopback address of its own, so NodePorts do not clash).
    pub address: std::net::Ipv4Addr,
    child: Option<Child>,
    /// Its log.
    pub log: PathBuf,
}

impl Agent {
    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The agent's log so far.
    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}
