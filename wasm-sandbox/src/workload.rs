//! Loading workloads: the bytes of an image become a compiled, pre-instantiated artifact of a
//! known kind (a `wasi:cli/command` component, a `wasi:http/proxy` handler component, or a
//! WASI preview-1 module), compiled through the cache, with missing imports reported up front.

use std::sync::Arc;

use wasmtime::component;
use wasmtime::{InstancePre, Linker};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cache::{CacheOutcome, sha256_hex};
use crate::error::SandboxError;
use crate::runtime::Runtime;
use crate::sandbox::State;

/// What kind of workload an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A component exporting `wasi:cli/run`: runs to completion (or forever).
    Command,
    /// A component exporting `wasi:http/incoming-handler`: a fresh instance per request.
    Http,
    /// A WASI preview-1 core module with `_start`.
    Preview1,
}

/// A compiled workload, ready to instantiate many times.
pub struct Artifact {
    name: String,
    digest: String,
    kind: WorkloadKind,
    from_cache: bool,
    /// Whether it imports the filesystem at all; if not, no directories are opened for it.
    uses_filesystem: bool,
    compiled: Compiled,
}

pub(crate) enum Compiled {
    Command(CommandPre<State>),
    Http(ProxyPre<State>),
    Preview1(InstancePre<State>),
}

impl std::fmt::Debug for Artifact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifact")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Artifact {
    /// The image it came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 of its bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Its kind.
    pub fn kind(&self) -> WorkloadKind {
        self.kind
    }

    /// Whether it was loaded precompiled from the cache rather than compiled.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    pub(crate) fn uses_filesystem(&self) -> bool {
        self.uses_filesystem
    }
}

/// (kind, pre-instantiated code, loaded from the cache, imports the filesystem).
type Loaded = (WorkloadKind, Compiled, bool, bool);

/// Interface name prefixes the host provides to components.
const PROVIDED: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:http/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

impl Runtime {
    /// Compiles (or loads from the cache) and pre-instantiates a workload.
    ///
    /// # Errors
    /// Not Wasm, does not compile, is of no supported kind, or imports what the host lacks.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Arc<Artifact>, SandboxError> {
        let digest = sha256_hex(bytes);
        let is_component = match bytes.get(..8) {
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => true,
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => false,
            _ => {
                return Err(SandboxError::NotWasm {
                    name: name.to_owned(),
                });
            }
        };
        let (kind, compiled, from_cache, uses_filesystem) = if is_component {
            self.load_component(name, &digest, bytes)?
        } else {
            self.load_module(name, &digest, bytes)?
        };
        Ok(Arc::new(Artifact {
            name: name.to_owned(),
            digest,
            kind,
            from_cache,
            uses_filesystem,
            compiled,
        }))
    }

    fn load_component(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<Loaded, SandboxError> {
        let engine = self.engine();
        let (component, outcome) = self
            .cache()
            .get::<component::Component>(engine, name, digest, bytes)?;
        let from_cache = outcome == CacheOutcome::Hit;
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
        let exported = |prefix: &str| exports.iter().any(|n| n.starts_with(prefix));
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let uses_filesystem = imports.iter().any(|n| n.starts_with("wasi:filesystem/"));
        let missing: Vec<String> = imports
            .into_iter()
            .filter(|import| !PROVIDED.iter().any(|p| import.starts_with(p)))
            .collect();
        if !missing.is_empty() {
            return Err(SandboxError::MissingImports {
                name: name.to_owned(),
                imports: missing,
            });
        }
        let linker = component_linker(self)?;
        let start_failed = |e: wasmtime::Error| SandboxError::StartFailed {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        let pre = linker.instantiate_pre(&component).map_err(start_failed)?;
        if exported("wasi:cli/run@") {
            let pre = CommandPre::new(pre).map_err(start_failed)?;
            return Ok((
                WorkloadKind::Command,
                Compiled::Command(pre),
                from_cache,
                uses_filesystem,
            ));
        }
        if exported("wasi:http/incoming-handler@") {
            let pre = ProxyPre::new(pre).map_err(start_failed)?;
            return Ok((
                WorkloadKind::Http,
                Compiled::Http(pre),
                from_cache,
                uses_filesystem,
            ));
        }
        let names: Vec<&str> = exports.iter().map(String::as_str).collect();
        Err(SandboxError::UnsupportedWorkload {
            name: name.to_owned(),
            detail: format!(
                "exports neither wasi:cli/run nor wasi:http/incoming-handler (it exports: {})",
                if names.is_empty() {
                    "nothing".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        })
    }

    fn load_module(&self, name: &str, digest: &str, bytes: &[u8]) -> Result<Loaded, SandboxError> {
        let engine = self.engine();
        let (module, outcome) = self
            .cache()
            .get::<wasmtime::Module>(engine, name, digest, bytes)?;
        let from_cache = outcome == CacheOutcome::Hit;
        if module.get_export("_start").is_none() {
            return Err(SandboxError::UnsupportedWorkload {
                name: name.to_owned(),
                detail: "a core module without a `_start` export".to_owned(),
            });
        }
        // Preopened directories are discovered through `fd_prestat_get`; a module without it
        // cannot reach any directory, whatever else of `fd_*` it imports for stdio.
        let uses_filesystem = module
            .imports()
            .any(|import| import.name() == "fd_prestat_get");
        let missing: Vec<String> = module
            .imports()
            .filter(|import| import.module() != "wasi_snapshot_preview1")
            .map(|import| format!("{}::{}", import.module(), import.name()))
            .collect();
        if !missing.is_empty() {
            return Err(SandboxError::MissingImports {
                name: name.to_owned(),
                imports: missing,
            });
        }
        let mut linker: Linker<State> = Linker::new(engine);
        let start_failed = |e: wasmtime::Error| SandboxError::StartFailed {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut State| &mut state.p1)
            .map_err(start_failed)?;
        let pre = linker.instantiate_pre(&module).map_err(start_failed)?;
        Ok((
            WorkloadKind::Preview1,
            Compiled::Preview1(pre),
            from_cache,
            uses_filesystem,
        ))
    }
}

fn component_linker(runtime: &Runtime) -> Result<component::Linker<State>, SandboxError> {
    let mut linker = component::Linker::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| SandboxError::Engine(format!("linking WASI: {e:#}")))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| SandboxError::Engine(format!("linking WASI HTTP: {e:#}")))?;
    Ok(linker)
}
