//! The on-disk compile cache: a component or module is compiled once per node and engine
//! build, keyed by the SHA-256 of its bytes and the engine's compatibility hash; later starts
//! load the precompiled artifact instead of compiling.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use crate::error::SandboxError;

/// Where compiled artifacts live, if anywhere.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    /// The engine's compatibility hash, part of every key.
    engine_key: String,
}

/// What a cache lookup did, for metrics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled (and stored, if there is a cache directory).
    Compiled,
}

/// The hex SHA-256 digest of `bytes`, as images are pinned (`sha256:<hex>`).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl CompileCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        if let Some(dir) = &dir {
            fs::create_dir_all(dir).map_err(|source| SandboxError::Filesystem {
                path: dir.clone(),
                source,
            })?;
        }
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, digest: &str, suffix: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.{suffix}", self.engine_key)))
    }

    /// The compiled form of `bytes`: loaded from the cache if this engine build compiled
    /// them before, else compiled (and stored, if there is a cache directory).
    pub(crate) fn get<T: Precompiled>(
        &self,
        engine: &Engine,
        name: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(T, CacheOutcome), SandboxError> {
        let failed = |e: wasmtime::Error| SandboxError::CompileFailed {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        let path = self.path(digest, T::SUFFIX);
        if let Some(path) = path.as_deref().filter(|p| p.exists()) {
            // SAFETY: the file was written by `store` below from `T::precompile` of this
            // engine build (the engine hash is in its name) into a directory only this process
            // writes; wasmtime additionally checks the header and engine settings.
            #[allow(unsafe_code)]
            match unsafe { T::load_file(engine, path) } {
                Ok(compiled) => return Ok((compiled, CacheOutcome::Hit)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), "discarding cached artifact: {error:#}");
                }
            }
        }
        let precompiled = T::precompile(engine, bytes).map_err(failed)?;
        if let Some(path) = &path {
            store(path, &precompiled);
        }
        // SAFETY: `precompiled` was produced just now by `T::precompile` on this engine.
        #[allow(unsafe_code)]
        let compiled = unsafe { T::load_bytes(engine, &precompiled) }.map_err(failed)?;
        Ok((compiled, CacheOutcome::Compiled))
    }
}

/// What the cache can hold: components and core modules.
#[allow(unsafe_code)]
pub(crate) trait Precompiled: Sized {
    /// File name suffix, so a component and a module of the same bytes never collide.
    const SUFFIX: &'static str;

    /// Compiles to the engine's serialized form.
    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>>;

    /// Loads a serialized artifact from a file.
    ///
    /// # Safety
    /// The file must hold the output of [`Precompiled::precompile`] by a compatible engine.
    unsafe fn load_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self>;

    /// Loads a serialized artifact from memory.
    ///
    /// # Safety
    /// `bytes` must be the output of [`Precompiled::precompile`] by a compatible engine.
    unsafe fn load_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
}

#[allow(unsafe_code)]
impl Precompiled for Component {
    const SUFFIX: &'static str = "cwasm";

    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_component(bytes)
    }

    unsafe fn load_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Component::deserialize_file(engine, path) }
    }

    unsafe fn load_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Component::deserialize(engine, bytes) }
    }
}

#[allow(unsafe_code)]
impl Precompiled for Module {
    const SUFFIX: &'static str = "cwasm-module";

    fn precompile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Vec<u8>> {
        engine.precompile_module(bytes)
    }

    unsafe fn load_file(engine: &Engine, path: &Path) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Module::deserialize_file(engine, path) }
    }

    unsafe fn load_bytes(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Module::deserialize(engine, bytes) }
    }
}

/// Writes atomically (temporary file, then rename) so a crash never leaves a torn artifact.
fn store(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("partial");
    let result = fs::write(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    if let Err(error) = result {
        tracing::warn!(path = %path.display(), "could not cache compiled artifact: {error}");
        let _ = fs::remove_file(&temporary);
    }
}
