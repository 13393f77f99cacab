//! Kubernetes API objects as Shoal understands them: the kind registry, decoding of YAML and
//! JSON with line-accurate errors, defaulting, validation, label and field selectors,
//! quantities, the four patch types kube-apiserver applies, and the pinned-certificate trust
//! between the API server and agents.
//!
//! Architecture invariant: this crate does no I/O. It takes text and values and returns
//! objects and errors; files, sockets and clocks belong to its callers.

pub mod columns;
pub mod decode;
pub mod default;
pub mod error;
pub mod image;
pub mod json;
mod names;
pub mod patch;
pub mod path;
pub mod pin;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod strategy;
pub mod validate;

pub use error::{ErrorReason, FieldError};
pub use path::FieldPath;
pub use registry::{KINDS, KindInfo, Object};

/// Re-export of the `k8s-openapi` version Shoal is built against, so every crate uses the
/// same object types.
pub use k8s_openapi;
