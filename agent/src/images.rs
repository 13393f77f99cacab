//! Images: fetching Wasm components named by `image:` into a node-local, content-addressed
//! cache, verified by digest when the reference pins one, and compiled once per digest.
//!
//! `file://` paths (air-gapped edges) and `http(s)://` URLs are fetched here; OCI registries
//! are refused with a clear reason until the registry puller lands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use shoal_manifests::image::{ImageRef, ImageSource};
use shoal_wasm_sandbox::{Artifact, Runtime};

/// Why an image could not be made ready; the container waits with reason `ErrImagePull`
/// (fetching) or `CreateContainerError` (compiling).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PullError {
    /// The reference does not parse.
    #[error("invalid image reference {image:?}: {reason}")]
    InvalidReference {
        /// The `image:` value.
        image: String,
        /// Why.
        reason: String,
    },
    /// The content could not be fetched.
    #[error("failed to pull image {image:?}: {reason}")]
    Fetch {
        /// The `image:` value.
        image: String,
        /// Why.
        reason: String,
    },
    /// The content is not what the digest pins.
    #[error("failed to pull image {image:?}: content has digest sha256:{actual}, not {expected}")]
    DigestMismatch {
        /// The `image:` value.
        image: String,
        /// The pinned digest.
        expected: String,
        /// The content's digest (hex).
        actual: String,
    },
    /// Not in the cache, and the pull policy is `Never`.
    #[error("container image {image:?} is not present with pull policy of Never")]
    NotPresent {
        /// The `image:` value.
        image: String,
    },
    /// The content is not a workload the sandbox can run.
    #[error("{0}")]
    Compile(String),
}

impl PullError {
    /// The container's waiting reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidReference { .. } => "InvalidImageName",
            Self::NotPresent { .. } => "ErrImageNeverPull",
            Self::Compile(_) => "CreateContainerError",
            Self::Fetch { .. } | Self::DigestMismatch { .. } => "ErrImagePull",
        }
    }
}

/// The pull policy of a container (`imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Fetch every time a container starts.
    Always,
    /// Fetch only when the cache does not have it.
    IfNotPresent,
    /// Never fetch.
    Never,
}

impl PullPolicy {
    /// Parses `imagePullPolicy`; an absent value follows Kubernetes' default for the reference.
    pub fn of(policy: Option<&str>, image: &ImageRef) -> Self {
        match policy {
            Some("Always") => Self::Always,
            Some("Never") => Self::Never,
            Some("IfNotPresent") => Self::IfNotPresent,
            _ if image.is_mutable() => Self::Always,
            _ => Self::IfNotPresent,
        }
    }
}

/// A ready image: its compiled workload and whether this call fetched it.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The compiled workload.
    pub artifact: Arc<Artifact>,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Whether the content was fetched now (false: from the cache).
    pub fetched: bool,
}

/// The node's image cache: `blobs/sha256/<hex>` holds contents, `refs/<hash of reference>` the
/// digest a reference last resolved to; compiled artifacts are shared in memory by digest.
#[derive(Debug, Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    runtime: Runtime,
    http: reqwest::Client,
    /// One cell per digest: concurrent pulls of one image compile it once, the others wait.
    compiled: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<Artifact>>>>>,
}

impl ImageStore {
    /// A cache in `dir`, compiling with `runtime`.
    ///
    /// # Errors
    /// The directories cannot be created or the HTTP client cannot be built.
    pub fn new(dir: &Path, runtime: Runtime) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("blobs").join("sha256"))?;
        std::fs::create_dir_all(dir.join("refs"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                runtime,
                http,
                compiled: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Makes `image` ready to run under `policy`.
    ///
    /// # Errors
    /// See [`PullError`].
    pub async fn pull(&self, image: &str, policy: Option<&str>) -> Result<Pulled, PullError> {
        let reference = ImageRef::parse(image).map_err(|e| PullError::InvalidReference {
            image: image.to_owned(),
            reason: e.to_string(),
        })?;
        let policy = PullPolicy::of(policy, &reference);
        let cached = match reference.digest() {
            Some(digest) => Some(digest.hex().to_owned()).filter(|hex| self.blob(hex).exists()),
            None => self.resolved(image).filter(|hex| self.blob(hex).exists()),
        };
        let (hex, fetched) = match (policy, cached) {
            (PullPolicy::IfNotPresent | PullPolicy::Never, Some(hex)) => (hex, false),
            (PullPolicy::Always, Some(hex)) if reference.digest().is_some() => (hex, false),
            (PullPolicy::Never, None) => {
                return Err(PullError::NotPresent {
                    image: image.to_owned(),
                });
            }
            _ => (self.fetch(image, &reference).await?, true),
        };
        let artifact = self.compile(image, &hex).await?;
        Ok(Pulled {
            artifact,
            digest: format!("sha256:{hex}"),
            fetched,
        })
    }

    fn blob(&self, hex: &str) -> PathBuf {
        self.inner.dir.join("blobs").join("sha256").join(hex)
    }

    fn reference_file(&self, image: &str) -> PathBuf {
        self.inner
            .dir
            .join("refs")
            .join(sha256_hex(image.as_bytes()))
    }

    fn resolved(&self, image: &str) -> Option<String> {
        std::fs::read_to_string(self.reference_file(image))
            .ok()
            .map(|text| text.trim().to_owned())
    }

    /// Fetches the content, checks its digest, stores it; returns the digest's hex.
    async fn fetch(&self, image: &str, reference: &ImageRef) -> Result<String, PullError> {
        let failed = |reason: String| PullError::Fetch {
            image: image.to_owned(),
            reason,
        };
        let bytes = match reference.source() {
            ImageSource::File { path } => tokio::fs::read(path)
                .await
                .map_err(|e| failed(format!("reading {path}: {e}")))?,
            ImageSource::Http {
                tls,
                authority,
                path,
            } => {
                let url = format!(
                    "{}://{authority}{path}",
                    if *tls { "https" } else { "http" }
                );
                let response = self
                    .inner
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| failed(format!("GET {url}: {e}")))?;
                if !response.status().is_success() {
                    return Err(failed(format!("GET {url}: {}", response.status())));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| failed(format!("GET {url}: {e}")))?
                    .to_vec()
            }
            ImageSource::Oci { registry, .. } => {
                return Err(failed(format!(
                    "pulling from OCI registries ({registry}) is not supported yet; use a file:// or http(s):// image"
                )));
            }
        };
        let hex = sha256_hex(&bytes);
        if let Some(expected) = reference.digest()
            && expected.hex() != hex
        {
            return Err(PullError::DigestMismatch {
                image: image.to_owned(),
                expected: expected.to_string(),
                actual: hex,
            });
        }
        let blob = self.blob(&hex);
        if !blob.exists() {
            write_atomically(&blob, &bytes)
                .await
                .map_err(|e| failed(format!("caching: {e}")))?;
        }
        write_atomically(&self.reference_file(image), hex.as_bytes())
            .await
            .map_err(|e| failed(format!("caching: {e}")))?;
        Ok(hex)
    }

    /// The compiled workload of a cached blob, compiled at most once per digest.
    async fn compile(&self, image: &str, hex: &str) -> Result<Arc<Artifact>, PullError> {
        let cell = Arc::clone(self.compiled().entry(hex.to_owned()).or_default());
        let artifact = cell
            .get_or_try_init(|| async {
                let bytes =
                    tokio::fs::read(self.blob(hex))
                        .await
                        .map_err(|e| PullError::Fetch {
                            image: image.to_owned(),
                            reason: format!("reading the cached content: {e}"),
                        })?;
                let runtime = self.inner.runtime.clone();
                let name = image.to_owned();
                tokio::task::spawn_blocking(move || runtime.load(&name, &bytes))
                    .await
                    .map_err(|e| PullError::Compile(format!("compiling {image:?}: {e}")))?
                    .map_err(|e| PullError::Compile(e.to_string()))
            })
            .await?;
        Ok(Arc::clone(artifact))
    }

    fn compiled(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::OnceCell<Arc<Artifact>>>>> {
        self.inner
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write as _;
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Writes through a temporary file and a rename, so a crash never leaves half a blob. Each
/// write has a temporary file of its own: concurrent pulls of one image race harmlessly, the
/// last rename winning with the same content.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("partial-{}-{n}", std::process::id()));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> ImageRef {
        ImageRef::parse(text).expect("valid reference")
    }

    #[test]
    fn default_policy_follows_mutability() {
        let pinned = format!("file:///w/app.wasm@sha256:{}", "a".repeat(64));
        assert_eq!(
            PullPolicy::of(None, &reference(&pinned)),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::of(None, &reference("file:///w/app.wasm")),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::of(Some("Never"), &reference("file:///w/app.wasm")),
            PullPolicy::Never
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pulls_of_one_image_all_succeed_and_compile_once() {
        let dir = tempfile::tempdir().unwrap();
        let guest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../wasm-sandbox/guests/noop.wasm")
            .canonicalize()
            .unwrap();
        let runtime = Runtime::new(shoal_wasm_sandbox::RuntimeConfig::default()).unwrap();
        let store = ImageStore::new(dir.path(), runtime).unwrap();
        let image = format!("file://{}", guest.display());
        let pulls: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                let image = image.clone();
                tokio::spawn(async move { store.pull(&image, None).await })
            })
            .collect();
        let mut artifacts = Vec::new();
        for pull in pulls {
            artifacts.push(pull.await.unwrap().expect("every pull succeeds").artifact);
        }
        assert!(
            artifacts.iter().all(|a| Arc::ptr_eq(a, &artifacts[0])),
            "one compiled artifact shared by all"
        );
    }

    #[test]
    fn reasons_are_kubelets() {
        let fetch = PullError::Fetch {
            image: "x".into(),
            reason: "r".into(),
        };
        assert_eq!(fetch.reason(), "ErrImagePull");
        assert_eq!(
            PullError::Compile("c".into()).reason(),
            "CreateContainerError"
        );
        assert_eq!(
            PullError::NotPresent { image: "x".into() }.reason(),
            "ErrImageNeverPull"
        );
    }
}
